package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/maskcall/maskcall/internal/maskcall"
)

// The callback outbox (migration/0012_callbacks.sql), as the SQLite
// store's (see internal/sqlite/callback.go). Replicas claim due events
// FOR UPDATE SKIP LOCKED, so two never hold the same event; a claim is a
// lease, and an event whose lease ended is claimed again.

var _ maskcall.CallbackStore = (*DB)(nil)

const (
	insertCallbackStmt = `INSERT INTO callbacks
		(id, type, conversation_id, call_uuid, data, url, state, next_attempt_at, retry_until, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8, $7, $7)
		ON CONFLICT DO NOTHING`
	globalTargetQuery = `SELECT global_target FROM callback_settings WHERE id = 1`

	callbackColumns = `id, type, data, url, state, attempts, next_attempt_at, retry_until,
		last_status, last_error, delivered_at, created_at, updated_at`
)

// hasTarget reports whether an event of a conversation whose callback URL
// is url has anywhere to go; the deployment's flag is read once per
// transaction.
func hasTarget(ctx context.Context, tx *Tx, url string) (bool, error) {
	if url != "" {
		return true, nil
	}
	if tx.target == nil {
		var g bool
		if err := tx.QueryRow(ctx, globalTargetQuery).Scan(&g); err != nil {
			return false, formatError(err)
		}
		tx.target = &g
	}
	return *tx.target, nil
}

func insertCallback(ctx context.Context, tx *Tx, ev *maskcall.CallbackEvent, url, callUUID string) error {
	data, err := json.Marshal(ev.Data)
	if err != nil {
		return err
	}
	var conv *string
	if ev.Data.ConversationID != "" && ev.Type != maskcall.EventCallOutOfSession {
		conv = &ev.Data.ConversationID
	}
	at := ts(ev.CreatedAt)
	if _, err := tx.Exec(ctx, insertCallbackStmt, ev.ID, ev.Type, conv, callUUID, string(data), url,
		at, at.Add(maskcall.CallbackRetryWindow)); err != nil {
		return formatError(err)
	}
	tx.wroteCallback = true
	return nil
}

// callParty returns the caller of call c and where its conversation's
// events go; ok false if no callback would go anywhere.
func callParty(ctx context.Context, tx *Tx, c *maskcall.Call) (p maskcall.CallParty, url string, ok bool, err error) {
	var pos *int
	var label *string
	err = tx.QueryRow(ctx, `SELECT c.ref, c.callback_url, p.position, p.label FROM conversations AS c
		LEFT JOIN participants AS p ON p.conversation_id = c.id AND p.number = $2 AND p.proxy_number = $3
		WHERE c.id = $1`, c.ConversationID, c.From, c.To).Scan(&p.Ref, &url, &pos, &label)
	if err != nil {
		return p, "", false, formatError(err)
	}
	p.Position = -1
	if pos != nil {
		p.Position, p.Label = *pos, *label
	}
	ok, err = hasTarget(ctx, tx, url)
	return p, url, ok, err
}

// SetCallbackTarget records whether the deployment has a callback URL.
func (db *DB) SetCallbackTarget(ctx context.Context, global bool, now time.Time) error {
	return db.inIdempotentTx(ctx, now, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE callback_settings SET global_target = $1, updated_at = $2 WHERE id = 1`, global, tx.now)
		return formatError(err)
	})
}

// RecordOutOfSessionCall writes c's call.out_of_session event when the
// deployment has a callback URL; once per call uuid.
func (db *DB) RecordOutOfSessionCall(ctx context.Context, c maskcall.OutOfSessionCall, now time.Time) error {
	return db.inIdempotentTx(ctx, now, func(tx *Tx) error {
		ok, err := hasTarget(ctx, tx, "")
		if err != nil || !ok {
			return err
		}
		ev := maskcall.OutOfSessionEvent(c, tx.now)
		key := c.UUID
		if key == "" {
			key = ev.ID
		}
		return insertCallback(ctx, tx, ev, "", key)
	})
}

// ClaimCallbacks marks up to limit due events delivering until now+lease
// and counts their attempt. Rows are locked FOR UPDATE SKIP LOCKED, so a
// concurrent claimer takes other events, never these.
func (db *DB) ClaimCallbacks(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*maskcall.Callback, error) {
	var cbs []*maskcall.Callback
	err := db.inTx(ctx, now, func(tx *Tx) error {
		tx.routeNeutral = true
		cbs = nil
		// Events whose worker stopped first, then due ones: each in
		// claim order.
		for _, sel := range []string{
			`SELECT id FROM callbacks WHERE state = 'delivering' AND lease_until <= $1
				ORDER BY lease_until, id LIMIT $3 FOR UPDATE SKIP LOCKED`,
			`SELECT id FROM callbacks WHERE state = 'pending' AND next_attempt_at <= $1
				ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED`,
		} {
			n := limit - len(cbs)
			if n <= 0 {
				break
			}
			rows, err := tx.Query(ctx, `UPDATE callbacks SET state = 'delivering', attempts = attempts + 1, lease_until = $2, updated_at = $1
				WHERE id IN (`+sel+`) RETURNING `+callbackColumns, tx.now, ts(tx.now.Add(lease)), n)
			if err != nil {
				return formatError(err)
			}
			got, err := collectCallbacks(rows)
			if err != nil {
				return err
			}
			// RETURNING keeps no order.
			sortCallbacks(got, func(a, b *maskcall.Callback) bool {
				return a.NextAttemptAt.Before(b.NextAttemptAt) || a.NextAttemptAt.Equal(b.NextAttemptAt) && a.Event.ID < b.Event.ID
			})
			cbs = append(cbs, got...)
		}
		return nil
	})
	return cbs, err
}

func sortCallbacks(cbs []*maskcall.Callback, less func(a, b *maskcall.Callback) bool) {
	for i := 1; i < len(cbs); i++ {
		for k := i; k > 0 && less(cbs[k], cbs[k-1]); k-- {
			cbs[k], cbs[k-1] = cbs[k-1], cbs[k]
		}
	}
}

// FinishCallback records o for the attempt cb was claimed for, unless the
// event was claimed again since.
func (db *DB) FinishCallback(ctx context.Context, cb *maskcall.Callback, o maskcall.CallbackOutcome, now time.Time) (bool, error) {
	var ok bool
	err := db.inIdempotentTx(ctx, now, func(tx *Tx) error {
		tx.routeNeutral = true
		next := tx.now
		var delivered *time.Time
		switch o.State {
		case maskcall.CallbackPending:
			next = ts(o.NextAttemptAt)
		case maskcall.CallbackDelivered:
			delivered = &tx.now
		}
		msg := o.Error
		if len(msg) > 500 {
			msg = strings.ToValidUTF8(msg[:500], "")
		}
		tag, err := tx.Exec(ctx, `UPDATE callbacks SET state = $1, next_attempt_at = $2, lease_until = NULL,
			last_status = $3, last_error = $4, delivered_at = COALESCE($5, delivered_at), updated_at = $6
			WHERE id = $7 AND state = 'delivering' AND attempts = $8`,
			string(o.State), next, o.Status, msg, delivered, tx.now, cb.Event.ID, cb.Attempts)
		if err != nil {
			return formatError(err)
		}
		ok = tag.RowsAffected() == 1
		return nil
	})
	return ok, err
}

// FindCallbacks lists events newest first.
func (db *DB) FindCallbacks(ctx context.Context, f maskcall.CallbackFilter) ([]*maskcall.Callback, error) {
	return read(ctx, db, time.Time{}, func(tx *Tx) ([]*maskcall.Callback, error) {
		where, args := []string{"true"}, []any{}
		if f.State != "" {
			args = append(args, string(f.State))
			where = append(where, "state = $"+strconv.Itoa(len(args)))
		}
		if f.ConversationID != "" {
			args = append(args, f.ConversationID)
			where = append(where, "conversation_id = $"+strconv.Itoa(len(args)))
		}
		q := `SELECT ` + callbackColumns + ` FROM callbacks WHERE ` + strings.Join(where, " AND ") + ` ORDER BY created_at DESC, id DESC`
		if f.Limit > 0 {
			args = append(args, f.Limit)
			q += ` LIMIT $` + strconv.Itoa(len(args))
		}
		rows, err := tx.Query(ctx, q, args...)
		if err != nil {
			return nil, formatError(err)
		}
		return collectCallbacks(rows)
	})
}

// RedeliverCallback makes a delivered or failed event due at now, retried
// for another window.
func (db *DB) RedeliverCallback(ctx context.Context, id string, now time.Time) (*maskcall.Callback, error) {
	var cb *maskcall.Callback
	err := db.inTx(ctx, now, func(tx *Tx) error {
		rows, err := tx.Query(ctx, `SELECT `+callbackColumns+` FROM callbacks WHERE id = $1 FOR UPDATE`, id)
		if err != nil {
			return formatError(err)
		}
		cbs, err := collectCallbacks(rows)
		if err != nil {
			return err
		}
		if len(cbs) == 0 {
			return maskcall.Errorf(maskcall.ENOTFOUND, "Callback %s not found.", id)
		}
		cb = cbs[0]
		if cb.State != maskcall.CallbackDelivered && cb.State != maskcall.CallbackFailed {
			return maskcall.Errorf(maskcall.ECONFLICT, "Callback %s is still %s; only a delivered or failed one can be delivered again.", id, cb.State).
				WithReason("callback_not_finished")
		}
		until := tx.now.Add(maskcall.CallbackRetryWindow)
		if _, err := tx.Exec(ctx, `UPDATE callbacks SET state = 'pending', next_attempt_at = $1, retry_until = $2,
			lease_until = NULL, updated_at = $1 WHERE id = $3`, tx.now, until, id); err != nil {
			return formatError(err)
		}
		tx.wroteCallback = true
		cb.State, cb.NextAttemptAt, cb.RetryUntil, cb.UpdatedAt = maskcall.CallbackPending, tx.now, until, tx.now
		return nil
	})
	if err != nil {
		return nil, err
	}
	return cb, nil
}

// CallbackStats counts the events waiting and failed, and when the oldest
// due one became due.
func (db *DB) CallbackStats(ctx context.Context, now time.Time) (*maskcall.CallbackStats, error) {
	return read(ctx, db, now, func(tx *Tx) (*maskcall.CallbackStats, error) {
		var st maskcall.CallbackStats
		if err := tx.QueryRow(ctx, `SELECT
				(SELECT COUNT(*) FROM callbacks WHERE state IN ('pending', 'delivering')),
				(SELECT MIN(next_attempt_at) FROM callbacks WHERE state = 'pending' AND next_attempt_at <= $1),
				(SELECT COUNT(*) FROM callbacks WHERE state = 'failed')`, tx.now).Scan(&st.Pending, &st.OldestDue, &st.Failed); err != nil {
			return nil, formatError(err)
		}
		st.OldestDue = utcPtr(st.OldestDue)
		return &st, nil
	})
}

// NextCallbackAt returns when the next event is due: the earliest pending
// attempt or ending lease.
func (db *DB) NextCallbackAt(ctx context.Context) (*time.Time, error) {
	return read(ctx, db, time.Time{}, func(tx *Tx) (*time.Time, error) {
		var a, b *time.Time
		if err := tx.QueryRow(ctx, `SELECT
			(SELECT MIN(next_attempt_at) FROM callbacks WHERE state = 'pending'),
			(SELECT MIN(lease_until) FROM callbacks WHERE state = 'delivering')`).Scan(&a, &b); err != nil {
			return nil, formatError(err)
		}
		return utcPtr(earliest(a, b)), nil
	})
}

// OnCallback registers f, called after a transaction of this process that
// wrote or redelivered an event commits.
func (db *DB) OnCallback(f func()) { db.onCallback.Store(&f) }

func (db *DB) notifyCallback() {
	if f := db.onCallback.Load(); f != nil && *f != nil {
		(*f)()
	}
}

func collectCallbacks(rows pgx.Rows) ([]*maskcall.Callback, error) {
	cbs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*maskcall.Callback, error) {
		var cb maskcall.Callback
		var data, state string
		if err := r.Scan(&cb.Event.ID, &cb.Event.Type, &data, &cb.URL, &state, &cb.Attempts, &cb.NextAttemptAt, &cb.RetryUntil,
			&cb.LastStatus, &cb.LastError, &cb.DeliveredAt, &cb.Event.CreatedAt, &cb.UpdatedAt); err != nil {
			return nil, err
		}
		cb.State = maskcall.CallbackState(state)
		if err := json.Unmarshal([]byte(data), &cb.Event.Data); err != nil {
			return nil, errors.Join(errors.New("stored callback data"), err)
		}
		cb.NextAttemptAt, cb.RetryUntil = cb.NextAttemptAt.UTC(), cb.RetryUntil.UTC()
		cb.Event.CreatedAt, cb.UpdatedAt = cb.Event.CreatedAt.UTC(), cb.UpdatedAt.UTC()
		cb.DeliveredAt = utcPtr(cb.DeliveredAt)
		return &cb, nil
	})
	if err != nil {
		return nil, formatError(err)
	}
	if cbs == nil {
		cbs = []*maskcall.Callback{}
	}
	return cbs, nil
}
