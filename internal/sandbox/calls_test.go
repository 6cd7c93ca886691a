package sandbox

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/maskcall/maskcall/internal/vonage/signature"
)

const (
	testSigSecret = "signature-secret-0123456789abcdef"
	virtualNumber = "447700900001"
	callerNumber  = "447700900123"
	calleeNumber  = "447700900777"
)

// connectNCCO is what a masked-calling answer webhook replies.
const connectNCCO = `[{"action":"talk","text":"Connecting you"},
 {"action":"connect","from":"447700900001","endpoint":[{"type":"phone","number":"447700900777"}]}]`

// callSandbox returns a sandbox whose account owns the virtual number,
// linked to the test application.
func callSandbox(t *testing.T, secret string) (*Sandbox, string) {
	t.Helper()
	sb, base := newTestServer(t, Config{
		SignatureSecret: secret,
		ApplicationID:   testAppID,
		Now:             func() time.Time { return testEpoch },
	})
	if err := sb.AddOwned(OwnedNumber{Country: "GB", MSISDN: virtualNumber, AppID: testAppID}); err != nil {
		t.Fatal(err)
	}
	return sb, base
}

// replyNCCO answers with ncco.
func replyNCCO(ncco string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(ncco))
	}
}

// verifySignature checks the Vonage-style JWT of a webhook and that its
// payload_hash covers payload.
func verifySignature(t *testing.T, h http.Header, payload []byte) jwt.MapClaims {
	t.Helper()
	token, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatalf("no bearer token; Authorization = %q", h.Get("Authorization"))
	}
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return []byte(testSigSecret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer("Vonage"), jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return testEpoch }))
	if err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
	if claims["payload_hash"] != signature.PayloadHash(payload) {
		t.Errorf("payload_hash %v does not match payload %s", claims["payload_hash"], payload)
	}
	if claims["api_key"] != testKey || claims["application_id"] != testAppID || claims["jti"] == "" ||
		claims["iat"] != float64(testEpoch.Unix()) {
		t.Errorf("claims = %v", claims)
	}
	return claims
}

func TestSimulateCallGETAnswerPOSTEvents(t *testing.T) {
	sb, base := callSandbox(t, testSigSecret)
	answer := newRecorder(t, replyNCCO(connectNCCO))
	events := newRecorder(t, nil)

	res, err := sb.SimulateCall(context.Background(), CallRequest{
		From: "+" + callerNumber, To: virtualNumber,
		AnswerURL: answer.URL + "/webhooks/answer", EventURL: events.URL + "/webhooks/event",
	})
	if err != nil {
		t.Fatal(err)
	}

	// The answer webhook: GET, the fields in the query in Vonage's order.
	a := answer.next(t)
	if a.method != http.MethodGet || a.path != "/webhooks/answer" || len(a.body) != 0 {
		t.Errorf("answer webhook: %s %s body %q", a.method, a.path, a.body)
	}
	params := orderedQuery(t, a.rawQuery)
	want := [][2]string{
		{"to", virtualNumber}, {"from", callerNumber},
		{"uuid", res.UUID}, {"conversation_uuid", res.ConversationUUID},
		{"region_url", base},
	}
	if !reflect.DeepEqual(params, want) {
		t.Errorf("answer query = %v\nwant %v", params, want)
	}
	if !uuidRE.MatchString(res.UUID) || !uuidRE.MatchString(strings.TrimPrefix(res.ConversationUUID, "CON-")) {
		t.Errorf("uuid %q, conversation_uuid %q", res.UUID, res.ConversationUUID)
	}
	payload, err := signature.QueryPayload(a.rawQuery)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(payload), `{"to":"447700900001","from":"447700900123","uuid":"`) {
		t.Errorf("query payload = %s", payload)
	}
	verifySignature(t, a.header, payload)

	// What Vonage would do.
	wantActions := []string{"say: Connecting you", "connecting +447700900777 with caller ID +447700900001"}
	if !reflect.DeepEqual(res.Actions, wantActions) || !res.Connected || res.ConnectTo != calleeNumber ||
		res.CallerID != virtualNumber || res.AnswerStatus != 200 || res.AnswerError != "" || len(res.Warnings) != 0 {
		t.Errorf("result = %+v", res)
	}
	var ncco []map[string]any
	if err := json.Unmarshal(res.NCCO, &ncco); err != nil || len(ncco) != 2 {
		t.Errorf("NCCO = %s", res.NCCO)
	}

	// The events, in order, POSTed as signed JSON.
	var statuses []string
	var completed map[string]string
	for range 4 {
		e := events.next(t)
		if e.method != http.MethodPost || e.path != "/webhooks/event" || e.header.Get("Content-Type") != "application/json" {
			t.Errorf("event webhook: %s %s %s", e.method, e.path, e.header.Get("Content-Type"))
		}
		verifySignature(t, e.header, e.body)
		var ev map[string]string
		if err := json.Unmarshal(e.body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev["uuid"] != res.UUID || ev["conversation_uuid"] != res.ConversationUUID || ev["from"] != callerNumber ||
			ev["to"] != virtualNumber || ev["direction"] != "inbound" {
			t.Errorf("event = %v", ev)
		}
		if _, err := time.Parse(time.RFC3339, ev["timestamp"]); err != nil || !strings.HasSuffix(ev["timestamp"], ".000Z") {
			t.Errorf("timestamp %q", ev["timestamp"])
		}
		statuses = append(statuses, ev["status"])
		completed = ev
	}
	if want := []string{"started", "ringing", "answered", "completed"}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("event statuses = %v, want %v", statuses, want)
	}
	wantCompleted := map[string]string{
		"duration":   "42",
		"start_time": "2024-05-06T07:08:12.000Z", // answered 3s after the call started
		"end_time":   "2024-05-06T07:08:54.000Z",
		"timestamp":  "2024-05-06T07:08:54.000Z",
		"rate":       "0.01000000",
		"price":      "0.00700000",
		"network":    "23410",
	}
	for k, v := range wantCompleted {
		if completed[k] != v {
			t.Errorf("completed %s = %q, want %q", k, completed[k], v)
		}
	}

	// The sandbox remembers the call.
	if len(res.Events) != 4 || res.Events[3].HTTPStatus != 200 || !res.Events[3].Signed || res.Status != StatusCompleted {
		t.Errorf("recorded events = %+v, status %s", res.Events, res.Status)
	}
	var listed []CallResult
	get(t, base, "/_sandbox/calls", nil).decode(t, &listed)
	if len(listed) != 1 || listed[0].UUID != res.UUID || len(listed[0].Events) != 4 {
		t.Errorf("/_sandbox/calls = %+v", listed)
	}
}

func TestSimulateCallPOSTAnswerOverHTTP(t *testing.T) {
	_, base := callSandbox(t, testSigSecret)
	connectEvents := newRecorder(t, nil)
	appEvents := newRecorder(t, nil)
	ncco := `[{"action":"connect","from":"447700900001","eventUrl":["` + connectEvents.URL + `/connect-events?leg=b"],"eventMethod":"GET",
	  "endpoint":[{"type":"phone","number":"447700900777"}]}]`
	answer := newRecorder(t, replyNCCO(ncco))

	r := sendJSON(t, http.MethodPost, base+"/_sandbox/calls", CallRequest{
		From: callerNumber, To: virtualNumber,
		AnswerURL: answer.URL + "/answer", AnswerMethod: "POST",
		EventURL: appEvents.URL + "/events", DurationSeconds: 90,
	})
	wantStatus(t, r, http.StatusOK)
	var res CallResult
	r.decode(t, &res)

	a := answer.next(t)
	if a.method != http.MethodPost || a.rawQuery != "" || a.header.Get("Content-Type") != "application/json" {
		t.Errorf("answer webhook: %s ?%s %s", a.method, a.rawQuery, a.header.Get("Content-Type"))
	}
	wantBody := `{"to":"447700900001","from":"447700900123","uuid":"` + res.UUID +
		`","conversation_uuid":"` + res.ConversationUUID + `","region_url":"` + base + `"}`
	if string(a.body) != wantBody {
		t.Errorf("answer body = %s\nwant %s", a.body, wantBody)
	}
	verifySignature(t, a.header, a.body)

	// Events follow the connect action's eventUrl and eventMethod.
	var statuses []string
	for range 4 {
		e := connectEvents.next(t)
		if e.method != http.MethodGet || e.path != "/connect-events" || len(e.body) != 0 {
			t.Errorf("event webhook: %s %s", e.method, e.path)
		}
		params := orderedQuery(t, e.rawQuery)
		if params[0] != [2]string{"leg", "b"} {
			t.Errorf("the event URL's own query was lost: %v", params)
		}
		payload, err := signature.QueryPayload(e.rawQuery)
		if err != nil {
			t.Fatal(err)
		}
		verifySignature(t, e.header, payload)
		q := map[string]string{}
		for _, p := range params {
			q[p[0]] = p[1]
		}
		statuses = append(statuses, q["status"])
		if q["status"] == "completed" && q["duration"] != "90" {
			t.Errorf("duration = %q, want 90", q["duration"])
		}
	}
	if want := []string{"started", "ringing", "answered", "completed"}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("statuses = %v", statuses)
	}
	select {
	case e := <-appEvents.reqs:
		t.Errorf("unexpected event at the application's event_url: %s ?%s %s", e.method, e.rawQuery, e.body)
	default:
	}
}

func TestSimulateCallWithoutConnect(t *testing.T) {
	sb, _ := callSandbox(t, "")
	answer := newRecorder(t, replyNCCO(`[{"action":"talk","text":"This number is no longer in service"}]`))
	events := newRecorder(t, nil)
	res, err := sb.SimulateCall(context.Background(), CallRequest{
		From: callerNumber, To: virtualNumber, AnswerURL: answer.URL, EventURL: events.URL,
	})
	if err != nil {
		t.Fatal(err)
	}
	if a := answer.next(t); a.header.Get("Authorization") != "" {
		t.Errorf("unsigned sandbox sent Authorization %q", a.header.Get("Authorization"))
	}
	if res.Connected || !reflect.DeepEqual(res.Actions, []string{"say: This number is no longer in service"}) {
		t.Errorf("result = %+v", res)
	}
	var statuses []string
	for range 3 {
		var ev map[string]string
		e := events.next(t)
		if err := json.Unmarshal(e.body, &ev); err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, ev["status"])
		if ev["status"] == "completed" && ev["duration"] != "5" {
			t.Errorf("duration = %q", ev["duration"])
		}
	}
	if want := []string{"started", "answered", "completed"}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("statuses = %v", statuses)
	}
}

func TestSimulateCallAnswerProblems(t *testing.T) {
	sb, _ := callSandbox(t, testSigSecret)
	for _, tt := range []struct {
		name  string
		reply func(http.ResponseWriter, *http.Request)
		want  string
	}{
		{"HTTP 500", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(500) }, "answer webhook replied HTTP 500"},
		{"not an array", replyNCCO(`{"action":"talk","text":"hi"}`), "invalid NCCO: an NCCO must be a JSON array"},
		{"empty", replyNCCO(`[]`), "invalid NCCO: an NCCO needs at least one action"},
		{"unknown action", replyNCCO(`[{"action":"dance"}]`), "invalid NCCO: action 0 (dance)"},
		{"plus in number", replyNCCO(`[{"action":"connect","endpoint":[{"type":"phone","number":"+447700900777"}]}]`), "invalid NCCO: action 0 (connect): endpoint number"},
		{"plus in from", replyNCCO(`[{"action":"connect","from":"+447700900001","endpoint":[{"type":"phone","number":"447700900777"}]}]`), "invalid NCCO: action 0 (connect): from"},
		{"talk without text", replyNCCO(`[{"action":"talk"}]`), "invalid NCCO: action 0 (talk): text is required"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			answer := newRecorder(t, tt.reply)
			events := newRecorder(t, nil)
			res, err := sb.SimulateCall(context.Background(), CallRequest{From: callerNumber, To: virtualNumber, AnswerURL: answer.URL, EventURL: events.URL})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(res.AnswerError, tt.want) || res.Connected || len(res.Actions) != 0 {
				t.Errorf("result = %+v\nwant error starting %q", res, tt.want)
			}
			for _, want := range []string{"started", "completed"} {
				var ev map[string]string
				if err := json.Unmarshal(events.next(t).body, &ev); err != nil || ev["status"] != want {
					t.Errorf("event %v, want %s", ev, want)
				}
			}
		})
	}
}

func TestSimulateCallTimeout(t *testing.T) {
	sb := New(Config{AnswerTimeout: 100 * time.Millisecond})
	answer := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	})
	res, err := sb.SimulateCall(context.Background(), CallRequest{From: callerNumber, To: virtualNumber, AnswerURL: answer.URL})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.AnswerError, "deadline exceeded") {
		t.Errorf("answer error = %q", res.AnswerError)
	}
	if len(res.Warnings) == 0 {
		t.Error("no warning that the account does not own the number called")
	}
}

func TestSimulateCallWarnings(t *testing.T) {
	sb, _ := callSandbox(t, "")
	answer := newRecorder(t, replyNCCO(`[{"action":"connect","from":"447700900555","endpoint":[{"type":"phone","number":"447700900777"}]}]`))
	res, err := sb.SimulateCall(context.Background(), CallRequest{From: callerNumber, To: virtualNumber, AnswerURL: answer.URL})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Connected || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "+447700900555 is not a number of this account") {
		t.Errorf("warnings = %q", res.Warnings)
	}
	if len(res.Events) != 4 || res.Events[0].URL != "" || res.Events[0].HTTPStatus != 0 {
		t.Errorf("events without an event URL = %+v", res.Events)
	}
}

func TestSimulateCallBadRequests(t *testing.T) {
	sb := New(Config{})
	for _, req := range []CallRequest{
		{From: "", To: virtualNumber, AnswerURL: "http://example.com"},
		{From: callerNumber, To: "12", AnswerURL: "http://example.com"},
		{From: callerNumber, To: virtualNumber, AnswerURL: "ftp://example.com"},
		{From: callerNumber, To: virtualNumber, AnswerURL: "http://example.com", AnswerMethod: "PUT"},
		{From: callerNumber, To: virtualNumber, AnswerURL: "http://example.com", EventURL: "example.com"},
	} {
		if _, err := sb.SimulateCall(context.Background(), req); err == nil {
			t.Errorf("%+v: no error", req)
		}
	}
	if n := len(sb.Calls()); n != 0 {
		t.Errorf("%d calls recorded", n)
	}
}

// orderedQuery splits a raw query into its parameters, in order, unescaped
// by net/url.
func orderedQuery(t *testing.T, raw string) [][2]string {
	t.Helper()
	var params [][2]string
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			t.Fatalf("query %q: %v", raw, err)
		}
		val, err := url.QueryUnescape(v)
		if err != nil {
			t.Fatalf("query %q: %v", raw, err)
		}
		params = append(params, [2]string{key, val})
	}
	return params
}

func TestJSONObject(t *testing.T) {
	params := [][2]string{{"to", "447700900001"}, {"from", "44 7700\"900"}, {"a", "<&>"}, {"b", "x+y/é"}}
	got, err := jsonObject(params)
	want := `{"to":"447700900001","from":"44 7700\"900","a":"<&>","b":"x+y/é"}`
	if err != nil || string(got) != want {
		t.Errorf("jsonObject = %s, %v; want %s", got, err, want)
	}
	if got := orderedQuery(t, encodeQuery(params)); !reflect.DeepEqual(got, params) {
		t.Errorf("encodeQuery does not round-trip: %v", got)
	}
	if got, err := jsonObject(nil); err != nil || string(got) != "{}" {
		t.Errorf("jsonObject(nil) = %s, %v", got, err)
	}
	if _, err := jsonObject([][2]string{{"a", "\xff"}}); err == nil {
		t.Error("jsonObject of invalid UTF-8 did not fail")
	}
}
