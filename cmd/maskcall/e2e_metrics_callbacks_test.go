package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// The callbacks' outbox is a queue on /metrics: an event the platform keeps
// refusing with 503 counts in maskcall_queue_depth{queue="callbacks"} and
// ages in maskcall_queue_oldest_age_seconds until it is delivered.
func TestMetricsCallbackQueue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	secret := strings.TrimSpace(runOK(t, e, "callbacks", "secret"))
	pf := newPlatform(t, secret)
	pf.setStatus(func(platformEvent, int) int { return http.StatusServiceUnavailable })
	e = e.with("MASKCALL_CALLBACKS_URL", pf.srv.URL).with("MASKCALL_CALLBACKS_SECRET", secret)
	srv := startServe(t, e, "--metrics-listen", "127.0.0.1:0")
	url := srv.metricsURL(t)
	createConversation(t, e, "+447700900123", "+447700900456")

	eventually(t, 20*time.Second, "the undelivered event counted in the callbacks queue", func() bool {
		v, _ := scrapeMetrics(t, url).value("maskcall_queue_depth", "queue", "callbacks")
		return v == 1
	})
	pf.setStatus(func(platformEvent, int) int { return http.StatusOK })
	hurryRetries(t, e)
	eventually(t, 20*time.Second, "the callbacks queue empty once delivered", func() bool {
		v, ok := scrapeMetrics(t, url).value("maskcall_queue_depth", "queue", "callbacks")
		return ok && v == 0
	})
	pf.checkProblems()
}
