package sqlite

import (
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/storetest"
)

// The SQLite store passes the conformance suite, also across two handles on
// one file (the CLI beside serve).
func TestStore(t *testing.T) {
	storetest.RunHarness(t, storetest.Harness{
		New: func(t *testing.T) maskcall.Store { return MustOpenDB(t) },
		Reopen: func(t *testing.T, s maskcall.Store) maskcall.Store {
			return MustOpenDBAt(t, s.(*DB).Path())
		},
		CountEvents: func(t *testing.T, s maskcall.Store) int {
			var n int
			if err := s.(*DB).rdb.QueryRow(`SELECT COUNT(*) FROM interaction_events`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		},
	})
}
