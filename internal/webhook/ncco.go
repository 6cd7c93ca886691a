package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"time"
)

// The NCCO (Nexmo Call Control Object) is the answer webhook's reply: a
// JSON array of actions Vonage runs for the call (ncco-schema.json in
// Vonage's reference). maskcall produces two: "not in service" (one talk)
// and "connect" (a talk, then a connect to the callee's phone showing the
// callee's proxy number). The sandbox reads them back
// (internal/sandbox/ncco_interpreter.go).
//
// The types below are the NCCO's definition. The answer webhook does not
// marshal them per call: nccoTemplates renders the constant parts once and
// splices in the two numbers and the call's uuid, and
// TestNCCOTemplatesAreMarshal checks the result is byte for byte
// json.Marshal of the typed value.

// NCCO is a list of actions, run in order.
type NCCO []Action

// Action is one NCCO action: Talk or Connect.
type Action interface{ nccoAction() }

// Talk says Text to the caller.
type Talk struct {
	Action   string `json:"action"` // always "talk"
	Text     string `json:"text"`
	Language string `json:"language,omitempty"`
	Style    int    `json:"style"`
}

// NewTalk returns a talk action.
func NewTalk(text, language string, style int) Talk {
	return Talk{Action: "talk", Text: text, Language: language, Style: style}
}

// Connect connects the call to an endpoint.
type Connect struct {
	Action string `json:"action"` // always "connect"
	// From is the caller ID the callee sees: digits, no '+'.
	From     string          `json:"from,omitempty"`
	Endpoint []PhoneEndpoint `json:"endpoint"`
	// EventURL receives the connected leg's events.
	EventURL []string `json:"eventUrl,omitempty"`
	// Limit is the longest the call may last, in seconds (0 to 7200).
	Limit int `json:"limit,omitempty"`
}

// PhoneEndpoint is a connect action's phone endpoint.
type PhoneEndpoint struct {
	Type   string `json:"type"`   // always "phone"
	Number string `json:"number"` // digits, no '+'
}

// NewConnect returns a connect action to one phone.
func NewConnect(from, number, eventURL string, limit time.Duration) Connect {
	c := Connect{Action: "connect", From: from, Endpoint: []PhoneEndpoint{{Type: "phone", Number: number}},
		Limit: int(limit / time.Second)}
	if eventURL != "" {
		c.EventURL = []string{eventURL}
	}
	return c
}

func (Talk) nccoAction()    {}
func (Connect) nccoAction() {}

// nccoTemplates are the two NCCOs of a Handler, rendered once. A connect
// NCCO is
//
//	connectHead + from + connectMid + number + connectCall + callRef + connectTail
//
// where from and number are digits only and callRef is query-escaped, so
// none needs JSON escaping.
type nccoTemplates struct {
	notInService []byte // the whole not-in-service NCCO
	connectHead  []byte // [{talk},{"action":"connect","from":"
	connectMid   []byte // ","endpoint":[{"type":"phone","number":"
	connectCall  []byte // "}],"eventUrl":["https://…/webhooks/event?call=
	connectTail  []byte // "],"limit":N}]
	// forwardDigits is Config.OutOfSessionForward in Vonage's form, ""
	// when calls outside a conversation are not forwarded.
	forwardDigits string
}

// hole marks where a number or the call goes while the templates are cut
// out of a marshalled NCCO; encoding/json writes it as \u0000, which
// nothing else in a connect action can contain (texts are in the talk
// action).
const hole = "\x00"

// callParam is the connect eventUrl's query parameter naming the call (its
// inbound leg's uuid): the outbound leg's events come back with it, and the
// store finds their call by that unique uuid (maskcall.CallEvent.CallUUID).
const callParam = "call"

func newNCCOTemplates(cfg Config) (nccoTemplates, error) {
	nis, err := json.Marshal(NCCO{NewTalk(cfg.NotInServiceText, cfg.Language, cfg.Style)})
	if err != nil {
		return nccoTemplates{}, err
	}
	talk, err := json.Marshal(NewTalk(cfg.ConnectText, cfg.Language, cfg.Style))
	if err != nil {
		return nccoTemplates{}, err
	}
	conn, err := json.Marshal(NewConnect(hole, hole, cfg.eventURL()+"?"+callParam+"="+hole, cfg.MaxCallLength))
	if err != nil {
		return nccoTemplates{}, err
	}
	parts := bytes.Split(conn, []byte(`\u0000`))
	if len(parts) != 4 {
		return nccoTemplates{}, fmt.Errorf("connect template has %d holes", len(parts)-1)
	}
	head := append(append([]byte("["), talk...), ',')
	fwd, _ := msisdn(cfg.OutOfSessionForward) // Check refused a bad one
	return nccoTemplates{
		forwardDigits: fwd,
		notInService:  nis,
		connectHead:   append(head, parts[0]...),
		connectMid:    parts[1],
		connectCall:   parts[2],
		connectTail:   append(parts[3], ']'),
	}, nil
}

// connectNCCO renders the connect NCCO for a route; callUUID is the
// inbound leg's uuid ("" for a call that is not recorded).
func (t *nccoTemplates) connectNCCO(fromDigits, numberDigits, callUUID string) []byte {
	// QueryEscape leaves only unreserved characters, '+' and %XX: nothing
	// JSON would escape. (It does not allocate for a uuid that needs none.)
	ref := url.QueryEscape(callUUID)
	n := len(t.connectHead) + len(fromDigits) + len(t.connectMid) + len(numberDigits) + len(t.connectCall) + len(ref) + len(t.connectTail)
	b := make([]byte, 0, n)
	b = append(b, t.connectHead...)
	b = append(b, fromDigits...)
	b = append(b, t.connectMid...)
	b = append(b, numberDigits...)
	b = append(b, t.connectCall...)
	b = append(b, ref...)
	return append(b, t.connectTail...)
}
