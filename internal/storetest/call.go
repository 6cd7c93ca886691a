package storetest

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// MustCreateCall creates a conversation and an inbound call in it.
func mustCreateCall(tb testing.TB, db maskcall.Store) (*maskcall.Conversation, *maskcall.Call) {
	tb.Helper()
	mustCreateNumber(tb, db, gb1, "GB")
	conv := mustCreateConversation(tb, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
	started := t0
	call := &maskcall.Call{UUID: "in-leg", ConversationUUID: "CON-1", ConversationID: conv.ID,
		From: alice, To: gb1, Status: "started", StartedAt: &started}
	if err := db.CreateCall(context.Background(), call, t0); err != nil {
		tb.Fatal(err)
	}
	return conv, call
}

func mustRecord(tb testing.TB, db maskcall.Store, ev maskcall.CallEvent) {
	tb.Helper()
	ok, err := db.RecordCallEvent(context.Background(), ev, t0)
	if err != nil {
		tb.Fatal(err)
	} else if !ok {
		tb.Fatalf("event %+v matched no call", ev)
	}
}

func mustFindCall(tb testing.TB, db maskcall.Store, conversationID string) *maskcall.Call {
	tb.Helper()
	calls, err := db.FindCalls(context.Background(), conversationID)
	if err != nil {
		tb.Fatal(err)
	} else if len(calls) != 1 {
		tb.Fatalf("%d calls", len(calls))
	}
	return calls[0]
}

// assertEvents checks db stored want call events, if the store can count
// them (Harness.CountEvents).
func (h *harness) assertEvents(t *testing.T, db maskcall.Store, want int) {
	t.Helper()
	if h.CountEvents == nil {
		return
	}
	if n := h.CountEvents(t, db); n != want {
		t.Errorf("%d events stored, want %d", n, want)
	}
}

func (h *harness) testCreateCall(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db := h.open(t)
		conv, call := mustCreateCall(t, db)
		got := mustFindCall(t, db, conv.ID)
		if !reflect.DeepEqual(got, call) {
			t.Errorf("stored\n%+v\nwant\n%+v", got, call)
		}
	})

	t.Run("Idempotent", func(t *testing.T) {
		db := h.open(t)
		conv, call := mustCreateCall(t, db)
		again := *call
		again.Status = "answered"
		if err := db.CreateCall(ctx, &again, t0); err != nil {
			t.Fatal(err)
		}
		if got := mustFindCall(t, db, conv.ID); got.Status != "started" {
			t.Errorf("status = %q; a repeated create changed the call", got.Status)
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		db := h.open(t)
		err := db.CreateCall(ctx, &maskcall.Call{UUID: "x", ConversationID: "cv_nope"}, t0)
		assertCode(t, err, maskcall.ENOTFOUND)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		db := h.open(t)
		assertCode(t, db.CreateCall(ctx, &maskcall.Call{ConversationID: "cv_x"}, t0), maskcall.EINVALID)
	})
}

func (h *harness) testRecordCallEvent(t *testing.T) {
	ctx := context.Background()
	ts := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	t.Run("OK", func(t *testing.T) {
		db := h.open(t)
		conv, _ := mustCreateCall(t, db)
		mustRecord(t, db, maskcall.CallEvent{UUID: "in-leg", ConversationUUID: "CON-1", Status: "ringing", Timestamp: ts(1)})
		mustRecord(t, db, maskcall.CallEvent{UUID: "in-leg", ConversationUUID: "CON-1", Status: "answered", Timestamp: ts(2)})
		if active, err := db.FindActiveCalls(ctx, conv.ID); err != nil || len(active) != 1 {
			t.Fatalf("active calls: %v %v", active, err)
		}
		start, end := ts(2), ts(62)
		mustRecord(t, db, maskcall.CallEvent{UUID: "in-leg", ConversationUUID: "CON-1", Status: "completed", Timestamp: ts(62),
			Duration: 60, StartTime: &start, EndTime: &end})
		got := mustFindCall(t, db, conv.ID)
		if got.Status != "completed" || got.Duration != 60 || got.EndedAt == nil || !got.EndedAt.Equal(end) {
			t.Errorf("call = %+v", got)
		}
		// The call was created with a start of t0, the earliest known.
		if got.StartedAt == nil || !got.StartedAt.Equal(t0) {
			t.Errorf("started at %v", got.StartedAt)
		}
		if active, err := db.FindActiveCalls(ctx, conv.ID); err != nil || len(active) != 0 {
			t.Fatalf("active calls after completion: %v %v", active, err)
		}
	})

	t.Run("Retried", func(t *testing.T) {
		db := h.open(t)
		conv, _ := mustCreateCall(t, db)
		ev := maskcall.CallEvent{UUID: "in-leg", ConversationUUID: "CON-1", Status: "ringing", Timestamp: ts(1)}
		mustRecord(t, db, ev)
		mustRecord(t, db, ev)
		h.assertEvents(t, db, 1)
		if got := mustFindCall(t, db, conv.ID); got.Status != "ringing" {
			t.Errorf("status = %q", got.Status)
		}
	})

	t.Run("OutOfOrder", func(t *testing.T) {
		db := h.open(t)
		conv, _ := mustCreateCall(t, db)
		mustRecord(t, db, maskcall.CallEvent{UUID: "in-leg", Status: "completed", Timestamp: ts(62), Duration: 60})
		mustRecord(t, db, maskcall.CallEvent{UUID: "in-leg", Status: "answered", Timestamp: ts(2)})
		mustRecord(t, db, maskcall.CallEvent{UUID: "in-leg", Status: "ringing", Timestamp: ts(1)})
		got := mustFindCall(t, db, conv.ID)
		if got.Status != "completed" || got.Duration != 60 {
			t.Errorf("call = %+v, want completed with 60s", got)
		}
		if got.EndedAt == nil || !got.EndedAt.Equal(ts(62)) {
			t.Errorf("ended at %v", got.EndedAt)
		}
		h.assertEvents(t, db, 3)
	})

	t.Run("OutboundLeg", func(t *testing.T) {
		db := h.open(t)
		conv, _ := mustCreateCall(t, db)
		// The leg maskcall's connect created has its own uuid; its events
		// name the inbound call (the eventUrl's call parameter), and the
		// conversation uuid they share confirms it.
		mustRecord(t, db, maskcall.CallEvent{UUID: "out-leg", ConversationUUID: "CON-1", CallUUID: "in-leg", Direction: "outbound",
			Status: "answered", Timestamp: ts(5)})
		got := mustFindCall(t, db, conv.ID)
		if got.Status != "answered" || got.UUID != "in-leg" {
			t.Errorf("call = %+v", got)
		}
		mustRecord(t, db, maskcall.CallEvent{UUID: "out-leg", ConversationUUID: "CON-1", CallUUID: "in-leg", Direction: "outbound",
			Status: "busy", Timestamp: ts(6)})
		if got := mustFindCall(t, db, conv.ID); got.Status != "busy" || got.EndedAt == nil || !got.EndedAt.Equal(ts(6)) {
			t.Errorf("call = %+v", got)
		}
	})

	t.Run("OutboundLegNotItsCall", func(t *testing.T) {
		db := h.open(t)
		conv, _ := mustCreateCall(t, db)
		for _, ev := range []maskcall.CallEvent{
			// The call parameter is not signed: naming a call of another
			// Vonage conversation finds nothing.
			{UUID: "out-leg", ConversationUUID: "CON-9", CallUUID: "in-leg"},
			{UUID: "out-leg", CallUUID: "in-leg"},
			{UUID: "out-leg", ConversationUUID: "CON-1", CallUUID: "nobody"},
			// A call recorded now is found through the name only.
			{UUID: "out-leg", ConversationUUID: "CON-1"},
		} {
			ev.Direction, ev.Status, ev.Timestamp = "outbound", "answered", ts(5)
			if ok, err := db.RecordCallEvent(ctx, ev, t0); err != nil || ok {
				t.Errorf("%+v: %v %v, want no call", ev, ok, err)
			}
		}
		if got := mustFindCall(t, db, conv.ID); got.Status != "started" {
			t.Errorf("call = %+v, want it unchanged", got)
		}
		h.assertEvents(t, db, 0)
	})

	t.Run("OutboundLegOfOlderCall", func(t *testing.T) {
		if h.MarkCallsOlder == nil {
			t.Skip("this store cannot make its calls look older (Harness.MarkCallsOlder)")
		}
		db := h.open(t)
		conv, _ := mustCreateCall(t, db)
		h.MarkCallsOlder(t, db)
		mustRecord(t, db, maskcall.CallEvent{UUID: "out-leg", ConversationUUID: "CON-1", Direction: "outbound",
			Status: "answered", Timestamp: ts(5)})
		if got := mustFindCall(t, db, conv.ID); got.Status != "answered" {
			t.Errorf("call = %+v", got)
		}
		// Its inbound leg still finds it by uuid.
		mustRecord(t, db, maskcall.CallEvent{UUID: "in-leg", ConversationUUID: "CON-1", Status: "completed", Duration: 7, Timestamp: ts(12)})
		if got := mustFindCall(t, db, conv.ID); got.Status != "completed" || got.Duration != 7 {
			t.Errorf("call = %+v", got)
		}
	})

	t.Run("UnknownCall", func(t *testing.T) {
		db := h.open(t)
		mustCreateCall(t, db)
		ok, err := db.RecordCallEvent(ctx, maskcall.CallEvent{UUID: "other", ConversationUUID: "CON-9", Status: "ringing", Timestamp: ts(1)}, t0)
		if err != nil || ok {
			t.Fatalf("unknown call: %v %v", ok, err)
		}
		ok, err = db.RecordCallEvent(ctx, maskcall.CallEvent{UUID: "other", Status: "ringing", Timestamp: ts(1)}, t0)
		if err != nil || ok {
			t.Fatalf("unknown call without conversation uuid: %v %v", ok, err)
		}
		h.assertEvents(t, db, 0)
	})
}

func (h *harness) testFindCalls(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	conv, _ := mustCreateCall(t, db)
	if err := db.CreateCall(ctx, &maskcall.Call{UUID: "second", ConversationID: conv.ID, Status: "started"}, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	calls, err := db.FindCalls(ctx, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || calls[0].UUID != "in-leg" || calls[1].UUID != "second" {
		t.Fatalf("calls = %+v", calls)
	}
	if calls, err := db.FindCalls(ctx, "cv_nope"); err != nil || len(calls) != 0 {
		t.Fatalf("unknown conversation: %v %v", calls, err)
	}
}
