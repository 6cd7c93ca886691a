package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// seed is a bulk-loaded store: n active conversations over a pool of
// poolSize GB numbers, conversation i between seedA(i) and seedB(i), both
// given pool number i % poolSize.
type seed struct {
	n, poolSize int
}

func seedA(i int) string    { return fmt.Sprintf("+4477%08d", i) }
func seedB(i int) string    { return fmt.Sprintf("+1202%07d", i) }
func seedPool(i int) string { return fmt.Sprintf("+44700%07d", i) }

// MustSeedConversations bulk-inserts n active conversations in one
// transaction, bypassing allocation (its rules are tested elsewhere) but
// keeping counters, keys and pairings as CreateConversation would. The rows
// are generated in SQL: 100,000 conversations take a few seconds.
func MustSeedConversations(tb testing.TB, db *DB, n, poolSize int) seed {
	tb.Helper()
	ctx := context.Background()
	// The rows are consistent by construction: skip the foreign-key checks,
	// and give the indexes being built room so pages are not spilled to the
	// WAL mid-transaction. The write pool's one connection gets its
	// settings back after.
	if _, err := db.wdb.ExecContext(ctx, `PRAGMA foreign_keys = OFF; PRAGMA cache_size = -262144`); err != nil {
		tb.Fatal(err)
	}
	defer db.wdb.ExecContext(ctx, `PRAGMA foreign_keys = ON; PRAGMA cache_size = -2000`)
	tx, err := db.beginWrite(ctx, t0)
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	at, exp := formatTime(t0), formatTime(t0.Add(24*time.Hour))

	// seq(i) counts 0 to n-1; the printf formats match seedA, seedB,
	// seedPool.
	const seq = `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?) `
	for _, st := range []struct {
		query string
		args  []any
	}{
		{seq + `INSERT INTO numbers (number, country, type, features, status, active_conversations, created_at, updated_at)
			SELECT printf('+44700%07d', i), 'GB', 'mobile-lvn', 'SMS,VOICE', 'active',
				? / ? + (i < ? % ?), ?, ? FROM seq`,
			[]any{poolSize, n, poolSize, n, poolSize, at, at}},
		{seq + `INSERT INTO conversations (id, ref, status, created_at, expires_at)
			SELECT printf('cv_seed%08d', i), '', 'active', ?, ? FROM seq`,
			[]any{n, at, exp}},
		{seq + `INSERT INTO participants (conversation_id, position, number, country, proxy_number, label, active, expires_at)
			SELECT printf('cv_seed%08d', i), 0, printf('+4477%08d', i), 'GB', printf('+44700%07d', i % ?), 'a', 1, ? FROM seq
			UNION ALL
			SELECT printf('cv_seed%08d', i), 1, printf('+1202%07d', i), 'US', printf('+44700%07d', i % ?), 'b', 1, ? FROM seq`,
			[]any{n, poolSize, exp, poolSize, exp}},
		{seq + `INSERT INTO pairings (number, other_number, proxy_number, conversation_id)
			SELECT printf('+4477%08d', i), printf('+1202%07d', i), printf('+44700%07d', i % ?), printf('cv_seed%08d', i) FROM seq
			UNION ALL
			SELECT printf('+1202%07d', i), printf('+4477%08d', i), printf('+44700%07d', i % ?), printf('cv_seed%08d', i) FROM seq`,
			[]any{n, poolSize, poolSize}},
	} {
		if _, err := tx.ExecContext(ctx, st.query, st.args...); err != nil {
			tb.Fatalf("%v\n%s", err, st.query)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
	return seed{n: n, poolSize: poolSize}
}

func TestMustSeedConversations(t *testing.T) {
	db := MustOpenDB(t)
	s := MustSeedConversations(t, db, 1000, 7)
	assertCounters(t, db)
	r, err := db.FindRoute(context.Background(), seedB(123), seedPool(123%s.poolSize), t0)
	if err != nil {
		t.Fatal(err)
	}
	if r.Callee.Number != seedA(123) {
		t.Fatalf("route = %+v", r)
	}
}

// BenchmarkDB_FindRoute looks routes up among 100,000 active conversations.
func BenchmarkDB_FindRoute(b *testing.B) {
	db := MustOpenDB(b)
	start := time.Now()
	s := MustSeedConversations(b, db, 100_000, 1000)
	b.Logf("seeded %d conversations in %v", s.n, time.Since(start).Round(time.Millisecond))
	ctx := context.Background()
	now := t0.Add(time.Hour)

	b.Run("Serial", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i = (i + 7919) % s.n
			r, err := db.FindRoute(ctx, seedA(i), seedPool(i%s.poolSize), now)
			if err != nil {
				b.Fatal(err)
			} else if r.Callee.Number != seedB(i) {
				b.Fatalf("route = %+v", r)
			}
		}
	})

	b.Run("Parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i = (i + 7919) % s.n
				if _, err := db.FindRoute(ctx, seedB(i), seedPool(i%s.poolSize), now); err != nil {
					b.Fatal(err)
				}
			}
		})
	})

	b.Run("NotFound", func(b *testing.B) {
		for b.Loop() {
			if _, err := db.FindRoute(ctx, "+33600000000", seedPool(1), now); maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkDB_CreateConversation allocates among 100,000 active
// conversations and a pool of 1,000 numbers.
func BenchmarkDB_CreateConversation(b *testing.B) {
	db := MustOpenDB(b)
	s := MustSeedConversations(b, db, 100_000, 1000)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		// New people, paired with seeded ones so their keys are in use.
		c := &maskcall.Conversation{Participants: []maskcall.Participant{
			{Number: seedA(i % s.n), Country: "GB"},
			{Number: fmt.Sprintf("+3360%07d", i), Country: "FR"},
		}}
		if err := db.CreateConversation(ctx, c, nil, t0.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDB_ChangeCheck measures what a route cache in serve would pay
// per call just to know it may answer from memory, beside the lookup it
// would save, on the same 100,000 conversations: the cheapest statement
// there is on the read pool (PRAGMA data_version, which reads no page),
// the route version serve's index read before every call, the published
// version it reads now (routepublish.go) and the route lookup, each right after a write committed by the store's
// own writer (as under call traffic, where every lookup follows a call
// record: SQLite then drops the reader's page cache).
func BenchmarkDB_ChangeCheck(b *testing.B) {
	db := MustOpenDB(b)
	s := MustSeedConversations(b, db, 100_000, 1000)
	ctx := context.Background()
	now := t0.Add(time.Hour)
	dv, err := db.rdb.PrepareContext(ctx, `PRAGMA data_version`)
	if err != nil {
		b.Fatal(err)
	}
	defer dv.Close()
	k := 0
	write := func(b *testing.B) {
		b.StopTimer()
		k++
		c := &maskcall.Call{UUID: fmt.Sprintf("change-%d", k), ConversationID: fmt.Sprintf("cv_seed%08d", k%s.n), Status: "started"}
		if err := db.CreateCall(ctx, c, now); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	for _, withWrites := range []bool{false, true} {
		suffix := ""
		if withWrites {
			suffix = "AfterWrite"
		}
		b.Run("DataVersion"+suffix, func(b *testing.B) {
			var v int64
			for b.Loop() {
				if withWrites {
					write(b)
				}
				if err := dv.QueryRowContext(context.WithoutCancel(ctx)).Scan(&v); err != nil {
					b.Fatal(err)
				}
			}
		})
		// What serve's route index read before every call until the
		// version was published, and what it reads now.
		b.Run("RouteVersion"+suffix, func(b *testing.B) {
			for b.Loop() {
				if withWrites {
					write(b)
				}
				if _, err := db.RouteVersion(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		if !withWrites {
			// A load from memory, which a write before it does not
			// change (and a write per nanosecond timed would run for
			// hours).
			b.Run("PublishedRouteVersion", func(b *testing.B) {
				for b.Loop() {
					if _, ok := db.PublishedRouteVersion(); !ok {
						b.Fatal("nothing published")
					}
				}
			})
		}
		b.Run("FindRoute"+suffix, func(b *testing.B) {
			i := 0
			for b.Loop() {
				if withWrites {
					write(b)
				}
				i = (i + 7919) % s.n
				if _, err := db.FindRoute(ctx, seedA(i), seedPool(i%s.poolSize), now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
