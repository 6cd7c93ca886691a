package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maskcall/maskcall/internal/build"
	"github.com/maskcall/maskcall/internal/maskcall"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Group commit.
//
// The answer webhook records a call and the event webhook records an event
// on every request: small write transactions that all queue for the one
// write connection, each paying BEGIN IMMEDIATE, its WAL frames and COMMIT.
// The committer runs them for many requests in one transaction instead: a
// single goroutine takes every operation queued while the previous
// transaction was committing (up to maxBatch), runs them, commits once, and
// only then tells each caller its outcome.
//
// No caller waits for a batch to fill: under light load a batch is one
// operation and is committed at once, as before. (Under load, journaled
// call records, whose callers do not wait, are let gather for a moment
// between batches: see lingerFor.) Durability and order are
// unchanged: a caller returns only after the transaction holding its write
// has committed, and operations run in the order they were queued (a call
// recorded before an event of it was queued is written before the event).
//
// An operation that fails must not take the others down with it, nor leave
// half of itself behind. An operation reports a failure that wrote nothing
// (bad input, no such conversation: SQLite undoes a failed statement by
// itself) as clean; its batch goes on. Any other failure abandons the
// transaction, and the batch's operations are run again one transaction
// each, so only the failing one fails.

//
// Queued call records (QueueCall).
//
// The answer webhook must not wait for the write lock: another process
// (the CLI's purge, a sqlite3 shell, a backup) may hold it for seconds, and
// Vonage wants its NCCO within a few. So a call record can also be queued:
// it goes on a list of its own (pending), and its caller waits for it only
// as long as it chooses, then goes on while the record stays queued. A
// queued record is retried, with backoff, until it is written or refused
// for good (its conversation is gone); it is never dropped for a busy
// store. Its outcome, if the caller stopped waiting, goes to the callback
// it gave.
//
// Order: the events of a call are queued (write) after its record
// (QueueCall returns before the NCCO goes out, and Vonage sends events
// after it). The committer takes the channel's operations first, then the
// whole pending list, and runs the pending records first: so every record
// queued before an event is written before it, in the same transaction or
// an earlier one. While more records are pending than a batch holds, the
// channel's operations wait for a batch that drains the list.

// maxBatch bounds the operations committed together, so one transaction
// never keeps the write lock from the CLI for long.
const maxBatch = 256

// lingerFrom and lingerFor: after committing a batch of at least
// lingerFrom operations (the server is under load) the committer lets
// journaled call records gather for up to lingerFor before the next batch,
// so that the costs SQLite pays once a commit (BEGIN's locks, the page
// cache's walk at the end, the WAL's commit frame) are shared by more
// records: they were 8 % of serve's CPU at 1,000,000 conversations with
// the few dozen records a commit the load test gave (BENCHMARKS.md). Nobody waits for those records (their
// answers went out once they were journaled), so an operation whose caller
// does wait (an event, an API write) ends the pause when it arrives; under
// light load batches are one or two operations and nothing pauses.
const lingerFrom = 16

// lingerFor is a variable only so that a test can make the pause long.
var lingerFor = 2 * time.Millisecond

// lingerEnough ends a pause early: past a few dozen records a commit, what
// it costs once is shared enough, and a longer pause would only let the
// backlog grow toward journalBacklog, past which answers wait. (A variable
// only for tests, like lingerFor.)
var lingerEnough = 64

// linger pauses the committer for lingerFor, or until lingerEnough records
// are queued, an operation whose caller waits arrives (returned) or the
// committer is asked to quit.
func (c *committer) linger() (op *writeOp, quit bool) {
	t := time.NewTimer(lingerFor)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return nil, false
		case op = <-c.ops:
			return op, false
		case <-c.wake:
			c.pendMu.Lock()
			n := len(c.pending)
			c.pendMu.Unlock()
			if n >= lingerEnough {
				return nil, false
			}
		case <-c.quit:
			return nil, true
		}
	}
}

// maxPending bounds the call records queued and not yet written; past it
// QueueCall refuses (ESTORE).
const maxPending = 1 << 16

// Retry backoff of queued records that could not be written.
const (
	minRetryBackoff = 50 * time.Millisecond
	maxRetryBackoff = time.Second
)

// writeOp is one queued write.
type writeOp struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *Tx) error
	err  error
	done chan struct{}

	// queued: a QueueCall record, retried until written or cleanly
	// refused; clean: err wrote nothing and a retry would not change it.
	queued, clean bool
	// durable: acknowledged only once fsynced (a conversation created or
	// ended, writeDurable); its batch commits with synchronous=FULL.
	durable bool
	// state of a queued op's caller: opWaiting, opGaveUp (later reports
	// the outcome), opFinished.
	state atomic.Int32
	later func(error)
	// seq: a journaled record's number in the call journal (0: none).
	seq uint64
	// call, callNow: the record of a QueueCall op (what fn writes), so
	// that a run of them can be written in one statement (insertCalls).
	call    *maskcall.Call
	callNow time.Time
	// keepsRoutes: fn changes no route (a call's record or event), so a
	// batch of only such ops has no route version to publish.
	keepsRoutes bool
}

const (
	opWaiting int32 = iota
	opGaveUp
	opFinished
)

// finish reports op's outcome: to its waiting caller, or to later if the
// caller of a queued record stopped waiting.
func (op *writeOp) finish(c *committer) {
	if op.seq != 0 {
		c.journalWaiting.Add(-1)
		if op.err != nil && !op.clean {
			c.journalFailed.Add(1) // its journal file must stay
		}
	}
	if op.queued && !op.state.CompareAndSwap(opWaiting, opFinished) && op.later != nil {
		op.later(op.err)
	}
	close(op.done)
}

// committer owns the queue of grouped writes and the goroutine that commits
// them.
type committer struct {
	db    *DB
	ops   chan *writeOp
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
	stmts writeStmts
	// ckpt runs checkpoints in the background once the first batch is
	// committed (checkpoint.go); nil before, or if it could not start.
	ckpt        *checkpointer
	ckptStarted bool
	// Transactions begun and operations run in them (GroupCommitStats).
	batches, ran atomic.Int64

	// truncateWanted: the checkpointer found the WAL over its bound; the
	// committer truncates it after its next batch (checkpoint.go).
	truncateWanted atomic.Bool
	truncates      atomic.Int64

	// Queued call records (QueueCall), oldest first, and the committer's
	// wake-up when one is added.
	pendMu  sync.Mutex
	pending []*writeOp
	wake    chan struct{}
	// Queued records retried after a failed write (QueuedCallStats).
	retried atomic.Int64

	// journal: the call journal whose records are queued here, if any;
	// journalFailed counts its records finally not written.
	journal       *callJournal
	journalFailed atomic.Int64
	// journalWaiting counts the journaled records queued or in a batch
	// and not yet finished (the backlog QueueCall watches).
	journalWaiting atomic.Int64
}

// writeStmts are the grouped writes' statements, prepared once on the
// write connection.
type writeStmts struct {
	insertCall, insertCalls          *sql.Stmt
	callByUUID, legacyCallByConvUUID *sql.Stmt
	insertEvent, updateCall          *sql.Stmt
	// msg: the SMS relay's (message.go).
	msg messageStmts
	// The callback outbox's (callback.go).
	globalTarget, anyTarget, callParty, insertCallback *sql.Stmt
	// routeVersion: what a commit publishes (routepublish.go).
	routeVersion *sql.Stmt
}

func (s *writeStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&s.insertCall, insertCallStmt},
		{&s.insertCalls, insertCallsStmt},
		{&s.callByUUID, callByUUIDQuery},
		{&s.legacyCallByConvUUID, legacyCallByConversationUUIDQuery},
		{&s.insertEvent, insertEventStmt},
		{&s.updateCall, updateCallStmt},
		{&s.globalTarget, globalTargetQuery},
		{&s.anyTarget, anyTargetQuery},
		{&s.callParty, callPartyQuery},
		{&s.insertCallback, insertCallbackStmt},
		{&s.routeVersion, routeVersionQuery},
	} {
		st, err := db.PrepareContext(ctx, p.query)
		if err != nil {
			return err
		}
		*p.dst = st
	}
	for _, p := range s.msg.all() {
		st, err := db.PrepareContext(ctx, p.query)
		if err != nil {
			return err
		}
		*p.dst = st
	}
	return nil
}

func (s *writeStmts) close() {
	for _, st := range []*sql.Stmt{s.insertCall, s.insertCalls, s.callByUUID, s.legacyCallByConvUUID, s.insertEvent, s.updateCall,
		s.globalTarget, s.anyTarget, s.callParty, s.insertCallback, s.routeVersion} {
		if st != nil {
			st.Close()
		}
	}
	for _, p := range s.msg.all() {
		if *p.dst != nil {
			(*p.dst).Close()
		}
	}
}

func newCommitter(db *DB) (*committer, error) {
	c := &committer{db: db, ops: make(chan *writeOp, maxBatch), quit: make(chan struct{}), done: make(chan struct{}),
		wake: make(chan struct{}, 1), journal: db.journal}
	if err := c.stmts.prepare(context.Background(), db.wdb); err != nil {
		c.stmts.close()
		return nil, err
	}
	go c.run()
	return c, nil
}

// close stops the committer once the operations already queued are
// committed, and its checkpointer.
func (c *committer) close() {
	c.once.Do(func() { close(c.quit) })
	<-c.done
	c.stmts.close()
	if c.ckpt != nil {
		c.ckpt.close()
	}
}

// checkpointSoon has the checkpointer checkpoint soon, starting it (and
// raising the write connection's automatic checkpoint to walRestartFrames) the
// first time. It runs on the committer's goroutine, between transactions.
func (c *committer) checkpointSoon() {
	if !c.ckptStarted {
		c.ckptStarted = true
		ck, err := startCheckpointer(c.db)
		if err != nil {
			return // the write connection keeps checkpointing itself
		}
		if _, err := c.db.wdb.ExecContext(context.Background(), fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, walRestartFrames)); err != nil {
			ck.close()
			return
		}
		// A WAL the writer restarts is cut back to walSizeLimit
		// (checkpoint.go).
		_, _ = c.db.wdb.ExecContext(context.Background(), fmt.Sprintf(`PRAGMA journal_size_limit = %d`, walSizeLimit()))
		c.ckpt = ck
	}
	if c.ckpt != nil {
		c.ckpt.poke()
	}
}

// write queues fn and waits until the transaction that ran it has
// committed, returning fn's error or the commit's. If ctx ends first it
// returns ctx's error; fn then runs only if it had already started.
func (c *committer) write(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return c.submit(ctx, &writeOp{ctx: ctx, fn: fn, done: make(chan struct{})})
}

// writeKeepingRoutes is write for an fn that changes no route (see
// writeOp.keepsRoutes).
func (c *committer) writeKeepingRoutes(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return c.submit(ctx, &writeOp{ctx: ctx, fn: fn, done: make(chan struct{}), keepsRoutes: true})
}

// writeDurable runs fn in the group commit like write, and reports only
// once the transaction holding it is fsynced: one fsync for every create
// and end that queued meanwhile, where each used to pay its own, one after
// the other. fn runs in a savepoint of its own when it shares the
// transaction, so whatever it fails with leaves nothing of it behind and
// the others commit.
//
// Unlike write, it does not return when ctx ends once fn is queued: fn
// then either never starts (the committer skips an operation whose caller
// has gone) or runs to its end, and the caller learns which. A create
// reported as failed never exists.
func (c *committer) writeDurable(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) error {
	return c.submit(ctx, &writeOp{ctx: ctx, fn: fn, done: make(chan struct{}), durable: true})
}

// submit queues op and waits for its outcome; an op that is not durable
// stops waiting when its ctx ends.
func (c *committer) submit(ctx context.Context, op *writeOp) error {
	select {
	case c.ops <- op:
	case <-c.quit:
		return errNotOpen
	case <-ctx.Done():
		return ctx.Err()
	}
	gone := ctx.Done()
	if op.durable {
		gone = nil // a nil channel: never ready
	}
	select {
	case <-op.done:
		return op.err
	case <-gone:
		return ctx.Err()
	case <-c.done:
		// The committer stopped (Close) after taking its last operations;
		// one queued later is never run.
		select {
		case <-op.done:
			return op.err
		default:
			return errNotOpen
		}
	}
}

// queue adds a queued record to the pending list and wakes the committer.
func (c *committer) queue(op *writeOp) error {
	select {
	case <-c.quit:
		return errNotOpen
	default:
	}
	c.pendMu.Lock()
	if len(c.pending) >= maxPending {
		c.pendMu.Unlock()
		return maskcall.Errorf(maskcall.ESTORE, "Too many call records are waiting for the database.")
	}
	c.pending = append(c.pending, op)
	c.pendMu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return nil
}

// takePending moves up to n pending records to batch and reports whether
// the list is now empty.
func (c *committer) takePending(batch []*writeOp, n int) ([]*writeOp, bool) {
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	k := min(n, len(c.pending))
	batch = append(batch, c.pending[:k]...)
	clear(c.pending[:k])
	c.pending = c.pending[k:]
	if len(c.pending) == 0 {
		c.pending = nil // let the backing array go
	}
	return batch, len(c.pending) == 0
}

// releaseJournal removes the journal files whose records all committed,
// the current one too once it is journalIdleRotate old and all of it
// committed: the records' numbers stay in a journal no longer than the
// call records need it. It runs between batches: a record numbered up to
// the journal's last is then either written or still pending (it is
// queued before its number is published).
func (c *committer) releaseJournal() {
	upTo := c.journal.lastSeq()
	c.pendMu.Lock()
	for _, op := range c.pending {
		if op.seq != 0 && op.seq <= upTo {
			upTo = op.seq - 1
		}
	}
	c.pendMu.Unlock()
	c.journal.release(upTo, journalIdleRotate)
}

// journalIdleRotate is how long a journal file may hold records that all
// committed before it is replaced by a new one (and removed).
const journalIdleRotate = time.Second

// journalBacklog is how many journaled records may wait for the committer
// before answers wait for theirs: about a batch, so the backlog stays
// bounded when answers come faster than records commit (the committer is
// one goroutine), and the creates and events queued behind it run within a
// batch or two. (Half of that gave 13 % fewer answers in an A/B; no bound
// let the backlog grow without end and starved the API's creates: 22 a
// second.)
const journalBacklog = maxBatch

// pendingFull reports whether QueueCall must refuse a record.
func (c *committer) pendingFull() bool {
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	return len(c.pending) >= maxPending
}

// requeue puts records that failed back at the front of the pending list,
// in their order.
func (c *committer) requeue(ops []*writeOp) {
	c.pendMu.Lock()
	c.pending = append(ops[:len(ops):len(ops)], c.pending...)
	c.pendMu.Unlock()
	c.retried.Add(int64(len(ops)))
}

func (c *committer) hasPending() bool {
	c.pendMu.Lock()
	defer c.pendMu.Unlock()
	return len(c.pending) > 0
}

func (c *committer) run() {
	defer close(c.done)
	var carry []*writeOp // channel operations waiting for the pending list to drain
	backoff := time.Duration(0)
	quitting := false
	for {
		if len(carry) == 0 && !c.hasPending() {
			if quitting {
				select {
				case op := <-c.ops:
					carry = append(carry, op)
				default:
					return
				}
			} else {
				// An idle server's journal is let go after a while too
				// (numbers in it outlive nothing they were written for).
				var idle *time.Timer
				var fired <-chan time.Time
				if c.journal != nil && c.journal.holdsRecords() {
					idle = time.NewTimer(journalIdleRotate)
					fired = idle.C
				}
				stop := func() {
					if idle != nil {
						idle.Stop()
					}
				}
				select {
				case op := <-c.ops:
					stop()
					carry = append(carry, op)
				case <-c.wake:
					stop()
				case <-fired:
					c.releaseJournal()
					continue
				case <-c.quit:
					stop()
					// Commit what is queued, then stop.
					quitting = true
					continue
				}
			}
		}
		// The channel's operations first, then the pending records: every
		// record queued before one of these operations is in the list
		// by now (see the top of the file).
	fill:
		for len(carry) < maxBatch {
			select {
			case op := <-c.ops:
				carry = append(carry, op)
			default:
				break fill
			}
		}
		batch, drained := c.takePending(make([]*writeOp, 0, maxBatch+len(carry)), maxBatch)
		if drained {
			batch = append(batch, carry...)
			clear(carry)
			carry = carry[:0]
		}
		retry := c.commit(batch)
		c.checkpointSoon()
		if c.journal != nil && len(retry) == 0 {
			c.releaseJournal()
		}
		if c.truncateWanted.Load() {
			// Readers may hold it up: then the next batch tries again.
			c.truncates.Add(1)
			if truncateWAL(c.db.wdb) || !walOverBound(c.db.path) {
				c.truncateWanted.Store(false)
			}
		}
		if len(retry) == 0 {
			backoff = 0
			if len(batch) >= lingerFrom && len(carry) == 0 && c.journal != nil && !quitting {
				op, quit := c.linger()
				if op != nil {
					carry = append(carry, op)
				}
				quitting = quit
			}
			continue
		}
		if quitting {
			// One last try failed: the store is not writable now.
			for _, op := range retry {
				op.finish(c)
			}
			continue
		}
		c.requeue(retry)
		backoff = min(max(2*backoff, minRetryBackoff), maxRetryBackoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-c.quit:
			t.Stop()
			quitting = true
		}
	}
}

// commit runs batch in one transaction and reports to each operation,
// but for the queued records that failed in a way a retry may mend: those
// it returns, unreported.
func (c *committer) commit(batch []*writeOp) (retry []*writeOp) {
	defer func() {
		for _, op := range batch {
			if op.queued && op.err != nil && !op.clean {
				retry = append(retry, op)
				continue
			}
			op.finish(c)
		}
	}()
	live := batch[:0:0]
	for _, op := range batch {
		if err := op.ctx.Err(); err != nil {
			op.err = err // its caller has gone
			continue
		}
		live = append(live, op)
	}
	if len(live) == 0 || c.run1(live) || len(live) == 1 {
		return nil
	}
	// An operation failed in a way that may have left part of it behind:
	// the transaction was rolled back. Each operation goes again alone.
	for _, op := range live {
		c.run1([]*writeOp{op})
	}
	return nil
}

// run1 runs ops in one transaction and commits it. It reports false, with
// nothing committed, if an operation of several failed uncleanly.
func (c *committer) run1(ops []*writeOp) bool {
	// Statements run without a cancellable context: a caller that gives up
	// must not interrupt the others' transaction (and the driver would
	// start a goroutine per statement to watch for it).
	ctx := context.Background()
	durable := false
	for _, op := range ops {
		durable = durable || op.durable
	}
	if durable && c.db.FastCommits {
		// The write pool is the one connection: this commit, and so every
		// grouped commit before it in the WAL, is fsynced.
		if _, err := c.db.wdb.ExecContext(ctx, `PRAGMA synchronous = FULL`); err != nil {
			for _, op := range ops {
				op.err, op.clean = formatError(err), false
			}
			return true
		}
		// Should this fail the connection stays at FULL: slower, never less safe.
		defer c.db.wdb.ExecContext(ctx, `PRAGMA synchronous = NORMAL`)
	}
	tx, err := c.db.beginGroupWrite(ctx, time.Time{})
	if err != nil {
		for _, op := range ops {
			op.err, op.clean = err, false
		}
		return true
	}
	defer tx.Rollback()
	c.batches.Add(1)
	c.ran.Add(int64(len(ops)))
	tx.w = &c.stmts
	tx.publish = slices.ContainsFunc(ops, func(op *writeOp) bool { return !op.keepsRoutes })
	ok, start := 0, 0
	// Records queued by QueueCall come first in a batch: with no callback
	// target anywhere (so no call.started events to write), they go in
	// statements of callRowsPerInsert rows, the rest one by one.
	if n := leadingCalls(ops); n >= callRowsPerInsert {
		if anywhere, err := anyTarget(ctx, tx); err == nil && !anywhere {
			for start+callRowsPerInsert <= n {
				chunk := ops[start : start+callRowsPerInsert]
				if err := insertCalls(ctx, tx, chunk); err != nil {
					var ce *cleanError
					if errors.As(clean(formatError(err)), &ce) {
						break // nothing of it written: these go one by one
					}
					return false
				}
				for _, op := range chunk {
					op.err, op.clean = nil, false
				}
				ok += len(chunk)
				start += len(chunk)
			}
		}
	}
	for _, op := range ops[start:] {
		var err error
		if op.durable && len(ops) > 1 {
			err = runInSavepoint(ctx, tx, op.fn)
		} else {
			err = op.fn(ctx, tx)
		}
		op.clean = false
		var ce *cleanError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ce):
			err, op.clean = ce.err, true
		case len(ops) > 1:
			return false
		}
		op.err = err
	}
	if ok == 0 {
		return true
	}
	if err := tx.Commit(); err != nil {
		for _, op := range ops {
			if op.err == nil || op.clean {
				// Nothing of the transaction was written.
				op.err, op.clean = err, false
			}
		}
	}
	return true
}

// runInSavepoint runs fn inside a savepoint of tx: on failure what fn
// wrote is undone and the error is clean, unless undoing it failed too (an
// I/O error that ended the transaction), when it is returned as it is.
func runInSavepoint(ctx context.Context, tx *Tx, fn func(ctx context.Context, tx *Tx) error) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT op`); err != nil {
		return formatError(err)
	}
	err := fn(ctx, tx)
	if err == nil {
		if _, err := tx.ExecContext(ctx, `RELEASE op`); err != nil {
			return formatError(err)
		}
		return nil
	}
	var ce *cleanError
	if errors.As(err, &ce) {
		err = ce.err
	}
	if _, rerr := tx.ExecContext(ctx, `ROLLBACK TO op`); rerr != nil {
		return err
	}
	if _, rerr := tx.ExecContext(ctx, `RELEASE op`); rerr != nil {
		return err
	}
	return &cleanError{err}
}

// cleanError marks an operation's error that left nothing written: the
// transaction it ran in can go on and commit the others' writes.
type cleanError struct{ err error }

func (e *cleanError) Error() string { return e.err.Error() }
func (e *cleanError) Unwrap() error { return e.err }

// clean marks err (if not nil) as a failure that wrote nothing, when it is
// one: a validation error, or a constraint failure (SQLite undoes just the
// failed statement). Any other SQLite error (I/O, full disk, out of memory)
// may have rolled back the whole transaction, so it is left unclean and the
// batch is retried one operation at a time.
func clean(err error) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		if se.Code()&0xff != sqlite3.SQLITE_CONSTRAINT {
			return err
		}
	} else if !errors.As(err, new(*maskcall.Error)) {
		return err
	}
	return &cleanError{err}
}

// QueueCall queues c's record as CreateCall would write it, to be written
// as soon as the store allows and before any write queued after it, and
// waits up to wait (or until ctx ends) for it to be written. It reports
// whether it was; an error is CreateCall's (EINVALID, ENOTFOUND: the record
// is not queued) or ESTORE if too many records are already waiting. If it
// returns false with no error, the record stays queued and later (if not
// nil) is called once with its outcome: nil once written, or the error
// that refused it (a conversation deleted meanwhile; errNotOpen if the
// store closed while the database was still locked).
func (db *DB) QueueCall(ctx context.Context, c *maskcall.Call, now time.Time, wait time.Duration, later func(error)) (bool, error) {
	if db.w == nil {
		return false, errNotOpen
	}
	if err := validateCall(c); err != nil {
		return false, err
	}
	if build.DiscardCallRecords {
		return true, nil // an experiment's binary (internal/build/discard_on.go)
	}
	op := &writeOp{ctx: context.Background(), done: make(chan struct{}), queued: true, later: later,
		call: c, callNow: now, keepsRoutes: true,
		fn: func(ctx context.Context, tx *Tx) error { return createCall(ctx, tx, c, now) }}
	if j := db.journal; j != nil {
		// The record is safe once journaled: the call is answered now and
		// its outcome goes to later.
		op.state.Store(opGaveUp)
		err := j.append(c, now, func() error {
			if db.w.pendingFull() {
				return maskcall.Errorf(maskcall.ESTORE, "Too many call records are waiting for the database.")
			}
			return nil
		}, func(seq uint64) error {
			op.seq = seq
			db.w.journalWaiting.Add(1)
			if err := db.w.queue(op); err != nil {
				op.seq = 0
				db.w.journalWaiting.Add(-1)
				return err
			}
			return nil
		})
		if err != nil {
			return false, err
		}
		if db.w.journalWaiting.Load() > journalBacklog {
			// The committer is behind: this answer waits for its record
			// as it would without the journal, so answers slow down to
			// what the database takes instead of piling up records (and
			// keeping creates and events, which run once the records
			// queued before them are written, waiting).
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-op.done:
			case <-t.C:
			case <-ctx.Done():
			}
		}
		return true, nil
	}
	if err := db.w.queue(op); err != nil {
		return false, err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-op.done:
		return op.err == nil, op.err
	case <-t.C:
	case <-ctx.Done():
	}
	if op.state.CompareAndSwap(opWaiting, opGaveUp) {
		return false, nil
	}
	<-op.done // finished just now
	return op.err == nil, op.err
}

// QueuedCalls reports how many queued call records are waiting to be
// written, and how many write attempts of queued records failed and were
// retried so far.
func (db *DB) QueuedCalls() (waiting int, retried int64) {
	if db.w == nil {
		return 0, 0
	}
	db.w.pendMu.Lock()
	waiting = len(db.w.pending)
	db.w.pendMu.Unlock()
	return waiting, db.w.retried.Load()
}

// GroupCommitStats reports how many write transactions the group commit
// has committed and how many operations (calls and events) they held.
func (db *DB) GroupCommitStats() (transactions, operations int64) {
	if db.w == nil {
		return 0, 0
	}
	return db.w.batches.Load(), db.w.ran.Load()
}
