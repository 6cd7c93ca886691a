package httpserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// ReadyStore is what readiness asks of a store. Both stores record the
// migrations they applied, so "the schema this binary expects" is the
// embedded migrations, all applied and nothing else.
type ReadyStore interface {
	// Ping checks the store answers.
	Ping(ctx context.Context) error
	// Migrations returns the applied and the embedded migrations' names,
	// each sorted.
	Migrations(ctx context.Context) (applied, embedded []string, err error)
}

// DefaultReadyTimeout bounds one readiness check: a load balancer's check
// interval is seconds, and a store slower than this would not answer a
// call in time either (the NCCO is due within 5 s).
const DefaultReadyTimeout = 2 * time.Second

// Readiness checks, as the 503 body's "check" names them.
const (
	ReadyCheckStore  = "store"
	ReadyCheckSchema = "schema"
)

// Ready answers /readyz: 200 {"status":"ready"} when store answers a ping
// within timeout (0: DefaultReadyTimeout) and its schema is the one this
// binary expects; otherwise 503 with an application/problem+json body whose
// "check" names the check that failed ("store" or "schema"). Unlike
// /healthz (the process is alive; restart it if not), a replica that is not
// ready should only be taken out of rotation. The body says which check
// failed in words and reveals no address, error text or version; logger gets
// the details once per change of state.
func Ready(store ReadyStore, timeout time.Duration, logger *slog.Logger) http.Handler {
	if timeout <= 0 {
		timeout = DefaultReadyTimeout
	}
	if logger == nil {
		logger = slog.Default()
	}
	okBody := []byte(`{"status":"ready"}` + "\n")
	var failing atomic.Bool
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		check, detail, err := checkReady(ctx, store, timeout)
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		if err == nil {
			if failing.Swap(false) {
				logger.Info("ready again")
			}
			h.Set("Content-Type", "application/json")
			_, _ = w.Write(okBody)
			return
		}
		if !failing.Swap(true) {
			logger.Warn("not ready", "check", check, "err", err)
		}
		b, _ := json.Marshal(struct {
			Type   string `json:"type"`
			Title  string `json:"title"`
			Status int    `json:"status"`
			Check  string `json:"check"`
			Detail string `json:"detail"`
		}{ProblemTypePrefix + "not_ready", "Not ready", http.StatusServiceUnavailable, check, detail})
		h.Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write(append(b, '\n'))
	})
}

// checkReady runs the checks in order and returns the first that failed,
// the words for the body and the error for the log.
func checkReady(ctx context.Context, store ReadyStore, timeout time.Duration) (check, detail string, err error) {
	if err := store.Ping(ctx); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ReadyCheckStore, fmt.Sprintf("The database did not answer within %s.", timeout), err
		}
		return ReadyCheckStore, "The database cannot be reached.", err
	}
	applied, embedded, err := store.Migrations(ctx)
	if err != nil {
		return ReadyCheckStore, "The database cannot be reached.", err
	}
	for _, a := range applied {
		if !slices.Contains(embedded, a) {
			return ReadyCheckSchema, "The database was migrated by a newer maskcall; this one does not know its schema.",
				maskcall.Errorf(maskcall.ECONFIG, "The database has migration %s, which this maskcall does not know.", a)
		}
	}
	for _, e := range embedded {
		if !slices.Contains(applied, e) {
			return ReadyCheckSchema, "The database lacks migrations this maskcall needs.",
				maskcall.Errorf(maskcall.ECONFIG, "The database lacks migration %s.", e)
		}
	}
	return "", "", nil
}
