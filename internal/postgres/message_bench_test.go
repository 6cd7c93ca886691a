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

// BenchmarkRecordInboundSMS measures inbound texts recorded per second on
// PostgreSQL: each one deduplicated, routed, recorded with its relay job
// and committed, from 16 concurrent writers (as serve's handlers). It
// needs MASKCALL_TEST_POSTGRES; BENCHMARKS.md has the figures.
//
//	go test ./internal/postgres -run '^$' -bench RecordInboundSMS -benchtime 5000x
func BenchmarkRecordInboundSMS(b *testing.B) {
	db := MustOpenDB(b)
	ctx := context.Background()
	now := time.Now().UTC()
	db.Now = func() time.Time { return now }
	convs := mustBenchConversations(b, db, now)
	var seq atomic.Int64
	b.SetParallelism(16 / max(1, runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			p := convs[int(n)%len(convs)].Participants[n%2]
			in := &maskcall.InboundSMS{MessageID: fmt.Sprintf("0B%015X", n), From: p.Number, To: p.ProxyNumber, Text: "I'm outside"}
			res, err := db.RecordInboundSMS(ctx, in, maskcall.InboundPolicy{}, now)
			if err != nil {
				b.Error(err)
				return
			}
			if res.Duplicate || res.Message.Status != maskcall.MessageReceived {
				b.Errorf("recorded %+v, duplicate %v", res.Message, res.Duplicate)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(0, "ns/op")
}

// mustBenchConversations gives the benchmarks a pool of 4 numbers and 100
// conversations between GB numbers, created at now.
func mustBenchConversations(b *testing.B, db *DB, now time.Time) []*maskcall.Conversation {
	b.Helper()
	for i := 0; i < 4; i++ {
		MustCreateNumber(b, db, fmt.Sprintf("+44770090000%d", i), "GB")
	}
	var convs []*maskcall.Conversation
	for i := 0; i < 100; i++ {
		convs = append(convs, MustCreateConversation(b, db, now, 0,
			gb(fmt.Sprintf("+4477009%05d", 10000+i), "a"), gb(fmt.Sprintf("+4477009%05d", 50000+i), "b")))
	}
	return convs
}
