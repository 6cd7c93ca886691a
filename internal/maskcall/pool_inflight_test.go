package maskcall_test

// A paid number is never forgotten: purchases in flight are left alone by
// reconcile and configure, the renting process records what it bought
// whatever happened to its row meanwhile, a refused buy is checked against
// the account, and reconcile settles everything in one pass.

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sandbox"
	"github.com/maskcall/maskcall/internal/vonage"
)

var gbAvail = maskcall.AvailableNumber{Number: "+447700900042", Country: "GB", Type: "mobile-lvn", Features: []string{"VOICE", "SMS"}}

// slowBuyEnv is an env whose client waits long enough for a buy the
// sandbox holds for delay.
func slowBuyEnv(t *testing.T, delay time.Duration) *env {
	t.Helper()
	e := newEnv(t, func(c *vonage.Config) { c.Timeout = delay + 20*time.Second })
	inject(t, e.sb, sandbox.Fault{Path: "/number/buy", Method: "POST", DelayMS: int(delay / time.Millisecond)})
	return e
}

type rentResult struct {
	n   *maskcall.Number
	err error
}

// rentInBackground starts pool.Rent of gbAvail and waits until its
// purchasing row is in the store, so the buy is (about to be) in flight.
func rentInBackground(t *testing.T, e *env, pool *maskcall.NumberPool) <-chan rentResult {
	t.Helper()
	done := make(chan rentResult, 1)
	go func() {
		n, err := pool.Rent(t.Context(), gbAvail, maskcall.RentOptions{Configure: true})
		done <- rentResult{n, err}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := e.db.FindNumber(t.Context(), gbAvail.Number, e.clock.Now())
		if err == nil && n.Status == maskcall.NumberPurchasing {
			return done
		}
		select {
		case r := <-done:
			t.Fatalf("Rent finished (%+v, %v) before its purchase could be seen in flight", r.n, r.err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the purchasing row never appeared")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitRent(t *testing.T, done <-chan rentResult) rentResult {
	t.Helper()
	select {
	case r := <-done:
		return r
	case <-time.After(60 * time.Second):
		t.Fatal("Rent did not finish")
	}
	return rentResult{}
}

// wantActiveAndOwned checks the pool and the account agree on gbAvail.
func wantActiveAndOwned(t *testing.T, e *env) {
	t.Helper()
	n, err := e.db.FindNumber(t.Context(), gbAvail.Number, e.clock.Now())
	if err != nil {
		t.Fatalf("the bought number is not in the pool: %v", err)
	}
	if n.Status != maskcall.NumberActive || n.AppID != svcAppID || n.PurchaseOwner != "" || !n.PurchaseLeaseUntil.IsZero() {
		t.Fatalf("pool row = %+v, want active, linked, no lease", n)
	}
	if !slices.Equal(owned(e.sb), []string{gbAvail.Number}) {
		t.Fatalf("account owns %v, want [%s]", owned(e.sb), gbAvail.Number)
	}
}

func TestReconcileLeavesPurchaseInFlightAlone(t *testing.T) {
	e := slowBuyEnv(t, 3*time.Second)
	done := rentInBackground(t, e, e.pool)

	// Another process, another owner, the same clock.
	other := &maskcall.NumberPool{Store: e.db, Numbers: e.vc, ApplicationID: svcAppID, Now: e.clock.Now, Owner: "other:2:cd"}
	for _, dry := range []bool{true, false} {
		actions, err := other.Reconcile(t.Context(), dry)
		if err != nil {
			t.Fatal(err)
		}
		if len(actions) != 1 || actions[0].Number != gbAvail.Number || actions[0].Action != "left alone" ||
			!strings.Contains(actions[0].Finding, "in flight") {
			t.Fatalf("Reconcile(dry=%v) during the purchase = %+v, want it left alone", dry, actions)
		}
	}
	res, err := other.Configure(t.Context(), nil, false)
	if err != nil || len(res) != 1 || res[0].Action != "purchase in flight, left alone" {
		t.Fatalf("Configure during the purchase = %+v, %v", res, err)
	}
	if n, err := e.db.FindNumber(t.Context(), gbAvail.Number, e.clock.Now()); err != nil || n.Status != maskcall.NumberPurchasing {
		t.Fatalf("row during the purchase = %+v, %v", n, err)
	}

	r := waitRent(t, done)
	if r.err != nil {
		t.Fatalf("Rent = %v", r.err)
	}
	wantActiveAndOwned(t, e)
	if actions, err := other.Reconcile(t.Context(), false); err != nil || len(actions) != 0 {
		t.Fatalf("Reconcile afterwards = %+v, %v; want nothing to do", actions, err)
	}
}

// The lease is renewed while the buy is out, so a purchase that outlives
// its first lease is still in flight.
func TestPurchaseLeaseIsRenewedWhileBuying(t *testing.T) {
	e := slowBuyEnv(t, 5*time.Second)
	pool := &maskcall.NumberPool{Store: e.db, Numbers: e.vc, ApplicationID: svcAppID, PurchaseLease: 2 * time.Second}
	start := time.Now()
	done := rentInBackground(t, e, pool)
	first, err := e.db.FindNumber(t.Context(), gbAvail.Number, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if first.PurchaseOwner == "" || first.PurchaseLeaseUntil.Before(start) {
		t.Fatalf("purchasing row without owner or lease: %+v", first)
	}
	// Wait past the first lease, then look.
	for time.Now().Before(first.PurchaseLeaseUntil.Add(500 * time.Millisecond)) {
		time.Sleep(50 * time.Millisecond)
	}
	other := &maskcall.NumberPool{Store: e.db, Numbers: e.vc, ApplicationID: svcAppID, Owner: "other:2:cd"}
	actions, err := other.Reconcile(t.Context(), false)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-done:
		t.Fatalf("the buy finished before the check (%+v, %v); the sandbox's delay did not hold", r.n, r.err)
	default:
	}
	if len(actions) != 1 || actions[0].Action != "left alone" {
		t.Fatalf("Reconcile after the first lease ran out = %+v; the heartbeat did not renew it", actions)
	}
	if r := waitRent(t, done); r.err != nil {
		t.Fatalf("Rent = %v", r.err)
	}
	wantActiveAndOwned(t, e)
}

// Whatever another process did to the row while the buy was out, the
// renting process records the number it bought and links it.
func TestRentRecordsWhatItBoughtWhateverHappenedToItsRow(t *testing.T) {
	cases := []struct {
		name  string
		touch func(t *testing.T, e *env)
	}{
		{"DroppedByAReconcileWhoseLeaseRanOut", func(t *testing.T, e *env) {
			later := &maskcall.NumberPool{Store: e.db, Numbers: e.vc, ApplicationID: svcAppID, Owner: "other:2:cd",
				Now: func() time.Time { return e.clock.Now().Add(maskcall.DefaultPurchaseLease + time.Second) }}
			actions, err := later.Reconcile(t.Context(), false)
			if err != nil || len(actions) != 1 || actions[0].Action != "dropped" {
				t.Fatalf("Reconcile with the lease run out = %+v, %v; want it dropped", actions, err)
			}
		}},
		{"SettledAsUnconfigured", func(t *testing.T, e *env) {
			st := maskcall.NumberUnconfigured
			if _, err := e.db.UpdateNumber(t.Context(), gbAvail.Number, maskcall.NumberUpdate{Status: &st}, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}},
		{"PutBackToReleased", func(t *testing.T, e *env) {
			st := maskcall.NumberReleased
			if _, err := e.db.UpdateNumber(t.Context(), gbAvail.Number, maskcall.NumberUpdate{Status: &st}, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := slowBuyEnv(t, 2*time.Second)
			done := rentInBackground(t, e, e.pool)
			tc.touch(t, e)
			r := waitRent(t, done)
			if r.err != nil {
				t.Fatalf("Rent = %v; the number was bought", r.err)
			}
			if r.n == nil || r.n.Status != maskcall.NumberActive {
				t.Fatalf("Rent returned %+v", r.n)
			}
			wantActiveAndOwned(t, e)
		})
	}
}

// A buy Vonage refused but carried out is kept (and linked).
func TestRentRefusedButBoughtIsKept(t *testing.T) {
	for _, code := range []string{"420", "500"} {
		t.Run(code, func(t *testing.T) {
			e := newEnv(t)
			inject(t, e.sb, sandbox.Fault{Path: "/number/buy", Method: "POST", ErrorCode: code, AfterEffect: true})
			n, err := e.pool.Rent(t.Context(), gbAvail, maskcall.RentOptions{Configure: true})
			if err != nil {
				t.Fatalf("Rent = %v; the account owns the number", err)
			}
			if n.Status != maskcall.NumberActive {
				t.Fatalf("Rent returned %+v", n)
			}
			wantActiveAndOwned(t, e)
			if c := count(e.sb, "POST", "/number/buy"); c != 1 {
				t.Fatalf("%d buy requests: %q", c, calls(e.sb))
			}
		})
	}
	t.Run("NoApplicationStaysUnconfigured", func(t *testing.T) {
		e := newEnv(t)
		pool := &maskcall.NumberPool{Store: e.db, Numbers: e.vc, Now: e.clock.Now}
		inject(t, e.sb, sandbox.Fault{Path: "/number/buy", Method: "POST", ErrorCode: "420", AfterEffect: true})
		n, err := pool.Rent(t.Context(), gbAvail, maskcall.RentOptions{})
		if err != nil || n.Status != maskcall.NumberUnconfigured {
			t.Fatalf("Rent = %+v, %v; want it kept as unconfigured", n, err)
		}
		if st := poolState(t, e.db); st[gbAvail.Number] != maskcall.NumberUnconfigured {
			t.Fatalf("pool = %v", st)
		}
	})
	t.Run("RefusedAndNotBoughtIsForgotten", func(t *testing.T) {
		e := newEnv(t)
		inject(t, e.sb, sandbox.Fault{Path: "/number/buy", Method: "POST", ErrorCode: "420"})
		_, err := e.pool.Rent(t.Context(), gbAvail, maskcall.RentOptions{Configure: true})
		wantCode(t, err, maskcall.EUPSTREAM)
		if st := poolState(t, e.db); len(st) != 0 {
			t.Fatalf("pool = %v", st)
		}
		if count(e.sb, "GET", "/account/numbers") == 0 {
			t.Fatalf("the account was not checked before giving the number up: %q", calls(e.sb))
		}
	})
}

// One run confirms an interrupted purchase and links it.
func TestReconcileConfirmsAndLinksInOnePass(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	if err := e.sb.AddOwned(sandbox.OwnedNumber{Country: "GB", MSISDN: "447700900042"}); err != nil {
		t.Fatal(err)
	}
	// A purchase whose owner died: its lease has run out.
	if err := e.db.CreateNumber(ctx, &maskcall.Number{Number: gbAvail.Number, Country: "GB", Status: maskcall.NumberPurchasing,
		PurchaseOwner: "dead:1:ab", PurchaseLeaseUntil: e.clock.Now().Add(-time.Second)}, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	actions, err := e.pool.Reconcile(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(actions) != 1 || actions[0].Action != "purchase confirmed and linked" || actions[0].Error != "" {
		t.Fatalf("Reconcile = %+v", actions)
	}
	wantActiveAndOwned(t, e)
	if actions, err := e.pool.Reconcile(ctx, false); err != nil || len(actions) != 0 {
		t.Fatalf("second run = %+v, %v; want nothing left", actions, err)
	}
}

// A buy given up on (outcome unknown) is no longer in flight: the command
// its error recommends settles it at once.
func TestRentGivenUpEndsItsLease(t *testing.T) {
	e := newEnv(t)
	inject(t, e.sb, sandbox.Fault{Path: "/number/buy", Status: 500, Count: -1})
	_, err := e.pool.Rent(t.Context(), gbAvail, maskcall.RentOptions{Configure: true})
	wantCode(t, err, maskcall.EUNAVAILABLE)
	n, err := e.db.FindNumber(t.Context(), gbAvail.Number, e.clock.Now())
	if err != nil || n.Status != maskcall.NumberPurchasing || n.PurchaseInFlight(e.clock.Now()) {
		t.Fatalf("row after giving up = %+v, %v; want purchasing, not in flight", n, err)
	}
	e.sb.ClearFaults()
	actions, err := e.pool.Reconcile(t.Context(), false)
	if err != nil || len(actions) != 1 || actions[0].Action != "dropped" {
		t.Fatalf("Reconcile = %+v, %v; want the purchase dropped", actions, err)
	}
}
