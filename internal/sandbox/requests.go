package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// RequestRecord is one Vonage API request the sandbox received.
type RequestRecord struct {
	Time        time.Time  `json:"time"`
	Method      string     `json:"method"`
	Path        string     `json:"path"`
	Query       url.Values `json:"query,omitempty"`
	ContentType string     `json:"content_type,omitempty"`
	// Form holds the form-encoded body parameters.
	Form url.Values `json:"form,omitempty"`
	// Body holds any other body (JSON for the Voice API).
	Body string `json:"body,omitempty"`
	// Auth is the scheme of the Authorization header ("Bearer", "Basic").
	Auth   string `json:"auth,omitempty"`
	Status int    `json:"status"`
	// Fault tells that an injected fault shaped the reply.
	Fault bool `json:"fault,omitempty"`
}

// masked is what secrets are replaced with in the request log.
const masked = "***"

// maxBody bounds the request bodies the sandbox reads.
const maxBody = 1 << 20

// secretParams are masked in the request log.
var secretParams = []string{"api_secret", "sig"}

func maskSecrets(v url.Values) url.Values {
	if len(v) == 0 {
		return nil
	}
	for _, name := range secretParams {
		if vals, ok := v[name]; ok {
			for i := range vals {
				vals[i] = masked
			}
		}
	}
	return v
}

// newRequestRecord describes r; it leaves r.Body readable. It reports
// false if the body is over maxBody, which is then not served at all.
func (s *Sandbox) newRequestRecord(r *http.Request) (RequestRecord, bool) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	tooLarge := len(body) > maxBody
	if tooLarge {
		body = body[:maxBody]
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := RequestRecord{
		Time:        s.now(),
		Method:      r.Method,
		Path:        r.URL.Path,
		Query:       maskSecrets(r.URL.Query()),
		ContentType: r.Header.Get("Content-Type"),
	}
	if scheme, _, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok {
		rec.Auth = scheme
	}
	if mt, _, _ := mime.ParseMediaType(rec.ContentType); mt == "application/x-www-form-urlencoded" {
		form, _ := url.ParseQuery(string(body))
		rec.Form = maskSecrets(form)
	} else if len(body) > 0 {
		rec.Body = string(body)
	}
	return rec, !tooLarge
}

// Requests returns the Vonage API requests received so far, oldest first.
func (s *Sandbox) Requests() []RequestRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RequestRecord(nil), s.requests...)
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// serveAPI serves a Vonage API request: it records it and applies any
// injected fault around the route's handler.
func (s *Sandbox) serveAPI(w http.ResponseWriter, r *http.Request) {
	rec, ok := s.newRequestRecord(r)
	sw := &statusRecorder{ResponseWriter: w}
	if !ok {
		// Never serve a silently truncated form or JSON body.
		http.Error(sw, "request body over 1 MiB", http.StatusRequestEntityTooLarge)
	} else if f, ok := s.takeFault(r); ok {
		rec.Fault = true
		s.serveFault(sw, r, f)
	} else {
		s.mux.ServeHTTP(sw, r)
	}
	rec.Status = sw.status
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
}

// writeJSON writes v as a JSON reply.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
