package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/phone"
)

// createBody is POST /v1/conversations' body.
type createBody struct {
	Participants []struct {
		Number string `json:"number"`
		Label  string `json:"label"`
	} `json:"participants"`
	Ref           string `json:"ref"`
	TTL           string `json:"ttl"`
	Country       string `json:"country"`
	Notify        *bool  `json:"notify"`
	Insight       string `json:"insight"`
	AutoProvision bool   `json:"auto_provision"`
	// Mode: voice, sms or voice-and-sms; empty for the default
	// (voice-and-sms when proxies that can text are free, else voice).
	Mode        string `json:"mode"`
	CallbackURL string `json:"callback_url"`
}

// conversationBody is a conversation as the API returns it: exactly what
// `conversation create -o json` prints, plus, where a request produced
// them, the notifications sent and the calls.
type conversationBody struct {
	*maskcall.Conversation
	Notifications []notification `json:"notifications,omitempty"`
	Provisioned   []string       `json:"provisioned,omitempty"`
}

// conversationWithCalls is GET /v1/conversations/{id}: the conversation,
// its calls and its messages.
type conversationWithCalls struct {
	*maskcall.Conversation
	Calls    []*maskcall.Call `json:"calls"`
	Messages []message        `json:"messages"`
}

// message is a text as the API shows it: which participant sent it (by
// position and label), never a number; its text only where the server
// keeps texts.
type message struct {
	ID          string                 `json:"id"`
	Sender      int                    `json:"sender"`
	SenderLabel string                 `json:"sender_label"`
	Parts       int                    `json:"parts"`
	PartsTotal  int                    `json:"parts_total"`
	Incomplete  bool                   `json:"incomplete"`
	Status      maskcall.MessageStatus `json:"status"`
	Reason      string                 `json:"reason,omitempty"`
	Attempts    int                    `json:"attempts"`
	Error       string                 `json:"error,omitempty"`
	Text        *string                `json:"text,omitempty"`
	ReceivedAt  time.Time              `json:"received_at"`
	RelayedAt   *time.Time             `json:"relayed_at"`
}

func messages(c *maskcall.Conversation, ms []*maskcall.Message) []message {
	out := make([]message, 0, len(ms))
	for _, m := range ms {
		o := message{ID: m.ID, Sender: m.Sender, Parts: m.Parts, PartsTotal: m.PartsTotal, Incomplete: m.Incomplete,
			Status: m.Status, Reason: m.Reason, Attempts: m.Attempts, Error: m.Error, Text: m.Text,
			ReceivedAt: m.ReceivedAt, RelayedAt: m.RelayedAt}
		if m.Sender >= 0 && m.Sender < len(c.Participants) {
			o.SenderLabel = c.Participants[m.Sender].Label
		}
		out = append(out, o)
	}
	return out
}

// notification is the outcome of texting one participant. It names the
// participant by position and label, not by number.
type notification struct {
	Position int    `json:"position"`
	Label    string `json:"label"`
	Status   string `json:"status"` // sent or failed
	Code     string `json:"code,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

func notifications(c *maskcall.Conversation, notes []maskcall.Notification) []notification {
	out := make([]notification, 0, len(notes))
	for i, n := range notes {
		o := notification{Position: i, Label: n.Participant.Label, Status: "sent"}
		if n.Err != nil {
			o.Status, o.Code = "failed", maskcall.ErrorCode(n.Err)
			if o.Code != maskcall.EINTERNAL {
				var e *maskcall.Error
				if errors.As(n.Err, &e) {
					o.Detail = e.Message
				}
			}
		}
		out = append(out, o)
	}
	return out
}

// decode reads a JSON body strictly: unknown fields and trailing data are
// refused, so a typo is not silently ignored. An empty body decodes as {}.
func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		msg := err.Error()
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te):
			msg = fmt.Sprintf("field %s must be %s, not %s", te.Field, jsonKind(te.Type.Kind().String()), te.Value)
		case errors.As(err, &se):
			msg = fmt.Sprintf("invalid JSON at byte %d", se.Offset)
		default:
			msg = strings.TrimPrefix(msg, "json: ")
		}
		return maskcall.Errorf(maskcall.EINVALID, "The request body is not valid: %s.", msg).WithReason("body")
	}
	if dec.More() {
		return maskcall.Errorf(maskcall.EINVALID, "The request body holds more than one JSON value.").WithReason("body")
	}
	return nil
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct", "ptr":
		return "an object"
	}
	return "a number"
}

func invalid(reason, format string, args ...any) error {
	return maskcall.Errorf(maskcall.EINVALID, format, args...).WithReason(reason)
}

func (h *Handler) createConversation(ctx context.Context, r *request) (response, error) {
	var b createBody
	if err := decode(r.body, &b); err != nil {
		return response{}, err
	}
	if len(b.Participants) != 2 {
		return response{}, invalid("participants", "A conversation needs exactly two participants, got %d.", len(b.Participants))
	}
	country := strings.ToUpper(strings.TrimSpace(b.Country))
	if country != "" && !phone.KnownCountry(country) {
		return response{}, invalid("country", "country must be an ISO 3166 alpha-2 code such as GB, not %q.", b.Country)
	}
	var parts [2]maskcall.Participant
	for i, p := range b.Participants {
		n, err := phone.Parse(p.Number, country)
		if err != nil {
			var e *maskcall.Error
			msg := maskcall.ErrorMessage(err)
			if errors.As(err, &e) {
				msg = e.Message
			}
			return response{}, &maskcall.Error{Code: maskcall.ErrorCode(err), Err: err, Reason: maskcall.ErrorReason(err),
				Message: fmt.Sprintf("participants[%d].number: %s", i, msg)}
		}
		parts[i] = maskcall.Participant{Number: n.E164, Country: n.Country, Label: p.Label}
	}
	ttl := h.cfg.DefaultTTL
	if b.TTL != "" {
		d, err := time.ParseDuration(b.TTL)
		if err != nil || d <= 0 {
			return response{}, invalid("ttl", "ttl must be a positive duration such as \"2h\" or \"90m\", not %q.", b.TTL)
		}
		ttl = d
	}
	choice := b.Insight
	if choice == "" {
		choice = h.cfg.Insight
	}
	insight, err := maskcall.ResolveInsight(choice, h.cfg.FormatInsight, h.cfg.Now())
	if maskcall.ErrorCode(err) == maskcall.EINVALID {
		return response{}, invalid("insight", "insight must be %s, not %q.", maskcall.InsightChoiceList(), b.Insight)
	} else if err != nil {
		return response{}, err
	}
	var mode maskcall.ConversationMode
	if b.Mode != "" {
		if mode, err = maskcall.ParseConversationMode(b.Mode); err != nil {
			return response{}, invalid("mode", "mode must be voice, sms or voice-and-sms, not %q.", b.Mode)
		}
	}
	if b.CallbackURL != "" && maskcall.ValidateCallbackURL(b.CallbackURL) != nil {
		return response{}, invalid("callback_url", "callback_url must be an absolute http or https URL, not %q.", b.CallbackURL)
	}
	notify := b.Notify == nil || *b.Notify
	res, err := h.cfg.Service.Create(ctx, maskcall.CreateRequest{
		A: parts[0], B: parts[1], Ref: b.Ref, TTL: ttl, Mode: mode,
		Insight: insight, Notify: notify, AutoProvision: b.AutoProvision,
		CallbackURL: b.CallbackURL,
	})
	if err != nil {
		return response{}, err
	}
	out := conversationBody{Conversation: res.Conversation}
	if notify {
		out.Notifications = notifications(res.Conversation, res.Notifications)
	}
	for _, n := range res.Provisioned {
		out.Provisioned = append(out.Provisioned, n.Number)
	}
	return response{http.StatusCreated, out}, nil
}

// listBody is GET /v1/conversations.
type listBody struct {
	Conversations []*maskcall.Conversation `json:"conversations"`
	NextCursor    *string                  `json:"next_cursor"`
}

func (h *Handler) listConversations(ctx context.Context, r *request) (response, error) {
	q := r.URL.Query()
	for k := range q {
		switch k {
		case "status", "ref", "limit", "cursor":
		default:
			return response{}, invalid("query", "Unknown query parameter %q; use status, ref, limit or cursor.", k)
		}
	}
	filter := maskcall.ConversationFilter{Limit: 100}
	switch s := q.Get("status"); s {
	case "", "all":
	case "active", "ended", "expired":
		st := maskcall.ConversationStatus(s)
		filter.Status = &st
	default:
		return response{}, invalid("status", "status must be active, ended, expired or all, not %q.", s)
	}
	if ref := q.Get("ref"); q.Has("ref") {
		filter.Ref = &ref
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 1000 {
			return response{}, invalid("limit", "limit must be a whole number from 1 to 1000, not %q.", l)
		}
		filter.Limit = n
	}
	page, next, err := h.findConversations(ctx, filter, q.Get("cursor"))
	if err != nil {
		return response{}, err
	}
	if page == nil {
		page = []*maskcall.Conversation{}
	}
	out := listBody{Conversations: page}
	if next != "" {
		out.NextCursor = &next
	}
	return response{http.StatusOK, out}, nil
}

func (h *Handler) findConversation(ctx context.Context, id string) (*maskcall.Conversation, error) {
	c, err := h.cfg.Store.FindConversationByID(ctx, id, h.cfg.Now())
	if maskcall.ErrorCode(err) == maskcall.ENOTFOUND {
		return nil, maskcall.Errorf(maskcall.ENOTFOUND, "No conversation has the id %q.", id)
	}
	return c, err
}

func (h *Handler) getConversation(ctx context.Context, r *request) (response, error) {
	c, err := h.findConversation(ctx, r.PathValue("id"))
	if err != nil {
		return response{}, err
	}
	calls, err := h.cfg.Store.FindCalls(ctx, c.ID)
	if err != nil {
		return response{}, err
	}
	if calls == nil {
		calls = []*maskcall.Call{}
	}
	var found []*maskcall.Message
	if ms, ok := h.cfg.Store.(maskcall.MessageStore); ok {
		if found, err = ms.FindMessages(ctx, c.ID); err != nil {
			return response{}, err
		}
	}
	return response{http.StatusOK, conversationWithCalls{c, calls, messages(c, found)}}, nil
}

// endBody is POST /v1/conversations/{id}/end's optional body.
type endBody struct {
	Hangup bool `json:"hangup"`
}

// endResult is the ended conversation and, with hangup, its calls.
type endResult struct {
	*maskcall.Conversation
	HungUp []string `json:"hung_up,omitempty"`
}

func (h *Handler) endConversation(ctx context.Context, r *request) (response, error) {
	var b endBody
	if err := decode(r.body, &b); err != nil {
		return response{}, err
	}
	id := r.PathValue("id")
	res, err := h.cfg.Service.End(ctx, id, false)
	if maskcall.ErrorCode(err) == maskcall.ENOTFOUND {
		return response{}, maskcall.Errorf(maskcall.ENOTFOUND, "No conversation has the id %q.", id)
	} else if err != nil {
		return response{}, err
	}
	out := endResult{Conversation: res.Conversation}
	if b.Hangup {
		hungUp, failed, err := h.cfg.Service.HangupCalls(ctx, id)
		if err == nil && len(failed) > 0 {
			err = failed[0]
		}
		if err != nil {
			var e *maskcall.Error
			msg := "an unexpected failure"
			if errors.As(err, &e) && e.Code != maskcall.EINTERNAL {
				msg = e.Message
			}
			return response{}, &maskcall.Error{Code: maskcall.ErrorCode(err), Err: err, Reason: "hangup_failed",
				Message: "Conversation " + id + " is ended, but its calls were not all hung up: " + msg}
		}
		out.HungUp = hungUp
		if out.HungUp == nil {
			out.HungUp = []string{}
		}
	}
	return response{http.StatusOK, out}, nil
}

// notifyResult is POST /v1/conversations/{id}/notify.
type notifyResult struct {
	Notifications []notification `json:"notifications"`
}

func (h *Handler) notifyConversation(ctx context.Context, r *request) (response, error) {
	if err := decode(r.body, &struct{}{}); err != nil {
		return response{}, err
	}
	id := r.PathValue("id")
	c, err := h.findConversation(ctx, id)
	if err != nil {
		return response{}, err
	}
	notes, err := h.cfg.Service.Notify(ctx, c.ID)
	if err != nil {
		return response{}, err
	}
	return response{http.StatusOK, notifyResult{notifications(c, notes)}}, nil
}

// numbersBody is GET /v1/numbers.
type numbersBody struct {
	Numbers []*maskcall.Number `json:"numbers"`
}

func (h *Handler) listNumbers(ctx context.Context, r *request) (response, error) {
	q := r.URL.Query()
	var filter maskcall.NumberFilter
	for k := range q {
		switch k {
		case "status", "country":
		default:
			return response{}, invalid("query", "Unknown query parameter %q; use status or country.", k)
		}
	}
	if s := q.Get("status"); s != "" {
		st := maskcall.NumberStatus(s)
		if !st.Valid() {
			return response{}, invalid("status", "status must be purchasing, unconfigured, active or released, not %q.", s)
		}
		filter.Status = &st
	}
	if c := strings.ToUpper(q.Get("country")); c != "" {
		filter.Country = &c
	}
	nums, err := h.cfg.Store.FindNumbers(ctx, filter, h.cfg.Now())
	if err != nil {
		return response{}, err
	}
	if nums == nil {
		nums = []*maskcall.Number{}
	}
	return response{http.StatusOK, numbersBody{nums}}, nil
}
