package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/api"
	"github.com/maskcall/maskcall/internal/api/apitest"
	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sqlite"
)

type env struct {
	db       *sqlite.DB
	srv      *httptest.Server
	c        *apitest.Client // a read-write key
	ro       *apitest.Client // a read-only key
	logs     *strings.Builder
	rwSecret string
}

// newEnv serves the API over real HTTP on a real SQLite file with pool
// numbers, and makes a read-write and a read-only key.
func newEnv(t *testing.T, cfg api.Config, pool ...string) *env {
	t.Helper()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "maskcall.db"))
	db.FastCommits = true // as serve opens it
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if pool == nil {
		pool = []string{"+447700900001", "+447700900002"}
	}
	for _, n := range pool {
		if err := db.CreateNumber(ctx, &maskcall.Number{Number: n, Country: "GB", Features: []string{"VOICE", "SMS"}, Status: maskcall.NumberActive}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	e := &env{db: db, logs: &strings.Builder{}}
	cfg.Service = &maskcall.ConversationService{Store: db}
	cfg.Store = db
	cfg.Logger = slog.New(slog.NewTextHandler(e.logs, nil))
	h, err := api.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	e.rwSecret = mustKey(t, db, "backend", false)
	e.c = apitest.New(t, e.srv.URL, e.rwSecret)
	e.ro = apitest.New(t, e.srv.URL, mustKey(t, db, "reporting", true))
	return e
}

func mustKey(t *testing.T, db *sqlite.DB, name string, readOnly bool) string {
	t.Helper()
	secret, k, err := maskcall.NewAPIKey(name, readOnly, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	return secret
}

// createBody is a valid create request that needs no Vonage.
func createBody(a, b string) map[string]any {
	return map[string]any{
		"participants": []map[string]string{{"number": a, "label": "driver"}, {"number": b, "label": "rider"}},
		"ref":          "ride-42", "ttl": "2h", "notify": false, "insight": "none",
	}
}

type conv struct {
	ID           string  `json:"id"`
	Ref          string  `json:"ref"`
	Status       string  `json:"status"`
	EndReason    string  `json:"end_reason"`
	ExpiresAt    *string `json:"expires_at"`
	Participants []struct {
		Number      string `json:"number"`
		ProxyNumber string `json:"proxy_number"`
		Label       string `json:"label"`
	} `json:"participants"`
	Calls []map[string]any `json:"calls"`
}

func wantStatus(t *testing.T, r *apitest.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
	}
}

func wantProblem(t *testing.T, r *apitest.Response, status int, code string) apitest.Problem {
	t.Helper()
	wantStatus(t, r, status)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	p := r.Problem(t)
	if p.Code != code || p.Status != status || !strings.HasSuffix(p.Type, ":"+code) || p.Title == "" {
		t.Fatalf("problem %+v, want code %s status %d", p, code, status)
	}
	return p
}

func TestOpenAPIDocument(t *testing.T) {
	if _, err := apitest.Document(); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	e := newEnv(t, api.Config{})
	r := e.c.WithKey("").Do("GET", "/v1/openapi.json", nil)
	wantStatus(t, r, 200)
	if string(r.Body) != string(api.OpenAPI) {
		t.Fatal("GET /v1/openapi.json is not the embedded document")
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, api.Config{})
	for name, c := range map[string]*apitest.Client{
		"none":      e.c.WithKey(""),
		"wrong":     e.c.WithKey("mk_" + strings.Repeat("a", 40)),
		"malformed": e.c.WithKey("hunter2"),
	} {
		t.Run(name, func(t *testing.T) {
			r := c.Do("GET", "/v1/conversations", nil)
			wantProblem(t, r, 401, maskcall.EUNAUTHORIZED)
			if r.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}
	t.Run("read-only", func(t *testing.T) {
		wantStatus(t, e.ro.Do("GET", "/v1/conversations", nil), 200)
		wantProblem(t, e.ro.Do("POST", "/v1/conversations", createBody("+447700900123", "+447700900456")), 403, maskcall.EFORBIDDEN)
		if n := countConversations(t, e.db); n != 0 {
			t.Fatalf("a read-only key created %d conversations", n)
		}
	})
	t.Run("revoked", func(t *testing.T) {
		wantStatus(t, e.c.Do("GET", "/v1/numbers", nil), 200)
		if _, err := e.db.RevokeAPIKey(context.Background(), "backend", time.Now()); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, e.c.Do("GET", "/v1/numbers", nil), 401, maskcall.EUNAUTHORIZED)
	})
	// Keys never reach the log.
	if strings.Contains(e.logs.String(), e.rwSecret) || strings.Contains(e.logs.String(), "mk_") {
		t.Fatalf("an API key was logged:\n%s", e.logs)
	}
	keys, _ := e.db.FindAPIKeys(context.Background(), true)
	for _, k := range keys {
		if k.Name == "backend" && k.LastUsedAt == nil {
			t.Fatal("the key's last use was not recorded")
		}
	}
}

func countConversations(t *testing.T, db *sqlite.DB) int {
	t.Helper()
	page, err := db.FindConversations(context.Background(), maskcall.ConversationFilter{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Conversations)
}

func TestConversationLifecycle(t *testing.T) {
	e := newEnv(t, api.Config{})
	r := e.c.Do("POST", "/v1/conversations", createBody("+44 7700 900123", "447700900456"))
	wantStatus(t, r, 201)
	var c conv
	r.JSON(t, &c)
	if !strings.HasPrefix(c.ID, "cv_") || c.Status != "active" || c.Ref != "ride-42" || c.ExpiresAt == nil ||
		c.Participants[0].Number != "+447700900123" || c.Participants[1].Label != "rider" || c.Participants[0].ProxyNumber == "" {
		t.Fatalf("created %s", r.Body)
	}

	r = e.c.Do("GET", "/v1/conversations/"+c.ID, nil)
	wantStatus(t, r, 200)
	var got conv
	r.JSON(t, &got)
	if got.ID != c.ID || got.Calls == nil || len(got.Calls) != 0 {
		t.Fatalf("get %s", r.Body)
	}
	wantProblem(t, e.c.Do("GET", "/v1/conversations/cv_nope", nil), 404, maskcall.ENOTFOUND)

	r = e.c.Do("POST", "/v1/conversations/"+c.ID+"/end", nil)
	wantStatus(t, r, 200)
	r.JSON(t, &got)
	if got.Status != "ended" || got.EndReason != "ended" {
		t.Fatalf("end %s", r.Body)
	}
	wantStatus(t, e.c.Do("POST", "/v1/conversations/"+c.ID+"/end", `{"hangup":false}`), 200) // idempotent
	wantProblem(t, e.c.Do("POST", "/v1/conversations/cv_nope/end", nil), 404, maskcall.ENOTFOUND)
	// Hanging up needs the Voice API, which this server has not.
	p := wantProblem(t, e.c.Do("POST", "/v1/conversations/"+c.ID+"/end", `{"hangup":true}`), 500, maskcall.ECONFIG)
	if !strings.Contains(p.Detail, "is ended") {
		t.Fatalf("detail %q does not say the conversation is ended", p.Detail)
	}
	p = wantProblem(t, e.c.Do("POST", "/v1/conversations/"+c.ID+"/notify", nil), 409, maskcall.ECONFLICT)
	if strings.Contains(p.Detail, "maskcall") || strings.Contains(p.Detail, "--") {
		t.Fatalf("detail %q speaks CLI", p.Detail)
	}
}

// A conversation's own callback URL is stored, returned by create and get
// (validated against the document), and its events are kept for it.
func TestCreateWithCallbackURL(t *testing.T) {
	e := newEnv(t, api.Config{})
	body := createBody("+447700900123", "+447700900456")
	body["callback_url"] = "https://platform.example/maskcall?job=42"
	r := e.c.Do("POST", "/v1/conversations", body)
	wantStatus(t, r, 201)
	var c struct {
		ID          string `json:"id"`
		CallbackURL string `json:"callback_url"`
	}
	r.JSON(t, &c)
	if c.CallbackURL != body["callback_url"] {
		t.Fatalf("created %s", r.Body)
	}
	r = e.c.Do("GET", "/v1/conversations/"+c.ID, nil)
	wantStatus(t, r, 200)
	r.JSON(t, &c)
	if c.CallbackURL != body["callback_url"] {
		t.Fatalf("get %s", r.Body)
	}
	cbs, err := e.db.FindCallbacks(context.Background(), maskcall.CallbackFilter{ConversationID: c.ID})
	if err != nil || len(cbs) != 1 || cbs[0].Event.Type != maskcall.EventConversationCreated || cbs[0].URL != body["callback_url"] {
		t.Fatalf("events %v, %v", cbs, err)
	}
	// Without one, the field is absent.
	r = e.c.Do("POST", "/v1/conversations", createBody("+447700900124", "+447700900457"))
	wantStatus(t, r, 201)
	if strings.Contains(string(r.Body), "callback_url") {
		t.Fatalf("created %s", r.Body)
	}
}

func TestNotify(t *testing.T) {
	e := newEnv(t, api.Config{})
	var c conv
	e.c.Do("POST", "/v1/conversations", createBody("+447700900123", "+447700900456")).JSON(t, &c)
	// This server has no SMS: each participant's text fails, and says so.
	r := e.c.Do("POST", "/v1/conversations/"+c.ID+"/notify", nil)
	wantStatus(t, r, 200)
	var out struct {
		Notifications []struct {
			Position            int
			Label, Status, Code string
		}
	}
	r.JSON(t, &out)
	if len(out.Notifications) != 2 || out.Notifications[1].Label != "rider" || out.Notifications[0].Status != "failed" || out.Notifications[0].Code != maskcall.ECONFIG {
		t.Fatalf("notify %s", r.Body)
	}
	if strings.Contains(string(r.Body), "+447700900123") {
		t.Fatalf("notify reveals a number: %s", r.Body)
	}
}

func TestCreateErrors(t *testing.T) {
	e := newEnv(t, api.Config{}, "+447700900001")
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"not JSON", `{"participants":`, 400, maskcall.EINVALID},
		{"unknown field", `{"participants":[],"colour":"red"}`, 400, maskcall.EINVALID},
		{"wrong type", `{"participants":"x"}`, 400, maskcall.EINVALID},
		{"one participant", `{"participants":[{"number":"+447700900123"}]}`, 400, maskcall.EINVALID},
		{"bad number", `{"participants":[{"number":"+44 12"},{"number":"+447700900456"}],"insight":"none","notify":false}`, 422, maskcall.EINVALIDNUMBER},
		{"bad ttl", `{"participants":[{"number":"+447700900123"},{"number":"+447700900456"}],"ttl":"soon","insight":"none"}`, 400, maskcall.EINVALID},
		{"bad insight", `{"participants":[{"number":"+447700900123"},{"number":"+447700900456"}],"insight":"deep"}`, 400, maskcall.EINVALID},
		{"no insight here", `{"participants":[{"number":"+447700900123"},{"number":"+447700900456"}],"insight":"format"}`, 500, maskcall.ECONFIG},
		{"same number", `{"participants":[{"number":"+447700900123"},{"number":"+447700900123"}],"insight":"none","notify":false}`, 400, maskcall.EINVALID},
		{"bad callback_url", `{"participants":[{"number":"+447700900123"},{"number":"+447700900456"}],"insight":"none","notify":false,"callback_url":"ftp://x/y"}`, 400, maskcall.EINVALID},
		{"relative callback_url", `{"participants":[{"number":"+447700900123"},{"number":"+447700900456"}],"insight":"none","notify":false,"callback_url":"/hooks"}`, 400, maskcall.EINVALID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := wantProblem(t, e.c.Do("POST", "/v1/conversations", tc.body), tc.status, tc.code)
			if p.Detail == "" {
				t.Fatal("no detail")
			}
		})
	}
	if n := countConversations(t, e.db); n != 0 {
		t.Fatalf("bad requests created %d conversations", n)
	}
	// A pool of one: the second conversation for the same caller has no
	// free number; the detail masks the number.
	wantStatus(t, e.c.Do("POST", "/v1/conversations", createBody("+447700900123", "+447700900456")), 201)
	p := wantProblem(t, e.c.Do("POST", "/v1/conversations", createBody("+447700900123", "+447700900789")), 409, maskcall.EEXHAUSTED)
	if strings.Contains(p.Detail, "+447700900123") || strings.Contains(p.Detail, "--") {
		t.Fatalf("detail %q", p.Detail)
	}
	big := fmt.Sprintf(`{"participants":[],"ref":%q}`, strings.Repeat("x", api.MaxBodyBytes))
	wantProblem(t, e.c.Do("POST", "/v1/conversations", big), 413, maskcall.ETOOLARGE)
}

func TestRoutes(t *testing.T) {
	e := newEnv(t, api.Config{})
	r := e.c.Do("DELETE", "/v1/conversations", nil)
	wantStatus(t, r, 405)
	if r.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("Allow %q", r.Header.Get("Allow"))
	}
	r = e.c.Do("GET", "/v1/numbers", nil)
	wantStatus(t, r, 200)
	var nums struct {
		Numbers []struct{ Number, Status string }
	}
	r.JSON(t, &nums)
	if len(nums.Numbers) != 2 || nums.Numbers[0].Number != "+447700900001" {
		t.Fatalf("numbers %s", r.Body)
	}
	wantProblem(t, e.c.Do("GET", "/v1/numbers?status=lost", nil), 400, maskcall.EINVALID)
	wantProblem(t, e.c.Do("GET", "/v1/conversations?limit=0", nil), 400, maskcall.EINVALID)
	wantProblem(t, e.c.Do("GET", "/v1/conversations?limit=1001", nil), 400, maskcall.EINVALID)
	wantProblem(t, e.c.Do("GET", "/v1/conversations?colour=red", nil), 400, maskcall.EINVALID)
}

func TestIdempotency(t *testing.T) {
	e := newEnv(t, api.Config{})
	body := createBody("+447700900123", "+447700900456")
	first := e.c.Do("POST", "/v1/conversations", body, "Idempotency-Key", "job-1")
	wantStatus(t, first, 201)
	again := e.c.Do("POST", "/v1/conversations", body, "Idempotency-Key", "job-1")
	wantStatus(t, again, 201)
	if string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("retry answered %s, first %s", again.Body, first.Body)
	}
	if n := countConversations(t, e.db); n != 1 {
		t.Fatalf("%d conversations after a retried create, want 1", n)
	}
	other := createBody("+447700900123", "+447700900789")
	wantProblem(t, e.c.Do("POST", "/v1/conversations", other, "Idempotency-Key", "job-1"), 422, maskcall.EIDEMPOTENCY)
	// Another key's Idempotency-Key of the same name is its own.
	c2 := e.c.WithKey(mustKey(t, e.db, "other", false))
	wantStatus(t, c2.Do("POST", "/v1/conversations", other, "Idempotency-Key", "job-1"), 201)
	// Errors are replayed too: a retry of a refused request is refused
	// the same way, even if it would now succeed.
	bad := `{"participants":[{"number":"+44 12"},{"number":"+447700900456"}],"insight":"none","notify":false}`
	r1 := e.c.Do("POST", "/v1/conversations", bad, "Idempotency-Key", "job-2")
	r2 := e.c.Do("POST", "/v1/conversations", bad, "Idempotency-Key", "job-2")
	if r1.Status != 422 || r2.Status != 422 || string(r1.Body) != string(r2.Body) {
		t.Fatalf("refusals %d %s / %d %s", r1.Status, r1.Body, r2.Status, r2.Body)
	}
	wantProblem(t, e.c.Do("POST", "/v1/conversations", body, "Idempotency-Key", "bad key"), 400, maskcall.EINVALID)
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, api.Config{RateLimit: 1}) // burst 2
	var last *apitest.Response
	for range 3 {
		last = e.c.Do("GET", "/v1/numbers", nil)
	}
	wantProblem(t, last, 429, maskcall.ERATELIMITED)
	if ra := last.Header.Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After %q, want 1", ra)
	}
	// Buckets are per key.
	wantStatus(t, e.ro.Do("GET", "/v1/numbers", nil), 200)
}

func TestListConversations(t *testing.T) {
	e := newEnv(t, api.Config{})
	for i := range 3 {
		wantStatus(t, e.c.Do("POST", "/v1/conversations", createBody(fmt.Sprintf("+4477009001%02d", i), fmt.Sprintf("+4477009002%02d", i))), 201)
	}
	var list struct {
		Conversations []conv `json:"conversations"`
		NextCursor    *string
	}
	r := e.c.Do("GET", "/v1/conversations?status=active&ref=ride-42", nil)
	wantStatus(t, r, 200)
	r.JSON(t, &list)
	if len(list.Conversations) != 3 {
		t.Fatalf("list %s", r.Body)
	}
	r = e.c.Do("GET", "/v1/conversations?status=ended", nil)
	r.JSON(t, &list)
	if len(list.Conversations) != 0 {
		t.Fatalf("ended %s", r.Body)
	}
}

// Paging returns every conversation exactly once, newest first, while
// more are created between pages.
func TestPaging(t *testing.T) {
	e := newEnv(t, api.Config{RateLimit: -1})
	create := func(i int) string {
		r := e.c.Do("POST", "/v1/conversations", createBody(fmt.Sprintf("+4477007%05d", i), fmt.Sprintf("+4477008%05d", i)))
		wantStatus(t, r, 201)
		var c conv
		r.JSON(t, &c)
		return c.ID
	}
	want := map[string]bool{}
	for i := range 25 {
		want[create(i)] = true
	}
	seen := map[string]int{}
	cursor, pages := "", 0
	for {
		path := "/v1/conversations?limit=7"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		r := e.c.Do("GET", path, nil)
		wantStatus(t, r, 200)
		var page struct {
			Conversations []conv  `json:"conversations"`
			NextCursor    *string `json:"next_cursor"`
		}
		r.JSON(t, &page)
		pages++
		for _, c := range page.Conversations {
			seen[c.ID]++
		}
		if pages == 1 {
			create(100) // newer than the first page: not in this listing's later pages
		}
		if page.NextCursor == nil {
			break
		}
		if len(page.Conversations) != 7 {
			t.Fatalf("page %d has %d conversations and a next cursor", pages, len(page.Conversations))
		}
		cursor = *page.NextCursor
	}
	if pages != 4 {
		t.Fatalf("%d pages of 7 for 25 conversations, want 4", pages)
	}
	for id := range want {
		if seen[id] != 1 {
			t.Fatalf("conversation %s seen %d times", id, seen[id])
		}
	}
	if len(seen) != 25 {
		t.Fatalf("saw %d conversations, want the 25 there were when paging began", len(seen))
	}
	wantProblem(t, e.c.Do("GET", "/v1/conversations?cursor=nonsense", nil), 400, maskcall.EINVALID)
	r := e.c.Do("GET", "/v1/conversations?status=expired", nil)
	wantStatus(t, r, 200)
}

// "mode" as `conversation create --mode` takes it: stored and returned,
// the default voice-and-sms when the proxies can text; a bad one is a 400
// that creates nothing.
func TestCreateMode(t *testing.T) {
	e := newEnv(t, api.Config{})
	for i, tc := range []struct{ mode, want string }{{"", "voice-and-sms"}, {"sms", "sms"}, {"VOICE", "voice"}} {
		body := createBody(fmt.Sprintf("+4477009001%02d", i), fmt.Sprintf("+4477009002%02d", i))
		if tc.mode != "" {
			body["mode"] = tc.mode
		}
		r := e.c.Do("POST", "/v1/conversations", body)
		wantStatus(t, r, 201)
		var c struct{ ID, Mode string }
		r.JSON(t, &c)
		if c.Mode != tc.want {
			t.Fatalf("mode %q: created %s", tc.mode, r.Body)
		}
		var got struct{ Mode string }
		e.c.Do("GET", "/v1/conversations/"+c.ID, nil).JSON(t, &got)
		if got.Mode != tc.want {
			t.Fatalf("mode %q: stored %q", tc.mode, got.Mode)
		}
	}
	n := countConversations(t, e.db)
	body := createBody("+447700900301", "+447700900302")
	body["mode"] = "fax"
	p := wantProblem(t, e.c.Do("POST", "/v1/conversations", body), 400, maskcall.EINVALID)
	if !strings.Contains(p.Detail, "voice, sms or voice-and-sms") || strings.Contains(p.Detail, "--") {
		t.Fatalf("detail %q", p.Detail)
	}
	if countConversations(t, e.db) != n {
		t.Fatal("a bad mode created a conversation")
	}
}

// A conversation's messages in GET: who sent each (position and label),
// parts, status and times; no number anywhere in them, and the text only
// where the server keeps texts.
func TestConversationMessages(t *testing.T) {
	e := newEnv(t, api.Config{})
	var c conv
	e.c.Do("POST", "/v1/conversations", createBody("+447700900123", "+447700900456")).JSON(t, &c)
	now := time.Now()
	a, b := c.Participants[0], c.Participants[1]
	for i, in := range []struct {
		from, to, text string
		keep           bool
	}{{a.Number, a.ProxyNumber, "I'm outside", false}, {b.Number, b.ProxyNumber, "STOP", true}} {
		if _, err := e.db.RecordInboundSMS(context.Background(), &maskcall.InboundSMS{MessageID: fmt.Sprint("vm", i),
			From: in.from, To: in.to, Text: in.text}, maskcall.InboundPolicy{StoreText: in.keep}, now.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	r := e.c.Do("GET", "/v1/conversations/"+c.ID, nil)
	wantStatus(t, r, 200)
	var got struct {
		Messages []map[string]any `json:"messages"`
	}
	r.JSON(t, &got)
	if len(got.Messages) != 2 {
		t.Fatalf("messages %s", r.Body)
	}
	m0, m1 := got.Messages[0], got.Messages[1]
	if m0["sender"] != 0.0 || m0["sender_label"] != "driver" || m0["status"] != "received" || m0["parts"] != 1.0 || m0["text"] != nil {
		t.Errorf("first message %v", m0)
	}
	if m1["sender"] != 1.0 || m1["sender_label"] != "rider" || m1["status"] != "blocked" || m1["reason"] != "opt_out" || m1["text"] != "STOP" {
		t.Errorf("second message %v", m1)
	}
	msgs, _ := json.Marshal(got.Messages)
	for _, n := range []string{a.Number, b.Number, a.ProxyNumber, b.ProxyNumber, a.Number[1:], b.Number[1:]} {
		if strings.Contains(string(msgs), n) {
			t.Errorf("messages reveal %s: %s", n, msgs)
		}
	}
}
