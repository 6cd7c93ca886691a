package maskcall_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sandbox"
	"github.com/maskcall/maskcall/internal/vonage"
)

func TestResolveInsight(t *testing.T) {
	before := maskcall.NumberInsightRetirement.Add(-time.Hour)
	after := maskcall.NumberInsightRetirement
	for _, tc := range []struct {
		choice string
		keyed  bool
		now    time.Time
		want   maskcall.InsightKind
		code   string
	}{
		{"", true, before, maskcall.InsightFormat, ""},
		{"auto", true, before, maskcall.InsightFormat, ""},
		{"AUTO", false, before, maskcall.InsightNone, ""},
		{"auto", false, after, maskcall.InsightNone, ""},
		{"format", true, after, maskcall.InsightFormat, ""},
		{"format", false, before, "", maskcall.ECONFIG},
		{"basic", false, before, maskcall.InsightBasic, ""},
		{"basic", true, after, "", maskcall.ECONFIG},
		{"none", true, before, maskcall.InsightNone, ""},
		{"advanced", true, before, "", maskcall.EINVALID},
	} {
		got, err := maskcall.ResolveInsight(tc.choice, tc.keyed, tc.now)
		if got != tc.want || maskcall.ErrorCode(err) != tc.code {
			t.Errorf("ResolveInsight(%q, %v, %s) = %q, %v; want %q, code %q", tc.choice, tc.keyed, tc.now, got, err, tc.want, tc.code)
		}
	}
	// The refusal after the retirement names the replacement.
	_, err := maskcall.ResolveInsight("basic", true, after)
	if m := maskcall.ErrorMessage(err); !strings.Contains(m, "February 2027") || !strings.Contains(m, "format insight") {
		t.Errorf("message %q does not name the date and the replacement", m)
	}
	w := maskcall.InsightBasic.DeprecationWarning()
	if !strings.Contains(w, "February 2027") || !strings.Contains(w, "Identity Insights") {
		t.Errorf("deprecation warning %q does not name the date and the replacement", w)
	}
	if maskcall.InsightFormat.DeprecationWarning() != "" || maskcall.InsightNone.DeprecationWarning() != "" {
		t.Error("a warning for a kind that is not deprecated")
	}
}

// patient gives requests a deadline no loaded machine reaches, so that
// only the faults injected cause retries and request counts are exact.
func patient(c *vonage.Config) { c.Timeout = time.Minute }

// The format insight checks both numbers through Identity Insights and the
// country comes from its reply.
func TestCreateFormatInsight(t *testing.T) {
	e := newEnv(t, patient)
	fill(t, e, 2)
	// The offline country is wrong on purpose: the reply's country_code wins.
	b := bob
	b.Country = "FR"
	res := create(t, e, maskcall.CreateRequest{A: alice, B: b, Insight: maskcall.InsightFormat})
	// Each number asked about (a slow reply under load may be asked again).
	asked := map[string]bool{}
	for _, r := range e.sb.Requests() {
		if r.Path == sandbox.IdentityInsightsPath {
			for _, n := range []string{alice.Number, bob.Number} {
				if strings.Contains(r.Body, `"phone_number":"`+strings.TrimPrefix(n, "+")+`"`) {
					asked[n] = true
				}
			}
		}
	}
	if len(asked) != 2 {
		t.Fatalf("Identity Insights was asked about %v, want both numbers: %q", asked, calls(e.sb))
	}
	if n := count(e.sb, http.MethodGet, "/ni/basic/json"); n != 0 {
		t.Fatalf("%d Number Insight requests", n)
	}
	stored, err := e.db.FindConversationByID(t.Context(), res.Conversation.ID, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range stored.Participants {
		if p.Country != "GB" {
			t.Errorf("participant %s has country %q, want GB from the format insight", p.Number, p.Country)
		}
	}
	for _, r := range e.sb.Requests() {
		if r.Path == sandbox.IdentityInsightsPath && r.Auth != "Bearer" {
			t.Errorf("Identity Insights request authenticated with %q, want Bearer", r.Auth)
		}
	}
}

func TestCreateFormatInsightSaysInvalid(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 2)
	inject(t, e.sb, sandbox.Fault{Path: sandbox.IdentityInsightsPath, ErrorCode: sandbox.IIInvalidNumberFormat})
	_, err := e.svc.Create(t.Context(), maskcall.CreateRequest{A: alice, B: bob, Insight: maskcall.InsightFormat, Notify: true})
	wantCode(t, err, maskcall.EINVALIDNUMBER)
	if m := maskcall.ErrorMessage(err); !strings.Contains(m, "Identity Insights") || !strings.Contains(m, "Alice") {
		t.Errorf("message %q does not say who refused which participant", m)
	}
	noFullNumber(t, err, alice.Number, bob.Number)
	noConversations(t, e)
	if len(e.sb.SentSMS()) != 0 {
		t.Error("SMS sent")
	}
}

// When Identity Insights cannot give a verdict nothing is created; what is
// safe to retry is retried first.
func TestCreateFormatInsightFails(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fault    sandbox.Fault
		code     string
		requests int
	}{
		{"supplier error", sandbox.Fault{ErrorCode: sandbox.IISupplierError, Count: -1}, maskcall.EUPSTREAM, 4},
		{"internal error", sandbox.Fault{ErrorCode: sandbox.IIInternalError, Count: -1}, maskcall.EUPSTREAM, 4},
		{"no coverage", sandbox.Fault{ErrorCode: sandbox.IINoCoverage, Count: -1}, maskcall.EUPSTREAM, 1},
		{"unavailable", sandbox.Fault{Status: http.StatusServiceUnavailable, Count: -1}, maskcall.EUNAVAILABLE, 4},
		{"once", sandbox.Fault{ErrorCode: sandbox.IISupplierError}, "", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, patient)
			fill(t, e, 2)
			tc.fault.Path = sandbox.IdentityInsightsPath
			inject(t, e.sb, tc.fault)
			_, err := e.svc.Create(t.Context(), maskcall.CreateRequest{A: alice, B: bob, Insight: maskcall.InsightFormat, Notify: true})
			if n := count(e.sb, http.MethodPost, sandbox.IdentityInsightsPath); n != tc.requests {
				t.Errorf("%d Identity Insights requests, want %d", n, tc.requests)
			}
			if tc.code == "" {
				if err != nil {
					t.Fatalf("a passing failure, retried, failed the create: %v", err)
				}
				return
			}
			wantCode(t, err, tc.code)
			if m := maskcall.ErrorMessage(err); !strings.Contains(m, "nothing was created") {
				t.Errorf("message %q does not say nothing was created", m)
			}
			noFullNumber(t, err, alice.Number, bob.Number)
			noConversations(t, e)
			if len(e.sb.SentSMS()) != 0 {
				t.Error("SMS sent")
			}
		})
	}
}

// A service without an insight client refuses a check it cannot make
// rather than skip it.
func TestCreateInsightWithoutClient(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 2)
	e.svc.Insight = nil
	_, err := e.svc.Create(t.Context(), maskcall.CreateRequest{A: alice, B: bob, Insight: maskcall.InsightFormat})
	wantCode(t, err, maskcall.ECONFIG)
	noConversations(t, e)
}
