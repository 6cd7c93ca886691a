package stdwebhook

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The example of the Standard Webhooks reference libraries: this secret,
// id, timestamp and payload sign to this signature.
func TestSignature_SpecVector(t *testing.T) {
	key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Signature(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("signature = %s, want %s", got, want)
	}
}

func TestSignVerify(t *testing.T) {
	secret := NewSecret()
	if !strings.HasPrefix(secret, SecretPrefix) || NewSecret() == secret {
		t.Fatalf("secret %q", secret)
	}
	key, err := ParseSecret(secret)
	if err != nil || len(key) != 32 {
		t.Fatalf("ParseSecret = %d bytes, %v", len(key), err)
	}
	now := time.Unix(1_900_000_000, 0)
	body := []byte(`{"id":"evt_1"}`)
	h := http.Header{}
	Sign(h, key, "evt_1", now, body)
	if err := Verify(h, key, body, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func(){
		"body":   func() { body = []byte(`{"id":"evt_2"}`) },
		"id":     func() { h.Set(HeaderID, "evt_2") },
		"stale":  func() { now = now.Add(time.Hour) },
		"nosig":  func() { h.Del(HeaderSignature) },
		"wrongk": func() { key = []byte("another key of at least 24 bytes") },
	} {
		t.Run(name, func(t *testing.T) {
			oldBody, oldNow, oldKey, oldH := body, now, key, h.Clone()
			defer func() { body, now, key, h = oldBody, oldNow, oldKey, oldH }()
			f()
			if err := Verify(h, key, body, now); err == nil {
				t.Error("verified")
			}
		})
	}
	for _, bad := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_c2hvcnQ="} {
		if _, err := ParseSecret(bad); err == nil {
			t.Errorf("ParseSecret(%q) accepted", bad)
		}
	}
}
