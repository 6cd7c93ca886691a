package maskcall_test

import (
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

func TestPlanCallback(t *testing.T) {
	created := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	until := created.Add(maskcall.CallbackRetryWindow)
	now := created.Add(time.Minute)
	for _, tc := range []struct {
		name     string
		a        maskcall.CallbackAttempt
		attempts int
		now      time.Time
		state    maskcall.CallbackState
		minDelay time.Duration
		maxDelay time.Duration
	}{
		{"OK", maskcall.CallbackAttempt{Status: 204}, 1, now, maskcall.CallbackDelivered, 0, 0},
		{"Timeout", maskcall.CallbackAttempt{Err: "timeout"}, 1, now, maskcall.CallbackPending, 2500 * time.Millisecond, 5 * time.Second},
		{"500", maskcall.CallbackAttempt{Status: 500}, 3, now, maskcall.CallbackPending, 10 * time.Second, 20 * time.Second},
		{"429", maskcall.CallbackAttempt{Status: 429}, 1, now, maskcall.CallbackPending, 2500 * time.Millisecond, 5 * time.Second},
		{"Capped", maskcall.CallbackAttempt{Status: 503}, 40, now, maskcall.CallbackPending, 30 * time.Minute, time.Hour},
		{"400NotRetried", maskcall.CallbackAttempt{Status: 400}, 1, now, maskcall.CallbackFailed, 0, 0},
		{"404NotRetried", maskcall.CallbackAttempt{Status: 404}, 1, now, maskcall.CallbackFailed, 0, 0},
		{"WindowOver", maskcall.CallbackAttempt{Status: 502}, 30, until, maskcall.CallbackFailed, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, j := range []float64{0, 0.5, 0.999} {
				o := maskcall.PlanCallback(tc.a, tc.attempts, until, tc.now, j)
				if o.State != tc.state {
					t.Fatalf("state = %s, want %s", o.State, tc.state)
				}
				if o.State != maskcall.CallbackPending {
					continue
				}
				if d := o.NextAttemptAt.Sub(tc.now); d < tc.minDelay || d > tc.maxDelay {
					t.Errorf("jitter %v: delay %s, want %s..%s", j, d, tc.minDelay, tc.maxDelay)
				}
			}
		})
	}
	// The last retry is at the end of the window, not past it.
	o := maskcall.PlanCallback(maskcall.CallbackAttempt{Status: 500}, 30, until, until.Add(-time.Minute), 0.9)
	if o.State != maskcall.CallbackPending || !o.NextAttemptAt.Equal(until) {
		t.Errorf("near the end: %+v", o)
	}
}

func TestCallTransitionType(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{"started", "ringing", ""},
		{"started", "answered", maskcall.EventCallAnswered},
		{"ringing", "answered", maskcall.EventCallAnswered},
		{"answered", "completed", maskcall.EventCallCompleted},
		{"ringing", "busy", maskcall.EventCallCompleted},
		{"busy", "completed", ""}, // already over
		{"answered", "answered", ""},
	} {
		if got := maskcall.CallTransitionType(tc.from, tc.to); got != tc.want {
			t.Errorf("%s -> %s = %q, want %q", tc.from, tc.to, got, tc.want)
		}
	}
}

func TestValidateCallbackURL(t *testing.T) {
	for _, u := range []string{"https://platform.example/hooks", "http://127.0.0.1:8080/x?y=1"} {
		if err := maskcall.ValidateCallbackURL(u); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	for _, u := range []string{"", "platform.example/hooks", "ftp://x/y", "https://", "/relative", "https://user:pw@x/", "https://x/" + strings.Repeat("a", 2048)} {
		err := maskcall.ValidateCallbackURL(u)
		if maskcall.ErrorCode(err) != maskcall.EINVALID || maskcall.ErrorReason(err) != "callback_url" {
			t.Errorf("%q: %v", u, err)
		}
	}
}

func TestCallbackEventBody(t *testing.T) {
	c := &maskcall.Conversation{ID: "cv_1", Ref: "ride-42", Participants: []maskcall.Participant{
		{Number: "+447700900123", ProxyNumber: "+447000000001", Label: "driver"},
		{Number: "+447700900456", ProxyNumber: "+447000000002", Label: "rider"}}}
	ev := maskcall.ConversationCreatedEvent(c, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	if !strings.HasPrefix(ev.ID, "evt_") || len(ev.ID) != 30 {
		t.Errorf("id %q", ev.ID)
	}
	body, err := ev.Body(false)
	if err != nil {
		t.Fatal(err)
	}
	s := string(body)
	if strings.Contains(s, "+447700900") || !strings.Contains(s, `"proxy_number":"+447000000001"`) ||
		!strings.Contains(s, `"type":"conversation.created"`) || !strings.Contains(s, `"label":"rider"`) {
		t.Errorf("body = %s", s)
	}
	if ev.Data.Participants[0].Number == "" {
		t.Error("Body changed the event")
	}
	with, _ := ev.Body(true)
	if !strings.Contains(string(with), `"number":"+447700900123"`) {
		t.Errorf("body with numbers = %s", with)
	}
}
