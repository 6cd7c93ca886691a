package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// baselineEnv, when set in the environment, makes this program (or its
// test binary) run the baseline server on the address it holds instead of
// the load test: the orchestrator starts the baseline by re-executing
// itself, so the baseline is a separate process like serve.
const baselineEnv = "MASKCALL_LOADTEST_BASELINE_LISTEN"

// baselineNCCO is what the baseline answers every request with: a fixed
// two-action NCCO of the same shape and about the same size as serve's
// connect NCCO.
var baselineNCCO = []byte(`[{"action":"talk","text":"Please wait while we connect your call.","language":"en-GB","style":0},` +
	`{"action":"connect","from":"447400000001","endpoint":[{"type":"phone","number":"12022000001"}],` +
	`"eventUrl":["http://127.0.0.1:3000/webhooks/event"],"limit":3600}]`)

// baselineHandler is the minimal net/http handler serve is compared with:
// no verification, no lookup, no logging, no writes.
func baselineHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(baselineNCCO)
	})
	return mux
}

// runBaseline serves the baseline on addr until SIGTERM or SIGINT.
func runBaseline(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: baselineHandler(), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
