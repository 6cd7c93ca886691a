package api

import (
	"context"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// findConversations returns one page of conversations and the cursor of
// the next ("" after the last page).
func (h *Handler) findConversations(ctx context.Context, filter maskcall.ConversationFilter, cursor string) ([]*maskcall.Conversation, string, error) {
	if cursor != "" {
		return nil, "", invalid("cursor", "%q is not a cursor of this listing.", cursor)
	}
	convs, err := h.cfg.Store.FindConversations(ctx, filter)
	return convs, "", err
}
