package sandbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/vonage/signature"
)

// inboundReceiver records the parameters of every inbound SMS request.
type inboundReceiver struct {
	mu   sync.Mutex
	got  []map[string]string
	kind []string
}

func (rc *inboundReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := map[string]string{}
	kind := r.Method
	switch {
	case r.Method == http.MethodGet:
		for k, v := range r.URL.Query() {
			p[k] = v[0]
		}
	case r.Header.Get("Content-Type") == "application/json":
		kind += " json"
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &p)
	default:
		kind += " form"
		_ = r.ParseForm()
		for k, v := range r.PostForm {
			p[k] = v[0]
		}
	}
	rc.mu.Lock()
	rc.got, rc.kind = append(rc.got, p), append(rc.kind, kind)
	rc.mu.Unlock()
}

func TestSendInboundSMS(t *testing.T) {
	rc := &inboundReceiver{}
	app := httptest.NewServer(rc)
	defer app.Close()
	sb := New(Config{SignatureSecret: "s3cret", SMSSignatureMethod: signature.SMSSHA256})
	long := strings.Repeat("0123456789", 40) // 400 GSM characters: 3 parts
	res, err := sb.SendInboundSMS(context.Background(), InboundSMSRequest{From: "+447700900123", To: "447700900000", Text: long, URL: app.URL + "/in", Repeat: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Parts != 3 || len(res.Deliveries) != 6 || !res.OK() {
		t.Fatalf("%+v", res)
	}
	if first := rc.got[0]["concat-part"]; first != "3" {
		t.Errorf("first part sent was %s, want the last (out of order)", first)
	}
	byPart := map[int]string{}
	ids := map[string]bool{}
	for _, p := range rc.got {
		if err := signature.VerifySMS(signature.SMSSHA256, "s3cret", p, time.Now()); err != nil {
			t.Errorf("part %s: %v", p["concat-part"], err)
		}
		if p["msisdn"] != "447700900123" || p["to"] != "447700900000" || p["concat-ref"] != res.ConcatRef || p["concat-total"] != "3" || p["type"] != "text" {
			t.Errorf("params %v", p)
		}
		n, _ := strconv.Atoi(p["concat-part"])
		byPart[n] = p["text"]
		ids[p["messageId"]] = true
	}
	if len(ids) != 3 {
		t.Errorf("%d message ids over 2 deliveries of 3 parts, want 3 (a resend keeps its id)", len(ids))
	}
	keys := []int{}
	for k := range byPart {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var whole string
	for _, k := range keys {
		whole += byPart[k]
	}
	if whole != long || len(byPart[1]) != 153 {
		t.Errorf("parts do not make the text: %d parts, first %d chars", len(byPart), len(byPart[1]))
	}
}

func TestSendInboundSMS_FormatsAndDefaults(t *testing.T) {
	rc := &inboundReceiver{}
	app := httptest.NewServer(rc)
	defer app.Close()
	sb := New(Config{})
	// The number's moHttpUrl is the default target.
	sb.mu.Lock()
	sb.owned = map[string]*OwnedNumber{"447700900000": {MoHTTPURL: app.URL + "/mo"}}
	sb.mu.Unlock()
	for _, req := range []InboundSMSRequest{{Method: "GET"}, {Format: "form"}, {}} {
		req.From, req.To, req.Text = "447700900123", "447700900000", "héllo ☃"
		res, err := sb.SendInboundSMS(context.Background(), req)
		if err != nil || !res.OK() || res.URL != app.URL+"/mo" {
			t.Fatalf("%+v %v", res, err)
		}
	}
	if strings.Join(rc.kind, ",") != "GET,POST form,POST json" {
		t.Errorf("kinds %v", rc.kind)
	}
	for _, p := range rc.got {
		if _, ok := p["sig"]; ok || p["type"] != "unicode" || p["text"] != "héllo ☃" {
			t.Errorf("unsigned unicode expected: %v", p)
		}
	}
	for _, bad := range []InboundSMSRequest{{From: "x", To: "447700900000", Text: "t"}, {From: "447700900123", To: "447700900000"},
		{From: "447700900123", To: "447700900000", Text: "t", Method: "PUT"}} {
		if _, err := sb.SendInboundSMS(context.Background(), bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	// Over HTTP.
	srv := httptest.NewServer(sb)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/_sandbox/inbound-sms", "application/json",
		strings.NewReader(`{"from":"447700900123","to":"447700900000","text":"hi","url":"`+app.URL+`/x"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res InboundSMSResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil || resp.StatusCode != 200 || !res.OK() {
		t.Fatalf("HTTP %d %+v %v", resp.StatusCode, res, err)
	}
}
