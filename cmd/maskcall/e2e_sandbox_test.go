package main

// End-to-end tests of `maskcall sandbox` as an operator uses it: the
// README's walkthrough, twice in the same directory, each terminal with
// only what the walkthrough tells it to load.

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/sandbox"
)

// sandboxProc is `maskcall sandbox` running in the background.
type sandboxProc struct {
	cmd    *exec.Cmd
	stderr *syncBuffer
	stdout *syncBuffer
	done   chan struct{}
	err    error
}

// startSandbox runs `maskcall sandbox --listen 127.0.0.1:0 extra...` in dir
// with a bare environment and waits until it says it is ready.
func startSandbox(t *testing.T, dir, home string, extra ...string) *sandboxProc {
	t.Helper()
	return startSandboxEnv(t, dir, home, nil, extra...)
}

// startSandboxEnv is startSandbox with env (KEY=value) added to the bare
// environment.
func startSandboxEnv(t *testing.T, dir, home string, env []string, extra ...string) *sandboxProc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"sandbox", "--listen", "127.0.0.1:0"}, extra...)...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}, env...)
	p := &sandboxProc{cmd: cmd, stderr: &syncBuffer{}, stdout: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.stdout
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			line := sc.Text()
			p.stderr.Write([]byte(line + "\n"))
			if strings.HasPrefix(line, "Simulate a call:") {
				close(ready)
			}
		}
		_, _ = io.Copy(p.stderr, pipe)
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("maskcall sandbox exited (%v):\n%s", p.err, p.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("maskcall sandbox did not get ready:\n%s", p.stderr.String())
	}
	return p
}

// stop interrupts the sandbox as Ctrl-C would and requires a clean exit.
func (p *sandboxProc) stop(t *testing.T) {
	t.Helper()
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		t.Errorf("maskcall sandbox did not stop on SIGINT:\n%s", p.stderr.String())
		return
	}
	if p.err != nil {
		t.Errorf("maskcall sandbox exited with %v on SIGINT, want 0:\n%s", p.err, p.stderr.String())
	}
}

// terminal is a new shell in dir that ran `. maskcall-sandbox/env`, as the
// README says each terminal does: only PATH, HOME and what the file sets.
func terminal(t *testing.T, dir, home string) *testEnv {
	t.Helper()
	sh := exec.Command("sh", "-c", ". maskcall-sandbox/env && exec env")
	sh.Dir = dir
	sh.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}
	out, err := sh.Output()
	if err != nil {
		t.Fatalf(". maskcall-sandbox/env: %v", err)
	}
	e := &testEnv{t: t, Dir: dir, Vars: map[string]string{}}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k != "PWD" && k != "SHLVL" && k != "_" && k != "OLDPWD" {
			e.Vars[k] = v
		}
	}
	for _, k := range []string{"VONAGE_REST_URL", "VONAGE_API_URL", "VONAGE_IDENTITY_INSIGHTS_URL", "VONAGE_API_KEY", "VONAGE_API_SECRET",
		"VONAGE_SIGNATURE_SECRET", "VONAGE_APPLICATION_ID", "VONAGE_PRIVATE_KEY_PATH", "MASKCALL_DB"} {
		if e.Vars[k] == "" {
			t.Fatalf("maskcall-sandbox/env does not set %s:\n%s", k, out)
		}
	}
	e.DB = e.Vars["MASKCALL_DB"]
	return e
}

// The walkthrough of README's "Against the sandbox, step by step", twice in
// the same directory: the sandbox restarts remembering its account, so the
// second provision works as written, and terminal 3's serve works with only
// the environment file.
func TestSandboxWalkthroughTwice(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	dir, home := filepath.Join(root, "walk"), filepath.Join(root, "home")
	for _, d := range []string{dir, home} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for run := 1; run <= 2; run++ {
		// Terminal 1.
		sb := startSandbox(t, dir, home)
		// Terminal 2.
		term2 := terminal(t, dir, home)
		runOK(t, term2, "numbers", "provision", "--country", "GB", "--count", "2")
		pool := numbersOf(listNumbers(t, term2, ""))
		if len(pool) != 2*run {
			t.Fatalf("run %d: the pool has %q, want %d numbers", run, pool, 2*run)
		}
		c := decodeJSON[conversation](t, runOK(t, term2, "conversation", "create", "+44 7700 900123", "+44 20 7946 0321",
			"--label-a", "driver", "--label-b", "rider", "--ttl", "2h", "-o", "json"))
		if c.Status != "active" {
			t.Fatalf("run %d: conversation %+v", run, c)
		}
		// Terminal 3: a fresh shell with the environment file only.
		term3 := terminal(t, dir, home)
		srv := startServe(t, term3)
		// Back in terminal 2: the driver dials 447700900000, as written.
		res := decodeJSON[sandbox.CallResult](t, runOK(t, term2, "sandbox", "call", "--from", "447700900123", "--to", "447700900000",
			"--answer-url", srv.URL+"/webhooks/answer", "-o", "json"))
		assertConnected(t, res, "+442079460321", "+447700900000")
		sbURL := term2.Vars["VONAGE_API_URL"]
		resp, err := http.Get(sbURL + "/_sandbox/requests")
		if err != nil {
			t.Fatal(err)
		}
		var reqs []sandbox.RequestRecord
		err = json.NewDecoder(resp.Body).Decode(&reqs)
		resp.Body.Close()
		if err != nil || len(reqs) == 0 {
			t.Fatalf("run %d: /_sandbox/requests: %v, %d requests", run, err, len(reqs))
		}
		srv.stop()
		sb.stop(t)
		if run == 1 && !strings.Contains(sb.stderr.String(), "0 owned") {
			t.Errorf("the first run does not say the account is new:\n%s", sb.stderr.String())
		}
		if run == 2 && !strings.Contains(sb.stderr.String(), "2 owned") {
			t.Errorf("the second run does not say it remembers 2 numbers:\n%s", sb.stderr.String())
		}
	}
	// The printed environment is the file's, the same on both runs but for
	// the port.
	raw, err := os.ReadFile(filepath.Join(dir, "maskcall-sandbox", "env"))
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "maskcall-sandbox", "env")); fi.Mode().Perm() != 0o600 {
		t.Errorf("env file mode %v, want 0600", fi.Mode().Perm())
	}
	if !strings.Contains(string(raw), "export VONAGE_PRIVATE_KEY_PATH="+filepath.Join(dir, "maskcall-sandbox", "private.key")) {
		t.Errorf("env file does not use the kept key:\n%s", raw)
	}
}

// --in-memory keeps nothing: a restart forgets the account, as before.
func TestSandboxInMemory(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	sb := startSandbox(t, root, root, "--in-memory")
	if _, err := os.Stat(filepath.Join(root, "maskcall-sandbox")); !os.IsNotExist(err) {
		t.Errorf("--in-memory made the state directory (%v)", err)
	}
	// stdout arrives through its own pipe, maybe after stderr's last line.
	eventually(t, 10*time.Second, "the printed environment", func() bool { return strings.Contains(sb.stdout.String(), "VONAGE_PRIVATE_KEY_PATH") })
	out := sb.stdout.String()
	if !strings.Contains(out, "export VONAGE_REST_URL=http://127.0.0.1:") || strings.Contains(out, "MASKCALL_DB") {
		t.Errorf("--in-memory printed:\n%s", out)
	}
}

// sandbox call to an answer URL where nothing listens fails and asks
// whether serve runs there; GET /_sandbox/ lists what the sandbox offers.
func TestSandboxCallNobodyListening(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	startSandbox(t, root, root)
	term := terminal(t, root, root)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/webhooks/answer"
	ln.Close()
	for _, extra := range [][]string{nil, {"-o", "json"}} {
		args := append([]string{"sandbox", "call", "--from", "447700900123", "--to", "447700900000", "--answer-url", closed}, extra...)
		_, line := runFail(t, term, 1, args...)
		for _, want := range []string{"Nothing answered", closed, "connection refused", "Is `maskcall serve` running there?"} {
			if !strings.Contains(line, want) {
				t.Errorf("%v: error line %q does not say %q", extra, line, want)
			}
		}
		if strings.Contains(line, "447700900123") {
			t.Errorf("error line shows the caller's number: %s", line)
		}
	}

	resp, err := http.Get(term.Vars["VONAGE_API_URL"] + "/_sandbox/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var idx sandbox.Index
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /_sandbox/: HTTP %d, %v", resp.StatusCode, err)
	}
	var paths []string
	for _, e := range idx.Sandbox {
		paths = append(paths, e.Method+" "+e.Path)
	}
	for _, want := range []string{"GET /_sandbox/requests", "POST /_sandbox/faults", "GET /_sandbox/sms"} {
		if !slices.Contains(paths, want) {
			t.Errorf("GET /_sandbox/ does not list %s: %q", want, paths)
		}
	}
}
