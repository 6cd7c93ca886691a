package sqlite

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// Under load (a batch of at least lingerFrom just committed) the committer
// lets journaled call records gather before the next batch; an operation
// whose caller waits (an event) ends the pause at once, taking the
// gathered records along, and so do lingerEnough records queued.
func TestCommitterLingersForRecordsNotForWaiters(t *testing.T) {
	saved := lingerFor
	lingerFor = time.Hour // a pause nothing but a waiter ends
	t.Cleanup(func() { lingerFor = saved })
	db := openJournaled(t, t.TempDir()+"/maskcall.db")
	conv, call := MustCreateCall(t, db)

	// 300 records journaled while another process holds the write lock:
	// once it lets go, a batch holds at most maxBatch (256) of them, so
	// at least one batch of lingerFrom or more commits and a pause begins
	// with records still queued.
	const records = 300
	release := holdWriteLock(t, db)
	var written atomic.Int64
	for i := range records {
		c := &maskcall.Call{UUID: fmt.Sprintf("linger-%d", i), ConversationID: conv.ID, From: alice, To: gb1, Status: "started"}
		if ok, err := db.QueueCall(context.Background(), c, t0, time.Millisecond, func(err error) {
			if err != nil {
				t.Error(err)
			}
			written.Add(1)
		}); !ok || err != nil {
			t.Fatalf("QueueCall %d = %v, %v", i, ok, err)
		}
	}
	release()
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
	waitWritten := func(n int64, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for written.Load() < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d records committed %s", written.Load(), n, what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitWritten(records, "after the event's batch")

	// That batch was large too, so the committer pauses again; lingerEnough
	// records queued end the pause with no waiter.
	for i := range lingerEnough {
		c := &maskcall.Call{UUID: fmt.Sprintf("enough-%d", i), ConversationID: conv.ID, From: alice, To: gb1, Status: "started"}
		if ok, err := db.QueueCall(context.Background(), c, t0, time.Millisecond, func(error) { written.Add(1) }); !ok || err != nil {
			t.Fatalf("QueueCall %d = %v, %v", i, ok, err)
		}
	}
	waitWritten(records+lingerEnough, "once lingerEnough were queued during a pause")
}
