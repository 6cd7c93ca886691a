package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/postgres/pgtest"
)

// Migration 0017 counts the conversations a database already has: one from
// before it (its table, triggers and record dropped) is counted when it is
// opened, and the triggers keep the count from then on, summed over the
// server processes' shards.
func TestConversationStatsMigration(t *testing.T) {
	url := MustCreateSchema(t)
	db := MustOpenDBAt(t, url)
	MustCreateNumber(t, db, gb1, "GB")
	MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
	c := MustCreateConversation(t, db, t0, 0, gb("+447700900124", "a"), gb("+447700900457", "b"))
	if _, err := db.EndConversation(context.Background(), c.ID, "", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	MustCreateConversation(t, db, t0, 0, gb("+447700900125", "a"), gb("+447700900458", "b"))
	db.Close()
	pgtest.Exec(t, url, `DROP TABLE conversation_stats;
		DROP TRIGGER conversation_stats_insert ON conversations;
		DROP TRIGGER conversation_stats_update ON conversations;
		DROP TRIGGER conversation_stats_delete ON conversations;
		DROP FUNCTION conversation_stats_insert(), conversation_stats_update(), conversation_stats_delete(), conversation_stats_add(bigint);
		DELETE FROM migrations WHERE name = '0017_conversation_stats.sql'`)

	db = MustOpenDBAt(t, url)
	if n, err := db.CountActiveConversations(context.Background()); err != nil || n != 2 {
		t.Fatalf("after the migration: %d active (%v), want 2", n, err)
	}
	MustCreateConversation(t, db, t0, 0, gb("+447700900126", "a"), gb("+447700900459", "b"))
	// Another server process: its own shard.
	other := MustOpenDBAt(t, url)
	MustCreateConversation(t, other, t0, 0, gb("+447700900127", "a"), gb("+447700900450", "b"))
	for _, s := range []*DB{db, other} {
		if n, _ := s.CountActiveConversations(context.Background()); n != 4 {
			t.Fatalf("after two more: %d active, want 4", n)
		}
	}
}
