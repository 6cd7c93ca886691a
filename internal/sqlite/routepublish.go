package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
)

// The published route version (maskcall.RouteVersionPublisher).
//
// serve's route index must see a route change acknowledged by any process
// (the CLI, the API, another serve) before the next call is answered.
// Reading route_version before every call did that at the price of a read
// transaction per call: its shared-memory locks and a page read, since
// every commit empties a reader's cache (6 % of serve's CPU at 1,000,000
// conversations, BENCHMARKS.md). Instead every write transaction reads the
// version it leaves behind, commits, and then raises a counter in a small
// file mapped by every process that opened the database, <db>-routes, to
// that version, before the write returns. A call compares that counter
// with its index's version, two loads from memory, and reads the database
// only when they differ.
//
// The counter only grows (a compare-and-swap raise), so a slow writer
// publishing an older version cannot hide a newer one. A writer that does
// not publish (a sqlite3 shell, an older maskcall, a process killed between
// its commit and its publish, before it acknowledged anything) is covered
// by the index's bound on the age of its last database read
// (routeindex.Index.MaxWatchAge). A file restored from a backup has a lower
// version than the counter: Open lowers the counter to it, so calls do not
// keep reading the database until the version catches up.
//
// The file holds no personal data, only the version; it stays beside the
// database like the -shm file does while open. Where it cannot be mapped
// (another system, a read-only directory) every call reads the version, as
// before.

// errNoSharedMemory: this system maps no file shared between processes.
var errNoSharedMemory = errors.New("no shared memory on this system")

// routesSuffix names the file beside the database.
const routesSuffix = "-routes"

// routePublisher is the mapped counter.
type routePublisher struct {
	version *atomic.Int64 // in the file's mapping
}

// routesPath is the counter's file: beside the database's real path, so
// that processes opening it through different symbolic links share one
// counter, as SQLite's -wal and -shm files are shared.
func routesPath(dbPath string) string {
	if real, err := filepath.EvalSymlinks(dbPath); err == nil {
		dbPath = real
	}
	return dbPath + routesSuffix
}

// load returns the published version.
func (p *routePublisher) load() int64 { return p.version.Load() }

// publish raises the published version to v if it is lower.
func (p *routePublisher) publish(v int64) {
	for {
		cur := p.version.Load()
		if cur >= v || p.version.CompareAndSwap(cur, v) {
			return
		}
	}
}

// lower brings a published version above v (the database was replaced by
// an older copy) down to v. A version published meanwhile by a writer of
// the current file is at least v and stays.
func (p *routePublisher) lower(v int64) {
	for {
		cur := p.version.Load()
		if cur <= v || p.version.CompareAndSwap(cur, v) {
			return
		}
	}
}

// PublishedRouteVersion implements maskcall.RouteVersionPublisher.
func (db *DB) PublishedRouteVersion() (int64, bool) {
	p := db.routes.Load()
	if p == nil {
		return 0, false
	}
	return p.load(), true
}

// openRoutePublisher maps the counter and sets it to the database's
// version. Failing to map it is not an error: the store then publishes
// nothing and the index reads the version before every call.
func (db *DB) openRoutePublisher(ctx context.Context) {
	p, err := mapRoutePublisher(routesPath(db.path))
	if errors.Is(err, errNoSharedMemory) {
		return // as documented for such systems: nothing to warn about
	} else if err != nil {
		db.warn("route changes are not published to other processes (" + err.Error() + "): every call reads the route version")
		return
	}
	if err := syncRouteVersion(ctx, db, p); err != nil {
		db.warn("route changes are not published to other processes (" + err.Error() + "): every call reads the route version")
		return
	}
	db.routes.Store(p)
}

// syncRouteVersion publishes the database's version and, if the counter is
// above it, brings the counter down. Lowering is only right under the
// write lock: a counter above a version read outside it may be a change
// committed and published since, which must stay published; under the lock
// nothing commits, and every version published was committed first, so a
// counter above the version read there is another file's (a restore).
func syncRouteVersion(ctx context.Context, db *DB, p *routePublisher) error {
	var v int64
	if err := db.wdb.QueryRowContext(ctx, routeVersionQuery).Scan(&v); err != nil {
		return err
	}
	if p.load() <= v {
		p.publish(v)
		return nil
	}
	tx, err := db.wdb.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the write lock
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, routeVersionQuery).Scan(&v); err != nil {
		return err
	}
	p.lower(v)
	p.publish(v)
	return nil
}

// closeRoutePublisher stops publishing. The mapping stays for the
// process's life (routepublish_unix.go): a lookup may still be reading it.
func (db *DB) closeRoutePublisher() { db.routes.Store(nil) }
