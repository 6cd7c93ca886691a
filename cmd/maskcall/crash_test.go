package main

// The "Crash safety, tested": the real `serve` takes signed answer
// and event webhooks while CLI processes create and end conversations on
// the same SQLite file; serve is killed with SIGKILL mid-load, restarted on
// the same file, and the file is then checked: it is sound, and it holds
// every write that anyone was told had happened.

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/vonage/signature"
	_ "modernc.org/sqlite"
)

const (
	crashPoolSize    = 6
	crashCLIWorkers  = 3 // goroutines each running the CLI in a loop
	crashHookWorkers = 3 // goroutines each playing calls at serve
	// crashPhase is how long the load runs before the kill and again after
	// the restart; crashDown how long serve stays dead while the CLI keeps
	// writing. A phase lasts longer (up to crashMaxPhase) until the load
	// has made some progress, so a slow machine still tests something.
	crashPhase    = 1500 * time.Millisecond
	crashDown     = 500 * time.Millisecond
	crashMaxPhase = 10 * time.Second
	// crashDrain bounds the wait for the workers once told to stop.
	crashDrain = 45 * time.Second

	// storeTimeLayout is how the store writes times (migration/0001_init.sql:
	// UTC, RFC 3339, exactly nine fractional digits).
	storeTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"
	// vonageTimeLayout is how Vonage (and the sandbox) write event times.
	vonageTimeLayout = "2006-01-02T15:04:05.000Z07:00"
)

// lockedRE matches what a process says when SQLite refused it a lock:
// the driver's messages and the store's own (sqlite.formatError).
var lockedRE = regexp.MustCompile(`(?i)database is locked|database table is locked|SQLITE_BUSY|SQLITE_LOCKED|stayed locked`)

func TestCrashSafety(t *testing.T) {
	// Not parallel: on a small machine its processes should not compete
	// with the other tests' for the cores. It assumes no throughput.
	began := time.Now()
	e := newEnv(t)
	pool := runJSON[[]poolNumber](t, e, "numbers", "provision", "--country", "GB", "--count", strconv.Itoa(crashPoolSize), "-o", "json")
	if len(pool) != crashPoolSize {
		t.Fatalf("numbers provision printed %d numbers, want %d", len(pool), crashPoolSize)
	}
	srv := startServe(t, e)

	r := &crashRun{e: e, pool: numbersOf(pool), log: newCrashLog()}
	r.client = &http.Client{
		Timeout:   20 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 2 * crashHookWorkers, DisableCompression: true},
	}
	r.serveURL.Store(&srv.URL)

	var wg sync.WaitGroup
	stopWorkers := func() {
		r.stop.Store(true)
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(crashDrain):
			t.Errorf("the load did not stop within %s of being told to", crashDrain)
		}
	}
	defer stopWorkers() // also when the test fails half-way
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	for i := range crashCLIWorkers {
		rng := mrand.New(mrand.NewPCG(seed, uint64(i)))
		wg.Go(func() { r.cliWorker(rng) })
	}
	for i := range crashHookWorkers {
		rng := mrand.New(mrand.NewPCG(seed, uint64(100+i)))
		wg.Go(func() { r.hookWorker(rng) })
	}
	loadStart := time.Now()

	// Phase 1: everything runs. The kill comes at a slightly different
	// moment each run.
	waitProgress(crashPhase+time.Duration(mrand.N(500))*time.Millisecond, func() bool {
		created, acked := r.log.progress()
		return created >= 3 && acked >= 8
	})

	// SIGKILL serve mid-load. Requests in flight die with it; the senders
	// retry their events against whatever serve runs next.
	killAt := time.Since(loadStart)
	created, acked := r.log.progress()
	inflightHooks, inflightCLI := r.inflightHooks.Load(), r.inflightCLI.Load()
	srv.kill()
	r.serveURL.Store(nil)
	r.client.Transport.(*http.Transport).CloseIdleConnections()
	t.Logf("SIGKILL serve %s into the load: %d conversations created, %d events acknowledged so far; %d webhook requests and %d CLI processes in flight (serve: %v)",
		killAt.Round(time.Millisecond), created, acked, inflightHooks, inflightCLI, srv.err)
	checkServeLog(t, "serve (killed)", srv.stderr.String())

	// The file as the crash left it, while the CLI keeps writing: sound,
	// and holding every write acknowledged before the kill, once a
	// maskcall process has opened it (the first to open it writes the
	// call records the killed serve had journaled and not yet committed).
	downStart := time.Now()
	runOK(t, r.e, "conversation", "list", "-o", "json")
	mid := r.checkDB(t, r.log.snapshot(), false)
	t.Logf("after the kill, before the restart: %s", mid)
	time.Sleep(crashDown - time.Since(downStart))

	// Phase 2: serve restarts on the same file (on a new port).
	srv2 := startServe(t, e)
	r.serveURL.Store(&srv2.URL)
	createdAtRestart, ackedAtRestart := r.log.progress()
	restartAt := time.Since(loadStart)
	waitProgress(crashPhase, func() bool {
		_, acked := r.log.progress()
		return acked >= ackedAtRestart+8
	})
	stopWorkers()
	loadTime := time.Since(loadStart)
	// Connections the client opened but never used would hold up serve's
	// graceful shutdown for 5 s (net/http treats them as busy until then).
	r.client.Transport.(*http.Transport).CloseIdleConnections()
	stopStart := time.Now()
	srv2.stop() // graceful: exit status 0
	stopTime := time.Since(stopStart)
	checkServeLog(t, "serve (restarted)", srv2.stderr.String())

	// What the workers saw.
	final := r.log.snapshot()
	for _, p := range final.problems {
		t.Error(p)
	}
	if len(final.created) == 0 || len(final.acked) == 0 {
		t.Fatalf("the load did nothing to check: %d conversations created, %d events acknowledged", len(final.created), len(final.acked))
	}
	if final.ackedAfterRestart(ackedAtRestart) == 0 {
		t.Errorf("no event was acknowledged after the restart")
	}

	// The file after the restart and a clean stop.
	res := r.checkDB(t, final, true)

	// And as the CLI sees it.
	listed := map[string]bool{}
	for _, c := range runJSON[[]conversation](t, e, "conversation", "list", "--status", "all", "--limit", "0", "-o", "json") {
		listed[c.ID] = true
	}
	for _, id := range final.created {
		if !listed[id] {
			t.Errorf("conversation list --status all does not show %s, which create reported", id)
		}
	}
	r.checkShow(t, final)

	t.Logf("load %s (serve killed at %s, restarted at %s; %d conversations created meanwhile); %d CLI runs: %d conversations created, %d ended; %d calls routed, %d answers lost with the kill, %d stranger calls; %d events acknowledged (%d after the restart), %d event sends retried; %s; serve stopped in %s; total %s",
		loadTime.Round(time.Millisecond), killAt.Round(time.Millisecond), restartAt.Round(time.Millisecond), createdAtRestart-created,
		final.cliRuns, len(final.created), len(final.ended), len(final.calls), final.answersLost, len(final.strangers),
		len(final.acked), final.ackedAfterRestart(ackedAtRestart), final.retries, res, stopTime.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}

// waitProgress waits atLeast, then until ok() or crashMaxPhase.
func waitProgress(atLeast time.Duration, ok func() bool) {
	start := time.Now()
	time.Sleep(atLeast)
	for !ok() && time.Since(start) < crashMaxPhase {
		time.Sleep(20 * time.Millisecond)
	}
}

// checkServeLog fails the test if serve logged an error or a lock refusal.
func checkServeLog(t *testing.T, who, log string) {
	t.Helper()
	var bad []string
	for _, line := range strings.Split(log, "\n") {
		if lockedRE.MatchString(line) || strings.Contains(line, "level=ERROR") {
			bad = append(bad, line)
		}
	}
	if len(bad) > 0 {
		t.Errorf("%s logged %d errors, the first:\n%s", who, len(bad), strings.Join(bad[:min(len(bad), 5)], "\n"))
	}
}

// ---- the load ----

// crashRun is the shared state of the load's goroutines. They never touch
// the testing.T; what goes wrong is collected in log and reported by the
// test's goroutine.
type crashRun struct {
	e        *testEnv
	pool     []string // the proxy numbers, E.164
	client   *http.Client
	serveURL atomic.Pointer[string] // nil while serve is down
	stop     atomic.Bool
	next     atomic.Int32 // participant numbers handed out
	log      *crashLog

	inflightHooks, inflightCLI atomic.Int32
}

// crashConv is a conversation create reported (exit 0).
type crashConv struct {
	conversation
	ending atomic.Bool // set before `conversation end` is run for it
}

// crashEvent is an event sent to serve. key identifies its row in
// interaction_events.
type crashEvent struct {
	call      string // uuid of the call's inbound leg (its interaction)
	uuid      string // the leg's uuid
	status    string
	timestamp string // as sent
	duration  int
}

func (ev crashEvent) key() string {
	ts, err := time.Parse(time.RFC3339Nano, ev.timestamp)
	if err != nil {
		panic(err) // the test wrote it
	}
	return eventKey(ev.uuid, ev.status, ts.UTC().Format(storeTimeLayout))
}

func eventKey(uuid, status, storedTimestamp string) string {
	return uuid + " " + status + " " + storedTimestamp
}

type crashLog struct {
	mu        sync.Mutex
	convs     []*crashConv
	ended     []string
	calls     map[string]string // inbound uuid → conversation id, answered with a connect
	strangers []string          // uuids of calls from strangers, with an event acknowledged
	sent      map[string]bool   // key of every event sent, acknowledged or not
	acked     []crashEvent
	problems  []string
	cliRuns   int
	lost      int // answers that got no reply (serve killed)
	retries   int // event sends that got no reply and were retried
}

func newCrashLog() *crashLog {
	return &crashLog{calls: map[string]string{}, sent: map[string]bool{}}
}

func (l *crashLog) problem(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch n := len(l.problems); {
	case n < 50:
		l.problems = append(l.problems, fmt.Sprintf(format, args...))
	case n == 50:
		l.problems = append(l.problems, "... and more problems")
	}
}

func (l *crashLog) progress() (created, acked int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.convs), len(l.acked)
}

func (l *crashLog) randomConv(rng *mrand.Rand) *crashConv {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.convs) == 0 {
		return nil
	}
	return l.convs[rng.IntN(len(l.convs))]
}

// crashSnapshot is a copy of the log at one moment.
type crashSnapshot struct {
	created     []string
	ended       []string
	calls       map[string]string
	strangers   []string
	sent        map[string]bool
	acked       []crashEvent
	problems    []string
	cliRuns     int
	answersLost int
	retries     int
}

func (l *crashLog) snapshot() crashSnapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := crashSnapshot{
		ended: slices.Clone(l.ended), calls: make(map[string]string, len(l.calls)),
		strangers: slices.Clone(l.strangers), sent: make(map[string]bool, len(l.sent)),
		acked: slices.Clone(l.acked), problems: slices.Clone(l.problems),
		cliRuns: l.cliRuns, answersLost: l.lost, retries: l.retries,
	}
	for _, c := range l.convs {
		s.created = append(s.created, c.ID)
	}
	for k, v := range l.calls {
		s.calls[k] = v
	}
	for k := range l.sent {
		s.sent[k] = true
	}
	return s
}

func (s crashSnapshot) ackedAfterRestart(ackedAtRestart int) int {
	return len(s.acked) - ackedAtRestart
}

// cliResult is one run of the binary.
type cliResult struct {
	args           []string
	stdout, stderr string
	exit           int
	err            error // it could not be run, or was killed by the timeout
}

// cli runs the binary (as `run` does, but without the testing.T) and
// records anything wrong: a lock refusal, a failure.
func (r *crashRun) cli(args ...string) (cliResult, bool) {
	r.inflightCLI.Add(1)
	defer r.inflightCLI.Add(-1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = r.e.Dir
	cmd.Env = r.e.environ()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	res := cliResult{args: args, stdout: out.String(), stderr: errOut.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		res.exit = ee.ExitCode()
	default:
		res.exit, res.err = -1, err
	}
	r.log.mu.Lock()
	r.log.cliRuns++
	r.log.mu.Unlock()
	cmdline := "maskcall " + strings.Join(args, " ")
	if lockedRE.MatchString(res.stderr) {
		r.log.problem("%s: SQLite refused a lock (exit %d):\n%s", cmdline, res.exit, res.stderr)
		return res, false
	}
	if res.err != nil || res.exit != 0 {
		r.log.problem("%s: exit %d (%v)\nstdout:\n%s\nstderr:\n%s", cmdline, res.exit, res.err, res.stdout, res.stderr)
		return res, false
	}
	return res, true
}

// cliWorker creates conversations between numbers no other conversation
// uses (fictional GB landlines, away from the pool's 07700 900xxx), and now
// and then ends one of its earlier ones.
func (r *crashRun) cliWorker(rng *mrand.Rand) {
	var mine []*crashConv
	for !r.stop.Load() {
		i := int(r.next.Add(1)) - 1
		if i >= 1000 {
			return // out of fictional numbers; plenty for any machine
		}
		a, b := fmt.Sprintf("+442079460%03d", i), fmt.Sprintf("+441134960%03d", i)
		if res, ok := r.cli("conversation", "create", a, b, "--no-sms", "--insight", "none", "-o", "json"); ok {
			c := &crashConv{}
			if err := json.Unmarshal([]byte(res.stdout), &c.conversation); err != nil {
				r.log.problem("conversation create %s %s printed no conversation (%v):\n%s", a, b, err, res.stdout)
			} else if c.ID == "" || c.Status != "active" || len(c.Participants) != 2 ||
				c.Participants[0].Number != a || c.Participants[1].Number != b ||
				!slices.Contains(r.pool, c.Participants[0].ProxyNumber) || !slices.Contains(r.pool, c.Participants[1].ProxyNumber) {
				r.log.problem("conversation create %s %s printed %s", a, b, res.stdout)
			} else {
				r.log.mu.Lock()
				r.log.convs = append(r.log.convs, c)
				r.log.mu.Unlock()
				mine = append(mine, c)
			}
		}
		if len(mine) > 2 && rng.IntN(4) == 0 {
			// Not the newest: the webhooks have had no time to call it.
			k := rng.IntN(len(mine) - 1)
			c := mine[k]
			mine = slices.Delete(mine, k, k+1)
			c.ending.Store(true)
			if _, ok := r.cli("conversation", "end", c.ID); ok {
				r.log.mu.Lock()
				r.log.ended = append(r.log.ended, c.ID)
				r.log.mu.Unlock()
			}
		}
	}
}

// hookWorker plays calls at serve as Vonage would: the signed answer
// webhook, then the signed events of both legs.
func (r *crashRun) hookWorker(rng *mrand.Rand) {
	for !r.stop.Load() {
		base := r.serveURL.Load()
		if base == nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if rng.IntN(10) == 0 {
			r.strangerCall(*base, rng)
			continue
		}
		c := r.log.randomConv(rng)
		if c == nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		r.call(*base, c, rng)
	}
}

// call plays one call from a participant of c to their proxy number.
func (r *crashRun) call(base string, c *crashConv, rng *mrand.Rand) {
	caller, callee := c.Participants[0], c.Participants[1]
	if rng.IntN(2) == 1 {
		caller, callee = callee, caller
	}
	in, out, conUUID := newTestUUID(), newTestUUID(), "CON-"+newTestUUID()
	status, body, err := r.answer(base, digits(caller.Number), digits(caller.ProxyNumber), in, conUUID)
	if err != nil {
		r.log.mu.Lock()
		r.log.lost++ // serve was killed; Vonage would not connect the call either
		r.log.mu.Unlock()
		return
	}
	if status != http.StatusOK {
		r.log.problem("answer webhook for %s (conversation %s): HTTP %d %s", in, c.ID, status, body)
		return
	}
	var ncco []nccoAction
	if err := json.Unmarshal(body, &ncco); err != nil {
		r.log.problem("answer webhook for %s: reply is not an NCCO (%v): %s", in, err, body)
		return
	}
	i := slices.IndexFunc(ncco, func(a nccoAction) bool { return a.Action == "connect" })
	if i < 0 {
		// Only a conversation being ended may stop routing (ending is set
		// before `conversation end` runs, so this read is after it).
		if !c.ending.Load() {
			r.log.problem("a call from a participant of active conversation %s was not connected: %s", c.ID, body)
		}
		return
	}
	if cn := ncco[i]; cn.From != digits(callee.ProxyNumber) || len(cn.Endpoint) != 1 || cn.Endpoint[0].Number != digits(callee.Number) {
		r.log.problem("call %s of conversation %s: connect %s, want %s showing %s", in, c.ID, body, digits(callee.Number), digits(callee.ProxyNumber))
	}
	// The outbound leg's events go to the connect's eventUrl, as Vonage
	// sends them: its path and query on whichever serve is up.
	outPath := "/webhooks/event"
	if cn := ncco[i]; len(cn.EventURL) == 1 {
		u, err := url.Parse(cn.EventURL[0])
		if err != nil || u.Path != outPath {
			r.log.problem("call %s: connect eventUrl %v", in, cn.EventURL)
			return
		}
		outPath = u.RequestURI()
	}
	// serve answered with a connect, so the call is recorded.
	r.log.mu.Lock()
	r.log.calls[in] = c.ID
	r.log.mu.Unlock()

	// Vonage's events: the inbound leg, the outbound leg (its own uuid, the
	// same conversation_uuid), then both complete.
	legIn := map[string]string{"uuid": in, "direction": "inbound", "from": digits(caller.Number), "to": digits(caller.ProxyNumber)}
	legOut := map[string]string{"uuid": out, "direction": "outbound", "from": digits(callee.ProxyNumber), "to": digits(callee.Number)}
	paths := map[string]string{in: "/webhooks/event", out: outPath}
	var answeredAt time.Time
	dur := 1 + rng.IntN(600)
	for _, step := range []struct {
		leg    map[string]string
		status string
	}{
		{legIn, "started"}, {legIn, "ringing"}, {legIn, "answered"},
		{legOut, "started"}, {legOut, "ringing"}, {legOut, "answered"},
		{legOut, "completed"}, {legIn, "completed"},
	} {
		if r.stop.Load() {
			return
		}
		now := time.Now().UTC()
		ev := crashEvent{call: in, uuid: step.leg["uuid"], status: step.status, timestamp: now.Format(vonageTimeLayout)}
		fields := map[string]string{"status": step.status, "conversation_uuid": conUUID, "timestamp": ev.timestamp}
		for k, v := range step.leg {
			fields[k] = v
		}
		switch step.status {
		case "answered":
			if answeredAt.IsZero() {
				answeredAt = now
			}
		case "completed":
			ev.duration = dur
			fields["duration"] = strconv.Itoa(dur)
			fields["start_time"] = answeredAt.Format(vonageTimeLayout)
			fields["end_time"] = now.Format(vonageTimeLayout)
			fields["rate"], fields["price"], fields["network"] = "0.01000000", "0.00166667", "23410"
		}
		payload, err := json.Marshal(fields)
		if err != nil {
			panic(err)
		}
		if !r.sendEvent(ev, paths[ev.uuid], payload) {
			return
		}
	}
}

// nccoAction is what the test reads of an NCCO's actions.
type nccoAction struct {
	Action   string   `json:"action"`
	From     string   `json:"from"`
	EventURL []string `json:"eventUrl"`
	Endpoint []struct {
		Number string `json:"number"`
	} `json:"endpoint"`
}

// strangerCall dials a proxy number from a number in no conversation: the
// answer must not connect, the event is acknowledged but not stored.
func (r *crashRun) strangerCall(base string, rng *mrand.Rand) {
	from, to := fmt.Sprintf("441184960%03d", rng.IntN(1000)), digits(r.pool[rng.IntN(len(r.pool))])
	uuid := newTestUUID()
	status, body, err := r.answer(base, from, to, uuid, "CON-"+uuid)
	if err != nil {
		return
	}
	if status != http.StatusOK || bytes.Contains(body, []byte(`"connect"`)) {
		r.log.problem("a stranger's call %s got HTTP %d %s, want the not-in-service NCCO", uuid, status, body)
		return
	}
	payload, _ := json.Marshal(map[string]string{"status": "started", "uuid": uuid, "conversation_uuid": "CON-" + uuid,
		"direction": "inbound", "from": from, "to": to, "timestamp": time.Now().UTC().Format(vonageTimeLayout)})
	status, err = r.post(base+"/webhooks/event", payload)
	if err != nil {
		return
	}
	if status != http.StatusNoContent {
		r.log.problem("an event of a stranger's call %s got HTTP %d, want 204", uuid, status)
		return
	}
	r.log.mu.Lock()
	r.log.strangers = append(r.log.strangers, uuid)
	r.log.mu.Unlock()
}

// sendEvent delivers an event to path, retrying (with the same payload, as Vonage
// does) while serve is unreachable, until it is acknowledged or the load
// stops. It reports whether the event was acknowledged.
func (r *crashRun) sendEvent(ev crashEvent, path string, payload []byte) bool {
	r.log.mu.Lock()
	r.log.sent[ev.key()] = true
	r.log.mu.Unlock()
	for {
		if r.stop.Load() {
			return false
		}
		base := r.serveURL.Load()
		if base == nil {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		status, err := r.post(*base+path, payload)
		if err != nil {
			r.log.mu.Lock()
			r.log.retries++
			r.log.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if status/100 != 2 {
			r.log.problem("event %s %s of call %s: HTTP %d, want 2xx", ev.uuid, ev.status, ev.call, status)
			return false
		}
		r.log.mu.Lock()
		r.log.acked = append(r.log.acked, ev)
		r.log.mu.Unlock()
		return true
	}
}

// answer sends a signed answer webhook by GET, with Vonage's parameters in
// Vonage's order.
func (r *crashRun) answer(base, from, to, uuid, conUUID string) (int, []byte, error) {
	params := [][2]string{{"to", to}, {"from", from}, {"uuid", uuid}, {"conversation_uuid", conUUID}}
	parts := make([]string, len(params))
	for i, p := range params {
		parts[i] = url.QueryEscape(p[0]) + "=" + url.QueryEscape(p[1])
	}
	req, err := http.NewRequest(http.MethodGet, base+"/webhooks/answer?"+strings.Join(parts, "&"), nil)
	if err != nil {
		return 0, nil, err
	}
	payload, err := signature.QueryPayload(req.URL.RawQuery)
	if err != nil {
		return 0, nil, err
	}
	return r.do(req, payload)
}

// post sends a signed event webhook.
func (r *crashRun) post(u string, payload []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	status, _, err := r.do(req, payload)
	return status, err
}

func (r *crashRun) do(req *http.Request, payload []byte) (int, []byte, error) {
	token, err := signature.Sign(testSignatureSecret, signature.Claims{APIKey: testAPIKey, ApplicationID: testApplicationID}, payload, time.Now())
	if err != nil {
		panic(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	r.inflightHooks.Add(1)
	defer r.inflightHooks.Add(-1)
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, nil, err // the reply was cut: as good as none
	}
	return resp.StatusCode, body, nil
}

// newTestUUID returns a random version 4 UUID.
func newTestUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// ---- the checks ----

// checkDB opens the file read-only and checks it against s: it is sound
// (integrity_check, foreign_key_check, the counters the schema documents),
// and it holds every conversation create reported, every end reported, every
// call serve connected and every event serve acknowledged. With final (no
// one writes any more) it also checks every stored event is one that was
// sent. It returns a summary.
func (r *crashRun) checkDB(t *testing.T, s crashSnapshot, final bool) string {
	t.Helper()
	when := "after the kill"
	if final {
		when = "at the end"
	}
	db, err := sql.Open("sqlite", "file:"+r.e.DB+"?mode=ro&_pragma=busy_timeout(10000)&_pragma=query_only(1)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := t.Context()

	var problems []string
	if rows := queryStrings(t, db, `PRAGMA integrity_check`); !slices.Equal(rows, []string{"ok"}) {
		problems = append(problems, fmt.Sprintf("PRAGMA integrity_check: %q", rows))
	}
	fkRows, err := db.QueryContext(ctx, `PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatalf("%s: PRAGMA foreign_key_check: %v", when, err)
	}
	for fkRows.Next() {
		var table, parent string
		var rowid sql.NullInt64
		var fkid int
		if err := fkRows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			t.Fatal(err)
		}
		problems = append(problems, fmt.Sprintf("PRAGMA foreign_key_check: %s row %v refers to a missing %s", table, rowid.Int64, parent))
	}
	if err := fkRows.Close(); err != nil {
		t.Fatal(err)
	}

	// The rest from one snapshot, while others may be writing.
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatalf("%s: %v", when, err)
	}
	defer tx.Rollback()

	status := map[string]string{}
	for _, row := range queryRows(t, tx, `SELECT id, status FROM conversations`, 2) {
		status[row[0]] = row[1]
	}
	for _, id := range s.created {
		if _, ok := status[id]; !ok {
			problems = append(problems, fmt.Sprintf("conversation %s, which create reported, is not in the database", id))
		}
	}
	for _, id := range s.ended {
		if status[id] != "ended" {
			problems = append(problems, fmt.Sprintf("conversation %s, which end reported ended, is %q in the database", id, status[id]))
		}
	}

	type call struct{ conv, status, duration string }
	calls := map[string]call{}
	for _, row := range queryRows(t, tx, `SELECT uuid, conversation_id, status, duration FROM interactions`, 4) {
		calls[row[0]] = call{row[1], row[2], row[3]}
	}
	for uuid, conv := range s.calls {
		if c, ok := calls[uuid]; !ok {
			problems = append(problems, fmt.Sprintf("call %s, which serve connected, is not in the database", uuid))
		} else if c.conv != conv {
			problems = append(problems, fmt.Sprintf("call %s is recorded for conversation %s, want %s", uuid, c.conv, conv))
		}
	}

	// Events, keyed by (leg uuid, status, stored timestamp), with the call
	// (inbound leg uuid) they were filed under.
	stored := map[string]string{}
	for _, row := range queryRows(t, tx, `SELECT e.uuid, e.status, e.timestamp, i.uuid
		FROM interaction_events AS e JOIN interactions AS i ON i.id = e.interaction_id`, 4) {
		stored[eventKey(row[0], row[1], row[2])] = row[3]
	}
	longest := map[string]int{} // call → longest acknowledged completed duration
	for _, ev := range s.acked {
		call, ok := stored[ev.key()]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("event %s %s at %s of call %s was acknowledged but is not in the database", ev.uuid, ev.status, ev.timestamp, ev.call))
		case call != ev.call:
			problems = append(problems, fmt.Sprintf("event %s %s is filed under call %s, want %s", ev.uuid, ev.status, call, ev.call))
		}
		if ev.status == "completed" {
			longest[ev.call] = max(longest[ev.call], ev.duration)
		}
	}
	for uuid, d := range longest {
		c := calls[uuid]
		if got, _ := strconv.Atoi(c.duration); c.status != "completed" || got < d {
			problems = append(problems, fmt.Sprintf("call %s is %s with duration %s; a completed event of %ds was acknowledged", uuid, c.status, c.duration, d))
		}
	}
	for _, uuid := range s.strangers {
		if _, ok := calls[uuid]; ok {
			problems = append(problems, fmt.Sprintf("the stranger's call %s was recorded", uuid))
		}
	}
	if n := queryInt(t, tx, `SELECT COUNT(*) FROM interaction_events WHERE uuid IN (SELECT value FROM json_each(?))`, mustJSON(s.strangers)); n != 0 {
		problems = append(problems, fmt.Sprintf("%d events of strangers' calls were stored", n))
	}
	if final {
		for k := range stored {
			if !s.sent[k] {
				problems = append(problems, fmt.Sprintf("stored event %q was never sent", k))
			}
		}
	}

	// The schema's invariants: a pool number's active_conversations counts
	// the active conversations using it as a proxy, once each; a
	// participant's key is active exactly while its conversation is.
	for _, row := range queryRows(t, tx, `SELECT n.number, n.active_conversations,
			(SELECT COUNT(DISTINCT c.id) FROM participants AS p JOIN conversations AS c ON c.id = p.conversation_id
			 WHERE p.proxy_number = n.number AND c.status = 'active')
		FROM numbers AS n`, 3) {
		if row[1] != row[2] {
			problems = append(problems, fmt.Sprintf("number %s: active_conversations = %s, but %s active conversations use it", row[0], row[1], row[2]))
		}
	}
	if n := queryInt(t, tx, `SELECT COUNT(*) FROM participants AS p JOIN conversations AS c ON c.id = p.conversation_id
		WHERE p.active <> (c.status = 'active')`); n != 0 {
		problems = append(problems, fmt.Sprintf("%d participants' keys disagree with their conversation's status", n))
	}

	if len(problems) > 20 {
		problems = append(problems[:20], fmt.Sprintf("... and %d more", len(problems)-20))
	}
	for _, p := range problems {
		t.Errorf("%s: %s", when, p)
	}
	return fmt.Sprintf("integrity ok=%t, %d conversations (%d created checked, %d ended checked), %d calls (%d checked), %d events stored (%d acknowledged checked)",
		len(problems) == 0, len(status), len(s.created), len(s.ended), len(calls), len(s.calls), len(stored), len(s.acked))
}

// checkShow looks at a few routed calls through `conversation show`.
func (r *crashRun) checkShow(t *testing.T, s crashSnapshot) {
	t.Helper()
	completed := map[string]bool{}
	for _, ev := range s.acked {
		if ev.status == "completed" && ev.uuid == ev.call {
			completed[ev.call] = true
		}
	}
	shown := 0
	for call := range completed {
		if shown == 3 {
			break
		}
		shown++
		c := runJSON[conversation](t, r.e, "conversation", "show", s.calls[call], "-o", "json")
		i := -1
		for j, cl := range c.Calls {
			if cl.UUID == call {
				i = j
			}
		}
		if i < 0 || c.Calls[i].Status != "completed" || c.Calls[i].Duration <= 0 {
			t.Errorf("conversation show %s: calls %+v; want call %s completed with a duration", c.ID, c.Calls, call)
		}
	}
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryRows runs q and returns its rows as strings (n columns).
func queryRows(t *testing.T, db querier, q string, n int, args ...any) [][]string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out [][]string
	for rows.Next() {
		row := make([]string, n)
		ptrs := make([]any, n)
		for i := range row {
			ptrs[i] = &row[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func queryStrings(t *testing.T, db querier, q string, args ...any) []string {
	t.Helper()
	var out []string
	for _, row := range queryRows(t, db, q, 1, args...) {
		out = append(out, row[0])
	}
	return out
}

func queryInt(t *testing.T, db querier, q string, args ...any) int {
	t.Helper()
	rows := queryStrings(t, db, q, args...)
	if len(rows) != 1 {
		t.Fatalf("%s: %d rows", q, len(rows))
	}
	n, err := strconv.Atoi(rows[0])
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}
