package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/maskcall/maskcall/internal/build"
	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/stdwebhook"
)

// Defaults of CallbackWorker's zero fields.
const (
	DefaultCallbackConcurrency = 8
	// DefaultCallbackTimeout bounds one request to the platform.
	DefaultCallbackTimeout = 10 * time.Second
	// DefaultCallbackPoll is how often the outbox is looked at without a
	// wake-up: for events another process (the CLI, a replica) wrote, and
	// retries falling due.
	DefaultCallbackPoll = 2 * time.Second
)

// CallbackWorker delivers the callback outbox: claim due events (marked
// delivering with a lease and committed first) → POST each, signed, to its
// URL outside any transaction → record delivered, retry later (timeouts,
// network errors, 5xx, 429, with maskcall.PlanCallback's backoff) or
// failed. Delivery is at least once: a worker that dies after the POST
// and before recording it leaves the event to be claimed again once its
// lease ends, and the receiver dedupes on webhook-id (the event id).
type CallbackWorker struct {
	Store maskcall.CallbackStore
	// URL is the deployment's callbacks.url, for events of conversations
	// without their own ("" if none).
	URL string
	// Key signs every request (stdwebhook.ParseSecret of the secret).
	Key []byte
	// IncludeNumbers keeps participants' real numbers in the bodies.
	IncludeNumbers bool
	Client         *http.Client
	Now            func() time.Time
	Concurrency    int
	Timeout        time.Duration
	// Lease is how long a claimed event is this worker's; 0 is twice
	// Timeout and 30 s, time to send it and record the outcome.
	Lease  time.Duration
	Poll   time.Duration
	Logger *slog.Logger
	// Jitter returns a number in [0, 1) randomising backoff; rand.Float64
	// if nil.
	Jitter func() float64

	once     sync.Once
	wake     chan struct{}
	inflight sync.WaitGroup
}

func (w *CallbackWorker) init() {
	w.once.Do(func() {
		w.wake = make(chan struct{}, 1)
		if w.Now == nil {
			w.Now = time.Now
		}
		if w.Concurrency <= 0 {
			w.Concurrency = DefaultCallbackConcurrency
		}
		if w.Timeout <= 0 {
			w.Timeout = DefaultCallbackTimeout
		}
		if w.Poll <= 0 {
			w.Poll = DefaultCallbackPoll
		}
		if w.Logger == nil {
			w.Logger = slog.Default()
		}
		if w.Jitter == nil {
			w.Jitter = rand.Float64
		}
		if w.Client == nil {
			w.Client = &http.Client{
				// A redirect is the receiver's answer, not a place to
				// send a signed event to.
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
		}
	})
}

func (w *CallbackWorker) lease() time.Duration {
	if w.Lease > 0 {
		return w.Lease
	}
	return 2*w.Timeout + 30*time.Second
}

// Wake tells the worker an event was written; it never blocks.
func (w *CallbackWorker) Wake() {
	w.init()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends, then waits for the requests in flight to
// finish and be recorded.
func (w *CallbackWorker) Run(ctx context.Context) error {
	w.init()
	defer w.inflight.Wait()
	sem := make(chan struct{}, w.Concurrency)
	for {
		if ctx.Err() != nil {
			return nil
		}
		// Claim only what free slots can send at once, so no event waits
		// leased behind others.
		free := 0
		select {
		case sem <- struct{}{}:
			free = 1
		case <-ctx.Done():
			return nil
		}
		for free < w.Concurrency {
			select {
			case sem <- struct{}{}:
				free++
				continue
			default:
			}
			break
		}
		cbs, err := w.Store.ClaimCallbacks(ctx, w.Now(), free, w.lease())
		if err != nil {
			for range free {
				<-sem
			}
			if ctx.Err() != nil {
				return nil
			}
			w.Logger.Error("claiming callbacks", "err", err)
			w.sleep(ctx, w.Poll)
			continue
		}
		for range free - len(cbs) {
			<-sem
		}
		for _, cb := range cbs {
			w.inflight.Add(1)
			go func() {
				defer func() { <-sem; w.inflight.Done() }()
				w.deliver(context.WithoutCancel(ctx), cb)
			}()
		}
		if len(cbs) == 0 {
			w.idle(ctx)
		}
	}
}

// idle waits for a wake-up, the next due event or the poll interval.
func (w *CallbackWorker) idle(ctx context.Context) {
	d := w.Poll
	if next, err := w.Store.NextCallbackAt(ctx); err == nil && next != nil {
		d = min(d, max(next.Sub(w.Now()), time.Millisecond))
	}
	w.sleep(ctx, d)
}

func (w *CallbackWorker) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-w.wake:
	case <-t.C:
	}
}

// deliver makes one attempt of cb and records its outcome.
func (w *CallbackWorker) deliver(ctx context.Context, cb *maskcall.Callback) {
	a := w.attempt(ctx, cb)
	now := w.Now()
	o := maskcall.PlanCallback(a, cb.Attempts, cb.RetryUntil, now, w.Jitter())
	ok, err := w.Store.FinishCallback(ctx, cb, o, now)
	log := w.Logger.With("callback", cb.Event.ID, "type", cb.Event.Type, "attempt", cb.Attempts)
	switch {
	case err != nil:
		// Claimed again once its lease ends: delivered again, at least once.
		log.Error("recording a callback's outcome", "err", err)
	case !ok:
		log.Warn("callback outcome not recorded: its lease ended and it was claimed again")
	case o.State == maskcall.CallbackDelivered:
		log.Debug("callback delivered", "status", a.Status)
	case o.State == maskcall.CallbackPending:
		log.Warn("callback not delivered; will retry", "status", a.Status, "err", a.Err, "next_attempt_at", o.NextAttemptAt.UTC().Format(time.RFC3339))
	default:
		log.Error("callback failed; not retried", "status", a.Status, "err", o.Error)
	}
}

func (w *CallbackWorker) attempt(ctx context.Context, cb *maskcall.Callback) maskcall.CallbackAttempt {
	target := cb.URL
	if target == "" {
		target = w.URL
	}
	if target == "" {
		// Not retryable: nothing will change until someone configures a
		// URL, and then the event can be redelivered.
		return maskcall.CallbackAttempt{Permanent: true, Err: "no callback URL is configured"}
	}
	body, err := cb.Event.Body(w.IncludeNumbers)
	if err != nil {
		return maskcall.CallbackAttempt{Permanent: true, Err: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return maskcall.CallbackAttempt{Permanent: true, Err: "bad callback URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "maskcall/"+build.Version)
	stdwebhook.Sign(req.Header, w.Key, cb.Event.ID, w.Now(), body)
	resp, err := w.Client.Do(req)
	if err != nil {
		return maskcall.CallbackAttempt{Err: requestError(err, ctx)}
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	a := maskcall.CallbackAttempt{Status: resp.StatusCode}
	if !a.OK() {
		a.Err = resp.Status
	}
	return a
}

// requestError says why a request got no response, without the URL (its
// query may hold a token).
func requestError(err error, ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "timed out"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Sprint(err)
}
