package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// appToken is a Voice API token for the test application.
func appToken(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	base := jwt.MapClaims{"application_id": testAppID, "iat": testEpoch.Unix(), "jti": newUUID()}
	for k, v := range claims {
		base[k] = v
	}
	tok, err := jwt.NewWithClaims(method, base).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// openCall simulates a connected call left in progress, with its events
// going to the returned recorder.
func openCall(t *testing.T, sb *Sandbox) (CallResult, *recorder) {
	t.Helper()
	answer := newRecorder(t, replyNCCO(connectNCCO))
	events := newRecorder(t, nil)
	res, err := sb.SimulateCall(context.Background(), CallRequest{
		From: callerNumber, To: virtualNumber, AnswerURL: answer.URL, EventURL: events.URL, KeepOpen: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"started", "ringing", "answered"} {
		var ev map[string]string
		if err := json.Unmarshal(events.next(t).body, &ev); err != nil || ev["status"] != want {
			t.Fatalf("event %v, want %s", ev, want)
		}
	}
	if res.Status != StatusAnswered {
		t.Fatalf("open call status = %s", res.Status)
	}
	return res, events
}

// wantProblem checks a Voice API error reply.
func wantProblem(t *testing.T, r response, status int, typeSuffix string) {
	t.Helper()
	wantStatus(t, r, status)
	m := r.json(t)
	for _, k := range []string{"type", "title", "detail", "instance"} {
		if s, _ := m[k].(string); s == "" {
			t.Errorf("no %s in %s", k, r.body)
		}
	}
	if typ, _ := m["type"].(string); !strings.HasSuffix(typ, typeSuffix) {
		t.Errorf("type = %q, want …%s", typ, typeSuffix)
	}
}

func TestVoiceHangup(t *testing.T) {
	sb, base := callSandbox(t, testSigSecret)
	call, events := openCall(t, sb)
	u := base + "/v1/calls/" + call.UUID
	hangup := map[string]string{"action": "hangup"}
	good := "Bearer " + appToken(t, jwt.SigningMethodHS256, []byte("any key"), nil)

	wantProblem(t, sendJSON(t, http.MethodPut, u, hangup), http.StatusUnauthorized, "#unauthorized")
	wantProblem(t, sendJSON(t, http.MethodPut, u, hangup, "Authorization", "Bearer not.a.jwt"), http.StatusUnauthorized, "#unauthorized")
	noApp := "Bearer " + appToken(t, jwt.SigningMethodHS256, []byte("k"), jwt.MapClaims{"application_id": nil})
	wantProblem(t, sendJSON(t, http.MethodPut, u, hangup, "Authorization", noApp), http.StatusUnauthorized, "#unauthorized")
	expired := "Bearer " + appToken(t, jwt.SigningMethodHS256, []byte("k"), jwt.MapClaims{"exp": testEpoch.Add(-time.Hour).Unix()})
	wantProblem(t, sendJSON(t, http.MethodPut, u, hangup, "Authorization", expired), http.StatusUnauthorized, "#unauthorized")
	otherApp := "Bearer " + appToken(t, jwt.SigningMethodHS256, []byte("k"), jwt.MapClaims{"application_id": "bbbbbbbb-bbbb-4ccc-8ddd-0123456789ab"})
	wantProblem(t, sendJSON(t, http.MethodPut, u, hangup, "Authorization", otherApp), http.StatusUnauthorized, "#unauthorized")

	wantProblem(t, sendJSON(t, http.MethodPut, base+"/v1/calls/"+newUUID(), hangup, "Authorization", good), http.StatusNotFound, "#not-found")
	wantProblem(t, sendJSON(t, http.MethodPut, u, map[string]string{"action": "explode"}, "Authorization", good), http.StatusBadRequest, "#bad-request")
	req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader("action=hangup"))
	req.Header.Set("Authorization", good)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantProblem(t, do(t, req), http.StatusUnsupportedMediaType, "#content-type-header")

	// GET shows the call in progress.
	r := sendJSON(t, http.MethodGet, u, nil, "Authorization", good)
	wantStatus(t, r, http.StatusOK)
	var got map[string]any
	r.decode(t, &got)
	if got["status"] != "answered" || got["uuid"] != call.UUID || got["direction"] != "inbound" ||
		got["from"].(map[string]any)["number"] != callerNumber {
		t.Errorf("GET call = %s", r.body)
	}

	wantStatus(t, sendJSON(t, http.MethodPut, u, map[string]string{"action": "mute"}, "Authorization", good), http.StatusNoContent)
	r = sendJSON(t, http.MethodPut, u, hangup, "Authorization", good)
	wantStatus(t, r, http.StatusNoContent)
	if len(r.body) != 0 {
		t.Errorf("204 with a body: %s", r.body)
	}

	// The completed event follows.
	e := events.next(t)
	verifySignature(t, e.header, e.body)
	var ev map[string]string
	if err := json.Unmarshal(e.body, &ev); err != nil || ev["status"] != "completed" || ev["uuid"] != call.UUID {
		t.Errorf("event after hangup = %s", e.body)
	}
	sb.Wait()
	c, _ := sb.Call(call.UUID)
	if c.Status != StatusCompleted || strings.Join(c.Updates, ",") != "mute,hangup" || len(c.Events) != 4 {
		t.Errorf("call after hangup = %+v", c)
	}

	// A completed call can no longer be modified.
	wantProblem(t, sendJSON(t, http.MethodPut, u, hangup, "Authorization", good), http.StatusNotFound, "#not-found")
}

func TestVoiceTokenVerifiedWithPublicKey(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sb, base := newTestServer(t, Config{ApplicationPublicKey: &key.PublicKey, Now: func() time.Time { return testEpoch }})
	if err := sb.AddOwned(OwnedNumber{Country: "GB", MSISDN: virtualNumber, AppID: testAppID}); err != nil {
		t.Fatal(err)
	}
	call, _ := openCall(t, sb)
	u := base + "/v1/calls/" + call.UUID
	hangup := map[string]string{"action": "hangup"}

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, tok := range map[string]string{
		"HS256":     appToken(t, jwt.SigningMethodHS256, []byte("secret"), nil),
		"other key": appToken(t, jwt.SigningMethodRS256, other, nil),
		"expired":   appToken(t, jwt.SigningMethodRS256, key, jwt.MapClaims{"exp": testEpoch.Add(-time.Minute).Unix()}),
	} {
		r := sendJSON(t, http.MethodPut, u, hangup, "Authorization", "Bearer "+tok)
		if r.status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, r.status)
		}
	}
	tok := appToken(t, jwt.SigningMethodRS256, key, jwt.MapClaims{"exp": testEpoch.Add(time.Minute).Unix()})
	wantStatus(t, sendJSON(t, http.MethodPut, u, hangup, "Authorization", "Bearer "+tok), http.StatusNoContent)
}

func TestEndCall(t *testing.T) {
	sb, base := callSandbox(t, "")
	call, events := openCall(t, sb)
	r := sendJSON(t, http.MethodPost, base+"/_sandbox/calls/"+call.UUID+"/hangup", nil)
	wantStatus(t, r, http.StatusOK)
	var ev map[string]string
	if err := json.Unmarshal(events.next(t).body, &ev); err != nil || ev["status"] != "completed" {
		t.Errorf("event = %v", ev)
	}
	wantStatus(t, sendJSON(t, http.MethodPost, base+"/_sandbox/calls/"+call.UUID+"/hangup", nil), http.StatusConflict)
	wantStatus(t, sendJSON(t, http.MethodPost, base+"/_sandbox/calls/nope/hangup", nil), http.StatusNotFound)
}

func TestHangupWhileAnswering(t *testing.T) {
	sb, base := callSandbox(t, "")
	token := "Bearer " + appToken(t, jwt.SigningMethodHS256, []byte("k"), nil)
	// The application hangs up as soon as the call is answered.
	events := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]string
		if err := json.NewDecoder(r.Body).Decode(&ev); err == nil && ev["status"] == "answered" {
			req, _ := http.NewRequest(http.MethodPut, base+"/v1/calls/"+ev["uuid"], strings.NewReader(`{"action":"hangup"}`))
			req.Header.Set("Authorization", token)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					t.Errorf("hangup: HTTP %d", resp.StatusCode)
				}
			}
		}
	})
	answer := newRecorder(t, replyNCCO(connectNCCO))
	if _, err := sb.SimulateCall(context.Background(), CallRequest{From: callerNumber, To: virtualNumber, AnswerURL: answer.URL, EventURL: events.URL}); err != nil {
		t.Fatal(err)
	}
	sb.Wait()
	var statuses []string
	for len(events.reqs) > 0 {
		var ev map[string]string
		_ = json.Unmarshal((<-events.reqs).body, &ev)
		statuses = append(statuses, ev["status"])
	}
	if got := strings.Join(statuses, ","); got != "started,ringing,answered,completed" {
		t.Errorf("events = %s", got)
	}
	calls := sb.Calls()
	if len(calls) != 1 || calls[0].Status != StatusCompleted || calls[0].DurationSeconds != 0 {
		t.Errorf("call = %+v", calls)
	}
}
