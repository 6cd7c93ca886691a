// Package webhook holds the Vonage-facing handlers of `maskcall serve`: the
// answer webhook replies with an NCCO that connects an inbound call to the
// other participant of its conversation, and the event webhook records
// Vonage's call events. A Handler mounts them on an httpserver.Server
// (Mount), which owns listening, timeouts and shutdown; serve mounts
// /healthz beside them.
//
// # Routes
//
//	GET|POST /proxy-call, /webhooks/answer   answer webhook, replies with an NCCO
//	GET|POST /event, /webhooks/event         event webhook, replies 204
//	GET|POST /webhooks/inbound-sms           inbound SMS (InboundSMS, mounted
//	                                         apart: signed with sig, not a JWT;
//	                                         statuses in inbound_sms.go)
//
// Other methods get 405 (ServeMux's, with an Allow header; HEAD on a webhook
// is refused too so it cannot route a call). Unknown paths get 404.
//
// # Signed webhooks (the verify middleware, signature.go)
//
// Every Voice webhook route is wrapped in the same middleware, which runs
// before the handler. With Config.SignatureSecret set the request must carry
// "Authorization: Bearer <JWT>" (package internal/vonage/signature):
//
//   - HS256 only, keyed with the secret's bytes; alg none, RS256, ... refused;
//
//   - iat is required, may be at most 30 s in the future (clock skew) and
//     at most 5 min old (Vonage sends no exp; an exp or nbf present is
//     checked, with the same 30 s leeway);
//
//   - payload_hash is the hex SHA-256 of the payload: the raw body of a POST,
//     or signature.QueryPayload(rawQuery) for a GET;
//
//   - the claims are Vonage's: iss "Vonage", api_key equal to
//     Config.APIKey, application_id (when the token has one) equal to
//     Config.ApplicationID (when configured), and a jti;
//
//   - the jti was not seen before (replay.go): a token seen on another
//     route, or seen on this route more than a short while ago, is a
//     replay. An identical retry (same jti, route and payload) within
//     ReplayRetryWindow is let through, at most replayMaxRetries times, as
//     Vonage retries an answer it did not get in time.
//
//     401  a token that fails any check, or a replay (empty body; the
//     handler is not run)
//     503  no Authorization header at all: Vonage documents that, after an
//     internal error, it may send a callback unsigned, and that a 5xx
//     makes it retry (signed); also an answer webhook whose token cannot
//     be remembered because the replay cache is full (fail closed;
//     events fail open, see replay.go)
//
// With no secret the Handler is only built if Config.AllowUnsigned is set,
// and nothing is verified.
//
// # Answer webhook
//
// The answer webhook replies 200 with an NCCO to every request the
// middleware lets through: a connect NCCO for a caller with an active
// conversation, and otherwise (stranger, ended or expired conversation,
// unparsable or missing numbers, an event-shaped payload — one with
// status, direction or timestamp, which an answer request never has —,
// oversized body, store error, even a panic) an NCCO that only says
// Config.NotInServiceText, after which Vonage hangs up. It never replies
// 4xx for those and never connects them. The one exception is a store that
// cannot be reached (maskcall.ESTORE: PostgreSQL restarting or failing over,
// after the store's own retries): that gets an empty 503, so Vonage retries
// and then tries the application's fallback answer URL, rather than telling
// a legitimate caller the number is not in service. An oversized or unreadable
// body gets that NCCO without being verified (there is nothing to hash).
//
// The connect is sent as soon as the route is found: the call's record is
// queued for the store and waited for only briefly (maskcall.Router), so a
// store whose write lock another process holds does not turn calls into
// "not in service".
//
// # Event webhook
//
//	204  the event is valid; recorded, a duplicate, or of a call maskcall did
//	     not route (Vonage must not retry those); also events without a
//	     status (transfer, input, record, ...) which are ignored
//	400  malformed JSON or query (a POST's URL query too), an unknown
//	     status, a bad duration or time, neither uuid nor conversation_uuid
//	413  body over 64 KiB
//	503  the store is busy or unreachable (Vonage retries)
//	500  any other store failure (Vonage retries)
//
// Error statuses come from httpserver.ErrorStatus, the one table from error
// codes to HTTP statuses.
//
// # eventUrl
//
// The connect action's eventUrl is Config.PublicURL + "/webhooks/event",
// from configuration only: nothing of the request (Host,
// X-Forwarded-Proto) goes into a reply. Its query names the call
// (?call=<the inbound leg's uuid>, ncco.go): the outbound leg's events
// come back with it and find their call by that uuid, which the store
// accepts only for a call with the event's signed conversation_uuid.
// A 400 answers a POST event whose URL query does not parse.
package webhook

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/maskcall/maskcall/internal/httpserver"
	"github.com/maskcall/maskcall/internal/maskcall"
)

// Defaults for Config's zero values.
const (
	DefaultConnectText      = "Please wait while we connect your call."
	DefaultNotInServiceText = "The number you have dialled is not in service."
	DefaultLanguage         = "en-GB"
	DefaultMaxCallLength    = time.Hour
)

// Limits of the handlers.
const (
	// MaxBodyBytes bounds a webhook's body.
	MaxBodyBytes = 64 << 10
	// MaxCallLengthLimit is the largest connect limit an NCCO allows.
	MaxCallLengthLimit = 7200 * time.Second

	maxTalkTextChars = 1500 // talk.text maxLength in the NCCO schema
	answerTimeout    = 4 * time.Second
	eventTimeout     = 10 * time.Second
)

// Config configures a Handler. New checks it and fills in defaults; the
// Handler's Config field holds the effective values. It is the one place
// serve's settings are validated.
type Config struct {
	// PublicURL is where Vonage reaches the webhooks, e.g.
	// https://abc.ngrok.app (required). The connect action's eventUrl is
	// PublicURL + "/webhooks/event".
	PublicURL string
	// ConnectText is said to the caller before connecting.
	// Default DefaultConnectText.
	ConnectText string
	// NotInServiceText is said to callers that are not routed.
	// Default DefaultNotInServiceText.
	NotInServiceText string
	// Language of both texts, a Vonage talk language. Default "en-GB".
	Language string
	// Style is the talk style (voice variant) of Language; default 0.
	Style int
	// MaxCallLength is the connect action's limit, 1 s to 2 h. Default 1 h.
	MaxCallLength time.Duration
	// SignatureSecret verifies Vonage's signed webhooks when set.
	SignatureSecret string
	// APIKey is the account's API key: a signed webhook's api_key claim
	// must equal it. Required with SignatureSecret.
	APIKey string
	// ApplicationID, when set, is the only application_id claim accepted.
	ApplicationID string
	// AllowUnsigned must be set to run without SignatureSecret; New
	// refuses otherwise.
	AllowUnsigned bool
	// OutOfSessionForward, when set (E.164), is where a call that belongs
	// to no active conversation is connected, with the dialled proxy
	// number as caller ID, instead of hearing NotInServiceText: a support
	// line, say.
	OutOfSessionForward string
	// ReplayCacheSize bounds the token ids remembered (replay.go); 0 is
	// DefaultReplayCacheSize.
	ReplayCacheSize int
	// Logger gets one line per answer and per event. Nil: slog.Default().
	// Phone numbers are masked with maskcall.MaskNumber unless LogPII.
	Logger *slog.Logger
	LogPII bool
	// Observer, if set, is told each webhook's outcome (metrics).
	Observer Observer
}

// eventURL is the connect action's eventUrl.
func (c *Config) eventURL() string { return c.PublicURL + "/webhooks/event" }

// FieldError is a Config field that New refused; Field is its Go name
// (serve maps it to the config key). It unwraps to an ECONFIG
// *maskcall.Error.
type FieldError struct {
	Field string
	Err   *maskcall.Error
}

func (e *FieldError) Error() string { return e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErrorf(field, format string, args ...any) error {
	return &FieldError{Field: field, Err: maskcall.Errorf(maskcall.ECONFIG, format, args...)}
}

// Handler serves Vonage's webhooks. Its exported fields are set by New and
// must not be changed afterwards.
type Handler struct {
	Router *maskcall.Router
	Config Config

	now     func() time.Time // clock for signature checks; tests replace it
	log     *slog.Logger
	ncco    nccoTemplates
	proxies proxyCache // E.164 of the numbers callers dial (to)
	callers proxyCache // E.164 of the numbers they call from (from)
	replay  *replayCache
	obs     Observer
	mux     *http.ServeMux // the routes alone, for ServeHTTP
}

// New checks cfg, fills in its defaults and returns the webhook handlers.
// Errors are ECONFIG; those about a setting are *FieldError.
func New(router *maskcall.Router, cfg Config) (*Handler, error) {
	if router == nil || router.Routes == nil || router.Calls == nil {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "The webhook handlers need a router with a route store and a call store.")
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	h := &Handler{Router: router, Config: cfg, now: time.Now, log: cfg.Logger, obs: observerOr(cfg.Observer)}
	if h.log == nil {
		h.log = slog.Default()
	}
	var err error
	if h.ncco, err = newNCCOTemplates(cfg); err != nil {
		return nil, &maskcall.Error{Code: maskcall.EINTERNAL, Err: err, Message: "The NCCO templates could not be built."}
	}
	h.replay = newReplayCache(cfg.ReplayCacheSize)
	h.mux = http.NewServeMux()
	h.routes(func(pattern string, hh http.Handler) { h.mux.Handle(pattern, hh) })
	return h, nil
}

// Check validates cfg and fills in its defaults; New calls it. Errors are
// *FieldError (ECONFIG).
func (cfg *Config) Check() error {
	if cfg.SignatureSecret == "" && !cfg.AllowUnsigned {
		return fieldErrorf("SignatureSecret", "No signature secret is set, so webhooks cannot be told from forgeries.")
	}
	if cfg.SignatureSecret != "" && cfg.APIKey == "" {
		return fieldErrorf("APIKey", "No API key is set, so the api_key of signed webhooks cannot be checked.")
	}
	u, err := url.Parse(cfg.PublicURL)
	switch {
	case cfg.PublicURL == "":
		return fieldErrorf("PublicURL", "No public URL is set, so the connect action's eventUrl cannot be built.")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || !validHost(u.Host) || !validPath(u.EscapedPath()):
		return fieldErrorf("PublicURL", "The public URL %q is not an http(s) URL such as https://abc.ngrok.app.", cfg.PublicURL)
	}
	cfg.PublicURL = strings.TrimRight(u.String(), "/")
	if cfg.ConnectText == "" {
		cfg.ConnectText = DefaultConnectText
	}
	if cfg.NotInServiceText == "" {
		cfg.NotInServiceText = DefaultNotInServiceText
	}
	for field, t := range map[string]string{"ConnectText": cfg.ConnectText, "NotInServiceText": cfg.NotInServiceText} {
		if !utf8.ValidString(t) || utf8.RuneCountInString(t) > maxTalkTextChars {
			return fieldErrorf(field, "A spoken text must be valid UTF-8 of at most %d characters.", maxTalkTextChars)
		}
	}
	if cfg.Language == "" {
		cfg.Language = DefaultLanguage
	}
	if !validLanguage(cfg.Language) {
		return fieldErrorf("Language", "%q is not a talk language such as en-GB.", cfg.Language)
	}
	if cfg.Style < 0 {
		return fieldErrorf("Style", "The talk style must be 0 or more, got %d.", cfg.Style)
	}
	if cfg.MaxCallLength == 0 {
		cfg.MaxCallLength = DefaultMaxCallLength
	}
	if cfg.MaxCallLength < time.Second || cfg.MaxCallLength > MaxCallLengthLimit {
		return fieldErrorf("MaxCallLength", "The maximum call length must be between 1s and 2h, got %s.", cfg.MaxCallLength)
	}
	if cfg.OutOfSessionForward != "" {
		if _, ok := msisdn(cfg.OutOfSessionForward); !ok || !strings.HasPrefix(cfg.OutOfSessionForward, "+") {
			return fieldErrorf("OutOfSessionForward", "Calls outside a conversation can only be forwarded to a number in E.164 form such as +442079460321, got %q.", cfg.OutOfSessionForward)
		}
	}
	if cfg.ReplayCacheSize < 0 {
		return fieldErrorf("ReplayCacheSize", "The replay cache size must be 0 (the default) or more, got %d.", cfg.ReplayCacheSize)
	}
	return nil
}

// Route names, for the replay cache: a token is good for one of them.
const (
	routeAnswer = "answer"
	routeEvent  = "event"
)

// routes registers every webhook route with handle.
func (h *Handler) routes(handle func(pattern string, hh http.Handler)) {
	answer := h.verified(routeAnswer, h.handleAnswer)
	event := h.verified(routeEvent, h.handleEvent)
	for _, p := range []string{"/proxy-call", "/webhooks/answer"} {
		handle("GET "+p, answer) // GET patterns match HEAD too; the middleware refuses it
		handle("POST "+p, answer)
	}
	for _, p := range []string{"/event", "/webhooks/event"} {
		handle("GET "+p, event)
		handle("POST "+p, event)
	}
}

// Mount registers the webhook routes on s.
func (h *Handler) Mount(s *httpserver.Server) {
	h.routes(func(pattern string, hh http.Handler) { s.Handle(pattern, hh) })
}

// ServeHTTP serves the webhook routes alone (tests, benchmarks).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// logNumber is how a phone number appears in logs.
func (h *Handler) logNumber(n string) string {
	if len(n) > 32 {
		n = n[:32]
	}
	if h.Config.LogPII {
		return n
	}
	return maskcall.MaskNumber(n)
}

// validHost reports whether h looks like host[:port] and nothing else.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}

// validPath accepts a URL path made of characters that need no escaping
// in JSON or in a URL.
func validPath(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' {
			return false
		}
	}
	return true
}

// validLanguage accepts BCP 47-like tags such as en-GB, cmn-CN, en-GB-WLS.
func validLanguage(l string) bool {
	if len(l) < 2 || len(l) > 20 {
		return false
	}
	for i, part := range strings.Split(l, "-") {
		if part == "" || (i == 0 && len(part) > 3) {
			return false
		}
		for j := 0; j < len(part); j++ {
			c := part[j]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
				return false
			}
		}
	}
	return true
}
