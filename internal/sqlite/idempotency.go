package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

var _ maskcall.IdempotencyStore = (*DB)(nil)

// BeginIdempotent reserves r unless a record since since exists, which it
// returns. Records older than since are replaced here and swept a batch
// at a time, so the table holds about a window's worth.
//
// In serve the reservation is a grouped write, not fsynced by itself: the
// request it guards is (a create or end is durable), and that fsync covers
// the reservation written before it. Lost with the power before the
// request was made, it is simply made again. The response is stored the
// same way; lost to a power cut, the retry finds the key in progress.
func (db *DB) BeginIdempotent(ctx context.Context, r *maskcall.IdempotencyRecord, since time.Time) (*maskcall.IdempotencyRecord, error) {
	var found *maskcall.IdempotencyRecord
	err := db.writeGrouped(ctx, r.CreatedAt, false, func(ctx context.Context, tx *Tx) error {
		found = nil
		var got maskcall.IdempotencyRecord
		var created string
		err := tx.QueryRowContext(ctx, `SELECT fingerprint, status, body, created_at FROM idempotency_keys
			WHERE scope = ? AND key = ?`, r.Scope, r.Key).Scan(&got.Fingerprint, &got.Status, &got.Body, &created)
		switch {
		case err == nil:
			if got.CreatedAt, err = parseTime(created); err != nil {
				return err
			}
			if !got.CreatedAt.Before(since) {
				got.Scope, got.Key = r.Scope, r.Key
				found = &got
				return nil
			}
		case !errors.Is(err, sql.ErrNoRows):
			return formatError(err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE (scope, key) IN
			(SELECT scope, key FROM idempotency_keys WHERE created_at < ? LIMIT 100)`, formatTime(since)); err != nil {
			return formatError(err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (scope, key, fingerprint, status, body, created_at)
			VALUES (?, ?, ?, 0, NULL, ?)
			ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = 0, body = NULL, created_at = excluded.created_at`,
			r.Scope, r.Key, r.Fingerprint, formatTime(r.CreatedAt)); err != nil {
			return formatError(err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return found, nil
}

// CompleteIdempotent stores a reserved request's response.
func (db *DB) CompleteIdempotent(ctx context.Context, scope, key string, status int, body []byte) error {
	return db.writeGrouped(ctx, time.Time{}, false, func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET status = ?, body = ? WHERE scope = ? AND key = ?`,
			status, body, scope, key)
		return formatError(err)
	})
}

// AbandonIdempotent drops a reservation still in progress.
func (db *DB) AbandonIdempotent(ctx context.Context, scope, key string) error {
	return db.writeGrouped(ctx, time.Time{}, false, func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE scope = ? AND key = ? AND status = 0`, scope, key)
		return formatError(err)
	})
}
