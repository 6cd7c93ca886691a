package api

import (
	"context"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// findConversations returns one page of conversations and the cursor of
// the next ("" after the last page), with the store's cursor paging:
// newest first, ties by id, so a page never repeats or skips a
// conversation as others are created or end.
func (h *Handler) findConversations(ctx context.Context, filter maskcall.ConversationFilter, cursor string) ([]*maskcall.Conversation, string, error) {
	filter.After = cursor
	page, err := h.cfg.Store.FindConversations(ctx, filter, h.cfg.Now())
	if maskcall.ErrorCode(err) == maskcall.EINVALID {
		return nil, "", invalid("cursor", "The cursor is not one this listing gave; start again without it.")
	} else if err != nil {
		return nil, "", err
	}
	return page.Conversations, page.NextCursor, nil
}
