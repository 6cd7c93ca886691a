package maskcall

import (
	"strings"
	"time"
)

// InsightKind is the online check a conversation's numbers get before it is
// created. Numbers are always checked offline (libphonenumber) first.
type InsightKind string

// Insight kinds.
const (
	// InsightNone checks numbers offline only.
	InsightNone InsightKind = ""
	// InsightFormat is Identity Insights' format insight, authenticated
	// with the application's key (a JWT).
	InsightFormat InsightKind = "format"
	// InsightBasic is Number Insight basic, authenticated with the API key
	// and secret. Vonage retires Number Insight in February 2027.
	InsightBasic InsightKind = "basic"
)

// Insight choices as a caller names them. InsightAuto is the default: the
// format insight when the application's key is configured, else offline
// only, so that it keeps working after Number Insight is retired.
const (
	InsightAuto       = "auto"
	InsightChoiceNone = "none"
)

// InsightChoices lists what a caller may ask for, in the order shown to users.
var InsightChoices = []string{InsightAuto, string(InsightFormat), string(InsightBasic), InsightChoiceNone}

// InsightChoiceList is InsightChoices for a message: "auto, format, basic or none".
func InsightChoiceList() string {
	n := len(InsightChoices)
	return strings.Join(InsightChoices[:n-1], ", ") + " or " + InsightChoices[n-1]
}

// NumberInsightRetirement is when Vonage switches Number Insight off: its
// transition guide says the API is sunset in February 2027. From this
// moment the basic insight is refused rather than left to fail.
var NumberInsightRetirement = time.Date(2027, time.March, 1, 0, 0, 0, 0, time.UTC)

// NumberInsightSunset names the retirement in messages.
const NumberInsightSunset = "February 2027"

// Service is the Vonage API behind an insight kind, for messages.
func (k InsightKind) Service() string {
	switch k {
	case InsightFormat:
		return "Vonage Identity Insights"
	case InsightBasic:
		return "Vonage Number Insight"
	}
	return "the offline check"
}

// ResolveInsight turns a caller's choice (auto, format, basic or none; ""
// means auto) into the check to make. formatAvailable says whether the
// application's key is configured, which the format insight needs. Asking
// for basic at or after NumberInsightRetirement is refused; before it, the
// caller should warn (see DeprecationWarning).
func ResolveInsight(choice string, formatAvailable bool, now time.Time) (InsightKind, error) {
	switch strings.ToLower(strings.TrimSpace(choice)) {
	case "", InsightAuto:
		if formatAvailable {
			return InsightFormat, nil
		}
		return InsightNone, nil
	case string(InsightFormat):
		if !formatAvailable {
			return "", Errorf(ECONFIG, "The format insight needs the Vonage application's id and private key, and they are not both configured.").
				WithReason("insight_needs_key")
		}
		return InsightFormat, nil
	case string(InsightBasic):
		if !now.Before(NumberInsightRetirement) {
			return "", Errorf(ECONFIG, "Vonage retired Number Insight in %s, so the basic insight is no longer available; Identity Insights' format insight replaces it.", NumberInsightSunset).
				WithReason("insight_retired")
		}
		return InsightBasic, nil
	case InsightChoiceNone:
		return InsightNone, nil
	}
	return "", Errorf(EINVALID, "%q is not an insight; use %s.", choice, InsightChoiceList())
}

// DeprecationWarning is the warning a caller shows when kind is deprecated,
// "" otherwise.
func (k InsightKind) DeprecationWarning() string {
	if k != InsightBasic {
		return ""
	}
	return "Number Insight basic is deprecated: Vonage retires Number Insight in " + NumberInsightSunset +
		", after which checks with it fail. Its replacement is Identity Insights' format insight, which needs the application's private key."
}
