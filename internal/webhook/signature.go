package webhook

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/vonage/signature"
)

var (
	// errUnsigned: the request has no Authorization header at all.
	errUnsigned = errors.New("webhook is not signed")
	// errReplayFull: the token verified but the replay cache could not
	// remember it (replay.go).
	errReplayFull = errors.New("replay cache full")
)

// inbound is a webhook request the verify middleware let through.
type inbound struct {
	start time.Time
	// body is a POST's body; nil for a GET.
	body []byte
	// bodyErr: the body could not be read (over MaxBodyBytes, or cut). The
	// request was NOT verified; the handler must refuse it.
	bodyErr error
}

// verifiedHandler is a webhook handler behind the verify middleware.
type verifiedHandler func(w http.ResponseWriter, r *http.Request, in inbound)

// verified is the middleware of every webhook route: it refuses HEAD, reads
// the body (up to MaxBodyBytes), and with a signature secret configured
// verifies the token, its claims and its freshness (the replay cache) for
// route before next runs. See the package documentation for the rules and
// statuses.
func (h *Handler) verified(route string, next verifiedHandler) http.Handler {
	id := routeID(route)
	failOpen := route == routeEvent // see replay.go
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if refuseHead(w, r) {
			return
		}
		in := inbound{start: time.Now()}
		if r.Method == http.MethodPost {
			if in.body, in.bodyErr = readBody(w, r); in.bodyErr != nil {
				next(w, r, in)
				return
			}
		}
		if h.Config.SignatureSecret != "" {
			err := h.verify(r, in.body, id)
			if errors.Is(err, errReplayFull) && failOpen {
				h.log.LogAttrs(r.Context(), slog.LevelWarn, route+" token not remembered", slog.String("reason", err.Error()))
				err = nil
			}
			if err != nil {
				h.observeRefused(route, err, in.start)
				h.refuse(w, r, route, err)
				return
			}
		}
		next(w, r, in)
	})
}

// verify checks the signed-webhook token of r against its payload (body
// for a POST, signature.QueryPayload of a GET's query), its claims against
// the configuration, and its jti against the replay cache. Errors are
// errUnsigned, errReplayFull or wrap signature.ErrRefused; they never
// contain the token or the secret.
func (h *Handler) verify(r *http.Request, body []byte, route uint8) error {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errUnsigned
	}
	scheme, raw, ok := strings.Cut(auth, " ")
	raw = strings.TrimSpace(raw)
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return fmt.Errorf("%w: not a bearer token", signature.ErrRefused)
	}
	payload, perr := body, error(nil)
	if r.Method != http.MethodPost {
		payload, perr = signature.QueryPayload(r.URL.RawQuery)
	}
	tok, err := signature.Parse(raw, h.Config.SignatureSecret, payload, h.now())
	if perr != nil && (err == nil || errors.Is(err, signature.ErrPayloadMismatch)) {
		// The token's own checks come first; only then does it matter
		// that there is nothing to compare its payload_hash with.
		return fmt.Errorf("%w: payload unreadable", signature.ErrRefused)
	}
	if err != nil {
		return err
	}
	switch {
	case tok.Issuer != signature.Issuer:
		return signature.Refused("iss is not " + signature.Issuer)
	case tok.APIKey != h.Config.APIKey:
		return signature.Refused("api_key is not the configured API key")
	case tok.ApplicationID != "" && h.Config.ApplicationID != "" && tok.ApplicationID != h.Config.ApplicationID:
		return signature.Refused("application_id is not the configured application")
	case tok.ID == "":
		return signature.Refused("no jti")
	}
	switch h.replay.check(&tok, route, h.now()) {
	case replayRefused:
		return signature.Refused("replayed token (jti seen before)")
	case replayFull:
		return errReplayFull
	}
	return nil
}

// refuse answers a request the middleware stopped: 503 if it was unsigned
// (Vonage retries, signed) or could not be remembered, 401 otherwise; an
// empty body either way.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, route string, err error) {
	status := http.StatusUnauthorized
	if errors.Is(err, errUnsigned) || errors.Is(err, errReplayFull) {
		status = http.StatusServiceUnavailable
	}
	h.log.LogAttrs(r.Context(), slog.LevelWarn, route+" refused",
		slog.Int("status", status), slog.String("reason", err.Error()))
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
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

// readBody reads a webhook's body up to MaxBodyBytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > MaxBodyBytes {
		return nil, &http.MaxBytesError{Limit: MaxBodyBytes}
	}
	return io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
}
