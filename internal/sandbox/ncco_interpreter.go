// The sandbox's side of the NCCO: it reads what `maskcall serve` produced
// (internal/webhook/ncco.go) and says what Vonage would do with it.

package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// nccoPlan is what Vonage would do with an NCCO.
type nccoPlan struct {
	actions     []string // human descriptions, in order
	connected   bool     // a connect action reaches a phone
	connectTo   string   // that phone's number
	callerID    string   // the connect action's from
	eventURL    string   // the connect action's eventUrl, if any
	eventMethod string
	warnings    []string
}

// nccoEndpoint is a connect action's endpoint (ncco-schema.json endpoint).
type nccoEndpoint struct {
	Type   string `json:"type"`
	Number string `json:"number"`
	URI    string `json:"uri"`
}

type nccoConnect struct {
	Endpoint    []nccoEndpoint `json:"endpoint"`
	From        string         `json:"from"`
	EventURL    []string       `json:"eventUrl"`
	EventMethod string         `json:"eventMethod"`
}

var (
	nccoNumberRE = regexp.MustCompile(`^[0-9]{10,15}$`)
	httpURLRE    = regexp.MustCompile(`^https?://`)
	wsURIRE      = regexp.MustCompile(`^wss?:`)
	sipURIRE     = regexp.MustCompile(`^sips?:`)
)

// interpretNCCO checks body against the NCCO schema closely enough to act on
// it and describes what Vonage would do. owned tells whether a number belongs
// to the account.
func interpretNCCO(body []byte, owned func(msisdn string) bool) (nccoPlan, error) {
	var plan nccoPlan
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(body, &items); err != nil {
		return plan, errors.New("an NCCO must be a JSON array of action objects")
	}
	if len(items) == 0 {
		return plan, errors.New("an NCCO needs at least one action")
	}
	for i, item := range items {
		var action string
		if err := json.Unmarshal(item["action"], &action); err != nil || action == "" {
			return plan, fmt.Errorf("action %d: missing action", i)
		}
		desc, err := plan.add(action, item)
		if err != nil {
			return plan, fmt.Errorf("action %d (%s): %w", i, action, err)
		}
		plan.actions = append(plan.actions, desc)
	}
	if plan.connected && plan.callerID != "" && !owned(plan.callerID) {
		plan.warnings = append(plan.warnings, "caller ID +"+plan.callerID+" is not a number of this account")
	}
	return plan, nil
}

// add interprets one action and returns its description.
func (p *nccoPlan) add(action string, item map[string]json.RawMessage) (string, error) {
	raw, _ := json.Marshal(item)
	switch action {
	case "talk":
		var a struct {
			Text string `json:"text"`
		}
		if err := json.Unmarshal(raw, &a); err != nil || a.Text == "" {
			return "", errors.New("text is required")
		}
		if utf8.RuneCountInString(a.Text) > 1500 {
			return "", errors.New("text is longer than 1500 characters")
		}
		return "say: " + a.Text, nil
	case "connect":
		var a nccoConnect
		if err := json.Unmarshal(raw, &a); err != nil {
			return "", err
		}
		return p.connect(a)
	case "conversation":
		var a struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(raw, &a); err != nil || a.Name == "" {
			return "", errors.New("name is required")
		}
		return "join conversation " + a.Name, nil
	case "stream":
		var a struct {
			StreamURL []string `json:"streamUrl"`
		}
		if err := json.Unmarshal(raw, &a); err != nil || len(a.StreamURL) == 0 {
			return "", errors.New("streamUrl is required")
		}
		return "stream: " + a.StreamURL[0], nil
	case "input":
		return "wait for input", nil
	case "record":
		return "record the call", nil
	}
	return "", errors.New("unknown action")
}

func (p *nccoPlan) connect(a nccoConnect) (string, error) {
	if len(a.Endpoint) == 0 {
		return "", errors.New("endpoint is required")
	}
	if a.From != "" && !digitsRE.MatchString(a.From) {
		return "", fmt.Errorf("from %q must be digits only (no '+')", a.From)
	}
	for _, u := range a.EventURL {
		if !httpURLRE.MatchString(u) {
			return "", fmt.Errorf("eventUrl %q is not an http(s) URL", u)
		}
	}
	if m := a.EventMethod; m != "" && m != "GET" && m != "POST" {
		return "", fmt.Errorf("eventMethod %q must be GET or POST", m)
	}
	var descs []string
	for _, ep := range a.Endpoint {
		switch ep.Type {
		case "phone":
			if !nccoNumberRE.MatchString(ep.Number) {
				return "", fmt.Errorf("endpoint number %q must be 10 to 15 digits (no '+')", ep.Number)
			}
			d := "connecting +" + ep.Number
			if a.From != "" {
				d += " with caller ID +" + a.From
			} else {
				d += " without caller ID"
				p.warnings = append(p.warnings, "connect to +"+ep.Number+" has no from: the callee's caller ID is not set to a number of the account")
			}
			descs = append(descs, d)
			if !p.connected {
				p.connected, p.connectTo, p.callerID = true, ep.Number, a.From
				if len(a.EventURL) > 0 {
					p.eventURL, p.eventMethod = a.EventURL[0], a.EventMethod
				}
			}
		case "websocket":
			if !wsURIRE.MatchString(ep.URI) {
				return "", fmt.Errorf("websocket uri %q must start with ws: or wss:", ep.URI)
			}
			descs = append(descs, "connecting websocket "+ep.URI)
		case "sip":
			if !sipURIRE.MatchString(ep.URI) {
				return "", fmt.Errorf("sip uri %q must start with sip: or sips:", ep.URI)
			}
			descs = append(descs, "connecting "+ep.URI)
		default:
			return "", fmt.Errorf("endpoint type %q must be phone, websocket or sip", ep.Type)
		}
	}
	return strings.Join(descs, "; "), nil
}
