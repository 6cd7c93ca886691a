package maskcall

import (
	"context"
	"time"
)

// Call is an inbound call routed for a conversation, built up from the
// answer webhook and Vonage's event webhooks. The store keeps calls in a
// general interaction log so messages can join them later.
type Call struct {
	UUID string `json:"uuid"`
	// ConversationUUID is Vonage's id tying the inbound leg to the outbound
	// leg maskcall's connect creates; events of either leg carry it.
	ConversationUUID string     `json:"conversation_uuid"`
	ConversationID   string     `json:"conversation_id"`
	From             string     `json:"from"` // caller's real number
	To               string     `json:"to"`   // proxy number dialled
	Status           string     `json:"status"`
	Duration         int        `json:"duration"` // seconds, from the completed event
	StartedAt        *time.Time `json:"started_at"`
	EndedAt          *time.Time `json:"ended_at"`
}

// CallEvent is one Vonage event webhook.
type CallEvent struct {
	UUID             string
	ConversationUUID string
	// CallUUID is the UUID of the call whose connect action created this
	// event's leg: the outbound leg's events carry it in their URL
	// (?call=, see internal/webhook's NCCO), so the store finds their call
	// by its unique UUID instead of keeping an index on every call's
	// ConversationUUID. The signature does not cover a POST's URL, so a
	// store takes it only for a call whose ConversationUUID is the
	// event's (which is signed).
	CallUUID  string
	Status    string
	Direction string
	From, To  string
	Duration  int // seconds; completed events only
	Timestamp time.Time
	StartTime *time.Time
	EndTime   *time.Time
}

// FindEventCall is which call an event belongs to, with a store's two
// lookups, which return the call and its id, or nil when there is none:
// byUUID finds a call by its (inbound leg's) uuid, and byOlderConversation
// finds a call recorded before the connect's eventUrl named calls, by its
// conversation uuid. An inbound leg's event carries its call's uuid; an
// outbound leg's names its call (ev.CallUUID), which the signature does not
// cover, so the named call counts only if its ConversationUUID is the
// event's (signed); an event naming no call may be an outbound leg's of an
// older call.
func FindEventCall[ID any](ev CallEvent, byUUID, byOlderConversation func(string) (ID, *Call, error)) (ID, *Call, error) {
	var none ID
	if ev.UUID != "" {
		if id, c, err := byUUID(ev.UUID); c != nil || err != nil {
			return id, c, err
		}
	}
	if ev.ConversationUUID == "" {
		return none, nil, nil
	}
	if ev.CallUUID == "" {
		return byOlderConversation(ev.ConversationUUID)
	}
	id, c, err := byUUID(ev.CallUUID)
	if c == nil || err != nil || c.ConversationUUID != ev.ConversationUUID {
		return none, nil, err
	}
	return id, c, nil
}

// Call statuses Vonage reports. Terminal ones end a call.
var callStatusRank = map[string]int{
	"started":      1,
	"ringing":      2,
	"answered":     3,
	"machine":      3,
	"human":        3,
	"busy":         4,
	"cancelled":    4,
	"unanswered":   4,
	"disconnected": 4,
	"rejected":     4,
	"failed":       4,
	"timeout":      4,
	"completed":    5,
}

// IsCallStatus reports whether s is a status Vonage sends for a call.
func IsCallStatus(s string) bool {
	_, ok := callStatusRank[s]
	return ok
}

// IsTerminalCallStatus reports whether a call in status s is over.
func IsTerminalCallStatus(s string) bool { return callStatusRank[s] >= 4 }

// NextCallStatus returns the status a call in status cur moves to when an
// event with status ev arrives. Events can arrive out of order and twice
// (Vonage retries), so a call never moves backwards: a late "ringing" after
// "completed" leaves it completed.
func NextCallStatus(cur, ev string) string {
	if callStatusRank[ev] > callStatusRank[cur] {
		return ev
	}
	return cur
}

// CallStore records calls and their events.
type CallStore interface {
	// CreateCall records an inbound call routed for a conversation, at now.
	// Creating a call whose UUID exists changes nothing. EINVALID without
	// a UUID or conversation, ENOTFOUND if the conversation does not exist.
	CreateCall(ctx context.Context, c *Call, now time.Time) error
	// RecordCallEvent stores ev, received at now, once (a retried event,
	// with the same leg uuid, status and timestamp, is not stored twice)
	// and advances its call's status with NextCallStatus. An event belongs
	// to the call with its UUID or, for the outbound leg, to the call named
	// by its CallUUID when that call's ConversationUUID is the event's; an
	// outbound leg's event without a CallUUID (its call was connected by a
	// maskcall that did not name calls in the eventUrl) belongs to such an
	// older call with its ConversationUUID. It reports false, storing
	// nothing, if no call matches.
	RecordCallEvent(ctx context.Context, ev CallEvent, now time.Time) (bool, error)
	// FindCalls lists a conversation's calls, oldest first.
	FindCalls(ctx context.Context, conversationID string) ([]*Call, error)
	// FindActiveCalls lists a conversation's calls that are not over.
	FindActiveCalls(ctx context.Context, conversationID string) ([]*Call, error)
}

// Store is everything maskcall keeps. internal/sqlite implements it and
// internal/storetest is the behaviour every implementation must show.
//
// One clock: the domain passes now to every method that stamps or compares
// a time, and stores never read a clock of their own. A conversation's
// status, expiry, counters and every created_at/updated_at therefore agree
// with the caller's time, whichever process or replica wrote them, and
// tests control time by passing it.
//
// Allocation rules live in the domain (Allocate, Conversation.Validate,
// Conversation.SettleStatus); a store fetches, persists, and enforces the
// unique active key in its own transactions.
type Store interface {
	NumberStore
	ConversationStore
	RouteStore
	CallStore
}

// InsightAPI checks a phone number with Vonage before a conversation uses
// it. Numbers are always checked offline first; this is the online check.
type InsightAPI interface {
	// CheckNumber checks number (E.164) with the given insight. It returns
	// EINVALIDNUMBER when Vonage says the number is not valid, and another
	// code when Vonage could not say.
	CheckNumber(ctx context.Context, number string, kind InsightKind) (*Insight, error)
}

// Insight is what Vonage says of a valid number.
type Insight struct {
	Number  string // E.164 with '+'
	Country string // ISO alpha-2; "" if Vonage did not say
}

// SMSAPI sends text messages.
type SMSAPI interface {
	// SendSMS sends text from a pool number to a real number and returns
	// Vonage's message id.
	SendSMS(ctx context.Context, from, to, text string) (string, error)
}

// VoiceAPI controls calls in progress.
type VoiceAPI interface {
	// HangupCall ends the call uuid; ENOTFOUND if Vonage does not know it.
	HangupCall(ctx context.Context, uuid string) error
}
