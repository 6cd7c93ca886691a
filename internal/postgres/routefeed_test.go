package postgres

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// changesSince returns the records RouteChanges reports after since.
func changesSince(tb testing.TB, db *DB, since int64) (map[string]maskcall.RouteRecord, int64) {
	tb.Helper()
	out := map[string]maskcall.RouteRecord{}
	v, ok, err := db.RouteChanges(context.Background(), since, func(r *maskcall.RouteRecord) error {
		out[r.ConversationID] = *r
		return nil
	})
	if err != nil || !ok {
		tb.Fatalf("RouteChanges(%d): ok %v, %v", since, ok, err)
	}
	return out, v
}

// What the lookup reads cannot change without a new version, even by hand
// (psql), and what it does not read takes none.
func TestRouteFeed_DirectChanges(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	MustCreateNumber(t, db, "+447000000001", "GB")
	c := &maskcall.Conversation{Participants: []maskcall.Participant{
		{Number: "+447700900123", Country: "GB"}, {Number: "+447700900456", Country: "GB"}}}
	if err := db.CreateConversation(ctx, c, nil, t0); err != nil {
		t.Fatal(err)
	}
	exp := t0.Add(time.Hour)
	// Each statement takes the conversation ($1) and an expiry ($2).
	for _, tc := range []struct {
		sql   string
		bumps bool
		check func(maskcall.RouteRecord) bool
	}{
		{`UPDATE participants SET expires_at = $2 WHERE conversation_id = $1 AND position = 1`, true,
			func(r maskcall.RouteRecord) bool {
				return r.Participants[1].ExpiresAt != nil && r.Participants[1].ExpiresAt.Equal(exp)
			}},
		{`UPDATE participants SET number = '+447700900999' WHERE conversation_id = $1 AND position = 0 AND $2::timestamptz IS NOT NULL`, true,
			func(r maskcall.RouteRecord) bool { return r.Participants[0].Number == "+447700900999" }},
		{`UPDATE conversations SET mode = 'voice' WHERE id = $1 AND $2::timestamptz IS NOT NULL`, true,
			func(r maskcall.RouteRecord) bool { return r.Mode == maskcall.ModeVoice }},
		{`UPDATE participants SET label = 'x', country = 'US' WHERE conversation_id = $1 AND $2::timestamptz IS NOT NULL`, false, nil},
		{`UPDATE conversations SET ref = 'r2' WHERE id = $1 AND $2::timestamptz IS NOT NULL`, false, nil},
		{`UPDATE conversations SET mode = mode WHERE id = $1 AND $2::timestamptz IS NOT NULL`, false, nil},
		{`UPDATE participants SET active = false WHERE conversation_id = $1 AND $2::timestamptz IS NOT NULL`, true,
			func(r maskcall.RouteRecord) bool { return !r.Participants[0].Active && !r.Participants[1].Active }},
	} {
		v0, err := db.RouteVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.pool.Exec(ctx, tc.sql, c.ID, exp); err != nil {
			t.Fatalf("%s: %v", tc.sql, err)
		}
		changed, v := changesSince(t, db, v0)
		if !tc.bumps {
			if v != v0 || len(changed) != 0 {
				t.Errorf("%s: version %d → %d, %d changes; want none", tc.sql, v0, v, len(changed))
			}
			continue
		}
		r, ok := changed[c.ID]
		if v != v0+1 || len(changed) != 1 || !ok || !tc.check(r) {
			t.Errorf("%s: version %d → %d, changes %+v", tc.sql, v0, v, changed)
		}
	}

	// A truncate names no rows: everything must load again.
	v0, _ := db.RouteVersion(ctx)
	if _, err := db.pool.Exec(ctx, `TRUNCATE conversations CASCADE`); err != nil {
		t.Fatal(err)
	}
	v, ok, err := db.RouteChanges(ctx, v0, func(*maskcall.RouteRecord) error { return nil })
	if err != nil || ok || v != v0+1 {
		t.Errorf("RouteChanges after TRUNCATE: version %d → %d, ok %v, %v; want the next, not kept", v0, v, ok, err)
	}
}

// A transaction takes one version however many conversations it changes:
// a sweep ending many is one step, with one change row for each.
func TestRouteFeed_OneVersionPerTransaction(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	for i := range 3 {
		MustCreateNumber(t, db, fmt.Sprintf("+44700000000%d", i), "GB")
	}
	exp := t0.Add(time.Minute)
	for i := range 20 {
		c := &maskcall.Conversation{ExpiresAt: &exp, Participants: []maskcall.Participant{
			{Number: fmt.Sprintf("+4477009001%02d", i), Country: "GB"}, {Number: fmt.Sprintf("+4477009002%02d", i), Country: "GB"}}}
		if err := db.CreateConversation(ctx, c, nil, t0); err != nil {
			t.Fatal(err)
		}
	}
	v0, _ := db.RouteVersion(ctx)
	if n, err := db.ExpireConversations(ctx, exp); err != nil || n != 20 {
		t.Fatalf("sweep: %d, %v", n, err)
	}
	changed, v := changesSince(t, db, v0)
	var rows int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM route_changes WHERE version > $1`, v0).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if v != v0+1 || len(changed) != 20 || rows != 20 {
		t.Errorf("a sweep of 20: version %d → %d, %d changed, %d change rows; want one version, 20, 20", v0, v, len(changed), rows)
	}
}

// Versions follow commit order: a reader applying changes while creates
// and ends commit on two handles misses none of them, so its index ends
// equal to a fresh load.
func TestRouteFeed_Concurrent(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	other := MustOpenDBAt(t, db.url)
	for i := range 8 {
		MustCreateNumber(t, db, fmt.Sprintf("+44700000000%d", i), "GB")
	}
	index := map[string]maskcall.RouteRecord{}
	apply := func(r *maskcall.RouteRecord) error {
		if r.Deleted || !(r.Participants[0].Active || r.Participants[1].Active) {
			delete(index, r.ConversationID)
		} else {
			index[r.ConversationID] = *r
		}
		return nil
	}
	version, err := db.LoadRoutes(ctx, apply)
	if err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for g := range 6 {
		w := []*DB{db, other}[g%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range 25 {
				i, j := rng.IntN(10), rng.IntN(10)
				if i == j {
					continue
				}
				c := &maskcall.Conversation{Participants: []maskcall.Participant{
					{Number: fmt.Sprintf("+4477009001%02d", i), Country: "GB"}, {Number: fmt.Sprintf("+4477009001%02d", j), Country: "GB"}}}
				err := w.CreateConversation(ctx, c, nil, t0)
				if maskcall.ErrorCode(err) == maskcall.EEXHAUSTED {
					continue
				} else if err != nil {
					errs <- err
					return
				}
				if rng.IntN(2) == 0 {
					if _, err := w.EndConversation(ctx, c.ID, "", t0); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	go func() { wg.Wait(); close(stop) }()
	for done := false; !done; {
		select {
		case <-stop:
			done = true
		default:
		}
		v, ok, err := db.RouteChanges(ctx, version, apply)
		if err != nil || !ok {
			t.Fatalf("RouteChanges(%d): ok %v, %v", version, ok, err)
		}
		version = v
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, _, err := db.RouteChanges(ctx, version, apply); err != nil {
		t.Fatal(err)
	}
	fresh := map[string]maskcall.RouteRecord{}
	if _, err := db.LoadRoutes(ctx, func(r *maskcall.RouteRecord) error { fresh[r.ConversationID] = *r; return nil }); err != nil {
		t.Fatal(err)
	}
	if len(fresh) == 0 {
		t.Fatal("nothing active at the end")
	}
	if len(index) != len(fresh) {
		t.Errorf("the index kept by changes has %d conversations, a load %d", len(index), len(fresh))
	}
	for id, r := range fresh {
		if got, ok := index[id]; !ok || got.Participants[0].ProxyNumber != r.Participants[0].ProxyNumber {
			t.Errorf("%s: kept %+v, loaded %+v", id, got, r)
		}
	}
}
