// Command loadtest measures maskcall serve's answer and event webhooks at a
// given number of active conversations, against a minimal net/http handler
// on the same machine with the same load generator, and times the CLI's
// allocation and start-up. See BENCHMARKS.md for the method and figures.
//
//	go run ./internal/loadtest -n 1000,100000,1000000
//
// For each N it fills a fresh SQLite file with N synthetic conversations
// (sqliteseed.Conversations), builds the maskcall binary and starts
// `maskcall serve` on it, starts the baseline (this program re-executed as
// a bare handler returning a fixed two-action NCCO), and loads both on
// loopback with signed answer webhooks of known callers: same generator,
// same concurrency, alternating rounds. Then it loads serve's event
// webhook, times `maskcall conversation create --no-sms --insight none`
// and checks that a conversation created and ended by the CLI takes effect
// on the very next call. Once per run it times `maskcall --help` and
// `maskcall conversation list` on an empty database.
//
// The generator runs in this process with GOMAXPROCS = -client-procs (1 by
// default), leaving the rest of the machine to the server under test;
// serve and the baseline run with Go's defaults. Figures drift with the
// machine: compare the ratios, which come from one run.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if addr := os.Getenv(baselineEnv); addr != "" {
		if err := runBaseline(addr); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		return
	}
	cfg := DefaultConfig()
	var sizes, out string
	var baselineServer bool
	var listen string
	flag.StringVar(&sizes, "n", "1000", "conversations in the database; a comma-separated list runs each size, e.g. 1000,100000,1000000")
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "timed load per target and phase (split over -rounds)")
	flag.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "untimed load before each timed round")
	flag.IntVar(&cfg.Rounds, "rounds", cfg.Rounds, "alternating serve/baseline rounds the answer phase is split into")
	flag.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "concurrent connections of the load generator")
	flag.IntVar(&cfg.ClientProcs, "client-procs", cfg.ClientProcs, "GOMAXPROCS of the load generator while it loads")
	flag.IntVar(&cfg.Pool, "pool", cfg.Pool, "pool numbers the seeded conversations share")
	flag.IntVar(&cfg.AnswerRequests, "answer-requests", cfg.AnswerRequests, "distinct signed answer webhooks generated per size (each a new call; default: 300000, or 25000 a second of serve's load when -duration and the warm-ups are longer)")
	flag.IntVar(&cfg.EventCalls, "event-calls", cfg.EventCalls, "calls whose four events the event phase sends")
	flag.IntVar(&cfg.AllocRuns, "alloc-runs", cfg.AllocRuns, "`conversation create` runs timed per size")
	flag.IntVar(&cfg.StartupRuns, "startup-runs", cfg.StartupRuns, "runs of each start-up command timed")
	flag.IntVar(&cfg.APIClients, "api-clients", cfg.APIClients, "concurrent clients of the api phase (POST /v1/conversations)")
	flag.StringVar(&cfg.Phases, "phases", cfg.Phases, "phases to run: answer,event,api,alloc,fresh,startup")
	flag.StringVar(&cfg.Store, "store", cfg.Store, "store under test: sqlite (a file per size) or postgres (a database per size, created and dropped on -postgres's server)")
	flag.StringVar(&cfg.PostgresURL, "postgres", "", "PostgreSQL server for -store postgres (default $MASKCALL_TEST_POSTGRES, else "+defaultPostgresURL+")")
	flag.IntVar(&cfg.Replicas, "replicas", cfg.Replicas, "serve processes on the one store (postgres only), the generator's connections spread over them")
	flag.StringVar(&cfg.WorkDir, "workdir", "", "directory for the databases, the binary and logs (default: a new temporary directory, removed after)")
	flag.StringVar(&cfg.Binary, "bin", "", "maskcall binary to test (default: go build ./cmd/maskcall)")
	flag.Func("serve-env", "KEY=VALUE added to serve's environment, e.g. GOGC=400 (repeatable; for experiments)", func(v string) error {
		if !strings.Contains(v, "=") {
			return fmt.Errorf("want KEY=VALUE")
		}
		cfg.ServeEnv = append(cfg.ServeEnv, v)
		return nil
	})
	flag.BoolVar(&cfg.NoIndexWait, "no-index-wait", false, "do not wait for serve's route index to load (a binary without one)")
	flag.StringVar(&out, "out", "", "write the results as JSON to this file")
	flag.BoolVar(&baselineServer, "baseline-server", false, "run only the baseline server (see -listen)")
	flag.StringVar(&listen, "listen", "127.0.0.1:3999", "address of -baseline-server")
	flag.Parse()
	if !flagSet("answer-requests") {
		cfg.AnswerRequests = answerRequestsFor(cfg)
	}

	if baselineServer {
		if err := runBaseline(listen); err != nil {
			fmt.Fprintln(os.Stderr, "baseline:", err)
			os.Exit(1)
		}
		return
	}
	cfg.Sizes = nil
	for s := range strings.SplitSeq(sizes, ",") {
		s = strings.ReplaceAll(strings.TrimSpace(s), "_", "")
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "loadtest: -n: %q is not a positive number\n", s)
			os.Exit(2)
		}
		cfg.Sizes = append(cfg.Sizes, n)
	}
	cfg.Log = os.Stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	rep, err := Run(ctx, cfg)
	if rep != nil {
		rep.Print(os.Stdout)
		if out != "" {
			buf, jerr := json.MarshalIndent(rep, "", "  ")
			if jerr == nil {
				jerr = os.WriteFile(out, append(buf, '\n'), 0o644)
			}
			if jerr != nil {
				fmt.Fprintln(os.Stderr, "loadtest:", jerr)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "loadtest: done in %s\n", time.Since(start).Round(time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// flagSet reports whether the command line set the flag name.
func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// answerRequestsFor is how many distinct answer webhooks cfg's answer phase
// signs by default: answersForLoad, at least the default (which is that
// for the default duration and warm-ups).
func answerRequestsFor(cfg Config) int {
	return max(DefaultConfig().AnswerRequests, answersForLoad(cfg))
}

// answersForLoad is how many distinct answer webhooks cfg's answer phase
// needs so that none is sent twice: 25,000 a second of serve's load (its
// fastest run on these machines answered about 20,000).
func answersForLoad(cfg Config) int {
	load := cfg.Duration + time.Duration(cfg.Rounds)*cfg.Warmup
	return int(25_000 * load.Seconds())
}
