package vonage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

const (
	testKey    = "abcd1234"
	testSecret = "Sup3rS3cretValue0123"
)

// seen is a request as the fake Vonage received it.
type seen struct {
	Method string
	Path   string
	Query  url.Values
	Body   string
	Header http.Header
}

// Form parses the body as application/x-www-form-urlencoded.
func (s seen) Form(t *testing.T) url.Values {
	t.Helper()
	if ct := s.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		t.Fatalf("Content-Type = %q, want application/x-www-form-urlencoded", ct)
	}
	v, err := url.ParseQuery(s.Body)
	if err != nil {
		t.Fatalf("body %q is not a form: %v", s.Body, err)
	}
	return v
}

// fake is a stand-in Vonage: it records requests and answers with reply.
type fake struct {
	*httptest.Server
	mu    sync.Mutex
	reqs  []seen
	reply func(w http.ResponseWriter, r *http.Request, s seen)
}

func newFake(t *testing.T, reply func(w http.ResponseWriter, r *http.Request, s seen)) *fake {
	t.Helper()
	f := &fake{reply: reply}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s := seen{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Body: string(body), Header: r.Header.Clone()}
		f.mu.Lock()
		f.reqs = append(f.reqs, s)
		f.mu.Unlock()
		f.reply(w, r, s)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fake) requests() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.reqs...)
}

// only returns the one request the fake received.
func (f *fake) only(t *testing.T) seen {
	t.Helper()
	reqs := f.requests()
	if len(reqs) != 1 {
		t.Fatalf("fake got %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// replyJSON answers with status and a JSON body.
func replyJSON(status int, body string) func(http.ResponseWriter, *http.Request, seen) {
	return func(w http.ResponseWriter, _ *http.Request, _ seen) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func newTestClient(t *testing.T, base string, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		APIKey:    testKey,
		APISecret: testSecret,
		RestURL:   base,
		APIURL:    base,
		Timeout:   2 * time.Second,
		// Retries do not wait in tests; retry_test.go records the waits.
		Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// wantCode checks err's maskcall code and that nothing in its chain shows
// the API secret.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := maskcall.ErrorCode(err); got != code {
		t.Fatalf("ErrorCode = %q, want %q (err: %v)", got, code, err)
	}
	noSecret(t, err)
	// SHOW_ERRORS=1 go test -v logs every checked error, to review wording.
	if os.Getenv("SHOW_ERRORS") != "" {
		var e *maskcall.Error
		errors.As(err, &e)
		t.Logf("%s | %s | hint: %s | cause: %v", code, e.Message, e.Hint, e.Err)
	}
}

// noSecret checks every error in err's chain, and its formatted forms.
func noSecret(t *testing.T, err error) {
	t.Helper()
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		for _, s := range []string{e.Error(), fmt.Sprintf("%v", e), fmt.Sprintf("%+v", e), fmt.Sprintf("%#v", e)} {
			if strings.Contains(s, testSecret) {
				t.Fatalf("error shows the API secret: %s", s)
			}
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	if m := maskcall.ErrorMessage(err); strings.Contains(m, testSecret) {
		t.Fatalf("message shows the API secret: %s", m)
	}
}

// apiErr returns the *APIError cause of err.
func apiErr(t *testing.T, err error) *APIError {
	t.Helper()
	var ae *APIError
	if !errors.As(err, &ae) {
		t.Fatalf("%v has no *APIError cause", err)
	}
	return ae
}

// wantValues checks that got holds exactly want.
func wantValues(t *testing.T, what string, got url.Values, want url.Values) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func keySecret() url.Values {
	return url.Values{"api_key": {testKey}, "api_secret": {testSecret}}
}

func with(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}
