package maskcall

import (
	"context"
	"time"
)

// ConversationStatus is active while a conversation routes calls.
type ConversationStatus string

const (
	ConversationActive ConversationStatus = "active"
	ConversationEnded  ConversationStatus = "ended"
)

// Reasons a conversation ended.
const (
	EndReasonEnded   = "ended"   // ended on request
	EndReasonExpired = "expired" // its time to live ran out
)

// Conversation pairs two real numbers. Each participant is given a proxy
// number: the virtual number they dial to reach the other, and the caller ID
// they see when the other calls them.
type Conversation struct {
	ID           string             `json:"id"`
	Ref          string             `json:"ref"`
	Status       ConversationStatus `json:"status"`
	CreatedAt    time.Time          `json:"created_at"`
	ExpiresAt    *time.Time         `json:"expires_at"`
	EndedAt      *time.Time         `json:"ended_at"`
	EndReason    string             `json:"end_reason"`
	Participants []Participant      `json:"participants"`
}

// ActiveAt reports whether c routes calls at time t: active and not expired.
func (c *Conversation) ActiveAt(t time.Time) bool {
	return c.Status == ConversationActive && (c.ExpiresAt == nil || t.Before(*c.ExpiresAt))
}

// Participant is one side of a conversation.
type Participant struct {
	Number      string `json:"number"`       // real number, E.164 with '+'
	Country     string `json:"-"`            // ISO alpha-2 of Number
	ProxyNumber string `json:"proxy_number"` // pool number, E.164 with '+'
	Label       string `json:"label"`
}

// ConversationFilter selects conversations; nil fields do not filter.
type ConversationFilter struct {
	Status *ConversationStatus
	Ref    *string
	// Participant selects conversations one of whose participants has this
	// real number (E.164).
	Participant *string
	Limit       int // 0 for no limit
}

// ProxyCandidate is a pool number that could serve a participant.
type ProxyCandidate struct {
	Number  string
	Country string
	// ActiveUses is how many active conversations use the number already.
	ActiveUses int
	// Sticky marks the proxy this participant had the last time they were
	// paired with the same other number.
	Sticky bool
}

// ChooseProxy picks a proxy number for a participant from candidates that are
// all free for them: first the sticky one (saved contacts keep working), then
// one in the participant's own country (a local number to dial), then the
// least used; ties go to the lowest number, so allocation is deterministic.
func ChooseProxy(country string, candidates []ProxyCandidate) (ProxyCandidate, bool) {
	var best ProxyCandidate
	found := false
	for _, c := range candidates {
		if !found || proxyBetter(country, c, best) {
			best, found = c, true
		}
	}
	return best, found
}

func proxyBetter(country string, a, b ProxyCandidate) bool {
	if a.Sticky != b.Sticky {
		return a.Sticky
	}
	if aLocal, bLocal := a.Country == country, b.Country == country; aLocal != bLocal {
		return aLocal
	}
	if a.ActiveUses != b.ActiveUses {
		return a.ActiveUses < b.ActiveUses
	}
	return a.Number < b.Number
}

// ExhaustedError is returned when no pool number is free for a participant.
type ExhaustedError struct {
	Participant Participant
}

// ConversationStore keeps conversations, their participants and their calls.
type ConversationStore interface {
	// CreateConversation allocates a proxy number for each participant with
	// ChooseProxy and stores c, in one transaction guarded by a unique index
	// on (number, proxy_number) among active conversations. It first ends
	// conversations that expired by now. It fills c's proxy numbers, ID if
	// empty, Status and CreatedAt. EEXHAUSTED (wrapping *ExhaustedError) if a
	// participant has no free proxy number.
	CreateConversation(ctx context.Context, c *Conversation, now time.Time) error
	// FindConversationByID returns a conversation; ENOTFOUND if none.
	FindConversationByID(ctx context.Context, id string) (*Conversation, error)
	// FindConversations lists conversations, newest first.
	FindConversations(ctx context.Context, filter ConversationFilter) ([]*Conversation, error)
	// EndConversation marks an active conversation ended with reason at now
	// and frees its proxy keys. Ending an ended one changes nothing.
	// ENOTFOUND if absent.
	EndConversation(ctx context.Context, id, reason string, now time.Time) (*Conversation, error)
	// EndConversationsUsingNumber ends, with reason, every active
	// conversation using proxy as a participant's proxy number, and returns
	// their ids.
	EndConversationsUsingNumber(ctx context.Context, proxy, reason string, now time.Time) ([]string, error)
	// ExpireConversations ends, with reason expired, every active
	// conversation whose expiry is at or before now; it returns how many.
	ExpireConversations(ctx context.Context, now time.Time) (int, error)
	// PurgeConversations deletes ended conversations that ended before t,
	// with their participants and calls; it returns how many.
	PurgeConversations(ctx context.Context, before time.Time) (int, error)
}

// Route is what an inbound call from Caller.Number to Caller.ProxyNumber
// resolves to: connect to Callee.Number showing Callee.ProxyNumber.
type Route struct {
	ConversationID string
	Caller         Participant
	Callee         Participant
}

// RouteStore answers the webhook's one question.
type RouteStore interface {
	// FindRoute returns the route of the conversation, active at now, whose
	// participant has number from and proxy number to; ENOTFOUND if none.
	// It is one indexed lookup.
	FindRoute(ctx context.Context, from, to string, now time.Time) (*Route, error)
}

func (e *ExhaustedError) Error() string {
	return "no pool number is free for " + MaskNumber(e.Participant.Number)
}
