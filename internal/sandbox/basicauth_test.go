package sandbox

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// basicReq builds a request with HTTP Basic credentials, as the official
// SDKs send them, and no api_key/api_secret parameters.
func basicReq(t *testing.T, method, u string, form url.Values, key, secret string) *http.Request {
	t.Helper()
	var req *http.Request
	var err error
	if form != nil {
		req, err = http.NewRequest(method, u, strings.NewReader(form.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		req, err = http.NewRequest(method, u, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(key, secret)
	return req
}

// Numbers, SMS and Number Insight take HTTP Basic as well as parameters;
// wrong Basic credentials get HTTP 401, whatever the parameters say.
func TestBasicAuth(t *testing.T) {
	sb, base := newTestServer(t, Config{})
	apis := []struct {
		name   string
		method string
		path   string
		form   url.Values
		ok     func(t *testing.T, r response)
	}{
		{"search", http.MethodGet, "/number/search?country=GB", nil, func(t *testing.T, r response) {
			wantStatus(t, r, http.StatusOK)
			if n, _ := r.json(t)["count"].(float64); n == 0 {
				t.Fatalf("no numbers: %s", r.body)
			}
		}},
		{"buy", http.MethodPost, "/number/buy", url.Values{"country": {"GB"}, "msisdn": {"447700900000"}}, func(t *testing.T, r response) {
			wantNumbersReply(t, r, http.StatusOK, "200")
		}},
		{"owned", http.MethodGet, "/account/numbers", nil, func(t *testing.T, r response) {
			wantStatus(t, r, http.StatusOK)
			if n, _ := r.json(t)["count"].(float64); n != 1 {
				t.Fatalf("owned count %v after the buy: %s", n, r.body)
			}
		}},
		{"insight", http.MethodGet, "/ni/basic/json?number=447700900123", nil, func(t *testing.T, r response) {
			wantStatus(t, r, http.StatusOK)
			if m := r.json(t); m["status"] != float64(0) || m["country_code"] != "GB" {
				t.Fatalf("insight %s", r.body)
			}
		}},
		{"sms", http.MethodPost, "/sms/json", url.Values{"from": {"447700900000"}, "to": {"447700900123"}, "text": {"hi"}}, func(t *testing.T, r response) {
			wantStatus(t, r, http.StatusOK)
			if !strings.Contains(string(r.body), `"status":"0"`) {
				t.Fatalf("sms %s", r.body)
			}
		}},
	}
	for _, api := range apis {
		t.Run(api.name, func(t *testing.T) {
			api.ok(t, do(t, basicReq(t, api.method, base+api.path, api.form, testKey, testSecret)))

			// Wrong Basic credentials: 401, even with good parameters.
			withParams := base + api.path
			form := api.form
			if form != nil {
				form = url.Values{}
				for k, v := range api.form {
					form[k] = v
				}
				form.Set("api_key", testKey)
				form.Set("api_secret", testSecret)
			} else {
				sep := "?"
				if strings.Contains(withParams, "?") {
					sep = "&"
				}
				withParams += sep + creds().Encode()
			}
			for _, bad := range [][2]string{{testKey, "wrong"}, {"other", testSecret}, {"", ""}} {
				r := do(t, basicReq(t, api.method, withParams, form, bad[0], bad[1]))
				if r.status != http.StatusUnauthorized {
					t.Fatalf("Basic %q:%q: HTTP %d, want 401: %s", bad[0], bad[1], r.status, r.body)
				}
				if strings.Contains(string(r.body), testSecret) {
					t.Fatalf("reply shows the secret: %s", r.body)
				}
			}
			// A Basic header that is not base64: refused too.
			req := basicReq(t, api.method, withParams, form, testKey, testSecret)
			req.Header.Set("Authorization", "Basic !!!")
			if r := do(t, req); r.status != http.StatusUnauthorized {
				t.Fatalf("malformed Basic: HTTP %d, want 401", r.status)
			}
		})
	}
	// The log says how each request authenticated and never shows the secret.
	for _, rec := range sb.Requests() {
		if rec.Auth != "Basic" {
			t.Errorf("%s %s logged with auth %q, want Basic", rec.Method, rec.Path, rec.Auth)
		}
		for _, vs := range []url.Values{rec.Query, rec.Form} {
			if v := vs.Get("api_secret"); v != "" && v != masked {
				t.Errorf("%s %s logged the secret", rec.Method, rec.Path)
			}
		}
	}
}

// GET /_sandbox/ lists every inspection and fault endpoint and the Vonage
// API routes, and each listed GET endpoint answers.
func TestSandboxIndex(t *testing.T) {
	sb, base := newTestServer(t, Config{})
	var idx Index
	r := get(t, base, "/_sandbox/", nil)
	wantStatus(t, r, http.StatusOK)
	r.decode(t, &idx)
	if idx.About == "" || len(idx.API) != len(sb.apiRoutes) {
		t.Fatalf("index %+v", idx)
	}
	listed := map[string]bool{}
	for _, e := range idx.Sandbox {
		if e.What == "" || !strings.HasPrefix(e.Path, "/_sandbox/") {
			t.Errorf("endpoint %+v: no description or not under /_sandbox/", e)
		}
		listed[e.Method+" "+e.Path] = true
		if e.Method == http.MethodGet && !strings.Contains(e.Path, "{") {
			if r := get(t, base, e.Path, nil); r.status != http.StatusOK {
				t.Errorf("%s %s: HTTP %d", e.Method, e.Path, r.status)
			}
		}
	}
	for _, want := range []string{"GET /_sandbox/requests", "GET /_sandbox/sms", "POST /_sandbox/faults", "DELETE /_sandbox/faults",
		"GET /_sandbox/faults", "POST /_sandbox/reset", "POST /_sandbox/calls", "GET /_sandbox/numbers", "POST /_sandbox/owned"} {
		if !listed[want] {
			t.Errorf("index does not list %s", want)
		}
	}
	for _, e := range idx.API {
		if e.Path == IdentityInsightsPath && e.Method == http.MethodPost {
			return
		}
	}
	t.Errorf("index API list %+v lacks Identity Insights", idx.API)
}
