package webhook

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sqlite"
)

// BenchmarkInboundSMS measures inbound texts acknowledged per second: each
// one parsed, routed, recorded with its relay job and committed (SQLite as
// serve opens it: grouped commits) before its 200, from 16 concurrent
// clients over real HTTP on loopback. BENCHMARKS.md has the figures.
//
//	go test ./internal/webhook -run '^$' -bench InboundSMS -benchtime 20000x
func BenchmarkInboundSMS(b *testing.B) {
	db := sqlite.NewDB(filepath.Join(b.TempDir(), "maskcall.db"))
	db.FastCommits = true
	if err := db.Open(); err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	const pairs = 100
	var convs []*maskcall.Conversation
	for i := 0; i < 4; i++ {
		if err := db.CreateNumber(ctx, &maskcall.Number{Number: fmt.Sprintf("+44770090000%d", i), Country: "GB",
			Features: []string{"VOICE", "SMS"}, Status: maskcall.NumberActive, AppID: "app"}, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < pairs; i++ {
		c := &maskcall.Conversation{Participants: []maskcall.Participant{
			{Number: fmt.Sprintf("+4477009%05d", 10000+i), Country: "GB", Label: "a"},
			{Number: fmt.Sprintf("+4477009%05d", 50000+i), Country: "GB", Label: "b"},
		}}
		if err := db.CreateConversation(ctx, c, nil, time.Now()); err != nil {
			b.Fatal(err)
		}
		convs = append(convs, c)
	}
	h, err := NewInboundSMS(InboundSMSConfig{Store: db, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("serve", func(b *testing.B) {
		tx0, ops0 := db.GroupCommitStats()
		benchInbound(b, h, convs)
		// How many texts shared a commit: the group commit's effect.
		if tx, ops := db.GroupCommitStats(); tx > tx0 {
			b.ReportMetric(float64(ops-ops0)/float64(tx-tx0), "texts/commit")
		}
	})
	// The same requests to a handler that only answers 200: the ceiling
	// of HTTP on this machine at the time, for the ratio.
	b.Run("bare", func(b *testing.B) {
		benchInbound(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }), convs)
	})
}

func benchInbound(b *testing.B, h http.Handler, convs []*maskcall.Conversation) {
	const pairs = 100
	mux := http.NewServeMux()
	mux.Handle("GET "+InboundSMSPath, h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var seq atomic.Int64
	seq.Store(time.Now().UnixNano() % 1e12) // fresh message ids per run
	b.SetParallelism(16 / max(1, testingProcs()))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			c := convs[int(n)%pairs]
			p := c.Participants[n%2]
			q := url.Values{"msisdn": {p.Number[1:]}, "to": {p.ProxyNumber[1:]}, "messageId": {fmt.Sprintf("0B%015X", n)},
				"text": {"I'm outside"}, "type": {"text"}, "keyword": {"I'M"}, "api-key": {"abcd1234"},
				"message-timestamp": {"2030-01-02 03:04:05"}, "timestamp": {"1893553445"}}
			resp, err := client.Get(srv.URL + InboundSMSPath + "?" + q.Encode())
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("HTTP %d", resp.StatusCode)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
	b.ReportMetric(0, "ns/op")
}

func testingProcs() int { return max(1, int(testingGOMAXPROCS())) }
