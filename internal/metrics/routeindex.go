package metrics

import (
	"github.com/maskcall/maskcall/internal/routeindex"
	"github.com/prometheus/client_golang/prometheus"
)

// RouteIndexCollector reports serve's route index at each scrape, from its
// counters (no query).
type RouteIndexCollector struct {
	Stats func() routeindex.Stats
}

var (
	indexLoadedDesc = prometheus.NewDesc(namespace+"_route_index_loaded",
		"1 while serve answers calls from its route index; 0 while it loads (the database answers).", nil, nil)
	indexConvDesc = prometheus.NewDesc(namespace+"_route_index_conversations",
		"Conversations in the route index.", nil, nil)
	indexChecksDesc = prometheus.NewDesc(namespace+"_route_index_version_checks_total",
		"Reads of the database's route version (each serves the calls that arrived while the one before ran).", nil, nil)
	indexAppliedDesc = prometheus.NewDesc(namespace+"_route_index_changes_applied_total",
		"Changed conversations read from the database into the index.", nil, nil)
	indexFallbackDesc = prometheus.NewDesc(namespace+"_route_index_store_lookups_total",
		"Calls the database's own lookup answered (the index loading, or a version check failed).", nil, nil)
	indexLoadsDesc = prometheus.NewDesc(namespace+"_route_index_loads_total",
		"Complete loads of the index (at start, and when it fell too far behind).", nil, nil)
	indexWatchingDesc = prometheus.NewDesc(namespace+"_route_index_watching",
		"1 while calls check the route version only after a change was announced (PostgreSQL's LISTEN) or published (SQLite's <db>-routes file); 0: every call checks.", nil, nil)
	indexAnnouncedDesc = prometheus.NewDesc(namespace+"_route_index_announcements_total",
		"Route changes announced to the index (its own process's and, through the database, others').", nil, nil)
	indexUncheckedDesc = prometheus.NewDesc(namespace+"_route_index_unchecked_lookups_total",
		"Calls answered without a route version check, nothing having been announced or published since the last.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *RouteIndexCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{indexLoadedDesc, indexConvDesc, indexChecksDesc, indexAppliedDesc, indexFallbackDesc, indexLoadsDesc,
		indexWatchingDesc, indexAnnouncedDesc, indexUncheckedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *RouteIndexCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.Stats()
	loaded := 0.0
	if s.Loaded {
		loaded = 1
	}
	ch <- prometheus.MustNewConstMetric(indexLoadedDesc, prometheus.GaugeValue, loaded)
	ch <- prometheus.MustNewConstMetric(indexConvDesc, prometheus.GaugeValue, float64(s.Conversations))
	ch <- prometheus.MustNewConstMetric(indexChecksDesc, prometheus.CounterValue, float64(s.Checks))
	ch <- prometheus.MustNewConstMetric(indexAppliedDesc, prometheus.CounterValue, float64(s.Applied))
	ch <- prometheus.MustNewConstMetric(indexFallbackDesc, prometheus.CounterValue, float64(s.Fallbacks))
	ch <- prometheus.MustNewConstMetric(indexLoadsDesc, prometheus.CounterValue, float64(s.Loads))
	watching := 0.0
	if s.Watching || s.Publishing {
		watching = 1
	}
	ch <- prometheus.MustNewConstMetric(indexWatchingDesc, prometheus.GaugeValue, watching)
	ch <- prometheus.MustNewConstMetric(indexAnnouncedDesc, prometheus.CounterValue, float64(s.Announcements))
	ch <- prometheus.MustNewConstMetric(indexUncheckedDesc, prometheus.CounterValue, float64(s.Unchecked))
}
