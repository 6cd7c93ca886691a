package metrics

import (
	"context"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultStatsTimeout bounds the store's queries at one scrape; a scrape
// whose store does not answer in time reports maskcall_store_stats_up 0
// rather than hanging (Prometheus' own scrape timeout is 10 s by default).
const DefaultStatsTimeout = 2 * time.Second

// QueueFunc says how a work queue stands at now (the SMS relay's jobs,
// callbacks' outbox).
type QueueFunc func(ctx context.Context, now time.Time) (maskcall.QueueStats, error)

// Queue names, the queue label.
const (
	QueueSMSRelay  = "sms_relay"
	QueueCallbacks = "callbacks"
)

// StoreCollector reports what the store holds, asked at each scrape: active
// conversations, the pool by country, and each queue's depth and the age
// of its oldest due job. Each is one cheap indexed query.
type StoreCollector struct {
	Stats  maskcall.StatsStore
	Queues map[string]QueueFunc
	// Now is the clock queue ages are measured with; nil: time.Now.
	Now     func() time.Time
	Timeout time.Duration // 0: DefaultStatsTimeout
	// Metrics, if set, counts the queries' failures as store errors
	// (operations stats_conversations, stats_pool, stats_queue).
	Metrics *Metrics
}

var (
	activeDesc = prometheus.NewDesc(namespace+"_conversations_active",
		"Conversations not ended (one that expired counts until the sweep ends it, within 15 s).", nil, nil)
	poolDesc = prometheus.NewDesc(namespace+"_pool_numbers",
		"Pool numbers not released, by country (ISO 3166-1 alpha-2) and status.", []string{"country", "status"}, nil)
	freeDesc = prometheus.NewDesc(namespace+"_pool_free_numbers",
		"Active pool numbers that no active conversation uses, by country.", []string{"country"}, nil)
	depthDesc = prometheus.NewDesc(namespace+"_queue_depth",
		"Jobs not settled (waiting, or claimed and in flight), by queue.", []string{"queue"}, nil)
	ageDesc = prometheus.NewDesc(namespace+"_queue_oldest_age_seconds",
		"How long the job waiting longest has been due, by queue; 0 when none is due.", []string{"queue"}, nil)
	upDesc = prometheus.NewDesc(namespace+"_store_stats_up",
		"1 if every store query of this scrape answered in time, else 0.", nil, nil)
	tookDesc = prometheus.NewDesc(namespace+"_store_stats_duration_seconds",
		"Time the store's queries of this scrape took.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *StoreCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{activeDesc, poolDesc, freeDesc, depthDesc, ageDesc, upDesc, tookDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: it runs the queries, all within
// Timeout.
func (c *StoreCollector) Collect(ch chan<- prometheus.Metric) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultStatsTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	now := start
	if c.Now != nil {
		now = c.Now()
	}
	up := 1.0
	failed := func(op string, err error) {
		up = 0
		if c.Metrics != nil {
			c.Metrics.ObserveStoreError(op, maskcall.ErrorCode(err))
		}
	}

	if n, err := c.Stats.CountActiveConversations(ctx); err != nil {
		failed("stats_conversations", err)
	} else {
		ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(n))
	}
	if pool, err := c.Stats.PoolStats(ctx); err != nil {
		failed("stats_pool", err)
	} else {
		free := map[string]int{}
		for _, p := range pool {
			country := countryLabel(p.Country)
			ch <- prometheus.MustNewConstMetric(poolDesc, prometheus.GaugeValue, float64(p.Numbers), country, statusLabel(p.Status))
			free[country] += p.Free
		}
		for country, n := range free {
			ch <- prometheus.MustNewConstMetric(freeDesc, prometheus.GaugeValue, float64(n), country)
		}
	}
	for name, q := range c.Queues {
		st, err := q(ctx, now)
		if err != nil {
			failed("stats_queue", err)
			continue
		}
		age := 0.0
		if !st.OldestDue.IsZero() && now.After(st.OldestDue) {
			age = now.Sub(st.OldestDue).Seconds()
		}
		ch <- prometheus.MustNewConstMetric(depthDesc, prometheus.GaugeValue, float64(st.Depth), name)
		ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, age, name)
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, up)
	ch <- prometheus.MustNewConstMetric(tookDesc, prometheus.GaugeValue, time.Since(start).Seconds())
}

// countryLabel keeps a country code as a label only if it is one: two
// ASCII letters. "" is "unknown"; anything else "other".
func countryLabel(c string) string {
	if c == "" {
		return "unknown"
	}
	if len(c) != 2 || !isLetter(c[0]) || !isLetter(c[1]) {
		return other
	}
	return c
}

func isLetter(b byte) bool { return 'A' <= b && b <= 'Z' || 'a' <= b && b <= 'z' }

// statusLabel keeps a number status from the fixed set.
func statusLabel(s maskcall.NumberStatus) string {
	switch s {
	case maskcall.NumberPurchasing, maskcall.NumberUnconfigured, maskcall.NumberActive, maskcall.NumberReleased:
		return string(s)
	}
	return other
}
