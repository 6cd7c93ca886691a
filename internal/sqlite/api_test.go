package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/storetest"
)

// synchronousIn returns the write connection's synchronous level (1
// NORMAL, 2 FULL) as seen inside tx.
func synchronousIn(tb testing.TB, tx *Tx) int {
	tb.Helper()
	var level int
	if err := tx.QueryRowContext(context.Background(), `PRAGMA synchronous`).Scan(&level); err != nil {
		tb.Fatal(err)
	}
	return level
}

// TestDB_DurableWritesWithFastCommits checks the principle behind an API
// create or end being on disk when acknowledged while serve takes calls:
// with FastCommits the group commit runs at synchronous=NORMAL, and every
// other write transaction at FULL (its commit fsyncs the WAL), after which
// the connection is back to NORMAL.
func TestDB_DurableWritesWithFastCommits(t *testing.T) {
	db := NewDB(filepath.Join(t.TempDir(), "maskcall.db"))
	db.FastCommits = true
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()

	grouped := func() int {
		var level int
		if err := db.w.write(ctx, func(ctx context.Context, tx *Tx) error {
			level = synchronousIn(t, tx)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return level
	}
	if got := grouped(); got != 1 {
		t.Fatalf("group commit synchronous = %d, want 1 (NORMAL)", got)
	}
	for _, end := range []string{"commit", "rollback"} {
		tx, err := db.beginWrite(ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		if got := synchronousIn(t, tx); got != 2 {
			tx.Rollback() // it holds the write connection Close waits for
			t.Fatalf("durable write synchronous = %d, want 2 (FULL)", got)
		}
		if end == "commit" {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
		tx.Rollback() // after Commit: nothing, and no second release
		if got := grouped(); got != 1 {
			t.Fatalf("after a durable %s the group commit runs at synchronous %d, want 1", end, got)
		}
	}

	// A durable operation in the group commit (a create) runs its batch at
	// FULL, and the group commit is back at NORMAL after it.
	var level int
	if err := db.w.writeDurable(ctx, func(ctx context.Context, tx *Tx) error {
		level = synchronousIn(t, tx)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if level != 2 {
		t.Fatalf("grouped durable write synchronous = %d, want 2 (FULL)", level)
	}
	if got := grouped(); got != 1 {
		t.Fatalf("after a grouped durable write the group commit runs at synchronous %d, want 1", got)
	}

	// The store's own writes take the durable path: an API key created
	// while the group commit is busy is committed at FULL.
	_, k, _ := maskcall.NewAPIKey("ci", false, t0)
	if err := db.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
}

// The SQLite store passes the API part of the conformance suite.
func TestAPIStore(t *testing.T) {
	storetest.RunAPIStore(t, func(t *testing.T) storetest.APIStore { return MustOpenDB(t) })
}

// Idempotency records past the window are swept as keys are reserved.
func TestDB_IdempotencySweep(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	for i, scope := range []string{"ak_1", "ak_2"} {
		at := t0.Add(time.Duration(i) * maskcall.IdempotencyWindow * 2)
		r := &maskcall.IdempotencyRecord{Scope: scope, Key: "k", Fingerprint: []byte("x"), CreatedAt: at}
		if _, err := db.BeginIdempotent(ctx, r, at.Add(-maskcall.IdempotencyWindow)); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := db.rdb.QueryRow(`SELECT COUNT(*) FROM idempotency_keys`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("records = %d, %v; want 1", n, err)
	}
}
