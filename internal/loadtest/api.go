package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The API phase: POST /v1/conversations from APIClients concurrent
// clients (an API key made with `maskcall apikey create`), while the answer
// webhook takes signed calls on the same serve at the same time, as a
// platform's backend and Vonage would. Each create pairs two new numbers
// (so every create allocates), notifies no one and checks no number
// online: what is measured is serve, the API and the store's fsynced
// create, not Vonage.

// APIResult is the API phase at one N.
type APIResult struct {
	Clients int `json:"clients"`
	// Sent counts the creates sent, timed window or not.
	Sent    int64       `json:"sent"`
	Creates *loadResult `json:"creates"`
	// Answers is the answer webhook's load during the same window.
	Answers *loadResult `json:"answers"`
}

// apiKeyFor makes an API key in the database at dbPath with the CLI.
func apiKeyFor(ctx context.Context, env *environment, dir, dbPath string) (string, error) {
	out, err := env.command(ctx, dir, "apikey", "create", "--name", "loadtest", "--db", dbPath, "-o", "json").Output()
	if err != nil {
		return "", fmt.Errorf("apikey create: %w", err)
	}
	var k struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(out, &k); err != nil || k.Key == "" {
		return "", fmt.Errorf("apikey create printed %q", truncate(string(out), 200))
	}
	return k.Key, nil
}

// createRequests are count distinct creates, each between two numbers no
// conversation has yet (from base on).
func createRequests(key string, base, count int) []request {
	reqs := make([]request, count)
	for i := range reqs {
		body, _ := json.Marshal(map[string]any{
			"participants": []map[string]string{
				{"number": newParticipant(base + 2*i), "label": "driver"},
				{"number": newParticipant(base + 2*i + 1), "label": "rider"},
			},
			"ref": fmt.Sprintf("job-%d", base+i), "notify": false, "insight": "none",
		})
		// With an Idempotency-Key, as a backend that retries would send
		// it: its record is two more durable writes.
		reqs[i] = request{method: "POST", path: "/v1/conversations", auth: "Bearer " + key, body: body,
			idem: fmt.Sprintf("job-%d", base+i)}
	}
	return reqs
}

// runAPI runs the API phase against serve (pid) with answer requests
// answers for the concurrent webhook load.
func runAPI(ctx context.Context, cfg *Config, serveURLs []string, pids []int, key string, answers []request, n int) (*APIResult, error) {
	// Enough distinct creates for 5,000/s over the window: a repeat would
	// create a conversation between the same two numbers again.
	count := int(5000 * (cfg.Warmup + cfg.Duration).Seconds())
	reqs := createRequests(key, 2_000_000, count)
	created := func(_ *request, status int, body []byte) bool {
		return status == http.StatusCreated && bytes.Contains(body, []byte(`"proxy_number"`))
	}
	connects := func(r *request, status int, body []byte) bool {
		return status == http.StatusOK && bytes.Contains(body, r.expect)
	}
	gAPI := newGenerator(serveURLs, cfg.APIClients)
	defer gAPI.close()
	gAns := newGenerator(serveURLs, cfg.Concurrency)
	defer gAns.close()

	res := &APIResult{Clients: cfg.APIClients}
	var createCursor, answerCursor atomic.Int64
	restore := runtime.GOMAXPROCS(cfg.ClientProcs)
	defer runtime.GOMAXPROCS(restore)
	cfg.logf("N=%d: API creates (%d clients) with answer webhooks (%d connections) at the same time", n, cfg.APIClients, cfg.Concurrency)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		// The server's CPU is counted once, on the creates' side: the two
		// loads share the process.
		res.Creates = gAPI.run(ctx, reqs, &createCursor, cfg.Warmup, cfg.Duration, created, pids...)
	}()
	go func() {
		defer wg.Done()
		res.Answers = gAns.run(ctx, answers, &answerCursor, cfg.Warmup, cfg.Duration, connects)
	}()
	wg.Wait()
	res.Sent = createCursor.Load()
	if int(res.Sent) > len(reqs) {
		return res, fmt.Errorf("the API phase ran out of distinct creates (%d made): raise the count", len(reqs))
	}
	cfg.logf("N=%d: API creates %.0f/s p99 %v (%d errors), answers meanwhile %.0f/s p99 %v", n,
		res.Creates.Throughput, res.Creates.P99, res.Creates.Errors, res.Answers.Throughput, res.Answers.P99)
	return res, nil
}

// apiAnswers are signed answer webhooks for the API phase's concurrent
// load: reuse the answer phase's if it ran, else make some.
func apiAnswers(calls []call, rng *rand.Rand, n, count int, pool []string, serveURL string) []request {
	if len(calls) == 0 {
		calls = makeCalls(rng, n, count, pool)
	}
	return answerRequests(signer{now: time.Now()}, calls, serveURL)
}
