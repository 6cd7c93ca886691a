package main

import (
	"strings"
	"testing"
)

// voice.out_of_session forward:NUMBER through the binary: a stranger, and a
// participant once the conversation has ended, are connected to the support
// line showing the proxy they dialled; the conversation's own calls are
// untouched; a bad setting stops serve with the key named.
func TestOutOfSessionForward(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	const a, b, stranger, support = "+447700900123", "+442079460321", "+447700900555", "+442079460999"
	conv := createConversation(t, e, a, b)
	proxyA := conv.Participants[0].ProxyNumber

	_, line := runFail(t, e.with("MASKCALL_VOICE_OUT_OF_SESSION", "forward:support"), 3, "serve", "--listen", "127.0.0.1:0")
	if !strings.Contains(line, "voice.out_of_session") {
		t.Errorf("serve's refusal of a bad voice.out_of_session does not name it: %q", line)
	}

	srv := startServe(t, e.with("MASKCALL_VOICE_OUT_OF_SESSION", "forward:+44 20 7946 0999"))
	if !srv.stderrHas("forwarded to") || strings.Contains(srv.stderr.String(), digits(support)) {
		t.Errorf("serve does not say, masked, where out-of-session calls go:\n%s", srv.stderr.String())
	}
	assertConnected(t, srv.call(t, e, a, proxyA, "GET"), b, conv.Participants[1].ProxyNumber)
	assertConnected(t, srv.call(t, e, stranger, proxyA, "GET"), support, proxyA)

	runOK(t, e, "conversation", "end", conv.ID)
	assertConnected(t, srv.call(t, e, a, proxyA, "POST"), support, proxyA)
	srv.stop()

	// The default is still "not in service".
	srv = startServe(t, e)
	assertNotInService(t, srv.call(t, e, stranger, proxyA, "GET"))
	srv.stop()
}
