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
	walRestartFrames = 128 // 512 KiB
	// The threshold, and what is written while one checkpoint runs (the
	// committer truncates after the background checkpoint in progress):
	// up to a few MiB on a slow, shared disk. Without the bound the WAL
	// grows with the work (about 7 MiB here, 196 MiB in the load test).
	const walBoundBytes = 6 << 20
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
	var maxWAL, shrunk atomic.Int64
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
			if fi.Size() > maxWAL.Load() {
				maxWAL.Store(fi.Size())
			} else if fi.Size() < maxWAL.Load()/2 {
				shrunk.Add(1)
			}
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
	if maxWAL.Load() > walBoundBytes {
		t.Errorf("the WAL reached %.1f MiB, over the %.0f MiB bound", float64(maxWAL.Load())/(1<<20), float64(walBoundBytes)/(1<<20))
	}
	if shrunk.Load() == 0 {
		t.Error("the WAL never shrank while the writes went on")
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
