package webhook

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// Test numbers, in Ofcom's drama range (accepted by phone.FromMSISDN).
const (
	numA   = "+447700900001" // Alice's real number
	numB   = "+447700900002" // Bob's real number
	proxyA = "+447700900101" // the number Alice dials to reach Bob
	proxyB = "+447700900102" // the number Bob dials to reach Alice
	numC   = "+447700900003" // a stranger
)

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeStore is an in-memory maskcall.RouteStore and maskcall.CallStore.
type fakeStore struct {
	mu            sync.Mutex
	conversations []*maskcall.Conversation
	calls         map[string]*maskcall.Call
	events        []maskcall.CallEvent

	findRoutes   int // FindRoute calls
	recordEvents int // RecordCallEvent calls
	createCalls  int
	err          error // returned by every method when set
	panicMsg     string
}

func newFakeStore() *fakeStore {
	return &fakeStore{calls: map[string]*maskcall.Call{}}
}

func (f *fakeStore) addConversation(a, pa, b, pb string) *maskcall.Conversation {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &maskcall.Conversation{
		ID: "conv-" + a + "-" + b, Status: maskcall.ConversationActive, CreatedAt: testNow.Add(-time.Hour),
		Participants: []maskcall.Participant{{Number: a, ProxyNumber: pa}, {Number: b, ProxyNumber: pb}},
	}
	f.conversations = append(f.conversations, c)
	return c
}

func (f *fakeStore) FindRoute(ctx context.Context, from, to string, now time.Time) (*maskcall.Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.findRoutes++
	if f.panicMsg != "" {
		panic(f.panicMsg)
	}
	if f.err != nil {
		return nil, f.err
	}
	for _, c := range f.conversations {
		if !c.ActiveAt(now) {
			continue
		}
		for i, p := range c.Participants {
			if p.Number == from && p.ProxyNumber == to {
				return &maskcall.Route{ConversationID: c.ID, Mode: c.Mode, Caller: p, Callee: c.Participants[1-i]}, nil
			}
		}
	}
	return nil, maskcall.Errorf(maskcall.ENOTFOUND, "No route.")
}

func (f *fakeStore) CreateCall(ctx context.Context, c *maskcall.Call, now time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.createCalls++
	if f.err != nil {
		return f.err
	}
	if _, ok := f.calls[c.UUID]; !ok {
		cp := *c
		f.calls[c.UUID] = &cp
	}
	return nil
}

func (f *fakeStore) RecordCallEvent(ctx context.Context, ev maskcall.CallEvent, now time.Time) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recordEvents++
	if f.panicMsg != "" {
		panic(f.panicMsg)
	}
	if f.err != nil {
		return false, f.err
	}
	f.events = append(f.events, ev)
	for _, c := range f.calls {
		// As the stores match (sqlite's findCallForEvent), with no calls
		// recorded before the connect's eventUrl named them.
		if c.UUID == ev.UUID || (ev.CallUUID != "" && c.UUID == ev.CallUUID && ev.ConversationUUID != "" && c.ConversationUUID == ev.ConversationUUID) {
			c.Status = maskcall.NextCallStatus(c.Status, ev.Status)
			if ev.Status == "completed" {
				c.Duration = ev.Duration
			}
			return true, nil
		}
	}
	return false, nil
}

func (f *fakeStore) FindCalls(ctx context.Context, conversationID string) ([]*maskcall.Call, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*maskcall.Call
	for _, c := range f.calls {
		if c.ConversationID == conversationID {
			out = append(out, c)
		}
	}
	return out, nil
}

func (f *fakeStore) FindActiveCalls(ctx context.Context, conversationID string) ([]*maskcall.Call, error) {
	calls, err := f.FindCalls(ctx, conversationID)
	var out []*maskcall.Call
	for _, c := range calls {
		if !maskcall.IsTerminalCallStatus(c.Status) {
			out = append(out, c)
		}
	}
	return out, err
}

// reached reports whether the webhook reached the store at all.
func (f *fakeStore) reached() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.findRoutes+f.recordEvents+f.createCalls > 0
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type testEnv struct {
	srv   *Handler
	store *fakeStore
	logs  *syncBuffer
}

// newTestEnv returns a server over a fake store holding one conversation
// between Alice and Bob. cfg.AllowUnsigned is set unless a secret is given.
func newTestEnv(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	store := newFakeStore()
	store.addConversation(numA, proxyA, numB, proxyB)
	logs := &syncBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.SignatureSecret == "" {
		cfg.AllowUnsigned = true
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "https://maskcall.example"
	}
	if cfg.SignatureSecret != "" && cfg.APIKey == "" {
		cfg.APIKey, cfg.ApplicationID = testAPIKey, testApplicationID
	}
	router := &maskcall.Router{Routes: store, Calls: store, Now: func() time.Time { return testNow }}
	srv, err := New(router, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.now = func() time.Time { return testNow }
	return &testEnv{srv: srv, store: store, logs: logs}
}

// do serves one request and returns the recorder.
func (e *testEnv) do(req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, req)
	return rec
}

func (e *testEnv) get(target string) *httptest.ResponseRecorder {
	return e.do(httptest.NewRequest(http.MethodGet, target, nil))
}

func (e *testEnv) post(target, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, target, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	return e.do(req)
}

// unknownLengthBody hides a body's length, like a chunked request.
type unknownLengthBody struct{ io.Reader }
