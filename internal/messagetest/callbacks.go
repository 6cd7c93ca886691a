package messagetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// testCallbacks: with a callback target, a new text writes message.received
// (or message.blocked) in its transaction, once however often Vonage
// resends it, and its relay's outcome message.relayed or message.failed;
// never the text.
func testCallbacks(t *testing.T, f *Fixture) {
	ctx := context.Background()
	cs, ok := f.Store.(maskcall.CallbackStore)
	if !ok {
		t.Fatalf("%T does not implement maskcall.CallbackStore", f.Store)
	}
	if err := cs.SetCallbackTarget(ctx, true, T0); err != nil {
		t.Fatal(err)
	}
	a := f.Conv.Participants[0]
	b := f.Conv.Participants[1]
	m1 := record(t, f.Store, inbound("m1", a.Number, a.ProxyNumber, "secret words"), maskcall.InboundPolicy{}, T0)
	record(t, f.Store, inbound("m1", a.Number, a.ProxyNumber, "secret words"), maskcall.InboundPolicy{}, T0.Add(time.Second))
	record(t, f.Store, inbound("m2", b.Number, b.ProxyNumber, "STOP"), maskcall.InboundPolicy{}, T0.Add(2*time.Second))
	jobs := claim(t, f.Store, T0.Add(3*time.Second))
	if len(jobs) != 1 {
		t.Fatalf("%d jobs", len(jobs))
	}
	if err := f.Store.FinishRelayJob(ctx, jobs[0], maskcall.RelayOutcome{Sent: true, VonageID: "0A1"}, 3, T0.Add(4*time.Second)); err != nil {
		t.Fatal(err)
	}
	cbs, err := cs.FindCallbacks(ctx, maskcall.CallbackFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for i := len(cbs) - 1; i >= 0; i-- {
		cb := cbs[i]
		if cb.Event.Type == maskcall.EventConversationCreated {
			continue
		}
		types = append(types, cb.Event.Type)
		d := cb.Event.Data
		if d.ConversationID != f.Conv.ID || d.Position == nil {
			t.Errorf("%s data %+v", cb.Event.Type, d)
		}
		if body, _ := cb.Event.Body(true); strings.Contains(string(body), "secret words") {
			t.Errorf("%s holds the text: %s", cb.Event.Type, body)
		}
		if cb.Event.Type != maskcall.EventMessageBlocked && (d.MessageID != m1.Message.ID || *d.Position != 0 || d.Label != a.Label) {
			t.Errorf("%s data %+v", cb.Event.Type, d)
		}
		if cb.Event.Type == maskcall.EventMessageBlocked && (*d.Position != 1 || d.Reason != maskcall.BlockOptOut) {
			t.Errorf("message.blocked data %+v", d)
		}
	}
	want := []string{maskcall.EventMessageReceived, maskcall.EventMessageBlocked, maskcall.EventMessageRelayed}
	if strings.Join(types, " ") != strings.Join(want, " ") {
		t.Errorf("events %v, want %v", types, want)
	}
}
