package main

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sandbox"
	"github.com/maskcall/maskcall/internal/sqlite"
)

// Issue 9 item 6, as reported: a 6 s delay on /number/buy, `numbers
// provision --country GB --count 1` in the background with a 20 s Vonage
// timeout, `numbers reconcile` while the buy is out. Reconcile must leave
// the purchase alone, provision must finish (exit 0), and the pool and the
// account must agree.
func TestReconcileDuringProvisionLeavesThePurchaseAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t).with("MASKCALL_VONAGE_TIMEOUT", "20s")
	if err := e.SB.InjectFault(sandbox.Fault{Path: "/number/buy", Method: "POST", DelayMS: 6000}); err != nil {
		t.Fatal(err)
	}
	// The buy is held until reconcile has finished (then the sandbox adds its
	// 6 s), so reconcile runs while it is in flight however slow the machine.
	release := make(chan struct{})
	e.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method == http.MethodPost && r.URL.Path == "/number/buy" {
			select {
			case <-release:
			case <-time.After(30 * time.Second):
			}
		}
		return false
	})

	prov := startCLI(t, e, "numbers", "provision", "--country", "GB", "--count", "1")
	var purchasing []poolNumber
	eventually(t, 20*time.Second, "the purchase to be recorded", func() bool {
		if _, err := os.Stat(e.DB); err != nil { // provision creates it
			return prov.exited()
		}
		purchasing = listNumbers(t, e, "purchasing")
		return len(purchasing) == 1 || prov.exited()
	})
	if len(purchasing) != 1 {
		t.Fatalf("provision exited (%v) before its purchase was seen:\n%s", prov.wait(t), prov.stderr.String())
	}

	out, errOut, code := run(t, e, "numbers", "reconcile")
	close(release)
	if code != 0 {
		t.Fatalf("reconcile during the purchase: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if strings.Contains(out, "dropped") || !strings.Contains(out, "in flight") || !strings.Contains(out, "left alone") {
		t.Fatalf("reconcile during the purchase printed:\n%s\nwant the purchase reported in flight and left alone", out)
	}
	if !strings.Contains(out, purchasing[0].Number) {
		t.Fatalf("reconcile does not name %s:\n%s", purchasing[0].Number, out)
	}
	if st := listNumbers(t, e, "all"); len(st) != 1 || st[0].Status != "purchasing" {
		t.Fatalf("reconcile changed the purchase: %+v", st)
	}

	if err := prov.wait(t); err != nil {
		t.Fatalf("provision: %v\nstderr:\n%s", err, prov.stderr.String())
	}
	if s := prov.stderr.String(); strings.Contains(s, "not in the pool") {
		t.Fatalf("provision stderr:\n%s", s)
	}
	pool := listNumbers(t, e, "all")
	owned := ownedNumbers(e.SB)
	if !slices.Equal(numbersOf(pool), owned) || len(owned) != 1 {
		t.Fatalf("pool %+v, account owns %q: they must agree", pool, owned)
	}
	if pool[0].Status != "active" || pool[0].AppID != testApplicationID {
		t.Fatalf("bought number = %+v, want active and linked", pool[0])
	}
	_, errOut = runOK2(t, e, "numbers", "reconcile")
	if !strings.Contains(errOut, "The pool matches the account") {
		t.Fatalf("reconcile afterwards: %s", errOut)
	}
}

// Issue 9 item 8: one run, from cron, settles an interrupted purchase that
// went through and adopts a number bought elsewhere, and links both.
func TestReconcileSettlesInOnePass(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// What a killed provision leaves: a purchasing row with no live lease
	// (written as an older maskcall would, without one), for a purchase
	// that went through but was never linked.
	db := sqlite.NewDB(e.DB)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateNumber(t.Context(), &maskcall.Number{Number: "+447700900042", Country: "GB", Status: maskcall.NumberPurchasing}, time.Now()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, msisdn := range []string{"447700900042", "447700900555"} {
		if err := e.SB.AddOwned(sandbox.OwnedNumber{Country: "GB", MSISDN: msisdn}); err != nil {
			t.Fatal(err)
		}
	}

	actions := runJSON[[]maskcall.ReconcileAction](t, e, "numbers", "reconcile", "-o", "json")
	got := map[string]string{}
	for _, a := range actions {
		got[a.Number] = a.Action
		if a.Error != "" {
			t.Errorf("%s: %s", a.Number, a.Error)
		}
	}
	if got["+447700900042"] != "purchase confirmed and linked" || got["+447700900555"] != "adopted and linked" || len(got) != 2 {
		t.Fatalf("reconcile = %+v", actions)
	}
	pool := listNumbers(t, e, "")
	for _, n := range pool {
		if n.Status != "active" || n.AppID != testApplicationID {
			t.Errorf("%s is %s (app %q) after one run, want active and linked", n.Number, n.Status, n.AppID)
		}
	}
	for _, o := range e.SB.OwnedNumbers() {
		if o.AppID != testApplicationID {
			t.Errorf("the account shows %s linked to %q, want the application", o.MSISDN, o.AppID)
		}
	}
	if again := runJSON[[]maskcall.ReconcileAction](t, e, "numbers", "reconcile", "-o", "json"); len(again) != 0 {
		t.Fatalf("a second run still found %+v", again)
	}
}
