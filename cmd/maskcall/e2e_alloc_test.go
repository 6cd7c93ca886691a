package main

import (
	"slices"
	"strings"
	"testing"
)

// A conversation that texts its participants never gets a proxy without
// SMS; one that does not may use any VOICE number; auto-provision rents
// what the conversation needs. (The bug: with a VOICE-only landline in the
// pool, rented by `--auto-provision --no-sms`, a later texting conversation
// was given the landline and texted from it.)
func TestAllocationHonoursFeatures(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// The sandbox's GB landlines are VOICE only.
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "1", "--type", "landline", "--features", "VOICE")
	pool := listNumbers(t, e, "")
	if len(pool) != 1 || slices.Contains(pool[0].Features, "SMS") {
		t.Fatalf("pool = %+v, want one VOICE-only number", pool)
	}
	landline := pool[0].Number

	// A voice-only conversation may use it.
	c1 := createConversation(t, e, "+447700900123", "+447700900456")
	if c1.Participants[0].ProxyNumber != landline || c1.Participants[1].ProxyNumber != landline {
		t.Fatalf("voice-only conversation proxies = %s, %s; want the landline %s",
			c1.Participants[0].ProxyNumber, c1.Participants[1].ProxyNumber, landline)
	}

	// A texting conversation does not, even though the landline is free
	// for these participants: the pool has no number for it.
	sent := len(e.SB.SentSMS())
	_, line := runFail(t, e, -1, "conversation", "create", "+447700900321", "+447700900654", "--insight", "none")
	if !strings.Contains(line, "SMS") {
		t.Errorf("exhaustion error %q does not say an SMS number is missing", line)
	}
	if got := listConversations(t, e, "all"); len(got) != 1 {
		t.Fatalf("after the refused create: %d conversations, want 1", len(got))
	}
	if n := len(e.SB.SentSMS()); n != sent {
		t.Fatalf("the refused create sent %d texts", n-sent)
	}

	// With --auto-provision it rents a number that can text, and texts
	// from it.
	c2 := runJSON[conversation](t, e, "conversation", "create", "+447700900321", "+447700900654",
		"--insight", "none", "--auto-provision", "-o", "json")
	features := map[string][]string{}
	for _, n := range listNumbers(t, e, "") {
		features[n.Number] = n.Features
	}
	for _, p := range c2.Participants {
		if p.ProxyNumber == landline || !slices.Contains(features[p.ProxyNumber], "SMS") {
			t.Errorf("texting conversation gave %s proxy %s with features %v", p.Number, p.ProxyNumber, features[p.ProxyNumber])
		}
	}
	texts := e.SB.SentSMS()[sent:]
	if len(texts) != 2 {
		t.Fatalf("%d texts sent for the texting conversation, want 2", len(texts))
	}
	for _, s := range texts {
		if "+"+s.From == landline || s.From == landline || !slices.Contains(features["+"+strings.TrimPrefix(s.From, "+")], "SMS") {
			t.Errorf("texted from %s, which cannot send SMS", s.From)
		}
	}

	// Auto-provision for a voice-only conversation rents with VOICE only
	// (any VOICE number will do); its number is never handed to a texting
	// conversation later.
	runOK(t, e, "conversation", "end", c2.ID)
	for range 3 {
		runOK(t, e, "conversation", "create", "+447700900123", "+447700900789", "--no-sms", "--insight", "none", "--auto-provision")
	}
	c3 := runJSON[conversation](t, e, "conversation", "create", "+447700900123", "+447700900999",
		"--insight", "none", "--auto-provision", "-o", "json")
	features = map[string][]string{}
	for _, n := range listNumbers(t, e, "") {
		features[n.Number] = n.Features
	}
	for _, p := range c3.Participants {
		if !slices.Contains(features[p.ProxyNumber], "SMS") {
			t.Errorf("texting conversation got %s (features %v)", p.ProxyNumber, features[p.ProxyNumber])
		}
	}
}
