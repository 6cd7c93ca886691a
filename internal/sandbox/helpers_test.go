package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	testKey    = "abcd1234"
	testSecret = "s3cr3t-value"
	testAppID  = "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab"
)

// testEpoch is the fixed time of the tests' clocks.
var testEpoch = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

// newTestServer starts a sandbox on a real port and returns it with its URL.
func newTestServer(t *testing.T, cfg Config) (*Sandbox, string) {
	t.Helper()
	if cfg.APIKey == "" {
		cfg.APIKey, cfg.APISecret = testKey, testSecret
	}
	sb := New(cfg)
	srv := NewServer("127.0.0.1:0", sb)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return sb, srv.URL()
}

// creds returns the test credentials plus extra parameters.
func creds(kv ...string) url.Values {
	v := url.Values{"api_key": {testKey}, "api_secret": {testSecret}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// response is a decoded reply.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("reply %d is not a JSON object: %v\n%s", r.status, err, r.body)
	}
	return m
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("reply %d: %v\n%s", r.status, err, r.body)
	}
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

// get sends GET base+path?query.
func get(t *testing.T, base, path string, query url.Values) response {
	t.Helper()
	u := base + path
	if query != nil {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return do(t, req)
}

// postForm sends a form-encoded POST.
func postForm(t *testing.T, base, path string, form url.Values) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, req)
}

// sendJSON sends v as a JSON body; headers come in pairs.
func sendJSON(t *testing.T, method, u string, v any, headers ...string) response {
	t.Helper()
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return do(t, req)
}

// wantStatus fails unless r has HTTP status code.
func wantStatus(t *testing.T, r response, code int) {
	t.Helper()
	if r.status != code {
		t.Fatalf("HTTP status = %d, want %d; body: %s", r.status, code, r.body)
	}
}

// wantNumbersReply checks a Numbers API error-code reply.
func wantNumbersReply(t *testing.T, r response, status int, code string) map[string]any {
	t.Helper()
	wantStatus(t, r, status)
	m := r.json(t)
	if m["error-code"] != code {
		t.Fatalf("error-code = %v, want %q; body: %s", m["error-code"], code, r.body)
	}
	if label, _ := m["error-code-label"].(string); label == "" {
		t.Fatalf("no error-code-label: %s", r.body)
	}
	if len(m) != 2 {
		t.Fatalf("reply has fields beyond error-code and error-code-label: %s", r.body)
	}
	return m
}

// recorder is an httptest server recording the requests it gets.
type recorder struct {
	*httptest.Server
	reqs chan recorded
}

type recorded struct {
	method   string
	path     string
	rawQuery string
	header   http.Header
	body     []byte
}

// newRecorder starts a server that records requests and answers with reply.
func newRecorder(t *testing.T, reply func(w http.ResponseWriter, r *http.Request)) *recorder {
	t.Helper()
	rec := &recorder{reqs: make(chan recorded, 100)}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.reqs <- recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body}
		r.Body = io.NopCloser(bytes.NewReader(body))
		if reply != nil {
			reply(w, r)
		}
	}))
	t.Cleanup(rec.Close)
	return rec
}

// next returns the next recorded request, failing after a while.
func (rec *recorder) next(t *testing.T) recorded {
	t.Helper()
	select {
	case r := <-rec.reqs:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no request arrived")
		return recorded{}
	}
}
