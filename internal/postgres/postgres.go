// Package postgres implements maskcall.Store on PostgreSQL with pgx
// (pgxpool), for deployments that run several `maskcall serve` replicas
// behind a load balancer, with the CLI writing at the same time.
//
// Every replica and CLI is a client of one database, so nothing here relies
// on being the only writer:
//
//   - allocation uniqueness is the unique partial index on the active
//     (number, proxy_number) key; a create that loses a race to another
//     writer fails on it, and is retried from the start in a new transaction
//     that sees the winner's rows, so the loser gets another number or
//     EEXHAUSTED, never the raw violation;
//   - serialization failures and deadlocks (two transactions touching the
//     same pool counters in different orders) are retried the same way;
//   - work that must happen once is claimed with row locks (the expiry sweep
//     takes due conversations FOR UPDATE SKIP LOCKED, so two replicas sweep
//     disjoint sets);
//   - the route feed's version is one row that every transaction changing
//     a route updates, and holds until commit (migration 0018), so route
//     versions follow commit order across replicas; such transactions take
//     it after their key inserts and conversation row locks and before the
//     pool counters, so waiting for it does not deadlock (a create whose
//     expiry step took it and whose key then races another create's is
//     the exception, broken by PostgreSQL's deadlock check and retried);
//   - a connection lost to a restart or failover is replaced by the pool on
//     the next use; errors meaning "the server is not there" are ESTORE, so
//     callers can tell them from bugs and retry or answer 503.
//
// Times are stored as timestamptz, truncated to microseconds (PostgreSQL's
// precision) before they are stored and returned, so what a method returns
// is what a later read sees.
package postgres

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/maskcall/maskcall/internal/maskcall"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// connectTimeout bounds establishing one connection when the URL sets none,
// so a server that is down is reported in seconds, not after the kernel's
// TCP timeout.
const connectTimeout = 5 * time.Second

// maxAttempts bounds how often a transaction that lost a race (unique key,
// serialization failure, deadlock) is retried. Each retry sees the winners'
// commits, so a create converges long before this.
const maxAttempts = 20

// IsURL reports whether db names a PostgreSQL database (a postgres:// or
// postgresql:// URL) rather than a SQLite file path.
func IsURL(db string) bool {
	l := strings.ToLower(db)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// DB is the PostgreSQL store. Create it with NewDB, then Open it.
type DB struct {
	url  string
	pool *pgxpool.Pool

	// Now returns the current time; it stamps rows whose methods take no
	// explicit time (numbers, calls, migrations). Tests replace it.
	Now func() time.Time

	// MaxConns is the pool's size; 0 means max(4, GOMAXPROCS). A
	// pool_max_conns in the URL overrides it.
	MaxConns int32

	// onCallback is the delivery worker's wake-up (OnCallback).
	onCallback atomic.Pointer[func()]

	// calls batches queued call records (QueueCall, callqueue.go).
	calls *callQueue

	// watchers hear of the route changes this store commits
	// (routewatch.go).
	watchers routeWatchers
}

var (
	_ maskcall.Store     = (*DB)(nil)
	_ maskcall.CallQueue = (*DB)(nil)
)

// NewDB returns a store for the database at url (postgres://...). Open must
// be called before use.
func NewDB(url string) *DB {
	return &DB{url: url, Now: time.Now}
}

// Name describes the database for messages: the URL without its password
// or query.
func (db *DB) Name() string { return Redact(db.url) }

// Redact returns a PostgreSQL URL fit for logs and messages: user, host,
// port and database, never the password or the query (which may carry one).
func Redact(url string) string {
	cfg, err := pgconn.ParseConfig(url)
	if err != nil {
		// Unparsable: show only the scheme, the rest may hold a secret.
		if i := strings.Index(url, "://"); i >= 0 {
			return url[:i+3] + "…"
		}
		return "a PostgreSQL URL"
	}
	user := ""
	if cfg.User != "" {
		user = cfg.User + "@"
	}
	return fmt.Sprintf("postgres://%s%s/%s", user, net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)), cfg.Database)
}

// Open connects (the pool dials lazily afterwards, and replaces connections
// lost to a restart by itself), then applies pending migrations. ECONFIG if
// the URL is malformed or the schema is newer than this binary; ESTORE if
// the server cannot be reached.
func (db *DB) Open() error {
	if db.pool != nil {
		return maskcall.Errorf(maskcall.EINTERNAL, "The database %s is already open.", db.Name())
	}
	if db.Now == nil {
		db.Now = time.Now
	}
	cfg, err := pgxpool.ParseConfig(db.url)
	if err != nil {
		// pgx's message can quote the URL, password included: not shown.
		return maskcall.Errorf(maskcall.ECONFIG, "The database URL %s is not a valid PostgreSQL URL.", db.Name())
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	// The URL's pool_max_conns, when given, is the operator's choice and
	// wins; else MaxConns; else a small pool.
	if !strings.Contains(strings.ToLower(db.url), "pool_max_conns=") {
		cfg.MaxConns = db.MaxConns
		if cfg.MaxConns <= 0 {
			cfg.MaxConns = int32(max(4, runtime.GOMAXPROCS(0)))
		}
	}
	// Every session stamps and compares in UTC; nothing depends on the
	// server's TimeZone setting.
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.ConnConfig.RuntimeParams["application_name"] = "maskcall"

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return db.openError(err)
	}
	db.pool = pool
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return err
	}
	db.calls = startCallQueue(db)
	return nil
}

// Close writes the call records still queued, then closes the pool. It is
// safe to call on a store that failed to open.
func (db *DB) Close() error {
	if db.calls != nil {
		db.calls.close() // kept: a record queued later is refused
	}
	if db.pool != nil {
		db.pool.Close()
		db.pool = nil
	}
	return nil
}

// Pool returns the connection pool (db copy, readiness and metrics use it).
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

func (db *DB) openError(err error) error {
	if code := maskcall.ErrorCode(err); code != maskcall.EINTERNAL {
		return err
	}
	if e := formatError(err); maskcall.ErrorCode(e) == maskcall.ESTORE {
		return &maskcall.Error{Code: maskcall.ESTORE, Err: err,
			Message: fmt.Sprintf("The database %s could not be reached: %v.", db.Name(), errorText(err))}
	}
	return &maskcall.Error{Code: maskcall.ECONFIG, Err: err,
		Message: fmt.Sprintf("The database %s could not be opened: %v.", db.Name(), errorText(err))}
}

// errorText is err's message on one line without a trailing period. For a
// failed connection it is the cause alone ("connect: connection refused"):
// pgx lists every address it tried, over several lines.
func errorText(err error) string {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		// The last address's cause: down through single and joined errors,
		// stopping at the server's own refusal if there is one.
		err = ce.Unwrap()
		for {
			if _, ok := err.(*pgconn.PgError); ok {
				break
			}
			var next error
			switch u := err.(type) {
			case interface{ Unwrap() []error }:
				if errs := u.Unwrap(); len(errs) > 0 {
					next = errs[len(errs)-1]
				}
			case interface{ Unwrap() error }:
				next = u.Unwrap()
			}
			if next == nil {
				break
			}
			err = next
		}
	}
	return strings.TrimRight(strings.Join(strings.Fields(err.Error()), " "), ".")
}

// migrationLock is the advisory lock key (with the schema's name) under
// which migrations run, so replicas starting together apply each once.
const migrationLock = "maskcall.migrate"

// migrate applies the embedded migrations the database has not had, in name
// order, each in its own transaction under an advisory lock. Migrations are
// forward-only; a database that has migrations this binary does not know
// was written by a newer maskcall and is refused.
func (db *DB) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	known := map[string]bool{}
	for _, name := range names {
		known[path.Base(name)] = true
		if err := db.migrateFile(ctx, name); err != nil {
			return err
		}
	}
	unknown, err := db.unknownMigration(ctx, known)
	if err != nil {
		return db.openError(err)
	}
	if unknown != "" {
		return maskcall.Errorf(maskcall.ECONFIG, "The database %s was written by a newer maskcall (it has migration %s).", db.Name(), unknown).
			WithHint("Upgrade maskcall.")
	}
	return nil
}

// unknownMigration returns the first applied migration not in known, "" if
// none.
func (db *DB) unknownMigration(ctx context.Context, known map[string]bool) (string, error) {
	rows, err := db.pool.Query(ctx, `SELECT name FROM migrations ORDER BY name`)
	if err != nil {
		return "", err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	for _, n := range names {
		if !known[n] {
			return n, nil
		}
	}
	return "", nil
}

// Migrations returns the applied and the embedded migrations' names; the
// schema is current when they are equal (readiness).
func (db *DB) Migrations(ctx context.Context) (applied, embedded []string, err error) {
	if db.pool == nil {
		return nil, nil, errNotOpen
	}
	names, _ := fs.Glob(migrationFS, "migration/*.sql")
	for _, n := range names {
		embedded = append(embedded, path.Base(n))
	}
	sort.Strings(embedded)
	rows, err := db.pool.Query(ctx, `SELECT name FROM migrations ORDER BY name`)
	if err != nil {
		return nil, nil, formatError(err)
	}
	applied, err = pgx.CollectRows(rows, pgx.RowTo[string])
	return applied, embedded, formatError(err)
}

func (db *DB) migrateFile(ctx context.Context, name string) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return db.openError(err)
	}
	defer tx.Rollback(ctx)
	// The lock is per schema, so tests in their own schemas do not wait on
	// each other; it is released at commit.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1 || current_schema()))`, migrationLock); err != nil {
		return db.openError(err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS migrations (
		name       text COLLATE "C" NOT NULL PRIMARY KEY,
		applied_at timestamptz NOT NULL
	)`); err != nil {
		return db.openError(err)
	}
	base := path.Base(name)
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM migrations WHERE name = $1`, base).Scan(&n); err != nil {
		return db.openError(err)
	} else if n > 0 {
		return nil
	}
	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, string(buf)); err != nil {
		return db.openError(fmt.Errorf("migration %s: %w", base, err))
	}
	if _, err := tx.Exec(ctx, `INSERT INTO migrations (name, applied_at) VALUES ($1, $2)`, base, ts(db.Now())); err != nil {
		return db.openError(fmt.Errorf("migration %s: %w", base, err))
	}
	if err := tx.Commit(ctx); err != nil {
		return db.openError(err)
	}
	return nil
}

// Ping checks the database answers (readiness).
func (db *DB) Ping(ctx context.Context) error {
	if db.pool == nil {
		return errNotOpen
	}
	return formatError(db.pool.Ping(ctx))
}

// Tx is a transaction carrying the time its changes are stamped with.
type Tx struct {
	pgx.Tx
	now time.Time
	// target caches whether the deployment has a callback URL
	// (hasTarget); wroteCallback: an event was written, so the delivery
	// worker is woken once this commits.
	target        *bool
	wroteCallback bool
	// routeNeutral: the transaction writes no table a route is read from
	// (call events, callback deliveries, messages), so committing it
	// announces nothing to this process's route index (routewatch.go).
	// Unset, a commit announces a possible change: always safe.
	routeNeutral bool
}

// inTx runs f in a read-committed transaction stamped now (db.Now() if
// zero) and commits it. A transaction that fails because it lost a race
// (retryable) is rolled back and run again, up to maxAttempts times; f must
// therefore start from its inputs each time. One that failed because the
// server went away (a restart, a failover) is run again on a new
// connection for up to unavailableRetryFor when nothing of it reached the
// server, or whenever it failed if idempotent: running it twice has the
// effect of running it once.
func (db *DB) inTx(ctx context.Context, now time.Time, f func(*Tx) error) error {
	return db.runTx(ctx, now, false, f)
}

// inIdempotentTx is inTx for a transaction that may be run twice.
func (db *DB) inIdempotentTx(ctx context.Context, now time.Time, f func(*Tx) error) error {
	return db.runTx(ctx, now, true, f)
}

// unavailableRetryFor bounds how long a write waits for an unreachable
// server to come back: long enough for a restart or a failover's
// reconnect, short enough for the answer webhook's 5 s.
const unavailableRetryFor = 3 * time.Second

func (db *DB) runTx(ctx context.Context, now time.Time, idempotent bool, f func(*Tx) error) error {
	if db.pool == nil {
		return errNotOpen
	}
	if now.IsZero() {
		now = db.Now()
	}
	now = ts(now)
	start := time.Now()
	conflicts, outages := 0, 0
	for {
		err := db.tryTx(ctx, now, f)
		switch {
		case retryable(err):
			if conflicts++; conflicts >= maxAttempts {
				return &maskcall.Error{Code: maskcall.ESTORE, Err: err,
					Message: "The database kept refusing the change because of concurrent changes.",
					Hint:    "Try again."}
			}
			if werr := backoff(ctx, conflicts); werr != nil {
				return err
			}
		case maskcall.ErrorCode(err) == maskcall.ESTORE && (idempotent || pgconn.SafeToRetry(err)) &&
			time.Since(start) < unavailableRetryFor && ctx.Err() == nil:
			outages++
			if werr := sleep(ctx, outageWait(outages)); werr != nil {
				return err
			}
		default:
			return err
		}
	}
}

// outageWait is how long to wait before the nth retry on an unreachable
// server: 20 ms doubling to 250 ms.
func outageWait(n int) time.Duration {
	return min(20*time.Millisecond<<min(n-1, 4), 250*time.Millisecond)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// retryUnavailable runs f, one idempotent statement, again on a new
// connection while it fails ESTORE, for up to unavailableRetryFor.
func retryUnavailable(ctx context.Context, f func() error) error {
	start := time.Now()
	for n := 1; ; n++ {
		err := f()
		if maskcall.ErrorCode(err) != maskcall.ESTORE || time.Since(start) >= unavailableRetryFor || ctx.Err() != nil {
			return err
		}
		if werr := sleep(ctx, outageWait(n)); werr != nil {
			return err
		}
	}
}

func (db *DB) tryTx(ctx context.Context, now time.Time, f func(*Tx) error) error {
	ptx, err := db.pool.Begin(ctx)
	if err != nil {
		return formatError(err)
	}
	defer ptx.Rollback(context.WithoutCancel(ctx))
	tx := &Tx{Tx: ptx, now: now}
	if err := f(tx); err != nil {
		return err
	}
	if err := formatError(ptx.Commit(ctx)); err != nil {
		return err
	}
	if tx.wroteCallback {
		db.notifyCallback()
	}
	// Before the write returns: a route index of this process must not
	// answer from what the change replaced (routewatch.go). A transaction
	// that changed no route only costs the index one version read.
	if !tx.routeNeutral {
		db.watchers.changed()
	}
	return nil
}

// backoff waits a little, more with each attempt, with jitter so racing
// writers spread out.
func backoff(ctx context.Context, attempt int) error {
	var b [1]byte
	rand.Read(b[:])
	return sleep(ctx, time.Duration(attempt)*time.Millisecond+time.Duration(b[0])*20*time.Microsecond)
}

// read runs f in a read-only transaction: one snapshot for all its queries.
func read[T any](ctx context.Context, db *DB, now time.Time, f func(*Tx) (T, error)) (T, error) {
	var zero T
	if db.pool == nil {
		return zero, errNotOpen
	}
	ptx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return zero, formatError(err)
	}
	defer ptx.Rollback(context.WithoutCancel(ctx))
	v, err := f(&Tx{Tx: ptx, now: ts(now)})
	if err != nil {
		return zero, err
	}
	return v, formatError(ptx.Commit(ctx))
}

var errNotOpen = &maskcall.Error{Code: maskcall.EINTERNAL, Message: "The database is not open."}

// PostgreSQL error codes the store acts on.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeCheckViolation       = "23514"
	codeNotNullViolation     = "23502"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

// keyIndex is the unique index guarding active participant keys.
const keyIndex = "participants_key_idx"

// errRetry marks a transaction that lost a race and should run again.
type errRetry struct{ err error }

func (e *errRetry) Error() string { return e.err.Error() }
func (e *errRetry) Unwrap() error { return e.err }

func retryable(err error) bool {
	var r *errRetry
	if errors.As(err, &r) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == codeSerializationFailure || pe.Code == codeDeadlockDetected
	}
	return false
}

// formatError turns driver errors into coded errors: constraint failures
// become ECONFLICT or EINVALID, a server that cannot be reached or went away
// ESTORE. Serialization failures and deadlocks pass through as they are for
// inTx to retry. Other errors pass through (and count as EINTERNAL).
func formatError(err error) error {
	if err == nil {
		return nil
	}
	var me *maskcall.Error
	if errors.As(err, &me) {
		return err
	}
	var ce *pgconn.ConnectError
	var pe *pgconn.PgError
	if errors.As(err, &ce) {
		// No session: the server is down, starting, shutting down, full or
		// refusing this database for now. A refused login or a database
		// that does not exist is a setting to fix, not an outage.
		if errors.As(err, &pe) && (strings.HasPrefix(pe.Code, "28") || pe.Code == "3D000") {
			return err
		}
		return unavailable(err)
	}
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeUniqueViolation:
			return &maskcall.Error{Code: maskcall.ECONFLICT, Err: err, Message: "That already exists."}
		case codeForeignKeyViolation:
			return &maskcall.Error{Code: maskcall.ECONFLICT, Err: err,
				Message: "That is still referred to, or refers to something that does not exist."}
		case codeCheckViolation, codeNotNullViolation:
			return &maskcall.Error{Code: maskcall.EINVALID, Err: err, Message: "A value is out of range."}
		case codeSerializationFailure, codeDeadlockDetected:
			return err
		}
		// Class 08 (connection exception), 57P01-03 (admin shutdown, crash
		// shutdown, cannot connect now), 53 (insufficient resources, e.g.
		// too many connections), 58 (system error, e.g. I/O).
		if strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") ||
			strings.HasPrefix(pe.Code, "53") || strings.HasPrefix(pe.Code, "58") {
			return unavailable(err)
		}
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	// Anything else from the driver below the protocol level (refused,
	// reset, closed, timed out dialling) means the server is not there.
	var ne net.Error
	if errors.As(err, &ne) || pgconn.SafeToRetry(err) || pgconn.Timeout(err) ||
		strings.Contains(err.Error(), "conn closed") || strings.Contains(err.Error(), "unexpected EOF") {
		return unavailable(err)
	}
	return err
}

func unavailable(err error) error {
	return &maskcall.Error{Code: maskcall.ESTORE, Err: err,
		Message: "The database could not be reached.",
		Hint:    "Try again."}
}

// ts is t as the store keeps it: UTC, microseconds.
func ts(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// tsPtr is ts for an optional time.
func tsPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := ts(*t)
	return &v
}

// utcPtr returns a scanned optional time in UTC.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// newID returns a conversation ID: "cv_" and 12 random base32 characters
// (60 bits), as the SQLite store makes them.
func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return "cv_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))[:12]
}

// Features are stored comma-separated and upper-cased: "SMS,VOICE".
func joinFeatures(fs []string) string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		if f = strings.ToUpper(strings.TrimSpace(f)); f != "" {
			out = append(out, f)
		}
	}
	return strings.Join(out, ",")
}

func splitFeatures(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}
