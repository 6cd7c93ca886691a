package sandbox

import (
	"bytes"
	"cmp"
	"encoding/json"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// Identity Insights (POST /v0.1/identity-insights), the API that replaces
// Number Insight: Vonage's transition guide maps Number Insight basic to its
// format insight. There is no OpenAPI file for it beside the others; the
// shapes follow the facts in vonage-spec/README.md: a JSON body
// {"phone_number":"447700900000","insights":{"format":{}}}, a bearer JWT
// signed with the application's private key (checked as for the Voice API),
// and a reply with a status per insight.

// IdentityInsightsPath is the Identity Insights endpoint.
const IdentityInsightsPath = "/v0.1/identity-insights"

// Identity Insights status codes of one insight.
const (
	IIOK                  = "OK"
	IIPartialSuccess      = "PARTIAL_SUCCESS"
	IIInvalidNumberFormat = "INVALID_NUMBER_FORMAT"
	IINoCoverage          = "NO_COVERAGE"
	IINotFound            = "NOT_FOUND"
	IIUnauthorized        = "UNAUTHORIZED"
	IIInvalidPurpose      = "INVALID_PURPOSE"
	IISupplierError       = "SUPPLIER_ERROR"
	IIInternalError       = "INTERNAL_ERROR"
)

// iiStatusMessages are the messages that go with each status code.
var iiStatusMessages = map[string]string{
	IIOK:                  "Success",
	IIPartialSuccess:      "Unable to retrieve data for some fields.",
	IIInvalidNumberFormat: "The phone number format is not valid for assignment by carriers to users.",
	IINoCoverage:          "The country or mobile network is not supported by available suppliers.",
	IINotFound:            "The phone number could not be found for this Insight.",
	IIUnauthorized:        "The request could not be authorized for the combination of application, supplier, and phone number.",
	IIInvalidPurpose:      "The purpose used is not valid or allowed for this Insight.",
	IISupplierError:       "The supplier returned an error while processing the request.",
	IIInternalError:       "An internal error occurred while processing the request.",
}

// iiInsights are the insights Identity Insights knows; the sandbox computes
// only format and answers the others NO_COVERAGE.
var iiInsights = []string{"format", "sim_swap", "original_carrier", "current_carrier", "subscriber_match", "location_verification"}

// iiStatus is the status of one insight.
type iiStatus struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func newIIStatus(code string) iiStatus { return iiStatus{code, iiStatusMessages[code]} }

// FormatInsight is the format insight of an Identity Insights reply.
type FormatInsight struct {
	CountryCode         string   `json:"country_code,omitempty"`
	CountryName         string   `json:"country_name,omitempty"`
	CountryPrefix       string   `json:"country_prefix,omitempty"`
	OfflineLocation     string   `json:"offline_location,omitempty"`
	TimeZones           []string `json:"time_zones,omitempty"`
	NumberInternational string   `json:"number_international,omitempty"`
	NumberNational      string   `json:"number_national,omitempty"`
	IsFormatValid       bool     `json:"is_format_valid"`
	Status              iiStatus `json:"status"`
}

// identityReply is an Identity Insights reply.
type identityReply struct {
	RequestID string         `json:"request_id"`
	Insights  map[string]any `json:"insights"`
}

// handleIdentityInsights serves POST /v0.1/identity-insights.
func (s *Sandbox) handleIdentityInsights(w http.ResponseWriter, r *http.Request) {
	if _, err := s.verifyBearer(r); err != nil {
		writeProblem(w, http.StatusUnauthorized, problemType(http.StatusUnauthorized),
			"Invalid credentials supplied", "You did not provide correct credentials: a JWT signed with the application's private key.")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		writeProblem(w, http.StatusUnsupportedMediaType, problemType(http.StatusUnsupportedMediaType),
			"Unsupported Media Type", "The request body must be application/json.")
		return
	}
	var req struct {
		PhoneNumber *string                    `json:"phone_number"`
		Purpose     string                     `json:"purpose"`
		Insights    map[string]json.RawMessage `json:"insights"`
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&req); err != nil {
		voiceBadRequest(w, "The request body is not valid JSON: "+err.Error())
		return
	}
	switch {
	case req.PhoneNumber == nil || strings.TrimSpace(*req.PhoneNumber) == "":
		voiceBadRequest(w, "phone_number is required.")
		return
	case len(req.Insights) == 0:
		voiceBadRequest(w, "insights must request at least one insight.")
		return
	}
	for name, raw := range req.Insights {
		if !slices.Contains(iiInsights, name) {
			voiceBadRequest(w, "Unknown insight "+strconv.Quote(name)+".")
			return
		}
		if name == "format" && !bytes.Equal(bytes.Join(bytes.Fields(raw), nil), []byte("{}")) {
			voiceBadRequest(w, "insights.format must be an empty object {}.")
			return
		}
	}
	reply := identityReply{RequestID: newUUID(), Insights: map[string]any{}}
	for name := range req.Insights {
		if name == "format" {
			reply.Insights[name] = formatNumber(*req.PhoneNumber)
			continue
		}
		reply.Insights[name] = map[string]iiStatus{"status": {IINoCoverage, "The sandbox serves only the format insight."}}
	}
	writeJSON(w, http.StatusOK, reply)
}

// formatNumber is the format insight of input. Like Vonage it extracts the
// number from input with other characters in it; a leading '+' is allowed,
// "00" is not.
func formatNumber(input string) FormatInsight {
	invalid := FormatInsight{Status: newIIStatus(IIInvalidNumberFormat)}
	s := strings.TrimSpace(input)
	if strings.HasPrefix(s, "00") {
		return invalid
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
	if len(digits) < 2 || len(digits) > 15 {
		return invalid
	}
	pn, err := phonenumbers.Parse("+"+digits, "ZZ")
	if err != nil || !phonenumbers.IsPossibleNumber(pn) {
		return invalid
	}
	cc := int(pn.GetCountryCode())
	e164 := phonenumbers.Format(pn, phonenumbers.E164)
	region := phonenumbers.GetRegionCodeForNumber(pn)
	if region == "" {
		region = phonenumbers.GetRegionCodeForCountryCode(cc)
	}
	f := FormatInsight{
		CountryPrefix:       strconv.Itoa(cc),
		NumberInternational: e164,
		NumberNational:      phonenumbers.Format(pn, phonenumbers.NATIONAL),
		// Ofcom's drama range is not assigned to anyone, but the sandbox's
		// own numbers are in it, and so are the examples.
		IsFormatValid: phonenumbers.IsValidNumber(pn) || (len(e164) == 13 && strings.HasPrefix(e164, "+447700900")),
		Status:        newIIStatus(IIOK),
	}
	if len(region) == 2 && region != "ZZ" {
		f.CountryCode = region
	}
	if c, ok := countries[region]; ok {
		f.CountryName = c.name
	}
	if loc, err := phonenumbers.GetGeocodingForNumber(pn, "en"); err == nil {
		f.OfflineLocation = loc
	}
	if tz, err := phonenumbers.GetTimezonesForNumber(pn); err == nil {
		f.TimeZones = slices.DeleteFunc(tz, func(z string) bool { return z == "Etc/Unknown" })
	}
	if f.CountryCode == "" || f.CountryName == "" {
		f.Status = newIIStatus(IIPartialSuccess)
	}
	return f
}

// writeIdentityFault writes an Identity Insights reply whose format insight
// failed with code (an Identity Insights status code), HTTP status or 200.
func writeIdentityFault(w http.ResponseWriter, status int, code, label string) {
	if label == "" {
		label = iiStatusMessages[code]
	}
	writeJSON(w, cmp.Or(status, http.StatusOK), identityReply{RequestID: newUUID(), Insights: map[string]any{
		"format": FormatInsight{Status: iiStatus{code, label}},
	}})
}
