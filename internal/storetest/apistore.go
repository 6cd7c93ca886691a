package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// APIStore is what the HTTP API keeps besides maskcall.Store: API keys and
// idempotency records.
type APIStore interface {
	maskcall.APIKeyStore
	maskcall.IdempotencyStore
}

// apiT0 is these tests' "now"; every time is explicit.
var apiT0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// RunAPIStore checks a store's API keys and idempotency records; newStore
// opens an empty store for one test.
func RunAPIStore(t *testing.T, newStore func(t *testing.T) APIStore) {
	t.Run("APIKeys", func(t *testing.T) { testAPIKeys(t, newStore(t)) })
	t.Run("Idempotency", func(t *testing.T) { testIdempotency(t, newStore(t)) })
}

func testAPIKeys(t *testing.T, db APIStore) {
	ctx := context.Background()
	secret, k, err := maskcall.NewAPIKey("backend", true, apiT0)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	_, dup, _ := maskcall.NewAPIKey("backend", false, apiT0.Add(time.Second))
	assertCode(t, db.CreateAPIKey(ctx, dup), maskcall.ECONFLICT)

	got, err := maskcall.AuthenticateAPIKey(ctx, db, secret)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != k.ID || !got.ReadOnly || got.Name != "backend" || got.Prefix != secret[:maskcall.APIKeyShownChars] ||
		!got.CreatedAt.Equal(apiT0) || !bytes.Equal(got.Hash, k.Hash) || got.LastUsedAt != nil || got.RevokedAt != nil {
		t.Fatalf("authenticated %+v, want %+v", got, k)
	}
	last := secret[len(secret)-1]
	wrong := secret[:len(secret)-1] + string(map[bool]byte{true: 'a', false: 'b'}[last != 'a'])
	_, err = maskcall.AuthenticateAPIKey(ctx, db, wrong)
	assertCode(t, err, maskcall.EUNAUTHORIZED)
	_, err = maskcall.AuthenticateAPIKey(ctx, db, "mk_short")
	assertCode(t, err, maskcall.EUNAUTHORIZED)

	if err := db.TouchAPIKey(ctx, k.ID, apiT0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.TouchAPIKey(ctx, k.ID, apiT0); err != nil { // never moves back
		t.Fatal(err)
	}
	keys, err := db.FindAPIKeys(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].LastUsedAt == nil || !keys[0].LastUsedAt.Equal(apiT0.Add(time.Minute)) {
		t.Fatalf("keys = %+v, want one used at t0+1m", keys)
	}

	_, err = db.RevokeAPIKey(ctx, "nobody", apiT0)
	assertCode(t, err, maskcall.ENOTFOUND)
	rk, err := db.RevokeAPIKey(ctx, "backend", apiT0.Add(time.Hour))
	if err != nil || rk.RevokedAt == nil || !rk.RevokedAt.Equal(apiT0.Add(time.Hour)) || rk.ID != k.ID {
		t.Fatalf("revoke = %+v, %v", rk, err)
	}
	_, err = maskcall.AuthenticateAPIKey(ctx, db, secret)
	assertCode(t, err, maskcall.EUNAUTHORIZED)
	_, err = db.RevokeAPIKey(ctx, k.ID, apiT0) // already revoked
	assertCode(t, err, maskcall.ENOTFOUND)

	// The name is free again; the revoked key is still listed with all.
	if err := db.CreateAPIKey(ctx, dup); err != nil {
		t.Fatal(err)
	}
	if keys, _ := db.FindAPIKeys(ctx, false); len(keys) != 1 || keys[0].ID != dup.ID {
		t.Fatalf("live keys = %+v, want only the new one", keys)
	}
	if keys, _ := db.FindAPIKeys(ctx, true); len(keys) != 2 || keys[0].ID != k.ID {
		t.Fatalf("all keys = %+v, want the revoked one first", keys)
	}
	// Revoking by id works too.
	if _, err := db.RevokeAPIKey(ctx, dup.ID, apiT0); err != nil {
		t.Fatal(err)
	}
}

func testIdempotency(t *testing.T, db APIStore) {
	ctx := context.Background()
	rec := func(scope, fp string, at time.Time) *maskcall.IdempotencyRecord {
		return &maskcall.IdempotencyRecord{Scope: scope, Key: "k1", Fingerprint: []byte(fp), CreatedAt: at}
	}
	window := func(at time.Time) time.Time { return at.Add(-maskcall.IdempotencyWindow) }
	if got, err := db.BeginIdempotent(ctx, rec("ak_1", "a", apiT0), window(apiT0)); err != nil || got != nil {
		t.Fatalf("first begin = %+v, %v; want a reservation", got, err)
	}
	// A second request while the first runs sees it in progress.
	got, err := db.BeginIdempotent(ctx, rec("ak_1", "a", apiT0.Add(time.Second)), window(apiT0))
	if err != nil || got == nil || got.Status != 0 || string(got.Fingerprint) != "a" {
		t.Fatalf("begin in progress = %+v, %v", got, err)
	}
	if err := db.CompleteIdempotent(ctx, "ak_1", "k1", 201, []byte(`{"id":"cv_1"}`)); err != nil {
		t.Fatal(err)
	}
	at := apiT0.Add(time.Hour)
	got, err = db.BeginIdempotent(ctx, rec("ak_1", "b", at), window(at))
	if err != nil || got == nil || got.Status != 201 || string(got.Body) != `{"id":"cv_1"}` ||
		string(got.Fingerprint) != "a" || !got.CreatedAt.Equal(apiT0) {
		t.Fatalf("replay = %+v, %v", got, err)
	}
	// Another scope's key of the same name is its own.
	if got, err := db.BeginIdempotent(ctx, rec("ak_2", "a", apiT0), window(apiT0)); err != nil || got != nil {
		t.Fatalf("other scope = %+v, %v", got, err)
	}
	// After the window the key is reserved afresh.
	later := apiT0.Add(maskcall.IdempotencyWindow + time.Second)
	if got, err := db.BeginIdempotent(ctx, rec("ak_1", "c", later), window(later)); err != nil || got != nil {
		t.Fatalf("begin after window = %+v, %v", got, err)
	}
	// Abandoned: a retry runs again; a completed record is not abandoned.
	if err := db.AbandonIdempotent(ctx, "ak_1", "k1"); err != nil {
		t.Fatal(err)
	}
	if got, err := db.BeginIdempotent(ctx, rec("ak_1", "c", later), window(later)); err != nil || got != nil {
		t.Fatalf("begin after abandon = %+v, %v", got, err)
	}
	if err := db.CompleteIdempotent(ctx, "ak_1", "k1", 422, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if err := db.AbandonIdempotent(ctx, "ak_1", "k1"); err != nil {
		t.Fatal(err)
	}
	if got, err := db.BeginIdempotent(ctx, rec("ak_1", "c", later), window(later)); err != nil || got == nil || got.Status != 422 {
		t.Fatalf("completed record after abandon = %+v, %v", got, err)
	}
}
