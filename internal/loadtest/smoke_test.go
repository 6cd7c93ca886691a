package main

import (
	"context"
	"io"
	"os"
	"runtime"
	"testing"
	"time"
)

// TestSmoke runs the whole load test, tiny: 200 conversations, about a
// second per phase. It checks that every phase produced figures, never how
// fast they are: CI machines are shared and slow, and timings are
// BENCHMARKS.md's business.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("the load test smoke run builds maskcall and loads it for a few seconds; skipped with -short")
	}
	cfg := DefaultConfig()
	cfg.Sizes = []int{200, 400}
	cfg.Duration = time.Second
	cfg.Warmup = 200 * time.Millisecond
	cfg.Rounds = 1
	cfg.Concurrency = 4
	cfg.AnswerRequests = answersForLoad(cfg) // none sent twice, or the throughput is not judged
	cfg.EventCalls = 500
	cfg.APIClients = 4
	cfg.AllocRuns = 3
	cfg.StartupRuns = 3
	cfg.WorkDir = t.TempDir()
	cfg.Log = io.Discard
	if testing.Verbose() {
		cfg.Log = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		rep.Print(os.Stderr)
	}
	if len(rep.Sizes) != 2 {
		t.Fatalf("%d sizes reported", len(rep.Sizes))
	}
	for _, s := range rep.Sizes {
		if s.API == nil {
			t.Errorf("N=%d: the api phase reported nothing", s.N)
			s.API = &APIResult{}
		}
		// An fsynced create can take longer than the smoke run's window
		// on a loaded machine: the api phase must have sent creates and
		// had no error, but need not have finished one in the window.
		if c := s.API.Creates; c == nil || s.API.Sent == 0 || c.Errors > 0 {
			t.Errorf("N=%d: api creates: %d sent, %+v", s.N, s.API.Sent, c)
		}
		for name, r := range map[string]*loadResult{"serve": s.Serve, "baseline": s.Baseline, "events": s.Events,
			"api answers": s.API.Answers} {
			if r == nil || r.Requests == 0 || r.Throughput <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
				t.Errorf("N=%d %s: no figures: %+v", s.N, name, r)
				continue
			}
			if r.Errors > 0 {
				t.Errorf("N=%d %s: %d errors, first: %s", s.N, name, r.Errors, r.FirstError)
			}
		}
		// The whole machine's share busy, which the analysis of the
		// ratio rests on (BENCHMARKS.md): read for both targets.
		for name, r := range map[string]*loadResult{"serve": s.Serve, "baseline": s.Baseline} {
			if runtime.GOOS == "linux" && r != nil && (r.MachineBusy <= 0 || r.MachineBusy > 1.001 || r.MachinePerRequest <= 0) {
				t.Errorf("N=%d %s: machine busy %v, %v a request", s.N, name, r.MachineBusy, r.MachinePerRequest)
			}
		}
		if s.Ratio <= 0 || s.ServeMemory.Peak <= 0 || s.BaselineMemory.Peak <= 0 || s.DBBytes <= 0 {
			t.Errorf("N=%d: ratio %v, memory %+v / %+v, db %d bytes", s.N, s.Ratio, s.ServeMemory, s.BaselineMemory, s.DBBytes)
		}
		if s.AllocCLI == nil || s.AllocCLI.Runs != cfg.AllocRuns || s.AllocCLI.Median <= 0 || s.AllocStore == nil || s.AllocStore.Median <= 0 {
			t.Errorf("N=%d: allocation timings %+v, %+v", s.N, s.AllocCLI, s.AllocStore)
		}
		if s.Fresh != "ok" {
			t.Errorf("N=%d: %s", s.N, s.Fresh)
		}
	}
	if st := rep.Startup; st == nil || st.Help.Median <= 0 || st.List.Median <= 0 {
		t.Errorf("start-up: %+v", st)
	}
	// Every target is judged (two sizes were run, so the flat-cost and
	// allocation ratios too).
	if len(rep.Targets) < 8 {
		t.Errorf("%d targets judged: %+v", len(rep.Targets), rep.Targets)
	}
	for _, tg := range rep.Targets {
		if tg.Status == "n/a" {
			t.Errorf("target %q not judged", tg.Name)
		}
	}
}

// TestSmokePostgres is TestSmoke on PostgreSQL with two serve replicas on
// one database, the generator's connections spread over both: every phase
// produces figures (the database server's CPU too), and a conversation
// created and ended by the CLI takes effect on the next call on each
// replica.
func TestSmokePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("the load test smoke run builds maskcall and loads it for a few seconds; skipped with -short")
	}
	pg := os.Getenv("MASKCALL_TEST_POSTGRES")
	if pg == "" {
		t.Skip("PostgreSQL load test smoke run skipped: set MASKCALL_TEST_POSTGRES to a server URL, e.g. " +
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable (.ci/run sets it)")
	}
	cfg := DefaultConfig()
	cfg.Store, cfg.PostgresURL, cfg.Replicas = storePostgres, pg, 2
	cfg.Sizes = []int{300}
	cfg.Duration = time.Second
	cfg.Warmup = 200 * time.Millisecond
	cfg.Rounds = 1
	cfg.Concurrency = 4
	cfg.AnswerRequests = answersForLoad(cfg)
	cfg.EventCalls = 300
	cfg.AllocRuns = 2
	cfg.Phases = "answer,event,alloc,fresh"
	cfg.WorkDir = t.TempDir()
	cfg.Log = io.Discard
	if testing.Verbose() {
		cfg.Log = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if testing.Verbose() {
		rep.Print(os.Stderr)
	}
	s := rep.Sizes[0]
	for name, r := range map[string]*loadResult{"serve": s.Serve, "baseline": s.Baseline, "events": s.Events} {
		if r == nil || r.Requests == 0 || r.Throughput <= 0 || r.P50 <= 0 || r.P99 < r.P50 {
			t.Errorf("%s: no figures: %+v", name, r)
			continue
		}
		if r.Errors > 0 {
			t.Errorf("%s: %d errors, first: %s", name, r.Errors, r.FirstError)
		}
	}
	if s.Serve != nil && s.Serve.DBCPUSeconds <= 0 {
		t.Errorf("no PostgreSQL CPU measured: %+v", s.Serve)
	}
	if s.Ratio <= 0 || s.ServeMemory.Peak <= 0 || s.DBBytes <= 0 || s.AllocStore == nil || s.AllocCLI == nil {
		t.Errorf("ratio %v, memory %+v, db %d bytes, allocation %+v / %+v", s.Ratio, s.ServeMemory, s.DBBytes, s.AllocCLI, s.AllocStore)
	}
	if s.Fresh != "ok" {
		t.Error(s.Fresh)
	}
}
