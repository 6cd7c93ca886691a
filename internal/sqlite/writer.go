package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

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
// Nothing waits for a batch to fill: under light load a batch is one
// operation and is committed at once, as before. Durability and order are
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

// maxBatch bounds the operations committed together, so one transaction
// never keeps the write lock from the CLI for long.
const maxBatch = 256

// writeOp is one queued write.
type writeOp struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *Tx) error
	err  error
	done chan struct{}
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
}

// writeStmts are the grouped writes' statements, prepared once on the
// write connection.
type writeStmts struct {
	insertCall                 *sql.Stmt
	callByUUID, callByConvUUID *sql.Stmt
	insertEvent, updateCall    *sql.Stmt
}

func (s *writeStmts) prepare(ctx context.Context, db *sql.DB) error {
	for _, p := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&s.insertCall, insertCallStmt},
		{&s.callByUUID, callByUUIDQuery},
		{&s.callByConvUUID, callByConversationUUIDQuery},
		{&s.insertEvent, insertEventStmt},
		{&s.updateCall, updateCallStmt},
	} {
		st, err := db.PrepareContext(ctx, p.query)
		if err != nil {
			return err
		}
		*p.dst = st
	}
	return nil
}

func (s *writeStmts) close() {
	for _, st := range []*sql.Stmt{s.insertCall, s.callByUUID, s.callByConvUUID, s.insertEvent, s.updateCall} {
		if st != nil {
			st.Close()
		}
	}
}

func newCommitter(db *DB) (*committer, error) {
	c := &committer{db: db, ops: make(chan *writeOp, maxBatch), quit: make(chan struct{}), done: make(chan struct{})}
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
// raising the write connection's automatic checkpoint to a backstop) the
// first time. It runs on the committer's goroutine, between transactions.
func (c *committer) checkpointSoon() {
	if !c.ckptStarted {
		c.ckptStarted = true
		ck, err := startCheckpointer(c.db)
		if err != nil {
			return // the write connection keeps checkpointing itself
		}
		if _, err := c.db.wdb.ExecContext(context.Background(), fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, walBackstopPages)); err != nil {
			ck.close()
			return
		}
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
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case c.ops <- op:
	case <-c.quit:
		return errNotOpen
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-op.done:
		return op.err
	case <-ctx.Done():
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

func (c *committer) run() {
	defer close(c.done)
	batch := make([]*writeOp, 0, maxBatch)
	for {
		select {
		case op := <-c.ops:
			batch = append(batch[:0], op)
		case <-c.quit:
			// Commit what is queued, then refuse.
			for {
				select {
				case op := <-c.ops:
					c.commit([]*writeOp{op})
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case op := <-c.ops:
				batch = append(batch, op)
			default:
				break fill
			}
		}
		c.commit(batch)
		clear(batch)
		c.checkpointSoon()
	}
}

// commit runs batch in one transaction and reports to each operation.
func (c *committer) commit(batch []*writeOp) {
	defer func() {
		for _, op := range batch {
			close(op.done)
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
		return
	}
	// An operation failed in a way that may have left part of it behind:
	// the transaction was rolled back. Each operation goes again alone.
	for _, op := range live {
		c.run1([]*writeOp{op})
	}
}

// run1 runs ops in one transaction and commits it. It reports false, with
// nothing committed, if an operation of several failed uncleanly.
func (c *committer) run1(ops []*writeOp) bool {
	// Statements run without a cancellable context: a caller that gives up
	// must not interrupt the others' transaction (and the driver would
	// start a goroutine per statement to watch for it).
	ctx := context.Background()
	tx, err := c.db.beginWrite(ctx, time.Time{})
	if err != nil {
		for _, op := range ops {
			op.err = err
		}
		return true
	}
	defer tx.Rollback()
	c.batches.Add(1)
	c.ran.Add(int64(len(ops)))
	tx.w = &c.stmts
	ok := 0
	for _, op := range ops {
		err := op.fn(ctx, tx)
		var ce *cleanError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ce):
			err = ce.err
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
			if op.err == nil {
				op.err = err
			}
		}
	}
	return true
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

// GroupCommitStats reports how many write transactions the group commit
// has committed and how many operations (calls and events) they held.
func (db *DB) GroupCommitStats() (transactions, operations int64) {
	if db.w == nil {
		return 0, 0
	}
	return db.w.batches.Load(), db.w.ran.Load()
}
