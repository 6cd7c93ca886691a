package main

// End-to-end tests of the private SMS relay: the sandbox delivers inbound
// texts to the real `maskcall serve` as Vonage would, and records the texts
// serve relays through its SMS API.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/sandbox"
	"github.com/maskcall/maskcall/internal/vonage/signature"
)

// shownMessage is a message of `conversation show -o json`.
type shownMessage struct {
	ID         string  `json:"id"`
	Sender     int     `json:"sender"`
	Parts      int     `json:"parts"`
	PartsTotal int     `json:"parts_total"`
	Incomplete bool    `json:"incomplete"`
	Status     string  `json:"status"`
	Reason     string  `json:"reason"`
	Attempts   int     `json:"attempts"`
	Error      string  `json:"error"`
	Text       *string `json:"text"`
}

type smsConversation struct {
	conversation
	Mode     string         `json:"mode"`
	Messages []shownMessage `json:"messages"`
}

// smsWorld is a sandbox, two pool numbers, a driver–rider conversation and
// serve.
type smsWorld struct {
	e    *testEnv
	c    conversation
	srv  *serveProc
	a, b struct{ Number, Proxy string }
}

func newSMSWorld(t *testing.T, e *testEnv, serveArgs ...string) *smsWorld {
	t.Helper()
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	w := &smsWorld{e: e}
	w.c = createConversation(t, e, "+447700900123", "+447700900456", "--label-a", "driver", "--label-b", "rider")
	w.a.Number, w.a.Proxy = w.c.Participants[0].Number, w.c.Participants[0].ProxyNumber
	w.b.Number, w.b.Proxy = w.c.Participants[1].Number, w.c.Participants[1].ProxyNumber
	w.srv = startServe(t, e, serveArgs...)
	return w
}

func (w *smsWorld) inboundURL() string { return w.srv.URL + "/webhooks/inbound-sms" }

// text has the sandbox deliver a text through the binary's `sandbox sms`.
func (w *smsWorld) text(t *testing.T, from, to, text string, extra ...string) string {
	t.Helper()
	args := append([]string{"sandbox", "sms", "--sandbox", w.e.URL, "--url", w.inboundURL(),
		"--from", from, "--to", to, "--text", text}, extra...)
	return runOK(t, w.e, args...)
}

func (w *smsWorld) show(t *testing.T) smsConversation {
	t.Helper()
	return runJSON[smsConversation](t, w.e, "conversation", "show", w.c.ID, "-o", "json")
}

// waitSent waits until the sandbox has received n outbound texts, then
// until serve records every message of the conversation as settled.
func (w *smsWorld) waitSent(t *testing.T, n int) []sandbox.SentSMS {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for len(w.e.SB.SentSMS()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d texts sent, want %d\nserve stderr:\n%s", len(w.e.SB.SentSMS()), n, w.srv.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		settled := true
		for _, m := range w.show(t).Messages {
			settled = settled && m.Status != "received"
		}
		if settled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages never settled: %+v", w.show(t).Messages)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return w.e.SB.SentSMS()
}

func TestSMSRelayBothWays(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newSMSWorld(t, e)
	w.text(t, w.a.Number, w.a.Proxy, "I'm outside, blue car")
	w.text(t, w.b.Number, w.b.Proxy, "Coming down now", "--method", "GET")
	sent := w.waitSent(t, 2)
	if len(sent) != 2 {
		t.Fatalf("sent %+v", sent)
	}
	// Each text reaches the other participant from that participant's own
	// proxy: a reply goes back the same way, and no real number is shown.
	want := map[string][2]string{
		"I'm outside, blue car": {digits(w.b.Proxy), digits(w.b.Number)},
		"Coming down now":       {digits(w.a.Proxy), digits(w.a.Number)},
	}
	for _, s := range sent {
		if got := [2]string{s.From, s.To}; got != want[s.Text] {
			t.Errorf("%q sent from %s to %s, want from %s to %s", s.Text, s.From, s.To, want[s.Text][0], want[s.Text][1])
		}
	}
	c := w.show(t)
	if len(c.Messages) != 2 || c.Messages[0].Sender != 0 || c.Messages[1].Sender != 1 {
		t.Fatalf("messages %+v", c.Messages)
	}
	for _, m := range c.Messages {
		if m.Status != "relayed" || m.Text != nil {
			t.Errorf("message %+v: want relayed, text not kept", m)
		}
	}
	log := w.srv.stderr.String()
	for _, secret := range []string{"blue car", "Coming down", digits(w.a.Number), digits(w.b.Number), w.a.Number, w.b.Number} {
		if strings.Contains(log, secret) {
			t.Errorf("serve's log holds %q:\n%s", secret, log)
		}
	}
	if !strings.Contains(log, "inbound SMS are NOT verified") {
		t.Errorf("serve did not warn that inbound SMS are not verified:\n%s", log)
	}
	human := runOK(t, e, "conversation", "show", w.c.ID)
	if !strings.Contains(human, "Messages:") || !strings.Contains(human, "driver") {
		t.Errorf("conversation show does not list the messages:\n%s", human)
	}
}

func TestSMSStrangerEndedAndOptOut(t *testing.T) {
	t.Parallel()
	e := newEnv(t).with("MASKCALL_SMS_NOT_IN_SERVICE_REPLY", "This number is not in service.")
	w := newSMSWorld(t, e)

	// Opt-out: recorded, not relayed, no reply.
	w.text(t, w.a.Number, w.a.Proxy, "stop")
	// A stranger texts twice: nothing relayed, one reply a day.
	w.text(t, "+447700900999", w.a.Proxy, "who is this?")
	w.text(t, "+447700900999", w.a.Proxy, "hello??")
	// A marker that must be relayed, so the worker has run past the others.
	w.text(t, w.b.Number, w.b.Proxy, "marker")
	sent := w.waitSent(t, 2)
	time.Sleep(500 * time.Millisecond) // nothing more is due; a wrong extra send would show
	sent = e.SB.SentSMS()
	if len(sent) != 2 {
		t.Fatalf("sent %+v, want the marker and one reply to the stranger", sent)
	}
	for _, s := range sent {
		switch s.To {
		case "447700900999":
			if s.From != digits(w.a.Proxy) || s.Text != "This number is not in service." {
				t.Errorf("reply %+v", s)
			}
		case digits(w.a.Number):
			if s.Text != "marker" {
				t.Errorf("relayed to the driver: %+v", s)
			}
		default:
			t.Errorf("unexpected text %+v", s)
		}
	}
	c := w.show(t)
	if len(c.Messages) != 2 || c.Messages[0].Status != "blocked" || c.Messages[0].Reason != "opt_out" {
		t.Fatalf("messages %+v", c.Messages)
	}

	// Ended: nothing relayed; the sender is told, as a stranger would be.
	runOK(t, e, "conversation", "end", w.c.ID)
	w.text(t, w.b.Number, w.b.Proxy, "still there?")
	sent = w.waitSent(t, 3)
	last := sent[len(sent)-1]
	if len(sent) != 3 || last.To != digits(w.b.Number) || last.Text != "This number is not in service." {
		t.Fatalf("after the end: %+v", sent)
	}
}

func TestSMSResentAndLong(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newSMSWorld(t, e)
	// Vonage delivers the same message three times: relayed once.
	out := w.text(t, w.a.Number, w.a.Proxy, "resent three times", "--repeat", "3")
	if strings.Count(out, "HTTP 200") != 3 {
		t.Fatalf("deliveries:\n%s", out)
	}
	// A three-part text, parts out of order, each delivered twice, as a form.
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 9)[:400]
	out = w.text(t, w.b.Number, w.b.Proxy, long, "--repeat", "2", "--format", "form")
	if !strings.Contains(out, "in 3 part(s)") {
		t.Fatalf("not split in three:\n%s", out)
	}
	sent := w.waitSent(t, 2)
	time.Sleep(500 * time.Millisecond)
	sent = e.SB.SentSMS()
	if len(sent) != 2 {
		t.Fatalf("%d texts sent, want 2: %+v", len(sent), sent)
	}
	got := map[string]string{}
	for _, s := range sent {
		got[s.To] = s.Text
	}
	if got[digits(w.b.Number)] != "resent three times" || got[digits(w.a.Number)] != long {
		t.Errorf("relayed %+v", got)
	}
	c := w.show(t)
	if len(c.Messages) != 2 || c.Messages[1].Parts != 3 || c.Messages[1].PartsTotal != 3 || c.Messages[1].Incomplete {
		t.Errorf("messages %+v", c.Messages)
	}
}

func TestSMSSigned(t *testing.T) {
	t.Parallel()
	e := newEnv(t).with("VONAGE_SMS_SIGNATURE_METHOD", signature.SMSSHA256)
	w := newSMSWorld(t, e)
	if strings.Contains(w.srv.stderr.String(), "inbound SMS are NOT verified") {
		t.Errorf("serve warned although inbound SMS are verified")
	}
	deliver := func(sb *sandbox.Sandbox, text string) sandbox.InboundSMSDelivery {
		t.Helper()
		res, err := sb.SendInboundSMS(context.Background(), sandbox.InboundSMSRequest{From: w.a.Number, To: w.a.Proxy, Text: text, URL: w.inboundURL()})
		if err != nil {
			t.Fatal(err)
		}
		return res.Deliveries[0]
	}
	genuine := sandbox.New(sandbox.Config{SignatureSecret: testSignatureSecret, SMSSignatureMethod: signature.SMSSHA256})
	forger := sandbox.New(sandbox.Config{SignatureSecret: "guessed-secret", SMSSignatureMethod: signature.SMSSHA256})
	if d := deliver(forger, "forged"); d.HTTPStatus != http.StatusUnauthorized || !d.Signed {
		t.Errorf("forged sig: %+v", d)
	}
	if d := deliver(e.SB, "unsigned"); d.HTTPStatus != http.StatusUnauthorized || d.Signed {
		t.Errorf("unsigned: %+v", d)
	}
	if d := deliver(genuine, "genuine"); d.HTTPStatus != http.StatusOK {
		t.Fatalf("genuine: %+v", d)
	}
	sent := w.waitSent(t, 1)
	time.Sleep(300 * time.Millisecond)
	if sent = e.SB.SentSMS(); len(sent) != 1 || sent[0].Text != "genuine" {
		t.Fatalf("sent %+v: forgeries must make maskcall text no one", sent)
	}
	if c := w.show(t); len(c.Messages) != 1 {
		t.Errorf("forged messages recorded: %+v", c.Messages)
	}
	// What the CLI's sandbox sends is refused too: it is not signed.
	out, _, code := run(t, e, "sandbox", "sms", "--sandbox", e.URL, "--url", w.inboundURL(), "--from", w.b.Number, "--to", w.b.Proxy, "--text", "unsigned")
	if code == 0 || !strings.Contains(out, "HTTP 401") {
		t.Errorf("unsigned through the CLI: exit %d\n%s", code, out)
	}
}

// serve is SIGKILLed after acknowledging a text and before relaying it
// (Vonage's SMS API is throttling: nothing sent): after restart it is
// relayed exactly once.
func TestSMSKillBeforeRelay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.SB.InjectFault(sandbox.Fault{Path: "/sms/json", Count: -1, Status: http.StatusTooManyRequests}); err != nil {
		t.Fatal(err)
	}
	w := newSMSWorld(t, e)
	w.text(t, w.a.Number, w.a.Proxy, "survives a crash")
	// Wait until the failed attempt is recorded and the relay waits for
	// its retry: the message is acknowledged and durable, not yet relayed.
	deadline := time.Now().Add(60 * time.Second)
	for {
		ms := w.show(t).Messages
		if len(ms) == 1 && ms[0].Status == "received" && ms[0].Attempts >= 1 && ms[0].Error != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failed attempt was never recorded: %+v\n%s", ms, w.srv.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.srv.kill()
	e.SB.ClearFaults()
	if n := len(e.SB.SentSMS()); n != 0 {
		t.Fatalf("%d texts sent before the restart", n)
	}
	w.srv = startServe(t, e)
	sent := w.waitSent(t, 1)
	time.Sleep(500 * time.Millisecond)
	if sent = e.SB.SentSMS(); len(sent) != 1 || sent[0].Text != "survives a crash" || sent[0].To != digits(w.b.Number) {
		t.Fatalf("after restart: %+v", sent)
	}
	if m := w.show(t).Messages[0]; m.Status != "relayed" {
		t.Errorf("%+v", m)
	}
}

// A burst of 300 inbound texts: all acknowledged, all relayed once, never
// more than 30 SMS requests in any second.
func TestSMSBurstUnderRate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newSMSWorld(t, e)
	const n = 300
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += 10 {
				from, to := w.a.Number, w.a.Proxy
				if i%2 == 1 {
					from, to = w.b.Number, w.b.Proxy
				}
				res, err := e.SB.SendInboundSMS(context.Background(), sandbox.InboundSMSRequest{From: from, To: to, Text: fmt.Sprintf("burst %03d", i), URL: w.inboundURL()})
				if err != nil || !res.OK() {
					errs <- fmt.Sprintf("text %d: %v %+v", i, err, res)
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	sent := w.waitSent(t, n)
	time.Sleep(500 * time.Millisecond)
	sent = e.SB.SentSMS()
	seen := map[string]int{}
	for _, s := range sent {
		seen[s.Text]++
	}
	if len(sent) != n || len(seen) != n {
		t.Fatalf("%d texts sent, %d distinct, want %d each", len(sent), len(seen), n)
	}
	best := 0
	for i := range sent {
		k := 0
		for j := i; j < len(sent) && sent[j].Time.Sub(sent[i].Time) < time.Second; j++ {
			k++
		}
		best = max(best, k)
	}
	t.Logf("300 texts relayed in %s (%.1f/s), at most %d in any second", sent[len(sent)-1].Time.Sub(sent[0].Time),
		float64(n-1)/sent[len(sent)-1].Time.Sub(sent[0].Time).Seconds(), best)
	if best > 30 {
		t.Errorf("%d SMS requests within one second, over Vonage's 30/s", best)
	}
	if el := sent[len(sent)-1].Time.Sub(sent[0].Time); el < 9*time.Second {
		t.Errorf("300 texts went out in %s: faster than 30/s", el)
	}
}

// The demo shows a text each way, relayed from the other's proxy.
func TestDemoTexts(t *testing.T) {
	t.Parallel()
	out := runOK(t, newEnv(t), "demo")
	for _, want := range []string{`relayed from 447700900`, `"I'm outside, blue Toyota."`, `"Coming down in 2 minutes!"`} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %s:\n%s", want, out)
		}
	}
	if strings.Count(out, "relayed from") != 2 {
		t.Errorf("want two relayed texts:\n%s", out)
	}
}

// With a public URL, numbers are pointed at serve's inbound SMS webhook
// when linked, and reconcile puts back a URL changed elsewhere.
func TestNumbersInboundSMSURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t).with("MASKCALL_SERVE_PUBLIC_URL", "https://calls.example.com")
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	want := "https://calls.example.com/webhooks/inbound-sms"
	owned := e.SB.OwnedNumbers()
	if len(owned) != 2 {
		t.Fatalf("owned %+v", owned)
	}
	for _, n := range owned {
		if n.MoHTTPURL != want {
			t.Errorf("%s: moHttpUrl %q, want %q", n.MSISDN, n.MoHTTPURL, want)
		}
	}
	// Someone points one number elsewhere in the dashboard.
	moved := owned[0].MSISDN
	resp, err := http.PostForm(e.URL+"/number/update", map[string][]string{"api_key": {testAPIKey}, "api_secret": {testAPISecret},
		"country": {"GB"}, "msisdn": {moved}, "app_id": {testApplicationID}, "moHttpUrl": {"https://elsewhere.example.com/sms"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	out := runOK(t, e, "numbers", "reconcile", "--dry-run")
	t.Logf("reconcile --dry-run:\n%s", out)
	if !strings.Contains(out, "+"+moved) || !strings.Contains(out, "inbound SMS go to another URL") || strings.Contains(out, "+"+owned[1].MSISDN) {
		t.Errorf("reconcile --dry-run does not report %s:\n%s", moved, out)
	}
	runOK(t, e, "numbers", "reconcile")
	for _, n := range e.SB.OwnedNumbers() {
		if n.MoHTTPURL != want {
			t.Errorf("after reconcile %s: moHttpUrl %q, want %q", n.MSISDN, n.MoHTTPURL, want)
		}
	}
}

// --mode voice: texts are recorded, not relayed; the default relays them.
func TestSMSConversationMode(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newSMSWorld(t, e)
	if got := w.show(t); got.Mode != "voice-and-sms" {
		t.Errorf("default mode %q, want voice-and-sms (the proxies can text)", got.Mode)
	}
	voice := runJSON[smsConversation](t, e, "conversation", "create", "+447700900777", "+447700900888",
		"--no-sms", "--insight", "none", "--mode", "voice", "-o", "json")
	if voice.Mode != "voice" {
		t.Fatalf("mode %q, want voice", voice.Mode)
	}
	p := voice.Participants[0]
	w.text(t, p.Number, p.ProxyNumber, "not relayed")
	w.text(t, w.a.Number, w.a.Proxy, "relayed")
	sent := w.waitSent(t, 1)
	time.Sleep(500 * time.Millisecond)
	if sent = e.SB.SentSMS(); len(sent) != 1 || sent[0].Text != "relayed" {
		t.Fatalf("sent %+v", sent)
	}
	shown := runJSON[smsConversation](t, e, "conversation", "show", voice.ID, "-o", "json")
	if len(shown.Messages) != 1 || shown.Messages[0].Status != "blocked" || shown.Messages[0].Reason != "voice_only" {
		t.Errorf("voice conversation's messages %+v", shown.Messages)
	}
	_, line := runFail(t, e, 2, "conversation", "create", "+447700900777", "+447700900999", "--mode", "fax")
	if !strings.Contains(line, "voice, sms or voice-and-sms") {
		t.Errorf("error line %q", line)
	}
}

// An sms conversation relays texts but connects no calls: to a caller its
// proxy is not in service, and no call is recorded against it. A
// voice-and-sms conversation on the same pool still connects.
func TestSMSOnlyConversationRefusesCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newSMSWorld(t, e)
	sms := runJSON[smsConversation](t, e, "conversation", "create", "+447700900777", "+447700900888",
		"--no-sms", "--insight", "none", "--mode", "sms", "-o", "json")
	if sms.Mode != "sms" {
		t.Fatalf("mode %q, want sms", sms.Mode)
	}
	a, b := sms.Participants[0], sms.Participants[1]

	assertNotInService(t, w.srv.call(t, e, a.Number, a.ProxyNumber, http.MethodGet))
	assertNotInService(t, w.srv.call(t, e, b.Number, b.ProxyNumber, http.MethodPost))
	assertConnected(t, w.srv.call(t, e, w.a.Number, w.a.Proxy, http.MethodGet), w.b.Number, w.b.Proxy)

	w.text(t, a.Number, a.ProxyNumber, "texts still go through")
	sent := w.waitSent(t, 1)
	if len(sent) != 1 || sent[0].Text != "texts still go through" || sent[0].From != digits(b.ProxyNumber) || sent[0].To != digits(b.Number) {
		t.Fatalf("sent %+v, want the text from %s to %s", sent, b.ProxyNumber, b.Number)
	}
	shown := runJSON[smsConversation](t, e, "conversation", "show", sms.ID, "-o", "json")
	if len(shown.Calls) != 0 {
		t.Errorf("calls recorded against the sms conversation: %+v", shown.Calls)
	}
	eventually(t, 30*time.Second, "the text recorded as relayed", func() bool {
		shown = runJSON[smsConversation](t, e, "conversation", "show", sms.ID, "-o", "json")
		return len(shown.Messages) == 1 && shown.Messages[0].Status == "relayed"
	})
}

// Vonage takes the relayed text but answers after serve's Vonage timeout:
// whether it was sent is unknown, so it is never sent again. The message
// shows unknown with the reason, serve logs it, and the sandbox counted one
// send.
func TestSMSSendTimeoutNotResent(t *testing.T) {
	t.Parallel()
	e := newEnv(t).with("MASKCALL_VONAGE_TIMEOUT", "500ms")
	if err := e.SB.InjectFault(sandbox.Fault{Path: "/sms/json", DelayMS: 2500, AfterEffect: true}); err != nil {
		t.Fatal(err)
	}
	w := newSMSWorld(t, e)
	w.text(t, w.a.Number, w.a.Proxy, "sent once")
	var m shownMessage
	eventually(t, 30*time.Second, "the relay settled", func() bool {
		ms := w.show(t).Messages
		if len(ms) == 1 && ms[0].Status != "received" {
			m = ms[0]
			return true
		}
		return false
	})
	if m.Status != "unknown" || m.Attempts != 1 || m.Error == "" {
		t.Fatalf("message %+v, want unknown after one attempt, with the reason", m)
	}
	// Longer than a retry's backoff: nothing more is sent.
	time.Sleep(4 * time.Second)
	if sent := e.SB.SentSMS(); len(sent) != 1 || sent[0].Text != "sent once" {
		t.Fatalf("sandbox got %+v, want the text once", sent)
	}
	if m := w.show(t).Messages[0]; m.Status != "unknown" || m.Attempts != 1 {
		t.Fatalf("after the wait: %+v", m)
	}
	if log := w.srv.stderr.String(); !strings.Contains(log, "outcome unknown") || strings.Contains(log, "sent once") {
		t.Errorf("serve's log does not report the unknown outcome, or holds the text:\n%s", log)
	}
}

// The README's sandbox with vonage.sms_signature_method set: `maskcall
// sandbox sms` (the CLI asking the running `maskcall sandbox`) delivers a
// signed text that serve accepts and relays; the same text tampered with
// on its way (its text changed, its sig kept) is refused and not recorded.
func TestSandboxSMSSigned(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir, home := filepath.Join(root, "walk"), filepath.Join(root, "home")
	for _, d := range []string{dir, home} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	const method = "VONAGE_SMS_SIGNATURE_METHOD=" + signature.SMSSHA256
	startSandboxEnv(t, dir, home, []string{method})
	term := terminal(t, dir, home)
	term.Vars["VONAGE_SMS_SIGNATURE_METHOD"] = signature.SMSSHA256
	runOK(t, term, "numbers", "provision", "--country", "GB", "--count", "2")
	c := createConversation(t, term, "+447700900123", "+447700900456", "--label-a", "driver", "--label-b", "rider")
	a := c.Participants[0]
	srv := startServe(t, term)
	if strings.Contains(srv.stderr.String(), "NOT verified") {
		t.Errorf("serve warned although inbound SMS are verified:\n%s", srv.stderr.String())
	}
	inbound := srv.URL + "/webhooks/inbound-sms"

	// On the way to serve, a text's body is changed; its sig is kept.
	tamper := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body["text"] = "Meet me at the back door"
		raw, _ := json.Marshal(body)
		resp, err := http.Post(inbound, "application/json", bytes.NewReader(raw))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	}))
	defer tamper.Close()

	out := runOK(t, term, "sandbox", "sms", "--from", a.Number, "--to", a.ProxyNumber, "--text", "I'm outside", "--url", inbound)
	if !strings.Contains(out, "signed") || strings.Contains(out, "unsigned") || !strings.Contains(out, "HTTP 200") {
		t.Fatalf("genuine text: %s", out)
	}
	out, _, code := run(t, term, "sandbox", "sms", "--from", a.Number, "--to", a.ProxyNumber, "--text", "I'm outside, blue car", "--url", tamper.URL)
	if code == 0 || !strings.Contains(out, "HTTP 401") {
		t.Fatalf("tampered text: exit %d\n%s", code, out)
	}

	sbURL := term.Vars["VONAGE_REST_URL"]
	relayed := func() (texts []string) {
		resp, err := http.Get(sbURL + "/_sandbox/sms")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var sent []sandbox.SentSMS
		if err := json.NewDecoder(resp.Body).Decode(&sent); err != nil {
			t.Fatal(err)
		}
		for _, s := range sent {
			if s.To == digits(c.Participants[1].Number) {
				texts = append(texts, s.Text)
			}
		}
		return texts
	}
	eventually(t, 30*time.Second, "the genuine text relayed", func() bool { return len(relayed()) > 0 })
	time.Sleep(500 * time.Millisecond)
	if got := relayed(); len(got) != 1 || got[0] != "I'm outside" {
		t.Fatalf("relayed %q, want only the genuine text", got)
	}
	shown := runJSON[smsConversation](t, term, "conversation", "show", c.ID, "-o", "json")
	if len(shown.Messages) != 1 {
		t.Fatalf("messages %+v: the tampered text was recorded", shown.Messages)
	}
	if log := srv.stderr.String(); !strings.Contains(log, "signature refused") || strings.Contains(log, "back door") {
		t.Errorf("serve's log does not report the refusal, or holds the text:\n%s", log)
	}
}
