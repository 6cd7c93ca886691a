package vonage

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

func TestNewConfig(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c.restURL != DefaultRestURL || c.apiURL != DefaultAPIURL || c.timeout != DefaultTimeout || c.hc.Timeout != DefaultTimeout {
		t.Fatalf("defaults: %q %q %s", c.restURL, c.apiURL, c.timeout)
	}
	for _, cfg := range []Config{
		{RestURL: "rest.nexmo.com"},
		{RestURL: "ftp://rest.nexmo.com"},
		{APIURL: "https://api.nexmo.com?x=1"},
		{APIURL: "https://user:pw@api.nexmo.com"},
		{APIURL: "://"},
		{Timeout: -time.Second},
	} {
		_, err := New(cfg)
		wantCode(t, err, maskcall.ECONFIG)
	}
}

func TestNewCopiesHTTPClient(t *testing.T) {
	var trips atomic.Int32
	f := newFake(t, replyJSON(200, `{"count":0}`))
	mine := &http.Client{Timeout: time.Hour, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		trips.Add(1)
		return http.DefaultTransport.RoundTrip(r)
	})}
	c := newTestClient(t, f.URL, func(c *Config) { c.HTTPClient = mine; c.Timeout = 3 * time.Second })
	if _, err := c.OwnedNumbers(ctx, maskcall.OwnedNumbersFilter{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SearchNumbers(ctx, maskcall.NumberSearch{Country: "GB"}); err != nil {
		t.Fatal(err)
	}
	if trips.Load() != 2 {
		t.Fatalf("custom transport used %d times, want 2", trips.Load())
	}
	if mine.Timeout != time.Hour || mine.CheckRedirect != nil {
		t.Fatal("New changed the caller's http.Client")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestBaseURLs checks where each API's requests go: Numbers and SMS under
// RestURL, Number Insight and Voice under APIURL, with a path prefix kept and
// a trailing slash ignored.
func TestBaseURLs(t *testing.T) {
	_, pemKey := testRSAKey(t)
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
		switch {
		case strings.HasSuffix(s.Path, "/sms/json"):
			replyJSON(200, `{"message-count":"1","messages":[{"message-id":"X","status":"0"}]}`)(w, r, s)
		case strings.Contains(s.Path, "/ni/"):
			replyJSON(200, `{"status":0,"international_format_number":"447700900000","country_code":"GB"}`)(w, r, s)
		case strings.Contains(s.Path, "/v1/calls/"):
			w.WriteHeader(204)
		default:
			replyJSON(200, `{"error-code":"200","count":0}`)(w, r, s)
		}
	})
	c := newTestClient(t, f.URL, func(c *Config) {
		c.RestURL = f.URL + "/rest/"
		c.APIURL = f.URL + "/api/"
		c.ApplicationID = testAppID
		c.PrivateKey = pemKey
	})
	const n = "+447700900123"
	for _, err := range []error{
		first(c.SearchNumbers(ctx, maskcall.NumberSearch{Country: "GB"})),
		c.BuyNumber(ctx, "GB", n),
		c.LinkNumber(ctx, "GB", n, testAppID),
		c.CancelNumber(ctx, "GB", n),
		first(c.OwnedNumbers(ctx, maskcall.OwnedNumbersFilter{})),
		first(c.SendSMS(ctx, n, "+447700900000", "hi")),
		first(c.BasicInsight(ctx, n)),
		c.HangupCall(ctx, testCallUUID),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	var paths []string
	for _, r := range f.requests() {
		paths = append(paths, r.Method+" "+r.Path)
	}
	want := []string{
		"GET /rest/number/search",
		"POST /rest/number/buy",
		"POST /rest/number/update",
		"POST /rest/number/cancel",
		"GET /rest/account/numbers",
		"POST /rest/sms/json",
		"GET /api/ni/basic/json",
		"PUT /api/v1/calls/" + testCallUUID,
	}
	if strings.Join(paths, "\n") != strings.Join(want, "\n") {
		t.Fatalf("paths:\n%s\nwant:\n%s", strings.Join(paths, "\n"), strings.Join(want, "\n"))
	}
}

func first[T any](_ T, err error) error { return err }

// every runs each operation against c, for the tests of timeouts and
// cancellation, which must hold for SDK-made and direct calls alike.
func every(c *Client) map[string]func(context.Context) error {
	const n = "+447700900123"
	return map[string]func(context.Context) error{
		"search (sdk)": func(ctx context.Context) error {
			return first(c.SearchNumbers(ctx, maskcall.NumberSearch{Country: "GB"}))
		},
		"buy":           func(ctx context.Context) error { return c.BuyNumber(ctx, "GB", n) },
		"link (sdk)":    func(ctx context.Context) error { return c.LinkNumber(ctx, "GB", n, testAppID) },
		"cancel":        func(ctx context.Context) error { return c.CancelNumber(ctx, "GB", n) },
		"owned":         func(ctx context.Context) error { return first(c.OwnedNumbers(ctx, maskcall.OwnedNumbersFilter{})) },
		"sms":           func(ctx context.Context) error { return first(c.SendSMS(ctx, n, "+447700900000", "hi")) },
		"insight (sdk)": func(ctx context.Context) error { return first(c.BasicInsight(ctx, n)) },
		"hangup":        func(ctx context.Context) error { return c.HangupCall(ctx, testCallUUID) },
	}
}

// stall is a server that answers nothing until the client gives up.
func stall(t *testing.T, headersFirst bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if headersFirst {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(200)
			io.WriteString(w, `{"count":`)
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestTimeout(t *testing.T) {
	_, pemKey := testRSAKey(t)
	for _, headersFirst := range []bool{false, true} {
		srv := stall(t, headersFirst)
		c := newTestClient(t, srv.URL, func(c *Config) {
			c.Timeout = 50 * time.Millisecond
			c.ApplicationID = testAppID
			c.PrivateKey = pemKey
		})
		for name, call := range every(c) {
			start := time.Now()
			err := call(ctx)
			if d := time.Since(start); d > time.Second {
				t.Fatalf("%s (headers first %v) took %s", name, headersFirst, d)
			}
			wantCode(t, err, maskcall.EUNAVAILABLE)
		}
	}
}

func TestContextCancellation(t *testing.T) {
	_, pemKey := testRSAKey(t)
	srv := stall(t, false)
	c := newTestClient(t, srv.URL, func(c *Config) {
		c.Timeout = 10 * time.Second // cancellation, not the timeout, must end the calls
		c.ApplicationID = testAppID
		c.PrivateKey = pemKey
	})
	for name, call := range every(c) {
		cctx, cancel := context.WithCancel(ctx)
		time.AfterFunc(30*time.Millisecond, cancel)
		start := time.Now()
		err := call(cctx)
		if d := time.Since(start); d > time.Second {
			t.Fatalf("%s took %s after cancellation", name, d)
		}
		wantCode(t, err, maskcall.EUNAVAILABLE)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: %v does not wrap context.Canceled", name, err)
		}

		dctx, dcancel := context.WithTimeout(ctx, 30*time.Millisecond)
		err = call(dctx)
		dcancel()
		wantCode(t, err, maskcall.EUNAVAILABLE)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: %v does not wrap context.DeadlineExceeded", name, err)
		}
	}

	// Already cancelled: nothing is sent.
	f := newFake(t, replyJSON(200, `{"error-code":"200"}`))
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	wantCode(t, newTestClient(t, f.URL).BuyNumber(cctx, "GB", "+447700900123"), maskcall.EUNAVAILABLE)
	if n := len(f.requests()); n != 0 {
		t.Fatalf("cancelled call sent %d requests", n)
	}
}

func TestUnreachable(t *testing.T) {
	_, pemKey := testRSAKey(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens there now
	c := newTestClient(t, base, func(c *Config) { c.ApplicationID = testAppID; c.PrivateKey = pemKey })
	for name, call := range every(c) {
		err := call(ctx)
		wantCode(t, err, maskcall.EUNAVAILABLE) // also checks the secret is not shown
		if !strings.Contains(maskcall.ErrorMessage(err), base) {
			t.Fatalf("%s: message does not name %s: %v", name, base, err)
		}
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	elsewhere := newFake(t, replyJSON(200, `{"error-code":"200"}`))
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, _ seen) {
		http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusFound)
	})
	err := newTestClient(t, f.URL).BuyNumber(ctx, "GB", "+447700900123")
	wantCode(t, err, maskcall.EUNAVAILABLE) // a buy with an unclear outcome
	_, err = newTestClient(t, f.URL).SearchNumbers(ctx, maskcall.NumberSearch{Country: "GB"})
	wantCode(t, err, maskcall.EUPSTREAM)
	if n := len(elsewhere.requests()); n != 0 {
		t.Fatalf("redirect followed: credentials went elsewhere %d times", n)
	}
}

func TestSecretEchoedInReplyIsScrubbed(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
		w.Header().Set("X-Request-Id", "id-"+s.Query.Get("api_secret"))
		replyJSON(420, `{"error-code":"420","error-code-label":"bad secret `+s.Query.Get("api_secret")+`"}`)(w, r, s)
	})
	err := newTestClient(t, f.URL).BuyNumber(ctx, "GB", "+447700900123")
	wantCode(t, err, maskcall.EUPSTREAM) // wantCode fails if the secret shows
}
