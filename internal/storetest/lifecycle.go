package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// The states reconcile and provisioning move a number through: a row
// exists before the purchase is sent, and only an active number is handed
// out.
func (h *harness) testNumberLifecycle(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	n := &maskcall.Number{Number: gb1, Country: "GB", Features: []string{"VOICE", "SMS"}}
	if err := db.CreateNumber(ctx, n, t0); err != nil {
		t.Fatal(err)
	}
	if n.Status != maskcall.NumberPurchasing {
		t.Fatalf("new number status = %q, want purchasing", n.Status)
	}
	steps := []maskcall.NumberStatus{maskcall.NumberPurchasing, maskcall.NumberUnconfigured}
	for i, st := range steps {
		if i > 0 {
			if _, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &st}, t0.Add(time.Duration(i)*time.Second)); err != nil {
				t.Fatal(err)
			}
		}
		_, err := createConv(db, t0, 0, gb(alice, "a"), gb(bob, "b"))
		assertCode(t, err, maskcall.EEXHAUSTED)
	}
	st, app := maskcall.NumberActive, "app-1"
	got, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &st, AppID: &app}, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != st || got.AppID != app || !got.UpdatedAt.Equal(t0.Add(time.Minute)) || !got.CreatedAt.Equal(t0) {
		t.Fatalf("activated = %+v", got)
	}
	c := mustCreateConversation(t, db, t0.Add(time.Minute), 0, gb(alice, "a"), gb(bob, "b"))
	if got := proxies(c); got != [2]string{gb1, gb1} {
		t.Fatalf("proxies = %v", got)
	}

	// Released: out of the default listing and of allocation, kept for
	// history.
	if _, err := db.EndConversationsUsingNumber(ctx, gb1, maskcall.EndReasonEnded, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	released, empty := maskcall.NumberReleased, ""
	if _, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &released, AppID: &empty}, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if ns, err := db.FindNumbers(ctx, maskcall.NumberFilter{}, t0); err != nil || len(ns) != 0 {
		t.Fatalf("default listing shows released: %v %v", ns, err)
	}
	if ns, err := db.FindNumbers(ctx, maskcall.NumberFilter{IncludeReleased: true}, t0); err != nil || len(ns) != 1 || ns[0].Status != released {
		t.Fatalf("listing with released: %v %v", ns, err)
	}
	_, err = createConv(db, t0.Add(time.Hour), 0, gb(alice, "a"), gb(carol, "c"))
	assertCode(t, err, maskcall.EEXHAUSTED)
	// A released number's owner may now be a participant: it is no longer
	// the pool's.
	mustCreateNumber(t, db, gb2, "GB")
	if _, err := createConv(db, t0.Add(time.Hour), 0, gb(gb1, "a"), gb(carol, "c")); err != nil {
		t.Fatalf("released number as a participant: %v", err)
	}
	if old, err := db.FindConversationByID(ctx, c.ID, t0.Add(time.Hour)); err != nil || old.Participants[0].ProxyNumber != gb1 {
		t.Fatalf("history of a released number: %+v %v", old, err)
	}

	// A purchase that never happened is deleted outright.
	if err := db.CreateNumber(ctx, &maskcall.Number{Number: gb3, Country: "GB"}, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteNumber(ctx, gb3); err != nil {
		t.Fatal(err)
	}
	if _, err := db.FindNumber(ctx, gb3, t0); maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
		t.Fatalf("deleted number: %v", err)
	}
	assertCounters(t, db)
}

func (h *harness) testEndConversationsUsingNumber(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	mustCreateNumber(t, db, gb1, "GB")
	mustCreateNumber(t, db, gb2, "GB")
	a := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(bob, "b"))          // gb1, gb1
	b := mustCreateConversation(t, db, t0, 0, gb(carol, "c"), gb(dave, "d"))         // gb2, gb2
	c := mustCreateConversation(t, db, t0, 0, gb(alice, "a"), gb(carol, "c"))        // gb2, gb1
	x := mustCreateConversation(t, db, t0, time.Minute, gb(dave, "d"), gb(bob, "b")) // gb1, gb2
	at := t0.Add(time.Hour)
	ids, err := db.EndConversationsUsingNumber(ctx, gb1, "released", at)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{a.ID: true, c.ID: true}
	if len(ids) != len(want) || !want[ids[0]] || !want[ids[1]] {
		t.Fatalf("ended %v, want %s and %s", ids, a.ID, c.ID)
	}
	for _, id := range []string{a.ID, c.ID} {
		got, err := db.FindConversationByID(ctx, id, at)
		if err != nil || got.Status != maskcall.ConversationEnded || got.EndReason != "released" || !got.EndedAt.Equal(at) {
			t.Errorf("%s: %+v %v", id, got, err)
		}
	}
	// The one that had expired is recorded as expired, at its expiry.
	if got, err := db.FindConversationByID(ctx, x.ID, at); err != nil || got.Status != maskcall.ConversationEnded ||
		got.EndReason != maskcall.EndReasonExpired || !got.EndedAt.Equal(*x.ExpiresAt) {
		t.Errorf("expired %s: %+v %v", x.ID, got, err)
	}
	if got, err := db.FindConversationByID(ctx, b.ID, at); err != nil || got.Status != maskcall.ConversationActive {
		t.Errorf("%s not using gb1: %+v %v", b.ID, got, err)
	}
	if n := counterAt(t, db, gb1, at); n != 0 {
		t.Errorf("gb1 counter = %d, want 0", n)
	}
	if ids, err := db.EndConversationsUsingNumber(ctx, gb1, "released", at); err != nil || len(ids) != 0 {
		t.Errorf("second time: %v %v", ids, err)
	}
	assertCounters(t, db)
}

// An expired conversation that no sweep has recorded is expired
// everywhere: its status, the listing filters, the counters. Ending it
// records the expiry, not a manual end.
func (h *harness) testExpiredStatus(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	mustCreateNumber(t, db, gb1, "GB")
	mustCreateNumber(t, db, gb2, "GB")
	short := mustCreateConversation(t, db, t0, time.Minute, gb(alice, "a"), gb(bob, "b"))
	long := mustCreateConversation(t, db, t0, time.Hour, gb(carol, "c"), gb(dave, "d"))
	exp := *short.ExpiresAt

	status := func(id string, at time.Time) *maskcall.Conversation {
		t.Helper()
		c, err := db.FindConversationByID(ctx, id, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if c := status(short.ID, exp.Add(-time.Microsecond)); c.Status != maskcall.ConversationActive || c.EndedAt != nil || c.EndReason != "" {
		t.Fatalf("just before expiry: %+v", c)
	}
	c := status(short.ID, exp)
	if c.Status != maskcall.ConversationExpired || c.EndedAt == nil || !c.EndedAt.Equal(exp) || c.EndReason != maskcall.EndReasonExpired {
		t.Fatalf("at expiry: %+v, want expired, ended at its expiry", c)
	}

	ids := func(st maskcall.ConversationStatus, at time.Time) []string {
		t.Helper()
		page, err := db.FindConversations(ctx, maskcall.ConversationFilter{Status: &st}, at)
		if err != nil {
			t.Fatal(err)
		}
		out := []string{}
		for _, c := range page.Conversations {
			if c.Status != st {
				t.Errorf("listing %s returned %s with status %s", st, c.ID, c.Status)
			}
			out = append(out, c.ID)
		}
		return out
	}
	// Both were created at t0: the listing breaks the tie by id, descending.
	both := []string{long.ID, short.ID}
	sort.Sort(sort.Reverse(sort.StringSlice(both)))
	for _, tc := range []struct {
		at                     time.Time
		active, expired, ended []string
	}{
		{exp.Add(-time.Microsecond), both, []string{}, []string{}},
		{exp, []string{long.ID}, []string{short.ID}, []string{}},
		{*long.ExpiresAt, []string{}, both, []string{}},
	} {
		if got := ids(maskcall.ConversationActive, tc.at); !reflect.DeepEqual(got, tc.active) {
			t.Errorf("active at %s = %v, want %v", tc.at, got, tc.active)
		}
		if got := ids(maskcall.ConversationExpired, tc.at); !reflect.DeepEqual(got, tc.expired) {
			t.Errorf("expired at %s = %v, want %v", tc.at, got, tc.expired)
		}
		if got := ids(maskcall.ConversationEnded, tc.at); !reflect.DeepEqual(got, tc.ended) {
			t.Errorf("ended at %s = %v, want %v", tc.at, got, tc.ended)
		}
	}
	// Counters: the expired conversation does not count, before any sweep.
	if n := counterAt(t, db, short.Participants[0].ProxyNumber, exp); n != 0 {
		t.Errorf("counter of the expired conversation's proxy = %d, want 0", n)
	}
	if n := counterAt(t, db, short.Participants[0].ProxyNumber, exp.Add(-time.Microsecond)); n != 1 {
		t.Errorf("counter before expiry = %d, want 1", n)
	}
	assertCountersAt(t, db, exp)

	// Ending it after its expiry records the expiry.
	at := exp.Add(time.Hour)
	got, err := db.EndConversation(ctx, short.ID, maskcall.EndReasonEnded, at)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != maskcall.ConversationEnded || got.EndReason != maskcall.EndReasonExpired || !got.EndedAt.Equal(exp) {
		t.Fatalf("ended after expiry = %+v, want ended (expired) at %s", got, exp)
	}
	if got := ids(maskcall.ConversationEnded, at); !reflect.DeepEqual(got, []string{short.ID}) {
		t.Errorf("ended = %v", got)
	}
	assertCounters(t, db)

	// Unknown statuses are refused.
	bad := maskcall.ConversationStatus("gone")
	_, err = db.FindConversations(ctx, maskcall.ConversationFilter{Status: &bad}, t0)
	assertCode(t, err, maskcall.EINVALID)
}

// Paging through many conversations returns each once, newest first, with
// ties on the creation time broken by id, whatever is created meanwhile.
func (h *harness) testFindConversationsPaging(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	for i := range 4 {
		mustCreateNumber(t, db, fmt.Sprintf("+4470000001%02d", i), "GB")
	}
	const total = 57
	var want []string // newest first
	for i := range total {
		// Three at each instant, so ties need the id.
		at := t0.Add(time.Duration(i/3) * time.Second)
		c := &maskcall.Conversation{Ref: fmt.Sprintf("ref-%d", i%2),
			Participants: []maskcall.Participant{gb(fmt.Sprintf("+4477009100%02d", i), "a"), gb(fmt.Sprintf("+4477009200%02d", i), "b")}}
		if err := db.CreateConversation(ctx, c, nil, at); err != nil {
			t.Fatal(err)
		}
		want = append(want, c.ID)
	}
	page0, err := db.FindConversations(ctx, maskcall.ConversationFilter{}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if page0.NextCursor != "" || len(page0.Conversations) != total {
		t.Fatalf("unlimited listing: %d conversations, next %q", len(page0.Conversations), page0.NextCursor)
	}
	if got := len(want); got != total {
		t.Fatalf("created %d", got)
	}
	for i := 1; i < len(page0.Conversations); i++ {
		a, b := page0.Conversations[i-1], page0.Conversations[i]
		if a.CreatedAt.Before(b.CreatedAt) || (a.CreatedAt.Equal(b.CreatedAt) && a.ID < b.ID) {
			t.Fatalf("order: %s (%s) before %s (%s)", a.ID, a.CreatedAt, b.ID, b.CreatedAt)
		}
	}

	for _, limit := range []int{1, 7, 19, 56, 57} {
		t.Run(fmt.Sprint("Limit", limit), func(t *testing.T) {
			all, err := db.FindConversations(ctx, maskcall.ConversationFilter{}, t0)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, c := range all.Conversations {
				want = append(want, c.ID)
			}
			var got []string
			after := ""
			for pages := 0; ; pages++ {
				if pages > 2*total {
					t.Fatal("paging does not end")
				}
				page, err := db.FindConversations(ctx, maskcall.ConversationFilter{Limit: limit, After: after, CountRemaining: true}, t0)
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Conversations) > limit {
					t.Fatalf("page of %d with limit %d", len(page.Conversations), limit)
				}
				for _, c := range page.Conversations {
					got = append(got, c.ID)
					if len(c.Participants) != 2 {
						t.Fatalf("%s has %d participants", c.ID, len(c.Participants))
					}
				}
				if left := len(want) - len(got); page.Remaining != left && page.NextCursor != "" {
					t.Fatalf("remaining = %d, want %d", page.Remaining, left)
				}
				if page.NextCursor == "" {
					break
				}
				if pages == 0 {
					// Conversations created meanwhile are newer: they do not
					// shift the pages after the cursor.
					mustCreateConversation(t, db, t0.Add(time.Hour), 0, gb(fmt.Sprintf("+4477009300%02d", limit), "a"), gb(fmt.Sprintf("+4477009400%02d", limit), "b"))
				}
				after = page.NextCursor
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("paged ids =\n%v\nwant\n%v", got, want)
			}
		})
	}

	t.Run("Filtered", func(t *testing.T) {
		ref := "ref-1"
		var got []string
		after := ""
		for {
			page, err := db.FindConversations(ctx, maskcall.ConversationFilter{Ref: &ref, Limit: 5, After: after}, t0)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page.Conversations {
				if c.Ref != ref {
					t.Fatalf("%s has ref %q", c.ID, c.Ref)
				}
				got = append(got, c.ID)
			}
			if after = page.NextCursor; after == "" {
				break
			}
		}
		var wantRef []string
		for _, c := range page0.Conversations {
			if c.Ref == ref {
				wantRef = append(wantRef, c.ID)
			}
		}
		if !reflect.DeepEqual(got, wantRef) {
			t.Fatalf("paged ids = %v, want %v", got, wantRef)
		}
	})

	t.Run("ErrInvalidCursor", func(t *testing.T) {
		_, err := db.FindConversations(ctx, maskcall.ConversationFilter{After: "cv_abc", Limit: 5}, t0)
		assertCode(t, err, maskcall.EINVALID)
	})
}
