package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Calls are interactions of kind 'call'. Messages will be another kind in
// the same log.
const kindCall = "call"

const (
	// callByUUIDQuery finds a call by its (inbound leg's) uuid
	// (interactions' unique index on uuid).
	callByUUIDQuery = `SELECT ` + callColumns + ` FROM interactions
		WHERE uuid = ? AND kind = 'call'`
	// legacyCallByConversationUUIDQuery finds the call an outbound leg
	// belongs to when its events do not name it: a call recorded before
	// migration 0020, the only ones with a conversation_uuid
	// (interactions_conversation_uuid_idx).
	legacyCallByConversationUUIDQuery = `SELECT ` + callColumns + ` FROM interactions
		WHERE conversation_uuid = ? AND conversation_uuid <> '' AND kind = 'call'
		ORDER BY id LIMIT 1`
	// callsQuery lists a conversation's calls, oldest first
	// (interactions_conversation_idx).
	callsQuery = `SELECT ` + callColumns + ` FROM interactions
		WHERE conversation_id = ? AND kind = 'call'
		ORDER BY created_at, id`
)

// CreateCall records an inbound call routed for a conversation. Creating a
// call whose UUID exists changes nothing. EINVALID without a UUID or
// conversation; ENOTFOUND if the conversation does not exist.
//
// It is committed together with the other calls and events queued
// meanwhile (group commit, see writer.go) and returns once committed.
func (db *DB) CreateCall(ctx context.Context, c *maskcall.Call, now time.Time) error {
	if db.w == nil {
		return errNotOpen
	}
	if err := validateCall(c); err != nil {
		return err
	}
	return db.w.write(ctx, func(ctx context.Context, tx *Tx) error { return createCall(ctx, tx, c, now) })
}

// RecordCallEvent stores ev once and advances its call with
// maskcall.NextCallStatus. The event belongs to the call whose UUID is
// ev.UUID or, for the outbound leg, the call ev.CallUUID names (see
// findCallForEvent); it reports false, storing nothing, if none matches.
//
// A retried event (same leg uuid, status and timestamp) is stored once and
// changes nothing the second time. Because events arrive out of order, the
// call keeps the earliest start and the latest end it has heard of (from
// the events' start and end times, the answered event's timestamp for the
// start and a terminal event's timestamp for the end), and the longest
// duration of a completed event.
//
// Like CreateCall it is group-committed and returns once committed, and
// events are written in the order they were queued, after the calls queued
// before them.
func (db *DB) RecordCallEvent(ctx context.Context, ev maskcall.CallEvent, now time.Time) (bool, error) {
	if db.w == nil {
		return false, errNotOpen
	}
	var ok bool
	err := db.w.writeKeepingRoutes(ctx, func(ctx context.Context, tx *Tx) (err error) {
		ok, err = recordCallEvent(ctx, tx, ev, now)
		return err
	})
	if err != nil {
		return false, err
	}
	return ok, nil
}

// FindCalls lists a conversation's calls, oldest first.
func (db *DB) FindCalls(ctx context.Context, conversationID string) ([]*maskcall.Call, error) {
	return read(ctx, db, time.Time{}, func(tx *Tx) ([]*maskcall.Call, error) { return findCalls(ctx, tx, conversationID, false) })
}

// FindActiveCalls lists a conversation's calls that are not over (whose
// status is not terminal), oldest first.
func (db *DB) FindActiveCalls(ctx context.Context, conversationID string) ([]*maskcall.Call, error) {
	return read(ctx, db, time.Time{}, func(tx *Tx) ([]*maskcall.Call, error) { return findCalls(ctx, tx, conversationID, true) })
}

// callColumns reads a call's conversation uuid from whichever column holds
// it (migration 0020: the other is empty).
const callColumns = `id, uuid, max(conversation_uuid, named_conversation_uuid), conversation_id, from_number, to_number, status, duration, started_at, ended_at`

// scanCall reads a call and its interaction id.
func scanCall(s interface{ Scan(...any) error }) (int64, *maskcall.Call, error) {
	var id int64
	var c maskcall.Call
	var startedAt, endedAt sql.NullString
	if err := s.Scan(&id, &c.UUID, &c.ConversationUUID, &c.ConversationID, &c.From, &c.To, &c.Status,
		&c.Duration, &startedAt, &endedAt); err != nil {
		return 0, nil, err
	}
	var err error
	if c.StartedAt, err = parseNullTime(startedAt); err != nil {
		return 0, nil, err
	}
	if c.EndedAt, err = parseNullTime(endedAt); err != nil {
		return 0, nil, err
	}
	return id, &c, nil
}

// The statements of the grouped writes, prepared on the write connection
// (writeStmts).
const (
	// named_conversation_uuid: the answer's connect action named the call
	// in its eventUrl (internal/webhook's NCCO), so its events find it by
	// uuid, and its conversation uuid stays out of conversation_uuid's
	// index (migration 0020).
	insertCallStmt = `INSERT INTO interactions
		(kind, conversation_id, uuid, named_conversation_uuid, from_number, to_number, status, duration, started_at, ended_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (uuid) DO NOTHING`
	// A zero timestamp is stored as such, so a retry still matches it.
	insertEventStmt = `INSERT INTO interaction_events
		(interaction_id, uuid, status, timestamp, direction, from_number, to_number, duration, start_time, end_time, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (interaction_id, uuid, status, timestamp) DO NOTHING`
	updateCallStmt = `UPDATE interactions
		SET status = ?, duration = ?, started_at = ?, ended_at = ?
		WHERE id = ?`
)

// callRowsPerInsert is how many call records one insertCallsStmt writes.
const callRowsPerInsert = 32

// insertCallsStmt is insertCallStmt for callRowsPerInsert records: one
// statement, one pass of the VM, where a batch of records used to pay
// database/sql's and the VM's setup for each.
var insertCallsStmt = func() string {
	var b strings.Builder
	b.WriteString(`INSERT INTO interactions
		(kind, conversation_id, uuid, named_conversation_uuid, from_number, to_number, status, duration, started_at, ended_at, created_at)
		VALUES `)
	for i := range callRowsPerInsert {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	}
	b.WriteString(" ON CONFLICT (uuid) DO NOTHING")
	return b.String()
}()

// leadingCalls counts the QueueCall records at the head of ops.
func leadingCalls(ops []*writeOp) int {
	n := 0
	for n < len(ops) && ops[n].call != nil && !ops[n].durable {
		n++
	}
	return n
}

// insertCalls writes the records of callRowsPerInsert QueueCall ops in one
// statement, as createCall writes each when no callback target exists (a
// record already there is skipped). If it fails, SQLite undid the whole
// statement.
func insertCalls(ctx context.Context, tx *Tx, ops []*writeOp) error {
	args := make([]any, 0, 11*len(ops))
	for _, op := range ops {
		c := op.call
		args = append(args, kindCall, c.ConversationID, c.UUID, c.ConversationUUID, c.From, c.To, c.Status, c.Duration,
			nullTime(c.StartedAt), nullTime(c.EndedAt), formatTime(op.callNow))
	}
	_, err := tx.exec(ctx, tx.w.insertCalls, insertCallsStmt, args...)
	return err
}

func validateCall(c *maskcall.Call) error {
	if c.UUID == "" {
		return maskcall.Errorf(maskcall.EINVALID, "A call needs a uuid.")
	} else if c.ConversationID == "" {
		return maskcall.Errorf(maskcall.EINVALID, "Call %s needs a conversation.", c.UUID)
	}
	return nil
}

// createCall inserts c. It is one statement, so a failure writes nothing
// and is reported clean (writer.go). The conversation's existence is
// checked by the foreign key, in the same lookup the insert makes anyway.
func createCall(ctx context.Context, tx *Tx, c *maskcall.Call, now time.Time) error {
	if err := validateCall(c); err != nil {
		return clean(err)
	}
	res, err := tx.exec(ctx, tx.w.insertCall, insertCallStmt,
		kindCall, c.ConversationID, c.UUID, c.ConversationUUID, c.From, c.To, c.Status, c.Duration,
		nullTime(c.StartedAt), nullTime(c.EndedAt), formatTime(now))
	if err := formatError(err); err != nil {
		var se *sqlite.Error
		if errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
			err = &maskcall.Error{Code: maskcall.ENOTFOUND, Err: err, Message: "Conversation " + c.ConversationID + " not found."}
		}
		return clean(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return formatError(err) // a call recorded before reports nothing again
	}
	// From here a failure is not clean: the call row is written.
	p, url, ok, err := callParty(ctx, tx, c)
	if err != nil || !ok {
		return err
	}
	return insertCallback(ctx, tx, maskcall.CallStartedEvent(c, p, now), url, "")
}

// findCallForEvent returns the call ev belongs to and its interaction id;
// nil if none (maskcall.FindEventCall; the older calls are those recorded
// before migration 0020).
func findCallForEvent(ctx context.Context, tx *Tx, ev maskcall.CallEvent) (int64, *maskcall.Call, error) {
	return maskcall.FindEventCall(ev,
		func(uuid string) (int64, *maskcall.Call, error) {
			return lookupCall(tx.queryRow(ctx, tx.w.callByUUID, callByUUIDQuery, uuid))
		},
		func(conversationUUID string) (int64, *maskcall.Call, error) {
			return lookupCall(tx.queryRow(ctx, tx.w.legacyCallByConvUUID, legacyCallByConversationUUIDQuery, conversationUUID))
		})
}

// lookupCall scans the call row reads and its interaction id; nil if none.
func lookupCall(row *sql.Row) (int64, *maskcall.Call, error) {
	id, c, err := scanCall(row)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	} else if err != nil {
		return 0, nil, formatError(err)
	}
	return id, c, nil
}

func recordCallEvent(ctx context.Context, tx *Tx, ev maskcall.CallEvent, now time.Time) (bool, error) {
	// Until the UPDATE nothing is written but by the INSERT, one
	// statement: failures up to it are clean (writer.go).
	id, c, err := findCallForEvent(ctx, tx, ev)
	if err != nil {
		return false, clean(err)
	} else if c == nil {
		return false, nil
	}

	res, err := tx.exec(ctx, tx.w.insertEvent, insertEventStmt,
		id, ev.UUID, ev.Status, formatTime(ev.Timestamp), ev.Direction, ev.From, ev.To, ev.Duration,
		nullTime(ev.StartTime), nullTime(ev.EndTime), formatTime(now))
	if err != nil {
		return false, clean(formatError(err))
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, formatError(err)
	} else if n == 0 {
		return true, nil // seen before
	}

	from := c.Status
	c.Status = maskcall.NextCallStatus(c.Status, ev.Status)
	if ev.Status == "completed" && ev.Duration > c.Duration {
		c.Duration = ev.Duration
	}
	start := ev.StartTime
	if start == nil && ev.Status == "answered" && !ev.Timestamp.IsZero() {
		start = &ev.Timestamp
	}
	c.StartedAt = earliest(c.StartedAt, start)
	end := ev.EndTime
	if end == nil && maskcall.IsTerminalCallStatus(ev.Status) && !ev.Timestamp.IsZero() {
		end = &ev.Timestamp
	}
	c.EndedAt = latest(c.EndedAt, end)

	if _, err := tx.exec(ctx, tx.w.updateCall, updateCallStmt,
		c.Status, c.Duration, nullTime(c.StartedAt), nullTime(c.EndedAt), id); err != nil {
		return false, formatError(err)
	}
	if from == c.Status {
		return true, nil
	}
	if maskcall.CallTransitionType(from, c.Status) != "" {
		p, url, ok, err := callParty(ctx, tx, c)
		if err != nil || !ok {
			return true, err
		}
		return true, insertCallback(ctx, tx, maskcall.CallTransitionEvent(c, p, from, c.Status, c.Duration, now), url, "")
	}
	return true, nil
}

func earliest(a, b *time.Time) *time.Time {
	if a == nil || (b != nil && b.Before(*a)) {
		return b
	}
	return a
}

func latest(a, b *time.Time) *time.Time {
	if a == nil || (b != nil && b.After(*a)) {
		return b
	}
	return a
}

func findCalls(ctx context.Context, tx *Tx, conversationID string, activeOnly bool) ([]*maskcall.Call, error) {
	rows, err := tx.QueryContext(ctx, callsQuery, conversationID)
	if err != nil {
		return nil, formatError(err)
	}
	defer rows.Close()
	calls := []*maskcall.Call{}
	for rows.Next() {
		_, c, err := scanCall(rows)
		if err != nil {
			return nil, formatError(err)
		}
		if activeOnly && maskcall.IsTerminalCallStatus(c.Status) {
			continue
		}
		calls = append(calls, c)
	}
	return calls, formatError(rows.Err())
}
