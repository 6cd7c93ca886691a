package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// ncco is a decoded NCCO, for assertions.
type ncco []struct {
	Action   string `json:"action"`
	Text     string `json:"text"`
	Language string `json:"language"`
	Style    *int   `json:"style"`
	From     string `json:"from"`
	Endpoint []struct {
		Type   string `json:"type"`
		Number string `json:"number"`
	} `json:"endpoint"`
	EventURL []string `json:"eventUrl"`
	Limit    *int     `json:"limit"`
}

func decodeNCCO(t *testing.T, rec *httptest.ResponseRecorder) ncco {
	t.Helper()
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d, want 200; body %q", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q, want application/json", ct)
	}
	var n ncco
	if err := json.Unmarshal(rec.Body.Bytes(), &n); err != nil {
		t.Fatalf("reply is not an NCCO: %v: %q", err, rec.Body.String())
	}
	return n
}

// wantConnect checks a connect NCCO: talk, then connect to number showing from.
// eventURLBase is a connect eventUrl without its query, which must hold the
// call parameter and nothing else.
func eventURLBase(t *testing.T, eventURL string) string {
	t.Helper()
	base, query, _ := strings.Cut(eventURL, "?")
	q, err := url.ParseQuery(query)
	if err != nil || len(q) != 1 || len(q[callParam]) != 1 {
		t.Errorf("connect.eventUrl %s: the query is not one %s parameter", eventURL, callParam)
	}
	return base
}

// eventURLCall is the call a connect eventUrl names.
func eventURLCall(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	n := decodeNCCO(t, rec)
	if len(n) != 2 || len(n[1].EventURL) != 1 {
		t.Fatalf("NCCO = %s, want talk then connect with one eventUrl", rec.Body.String())
	}
	u, err := url.Parse(n[1].EventURL[0])
	if err != nil {
		t.Fatal(err)
	}
	return u.Query().Get(callParam)
}

func wantConnect(t *testing.T, rec *httptest.ResponseRecorder, from, number, eventURL string, limit int) {
	t.Helper()
	n := decodeNCCO(t, rec)
	if len(n) != 2 || n[0].Action != "talk" || n[1].Action != "connect" {
		t.Fatalf("NCCO = %s, want talk then connect", rec.Body.String())
	}
	if n[0].Text != DefaultConnectText || n[0].Language != "en-GB" || n[0].Style == nil || *n[0].Style != 0 {
		t.Errorf("talk = %+v", n[0])
	}
	c := n[1]
	if c.From != from {
		t.Errorf("connect.from = %q, want %q", c.From, from)
	}
	if len(c.Endpoint) != 1 || c.Endpoint[0].Type != "phone" || c.Endpoint[0].Number != number {
		t.Errorf("connect.endpoint = %+v, want phone %s", c.Endpoint, number)
	}
	if eventURL == "" {
		if c.EventURL != nil {
			t.Errorf("connect.eventUrl = %v, want none", c.EventURL)
		}
	} else if len(c.EventURL) != 1 || eventURLBase(t, c.EventURL[0]) != eventURL {
		t.Errorf("connect.eventUrl = %v, want [%s?call=…]", c.EventURL, eventURL)
	}
	if c.Limit == nil || *c.Limit != limit {
		t.Errorf("connect.limit = %v, want %d", c.Limit, limit)
	}
}

// wantNotInService checks the reply is the talk-only NCCO.
func wantNotInService(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	n := decodeNCCO(t, rec)
	if len(n) != 1 || n[0].Action != "talk" || n[0].Text != DefaultNotInServiceText {
		t.Fatalf("NCCO = %s, want not-in-service talk only", rec.Body.String())
	}
}

func answerQuery(from, to, uuid string) string {
	v := url.Values{}
	v.Set("to", to)
	v.Set("from", from)
	v.Set("uuid", uuid)
	v.Set("conversation_uuid", "CON-"+uuid)
	return v.Encode()
}

func answerJSON(from, to, uuid string) string {
	b, _ := json.Marshal(map[string]string{"to": to, "from": from, "uuid": uuid, "conversation_uuid": "CON-" + uuid,
		"region_url": "https://api-eu-1.vonage.com"})
	return string(b)
}

func TestAnswerConnectsKnownPair(t *testing.T) {
	const eventURL = "https://maskcall.example/webhooks/event"
	tests := []struct {
		name, method, path, from, to string
		wantFrom, wantNumber         string
	}{
		{"GET A to B", "GET", "/proxy-call", "447700900001", "447700900101", "447700900102", "447700900002"},
		{"GET B to A", "GET", "/webhooks/answer", "447700900002", "447700900102", "447700900101", "447700900001"},
		{"POST A to B", "POST", "/webhooks/answer", "447700900001", "447700900101", "447700900102", "447700900002"},
		{"POST B to A", "POST", "/proxy-call", "447700900002", "447700900102", "447700900101", "447700900001"},
		{"GET with plus", "GET", "/proxy-call", "+447700900001", "+447700900101", "447700900102", "447700900002"},
		{"POST with plus", "POST", "/proxy-call", "+447700900002", "+447700900102", "447700900101", "447700900001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{})
			var rec *httptest.ResponseRecorder
			if tt.method == "GET" {
				rec = e.get(tt.path + "?" + answerQuery(tt.from, tt.to, "UUID-1") + "&region_url=https%3A%2F%2Fapi-eu-1.vonage.com")
			} else {
				rec = e.post(tt.path, answerJSON(tt.from, tt.to, "UUID-1"))
			}
			wantConnect(t, rec, tt.wantFrom, tt.wantNumber, eventURL, 3600)
			c := e.store.calls["UUID-1"]
			if c == nil {
				t.Fatal("the call was not recorded")
			}
			if c.From != "+"+tt.from[len(tt.from)-12:] || c.ConversationUUID != "CON-UUID-1" || c.Status != "started" {
				t.Errorf("call = %+v", c)
			}
		})
	}
}

func TestAnswerConfig(t *testing.T) {
	e := newTestEnv(t, Config{PublicURL: "https://tunnel.example/base/", MaxCallLength: 2 * time.Hour,
		ConnectText: "Connecting <you> & them.", Language: "de-DE", Style: 2})
	rec := e.get("/proxy-call?" + answerQuery("447700900001", "447700900101", "U"))
	n := decodeNCCO(t, rec)
	if n[0].Text != "Connecting <you> & them." || n[0].Language != "de-DE" || *n[0].Style != 2 {
		t.Errorf("talk = %+v", n[0])
	}
	if got := n[1].EventURL; len(got) != 1 || got[0] != "https://tunnel.example/base/webhooks/event?call=U" {
		t.Errorf("eventUrl = %v", got)
	}
	if *n[1].Limit != 7200 {
		t.Errorf("limit = %d", *n[1].Limit)
	}
}

// TestAnswerEventURLFromConfigOnly: nothing of the request reaches the
// eventUrl (a signed request with Host: evil.example once got
// https://evil.example:443/webhooks/event).
func TestAnswerEventURLFromConfigOnly(t *testing.T) {
	e := newTestEnv(t, Config{SignatureSecret: testSecret, PublicURL: "https://calls.example.com"})
	for i, host := range []string{"evil.example", "evil.example:443", "127.0.0.1:8080"} {
		req := signedGET(t, "/webhooks/answer?"+answerQuery("447700900001", "447700900101", fmt.Sprint("U-", i)), hs256(t, testSecret, testNow))
		req.Host = host
		req.Header.Set("X-Forwarded-Proto", "http")
		req.Header.Set("X-Forwarded-Host", "evil.example")
		rec := e.do(req)
		wantConnect(t, rec, "447700900102", "447700900002", "https://calls.example.com/webhooks/event", 3600)
		if strings.Contains(rec.Body.String(), "evil") {
			t.Errorf("Host %s reached the reply: %s", host, rec.Body)
		}
	}
}

// TestAnswerNamesCallInEventURL: the connect action's eventUrl names the
// call by its uuid, escaped, so the outbound leg's events find it (and a
// uuid cannot add parameters or break the JSON); a forwarded stranger's
// call, which is not recorded, names none.
func TestAnswerNamesCallInEventURL(t *testing.T) {
	e := newTestEnv(t, Config{OutOfSessionForward: "+447700900999"})
	for _, uuid := range []string{"63f61863-4a51-4f6b-86e1-46edebcf9356", `a&b=c d+e/"f"\g`, ""} {
		rec := e.get("/webhooks/answer?" + answerQuery("447700900001", "447700900101", uuid))
		if got := eventURLCall(t, rec); got != uuid {
			t.Errorf("uuid %q: eventUrl names %q", uuid, got)
		}
	}
	rec := e.get("/webhooks/answer?" + answerQuery("447700900003", "447700900101", "U-STRANGER"))
	if got := eventURLCall(t, rec); got != "" {
		t.Errorf("forwarded call: eventUrl names %q, want nothing", got)
	}
}

// mustServer builds another server over e's store.
func mustServer(t *testing.T, e *testEnv, cfg Config) *Handler {
	t.Helper()
	if cfg.PublicURL == "" {
		cfg.PublicURL = "https://maskcall.example"
	}
	srv, err := New(e.srv.Router, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.now = e.srv.now
	srv.log = e.srv.log
	return srv
}

func TestAnswerNotInService(t *testing.T) {
	huge := `{"to":"447700900101","from":"447700900001","uuid":"U","pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	tests := []struct {
		name   string
		method string
		target string
		body   string
		setup  func(*fakeStore)
	}{
		{"stranger", "GET", "/proxy-call?" + answerQuery("447700900003", "447700900101", "U"), "", nil},
		{"stranger POST", "POST", "/webhooks/answer", answerJSON("447700900003", "447700900102", "U"), nil},
		{"caller dials the wrong proxy", "GET", "/proxy-call?" + answerQuery("447700900001", "447700900102", "U"), "", nil},
		{"ended conversation", "GET", "/proxy-call?" + answerQuery("447700900001", "447700900101", "U"), "", func(f *fakeStore) {
			f.conversations[0].Status = maskcall.ConversationEnded
		}},
		{"expired conversation", "GET", "/proxy-call?" + answerQuery("447700900001", "447700900101", "U"), "", func(f *fakeStore) {
			exp := testNow.Add(-time.Second)
			f.conversations[0].ExpiresAt = &exp
		}},
		{"missing from", "GET", "/proxy-call?to=447700900101&uuid=U", "", nil},
		{"missing to", "POST", "/proxy-call", `{"from":"447700900001","uuid":"U"}`, nil},
		{"no fields", "GET", "/proxy-call", "", nil},
		{"empty body", "POST", "/proxy-call", "", nil},
		{"malformed JSON", "POST", "/proxy-call", `{"from":`, nil},
		{"JSON array", "POST", "/proxy-call", `["447700900001"]`, nil},
		{"numbers as JSON numbers", "POST", "/proxy-call", `{"from":447700900001,"to":447700900101}`, nil},
		{"bad escape", "GET", "/proxy-call?from=%zz&to=447700900101", "", nil},
		{"letters", "GET", "/proxy-call?" + answerQuery("hello", "447700900101", "U"), "", nil},
		{"too short", "GET", "/proxy-call?" + answerQuery("12", "447700900101", "U"), "", nil},
		{"too long", "GET", "/proxy-call?" + answerQuery(strings.Repeat("4", 100), "447700900101", "U"), "", nil},
		{"SQL in from", "GET", "/proxy-call?" + answerQuery("447700900001' OR '1'='1", "447700900101", "U"), "", nil},
		{"SQL in to", "POST", "/proxy-call", answerJSON("447700900001", "447700900101; DROP TABLE calls;--", "U"), nil},
		{"Arabic-Indic digits", "GET", "/proxy-call?" + answerQuery("٤٤٧٧٠٠٩٠٠٠٠١", "447700900101", "U"), "", nil},
		{"fullwidth digits", "POST", "/proxy-call", answerJSON("447700900001", "４４７７００９００１０１", "U"), nil},
		{"huge body", "POST", "/proxy-call", huge, nil},
		{"store error", "GET", "/proxy-call?" + answerQuery("447700900001", "447700900101", "U"), "", func(f *fakeStore) {
			f.err = errors.New("database is locked")
		}},
		{"store panics", "GET", "/proxy-call?" + answerQuery("447700900001", "447700900101", "U"), "", func(f *fakeStore) {
			f.panicMsg = "boom"
		}},
		{"store panics POST", "POST", "/webhooks/answer", answerJSON("447700900002", "447700900102", "U"), func(f *fakeStore) {
			f.panicMsg = "boom"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{})
			if tt.setup != nil {
				tt.setup(e.store)
			}
			var req *http.Request
			if tt.method == "GET" {
				req = httptest.NewRequest("GET", tt.target, nil)
			} else {
				req = httptest.NewRequest("POST", tt.target, strings.NewReader(tt.body))
			}
			wantNotInService(t, e.do(req))
			if len(e.store.calls) != 0 {
				t.Errorf("calls recorded: %v", e.store.calls)
			}
		})
	}
}

// A store that cannot be reached (PostgreSQL restarting) gets 503, so
// Vonage retries and then uses the fallback answer URL: never "not in
// service" for a caller who may be legitimate, never a connect.
func TestAnswerStoreUnavailable(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			e := newTestEnv(t, Config{})
			e.store.err = &maskcall.Error{Code: maskcall.ESTORE, Message: "The database could not be reached."}
			var req *http.Request
			if method == "GET" {
				req = httptest.NewRequest("GET", "/webhooks/answer?"+answerQuery("447700900001", "447700900101", "U"), nil)
			} else {
				req = httptest.NewRequest("POST", "/webhooks/answer", strings.NewReader(answerJSON("447700900001", "447700900101", "U")))
			}
			rec := e.do(req)
			if rec.Code != http.StatusServiceUnavailable || rec.Body.Len() != 0 {
				t.Fatalf("answer with the store unreachable: HTTP %d %q, want an empty 503", rec.Code, rec.Body.String())
			}
			if !e.store.reached() {
				t.Error("the store was never asked")
			}
		})
	}
}

func TestAnswerHugeBodyOfUnknownLength(t *testing.T) {
	e := newTestEnv(t, Config{})
	body := unknownLengthBody{strings.NewReader(strings.Repeat(" ", 2*MaxBodyBytes) + answerJSON("447700900001", "447700900101", "U"))}
	req := httptest.NewRequest("POST", "/proxy-call", body)
	if req.ContentLength != -1 {
		t.Fatalf("ContentLength = %d", req.ContentLength)
	}
	wantNotInService(t, e.do(req))
	if e.store.reached() {
		t.Error("an oversized answer request reached the store")
	}
}

func TestAnswerLogsMaskNumbers(t *testing.T) {
	e := newTestEnv(t, Config{})
	wantConnect(t, e.get("/proxy-call?"+answerQuery("447700900001", "447700900101", "UUID-LOG")),
		"447700900102", "447700900002", "https://maskcall.example/webhooks/event", 3600)
	wantNotInService(t, e.get("/proxy-call?"+answerQuery("447700900003", "447700900101", "UUID-LOG2")))
	logs := e.logs.String()
	for _, n := range []string{"447700900001", "447700900101", "447700900003", "447700900002", "447700900102"} {
		if strings.Contains(logs, n) {
			t.Errorf("logs show %s in full:\n%s", n, logs)
		}
	}
	for _, want := range []string{`"decision":"connect"`, `"decision":"not_in_service"`, `"uuid":"UUID-LOG"`,
		`"from":"+44*******001"`, `"duration":`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}

	e = newTestEnv(t, Config{LogPII: true})
	e.get("/proxy-call?" + answerQuery("447700900001", "447700900101", "U"))
	if logs := e.logs.String(); !strings.Contains(logs, `"from":"+447700900001"`) {
		t.Errorf("LogPII logs lack the full number:\n%s", logs)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newTestEnv(t, Config{})
	for _, tt := range []struct{ method, path string }{
		{"PUT", "/proxy-call"}, {"DELETE", "/webhooks/answer"}, {"HEAD", "/proxy-call?" + answerQuery("447700900001", "447700900101", "U")},
		{"PATCH", "/event"}, {"PUT", "/webhooks/event"}, {"HEAD", "/webhooks/event"},
	} {
		rec := e.do(httptest.NewRequest(tt.method, tt.path, strings.NewReader("{}")))
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s = %d, want 405", tt.method, tt.path, rec.Code)
		}
		if rec.Header().Get("Allow") == "" {
			t.Errorf("%s %s: no Allow header", tt.method, tt.path)
		}
	}
	if e.store.reached() {
		t.Error("a refused method reached the store")
	}
	for _, p := range []string{"/", "/debug/pprof/", "/proxy-call/", "/webhooks", "/_sandbox/calls"} {
		if rec := e.get(p); rec.Code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", p, rec.Code)
		}
	}
}

func TestAnswerIgnoresExtraFields(t *testing.T) {
	e := newTestEnv(t, Config{})
	body := `{"to":"447700900101","from":"447700900001","uuid":"U-X","conversation_uuid":"CON-X",
		"region_url":"https://api-us-3.vonage.com","custom_data":{"ref":"abc","n":[1,2]}}`
	wantConnect(t, e.post("/webhooks/answer", body), "447700900102", "447700900002", "https://maskcall.example/webhooks/event", 3600)
	q := "/proxy-call?custom_data=%7B%22ref%22%3A%22abc%22%7D&" + answerQuery("447700900001", "447700900101", "U-Y") + "&to=447700900003"
	// The first "to" counts, as with url.Values.Get.
	wantConnect(t, e.get(q), "447700900102", "447700900002", "https://maskcall.example/webhooks/event", 3600)
}

func TestProxyCache(t *testing.T) {
	var c proxyCache
	for _, bad := range []string{"", "abc", "12", strings.Repeat("9", 30)} {
		if _, err := c.e164(bad); err == nil {
			t.Errorf("e164(%q) did not fail", bad)
		}
	}
	if len(c.m) != 0 {
		t.Errorf("bad numbers cached: %v", c.m)
	}
	for _, in := range []string{"447700900101", "+447700900101", "447700900101"} {
		if got, err := c.e164(in); err != nil || got != proxyA {
			t.Errorf("e164(%q) = %q, %v", in, got, err)
		}
	}
	if len(c.m) != 2 {
		t.Errorf("cache = %v", c.m)
	}
	for i := range proxyCacheSize + 10 {
		if _, err := c.e164(fmt.Sprintf("4420%08d", 70000000+i)); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.m) == 0 || len(c.m) > proxyCacheSize {
		t.Errorf("cache grew to %d", len(c.m))
	}
}
