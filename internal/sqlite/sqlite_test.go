package sqlite

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// t0 is the tests' "now"; times are explicit so nothing depends on the clock.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 600, time.UTC)

// MustOpenDB opens a store on a new file in a fresh temporary directory.
func MustOpenDB(tb testing.TB) *DB {
	tb.Helper()
	return MustOpenDBAt(tb, filepath.Join(tb.TempDir(), "data", "maskcall.db"))
}

// MustOpenDBAt opens a store on path and closes it when the test ends.
func MustOpenDBAt(tb testing.TB, path string) *DB {
	tb.Helper()
	db := NewDB(path)
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

// MustCreateNumber adds an active pool number.
func MustCreateNumber(tb testing.TB, db *DB, number, country string) *maskcall.Number {
	tb.Helper()
	n := &maskcall.Number{Number: number, Country: country, Type: "mobile-lvn",
		Features: []string{"VOICE", "SMS"}, Status: maskcall.NumberActive, AppID: "app"}
	if err := db.CreateNumber(context.Background(), n, t0); err != nil {
		tb.Fatal(err)
	}
	return n
}

// MustCreateConversation creates a conversation between a and b at now,
// expiring after ttl (never if 0).
func MustCreateConversation(tb testing.TB, db *DB, now time.Time, ttl time.Duration, a, b maskcall.Participant) *maskcall.Conversation {
	tb.Helper()
	c, err := createConv(db, now, ttl, a, b)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func createConv(db *DB, now time.Time, ttl time.Duration, a, b maskcall.Participant) (*maskcall.Conversation, error) {
	c := &maskcall.Conversation{Ref: "ref", Participants: []maskcall.Participant{a, b}}
	if ttl > 0 {
		exp := now.Add(ttl)
		c.ExpiresAt = &exp
	}
	return c, db.CreateConversation(context.Background(), c, nil, now)
}

// gb and us build participants.
func gb(number, label string) maskcall.Participant {
	return maskcall.Participant{Number: number, Country: "GB", Label: label}
}

func us(number, label string) maskcall.Participant {
	return maskcall.Participant{Number: number, Country: "US", Label: label}
}

// assertCode fails unless err carries code.
func assertCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := maskcall.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

// counter returns a pool number's active-conversation counter.
func counter(tb testing.TB, db *DB, number string) int {
	tb.Helper()
	n, err := db.FindNumber(context.Background(), number, t0)
	if err != nil {
		tb.Fatal(err)
	}
	return n.ActiveConversations
}

// assertCounters checks every counter equals the number of active
// conversations using the number, counted from participants.
func assertCounters(tb testing.TB, db *DB) {
	tb.Helper()
	rows, err := db.rdb.Query(`SELECT n.number, n.active_conversations,
		(SELECT COUNT(DISTINCT p.conversation_id) FROM participants p WHERE p.proxy_number = n.number AND p.active = 1)
		FROM numbers n`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var number string
		var got, want int
		if err := rows.Scan(&number, &got, &want); err != nil {
			tb.Fatal(err)
		}
		if got != want {
			tb.Errorf("%s: active_conversations = %d, want %d", number, got, want)
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	// Participants' active flag mirrors their conversation's status.
	var mismatched int
	if err := db.rdb.QueryRow(`SELECT COUNT(*) FROM participants p JOIN conversations c ON c.id = p.conversation_id
		WHERE p.active <> (c.status = 'active')`).Scan(&mismatched); err != nil {
		tb.Fatal(err)
	} else if mismatched != 0 {
		tb.Errorf("%d participants' active flag disagrees with their conversation", mismatched)
	}
}

func TestDB_Open(t *testing.T) {
	t.Run("Migrations", func(t *testing.T) {
		// An existing empty file, as a user might create, gets every migration.
		path := filepath.Join(t.TempDir(), "maskcall.db")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		names, err := fs.Glob(migrationFS, "migration/*.sql")
		if err != nil || len(names) == 0 {
			t.Fatalf("embedded migrations: %v %v", names, err)
		}
		var want []string
		for _, n := range names {
			want = append(want, filepath.Base(n))
		}
		sort.Strings(want)

		applied := func(db *DB) map[string]string {
			rows, err := db.wdb.Query(`SELECT name, applied_at FROM migrations ORDER BY name`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			m := map[string]string{}
			var got []string
			for rows.Next() {
				var name, at string
				if err := rows.Scan(&name, &at); err != nil {
					t.Fatal(err)
				}
				m[name] = at
				got = append(got, name)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("applied migrations = %v, want %v", got, want)
			}
			return m
		}

		db := NewDB(path)
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		first := applied(db)
		for _, table := range []string{"numbers", "conversations", "participants", "pairings", "interactions", "interaction_events"} {
			var n int
			if err := db.wdb.QueryRow(`SELECT COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = ?`, table).Scan(&n); err != nil || n != 1 {
				t.Fatalf("table %s: %d %v", table, n, err)
			}
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		// Reopening re-runs nothing: the recorded times are the first run's.
		db = NewDB(path)
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		second := applied(db)
		for name, at := range first {
			if second[name] != at {
				t.Errorf("migration %s re-applied: %s then %s", name, at, second[name])
			}
		}
	})

	t.Run("FileMode", func(t *testing.T) {
		// Not the umask: with none at all, the files are still private.
		old := syscall.Umask(0)
		defer syscall.Umask(old)

		dir := filepath.Join(t.TempDir(), "new", "dir")
		path := filepath.Join(dir, "maskcall.db")
		db := MustOpenDBAt(t, path)
		MustCreateNumber(t, db, "+447700900001", "GB") // a write, so the WAL exists

		// While the store is open in WAL mode, the -wal and -shm files exist.
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if mode := fi.Mode().Perm(); mode != 0o600 {
				t.Errorf("%s: mode %v, want 0600", filepath.Base(p), mode)
			}
		}
		for _, d := range []string{dir, filepath.Dir(dir)} {
			if fi, err := os.Stat(d); err != nil {
				t.Fatal(err)
			} else if mode := fi.Mode().Perm(); mode != 0o700 {
				t.Errorf("created directory %s: mode %v, want 0700", d, mode)
			}
		}
	})

	t.Run("ExistingFilesAreTightened", func(t *testing.T) {
		old := syscall.Umask(0)
		defer syscall.Umask(old)
		// A shared directory (like /tmp) holding a copy made world-readable,
		// with a WAL and shared-memory file left by an earlier run.
		shared := filepath.Join(t.TempDir(), "shared")
		if err := os.Mkdir(shared, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(shared, 0o777|os.ModeSticky); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(shared, "maskcall.db")
		seed := MustOpenDBAt(t, path)
		MustCreateNumber(t, seed, "+447700900001", "GB")
		seed.Close()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			// Close may have removed -wal and -shm: leave empty ones.
			if _, err := os.Stat(p); os.IsNotExist(err) {
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}

		db := NewDB(path)
		var warnings []string
		db.Warn = func(msg string) { warnings = append(warnings, msg) }
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		MustCreateNumber(t, db, "+447700900002", "GB")
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if mode := fi.Mode().Perm(); mode != 0o600 {
				t.Errorf("%s: mode %v, want 0600", filepath.Base(p), mode)
			}
		}
		if len(warnings) != 3 || !strings.Contains(warnings[0], "0644") || !strings.Contains(warnings[0], path) {
			t.Errorf("warnings = %q, want one for each of the three files, naming it and its old mode", warnings)
		}
		if fi, err := os.Stat(shared); err != nil {
			t.Fatal(err)
		} else if fi.Mode().Perm() != 0o777 {
			t.Errorf("the shared directory's mode was changed to %v", fi.Mode().Perm())
		}

		// Private already: nothing to say.
		db.Close()
		again := NewDB(path)
		again.Warn = func(msg string) { t.Errorf("warned about a private database: %s", msg) }
		if err := again.Open(); err != nil {
			t.Fatal(err)
		}
		again.Close()
	})

	t.Run("WAL", func(t *testing.T) {
		db := MustOpenDB(t)
		var mode string
		if err := db.rdb.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		} else if mode != "wal" {
			t.Fatalf("journal_mode = %q", mode)
		}
		var fk int
		if err := db.wdb.QueryRow(`PRAGMA foreign_keys`).Scan(&fk); err != nil || fk != 1 {
			t.Fatalf("foreign_keys = %d, %v", fk, err)
		}
		// The read pool cannot write.
		if _, err := db.rdb.Exec(`DELETE FROM numbers`); err == nil {
			t.Fatal("read pool accepted a write")
		}
	})

	t.Run("PathWithSpecialCharacters", func(t *testing.T) {
		db := MustOpenDBAt(t, filepath.Join(t.TempDir(), "a dir?#%", "mask call.db"))
		MustCreateNumber(t, db, "+447700900001", "GB")
	})

	t.Run("ErrNewerSchema", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "maskcall.db")
		db := NewDB(path)
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		if _, err := db.wdb.Exec(`INSERT INTO migrations (name, applied_at) VALUES ('9999_future.sql', '')`); err != nil {
			t.Fatal(err)
		}
		db.Close()
		db = NewDB(path)
		err := db.Open()
		assertCode(t, err, maskcall.ECONFIG)
		db.Close()
	})

	t.Run("ErrNoPath", func(t *testing.T) {
		assertCode(t, NewDB("").Open(), maskcall.ECONFIG)
	})
}

// Two stores on one file stand for the CLI and `maskcall serve`: writes from
// both, from many goroutines, all succeed.
func TestDB_ConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maskcall.db")
	dbs := []*DB{MustOpenDBAt(t, path), MustOpenDBAt(t, path)}
	ctx := context.Background()
	MustCreateNumber(t, dbs[0], "+447700900001", "GB")

	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := range 20 {
		for d, db := range dbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 10 {
					num := fmt.Sprintf("+1555%02d%d%03d", g, d, i)
					n := &maskcall.Number{Number: num, Country: "US", Status: maskcall.NumberPurchasing}
					if err := db.CreateNumber(ctx, n, t0); err != nil {
						errs <- err
						return
					}
					st := maskcall.NumberActive
					if _, err := db.UpdateNumber(ctx, num, maskcall.NumberUpdate{Status: &st}, t0); err != nil {
						errs <- err
						return
					}
					if _, err := db.FindNumbers(ctx, maskcall.NumberFilter{}, t0); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	ns, err := dbs[1].FindNumbers(ctx, maskcall.NumberFilter{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 1+20*2*10 {
		t.Fatalf("%d numbers, want %d", len(ns), 1+20*2*10)
	}
}

// MustCreateCall creates a conversation and an inbound call in it.
func MustCreateCall(tb testing.TB, db *DB) (*maskcall.Conversation, *maskcall.Call) {
	tb.Helper()
	MustCreateNumber(tb, db, gb1, "GB")
	conv := MustCreateConversation(tb, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
	started := t0
	call := &maskcall.Call{UUID: "in-leg", ConversationUUID: "CON-1", ConversationID: conv.ID,
		From: alice, To: gb1, Status: "started", StartedAt: &started}
	if err := db.CreateCall(context.Background(), call, t0); err != nil {
		tb.Fatal(err)
	}
	return conv, call
}

func mustFindCall(tb testing.TB, db *DB, conversationID string) *maskcall.Call {
	tb.Helper()
	calls, err := db.FindCalls(context.Background(), conversationID)
	if err != nil {
		tb.Fatal(err)
	} else if len(calls) != 1 {
		tb.Fatalf("%d calls", len(calls))
	}
	return calls[0]
}

func countEvents(tb testing.TB, db *DB) int {
	tb.Helper()
	var n int
	if err := db.rdb.QueryRow(`SELECT COUNT(*) FROM interaction_events`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}
