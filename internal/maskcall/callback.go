package maskcall

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"net/url"
	"strings"
	"time"
)

// Callbacks to the platform. Everything that happens to a conversation is
// written, in the same transaction as the change, to an outbox of events;
// a worker (internal/worker) delivers them, signed, to the platform's URL
// at least once, retrying with backoff. The domain says what an event
// holds, which outcome is retried and when; stores persist and claim.

// Callback event types.
const (
	EventConversationCreated = "conversation.created"
	EventConversationEnded   = "conversation.ended"
	EventCallStarted         = "call.started"
	EventCallAnswered        = "call.answered"
	EventCallCompleted       = "call.completed"
	EventCallOutOfSession    = "call.out_of_session"
	EventMessageReceived     = "message.received"
	EventMessageRelayed      = "message.relayed"
	EventMessageFailed       = "message.failed"
	EventMessageBlocked      = "message.blocked"
)

// CallbackEventTypes lists every event type, in the order the README
// documents them.
var CallbackEventTypes = []string{
	EventConversationCreated, EventConversationEnded,
	EventCallStarted, EventCallAnswered, EventCallCompleted, EventCallOutOfSession,
	EventMessageReceived, EventMessageRelayed, EventMessageFailed, EventMessageBlocked,
}

// EndReasonReleased: the conversation ended because its proxy number was
// released from the pool.
const EndReasonReleased = "released"

// CallbackEvent is one event for the platform, as delivered: the JSON body
// of the callback request is exactly this (with numbers removed unless the
// deployment includes them, see Body).
type CallbackEvent struct {
	ID        string       `json:"id"`
	Type      string       `json:"type"`
	CreatedAt time.Time    `json:"created_at"`
	Data      CallbackData `json:"data"`
}

// CallbackData is what an event is about. The participant an event is
// about (the caller of a call, the sender of a text) is named by Label and
// Position (0 or 1), never by number unless numbers are included.
type CallbackData struct {
	ConversationID string `json:"conversation_id,omitempty"`
	Ref            string `json:"ref,omitempty"`
	Label          string `json:"label,omitempty"`
	Position       *int   `json:"position,omitempty"`
	// Number is that participant's real number: present only when the
	// deployment includes numbers.
	Number string `json:"number,omitempty"`
	// ProxyNumber is the pool number involved (dialled, texted).
	ProxyNumber string `json:"proxy_number,omitempty"`
	CallID      string `json:"call_id,omitempty"`
	MessageID   string `json:"message_id,omitempty"`
	// Status is a call's or message's status when the event happened.
	Status string `json:"status,omitempty"`
	// Duration of a completed call, seconds.
	Duration *int `json:"duration,omitempty"`
	// Reason: why a conversation ended (ended, expired, released) or a
	// message was not relayed.
	Reason       string                `json:"reason,omitempty"`
	Mode         ConversationMode      `json:"mode,omitempty"`
	ExpiresAt    *time.Time            `json:"expires_at,omitempty"`
	EndedAt      *time.Time            `json:"ended_at,omitempty"`
	Participants []CallbackParticipant `json:"participants,omitempty"`
}

// CallbackParticipant is a participant in a conversation.created event.
type CallbackParticipant struct {
	Position    int    `json:"position"`
	Label       string `json:"label"`
	ProxyNumber string `json:"proxy_number"`
	Number      string `json:"number,omitempty"` // only when numbers are included
}

// Body is the JSON body delivered for e. Real numbers are kept only with
// includeNumbers: the platform knows its users' numbers, and a callback
// URL that leaks (a log, a proxy) then leaks none.
func (e *CallbackEvent) Body(includeNumbers bool) ([]byte, error) {
	c := *e
	if !includeNumbers {
		c.Data.Number = ""
		if len(c.Data.Participants) > 0 {
			ps := make([]CallbackParticipant, len(c.Data.Participants))
			copy(ps, c.Data.Participants)
			for i := range ps {
				ps[i].Number = ""
			}
			c.Data.Participants = ps
		}
	}
	return json.Marshal(&c)
}

// NewCallbackEventID returns an event id: "evt_" and 26 base32 characters
// (128 random bits). It is the webhook-id the receiver dedupes on.
func NewCallbackEventID() string {
	var b [16]byte
	rand.Read(b[:])
	return "evt_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func newEvent(typ string, now time.Time, d CallbackData) *CallbackEvent {
	return &CallbackEvent{ID: NewCallbackEventID(), Type: typ, CreatedAt: now.UTC(), Data: d}
}

func intPtr(n int) *int { return &n }

// ConversationCreatedEvent is the event of c's creation at now.
func ConversationCreatedEvent(c *Conversation, now time.Time) *CallbackEvent {
	d := CallbackData{ConversationID: c.ID, Ref: c.Ref, Mode: c.Mode, ExpiresAt: c.ExpiresAt}
	for i, p := range c.Participants {
		d.Participants = append(d.Participants, CallbackParticipant{Position: i, Label: p.Label, ProxyNumber: p.ProxyNumber, Number: p.Number})
	}
	return newEvent(EventConversationCreated, now, d)
}

// ConversationEndedEvent is the event of conversation id (with ref) ending
// at endedAt for reason, recorded at now.
func ConversationEndedEvent(id, ref, reason string, endedAt, now time.Time) *CallbackEvent {
	at := endedAt.UTC()
	return newEvent(EventConversationEnded, now, CallbackData{ConversationID: id, Ref: ref, Reason: reason, EndedAt: &at})
}

// CallParty is the caller of a call as a store knows it: the participant
// whose number and proxy number the call came from and to.
type CallParty struct {
	Ref      string
	Position int
	Label    string
}

// CallStartedEvent is the event of call c being routed at now; p is its
// caller.
func CallStartedEvent(c *Call, p CallParty, now time.Time) *CallbackEvent {
	return newEvent(EventCallStarted, now, callData(c, p, c.Status))
}

func callData(c *Call, p CallParty, status string) CallbackData {
	d := CallbackData{ConversationID: c.ConversationID, Ref: p.Ref, Label: p.Label,
		Number: c.From, ProxyNumber: c.To, CallID: c.UUID, Status: status}
	if p.Position >= 0 {
		d.Position = intPtr(p.Position)
	}
	return d
}

// CallTransitionType is the event type, if any, of a call moving from
// status from to status to: call.answered when it is first answered,
// call.completed when it first reaches a terminal status; "" when the move
// reports nothing (no change, ringing, a second terminal status).
func CallTransitionType(from, to string) string {
	switch {
	case from == to:
		return ""
	case IsTerminalCallStatus(to) && !IsTerminalCallStatus(from):
		return EventCallCompleted
	case callStatusRank[to] == callStatusRank["answered"] && callStatusRank[from] < callStatusRank["answered"]:
		return EventCallAnswered
	}
	return ""
}

// CallTransitionEvent is the event, if any (CallTransitionType), of call
// c moving from status from to status to at now; p is its caller and
// duration, for call.completed, how long it lasted.
func CallTransitionEvent(c *Call, p CallParty, from, to string, duration int, now time.Time) *CallbackEvent {
	typ := CallTransitionType(from, to)
	if typ == "" {
		return nil
	}
	d := callData(c, p, to)
	if typ == EventCallCompleted {
		d.Duration = intPtr(duration)
	}
	return newEvent(typ, now, d)
}

// OutOfSessionCall is a call to a proxy number from a caller with no
// active conversation on it.
type OutOfSessionCall struct {
	UUID string
	From string // the caller's number, E.164
	To   string // the proxy number dialled
	// Action is what the caller heard: "not_in_service" or "forward".
	Action string
}

// OutOfSessionEvent is the event of call c at now.
func OutOfSessionEvent(c OutOfSessionCall, now time.Time) *CallbackEvent {
	return newEvent(EventCallOutOfSession, now, CallbackData{CallID: c.UUID, Number: c.From, ProxyNumber: c.To, Status: c.Action})
}

// MessageEvent is the event of message m reaching status (received,
// relayed, failed, blocked) at now; ref and label are its conversation's
// and sender's ("" when it matched none).
func MessageEvent(m *Message, ref, label string, now time.Time) *CallbackEvent {
	typ := ""
	switch m.Status {
	case MessageReceived:
		typ = EventMessageReceived
	case MessageRelayed:
		typ = EventMessageRelayed
	case MessageFailed, MessageUnknown:
		typ = EventMessageFailed
	case MessageBlocked:
		typ = EventMessageBlocked
	default:
		return nil
	}
	d := CallbackData{ConversationID: m.ConversationID, Ref: ref, Label: label, MessageID: m.ID,
		Number: m.From, ProxyNumber: m.To, Status: string(m.Status), Reason: m.Reason}
	if m.Sender >= 0 {
		d.Position = intPtr(m.Sender)
	}
	return newEvent(typ, now, d)
}

// Delivery.

// CallbackState is where an event's delivery is.
type CallbackState string

const (
	// CallbackPending: waiting for its next attempt (NextAttemptAt).
	CallbackPending CallbackState = "pending"
	// CallbackDelivering: claimed by a worker until its lease ends; one
	// whose lease ended belongs to a worker that stopped, and is claimed
	// again.
	CallbackDelivering CallbackState = "delivering"
	// CallbackDelivered: the receiver answered 2xx.
	CallbackDelivered CallbackState = "delivered"
	// CallbackFailed: given up (a 4xx other than 429, or retries ran out).
	CallbackFailed CallbackState = "failed"
)

// CallbackRetryWindow is how long an event is retried after it was
// created (or redelivered).
const CallbackRetryWindow = 24 * time.Hour

// Backoff between attempts: CallbackFirstRetry after the first failure,
// doubling up to CallbackMaxRetry, each delay randomised between half and
// all of it so receivers that come back are not hit by every sender at
// once.
const (
	CallbackFirstRetry = 5 * time.Second
	CallbackMaxRetry   = time.Hour
)

// Callback is an event in the outbox and the state of its delivery.
type Callback struct {
	Event CallbackEvent
	// URL is the conversation's own callback URL; "" means the
	// deployment's.
	URL           string
	State         CallbackState
	Attempts      int
	NextAttemptAt time.Time
	// RetryUntil is when retries stop: CallbackRetryWindow after the
	// event was created or last redelivered.
	RetryUntil  time.Time
	LastStatus  int // HTTP status of the last attempt; 0 if none answered
	LastError   string
	DeliveredAt *time.Time
	UpdatedAt   time.Time
}

// CallbackAttempt is what one delivery attempt got: the HTTP status (0
// when no response came: a timeout or network error) and an error text.
type CallbackAttempt struct {
	Status int
	Err    string
	// Permanent: the attempt could not be made and retrying will not
	// change that (no URL is configured).
	Permanent bool
}

// Retryable reports whether an attempt's failure is worth retrying:
// timeouts, network errors, 5xx and 429; not other 4xx (the receiver
// refused the event itself).
func (a CallbackAttempt) Retryable() bool {
	return !a.Permanent && (a.Status == 0 || a.Status == 429 || a.Status >= 500)
}

// OK reports whether the receiver took the event (2xx).
func (a CallbackAttempt) OK() bool { return a.Status >= 200 && a.Status < 300 }

// CallbackOutcome is what a store records after an attempt.
type CallbackOutcome struct {
	State         CallbackState // delivered, pending (retry) or failed
	NextAttemptAt time.Time     // for pending
	Status        int
	Error         string
}

// PlanCallback decides what follows attempt number attempts (1 for the
// first) of a callback retried until retryUntil, made at now. jitter in
// [0, 1) randomises the delay (pass rand.Float64()).
func PlanCallback(a CallbackAttempt, attempts int, retryUntil, now time.Time, jitter float64) CallbackOutcome {
	o := CallbackOutcome{Status: a.Status, Error: a.Err}
	switch {
	case a.OK():
		o.State, o.Error = CallbackDelivered, ""
		return o
	case !a.Retryable():
		o.State = CallbackFailed
		return o
	case !now.Before(retryUntil):
		o.State = CallbackFailed
		o.Error = strings.TrimSpace(o.Error + " (retries ran out)")
		return o
	}
	o.State = CallbackPending
	o.NextAttemptAt = now.Add(CallbackBackoff(attempts, jitter))
	if o.NextAttemptAt.After(retryUntil) {
		o.NextAttemptAt = retryUntil // one last try at the end of the window
	}
	return o
}

// CallbackBackoff is the delay after attempt number attempts failed:
// CallbackFirstRetry doubling up to CallbackMaxRetry, times a factor in
// [0.5, 1) from jitter.
func CallbackBackoff(attempts int, jitter float64) time.Duration {
	d := CallbackFirstRetry
	for i := 1; i < attempts && d < CallbackMaxRetry; i++ {
		d *= 2
	}
	d = min(d, CallbackMaxRetry)
	jitter = min(max(jitter, 0), 1)
	return time.Duration(float64(d) * (0.5 + jitter/2))
}

// ValidateCallbackURL checks u is an absolute http or https URL with a
// host; EINVALID if not.
func ValidateCallbackURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil {
		return (&Error{Code: EINVALID, Message: "The callback URL " + quote(u) + " is not an absolute http or https URL."}).
			WithReason("callback_url")
	}
	if len(u) > 2048 {
		return (&Error{Code: EINVALID, Message: "The callback URL is longer than 2048 characters."}).WithReason("callback_url")
	}
	return nil
}

// CallbackFilter selects callbacks; zero fields do not filter.
type CallbackFilter struct {
	State CallbackState
	// ConversationID selects one conversation's events.
	ConversationID string
	Limit          int // 0 for no limit
}

// CallbackStats summarises the outbox for metrics.
type CallbackStats struct {
	// Pending counts events not yet delivered nor given up (pending or
	// delivering).
	Pending int
	// OldestDue is when the longest-waiting pending event became due; nil
	// if none is due.
	OldestDue *time.Time
	Failed    int
}

// CallbackStore is the outbox. Events are written by the other stores'
// methods in the transaction of the change they report (CreateConversation,
// EndConversation, ExpireConversations, EndConversationsUsingNumber,
// CreateCall, RecordCallEvent, the message store's), but only while a
// target exists: the deployment has a callback URL (SetCallbackTarget) or
// the conversation has its own.
type CallbackStore interface {
	// SetCallbackTarget records whether the deployment has a callback URL
	// of its own, so every process writing to the store (serve, its
	// replicas, the CLI) writes events for conversations without one.
	SetCallbackTarget(ctx context.Context, global bool, now time.Time) error
	// RecordOutOfSessionCall writes the call.out_of_session event of c, at
	// now, when the deployment has a callback URL; a call uuid already
	// recorded writes nothing.
	RecordOutOfSessionCall(ctx context.Context, c OutOfSessionCall, now time.Time) error
	// ClaimCallbacks marks up to limit due events (pending and due by now,
	// or delivering with a lease ended by now) delivering until now+lease,
	// counting an attempt, and returns them. No event is handed to two
	// claimers whose leases overlap.
	ClaimCallbacks(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*Callback, error)
	// FinishCallback records the outcome of the attempt cb (as claimed)
	// made. It reports false, recording nothing, if the claim was lost (its
	// lease ended and another claimer took the event).
	FinishCallback(ctx context.Context, cb *Callback, o CallbackOutcome, now time.Time) (bool, error)
	// FindCallbacks lists events newest first.
	FindCallbacks(ctx context.Context, filter CallbackFilter) ([]*Callback, error)
	// RedeliverCallback makes a delivered or failed event due at now again,
	// retried for another CallbackRetryWindow. ENOTFOUND if absent,
	// ECONFLICT if it is still pending or being delivered.
	RedeliverCallback(ctx context.Context, id string, now time.Time) (*Callback, error)
	// CallbackStats summarises the outbox at now.
	CallbackStats(ctx context.Context, now time.Time) (*CallbackStats, error)
	// NextCallbackAt returns when the next pending event is due; nil if
	// none is pending.
	NextCallbackAt(ctx context.Context) (*time.Time, error)
	// OnCallback registers f, called (without blocking) after a
	// transaction of this process that wrote an event commits: the worker's
	// wake-up.
	OnCallback(f func())
}
