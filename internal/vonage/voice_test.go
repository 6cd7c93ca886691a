package vonage

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/maskcall/maskcall/internal/maskcall"
)

const (
	testAppID    = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
	testCallUUID = "63f61863-4a51-4f6b-86e1-46edebcf9356"
)

func testRSAKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

func voiceClient(t *testing.T, base string, pemKey []byte) *Client {
	return newTestClient(t, base, func(c *Config) {
		c.ApplicationID = testAppID
		c.PrivateKey = pemKey
	})
}

func TestHangupCallRequestAndJWT(t *testing.T) {
	key, pemKey := testRSAKey(t)
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ seen) { w.WriteHeader(http.StatusNoContent) })
	if err := voiceClient(t, f.URL, pemKey).HangupCall(ctx, testCallUUID); err != nil {
		t.Fatal(err)
	}
	r := f.only(t)
	if r.Method != http.MethodPut || r.Path != "/v1/calls/"+testCallUUID {
		t.Fatalf("request %s %s, want PUT /v1/calls/%s", r.Method, r.Path, testCallUUID)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q", ct)
	}
	if r.Body != `{"action":"hangup"}` {
		t.Fatalf("body %q", r.Body)
	}
	// Voice uses only the application JWT: no api_key or api_secret anywhere.
	wantValues(t, "query", r.Query, nil)

	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatalf("Authorization %q is not a bearer token", r.Header.Get("Authorization"))
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuedAt(), jwt.WithExpirationRequired())
	if err != nil || !tok.Valid {
		t.Fatalf("token does not verify: %v", err)
	}
	if claims["application_id"] != testAppID {
		t.Fatalf("application_id = %v", claims["application_id"])
	}
	if jti, _ := claims["jti"].(string); jti == "" {
		t.Fatalf("jti = %v", claims["jti"])
	}
	iat, _ := claims.GetIssuedAt()
	exp, _ := claims.GetExpirationTime()
	if iat == nil || exp == nil || time.Since(iat.Time) > time.Minute || !exp.After(time.Now()) {
		t.Fatalf("iat %v, exp %v", iat, exp)
	}
}

// Vonage's dashboard hands out PKCS#8 keys ("BEGIN PRIVATE KEY").
func TestHangupCallPKCS8Key(t *testing.T) {
	key, _ := testRSAKey(t)
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
		raw, _ := strings.CutPrefix(s.Header.Get("Authorization"), "Bearer ")
		if _, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return &key.PublicKey, nil }, jwt.WithValidMethods([]string{"RS256"})); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	if err := voiceClient(t, f.URL, pemKey).HangupCall(ctx, testCallUUID); err != nil {
		t.Fatal(err)
	}
}

func TestHangupCallErrors(t *testing.T) {
	_, pemKey := testRSAKey(t)
	for _, tc := range []struct {
		name   string
		status int
		body   string
		code   string
	}{
		{"404", 404, `{"type":"https://developer.nexmo.com/api-errors#not-found","title":"Not Found","detail":"ID '63f6' does not exist, or you do not have access","instance":"797a8f199c45014ab7b08bfe9cc1c12c"}`, maskcall.ENOTFOUND},
		{"401", 401, `{"type":"https://developer.nexmo.com/api-errors#unauthorized","title":"Invalid credentials supplied","detail":"You did not provide correct credentials.","instance":"797a8f199c45014ab7b08bfe9cc1c12c"}`, maskcall.EVONAGEAUTH},
		{"400", 400, `{"type":"https://developer.nexmo.com/api-errors#bad-request","title":"Bad Request","instance":"797a8f199c45014ab7b08bfe9cc1c12c"}`, maskcall.EUPSTREAM},
		{"500", 500, `{"title":"Internal Error","instance":"797a8f199c45014ab7b08bfe9cc1c12c"}`, maskcall.EUNAVAILABLE},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, replyJSON(tc.status, tc.body))
			err := voiceClient(t, f.URL, pemKey).HangupCall(ctx, testCallUUID)
			wantCode(t, err, tc.code)
			if ae := apiErr(t, err); ae.StatusCode != tc.status || ae.RequestID != "797a8f199c45014ab7b08bfe9cc1c12c" {
				t.Fatalf("APIError = %+v", ae)
			}
		})
	}
}

func TestHangupCallConfig(t *testing.T) {
	_, pemKey := testRSAKey(t)
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ seen) { w.WriteHeader(http.StatusNoContent) })
	for _, key := range [][]byte{nil, []byte("not a key")} {
		err := voiceClient(t, f.URL, key).HangupCall(ctx, testCallUUID)
		wantCode(t, err, maskcall.ECONFIG)
		// The reason names the setting to fix; the CLI's hint table words it.
		if r := maskcall.ErrorReason(err); r != "private_key" {
			t.Fatalf("%v: reason %q, want private_key", err, r)
		}
	}
	noApp := newTestClient(t, f.URL, func(c *Config) { c.PrivateKey = pemKey })
	wantCode(t, noApp.HangupCall(ctx, testCallUUID), maskcall.ECONFIG)
	wantCode(t, voiceClient(t, f.URL, pemKey).HangupCall(ctx, ""), maskcall.EINVALID)
	if n := len(f.requests()); n != 0 {
		t.Fatalf("sent %d requests", n)
	}
}
