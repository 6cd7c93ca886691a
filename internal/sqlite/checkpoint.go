package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Background checkpoints.
//
// In WAL mode a commit appends pages to the -wal file; a checkpoint copies
// them back into the database file. By default the connection that commits
// runs a checkpoint itself whenever the WAL passes 1,000 pages, and with
// synchronous=NORMAL a checkpoint is also when the WAL and the database are
// fsynced. For the group commit that means every few hundred calls one
// batch (and every answer webhook waiting on it) also waits for thousands
// of page copies and two fsyncs.
//
// Once the store commits grouped writes, checkpoints move to their own
// connection and goroutine instead: after a commit the committer nudges the
// checkpointer, which runs a PASSIVE checkpoint (it never blocks readers or
// the writer) at most every checkpointInterval.
//
// The WAL's size. A PASSIVE checkpoint copies pages back but never makes
// the writer start the -wal file over: SQLite restarts the WAL only when a
// write begins at a moment the WAL is entirely checkpointed, which under
// sustained writes (a batch always in flight) may never come, so the file
// kept growing (196 MiB in the load test) and stayed at its largest. So:
//
//   - the write connection's automatic checkpoint is set to
//     walRestartFrames: once a commit leaves more frames than that in the
//     WAL, SQLite checkpoints on the write connection right after it, with
//     no other writer, so it copies every frame no reader still needs,
//     and the next write starts the WAL over from its beginning, in the
//     same file;
//   - journal_size_limit (walSizeLimit) cuts a restarted file back, but
//     only what is past a quarter more than that;
//   - when, after a PASSIVE checkpoint, the -wal file is over walSizeLimit
//     anyway (readers kept the restart off), the committer runs a TRUNCATE
//     checkpoint on the write connection between two batches (a
//     checkpointer of its own could not get the write lock between
//     back-to-back batches: SQLite's busy wait is not fair): it waits for
//     the readers of old pages to finish, copies the rest and truncates the
//     file to nothing. It waits at most truncateBusyTimeout for readers
//     (another process's long read) and otherwise tries again after a
//     later batch;
//   - when the writer has been idle for idleTruncate, it runs one TRUNCATE
//     checkpoint too, so a quiet server's WAL is empty.
//
// So the -wal file stays about walSizeLimit plus what is written while one
// checkpoint runs (TestWALStaysBounded).
//
// Why the file keeps its blocks, and why the bound is large (192 MiB of
// frames): cutting the file back is what cost. With the WAL truncated to
// nothing by a TRUNCATE checkpoint every 16 MiB (as it was), each commit
// after one wrote into blocks the filesystem had to allocate again, and
// under the load test's answers (about 13 KiB of WAL a call record: three
// index pages and the table's) that was ten times a second. Restarting
// the WAL in the file it has took serve from 36 % to 43-47 % of the bare
// handler's answers at 1,000,000 conversations, its CPU from 96 to 72-83
// µs an answer and its p99 from 30 to 9-11 ms (BENCHMARKS.md); bounds of
// 64 MiB gained nothing. Each restart still holds the committer up (the
// checkpoint it runs, 30-50 ms there, every half second or so), which is
// what is left of serve's p99. What it costs: up to 256 MiB of disk for
// the -wal file while writes go on; an idle server's is emptied after
// idleTruncate.
//
// Durability: with synchronous=NORMAL a commit is not fsynced by itself,
// so it survives a crash of maskcall but not of the machine. Each
// checkpoint first fsyncs the WAL, so a commit is on disk at the latest one
// checkpoint later: a power loss or kernel crash can lose the writes of
// about the last checkpointInterval (plus the time a checkpoint takes),
// never a torn or half-applied transaction.

// checkpointInterval is the least time between two background checkpoints,
// and so about the most recent work a power loss can cost.
const checkpointInterval = 100 * time.Millisecond

// walRestartFrames is the write connection's automatic checkpoint: the
// WAL frames (4 KiB pages, SQLite's default page size) past which a commit
// checkpoints and the next write restarts the WAL (192 MiB; SQLite's
// default is 1000). A variable only so that TestWALStaysBounded can show
// the bound with less work.
var walRestartFrames = 49152

// walSizeLimit is journal_size_limit, the size a restarted -wal file is
// cut back to, and the size past which the committer truncates it: a
// quarter more than walRestartFrames, so that a restart in time leaves the
// file as it is.
func walSizeLimit() int64 { return int64(walRestartFrames) * 4096 * 5 / 4 }

// truncateBusyTimeout bounds how long a TRUNCATE checkpoint waits for the
// write lock and for readers, so it never holds up writes for long.
const truncateBusyTimeout = 200 * time.Millisecond

// idleTruncate is how long the writer must be idle before the
// checkpointer empties the WAL.
const idleTruncate = time.Second

type checkpointer struct {
	db    *DB
	cdb   *sql.DB
	nudge chan struct{}
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
	// TRUNCATE checkpoints run (tests).
	truncates atomic.Int64
}

// startCheckpointer opens the checkpoint connection and starts its
// goroutine.
func startCheckpointer(db *DB) (*checkpointer, error) {
	cdb, err := sql.Open("sqlite", dsn(db.path,
		"_pragma=busy_timeout("+fmt.Sprint(busyTimeout.Milliseconds())+")",
		"_pragma=synchronous(normal)",
		fmt.Sprintf("_pragma=journal_size_limit(%d)", walSizeLimit()),
	))
	if err != nil {
		return nil, err
	}
	cdb.SetMaxOpenConns(1)
	cdb.SetMaxIdleConns(1)
	cdb.SetConnMaxLifetime(0)
	cdb.SetConnMaxIdleTime(0)
	if err := cdb.Ping(); err != nil {
		cdb.Close()
		return nil, err
	}
	c := &checkpointer{db: db, cdb: cdb, nudge: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c, nil
}

// poke asks for a checkpoint soon; it never blocks.
func (c *checkpointer) poke() {
	select {
	case c.nudge <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	var last time.Time
	idle := time.NewTimer(idleTruncate)
	defer idle.Stop()
	dirty := false // written to since the last TRUNCATE
	for {
		select {
		case <-c.nudge:
			dirty = true
		case <-idle.C:
			if dirty && c.truncate() {
				dirty = false
				if c.db.w != nil {
					c.db.w.truncateWanted.Store(false)
				}
			}
			continue
		case <-c.quit:
			return
		}
		idle.Reset(idleTruncate)
		if wait := checkpointInterval - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-c.quit:
				t.Stop()
				return
			}
		}
		w := c.db.w
		if w != nil && w.truncateWanted.Load() {
			// The committer truncates the WAL after its next batch; a
			// checkpoint here would get in its way (two cannot run at
			// once).
			continue
		}
		last = time.Now()
		// A failure (the database locked by another process's
		// checkpoint, say) is retried at the next nudge; the write
		// connection's automatic checkpoint bounds the WAL meanwhile.
		_, _ = c.cdb.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
		if w != nil && walOverBound(c.db.path) {
			w.truncateWanted.Store(true)
		}
	}
}

// truncate runs a TRUNCATE checkpoint on the checkpoint connection (the
// writer is idle) and reports whether the WAL was emptied.
func (c *checkpointer) truncate() bool {
	c.truncates.Add(1)
	return truncateWAL(c.cdb)
}

// walOverBound reports whether the -wal file is over walSizeLimit.
func walOverBound(path string) bool {
	fi, err := os.Stat(path + "-wal")
	return err == nil && fi.Size() > walSizeLimit()
}

// truncateWAL runs a TRUNCATE checkpoint on one connection of pool,
// waiting at most truncateBusyTimeout for the locks it needs, and reports
// whether the WAL was emptied.
func truncateWAL(pool *sql.DB) bool {
	ctx := context.Background()
	conn, err := pool.Conn(ctx)
	if err != nil {
		return false
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, truncateBusyTimeout.Milliseconds())); err != nil {
		return false
	}
	defer conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA busy_timeout = %d`, busyTimeout.Milliseconds()))
	var busy, frames, done int
	if err := conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil {
		return false
	}
	return busy == 0
}

// close stops the goroutine and closes the connection (without waiting
// for the next checkpoint: the last connection to close checkpoints).
func (c *checkpointer) close() error {
	c.once.Do(func() { close(c.quit) })
	<-c.done
	return c.cdb.Close()
}
