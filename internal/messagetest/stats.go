package messagetest

import (
	"context"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// testQueueStats: the relay queue's depth counts jobs waiting and in
// flight; its oldest due job is the earliest pending one due by now.
func testQueueStats(t *testing.T, f *Fixture) {
	qs, ok := f.Store.(maskcall.RelayQueueStatser)
	if !ok {
		t.Fatalf("%T does not say how its relay queue stands (maskcall.RelayQueueStatser)", f.Store)
	}
	stats := func(now time.Time) maskcall.QueueStats {
		t.Helper()
		q, err := qs.RelayQueueStats(context.Background(), now)
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	if q := stats(T0); q.Depth != 0 || !q.OldestDue.IsZero() {
		t.Fatalf("empty queue: %+v", q)
	}
	a, b := f.Conv.Participants[0], f.Conv.Participants[1]
	record(t, f.Store, inbound("m1", a.Number, a.ProxyNumber, "one"), maskcall.InboundPolicy{}, T0)
	record(t, f.Store, inbound("m2", b.Number, b.ProxyNumber, "two"), maskcall.InboundPolicy{}, T0.Add(time.Second))
	if q := stats(T0.Add(time.Minute)); q.Depth != 2 || !q.OldestDue.Equal(T0) {
		t.Errorf("two waiting: %+v, want depth 2, oldest due %s", q, T0)
	}
	// Not yet due is not waiting long.
	if q := stats(T0.Add(-time.Minute)); q.Depth != 2 || !q.OldestDue.IsZero() {
		t.Errorf("before they are due: %+v", q)
	}
	jobs, err := f.Store.ClaimRelayJobs(context.Background(), T0.Add(time.Minute), 1, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %v %v", jobs, err)
	}
	// Claimed, in flight: still in the queue.
	if q := stats(T0.Add(time.Minute)); q.Depth != 2 || !q.OldestDue.Equal(T0.Add(time.Second)) {
		t.Errorf("one claimed: %+v, want depth 2, oldest due the second", q)
	}
	if err := f.Store.FinishRelayJob(context.Background(), jobs[0], maskcall.RelayOutcome{Sent: true}, 3, T0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if q := stats(T0.Add(time.Minute)); q.Depth != 1 {
		t.Errorf("one sent: %+v, want depth 1", q)
	}
}
