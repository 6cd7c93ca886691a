package sqlite

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
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

	// The store's own writes take the durable path: an API key created
	// while the group commit is busy is committed at FULL.
	_, k, _ := maskcall.NewAPIKey("ci", false, t0)
	if err := db.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
}

func TestDB_APIKeys(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	secret, k, err := maskcall.NewAPIKey("backend", true, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	_, dup, _ := maskcall.NewAPIKey("backend", false, t0)
	assertCode(t, db.CreateAPIKey(ctx, dup), maskcall.ECONFLICT)

	got, err := maskcall.AuthenticateAPIKey(ctx, db, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || !got.ReadOnly || got.Name != "backend" || !got.CreatedAt.Equal(t0) || !bytes.Equal(got.Hash, k.Hash) {
		t.Fatalf("authenticated %+v, want %+v", got, k)
	}
	wrong := secret[:len(secret)-1] + map[bool]string{true: "a", false: "b"}[secret[len(secret)-1] != 'a']
	_, err = maskcall.AuthenticateAPIKey(ctx, db, wrong)
	assertCode(t, err, maskcall.EUNAUTHORIZED)

	if err := db.TouchAPIKey(ctx, k.ID, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.TouchAPIKey(ctx, k.ID, t0); err != nil { // never moves back
		t.Fatal(err)
	}
	keys, err := db.FindAPIKeys(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].LastUsedAt == nil || !keys[0].LastUsedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("keys = %+v, want one used at t0+1m", keys)
	}

	_, err = db.RevokeAPIKey(ctx, "nobody", t0)
	assertCode(t, err, maskcall.ENOTFOUND)
	rk, err := db.RevokeAPIKey(ctx, "backend", t0.Add(time.Hour))
	if err != nil || rk.RevokedAt == nil || rk.ID != k.ID {
		t.Fatalf("revoke = %+v, %v", rk, err)
	}
	_, err = maskcall.AuthenticateAPIKey(ctx, db, secret)
	assertCode(t, err, maskcall.EUNAUTHORIZED)
	_, err = db.RevokeAPIKey(ctx, k.ID, t0) // already revoked
	assertCode(t, err, maskcall.ENOTFOUND)

	// The name is free again; the revoked key is still listed with all.
	if err := db.CreateAPIKey(ctx, dup); err != nil {
		t.Fatal(err)
	}
	if keys, _ := db.FindAPIKeys(ctx, false); len(keys) != 1 || keys[0].ID != dup.ID {
		t.Fatalf("live keys = %+v, want only the new one", keys)
	}
	if keys, _ := db.FindAPIKeys(ctx, true); len(keys) != 2 {
		t.Fatalf("all keys = %d, want 2", len(keys))
	}
}

func TestDB_Idempotency(t *testing.T) {
	db := MustOpenDB(t)
	ctx := context.Background()
	rec := func(fp string, at time.Time) *maskcall.IdempotencyRecord {
		return &maskcall.IdempotencyRecord{Scope: "ak_1", Key: "k1", Fingerprint: []byte(fp), CreatedAt: at}
	}
	since := t0.Add(-maskcall.IdempotencyWindow)
	if got, err := db.BeginIdempotent(ctx, rec("a", t0), since); err != nil || got != nil {
		t.Fatalf("first begin = %+v, %v; want a reservation", got, err)
	}
	// A second request while the first runs sees it in progress.
	got, err := db.BeginIdempotent(ctx, rec("a", t0.Add(time.Second)), since)
	if err != nil || got == nil || got.Status != 0 || string(got.Fingerprint) != "a" {
		t.Fatalf("begin in progress = %+v, %v", got, err)
	}
	if err := db.CompleteIdempotent(ctx, "ak_1", "k1", 201, []byte(`{"id":"cv_1"}`)); err != nil {
		t.Fatal(err)
	}
	got, err = db.BeginIdempotent(ctx, rec("b", t0.Add(time.Hour)), t0.Add(time.Hour-maskcall.IdempotencyWindow))
	if err != nil || got == nil || got.Status != 201 || string(got.Body) != `{"id":"cv_1"}` || string(got.Fingerprint) != "a" || !got.CreatedAt.Equal(t0) {
		t.Fatalf("replay = %+v, %v", got, err)
	}
	// Another scope's key of the same name is its own.
	other := rec("a", t0)
	other.Scope = "ak_2"
	if got, err := db.BeginIdempotent(ctx, other, since); err != nil || got != nil {
		t.Fatalf("other scope = %+v, %v", got, err)
	}
	// After the window the key is reserved afresh.
	later := t0.Add(maskcall.IdempotencyWindow + time.Second)
	if got, err := db.BeginIdempotent(ctx, rec("c", later), later.Add(-maskcall.IdempotencyWindow)); err != nil || got != nil {
		t.Fatalf("begin after window = %+v, %v", got, err)
	}
	// Abandoned: a retry runs again.
	if err := db.AbandonIdempotent(ctx, "ak_1", "k1"); err != nil {
		t.Fatal(err)
	}
	if got, err := db.BeginIdempotent(ctx, rec("c", later), later.Add(-maskcall.IdempotencyWindow)); err != nil || got != nil {
		t.Fatalf("begin after abandon = %+v, %v", got, err)
	}
	// Records past the window are swept: ak_2's went with the begin above.
	var n int
	if err := db.rdb.QueryRow(`SELECT COUNT(*) FROM idempotency_keys`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("records = %d, %v; want 1", n, err)
	}
}
