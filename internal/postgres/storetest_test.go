package postgres

import (
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/storetest"
)

// The PostgreSQL store passes the conformance suite, also across two
// handles on one schema (two replicas).
func TestStore(t *testing.T) {
	storetest.RunHarness(t, storetest.Harness{
		New: func(t *testing.T) maskcall.Store { return MustOpenDB(t) },
		Reopen: func(t *testing.T, s maskcall.Store) maskcall.Store {
			return MustOpenDBAt(t, s.(*DB).url)
		},
		CountEvents: func(t *testing.T, s maskcall.Store) int {
			var n int
			if err := s.(*DB).pool.QueryRow(t.Context(), `SELECT COUNT(*) FROM interaction_events`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		},
	})
}
