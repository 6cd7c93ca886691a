package vonage

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// Retries.
//
// Only requests that are safe to repeat are retried: number search, each page
// of the owned-number listing, number update (LinkNumber), Number Insight
// basic, the Identity Insights format insight and Voice hangup. Buying, cancelling and sending an SMS are never
// repeated blindly: a repeat could buy twice or text twice, so they return
// the ambiguous EUNAVAILABLE error and the core decides.
//
// A retry follows HTTP 429, any 5xx, and a request that got no complete reply
// (network error, per-request Timeout), and an Identity Insights reply whose
// insight failed with SUPPLIER_ERROR or INTERNAL_ERROR. Other replies, and the end of the
// caller's context, end the call at once. The wait before retry n (0-based)
// is drawn uniformly from [0, min(RetryMaxDelay, RetryBaseDelay*2^n)] ("full
// jitter"), unless a 429 or 503 carries Retry-After, which is then waited
// for, capped by RetryMaxDelay.

// Defaults for Config's retry fields.
const (
	DefaultRetries        = 3
	DefaultRetryBaseDelay = 200 * time.Millisecond
	DefaultRetryMaxDelay  = 5 * time.Second
)

// attempt makes one request on cl and judges the reply. earlierUnclear says
// an earlier attempt's outcome is unknown (no complete reply, or a 5xx), so
// it may have taken effect.
type attempt func(cl *call, earlierUnclear bool) error

// retrying runs try against base until it succeeds, fails in a way a repeat
// would not change, ctx ends or the retries run out. The final error keeps
// its code; its message says how many attempts were made, if more than one.
func (c *Client) retrying(ctx context.Context, o op, base string, try attempt) error {
	unclear := false
	for n := 0; ; n++ {
		cl := c.begin(ctx, base)
		err := try(cl, unclear)
		if err == nil || n >= c.retries || !retryable(cl, err) {
			return withAttempts(err, n+1)
		}
		unclear = unclear || !cl.ex.complete || cl.ex.status >= 500
		if serr := c.sleep(ctx, c.backoff(n, cl.ex)); serr != nil {
			if ctx.Err() != nil {
				err = c.unreachable(cl, o, err) // says the call was cancelled; err stays the cause
			}
			return withAttempts(err, n+1)
		}
	}
}

// retryable says whether a failed attempt is worth repeating.
func retryable(cl *call, err error) bool {
	switch {
	case cl.ctx.Err() != nil:
		return false
	case cl.ex.got && cl.ex.complete:
		return cl.ex.transient || cl.ex.status == http.StatusTooManyRequests || cl.ex.status >= 500
	}
	// No complete reply: a network error or the Timeout. (EINTERNAL means
	// nothing was sent.)
	return cl.ex.method != "" && maskcall.ErrorCode(err) == maskcall.EUNAVAILABLE
}

// backoff is the wait before retry n (0-based) after the reply in ex.
func (c *Client) backoff(n int, ex *exchange) time.Duration {
	if ex.got && (ex.status == http.StatusTooManyRequests || ex.status == http.StatusServiceUnavailable) {
		if d, ok := retryAfter(ex.header.Get("Retry-After")); ok {
			return min(d, c.maxDelay)
		}
	}
	ceiling := c.baseDelay
	for i := 0; i < n && ceiling < c.maxDelay; i++ {
		ceiling *= 2
	}
	return c.jitter(min(ceiling, c.maxDelay))
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, int64(time.Hour/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// withAttempts adds "after n attempts" to the message of err when n > 1.
func withAttempts(err error, n int) error {
	me, ok := err.(*maskcall.Error)
	if n < 2 || !ok {
		return err
	}
	e := *me
	e.Message = fmt.Sprintf("%s, after %d attempts.", strings.TrimRight(e.Message, "."), n)
	return &e
}

// sleepCtx waits for d, or returns ctx.Err() if ctx ends first.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// fullJitter returns a random duration in [0, d].
func fullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}
