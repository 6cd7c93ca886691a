package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

var metricsURLRE = regexp.MustCompile(`Metrics: (http://\S+/metrics)`)

// metricsURL is where serve says its metrics are.
func (p *serveProc) metricsURL(t *testing.T) string {
	t.Helper()
	var m []string
	eventually(t, 10*time.Second, "serve prints its metrics URL", func() bool {
		m = metricsURLRE.FindStringSubmatch(p.stderr.String())
		return m != nil
	})
	return m[1]
}

// scrape is one scrape of /metrics, parsed.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t *testing.T, url string) scrape {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return fams
}

// value is the value of the series of family name whose labels include
// labels (name=value pairs); ok is false if there is none. A histogram's
// value is its count.
func (s scrape) value(name string, labels ...string) (float64, bool) {
	f := s[name]
	if f == nil {
		return 0, false
	}
series:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// sum adds up every series of family name whose labels include labels.
func (s scrape) sum(name string, labels ...string) float64 {
	f := s[name]
	if f == nil {
		return 0
	}
	total := 0.0
series:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				found = found || lp.GetName() == labels[i] && lp.GetValue() == labels[i+1]
			}
			if !found {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			total += m.Counter.GetValue()
		case m.Gauge != nil:
			total += m.Gauge.GetValue()
		case m.Histogram != nil:
			total += float64(m.Histogram.GetSampleCount())
		}
	}
	return total
}

var digitRunRE = regexp.MustCompile(`[0-9]{7,}`)

// Serve's metrics, through the binary and over HTTP: after a connected call
// (with its events), a stranger's call, refused webhooks and a relayed text,
// the counters moved by as much, the store's gauges tell the pool and the
// conversations, Vonage's requests are counted by route, and no label value
// anywhere holds a phone number (a run of 7 digits or more).
func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newSMSWorld(t, e, "--metrics-listen", "127.0.0.1:0")
	srv := w.srv
	url := srv.metricsURL(t)
	if url == srv.URL+"/metrics" {
		t.Fatalf("metrics at %s, on the webhook listener %s", url, srv.URL)
	}
	if resp, err := http.Get(srv.URL + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("the webhook listener serves /metrics: %v %v", resp, err)
	}
	before := scrapeMetrics(t, url)
	for _, fam := range []string{"go_goroutines", "process_resident_memory_bytes", "maskcall_conversations_active",
		"maskcall_pool_numbers", "maskcall_pool_free_numbers", "maskcall_queue_depth", "maskcall_store_stats_up"} {
		if before[fam] == nil {
			t.Errorf("no %s in the first scrape", fam)
		}
	}
	if v, _ := before.value("maskcall_conversations_active"); v != 1 {
		t.Errorf("conversations_active = %v, want 1", v)
	}
	if v, _ := before.value("maskcall_pool_numbers", "country", "GB", "status", "active"); v != 2 {
		t.Errorf("pool_numbers{GB,active} = %v, want 2", v)
	}
	// The conversation's proxies are not free; the pool's other number is.
	wantFree := 1.0
	if w.a.Proxy != w.b.Proxy {
		wantFree = 0
	}
	if v, ok := before.value("maskcall_pool_free_numbers", "country", "GB"); !ok || v != wantFree {
		t.Errorf("pool_free_numbers{GB} = %v (%v), want %v", v, ok, wantFree)
	}
	if v, _ := before.value("maskcall_store_stats_up"); v != 1 {
		t.Errorf("store_stats_up = %v", v)
	}

	// A connected call, and its events.
	assertConnected(t, srv.call(t, e, w.a.Number, w.a.Proxy, http.MethodGet), w.b.Number, w.b.Proxy)
	// A stranger.
	assertNotInService(t, srv.call(t, e, "+447700900999", w.a.Proxy, http.MethodPost))
	// Refused: no token at all, and a token that is not a JWT.
	unsigned, _ := http.Get(srv.URL + "/webhooks/answer?from=447700900123&to=" + digits(w.a.Proxy))
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/webhooks/answer?from=447700900123&to="+digits(w.a.Proxy), nil)
	req.Header.Set("Authorization", "Bearer not-a-jwt")
	forged, err := http.DefaultClient.Do(req)
	if err != nil || unsigned.StatusCode != http.StatusServiceUnavailable || forged.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned answer = %v, forged = %v (%v), want 503 and 401", unsigned, forged, err)
	}
	// A text, relayed through Vonage's SMS API.
	w.text(t, w.a.Number, w.a.Proxy, "On my way")
	w.waitSent(t, 1)

	var after scrape
	eventually(t, 10*time.Second, "the call's events counted", func() bool {
		after = scrapeMetrics(t, url)
		return after.sum("maskcall_call_events_total", "result", "recorded") > before.sum("maskcall_call_events_total", "result", "recorded")
	})
	delta := func(name string, labels ...string) float64 {
		return after.sum(name, labels...) - before.sum(name, labels...)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"maskcall_answer_duration_seconds", []string{"outcome", "connected"}, 1},
		{"maskcall_answer_duration_seconds", []string{"outcome", "not_in_service"}, 1},
		{"maskcall_answer_duration_seconds", []string{"outcome", "refused"}, 2},
		{"maskcall_answer_duration_seconds", []string{"outcome", "unavailable"}, 0},
		{"maskcall_webhook_verification_failures_total", []string{"webhook", "answer", "reason", "missing"}, 1},
		{"maskcall_webhook_verification_failures_total", []string{"webhook", "answer", "reason", "malformed"}, 1},
		{"maskcall_webhook_verification_failures_total", []string{"webhook", "event"}, 0},
		{"maskcall_inbound_sms_total", []string{"outcome", "received"}, 1},
		{"maskcall_vonage_requests_total", []string{"endpoint", "sms.send", "status", "200"}, 1},
		{"maskcall_store_errors_total", nil, 0},
	} {
		if got := delta(c.name, c.labels...); got != c.want {
			t.Errorf("%s%q moved by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := delta("maskcall_call_events_total", "status", "completed", "result", "recorded"); got < 1 {
		t.Errorf("no completed event recorded: %v", got)
	}
	if v, _ := after.value("maskcall_queue_depth", "queue", "sms_relay"); v != 0 {
		t.Errorf("sms_relay queue_depth = %v after the text was relayed", v)
	}
	// The route index answered (or, while it loaded, handed to the store)
	// both authentic calls, and holds the one conversation.
	if v, _ := after.value("maskcall_route_index_loaded"); v != 1 {
		t.Errorf("route_index_loaded = %v", v)
	}
	if v, _ := after.value("maskcall_route_index_conversations"); v != 1 {
		t.Errorf("route_index_conversations = %v, want 1", v)
	}
	if got := delta("maskcall_route_index_version_checks_total") + delta("maskcall_route_index_store_lookups_total"); got < 1 {
		t.Errorf("the route index saw no call: checks and store lookups moved by %v", got)
	}

	// No phone number in any label value.
	for name, f := range after {
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if digitRunRE.MatchString(lp.GetValue()) {
					t.Errorf("%s has label %s=%q: a phone number?", name, lp.GetName(), lp.GetValue())
				}
			}
		}
	}
}

// Metrics are off by default: nothing is said about them and nothing
// listens for them.
func TestMetricsOffByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	srv := startServe(t, e)
	if strings.Contains(srv.stderr.String(), "Metrics:") {
		t.Errorf("serve mentions metrics without --metrics-listen:\n%s", srv.stderr.String())
	}
	if resp, err := http.Get(srv.URL + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the webhook listener = %v %v, want 404", resp, err)
	}
}

// The listener comes from MASKCALL_SERVE_METRICS_LISTEN (serve.metrics_listen)
// too; a port in use fails at start, saying what to do.
func TestMetricsListenConfig(t *testing.T) {
	t.Parallel()
	e := newEnv(t).with("MASKCALL_SERVE_METRICS_LISTEN", "127.0.0.1:0")
	srv := startServe(t, e)
	url := srv.metricsURL(t)
	if s := scrapeMetrics(t, url); s["maskcall_answer_duration_seconds"] == nil {
		t.Errorf("no answer histogram at %s", url)
	}
	busy := strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/metrics")
	_, line := runFail(t, e, -1, "serve", "--listen", "127.0.0.1:0", "--metrics-listen", busy)
	if !strings.Contains(line, "metrics server cannot listen on "+busy) {
		t.Errorf("a metrics port in use says %q", line)
	}
}
