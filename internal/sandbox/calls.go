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
	// EventURL is the application's event webhook: it gets the events of
	// the inbound leg, and those of the outbound leg a connect action
	// creates unless that action has its own eventUrl. EventMethod is POST
	// (default) or GET.
	EventURL    string `json:"event_url,omitempty"`
	EventMethod string `json:"event_method,omitempty"`
	// ApplicationID overrides Config.ApplicationID for this call.
	ApplicationID string `json:"application_id,omitempty"`
	// DurationSeconds is how long the parties of a connected call talk (the
	// outbound leg's duration; the inbound leg lasts longer by the time the
	// callee took to answer); 0 means DefaultCallDuration. Nothing sleeps:
	// event timestamps are computed.
	DurationSeconds int `json:"duration_seconds,omitempty"`
	// KeepOpen leaves the call in progress once answered (and connected);
	// it ends with a Voice API hangup or with EndCall.
	KeepOpen bool `json:"keep_open,omitempty"`
}

// CallLeg is one leg of a call, as Vonage reports it in event webhooks and
// in the Voice API: the inbound leg from the caller to the account's number,
// or the outbound leg a connect action places to the callee. Both legs of a
// call share its conversation_uuid.
type CallLeg struct {
	UUID string `json:"uuid"`
	// From and To are the leg's parties: for the inbound leg the caller and
	// the number dialled, for the outbound leg the connect action's from
	// (the caller ID) and the endpoint's number.
	From      string `json:"from"`
	To        string `json:"to"`
	Direction string `json:"direction"` // inbound or outbound
	// Status is the leg's latest status: started, ringing, answered while
	// in progress, then completed.
	Status string `json:"status"`
	// EventURL and EventMethod are where the leg's events go (empty URL:
	// nowhere, they are only recorded).
	EventURL        string    `json:"event_url,omitempty"`
	EventMethod     string    `json:"event_method,omitempty"`
	StartTime       time.Time `json:"start_time"`
	AnswerTime      time.Time `json:"answer_time,omitzero"`
	EndTime         time.Time `json:"end_time,omitzero"`
	DurationSeconds int       `json:"duration_seconds"`
	Rate            string    `json:"rate"`
	Price           string    `json:"price,omitempty"`
	Network         string    `json:"network"`
}

// CallResult is a simulated call: what the sandbox sent, what the answer
// webhook replied and what Vonage would have done with it. The embedded
// CallLeg is the inbound leg (its fields are the result's top-level uuid,
// from, to, direction, status, event_url, times, duration and price);
// Outbound is the leg a connect action to a phone created, if any.
type CallResult struct {
	CallLeg
	ConversationUUID string `json:"conversation_uuid"`
	ApplicationID    string `json:"application_id,omitempty"`
	AnswerURL        string `json:"answer_url"`
	AnswerMethod     string `json:"answer_method"`
	// AnswerStatus is the HTTP status of the answer webhook's reply (0 if
	// none came); AnswerError says what went wrong with it, if anything.
	AnswerStatus int             `json:"answer_status"`
	AnswerError  string          `json:"answer_error,omitempty"`
	NCCO         json.RawMessage `json:"ncco,omitempty"`
	// Actions describes, in order, what Vonage would do with the NCCO, such
	// as "say: Hello" or "connecting +447700900002 with caller ID +447700900001".
	Actions []string `json:"actions"`
	// Connected says the NCCO connects the call to a phone, ConnectTo and
	// CallerID are that phone's number and the connect action's from.
	Connected bool   `json:"connected"`
	ConnectTo string `json:"connect_to,omitempty"`
	CallerID  string `json:"caller_id,omitempty"`
	// OutboundUUID is the uuid of the outbound leg, once it has started;
	// Outbound is that leg. The Voice API and Call know the call by either
	// leg's uuid.
	OutboundUUID string   `json:"outbound_uuid,omitempty"`
	Outbound     *CallLeg `json:"outbound,omitempty"`
	// Warnings note what real Vonage would probably not accept.
	Warnings []string `json:"warnings,omitempty"`
	// Events are the event webhooks of both legs, in the order sent; each
	// says which leg it is about.
	Events []EventSent `json:"events"`
	// Updates lists the Voice API modifications received (hangup, mute,
	// ...); those of the outbound leg read "outbound: hangup".
	Updates []string `json:"updates,omitempty"`

	latest time.Time // the latest simulated time an event was sent for
}

// EventSent is an event webhook the sandbox sent (or would have sent, when
// there is no event URL).
type EventSent struct {
	// UUID and Direction are those of the leg the event is about.
	UUID      string    `json:"uuid"`
	Direction string    `json:"direction"`
	Status    string    `json:"status"`
	Time      time.Time `json:"time"`
	URL       string    `json:"url,omitempty"`
	Method    string    `json:"method,omitempty"`
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

// Simulated timeline: Vonage answers the inbound leg (and runs the NCCO)
// pickupDelay after it started; an outbound leg rings ringDelay after it
// started and the callee answers answerDelay later; a call that connects
// nobody lasts shortCall.
const (
	pickupDelay = time.Second
	ringDelay   = time.Second
	answerDelay = 2 * time.Second
	shortCall   = 5 * time.Second
)

// Per-minute rates of simulated call legs, in EUR.
const (
	inboundRate  = "0.00450000"
	outboundRate = "0.01000000"
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
// the NCCO it gets back and sends the event webhooks, signing them all when
// a signature secret is configured. As with Vonage, the inbound leg's
// events go to the application's event URL (req.EventURL); a connect action
// to a phone creates an outbound leg, with its own uuid and the same
// conversation_uuid, whose events go to the action's eventUrl, else to the
// application's event URL. Problems on the application's side (an
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
	s.play(ctx, call, ok, plan, req)
	return s.call(call.UUID)
}

// startCall registers a new call and returns it with the region URL.
func (s *Sandbox) startCall(req CallRequest) (*CallResult, string) {
	_, network := smsRate(req.From)
	call := &CallResult{
		CallLeg: CallLeg{
			UUID:        newUUID(),
			From:        req.From,
			To:          req.To,
			Direction:   "inbound",
			Status:      StatusStarted,
			EventURL:    req.EventURL,
			EventMethod: req.EventMethod,
			StartTime:   s.now(),
			Rate:        inboundRate,
			Network:     network,
		},
		ConversationUUID: "CON-" + newUUID(),
		ApplicationID:    cmp.Or(req.ApplicationID, s.cfg.ApplicationID),
		AnswerURL:        req.AnswerURL,
		AnswerMethod:     req.AnswerMethod,
		Actions:          []string{},
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
}

// play sends the events of call. The inbound leg starts and, if the answer
// webhook worked, is answered. If the NCCO connects a phone, the outbound
// leg then starts, rings and is answered. Unless the call is kept open, the
// outbound leg and then the inbound leg complete. It stops when the call is
// hung up meanwhile.
func (s *Sandbox) play(ctx context.Context, call *CallResult, answered bool, plan nccoPlan, req CallRequest) {
	in := &call.CallLeg
	t := in.StartTime
	s.event(ctx, call, in, StatusStarted, t)
	if !answered {
		s.finish(ctx, call, t)
		return
	}
	t = t.Add(pickupDelay)
	if !s.answered(in, t) {
		return
	}
	s.event(ctx, call, in, StatusAnswered, t)
	length := shortCall
	if call.Connected {
		out := s.startOutbound(call, plan, t)
		if out == nil {
			return
		}
		s.event(ctx, call, out, StatusStarted, t)
		t = t.Add(ringDelay)
		if s.ended(out) {
			return
		}
		s.event(ctx, call, out, StatusRinging, t)
		t = t.Add(answerDelay)
		if !s.answered(out, t) {
			return
		}
		s.event(ctx, call, out, StatusAnswered, t)
		length = DefaultCallDuration
		if req.DurationSeconds > 0 {
			length = time.Duration(req.DurationSeconds) * time.Second
		}
	}
	if !req.KeepOpen {
		s.finish(ctx, call, t.Add(length))
	}
}

// startOutbound starts and registers the outbound leg of call, placed at
// time at to the phone plan connects; nil if the call ended meanwhile.
func (s *Sandbox) startOutbound(call *CallResult, plan nccoPlan, at time.Time) *CallLeg {
	s.mu.Lock()
	defer s.mu.Unlock()
	if call.Status == StatusCompleted {
		return nil
	}
	_, network := smsRate(plan.connectTo)
	out := &CallLeg{
		UUID: newUUID(),
		// Without a from Vonage shows the callee an unknown caller.
		From:        cmp.Or(plan.callerID, "Unknown"),
		To:          plan.connectTo,
		Direction:   "outbound",
		Status:      StatusStarted,
		EventURL:    call.EventURL,
		EventMethod: call.EventMethod,
		StartTime:   at,
		Rate:        outboundRate,
		Network:     network,
	}
	if plan.eventURL != "" {
		out.EventURL, out.EventMethod = plan.eventURL, cmp.Or(plan.eventMethod, http.MethodPost)
	}
	call.Outbound, call.OutboundUUID = out, out.UUID
	s.calls[out.UUID] = call
	return out
}

// answered marks leg answered at time at; false if it was hung up already.
func (s *Sandbox) answered(leg *CallLeg, at time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if leg.Status == StatusCompleted {
		return false
	}
	leg.AnswerTime = at
	return true
}

// ended reports whether leg is completed.
func (s *Sandbox) ended(leg *CallLeg) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return leg.Status == StatusCompleted
}

// leg is the leg of c with that uuid: its outbound leg's or else the
// inbound leg. It must be called with s.mu held.
func (c *CallResult) leg(uuid string) *CallLeg {
	if c.Outbound != nil && c.Outbound.UUID == uuid {
		return c.Outbound
	}
	return &c.CallLeg
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

// finish ends call at end, as when the callee hangs up: the outbound leg
// (if any) and then the inbound leg complete and their completed events
// are sent. Legs hung up already are left alone.
func (s *Sandbox) finish(ctx context.Context, call *CallResult, end time.Time) {
	s.mu.Lock()
	first := &call.CallLeg
	if call.Outbound != nil {
		first = call.Outbound
	}
	legs := s.completeLegs(call, first, end)
	s.mu.Unlock()
	s.sendCompleted(ctx, call, legs, end)
}

// hangup ends call now because its leg first hung up: first and then the
// other leg, connected to it, complete. It returns the legs completed and
// when, for sendCompleted. It must be called with s.mu held.
func (s *Sandbox) hangup(call *CallResult, first *CallLeg) ([]*CallLeg, time.Time) {
	end := s.endTime(call)
	return s.completeLegs(call, first, end), end
}

// completeLegs completes, at end, first and then the other leg of call,
// skipping a leg completed already, and returns the legs it completed. It
// must be called with s.mu held.
func (s *Sandbox) completeLegs(call *CallResult, first *CallLeg, end time.Time) []*CallLeg {
	other := call.Outbound
	if first != &call.CallLeg {
		other = &call.CallLeg
	}
	var done []*CallLeg
	for _, l := range []*CallLeg{first, other} {
		if l != nil && l.Status != StatusCompleted {
			s.complete(l, end)
			done = append(done, l)
		}
	}
	return done
}

// sendCompleted sends the completed events of legs of call, ended at end.
func (s *Sandbox) sendCompleted(ctx context.Context, call *CallResult, legs []*CallLeg, end time.Time) {
	for _, l := range legs {
		s.event(ctx, call, l, StatusCompleted, end)
	}
}

// complete marks leg completed at end and prices it. It must be called
// with s.mu held.
func (s *Sandbox) complete(leg *CallLeg, end time.Time) {
	leg.Status = StatusCompleted
	leg.EndTime = end
	if !leg.AnswerTime.IsZero() && end.After(leg.AnswerTime) {
		leg.DurationSeconds = int(end.Sub(leg.AnswerTime).Round(time.Second) / time.Second)
	}
	rate, _ := strconv.ParseFloat(leg.Rate, 64)
	leg.Price = fmt.Sprintf("%.8f", rate*float64(leg.DurationSeconds)/60)
}

// event sends the event webhook of leg of call for status at time at, and
// records it.
func (s *Sandbox) event(ctx context.Context, call *CallResult, leg *CallLeg, status string, at time.Time) {
	s.mu.Lock()
	if at.After(call.latest) {
		call.latest = at
	}
	params := [][2]string{
		{"from", leg.From},
		{"to", leg.To},
		{"uuid", leg.UUID},
		{"conversation_uuid", call.ConversationUUID},
		{"status", status},
		{"direction", leg.Direction},
		{"timestamp", formatTime(at)},
	}
	if status == StatusCompleted {
		start := leg.AnswerTime
		if start.IsZero() {
			start = leg.EndTime
		}
		params = append(params,
			[2]string{"start_time", formatTime(start)},
			[2]string{"end_time", formatTime(leg.EndTime)},
			[2]string{"duration", strconv.Itoa(leg.DurationSeconds)},
			[2]string{"rate", leg.Rate},
			[2]string{"price", leg.Price},
			[2]string{"network", leg.Network},
		)
	}
	hook := webhook{method: leg.EventMethod, url: leg.EventURL, params: params, appID: call.ApplicationID}
	ev := EventSent{UUID: leg.UUID, Direction: leg.Direction, Status: status, Time: at, URL: hook.url}
	s.mu.Unlock()

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
	if status != StatusCompleted && leg.Status != StatusCompleted {
		leg.Status = status
	}
	s.mu.Unlock()
}

// formatTime is the timestamp format of event webhooks (RFC 3339, UTC, ms).
func formatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// EndCall ends a call left open (CallRequest.KeepOpen) as if the party on
// the leg with that uuid hung up: that leg and then the other complete and
// their completed events are sent.
func (s *Sandbox) EndCall(ctx context.Context, uuid string) (CallResult, error) {
	s.mu.Lock()
	call := s.calls[uuid]
	if call == nil {
		s.mu.Unlock()
		return CallResult{}, ErrCallNotFound
	}
	leg := call.leg(uuid)
	if leg.Status == StatusCompleted {
		s.mu.Unlock()
		return CallResult{}, ErrCallEnded
	}
	legs, end := s.hangup(call, leg)
	s.mu.Unlock()
	s.sendCompleted(ctx, call, legs, end)
	return s.call(call.UUID)
}

// endTime is when call ends if it is ended now: now, but not before the
// simulated time it has reached (its timeline runs ahead of the clock). It
// must be called with s.mu held.
func (s *Sandbox) endTime(call *CallResult) time.Time {
	end := s.now()
	for _, t := range []time.Time{call.latest, call.AnswerTime} {
		if end.Before(t) {
			end = t
		}
	}
	if call.Outbound != nil && end.Before(call.Outbound.AnswerTime) {
		end = call.Outbound.AnswerTime
	}
	return end
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

// Call returns the simulated call with a leg of that uuid (inbound or
// outbound).
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
	if c.Outbound != nil {
		o := *c.Outbound
		out.Outbound = &o
	}
	return out
}
