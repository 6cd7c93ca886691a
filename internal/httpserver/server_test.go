package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServerLifecycle(t *testing.T) {
	s := New("127.0.0.1:0")
	s.Handle("GET /healthz", Health())
	if s.URL() != "" || s.Port() != 0 {
		t.Fatal("URL or Port set before Listen")
	}
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	if s.Port() == 0 || !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL %q port %d", s.URL(), s.Port())
	}
	if code, body := get(t, s.URL()+"/healthz"); code != 200 || body != `{"status":"ok"}`+"\n" {
		t.Errorf("healthz = %d %q", code, body)
	}
	if code, _ := get(t, s.URL()+"/nope"); code != 404 {
		t.Errorf("unknown path = %d", code)
	}
	h := s.HTTPServer()
	if h.ReadHeaderTimeout != DefaultTimeouts.ReadHeader || h.ReadTimeout != DefaultTimeouts.Read ||
		h.WriteTimeout != DefaultTimeouts.Write || h.IdleTimeout != DefaultTimeouts.Idle || h.MaxHeaderBytes != DefaultMaxHeaderBytes {
		t.Errorf("timeouts = %v %v %v %v %d", h.ReadHeaderTimeout, h.ReadTimeout, h.WriteTimeout, h.IdleTimeout, h.MaxHeaderBytes)
	}

	// A busy port fails at Listen, at once, with a coded error.
	other := New("127.0.0.1:" + strconv.Itoa(s.Port()))
	other.Name = "webhooks"
	start := time.Now()
	err := other.Listen()
	if maskcall.ErrorCode(err) != maskcall.ECONFIG || !strings.Contains(err.Error(), "webhooks server cannot listen") {
		t.Errorf("Listen on a busy port = %v", err)
	}
	if time.Since(start) > time.Second {
		t.Errorf("Listen on a busy port took %s", time.Since(start))
	}
	if err := s.Listen(); maskcall.ErrorCode(err) != maskcall.ECONFLICT {
		t.Errorf("second Listen = %v", err)
	}

	url := s.URL()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Error("still answering after Close")
	}
	if s.URL() != "" {
		t.Error("URL set after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// TestListenBeforeServe: between Listen and Serve the address is bound (the
// port is known, so handlers can be built from it) and requests wait.
func TestListenBeforeServe(t *testing.T) {
	s := New("127.0.0.1:0")
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := s.URL()
	s.Handle("GET /where", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, base) }))
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/where")
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	select {
	case g := <-got:
		t.Fatalf("answered before Serve: %q", g)
	case <-time.After(50 * time.Millisecond):
	}
	if err := s.Serve(); err != nil {
		t.Fatal(err)
	}
	select {
	case g := <-got:
		if g != base {
			t.Errorf("got %q, want %q", g, base)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer after Serve")
	}
}

// TestCloseWaitsForRequests: a request in flight when Close is called
// completes; a new connection is refused.
func TestCloseWaitsForRequests(t *testing.T) {
	s := New("127.0.0.1:0")
	entered, release := make(chan struct{}), make(chan struct{})
	s.Handle("GET /slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		<-release
		io.WriteString(w, "done")
	}))
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	url := s.URL()
	res := make(chan string, 1)
	go func() {
		resp, err := http.Get(url + "/slow")
		if err != nil {
			res <- "error: " + err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- string(b)
	}()
	<-entered
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if g := <-res; g != "done" {
		t.Errorf("request in flight got %q", g)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close = %v", err)
	}
}

// TestShutdownTimeout: a request that does not finish is cut after
// Timeouts.Shutdown and Close reports it.
func TestShutdownTimeout(t *testing.T) {
	s := New("127.0.0.1:0")
	s.Timeouts.Shutdown = 100 * time.Millisecond
	entered := make(chan struct{})
	block := make(chan struct{})
	defer close(block)
	s.Handle("GET /stuck", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(entered)
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	go func() {
		if resp, err := http.Get(s.URL() + "/stuck"); err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	start := time.Now()
	err := s.Close()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want the shutdown deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close took %s", d)
	}
}

// TestGroup: several listeners, each with its own mux; a port in use on
// one leaves none listening.
func TestGroup(t *testing.T) {
	hooks, metrics := New("127.0.0.1:0"), New("127.0.0.1:0")
	hooks.Handle("GET /webhooks/answer", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ncco") }))
	metrics.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "m 1") }))
	g := Group{hooks, metrics}
	if err := g.Open(); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, hooks.URL()+"/webhooks/answer"); code != 200 || body != "ncco" {
		t.Errorf("hooks = %d %q", code, body)
	}
	if code, _ := get(t, hooks.URL()+"/metrics"); code != 404 {
		t.Errorf("metrics on the webhook listener = %d, want 404", code)
	}
	if code, body := get(t, metrics.URL()+"/metrics"); code != 200 || body != "m 1" {
		t.Errorf("metrics = %d %q", code, body)
	}
	if code, _ := get(t, metrics.URL()+"/webhooks/answer"); code != 404 {
		t.Errorf("webhooks on the metrics listener = %d, want 404", code)
	}

	// A second group whose second address is taken: its first server must
	// not be left listening.
	first := New("127.0.0.1:0")
	busy := New(metrics.ListenAddr().String())
	if err := (Group{first, busy}).Open(); maskcall.ErrorCode(err) != maskcall.ECONFIG {
		t.Errorf("Open with a busy port = %v", err)
	}
	if first.URL() != "" {
		t.Error("first server left listening")
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if hooks.URL() != "" || metrics.URL() != "" {
		t.Error("listening after Close")
	}
}

func TestLimitBody(t *testing.T) {
	var read int
	var readErr error
	h := Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		read, readErr = len(b), err
	}), LimitBody(10))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader("0123456789")))
	if rec.Code != 200 || read != 10 || readErr != nil {
		t.Errorf("10 bytes: %d, read %d, %v", rec.Code, read, readErr)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader("0123456789a")))
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("declared 11 bytes: %d", rec.Code)
	}
	// An undeclared length is cut while reading.
	req := httptest.NewRequest("POST", "/", io.MultiReader(strings.NewReader("0123456789a")))
	req.ContentLength = -1
	read, readErr = 0, nil
	h.ServeHTTP(httptest.NewRecorder(), req)
	if _, ok := errors.AsType[*http.MaxBytesError](readErr); !ok {
		t.Errorf("undeclared 11 bytes: read %d, err %v", read, readErr)
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) Middleware {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { order = append(order, "h") }), mw("a"), mw("b")).
		ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if strings.Join(order, ",") != "a,b,h" {
		t.Errorf("order = %v", order)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:3000": true, "127.0.0.2:0": true, "[::1]:3000": true, "localhost:3000": true,
		":3000": false, "0.0.0.0:3000": false, "[::]:3000": false, "10.0.0.1:3000": false,
		"example.com:3000": false, "127.0.0.1": false, "": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// TestProblemTable: every code maskcall defines (read from the domain's
// error.go, so a new code cannot be forgotten) has its own row, and the
// rows are those the platform API promises.
func TestProblemTable(t *testing.T) {
	src, err := os.ReadFile("../maskcall/error.go")
	if err != nil {
		t.Fatal(err)
	}
	codes := regexp.MustCompile(`(?m)^\s+E[A-Z]+\s+= "([a-z_]+)"`).FindAllStringSubmatch(string(src), -1)
	if len(codes) < 10 {
		t.Fatalf("found only %d codes in error.go", len(codes))
	}
	for _, m := range codes {
		if _, ok := problems[m[1]]; !ok {
			t.Errorf("code %q has no HTTP status", m[1])
		}
	}
	for code, want := range map[string]int{
		maskcall.EINVALID: 400, maskcall.EINVALIDNUMBER: 422, maskcall.ENOTFOUND: 404, maskcall.ECONFLICT: 409,
		maskcall.EEXHAUSTED: 409, maskcall.EUNAUTHORIZED: 401, maskcall.EFORBIDDEN: 403, maskcall.ERATELIMITED: 429,
		maskcall.EVONAGEAUTH: 502, maskcall.EUPSTREAM: 502, maskcall.EUNAVAILABLE: 503, maskcall.ESTORE: 503,
		maskcall.EINTERNAL: 500, "no_such_code": 500, "": 200,
	} {
		if got := StatusOf(code); got != want {
			t.Errorf("StatusOf(%q) = %d, want %d", code, got, want)
		}
	}
	if got := ErrorStatus(errors.New("boom")); got != 500 {
		t.Errorf("uncoded error = %d", got)
	}
	if got := ErrorStatus(maskcall.Errorf(maskcall.EEXHAUSTED, "x")); got != 409 {
		t.Errorf("pool_exhausted = %d", got)
	}
	if p := ProblemOf(maskcall.ENOTFOUND); p.Type != "urn:maskcall:problem:not_found" || p.Title == "" {
		t.Errorf("ProblemOf(not_found) = %+v", p)
	}
}

func TestWriteProblem(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteProblem(rec, maskcall.Errorf(maskcall.EEXHAUSTED, "No number of the pool fits."))
	var got map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if rec.Code != 409 || rec.Header().Get("Content-Type") != "application/problem+json" ||
		got["type"] != "urn:maskcall:problem:pool_exhausted" || got["code"] != "pool_exhausted" ||
		got["status"] != float64(409) || got["detail"] != "No number of the pool fits." {
		t.Errorf("problem = %d %s", rec.Code, rec.Body)
	}
	// Internal errors say nothing of the internals.
	rec = httptest.NewRecorder()
	WriteProblem(rec, errors.New("open /var/lib/secret.db: permission denied"))
	if rec.Code != 500 || strings.Contains(rec.Body.String(), "secret") || !strings.Contains(rec.Body.String(), `"code":"internal"`) {
		t.Errorf("internal problem = %d %s", rec.Code, rec.Body)
	}
}
