package maskcall

import (
	"context"
	"errors"
	"strings"
	"time"
)

// DefaultSMSTemplate is the text each participant gets from their proxy
// number; {label} is the other participant's label, {ref} the reference.
const DefaultSMSTemplate = "Call this number to reach {label}."

// ConversationService creates, notifies and ends conversations.
type ConversationService struct {
	Store   Store
	Pool    *NumberPool // for auto-provisioning; may be nil
	Insight InsightAPI  // nil: no online check of numbers
	SMS     SMSAPI      // nil: no notification
	Voice   VoiceAPI    // nil: calls cannot be hung up
	// SMSTemplate is the notification text; "" for DefaultSMSTemplate.
	SMSTemplate string
	Now         func() time.Time
}

func (s *ConversationService) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// CreateRequest describes a conversation to create. Participant numbers
// must already be normalised to E.164 with their country set.
type CreateRequest struct {
	A, B          Participant
	Ref           string
	TTL           time.Duration // 0: never expires
	Insight       InsightKind   // online check of both numbers; InsightNone for none
	Notify        bool          // text each participant their proxy number
	AutoProvision bool          // rent a number when the pool has none free
	// Mode is how the participants reach each other. Empty: voice-and-sms
	// when proxies that can text are free, else voice.
	Mode ConversationMode
	// CallbackURL is where the conversation's callbacks go instead of the
	// deployment's ("" for that one).
	CallbackURL string
}

// CreateResult is a created conversation and what happened around it.
type CreateResult struct {
	Conversation *Conversation
	// Existing is set when Conversation is not new: the pair already had an
	// active conversation with the request's (non-empty) Ref, which is
	// returned as it is, so a retried request creates nothing twice.
	Existing bool
	// SamePair lists the ids of other active conversations of the same
	// pair (with another or no Ref): the new one was created beside them,
	// with other proxy numbers.
	SamePair []string
	// Provisioned lists numbers rented on the spot for this conversation.
	Provisioned []*Number
	// Notifications is one entry per participant when Notify was set.
	Notifications []Notification
}

// Notification is the outcome of texting one participant.
type Notification struct {
	Participant Participant
	MessageID   string
	Err         error
}

// Create validates, allocates and stores a conversation, then notifies the
// participants. A failed notification does not undo the conversation; it is
// reported in the result, and Notify sends again.
func (s *ConversationService) Create(ctx context.Context, req CreateRequest) (*CreateResult, error) {
	if err := (&Conversation{Participants: []Participant{req.A, req.B}, CallbackURL: req.CallbackURL}).Validate(s.now()); err != nil {
		return nil, err
	}
	if err := s.checkRequest(&req); err != nil {
		return nil, err
	}
	existing, samePair, err := s.findPair(ctx, req)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return &CreateResult{Conversation: existing, Existing: true}, nil
	}
	if req.Insight != InsightNone {
		if err := s.checkInsight(ctx, req.Insight, &req.A, &req.B); err != nil {
			return nil, err
		}
	}

	// A conversation that texts its participants needs proxies that can.
	// So does one that relays texts.
	mode, defaultMode := req.Mode, req.Mode == ""
	if defaultMode {
		mode = ModeVoiceAndSMS
	}
	var needs []string
	if req.Notify || mode.NeedsSMS() {
		needs = []string{FeatureSMS}
	}
	res := &CreateResult{SamePair: samePair}
	for attempt := 0; ; attempt++ {
		now := s.now()
		c := &Conversation{Ref: req.Ref, Mode: mode, CallbackURL: req.CallbackURL, Participants: []Participant{req.A, req.B}}
		if req.TTL > 0 {
			exp := now.Add(req.TTL)
			c.ExpiresAt = &exp
		}
		err := s.Store.CreateConversation(ctx, c, needs, now)
		if err == nil {
			res.Conversation = c
			break
		}
		var ex *ExhaustedError
		if !errors.As(err, &ex) {
			return nil, err
		}
		if defaultMode && !req.Notify && mode == ModeVoiceAndSMS {
			// No free proxy can text: by default the conversation is then
			// voice only rather than refused.
			mode, needs = ModeVoice, nil
			attempt--
			continue
		}
		who := labelOr(ex.Participant, "participant")
		// Non-geographic numbers (satellite, global freephone) have no
		// country to rent a local number in.
		country := ex.Participant.Country
		if country == "" {
			country = "no country"
		}
		if !req.AutoProvision || s.Pool == nil || attempt >= 2 || ex.Participant.Country == "" {
			// Reason says whether renting on the spot was tried, so the
			// edge does not suggest it again.
			reason := ""
			if req.AutoProvision {
				reason = "provision_tried"
			}
			// Say what is missing when the conversation needs more than
			// VOICE: the pool may have free numbers that cannot text.
			with := ""
			if len(ex.Features) > 1 {
				with = " with " + strings.Join(ex.Features[1:], " and ")
			}
			return nil, (&Error{Code: EEXHAUSTED, Err: err,
				Message: "No pool number" + with + " is free for " + who + " (" + MaskNumber(ex.Participant.Number) + ", " + country + ")."}).
				WithReason(reason, "country", ex.Participant.Country)
		}
		got, perr := s.Pool.Provision(ctx, NumberSearch{Country: ex.Participant.Country, Features: ex.Features}, 1, RentOptions{Configure: true})
		res.Provisioned = append(res.Provisioned, got...)
		if perr != nil {
			return nil, wrapError(perr, "No pool number was free for "+who+" and renting one failed:", "")
		}
	}

	if req.Notify {
		res.Notifications = s.notify(ctx, res.Conversation)
	}
	return res, nil
}

// checkInsight checks each participant's number with Vonage. A number
// Vonage calls invalid is refused; when Vonage cannot say, nothing is
// created either, since the check was asked for. The country Vonage gives
// replaces the offline one.
func (s *ConversationService) checkInsight(ctx context.Context, kind InsightKind, parts ...*Participant) error {
	if s.Insight == nil {
		return Errorf(ECONFIG, "Numbers cannot be checked with %s: it is not configured.", kind.Service())
	}
	for _, p := range parts {
		ins, err := s.Insight.CheckNumber(ctx, p.Number, kind)
		if err != nil {
			who := MaskNumber(p.Number) + " (" + labelOr(*p, "participant") + ")"
			if code := ErrorCode(err); code == EINVALID || code == EINVALIDNUMBER {
				return &Error{Code: EINVALIDNUMBER, Err: err,
					Message: kind.Service() + " says " + who + " is not a valid number, so nothing was created."}
			}
			// The adapter's reason (the application's key was refused, say)
			// says more than insight_failed, so it is kept.
			reason := "insight_failed"
			if ErrorReason(err) != "" {
				reason = ""
			}
			return wrapError(err, kind.Service()+" could not check "+who+", so nothing was created:", reason)
		}
		if ins != nil && ins.Country != "" {
			p.Country = ins.Country
		}
	}
	return nil
}

// Notify texts each participant of an active conversation the number to
// call.
func (s *ConversationService) Notify(ctx context.Context, id string) ([]Notification, error) {
	now := s.now()
	c, err := s.Store.FindConversationByID(ctx, id, now)
	if err != nil {
		return nil, err
	}
	if !c.ActiveAt(now) {
		return nil, Errorf(ECONFLICT, "Conversation %s is not active; there is nothing to notify.", id)
	}
	if s.SMSTemplate != "" {
		if err := CheckSMSTemplate(s.SMSTemplate); err != nil {
			return nil, err
		}
	}
	return s.notify(ctx, c), nil
}

func (s *ConversationService) notify(ctx context.Context, c *Conversation) []Notification {
	tmpl := s.SMSTemplate
	if tmpl == "" {
		tmpl = DefaultSMSTemplate
	}
	out := make([]Notification, len(c.Participants))
	for i, p := range c.Participants {
		other := c.Participants[1-i]
		text := strings.NewReplacer("{label}", labelOr(other, "your contact"), "{ref}", c.Ref).Replace(tmpl)
		out[i].Participant = p
		if s.SMS == nil {
			out[i].Err = Errorf(ECONFIG, "SMS is not available.")
			continue
		}
		out[i].MessageID, out[i].Err = s.SMS.SendSMS(ctx, p.ProxyNumber, p.Number, text)
	}
	return out
}

// EndResult is an ended conversation and the calls hung up with it.
type EndResult struct {
	Conversation *Conversation
	HungUp       []string // call uuids
	HangupErrors []error
}

// End ends a conversation; ending an ended one changes nothing. With hangup
// it also ends calls in progress (see HangupCalls).
func (s *ConversationService) End(ctx context.Context, id string, hangup bool) (*EndResult, error) {
	now := s.now()
	// A conversation that expired is recorded as expired, not ended on
	// request: the store's EndConversation sees to that.
	c, err := s.Store.EndConversation(ctx, id, EndReasonEnded, now)
	if err != nil {
		return nil, err
	}
	res := &EndResult{Conversation: c}
	if hangup {
		res.HungUp, res.HangupErrors, err = s.HangupCalls(ctx, id)
	}
	return res, err
}

// HangupCalls ends a conversation's calls in progress through the Voice
// API. It returns the calls hung up (or found already over) and the
// failures.
func (s *ConversationService) HangupCalls(ctx context.Context, id string) ([]string, []error, error) {
	if s.Voice == nil {
		return nil, nil, Errorf(ECONFIG, "Calls of conversation %s cannot be hung up without the Voice API.", id)
	}
	calls, err := s.Store.FindActiveCalls(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	var hungUp []string
	var failed []error
	for _, call := range calls {
		if err := s.Voice.HangupCall(ctx, call.UUID); err != nil && ErrorCode(err) != ENOTFOUND {
			failed = append(failed, err)
			continue
		}
		hungUp = append(hungUp, call.UUID)
	}
	return hungUp, failed, nil
}

// Expire ends every conversation whose time ran out.
func (s *ConversationService) Expire(ctx context.Context) (int, error) {
	return s.Store.ExpireConversations(ctx, s.now())
}

// PurgeCandidates lists what Purge(olderThan) would delete now, changing
// nothing: conversations that ended before the cutoff, and active ones whose
// expiry (which becomes their end) is past and before it.
func (s *ConversationService) PurgeCandidates(ctx context.Context, olderThan time.Duration) ([]*Conversation, error) {
	if olderThan <= 0 {
		return nil, Errorf(EINVALID, "The age of conversations to purge must be positive, got %s.", olderThan).WithReason("ended_before")
	}
	now := s.now()
	cutoff := now.Add(-olderThan)
	all, err := s.Store.FindConversations(ctx, ConversationFilter{}, now)
	if err != nil {
		return nil, err
	}
	var out []*Conversation
	for _, c := range all.Conversations {
		switch {
		case c.EndedAt != nil && c.EndedAt.Before(cutoff):
			out = append(out, c)
		case c.EndedAt == nil && c.ExpiresAt != nil && !c.ExpiresAt.After(now) && c.ExpiresAt.Before(cutoff):
			out = append(out, c)
		}
	}
	return out, nil
}

// Purge deletes conversations that ended more than olderThan ago.
func (s *ConversationService) Purge(ctx context.Context, olderThan time.Duration) (int, error) {
	if olderThan <= 0 {
		return 0, Errorf(EINVALID, "The age of conversations to purge must be positive, got %s.", olderThan).WithReason("ended_before")
	}
	// Conversations that expired unswept are ended first, so retention
	// applies to them too.
	now := s.now()
	if _, err := s.Store.ExpireConversations(ctx, now); err != nil {
		return 0, err
	}
	return s.Store.PurgeConversations(ctx, now.Add(-olderThan))
}

// findPair looks for the pair's active conversations: the one with req's
// Ref (if Ref is set), and the ids of the others. Two concurrent creates
// with one Ref may both miss each other; this makes retries safe, it is
// not a uniqueness guarantee.
func (s *ConversationService) findPair(ctx context.Context, req CreateRequest) (*Conversation, []string, error) {
	active, now := ConversationActive, s.now()
	page, err := s.Store.FindConversations(ctx, ConversationFilter{Status: &active, Participant: &req.A.Number}, now)
	if err != nil {
		return nil, nil, err
	}
	var others []string
	for _, c := range page.Conversations {
		if len(c.Participants) != 2 || !c.ActiveAt(now) {
			continue
		}
		a, b := c.Participants[0].Number, c.Participants[1].Number
		if !(a == req.A.Number && b == req.B.Number) && !(a == req.B.Number && b == req.A.Number) {
			continue
		}
		if req.Ref != "" && c.Ref == req.Ref {
			return c, nil, nil
		}
		others = append(others, c.ID)
	}
	return nil, others, nil
}

// checkRequest applies the input rules of validate.go to req, trimming its
// labels.
func (s *ConversationService) checkRequest(req *CreateRequest) error {
	var err error
	if req.A.Label, err = NormalizeLabel(req.A.Label, "A"); err != nil {
		return err
	}
	if req.B.Label, err = NormalizeLabel(req.B.Label, "B"); err != nil {
		return err
	}
	if err := CheckRef(req.Ref); err != nil {
		return err
	}
	if err := CheckTTL(req.TTL); err != nil {
		return err
	}
	if req.Notify && s.SMSTemplate != "" {
		return CheckSMSTemplate(s.SMSTemplate)
	}
	return nil
}

func labelOr(p Participant, fallback string) string {
	if p.Label != "" {
		return p.Label
	}
	return fallback
}

// MaskNumber hides a phone number for logs and messages, keeping only its
// country calling code and last three digits: "+447700900123" becomes
// "+44*******123" and "+12025550123" "+1*******123".
func MaskNumber(n string) string {
	plus := strings.HasPrefix(n, "+")
	digits := strings.TrimPrefix(n, "+")
	cc := callingCodeLen(digits)
	if len(digits) < cc+3+5 { // too short to hide five digits: hide all
		return strings.Repeat("*", len(n))
	}
	masked := digits[:cc] + strings.Repeat("*", len(digits)-cc-3) + digits[len(digits)-3:]
	if plus {
		return "+" + masked
	}
	return masked
}

// callingCodeLen is the length of the ITU country calling code that digits
// start with: one digit for 1 (NANP) and 7, two for the codes ITU assigned
// in two digits, three for the rest.
func callingCodeLen(digits string) int {
	if digits == "" {
		return 0
	}
	switch digits[0] {
	case '1', '7':
		return 1
	}
	if len(digits) < 2 {
		return len(digits)
	}
	if strings.Contains(twoDigitCallingCodes, digits[:2]+" ") {
		return 2
	}
	return 3
}

// twoDigitCallingCodes lists ITU-T E.164 country codes of two digits.
const twoDigitCallingCodes = "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 " +
	"60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98 "
