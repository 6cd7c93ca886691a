package webhook

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Signature time window: a token's iat may be up to SignatureMaxAge old and
// up to SignatureClockSkew in the future.
const (
	SignatureMaxAge    = 5 * time.Minute
	SignatureClockSkew = 30 * time.Second
)

var (
	// errUnsigned: the request has no Authorization header at all.
	errUnsigned = errors.New("webhook is not signed")
	// errBadSignature: the request carries a token that fails a check.
	errBadSignature = errors.New("webhook signature refused")
)

// signatureClaims are the claims of Vonage's webhook token that are checked.
type signatureClaims struct {
	jwt.RegisteredClaims
	PayloadHash string `json:"payload_hash"`
}

// verify checks the signed-webhook token of r against payload, the bytes
// Vonage hashed (the body of a POST, QueryPayload of a GET's query). It
// returns nil when no secret is configured. Errors are errUnsigned or wrap
// errBadSignature; they never contain the token or the secret.
func (s *Server) verify(r *http.Request, payload func() ([]byte, error)) error {
	if s.secret == nil {
		return nil
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return errUnsigned
	}
	scheme, raw, ok := strings.Cut(auth, " ")
	raw = strings.TrimSpace(raw)
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return badSignature("not a bearer token")
	}
	now := s.now()
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(SignatureClockSkew),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var claims signatureClaims
	if _, err := p.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return s.secret, nil }); err != nil {
		return badSignature(jwtReason(err))
	}
	if claims.IssuedAt == nil {
		return badSignature("no iat")
	}
	if now.Sub(claims.IssuedAt.Time) > SignatureMaxAge {
		return badSignature("iat too old")
	}
	want, err := hex.DecodeString(claims.PayloadHash)
	if err != nil || len(want) != sha256.Size {
		return badSignature("no valid payload_hash")
	}
	body, err := payload()
	if err != nil {
		return badSignature("payload unreadable")
	}
	got := sha256.Sum256(body)
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return badSignature("payload_hash mismatch")
	}
	return nil
}

type signatureError struct{ reason string }

func (e *signatureError) Error() string { return "webhook signature refused: " + e.reason }
func (e *signatureError) Unwrap() error { return errBadSignature }

func badSignature(reason string) error { return &signatureError{reason} }

// jwtReason names what failed without echoing the token.
func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature or algorithm"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "iat in the future"
	case errors.Is(err, jwt.ErrTokenExpired):
		return "token expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return "token not valid yet"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unverifiable token"
	}
	return "invalid token"
}

// QueryPayload returns the bytes whose SHA-256 is the payload_hash of a
// signed GET webhook with the raw (still escaped) query rawQuery: the query
// parameters, in the order they appear, as one JSON object of strings with
// no whitespace, e.g. {"to":"447700900001","from":"447700900123"}.
//
// Keys and values are unescaped as in a URL query ('+' is a space). Empty
// parameters ("a=1&&b=2") are skipped; a parameter without '=' has the value
// "". A repeated key appears as often as it is repeated. Strings are
// escaped minimally, as JavaScript's JSON.stringify and most JSON writers do:
// only '"', '\\' and control characters (\b \f \n \r \t, others as \u00xx);
// '<', '>', '&', '/' and non-ASCII characters are written as they are
// (UTF-8), unlike encoding/json's default HTML escaping. A query with bad
// %-escapes or invalid UTF-8 is an error.
func QueryPayload(rawQuery string) ([]byte, error) {
	b := make([]byte, 0, len(rawQuery)+16)
	b = append(b, '{')
	first := true
	for rest := rawQuery; rest != ""; {
		var part string
		part, rest, _ = strings.Cut(rest, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		if !utf8.ValidString(key) || !utf8.ValidString(val) {
			return nil, errors.New("query is not valid UTF-8")
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, key)
		b = append(b, ':')
		b = appendJSONString(b, val)
	}
	return append(b, '}'), nil
}

// appendJSONString appends s (valid UTF-8) as a JSON string with minimal
// escaping.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
