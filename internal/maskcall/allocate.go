package maskcall

import (
	"strings"
)

// Number features a conversation can need from its proxies.
const (
	FeatureVoice = "VOICE"
	FeatureSMS   = "SMS"
)

// ProxyCandidate is a pool number as a store found it for allocation.
type ProxyCandidate struct {
	Number   string
	Country  string
	Features []string
	Status   NumberStatus
	// ActiveUses is how many active conversations use the number already.
	ActiveUses int
}

func (c ProxyCandidate) hasFeature(f string) bool {
	for _, have := range c.Features {
		if strings.EqualFold(have, f) {
			return true
		}
	}
	return false
}

// AllocationRequest is everything Allocate needs to pick one participant's
// proxy number. A store fills it inside the transaction that inserts the
// conversation, so what it read is still true when it writes.
type AllocationRequest struct {
	// Participant is who needs a proxy; Other is the other participant's
	// real number.
	Participant Participant
	Other       string
	// Position is the participant's place in the conversation (0 or 1),
	// naming them in errors when they have no label.
	Position int
	// Candidates are the pool's numbers that are not released, in any
	// order. Allocate filters them: stores need not.
	Candidates []ProxyCandidate
	// InUse are the proxies Participant.Number already has in active
	// conversations: giving one again would make two conversations share
	// a key, and a call from Participant to it could not be routed.
	InUse []string
	// Sticky is the proxy Participant had the last time they were paired
	// with Other ("" if never): saved contacts keep working.
	Sticky string
	// Needs are the features the proxy must have besides VOICE, which it
	// always needs (SMS when the conversation texts its participants).
	Needs []string
}

// Allocate picks Participant's proxy number from the candidates. A
// candidate qualifies if it is active, has VOICE and every feature in
// Needs, is neither participant's own number (a call to it would loop back
// into maskcall) and is not in InUse. Among those it prefers the sticky
// one, then one in the participant's own country (a local number to dial),
// then the least used; ties go to the lowest number, so allocation is
// deterministic whatever order the candidates come in.
//
// Errors: EINVALIDNUMBER if either participant is one of the pool's own
// numbers; EEXHAUSTED wrapping *ExhaustedError if no candidate qualifies.
func Allocate(req AllocationRequest) (string, error) {
	p := req.Participant
	needs := allocationNeeds(req.Needs)
	inUse := make(map[string]bool, len(req.InUse))
	for _, n := range req.InUse {
		inUse[n] = true
	}
	var best ProxyCandidate
	found := false
	for _, c := range req.Candidates {
		if c.Status == NumberReleased {
			continue
		}
		if c.Number == p.Number || c.Number == req.Other {
			return "", Errorf(EINVALIDNUMBER, "%s is one of the pool's own numbers; a participant must be a number outside the pool.", c.Number)
		}
		if c.Status != NumberActive || inUse[c.Number] || !hasAll(c, needs) {
			continue
		}
		if !found || proxyBetter(p.Country, req.Sticky, c, best) {
			best, found = c, true
		}
	}
	if !found {
		return "", exhausted(req.Position, p, needs)
	}
	return best.Number, nil
}

// allocationNeeds is VOICE plus needs, upper-cased, without repeats.
func allocationNeeds(needs []string) []string {
	out := []string{FeatureVoice}
	for _, f := range needs {
		f = strings.ToUpper(strings.TrimSpace(f))
		if f != "" && !containsString(out, f) {
			out = append(out, f)
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasAll(c ProxyCandidate, features []string) bool {
	for _, f := range features {
		if !c.hasFeature(f) {
			return false
		}
	}
	return true
}

func proxyBetter(country, sticky string, a, b ProxyCandidate) bool {
	if aSticky, bSticky := sticky != "" && a.Number == sticky, sticky != "" && b.Number == sticky; aSticky != bSticky {
		return aSticky
	}
	if aLocal, bLocal := a.Country == country, b.Country == country; aLocal != bLocal {
		return aLocal
	}
	if a.ActiveUses != b.ActiveUses {
		return a.ActiveUses < b.ActiveUses
	}
	return a.Number < b.Number
}

// ExhaustedError is returned when no pool number is free for a participant.
type ExhaustedError struct {
	Participant Participant
	// Features are what the missing number must have (VOICE, and SMS when
	// the conversation texts): what to rent to make room.
	Features []string
}

func (e *ExhaustedError) Error() string {
	return "no pool number is free for " + MaskNumber(e.Participant.Number)
}

func exhausted(position int, p Participant, needs []string) error {
	who := p.Label
	if who == "" {
		who = string(rune('a' + position))
	}
	country := p.Country
	if country == "" {
		country = "unknown country"
	}
	with := ""
	if extra := needs[1:]; len(extra) > 0 {
		with = " with " + strings.Join(extra, " and ")
	}
	return &Error{
		Code:    EEXHAUSTED,
		Message: "No pool number" + with + " is free for participant " + who + " (" + MaskNumber(p.Number) + ", " + country + ").",
		Err:     &ExhaustedError{Participant: p, Features: needs},
	}
}
