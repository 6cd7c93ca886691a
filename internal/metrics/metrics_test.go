package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/routeindex"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

var testLabels = Labels{
	AnswerOutcomes:     []string{"connected", "not_in_service"},
	Webhooks:           []string{"answer"},
	RefusalReasons:     []string{"missing"},
	CallStatuses:       []string{"completed"},
	EventResults:       []string{"recorded"},
	InboundSMSOutcomes: []string{"received"},
	StoreOperations:    []string{"answer_call"},
}

// The hot path allocates nothing: label values were curried in New.
func TestObserveAllocatesNothing(t *testing.T) {
	m := New(testLabels)
	if n := testing.AllocsPerRun(1000, func() { m.ObserveAnswer("connected", time.Millisecond) }); n != 0 {
		t.Errorf("ObserveAnswer allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { m.ObserveEvent("completed", "recorded") }); n != 0 {
		t.Errorf("ObserveEvent allocates %v times", n)
	}
	if n := testing.AllocsPerRun(1000, func() { m.ObserveRefused("answer", "missing") }); n != 0 {
		t.Errorf("ObserveRefused allocates %v times", n)
	}
}

// A value outside the fixed sets is counted as "other", never as itself.
func TestUnknownLabelsAreOther(t *testing.T) {
	m := New(testLabels)
	m.ObserveAnswer("+447700900123", time.Millisecond)
	m.ObserveEvent("447700900123", "recorded")
	m.ObserveRefused("447700900123", "447700900123")
	m.ObserveInboundSMS("447700900123")
	m.ObserveStoreError("answer_call", "447700900123")
	out := scrapeText(t, m)
	if strings.Contains(out, "7700900") {
		t.Fatalf("a number became a label:\n%s", out)
	}
	for _, want := range []string{
		`maskcall_answer_duration_seconds_count{outcome="other"} 1`,
		`maskcall_call_events_total{result="recorded",status="other"} 1`,
		`maskcall_webhook_verification_failures_total{reason="other",webhook="other"} 1`,
		`maskcall_inbound_sms_total{outcome="other"} 1`,
		`maskcall_store_errors_total{code="internal",operation="answer_call"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %s in\n%s", want, grep(out, "maskcall_"))
		}
	}
}

func scrapeText(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		t.Fatalf("scrape: %d", rec.Code)
	}
	return rec.Body.String()
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

type fakeStats struct {
	active int
	pool   []maskcall.PoolStat
	err    error
	block  bool
}

func (f *fakeStats) CountActiveConversations(ctx context.Context) (int, error) {
	if f.block {
		<-ctx.Done()
		return 0, &maskcall.Error{Code: maskcall.ESTORE, Err: ctx.Err()}
	}
	return f.active, f.err
}
func (f *fakeStats) PoolStats(ctx context.Context) ([]maskcall.PoolStat, error) { return f.pool, f.err }

func TestStoreCollector(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	st := &fakeStats{active: 42, pool: []maskcall.PoolStat{
		{Country: "GB", Status: maskcall.NumberActive, Numbers: 3, Free: 1},
		{Country: "GB", Status: maskcall.NumberUnconfigured, Numbers: 1},
		{Country: "", Status: maskcall.NumberActive, Numbers: 2, Free: 2},
		{Country: "4477", Status: maskcall.NumberActive, Numbers: 1},
	}}
	c := &StoreCollector{Stats: st, Now: func() time.Time { return now }, Queues: map[string]QueueFunc{
		QueueSMSRelay: func(context.Context, time.Time) (maskcall.QueueStats, error) {
			return maskcall.QueueStats{Depth: 5, OldestDue: now.Add(-90 * time.Second)}, nil
		},
	}}
	want := `
# HELP maskcall_conversations_active Conversations not ended (one that expired counts until the sweep ends it, within 15 s).
# TYPE maskcall_conversations_active gauge
maskcall_conversations_active 42
# HELP maskcall_pool_free_numbers Active pool numbers that no active conversation uses, by country.
# TYPE maskcall_pool_free_numbers gauge
maskcall_pool_free_numbers{country="GB"} 1
maskcall_pool_free_numbers{country="other"} 0
maskcall_pool_free_numbers{country="unknown"} 2
# HELP maskcall_pool_numbers Pool numbers not released, by country (ISO 3166-1 alpha-2) and status.
# TYPE maskcall_pool_numbers gauge
maskcall_pool_numbers{country="GB",status="active"} 3
maskcall_pool_numbers{country="GB",status="unconfigured"} 1
maskcall_pool_numbers{country="other",status="active"} 1
maskcall_pool_numbers{country="unknown",status="active"} 2
# HELP maskcall_queue_depth Jobs not settled (waiting, or claimed and in flight), by queue.
# TYPE maskcall_queue_depth gauge
maskcall_queue_depth{queue="sms_relay"} 5
# HELP maskcall_queue_oldest_age_seconds How long the job waiting longest has been due, by queue; 0 when none is due.
# TYPE maskcall_queue_oldest_age_seconds gauge
maskcall_queue_oldest_age_seconds{queue="sms_relay"} 90
# HELP maskcall_store_stats_up 1 if every store query of this scrape answered in time, else 0.
# TYPE maskcall_store_stats_up gauge
maskcall_store_stats_up 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "maskcall_conversations_active", "maskcall_pool_free_numbers",
		"maskcall_pool_numbers", "maskcall_queue_depth", "maskcall_queue_oldest_age_seconds", "maskcall_store_stats_up"); err != nil {
		t.Error(err)
	}

	// A store that does not answer: the scrape ends at the deadline, up 0,
	// and the failure is counted.
	m := New(testLabels)
	blocked := &StoreCollector{Stats: &fakeStats{block: true, err: errors.New("down")}, Timeout: 50 * time.Millisecond, Metrics: m}
	start := time.Now()
	reg := prometheus.NewRegistry()
	reg.MustRegister(blocked)
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the scrape took %s", d)
	}
	if err := testutil.CollectAndCompare(blocked, strings.NewReader(`
# HELP maskcall_store_stats_up 1 if every store query of this scrape answered in time, else 0.
# TYPE maskcall_store_stats_up gauge
maskcall_store_stats_up 0
`), "maskcall_store_stats_up"); err != nil {
		t.Error(err)
	}
	if out := scrapeText(t, m); !strings.Contains(out, `maskcall_store_errors_total{code="unavailable",operation="stats_conversations"}`) {
		t.Errorf("the failed query is not counted:\n%s", grep(out, "store_errors"))
	}
}

// Vonage's requests are counted by the endpoint name the caller gives and
// the reply's status; a request that got no reply is "error".
func TestTransport(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/calls/abc" {
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer up.Close()
	m := New(testLabels)
	hc := &http.Client{Transport: m.Transport(nil, func(r *http.Request) string { return "ep" + r.Method })}
	for _, p := range []string{"/sms/json", "/v1/calls/abc"} {
		resp, err := hc.Get(up.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if _, err := hc.Get("http://127.0.0.1:1/"); err == nil {
		t.Fatal("port 1 answered")
	}
	want := `
# HELP maskcall_vonage_requests_total Requests to Vonage's APIs, by endpoint (a route name) and HTTP status ("error" when no reply came).
# TYPE maskcall_vonage_requests_total counter
maskcall_vonage_requests_total{endpoint="epGET",status="200"} 1
maskcall_vonage_requests_total{endpoint="epGET",status="404"} 1
maskcall_vonage_requests_total{endpoint="epGET",status="error"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "maskcall_vonage_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestRouteIndexCollector(t *testing.T) {
	c := &RouteIndexCollector{Stats: func() routeindex.Stats {
		return routeindex.Stats{Loaded: true, Conversations: 7, Checks: 30, Applied: 4, Fallbacks: 2, Loads: 1,
			Watching: true, Announcements: 9, Unchecked: 40}
	}}
	want := `
# HELP maskcall_route_index_conversations Conversations in the route index.
# TYPE maskcall_route_index_conversations gauge
maskcall_route_index_conversations 7
# HELP maskcall_route_index_loaded 1 while serve answers calls from its route index; 0 while it loads (the database answers).
# TYPE maskcall_route_index_loaded gauge
maskcall_route_index_loaded 1
# HELP maskcall_route_index_store_lookups_total Calls the database's own lookup answered (the index loading, or a version check failed).
# TYPE maskcall_route_index_store_lookups_total counter
maskcall_route_index_store_lookups_total 2
# HELP maskcall_route_index_version_checks_total Reads of the database's route version (each serves the calls that arrived while the one before ran).
# TYPE maskcall_route_index_version_checks_total counter
maskcall_route_index_version_checks_total 30
# HELP maskcall_route_index_watching 1 while calls check the route version only after a change was announced (PostgreSQL's LISTEN) or published (SQLite's <db>-routes file); 0: every call checks.
# TYPE maskcall_route_index_watching gauge
maskcall_route_index_watching 1
# HELP maskcall_route_index_announcements_total Route changes announced to the index (its own process's and, through the database, others').
# TYPE maskcall_route_index_announcements_total counter
maskcall_route_index_announcements_total 9
# HELP maskcall_route_index_unchecked_lookups_total Calls answered without a route version check, nothing having been announced or published since the last.
# TYPE maskcall_route_index_unchecked_lookups_total counter
maskcall_route_index_unchecked_lookups_total 40
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "maskcall_route_index_conversations", "maskcall_route_index_loaded",
		"maskcall_route_index_store_lookups_total", "maskcall_route_index_version_checks_total",
		"maskcall_route_index_watching", "maskcall_route_index_announcements_total", "maskcall_route_index_unchecked_lookups_total"); err != nil {
		t.Error(err)
	}
	// SQLite: nothing announced, the version published.
	for _, s := range []routeindex.Stats{{Publishing: true}, {}} {
		c := &RouteIndexCollector{Stats: func() routeindex.Stats { return s }}
		want := "0"
		if s.Publishing {
			want = "1"
		}
		text := "# HELP maskcall_route_index_watching 1 while calls check the route version only after a change was announced (PostgreSQL's LISTEN) or published (SQLite's <db>-routes file); 0: every call checks.\n" +
			"# TYPE maskcall_route_index_watching gauge\nmaskcall_route_index_watching " + want + "\n"
		if err := testutil.CollectAndCompare(c, strings.NewReader(text), "maskcall_route_index_watching"); err != nil {
			t.Errorf("publishing %v: %v", s.Publishing, err)
		}
	}
}
