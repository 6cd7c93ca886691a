package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// The callback outbox: an event is written iff the change it reports is
// committed, once, and only while a target exists; claims never hand an
// event to two claimers at once.

type callbackStore interface {
	maskcall.Store
	maskcall.CallbackStore
}

func mustCallbackStore(t *testing.T, s maskcall.Store) callbackStore {
	t.Helper()
	cs, ok := s.(callbackStore)
	if !ok {
		t.Fatalf("%T does not implement maskcall.CallbackStore", s)
	}
	return cs
}

// eventTypes lists the types of db's events, oldest first (ties by id are
// fine: within one test, events are created at distinct times or are of
// one change).
func eventTypes(t *testing.T, db callbackStore) []string {
	t.Helper()
	cbs := mustFindCallbacks(t, db, maskcall.CallbackFilter{})
	var out []string
	for i := len(cbs) - 1; i >= 0; i-- {
		out = append(out, cbs[i].Event.Type)
	}
	return out
}

func mustFindCallbacks(t *testing.T, db callbackStore, f maskcall.CallbackFilter) []*maskcall.Callback {
	t.Helper()
	cbs, err := db.FindCallbacks(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	return cbs
}

func findEvent(t *testing.T, db callbackStore, typ string) *maskcall.Callback {
	t.Helper()
	var found *maskcall.Callback
	for _, cb := range mustFindCallbacks(t, db, maskcall.CallbackFilter{}) {
		if cb.Event.Type == typ {
			if found != nil {
				t.Fatalf("two %s events", typ)
			}
			found = cb
		}
	}
	if found == nil {
		t.Fatalf("no %s event; have %v", typ, eventTypes(t, db))
	}
	return found
}

func (h *harness) testCallbacksNoTarget(t *testing.T) {
	ctx := context.Background()
	db := mustCallbackStore(t, h.open(t))
	conv, call := mustCreateCall(t, db)
	mustRecord(t, db, maskcall.CallEvent{UUID: call.UUID, Status: "answered", Timestamp: t0})
	if _, err := db.EndConversation(ctx, conv.ID, "", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := eventTypes(t, db); len(got) != 0 {
		t.Errorf("events without a target: %v", got)
	}
}

func (h *harness) testCallbacksLifecycle(t *testing.T) {
	ctx := context.Background()
	db := mustCallbackStore(t, h.open(t))
	woken := make(chan struct{}, 100)
	db.OnCallback(func() { woken <- struct{}{} })
	if err := db.SetCallbackTarget(ctx, true, t0); err != nil {
		t.Fatal(err)
	}
	mustCreateNumber(t, db, gb1, "GB")
	conv := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	call := &maskcall.Call{UUID: "in-leg", ConversationUUID: "CON-1", ConversationID: conv.ID,
		From: alice, To: gb1, Status: "started"}
	if err := db.CreateCall(ctx, call, at(1)); err != nil {
		t.Fatal(err)
	}
	record := func(ev maskcall.CallEvent, now time.Time) {
		t.Helper()
		if ok, err := db.RecordCallEvent(ctx, ev, now); err != nil || !ok {
			t.Fatalf("RecordCallEvent(%+v) = %v, %v", ev, ok, err)
		}
	}
	created := findEvent(t, db, maskcall.EventConversationCreated)
	if d := created.Event.Data; d.ConversationID != conv.ID || d.Ref != "ref" || len(d.Participants) != 2 ||
		d.Participants[1].Label != "b" || d.Participants[1].Position != 1 || d.Participants[0].ProxyNumber != gb1 {
		t.Errorf("conversation.created data = %+v", d)
	}
	if created.URL != "" || created.State != maskcall.CallbackPending || !created.NextAttemptAt.Equal(t0) ||
		!created.Event.CreatedAt.Equal(t0) || !created.RetryUntil.Equal(t0.Add(maskcall.CallbackRetryWindow)) {
		t.Errorf("conversation.created = %+v", created)
	}
	body, err := created.Event.Body(false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), alice) || strings.Contains(string(body), bob) {
		t.Errorf("body without numbers holds one: %s", body)
	}
	if body, _ := created.Event.Body(true); !strings.Contains(string(body), alice) {
		t.Errorf("body with numbers lacks the participant's: %s", body)
	}

	started := findEvent(t, db, maskcall.EventCallStarted)
	if d := started.Event.Data; d.CallID != call.UUID || d.ConversationID != conv.ID || d.Ref != "ref" ||
		d.Label != "a" || d.Position == nil || *d.Position != 0 || d.ProxyNumber != gb1 || d.Number != alice {
		t.Errorf("call.started data = %+v", d)
	}
	// The same call again, and events that change nothing, write nothing.
	again := *call
	if err := db.CreateCall(ctx, &again, at(2)); err != nil {
		t.Fatal(err)
	}
	record(maskcall.CallEvent{UUID: call.UUID, Status: "ringing", Timestamp: at(3)}, at(3))
	answered := maskcall.CallEvent{UUID: call.UUID, Status: "answered", Timestamp: at(4)}
	record(answered, at(4))
	record(answered, at(5)) // Vonage's retry
	record(maskcall.CallEvent{UUID: "out-leg", ConversationUUID: call.ConversationUUID, CallUUID: call.UUID, Status: "answered", Timestamp: at(6)}, at(6))
	record(maskcall.CallEvent{UUID: call.UUID, Status: "completed", Duration: 42, Timestamp: at(60)}, at(60))
	record(maskcall.CallEvent{UUID: "out-leg", ConversationUUID: call.ConversationUUID, CallUUID: call.UUID, Status: "completed", Duration: 40, Timestamp: at(61)}, at(61))
	completed := findEvent(t, db, maskcall.EventCallCompleted)
	if d := completed.Event.Data; d.Duration == nil || *d.Duration != 42 || d.Status != "completed" || d.Label != "a" {
		t.Errorf("call.completed data = %+v", d)
	}
	if a := findEvent(t, db, maskcall.EventCallAnswered); a.Event.Data.CallID != call.UUID {
		t.Errorf("call.answered data = %+v", a.Event.Data)
	}

	if _, err := db.EndConversation(ctx, conv.ID, "", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EndConversation(ctx, conv.ID, "", t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	ended := findEvent(t, db, maskcall.EventConversationEnded)
	if d := ended.Event.Data; d.Reason != maskcall.EndReasonEnded || d.EndedAt == nil || !d.EndedAt.Equal(t0.Add(2*time.Minute)) || d.Ref != "ref" {
		t.Errorf("conversation.ended data = %+v", d)
	}
	want := []string{maskcall.EventConversationCreated, maskcall.EventCallStarted, maskcall.EventCallAnswered,
		maskcall.EventCallCompleted, maskcall.EventConversationEnded}
	if got := eventTypes(t, db); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("events = %v, want %v", got, want)
	}
	if got := mustFindCallbacks(t, db, maskcall.CallbackFilter{ConversationID: conv.ID, Limit: 2}); len(got) != 2 ||
		got[0].Event.Type != maskcall.EventConversationEnded {
		t.Errorf("FindCallbacks(conversation, limit 2) = %d events", len(got))
	}
	select {
	case <-woken:
	default:
		t.Error("OnCallback's function was not called")
	}
}

func (h *harness) testCallbacksConversationURL(t *testing.T) {
	ctx := context.Background()
	db := mustCallbackStore(t, h.open(t))
	mustCreateNumber(t, db, gb1, "GB")
	mustCreateNumber(t, db, gb2, "GB")
	c := &maskcall.Conversation{Ref: "own", CallbackURL: "https://platform.example/hook",
		Participants: []maskcall.Participant{gb(alice, "a"), gb(bob, "b")}}
	if err := db.CreateConversation(ctx, c, nil, t0); err != nil {
		t.Fatal(err)
	}
	got, err := db.FindConversationByID(ctx, c.ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.CallbackURL != c.CallbackURL {
		t.Errorf("stored callback URL = %q", got.CallbackURL)
	}
	mustCreateConversation(t, db, t0, 0, gb(carol, "c"), gb(dave, "d")) // none: no target
	call := &maskcall.Call{UUID: "u1", ConversationID: c.ID, From: bob, To: c.Participants[1].ProxyNumber, Status: "started"}
	if err := db.CreateCall(ctx, call, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	cbs := mustFindCallbacks(t, db, maskcall.CallbackFilter{})
	if len(cbs) != 2 {
		t.Fatalf("%d events, want conversation.created and call.started of the conversation with a URL", len(cbs))
	}
	for _, cb := range cbs {
		if cb.URL != c.CallbackURL || cb.Event.Data.ConversationID != c.ID {
			t.Errorf("event %s: url %q, conversation %s", cb.Event.Type, cb.URL, cb.Event.Data.ConversationID)
		}
	}
	if d := cbs[0].Event.Data; d.Label != "b" || d.Position == nil || *d.Position != 1 {
		t.Errorf("call.started of the second participant: %+v", d)
	}
	bad := &maskcall.Conversation{CallbackURL: "ftp://x", Participants: []maskcall.Participant{gb(alice, "a"), gb(bob, "b")}}
	assertCode(t, db.CreateConversation(ctx, bad, nil, t0), maskcall.EINVALID)
}

func (h *harness) testCallbacksEndings(t *testing.T) {
	ctx := context.Background()
	db := mustCallbackStore(t, h.open(t))
	if err := db.SetCallbackTarget(ctx, true, t0); err != nil {
		t.Fatal(err)
	}
	mustCreateNumber(t, db, gb1, "GB")
	short := mustCreateConversation(t, db, t0, time.Hour, gb(alice, "a"), gb(bob, "b"))
	sweptByCreate := mustCreateConversation(t, db, t0, 2*time.Hour, gb(carol, "c"), gb(dave, "d"))
	n, err := db.ExpireConversations(ctx, t0.Add(90*time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("ExpireConversations = %d, %v", n, err)
	}
	if n, err := db.ExpireConversations(ctx, t0.Add(91*time.Minute)); err != nil || n != 0 {
		t.Fatalf("second sweep = %d, %v", n, err)
	}
	// A create sweeps what expired by its time.
	mustCreateConversation(t, db, t0.Add(3*time.Hour), 0, gb(alice, "a"), gb(carol, "c"))
	// A failed create writes nothing.
	before := len(mustFindCallbacks(t, db, maskcall.CallbackFilter{}))
	_, err = createConv(db, t0.Add(3*time.Hour), 0, gb(alice, "a"), gb(dave, "d"), "SMS", "MMS")
	if err == nil {
		t.Fatal("create needing MMS succeeded")
	}
	if after := len(mustFindCallbacks(t, db, maskcall.CallbackFilter{})); after != before {
		t.Errorf("a failed create wrote %d events", after-before)
	}
	ids, err := db.EndConversationsUsingNumber(ctx, gb1, maskcall.EndReasonReleased, t0.Add(4*time.Hour))
	if err != nil || len(ids) != 1 {
		t.Fatalf("EndConversationsUsingNumber = %v, %v", ids, err)
	}
	reasons := map[string]string{}
	var endedAt = map[string]time.Time{}
	for _, cb := range mustFindCallbacks(t, db, maskcall.CallbackFilter{}) {
		if cb.Event.Type == maskcall.EventConversationEnded {
			if _, dup := reasons[cb.Event.Data.ConversationID]; dup {
				t.Errorf("%s ended twice", cb.Event.Data.ConversationID)
			}
			reasons[cb.Event.Data.ConversationID] = cb.Event.Data.Reason
			endedAt[cb.Event.Data.ConversationID] = *cb.Event.Data.EndedAt
		}
	}
	if reasons[short.ID] != maskcall.EndReasonExpired || !endedAt[short.ID].Equal(*short.ExpiresAt) {
		t.Errorf("expired by the sweep: %q at %v", reasons[short.ID], endedAt[short.ID])
	}
	if reasons[sweptByCreate.ID] != maskcall.EndReasonExpired {
		t.Errorf("expired by a create: %q", reasons[sweptByCreate.ID])
	}
	if reasons[ids[0]] != maskcall.EndReasonReleased {
		t.Errorf("ended by release: %q", reasons[ids[0]])
	}
	if len(reasons) != 3 {
		t.Errorf("%d conversation.ended events, want 3", len(reasons))
	}
}

func (h *harness) testCallbacksOutOfSession(t *testing.T) {
	ctx := context.Background()
	db := mustCallbackStore(t, h.open(t))
	c := maskcall.OutOfSessionCall{UUID: "stranger-1", From: carol, To: gb1, Action: "not_in_service"}
	if err := db.RecordOutOfSessionCall(ctx, c, t0); err != nil {
		t.Fatal(err)
	}
	if got := eventTypes(t, db); len(got) != 0 {
		t.Fatalf("events without a target: %v", got)
	}
	if err := db.SetCallbackTarget(ctx, true, t0); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := db.RecordOutOfSessionCall(ctx, c, t0.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	cb := findEvent(t, db, maskcall.EventCallOutOfSession)
	if d := cb.Event.Data; d.CallID != c.UUID || d.ProxyNumber != gb1 || d.Status != "not_in_service" || d.ConversationID != "" {
		t.Errorf("call.out_of_session data = %+v", d)
	}
	if body, _ := cb.Event.Body(false); strings.Contains(string(body), carol) {
		t.Errorf("body without numbers holds the caller's: %s", body)
	}
}

// addEvents writes n conversation.created events (conversations of the
// pool number gb1 between distinct numbers) at t0.
func addEvents(t *testing.T, db callbackStore, n int) {
	t.Helper()
	ctx := context.Background()
	if err := db.SetCallbackTarget(ctx, true, t0); err != nil {
		t.Fatal(err)
	}
	mustCreateNumber(t, db, gb1, "GB")
	for i := range n {
		a := maskcall.Participant{Number: "+4477009" + pad5(2*i), Country: "GB"}
		b := maskcall.Participant{Number: "+4477009" + pad5(2*i+1), Country: "GB"}
		mustCreateConversation(t, db, t0, 0, a, b)
	}
}

func pad5(i int) string { return fmt.Sprintf("%05d", i) }

func (h *harness) testCallbacksClaim(t *testing.T) {
	ctx := context.Background()
	db := mustCallbackStore(t, h.open(t))
	addEvents(t, db, 3)
	lease := time.Minute
	now := t0.Add(time.Second)

	got, err := db.ClaimCallbacks(ctx, now, 2, lease)
	if err != nil || len(got) != 2 {
		t.Fatalf("ClaimCallbacks = %d, %v", len(got), err)
	}
	for _, cb := range got {
		if cb.Attempts != 1 || cb.State != maskcall.CallbackDelivering {
			t.Errorf("claimed %+v", cb)
		}
	}
	rest, err := db.ClaimCallbacks(ctx, now, 10, lease)
	if err != nil || len(rest) != 1 || rest[0].Event.ID == got[0].Event.ID || rest[0].Event.ID == got[1].Event.ID {
		t.Fatalf("second claim = %d, %v", len(rest), err)
	}
	if none, err := db.ClaimCallbacks(ctx, now.Add(lease-time.Microsecond), 10, lease); err != nil || len(none) != 0 {
		t.Fatalf("claim while leased = %d, %v", len(none), err)
	}
	st, err := db.CallbackStats(ctx, now)
	if err != nil || st.Pending != 3 || st.OldestDue != nil {
		t.Errorf("stats while leased = %+v, %v", st, err)
	}

	// got[0] delivered, got[1] retried later, rest[0]'s worker dies.
	if ok, err := db.FinishCallback(ctx, got[0], maskcall.CallbackOutcome{State: maskcall.CallbackDelivered, Status: 204}, now); err != nil || !ok {
		t.Fatalf("FinishCallback(delivered) = %v, %v", ok, err)
	}
	retryAt := now.Add(10 * time.Second)
	if ok, err := db.FinishCallback(ctx, got[1], maskcall.CallbackOutcome{State: maskcall.CallbackPending, NextAttemptAt: retryAt,
		Status: 503, Error: "503 Service Unavailable"}, now); err != nil || !ok {
		t.Fatalf("FinishCallback(pending) = %v, %v", ok, err)
	}
	if ok, _ := db.FinishCallback(ctx, got[0], maskcall.CallbackOutcome{State: maskcall.CallbackFailed}, now); ok {
		t.Error("a finished claim was finished again")
	}
	next, err := db.NextCallbackAt(ctx)
	if err != nil || next == nil || !next.Equal(retryAt) {
		t.Errorf("NextCallbackAt = %v, %v; want %v", next, err, retryAt)
	}
	if early, _ := db.ClaimCallbacks(ctx, retryAt.Add(-time.Microsecond), 10, lease); len(early) != 0 {
		t.Errorf("claimed %d before they were due", len(early))
	}

	// After the lease the dead worker's event is claimed again, with its
	// attempt counted; its old claim can no longer be finished.
	later := now.Add(lease)
	again, err := db.ClaimCallbacks(ctx, later, 10, lease)
	if err != nil || len(again) != 2 {
		t.Fatalf("claim after the lease = %d, %v", len(again), err)
	}
	byID := map[string]*maskcall.Callback{}
	for _, cb := range again {
		byID[cb.Event.ID] = cb
	}
	if cb := byID[rest[0].Event.ID]; cb == nil || cb.Attempts != 2 {
		t.Fatalf("dead worker's event not taken over: %+v", again)
	}
	if cb := byID[got[1].Event.ID]; cb == nil || cb.Attempts != 2 || cb.LastStatus != 503 || cb.LastError != "503 Service Unavailable" {
		t.Fatalf("retried event: %+v", cb)
	}
	if ok, _ := db.FinishCallback(ctx, rest[0], maskcall.CallbackOutcome{State: maskcall.CallbackDelivered, Status: 200}, later); ok {
		t.Error("the dead worker's claim finished a taken-over event")
	}
	if ok, err := db.FinishCallback(ctx, byID[rest[0].Event.ID], maskcall.CallbackOutcome{State: maskcall.CallbackFailed, Status: 410, Error: "410 Gone"}, later); err != nil || !ok {
		t.Fatalf("FinishCallback(failed) = %v, %v", ok, err)
	}
	failed := mustFindCallbacks(t, db, maskcall.CallbackFilter{State: maskcall.CallbackFailed})
	if len(failed) != 1 || failed[0].Event.ID != rest[0].Event.ID || failed[0].Attempts != 2 || failed[0].LastStatus != 410 {
		t.Fatalf("failed = %+v", failed)
	}
	if st, err := db.CallbackStats(ctx, later); err != nil || st.Pending != 1 || st.Failed != 1 {
		t.Errorf("stats = %+v, %v", st, err)
	}

	// Redeliver: failed and delivered ones only.
	_, err = db.RedeliverCallback(ctx, byID[got[1].Event.ID].Event.ID, later)
	assertCode(t, err, maskcall.ECONFLICT)
	_, err = db.RedeliverCallback(ctx, "evt_missing", later)
	assertCode(t, err, maskcall.ENOTFOUND)
	re := later.Add(time.Hour)
	for _, id := range []string{rest[0].Event.ID, got[0].Event.ID} {
		cb, err := db.RedeliverCallback(ctx, id, re)
		if err != nil {
			t.Fatal(err)
		}
		if cb.State != maskcall.CallbackPending || !cb.NextAttemptAt.Equal(re) || !cb.RetryUntil.Equal(re.Add(maskcall.CallbackRetryWindow)) {
			t.Errorf("redelivered %+v", cb)
		}
	}
	if st, err := db.CallbackStats(ctx, re.Add(time.Second)); err != nil || st.Pending != 3 || st.OldestDue == nil || !st.OldestDue.Equal(re) {
		t.Errorf("stats after redeliver = %+v, %v", st, err)
	}
	claimed, err := db.ClaimCallbacks(ctx, re, 10, lease)
	if err != nil || len(claimed) != 3 { // the two redelivered, and the one whose lease ended
		t.Fatalf("claim of redelivered = %d, %v", len(claimed), err)
	}
}

// testCallbacksClaimConcurrent: claimers racing (on two handles when the
// store has them) never get the same event, and together get all.
func (h *harness) testCallbacksClaimConcurrent(t *testing.T) {
	ctx := context.Background()
	db := mustCallbackStore(t, h.open(t))
	const events = 40
	addEvents(t, db, events)
	handles := []callbackStore{db}
	if h.Reopen != nil {
		handles = append(handles, mustCallbackStore(t, h.Reopen(t, db)))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func(s callbackStore) {
			defer wg.Done()
			for {
				cbs, err := s.ClaimCallbacks(ctx, t0.Add(time.Second), 3, time.Hour)
				if err != nil {
					errs <- err
					return
				}
				if len(cbs) == 0 {
					return
				}
				mu.Lock()
				for _, cb := range cbs {
					seen[cb.Event.ID]++
				}
				mu.Unlock()
			}
		}(handles[i%len(handles)])
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(seen) != events {
		t.Errorf("%d events claimed, want %d", len(seen), events)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s claimed %d times", id, n)
		}
	}
}
