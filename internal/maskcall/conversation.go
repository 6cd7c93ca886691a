package maskcall

import (
	"context"
	"encoding/base64"
	"strings"
	"time"
)

// ConversationStatus is where a conversation is in its life.
type ConversationStatus string

const (
	// ConversationActive: it routes calls.
	ConversationActive ConversationStatus = "active"
	// ConversationExpired: its time to live ran out and it no longer
	// routes calls, but no sweep has recorded it as ended yet. It keeps
	// its proxy keys until then, but counts nowhere as active.
	ConversationExpired ConversationStatus = "expired"
	// ConversationEnded: it was ended on request, or its expiry was
	// recorded by a sweep (EndReason says which).
	ConversationEnded ConversationStatus = "ended"
)

// Valid reports whether s is one of the known statuses.
func (s ConversationStatus) Valid() bool {
	switch s {
	case ConversationActive, ConversationExpired, ConversationEnded:
		return true
	}
	return false
}

// Reasons a conversation ended.
const (
	EndReasonEnded   = "ended"   // ended on request
	EndReasonExpired = "expired" // its time to live ran out
)

// Conversation pairs two real numbers. Each participant is given a proxy
// number: the virtual number they dial to reach the other, and the caller ID
// they see when the other calls them.
type Conversation struct {
	ID        string             `json:"id"`
	Ref       string             `json:"ref"`
	Status    ConversationStatus `json:"status"`
	CreatedAt time.Time          `json:"created_at"`
	ExpiresAt *time.Time         `json:"expires_at"`
	EndedAt   *time.Time         `json:"ended_at"`
	EndReason string             `json:"end_reason"`
	// Mode is how the participants reach each other (voice, sms or
	// voice-and-sms).
	Mode         ConversationMode `json:"mode"`
	Participants []Participant    `json:"participants"`
	// CallbackURL is where this conversation's callbacks go instead of
	// the deployment's callbacks.url; "" for that one.
	CallbackURL string `json:"callback_url,omitempty"`
}

// ActiveAt reports whether c routes calls at time t: active and not expired.
func (c *Conversation) ActiveAt(t time.Time) bool {
	return c.Status == ConversationActive && (c.ExpiresAt == nil || t.Before(*c.ExpiresAt))
}

// SettleStatus gives c, as stored, the status it has at now: the one
// place that decides whether a conversation is active, expired or ended.
// A stored active conversation whose expiry is at or before now is
// expired, and shows the end its sweep will record (EndedAt its expiry,
// EndReason expired). Every store applies it to the conversations it
// returns, and filters by status with the same rule.
func (c *Conversation) SettleStatus(now time.Time) {
	if c.Status == ConversationActive && !c.ActiveAt(now) {
		c.Status = ConversationExpired
		exp := *c.ExpiresAt
		c.EndedAt, c.EndReason = &exp, EndReasonExpired
	}
}

// Participant is one side of a conversation.
type Participant struct {
	Number      string `json:"number"`       // real number, E.164 with '+'
	Country     string `json:"-"`            // ISO alpha-2 of Number
	ProxyNumber string `json:"proxy_number"` // pool number, E.164 with '+'
	Label       string `json:"label"`
}

// MinConnectableDigits is the fewest digits (country code included) a
// number may have for Vonage to connect a call to it: the NCCO schema's
// phone endpoint takes 10 to 15.
const MinConnectableDigits = 10

// Validate checks c can be created at now: two participants with
// different numbers Vonage can connect, and an expiry, if any, after now.
// It is the one validation of a new conversation; the service calls it
// before anything else and every store again before it allocates.
// EINVALID if not.
func (c *Conversation) Validate(now time.Time) error {
	if len(c.Participants) != 2 {
		return Errorf(EINVALID, "A conversation needs exactly two participants, got %d.", len(c.Participants))
	}
	a, b := c.Participants[0], c.Participants[1]
	if a.Number == "" || b.Number == "" {
		return Errorf(EINVALID, "A conversation needs two phone numbers.")
	}
	if a.Number == b.Number {
		return Errorf(EINVALID, "Both participants have the number %s; a conversation needs two different numbers.", MaskNumber(a.Number))
	}
	for _, p := range c.Participants {
		if n := len(strings.TrimPrefix(p.Number, "+")); n < MinConnectableDigits {
			return Errorf(EINVALID, "%s (%s) has %d digits; Vonage connects calls only to numbers of %d to 15 digits.",
				MaskNumber(p.Number), labelOr(p, "participant"), n, MinConnectableDigits)
		}
	}
	if c.CallbackURL != "" {
		if err := ValidateCallbackURL(c.CallbackURL); err != nil {
			return err
		}
	}
	if c.ExpiresAt != nil && !c.ExpiresAt.After(now) {
		return Errorf(EINVALID, "The conversation would expire at %s, which is not after its creation.",
			c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return nil
}

// ConversationFilter selects conversations; nil fields do not filter.
type ConversationFilter struct {
	// Status is the status at the time the store is asked for
	// (SettleStatus): active excludes conversations past their expiry,
	// expired selects exactly those.
	Status *ConversationStatus
	Ref    *string
	// Participant selects conversations one of whose participants has this
	// real number (E.164).
	Participant *string
	// After is a cursor (a previous page's NextCursor): the page starts
	// with the conversation after it. "" starts with the newest.
	After string
	Limit int // 0 for no limit
	// CountRemaining asks for ConversationPage.Remaining, which costs a
	// count of the matches after the page.
	CountRemaining bool
}

// ConversationPage is one page of a conversation listing.
type ConversationPage struct {
	// Conversations are newest first (ties by ID, descending).
	Conversations []*Conversation
	// NextCursor is the After of the next page; "" if this page is the
	// last.
	NextCursor string
	// Remaining is how many conversations match the filter after this
	// page; set only if the filter asked for it.
	Remaining int
}

// ConversationCursor is the cursor that lists conversations after c: the
// position of c in the listing order (created_at, then id, both
// descending), which does not move as conversations are added or end.
func ConversationCursor(c *Conversation) string {
	raw := c.CreatedAt.UTC().Format(time.RFC3339Nano) + " " + c.ID
	return cursorPrefix + base64.RawURLEncoding.EncodeToString([]byte(raw))
}

const cursorPrefix = "c1."

// ParseConversationCursor returns the creation time and id a cursor from
// ConversationCursor points at; EINVALID if s is not such a cursor.
func ParseConversationCursor(s string) (time.Time, string, error) {
	bad := Errorf(EINVALID, "%q is not a conversation list cursor; use the next cursor a listing printed.", s)
	if !strings.HasPrefix(s, cursorPrefix) {
		return time.Time{}, "", bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(s, cursorPrefix))
	if err != nil {
		return time.Time{}, "", bad
	}
	at, id, ok := strings.Cut(string(raw), " ")
	if !ok || id == "" {
		return time.Time{}, "", bad
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return time.Time{}, "", bad
	}
	return t.UTC(), id, nil
}

// ConversationStore keeps conversations, their participants and their calls.
type ConversationStore interface {
	// CreateConversation validates c (Validate), ends the conversations
	// that expired by now, and allocates a proxy number for each
	// participant with Allocate, then stores c, all in one transaction
	// guarded by a unique key on (number, proxy_number) among active
	// conversations. needs are the features the proxies must have besides
	// VOICE (SMS when the conversation texts). It fills c's proxy numbers,
	// ID if empty, Status and CreatedAt (now). A proxy serving both
	// participants counts once in its Number.ActiveConversations. Errors:
	// EINVALID, EINVALIDNUMBER (a participant is a pool number), ECONFLICT
	// if c.ID exists, EEXHAUSTED (wrapping *ExhaustedError) if a
	// participant has no free proxy number.
	CreateConversation(ctx context.Context, c *Conversation, needs []string, now time.Time) error
	// FindConversationByID returns a conversation with its status at now
	// (SettleStatus); ENOTFOUND if none.
	FindConversationByID(ctx context.Context, id string, now time.Time) (*Conversation, error)
	// FindConversations lists conversations newest first (ties by ID,
	// descending), with their status at now, one page at a time. EINVALID
	// if filter.After is not a cursor.
	FindConversations(ctx context.Context, filter ConversationFilter, now time.Time) (*ConversationPage, error)
	// EndConversation ends an active conversation with reason at now and
	// frees its proxy keys; one that had expired by now is recorded as
	// expired at its expiry instead. Ending an ended one changes nothing.
	// ENOTFOUND if absent.
	EndConversation(ctx context.Context, id, reason string, now time.Time) (*Conversation, error)
	// EndConversationsUsingNumber ends, with reason, every active
	// conversation using proxy as a participant's proxy number, and returns
	// their ids.
	EndConversationsUsingNumber(ctx context.Context, proxy, reason string, now time.Time) ([]string, error)
	// ExpireConversations ends, with reason expired, every active
	// conversation whose expiry is at or before now; their EndedAt is their
	// expiry. It returns how many.
	ExpireConversations(ctx context.Context, now time.Time) (int, error)
	// PurgeConversations deletes ended conversations that ended before
	// before, with their participants, calls and the sticky pairings they
	// last set; it returns how many. Active conversations, expired or not,
	// are kept.
	PurgeConversations(ctx context.Context, before time.Time) (int, error)
}

// Route is what an inbound call from Caller.Number to Caller.ProxyNumber
// resolves to: connect to Callee.Number showing Callee.ProxyNumber. Mode is
// the conversation's: the Router connects calls only for modes that route
// them (a route of an sms conversation is no route for a call).
type Route struct {
	ConversationID string
	Mode           ConversationMode
	Caller         Participant
	Callee         Participant
}

// RouteStore answers the webhook's one question.
type RouteStore interface {
	// FindRoute returns the route of the conversation, active at now, whose
	// participant has number from and proxy number to, with the
	// conversation's mode; ENOTFOUND if none. It is one indexed lookup.
	FindRoute(ctx context.Context, from, to string, now time.Time) (*Route, error)
}
