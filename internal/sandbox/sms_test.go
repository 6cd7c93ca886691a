package sandbox

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

type smsResult struct {
	MessageCount string              `json:"message-count"`
	Messages     []map[string]string `json:"messages"`
}

func sendSMS(t *testing.T, base string, kv ...string) smsResult {
	t.Helper()
	r := postForm(t, base, "/sms/json", creds(kv...))
	wantStatus(t, r, http.StatusOK) // even for errors
	var out smsResult
	r.decode(t, &out)
	return out
}

func TestSendSMS(t *testing.T) {
	sb, base := newTestServer(t, Config{Now: func() time.Time { return testEpoch }})
	got := sendSMS(t, base, "from", "447700900001", "to", "447700900999", "text", "Your code is 1234", "client-ref", "ref-1")
	if got.MessageCount != "1" || len(got.Messages) != 1 {
		t.Fatalf("reply = %+v", got)
	}
	m := got.Messages[0]
	if m["status"] != "0" || m["to"] != "447700900999" || m["message-id"] == "" ||
		m["message-price"] != "0.03330000" || m["remaining-balance"] != "99.96670000" ||
		m["network"] == "" || m["client-ref"] != "ref-1" {
		t.Errorf("message = %v", m)
	}

	sent := sb.SentSMS()
	if len(sent) != 1 {
		t.Fatalf("sent = %+v", sent)
	}
	s := sent[0]
	if s.From != "447700900001" || s.To != "447700900999" || s.Text != "Your code is 1234" ||
		s.MessageID != m["message-id"] || !s.Time.Equal(testEpoch) {
		t.Errorf("recorded %+v", s)
	}

	var listed []SentSMS
	get(t, base, "/_sandbox/sms", nil).decode(t, &listed)
	if len(listed) != 1 || listed[0].MessageID != s.MessageID {
		t.Errorf("/_sandbox/sms = %+v", listed)
	}

	// The request log masks the secret.
	reqs := sb.Requests()
	if f := reqs[len(reqs)-1].Form; f.Get("api_secret") != masked || f.Get("text") != "Your code is 1234" {
		t.Errorf("logged form = %v", f)
	}
}

func TestSendLongSMS(t *testing.T) {
	sb, base := newTestServer(t, Config{})
	got := sendSMS(t, base, "from", "Acme Inc", "to", "12025550123", "text", strings.Repeat("a", 200))
	if got.MessageCount != "2" || len(got.Messages) != 2 || got.Messages[0]["message-id"] == got.Messages[1]["message-id"] {
		t.Fatalf("reply = %+v", got)
	}
	if s := sb.SentSMS(); len(s) != 1 || len(s[0].MessageIDs) != 2 {
		t.Errorf("sent = %+v", s)
	}
	got = sendSMS(t, base, "from", "Acme", "to", "12025550123", "type", "unicode", "text", strings.Repeat("é", 71))
	if got.MessageCount != "2" {
		t.Errorf("71 unicode characters sent as %s messages", got.MessageCount)
	}
}

func TestSendSMSErrors(t *testing.T) {
	sb, base := newTestServer(t, Config{Balance: 0.01})
	for _, tt := range []struct {
		name   string
		params []string
		status string
	}{
		{"bad secret", []string{"api_secret", "nope", "from", "Acme", "to", "447700900999", "text", "hi"}, "4"},
		{"missing from", []string{"to", "447700900999", "text", "hi"}, "2"},
		{"missing to", []string{"from", "Acme", "text", "hi"}, "2"},
		{"missing text", []string{"from", "Acme", "to", "447700900999"}, "2"},
		{"plus in to", []string{"from", "Acme", "to", "+447700900999", "text", "hi"}, "3"},
		{"long sender", []string{"from", "AcmeIncorporated", "to", "447700900999", "text", "hi"}, "3"},
		{"no credit", []string{"from", "Acme", "to", "447700900999", "text", "hi"}, "9"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := sendSMS(t, base, tt.params...)
			if len(got.Messages) != 1 {
				t.Fatalf("reply = %+v", got)
			}
			m := got.Messages[0]
			if m["status"] != tt.status || m["error-text"] == "" || len(m) != 2 {
				t.Errorf("message = %v, want status %s with error-text", m, tt.status)
			}
		})
	}

	// Missing api_key; and credentials in the query string are not looked at.
	r := postForm(t, base, "/sms/json?"+creds().Encode(), creds("api_key", "", "api_secret", "", "from", "Acme", "to", "447700900999", "text", "hi"))
	wantStatus(t, r, http.StatusOK)
	if s := r.json(t)["messages"].([]any)[0].(map[string]any)["status"]; s != "2" {
		t.Errorf("status = %v, want 2", s)
	}
	// A JSON body is not what the spec describes.
	r = sendJSON(t, http.MethodPost, base+"/sms/json", map[string]string{"api_key": testKey, "api_secret": testSecret, "from": "Acme", "to": "447700900999", "text": "hi"})
	if s := r.json(t)["messages"].([]any)[0].(map[string]any)["status"]; s != "2" {
		t.Errorf("JSON body: status = %v, want 2", s)
	}
	if n := len(sb.SentSMS()); n != 0 {
		t.Errorf("%d SMS recorded", n)
	}
}
