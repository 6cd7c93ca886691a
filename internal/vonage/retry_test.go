package vonage

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// waits records the delays a Client asked to sleep, without sleeping.
type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.d = append(w.d, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waits) got() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

var (
	retryKeyOnce sync.Once
	retryKey     []byte
)

// retryClient is a test client whose waits are recorded in w and whose
// jitter is the identity (the wait is the backoff's ceiling).
func retryClient(t *testing.T, base string, w *waits, mod ...func(*Config)) *Client {
	t.Helper()
	retryKeyOnce.Do(func() { _, retryKey = testRSAKey(t) })
	pemKey := retryKey
	return newTestClient(t, base, append([]func(*Config){func(c *Config) {
		c.Sleep = w.sleep
		c.Jitter = func(d time.Duration) time.Duration { return d }
		c.ApplicationID = testAppID
		c.PrivateKey = pemKey
	}}, mod...)...)
}

// sequence answers the i-th request with replies[i], and the last reply
// ever after.
func sequence(replies ...func(http.ResponseWriter, *http.Request, seen)) func(http.ResponseWriter, *http.Request, seen) {
	var n atomic.Int32
	return func(w http.ResponseWriter, r *http.Request, s seen) {
		i := min(int(n.Add(1))-1, len(replies)-1)
		replies[i](w, r, s)
	}
}

// hangUp closes the connection without answering: a network error.
func hangUp(w http.ResponseWriter, _ *http.Request, _ seen) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func withHeader(k, v string, reply func(http.ResponseWriter, *http.Request, seen)) func(http.ResponseWriter, *http.Request, seen) {
	return func(w http.ResponseWriter, r *http.Request, s seen) {
		w.Header().Set(k, v)
		reply(w, r, s)
	}
}

// retried returns each operation that is retried, made on c, with the reply
// it expects on success.
func retried(c *Client) map[string]struct {
	ok   func(http.ResponseWriter, *http.Request, seen)
	call func(context.Context) error
} {
	const n = "+447700900123"
	type entry = struct {
		ok   func(http.ResponseWriter, *http.Request, seen)
		call func(context.Context) error
	}
	numbersOK := replyJSON(200, `{"error-code":"200","count":0}`)
	return map[string]entry{
		"search": {numbersOK, func(ctx context.Context) error {
			return first(c.SearchNumbers(ctx, maskcall.NumberSearch{Country: "GB"}))
		}},
		"link":  {numbersOK, func(ctx context.Context) error { return c.LinkNumber(ctx, "GB", n, testAppID) }},
		"owned": {numbersOK, func(ctx context.Context) error { return first(c.OwnedNumbers(ctx, maskcall.OwnedNumbersFilter{})) }},
		"insight": {replyJSON(200, `{"status":0,"international_format_number":"447700900123","country_code":"GB"}`), func(ctx context.Context) error {
			return first(c.BasicInsight(ctx, n))
		}},
		"hangup": {func(w http.ResponseWriter, _ *http.Request, _ seen) { w.WriteHeader(204) }, func(ctx context.Context) error {
			return c.HangupCall(ctx, testCallUUID)
		}},
	}
}

func TestRetryThenSuccess(t *testing.T) {
	for _, first := range []struct {
		name  string
		reply func(http.ResponseWriter, *http.Request, seen)
	}{
		{"503", replyJSON(503, ``)},
		{"500", replyJSON(500, `{"title":"boom"}`)},
		{"429", replyJSON(429, ``)},
		{"connection closed", hangUp},
	} {
		for name, op := range retried(nil) {
			t.Run(first.name+"/"+name, func(t *testing.T) {
				f := newFake(t, sequence(first.reply, op.ok))
				var w waits
				c := retryClient(t, f.URL, &w)
				if err := retried(c)[name].call(ctx); err != nil {
					t.Fatal(err)
				}
				if n := len(f.requests()); n != 2 {
					t.Fatalf("%d requests, want 2", n)
				}
				if got := w.got(); len(got) != 1 || got[0] != DefaultRetryBaseDelay {
					t.Fatalf("waits %v, want [%s]", got, DefaultRetryBaseDelay)
				}
			})
		}
	}
}

func TestRetryOwnedNumbersRetriesEachPage(t *testing.T) {
	const total = 150
	var failed atomic.Bool
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
		if s.Query.Get("index") == "2" && !failed.Swap(true) {
			replyJSON(503, ``)(w, r, s)
			return
		}
		if s.Query.Get("index") == "1" {
			replyJSON(200, ownedPage(t, total, 0, 100))(w, r, s)
		} else {
			replyJSON(200, ownedPage(t, total, 100, 50))(w, r, s)
		}
	})
	got, err := retryClient(t, f.URL, &waits{}).OwnedNumbers(ctx, maskcall.OwnedNumbersFilter{})
	if err != nil || len(got) != total {
		t.Fatalf("got %d numbers, %v", len(got), err)
	}
	var idx []string
	for _, r := range f.requests() {
		idx = append(idx, r.Query.Get("index"))
	}
	if strings.Join(idx, ",") != "1,2,2" {
		t.Fatalf("pages requested %v, want 1,2,2", idx)
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		status int
		header string
		max    time.Duration
		want   time.Duration
	}{
		{429, "2", 0, 2 * time.Second},
		{503, "1", 0, time.Second},
		{429, "0", 0, 0},
		{429, "2", 1500 * time.Millisecond, 1500 * time.Millisecond},
		{429, "86400", 0, DefaultRetryMaxDelay},
		{503, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), 0, DefaultRetryMaxDelay},
		{429, time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, 0},
		// Not honoured: unparsable, or on a status other than 429/503.
		{429, "soon", 0, DefaultRetryBaseDelay},
		{500, "2", 0, DefaultRetryBaseDelay},
	} {
		f := newFake(t, sequence(withHeader("Retry-After", tc.header, replyJSON(tc.status, ``)), replyJSON(200, `{"count":0}`)))
		var w waits
		c := retryClient(t, f.URL, &w, func(c *Config) { c.RetryMaxDelay = tc.max })
		if _, err := c.SearchNumbers(ctx, maskcall.NumberSearch{Country: "GB"}); err != nil {
			t.Fatal(err)
		}
		if got := w.got(); len(got) != 1 || got[0] != tc.want {
			t.Fatalf("%d Retry-After %q: waits %v, want [%s]", tc.status, tc.header, got, tc.want)
		}
	}
}

func TestRetryGivesUp(t *testing.T) {
	// A persistent 500 on a hangup (whose outcome is then unclear).
	f := newFake(t, replyJSON(500, `{"title":"Internal Error","instance":"trace-1"}`))
	err := retryClient(t, f.URL, &waits{}).HangupCall(ctx, testCallUUID)
	wantCode(t, err, maskcall.EUNAVAILABLE)
	if n := len(f.requests()); n != DefaultRetries+1 {
		t.Fatalf("%d requests, want %d", n, DefaultRetries+1)
	}
	if m := maskcall.ErrorMessage(err); !strings.Contains(m, "after 4 attempts") || !strings.Contains(m, "HTTP 500") {
		t.Fatalf("message %q does not give the status and the attempts", m)
	}
	if ae := apiErr(t, err); ae.StatusCode != 500 || ae.RequestID != "trace-1" {
		t.Fatalf("APIError = %+v", ae)
	}

	// Each final error keeps the code it has without retries.
	for _, tc := range []struct {
		status  int
		retries int
		code    string
		tries   int
	}{
		{500, 2, maskcall.EUPSTREAM, 3}, // search: a failure, not an unknown outcome
		{503, 1, maskcall.EUNAVAILABLE, 2},
		{429, 0, maskcall.EUPSTREAM, 4},
		{503, -1, maskcall.EUNAVAILABLE, 1},
	} {
		f := newFake(t, replyJSON(tc.status, ``))
		_, err := retryClient(t, f.URL, &waits{}, func(c *Config) { c.Retries = tc.retries }).SearchNumbers(ctx, maskcall.NumberSearch{Country: "GB"})
		wantCode(t, err, tc.code)
		if n := len(f.requests()); n != tc.tries {
			t.Fatalf("HTTP %d, Retries %d: %d requests, want %d", tc.status, tc.retries, n, tc.tries)
		}
		if m := maskcall.ErrorMessage(err); strings.Contains(m, "attempts") != (tc.tries > 1) {
			t.Fatalf("HTTP %d, Retries %d: message %q", tc.status, tc.retries, m)
		}
	}

	// No reply at all, each attempt ending at the per-request Timeout.
	srv := stall(t, false)
	start := time.Now()
	_, err = retryClient(t, srv.URL, &waits{}, func(c *Config) { c.Timeout = 50 * time.Millisecond; c.Retries = 2 }).
		BasicInsight(ctx, "+447700900123")
	wantCode(t, err, maskcall.EUNAVAILABLE)
	if d := time.Since(start); d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("3 attempts of 50ms took %s", d)
	}
	if m := maskcall.ErrorMessage(err); !strings.Contains(m, "after 3 attempts") {
		t.Fatalf("message %q", m)
	}
}

func TestNoRetryOnClearRefusals(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
	}{
		{400, `{"error-code":"400","error-code-label":"bad request","title":"Bad Request"}`},
		{401, `{"error-code":"401","error-code-label":"authentication failed"}`},
		{420, `{"error-code":"420","error-code-label":"method failed"}`},
		{404, `{"title":"Not Found"}`},
	} {
		for name := range retried(nil) {
			f := newFake(t, replyJSON(tc.status, tc.body))
			var w waits
			err := retried(retryClient(t, f.URL, &w))[name].call(ctx)
			if err == nil {
				t.Fatalf("%s: HTTP %d succeeded", name, tc.status)
			}
			if n := len(f.requests()); n != 1 || len(w.got()) != 0 {
				t.Fatalf("%s: HTTP %d sent %d requests, waited %v", name, tc.status, n, w.got())
			}
			if strings.Contains(maskcall.ErrorMessage(err), "attempts") {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
}

// Buying, cancelling and texting are never repeated: a repeat could buy or
// text twice.
func TestNoRetryForChanges(t *testing.T) {
	const n = "+447700900123"
	c := func(base string) *Client { return retryClient(t, base, &waits{}) }
	calls := map[string]func(*Client) error{
		"buy":    func(c *Client) error { return c.BuyNumber(ctx, "GB", n) },
		"cancel": func(c *Client) error { return c.CancelNumber(ctx, "GB", n) },
		"sms":    func(c *Client) error { return first(c.SendSMS(ctx, n, "+447700900000", "hi")) },
	}
	for name, call := range calls {
		for _, reply := range []func(http.ResponseWriter, *http.Request, seen){
			replyJSON(500, `{"error-code":"500"}`),
			replyJSON(503, ``),
			withHeader("Retry-After", "1", replyJSON(429, ``)),
			hangUp,
		} {
			f := newFake(t, reply)
			err := call(c(f.URL))
			if got := len(f.requests()); got != 1 {
				t.Fatalf("%s: %d requests, want 1", name, got)
			}
			if code := maskcall.ErrorCode(err); code != maskcall.EUNAVAILABLE && code != maskcall.EUPSTREAM {
				t.Fatalf("%s: %v", name, err)
			}
		}
		f := newFake(t, replyJSON(500, `{"error-code":"500"}`))
		wantCode(t, call(c(f.URL)), maskcall.EUNAVAILABLE)
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	f := newFake(t, replyJSON(503, ``))
	// The real sleeper, with a long backoff: cancellation must cut it short.
	c := newTestClient(t, f.URL, func(c *Config) {
		c.Sleep = nil
		c.RetryBaseDelay = time.Hour
		c.RetryMaxDelay = time.Hour
		c.Jitter = func(d time.Duration) time.Duration { return d }
	})
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.SearchNumbers(cctx, maskcall.NumberSearch{Country: "GB"})
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %s after cancellation", d)
	}
	wantCode(t, err, maskcall.EUNAVAILABLE)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v does not wrap context.Canceled", err)
	}
	if ae := apiErr(t, err); ae.StatusCode != 503 {
		t.Fatalf("last reply lost: %+v", ae)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(f.requests()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}

	// A deadline ending during the wait.
	dctx, dcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer dcancel()
	_, err = c.SearchNumbers(dctx, maskcall.NumberSearch{Country: "GB"})
	wantCode(t, err, maskcall.EUNAVAILABLE)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v does not wrap context.DeadlineExceeded", err)
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	f := newFake(t, replyJSON(500, ``))
	var ceilings []time.Duration
	var w waits
	c := retryClient(t, f.URL, &w, func(c *Config) {
		c.Retries = 6
		c.RetryBaseDelay = 100 * time.Millisecond
		c.RetryMaxDelay = time.Second
		c.Jitter = func(d time.Duration) time.Duration { ceilings = append(ceilings, d); return d / 2 }
	})
	_, err := c.SearchNumbers(ctx, maskcall.NumberSearch{Country: "GB"})
	wantCode(t, err, maskcall.EUPSTREAM)
	ms := time.Millisecond
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1000 * ms, 1000 * ms}
	if !equalDurations(ceilings, want) {
		t.Fatalf("ceilings %v, want %v", ceilings, want)
	}
	for i, d := range w.got() {
		if d != want[i]/2 {
			t.Fatalf("waits %v: jitter not applied", w.got())
		}
	}

	// The default jitter stays within [0, ceiling] and varies.
	seen := map[time.Duration]bool{}
	for range 1000 {
		d := fullJitter(time.Second)
		if d < 0 || d > time.Second {
			t.Fatalf("jitter %s out of [0, 1s]", d)
		}
		seen[d] = true
	}
	if len(seen) < 900 || fullJitter(0) != 0 {
		t.Fatalf("jitter is not random: %d distinct values", len(seen))
	}

	// A huge retry count does not overflow the ceiling.
	c = retryClient(t, f.URL, &w)
	if d := c.backoff(200, &exchange{}); d != DefaultRetryMaxDelay {
		t.Fatalf("backoff(200) = %s", d)
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestHangupRetriedThen404IsSuccess(t *testing.T) {
	notFound := replyJSON(404, `{"title":"Not Found"}`)
	for _, tc := range []struct {
		name    string
		replies []func(http.ResponseWriter, *http.Request, seen)
		code    string
	}{
		{"500 then 404", []func(http.ResponseWriter, *http.Request, seen){replyJSON(500, ``), notFound}, ""},
		{"connection closed then 404", []func(http.ResponseWriter, *http.Request, seen){hangUp, notFound}, ""},
		// A 429 refused the first hangup: the 404 is the plain answer.
		{"429 then 404", []func(http.ResponseWriter, *http.Request, seen){replyJSON(429, ``), notFound}, maskcall.ENOTFOUND},
		{"404", []func(http.ResponseWriter, *http.Request, seen){notFound}, maskcall.ENOTFOUND},
	} {
		f := newFake(t, sequence(tc.replies...))
		err := retryClient(t, f.URL, &waits{}).HangupCall(ctx, testCallUUID)
		if tc.code == "" && err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		} else if tc.code != "" {
			wantCode(t, err, tc.code)
		}
		if n := len(f.requests()); n != len(tc.replies) {
			t.Fatalf("%s: %d requests, want %d", tc.name, n, len(tc.replies))
		}
	}
}

func TestRetryConfig(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c.retries != DefaultRetries || c.baseDelay != DefaultRetryBaseDelay || c.maxDelay != DefaultRetryMaxDelay || c.sleep == nil || c.jitter == nil {
		t.Fatalf("defaults: %d %s %s", c.retries, c.baseDelay, c.maxDelay)
	}
	if c, _ := New(Config{Retries: -1}); c.retries != 0 {
		t.Fatalf("Retries -1 gives %d retries", c.retries)
	}
	for _, cfg := range []Config{{RetryBaseDelay: -time.Second}, {RetryMaxDelay: -time.Second}} {
		_, err := New(cfg)
		wantCode(t, err, maskcall.ECONFIG)
	}
}

func TestSleepCtx(t *testing.T) {
	if err := sleepCtx(ctx, time.Millisecond); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(20*time.Millisecond, cancel)
	start := time.Now()
	if err := sleepCtx(cctx, time.Hour); !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
		t.Fatalf("sleepCtx = %v after %s", err, time.Since(start))
	}
	if err := sleepCtx(cctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleepCtx(0) on an ended context = %v", err)
	}
}
