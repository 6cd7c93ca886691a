package webhook

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/maskcall/maskcall/internal/vonage/signature"
)

const (
	testSecret        = "test-signature-secret-0123456789abcdef"
	testAPIKey        = "abcd1234"
	testApplicationID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
)

// testJTI returns a fresh token id, as Vonage gives every token.
func testJTI() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// vonageToken makes a token like Vonage's signed webhooks carry.
func vonageToken(t testing.TB, method jwt.SigningMethod, key any, iat time.Time, payload []byte) string {
	t.Helper()
	sum := sha256.Sum256(payload)
	claims := jwt.MapClaims{
		"iat":            iat.Unix(),
		"jti":            testJTI(),
		"iss":            "Vonage",
		"api_key":        testAPIKey,
		"application_id": testApplicationID,
		"payload_hash":   hex.EncodeToString(sum[:]),
	}
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func signedGET(t testing.TB, target string, token func(payload []byte) string) *http.Request {
	req := httptest.NewRequest("GET", target, nil)
	p, err := signature.QueryPayload(req.URL.RawQuery)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token(p))
	return req
}

func signedPOST(t testing.TB, target, body string, token func(payload []byte) string) *http.Request {
	req := httptest.NewRequest("POST", target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token([]byte(body)))
	return req
}

func hs256(t testing.TB, secret string, iat time.Time) func([]byte) string {
	return func(p []byte) string { return vonageToken(t, jwt.SigningMethodHS256, []byte(secret), iat, p) }
}

func TestSignedValid(t *testing.T) {
	e := newTestEnv(t, Config{SignatureSecret: testSecret})
	q := "/proxy-call?" + answerQuery("447700900001", "447700900101", "UUID-S1") + "&region_url=https%3A%2F%2Fapi-eu-1.vonage.com"
	wantConnect(t, e.do(signedGET(t, q, hs256(t, testSecret, testNow))),
		"447700900102", "447700900002", "https://maskcall.example/webhooks/event", 3600)

	wantConnect(t, e.do(signedPOST(t, "/webhooks/answer", answerJSON("447700900002", "447700900102", "UUID-S2"), hs256(t, testSecret, testNow.Add(-4*time.Minute)))),
		"447700900101", "447700900001", "https://maskcall.example/webhooks/event", 3600)

	// Within the clock skew allowance.
	wantConnect(t, e.do(signedGET(t, q, hs256(t, testSecret, testNow.Add(20*time.Second)))),
		"447700900102", "447700900002", "https://maskcall.example/webhooks/event", 3600)

	rec := e.do(signedPOST(t, "/webhooks/event", `{"status":"answered","uuid":"UUID-S1"}`, hs256(t, testSecret, testNow)))
	if rec.Code != http.StatusNoContent {
		t.Errorf("signed event POST = %d", rec.Code)
	}
	rec = e.do(signedGET(t, "/event?status=completed&uuid=UUID-S2&duration=5", hs256(t, testSecret, testNow)))
	if rec.Code != http.StatusNoContent {
		t.Errorf("signed event GET = %d", rec.Code)
	}
	if len(e.store.calls) != 2 || len(e.store.events) != 2 {
		t.Errorf("calls %d events %d", len(e.store.calls), len(e.store.events))
	}
	// A stranger with a valid signature still only hears not-in-service.
	wantNotInService(t, e.do(signedGET(t, "/proxy-call?"+answerQuery("447700900003", "447700900101", "U"), hs256(t, testSecret, testNow))))
	if strings.Contains(e.logs.String(), testSecret) || strings.Contains(e.logs.String(), "eyJ") {
		t.Errorf("logs show the secret or a token:\n%s", e.logs.String())
	}
}

func TestSignedRefused(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	answerQ := "/proxy-call?" + answerQuery("447700900001", "447700900101", "U")
	answerBody := answerJSON("447700900001", "447700900101", "U")
	eventBody := `{"status":"completed","uuid":"U","duration":"3"}`

	type mk func(t *testing.T) *http.Request
	getWith := func(path string, tok func([]byte) string) mk {
		return func(t *testing.T) *http.Request { return signedGET(t, path, tok) }
	}
	postWith := func(path, body string, tok func([]byte) string) mk {
		return func(t *testing.T) *http.Request { return signedPOST(t, path, body, tok) }
	}
	claimsTok := func(claims jwt.MapClaims) func([]byte) string {
		return func([]byte) string {
			s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSecret))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	good := hs256(t, testSecret, testNow)
	tests := []struct {
		name string
		req  mk
		want int
	}{
		{"wrong secret GET", getWith(answerQ, hs256(t, "another-secret", testNow)), 401},
		{"wrong secret POST", postWith("/webhooks/answer", answerBody, hs256(t, "another-secret", testNow)), 401},
		{"tampered body", func(t *testing.T) *http.Request {
			req := signedPOST(t, "/proxy-call", answerBody, good)
			tampered := strings.Replace(answerBody, "447700900001", "447700900003", 1)
			return withBody(req, tampered)
		}, 401},
		{"tampered query", func(t *testing.T) *http.Request {
			req := signedGET(t, answerQ, good)
			req.URL.RawQuery = strings.Replace(req.URL.RawQuery, "447700900001", "447700900002", 1)
			return req
		}, 401},
		{"reordered query", func(t *testing.T) *http.Request {
			req := signedGET(t, "/proxy-call?from=447700900001&to=447700900101", good)
			req.URL.RawQuery = "to=447700900101&from=447700900001"
			return req
		}, 401},
		{"stale iat", getWith(answerQ, hs256(t, testSecret, testNow.Add(-signature.MaxAge-time.Second))), 401},
		{"future iat", getWith(answerQ, hs256(t, testSecret, testNow.Add(signature.ClockSkew+5*time.Second))), 401},
		{"no iat", getWith(answerQ, func(p []byte) string {
			sum := sha256.Sum256(p)
			return claimsTok(jwt.MapClaims{"payload_hash": hex.EncodeToString(sum[:])})(p)
		}), 401},
		{"no payload_hash", getWith(answerQ, claimsTok(jwt.MapClaims{"iat": testNow.Unix()})), 401},
		{"payload_hash not hex", getWith(answerQ, claimsTok(jwt.MapClaims{"iat": testNow.Unix(), "payload_hash": "zz"})), 401},
		{"expired", getWith(answerQ, func(p []byte) string {
			sum := sha256.Sum256(p)
			return claimsTok(jwt.MapClaims{"iat": testNow.Unix(), "exp": testNow.Add(-time.Minute).Unix(), "payload_hash": hex.EncodeToString(sum[:])})(p)
		}), 401},
		{"alg none", getWith(answerQ, func(p []byte) string {
			return vonageToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, testNow, p)
		}), 401},
		{"RS256", getWith(answerQ, func(p []byte) string { return vonageToken(t, jwt.SigningMethodRS256, rsaKey, testNow, p) }), 401},
		{"HS512 with the right secret", getWith(answerQ, func(p []byte) string {
			return vonageToken(t, jwt.SigningMethodHS512, []byte(testSecret), testNow, p)
		}), 401},
		{"garbage token", getWith(answerQ, func([]byte) string { return "not.a.jwt" }), 401},
		{"basic auth", func(t *testing.T) *http.Request {
			req := httptest.NewRequest("GET", answerQ, nil)
			req.SetBasicAuth("user", testSecret)
			return req
		}, 401},
		{"missing header", func(t *testing.T) *http.Request { return httptest.NewRequest("GET", answerQ, nil) }, 503},
		{"missing header POST", func(t *testing.T) *http.Request {
			return httptest.NewRequest("POST", "/webhooks/answer", strings.NewReader(answerBody))
		}, 503},
		{"event wrong secret", postWith("/webhooks/event", eventBody, hs256(t, "another-secret", testNow)), 401},
		{"event tampered", func(t *testing.T) *http.Request {
			return withBody(signedPOST(t, "/event", eventBody, good), strings.Replace(eventBody, `"3"`, `"3000"`, 1))
		}, 401},
		{"event stale", getWith("/event?status=ringing&uuid=U", hs256(t, testSecret, testNow.Add(-time.Hour))), 401},
		{"event alg none", postWith("/event", eventBody, func(p []byte) string {
			return vonageToken(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, testNow, p)
		}), 401},
		{"event missing header", func(t *testing.T) *http.Request {
			return httptest.NewRequest("POST", "/event", strings.NewReader(eventBody))
		}, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{SignatureSecret: testSecret})
			rec := e.do(tt.req(t))
			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d", rec.Code, tt.want)
			}
			if rec.Body.Len() != 0 {
				t.Errorf("body = %q, want empty", rec.Body.String())
			}
			if e.store.reached() {
				t.Error("a refused webhook reached the router")
			}
		})
	}
}

func withBody(req *http.Request, body string) *http.Request {
	r := httptest.NewRequest(req.Method, req.URL.String(), strings.NewReader(body))
	r.Header = req.Header.Clone()
	return r
}
