package cli

import (
	"log/slog"

	"github.com/maskcall/maskcall/internal/httpserver"
	"github.com/maskcall/maskcall/internal/maskcall"
)

// mountReady mounts /readyz (the store answers and its schema is this
// binary's) beside /healthz (the process is alive). Both stores can say;
// a store that cannot gets no /readyz.
func mountReady(srv *httpserver.Server, store maskcall.Store, logger *slog.Logger) {
	if rs, ok := store.(httpserver.ReadyStore); ok {
		srv.Handle("GET /readyz", httpserver.Ready(rs, 0, logger))
	}
}
