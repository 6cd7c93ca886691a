package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/maskcall/maskcall/internal/maskcall"
)

// Calls are interactions of kind 'call'. Messages will be another kind in
// the same log.
const kindCall = "call"

// callColumns reads a call's conversation uuid from whichever column holds
// it (migration 0021: the other is empty).
const callColumns = `id, uuid, GREATEST(conversation_uuid, named_conversation_uuid), conversation_id, from_number, to_number, status, duration, started_at, ended_at`

// CreateCall records an inbound call routed for a conversation. Creating a
// call whose UUID exists changes nothing. EINVALID without a UUID or
// conversation; ENOTFOUND if the conversation does not exist.
func (db *DB) CreateCall(ctx context.Context, c *maskcall.Call, now time.Time) error {
	if db.pool == nil {
		return errNotOpen
	}
	if c.UUID == "" {
		return maskcall.Errorf(maskcall.EINVALID, "A call needs a uuid.")
	} else if c.ConversationID == "" {
		return maskcall.Errorf(maskcall.EINVALID, "Call %s needs a conversation.", c.UUID)
	}
	// One idempotent statement: retried on a new connection if the server
	// went away, since a call is waiting on it.
	return retryUnavailable(ctx, func() error { return db.createCall(ctx, c, now) })
}

// createCallStmt inserts a call and, in the same statement (one round
// trip on the answer path), its call.started event when the conversation
// has a callback target: the domain's event (ev, built without the
// conversation's facts) gets the ref and the caller's label and position
// from the rows the insert already looks up. A call recorded before
// inserts nothing, event included.
const createCallStmt = `WITH ins AS (
		INSERT INTO interactions
		(kind, conversation_id, uuid, named_conversation_uuid, from_number, to_number, status, duration, started_at, ended_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (uuid) DO NOTHING
		RETURNING conversation_id),
	cb AS (
		INSERT INTO callbacks (id, type, conversation_id, data, url, state, next_attempt_at, retry_until, created_at, updated_at)
		SELECT $12, $13, c.id,
			($14::jsonb || jsonb_strip_nulls(jsonb_build_object('ref', NULLIF(c.ref, ''), 'label', NULLIF(p.label, ''), 'position', p.position)))::text,
			c.callback_url, 'pending', $11, $15, $11, $11
		FROM ins JOIN conversations AS c ON c.id = ins.conversation_id
		LEFT JOIN participants AS p ON p.conversation_id = c.id AND p.number = $5 AND p.proxy_number = $6
		WHERE c.callback_url <> '' OR (SELECT global_target FROM callback_settings WHERE id = 1)
		RETURNING 1)
	SELECT (SELECT count(*) FROM cb)`

func (db *DB) createCall(ctx context.Context, c *maskcall.Call, now time.Time) error {
	ev := maskcall.CallStartedEvent(c, maskcall.CallParty{Position: -1}, ts(now))
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return err
	}
	var events int
	err = db.pool.QueryRow(ctx, createCallStmt,
		kindCall, c.ConversationID, c.UUID, c.ConversationUUID, c.From, c.To, c.Status, c.Duration,
		tsPtr(c.StartedAt), tsPtr(c.EndedAt), ts(now),
		ev.ID, ev.Type, string(data), ts(now).Add(maskcall.CallbackRetryWindow)).Scan(&events)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == codeForeignKeyViolation {
		return &maskcall.Error{Code: maskcall.ENOTFOUND, Err: err, Message: "Conversation " + c.ConversationID + " not found."}
	}
	if err == nil && events > 0 {
		db.notifyCallback()
	}
	return formatError(err)
}

// RecordCallEvent stores ev once and advances its call with
// maskcall.NextCallStatus, exactly as the SQLite store does (see
// sqlite.DB.RecordCallEvent): the event belongs to the call whose UUID is
// ev.UUID or, for the outbound leg, the call ev.CallUUID names (see
// findCallForEvent); it reports false, storing nothing, if none matches.
// The call's row is locked while its event is applied, so events of one
// call arriving at two replicas at once are applied one after the other.
// A call whose record is still queued (QueueCall, its caller stopped
// waiting) is not found yet: the exception callqueue.go describes.
func (db *DB) RecordCallEvent(ctx context.Context, ev maskcall.CallEvent, now time.Time) (bool, error) {
	var ok bool
	// Idempotent: a second run finds the event stored and changes nothing.
	err := db.inIdempotentTx(ctx, now, func(tx *Tx) (err error) {
		tx.routeNeutral = true
		ok, err = recordCallEvent(ctx, tx, ev)
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

// scanCall reads a call and its interaction id.
func scanCall(row pgx.Row) (int64, *maskcall.Call, error) {
	var id int64
	var c maskcall.Call
	if err := row.Scan(&id, &c.UUID, &c.ConversationUUID, &c.ConversationID, &c.From, &c.To, &c.Status,
		&c.Duration, &c.StartedAt, &c.EndedAt); err != nil {
		return 0, nil, err
	}
	c.StartedAt, c.EndedAt = utcPtr(c.StartedAt), utcPtr(c.EndedAt)
	return id, &c, nil
}

// findCallForEvent returns the call ev belongs to and its interaction id,
// its row locked; nil if none (maskcall.FindEventCall, as in the SQLite
// store; the older calls are those recorded before migration 0021, or by a
// replica older than it).
func findCallForEvent(ctx context.Context, tx *Tx, ev maskcall.CallEvent) (int64, *maskcall.Call, error) {
	return maskcall.FindEventCall(ev,
		func(uuid string) (int64, *maskcall.Call, error) {
			return lookupCall(tx.QueryRow(ctx, `SELECT `+callColumns+` FROM interactions
				WHERE uuid = $1 AND kind = 'call' FOR UPDATE`, uuid))
		},
		func(conversationUUID string) (int64, *maskcall.Call, error) {
			return lookupCall(tx.QueryRow(ctx, `SELECT `+callColumns+` FROM interactions
				WHERE conversation_uuid = $1 AND conversation_uuid <> '' AND kind = 'call'
				ORDER BY id LIMIT 1 FOR UPDATE`, conversationUUID))
		})
}

// lookupCall scans the call row reads and its interaction id; nil if none.
func lookupCall(row pgx.Row) (int64, *maskcall.Call, error) {
	id, c, err := scanCall(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, nil
	} else if err != nil {
		return 0, nil, formatError(err)
	}
	return id, c, nil
}

func recordCallEvent(ctx context.Context, tx *Tx, ev maskcall.CallEvent) (bool, error) {
	id, c, err := findCallForEvent(ctx, tx, ev)
	if err != nil {
		return false, err
	} else if c == nil {
		return false, nil
	}

	tag, err := tx.Exec(ctx, `INSERT INTO interaction_events
		(interaction_id, uuid, status, timestamp, direction, from_number, to_number, duration, start_time, end_time, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (interaction_id, uuid, status, timestamp) DO NOTHING`,
		id, ev.UUID, ev.Status, ts(ev.Timestamp), ev.Direction, ev.From, ev.To, ev.Duration,
		tsPtr(ev.StartTime), tsPtr(ev.EndTime), tx.now)
	if err != nil {
		return false, formatError(err)
	}
	if tag.RowsAffected() == 0 {
		return true, nil // seen before
	}

	from := c.Status
	c.Status = maskcall.NextCallStatus(c.Status, ev.Status)
	if ev.Status == "completed" && ev.Duration > c.Duration {
		c.Duration = ev.Duration
	}
	start := tsPtr(ev.StartTime)
	if start == nil && ev.Status == "answered" && !ev.Timestamp.IsZero() {
		start = tsPtr(&ev.Timestamp)
	}
	c.StartedAt = earliest(c.StartedAt, start)
	end := tsPtr(ev.EndTime)
	if end == nil && maskcall.IsTerminalCallStatus(ev.Status) && !ev.Timestamp.IsZero() {
		end = tsPtr(&ev.Timestamp)
	}
	c.EndedAt = latest(c.EndedAt, end)

	if _, err := tx.Exec(ctx, `UPDATE interactions
		SET status = $1, duration = $2, started_at = $3, ended_at = $4
		WHERE id = $5`,
		c.Status, c.Duration, c.StartedAt, c.EndedAt, id); err != nil {
		return false, formatError(err)
	}
	if maskcall.CallTransitionType(from, c.Status) == "" {
		return true, nil
	}
	p, url, ok, err := callParty(ctx, tx, c)
	if err != nil || !ok {
		return true, err
	}
	return true, insertCallback(ctx, tx, maskcall.CallTransitionEvent(c, p, from, c.Status, c.Duration, tx.now), url, "")
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
	rows, err := tx.Query(ctx, `SELECT `+callColumns+` FROM interactions
		WHERE conversation_id = $1 AND kind = 'call'
		ORDER BY created_at, id`, conversationID)
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
