package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/routeindex"
	"github.com/maskcall/maskcall/internal/sqlite"
	"github.com/maskcall/maskcall/internal/sqlite/sqliteseed"
	"github.com/maskcall/maskcall/internal/webhook"
)

// TestMain lets the smoke test start this test binary as the baseline
// server, as the load test re-executes itself.
func TestMain(m *testing.M) {
	if addr := os.Getenv(baselineEnv); addr != "" {
		if err := runBaseline(addr); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// benchEnv is serve's handler on a real, seeded store, in process: what
// `maskcall serve` runs, minus the network. Profile it with
//
//	go test -run '^$' -bench Handler -cpuprofile cpu.out ./internal/loadtest/
type benchEnv struct {
	db      *sqlite.DB
	handler http.Handler
	// indexed is the handler with calls answered by the route index in
	// front of the store, as serve runs it.
	indexed http.Handler
	answers []request
	// answers2 are other calls, for the index (a call uuid is recorded
	// once).
	answers2 []request
	events   []request
	// Other calls, for the runs with callbacks on: new calls, so each
	// writes its events.
	cbAnswers, cbEvents []request
}

// newBenchEnv seeds n conversations and opens the store as serve does,
// with the call journal (serve answers once a record is journaled) or
// without (once it committed, as before the journal).
func newBenchEnv(b *testing.B, n int, journal bool) *benchEnv {
	b.Helper()
	path := filepath.Join(b.TempDir(), "maskcall.db")
	pool := poolNumbers(100)
	if err := seed(context.Background(), path, n, pool); err != nil {
		b.Fatal(err)
	}
	db := sqlite.NewDB(path)
	db.FastCommits = true // as serve opens it
	db.CallJournal = journal
	if err := db.Open(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	handler := func(router *maskcall.Router) http.Handler {
		// Logged as serve logs (a text line per webhook), to nowhere.
		srv, err := webhook.New(router, webhook.Config{
			SignatureSecret: signatureSecret, APIKey: apiKey, ApplicationID: applicationID, PublicURL: "https://maskcall.example",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			b.Fatal(err)
		}
		return srv
	}
	srv := handler(&maskcall.Router{Routes: db, Calls: db})
	ix := routeindex.New(db, nil)
	if err := ix.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ix.Close)
	rng := rand.New(rand.NewPCG(1, 2))
	calls := makeCalls(rng, n, 50_000, pool)
	s := signer{now: time.Now()}
	e := &benchEnv{db: db, handler: srv, indexed: handler(&maskcall.Router{Routes: ix, Calls: db}),
		answers: answerRequests(s, calls, "https://region.example")}
	e.events = eventRequests(s, calls[:10_000])
	e.answers2 = answerRequests(s, makeCalls(rand.New(rand.NewPCG(3, 4)), n, 50_000, pool), "https://region.example")
	cbCalls := makeCalls(rand.New(rand.NewPCG(5, 6)), n, 50_000, pool)
	e.cbAnswers, e.cbEvents = answerRequests(s, cbCalls, "https://region.example"), eventRequests(s, cbCalls[:10_000])
	return e
}

func (r *request) httpRequest() *http.Request {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	req.Header["Authorization"] = []string{r.auth}
	if r.idem != "" {
		req.Header["Idempotency-Key"] = []string{r.idem}
	}
	return req
}

// serveOne runs the handler on r and checks the reply.
func serveOne(tb testing.TB, h http.Handler, r *request, want int, strict bool) {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r.httpRequest())
	if w.Code != want || (strict && r.expect != nil && !bytes.Contains(w.Body.Bytes(), r.expect)) {
		tb.Fatalf("%s %s: %d %s", r.method, truncate(r.path, 60), w.Code, truncate(w.Body.String(), 200))
	}
}

// BenchmarkHandler measures serve's answer handler (known callers: verify,
// look up, record the call, log, write the NCCO) and event handler on a
// store of 100,000 conversations, against the baseline handler. Each answer
// is a new call until the 50,000 generated run out.
//
// Answer is the handler as it was before the route index and the call
// journal (the store's lookup; the NCCO after the record's commit),
// AnswerIndex adds the index, AnswerServe (on a store with the journal)
// is serve as it runs now.
func BenchmarkHandler(b *testing.B) {
	e := newBenchEnv(b, 100_000, false)
	j := newBenchEnv(b, 100_000, true)
	base := baselineHandler()
	for _, bc := range []struct {
		name   string
		e      *benchEnv
		h      http.Handler
		reqs   []request
		want   int
		strict bool
		// callbacks: the deployment has a callback URL, so each call
		// writes its call.* events to the outbox too.
		callbacks bool
	}{
		{"Answer", e, e.handler, e.answers, http.StatusOK, true, false},
		{"AnswerIndex", e, e.indexed, e.answers2, http.StatusOK, true, false},
		{"AnswerServe", j, j.indexed, j.answers, http.StatusOK, true, false},
		{"Event", e, e.handler, e.events, http.StatusNoContent, true, false},
		{"Baseline", e, base, e.answers, http.StatusOK, false, false},
		{"AnswerCallbacks", j, j.indexed, j.cbAnswers, http.StatusOK, true, true},
		{"EventCallbacks", j, j.indexed, j.cbEvents, http.StatusNoContent, true, true},
	} {
		if err := bc.e.db.SetCallbackTarget(context.Background(), bc.callbacks, time.Now()); err != nil {
			b.Fatal(err)
		}
		var next atomic.Int64
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			defer drainQueuedCalls(b, bc.e.db)
			for b.Loop() {
				serveOne(b, bc.h, &bc.reqs[int(next.Add(1)-1)%len(bc.reqs)], bc.want, bc.strict)
			}
		})
		// 32 concurrent requests, as the load test sends.
		b.Run(bc.name+"Parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(16)
			defer reportCPU(b)()
			// Journaled records still queued are part of the answers' cost.
			defer drainQueuedCalls(b, bc.e.db)
			tx0, ops0 := bc.e.db.GroupCommitStats()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					serveOne(b, bc.h, &bc.reqs[int(next.Add(1)-1)%len(bc.reqs)], bc.want, bc.strict)
				}
			})
			if tx, ops := bc.e.db.GroupCommitStats(); tx > tx0 {
				b.ReportMetric(float64(ops-ops0)/float64(tx-tx0), "writes/commit")
			}
		})
	}
}

// drainQueuedCalls waits until the store has written every call record
// queued (with the call journal, answers do not wait for their records).
func drainQueuedCalls(b *testing.B, db *sqlite.DB) {
	for {
		if n, _ := db.QueuedCalls(); n == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// reportCPU reports the process's CPU time (user and system, every
// goroutine: the committer's too) per operation as cpu-ns/op, which other
// work on a shared machine disturbs less than the wall time of ns/op.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		if b.N > 0 {
			b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStore measures the store calls of the answer and event paths
// alone, at 100,000 conversations.
func BenchmarkStore(b *testing.B) {
	e := newBenchEnv(b, 100_000, true)
	ctx := context.Background()
	pool := poolNumbers(100)
	b.Run("FindRoute", func(b *testing.B) {
		defer reportCPU(b)()
		i := 0
		for b.Loop() {
			i = (i + 7919) % 100_000
			if _, err := e.db.FindRoute(ctx, sqliteseed.NumberA(i), sqliteseed.Proxy(pool, i), time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	var k atomic.Int64
	b.Run("CreateCall", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			i := int(k.Add(1))
			c := &maskcall.Call{UUID: "bench-" + uuid(rand.New(rand.NewPCG(uint64(i), 0))), ConversationID: sqliteseed.ConversationID(i % 100_000),
				From: sqliteseed.NumberA(i % 100_000), To: sqliteseed.Proxy(pool, i%100_000), Status: "started"}
			if err := e.db.CreateCall(ctx, c, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CreateCallParallel", func(b *testing.B) {
		b.SetParallelism(16)
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i := int(k.Add(1))
				c := &maskcall.Call{UUID: "bench-" + uuid(rand.New(rand.NewPCG(uint64(i), 0))), ConversationID: sqliteseed.ConversationID(i % 100_000),
					From: sqliteseed.NumberA(i % 100_000), To: sqliteseed.Proxy(pool, i%100_000), Status: "started"}
				if err := e.db.CreateCall(ctx, c, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}
