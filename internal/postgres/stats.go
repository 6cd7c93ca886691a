package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/maskcall/maskcall/internal/maskcall"
)

var (
	_ maskcall.StatsStore        = (*DB)(nil)
	_ maskcall.RelayQueueStatser = (*DB)(nil)
)

// CountActiveConversations sums the count of conversations not ended that
// triggers keep (migration 0017), in at most 16 rows, instead of counting
// every active conversation.
func (db *DB) CountActiveConversations(ctx context.Context) (int, error) {
	if db.pool == nil {
		return 0, errNotOpen
	}
	var n int
	err := db.pool.QueryRow(ctx, `SELECT coalesce(sum(active), 0)::bigint FROM conversation_stats`).Scan(&n)
	return n, formatError(err)
}

// PoolStats counts the pool, which is small (one row per number).
func (db *DB) PoolStats(ctx context.Context) ([]maskcall.PoolStat, error) {
	if db.pool == nil {
		return nil, errNotOpen
	}
	rows, err := db.pool.Query(ctx, `SELECT country, status, count(*)::int,
		(count(*) FILTER (WHERE status = 'active' AND active_conversations = 0))::int
		FROM numbers WHERE status <> 'released' GROUP BY country, status ORDER BY country, status`)
	if err != nil {
		return nil, formatError(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (maskcall.PoolStat, error) {
		var p maskcall.PoolStat
		err := row.Scan(&p.Country, &p.Status, &p.Numbers, &p.Free)
		return p, err
	})
	return out, formatError(err)
}

// RelayQueueStats counts the relay jobs pending or sending, on their
// partial indexes, and finds the earliest due pending one.
func (db *DB) RelayQueueStats(ctx context.Context, now time.Time) (maskcall.QueueStats, error) {
	var q maskcall.QueueStats
	if db.pool == nil {
		return q, errNotOpen
	}
	var oldest *time.Time
	err := db.pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM relay_jobs WHERE state = 'pending')::int +
		(SELECT count(*) FROM relay_jobs WHERE state = 'sending')::int,
		(SELECT min(next_attempt_at) FROM relay_jobs WHERE state = 'pending' AND next_attempt_at <= $1)`,
		ts(now)).Scan(&q.Depth, &oldest)
	if err != nil {
		return q, formatError(err)
	}
	if oldest != nil {
		q.OldestDue = oldest.UTC()
	}
	return q, nil
}
