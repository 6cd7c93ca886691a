package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/maskcall/maskcall/internal/httpserver"
	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/phone"
)

// eventRequest is the event webhook's payload. price, rate and network
// arrive on completed events and are not kept.
type eventRequest struct {
	Status           string   `json:"status"`
	UUID             string   `json:"uuid"`
	ConversationUUID string   `json:"conversation_uuid"`
	Direction        string   `json:"direction"`
	From             string   `json:"from"`
	To               string   `json:"to"`
	Timestamp        string   `json:"timestamp"`
	Duration         duration `json:"duration"`
	StartTime        string   `json:"start_time"`
	EndTime          string   `json:"end_time"`
	// Call is the eventUrl's call parameter, which maskcall's connect
	// action sets to the inbound leg's uuid (ncco.go's callParam).
	Call string `json:"-"`
}

// duration is a whole number of seconds that Vonage sends as a string
// ("42"); a JSON number, null and "" are accepted too.
type duration int

func (d *duration) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*d = 0
		return nil
	}
	s := string(b)
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	n, err := parseDuration(s)
	*d = duration(n)
	return err
}

func parseDuration(s string) (int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("duration %q is not a whole number of seconds", truncate(s, 16))
	}
	return n, nil
}

// handleEvent serves the event webhook, behind the verify middleware.
func (h *Handler) handleEvent(w http.ResponseWriter, r *http.Request, in inbound) {
	if in.bodyErr != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](in.bodyErr); ok {
			status = http.StatusRequestEntityTooLarge
		}
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "event refused", slog.Int("status", status), slog.String("reason", "body unreadable or over 64 KiB"))
		h.obs.ObserveEvent(EventStatusInvalid, EventRefused)
		w.WriteHeader(status)
		return
	}
	w.WriteHeader(h.record(r, in.body, in.start))
}

// record parses and records an authentic event and returns the status to
// answer with.
func (h *Handler) record(r *http.Request, body []byte, start time.Time) (status int) {
	var in eventRequest
	var ev maskcall.CallEvent
	var recorded bool
	var callErr error
	reason := ""
	defer func() {
		if p := recover(); p != nil {
			status, reason, callErr = http.StatusInternalServerError, "panic", fmt.Errorf("panic: %v", p)
		}
		h.observeEvent(&in, status, recorded, reason, callErr)
		level := slog.LevelInfo
		switch {
		case status >= 500:
			level = slog.LevelError
		case status >= 400:
			level = slog.LevelWarn
		}
		if !h.log.Enabled(r.Context(), level) {
			return
		}
		attrs := []slog.Attr{
			slog.String("uuid", truncate(in.UUID, 64)),
			slog.String("conversation_uuid", truncate(in.ConversationUUID, 64)),
			slog.String("status", truncate(in.Status, 32)),
			slog.String("direction", truncate(in.Direction, 16)),
			slog.String("from", h.logNumber(orRaw(ev.From, in.From))),
			slog.String("to", h.logNumber(orRaw(ev.To, in.To))),
			slog.Bool("recorded", recorded),
			slog.Int("http_status", status),
			slog.Duration("duration", time.Since(start)),
		}
		if reason != "" {
			attrs = append(attrs, slog.String("reason", reason))
		}
		if callErr != nil {
			attrs = append(attrs, slog.String("err", callErr.Error()))
		}
		h.log.LogAttrs(r.Context(), level, "event", attrs...)
	}()

	var err error
	if r.Method == http.MethodPost {
		err = json.Unmarshal(body, &in)
		if err == nil && r.URL.RawQuery != "" {
			in.Call, err = queryCall(r.URL.RawQuery)
		}
	} else {
		in, err = parseEventQuery(r.URL.RawQuery)
	}
	if err != nil {
		reason = "malformed event: " + err.Error()
		return http.StatusBadRequest
	}
	if in.Status == "" {
		// transfer, input, record, ... events: nothing maskcall keeps.
		reason = "no status; ignored"
		return http.StatusNoContent
	}
	ev, err = h.callEvent(in)
	if err != nil {
		reason = err.Error()
		return http.StatusBadRequest
	}
	ctx, cancel := context.WithTimeout(r.Context(), eventTimeout)
	defer cancel()
	recorded, err = h.Router.RecordEvent(ctx, ev)
	if err != nil {
		status = httpserver.ErrorStatus(err)
		if status < 500 {
			reason = maskcall.ErrorMessage(err)
			return status
		}
		reason, callErr = "store error", err
		return status
	}
	if !recorded {
		reason = "no call matches"
	}
	return http.StatusNoContent
}

// callEvent checks an event's fields and turns it into the domain's form.
// Numbers that parse become E.164; others (SIP URIs, websockets, "Unknown")
// are kept as sent. A missing timestamp is the time of receipt.
func (h *Handler) callEvent(in eventRequest) (maskcall.CallEvent, error) {
	ev := maskcall.CallEvent{
		UUID: in.UUID, ConversationUUID: in.ConversationUUID, CallUUID: in.Call, Status: in.Status,
		Direction: in.Direction, From: in.From, To: in.To, Duration: int(in.Duration),
	}
	if !maskcall.IsCallStatus(in.Status) {
		return ev, fmt.Errorf("unknown status %q", truncate(in.Status, 32))
	}
	if in.UUID == "" && in.ConversationUUID == "" {
		return ev, errors.New("neither uuid nor conversation_uuid")
	}
	for _, n := range []*string{&ev.From, &ev.To} {
		if *n == "" {
			continue
		}
		if c, ok := phone.Canonical(*n); ok {
			*n = c
		} else if p, err := phone.FromMSISDN(*n); err == nil {
			*n = p.E164
		}
	}
	var err error
	if in.Timestamp == "" {
		ev.Timestamp = h.now().UTC()
	} else if ev.Timestamp, err = parseTime(in.Timestamp); err != nil {
		return ev, errors.New("timestamp is not an RFC 3339 time")
	}
	for _, f := range []struct {
		raw string
		dst **time.Time
	}{{in.StartTime, &ev.StartTime}, {in.EndTime, &ev.EndTime}} {
		if f.raw == "" {
			continue
		}
		t, err := parseTime(f.raw)
		if err != nil {
			return ev, errors.New("start_time or end_time is not an RFC 3339 time")
		}
		*f.dst = &t
	}
	return ev, nil
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	return t.UTC(), err
}

// parseEventQuery reads an event sent by GET.
func parseEventQuery(raw string) (eventRequest, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return eventRequest{}, err
	}
	in := eventRequest{
		Status: q.Get("status"), UUID: q.Get("uuid"), ConversationUUID: q.Get("conversation_uuid"),
		Direction: q.Get("direction"), From: q.Get("from"), To: q.Get("to"), Timestamp: q.Get("timestamp"),
		StartTime: q.Get("start_time"), EndTime: q.Get("end_time"), Call: q.Get(callParam),
	}
	n, err := parseDuration(q.Get("duration"))
	in.Duration = duration(n)
	return in, err
}

// queryCall reads the call parameter from a POST event's URL.
func queryCall(raw string) (string, error) {
	q, err := url.ParseQuery(raw)
	if err != nil {
		return "", fmt.Errorf("the URL's query: %w", err)
	}
	return q.Get(callParam), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
