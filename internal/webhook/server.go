// Package webhook is the HTTP server behind `maskcall serve`: it answers
// Vonage's answer webhook with an NCCO that connects an inbound call to the
// other participant of its conversation, and records Vonage's call events.
//
// # Routes
//
//	GET|POST /proxy-call, /webhooks/answer   answer webhook, replies with an NCCO
//	GET|POST /event, /webhooks/event         event webhook, replies 204
//	GET      /healthz                        {"status":"ok"}
//
// Other methods get 405 (ServeMux's, with an Allow header; HEAD on a webhook
// is refused too so it cannot route a call). Unknown paths get 404.
//
// # Answer webhook
//
// The answer webhook always replies 200 with an NCCO when the request is
// authentic: a connect NCCO for a caller with an active conversation, and
// otherwise (stranger, ended or expired conversation, unparsable or missing
// numbers, oversized body, store error, even a panic) an NCCO that only
// says Config.NotInServiceText, after which Vonage hangs up. It never
// replies 4xx/5xx for those and never connects them.
//
// # Event webhook
//
//	204  the event is valid; recorded, a duplicate, or of a call maskcall did
//	     not route (Vonage must not retry those); also events without a
//	     status (transfer, input, record, ...) which are ignored
//	400  malformed JSON or query, an unknown status, a bad duration or time,
//	     neither uuid nor conversation_uuid
//	413  body over 64 KiB
//	500  the store failed (Vonage retries)
//
// # Signed webhooks
//
// With Config.SignatureSecret set every webhook must carry
// "Authorization: Bearer <JWT>" (see verify in signature.go and package
// internal/vonage/signature):
//
//   - HS256 only, keyed with the secret's bytes; alg none, RS256, ... refused;
//   - iat is required, may be at most 30 s in the future (clock skew) and
//     at most 5 min old (Vonage sends no exp; an exp or nbf present is
//     checked, with the same 30 s leeway);
//   - payload_hash is the hex SHA-256 of the payload: the raw body of a POST,
//     or signature.QueryPayload(rawQuery) for a GET.
//
// A token that fails any check gets 401 with an empty body and the Router is
// not called. A request without an Authorization header at all gets 503:
// Vonage documents that, after an internal error, it may send a callback
// unsigned, and that a 5xx makes it retry (signed). With no secret the server
// only starts if Config.AllowUnsigned is set.
//
// # eventUrl
//
// The connect action's eventUrl is Config.PublicURL + "/webhooks/event".
// With PublicURL empty it is derived from each answer request: scheme from
// X-Forwarded-Proto ("http" or "https" only) or from TLS, host from the Host
// header (letters, digits, '.', '-', ':', '[', ']' only). If the Host header
// is unusable, eventUrl is left out and Vonage uses the application's
// event_url. The Host header is the caller's to choose, so set PublicURL in
// production; the derivation is meant for a local tunnel such as ngrok.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// Defaults for Config's zero values.
const (
	DefaultConnectText      = "Please wait while we connect your call."
	DefaultNotInServiceText = "The number you have dialled is not in service."
	DefaultLanguage         = "en-GB"
	DefaultMaxCallLength    = time.Hour
)

// Limits and timeouts of the server.
const (
	// MaxBodyBytes bounds a webhook's body.
	MaxBodyBytes = 64 << 10
	// MaxCallLengthLimit is the largest connect limit an NCCO allows.
	MaxCallLengthLimit = 7200 * time.Second

	maxTalkTextChars = 1500 // talk.text maxLength in the NCCO schema
	answerTimeout    = 4 * time.Second
	eventTimeout     = 10 * time.Second
	shutdownTimeout  = 5 * time.Second
	maxHeaderBytes   = 64 << 10
)

// Config configures a Server. NewServer fills in defaults; the Server's
// Config field holds the effective values.
type Config struct {
	// PublicURL is where Vonage reaches this server, e.g.
	// https://abc.ngrok.app. The connect action's eventUrl is PublicURL +
	// "/webhooks/event". Empty: derived from each answer request's Host and
	// X-Forwarded-Proto headers (see the package documentation).
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
	// AllowUnsigned must be set to run without SignatureSecret; NewServer
	// refuses otherwise.
	AllowUnsigned bool
	// Logger gets one line per answer and per event. Nil: slog.Default().
	// Phone numbers are masked with maskcall.MaskNumber unless LogPII.
	Logger *slog.Logger
	LogPII bool
}

// Server is the webhook server. Its exported fields are set by NewServer
// and must not be changed afterwards.
type Server struct {
	Addr   string
	Router *maskcall.Router
	Config Config

	now      func() time.Time // clock for signature checks; tests replace it
	log      *slog.Logger
	secret   string // the signature secret; "" if webhooks are not verified
	ncco     nccoTemplates
	proxies  proxyCache // E.164 of the numbers callers dial (to)
	callers  proxyCache // E.164 of the numbers they call from (from)
	handler  http.Handler
	mu       sync.Mutex
	ln       net.Listener
	srv      *http.Server
	serveErr chan error
}

// NewServer checks cfg, fills in its defaults and returns a server that
// will listen on addr (e.g. ":8080", "127.0.0.1:0"). Errors are ECONFIG.
func NewServer(addr string, router *maskcall.Router, cfg Config) (*Server, error) {
	if router == nil || router.Routes == nil || router.Calls == nil {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "The webhook server needs a router with a route store and a call store.")
	}
	if cfg.SignatureSecret == "" && !cfg.AllowUnsigned {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "No signature secret is set, so webhooks cannot be verified.").
			WithHint("Set vonage.signature_secret (VONAGE_SIGNATURE_SECRET) and enable signed webhooks in the Vonage dashboard, or explicitly allow unsigned webhooks for local testing.")
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			u.RawQuery != "" || u.Fragment != "" || !validHost(u.Host) {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "The public URL %q is not an http(s) URL such as https://abc.ngrok.app.", cfg.PublicURL)
		}
		cfg.PublicURL = strings.TrimRight(u.String(), "/")
	}
	if cfg.ConnectText == "" {
		cfg.ConnectText = DefaultConnectText
	}
	if cfg.NotInServiceText == "" {
		cfg.NotInServiceText = DefaultNotInServiceText
	}
	for _, t := range []string{cfg.ConnectText, cfg.NotInServiceText} {
		if !utf8.ValidString(t) || utf8.RuneCountInString(t) > maxTalkTextChars {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "A spoken text must be valid UTF-8 of at most %d characters.", maxTalkTextChars)
		}
	}
	if cfg.Language == "" {
		cfg.Language = DefaultLanguage
	}
	if !validLanguage(cfg.Language) {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "%q is not a talk language such as en-GB.", cfg.Language)
	}
	if cfg.Style < 0 {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "The talk style must be 0 or more, got %d.", cfg.Style)
	}
	if cfg.MaxCallLength == 0 {
		cfg.MaxCallLength = DefaultMaxCallLength
	}
	if cfg.MaxCallLength < time.Second || cfg.MaxCallLength > MaxCallLengthLimit {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "The maximum call length must be between 1s and 2h, got %s.", cfg.MaxCallLength)
	}
	s := &Server{Addr: addr, Router: router, Config: cfg, now: time.Now, log: cfg.Logger}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.secret = cfg.SignatureSecret
	s.ncco = newNCCOTemplates(cfg)
	s.handler = s.routes()
	return s, nil
}

// routes registers every route of the server.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	answer := http.HandlerFunc(s.handleAnswer)
	event := http.HandlerFunc(s.handleEvent)
	for _, p := range []string{"/proxy-call", "/webhooks/answer"} {
		mux.Handle("GET "+p, answer) // GET patterns match HEAD too; the handler refuses it
		mux.Handle("POST "+p, answer)
	}
	for _, p := range []string{"/event", "/webhooks/event"} {
		mux.Handle("GET "+p, event)
		mux.Handle("POST "+p, event)
	}
	mux.HandleFunc("GET /healthz", s.handleHealth)
	return mux
}

// Handler returns the server's routes.
func (s *Server) Handler() http.Handler { return s.handler }

// Open listens on s.Addr at once (a port in use is an error here) and then
// serves in a goroutine until Close.
func (s *Server) Open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return maskcall.Errorf(maskcall.ECONFLICT, "The webhook server is already open.")
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return &maskcall.Error{Code: maskcall.ECONFIG, Err: err,
			Message: fmt.Sprintf("Cannot listen on %s: %v.", s.Addr, err),
			Hint:    "Pick another address, or stop what uses the port."}
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.serveErr = make(chan error, 1)
	go func(srv *http.Server, ch chan<- error) {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		} else if err != nil {
			s.log.Error("webhook server stopped", "err", err)
		}
		ch <- err
	}(s.srv, s.serveErr)
	return nil
}

// URL returns the server's base URL, e.g. http://127.0.0.1:8080, or "" if
// it is not open. An unspecified listen address is shown as 127.0.0.1.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	a, ok := s.ln.Addr().(*net.TCPAddr)
	if !ok {
		return "http://" + s.ln.Addr().String()
	}
	host := "127.0.0.1"
	if !a.IP.IsUnspecified() {
		host = a.IP.String()
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(a.Port))
}

// Port returns the port the server listens on, 0 if it is not open.
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return 0
	}
	if a, ok := s.ln.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// Close shuts the server down gracefully, waiting up to 5 seconds for
// requests in flight, then closes what is left. Closing a server that is not
// open does nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	srv, ch := s.srv, s.serveErr
	s.srv, s.ln, s.serveErr = nil, nil, nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	if serr := <-ch; err == nil {
		err = serr
	}
	return err
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
}

// refuseHead answers HEAD on a webhook route (ServeMux lets HEAD through
// GET patterns) with 405 and reports whether it did.
func refuseHead(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodHead {
		return false
	}
	w.Header().Set("Allow", "GET, POST")
	w.WriteHeader(http.StatusMethodNotAllowed)
	return true
}

// logNumber is how a phone number appears in logs.
func (s *Server) logNumber(n string) string {
	if len(n) > 32 {
		n = n[:32]
	}
	if s.Config.LogPII {
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
