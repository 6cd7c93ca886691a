package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/phone"
	"github.com/maskcall/maskcall/internal/vonage/signature"
)

// nccoTemplates are the constant parts of the NCCOs, rendered once. A
// connect NCCO is
//
//	connectHead + from + connectMid + number + connectTail
//
// where from and number are digits only, so need no escaping.
type nccoTemplates struct {
	notInService []byte // the whole not-in-service NCCO
	connectHead  []byte // [{talk},{"action":"connect","from":"
	connectMid   []byte // ","endpoint":[{"type":"phone","number":"
	connectTail  []byte // "}],"eventUrl":["…"],"limit":N}] with PublicURL set
	// With PublicURL empty the eventUrl is per request:
	// tailEventHead + JSON string + tailLimit, or tailLimit alone.
	tailEventHead []byte // "}],"eventUrl":[
	tailLimit     []byte // ],"limit":N}]  (or "}],"limit":N}] without eventUrl)
	tailNoEvent   []byte
}

func newNCCOTemplates(cfg Config) nccoTemplates {
	talk := func(text string) string {
		return `{"action":"talk","text":` + jsonString(text) + `,"language":` + jsonString(cfg.Language) +
			`,"style":` + strconv.Itoa(cfg.Style) + `}`
	}
	limit := strconv.FormatInt(int64(cfg.MaxCallLength/time.Second), 10)
	t := nccoTemplates{
		notInService:  []byte("[" + talk(cfg.NotInServiceText) + "]"),
		connectHead:   []byte("[" + talk(cfg.ConnectText) + `,{"action":"connect","from":"`),
		connectMid:    []byte(`","endpoint":[{"type":"phone","number":"`),
		tailEventHead: []byte(`"}],"eventUrl":[`),
		tailLimit:     []byte(`],"limit":` + limit + `}]`),
		tailNoEvent:   []byte(`"}],"limit":` + limit + `}]`),
	}
	if cfg.PublicURL != "" {
		t.connectTail = []byte(`"}],"eventUrl":[` + jsonString(cfg.PublicURL+"/webhooks/event") + `],"limit":` + limit + `}]`)
	}
	return t
}

// jsonString encodes s as a JSON string without HTML escaping.
func jsonString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

// connectNCCO renders the connect NCCO for a route. eventURL is used only
// when PublicURL is empty ("" leaves eventUrl out).
func (t *nccoTemplates) connectNCCO(fromDigits, numberDigits, eventURL string) []byte {
	var tail []byte
	n := len(t.connectHead) + len(fromDigits) + len(t.connectMid) + len(numberDigits)
	switch {
	case t.connectTail != nil:
		tail = t.connectTail
	case eventURL != "":
		n += len(t.tailEventHead) + len(eventURL) + 2 + len(t.tailLimit)
	default:
		tail = t.tailNoEvent
	}
	n += len(tail)
	b := make([]byte, 0, n)
	b = append(b, t.connectHead...)
	b = append(b, fromDigits...)
	b = append(b, t.connectMid...)
	b = append(b, numberDigits...)
	if tail != nil {
		return append(b, tail...)
	}
	b = append(b, t.tailEventHead...)
	b = append(b, '"')
	b = append(b, eventURL...) // validated: no character needs escaping
	b = append(b, '"')
	return append(b, t.tailLimit...)
}

// answerRequest is the answer webhook's payload (POST body or GET query).
// Vonage may add region_url and custom_data; they are ignored.
type answerRequest struct {
	To               string `json:"to"`
	From             string `json:"from"`
	UUID             string `json:"uuid"`
	ConversationUUID string `json:"conversation_uuid"`
}

// answer decisions, as logged.
const (
	decisionConnect      = "connect"
	decisionNotInService = "not_in_service"
)

// handleAnswer serves the answer webhook. Anything but an authentic request
// for an active conversation gets the not-in-service NCCO with 200.
func (s *Server) handleAnswer(w http.ResponseWriter, r *http.Request) {
	if refuseHead(w, r) {
		return
	}
	start := time.Now()
	var body []byte
	var tooBig bool
	if r.Method == http.MethodPost {
		var err error
		body, err = readBody(w, r)
		if err != nil {
			// Nothing to verify or route; saying "not in service" reveals nothing.
			tooBig = true
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "answer", slog.String("decision", decisionNotInService),
				slog.String("reason", "body unreadable or over 64 KiB"), slog.Duration("duration", time.Since(start)))
		}
	}
	if !tooBig {
		if err := s.verify(r, func() ([]byte, error) { return s.payload(r, body) }); err != nil {
			s.refuse(w, r, "answer", err)
			return
		}
	}
	out := s.ncco.notInService
	if !tooBig {
		out = s.route(r, body, start)
	}
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
}

var (
	jsonContentType = []string{"application/json"}
	noStore         = []string{"no-store"}
)

// route decides an authentic answer request and returns the NCCO. It never
// fails: errors and panics give the not-in-service NCCO.
func (s *Server) route(r *http.Request, body []byte, start time.Time) (ncco []byte) {
	var in answerRequest
	var from, to string // E.164 once parsed
	decision, reason := decisionNotInService, ""
	var callErr error
	defer func() {
		if p := recover(); p != nil {
			ncco, decision, reason = s.ncco.notInService, decisionNotInService, "panic"
			callErr = fmt.Errorf("panic: %v", p)
		}
		level := slog.LevelInfo
		if callErr != nil {
			level = slog.LevelError
		}
		if !s.log.Enabled(r.Context(), level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("uuid", truncate(in.UUID, 64)),
			slog.String("from", s.logNumber(orRaw(from, in.From))),
			slog.String("to", s.logNumber(orRaw(to, in.To))),
			slog.String("decision", decision),
			slog.Duration("duration", time.Since(start)),
		}
		if reason != "" {
			attrs = append(attrs, slog.String("reason", reason))
		}
		if callErr != nil {
			attrs = append(attrs, slog.String("err", callErr.Error()))
		}
		s.log.LogAttrs(r.Context(), level, "answer", attrs...)
	}()

	in, err := decodeAnswer(r, body)
	if err != nil {
		reason = "malformed request"
		return s.ncco.notInService
	}
	if in.From == "" || in.To == "" {
		reason = "missing from or to"
		return s.ncco.notInService
	}
	f, err := s.callers.canonical(in.From)
	if err != nil {
		reason = "from is not a phone number"
		return s.ncco.notInService
	}
	t, err := s.proxies.canonical(in.To)
	if err != nil {
		reason = "to is not a phone number"
		return s.ncco.notInService
	}
	from, to = f, t

	ctx, cancel := context.WithTimeout(r.Context(), answerTimeout)
	defer cancel()
	rt, err := s.Router.Answer(ctx, maskcall.InboundCall{UUID: in.UUID, ConversationUUID: in.ConversationUUID, From: from, To: to})
	if err != nil {
		reason, callErr = "store error", err
		return s.ncco.notInService
	}
	if rt == nil {
		reason = "no active conversation"
		return s.ncco.notInService
	}
	proxy, ok1 := msisdn(rt.Callee.ProxyNumber)
	number, ok2 := msisdn(rt.Callee.Number)
	if !ok1 || !ok2 {
		reason, callErr = "bad route", errors.New("the route's callee numbers are not E.164")
		return s.ncco.notInService
	}
	decision = decisionConnect
	var eventURL string
	if s.ncco.connectTail == nil {
		eventURL = requestEventURL(r)
	}
	return s.ncco.connectNCCO(proxy, number, eventURL)
}

// decodeAnswer reads an answer request's fields from its JSON body (POST)
// or its query (GET). (A function of its own so that only a POST's fields
// escape to the heap.)
func decodeAnswer(r *http.Request, body []byte) (answerRequest, error) {
	if r.Method == http.MethodPost {
		var in answerRequest
		err := json.Unmarshal(body, &in)
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

// requestEventURL derives the event webhook's URL from the request when no
// PublicURL is configured; "" if the Host header is unusable.
func requestEventURL(r *http.Request) string {
	if !validHost(r.Host) {
		return ""
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		p, _, _ = strings.Cut(p, ",")
		switch p = strings.ToLower(strings.TrimSpace(p)); p {
		case "http", "https":
			scheme = p
		}
	}
	return scheme + "://" + r.Host + "/webhooks/event"
}

// readBody reads a webhook's body up to MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, &http.MaxBytesError{Limit: MaxBodyBytes}
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
}

// payload returns what Vonage hashed for r's signature.
func (s *Server) payload(r *http.Request, body []byte) ([]byte, error) {
	if r.Method == http.MethodPost {
		return body, nil
	}
	return signature.QueryPayload(r.URL.RawQuery)
}

// refuse answers a request whose signature failed: 503 if it was unsigned
// (Vonage retries, signed), 401 otherwise; an empty body either way.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, webhook string, err error) {
	status := http.StatusUnauthorized
	if errors.Is(err, errUnsigned) {
		status = http.StatusServiceUnavailable
	}
	s.log.LogAttrs(r.Context(), slog.LevelWarn, webhook+" refused",
		slog.Int("status", status), slog.String("reason", err.Error()))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
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
