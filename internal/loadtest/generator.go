package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maskcall/maskcall/internal/procstat"
)

// request is one pre-built webhook request: everything but the host is
// ready before the timed phase, so the generator does the same small amount
// of work for every target.
type request struct {
	method string
	path   string // path and query
	auth   string // "Bearer <JWT>"
	body   []byte // POST body, nil for GET
	expect []byte // what serve's reply must contain, nil for anything
	idem   string // Idempotency-Key header, "" for none (the API phase)
}

// loadResult is what one target did under load.
type loadResult struct {
	Requests   int64         `json:"requests"`   // completed in the timed window
	Errors     int64         `json:"errors"`     // transport errors and unexpected replies
	Seconds    float64       `json:"seconds"`    // timed window
	Throughput float64       `json:"throughput"` // requests per second
	P50        time.Duration `json:"p50_ns"`
	P99        time.Duration `json:"p99_ns"`
	Max        time.Duration `json:"max_ns"`
	Mean       time.Duration `json:"mean_ns"`
	// CPUSeconds is the CPU time (user + system) the server process used
	// during the timed window; CPUPerRequest is that per request.
	CPUSeconds    float64       `json:"server_cpu_seconds"`
	CPUPerRequest time.Duration `json:"server_cpu_per_request_ns"`
	// ClientCPUSeconds is the load generator's (this process's) CPU time
	// over the window, the same for every target if the generator is fair.
	ClientCPUSeconds    float64       `json:"client_cpu_seconds"`
	ClientCPUPerRequest time.Duration `json:"client_cpu_per_request_ns"`
	// DBCPUSeconds is the CPU time of the database server's processes
	// serving the target (PostgreSQL backends of its database) over the
	// window; 0 for SQLite, which runs inside serve.
	DBCPUSeconds    float64       `json:"db_cpu_seconds,omitempty"`
	DBCPUPerRequest time.Duration `json:"db_cpu_per_request_ns,omitempty"`
	// MachineBusySeconds is the whole machine's busy CPU time over the
	// window (every process and the kernel), of MachineCPUSeconds in all
	// (the window times the CPUs): MachineBusy is their ratio, and
	// MachinePerRequest the busy time per request. Two targets run at the
	// same MachineBusy compare by MachinePerRequest.
	MachineBusySeconds float64       `json:"machine_busy_seconds,omitempty"`
	MachineCPUSeconds  float64       `json:"machine_cpu_seconds,omitempty"`
	MachineBusy        float64       `json:"machine_busy,omitempty"`
	MachinePerRequest  time.Duration `json:"machine_per_request_ns,omitempty"`
	FirstError         string        `json:"first_error,omitempty"`

	hist histogram
}

func (r *loadResult) add(o *loadResult) {
	r.Requests += o.Requests
	r.Errors += o.Errors
	r.Seconds += o.Seconds
	r.CPUSeconds += o.CPUSeconds
	r.ClientCPUSeconds += o.ClientCPUSeconds
	r.DBCPUSeconds += o.DBCPUSeconds
	r.MachineBusySeconds += o.MachineBusySeconds
	r.MachineCPUSeconds += o.MachineCPUSeconds
	r.hist.merge(&o.hist)
	if r.FirstError == "" {
		r.FirstError = o.FirstError
	}
	r.finish()
}

func (r *loadResult) finish() {
	if r.Seconds > 0 {
		r.Throughput = float64(r.Requests) / r.Seconds
	}
	if r.Requests > 0 {
		r.CPUPerRequest = time.Duration(r.CPUSeconds / float64(r.Requests) * 1e9)
		r.ClientCPUPerRequest = time.Duration(r.ClientCPUSeconds / float64(r.Requests) * 1e9)
		r.DBCPUPerRequest = time.Duration(r.DBCPUSeconds / float64(r.Requests) * 1e9)
		r.MachinePerRequest = time.Duration(r.MachineBusySeconds / float64(r.Requests) * 1e9)
	}
	if r.MachineCPUSeconds > 0 {
		r.MachineBusy = r.MachineBusySeconds / r.MachineCPUSeconds
	}
	r.P50, r.P99, r.Max, r.Mean = r.hist.quantile(0.50), r.hist.quantile(0.99), time.Duration(r.hist.max), r.hist.mean()
}

// generator loads one HTTP target with a fixed number of concurrent
// keep-alive connections, each sending its next request as soon as the
// previous reply is read (a closed loop). A target of several replicas
// (bases) gets the connections spread evenly over them: connection w
// talks to bases[w % len(bases)], as a load balancer would.
type generator struct {
	bases       []string // http://host:port of each replica
	concurrency int
	client      *http.Client
	// dbPIDs, if set, lists the database server's processes serving the
	// target (read when the timed window opens), whose CPU is measured too.
	dbPIDs func() []int
}

func newGenerator(bases []string, concurrency int) *generator {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        concurrency,
		MaxIdleConnsPerHost: concurrency,
		MaxConnsPerHost:     concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &generator{bases: bases, concurrency: concurrency,
		client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (g *generator) close() { g.client.CloseIdleConnections() }

// check judges a reply: true if it is what request r should get.
type check func(r *request, status int, body []byte) bool

// run sends requests from reqs, in order from *cursor (wrapping around),
// for warmup plus duration, and measures the replies completed in the timed
// window after the warm-up. pids are the server processes whose CPU time
// (summed) is measured over the window.
func (g *generator) run(ctx context.Context, reqs []request, cursor *atomic.Int64, warmup, duration time.Duration, ok check, pids ...int) *loadResult {
	start := time.Now()
	measureFrom, stopAt := start.Add(warmup), start.Add(warmup+duration)
	ctx, cancel := context.WithDeadline(ctx, stopAt.Add(2*time.Second))
	defer cancel()

	var cpu0, self0, db0, busy0, all0 float64
	var dbPIDs []int
	var cpuOnce sync.Once
	markStart := func() {
		cpuOnce.Do(func() {
			if g.dbPIDs != nil {
				dbPIDs = g.dbPIDs()
				db0 = processesCPU(dbPIDs)
			}
			self0 = selfCPU()
			cpu0 = processesCPU(pids)
			busy0, all0 = procstat.Machine()
		})
	}
	if warmup == 0 {
		markStart()
	}
	go func() {
		// Take the server's CPU reading when the window opens.
		t := time.NewTimer(time.Until(measureFrom))
		defer t.Stop()
		select {
		case <-t.C:
			markStart()
		case <-ctx.Done():
		}
	}()

	results := make([]loadResult, g.concurrency)
	var wg sync.WaitGroup
	for w := range g.concurrency {
		wg.Add(1)
		go func(res *loadResult, base string) {
			defer wg.Done()
			var buf bytes.Buffer
			for {
				sent := time.Now()
				if !sent.Before(stopAt) || ctx.Err() != nil {
					return
				}
				i := int(cursor.Add(1) - 1)
				r := &reqs[i%len(reqs)]
				if i >= len(reqs) && r.auth != "" {
					// A request sent before: Vonage never sends a token
					// twice (serve refuses replays), so it gets a new one.
					r = r.resigned()
				}
				status, err := g.do(ctx, base, r, &buf)
				done := time.Now()
				if sent.Before(measureFrom) || done.After(stopAt) {
					continue // warm-up, or past the window
				}
				if err != nil || !ok(r, status, buf.Bytes()) {
					res.Errors++
					if res.FirstError == "" {
						if err != nil {
							res.FirstError = err.Error()
						} else {
							res.FirstError = http.StatusText(status) + ": " + truncate(buf.String(), 200)
						}
					}
					continue
				}
				res.Requests++
				res.hist.record(done.Sub(sent))
			}
		}(&results[w], g.bases[w%len(g.bases)])
	}
	wg.Wait()
	cpu1 := processesCPU(pids)
	db1 := processesCPU(dbPIDs)
	self1 := selfCPU()
	busy1, all1 := procstat.Machine()
	total := &loadResult{}
	for i := range results {
		total.add(&results[i])
	}
	total.Seconds = duration.Seconds()
	total.CPUSeconds = max(cpu1-cpu0, 0)
	total.ClientCPUSeconds = max(self1-self0, 0)
	total.DBCPUSeconds = max(db1-db0, 0)
	if all0 > 0 {
		total.MachineBusySeconds, total.MachineCPUSeconds = max(busy1-busy0, 0), max(all1-all0, 0)
	}
	total.finish()
	return total
}

// sendAll sends every request of reqs once, concurrently, and returns how
// many got a reply that ok accepts.
func (g *generator) sendAll(ctx context.Context, reqs []request, ok check) (int, error) {
	var next atomic.Int64
	var good atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range g.concurrency {
		wg.Add(1)
		base := g.bases[w%len(g.bases)]
		go func() {
			defer wg.Done()
			var buf bytes.Buffer
			for {
				i := int(next.Add(1) - 1)
				if i >= len(reqs) || ctx.Err() != nil {
					return
				}
				status, err := g.do(ctx, base, &reqs[i], &buf)
				if err == nil && ok(&reqs[i], status, buf.Bytes()) {
					good.Add(1)
				} else if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return int(good.Load()), firstErr
}

// processesCPU is the CPU seconds the processes pids (0s skipped) used.
func processesCPU(pids []int) float64 {
	var sum float64
	for _, pid := range pids {
		if pid != 0 {
			sum += procstat.CPU(pid)
		}
	}
	return sum
}

// do sends r to base (one of g's replicas) and reads the whole reply into
// buf.
func (g *generator) do(ctx context.Context, base string, r *request, buf *bytes.Buffer) (int, error) {
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, base+r.path, body)
	if err != nil {
		return 0, err
	}
	req.Header["Authorization"] = []string{r.auth}
	if r.body != nil {
		req.Header["Content-Type"] = []string{"application/json"}
	}
	if r.idem != "" {
		req.Header["Idempotency-Key"] = []string{r.idem}
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, err
	}
	buf.Reset()
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
