package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// holdWriteLock takes the write lock on db's file from another connection
// pool, as another process would (BEGIN IMMEDIATE), and returns its
// release.
func holdWriteLock(t *testing.T, db *DB) (release func()) {
	t.Helper()
	other, err := sql.Open("sqlite", dsn(db.path, "_pragma=busy_timeout(10000)"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
			t.Error(err)
		}
		conn.Close()
		other.Close()
	}
	t.Cleanup(release)
	return release
}

// A record queued while another connection holds the write lock is not
// waited for past the caller's wait, stays queued, is written once the
// lock is released, and the event queued after it finds it.
func TestQueueCall_WhileLocked(t *testing.T) {
	db := MustOpenDB(t)
	conv, _ := MustCreateCall(t, db)
	release := holdWriteLock(t, db)

	outcome := make(chan error, 1)
	call := &maskcall.Call{UUID: "q-1", ConversationUUID: "CON-Q1", ConversationID: conv.ID, From: alice, To: gb1, Status: "started"}
	written, err := db.QueueCall(context.Background(), call, t0, 50*time.Millisecond, func(err error) { outcome <- err })
	if written || err != nil {
		t.Fatalf("QueueCall while locked = %v, %v; want not written yet, no error", written, err)
	}
	// The route lookup (a read) does not wait for the lock.
	lookup := make(chan error, 1)
	go func() {
		_, err := db.FindRoute(context.Background(), alice, gb1, t0)
		lookup <- err
	}()
	select {
	case err := <-lookup:
		if err != nil {
			t.Errorf("FindRoute while locked: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("FindRoute waited for the write lock")
	}

	type res struct {
		ok  bool
		err error
	}
	ev := make(chan res, 1)
	go func() {
		ok, err := db.RecordCallEvent(context.Background(), maskcall.CallEvent{UUID: "q-1", Status: "answered", Timestamp: t0.Add(time.Second)}, t0)
		ev <- res{ok, err}
	}()
	release()
	if r := <-ev; !r.ok || r.err != nil {
		t.Fatalf("event of the queued call = %v, %v; want it recorded", r.ok, r.err)
	}
	if err := <-outcome; err != nil {
		t.Fatalf("queued record's outcome = %v", err)
	}
	calls, err := db.FindCalls(context.Background(), conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got *maskcall.Call
	for _, c := range calls {
		if c.UUID == "q-1" {
			got = c
		}
	}
	if got == nil || got.Status != "answered" {
		t.Fatalf("queued call = %+v", got)
	}
}

// More records pending than a batch holds: an event queued after the last
// of them still runs after it.
func TestQueueCall_OrderBeyondABatch(t *testing.T) {
	db := MustOpenDB(t)
	conv, _ := MustCreateCall(t, db)
	release := holdWriteLock(t, db)
	const n = 3*maxBatch + 7
	for i := range n {
		c := &maskcall.Call{UUID: fmt.Sprintf("o-%d", i), ConversationID: conv.ID, From: alice, To: gb1, Status: "started"}
		if written, err := db.QueueCall(context.Background(), c, t0, 0, nil); written || err != nil {
			t.Fatalf("QueueCall %d = %v, %v", i, written, err)
		}
	}
	ev := make(chan error, 1)
	go func() {
		ok, err := db.RecordCallEvent(context.Background(), maskcall.CallEvent{UUID: fmt.Sprintf("o-%d", n-1), Status: "ringing", Timestamp: t0}, t0)
		if err == nil && !ok {
			err = fmt.Errorf("the event found no call: it ran before its record")
		}
		ev <- err
	}()
	release()
	if err := <-ev; err != nil {
		t.Fatal(err)
	}
	if got := countCalls(t, db); got != n+1 {
		t.Errorf("%d calls, want %d", got, n+1)
	}
}

// A record refused for good (its conversation does not exist) is reported,
// to the waiting caller or to later.
func TestQueueCall_Refused(t *testing.T) {
	db := MustOpenDB(t)
	_, err := db.QueueCall(context.Background(), &maskcall.Call{UUID: "r-1", ConversationID: "cv_missing", Status: "started"}, t0, 5*time.Second, nil)
	if maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
		t.Errorf("waited: %v, want ENOTFOUND", err)
	}
	if _, err := db.QueueCall(context.Background(), &maskcall.Call{UUID: "r-2"}, t0, time.Second, nil); maskcall.ErrorCode(err) != maskcall.EINVALID {
		t.Errorf("no conversation: %v, want EINVALID", err)
	}
	release := holdWriteLock(t, db)
	outcome := make(chan error, 1)
	written, err := db.QueueCall(context.Background(), &maskcall.Call{UUID: "r-3", ConversationID: "cv_missing", Status: "started"}, t0, 0,
		func(err error) { outcome <- err })
	if written || err != nil {
		t.Fatalf("QueueCall = %v, %v", written, err)
	}
	release()
	if err := <-outcome; maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
		t.Errorf("later: %v, want ENOTFOUND", err)
	}
}

// Records queued together are written callRowsPerInsert to a statement
// when no callback can go anywhere; one whose conversation is gone fails
// alone (its statement's others go one by one), a repeated uuid is
// written once, and every record is as CreateCall writes it.
func TestQueueCall_ManyInOneStatement(t *testing.T) {
	db := MustOpenDB(t)
	conv, _ := MustCreateCall(t, db)
	release := holdWriteLock(t, db)
	const n = 3*callRowsPerInsert + 5
	outcomes := make([]chan error, n)
	for i := range n {
		c := &maskcall.Call{UUID: fmt.Sprintf("m-%d", i), ConversationUUID: "CON-M", ConversationID: conv.ID, From: alice, To: gb1, Status: "started"}
		switch i {
		case callRowsPerInsert + 3:
			c.ConversationID = "cv_missing" // in the second statement
		case 2*callRowsPerInsert + 1:
			c.UUID = "m-0" // again
		}
		outcomes[i] = make(chan error, 1)
		ch := outcomes[i]
		if written, err := db.QueueCall(context.Background(), c, t0.Add(time.Duration(i)), 0, func(err error) { ch <- err }); written || err != nil {
			t.Fatalf("QueueCall %d = %v, %v", i, written, err)
		}
	}
	release()
	for i, ch := range outcomes {
		err := <-ch
		if i == callRowsPerInsert+3 {
			if maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
				t.Errorf("record %d of a missing conversation: %v, want ENOTFOUND", i, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("record %d: %v", i, err)
		}
	}
	calls, err := db.FindCalls(context.Background(), conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(calls), 1+n-2; got != want {
		t.Fatalf("%d calls, want %d", got, want)
	}
	for _, c := range calls[1:] {
		if c.ConversationUUID != "CON-M" || c.From != alice || c.To != gb1 || c.Status != "started" {
			t.Errorf("call %+v", c)
		}
	}
	// The first of the repeated uuid won, as with CreateCall.
	for _, c := range calls {
		if c.UUID == "m-0" && c.ConversationUUID != "CON-M" {
			t.Errorf("m-0 = %+v", c)
		}
	}
}
