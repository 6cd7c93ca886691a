package main

import (
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/postgres/pgtest"
)

// getReady returns /readyz's status and its "check" (the one that failed).
func getReady(t *testing.T, base string) (int, string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct {
		Status any    `json:"status"`
		Check  string `json:"check"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	if resp.StatusCode == http.StatusOK && r.Status != "ready" {
		t.Fatalf("/readyz 200 with body %s", body)
	}
	return resp.StatusCode, r.Check
}

func getHealth(t *testing.T, base string) int {
	t.Helper()
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// /readyz is 200 while the store answers with this binary's schema and 503
// naming the schema once the database has a migration this binary does not
// know, while /healthz stays 200; on the API's own listener too.
func TestReadyzSQLite(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "1")
	srv := startServe(t, e, "--api-listen", "127.0.0.1:0")
	m := srv.apiURL(t)
	for _, base := range []string{srv.URL, m} {
		if code, check := getReady(t, base); code != http.StatusOK {
			t.Fatalf("%s/readyz = %d (%s), want 200", base, code, check)
		}
	}
	raw, err := sql.Open("sqlite", "file:"+e.DB+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec(`INSERT INTO migrations (name, applied_at) VALUES ('9999_newer.sql', '2030-01-01T00:00:00Z')`); err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{srv.URL, m} {
		if code, check := getReady(t, base); code != http.StatusServiceUnavailable || check != "schema" {
			t.Errorf("%s/readyz with a newer schema = %d (%s), want 503 schema", base, code, check)
		}
		if code := getHealth(t, base); code != http.StatusOK {
			t.Errorf("%s/healthz = %d, want 200 (the process is alive)", base, code)
		}
	}
}

// On PostgreSQL: 503 "store" while the database refuses sessions, 200 again
// once it is back (the same process, not restarted), 503 "schema" when its
// version rows are not this binary's.
func TestReadyzPostgres(t *testing.T) {
	t.Parallel()
	e := newPostgresEnv(t)
	srv := startServe(t, e)
	if code, check := getReady(t, srv.URL); code != http.StatusOK {
		t.Fatalf("/readyz = %d (%s), want 200", code, check)
	}
	u, err := url.Parse(e.DB)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	server := pgtest.ServerURL(t)
	pgtest.Exec(t, server, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`)
	pgtest.EndSessions(t, server, name)
	code, check := getReady(t, srv.URL)
	pgtest.Exec(t, server, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`)
	if code != http.StatusServiceUnavailable || check != "store" {
		t.Errorf("/readyz while the database refuses sessions = %d (%s), want 503 store", code, check)
	}
	if code := getHealth(t, srv.URL); code != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", code)
	}
	eventually(t, 10*time.Second, "ready again", func() bool { c, _ := getReady(t, srv.URL); return c == http.StatusOK })

	pgtest.Exec(t, e.DB, `UPDATE migrations SET name = '0000_renamed.sql' WHERE name = (SELECT max(name) FROM migrations)`)
	if code, check := getReady(t, srv.URL); code != http.StatusServiceUnavailable || check != "schema" {
		t.Errorf("/readyz with a version row changed = %d (%s), want 503 schema", code, check)
	}
}
