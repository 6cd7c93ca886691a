package maskcall

import (
	"context"
)

// ReconcileAction is one finding of Reconcile and what was done about it.
type ReconcileAction struct {
	Number string `json:"number"`
	// Finding says what differed between the pool and the account.
	Finding string `json:"finding"`
	// Action is what Reconcile did ("adopted", "relinked", "marked active",
	// "purchase confirmed", "dropped"), or "none" when it left it for a
	// person; with DryRun, what it would do.
	Action string `json:"action"`
	// Reason, for an action left to a person, says why in a stable word
	// edges key their advice on: "no_application", "not_owned".
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Reconcile compares the pool with the numbers the account really owns and
// how each is linked. It repairs what is safe to repair: it adopts owned
// numbers missing from the pool, confirms or drops interrupted purchases,
// and relinks numbers not pointing at the application. It only reports
// pool numbers the account no longer owns: releasing them could cut off
// conversations on a mere listing glitch. With dryRun it changes nothing.
func (p *NumberPool) Reconcile(ctx context.Context, dryRun bool) ([]ReconcileAction, error) {
	owned, err := p.Numbers.OwnedNumbers(ctx, OwnedNumbersFilter{})
	if err != nil {
		return nil, err
	}
	pool, err := p.Store.FindNumbers(ctx, NumberFilter{IncludeReleased: true})
	if err != nil {
		return nil, err
	}
	inPool := make(map[string]*Number, len(pool))
	for _, n := range pool {
		inPool[n.Number] = n
	}
	ownedSet := make(map[string]OwnedNumber, len(owned))
	for _, o := range owned {
		ownedSet[o.Number] = o
	}

	var out []ReconcileAction
	do := func(a ReconcileAction, fix func() error) {
		if dryRun || fix == nil {
			out = append(out, a)
			return
		}
		if err := fix(); err != nil {
			a.Error = ErrorMessage(err)
			a.Action = "none"
		}
		out = append(out, a)
	}
	linked := func(o OwnedNumber) bool { return p.ApplicationID != "" && o.AppID == p.ApplicationID }
	relink := func(n *Number) func() error {
		if p.ApplicationID == "" {
			return nil
		}
		return func() error {
			_, err := p.link(ctx, n, func(RentStep) {})
			return err
		}
	}

	for _, o := range owned {
		if err := ctx.Err(); err != nil {
			return out, interrupted(err)
		}
		n, ok := inPool[o.Number]
		switch {
		case !ok || n.Status == NumberReleased:
			do(ReconcileAction{Number: o.Number, Finding: "owned by the account but not in the pool", Action: "adopted"}, func() error {
				_, err := p.adopt(ctx, o)
				return err
			})
		case n.Status == NumberPurchasing:
			do(ReconcileAction{Number: o.Number, Finding: "interrupted purchase went through", Action: "purchase confirmed"}, func() error {
				_, err := p.adopt(ctx, o)
				return err
			})
		case !linked(o):
			a := ReconcileAction{Number: o.Number, Finding: "not linked to the voice application", Action: "relinked"}
			if p.ApplicationID == "" {
				a.Action, a.Reason = "none (no voice application is configured)", "no_application"
			}
			do(a, relink(n))
		case n.Status == NumberUnconfigured:
			do(ReconcileAction{Number: o.Number, Finding: "linked, but the pool says unconfigured", Action: "marked active"}, func() error {
				_, err := p.setStatus(ctx, n.Number, NumberActive, &o.AppID)
				return err
			})
		}
	}
	for _, n := range pool {
		if _, ok := ownedSet[n.Number]; ok || n.Status == NumberReleased {
			continue
		}
		if n.Status == NumberPurchasing {
			do(ReconcileAction{Number: n.Number, Finding: "interrupted purchase did not go through", Action: "dropped"}, func() error {
				return p.forget(ctx, n.Number)
			})
			continue
		}
		do(ReconcileAction{Number: n.Number, Finding: "in the pool but not owned by the account",
			Action: "none: check the Vonage dashboard, then release it", Reason: "not_owned"}, nil)
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
	existing, err := p.Store.FindNumber(ctx, o.Number)
	switch {
	case err == nil && existing.Status != NumberReleased:
		return p.setStatus(ctx, o.Number, status, &o.AppID)
	case err != nil && ErrorCode(err) != ENOTFOUND:
		return nil, err
	}
	now := p.now()
	n := &Number{Number: o.Number, Country: o.Country, Type: o.Type, Features: o.Features,
		Status: status, AppID: o.AppID, CreatedAt: now, UpdatedAt: now}
	if err := p.Store.CreateNumber(ctx, n); err != nil {
		return nil, err
	}
	return n, nil
}
