package sqlite

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
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

// Twenty goroutines on each of two stores on one file (the CLI and serve)
// create and end conversations over a small pool: no key is ever handed out
// twice, nothing fails with "database is locked", counters stay right.
func TestDB_CreateConversation_Concurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maskcall.db")
	dbs := []*DB{MustOpenDBAt(t, path), MustOpenDBAt(t, path)}
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
	if err := dbs[0].rdb.QueryRow(`SELECT COUNT(*) FROM (SELECT number, proxy_number FROM participants
		WHERE active = 1 GROUP BY number, proxy_number HAVING COUNT(*) > 1)`).Scan(&dups); err != nil {
		t.Fatal(err)
	} else if dups != 0 {
		t.Fatalf("%d keys handed out twice", dups)
	}
	assertCounters(t, dbs[1])
}

// Purge cascades through every table (the behaviour itself is in
// internal/storetest).
func TestDB_PurgeConversations_Cascade(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	MustCreateNumber(t, db, gb1, "GB")
	MustCreateNumber(t, db, gb2, "GB")
	old := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))
	recent := MustCreateConversation(t, db, t0, 0, gb(carol, "c"), gb(dave, "d"))
	active := MustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(carol, "c"))
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

	n, err := db.PurgeConversations(ctx, t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("purge: %d, %v", n, err)
	}
	if _, err := db.FindConversationByID(ctx, old.ID, t0); maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
		t.Errorf("purged conversation: %v", err)
	}
	for _, id := range []string{recent.ID, active.ID} {
		if _, err := db.FindConversationByID(ctx, id, t0); err != nil {
			t.Errorf("%s: %v", id, err)
		}
	}
	count := func(query string, args ...any) int {
		var n int
		if err := db.rdb.QueryRow(query, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for table, query := range map[string]string{
		"participants": `SELECT COUNT(*) FROM participants WHERE conversation_id = ?`,
		"pairings":     `SELECT COUNT(*) FROM pairings WHERE conversation_id = ?`,
		"interactions": `SELECT COUNT(*) FROM interactions WHERE conversation_id = ?`,
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
	if _, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &purchasing}, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteNumber(ctx, gb1); err != nil {
		t.Fatal(err)
	}
}
