package vonage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	sdk_vonage "github.com/vonage/vonage-go-sdk"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// Numbers API (numbers.yml, server https://rest.nexmo.com): every operation
// authenticates with api_key and api_secret in the query string (the spec's
// security schemes are `in: query`, for the POSTs too); the POSTs carry their
// fields as an application/x-www-form-urlencoded body.

// numbersClient returns the SDK's Numbers client for one call. The SDK's
// generated client expects BasePath to be the server URL and appends
// "/number/search", "/number/update"... It sends api_key from the context
// it builds and relies on its vonage.APITransport to set api_secret in the
// query (the generated code fills api_secret with the key), so that
// transport stays in the chain, over ours.
func (c *Client) numbersClient(cl *call) *sdk_vonage.NumbersClient {
	nc := sdk_vonage.NewNumbersClient(sdk_vonage.CreateAuthFromKeySecret(c.apiKey, c.apiSecret))
	nc.Config.BasePath = c.restURL
	hc := *cl.hc
	hc.Transport = &sdk_vonage.APITransport{APISecret: c.apiSecret, Transport: cl.hc.Transport}
	nc.Config.HTTPClient = &hc
	return nc
}

// numbersReply is the body of every Numbers API reply that is not a listing,
// and of error replies to listings.
type numbersReply struct {
	ErrorCode      string `json:"error-code"`
	ErrorCodeLabel string `json:"error-code-label"`
}

// numbersResult checks a reply of the Numbers API: success is HTTP 200 with
// error-code "200" (or none, for listings); anything else is an error.
// refusedHint picks a hint for an error-code refusal from its label.
func (c *Client) numbersResult(cl *call, o op, ex *exchange, refusedHint func(label string) string) error {
	var r numbersReply
	parsed := json.Unmarshal(ex.body, &r) == nil
	if ex.status == http.StatusOK && parsed && (r.ErrorCode == "" || r.ErrorCode == "200") {
		return nil
	}
	ae := c.apiError(ex, r.ErrorCode, r.ErrorCodeLabel)
	switch {
	case ex.status == http.StatusUnauthorized:
		return c.rejected(o, ae, "")
	case r.ErrorCode == "401":
		return c.rejected(o, ae, "error-code")
	case ex.status >= 500 || ex.status == http.StatusTooManyRequests:
		return c.statusFailure(cl, o, ae, "error-code")
	case r.ErrorCode != "" && r.ErrorCode != "200":
		hint := ""
		if refusedHint != nil {
			hint = refusedHint(strings.ToLower(r.ErrorCodeLabel))
		}
		return c.refused(o, ae, "error-code", hint)
	}
	return c.statusFailure(cl, o, ae, "error-code")
}

// balanceHint is the hint for refusals that mention money.
func balanceHint(label string) string {
	if containsAny(label, "balance", "funds", "credit") {
		return "Top up the Vonage account, then try again."
	}
	return ""
}

// SearchNumbers lists numbers available to buy: GET /number/search with
// country, type, pattern, search_pattern, features and size in the query.
// It uses the SDK, which omits search_pattern when it is 0 ("starts"), the
// spec's default, so that is what Vonage applies.
func (c *Client) SearchNumbers(ctx context.Context, q maskcall.NumberSearch) ([]maskcall.AvailableNumber, error) {
	country, err := wireCountry(q.Country)
	if err != nil {
		return nil, err
	}
	opts := sdk_vonage.NumberSearchOpts{}
	if opts.Type, err = wireType(q.Type); err != nil {
		return nil, err
	}
	if opts.Features, err = wireFeatures(q.Features); err != nil {
		return nil, err
	}
	if q.Pattern != "" {
		opts.Pattern = strings.TrimPrefix(q.Pattern, "+")
		if !allDigits(opts.Pattern) {
			return nil, maskcall.Errorf(maskcall.EINVALID, "A number pattern must be digits (got %q).", q.Pattern)
		}
		sp, err := searchPattern(q.PatternPosition)
		if err != nil {
			return nil, err
		}
		opts.SearchPattern = sp
	}
	if q.Limit < 0 || q.Limit > 100 {
		return nil, maskcall.Errorf(maskcall.EINVALID, "A number search returns at most 100 numbers (asked for %d).", q.Limit)
	}
	opts.Size = int32(q.Limit)

	o := op{what: "search for numbers in " + country, unavailableHint: "Try again later."}
	var res sdk_vonage.NumberSearch
	err = c.retrying(ctx, o, c.restURL, func(cl *call, _ bool) error {
		sdkErr := sdk(func() (err error) {
			res, _, err = c.numbersClient(cl).Search(country, opts)
			return err
		})
		ex, err := c.reply(cl, o, sdkErr)
		if err != nil {
			return err
		}
		if err := c.numbersResult(cl, o, ex, nil); err != nil {
			return err
		}
		if sdkErr != nil {
			return c.statusFailure(cl, o, c.apiError(ex, "", ""), "")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]maskcall.AvailableNumber, 0, len(res.Numbers))
	for _, n := range res.Numbers {
		out = append(out, maskcall.AvailableNumber{
			Number:   e164(n.Msisdn),
			Country:  n.Country,
			Type:     domainType(n.Type),
			Features: n.Features,
			Cost:     n.Cost,
		})
	}
	return out, nil
}

// BuyNumber rents number: POST /number/buy, form country and msisdn.
//
// Made directly with net/http: the SDK's NumbersClient.Buy dereferences the
// *http.Response before checking the error, so it panics when no reply
// arrives (network error, timeout, cancellation), which is exactly when the
// caller most needs an honest EUNAVAILABLE.
func (c *Client) BuyNumber(ctx context.Context, country, number string) error {
	o := op{
		what:            "buy " + number,
		changes:         true,
		unavailableHint: "The purchase may or may not have happened; check the account's numbers before buying again.",
	}
	return c.numberAction(ctx, o, "/number/buy", country, number, func(label string) string {
		if h := balanceHint(label); h != "" {
			return h
		}
		if containsAny(label, "not available", "unavailable", "no longer", "not found", "method failed", "already") {
			return "The number may have been sold, or the account may own it already; search again for an available number."
		}
		return ""
	})
}

// CancelNumber ends the rental: POST /number/cancel, form country and msisdn.
// Made directly with net/http for the reason given at BuyNumber.
func (c *Client) CancelNumber(ctx context.Context, country, number string) error {
	o := op{what: "cancel " + number, changes: true, unavailableHint: "The cancellation may or may not have happened; check the account's numbers."}
	return c.numberAction(ctx, o, "/number/cancel", country, number, func(label string) string {
		if containsAny(label, "method failed", "not found", "not owned", "does not own") {
			return "Vonage says this when the account does not own the number; check the account's numbers."
		}
		return balanceHint(label)
	})
}

func (c *Client) numberAction(ctx context.Context, o op, path, country, number string, hint func(string) string) error {
	cc, err := wireCountry(country)
	if err != nil {
		return err
	}
	msisdn, err := wireNumber(number)
	if err != nil {
		return err
	}
	form := url.Values{"country": {cc}, "msisdn": {msisdn}}
	cl := c.begin(ctx, c.restURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.restURL+path+"?"+c.keySecretQuery().Encode(), strings.NewReader(form.Encode()))
	if err != nil {
		return c.fail(maskcall.EINTERNAL, "Could not build the request to "+o.what+".", "", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	ex, err := c.do(cl, o, req)
	if err != nil {
		return err
	}
	return c.numbersResult(cl, o, ex, hint)
}

func (c *Client) keySecretQuery() url.Values {
	return url.Values{"api_key": {c.apiKey}, "api_secret": {c.apiSecret}}
}

// LinkNumber points the number at application appID: POST /number/update,
// form country, msisdn and app_id. Per numbers.yml, app_id is "the
// Application that will handle inbound traffic to this number" (voice and
// SMS), voiceCallbackType=app is deprecated, and voiceCallbackValue is for a
// SIP URI or phone number; so only app_id is sent. Fields not sent are left
// as they are (moHttpUrl is removed only when sent empty), so nothing else is
// wiped. Uses the SDK.
func (c *Client) LinkNumber(ctx context.Context, country, number, appID string) error {
	cc, err := wireCountry(country)
	if err != nil {
		return err
	}
	msisdn, err := wireNumber(number)
	if err != nil {
		return err
	}
	if strings.TrimSpace(appID) == "" {
		return maskcall.Errorf(maskcall.EINVALID, "Linking %s needs an application id.", number).
			WithReason("application_id")
	}
	o := op{what: fmt.Sprintf("link %s to application %s", number, appID), unavailableHint: "Try again; linking a number twice is harmless."}
	// Setting app_id again is harmless, so the request is retried.
	return c.retrying(ctx, o, c.restURL, func(cl *call, _ bool) error {
		sdkErr := sdk(func() (err error) {
			// moHttpUrl too when configured: inbound texts go to serve.
			_, _, err = c.numbersClient(cl).Update(cc, msisdn, sdk_vonage.NumberUpdateOpts{AppID: appID, MoHTTPURL: c.inboundSMSURL})
			return err
		})
		ex, err := c.reply(cl, o, sdkErr)
		if err != nil {
			return err
		}
		err = c.numbersResult(cl, o, ex, nil)
		var e *maskcall.Error
		var ae *APIError
		if errors.As(err, &e) && e.Code == maskcall.EUPSTREAM && errors.As(err, &ae) &&
			containsAny(strings.ToLower(ae.Text), "application", "app_id", "app id") {
			// The edge says which setting names the application.
			return e.WithReason("foreign_application")
		}
		return err
	})
}

// ownedPageSize is the largest page the spec allows.
const ownedPageSize = 100

// ownedReply is the body of GET /account/numbers.
type ownedReply struct {
	Count   int `json:"count"`
	Numbers []struct {
		Country               string   `json:"country"`
		Msisdn                string   `json:"msisdn"`
		Type                  string   `json:"type"`
		Features              []string `json:"features"`
		AppID                 string   `json:"app_id"` // sent by Vonage, though numbers.yml omits it
		VoiceCallbackType     string   `json:"voiceCallbackType"`
		VoiceCallbackValue    string   `json:"voiceCallbackValue"`
		MessagesCallbackType  string   `json:"messagesCallbackType"`
		MessagesCallbackValue string   `json:"messagesCallbackValue"`
		MoHTTPURL             string   `json:"moHttpUrl"`
	} `json:"numbers"`
}

// OwnedNumbers lists every number the account rents: GET /account/numbers
// with country, pattern and search_pattern=1 (contains), size=100 and index
// 1, 2, ... until count numbers have arrived or a page comes back short.
// Each page is retried on its own.
//
// Made directly with net/http: the SDK's NumbersClient.List type-asserts
// every error to the generated client's error type, so it panics when no
// reply arrives.
func (c *Client) OwnedNumbers(ctx context.Context, filter maskcall.OwnedNumbersFilter) ([]maskcall.OwnedNumber, error) {
	q := c.keySecretQuery()
	if filter.Country != "" {
		cc, err := wireCountry(filter.Country)
		if err != nil {
			return nil, err
		}
		q.Set("country", cc)
	}
	if filter.Pattern != "" {
		p := strings.TrimPrefix(filter.Pattern, "+")
		if !allDigits(p) {
			return nil, maskcall.Errorf(maskcall.EINVALID, "A number pattern must be digits (got %q).", filter.Pattern)
		}
		q.Set("pattern", p)
		q.Set("search_pattern", "1")
	}
	q.Set("size", strconv.Itoa(ownedPageSize))

	o := op{what: "list the account's numbers", unavailableHint: "Try again later."}
	var out []maskcall.OwnedNumber
	seen := map[string]bool{}
	for index := 1; ; index++ {
		q.Set("index", strconv.Itoa(index))
		var ex *exchange
		err := c.retrying(ctx, o, c.restURL, func(cl *call, _ bool) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.restURL+"/account/numbers?"+q.Encode(), nil)
			if err != nil {
				return c.fail(maskcall.EINTERNAL, "Could not build the request to "+o.what+".", "", err)
			}
			req.Header.Set("Accept", "application/json")
			if ex, err = c.do(cl, o, req); err != nil {
				return err
			}
			return c.numbersResult(cl, o, ex, nil)
		})
		if err != nil {
			return nil, err
		}
		var page ownedReply
		if err := json.Unmarshal(ex.body, &page); err != nil {
			return nil, c.fail(maskcall.EUPSTREAM, fmt.Sprintf("Vonage sent an unexpected reply to %s (%s).", o.what, c.apiError(ex, "", "").details("")), "", err)
		}
		added := 0
		for _, n := range page.Numbers {
			if seen[n.Msisdn] {
				continue // the listing moved under us between pages
			}
			added++
			seen[n.Msisdn] = true
			appID := n.AppID
			if appID == "" && n.VoiceCallbackType == "app" {
				appID = n.VoiceCallbackValue
			}
			out = append(out, maskcall.OwnedNumber{
				Number:   e164(n.Msisdn),
				Country:  n.Country,
				Type:     domainType(n.Type),
				Features: n.Features,
				AppID:    appID,

				InboundSMSURL: n.MoHTTPURL,
			})
		}
		if len(page.Numbers) < ownedPageSize || len(out) >= page.Count {
			return out, nil
		}
		if added == 0 {
			// A full page of numbers already seen: paging is not advancing,
			// and asking again would never end.
			ae := c.apiError(ex, "", "")
			return nil, c.fail(maskcall.EUPSTREAM, fmt.Sprintf("Vonage sent page %d of the account's numbers again instead of the next one (%s).", index-1, ae.details("")), "", ae)
		}
	}
}
