// Package sqliteseed bulk-fills a maskcall SQLite file with synthetic
// conversations, for benchmarks and the load test. It is not part of the
// maskcall binary: it writes the schema's rows directly, on its own
// connection, bypassing the store.
package sqliteseed

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Max is the most conversations Conversations can create: the
// numbering of NumberB runs out after it.
const Max = 8_000_000

// ConversationID is the id of synthetic conversation i (0 ≤ i < n) of
// Conversations.
func ConversationID(i int) string { return fmt.Sprintf("cv_seed%08d", i) }

// NumberA is participant A's real number in synthetic conversation i: a
// GB mobile number, +44771 and seven digits.
func NumberA(i int) string { return fmt.Sprintf("+44771%07d", i) }

// NumberB is participant B's real number in synthetic conversation i: a
// US number in Washington DC, +1202 and seven digits from 2000000 up.
//
// Both are valid numbers to libphonenumber (phone.Parse accepts them), for
// every i below Max.
func NumberB(i int) string { return fmt.Sprintf("+1202%07d", 2_000_000+i) }

// Proxy is the proxy number both participants of synthetic
// conversation i were given: pool[i % len(pool)].
func Proxy(pool []string, i int) string { return pool[i%len(pool)] }

// Conversations bulk-inserts into the SQLite file at path (migrated, and
// maybe open in a store meanwhile) n active synthetic conversations, for
// benchmarks and load tests: conversation i has the id
// ConversationID(i), participant A (position 0, label "a", country GB)
// with number NumberA(i) and participant B (position 1, label "b",
// country US) with NumberB(i), and both participants have the proxy
// Proxy(pool, i). Conversations are created at now and expire 30
// days later.
//
// The rows are what CreateConversation would have written for the same
// proxies: participant keys, sticky pairings in both directions, and each
// pool number's active-conversation counter. Pool numbers not yet in the
// store are added as active numbers (country from their calling code for
// +44, +1 and +33, else none); pool numbers must be distinct, and none
// may be a participant's number. Allocation rules are bypassed, so the
// store must hold no active conversation of the synthetic participants;
// ECONFLICT if a synthetic id exists already.
//
// It is one write transaction that generates the rows in SQL, in key
// order, with the secondary indexes of the tables it fills dropped and
// rebuilt afterwards (from their own definitions in the schema), so that
// 1,000,000 conversations take seconds rather than minutes. It ends with a
// WAL checkpoint. Other processes wait (busy_timeout) while it runs.
func Conversations(ctx context.Context, path string, n int, pool []string, now time.Time) (err error) {
	if n < 0 || n > Max {
		return maskcall.Errorf(maskcall.EINVALID, "Seeding takes 0 to %d conversations, not %d.", Max, n)
	}
	if len(pool) == 0 {
		return maskcall.Errorf(maskcall.EINVALID, "Seeding needs at least one pool number.")
	}
	seen := make(map[string]bool, len(pool))
	for _, p := range pool {
		if seen[p] {
			return maskcall.Errorf(maskcall.EINVALID, "Pool number %s is given twice.", p)
		}
		if isParticipant(p, n) {
			return maskcall.Errorf(maskcall.EINVALID, "Pool number %s is a synthetic participant's number.", p)
		}
		seen[p] = true
	}
	if n == 0 {
		return nil
	}

	// A connection of its own, taking the write lock up front like the
	// store's (another writer waits for it, and it for them).
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	sdb, err := sql.Open("sqlite", "file:"+strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(abs)+
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(wal)&_txlock=immediate")
	if err != nil {
		return err
	}
	defer sdb.Close()
	conn, err := sdb.Conn(ctx)
	if err != nil {
		return formatError(err)
	}
	defer conn.Close()
	// Consistent by construction: no foreign-key checks. A big page cache
	// and temporary storage in memory keep the tables being appended to
	// and the rebuilt indexes' sorts off the disk. The connection gets its
	// settings back after.
	var cacheSize int
	if err := conn.QueryRowContext(ctx, `PRAGMA cache_size`).Scan(&cacheSize); err != nil {
		return formatError(err)
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA foreign_keys = OFF; PRAGMA cache_size = -524288; PRAGMA temp_store = MEMORY`); err != nil {
		return formatError(err)
	}
	defer func() {
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx),
			fmt.Sprintf(`PRAGMA foreign_keys = ON; PRAGMA cache_size = %d; PRAGMA temp_store = DEFAULT`, cacheSize)); err == nil {
			err = formatError(rerr)
		}
	}()

	tx, err := conn.BeginTx(ctx, nil) // BEGIN IMMEDIATE (_txlock)
	if err != nil {
		return formatError(err)
	}
	defer tx.Rollback()
	exec := func(query string, args ...any) error {
		if _, err := tx.ExecContext(ctx, query, args...); err != nil {
			if err = formatError(err); maskcall.ErrorCode(err) == maskcall.ECONFLICT {
				return &maskcall.Error{Code: maskcall.ECONFLICT, Err: err, Message: "The store already holds synthetic conversations."}
			}
			return fmt.Errorf("seed: %w\n%s", err, query)
		}
		return nil
	}

	now = now.UTC()
	at, exp := formatTime(now), formatTime(now.Add(30*24*time.Hour))

	// The pool, keyed by position, in a temporary table.
	if err := exec(`CREATE TEMP TABLE seed_pool (k INTEGER PRIMARY KEY, number TEXT NOT NULL, country TEXT NOT NULL)`); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `DROP TABLE IF EXISTS temp.seed_pool`)
	for k, p := range pool {
		if err := exec(`INSERT INTO seed_pool (k, number, country) VALUES (?, ?, ?)`, k, p, country(p)); err != nil {
			return err
		}
	}
	if err := exec(`INSERT INTO numbers (number, country, type, features, status, active_conversations, created_at, updated_at)
		SELECT number, country, 'mobile-lvn', 'SMS,VOICE', 'active', 0, ?, ? FROM seed_pool WHERE true
		ON CONFLICT (number) DO NOTHING`, at, at); err != nil {
		return err
	}
	// Pool number k proxies conversations k, k+P, k+2P, ...
	P := len(pool)
	if err := exec(`UPDATE numbers SET active_conversations = active_conversations +
			(SELECT ? / ? + (k < ? % ?) FROM seed_pool WHERE seed_pool.number = numbers.number)
		WHERE number IN (SELECT number FROM seed_pool)`, n, P, n, P); err != nil {
		return err
	}

	// Drop the secondary indexes of the tables filled; they are rebuilt
	// from the same SQL after the rows are in, which sorts once instead of
	// inserting millions of keys in random order.
	type index struct{ name, sql string }
	var indexes []index
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_schema
		WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ('conversations', 'participants', 'pairings')
		ORDER BY name`)
	if err != nil {
		return formatError(err)
	}
	for rows.Next() {
		var ix index
		if err := rows.Scan(&ix.name, &ix.sql); err != nil {
			rows.Close()
			return formatError(err)
		}
		indexes = append(indexes, ix)
	}
	if err := rows.Close(); err != nil {
		return formatError(err)
	}
	for _, ix := range indexes {
		if err := exec(`DROP INDEX "` + ix.name + `"`); err != nil {
			return err
		}
	}
	// The route feed's triggers (migration 0018) would log each of the 2n
	// participants as a change; they are put back after, and the route
	// version moves once, past every change kept, so that an index loaded
	// before loads everything again.
	var triggers []index
	if rows, err = tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_schema
		WHERE type = 'trigger' AND name LIKE 'route\_%' ESCAPE '\' ORDER BY name`); err != nil {
		return formatError(err)
	}
	for rows.Next() {
		var tr index
		if err := rows.Scan(&tr.name, &tr.sql); err != nil {
			rows.Close()
			return formatError(err)
		}
		triggers = append(triggers, tr)
	}
	if err := rows.Close(); err != nil {
		return formatError(err)
	}
	for _, tr := range triggers {
		if err := exec(`DROP TRIGGER "` + tr.name + `"`); err != nil {
			return err
		}
	}

	// seq(i) counts 0 to n-1. The printf formats are ConversationID,
	// NumberA and NumberB. Rows go in primary-key order, so each
	// table only ever appends.
	const seq = `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?) `
	if err := exec(seq+`INSERT INTO conversations (id, ref, status, created_at, expires_at)
		SELECT printf('cv_seed%08d', i), '', 'active', ?, ? FROM seq`, n, at, exp); err != nil {
		return err
	}
	// j counts 2n participants: conversation j/2, position j%2.
	if err := exec(seq+`INSERT INTO participants (conversation_id, position, number, country, proxy_number, label, active, expires_at)
		SELECT printf('cv_seed%08d', i / 2),
			i % 2,
			CASE i % 2 WHEN 0 THEN printf('+44771%07d', i / 2) ELSE printf('+1202%07d', 2000000 + i / 2) END,
			CASE i % 2 WHEN 0 THEN 'GB' ELSE 'US' END,
			(SELECT number FROM seed_pool WHERE k = (i / 2) % ?),
			CASE i % 2 WHEN 0 THEN 'a' ELSE 'b' END,
			1, ?
		FROM seq`, 2*n, P, exp); err != nil {
		return err
	}
	// Pairings are keyed by (number, other_number): all B numbers (+1202…)
	// sort before all A numbers (+44771…), so B's rows go first.
	if err := exec(seq+`INSERT INTO pairings (number, other_number, proxy_number, conversation_id)
		SELECT printf('+1202%07d', 2000000 + i), printf('+44771%07d', i),
			(SELECT number FROM seed_pool WHERE k = i % ?), printf('cv_seed%08d', i)
		FROM seq`, n, P); err != nil {
		return err
	}
	if err := exec(seq+`INSERT INTO pairings (number, other_number, proxy_number, conversation_id)
		SELECT printf('+44771%07d', i), printf('+1202%07d', 2000000 + i),
			(SELECT number FROM seed_pool WHERE k = i % ?), printf('cv_seed%08d', i)
		FROM seq`, n, P); err != nil {
		return err
	}

	for _, ix := range indexes {
		if err := exec(ix.sql); err != nil {
			return err
		}
	}
	for _, tr := range triggers {
		if err := exec(tr.sql); err != nil {
			return err
		}
	}
	if len(triggers) > 0 {
		if err := exec(`UPDATE route_version SET version = version + 1, pruned_before = version + 1 WHERE id = 0`); err != nil {
			return err
		}
	}
	// The rebuilt indexes must be exactly the migration's.
	var count int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND sql IS NOT NULL
		AND tbl_name IN ('conversations', 'participants', 'pairings')`).Scan(&count); err != nil {
		return formatError(err)
	} else if count != len(indexes) {
		return fmt.Errorf("seed: %d indexes after rebuilding %d", count, len(indexes))
	}
	if err := tx.Commit(); err != nil {
		return formatError(err)
	}
	// Move the transaction from the WAL into the database file now, rather
	// than in the first process that happens to close it.
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return formatError(err)
	}
	return nil
}

// isParticipant reports whether number is NumberA(i) or
// NumberB(i) for some i < n.
func isParticipant(number string, n int) bool {
	digits := func(s string, width int) (int, bool) {
		if len(s) != width {
			return 0, false
		}
		v := 0
		for i := 0; i < len(s); i++ {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
			v = v*10 + int(s[i]-'0')
		}
		return v, true
	}
	if rest, ok := strings.CutPrefix(number, "+44771"); ok {
		v, ok := digits(rest, 7)
		return ok && v < n
	}
	if rest, ok := strings.CutPrefix(number, "+1202"); ok {
		v, ok := digits(rest, 7)
		return ok && v >= 2_000_000 && v < 2_000_000+n
	}
	return false
}

// country is the country of a seeded pool number, from its calling
// code.
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

// formatError marks constraint failures ECONFLICT, like the store does.
func formatError(err error) error {
	var se *sqlite.Error
	if err != nil && errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &maskcall.Error{Code: maskcall.ECONFLICT, Err: err, Message: "That already exists."}
		}
	}
	return err
}

const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }
