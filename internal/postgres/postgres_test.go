package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/postgres/pgtest"
)

// t0 is the tests' "now"; times are explicit so nothing depends on the clock.
// It has microseconds, PostgreSQL's precision, so stored times equal it.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 600000, time.UTC)

// Real numbers of participants, and a pool number.
const (
	alice = "+447700900123"
	bob   = "+447700900456"
	gb1   = "+447000000001"
)

// MustCreateSchema returns the URL of a schema of the test's own.
func MustCreateSchema(tb testing.TB) string {
	tb.Helper()
	return pgtest.Schema(tb)
}

// MustOpenDB opens a store on a schema of the test's own.
func MustOpenDB(tb testing.TB) *DB {
	tb.Helper()
	return MustOpenDBAt(tb, MustCreateSchema(tb))
}

// MustOpenDBAt opens a store on url and closes it when the test ends.
func MustOpenDBAt(tb testing.TB, url string) *DB {
	tb.Helper()
	db := NewDB(url)
	db.Now = func() time.Time { return t0 }
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
// conversations using the number, counted from participants, and that
// participants' active flag mirrors their conversation's status.
func assertCounters(tb testing.TB, db *DB) {
	tb.Helper()
	ctx := context.Background()
	rows, err := db.pool.Query(ctx, `SELECT n.number, n.active_conversations,
		(SELECT COUNT(DISTINCT p.conversation_id) FROM participants p WHERE p.proxy_number = n.number AND p.active)
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
	var mismatched int
	if err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM participants p JOIN conversations c ON c.id = p.conversation_id
		WHERE p.active <> (c.status = 'active')`).Scan(&mismatched); err != nil {
		tb.Fatal(err)
	} else if mismatched != 0 {
		tb.Errorf("%d participants' active flag disagrees with their conversation", mismatched)
	}
}

func TestIsURL(t *testing.T) {
	for in, want := range map[string]bool{
		"postgres://u@h/db":             true,
		"postgresql://u@h/db":           true,
		"POSTGRES://u@h/db":             true,
		"/var/lib/maskcall/maskcall.db": false,
		"maskcall.db":                   false,
		"postgres.db":                   false,
		"":                              false,
	} {
		if got := IsURL(in); got != want {
			t.Errorf("IsURL(%q) = %v", in, got)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://alice:s3cret@db.example.com:6432/maskcall?sslmode=require&password=other": "postgres://alice@db.example.com:6432/maskcall",
		"postgresql://alice@db.example.com/maskcall":                                          "postgres://alice@db.example.com:5432/maskcall",
		"postgres://al:ice:s3cret@[::1/x":                                                     "postgres://…",
	} {
		got := Redact(in)
		if got != want || strings.Contains(got, "s3cret") {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDB_Open(t *testing.T) {
	ctx := context.Background()

	t.Run("Migrations", func(t *testing.T) {
		url := MustCreateSchema(t)
		names, err := fs.Glob(migrationFS, "migration/*.sql")
		if err != nil || len(names) == 0 {
			t.Fatalf("embedded migrations: %v %v", names, err)
		}
		var want []string
		for _, n := range names {
			want = append(want, path.Base(n))
		}
		sort.Strings(want)

		applied := func(db *DB) map[string]time.Time {
			rows, err := db.pool.Query(ctx, `SELECT name, applied_at FROM migrations ORDER BY name`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			m := map[string]time.Time{}
			var got []string
			for rows.Next() {
				var name string
				var at time.Time
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

		db := NewDB(url)
		db.Now = func() time.Time { return t0 }
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		first := applied(db)
		for _, table := range []string{"numbers", "conversations", "participants", "pairings", "interactions", "interaction_events"} {
			var n int
			if err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM information_schema.tables
				WHERE table_schema = current_schema() AND table_name = $1`, table).Scan(&n); err != nil || n != 1 {
				t.Fatalf("table %s: %d %v", table, n, err)
			}
		}
		if applied, embedded, err := db.Migrations(ctx); err != nil || strings.Join(applied, ",") != strings.Join(embedded, ",") {
			t.Fatalf("Migrations() = %v, %v, %v", applied, embedded, err)
		}
		db.Close()

		// Reopening re-runs nothing: the recorded times are the first run's.
		db = NewDB(url)
		db.Now = func() time.Time { return t0.Add(time.Hour) }
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		second := applied(db)
		for name, at := range first {
			if !second[name].Equal(at) {
				t.Errorf("migration %s re-applied: %s then %s", name, at, second[name])
			}
		}
	})

	t.Run("ConcurrentOpens", func(t *testing.T) {
		// Replicas starting together on a new database: each migration is
		// applied once and every one of them opens.
		url := MustCreateSchema(t)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				db := NewDB(url)
				if err := db.Open(); err != nil {
					errs <- err
					return
				}
				db.Close()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		db := MustOpenDBAt(t, url)
		var n int
		if err := db.pool.QueryRow(ctx, `SELECT COUNT(*) FROM migrations`).Scan(&n); err != nil || n != len(mustGlob(t)) {
			t.Fatalf("%d migrations recorded, %v", n, err)
		}
	})

	t.Run("ErrNewerSchema", func(t *testing.T) {
		url := MustCreateSchema(t)
		db := MustOpenDBAt(t, url)
		if _, err := db.pool.Exec(ctx, `INSERT INTO migrations (name, applied_at) VALUES ('9999_future.sql', now())`); err != nil {
			t.Fatal(err)
		}
		db2 := NewDB(url)
		err := db2.Open()
		assertCode(t, err, maskcall.ECONFIG)
		if !strings.Contains(err.Error(), "newer maskcall") {
			t.Errorf("err = %v", err)
		}
		if db2.pool != nil {
			t.Error("a refused store stays open")
		}
	})

	t.Run("ErrUnreachable", func(t *testing.T) {
		// Nothing listens on port 1: ESTORE, and the password is not shown.
		db := NewDB("postgres://u:s3cret@127.0.0.1:1/x?connect_timeout=2")
		err := db.Open()
		assertCode(t, err, maskcall.ESTORE)
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error shows the password: %v", err)
		}
	})

	t.Run("ErrBadURL", func(t *testing.T) {
		err := NewDB("postgres://u:s3cret@host:notaport/x").Open()
		assertCode(t, err, maskcall.ECONFIG)
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("error shows the password: %v", err)
		}
	})
}

func mustGlob(tb testing.TB) []string {
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		tb.Fatal(err)
	}
	return names
}

// A server that goes away under the store: calls fail ESTORE (not
// EINTERNAL) while it is gone, and the pool reconnects by itself once it is
// back. The "outage" ends the store's sessions with pg_terminate_backend, on
// this test's schema only: the server is shared with other tests.
func TestDB_Reconnect(t *testing.T) {
	ctx := context.Background()
	url := MustCreateSchema(t)
	db := MustOpenDBAt(t, url)
	MustCreateNumber(t, db, gb1, "GB")
	c := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))

	pids := poolPIDs(t, db)
	admin := MustOpenDBAt(t, url)
	var killed int
	if err := admin.pool.QueryRow(ctx, `SELECT COUNT(*) FROM unnest($1::int[]) AS p(pid) WHERE pg_terminate_backend(pid)`,
		pids).Scan(&killed); err != nil || killed != len(pids) || killed == 0 {
		t.Fatalf("terminated %d of %d sessions: %v", killed, len(pids), err)
	}
	// Every connection the pool holds is dead. The route lookup, which a
	// call waits on, retries on a new connection by itself: one call
	// succeeds.
	if r, err := db.FindRoute(ctx, alice, gb1, t0); err != nil || r.ConversationID != c.ID {
		t.Fatalf("lookup after the outage: %v, %v", r, err)
	}
	// So do the writes a call makes, which are idempotent.
	terminate := func() {
		t.Helper()
		if err := admin.pool.QueryRow(ctx, `SELECT COUNT(*) FROM unnest($1::int[]) AS p(pid) WHERE pg_terminate_backend(pid)`,
			poolPIDs(t, db)).Scan(&killed); err != nil || killed == 0 {
			t.Fatalf("terminated %d: %v", killed, err)
		}
	}
	terminate()
	call := &maskcall.Call{UUID: "leg-1", ConversationUUID: "CON-1", ConversationID: c.ID, From: alice, To: gb1, Status: "started"}
	if err := db.CreateCall(ctx, call, t0); err != nil {
		t.Fatalf("CreateCall after the outage: %v", err)
	}
	terminate()
	if ok, err := db.RecordCallEvent(ctx, maskcall.CallEvent{UUID: "leg-1", Status: "answered", Timestamp: t0}, t0); err != nil || !ok {
		t.Fatalf("RecordCallEvent after the outage: %v %v", ok, err)
	}
	if calls, err := db.FindCalls(ctx, c.ID); err != nil || len(calls) != 1 || calls[0].Status != "answered" {
		t.Errorf("calls after the outage: %+v, %v", calls, err)
	}
	// Other calls may fail once with ESTORE (never another code) while the
	// pool replaces dead connections, then succeed.
	pids = poolPIDs(t, db)
	if err := admin.pool.QueryRow(ctx, `SELECT COUNT(*) FROM unnest($1::int[]) AS p(pid) WHERE pg_terminate_backend(pid)`,
		pids).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := db.FindConversationByID(ctx, c.ID, t0)
		if err == nil {
			break
		}
		if code := maskcall.ErrorCode(err); code != maskcall.ESTORE {
			t.Fatalf("read after the outage: %s: %v", code, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reconnect: %v", err)
		}
	}
	if _, err := db.EndConversation(ctx, c.ID, "", t0); err != nil {
		t.Fatal(err)
	}
}

// poolPIDs returns the server process ids of db's idle connections.
func poolPIDs(tb testing.TB, db *DB) []int32 {
	tb.Helper()
	var pids []int32
	for _, c := range db.pool.AcquireAllIdle(context.Background()) {
		pids = append(pids, int32(c.Conn().PgConn().PID()))
		c.Release()
	}
	return pids
}

func TestFormatError(t *testing.T) {
	if err := formatError(errors.New("x")); maskcall.ErrorCode(err) != maskcall.EINTERNAL {
		t.Errorf("plain error: %v", maskcall.ErrorCode(err))
	}
	if err := formatError(context.Canceled); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: %v", err)
	}
	if formatError(nil) != nil {
		t.Error("nil")
	}
}

// Replicas sweep expiry at the same time: each expired conversation is
// ended once (by one of them), counters stay right, and the sweeps' counts
// add up to the number that expired.
func TestDB_ExpireConversations_Replicas(t *testing.T) {
	ctx := context.Background()
	url := MustCreateSchema(t)
	dbs := []*DB{MustOpenDBAt(t, url), MustOpenDBAt(t, url), MustOpenDBAt(t, url)}
	for i := range 4 {
		MustCreateNumber(t, dbs[0], fmt.Sprintf("+4470000000%02d", i), "GB")
	}
	const n = 300
	for i := range n {
		MustCreateConversation(t, dbs[i%3], t0, time.Minute,
			gb(fmt.Sprintf("+44770090%04d", i), "a"), gb(fmt.Sprintf("+44770091%04d", i), "b"))
	}
	sweep := t0.Add(time.Hour)
	var wg sync.WaitGroup
	counts := make([]int, len(dbs)*2)
	errs := make([]error, len(dbs)*2)
	for i := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], errs[i] = dbs[i%len(dbs)].ExpireConversations(ctx, sweep)
		}()
	}
	wg.Wait()
	total := 0
	for i := range counts {
		if errs[i] != nil {
			t.Fatalf("sweep %d: %v", i, errs[i])
		}
		total += counts[i]
	}
	t.Logf("sweeps ended %v", counts)
	if total != n {
		t.Fatalf("sweeps ended %d conversations in all, want %d (each exactly once)", total, n)
	}
	var ended int
	if err := dbs[0].pool.QueryRow(ctx, `SELECT COUNT(*) FROM conversations WHERE status = 'ended' AND end_reason = 'expired'`).Scan(&ended); err != nil || ended != n {
		t.Fatalf("%d ended, %v", ended, err)
	}
	assertCounters(t, dbs[1])
}

// TestDB_PoolSize: the pool is MaxConns (serve sets it), a small default
// without, and the URL's pool_max_conns, the operator's, beats both.
func TestDB_PoolSize(t *testing.T) {
	url := MustCreateSchema(t)
	for _, tc := range []struct {
		url      string
		maxConns int32
		want     int32
	}{
		{url, 0, int32(max(4, runtime.GOMAXPROCS(0)))},
		{url, 16, 16},
		{url + "&pool_max_conns=7", 16, 7},
		{url + "&pool_max_conns=7", 0, 7},
	} {
		db := NewDB(tc.url)
		db.MaxConns = tc.maxConns
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		if got := db.Pool().Config().MaxConns; got != tc.want {
			t.Errorf("MaxConns %d, URL %s: pool of %d, want %d", tc.maxConns, Redact(tc.url), got, tc.want)
		}
		db.Close()
	}
}
