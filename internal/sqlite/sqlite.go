// Package sqlite implements maskcall.Store on a SQLite file with
// modernc.org/sqlite (pure Go, no cgo).
//
// The CLI and a running `maskcall serve` open the same file from separate
// processes. The file is in WAL mode, so readers never wait for the writer.
// Writers never fail with "database is locked":
//
//   - within a process, every write goes through one pool with a single
//     connection, so writers queue in database/sql rather than in SQLite;
//   - every write transaction starts with BEGIN IMMEDIATE (_txlock=immediate),
//     taking the write lock up front, so a transaction never has to upgrade a
//     read lock to a write lock (which SQLite fails at once with SQLITE_BUSY
//     instead of waiting);
//   - across processes, BEGIN IMMEDIATE waits up to busy_timeout (10 s) for the
//     other process's write transaction, which are all short.
//
// Reads go through a second pool of several query_only connections, in
// read-only (deferred) transactions that see one consistent snapshot; the
// answer webhook's route lookup is a single prepared statement, which is one
// snapshot by itself.
//
// The writes the webhooks make on every call (CreateCall, RecordCallEvent)
// are group-committed: many callers' writes in one transaction, each caller
// answered once it has committed (writer.go). Once they start, checkpoints
// move to a background connection (checkpoint.go, which also says what a
// power loss can cost).
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/base32"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// busyTimeout is how long a statement waits for another connection's lock
// (another process's write transaction) before failing.
const busyTimeout = 10 * time.Second

// DB is the SQLite store. Create it with NewDB, then Open it.
type DB struct {
	path string
	wdb  *sql.DB // writes: one connection, BEGIN IMMEDIATE
	rdb  *sql.DB // reads: several query_only connections

	routeStmt *sql.Stmt // FindRoute's query, prepared on the read pool
	// versionStmt reads the route version (RouteVersion), on the read pool.
	versionStmt *sql.Stmt
	w           *committer // groups CreateCall and RecordCallEvent (writer.go)

	// FastCommits trades the last moments before a power loss for
	// throughput: commits are not fsynced (synchronous=NORMAL) and the
	// group commit's background checkpoints bound the loss to about 100 ms.
	// serve sets it. Without it (the CLI) every commit is fsynced
	// (synchronous=FULL), so a conversation ended by the CLI stays ended
	// whatever happens next. A process crash loses nothing committed either
	// way.
	FastCommits bool

	// CallJournal has QueueCall answer once a call's record is in the call
	// journal rather than once it committed (calljournal.go). serve sets
	// it; where files cannot be locked it is ignored.
	CallJournal bool
	journal     *callJournal

	// onCallback is the delivery worker's wake-up (OnCallback).
	onCallback atomic.Pointer[func()]

	// routes is the published route version (routepublish.go); nil: none.
	routes atomic.Pointer[routePublisher]

	// Warn, if set, is told what Open repaired: a database file, -wal or
	// -shm file that others could read or write is tightened to 0600.
	Warn func(msg string)
}

var _ maskcall.Store = (*DB)(nil)

// NewDB returns a store for the SQLite file at path. Open must be called
// before use.
func NewDB(path string) *DB {
	return &DB{path: path}
}

func (db *DB) synchronous() string {
	if db.FastCommits {
		return "normal"
	}
	return "full"
}

// Path returns the file the store was created for.
func (db *DB) Path() string { return db.path }

// Open creates the file (mode 0600) and its directory (0700) if missing,
// tightens an existing file (and its -wal and -shm) to 0600 if others
// could read it, opens the connection pools, checks the file is in WAL mode and applies
// pending migrations.
func (db *DB) Open() (err error) {
	if db.path == "" {
		return maskcall.Errorf(maskcall.ECONFIG, "No database path is set.")
	}
	if db.path == ":memory:" || strings.HasPrefix(db.path, "file:") {
		return maskcall.Errorf(maskcall.ECONFIG, "The database must be a file path, not %q.", db.path)
	}
	if db.wdb != nil {
		return maskcall.Errorf(maskcall.EINTERNAL, "The database %s is already open.", db.path)
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()

	if err := createFile(db.path, db.warn); err != nil {
		return err
	}

	// Writes: a single connection, so in-process writers queue for it.
	//
	// With FastCommits, synchronous=NORMAL in WAL mode: a commit is not
	// fsynced by itself; the WAL is fsynced at each checkpoint (see
	// checkpoint.go for what a power loss can cost). Otherwise FULL.
	//
	// The page cache stays at SQLite's default (2 MB): at every commit
	// SQLite walks the whole cache's hash table, and with a 32 MB cache
	// that walk cost more (5 % of serve's CPU at 1,000,000 conversations)
	// than the page reads it saved. With the call journal a commit carries
	// a couple of hundred call records instead of a handful, whose random
	// index pages overflowed 2 MB mid-transaction (spilled to the WAL and
	// read back): 8 MB then, its walk shared by the batch.
	cacheKiB := 2000
	if db.CallJournal && callJournalSupported {
		cacheKiB = 8192
	}
	if db.wdb, err = sql.Open("sqlite", dsn(db.path,
		"_pragma=busy_timeout("+fmt.Sprint(busyTimeout.Milliseconds())+")",
		"_pragma=journal_mode(wal)",
		"_pragma=foreign_keys(1)",
		"_pragma=synchronous("+db.synchronous()+")",
		"_pragma=cache_size(-"+fmt.Sprint(cacheKiB)+")",
		// A batch's multi-row INSERT keeps a statement journal (it may
		// abort on a constraint): the old content of every page it
		// changes, some 400 KiB for 32 records. Past 64 KiB SQLite spills
		// it to a temporary file, one write(2) a page: 18 % of the
		// committer's CPU in BenchmarkHandler's profile. In memory it is a
		// copy.
		"_pragma=temp_store(memory)",
		"_txlock=immediate",
	)); err != nil {
		return fmt.Errorf("open %s: %w", db.path, err)
	}
	db.wdb.SetMaxOpenConns(1)
	db.wdb.SetMaxIdleConns(1)
	db.wdb.SetConnMaxLifetime(0)
	db.wdb.SetConnMaxIdleTime(0)

	ctx := context.Background()
	var mode string
	if err := db.wdb.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		return db.openError(err)
	} else if !strings.EqualFold(mode, "wal") {
		return maskcall.Errorf(maskcall.ECONFIG, "The database %s could not be switched to WAL mode (it is in %s mode).", db.path, mode).
			WithHint("Put it on a local file system.")
	}
	if err := db.migrate(ctx); err != nil {
		return err
	}
	// The records a killed serve had journaled and not committed. A
	// journal that cannot be written now (a read-only file, say) stays for
	// the next process: nothing is lost by going on without it.
	if n, err := db.replayCallJournals(ctx); err != nil {
		db.warn(fmt.Sprintf("the call journal of %s could not be replayed yet: %v", db.path, err))
	} else if n > 0 {
		db.warn(fmt.Sprintf("replayed %d call records that a stopped serve had journaled and not committed", n))
	}

	// Reads: several connections; query_only guards against a write slipping
	// into the read pool. Their page caches stay at SQLite's default (2 MB):
	// in WAL mode a connection empties its cache whenever another one has
	// committed since its last read, which under call traffic is every
	// read, so a bigger cache would only cost memory. (For the same reason
	// mmap_size is not used: SQLite unmaps the whole file at each such
	// change.)
	if db.rdb, err = sql.Open("sqlite", dsn(db.path,
		"_pragma=busy_timeout("+fmt.Sprint(busyTimeout.Milliseconds())+")",
		"_pragma=foreign_keys(1)",
		"_pragma=query_only(1)",
	)); err != nil {
		return fmt.Errorf("open %s: %w", db.path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	db.rdb.SetMaxOpenConns(n)
	db.rdb.SetMaxIdleConns(n)
	db.rdb.SetConnMaxLifetime(0)
	db.rdb.SetConnMaxIdleTime(0)

	if db.routeStmt, err = db.rdb.PrepareContext(ctx, routeQuery); err != nil {
		return db.openError(err)
	}
	if db.versionStmt, err = db.rdb.PrepareContext(ctx, routeVersionQuery); err != nil {
		return db.openError(err)
	}
	if db.CallJournal && callJournalSupported {
		if db.journal, err = openCallJournal(db.path); err != nil {
			return err
		}
	}
	// After the migrations and the journal's replay, which commit without
	// publishing: from here every write transaction publishes.
	db.openRoutePublisher(ctx)
	if db.w, err = newCommitter(db); err != nil {
		return db.openError(err)
	}
	return nil
}

// Close closes the pools. It is safe to call on a store that failed to open.
func (db *DB) Close() error {
	var errs []error
	defer db.closeRoutePublisher() // after the queued writes, which publish
	// Queued writes are committed before the pools close.
	if db.w != nil {
		db.w.close()
		if db.journal != nil {
			// Records that could not be written stay for the next Open.
			db.journal.close(db.w.journalFailed.Load() == 0 && !db.w.hasPending())
			db.journal = nil
		}
		db.w = nil
	}
	if db.journal != nil {
		db.journal.close(true) // opened, never written to: Open failed after it
		db.journal = nil
	}
	if db.routeStmt != nil {
		errs = append(errs, db.routeStmt.Close())
		db.routeStmt = nil
	}
	if db.versionStmt != nil {
		errs = append(errs, db.versionStmt.Close())
		db.versionStmt = nil
	}
	// Readers first: the writer's connection is then the last one, and SQLite
	// checkpoints and removes the -wal and -shm files when it closes.
	if db.rdb != nil {
		errs = append(errs, db.rdb.Close())
		db.rdb = nil
	}
	if db.wdb != nil {
		errs = append(errs, db.wdb.Close())
		db.wdb = nil
	}
	return errors.Join(errs...)
}

// openError is the error for a database that could not be opened: the
// driver's text stays in Err, the message says what is wrong in words and
// Reason tells the edge what to advise ("locked", "readonly", "open").
func (db *DB) openError(err error) error {
	var me *maskcall.Error
	if errors.As(formatError(err), &me) && me.Code == maskcall.ESTORE {
		return &maskcall.Error{Code: me.Code, Reason: me.Reason, Err: err,
			Message: "The database " + db.path + " " + strings.TrimPrefix(me.Message, "The database ")}
	}
	what := "could not be opened"
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_CANTOPEN:
			what = "could not be opened: the file or its directory is missing or not accessible"
		case sqlite3.SQLITE_NOTADB:
			what = "is not a maskcall database"
		case sqlite3.SQLITE_CORRUPT:
			what = "is damaged"
		}
	}
	return &maskcall.Error{Code: maskcall.ECONFIG, Reason: "db_open", Err: err,
		Message: fmt.Sprintf("The database %s %s.", db.path, what)}
}

// createFile makes path's directory (0700) and the file itself (0600) if
// they are missing, so SQLite never creates the file with the umask's mode.
// SQLite gives the -wal and -shm files the database file's mode, so an
// existing file others can read (0644, say, from a copy or an old
// version) is tightened to 0600 first, and so are -wal and -shm files left
// by earlier runs. Directories that already exist are left alone: the
// database may live in a shared one such as /tmp.
func createFile(path string, warn func(string)) error {
	dir := filepath.Dir(path)
	created := missingDirs(dir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return &maskcall.Error{Code: maskcall.ECONFIG, Err: err,
			Message: fmt.Sprintf("The database directory %s could not be created: %v.", dir, err)}
	}
	for _, d := range created {
		// The umask may have cleared bits we need; it can never add any.
		if err := os.Chmod(d, 0o700); err != nil {
			return &maskcall.Error{Code: maskcall.ECONFIG, Err: err,
				Message: fmt.Sprintf("The database directory %s could not be made private: %v.", d, err)}
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := tighten(p, warn); err != nil {
				return err
			}
		}
		return nil
	} else if err != nil {
		return &maskcall.Error{Code: maskcall.ECONFIG, Err: err,
			Message: fmt.Sprintf("The database file %s could not be created: %v.", path, err)}
	}
	err = f.Chmod(0o600)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &maskcall.Error{Code: maskcall.ECONFIG, Err: err,
			Message: fmt.Sprintf("The database file %s could not be created: %v.", path, err)}
	}
	return nil
}

// missingDirs lists dir and those of its parents that do not exist yet,
// deepest first: the directories MkdirAll will create.
func missingDirs(dir string) []string {
	var out []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return out
		}
		out = append(out, d)
		if filepath.Dir(d) == d {
			return out
		}
	}
}

// tighten makes an existing file at p private to its owner (0600), saying
// so through warn, if group or others have any access to it.
func tighten(p string, warn func(string)) error {
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return &maskcall.Error{Code: maskcall.ECONFIG, Err: err,
			Message: fmt.Sprintf("The database file %s could not be checked: %v.", p, err)}
	}
	mode := st.Mode().Perm()
	if mode&0o077 == 0 {
		return nil
	}
	if err := os.Chmod(p, 0o600); err != nil {
		return &maskcall.Error{Code: maskcall.ECONFIG, Err: err,
			Message: fmt.Sprintf("The database file %s has mode %04o, readable by others, and could not be made private: %v.", p, mode, err)}
	}
	warn(fmt.Sprintf("%s had mode %04o, so others could read it; it is now 0600.", p, mode))
	return nil
}

func (db *DB) warn(msg string) {
	if db.Warn != nil {
		db.Warn(msg)
	}
}

// dsn builds a SQLite URI for path with the driver parameters params.
func dsn(path string, params ...string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	// In a file: URI '%', '?' and '#' are special; SQLite decodes %XX.
	path = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + path + "?" + strings.Join(params, "&")
}

// migrate applies the embedded migrations that the file has not had, in
// name order, each in its own transaction. Migrations are forward-only; a
// file that has migrations this binary does not know was written by a newer
// maskcall and is refused.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (
		name       TEXT NOT NULL PRIMARY KEY,
		applied_at TEXT NOT NULL
	)`); err != nil {
		return db.openError(err)
	}
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	known := map[string]bool{}
	for _, name := range names {
		known[filepath.Base(name)] = true
		if err := db.migrateFile(ctx, name); err != nil {
			return err
		}
	}

	rows, err := db.wdb.QueryContext(ctx, `SELECT name FROM migrations ORDER BY name`)
	if err != nil {
		return db.openError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return db.openError(err)
		}
		if !known[name] {
			return maskcall.Errorf(maskcall.ECONFIG, "The database %s was written by a newer maskcall (it has migration %s).", db.path, name).
				WithHint("Upgrade maskcall.")
		}
	}
	if err := rows.Err(); err != nil {
		return db.openError(err)
	}
	return nil
}

// migrateFile applies one migration unless it is recorded. Checking and
// applying share one immediate transaction, so two processes opening a new
// file at once apply it once.
func (db *DB) migrateFile(ctx context.Context, name string) error {
	tx, err := db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return db.openError(err)
	}
	defer tx.Rollback()

	base := filepath.Base(name)
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations WHERE name = ?`, base).Scan(&n); err != nil {
		return db.openError(err)
	} else if n > 0 {
		return nil
	}
	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(buf)); err != nil {
		return fmt.Errorf("migration %s: %w", base, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`,
		base, formatTime(time.Now())); err != nil {
		return fmt.Errorf("migration %s: %w", base, err)
	}
	return tx.Commit()
}

// Tx is a transaction carrying the time its changes are stamped with.
type Tx struct {
	*sql.Tx
	db  *DB
	now time.Time
	// w holds the prepared statements of a grouped write transaction
	// (writer.go); in other transactions its statements are nil and
	// queries are prepared as they run.
	w *writeStmts
	// durable is the connection a durable transaction pinned with
	// synchronous=FULL (beginWrite); nil otherwise.
	durable *sql.Conn
	// target caches whether the deployment has a callback URL
	// (hasTarget); wroteCallback: an event was written, so the delivery
	// worker is woken once this commits.
	target        *bool
	wroteCallback bool
	// anyTarget caches whether any conversation's events can go anywhere
	// (anyTarget).
	anyTarget *bool
	// publish: a write transaction whose commit publishes the route
	// version (routepublish.go); the group commit clears it for a batch
	// that changes no route.
	publish bool
}

// noStmts is the w of transactions that have no prepared statements.
var noStmts writeStmts

// queryRow runs query with st, its prepared form on the transaction's
// connection, if st is not nil.
func (tx *Tx) queryRow(ctx context.Context, st *sql.Stmt, query string, args ...any) *sql.Row {
	if st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, query, args...)
}

// exec runs query like queryRow.
func (tx *Tx) exec(ctx context.Context, st *sql.Stmt, query string, args ...any) (sql.Result, error) {
	if st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, query, args...)
}

// beginWrite starts an immediate write transaction on the write pool whose
// commit is fsynced before Commit returns. now is the transaction's time,
// given by the caller: the store reads no clock.
//
// With FastCommits the write connection runs synchronous=NORMAL for the
// group commit, so here it is pinned and switched to FULL for this one
// transaction (and back when it ends): a conversation created or ended
// while serve takes calls is on disk when it is acknowledged, as the
// CLI's are. A FULL commit fsyncs the whole WAL, grouped commits before it
// included. Only the group commit (beginGroupWrite) skips the fsync.
func (db *DB) beginWrite(ctx context.Context, now time.Time) (*Tx, error) {
	if db.wdb == nil {
		return nil, errNotOpen
	}
	if !db.FastCommits {
		return db.beginGroupWrite(ctx, now)
	}
	conn, err := db.wdb.Conn(ctx)
	if err != nil {
		return nil, formatError(err)
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = FULL`); err != nil {
		conn.Close()
		return nil, formatError(err)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		_, _ = conn.ExecContext(context.Background(), `PRAGMA synchronous = NORMAL`)
		conn.Close()
		return nil, formatError(err)
	}
	return &Tx{Tx: tx, db: db, now: now.UTC(), w: &noStmts, durable: conn, publish: true}, nil
}

// writeDurably runs fn in a write transaction stamped now whose commit is
// fsynced before it returns. With FastCommits (serve) fn joins the group
// commit, and every durable write queued meanwhile (concurrent API
// creates, ends, idempotency records) shares the one fsync (writer.go);
// fn may then run more than once (a failed batch is run again one
// operation at a time), so it must start from its inputs each time.
// Otherwise (the CLI) it is a transaction of its own.
func (db *DB) writeDurably(ctx context.Context, now time.Time, fn func(ctx context.Context, tx *Tx) error) error {
	return db.writeGrouped(ctx, now, true, fn)
}

// writeGrouped is writeDurably, or with durable false (and FastCommits) a
// plain grouped write: committed, not fsynced by itself. A grouped write is
// on disk once any later durable write is, since an fsync of the WAL covers
// every frame before it.
func (db *DB) writeGrouped(ctx context.Context, now time.Time, durable bool, fn func(ctx context.Context, tx *Tx) error) error {
	if !db.FastCommits {
		tx, err := db.beginWrite(ctx, now)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		if err := fn(ctx, tx); err != nil {
			return err
		}
		return tx.Commit()
	}
	if db.w == nil {
		return errNotOpen
	}
	stamped := func(ctx context.Context, tx *Tx) error {
		tx.now = now.UTC()
		return fn(ctx, tx)
	}
	if !durable {
		return db.w.write(ctx, func(ctx context.Context, tx *Tx) error { return clean(stamped(ctx, tx)) })
	}
	return db.w.writeDurable(ctx, stamped)
}

// beginGroupWrite starts an immediate write transaction whose commit
// follows the connection's synchronous setting: NORMAL, not fsynced by
// itself, with FastCommits (the group commit's, writer.go).
func (db *DB) beginGroupWrite(ctx context.Context, now time.Time) (*Tx, error) {
	if db.wdb == nil {
		return nil, errNotOpen
	}
	tx, err := db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return nil, formatError(err)
	}
	return &Tx{Tx: tx, db: db, now: now.UTC(), w: &noStmts, publish: true}, nil
}

// beginRead starts a read-only transaction on the read pool: one snapshot
// for all its queries, never blocked by a writer.
func (db *DB) beginRead(ctx context.Context, now time.Time) (*Tx, error) {
	if db.rdb == nil {
		return nil, errNotOpen
	}
	tx, err := db.rdb.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, formatError(err)
	}
	return &Tx{Tx: tx, db: db, now: now.UTC(), w: &noStmts}, nil
}

// read runs f in a read transaction at now: one snapshot for all its
// queries.
func read[T any](ctx context.Context, db *DB, now time.Time, f func(*Tx) (T, error)) (T, error) {
	var zero T
	tx, err := db.beginRead(ctx, now)
	if err != nil {
		return zero, err
	}
	defer tx.Rollback()
	v, err := f(tx)
	if err != nil {
		return zero, err
	}
	return v, tx.Commit()
}

// Commit commits the transaction, mapping errors like any statement's. A
// write transaction then publishes the route version it committed
// (routepublish.go), before Commit returns.
func (tx *Tx) Commit() error {
	version, publish := int64(0), false
	if p := tx.db.routes.Load(); p != nil && tx.publish {
		// Under the write lock, so the version this commit leaves. Should
		// the read fail, nothing is published; a change then waits for
		// the index's next read of the version (its MaxWatchAge).
		publish = tx.queryRow(context.Background(), tx.w.routeVersion, routeVersionQuery).Scan(&version) == nil
	}
	err := formatError(tx.Tx.Commit())
	tx.release()
	if err == nil && publish {
		if p := tx.db.routes.Load(); p != nil {
			p.publish(version)
		}
	}
	if err == nil && tx.wroteCallback {
		tx.db.notifyCallback()
	}
	return err
}

// Rollback abandons the transaction; after Commit it does nothing.
func (tx *Tx) Rollback() error {
	err := tx.Tx.Rollback()
	tx.release()
	return err
}

// release gives a durable transaction's pinned connection back to the
// pool with its commits grouped again.
func (tx *Tx) release() {
	if tx.durable == nil {
		return
	}
	// Should this fail the connection stays at FULL: slower, never less safe.
	_, _ = tx.durable.ExecContext(context.Background(), `PRAGMA synchronous = NORMAL`)
	tx.durable.Close()
	tx.durable = nil
}

var errNotOpen = &maskcall.Error{Code: maskcall.EINTERNAL, Message: "The database is not open."}

// formatError turns driver errors into coded errors: constraint failures
// become ECONFLICT or EINVALID; a lock not granted within busy_timeout, a
// read-only file, a full disk or an I/O error ESTORE with a reason. Other
// errors pass through (and count as EINTERNAL).
func formatError(err error) error {
	var se *sqlite.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return &maskcall.Error{Code: maskcall.ECONFLICT, Err: err, Message: "That already exists."}
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return &maskcall.Error{Code: maskcall.ECONFLICT, Err: err,
			Message: "That is still referred to, or refers to something that does not exist."}
	case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		return &maskcall.Error{Code: maskcall.EINVALID, Err: err, Message: "A value is out of range."}
	}
	// The driver's own text ("attempt to write a readonly database (8)")
	// stays in Err; the message says it in words.
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
		return &maskcall.Error{Code: maskcall.ESTORE, Reason: "locked", Err: err,
			Message: "The database stayed locked by another process, so nothing was changed."}
	case sqlite3.SQLITE_READONLY:
		return &maskcall.Error{Code: maskcall.ESTORE, Reason: "readonly", Err: err,
			Message: "The database is read-only for this user, so nothing was changed."}
	case sqlite3.SQLITE_FULL:
		return &maskcall.Error{Code: maskcall.ESTORE, Reason: "disk_full", Err: err,
			Message: "The disk holding the database is full, so nothing was changed."}
	case sqlite3.SQLITE_IOERR:
		return &maskcall.Error{Code: maskcall.ESTORE, Reason: "io", Err: err,
			Message: "The database could not be read or written (an I/O error)."}
	}
	return err
}

// timeLayout is RFC 3339 with a fixed nine fractional digits: stored times
// compare correctly as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// nullTime formats t, or gives NULL for nil.
func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

func parseNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// newID returns a conversation ID: "cv_" and 12 random base32 characters
// (60 bits).
func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return "cv_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))[:12]
}
