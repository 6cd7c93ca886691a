// Package signature is Vonage's signed-webhook scheme, for both sides: the
// sandbox signs the webhooks it sends with Sign, `maskcall serve` checks
// them with Verify.
//
// A signed webhook carries "Authorization: Bearer <JWT>": HS256, keyed with
// the bytes of the account's signature secret, with the claims iat, jti,
// iss ("Vonage"), api_key, application_id and payload_hash, the hex SHA-256
// (PayloadHash) of the payload. The payload of a POST is its raw body; that
// of a GET is QueryPayload of its raw query.
//
// The package depends only on the standard library and golang-jwt. Parse
// reads the usual shape of token without golang-jwt (fast.go), and every
// other token with it.
package signature

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is the iss claim of Vonage's signed webhooks.
const Issuer = "Vonage"

// Time window of Verify: a token's iat may be up to MaxAge old and up to
// ClockSkew in the future. An exp or nbf present is checked with ClockSkew
// of leeway too.
const (
	MaxAge    = 5 * time.Minute
	ClockSkew = 30 * time.Second
)

// ErrRefused is wrapped by every error Verify returns.
var ErrRefused = errors.New("webhook signature refused")

// ErrPayloadMismatch is the error of Verify for a token that passes every
// other check but whose payload_hash is not the hash of the payload.
var ErrPayloadMismatch = refused("payload_hash mismatch")

// refusal is an error of Verify: the reason a token failed. It never
// contains the token or the secret.
type refusal struct{ reason string }

func (e *refusal) Error() string { return ErrRefused.Error() + ": " + e.reason }
func (e *refusal) Unwrap() error { return ErrRefused }

func refused(reason string) error { return &refusal{reason} }

// Claims are the claims of a signed webhook that the signer chooses; Sign
// adds iat, jti, iss and payload_hash.
type Claims struct {
	APIKey        string // api_key
	ApplicationID string // application_id; left out when empty
}

// Sign returns the JWT Vonage puts in "Authorization: Bearer <JWT>" of a
// signed webhook whose payload is payload (a POST's body, or QueryPayload
// of a GET's raw query): HS256 with secret, claims iat (now), a random jti
// (a version 4 UUID), iss (Issuer), api_key, application_id (when not empty)
// and payload_hash (PayloadHash of payload).
func Sign(secret string, c Claims, payload []byte, now time.Time) (string, error) {
	claims := jwt.MapClaims{
		"iat":          now.Unix(),
		"jti":          newUUID(),
		"iss":          Issuer,
		"api_key":      c.APIKey,
		"payload_hash": PayloadHash(payload),
	}
	if c.ApplicationID != "" {
		claims["application_id"] = c.ApplicationID
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// verifyClaims are the claims of a webhook token that Verify reads.
type verifyClaims struct {
	jwt.RegisteredClaims
	PayloadHash   string `json:"payload_hash"`
	APIKey        string `json:"api_key"`
	ApplicationID string `json:"application_id"`
}

// Token is what Parse read from a token it verified.
type Token struct {
	ID            string    // jti; "" if the token has none
	Issuer        string    // iss
	APIKey        string    // api_key
	ApplicationID string    // application_id; "" if absent
	IssuedAt      time.Time // iat
	// PayloadHash is the SHA-256 of the payload, which payload_hash
	// matched.
	PayloadHash [sha256.Size]byte
}

// Verify checks token, the JWT of a signed webhook (without "Bearer "),
// against secret and payload, the bytes Vonage hashed, at time now:
//
//   - the algorithm is HS256, keyed with secret's bytes; alg none, RS256,
//     HS512, ... are refused;
//   - iat is required, at most ClockSkew in the future and at most MaxAge
//     old (Vonage sends no exp); an exp or nbf present is checked, with
//     ClockSkew of leeway;
//   - payload_hash is PayloadHash(payload), compared in constant time.
//
// It does not check the other claims: Parse returns them for the caller to.
// An empty secret verifies nothing. Errors wrap ErrRefused (a wrong
// payload_hash is ErrPayloadMismatch) and never contain the token or the
// secret.
func Verify(token, secret string, payload []byte, now time.Time) error {
	_, err := Parse(token, secret, payload, now)
	return err
}

// Parse is Verify, returning the token's claims when it passes.
func Parse(token, secret string, payload []byte, now time.Time) (Token, error) {
	if secret == "" {
		return Token{}, refused("no secret")
	}
	if tok, ok := parseFast(token, secret, payload, now); ok {
		return tok, nil
	}
	return parseJWT(token, secret, payload, now)
}

// parseJWT is Parse through golang-jwt's parser: every token the fast path
// does not take, and the reason a token is refused.
func parseJWT(token, secret string, payload []byte, now time.Time) (Token, error) {
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(ClockSkew),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	var claims verifyClaims
	if _, err := p.ParseWithClaims(token, &claims, func(*jwt.Token) (any, error) { return []byte(secret), nil }); err != nil {
		return Token{}, refused(jwtReason(err))
	}
	if claims.IssuedAt == nil {
		return Token{}, refused("no iat")
	}
	if now.Sub(claims.IssuedAt.Time) > MaxAge {
		return Token{}, refused("iat too old")
	}
	want, err := hex.DecodeString(claims.PayloadHash)
	if err != nil || len(want) != sha256.Size {
		return Token{}, refused("no valid payload_hash")
	}
	got := sha256.Sum256(payload)
	if subtle.ConstantTimeCompare(got[:], want) != 1 {
		return Token{}, ErrPayloadMismatch
	}
	return Token{
		ID: claims.ID, Issuer: claims.Issuer, APIKey: claims.APIKey, ApplicationID: claims.ApplicationID,
		IssuedAt: claims.IssuedAt.Time, PayloadHash: got,
	}, nil
}

// Refused returns an error wrapping ErrRefused that gives reason, for the
// checks a caller makes on Parse's claims.
func Refused(reason string) error { return refused(reason) }

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

// PayloadHash is the payload_hash claim for payload: its hex SHA-256.
func PayloadHash(payload []byte) string {
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:])
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

// newUUID returns a random (version 4) UUID in RFC 4122 text form, for jti.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
