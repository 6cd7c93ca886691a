// Package dbcopy copies a whole maskcall deployment's state between stores:
// a SQLite file and a PostgreSQL database, either way (or like to like). It
// works on the tables, not through maskcall.Store, so everything is kept as
// it is: ended conversations, sticky pairings, calls and their events, ids.
//
// Both sides are opened through their store first, so both have this
// binary's migrations; the copy then refuses to run unless both have the
// same columns in every table (a store whose migrations drifted from the
// other's would lose data) and the target holds no rows. It reads the source
// in one snapshot, writes the target in one transaction, and verifies every
// table's row count before committing.
package dbcopy

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/postgres"
	"github.com/maskcall/maskcall/internal/sqlite"
)

// Tables are copied in this order, parents before children. A table only
// one side has (PostgreSQL has no SMS relay tables yet) is skipped when it
// is empty and refused when it has rows; a table maskcall does not know is
// refused.
var Tables = []string{"numbers", "conversations", "participants", "pairings", "interactions", "interaction_events",
	"messages", "message_parts", "relay_jobs", "sms_auto_replies", "api_keys", "idempotency_keys", "callbacks"}

// notCopied are tables maskcall knows that a copy leaves as the target has
// them: callback_settings says whether serve was started with a callback
// URL, and serve records that again when it starts on the target.
var notCopied = []string{"callback_settings"}

// Derived tables are kept by the store's triggers from the other tables:
// they are not copied (the target's triggers count what is copied), and
// checked once the copy is written. The route feed's version and change
// log start afresh on the target (startRoutes).
var Derived = []string{"conversation_stats", "route_version", "route_changes"}

// Summary is what a copy did.
type Summary struct {
	From   string         `json:"from"` // the source, password hidden
	To     string         `json:"to"`
	Tables []TableSummary `json:"tables"`
	Rows   int            `json:"rows"` // total
}

// TableSummary is one table's copy, verified: the target holds Rows rows,
// as many as the source.
type TableSummary struct {
	Name string `json:"name"`
	Rows int    `json:"rows"`
}

// Progress is told each table's row count as it is copied.
type Progress func(table string, rows int)

// Copy copies everything from the store at from to the store at to (each a
// SQLite path or a postgres:// URL). EINVALID if from and to are the same,
// ENOTFOUND if from is a SQLite file that does not exist, ECONFLICT if the
// target has any rows or the two schemas differ.
func Copy(ctx context.Context, from, to string, progress Progress) (*Summary, error) {
	if from == "" || to == "" {
		return nil, maskcall.Errorf(maskcall.EINVALID, "A copy needs a source and a target.")
	}
	if from == to {
		return nil, maskcall.Errorf(maskcall.EINVALID, "The source and the target are the same database.")
	}
	if !postgres.IsURL(from) {
		if _, err := os.Stat(from); errors.Is(err, fs.ErrNotExist) {
			return nil, maskcall.Errorf(maskcall.ENOTFOUND, "The source database %s does not exist.", from)
		}
	}
	src, err := open(ctx, from)
	if err != nil {
		return nil, err
	}
	defer src.close()
	dst, err := open(ctx, to)
	if err != nil {
		return nil, err
	}
	defer dst.close()

	sum := &Summary{From: src.name, To: dst.name}
	// Rolled back before the stores close (a pool waits for its
	// connections); after a commit a rollback does nothing.
	defer src.rollback()
	defer dst.rollback()
	if err := dst.begin(ctx); err != nil {
		return nil, err
	}
	if err := src.beginRead(ctx); err != nil {
		return nil, err
	}

	// Refuse before writing anything.
	srcTables, err := src.tables(ctx)
	if err != nil {
		return nil, err
	}
	dstTables, err := dst.tables(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range srcTables {
		if !slices.Contains(Tables, t) && !slices.Contains(Derived, t) && !slices.Contains(notCopied, t) {
			return nil, maskcall.Errorf(maskcall.ECONFLICT, "The source %s has a table %s this maskcall does not know; copy it with the maskcall that wrote it.", src.name, t)
		}
	}
	var copying []string
	for _, t := range Tables {
		inSrc, inDst := slices.Contains(srcTables, t), slices.Contains(dstTables, t)
		if inDst {
			n, err := dst.count(ctx, t)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				return nil, maskcall.Errorf(maskcall.ECONFLICT, "The target %s is not empty: its table %s has %d rows.", dst.name, t, n)
			}
		}
		if !inSrc {
			continue
		}
		if !inDst {
			n, err := src.count(ctx, t)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				return nil, maskcall.Errorf(maskcall.ECONFLICT, "The source's table %s has %d rows, and the target %s cannot store them (it has no such table).", t, n, dst.name)
			}
			continue
		}
		sc, err := src.columns(ctx, t)
		if err != nil {
			return nil, err
		}
		dc, err := dst.columns(ctx, t)
		if err != nil {
			return nil, err
		}
		if !slices.Equal(sortedNames(sc), sortedNames(dc)) {
			return nil, maskcall.Errorf(maskcall.ECONFLICT, "The table %s has columns %s in %s but %s in %s; the copy would not be faithful.",
				t, strings.Join(sortedNames(sc), ","), src.name, strings.Join(sortedNames(dc), ","), dst.name)
		}
		copying = append(copying, t)
	}

	for _, t := range copying {
		cols, err := src.columns(ctx, t)
		if err != nil {
			return nil, err
		}
		dcols, err := dst.columns(ctx, t)
		if err != nil {
			return nil, err
		}
		rows, err := src.read(ctx, t, cols)
		if err != nil {
			return nil, err
		}
		kinds := make([]kind, len(cols))
		for i, c := range cols {
			kinds[i] = dcols[indexOf(dcols, c.name)].kind
		}
		for _, r := range rows {
			for i := range r {
				if r[i], err = convert(r[i], kinds[i]); err != nil {
					return nil, fmt.Errorf("%s.%s: %w", t, cols[i].name, err)
				}
			}
		}
		if err := dst.write(ctx, t, cols, rows); err != nil {
			return nil, err
		}
		want, err := src.count(ctx, t)
		if err != nil {
			return nil, err
		}
		got, err := dst.count(ctx, t)
		if err != nil {
			return nil, err
		}
		if got != want || got != len(rows) {
			return nil, maskcall.Errorf(maskcall.EINTERNAL, "The copy of %s has %d rows, the source %d; nothing was copied.", t, got, want)
		}
		sum.Tables = append(sum.Tables, TableSummary{Name: t, Rows: got})
		sum.Rows += got
		if progress != nil {
			progress(t, got)
		}
	}
	if err := dst.finish(ctx, copying); err != nil {
		return nil, err
	}
	if slices.Contains(dstTables, "route_version") {
		if err := startRoutes(ctx, dst); err != nil {
			return nil, err
		}
	}
	if err := checkDerived(ctx, dst); err != nil {
		return nil, err
	}
	if err := dst.commit(); err != nil {
		return nil, err
	}
	return sum, nil
}

// kind is how a column's values are stored.
type kind int

const (
	kindText kind = iota
	kindInt
	kindBool
	kindTime
	kindDate  // a calendar day: PostgreSQL's date, SQLite's 'YYYY-MM-DD'
	kindBytes // PostgreSQL's bytea, SQLite's BLOB
)

type column struct {
	name string
	kind kind
}

func sortedNames(cs []column) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.name
	}
	slices.Sort(out)
	return out
}

func indexOf(cs []column, name string) int {
	for i, c := range cs {
		if c.name == name {
			return i
		}
	}
	return -1
}

// convert turns a value read from either store into the Go value the
// target's column kind takes: SQLite's text times become time.Time for
// PostgreSQL and PostgreSQL's times SQLite's text; 0/1 and booleans likewise.
func convert(v any, k kind) (any, error) {
	if v == nil {
		return nil, nil
	}
	switch k {
	case kindBytes:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case kindDate:
		switch x := v.(type) {
		case time.Time:
			return x, nil
		case string:
			t, err := time.Parse(time.DateOnly, x)
			if err != nil {
				return nil, fmt.Errorf("stored day %q: %w", x, err)
			}
			return t, nil
		}
	case kindTime:
		switch x := v.(type) {
		case time.Time:
			return x.UTC(), nil
		case string:
			t, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return nil, fmt.Errorf("stored time %q: %w", x, err)
			}
			return t.UTC(), nil
		case []byte:
			return convert(string(x), k)
		}
	case kindBool:
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		}
	case kindInt:
		switch x := v.(type) {
		case int64:
			return x, nil
		case int32:
			return int64(x), nil
		case int16:
			return int64(x), nil
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		}
	case kindText:
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return string(x), nil
		case time.Time:
			return sqliteTime(x), nil
		}
	}
	return nil, fmt.Errorf("unexpected %T value", v)
}

// sqliteTimeLayout is internal/sqlite's: RFC 3339 with a fixed nine
// fractional digits, so stored times compare correctly as text.
const sqliteTimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

func sqliteTime(t time.Time) string { return t.UTC().Format(sqliteTimeLayout) }

// endpoint is one side of a copy.
type endpoint interface {
	tables(ctx context.Context) ([]string, error) // maskcall's tables, migrations aside
	columns(ctx context.Context, table string) ([]column, error)
	count(ctx context.Context, table string) (int, error)
	queryInt(ctx context.Context, query string) (int, error) // one integer
	exec(ctx context.Context, query string) error
	read(ctx context.Context, table string, cols []column) ([][]any, error)
	write(ctx context.Context, table string, cols []column, rows [][]any) error
	beginRead(ctx context.Context) error
	begin(ctx context.Context) error
	finish(ctx context.Context, copied []string) error // after every table is written
	commit() error
	rollback()
	close()
}

type side struct {
	endpoint
	name string
}

func open(ctx context.Context, dsn string) (*side, error) {
	if postgres.IsURL(dsn) {
		db := postgres.NewDB(dsn)
		if err := db.Open(); err != nil {
			return nil, err
		}
		return &side{endpoint: &pgEndpoint{db: db}, name: db.Name()}, nil
	}
	// The store's Open creates the file and applies the migrations; the
	// rows are then moved over a connection of the copy's own.
	store := sqlite.NewDB(dsn)
	if err := store.Open(); err != nil {
		return nil, err
	}
	store.Close()
	raw, err := sql.Open("sqlite", sqliteDSN(dsn))
	if err != nil {
		return nil, err
	}
	raw.SetMaxOpenConns(1)
	return &side{endpoint: &sqliteEndpoint{db: raw}, name: dsn}, nil
}

// sqliteDSN is the URI of the SQLite file at path, as internal/sqlite
// builds it: absolute, '%', '?' and '#' escaped; writes take the lock up
// front and wait for other processes' writes.
func sqliteDSN(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	path = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
}

// ---- PostgreSQL ----

type pgEndpoint struct {
	db *postgres.DB
	tx pgx.Tx
}

func (e *pgEndpoint) close() { e.db.Close() }

func (e *pgEndpoint) beginRead(ctx context.Context) (err error) {
	e.tx, err = e.db.Pool().BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	return storeErr(err)
}

func (e *pgEndpoint) begin(ctx context.Context) (err error) {
	if e.tx, err = e.db.Pool().Begin(ctx); err != nil {
		return storeErr(err)
	}
	// Nobody else writes the target while it fills: a second copy, or a
	// CLI, waits, then finds it not empty.
	have, err := e.tables(ctx)
	if err != nil {
		return err
	}
	for _, t := range Tables {
		if !slices.Contains(have, t) {
			continue
		}
		if _, err := e.tx.Exec(ctx, `LOCK TABLE `+t+` IN EXCLUSIVE MODE`); err != nil {
			return storeErr(err)
		}
	}
	return nil
}

func (e *pgEndpoint) commit() error { return storeErr(e.tx.Commit(context.Background())) }

func (e *pgEndpoint) rollback() {
	if e.tx != nil {
		e.tx.Rollback(context.Background())
	}
}

func (e *pgEndpoint) tables(ctx context.Context) ([]string, error) {
	rows, err := e.tx.Query(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'migrations'`)
	if err != nil {
		return nil, storeErr(err)
	}
	ts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ts, storeErr(err)
}

func (e *pgEndpoint) columns(ctx context.Context, table string) ([]column, error) {
	rows, err := e.tx.Query(ctx, `SELECT column_name, data_type FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position`, table)
	if err != nil {
		return nil, storeErr(err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		var typ string
		if err := r.Scan(&c.name, &typ); err != nil {
			return c, err
		}
		switch {
		case strings.HasPrefix(typ, "timestamp"):
			c.kind = kindTime
		case typ == "date":
			c.kind = kindDate
		case typ == "bytea":
			c.kind = kindBytes
		case typ == "boolean":
			c.kind = kindBool
		case typ == "integer" || typ == "smallint" || typ == "bigint":
			c.kind = kindInt
		}
		return c, nil
	})
}

func (e *pgEndpoint) count(ctx context.Context, table string) (int, error) {
	var n int
	err := e.tx.QueryRow(ctx, `SELECT count(*) FROM `+table).Scan(&n)
	return n, storeErr(err)
}

func (e *pgEndpoint) read(ctx context.Context, table string, cols []column) ([][]any, error) {
	rows, err := e.tx.Query(ctx, `SELECT `+names(cols)+` FROM `+table)
	if err != nil {
		return nil, storeErr(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]any, error) { return r.Values() })
	if err != nil {
		return nil, storeErr(err)
	}
	// A day is a day, not an instant: carried as YYYY-MM-DD.
	for i, c := range cols {
		if c.kind != kindDate {
			continue
		}
		for _, r := range out {
			if t, ok := r[i].(time.Time); ok {
				r[i] = t.Format(time.DateOnly)
			}
		}
	}
	return out, nil
}

func (e *pgEndpoint) write(ctx context.Context, table string, cols []column, rows [][]any) error {
	ns := make([]string, len(cols))
	for i, c := range cols {
		ns[i] = c.name
	}
	_, err := e.tx.CopyFrom(ctx, pgx.Identifier{table}, ns, pgx.CopyFromRows(rows))
	return storeErr(err)
}

// finish moves the identity columns' sequences past the copied ids, so the
// next call or event gets a fresh one.
func (e *pgEndpoint) finish(ctx context.Context, copied []string) error {
	for _, t := range []string{"interactions", "interaction_events", "relay_jobs"} {
		if !slices.Contains(copied, t) {
			continue
		}
		if _, err := e.tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, 'id'), COALESCE((SELECT max(id) FROM `+t+`), 0) + 1, false)`, t); err != nil {
			return storeErr(err)
		}
	}
	return nil
}

// ---- SQLite ----

type sqliteEndpoint struct {
	db *sql.DB
	tx *sql.Tx
}

func (e *sqliteEndpoint) close() { e.db.Close() }

func (e *sqliteEndpoint) beginRead(ctx context.Context) (err error) {
	// The write lock (immediate) also keeps the snapshot still while the
	// tables are read one after the other.
	e.tx, err = e.db.BeginTx(ctx, nil)
	return err
}

func (e *sqliteEndpoint) begin(ctx context.Context) (err error) {
	e.tx, err = e.db.BeginTx(ctx, nil)
	return err
}

func (e *sqliteEndpoint) commit() error { return e.tx.Commit() }

func (e *sqliteEndpoint) rollback() {
	if e.tx != nil {
		e.tx.Rollback()
	}
}

func (e *sqliteEndpoint) tables(ctx context.Context) ([]string, error) {
	rows, err := e.tx.QueryContext(ctx, `SELECT name FROM sqlite_schema
		WHERE type = 'table' AND name <> 'migrations' AND name NOT LIKE 'sqlite_%'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

func (e *sqliteEndpoint) columns(ctx context.Context, table string) ([]column, error) {
	rows, err := e.tx.QueryContext(ctx, `SELECT name, type FROM pragma_table_info(?) ORDER BY cid`, table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []column
	for rows.Next() {
		var c column
		var typ string
		if err := rows.Scan(&c.name, &typ); err != nil {
			return nil, err
		}
		switch strings.ToUpper(typ) {
		case "INTEGER":
			c.kind = kindInt
		case "BLOB":
			c.kind = kindBytes
		default:
			c.kind = kindText
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (e *sqliteEndpoint) count(ctx context.Context, table string) (int, error) {
	var n int
	err := e.tx.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n)
	return n, err
}

func (e *sqliteEndpoint) read(ctx context.Context, table string, cols []column) ([][]any, error) {
	rows, err := e.tx.QueryContext(ctx, `SELECT `+names(cols)+` FROM `+table)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

func (e *sqliteEndpoint) write(ctx context.Context, table string, cols []column, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")
	st, err := e.tx.PrepareContext(ctx, `INSERT INTO `+table+` (`+names(cols)+`) VALUES (`+marks+`)`)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, r := range rows {
		if _, err := st.ExecContext(ctx, r...); err != nil {
			return fmt.Errorf("%s: %w", table, err)
		}
	}
	return nil
}

func (e *sqliteEndpoint) finish(context.Context, []string) error { return nil }

func names(cols []column) string {
	ns := make([]string, len(cols))
	for i, c := range cols {
		ns[i] = `"` + c.name + `"`
	}
	return strings.Join(ns, ", ")
}

// storeErr codes a PostgreSQL error the way the store does.
func storeErr(err error) error {
	if err == nil {
		return nil
	}
	if maskcall.ErrorCode(err) != maskcall.EINTERNAL {
		return err
	}
	return &maskcall.Error{Code: maskcall.ESTORE, Err: err, Message: fmt.Sprintf("The database failed during the copy: %v.", err)}
}

// checkDerived checks the target's derived tables agree with what was
// copied: the count of active conversations its triggers kept.
func checkDerived(ctx context.Context, dst endpoint) error {
	kept, err := dst.queryInt(ctx, `SELECT coalesce(sum(active), 0) FROM conversation_stats`)
	if err != nil {
		return err
	}
	active, err := dst.queryInt(ctx, `SELECT count(*) FROM conversations WHERE status = 'active'`)
	if err != nil {
		return err
	}
	if kept != active {
		return maskcall.Errorf(maskcall.EINTERNAL, "The copy counts %d active conversations but has %d; nothing was copied.", kept, active)
	}
	return nil
}

// startRoutes gives the target's route feed a new version before which
// nothing is kept: the copied conversations are there, not as changes (the
// triggers' rows for them are dropped), so a route index on the target
// loads everything, and one that followed some other database at a
// version this one also has is not told "nothing changed".
func startRoutes(ctx context.Context, dst endpoint) error {
	if err := dst.exec(ctx, `UPDATE route_version SET version = version + 1, pruned_before = version + 1`); err != nil {
		return err
	}
	if err := dst.exec(ctx, `DELETE FROM route_changes`); err != nil {
		return err
	}
	if n, err := dst.queryInt(ctx, `SELECT count(*) FROM route_version`); err != nil {
		return err
	} else if n != 1 {
		return maskcall.Errorf(maskcall.EINTERNAL, "The target's route version has %d rows, not one; nothing was copied.", n)
	}
	return nil
}

func (e *pgEndpoint) exec(ctx context.Context, q string) error {
	_, err := e.tx.Exec(ctx, q)
	return storeErr(err)
}

func (e *sqliteEndpoint) exec(ctx context.Context, q string) error {
	_, err := e.tx.ExecContext(ctx, q)
	return err
}

func (e *pgEndpoint) queryInt(ctx context.Context, q string) (int, error) {
	var n int
	err := e.tx.QueryRow(ctx, q).Scan(&n)
	return n, storeErr(err)
}

func (e *sqliteEndpoint) queryInt(ctx context.Context, q string) (int, error) {
	var n int
	err := e.tx.QueryRowContext(ctx, q).Scan(&n)
	return n, err
}
