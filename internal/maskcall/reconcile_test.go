package maskcall_test

import (
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sandbox"
	"github.com/maskcall/maskcall/internal/sqlite"
)

// newReconcilePool wires a pool to a real SQLite file and a sandbox over
// HTTP (service_test.go's env).
func newReconcilePool(t *testing.T) (*maskcall.NumberPool, *sandbox.Sandbox, *sqlite.DB) {
	t.Helper()
	e := newEnv(t)
	return e.pool, e.sb, e.db
}

func TestNumberPool_Reconcile(t *testing.T) {
	pool, sb, db := newReconcilePool(t)
	ctx := t.Context()
	if _, err := pool.Provision(ctx, maskcall.NumberSearch{Country: "GB", Features: []string{"SMS", "VOICE"}}, 2, maskcall.RentOptions{Configure: true}); err != nil {
		t.Fatal(err)
	}
	// Bought behind maskcall's back, not linked.
	if err := sb.AddOwned(sandbox.OwnedNumber{Country: "GB", MSISDN: "447700900555"}); err != nil {
		t.Fatal(err)
	}
	// An interrupted purchase that never reached Vonage.
	if err := db.CreateNumber(ctx, &maskcall.Number{Number: "+447700900777", Country: "GB", Status: maskcall.NumberPurchasing}, time.Now()); err != nil {
		t.Fatal(err)
	}
	// A pool number the account no longer owns.
	if !sb.RemoveOwned("447700900001") {
		t.Fatalf("sandbox did not own 447700900001: %+v", sb.OwnedNumbers())
	}

	t.Run("DryRunChangesNothing", func(t *testing.T) {
		before, _ := db.FindNumbers(ctx, maskcall.NumberFilter{IncludeReleased: true}, time.Now())
		actions, err := pool.Reconcile(ctx, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(actions) != 3 {
			t.Fatalf("actions = %+v, want 3", actions)
		}
		after, _ := db.FindNumbers(ctx, maskcall.NumberFilter{IncludeReleased: true}, time.Now())
		if len(after) != len(before) {
			t.Fatalf("dry run changed the pool: %d -> %d numbers", len(before), len(after))
		}
	})

	t.Run("Repairs", func(t *testing.T) {
		actions, err := pool.Reconcile(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, a := range actions {
			if a.Error != "" {
				t.Errorf("%s: %s", a.Number, a.Error)
			}
			got[a.Number] = a.Action
		}
		if got["+447700900555"] != "adopted and linked" || got["+447700900777"] != "dropped" || got["+447700900001"] == "" {
			t.Fatalf("actions = %+v", actions)
		}
		// One pass: the adopted number is linked too.
		adopted, err := db.FindNumber(ctx, "+447700900555", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if adopted.Status != maskcall.NumberActive || adopted.AppID != svcAppID {
			t.Fatalf("adopted number = %+v, want active and linked in the same run", adopted)
		}
		for _, o := range sb.OwnedNumbers() {
			if o.MSISDN == "447700900555" && o.AppID != svcAppID {
				t.Fatalf("sandbox shows %+v, not linked to the app", o)
			}
		}
		if _, err := db.FindNumber(ctx, "+447700900777", time.Now()); maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
			t.Fatalf("dropped purchase still in the pool: %v", err)
		}
		missing, _ := db.FindNumber(ctx, "+447700900001", time.Now())
		if missing.Status != maskcall.NumberActive {
			t.Fatalf("a number the account lost was changed to %s; it should only be reported", missing.Status)
		}
	})

	t.Run("SecondRunFindsNothingToDo", func(t *testing.T) {
		actions, err := pool.Reconcile(ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		// Only the number the account lost is left, for a person.
		if len(actions) != 1 || actions[0].Number != "+447700900001" {
			t.Fatalf("second run = %+v, want only the lost number reported", actions)
		}
	})
}

func TestNumberPool_RentAmbiguousBuyChecksOwnedFirst(t *testing.T) {
	pool, sb, db := newReconcilePool(t)
	ctx := t.Context()
	// The buy is applied but its reply is lost (HTTP 500).
	if err := sb.InjectFault(sandbox.Fault{Path: "/number/buy", AfterEffect: true}); err != nil {
		t.Fatal(err)
	}
	n, err := pool.Rent(ctx, maskcall.AvailableNumber{Number: "+447700900010", Country: "GB"}, maskcall.RentOptions{Configure: true})
	if err != nil {
		t.Fatalf("Rent = %v; the number was bought, so it should succeed after checking the account", err)
	}
	if n.Status != maskcall.NumberActive {
		t.Fatalf("status = %s", n.Status)
	}
	buys := 0
	for _, r := range sb.Requests() {
		if r.Path == "/number/buy" {
			buys++
		}
	}
	if buys != 1 {
		t.Fatalf("buy requests = %d, want 1 (no blind repeat)", buys)
	}
	if got, _ := db.FindNumber(ctx, "+447700900010", time.Now()); got.Status != maskcall.NumberActive {
		t.Fatalf("pool status = %s", got.Status)
	}
}

func TestNumberPool_ReleaseForceEndsConversations(t *testing.T) {
	pool, sb, db := newReconcilePool(t)
	ctx := t.Context()
	nums, err := pool.Provision(ctx, maskcall.NumberSearch{Country: "GB", Features: []string{"SMS", "VOICE"}}, 1, maskcall.RentOptions{Configure: true})
	if err != nil {
		t.Fatal(err)
	}
	proxy := nums[0].Number
	svc := &maskcall.ConversationService{Store: db}
	res, err := svc.Create(ctx, maskcall.CreateRequest{
		A: maskcall.Participant{Number: "+447700900123", Country: "GB"},
		B: maskcall.Participant{Number: "+442079460321", Country: "GB"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := pool.Release(ctx, proxy, false); maskcall.ErrorCode(err) != maskcall.ECONFLICT {
		t.Fatalf("Release without force = %v, want conflict", err)
	}
	n, ended, err := pool.Release(ctx, proxy, true)
	if err != nil {
		t.Fatal(err)
	}
	if n.Status != maskcall.NumberReleased || n.ActiveConversations != 0 {
		t.Fatalf("released number = %+v", n)
	}
	if len(ended) != 1 || ended[0] != res.Conversation.ID {
		t.Fatalf("ended = %v, want [%s]", ended, res.Conversation.ID)
	}
	c, _ := db.FindConversationByID(ctx, res.Conversation.ID, time.Now())
	if c.Status != maskcall.ConversationEnded {
		t.Fatalf("conversation status = %s", c.Status)
	}
	if _, err := db.FindRoute(ctx, "+447700900123", proxy, time.Now()); maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
		t.Fatalf("route still found after release: %v", err)
	}
	for _, o := range sb.OwnedNumbers() {
		if "+"+o.MSISDN == proxy {
			t.Fatalf("sandbox still rents %s", proxy)
		}
	}
}

// A refused purchase of a number rented before (with history) puts it back
// to released instead of leaving it stuck as purchasing.
func TestNumberPool_RentRefusedForReleasedNumber(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	nums, err := e.pool.Provision(ctx, maskcall.NumberSearch{Country: "GB", Features: []string{"SMS", "VOICE"}}, 1, maskcall.RentOptions{Configure: true})
	if err != nil {
		t.Fatal(err)
	}
	proxy := nums[0]
	if _, err := e.svc.Create(ctx, maskcall.CreateRequest{A: alice, B: maskcall.Participant{Number: "+442079460321", Country: "GB"}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.pool.Release(ctx, proxy.Number, true); err != nil {
		t.Fatal(err)
	}
	e.sb.SetBalance(0)
	if _, err := e.pool.Rent(ctx, maskcall.AvailableNumber{Number: proxy.Number, Country: "GB"}, maskcall.RentOptions{Configure: true}); maskcall.ErrorCode(err) != maskcall.EUPSTREAM {
		t.Fatalf("Rent with no balance = %v, want Vonage's refusal", err)
	}
	n, err := e.db.FindNumber(ctx, proxy.Number, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n.Status != maskcall.NumberReleased {
		t.Fatalf("status after the refused purchase = %s, want released", n.Status)
	}
	if _, err := e.pool.Configure(ctx, nil, false); err != nil {
		t.Fatalf("Configure after it = %v", err)
	}
}

func TestNumberPool_ReleaseEdgeCases(t *testing.T) {
	t.Run("NotOwnedAnymoreWithForce", func(t *testing.T) {
		e := newEnv(t)
		ctx := t.Context()
		nums, err := e.pool.Provision(ctx, maskcall.NumberSearch{Country: "GB", Features: []string{"SMS", "VOICE"}}, 1, maskcall.RentOptions{Configure: true})
		if err != nil {
			t.Fatal(err)
		}
		e.sb.RemoveOwned(strings.TrimPrefix(nums[0].Number, "+")) // released in the dashboard
		if _, _, err := e.pool.Release(ctx, nums[0].Number, false); err == nil {
			t.Fatal("Release without force of a number Vonage no longer has succeeded")
		}
		n, _, err := e.pool.Release(ctx, nums[0].Number, true)
		if err != nil {
			t.Fatalf("Release --force = %v", err)
		}
		if n.Status != maskcall.NumberReleased {
			t.Fatalf("status = %s", n.Status)
		}
	})
	t.Run("PurchasingRefused", func(t *testing.T) {
		e := newEnv(t)
		ctx := t.Context()
		if err := e.db.CreateNumber(ctx, &maskcall.Number{Number: "+447700900777", Country: "GB", Status: maskcall.NumberPurchasing}, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.pool.Release(ctx, "+447700900777", true); maskcall.ErrorCode(err) != maskcall.ECONFLICT {
			t.Fatalf("Release of a purchasing number = %v, want conflict", err)
		}
	})
}
