package vonage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// APIError is the cause (maskcall.Error.Err) of errors built from a reply
// Vonage sent, for logs and bug reports. It never holds credentials.
type APIError struct {
	Method     string
	Endpoint   string // URL without its query
	StatusCode int    // HTTP status
	RequestID  string // X-Request-Id / X-Nexmo-Trace-Id header, or request_id / instance in the body
	Code       string // Vonage's own code: Numbers error-code, SMS or Number Insight status
	Text       string // Vonage's description: error-code-label, error-text, status_message, title/detail
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "vonage: %s %s: HTTP %d", e.Method, e.Endpoint, e.StatusCode)
	if e.Code != "" {
		fmt.Fprintf(&b, ", code %s", e.Code)
	}
	if e.Text != "" {
		fmt.Fprintf(&b, ": %s", e.Text)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request id %s)", e.RequestID)
	}
	return b.String()
}

// details is the parenthesis ending a message: Vonage's code (named
// codeName, e.g. "error-code"), the HTTP status unless it says nothing more,
// and the request id.
func (e *APIError) details(codeName string) string {
	var parts []string
	if e.Code != "" && codeName != "" {
		parts = append(parts, codeName+" "+e.Code)
	}
	if e.StatusCode != http.StatusOK && strconv.Itoa(e.StatusCode) != e.Code || len(parts) == 0 {
		parts = append(parts, "HTTP "+strconv.Itoa(e.StatusCode))
	}
	if e.RequestID != "" {
		parts = append(parts, "request id "+e.RequestID)
	}
	return strings.Join(parts, ", ")
}

// authKind says which credentials a request carries.
type authKind int

const (
	authKeySecret authKind = iota // api_key and api_secret
	authAppJWT                    // application JWT
)

// op describes an API call, for its error messages.
type op struct {
	what string // completes "Vonage refused to ...", e.g. "buy +447700900123"
	auth authKind
	// unavailableHint is the hint when no reply arrived.
	unavailableHint string
	// changes marks calls that change state (buy, cancel, send an SMS,
	// hang up; of these only hang up is retried). A reply that
	// does not say clearly what happened (HTTP 5xx, or a body that cannot
	// be read) then gives EUNAVAILABLE like no reply at all, since the
	// change may or may not have happened; EUPSTREAM is kept for clear
	// refusals.
	changes bool
}

// apiError builds the cause of an error from the recorded reply.
func (c *Client) apiError(ex *exchange, code, text string) *APIError {
	ae := &APIError{
		Method:     ex.method,
		Endpoint:   ex.endpoint,
		StatusCode: ex.status,
		Code:       c.scrub(code),
		Text:       c.scrub(strings.TrimSpace(text)),
	}
	for _, h := range []string{"X-Request-Id", "X-Nexmo-Trace-Id", "X-Vonage-Trace-Id"} {
		if v := ex.header.Get(h); v != "" {
			ae.RequestID = v
			break
		}
	}
	if ae.RequestID == "" {
		var ids struct {
			RequestID string `json:"request_id"`
			Instance  string `json:"instance"`
		}
		if json.Unmarshal(ex.body, &ids) == nil {
			ae.RequestID = ids.RequestID
			if ae.RequestID == "" {
				ae.RequestID = ids.Instance
			}
		}
	}
	ae.RequestID = c.scrub(ae.RequestID)
	return ae
}

// fail builds the error returned to the core; it scrubs the secret from
// everything shown.
func (c *Client) fail(code, message, hint string, cause error) *maskcall.Error {
	return &maskcall.Error{Code: code, Message: c.scrub(message), Hint: c.scrub(hint), Err: cause}
}

// scrub removes the API secret from s. Requests never put it anywhere an
// error could show, but a reply could echo it.
func (c *Client) scrub(s string) string {
	if c.apiSecret == "" {
		return s
	}
	return strings.ReplaceAll(s, c.apiSecret, "[redacted]")
}

// rejected is the error for refused credentials.
func (c *Client) rejected(o op, ae *APIError, codeName string) *maskcall.Error {
	if o.auth == authAppJWT {
		return c.fail(maskcall.EVONAGEAUTH,
			fmt.Sprintf("Vonage rejected the application's token (%s).", ae.details(codeName)),
			"", ae).WithReason("application_key")
	}
	// Reasons, not hints: which settings to check is the edge's wording.
	return c.fail(maskcall.EVONAGEAUTH,
		fmt.Sprintf("Vonage rejected the API key and secret (%s).", ae.details(codeName)),
		"", ae).WithReason("api_key")
}

// refused is the error for a request Vonage understood and declined.
func (c *Client) refused(o op, ae *APIError, codeName, hint string) *maskcall.Error {
	text := strings.TrimRight(ae.Text, ".")
	if text == "" {
		text = "no reason given"
	}
	return c.fail(maskcall.EUPSTREAM, fmt.Sprintf("Vonage refused to %s: %s (%s).", o.what, text, ae.details(codeName)), hint, ae)
}

// statusFailure classifies a reply by its HTTP status when the body says
// nothing more specific.
func (c *Client) statusFailure(cl *call, o op, ae *APIError, codeName string) *maskcall.Error {
	switch s := ae.StatusCode; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		return c.rejected(o, ae, codeName)
	case s == http.StatusTooManyRequests:
		return c.refused(o, ae, codeName, "Vonage is limiting the request rate; wait a moment and try again.")
	case s == http.StatusBadGateway || s == http.StatusServiceUnavailable || s == http.StatusGatewayTimeout:
		return c.fail(maskcall.EUNAVAILABLE,
			fmt.Sprintf("Could not reach Vonage at %s: %s (%s).", cl.base, strings.ToLower(http.StatusText(s)), ae.details(codeName)),
			orDefault(o.unavailableHint, "Try again later."), ae)
	case s >= 500:
		return c.fail(o.unclear(), fmt.Sprintf("Vonage failed to %s (%s).", o.what, ae.details(codeName)),
			orDefault(o.unavailableHint, "Try again later."), ae)
	case ae.Text != "" && s >= 400:
		return c.refused(o, ae, codeName, "")
	}
	hint := ""
	if o.changes {
		hint = o.unavailableHint
	}
	return c.fail(o.unclear(), fmt.Sprintf("Vonage sent an unexpected reply to %s (%s).", o.what, ae.details(codeName)), hint, ae)
}

// unclear is the code for a reply that does not say what happened.
func (o op) unclear() string {
	if o.changes {
		return maskcall.EUNAVAILABLE
	}
	return maskcall.EUPSTREAM
}

// unreachable is the error when no complete reply arrived: a network error,
// the Timeout, or ctx ending.
func (c *Client) unreachable(cl *call, o op, err error) *maskcall.Error {
	cause := c.redact(err)
	if ctxErr := cl.ctx.Err(); ctxErr != nil {
		msg := fmt.Sprintf("The request to Vonage at %s was cancelled.", cl.base)
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			msg = fmt.Sprintf("Vonage at %s did not answer before the deadline.", cl.base)
		}
		return c.fail(maskcall.EUNAVAILABLE, msg, o.unavailableHint, errors.Join(ctxErr, cause))
	}
	var ne net.Error
	var ue *url.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return c.fail(maskcall.EUNAVAILABLE,
			fmt.Sprintf("Could not reach Vonage at %s: no complete answer within %s.", cl.base, c.timeout),
			o.unavailableHint, cause)
	case errors.As(err, &ue):
		reason := strings.TrimRight(ue.Err.Error(), ".")
		return c.fail(maskcall.EUNAVAILABLE, fmt.Sprintf("Could not reach Vonage at %s: %s.", cl.base, reason), o.unavailableHint, cause)
	case cl.ex.got:
		// The reply started but its body could not be read.
		return c.fail(maskcall.EUNAVAILABLE,
			fmt.Sprintf("Could not reach Vonage at %s: the reply was cut off (%s).", cl.base, strings.TrimRight(err.Error(), ".")),
			o.unavailableHint, cause)
	}
	// Nothing was sent: the SDK refused its arguments.
	return c.fail(maskcall.EINTERNAL, fmt.Sprintf("Could not send the request to %s: %s.", o.what, strings.TrimRight(err.Error(), ".")), "", cause)
}

// redact returns err with every URL in it stripped of its query, which holds
// the API secret for Numbers and Number Insight requests, and with the secret
// scrubbed from what is left.
func (c *Client) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		u, perr := url.Parse(ue.URL)
		shown := "(url)"
		if perr == nil {
			u.RawQuery, u.ForceQuery = "", false
			shown = u.String()
		}
		return &redactedError{err: &url.Error{Op: ue.Op, URL: shown, Err: ue.Err}, c: c}
	}
	return &redactedError{err: err, c: c}
}

type redactedError struct {
	err error
	c   *Client
}

func (e *redactedError) Error() string { return e.c.scrub(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
