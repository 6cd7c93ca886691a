package maskcall

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"
	"unicode"
)

// Private SMS relay. A participant texts the proxy number they were given;
// the text goes to the other participant's real number from the other
// participant's proxy, exactly like a call (see Route). Every inbound part
// is recorded, unique by Vonage's message id, together with the job that
// will relay it, before Vonage is told it arrived; a worker sends the job
// later (RelayWorker in internal/worker).

// ConversationMode says how the participants of a conversation may reach
// each other through their proxy numbers.
type ConversationMode string

const (
	ModeVoice       ConversationMode = "voice"
	ModeSMS         ConversationMode = "sms"
	ModeVoiceAndSMS ConversationMode = "voice-and-sms"
)

// ParseConversationMode accepts voice, sms and voice-and-sms (any case).
func ParseConversationMode(s string) (ConversationMode, error) {
	switch m := ConversationMode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeVoice, ModeSMS, ModeVoiceAndSMS:
		return m, nil
	}
	return "", &Error{Code: EINVALID, Reason: "mode",
		Message: "A conversation's mode is voice, sms or voice-and-sms, not " + quote(s) + "."}
}

// RelaysSMS reports whether texts are relayed in mode m. The empty mode
// (a conversation recorded before modes existed) is voice-and-sms.
func (m ConversationMode) RelaysSMS() bool { return m != ModeVoice }

// RoutesCalls reports whether calls are connected in mode m.
func (m ConversationMode) RoutesCalls() bool { return m != ModeSMS }

// NeedsSMS reports whether a conversation in mode m needs proxy numbers
// that can send and receive SMS.
func (m ConversationMode) NeedsSMS() bool { return m == ModeSMS || m == ModeVoiceAndSMS }

func quote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return `"` + s + `"`
}

// MessageStatus is where a message is in its life.
type MessageStatus string

const (
	// MessageReceived: recorded and queued; waiting to be relayed, or for
	// the rest of its parts.
	MessageReceived MessageStatus = "received"
	// MessageRelayed: Vonage accepted the relayed text.
	MessageRelayed MessageStatus = "relayed"
	// MessageFailed: the relay was refused, or failed after its retries.
	MessageFailed MessageStatus = "failed"
	// MessageBlocked: deliberately not relayed (see the Block* reasons).
	MessageBlocked MessageStatus = "blocked"
	// MessageUnknown: whether Vonage took the relay is not known (the
	// process stopped while sending it, or the send timed out or got an
	// unclear reply after the request went out). It is never sent again:
	// a possible double text is worse than a possible lost one.
	MessageUnknown MessageStatus = "unknown"
)

// Why a message was not relayed (Message.Reason for MessageBlocked).
const (
	BlockNoConversation = "no_conversation" // a stranger, or an ended or expired conversation
	BlockOptOut         = "opt_out"         // STOP and friends
	BlockVoiceOnly      = "voice_only"      // the conversation does not relay texts
)

// Message is an inbound text and what became of it. Sender is the position
// (0 or 1) of the participant who sent it, -1 when it matched no
// conversation. Text is kept only when the deployment stores texts.
type Message struct {
	ID             string        `json:"id"`
	ConversationID string        `json:"conversation_id"`
	Sender         int           `json:"sender"`
	From           string        `json:"from"` // the sender's real number
	To             string        `json:"to"`   // the proxy number it was sent to
	Parts          int           `json:"parts"`
	PartsTotal     int           `json:"parts_total"`
	Incomplete     bool          `json:"incomplete"`
	Status         MessageStatus `json:"status"`
	Reason         string        `json:"reason,omitempty"`
	Attempts       int           `json:"attempts"`
	Error          string        `json:"error,omitempty"`
	Text           *string       `json:"text,omitempty"`
	ReceivedAt     time.Time     `json:"received_at"`
	RelayedAt      *time.Time    `json:"relayed_at"`
}

// InboundSMS is one part of a text as Vonage delivers it. ConcatTotal is 0
// or 1 for a single-part text.
type InboundSMS struct {
	MessageID   string
	From        string // the sender, E.164 with '+'
	To          string // the proxy number, E.164 with '+'
	Text        string
	ConcatRef   string
	ConcatTotal int
	ConcatPart  int
}

// MaxConcatParts bounds a long text; GSM allows 255.
const MaxConcatParts = 255

// Validate checks what the store relies on.
func (in *InboundSMS) Validate() error {
	switch {
	case in.MessageID == "" || len(in.MessageID) > 100:
		return Errorf(EINVALID, "An inbound message needs a message id of at most 100 characters.")
	case in.From == "" || in.To == "":
		return Errorf(EINVALID, "An inbound message needs a sender and a recipient.")
	case in.ConcatTotal < 0 || in.ConcatTotal > MaxConcatParts:
		return Errorf(EINVALID, "A long message has 1 to %d parts.", MaxConcatParts)
	case in.ConcatTotal > 1 && (in.ConcatRef == "" || in.ConcatPart < 1 || in.ConcatPart > in.ConcatTotal):
		return Errorf(EINVALID, "A message part needs its reference and a part number between 1 and its total.")
	}
	return nil
}

// Concatenated reports whether in is one part of a longer text.
func (in *InboundSMS) Concatenated() bool { return in.ConcatTotal > 1 }

// optOutWords are the words carriers and regulators treat as "stop texting
// me". Alone in a message they are recorded and never relayed: the other
// participant did not ask to be unsubscribed from anything.
var optOutWords = map[string]bool{"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "CANCEL": true, "END": true, "QUIT": true}

// IsOptOut reports whether text is an opt-out word alone, in any case,
// surrounding spaces and a final full stop or exclamation mark allowed.
func IsOptOut(text string) bool {
	w := strings.TrimFunc(text, func(r rune) bool { return unicode.IsSpace(r) || r == '.' || r == '!' })
	return optOutWords[strings.ToUpper(w)]
}

// InboundDecision is what to do with a text.
type InboundDecision struct {
	Relay  bool
	Status MessageStatus // MessageReceived when relayed, else MessageBlocked
	Reason string
	// AutoReply: the sender gets the not-in-service reply (if one is
	// configured, and at most once a day).
	AutoReply bool
}

// DecideInbound decides the fate of a text from its route (nil when the
// sender and the proxy match no active conversation), the conversation's
// mode, and its first part's text (an opt-out word is a single part).
func DecideInbound(route *Route, mode ConversationMode, text string, concatenated bool) InboundDecision {
	switch {
	case route == nil:
		return InboundDecision{Status: MessageBlocked, Reason: BlockNoConversation, AutoReply: true}
	case !mode.RelaysSMS():
		return InboundDecision{Status: MessageBlocked, Reason: BlockVoiceOnly}
	case !concatenated && IsOptOut(text):
		return InboundDecision{Status: MessageBlocked, Reason: BlockOptOut}
	}
	return InboundDecision{Relay: true, Status: MessageReceived}
}

// MessagePart is a part of a long text as stored.
type MessagePart struct {
	Part int
	Text string
}

// AssembleParts joins the parts of a text in order (they arrive in any
// order; a part delivered twice counts once) and reports whether any of
// total is missing.
func AssembleParts(parts []MessagePart, total int) (text string, incomplete bool) {
	ps := append([]MessagePart(nil), parts...)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Part < ps[j].Part })
	var b strings.Builder
	seen := 0
	for i, p := range ps {
		if i > 0 && p.Part == ps[i-1].Part {
			continue
		}
		seen++
		b.WriteString(p.Text)
	}
	return b.String(), seen < max(total, 1)
}

// DefaultConcatWait is how long the relay of a long text waits for missing
// parts before relaying what arrived, marked incomplete.
const DefaultConcatWait = 2 * time.Minute

// RelayKind says what a relay job sends.
type RelayKind string

const (
	RelayText      RelayKind = "relay"      // the text, to the other participant
	RelayAutoReply RelayKind = "auto_reply" // the not-in-service reply, to a stranger
)

// RelayJob is a queued send claimed by a worker. From is the proxy number
// to send from and To the real number to send to. Text is filled for
// RelayText jobs; AutoReply jobs take the configured reply.
type RelayJob struct {
	ID         int64
	MessageID  string
	Kind       RelayKind
	From, To   string
	Text       string
	Incomplete bool
	Attempts   int // including the one being made
}

// RelayOutcome is the result of one send attempt.
type RelayOutcome struct {
	// Sent: Vonage accepted the text; VonageID is its message id.
	Sent     bool
	VonageID string
	// Unknown: the text may have been sent (the request went out and no
	// clear answer came back). The job is settled MessageUnknown and
	// never sent again.
	Unknown bool
	// Retry: the text was certainly not sent and the failure was
	// transient; try again at RetryAt. Otherwise (not Sent, not Unknown)
	// the job has failed for good.
	Retry   bool
	RetryAt time.Time
	// Error says why the attempt failed, for the record (no text, no full
	// number).
	Error string
}

// ErrNotSent marks an SMSAPI failure after which the text was certainly
// not sent: the request never reached Vonage (no connection was made), or
// Vonage answered that it sent no part of it. Only such failures may be
// retried; after any other the recipient may have the text already.
var ErrNotSent = errors.New("the text was not sent")

// DefaultRelayAttempts is how many times a relay is tried before it fails.
const DefaultRelayAttempts = 8

// RelayBackoff is the wait after failed attempt n (1-based): 2 s doubling
// to at most 5 min, so the default attempts span about ten minutes.
func RelayBackoff(n int) time.Duration {
	d := 2 * time.Second
	for i := 1; i < n && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// InboundPolicy is the deployment's choices for RecordInboundSMS.
type InboundPolicy struct {
	// StoreText keeps texts after they are relayed (and of blocked texts);
	// otherwise a text is kept only until it is relayed.
	StoreText bool
	// AutoReply queues the not-in-service reply for a stranger, at most once
	// per sender per UTC day.
	AutoReply bool
	// ConcatWait is how long a long text waits for its missing parts; 0
	// means DefaultConcatWait.
	ConcatWait time.Duration
}

// InboundResult is what RecordInboundSMS did.
type InboundResult struct {
	Message *Message
	// Duplicate: this part was recorded before (Vonage resent it); nothing
	// changed.
	Duplicate bool
}

// MessageStore keeps messages and the relay queue.
type MessageStore interface {
	// RecordInboundSMS records a part, unique by in.MessageID, routes it
	// with DecideInbound and, in the same transaction, queues its relay
	// (or the auto-reply). A part seen before changes nothing (Duplicate).
	// Parts of a long text (same sender, proxy and reference) join one
	// Message whose relay is due when the last part arrives, or
	// ConcatWait after the first.
	RecordInboundSMS(ctx context.Context, in *InboundSMS, p InboundPolicy, now time.Time) (*InboundResult, error)
	// ClaimRelayJobs marks up to limit due jobs as being sent (their
	// attempt counted) and returns them, texts assembled. A job a crashed
	// process left being sent longer than lease is settled as
	// MessageUnknown and never returned.
	ClaimRelayJobs(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*RelayJob, error)
	// FinishRelayJob records the outcome of a claimed job. Once a job is
	// settled, the text is dropped unless kept by policy.
	FinishRelayJob(ctx context.Context, job *RelayJob, o RelayOutcome, maxAttempts int, now time.Time) error
	// NextRelayAt is when the earliest pending job is due; nil if none.
	NextRelayAt(ctx context.Context) (*time.Time, error)
	// FindMessages lists a conversation's messages, oldest first.
	FindMessages(ctx context.Context, conversationID string) ([]*Message, error)
	// PurgeMessages deletes messages that matched no conversation and were
	// received before t (a conversation's messages go with it); it returns
	// how many.
	PurgeMessages(ctx context.Context, before time.Time) (int, error)
}

// MaxConcatWait bounds ConcatWait: Vonage stops resending after a day, but
// a text held longer than this is no longer a conversation.
const MaxConcatWait = time.Hour
