package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
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
// the writer) at most every checkpointInterval. The write connection keeps
// an automatic checkpoint only as a backstop, at walBackstopPages, should
// the checkpointer fall behind.
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

// walBackstopPages is the automatic checkpoint of the write connection
// while the background checkpointer runs (SQLite's default is 1000).
const walBackstopPages = 50_000

type checkpointer struct {
	db    *DB
	cdb   *sql.DB
	nudge chan struct{}
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
}

// startCheckpointer opens the checkpoint connection and starts its
// goroutine.
func startCheckpointer(db *DB) (*checkpointer, error) {
	cdb, err := sql.Open("sqlite", dsn(db.path,
		"_pragma=busy_timeout("+fmt.Sprint(busyTimeout.Milliseconds())+")",
		"_pragma=synchronous(normal)",
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
	for {
		select {
		case <-c.nudge:
		case <-c.quit:
			return
		}
		if wait := checkpointInterval - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-c.quit:
				t.Stop()
				return
			}
		}
		last = time.Now()
		// A failure (the database locked by another process's
		// checkpoint, say) is retried at the next nudge; the backstop
		// bounds the WAL meanwhile.
		_, _ = c.cdb.ExecContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`)
	}
}

// close stops the goroutine and closes the connection (without waiting
// for the next checkpoint: the last connection to close checkpoints).
func (c *checkpointer) close() error {
	c.once.Do(func() { close(c.quit) })
	<-c.done
	return c.cdb.Close()
}
