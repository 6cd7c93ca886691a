package signature

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	testSecret = "test-signature-secret-0123456789abcdef"
	testAPIKey = "abcd1234"
	testAppID  = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
)

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// token signs claims with method and key.
func token(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// vonageClaims are the claims of a Vonage token for payload issued at iat,
// with extra added (a nil value deletes a claim).
func vonageClaims(iat time.Time, payload []byte, extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{
		"iat":            iat.Unix(),
		"jti":            "6f0c2ad4-7d8b-4b9e-8f71-1d0e8f1c2b3a",
		"iss":            "Vonage",
		"api_key":        testAPIKey,
		"application_id": testAppID,
		"payload_hash":   PayloadHash(payload),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func TestSignVerify(t *testing.T) {
	payload := []byte(`{"to":"447700900001","from":"447700900123"}`)
	tok, err := Sign(testSecret, Claims{APIKey: testAPIKey, ApplicationID: testAppID}, payload, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(tok, testSecret, payload, testNow); err != nil {
		t.Fatalf("Verify of Sign's token: %v", err)
	}
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return []byte(testSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer(Issuer), jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return testNow }))
	if err != nil || parsed.Header["alg"] != "HS256" {
		t.Fatalf("Sign's token does not parse as HS256: %v", err)
	}
	if claims["iat"] != float64(testNow.Unix()) || claims["api_key"] != testAPIKey || claims["application_id"] != testAppID ||
		claims["payload_hash"] != PayloadHash(payload) || claims["iss"] != "Vonage" {
		t.Errorf("claims = %v", claims)
	}
	if jti, _ := claims["jti"].(string); len(jti) != 36 || jti[14] != '4' {
		t.Errorf("jti %v is not a version 4 UUID", claims["jti"])
	}
	tok2, _ := Sign(testSecret, Claims{APIKey: testAPIKey, ApplicationID: testAppID}, payload, testNow)
	if tok2 == tok {
		t.Error("two tokens share a jti")
	}

	// No application_id: the claim is left out.
	tok, err = Sign(testSecret, Claims{APIKey: testAPIKey}, nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	claims = jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
		t.Fatal(err)
	}
	if _, ok := claims["application_id"]; ok || claims["payload_hash"] != PayloadHash(nil) {
		t.Errorf("claims = %v", claims)
	}
	if err := Verify(tok, testSecret, nil, testNow); err != nil {
		t.Errorf("Verify with an empty payload: %v", err)
	}
}

func TestPayloadHash(t *testing.T) {
	// SHA-256 of "abc" and of nothing.
	if got := PayloadHash([]byte("abc")); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("PayloadHash(abc) = %s", got)
	}
	if got := PayloadHash(nil); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("PayloadHash(nil) = %s", got)
	}
}

func TestVerify(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"status":"completed","uuid":"U","duration":"3"}`)
	hs := func(secret string, iat time.Time, extra jwt.MapClaims) string {
		return token(t, jwt.SigningMethodHS256, []byte(secret), vonageClaims(iat, payload, extra))
	}
	tests := []struct {
		name    string
		token   string
		payload []byte
		secret  string
		reason  string // "" if the token is accepted
	}{
		{"valid", hs(testSecret, testNow, nil), payload, testSecret, ""},
		{"valid, 4 min old", hs(testSecret, testNow.Add(-4*time.Minute), nil), payload, testSecret, ""},
		{"valid, MaxAge old", hs(testSecret, testNow.Add(-MaxAge), nil), payload, testSecret, ""},
		{"valid, ClockSkew ahead", hs(testSecret, testNow.Add(ClockSkew), nil), payload, testSecret, ""},
		{"valid, exp within leeway", hs(testSecret, testNow, jwt.MapClaims{"exp": testNow.Add(-10 * time.Second).Unix()}), payload, testSecret, ""},
		{"valid, no application_id", hs(testSecret, testNow, jwt.MapClaims{"application_id": nil}), payload, testSecret, ""},
		{"iat a numeric string", hs(testSecret, testNow, jwt.MapClaims{"iat": "1740830400"}), payload, testSecret, ""},
		{"wrong secret", hs("another-secret", testNow, nil), payload, testSecret, "bad signature or algorithm"},
		{"empty secret", hs(testSecret, testNow, nil), payload, "", "no secret"},
		{"tampered payload", hs(testSecret, testNow, nil), []byte(`{"status":"completed","uuid":"U","duration":"3000"}`), testSecret, "payload_hash mismatch"},
		{"no payload", hs(testSecret, testNow, nil), nil, testSecret, "payload_hash mismatch"},
		{"stale iat", hs(testSecret, testNow.Add(-MaxAge-time.Second), nil), payload, testSecret, "iat too old"},
		{"future iat", hs(testSecret, testNow.Add(ClockSkew+5*time.Second), nil), payload, testSecret, "iat in the future"},
		{"no iat", hs(testSecret, testNow, jwt.MapClaims{"iat": nil}), payload, testSecret, "no iat"},
		{"iat not a number", hs(testSecret, testNow, jwt.MapClaims{"iat": "yesterday"}), payload, testSecret, "malformed token"},
		{"no payload_hash", hs(testSecret, testNow, jwt.MapClaims{"payload_hash": nil}), payload, testSecret, "no valid payload_hash"},
		{"payload_hash not hex", hs(testSecret, testNow, jwt.MapClaims{"payload_hash": "zz"}), payload, testSecret, "no valid payload_hash"},
		{"payload_hash short", hs(testSecret, testNow, jwt.MapClaims{"payload_hash": PayloadHash(payload)[:62]}), payload, testSecret, "no valid payload_hash"},
		{"payload_hash upper case", hs(testSecret, testNow, jwt.MapClaims{"payload_hash": strings.ToUpper(PayloadHash(payload))}), payload, testSecret, ""},
		{"expired", hs(testSecret, testNow, jwt.MapClaims{"exp": testNow.Add(-time.Minute).Unix()}), payload, testSecret, "token expired"},
		{"nbf ahead", hs(testSecret, testNow, jwt.MapClaims{"nbf": testNow.Add(time.Hour).Unix()}), payload, testSecret, "token not valid yet"},
		{"alg none", token(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, vonageClaims(testNow, payload, nil)), payload, testSecret, "bad signature or algorithm"},
		{"RS256", token(t, jwt.SigningMethodRS256, rsaKey, vonageClaims(testNow, payload, nil)), payload, testSecret, "bad signature or algorithm"},
		{"HS512 with the right secret", token(t, jwt.SigningMethodHS512, []byte(testSecret), vonageClaims(testNow, payload, nil)), payload, testSecret, "bad signature or algorithm"},
		{"garbage", "not.a.jwt", payload, testSecret, "malformed token"},
		{"empty", "", payload, testSecret, "malformed token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.token, tt.secret, tt.payload, testNow)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Verify = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify = nil, want %q", tt.reason)
			}
			if !errors.Is(err, ErrRefused) || err.Error() != "webhook signature refused: "+tt.reason {
				t.Errorf("Verify = %v, want %q wrapping ErrRefused", err, tt.reason)
			}
			if errors.Is(err, ErrPayloadMismatch) != (tt.reason == "payload_hash mismatch") {
				t.Errorf("Verify = %v: errors.Is(err, ErrPayloadMismatch) = %v", err, errors.Is(err, ErrPayloadMismatch))
			}
			if tt.token != "" && strings.Contains(err.Error(), tt.token) || strings.Contains(err.Error(), testSecret) {
				t.Errorf("Verify's error shows the token or the secret: %v", err)
			}
		})
	}
}

// TestSignQueryPayload: a GET signed over QueryPayload of the raw query it
// sends verifies against the same raw query, and not a reordered one.
func TestSignQueryPayload(t *testing.T) {
	raw := "to=447700900001&from=447700900123&region_url=https%3A%2F%2Fapi-eu-1.vonage.com"
	p, err := QueryPayload(raw)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := Sign(testSecret, Claims{APIKey: testAPIKey}, p, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if p2, _ := QueryPayload("to=447700900001&from=%34%347700900123&region_url=https://api-eu-1.vonage.com"); Verify(tok, testSecret, p2, testNow) != nil {
		t.Error("an equivalently escaped query does not verify")
	}
	if p2, _ := QueryPayload("from=447700900123&to=447700900001&region_url=https%3A%2F%2Fapi-eu-1.vonage.com"); !errors.Is(Verify(tok, testSecret, p2, testNow), ErrPayloadMismatch) {
		t.Error("a reordered query verifies")
	}
}

func TestQueryPayload(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"", "{}"},
		{"to=447700900001&from=447700900123&uuid=aaa&conversation_uuid=CON-bbb",
			`{"to":"447700900001","from":"447700900123","uuid":"aaa","conversation_uuid":"CON-bbb"}`},
		{"region_url=https%3A%2F%2Fapi-eu-1.vonage.com&custom_data=%7B%22a%22%3A1%7D",
			`{"region_url":"https://api-eu-1.vonage.com","custom_data":"{\"a\":1}"}`},
		{"a=%3C%26%3E&b=x+y&c=%0A%09%01&d=caf%C3%A9&e=%5C", `{"a":"<&>","b":"x y","c":"\n\t\u0001","d":"café","e":"\\"}`},
		{"flag&&x=", `{"flag":"","x":""}`},
		{"a=1&a=2", `{"a":"1","a":"2"}`},
		{"from=%2B447700900001", `{"from":"+447700900001"}`},
		{"to=447700900001&from=44+7700%22900&a=%3C%26%3E", `{"to":"447700900001","from":"44 7700\"900","a":"<&>"}`},
	}
	for _, tt := range tests {
		got, err := QueryPayload(tt.raw)
		if err != nil || string(got) != tt.want {
			t.Errorf("QueryPayload(%q) = %s, %v; want %s", tt.raw, got, err, tt.want)
		}
	}
	for _, raw := range []string{"a=%zz", "a=%ff", "%=1"} {
		if _, err := QueryPayload(raw); err == nil {
			t.Errorf("QueryPayload(%q) did not fail", raw)
		}
	}
}
