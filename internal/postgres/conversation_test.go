package postgres

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

// Real numbers of participants.
const (
	alice = "+447700900123"
	bob   = "+447700900456"
	carol = "+12025550101"
	dave  = "+12025550102"
)

// Pool numbers.
const (
	gb1 = "+447000000001"
	gb2 = "+447000000002"
	gb3 = "+447000000003"
	us1 = "+12000000001"
	us2 = "+12000000002"
)

func proxies(c *maskcall.Conversation) [2]string {
	return [2]string{c.Participants[0].ProxyNumber, c.Participants[1].ProxyNumber}
}

func TestDB_CreateConversation(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		exp := t0.Add(time.Hour)
		c := &maskcall.Conversation{Ref: "order-1", ExpiresAt: &exp,
			Participants: []maskcall.Participant{gb(alice, "a"), gb(bob, "b")}}
		if err := db.CreateConversation(ctx, c, t0); err != nil {
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

		got, err := db.FindConversationByID(ctx, c.ID)
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
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		MustCreateNumber(t, db, gb2, "GB")
		c := &maskcall.Conversation{ID: "cv_mine", Participants: []maskcall.Participant{gb(alice, "a"), gb(bob, "b")}}
		if err := db.CreateConversation(ctx, c, t0); err != nil {
			t.Fatal(err)
		}
		if c.ID != "cv_mine" {
			t.Fatalf("ID = %q", c.ID)
		}
		c2 := &maskcall.Conversation{ID: "cv_mine", Participants: []maskcall.Participant{gb(carol, "a"), gb(dave, "b")}}
		assertCode(t, db.CreateConversation(ctx, c2, t0), maskcall.ECONFLICT)
		assertCounters(t, db)
	})

	t.Run("LocalCountry", func(t *testing.T) {
		db := MustOpenDB(t)
		MustCreateNumber(t, db, us1, "US") // lowest number, but not local for GB
		MustCreateNumber(t, db, gb2, "GB")
		c := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), us(carol, "c"))
		if got := proxies(c); got != [2]string{gb2, us1} {
			t.Errorf("proxies = %v, want local numbers", got)
		}
	})

	t.Run("LeastUsed", func(t *testing.T) {
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		MustCreateNumber(t, db, gb2, "GB")
		MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b")) // gb1 used once
		c := MustCreateConversation(t, db, t0, 0, gb(carol, "c"), gb(dave, "d"))
		if got := proxies(c); got != [2]string{gb2, gb2} {
			t.Errorf("proxies = %v, want the unused %s", got, gb2)
		}
	})

	t.Run("TieBreak", func(t *testing.T) {
		// Equal in every way: the lowest number, whatever the insert order.
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb3, "GB")
		MustCreateNumber(t, db, gb1, "GB")
		MustCreateNumber(t, db, gb2, "GB")
		c := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		if got := proxies(c); got != [2]string{gb1, gb1} {
			t.Errorf("proxies = %v", got)
		}
	})

	t.Run("Sticky", func(t *testing.T) {
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		MustCreateNumber(t, db, gb2, "GB")
		MustCreateNumber(t, db, us1, "US")
		// Alice–Bob get gb1. Once it has ended, another conversation uses
		// gb1, so least-used would now pick gb2 for them; sticky wins.
		c1 := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		if got := proxies(c1); got != [2]string{gb1, gb1} {
			t.Fatalf("first proxies = %v", got)
		}
		if _, err := db.EndConversation(ctx, c1.ID, "", t0); err != nil {
			t.Fatal(err)
		}
		MustCreateConversation(t, db, t0, 0, gb(carol, "c"), gb(dave, "d"))
		if counter(t, db, gb1) != 1 || counter(t, db, gb2) != 0 {
			t.Fatalf("counters: gb1 %d, gb2 %d", counter(t, db, gb1), counter(t, db, gb2))
		}
		c2 := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		if got := proxies(c2); got != [2]string{gb1, gb1} {
			t.Errorf("proxies = %v, want sticky %s", got, gb1)
		}

		// Sticky beats local: Alice's last proxy with Carol was a US number.
		db2 := MustOpenDB(t)
		MustCreateNumber(t, db2, us1, "US")
		c3 := MustCreateConversation(t, db2, t0, 0, gb(alice, "a"), us(carol, "c"))
		if _, err := db2.EndConversation(ctx, c3.ID, "", t0); err != nil {
			t.Fatal(err)
		}
		MustCreateNumber(t, db2, gb1, "GB")
		c4 := MustCreateConversation(t, db2, t0, 0, gb(alice, "a"), us(carol, "c"))
		if got := proxies(c4); got[0] != us1 {
			t.Errorf("alice's proxy = %s, want sticky %s", got[0], us1)
		}
		// Sticky is per pair: with Dave, Alice gets the local number.
		if _, err := db2.EndConversation(ctx, c4.ID, "", t0); err != nil {
			t.Fatal(err)
		}
		c5 := MustCreateConversation(t, db2, t0, 0, gb(alice, "a"), us(dave, "d"))
		if got := proxies(c5); got[0] != gb1 {
			t.Errorf("alice's proxy with dave = %s, want %s", got[0], gb1)
		}
	})

	t.Run("SharedParticipant", func(t *testing.T) {
		// A second conversation with Alice gives her another key.
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		MustCreateNumber(t, db, gb2, "GB")
		c1 := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		c2 := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(carol, "c"))
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
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		for i := range 50 {
			c := MustCreateConversation(t, db, t0, 0,
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

	t.Run("NotOwnNumber", func(t *testing.T) {
		// A pool number that is also a participant's real number is never a
		// proxy in that conversation.
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		MustCreateNumber(t, db, gb2, "GB")
		c := MustCreateConversation(t, db, t0, 0, gb(gb1, "a"), gb(bob, "b"))
		if got := proxies(c); got != [2]string{gb2, gb2} {
			t.Errorf("proxies = %v", got)
		}
	})

	t.Run("OnlyActiveNumbers", func(t *testing.T) {
		db := MustOpenDB(t)
		for i, st := range []maskcall.NumberStatus{maskcall.NumberPurchasing, maskcall.NumberUnconfigured, maskcall.NumberReleased} {
			n := &maskcall.Number{Number: fmt.Sprintf("+44700000000%d", i+1), Country: "GB", Status: st}
			if err := db.CreateNumber(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		_, err := createConv(db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		assertCode(t, err, maskcall.EEXHAUSTED)
	})

	t.Run("ErrExhausted", func(t *testing.T) {
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		MustCreateConversation(t, db, t0, 0, gb(alice, "alice"), gb(bob, "bob"))
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
		cs, err := db.FindConversations(ctx, maskcall.ConversationFilter{})
		if err != nil || len(cs) != 1 {
			t.Fatalf("%d conversations, %v", len(cs), err)
		}
		assertCounters(t, db)

		// Without a label, the position names the participant.
		_, err = createConv(db, t0, 0, gb(alice, ""), gb(carol, ""))
		if got := maskcall.ErrorMessage(err); !strings.Contains(got, "participant a (+44*******123, GB)") {
			t.Errorf("message = %q", got)
		}
	})

	t.Run("ErrExhaustedEmptyPool", func(t *testing.T) {
		db := MustOpenDB(t)
		_, err := createConv(db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		assertCode(t, err, maskcall.EEXHAUSTED)
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		for name, c := range map[string]*maskcall.Conversation{
			"one participant": {Participants: []maskcall.Participant{gb(alice, "a")}},
			"same numbers":    {Participants: []maskcall.Participant{gb(alice, "a"), gb(alice, "b")}},
			"no number":       {Participants: []maskcall.Participant{gb(alice, "a"), gb("", "b")}},
			"expired":         {ExpiresAt: &t0, Participants: []maskcall.Participant{gb(alice, "a"), gb(bob, "b")}},
		} {
			if err := db.CreateConversation(ctx, c, t0); maskcall.ErrorCode(err) != maskcall.EINVALID {
				t.Errorf("%s: %v, want EINVALID", name, err)
			}
		}
	})

	t.Run("SweepsExpiredFirst", func(t *testing.T) {
		// With one pool number, Alice's key is free again once her
		// conversation has expired, without a separate sweep.
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		c1 := MustCreateConversation(t, db, t0, time.Minute, gb(alice, "a"), gb(bob, "b"))
		_, err := createConv(db, t0.Add(time.Minute-1), 0, gb(alice, "a"), gb(carol, "c"))
		assertCode(t, err, maskcall.EEXHAUSTED)
		MustCreateConversation(t, db, t0.Add(time.Minute), 0, gb(alice, "a"), gb(carol, "c"))
		got, err := db.FindConversationByID(ctx, c1.ID)
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

// Twenty goroutines on each of two stores on one database (two replicas)
// create and end conversations over a small pool: no key is ever handed out
// twice, no race surfaces as an error, counters stay right.
func TestDB_CreateConversation_Concurrent(t *testing.T) {
	// Two stores with their own pools on one schema: two replicas.
	url := MustCreateSchema(t)
	dbs := []*DB{MustOpenDBAt(t, url), MustOpenDBAt(t, url)}
	ctx := context.Background()
	for i := range 8 {
		MustCreateNumber(t, dbs[0], fmt.Sprintf("+4470000000%02d", i), "GB")
	}
	people := make([]string, 12)
	for i := range people {
		people[i] = fmt.Sprintf("+4477009001%02d", i)
	}

	var mu sync.Mutex
	var created, exhausted int
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	for g := range 20 {
		for d, db := range dbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(g), uint64(d)))
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

	var dups int
	if err := dbs[0].pool.QueryRow(context.Background(), `SELECT COUNT(*) FROM (SELECT number, proxy_number FROM participants
		WHERE active GROUP BY number, proxy_number HAVING COUNT(*) > 1) AS d`).Scan(&dups); err != nil {
		t.Fatal(err)
	} else if dups != 0 {
		t.Fatalf("%d keys handed out twice", dups)
	}
	assertCounters(t, dbs[1])
}

func TestDB_EndConversation(t *testing.T) {
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		MustCreateNumber(t, db, us1, "US")
		c := MustCreateConversation(t, db, t0, time.Hour, gb(alice, "a"), us(carol, "c"))
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
		db := MustOpenDB(t)
		MustCreateNumber(t, db, gb1, "GB")
		c := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		MustCreateConversation(t, db, t0, 0, gb(carol, "a"), gb(dave, "b"))
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
		db := MustOpenDB(t)
		_, err := db.EndConversation(ctx, "cv_nope", "", t0)
		assertCode(t, err, maskcall.ENOTFOUND)
	})
}

func TestDB_ExpireConversations(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	MustCreateNumber(t, db, gb1, "GB")
	MustCreateNumber(t, db, gb2, "GB")
	short := MustCreateConversation(t, db, t0, time.Minute, gb(alice, "a"), gb(bob, "b"))
	long := MustCreateConversation(t, db, t0, time.Hour, gb(alice, "a"), gb(carol, "c"))
	never := MustCreateConversation(t, db, t0, 0, gb(dave, "d"), gb(bob, "b"))
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
	got, err := db.FindConversationByID(ctx, short.ID)
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
		if c, err := db.FindConversationByID(ctx, id); err != nil || c.Status != maskcall.ConversationActive {
			t.Errorf("%s: %v %v", id, c, err)
		}
	}
	// A second sweep finds nothing more.
	if n, err = db.ExpireConversations(ctx, sweep); err != nil || n != 0 {
		t.Fatalf("second sweep: %d, %v", n, err)
	}
	assertCounters(t, db)
}

func TestDB_PurgeConversations(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	MustCreateNumber(t, db, gb1, "GB")
	MustCreateNumber(t, db, gb2, "GB")
	old := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
	recent := MustCreateConversation(t, db, t0, 0, gb(carol, "c"), gb(dave, "d"))
	active := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(carol, "c"))
	for i, id := range []string{old.ID, recent.ID, active.ID} {
		call := &maskcall.Call{UUID: fmt.Sprintf("leg-%d", i), ConversationUUID: fmt.Sprintf("CON-%d", i), ConversationID: id, Status: "started"}
		if err := db.CreateCall(ctx, call); err != nil {
			t.Fatal(err)
		}
		if ok, err := db.RecordCallEvent(ctx, maskcall.CallEvent{UUID: call.UUID, Status: "ringing", Timestamp: t0}); err != nil || !ok {
			t.Fatal(ok, err)
		}
	}
	if _, err := db.EndConversation(ctx, old.ID, "", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.EndConversation(ctx, recent.ID, "", t0.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}

	n, err := db.PurgeConversations(ctx, t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if _, err := db.FindConversationByID(ctx, old.ID); maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
		t.Errorf("purged conversation: %v", err)
	}
	for _, id := range []string{recent.ID, active.ID} {
		if _, err := db.FindConversationByID(ctx, id); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	count := func(query string, args ...any) int {
		var n int
		if err := db.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for table, query := range map[string]string{
		"participants": `SELECT COUNT(*) FROM participants WHERE conversation_id = $1`,
		"pairings":     `SELECT COUNT(*) FROM pairings WHERE conversation_id = $1`,
		"interactions": `SELECT COUNT(*) FROM interactions WHERE conversation_id = $1`,
	} {
		if n := count(query, old.ID); n != 0 {
			t.Errorf("%d %s left", n, table)
		}
	}
	if n := count(`SELECT COUNT(*) FROM interaction_events`); n != 2 {
		t.Errorf("%d events left, want 2", n)
	}
	if n := count(`SELECT COUNT(*) FROM participants`); n != 4 {
		t.Errorf("%d participants left, want 4", n)
	}
	if calls, err := db.FindCalls(ctx, old.ID); err != nil || len(calls) != 0 {
		t.Errorf("calls of purged conversation: %v %v", calls, err)
	}
	// Purging ended conversations leaves the counters alone: the active
	// conversation holds both numbers (Alice's key is on gb2, Carol's on gb1).
	if counter(t, db, gb1) != 1 || counter(t, db, gb2) != 1 {
		t.Errorf("counters: gb1 %d, gb2 %d", counter(t, db, gb1), counter(t, db, gb2))
	}
	assertCounters(t, db)

	// Purging everything ended frees the number for deletion.
	if _, err := db.EndConversation(ctx, active.ID, "", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n, err := db.PurgeConversations(ctx, t0.Add(24*time.Hour)); err != nil || n != 2 {
		t.Fatalf("purge all: %d, %v", n, err)
	}
	// (DeleteNumber takes only purchasing numbers: a failed re-rent.)
	purchasing := maskcall.NumberPurchasing
	if _, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &purchasing}); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteNumber(ctx, gb1); err != nil {
		t.Fatal(err)
	}
}

func TestDB_FindConversations(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	MustCreateNumber(t, db, gb1, "GB")
	MustCreateNumber(t, db, gb2, "GB")
	var ids []string
	for i, pair := range [][2]string{{alice, bob}, {carol, dave}, {alice, carol}, {bob, dave}} {
		c := &maskcall.Conversation{Ref: fmt.Sprintf("ref-%d", i%2),
			Participants: []maskcall.Participant{gb(pair[0], "x"), gb(pair[1], "y")}}
		if err := db.CreateConversation(ctx, c, t0.Add(time.Duration(i)*time.Second)); err != nil {
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
	ref0 := "ref-0"
	for name, tc := range map[string]struct {
		filter maskcall.ConversationFilter
		want   []string
	}{
		"All":    {maskcall.ConversationFilter{}, []string{ids[3], ids[2], ids[1], ids[0]}},
		"Active": {maskcall.ConversationFilter{Status: &active}, []string{ids[3], ids[2], ids[0]}},
		"Ended":  {maskcall.ConversationFilter{Status: &ended}, []string{ids[1]}},
		"Ref":    {maskcall.ConversationFilter{Ref: &ref0}, []string{ids[2], ids[0]}},
		"Limit":  {maskcall.ConversationFilter{Limit: 2}, []string{ids[3], ids[2]}},
	} {
		t.Run(name, func(t *testing.T) {
			cs, err := db.FindConversations(ctx, tc.filter)
			if err != nil {
				t.Fatal(err)
			}
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
		_, err := db.FindConversationByID(ctx, "cv_nope")
		assertCode(t, err, maskcall.ENOTFOUND)
	})
}

func TestDB_FindRoute(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	MustCreateNumber(t, db, gb1, "GB")
	MustCreateNumber(t, db, us1, "US")
	c := MustCreateConversation(t, db, t0, 0, gb(alice, "Alice"), us(carol, "Carol"))
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
			want := &maskcall.Route{ConversationID: c.ID, Caller: tc.caller, Callee: tc.callee}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("route = %+v, want %+v", r, want)
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
