package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/postgres"
	"github.com/maskcall/maskcall/internal/postgres/pgseed"
	"github.com/maskcall/maskcall/internal/sqlite"
)

// Stores the load test runs on (-store).
const (
	storeSQLite   = "sqlite"
	storePostgres = "postgres"
)

// defaultPostgresURL is the server -store postgres uses without -postgres
// or MASKCALL_TEST_POSTGRES: the development machines' (trust
// authentication, superuser postgres).
const defaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// postgresURL is the server the load test creates its databases on.
func (c *Config) postgresURL() string {
	if c.PostgresURL != "" {
		return c.PostgresURL
	}
	if u := os.Getenv("MASKCALL_TEST_POSTGRES"); u != "" {
		return u
	}
	return defaultPostgresURL
}

// seededStore is one size's database: a fresh SQLite file, or a fresh
// PostgreSQL database of its own on the configured server.
type seededStore struct {
	db    string // what --db is given: a path or a postgres:// URL
	bytes int64  // size on disk after seeding
	drop  func() // removes a PostgreSQL database; nil for SQLite
	// backends lists the PostgreSQL server processes connected to the
	// database (serve's pools); nil for SQLite.
	backends func() []int
}

// newSeededStore creates and seeds the store of n conversations over pool.
func newSeededStore(ctx context.Context, cfg *Config, dir string, n int, pool []string) (*seededStore, error) {
	if cfg.Store != storePostgres {
		path := filepath.Join(dir, "maskcall.db")
		if err := seed(ctx, path, n, pool); err != nil {
			return nil, err
		}
		s := &seededStore{db: path}
		if fi, err := os.Stat(path); err == nil {
			s.bytes = fi.Size()
		}
		return s, nil
	}
	admin := cfg.postgresURL()
	name := fmt.Sprintf("maskcall_loadtest_%d_%d", os.Getpid(), n)
	dbURL, err := withDatabase(admin, name)
	if err != nil {
		return nil, err
	}
	adminExec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return fmt.Errorf("PostgreSQL at %s: %w", postgres.Redact(admin), err)
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	quoted := pgx.Identifier{name}.Sanitize()
	if err := adminExec(`DROP DATABASE IF EXISTS ` + quoted + ` WITH (FORCE)`); err != nil {
		return nil, err
	}
	if err := adminExec(`CREATE DATABASE ` + quoted); err != nil {
		return nil, err
	}
	s := &seededStore{db: dbURL, drop: func() { _ = adminExec(`DROP DATABASE IF EXISTS ` + quoted + ` WITH (FORCE)`) }}
	db := postgres.NewDB(dbURL) // Open migrates
	if err := db.Open(); err != nil {
		s.drop()
		return nil, err
	}
	db.Close()
	if err := pgseed.Conversations(ctx, dbURL, n, pool, time.Now()); err != nil {
		s.drop()
		return nil, err
	}
	if conn, err := pgx.Connect(ctx, dbURL); err == nil {
		_ = conn.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&s.bytes)
		conn.Close(ctx)
	}
	s.backends = func() []int {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return nil
		}
		defer conn.Close(ctx)
		rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, name)
		if err != nil {
			return nil
		}
		pids, _ := pgx.CollectRows(rows, pgx.RowTo[int32])
		out := make([]int, len(pids))
		for i, p := range pids {
			out[i] = int(p)
		}
		return out
	}
	return s, nil
}

// withDatabase returns the server URL u naming database name instead.
func withDatabase(u, name string) (string, error) {
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "postgres" && pu.Scheme != "postgresql") {
		return "", errors.New("-postgres: not a postgres:// URL")
	}
	pu.Path = "/" + name
	return pu.String(), nil
}

// conversationStore is what the allocation phase times: either store.
type conversationStore interface {
	CreateConversation(ctx context.Context, c *maskcall.Conversation, needs []string, now time.Time) error
	Close() error
}

// openStore opens the store at db (a path or a postgres:// URL) as the
// CLI would.
func openStore(db string) (conversationStore, error) {
	if postgres.IsURL(db) {
		s := postgres.NewDB(db)
		if err := s.Open(); err != nil {
			return nil, err
		}
		return s, nil
	}
	s := sqlite.NewDB(db)
	if err := s.Open(); err != nil {
		return nil, err
	}
	return s, nil
}
