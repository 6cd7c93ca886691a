package sqlite

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// withLinger sets the committer's pause for the stores a test opens after
// it (the committer reads them once running; they are put back once the
// test's stores are closed).
func withLinger(t *testing.T, pause time.Duration, enough int) {
	savedFor, savedEnough := lingerFor, lingerEnough
	lingerFor, lingerEnough = pause, enough
	t.Cleanup(func() { lingerFor, lingerEnough = savedFor, savedEnough })
}

// queueWhileLocked journals n call records while another process holds the
// write lock, then lets go; written counts the records committed.
func queueWhileLocked(t *testing.T, db *DB, conv *maskcall.Conversation, prefix string, n int, written *atomic.Int64) {
	t.Helper()
	release := holdWriteLock(t, db)
	queueRecords(t, db, conv, prefix, n, written)
	release()
}

func queueRecords(t *testing.T, db *DB, conv *maskcall.Conversation, prefix string, n int, written *atomic.Int64) {
	t.Helper()
	for i := range n {
		c := &maskcall.Call{UUID: fmt.Sprintf("%s-%d", prefix, i), ConversationID: conv.ID, From: alice, To: gb1, Status: "started"}
		if ok, err := db.QueueCall(context.Background(), c, t0, time.Millisecond, func(err error) {
			if err != nil {
				t.Error(err)
			}
			written.Add(1)
		}); !ok || err != nil {
			t.Fatalf("QueueCall %s %d = %v, %v", prefix, i, ok, err)
		}
	}
}

func waitWritten(t *testing.T, written *atomic.Int64, n int64, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for written.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records committed %s", written.Load(), n, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Under load (a batch of at least lingerFrom just committed) the committer
// lets journaled call records gather before the next batch, and an
// operation whose caller waits (an event) ends the pause at once, taking
// the gathered records along.
func TestCommitterLingersForRecordsNotForWaiters(t *testing.T) {
	withLinger(t, time.Hour, 1<<30) // a pause only a waiter ends
	db := openJournaled(t, t.TempDir()+"/maskcall.db")
	conv, call := MustCreateCall(t, db)

	// 300 records: a batch holds at most maxBatch (256) of them, so at
	// least one batch of lingerFrom or more commits and a pause begins
	// with records still queued.
	const records = 300
	var written atomic.Int64
	queueWhileLocked(t, db, conv, "linger", records, &written)
	time.Sleep(500 * time.Millisecond)
	if n := written.Load(); n == records {
		t.Fatalf("all %d records committed with the committer meant to pause for an hour after a batch of %d or more", records, lingerFrom)
	} else if n == 0 {
		t.Fatal("no record committed once the write lock was free")
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ok, err := db.RecordCallEvent(ctx, maskcall.CallEvent{UUID: call.UUID, ConversationUUID: call.ConversationUUID,
		Status: "ringing", Timestamp: t0.Add(time.Second)}, t0.Add(time.Second))
	if err != nil || !ok {
		t.Fatalf("RecordCallEvent = %v, %v", ok, err)
	}
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("an event waited %v for the committer's pause", waited)
	}
	waitWritten(t, &written, records, "after the event's batch")
}

// A pause also ends once lingerEnough records are queued, with no waiter.
func TestCommitterLingersUntilEnoughRecords(t *testing.T) {
	withLinger(t, time.Hour, 64)
	db := openJournaled(t, t.TempDir()+"/maskcall.db")
	conv, _ := MustCreateCall(t, db)
	// 40 records (fewer than lingerEnough): however the committer splits
	// them, one batch holds lingerFrom or more and the pause after it
	// keeps the rest, fewer than lingerEnough.
	var written atomic.Int64
	queueWhileLocked(t, db, conv, "some", 40, &written)
	time.Sleep(300 * time.Millisecond)
	queueRecords(t, db, conv, "enough", 64, &written)
	waitWritten(t, &written, 40+64, "once lingerEnough were queued during a pause")
}
