package main

// Issue 9 items 1 and 2 through the binary: replayed webhooks and tokens
// with the wrong claims.

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/maskcall/maskcall/internal/vonage/signature"
)

// sendWithToken sends method u (body for a POST) with the given token.
func sendWithToken(t *testing.T, method, u string, body []byte, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestServeRefusesReplaysAndForeignClaims(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	c := runJSON[conversation](t, e, "conversation", "create", "+447700900123", "+442079460321", "--no-sms", "--insight", "none", "-o", "json")
	caller, callee := c.Participants[0], c.Participants[1]
	srv := startServe(t, e)

	// The same signed answer request, 100 times: Vonage's retries (the
	// first and 4 more) are answered; the rest are refused.
	q := url.Values{"to": {digits(caller.ProxyNumber)}, "from": {digits(caller.Number)}, "uuid": {"5e1f0c3a-0000-4000-8000-0000000f0001"}}
	u := srv.URL + "/webhooks/answer?" + q.Encode()
	payload, err := signature.QueryPayload(q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signature.Sign(testSignatureSecret, signature.Claims{APIKey: testAPIKey, ApplicationID: testApplicationID}, payload, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	connects, refused := 0, 0
	for range 100 {
		status, body := sendWithToken(t, http.MethodGet, u, nil, tok)
		switch {
		case status == http.StatusOK && bytes.Contains(body, []byte(digits(callee.Number))):
			connects++
		case status == http.StatusUnauthorized && len(body) == 0:
			refused++
		default:
			t.Fatalf("replay = %d %s", status, body)
		}
	}
	if connects != 5 || refused != 95 {
		t.Errorf("100 replays: %d connected, %d refused; want 5 and 95", connects, refused)
	}

	// A captured inbound-leg event, delivered, then posted to the answer
	// webhook with its token: refused, no number in the reply.
	ev, _ := json.Marshal(map[string]string{"from": digits(caller.Number), "to": digits(caller.ProxyNumber),
		"uuid": "5e1f0c3a-0000-4000-8000-0000000f0002", "conversation_uuid": "CON-f0002", "status": "started",
		"direction": "inbound", "timestamp": time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")})
	evTok, err := signature.Sign(testSignatureSecret, signature.Claims{APIKey: testAPIKey, ApplicationID: testApplicationID}, ev, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := sendWithToken(t, http.MethodPost, srv.URL+"/webhooks/event", ev, evTok); status != http.StatusNoContent {
		t.Fatalf("event = %d", status)
	}
	if status, body := sendWithToken(t, http.MethodPost, srv.URL+"/webhooks/answer", ev, evTok); status != http.StatusUnauthorized || bytes.Contains(body, []byte(digits(callee.Number))) {
		t.Errorf("event replayed at the answer webhook = %d %s, want 401", status, body)
	}
	// The same event with a token serve never saw: its shape refuses it.
	evTok2, _ := signature.Sign(testSignatureSecret, signature.Claims{APIKey: testAPIKey, ApplicationID: testApplicationID}, ev, time.Now())
	if status, body := sendWithToken(t, http.MethodPost, srv.URL+"/webhooks/answer", ev, evTok2); status != http.StatusOK || bytes.Contains(body, []byte("connect")) {
		t.Errorf("event-shaped answer = %d %s, want not in service", status, body)
	}

	// Claims: right secret, wrong account or application, or none at all.
	for name, claims := range map[string]jwt.MapClaims{
		"wrong iss":            {"iss": "someone", "api_key": testAPIKey, "application_id": testApplicationID},
		"wrong api_key":        {"iss": "Vonage", "api_key": "other001", "application_id": testApplicationID},
		"wrong application_id": {"iss": "Vonage", "api_key": testAPIKey, "application_id": "11111111-2222-4333-8444-555555555555"},
		"only iat and hash":    {},
	} {
		q := url.Values{"to": {digits(caller.ProxyNumber)}, "from": {digits(caller.Number)}, "uuid": {"5e1f0c3a-0000-4000-8000-0000000f0003"}}
		p, _ := signature.QueryPayload(q.Encode())
		claims["iat"] = time.Now().Unix()
		claims["payload_hash"] = signature.PayloadHash(p)
		if name != "only iat and hash" {
			claims["jti"] = newTestUUID()
		}
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testSignatureSecret))
		if err != nil {
			t.Fatal(err)
		}
		if status, body := sendWithToken(t, http.MethodGet, srv.URL+"/webhooks/answer?"+q.Encode(), nil, tok); status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s, want 401", name, status, body)
		}
	}
}
