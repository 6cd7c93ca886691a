package cli

import (
	"context"
	"time"

	"log/slog"
	"net/http"

	"github.com/maskcall/maskcall/internal/httpserver"
	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/metrics"
	"github.com/maskcall/maskcall/internal/routeindex"
	"github.com/maskcall/maskcall/internal/vonage"
	"github.com/maskcall/maskcall/internal/webhook"
)

// mountReady mounts /readyz (the store answers and its schema is this
// binary's) beside /healthz (the process is alive). Both stores can say;
// a store that cannot gets no /readyz.
func mountReady(srv *httpserver.Server, store maskcall.Store, logger *slog.Logger) {
	if rs, ok := store.(httpserver.ReadyStore); ok {
		srv.Handle("GET /readyz", httpserver.Ready(rs, 0, logger))
	}
}

// serveMetrics is serve's Prometheus metrics, on a listener of their own
// (--metrics-listen); its zero value (metrics off) observes nothing.
type serveMetrics struct {
	m   *metrics.Metrics
	srv *httpserver.Server
}

// startMetrics builds the metrics when opts.MetricsListen is set: the
// collectors, the store's gauges, Vonage's transport, and the listener,
// bound (a port in use fails here, before anything serves) and serving.
func startMetrics(opts *ServeOptions, store maskcall.Store, routes maskcall.RouteStore, logger *slog.Logger) (*serveMetrics, error) {
	if opts.MetricsListen == "" {
		return &serveMetrics{}, nil
	}
	m := metrics.New(metrics.Labels{
		AnswerOutcomes:     webhook.AnswerOutcomes,
		Webhooks:           webhook.Webhooks,
		RefusalReasons:     webhook.RefusalReasons,
		CallStatuses:       append(maskcall.CallStatuses(), webhook.EventStatusNone, webhook.EventStatusInvalid),
		EventResults:       webhook.EventResults,
		InboundSMSOutcomes: webhook.InboundSMSOutcomes,
		StoreOperations:    webhook.StoreOperations,
	})
	if ss, ok := store.(maskcall.StatsStore); ok {
		c := &metrics.StoreCollector{Stats: ss, Now: opts.Now, Metrics: m, Queues: map[string]metrics.QueueFunc{}}
		if q, ok := store.(maskcall.RelayQueueStatser); ok {
			c.Queues[metrics.QueueSMSRelay] = q.RelayQueueStats
		}
		if cs, ok := store.(maskcall.CallbackStore); ok {
			c.Queues[metrics.QueueCallbacks] = callbackQueue(cs)
		}
		if err := m.Register(c); err != nil {
			return nil, err
		}
	}
	if ix, ok := routes.(*routeindex.Index); ok {
		if err := m.Register(&metrics.RouteIndexCollector{Stats: ix.Stats}); err != nil {
			return nil, err
		}
	}
	if opts.VonageTransport != nil {
		opts.VonageTransport(func(next http.RoundTripper) http.RoundTripper { return m.Transport(next, vonage.Endpoint) })
	}
	srv := httpserver.New(opts.MetricsListen)
	srv.Name, srv.Logger = "metrics", logger
	srv.Handle("GET /metrics", m.Handler())
	if err := srv.Open(); err != nil {
		return nil, withHint(err, "Pick another address with --metrics-listen, or stop what uses the port.")
	}
	return &serveMetrics{m: m, srv: srv}, nil
}

// observer is what the webhooks tell their outcomes to; nil when off.
func (s *serveMetrics) observer() webhook.Observer {
	if s.m == nil {
		return nil
	}
	return s.m
}

// storeError counts a failed store operation of serve's own (the sweep).
func (s *serveMetrics) storeError(op string, err error) {
	if s.m != nil && err != nil {
		s.m.ObserveStoreError(op, maskcall.ErrorCode(err))
	}
}

// URL is the metrics listener's, "" when off.
func (s *serveMetrics) URL() string {
	if s.srv == nil {
		return ""
	}
	return s.srv.URL()
}

func (s *serveMetrics) Close() error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// callbackQueue reports the callbacks' outbox as a queue: the events not
// yet delivered nor given up, and when the longest-waiting one became due.
func callbackQueue(cs maskcall.CallbackStore) metrics.QueueFunc {
	return func(ctx context.Context, now time.Time) (maskcall.QueueStats, error) {
		st, err := cs.CallbackStats(ctx, now)
		if err != nil {
			return maskcall.QueueStats{}, err
		}
		q := maskcall.QueueStats{Depth: st.Pending}
		if st.OldestDue != nil {
			q.OldestDue = *st.OldestDue
		}
		return q, nil
	}
}
