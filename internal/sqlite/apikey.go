package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

var _ maskcall.APIKeyStore = (*DB)(nil)

const apiKeyColumns = `id, name, prefix, hash, read_only, created_at, last_used_at, revoked_at`

// CreateAPIKey stores k; ECONFLICT if its name is taken by a key that is
// not revoked, or its id or prefix exists.
func (db *DB) CreateAPIKey(ctx context.Context, k *maskcall.APIKey) error {
	tx, err := db.beginWrite(ctx, k.CreatedAt)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, NULL, NULL)`,
		k.ID, k.Name, k.Prefix, k.Hash, k.ReadOnly, formatTime(k.CreatedAt))
	if err = formatError(err); maskcall.ErrorCode(err) == maskcall.ECONFLICT {
		return &maskcall.Error{Code: maskcall.ECONFLICT, Err: err, Reason: "key_name",
			Message: "An API key named " + k.Name + " already exists."}
	} else if err != nil {
		return err
	}
	return tx.Commit()
}

func scanAPIKey(s interface{ Scan(...any) error }) (*maskcall.APIKey, error) {
	var k maskcall.APIKey
	var created string
	var used, revoked sql.NullString
	if err := s.Scan(&k.ID, &k.Name, &k.Prefix, &k.Hash, &k.ReadOnly, &created, &used, &revoked); err != nil {
		return nil, err
	}
	var err error
	if k.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	if k.LastUsedAt, err = parseNullTime(used); err != nil {
		return nil, err
	}
	if k.RevokedAt, err = parseNullTime(revoked); err != nil {
		return nil, err
	}
	return &k, nil
}

// FindAPIKeyByPrefix returns the key with prefix; ENOTFOUND if none.
func (db *DB) FindAPIKeyByPrefix(ctx context.Context, prefix string) (*maskcall.APIKey, error) {
	if db.rdb == nil {
		return nil, errNotOpen
	}
	k, err := scanAPIKey(db.rdb.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE prefix = ?`, prefix))
	if errors.Is(err, sql.ErrNoRows) {
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
		rows, err := tx.QueryContext(ctx, q+` ORDER BY created_at, id`)
		if err != nil {
			return nil, formatError(err)
		}
		defer rows.Close()
		var out []*maskcall.APIKey
		for rows.Next() {
			k, err := scanAPIKey(rows)
			if err != nil {
				return nil, err
			}
			out = append(out, k)
		}
		return out, formatError(rows.Err())
	})
}

// RevokeAPIKey revokes the live key with that id or name.
func (db *DB) RevokeAPIKey(ctx context.Context, nameOrID string, now time.Time) (*maskcall.APIKey, error) {
	tx, err := db.beginWrite(ctx, now)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	k, err := scanAPIKey(tx.QueryRowContext(ctx, `UPDATE api_keys SET revoked_at = ?
		WHERE (id = ? OR name = ?) AND revoked_at IS NULL RETURNING `+apiKeyColumns,
		formatTime(tx.now), nameOrID, nameOrID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, maskcall.Errorf(maskcall.ENOTFOUND, "No API key that is not revoked has the name or id %q.", nameOrID)
	} else if err != nil {
		return nil, formatError(err)
	}
	return k, tx.Commit()
}

// TouchAPIKey records a use of key id. It goes through the group commit:
// it is bookkeeping, written on the way of many requests.
func (db *DB) TouchAPIKey(ctx context.Context, id string, now time.Time) error {
	if db.w == nil {
		return errNotOpen
	}
	return db.w.write(ctx, func(ctx context.Context, tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE api_keys SET last_used_at = ? WHERE id = ?
			AND (last_used_at IS NULL OR last_used_at < ?)`, formatTime(now), id, formatTime(now))
		return clean(formatError(err))
	})
}
