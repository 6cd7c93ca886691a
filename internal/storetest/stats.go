package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// testStats: the gauges metrics asks for (maskcall.StatsStore) count what
// the store holds: conversations not ended, and the pool by country and
// status, a number being free when it is active and no active conversation
// uses it. Released numbers are not counted.
func (h *harness) testStats(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	ss, ok := db.(maskcall.StatsStore)
	if !ok {
		t.Fatalf("%T does not answer metrics' gauges (maskcall.StatsStore)", db)
	}
	stats := func() (int, []maskcall.PoolStat) {
		t.Helper()
		n, err := ss.CountActiveConversations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pool, err := ss.PoolStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n, pool
	}
	if n, pool := stats(); n != 0 || len(pool) != 0 {
		t.Fatalf("an empty store: %d active, pool %+v", n, pool)
	}

	mustCreateNumber(t, db, gb1, "GB")
	mustCreateNumber(t, db, gb2, "GB")
	mustCreateNumber(t, db, gb3, "GB")
	mustCreateNumber(t, db, us1, "US")
	mustCreateNumber(t, db, us2, "US")
	unconfigured, released := maskcall.NumberUnconfigured, maskcall.NumberReleased
	if _, err := db.UpdateNumber(ctx, gb3, maskcall.NumberUpdate{Status: &unconfigured}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateNumber(ctx, us2, maskcall.NumberUpdate{Status: &released}, t0); err != nil {
		t.Fatal(err)
	}
	c1 := mustCreateConversation(t, db, t0, time.Hour, gb(alice, "a"), gb(bob, "b"))
	mustCreateConversation(t, db, t0, 0, us(carol, "c"), us(dave, "d"))
	used := map[string]bool{}
	for _, p := range c1.Participants {
		used[p.ProxyNumber] = true
	}
	gbFree := 2 - len(used) // gb1 and gb2 are active; c1 uses one or both

	n, pool := stats()
	if n != 2 {
		t.Errorf("%d active conversations, want 2", n)
	}
	want := []maskcall.PoolStat{
		{Country: "GB", Status: maskcall.NumberActive, Numbers: 2, Free: gbFree},
		{Country: "GB", Status: maskcall.NumberUnconfigured, Numbers: 1},
		{Country: "US", Status: maskcall.NumberActive, Numbers: 1, Free: 0},
	}
	if !slices.Equal(pool, want) {
		t.Errorf("pool stats %+v, want %+v", pool, want)
	}

	if _, err := db.EndConversation(ctx, c1.ID, maskcall.EndReasonEnded, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	n, pool = stats()
	if n != 1 {
		t.Errorf("%d active conversations after one ended, want 1", n)
	}
	if len(pool) == 0 || pool[0].Free != 2 {
		t.Errorf("pool stats after the GB conversation ended %+v, want both GB numbers free", pool)
	}

	// Ended by the sweep, then purged; ending twice counts once.
	c3 := mustCreateConversation(t, db, t0.Add(time.Minute), time.Minute, gb(alice, "a"), gb(bob, "b"))
	if n, _ := stats(); n != 2 {
		t.Errorf("%d active conversations, want 2", n)
	}
	if _, err := db.ExpireConversations(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EndConversation(ctx, c3.ID, maskcall.EndReasonEnded, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, _ := stats(); n != 1 {
		t.Errorf("%d active conversations after the sweep, want 1", n)
	}
	if _, err := db.PurgeConversations(ctx, t0.Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, _ := stats(); n != 1 {
		t.Errorf("%d active conversations after the purge, want 1", n)
	}
}
