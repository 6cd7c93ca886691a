//go:build unix

package webhook

import (
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"github.com/maskcall/maskcall/internal/vonage/signature"
)

// TestReplayCacheKeepsIDsOffTheHeap: 300,000 ids remembered grow Go's heap
// by less than a megabyte, and each takes 24 bytes in its ring. On the heap they would count twice in serve's
// resident memory (the collector's goal is twice what is live); a map took
// 71 bytes an id, 21 MB here, and 74 MB when the default cache is full.
func TestReplayCacheKeepsIDsOffTheHeap(t *testing.T) {
	if n := unsafe.Sizeof(replayEntry{}); n != 24 {
		t.Errorf("a remembered id takes %d bytes, want 24", n)
	}
	const ids = 300_000
	toks := make([]signature.Token, ids)
	for i := range toks {
		toks[i] = signature.Token{ID: fmt.Sprint("jti-", i), IssuedAt: testNow}
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	c := newReplayCache(0)
	for i := range toks {
		if got := c.check(&toks[i], 1, testNow); got != replayNew {
			t.Fatalf("token %d: %v", i, got)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	grew := int64(after.HeapInuse) - int64(before.HeapInuse)
	t.Logf("heap grew by %d bytes for %d ids", grew, ids)
	if grew > 1<<20 {
		t.Errorf("the heap grew by %.1f MB for %d ids", float64(grew)/(1<<20), ids)
	}
	runtime.KeepAlive(c)
	runtime.KeepAlive(toks)
}
