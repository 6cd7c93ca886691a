package main

// End-to-end tests of how `conversation create` checks numbers now that
// Number Insight is being retired (issue 14): Identity Insights' format
// insight by default when the application key is configured, offline only
// otherwise, basic with a deprecation warning.

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/maskcall/maskcall/internal/sandbox"
)

const identityInsights = "POST " + sandbox.IdentityInsightsPath

// insightCounts returns how many Identity Insights and Number Insight
// requests the sandbox got after the first skip requests.
func insightCounts(sb *sandbox.Sandbox, skip int) (identity, basic int) {
	for _, r := range sb.Requests()[skip:] {
		switch r.Method + " " + r.Path {
		case identityInsights:
			identity++
		case "GET /ni/basic/json":
			basic++
		}
	}
	return identity, basic
}

// noConversationCreated checks that nothing was stored or texted.
func noConversationCreated(t *testing.T, e *testEnv) {
	t.Helper()
	if cs := listConversations(t, e, "all"); len(cs) != 0 {
		t.Errorf("conversations were created: %+v", cs)
	}
	if n := len(e.SB.SentSMS()); n != 0 {
		t.Errorf("%d texts sent", n)
	}
	for _, n := range listNumbers(t, e, "") {
		if n.ActiveConversations != 0 {
			t.Errorf("%s has %d active conversations", n.Number, n.ActiveConversations)
		}
	}
}

// With the application key configured, the default checks both numbers
// with the format insight (JWT-authenticated), says nothing about it, and
// --insight format does the same.
func TestInsightFormatByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")

	for _, extra := range [][]string{nil, {"--insight", "format"}, {"--insight", "auto"}} {
		before := len(e.SB.Requests())
		args := append([]string{"conversation", "create", "+44 7700 900123", "+44 20 7946 0321", "--no-sms", "-o", "json"}, extra...)
		out, stderr, code := run(t, e, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", extra, code, stderr)
		}
		c := decodeJSON[conversation](t, out)
		if c.Status != "active" {
			t.Fatalf("%v: conversation %+v", extra, c)
		}
		if strings.Contains(stderr, "Warning") || strings.Contains(stderr, "deprecated") {
			t.Errorf("%v: unexpected warning: %s", extra, stderr)
		}
		identity, basic := insightCounts(e.SB, before)
		if identity != 2 || basic != 0 {
			t.Errorf("%v: %d Identity Insights and %d Number Insight requests, want 2 and 0", extra, identity, basic)
		}
		runOK(t, e, "conversation", "end", c.ID)
	}
	for _, r := range requestsTo(e.SB, identityInsights) {
		if r.Auth != "Bearer" || r.Query.Get("api_secret") != "" {
			t.Errorf("Identity Insights request not authenticated with the application JWT alone: %+v", r)
		}
		if !strings.Contains(r.Body, `"insights":{"format":{}}`) {
			t.Errorf("request body %s does not ask for the format insight", r.Body)
		}
	}
}

// The format insight's verdict refuses a number: exit 2, nothing created.
func TestInsightFormatInvalid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")

	// INVALID_NUMBER_FORMAT, as the sandbox's fault.
	if err := e.SB.InjectFault(sandbox.Fault{Path: sandbox.IdentityInsightsPath, ErrorCode: sandbox.IIInvalidNumberFormat}); err != nil {
		t.Fatal(err)
	}
	_, line := runFail(t, e, 2, "conversation", "create", "+447700900123", "+442079460321", "--label-a", "driver")
	if !strings.Contains(line, "Identity Insights") || !strings.Contains(line, "not a valid number") || !strings.Contains(line, "driver") {
		t.Errorf("error line %q does not say Identity Insights refused the driver's number", line)
	}
	if strings.Contains(line, "447700900123") {
		t.Errorf("error line shows the number in full: %s", line)
	}
	noConversationCreated(t, e)

	// is_format_valid false in an OK reply, for the second number.
	e.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != sandbox.IdentityInsightsPath {
			return false
		}
		body, _ := io.ReadAll(r.Body)
		if !strings.Contains(string(body), "442079460321") {
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			return false
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"request_id":"0b4f3f6e-0000-4a5b-9e8f-7a6b5c4d3e2f","insights":{"format":{"country_code":"GB","is_format_valid":false,"status":{"code":"OK","message":"Success"}}}}`)
		return true
	})
	_, line = runFail(t, e, 2, "conversation", "create", "+447700900123", "+442079460321", "--label-b", "rider")
	if !strings.Contains(line, "rider") || !strings.Contains(line, "not a valid number") {
		t.Errorf("error line %q does not name the rider's number as invalid", line)
	}
	noConversationCreated(t, e)
}

// Without the application key the default is offline only: no request to
// any insight API, bad numbers still refused offline; asking for format
// explicitly is a configuration error.
func TestInsightOfflineWithoutKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	noKey := e.without("VONAGE_PRIVATE_KEY_PATH")

	before := len(e.SB.Requests())
	c := decodeJSON[conversation](t, runOK(t, noKey, "conversation", "create", "+447700900123", "+442079460321", "--no-sms", "-o", "json"))
	if c.Status != "active" {
		t.Fatalf("conversation %+v", c)
	}
	if identity, basic := insightCounts(e.SB, before); identity != 0 || basic != 0 {
		t.Errorf("offline only, yet %d Identity Insights and %d Number Insight requests", identity, basic)
	}
	runOK(t, noKey, "conversation", "end", c.ID)

	before = len(e.SB.Requests())
	runFail(t, noKey, 2, "conversation", "create", "+447700900123", "+44123", "--no-sms")
	_, line := runFail(t, noKey, 3, "conversation", "create", "+447700900123", "+442079460321", "--no-sms", "--insight", "format")
	if !strings.Contains(line, "private key") || !strings.Contains(line, "VONAGE_PRIVATE_KEY_PATH") {
		t.Errorf("error line %q does not say the private key is needed and how to set it", line)
	}
	for _, r := range e.SB.Requests()[before:] {
		t.Errorf("refused create sent %s %s", r.Method, r.Path)
	}
	// The configuration can choose offline only even with a key.
	before = len(e.SB.Requests())
	runOK(t, e.with("MASKCALL_CONVERSATION_INSIGHT", "none"), "conversation", "create", "+447700900124", "+442079460322", "--no-sms")
	if identity, basic := insightCounts(e.SB, before); identity != 0 || basic != 0 {
		t.Errorf("conversation.insight none, yet %d and %d insight requests", identity, basic)
	}
	_, line = runFail(t, e.with("MASKCALL_CONVERSATION_INSIGHT", "advanced"), 3, "conversation", "create", "+447700900125", "+442079460323", "--no-sms")
	if !strings.Contains(line, "conversation.insight") {
		t.Errorf("error line %q does not name the setting", line)
	}
}

// --insight basic still works until the retirement, with a warning on
// stderr naming the date and the replacement; so does conversation.insight.
func TestInsightBasicDeprecated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	for i, env := range []*testEnv{e, e.with("MASKCALL_CONVERSATION_INSIGHT", "basic")} {
		args := []string{"conversation", "create", "+447700900123", "+442079460321", "--no-sms", "-o", "json"}
		if i == 0 {
			args = append(args, "--insight", "basic")
		}
		before := len(e.SB.Requests())
		out, stderr, code := run(t, env, args...)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		for _, want := range []string{"deprecated", "February 2027", "Identity Insights", "--insight format"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("stderr does not mention %q:\n%s", want, stderr)
			}
		}
		if strings.Contains(out, "deprecated") {
			t.Errorf("the warning went to stdout: %s", out)
		}
		identity, basic := insightCounts(e.SB, before)
		if identity != 0 || basic != 2 {
			t.Errorf("%d Identity Insights and %d Number Insight requests, want 0 and 2", identity, basic)
		}
		runOK(t, e, "conversation", "end", decodeJSON[conversation](t, out).ID)
	}
}

// When Identity Insights cannot give a verdict (a supplier error that
// persists through the retries, no coverage, no reply at all) the create
// fails with a clear message and nothing is created.
func TestInsightFaultCreatesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	runOK(t, e, "numbers", "provision", "--country", "GB", "--count", "2")
	for _, tc := range []struct {
		name     string
		fault    *sandbox.Fault
		cut      bool // close the connection without a reply
		want     string
		requests int
	}{
		{name: "supplier error", fault: &sandbox.Fault{ErrorCode: sandbox.IISupplierError, Count: -1}, want: "could not check", requests: 4},
		{name: "no coverage", fault: &sandbox.Fault{ErrorCode: sandbox.IINoCoverage, Count: -1}, want: "could not check", requests: 1},
		{name: "no reply", cut: true, want: "Could not reach Vonage", requests: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.SB.ClearFaults()
			e.setHook(nil)
			if tc.fault != nil {
				tc.fault.Path = sandbox.IdentityInsightsPath
				if err := e.SB.InjectFault(*tc.fault); err != nil {
					t.Fatal(err)
				}
			}
			var cut atomic.Int32
			if tc.cut {
				e.setHook(func(w http.ResponseWriter, r *http.Request) bool {
					if r.URL.Path != sandbox.IdentityInsightsPath {
						return false
					}
					cut.Add(1)
					conn, _, err := w.(http.Hijacker).Hijack()
					if err == nil {
						conn.Close()
					}
					return true
				})
			}
			before := len(e.SB.Requests())
			_, line := runFail(t, e, 1, "conversation", "create", "+447700900123", "+442079460321", "--label-a", "driver")
			for _, want := range []string{tc.want, "nothing was created", "+44*******123"} {
				if !strings.Contains(line, want) {
					t.Errorf("error line %q does not say %q", line, want)
				}
			}
			e.setHook(nil)
			identity, _ := insightCounts(e.SB, before)
			if tc.cut {
				identity = int(cut.Load())
			}
			if identity != tc.requests {
				t.Errorf("%d Identity Insights requests, want %d", identity, tc.requests)
			}
			noConversationCreated(t, e)
		})
	}
}
