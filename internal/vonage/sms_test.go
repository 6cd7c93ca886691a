package vonage

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

func TestSendSMSRequestAndReply(t *testing.T) {
	f := newFake(t, replyJSON(200, `{
		"message-count": "1",
		"messages": [{"to": "447700900000", "message-id": "0A0000000123ABCD1", "status": "0",
			"remaining-balance": "3.14159265", "message-price": "0.03330000", "network": "12345"}]}`))
	id, err := newTestClient(t, f.URL).SendSMS(ctx, "+447700900001", "+447700900000", "Hello World!")
	if err != nil {
		t.Fatal(err)
	}
	if id != "0A0000000123ABCD1" {
		t.Fatalf("id %q", id)
	}
	r := f.only(t)
	if r.Method != http.MethodPost || r.Path != "/sms/json" {
		t.Fatalf("request %s %s, want POST /sms/json", r.Method, r.Path)
	}
	// sms.yml: credentials are fields of the form body (NewMessage), not
	// query parameters.
	wantValues(t, "query", r.Query, nil)
	wantValues(t, "form", r.Form(t), map[string][]string{
		"api_key": {testKey}, "api_secret": {testSecret},
		"from": {"447700900001"}, "to": {"447700900000"}, "text": {"Hello World!"},
	})
}

func TestSendSMSUnicode(t *testing.T) {
	f := newFake(t, replyJSON(200, `{"message-count":"1","messages":[{"message-id":"X1","status":"0"}]}`))
	if _, err := newTestClient(t, f.URL).SendSMS(ctx, "+447700900001", "+447700900000", "Grüße 👋"); err != nil {
		t.Fatal(err)
	}
	if got := f.only(t).Form(t).Get("type"); got != "unicode" {
		t.Fatalf("type = %q, want unicode", got)
	}
}

func TestSendSMSMultipart(t *testing.T) {
	f := newFake(t, replyJSON(200, `{"message-count":"2","messages":[{"message-id":"P1","status":"0"},{"message-id":"P2","status":"0"}]}`))
	id, err := newTestClient(t, f.URL).SendSMS(ctx, "+447700900001", "+447700900000", "long text")
	if err != nil || id != "P1" {
		t.Fatalf("got %q, %v", id, err)
	}
}

func TestSendSMSErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		code   string
		vonage string
	}{
		{"missing param", 200, `{"message-count":"1","messages":[{"status":"2","error-text":"Missing to param"}]}`, maskcall.EUPSTREAM, "2"},
		{"bad credentials", 200, `{"message-count":"1","messages":[{"status":"4","error-text":"Bad Credentials"}]}`, maskcall.EVONAGEAUTH, "4"},
		{"invalid signature", 200, `{"message-count":"1","messages":[{"status":"14","error-text":"Invalid Signature"}]}`, maskcall.EVONAGEAUTH, "14"},
		{"quota", 200, `{"message-count":"1","messages":[{"status":"9","error-text":"Partner quota violation"}]}`, maskcall.EUPSTREAM, "9"},
		{"second part fails", 200, `{"message-count":"2","messages":[{"message-id":"P1","status":"0"},{"status":"5","error-text":"Internal Error"}]}`, maskcall.EUPSTREAM, "5"},
		// Replies that do not say whether the SMS went.
		{"no messages", 200, `{"message-count":"0","messages":[]}`, maskcall.EUNAVAILABLE, ""},
		{"401", 401, `{"type":"https://developer.nexmo.com/api-errors#unauthorized","title":"Invalid credentials supplied"}`, maskcall.EVONAGEAUTH, ""},
		{"500", 500, `boom`, maskcall.EUNAVAILABLE, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, replyJSON(tc.status, tc.body))
			_, err := newTestClient(t, f.URL).SendSMS(ctx, "+447700900001", "+447700900000", "hi")
			wantCode(t, err, tc.code)
			if ae := apiErr(t, err); ae.Code != tc.vonage || ae.StatusCode != tc.status {
				t.Fatalf("APIError = %+v", ae)
			}
		})
	}
}

func TestSendSMSInvalid(t *testing.T) {
	f := newFake(t, replyJSON(200, `{}`))
	c := newTestClient(t, f.URL)
	_, err := c.SendSMS(ctx, "+447700900001", "+4477", "hi")
	wantCode(t, err, maskcall.EINVALID)
	_, err = c.SendSMS(ctx, "sender", "+447700900000", "hi")
	wantCode(t, err, maskcall.EINVALID)
	_, err = c.SendSMS(ctx, "+447700900001", "+447700900000", "")
	wantCode(t, err, maskcall.EINVALID)
	if n := len(f.requests()); n != 0 {
		t.Fatalf("sent %d requests", n)
	}
}

// Whether a failed send certainly did not text anyone (maskcall.ErrNotSent),
// the one thing a relay may retry after: refusals, 429 and no connection
// are; a timeout, a reset, a 5xx, an unreadable reply and a partly sent
// text are not.
func TestSendSMSNotSent(t *testing.T) {
	reset := func(w http.ResponseWriter, _ *http.Request, _ seen) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close() // the request was read; the reply never comes
		}
	}
	slow := func(w http.ResponseWriter, r *http.Request, _ seen) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}
	for _, tc := range []struct {
		name    string
		reply   func(http.ResponseWriter, *http.Request, seen)
		notSent bool
	}{
		{"throttled", replyJSON(200, `{"message-count":"1","messages":[{"status":"1","error-text":"Throttled"}]}`), true},
		{"refused", replyJSON(200, `{"message-count":"1","messages":[{"status":"15","error-text":"Illegal Sender Address"}]}`), true},
		{"every part refused", replyJSON(200, `{"message-count":"2","messages":[{"status":"1"},{"status":"1"}]}`), true},
		{"429", replyJSON(429, `{"title":"Too Many Requests"}`), true},
		{"401", replyJSON(401, `{"title":"Invalid credentials supplied"}`), true},
		{"second part refused", replyJSON(200, `{"message-count":"2","messages":[{"message-id":"P1","status":"0"},{"status":"1"}]}`), false},
		{"no messages", replyJSON(200, `{"message-count":"0","messages":[]}`), false},
		{"unreadable", replyJSON(200, `<html>`), false},
		{"500", replyJSON(500, `boom`), false},
		{"503", replyJSON(503, ``), false},
		{"reset after the request", reset, false},
		{"timeout after the request", slow, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, tc.reply)
			_, err := newTestClient(t, f.URL, func(c *Config) { c.Timeout = 300 * time.Millisecond }).
				SendSMS(ctx, "+447700900001", "+447700900000", "hi")
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, maskcall.ErrNotSent); got != tc.notSent {
				t.Fatalf("not sent = %v, want %v (%v)", got, tc.notSent, err)
			}
		})
	}
	t.Run("connection refused", func(t *testing.T) {
		f := newFake(t, replyJSON(200, `{}`))
		url := f.URL
		f.Close()
		_, err := newTestClient(t, url).SendSMS(ctx, "+447700900001", "+447700900000", "hi")
		wantCode(t, err, maskcall.EUNAVAILABLE)
		if !errors.Is(err, maskcall.ErrNotSent) {
			t.Fatalf("a send that reached nothing is not marked not sent: %v", err)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		_, err := newTestClient(t, "http://127.0.0.1:1").SendSMS(ctx, "+447700900001", "+4477", "hi")
		if !errors.Is(err, maskcall.ErrNotSent) {
			t.Fatalf("%v", err)
		}
	})
}
