package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sqlite"
	"github.com/maskcall/maskcall/internal/vonage/signature"
)

type smsHookEnv struct {
	db   *sqlite.DB
	conv *maskcall.Conversation
	url  string
	logs *bytes.Buffer
	now  time.Time
}

func newSMSHookEnv(t *testing.T, method string) *smsHookEnv {
	t.Helper()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "maskcall.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	for _, n := range []string{"+447700900000", "+447700900001"} {
		if err := db.CreateNumber(ctx, &maskcall.Number{Number: n, Country: "GB", Features: []string{"VOICE", "SMS"},
			Status: maskcall.NumberActive, AppID: "app"}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	c := &maskcall.Conversation{Participants: []maskcall.Participant{
		{Number: "+447700900123", Country: "GB", Label: "driver"},
		{Number: "+447700900456", Country: "GB", Label: "rider"},
	}}
	if err := db.CreateConversation(ctx, c, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	e := &smsHookEnv{db: db, conv: c, logs: logs, now: time.Now()}
	h, err := NewInboundSMS(InboundSMSConfig{Store: db, SignatureMethod: method, SignatureSecret: "sms-secret",
		Now: func() time.Time { return e.now }, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, p := range h.Patterns() {
		mux.Handle(p, h)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e.url = srv.URL + InboundSMSPath
	return e
}

func (e *smsHookEnv) params(id, text string) url.Values {
	a := e.conv.Participants[0]
	return url.Values{"msisdn": {a.Number[1:]}, "to": {a.ProxyNumber[1:]}, "messageId": {id}, "text": {text},
		"type": {"text"}, "keyword": {strings.ToUpper(strings.Fields(text + " x")[0])}, "api-key": {"abcd1234"},
		"message-timestamp": {e.now.UTC().Format(time.DateTime)}, "timestamp": {strconv.FormatInt(e.now.Unix(), 10)}, "nonce": {"n-" + id}}
}

func sign(method string, v url.Values) url.Values {
	p := map[string]string{}
	for k := range v {
		p[k] = v.Get(k)
	}
	v.Set("sig", signature.SignSMS(method, "sms-secret", p))
	return v
}

func (e *smsHookEnv) messages(t *testing.T) []*maskcall.Message {
	t.Helper()
	msgs, err := e.db.FindMessages(context.Background(), e.conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func do(t *testing.T, req *http.Request) int {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestInboundSMS_Encodings(t *testing.T) {
	e := newSMSHookEnv(t, "")
	get, _ := http.NewRequest("GET", e.url+"?"+e.params("m1", "by query").Encode(), nil)
	form, _ := http.NewRequest("POST", e.url, strings.NewReader(e.params("m2", "by form").Encode()))
	form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	obj := map[string]string{}
	for k, v := range e.params("m3", "by json") {
		obj[k] = v[0]
	}
	body, _ := json.Marshal(obj)
	js, _ := http.NewRequest("POST", e.url, bytes.NewReader(body))
	js.Header.Set("Content-Type", "application/json")
	for _, r := range []*http.Request{get, form, js} {
		if got := do(t, r); got != 200 {
			t.Fatalf("%s %s: %d", r.Method, r.Header.Get("Content-Type"), got)
		}
	}
	// Resent: still 200, still three messages.
	again, _ := http.NewRequest("GET", e.url+"?"+e.params("m1", "by query").Encode(), nil)
	if got := do(t, again); got != 200 {
		t.Fatal(got)
	}
	msgs := e.messages(t)
	if len(msgs) != 3 {
		t.Fatalf("%d messages, want 3", len(msgs))
	}
	for _, m := range msgs {
		if m.Status != maskcall.MessageReceived || m.Sender != 0 {
			t.Errorf("%+v", m)
		}
	}
	if strings.Contains(e.logs.String(), "by query") || strings.Contains(e.logs.String(), "447700900123") {
		t.Errorf("a text or a full number was logged:\n%s", e.logs)
	}
}

func TestInboundSMS_BadInput(t *testing.T) {
	e := newSMSHookEnv(t, "")
	p := e.params("m1", "x")
	p.Del("messageId")
	r, _ := http.NewRequest("GET", e.url+"?"+p.Encode(), nil)
	if got := do(t, r); got != 400 {
		t.Errorf("missing messageId: %d", got)
	}
	p = e.params("m2", "x")
	p.Set("concat", "true")
	p.Set("concat-ref", "1")
	p.Set("concat-total", "2")
	p.Set("concat-part", "3")
	r, _ = http.NewRequest("GET", e.url+"?"+p.Encode(), nil)
	if got := do(t, r); got != 400 {
		t.Errorf("part 3 of 2: %d", got)
	}
	r, _ = http.NewRequest("PUT", e.url, nil)
	if got := do(t, r); got != 405 {
		t.Errorf("PUT: %d", got)
	}
	if msgs := e.messages(t); len(msgs) != 0 {
		t.Errorf("recorded %+v", msgs)
	}
}

func TestInboundSMS_Signed(t *testing.T) {
	for _, method := range signature.SMSMethods {
		t.Run(method, func(t *testing.T) {
			e := newSMSHookEnv(t, method)
			get := func(v url.Values) int {
				r, _ := http.NewRequest("GET", e.url+"?"+v.Encode(), nil)
				return do(t, r)
			}
			if got := get(sign(method, e.params("m1", "genuine"))); got != 200 {
				t.Fatalf("signed: %d", got)
			}
			forged := sign(method, e.params("m2", "genuine"))
			forged.Set("text", "forged")
			if got := get(forged); got != 401 {
				t.Errorf("forged: %d", got)
			}
			if got := get(e.params("m3", "unsigned")); got != 401 {
				t.Errorf("unsigned: %d", got)
			}
			stale := e.params("m4", "old")
			stale.Set("timestamp", strconv.FormatInt(e.now.Add(-10*time.Minute).Unix(), 10))
			if got := get(sign(method, stale)); got != 401 {
				t.Errorf("stale: %d", got)
			}
			if msgs := e.messages(t); len(msgs) != 1 {
				t.Errorf("%d messages recorded, want only the genuine one", len(msgs))
			}
		})
	}
}

func TestNewInboundSMS_Config(t *testing.T) {
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "x.db"))
	if _, err := NewInboundSMS(InboundSMSConfig{Store: db, SignatureMethod: "crc"}); maskcall.ErrorCode(err) != maskcall.ECONFIG {
		t.Error(err)
	}
	if _, err := NewInboundSMS(InboundSMSConfig{Store: db, SignatureMethod: "sha256"}); maskcall.ErrorCode(err) != maskcall.ECONFIG {
		t.Error(err)
	}
}
