package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// TestWALStaysBounded: under sustained writes (calls and their events,
// group-committed as serve makes them) with route lookups reading all the
// while, the -wal file stays under a bound instead of growing with the
// work done.
func TestWALStaysBounded(t *testing.T) {
	// A smaller threshold than serve's, so that a few thousand writes show
	// it (each transaction appends about 5 KiB of WAL frames).
	defer func(n int) { walRestartFrames = n }(walRestartFrames)
	walRestartFrames = 64 // 256 KiB
	db := NewDB(filepath.Join(t.TempDir(), "maskcall.db"))
	db.FastCommits = true // as serve opens it
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	conv, _ := MustCreateCall(t, db)
	wal := db.path + "-wal"

	const writers, readers = 8, 2
	const calls = 1500
	var next atomic.Int64
	// maxWAL is the largest -wal file seen, grown the sum of its sampled
	// growth (about what was appended to it in all), shrunk how often it
	// was seen cut back below the threshold.
	var maxWAL, grown, shrunk atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > calls {
					return
				}
				c := &maskcall.Call{UUID: fmt.Sprintf("w-%d", i), ConversationUUID: fmt.Sprintf("CON-w-%d", i),
					ConversationID: conv.ID, From: alice, To: gb1, Status: "started"}
				if err := db.CreateCall(context.Background(), c, t0); err != nil {
					t.Error(err)
					return
				}
				for k, st := range []string{"started", "ringing", "answered", "completed"} {
					ev := maskcall.CallEvent{UUID: c.UUID, Status: st, Timestamp: t0.Add(time.Duration(k) * time.Second), Duration: 30}
					if _, err := db.RecordCallEvent(context.Background(), ev, t0); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	var rg sync.WaitGroup
	for range readers {
		rg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := db.FindRoute(context.Background(), alice, gb1, t0); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	rg.Go(func() {
		var last int64
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			fi, err := os.Stat(wal)
			if err != nil {
				continue
			}
			size := fi.Size()
			if size > maxWAL.Load() {
				maxWAL.Store(size)
			}
			if size > last {
				grown.Add(size - last)
			} else if size < last && size <= int64(walRestartFrames)*4096 {
				shrunk.Add(1)
			}
			last = size
		}
	})
	wg.Wait()
	close(stop)
	rg.Wait()
	if countCalls(t, db) != calls+1 {
		t.Fatalf("%d calls", countCalls(t, db))
	}
	tx, ops := db.GroupCommitStats()
	t.Logf("%d operations in %d transactions; largest WAL seen %.1f MiB", ops, tx, float64(maxWAL.Load())/(1<<20))
	// Bounded: the WAL is cut back again and again while the writes go on,
	// so it never holds more than a fraction of what was written. (Without
	// the bound it only grows: its largest size is all that was written,
	// about 7 MiB here, 196 MiB in the load test.) How far it overshoots
	// the threshold depends on how long a background checkpoint takes on
	// this disk, so the test bounds it relative to the work, not in bytes.
	t.Logf("written about %.1f MiB to the WAL, largest %.1f MiB, cut back %d times",
		float64(grown.Load())/(1<<20), float64(maxWAL.Load())/(1<<20), shrunk.Load())
	if shrunk.Load() < 3 {
		t.Errorf("the WAL was cut back %d times while the writes went on, want at least 3", shrunk.Load())
	}
	if maxWAL.Load() > grown.Load()*3/4 {
		t.Errorf("the WAL reached %.1f MiB of the %.1f MiB written: not bounded", float64(maxWAL.Load())/(1<<20), float64(grown.Load())/(1<<20))
	}
	// Once the writer is idle the WAL is emptied.
	deadline := time.Now().Add(30 * time.Second)
	for {
		fi, err := os.Stat(wal)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the WAL is still %d bytes with the writer idle", fi.Size())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
