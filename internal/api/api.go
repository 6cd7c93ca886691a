// Package api is maskcall's platform-facing HTTP API, mounted by `serve`
// under /v1/: a platform's backend creates, lists, inspects, ends and
// re-notifies conversations and reads the pool, with an API key.
//
// # Routes
//
//	POST /v1/conversations              create (201)
//	GET  /v1/conversations              list, paged
//	GET  /v1/conversations/{id}         one, with its calls
//	POST /v1/conversations/{id}/end     end (idempotent), optionally hang up
//	POST /v1/conversations/{id}/notify  text the participants again
//	GET  /v1/numbers                    the pool
//	GET  /v1/openapi.json               the OpenAPI 3.1 document (no key needed)
//
// The document in openapi.json is the contract; the tests validate every
// response they see against it.
//
// # Rules every route follows
//
//   - Authorization: Bearer <API key>. A missing, wrong or revoked key is
//     401; a read-only key on a POST is 403. Keys are never logged.
//   - Errors are application/problem+json (RFC 9457): type, title, status,
//     detail and maskcall's stable code (and reason, when the domain gives
//     one), the status from httpserver's one code→status table.
//   - Bodies are at most MaxBodyBytes (413 beyond); each key has a token
//     bucket (Config.RateLimit), and a request over it gets 429 with
//     Retry-After.
//   - A POST with an Idempotency-Key header is done once: the same key with
//     the same request within 24 hours replays the first response (status
//     and body), the same key with another request is 422, and while the
//     first is still running 409. Records are kept in the store, durably.
//   - Handlers hold no business rules: they parse, call the domain
//     (maskcall.ConversationService, the Store) and render.
package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maskcall/maskcall/internal/httpserver"
	"github.com/maskcall/maskcall/internal/maskcall"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 64 << 10

// Defaults of Config.
const (
	// DefaultRateLimit is each key's sustained requests per second:
	// generous, it only stops a runaway client.
	DefaultRateLimit = 1000
	// touchInterval is how stale a key's last-used time may get: a key's
	// use is written at most this often, not on every request.
	touchInterval = time.Minute
)

// Store is what the API reads and writes.
type Store interface {
	maskcall.Store
	maskcall.APIKeyStore
	maskcall.IdempotencyStore
}

// Config configures a Handler.
type Config struct {
	// Service creates, ends and notifies conversations. Its Store must be
	// Store's.
	Service *maskcall.ConversationService
	Store   Store
	// DefaultTTL is a new conversation's time to live when the request
	// gives none (conversation.default_ttl); 0 for none.
	DefaultTTL time.Duration
	// Insight is the online check a request that names none gets
	// (conversation.insight: auto, format, basic or none; "" for auto).
	Insight string
	// FormatInsight says the Vonage application's key is configured, which
	// the format insight (and so auto) needs.
	FormatInsight bool
	// RateLimit is each key's sustained requests per second, with bursts
	// of twice that; 0 for DefaultRateLimit, negative for no limit.
	RateLimit float64
	// Logger gets one line per request (method, route, status, key id,
	// duration; never the key or a phone number). Nil: slog.Default().
	Logger *slog.Logger
	Now    func() time.Time
}

// Handler serves /v1/.
type Handler struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	limiter *limiter

	mu      sync.Mutex
	touched map[string]time.Time // key id → last use written
}

// New returns the API's handler. Mount it at "/v1/".
func New(cfg Config) (*Handler, error) {
	if cfg.Service == nil || cfg.Store == nil {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "The API needs a conversation service and a store.")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	h := &Handler{cfg: cfg, log: cfg.Logger, touched: map[string]time.Time{}}
	if h.log == nil {
		h.log = slog.Default()
	}
	if cfg.RateLimit > 0 {
		h.limiter = newLimiter(cfg.RateLimit, 2*cfg.RateLimit)
	}
	h.routes()
	return h, nil
}

func (h *Handler) routes() {
	mux := http.NewServeMux()
	h.mux = mux
	mux.HandleFunc("GET /v1/openapi.json", serveOpenAPI)
	h.handle("POST /v1/conversations", true, h.createConversation)
	h.handle("GET /v1/conversations", false, h.listConversations)
	h.handle("GET /v1/conversations/{id}", false, h.getConversation)
	h.handle("POST /v1/conversations/{id}/end", true, h.endConversation)
	h.handle("POST /v1/conversations/{id}/notify", true, h.notifyConversation)
	h.handle("GET /v1/numbers", false, h.listNumbers)
	// Any other method on a known path, and any other path, get a
	// problem document rather than ServeMux's plain text.
	for path, allow := range map[string]string{
		"/v1/conversations":             "GET, POST",
		"/v1/conversations/{id}":        "GET",
		"/v1/conversations/{id}/end":    "POST",
		"/v1/conversations/{id}/notify": "POST",
		"/v1/numbers":                   "GET",
		"/v1/openapi.json":              "GET",
	} {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allow)
			writeProblem(w, &maskcall.Error{Code: maskcall.EINVALID, Reason: "method_not_allowed",
				Message: r.Method + " is not allowed here; use " + allow + "."}, http.StatusMethodNotAllowed)
		})
	}
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, maskcall.Errorf(maskcall.ENOTFOUND, "There is no such API route."), 0)
	})
}

// ServeHTTP serves the API's routes.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// request is what a route's function gets: the authenticated key and the
// body, read in full.
type request struct {
	*http.Request
	key  *maskcall.APIKey
	body []byte
}

// response is what a route's function returns: a status and a value to
// encode as JSON.
type response struct {
	status int
	value  any
}

type routeFunc func(ctx context.Context, r *request) (response, error)

// handle mounts fn at pattern behind authentication, the rate limit, the
// body limit and (for writes) idempotency.
func (h *Handler) handle(pattern string, write bool, fn routeFunc) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		keyID := ""
		defer func() {
			h.log.Info("api request", "method", r.Method, "route", pattern, "status", sw.status,
				"key", keyID, "ms", time.Since(start).Milliseconds())
		}()
		key, err := h.authenticate(r)
		if err != nil {
			if maskcall.ErrorCode(err) == maskcall.EUNAUTHORIZED {
				sw.Header().Set("WWW-Authenticate", `Bearer realm="maskcall"`)
			}
			writeProblem(sw, err, 0)
			return
		}
		keyID = key.ID
		if h.limiter != nil {
			if ok, wait := h.limiter.allow(key.ID, time.Now()); !ok {
				sw.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
				writeProblem(sw, maskcall.Errorf(maskcall.ERATELIMITED, "This API key sent more requests than its limit of %s a second.",
					strconv.FormatFloat(h.cfg.RateLimit, 'f', -1, 64)), 0)
				return
			}
		}
		if write && key.ReadOnly {
			writeProblem(sw, maskcall.Errorf(maskcall.EFORBIDDEN, "This API key is read-only; it cannot %s.", strings.TrimPrefix(pattern, "POST ")).
				WithReason("read_only_key"), 0)
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(sw, r.Body, MaxBodyBytes))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				err = maskcall.Errorf(maskcall.ETOOLARGE, "The request body is larger than %d KiB.", MaxBodyBytes>>10)
			} else {
				err = &maskcall.Error{Code: maskcall.EINVALID, Err: err, Message: "The request body could not be read."}
			}
			writeProblem(sw, err, 0)
			return
		}
		req := &request{Request: r, key: key, body: body}
		if idem := r.Header.Get("Idempotency-Key"); write && idem != "" {
			h.idempotent(sw, req, idem, fn)
			return
		}
		status, out := h.run(fn, req)
		writeRaw(sw, status, out)
	})
}

// run calls fn and renders its outcome: a status and the body, a problem
// document when fn failed.
func (h *Handler) run(fn routeFunc, r *request) (int, []byte) {
	res, err := fn(r.Context(), r)
	if err != nil {
		if maskcall.ErrorCode(err) == maskcall.EINTERNAL {
			h.log.Error("api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		return problemBody(err, 0)
	}
	b, err := json.Marshal(res.value)
	if err != nil {
		h.log.Error("api response not encodable", "path", r.URL.Path, "err", err)
		return problemBody(err, 0)
	}
	return res.status, append(b, '\n')
}

// idempotent runs fn once per (key, Idempotency-Key): see the package
// documentation.
func (h *Handler) idempotent(w http.ResponseWriter, r *request, idem string, fn routeFunc) {
	if len(idem) > 255 || strings.IndexFunc(idem, func(c rune) bool { return c < 0x21 || c > 0x7e }) >= 0 {
		writeProblem(w, maskcall.Errorf(maskcall.EINVALID, "The Idempotency-Key header must be 1 to 255 printable ASCII characters.").
			WithReason("idempotency_key"), 0)
		return
	}
	sum := sha256.Sum256([]byte(r.Method + " " + r.URL.Path + "\n" + string(r.body)))
	now := h.cfg.Now()
	rec := &maskcall.IdempotencyRecord{Scope: r.key.ID, Key: idem, Fingerprint: sum[:], CreatedAt: now}
	prev, err := h.cfg.Store.BeginIdempotent(r.Context(), rec, now.Add(-maskcall.IdempotencyWindow))
	if err != nil {
		writeProblem(w, err, 0)
		return
	}
	if prev != nil {
		switch {
		case string(prev.Fingerprint) != string(rec.Fingerprint):
			writeProblem(w, maskcall.Errorf(maskcall.EIDEMPOTENCY,
				"The Idempotency-Key %q was used for another request in the last 24 hours; use a new key for a new request.", idem), 0)
		case prev.Status == 0:
			w.Header().Set("Retry-After", "1")
			writeProblem(w, maskcall.Errorf(maskcall.ECONFLICT,
				"A request with the Idempotency-Key %q is still in progress; retry it later.", idem).WithReason("idempotency_in_progress"), 0)
		default:
			w.Header().Set("Idempotent-Replayed", "true")
			writeRaw(w, prev.Status, prev.Body)
		}
		return
	}
	status, body := h.run(fn, r)
	// The outcome is kept unless the server failed: a 5xx had no effect
	// worth replaying (or may not have), so a retry runs again.
	ctx := context.WithoutCancel(r.Context())
	if status >= 500 {
		err = h.cfg.Store.AbandonIdempotent(ctx, rec.Scope, rec.Key)
	} else {
		err = h.cfg.Store.CompleteIdempotent(ctx, rec.Scope, rec.Key, status, body)
	}
	if err != nil {
		h.log.Error("idempotency record not saved", "key", r.key.ID, "err", err)
	}
	writeRaw(w, status, body)
}

// authenticate returns the key of the request's bearer token.
func (h *Handler) authenticate(r *http.Request) (*maskcall.APIKey, error) {
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, maskcall.Errorf(maskcall.EUNAUTHORIZED, "The request has no API key; send it as Authorization: Bearer <key>.")
	}
	key, err := maskcall.AuthenticateAPIKey(r.Context(), h.cfg.Store, strings.TrimSpace(token))
	if err != nil {
		return nil, err
	}
	h.touch(key)
	return key, nil
}

// touch records a key's use, at most every touchInterval per key.
func (h *Handler) touch(k *maskcall.APIKey) {
	now := h.cfg.Now()
	h.mu.Lock()
	last, ok := h.touched[k.ID]
	if !ok && k.LastUsedAt != nil {
		last, ok = *k.LastUsedAt, true
	}
	if ok && now.Sub(last) < touchInterval {
		h.mu.Unlock()
		return
	}
	h.touched[k.ID] = now
	h.mu.Unlock()
	if err := h.cfg.Store.TouchAPIKey(context.Background(), k.ID, now); err != nil {
		h.log.Warn("api key use not recorded", "key", k.ID, "err", err)
	}
}

// statusWriter remembers the status written, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	if status >= 400 {
		h.Set("Content-Type", "application/problem+json")
	} else {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// problem is an RFC 9457 problem document with maskcall's code.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
	Reason string `json:"reason,omitempty"`
}

// problemBody renders err; status overrides the table's for the few
// statuses that are about HTTP itself (405). Internal errors get no
// detail: nothing of the internals leaks.
func problemBody(err error, status int) (int, []byte) {
	code := maskcall.ErrorCode(err)
	p := httpserver.ProblemOf(code)
	if p.Type == "" { // a code the table does not know
		code = maskcall.EINTERNAL
		p = httpserver.ProblemOf(code)
	}
	body := problem{Type: p.Type, Title: p.Title, Status: p.Status, Code: code}
	if status != 0 {
		body.Status = status
		body.Title = http.StatusText(status)
	}
	if code != maskcall.EINTERNAL {
		var e *maskcall.Error
		if errors.As(err, &e) {
			body.Detail = e.Message
		}
		body.Reason = maskcall.ErrorReason(err)
	}
	b, _ := json.Marshal(body) // strings and an int always marshal
	return body.Status, append(b, '\n')
}

func writeProblem(w http.ResponseWriter, err error, status int) {
	s, b := problemBody(err, status)
	writeRaw(w, s, b)
}

// limiter is a token bucket per API key.
type limiter struct {
	rate, burst float64
	mu          sync.Mutex
	buckets     map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newLimiter(rate, burst float64) *limiter {
	return &limiter{rate: rate, burst: burst, buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket, or says how long until one is
// there.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}
