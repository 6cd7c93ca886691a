package sqlite

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// Driver errors reach users as words with a reason, never as the driver's
// text ("attempt to write a readonly database (8)", "database is locked
// (5) (SQLITE_BUSY)"), which stays in the chain for logs.
func TestFormatError_StoreFailuresInWords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	MustOpenDBAt(t, path)

	t.Run("ReadOnly", func(t *testing.T) {
		// A query_only connection refuses writes with SQLITE_READONLY, as a
		// file this user may not write does (root ignores file modes, so
		// the test cannot rely on chmod).
		ro, err := sql.Open("sqlite", dsn(path, "_pragma=query_only(1)"))
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		_, raw := ro.Exec(`DELETE FROM migrations`)
		if raw == nil || !strings.Contains(raw.Error(), "readonly") {
			t.Fatalf("write on a query_only connection: %v", raw)
		}
		err = formatError(raw)
		assertWords(t, err, maskcall.ESTORE, "readonly", "read-only")
		if !errors.Is(err, raw) {
			t.Error("the driver's error is not kept in the chain")
		}
	})

	t.Run("LockedAtOpen", func(t *testing.T) {
		// The busy error a migration gets when another process holds the
		// write lock for longer than busy_timeout.
		lk, err := sql.Open("sqlite", dsn(path, "_pragma=busy_timeout(0)", "_txlock=immediate"))
		if err != nil {
			t.Fatal(err)
		}
		defer lk.Close()
		hold, err := sql.Open("sqlite", dsn(path, "_txlock=immediate"))
		if err != nil {
			t.Fatal(err)
		}
		defer hold.Close()
		tx, err := hold.Begin()
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		_, raw := lk.Begin()
		if raw == nil {
			t.Fatal("a second writer got the lock")
		}
		db := NewDB(path)
		err = db.openError(raw)
		assertWords(t, err, maskcall.ESTORE, "locked", "locked by another process")
		if !strings.Contains(maskcall.ErrorMessage(err), path) {
			t.Errorf("%q does not say which database", maskcall.ErrorMessage(err))
		}
	})

	t.Run("NotADatabase", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "notes.txt")
		if err := os.WriteFile(bad, []byte(strings.Repeat("not a database\n", 200)), 0o600); err != nil {
			t.Fatal(err)
		}
		err := NewDB(bad).Open()
		assertWords(t, err, maskcall.ECONFIG, "db_open", "is not a maskcall database")
	})
}

func assertWords(t *testing.T, err error, code, reason, words string) {
	t.Helper()
	if got := maskcall.ErrorCode(err); got != code {
		t.Errorf("code %q, want %q (%v)", got, code, err)
	}
	if got := maskcall.ErrorReason(err); got != reason {
		t.Errorf("reason %q, want %q", got, reason)
	}
	msg := maskcall.ErrorMessage(err)
	if !strings.Contains(msg, words) {
		t.Errorf("message %q does not say %q", msg, words)
	}
	for _, raw := range []string{"(8)", "(5)", "(26)", "SQLITE_", "attempt to write", "file is not a database"} {
		if strings.Contains(msg, raw) {
			t.Errorf("message %q shows the driver's text %q", msg, raw)
		}
	}
}
