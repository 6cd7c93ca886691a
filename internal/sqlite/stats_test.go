package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

// Migration 0017 counts the conversations a file already has: a file
// from before it (its table, triggers and record dropped) is counted when
// it is opened, and the triggers keep the count from then on.
func TestConversationStatsMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maskcall.db")
	db := NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	MustCreateNumber(t, db, "+447000000001", "GB")
	MustCreateConversation(t, db, t0, 0, gb("+447700900123", "a"), gb("+447700900456", "b"))
	c := MustCreateConversation(t, db, t0, 0, gb("+447700900124", "a"), gb("+447700900457", "b"))
	if _, err := db.EndConversation(context.Background(), c.ID, "", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	MustCreateConversation(t, db, t0, 0, gb("+447700900125", "a"), gb("+447700900458", "b"))
	db.Close()

	raw, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER conversation_stats_insert`, `DROP TRIGGER conversation_stats_update`,
		`DROP TRIGGER conversation_stats_delete`, `DROP TABLE conversation_stats`,
		`DELETE FROM migrations WHERE name = '0017_conversation_stats.sql'`} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db = MustOpenDBAt(t, path)
	if n, err := db.CountActiveConversations(context.Background()); err != nil || n != 2 {
		t.Fatalf("after the migration: %d active (%v), want 2", n, err)
	}
	MustCreateConversation(t, db, t0, 0, gb("+447700900126", "a"), gb("+447700900459", "b"))
	if n, _ := db.CountActiveConversations(context.Background()); n != 3 {
		t.Fatalf("after one more: %d active, want 3", n)
	}
}
