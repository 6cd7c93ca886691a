package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// conversationMessages lists a conversation's texts; [] for a store without
// the SMS relay.
func conversationMessages(ctx context.Context, store maskcall.Store, id string) ([]*maskcall.Message, error) {
	ms, ok := store.(maskcall.MessageStore)
	if !ok {
		return []*maskcall.Message{}, nil
	}
	msgs, err := ms.FindMessages(ctx, id)
	if msgs == nil {
		msgs = []*maskcall.Message{}
	}
	return msgs, err
}

// printMessages shows the texts relayed (or not) in a conversation, by
// the label of who sent them. Texts themselves show only where kept.
func printMessages(io *IOStreams, c *maskcall.Conversation, msgs []*maskcall.Message, now time.Time) error {
	if len(msgs) == 0 {
		fmt.Fprintln(io.Out, "\nNo messages yet.")
		return nil
	}
	fmt.Fprintln(io.Out, "\nMessages:")
	t := newTable(io, "ID", "FROM", "PARTS", "STATUS", "RECEIVED", "TEXT")
	t.io = &IOStreams{Out: io.Out, OutTTY: true}
	for _, m := range msgs {
		from := "?"
		if m.Sender >= 0 && m.Sender < len(c.Participants) {
			from = c.Participants[m.Sender].Label
			if from == "" {
				from = c.Participants[m.Sender].Number
			}
		}
		parts := strconv.Itoa(m.Parts)
		if m.PartsTotal > 1 {
			parts += "/" + strconv.Itoa(m.PartsTotal)
		}
		status := string(m.Status)
		if m.Reason != "" {
			status += " (" + m.Reason + ")"
		}
		if m.Incomplete {
			status += ", incomplete"
		}
		text := "-"
		if m.Text != nil {
			text = *m.Text
		}
		t.add(m.ID, from, parts, status, io.formatTime(&m.ReceivedAt, now), text)
	}
	return t.print()
}

// purgeStrayMessages deletes the texts that matched no conversation, by the
// same age as the conversations purged (a conversation's own texts went
// with it).
func purgeStrayMessages(ctx context.Context, store maskcall.Store, opts *ConversationPurgeOptions) error {
	ms, ok := store.(maskcall.MessageStore)
	if !ok {
		return nil
	}
	n, err := ms.PurgeMessages(ctx, opts.Now().Add(-opts.EndedBefore))
	if err != nil {
		return err
	}
	if n > 0 {
		opts.IO.Statusf("Purged %d message(s) that reached no conversation.", n)
	}
	return nil
}
