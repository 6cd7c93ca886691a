package procstat

import (
	"os"
	"runtime"
	"testing"
	"time"
)

func TestCPU(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("procstat reads Linux's /proc")
	}
	before := CPU(os.Getpid())
	// Burn at least 50 ms of CPU (5 ticks).
	for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
	}
	if after := CPU(os.Getpid()); after-before < 0.05 {
		t.Fatalf("CPU moved by %v s after 100 ms of spinning", after-before)
	}
	if got := CPU(-1); got != 0 {
		t.Fatalf("CPU of no process = %v, want 0", got)
	}
}
