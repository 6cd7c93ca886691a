package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// A purchase's owner and lease are stored, renewed, and cleared as soon as
// the number leaves purchasing; IfStatus guards an update; DeleteNumber
// takes only purchasing rows, so a purchase settled meanwhile survives.
func (h *harness) testPurchaseLease(t *testing.T) {
	ctx := context.Background()
	db := h.open(t)
	lease := t0.Add(time.Minute)
	if err := db.CreateNumber(ctx, &maskcall.Number{Number: gb1, Country: "GB", Status: maskcall.NumberPurchasing,
		PurchaseOwner: "host:1:ab", PurchaseLeaseUntil: lease}, t0); err != nil {
		t.Fatal(err)
	}
	n, err := db.FindNumber(ctx, gb1, t0)
	if err != nil {
		t.Fatal(err)
	}
	if n.PurchaseOwner != "host:1:ab" || !n.PurchaseLeaseUntil.Equal(lease) {
		t.Fatalf("stored owner %q lease %v, want host:1:ab %v", n.PurchaseOwner, n.PurchaseLeaseUntil, lease)
	}
	if !n.PurchaseInFlight(t0) || n.PurchaseInFlight(lease) {
		t.Fatalf("in flight at t0 %v, at the lease's end %v", n.PurchaseInFlight(t0), n.PurchaseInFlight(lease))
	}

	purchasing, unconfigured, active := maskcall.NumberPurchasing, maskcall.NumberUnconfigured, maskcall.NumberActive
	renewed := lease.Add(time.Minute)
	if n, err = db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{PurchaseLeaseUntil: &renewed, IfStatus: &purchasing}, t0); err != nil {
		t.Fatal(err)
	}
	if !n.PurchaseLeaseUntil.Equal(renewed) || n.PurchaseOwner != "host:1:ab" {
		t.Fatalf("after renewal: %+v", n)
	}

	// The precondition refuses, and changes nothing.
	if _, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &active, IfStatus: &unconfigured}, t0); maskcall.ErrorCode(err) != maskcall.ECONFLICT {
		t.Fatalf("update with a wrong IfStatus = %v, want conflict", err)
	}
	if n, _ = db.FindNumber(ctx, gb1, t0); n.Status != maskcall.NumberPurchasing {
		t.Fatalf("refused update changed the status to %s", n.Status)
	}

	// Settled: the lease and owner go with the status.
	if n, err = db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{Status: &unconfigured, IfStatus: &purchasing}, t0); err != nil {
		t.Fatal(err)
	}
	if n, _ = db.FindNumber(ctx, gb1, t0); n.PurchaseOwner != "" || !n.PurchaseLeaseUntil.IsZero() || n.PurchaseInFlight(t0) {
		t.Fatalf("settled number keeps a lease: %+v", n)
	}
	// A late heartbeat does not bring a lease back.
	if _, err := db.UpdateNumber(ctx, gb1, maskcall.NumberUpdate{PurchaseLeaseUntil: &renewed, IfStatus: &purchasing}, t0); maskcall.ErrorCode(err) != maskcall.ECONFLICT {
		t.Fatalf("renewing a settled purchase = %v, want conflict", err)
	}
	if err := db.DeleteNumber(ctx, gb1); maskcall.ErrorCode(err) != maskcall.ECONFLICT {
		t.Fatalf("DeleteNumber of a bought number = %v, want conflict", err)
	}
	if _, err := db.FindNumber(ctx, gb1, t0); err != nil {
		t.Fatalf("the bought number is gone: %v", err)
	}

	// A number created in another state never carries a lease.
	if err := db.CreateNumber(ctx, &maskcall.Number{Number: gb2, Country: "GB", Status: maskcall.NumberActive,
		PurchaseOwner: "x", PurchaseLeaseUntil: lease}, t0); err != nil {
		t.Fatal(err)
	}
	if n, _ = db.FindNumber(ctx, gb2, t0); n.PurchaseOwner != "" || !n.PurchaseLeaseUntil.IsZero() {
		t.Fatalf("active number created with a lease: %+v", n)
	}
}
