package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/maskcall/maskcall/internal/httpserver"
	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sandbox"
	"github.com/maskcall/maskcall/internal/webhook"
	"github.com/maskcall/maskcall/internal/worker"
)

// demoSMS is the demo's SMS relay: the inbound webhook on the demo's
// server and its worker.
type demoSMS struct {
	store maskcall.MessageStore
	stop  func()
}

// startDemoSMS mounts the inbound SMS webhook on web (before it serves) and
// starts the relay worker sending through sms.
func startDemoSMS(ctx context.Context, store maskcall.MessageStore, sms maskcall.SMSAPI, web *httpserver.Server) (*demoSMS, error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w := &worker.RelayWorker{Store: store, SMS: sms, Logger: quiet, Poll: 50 * time.Millisecond}
	h, err := webhook.NewInboundSMS(webhook.InboundSMSConfig{Store: store, Recorded: w.Wake, Logger: quiet})
	if err != nil {
		return nil, err
	}
	h.Mount(web)
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	return &demoSMS{store: store, stop: func() { cancel(); <-done }}, nil
}

// texts has each participant text the other through their proxy, and
// shows what the sandbox's SMS API was asked to send.
func (d *demoSMS) texts(ctx context.Context, out io.Writer, step func(string, ...any), sb *sandbox.Sandbox, url string, c *maskcall.Conversation) error {
	before := len(sb.SentSMS())
	a, b := c.Participants[0], c.Participants[1]
	for _, t := range []struct {
		from maskcall.Participant
		text string
	}{{a, "I'm outside, blue Toyota."}, {b, "Coming down in 2 minutes!"}} {
		step("The %s texts %s: %q", t.from.Label, t.from.ProxyNumber, t.text)
		res, err := sb.SendInboundSMS(ctx, sandbox.InboundSMSRequest{From: t.from.Number, To: t.from.ProxyNumber, Text: t.text, URL: url})
		if err != nil {
			return err
		}
		if !res.OK() {
			return maskcall.Errorf(maskcall.EINTERNAL, "The inbound SMS webhook refused the text (HTTP %d); this is a bug.", res.Deliveries[0].HTTPStatus)
		}
		fmt.Fprintf(out, "  inbound-sms webhook replied HTTP %d: recorded, relay queued\n", res.Deliveries[0].HTTPStatus)
		deadline := time.Now().Add(10 * time.Second)
		for len(sb.SentSMS()) <= before {
			if time.Now().After(deadline) {
				return maskcall.Errorf(maskcall.EINTERNAL, "The text was not relayed within 10s; this is a bug.")
			}
			time.Sleep(10 * time.Millisecond)
		}
		s := sb.SentSMS()[before]
		before++
		fmt.Fprintf(out, "  relayed from %s to %s: %q\n", s.From, maskcall.MaskNumber("+"+s.To), s.Text)
	}
	fmt.Fprintln(out, "  Each sees only the other's proxy number; a reply goes back the same way.")
	return nil
}
