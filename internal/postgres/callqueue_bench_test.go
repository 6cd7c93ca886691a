package postgres

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// BenchmarkQueueCall measures recording answered calls from 32 concurrent
// answers (as serve's handlers), each with its call.started event: queued
// and written in batches (QueueCall) against one statement and commit per
// call (CreateCall). It needs MASKCALL_TEST_POSTGRES.
//
//	go test ./internal/postgres -run '^$' -bench QueueCall -benchtime 2000x
func BenchmarkQueueCall(b *testing.B) {
	for _, queue := range []bool{true, false} {
		name := map[bool]string{true: "QueueCall", false: "CreateCall"}[queue]
		b.Run(name, func(b *testing.B) {
			db := MustOpenDB(b)
			ctx := context.Background()
			now := time.Now().UTC()
			db.Now = func() time.Time { return now }
			if err := db.SetCallbackTarget(ctx, true, now); err != nil {
				b.Fatal(err)
			}
			convs := mustBenchConversations(b, db, now)
			var seq atomic.Int64
			b.SetParallelism(max(1, 32/runtime.GOMAXPROCS(0)))
			b0, n0 := db.CallQueueStats()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					cv := convs[int(n)%len(convs)]
					p := cv.Participants[n%2]
					c := &maskcall.Call{UUID: fmt.Sprintf("leg-%d", n), ConversationUUID: fmt.Sprintf("CON-%d", n),
						ConversationID: cv.ID, From: p.Number, To: p.ProxyNumber, Status: "started", StartedAt: &now}
					var err error
					if queue {
						var written bool
						if written, err = db.QueueCall(ctx, c, now, 10*time.Second, nil); err == nil && !written {
							err = fmt.Errorf("%s not written in 10 s", c.UUID)
						}
					} else {
						err = db.CreateCall(ctx, c, now)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if bs, ns := db.CallQueueStats(); queue && bs > b0 {
				b.ReportMetric(float64(ns-n0)/float64(bs-b0), "calls/batch")
			}
		})
	}
}
