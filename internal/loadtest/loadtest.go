package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sandbox"
	"github.com/maskcall/maskcall/internal/sqlite"
	"github.com/maskcall/maskcall/internal/sqlite/sqliteseed"
)

// Config is one load test run.
type Config struct {
	Sizes          []int         `json:"sizes"`
	Duration       time.Duration `json:"duration_ns"` // timed load per target and phase
	Warmup         time.Duration `json:"warmup_ns"`   // before each timed round
	Rounds         int           `json:"rounds"`
	Concurrency    int           `json:"concurrency"`
	ClientProcs    int           `json:"client_procs"`
	Pool           int           `json:"pool"`
	AnswerRequests int           `json:"answer_requests"`
	EventCalls     int           `json:"event_calls"`
	AllocRuns      int           `json:"alloc_runs"`
	StartupRuns    int           `json:"startup_runs"`
	Phases         string        `json:"phases"`
	APIClients     int           `json:"api_clients"` // concurrent API clients of the api phase
	// Store is "sqlite" (a file per size) or "postgres" (a database per
	// size on PostgresURL's server); Replicas is how many serve processes
	// share it, the generator's connections spread over them.
	Store       string `json:"store"`
	PostgresURL string `json:"-"`
	Replicas    int    `json:"replicas"`
	// ServeEnv is added to serve's environment (GOGC=400, say), for
	// experiments; empty in the documented runs.
	ServeEnv []string `json:"serve_env,omitempty"`
	// NoIndexWait: serve has no route index (an older binary, or
	// serve.route_index off), so nothing waits for it to load before the
	// timed load.
	NoIndexWait bool      `json:"no_index_wait,omitempty"`
	WorkDir     string    `json:"-"`
	Binary      string    `json:"-"`
	Log         io.Writer `json:"-"`
}

// DefaultConfig is what `go run ./internal/loadtest` uses.
func DefaultConfig() Config {
	return Config{
		Sizes:          []int{1000},
		Duration:       10 * time.Second,
		Warmup:         time.Second,
		Rounds:         2,
		Concurrency:    32,
		ClientProcs:    1,
		Pool:           100,
		AnswerRequests: 300_000,
		EventCalls:     50_000,
		AllocRuns:      31,
		StartupRuns:    21,
		APIClients:     16,
		Phases:         "answer,event,api,alloc,fresh,startup",
		Store:          storeSQLite,
		Replicas:       1,
	}
}

func (c *Config) phase(name string) bool {
	return slices.Contains(strings.Split(c.Phases, ","), name)
}

func (c *Config) logf(format string, args ...any) {
	if c.Log != nil {
		fmt.Fprintf(c.Log, "loadtest: "+format+"\n", args...)
	}
}

// Report is everything one run measured.
type Report struct {
	Machine machine       `json:"machine"`
	Config  Config        `json:"config"`
	Sizes   []*SizeReport `json:"sizes"`
	Startup *Startup      `json:"startup,omitempty"`
	Targets []Target      `json:"targets"`
}

// SizeReport is what was measured at one number of conversations.
type SizeReport struct {
	N int `json:"n"`
	// LoadAvg is the machine's 1-minute load average when this size's
	// load began (the machine is shared: it says how much else ran).
	LoadAvg     float64 `json:"loadavg_1m"`
	SeedSeconds float64 `json:"seed_seconds"`
	DBBytes     int64   `json:"db_bytes"`

	// Answer webhook, known callers: serve and the baseline.
	Serve    *loadResult `json:"serve,omitempty"`
	Baseline *loadResult `json:"baseline,omitempty"`
	// Ratio is serve's throughput over the baseline's.
	Ratio float64 `json:"ratio"`
	// AnswerRepeats counts answer webhooks sent to serve beyond the
	// distinct ones generated (their call uuid repeats, so no new call).
	AnswerRepeats  int64  `json:"answer_repeats"`
	ServeMemory    memory `json:"serve_memory"`
	BaselineMemory memory `json:"baseline_memory"`

	// Event webhook, serve only.
	Events       *loadResult `json:"events,omitempty"`
	EventRepeats int64       `json:"event_repeats"`

	// Allocation: `conversation create` wall time (process included) and
	// the store's CreateConversation alone.
	AllocCLI   *Timing `json:"alloc_cli,omitempty"`
	AllocStore *Timing `json:"alloc_store,omitempty"`

	// API is the api phase: creates through /v1 with answers meanwhile.
	API *APIResult `json:"api,omitempty"`

	// Fresh is "ok" when a conversation created, then ended, by the CLI
	// took effect on the very next call; otherwise what went wrong.
	Fresh string `json:"fresh,omitempty"`
}

// Timing summarises repeated runs.
type Timing struct {
	Runs   int           `json:"runs"`
	Median time.Duration `json:"median_ns"`
	Min    time.Duration `json:"min_ns"`
	Max    time.Duration `json:"max_ns"`
}

func timing(ds []time.Duration) *Timing {
	if len(ds) == 0 {
		return nil
	}
	return &Timing{Runs: len(ds), Median: median(ds), Min: slices.Min(ds), Max: slices.Max(ds)}
}

// Startup is the CLI's start-up time.
type Startup struct {
	Help      *Timing       `json:"help"`
	List      *Timing       `json:"list_empty_db"`
	ListFirst time.Duration `json:"list_creating_db_ns"` // the run that creates the file
}

// Run runs the load test and returns its report, partial if err is not nil.
func Run(ctx context.Context, cfg Config) (rep *Report, err error) {
	if cfg.Rounds < 1 || cfg.Concurrency < 1 || cfg.ClientProcs < 1 || cfg.Pool < 1 ||
		cfg.AnswerRequests < 1 || cfg.Duration <= 0 {
		return nil, errors.New("rounds, concurrency, client-procs, pool, answer-requests and duration must be positive")
	}
	if cfg.Store != storeSQLite && cfg.Store != storePostgres {
		return nil, fmt.Errorf("store %q: want %s or %s", cfg.Store, storeSQLite, storePostgres)
	}
	if cfg.Replicas < 1 || (cfg.Replicas > 1 && cfg.Store != storePostgres) {
		return nil, errors.New("replicas must be 1, or more on postgres (replicas of serve share one PostgreSQL database)")
	}
	rep = &Report{Machine: describeMachine(), Config: cfg}
	defer func() {
		rep.Machine.LoadEnd = loadAvg()
		rep.Targets = evaluate(rep)
	}()

	work := cfg.WorkDir
	if work == "" {
		if work, err = os.MkdirTemp("", "maskcall-loadtest-"); err != nil {
			return rep, err
		}
		defer os.RemoveAll(work)
	} else if err := os.MkdirAll(work, 0o700); err != nil {
		return rep, err
	}
	bin := cfg.Binary
	if bin == "" {
		cfg.logf("building maskcall")
		if bin, err = buildMaskcall(work); err != nil {
			return rep, err
		}
	}

	// A local Vonage: with --no-sms and --insight none the CLI calls
	// nothing, but anything it did call would land here, not on Vonage.
	sb := sandbox.NewServer("127.0.0.1:0", sandbox.New(sandbox.Config{
		APIKey: apiKey, APISecret: "loadtest-secret", SignatureSecret: signatureSecret, ApplicationID: applicationID}))
	if err := sb.Open(); err != nil {
		return rep, err
	}
	defer sb.Close()
	env := &environment{bin: bin, home: filepath.Join(work, "home"), vonageURL: sb.URL()}
	if err := os.MkdirAll(env.home, 0o700); err != nil {
		return rep, err
	}

	for _, n := range cfg.Sizes {
		sr := &SizeReport{N: n}
		rep.Sizes = append(rep.Sizes, sr)
		if err := runSize(ctx, &cfg, env, filepath.Join(work, fmt.Sprintf("n%d", n)), sr); err != nil {
			return rep, fmt.Errorf("N=%d: %w", n, err)
		}
	}
	if cfg.phase("startup") {
		cfg.logf("start-up")
		if rep.Startup, err = runStartup(ctx, &cfg, env, filepath.Join(work, "startup")); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// environment runs the maskcall binary isolated from the user's
// configuration: its own HOME and working directory, no maskcall.yaml or
// .env, Vonage pointed at the sandbox.
type environment struct {
	bin, home, vonageURL string
}

func (e *environment) command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.home,
		"XDG_CONFIG_HOME=" + filepath.Join(e.home, ".config"),
		"XDG_DATA_HOME=" + filepath.Join(e.home, ".local", "share"),
		"VONAGE_API_KEY=" + apiKey,
		"VONAGE_API_SECRET=loadtest-secret",
		"VONAGE_APPLICATION_ID=" + applicationID,
		"VONAGE_SIGNATURE_SECRET=" + signatureSecret,
		"VONAGE_REST_URL=" + e.vonageURL,
		"VONAGE_API_URL=" + e.vonageURL,
	}
	return cmd
}

func runSize(ctx context.Context, cfg *Config, env *environment, dir string, sr *SizeReport) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	pool := poolNumbers(cfg.Pool)
	n := sr.N
	rng := rand.New(rand.NewPCG(uint64(n), 42))

	cfg.logf("N=%d: seeding %s", n, cfg.Store)
	start := time.Now()
	st, err := newSeededStore(ctx, cfg, dir, n, pool)
	if err != nil {
		return err
	}
	if st.drop != nil {
		defer st.drop()
	}
	dbPath := st.db
	sr.SeedSeconds = time.Since(start).Seconds()
	sr.DBBytes = st.bytes
	cfg.logf("N=%d: seeded in %.1fs (%d MB)", n, sr.SeedSeconds, sr.DBBytes>>20)

	var apiKey string
	if cfg.phase("api") {
		if apiKey, err = apiKeyFor(ctx, env, dir, dbPath); err != nil {
			return err
		}
	}
	// serve's replicas, all on the one store.
	var serves []*process
	var serveURLs []string
	defer func() {
		for _, p := range serves {
			p.stop()
		}
	}()
	for k := range cfg.Replicas {
		serveAddr, err := freeAddr()
		if err != nil {
			return err
		}
		serveURL := "http://" + serveAddr
		scmd := env.command(ctx, dir, "serve", "--listen", serveAddr, "--public-url", serveURL, "--db", dbPath)
		// No per-key rate limit: the api phase measures what serve can take.
		scmd.Env = append(scmd.Env, "MASKCALL_API_RATE_LIMIT=0")
		scmd.Env = append(scmd.Env, cfg.ServeEnv...)
		logName := "serve.log"
		if cfg.Replicas > 1 {
			logName = fmt.Sprintf("serve-%d.log", k+1)
		}
		p, err := startProcess("serve", scmd, serveAddr, filepath.Join(dir, logName))
		if err != nil {
			return err
		}
		serves = append(serves, p)
		serveURLs = append(serveURLs, serveURL)
	}
	// serve answers from the store until its route index has loaded (a
	// few seconds at 1,000,000): the timed load starts once it has.
	if !cfg.NoIndexWait && !slices.Contains(cfg.ServeEnv, "MASKCALL_SERVE_ROUTE_INDEX=false") {
		for _, p := range serves {
			line, err := waitLog(p.log.Name(), "route index", 5*time.Minute)
			if err != nil {
				return fmt.Errorf("serve's route index: %w (an older binary? pass -no-index-wait)", err)
			}
			if !strings.Contains(line, "route index loaded") {
				return fmt.Errorf("serve's route index did not load: %s", line)
			}
			cfg.logf("N=%d: %s", n, strings.TrimSpace(line))
		}
	}
	servePIDs := func() []int {
		pids := make([]int, len(serves))
		for i, p := range serves {
			pids[i] = p.pid()
		}
		return pids
	}
	serveMemory := func(m memory) memory {
		for _, p := range serves {
			m = maxMemory(m, readMemory(p.pid()))
		}
		return m
	}
	serveURL := serveURLs[0]
	gServe := newGenerator(serveURLs, cfg.Concurrency)
	gServe.dbPIDs = st.backends
	defer gServe.close()

	var calls []call
	var served atomic.Int64 // answer requests sent to serve
	if cfg.phase("answer") {
		baseAddr, err := freeAddr()
		if err != nil {
			return err
		}
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		bcmd := exec.CommandContext(ctx, exe)
		bcmd.Env = []string{"PATH=" + os.Getenv("PATH"), baselineEnv + "=" + baseAddr}
		base, err := startProcess("baseline", bcmd, baseAddr, filepath.Join(dir, "baseline.log"))
		if err != nil {
			return err
		}
		defer base.stop()
		gBase := newGenerator([]string{"http://" + baseAddr}, cfg.Concurrency)
		defer gBase.close()

		sr.LoadAvg = loadAvg()
		cfg.logf("N=%d: signing %d answer webhooks", n, cfg.AnswerRequests)
		calls = makeCalls(rng, n, cfg.AnswerRequests, pool)
		reqs := answerRequests(signer{now: time.Now()}, calls, serveURL)

		connects := func(r *request, status int, body []byte) bool {
			return status == http.StatusOK && bytes.Contains(body, r.expect)
		}
		replies := func(_ *request, status int, body []byte) bool {
			return status == http.StatusOK && len(body) > 0
		}
		sr.Serve, sr.Baseline = &loadResult{}, &loadResult{}
		var baseCursor atomic.Int64
		per := cfg.Duration / time.Duration(cfg.Rounds)
		restore := runtime.GOMAXPROCS(cfg.ClientProcs)
		for round := range cfg.Rounds {
			for k := range 2 {
				// Alternate which target goes first, so neither always
				// gets the machine in the same state.
				if (round+k)%2 == 0 {
					cfg.logf("N=%d: answer round %d: baseline", n, round+1)
					sr.Baseline.add(gBase.run(ctx, reqs, &baseCursor, cfg.Warmup, per, replies, base.pid()))
					sr.BaselineMemory = maxMemory(sr.BaselineMemory, readMemory(base.pid()))
				} else {
					cfg.logf("N=%d: answer round %d: serve", n, round+1)
					sr.Serve.add(gServe.run(ctx, reqs, &served, cfg.Warmup, per, connects, servePIDs()...))
					sr.ServeMemory = serveMemory(sr.ServeMemory)
				}
				if err := ctx.Err(); err != nil {
					runtime.GOMAXPROCS(restore)
					return err
				}
			}
		}
		runtime.GOMAXPROCS(restore)
		if sr.Baseline.Throughput > 0 {
			sr.Ratio = sr.Serve.Throughput / sr.Baseline.Throughput
		}
		sr.AnswerRepeats = max(served.Load()-int64(len(reqs)), 0)
		cfg.logf("N=%d: serve %.0f/s p99 %v, baseline %.0f/s p99 %v, ratio %.2f", n,
			sr.Serve.Throughput, sr.Serve.P99, sr.Baseline.Throughput, sr.Baseline.P99, sr.Ratio)
	}

	if cfg.phase("event") && cfg.EventCalls > 0 {
		// Events belong to calls serve answered: those of the answer
		// phase first, then new ones answered now (untimed).
		have := min(int(served.Load()), len(calls), cfg.EventCalls)
		evCalls := calls[:have]
		if extra := cfg.EventCalls - have; extra > 0 {
			cfg.logf("N=%d: answering %d calls for the event phase", n, extra)
			more := makeCalls(rng, n, extra, pool)
			ok, err := gServe.sendAll(ctx, answerRequests(signer{now: time.Now()}, more, serveURL),
				func(r *request, status int, body []byte) bool {
					return status == http.StatusOK && bytes.Contains(body, r.expect)
				})
			if err != nil || ok != extra {
				return fmt.Errorf("answering calls for the event phase: %d of %d connected (%v)", ok, extra, err)
			}
			evCalls = append(evCalls, more...)
		}
		cfg.logf("N=%d: signing %d event webhooks", n, 4*len(evCalls))
		evReqs := eventRequests(signer{now: time.Now()}, evCalls)
		noContent := func(_ *request, status int, _ []byte) bool { return status == http.StatusNoContent }
		var cursor atomic.Int64
		cfg.logf("N=%d: events", n)
		restore := runtime.GOMAXPROCS(cfg.ClientProcs)
		sr.Events = gServe.run(ctx, evReqs, &cursor, cfg.Warmup, cfg.Duration, noContent, servePIDs()...)
		runtime.GOMAXPROCS(restore)
		sr.EventRepeats = max(cursor.Load()-int64(len(evReqs)), 0)
		sr.ServeMemory = serveMemory(sr.ServeMemory)
		cfg.logf("N=%d: events %.0f/s p99 %v", n, sr.Events.Throughput, sr.Events.P99)
	}

	if cfg.phase("api") && cfg.APIClients > 0 {
		answers := apiAnswers(calls[min(int(served.Load()), len(calls)):], rng, n, cfg.AnswerRequests, pool, serveURL)
		if sr.API, err = runAPI(ctx, cfg, serveURLs, servePIDs(), apiKey, answers, n); err != nil {
			return err
		}
		sr.ServeMemory = serveMemory(sr.ServeMemory)
	}

	if cfg.phase("alloc") && cfg.AllocRuns > 0 {
		cfg.logf("N=%d: allocation", n)
		ds, err := timeRuns(ctx, cfg.AllocRuns, func(k int) *exec.Cmd {
			i := rng.IntN(n)
			return env.command(ctx, dir, "conversation", "create", sqliteseed.NumberA(i), newParticipant(k),
				"--no-sms", "--insight", "none", "--db", dbPath, "-o", "json")
		})
		if err != nil {
			return err
		}
		sr.AllocCLI = timing(ds)
		if sr.AllocStore, err = allocStore(ctx, dbPath, n, cfg.AllocRuns, rng); err != nil {
			return err
		}
	}

	if cfg.phase("fresh") {
		// PostgreSQL's replicas hear of another process's change when
		// PostgreSQL delivers its announcement: within the bound serve
		// publishes (100 ms), not on the very next call.
		var bound time.Duration
		if cfg.Store == storePostgres {
			bound = 100 * time.Millisecond
		}
		cfg.logf("N=%d: create and end take effect on the next call (within %v)", n, bound)
		sr.Fresh = fresh(ctx, env, dir, dbPath, gServe, serveURL, bound)
	}

	sr.ServeMemory = serveMemory(sr.ServeMemory)
	ps := serves
	serves = nil
	for _, p := range ps {
		if err := p.stop(); err != nil {
			return fmt.Errorf("serve: %w (see %s)", err, p.log.Name())
		}
	}
	return nil
}

// maxMemory keeps the larger of two readings (and its parts).
func maxMemory(a, b memory) memory {
	m := a
	if b.RSS > a.RSS {
		m = b
	}
	m.Peak = max(a.Peak, b.Peak)
	return m
}

// seed fills a fresh database file with n conversations, through Open so
// that the migrations make the schema.
func seed(ctx context.Context, path string, n int, pool []string) error {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(path + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	db := sqlite.NewDB(path)
	if err := db.Open(); err != nil {
		return err
	}
	if err := sqliteseed.Conversations(ctx, db.Path(), n, pool, time.Now()); err != nil {
		db.Close()
		return err
	}
	return db.Close()
}

// allocStore times the store's CreateConversation alone, on the same file
// serve has open, for runs new conversations between a seeded participant
// and a new number.
func allocStore(ctx context.Context, path string, n, runs int, rng *rand.Rand) (*Timing, error) {
	db, err := openStore(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var ds []time.Duration
	for k := range runs {
		c := &maskcall.Conversation{Participants: []maskcall.Participant{
			{Number: sqliteseed.NumberA(rng.IntN(n)), Country: "GB"},
			{Number: newParticipant(100_000 + k), Country: "FR"},
		}}
		start := time.Now()
		if err := db.CreateConversation(ctx, c, nil, time.Now()); err != nil {
			return nil, err
		}
		ds = append(ds, time.Since(start))
	}
	return timing(ds), nil
}

// fresh creates a conversation with the CLI and calls it at once through
// serve, then ends it with the CLI and calls again at once: the first call
// must connect, the second must not; with a bound, calls are made again
// until it has passed. It returns "ok" (with the longest wait, if any) or
// what went wrong.
func fresh(ctx context.Context, env *environment, dir, dbPath string, g *generator, serveURL string, bound time.Duration) string {
	x, y := newParticipant(900_000), newParticipant(900_001)
	cmd := env.command(ctx, dir, "conversation", "create", x, y, "--no-sms", "--insight", "none", "--db", dbPath, "-o", "json")
	out, err := cmd.Output()
	if err != nil {
		return fmt.Sprintf("conversation create: %v", err)
	}
	var c maskcall.Conversation
	if err := json.Unmarshal(out, &c); err != nil || len(c.Participants) != 2 {
		return fmt.Sprintf("conversation create printed %q", truncate(string(out), 200))
	}
	s := signer{now: time.Now()}
	rng := rand.New(rand.NewPCG(1, 2))
	// The call goes to every replica in turn: each must see the change.
	answer := func() (string, error) {
		got := ""
		for _, base := range g.bases {
			r := s.answerRequest(call{from: x[1:], to: c.Participants[0].ProxyNumber[1:], callee: y[1:],
				uuid: uuid(rng), convUUID: "CON-" + uuid(rng)}, serveURL)
			var buf bytes.Buffer
			status, err := g.do(ctx, base, &r, &buf)
			if err != nil {
				return "", err
			}
			if status != http.StatusOK {
				return "", fmt.Errorf("answer webhook replied %d", status)
			}
			this := "not in service"
			if bytes.Contains(buf.Bytes(), r.expect) {
				this = "connect"
			}
			if got != "" && this != got {
				return got + " on one replica, " + this + " on another", nil
			}
			got = this
		}
		return got, nil
	}
	var waited time.Duration
	within := func(want string) (string, error) {
		start := time.Now()
		for again := false; ; again = true {
			got, err := answer()
			if err == nil && got == want && again {
				waited = max(waited, time.Since(start))
			}
			if err != nil || got == want || time.Since(start) >= bound {
				return got, err
			}
			time.Sleep(time.Millisecond)
		}
	}
	if got, err := within("connect"); err != nil || got != "connect" {
		return fmt.Sprintf("the call right after `conversation create` got %q (%v), want connect", got, err)
	}
	if out, err := env.command(ctx, dir, "conversation", "end", c.ID, "--db", dbPath).CombinedOutput(); err != nil {
		return fmt.Sprintf("conversation end: %v: %s", err, truncate(string(out), 200))
	}
	if got, err := within("not in service"); err != nil || got != "not in service" {
		return fmt.Sprintf("the call right after `conversation end` got %q (%v), want not in service", got, err)
	}
	if waited > 0 {
		return fmt.Sprintf("ok (seen after %v)", waited.Round(10*time.Microsecond))
	}
	return "ok"
}

// runStartup times `maskcall --help` and `maskcall conversation list` on an
// empty database.
func runStartup(ctx context.Context, cfg *Config, env *environment, dir string) (*Startup, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	db := filepath.Join(dir, "empty.db")
	// An empty file: commands that only read refuse a missing database,
	// and SQLite takes an empty file for a new one, so the first list
	// still creates the schema.
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		return nil, err
	}
	st := &Startup{}
	ds, err := timeRuns(ctx, cfg.StartupRuns, func(int) *exec.Cmd { return env.command(ctx, dir, "--help") })
	if err != nil {
		return nil, err
	}
	st.Help = timing(ds)
	first, err := timeRuns(ctx, 1, func(int) *exec.Cmd { return env.command(ctx, dir, "conversation", "list", "--db", db) })
	if err != nil {
		return nil, err
	}
	st.ListFirst = first[0]
	if ds, err = timeRuns(ctx, cfg.StartupRuns, func(int) *exec.Cmd {
		return env.command(ctx, dir, "conversation", "list", "--db", db)
	}); err != nil {
		return nil, err
	}
	st.List = timing(ds)
	return st, nil
}
