// Package messagetest is the conformance suite of maskcall.MessageStore:
// the SQLite and PostgreSQL stores run the same cases against a real
// database. Only tests import it.
package messagetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// Store is what the suite needs of a store.
type Store interface {
	maskcall.Store
	maskcall.MessageStore
}

// Fixture is a store holding one active conversation between two GB
// participants, created at T0 with a day to live.
type Fixture struct {
	Store Store
	Conv  *maskcall.Conversation
	// SetMode changes the conversation's mode (a test hook).
	SetMode func(mode maskcall.ConversationMode)
	// TextsKept counts the parts whose text is still stored.
	TextsKept func() int
}

// T0 is the fixtures' time.
var T0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// Run runs every case, each on a fixture of its own from newFixture.
func Run(t *testing.T, newFixture func(t *testing.T) *Fixture) {
	for name, f := range map[string]func(*testing.T, *Fixture){
		"Relay":               testRelay,
		"StoreText":           testStoreText,
		"Blocked":             testBlocked,
		"VoiceOnly":           testVoiceOnly,
		"Concat":              testConcat,
		"RetryAndFail":        testRetryAndFail,
		"StaleSendingUnknown": testStaleSending,
		"OutcomeUnknown":      testOutcomeUnknown,
		"ConcurrentDuplicate": testConcurrent,
		"PurgeConversation":   testPurge,
		"QueueStats":          testQueueStats,
		"Callbacks":           testCallbacks,
	} {
		t.Run(name, func(t *testing.T) { f(t, newFixture(t)) })
	}
}

func inbound(id, from, to, text string) *maskcall.InboundSMS {
	return &maskcall.InboundSMS{MessageID: id, From: from, To: to, Text: text}
}

func record(t *testing.T, s Store, in *maskcall.InboundSMS, p maskcall.InboundPolicy, now time.Time) *maskcall.InboundResult {
	t.Helper()
	res, err := s.RecordInboundSMS(context.Background(), in, p, now)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func claim(t *testing.T, s Store, now time.Time) []*maskcall.RelayJob {
	t.Helper()
	jobs, err := s.ClaimRelayJobs(context.Background(), now, 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func messages(t *testing.T, f *Fixture) []*maskcall.Message {
	t.Helper()
	msgs, err := f.Store.FindMessages(context.Background(), f.Conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func testRelay(t *testing.T, f *Fixture) {
	s, ctx := f.Store, context.Background()
	a, b := f.Conv.Participants[0], f.Conv.Participants[1]
	res := record(t, s, inbound("m1", a.Number, a.ProxyNumber, "I'm outside"), maskcall.InboundPolicy{}, T0)
	if res.Duplicate || res.Message.Status != maskcall.MessageReceived || res.Message.Sender != 0 || res.Message.ConversationID != f.Conv.ID {
		t.Fatalf("recorded %+v", res.Message)
	}
	if res2 := record(t, s, inbound("m1", a.Number, a.ProxyNumber, "I'm outside"), maskcall.InboundPolicy{}, T0); !res2.Duplicate || res2.Message.ID != res.Message.ID {
		t.Fatalf("resent: %+v", res2)
	}
	jobs := claim(t, s, T0)
	if len(jobs) != 1 {
		t.Fatalf("claimed %d jobs, want 1", len(jobs))
	}
	j := jobs[0]
	if j.Kind != maskcall.RelayText || j.From != b.ProxyNumber || j.To != b.Number || j.Text != "I'm outside" || j.Attempts != 1 {
		t.Fatalf("job %+v", j)
	}
	if again := claim(t, s, T0.Add(time.Second)); len(again) != 0 {
		t.Fatalf("a job being sent was claimed again: %+v", again)
	}
	if err := s.FinishRelayJob(ctx, j, maskcall.RelayOutcome{Sent: true, VonageID: "0A1"}, 3, T0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	msgs := messages(t, f)
	if len(msgs) != 1 || msgs[0].Status != maskcall.MessageRelayed || msgs[0].RelayedAt == nil || msgs[0].Text != nil {
		t.Fatalf("messages %+v", msgs)
	}
	if n := f.TextsKept(); n != 0 {
		t.Fatalf("%d texts left after relaying", n)
	}
	if next, err := s.NextRelayAt(ctx); err != nil || next != nil {
		t.Fatalf("next relay %v %v", next, err)
	}
}

func testStoreText(t *testing.T, f *Fixture) {
	a := f.Conv.Participants[0]
	record(t, f.Store, inbound("m1", a.Number, a.ProxyNumber, "hello"), maskcall.InboundPolicy{StoreText: true}, T0)
	j := claim(t, f.Store, T0)[0]
	if err := f.Store.FinishRelayJob(context.Background(), j, maskcall.RelayOutcome{Sent: true}, 3, T0); err != nil {
		t.Fatal(err)
	}
	msgs := messages(t, f)
	if len(msgs) != 1 || msgs[0].Text == nil || *msgs[0].Text != "hello" {
		t.Fatalf("messages %+v", msgs)
	}
}

func testBlocked(t *testing.T, f *Fixture) {
	s, ctx := f.Store, context.Background()
	a := f.Conv.Participants[0]
	p := maskcall.InboundPolicy{AutoReply: true}
	res := record(t, s, inbound("m1", a.Number, a.ProxyNumber, "STOP"), p, T0)
	if res.Message.Status != maskcall.MessageBlocked || res.Message.Reason != maskcall.BlockOptOut {
		t.Fatalf("opt-out: %+v", res.Message)
	}
	for i, day := range []time.Time{T0, T0.Add(time.Minute), T0.Add(25 * time.Hour)} {
		res := record(t, s, inbound(fmt.Sprint("s", i), "+447700900999", a.ProxyNumber, "hi"), p, day)
		if res.Message.Status != maskcall.MessageBlocked || res.Message.Reason != maskcall.BlockNoConversation || res.Message.Sender != -1 {
			t.Fatalf("stranger: %+v", res.Message)
		}
	}
	jobs := claim(t, s, T0.Add(26*time.Hour))
	if len(jobs) != 2 {
		t.Fatalf("%d jobs, want 2 auto-replies (one per day)", len(jobs))
	}
	for _, j := range jobs {
		if j.Kind != maskcall.RelayAutoReply || j.From != a.ProxyNumber || j.To != "+447700900999" {
			t.Fatalf("auto-reply %+v", j)
		}
	}
	record(t, s, inbound("s9", "+447700900998", a.ProxyNumber, "hi"), maskcall.InboundPolicy{}, T0)
	if _, err := s.EndConversation(ctx, f.Conv.ID, maskcall.EndReasonEnded, T0); err != nil {
		t.Fatal(err)
	}
	res = record(t, s, inbound("m2", a.Number, a.ProxyNumber, "still there?"), maskcall.InboundPolicy{}, T0)
	if res.Message.Status != maskcall.MessageBlocked || res.Message.Reason != maskcall.BlockNoConversation {
		t.Fatalf("ended: %+v", res.Message)
	}
	if jobs := claim(t, s, T0.Add(48*time.Hour)); len(jobs) != 0 {
		t.Fatalf("jobs %+v", jobs)
	}
	if n := f.TextsKept(); n != 0 {
		t.Fatalf("%d blocked texts kept", n)
	}
	if n, err := s.PurgeMessages(ctx, T0.Add(72*time.Hour)); err != nil || n != 5 {
		t.Fatalf("purged %d (%v), want 5", n, err)
	}
}

func testVoiceOnly(t *testing.T, f *Fixture) {
	f.SetMode(maskcall.ModeVoice)
	a := f.Conv.Participants[0]
	res := record(t, f.Store, inbound("m1", a.Number, a.ProxyNumber, "hi"), maskcall.InboundPolicy{}, T0)
	if res.Message.Status != maskcall.MessageBlocked || res.Message.Reason != maskcall.BlockVoiceOnly {
		t.Fatalf("%+v", res.Message)
	}
}

func testConcat(t *testing.T, f *Fixture) {
	s, ctx := f.Store, context.Background()
	b := f.Conv.Participants[1]
	part := func(id, ref string, n int, text string) *maskcall.InboundSMS {
		in := inbound(id, b.Number, b.ProxyNumber, text)
		in.ConcatRef, in.ConcatTotal, in.ConcatPart = ref, 3, n
		return in
	}
	p := maskcall.InboundPolicy{ConcatWait: time.Minute}
	m := record(t, s, part("p3", "42", 3, "C"), p, T0).Message
	if jobs := claim(t, s, T0); len(jobs) != 0 {
		t.Fatal("relayed before the parts arrived")
	}
	record(t, s, part("p1", "42", 1, "A"), p, T0)
	record(t, s, part("p1", "42", 1, "A"), p, T0)
	if m2 := record(t, s, part("p2", "42", 2, "B"), p, T0).Message; m2.ID != m.ID || m2.Parts != 3 {
		t.Fatalf("parts did not join: %+v", m2)
	}
	jobs := claim(t, s, T0)
	if len(jobs) != 1 || jobs[0].Text != "ABC" || jobs[0].Incomplete {
		t.Fatalf("jobs %+v", jobs)
	}
	record(t, s, part("q1", "43", 1, "X"), p, T0.Add(time.Second))
	if jobs := claim(t, s, T0.Add(60*time.Second)); len(jobs) != 0 {
		t.Fatal("relayed before the wait ended")
	}
	jobs = claim(t, s, T0.Add(61*time.Second))
	if len(jobs) != 1 || jobs[0].Text != "X" || !jobs[0].Incomplete {
		t.Fatalf("jobs %+v", jobs)
	}
	if err := s.FinishRelayJob(ctx, jobs[0], maskcall.RelayOutcome{Sent: true}, 3, T0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	msgs := messages(t, f)
	if len(msgs) != 2 || !msgs[1].Incomplete || msgs[1].Parts != 1 || msgs[1].PartsTotal != 3 {
		t.Fatalf("messages %+v", msgs)
	}
}

func testRetryAndFail(t *testing.T, f *Fixture) {
	s, ctx := f.Store, context.Background()
	a := f.Conv.Participants[0]
	record(t, s, inbound("m1", a.Number, a.ProxyNumber, "hi"), maskcall.InboundPolicy{}, T0)
	now := T0
	for attempt := 1; attempt <= 3; attempt++ {
		jobs := claim(t, s, now)
		if len(jobs) != 1 || jobs[0].Attempts != attempt {
			t.Fatalf("attempt %d: %+v", attempt, jobs)
		}
		retryAt := now.Add(maskcall.RelayBackoff(attempt))
		if err := s.FinishRelayJob(ctx, jobs[0], maskcall.RelayOutcome{Retry: true, RetryAt: retryAt, Error: "HTTP 503"}, 3, now); err != nil {
			t.Fatal(err)
		}
		if attempt < 3 {
			if next, _ := s.NextRelayAt(ctx); next == nil || !next.Equal(retryAt) {
				t.Fatalf("next %v, want %v", next, retryAt)
			}
			if early := claim(t, s, retryAt.Add(-time.Millisecond)); len(early) != 0 {
				t.Fatal("claimed before its backoff")
			}
		}
		now = retryAt
	}
	msgs := messages(t, f)
	if msgs[0].Status != maskcall.MessageFailed || msgs[0].Attempts != 3 || msgs[0].Error != "HTTP 503" {
		t.Fatalf("after its attempts: %+v", msgs[0])
	}
	if jobs := claim(t, s, now.Add(time.Hour)); len(jobs) != 0 {
		t.Fatal("a failed job was claimed")
	}
}

// A send whose outcome is unknown (timed out after the request went out)
// is settled unknown at once, with its reason; it is never claimed again,
// even with attempts left, and its text is dropped.
func testOutcomeUnknown(t *testing.T, f *Fixture) {
	s, ctx := f.Store, context.Background()
	a := f.Conv.Participants[0]
	record(t, s, inbound("m1", a.Number, a.ProxyNumber, "hi"), maskcall.InboundPolicy{}, T0)
	jobs := claim(t, s, T0)
	if len(jobs) != 1 {
		t.Fatalf("claimed %+v", jobs)
	}
	o := maskcall.RelayOutcome{Unknown: true, Error: "no complete answer within 10s"}
	if err := s.FinishRelayJob(ctx, jobs[0], o, 8, T0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	msgs := messages(t, f)
	if msgs[0].Status != maskcall.MessageUnknown || msgs[0].Error != o.Error || msgs[0].Attempts != 1 || msgs[0].RelayedAt != nil {
		t.Fatalf("%+v", msgs[0])
	}
	if jobs := claim(t, s, T0.Add(time.Hour)); len(jobs) != 0 {
		t.Fatalf("a job that may have been sent was claimed again: %+v", jobs)
	}
	if next, err := s.NextRelayAt(ctx); err != nil || next != nil {
		t.Fatalf("next %v (%v): nothing is left to do", next, err)
	}
	if n := f.TextsKept(); n != 0 {
		t.Fatalf("%d texts kept", n)
	}
}

func testStaleSending(t *testing.T, f *Fixture) {
	s, ctx := f.Store, context.Background()
	a := f.Conv.Participants[0]
	record(t, s, inbound("m1", a.Number, a.ProxyNumber, "hi"), maskcall.InboundPolicy{}, T0)
	if jobs := claim(t, s, T0); len(jobs) != 1 {
		t.Fatal("not claimed")
	}
	if jobs := claim(t, s, T0.Add(30*time.Second)); len(jobs) != 0 {
		t.Fatal("reclaimed within the lease")
	}
	if next, _ := s.NextRelayAt(ctx); next == nil || !next.Equal(T0.Add(time.Minute)) {
		t.Fatalf("next %v: the lease's end should wake the worker", next)
	}
	if jobs := claim(t, s, T0.Add(2*time.Minute)); len(jobs) != 0 {
		t.Fatal("a job that may have been sent was claimed again")
	}
	if msgs := messages(t, f); msgs[0].Status != maskcall.MessageUnknown {
		t.Fatalf("%+v", msgs[0])
	}
}

// Deliveries of the same parts at once (several replicas, or Vonage
// resending while the first is in flight) make one message each, one job
// each; concurrent claims never hand out a job twice.
func testConcurrent(t *testing.T, f *Fixture) {
	s := f.Store
	a := f.Conv.Participants[0]
	var wg sync.WaitGroup
	var mu sync.Mutex
	// Per delivered id: the messages reported, and how many deliveries
	// were not reported as duplicates (exactly one each).
	msgs, firsts := map[string]map[string]bool{}, map[string]int{}
	for i := 0; i < 40; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			id := fmt.Sprint("m", i%5)
			res, err := s.RecordInboundSMS(context.Background(), inbound(id, a.Number, a.ProxyNumber, "x"), maskcall.InboundPolicy{}, T0)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if msgs[id] == nil {
				msgs[id] = map[string]bool{}
			}
			msgs[id][res.Message.ID] = true
			if !res.Duplicate {
				firsts[id]++
			}
		}(i)
	}
	wg.Wait()
	for id, ms := range msgs {
		if len(ms) != 1 || firsts[id] != 1 {
			t.Errorf("%s: reported as messages %v, %d times not as a duplicate; want one message, once", id, ms, firsts[id])
		}
	}
	seen := map[int64]int{}
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			jobs, err := s.ClaimRelayJobs(context.Background(), T0, 2, time.Minute)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			for _, j := range jobs {
				seen[j.ID]++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	rest := claim(t, s, T0)
	for _, j := range rest {
		seen[j.ID]++
	}
	if len(seen) != 5 {
		t.Fatalf("%d jobs, want 5", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("job %d claimed %d times", id, n)
		}
	}
}

func testPurge(t *testing.T, f *Fixture) {
	s, ctx := f.Store, context.Background()
	a := f.Conv.Participants[0]
	record(t, s, inbound("m1", a.Number, a.ProxyNumber, "hi"), maskcall.InboundPolicy{StoreText: true}, T0)
	if _, err := s.EndConversation(ctx, f.Conv.ID, maskcall.EndReasonEnded, T0); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgeConversations(ctx, T0.Add(time.Hour)); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	if msgs := messages(t, f); len(msgs) != 0 {
		t.Fatalf("messages left: %+v", msgs)
	}
	if n := f.TextsKept(); n != 0 {
		t.Fatalf("%d texts left", n)
	}
	if jobs := claim(t, s, T0.Add(time.Hour)); len(jobs) != 0 {
		t.Fatalf("jobs left: %+v", jobs)
	}
}
