package webhook

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// mapRoutes is a lock-free, read-only route store for benchmarks.
type mapRoutes map[[2]string]*maskcall.Route

func (m mapRoutes) FindRoute(ctx context.Context, from, to string, now time.Time) (*maskcall.Route, error) {
	if r, ok := m[[2]string{from, to}]; ok {
		return r, nil
	}
	return nil, maskcall.Errorf(maskcall.ENOTFOUND, "No route.")
}

// nopCalls accepts every call and event.
type nopCalls struct{}

func (nopCalls) CreateCall(context.Context, *maskcall.Call, time.Time) error { return nil }
func (nopCalls) RecordCallEvent(context.Context, maskcall.CallEvent, time.Time) (bool, error) {
	return true, nil
}
func (nopCalls) FindCalls(context.Context, string) ([]*maskcall.Call, error)       { return nil, nil }
func (nopCalls) FindActiveCalls(context.Context, string) ([]*maskcall.Call, error) { return nil, nil }

// discardWriter is a ResponseWriter that keeps nothing, so the benchmark
// measures the handler.
type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkAnswer measures the answer handler for known callers, with an
// in-memory route store of 10,000 conversations. The 256 callers recur, as
// participants' calls do, so their numbers are parsed once.
func BenchmarkAnswer(b *testing.B) {
	srv, reqs := answerBenchServer(b)
	h := srv
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		clear(w.h)
		h.ServeHTTP(w, reqs[i%len(reqs)])
	}
}

// BenchmarkAnswerUncachedCaller is BenchmarkAnswer for callers whose number
// the server has not parsed before (a first call, or a cache just emptied):
// the worst case, dominated by libphonenumber.
func BenchmarkAnswerUncachedCaller(b *testing.B) {
	srv, reqs := answerBenchServer(b)
	h := srv
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		clear(w.h)
		srv.callers.mu.Lock()
		clear(srv.callers.m)
		srv.callers.mu.Unlock()
		h.ServeHTTP(w, reqs[i%len(reqs)])
	}
}

func answerBenchServer(b *testing.B) (*Handler, []*http.Request) {
	const n = 10000
	routes := mapRoutes{}
	var reqs []*http.Request
	for i := range n {
		// Drama-range numbers are only 1,000; (number, proxy) pairs are unique.
		a := maskcall.Participant{Number: fmt.Sprintf("+447700900%03d", i%1000), ProxyNumber: fmt.Sprintf("+447700900%03d", i/1000)}
		bb := maskcall.Participant{Number: fmt.Sprintf("+1202555%04d", i), ProxyNumber: "+12025550100"}
		routes[[2]string{a.Number, a.ProxyNumber}] = &maskcall.Route{ConversationID: "c", Caller: a, Callee: bb}
		if i < 256 {
			q := answerQuery(a.Number[1:], a.ProxyNumber[1:], fmt.Sprintf("uuid-%d", i))
			reqs = append(reqs, httptest.NewRequest("GET", "/webhooks/answer?"+q, nil))
		}
	}
	router := &maskcall.Router{Routes: routes, Calls: nopCalls{}}
	srv, err := New(router, Config{AllowUnsigned: true, PublicURL: "https://maskcall.example",
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	h := srv
	for _, r := range reqs[:3] {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte(`"action":"connect"`)) {
			b.Fatalf("%s: %d %s", r.URL, rec.Code, rec.Body)
		}
	}
	return srv, reqs
}

// BenchmarkAnswerSigned is BenchmarkAnswer with Vonage's signature checked
// as serve checks it: the JWT, its claims and the replay cache. Every
// request carries a token of its own, as Vonage's do.
func BenchmarkAnswerSigned(b *testing.B) {
	const n = 1 << 14
	routes := mapRoutes{}
	reqs := make([]*http.Request, n)
	for i := range n {
		a := maskcall.Participant{Number: fmt.Sprintf("+447700900%03d", i%256), ProxyNumber: "+447700900999"}
		bb := maskcall.Participant{Number: fmt.Sprintf("+1202555%04d", i%256), ProxyNumber: "+12025550100"}
		routes[[2]string{a.Number, a.ProxyNumber}] = &maskcall.Route{ConversationID: "c", Caller: a, Callee: bb}
		reqs[i] = signedGET(b, "/webhooks/answer?"+answerQuery(a.Number[1:], a.ProxyNumber[1:], fmt.Sprintf("uuid-%d", i)), hs256(b, testSecret, testNow))
	}
	router := &maskcall.Router{Routes: routes, Calls: nopCalls{}}
	h, err := New(router, Config{SignatureSecret: testSecret, APIKey: testAPIKey, ApplicationID: testApplicationID,
		PublicURL: "https://maskcall.example", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	h.now = func() time.Time { return testNow }
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, reqs[0])
	if !bytes.Contains(rec.Body.Bytes(), []byte(`"action":"connect"`)) {
		b.Fatalf("%d %s", rec.Code, rec.Body)
	}
	h.replay = newReplayCache(0)
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%n == 0 && i > 0 {
			h.replay = newReplayCache(0) // the tokens come round again
		}
		clear(w.h)
		h.ServeHTTP(w, reqs[i%n])
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
}
