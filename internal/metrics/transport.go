package metrics

import (
	"net/http"
	"strconv"
	"time"
)

// Transport wraps next (http.DefaultTransport if nil) to count every
// request to Vonage by endpoint, a fixed route name that endpoint gives for
// the request (vonage.Endpoint: never a path with a number in it), and the
// reply's HTTP status, and to time it to the reply's headers.
func (m *Metrics) Transport(next http.RoundTripper, endpoint func(*http.Request) string) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return &transport{m: m, next: next, endpoint: endpoint}
}

type transport struct {
	m        *Metrics
	next     http.RoundTripper
	endpoint func(*http.Request) string
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	ep := t.endpoint(r)
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	t.m.vonageDuration.WithLabelValues(ep).Observe(time.Since(start).Seconds())
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	t.m.vonageRequests.WithLabelValues(ep, status).Inc()
	return resp, err
}
