package maskcall_test

import (
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// The conversation mode decides which proxies may serve: an SMS mode only
// numbers that can text; the default falls back to voice when none can.
func TestCreateMode(t *testing.T) {
	e := newEnv(t)
	if err := e.db.CreateNumber(t.Context(), &maskcall.Number{Number: "+441632960001", Country: "GB", Type: "landline",
		Features: []string{"VOICE"}, Status: maskcall.NumberActive, AppID: svcAppID}, time.Now()); err != nil {
		t.Fatal(err)
	}
	a := maskcall.Participant{Number: "+447700900123", Country: "GB", Label: "a"}
	b := maskcall.Participant{Number: "+447700900456", Country: "GB", Label: "b"}
	req := maskcall.CreateRequest{A: a, B: b, Insight: maskcall.InsightNone}

	req.Mode = maskcall.ModeVoiceAndSMS
	if _, err := e.svc.Create(t.Context(), req); maskcall.ErrorCode(err) != maskcall.EEXHAUSTED {
		t.Fatalf("voice-and-sms with only a voice number: %v, want pool_exhausted", err)
	}
	req.Mode = ""
	res := create(t, e, req)
	if res.Conversation.Mode != maskcall.ModeVoice || res.Conversation.Participants[0].ProxyNumber != "+441632960001" {
		t.Fatalf("default with only a voice number: %+v", res.Conversation)
	}
	fill(t, e, 1) // a number that can text
	c := &maskcall.Participant{Number: "+447700900789", Country: "GB", Label: "c"}
	res = create(t, e, maskcall.CreateRequest{A: a, B: *c, Insight: maskcall.InsightNone})
	if res.Conversation.Mode != maskcall.ModeVoiceAndSMS || res.Conversation.Participants[0].ProxyNumber == "+441632960001" {
		t.Fatalf("default with a number that texts: %+v", res.Conversation)
	}
	got, err := e.db.FindConversationByID(t.Context(), res.Conversation.ID, time.Now())
	if err != nil || got.Mode != maskcall.ModeVoiceAndSMS {
		t.Fatalf("stored mode %q (%v)", got.Mode, err)
	}
}
