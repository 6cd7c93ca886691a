package httpserver

import (
	"net/http"
)

// Middleware wraps a handler (verification, body limits, metrics, ...).
type Middleware func(http.Handler) http.Handler

// Chain wraps h in mw, the first of mw outermost.
func Chain(h http.Handler, mw ...Middleware) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// LimitBody refuses a request whose declared Content-Length is over n with
// 413 and bounds the body of the others to n bytes (reading past it fails
// with *http.MaxBytesError).
func LimitBody(n int64) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > n {
				w.Header().Set("Cache-Control", "no-store")
				w.WriteHeader(http.StatusRequestEntityTooLarge)
				return
			}
			r.Body = http.MaxBytesReader(w, r.Body, n)
			next.ServeHTTP(w, r)
		})
	}
}

// Health answers {"status":"ok"}: the process is up and serving. It
// reveals nothing else.
func Health() http.Handler {
	body := []byte(`{"status":"ok"}` + "\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(body)
	})
}
