package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/api/apitest"
	"github.com/maskcall/maskcall/internal/sandbox"
)

var apiKeyRE = regexp.MustCompile(`^mk_[a-z2-7]{40}$`)

// makeAPIKey runs `apikey create` and returns the key it printed.
func makeAPIKey(t *testing.T, e *testEnv, name string, extra ...string) string {
	t.Helper()
	out := runOK(t, e, append([]string{"apikey", "create", "--name", name}, extra...)...)
	key := strings.TrimSpace(out)
	if !apiKeyRE.MatchString(key) {
		t.Fatalf("apikey create printed %q, want a key mk_ + 40 base32 characters", out)
	}
	return key
}

var apiURLRE = regexp.MustCompile(`API: (http://\S+)/v1/`)

// apiURL is where serve says its API listens.
func (p *serveProc) apiURL(t *testing.T) string {
	t.Helper()
	var m []string
	// The line follows "listening on", which startServe waited for.
	eventually(t, 10*time.Second, "serve prints its API URL", func() bool {
		m = apiURLRE.FindStringSubmatch(p.stderr.String())
		return m != nil
	})
	return m[1]
}

// A backend with only an API key creates, lists, inspects, re-notifies and
// ends (hanging up) conversations through serve's API, against the
// sandbox; every response is checked against the OpenAPI document.
func TestAPI_EndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	key := makeAPIKey(t, e, "backend")
	roKey := makeAPIKey(t, e, "reporting", "--read-only")
	srv := startServe(t, e)
	base := srv.apiURL(t)
	if base != srv.URL {
		t.Fatalf("API at %s, want the webhook listener %s by default", base, srv.URL)
	}
	c := apitest.New(t, base, key)

	// Create, texting both participants, with an idempotent retry.
	body := map[string]any{
		"participants": []map[string]string{{"number": "+44 7700 900123", "label": "driver"}, {"number": "07700 900456", "label": "rider"}},
		"country":      "GB", "ref": "ride-42", "ttl": "2h",
	}
	r := c.Do("POST", "/v1/conversations", body, "Idempotency-Key", "ride-42-create")
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s\nserve:\n%s", r.Status, r.Body, srv.stderr.String())
	}
	var conv struct {
		conversation
		Notifications []struct {
			Position      int
			Label, Status string
		} `json:"notifications"`
	}
	r.JSON(t, &conv)
	if conv.Status != "active" || conv.Participants[1].Number != "+447700900456" || len(conv.Notifications) != 2 ||
		conv.Notifications[0].Status != "sent" || conv.Notifications[1].Status != "sent" {
		t.Fatalf("created %s", r.Body)
	}
	if n := len(requestsTo(e.SB, "POST /sms/json")); n != 2 {
		t.Fatalf("%d texts sent, want 2", n)
	}
	again := c.Do("POST", "/v1/conversations", body, "Idempotency-Key", "ride-42-create")
	if again.Status != http.StatusCreated || string(again.Body) != string(r.Body) {
		t.Fatalf("retried create: %d %s, want the first response", again.Status, again.Body)
	}
	if n := len(requestsTo(e.SB, "POST /sms/json")); n != 2 {
		t.Fatalf("the retry texted again: %d texts", n)
	}
	if got := listConversations(t, e, "all"); len(got) != 1 {
		t.Fatalf("%d conversations after a retried create, want 1", len(got))
	}
	other := map[string]any{"participants": []map[string]string{{"number": "+447700900123"}, {"number": "+447700900789"}}}
	if r := c.Do("POST", "/v1/conversations", other, "Idempotency-Key", "ride-42-create"); r.Status != 422 || r.Problem(t).Code != "idempotency_key_reused" {
		t.Fatalf("reused key: %d %s", r.Status, r.Body)
	}

	// The CLI sees what the API made: the same object.
	shown := runJSON[conversation](t, e, "conversation", "show", conv.ID, "-o", "json")
	if shown.ID != conv.ID || shown.Participants[0].ProxyNumber != conv.Participants[0].ProxyNumber {
		t.Fatalf("CLI shows %+v", shown)
	}

	// List and inspect, with the read-only key too.
	ro := c.WithKey(roKey)
	for _, cl := range []*apitest.Client{c, ro} {
		r := cl.Do("GET", "/v1/conversations?status=active&ref=ride-42&limit=10", nil)
		if r.Status != 200 || !strings.Contains(string(r.Body), conv.ID) {
			t.Fatalf("list: %d %s", r.Status, r.Body)
		}
	}
	if r := ro.Do("POST", "/v1/conversations/"+conv.ID+"/end", nil); r.Status != 403 || r.Problem(t).Code != "forbidden" {
		t.Fatalf("read-only end: %d %s", r.Status, r.Body)
	}
	if r := c.WithKey("").Do("GET", "/v1/numbers", nil); r.Status != 401 {
		t.Fatalf("no key: %d %s", r.Status, r.Body)
	}
	r = c.Do("GET", "/v1/numbers", nil)
	var pool struct {
		Numbers []struct {
			Number              string `json:"number"`
			ActiveConversations int    `json:"active_conversations"`
		} `json:"numbers"`
	}
	r.JSON(t, &pool)
	if r.Status != 200 || len(pool.Numbers) != 2 || pool.Numbers[0].ActiveConversations+pool.Numbers[1].ActiveConversations != 1 {
		t.Fatalf("numbers: %d %s", r.Status, r.Body)
	}

	// Notify again.
	r = c.Do("POST", "/v1/conversations/"+conv.ID+"/notify", nil)
	if r.Status != 200 || strings.Count(string(r.Body), `"sent"`) != 2 {
		t.Fatalf("notify: %d %s", r.Status, r.Body)
	}
	if n := len(requestsTo(e.SB, "POST /sms/json")); n != 4 {
		t.Fatalf("%d texts after notify, want 4", n)
	}

	// A call in progress, then end with hangup.
	a := conv.Participants[0]
	res, err := e.SB.SimulateCall(t.Context(), sandbox.CallRequest{
		From: digits(a.Number), To: digits(a.ProxyNumber),
		AnswerURL: srv.URL + "/webhooks/answer", EventURL: srv.URL + "/webhooks/event", KeepOpen: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	assertConnected(t, res, conv.Participants[1].Number, conv.Participants[1].ProxyNumber)
	r = c.Do("GET", "/v1/conversations/"+conv.ID, nil)
	var withCalls conversation
	r.JSON(t, &withCalls)
	if r.Status != 200 || len(withCalls.Calls) != 1 || withCalls.Calls[0].UUID != res.UUID || withCalls.Calls[0].Status != "answered" {
		t.Fatalf("get with calls: %d %s", r.Status, r.Body)
	}
	r = c.Do("POST", "/v1/conversations/"+conv.ID+"/end", `{"hangup":true}`)
	if r.Status != 200 || !strings.Contains(string(r.Body), `"hung_up":["`+res.UUID+`"]`) || !strings.Contains(string(r.Body), `"status":"ended"`) {
		t.Fatalf("end with hangup: %d %s", r.Status, r.Body)
	}
	if puts := requestsTo(e.SB, "PUT /v1/calls/"+res.UUID); len(puts) != 1 {
		t.Fatalf("Voice API hangups %+v, want one", puts)
	}
	// Ending again changes nothing; the next call is not connected.
	if r := c.Do("POST", "/v1/conversations/"+conv.ID+"/end", nil); r.Status != 200 {
		t.Fatalf("second end: %d %s", r.Status, r.Body)
	}
	assertNotInService(t, srv.call(t, e, a.Number, a.ProxyNumber, "GET"))
	if r := c.Do("POST", "/v1/conversations/"+conv.ID+"/notify", nil); r.Status != 409 {
		t.Fatalf("notify an ended conversation: %d %s", r.Status, r.Body)
	}

	// Revoked: 401 at once, from another process's revoke.
	runOK(t, e, "apikey", "revoke", "reporting", "--yes")
	if r := ro.Do("GET", "/v1/numbers", nil); r.Status != 401 {
		t.Fatalf("revoked key: %d %s", r.Status, r.Body)
	}
	// Keys never reach serve's log.
	if logs := srv.stderr.String(); strings.Contains(logs, key) || strings.Contains(logs, roKey) {
		t.Fatalf("serve logged an API key:\n%s", logs)
	}
}

// `apikey list` shows names, prefixes and use, never the key; revoke asks
// for --yes without a terminal.
func TestAPIKeyCommands(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := makeAPIKey(t, e, "backend")
	out := runJSON[[]map[string]any](t, e, "apikey", "list", "-o", "json")
	if len(out) != 1 || out[0]["name"] != "backend" || out[0]["prefix"] != key[:11] || out[0]["last_used_at"] != nil || out[0]["read_only"] != false {
		t.Fatalf("apikey list: %+v", out)
	}
	if s := fmt.Sprint(out); strings.Contains(s, key) || strings.Contains(s, "hash") {
		t.Fatalf("apikey list shows the key: %s", s)
	}
	_, line := runFail(t, e, 1, "apikey", "create", "--name", "backend")
	if !strings.Contains(line, "already exists") {
		t.Fatalf("duplicate name: %q", line)
	}
	runFail(t, e, 2, "apikey", "revoke", "backend") // no terminal, no --yes
	if got := runJSON[[]map[string]any](t, e, "apikey", "list", "-o", "json"); len(got) != 1 {
		t.Fatalf("a refused revoke revoked: %+v", got)
	}
	runOK(t, e, "apikey", "revoke", "backend", "--yes")
	if got := runJSON[[]map[string]any](t, e, "apikey", "list", "-o", "json"); len(got) != 0 {
		t.Fatalf("after revoke: %+v", got)
	}
	if got := runJSON[[]map[string]any](t, e, "apikey", "list", "--all", "-o", "json"); len(got) != 1 || got[0]["revoked_at"] == nil {
		t.Fatalf("list --all after revoke: %+v", got)
	}
	_, line = runFail(t, e, 1, "apikey", "revoke", "backend", "--yes")
	if !strings.Contains(line, "No API key") {
		t.Fatalf("revoke twice: %q", line)
	}
}

// --api-listen puts the API on a listener of its own, away from the
// webhooks; --no-api serves none.
func TestAPI_Listeners(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key := makeAPIKey(t, e, "backend")
	srv := startServe(t, e, "--api-listen", "127.0.0.1:0")
	base := srv.apiURL(t)
	if base == srv.URL {
		t.Fatalf("--api-listen: API on the webhook listener %s", base)
	}
	if r := apitest.New(t, base, key).Do("GET", "/v1/numbers", nil); r.Status != 200 {
		t.Fatalf("API on its own listener: %d %s", r.Status, r.Body)
	}
	resp, err := http.Get(srv.URL + "/v1/numbers")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("webhook listener answered /v1/numbers with %d, want 404", resp.StatusCode)
	}
	srv.stop()

	off := startServe(t, e, "--no-api")
	if strings.Contains(off.stderr.String(), "API:") {
		t.Fatalf("--no-api still reports an API:\n%s", off.stderr.String())
	}
	resp, err = http.Get(off.URL + "/v1/numbers")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("--no-api answered /v1/numbers with %d, want 404", resp.StatusCode)
	}
}

// An idempotent create acknowledged by a serve that is then SIGKILLed is
// replayed, not repeated, by the next serve: the record is on disk.
func TestAPI_IdempotencySurvivesCrash(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "1")
	key := makeAPIKey(t, e, "backend")
	body := `{"participants":[{"number":"+447700900123"},{"number":"+447700900456"}],"notify":false,"insight":"none"}`

	first := startServe(t, e)
	r1 := apitest.New(t, first.apiURL(t), key).Do("POST", "/v1/conversations", body, "Idempotency-Key", "job-7")
	if r1.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r1.Status, r1.Body)
	}
	first.kill()

	second := startServe(t, e)
	r2 := apitest.New(t, second.apiURL(t), key).Do("POST", "/v1/conversations", body, "Idempotency-Key", "job-7")
	if r2.Status != http.StatusCreated || string(r2.Body) != string(r1.Body) || r2.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry after the crash: %d %s, want the first response %s replayed", r2.Status, r2.Body, r1.Body)
	}
	if got := listConversations(t, e, "all"); len(got) != 1 {
		t.Fatalf("%d conversations after a retry across a crash, want 1", len(got))
	}
}

// The demo ends its conversation through the API, as a backend would.
func TestAPI_Demo(t *testing.T) {
	t.Parallel()
	out := runOK(t, newEnv(t), "demo")
	if !regexp.MustCompile(`POST /v1/conversations/cv_\w+/end  \(Authorization: Bearer mk_\w+…\)\n  200 OK: status ended \(ended\)`).MatchString(out) {
		t.Fatalf("the demo does not end its conversation through the API:\n%s", out)
	}
}
