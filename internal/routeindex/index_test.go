package routeindex_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/routeindex"
	"github.com/maskcall/maskcall/internal/sqlite"
)

func openDB(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db := sqlite.NewDB(path)
	db.FastCommits = true
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestIndexSeesEveryAcknowledgedChange runs calls from many goroutines
// against an index on serve's handle while another handle on the file (the
// CLI) creates and ends conversations: a call that starts after a create
// was acknowledged connects, and one that starts after an end was
// acknowledged never does, however the shared version checks interleave.
func TestIndexSeesEveryAcknowledgedChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maskcall.db")
	serve := openDB(t, path)
	cli := openDB(t, path)
	ctx := context.Background()
	now := time.Now()
	proxies := []string{"+447000000001", "+447000000002"}
	for _, p := range proxies {
		if err := cli.CreateNumber(ctx, &maskcall.Number{Number: p, Country: "GB", Type: "mobile-lvn", Features: []string{"VOICE", "SMS"}, Status: maskcall.NumberActive}, now); err != nil {
			t.Fatal(err)
		}
	}
	ix := routeindex.New(serve, nil)
	if err := ix.Load(ctx); err != nil {
		t.Fatal(err)
	}
	defer ix.Close()

	const rounds = 60
	var (
		mu    sync.Mutex
		state = map[string]int{} // caller → 1 once created, 3 while ending, 2 once ended (acknowledged)
		stop  atomic.Bool
		fails atomic.Int64
		calls atomic.Int64
	)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				caller := fmt.Sprintf("+4477009%05d", i%rounds)
				mu.Lock()
				before := state[caller]
				mu.Unlock()
				rt, err := ix.FindRoute(ctx, caller, proxies[0], time.Now())
				calls.Add(1)
				mu.Lock()
				after := state[caller]
				mu.Unlock()
				switch {
				case err != nil && maskcall.ErrorCode(err) != maskcall.ENOTFOUND:
					t.Errorf("call from %s: %v", caller, err)
					fails.Add(1)
				case before == 1 && after == 1 && rt == nil:
					t.Errorf("call from %s after its conversation was created: not routed", caller)
					fails.Add(1)
				case before == 2 && rt != nil:
					t.Errorf("call from %s after its conversation ended: routed to %s", caller, rt.ConversationID)
					fails.Add(1)
				}
				if fails.Load() > 5 {
					return
				}
			}
		}()
	}
	for i := 0; i < rounds && fails.Load() == 0; i++ {
		caller := fmt.Sprintf("+4477009%05d", i)
		c := &maskcall.Conversation{Participants: []maskcall.Participant{{Number: caller, Country: "GB"}, {Number: "+12025550100", Country: "US"}}}
		if err := cli.CreateConversation(ctx, c, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		state[caller] = 1
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		state[caller] = 3 // ending: either answer is right until acknowledged
		mu.Unlock()
		if _, err := cli.EndConversation(ctx, c.ID, "ended", time.Now()); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		state[caller] = 2
		mu.Unlock()
	}
	stop.Store(true)
	wg.Wait()
	st := ix.Stats()
	if !st.Loaded || st.Applied == 0 {
		t.Fatalf("the index applied nothing: %+v", st)
	}
	t.Logf("%d calls, %+v", calls.Load(), st)
}

// silentWatcher is a SQLite store that claims to announce route changes but
// never does: every notification lost.
type silentWatcher struct{ *sqlite.DB }

// PublishedRouteVersion hides the file's published version, so that only
// the watch decides when to check.
func (s silentWatcher) PublishedRouteVersion() (int64, bool) { return 0, false }

func (s silentWatcher) WatchRoutes(w maskcall.RouteWatch) func() {
	w.RoutesChanged()
	w.RouteWatchLive(true)
	return func() {}
}

// With announcements flowing, a call reads no version until one arrives,
// but never answers from a check older than MaxWatchAge: a change whose
// announcement was lost is seen once the last check is that old.
func TestWatchAgeBoundsLostAnnouncements(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maskcall.db")
	serve := openDB(t, path)
	cli := openDB(t, path)
	ctx := context.Background()
	now := time.Now()
	if err := cli.CreateNumber(ctx, &maskcall.Number{Number: "+447000000001", Country: "GB", Type: "mobile-lvn", Features: []string{"VOICE", "SMS"}, Status: maskcall.NumberActive}, now); err != nil {
		t.Fatal(err)
	}
	ix := routeindex.New(silentWatcher{serve}, nil)
	ix.MaxWatchAge = 200 * time.Millisecond
	if !ix.Watch() {
		t.Fatal("Watch: the store does not announce")
	}
	defer ix.Close()
	if err := ix.Load(ctx); err != nil {
		t.Fatal(err)
	}
	find := func() bool {
		r, err := ix.FindRoute(ctx, "+447700900123", "+447000000001", now)
		return err == nil && r != nil
	}
	find() // the first check, covering the watch's first announcement
	checked := time.Now()
	createCallersConversation(t, cli, now)
	s0 := ix.Stats()
	stale := find()
	if time.Since(checked) < ix.MaxWatchAge {
		// Nothing announced and the check is recent: answered from
		// memory, without a version read, so the create is not seen yet.
		if stale || ix.Stats().Checks != s0.Checks {
			t.Fatalf("within MaxWatchAge of the last check: routed %v, %d version reads; want the unannounced create unseen and no read",
				stale, ix.Stats().Checks-s0.Checks)
		}
	}
	time.Sleep(time.Until(checked.Add(ix.MaxWatchAge)))
	if !find() {
		t.Fatal("MaxWatchAge after the last check, an unannounced create is still not seen")
	}
}

// createCallersConversation creates, through db, the conversation of the
// caller the tests look up: +447700900123 with +447700900456.
func createCallersConversation(t *testing.T, db *sqlite.DB, now time.Time) *maskcall.Conversation {
	t.Helper()
	c := &maskcall.Conversation{Participants: []maskcall.Participant{
		{Number: "+447700900123", Country: "GB"}, {Number: "+447700900456", Country: "GB"}}}
	if err := db.CreateConversation(context.Background(), c, nil, now); err != nil {
		t.Fatal(err)
	}
	return c
}

// openPublishedIndex returns an index on serve's handle of a new file,
// loaded and past its first version read, a CLI handle on the same file
// and a lookup of the call from +447700900123 to the file's one number.
func openPublishedIndex(t *testing.T) (ix *routeindex.Index, serve, cli *sqlite.DB, find func() bool) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "maskcall.db")
	serve, cli = openDB(t, path), openDB(t, path)
	ctx := context.Background()
	if err := cli.CreateNumber(ctx, &maskcall.Number{Number: "+447000000001", Country: "GB", Type: "mobile-lvn", Features: []string{"VOICE", "SMS"}, Status: maskcall.NumberActive}, time.Now()); err != nil {
		t.Fatal(err)
	}
	ix = routeindex.New(serve, nil)
	t.Cleanup(ix.Close)
	if err := ix.Load(ctx); err != nil {
		t.Fatal(err)
	}
	find = func() bool {
		r, err := ix.FindRoute(ctx, "+447700900123", "+447000000001", time.Now())
		if err != nil && maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
			t.Fatal(err)
		}
		return r != nil
	}
	find() // the first version read
	return ix, serve, cli, find
}

// On SQLite every write publishes the route version it committed: calls
// read no version while it stays the index's, and the very next call after
// another handle's change was acknowledged sees it, however long ago the
// last read was.
func TestPublishedVersionSkipsReadsAndShowsChanges(t *testing.T) {
	ix, _, cli, find := openPublishedIndex(t)
	ix.MaxWatchAge = time.Hour // only what is published makes a call read
	ctx := context.Background()
	s0 := ix.Stats()
	for range 100 {
		if find() {
			t.Fatal("routed before any conversation")
		}
	}
	s1 := ix.Stats()
	if !s1.Publishing || s1.Checks != s0.Checks || s1.Unchecked-s0.Unchecked != 100 {
		t.Fatalf("100 calls with nothing changed: publishing %v, %d version reads, %d unchecked; want none read",
			s1.Publishing, s1.Checks-s0.Checks, s1.Unchecked-s0.Unchecked)
	}
	c := createCallersConversation(t, cli, time.Now())
	if !find() {
		t.Fatal("the call right after another handle's create was acknowledged is not routed")
	}
	if _, err := cli.EndConversation(ctx, c.ID, "ended", time.Now()); err != nil {
		t.Fatal(err)
	}
	if find() {
		t.Fatal("the call right after another handle's end was acknowledged is still routed")
	}
	if s := ix.Stats(); s.Checks-s1.Checks != 2 {
		t.Fatalf("two changes: %d version reads, want 2", s.Checks-s1.Checks)
	}
}

// A writer that does not publish (here a plain connection, as a sqlite3
// shell) is seen once the last version read is MaxWatchAge old.
func TestUnpublishedChangeSeenWithinMaxWatchAge(t *testing.T) {
	ix, serve, _, find := openPublishedIndex(t)
	if ix.MaxWatchAge != routeindex.DefaultMaxPublishedAge {
		t.Fatalf("MaxWatchAge %v on a publishing store, want %v", ix.MaxWatchAge, routeindex.DefaultMaxPublishedAge)
	}
	ctx := context.Background()
	c := createCallersConversation(t, serve, time.Now())
	if !find() {
		t.Fatal("not routed after the create")
	}
	shell, err := sql.Open("sqlite", serve.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer shell.Close()
	if _, err := shell.ExecContext(ctx, `UPDATE participants SET active = 0 WHERE conversation_id = ?`, c.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ix.MaxWatchAge)
	if find() {
		t.Fatalf("an unpublished end is still routed %v after the last version read", ix.MaxWatchAge)
	}
}

// The published version lives in a file every process maps: a change made
// by another process (this test binary run again) is seen by the very next
// call.
func TestPublishedVersionAcrossProcesses(t *testing.T) {
	ix, serve, _, find := openPublishedIndex(t)
	ix.MaxWatchAge = time.Hour
	s0 := ix.Stats()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildCreatesConversation$")
	cmd.Env = append(os.Environ(), "ROUTEINDEX_TEST_CHILD_DB="+serve.Path())
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "child created") {
		t.Fatalf("child process: %v\n%s", err, out)
	}
	if !find() {
		t.Fatal("the call right after another process's create was acknowledged is not routed")
	}
	if s := ix.Stats(); s.Checks-s0.Checks != 1 {
		t.Fatalf("one change: %d version reads, want 1", s.Checks-s0.Checks)
	}
}

// TestChildCreatesConversation is TestPublishedVersionAcrossProcesses's
// other process; run alone it does nothing.
func TestChildCreatesConversation(t *testing.T) {
	path := os.Getenv("ROUTEINDEX_TEST_CHILD_DB")
	if path == "" {
		return
	}
	db := openDB(t, path)
	c := createCallersConversation(t, db, time.Now())
	fmt.Println("child created", c.ID)
}
