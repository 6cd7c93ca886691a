package vonage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// smsReply is the body of POST /sms/json (sms.yml: SMS or Error).
type smsReply struct {
	MessageCount string `json:"message-count"`
	Messages     []struct {
		To        string `json:"to"`
		MessageID string `json:"message-id"`
		Status    string `json:"status"`
		ErrorText string `json:"error-text"`
	} `json:"messages"`
}

// SendSMS sends text from a pool number to a real number: POST
// {RestURL}/sms/json (sms.yml's server is https://rest.nexmo.com/sms, path
// /{format}) with an application/x-www-form-urlencoded body holding api_key,
// api_secret, from, to, text and, when the text is not GSM 03.38,
// type=unicode. It returns the first message's id (a long text is split into
// several messages, each with an id).
//
// Made directly with net/http: the SDK's SMSClient.Send indexes
// Messages[0] without checking (it panics on a reply without messages),
// judges only the first message of a multi-part text, and rejects any api_key
// that is not exactly 8 characters before sending anything.
//
// A failure wraps maskcall.ErrNotSent when the text was certainly not
// sent: refused before any request, no connection made, an HTTP 4xx
// (429 included) or a non-zero status for every part. Any other failure (no
// complete reply after the request went out, an HTTP 5xx, about which the
// SMS API says nothing, an unreadable reply, some parts sent and others
// not) may have texted the recipient, and must not be repeated.
func (c *Client) SendSMS(ctx context.Context, from, to, text string) (string, error) {
	fromWire, err := wireNumber(from)
	if err != nil {
		return "", notSent(err)
	}
	toWire, err := wireNumber(to)
	if err != nil {
		return "", notSent(err)
	}
	if len(toWire) < 7 {
		return "", notSent(maskcall.Errorf(maskcall.EINVALID, "%s is too short to receive an SMS.", maskcall.MaskNumber(to)))
	}
	if text == "" {
		return "", notSent(maskcall.Errorf(maskcall.EINVALID, "An SMS needs some text."))
	}
	form := url.Values{
		"api_key":    {c.apiKey},
		"api_secret": {c.apiSecret},
		"from":       {fromWire},
		"to":         {toWire},
		"text":       {text},
	}
	if !isGSM(text) {
		form.Set("type", "unicode")
	}
	// The recipient is a participant's real number: it stays out of messages.
	o := op{what: "send an SMS from " + from, changes: true, unavailableHint: "The SMS may or may not have been sent."}
	cl := c.begin(ctx, c.restURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.restURL+"/sms/json", strings.NewReader(form.Encode()))
	if err != nil {
		return "", notSent(c.fail(maskcall.EINTERNAL, "Could not build the request to "+o.what+".", "", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	ex, err := c.do(cl, o, req)
	if err != nil {
		if !cl.ex.mayHaveReached() {
			// No connection was made (refused, unresolvable, the
			// handshake failed, or the context ended first).
			if e, ok := err.(*maskcall.Error); ok {
				e.Hint = "The SMS was not sent."
			}
			return "", notSent(err)
		}
		return "", err
	}
	var r smsReply
	if ex.status != http.StatusOK || json.Unmarshal(ex.body, &r) != nil || len(r.Messages) == 0 {
		ae := c.apiError(ex, "", "")
		var e struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		if json.Unmarshal(ex.body, &e) == nil {
			ae.Text = c.scrub(joinText(e.Title, e.Detail))
		}
		err := c.statusFailure(cl, o, ae, "")
		if ex.status >= 400 && ex.status < 500 {
			return "", notSent(err) // refused, 429 included
		}
		return "", err
	}
	sent := 0
	for _, m := range r.Messages {
		if m.Status == "0" {
			sent++
		}
	}
	for _, m := range r.Messages {
		if m.Status == "0" {
			continue
		}
		ae := c.apiError(ex, m.Status, m.ErrorText)
		if sent > 0 {
			// A long text Vonage split: some parts went out. Sending it
			// again would repeat them.
			return "", c.fail(maskcall.EUPSTREAM, fmt.Sprintf("Vonage sent %d of the %d parts of the SMS from %s, refusing the rest (%s).",
				sent, len(r.Messages), from, ae.details("status")), "", ae)
		}
		switch m.Status {
		case "4", "14": // invalid credentials, invalid signature
			return "", notSent(c.rejected(o, ae, "status"))
		}
		return "", notSent(c.refused(o, ae, "status", smsHint(m.Status)))
	}
	return r.Messages[0].MessageID, nil
}

// notSent marks err as a failure after which the text was certainly not
// sent (maskcall.ErrNotSent).
func notSent(err error) error {
	if e, ok := err.(*maskcall.Error); ok {
		e.Err = errors.Join(e.Err, maskcall.ErrNotSent)
		return e
	}
	return errors.Join(err, maskcall.ErrNotSent)
}

// smsHint gives advice for SMS statuses (Vonage's "Troubleshooting Failed
// SMS" table) where there is some.
func smsHint(status string) string {
	switch status {
	case "1":
		return "Vonage is throttling this account; wait a moment and try again."
	case "8", "9":
		return "Top up the Vonage account, then try again."
	case "15":
		return "The sender must be one of the account's numbers that can send SMS."
	case "29":
		return "A trial Vonage account can only send SMS to the numbers it has verified as test numbers."
	}
	return ""
}

func joinText(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, strings.TrimRight(p, "."))
		}
	}
	return strings.Join(out, ": ")
}

// gsmChars is the GSM 03.38 default alphabet and its extension table: text
// made of these goes as type=text, anything else needs type=unicode.
const gsmChars = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà" +
	"\f^{}\\[~]|€"

func isGSM(text string) bool {
	for _, r := range text {
		if !strings.ContainsRune(gsmChars, r) {
			return false
		}
	}
	return true
}
