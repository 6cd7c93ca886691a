package postgres

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/maskcall/maskcall/internal/maskcall"
)

// Route announcements (maskcall.RouteWatcher). Every transaction that
// takes a route version notifies channel maskcall_routes
// (migration/0020_route_notify.sql), so others' changes arrive on a
// connection of its own that LISTENs. This store's own route changes are
// announced in process instead, after the commit and before the write
// returns: a conversation ended through this replica never routes here
// once its end was acknowledged, whenever PostgreSQL delivers the
// notification.

var _ maskcall.RouteWatcher = (*DB)(nil)

// routesChannel is the channel route changes are announced on.
const routesChannel = "maskcall_routes"

// routeWatchers are a store's watchers, told of its own route changes.
type routeWatchers struct {
	mu   sync.Mutex
	list []maskcall.RouteWatch
	// listenPID is the listening connection's backend (tests end it);
	// beforeListen, if set, runs before each connection (tests hold it).
	listenPID    atomic.Uint32
	beforeListen atomic.Pointer[func()]
}

func (ws *routeWatchers) add(w maskcall.RouteWatch) {
	ws.mu.Lock()
	ws.list = append(ws.list, w)
	ws.mu.Unlock()
}

func (ws *routeWatchers) remove(w maskcall.RouteWatch) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for i, x := range ws.list {
		if x == w {
			ws.list = append(ws.list[:i:i], ws.list[i+1:]...)
			return
		}
	}
}

// changed tells every watcher.
func (ws *routeWatchers) changed() {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	for _, w := range ws.list {
		w.RoutesChanged()
	}
}

// WatchRoutes implements maskcall.RouteWatcher: it listens on a connection
// of its own (not the pool's), connecting again after 20 ms to 1 s while
// the server is away, until stop is called.
func (db *DB) WatchRoutes(w maskcall.RouteWatch) (stop func()) {
	db.watchers.add(w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; ctx.Err() == nil; n++ {
			if db.listenRoutes(ctx, w) {
				n = 0 // it listened: the next try is a fresh start
			}
			if sleep(ctx, min(20*time.Millisecond<<min(n, 6), time.Second)) != nil {
				return
			}
		}
	}()
	return func() {
		cancel()
		<-done
		db.watchers.remove(w)
	}
}

// listenRoutes connects, listens and announces until the connection fails
// or ctx ends; it reports whether it got to listen.
func (db *DB) listenRoutes(ctx context.Context, w maskcall.RouteWatch) (listened bool) {
	if db.pool == nil {
		return false
	}
	if f := db.watchers.beforeListen.Load(); f != nil {
		(*f)()
	}
	conn, err := pgx.ConnectConfig(ctx, db.pool.Config().ConnConfig.Copy())
	if err != nil {
		return false
	}
	defer func() {
		// Bounded: a server that stopped answering must not hold up Close.
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+routesChannel); err != nil {
		return false
	}
	db.watchers.listenPID.Store(conn.PgConn().PID())
	// Whatever committed before LISTEN took effect was not announced: one
	// announcement makes the index read the version after it did.
	w.RoutesChanged()
	w.RouteWatchLive(true)
	defer w.RouteWatchLive(false)
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return true
		}
		w.RoutesChanged()
	}
}
