package sqlite

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/phone"
	"github.com/maskcall/maskcall/internal/sqlite/sqliteseed"
)

// SeedConversations writes what CreateConversation would have: routes both
// ways, counters, sticky pairings, foreign keys and the schema's indexes.
func TestDB_SeedConversations(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	MustCreateNumber(t, db, "+447400000001", "GB") // already in the pool
	pool := []string{"+447400000001", "+447400000002", "+12025550100"}
	const n = 1001
	if err := sqliteseed.Conversations(ctx, db.Path(), n, pool, t0); err != nil {
		t.Fatal(err)
	}
	assertCounters(t, db)
	for _, i := range []int{0, 1, 2, 500, n - 1} {
		r, err := db.FindRoute(ctx, sqliteseed.NumberA(i), sqliteseed.Proxy(pool, i), t0.Add(time.Hour))
		if err != nil {
			t.Fatalf("route %d: %v", i, err)
		}
		if r.ConversationID != sqliteseed.ConversationID(i) || r.Callee.Number != sqliteseed.NumberB(i) || r.Callee.ProxyNumber != sqliteseed.Proxy(pool, i) {
			t.Fatalf("route %d = %+v", i, r)
		}
		if _, err := db.FindRoute(ctx, sqliteseed.NumberB(i), sqliteseed.Proxy(pool, i), t0.Add(time.Hour)); err != nil {
			t.Fatalf("route %d back: %v", i, err)
		}
	}
	// The synthetic numbers are valid ones, so the CLI and the webhook take
	// them.
	for _, i := range []int{0, 123_456, 999_999, sqliteseed.Max - 1} {
		for _, num := range []string{sqliteseed.NumberA(i), sqliteseed.NumberB(i)} {
			if _, err := phone.Parse(num, ""); err != nil {
				t.Errorf("%d: %v", i, err)
			}
		}
	}
	// Expired after 30 days.
	if _, err := db.FindRoute(ctx, sqliteseed.NumberA(3), sqliteseed.Proxy(pool, 3), t0.Add(31*24*time.Hour)); maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
		t.Fatalf("expired route: %v", err)
	}
	var fkErrors int
	if err := db.rdb.QueryRow(`SELECT count(*) FROM pragma_foreign_key_check`).Scan(&fkErrors); err != nil || fkErrors != 0 {
		t.Fatalf("foreign key check: %d, %v", fkErrors, err)
	}
	var ok string
	if err := db.rdb.QueryRow(`PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity_check: %q, %v", ok, err)
	}
	// The schema is the migration's, indexes included.
	if got, want := schemaOf(t, db), schemaOf(t, MustOpenDB(t)); got != want {
		t.Fatalf("schema after seeding:\n%s\nwant:\n%s", got, want)
	}
	if plan := strings.Join(queryPlan(t, db, routeQuery, "a", "b", "c"), "\n"); !strings.Contains(plan, "participants_key_idx") {
		t.Fatalf("route plan:\n%s", plan)
	}

	// Sticky pairing and the key guard work on seeded rows: the same pair
	// again is refused while active (key in use) ... after ending, it gets
	// its old proxy back.
	id := sqliteseed.ConversationID(7)
	if _, err := db.EndConversation(ctx, id, "", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	c := &maskcall.Conversation{Participants: []maskcall.Participant{
		{Number: sqliteseed.NumberA(7), Country: "GB"}, {Number: sqliteseed.NumberB(7), Country: "US"}}}
	if err := db.CreateConversation(ctx, c, nil, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if c.Participants[0].ProxyNumber != sqliteseed.Proxy(pool, 7) || c.Participants[1].ProxyNumber != sqliteseed.Proxy(pool, 7) {
		t.Fatalf("not sticky: %+v", c.Participants)
	}
	assertCounters(t, db)

	// Seeding twice is refused.
	if err := sqliteseed.Conversations(ctx, db.Path(), 10, pool, t0); maskcall.ErrorCode(err) != maskcall.ECONFLICT {
		t.Fatalf("second seed: %v", err)
	}
	// The write connection got its settings back.
	var fk, cache int
	if err := db.wdb.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
		t.Fatalf("foreign_keys = %d, %v", fk, err)
	}
	if err := db.wdb.QueryRow(`PRAGMA cache_size`).Scan(&cache); err != nil || cache != -2000 {
		t.Fatalf("cache_size = %d, %v", cache, err)
	}
}

func schemaOf(tb testing.TB, db *DB) string {
	rows, err := db.rdb.Query(`SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var typ, name, sql string
		if err := rows.Scan(&typ, &name, &sql); err != nil {
			tb.Fatal(err)
		}
		fmt.Fprintf(&b, "%s %s %s\n", typ, name, sql)
	}
	return b.String()
}

func TestDB_SeedConversations_Invalid(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	for _, tc := range []struct {
		n    int
		pool []string
	}{
		{-1, []string{"+447400000001"}},
		{sqliteseed.Max + 1, []string{"+447400000001"}},
		{10, nil},
		{10, []string{"+447400000001", "+447400000001"}},
		{10, []string{sqliteseed.NumberA(3)}},
		{10, []string{sqliteseed.NumberB(9)}},
	} {
		if err := sqliteseed.Conversations(ctx, db.Path(), tc.n, tc.pool, t0); maskcall.ErrorCode(err) != maskcall.EINVALID {
			t.Errorf("SeedConversations(%d, %v) = %v, want EINVALID", tc.n, tc.pool, err)
		}
	}
}

// BenchmarkDB_SeedConversations measures the bulk fill (b.N is ignored
// beyond one round per size).
func BenchmarkDB_SeedConversations(b *testing.B) {
	for _, n := range []int{100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				db := MustOpenDB(b)
				b.StartTimer()
				if err := sqliteseed.Conversations(context.Background(), db.Path(), n, []string{"+447400000001", "+447400000002"}, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
