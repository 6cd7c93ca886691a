package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// moduleRoot returns the directory of the maskcall module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the maskcall module: run from the repository")
	}
	return filepath.Dir(mod), nil
}

// buildMaskcall builds the real binary, as users do, into dir.
func buildMaskcall(dir string) (string, error) {
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "maskcall")
	cmd := exec.Command("go", "build", "-buildvcs=false", "-o", bin, "./cmd/maskcall")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/maskcall: %v\n%s", err, out)
	}
	return bin, nil
}

// freeAddr returns a loopback address with a port nobody listens on.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// process is a server started as a subprocess.
type process struct {
	name string
	cmd  *exec.Cmd
	addr string
	log  *os.File
	done chan error
}

// startProcess starts cmd, which must serve /healthz on addr, and waits
// until it answers. Its output goes to logPath.
func startProcess(name string, cmd *exec.Cmd, addr, logPath string) (*process, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, addr: addr, log: f, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait() }()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case err := <-p.done:
			p.done <- err
			return nil, fmt.Errorf("%s exited before it listened (%v); see %s", name, err, logPath)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("%s did not answer /healthz on %s within 30s; see %s", name, addr, logPath)
		}
	}
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// stop ends the process with SIGTERM (SIGKILL after 10 s) and waits.
func (p *process) stop() error {
	defer p.log.Close()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if errors.As(err, &ee) && !ee.Exited() {
			return nil // ended by our signal
		}
		return err
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop on SIGTERM", p.name)
	}
}

// memory is a process's resident memory from /proc/PID/status.
type memory struct {
	RSS  int64 `json:"rss_bytes"`      // VmRSS now
	Peak int64 `json:"rss_peak_bytes"` // VmHWM: the most it was ever
	// The parts of RSS now: anonymous (heap, stacks, SQLite's page
	// caches) and file-backed (the mapped binary).
	Anon int64 `json:"rss_anon_bytes"`
	File int64 `json:"rss_file_bytes"`
}

func readMemory(pid int) memory {
	var m memory
	buf, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m
	}
	for line := range strings.Lines(string(buf)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM" && k != "RssAnon" && k != "RssFile") {
			continue
		}
		f := strings.Fields(v)
		if len(f) < 1 {
			continue
		}
		kb, _ := strconv.ParseInt(f[0], 10, 64)
		switch k {
		case "VmRSS":
			m.RSS = kb << 10
		case "VmHWM":
			m.Peak = kb << 10
		case "RssAnon":
			m.Anon = kb << 10
		case "RssFile":
			m.File = kb << 10
		}
	}
	return m
}

// selfCPU returns the user plus system CPU seconds this process has used.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// timeRuns runs the command built by mk n times and returns each run's
// wall time, sorted. A run that fails is an error.
func timeRuns(ctx context.Context, n int, mk func(i int) *exec.Cmd) ([]time.Duration, error) {
	var ds []time.Duration
	for i := range n {
		cmd := mk(i)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if err != nil {
			return nil, fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, truncate(out.String(), 2000))
		}
		ds = append(ds, d)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	slices.Sort(ds)
	return ds, nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// machine describes where the figures come from.
type machine struct {
	CPUs      int     `json:"cpus"`
	CPUModel  string  `json:"cpu_model"`
	MemoryMB  int64   `json:"memory_mb"`
	Go        string  `json:"go"`
	Kernel    string  `json:"kernel"`
	LoadStart float64 `json:"loadavg_1m_start"`
	LoadEnd   float64 `json:"loadavg_1m_end"`
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if buf, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(buf)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if buf, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(buf)) {
			if k, v, ok := strings.Cut(line, ":"); ok && k == "MemTotal" {
				f := strings.Fields(v)
				if len(f) > 0 {
					kb, _ := strconv.ParseInt(f[0], 10, 64)
					m.MemoryMB = kb >> 10
				}
				break
			}
		}
	}
	if buf, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(buf))
	}
	m.LoadStart = loadAvg()
	return m
}

// loadAvg is the 1-minute load average: other work on the machine skews
// the figures, and this says how much there was.
func loadAvg() float64 {
	buf, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(buf))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// waitLog waits until the file at path has a line containing substr and
// returns that line.
func waitLog(path, substr string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, substr) {
				return line, nil
			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("no %q in %s after %s", substr, path, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
