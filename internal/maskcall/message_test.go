package maskcall

import (
	"testing"
	"time"
)

func TestIsOptOut(t *testing.T) {
	for text, want := range map[string]bool{
		"STOP": true, "stop": true, " Stop ": true, "STOP.": true, "quit!": true, "StopAll": true,
		"UNSUBSCRIBE": true, "cancel": true, "End": true, "\tQUIT\n": true,
		"stop it": false, "please stop": false, "": false, "STOPP": false, "halt": false, "end of road": false,
	} {
		if got := IsOptOut(text); got != want {
			t.Errorf("IsOptOut(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestDecideInbound(t *testing.T) {
	route := &Route{ConversationID: "cv_1"}
	for _, tc := range []struct {
		name   string
		route  *Route
		mode   ConversationMode
		text   string
		concat bool
		want   InboundDecision
	}{
		{"relayed", route, ModeVoiceAndSMS, "I'm outside", false, InboundDecision{Relay: true, Status: MessageReceived}},
		{"sms mode", route, ModeSMS, "hi", false, InboundDecision{Relay: true, Status: MessageReceived}},
		{"legacy empty mode relays", route, "", "hi", false, InboundDecision{Relay: true, Status: MessageReceived}},
		{"stranger", nil, "", "hi", false, InboundDecision{Status: MessageBlocked, Reason: BlockNoConversation, AutoReply: true}},
		{"stranger saying stop", nil, "", "STOP", false, InboundDecision{Status: MessageBlocked, Reason: BlockNoConversation, AutoReply: true}},
		{"voice only", route, ModeVoice, "hi", false, InboundDecision{Status: MessageBlocked, Reason: BlockVoiceOnly}},
		{"opt out", route, ModeVoiceAndSMS, "stop", false, InboundDecision{Status: MessageBlocked, Reason: BlockOptOut}},
		{"a part saying stop is not an opt-out", route, ModeVoiceAndSMS, "stop", true, InboundDecision{Relay: true, Status: MessageReceived}},
	} {
		if got := DecideInbound(tc.route, tc.mode, tc.text, tc.concat); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestAssembleParts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		parts      []MessagePart
		total      int
		text       string
		incomplete bool
	}{
		{"single", []MessagePart{{1, "hello"}}, 1, "hello", false},
		{"single total 0", []MessagePart{{0, "hello"}}, 0, "hello", false},
		{"in order", []MessagePart{{1, "a"}, {2, "b"}, {3, "c"}}, 3, "abc", false},
		{"out of order", []MessagePart{{3, "c"}, {1, "a"}, {2, "b"}}, 3, "abc", false},
		{"duplicate part", []MessagePart{{2, "b"}, {1, "a"}, {2, "b"}}, 2, "ab", false},
		{"missing middle", []MessagePart{{3, "c"}, {1, "a"}}, 3, "ac", true},
		{"none", nil, 2, "", true},
	} {
		text, inc := AssembleParts(tc.parts, tc.total)
		if text != tc.text || inc != tc.incomplete {
			t.Errorf("%s: got %q, %v; want %q, %v", tc.name, text, inc, tc.text, tc.incomplete)
		}
	}
}

func TestInboundSMSValidate(t *testing.T) {
	ok := InboundSMS{MessageID: "m1", From: "+447700900001", To: "+447700900000", Text: "x"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	part := ok
	part.ConcatRef, part.ConcatTotal, part.ConcatPart = "7", 3, 2
	if err := part.Validate(); err != nil || !part.Concatenated() {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*InboundSMS){
		"no id":        func(in *InboundSMS) { in.MessageID = "" },
		"no sender":    func(in *InboundSMS) { in.From = "" },
		"part 0":       func(in *InboundSMS) { in.ConcatRef, in.ConcatTotal, in.ConcatPart = "1", 2, 0 },
		"part > total": func(in *InboundSMS) { in.ConcatRef, in.ConcatTotal, in.ConcatPart = "1", 2, 3 },
		"no ref":       func(in *InboundSMS) { in.ConcatTotal, in.ConcatPart = 2, 1 },
		"too many":     func(in *InboundSMS) { in.ConcatRef, in.ConcatTotal, in.ConcatPart = "1", 256, 1 },
	} {
		in := ok
		mut(&in)
		if err := in.Validate(); ErrorCode(err) != EINVALID {
			t.Errorf("%s: got %v, want invalid_input", name, err)
		}
	}
}

func TestParseConversationMode(t *testing.T) {
	for in, want := range map[string]ConversationMode{"voice": ModeVoice, "SMS": ModeSMS, " voice-and-sms ": ModeVoiceAndSMS} {
		if got, err := ParseConversationMode(in); err != nil || got != want {
			t.Errorf("%q: %v, %v", in, got, err)
		}
	}
	if _, err := ParseConversationMode("fax"); ErrorCode(err) != EINVALID {
		t.Errorf("fax: %v", err)
	}
	if !ModeVoiceAndSMS.NeedsSMS() || !ModeSMS.NeedsSMS() || ModeVoice.NeedsSMS() || ModeSMS.RoutesCalls() || ModeVoice.RelaysSMS() {
		t.Error("mode predicates")
	}
}

func TestRelayBackoff(t *testing.T) {
	want := []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second}
	for i, w := range want {
		if got := RelayBackoff(i + 1); got != w {
			t.Errorf("RelayBackoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := RelayBackoff(30); got != 5*time.Minute {
		t.Errorf("capped: %s", got)
	}
}
