package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/api"
	"github.com/maskcall/maskcall/internal/maskcall"
)

// BenchmarkAPICreate measures POST /v1/conversations in process on a store
// of 100,000 conversations (opened as serve opens it), one create at a
// time and 16 at a time. Profile it with
//
//	go test -run '^$' -bench APICreate -cpuprofile cpu.out ./internal/loadtest/
func BenchmarkAPICreate(b *testing.B) {
	e := newBenchEnv(b, 100_000, true)
	ctx := context.Background()
	secret, key, err := maskcall.NewAPIKey("bench", false, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if err := e.db.CreateAPIKey(ctx, key); err != nil {
		b.Fatal(err)
	}
	h, err := api.New(api.Config{Service: &maskcall.ConversationService{Store: e.db}, Store: e.db, RateLimit: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	reqs := createRequests(secret, 3_000_000, 200_000)
	var next atomic.Int64
	b.Run("Serial", func(b *testing.B) {
		defer reportCPU(b)()
		for b.Loop() {
			serveOne(b, h, &reqs[int(next.Add(1)-1)], http.StatusCreated, false)
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		b.SetParallelism(8) // 16 on two cores
		defer reportCPU(b)()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serveOne(b, h, &reqs[int(next.Add(1)-1)], http.StatusCreated, false)
			}
		})
	})
}
