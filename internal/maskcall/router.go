package maskcall

import (
	"context"
	"time"
)

// Router decides what happens to an inbound call and records its events.
type Router struct {
	Routes RouteStore
	Calls  CallStore
	Now    func() time.Time
	// RecordWait is how long Answer waits for a call's record to be
	// written when Calls is a CallQueue, before connecting the call with
	// its record still queued. 0 is DefaultRecordWait.
	RecordWait time.Duration
	// RecordFailed, if set, is told about a call record that was still
	// queued when the call was connected and then could not be written
	// (its conversation was deleted meanwhile, or the store closed while
	// locked). Nil: such failures go unreported.
	RecordFailed func(c *Call, err error)
	// OutOfSession, if set, records calls that reached no conversation,
	// for the call.out_of_session callback. Nil: they are not recorded.
	OutOfSession OutOfSessionRecorder
}

// OutOfSessionRecorder records a call that reached no active
// conversation (the part of CallbackStore the Router needs).
type OutOfSessionRecorder interface {
	RecordOutOfSessionCall(ctx context.Context, c OutOfSessionCall, now time.Time) error
}

// Out-of-session actions: what a caller with no active conversation got.
const (
	OutOfSessionNotInService = "not_in_service"
	OutOfSessionForward      = "forward"
)

// RecordOutOfSession records that in reached no active conversation and
// got action (OutOfSessionNotInService or OutOfSessionForward), once per
// call uuid, when the Router has an OutOfSession recorder.
func (r *Router) RecordOutOfSession(ctx context.Context, in InboundCall, action string) error {
	if r.OutOfSession == nil {
		return nil
	}
	return r.OutOfSession.RecordOutOfSessionCall(ctx, OutOfSessionCall{UUID: in.UUID, From: in.From, To: in.To, Action: action}, r.now())
}

// DefaultRecordWait is the default Router.RecordWait. A record normally
// commits in well under a millisecond, so it is written before the call
// is connected; only a store whose write lock another process holds makes
// a call wait this long, then connect anyway (Vonage wants the NCCO
// within 5 s).
const DefaultRecordWait = time.Second

// CallQueue is a CallStore that can take a call record without its caller
// waiting until it is written.
type CallQueue interface {
	// QueueCall queues c's record (as CreateCall would write it at now) to be
	// written as soon as the store allows, before any write queued after
	// it (so the call's events, queued later, find it), and waits up to
	// wait for the write. It reports whether c was written by then. An
	// error means c is not queued. If it returns false and no error, c
	// stays queued and later is called once with the outcome: nil when
	// written, or the error that refused it.
	QueueCall(ctx context.Context, c *Call, now time.Time, wait time.Duration, later func(error)) (written bool, err error)
}

// InboundCall is the answer webhook's question: a call from a real number
// to a proxy number.
type InboundCall struct {
	UUID             string
	ConversationUUID string
	From, To         string // E.164 with '+'
}

// Answer returns the route for an inbound call and records the call against
// its conversation, or nil if the call belongs to no active conversation that
// routes calls (a stranger, a conversation that ended or expired, or one
// whose mode is sms only).
func (r *Router) Answer(ctx context.Context, in InboundCall) (*Route, error) {
	route, _, err := r.AnswerCall(ctx, in)
	return route, err
}

// AnswerCall is Answer, also reporting whether the call's record is still
// queued (Calls is a CallQueue and the store stayed locked for
// RecordWait). A found route is returned even then: the call is connected
// and its record written as soon as the store allows.
func (r *Router) AnswerCall(ctx context.Context, in InboundCall) (route *Route, queued bool, err error) {
	now := r.now()
	route, err = r.Routes.FindRoute(ctx, in.From, in.To, now)
	if err != nil {
		if ErrorCode(err) == ENOTFOUND {
			return nil, false, nil
		}
		return nil, false, err
	}
	if !route.Mode.RoutesCalls() {
		// An sms-only conversation: to a caller it is not in service, and
		// its call is not recorded against it.
		return nil, false, nil
	}
	if in.UUID == "" {
		return route, false, nil
	}
	call := &Call{UUID: in.UUID, ConversationUUID: in.ConversationUUID, ConversationID: route.ConversationID,
		From: in.From, To: in.To, Status: "started", StartedAt: &now}
	q, ok := r.Calls.(CallQueue)
	if !ok {
		if err := r.Calls.CreateCall(ctx, call, now); err != nil {
			return nil, false, err
		}
		return route, false, nil
	}
	wait := r.RecordWait
	if wait <= 0 {
		wait = DefaultRecordWait
	}
	var later func(error)
	if f := r.RecordFailed; f != nil {
		later = func(err error) {
			if err != nil {
				f(call, err)
			}
		}
	}
	written, err := q.QueueCall(ctx, call, now, wait, later)
	if err != nil {
		return nil, false, err
	}
	return route, !written, nil
}

// RecordEvent stores a call event once. It reports false for events of
// calls maskcall did not route, which are dropped.
func (r *Router) RecordEvent(ctx context.Context, ev CallEvent) (bool, error) {
	if ev.UUID == "" && ev.ConversationUUID == "" {
		return false, Errorf(EINVALID, "The event has neither uuid nor conversation_uuid.")
	}
	if !IsCallStatus(ev.Status) {
		return false, Errorf(EINVALID, "Unknown call status %q.", ev.Status)
	}
	return r.Calls.RecordCallEvent(ctx, ev, r.now())
}

func (r *Router) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
