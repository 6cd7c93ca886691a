package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/routeindex"
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
		MarkCallsOlder: markCallsOlder,
	})
}

// markCallsOlder makes s's calls look recorded before migration 0020.
func markCallsOlder(t *testing.T, s maskcall.Store) {
	if _, err := s.(*DB).wdb.Exec(`UPDATE interactions
		SET conversation_uuid = named_conversation_uuid, named_conversation_uuid = '' WHERE named_conversation_uuid <> ''`); err != nil {
		t.Fatal(err)
	}
}

// ... and as serve opens it (FastCommits: creates and ends in the group
// commit, fsynced), with the CLI's handle beside it, and calls answered by
// serve's route index (the route property test holds it to the store).
func TestStoreFastCommits(t *testing.T) {
	open := func(t *testing.T, path string) *DB {
		db := NewDB(path)
		db.FastCommits = true
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Error(err)
			}
		})
		return db
	}
	storetest.RunHarness(t, storetest.Harness{
		New: func(t *testing.T) maskcall.Store { return open(t, filepath.Join(t.TempDir(), "maskcall.db")) },
		Reopen: func(t *testing.T, s maskcall.Store) maskcall.Store {
			return MustOpenDBAt(t, s.(*DB).Path())
		},
		Routes: func(t *testing.T, s maskcall.Store) maskcall.RouteStore {
			ix := routeindex.New(s.(*DB), nil)
			if err := ix.Load(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(ix.Close)
			return ix
		},
		MarkCallsOlder: markCallsOlder,
	})
}
