package main

import (
	"database/sql"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the driver internal/sqlite uses
)

// shortenTTL moves conversation id's expiry to its creation plus ttl, in
// the database the binary uses. A time to live under a minute is refused
// (maskcall.MinTTL), so tests of expiry create with the minimum and bring
// the expiry forward instead of waiting. It writes both copies of the
// expiry (conversations and participants, see 0001_init.sql).
func shortenTTL(t *testing.T, e *testEnv, id string, created time.Time, ttl time.Duration) time.Time {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+e.DB+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at := created.Add(ttl).UTC()
	v := at.Format("2006-01-02T15:04:05.000000000Z07:00")
	for _, q := range []string{
		`UPDATE conversations SET expires_at = ? WHERE id = ?`,
		`UPDATE participants SET expires_at = ? WHERE conversation_id = ?`,
	} {
		if res, err := db.Exec(q, v, id); err != nil {
			t.Fatal(err)
		} else if n, _ := res.RowsAffected(); n == 0 {
			t.Fatalf("%s changed no row for %s", q, id)
		}
	}
	return at
}
