package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

// signRaw signs claims (any bytes) under header with HS256, as a token
// whose signature is good whatever the claims say.
func signRaw(header string, claims []byte, secret string) string {
	s := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString(claims)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return s + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// agree checks that the fast path accepts token only if golang-jwt's
// path does too, with the same claims; it reports whether the fast path
// took it.
func agree(t *testing.T, token, secret string, payload []byte, now time.Time) bool {
	t.Helper()
	fast, ok := parseFast(token, secret, payload, now)
	slow, err := parseJWT(token, secret, payload, now)
	if ok && (err != nil || fast != slow) {
		t.Fatalf("token %q: the fast path accepts %+v, golang-jwt's path gives %+v, %v", token, fast, slow, err)
	}
	return ok
}

// TestFastPathTakesVonageTokens: Sign's tokens, the shape Vonage and the
// sandbox send, go by the fast path with the claims golang-jwt reads, so
// serve's webhooks skip the generic parser.
func TestFastPathTakesVonageTokens(t *testing.T) {
	payload := []byte(`{"to":"447700900001","from":"447700900123"}`)
	for _, c := range []Claims{{APIKey: testAPIKey, ApplicationID: testAppID}, {APIKey: testAPIKey}} {
		for _, iat := range []time.Time{testNow, testNow.Add(-MaxAge), testNow.Add(ClockSkew)} {
			tok, err := Sign(testSecret, c, payload, iat)
			if err != nil {
				t.Fatal(err)
			}
			if !agree(t, tok, testSecret, payload, testNow) {
				t.Errorf("Sign's token (%+v, iat %v) did not take the fast path", c, iat)
			}
		}
	}
	// Other header spellings of HS256, and members in another order.
	hash := PayloadHash(payload)
	claims := fmt.Sprintf(`{"payload_hash":"%s","api_key":"%s","iss":"Vonage","jti":"j-1","iat":%d}`, hash, testAPIKey, testNow.Unix())
	for _, h := range []string{`{"typ":"JWT","alg":"HS256"}`, `{"alg":"HS256"}`} {
		if !agree(t, signRaw(h, []byte(claims), testSecret), testSecret, payload, testNow) {
			t.Errorf("header %s did not take the fast path", h)
		}
	}
}

// TestFastPathRefusesToDecide: every token the fast path must not accept
// — bad signature, wrong algorithm, out of its time window, a wrong
// payload, and every claims shape it does not read (which may still be
// good: golang-jwt's path decides) — is left to golang-jwt's path, and the
// reasons Verify gives are unchanged (TestVerify).
func TestFastPathRefusesToDecide(t *testing.T) {
	payload := []byte(`{"status":"completed"}`)
	hash := PayloadHash(payload)
	iat := testNow.Unix()
	const hs = `{"alg":"HS256","typ":"JWT"}`
	base := func(extra string) []byte {
		return []byte(fmt.Sprintf(`{"iat":%d,"jti":"j","iss":"Vonage","api_key":"k","payload_hash":"%s"%s}`, iat, hash, extra))
	}
	good := signRaw(hs, base(""), testSecret)
	if !agree(t, good, testSecret, payload, testNow) {
		t.Fatal("the reference token did not take the fast path")
	}
	parts := strings.Split(good, ".")
	cases := map[string]struct {
		token   string
		payload []byte
		now     time.Time
	}{
		"wrong secret":         {signRaw(hs, base(""), "other"), payload, testNow},
		"signature flipped":    {parts[0] + "." + parts[1] + "." + flip(parts[2]), payload, testNow},
		"claims flipped":       {parts[0] + "." + flip(parts[1]) + "." + parts[2], payload, testNow},
		"signature padded":     {good + "=", payload, testNow},
		"four segments":        {good + ".x", payload, testNow},
		"HS512 header":         {signRaw(`{"alg":"HS512","typ":"JWT"}`, base(""), testSecret), payload, testNow},
		"alg none":             {signRaw(`{"alg":"none"}`, base(""), testSecret), payload, testNow},
		"header with kid":      {signRaw(`{"alg":"HS256","kid":"1"}`, base(""), testSecret), payload, testNow},
		"payload changed":      {good, []byte(`{"status":"answered"}`), testNow},
		"no payload":           {good, nil, testNow},
		"iat too old":          {good, payload, testNow.Add(MaxAge + time.Nanosecond)},
		"iat too far ahead":    {good, payload, testNow.Add(-ClockSkew - time.Nanosecond)},
		"exp":                  {signRaw(hs, base(fmt.Sprintf(`,"exp":%d`, iat-60)), testSecret), payload, testNow},
		"nbf":                  {signRaw(hs, base(fmt.Sprintf(`,"nbf":%d`, iat+3600)), testSecret), payload, testNow},
		"aud":                  {signRaw(hs, base(`,"aud":"x"`), testSecret), payload, testNow},
		"duplicate iss":        {signRaw(hs, base(`,"iss":"Other"`), testSecret), payload, testNow},
		"duplicate iat":        {signRaw(hs, base(`,"iat":1`), testSecret), payload, testNow},
		"escaped string":       {signRaw(hs, base(`,"application_id":"a\u0062"`), testSecret), payload, testNow},
		"escaped key":          {signRaw(hs, []byte(strings.Replace(string(base("")), `"iss"`, `"\u0069ss"`, 1)), testSecret), payload, testNow},
		"upper-case key":       {signRaw(hs, []byte(strings.Replace(string(base("")), `"iss"`, `"ISS"`, 1)), testSecret), payload, testNow},
		"whitespace":           {signRaw(hs, []byte(strings.Replace(string(base("")), `,`, `, `, 1)), testSecret), payload, testNow},
		"iat a string":         {signRaw(hs, []byte(strings.Replace(string(base("")), fmt.Sprint(iat), `"`+fmt.Sprint(iat)+`"`, 1)), testSecret), payload, testNow},
		"iat a float":          {signRaw(hs, []byte(strings.Replace(string(base("")), fmt.Sprint(iat), fmt.Sprint(iat)+".5", 1)), testSecret), payload, testNow},
		"iat with exponent":    {signRaw(hs, []byte(strings.Replace(string(base("")), fmt.Sprint(iat), "17408304e2", 1)), testSecret), payload, testNow},
		"iat negative":         {signRaw(hs, []byte(strings.Replace(string(base("")), fmt.Sprint(iat), "-1", 1)), testSecret), payload, testNow},
		"iat leading zero":     {signRaw(hs, []byte(strings.Replace(string(base("")), fmt.Sprint(iat), "0"+fmt.Sprint(iat), 1)), testSecret), payload, testNow},
		"iat null":             {signRaw(hs, []byte(strings.Replace(string(base("")), fmt.Sprint(iat), "null", 1)), testSecret), payload, testNow},
		"no iat":               {signRaw(hs, []byte(fmt.Sprintf(`{"jti":"j","payload_hash":"%s"}`, hash)), testSecret), payload, testNow},
		"jti a number":         {signRaw(hs, []byte(strings.Replace(string(base("")), `"j"`, `7`, 1)), testSecret), payload, testNow},
		"payload_hash short":   {signRaw(hs, []byte(strings.Replace(string(base("")), hash, hash[:62], 1)), testSecret), payload, testNow},
		"payload_hash not hex": {signRaw(hs, []byte(strings.Replace(string(base("")), hash, "zz"+hash[2:], 1)), testSecret), payload, testNow},
		"trailing comma":       {signRaw(hs, []byte(strings.Replace(string(base("")), `}`, `,}`, 1)), testSecret), payload, testNow},
		"trailing bytes":       {signRaw(hs, append(base(""), ' '), testSecret), payload, testNow},
		"not an object":        {signRaw(hs, []byte(`[1]`), testSecret), payload, testNow},
		"nested object":        {signRaw(hs, base(`,"x":{"y":1}`), testSecret), payload, testNow},
		"non-ASCII string":     {signRaw(hs, base(`,"application_id":"é"`), testSecret), payload, testNow},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if agree(t, c.token, testSecret, c.payload, c.now) {
				t.Errorf("the fast path accepted it")
			}
		})
	}
	// At the edges of the window it still decides (and agrees).
	for _, now := range []time.Time{testNow.Add(MaxAge), testNow.Add(-ClockSkew)} {
		if !agree(t, good, testSecret, payload, now) {
			t.Errorf("at %v the reference token did not take the fast path", now.Sub(testNow))
		}
	}
}

// flip changes the first character of a base64url segment.
func flip(s string) string {
	c := byte('A')
	if s[0] == 'A' {
		c = 'B'
	}
	return string(c) + s[1:]
}

// FuzzParseClaims signs arbitrary claims bytes with the right secret (so
// the signature never stops a token) and checks that the fast path accepts
// only what golang-jwt's path accepts, with the same claims; and that
// Parse as a whole accepts exactly what golang-jwt's path accepts.
//
//	go test -run='^$' -fuzz='^FuzzParseClaims$' -fuzztime=30s ./internal/vonage/signature/
func FuzzParseClaims(f *testing.F) {
	payload := []byte(`{"to":"1"}`)
	hash := PayloadHash(payload)
	f.Add(fmt.Sprintf(`{"iat":%d,"jti":"j","iss":"Vonage","api_key":"k","payload_hash":"%s"}`, testNow.Unix(), hash), int64(0))
	f.Add(fmt.Sprintf(`{"iat":%d,"exp":%d,"payload_hash":"%s"}`, testNow.Unix(), testNow.Unix(), hash), int64(-20))
	f.Add(fmt.Sprintf(`{"iat":"%d","payload_hash":"%s"}`, testNow.Unix(), hash), int64(300))
	f.Add(fmt.Sprintf(`{"iat":%d.0,"payload_hash":"%s","jti":"a\"b"}`, testNow.Unix(), hash), int64(31))
	f.Fuzz(func(t *testing.T, claims string, offset int64) {
		now := testNow.Add(time.Duration(offset) * time.Second)
		tok := signRaw(`{"alg":"HS256","typ":"JWT"}`, []byte(claims), testSecret)
		agree(t, tok, testSecret, payload, now)
		got, err := Parse(tok, testSecret, payload, now)
		want, werr := parseJWT(tok, testSecret, payload, now)
		if (err == nil) != (werr == nil) || (err == nil && got != want) {
			t.Fatalf("claims %q: Parse = %+v, %v; golang-jwt's path %+v, %v", claims, got, err, want, werr)
		}
	})
}

// BenchmarkParse compares Parse (the fast path) with golang-jwt's path on
// a token as Vonage sends it.
func BenchmarkParse(b *testing.B) {
	payload := []byte(`{"to":"447700900001","from":"447700900123","uuid":"aaa","conversation_uuid":"CON-bbb"}`)
	tok, err := Sign(testSecret, Claims{APIKey: testAPIKey, ApplicationID: testAppID}, payload, testNow)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Parse(tok, testSecret, payload, testNow); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GolangJWT", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseJWT(tok, testSecret, payload, testNow); err != nil {
				b.Fatal(err)
			}
		}
	})
}
