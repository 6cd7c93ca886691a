package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/maskcall/maskcall/internal/maskcall"
)

var (
	_ maskcall.APIKeyStore      = (*DB)(nil)
	_ maskcall.IdempotencyStore = (*DB)(nil)
)

const apiKeyColumns = `id, name, prefix, hash, read_only, created_at, last_used_at, revoked_at`

func scanAPIKey(row pgx.Row) (*maskcall.APIKey, error) {
	var k maskcall.APIKey
	if err := row.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &k.ReadOnly, &k.CreatedAt, &k.LastUsedAt, &k.RevokedAt); err != nil {
		return nil, err
	}
	k.CreatedAt = k.CreatedAt.UTC()
	k.LastUsedAt, k.RevokedAt = utcPtr(k.LastUsedAt), utcPtr(k.RevokedAt)
	return &k, nil
}

// CreateAPIKey stores k; ECONFLICT if its name is taken by a key that is
// not revoked, or its id or prefix exists.
func (db *DB) CreateAPIKey(ctx context.Context, k *maskcall.APIKey) error {
	k.CreatedAt = ts(k.CreatedAt)
	return db.inTx(ctx, k.CreatedAt, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)`,
			k.ID, k.Name, k.Prefix, k.Hash, k.ReadOnly, k.CreatedAt)
		if err = formatError(err); maskcall.ErrorCode(err) == maskcall.ECONFLICT {
			return &maskcall.Error{Code: maskcall.ECONFLICT, Err: err, Reason: "key_name",
				Message: "An API key named " + k.Name + " already exists."}
		}
		return err
	})
}

// FindAPIKeyByPrefix returns the key with prefix; ENOTFOUND if none.
func (db *DB) FindAPIKeyByPrefix(ctx context.Context, prefix string) (*maskcall.APIKey, error) {
	if db.pool == nil {
		return nil, errNotOpen
	}
	k, err := scanAPIKey(db.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = $1`, prefix))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, maskcall.Errorf(maskcall.ENOTFOUND, "No API key has that prefix.")
	}
	return k, formatError(err)
}

// FindAPIKeys lists keys oldest first.
func (db *DB) FindAPIKeys(ctx context.Context, includeRevoked bool) ([]*maskcall.APIKey, error) {
	return read(ctx, db, time.Time{}, func(tx *Tx) ([]*maskcall.APIKey, error) {
		q := `SELECT ` + apiKeyColumns + ` FROM api_keys`
		if !includeRevoked {
			q += ` WHERE revoked_at IS NULL`
		}
		rows, err := tx.Query(ctx, q+` ORDER BY created_at, id`)
		if err != nil {
			return nil, formatError(err)
		}
		defer rows.Close()
		var out []*maskcall.APIKey
		for rows.Next() {
			k, err := scanAPIKey(rows)
			if err != nil {
				return nil, formatError(err)
			}
			out = append(out, k)
		}
		return out, formatError(rows.Err())
	})
}

// RevokeAPIKey revokes the live key with that id or name.
func (db *DB) RevokeAPIKey(ctx context.Context, nameOrID string, now time.Time) (*maskcall.APIKey, error) {
	var k *maskcall.APIKey
	err := db.inTx(ctx, now, func(tx *Tx) error {
		var err error
		k, err = scanAPIKey(tx.QueryRow(ctx, `UPDATE api_keys SET revoked_at = $1
			WHERE (id = $2 OR name = $2) AND revoked_at IS NULL RETURNING `+apiKeyColumns, tx.now, nameOrID))
		if errors.Is(err, pgx.ErrNoRows) {
			return maskcall.Errorf(maskcall.ENOTFOUND, "No API key that is not revoked has the name or id %q.", nameOrID)
		}
		return formatError(err)
	})
	return k, err
}

// TouchAPIKey records a use of key id; the time never moves back.
func (db *DB) TouchAPIKey(ctx context.Context, id string, now time.Time) error {
	if db.pool == nil {
		return errNotOpen
	}
	_, err := db.pool.Exec(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2
		AND (last_used_at IS NULL OR last_used_at < $1)`, ts(now), id)
	return formatError(err)
}

// BeginIdempotent reserves r unless a record since since exists, which it
// returns. The reservation is one upsert that replaces only a record older
// than since, so of two replicas racing for one key exactly one reserves
// it and the other sees its record. Old records are swept a batch at a
// time.
func (db *DB) BeginIdempotent(ctx context.Context, r *maskcall.IdempotencyRecord, since time.Time) (*maskcall.IdempotencyRecord, error) {
	var got *maskcall.IdempotencyRecord
	err := db.inTx(ctx, r.CreatedAt, func(tx *Tx) error {
		got = nil
		if _, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE ctid IN
			(SELECT ctid FROM idempotency_keys WHERE created_at < $1 AND NOT (scope = $2 AND key = $3) LIMIT 100)`,
			ts(since), r.Scope, r.Key); err != nil {
			return formatError(err)
		}
		var one int
		err := tx.QueryRow(ctx, `INSERT INTO idempotency_keys (scope, key, fingerprint, status, body, created_at)
			VALUES ($1, $2, $3, 0, NULL, $4)
			ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = 0, body = NULL, created_at = excluded.created_at
				WHERE idempotency_keys.created_at < $5
			RETURNING 1`, r.Scope, r.Key, r.Fingerprint, tx.now, ts(since)).Scan(&one)
		if err == nil {
			return nil // reserved
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return formatError(err)
		}
		rec := maskcall.IdempotencyRecord{Scope: r.Scope, Key: r.Key}
		if err := tx.QueryRow(ctx, `SELECT fingerprint, status, body, created_at FROM idempotency_keys
			WHERE scope = $1 AND key = $2`, r.Scope, r.Key).Scan(&rec.Fingerprint, &rec.Status, &rec.Body, &rec.CreatedAt); err != nil {
			return formatError(err)
		}
		rec.CreatedAt = rec.CreatedAt.UTC()
		got = &rec
		return nil
	})
	return got, err
}

// CompleteIdempotent stores a reserved request's response.
func (db *DB) CompleteIdempotent(ctx context.Context, scope, key string, status int, body []byte) error {
	return db.inTx(ctx, time.Time{}, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `UPDATE idempotency_keys SET status = $1, body = $2 WHERE scope = $3 AND key = $4`,
			status, body, scope, key)
		return formatError(err)
	})
}

// AbandonIdempotent drops a reservation still in progress.
func (db *DB) AbandonIdempotent(ctx context.Context, scope, key string) error {
	return db.inTx(ctx, time.Time{}, func(tx *Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND status = 0`, scope, key)
		return formatError(err)
	})
}
