package cli

import (
	"log/slog"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/routeindex"
)

// startRouteIndex puts serve's route index in front of the store when the
// store feeds one and serve.route_index is on (the default): calls are
// then answered from memory, the store's route version checked when the
// version its writers published moved (SQLite) or after each announcement
// of a change (PostgreSQL) (routeindex). It loads in the background; the
// store answers until it has.
func startRouteIndex(cfg *Config, store maskcall.Store, logger *slog.Logger) (maskcall.RouteStore, func(), error) {
	on, err := cfg.Bool("serve.route_index")
	if err != nil {
		return nil, nil, err
	}
	feed, ok := store.(routeindex.Store)
	if !on || !ok {
		return store, func() {}, nil
	}
	ix := routeindex.New(feed, logger)
	ix.Watch() // PostgreSQL: a version read after an announcement, not before every call
	ix.Start()
	return ix, ix.Close, nil
}
