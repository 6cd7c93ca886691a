package maskcall_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// oneRoute routes one (from, to) pair.
type oneRoute struct{ route *maskcall.Route }

func (o oneRoute) FindRoute(ctx context.Context, from, to string, now time.Time) (*maskcall.Route, error) {
	if from == o.route.Caller.Number && to == o.route.Caller.ProxyNumber {
		return o.route, nil
	}
	return nil, maskcall.Errorf(maskcall.ENOTFOUND, "No route.")
}

// slowQueue is a CallQueue whose store is locked: nothing is written
// within the wait; the outcome comes later, when the test says.
type slowQueue struct {
	waited time.Duration
	later  func(error)
	err    error // returned at once when set
	create int   // CreateCall calls (must stay 0: the queue is used)
}

func (q *slowQueue) QueueCall(ctx context.Context, c *maskcall.Call, now time.Time, wait time.Duration, later func(error)) (bool, error) {
	if q.err != nil {
		return false, q.err
	}
	q.waited, q.later = wait, later
	return false, nil
}
func (q *slowQueue) CreateCall(context.Context, *maskcall.Call, time.Time) error {
	q.create++
	return nil
}
func (q *slowQueue) RecordCallEvent(context.Context, maskcall.CallEvent, time.Time) (bool, error) {
	return false, nil
}
func (q *slowQueue) FindCalls(context.Context, string) ([]*maskcall.Call, error) { return nil, nil }
func (q *slowQueue) FindActiveCalls(context.Context, string) ([]*maskcall.Call, error) {
	return nil, nil
}

func TestRouter_AnswerCallQueued(t *testing.T) {
	rt := &maskcall.Route{ConversationID: "cv_1",
		Caller: maskcall.Participant{Number: "+447700900001", ProxyNumber: "+447700900101"},
		Callee: maskcall.Participant{Number: "+447700900002", ProxyNumber: "+447700900102"}}
	q := &slowQueue{}
	var failed []string
	r := &maskcall.Router{Routes: oneRoute{rt}, Calls: q, RecordWait: 250 * time.Millisecond,
		RecordFailed: func(c *maskcall.Call, err error) { failed = append(failed, c.UUID+": "+err.Error()) }}
	in := maskcall.InboundCall{UUID: "u-1", From: rt.Caller.Number, To: rt.Caller.ProxyNumber}

	got, queued, err := r.AnswerCall(t.Context(), in)
	if err != nil || got != rt || !queued {
		t.Fatalf("AnswerCall = %v, %v, %v; want the route, still queued", got, queued, err)
	}
	if q.waited != 250*time.Millisecond || q.create != 0 {
		t.Errorf("waited %s, CreateCall %d times", q.waited, q.create)
	}
	q.later(nil) // written later: nothing to report
	q.later(errors.New("conversation deleted"))
	if len(failed) != 1 || failed[0] != "u-1: conversation deleted" {
		t.Errorf("RecordFailed got %q", failed)
	}

	// The default wait.
	r.RecordWait = 0
	if _, _, err := r.AnswerCall(t.Context(), in); err != nil || q.waited != maskcall.DefaultRecordWait {
		t.Errorf("default wait = %s (%v)", q.waited, err)
	}
	// A record the store refuses at once (queue full): no route.
	q.err = maskcall.Errorf(maskcall.ESTORE, "full")
	if got, _, err := r.AnswerCall(t.Context(), in); got != nil || maskcall.ErrorCode(err) != maskcall.ESTORE {
		t.Errorf("refused record: %v, %v", got, err)
	}
	// Strangers queue nothing.
	q.err, q.later = nil, nil
	if got, _, err := r.AnswerCall(t.Context(), maskcall.InboundCall{UUID: "u-2", From: "+447700900003", To: rt.Caller.ProxyNumber}); got != nil || err != nil || q.later != nil {
		t.Errorf("stranger: %v, %v", got, err)
	}
}

// countingCalls is a CallStore that counts the calls recorded.
type countingCalls struct{ created []string }

func (c *countingCalls) CreateCall(_ context.Context, call *maskcall.Call, _ time.Time) error {
	c.created = append(c.created, call.UUID)
	return nil
}
func (c *countingCalls) RecordCallEvent(context.Context, maskcall.CallEvent, time.Time) (bool, error) {
	return false, nil
}
func (c *countingCalls) FindCalls(context.Context, string) ([]*maskcall.Call, error) { return nil, nil }
func (c *countingCalls) FindActiveCalls(context.Context, string) ([]*maskcall.Call, error) {
	return nil, nil
}

// A conversation connects calls only in a mode that routes them: an
// sms-only one is no route (not in service) and records no call, through
// the plain store and the queue alike.
func TestRouter_AnswerCallMode(t *testing.T) {
	for _, tc := range []struct {
		mode    maskcall.ConversationMode
		connect bool
	}{
		{maskcall.ModeVoice, true},
		{maskcall.ModeVoiceAndSMS, true},
		{"", true}, // recorded before modes: voice-and-sms
		{maskcall.ModeSMS, false},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			rt := &maskcall.Route{ConversationID: "cv_1", Mode: tc.mode,
				Caller: maskcall.Participant{Number: "+447700900001", ProxyNumber: "+447700900101"},
				Callee: maskcall.Participant{Number: "+447700900002", ProxyNumber: "+447700900102"}}
			in := maskcall.InboundCall{UUID: "u-1", From: rt.Caller.Number, To: rt.Caller.ProxyNumber}

			calls := &countingCalls{}
			r := &maskcall.Router{Routes: oneRoute{rt}, Calls: calls}
			got, err := r.Answer(t.Context(), in)
			if err != nil {
				t.Fatal(err)
			}
			if (got != nil) != tc.connect {
				t.Fatalf("route = %+v, want connected %v", got, tc.connect)
			}
			if want := map[bool]int{true: 1, false: 0}[tc.connect]; len(calls.created) != want {
				t.Errorf("calls recorded %q, want %d", calls.created, want)
			}

			q := &slowQueue{}
			r = &maskcall.Router{Routes: oneRoute{rt}, Calls: q, RecordWait: time.Millisecond}
			got, queued, err := r.AnswerCall(t.Context(), in)
			if err != nil || (got != nil) != tc.connect || queued != tc.connect || (q.waited != 0) != tc.connect {
				t.Errorf("queued: route %+v, queued %v, waited %s, err %v; want connected %v", got, queued, q.waited, err, tc.connect)
			}
		})
	}
}
