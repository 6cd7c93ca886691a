package postgres

import (
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/routeindex"
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
		// Calls answered by serve's route index: the route property test
		// holds it to the store, with writes through a second handle (the
		// other replica).
		Routes: func(t *testing.T, s maskcall.Store) maskcall.RouteStore {
			ix := routeindex.New(s.(*DB), nil)
			if err := ix.Load(t.Context()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(ix.Close)
			return ix
		},
		// Calls recorded before migration 0021, or by an older replica.
		MarkCallsOlder: func(t *testing.T, s maskcall.Store) {
			if _, err := s.(*DB).pool.Exec(t.Context(), `UPDATE interactions
				SET conversation_uuid = named_conversation_uuid, named_conversation_uuid = '' WHERE named_conversation_uuid <> ''`); err != nil {
				t.Fatal(err)
			}
		},
	})
}
