// Package routeindex answers the answer webhook's route lookup from memory.
//
// A route lookup in the store costs a query through database/sql (on
// SQLite, page reads after every commit, since a WAL reader drops its
// cache whenever another connection committed; on PostgreSQL, a round
// trip). The index keeps every active route in flat arrays instead
// (table.go) and stays exact through the store's route feed
// (maskcall.RouteFeed): before it answers a call, it reads the store's
// route version, and if the version moved, reads the conversations that
// changed and applies them. So a conversation created or ended by the CLI,
// the API, another process or another replica is seen by the very next
// call, and expiry is compared to the instant, as the store's own lookup
// does.
//
// The version check is shared: calls that arrive while a check is running
// wait for the next one, which starts after they arrived and serves them
// all. Under load one cheap read serves many calls.
//
// On a store that announces route changes (maskcall.RouteWatcher:
// PostgreSQL's LISTEN/NOTIFY) the index reads the version only after an
// announcement, or once the last check is MaxWatchAge old: a call arriving
// when nothing was announced since the last check began is answered from
// memory at once. The store announces its own changes before the write
// returns, so a change made through this process is seen by the very next
// call; one made elsewhere, once PostgreSQL delivered its notification,
// and at the latest MaxWatchAge after it committed should a notification
// be lost. While announcements do not flow (the listening connection
// lost), every call checks, as above.
//
// On a store whose writers publish the route version they committed in
// memory shared by the machine's processes (maskcall.RouteVersionPublisher:
// SQLite's <db>-routes file) a call compares the published version with
// the index's, two loads from memory, and reads the store's version only
// when they differ or the last read is MaxWatchAge old. Every writer, in
// any process, publishes after its commit and before it returns, so a
// change acknowledged before a call arrives is still seen by that call.
//
// Until the index has loaded (in the background, seconds at a million
// conversations), and whenever it must load again (the store no longer
// keeps the changes since its version), the store answers.
package routeindex

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// Store is what the index needs of a store: its feed, and its own lookup
// to fall back on.
type Store interface {
	maskcall.RouteFeed
	maskcall.RouteStore
}

// Index is a maskcall.RouteStore answering from memory. Create it with New.
type Index struct {
	store Store
	log   *slog.Logger

	// mu guards tab, version and validGen: lookups read-lock it, applying
	// changes and installing a loaded table lock it.
	mu      sync.RWMutex
	tab     *table // nil: not loaded, the store answers
	version int64  // the route version tab is at
	// validGen is the generation of the last version check that brought
	// tab up to date; a freshly loaded table has 0 until one does.
	validGen uint64

	// The shared version check.
	cmu     sync.Mutex
	cond    *sync.Cond
	started uint64 // generations of checks started
	done    uint64 // the last generation finished
	running bool
	lastErr error // the error of generation done, if any

	// The watch (a maskcall.RouteWatcher store): announcements counted, and
	// whether they flow. covered is the count read as the check that set
	// validGen began, coveredAt when it began (zero: no such check on this
	// table); both under mu.
	watchLive atomic.Bool
	announced atomic.Uint64
	stopWatch func()
	covered   uint64
	coveredAt time.Time
	// MaxWatchAge is how old the last check may be for a call to be
	// answered without one while the watch is live or the published
	// version is the index's (DefaultMaxWatchAge; set before Start).
	MaxWatchAge time.Duration

	loading atomic.Bool
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	// published is the store as a RouteVersionPublisher, if it is one.
	published maskcall.RouteVersionPublisher

	// Stats.
	checks, applied, fallbacks, loads, unchecked atomic.Int64
}

// DefaultMaxWatchAge bounds how late a change made elsewhere can be seen
// should its announcement be lost: the target for replicas is
// 100 ms.
const DefaultMaxWatchAge = 50 * time.Millisecond

// DefaultMaxPublishedAge is MaxWatchAge on a store that publishes its
// route version: only a writer that does not publish (a sqlite3 shell) is
// seen this late, and a version read every 10 ms costs nothing.
const DefaultMaxPublishedAge = 10 * time.Millisecond

var _ maskcall.RouteStore = (*Index)(nil)

// New returns an index over store, not loaded: Start (or Load) loads it.
// log, if not nil, hears of loads and reloads.
func New(store Store, log *slog.Logger) *Index {
	ix := &Index{store: store, log: log, MaxWatchAge: DefaultMaxWatchAge}
	if ix.published, _ = store.(maskcall.RouteVersionPublisher); ix.published != nil {
		ix.MaxWatchAge = DefaultMaxPublishedAge
	}
	ix.cond = sync.NewCond(&ix.cmu)
	ix.ctx, ix.cancel = context.WithCancel(context.Background())
	return ix
}

// Start loads the index in the background; the store answers meanwhile.
func (ix *Index) Start() { ix.loadInBackground() }

// Load loads the index now.
func (ix *Index) Load(ctx context.Context) error {
	return ix.load(ctx)
}

// Watch makes the index listen to the store's announcements of route
// changes, if it makes them (maskcall.RouteWatcher), until Close: calls
// then check the version only after one (see the package doc). Without
// Watch every call checks. It reports whether the store announces.
func (ix *Index) Watch() bool {
	w, ok := ix.store.(maskcall.RouteWatcher)
	if ok && ix.stopWatch == nil {
		ix.stopWatch = w.WatchRoutes(ix)
	}
	return ok
}

// RoutesChanged implements maskcall.RouteWatch: the next call checks.
func (ix *Index) RoutesChanged() { ix.announced.Add(1) }

// RouteWatchLive implements maskcall.RouteWatch.
func (ix *Index) RouteWatchLive(live bool) {
	// Closing stops the watch: nothing was lost then.
	if ix.watchLive.Swap(live) != live && ix.ctx.Err() == nil {
		if live {
			ix.logInfo("announcements of route changes flow: calls check the route version only after one")
		} else {
			ix.logWarn("announcements of route changes lost: every call checks the route version until they flow again")
		}
	}
}

// Close stops a load under way and frees the index's memory; lookups are
// then answered by the store.
func (ix *Index) Close() {
	ix.cancel()
	if ix.stopWatch != nil {
		ix.stopWatch()
	}
	ix.wg.Wait()
	ix.mu.Lock()
	if ix.tab != nil {
		ix.tab.release()
		ix.tab = nil
	}
	ix.mu.Unlock()
}

// Stats are the index's counters.
type Stats struct {
	Loaded        bool
	Conversations int   // conversations indexed
	Version       int64 // route version the index is at
	Checks        int64 // version checks made (each serves one or more calls)
	Applied       int64 // changed conversations applied
	Fallbacks     int64 // lookups the store answered (not loaded, or a load under way)
	Loads         int64 // loads completed
	// The watch (stores that announce route changes).
	Watching      bool  // announcements flow: calls check only after one
	Announcements int64 // announcements heard (this process's changes and others')
	Unchecked     int64 // calls answered without a version check (nothing announced, or the published version the index's)
	Publishing    bool  // the store publishes its route version (calls check only when it moved)
}

// Stats reports the index's counters.
func (ix *Index) Stats() Stats {
	ix.mu.RLock()
	s := Stats{Loaded: ix.tab != nil, Version: ix.version}
	if ix.tab != nil {
		s.Conversations = ix.tab.live + len(ix.tab.odd)
	}
	ix.mu.RUnlock()
	s.Checks, s.Applied, s.Fallbacks, s.Loads = ix.checks.Load(), ix.applied.Load(), ix.fallbacks.Load(), ix.loads.Load()
	s.Watching, s.Announcements, s.Unchecked = ix.watchLive.Load(), int64(ix.announced.Load()), ix.unchecked.Load()
	if ix.published != nil {
		_, s.Publishing = ix.published.PublishedRouteVersion()
	}
	return s
}

// FindRoute returns the route of a call from from to to at now, as the
// store's FindRoute would for a call arriving now: ENOTFOUND if none.
// Only the participants' numbers and proxy numbers are filled in.
func (ix *Index) FindRoute(ctx context.Context, from, to string, now time.Time) (*maskcall.Route, error) {
	// Each read comes before the table's: a change published, or
	// announced, after it was acknowledged after this call arrived.
	publishing := false
	if ix.published != nil {
		var v int64
		if v, publishing = ix.published.PublishedRouteVersion(); publishing {
			if r, ok := ix.lookupUnchecked(from, to, now, true, v, 0); ok {
				return found(r, from, to)
			}
		}
	}
	if ix.watchLive.Load() && !publishing {
		if r, ok := ix.lookupUnchecked(from, to, now, false, 0, ix.announced.Load()); ok {
			return found(r, from, to)
		}
	}
	gen, err := ix.fresh(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		// The check failed (the database restarting, say): the store's
		// own lookup, with its own retries, decides this call, so the
		// index never answers worse than the store would.
		ix.fallbacks.Add(1)
		return ix.store.FindRoute(ctx, from, to, now)
	}
	ix.mu.RLock()
	if ix.tab == nil || ix.validGen < gen {
		// Not loaded, or loaded after the check that serves this call:
		// the store knows.
		ix.mu.RUnlock()
		ix.fallbacks.Add(1)
		return ix.store.FindRoute(ctx, from, to, now)
	}
	r := ix.tab.lookup(from, to, now)
	ix.mu.RUnlock()
	return found(r, from, to)
}

// lookupUnchecked answers from the table without a version check when the
// last check is younger than MaxWatchAge and nothing changed since it: the
// published version is still the table's (byVersion), or nothing was
// announced since the check began. ok is false when a check is needed.
func (ix *Index) lookupUnchecked(from, to string, now time.Time, byVersion bool, published int64, announced uint64) (r *maskcall.Route, ok bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	unchanged := ix.covered == announced
	if byVersion {
		unchanged = ix.version == published
	}
	if ix.tab == nil || ix.coveredAt.IsZero() || !unchanged || time.Since(ix.coveredAt) >= ix.MaxWatchAge {
		return nil, false
	}
	ix.unchecked.Add(1)
	return ix.tab.lookup(from, to, now), true
}

func found(r *maskcall.Route, from, to string) (*maskcall.Route, error) {
	if r == nil {
		return nil, maskcall.Errorf(maskcall.ENOTFOUND, "No active conversation routes calls from %s to %s.",
			maskcall.MaskNumber(from), to)
	}
	return r, nil
}

// fresh returns once a version check that started after it was called
// has brought the index up to date, with that check's generation (or a
// later one's), or the check's error. With no table loaded it checks
// nothing and returns a generation no table is valid for: the store
// answers.
func (ix *Index) fresh(ctx context.Context) (uint64, error) {
	ix.mu.RLock()
	loaded := ix.tab != nil
	ix.mu.RUnlock()
	if !loaded {
		return ^uint64(0), nil
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ix.cmu.Lock()
	defer ix.cmu.Unlock()
	need := ix.started + 1 // a check started after now
	for ix.done < need {
		if ix.running {
			ix.cond.Wait()
			continue
		}
		ix.running = true
		ix.started++
		gen := ix.started
		ix.cmu.Unlock()
		err := ix.check(gen)
		ix.cmu.Lock()
		ix.running = false
		ix.done, ix.lastErr = gen, err
		ix.cond.Broadcast()
	}
	return ix.done, ix.lastErr
}

// check brings the table up to date with the store: one version read, and
// the changed conversations if it moved. gen marks the table valid.
func (ix *Index) check(gen uint64) error {
	ix.checks.Add(1)
	// The check runs for every waiting call; a caller that gives up must
	// not cancel it for the others. A database that hangs fails it (and
	// the calls go to the store's lookup) well within Vonage's 5 s.
	ctx, cancel := context.WithTimeout(ix.ctx, checkTimeout)
	defer cancel()
	// Read before the version: what is announced after it, the next call
	// checks for.
	announced, began := ix.announced.Load(), time.Now()
	for {
		ix.mu.RLock()
		tab, since := ix.tab, ix.version
		ix.mu.RUnlock()
		if tab == nil {
			return nil // dropped for a reload: the store answers
		}
		v, err := ix.store.RouteVersion(ctx)
		if err != nil {
			return err
		}
		if v == since {
			ix.mu.Lock()
			if ix.tab == tab && ix.version == since {
				ix.validGen = gen
				ix.covered, ix.coveredAt = announced, began
				ix.mu.Unlock()
				return nil
			}
			ix.mu.Unlock()
			continue // a load installed another table meanwhile
		}
		var changed []*maskcall.RouteRecord
		v, ok, err := ix.store.RouteChanges(ctx, since, func(r *maskcall.RouteRecord) error {
			c := *r
			changed = append(changed, &c)
			return nil
		})
		if err != nil {
			return err
		}
		ix.mu.Lock()
		if ix.tab != tab || ix.version != since {
			ix.mu.Unlock()
			continue
		}
		if !ok {
			// The store no longer keeps the changes since our version.
			ix.tab, ix.version = nil, 0
			ix.mu.Unlock()
			tab.release()
			ix.logInfo("route index behind the store's kept changes: loading again")
			ix.loadInBackground()
			return nil
		}
		full := false
		for _, r := range changed {
			if !tab.put(r) {
				full = true
				break
			}
		}
		if full {
			ix.tab, ix.version = nil, 0
			ix.mu.Unlock()
			tab.release()
			ix.logWarn(fmt.Sprintf("route index full (%d conversations): the store answers", maxEntries))
			return nil
		}
		ix.version, ix.validGen = v, gen
		ix.covered, ix.coveredAt = announced, began
		ix.mu.Unlock()
		ix.applied.Add(int64(len(changed)))
		return nil
	}
}

func (ix *Index) loadInBackground() {
	if !ix.loading.CompareAndSwap(false, true) {
		return
	}
	ix.wg.Add(1)
	go func() {
		defer ix.wg.Done()
		defer ix.loading.Store(false)
		if err := ix.load(ix.ctx); err != nil && ix.ctx.Err() == nil {
			ix.logWarn("route index not loaded: the store answers calls", slog.String("err", err.Error()))
		}
	}()
}

// load reads every active route into a new table and installs it; the
// next version check brings it up to date before it answers.
func (ix *Index) load(ctx context.Context) error {
	start := time.Now()
	// Sized for what the store holds, so loading a million conversations
	// never holds two copies of the arrays while one grows.
	size := 1024
	if st, ok := ix.store.(maskcall.StatsStore); ok {
		if n, err := st.CountActiveConversations(ctx); err == nil {
			size = max(size, n+n/16)
		}
	}
	tab := newTable(size)
	full := false
	v, err := ix.store.LoadRoutes(ctx, func(r *maskcall.RouteRecord) error {
		if !tab.put(r) {
			full = true
			return errFull
		}
		return nil
	})
	if full {
		tab.release()
		return fmt.Errorf("more than %d active conversations", maxEntries)
	}
	if err != nil {
		tab.release()
		return err
	}
	ix.mu.Lock()
	old := ix.tab
	ix.tab, ix.version, ix.validGen, ix.coveredAt = tab, v, 0, time.Time{}
	n := tab.live + len(tab.odd)
	ix.mu.Unlock()
	if old != nil {
		old.release()
	}
	ix.loads.Add(1)
	// Reading millions of rows left as much garbage on the heap, which the
	// runtime would hand back to the system only slowly: serve's resident
	// memory would stay at the load's peak.
	debug.FreeOSMemory()
	ix.logInfo("route index loaded", slog.Int("conversations", n), slog.Int64("version", v),
		slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	return nil
}

var errFull = fmt.Errorf("route index full")

// checkTimeout bounds one version check.
const checkTimeout = 2 * time.Second

func (ix *Index) logInfo(msg string, attrs ...slog.Attr) {
	if ix.log != nil {
		ix.log.LogAttrs(context.Background(), slog.LevelInfo, msg, attrs...)
	}
}

func (ix *Index) logWarn(msg string, attrs ...slog.Attr) {
	if ix.log != nil {
		ix.log.LogAttrs(context.Background(), slog.LevelWarn, msg, attrs...)
	}
}
