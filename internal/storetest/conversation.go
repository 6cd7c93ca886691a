package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

func (h *harness) testCreateConversation(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		exp := t0.Add(time.Hour)
		c := &maskcall.Conversation{Ref: "order-1", ExpiresAt: &exp,
			Participants: []maskcall.Participant{gb(alice, "a"), gb(bob, "b")}}
		if err := db.CreateConversation(ctx, c, nil, t0); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.ID, "cv_") || len(c.ID) != 15 || strings.ToLower(c.ID) != c.ID {
			t.Errorf("ID = %q", c.ID)
		}
		if c.Status != maskcall.ConversationActive || !c.CreatedAt.Equal(t0) || c.EndedAt != nil {
			t.Errorf("status %q, created %v, ended %v", c.Status, c.CreatedAt, c.EndedAt)
		}
		if got := proxies(c); got != [2]string{gb1, gb1} {
			t.Errorf("proxies = %v", got)
		}

		got, err := db.FindConversationByID(ctx, c.ID, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("stored\n%+v\nwant\n%+v", got, c)
		}
		// One number serving both participants counts once.
		if n := counter(t, db, gb1); n != 1 {
			t.Errorf("counter = %d, want 1", n)
		}
		assertCounters(t, db)
	})

	t.Run("GivenID", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		mustCreateNumber(t, db, gb2, "GB")
		c := &maskcall.Conversation{ID: "cv_mine", Participants: []maskcall.Participant{gb(alice, "a"), gb(bob, "b")}}
		if err := db.CreateConversation(ctx, c, nil, t0); err != nil {
			t.Fatal(err)
		}
		if c.ID != "cv_mine" {
			t.Fatalf("ID = %q", c.ID)
		}
		c2 := &maskcall.Conversation{ID: "cv_mine", Participants: []maskcall.Participant{gb(carol, "a"), gb(dave, "b")}}
		assertCode(t, db.CreateConversation(ctx, c2, nil, t0), maskcall.ECONFLICT)
		assertCounters(t, db)
	})

	t.Run("LocalCountry", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, us1, "US") // lowest number, but not local for GB
		mustCreateNumber(t, db, gb2, "GB")
		c := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), us(carol, "c"))
		if got := proxies(c); got != [2]string{gb2, us1} {
			t.Errorf("proxies = %v, want local numbers", got)
		}
	})

	t.Run("LeastUsed", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		mustCreateNumber(t, db, gb2, "GB")
		mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b")) // gb1 used once
		c := mustCreateConversation(t, db, t0, 0, gb(carol, "c"), gb(dave, "d"))
		if got := proxies(c); got != [2]string{gb2, gb2} {
			t.Errorf("proxies = %v, want the unused %s", got, gb2)
		}
	})

	t.Run("TieBreak", func(t *testing.T) {
		// Equal in every way: the lowest number, whatever the insert order.
		db := h.open(t)
		mustCreateNumber(t, db, gb3, "GB")
		mustCreateNumber(t, db, gb1, "GB")
		mustCreateNumber(t, db, gb2, "GB")
		c := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		if got := proxies(c); got != [2]string{gb1, gb1} {
			t.Errorf("proxies = %v", got)
		}
	})

	t.Run("Sticky", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		mustCreateNumber(t, db, gb2, "GB")
		mustCreateNumber(t, db, us1, "US")
		// Alice–Bob get gb1. Once it has ended, another conversation uses
		// gb1, so least-used would now pick gb2 for them; sticky wins.
		c1 := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		if got := proxies(c1); got != [2]string{gb1, gb1} {
			t.Fatalf("first proxies = %v", got)
		}
		if _, err := db.EndConversation(ctx, c1.ID, "", t0); err != nil {
			t.Fatal(err)
		}
		mustCreateConversation(t, db, t0, 0, gb(carol, "c"), gb(dave, "d"))
		if counter(t, db, gb1) != 1 || counter(t, db, gb2) != 0 {
			t.Fatalf("counters: gb1 %d, gb2 %d", counter(t, db, gb1), counter(t, db, gb2))
		}
		c2 := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		if got := proxies(c2); got != [2]string{gb1, gb1} {
			t.Errorf("proxies = %v, want sticky %s", got, gb1)
		}

		// Sticky beats local: Alice's last proxy with Carol was a US number.
		db2 := h.open(t)
		mustCreateNumber(t, db2, us1, "US")
		c3 := mustCreateConversation(t, db2, t0, 0, gb(alice, "a"), us(carol, "c"))
		if _, err := db2.EndConversation(ctx, c3.ID, "", t0); err != nil {
			t.Fatal(err)
		}
		mustCreateNumber(t, db2, gb1, "GB")
		c4 := mustCreateConversation(t, db2, t0, 0, gb(alice, "a"), us(carol, "c"))
		if got := proxies(c4); got[0] != us1 {
			t.Errorf("alice's proxy = %s, want sticky %s", got[0], us1)
		}
		// Sticky is per pair: with Dave, Alice gets the local number.
		if _, err := db2.EndConversation(ctx, c4.ID, "", t0); err != nil {
			t.Fatal(err)
		}
		c5 := mustCreateConversation(t, db2, t0, 0, gb(alice, "a"), us(dave, "d"))
		if got := proxies(c5); got[0] != gb1 {
			t.Errorf("alice's proxy with dave = %s, want %s", got[0], gb1)
		}
	})

	t.Run("SharedParticipant", func(t *testing.T) {
		// A second conversation with Alice gives her another key.
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		mustCreateNumber(t, db, gb2, "GB")
		c1 := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		c2 := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(carol, "c"))
		if c1.Participants[0].ProxyNumber == c2.Participants[0].ProxyNumber {
			t.Fatalf("alice has %s in both conversations", c1.Participants[0].ProxyNumber)
		}
		// Carol could have gb1 (her key (carol, gb1) is free) but gb2 is
		// less used.
		if got := proxies(c2); got != [2]string{gb2, gb2} {
			t.Errorf("proxies = %v", got)
		}
		assertCounters(t, db)
	})

	t.Run("OneNumberManyConversations", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		for i := range 50 {
			c := mustCreateConversation(t, db, t0, 0,
				gb(fmt.Sprintf("+4477009010%02d", i), "a"), gb(fmt.Sprintf("+4477009020%02d", i), "b"))
			if got := proxies(c); got != [2]string{gb1, gb1} {
				t.Fatalf("proxies = %v", got)
			}
		}
		if n := counter(t, db, gb1); n != 50 {
			t.Errorf("counter = %d, want 50", n)
		}
		assertCounters(t, db)
	})

	t.Run("ErrParticipantIsPoolNumber", func(t *testing.T) {
		// A pool number cannot be a participant: calls to it would loop
		// back into maskcall. Not yet active numbers are the pool's too.
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		mustCreateNumber(t, db, gb2, "GB")
		if err := db.CreateNumber(ctx, &maskcall.Number{Number: gb3, Country: "GB", Status: maskcall.NumberUnconfigured}, t0); err != nil {
			t.Fatal(err)
		}
		for _, pair := range [][2]string{{gb1, bob}, {bob, gb2}, {alice, gb3}} {
			_, err := createConv(db, t0, 0, gb(pair[0], "a"), gb(pair[1], "b"))
			assertCode(t, err, maskcall.EINVALIDNUMBER)
		}
		assertNoConversations(t, db)
		assertCounters(t, db)
	})

	t.Run("SMSCapability", func(t *testing.T) {
		// A conversation that texts never gets a number without SMS; one
		// that does not may use any VOICE number, and prefers it when
		// it is less used.
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB", "VOICE")
		mustCreateNumber(t, db, gb2, "GB", "VOICE", "SMS")
		mustCreateNumber(t, db, gb3, "GB", "SMS")
		texting, err := createConv(db, t0, 0, gb(alice, "a"), gb(bob, "b"), maskcall.FeatureSMS)
		if err != nil {
			t.Fatal(err)
		}
		if got := proxies(texting); got != [2]string{gb2, gb2} {
			t.Errorf("texting conversation proxies = %v, want the VOICE+SMS %s", got, gb2)
		}
		voice := mustCreateConversation(t, db, t0, 0, gb(carol, "c"), gb(dave, "d"))
		if got := proxies(voice); got != [2]string{gb1, gb1} {
			t.Errorf("voice-only conversation proxies = %v, want the least used VOICE number %s", got, gb1)
		}
		// Alice already has gb2: the only other SMS number lacks VOICE.
		_, err = createConv(db, t0, 0, gb(alice, "a"), gb(carol, "c"), maskcall.FeatureSMS)
		assertCode(t, err, maskcall.EEXHAUSTED)
		var ex *maskcall.ExhaustedError
		if !errors.As(err, &ex) || ex.Participant.Number != alice || !reflect.DeepEqual(ex.Features, []string{"VOICE", "SMS"}) {
			t.Fatalf("exhausted = %+v (%v), want alice needing VOICE and SMS", ex, err)
		}
		// Without texting, gb1 serves her.
		if c, err := createConv(db, t0, 0, gb(alice, "a"), gb(carol, "c")); err != nil || c.Participants[0].ProxyNumber != gb1 {
			t.Fatalf("voice-only conversation for alice: %v %v", c, err)
		}
		assertCounters(t, db)
	})

	t.Run("OnlyActiveNumbers", func(t *testing.T) {
		db := h.open(t)
		for i, st := range []maskcall.NumberStatus{maskcall.NumberPurchasing, maskcall.NumberUnconfigured, maskcall.NumberReleased} {
			n := &maskcall.Number{Number: fmt.Sprintf("+44700000000%d", i+1), Country: "GB", Status: st, Features: []string{"VOICE", "SMS"}}
			if err := db.CreateNumber(ctx, n, t0); err != nil {
				t.Fatal(err)
			}
		}
		_, err := createConv(db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		assertCode(t, err, maskcall.EEXHAUSTED)
	})

	t.Run("ErrExhausted", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		mustCreateConversation(t, db, t0, 0, gb(alice, "alice"), gb(bob, "bob"))
		_, err := createConv(db, t0, 0, gb(carol, ""), gb(alice, "alice"))
		assertCode(t, err, maskcall.EEXHAUSTED)
		var ex *maskcall.ExhaustedError
		if !errors.As(err, &ex) {
			t.Fatalf("%v does not wrap *ExhaustedError", err)
		}
		if ex.Participant.Number != alice {
			t.Errorf("exhausted participant = %+v", ex.Participant)
		}
		if got, want := maskcall.ErrorMessage(err), "No pool number is free for participant alice (+44*******123, GB)."; got != want {
			t.Errorf("message = %q, want %q", got, want)
		}
		if strings.Contains(err.Error(), alice) {
			t.Errorf("message shows the real number: %q", err.Error())
		}
		// Nothing was stored.
		page, err := db.FindConversations(ctx, maskcall.ConversationFilter{}, t0)
		if err != nil || len(page.Conversations) != 1 {
			t.Fatalf("%v, %v", page, err)
		}
		assertCounters(t, db)

		// Without a label, the position names the participant.
		_, err = createConv(db, t0, 0, gb(alice, ""), gb(carol, ""))
		if got := maskcall.ErrorMessage(err); !strings.Contains(got, "participant a (+44*******123, GB)") {
			t.Errorf("message = %q", got)
		}
	})

	t.Run("ErrExhaustedEmptyPool", func(t *testing.T) {
		db := h.open(t)
		_, err := createConv(db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		assertCode(t, err, maskcall.EEXHAUSTED)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		for name, c := range map[string]*maskcall.Conversation{
			"one participant": {Participants: []maskcall.Participant{gb(alice, "a")}},
			"same numbers":    {Participants: []maskcall.Participant{gb(alice, "a"), gb(alice, "b")}},
			"no number":       {Participants: []maskcall.Participant{gb(alice, "a"), gb("", "b")}},
			"expired":         {ExpiresAt: &t0, Participants: []maskcall.Participant{gb(alice, "a"), gb(bob, "b")}},
		} {
			if err := db.CreateConversation(ctx, c, nil, t0); maskcall.ErrorCode(err) != maskcall.EINVALID {
				t.Errorf("%s: %v, want EINVALID", name, err)
			}
		}
		assertNoConversations(t, db)
	})

	t.Run("SweepsExpiredFirst", func(t *testing.T) {
		// With one pool number, Alice's key is free again once her
		// conversation has expired, without a separate sweep.
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		c1 := mustCreateConversation(t, db, t0, time.Minute, gb(alice, "a"), gb(bob, "b"))
		_, err := createConv(db, t0.Add(time.Minute-1), 0, gb(alice, "a"), gb(carol, "c"))
		assertCode(t, err, maskcall.EEXHAUSTED)
		mustCreateConversation(t, db, t0.Add(time.Minute), 0, gb(alice, "a"), gb(carol, "c"))
		got, err := db.FindConversationByID(ctx, c1.ID, t0)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != maskcall.ConversationEnded || got.EndReason != maskcall.EndReasonExpired {
			t.Errorf("first conversation: %s %s", got.Status, got.EndReason)
		}
		if n := counter(t, db, gb1); n != 1 {
			t.Errorf("counter = %d, want 1", n)
		}
		assertCounters(t, db)
	})
}

// Goroutines create and end conversations over a small pool at once (on
// two handles when the store can Reopen): no key is ever handed out twice,
// every creation either succeeds or is exhausted, counters stay right.
func (h *harness) testCreateConversation_Concurrent(t *testing.T) {
	ctx := context.Background()
	dbs := []maskcall.Store{h.open(t)}
	if h.Reopen != nil {
		dbs = append(dbs, h.Reopen(t, dbs[0]))
	}
	for i := range 8 {
		mustCreateNumber(t, dbs[0], fmt.Sprintf("+4470000000%02d", i), "GB")
	}
	people := make([]string, 12)
	for i := range people {
		people[i] = fmt.Sprintf("+4477009001%02d", i)
	}

	var mu sync.Mutex
	var created, exhausted int
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := range 20 / len(dbs) * 2 {
		db := dbs[g%len(dbs)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 15 {
				i, j := rng.IntN(len(people)), rng.IntN(len(people)-1)
				if j >= i {
					j++
				}
				c, err := createConv(db, t0, 0, gb(people[i], "a"), gb(people[j], "b"))
				switch maskcall.ErrorCode(err) {
				case "":
					mu.Lock()
					created++
					mu.Unlock()
				case maskcall.EEXHAUSTED:
					mu.Lock()
					exhausted++
					mu.Unlock()
					continue
				default:
					errs <- err
					return
				}
				if _, err := db.FindRoute(ctx, c.Participants[0].Number, c.Participants[0].ProxyNumber, t0); err != nil {
					errs <- err
					return
				}
				if rng.IntN(4) != 0 {
					if _, err := db.EndConversation(ctx, c.ID, "", t0); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("%v (%#v)", err, err)
	}
	t.Logf("%d created, %d exhausted", created, exhausted)
	if created == 0 {
		t.Fatal("nothing created")
	}

	// No active key twice: each (number, proxy) routes to one conversation.
	active := maskcall.ConversationActive
	page, err := dbs[len(dbs)-1].FindConversations(ctx, maskcall.ConversationFilter{Status: &active}, t0)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[[2]string]string{}
	for _, c := range page.Conversations {
		for _, p := range c.Participants {
			k := [2]string{p.Number, p.ProxyNumber}
			if other, dup := keys[k]; dup {
				t.Fatalf("key %v handed out to %s and %s", k, other, c.ID)
			}
			keys[k] = c.ID
			r, err := dbs[0].FindRoute(ctx, p.Number, p.ProxyNumber, t0)
			if err != nil || r.ConversationID != c.ID {
				t.Fatalf("route of %v: %+v %v, want %s", k, r, err, c.ID)
			}
		}
	}
	assertCounters(t, dbs[len(dbs)-1])
}

func (h *harness) testEndConversation(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		mustCreateNumber(t, db, us1, "US")
		c := mustCreateConversation(t, db, t0, time.Hour, gb(alice, "a"), us(carol, "c"))
		at := t0.Add(time.Minute)
		got, err := db.EndConversation(ctx, c.ID, maskcall.EndReasonEnded, at)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != maskcall.ConversationEnded || got.EndedAt == nil || !got.EndedAt.Equal(at) || got.EndReason != maskcall.EndReasonEnded {
			t.Fatalf("ended conversation = %+v", got)
		}
		if len(got.Participants) != 2 || got.Participants[0].Number != alice {
			t.Errorf("participants = %+v", got.Participants)
		}
		if counter(t, db, gb1) != 0 || counter(t, db, us1) != 0 {
			t.Errorf("counters not released")
		}
		if _, err := db.FindRoute(ctx, alice, gb1, at); maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
			t.Errorf("ended conversation still routes: %v", err)
		}
		assertCounters(t, db)
	})

	t.Run("Idempotent", func(t *testing.T) {
		db := h.open(t)
		mustCreateNumber(t, db, gb1, "GB")
		c := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		mustCreateConversation(t, db, t0, 0, gb(carol, "a"), gb(dave, "b"))
		first, err := db.EndConversation(ctx, c.ID, "", t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		second, err := db.EndConversation(ctx, c.ID, "other", t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(first, second) {
			t.Errorf("second end changed it:\n%+v\n%+v", first, second)
		}
		if n := counter(t, db, gb1); n != 1 {
			t.Errorf("counter = %d, want 1", n)
		}
		assertCounters(t, db)
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		db := h.open(t)
		_, err := db.EndConversation(ctx, "cv_nope", "", t0)
		assertCode(t, err, maskcall.ENOTFOUND)
	})
}

func (h *harness) testExpireConversations(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	mustCreateNumber(t, db, gb1, "GB")
	mustCreateNumber(t, db, gb2, "GB")
	short := mustCreateConversation(t, db, t0, time.Minute, gb(alice, "a"), gb(bob, "b"))
	long := mustCreateConversation(t, db, t0, time.Hour, gb(alice, "a"), gb(carol, "c"))
	never := mustCreateConversation(t, db, t0, 0, gb(dave, "d"), gb(bob, "b"))
	exp := *short.ExpiresAt
	key := short.Participants[0]

	// The route stops at the instant of expiry, before any sweep.
	if _, err := db.FindRoute(ctx, key.Number, key.ProxyNumber, exp.Add(-time.Nanosecond)); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	if _, err := db.FindRoute(ctx, key.Number, key.ProxyNumber, exp); maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
		t.Fatalf("at expiry: %v", err)
	}

	n, err := db.ExpireConversations(ctx, exp.Add(-time.Nanosecond))
	if err != nil || n != 0 {
		t.Fatalf("early sweep: %d, %v", n, err)
	}
	before := counter(t, db, key.ProxyNumber)

	sweep := exp.Add(10 * time.Second)
	if n, err = db.ExpireConversations(ctx, sweep); err != nil || n != 1 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	got, err := db.FindConversationByID(ctx, short.ID, t0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != maskcall.ConversationEnded || got.EndReason != maskcall.EndReasonExpired {
		t.Errorf("expired conversation: %s %q", got.Status, got.EndReason)
	}
	// It ended when it stopped routing.
	if got.EndedAt == nil || !got.EndedAt.Equal(exp) {
		t.Errorf("ended at %v, want %v", got.EndedAt, exp)
	}
	if after := counter(t, db, key.ProxyNumber); after != before-1 {
		t.Errorf("counter %d -> %d", before, after)
	}
	for _, id := range []string{long.ID, never.ID} {
		if c, err := db.FindConversationByID(ctx, id, t0); err != nil || c.Status != maskcall.ConversationActive {
			t.Errorf("%s: %v %v", id, c, err)
		}
	}
	// A second sweep finds nothing more.
	if n, err = db.ExpireConversations(ctx, sweep); err != nil || n != 0 {
		t.Fatalf("second sweep: %d, %v", n, err)
	}
	assertCounters(t, db)
}

func (h *harness) testPurgeConversations(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	mustCreateNumber(t, db, gb1, "GB")
	mustCreateNumber(t, db, gb2, "GB")
	old := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
	recent := mustCreateConversation(t, db, t0, 0, gb(carol, "c"), gb(dave, "d"))
	active := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(carol, "c"))
	expiring := mustCreateConversation(t, db, t0, time.Minute, gb(dave, "d"), gb(bob, "b"))
	for i, id := range []string{old.ID, recent.ID, active.ID} {
		call := &maskcall.Call{UUID: fmt.Sprintf("leg-%d", i), ConversationUUID: fmt.Sprintf("CON-%d", i), ConversationID: id, Status: "started"}
		if err := db.CreateCall(ctx, call, t0); err != nil {
			t.Fatal(err)
		}
		if ok, err := db.RecordCallEvent(ctx, maskcall.CallEvent{UUID: call.UUID, Status: "ringing", Timestamp: t0}, t0); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	if _, err := db.EndConversation(ctx, old.ID, "", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EndConversation(ctx, recent.ID, "", t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}

	// Only ended conversations that ended before the cut-off go; one that
	// expired without a sweep is still active in storage and is kept.
	n, err := db.PurgeConversations(ctx, t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if _, err := db.FindConversationByID(ctx, old.ID, t0); maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
		t.Errorf("purged conversation: %v", err)
	}
	for _, id := range []string{recent.ID, active.ID, expiring.ID} {
		if _, err := db.FindConversationByID(ctx, id, t0); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	if calls, err := db.FindCalls(ctx, old.ID); err != nil || len(calls) != 0 {
		t.Errorf("calls of purged conversation: %v %v", calls, err)
	}
	if calls, err := db.FindCalls(ctx, active.ID); err != nil || len(calls) != 1 || calls[0].Status != "ringing" {
		t.Errorf("calls of a kept conversation: %v %v", calls, err)
	}
	// A retried event of a purged call matches nothing now.
	if ok, err := db.RecordCallEvent(ctx, maskcall.CallEvent{UUID: "leg-0", Status: "answered", Timestamp: t0}, t0); err != nil || ok {
		t.Errorf("event of a purged call: %v %v", ok, err)
	}
	// Purging ended conversations leaves the counters alone: the active
	// conversation holds both numbers (Alice's key is on gb2, Carol's on
	// gb1), and so does the expiring one until t0+1m.
	if counter(t, db, gb1) != 2 || counter(t, db, gb2) != 2 {
		t.Errorf("counters: gb1 %d, gb2 %d", counter(t, db, gb1), counter(t, db, gb2))
	}
	assertCounters(t, db)

	// Purging everything ended frees the numbers for deletion (the
	// purged conversations' calls and sticky pairings went with them).
	if _, err := db.EndConversation(ctx, active.ID, "", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExpireConversations(ctx, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := db.PurgeConversations(ctx, t0.Add(24*time.Hour)); err != nil || n != 3 {
		t.Fatalf("purge all: %d, %v", n, err)
	}
	// (Only a purchasing number can be deleted: say it was rented again and
	// the purchase failed.)
	purchasing := maskcall.NumberPurchasing
	for _, num := range []string{gb1, gb2} {
		if _, err := db.UpdateNumber(ctx, num, maskcall.NumberUpdate{Status: &purchasing}, t0); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteNumber(ctx, num); err != nil {
			t.Fatal(err)
		}
	}
	assertNoConversations(t, db)
}

// assertNoConversations fails if db holds any conversation.
func assertNoConversations(tb testing.TB, db maskcall.Store) {
	tb.Helper()
	page, err := db.FindConversations(context.Background(), maskcall.ConversationFilter{}, t0)
	if err != nil {
		tb.Fatal(err)
	}
	if len(page.Conversations) != 0 {
		tb.Fatalf("%d conversations stored, want none", len(page.Conversations))
	}
}

func (h *harness) testFindConversations(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	mustCreateNumber(t, db, gb1, "GB")
	mustCreateNumber(t, db, gb2, "GB")
	var ids []string
	for i, pair := range [][2]string{{alice, bob}, {carol, dave}, {alice, carol}, {bob, dave}} {
		c := &maskcall.Conversation{Ref: fmt.Sprintf("ref-%d", i%2),
			Participants: []maskcall.Participant{gb(pair[0], "x"), gb(pair[1], "y")}}
		if err := db.CreateConversation(ctx, c, nil, t0.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	if _, err := db.EndConversation(ctx, ids[1], "", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	idsOf := func(cs []*maskcall.Conversation) []string {
		out := []string{}
		for _, c := range cs {
			out = append(out, c.ID)
		}
		return out
	}
	active, ended := maskcall.ConversationActive, maskcall.ConversationEnded
	ref0, a, c, nobody := "ref-0", alice, carol, "+447700900999"
	for name, tc := range map[string]struct {
		filter maskcall.ConversationFilter
		want   []string
	}{
		"All":    {maskcall.ConversationFilter{}, []string{ids[3], ids[2], ids[1], ids[0]}},
		"Active": {maskcall.ConversationFilter{Status: &active}, []string{ids[3], ids[2], ids[0]}},
		"Ended":  {maskcall.ConversationFilter{Status: &ended}, []string{ids[1]}},
		"Ref":    {maskcall.ConversationFilter{Ref: &ref0}, []string{ids[2], ids[0]}},
		"Limit":  {maskcall.ConversationFilter{Limit: 2}, []string{ids[3], ids[2]}},
		// Either side of the pair.
		"Participant":       {maskcall.ConversationFilter{Participant: &a}, []string{ids[2], ids[0]}},
		"ParticipantAll":    {maskcall.ConversationFilter{Participant: &c}, []string{ids[2], ids[1]}},
		"ParticipantActive": {maskcall.ConversationFilter{Participant: &c, Status: &active}, []string{ids[2]}},
		"ParticipantEnded":  {maskcall.ConversationFilter{Participant: &c, Status: &ended}, []string{ids[1]}},
		"ParticipantNobody": {maskcall.ConversationFilter{Participant: &nobody}, []string{}},
	} {
		t.Run(name, func(t *testing.T) {
			page, err := db.FindConversations(ctx, tc.filter, t0)
			if err != nil {
				t.Fatal(err)
			}
			cs := page.Conversations
			if got := idsOf(cs); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("ids = %v, want %v", got, tc.want)
			}
			for _, c := range cs {
				if len(c.Participants) != 2 || c.Participants[0].Label != "x" || c.Participants[1].Label != "y" {
					t.Errorf("%s participants = %+v", c.ID, c.Participants)
				}
			}
		})
	}

	t.Run("ErrNotFound", func(t *testing.T) {
		_, err := db.FindConversationByID(ctx, "cv_nope", t0)
		assertCode(t, err, maskcall.ENOTFOUND)
	})
}

func (h *harness) testFindRoute(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	mustCreateNumber(t, db, gb1, "GB")
	mustCreateNumber(t, db, us1, "US")
	c := mustCreateConversation(t, db, t0, 0, gb(alice, "Alice"), us(carol, "Carol"))
	a, b := c.Participants[0], c.Participants[1]
	if a.ProxyNumber != gb1 || b.ProxyNumber != us1 {
		t.Fatalf("proxies = %v", proxies(c))
	}

	t.Run("OK", func(t *testing.T) {
		for _, tc := range []struct{ caller, callee maskcall.Participant }{{a, b}, {b, a}} {
			r, err := db.FindRoute(ctx, tc.caller.Number, tc.caller.ProxyNumber, t0)
			if err != nil {
				t.Fatal(err)
			}
			want := &maskcall.Route{ConversationID: c.ID, Mode: maskcall.ModeVoiceAndSMS, Caller: tc.caller, Callee: tc.callee}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("route = %+v, want %+v", r, want)
			}
		}
	})

	// The conversation's mode is kept and comes with its route: the
	// Router refuses calls to an sms-only conversation by it.
	t.Run("Mode", func(t *testing.T) {
		for i, mode := range []maskcall.ConversationMode{maskcall.ModeVoice, maskcall.ModeSMS, maskcall.ModeVoiceAndSMS} {
			a, b := gb(fmt.Sprintf("+4477009002%02d", i), "A"), us(fmt.Sprintf("+120255502%02d", i), "B")
			c := &maskcall.Conversation{Ref: "ref", Mode: mode, Participants: []maskcall.Participant{a, b}}
			if err := db.CreateConversation(ctx, c, nil, t0); err != nil {
				t.Fatal(err)
			}
			for _, p := range c.Participants {
				r, err := db.FindRoute(ctx, p.Number, p.ProxyNumber, t0)
				if err != nil {
					t.Fatal(err)
				}
				if r.ConversationID != c.ID || r.Mode != mode {
					t.Errorf("%s: route of %s, mode %q", mode, r.ConversationID, r.Mode)
				}
			}
			got, err := db.FindConversationByID(ctx, c.ID, t0)
			if err != nil {
				t.Fatal(err)
			}
			if got.Mode != mode {
				t.Errorf("stored mode %q, want %q", got.Mode, mode)
			}
		}
	})

	t.Run("ErrNotFound", func(t *testing.T) {
		for _, key := range [][2]string{
			{bob, gb1},       // a stranger
			{alice, us1},     // Alice dialling Carol's proxy
			{carol, "+1234"}, // not a pool number
			{gb1, alice},     // reversed
		} {
			_, err := db.FindRoute(ctx, key[0], key[1], t0)
			assertCode(t, err, maskcall.ENOTFOUND)
		}
	})
}
