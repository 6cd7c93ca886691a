package vonage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// DefaultIdentityInsightsURL is the Identity Insights API's EU host; Vonage
// has regional hosts (Config.IdentityInsightsURL picks one).
const DefaultIdentityInsightsURL = "https://api-eu.vonage.com"

// identityInsightsPath is the one Identity Insights endpoint.
const identityInsightsPath = "/v0.1/identity-insights"

// Identity Insights status codes of one insight (status.code in the reply).
const (
	iiOK                  = "OK"
	iiPartialSuccess      = "PARTIAL_SUCCESS"
	iiInvalidNumberFormat = "INVALID_NUMBER_FORMAT"
	iiNoCoverage          = "NO_COVERAGE"
	iiNotFound            = "NOT_FOUND"
	iiUnauthorized        = "UNAUTHORIZED"
	iiSupplierError       = "SUPPLIER_ERROR"
	iiInternalError       = "INTERNAL_ERROR"
)

// identityRequest is the body of an Identity Insights request asking for the
// format insight only (it needs no purpose and no approval).
type identityRequest struct {
	PhoneNumber string `json:"phone_number"`
	Insights    struct {
		Format struct{} `json:"format"`
	} `json:"insights"`
}

// formatInsight is the format insight of a reply.
type formatInsight struct {
	CountryCode         string `json:"country_code"`
	CountryName         string `json:"country_name"`
	CountryPrefix       string `json:"country_prefix"`
	NumberInternational string `json:"number_international"`
	NumberNational      string `json:"number_national"`
	IsFormatValid       *bool  `json:"is_format_valid"`
	Status              struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"status"`
}

type identityReply struct {
	RequestID string `json:"request_id"`
	Insights  struct {
		Format *formatInsight `json:"format"`
	} `json:"insights"`
}

// CheckNumber checks number with the insight kind asks for: Identity
// Insights' format insight (FormatInsight) or Number Insight basic
// (BasicInsight).
func (c *Client) CheckNumber(ctx context.Context, number string, kind maskcall.InsightKind) (*maskcall.Insight, error) {
	switch kind {
	case maskcall.InsightFormat:
		return c.FormatInsight(ctx, number)
	case maskcall.InsightBasic:
		return c.BasicInsight(ctx, number)
	}
	return nil, maskcall.Errorf(maskcall.EINTERNAL, "Unknown insight %q.", kind)
}

// FormatInsight checks number with the Identity Insights format insight:
// POST {IdentityInsightsURL}/v0.1/identity-insights with the JSON body
// {"phone_number":"447700900000","insights":{"format":{}}} and
// Authorization: Bearer <JWT> signed with the application's private key,
// made as for the Voice API.
//
// The reply is HTTP 200 with a status per insight. is_format_valid false or
// INVALID_NUMBER_FORMAT gives EINVALIDNUMBER; UNAUTHORIZED (or HTTP 401/403)
// EVONAGEAUTH; NO_COVERAGE, NOT_FOUND and unknown codes EUPSTREAM.
// SUPPLIER_ERROR and INTERNAL_ERROR are transient: the request only reads,
// so it is retried like HTTP 429, a 5xx or no reply, and gives EUPSTREAM
// (EUNAVAILABLE for no reply) when the retries run out.
func (c *Client) FormatInsight(ctx context.Context, number string) (*maskcall.Insight, error) {
	msisdn, err := wireNumber(number)
	if err != nil {
		return nil, err
	}
	token, err := c.appToken("Checking numbers with Identity Insights")
	if err != nil {
		return nil, err
	}
	masked := maskcall.MaskNumber(number)
	o := op{what: "check " + masked, auth: authAppJWT, unavailableHint: "Try again later."}
	var body identityRequest
	body.PhoneNumber = msisdn
	payload, _ := json.Marshal(body)

	var res identityReply
	var ex *exchange
	err = c.retrying(ctx, o, c.iiURL, func(cl *call, _ bool) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.iiURL+identityInsightsPath, bytes.NewReader(payload))
		if err != nil {
			return c.fail(maskcall.EINTERNAL, "Could not build the request to "+o.what+".", "", err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		if ex, err = c.do(cl, o, req); err != nil {
			return err
		}
		if ex.status != http.StatusOK {
			// Errors come in the common problem shape: type, title,
			// detail, instance.
			var p struct {
				Title  string `json:"title"`
				Detail string `json:"detail"`
			}
			_ = json.Unmarshal(ex.body, &p)
			return c.statusFailure(cl, o, c.apiError(ex, "", maskDigits(joinText(p.Title, p.Detail), msisdn)), "")
		}
		res = identityReply{}
		if err := json.Unmarshal(ex.body, &res); err != nil || res.Insights.Format == nil {
			ae := c.apiError(ex, "", "")
			return c.fail(maskcall.EUPSTREAM, fmt.Sprintf("Vonage sent an unexpected reply to %s (%s).", o.what, ae.details("")), "", ae)
		}
		switch st := res.Insights.Format.Status; st.Code {
		case iiSupplierError, iiInternalError:
			ex.transient = true
			ae := c.apiError(ex, st.Code, maskDigits(st.Message, msisdn))
			return c.fail(maskcall.EUPSTREAM, fmt.Sprintf("Vonage could not %s: %s (%s).", o.what,
				orDefault(strings.TrimRight(ae.Text, "."), "no reason given"), ae.details("status")), "Try again later.", ae)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	f := res.Insights.Format
	ae := c.apiError(ex, f.Status.Code, maskDigits(f.Status.Message, msisdn))
	switch f.Status.Code {
	case iiOK, iiPartialSuccess:
		if f.IsFormatValid != nil && !*f.IsFormatValid {
			return nil, c.fail(maskcall.EINVALIDNUMBER,
				fmt.Sprintf("Vonage says %s is not a valid number (is_format_valid false, %s).", masked, ae.details("status")),
				"Check the digits with the participant.", ae)
		}
		if f.IsFormatValid == nil && f.Status.Code == iiOK {
			return nil, c.fail(maskcall.EUPSTREAM, fmt.Sprintf("Vonage sent an incomplete reply to %s: no is_format_valid (%s).", o.what, ae.details("status")), "", ae)
		}
	case iiInvalidNumberFormat:
		return nil, c.fail(maskcall.EINVALIDNUMBER,
			fmt.Sprintf("Vonage says %s is not a valid number: %s (%s).", masked, orDefault(strings.TrimRight(ae.Text, "."), "invalid format"), ae.details("status")),
			"Check the digits with the participant.", ae)
	case iiUnauthorized:
		return nil, c.fail(maskcall.EVONAGEAUTH,
			fmt.Sprintf("Vonage did not authorize the application to %s: %s (%s).", o.what, orDefault(strings.TrimRight(ae.Text, "."), "unauthorized"), ae.details("status")),
			"Check that Identity Insights is enabled for the application in the Vonage dashboard.", ae)
	case iiNoCoverage:
		return nil, c.refused(o, ae, "status", "Vonage cannot check numbers of this country.")
	case iiNotFound:
		return nil, c.refused(o, ae, "status", "Check the number.")
	default: // codes newer than this client
		return nil, c.refused(o, ae, "status", "")
	}
	ins := &maskcall.Insight{Number: e164(strings.TrimPrefix(f.NumberInternational, "+")), Country: strings.ToUpper(f.CountryCode)}
	if ins.Number == "" {
		ins.Number = e164(msisdn)
	}
	if ins.Country != "" {
		if _, err := wireCountry(ins.Country); err != nil {
			return nil, c.fail(maskcall.EUPSTREAM, fmt.Sprintf("Vonage sent an unexpected country code %q for %s (%s).", f.CountryCode, masked, ae.details("status")), "", ae)
		}
	}
	return ins, nil
}

// maskDigits hides the participant's number wherever Vonage's text repeats
// it: it is never shown in full.
func maskDigits(text, msisdn string) string {
	return strings.ReplaceAll(text, msisdn, maskcall.MaskNumber(msisdn))
}
