package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// The route feed (migration/0018_route_changes.sql): serve's route index
// loads every active route once, then reads route_version when the
// version published in <db>-routes moved (routepublish.go), or before each
// call where nothing is published, and the changed conversations when it
// moved.

var _ maskcall.RouteFeed = (*DB)(nil)

const (
	routeVersionQuery = `SELECT version FROM route_version WHERE id = 0`
	// routeKeptQuery reads the version and pruned_before (changes up to
	// it are no longer kept).
	routeKeptQuery = `SELECT version, pruned_before FROM route_version WHERE id = 0`

	// routeRecordColumns read a conversation's record, one row per
	// participant (the participants' primary key puts them in position
	// order under each conversation).
	routeRecordColumns = `c.id, c.mode, p.position, p.number, p.proxy_number, p.active, p.expires_at`

	// loadRoutesQuery walks the active conversations (conversations_status_idx)
	// and their participants by primary key.
	loadRoutesQuery = `SELECT ` + routeRecordColumns + `
		FROM conversations AS c JOIN participants AS p ON p.conversation_id = c.id
		WHERE c.status = 'active'`

	routeRecordQuery = `SELECT ` + routeRecordColumns + `
		FROM conversations AS c JOIN participants AS p ON p.conversation_id = c.id
		WHERE c.id = ?`

	// routeChangesKept is how many route versions of changes the expiry
	// sweep keeps: an index further behind loads everything again. At a
	// few versions per conversation created or ended, that is hours of a
	// busy deployment's changes, against an index that catches up within
	// one call.
	routeChangesKept = 100_000
)

// RouteVersion returns the route version: one prepared query on the read
// pool, like FindRoute's.
func (db *DB) RouteVersion(ctx context.Context) (int64, error) {
	if db.versionStmt == nil {
		return 0, errNotOpen
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var v int64
	if err := db.versionStmt.QueryRowContext(context.WithoutCancel(ctx)).Scan(&v); err != nil {
		return 0, formatError(err)
	}
	return v, nil
}

// LoadRoutes calls fn with the record of every active conversation, read
// in one snapshot, and returns its route version.
func (db *DB) LoadRoutes(ctx context.Context, fn func(*maskcall.RouteRecord) error) (int64, error) {
	return read(ctx, db, time.Time{}, func(tx *Tx) (int64, error) {
		var v int64
		if err := tx.QueryRowContext(ctx, routeVersionQuery).Scan(&v); err != nil {
			return 0, formatError(err)
		}
		rows, err := tx.QueryContext(ctx, loadRoutesQuery)
		if err != nil {
			return 0, formatError(err)
		}
		defer rows.Close()
		if err := scanRouteRecords(rows, fn); err != nil {
			return 0, err
		}
		return v, nil
	})
}

// RouteChanges calls fn with the current record of every conversation
// whose routes changed after since, read in one snapshot; ok false when
// those changes are no longer all kept.
func (db *DB) RouteChanges(ctx context.Context, since int64, fn func(*maskcall.RouteRecord) error) (version int64, ok bool, err error) {
	type result struct {
		v  int64
		ok bool
	}
	r, err := read(ctx, db, time.Time{}, func(tx *Tx) (result, error) {
		var v, pruned int64
		if err := tx.QueryRowContext(ctx, routeKeptQuery).Scan(&v, &pruned); err != nil {
			return result{}, formatError(err)
		}
		if v == since {
			return result{v, true}, nil
		}
		if since < pruned || since > v {
			// Pruned, or a version this database never had (another
			// file, restored from a backup): start again.
			return result{v, false}, nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT DISTINCT conversation_id FROM route_changes WHERE version > ?`, since)
		if err != nil {
			return result{}, formatError(err)
		}
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return result{}, formatError(err)
			}
			ids = append(ids, id)
		}
		if err := rows.Close(); err != nil {
			return result{}, formatError(err)
		}
		if err := rows.Err(); err != nil {
			return result{}, formatError(err)
		}
		for _, id := range ids {
			rows, err := tx.QueryContext(ctx, routeRecordQuery, id)
			if err != nil {
				return result{}, formatError(err)
			}
			found := false
			err = scanRouteRecords(rows, func(rec *maskcall.RouteRecord) error {
				found = true
				return fn(rec)
			})
			rows.Close()
			if err != nil {
				return result{}, err
			}
			if !found {
				if err := fn(&maskcall.RouteRecord{ConversationID: id, Deleted: true}); err != nil {
					return result{}, err
				}
			}
		}
		return result{v, true}, nil
	})
	return r.v, r.ok, err
}

// scanRouteRecords groups rows of routeRecordColumns (a conversation's
// participants adjacent) into records for fn.
func scanRouteRecords(rows *sql.Rows, fn func(*maskcall.RouteRecord) error) error {
	var rec maskcall.RouteRecord
	have := false
	// Expiries repeat (a conversation's two participants share one, and
	// the seeded or batch-created ones many): parse each distinct one once.
	var lastExp string
	var lastT time.Time
	for rows.Next() {
		var id, mode, number, proxy string
		var pos int
		var active bool
		var exp sql.NullString
		if err := rows.Scan(&id, &mode, &pos, &number, &proxy, &active, &exp); err != nil {
			return formatError(err)
		}
		if pos != 0 && pos != 1 {
			return fmt.Errorf("conversation %s: participant position %d", id, pos)
		}
		if have && id != rec.ConversationID {
			if err := fn(&rec); err != nil {
				return err
			}
			have = false
		}
		if !have {
			rec = maskcall.RouteRecord{ConversationID: id, Mode: maskcall.ConversationMode(mode)}
			have = true
		}
		p := maskcall.RouteParticipant{Number: number, ProxyNumber: proxy, Active: active}
		if exp.Valid {
			if exp.String != lastExp {
				t, err := parseTime(exp.String)
				if err != nil {
					return err
				}
				lastExp, lastT = exp.String, t
			}
			t := lastT
			p.ExpiresAt = &t
		}
		rec.Participants[pos] = p
	}
	if err := rows.Err(); err != nil {
		return formatError(err)
	}
	if have {
		return fn(&rec)
	}
	return nil
}

// PruneRouteChanges drops the route changes older than the last keep
// versions and records that they are gone (pruned_before), so RouteChanges
// from before them says to load again. The expiry sweep does it with
// routeChangesKept.
func (db *DB) PruneRouteChanges(ctx context.Context, keep int64) error {
	if keep < 0 {
		return maskcall.Errorf(maskcall.EINVALID, "Cannot keep %d versions of route changes.", keep)
	}
	tx, err := db.beginWrite(ctx, time.Time{})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := pruneRouteChanges(ctx, tx, keep); err != nil {
		return err
	}
	return tx.Commit()
}

// pruneRouteChanges drops the changes older than the last keep versions.
func pruneRouteChanges(ctx context.Context, tx *Tx, keep int64) error {
	var v, pruned int64
	if err := tx.QueryRowContext(ctx, routeKeptQuery).Scan(&v, &pruned); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return formatError(err)
	}
	bound := v - keep
	if bound <= pruned {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM route_changes WHERE version <= ?`, bound); err != nil {
		return formatError(err)
	}
	_, err := tx.ExecContext(ctx, `UPDATE route_version SET pruned_before = ? WHERE id = 0`, bound)
	return formatError(err)
}
