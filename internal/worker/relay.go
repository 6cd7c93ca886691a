package worker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/vonage"
)

// Defaults of RelayWorker's zero fields.
const (
	// DefaultSMSRate is Vonage's limit: 30 SMS API requests per second per
	// API key.
	DefaultSMSRate     = 30.0
	DefaultConcurrency = 8
	// DefaultRelayLease bounds one send attempt, the Vonage request and
	// recording its outcome; a job still marked sending after it belongs
	// to a process that stopped.
	DefaultRelayLease = 2 * time.Minute
	// DefaultRelayPoll is how often the queue is looked at without a
	// wake-up, for jobs written by another process.
	DefaultRelayPoll = time.Second

	sendTimeout = 30 * time.Second
)

// RelayWorker sends the SMS relay queue: claim due jobs (marked sending and
// committed first) → send each through Vonage, no faster than Rate → record
// sent, retry later or failed.
//
// A job is never sent twice. It is retried (with backoff) only when Vonage
// certainly did not send it (maskcall.ErrNotSent): no connection could be
// made, HTTP 429 or status 1 (throttled). A send whose outcome is unknown
// (a timeout or a reset after the request went out, a 5xx, an unreadable
// reply, a text sent in part) is settled unknown and reported, never
// resent; so is one claimed by a process that died before recording its
// outcome.
type RelayWorker struct {
	Store maskcall.MessageStore
	SMS   maskcall.SMSAPI
	Now   func() time.Time
	// Rate is the most SMS requests per second; bursts wait their turn.
	Rate float64
	// Concurrency is how many sends may be in flight at once.
	Concurrency int
	MaxAttempts int
	Lease       time.Duration
	Poll        time.Duration
	// AutoReplyText is the reply strangers get (maskcall.RelayAutoReply).
	AutoReplyText string
	Logger        *slog.Logger
	LogPII        bool

	once  sync.Once
	wake  chan struct{}
	limit *limiter
	sends sync.WaitGroup
}

func (w *RelayWorker) init() {
	w.once.Do(func() {
		w.wake = make(chan struct{}, 1)
		if w.Now == nil {
			w.Now = time.Now
		}
		if w.Rate <= 0 {
			w.Rate = DefaultSMSRate
		}
		if w.Concurrency <= 0 {
			w.Concurrency = DefaultConcurrency
		}
		if w.MaxAttempts <= 0 {
			w.MaxAttempts = maskcall.DefaultRelayAttempts
		}
		if w.Lease <= 0 {
			w.Lease = DefaultRelayLease
		}
		if w.Poll <= 0 {
			w.Poll = DefaultRelayPoll
		}
		if w.Logger == nil {
			w.Logger = slog.Default()
		}
		w.limit = newLimiter(w.Rate)
	})
}

// Wake tells the worker a job was queued; it never blocks.
func (w *RelayWorker) Wake() {
	w.init()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run sends the queue until ctx ends, then waits for the sends in flight
// to finish and be recorded.
func (w *RelayWorker) Run(ctx context.Context) error {
	w.init()
	defer w.sends.Wait()
	sem := make(chan struct{}, w.Concurrency)
	for {
		if ctx.Err() != nil {
			return nil
		}
		jobs, err := w.Store.ClaimRelayJobs(ctx, w.Now(), w.Concurrency*2, w.Lease)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			w.Logger.Error("claiming SMS relays", "err", err)
			w.sleep(ctx, w.Poll)
			continue
		}
		if len(jobs) == 0 {
			w.idle(ctx)
			continue
		}
		for i, j := range jobs {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				w.release(jobs[i:])
				return nil
			}
			done, err := w.limit.acquire(ctx)
			if err != nil {
				<-sem
				w.release(jobs[i:])
				return nil
			}
			w.sends.Add(1)
			go func(j *maskcall.RelayJob) {
				defer func() { done(); <-sem; w.sends.Done() }()
				w.send(j)
			}(j)
		}
	}
}

// idle waits for a wake-up, the next due job or the poll interval.
func (w *RelayWorker) idle(ctx context.Context) {
	d := w.Poll
	if next, err := w.Store.NextRelayAt(ctx); err == nil && next != nil {
		d = min(d, max(next.Sub(w.Now()), time.Millisecond))
	}
	w.sleep(ctx, d)
}

func (w *RelayWorker) sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-w.wake:
	case <-t.C:
	}
}

// release puts claimed jobs that were not sent back in the queue, so a
// shutdown never leaves them to be settled unknown.
func (w *RelayWorker) release(jobs []*maskcall.RelayJob) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, j := range jobs {
		j.Attempts-- // this one was never made
		o := maskcall.RelayOutcome{Retry: true, RetryAt: w.Now(), Error: "not sent: the sender stopped"}
		if err := w.Store.FinishRelayJob(ctx, j, o, w.MaxAttempts+1, w.Now()); err != nil {
			w.Logger.Error("returning an SMS relay to the queue", "message", j.MessageID, "err", err)
		}
	}
}

// send makes one attempt and records it. It runs to the end even while
// the worker stops, so its outcome is never lost.
func (w *RelayWorker) send(j *maskcall.RelayJob) {
	ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
	defer cancel()
	text := j.Text
	if j.Kind == maskcall.RelayAutoReply {
		text = w.AutoReplyText
	}
	var o maskcall.RelayOutcome
	var err error
	if text == "" && j.Kind == maskcall.RelayAutoReply {
		err = &maskcall.Error{Code: maskcall.ECONFIG, Message: "No reply to strangers is configured.", Err: maskcall.ErrNotSent}
	} else {
		o.VonageID, err = w.SMS.SendSMS(ctx, j.From, j.To, text)
	}
	now := w.Now()
	switch {
	case err == nil:
		o.Sent = true
	case !errors.Is(err, maskcall.ErrNotSent):
		// Vonage may have sent it: a second send could text twice.
		o.Unknown, o.Error = true, maskcall.ErrorMessage(err)
	default:
		o.Error = maskcall.ErrorMessage(err)
		if d, ok := transient(err); ok {
			o.Retry = true
			wait := max(d, maskcall.RelayBackoff(j.Attempts))
			o.RetryAt = now.Add(wait)
			if d > 0 { // Vonage asked to slow down: everyone waits
				w.limit.pause(d)
			}
		}
	}
	log := w.Logger.With("message", j.MessageID, "kind", string(j.Kind), "from", w.number(j.From), "to", w.number(j.To), "attempt", j.Attempts)
	switch {
	case o.Sent:
		log.Info("SMS relayed", "incomplete", j.Incomplete)
	case o.Unknown:
		log.Error("SMS relay outcome unknown; not sent again, as Vonage may have sent it", "err", o.Error)
	case o.Retry && j.Attempts < w.MaxAttempts:
		log.Warn("SMS relay failed; will retry", "retry_at", o.RetryAt, "err", o.Error)
	default:
		log.Error("SMS relay failed", "err", o.Error)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	if err := w.Store.FinishRelayJob(rctx, j, o, w.MaxAttempts, now); err != nil {
		log.Error("recording an SMS relay", "err", err)
	}
}

func (w *RelayWorker) number(n string) string {
	if w.LogPII {
		return n
	}
	return maskcall.MaskNumber(n)
}

// transient reports whether a send that certainly did not go out is worth
// retrying, and how long Vonage asked everyone to wait (429, throttled) if
// it did: a throttle, or no connection to Vonage.
func transient(err error) (time.Duration, bool) {
	var ae *vonage.APIError
	if errors.As(err, &ae) && (ae.StatusCode == 429 || ae.Code == "1") {
		return time.Second, true
	}
	return 0, maskcall.ErrorCode(err) == maskcall.EUNAVAILABLE
}

// limiter keeps SMS requests under a rate as Vonage counts them, at
// arrival, whatever the network does to the requests in flight. It holds n
// tokens for each window (n/window = the rate); a request takes one for its
// whole flight, and a token comes back usable only a window after the
// request that held it completed. Two requests using the same token then
// arrive at least a window apart, so no window ever sees more than n (by
// pigeonhole). Requests are also spaced window/n apart, so a burst goes out
// evenly instead of n at once.
type limiter struct {
	tokens   chan time.Time // when each free token's last request completed
	window   time.Duration
	mu       sync.Mutex
	interval time.Duration
	next     time.Time // the earliest start of the next request
}

func newLimiter(rate float64) *limiter {
	n := int(rate)
	window := time.Second
	if n < 1 {
		n, window = 1, time.Duration(float64(time.Second)/rate)
	} else {
		window = time.Duration(float64(n) / rate * float64(time.Second))
	}
	l := &limiter{tokens: make(chan time.Time, n), window: window, interval: window / time.Duration(n)}
	for range n {
		l.tokens <- time.Time{}
	}
	return l
}

// acquire waits for the request's turn; the caller must call release when
// the request has completed (or failed).
func (l *limiter) acquire(ctx context.Context) (release func(), err error) {
	var done time.Time
	select {
	case done = <-l.tokens:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	l.mu.Lock()
	at := done.Add(l.window)
	if l.next.After(at) {
		at = l.next
	}
	if now := time.Now(); at.Before(now) {
		at = now
	}
	l.next = at.Add(l.interval)
	l.mu.Unlock()
	if err := sleepUntil(ctx, at); err != nil {
		l.tokens <- done // unused: as it was
		return nil, err
	}
	return func() { l.tokens <- time.Now() }, nil
}

// pause holds every request not yet started for d from now.
func (l *limiter) pause(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if at := time.Now().Add(d); at.After(l.next) {
		l.next = at
	}
}

func sleepUntil(ctx context.Context, at time.Time) error {
	d := time.Until(at)
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
