package main

// Issue 9 item 9: another process holding the SQLite write lock must not
// turn calls into "not in service". The real serve, a real second
// connection holding BEGIN IMMEDIATE for 6 s (as a sqlite3 shell would),
// signed webhooks over HTTP.

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/vonage/signature"
	_ "modernc.org/sqlite"
)

// signedRequest sends a webhook signed as Vonage signs it and returns the
// status and body.
func signedRequest(t *testing.T, method, u string, body []byte) (int, []byte) {
	t.Helper()
	return signedRequestTo(t, method, u, "", body)
}

// signedRequestHost is a signed GET with the given Host header.
func signedRequestHost(t *testing.T, u, host string) (int, []byte) {
	t.Helper()
	return signedRequestTo(t, http.MethodGet, u, host, nil)
}

func signedRequestTo(t *testing.T, method, u, host string, body []byte) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	payload := body
	if method == http.MethodGet {
		if payload, err = signature.QueryPayload(req.URL.RawQuery); err != nil {
			t.Fatal(err)
		}
	} else {
		req.Header.Set("Content-Type", "application/json")
	}
	tok, err := signature.Sign(testSignatureSecret, signature.Claims{APIKey: testAPIKey, ApplicationID: testApplicationID}, payload, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if host != "" {
		req.Host = host
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func TestAnswerWhileAnotherProcessHoldsTheWriteLock(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	c := runJSON[conversation](t, e, "conversation", "create", "+447700900123", "+442079460321", "--no-sms", "--insight", "none", "-o", "json")
	caller, callee := c.Participants[0], c.Participants[1]
	srv := startServe(t, e)

	// The other process's write lock.
	conn := takeWriteLock(t, e.DB)
	locked := time.Now()
	const hold = 6 * time.Second
	released := false
	release := func() {
		if !released {
			released = true
			if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
				t.Error(err)
			}
		}
	}
	defer release()

	// A known caller dials: connected, while the lock is held.
	const uuid, conUUID = "5e1f0c3a-0000-4000-8000-00000000a001", "CON-5e1f0c3a-lock"
	q := url.Values{"to": {digits(caller.ProxyNumber)}, "from": {digits(caller.Number)}, "uuid": {uuid}, "conversation_uuid": {conUUID}}
	status, ncco := signedRequest(t, http.MethodGet, srv.URL+"/webhooks/answer?"+q.Encode(), nil)
	answeredAfter := time.Since(locked)
	if answeredAfter >= hold {
		t.Fatalf("the answer came %s after the lock was taken, after it was released", answeredAfter)
	}
	var actions []nccoAction
	if err := json.Unmarshal(ncco, &actions); status != http.StatusOK || err != nil || len(actions) != 2 || actions[1].Action != "connect" ||
		actions[1].From != digits(callee.ProxyNumber) || actions[1].Endpoint[0].Number != digits(callee.Number) {
		t.Fatalf("answer while locked = %d %s, want a connect to the callee", status, ncco)
	}
	t.Logf("connected %s into the lock", answeredAfter.Round(time.Millisecond))
	// A stranger's lookup does not wait either.
	q2 := url.Values{"to": {digits(caller.ProxyNumber)}, "from": {"441184960999"}, "uuid": {"5e1f0c3a-0000-4000-8000-00000000a002"}}
	if status, body := signedRequest(t, http.MethodGet, srv.URL+"/webhooks/answer?"+q2.Encode(), nil); status != 200 || bytes.Contains(body, []byte("connect")) {
		t.Errorf("stranger while locked = %d %s", status, body)
	}

	// The record is not written yet (the lock is held), and the call's
	// events, sent now, wait for it rather than being dropped.
	var n int
	if err := conn.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM interactions WHERE uuid = ?`, uuid).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("the call record was written while another connection held the write lock")
	}
	// It is in serve's call journal, so a kill now would not lose it.
	journals, _ := filepath.Glob(e.DB + "-calls.*")
	journaled := false
	for _, j := range journals {
		if b, err := os.ReadFile(j); err == nil && bytes.Contains(b, []byte(uuid)) {
			journaled = true
		}
	}
	type reply struct {
		status int
		body   string
	}
	events := make(chan reply, 2)
	ts := time.Now().UTC()
	for i, st := range []string{"started", "answered"} {
		body, _ := json.Marshal(map[string]string{"from": digits(caller.Number), "to": digits(caller.ProxyNumber), "uuid": uuid,
			"conversation_uuid": conUUID, "status": st, "direction": "inbound",
			"timestamp": ts.Add(time.Duration(i) * time.Second).Format("2006-01-02T15:04:05.000Z07:00")})
		go func() {
			s, b := signedRequest(t, http.MethodPost, srv.URL+"/webhooks/event", body)
			events <- reply{s, string(b)}
		}()
	}

	// The lock is held as long as the shell held it, then let go.
	time.Sleep(hold - time.Since(locked))
	release()
	for range 2 {
		if r := <-events; r.status != http.StatusNoContent {
			t.Errorf("event = %d %q, want 204", r.status, r.body)
		}
	}

	// The record was written once the store allowed, and the events are
	// attached to it.
	show := runJSON[conversation](t, e, "conversation", "show", c.ID, "-o", "json")
	if len(show.Calls) != 1 || show.Calls[0].UUID != uuid || show.Calls[0].Status != "answered" {
		t.Fatalf("calls after the lock = %+v, want %s answered", show.Calls, uuid)
	}
	if strings.Contains(srv.stderr.String(), "call record lost") {
		t.Errorf("serve lost a record:\n%s", srv.stderr.String())
	}
	if !journaled {
		t.Errorf("the call was connected before its record was journaled")
	}
}

// Serve answers calls once their records are in its call journal. Killed
// with SIGKILL while another process holds the write lock (so none of
// those records could commit), it loses none of the calls it connected:
// the next maskcall process to open the file writes them.
func TestJournaledCallsSurviveSIGKILL(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	c := runJSON[conversation](t, e, "conversation", "create", "+447700900123", "+442079460321", "--no-sms", "--insight", "none", "-o", "json")
	caller := c.Participants[0]
	srv := startServe(t, e)
	conn := takeWriteLock(t, e.DB)
	var uuids []string
	for i := range 5 {
		uuid := fmt.Sprintf("5e1f0c3a-0000-4000-8000-0000000b%04d", i)
		q := url.Values{"to": {digits(caller.ProxyNumber)}, "from": {digits(caller.Number)}, "uuid": {uuid}, "conversation_uuid": {"CON-" + uuid}}
		status, ncco := signedRequest(t, http.MethodGet, srv.URL+"/webhooks/answer?"+q.Encode(), nil)
		if status != http.StatusOK || !bytes.Contains(ncco, []byte(`"connect"`)) {
			t.Fatalf("answer %d while locked = %d %s, want a connect", i, status, ncco)
		}
		uuids = append(uuids, uuid)
	}
	srv.kill()
	if _, err := conn.ExecContext(t.Context(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM interactions WHERE kind = 'call'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d calls committed although the lock was held until the kill", n)
	}
	conn.Close()

	// The CLI opens the file: the killed serve's journal is replayed.
	show := runJSON[conversation](t, e, "conversation", "show", c.ID, "-o", "json")
	got := map[string]bool{}
	for _, call := range show.Calls {
		got[call.UUID] = true
	}
	for _, u := range uuids {
		if !got[u] {
			t.Errorf("call %s was connected and is not recorded after the kill", u)
		}
	}
	if journals, _ := filepath.Glob(e.DB + "-calls.*"); len(journals) != 0 {
		t.Errorf("journal files left after the replay: %v", journals)
	}
}

// takeWriteLock holds the SQLite file's write lock from a connection of
// its own, as another process (a sqlite3 shell) would: BEGIN IMMEDIATE,
// until the test rolls it back or ends.
func takeWriteLock(t *testing.T, path string) *sql.Conn {
	t.Helper()
	lockDB, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lockDB.Close() })
	conn, err := lockDB.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.ExecContext(t.Context(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	return conn
}
