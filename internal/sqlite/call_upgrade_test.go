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
// was before 0020 (the call's conversation uuid in conversation_uuid, the
// new column gone, the migration unrecorded); opening it again applies
// 0020, and the old call is still found by its conversation uuid, a new
// one by its name, and only the old one is in conversation_uuid's index.
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
	if _, err := raw.Exec(`UPDATE interactions SET conversation_uuid = named_conversation_uuid;
		ALTER TABLE interactions DROP COLUMN named_conversation_uuid;
		DELETE FROM migrations WHERE name = '0020_named_conversation_uuid.sql'`); err != nil {
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
	var indexed int
	if err := db.rdb.QueryRow(`SELECT count(*) FROM interactions INDEXED BY interactions_conversation_uuid_idx
		WHERE conversation_uuid <> ''`).Scan(&indexed); err != nil || indexed != 1 {
		t.Errorf("conversation_uuid's index holds %d calls (%v), want the older one", indexed, err)
	}
	calls, err := db.FindCalls(ctx, conv.ID)
	if err != nil || len(calls) != 2 || calls[0].ConversationUUID != "CON-OLD" || calls[1].ConversationUUID != "CON-NEW" {
		t.Errorf("calls = %+v, %v; want both with their conversation uuids", calls, err)
	}
}
