package maskcall

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// NumberPool manages the virtual numbers maskcall rents. Its rule: the store
// learns of a purchase before Vonage does, so a paid number is never
// forgotten, whatever fails in between.
type NumberPool struct {
	Store         Store
	Numbers       NumbersAPI
	ApplicationID string // the voice application numbers are linked to
	// InboundSMSURL, when set, is the inbound SMS webhook every number must
	// point at too; reconcile relinks a number pointing elsewhere.
	InboundSMSURL string
	Now           func() time.Time

	// Owner names this process on the purchases it makes; default
	// "host:pid:token".
	Owner string
	// PurchaseLease is how long a purchase stays protected after its
	// owner's last sign of life: the owner renews it every third of it
	// while its buy is out and ends it when it stops waiting. Until it
	// runs out, configure and reconcile leave the purchase alone, so a
	// crashed owner's purchase is settled at most this long after the
	// crash. Default DefaultPurchaseLease.
	PurchaseLease time.Duration
}

// DefaultPurchaseLease is NumberPool.PurchaseLease's default.
const DefaultPurchaseLease = time.Minute

// processOwner identifies this process in purchase leases.
var processOwner = func() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s:%d:%s", cmp.Or(host, "localhost"), os.Getpid(), hex.EncodeToString(b))
}()

func (p *NumberPool) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *NumberPool) owner() string { return cmp.Or(p.Owner, processOwner) }

func (p *NumberPool) lease() time.Duration {
	if p.PurchaseLease > 0 {
		return p.PurchaseLease
	}
	return DefaultPurchaseLease
}

// Search lists numbers Vonage offers, buying nothing.
func (p *NumberPool) Search(ctx context.Context, q NumberSearch) ([]AvailableNumber, error) {
	if q.Country == "" {
		return nil, Errorf(EINVALID, "A country is required to search for numbers.")
	}
	return p.Numbers.SearchNumbers(ctx, q)
}

// RentStep reports one number's progress through rent.
type RentStep struct {
	Number string
	Stage  string // "bought", "configured", "failed"
	Err    error
}

// RentOptions controls Rent and Provision.
type RentOptions struct {
	// Configure links each number to the application after buying it.
	Configure bool
	// Progress, if set, is told of each step as it happens.
	Progress func(RentStep)
}

// Rent buys one number and, if asked, links it. The returned Number is
// what the pool holds afterwards, even when err is non-nil: a number that was
// bought but not linked is kept as unconfigured.
func (p *NumberPool) Rent(ctx context.Context, avail AvailableNumber, opts RentOptions) (*Number, error) {
	progress := opts.Progress
	if progress == nil {
		progress = func(RentStep) {}
	}
	now := p.now()
	n := &Number{
		Number: avail.Number, Country: avail.Country, Type: avail.Type,
		Features: avail.Features, Cost: avail.Cost, Status: NumberPurchasing,
		PurchaseOwner: p.owner(), PurchaseLeaseUntil: now.Add(p.lease()),
		CreatedAt: now, UpdatedAt: now,
	}
	if err := p.Store.CreateNumber(ctx, n, p.now()); err != nil {
		if ErrorCode(err) == ECONFLICT {
			return nil, Errorf(ECONFLICT, "%s is already in the pool.", avail.Number).WithReason("in_pool")
		}
		return nil, err
	}

	// The purchase must not be cut off half-way by the user's Ctrl-C: the
	// reply tells us whether we own the number.
	bctx := context.WithoutCancel(ctx)
	stop := p.heartbeat(bctx, n.Number)
	buyErr := p.buy(bctx, avail.Country, avail.Number)
	stop()
	if buyErr != nil {
		progress(RentStep{Number: n.Number, Stage: "failed", Err: buyErr})
		if ErrorCode(buyErr) == EUNAVAILABLE {
			// Still unknown whether we own it: keep the row as purchasing,
			// for configure and reconcile to settle against the account.
			// Its lease ends now that nobody waits for an answer: should
			// Vonage complete the purchase after they dropped the row, the
			// account owns a number reconcile adopts.
			p.endLease(bctx, n.Number)
			return n, wrapError(buyErr, "Buying "+n.Number+" got no clear answer:", "purchase_unknown")
		}
		// Vonage said no, and the account does not own it: nothing was bought.
		if _, err := p.forget(bctx, n.Number); err != nil {
			return n, err
		}
		return nil, buyErr
	}
	n, err := p.recordBought(bctx, n)
	if err != nil {
		return n, err
	}
	progress(RentStep{Number: n.Number, Stage: "bought"})
	if !opts.Configure {
		return n, nil
	}
	if n.Status == NumberActive && n.AppID == p.ApplicationID && p.ApplicationID != "" {
		// Settled and linked by another process meanwhile.
		progress(RentStep{Number: n.Number, Stage: "configured"})
		return n, nil
	}
	return p.link(ctx, n, progress)
}

// heartbeat renews number's purchase lease every third of the lease until
// the returned stop is called. It gives up once the row is no longer a
// purchase (settled or dropped by another process); recordBought copes.
func (p *NumberPool) heartbeat(ctx context.Context, number string) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(p.lease() / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if !p.renewLease(ctx, number) {
					return
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// renewLease extends number's purchase lease to a full lease from now,
// if it is still purchasing. A failure to write is not fatal: the lease
// only protects the row from being settled early, and recordBought puts
// back a row that was.
func (p *NumberPool) renewLease(ctx context.Context, number string) bool {
	until, purchasing := p.now().Add(p.lease()), NumberPurchasing
	_, err := p.Store.UpdateNumber(ctx, number, NumberUpdate{PurchaseLeaseUntil: &until, IfStatus: &purchasing}, p.now())
	code := ErrorCode(err)
	return code != ECONFLICT && code != ENOTFOUND
}

// endLease ends number's purchase lease, if it is still purchasing.
func (p *NumberPool) endLease(ctx context.Context, number string) {
	var none time.Time
	purchasing := NumberPurchasing
	_, _ = p.Store.UpdateNumber(ctx, number, NumberUpdate{PurchaseLeaseUntil: &none, IfStatus: &purchasing}, p.now())
}

// recordBought records that n, whose purchase this process made, is owned.
// Whatever another process did to the row meanwhile (settled it, or dropped
// it believing the purchase failed), the pool ends up holding the number.
func (p *NumberPool) recordBought(ctx context.Context, n *Number) (*Number, error) {
	purchasing, unconfigured := NumberPurchasing, NumberUnconfigured
	got, err := p.Store.UpdateNumber(ctx, n.Number, NumberUpdate{Status: &unconfigured, IfStatus: &purchasing}, p.now())
	switch ErrorCode(err) {
	case "":
		return got, nil
	case ECONFLICT:
		cur, ferr := p.Store.FindNumber(ctx, n.Number, p.now())
		if ferr == nil && cur.Status != NumberReleased {
			return cur, nil // settled meanwhile: it says what it is
		} else if ferr != nil && ErrorCode(ferr) != ENOTFOUND {
			return n, ferr
		}
	case ENOTFOUND:
	default:
		return n, err
	}
	// Dropped (or put back to released) while the buy was out: record it again.
	now := p.now()
	again := &Number{Number: n.Number, Country: n.Country, Type: n.Type, Features: n.Features, Cost: n.Cost,
		Status: NumberUnconfigured, CreatedAt: now, UpdatedAt: now}
	if err := p.Store.CreateNumber(ctx, again, p.now()); err != nil {
		if ErrorCode(err) == ECONFLICT {
			return p.Store.FindNumber(ctx, n.Number, p.now())
		}
		return n, err
	}
	return again, nil
}

// buyAttempts bounds how often one number's purchase is tried when Vonage's
// answer is lost.
const buyAttempts = 3

// buy buys a number, never twice: after a reply that leaves the outcome
// unknown (a timeout, a 5xx), and after a refusal too (Vonage has refused
// purchases that went through), it asks Vonage whether the account owns the
// number before trying again or giving up. It returns nil once the number
// is owned, the refusal if Vonage says no and the account does not own it,
// and EUNAVAILABLE if the outcome stays unknown.
func (p *NumberPool) buy(ctx context.Context, country, number string) error {
	var err error
	for attempt := 1; attempt <= buyAttempts; attempt++ {
		err = p.Numbers.BuyNumber(ctx, country, number)
		if err == nil {
			return nil
		}
		if ErrorCode(err) == EVONAGEAUTH && attempt == 1 {
			return err // the credentials were refused: nothing was bought with them
		}
		owned, oerr := p.owns(ctx, country, number)
		if oerr != nil {
			// Unknown either way: keep it as purchasing for reconcile.
			return &Error{Code: EUNAVAILABLE, Err: oerr,
				Message: "checking whether the account owns " + number + " failed: " + ErrorMessage(oerr)}
		}
		if owned {
			return nil
		}
		if ErrorCode(err) != EUNAVAILABLE {
			return err // refused, and not ours: nothing bought
		}
	}
	return err
}

// owns reports whether the account rents number.
func (p *NumberPool) owns(ctx context.Context, country, number string) (bool, error) {
	list, err := p.Numbers.OwnedNumbers(ctx, OwnedNumbersFilter{Country: country, Pattern: strings.TrimPrefix(number, "+")})
	if err != nil {
		return false, err
	}
	for _, o := range list {
		if o.Number == number {
			return true, nil
		}
	}
	return false, nil
}

// forget undoes the record of a purchase that did not happen: the row goes,
// or, for a number that was rented before and has conversation history,
// goes back to released. It reports false, changing nothing, when the row
// is no longer purchasing: another process settled it meanwhile.
func (p *NumberPool) forget(ctx context.Context, number string) (bool, error) {
	err := p.Store.DeleteNumber(ctx, number)
	switch ErrorCode(err) {
	case "", ENOTFOUND:
		return true, nil
	case ECONFLICT:
	default:
		return false, err
	}
	released, purchasing, empty := NumberReleased, NumberPurchasing, ""
	_, err = p.Store.UpdateNumber(ctx, number, NumberUpdate{Status: &released, AppID: &empty, IfStatus: &purchasing}, p.now())
	switch ErrorCode(err) {
	case "":
		return true, nil
	case ECONFLICT:
		return false, nil
	}
	return false, err
}

// link points n at the application and records the result.
func (p *NumberPool) link(ctx context.Context, n *Number, progress func(RentStep)) (*Number, error) {
	if p.ApplicationID == "" {
		err := Errorf(ECONFIG, "%s was bought but not linked: no voice application is configured.", n.Number).WithReason("not_linked")
		progress(RentStep{Number: n.Number, Stage: "failed", Err: err})
		return n, err
	}
	if err := p.Numbers.LinkNumber(ctx, n.Country, n.Number, p.ApplicationID); err != nil {
		progress(RentStep{Number: n.Number, Stage: "failed", Err: err})
		return n, wrapError(err, n.Number+" was bought but not linked to the application:", "not_linked")
	}
	appID := p.ApplicationID
	n, err := p.setStatus(context.WithoutCancel(ctx), n.Number, NumberActive, &appID)
	if err != nil {
		return n, err
	}
	progress(RentStep{Number: n.Number, Stage: "configured"})
	return n, nil
}

func (p *NumberPool) setStatus(ctx context.Context, number string, status NumberStatus, appID *string) (*Number, error) {
	return p.Store.UpdateNumber(ctx, number, NumberUpdate{Status: &status, AppID: appID}, p.now())
}

// RentNumbers buys the given numbers of one country, one after another,
// stopping at the first failure. It returns the pool entries it touched.
func (p *NumberPool) RentNumbers(ctx context.Context, country string, numbers []string, opts RentOptions) ([]*Number, error) {
	if len(numbers) == 0 {
		return nil, Errorf(EINVALID, "Name at least one number to rent.")
	}
	// Vonage's search gives type, features and cost; buy does not.
	known := map[string]AvailableNumber{}
	for _, num := range numbers {
		found, err := p.Numbers.SearchNumbers(ctx, NumberSearch{Country: country, Pattern: strings.TrimPrefix(num, "+"), PatternPosition: "contains", Limit: 10})
		if err != nil {
			return nil, err
		}
		for _, a := range found {
			known[a.Number] = a
		}
	}
	var out []*Number
	for _, num := range numbers {
		if err := ctx.Err(); err != nil {
			return out, interrupted(err)
		}
		avail, ok := known[num]
		if !ok {
			avail = AvailableNumber{Number: num, Country: country}
		}
		n, err := p.Rent(ctx, avail, opts)
		if n != nil {
			out = append(out, n)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// Provision searches for count numbers and rents (and links) each: the
// command operators run first.
func (p *NumberPool) Provision(ctx context.Context, q NumberSearch, count int, opts RentOptions) ([]*Number, error) {
	if count < 1 {
		return nil, Errorf(EINVALID, "At least one number must be asked for, got %d.", count).WithReason("count")
	}
	if opts.Configure && p.ApplicationID == "" {
		return nil, Errorf(ECONFIG, "No voice application is configured, so new numbers could not be linked.").WithReason("no_application")
	}
	q.Limit = max(count, q.Limit)
	if q.Limit > 100 {
		q.Limit = 100 // Vonage's page size cap
	}
	avail, err := p.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	if len(avail) < count {
		return nil, Errorf(EUPSTREAM, "Vonage offers only %d number(s) in %s matching the request; %d wanted.", len(avail), q.Country, count).
			WithReason("too_few_offered", "country", q.Country)
	}
	var out []*Number
	for _, a := range avail[:count] {
		if err := ctx.Err(); err != nil {
			return out, interrupted(err)
		}
		n, err := p.Rent(ctx, a, opts)
		if n != nil {
			out = append(out, n)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// ConfigureResult is what Configure did to one number.
type ConfigureResult struct {
	Number *Number
	// "linked", "purchase confirmed, linked", "purchase not made",
	// "purchase in flight, left alone", "failed", ...
	Action string
	Err    error
}

// Configure links numbers to the application. With no numbers it takes every
// number that is not yet active (and all numbers if all is set). Numbers left
// purchasing by an interrupted rent are checked against the account first.
func (p *NumberPool) Configure(ctx context.Context, numbers []string, all bool) ([]ConfigureResult, error) {
	if p.ApplicationID == "" {
		return nil, Errorf(ECONFIG, "No voice application is configured to link numbers to.").WithReason("no_application")
	}
	var targets []*Number
	if len(numbers) > 0 {
		for _, num := range numbers {
			n, err := p.Store.FindNumber(ctx, num, p.now())
			if err != nil {
				if ErrorCode(err) == ENOTFOUND {
					return nil, Errorf(ENOTFOUND, "%s is not in the pool.", num).WithReason("not_in_pool")
				}
				return nil, err
			}
			if n.Status == NumberReleased {
				return nil, Errorf(ECONFLICT, "%s was released and cannot be configured.", num)
			}
			targets = append(targets, n)
		}
	} else {
		pool, err := p.Store.FindNumbers(ctx, NumberFilter{}, p.now())
		if err != nil {
			return nil, err
		}
		for _, n := range pool {
			if all || n.Status != NumberActive {
				targets = append(targets, n)
			}
		}
	}

	var owned map[string]OwnedNumber
	var results []ConfigureResult
	var firstErr error
	for _, n := range targets {
		if err := ctx.Err(); err != nil {
			return results, interrupted(err)
		}
		res := ConfigureResult{Number: n}
		if n.PurchaseInFlight(p.now()) {
			// Its owner may still be buying it: leave it to the owner.
			res.Action = "purchase in flight, left alone"
			results = append(results, res)
			continue
		}
		if n.Status == NumberPurchasing {
			if owned == nil {
				list, err := p.Numbers.OwnedNumbers(ctx, OwnedNumbersFilter{})
				if err != nil {
					return results, err
				}
				owned = map[string]OwnedNumber{}
				for _, o := range list {
					owned[o.Number] = o
				}
			}
			if _, ok := owned[n.Number]; !ok {
				dropped, err := p.forget(ctx, n.Number)
				if err != nil {
					return results, err
				}
				res.Action = "purchase not made"
				if !dropped {
					res.Action = "settled meanwhile, left alone"
				}
				results = append(results, res)
				continue
			}
			if _, err := p.setStatus(ctx, n.Number, NumberUnconfigured, nil); err != nil {
				return results, err
			}
			n.Status = NumberUnconfigured
			res.Action = "purchase confirmed, "
		}
		linked, err := p.link(ctx, n, func(RentStep) {})
		res.Number = linked
		if err != nil {
			res.Action += "failed"
			res.Err = err
			if firstErr == nil {
				firstErr = err
			}
		} else {
			res.Action += "linked"
		}
		results = append(results, res)
	}
	return results, firstErr
}

// Import adopts numbers the account already owns into the pool: linked to
// our application they become active, otherwise unconfigured. Numbers
// already in the pool are left alone, except interrupted purchases, which
// are settled.
func (p *NumberPool) Import(ctx context.Context, filter OwnedNumbersFilter) ([]*Number, error) {
	owned, err := p.Numbers.OwnedNumbers(ctx, filter)
	if err != nil {
		return nil, err
	}
	var added []*Number
	for _, o := range owned {
		existing, err := p.Store.FindNumber(ctx, o.Number, p.now())
		if err == nil && existing.Status != NumberReleased && existing.Status != NumberPurchasing {
			continue
		} else if err != nil && ErrorCode(err) != ENOTFOUND {
			return added, err
		}
		n, err := p.adopt(ctx, o)
		if err != nil {
			return added, err
		}
		added = append(added, n)
	}
	return added, nil
}

// Release cancels a number's rental. It refuses while active conversations
// use the number, unless force is set: those conversations are then ended,
// so they cannot come back to life if the number is rented again.
func (p *NumberPool) Release(ctx context.Context, number string, force bool) (*Number, []string, error) {
	n, err := p.CheckRelease(ctx, number, force)
	if err != nil || n.Status == NumberReleased {
		return n, nil, err
	}
	if err := p.Numbers.CancelNumber(ctx, n.Country, n.Number); err != nil {
		// With --force, a number the account no longer owns (released in the
		// dashboard, say) is released here too instead of being handed out.
		if !force || ErrorCode(err) != EUPSTREAM {
			return nil, nil, err
		}
		if owned, oerr := p.owns(ctx, n.Country, n.Number); oerr != nil || owned {
			return nil, nil, err
		}
	}
	ctx = context.WithoutCancel(ctx) // the rental is gone: record it whatever happens
	var ended []string
	if force {
		// Always, not only if the count read above was positive: another
		// process may have allocated the number meanwhile.
		if ended, err = p.Store.EndConversationsUsingNumber(ctx, number, EndReasonReleased, p.now()); err != nil {
			return nil, nil, err
		}
	}
	released := NumberReleased
	empty := ""
	n, err = p.Store.UpdateNumber(ctx, number, NumberUpdate{Status: &released, AppID: &empty}, p.now())
	return n, ended, err
}

// CheckRelease says whether Release would go ahead, changing nothing: it
// returns the number (ActiveConversations says how many conversations force
// would end) or the error Release would return before asking Vonage. A
// number already released is returned as it is.
func (p *NumberPool) CheckRelease(ctx context.Context, number string, force bool) (*Number, error) {
	n, err := p.Store.FindNumber(ctx, number, p.now())
	if err != nil {
		if ErrorCode(err) == ENOTFOUND {
			return nil, Errorf(ENOTFOUND, "%s is not in the pool.", number).WithReason("not_in_pool")
		}
		return nil, err
	}
	if n.Status == NumberPurchasing {
		return nil, Errorf(ECONFLICT, "%s has a purchase whose outcome is not known yet.", number).WithReason("purchase_pending")
	}
	if n.Status != NumberReleased && n.ActiveConversations > 0 && !force {
		return nil, Errorf(ECONFLICT, "%s is in use by %d active conversation(s).", number, n.ActiveConversations).WithReason("in_use")
	}
	return n, nil
}

// List returns the pool.
func (p *NumberPool) List(ctx context.Context, filter NumberFilter) ([]*Number, error) {
	return p.Store.FindNumbers(ctx, filter, p.now())
}

// ParseFeatures turns "voice,sms" into ["SMS", "VOICE"] and rejects unknown
// features.
func ParseFeatures(s string) ([]string, error) {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		f = strings.ToUpper(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		if f != "VOICE" && f != "SMS" && f != "MMS" {
			return nil, Errorf(EINVALID, "Unknown number feature %q; use VOICE, SMS or MMS.", f)
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out, nil
}

func interrupted(err error) error {
	return &Error{Code: ECANCELED, Message: "Interrupted; the pool records every number bought so far.", Err: err}
}

// wrapError puts prefix before err's message, keeping its code. A reason
// replaces err's advice; with "" err's reason, fields and hint stay.
func wrapError(err error, prefix, reason string) *Error {
	var e *Error
	if !errors.As(err, &e) {
		return &Error{Code: EINTERNAL, Message: prefix + " " + err.Error(), Reason: reason, Err: err}
	}
	w := &Error{Code: e.Code, Message: prefix + " " + e.Message, Reason: reason, Err: err}
	if reason == "" {
		w.Reason, w.Fields, w.Hint = e.Reason, e.Fields, e.Hint
	}
	return w
}
