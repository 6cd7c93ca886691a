package httpserver_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/httpserver"
	"github.com/maskcall/maskcall/internal/postgres"
	"github.com/maskcall/maskcall/internal/postgres/pgtest"
	"github.com/maskcall/maskcall/internal/sqlite"
)

type readyReply struct {
	Code   int    `json:"-"`
	CT     string `json:"-"`
	Status any    `json:"status"`
	Check  string `json:"check"`
	Detail string `json:"detail"`
	Raw    string `json:"-"`
}

func readyz(t *testing.T, h http.Handler) readyReply {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	body, _ := io.ReadAll(rec.Body)
	r := readyReply{Code: rec.Code, CT: rec.Header().Get("Content-Type"), Raw: string(body)}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("readyz body %q: %v", body, err)
	}
	if rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", rec.Header().Get("Cache-Control"))
	}
	return r
}

func wantReady(t *testing.T, h http.Handler) {
	t.Helper()
	if r := readyz(t, h); r.Code != 200 || r.Status != "ready" || r.CT != "application/json" {
		t.Fatalf("readyz = %d %s %q, want 200 ready", r.Code, r.CT, r.Raw)
	}
}

func wantNotReady(t *testing.T, h http.Handler, check string) readyReply {
	t.Helper()
	r := readyz(t, h)
	if r.Code != 503 || r.Check != check || r.CT != "application/problem+json" || r.Detail == "" {
		t.Fatalf("readyz = %d %s %q, want 503 with check %q", r.Code, r.CT, r.Raw, check)
	}
	return r
}

// readyStore is a store under test: its readiness handler, a way to change
// its migrations table behind its back, and Close.
type readyStore struct {
	h     http.Handler
	exec  func(t *testing.T, q string)
	close func() error
}

func testReadiness(t *testing.T, open func(t *testing.T) readyStore) {
	t.Run("ready", func(t *testing.T) {
		s := open(t)
		wantReady(t, s.h)
	})
	t.Run("closed", func(t *testing.T) {
		s := open(t)
		wantReady(t, s.h)
		if err := s.close(); err != nil {
			t.Fatal(err)
		}
		wantNotReady(t, s.h, httpserver.ReadyCheckStore)
	})
	t.Run("newer schema", func(t *testing.T) {
		s := open(t)
		s.exec(t, `INSERT INTO migrations (name, applied_at) VALUES ('9999_from_the_future.sql', '2030-01-01T00:00:00Z')`)
		r := wantNotReady(t, s.h, httpserver.ReadyCheckSchema)
		if strings.Contains(r.Raw, "9999") {
			t.Errorf("the body names the migration: %s", r.Raw)
		}
		s.exec(t, `DELETE FROM migrations WHERE name = '9999_from_the_future.sql'`)
		wantReady(t, s.h)
	})
	t.Run("older schema", func(t *testing.T) {
		s := open(t)
		s.exec(t, `DELETE FROM migrations WHERE name = (SELECT max(name) FROM migrations)`)
		wantNotReady(t, s.h, httpserver.ReadyCheckSchema)
	})
}

func TestReadySQLite(t *testing.T) {
	testReadiness(t, func(t *testing.T) readyStore {
		path := filepath.Join(t.TempDir(), "maskcall.db")
		db := sqlite.NewDB(path)
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return readyStore{
			h: httpserver.Ready(db, 0, nil),
			exec: func(t *testing.T, q string) {
				raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
				if err != nil {
					t.Fatal(err)
				}
				defer raw.Close()
				if _, err := raw.Exec(q); err != nil {
					t.Fatal(err)
				}
			},
			close: db.Close,
		}
	})
}

func TestReadyPostgres(t *testing.T) {
	testReadiness(t, func(t *testing.T) readyStore {
		url := pgtest.Schema(t)
		db := postgres.NewDB(url)
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return readyStore{
			h:     httpserver.Ready(db, 0, nil),
			exec:  func(t *testing.T, q string) { pgtest.Exec(t, url, q) },
			close: db.Close,
		}
	})
}

// stuckStore never answers its ping.
type stuckStore struct{}

func (stuckStore) Ping(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
func (stuckStore) Migrations(context.Context) ([]string, []string, error) {
	return nil, nil, nil
}

func TestReadyDeadline(t *testing.T) {
	start := time.Now()
	r := wantNotReady(t, httpserver.Ready(stuckStore{}, 50*time.Millisecond, nil), httpserver.ReadyCheckStore)
	if !strings.Contains(r.Detail, "did not answer within 50ms") {
		t.Errorf("detail = %q", r.Detail)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the check took %s", d)
	}
}
