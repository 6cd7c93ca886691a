package webhook

// Fuzz targets for the webhook server. Their seed corpora live in
// testdata/fuzz/<FuzzName>/ and run as unit tests under plain `go test`;
// fuzz one with e.g.
//
//	go test -run='^$' -fuzz='^FuzzAnswerQuery$' -fuzztime=30s ./internal/webhook/

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/phone"
)

// lookupRecorder wraps a RouteStore and records what it was asked.
type lookupRecorder struct {
	maskcall.RouteStore
	mu   sync.Mutex
	asks [][2]string
}

func (l *lookupRecorder) FindRoute(ctx context.Context, from, to string, now time.Time) (*maskcall.Route, error) {
	l.mu.Lock()
	l.asks = append(l.asks, [2]string{from, to})
	l.mu.Unlock()
	return l.RouteStore.FindRoute(ctx, from, to, now)
}

// fuzzEnv is a test env whose logs go nowhere (but are still built, so the
// logging code sees the fuzzed input) and whose route lookups are recorded.
type fuzzEnv struct {
	*testEnv
	lookups *lookupRecorder
}

func newFuzzEnv(t *testing.T, cfg Config) *fuzzEnv {
	t.Helper()
	cfg.Logger = slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e := newTestEnv(t, cfg)
	l := &lookupRecorder{RouteStore: e.store}
	e.srv.Router.Routes = l
	return &fuzzEnv{testEnv: e, lookups: l}
}

// knownPair reports whether a caller from number from dialling to is
// Alice or Bob calling their proxy number (after normalisation, as Vonage's
// MSISDNs are normalised), and if so what the connect NCCO must say.
func knownPair(from, to string) (connectFrom, connectNumber string, ok bool) {
	f, err := phone.FromMSISDN(from)
	if err != nil {
		return "", "", false
	}
	p, err := phone.FromMSISDN(to)
	if err != nil {
		return "", "", false
	}
	switch {
	case f.E164 == numA && p.E164 == proxyA:
		return proxyB[1:], numB[1:], true
	case f.E164 == numB && p.E164 == proxyB:
		return proxyA[1:], numA[1:], true
	}
	return "", "", false
}

// checkAnswerReply checks what every answer reply must be: 200 with an
// NCCO that is either exactly the not-in-service NCCO or the connect NCCO
// of a known pair, after at most one route lookup. It reports whether the
// reply connects.
func checkAnswerReply(t *testing.T, e *fuzzEnv, rec *httptest.ResponseRecorder, from, to string) bool {
	t.Helper()
	n := decodeNCCO(t, rec) // 200, application/json, a JSON array of actions
	if len(e.lookups.asks) > 1 {
		t.Fatalf("%d route lookups for one answer request: %v", len(e.lookups.asks), e.lookups.asks)
	}
	if len(n) == 0 || n[len(n)-1].Action != "connect" {
		wantNotInService(t, rec)
		return false
	}
	wantFrom, wantNumber, ok := knownPair(from, to)
	if !ok {
		t.Fatalf("connected a caller that is not a known pair (from %q to %q): %s", from, to, rec.Body.String())
	}
	wantConnect(t, rec, wantFrom, wantNumber, "https://maskcall.example/webhooks/event", 3600)
	if len(e.lookups.asks) != 1 {
		t.Fatalf("connected without a route lookup")
	}
	ask := e.lookups.asks[0]
	if f, _ := phone.FromMSISDN(from); ask[0] != f.E164 {
		t.Fatalf("looked up from %q, want %q", ask[0], f.E164)
	}
	if p, _ := phone.FromMSISDN(to); ask[1] != p.E164 {
		t.Fatalf("looked up to %q, want %q", ask[1], p.E164)
	}
	return true
}

// FuzzAnswerQuery sends GET /webhooks/answer with any raw query to an
// unsigned server. The reply is always 200 with an NCCO; it connects if
// and only if the query's from and to (as url.ParseQuery reads them) are a
// known pair. Where url.ParseQuery finds an error (semicolons, bad
// escapes) the server may refuse to connect, but must never connect anyone
// else.
func FuzzAnswerQuery(f *testing.F) {
	f.Fuzz(func(t *testing.T, rawQuery string) {
		e := newFuzzEnv(t, Config{})
		req := httptest.NewRequest(http.MethodGet, "/webhooks/answer", nil)
		req.URL.RawQuery = rawQuery
		q, qerr := url.ParseQuery(rawQuery)
		from, to := q.Get("from"), q.Get("to")
		connected := checkAnswerReply(t, e, e.do(req), from, to)
		if _, _, known := knownPair(from, to); known && !connected && qerr == nil {
			t.Fatalf("a known pair (from %q to %q) was not connected", from, to)
		}
		if !connected && len(e.store.calls) != 0 {
			t.Fatalf("calls recorded without a connect: %v", e.store.calls)
		}
	})
}

// answerProbe is how the answer webhook's JSON body is read (encoding/json's
// rules: keys matched case-insensitively, the last duplicate wins, a field
// of the wrong type is an error).
type answerProbe struct {
	To               string `json:"to"`
	From             string `json:"from"`
	UUID             string `json:"uuid"`
	ConversationUUID string `json:"conversation_uuid"`
}

// FuzzAnswerJSON is FuzzAnswerQuery for POST /webhooks/answer with a JSON
// body: it connects if and only if the body is a JSON object whose from and
// to are a known pair.
func FuzzAnswerJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		e := newFuzzEnv(t, Config{})
		req := httptest.NewRequest(http.MethodPost, "/webhooks/answer", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		var in answerProbe
		err := json.Unmarshal(body, &in)
		connected := checkAnswerReply(t, e, e.do(req), in.From, in.To)
		_, _, known := knownPair(in.From, in.To)
		if want := known && err == nil && len(body) <= MaxBodyBytes; connected != want {
			t.Fatalf("connected = %v, want %v (from %q to %q, decode error %v)", connected, want, in.From, in.To, err)
		}
		if connected && in.UUID != "" {
			if c := e.store.calls[in.UUID]; c == nil || c.ConversationUUID != in.ConversationUUID {
				t.Fatalf("call %q not recorded: %v", in.UUID, e.store.calls)
			}
		}
	})
}

// FuzzEvent sends any body to POST /webhooks/event, and the same bytes as
// the raw query of GET /webhooks/event. The reply is 204, 400 or (POST
// only) 413. A 204 means the router got exactly one event with a known
// status and a uuid or conversation_uuid, or that the event has no status
// at all (transfer, input, ... events, which are ignored as documented).
// Anything else never reaches the router.
func FuzzEvent(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		e := newFuzzEnv(t, Config{})
		req := httptest.NewRequest(http.MethodPost, "/webhooks/event", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := e.do(req)
		var probe struct {
			Status *string `json:"status"`
		}
		decodeErr := json.Unmarshal(body, &probe)
		noStatus := decodeErr == nil && (probe.Status == nil || *probe.Status == "")
		checkEventReply(t, e, rec, noStatus, len(body) > MaxBodyBytes)

		e = newFuzzEnv(t, Config{})
		req = httptest.NewRequest(http.MethodGet, "/webhooks/event", nil)
		req.URL.RawQuery = string(body)
		rec = e.do(req)
		q, qerr := url.ParseQuery(string(body))
		checkEventReply(t, e, rec, qerr == nil && q.Get("status") == "", false)
	})
}

func checkEventReply(t *testing.T, e *fuzzEnv, rec *httptest.ResponseRecorder, noStatus, tooBig bool) {
	t.Helper()
	if rec.Body.Len() != 0 {
		t.Fatalf("event reply has a body: %q", rec.Body.String())
	}
	if e.store.findRoutes+e.store.createCalls != 0 {
		t.Fatal("an event made a route lookup or created a call")
	}
	switch rec.Code {
	case http.StatusNoContent:
		if tooBig {
			t.Fatal("an oversized event was accepted")
		}
		if e.store.recordEvents == 0 {
			if !noStatus {
				t.Fatal("204 for an event with a status that never reached the router")
			}
			return
		}
		if e.store.recordEvents != 1 || len(e.store.events) != 1 {
			t.Fatalf("the router got %d events", e.store.recordEvents)
		}
		ev := e.store.events[0]
		if !maskcall.IsCallStatus(ev.Status) || (ev.UUID == "" && ev.ConversationUUID == "") {
			t.Fatalf("the router got an invalid event: %+v", ev)
		}
		if ev.Timestamp.IsZero() || ev.Duration < 0 {
			t.Fatalf("the router got an event without a time or with a negative duration: %+v", ev)
		}
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		if rec.Code == http.StatusRequestEntityTooLarge && !tooBig {
			t.Fatal("413 for a body within the limit")
		}
		if e.store.recordEvents != 0 {
			t.Fatalf("a refused event (%d) reached the router", rec.Code)
		}
	default:
		t.Fatalf("status %d, want 204, 400 or 413", rec.Code)
	}
}

// FuzzSignature sends a token that is not Vonage's (random, forged,
// signed with another secret or algorithm, stale, or for other bytes) with
// a body to a signed-mode server: as POST answer, POST event and as the raw
// query of GET answer. Every request is refused, 401 (503 without a token),
// with an empty body, and never reaches the router. The one exception is an
// answer body over the size limit, which gets the not-in-service NCCO
// unverified (there is nothing to verify it against), still without
// reaching the router.
//
// The seeds contain no valid token for their body; the fuzzer cannot make
// one without the secret.
func FuzzSignature(f *testing.F) {
	f.Fuzz(func(t *testing.T, token string, body []byte) {
		e := newFuzzEnv(t, Config{SignatureSecret: testSecret})
		want := http.StatusUnauthorized
		if token == "" {
			want = http.StatusServiceUnavailable
		}
		sign := func(req *http.Request) *http.Request {
			if token != "" {
				req.Header["Authorization"] = []string{"Bearer " + token}
			}
			return req
		}
		check := func(what string, rec *httptest.ResponseRecorder, want int) {
			t.Helper()
			if rec.Code != want {
				t.Fatalf("%s: status %d, want %d; body %q", what, rec.Code, want, rec.Body.String())
			}
			if want != http.StatusOK && rec.Body.Len() != 0 {
				t.Fatalf("%s: refusal has a body: %q", what, rec.Body.String())
			}
			if e.store.reached() || len(e.lookups.asks) != 0 {
				t.Fatalf("%s: a request with a bad signature reached the router", what)
			}
		}

		rec := e.do(sign(httptest.NewRequest(http.MethodPost, "/webhooks/answer", bytes.NewReader(body))))
		if len(body) > MaxBodyBytes {
			wantNotInService(t, rec)
			check("POST answer", rec, http.StatusOK)
		} else {
			check("POST answer", rec, want)
		}

		rec = e.do(sign(httptest.NewRequest(http.MethodPost, "/webhooks/event", bytes.NewReader(body))))
		if len(body) > MaxBodyBytes {
			check("POST event", rec, http.StatusRequestEntityTooLarge)
		} else {
			check("POST event", rec, want)
		}

		req := httptest.NewRequest(http.MethodGet, "/webhooks/answer", nil)
		req.URL.RawQuery = string(body)
		check("GET answer", e.do(sign(req)), want)
	})
}
