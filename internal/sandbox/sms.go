package sandbox

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// SentSMS is a message sent through the SMS API.
type SentSMS struct {
	From string `json:"from"`
	To   string `json:"to"`
	Text string `json:"text"`
	Type string `json:"type"`
	// MessageID is the id of the first part; MessageIDs lists all parts.
	MessageID  string    `json:"message_id"`
	MessageIDs []string  `json:"message_ids"`
	Price      string    `json:"price"`
	ClientRef  string    `json:"client_ref,omitempty"`
	Callback   string    `json:"callback,omitempty"`
	Time       time.Time `json:"time"`
}

// SMS status codes (sms.yml x-errors).
const (
	smsOK              = "0"
	smsMissingParams   = "2"
	smsInvalidParams   = "3"
	smsBadCredentials  = "4"
	smsInternalError   = "5"
	smsQuotaExceeded   = "9"
	smsInvalidSig      = "14"
	smsInvalidCallback = "23"
	smsSigAndSecret    = "32"
)

var smsErrorTexts = map[string]string{
	"1": "Throttled", "2": "Missing Parameters", "3": "Invalid Parameters",
	"4": "Bad Credentials", "5": "Internal Error", "6": "Invalid Message",
	"7": "Number Barred", "8": "Partner Account Barred", "9": "Partner Quota Violation",
	"10": "Too Many Existing Binds", "11": "Account Not Enabled For HTTP",
	"12": "Message Too Long", "14": "Invalid Signature", "15": "Invalid Sender Address",
	"22": "Invalid Network Code", "23": "Invalid Callback Url",
	"29": "Non-Whitelisted Destination", "32": "Signature And API Secret Disallowed",
	"33": "Number De-activated",
}

// smsReply is the body of every SMS API reply.
type smsReply struct {
	MessageCount string `json:"message-count"`
	Messages     []any  `json:"messages"`
}

// smsMessage is one message (part) accepted.
type smsMessage struct {
	To               string `json:"to"`
	MessageID        string `json:"message-id"`
	Status           string `json:"status"`
	RemainingBalance string `json:"remaining-balance"`
	MessagePrice     string `json:"message-price"`
	Network          string `json:"network"`
	ClientRef        string `json:"client-ref,omitempty"`
	AccountRef       string `json:"account-ref,omitempty"`
}

// smsErrorMessage is a message refused.
type smsErrorMessage struct {
	Status    string `json:"status"`
	ErrorText string `json:"error-text"`
}

// smsFailure is the reply refusing a message; text defaults to the
// description of status.
func smsFailure(status, text string) smsReply {
	if text == "" {
		text = smsErrorTexts[status]
	}
	return smsReply{"1", []any{smsErrorMessage{status, text}}}
}

// smsError writes a refusal. The SMS API replies HTTP 200 even then.
func smsError(w http.ResponseWriter, status, text string) {
	writeJSON(w, http.StatusOK, smsFailure(status, text))
}

// destination prices and networks, by country calling code.
var smsRates = []struct{ prefix, price, network string }{
	{"44", "0.03330000", "23410"},
	{"1", "0.00735000", "310090"},
	{"", "0.05000000", "99999"},
}

func smsRate(to string) (price float64, network string) {
	for _, r := range smsRates {
		if strings.HasPrefix(to, r.prefix) {
			p, _ := strconv.ParseFloat(r.price, 64)
			return p, r.network
		}
	}
	return 0, ""
}

var alphaSenderRE = regexp.MustCompile(`^[A-Za-z0-9]{1,11}$`)

// handleSMSSend serves POST /sms/json. Every parameter is form-encoded in
// the body; the credentials too, unless they come as HTTP Basic.
func (s *Sandbox) handleSMSSend(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		smsError(w, smsInvalidParams, "Invalid request body")
		return
	}
	form := r.PostForm
	key, secret, sig := form.Get("api_key"), form.Get("api_secret"), form.Get("sig")
	present, basicOK := s.basicCreds(r)
	switch {
	case present && !basicOK:
		basicUnauthorized(w)
		return
	case present:
		// HTTP Basic stands for api_key and api_secret.
	case key == "":
		smsError(w, smsMissingParams, "Missing api_key")
		return
	case secret != "" && sig != "":
		smsError(w, smsSigAndSecret, "")
		return
	case sig != "":
		smsError(w, smsInvalidSig, "Invalid Signature: the sandbox does not verify signed requests")
		return
	case secret == "":
		smsError(w, smsMissingParams, "Missing api_secret")
		return
	case !s.validKeySecret(key, secret):
		smsError(w, smsBadCredentials, "Bad Credentials")
		return
	}
	msg := SentSMS{
		From:      form.Get("from"),
		To:        form.Get("to"),
		Text:      form.Get("text"),
		Type:      form.Get("type"),
		ClientRef: form.Get("client-ref"),
		Callback:  form.Get("callback"),
	}
	if msg.Type == "" {
		msg.Type = "text"
	}
	if code, text := validateSMS(msg); code != "" {
		smsError(w, code, text)
		return
	}
	parts := smsParts(msg.Text, msg.Type)
	price, network := smsRate(msg.To)

	s.mu.Lock()
	defer s.mu.Unlock()
	if total := price * float64(parts); total > s.balance {
		smsError(w, smsQuotaExceeded, "")
		return
	}
	reply := smsReply{MessageCount: strconv.Itoa(parts)}
	for range parts {
		s.balance -= price
		s.smsSeq++
		id := fmt.Sprintf("0A%015X", s.smsSeq)
		msg.MessageIDs = append(msg.MessageIDs, id)
		reply.Messages = append(reply.Messages, smsMessage{
			To:               msg.To,
			MessageID:        id,
			Status:           smsOK,
			RemainingBalance: fmt.Sprintf("%.8f", s.balance),
			MessagePrice:     fmt.Sprintf("%.8f", price),
			Network:          network,
			ClientRef:        msg.ClientRef,
			AccountRef:       form.Get("account-ref"),
		})
	}
	msg.MessageID = msg.MessageIDs[0]
	msg.Price = fmt.Sprintf("%.8f", price*float64(parts))
	msg.Time = s.now()
	s.sms = append(s.sms, msg)
	writeJSON(w, http.StatusOK, reply)
}

// validateSMS returns the status and error text refusing msg, or "".
func validateSMS(msg SentSMS) (code, text string) {
	switch {
	case msg.From == "":
		return smsMissingParams, "Missing from param"
	case msg.To == "":
		return smsMissingParams, "Missing to param"
	case !msisdnRE.MatchString(msg.To):
		return smsInvalidParams, "Invalid to param: numbers are digits only, in international format without '+'"
	case !validSender(msg.From):
		return smsInvalidParams, "Invalid from param"
	case !slices.Contains([]string{"text", "unicode", "binary", "wappush", "vcal", "vcard"}, msg.Type):
		return smsInvalidParams, "Invalid type param"
	case (msg.Type == "text" || msg.Type == "unicode") && msg.Text == "":
		return smsMissingParams, "Missing text param"
	case msg.Callback != "" && !isHTTPURL(msg.Callback):
		return smsInvalidCallback, ""
	case len(msg.ClientRef) > 40:
		return smsInvalidParams, "Invalid client-ref param: at most 40 characters"
	}
	return "", ""
}

// validSender accepts a number (up to 15 digits) or an alphanumeric sender
// ID of up to 11 characters, spaces ignored.
func validSender(from string) bool {
	if digitsRE.MatchString(from) {
		return len(from) <= 15
	}
	return alphaSenderRE.MatchString(strings.ReplaceAll(from, " ", ""))
}

// gsmExtended are the GSM 03.38 characters that take two septets.
const gsmExtended = "^{}\\[~]|€\f"

// smsParts is how many messages text is sent as.
func smsParts(text, typ string) int {
	single, multi := 160, 153
	length := 0
	switch typ {
	case "unicode":
		single, multi = 70, 67
		length = utf8.RuneCountInString(text)
	case "text":
		for _, r := range text {
			length++
			if strings.ContainsRune(gsmExtended, r) {
				length++
			}
		}
	default:
		return 1
	}
	if length <= single {
		return 1
	}
	return (length + multi - 1) / multi
}

// SentSMS returns the messages sent so far, oldest first.
func (s *Sandbox) SentSMS() []SentSMS {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentSMS(nil), s.sms...)
}
