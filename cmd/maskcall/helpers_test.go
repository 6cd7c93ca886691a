package main

// Helpers of the end-to-end tests: TestMain builds the real maskcall binary
// once; each test gets its own in-process Vonage sandbox served over HTTP on
// loopback, its own SQLite file and a clean environment, and runs the binary
// as a subprocess against them.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/sandbox"
)

// Credentials of every test's sandbox.
const (
	testAPIKey          = "e2ekey01"
	testAPISecret       = "e2e-api-secret-4d1f9c"
	testSignatureSecret = "e2e-signature-secret-77ab31"
	testApplicationID   = "0b4f3f6e-2c1d-4a5b-9e8f-7a6b5c4d3e2f"
)

// binary is the maskcall executable TestMain built.
var binary string

// testKey is the application key pair shared by every test (RSA key
// generation is slow enough to do once).
var testKey *rsa.PrivateKey

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "maskcall-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "maskcall")
	build := exec.Command("go", "build", "-buildvcs=false", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: building maskcall:", err)
		return 1
	}
	if testKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: generating the application key:", err)
		return 1
	}
	return m.Run()
}

// testEnv is one isolated world: a sandbox, a database path, a working
// directory and the environment the binary runs with.
type testEnv struct {
	t       *testing.T
	SB      *sandbox.Sandbox
	URL     string // the sandbox's base URL
	Dir     string // working directory of the binary
	DB      string // MASKCALL_DB
	KeyPath string // VONAGE_PRIVATE_KEY_PATH
	Vars    map[string]string

	hooks *sandboxHooks
}

// sandboxHooks lets a test act on Vonage API requests before the sandbox
// sees them (inject a fault on the second buy, cut a connection, ...).
type sandboxHooks struct {
	sb *sandbox.Sandbox
	mu sync.Mutex
	// hook returns true when it has dealt with the request itself.
	hook func(w http.ResponseWriter, r *http.Request) bool
}

func (h *sandboxHooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	hook := h.hook
	h.mu.Unlock()
	if hook != nil && hook(w, r) {
		return
	}
	h.sb.ServeHTTP(w, r)
}

// newEnv starts a sandbox on 127.0.0.1:0 and prepares a clean environment
// pointing maskcall at it.
func newEnv(t *testing.T) *testEnv {
	t.Helper()
	sb := sandbox.New(sandbox.Config{
		APIKey: testAPIKey, APISecret: testAPISecret,
		SignatureSecret:      testSignatureSecret,
		ApplicationID:        testApplicationID,
		ApplicationPublicKey: &testKey.PublicKey,
	})
	hooks := &sandboxHooks{sb: sb}
	// The sandbox is served by a plain http.Server (rather than
	// sandbox.Server) so that hooks can sit in front of it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: hooks, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		sb.Wait()
	})

	root := t.TempDir()
	e := &testEnv{
		t: t, SB: sb, URL: "http://" + ln.Addr().String(),
		Dir:     filepath.Join(root, "work"),
		DB:      filepath.Join(root, "state", "maskcall.db"),
		KeyPath: filepath.Join(root, "keys", "private.key"),
		hooks:   hooks,
	}
	for _, d := range []string{e.Dir, filepath.Dir(e.KeyPath)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	der, err := x509.MarshalPKCS8PrivateKey(testKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.KeyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	e.Vars = map[string]string{
		"PATH":                    os.Getenv("PATH"),
		"HOME":                    filepath.Join(root, "home"),
		"MASKCALL_DB":             e.DB,
		"VONAGE_API_KEY":          testAPIKey,
		"VONAGE_API_SECRET":       testAPISecret,
		"VONAGE_APPLICATION_ID":   testApplicationID,
		"VONAGE_PRIVATE_KEY_PATH": e.KeyPath,
		"VONAGE_SIGNATURE_SECRET": testSignatureSecret,
		"VONAGE_REST_URL":         e.URL,
		"VONAGE_API_URL":          e.URL,

		"VONAGE_IDENTITY_INSIGHTS_URL": e.URL,
	}
	if err := os.MkdirAll(e.Vars["HOME"], 0o700); err != nil {
		t.Fatal(err)
	}
	return e
}

// setHook installs (or, with nil, removes) a hook in front of the sandbox.
func (e *testEnv) setHook(hook func(w http.ResponseWriter, r *http.Request) bool) {
	e.hooks.mu.Lock()
	defer e.hooks.mu.Unlock()
	e.hooks.hook = hook
}

// with returns a copy of e whose environment has k=v.
func (e *testEnv) with(k, v string) *testEnv {
	c := *e
	c.Vars = make(map[string]string, len(e.Vars)+1)
	for key, val := range e.Vars {
		c.Vars[key] = val
	}
	c.Vars[k] = v
	return &c
}

// without returns a copy of e whose environment lacks k.
func (e *testEnv) without(k string) *testEnv {
	c := e.with(k, "")
	delete(c.Vars, k)
	return c
}

func (e *testEnv) environ() []string {
	env := make([]string, 0, len(e.Vars))
	for k, v := range e.Vars {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env
}

// run runs the binary with args in e's working directory and environment
// and returns what it printed and its exit status.
func run(t *testing.T, e *testEnv, args ...string) (stdout, stderr string, exit int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
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
		t.Fatalf("maskcall %s: %v\nstderr:\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), errOut.String(), exit
}

// runOK runs the binary and fails the test unless it exits 0; it returns
// stdout.
func runOK(t *testing.T, e *testEnv, args ...string) string {
	t.Helper()
	out, errOut, code := run(t, e, args...)
	if code != 0 {
		t.Fatalf("maskcall %s: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// runFail runs the binary and fails the test unless it exits with want
// (any non-zero status if want is -1). It checks the error is reported as
// one "maskcall: ..." line at the end of stderr and returns that line.
func runFail(t *testing.T, e *testEnv, want int, args ...string) (stdout, errLine string) {
	t.Helper()
	out, errOut, code := run(t, e, args...)
	if code == 0 || (want != -1 && code != want) {
		t.Fatalf("maskcall %s: exit %d, want %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantExit(want), out, errOut)
	}
	return out, errorLine(t, errOut)
}

func wantExit(want int) string {
	if want == -1 {
		return "non-zero"
	}
	return fmt.Sprint(want)
}

// errorLine returns the "maskcall: ..." line of stderr, checking there is
// exactly one, that it is the last (or followed only by the usage
// reminder), and that nothing looks like a Go panic or stack trace.
func errorLine(t *testing.T, stderr string) string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	var found []int
	for i, l := range lines {
		if strings.HasPrefix(l, "maskcall: ") {
			found = append(found, i)
		}
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "goroutine ") || strings.HasPrefix(l, "\t") {
			t.Fatalf("stderr looks like a crash:\n%s", stderr)
		}
	}
	if len(found) != 1 {
		t.Fatalf("stderr has %d \"maskcall: \" error lines, want 1:\n%s", len(found), stderr)
	}
	i := found[0]
	t.Logf("error line: %s", lines[i])
	rest := lines[i+1:]
	if len(rest) > 1 || (len(rest) == 1 && rest[0] != "Run with --help for usage.") {
		t.Fatalf("the error line is not the last line of stderr:\n%s", stderr)
	}
	return lines[i]
}

// decodeJSON decodes s into a T, failing the test if it is not exactly one
// JSON value.
func decodeJSON[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("output is not the JSON expected (%v):\n%s", err, s)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("output has more than one JSON value:\n%s", s)
	}
	return v
}

// runJSON runs the binary, requires exit 0 and decodes stdout.
func runJSON[T any](t *testing.T, e *testEnv, args ...string) T {
	t.Helper()
	return decodeJSON[T](t, runOK(t, e, args...))
}

// poolNumber is a row of `numbers list -o json`.
type poolNumber struct {
	Number              string   `json:"number"`
	Country             string   `json:"country"`
	Type                string   `json:"type"`
	Features            []string `json:"features"`
	Cost                string   `json:"cost"`
	Status              string   `json:"status"`
	AppID               string   `json:"app_id"`
	ActiveConversations int      `json:"active_conversations"`
}

// listNumbers is `numbers list --status status -o json` ("" for the default).
func listNumbers(t *testing.T, e *testEnv, status string) []poolNumber {
	t.Helper()
	args := []string{"numbers", "list", "-o", "json"}
	if status != "" {
		args = append(args, "--status", status)
	}
	return runJSON[[]poolNumber](t, e, args...)
}

// assertPoolEmpty checks the pool holds nothing: the database is absent
// (nothing was ever recorded) or lists no number.
func assertPoolEmpty(t *testing.T, e *testEnv) {
	t.Helper()
	if _, err := os.Stat(e.DB); os.IsNotExist(err) {
		return
	}
	if pool := listNumbers(t, e, "all"); len(pool) != 0 {
		t.Errorf("pool is %+v, want empty", pool)
	}
}

// numbersOf returns the numbers of a pool listing.
func numbersOf(nums []poolNumber) []string {
	out := make([]string, 0, len(nums))
	for _, n := range nums {
		out = append(out, n.Number)
	}
	slices.Sort(out)
	return out
}

// ownedNumbers returns the sandbox account's numbers in E.164.
func ownedNumbers(sb *sandbox.Sandbox) []string {
	var out []string
	for _, n := range sb.OwnedNumbers() {
		out = append(out, "+"+n.MSISDN)
	}
	slices.Sort(out)
	return out
}

// conversation is `conversation create/show -o json`.
type conversation struct {
	ID           string     `json:"id"`
	Ref          string     `json:"ref"`
	Status       string     `json:"status"`
	CreatedAt    time.Time  `json:"created_at"`
	ExpiresAt    *time.Time `json:"expires_at"`
	EndedAt      *time.Time `json:"ended_at"`
	EndReason    string     `json:"end_reason"`
	Participants []struct {
		Number      string `json:"number"`
		ProxyNumber string `json:"proxy_number"`
		Label       string `json:"label"`
	} `json:"participants"`
	Calls []struct {
		UUID     string `json:"uuid"`
		From     string `json:"from"`
		To       string `json:"to"`
		Status   string `json:"status"`
		Duration int    `json:"duration"`
	} `json:"calls"`
}

// createConversation runs `conversation create a b --no-sms --insight none
// -o json` plus extra flags and returns the conversation.
func createConversation(t *testing.T, e *testEnv, a, b string, extra ...string) conversation {
	t.Helper()
	args := append([]string{"conversation", "create", a, b, "--no-sms", "--insight", "none", "-o", "json"}, extra...)
	return runJSON[conversation](t, e, args...)
}

func listConversations(t *testing.T, e *testEnv, status string) []conversation {
	t.Helper()
	return runJSON[[]conversation](t, e, "conversation", "list", "--status", status, "-o", "json")
}

// requestsTo returns the sandbox's recorded requests for "METHOD /path".
func requestsTo(sb *sandbox.Sandbox, methodPath string) []sandbox.RequestRecord {
	var out []sandbox.RequestRecord
	for _, r := range sb.Requests() {
		if r.Method+" "+r.Path == methodPath {
			out = append(out, r)
		}
	}
	return out
}

// digits is a number in Vonage's MSISDN form.
func digits(e164 string) string { return strings.TrimPrefix(e164, "+") }

// ---- serve ----

// serveProc is `maskcall serve` running in the background.
type serveProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	URL    string
	stderr *syncBuffer
	done   chan struct{}
	err    error // of Wait, once done is closed
	killed bool  // set by kill: stop then expects nothing
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var listeningRE = regexp.MustCompile(`maskcall serve is listening on (http://\S+)`)

// startServe starts `maskcall serve --listen 127.0.0.1:0` on e's database,
// reads the URL it reports and waits for /healthz. The process is stopped
// with SIGTERM at cleanup (if the test did not stop it) and must exit 0.
func startServe(t *testing.T, e *testEnv, extra ...string) *serveProc {
	t.Helper()
	args := append([]string{"serve", "--listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(binary, args...)
	cmd.Dir = e.Dir
	cmd.Env = e.environ()
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProc{t: t, cmd: cmd, stderr: &syncBuffer{}, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pipe)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(p.stderr, line)
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				select {
				case urlCh <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(p.stderr, pipe)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop() })

	select {
	case p.URL = <-urlCh:
	case <-p.done:
		t.Fatalf("maskcall serve exited before listening (%v):\n%s", p.err, p.stderr.String())
	case <-time.After(15 * time.Second):
		t.Fatalf("maskcall serve did not report its URL:\n%s", p.stderr.String())
	}
	// /healthz: the URL line is printed once the socket listens, but poll
	// anyway rather than trust it.
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(p.URL + "/healthz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"ok"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("maskcall serve at %s is not healthy (%v):\n%s", p.URL, err, p.stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p
}

// stderrHas reports whether serve's stderr says s within a few seconds:
// startServe returns once serve listens, and the lines it prints after
// that (the URLs to configure) may still be on their way.
func (p *serveProc) stderrHas(s string) bool {
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.stderr.String(), s) {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// stop sends SIGTERM and requires a graceful exit with status 0.
func (p *serveProc) stop() {
	p.t.Helper()
	if p.killed {
		return
	}
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			p.t.Errorf("maskcall serve did not stop within 10s of SIGTERM:\n%s", p.stderr.String())
			return
		}
	}
	if p.err != nil {
		p.t.Errorf("maskcall serve exited with %v after SIGTERM, want status 0:\n%s", p.err, p.stderr.String())
	}
}

// kill stops serve with SIGKILL, as a crash would (no shutdown, no
// deferred Close), and waits until it is reaped. Call it from the test's
// goroutine; stop then does nothing.
func (p *serveProc) kill() {
	p.t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("killing maskcall serve: %v (did it exit by itself?)\n%s", err, p.stderr.String())
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("maskcall serve was not reaped within 10s of SIGKILL")
	}
	p.killed = true
}

// call simulates an inbound call from a real number to a proxy number,
// with the sandbox sending the signed webhooks to serve.
func (p *serveProc) call(t *testing.T, e *testEnv, from, to, method string) sandbox.CallResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := e.SB.SimulateCall(ctx, sandbox.CallRequest{
		From: digits(from), To: digits(to),
		AnswerURL: p.URL + "/webhooks/answer", AnswerMethod: method,
		EventURL: p.URL + "/webhooks/event",
	})
	if err != nil {
		t.Fatalf("simulating a call from %s to %s: %v", from, to, err)
	}
	if res.AnswerStatus != http.StatusOK {
		t.Fatalf("call %s -> %s: answer webhook replied HTTP %d (%s), want 200\nserve stderr:\n%s",
			from, to, res.AnswerStatus, res.AnswerError, p.stderr.String())
	}
	return res
}

// nccoActions returns the action of each NCCO element.
func nccoActions(t *testing.T, ncco json.RawMessage) []string {
	t.Helper()
	var items []struct {
		Action string `json:"action"`
	}
	if err := json.Unmarshal(ncco, &items); err != nil {
		t.Fatalf("NCCO is not a JSON array: %v\n%s", err, ncco)
	}
	var out []string
	for _, it := range items {
		out = append(out, it.Action)
	}
	return out
}

// assertConnected checks a call was connected to want showing callerID.
func assertConnected(t *testing.T, res sandbox.CallResult, want, callerID string) {
	t.Helper()
	if !res.Connected {
		t.Fatalf("call %s -> %s was not connected; NCCO %s, actions %q", res.From, res.To, res.NCCO, res.Actions)
	}
	if res.ConnectTo != digits(want) {
		t.Errorf("call %s -> %s connected to %s, want %s", res.From, res.To, res.ConnectTo, digits(want))
	}
	if res.CallerID != digits(callerID) {
		t.Errorf("call %s -> %s showed caller ID %s, want the proxy %s", res.From, res.To, res.CallerID, digits(callerID))
	}
}

// assertNotInService checks a call got the NCCO that only talks.
func assertNotInService(t *testing.T, res sandbox.CallResult) {
	t.Helper()
	if res.Connected {
		t.Fatalf("call %s -> %s was connected to %s, want refused", res.From, res.To, res.ConnectTo)
	}
	if acts := nccoActions(t, res.NCCO); !slices.Equal(acts, []string{"talk"}) {
		t.Fatalf("call %s -> %s: NCCO actions %q, want only talk: %s", res.From, res.To, acts, res.NCCO)
	}
	if !strings.Contains(string(res.NCCO), "not in service") {
		t.Errorf("call %s -> %s: NCCO does not say the number is not in service: %s", res.From, res.To, res.NCCO)
	}
}

// eventually polls cond every 50ms until it is true or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// writeOtherKey writes a private key that is not the application's.
func writeOtherKey(t *testing.T, path string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// ---- other commands in the background ----

// cliProc is a maskcall command running in the background.
type cliProc struct {
	cmd    *exec.Cmd
	stdout *syncBuffer
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

// startCLI starts the binary with args in e's directory and environment;
// it is killed at cleanup if still running.
func startCLI(t *testing.T, e *testEnv, args ...string) *cliProc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = e.Dir
	cmd.Env = e.environ()
	p := &cliProc{cmd: cmd, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.stdout, p.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { p.err = cmd.Wait(); cancel(); close(p.done) }()
	t.Cleanup(func() { cancel(); <-p.done })
	return p
}

func (p *cliProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// wait returns the command's exit error once it has finished.
func (p *cliProc) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(80 * time.Second):
		t.Fatalf("maskcall %s did not finish:\n%s", strings.Join(p.cmd.Args[1:], " "), p.stderr.String())
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && !ee.Exited() {
		t.Fatalf("maskcall %s was killed: %v", strings.Join(p.cmd.Args[1:], " "), p.err)
	}
	return p.err
}

// runOK2 is runOK returning stderr too.
func runOK2(t *testing.T, e *testEnv, args ...string) (string, string) {
	t.Helper()
	out, errOut, code := run(t, e, args...)
	if code != 0 {
		t.Fatalf("maskcall %s: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
	}
	return out, errOut
}
