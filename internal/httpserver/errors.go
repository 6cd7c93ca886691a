package httpserver

import (
	"encoding/json"
	"net/http"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// Problem is how an error code appears over HTTP: its status and, for
// APIs that answer application/problem+json (RFC 9457), a problem type and
// title.
type Problem struct {
	Status int
	Type   string // a URI naming the problem: ProblemTypePrefix + code
	Title  string // the same for every occurrence of the code
}

// ProblemTypePrefix starts every problem type; the code follows.
const ProblemTypePrefix = "urn:maskcall:problem:"

// problems is the one table from maskcall's error codes to HTTP. Every
// handler that turns an error into a status goes through StatusOf or
// ProblemOf; nothing picks a status for an error inline.
var problems = map[string]Problem{
	maskcall.EINVALID:       {http.StatusBadRequest, "", "Invalid input"},
	maskcall.EINVALIDNUMBER: {http.StatusUnprocessableEntity, "", "Invalid phone number"},
	maskcall.ENOTFOUND:      {http.StatusNotFound, "", "Not found"},
	maskcall.ECONFLICT:      {http.StatusConflict, "", "Conflict"},
	maskcall.EEXHAUSTED:     {http.StatusConflict, "", "Number pool exhausted"},
	maskcall.EUNAUTHORIZED:  {http.StatusUnauthorized, "", "Unauthorized"},
	maskcall.EFORBIDDEN:     {http.StatusForbidden, "", "Forbidden"},
	maskcall.ERATELIMITED:   {http.StatusTooManyRequests, "", "Too many requests"},
	maskcall.ETOOLARGE:      {http.StatusRequestEntityTooLarge, "", "Request too large"},
	maskcall.EIDEMPOTENCY:   {http.StatusUnprocessableEntity, "", "Idempotency key reused"},
	// Vonage refused maskcall's own credentials, or the request: the
	// fault is upstream of this server, not the client's.
	maskcall.EVONAGEAUTH:  {http.StatusBadGateway, "", "Vonage refused the credentials"},
	maskcall.EUPSTREAM:    {http.StatusBadGateway, "", "Vonage refused the request"},
	maskcall.EUNAVAILABLE: {http.StatusServiceUnavailable, "", "Vonage unavailable"},
	maskcall.ESTORE:       {http.StatusServiceUnavailable, "", "Temporarily unavailable"},
	maskcall.ECANCELED:    {http.StatusServiceUnavailable, "", "Canceled"},
	maskcall.ECONFIG:      {http.StatusInternalServerError, "", "Server not configured"},
	maskcall.EINTERNAL:    {http.StatusInternalServerError, "", "Internal error"},
}

func init() {
	for code, p := range problems {
		p.Type = ProblemTypePrefix + code
		problems[code] = p
	}
}

// ProblemOf returns the HTTP form of an error code; an unknown code is
// EINTERNAL's. The empty code (no error) is 200.
func ProblemOf(code string) Problem {
	if code == "" {
		return Problem{Status: http.StatusOK}
	}
	if p, ok := problems[code]; ok {
		return p
	}
	return problems[maskcall.EINTERNAL]
}

// StatusOf returns the HTTP status of an error code (ProblemOf's).
func StatusOf(code string) int { return ProblemOf(code).Status }

// ErrorStatus returns the HTTP status for err by its code
// (maskcall.ErrorCode): uncoded errors are internal, 500; nil is 200.
func ErrorStatus(err error) int { return StatusOf(maskcall.ErrorCode(err)) }

// WriteProblem answers err as application/problem+json: type, title,
// status, the code and, for coded errors that are not internal, the
// error's message as detail (internal errors get no detail, so nothing of
// the internals leaks).
func WriteProblem(w http.ResponseWriter, err error) {
	code := maskcall.ErrorCode(err)
	p := ProblemOf(code)
	if _, known := problems[code]; !known {
		code = maskcall.EINTERNAL
	}
	body := struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Code   string `json:"code"`
		Detail string `json:"detail,omitempty"`
	}{p.Type, p.Title, p.Status, code, ""}
	if code != maskcall.EINTERNAL {
		body.Detail = maskcall.ErrorMessage(err)
	}
	b, _ := json.Marshal(body) // strings and an int always marshal
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(append(b, '\n'))
}
