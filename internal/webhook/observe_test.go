package webhook

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/maskcall/maskcall/internal/maskcall"
)

// recordingObserver keeps what it was told, as "kind label label".
type recordingObserver struct {
	mu  sync.Mutex
	got []string
}

func (o *recordingObserver) add(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, s)
}
func (o *recordingObserver) ObserveAnswer(outcome string, d time.Duration) {
	if d < 0 {
		outcome += " negative duration"
	}
	o.add("answer " + outcome)
}
func (o *recordingObserver) ObserveRefused(w, r string)   { o.add("refused " + w + " " + r) }
func (o *recordingObserver) ObserveEvent(s, r string)     { o.add("event " + s + " " + r) }
func (o *recordingObserver) ObserveInboundSMS(out string) { o.add("sms " + out) }
func (o *recordingObserver) ObserveStoreError(op, code string) {
	o.add("store_error " + op + " " + code)
}

func (o *recordingObserver) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	g := o.got
	o.got = nil
	return g
}

// Each answer webhook is observed once with its outcome; refusals with
// their reason from the fixed set.
func TestObserveAnswer(t *testing.T) {
	obs := &recordingObserver{}
	e := newTestEnv(t, Config{SignatureSecret: testSecret, Observer: obs})
	good := hs256(t, testSecret, testNow)
	q := func(from, to string) string { return "/webhooks/answer?" + answerQuery(from, to, "U"+testJTI()) }
	claims := func(c jwt.MapClaims) func([]byte) string {
		return func(p []byte) string {
			sum := sha256.Sum256(p)
			c["payload_hash"] = hex.EncodeToString(sum[:])
			s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(testSecret))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	replayed := signedGET(t, q("447700900001", "447700900101"), good)
	for _, c := range []struct {
		name string
		req  *http.Request
		want []string
	}{
		{"connected", signedGET(t, q("447700900001", "447700900101"), good), []string{"answer connected"}},
		{"stranger", signedGET(t, q("447700900777", "447700900101"), good), []string{"answer not_in_service"}},
		{"from not a number", signedGET(t, q("hello", "447700900101"), good), []string{"answer refused"}},
		{"unsigned", httptest.NewRequest("GET", q("447700900001", "447700900101"), nil), []string{"refused answer missing", "answer refused"}},
		{"wrong secret", signedGET(t, q("447700900001", "447700900101"), hs256(t, "another", testNow)), []string{"refused answer bad_signature", "answer refused"}},
		{"old", signedGET(t, q("447700900001", "447700900101"), hs256(t, testSecret, testNow.Add(-time.Hour))), []string{"refused answer expired", "answer refused"}},
		{"future", signedGET(t, q("447700900001", "447700900101"), hs256(t, testSecret, testNow.Add(time.Hour))), []string{"refused answer not_yet_valid", "answer refused"}},
		{"api key", signedGET(t, q("447700900001", "447700900101"), claims(jwt.MapClaims{"iat": testNow.Unix(), "jti": testJTI(), "iss": "Vonage", "api_key": "other"})), []string{"refused answer wrong_claims", "answer refused"}},
		{"tampered", withBody(signedPOST(t, "/webhooks/answer", answerJSON("447700900001", "447700900101", "U"), good), answerJSON("447700900003", "447700900101", "U")), []string{"refused answer payload_mismatch", "answer refused"}},
		{"not a bearer", func() *http.Request {
			r := httptest.NewRequest("GET", q("447700900001", "447700900101"), nil)
			r.Header.Set("Authorization", "Basic eA==")
			return r
		}(), []string{"refused answer malformed", "answer refused"}},
		{"first", replayed, []string{"answer connected"}},
		{"replayed", func() *http.Request {
			r := httptest.NewRequest("GET", q("447700900001", "447700900101"), nil) // another payload, the same token
			r.Header = replayed.Header.Clone()
			return r
		}(), []string{"refused answer payload_mismatch", "answer refused"}},
	} {
		e.do(c.req)
		if got := obs.take(); !slices.Equal(got, c.want) {
			t.Errorf("%s: observed %q, want %q", c.name, got, c.want)
		}
	}

	// The store unreachable: 503, counted as a store error too.
	e2 := newTestEnv(t, Config{Observer: obs})
	e2.store.err = &maskcall.Error{Code: maskcall.ESTORE, Message: "The database could not be reached."}
	e2.get("/webhooks/answer?" + answerQuery("447700900001", "447700900101", "U"))
	if got, want := obs.take(), []string{"store_error answer_call unavailable", "answer unavailable"}; !slices.Equal(got, want) {
		t.Errorf("store unreachable: observed %q, want %q", got, want)
	}
	e2.store.err = fmt.Errorf("disk on fire")
	e2.get("/webhooks/answer?" + answerQuery("447700900001", "447700900101", "U2"))
	if got, want := obs.take(), []string{"store_error answer_call internal", "answer error"}; !slices.Equal(got, want) {
		t.Errorf("store failing: observed %q, want %q", got, want)
	}
}

// A replayed token (the same jti and payload, past the retry allowance)
// is "replayed".
func TestObserveReplayed(t *testing.T) {
	obs := &recordingObserver{}
	e := newTestEnv(t, Config{SignatureSecret: testSecret, Observer: obs})
	req := signedGET(t, "/event?status=completed&uuid=U", hs256(t, testSecret, testNow))
	e.do(req)
	e.do(httptest.NewRequest("GET", "/webhooks/answer?"+req.URL.RawQuery, nil)) // unsigned, to clear nothing
	r := httptest.NewRequest("GET", "/webhooks/answer?"+req.URL.RawQuery, nil)
	r.Header = req.Header.Clone()
	e.do(r)
	got := obs.take()
	if !slices.Contains(got, "refused answer replayed") {
		t.Errorf("a token of the event route at the answer route: observed %q, want a replay", got)
	}
}

func TestObserveEvents(t *testing.T) {
	obs := &recordingObserver{}
	e := newTestEnv(t, Config{Observer: obs})
	e.get("/webhooks/answer?" + answerQuery("447700900001", "447700900101", "CALL1"))
	obs.take()
	for _, c := range []struct {
		body string
		want string
	}{
		{`{"status":"answered","uuid":"CALL1"}`, "event answered recorded"},
		{`{"status":"completed","uuid":"NOPE"}`, "event completed ignored"},
		{`{"uuid":"CALL1"}`, "event none ignored"},
		{`{"status":"exploded","uuid":"CALL1"}`, "event invalid refused"},
		{`not json`, "event invalid refused"},
	} {
		e.post("/webhooks/event", c.body)
		if got := obs.take(); !slices.Equal(got, []string{c.want}) {
			t.Errorf("%s: observed %q, want %q", c.body, got, c.want)
		}
	}
	e.store.err = &maskcall.Error{Code: maskcall.ESTORE, Message: "busy"}
	e.post("/webhooks/event", `{"status":"completed","uuid":"CALL1"}`)
	if got, want := obs.take(), []string{"store_error record_call_event unavailable", "event completed error"}; !slices.Equal(got, want) {
		t.Errorf("store busy: observed %q, want %q", got, want)
	}
}

// Every reason the verifiers give maps to a label of the fixed set, none
// to "other".
func TestRefusalReasonsKnown(t *testing.T) {
	for words, label := range refusalReasons {
		if !slices.Contains(RefusalReasons, label) || label == ReasonOther {
			t.Errorf("%q maps to %q", words, label)
		}
	}
	for _, l := range append(slices.Clone(RefusalReasons), AnswerOutcomes...) {
		if strings.ContainsAny(l, "0123456789") {
			t.Errorf("label %q has digits", l)
		}
	}
}
