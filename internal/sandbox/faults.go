package sandbox

import (
	"bytes"
	"cmp"
	"errors"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault makes the next Count Vonage API requests matching Path (and Method)
// fail or stall. JSON form, as POST /_sandbox/faults takes it:
//
//	{"path":"/number/buy","method":"POST","count":1,"status":500,
//	 "error_code":"420","error_label":"method failed","delay_ms":3000,
//	 "after_effect":true}
//
// Only path and one effect are needed. Effects combine as follows:
//   - status and/or error_code: reply with an error in the shape of the
//     API family (Numbers: error-code/error-code-label; SMS: a message with
//     that status and error-text; Number Insight: status/status_message;
//     Voice: a problem JSON). Without status, a Numbers error_code that is an
//     HTTP status is used as the HTTP status (else 420); SMS, Number
//     Insight and Identity Insights reply 200, as Vonage does. Identity
//     Insights with only a status replies with a problem JSON.
//   - delay_ms: wait before replying. Without after_effect the operation is
//     applied after the wait, and not at all if the client gave up meanwhile.
//   - after_effect: apply the operation first, then reply with the error (or,
//     with only delay_ms, with the real reply after the delay; alone, with
//     HTTP 500). The client cannot tell whether it happened: an ambiguous
//     failure.
type Fault struct {
	// Path is an exact request path, or a prefix ending in "*"
	// ("/v1/calls/*"). Empty matches every API request.
	Path string `json:"path"`
	// Method, if set, restricts the fault to that HTTP method.
	Method string `json:"method,omitempty"`
	// Count is how many matching requests fail: 0 means 1, -1 means all of
	// them until the faults are cleared.
	Count       int    `json:"count,omitempty"`
	Status      int    `json:"status,omitempty"`
	ErrorCode   string `json:"error_code,omitempty"`
	ErrorLabel  string `json:"error_label,omitempty"`
	DelayMS     int    `json:"delay_ms,omitempty"`
	AfterEffect bool   `json:"after_effect,omitempty"`
}

func (f *Fault) validate() error {
	switch {
	case f.Path != "" && !strings.HasPrefix(f.Path, "/"):
		return errors.New("path must start with /")
	case f.Count < -1:
		return errors.New("count must be -1 (always), 0 (once) or more")
	case f.Status != 0 && (f.Status < 100 || f.Status > 599):
		return errors.New("status must be an HTTP status")
	case f.ErrorCode != "" && iiStatusMessages[f.ErrorCode] != "":
		if f.Path != IdentityInsightsPath {
			return errors.New("error_code " + f.ErrorCode + " is an Identity Insights status: use it with path " + IdentityInsightsPath)
		}
	case f.ErrorCode != "" && !digitsRE.MatchString(f.ErrorCode):
		return errors.New("error_code must be a number, or an Identity Insights status such as SUPPLIER_ERROR")
	case f.DelayMS < 0:
		return errors.New("delay_ms must not be negative")
	case f.Status == 0 && f.ErrorCode == "" && f.DelayMS == 0 && !f.AfterEffect:
		return errors.New("a fault needs status, error_code, delay_ms or after_effect")
	}
	return nil
}

func (f *Fault) matches(r *http.Request) bool {
	if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
		return false
	}
	if prefix, ok := strings.CutSuffix(f.Path, "*"); ok {
		return strings.HasPrefix(r.URL.Path, prefix)
	}
	return f.Path == "" || f.Path == r.URL.Path
}

// InjectFault adds a fault; faults are tried in the order they were added.
func (s *Sandbox) InjectFault(f Fault) error {
	if err := f.validate(); err != nil {
		return err
	}
	if f.Count == 0 {
		f.Count = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
	return nil
}

// ClearFaults removes every pending fault.
func (s *Sandbox) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// Faults returns the pending faults, with the counts left.
func (s *Sandbox) Faults() []Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Fault, len(s.faults))
	for i, f := range s.faults {
		out[i] = *f
	}
	return out
}

// takeFault consumes one use of the first fault matching r.
func (s *Sandbox) takeFault(r *http.Request) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if !f.matches(r) {
			continue
		}
		taken := *f
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return taken, true
	}
	return Fault{}, false
}

// serveFault serves r the way f says.
func (s *Sandbox) serveFault(w http.ResponseWriter, r *http.Request, f Fault) {
	var done *bufferedResponse
	if f.AfterEffect {
		done = newBufferedResponse()
		s.mux.ServeHTTP(done, r)
	}
	if f.DelayMS > 0 {
		t := time.NewTimer(time.Duration(f.DelayMS) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
	}
	switch {
	case f.Status != 0 || f.ErrorCode != "":
		writeFaultError(w, r.URL.Path, f)
	case done != nil && f.DelayMS > 0:
		done.replay(w)
	case done != nil:
		writeFaultError(w, r.URL.Path, Fault{Status: http.StatusInternalServerError})
	default:
		s.mux.ServeHTTP(w, r)
	}
}

// writeFaultError writes the error f asks for, shaped like the API at path.
func writeFaultError(w http.ResponseWriter, path string, f Fault) {
	status, code, label := f.Status, f.ErrorCode, f.ErrorLabel
	switch {
	case strings.HasPrefix(path, "/number/"), strings.HasPrefix(path, "/account/"):
		if status == 0 {
			status = statusActionFailed
			if n, err := strconv.Atoi(code); err == nil && n >= 100 && n <= 599 {
				status = n
			}
		}
		if code == "" {
			code = strconv.Itoa(status)
		}
		if label == "" {
			label = "method failed"
			if code != "420" {
				label = http.StatusText(status)
			}
		}
		writeJSON(w, status, numbersReply{code, label})
	case strings.HasPrefix(path, "/sms/"):
		if code == "" {
			code = smsInternalError
		}
		writeJSON(w, cmp.Or(status, http.StatusOK), smsFailure(code, label))
	case path == IdentityInsightsPath && code != "":
		writeIdentityFault(w, status, code, label)
	case strings.HasPrefix(path, "/ni/"):
		n, err := strconv.Atoi(code)
		if err != nil {
			n = niInternalError
		}
		if label == "" {
			label = niStatusMessages[n]
		}
		writeJSON(w, cmp.Or(status, http.StatusOK), insightError{n, label})
	default:
		if status == 0 {
			status = http.StatusInternalServerError
			if n, err := strconv.Atoi(code); err == nil && n >= 100 && n <= 599 {
				status = n
			}
		}
		if label == "" {
			label = "Injected fault"
		}
		writeProblem(w, status, problemType(status), http.StatusText(status), label)
	}
}

// bufferedResponse is an http.ResponseWriter that keeps the reply.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferedResponse() *bufferedResponse { return &bufferedResponse{header: http.Header{}} }

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

func (b *bufferedResponse) replay(w http.ResponseWriter) {
	maps.Copy(w.Header(), b.header)
	w.WriteHeader(cmp.Or(b.status, http.StatusOK))
	_, _ = w.Write(b.body.Bytes())
}
