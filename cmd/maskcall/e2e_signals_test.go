package main

import (
	"bufio"
	"errors"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// What the README promises: serve and sandbox run until SIGINT or SIGTERM,
// then stop cleanly and exit 0.
func TestLongRunningCommandsExitZeroOnSignals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		args  []string
		ready string // a stderr line's start once it listens
	}{
		{"sandbox", []string{"sandbox", "--listen", "127.0.0.1:0"}, "Vonage sandbox listening on"},
		{"serve", []string{"serve", "--listen", "127.0.0.1:0"}, "maskcall serve is listening on"},
	} {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(tc.name+"/"+sig.String(), func(t *testing.T) {
				t.Parallel()
				e := newEnv(t)
				cmd := exec.Command(binary, tc.args...)
				cmd.Dir, cmd.Env = e.Dir, e.environ()
				pipe, err := cmd.StderrPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				ready := make(chan struct{})
				stderr := &syncBuffer{}
				go func() {
					sc := bufio.NewScanner(pipe)
					for sc.Scan() {
						stderr.Write([]byte(sc.Text() + "\n"))
						if strings.HasPrefix(sc.Text(), tc.ready) {
							close(ready)
						}
					}
				}()
				select {
				case <-ready:
				case <-time.After(20 * time.Second):
					_ = cmd.Process.Kill()
					t.Fatalf("%s did not start:\n%s", tc.name, stderr.String())
				}
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				select {
				case err := <-done:
					var ee *exec.ExitError
					if errors.As(err, &ee) {
						t.Fatalf("%s exited %d after %s, want 0:\n%s", tc.name, ee.ExitCode(), sig, stderr.String())
					} else if err != nil {
						t.Fatal(err)
					}
				case <-time.After(20 * time.Second):
					_ = cmd.Process.Kill()
					t.Fatalf("%s did not stop within 20s of %s:\n%s", tc.name, sig, stderr.String())
				}
			})
		}
	}
}
