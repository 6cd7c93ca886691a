// Package pgseed bulk-fills a maskcall PostgreSQL database with synthetic
// conversations, for benchmarks and the load test: the same rows as
// internal/sqlite/sqliteseed (same ids, numbers and proxies, so the same
// webhooks route on either store). It is not part of the maskcall binary: it
// writes the schema's rows directly, bypassing the store.
package pgseed

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sqlite/sqliteseed"
)

// Conversations inserts into the migrated PostgreSQL database at url n
// active synthetic conversations, exactly as sqliteseed.Conversations
// describes them (ids sqliteseed.ConversationID, numbers sqliteseed.NumberA
// and NumberB, proxy sqliteseed.Proxy(pool, i), created at now, expiring 30
// days later), with the pool's counters and both directions' pairings as
// CreateConversation writes them.
//
// It is one transaction generating the rows with generate_series, with the
// filled tables' secondary indexes dropped first and rebuilt from their own
// definitions (pg_indexes) afterwards, then ANALYZE; 1,000,000
// conversations take seconds, not the hours of a million creates. The
// route feed logs no change per seeded conversation: its version moves once
// and route indexes load everything again.
func Conversations(ctx context.Context, url string, n int, pool []string, now time.Time) error {
	if n < 0 || n > sqliteseed.Max {
		return maskcall.Errorf(maskcall.EINVALID, "Seeding takes 0 to %d conversations, not %d.", sqliteseed.Max, n)
	}
	if len(pool) == 0 {
		return maskcall.Errorf(maskcall.EINVALID, "Seeding needs at least one pool number.")
	}
	seen := make(map[string]bool, len(pool))
	for _, p := range pool {
		if seen[p] {
			return maskcall.Errorf(maskcall.EINVALID, "Pool number %s is given twice.", p)
		}
		seen[p] = true
	}
	if n == 0 {
		return nil
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `SET maintenance_work_mem = '256MB'; SET timezone = 'UTC'`); err != nil {
		return err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	exec := func(query string, args ...any) error {
		if _, err := tx.Exec(ctx, query, args...); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23505" {
				return &maskcall.Error{Code: maskcall.ECONFLICT, Err: err, Message: "The store already holds synthetic conversations."}
			}
			return fmt.Errorf("seed: %w\n%s", err, query)
		}
		return nil
	}

	at := now.UTC().Truncate(time.Microsecond)
	exp := at.Add(30 * 24 * time.Hour)
	if err := exec(`CREATE TEMP TABLE seed_pool (k integer PRIMARY KEY, number text COLLATE "C" NOT NULL, country text NOT NULL) ON COMMIT DROP`); err != nil {
		return err
	}
	for k, p := range pool {
		if err := exec(`INSERT INTO seed_pool (k, number, country) VALUES ($1, $2, $3)`, k, p, country(p)); err != nil {
			return err
		}
	}
	if err := exec(`INSERT INTO numbers (number, country, type, features, status, active_conversations, created_at, updated_at)
		SELECT number, country, 'mobile-lvn', 'SMS,VOICE', 'active', 0, $1, $1 FROM seed_pool
		ON CONFLICT (number) DO NOTHING`, at); err != nil {
		return err
	}
	// Pool number k proxies conversations k, k+P, k+2P, ...
	P := len(pool)
	if err := exec(`UPDATE numbers SET active_conversations = active_conversations + $1::int / $2::int + (s.k < $1::int % $2::int)::int
		FROM seed_pool s WHERE s.number = numbers.number`, n, P); err != nil {
		return err
	}

	// Secondary indexes of the filled tables (not those of constraints:
	// primary keys and UNIQUE stay), dropped and rebuilt after the fill.
	rows, err := tx.Query(ctx, `SELECT i.indexname, i.indexdef FROM pg_indexes i
		WHERE i.schemaname = current_schema() AND i.tablename IN ('conversations', 'participants', 'pairings')
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
		ORDER BY i.indexname`)
	if err != nil {
		return err
	}
	type index struct{ name, def string }
	var indexes []index
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.def); err != nil {
			rows.Close()
			return err
		}
		indexes = append(indexes, ix)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, ix := range indexes {
		if err := exec(`DROP INDEX ` + pgx.Identifier{ix.name}.Sanitize()); err != nil {
			return err
		}
	}

	// The route feed's triggers would log a change row per seeded
	// conversation: they are off for the fill (ALTER TABLE is
	// transactional, and locks the table against other writers until
	// commit, so no other change goes unlogged), and the version moves
	// once with nothing kept before it, so every route index loads again.
	// The conversation_stats triggers stay on: they count the seeded ones.
	for _, tr := range routeTriggers {
		if err := exec(`ALTER TABLE ` + tr.table + ` DISABLE TRIGGER ` + tr.name); err != nil {
			return err
		}
	}

	// The formats are sqliteseed's ConversationID, NumberA and NumberB.
	const id = `'cv_seed' || lpad(i::text, 8, '0')`
	const numA = `'+44771' || lpad(i::text, 7, '0')`
	const numB = `'+1202' || (2000000 + i)::text`
	if err := exec(`INSERT INTO conversations (id, ref, status, created_at, expires_at)
		SELECT `+id+`, '', 'active', $2, $3 FROM generate_series(0, $1::int - 1) AS i`, n, at, exp); err != nil {
		return err
	}
	if err := exec(`INSERT INTO participants (conversation_id, position, number, country, proxy_number, label, active, expires_at)
		SELECT `+id+`, pos,
			CASE pos WHEN 0 THEN `+numA+` ELSE `+numB+` END,
			CASE pos WHEN 0 THEN 'GB' ELSE 'US' END,
			s.number,
			CASE pos WHEN 0 THEN 'a' ELSE 'b' END,
			true, $3
		FROM generate_series(0, $1::int - 1) AS i
		CROSS JOIN (VALUES (0::smallint), (1::smallint)) AS v(pos)
		JOIN seed_pool s ON s.k = i % $2::int`, n, P, exp); err != nil {
		return err
	}
	if err := exec(`INSERT INTO pairings (number, other_number, proxy_number, conversation_id)
		SELECT `+numB+`, `+numA+`, s.number, `+id+` FROM generate_series(0, $1::int - 1) AS i JOIN seed_pool s ON s.k = i % $2::int
		UNION ALL
		SELECT `+numA+`, `+numB+`, s.number, `+id+` FROM generate_series(0, $1::int - 1) AS i JOIN seed_pool s ON s.k = i % $2::int`,
		n, P); err != nil {
		return err
	}
	for _, ix := range indexes {
		if err := exec(ix.def); err != nil {
			return err
		}
	}
	for _, tr := range routeTriggers {
		if err := exec(`ALTER TABLE ` + tr.table + ` ENABLE TRIGGER ` + tr.name); err != nil {
			return err
		}
	}
	if err := exec(`UPDATE route_version SET version = version + 1, pruned_before = version + 1 WHERE id = 1`); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	// Statistics now, so the first queries are planned on the real sizes.
	_, err = conn.Exec(ctx, `ANALYZE numbers, conversations, participants, pairings`)
	return err
}

// routeTriggers are the route feed's triggers seeding would fire
// (migration/0018_route_changes.sql): inserting conversations fires none.
var routeTriggers = []struct{ table, name string }{
	{"participants", "route_participants_insert"},
}

// country is the country of a seeded pool number, from its calling code
// (as sqliteseed's).
func country(number string) string {
	switch {
	case strings.HasPrefix(number, "+44"):
		return "GB"
	case strings.HasPrefix(number, "+1"):
		return "US"
	case strings.HasPrefix(number, "+33"):
		return "FR"
	}
	return ""
}
