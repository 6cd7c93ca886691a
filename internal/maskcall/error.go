// Package maskcall holds the domain of masked calling: the number pool,
// conversations and their participants, proxy-number allocation and call
// routing. It imports only the standard library; the SQLite store, the Vonage
// client, the webhook server and the CLI adapt outside things to it.
package maskcall

import (
	"errors"
	"fmt"
)

// Error codes. They are stable: scripts, API clients and the CLI's hint
// table key on them. Each edge maps them once: internal/cli to exit statuses
// and hints, the HTTP server to statuses. Messages carrying a code name no
// flag, config key or command; the edge adds that.
const (
	EINVALID       = "invalid_input"       // the caller's input is wrong
	EINVALIDNUMBER = "invalid_number"      // a phone number is malformed or not a real number
	ENOTFOUND      = "not_found"           // the thing asked for does not exist
	ECONFLICT      = "conflict"            // the request clashes with current state
	EUNAUTHORIZED  = "unauthorized"        // the caller's credentials were refused
	EFORBIDDEN     = "forbidden"           // the caller may not do this
	ERATELIMITED   = "rate_limited"        // the caller is sending too fast
	ECONFIG        = "not_configured"      // a setting is missing or wrong
	EVONAGEAUTH    = "vonage_unauthorized" // Vonage refused maskcall's credentials
	EUPSTREAM      = "vonage_refused"      // Vonage answered with an error
	EUNAVAILABLE   = "vonage_unavailable"  // Vonage could not be reached or timed out
	ESTORE         = "unavailable"         // the store could not be reached or is busy
	EEXHAUSTED     = "pool_exhausted"      // the pool has no number that fits
	ECANCELED      = "canceled"            // the user interrupted the work
	ETOOLARGE      = "too_large"           // the request is bigger than allowed
	// EIDEMPOTENCY: an idempotency key was used again for another request.
	EIDEMPOTENCY = "idempotency_key_reused"
	EINTERNAL    = "internal" // a bug or an unexpected failure
)

// Error is an error meant for the user: a code, one sentence, and what an
// edge needs to say what to do next.
type Error struct {
	Code    string
	Message string
	// Reason refines Code for the edges' advice: a stable snake_case word
	// naming the setting, input or state at fault ("no_application", "ttl",
	// "purchase_unknown"). The CLI's hint table keys on Code and Reason; API
	// clients may read it. "" when Code says it all.
	Reason string
	// Fields are machine-readable facts an edge may use in its advice, such
	// as {"country": "GB"}. Never a participant's real number.
	Fields map[string]string
	// Hint is advice that holds at every edge, set by adapters ("Try again
	// later."). It names no flag, config key or command, and the domain
	// sets none: an edge's own advice for Code and Reason comes first.
	Hint string
	Err  error // the underlying cause, for logs; never shown as the message
}

func (e *Error) Error() string {
	if e.Hint != "" {
		return e.Message + " " + e.Hint
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WithHint returns a copy of e carrying hint.
func (e *Error) WithHint(hint string) *Error {
	c := *e
	c.Hint = hint
	return &c
}

// WithReason returns a copy of e carrying reason and, as key/value pairs,
// fields.
func (e *Error) WithReason(reason string, fields ...string) *Error {
	c := *e
	c.Reason = reason
	if len(fields) > 0 {
		c.Fields = make(map[string]string, len(fields)/2)
		for i := 0; i+1 < len(fields); i += 2 {
			c.Fields[fields[i]] = fields[i+1]
		}
	}
	return &c
}

// ErrorReason returns the Reason of the first *Error in err's chain that has
// one, and "" if none does.
func ErrorReason(err error) string {
	for err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return ""
		}
		if e.Reason != "" {
			return e.Reason
		}
		err = e.Err
	}
	return ""
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err; uncoded errors get a
// generic one so internals are not shown.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Error()
	}
	return "Internal error."
}
