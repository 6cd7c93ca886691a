package sandbox

import (
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// identitySandbox is a sandbox checking Identity Insights tokens against
// the application's public key, and a valid token for it.
func identitySandbox(t *testing.T) (*Sandbox, string, string, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sb, base := newTestServer(t, Config{ApplicationID: testAppID, ApplicationPublicKey: &key.PublicKey, Now: func() time.Time { return testEpoch }})
	tok := appToken(t, jwt.SigningMethodRS256, key, jwt.MapClaims{"exp": testEpoch.Add(time.Minute).Unix()})
	return sb, base, tok, key
}

func formatRequest(number string) map[string]any {
	return map[string]any{"phone_number": number, "insights": map[string]any{"format": map[string]any{}}}
}

// formatOf returns the format insight of a reply, checking the reply's
// shape (vonage-spec/README.md: request_id, insights.format with its
// fields and status).
func formatOf(t *testing.T, r response) map[string]any {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	m := r.json(t)
	if id, _ := m["request_id"].(string); !uuidRE.MatchString(id) {
		t.Fatalf("request_id %v is not a uuid: %s", m["request_id"], r.body)
	}
	ins, _ := m["insights"].(map[string]any)
	f, ok := ins["format"].(map[string]any)
	if !ok {
		t.Fatalf("no insights.format: %s", r.body)
	}
	st, _ := f["status"].(map[string]any)
	code, _ := st["code"].(string)
	if _, known := iiStatusMessages[code]; !known {
		t.Fatalf("status.code %q is not an Identity Insights status: %s", code, r.body)
	}
	if msg, _ := st["message"].(string); msg == "" {
		t.Fatalf("status.message empty: %s", r.body)
	}
	if _, ok := f["is_format_valid"].(bool); !ok {
		t.Fatalf("is_format_valid missing or not a boolean: %s", r.body)
	}
	return f
}

func TestIdentityInsightsFormat(t *testing.T) {
	_, base, tok, _ := identitySandbox(t)
	u := base + IdentityInsightsPath
	auth := []string{"Authorization", "Bearer " + tok}

	// A valid number, in each form the API accepts.
	for _, in := range []string{"447700900123", "+447700900123", "+44 (7700) 900-123"} {
		f := formatOf(t, sendJSON(t, http.MethodPost, u, formatRequest(in), auth...))
		want := map[string]any{
			"country_code": "GB", "country_name": "United Kingdom", "country_prefix": "44",
			"number_international": "+447700900123", "number_national": "07700 900123", "is_format_valid": true,
		}
		for k, v := range want {
			if f[k] != v {
				t.Errorf("%s: %s = %v, want %v", in, k, f[k], v)
			}
		}
		if tz, _ := f["time_zones"].([]any); !slices.Contains(tz, any("Europe/London")) {
			t.Errorf("%s: time_zones %v", in, f["time_zones"])
		}
		if st := f["status"].(map[string]any); st["code"] != IIOK {
			t.Errorf("%s: status %v", in, st)
		}
	}
	// A US number: another country, prefix and zone.
	f := formatOf(t, sendJSON(t, http.MethodPost, u, formatRequest("12025550123"), auth...))
	if f["country_code"] != "US" || f["country_prefix"] != "1" || f["is_format_valid"] != true || f["number_international"] != "+12025550123" {
		t.Errorf("US number: %v", f)
	}

	// Possible but not valid: the verdict is is_format_valid false.
	f = formatOf(t, sendJSON(t, http.MethodPost, u, formatRequest("441110000000"), auth...))
	if f["is_format_valid"] != false || f["country_code"] != "GB" {
		t.Errorf("unassigned UK range: %v", f)
	}
	// Not a possible number at all, and the 00 prefix the API refuses.
	for _, in := range []string{"44123", "9991234567", "00447700900123", "hello"} {
		f := formatOf(t, sendJSON(t, http.MethodPost, u, formatRequest(in), auth...))
		if st := f["status"].(map[string]any); st["code"] != IIInvalidNumberFormat || f["is_format_valid"] != false {
			t.Errorf("%s: %v, want INVALID_NUMBER_FORMAT", in, f)
		}
	}

	// Other insights are answered one by one, not computed.
	r := sendJSON(t, http.MethodPost, u, map[string]any{"phone_number": "447700900123", "purpose": "FraudPreventionAndDetection",
		"insights": map[string]any{"format": map[string]any{}, "sim_swap": map[string]any{"period": 240}}}, auth...)
	ins := r.json(t)["insights"].(map[string]any)
	if ss, _ := ins["sim_swap"].(map[string]any); ss["status"].(map[string]any)["code"] != IINoCoverage {
		t.Errorf("sim_swap: %v", ins["sim_swap"])
	}
	formatOf(t, r)
}

func TestIdentityInsightsRefusesBadRequests(t *testing.T) {
	sb, base, tok, key := identitySandbox(t)
	u := base + IdentityInsightsPath
	auth := []string{"Authorization", "Bearer " + tok}

	other, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	// The JWT is checked as for the Voice API.
	for name, h := range map[string][]string{
		"no token":        nil,
		"basic auth":      {"Authorization", "Basic YWJjZDEyMzQ6czNjcjN0LXZhbHVl"},
		"other key":       {"Authorization", "Bearer " + appToken(t, jwt.SigningMethodRS256, other, nil)},
		"HS256":           {"Authorization", "Bearer " + appToken(t, jwt.SigningMethodHS256, []byte(testSecret), nil)},
		"expired":         {"Authorization", "Bearer " + appToken(t, jwt.SigningMethodRS256, key, jwt.MapClaims{"exp": testEpoch.Add(-time.Minute).Unix()})},
		"other app":       {"Authorization", "Bearer " + appToken(t, jwt.SigningMethodRS256, key, jwt.MapClaims{"application_id": "bbbbbbbb-bbbb-4ccc-8ddd-0123456789ab"})},
		"no application":  {"Authorization", "Bearer " + appToken(t, jwt.SigningMethodRS256, key, jwt.MapClaims{"application_id": nil})},
		"api_key, secret": {"X-Ignored", "x"},
	} {
		r := sendJSON(t, http.MethodPost, u+"?api_key="+testKey+"&api_secret="+testSecret, formatRequest("447700900123"), h...)
		if r.status != http.StatusUnauthorized {
			t.Errorf("%s: HTTP %d, want 401: %s", name, r.status, r.body)
			continue
		}
		wantProblem(t, r, http.StatusUnauthorized, "#unauthorized")
	}

	for name, body := range map[string]any{
		"no phone_number":    map[string]any{"insights": map[string]any{"format": map[string]any{}}},
		"no insights":        map[string]any{"phone_number": "447700900123"},
		"empty insights":     map[string]any{"phone_number": "447700900123", "insights": map[string]any{}},
		"unknown insight":    map[string]any{"phone_number": "447700900123", "insights": map[string]any{"fortune": map[string]any{}}},
		"format not empty":   map[string]any{"phone_number": "447700900123", "insights": map[string]any{"format": map[string]any{"x": 1}}},
		"phone not a string": map[string]any{"phone_number": 447700900123, "insights": map[string]any{"format": map[string]any{}}},
	} {
		if r := sendJSON(t, http.MethodPost, u, body, auth...); r.status != http.StatusBadRequest {
			t.Errorf("%s: HTTP %d, want 400: %s", name, r.status, r.body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader("phone_number=447700900123"))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantProblem(t, do(t, req), http.StatusUnsupportedMediaType, "#content-type-header")
	if r := get(t, base, IdentityInsightsPath, nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("GET: HTTP %d, want 405", r.status)
	}

	// Each request is in the log, with its scheme but not its token.
	reqs := sb.Requests()
	if len(reqs) == 0 || reqs[0].Path != IdentityInsightsPath {
		t.Fatalf("requests %+v", reqs)
	}
	for _, rec := range reqs {
		if strings.Contains(rec.Body, tok) {
			t.Fatalf("log shows the token")
		}
	}
}

// Faults shape Identity Insights replies like Vonage's: a failed insight in
// a 200 reply, or a problem JSON.
func TestIdentityInsightsFaults(t *testing.T) {
	sb, base, tok, _ := identitySandbox(t)
	u := base + IdentityInsightsPath
	auth := []string{"Authorization", "Bearer " + tok}
	for _, code := range []string{IISupplierError, IIInternalError, IINoCoverage, IIInvalidNumberFormat} {
		if err := sb.InjectFault(Fault{Path: IdentityInsightsPath, ErrorCode: code}); err != nil {
			t.Fatal(err)
		}
		f := formatOf(t, sendJSON(t, http.MethodPost, u, formatRequest("447700900123"), auth...))
		if st := f["status"].(map[string]any); st["code"] != code || st["message"] != iiStatusMessages[code] {
			t.Errorf("fault %s: status %v", code, st)
		}
	}
	// After the faults, the real reply.
	if f := formatOf(t, sendJSON(t, http.MethodPost, u, formatRequest("447700900123"), auth...)); f["is_format_valid"] != true {
		t.Errorf("after the faults: %v", f)
	}
	if err := sb.InjectFault(Fault{Path: IdentityInsightsPath, Status: http.StatusServiceUnavailable}); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, sendJSON(t, http.MethodPost, u, formatRequest("447700900123"), auth...), http.StatusServiceUnavailable, "#internal-error")

	// An Identity Insights code on another path is a mistake.
	if err := sb.InjectFault(Fault{Path: "/number/buy", ErrorCode: IISupplierError}); err == nil {
		t.Error("SUPPLIER_ERROR accepted for /number/buy")
	}
	if err := sb.InjectFault(Fault{Path: IdentityInsightsPath, ErrorCode: "NOT_A_CODE"}); err == nil {
		t.Error("unknown code accepted")
	}
}
