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
}

// InboundCall is the answer webhook's question: a call from a real number
// to a proxy number.
type InboundCall struct {
	UUID             string
	ConversationUUID string
	From, To         string // E.164 with '+'
}

// Answer returns the route for an inbound call and records the call against
// its conversation, or nil if the call belongs to no active conversation (a
// stranger, or a conversation that ended or expired).
func (r *Router) Answer(ctx context.Context, in InboundCall) (*Route, error) {
	now := time.Now()
	if r.Now != nil {
		now = r.Now()
	}
	route, err := r.Routes.FindRoute(ctx, in.From, in.To, now)
	if err != nil {
		if ErrorCode(err) == ENOTFOUND {
			return nil, nil
		}
		return nil, err
	}
	if in.UUID != "" {
		call := &Call{UUID: in.UUID, ConversationUUID: in.ConversationUUID, ConversationID: route.ConversationID,
			From: in.From, To: in.To, Status: "started", StartedAt: &now}
		if err := r.Calls.CreateCall(ctx, call); err != nil {
			return nil, err
		}
	}
	return route, nil
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
	return r.Calls.RecordCallEvent(ctx, ev)
}
