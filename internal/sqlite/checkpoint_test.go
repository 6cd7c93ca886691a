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
	db := mustOpenServeDB(t)
	conv, _ := MustCreateCall(t, db)
	wal := db.path + "-wal"

	const writers, readers = 8, 2
	const calls = 1500
	// maxWAL is the largest -wal file seen; startedOver counts the times
	// the WAL was seen to start over, in place (its header's salt changed)
	// or cut back (the file shrank).
	var maxWAL, startedOver atomic.Int64
	stop := make(chan struct{})
	wg := writeCalls(t, db, conv.ID, "w", writers, calls, true)
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
		lastSalt := walSalt(wal)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			fi, err := os.Stat(wal)
			if err != nil {
				continue
			}
			size := fi.Size()
			if size > maxWAL.Load() {
				maxWAL.Store(size)
			}
			salt := walSalt(wal)
			if size < last || (salt != lastSalt && salt != "" && lastSalt != "") {
				startedOver.Add(1)
			}
			last = size
			if salt != "" {
				lastSalt = salt
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
	// Bounded: the WAL starts over again and again while the writes go
	// on, so it never holds more than a fraction of what was written.
	// (Without the bound it only grows: its largest size is all that was
	// written, 196 MiB in the load test.) Every transaction appends at
	// least one 4 KiB frame, so tx × 4 KiB is at most what was written.
	// How far the file overshoots the threshold depends on how long a
	// background checkpoint takes on this disk, so the test bounds it
	// relative to the work, not in bytes.
	written := tx * 4096
	t.Logf("written at least %.1f MiB to the WAL, largest %.1f MiB, started over %d times",
		float64(written)/(1<<20), float64(maxWAL.Load())/(1<<20), startedOver.Load())
	if startedOver.Load() < 3 {
		t.Errorf("the WAL started over %d times while the writes went on, want at least 3", startedOver.Load())
	}
	if maxWAL.Load() > written/2 {
		t.Errorf("the WAL reached %.1f MiB of the %.1f MiB or more written: not bounded", float64(maxWAL.Load())/(1<<20), float64(written)/(1<<20))
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

// TestWALRestartsInPlace: with nothing reading, sustained writes restart
// the WAL from its beginning in the file it has (the write connection's
// automatic checkpoint) instead of having it truncated: a truncated file's
// blocks are allocated again by the next commits, which cost serve a
// sixth of its answers (checkpoint.go). A restart shows in the WAL
// header, whose salt SQLite changes at every one.
func TestWALRestartsInPlace(t *testing.T) {
	defer func(n int) { walRestartFrames = n }(walRestartFrames)
	walRestartFrames = 64 // 256 KiB
	db := mustOpenServeDB(t)
	conv, _ := MustCreateCall(t, db)
	wal := db.path + "-wal"

	const writers, calls = 8, 3000
	wg := writeCalls(t, db, conv.ID, "r", writers, calls, false)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// A salt that changed while the file kept its header is a restart in
	// place; one after the file was seen empty or without a header may be
	// a truncation's, and is not counted.
	// A file seen smaller than before was cut back: by a truncation, or
	// by journal_size_limit at a restart.
	restarts, truncated, shrunk := 0, false, 0
	last, lastSize := walSalt(wal), int64(0)
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(time.Millisecond):
		}
		if fi, err := os.Stat(wal); err == nil {
			if fi.Size() < lastSize {
				shrunk++
			}
			lastSize = fi.Size()
		}
		switch s := walSalt(wal); {
		case s == "":
			truncated = true
		case s != last && !truncated && last != "":
			restarts++
			last = s
		default:
			last, truncated = s, false
		}
	}
	truncations := db.w.truncates.Load()
	t.Logf("%d restarts in place seen, %d truncations by the committer, file cut back %d times", restarts, truncations, shrunk)
	if restarts < 3 {
		t.Errorf("the WAL restarted in place %d times while %d calls were written, want at least 3", restarts, calls)
	}
	// The background checkpoint running at the moment of a restart delays
	// it, and the file may then pass walSizeLimit and be truncated once in
	// a while; with the restart broken every cycle is a truncation.
	if truncations*4 > int64(restarts) || shrunk*4 > restarts {
		t.Errorf("the WAL was cut back %d times (%d truncations by the committer) against %d restarts in place, with nothing reading", shrunk, truncations, restarts)
	}
}

// walSalt is the first salt of the WAL header (bytes 16-19) of the -wal
// file at path, which SQLite changes whenever the WAL starts over; "" while
// the file holds no header.
func walSalt(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	var hdr [32]byte
	if n, _ := f.ReadAt(hdr[:], 0); n < len(hdr) {
		return ""
	}
	return string(hdr[16:20])
}

// mustOpenServeDB opens a store as serve does (its group commit and
// background checkpoints) and closes it when the test ends.
func mustOpenServeDB(t *testing.T) *DB {
	t.Helper()
	db := NewDB(filepath.Join(t.TempDir(), "maskcall.db"))
	db.FastCommits = true
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// writeCalls has writers goroutines record calls calls (uuids prefix-N) in
// conversation convID, each with its four events if events, and returns
// the group to wait for them.
func writeCalls(t *testing.T, db *DB, convID, prefix string, writers, calls int, events bool) *sync.WaitGroup {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(calls) {
					return
				}
				c := &maskcall.Call{UUID: fmt.Sprintf("%s-%d", prefix, i), ConversationUUID: fmt.Sprintf("CON-%s-%d", prefix, i),
					ConversationID: convID, From: alice, To: gb1, Status: "started"}
				if err := db.CreateCall(context.Background(), c, t0); err != nil {
					t.Error(err)
					return
				}
				if !events {
					continue
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
	return &wg
}
