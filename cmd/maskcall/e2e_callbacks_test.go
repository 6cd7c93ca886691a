package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// verifyStandardWebhook checks a request as the Standard Webhooks
// specification says, written here from the spec rather than taken from
// maskcall: the key is the base64 after "whsec_"; the signed content is
// id "." timestamp "." body; webhook-signature holds space-separated
// "v1,<base64 HMAC-SHA256>" entries; the timestamp must be recent.
func verifyStandardWebhook(secret string, h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook-timestamp %q", ts)
	}
	if d := time.Since(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return fmt.Errorf("webhook-timestamp %s is %s off", ts, d)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, s := range strings.Split(sigs, " ") {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("no signature matches (got %q)", sigs)
}

// platform is the platform's callback receiver.
type platform struct {
	t      *testing.T
	secret string
	srv    *httptest.Server

	mu       sync.Mutex
	status   func(ev platformEvent, attempt int) int // answer to the attempt'th request of an event
	attempts map[string]int
	events   map[string]platformEvent // delivered (2xx), by id
	problems []string
}

type platformEvent struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	CreatedAt time.Time `json:"created_at"`
	Data      struct {
		ConversationID string `json:"conversation_id"`
		Ref            string `json:"ref"`
		Label          string `json:"label"`
		Position       *int   `json:"position"`
		Number         string `json:"number"`
		CallID         string `json:"call_id"`
		Duration       *int   `json:"duration"`
		Reason         string `json:"reason"`
		Participants   []struct {
			Label, ProxyNumber, Number string
		} `json:"participants"`
	} `json:"data"`
	raw string
}

func newPlatform(t *testing.T, secret string) *platform {
	p := &platform{t: t, secret: secret, attempts: map[string]int{}, events: map[string]platformEvent{},
		status: func(platformEvent, int) int { return http.StatusNoContent }}
	p.srv = httptest.NewServer(p)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *platform) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := verifyStandardWebhook(p.secret, r.Header, body); err != nil {
		p.problems = append(p.problems, "unverified callback: "+err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var ev platformEvent
	if err := json.Unmarshal(body, &ev); err != nil || ev.ID != r.Header.Get("webhook-id") {
		p.problems = append(p.problems, fmt.Sprintf("body %s with webhook-id %s", body, r.Header.Get("webhook-id")))
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	ev.raw = string(body)
	p.attempts[ev.ID]++
	st := p.status(ev, p.attempts[ev.ID])
	if st < 300 {
		p.events[ev.ID] = ev // at least once: a repeat replaces itself
	}
	w.WriteHeader(st)
}

func (p *platform) setStatus(f func(ev platformEvent, attempt int) int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status = f
}

// types counts the delivered events by type.
func (p *platform) types() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]int{}
	for _, ev := range p.events {
		out[ev.Type]++
	}
	return out
}

func (p *platform) checkProblems() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.problems {
		p.t.Error(s)
	}
}

// hurryRetries makes every pending callback due now, as if its backoff
// had passed, until the test ends: the tests do not wait for backoffs of
// seconds.
func hurryRetries(t *testing.T, e *testEnv) {
	db, err := sql.Open("sqlite", "file:"+e.DB+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
			now := time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
			_, _ = db.Exec(`UPDATE callbacks SET next_attempt_at = ? WHERE state = 'pending' AND next_attempt_at > ?`, now, now)
		}
	}()
	t.Cleanup(func() { close(done); <-stopped; db.Close() })
}

type callbackRow struct {
	ID             string `json:"id"`
	Type           string `json:"type"`
	ConversationID string `json:"conversation_id"`
	State          string `json:"state"`
	Attempts       int    `json:"attempts"`
	LastStatus     int    `json:"last_status"`
}

func callbacksList(t *testing.T, e *testEnv, extra ...string) []callbackRow {
	t.Helper()
	return runJSON[[]callbackRow](t, e, append([]string{"callbacks", "list", "-o", "json"}, extra...)...)
}

// A platform gets every event of a conversation with two calls, signed
// (checked by its own Standard Webhooks verification), without numbers,
// even though it answered the first one 500 three times.
func TestCallbacks_EndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	secret := strings.TrimSpace(runOK(t, e, "callbacks", "secret"))
	if !strings.HasPrefix(secret, "whsec_") {
		t.Fatalf("callbacks secret printed %q", secret)
	}
	pf := newPlatform(t, secret)
	failedFirst := ""
	pf.setStatus(func(ev platformEvent, n int) int {
		if ev.Type == "conversation.created" && n <= 3 {
			failedFirst = ev.ID
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	e = e.with("MASKCALL_CALLBACKS_URL", pf.srv.URL+"/maskcall").with("MASKCALL_CALLBACKS_SECRET", secret)
	srv := startServe(t, e)
	hurryRetries(t, e)

	a, b := "+447700900123", "+447700900456"
	c := createConversation(t, e, a, b, "--label-a", "driver", "--label-b", "rider", "--ref", "ride-7")
	assertConnected(t, srv.call(t, e, a, c.Participants[0].ProxyNumber, "GET"), b, c.Participants[1].ProxyNumber)
	assertConnected(t, srv.call(t, e, b, c.Participants[1].ProxyNumber, "POST"), a, c.Participants[0].ProxyNumber)
	runOK(t, e, "conversation", "end", c.ID)

	want := map[string]int{"conversation.created": 1, "call.started": 2, "call.answered": 2, "call.completed": 2, "conversation.ended": 1}
	eventually(t, 30*time.Second, "every event delivered", func() bool {
		got := pf.types()
		for k, n := range want {
			if got[k] != n {
				return false
			}
		}
		return true
	})
	pf.checkProblems()
	pf.mu.Lock()
	firstAttempts := pf.attempts[failedFirst]
	var events []platformEvent
	for _, ev := range pf.events {
		events = append(events, ev)
	}
	pf.mu.Unlock()
	if firstAttempts != 4 {
		t.Errorf("conversation.created was sent %d times, want 3 answered 500 and one 200", firstAttempts)
	}
	labels := map[string]bool{}
	for _, ev := range events {
		if ev.Data.ConversationID != c.ID || ev.Data.Ref != "ride-7" {
			t.Errorf("%s names conversation %q ref %q", ev.Type, ev.Data.ConversationID, ev.Data.Ref)
		}
		if strings.Contains(ev.raw, "7700900123") || strings.Contains(ev.raw, "7700900456") {
			t.Errorf("%s holds a participant's number: %s", ev.Type, ev.raw)
		}
		switch ev.Type {
		case "call.started":
			labels[ev.Data.Label] = true
			if ev.Data.Position == nil || ev.Data.CallID == "" {
				t.Errorf("call.started without position or call id: %s", ev.raw)
			}
		case "call.completed":
			if ev.Data.Duration == nil || *ev.Data.Duration <= 0 {
				t.Errorf("call.completed without a duration: %s", ev.raw)
			}
		case "conversation.ended":
			if ev.Data.Reason != "ended" {
				t.Errorf("conversation.ended reason %q", ev.Data.Reason)
			}
		case "conversation.created":
			if len(ev.Data.Participants) != 2 || ev.Data.Participants[0].Label != "driver" {
				t.Errorf("conversation.created: %s", ev.raw)
			}
		}
	}
	if !labels["driver"] || !labels["rider"] {
		t.Errorf("calls started by %v, want driver and rider", labels)
	}
	eventually(t, 10*time.Second, "callbacks list shows them delivered", func() bool {
		rows := callbacksList(t, e)
		for _, r := range rows {
			if r.State != "delivered" {
				return false
			}
		}
		return len(rows) == 8
	})
}

// Undelivered callbacks survive a SIGKILL of serve and are delivered after
// its restart; a 4xx is not retried, shows in `callbacks list --failed`,
// and `callbacks redeliver` delivers it.
func TestCallbacks_CrashAnd4xx(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "1")
	secret := strings.TrimSpace(runOK(t, e, "callbacks", "secret"))
	pf := newPlatform(t, secret)
	pf.setStatus(func(platformEvent, int) int { return http.StatusServiceUnavailable })
	e = e.with("MASKCALL_CALLBACKS_URL", pf.srv.URL).with("MASKCALL_CALLBACKS_SECRET", secret)
	srv := startServe(t, e)

	c := createConversation(t, e, "+447700900123", "+447700900456")
	eventually(t, 10*time.Second, "a first attempt answered 503", func() bool {
		rows := callbacksList(t, e)
		return len(rows) == 1 && rows[0].Attempts >= 1 && rows[0].LastStatus == 503 && rows[0].State == "pending"
	})
	srv.kill()
	runOK(t, e, "conversation", "end", c.ID) // written while serve is down
	pf.setStatus(func(platformEvent, int) int { return http.StatusOK })
	hurryRetries(t, e)
	srv = startServe(t, e)
	eventually(t, 15*time.Second, "both delivered after the restart", func() bool {
		got := pf.types()
		return got["conversation.created"] == 1 && got["conversation.ended"] == 1
	})

	// A receiver that refuses with 410: failed at once, not retried.
	pf.setStatus(func(platformEvent, int) int { return http.StatusGone })
	c2 := createConversation(t, e, "+447700900124", "+447700900457")
	var failed []callbackRow
	eventually(t, 10*time.Second, "callbacks list --failed shows the refused event", func() bool {
		failed = callbacksList(t, e, "--failed")
		return len(failed) == 1
	})
	if f := failed[0]; f.ConversationID != c2.ID || f.Type != "conversation.created" || f.LastStatus != 410 || f.Attempts != 1 {
		t.Fatalf("failed callback %+v", f)
	}
	time.Sleep(500 * time.Millisecond)
	pf.mu.Lock()
	n := pf.attempts[failed[0].ID]
	pf.mu.Unlock()
	if n != 1 {
		t.Fatalf("a 410 was sent %d times", n)
	}
	pf.setStatus(func(platformEvent, int) int { return http.StatusOK })
	runOK(t, e, "callbacks", "redeliver", failed[0].ID)
	eventually(t, 10*time.Second, "the redelivered event arrives", func() bool {
		pf.mu.Lock()
		defer pf.mu.Unlock()
		_, ok := pf.events[failed[0].ID]
		return ok
	})
	if rows := callbacksList(t, e, "--failed"); len(rows) != 0 {
		t.Errorf("still failed: %+v", rows)
	}
	pf.checkProblems()
}

// serve refuses a callback URL without a secret to sign with.
func TestCallbacks_URLNeedsSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t).with("MASKCALL_CALLBACKS_URL", "https://platform.example/maskcall")
	_, stderr, exit := run(t, e, "serve", "--listen", "127.0.0.1:0")
	if exit == 0 || !strings.Contains(stderr, "callbacks.secret") || !strings.Contains(stderr, "maskcall callbacks secret") {
		t.Fatalf("serve with a URL and no secret: exit %d\n%s", exit, stderr)
	}
}
