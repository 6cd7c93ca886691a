// Package metrics is maskcall's Prometheus instrumentation: the collectors
// on a registry of their own (never the global default, so nothing another
// library registers leaks onto /metrics), the handler serve puts on its
// --metrics-listen listener, and the adapters that the edges call: the
// webhook handlers (webhook.Observer), the Vonage client's HTTP transport,
// and a collector that asks the store for its gauges at scrape time.
//
// Every label value comes from a small fixed set (outcomes, reasons, call
// statuses, route names, error codes, ISO country codes, HTTP status
// codes); no phone number, id or text from a request ever becomes one.
// Counters for the fixed sets are made once, in New, so that observing is
// a map lookup and an atomic add: nothing is allocated per request.
package metrics

import (
	"net/http"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "maskcall"

// AnswerBuckets are the answer latency histogram's buckets, in seconds:
// from a cached route's sub-millisecond reply up to Vonage's 5 s deadline.
var AnswerBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// Labels is what a Metrics has counters for, from the edges' fixed sets
// (webhook.AnswerOutcomes, ...). Values outside them are counted under
// "other".
type Labels struct {
	AnswerOutcomes     []string
	Webhooks           []string
	RefusalReasons     []string
	CallStatuses       []string
	EventResults       []string
	InboundSMSOutcomes []string
	StoreOperations    []string
}

// Metrics are maskcall's collectors. Its methods are safe for concurrent
// use.
type Metrics struct {
	reg *prometheus.Registry

	answer      map[string]prometheus.Observer
	refused     map[[2]string]prometheus.Counter
	events      map[[2]string]prometheus.Counter
	sms         map[string]prometheus.Counter
	storeErrors *prometheus.CounterVec
	storeErrs   map[[2]string]prometheus.Counter

	vonageRequests *prometheus.CounterVec
	vonageDuration *prometheus.HistogramVec
}

const other = "other"

// errorCodes are maskcall's error codes, the code label of store errors.
var errorCodes = []string{maskcall.EINVALID, maskcall.EINVALIDNUMBER, maskcall.ENOTFOUND, maskcall.ECONFLICT,
	maskcall.EUNAUTHORIZED, maskcall.EFORBIDDEN, maskcall.ERATELIMITED, maskcall.ECONFIG, maskcall.EVONAGEAUTH,
	maskcall.EUPSTREAM, maskcall.EUNAVAILABLE, maskcall.ESTORE, maskcall.EEXHAUSTED, maskcall.ECANCELED,
	maskcall.ETOOLARGE, maskcall.EIDEMPOTENCY, maskcall.EINTERNAL}

// New returns the collectors for l's label values, with Go's and the
// process's collectors, on a registry of their own.
func New(l Labels) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	answer := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "answer_duration_seconds",
		Help:    "Time from an answer webhook's arrival to its reply, by outcome (connected, not_in_service, refused, unavailable, error).",
		Buckets: AnswerBuckets,
	}, []string{"outcome"})
	m.answer = map[string]prometheus.Observer{}
	for _, o := range append(l.AnswerOutcomes, other) {
		m.answer[o] = answer.WithLabelValues(o)
	}

	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "webhook_verification_failures_total",
		Help: "Webhook requests refused because their signature did not verify, by webhook and reason.",
	}, []string{"webhook", "reason"})
	m.refused = map[[2]string]prometheus.Counter{}
	for _, w := range append(l.Webhooks, other) {
		for _, r := range append(l.RefusalReasons, other) {
			m.refused[[2]string{w, r}] = refused.WithLabelValues(w, r)
		}
	}

	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "call_events_total",
		Help: "Call event webhooks received, by call status and result (recorded, ignored, refused, error).",
	}, []string{"status", "result"})
	m.events = map[[2]string]prometheus.Counter{}
	for _, s := range append(l.CallStatuses, other) {
		for _, r := range append(l.EventResults, other) {
			m.events[[2]string{s, r}] = events.WithLabelValues(s, r)
		}
	}

	sms := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "inbound_sms_total",
		Help: "Inbound SMS webhooks received, by outcome (the new message's status, or duplicate, ignored, invalid, unverified, error).",
	}, []string{"outcome"})
	m.sms = map[string]prometheus.Counter{}
	for _, o := range append(l.InboundSMSOutcomes, other) {
		m.sms[o] = sms.WithLabelValues(o)
	}

	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "store_errors_total",
		Help: "Store operations that failed, by operation and error code.",
	}, []string{"operation", "code"})
	m.storeErrs = map[[2]string]prometheus.Counter{}
	for _, op := range l.StoreOperations {
		for _, c := range errorCodes {
			m.storeErrs[[2]string{op, c}] = m.storeErrors.WithLabelValues(op, c)
		}
	}

	m.vonageRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "vonage_requests_total",
		Help: "Requests to Vonage's APIs, by endpoint (a route name) and HTTP status (\"error\" when no reply came).",
	}, []string{"endpoint", "status"})
	m.vonageDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "vonage_request_duration_seconds",
		Help:    "Time to Vonage's reply headers, by endpoint.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"endpoint"})

	m.reg.MustRegister(answer, refused, events, sms, m.storeErrors, m.vonageRequests, m.vonageDuration)
	return m
}

// Registry is the registry the collectors are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Register adds a collector (the store's gauges) to the registry.
func (m *Metrics) Register(c prometheus.Collector) error { return m.reg.Register(c) }

// Handler serves the registry in Prometheus' exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// ObserveAnswer implements webhook.Observer.
func (m *Metrics) ObserveAnswer(outcome string, d time.Duration) {
	o, ok := m.answer[outcome]
	if !ok {
		o = m.answer[other]
	}
	o.Observe(d.Seconds())
}

// ObserveRefused implements webhook.Observer.
func (m *Metrics) ObserveRefused(webhook, reason string) {
	c, ok := m.refused[[2]string{webhook, reason}]
	if !ok {
		if c, ok = m.refused[[2]string{webhook, other}]; !ok {
			c = m.refused[[2]string{other, other}]
		}
	}
	c.Inc()
}

// ObserveEvent implements webhook.Observer.
func (m *Metrics) ObserveEvent(status, result string) {
	c, ok := m.events[[2]string{status, result}]
	if !ok {
		if c, ok = m.events[[2]string{other, result}]; !ok {
			c = m.events[[2]string{other, other}]
		}
	}
	c.Inc()
}

// ObserveInboundSMS implements webhook.Observer.
func (m *Metrics) ObserveInboundSMS(outcome string) {
	c, ok := m.sms[outcome]
	if !ok {
		c = m.sms[other]
	}
	c.Inc()
}

// ObserveStoreError counts a failed store operation. Operations outside
// Labels.StoreOperations (the sweep, the relay worker, the stats) are
// counted too: they are few and fixed, named by maskcall's code; codes are
// maskcall's error codes.
func (m *Metrics) ObserveStoreError(operation, code string) {
	if c, ok := m.storeErrs[[2]string{operation, code}]; ok {
		c.Inc()
		return
	}
	if !knownCode(code) {
		code = maskcall.EINTERNAL
	}
	m.storeErrors.WithLabelValues(operation, code).Inc()
}

func knownCode(code string) bool {
	for _, c := range errorCodes {
		if c == code {
			return true
		}
	}
	return false
}
