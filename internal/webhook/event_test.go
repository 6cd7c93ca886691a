package webhook

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// startCall routes a call from Alice so events have a call to match.
func startCall(t *testing.T, e *testEnv, uuid string) {
	t.Helper()
	wantConnect(t, e.get("/proxy-call?"+answerQuery("447700900001", "447700900101", uuid)),
		"447700900102", "447700900002", "https://maskcall.example/webhooks/event", 3600)
}

func TestEventRecordsCompletedWithStringDuration(t *testing.T) {
	e := newTestEnv(t, Config{})
	startCall(t, e, "UUID-1")
	rec := e.post("/webhooks/event", `{"status":"completed","uuid":"UUID-1","conversation_uuid":"CON-UUID-1",
		"direction":"inbound","from":"447700900001","to":"447700900101","timestamp":"2025-03-01T12:01:02.345Z",
		"duration":"42","start_time":"2025-03-01T12:00:20.000Z","end_time":"2025-03-01T12:01:02.000Z",
		"price":"0.01400000","rate":"0.02000000","network":"23410"}`)
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("event = %d %q, want 204", rec.Code, rec.Body.String())
	}
	if len(e.store.events) != 1 {
		t.Fatalf("events = %d", len(e.store.events))
	}
	ev := e.store.events[0]
	if ev.Status != "completed" || ev.UUID != "UUID-1" || ev.ConversationUUID != "CON-UUID-1" || ev.Direction != "inbound" ||
		ev.From != numA || ev.To != proxyA || ev.Duration != 42 {
		t.Errorf("event = %+v", ev)
	}
	if want := time.Date(2025, 3, 1, 12, 1, 2, 345e6, time.UTC); !ev.Timestamp.Equal(want) {
		t.Errorf("timestamp = %s, want %s", ev.Timestamp, want)
	}
	if ev.StartTime == nil || ev.EndTime == nil || ev.EndTime.Sub(*ev.StartTime) != 42*time.Second {
		t.Errorf("start/end = %v %v", ev.StartTime, ev.EndTime)
	}
	if c := e.store.calls["UUID-1"]; c.Status != "completed" || c.Duration != 42 {
		t.Errorf("call = %+v", c)
	}
}

func TestEventDurationForms(t *testing.T) {
	for _, tt := range []struct {
		dur  string
		want int
	}{{`"42"`, 42}, {`42`, 42}, {`""`, 0}, {`null`, 0}, {`"0"`, 0}} {
		e := newTestEnv(t, Config{})
		rec := e.post("/event", `{"status":"completed","uuid":"U","duration":`+tt.dur+`}`)
		if rec.Code != http.StatusNoContent || len(e.store.events) != 1 || e.store.events[0].Duration != tt.want {
			t.Errorf("duration %s: %d %+v", tt.dur, rec.Code, e.store.events)
		}
	}
}

func TestEventGET(t *testing.T) {
	e := newTestEnv(t, Config{})
	startCall(t, e, "UUID-G")
	q := url.Values{"status": {"completed"}, "uuid": {"UUID-G"}, "conversation_uuid": {"CON-UUID-G"},
		"direction": {"inbound"}, "from": {"447700900001"}, "to": {"447700900101"}, "duration": {"17"},
		"timestamp": {"2025-03-01T12:00:30.000Z"}}
	for _, p := range []string{"/event", "/webhooks/event"} {
		if rec := e.get(p + "?" + q.Encode()); rec.Code != http.StatusNoContent {
			t.Fatalf("GET %s = %d %q", p, rec.Code, rec.Body.String())
		}
	}
	if len(e.store.events) != 2 || e.store.events[0].Duration != 17 || e.store.events[0].From != numA {
		t.Errorf("events = %+v", e.store.events)
	}
	if rec := e.get("/event?status=completed&uuid=U&duration=abc"); rec.Code != http.StatusBadRequest {
		t.Errorf("bad GET duration = %d, want 400", rec.Code)
	}
}

func TestEventDuplicateAndOutOfOrder(t *testing.T) {
	e := newTestEnv(t, Config{})
	startCall(t, e, "UUID-D")
	evs := []string{
		`{"status":"answered","uuid":"UUID-D","timestamp":"2025-03-01T12:00:05.000Z"}`,
		`{"status":"completed","uuid":"UUID-D","duration":"9","timestamp":"2025-03-01T12:00:14.000Z"}`,
		`{"status":"completed","uuid":"UUID-D","duration":"9","timestamp":"2025-03-01T12:00:14.000Z"}`, // retry
		`{"status":"ringing","uuid":"UUID-D","timestamp":"2025-03-01T12:00:01.000Z"}`,                  // late
		// the outbound leg: another uuid, same conversation_uuid
		`{"status":"ringing","uuid":"LEG-2","conversation_uuid":"CON-UUID-D","direction":"outbound","from":"447700900102","to":"447700900002"}`,
	}
	for _, ev := range evs {
		if rec := e.post("/webhooks/event", ev); rec.Code != http.StatusNoContent {
			t.Fatalf("%s = %d", ev, rec.Code)
		}
	}
	if len(e.store.events) != len(evs) {
		t.Fatalf("the router got %d events, want %d", len(e.store.events), len(evs))
	}
	if c := e.store.calls["UUID-D"]; c.Status != "completed" {
		t.Errorf("call status = %s, want completed", c.Status)
	}
	if ev := e.store.events[4]; ev.From != proxyB || ev.To != numB || ev.Direction != "outbound" {
		t.Errorf("outbound leg event = %+v", ev)
	}
	if e.store.events[4].Timestamp.IsZero() {
		t.Error("an event without timestamp got no time")
	}
}

// TestEventNamesItsCall: the outbound leg's events come to the connect
// action's eventUrl, whose call parameter reaches the store as CallUUID
// (POST and GET); the store takes it only with the call's own
// conversation_uuid, and a query that does not parse is refused.
func TestEventNamesItsCall(t *testing.T) {
	e := newTestEnv(t, Config{})
	rec := e.get("/webhooks/answer?" + answerQuery("447700900001", "447700900101", "UUID-O"))
	u, err := url.Parse(decodeNCCO(t, rec)[1].EventURL[0])
	if err != nil {
		t.Fatal(err)
	}
	target := u.Path + "?" + u.RawQuery
	leg := `{"status":"answered","uuid":"LEG-O","conversation_uuid":"%s","direction":"outbound"}`
	if rec := e.post(target, fmt.Sprintf(leg, "CON-UUID-O")); rec.Code != http.StatusNoContent {
		t.Fatalf("POST %s = %d", target, rec.Code)
	}
	if ev := e.store.events[0]; ev.CallUUID != "UUID-O" || ev.UUID != "LEG-O" {
		t.Errorf("event = %+v, want CallUUID UUID-O", ev)
	}
	if c := e.store.calls["UUID-O"]; c.Status != "answered" {
		t.Errorf("call status = %s, want answered (the outbound leg's event found it)", c.Status)
	}
	// Another conversation's leg naming this call changes nothing.
	if rec := e.post(target, `{"status":"completed","uuid":"LEG-X","conversation_uuid":"CON-OTHER","direction":"outbound"}`); rec.Code != http.StatusNoContent {
		t.Fatalf("POST = %d", rec.Code)
	}
	if c := e.store.calls["UUID-O"]; c.Status != "answered" {
		t.Errorf("call status = %s after another conversation's event, want answered", c.Status)
	}
	if rec := e.get("/webhooks/event?call=UUID-O&status=ringing&uuid=LEG-O&conversation_uuid=CON-UUID-O"); rec.Code != http.StatusNoContent {
		t.Fatalf("GET = %d", rec.Code)
	}
	if ev := e.store.events[2]; ev.CallUUID != "UUID-O" {
		t.Errorf("GET event = %+v, want CallUUID UUID-O", ev)
	}
	if rec := e.post("/webhooks/event?call=%zz", fmt.Sprintf(leg, "CON-UUID-O")); rec.Code != http.StatusBadRequest {
		t.Errorf("POST with a malformed query = %d, want 400", rec.Code)
	}
	if len(e.store.events) != 3 {
		t.Errorf("the router got %d events, want 3", len(e.store.events))
	}
}

func TestEventUnknownCall(t *testing.T) {
	e := newTestEnv(t, Config{})
	rec := e.post("/event", `{"status":"ringing","uuid":"NOBODY","from":"sip:alice@example.com","to":"Unknown"}`)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("unknown call event = %d, want 204", rec.Code)
	}
	if ev := e.store.events[0]; ev.From != "sip:alice@example.com" || ev.To != "Unknown" {
		t.Errorf("non-phone endpoints changed: %+v", ev)
	}
	if !strings.Contains(e.logs.String(), `"recorded":false`) {
		t.Errorf("logs: %s", e.logs.String())
	}
}

func TestEventInvalid(t *testing.T) {
	for _, tt := range []struct{ name, body string }{
		{"malformed JSON", `{"status":`},
		{"not an object", `["completed"]`},
		{"empty body", ``},
		{"unknown status", `{"status":"exploded","uuid":"U"}`},
		{"no uuid", `{"status":"ringing"}`},
		{"bad duration", `{"status":"completed","uuid":"U","duration":"forty"}`},
		{"negative duration", `{"status":"completed","uuid":"U","duration":-1}`},
		{"fractional duration", `{"status":"completed","uuid":"U","duration":1.5}`},
		{"bad timestamp", `{"status":"completed","uuid":"U","timestamp":"yesterday"}`},
		{"bad start_time", `{"status":"completed","uuid":"U","start_time":"1/2/2025"}`},
		{"status of wrong type", `{"status":5,"uuid":"U"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{})
			if rec := e.post("/webhooks/event", tt.body); rec.Code != http.StatusBadRequest {
				t.Errorf("= %d, want 400", rec.Code)
			}
			if e.store.recordEvents != 0 {
				t.Error("an invalid event reached the store")
			}
		})
	}
}

func TestEventWithoutStatusIgnored(t *testing.T) {
	e := newTestEnv(t, Config{})
	rec := e.post("/event", `{"type":"transfer","uuid":"U","conversation_uuid_from":"A","conversation_uuid_to":"B"}`)
	if rec.Code != http.StatusNoContent || e.store.recordEvents != 0 {
		t.Errorf("= %d, store calls %d; want 204 and none", rec.Code, e.store.recordEvents)
	}
}

func TestEventStoreFailure(t *testing.T) {
	e := newTestEnv(t, Config{})
	e.store.err = errors.New("disk I/O error")
	if rec := e.post("/event", `{"status":"ringing","uuid":"U"}`); rec.Code != http.StatusInternalServerError {
		t.Errorf("store error = %d, want 500", rec.Code)
	}
	e.store.err, e.store.panicMsg = nil, "boom"
	if rec := e.post("/event", `{"status":"ringing","uuid":"U"}`); rec.Code != http.StatusInternalServerError {
		t.Errorf("store panic = %d, want 500", rec.Code)
	}
}

func TestEventTooLarge(t *testing.T) {
	e := newTestEnv(t, Config{})
	big := `{"status":"ringing","uuid":"U","pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	if rec := e.post("/event", big); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("= %d, want 413", rec.Code)
	}
	req := httptest.NewRequest("POST", "/event", unknownLengthBody{strings.NewReader(big)})
	if rec := e.do(req); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("unknown length = %d, want 413", rec.Code)
	}
	if e.store.reached() {
		t.Error("an oversized event reached the store")
	}
}

func TestEventLogsMaskNumbers(t *testing.T) {
	e := newTestEnv(t, Config{})
	e.post("/event", `{"status":"ringing","uuid":"U","from":"447700900001","to":"447700900101"}`)
	logs := e.logs.String()
	if strings.Contains(logs, "447700900001") || strings.Contains(logs, "447700900101") {
		t.Errorf("logs show a number in full:\n%s", logs)
	}
	if !strings.Contains(logs, `"msg":"event"`) || !strings.Contains(logs, `"status":"ringing"`) {
		t.Errorf("no event line:\n%s", logs)
	}
}
