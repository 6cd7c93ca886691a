package sandbox

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Call statuses, as event webhooks and the Voice API report them.
const (
	StatusStarted   = "started"
	StatusRinging   = "ringing"
	StatusAnswered  = "answered"
	StatusCompleted = "completed"
)

// CallRequest asks the sandbox to place an inbound call to an application,
// the way Vonage does when someone calls one of the account's numbers.
type CallRequest struct {
	// From is the caller, To the account's number called; MSISDNs in
	// international format (a leading '+' is dropped, as Vonage does).
	From string `json:"from"`
	To   string `json:"to"`
	// AnswerURL gets the answer webhook; AnswerMethod is GET (default) or POST.
	AnswerURL    string `json:"answer_url"`
	AnswerMethod string `json:"answer_method,omitempty"`
	// EventURL gets the event webhooks unless the NCCO's connect action has
	// its own eventUrl; EventMethod is POST (default) or GET.
	EventURL    string `json:"event_url,omitempty"`
	EventMethod string `json:"event_method,omitempty"`
	// ApplicationID overrides Config.ApplicationID for this call.
	ApplicationID string `json:"application_id,omitempty"`
	// DurationSeconds is how long a connected call lasts; 0 means
	// DefaultCallDuration. Nothing sleeps: event timestamps are computed.
	DurationSeconds int `json:"duration_seconds,omitempty"`
	// KeepOpen leaves the call in progress after it is answered; it ends
	// with a Voice API hangup or with EndCall.
	KeepOpen bool `json:"keep_open,omitempty"`
}

// CallResult is a simulated call: what the sandbox sent, what the answer
// webhook replied and what Vonage would have done with it.
type CallResult struct {
	UUID             string `json:"uuid"`
	ConversationUUID string `json:"conversation_uuid"`
	From             string `json:"from"`
	To               string `json:"to"`
	Direction        string `json:"direction"`
	ApplicationID    string `json:"application_id,omitempty"`
	// Status is the call's latest status: answered while open, completed.
	Status       string `json:"status"`
	AnswerURL    string `json:"answer_url"`
	AnswerMethod string `json:"answer_method"`
	// AnswerStatus is the HTTP status of the answer webhook's reply (0 if
	// none came); AnswerError says what went wrong with it, if anything.
	AnswerStatus int             `json:"answer_status"`
	AnswerError  string          `json:"answer_error,omitempty"`
	NCCO         json.RawMessage `json:"ncco,omitempty"`
	// Actions describes, in order, what Vonage would do with the NCCO, such
	// as "say: Hello" or "connecting +447700900002 with caller ID +447700900001".
	Actions   []string `json:"actions"`
	Connected bool     `json:"connected"`
	ConnectTo string   `json:"connect_to,omitempty"`
	CallerID  string   `json:"caller_id,omitempty"`
	// Warnings note what real Vonage would probably not accept.
	Warnings []string `json:"warnings,omitempty"`
	// EventURL and EventMethod are where the events go.
	EventURL    string      `json:"event_url,omitempty"`
	EventMethod string      `json:"event_method,omitempty"`
	Events      []EventSent `json:"events"`
	// Updates lists the Voice API modifications received (hangup, mute, ...).
	Updates         []string  `json:"updates,omitempty"`
	StartTime       time.Time `json:"start_time"`
	AnswerTime      time.Time `json:"answer_time,omitzero"`
	EndTime         time.Time `json:"end_time,omitzero"`
	DurationSeconds int       `json:"duration_seconds"`
	Rate            string    `json:"rate"`
	Price           string    `json:"price,omitempty"`
	Network         string    `json:"network"`
}

// EventSent is an event webhook the sandbox sent (or would have sent, when
// there is no event URL).
type EventSent struct {
	Status string    `json:"status"`
	Time   time.Time `json:"time"`
	URL    string    `json:"url,omitempty"`
	Method string    `json:"method,omitempty"`
	// Payload is the JSON body, or for GET the query as a JSON object.
	Payload    json.RawMessage `json:"payload"`
	Signed     bool            `json:"signed"`
	HTTPStatus int             `json:"http_status"`
	Error      string          `json:"error,omitempty"`
}

// ErrCallNotFound is returned for a call the sandbox does not know.
var ErrCallNotFound = errors.New("sandbox: no such call")

// ErrCallEnded is returned when ending a call that is already completed.
var ErrCallEnded = errors.New("sandbox: call already completed")

// Simulated timeline: ringing comes 1s after started, the callee answers 2s
// later; a call that connects nobody lasts shortCall.
const (
	ringDelay   = time.Second
	answerDelay = 2 * time.Second
	shortCall   = 5 * time.Second
)

// Per-minute rates of simulated calls, in EUR.
const (
	connectedRate = "0.01000000"
	inboundRate   = "0.00450000"
)

func (req CallRequest) normalize() (CallRequest, error) {
	req.From = strings.TrimPrefix(req.From, "+")
	req.To = strings.TrimPrefix(req.To, "+")
	req.AnswerMethod = cmp.Or(strings.ToUpper(req.AnswerMethod), http.MethodGet)
	req.EventMethod = cmp.Or(strings.ToUpper(req.EventMethod), http.MethodPost)
	switch {
	case !msisdnRE.MatchString(req.From):
		return req, errors.New("from must be an MSISDN (7 to 15 digits)")
	case !msisdnRE.MatchString(req.To):
		return req, errors.New("to must be an MSISDN (7 to 15 digits)")
	case !isHTTPURL(req.AnswerURL):
		return req, errors.New("answer_url must be an http(s) URL")
	case req.EventURL != "" && !isHTTPURL(req.EventURL):
		return req, errors.New("event_url must be an http(s) URL")
	case req.AnswerMethod != http.MethodGet && req.AnswerMethod != http.MethodPost:
		return req, errors.New("answer_method must be GET or POST")
	case req.EventMethod != http.MethodGet && req.EventMethod != http.MethodPost:
		return req, errors.New("event_method must be GET or POST")
	case req.DurationSeconds < 0:
		return req, errors.New("duration_seconds must not be negative")
	}
	return req, nil
}

// SimulateCall places an inbound call: it sends the answer webhook, acts on
// the NCCO it gets back and sends the event webhooks, signing them all when a
// signature secret is configured. Problems on the application's side (an
// unreachable answer URL, a bad NCCO) are reported in the result, not as an
// error; the error is for a bad request.
func (s *Sandbox) SimulateCall(ctx context.Context, req CallRequest) (CallResult, error) {
	req, err := req.normalize()
	if err != nil {
		return CallResult{}, err
	}
	call, regionURL := s.startCall(req)
	plan, ok := s.answer(ctx, call, regionURL)
	if ok {
		s.follow(call, plan)
	}
	s.play(ctx, call, ok, req)
	return s.call(call.UUID)
}

// startCall registers a new call and returns it with the region URL.
func (s *Sandbox) startCall(req CallRequest) (*CallResult, string) {
	_, network := smsRate(req.From)
	call := &CallResult{
		UUID:             newUUID(),
		ConversationUUID: "CON-" + newUUID(),
		From:             req.From,
		To:               req.To,
		Direction:        "inbound",
		ApplicationID:    cmp.Or(req.ApplicationID, s.cfg.ApplicationID),
		Status:           StatusStarted,
		AnswerURL:        req.AnswerURL,
		AnswerMethod:     req.AnswerMethod,
		EventURL:         req.EventURL,
		EventMethod:      req.EventMethod,
		Actions:          []string{},
		StartTime:        s.now(),
		Rate:             inboundRate,
		Network:          network,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	call.Warnings = s.routingWarnings(call)
	s.calls[call.UUID] = call
	s.callOrder = append(s.callOrder, call.UUID)
	return call, s.regionURL
}

// follow records what the NCCO makes of call.
func (s *Sandbox) follow(call *CallResult, plan nccoPlan) {
	s.mu.Lock()
	defer s.mu.Unlock()
	call.Actions = plan.actions
	call.Connected, call.ConnectTo, call.CallerID = plan.connected, plan.connectTo, plan.callerID
	call.Warnings = append(call.Warnings, plan.warnings...)
	if plan.eventURL != "" {
		call.EventURL, call.EventMethod = plan.eventURL, cmp.Or(plan.eventMethod, http.MethodPost)
	}
	if plan.connected {
		call.Rate = connectedRate
	}
}

// play sends the events of call: started, then (if the answer webhook
// worked) ringing for a connected call, answered and, unless the call is
// kept open, completed. It stops when the call is hung up meanwhile.
func (s *Sandbox) play(ctx context.Context, call *CallResult, answered bool, req CallRequest) {
	t := call.StartTime
	s.event(ctx, call, StatusStarted, t)
	if !answered {
		s.finish(ctx, call, t)
		return
	}
	t = t.Add(ringDelay)
	length := shortCall
	if call.Connected {
		if !s.ended(call) {
			s.event(ctx, call, StatusRinging, t)
		}
		t = t.Add(answerDelay)
		length = DefaultCallDuration
		if req.DurationSeconds > 0 {
			length = time.Duration(req.DurationSeconds) * time.Second
		}
	}
	s.mu.Lock()
	hungUp := call.Status == StatusCompleted
	if !hungUp {
		call.AnswerTime = t
	}
	s.mu.Unlock()
	if hungUp {
		return
	}
	s.event(ctx, call, StatusAnswered, t)
	if !req.KeepOpen {
		s.finish(ctx, call, t.Add(length))
	}
}

// ended reports whether call is completed.
func (s *Sandbox) ended(call *CallResult) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return call.Status == StatusCompleted
}

// routingWarnings notes why Vonage would not route call to the application.
// It must be called with s.mu held.
func (s *Sandbox) routingWarnings(call *CallResult) []string {
	n := s.owned[call.To]
	switch {
	case n == nil:
		return []string{"+" + call.To + " is not a number of this account: Vonage would not route the call"}
	case n.VoiceCallbackType == "sip" || n.VoiceCallbackType == "tel":
		return []string{"+" + call.To + " forwards voice calls to " + n.VoiceCallbackType + ":" + n.VoiceCallbackValue + ", not to an application"}
	case n.AppID == "":
		return []string{"+" + call.To + " is not linked to an application"}
	case call.ApplicationID != "" && n.AppID != call.ApplicationID:
		return []string{"+" + call.To + " is linked to application " + n.AppID + ", not " + call.ApplicationID}
	}
	return nil
}

// answer sends the answer webhook of call and interprets the NCCO.
func (s *Sandbox) answer(ctx context.Context, call *CallResult, regionURL string) (nccoPlan, bool) {
	params := [][2]string{
		{"to", call.To},
		{"from", call.From},
		{"uuid", call.UUID},
		{"conversation_uuid", call.ConversationUUID},
	}
	if regionURL != "" {
		params = append(params, [2]string{"region_url", regionURL})
	}
	actx, cancel := context.WithTimeout(ctx, s.cfg.AnswerTimeout)
	defer cancel()
	reply, err := s.send(actx, webhook{method: call.AnswerMethod, url: call.AnswerURL, params: params, appID: call.ApplicationID})

	s.mu.Lock()
	defer s.mu.Unlock()
	call.AnswerStatus = reply.status
	if json.Valid(reply.body) {
		call.NCCO = json.RawMessage(reply.body)
	}
	switch {
	case err != nil:
		call.AnswerError = "answer webhook failed: " + err.Error()
		return nccoPlan{}, false
	case reply.status < 200 || reply.status > 299:
		call.AnswerError = fmt.Sprintf("answer webhook replied HTTP %d", reply.status)
		return nccoPlan{}, false
	}
	plan, err := interpretNCCO(reply.body, func(msisdn string) bool { return s.owned[msisdn] != nil })
	if err != nil {
		call.AnswerError = "invalid NCCO: " + err.Error()
		return nccoPlan{}, false
	}
	return plan, true
}

// finish completes call at end and sends the completed event, unless the
// call was hung up already.
func (s *Sandbox) finish(ctx context.Context, call *CallResult, end time.Time) {
	s.mu.Lock()
	if call.Status == StatusCompleted {
		s.mu.Unlock()
		return
	}
	s.complete(call, end)
	s.mu.Unlock()
	s.event(ctx, call, StatusCompleted, end)
}

// complete marks call completed at end and prices it. It must be called
// with s.mu held.
func (s *Sandbox) complete(call *CallResult, end time.Time) {
	call.Status = StatusCompleted
	call.EndTime = end
	if !call.AnswerTime.IsZero() && end.After(call.AnswerTime) {
		call.DurationSeconds = int(end.Sub(call.AnswerTime).Round(time.Second) / time.Second)
	}
	rate, _ := strconv.ParseFloat(call.Rate, 64)
	call.Price = fmt.Sprintf("%.8f", rate*float64(call.DurationSeconds)/60)
}

// event sends the event webhook for status at time at, and records it.
func (s *Sandbox) event(ctx context.Context, call *CallResult, status string, at time.Time) {
	s.mu.Lock()
	params := [][2]string{
		{"from", call.From},
		{"to", call.To},
		{"uuid", call.UUID},
		{"conversation_uuid", call.ConversationUUID},
		{"status", status},
		{"direction", call.Direction},
		{"timestamp", formatTime(at)},
	}
	if status == StatusCompleted {
		start := call.AnswerTime
		if start.IsZero() {
			start = call.EndTime
		}
		params = append(params,
			[2]string{"start_time", formatTime(start)},
			[2]string{"end_time", formatTime(call.EndTime)},
			[2]string{"duration", strconv.Itoa(call.DurationSeconds)},
			[2]string{"rate", call.Rate},
			[2]string{"price", call.Price},
			[2]string{"network", call.Network},
		)
	}
	hook := webhook{method: call.EventMethod, url: call.EventURL, params: params, appID: call.ApplicationID}
	s.mu.Unlock()

	ev := EventSent{Status: status, Time: at, URL: hook.url}
	ev.Payload, _ = jsonObject(params) // nil only for invalid UTF-8, which send refuses too
	if hook.url != "" {
		ev.Method = hook.method
		reply, err := s.send(ctx, hook)
		ev.HTTPStatus, ev.Signed = reply.status, reply.signed
		if reply.payload != nil {
			ev.Payload = reply.payload
		}
		if err != nil {
			ev.Error = err.Error()
		}
	}
	s.mu.Lock()
	call.Events = append(call.Events, ev)
	if status != StatusCompleted && call.Status != StatusCompleted {
		call.Status = status
	}
	s.mu.Unlock()
}

// formatTime is the timestamp format of event webhooks (RFC 3339, UTC, ms).
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// EndCall ends a call left open (CallRequest.KeepOpen) as if the caller hung
// up, and sends its completed event.
func (s *Sandbox) EndCall(ctx context.Context, uuid string) (CallResult, error) {
	s.mu.Lock()
	call := s.calls[uuid]
	if call == nil {
		s.mu.Unlock()
		return CallResult{}, ErrCallNotFound
	}
	if call.Status == StatusCompleted {
		s.mu.Unlock()
		return CallResult{}, ErrCallEnded
	}
	s.complete(call, s.endTime(call))
	end := call.EndTime
	s.mu.Unlock()
	s.event(ctx, call, StatusCompleted, end)
	return s.call(uuid)
}

// endTime is when an open call ends if it is ended now. It must be called
// with s.mu held.
func (s *Sandbox) endTime(call *CallResult) time.Time {
	now := s.now()
	if now.Before(call.AnswerTime) {
		return call.AnswerTime
	}
	return now
}

// Calls returns the simulated calls, oldest first.
func (s *Sandbox) Calls() []CallResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CallResult, 0, len(s.callOrder))
	for _, id := range s.callOrder {
		out = append(out, s.calls[id].clone())
	}
	return out
}

// Call returns the simulated call with that uuid.
func (s *Sandbox) Call(uuid string) (CallResult, bool) {
	c, err := s.call(uuid)
	return c, err == nil
}

func (s *Sandbox) call(uuid string) (CallResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls[uuid]
	if c == nil {
		return CallResult{}, ErrCallNotFound
	}
	return c.clone(), nil
}

func (c *CallResult) clone() CallResult {
	out := *c
	out.Actions = slices.Clone(c.Actions)
	out.Warnings = slices.Clone(c.Warnings)
	out.Events = slices.Clone(c.Events)
	out.Updates = slices.Clone(c.Updates)
	return out
}
