// Package phone turns phone numbers in any common form into E.164, using
// libphonenumber's metadata (github.com/nyaruka/phonenumbers).
package phone

import (
	"strings"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/nyaruka/phonenumbers"
)

// Number is a parsed phone number.
type Number struct {
	E164    string // "+447700900123"
	Country string // ISO alpha-2, e.g. "GB"
}

// Parse accepts "+44 7700 900123", "447700900123" (Vonage's form), "0044…",
// or a national form such as "07700 900123" when defaultCountry is given.
// Errors are EINVALIDNUMBER and say what is wrong with the input.
func Parse(input, defaultCountry string) (Number, error) {
	s := strings.TrimSpace(input)
	if s == "" {
		return Number{}, maskcall.Errorf(maskcall.EINVALIDNUMBER, "The phone number is empty.")
	}
	if len(s) > 64 {
		return Number{}, maskcall.Errorf(maskcall.EINVALIDNUMBER, "%q is too long to be a phone number.", s[:16]+"…")
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789+-.() ", r) {
			return Number{}, maskcall.Errorf(maskcall.EINVALIDNUMBER, "%q is not a phone number: it contains %q.", s, r)
		}
	}
	if strings.Count(s, "+") > 1 || strings.LastIndex(s, "+") > 0 {
		return Number{}, maskcall.Errorf(maskcall.EINVALIDNUMBER, "%q is not a phone number: '+' may only come once, first.", s).WithHint(checkDigits)
	}
	defaultCountry = strings.ToUpper(defaultCountry)
	international := strings.HasPrefix(s, "+") || strings.HasPrefix(s, "00")

	var tries []func() (*phonenumbers.PhoneNumber, error)
	if international {
		tries = append(tries, func() (*phonenumbers.PhoneNumber, error) {
			return phonenumbers.Parse("+"+strings.TrimPrefix(strings.TrimPrefix(s, "00"), "+"), "ZZ")
		})
	} else {
		if defaultCountry != "" {
			tries = append(tries, func() (*phonenumbers.PhoneNumber, error) { return phonenumbers.Parse(s, defaultCountry) })
		}
		// Vonage sends MSISDNs as digits with the country code and no '+'.
		tries = append(tries, func() (*phonenumbers.PhoneNumber, error) { return phonenumbers.Parse("+"+s, "ZZ") })
	}

	var firstErr error
	for _, try := range tries {
		n, err := try()
		if err != nil {
			if firstErr == nil {
				firstErr = maskcall.Errorf(maskcall.EINVALIDNUMBER, "%q is not a phone number.", s).
					WithReason(reasonFor(international, defaultCountry)).WithHint(checkDigits)
			}
			continue
		}
		e164 := phonenumbers.Format(n, phonenumbers.E164)
		switch {
		case len(e164) > 16: // E.164 allows at most 15 digits
			if firstErr == nil {
				firstErr = maskcall.Errorf(maskcall.EINVALIDNUMBER, "%q is not a possible phone number: more than 15 digits.", s).
					WithReason(reasonFor(international, defaultCountry)).WithHint(checkDigits)
			}
		case phonenumbers.IsValidNumber(n):
			return Number{E164: e164, Country: isoRegion(phonenumbers.GetRegionCodeForNumber(n))}, nil
		case phonenumbers.IsPossibleNumber(n) && IsFictional(e164):
			return Number{E164: e164, Country: phonenumbers.GetRegionCodeForCountryCode(int(n.GetCountryCode()))}, nil
		case !phonenumbers.IsPossibleNumber(n):
			if firstErr == nil {
				firstErr = maskcall.Errorf(maskcall.EINVALIDNUMBER, "%q is not a possible phone number (wrong length for its country).", s).
					WithReason(reasonFor(international, defaultCountry)).WithHint(checkDigits)
			}
		default:
			if firstErr == nil {
				firstErr = maskcall.Errorf(maskcall.EINVALIDNUMBER, "%q is not a valid phone number in %s.", s, orUnknown(phonenumbers.GetRegionCodeForCountryCode(int(n.GetCountryCode())))).
					WithReason(reasonFor(international, defaultCountry)).WithHint(checkDigits)
			}
		}
	}
	return Number{}, firstErr
}

// isoRegion returns region if it is an ISO alpha-2 code and "" for
// libphonenumber's "001" (non-geographic numbers: satellite, global
// freephone), which belong to no country.
func isoRegion(region string) string {
	if len(region) != 2 {
		return ""
	}
	return region
}

// FromMSISDN parses a number as Vonage sends it (digits, no '+'); a leading
// '+' (or several) is tolerated.
func FromMSISDN(msisdn string) (Number, error) {
	// Vonage's fields are tolerated as they come: repeated pluses too, unlike
	// what a person types into Parse.
	return Parse("+"+strings.TrimLeft(strings.TrimSpace(msisdn), "+"), "")
}

// IsFictional reports whether e164 lies in a range reserved for drama and
// testing that libphonenumber marks invalid but maskcall accepts, so the
// sandbox, the demo and documentation examples work: Ofcom's 07700 900000–
// 900999 mobile drama range.
func IsFictional(e164 string) bool {
	return len(e164) == 13 && strings.HasPrefix(e164, "+447700900")
}

// checkDigits is the advice for a number that is wrong whatever the form;
// for a national form without a country the edge adds its own (reason
// "national_form"), naming how its caller gives a country.
const checkDigits = "Check the digits; international form looks like +44 7700 900123."

func reasonFor(international bool, defaultCountry string) string {
	if !international && defaultCountry == "" {
		return "national_form"
	}
	return ""
}

func orUnknown(region string) string {
	if region == "" || region == "ZZ" {
		return "any country"
	}
	return region
}

// KnownCountry reports whether cc is an ISO alpha-2 region with a calling
// code, such as "GB".
func KnownCountry(cc string) bool {
	return len(cc) == 2 && phonenumbers.GetCountryCodeForRegion(cc) != 0
}

// Canonical returns the E.164 key ("+" and digits) of a number as Vonage
// sends it in webhooks (an MSISDN: digits with the country code, no '+'; a
// leading '+' is tolerated), checking only its syntax: 7 to 15 ASCII digits,
// the first not 0. It does no metadata lookup and does not allocate beyond
// the result, so it suits the answer webhook, whose numbers are only keys
// for an exact-match lookup of numbers stored in E.164 by Parse: a number
// that is not canonical there simply matches nothing.
//
// Unlike FromMSISDN it accepts numbers libphonenumber would call invalid
// (unassigned ranges) and it never strips a national prefix (FromMSISDN
// turns "4407700900123" into +447700900123; Canonical gives
// +4407700900123, which matches no stored number).
func Canonical(msisdn string) (string, bool) {
	d := msisdn
	if len(d) > 0 && d[0] == '+' {
		d = d[1:]
	}
	if len(d) < 7 || len(d) > 15 || d[0] == '0' {
		return "", false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return "", false
		}
	}
	if len(d) < len(msisdn) {
		return msisdn, true // already "+digits"
	}
	return "+" + d, true
}
