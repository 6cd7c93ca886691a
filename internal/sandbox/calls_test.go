package sandbox

import (
	"context"
	"encoding/json"
	"fmt"
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

// eventFields reads the fields of an event webhook, POSTed as JSON or sent
// as a GET query, checking its signature when signed is set.
func eventFields(t *testing.T, e recorded, signed bool) map[string]string {
	t.Helper()
	payload := e.body
	if e.method == http.MethodGet {
		var err error
		if payload, err = signature.QueryPayload(e.rawQuery); err != nil {
			t.Fatal(err)
		}
	} else if ct := e.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("event POSTed as %q", ct)
	}
	if signed {
		verifySignature(t, e.header, payload)
	} else if a := e.header.Get("Authorization"); a != "" {
		t.Errorf("unsigned sandbox sent Authorization %q", a)
	}
	ev := map[string]string{}
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatalf("event payload %s: %v", payload, err)
	}
	return ev
}

// legEvent is what an event says of its leg, and its status.
type legEvent struct{ uuid, direction, from, to, status string }

func (l legEvent) String() string {
	return fmt.Sprintf("%s %s (%s → %s): %s", l.direction, l.uuid, l.from, l.to, l.status)
}

// nextEvents reads n events from rec, checks they belong to conversation
// conv, and returns them with their fields.
func nextEvents(t *testing.T, rec *recorder, n int, conv string, signed bool) ([]legEvent, []map[string]string) {
	t.Helper()
	var legs []legEvent
	var fields []map[string]string
	for range n {
		ev := eventFields(t, rec.next(t), signed)
		if ev["conversation_uuid"] != conv {
			t.Errorf("event conversation_uuid %q, want %q", ev["conversation_uuid"], conv)
		}
		if _, err := time.Parse(time.RFC3339, ev["timestamp"]); err != nil || !strings.HasSuffix(ev["timestamp"], ".000Z") {
			t.Errorf("timestamp %q", ev["timestamp"])
		}
		legs = append(legs, legEvent{ev["uuid"], ev["direction"], ev["from"], ev["to"], ev["status"]})
		fields = append(fields, ev)
	}
	return legs, fields
}

// noMoreRequests fails if rec received anything not read yet.
func noMoreRequests(t *testing.T, rec *recorder, what string) {
	t.Helper()
	select {
	case e := <-rec.reqs:
		t.Errorf("unexpected request at %s: %s ?%s %s", what, e.method, e.rawQuery, e.body)
	default:
	}
}

// wantFields checks fields of an event.
func wantFields(t *testing.T, what string, ev, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if ev[k] != v {
			t.Errorf("%s: %s = %q, want %q", what, k, ev[k], v)
		}
	}
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
	if !uuidRE.MatchString(res.UUID) || !uuidRE.MatchString(res.OutboundUUID) || res.UUID == res.OutboundUUID ||
		!uuidRE.MatchString(strings.TrimPrefix(res.ConversationUUID, "CON-")) {
		t.Errorf("uuid %q, outbound_uuid %q, conversation_uuid %q", res.UUID, res.OutboundUUID, res.ConversationUUID)
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

	// The events of both legs, in order, POSTed as signed JSON to the
	// application's event URL (the connect action has no eventUrl).
	in := legEvent{res.UUID, "inbound", callerNumber, virtualNumber, ""}
	out := legEvent{res.OutboundUUID, "outbound", virtualNumber, calleeNumber, ""}
	with := func(l legEvent, status string) legEvent { l.status = status; return l }
	legs, fields := nextEvents(t, events, 7, res.ConversationUUID, true)
	wantLegs := []legEvent{
		with(in, "started"), with(in, "answered"),
		with(out, "started"), with(out, "ringing"), with(out, "answered"),
		with(out, "completed"), with(in, "completed"),
	}
	if !reflect.DeepEqual(legs, wantLegs) {
		t.Errorf("events:\n%v\nwant\n%v", legs, wantLegs)
	}
	noMoreRequests(t, events, "the event URL")
	if len(fields) == 7 {
		for i, ts := range []string{"07:08:09", "07:08:10", "07:08:10", "07:08:11", "07:08:13", "07:08:55", "07:08:55"} {
			if want := "2024-05-06T" + ts + ".000Z"; fields[i]["timestamp"] != want {
				t.Errorf("event %d (%s) at %s, want %s", i, legs[i], fields[i]["timestamp"], want)
			}
		}
		// The callee answered 4s after the call started and talked for
		// 42s; the caller's leg, answered by Vonage after 1s, lasted 45s.
		wantFields(t, "outbound completed", fields[5], map[string]string{
			"duration":   "42",
			"start_time": "2024-05-06T07:08:13.000Z",
			"end_time":   "2024-05-06T07:08:55.000Z",
			"rate":       "0.01000000",
			"price":      "0.00700000",
			"network":    "23410",
		})
		wantFields(t, "inbound completed", fields[6], map[string]string{
			"duration":   "45",
			"start_time": "2024-05-06T07:08:10.000Z",
			"end_time":   "2024-05-06T07:08:55.000Z",
			"rate":       "0.00450000",
			"price":      "0.00337500",
			"network":    "23410",
		})
	}

	// The sandbox remembers the call, both legs and every event.
	if len(res.Events) != 7 || res.Status != StatusCompleted || res.DurationSeconds != 45 || res.Direction != "inbound" {
		t.Errorf("recorded events = %+v, status %s, duration %d", res.Events, res.Status, res.DurationSeconds)
	}
	for i, ev := range res.Events {
		if i < len(wantLegs) && (ev.UUID != wantLegs[i].uuid || ev.Direction != wantLegs[i].direction ||
			ev.Status != wantLegs[i].status || ev.HTTPStatus != 200 || !ev.Signed || ev.URL != events.URL+"/webhooks/event") {
			t.Errorf("recorded event %d = %+v, want %s", i, ev, wantLegs[i])
		}
	}
	o := res.Outbound
	if o == nil || o.UUID != res.OutboundUUID || o.Direction != "outbound" || o.From != virtualNumber || o.To != calleeNumber ||
		o.Status != StatusCompleted || o.DurationSeconds != 42 || o.Price != "0.00700000" || o.EventURL != events.URL+"/webhooks/event" ||
		!o.StartTime.Equal(testEpoch.Add(time.Second)) || !o.EndTime.Equal(res.EndTime) {
		t.Errorf("outbound leg = %+v", o)
	}
	var listed []CallResult
	get(t, base, "/_sandbox/calls", nil).decode(t, &listed)
	if len(listed) != 1 || listed[0].UUID != res.UUID || listed[0].OutboundUUID != res.OutboundUUID || len(listed[0].Events) != 7 {
		t.Errorf("/_sandbox/calls = %+v", listed)
	}
	var byOutbound CallResult
	r := get(t, base, "/_sandbox/calls/"+res.OutboundUUID, nil)
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &byOutbound)
	if byOutbound.UUID != res.UUID || byOutbound.Outbound == nil || byOutbound.Outbound.DurationSeconds != 42 {
		t.Errorf("/_sandbox/calls/{outbound uuid} = %s", r.body)
	}
	m := r.json(t)
	for _, k := range []string{"uuid", "conversation_uuid", "from", "to", "direction", "status", "event_url", "events",
		"start_time", "answer_time", "end_time", "duration_seconds", "rate", "price", "network", "outbound_uuid", "outbound"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %s in %s", k, r.body)
		}
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

	// The outbound leg's events follow the connect action's eventUrl and
	// eventMethod.
	var statuses []string
	for range 4 {
		e := connectEvents.next(t)
		if e.method != http.MethodGet || e.path != "/connect-events" || len(e.body) != 0 {
			t.Errorf("event webhook: %s %s", e.method, e.path)
		}
		if params := orderedQuery(t, e.rawQuery); params[0] != [2]string{"leg", "b"} {
			t.Errorf("the event URL's own query was lost: %v", params)
		}
		ev := eventFields(t, e, true)
		wantFields(t, "outbound event", ev, map[string]string{
			"uuid": res.OutboundUUID, "conversation_uuid": res.ConversationUUID, "direction": "outbound",
			"from": virtualNumber, "to": calleeNumber,
		})
		statuses = append(statuses, ev["status"])
		if ev["status"] == "completed" && ev["duration"] != "90" {
			t.Errorf("outbound duration = %q, want 90", ev["duration"])
		}
	}
	if want := []string{"started", "ringing", "answered", "completed"}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("outbound statuses = %v, want %v", statuses, want)
	}
	noMoreRequests(t, connectEvents, "the connect action's eventUrl")

	// The inbound leg's go to the application's event URL, POSTed.
	statuses = nil
	for range 3 {
		e := appEvents.next(t)
		if e.method != http.MethodPost || e.path != "/events" {
			t.Errorf("event webhook: %s %s", e.method, e.path)
		}
		ev := eventFields(t, e, true)
		wantFields(t, "inbound event", ev, map[string]string{
			"uuid": res.UUID, "conversation_uuid": res.ConversationUUID, "direction": "inbound",
			"from": callerNumber, "to": virtualNumber,
		})
		statuses = append(statuses, ev["status"])
		if ev["status"] == "completed" && ev["duration"] != "93" {
			t.Errorf("inbound duration = %q, want 93 (90s talking, 3s to connect)", ev["duration"])
		}
	}
	if want := []string{"started", "answered", "completed"}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("inbound statuses = %v, want %v", statuses, want)
	}
	noMoreRequests(t, appEvents, "the application's event_url")

	// The recorded events interleave the legs in the order sent.
	var order []string
	for _, ev := range res.Events {
		order = append(order, ev.Direction[:1]+":"+ev.Status)
	}
	if got := strings.Join(order, " "); got != "i:started i:answered o:started o:ringing o:answered o:completed i:completed" {
		t.Errorf("recorded events: %s", got)
	}
	if res.EventURL != appEvents.URL+"/events" || res.EventMethod != "POST" || res.Outbound == nil ||
		res.Outbound.EventURL != connectEvents.URL+"/connect-events?leg=b" || res.Outbound.EventMethod != "GET" {
		t.Errorf("event URLs: inbound %s %s, outbound %+v", res.EventMethod, res.EventURL, res.Outbound)
	}
}

// The connect action's eventMethod defaults to POST whatever the
// application's; without eventUrl the outbound leg uses the application's
// URL and method.
func TestSimulateCallLegEventMethods(t *testing.T) {
	sb, _ := callSandbox(t, "")
	appEvents := newRecorder(t, nil)
	connectEvents := newRecorder(t, nil)
	for _, tt := range []struct {
		name        string
		ncco        string
		outURL      string
		outMethod   string
		outRecorder *recorder
	}{
		{"eventUrl", `[{"action":"connect","from":"447700900001","eventUrl":["` + connectEvents.URL + `/c"],"endpoint":[{"type":"phone","number":"447700900777"}]}]`,
			connectEvents.URL + "/c", http.MethodPost, connectEvents},
		{"no eventUrl", connectNCCO, appEvents.URL + "/app", http.MethodGet, appEvents},
	} {
		t.Run(tt.name, func(t *testing.T) {
			answer := newRecorder(t, replyNCCO(tt.ncco))
			res, err := sb.SimulateCall(context.Background(), CallRequest{
				From: callerNumber, To: virtualNumber, AnswerURL: answer.URL,
				EventURL: appEvents.URL + "/app", EventMethod: "get",
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range res.Events {
				url, method := appEvents.URL+"/app", http.MethodGet
				if ev.Direction == "outbound" {
					url, method = tt.outURL, tt.outMethod
				}
				if ev.URL != url || ev.Method != method || ev.HTTPStatus != 200 {
					t.Errorf("%s %s sent %s %s (HTTP %d), want %s %s", ev.Direction, ev.Status, ev.Method, ev.URL, ev.HTTPStatus, method, url)
				}
			}
			if len(res.Events) != 7 {
				t.Errorf("%d events", len(res.Events))
			}
			for len(appEvents.reqs) > 0 {
				<-appEvents.reqs
			}
			for len(connectEvents.reqs) > 0 {
				<-connectEvents.reqs
			}
		})
	}
}

func TestSimulateCallWithoutConnect(t *testing.T) {
	sb, base := callSandbox(t, "")
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
	// The inbound leg only.
	legs, fields := nextEvents(t, events, 3, res.ConversationUUID, false)
	in := legEvent{res.UUID, "inbound", callerNumber, virtualNumber, ""}
	var statuses []string
	for i, l := range legs {
		statuses = append(statuses, l.status)
		if l.status = ""; l != in {
			t.Errorf("event %d of %v, want %v", i, l, in)
		}
	}
	if want := []string{"started", "answered", "completed"}; !reflect.DeepEqual(statuses, want) {
		t.Errorf("statuses = %v", statuses)
	}
	if len(fields) == 3 {
		wantFields(t, "completed", fields[2], map[string]string{"duration": "5", "rate": "0.00450000", "price": "0.00037500"})
	}
	noMoreRequests(t, events, "the event URL")
	if res.OutboundUUID != "" || res.Outbound != nil || len(res.Events) != 3 || res.Status != StatusCompleted {
		t.Errorf("result = %+v", res)
	}
	r := get(t, base, "/_sandbox/calls/"+res.UUID, nil)
	if m := r.json(t); m["outbound"] != nil || m["outbound_uuid"] != nil {
		t.Errorf("call without an outbound leg: %s", r.body)
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
				if err := json.Unmarshal(events.next(t).body, &ev); err != nil || ev["status"] != want || ev["uuid"] != res.UUID {
					t.Errorf("event %v, want %s of the inbound leg", ev, want)
				}
			}
			if res.OutboundUUID != "" || res.Outbound != nil || len(res.Events) != 2 || res.DurationSeconds != 0 {
				t.Errorf("a call not answered has %d events, outbound leg %q", len(res.Events), res.OutboundUUID)
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
	if len(res.Events) != 7 || res.Events[0].URL != "" || res.Events[0].HTTPStatus != 0 || res.Outbound == nil || res.Outbound.From != "447700900555" {
		t.Errorf("events without an event URL = %+v", res.Events)
	}
}

// Without a from, the callee sees an unknown caller.
func TestSimulateCallConnectWithoutFrom(t *testing.T) {
	sb, _ := callSandbox(t, "")
	answer := newRecorder(t, replyNCCO(`[{"action":"connect","endpoint":[{"type":"phone","number":"447700900777"}]}]`))
	res, err := sb.SimulateCall(context.Background(), CallRequest{From: callerNumber, To: virtualNumber, AnswerURL: answer.URL})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Connected || res.CallerID != "" || res.Outbound == nil || res.Outbound.From != "Unknown" || res.Outbound.To != calleeNumber {
		t.Errorf("outbound leg = %+v", res.Outbound)
	}
	if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], "has no from") {
		t.Errorf("warnings = %q", res.Warnings)
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
