package sqlite

import (
	"context"
	"io/fs"
	"path/filepath"
	"sort"
)

// Ping checks the file answers a read (readiness).
func (db *DB) Ping(ctx context.Context) error {
	if db.rdb == nil {
		return errNotOpen
	}
	var one int
	return formatError(db.rdb.QueryRowContext(ctx, `SELECT 1`).Scan(&one))
}

// Migrations returns the applied and the embedded migrations' names; the
// schema is current when they are equal (readiness).
func (db *DB) Migrations(ctx context.Context) (applied, embedded []string, err error) {
	if db.rdb == nil {
		return nil, nil, errNotOpen
	}
	names, _ := fs.Glob(migrationFS, "migration/*.sql")
	for _, n := range names {
		embedded = append(embedded, filepath.Base(n))
	}
	sort.Strings(embedded)
	rows, err := db.rdb.QueryContext(ctx, `SELECT name FROM migrations ORDER BY name`)
	if err != nil {
		return nil, nil, formatError(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, nil, formatError(err)
		}
		applied = append(applied, name)
	}
	return applied, embedded, formatError(rows.Err())
}
