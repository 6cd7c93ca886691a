package worker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sandbox"
	"github.com/maskcall/maskcall/internal/sqlite"
	"github.com/maskcall/maskcall/internal/vonage"
)

type relayEnv struct {
	db   *sqlite.DB
	sb   *sandbox.Sandbox
	conv *maskcall.Conversation
	w    *RelayWorker
}

func newRelayEnv(t *testing.T, mod ...func(*vonage.Config)) *relayEnv {
	t.Helper()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "maskcall.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	for _, n := range []string{"+447700900000", "+447700900001"} {
		if err := db.CreateNumber(ctx, &maskcall.Number{Number: n, Country: "GB", Features: []string{"VOICE", "SMS"},
			Status: maskcall.NumberActive, AppID: "app"}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	c := &maskcall.Conversation{Participants: []maskcall.Participant{
		{Number: "+447700900123", Country: "GB", Label: "driver"},
		{Number: "+447700900456", Country: "GB", Label: "rider"},
	}}
	if err := db.CreateConversation(ctx, c, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	sb := sandbox.New(sandbox.Config{})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	cfg := vonage.Config{APIKey: sandbox.DefaultAPIKey, APISecret: sandbox.DefaultAPISecret, RestURL: srv.URL, APIURL: srv.URL}
	for _, m := range mod {
		m(&cfg)
	}
	client, err := vonage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &RelayWorker{Store: db, SMS: client, Poll: 20 * time.Millisecond, MaxAttempts: 3,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return &relayEnv{db: db, sb: sb, conv: c, w: w}
}

func (e *relayEnv) run(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (e *relayEnv) record(t *testing.T, id string, from maskcall.Participant, text string) {
	t.Helper()
	if _, err := e.db.RecordInboundSMS(context.Background(), &maskcall.InboundSMS{MessageID: id, From: from.Number, To: from.ProxyNumber, Text: text},
		maskcall.InboundPolicy{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.w.Wake()
}

// waitStatus waits (event-driven by polling the store, generous deadline)
// until every message of the conversation has one of the final statuses.
func (e *relayEnv) waitMessages(t *testing.T, n int, final ...maskcall.MessageStatus) []*maskcall.Message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msgs, err := e.db.FindMessages(context.Background(), e.conv.ID)
		if err != nil {
			t.Fatal(err)
		}
		done := len(msgs) == n
		for _, m := range msgs {
			ok := false
			for _, s := range final {
				ok = ok || m.Status == s
			}
			done = done && ok
		}
		if done {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages never settled: %+v", msgs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRelayWorker_BothWays(t *testing.T) {
	e := newRelayEnv(t)
	e.run(t)
	a, b := e.conv.Participants[0], e.conv.Participants[1]
	e.record(t, "m1", a, "I'm outside")
	e.record(t, "m2", b, "Coming down")
	e.waitMessages(t, 2, maskcall.MessageRelayed)
	sent := e.sb.SentSMS()
	if len(sent) != 2 {
		t.Fatalf("sent %+v", sent)
	}
	want := map[string]string{"I'm outside": wire(b.ProxyNumber) + ">" + wire(b.Number), "Coming down": wire(a.ProxyNumber) + ">" + wire(a.Number)}
	for _, s := range sent {
		if got := s.From + ">" + s.To; got != want[s.Text] {
			t.Errorf("%q went %s, want %s", s.Text, got, want[s.Text])
		}
	}
}

func wire(n string) string { return n[1:] }

// Throttled (HTTP 429, then status 1): certainly not sent, so retried
// until accepted, and sent once.
func TestRelayWorker_RetriesThrottled(t *testing.T) {
	e := newRelayEnv(t)
	for _, f := range []sandbox.Fault{{Path: "/sms/json", Status: 429}, {Path: "/sms/json", ErrorCode: "1"}} {
		if err := e.sb.InjectFault(f); err != nil {
			t.Fatal(err)
		}
	}
	e.run(t)
	e.record(t, "m1", e.conv.Participants[0], "hi")
	msgs := e.waitMessages(t, 1, maskcall.MessageRelayed, maskcall.MessageFailed, maskcall.MessageUnknown)
	if msgs[0].Status != maskcall.MessageRelayed || msgs[0].Attempts != 3 || len(e.sb.SentSMS()) != 1 {
		t.Fatalf("%+v, sent %d", msgs[0], len(e.sb.SentSMS()))
	}
}

// sendVia sends through first for its first n calls, then through rest.
type sendVia struct {
	mu          sync.Mutex
	n           int
	first, rest maskcall.SMSAPI
}

func (s *sendVia) SendSMS(ctx context.Context, from, to, text string) (string, error) {
	s.mu.Lock()
	api := s.rest
	if s.n > 0 {
		s.n--
		api = s.first
	}
	s.mu.Unlock()
	return api.SendSMS(ctx, from, to, text)
}

// Vonage unreachable (connection refused): nothing was sent, so the relay
// is retried, and sent once when Vonage is back.
func TestRelayWorker_RetriesUnreachable(t *testing.T) {
	e := newRelayEnv(t)
	dead := httptest.NewServer(nil)
	dead.Close()
	down, err := vonage.New(vonage.Config{APIKey: sandbox.DefaultAPIKey, APISecret: sandbox.DefaultAPISecret, RestURL: dead.URL, APIURL: dead.URL})
	if err != nil {
		t.Fatal(err)
	}
	e.w.SMS = &sendVia{n: 1, first: down, rest: e.w.SMS}
	e.run(t)
	e.record(t, "m1", e.conv.Participants[0], "hi")
	msgs := e.waitMessages(t, 1, maskcall.MessageRelayed, maskcall.MessageFailed, maskcall.MessageUnknown)
	if msgs[0].Status != maskcall.MessageRelayed || msgs[0].Attempts != 2 || len(e.sb.SentSMS()) != 1 {
		t.Fatalf("%+v, sent %d", msgs[0], len(e.sb.SentSMS()))
	}
}

// Vonage takes the text but answers after the client's timeout, or
// answers 503: the outcome is unknown, so the text is never sent again;
// the message is settled unknown with the reason. The sandbox saw exactly
// one send each.
func TestRelayWorker_UnknownOutcomeNotResent(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault sandbox.Fault
	}{
		{"timeout", sandbox.Fault{Path: "/sms/json", DelayMS: 1500, AfterEffect: true}},
		{"503 after sending", sandbox.Fault{Path: "/sms/json", Status: 503, AfterEffect: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRelayEnv(t, func(c *vonage.Config) { c.Timeout = 300 * time.Millisecond })
			if err := e.sb.InjectFault(tc.fault); err != nil {
				t.Fatal(err)
			}
			e.run(t)
			e.record(t, "m1", e.conv.Participants[0], "hi")
			msgs := e.waitMessages(t, 1, maskcall.MessageRelayed, maskcall.MessageFailed, maskcall.MessageUnknown)
			if msgs[0].Status != maskcall.MessageUnknown || msgs[0].Attempts != 1 || msgs[0].Error == "" {
				t.Fatalf("%+v", msgs[0])
			}
			// Long enough for the retry a transient failure would get.
			time.Sleep(maskcall.RelayBackoff(1) + time.Second)
			if sent := e.sb.SentSMS(); len(sent) != 1 {
				t.Fatalf("sent %d times, want once: %+v", len(sent), sent)
			}
			if msgs := e.waitMessages(t, 1, maskcall.MessageUnknown); msgs[0].Attempts != 1 {
				t.Fatalf("attempted again: %+v", msgs[0])
			}
		})
	}
}

func TestRelayWorker_PermanentFailure(t *testing.T) {
	e := newRelayEnv(t)
	// Status 15: invalid sender; retrying would not help.
	if err := e.sb.InjectFault(sandbox.Fault{Path: "/sms/json", Count: -1, ErrorCode: "15"}); err != nil {
		t.Fatal(err)
	}
	e.run(t)
	e.record(t, "m1", e.conv.Participants[0], "hi")
	msgs := e.waitMessages(t, 1, maskcall.MessageFailed)
	if msgs[0].Attempts != 1 || msgs[0].Error == "" {
		t.Fatalf("%+v", msgs[0])
	}
}

func TestRelayWorker_Rate(t *testing.T) {
	e := newRelayEnv(t)
	e.w.Rate = 50
	const n = 60
	for i := 0; i < n; i++ {
		e.record(t, fmt.Sprint("m", i), e.conv.Participants[i%2], fmt.Sprint("text ", i))
	}
	e.run(t)
	e.waitMessages(t, n, maskcall.MessageRelayed)
	sent := e.sb.SentSMS()
	if len(sent) != n {
		t.Fatalf("sent %d, want %d", len(sent), n)
	}
	if w := maxInWindow(sent, time.Second); w > 50 {
		t.Fatalf("%d SMS within one second, over the rate of 50", w)
	}
}

// maxInWindow is the most sends in any window of length d.
func maxInWindow(sent []sandbox.SentSMS, d time.Duration) int {
	best := 0
	for i := range sent {
		n := 0
		for j := i; j < len(sent) && sent[j].Time.Sub(sent[i].Time) < d; j++ {
			n++
		}
		best = max(best, n)
	}
	return best
}

func TestLimiter(t *testing.T) {
	l := newLimiter(100)
	start := time.Now()
	for i := 0; i < 111; i++ {
		release, err := l.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		release()
	}
	// The 101st request waits a second after the first completed.
	if el := time.Since(start); el < time.Second {
		t.Fatalf("111 requests at 100/s took %s, want at least 1s", el)
	}
}
