package cli

import (
	"os"
	"runtime/debug"
	"testing"
)

// TestServeTunesGC: serve collects garbage at GOGC=200 unless the
// environment says otherwise.
func TestServeTunesGC(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	if v, ok := os.LookupEnv("GOGC"); ok {
		defer os.Setenv("GOGC", v)
	}
	os.Unsetenv("GOGC")
	tuneGC()
	if got := debug.SetGCPercent(100); got != serveGCPercent {
		t.Errorf("GOGC unset: serve collects at %d, want %d", got, serveGCPercent)
	}
	t.Setenv("GOGC", "50")
	tuneGC()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC=50: serve changed the percentage to %d", got)
	}
}
