package pgseed_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/postgres"
	"github.com/maskcall/maskcall/internal/postgres/pgseed"
	"github.com/maskcall/maskcall/internal/postgres/pgtest"
	"github.com/maskcall/maskcall/internal/sqlite/sqliteseed"
)

// TestConversations seeds a migrated database and checks the rows are what
// the store itself would have written: every conversation routes both
// ways, the pool's counters count them, both pairings exist, the indexes are
// the migration's, and the store goes on allocating and ending around them.
func TestConversations(t *testing.T) {
	url := pgtest.Schema(t)
	ctx := context.Background()
	db := postgres.NewDB(url)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	indexes := func() []string {
		rows, err := db.Pool().Query(ctx, `SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() ORDER BY indexname`)
		if err != nil {
			t.Fatal(err)
		}
		defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return defs
	}
	before := indexes()
	v0, err := db.RouteVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}

	const n = 250
	pool := []string{"+447400000001", "+447400000002", "+447400000003"}
	now := time.Now()
	if err := pgseed.Conversations(ctx, url, n, pool, now); err != nil {
		t.Fatal(err)
	}
	if after := indexes(); len(after) != len(before) {
		t.Fatalf("indexes after seeding:\n%v\nbefore:\n%v", after, before)
	} else {
		for i := range after {
			if after[i] != before[i] {
				t.Errorf("index %d: %s, was %s", i, after[i], before[i])
			}
		}
	}
	for _, i := range []int{0, 1, 99, n - 1} {
		proxy := sqliteseed.Proxy(pool, i)
		r, err := db.FindRoute(ctx, sqliteseed.NumberA(i), proxy, now)
		if err != nil {
			t.Fatalf("conversation %d, A calls: %v", i, err)
		}
		if r.ConversationID != sqliteseed.ConversationID(i) || r.Callee.Number != sqliteseed.NumberB(i) || r.Callee.ProxyNumber != proxy {
			t.Errorf("conversation %d: route %+v", i, r)
		}
		if r, err := db.FindRoute(ctx, sqliteseed.NumberB(i), proxy, now); err != nil || r.Callee.Number != sqliteseed.NumberA(i) {
			t.Errorf("conversation %d, B calls: %+v, %v", i, r, err)
		}
		// Expiring 30 days later, to the instant.
		if _, err := db.FindRoute(ctx, sqliteseed.NumberA(i), proxy, now.Add(30*24*time.Hour)); maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
			t.Errorf("conversation %d routes at its expiry: %v", i, err)
		}
	}
	// The route feed: one version for the whole fill, no change row per
	// conversation, and an index from before it must load again, which
	// gives every seeded conversation.
	var changes int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM route_changes`).Scan(&changes); err != nil {
		t.Fatal(err)
	}
	v1, err := db.RouteVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if changes != 0 || v1 != v0+1 {
		t.Errorf("seeding left %d route changes and moved the version from %d to %d; want none, one step", changes, v0, v1)
	}
	if _, ok, err := db.RouteChanges(ctx, v0, func(*maskcall.RouteRecord) error { return nil }); err != nil || ok {
		t.Errorf("RouteChanges from before the seed: ok %v, %v; want not kept", ok, err)
	}
	loaded := 0
	if v, err := db.LoadRoutes(ctx, func(*maskcall.RouteRecord) error { loaded++; return nil }); err != nil || v != v1 || loaded != n {
		t.Errorf("LoadRoutes: %d records at version %d, %v; want %d at %d", loaded, v, err, n, v1)
	}

	var counters, pairings int
	if err := db.Pool().QueryRow(ctx, `SELECT sum(active_conversations) FROM numbers`).Scan(&counters); err != nil {
		t.Fatal(err)
	}
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM pairings`).Scan(&pairings); err != nil {
		t.Fatal(err)
	}
	if counters != n || pairings != 2*n {
		t.Errorf("counters sum to %d, %d pairings; want %d and %d", counters, pairings, n, 2*n)
	}

	// The store allocates around the seeded keys (A's proxy is in use by
	// A) and ends a seeded conversation.
	c := &maskcall.Conversation{Participants: []maskcall.Participant{
		{Number: sqliteseed.NumberA(0), Country: "GB"}, {Number: "+33612345678", Country: "FR"}}}
	if err := db.CreateConversation(ctx, c, nil, now); err != nil {
		t.Fatal(err)
	}
	// The route triggers are on again.
	var seen []string
	if _, ok, err := db.RouteChanges(ctx, v1, func(r *maskcall.RouteRecord) error { seen = append(seen, r.ConversationID); return nil }); err != nil || !ok || len(seen) != 1 || seen[0] != c.ID {
		t.Errorf("RouteChanges after a create on the seeded store: %v, ok %v, %v; want %s", seen, ok, err, c.ID)
	}
	if c.Participants[0].ProxyNumber == sqliteseed.Proxy(pool, 0) {
		t.Errorf("a new conversation of A was given the proxy A already uses: %+v", c.Participants[0])
	}
	if _, err := db.EndConversation(ctx, sqliteseed.ConversationID(1), "test", now); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FindRoute(ctx, sqliteseed.NumberA(1), sqliteseed.Proxy(pool, 1), now); maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
		t.Errorf("an ended seeded conversation routes: %v", err)
	}

	// Seeding twice is a conflict, and leaves the rows as they were.
	if err := pgseed.Conversations(ctx, url, 10, pool, now); maskcall.ErrorCode(err) != maskcall.ECONFLICT {
		t.Errorf("seeding again: %v, want ECONFLICT", err)
	}
}
