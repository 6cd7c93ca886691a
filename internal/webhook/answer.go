package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/phone"
)

// answerRequest is the answer webhook's payload (POST body or GET query).
// Vonage may add region_url and custom_data; they are ignored. An event's
// payload has from, to and uuid too: eventShaped notes a field only events
// carry, so that an event (and its token) replayed at the answer route
// cannot be taken for a call to connect.
type answerRequest struct {
	To               string `json:"to"`
	From             string `json:"from"`
	UUID             string `json:"uuid"`
	ConversationUUID string `json:"conversation_uuid"`

	eventShaped bool
	Status      presence `json:"status"`
	Direction   presence `json:"direction"`
	Timestamp   presence `json:"timestamp"`
	StartTime   presence `json:"start_time"`
	EndTime     presence `json:"end_time"`
	Duration    presence `json:"duration"`
}

// presence records that a JSON member was there, whatever its value.
type presence bool

func (p *presence) UnmarshalJSON([]byte) error { *p = true; return nil }

// eventOnlyFields are the members of an event webhook's payload that an
// answer request never has (Vonage's Voice webhook reference).
func isEventOnlyField(k string) bool {
	switch k {
	case "status", "direction", "timestamp", "start_time", "end_time", "duration":
		return true
	}
	return false
}

// answer decisions, as logged.
const (
	decisionConnect      = "connect"
	decisionNotInService = "not_in_service"
	decisionForward      = "forward"     // out of session, to Config.OutOfSessionForward
	decisionUnavailable  = "unavailable" // 503: Vonage retries elsewhere
)

// handleAnswer serves the answer webhook, behind the verify middleware.
// Anything but an authentic request for an active conversation gets the
// not-in-service NCCO with 200.
func (h *Handler) handleAnswer(w http.ResponseWriter, r *http.Request, in inbound) {
	out := h.ncco.notInService
	if in.bodyErr != nil {
		// Nothing to verify or route; saying "not in service" reveals nothing.
		h.obs.ObserveAnswer(OutcomeRefused, time.Since(in.start))
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "answer", slog.String("decision", decisionNotInService),
			slog.String("reason", "body unreadable or over 64 KiB"), slog.Duration("duration", time.Since(in.start)))
	} else {
		out = h.route(r, in.body, in.start)
	}
	hd := w.Header()
	if out == nil {
		// The store is unreachable (ESTORE): a 5xx makes Vonage retry and
		// then try the application's fallback answer URL (another
		// replica), where "not in service" would tell a legitimate caller
		// a lie.
		hd["Cache-Control"] = noStore
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	hd["Content-Type"] = jsonContentType
	hd["Cache-Control"] = noStore
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

// route decides an authentic answer request and returns the NCCO. It never
// fails: errors and panics give the not-in-service NCCO, except a store that
// cannot be reached (ESTORE), for which it returns nil (503).
func (h *Handler) route(r *http.Request, body []byte, start time.Time) (ncco []byte) {
	var in answerRequest
	var from, to string // E.164 once parsed
	decision, reason := decisionNotInService, ""
	var callErr error
	defer func() {
		if p := recover(); p != nil {
			ncco, decision, reason = h.ncco.notInService, decisionNotInService, "panic"
			callErr = fmt.Errorf("panic: %v", p)
		}
		h.observeAnswer(decision, reason, callErr, start)
		level := slog.LevelInfo
		if callErr != nil {
			level = slog.LevelError
		}
		if !h.log.Enabled(r.Context(), level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("uuid", truncate(in.UUID, 64)),
			slog.String("from", h.logNumber(orRaw(from, in.From))),
			slog.String("to", h.logNumber(orRaw(to, in.To))),
			slog.String("decision", decision),
			slog.Duration("duration", time.Since(start)),
		}
		if reason != "" {
			attrs = append(attrs, slog.String("reason", reason))
		}
		if callErr != nil {
			attrs = append(attrs, slog.String("err", callErr.Error()))
		}
		h.log.LogAttrs(r.Context(), level, "answer", attrs...)
	}()

	in, err := decodeAnswer(r, body)
	if err != nil {
		reason = "malformed request"
		return h.ncco.notInService
	}
	if in.eventShaped {
		reason = "an event's payload, not an answer request"
		return h.ncco.notInService
	}
	if in.From == "" || in.To == "" {
		reason = "missing from or to"
		return h.ncco.notInService
	}
	f, err := h.callers.canonical(in.From)
	if err != nil {
		reason = "from is not a phone number"
		return h.ncco.notInService
	}
	t, err := h.proxies.canonical(in.To)
	if err != nil {
		reason = "to is not a phone number"
		return h.ncco.notInService
	}
	from, to = f, t

	ctx, cancel := context.WithTimeout(r.Context(), answerTimeout)
	defer cancel()
	rt, queued, err := h.Router.AnswerCall(ctx, maskcall.InboundCall{UUID: in.UUID, ConversationUUID: in.ConversationUUID, From: from, To: to})
	if err != nil {
		reason, callErr = "store error", err
		if maskcall.ErrorCode(err) == maskcall.ESTORE {
			decision, reason = decisionUnavailable, "store unavailable"
			return nil
		}
		return h.ncco.notInService
	}
	if rt == nil {
		reason = reasonNoConversation
		out, action := h.ncco.notInService, maskcall.OutOfSessionNotInService
		if h.ncco.forwardDigits != "" {
			if proxy, ok := msisdn(to); ok {
				decision, action = decisionForward, maskcall.OutOfSessionForward
				out = h.ncco.connectNCCO(proxy, h.ncco.forwardDigits, "") // not a recorded call
			}
		}
		// The platform hears of it (call.out_of_session); a failure to
		// record it is logged and changes nothing for the caller.
		call := maskcall.InboundCall{UUID: in.UUID, ConversationUUID: in.ConversationUUID, From: from, To: to}
		if err := h.Router.RecordOutOfSession(ctx, call, action); err != nil {
			h.log.LogAttrs(r.Context(), slog.LevelError, "out-of-session call not recorded",
				slog.String("uuid", truncate(in.UUID, 64)), slog.String("err", err.Error()))
		}
		return out
	}
	proxy, ok1 := msisdn(rt.Callee.ProxyNumber)
	number, ok2 := msisdn(rt.Callee.Number)
	if !ok1 || !ok2 {
		reason, callErr = "bad route", errors.New("the route's callee numbers are not E.164")
		return h.ncco.notInService
	}
	decision = decisionConnect
	if queued {
		reason = "call record queued: the database is locked"
	}
	return h.ncco.connectNCCO(proxy, number, in.UUID)
}

// decodeAnswer reads an answer request's fields from its JSON body (POST)
// or its query (GET). (A function of its own so that only a POST's fields
// escape to the heap.)
func decodeAnswer(r *http.Request, body []byte) (answerRequest, error) {
	if r.Method == http.MethodPost {
		var in answerRequest
		err := json.Unmarshal(body, &in)
		in.eventShaped = bool(in.Status || in.Direction || in.Timestamp || in.StartTime || in.EndTime || in.Duration)
		return in, err
	}
	return parseAnswerQuery(r.URL.RawQuery)
}

// parseAnswerQuery reads the answer fields from a raw query; the first
// occurrence of a field counts, as with url.Values.Get. A bad %-escape in
// one of the fields' values is an error.
func parseAnswerQuery(raw string) (answerRequest, error) {
	var in answerRequest
	var seen [4]bool
	for rest := raw; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		k, v, _ := strings.Cut(part, "=")
		if strings.ContainsAny(k, "%+") {
			// Keys are unescaped too, as url.ParseQuery and
			// signature.QueryPayload (what a signature covers) do; one
			// that cannot be is skipped.
			var err error
			if k, err = url.QueryUnescape(k); err != nil {
				continue
			}
		}
		var dst *string
		var i int
		if isEventOnlyField(k) {
			in.eventShaped = true
			continue
		}
		switch k {
		case "to":
			dst, i = &in.To, 0
		case "from":
			dst, i = &in.From, 1
		case "uuid":
			dst, i = &in.UUID, 2
		case "conversation_uuid":
			dst, i = &in.ConversationUUID, 3
		default:
			continue
		}
		if seen[i] {
			continue
		}
		seen[i] = true
		if strings.ContainsAny(v, "%+") {
			var err error
			if v, err = url.QueryUnescape(v); err != nil {
				return in, err
			}
		}
		*dst = v
	}
	return in, nil
}

// msisdn turns an E.164 number into Vonage's form: digits only, no '+'.
// The NCCO schema's phone endpoint takes 10 to 15 digits; a number outside
// that could not be connected, so it is refused here rather than sent.
func msisdn(e164 string) (string, bool) {
	d := strings.TrimPrefix(e164, "+")
	if len(d) < 10 || len(d) > 15 {
		return "", false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return "", false
		}
	}
	return d, true
}

func orRaw(parsed, raw string) string {
	if parsed != "" {
		return parsed
	}
	return raw
}

// proxyCache memoises phone.FromMSISDN (as E.164) for the answer webhook.
// Parsing a number with libphonenumber costs about 20 µs and 90
// allocations, far more than the rest of the webhook. The server keeps two:
// one for the numbers callers dial, which are the pool's few proxy numbers,
// and one for the numbers they call from, which for calls that are routed
// are the participants' and recur; the two are apart so strangers calling
// from many numbers cannot evict the proxy numbers. Only numbers that parse
// are kept, and a cache is emptied when full, so it cannot grow past
// proxyCacheSize entries of at most 20 bytes of key.
type proxyCache struct {
	mu sync.RWMutex
	m  map[string]string
}

const proxyCacheSize = 4096

// canonical normalises a number as Vonage sends it: the common case, bare
// international digits, costs a syntax check; other forms go through
// libphonenumber, cached.
func (c *proxyCache) canonical(msisdn string) (string, error) {
	if n, ok := phone.Canonical(msisdn); ok {
		return n, nil
	}
	return c.e164(msisdn)
}

func (c *proxyCache) e164(msisdn string) (string, error) {
	c.mu.RLock()
	v, ok := c.m[msisdn]
	c.mu.RUnlock()
	if ok {
		return v, nil
	}
	n, err := phone.FromMSISDN(msisdn)
	if err != nil {
		return "", err
	}
	if len(msisdn) <= 20 {
		c.mu.Lock()
		if c.m == nil || len(c.m) >= proxyCacheSize {
			c.m = make(map[string]string)
		}
		c.m[strings.Clone(msisdn)] = n.E164
		c.mu.Unlock()
	}
	return n.E164, nil
}
