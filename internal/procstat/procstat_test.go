package procstat

import (
	"os"
	"runtime"
	"testing"
	"time"
)

// spinUntil burns CPU until moved reports true or 5 s have passed, and
// reports whether it did: spinning for a fixed wall time gets too little
// CPU on a busy machine.
func spinUntil(moved func() bool) bool {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		for start := time.Now(); time.Since(start) < 10*time.Millisecond; {
		}
		if moved() {
			return true
		}
	}
	return false
}

func TestCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("procstat reads Linux's /proc")
	}
	before := CPU(os.Getpid())
	// At least 50 ms (5 ticks) of CPU must show.
	if !spinUntil(func() bool { return CPU(os.Getpid())-before >= 0.05 }) {
		t.Fatalf("CPU moved by %v s after 5 s of spinning", CPU(os.Getpid())-before)
	}
	if got := CPU(-1); got != 0 {
		t.Fatalf("CPU of no process = %v, want 0", got)
	}
}

func TestMachine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("procstat reads Linux's /proc")
	}
	busy0, total0 := Machine()
	if total0 <= 0 || busy0 <= 0 || busy0 > total0 {
		t.Fatalf("Machine() = %v busy of %v", busy0, total0)
	}
	// This process's spinning is machine time too: at least 50 ms of it
	// must show as busy, and never more busy time than time in all.
	if !spinUntil(func() bool { b, _ := Machine(); return b-busy0 >= 0.05 }) {
		b, _ := Machine()
		t.Fatalf("busy moved by %v s after 5 s of spinning", b-busy0)
	}
	busy1, total1 := Machine()
	if total1-total0 < busy1-busy0-0.005 { // half a tick: the difference of large floats
		t.Fatalf("busy moved by %v s of %v s in all", busy1-busy0, total1-total0)
	}
}
