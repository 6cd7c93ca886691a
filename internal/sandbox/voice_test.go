package sandbox

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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

// openCall simulates a connected call left in progress, with the events of
// both legs going to the returned recorder.
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
	want := []string{res.UUID + " started", res.UUID + " answered",
		res.OutboundUUID + " started", res.OutboundUUID + " ringing", res.OutboundUUID + " answered"}
	for _, w := range want {
		var ev map[string]string
		if err := json.Unmarshal(events.next(t).body, &ev); err != nil || ev["uuid"]+" "+ev["status"] != w {
			t.Fatalf("event %v, want %s", ev, w)
		}
	}
	if res.Status != StatusAnswered || res.Outbound == nil || res.Outbound.Status != StatusAnswered {
		t.Fatalf("open call status = %s, outbound leg %+v", res.Status, res.Outbound)
	}
	return res, events
}

// completedEvents reads the completed events of the legs with these uuids,
// in that order, and returns their fields.
func completedEvents(t *testing.T, events *recorder, uuids ...string) []map[string]string {
	t.Helper()
	var out []map[string]string
	for _, uuid := range uuids {
		var ev map[string]string
		if err := json.Unmarshal(events.next(t).body, &ev); err != nil || ev["status"] != "completed" || ev["uuid"] != uuid {
			t.Errorf("event %v, want completed of %s", ev, uuid)
		}
		out = append(out, ev)
	}
	return out
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
	uOut := base + "/v1/calls/" + call.OutboundUUID
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
	wantProblem(t, sendJSON(t, http.MethodPut, uOut, hangup, "Authorization", otherApp), http.StatusUnauthorized, "#unauthorized")

	wantProblem(t, sendJSON(t, http.MethodPut, base+"/v1/calls/"+newUUID(), hangup, "Authorization", good), http.StatusNotFound, "#not-found")
	wantProblem(t, sendJSON(t, http.MethodPut, u, map[string]string{"action": "explode"}, "Authorization", good), http.StatusBadRequest, "#bad-request")
	req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader("action=hangup"))
	req.Header.Set("Authorization", good)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantProblem(t, do(t, req), http.StatusUnsupportedMediaType, "#content-type-header")

	// GET shows either leg in progress.
	r := sendJSON(t, http.MethodGet, u, nil, "Authorization", good)
	wantStatus(t, r, http.StatusOK)
	var got map[string]any
	r.decode(t, &got)
	if got["status"] != "answered" || got["uuid"] != call.UUID || got["direction"] != "inbound" ||
		got["conversation_uuid"] != call.ConversationUUID || got["from"].(map[string]any)["number"] != callerNumber ||
		got["to"].(map[string]any)["number"] != virtualNumber || got["rate"] != "0.00450000" {
		t.Errorf("GET inbound leg = %s", r.body)
	}
	r = sendJSON(t, http.MethodGet, uOut, nil, "Authorization", good)
	wantStatus(t, r, http.StatusOK)
	got = nil
	r.decode(t, &got)
	if got["status"] != "answered" || got["uuid"] != call.OutboundUUID || got["direction"] != "outbound" ||
		got["conversation_uuid"] != call.ConversationUUID || got["from"].(map[string]any)["number"] != virtualNumber ||
		got["to"].(map[string]any)["number"] != calleeNumber || got["rate"] != "0.01000000" ||
		got["_links"].(map[string]any)["self"].(map[string]any)["href"] != "/v1/calls/"+call.OutboundUUID {
		t.Errorf("GET outbound leg = %s", r.body)
	}

	wantStatus(t, sendJSON(t, http.MethodPut, u, map[string]string{"action": "mute"}, "Authorization", good), http.StatusNoContent)
	r = sendJSON(t, http.MethodPut, u, hangup, "Authorization", good)
	wantStatus(t, r, http.StatusNoContent)
	if len(r.body) != 0 {
		t.Errorf("204 with a body: %s", r.body)
	}

	// Hanging up the inbound leg ends the outbound leg connected to it:
	// the completed events follow, the inbound leg's first, both signed.
	for _, uuid := range []string{call.UUID, call.OutboundUUID} {
		e := events.next(t)
		verifySignature(t, e.header, e.body)
		var ev map[string]string
		if err := json.Unmarshal(e.body, &ev); err != nil || ev["status"] != "completed" || ev["uuid"] != uuid ||
			ev["conversation_uuid"] != call.ConversationUUID {
			t.Errorf("event after hangup = %s, want completed of %s", e.body, uuid)
		}
	}
	sb.Wait()
	c, _ := sb.Call(call.UUID)
	if c.Status != StatusCompleted || strings.Join(c.Updates, ",") != "mute,hangup" || len(c.Events) != 7 ||
		c.Outbound.Status != StatusCompleted || c.Outbound.DurationSeconds > c.DurationSeconds || !c.Outbound.EndTime.Equal(c.EndTime) {
		t.Errorf("call after hangup = %+v, outbound leg %+v", c, c.Outbound)
	}
	r = sendJSON(t, http.MethodGet, uOut, nil, "Authorization", good)
	got = nil
	r.decode(t, &got)
	if got["status"] != "completed" || got["duration"] != "0" || got["end_time"] == nil {
		t.Errorf("GET outbound leg after hangup = %s", r.body)
	}

	// A completed call can no longer be modified, by either leg.
	wantProblem(t, sendJSON(t, http.MethodPut, u, hangup, "Authorization", good), http.StatusNotFound, "#not-found")
	wantProblem(t, sendJSON(t, http.MethodPut, uOut, hangup, "Authorization", good), http.StatusNotFound, "#not-found")
	noMoreRequests(t, events, "the event URL")
}

// Hanging up the outbound leg ends the inbound leg too; each leg's duration
// runs from its own answer to the hangup.
func TestVoiceHangupOutboundLeg(t *testing.T) {
	var elapsed atomic.Int64
	sb, base := newTestServer(t, Config{
		ApplicationID: testAppID,
		Now:           func() time.Time { return testEpoch.Add(time.Duration(elapsed.Load())) },
	})
	if err := sb.AddOwned(OwnedNumber{Country: "GB", MSISDN: virtualNumber, AppID: testAppID}); err != nil {
		t.Fatal(err)
	}
	call, events := openCall(t, sb)
	elapsed.Store(int64(time.Minute))
	good := "Bearer " + appToken(t, jwt.SigningMethodHS256, []byte("k"), nil)
	wantStatus(t, sendJSON(t, http.MethodPut, base+"/v1/calls/"+call.OutboundUUID, map[string]string{"action": "hangup"},
		"Authorization", good), http.StatusNoContent)

	evs := completedEvents(t, events, call.OutboundUUID, call.UUID)
	// Answered at 07:08:13 (outbound) and 07:08:10 (inbound), hung up at 07:09:09.
	wantFields(t, "outbound completed", evs[0], map[string]string{
		"direction": "outbound", "duration": "56", "start_time": "2024-05-06T07:08:13.000Z", "end_time": "2024-05-06T07:09:09.000Z",
		"price": fmt.Sprintf("%.8f", 0.01*56/60),
	})
	wantFields(t, "inbound completed", evs[1], map[string]string{
		"direction": "inbound", "duration": "59", "start_time": "2024-05-06T07:08:10.000Z", "end_time": "2024-05-06T07:09:09.000Z",
	})
	sb.Wait()
	c, _ := sb.Call(call.OutboundUUID)
	if c.UUID != call.UUID || c.Status != StatusCompleted || c.DurationSeconds != 59 || c.Outbound.DurationSeconds != 56 ||
		strings.Join(c.Updates, ",") != "outbound: hangup" {
		t.Errorf("call after the outbound leg hung up = %+v, outbound leg %+v", c, c.Outbound)
	}
	wantProblem(t, sendJSON(t, http.MethodPut, base+"/v1/calls/"+call.UUID, map[string]string{"action": "hangup"},
		"Authorization", good), http.StatusNotFound, "#not-found")
	noMoreRequests(t, events, "the event URL")
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
	// The caller hangs up: the inbound leg, then the outbound leg, complete.
	call, events := openCall(t, sb)
	r := sendJSON(t, http.MethodPost, base+"/_sandbox/calls/"+call.UUID+"/hangup", nil)
	wantStatus(t, r, http.StatusOK)
	completedEvents(t, events, call.UUID, call.OutboundUUID)
	var ended CallResult
	r.decode(t, &ended)
	if ended.Status != StatusCompleted || ended.Outbound == nil || ended.Outbound.Status != StatusCompleted || len(ended.Events) != 7 {
		t.Errorf("ended call = %s", r.body)
	}
	wantStatus(t, sendJSON(t, http.MethodPost, base+"/_sandbox/calls/"+call.UUID+"/hangup", nil), http.StatusConflict)
	wantStatus(t, sendJSON(t, http.MethodPost, base+"/_sandbox/calls/"+call.OutboundUUID+"/hangup", nil), http.StatusConflict)
	wantStatus(t, sendJSON(t, http.MethodPost, base+"/_sandbox/calls/nope/hangup", nil), http.StatusNotFound)

	// The callee hangs up: the outbound leg, then the inbound leg, complete.
	call, events = openCall(t, sb)
	res, err := sb.EndCall(context.Background(), call.OutboundUUID)
	if err != nil {
		t.Fatal(err)
	}
	completedEvents(t, events, call.OutboundUUID, call.UUID)
	if res.UUID != call.UUID || res.Status != StatusCompleted || res.Outbound.Status != StatusCompleted {
		t.Errorf("ended call = %+v", res)
	}
	if _, err := sb.EndCall(context.Background(), call.UUID); err != ErrCallEnded {
		t.Errorf("ending it again: %v", err)
	}
}

// The application hangs up a leg while the call is being set up: the
// simulation stops and both legs that started complete.
func TestHangupWhileAnswering(t *testing.T) {
	sb, base := callSandbox(t, "")
	token := "Bearer " + appToken(t, jwt.SigningMethodHS256, []byte("k"), nil)
	for _, tt := range []struct {
		name          string
		when          string // direction:status of the event that triggers the hangup
		leg           string // the leg hung up
		want          string
		outboundStart bool
	}{
		{"inbound once answered", "inbound:answered", "inbound",
			"i:started i:answered i:completed", false},
		{"inbound while the callee's phone rings", "outbound:ringing", "inbound",
			"i:started i:answered o:started o:ringing i:completed o:completed", true},
		{"outbound once answered", "outbound:answered", "outbound",
			"i:started i:answered o:started o:ringing o:answered o:completed i:completed", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			legs := map[string]string{} // direction → uuid
			events := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
				var ev map[string]string
				if err := json.NewDecoder(r.Body).Decode(&ev); err != nil {
					return
				}
				mu.Lock()
				legs[ev["direction"]] = ev["uuid"]
				target := legs[tt.leg]
				mu.Unlock()
				if ev["direction"]+":"+ev["status"] != tt.when {
					return
				}
				req, _ := http.NewRequest(http.MethodPut, base+"/v1/calls/"+target, strings.NewReader(`{"action":"hangup"}`))
				req.Header.Set("Authorization", token)
				req.Header.Set("Content-Type", "application/json")
				if resp, err := http.DefaultClient.Do(req); err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusNoContent {
						t.Errorf("hangup: HTTP %d", resp.StatusCode)
					}
				}
			})
			answer := newRecorder(t, replyNCCO(connectNCCO))
			res, err := sb.SimulateCall(context.Background(), CallRequest{From: callerNumber, To: virtualNumber, AnswerURL: answer.URL, EventURL: events.URL})
			if err != nil {
				t.Fatal(err)
			}
			sb.Wait()
			var got []string
			for len(events.reqs) > 0 {
				var ev map[string]string
				_ = json.Unmarshal((<-events.reqs).body, &ev)
				got = append(got, ev["direction"][:1]+":"+ev["status"])
			}
			if g := strings.Join(got, " "); g != tt.want {
				t.Errorf("events = %s\nwant     %s", g, tt.want)
			}
			c, _ := sb.Call(res.UUID)
			if c.Status != StatusCompleted || (c.Outbound != nil) != tt.outboundStart {
				t.Errorf("call = %+v", c)
			}
			if o := c.Outbound; o != nil && (o.Status != StatusCompleted || o.DurationSeconds > c.DurationSeconds || !o.EndTime.Equal(c.EndTime)) {
				t.Errorf("outbound leg = %+v; inbound lasted %ds", o, c.DurationSeconds)
			}
			if strings.Join(c.Updates, ",") != map[string]string{"inbound": "hangup", "outbound": "outbound: hangup"}[tt.leg] {
				t.Errorf("updates = %q", c.Updates)
			}
		})
	}
}
