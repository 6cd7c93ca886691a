// Package stdwebhook signs and verifies webhooks as the Standard Webhooks
// specification (https://www.standardwebhooks.com) describes, so the
// platforms maskcall calls back can verify with an existing library in
// their language.
//
// A request carries webhook-id (the event id, the same on every retry),
// webhook-timestamp (unix seconds when it was sent) and webhook-signature:
// "v1," and the base64 of HMAC-SHA256(key, id + "." + timestamp + "." +
// body), where key is the base64-decoded secret after its "whsec_" prefix.
package stdwebhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Header names.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every secret.
const SecretPrefix = "whsec_"

// NewSecret returns a new secret: whsec_ and the base64 of 32 random bytes.
func NewSecret() string {
	var b [32]byte
	rand.Read(b[:])
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:])
}

// ErrSecret: a secret that is not whsec_ and base64 of at least 24 bytes.
var ErrSecret = errors.New("not a webhook secret (whsec_ and base64 of at least 24 bytes)")

// ParseSecret returns the signing key of secret.
func ParseSecret(secret string) ([]byte, error) {
	s, ok := strings.CutPrefix(strings.TrimSpace(secret), SecretPrefix)
	if !ok {
		return nil, ErrSecret
	}
	key, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(key) < 24 {
		return nil, ErrSecret
	}
	return key, nil
}

// Signature returns the webhook-signature value of body sent as id at
// unix time ts.
func Signature(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(strconv.FormatInt(ts, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign sets h's three headers for body sent as id at now.
func Sign(h http.Header, key []byte, id string, now time.Time, body []byte) {
	ts := now.Unix()
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, Signature(key, id, ts, body))
}

// Tolerance is how far a timestamp may be from the receiver's clock.
const Tolerance = 5 * time.Minute

// Verify checks h's signature of body at now: one of the space-separated
// v1 signatures matches and the timestamp is within Tolerance.
func Verify(h http.Header, key []byte, body []byte, now time.Time) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return errors.New("missing webhook headers")
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return errors.New("bad webhook-timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return errors.New("webhook-timestamp too far from now")
	}
	want := Signature(key, id, ts, body)
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("no matching signature")
}
