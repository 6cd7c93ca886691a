package sandbox

import (
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Number Insight status codes (number-insight.yml niBasicStatus).
const (
	niSuccess            = 0
	niInvalid            = 3
	niInvalidCredentials = 4
	niInternalError      = 5
)

var niStatusMessages = map[int]string{
	0: "Success",
	1: "Busy",
	3: "Invalid request",
	4: "Invalid credentials",
	5: "Internal Error",
	9: "Partner quota exceeded",
}

// insightBasic is the reply of a successful basic lookup.
type insightBasic struct {
	Status                    int    `json:"status"`
	StatusMessage             string `json:"status_message"`
	RequestID                 string `json:"request_id"`
	InternationalFormatNumber string `json:"international_format_number"`
	NationalFormatNumber      string `json:"national_format_number"`
	CountryCode               string `json:"country_code"`
	CountryCodeISO3           string `json:"country_code_iso3"`
	CountryName               string `json:"country_name"`
	CountryPrefix             string `json:"country_prefix"`
}

// insightError is the reply of a failed lookup.
type insightError struct {
	Status        int    `json:"status"`
	StatusMessage string `json:"status_message"`
}

// insightFail writes a failed lookup. Number Insight replies HTTP 200 with a
// non-zero status, bad credentials included.
func insightFail(w http.ResponseWriter, status int, detail string) {
	msg := niStatusMessages[status]
	if detail != "" {
		msg += " :: " + detail
	}
	writeJSON(w, http.StatusOK, insightError{status, msg})
}

// handleInsightBasic serves GET /ni/basic/json. All parameters are in the
// query string; the credentials too, unless they come as HTTP Basic.
func (s *Sandbox) handleInsightBasic(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if present, ok := s.basicCreds(r); present {
		if !ok {
			basicUnauthorized(w)
			return
		}
	} else if !s.validKeySecret(q.Get("api_key"), q.Get("api_secret")) {
		insightFail(w, niInvalidCredentials, "")
		return
	}
	if q.Get("number") == "" {
		insightFail(w, niInvalid, "Missing parameter number")
		return
	}
	info, err := lookupNumber(q.Get("number"), q.Get("country"))
	if err != nil {
		insightFail(w, niInvalid, err.Error())
		return
	}
	info.Status, info.StatusMessage, info.RequestID = niSuccess, niStatusMessages[niSuccess], newUUID()
	writeJSON(w, http.StatusOK, info)
}

var (
	niNumberRE  = regexp.MustCompile(`^[0-9\-+()\s]*$`)
	niCountryRE = regexp.MustCompile(`^[A-Z]{2}$`)
)

// lookupNumber works out the formats and country of number, given in
// national or international format; country is needed for national ones.
func lookupNumber(number, country string) (insightBasic, error) {
	invalid := errors.New("Not valid number format detected [ " + number + " ]")
	if !niNumberRE.MatchString(number) {
		return insightBasic{}, invalid
	}
	if country != "" && !niCountryRE.MatchString(country) {
		return insightBasic{}, errors.New("Invalid parameter country [ " + country + " ]")
	}
	raw := number
	if country == "" {
		raw = "+" + strings.TrimLeft(strings.TrimSpace(number), "+")
	}
	pn, err := phonenumbers.Parse(raw, country)
	if err != nil || !phonenumbers.IsPossibleNumber(pn) {
		return insightBasic{}, invalid
	}
	cc := int(pn.GetCountryCode())
	region := country
	if region == "" {
		if region = phonenumbers.GetRegionCodeForNumber(pn); region == "" {
			region = phonenumbers.GetRegionCodeForCountryCode(cc)
		}
	} else if !slices.Contains(phonenumbers.GetRegionCodesForCountryCode(cc), region) {
		return insightBasic{}, errors.New("Number [ " + number + " ] does not belong to country " + country)
	}
	c, ok := countries[region]
	if !ok {
		return insightBasic{}, errors.New("Country " + region + " is not supported by the sandbox")
	}
	return insightBasic{
		InternationalFormatNumber: strings.TrimPrefix(phonenumbers.Format(pn, phonenumbers.E164), "+"),
		NationalFormatNumber:      phonenumbers.Format(pn, phonenumbers.NATIONAL),
		CountryCode:               region,
		CountryCodeISO3:           c.iso3,
		CountryName:               c.name,
		CountryPrefix:             strconv.Itoa(cc),
	}, nil
}

// countries known to Number Insight in the sandbox.
var countries = map[string]struct{ iso3, name string }{
	"AE": {"ARE", "United Arab Emirates"},
	"AR": {"ARG", "Argentina"},
	"AT": {"AUT", "Austria"},
	"AU": {"AUS", "Australia"},
	"BE": {"BEL", "Belgium"},
	"BR": {"BRA", "Brazil"},
	"CA": {"CAN", "Canada"},
	"CH": {"CHE", "Switzerland"},
	"CL": {"CHL", "Chile"},
	"CN": {"CHN", "China"},
	"CO": {"COL", "Colombia"},
	"CZ": {"CZE", "Czech Republic"},
	"DE": {"DEU", "Germany"},
	"DK": {"DNK", "Denmark"},
	"EG": {"EGY", "Egypt"},
	"ES": {"ESP", "Spain"},
	"FI": {"FIN", "Finland"},
	"FR": {"FRA", "France"},
	"GB": {"GBR", "United Kingdom"},
	"GR": {"GRC", "Greece"},
	"HK": {"HKG", "Hong Kong"},
	"HU": {"HUN", "Hungary"},
	"ID": {"IDN", "Indonesia"},
	"IE": {"IRL", "Ireland"},
	"IL": {"ISR", "Israel"},
	"IN": {"IND", "India"},
	"IT": {"ITA", "Italy"},
	"JP": {"JPN", "Japan"},
	"KE": {"KEN", "Kenya"},
	"KR": {"KOR", "South Korea"},
	"MX": {"MEX", "Mexico"},
	"MY": {"MYS", "Malaysia"},
	"NG": {"NGA", "Nigeria"},
	"NL": {"NLD", "Netherlands"},
	"NO": {"NOR", "Norway"},
	"NZ": {"NZL", "New Zealand"},
	"PH": {"PHL", "Philippines"},
	"PL": {"POL", "Poland"},
	"PT": {"PRT", "Portugal"},
	"RO": {"ROU", "Romania"},
	"SE": {"SWE", "Sweden"},
	"SG": {"SGP", "Singapore"},
	"TH": {"THA", "Thailand"},
	"TR": {"TUR", "Turkey"},
	"UA": {"UKR", "Ukraine"},
	"US": {"USA", "United States of America"},
	"VN": {"VNM", "Viet Nam"},
	"ZA": {"ZAF", "South Africa"},
}
