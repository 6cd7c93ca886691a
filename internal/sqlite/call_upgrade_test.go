package sqlite

import (
	"context"
	"database/sql"
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// TestUpgradeKeepsOlderCallsFindable: a call recorded before migration 0020
// was answered with an eventUrl that names nothing, so its outbound leg's
// events come with its conversation uuid only. The file is put back as it
// was before 0020 (the column and the new index gone, the old index back,
// the migration unrecorded); opening it again applies 0020, and the old
// call is still found by its conversation uuid, a new one by its name.
func TestUpgradeKeepsOlderCallsFindable(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	path := db.Path()
	MustCreateNumber(t, db, gb1, "GB")
	conv := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
	if err := db.CreateCall(ctx, &maskcall.Call{UUID: "old-leg", ConversationUUID: "CON-OLD", ConversationID: conv.ID, Status: "started"}, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`DROP INDEX interactions_legacy_conversation_uuid_idx;
		ALTER TABLE interactions DROP COLUMN call_in_event_url;
		CREATE INDEX interactions_conversation_uuid_idx ON interactions (conversation_uuid) WHERE conversation_uuid <> '';
		DELETE FROM migrations WHERE name = '0020_call_in_event_url.sql'`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db = MustOpenDBAt(t, path)
	if err := db.CreateCall(ctx, &maskcall.Call{UUID: "new-leg", ConversationUUID: "CON-NEW", ConversationID: conv.ID, Status: "started"}, t0); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ev   maskcall.CallEvent
		want bool
	}{
		{maskcall.CallEvent{UUID: "out-old", ConversationUUID: "CON-OLD"}, true},
		{maskcall.CallEvent{UUID: "out-new", ConversationUUID: "CON-NEW"}, false},
		{maskcall.CallEvent{UUID: "out-new", ConversationUUID: "CON-NEW", CallUUID: "new-leg"}, true},
	} {
		tc.ev.Direction, tc.ev.Status, tc.ev.Timestamp = "outbound", "answered", t0
		if ok, err := db.RecordCallEvent(ctx, tc.ev, t0); err != nil || ok != tc.want {
			t.Errorf("%+v: %v %v, want %v", tc.ev, ok, err, tc.want)
		}
	}
	var legacy int
	if err := db.rdb.QueryRow(`SELECT count(*) FROM interactions INDEXED BY interactions_legacy_conversation_uuid_idx
		WHERE conversation_uuid <> '' AND call_in_event_url = 0`).Scan(&legacy); err != nil || legacy != 1 {
		t.Errorf("the older calls' index holds %d calls (%v), want 1", legacy, err)
	}
}
