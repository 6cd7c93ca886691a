// Package pgtest gives tests their own PostgreSQL schema or database on the
// server named by MASKCALL_TEST_POSTGRES, and drops it when the test ends.
// Without the variable the test is skipped, saying how to run it. Only tests
// import this package.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Env is the variable naming the test server, e.g.
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const Env = "MASKCALL_TEST_POSTGRES"

// ServerURL returns the test server's URL, skipping tb if it is not set.
func ServerURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv(Env)
	if u == "" {
		tb.Skip("PostgreSQL tests skipped: set " + Env + " to a server URL, e.g. " +
			"postgres://postgres@127.0.0.1:5432/test?sslmode=disable (.ci/run sets it)")
	}
	return u
}

// Schema creates a schema of its own for tb and returns a URL whose
// connections use it (search_path), dropping it with everything in it when
// tb ends.
func Schema(tb testing.TB) string {
	tb.Helper()
	base := ServerURL(tb)
	name := "t_" + suffix()
	exec(tb, base, `CREATE SCHEMA `+name)
	tb.Cleanup(func() { exec(tb, base, `DROP SCHEMA IF EXISTS `+name+` CASCADE`) })
	return withParam(tb, base, "search_path", name)
}

// Database creates a database of its own for tb and returns its URL,
// dropping it when tb ends (after ending any session still connected to it,
// such as a killed process's).
func Database(tb testing.TB) string {
	tb.Helper()
	base := ServerURL(tb)
	name := "maskcall_t_" + suffix()
	exec(tb, base, `CREATE DATABASE `+name)
	tb.Cleanup(func() { exec(tb, base, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`) })
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("%s: %v", Env, err)
	}
	u.Path = "/" + name
	return u.String()
}

// Exec runs sql on the server (in the URL's database).
func Exec(tb testing.TB, dbURL, sql string, args ...any) {
	tb.Helper()
	exec(tb, dbURL, sql, args...)
}

func exec(tb testing.TB, dbURL, sql string, args ...any) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		tb.Fatalf("connect to the test PostgreSQL (%s): %v", Env, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		tb.Fatalf("%s: %v", sql, err)
	}
}

func withParam(tb testing.TB, dbURL, key, value string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		tb.Fatalf("%s: %v", Env, err)
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func suffix() string {
	var b [6]byte
	rand.Read(b[:])
	return strings.ToLower(hex.EncodeToString(b[:]))
}

// EndSessions ends every session of database name on the server at
// serverURL and returns once they are gone: with a timeout,
// pg_terminate_backend waits for the backend to exit instead of returning
// once it is signalled, so that what the test does next meets the outage.
func EndSessions(tb testing.TB, serverURL, name string) {
	tb.Helper()
	exec(tb, serverURL, `SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity WHERE datname = $1`, name)
}
