package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/maskcall/maskcall/internal/vonage/signature"
)

// DefaultInboundSMSURL is where inbound texts go when neither the request
// nor the number (moHttpUrl) says: a local `maskcall serve`.
const DefaultInboundSMSURL = "http://127.0.0.1:3000/webhooks/inbound-sms"

// InboundSMSRequest asks the sandbox to deliver a text sent by From to the
// pool number To, as Vonage's inbound-sms webhook would. JSON form, as
// POST /_sandbox/inbound-sms takes it.
type InboundSMSRequest struct {
	From string `json:"from"` // digits, international format
	To   string `json:"to"`
	Text string `json:"text"`
	// URL defaults to the number's moHttpUrl, else DefaultInboundSMSURL.
	URL string `json:"url,omitempty"`
	// Method is POST (default) or GET; Format of a POST is json (default)
	// or form.
	Method string `json:"method,omitempty"`
	Format string `json:"format,omitempty"`
	// Repeat delivers every part this many times (Vonage resends a part
	// until it gets a 2xx); 0 means 1.
	Repeat int `json:"repeat,omitempty"`
	// InOrder sends the parts of a long text in order; by default they
	// go out of order (last first), as they may from Vonage.
	InOrder bool `json:"in_order,omitempty"`
	// DropPart leaves out that part (1-based) of a long text.
	DropPart int `json:"drop_part,omitempty"`
}

// InboundSMSDelivery is one webhook request made.
type InboundSMSDelivery struct {
	Part       int    `json:"part"`
	MessageID  string `json:"message_id"`
	HTTPStatus int    `json:"http_status"`
	Signed     bool   `json:"signed"`
	Error      string `json:"error,omitempty"`
}

// InboundSMSResult is what happened.
type InboundSMSResult struct {
	URL        string               `json:"url"`
	Parts      int                  `json:"parts"`
	ConcatRef  string               `json:"concat_ref,omitempty"`
	Deliveries []InboundSMSDelivery `json:"deliveries"`
}

// OK reports whether every delivery got a 2xx.
func (r *InboundSMSResult) OK() bool {
	for _, d := range r.Deliveries {
		if d.HTTPStatus/100 != 2 {
			return false
		}
	}
	return len(r.Deliveries) > 0
}

// splitSMS cuts text into the parts a phone sends it as: one of up to 160
// GSM characters (70 otherwise), or parts of 153 (67).
func splitSMS(text string) (parts []string, typ string) {
	typ = "text"
	if !isGSMText(text) {
		typ = "unicode"
	}
	if smsParts(text, typ) == 1 {
		return []string{text}, typ
	}
	size := 153
	if typ == "unicode" {
		size = 67
	}
	for text != "" {
		n, i := 0, 0
		for i < len(text) && n < size {
			_, w := utf8.DecodeRuneInString(text[i:])
			i += w
			n++
		}
		parts = append(parts, text[:i])
		text = text[i:]
	}
	return parts, typ
}

func isGSMText(text string) bool {
	const gsm = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà" + gsmExtended
	for _, r := range text {
		if !strings.ContainsRune(gsm, r) {
			return false
		}
	}
	return true
}

// SendInboundSMS delivers req's text to the application, split into parts
// when long, each part signed (sig) when an SMS signature method is
// configured. It waits for each reply and does not retry.
func (s *Sandbox) SendInboundSMS(ctx context.Context, req InboundSMSRequest) (*InboundSMSResult, error) {
	from, to := strings.TrimPrefix(req.From, "+"), strings.TrimPrefix(req.To, "+")
	switch {
	case !msisdnRE.MatchString(from):
		return nil, errors.New("from must be a number in international format")
	case !msisdnRE.MatchString(to):
		return nil, errors.New("to must be a number in international format")
	case req.Text == "":
		return nil, errors.New("text is required")
	case req.Repeat < 0 || req.Repeat > 100:
		return nil, errors.New("repeat must be between 0 and 100")
	}
	method := strings.ToUpper(req.Method)
	if method == "" {
		method = http.MethodPost
	}
	format := strings.ToLower(req.Format)
	if format == "" {
		format = "json"
	}
	if method != http.MethodGet && method != http.MethodPost || format != "json" && format != "form" {
		return nil, errors.New("method must be GET or POST, format json or form")
	}
	target := req.URL
	if target == "" {
		s.mu.Lock()
		if n, ok := s.owned[to]; ok {
			target = n.MoHTTPURL
		}
		s.mu.Unlock()
	}
	if target == "" {
		target = DefaultInboundSMSURL
	}
	if !isHTTPURL(target) {
		return nil, fmt.Errorf("url %q is not an http(s) URL", target)
	}

	parts, typ := splitSMS(req.Text)
	res := &InboundSMSResult{URL: target, Parts: len(parts)}
	if len(parts) > 1 {
		n, _ := rand.Int(rand.Reader, big.NewInt(256))
		res.ConcatRef = n.String()
	}
	type part struct {
		n      int
		id     string
		params [][2]string
	}
	now := s.now()
	var out []part
	for i, text := range parts {
		s.mu.Lock()
		s.smsSeq++
		id := fmt.Sprintf("0B%015X", s.smsSeq)
		s.mu.Unlock()
		keyword := ""
		if f := strings.Fields(text); len(f) > 0 && i == 0 {
			keyword = strings.ToUpper(f[0])
		}
		p := [][2]string{
			{"msisdn", from}, {"to", to}, {"messageId", id}, {"text", text}, {"type", typ},
			{"keyword", keyword}, {"api-key", s.cfg.APIKey},
			{"message-timestamp", now.UTC().Format(time.DateTime)},
			{"timestamp", strconv.FormatInt(now.Unix(), 10)}, {"nonce", newUUID()},
		}
		if len(parts) > 1 {
			p = append(p, [2]string{"concat", "true"}, [2]string{"concat-ref", res.ConcatRef},
				[2]string{"concat-total", strconv.Itoa(len(parts))}, [2]string{"concat-part", strconv.Itoa(i + 1)})
		}
		if m := s.cfg.SMSSignatureMethod; m != "" && s.cfg.SignatureSecret != "" {
			kv := make(map[string]string, len(p))
			for _, f := range p {
				kv[f[0]] = f[1]
			}
			p = append(p, [2]string{"sig", signature.SignSMS(m, s.cfg.SignatureSecret, kv)})
		}
		if req.DropPart == i+1 {
			continue
		}
		out = append(out, part{i + 1, id, p})
	}
	if !req.InOrder && len(out) > 1 {
		// Last part first, then the rest: out of order, deterministically.
		out = append(out[len(out)-1:], out[:len(out)-1]...)
	}
	for range max(req.Repeat, 1) {
		for _, p := range out {
			d := InboundSMSDelivery{Part: p.n, MessageID: p.id, Signed: s.cfg.SMSSignatureMethod != "" && s.cfg.SignatureSecret != ""}
			d.HTTPStatus, d.Error = s.deliverInbound(ctx, method, format, target, p.params)
			res.Deliveries = append(res.Deliveries, d)
		}
	}
	return res, nil
}

// deliverInbound sends one part and returns the reply's status.
func (s *Sandbox) deliverInbound(ctx context.Context, method, format, target string, params [][2]string) (int, string) {
	var body io.Reader
	contentType := ""
	u := target
	switch {
	case method == http.MethodGet:
		parsed, _ := url.Parse(target)
		q := encodeQuery(params)
		if parsed.RawQuery != "" {
			q = parsed.RawQuery + "&" + q
		}
		parsed.RawQuery = q
		u = parsed.String()
	case format == "form":
		body, contentType = strings.NewReader(encodeQuery(params)), "application/x-www-form-urlencoded"
	default:
		obj := make(map[string]string, len(params))
		for _, p := range params {
			obj[p[0]] = p[1]
		}
		b, _ := json.Marshal(obj)
		body, contentType = bytes.NewReader(b), "application/json"
	}
	// Vonage waits about 15 s for the reply.
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, err.Error()
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	r.Header.Set("User-Agent", "Vonage-Sandbox/1.0")
	resp, err := s.client.Do(r)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	return resp.StatusCode, ""
}

// handleInboundSMS serves POST /_sandbox/inbound-sms.
func (s *Sandbox) handleInboundSMS(w http.ResponseWriter, r *http.Request) {
	var req InboundSMSRequest
	if !decodeBody(w, r, &req) {
		return
	}
	res, err := s.SendInboundSMS(r.Context(), req)
	if err != nil {
		inspectError(w, http.StatusBadRequest, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}
