package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maskcall/maskcall/internal/build"
	"github.com/maskcall/maskcall/internal/maskcall"
)

// Group commit of call records (QueueCall).
//
// Every answered call is recorded before its NCCO goes out. Written one by
// one (CreateCall), concurrent answers each pay a statement, a commit and
// a WAL flush. The batcher writes them together instead: one goroutine
// takes every record queued while the previous batch was being written (up
// to maxCallBatch) and writes them all in one statement, which PostgreSQL
// commits at once, then tells each caller. As SQLite's group commit
// (internal/sqlite/writer.go), nothing waits for a batch to fill: under
// light load a batch is one record; and nothing is acknowledged before the
// statement holding it has committed.
//
// A record that fails must not take the others down: if the batch
// statement fails (one call's conversation was deleted meanwhile, say), no
// row of it was written, and each record is written again alone
// (createCall), so only the bad one fails, with CreateCall's error.
//
// While the server is unreachable (ESTORE) a record is tried again, as
// CreateCall would be, until unavailableRetryFor has passed since it was
// queued; then it fails ESTORE, unless its caller stopped waiting (the
// call was connected): such a record is retried until it is written, as
// SQLite's are.
//
// Order: on PostgreSQL a call's events are recorded in transactions of
// their own (RecordCallEvent), not through this queue. Vonage sends them
// only after the NCCO, which goes out after QueueCall reported the record
// written, so the call is there. The exception is SQLite's too: a caller
// that stopped waiting (the database slow or unreachable for longer than
// its wait) connects the call with its record still queued, and an event
// arriving before the record is written finds no call and is not stored.

// maxCallBatch bounds the records written in one statement.
const maxCallBatch = 256

// maxQueuedCalls bounds the records queued and not yet written; past it
// QueueCall refuses (ESTORE).
const maxQueuedCalls = 1 << 16

// batchTimeout bounds one batch statement: a server that stopped answering
// without closing the connection counts as unreachable.
const batchTimeout = 5 * time.Second

// queuedCall is one call record waiting for the batcher.
type queuedCall struct {
	c      *maskcall.Call
	now    time.Time
	queued time.Time // for the outage retry bound
	err    error
	done   chan struct{}
	// state of its caller: callWaiting, callGaveUp (later reports the
	// outcome), callFinished.
	state atomic.Int32
	later func(error)
}

const (
	callWaiting int32 = iota
	callGaveUp
	callFinished
)

// finish reports q's outcome: to its waiting caller, or to later if the
// caller stopped waiting.
func (q *queuedCall) finish(err error) {
	q.err = err
	if !q.state.CompareAndSwap(callWaiting, callFinished) && q.later != nil {
		q.later(err)
	}
	close(q.done)
}

// callQueue is the queue of call records and the batcher that writes them.
type callQueue struct {
	db *DB

	mu      sync.Mutex
	pending []*queuedCall
	closed  bool // Close was called: no more records are taken
	wake    chan struct{}
	quit    chan struct{} // closed by close
	done    chan struct{}

	// Batch statements run and records they held (CallQueueStats).
	batches, calls atomic.Int64
}

func startCallQueue(db *DB) *callQueue {
	q := &callQueue{db: db, wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go q.run()
	return q
}

// close stops taking records and returns once those queued are written
// (or failed).
func (q *callQueue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.quit)
	}
	q.mu.Unlock()
	q.poke()
	<-q.done
}

func (q *callQueue) poke() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *callQueue) add(r *queuedCall) error {
	q.mu.Lock()
	switch {
	case q.closed:
		q.mu.Unlock()
		return errNotOpen
	case len(q.pending) >= maxQueuedCalls:
		q.mu.Unlock()
		return maskcall.Errorf(maskcall.ESTORE, "Too many call records are waiting for the database.")
	}
	q.pending = append(q.pending, r)
	q.mu.Unlock()
	q.poke()
	return nil
}

// take moves up to maxCallBatch records, oldest first, into a batch; it
// also reports whether the queue is closed.
func (q *callQueue) take() ([]*queuedCall, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := min(maxCallBatch, len(q.pending))
	batch := make([]*queuedCall, k)
	copy(batch, q.pending)
	clear(q.pending[:k])
	q.pending = q.pending[k:]
	if len(q.pending) == 0 {
		q.pending = nil // let the backing array go
	}
	return batch, q.closed
}

// requeue puts records back at the front of the queue, in their order.
func (q *callQueue) requeue(rs []*queuedCall) {
	q.mu.Lock()
	q.pending = append(rs[:len(rs):len(rs)], q.pending...)
	q.mu.Unlock()
}

func (q *callQueue) run() {
	defer close(q.done)
	outages := 0
	for {
		batch, closed := q.take()
		if len(batch) == 0 {
			if closed {
				return
			}
			<-q.wake
			continue
		}
		retry := q.write(batch)
		if len(retry) == 0 {
			outages = 0
			continue
		}
		if closed {
			// Close: one last try failed, the server is not there.
			for _, r := range retry {
				r.finish(r.err)
			}
			continue
		}
		q.requeue(retry)
		outages++
		// Wait for the server as retryUnavailable does; Close cuts it short
		// for the last try.
		t := time.NewTimer(outageWait(outages))
		select {
		case <-t.C:
		case <-q.quit:
			t.Stop()
		}
	}
}

// write writes batch and reports each record's outcome, but for those that
// failed because the server is unreachable and may be retried: those it
// returns, their error in err, unreported.
func (q *callQueue) write(batch []*queuedCall) (retry []*queuedCall) {
	errs := make([]error, len(batch))
	if err := q.writeBatch(batch); err != nil {
		if maskcall.ErrorCode(err) == maskcall.ESTORE {
			for i := range errs {
				errs[i] = err
			}
		} else {
			// Nothing of the batch was written: each record alone, so only
			// the one at fault fails, and with CreateCall's error (a
			// missing conversation is ENOTFOUND).
			for i, r := range batch {
				errs[i] = q.writeOne(r)
			}
		}
	}
	for i, r := range batch {
		err := errs[i]
		// A caller still waiting gets ESTORE after unavailableRetryFor (its
		// call is then not connected: 503); a record whose caller stopped
		// waiting belongs to a connected call and is retried until the
		// server is back, never dropped for an outage.
		if maskcall.ErrorCode(err) == maskcall.ESTORE && (time.Since(r.queued) < unavailableRetryFor || r.state.Load() == callGaveUp) {
			r.err = err
			retry = append(retry, r)
			continue
		}
		r.finish(err)
	}
	return retry
}

// writeOne writes r alone, as CreateCall does (one try).
func (q *callQueue) writeOne(r *queuedCall) error {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	return timeoutUnavailable(ctx, q.db.createCall(ctx, r.c, r.now))
}

// createCallsStmt is createCallStmt for many calls in one statement: the
// calls come as one array per column, unnested into rows (n is a call's
// place in the batch). A uuid repeated in the batch is written once, as
// its first call; a call recorded before inserts nothing, event included.
// Each inserted call whose conversation has a callback target gets its
// call.started event, completed from the conversation's rows as
// createCallStmt completes it. The statement commits as a whole or not at
// all.
const createCallsStmt = `WITH v AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
			$7::integer[], $8::timestamptz[], $9::timestamptz[], $10::timestamptz[],
			$11::text[], $12::text[], $13::text[], $14::timestamptz[])
		WITH ORDINALITY AS v(conversation_id, uuid, conversation_uuid, from_number, to_number, status,
			duration, started_at, ended_at, created_at, ev_id, ev_type, ev_data, retry_until, n)),
	first AS (
		SELECT DISTINCT ON (uuid) * FROM v ORDER BY uuid, n),
	ins AS (
		INSERT INTO interactions
		(kind, conversation_id, uuid, named_conversation_uuid, from_number, to_number, status, duration, started_at, ended_at, created_at)
		SELECT 'call', conversation_id, uuid, conversation_uuid, from_number, to_number, status, duration, started_at, ended_at, created_at
		FROM first ORDER BY n
		ON CONFLICT (uuid) DO NOTHING
		RETURNING uuid),
	cb AS (
		INSERT INTO callbacks (id, type, conversation_id, data, url, state, next_attempt_at, retry_until, created_at, updated_at)
		SELECT f.ev_id, f.ev_type, c.id,
			(f.ev_data::jsonb || jsonb_strip_nulls(jsonb_build_object('ref', NULLIF(c.ref, ''), 'label', NULLIF(p.label, ''), 'position', p.position)))::text,
			c.callback_url, 'pending', f.created_at, f.retry_until, f.created_at, f.created_at
		FROM ins JOIN first AS f ON f.uuid = ins.uuid
		JOIN conversations AS c ON c.id = f.conversation_id
		LEFT JOIN participants AS p ON p.conversation_id = c.id AND p.number = f.from_number AND p.proxy_number = f.to_number
		-- The first test is the whole batch's, evaluated once: with no
		-- callback target anywhere the join is not run at all.
		WHERE ((SELECT global_target FROM callback_settings WHERE id = 1)
				OR EXISTS (SELECT 1 FROM conversations WHERE callback_url <> ''))
			AND (c.callback_url <> '' OR (SELECT global_target FROM callback_settings WHERE id = 1))
		ORDER BY f.n
		RETURNING 1)
	SELECT (SELECT count(*) FROM cb)`

// writeBatch writes batch in one statement (createCallsStmt).
func (q *callQueue) writeBatch(batch []*queuedCall) error {
	n := len(batch)
	var (
		convs, uuids, convUUIDs, froms, tos, statuses = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		durations                                     = make([]int32, n)
		starts, ends                                  = make([]*time.Time, n), make([]*time.Time, n)
		nows, retryUntil                              = make([]time.Time, n), make([]time.Time, n)
		evIDs, evTypes, evData                        = make([]string, n), make([]string, n), make([]string, n)
	)
	for i, r := range batch {
		c := r.c
		ev := maskcall.CallStartedEvent(c, maskcall.CallParty{Position: -1}, ts(r.now))
		data, err := json.Marshal(ev.Data)
		if err != nil {
			return err
		}
		convs[i], uuids[i], convUUIDs[i], froms[i], tos[i], statuses[i] = c.ConversationID, c.UUID, c.ConversationUUID, c.From, c.To, c.Status
		durations[i] = int32(c.Duration)
		starts[i], ends[i], nows[i] = tsPtr(c.StartedAt), tsPtr(c.EndedAt), ts(r.now)
		retryUntil[i] = ts(r.now).Add(maskcall.CallbackRetryWindow)
		evIDs[i], evTypes[i], evData[i] = ev.ID, ev.Type, string(data)
	}
	q.batches.Add(1)
	q.calls.Add(int64(n))
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	var events int
	err := q.db.pool.QueryRow(ctx, createCallsStmt,
		convs, uuids, convUUIDs, froms, tos, statuses, durations, starts, ends, nows, evIDs, evTypes, evData, retryUntil).Scan(&events)
	if err != nil {
		return timeoutUnavailable(ctx, formatError(err))
	}
	if events > 0 {
		q.db.notifyCallback()
	}
	return nil
}

// timeoutUnavailable makes err ESTORE if it came from ctx's deadline: the
// server did not answer in time.
func timeoutUnavailable(ctx context.Context, err error) error {
	if err != nil && maskcall.ErrorCode(err) == maskcall.EINTERNAL && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return unavailable(err)
	}
	return err
}

// QueueCall queues c's record as CreateCall would write it at now, to be
// written with the records queued meanwhile (see the top of this file),
// and waits up to wait (or until ctx ends) for it to be written. It
// reports whether it was; an error is CreateCall's (EINVALID, ENOTFOUND:
// its conversation does not exist), ESTORE if the server stayed
// unreachable or too many records are waiting, or that the store is
// closed. If it returns false with no error, the record stays queued and
// later (if not nil) is called once with its outcome: nil once written,
// or the error that refused it.
func (db *DB) QueueCall(ctx context.Context, c *maskcall.Call, now time.Time, wait time.Duration, later func(error)) (bool, error) {
	if db.pool == nil || db.calls == nil {
		return false, errNotOpen
	}
	if c.UUID == "" {
		return false, maskcall.Errorf(maskcall.EINVALID, "A call needs a uuid.")
	} else if c.ConversationID == "" {
		return false, maskcall.Errorf(maskcall.EINVALID, "Call %s needs a conversation.", c.UUID)
	}
	if build.DiscardCallRecords {
		return true, nil // an experiment's binary (internal/build/discard_on.go)
	}
	cc := *c // the caller's copy may change after it stops waiting
	r := &queuedCall{c: &cc, now: now, queued: time.Now(), done: make(chan struct{}), later: later}
	if err := db.calls.add(r); err != nil {
		return false, err
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-r.done:
		return r.err == nil, r.err
	case <-t.C:
	case <-ctx.Done():
	}
	if r.state.CompareAndSwap(callWaiting, callGaveUp) {
		return false, nil
	}
	<-r.done // finished just now
	return r.err == nil, r.err
}

// CallQueueStats reports how many batch statements the call queue has run
// and how many call records they held.
func (db *DB) CallQueueStats() (batches, calls int64) {
	if db.calls == nil {
		return 0, 0
	}
	return db.calls.batches.Load(), db.calls.calls.Load()
}
