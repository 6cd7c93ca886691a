package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A stranger's call, and a participant's after the conversation ended,
// reach the platform as call.out_of_session with what the caller got —
// signed, once each, without the caller's number.
func TestCallbacks_OutOfSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	secret := strings.TrimSpace(runOK(t, e, "callbacks", "secret"))
	pf := newPlatform(t, secret)
	e = e.with("MASKCALL_CALLBACKS_URL", pf.srv.URL+"/maskcall").with("MASKCALL_CALLBACKS_SECRET", secret).
		with("MASKCALL_VOICE_OUT_OF_SESSION", "forward:+442079460999")
	srv := startServe(t, e)

	const a, b, stranger = "+447700900123", "+447700900456", "+447700900777"
	c := createConversation(t, e, a, b)
	proxyA := c.Participants[0].ProxyNumber
	assertConnected(t, srv.call(t, e, stranger, proxyA, "GET"), "+442079460999", proxyA)
	runOK(t, e, "conversation", "end", c.ID)
	assertConnected(t, srv.call(t, e, a, proxyA, "POST"), "+442079460999", proxyA)

	eventually(t, 30*time.Second, "two call.out_of_session events", func() bool {
		return pf.types()["call.out_of_session"] == 2
	})
	pf.checkProblems()
	pf.mu.Lock()
	defer pf.mu.Unlock()
	for _, ev := range pf.events {
		if ev.Type != "call.out_of_session" {
			continue
		}
		var d struct {
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal([]byte(ev.raw), &d); err != nil {
			t.Fatal(err)
		}
		if d.Data["call_id"] == "" || d.Data["status"] != "forward" {
			t.Errorf("call.out_of_session without its call id or action: %s", ev.raw)
		}
		if strings.Contains(ev.raw, "7700900777") || strings.Contains(ev.raw, "7700900123") {
			t.Errorf("call.out_of_session holds the caller's number: %s", ev.raw)
		}
	}
}
