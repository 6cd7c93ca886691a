package main

// End-to-end tests on PostgreSQL: the same binary, with MASKCALL_DB a
// postgres:// URL naming a database of the test's own on the server given
// by MASKCALL_TEST_POSTGRES (skipped, saying so, when it is unset).

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/maskcall/maskcall/internal/postgres/pgtest"
)

// newPostgresEnv is newEnv with the state in a PostgreSQL database of the
// test's own.
func newPostgresEnv(t *testing.T) *testEnv {
	t.Helper()
	url := pgtest.Database(t)
	e := newEnv(t).with("MASKCALL_DB", url)
	e.DB = url
	return e
}

// The CLI and serve work unchanged on PostgreSQL: provision, pair, route
// calls both ways, record their events, end, refuse, purge.
func TestPostgresFlow(t *testing.T) {
	t.Parallel()
	e := newPostgresEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	pool := numbersOf(listNumbers(t, e, ""))
	if len(pool) != 2 {
		t.Fatalf("pool %q, want 2 numbers", pool)
	}

	c := createConversation(t, e, "+447700900123", "+447700900456", "--label-a", "driver", "--label-b", "rider", "--ref", "ride-1")
	if c.Status != "active" || c.Ref != "ride-1" || len(c.Participants) != 2 {
		t.Fatalf("conversation %+v", c)
	}
	a, b := c.Participants[0], c.Participants[1]
	for _, p := range c.Participants {
		if !slices.Contains(pool, p.ProxyNumber) {
			t.Errorf("participant %s got proxy %q, not a pool number (%q)", p.Number, p.ProxyNumber, pool)
		}
	}

	srv := startServe(t, e)
	r1 := srv.call(t, e, a.Number, a.ProxyNumber, http.MethodGet)
	assertConnected(t, r1, b.Number, b.ProxyNumber)
	r2 := srv.call(t, e, b.Number, b.ProxyNumber, http.MethodPost)
	assertConnected(t, r2, a.Number, a.ProxyNumber)
	assertNotInService(t, srv.call(t, e, "+447700900999", a.ProxyNumber, http.MethodGet))

	shown := runJSON[conversation](t, e, "conversation", "show", c.ID, "-o", "json")
	if len(shown.Calls) != 2 {
		t.Fatalf("conversation show lists %d calls, want 2: %+v", len(shown.Calls), shown.Calls)
	}
	for _, cl := range shown.Calls {
		if cl.UUID != r1.UUID && cl.UUID != r2.UUID {
			t.Errorf("unexpected call %+v", cl)
		}
		if cl.Status != "completed" || cl.Duration <= 0 {
			t.Errorf("call %+v: want status completed and duration > 0", cl)
		}
	}
	uses := 0
	for _, n := range listNumbers(t, e, "") {
		uses += n.ActiveConversations
	}
	if want := 2; a.ProxyNumber == b.ProxyNumber {
		if uses != 1 {
			t.Errorf("counters sum to %d, want 1 (one number serving both)", uses)
		}
	} else if uses != want {
		t.Errorf("counters sum to %d, want %d", uses, want)
	}

	runOK(t, e, "conversation", "end", c.ID)
	assertNotInService(t, srv.call(t, e, a.Number, a.ProxyNumber, http.MethodGet))
	if got := listConversations(t, e, "ended"); len(got) != 1 || got[0].ID != c.ID || got[0].EndReason != "ended" {
		t.Errorf("conversation list --status ended: %+v, want only %s", got, c.ID)
	}
	for _, n := range listNumbers(t, e, "") {
		if n.ActiveConversations != 0 {
			t.Errorf("%s still counts %d active conversations", n.Number, n.ActiveConversations)
		}
	}
	srv.stop()

	// Purge keeps what ended less than 720h ago.
	runOK(t, e, "conversation", "purge", "--ended-before", "720h", "--yes")
	if got := listConversations(t, e, "all"); len(got) != 1 {
		t.Errorf("after purge: %+v, want the conversation kept", got)
	}
}

// A URL whose server is not there is an error that names it without its
// password and says what to check; nothing is created.
func TestPostgresUnreachable(t *testing.T) {
	t.Parallel()
	pgtest.ServerURL(t)
	e := newEnv(t).with("MASKCALL_DB", "postgres://maskcall:s3cret@127.0.0.1:1/maskcall?connect_timeout=2")
	_, line := runFail(t, e, -1, "numbers", "list")
	if strings.Contains(line, "s3cret") {
		t.Errorf("the error shows the password: %s", line)
	}
	if !strings.Contains(line, "127.0.0.1:1") || !strings.Contains(line, "PostgreSQL") {
		t.Errorf("the error does not name the server or say what to check: %s", line)
	}
}
