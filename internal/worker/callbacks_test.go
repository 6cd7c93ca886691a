package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/postgres"
	"github.com/maskcall/maskcall/internal/postgres/pgtest"
	"github.com/maskcall/maskcall/internal/sqlite"
	"github.com/maskcall/maskcall/internal/stdwebhook"
)

type cbStore interface {
	maskcall.Store
	maskcall.CallbackStore
}

// receiver is the platform: it verifies each request and answers with
// what answer says for the nth request of an event (1-based).
type receiver struct {
	t      *testing.T
	key    []byte
	answer func(id string, n int) int
	delay  time.Duration
	// anyTime: the worker runs on a fast clock, so the signed timestamp
	// is not compared with the receiver's.
	anyTime bool

	mu       sync.Mutex
	got      map[string]int // requests per event id
	bodies   map[string]string
	inflight map[string]bool
	overlap  int // requests of one event while another of it was in flight
	bad      int
	ch       chan string // ids answered 2xx
}

func newReceiver(t *testing.T, key []byte, answer func(id string, n int) int) (*receiver, *httptest.Server) {
	r := &receiver{t: t, key: key, answer: answer, got: map[string]int{}, bodies: map[string]string{},
		inflight: map[string]bool{}, ch: make(chan string, 1000)}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	now := time.Now()
	if r.anyTime {
		ts, _ := strconv.ParseInt(req.Header.Get(stdwebhook.HeaderTimestamp), 10, 64)
		now = time.Unix(ts, 0)
	}
	if err := stdwebhook.Verify(req.Header, r.key, body, now); err != nil {
		r.mu.Lock()
		r.bad++
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	id := req.Header.Get(stdwebhook.HeaderID)
	r.mu.Lock()
	if r.inflight[id] {
		r.overlap++
	}
	r.inflight[id] = true
	r.got[id]++
	n := r.got[id]
	r.bodies[id] = string(body)
	r.mu.Unlock()
	time.Sleep(r.delay)
	status := r.answer(id, n)
	r.mu.Lock()
	delete(r.inflight, id)
	r.mu.Unlock()
	w.WriteHeader(status)
	if status < 300 {
		r.ch <- id
	}
}

// next returns the id of the next event answered 2xx.
func (r *receiver) next(t *testing.T) string {
	t.Helper()
	select {
	case id := <-r.ch:
		return id
	case <-time.After(10 * time.Second):
		r.mu.Lock()
		defer r.mu.Unlock()
		t.Fatalf("no event delivered; requests %v, %d unverified", r.got, r.bad)
		return ""
	}
}

func (r *receiver) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[id]
}

// clock is now plus an offset tests move forward to make retries due.
type clock struct{ off atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *clock) Advance(d time.Duration) { c.off.Add(int64(d)) }

// run makes c race: 5 minutes pass every 2 ms, so backoffs of hours pass
// in a test's time.
func (c *clock) run(t *testing.T) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tk := time.NewTicker(2 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-done:
				return
			case <-tk.C:
				c.Advance(5 * time.Minute)
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openSQLite(t *testing.T) *sqlite.DB {
	t.Helper()
	db := sqlite.NewDB(filepath.Join(t.TempDir(), "maskcall.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func key(t *testing.T) ([]byte, string) {
	t.Helper()
	s := stdwebhook.NewSecret()
	k, err := stdwebhook.ParseSecret(s)
	if err != nil {
		t.Fatal(err)
	}
	return k, s
}

// createConversations makes n conversations between distinct numbers on
// one pool number, each writing a conversation.created event.
func createConversations(t *testing.T, db cbStore, now time.Time, n int, callbackURL string) []*maskcall.Conversation {
	t.Helper()
	ctx := context.Background()
	if err := db.CreateNumber(ctx, &maskcall.Number{Number: "+447000000001", Country: "GB", Features: []string{"VOICE", "SMS"},
		Status: maskcall.NumberActive, AppID: "app"}, now); err != nil && maskcall.ErrorCode(err) != maskcall.ECONFLICT {
		t.Fatal(err)
	}
	var cs []*maskcall.Conversation
	for i := range n {
		c := &maskcall.Conversation{Ref: fmt.Sprint("job-", i), CallbackURL: callbackURL, Participants: []maskcall.Participant{
			{Number: fmt.Sprintf("+4477009%05d", 2*i), Country: "GB", Label: "driver"},
			{Number: fmt.Sprintf("+4477009%05d", 2*i+1), Country: "GB", Label: "rider"}}}
		if err := db.CreateConversation(ctx, c, nil, now); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

func startWorker(t *testing.T, w *CallbackWorker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func stateOf(t *testing.T, db cbStore, id string) *maskcall.Callback {
	t.Helper()
	cbs, err := db.FindCallbacks(context.Background(), maskcall.CallbackFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, cb := range cbs {
		if cb.Event.ID == id {
			return cb
		}
	}
	t.Fatalf("no callback %s", id)
	return nil
}

func onlyEvent(t *testing.T, db cbStore) *maskcall.Callback {
	t.Helper()
	cbs, err := db.FindCallbacks(context.Background(), maskcall.CallbackFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cbs) != 1 {
		t.Fatalf("%d events, want 1", len(cbs))
	}
	return cbs[0]
}

func TestCallbackWorker_Delivers(t *testing.T) {
	db := openSQLite(t)
	k, _ := key(t)
	rcv, srv := newReceiver(t, k, func(string, int) int { return http.StatusNoContent })
	ctx := context.Background()
	if err := db.SetCallbackTarget(ctx, true, time.Now()); err != nil {
		t.Fatal(err)
	}
	w := &CallbackWorker{Store: db, URL: srv.URL + "/hooks", Key: k, Logger: quietLogger(), Poll: time.Hour}
	db.OnCallback(w.Wake)
	startWorker(t, w)
	// Woken by the write (the poll is an hour).
	c := createConversations(t, db, time.Now(), 1, "")[0]
	id := rcv.next(t)
	cb := stateOf(t, db, id)
	waitFor(t, "delivered", func() bool { return stateOf(t, db, id).State == maskcall.CallbackDelivered })
	cb = stateOf(t, db, id)
	if cb.Attempts != 1 || cb.LastStatus != 204 || cb.DeliveredAt == nil {
		t.Errorf("delivered callback = %+v", cb)
	}
	var body maskcall.CallbackEvent
	if err := json.Unmarshal([]byte(rcv.bodies[id]), &body); err != nil {
		t.Fatal(err)
	}
	if body.ID != id || body.Type != maskcall.EventConversationCreated || body.Data.ConversationID != c.ID ||
		len(body.Data.Participants) != 2 || body.Data.Participants[0].Label != "driver" {
		t.Errorf("body = %s", rcv.bodies[id])
	}
	if strings.Contains(rcv.bodies[id], "+4477009") {
		t.Errorf("body holds a participant's number: %s", rcv.bodies[id])
	}
	if rcv.bad != 0 {
		t.Errorf("%d requests failed verification", rcv.bad)
	}
}

func TestCallbackWorker_RetriesThenDelivers(t *testing.T) {
	db := openSQLite(t)
	k, _ := key(t)
	var clk clock
	// 500 three times, then 200; each failure moves the clock past the
	// backoff so the test does not wait for it.
	rcv, srv := newReceiver(t, k, func(_ string, n int) int {
		if n <= 3 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	rcv.anyTime = true
	clk.run(t)
	w := &CallbackWorker{Store: db, Key: k, Now: clk.Now, Lease: 1000 * time.Hour, Logger: quietLogger(), Poll: 5 * time.Millisecond}
	createConversations(t, db, time.Now(), 1, srv.URL) // the conversation's own URL
	startWorker(t, w)
	id := rcv.next(t)
	waitFor(t, "delivered", func() bool { return stateOf(t, db, id).State == maskcall.CallbackDelivered })
	if cb := stateOf(t, db, id); cb.Attempts != 4 || rcv.count(id) != 4 {
		t.Errorf("attempts = %d, requests = %d, want 4", cb.Attempts, rcv.count(id))
	}
}

func TestCallbackWorker_GivesUpAfterWindow(t *testing.T) {
	db := openSQLite(t)
	k, _ := key(t)
	var clk clock
	rcv, srv := newReceiver(t, k, func(string, int) int { return http.StatusServiceUnavailable })
	rcv.anyTime = true
	clk.run(t)
	w := &CallbackWorker{Store: db, Key: k, Now: clk.Now, Lease: 1000 * time.Hour, Logger: quietLogger(), Poll: 5 * time.Millisecond}
	createConversations(t, db, time.Now(), 1, srv.URL)
	startWorker(t, w)
	cb := onlyEvent(t, db)
	waitFor(t, "failed", func() bool { return stateOf(t, db, cb.Event.ID).State == maskcall.CallbackFailed })
	cb = stateOf(t, db, cb.Event.ID)
	// Backoff doubling from 5 s to 1 h: some 30 tries in 24 h.
	if cb.Attempts < 10 || cb.Attempts > 40 || cb.LastStatus != 503 || !strings.Contains(cb.LastError, "retries ran out") {
		t.Errorf("gave up after %d attempts, last status %d", cb.Attempts, cb.LastStatus)
	}
}

func TestCallbackWorker_4xxNotRetried(t *testing.T) {
	db := openSQLite(t)
	k, _ := key(t)
	refuse := atomic.Bool{}
	refuse.Store(true)
	rcv, srv := newReceiver(t, k, func(string, int) int {
		if refuse.Load() {
			return http.StatusBadRequest
		}
		return http.StatusOK
	})
	w := &CallbackWorker{Store: db, Key: k, Logger: quietLogger(), Poll: 5 * time.Millisecond}
	db.OnCallback(w.Wake)
	createConversations(t, db, time.Now(), 1, srv.URL)
	startWorker(t, w)
	cb := onlyEvent(t, db)
	waitFor(t, "failed", func() bool { return stateOf(t, db, cb.Event.ID).State == maskcall.CallbackFailed })
	time.Sleep(50 * time.Millisecond)
	if n := rcv.count(cb.Event.ID); n != 1 {
		t.Fatalf("a 400 was tried %d times", n)
	}
	if got := stateOf(t, db, cb.Event.ID); got.LastStatus != 400 || got.LastError != "400 Bad Request" {
		t.Errorf("failed callback = %+v", got)
	}
	refuse.Store(false)
	if _, err := db.RedeliverCallback(context.Background(), cb.Event.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "redelivered", func() bool { return stateOf(t, db, cb.Event.ID).State == maskcall.CallbackDelivered })
	if n := rcv.count(cb.Event.ID); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
}

func TestCallbackWorker_Timeout(t *testing.T) {
	db := openSQLite(t)
	k, _ := key(t)
	var clk clock
	slow := atomic.Bool{}
	slow.Store(true)
	rcv, srv := newReceiver(t, k, func(string, int) int {
		if slow.Swap(false) {
			time.Sleep(300 * time.Millisecond)
		}
		return http.StatusOK
	})
	rcv.anyTime = true
	clk.run(t)
	w := &CallbackWorker{Store: db, Key: k, Now: clk.Now, Lease: 1000 * time.Hour, Timeout: 100 * time.Millisecond, Logger: quietLogger(), Poll: 5 * time.Millisecond}
	createConversations(t, db, time.Now(), 1, srv.URL)
	startWorker(t, w)
	cb := onlyEvent(t, db)
	waitFor(t, "delivered", func() bool { return stateOf(t, db, cb.Event.ID).State == maskcall.CallbackDelivered })
	if got := stateOf(t, db, cb.Event.ID); got.Attempts != 2 || rcv.count(cb.Event.ID) != 2 {
		t.Errorf("attempts %d, requests %d; want a timed-out try and a retry", got.Attempts, rcv.count(cb.Event.ID))
	}
}

func TestCallbackWorker_NoURL(t *testing.T) {
	db := openSQLite(t)
	k, _ := key(t)
	if err := db.SetCallbackTarget(context.Background(), true, time.Now()); err != nil {
		t.Fatal(err)
	}
	createConversations(t, db, time.Now(), 1, "")
	w := &CallbackWorker{Store: db, Key: k, Logger: quietLogger(), Poll: 5 * time.Millisecond}
	startWorker(t, w)
	cb := onlyEvent(t, db)
	waitFor(t, "failed", func() bool { return stateOf(t, db, cb.Event.ID).State == maskcall.CallbackFailed })
	if got := stateOf(t, db, cb.Event.ID); got.Attempts != 1 || !strings.Contains(got.LastError, "no callback URL") {
		t.Errorf("callback without a URL = %+v", got)
	}
}

// Two workers on two handles on one PostgreSQL database (two replicas)
// deliver every event, none twice, none concurrently with itself.
func TestCallbackWorker_PostgresReplicas(t *testing.T) {
	schemaURL := pgtest.Schema(t) // skips without MASKCALL_TEST_POSTGRES
	open := func() *postgres.DB {
		db := postgres.NewDB(schemaURL)
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	k, _ := key(t)
	rcv, srv := newReceiver(t, k, func(string, int) int { return http.StatusOK })
	rcv.delay = 5 * time.Millisecond
	const events = 60
	createConversations(t, a, time.Now(), events, srv.URL)
	for _, db := range []*postgres.DB{a, b} {
		w := &CallbackWorker{Store: db, Key: k, Logger: quietLogger(), Poll: 5 * time.Millisecond, Concurrency: 4}
		startWorker(t, w)
	}
	waitFor(t, "all delivered", func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		return len(rcv.got) == events
	})
	time.Sleep(100 * time.Millisecond)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for id, n := range rcv.got {
		if n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
	}
	if rcv.overlap != 0 || rcv.bad != 0 {
		t.Errorf("%d concurrent deliveries of one event, %d unverified", rcv.overlap, rcv.bad)
	}
}
