package main

// End-to-end tests on PostgreSQL: the same binary, with MASKCALL_DB a
// postgres:// URL naming a database of the test's own on the server given
// by MASKCALL_TEST_POSTGRES (skipped, saying so, when it is unset).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/postgres/pgtest"
	"github.com/maskcall/maskcall/internal/sandbox"
)

// newPostgresEnv is newEnv with the state in a PostgreSQL database of the
// test's own.
func newPostgresEnv(t *testing.T) *testEnv {
	t.Helper()
	url := pgtest.Database(t)
	e := newEnv(t).with("MASKCALL_DB", url)
	e.DB = url
	return e
}

// The CLI and serve work unchanged on PostgreSQL: provision, pair, route
// calls both ways, record their events, end, refuse, purge.
func TestPostgresFlow(t *testing.T) {
	t.Parallel()
	e := newPostgresEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	pool := numbersOf(listNumbers(t, e, ""))
	if len(pool) != 2 {
		t.Fatalf("pool %q, want 2 numbers", pool)
	}

	c := createConversation(t, e, "+447700900123", "+447700900456", "--label-a", "driver", "--label-b", "rider", "--ref", "ride-1")
	if c.Status != "active" || c.Ref != "ride-1" || len(c.Participants) != 2 {
		t.Fatalf("conversation %+v", c)
	}
	a, b := c.Participants[0], c.Participants[1]
	for _, p := range c.Participants {
		if !slices.Contains(pool, p.ProxyNumber) {
			t.Errorf("participant %s got proxy %q, not a pool number (%q)", p.Number, p.ProxyNumber, pool)
		}
	}

	srv := startServe(t, e)
	r1 := srv.call(t, e, a.Number, a.ProxyNumber, http.MethodGet)
	assertConnected(t, r1, b.Number, b.ProxyNumber)
	r2 := srv.call(t, e, b.Number, b.ProxyNumber, http.MethodPost)
	assertConnected(t, r2, a.Number, a.ProxyNumber)
	assertNotInService(t, srv.call(t, e, "+447700900999", a.ProxyNumber, http.MethodGet))

	shown := runJSON[conversation](t, e, "conversation", "show", c.ID, "-o", "json")
	if len(shown.Calls) != 2 {
		t.Fatalf("conversation show lists %d calls, want 2: %+v", len(shown.Calls), shown.Calls)
	}
	for _, cl := range shown.Calls {
		if cl.UUID != r1.UUID && cl.UUID != r2.UUID {
			t.Errorf("unexpected call %+v", cl)
		}
		if cl.Status != "completed" || cl.Duration <= 0 {
			t.Errorf("call %+v: want status completed and duration > 0", cl)
		}
	}
	uses := 0
	for _, n := range listNumbers(t, e, "") {
		uses += n.ActiveConversations
	}
	if want := 2; a.ProxyNumber == b.ProxyNumber {
		if uses != 1 {
			t.Errorf("counters sum to %d, want 1 (one number serving both)", uses)
		}
	} else if uses != want {
		t.Errorf("counters sum to %d, want %d", uses, want)
	}

	runOK(t, e, "conversation", "end", c.ID)
	assertNotInService(t, srv.call(t, e, a.Number, a.ProxyNumber, http.MethodGet))
	if got := listConversations(t, e, "ended"); len(got) != 1 || got[0].ID != c.ID || got[0].EndReason != "ended" {
		t.Errorf("conversation list --status ended: %+v, want only %s", got, c.ID)
	}
	for _, n := range listNumbers(t, e, "") {
		if n.ActiveConversations != 0 {
			t.Errorf("%s still counts %d active conversations", n.Number, n.ActiveConversations)
		}
	}
	srv.stop()

	// Purge keeps what ended less than 720h ago.
	runOK(t, e, "conversation", "purge", "--ended-before", "720h", "--yes")
	if got := listConversations(t, e, "all"); len(got) != 1 {
		t.Errorf("after purge: %+v, want the conversation kept", got)
	}
}

// A URL whose server is not there is an error that names it without its
// password and says what to check; nothing is created.
func TestPostgresUnreachable(t *testing.T) {
	t.Parallel()
	pgtest.ServerURL(t)
	e := newEnv(t).with("MASKCALL_DB", "postgres://maskcall:s3cret@127.0.0.1:1/maskcall?connect_timeout=2")
	_, line := runFail(t, e, -1, "numbers", "list")
	if strings.Contains(line, "s3cret") {
		t.Errorf("the error shows the password: %s", line)
	}
	if !strings.Contains(line, "127.0.0.1:1") || !strings.Contains(line, "PostgreSQL") {
		t.Errorf("the error does not name the server or say what to check: %s", line)
	}
}

// callLoad keeps calling a conversation's participant through the replicas
// it is given, as a load balancer would, and records every outcome.
type callLoad struct {
	e        *testEnv
	from, to string // the caller and the proxy dialled
	wantTo   string // who the call must reach

	mu      sync.Mutex
	targets []*serveProc
	results []callOutcome
	stop    chan struct{}
	done    chan struct{}
}

// callOutcome is one simulated call: which replica answered and how.
type callOutcome struct {
	replica *serveProc
	res     sandbox.CallResult
	err     error
}

func startCallLoad(e *testEnv, from, to, wantTo string, targets ...*serveProc) *callLoad {
	l := &callLoad{e: e, from: from, to: to, wantTo: wantTo, targets: targets,
		stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for i := 0; ; i++ {
			select {
			case <-l.stop:
				return
			default:
			}
			l.mu.Lock()
			p := l.targets[i%len(l.targets)]
			l.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			res, err := e.SB.SimulateCall(ctx, sandbox.CallRequest{
				From: digits(from), To: digits(to),
				AnswerURL: p.URL + "/webhooks/answer", EventURL: p.URL + "/webhooks/event",
			})
			cancel()
			l.mu.Lock()
			l.results = append(l.results, callOutcome{replica: p, res: res, err: err})
			l.mu.Unlock()
		}
	}()
	return l
}

// setTargets changes the replicas the load goes to.
func (l *callLoad) setTargets(targets ...*serveProc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.targets = targets
}

// count returns how many calls have been made.
func (l *callLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.results)
}

// waitCalls waits until n more calls than now have been made.
func (l *callLoad) waitCalls(t *testing.T, n int) {
	t.Helper()
	want := l.count() + n
	deadline := time.Now().Add(60 * time.Second)
	for l.count() < want {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d calls made within 60s", l.count(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// finish stops the load and returns every outcome since mark (a count).
func (l *callLoad) finish() []callOutcome {
	close(l.stop)
	<-l.done
	return l.results
}

// checkConnected fails t unless every call in outs was answered and
// connected to the right participant: a legitimate caller never hears "not
// in service", whatever happens to PostgreSQL or the other replica.
func (l *callLoad) checkConnected(t *testing.T, what string, outs []callOutcome) {
	t.Helper()
	if len(outs) == 0 {
		t.Fatalf("%s: no calls made", what)
	}
	for _, o := range outs {
		if o.err != nil {
			t.Errorf("%s: call failed: %v", what, o.err)
			continue
		}
		if o.res.AnswerStatus != http.StatusOK || !o.res.Connected || o.res.ConnectTo != digits(l.wantTo) {
			t.Errorf("%s: call %s answered HTTP %d (%s), connected %v to %s; NCCO %s\nreplica log:\n%s", what, o.res.UUID,
				o.res.AnswerStatus, o.res.AnswerError, o.res.Connected, o.res.ConnectTo, o.res.NCCO, tail(o.replica.stderr.String(), 20))
			return
		}
	}
}

// Two serve replicas on one PostgreSQL with CLIs writing at the same time:
// concurrent creates never share an active key, calls keep being answered by
// the replica left when the other is killed, and both survive PostgreSQL
// dropping every connection (the shared server is not restarted: its
// sessions for this test's database are terminated, which is what a restart
// or a failover does to the replicas).
func TestPostgresReplicas(t *testing.T) {
	t.Parallel()
	e := newPostgresEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "3")
	x := createConversation(t, e, "+447700900901", "+447700900902", "--label-a", "driver", "--label-b", "rider")
	xa, xb := x.Participants[0], x.Participants[1]

	r1, r2 := startServe(t, e), startServe(t, e)
	load := startCallLoad(e, xa.Number, xa.ProxyNumber, xb.Number, r1, r2)
	defer func() {
		select {
		case <-load.done:
		default:
			load.finish()
		}
	}()
	load.waitCalls(t, 4)

	// 2 × 100 creates from two sides, 10 at a time each, while both replicas
	// answer calls. Ten callers each want 20 conversations with a pool of 3:
	// each gets exactly 3 (one per proxy), every other attempt is refused
	// as pool_exhausted, and no attempt fails any other way.
	type attempt struct {
		a, b   string
		out    string
		stderr string
		exit   int
	}
	attempts := make([]attempt, 200)
	for i := range attempts {
		attempts[i] = attempt{a: fmt.Sprintf("+4477009001%02d", i%10), b: fmt.Sprintf("+447700900%03d", 200+i)}
	}
	var wg sync.WaitGroup
	for side := range 2 {
		sem := make(chan struct{}, 10)
		for i := side * 100; i < (side+1)*100; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				at := &attempts[i]
				at.out, at.stderr, at.exit = runQuiet(e, "conversation", "create", at.a, at.b, "--no-sms", "--insight", "none", "-o", "json")
			}()
		}
	}
	wg.Wait()
	created := map[string]int{}
	for _, at := range attempts {
		switch {
		case at.exit == 0:
			created[at.a]++
		case strings.Contains(at.stderr, "No pool number"):
		default:
			t.Errorf("create %s %s: exit %d, not pool_exhausted:\n%s", at.a, at.b, at.exit, at.stderr)
		}
	}
	for i := range 10 {
		a := fmt.Sprintf("+4477009001%02d", i)
		if created[a] != 3 {
			t.Errorf("%s got %d conversations with a pool of 3, want exactly 3", a, created[a])
		}
	}
	active := listConversations(t, e, "active")
	keys := map[string]string{}
	for _, c := range active {
		for _, p := range c.Participants {
			k := p.Number + " " + p.ProxyNumber
			if other, dup := keys[k]; dup {
				t.Errorf("key %s is active in %s and %s", k, other, c.ID)
			}
			keys[k] = c.ID
		}
	}
	if len(active) != 31 {
		t.Errorf("%d active conversations, want 31", len(active))
	}
	load.waitCalls(t, 4)

	// SIGKILL one replica under load: the other keeps answering.
	mark := load.count()
	r1.kill()
	load.setTargets(r2)
	killedAt := load.count()
	load.waitCalls(t, 6)
	outs := load.results
	load.mu.Lock()
	before := append([]callOutcome(nil), outs[:mark]...)
	// A call already on its way to the killed replica may land after the
	// switch; the load balancer's retry is not what is tested here.
	var after []callOutcome
	for _, o := range outs[killedAt:] {
		if o.replica == r2 {
			after = append(after, o)
		}
	}
	load.mu.Unlock()
	load.checkConnected(t, "before the kill", before)
	load.checkConnected(t, "after the kill, on the other replica", after)

	// PostgreSQL drops every connection of this database, twice, under
	// load on the surviving replica and a new one: both survive without a
	// restart, and every call is still connected.
	r3 := startServe(t, e)
	load.setTargets(r2, r3)
	load.waitCalls(t, 2)
	outage := load.count()
	for range 2 {
		terminateSessions(t, e.DB)
		load.waitCalls(t, 4)
	}
	all := load.finish()
	load.checkConnected(t, "while PostgreSQL dropped connections", all[outage:])
	for _, p := range []*serveProc{r2, r3} {
		resp, err := http.Get(p.URL + "/healthz")
		if err != nil {
			t.Fatalf("replica %s died: %v\n%s", p.URL, err, p.stderr.String())
		}
		resp.Body.Close()
		// Its route index listened to route changes from the start, lost
		// the listening connection with the others, and listened again.
		const flow, lost = "announcements of route changes flow", "announcements of route changes lost"
		eventually(t, 10*time.Second, "replica "+p.URL+" listens to route changes again", func() bool {
			out := p.stderr.String()
			return strings.Count(out, flow) >= 2 && strings.Count(out, lost) >= 1 &&
				strings.LastIndex(out, flow) > strings.LastIndex(out, lost)
		})
	}
	// A conversation the CLI creates now is routed by both replicas: they
	// hear of it from PostgreSQL (BenchmarkRouteWatchBound measures how
	// soon; here only that they do).
	y := createConversation(t, e, "+447700900911", "+447700900912")
	ya, yb := y.Participants[0], y.Participants[1]
	for _, p := range []*serveProc{r2, r3} {
		eventually(t, 10*time.Second, "replica "+p.URL+" routes a conversation the CLI just created", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			res, err := e.SB.SimulateCall(ctx, sandbox.CallRequest{From: digits(ya.Number), To: digits(ya.ProxyNumber),
				AnswerURL: p.URL + "/webhooks/answer", EventURL: p.URL + "/webhooks/event"})
			return err == nil && res.Connected && res.ConnectTo == digits(yb.Number)
		})
	}

	// Nothing acknowledged is missing: every call a replica connected is
	// recorded (the answer is sent after the call record commits), and
	// every call whose events were all accepted ended up completed.
	shown := runJSON[conversation](t, e, "conversation", "show", x.ID, "-o", "json")
	recorded := map[string]string{}
	for _, cl := range shown.Calls {
		recorded[cl.UUID] = cl.Status
	}
	checked := 0
	for _, o := range all {
		if o.err != nil || !o.res.Connected {
			continue
		}
		status, ok := recorded[o.res.UUID]
		if !ok {
			t.Errorf("call %s was connected by %s but is not recorded", o.res.UUID, o.replica.URL)
			continue
		}
		accepted := true
		for _, ev := range o.res.Events {
			accepted = accepted && ev.HTTPStatus == http.StatusNoContent
		}
		if accepted && status != "completed" {
			t.Errorf("call %s: every event was accepted (204) but its status is %q", o.res.UUID, status)
		}
		checked++
	}
	t.Logf("%d calls checked, %d creates", checked, len(attempts))
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// runQuiet runs the binary like run, without failing the test (for
// goroutines).
func runQuiet(e *testEnv, args ...string) (stdout, stderr string, exit int) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = e.Dir
	cmd.Env = e.environ()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.Exited():
		exit = ee.ExitCode()
	default:
		exit = -1
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), exit
}

// terminateSessions ends every session connected to the database of dbURL
// but the caller's own, as a PostgreSQL restart or failover would.
func terminateSessions(t *testing.T, dbURL string) {
	t.Helper()
	pgtest.Exec(t, dbURL, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`)
}

// Moving house: an existing SQLite deployment moves to PostgreSQL with
// db copy, and serve on PostgreSQL routes its conversations' calls; a
// second copy into the now non-empty database is refused.
func TestPostgresDBCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	c := createConversation(t, e, "+447700900123", "+447700900456")
	ended := createConversation(t, e, "+447700900124", "+447700900457")
	runOK(t, e, "conversation", "end", ended.ID)
	srv := startServe(t, e)
	first := srv.call(t, e, c.Participants[0].Number, c.Participants[0].ProxyNumber, http.MethodGet)
	srv.stop()

	pg := pgtest.Database(t)
	out, stderr, code := run(t, e, "db", "copy", "--from", e.DB, "--to", pg, "-o", "json")
	if code != 0 {
		t.Fatalf("db copy: exit %d\n%s", code, stderr)
	}
	sum := decodeJSON[struct {
		From, To string
		Rows     int
		Tables   []struct {
			Name string
			Rows int
		}
	}](t, out)
	counts := map[string]int{}
	for _, tb := range sum.Tables {
		counts[tb.Name] = tb.Rows
	}
	if counts["numbers"] != 2 || counts["conversations"] != 2 || counts["participants"] != 4 || counts["interactions"] != 1 {
		t.Errorf("copy summary %+v", sum)
	}
	if !strings.Contains(stderr, "Copied conversations: 2 rows.") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}

	p := e.with("MASKCALL_DB", pg)
	if got := listConversations(t, p, "all"); len(got) != 2 {
		t.Fatalf("PostgreSQL has %d conversations after the copy, want 2", len(got))
	}
	shown := runJSON[conversation](t, p, "conversation", "show", c.ID, "-o", "json")
	if len(shown.Calls) != 1 || shown.Calls[0].UUID != first.UUID || shown.Calls[0].Status != "completed" {
		t.Errorf("copied calls %+v, want the one call, completed", shown.Calls)
	}
	psrv := startServe(t, p)
	assertConnected(t, psrv.call(t, p, c.Participants[1].Number, c.Participants[1].ProxyNumber, http.MethodPost),
		c.Participants[0].Number, c.Participants[0].ProxyNumber)
	assertNotInService(t, psrv.call(t, p, ended.Participants[0].Number, ended.Participants[0].ProxyNumber, http.MethodGet))
	psrv.stop()

	_, line := runFail(t, e, -1, "db", "copy", "--from", e.DB, "--to", pg)
	if !strings.Contains(line, "not empty") {
		t.Errorf("a copy into a non-empty database says %q", line)
	}
	if got := listConversations(t, p, "all"); len(got) != 2 {
		t.Errorf("the refused copy changed the target: %d conversations", len(got))
	}
}

// While PostgreSQL cannot be reached at all, serve answers a call with 503
// (Vonage retries, then tries the fallback answer URL) rather than "not in
// service", and once it is back the same process connects calls again.
func TestPostgresOutageAnswers503(t *testing.T) {
	t.Parallel()
	e := newPostgresEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "1")
	c := createConversation(t, e, "+447700900301", "+447700900302")
	a, b := c.Participants[0], c.Participants[1]
	srv := startServe(t, e)
	if !srv.stderrHas("Fallback answer URL") {
		t.Errorf("serve does not say to set a fallback answer URL:\n%s", srv.stderr.String())
	}
	assertConnected(t, srv.call(t, e, a.Number, a.ProxyNumber, http.MethodGet), b.Number, b.ProxyNumber)

	// The outage: this test's database refuses new sessions and its
	// sessions are ended (the shared server itself keeps running).
	u, err := url.Parse(e.DB)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	server := pgtest.ServerURL(t)
	pgtest.Exec(t, server, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`)
	allowed := false
	allow := func() {
		if !allowed {
			pgtest.Exec(t, server, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`)
			allowed = true
		}
	}
	defer allow()
	pgtest.EndSessions(t, server, name)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := e.SB.SimulateCall(ctx, sandbox.CallRequest{From: digits(a.Number), To: digits(a.ProxyNumber),
		AnswerURL: srv.URL + "/webhooks/answer", EventURL: srv.URL + "/webhooks/event"})
	if err != nil {
		t.Fatal(err)
	}
	if res.AnswerStatus != http.StatusServiceUnavailable || res.Connected || len(res.NCCO) != 0 {
		t.Fatalf("answer during the outage: HTTP %d, connected %v, NCCO %s; want an empty 503\n%s",
			res.AnswerStatus, res.Connected, res.NCCO, tail(srv.stderr.String(), 10))
	}

	allow()
	assertConnected(t, srv.call(t, e, b.Number, b.ProxyNumber, http.MethodPost), a.Number, a.ProxyNumber)
}
