package postgres

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/routeindex"
	"github.com/maskcall/maskcall/internal/storetest"
)

// watchedIndex returns a loaded index over db that listens to its
// announcements, once they flow. MaxWatchAge is an hour: whatever it
// sees, it sees through an announcement, never through the periodic
// check.
func watchedIndex(t *testing.T, db *DB) *routeindex.Index {
	t.Helper()
	ix := routeindex.New(db, nil)
	ix.MaxWatchAge = time.Hour
	if !ix.Watch() {
		t.Fatal("the PostgreSQL store does not announce route changes")
	}
	t.Cleanup(ix.Close)
	if err := ix.Load(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "announcements to flow", func() bool { return ix.Stats().Watching })
	return ix
}

// waitFor polls cond for up to 10 s (a bound for slow machines, not a
// measurement).
func waitFor(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no %s after 10 s", what)
		}
		time.Sleep(time.Millisecond)
	}
	return time.Since(start)
}

func routes(ix *routeindex.Index, from, to string) bool {
	r, err := ix.FindRoute(context.Background(), from, to, t0)
	return err == nil && r != nil
}

// A change made through this replica is seen by the very next call; one
// made through another replica once its announcement arrives; a call with
// nothing announced reads no version; a lost listening connection makes
// every call check until another listens.
func TestRouteWatch(t *testing.T) {
	ctx := context.Background()
	a := MustOpenDB(t)
	b := MustOpenDBAt(t, a.url) // the other replica
	MustCreateNumber(t, a, gb1, "GB")
	ix := watchedIndex(t, a)

	t.Run("own changes, the very next call", func(t *testing.T) {
		for i := range 20 {
			c := MustCreateConversation(t, a, t0, 0, gb(alice, "a"), gb(bob, "b"))
			if !routes(ix, alice, gb1) {
				t.Fatalf("round %d: created through this replica, not routed by the next call", i)
			}
			if _, err := a.EndConversation(ctx, c.ID, "", t0); err != nil {
				t.Fatal(err)
			}
			if routes(ix, alice, gb1) {
				t.Fatalf("round %d: ended through this replica, still routed by the next call", i)
			}
		}
	})

	t.Run("nothing announced, no version read", func(t *testing.T) {
		routes(ix, alice, gb1) // the check for what the subtest before announced
		s0 := ix.Stats()
		for range 100 {
			routes(ix, bob, gb1)
		}
		s1 := ix.Stats()
		if s1.Checks != s0.Checks || s1.Unchecked-s0.Unchecked != 100 {
			t.Fatalf("100 calls with nothing announced: %d version checks, %d unchecked", s1.Checks-s0.Checks, s1.Unchecked-s0.Unchecked)
		}
	})

	t.Run("another replica's changes, once announced", func(t *testing.T) {
		c := MustCreateConversation(t, b, t0, 0, gb(alice, "a"), gb(bob, "b"))
		seen := waitFor(t, "route for a conversation created by the other replica", func() bool { return routes(ix, alice, gb1) })
		if _, err := b.EndConversation(ctx, c.ID, "", t0); err != nil {
			t.Fatal(err)
		}
		gone := waitFor(t, "end of a conversation ended by the other replica", func() bool { return !routes(ix, alice, gb1) })
		t.Logf("another replica's create seen after %v, its end after %v", seen, gone)
	})

	t.Run("listening connection lost", func(t *testing.T) {
		c := MustCreateConversation(t, b, t0, 0, gb(alice, "a"), gb(bob, "b"))
		waitFor(t, "the other replica's create", func() bool { return routes(ix, alice, gb1) })
		// The listener stays away until released.
		release := make(chan struct{})
		hold := func() { <-release }
		a.watchers.beforeListen.Store(&hold)
		pid := a.watchers.listenPID.Load()
		pgxExec(t, a, `SELECT pg_terminate_backend($1)`, int32(pid))
		waitFor(t, "lost announcements noticed", func() bool { return !ix.Stats().Watching })
		// Meanwhile every call checks: the other replica's end is seen by
		// the very next call, though nothing announces it.
		if _, err := b.EndConversation(ctx, c.ID, "", t0); err != nil {
			t.Fatal(err)
		}
		if routes(ix, alice, gb1) {
			t.Fatal("ended by the other replica while not listening: still routed by the next call")
		}
		// A change missed while away is read once listening again: the
		// reconnection announces.
		c = MustCreateConversation(t, b, t0, 0, gb(alice, "a"), gb(bob, "b"))
		a.watchers.beforeListen.Store(nil)
		close(release)
		waitFor(t, "listening again", func() bool { return ix.Stats().Watching })
		if a.watchers.listenPID.Load() == pid {
			t.Fatal("listening again on the terminated backend")
		}
		if !routes(ix, alice, gb1) {
			t.Fatal("created by the other replica while not listening: not routed by the first call once listening again")
		}
	})
}

func pgxExec(t *testing.T, db *DB, sql string, args ...any) {
	t.Helper()
	if _, err := db.pool.Exec(context.Background(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

// The route property test with every write through the replica whose
// index answers, which listens: each change is announced in process
// before the write returns, so the very next call must see it though no
// version is read until then.
func TestRouteWatch_Property(t *testing.T) {
	storetest.RunRouteProperty(t, storetest.Harness{
		New: func(t *testing.T) maskcall.Store { return MustOpenDB(t) },
		Routes: func(t *testing.T, s maskcall.Store) maskcall.RouteStore {
			ix := watchedIndex(t, s.(*DB))
			t.Cleanup(func() {
				if st := ix.Stats(); st.Unchecked == 0 {
					t.Errorf("no call was answered without a version check (%+v): the property test did not test the watch", st)
				}
			})
			return ix
		},
	})
}

// BenchmarkRouteWatchBound measures the bound between replicas: how long
// after another replica's create or end returned the index of this one
// answers by it (asked every 50 µs, MaxWatchAge an hour so only the
// announcement counts). It reports the median, the 99th percentile and
// the worst of the creates and ends timed.
//
//	MASKCALL_TEST_POSTGRES=... go test -run '^$' -bench RouteWatchBound -benchtime 500x ./internal/postgres/
func BenchmarkRouteWatchBound(b *testing.B) {
	ctx := context.Background()
	a := MustOpenDB(b)
	other := MustOpenDBAt(b, a.url)
	MustCreateNumber(b, a, gb1, "GB")
	ix := routeindex.New(a, nil)
	ix.MaxWatchAge = time.Hour
	ix.Watch()
	b.Cleanup(ix.Close)
	if err := ix.Load(ctx); err != nil {
		b.Fatal(err)
	}
	for start := time.Now(); !ix.Stats().Watching; time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			b.Fatal("no announcements after 10 s")
		}
	}
	seen := func(want bool) time.Duration {
		start := time.Now()
		for routes(ix, alice, gb1) != want {
			if time.Since(start) > 10*time.Second {
				b.Fatalf("not seen after 10 s (want routed %v)", want)
			}
			// Not a spin: on two cores it would take the CPU the
			// notification needs to arrive.
			time.Sleep(50 * time.Microsecond)
		}
		return time.Since(start)
	}
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		c, err := createConv(other, t0, 0, gb(alice, "a"), gb(bob, "b"))
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, seen(true))
		if _, err := other.EndConversation(ctx, c.ID, "", t0); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, seen(false))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
}
