package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// The answer agrees with the store, always.
//
// testRouteProperty drives random interleavings of creating, ending,
// expiring (time moves, sometimes to the very instant of an expiry, and
// the sweep runs), and releasing numbers (which ends their conversations),
// against calls answered by a maskcall.Router, and checks every answer
// against a model of what the writes said and against the store's own
// record of the conversation: a call connects if and only if its caller
// has an active, unexpired conversation on the proxy it dialled, and then
// to that conversation's other participant.
//
// Whatever answers (the store's FindRoute today; any index or cache put in
// front of it through Harness.Routes) must pass. With Harness.Reopen, the
// writes go through a second handle half of the time, as the CLI beside
// serve or another replica does them, and the very next call must see
// them.
//
// The seed is random and printed on failure; MASKCALL_ROUTE_SEED=N
// replays one. MASKCALL_ROUTE_STEPS raises the number of steps.
func (h *harness) testRouteProperty(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MASKCALL_ROUTE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MASKCALL_ROUTE_SEED: %v", err)
		}
		seed = v
	}
	steps := 400
	if s := os.Getenv("MASKCALL_ROUTE_STEPS"); s != "" {
		if v, err := strconv.Atoi(s); err == nil && v > 0 {
			steps = v
		}
	}
	rng := rand.New(rand.NewPCG(seed, 13))
	ctx := context.Background()

	db := h.open(t)
	writers := []maskcall.Store{db}
	if h.Reopen != nil {
		writers = append(writers, h.Reopen(t, db))
	}
	pool := []string{gb1, gb2, gb3}
	for _, n := range pool {
		mustCreateNumber(t, db, n, "GB")
	}
	people := []string{alice, bob, "+447700900201", "+447700900202", "+447700900203", "+447700900204"}

	now := t0
	var routes maskcall.RouteStore = db
	if h.Routes != nil {
		routes = h.Routes(t, db)
	}
	router := &maskcall.Router{Routes: routes, Calls: db, Now: func() time.Time { return now }}

	// The model: every conversation the writes created, with when it
	// stops routing.
	type conv struct {
		id    string
		parts [2]maskcall.Participant
		exp   *time.Time
		ended bool
	}
	var convs []*conv
	routable := func(c *conv) bool { return !c.ended && (c.exp == nil || now.Before(*c.exp)) }

	var history []string
	fail := func(format string, args ...any) {
		t.Helper()
		tail := history[max(0, len(history)-25):]
		t.Fatalf("seed %d (MASKCALL_ROUTE_SEED=%d replays it), step %d: %s\nlast steps:\n  %s",
			seed, seed, len(history), fmt.Sprintf(format, args...), strings.Join(tail, "\n  "))
	}
	writer := func() (maskcall.Store, string) {
		k := rng.IntN(len(writers))
		return writers[k], []string{"", " (other handle)"}[k]
	}
	calls, connects := 0, 0

	for range steps {
		switch op := rng.IntN(100); {
		case op < 25: // create
			i, j := rng.IntN(len(people)), rng.IntN(len(people)-1)
			if j >= i {
				j++
			}
			var ttl time.Duration
			if rng.IntN(3) > 0 {
				ttl = time.Duration(1+rng.IntN(120)) * time.Second
			}
			w, via := writer()
			c, err := createConv(w, now, ttl, gb(people[i], "p"), gb(people[j], "q"))
			if err != nil {
				// The pool may be exhausted for these two; nothing changes.
				history = append(history, fmt.Sprintf("create %s-%s%s: %s", people[i], people[j], via, maskcall.ErrorCode(err)))
				if code := maskcall.ErrorCode(err); code != maskcall.EEXHAUSTED && code != maskcall.ECONFLICT {
					fail("create: %v", err)
				}
				continue
			}
			m := &conv{id: c.ID, parts: [2]maskcall.Participant{c.Participants[0], c.Participants[1]}, exp: c.ExpiresAt}
			convs = append(convs, m)
			history = append(history, fmt.Sprintf("create %s%s: %s via %s, %s via %s, ttl %v",
				c.ID, via, m.parts[0].Number, m.parts[0].ProxyNumber, m.parts[1].Number, m.parts[1].ProxyNumber, ttl))
		case op < 35 && len(convs) > 0: // end
			c := convs[rng.IntN(len(convs))]
			w, via := writer()
			_, err := w.EndConversation(ctx, c.id, "test", now)
			history = append(history, fmt.Sprintf("end %s%s: %v", c.id, via, maskcall.ErrorCode(err)))
			if err != nil && routable(c) {
				fail("ending routable %s: %v", c.id, err)
			}
			c.ended = true
		case op < 47: // time moves
			switch k := rng.IntN(4); {
			case k == 0 && len(convs) > 0:
				// To the instant of some expiry, or just before it.
				c := convs[rng.IntN(len(convs))]
				if c.exp != nil && c.exp.After(now) {
					now = *c.exp
					if rng.IntN(2) == 0 {
						now = now.Add(-time.Microsecond)
					}
				}
			default:
				now = now.Add(time.Duration(rng.IntN(40_000_000)) * time.Microsecond)
			}
			history = append(history, "now = t0+"+now.Sub(t0).String())
		case op < 53: // expiry sweep
			w, via := writer()
			n, err := w.ExpireConversations(ctx, now)
			history = append(history, fmt.Sprintf("expire sweep%s: %d", via, n))
			if err != nil {
				fail("expire: %v", err)
			}
			for _, c := range convs {
				if !c.ended && c.exp != nil && !now.Before(*c.exp) {
					c.ended = true
				}
			}
		case op < 58: // release a number: its conversations end
			p := pool[rng.IntN(len(pool))]
			w, via := writer()
			ids, err := w.EndConversationsUsingNumber(ctx, p, "released", now)
			history = append(history, fmt.Sprintf("release %s%s: ended %v", p, via, ids))
			if err != nil {
				fail("release: %v", err)
			}
			for _, c := range convs {
				if c.parts[0].ProxyNumber == p || c.parts[1].ProxyNumber == p {
					if routable(c) && !slices.Contains(ids, c.id) {
						fail("release %s did not report ending %s", p, c.id)
					}
					c.ended = true
				}
			}
		default: // a call
			from, to := people[rng.IntN(len(people))], pool[rng.IntN(len(pool))]
			if len(convs) > 0 && rng.IntN(2) == 0 {
				// Mostly keys that exist or existed.
				c := convs[rng.IntN(len(convs))]
				k := rng.IntN(2)
				from, to = c.parts[k].Number, c.parts[k].ProxyNumber
			}
			var want *conv
			var callee maskcall.Participant
			for _, c := range convs {
				for k := range 2 {
					if routable(c) && c.parts[k].Number == from && c.parts[k].ProxyNumber == to {
						if want != nil {
							fail("the model has two routable conversations for %s via %s: %s and %s", from, to, want.id, c.id)
						}
						want, callee = c, c.parts[1-k]
					}
				}
			}
			calls++
			rt, queued, err := router.AnswerCall(ctx, maskcall.InboundCall{UUID: fmt.Sprintf("prop-%d-%d", seed, calls),
				From: from, To: to})
			got := "not in service"
			if rt != nil {
				got = rt.ConversationID + " to " + rt.Callee.Number
			}
			history = append(history, fmt.Sprintf("call %s via %s: %s", from, to, got))
			if err != nil || queued {
				fail("answer: %v (queued %v)", err, queued)
			}
			switch {
			case want == nil && rt != nil:
				fail("call %s via %s connected to %s of %s; no conversation routes it", from, to, rt.Callee.Number, rt.ConversationID)
			case want != nil && rt == nil:
				fail("call %s via %s got not in service; %s routes it to %s", from, to, want.id, callee.Number)
			case want != nil && (rt.ConversationID != want.id || rt.Callee.Number != callee.Number || rt.Callee.ProxyNumber != callee.ProxyNumber):
				fail("call %s via %s routed to %+v, want %s to %s", from, to, rt, want.id, callee.Number)
			}
			// And the store's own record says the same.
			if rt != nil {
				connects++
				sc, err := db.FindConversationByID(ctx, rt.ConversationID, now)
				if err != nil || sc.Status != maskcall.ConversationActive || (sc.ExpiresAt != nil && !now.Before(*sc.ExpiresAt)) {
					fail("connected through %s, which the store shows as %+v (%v)", rt.ConversationID, sc, err)
				}
			}
		}
	}
	if connects == 0 || connects == calls {
		t.Fatalf("seed %d: %d calls, %d connected: the interleaving tested nothing", seed, calls, connects)
	}
}
