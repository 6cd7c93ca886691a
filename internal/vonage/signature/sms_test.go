package signature

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSignSMS_MatchesTheDocumentedConstruction(t *testing.T) {
	params := map[string]string{"msisdn": "447700900001", "to": "447700900000", "text": "a&b=c", "timestamp": "1578787200", "sig": "ignored"}
	// Written out by hand from the documented recipe.
	base := "&msisdn=447700900001&text=a_b_c&timestamp=1578787200&to=447700900000"
	md := md5.Sum([]byte(base + "secret"))
	if got := SignSMS(SMSMD5Hash, "secret", params); got != hex.EncodeToString(md[:]) {
		t.Errorf("md5hash: %s", got)
	}
	m := hmac.New(sha256.New, []byte("secret"))
	m.Write([]byte(base))
	if got := SignSMS(SMSSHA256, "secret", params); got != hex.EncodeToString(m.Sum(nil)) {
		t.Errorf("sha256: %s", got)
	}
	if SignSMS("crc32", "secret", params) != "" {
		t.Error("unknown method signed")
	}
}

func TestVerifySMS(t *testing.T) {
	now := time.Unix(1_900_000_000, 0)
	sign := func(method string, ts time.Time) map[string]string {
		p := map[string]string{"msisdn": "447700900001", "to": "447700900000", "messageId": "0A1", "text": "hi",
			"timestamp": strconv.FormatInt(ts.Unix(), 10), "nonce": "n1"}
		p["sig"] = SignSMS(method, "secret", p)
		return p
	}
	for _, m := range SMSMethods {
		p := sign(m, now)
		if err := VerifySMS(m, "secret", p, now); err != nil {
			t.Errorf("%s: %v", m, err)
		}
		p["sig"] = strings.ToUpper(p["sig"])
		if err := VerifySMS(m, "secret", p, now); err != nil {
			t.Errorf("%s upper case: %v", m, err)
		}
	}
	for name, tc := range map[string]struct {
		p      map[string]string
		secret string
	}{
		"tampered text": {func() map[string]string { p := sign(SMSSHA256, now); p["text"] = "ho"; return p }(), "secret"},
		"added param":   {func() map[string]string { p := sign(SMSSHA256, now); p["x"] = "1"; return p }(), "secret"},
		"wrong secret":  {sign(SMSSHA256, now), "other"},
		"no sig":        {func() map[string]string { p := sign(SMSSHA256, now); delete(p, "sig"); return p }(), "secret"},
		"stale":         {sign(SMSSHA256, now.Add(-MaxAge-time.Second)), "secret"},
		"future":        {sign(SMSSHA256, now.Add(ClockSkew+time.Second)), "secret"},
		"no timestamp":  {func() map[string]string { p := sign(SMSSHA256, now); delete(p, "timestamp"); return p }(), "secret"},
		"no secret":     {sign(SMSSHA256, now), ""},
	} {
		if err := VerifySMS(SMSSHA256, tc.secret, tc.p, now); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want refused", name, err)
		}
	}
}
