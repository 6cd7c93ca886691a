// Package vonage adapts Vonage's REST APIs (Numbers, SMS, Number Insight and
// Voice) to the interfaces maskcall's core depends on. It is a thin layer over
// github.com/vonage/vonage-go-sdk: the SDK builds and sends the requests where
// it can be relied on, and the few calls it cannot make safely are made
// directly with net/http, following the API definitions in
// /work/shared/vonage-spec (see the comment on each such call).
//
// Numbers cross this package's API as E.164 with a leading '+'; on the wire
// Vonage uses MSISDNs without it, and the adapter converts both ways.
//
// Every error returned is a *maskcall.Error. Errors built from a reply Vonage
// sent carry an *APIError as their cause (HTTP status, Vonage's code and text,
// request id), and the message names the HTTP status and request id so
// operators can report them. No error ever contains the API secret.
package vonage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// Defaults for Config's zero fields.
const (
	DefaultRestURL = "https://rest.nexmo.com" // Numbers, SMS
	DefaultAPIURL  = "https://api.nexmo.com"  // Number Insight, Voice
	DefaultTimeout = 10 * time.Second
)

// maxReplyBytes bounds how much of a reply is kept; Vonage's replies are a few
// kilobytes (a full page of owned numbers is about 50 KB).
const maxReplyBytes = 4 << 20

// Config configures a Client.
type Config struct {
	// APIKey and APISecret authenticate Numbers, SMS and Number Insight
	// requests. New accepts them empty (the CLI checks credentials before it
	// needs them); Vonage then answers requests with HTTP 401, which becomes
	// EVONAGEAUTH.
	APIKey, APISecret string
	// ApplicationID and PrivateKey (PEM) sign the JWT the Voice API needs.
	// If either is missing or the key cannot be parsed, HangupCall returns
	// ECONFIG naming the setting; the other APIs do not need them.
	ApplicationID string
	PrivateKey    []byte
	// RestURL is the base of the Numbers and SMS APIs; default
	// https://rest.nexmo.com. A path prefix is kept and a trailing slash is
	// ignored.
	RestURL string
	// APIURL is the base of the Number Insight and Voice APIs; default
	// https://api.nexmo.com.
	APIURL string
	// IdentityInsightsURL is the base of the Identity Insights API (a
	// regional host); default DefaultIdentityInsightsURL.
	IdentityInsightsURL string
	// Timeout bounds each HTTP request (each page of a paginated listing
	// separately), from sending it to reading the whole reply; default 10s.
	Timeout time.Duration
	// HTTPClient, if set, supplies the transport (and cookie jar). The Client
	// works on its own copy: it sets Timeout, wraps Transport and does not
	// follow redirects (a redirect would carry the credentials elsewhere).
	HTTPClient *http.Client

	// Retries is how many times a request that is safe to repeat is sent
	// again after HTTP 429, a 5xx or no complete reply (see retry.go);
	// 0 means DefaultRetries (3), a negative value none.
	Retries int
	// RetryBaseDelay and RetryMaxDelay shape the backoff: the wait before
	// retry n is random in [0, min(RetryMaxDelay, RetryBaseDelay*2^n)], and
	// a Retry-After header is honoured up to RetryMaxDelay. Defaults 200ms
	// and 5s.
	RetryBaseDelay, RetryMaxDelay time.Duration
	// Sleep waits between attempts; it must return ctx.Err() (and not
	// wait) once ctx ends. Default: a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Jitter picks the wait in [0, d] before a retry. Default: uniformly
	// random.
	Jitter func(d time.Duration) time.Duration

	// InboundSMSURL, when set, is the inbound SMS webhook (moHttpUrl)
	// LinkNumber gives each number along with its application.
	InboundSMSURL string
}

// Client talks to Vonage. It is safe for concurrent use.
type Client struct {
	apiKey, apiSecret string
	appID             string
	privateKey        []byte
	restURL, apiURL   string // no trailing slash
	iiURL             string
	inboundSMSURL     string
	timeout           time.Duration
	hc                http.Client // template for each call; Transport is never nil

	retries             int // extra attempts for requests safe to repeat
	baseDelay, maxDelay time.Duration
	sleep               func(context.Context, time.Duration) error
	jitter              func(time.Duration) time.Duration
}

var (
	_ maskcall.NumbersAPI = (*Client)(nil)
	_ maskcall.InsightAPI = (*Client)(nil)
	_ maskcall.SMSAPI     = (*Client)(nil)
	_ maskcall.VoiceAPI   = (*Client)(nil)
)

// New returns a Client for cfg. It fails with ECONFIG only if a base URL is
// not an absolute http(s) URL or Timeout or a retry delay is negative; empty
// credentials are accepted (see Config).
func New(cfg Config) (*Client, error) {
	rest, err := baseURL("vonage.rest_url", cfg.RestURL, DefaultRestURL)
	if err != nil {
		return nil, err
	}
	api, err := baseURL("vonage.api_url", cfg.APIURL, DefaultAPIURL)
	if err != nil {
		return nil, err
	}
	ii, err := baseURL("vonage.identity_insights_url", cfg.IdentityInsightsURL, DefaultIdentityInsightsURL)
	if err != nil {
		return nil, err
	}
	timeout := cfg.Timeout
	if timeout < 0 {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "The Vonage request timeout must not be negative (got %s).", timeout)
	} else if timeout == 0 {
		timeout = DefaultTimeout
	}
	if cfg.RetryBaseDelay < 0 || cfg.RetryMaxDelay < 0 {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "The Vonage retry delays must not be negative (got %s and %s).", cfg.RetryBaseDelay, cfg.RetryMaxDelay)
	}
	c := &Client{
		apiKey:     cfg.APIKey,
		apiSecret:  cfg.APISecret,
		appID:      cfg.ApplicationID,
		privateKey: cfg.PrivateKey,
		restURL:    rest,
		apiURL:     api,
		iiURL:      ii,
		timeout:    timeout,
		retries:    cmp.Or(cfg.Retries, DefaultRetries),
		baseDelay:  cmp.Or(cfg.RetryBaseDelay, DefaultRetryBaseDelay),
		maxDelay:   cmp.Or(cfg.RetryMaxDelay, DefaultRetryMaxDelay),
		sleep:      cfg.Sleep,
		jitter:     cfg.Jitter,

		inboundSMSURL: cfg.InboundSMSURL,
	}
	if c.retries < 0 {
		c.retries = 0
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.jitter == nil {
		c.jitter = fullJitter
	}
	if cfg.HTTPClient != nil {
		c.hc = *cfg.HTTPClient
	}
	if c.hc.Transport == nil {
		c.hc.Transport = http.DefaultTransport
	}
	c.hc.Timeout = timeout
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, nil
}

// baseURL validates a configured base URL and drops a trailing slash, so that
// the API paths can be appended to it.
func baseURL(setting, raw, def string) (string, error) {
	if raw == "" {
		raw = def
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", maskcall.Errorf(maskcall.ECONFIG, "%s must be an absolute http(s) URL without query, such as %s (got %q).", setting, def, raw).
			WithReason("url", "setting", setting)
	}
	return strings.TrimRight(raw, "/"), nil
}

// exchange records the last HTTP exchange of one call: the reply as it came
// off the wire, whatever the SDK later makes (or fails to make) of it.
type exchange struct {
	method   string
	endpoint string // URL without query: never holds credentials
	got      bool   // a reply's status line and headers arrived
	complete bool   // its whole body was read
	tooLong  bool
	// conn: a connection to the server was made for the request, so it
	// may have reached it (set from the transport's trace). Without one,
	// nothing was sent.
	conn *atomic.Bool
	// transient marks a complete reply saying the request failed for a
	// passing reason (Identity Insights' SUPPLIER_ERROR): worth a retry.
	transient bool
	status    int
	header    http.Header
	body      []byte
}

// mayHaveReached reports whether the request may have reached the server:
// a connection was made for it.
func (ex *exchange) mayHaveReached() bool { return ex.conn != nil && ex.conn.Load() }

// call is one API call in progress: an http.Client bound to the caller's
// context, and the exchange it records.
type call struct {
	ctx  context.Context
	base string // the configured base URL the call goes to, for messages
	hc   *http.Client
	ex   *exchange
}

// begin prepares a call to base under ctx.
//
// Timeouts and cancellation: the SDK's methods take no context (they build
// requests with context.Background()), so each call gets its own copy of the
// http.Client whose transport ties every request to ctx: the request's
// context (which carries the client's Timeout deadline) is cancelled as soon
// as ctx is. Thus both Timeout and cancellation of ctx abort the request
// promptly, connection and body reading included, and the SDK calls return
// with an error. Calls made directly with net/http go through the same
// client, so they behave the same.
func (c *Client) begin(ctx context.Context, base string) *call {
	ex := &exchange{}
	hc := c.hc
	hc.Transport = &recorder{ctx: ctx, next: c.hc.Transport, ex: ex}
	return &call{ctx: ctx, base: base, hc: &hc, ex: ex}
}

// recorder is the per-call RoundTripper described at begin.
type recorder struct {
	ctx  context.Context
	next http.RoundTripper
	ex   *exchange
}

func (t *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	u.RawQuery, u.ForceQuery, u.Fragment = "", false, ""
	*t.ex = exchange{method: req.Method, endpoint: u.String()}

	if t.ctx.Err() != nil { // ended before anything was sent
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, context.Cause(t.ctx)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	stop := context.AfterFunc(t.ctx, func() { cancel(context.Cause(t.ctx)) })
	release := func() { stop(); cancel(nil) }

	conn := new(atomic.Bool)
	t.ex.conn = conn
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { conn.Store(true) }})
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		release()
		return nil, err
	}
	t.ex.got, t.ex.status, t.ex.header = true, resp.StatusCode, resp.Header.Clone()
	resp.Body = &recordedBody{rc: resp.Body, ex: t.ex, release: release}
	return resp, nil
}

// recordedBody copies the body into the exchange as it is read and releases
// the request's context when the body is done with.
type recordedBody struct {
	rc      io.ReadCloser
	ex      *exchange
	release func()
}

func (b *recordedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		if len(b.ex.body)+n <= maxReplyBytes {
			b.ex.body = append(b.ex.body, p[:n]...)
		} else {
			b.ex.tooLong = true
		}
	}
	if err == io.EOF {
		b.ex.complete = true
		b.release()
	}
	return n, err
}

func (b *recordedBody) Close() error {
	err := b.rc.Close()
	b.release()
	return err
}

// reply returns the recorded reply if a complete one arrived; otherwise it
// returns the error explaining why not, built from err (what the SDK or
// http.Client returned).
func (c *Client) reply(cl *call, o op, err error) (*exchange, error) {
	if cl.ex.got && cl.ex.complete {
		if cl.ex.tooLong {
			return nil, c.fail(o.unclear(), fmt.Sprintf("Vonage sent an unexpectedly long reply to %s (HTTP %d).", o.what, cl.ex.status), "", c.apiError(cl.ex, "", ""))
		}
		return cl.ex, nil
	}
	if err == nil {
		err = errors.New("reply ended early")
	}
	return nil, c.unreachable(cl, o, err)
}

// do sends a request built directly with net/http and reads the whole reply.
func (c *Client) do(cl *call, o op, req *http.Request) (*exchange, error) {
	req.Header.Set("User-Agent", "maskcall (vonage-go-sdk v0.14.0)")
	resp, err := cl.hc.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	return c.reply(cl, o, err)
}

// sdk runs an SDK method. The SDK type-asserts and indexes replies without
// checking them (e.g. Update type-asserts a nil error on a 2xx other than
// 200); a reply shaped unlike the spec must not crash maskcall, so a panic in
// the SDK becomes an error, and the recorded reply is judged instead.
func sdk(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("vonage-go-sdk panicked on the reply: %v", r)
		}
	}()
	return f()
}
