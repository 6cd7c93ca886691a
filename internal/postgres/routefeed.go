package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/maskcall/maskcall/internal/maskcall"
)

// The route feed: route_version and route_changes are written by the
// triggers of migration/0018_route_changes.sql in the transaction of every
// route change, whoever makes it; this file only reads them (and prunes the
// log from the expiry sweep).

var _ maskcall.RouteFeed = (*DB)(nil)

// routeChangesKept is how many versions of changes the sweep keeps: an
// index that fell further behind loads everything again. Counted in
// versions, not time, so the log's size is bounded however busy the
// store is (a version is one transaction; 100,000 are minutes of creates
// at full speed, hours on a quiet deployment).
const routeChangesKept = 100_000

// routeColumns read a conversation's record: p and q are its participants
// at positions 0 and 1.
const routeColumns = `c.mode, p.number, p.proxy_number, p.active, p.expires_at,
	q.number, q.proxy_number, q.active, q.expires_at`

// RouteVersion returns the route version: one indexed read of one row.
func (db *DB) RouteVersion(ctx context.Context) (int64, error) {
	if db.pool == nil {
		return 0, errNotOpen
	}
	var v int64
	err := db.pool.QueryRow(ctx, `SELECT version FROM route_version WHERE id = 1`).Scan(&v)
	return v, formatError(err)
}

// LoadRoutes streams the record of every conversation with an active
// participant, read in one snapshot with its version. Rows are handed to
// fn as they arrive: a million conversations are never held at once.
func (db *DB) LoadRoutes(ctx context.Context, fn func(*maskcall.RouteRecord) error) (int64, error) {
	return read(ctx, db, time.Time{}, func(tx *Tx) (int64, error) {
		var v int64
		if err := tx.QueryRow(ctx, `SELECT version FROM route_version WHERE id = 1`).Scan(&v); err != nil {
			return 0, formatError(err)
		}
		// Hash joins over the two tables: one pass each, whatever their size.
		rows, err := tx.Query(ctx, `SELECT p.conversation_id, `+routeColumns+`
			FROM participants AS p
			JOIN participants AS q ON q.conversation_id = p.conversation_id AND q.position = 1
			JOIN conversations AS c ON c.id = p.conversation_id
			WHERE p.position = 0 AND (p.active OR q.active)`)
		if err != nil {
			return 0, formatError(err)
		}
		defer rows.Close()
		for rows.Next() {
			r := new(maskcall.RouteRecord)
			p, q := &r.Participants[0], &r.Participants[1]
			if err := rows.Scan(&r.ConversationID, &r.Mode, &p.Number, &p.ProxyNumber, &p.Active, &p.ExpiresAt,
				&q.Number, &q.ProxyNumber, &q.Active, &q.ExpiresAt); err != nil {
				return 0, formatError(err)
			}
			p.ExpiresAt, q.ExpiresAt = utcPtr(p.ExpiresAt), utcPtr(q.ExpiresAt)
			if err := fn(r); err != nil {
				return 0, err
			}
		}
		return v, formatError(rows.Err())
	})
}

// RouteChanges hands fn the current record of each conversation changed
// after since, all read in one snapshot with its version. ok is false when
// changes up to since were pruned, and also when since is ahead of the
// store (an index that followed another database, e.g. before a restore or
// a db copy): either way the index must load again.
func (db *DB) RouteChanges(ctx context.Context, since int64, fn func(*maskcall.RouteRecord) error) (int64, bool, error) {
	if db.pool == nil {
		return 0, false, errNotOpen
	}
	// Nothing changed, the common case on every call: one statement, no
	// transaction.
	var v, pruned int64
	if err := db.pool.QueryRow(ctx, `SELECT version, pruned_before FROM route_version WHERE id = 1`).Scan(&v, &pruned); err != nil {
		return 0, false, formatError(err)
	}
	if since < pruned || since > v {
		return v, false, nil
	}
	if since == v {
		return v, true, nil
	}
	type result struct {
		v  int64
		ok bool
	}
	res, err := read(ctx, db, time.Time{}, func(tx *Tx) (result, error) {
		var v, pruned int64
		if err := tx.QueryRow(ctx, `SELECT version, pruned_before FROM route_version WHERE id = 1`).Scan(&v, &pruned); err != nil {
			return result{}, formatError(err)
		}
		if since < pruned || since > v {
			return result{v, false}, nil
		}
		rows, err := tx.Query(ctx, `SELECT ch.conversation_id, c.id IS NULL, `+routeColumns+`
			FROM (SELECT DISTINCT conversation_id FROM route_changes WHERE version > $1) AS ch
			LEFT JOIN conversations AS c ON c.id = ch.conversation_id
			LEFT JOIN participants AS p ON p.conversation_id = ch.conversation_id AND p.position = 0
			LEFT JOIN participants AS q ON q.conversation_id = ch.conversation_id AND q.position = 1`, since)
		if err != nil {
			return result{}, formatError(err)
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanChangedRoute(rows)
			if err != nil {
				return result{}, formatError(err)
			}
			if err := fn(r); err != nil {
				return result{}, err
			}
		}
		return result{v, true}, formatError(rows.Err())
	})
	return res.v, res.ok, err
}

// scanChangedRoute reads a row of RouteChanges' query, where the
// conversation or its participants may be gone.
func scanChangedRoute(rows pgx.Rows) (*maskcall.RouteRecord, error) {
	r := new(maskcall.RouteRecord)
	var mode *string
	var num, proxy [2]*string
	var active [2]*bool
	var exp [2]*time.Time
	if err := rows.Scan(&r.ConversationID, &r.Deleted, &mode, &num[0], &proxy[0], &active[0], &exp[0],
		&num[1], &proxy[1], &active[1], &exp[1]); err != nil {
		return nil, err
	}
	if r.Deleted {
		return r, nil
	}
	if mode != nil {
		r.Mode = maskcall.ConversationMode(*mode)
	}
	for i := range r.Participants {
		if num[i] == nil {
			continue // no such participant: nothing routes to it
		}
		r.Participants[i] = maskcall.RouteParticipant{Number: *num[i], ProxyNumber: *proxy[i],
			Active: *active[i], ExpiresAt: utcPtr(exp[i])}
	}
	return r, nil
}

// PruneRouteChanges drops the route changes older than the last keep
// versions and records that they are gone (pruned_before), so RouteChanges
// from before them says to load again. The expiry sweep runs it with the
// store's retention (routeChangesKept).
func (db *DB) PruneRouteChanges(ctx context.Context, keep int64) error {
	if keep < 0 {
		return maskcall.Errorf(maskcall.EINVALID, "Cannot keep %d versions of route changes.", keep)
	}
	return db.inIdempotentTx(ctx, time.Time{}, func(tx *Tx) error {
		// The bound is read once, so pruned_before says exactly what was
		// deleted, however many versions commit meanwhile.
		var bound, pruned int64
		err := tx.QueryRow(ctx, `SELECT version - $1, pruned_before FROM route_version WHERE id = 1`, keep).Scan(&bound, &pruned)
		if errors.Is(err, pgx.ErrNoRows) {
			return maskcall.Errorf(maskcall.EINTERNAL, "The route version is missing.")
		} else if err != nil {
			return formatError(err)
		}
		if bound <= pruned {
			return nil
		}
		if _, err := tx.Exec(ctx, `DELETE FROM route_changes WHERE version <= $1`, bound); err != nil {
			return formatError(err)
		}
		// Last, so route changes wait on the version row only for the
		// commit, not for the delete.
		_, err = tx.Exec(ctx, `UPDATE route_version SET pruned_before = greatest(pruned_before, $1) WHERE id = 1`, bound)
		return formatError(err)
	})
}
