package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// The callback outbox (migration/0012_callbacks.sql). Events are written by
// the methods whose change they report, in their transaction, and only
// while a target exists (hasTarget); the delivery worker claims them
// through the group commit like the SMS relay's jobs.

var _ maskcall.CallbackStore = (*DB)(nil)

const (
	insertCallbackStmt = `INSERT INTO callbacks
		(id, type, conversation_id, call_uuid, data, url, state, next_attempt_at, retry_until, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)
		ON CONFLICT DO NOTHING`
	globalTargetQuery = `SELECT global_target FROM callback_settings WHERE id = 1`
	// anyTargetQuery: can any conversation's events go anywhere? The
	// deployment's flag, or a conversation with a URL of its own
	// (conversations_callback_url_idx).
	anyTargetQuery = `SELECT (SELECT global_target FROM callback_settings WHERE id = 1)
		OR EXISTS (SELECT 1 FROM conversations INDEXED BY conversations_callback_url_idx WHERE callback_url <> '')`
	// callPartyQuery finds what a call's events say of its caller, and
	// where they go: the conversation by primary key, the caller among its
	// two participants.
	callPartyQuery = `SELECT c.ref, c.callback_url, p.position, p.label FROM conversations AS c
		JOIN participants AS p ON p.conversation_id = c.id
		WHERE c.id = ? AND p.number = ? AND p.proxy_number = ?`

	callbackColumns = `id, type, data, url, state, attempts, next_attempt_at, retry_until,
		last_status, last_error, delivered_at, created_at, updated_at`
)

// hasTarget reports whether an event of a conversation whose callback URL
// is url has anywhere to go: its own URL, or the deployment's. The
// deployment's flag is read once per transaction.
func hasTarget(ctx context.Context, tx *Tx, url string) (bool, error) {
	if url != "" {
		return true, nil
	}
	if tx.target == nil {
		var g bool
		if err := tx.queryRow(ctx, tx.w.globalTarget, globalTargetQuery).Scan(&g); err != nil {
			return false, formatError(err)
		}
		tx.target = &g
	}
	return *tx.target, nil
}

// insertCallback writes ev to the outbox, due at once and retried for
// maskcall.CallbackRetryWindow.
func insertCallback(ctx context.Context, tx *Tx, ev *maskcall.CallbackEvent, url, callUUID string) error {
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return err
	}
	var conv any
	if ev.Data.ConversationID != "" && ev.Type != maskcall.EventCallOutOfSession {
		conv = ev.Data.ConversationID
	}
	now := formatTime(ev.CreatedAt)
	if _, err := tx.exec(ctx, tx.w.insertCallback, insertCallbackStmt,
		ev.ID, ev.Type, conv, callUUID, string(data), url, formatTime(ev.CreatedAt),
		formatTime(ev.CreatedAt.Add(maskcall.CallbackRetryWindow)), now, now); err != nil {
		return formatError(err)
	}
	tx.wroteCallback = true
	return nil
}

// anyTarget reports whether any conversation's events have somewhere to
// go, read once per transaction: when none has, the call paths skip
// callParty.
func anyTarget(ctx context.Context, tx *Tx) (bool, error) {
	if tx.anyTarget == nil {
		var g bool
		if err := tx.queryRow(ctx, tx.w.anyTarget, anyTargetQuery).Scan(&g); err != nil {
			return false, formatError(err)
		}
		tx.anyTarget = &g
	}
	return *tx.anyTarget, nil
}

// callParty returns the caller of call c and where its conversation's
// events go; ok false if no callback would go anywhere.
func callParty(ctx context.Context, tx *Tx, c *maskcall.Call) (p maskcall.CallParty, url string, ok bool, err error) {
	if ok, err := anyTarget(ctx, tx); err != nil || !ok {
		return p, "", false, err
	}
	err = tx.queryRow(ctx, tx.w.callParty, callPartyQuery, c.ConversationID, c.From, c.To).Scan(&p.Ref, &url, &p.Position, &p.Label)
	if errors.Is(err, sql.ErrNoRows) {
		// Not a participant's call (a test's, or one whose participant
		// row changed): reported without a label.
		p.Position, err = -1, tx.QueryRowContext(ctx, `SELECT ref, callback_url FROM conversations WHERE id = ?`, c.ConversationID).Scan(&p.Ref, &url)
	}
	if err != nil {
		return p, "", false, formatError(err)
	}
	ok, err = hasTarget(ctx, tx, url)
	return p, url, ok, err
}

// SetCallbackTarget records whether the deployment has a callback URL.
func (db *DB) SetCallbackTarget(ctx context.Context, global bool, now time.Time) error {
	tx, err := db.beginWrite(ctx, now)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE callback_settings SET global_target = ?, updated_at = ? WHERE id = 1`,
		global, formatTime(tx.now)); err != nil {
		return formatError(err)
	}
	return tx.Commit()
}

// RecordOutOfSessionCall writes c's call.out_of_session event when the
// deployment has a callback URL; once per call uuid. It is
// group-committed, as it is written while the caller waits for the answer.
func (db *DB) RecordOutOfSessionCall(ctx context.Context, c maskcall.OutOfSessionCall, now time.Time) error {
	if db.w == nil {
		return errNotOpen
	}
	return db.w.write(ctx, func(ctx context.Context, tx *Tx) error {
		ok, err := hasTarget(ctx, tx, "")
		if err != nil || !ok {
			return clean(err)
		}
		ev := maskcall.OutOfSessionEvent(c, now)
		key := c.UUID
		if key == "" {
			key = ev.ID
		}
		return insertCallback(ctx, tx, ev, "", key)
	})
}

// ClaimCallbacks marks up to limit due events delivering until now+lease
// and counts their attempt; events whose lease ended (their worker
// stopped) are due again. The claim is one write transaction, which the
// file's write lock serialises across processes.
func (db *DB) ClaimCallbacks(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*maskcall.Callback, error) {
	if db.w == nil {
		return nil, errNotOpen
	}
	now = now.UTC()
	var cbs []*maskcall.Callback
	err := db.w.write(ctx, func(ctx context.Context, tx *Tx) error {
		cbs = nil
		ts := formatTime(now)
		for _, q := range []string{
			`SELECT ` + callbackColumns + ` FROM callbacks INDEXED BY callbacks_lease_idx
				WHERE state = 'delivering' AND lease_until <= ? ORDER BY lease_until, id LIMIT ?`,
			`SELECT ` + callbackColumns + ` FROM callbacks INDEXED BY callbacks_due_idx
				WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`,
		} {
			if len(cbs) >= limit {
				break
			}
			got, err := queryCallbacks(ctx, tx, q, ts, limit-len(cbs))
			if err != nil {
				return err
			}
			cbs = append(cbs, got...)
		}
		until := formatTime(now.Add(lease))
		for _, cb := range cbs {
			cb.Attempts++
			cb.State = maskcall.CallbackDelivering
			cb.UpdatedAt = now
			if _, err := tx.ExecContext(ctx, `UPDATE callbacks SET state = 'delivering', attempts = ?, lease_until = ?, updated_at = ?
				WHERE id = ?`, cb.Attempts, until, ts, cb.Event.ID); err != nil {
				return formatError(err)
			}
		}
		return nil
	})
	return cbs, err
}

// FinishCallback records o for the attempt cb was claimed for, unless the
// event was claimed again since (its attempt count moved on).
func (db *DB) FinishCallback(ctx context.Context, cb *maskcall.Callback, o maskcall.CallbackOutcome, now time.Time) (bool, error) {
	if db.w == nil {
		return false, errNotOpen
	}
	var ok bool
	err := db.w.write(ctx, func(ctx context.Context, tx *Tx) error {
		ts := formatTime(now)
		next := ts
		var delivered any
		switch o.State {
		case maskcall.CallbackPending:
			next = formatTime(o.NextAttemptAt)
		case maskcall.CallbackDelivered:
			delivered = ts
		}
		res, err := tx.ExecContext(ctx, `UPDATE callbacks SET state = ?, next_attempt_at = ?, lease_until = NULL,
			last_status = ?, last_error = ?, delivered_at = COALESCE(?, delivered_at), updated_at = ?
			WHERE id = ? AND state = 'delivering' AND attempts = ?`,
			string(o.State), next, o.Status, truncate(o.Error, 500), delivered, ts, cb.Event.ID, cb.Attempts)
		if err != nil {
			return formatError(err)
		}
		n, err := res.RowsAffected()
		ok = n == 1
		return formatError(err)
	})
	return ok, err
}

// FindCallbacks lists events newest first.
func (db *DB) FindCallbacks(ctx context.Context, f maskcall.CallbackFilter) ([]*maskcall.Callback, error) {
	return read(ctx, db, time.Time{}, func(tx *Tx) ([]*maskcall.Callback, error) {
		where, args := []string{"1 = 1"}, []any{}
		if f.State != "" {
			where, args = append(where, "state = ?"), append(args, string(f.State))
		}
		if f.ConversationID != "" {
			where, args = append(where, "conversation_id = ?"), append(args, f.ConversationID)
		}
		q := `SELECT ` + callbackColumns + ` FROM callbacks WHERE ` + strings.Join(where, " AND ") + ` ORDER BY created_at DESC, id DESC`
		if f.Limit > 0 {
			q += ` LIMIT ?`
			args = append(args, f.Limit)
		}
		return queryCallbacks(ctx, tx, q, args...)
	})
}

// RedeliverCallback makes a delivered or failed event due at now, retried
// for another window. The change is fsynced before it returns.
func (db *DB) RedeliverCallback(ctx context.Context, id string, now time.Time) (*maskcall.Callback, error) {
	tx, err := db.beginWrite(ctx, now)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	cbs, err := queryCallbacks(ctx, tx, `SELECT `+callbackColumns+` FROM callbacks WHERE id = ?`, id)
	if err != nil {
		return nil, err
	}
	if len(cbs) == 0 {
		return nil, maskcall.Errorf(maskcall.ENOTFOUND, "Callback %s not found.", id)
	}
	cb := cbs[0]
	if cb.State != maskcall.CallbackDelivered && cb.State != maskcall.CallbackFailed {
		return nil, maskcall.Errorf(maskcall.ECONFLICT, "Callback %s is still %s; only a delivered or failed one can be delivered again.", id, cb.State).
			WithReason("callback_not_finished")
	}
	ts := formatTime(tx.now)
	if _, err := tx.ExecContext(ctx, `UPDATE callbacks SET state = 'pending', next_attempt_at = ?, retry_until = ?,
		lease_until = NULL, updated_at = ? WHERE id = ?`,
		ts, formatTime(tx.now.Add(maskcall.CallbackRetryWindow)), ts, id); err != nil {
		return nil, formatError(err)
	}
	tx.wroteCallback = true
	cb.State, cb.NextAttemptAt, cb.RetryUntil, cb.UpdatedAt = maskcall.CallbackPending, tx.now, tx.now.Add(maskcall.CallbackRetryWindow), tx.now
	return cb, tx.Commit()
}

// CallbackStats counts the events waiting and failed, and how long the
// oldest due one has waited.
func (db *DB) CallbackStats(ctx context.Context, now time.Time) (*maskcall.CallbackStats, error) {
	return read(ctx, db, now, func(tx *Tx) (*maskcall.CallbackStats, error) {
		var st maskcall.CallbackStats
		var oldest sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT
				(SELECT COUNT(*) FROM callbacks WHERE state IN ('pending', 'delivering')),
				(SELECT MIN(next_attempt_at) FROM callbacks INDEXED BY callbacks_due_idx WHERE state = 'pending' AND next_attempt_at <= ?),
				(SELECT COUNT(*) FROM callbacks INDEXED BY callbacks_failed_idx WHERE state = 'failed')`,
			formatTime(tx.now)).Scan(&st.Pending, &oldest, &st.Failed); err != nil {
			return nil, formatError(err)
		}
		var err error
		st.OldestDue, err = parseNullTime(oldest)
		return &st, err
	})
}

// NextCallbackAt returns when the next event is due: the earliest pending
// attempt or ending lease.
func (db *DB) NextCallbackAt(ctx context.Context) (*time.Time, error) {
	return read(ctx, db, time.Time{}, func(tx *Tx) (*time.Time, error) {
		var a, b sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT
			(SELECT MIN(next_attempt_at) FROM callbacks INDEXED BY callbacks_due_idx WHERE state = 'pending'),
			(SELECT MIN(lease_until) FROM callbacks INDEXED BY callbacks_lease_idx WHERE state = 'delivering')`).Scan(&a, &b); err != nil {
			return nil, formatError(err)
		}
		ta, err := parseNullTime(a)
		if err != nil {
			return nil, err
		}
		tb, err := parseNullTime(b)
		if err != nil {
			return nil, err
		}
		return earliest(ta, tb), nil
	})
}

// OnCallback registers f, called after a transaction that wrote or
// redelivered an event commits.
func (db *DB) OnCallback(f func()) { db.onCallback.Store(&f) }

func (db *DB) notifyCallback() {
	if f := db.onCallback.Load(); f != nil && *f != nil {
		(*f)()
	}
}

func queryCallbacks(ctx context.Context, tx *Tx, q string, args ...any) ([]*maskcall.Callback, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, formatError(err)
	}
	defer rows.Close()
	cbs := []*maskcall.Callback{}
	for rows.Next() {
		var cb maskcall.Callback
		var data, state, next, until, created, updated string
		var delivered sql.NullString
		if err := rows.Scan(&cb.Event.ID, &cb.Event.Type, &data, &cb.URL, &state, &cb.Attempts, &next, &until,
			&cb.LastStatus, &cb.LastError, &delivered, &created, &updated); err != nil {
			return nil, formatError(err)
		}
		cb.State = maskcall.CallbackState(state)
		if err := json.Unmarshal([]byte(data), &cb.Event.Data); err != nil {
			return nil, err
		}
		for _, p := range []struct {
			dst *time.Time
			s   string
		}{{&cb.NextAttemptAt, next}, {&cb.RetryUntil, until}, {&cb.Event.CreatedAt, created}, {&cb.UpdatedAt, updated}} {
			if *p.dst, err = parseTime(p.s); err != nil {
				return nil, err
			}
		}
		if cb.DeliveredAt, err = parseNullTime(delivered); err != nil {
			return nil, err
		}
		cbs = append(cbs, &cb)
	}
	return cbs, formatError(rows.Err())
}
