package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sqlite/sqliteseed"
)

// op queues nothing: it builds a writeOp for committer.commit, which tests
// call directly to put chosen operations in one batch.
func op(fn func(ctx context.Context, tx *Tx) error) *writeOp {
	return &writeOp{ctx: context.Background(), fn: fn, done: make(chan struct{})}
}

func callOp(c *maskcall.Call) *writeOp {
	return op(func(ctx context.Context, tx *Tx) error { return createCall(ctx, tx, c, t0) })
}

func eventOp(ev maskcall.CallEvent, ok *bool) *writeOp {
	return op(func(ctx context.Context, tx *Tx) (err error) {
		*ok, err = recordCallEvent(ctx, tx, ev, t0)
		return err
	})
}

func countCalls(tb testing.TB, db *DB) int {
	tb.Helper()
	var n int
	if err := db.rdb.QueryRow(`SELECT COUNT(*) FROM interactions`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// In one batch, an operation that fails is undone alone: the operations
// before and after it are committed.
func TestGroupCommit_FailureIsIsolated(t *testing.T) {
	db := MustOpenDB(t)
	conv, _ := MustCreateCall(t, db)
	before := countCalls(t, db)
	boom := errors.New("boom")
	batch := []*writeOp{
		callOp(&maskcall.Call{UUID: "u1", ConversationID: conv.ID, Status: "started"}),
		// Writes, then fails (not cleanly): its write must not survive,
		// and the others are committed all the same.
		op(func(ctx context.Context, tx *Tx) error {
			if err := createCall(ctx, tx, &maskcall.Call{UUID: "u-failed", ConversationID: conv.ID, Status: "started"}, t0); err != nil {
				return err
			}
			return boom
		}),
		callOp(&maskcall.Call{UUID: "u2", ConversationID: "cv_missing", Status: "started"}),
		callOp(&maskcall.Call{UUID: "u3", ConversationID: conv.ID, Status: "started"}),
	}
	tx0, _ := db.GroupCommitStats()
	db.w.commit(batch)
	if tx, _ := db.GroupCommitStats(); tx-tx0 != int64(1+len(batch)) {
		t.Errorf("%d transactions, want the batch's then one per operation", tx-tx0)
	}
	if batch[0].err != nil || batch[3].err != nil {
		t.Fatalf("good operations failed: %v, %v", batch[0].err, batch[3].err)
	}
	if !errors.Is(batch[1].err, boom) {
		t.Fatalf("failing operation: %v", batch[1].err)
	}
	if maskcall.ErrorCode(batch[2].err) != maskcall.ENOTFOUND {
		t.Fatalf("call of a missing conversation: %v", batch[2].err)
	}
	for _, o := range batch {
		select {
		case <-o.done:
		default:
			t.Fatal("an operation was not told its outcome")
		}
	}
	if got := countCalls(t, db); got != before+2 {
		t.Fatalf("%d calls, want %d", got, before+2)
	}
	calls, err := db.FindCalls(context.Background(), conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if c.UUID == "u-failed" {
			t.Fatal("the failed operation's call was committed")
		}
	}
}

// Clean failures (nothing written) do not cost the batch its transaction.
func TestGroupCommit_CleanFailureKeepsBatch(t *testing.T) {
	db := MustOpenDB(t)
	conv, _ := MustCreateCall(t, db)
	var matched bool
	batch := []*writeOp{
		callOp(&maskcall.Call{UUID: "c1", ConversationID: conv.ID, Status: "started"}),
		callOp(&maskcall.Call{UUID: "c2", ConversationID: "cv_missing", Status: "started"}),
		callOp(&maskcall.Call{UUID: "", ConversationID: conv.ID}),
		eventOp(maskcall.CallEvent{UUID: "nobody", Status: "ringing", Timestamp: t0}, &matched),
		callOp(&maskcall.Call{UUID: "c3", ConversationID: conv.ID, Status: "started"}),
	}
	tx0, _ := db.GroupCommitStats()
	db.w.commit(batch)
	if tx, _ := db.GroupCommitStats(); tx-tx0 != 1 {
		t.Errorf("%d transactions, want 1", tx-tx0)
	}
	if batch[0].err != nil || batch[3].err != nil || batch[4].err != nil || matched {
		t.Fatalf("errors %v %v %v, matched %v", batch[0].err, batch[3].err, batch[4].err, matched)
	}
	if maskcall.ErrorCode(batch[1].err) != maskcall.ENOTFOUND || maskcall.ErrorCode(batch[2].err) != maskcall.EINVALID {
		t.Fatalf("errors %v, %v", batch[1].err, batch[2].err)
	}
	var ce *cleanError
	if errors.As(batch[1].err, &ce) {
		t.Fatal("a caller got the internal clean marker")
	}
}

// A call queued before its event is written before it, in the same batch.
func TestGroupCommit_Order(t *testing.T) {
	db := MustOpenDB(t)
	MustCreateNumber(t, db, gb1, "GB")
	conv := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
	var ok1, ok2 bool
	batch := []*writeOp{
		callOp(&maskcall.Call{UUID: "leg", ConversationUUID: "CON-9", ConversationID: conv.ID, Status: "started"}),
		eventOp(maskcall.CallEvent{UUID: "leg", Status: "answered", Timestamp: t0}, &ok1),
		eventOp(maskcall.CallEvent{UUID: "other-leg", ConversationUUID: "CON-9", CallUUID: "leg", Status: "completed", Timestamp: t0.Add(time.Minute), Duration: 60}, &ok2),
	}
	db.w.commit(batch)
	for _, o := range batch {
		if o.err != nil {
			t.Fatal(o.err)
		}
	}
	if !ok1 || !ok2 {
		t.Fatalf("events matched no call: %v %v", ok1, ok2)
	}
	c := mustFindCall(t, db, conv.ID)
	if c.Status != "completed" || c.Duration != 60 {
		t.Fatalf("call = %+v", c)
	}
}

// An operation whose caller has gone is not run.
func TestGroupCommit_CanceledOperationSkipped(t *testing.T) {
	db := MustOpenDB(t)
	conv, _ := MustCreateCall(t, db)
	before := countCalls(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := callOp(&maskcall.Call{UUID: "gone", ConversationID: conv.ID, Status: "started"})
	gone.ctx = ctx
	kept := callOp(&maskcall.Call{UUID: "kept", ConversationID: conv.ID, Status: "started"})
	db.w.commit([]*writeOp{gone, kept})
	if !errors.Is(gone.err, context.Canceled) || kept.err != nil {
		t.Fatalf("errors: %v, %v", gone.err, kept.err)
	}
	if got := countCalls(t, db); got != before+1 {
		t.Fatalf("%d calls, want %d", got, before+1)
	}
	if err := db.CreateCall(ctx, &maskcall.Call{UUID: "late", ConversationID: conv.ID}, t0); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateCall with a canceled context: %v", err)
	}
}

// Many concurrent callers: every call and event is committed once, each
// caller hears its own outcome, and the batches did group them.
func TestGroupCommit_Concurrent(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	pool := []string{"+447400000001", "+447400000002"}
	if err := sqliteseed.Conversations(ctx, db.Path(), 100, pool, t0); err != nil {
		t.Fatal(err)
	}
	const callers = 64
	const perCaller = 20
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for g := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perCaller {
				i := (g*perCaller + k) % 100
				uuid := fmt.Sprintf("leg-%d-%d", g, k)
				if err := db.CreateCall(ctx, &maskcall.Call{UUID: uuid, ConversationID: sqliteseed.ConversationID(i),
					From: sqliteseed.NumberA(i), To: sqliteseed.Proxy(pool, i), Status: "started"}, t0); err != nil {
					errs <- err
					return
				}
				for s, status := range []string{"ringing", "answered", "completed"} {
					ok, err := db.RecordCallEvent(ctx, maskcall.CallEvent{UUID: uuid, Status: status, Timestamp: t0.Add(time.Duration(s) * time.Second)}, t0)
					if err != nil || !ok {
						errs <- fmt.Errorf("event %s of %s: %v, %v", status, uuid, ok, err)
						return
					}
				}
				// A wrong conversation fails alone.
				if err := db.CreateCall(ctx, &maskcall.Call{UUID: uuid + "-x", ConversationID: "cv_nope"}, t0); maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
					errs <- fmt.Errorf("call of a missing conversation: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := countCalls(t, db); got != callers*perCaller {
		t.Fatalf("%d calls, want %d", got, callers*perCaller)
	}
	batches, ops := db.w.batches.Load(), db.w.ran.Load()
	t.Logf("%d operations in %d transactions", ops, batches)
	if batches >= ops {
		t.Errorf("no operations were grouped: %d operations in %d transactions", ops, batches)
	}
	if got := countEvents(t, db); got != 3*callers*perCaller {
		t.Fatalf("%d events, want %d", got, 3*callers*perCaller)
	}
	var notCompleted int
	if err := db.rdb.QueryRow(`SELECT COUNT(*) FROM interactions WHERE status <> 'completed'`).Scan(&notCompleted); err != nil || notCompleted != 0 {
		t.Fatalf("%d calls not completed (%v)", notCompleted, err)
	}
}

// Close commits what is queued, then refuses writes.
func TestGroupCommit_Close(t *testing.T) {
	db := NewDB(t.TempDir() + "/maskcall.db")
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	MustCreateNumber(t, db, gb1, "GB")
	conv := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
	var wg sync.WaitGroup
	results := make([]error, 50)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = db.CreateCall(context.Background(), &maskcall.Call{UUID: fmt.Sprint("c", i), ConversationID: conv.ID}, t0)
		}()
	}
	wg.Wait()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateCall(context.Background(), &maskcall.Call{UUID: "after", ConversationID: conv.ID}, t0); err == nil {
		t.Fatal("CreateCall after Close succeeded")
	}
	db2 := MustOpenDBAt(t, db.Path())
	if got := countCalls(t, db2); got != len(results) {
		t.Fatalf("%d calls after reopening, want %d", got, len(results))
	}
}

// Grouped writes are checkpointed in the background: the database file
// grows while the store stays open, and the write connection's own
// automatic checkpoint is set to walRestartFrames.
func TestGroupCommit_BackgroundCheckpoint(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	pool := []string{"+447400000001"}
	if err := sqliteseed.Conversations(ctx, db.Path(), 1000, pool, t0); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(db.Path())
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	for i := range 3000 {
		if err := db.CreateCall(ctx, &maskcall.Call{UUID: fmt.Sprint("ck-", i), ConversationID: sqliteseed.ConversationID(i % 1000), Status: "started"}, t0); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for size() == before {
		if time.Now().After(deadline) {
			t.Fatal("the database file did not grow: nothing was checkpointed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var pages int
	if err := db.wdb.QueryRow(`PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil || pages != walRestartFrames {
		t.Fatalf("wal_autocheckpoint = %d, %v", pages, err)
	}
}

// The write connection keeps statement journals in memory (a batch's
// multi-row INSERT spilled its journal to a temporary file otherwise, a
// write per page).
func TestWriteConnectionTempStoreInMemory(t *testing.T) {
	db := MustOpenDB(t)
	var store int
	if err := db.wdb.QueryRow(`PRAGMA temp_store`).Scan(&store); err != nil || store != 2 {
		t.Fatalf("temp_store = %d, %v; want 2 (memory)", store, err)
	}
}

// Only failures known to leave the transaction intact are clean; anything
// else makes the batch run again one operation at a time.
func TestClean(t *testing.T) {
	if clean(nil) != nil {
		t.Fatal("clean(nil) != nil")
	}
	var ce *cleanError
	if !errors.As(clean(maskcall.Errorf(maskcall.EINVALID, "bad call")), &ce) {
		t.Error("a validation error is not clean")
	}
	if errors.As(clean(errors.New("disk I/O error")), &ce) {
		t.Error("an unknown error is clean")
	}
}

// A durable operation (a create) that writes and then fails is undone by
// its savepoint alone: the batch is not run again, and the operations
// around it are committed in the one transaction.
func TestGroupCommit_DurableFailureUndoneBySavepoint(t *testing.T) {
	db := MustOpenDB(t)
	conv, _ := MustCreateCall(t, db)
	before := countCalls(t, db)
	boom := errors.New("boom")
	failing := op(func(ctx context.Context, tx *Tx) error {
		if err := createCall(ctx, tx, &maskcall.Call{UUID: "u-failed", ConversationID: conv.ID, Status: "started"}, t0); err != nil {
			return err
		}
		return boom
	})
	failing.durable = true
	batch := []*writeOp{
		callOp(&maskcall.Call{UUID: "u1", ConversationID: conv.ID, Status: "started"}),
		failing,
		callOp(&maskcall.Call{UUID: "u3", ConversationID: conv.ID, Status: "started"}),
	}
	tx0, _ := db.GroupCommitStats()
	db.w.commit(batch)
	if tx, _ := db.GroupCommitStats(); tx-tx0 != 1 {
		t.Errorf("%d transactions, want the batch's only", tx-tx0)
	}
	if batch[0].err != nil || batch[2].err != nil || !errors.Is(failing.err, boom) {
		t.Fatalf("outcomes: %v, %v, %v", batch[0].err, failing.err, batch[2].err)
	}
	if n := countCalls(t, db); n != before+2 {
		t.Errorf("%d calls, want %d: the failed operation's write survived or a good one was lost", n, before+2)
	}
}

// Concurrent creates through the group commit on a store opened as serve
// opens it: each acknowledged one is there with its own proxies, the
// losers on a pool too small get pool_exhausted and leave nothing behind,
// and a create whose caller gave up before it ran does not exist.
func TestCreateConversation_GroupedDurable(t *testing.T) {
	path := t.TempDir() + "/maskcall.db"
	db := NewDB(path)
	db.FastCommits = true
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	MustCreateNumber(t, db, "+447700900101", "GB")
	MustCreateNumber(t, db, "+447700900102", "GB")
	const n = 24
	var wg sync.WaitGroup
	errs := make([]error, n)
	convs := make([]*maskcall.Conversation, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// One participant for all: only two proxies exist for them.
			c := &maskcall.Conversation{Participants: []maskcall.Participant{
				{Number: "+447700900001", Country: "GB"}, {Number: fmt.Sprintf("+3361%07d", i), Country: "FR"}}}
			convs[i], errs[i] = c, db.CreateConversation(ctx, c, nil, t0)
		}()
	}
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch maskcall.ErrorCode(err) {
		case "":
			ok++
			got, ferr := db.FindConversationByID(ctx, convs[i].ID, t0)
			if ferr != nil || got.Participants[0].ProxyNumber != convs[i].Participants[0].ProxyNumber {
				t.Errorf("acknowledged create %d: %v %+v", i, ferr, got)
			}
		case maskcall.EEXHAUSTED:
			if convs[i].ID != "" || convs[i].Participants[0].ProxyNumber != "" {
				t.Errorf("a refused create was filled in: %+v", convs[i])
			}
		default:
			t.Errorf("create %d: %v", i, err)
		}
	}
	if ok != 2 {
		t.Errorf("%d creates succeeded, want 2 (one per proxy)", ok)
	}
	page, err := db.FindConversations(ctx, maskcall.ConversationFilter{}, t0)
	if err != nil || len(page.Conversations) != 2 {
		t.Errorf("%d conversations stored (%v), want 2", len(page.Conversations), err)
	}

	gone, cancel := context.WithCancel(ctx)
	cancel()
	c := &maskcall.Conversation{Participants: []maskcall.Participant{
		{Number: "+447700900002", Country: "GB"}, {Number: "+33612345678", Country: "FR"}}}
	if err := db.CreateConversation(gone, c, nil, t0); err == nil {
		t.Errorf("a create with its context ended succeeded")
	}
	if page, _ := db.FindConversations(ctx, maskcall.ConversationFilter{}, t0); len(page.Conversations) != 2 {
		t.Errorf("the canceled create was stored")
	}
}
