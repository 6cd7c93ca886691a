package cli

import (
	"testing"

	"github.com/maskcall/maskcall/internal/postgres"
	"github.com/maskcall/maskcall/internal/postgres/pgtest"
)

// serve's PostgreSQL pool is servePoolSize (its answers wait on commits,
// which PostgreSQL flushes together), the CLI's the store's small default.
func TestServePostgresPool(t *testing.T) {
	url := pgtest.Schema(t)
	newTestEnv(t)
	t.Setenv("MASKCALL_DB", url)
	for _, tc := range []struct {
		name  string
		serve bool
		want  int32
	}{{"serve", true, servePoolSize}, {"cli", false, postgres.NewDB(url).MaxConns}} {
		io, _, _ := TestIO()
		f := NewFactory(io)
		var err error
		if tc.serve {
			_, err = f.ServeDB()
		} else {
			_, err = f.DB()
		}
		if err != nil {
			t.Fatal(err)
		}
		db := f.db.(*postgres.DB)
		got := db.Pool().Config().MaxConns
		if tc.serve && got != tc.want || !tc.serve && got >= servePoolSize {
			t.Errorf("%s: pool of %d (want %d for serve, less for the CLI)", tc.name, got, servePoolSize)
		}
		db.Close()
	}
}
