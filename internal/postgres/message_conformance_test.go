package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/messagetest"
)

func TestMessageStoreConformance(t *testing.T) {
	messagetest.Run(t, func(t *testing.T) *messagetest.Fixture {
		db := MustOpenDB(t)
		MustCreateNumber(t, db, "+447700900000", "GB")
		MustCreateNumber(t, db, "+447700900001", "GB")
		c := MustCreateConversation(t, db, messagetest.T0, 24*time.Hour, gb("+447700900123", "driver"), gb("+447700900456", "rider"))
		return &messagetest.Fixture{Store: db, Conv: c,
			SetMode: func(m maskcall.ConversationMode) {
				if _, err := db.pool.Exec(context.Background(), `UPDATE conversations SET mode = $1 WHERE id = $2`, string(m), c.ID); err != nil {
					t.Fatal(err)
				}
			},
			TextsKept: func() int {
				var n int
				if err := db.pool.QueryRow(context.Background(), `SELECT COUNT(*) FROM message_parts WHERE text IS NOT NULL`).Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}}
	})
}
