package vonage

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	sdk_vonage "github.com/vonage/vonage-go-sdk"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// BasicInsight checks number with Number Insight basic: GET
// {APIURL}/ni/basic/json?number=...&api_key=...&api_secret=... (the spec's
// server is https://api.nexmo.com/ni; the SDK's generated client takes that
// as BasePath and appends /basic/{format}). Uses the SDK.
//
// Status 3 (invalid number) gives EINVALIDNUMBER, 4 (bad credentials)
// EVONAGEAUTH, any other non-zero status EUPSTREAM.
func (c *Client) BasicInsight(ctx context.Context, number string) (*maskcall.Insight, error) {
	// The spec allows digits, '+', '-', '(', ')' and spaces; send bare digits.
	msisdn, err := wireNumber(strings.Map(func(r rune) rune {
		if strings.ContainsRune(" -()", r) {
			return -1
		}
		return r
	}, number))
	if err != nil {
		return nil, err
	}
	// A participant's real number: never in full in a message.
	o := op{what: "look up " + maskcall.MaskNumber(number), unavailableHint: "Try again later."}
	var res sdk_vonage.NiResponseJsonBasic
	var ex *exchange
	err = c.retrying(ctx, o, c.apiURL, func(cl *call, _ bool) error {
		sdkErr := sdk(func() (err error) {
			nc := sdk_vonage.NewNumberInsightClient(sdk_vonage.CreateAuthFromKeySecret(c.apiKey, c.apiSecret))
			nc.Config.BasePath = c.apiURL + "/ni"
			nc.Config.HTTPClient = cl.hc
			res, _, err = nc.Basic(msisdn, sdk_vonage.NiOpts{})
			return err
		})
		var err error
		if ex, err = c.reply(cl, o, sdkErr); err != nil || sdkErr == nil {
			return err
		}
		// An HTTP error (the SDK keeps only the status line), or a body the
		// SDK could not decode. Vonage may have said why, in Number
		// Insight's shape or the common one.
		var r struct {
			Status        json.RawMessage `json:"status"`
			StatusMessage string          `json:"status_message"`
			Title         string          `json:"title"`
			Detail        string          `json:"detail"`
		}
		_ = json.Unmarshal(ex.body, &r)
		ae := c.apiError(ex, strings.Trim(string(r.Status), `"`), joinText(r.StatusMessage, r.Title, r.Detail))
		if ex.status < 300 {
			return c.fail(maskcall.EUPSTREAM, fmt.Sprintf("Vonage sent an unexpected reply to %s (%s).", o.what, ae.details("")), "", ae)
		}
		return c.statusFailure(cl, o, ae, "status")
	})
	if err != nil {
		return nil, err
	}
	if res.Status != 0 {
		ae := c.apiError(ex, strconv.Itoa(int(res.Status)), res.StatusMessage)
		switch res.Status {
		case 3:
			return nil, c.fail(maskcall.EINVALIDNUMBER,
				fmt.Sprintf("Vonage says %s is not a valid number: %s (%s).", maskcall.MaskNumber(number),
					orDefault(strings.TrimRight(strings.ReplaceAll(ae.Text, msisdn, maskcall.MaskNumber(msisdn)), "."), "invalid"), ae.details("status")),
				"Give the number in E.164 format, such as +447700900123.", ae)
		case 4:
			return nil, c.rejected(o, ae, "status")
		case 1:
			return nil, c.refused(o, ae, "status", "Vonage is throttling this account; wait a moment and try again.")
		case 9:
			return nil, c.refused(o, ae, "status", "Top up the Vonage account, then try again.")
		}
		return nil, c.refused(o, ae, "status", "")
	}
	if res.InternationalFormatNumber == "" || res.CountryCode == "" {
		ae := c.apiError(ex, "0", res.StatusMessage)
		return nil, c.fail(maskcall.EUPSTREAM, fmt.Sprintf("Vonage sent an incomplete reply to %s (%s).", o.what, ae.details("")), "", ae)
	}
	return &maskcall.Insight{
		Number:  e164(res.InternationalFormatNumber),
		Country: strings.ToUpper(res.CountryCode),
	}, nil
}
