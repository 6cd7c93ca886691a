package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/httpserver"
	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/vonage/signature"
)

// InboundSMSPath is where Vonage delivers texts sent to a pool number: the
// number's moHttpUrl is the public URL + InboundSMSPath.
const InboundSMSPath = "/webhooks/inbound-sms"

const inboundSMSTimeout = 10 * time.Second

// InboundSMSConfig configures the inbound SMS webhook.
type InboundSMSConfig struct {
	Store  maskcall.MessageStore
	Policy maskcall.InboundPolicy
	// SignatureMethod, when set (signature.SMSMethods), makes every
	// message carry a valid sig, made with SignatureSecret, and a fresh
	// timestamp; others are refused with 401 and not recorded.
	SignatureMethod string
	SignatureSecret string
	// Recorded is called after a message is recorded (to wake the relay
	// worker); it must not block.
	Recorded func()
	Now      func() time.Time
	Logger   *slog.Logger
	LogPII   bool
	// Observer, if set, is told each message's outcome (metrics).
	Observer Observer
}

// InboundSMS is the inbound SMS webhook (sms.yml's inbound-sms): GET with
// query parameters, or POST with a form or JSON body.
//
//	200  recorded (with its relay queued), a part Vonage resent, or a
//	     message that is not text (binary) and is ignored
//	400  a field is missing or malformed
//	401  signing is on and the sig or timestamp is wrong: not recorded
//	405  another method
//	413  body over 64 KiB
//	500  the store failed: Vonage resends it
//
// The reply is sent only once the message and its relay are committed, so
// a text Vonage was told arrived is never lost.
type InboundSMS struct {
	cfg InboundSMSConfig
	log *slog.Logger
	obs Observer
}

// NewInboundSMS checks cfg and returns the handler. Errors are ECONFIG.
func NewInboundSMS(cfg InboundSMSConfig) (*InboundSMS, error) {
	if cfg.Store == nil {
		return nil, maskcall.Errorf(maskcall.ECONFIG, "The inbound SMS webhook needs a message store.")
	}
	if cfg.SignatureMethod != "" {
		if !signature.ValidSMSMethod(cfg.SignatureMethod) {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "%q is not an SMS signature method (%s).", cfg.SignatureMethod, strings.Join(signature.SMSMethods, ", "))
		}
		if cfg.SignatureSecret == "" {
			return nil, maskcall.Errorf(maskcall.ECONFIG, "Signed inbound SMS need the signature secret.")
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &InboundSMS{cfg: cfg, log: cfg.Logger, obs: observerOr(cfg.Observer)}
	if h.log == nil {
		h.log = slog.Default()
	}
	return h, nil
}

// Patterns are the ServeMux patterns the handler serves.
func (h *InboundSMS) Patterns() []string {
	return []string{"GET " + InboundSMSPath, "POST " + InboundSMSPath}
}

// Verified reports whether inbound messages are checked for Vonage's sig.
func (h *InboundSMS) Verified() bool { return h.cfg.SignatureMethod != "" }

func (h *InboundSMS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	outcome := SMSInvalid // each return below that is not a 4xx says otherwise
	defer func() { h.obs.ObserveInboundSMS(outcome) }()
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		w.WriteHeader(http.StatusMethodNotAllowed)
		return
	}
	params, err := inboundParams(w, r)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		h.log.Warn("inbound SMS refused", "reason", err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if h.cfg.SignatureMethod != "" {
		if err := signature.VerifySMS(h.cfg.SignatureMethod, h.cfg.SignatureSecret, params, h.cfg.Now()); err != nil {
			h.log.Warn("inbound SMS signature refused", "reason", strings.TrimPrefix(err.Error(), signature.ErrRefused.Error()+": "),
				"from", h.logNumber(params["msisdn"]), "to", h.logNumber(params["to"]))
			outcome = SMSUnverified
			h.obs.ObserveRefused(inboundSMSName, RefusalReason(err))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	in, skip, err := parseInboundSMS(params)
	if err != nil {
		h.log.Warn("inbound SMS refused", "reason", err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if skip != "" {
		h.log.Info("inbound SMS ignored", "message_id", params["messageId"], "reason", skip)
		outcome = SMSIgnored
		w.WriteHeader(http.StatusOK)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), inboundSMSTimeout)
	defer cancel()
	res, err := h.cfg.Store.RecordInboundSMS(ctx, in, h.cfg.Policy, h.cfg.Now())
	if err != nil {
		if maskcall.ErrorCode(err) == maskcall.EINVALID {
			http.Error(w, maskcall.ErrorMessage(err), http.StatusBadRequest)
			return
		}
		h.log.Error("inbound SMS not recorded; Vonage will resend it", "message_id", in.MessageID, "err", err)
		outcome = SMSError
		h.obs.ObserveStoreError(OpRecordInboundSMS, maskcall.ErrorCode(err))
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	m := res.Message
	outcome = string(m.Status)
	if res.Duplicate {
		outcome = SMSDuplicate
	}
	h.log.Info("inbound SMS", "message_id", in.MessageID, "message", m.ID, "conversation", m.ConversationID,
		"from", h.logNumber(in.From), "to", h.logNumber(in.To), "part", fmt.Sprintf("%d/%d", max(in.ConcatPart, 1), max(in.ConcatTotal, 1)),
		"status", string(m.Status), "reason", m.Reason, "duplicate", res.Duplicate)
	if !res.Duplicate && h.cfg.Recorded != nil {
		h.cfg.Recorded()
	}
	w.WriteHeader(http.StatusOK)
}

func (h *InboundSMS) logNumber(n string) string {
	if len(n) > 32 {
		n = n[:32]
	}
	if h.cfg.LogPII {
		return n
	}
	return maskcall.MaskNumber(n)
}

// inboundParams reads the parameters of a GET's query or a POST's form or
// JSON body; the first value of a repeated parameter counts.
func inboundParams(w http.ResponseWriter, r *http.Request) (map[string]string, error) {
	first := func(v url.Values) map[string]string {
		out := make(map[string]string, len(v))
		for k, vs := range v {
			if len(vs) > 0 {
				out[k] = vs[0]
			}
		}
		return out
	}
	if r.Method == http.MethodGet {
		q, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, errors.New("malformed query")
		}
		return first(q), nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		return nil, err
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/json" {
		var raw map[string]any
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, errors.New("malformed JSON body")
		}
		out := make(map[string]string, len(raw))
		for k, v := range raw {
			switch v := v.(type) {
			case string:
				out[k] = v
			case float64:
				out[k] = strconv.FormatFloat(v, 'f', -1, 64)
			case bool:
				out[k] = strconv.FormatBool(v)
			case nil:
			default:
				return nil, fmt.Errorf("field %s is not a string", k)
			}
		}
		return out, nil
	}
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errors.New("malformed form body")
	}
	return first(q), nil
}

// parseInboundSMS turns Vonage's fields into an InboundSMS; skip says why a
// valid message is not for relaying (not text).
func parseInboundSMS(p map[string]string) (in *maskcall.InboundSMS, skip string, err error) {
	for _, k := range []string{"msisdn", "to", "messageId"} {
		if p[k] == "" {
			return nil, "", fmt.Errorf("%s is missing", k)
		}
	}
	if t := p["type"]; t != "" && t != "text" && t != "unicode" {
		return nil, "type " + t + " is not relayed", nil
	}
	from, err := wireToE164(p["msisdn"])
	if err != nil {
		return nil, "", fmt.Errorf("msisdn: %w", err)
	}
	to, err := wireToE164(p["to"])
	if err != nil {
		return nil, "", fmt.Errorf("to: %w", err)
	}
	in = &maskcall.InboundSMS{MessageID: p["messageId"], From: from, To: to, Text: p["text"]}
	if p["concat"] == "true" || p["concat-ref"] != "" {
		in.ConcatRef = p["concat-ref"]
		if in.ConcatTotal, err = strconv.Atoi(p["concat-total"]); err != nil {
			return nil, "", errors.New("concat-total is not a number")
		}
		if in.ConcatPart, err = strconv.Atoi(p["concat-part"]); err != nil {
			return nil, "", errors.New("concat-part is not a number")
		}
	}
	if err := in.Validate(); err != nil {
		return nil, "", errors.New(maskcall.ErrorMessage(err))
	}
	return in, "", nil
}

// wireToE164 turns a wire number (digits, no '+'; a '+' tolerated) into
// E.164 with '+'. An alphanumeric sender is kept as it is: it matches no
// conversation.
func wireToE164(n string) (string, error) {
	n = strings.TrimPrefix(n, "+")
	if n == "" || len(n) > 32 {
		return "", errors.New("not a number")
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			for j := 0; j < len(n); j++ {
				c := n[j]
				if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == ' ') {
					return "", errors.New("not a number or sender name")
				}
			}
			return n, nil
		}
	}
	return "+" + n, nil
}

// Mount registers the webhook on s. It sits outside the Voice webhooks'
// JWT check: the SMS API signs with sig instead (checked here when
// configured).
func (h *InboundSMS) Mount(s *httpserver.Server) {
	for _, p := range h.Patterns() {
		s.Handle(p, h, httpserver.LimitBody(MaxBodyBytes))
	}
}
