package storetest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// routePruner is a route feed whose change log the suite can trim: it drops
// the changes older than the last keep versions, as the store's sweep does
// with its own retention. A store without it skips the pruning case.
type routePruner interface {
	PruneRouteChanges(ctx context.Context, keep int64) error
}

// testRouteFeed checks maskcall.RouteFeed, for stores that implement it:
// what it loads and reports is what an in-memory route index needs to
// answer every call as the store's FindRoute would.
func (h *harness) testRouteFeed(t *testing.T) {
	if _, ok := h.open(t).(maskcall.RouteFeed); !ok {
		t.Skip("this store does not implement maskcall.RouteFeed")
	}
	t.Run("Load", h.testRouteFeedLoad)
	t.Run("Changes", h.testRouteFeedChanges)
	t.Run("OtherHandle", h.testRouteFeedOtherHandle)
	t.Run("AgreesWithFindRoute", h.testRouteFeedAgrees)
	t.Run("Pruned", h.testRouteFeedPruned)
}

// routeIndex is the least an index does with a feed: a map of the
// records that can route, loaded once and then kept by the changes.
type routeIndex struct {
	feed    maskcall.RouteFeed
	version int64
	recs    map[string]maskcall.RouteRecord
}

func loadRoutes(tb testing.TB, f maskcall.RouteFeed) *routeIndex {
	tb.Helper()
	ix := &routeIndex{feed: f, recs: map[string]maskcall.RouteRecord{}}
	v, err := f.LoadRoutes(context.Background(), func(r *maskcall.RouteRecord) error {
		if _, dup := ix.recs[r.ConversationID]; dup {
			return fmt.Errorf("LoadRoutes gave %s twice", r.ConversationID)
		}
		if r.Deleted || !routes(r) {
			return fmt.Errorf("LoadRoutes gave %s, which routes nothing: %+v", r.ConversationID, *r)
		}
		ix.recs[r.ConversationID] = *r
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	ix.version = v
	return ix
}

// routes reports whether r has an active participant.
func routes(r *maskcall.RouteRecord) bool {
	return !r.Deleted && (r.Participants[0].Active || r.Participants[1].Active)
}

// update applies the changes since the index's version and returns the
// changed records by conversation; it fails if the store lost them.
func (ix *routeIndex) update(tb testing.TB) map[string]maskcall.RouteRecord {
	tb.Helper()
	changed := map[string]maskcall.RouteRecord{}
	v, ok, err := ix.feed.RouteChanges(context.Background(), ix.version, func(r *maskcall.RouteRecord) error {
		if _, dup := changed[r.ConversationID]; dup {
			return fmt.Errorf("RouteChanges gave %s twice", r.ConversationID)
		}
		changed[r.ConversationID] = *r
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	} else if !ok {
		tb.Fatalf("RouteChanges(%d) = not kept, want the changes", ix.version)
	}
	if v < ix.version {
		tb.Fatalf("RouteChanges(%d) returned version %d: it went back", ix.version, v)
	}
	if v == ix.version && len(changed) > 0 {
		tb.Fatalf("RouteChanges(%d) returned the same version with %d changes", v, len(changed))
	}
	for id, r := range changed {
		if routes(&r) {
			ix.recs[id] = r
		} else {
			delete(ix.recs, id)
		}
	}
	ix.version = v
	return changed
}

// route answers a call from the index, as the route index does.
func (ix *routeIndex) route(from, to string, now time.Time) *maskcall.Route {
	var found *maskcall.Route
	for _, r := range ix.recs {
		if rt := r.Route(from, to, now); rt != nil {
			if found != nil {
				panic(fmt.Sprintf("two records route %s via %s: %s and %s", from, to, found.ConversationID, rt.ConversationID))
			}
			found = rt
		}
	}
	return found
}

func mustRouteVersion(tb testing.TB, f maskcall.RouteFeed) int64 {
	tb.Helper()
	v, err := f.RouteVersion(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// wantRecord checks r is c's record: its mode, and its participants by
// position with their keys active or not and their expiry.
func wantRecord(tb testing.TB, r maskcall.RouteRecord, c *maskcall.Conversation, active bool) {
	tb.Helper()
	if r.ConversationID != c.ID || r.Deleted || r.Mode != c.Mode {
		tb.Errorf("record %s (deleted %v, mode %q), want %s (mode %q)", r.ConversationID, r.Deleted, r.Mode, c.ID, c.Mode)
	}
	for i, p := range r.Participants {
		q := c.Participants[i]
		if p.Number != q.Number || p.ProxyNumber != q.ProxyNumber || p.Active != active || !sameTime(p.ExpiresAt, c.ExpiresAt) {
			tb.Errorf("%s participant %d: %s via %s active %v expires %v; want %s via %s active %v expires %v",
				c.ID, i, p.Number, p.ProxyNumber, p.Active, fmtTime(p.ExpiresAt), q.Number, q.ProxyNumber, active, fmtTime(c.ExpiresAt))
		}
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// wantChanged checks the changes are exactly those of ids.
func wantChanged(tb testing.TB, step string, changed map[string]maskcall.RouteRecord, ids ...string) {
	tb.Helper()
	got := make([]string, 0, len(changed))
	for id := range changed {
		got = append(got, id)
	}
	sort.Strings(got)
	slices.Sort(ids)
	if !slices.Equal(got, ids) {
		tb.Errorf("%s: changed %v, want %v", step, got, ids)
	}
}

// sameRecords checks two indexes hold the same records.
func sameRecords(tb testing.TB, step string, got, want map[string]maskcall.RouteRecord) {
	tb.Helper()
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			tb.Errorf("%s: the index kept by changes lacks %s", step, id)
			continue
		}
		same := g.Mode == w.Mode && g.Deleted == w.Deleted
		for i := range 2 {
			p, q := g.Participants[i], w.Participants[i]
			same = same && p.Number == q.Number && p.ProxyNumber == q.ProxyNumber && p.Active == q.Active && sameTime(p.ExpiresAt, q.ExpiresAt)
		}
		if !same {
			tb.Errorf("%s: kept by changes %+v, loaded %+v", step, g, w)
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			tb.Errorf("%s: the index kept by changes has %s, which a load does not", step, id)
		}
	}
}

// createMode creates a conversation like createConv, in mode.
func createMode(tb testing.TB, db maskcall.Store, now time.Time, ttl time.Duration, mode maskcall.ConversationMode, a, b maskcall.Participant) *maskcall.Conversation {
	tb.Helper()
	c := &maskcall.Conversation{Ref: "ref", Mode: mode, Participants: []maskcall.Participant{a, b}}
	if ttl > 0 {
		exp := now.Add(ttl)
		c.ExpiresAt = &exp
	}
	if err := db.CreateConversation(context.Background(), c, nil, now); err != nil {
		tb.Fatal(err)
	}
	return c
}

// LoadRoutes gives every conversation with an active key, as stored, and
// none that ended; its version is the store's.
func (h *harness) testRouteFeedLoad(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	f := db.(maskcall.RouteFeed)
	mustCreateNumber(t, db, gb1, "GB")
	mustCreateNumber(t, db, gb2, "GB")

	empty := loadRoutes(t, f)
	if len(empty.recs) != 0 {
		t.Fatalf("an empty store loads %d records", len(empty.recs))
	}
	forever := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
	voice := createMode(t, db, t0, time.Hour, maskcall.ModeVoice, gb(carol, "c"), gb(dave, "d"))
	ended := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(carol, "c"))
	if _, err := db.EndConversation(ctx, ended.ID, "", t0); err != nil {
		t.Fatal(err)
	}
	// Expired but not yet swept: its keys are still active in the store
	// (the record's expiry stops it routing).
	expired := mustCreateConversation(t, db, t0, time.Second, gb(bob, "b"), gb(dave, "d"))

	ix := loadRoutes(t, f)
	if len(ix.recs) != 3 {
		t.Errorf("loaded %d records, want 3 (%v)", len(ix.recs), ix.recs)
	}
	wantRecord(t, ix.recs[forever.ID], forever, true)
	wantRecord(t, ix.recs[voice.ID], voice, true)
	wantRecord(t, ix.recs[expired.ID], expired, true)
	if _, ok := ix.recs[ended.ID]; ok {
		t.Errorf("loaded the ended conversation %s", ended.ID)
	}
	if v := mustRouteVersion(t, f); v != ix.version {
		t.Errorf("LoadRoutes at version %d, RouteVersion %d with nothing changed between", ix.version, v)
	}
	if ix.version <= empty.version {
		t.Errorf("version %d after four creates, %d before", ix.version, empty.version)
	}
}

// Every kind of change advances the version and is reported, with the
// conversation's record as it now is; nothing else is.
func (h *harness) testRouteFeedChanges(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	f := db.(maskcall.RouteFeed)
	mustCreateNumber(t, db, gb1, "GB")
	mustCreateNumber(t, db, gb2, "GB")
	ix := loadRoutes(t, f)

	step := func(name string, do func()) map[string]maskcall.RouteRecord {
		t.Helper()
		before := mustRouteVersion(t, f)
		do()
		after := mustRouteVersion(t, f)
		if after <= before {
			t.Errorf("%s: version %d, was %d", name, after, before)
		}
		from := ix.version
		changed := ix.update(t)
		if ix.version != after {
			t.Errorf("%s: RouteChanges(%d) at version %d, RouteVersion %d", name, from, ix.version, after)
		}
		// Asked again at its own version: nothing, the same version.
		again := ix.update(t)
		if len(again) != 0 || ix.version != after {
			t.Errorf("%s: RouteChanges(current %d) gave %d changes at version %d", name, after, len(again), ix.version)
		}
		return changed
	}

	var c1, c2, c3 *maskcall.Conversation
	changed := step("create", func() { c1 = mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b")) })
	wantChanged(t, "create", changed, c1.ID)
	wantRecord(t, changed[c1.ID], c1, true)

	changed = step("end", func() {
		if _, err := db.EndConversation(ctx, c1.ID, "", t0); err != nil {
			t.Fatal(err)
		}
	})
	wantChanged(t, "end", changed, c1.ID)
	wantRecord(t, changed[c1.ID], c1, false)

	changed = step("creates", func() {
		c2 = mustCreateConversation(t, db, t0, time.Minute, gb(alice, "a"), gb(carol, "c"))
		c3 = mustCreateConversation(t, db, t0, 0, gb(bob, "b"), gb(dave, "d"))
	})
	wantChanged(t, "creates", changed, c2.ID, c3.ID)
	wantRecord(t, changed[c2.ID], c2, true)
	wantRecord(t, changed[c3.ID], c3, true)

	// Reaching the expiry changes nothing stored; the sweep does.
	if v := mustRouteVersion(t, f); v != ix.version {
		t.Errorf("version %d with nothing changed, was %d", v, ix.version)
	}
	changed = step("expiry sweep", func() {
		if n, err := db.ExpireConversations(ctx, t0.Add(time.Minute)); err != nil || n != 1 {
			t.Fatalf("sweep: %d, %v", n, err)
		}
	})
	wantChanged(t, "expiry sweep", changed, c2.ID)
	wantRecord(t, changed[c2.ID], c2, false)

	changed = step("release", func() {
		ids, err := db.EndConversationsUsingNumber(ctx, c3.Participants[0].ProxyNumber, "released", t0.Add(time.Minute))
		if err != nil || !slices.Equal(ids, []string{c3.ID}) {
			t.Fatalf("release: %v, %v", ids, err)
		}
	})
	wantChanged(t, "release", changed, c3.ID)
	wantRecord(t, changed[c3.ID], c3, false)

	changed = step("purge", func() {
		if n, err := db.PurgeConversations(ctx, t0.Add(time.Hour)); err != nil || n != 3 {
			t.Fatalf("purge: %d, %v", n, err)
		}
	})
	wantChanged(t, "purge", changed, c1.ID, c2.ID, c3.ID)
	for id, r := range changed {
		if !r.Deleted {
			t.Errorf("purged %s: %+v, want Deleted", id, r)
		}
	}

	// Changes that change nothing take no version: ending an ended
	// conversation, a sweep with nothing due, a release of a number
	// nothing uses.
	c4 := mustCreateConversation(t, db, t0.Add(time.Hour), 0, gb(alice, "a"), gb(bob, "b"))
	if _, err := db.EndConversation(ctx, c4.ID, "", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	ix.update(t)
	v := mustRouteVersion(t, f)
	if _, err := db.EndConversation(ctx, c4.ID, "", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExpireConversations(ctx, t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EndConversationsUsingNumber(ctx, gb2, "released", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := mustRouteVersion(t, f); got != v {
		t.Errorf("version %d after changes that changed no route, was %d", got, v)
	}

	// The index kept by changes is what a load gives.
	sameRecords(t, "at the end", ix.recs, loadRoutes(t, f).recs)
}

// A change made through another handle (the CLI beside serve, another
// replica) moves the version the first handle reads, and is reported there.
func (h *harness) testRouteFeedOtherHandle(t *testing.T) {
	if h.Reopen == nil {
		t.Skip("this store gives no second handle (Harness.Reopen)")
	}
	ctx := context.Background()
	db := h.open(t)
	other := h.Reopen(t, db)
	f := db.(maskcall.RouteFeed)
	mustCreateNumber(t, db, gb1, "GB")
	ix := loadRoutes(t, f)

	c := mustCreateConversation(t, other, t0, 0, gb(alice, "a"), gb(bob, "b"))
	if v := mustRouteVersion(t, f); v <= ix.version {
		t.Fatalf("version %d after a create through the other handle, was %d", v, ix.version)
	}
	changed := ix.update(t)
	wantChanged(t, "create through the other handle", changed, c.ID)
	wantRecord(t, changed[c.ID], c, true)

	if _, err := other.EndConversation(ctx, c.ID, "", t0); err != nil {
		t.Fatal(err)
	}
	changed = ix.update(t)
	wantChanged(t, "end through the other handle", changed, c.ID)
	wantRecord(t, changed[c.ID], c, false)
	if rt := ix.route(alice, c.Participants[0].ProxyNumber, t0); rt != nil {
		t.Errorf("the index still routes the ended %s", c.ID)
	}
}

// An index kept by LoadRoutes and RouteChanges answers every key as the
// store's FindRoute does, also at the instant of an expiry and just before,
// and holds what a fresh load holds.
func (h *harness) testRouteFeedAgrees(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	writers := []maskcall.Store{db}
	if h.Reopen != nil {
		writers = append(writers, h.Reopen(t, db))
	}
	f := db.(maskcall.RouteFeed)
	pool := []string{gb1, gb2}
	for _, n := range pool {
		mustCreateNumber(t, db, n, "GB")
	}
	people := []string{alice, bob, carol, dave}

	// Some before the load, the rest after.
	var convs []*maskcall.Conversation
	convs = append(convs, mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b")))
	convs = append(convs, createMode(t, db, t0, 30*time.Second, maskcall.ModeSMS, gb(carol, "c"), gb(dave, "d")))
	ix := loadRoutes(t, f)

	now := t0
	check := func(step string) {
		t.Helper()
		ix.update(t)
		sameRecords(t, step, ix.recs, loadRoutes(t, f).recs)
		times := []time.Time{now}
		for _, c := range convs {
			if c.ExpiresAt != nil {
				times = append(times, *c.ExpiresAt, c.ExpiresAt.Add(-time.Microsecond))
			}
		}
		for _, at := range times {
			for _, from := range people {
				for _, to := range pool {
					want, err := db.FindRoute(ctx, from, to, at)
					if maskcall.ErrorCode(err) == maskcall.ENOTFOUND {
						want, err = nil, nil
					}
					if err != nil {
						t.Fatal(err)
					}
					got := ix.route(from, to, at)
					if !sameRoute(got, want) {
						t.Errorf("%s: %s via %s at t0+%v: index %s, FindRoute %s", step, from, to, at.Sub(t0), routeString(got), routeString(want))
					}
				}
			}
		}
	}
	check("after the load")

	w := func(i int) maskcall.Store { return writers[i%len(writers)] }
	convs = append(convs, mustCreateConversation(t, w(1), now, time.Minute, gb(alice, "a"), gb(carol, "c")))
	check("create")
	now = t0.Add(30 * time.Second) // the instant the second expires, unswept
	convs = append(convs, mustCreateConversation(t, w(0), now, 0, gb(bob, "b"), gb(dave, "d")))
	check("create at an expiry")
	if _, err := w(1).ExpireConversations(ctx, now); err != nil {
		t.Fatal(err)
	}
	check("sweep")
	if _, err := w(0).EndConversation(ctx, convs[0].ID, "", now); err != nil {
		t.Fatal(err)
	}
	check("end")
	convs = append(convs, mustCreateConversation(t, w(1), now, 0, gb(alice, "a"), gb(bob, "b")))
	check("create on freed keys")
	if _, err := w(0).EndConversationsUsingNumber(ctx, gb1, "released", now); err != nil {
		t.Fatal(err)
	}
	check("release")
	now = t0.Add(time.Hour)
	if _, err := w(1).PurgeConversations(ctx, now); err != nil {
		t.Fatal(err)
	}
	check("purge")
}

func sameRoute(a, b *maskcall.Route) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ConversationID == b.ConversationID && a.Mode == b.Mode &&
		a.Caller.Number == b.Caller.Number && a.Caller.ProxyNumber == b.Caller.ProxyNumber &&
		a.Callee.Number == b.Callee.Number && a.Callee.ProxyNumber == b.Callee.ProxyNumber
}

func routeString(r *maskcall.Route) string {
	if r == nil {
		return "none"
	}
	return fmt.Sprintf("%s (%s) to %s via %s", r.ConversationID, r.Mode, r.Callee.Number, r.Callee.ProxyNumber)
}

// Once the store has pruned the changes after a version, RouteChanges from
// it says so (the index loads again); from the current version it goes on.
func (h *harness) testRouteFeedPruned(t *testing.T) {
	db := h.open(t)
	p, ok := db.(routePruner)
	if !ok {
		t.Skip("this store cannot be told to prune its route changes (PruneRouteChanges)")
	}
	ctx := context.Background()
	f := db.(maskcall.RouteFeed)
	mustCreateNumber(t, db, gb1, "GB")
	ix := loadRoutes(t, f)
	old := ix.version
	mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))

	// Keeping many versions keeps these.
	if err := p.PruneRouteChanges(ctx, 1_000_000); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.RouteChanges(ctx, old, func(*maskcall.RouteRecord) error { return nil }); err != nil || !ok {
		t.Fatalf("RouteChanges(%d) after pruning nothing: ok %v, %v", old, ok, err)
	}

	if err := p.PruneRouteChanges(ctx, 0); err != nil {
		t.Fatal(err)
	}
	called := false
	v, ok, err := f.RouteChanges(ctx, old, func(*maskcall.RouteRecord) error { called = true; return nil })
	if err != nil {
		t.Fatal(err)
	}
	if ok || called {
		t.Fatalf("RouteChanges(%d) after pruning: ok %v, fn called %v; want not kept", old, ok, called)
	}
	cur := mustRouteVersion(t, f)
	if v != cur {
		t.Errorf("RouteChanges(pruned) at version %d, RouteVersion %d", v, cur)
	}
	if _, ok, err := f.RouteChanges(ctx, cur-1, func(*maskcall.RouteRecord) error { return nil }); err != nil || ok {
		t.Errorf("RouteChanges(%d) after keeping none: ok %v, %v; want not kept", cur-1, ok, err)
	}

	// Loading again, then changes from there on are reported.
	ix = loadRoutes(t, f)
	if ix.version != cur {
		t.Errorf("load at version %d, RouteVersion %d", ix.version, cur)
	}
	c := mustCreateConversation(t, db, t0, 0, gb(carol, "c"), gb(dave, "d"))
	changed := ix.update(t)
	wantChanged(t, "create after pruning", changed, c.ID)
	sameRecords(t, "after pruning", ix.recs, loadRoutes(t, f).recs)
}
