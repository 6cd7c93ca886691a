package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/maskcall/maskcall/internal/vonage/signature"
)

// errUnsigned: the request has no Authorization header at all.
var errUnsigned = errors.New("webhook is not signed")

// verify checks the signed-webhook token of r against payload, the bytes
// Vonage hashed (the body of a POST, signature.QueryPayload of a GET's
// query), with signature.Verify. It returns nil when no secret is
// configured. Errors are errUnsigned or wrap signature.ErrRefused; they
// never contain the token or the secret.
func (s *Server) verify(r *http.Request, payload func() ([]byte, error)) error {
	if s.secret == "" {
		return nil
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errUnsigned
	}
	scheme, raw, ok := strings.Cut(auth, " ")
	raw = strings.TrimSpace(raw)
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return fmt.Errorf("%w: not a bearer token", signature.ErrRefused)
	}
	body, perr := payload()
	if perr != nil {
		body = nil
	}
	err := signature.Verify(raw, s.secret, body, s.now())
	if perr != nil && (err == nil || errors.Is(err, signature.ErrPayloadMismatch)) {
		// The token's own checks come first; only then does it matter
		// that there is nothing to compare its payload_hash with.
		return fmt.Errorf("%w: payload unreadable", signature.ErrRefused)
	}
	return err
}
