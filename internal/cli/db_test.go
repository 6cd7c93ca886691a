package cli

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maskcall/maskcall/internal/sqlite"
)

// createDB creates the installation's database, as a first `numbers
// provision` would: commands that only read refuse a missing one.
func (e *testEnv) createDB() {
	e.t.Helper()
	db := sqlite.NewDB(e.DB)
	if err := db.Open(); err != nil {
		e.t.Fatal(err)
	}
	db.Close()
}

// Which commands may create a missing database: those that write do, the
// others refuse and create nothing, and numbers search needs none.
func TestFactory_MissingDatabase(t *testing.T) {
	e := newTestEnv(t)
	for _, args := range [][]string{
		{"numbers", "list"}, {"numbers", "configure"}, {"numbers", "release", "+447700900001"},
		{"conversation", "list"}, {"conversation", "show", "c_1"}, {"conversation", "end", "c_1"},
		{"conversation", "notify", "c_1"},
	} {
		r := e.run(args...)
		if r.Code != exitConfig || !strings.Contains(r.Stderr, "There is no database at "+e.DB+" (db from env MASKCALL_DB).") {
			t.Errorf("maskcall %s: exit %d, stderr %q; want the missing database named (exit 3)", strings.Join(args, " "), r.Code, r.Stderr)
		}
		if _, err := os.Stat(e.DB); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("maskcall %s created the database", strings.Join(args, " "))
		}
	}
	e.must("numbers", "search", "--country", "GB")
	if _, err := os.Stat(e.DB); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("numbers search created the database")
	}
	e.must("numbers", "reconcile")
	if _, err := os.Stat(e.DB); err != nil {
		t.Fatalf("numbers reconcile, which writes, did not create the database: %v", err)
	}
	e.must("numbers", "list")
}

// Every command is classified on purpose: a new command reads unless it
// is listed, and every listed one exists.
func TestFactory_CommandDBListNamesCommands(t *testing.T) {
	io, _, _ := TestIO()
	root := NewCmdRoot(NewFactory(io))
	for path := range commandDB {
		if c, _, err := root.Find(strings.Fields(path)); err != nil || c.CommandPath() != "maskcall "+path {
			t.Errorf("commandDB lists %q, which is not a command", path)
		}
	}
}

// serve's announcement hides a PostgreSQL password; SQLite paths are made
// absolute.
func TestDisplayDB(t *testing.T) {
	if got := displayDB("postgres://app:s3cret@db/maskcall"); strings.Contains(got, "s3cret") {
		t.Errorf("displayDB shows the password: %s", got)
	}
	if got := displayDB("rel/m.db"); !filepath.IsAbs(got) {
		t.Errorf("displayDB(rel/m.db) = %s, want an absolute path", got)
	}
}
