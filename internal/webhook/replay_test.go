package webhook

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/vonage/signature"
)

// again returns a copy of req, body and headers included: the same bytes
// sent a second time.
func again(req *http.Request, body string) *http.Request {
	r := httptest.NewRequest(req.Method, req.URL.String(), strings.NewReader(body))
	r.Header = req.Header.Clone()
	return r
}

// TestReplayedAnswer: the reproduction. The same signed answer
// request replayed 100 times got 100 connects with the callee's real
// number; now only Vonage's retries within the window are answered.
func TestReplayedAnswer(t *testing.T) {
	e := newTestEnv(t, Config{SignatureSecret: testSecret})
	clock := testNow
	e.srv.now = func() time.Time { return clock }
	q := "/webhooks/answer?" + answerQuery("447700900001", "447700900101", "U-R")
	first := signedGET(t, q, hs256(t, testSecret, testNow))
	wantAliceToBob(t, e.do(first))

	// Vonage's retries (identical) within the window are answered alike.
	for i := range replayMaxRetries {
		clock = testNow.Add(time.Duration(i+1) * 5 * time.Second)
		wantAliceToBob(t, e.do(again(first, "")))
	}
	// Then nothing: 95 more replays are refused.
	connects := 0
	for range 95 {
		rec := e.do(again(first, ""))
		if rec.Code == http.StatusOK {
			connects++
		} else if rec.Code != http.StatusUnauthorized || rec.Body.Len() != 0 {
			t.Fatalf("replay = %d %q, want an empty 401", rec.Code, rec.Body)
		}
	}
	if connects != 0 {
		t.Errorf("%d of 95 replays past the retries were answered", connects)
	}
	if !strings.Contains(e.logs.String(), "replayed token") {
		t.Errorf("replays not logged:\n%s", e.logs.String())
	}

	// An identical request after the retry window is a replay even if the
	// token is still within its lifetime.
	second := signedGET(t, q, hs256(t, testSecret, testNow))
	clock = testNow
	wantAliceToBob(t, e.do(second))
	clock = testNow.Add(ReplayRetryWindow + time.Second)
	if rec := e.do(again(second, "")); rec.Code != http.StatusUnauthorized {
		t.Errorf("identical request after the window = %d, want 401", rec.Code)
	}
}

// TestReplayedPOSTAnswer: as above, for an answer sent by POST.
func TestReplayedPOSTAnswer(t *testing.T) {
	e := newTestEnv(t, Config{SignatureSecret: testSecret})
	body := answerJSON("447700900001", "447700900101", "U-P")
	first := signedPOST(t, "/webhooks/answer", body, hs256(t, testSecret, testNow))
	wantAliceToBob(t, e.do(first))
	for range replayMaxRetries {
		wantAliceToBob(t, e.do(again(first, body)))
	}
	if rec := e.do(again(first, body)); rec.Code != http.StatusUnauthorized {
		t.Errorf("replay past the retries = %d, want 401", rec.Code)
	}
}

// TestEventReplayedAtAnswer: a captured signed event of the inbound leg
// (its body has from, to and uuid) posted to the answer webhook never
// connects: refused as a replay when the event was delivered first, and by
// its shape when it was not (captured before it reached serve).
func TestEventReplayedAtAnswer(t *testing.T) {
	// The event payloads of an inbound leg, as Vonage sends them.
	events := map[string]string{
		"started":   `{"from":"447700900001","to":"447700900101","uuid":"U-E","conversation_uuid":"CON-U-E","status":"started","direction":"inbound","timestamp":"2025-03-01T12:00:00.000Z"}`,
		"answered":  `{"from":"447700900001","to":"447700900101","uuid":"U-E","conversation_uuid":"CON-U-E","status":"answered","direction":"inbound","timestamp":"2025-03-01T12:00:01.000Z","start_time":null,"rate":null,"network":null}`,
		"completed": `{"from":"447700900001","to":"447700900101","uuid":"U-E","conversation_uuid":"CON-U-E","status":"completed","direction":"inbound","timestamp":"2025-03-01T12:01:00.000Z","start_time":"2025-03-01T12:00:01.000Z","end_time":"2025-03-01T12:01:00.000Z","duration":"59","rate":"0.01","price":"0.01","network":"23410"}`,
		// Even a bare status makes it an event.
		"minimal": `{"from":"447700900001","to":"447700900101","uuid":"U-E","status":"ringing"}`,
	}
	for name, body := range events {
		t.Run(name+" delivered first", func(t *testing.T) {
			e := newTestEnv(t, Config{SignatureSecret: testSecret})
			ev := signedPOST(t, "/webhooks/event", body, hs256(t, testSecret, testNow))
			if rec := e.do(ev); rec.Code != http.StatusNoContent {
				t.Fatalf("event = %d", rec.Code)
			}
			replay := again(ev, body)
			replay.URL.Path = "/webhooks/answer"
			rec := e.do(replay)
			if rec.Code != http.StatusUnauthorized || strings.Contains(rec.Body.String(), "connect") {
				t.Errorf("event token at the answer route = %d %s, want 401", rec.Code, rec.Body)
			}
		})
		t.Run(name+" never delivered", func(t *testing.T) {
			e := newTestEnv(t, Config{SignatureSecret: testSecret})
			rec := e.do(signedPOST(t, "/webhooks/answer", body, hs256(t, testSecret, testNow)))
			wantNotInService(t, rec)
			if e.store.createCalls != 0 {
				t.Error("an event-shaped answer request was recorded as a call")
			}
		})
	}
	// The same by GET, whose query an event sent by GET would have.
	e := newTestEnv(t, Config{SignatureSecret: testSecret})
	for _, extra := range []string{"status=started", "direction=inbound", "timestamp=2025-03-01T12%3A00%3A00.000Z", "st%61tus=started"} {
		q := "/webhooks/answer?" + answerQuery("447700900001", "447700900101", "U-G") + "&" + extra
		wantNotInService(t, e.do(signedGET(t, q, hs256(t, testSecret, testNow))))
	}
	// Unsigned mode too: the shape alone refuses it.
	e = newTestEnv(t, Config{})
	wantNotInService(t, e.post("/webhooks/answer", events["started"]))
}

// TestAnswerTokenReplayedAtEvent: a token is good for its route only.
func TestAnswerTokenReplayedAtEvent(t *testing.T) {
	e := newTestEnv(t, Config{SignatureSecret: testSecret})
	body := answerJSON("447700900001", "447700900101", "U-X")
	ans := signedPOST(t, "/webhooks/answer", body, hs256(t, testSecret, testNow))
	wantAliceToBob(t, e.do(ans))
	r := again(ans, body)
	r.URL.Path = "/webhooks/event"
	if rec := e.do(r); rec.Code != http.StatusUnauthorized {
		t.Errorf("answer token at the event route = %d, want 401", rec.Code)
	}
	// The route aliases are one route: a Vonage retry may use either.
	r = again(ans, body)
	r.URL.Path = "/proxy-call"
	wantAliceToBob(t, e.do(r))
}

// TestEventRetries: Vonage's retries of an event within the window are
// acknowledged; later ones are replays.
func TestEventRetries(t *testing.T) {
	e := newTestEnv(t, Config{SignatureSecret: testSecret})
	body := `{"uuid":"U-V","status":"answered","direction":"inbound","timestamp":"2025-03-01T12:00:01.000Z"}`
	ev := signedPOST(t, "/webhooks/event", body, hs256(t, testSecret, testNow))
	for i := range 1 + replayMaxRetries {
		if rec := e.do(again(ev, body)); rec.Code != http.StatusNoContent {
			t.Fatalf("event delivery %d = %d, want 204", i, rec.Code)
		}
	}
	if rec := e.do(again(ev, body)); rec.Code != http.StatusUnauthorized {
		t.Errorf("event replay = %d, want 401", rec.Code)
	}
}

// TestReplayCacheFull: with every slot held by a token that has not
// expired, an answer fails closed (503, not connected) and an event fails
// open (recorded); once the tokens expire there is room again.
func TestReplayCacheFull(t *testing.T) {
	e := newTestEnv(t, Config{SignatureSecret: testSecret, ReplayCacheSize: replayShards})
	clock := testNow
	e.srv.now = func() time.Time { return clock }
	// Fill every shard (one id each).
	for i := 0; e.srv.replay.len() < replayShards; i++ {
		if i > 10000 {
			t.Fatal("could not fill the replay cache")
		}
		rec := e.do(signedPOST(t, "/webhooks/event", `{"uuid":"U-F","status":"ringing"}`, hs256(t, testSecret, testNow)))
		if rec.Code != http.StatusNoContent {
			t.Fatalf("event = %d", rec.Code)
		}
	}
	q := "/webhooks/answer?" + answerQuery("447700900001", "447700900101", "U-F")
	rec := e.do(signedGET(t, q, hs256(t, testSecret, testNow)))
	if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), "connect") {
		t.Errorf("answer with the cache full = %d %s, want 503", rec.Code, rec.Body)
	}
	before := e.store.recordEvents
	if rec := e.do(signedPOST(t, "/webhooks/event", `{"uuid":"U-F","status":"answered"}`, hs256(t, testSecret, testNow))); rec.Code != http.StatusNoContent {
		t.Errorf("event with the cache full = %d, want 204", rec.Code)
	}
	if e.store.recordEvents != before+1 {
		t.Error("the event was not recorded")
	}
	if e.srv.replay.len() > replayShards {
		t.Errorf("cache holds %d ids, bound %d", e.srv.replay.len(), replayShards)
	}

	// The tokens expire: the cache makes room.
	clock = testNow.Add(signature.MaxAge + 2*time.Second)
	wantAliceToBob(t, e.do(signedGET(t, q, hs256(t, testSecret, clock))))
}

// TestReplayCacheBounded: under a steady stream of tokens, ids are
// evicted once their token expires, so memory follows the rate times the
// token lifetime, not the total seen.
func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(1 << 12)
	var tok signature.Token
	const perSecond = 5
	for i := range 100_000 { // over five hours
		now := testNow.Add(time.Duration(i) * time.Second / perSecond)
		tok.ID = fmt.Sprintf("jti-%d", i)
		tok.IssuedAt = now
		if got := c.check(&tok, 1, now); got != replayNew {
			t.Fatalf("token %d: %v", i, got)
		}
	}
	// What a token's lifetime holds, with a second of slack, and in each
	// shard the few ids expired since its last insertion (it evicts then).
	if n, most := c.len(), perSecond*int(signature.MaxAge/time.Second+2)+2*replayShards; n > most {
		t.Errorf("cache holds %d ids, want at most %d", n, most)
	}
	for i := range c.shards {
		if f := &c.shards[i]; f.n > 2*perSecond*int(signature.MaxAge/time.Second) {
			t.Errorf("shard %d keeps %d ids in its ring", i, f.n)
		}
	}
}

// TestReplayCacheAgreesWithModel drives the cache with random tokens (new
// ids, ids seen before, ids reused after their token expired, retries on
// the same and other routes and payloads) while time moves on, and checks
// each answer against a plain map that forgets nothing but expired tokens,
// and the shards' arrays after each step: every id remembered is found
// where the ring holds it, and no slot names anything else. The cache is
// small (64 ids a shard) so that ids collide in the slots and are unlinked
// by eviction and by reuse all the time.
func TestReplayCacheAgreesWithModel(t *testing.T) {
	type modelEntry struct {
		payload        byte
		route          uint8
		expires, first uint32
		retries        uint8
	}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		c := newReplayCache(64 * replayShards)
		model := map[string]modelEntry{}
		now := testNow
		var ids []string
		for step := range 20_000 {
			now = now.Add(time.Duration(rng.IntN(400)) * time.Millisecond)
			var id string
			if len(ids) > 0 && rng.IntN(3) == 0 {
				id = ids[rng.IntN(len(ids))] // again: a retry, a replay, or an expired id reused
			} else {
				id = fmt.Sprintf("jti-%d-%d", seed, step)
				ids = append(ids, id)
			}
			tok := signature.Token{ID: id, IssuedAt: now.Add(-time.Duration(rng.IntN(200)) * time.Second)}
			tok.PayloadHash[0] = byte(rng.IntN(2))
			route := uint8(1 + rng.IntN(2))
			if e, ok := model[id]; ok && rng.IntN(2) == 0 {
				// the same token again, mostly: a retry
				tok.IssuedAt = time.Unix(int64(e.expires)-1, 0).Add(-signature.MaxAge)
				tok.PayloadHash[0], route = e.payload, e.route
			}
			got := c.check(&tok, route, now)

			nowS := uint32(now.Unix())
			want := replayNew
			if e, ok := model[id]; ok && e.expires >= nowS {
				want = replayRefused
				if e.route == route && e.payload == tok.PayloadHash[0] &&
					nowS-e.first <= uint32(ReplayRetryWindow/time.Second) && e.retries < replayMaxRetries {
					want = replayRetry
					e.retries++
					model[id] = e
				}
			}
			if got == replayFull && want == replayNew {
				// Allowed only when the id's shard holds 64 ids.
				s := &c.shards[maphash.String(c.seed, id)%replayShards]
				if s.n != len(s.ring) {
					t.Fatalf("seed %d step %d: full with %d of %d", seed, step, s.n, len(s.ring))
				}
			} else if got != want {
				t.Fatalf("seed %d step %d: %s = %v, want %v", seed, step, id, got, want)
			} else if want == replayNew {
				model[id] = modelEntry{payload: tok.PayloadHash[0], route: route, first: nowS,
					expires: uint32(tok.IssuedAt.Add(signature.MaxAge).Unix() + 1)}
			}
			if step%97 == 0 {
				checkReplayShards(t, c)
			}
		}
		checkReplayShards(t, c)
	}
}

// checkReplayShards checks every shard's ring against its slots.
func checkReplayShards(t *testing.T, c *replayCache) {
	t.Helper()
	for i := range c.shards {
		s := &c.shards[i]
		if s.ring == nil {
			continue
		}
		live := 0
		for j := range s.n {
			pos := (s.head + j) % len(s.ring)
			e := s.ring[pos]
			if e.dead {
				continue
			}
			live++
			if slot, ok := s.find(e.key); !ok || s.slots[slot] != uint32(pos)+1 {
				t.Fatalf("shard %d: the id at %d is not found (slot %d, %v)", i, pos, slot, ok)
			}
		}
		used := 0
		for _, v := range s.slots {
			if v != 0 {
				used++
			}
		}
		if used != live {
			t.Fatalf("shard %d: %d slots used for %d ids", i, used, live)
		}
	}
}

// BenchmarkReplayCacheCheck: a new id remembered, as at every answer, with
// the cache holding 500,000 others.
//
//	go test -run '^$' -bench ReplayCacheCheck ./internal/webhook/
func BenchmarkReplayCacheCheck(b *testing.B) {
	const held = 500_000
	toks := make([]signature.Token, held+b.N)
	for i := range toks {
		toks[i] = signature.Token{ID: fmt.Sprint("jti-", i), IssuedAt: testNow}
	}
	c := newReplayCache(0)
	for i := range held {
		c.check(&toks[i], 1, testNow)
	}
	b.ResetTimer()
	for i := range b.N {
		if c.check(&toks[held+i], 1, testNow) != replayNew {
			b.Fatal("not new")
		}
	}
}
