package maskcall

import (
	"cmp"
	"context"
	"time"
)

// ReconcileAction is one finding of Reconcile and what was done about it.
type ReconcileAction struct {
	Number string `json:"number"`
	// Finding says what differed between the pool and the account.
	Finding string `json:"finding"`
	// Action is what Reconcile did ("adopted and linked", "relinked",
	// "marked active", "purchase confirmed and linked", "dropped", "left
	// alone" for a purchase in flight), or "none" when it left it for a
	// person; with DryRun, what it would do.
	Action string `json:"action"`
	// Reason, for an action left to a person, says why in a stable word
	// edges key their advice on: "no_application", "not_owned".
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Reconcile compares the pool with the numbers the account really owns and
// how each is linked, and settles everything it can in one pass: it adopts
// owned numbers missing from the pool, confirms or drops interrupted
// purchases, and links every owned number not pointing at the application
// (adopted and confirmed ones included). A purchase whose owner's lease has
// not run out may still go through, so it is left alone, whatever the
// account says. Pool numbers the account no longer owns are only reported:
// releasing them could cut off conversations on a mere listing glitch.
// With dryRun it changes nothing and says what it would do.
func (p *NumberPool) Reconcile(ctx context.Context, dryRun bool) ([]ReconcileAction, error) {
	owned, err := p.Numbers.OwnedNumbers(ctx, OwnedNumbersFilter{})
	if err != nil {
		return nil, err
	}
	pool, err := p.Store.FindNumbers(ctx, NumberFilter{IncludeReleased: true}, p.now())
	if err != nil {
		return nil, err
	}
	// Read after the owned list: a purchase recorded after the listing
	// was taken must look in flight here, never "not owned".
	now := p.now()
	inPool := make(map[string]*Number, len(pool))
	for _, n := range pool {
		inPool[n.Number] = n
	}
	ownedSet := make(map[string]OwnedNumber, len(owned))
	for _, o := range owned {
		ownedSet[o.Number] = o
	}

	var out []ReconcileAction
	// do records a, running fix unless dryRun. fix may return the action
	// it managed when it failed part-way (adopted, but not linked).
	do := func(a ReconcileAction, fix func() (string, error)) {
		if dryRun || fix == nil {
			out = append(out, a)
			return
		}
		if done, err := fix(); err != nil {
			a.Error = ErrorMessage(err)
			a.Action = cmp.Or(done, "none")
		}
		out = append(out, a)
	}
	linked := func(o OwnedNumber) bool {
		return p.ApplicationID != "" && o.AppID == p.ApplicationID && (p.InboundSMSURL == "" || o.InboundSMSURL == p.InboundSMSURL)
	}
	// settle records o in the pool (adopting it, or confirming its
	// purchase) and links it if it is not linked: first says what the
	// first step is called.
	settle := func(first string, o OwnedNumber) (string, func() (string, error)) {
		action := first
		switch {
		case linked(o):
		case p.ApplicationID == "":
			action += "; not linked: no voice application is configured"
		default:
			action += " and linked"
		}
		return action, func() (string, error) {
			n, err := p.adopt(ctx, o)
			if err != nil {
				return "", err
			}
			if linked(o) || p.ApplicationID == "" {
				return "", nil
			}
			if _, err := p.link(ctx, n, func(RentStep) {}); err != nil {
				return first, err
			}
			return "", nil
		}
	}
	inFlight := func(n *Number) ReconcileAction {
		return ReconcileAction{Number: n.Number,
			Finding: "purchase in flight (by " + n.PurchaseOwner + ", lease until " + n.PurchaseLeaseUntil.UTC().Format(time.RFC3339) + ")",
			Action:  "left alone"}
	}

	for _, o := range owned {
		if err := ctx.Err(); err != nil {
			return out, interrupted(err)
		}
		n, ok := inPool[o.Number]
		switch {
		case !ok || n.Status == NumberReleased:
			action, fix := settle("adopted", o)
			do(ReconcileAction{Number: o.Number, Finding: "owned by the account but not in the pool", Action: action}, fix)
		case n.PurchaseInFlight(now):
			do(inFlight(n), nil)
		case n.Status == NumberPurchasing:
			action, fix := settle("purchase confirmed", o)
			do(ReconcileAction{Number: o.Number, Finding: "interrupted purchase went through", Action: action}, fix)
		case !linked(o):
			a := ReconcileAction{Number: o.Number, Finding: "not linked to the voice application", Action: "relinked"}
			if o.AppID == p.ApplicationID {
				a.Finding = "inbound SMS go to another URL"
			}
			if p.ApplicationID == "" {
				a.Action, a.Reason = "none (no voice application is configured)", "no_application"
				do(a, nil)
				break
			}
			do(a, func() (string, error) {
				_, err := p.link(ctx, n, func(RentStep) {})
				return "", err
			})
		case n.Status == NumberUnconfigured:
			do(ReconcileAction{Number: o.Number, Finding: "linked, but the pool says unconfigured", Action: "marked active"}, func() (string, error) {
				_, err := p.setStatus(ctx, n.Number, NumberActive, &o.AppID)
				return "", err
			})
		}
	}
	for _, n := range pool {
		if _, ok := ownedSet[n.Number]; ok || n.Status == NumberReleased {
			continue
		}
		switch {
		case n.PurchaseInFlight(now):
			do(inFlight(n), nil)
		case n.Status == NumberPurchasing:
			a := ReconcileAction{Number: n.Number, Finding: "interrupted purchase did not go through", Action: "dropped"}
			if dryRun {
				do(a, nil)
				break
			}
			dropped, err := p.forget(ctx, n.Number)
			if err != nil {
				a.Action, a.Error = "none", ErrorMessage(err)
			} else if !dropped {
				a.Action = "left alone: settled by another process meanwhile"
			}
			out = append(out, a)
		default:
			do(ReconcileAction{Number: n.Number, Finding: "in the pool but not owned by the account",
				Action: "none: check the Vonage dashboard, then release it", Reason: "not_owned"}, nil)
		}
	}
	return out, nil
}

// adopt records an owned number in the pool (or settles its purchasing
// row): active if linked to the application, else unconfigured.
func (p *NumberPool) adopt(ctx context.Context, o OwnedNumber) (*Number, error) {
	status := NumberUnconfigured
	if p.ApplicationID != "" && o.AppID == p.ApplicationID {
		status = NumberActive
	}
	existing, err := p.Store.FindNumber(ctx, o.Number, p.now())
	switch {
	case err == nil && existing.Status != NumberReleased:
		return p.setStatus(ctx, o.Number, status, &o.AppID)
	case err != nil && ErrorCode(err) != ENOTFOUND:
		return nil, err
	}
	now := p.now()
	n := &Number{Number: o.Number, Country: o.Country, Type: o.Type, Features: o.Features,
		Status: status, AppID: o.AppID, CreatedAt: now, UpdatedAt: now}
	if err := p.Store.CreateNumber(ctx, n, p.now()); err != nil {
		return nil, err
	}
	return n, nil
}
