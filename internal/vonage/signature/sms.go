package signature

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"hash"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Signed inbound SMS. When Vonage support switches signing on for an
// account, every inbound SMS carries sig, a hash of its other parameters
// with the account's signature secret, and timestamp (unix seconds), which
// bounds the replay window:
//
//   - take every parameter except sig, sorted by name;
//   - in each value replace '&' and '=' with '_';
//   - join as "&name=value&name=value…" (a leading '&');
//   - md5hash (the default) is the hex MD5 of that string with the secret
//     appended; md5, sha1, sha256 and sha512 are the hex HMAC of the string
//     keyed with the secret.
//
// Hex digests compare case-insensitively.

// SMS signature methods.
const (
	SMSMD5Hash = "md5hash"
	SMSMD5     = "md5"
	SMSSHA1    = "sha1"
	SMSSHA256  = "sha256"
	SMSSHA512  = "sha512"
)

// SMSMethods lists the methods, the default first.
var SMSMethods = []string{SMSMD5Hash, SMSMD5, SMSSHA1, SMSSHA256, SMSSHA512}

// ValidSMSMethod reports whether m is one of SMSMethods.
func ValidSMSMethod(m string) bool {
	for _, k := range SMSMethods {
		if m == k {
			return true
		}
	}
	return false
}

// smsSigString is the string the sig covers.
func smsSigString(params map[string]string) string {
	names := make([]string, 0, len(params))
	for k := range params {
		if k != "sig" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	r := strings.NewReplacer("&", "_", "=", "_")
	var b strings.Builder
	for _, k := range names {
		b.WriteString("&")
		b.WriteString(k)
		b.WriteString("=")
		b.WriteString(r.Replace(params[k]))
	}
	return b.String()
}

// SignSMS returns the sig of params (sig itself, if present, is left out)
// with method and secret; "" for an unknown method.
func SignSMS(method, secret string, params map[string]string) string {
	s := smsSigString(params)
	var h hash.Hash
	switch method {
	case SMSMD5Hash:
		sum := md5.Sum([]byte(s + secret))
		return hex.EncodeToString(sum[:])
	case SMSMD5:
		h = hmac.New(md5.New, []byte(secret))
	case SMSSHA1:
		h = hmac.New(sha1.New, []byte(secret))
	case SMSSHA256:
		h = hmac.New(sha256.New, []byte(secret))
	case SMSSHA512:
		h = hmac.New(sha512.New, []byte(secret))
	default:
		return ""
	}
	h.Write([]byte(s))
	return hex.EncodeToString(h.Sum(nil))
}

// VerifySMS checks the sig and timestamp of an inbound SMS's parameters:
// the sig must be SignSMS's (case-insensitively) and the timestamp within
// MaxAge in the past and ClockSkew in the future of now. Errors wrap
// ErrRefused and hold neither the sig nor the secret.
func VerifySMS(method, secret string, params map[string]string, now time.Time) error {
	if secret == "" || !ValidSMSMethod(method) {
		return refused("no SMS signature method or secret")
	}
	sig, ok := params["sig"]
	if !ok || sig == "" {
		return refused("no sig")
	}
	ts, ok := params["timestamp"]
	if !ok {
		return refused("no timestamp")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return refused("timestamp is not unix seconds")
	}
	t := time.Unix(sec, 0)
	if t.Before(now.Add(-MaxAge)) {
		return refused("timestamp too old")
	}
	if t.After(now.Add(ClockSkew)) {
		return refused("timestamp in the future")
	}
	want := SignSMS(method, secret, params)
	if subtle.ConstantTimeCompare([]byte(strings.ToLower(sig)), []byte(want)) != 1 {
		return refused("sig mismatch")
	}
	return nil
}
