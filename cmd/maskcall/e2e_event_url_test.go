package main

// Issue 9 item 3: the connect's eventUrl comes from configuration only.

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// eventURLOf sends a signed answer for the conversation's first participant
// with a Host header of the caller's choosing and returns the connect's
// eventUrl.
func eventURLOf(t *testing.T, srv *serveProc, c conversation, host string) []string {
	t.Helper()
	p := c.Participants[0]
	q := url.Values{"to": {digits(p.ProxyNumber)}, "from": {digits(p.Number)}, "uuid": {testCallUUID(host)}}
	u := srv.URL + "/webhooks/answer?" + q.Encode()
	status, body := signedRequestHost(t, u, host)
	var ncco []struct {
		Action   string   `json:"action"`
		EventURL []string `json:"eventUrl"`
	}
	if err := json.Unmarshal(body, &ncco); status != http.StatusOK || err != nil || len(ncco) != 2 || ncco[1].Action != "connect" {
		t.Fatalf("answer = %d %s, want a connect", status, body)
	}
	return ncco[1].EventURL
}

// testCallUUID is the uuid of eventURLOf's answer with host.
func testCallUUID(host string) string { return "5e1f0c3a-0000-4000-8000-0000000e0" + host[:3] }

func TestEventURLFromConfigurationOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t)

	// Listening beyond loopback without a public URL: refused.
	_, line := runFail(t, e, 3, "serve", "--listen", "0.0.0.0:0")
	if !strings.Contains(line, "public URL") || !strings.Contains(line, "--public-url") {
		t.Errorf("serve on 0.0.0.0 without a public URL says %q", line)
	}

	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	c := runJSON[conversation](t, e, "conversation", "create", "+447700900123", "+442079460321", "--no-sms", "--insight", "none", "-o", "json")

	// On loopback: its own address, whatever the Host header says.
	srv := startServe(t, e)
	// (The query names the call: "?call=" and the answer's uuid.)
	if got := eventURLOf(t, srv, c, "evil.example"); len(got) != 1 || got[0] != srv.URL+"/webhooks/event?call="+testCallUUID("evil.example") {
		t.Errorf("eventUrl on loopback with Host evil.example = %v, want %s/webhooks/event", got, srv.URL)
	}
	srv.stop()

	// With a public URL: that.
	srv = startServe(t, e, "--public-url", "https://calls.example.com/")
	if got := eventURLOf(t, srv, c, "evil.example:443"); len(got) != 1 || got[0] != "https://calls.example.com/webhooks/event?call="+testCallUUID("evil.example:443") {
		t.Errorf("eventUrl with --public-url = %v", got)
	}
}
