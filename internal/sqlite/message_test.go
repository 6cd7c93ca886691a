package sqlite

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// smsFixture is a conversation between a driver and a rider.
func smsFixture(t *testing.T) (*DB, *maskcall.Conversation) {
	t.Helper()
	db := MustOpenDB(t)
	MustCreateNumber(t, db, "+447700900000", "GB")
	MustCreateNumber(t, db, "+447700900001", "GB")
	c := MustCreateConversation(t, db, t0, time.Hour, gb("+447700900123", "driver"), gb("+447700900456", "rider"))
	return db, c
}

func inbound(id, from, to, text string) *maskcall.InboundSMS {
	return &maskcall.InboundSMS{MessageID: id, From: from, To: to, Text: text}
}

func mustRecordSMS(t *testing.T, db *DB, in *maskcall.InboundSMS, p maskcall.InboundPolicy, now time.Time) *maskcall.InboundResult {
	t.Helper()
	res, err := db.RecordInboundSMS(context.Background(), in, p, now)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func mustClaim(t *testing.T, db *DB, now time.Time) []*maskcall.RelayJob {
	t.Helper()
	jobs, err := db.ClaimRelayJobs(context.Background(), now, 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	return jobs
}

func TestDB_RecordInboundSMS_Relay(t *testing.T) {
	db, c := smsFixture(t)
	ctx := context.Background()
	a, b := c.Participants[0], c.Participants[1]

	res := mustRecordSMS(t, db, inbound("m1", a.Number, a.ProxyNumber, "I'm outside"), maskcall.InboundPolicy{}, t0)
	if res.Duplicate || res.Message.Status != maskcall.MessageReceived || res.Message.Sender != 0 || res.Message.ConversationID != c.ID {
		t.Fatalf("recorded %+v", res.Message)
	}
	// Vonage resends it: nothing changes, no second job.
	if res2 := mustRecordSMS(t, db, inbound("m1", a.Number, a.ProxyNumber, "I'm outside"), maskcall.InboundPolicy{}, t0); !res2.Duplicate || res2.Message.ID != res.Message.ID {
		t.Fatalf("resent: %+v", res2)
	}
	jobs := mustClaim(t, db, t0)
	if len(jobs) != 1 {
		t.Fatalf("claimed %d jobs, want 1", len(jobs))
	}
	j := jobs[0]
	// Sent from the other participant's proxy to their real number.
	if j.Kind != maskcall.RelayText || j.From != b.ProxyNumber || j.To != b.Number || j.Text != "I'm outside" || j.Attempts != 1 {
		t.Fatalf("job %+v", j)
	}
	if again := mustClaim(t, db, t0.Add(time.Second)); len(again) != 0 {
		t.Fatalf("a job being sent was claimed again: %+v", again)
	}
	if err := db.FinishRelayJob(ctx, j, maskcall.RelayOutcome{Sent: true, VonageID: "0A1"}, 3, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	msgs, err := db.FindMessages(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || msgs[0].Status != maskcall.MessageRelayed || msgs[0].RelayedAt == nil || msgs[0].Text != nil {
		t.Fatalf("messages %+v", msgs)
	}
	// The text is gone once relayed (texts are not stored by default).
	var n int
	if err := db.rdb.QueryRow(`SELECT COUNT(*) FROM message_parts WHERE text IS NOT NULL`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d texts left (%v)", n, err)
	}
	if next, err := db.NextRelayAt(ctx); err != nil || next != nil {
		t.Fatalf("next relay %v %v", next, err)
	}
}

func TestDB_RecordInboundSMS_StoreText(t *testing.T) {
	db, c := smsFixture(t)
	a := c.Participants[0]
	mustRecordSMS(t, db, inbound("m1", a.Number, a.ProxyNumber, "hello"), maskcall.InboundPolicy{StoreText: true}, t0)
	j := mustClaim(t, db, t0)[0]
	if err := db.FinishRelayJob(context.Background(), j, maskcall.RelayOutcome{Sent: true}, 3, t0); err != nil {
		t.Fatal(err)
	}
	msgs, _ := db.FindMessages(context.Background(), c.ID)
	if len(msgs) != 1 || msgs[0].Text == nil || *msgs[0].Text != "hello" {
		t.Fatalf("messages %+v", msgs)
	}
}

func TestDB_RecordInboundSMS_Blocked(t *testing.T) {
	db, c := smsFixture(t)
	ctx := context.Background()
	a := c.Participants[0]
	p := maskcall.InboundPolicy{AutoReply: true}

	// Opt-out: recorded, not relayed, text not kept.
	res := mustRecordSMS(t, db, inbound("m1", a.Number, a.ProxyNumber, "STOP"), p, t0)
	if res.Message.Status != maskcall.MessageBlocked || res.Message.Reason != maskcall.BlockOptOut {
		t.Fatalf("opt-out: %+v", res.Message)
	}
	// A stranger: blocked, one auto-reply a day from the proxy they texted.
	for i, day := range []time.Time{t0, t0.Add(time.Minute), t0.Add(25 * time.Hour)} {
		res := mustRecordSMS(t, db, inbound(fmt.Sprint("s", i), "+447700900999", a.ProxyNumber, "hi"), p, day)
		if res.Message.Status != maskcall.MessageBlocked || res.Message.Reason != maskcall.BlockNoConversation || res.Message.Sender != -1 {
			t.Fatalf("stranger: %+v", res.Message)
		}
	}
	jobs := mustClaim(t, db, t0.Add(26*time.Hour))
	if len(jobs) != 2 {
		t.Fatalf("%d jobs, want 2 auto-replies (one per day)", len(jobs))
	}
	for _, j := range jobs {
		if j.Kind != maskcall.RelayAutoReply || j.From != a.ProxyNumber || j.To != "+447700900999" {
			t.Fatalf("auto-reply %+v", j)
		}
	}
	// Without an auto-reply configured nothing is queued.
	mustRecordSMS(t, db, inbound("s9", "+447700900998", a.ProxyNumber, "hi"), maskcall.InboundPolicy{}, t0)
	// An ended conversation relays nothing.
	if _, err := db.EndConversation(ctx, c.ID, maskcall.EndReasonEnded, t0); err != nil {
		t.Fatal(err)
	}
	res = mustRecordSMS(t, db, inbound("m2", a.Number, a.ProxyNumber, "still there?"), maskcall.InboundPolicy{}, t0)
	if res.Message.Status != maskcall.MessageBlocked || res.Message.Reason != maskcall.BlockNoConversation {
		t.Fatalf("ended: %+v", res.Message)
	}
	if jobs := mustClaim(t, db, t0.Add(48*time.Hour)); len(jobs) != 0 {
		t.Fatalf("jobs %+v", jobs)
	}
	var n int
	if err := db.rdb.QueryRow(`SELECT COUNT(*) FROM message_parts WHERE text IS NOT NULL`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d blocked texts kept (%v)", n, err)
	}
	// Purge removes the messages that matched no conversation.
	if n, err := db.PurgeMessages(ctx, t0.Add(72*time.Hour)); err != nil || n != 5 {
		t.Fatalf("purged %d (%v), want 5", n, err)
	}
}

func TestDB_RecordInboundSMS_VoiceOnly(t *testing.T) {
	db, c := smsFixture(t)
	if _, err := db.wdb.Exec(`UPDATE conversations SET mode = 'voice' WHERE id = ?`, c.ID); err != nil {
		t.Fatal(err)
	}
	a := c.Participants[0]
	res := mustRecordSMS(t, db, inbound("m1", a.Number, a.ProxyNumber, "hi"), maskcall.InboundPolicy{}, t0)
	if res.Message.Status != maskcall.MessageBlocked || res.Message.Reason != maskcall.BlockVoiceOnly {
		t.Fatalf("%+v", res.Message)
	}
}

func TestDB_RecordInboundSMS_Concat(t *testing.T) {
	db, c := smsFixture(t)
	ctx := context.Background()
	b := c.Participants[1]
	part := func(id string, n int, text string) *maskcall.InboundSMS {
		in := inbound(id, b.Number, b.ProxyNumber, text)
		in.ConcatRef, in.ConcatTotal, in.ConcatPart = "42", 3, n
		return in
	}
	p := maskcall.InboundPolicy{ConcatWait: time.Minute}
	m := mustRecordSMS(t, db, part("p3", 3, "C"), p, t0).Message
	if jobs := mustClaim(t, db, t0); len(jobs) != 0 {
		t.Fatal("relayed before the parts arrived")
	}
	mustRecordSMS(t, db, part("p1", 1, "A"), p, t0)
	mustRecordSMS(t, db, part("p1", 1, "A"), p, t0) // resent
	if m2 := mustRecordSMS(t, db, part("p2", 2, "B"), p, t0).Message; m2.ID != m.ID || m2.Parts != 3 {
		t.Fatalf("parts did not join: %+v", m2)
	}
	jobs := mustClaim(t, db, t0)
	if len(jobs) != 1 || jobs[0].Text != "ABC" || jobs[0].Incomplete {
		t.Fatalf("jobs %+v", jobs)
	}

	// A part that never comes: what arrived goes after the wait, marked incomplete.
	q := part("q1", 1, "X")
	q.ConcatRef = "43"
	mustRecordSMS(t, db, q, p, t0.Add(time.Second))
	if jobs := mustClaim(t, db, t0.Add(60*time.Second)); len(jobs) != 0 {
		t.Fatal("relayed before the wait ended")
	}
	jobs = mustClaim(t, db, t0.Add(61*time.Second))
	if len(jobs) != 1 || jobs[0].Text != "X" || !jobs[0].Incomplete {
		t.Fatalf("jobs %+v", jobs)
	}
	if err := db.FinishRelayJob(ctx, jobs[0], maskcall.RelayOutcome{Sent: true}, 3, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// Both arrived at t0: the listing breaks the tie by id, so find it.
	msgs, _ := db.FindMessages(ctx, c.ID)
	if len(msgs) != 2 {
		t.Fatalf("%d messages", len(msgs))
	}
	inc := msgs[1]
	if msgs[0].ID != m.ID {
		inc = msgs[0]
	}
	if inc.ID == m.ID || !inc.Incomplete || inc.Parts != 1 || inc.PartsTotal != 3 {
		t.Fatalf("messages %+v", inc)
	}
}

func TestDB_RelayRetryAndFail(t *testing.T) {
	db, c := smsFixture(t)
	ctx := context.Background()
	a := c.Participants[0]
	mustRecordSMS(t, db, inbound("m1", a.Number, a.ProxyNumber, "hi"), maskcall.InboundPolicy{}, t0)
	now := t0
	for attempt := 1; attempt <= 3; attempt++ {
		jobs := mustClaim(t, db, now)
		if len(jobs) != 1 || jobs[0].Attempts != attempt {
			t.Fatalf("attempt %d: %+v", attempt, jobs)
		}
		retryAt := now.Add(maskcall.RelayBackoff(attempt))
		if err := db.FinishRelayJob(ctx, jobs[0], maskcall.RelayOutcome{Retry: true, RetryAt: retryAt, Error: "HTTP 503"}, 3, now); err != nil {
			t.Fatal(err)
		}
		if attempt < 3 {
			if next, _ := db.NextRelayAt(ctx); next == nil || !next.Equal(retryAt) {
				t.Fatalf("next %v, want %v", next, retryAt)
			}
			if early := mustClaim(t, db, retryAt.Add(-time.Millisecond)); len(early) != 0 {
				t.Fatal("claimed before its backoff")
			}
		}
		now = retryAt
	}
	msgs, _ := db.FindMessages(ctx, c.ID)
	if msgs[0].Status != maskcall.MessageFailed || msgs[0].Attempts != 3 || msgs[0].Error != "HTTP 503" {
		t.Fatalf("after its attempts: %+v", msgs[0])
	}
	if jobs := mustClaim(t, db, now.Add(time.Hour)); len(jobs) != 0 {
		t.Fatal("a failed job was claimed")
	}
}

// A process that stopped after marking a job sending (it may have sent it)
// leaves it to be settled unknown, never sent again.
func TestDB_RelayStaleSendingIsUnknown(t *testing.T) {
	db, c := smsFixture(t)
	ctx := context.Background()
	a := c.Participants[0]
	mustRecordSMS(t, db, inbound("m1", a.Number, a.ProxyNumber, "hi"), maskcall.InboundPolicy{}, t0)
	if jobs := mustClaim(t, db, t0); len(jobs) != 1 {
		t.Fatal("not claimed")
	}
	// "Crash": the claim is never finished. Within the lease nothing happens.
	if jobs := mustClaim(t, db, t0.Add(30*time.Second)); len(jobs) != 0 {
		t.Fatal("reclaimed within the lease")
	}
	if next, _ := db.NextRelayAt(ctx); next == nil || !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next %v: the lease's end should wake the worker", next)
	}
	if jobs := mustClaim(t, db, t0.Add(2*time.Minute)); len(jobs) != 0 {
		t.Fatal("a job that may have been sent was claimed again")
	}
	msgs, _ := db.FindMessages(ctx, c.ID)
	if msgs[0].Status != maskcall.MessageUnknown {
		t.Fatalf("%+v", msgs[0])
	}
}

// Many deliveries of the same parts at once still make one message and one
// job (the group commit runs them in one transaction).
func TestDB_RecordInboundSMS_ConcurrentDuplicates(t *testing.T) {
	db, c := smsFixture(t)
	a := c.Participants[0]
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			if _, err := db.RecordInboundSMS(context.Background(), inbound(fmt.Sprint("m", i%5), a.Number, a.ProxyNumber, "x"), maskcall.InboundPolicy{}, t0); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	if jobs := mustClaim(t, db, t0); len(jobs) != 5 {
		t.Fatalf("%d jobs, want 5", len(jobs))
	}
}

func TestDB_PurgeConversationsDeletesMessages(t *testing.T) {
	db, c := smsFixture(t)
	ctx := context.Background()
	a := c.Participants[0]
	mustRecordSMS(t, db, inbound("m1", a.Number, a.ProxyNumber, "hi"), maskcall.InboundPolicy{StoreText: true}, t0)
	if _, err := db.EndConversation(ctx, c.ID, maskcall.EndReasonEnded, t0); err != nil {
		t.Fatal(err)
	}
	if n, err := db.PurgeConversations(ctx, t0.Add(time.Hour)); err != nil || n != 1 {
		t.Fatal(n, err)
	}
	for _, table := range []string{"messages", "message_parts", "relay_jobs"} {
		var n int
		if err := db.rdb.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows left (%v)", table, n, err)
		}
	}
}
