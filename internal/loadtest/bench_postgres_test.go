package main

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/postgres"
	"github.com/maskcall/maskcall/internal/postgres/pgseed"
	"github.com/maskcall/maskcall/internal/postgres/pgtest"
	"github.com/maskcall/maskcall/internal/procstat"
	"github.com/maskcall/maskcall/internal/routeindex"
	"github.com/maskcall/maskcall/internal/webhook"
)

// BenchmarkHandlerPostgres is BenchmarkHandler's AnswerParallel on the
// PostgreSQL store (20,000 conversations, serve's pool size), for profiling
// serve's side of an answer on PostgreSQL:
//
//	MASKCALL_TEST_POSTGRES=... go test -run '^$' -bench HandlerPostgres -cpuprofile cpu.out ./internal/loadtest/
//
// cpu-ns/op is this process's CPU; db-cpu-ns/op is that of the server's
// processes connected to the test database (from /proc: a server on this
// machine, and no other test using the database meanwhile).
func BenchmarkHandlerPostgres(b *testing.B) {
	const n = 20_000
	url := pgtest.Schema(b)
	pool := poolNumbers(100)
	db := postgres.NewDB(url)
	db.MaxConns = 16 // as serve opens it (internal/cli servePoolSize)
	if err := db.Open(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := pgseed.Conversations(context.Background(), url, n, pool, time.Now()); err != nil {
		b.Fatal(err)
	}
	handler := func(routes maskcall.RouteStore) http.Handler {
		srv, err := webhook.New(&maskcall.Router{Routes: routes, Calls: db}, webhook.Config{
			SignatureSecret: signatureSecret, APIKey: apiKey, ApplicationID: applicationID, PublicURL: "https://maskcall.example",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			b.Fatal(err)
		}
		return srv
	}
	ix := routeindex.New(db, nil)
	if err := ix.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(ix.Close)
	watched := routeindex.New(db, nil)
	watched.Watch()
	if err := watched.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(watched.Close)
	for start := time.Now(); !watched.Stats().Watching; time.Sleep(time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			b.Fatal("the route index hears no announcements")
		}
	}
	// Answer: the store's lookup (a round trip per call); AnswerIndex: the
	// route index reading the route version for every call (shared);
	// AnswerIndexWatched: the route index reading it only after an
	// announcement, as serve runs. All record calls through the store's
	// call queue (one statement per batch).
	for _, bc := range []struct {
		name string
		ix   *routeindex.Index
		h    http.Handler
		seed uint64
	}{{"AnswerParallel", ix, handler(db), 5}, {"AnswerIndexParallel", ix, handler(ix), 7},
		{"AnswerIndexWatchedParallel", watched, handler(watched), 9}} {
		reqs := answerRequests(signer{now: time.Now()}, makeCalls(rand.New(rand.NewPCG(bc.seed, 6)), n, 50_000, pool), "https://region.example")
		var next atomic.Int64
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(16)
			defer reportCPU(b)()
			db0 := backendsCPU(b, url)
			defer func() { b.ReportMetric((backendsCPU(b, url)-db0)*1e9/float64(b.N), "db-cpu-ns/op") }()
			checks0 := bc.ix.Stats().Checks
			batches0, calls0 := db.CallQueueStats()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					serveOne(b, bc.h, &reqs[int(next.Add(1)-1)%len(reqs)], http.StatusOK, true)
				}
			})
			if c := bc.ix.Stats().Checks - checks0; c > 0 && bc.name != "AnswerParallel" {
				b.ReportMetric(float64(b.N)/float64(c), "calls/check")
			}
			if batches, calls := db.CallQueueStats(); batches > batches0 {
				b.ReportMetric(float64(calls-calls0)/float64(batches-batches0), "records/statement")
			}
		})
	}
}

// backendsCPU returns the CPU seconds of the PostgreSQL server processes
// connected to url's database.
func backendsCPU(b *testing.B, url string) float64 {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	var s float64
	for _, p := range pids {
		s += procstat.CPU(int(p))
	}
	return s
}
