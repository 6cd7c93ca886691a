package vonage

import (
	"sort"
	"strings"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// Conversions between maskcall's values and Vonage's wire forms.

// wireNumber turns an E.164 number ("+447700900123") into the MSISDN Vonage
// expects ("447700900123"). A missing '+' is tolerated.
func wireNumber(number string) (string, error) {
	msisdn := strings.TrimPrefix(number, "+")
	if len(msisdn) < 2 || len(msisdn) > 15 || !allDigits(msisdn) {
		return "", maskcall.Errorf(maskcall.EINVALID, "%s is not a phone number in E.164 format, such as +447700900123.", maskcall.MaskNumber(number))
	}
	return msisdn, nil
}

// e164 turns an MSISDN from Vonage into E.164 with '+'.
func e164(msisdn string) string {
	msisdn = strings.TrimPrefix(msisdn, "+")
	if msisdn == "" {
		return ""
	}
	return "+" + msisdn
}

// wireCountry checks an ISO 3166-1 alpha-2 code and upper-cases it, as the
// APIs require.
func wireCountry(country string) (string, error) {
	cc := strings.ToUpper(strings.TrimSpace(country))
	if len(cc) != 2 || cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z' {
		return "", maskcall.Errorf(maskcall.EINVALID, "%q is not a two-letter country code, such as GB.", country)
	}
	return cc, nil
}

// maskcall calls toll-free numbers "toll-free"; numbers.yml's enum calls
// them "landline-toll-free".
const (
	domainTollFree = "toll-free"
	wireTollFree   = "landline-toll-free"
)

// wireType maps maskcall's number type to the type query parameter.
func wireType(t string) (string, error) {
	switch strings.ToLower(t) {
	case "":
		return "", nil
	case "landline", "mobile-lvn":
		return strings.ToLower(t), nil
	case domainTollFree, wireTollFree:
		return wireTollFree, nil
	}
	return "", maskcall.Errorf(maskcall.EINVALID, "%q is not a number type; use landline, mobile-lvn or toll-free.", t)
}

// domainType maps a type Vonage reports to maskcall's name for it.
func domainType(t string) string {
	if t == wireTollFree {
		return domainTollFree
	}
	return t
}

// featureValues are the values numbers.yml allows for the features
// parameter, keyed by the sorted feature set. The spec's enum fixes each
// combination's order (note "SMS,MMS,VOICE" but "VOICE,MMS"), so a request
// must use exactly these strings.
var featureValues = map[string]string{
	"SMS":           "SMS",
	"VOICE":         "VOICE",
	"MMS":           "MMS",
	"SMS,VOICE":     "SMS,VOICE",
	"MMS,SMS":       "SMS,MMS",
	"MMS,VOICE":     "VOICE,MMS",
	"MMS,SMS,VOICE": "SMS,MMS,VOICE",
}

// wireFeatures turns a feature list into the features parameter.
func wireFeatures(features []string) (string, error) {
	set := map[string]bool{}
	for _, f := range features {
		f = strings.ToUpper(strings.TrimSpace(f))
		if f != "" {
			set[f] = true
		}
	}
	if len(set) == 0 {
		return "", nil
	}
	keys := make([]string, 0, len(set))
	for f := range set {
		keys = append(keys, f)
	}
	sort.Strings(keys)
	v, ok := featureValues[strings.Join(keys, ",")]
	if !ok {
		return "", maskcall.Errorf(maskcall.EINVALID, "Unknown number features %q; use VOICE, SMS and MMS.", strings.Join(features, ","))
	}
	return v, nil
}

// searchPattern maps a pattern position to search_pattern. An empty
// position means "contains", as NumberSearch.Pattern is documented as digits
// the number must contain.
func searchPattern(position string) (int32, error) {
	switch strings.ToLower(position) {
	case "starts":
		return 0, nil
	case "contains", "":
		return 1, nil
	case "ends":
		return 2, nil
	}
	return 0, maskcall.Errorf(maskcall.EINVALID, "%q is not a pattern position; use starts, contains or ends.", position)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
