package vonage

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/maskcall/maskcall/internal/maskcall"
)

const iiNumber = "+447700900456"

// formatReply is an Identity Insights reply with a format insight.
func formatReply(code string, valid bool) string {
	return `{"request_id":"ii-req-1","insights":{"format":{
		"country_code":"GB","country_name":"United Kingdom","country_prefix":"44",
		"offline_location":"United Kingdom","time_zones":["Europe/London"],
		"number_international":"+447700900456","number_national":"07700 900456",
		"is_format_valid":` + map[bool]string{true: "true", false: "false"}[valid] + `,
		"status":{"code":"` + code + `","message":"about 447700900456"}}}}`
}

func identityClient(t *testing.T, base string, pemKey []byte) *Client {
	return newTestClient(t, base, func(c *Config) {
		c.ApplicationID = testAppID
		c.PrivateKey = pemKey
		c.IdentityInsightsURL = base + "/eu/"
	})
}

func TestFormatInsightRequestAndReply(t *testing.T) {
	key, pemKey := testRSAKey(t)
	f := newFake(t, replyJSON(200, strings.Replace(formatReply("OK", true), `"GB"`, `"gb"`, 1)))
	got, err := identityClient(t, f.URL, pemKey).CheckNumber(ctx, iiNumber, maskcall.InsightFormat)
	if err != nil {
		t.Fatal(err)
	}
	if *got != (maskcall.Insight{Number: iiNumber, Country: "GB"}) {
		t.Fatalf("got %+v", got)
	}
	r := f.only(t)
	// The configured regional host, with its path prefix and without the
	// trailing slash.
	if r.Method != http.MethodPost || r.Path != "/eu/v0.1/identity-insights" {
		t.Fatalf("request %s %s, want POST /eu/v0.1/identity-insights", r.Method, r.Path)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q", ct)
	}
	var body map[string]any
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatal(err)
	}
	if len(body) != 2 || body["phone_number"] != "447700900456" {
		t.Fatalf("body %s: want phone_number 447700900456 and insights", r.Body)
	}
	if ins, _ := body["insights"].(map[string]any); len(ins) != 1 || len(ins["format"].(map[string]any)) != 0 {
		t.Fatalf("body %s: want insights {\"format\":{}}", r.Body)
	}
	// The application's JWT only: no api_key or api_secret anywhere.
	wantValues(t, "query", r.Query, nil)
	if strings.Contains(r.Body, testSecret) || strings.Contains(r.Body, testKey) {
		t.Fatalf("body carries the key or secret: %s", r.Body)
	}
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatalf("Authorization %q is not a bearer token", r.Header.Get("Authorization"))
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired()); err != nil {
		t.Fatalf("token does not verify with the application's key: %v", err)
	}
	if claims["application_id"] != testAppID {
		t.Fatalf("application_id = %v", claims["application_id"])
	}
}

func TestFormatInsightStatuses(t *testing.T) {
	_, pemKey := testRSAKey(t)
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		code     string
		requests int // 1 + retries (DefaultRetries = 3)
	}{
		{"format invalid", 200, formatReply("OK", false), maskcall.EINVALIDNUMBER, 1},
		{"invalid number format", 200, `{"request_id":"r","insights":{"format":{"is_format_valid":false,"status":{"code":"INVALID_NUMBER_FORMAT","message":"bad"}}}}`, maskcall.EINVALIDNUMBER, 1},
		{"partial success, valid", 200, formatReply("PARTIAL_SUCCESS", true), "", 1},
		{"no coverage", 200, formatReply("NO_COVERAGE", false), maskcall.EUPSTREAM, 1},
		{"not found", 200, formatReply("NOT_FOUND", false), maskcall.EUPSTREAM, 1},
		{"unknown status", 200, formatReply("SOMETHING_NEW", true), maskcall.EUPSTREAM, 1},
		{"unauthorized insight", 200, formatReply("UNAUTHORIZED", false), maskcall.EVONAGEAUTH, 1},
		{"supplier error", 200, formatReply("SUPPLIER_ERROR", false), maskcall.EUPSTREAM, 4},
		{"internal error", 200, formatReply("INTERNAL_ERROR", false), maskcall.EUPSTREAM, 4},
		{"401", 401, `{"type":"https://developer.vonage.com/api-errors#unauthorized","title":"Unauthorized","instance":"r-401"}`, maskcall.EVONAGEAUTH, 1},
		{"403", 403, `{"title":"Forbidden","detail":"Identity Insights is not enabled","instance":"r-403"}`, maskcall.EVONAGEAUTH, 1},
		{"400", 400, `{"title":"Bad Request","detail":"insights.format must be {}","instance":"r-400"}`, maskcall.EUPSTREAM, 1},
		{"429", 429, `{"title":"Too Many Requests","instance":"r-429"}`, maskcall.EUPSTREAM, 4},
		{"500", 500, `{"title":"Internal Error","instance":"r-500"}`, maskcall.EUPSTREAM, 4},
		{"503", 503, `{"title":"Unavailable","instance":"r-503"}`, maskcall.EUNAVAILABLE, 4},
		{"not json", 200, `nope`, maskcall.EUPSTREAM, 1},
		{"no format insight", 200, `{"request_id":"r","insights":{}}`, maskcall.EUPSTREAM, 1},
		{"no verdict", 200, `{"request_id":"r","insights":{"format":{"status":{"code":"OK"}}}}`, maskcall.EUPSTREAM, 1},
		{"bad country", 200, strings.Replace(formatReply("OK", true), `"GB"`, `"G1"`, 1), maskcall.EUPSTREAM, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, replyJSON(tc.status, tc.body))
			got, err := identityClient(t, f.URL, pemKey).FormatInsight(ctx, iiNumber)
			if tc.code == "" {
				if err != nil || got.Country != "GB" {
					t.Fatalf("got %+v, %v", got, err)
				}
			} else {
				wantCode(t, err, tc.code)
				// The participant's number is never shown in full, even
				// where Vonage's text repeats it.
				if m := maskcall.ErrorMessage(err); strings.Contains(m, "447700900456") {
					t.Fatalf("message shows the number: %s", m)
				}
			}
			if n := len(f.requests()); n != tc.requests {
				t.Fatalf("%d requests, want %d", n, tc.requests)
			}
		})
	}
}

// A transient failure followed by a verdict: the retry gets the verdict.
func TestFormatInsightRetriesSupplierError(t *testing.T) {
	_, pemKey := testRSAKey(t)
	n := 0
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
		n++
		if n == 1 {
			replyJSON(200, formatReply("SUPPLIER_ERROR", false))(w, r, s)
			return
		}
		replyJSON(200, formatReply("OK", true))(w, r, s)
	})
	got, err := identityClient(t, f.URL, pemKey).FormatInsight(ctx, iiNumber)
	if err != nil || got.Country != "GB" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if n := len(f.requests()); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

// Without the application's id and key nothing is sent.
func TestFormatInsightNeedsApplicationKey(t *testing.T) {
	_, pemKey := testRSAKey(t)
	f := newFake(t, replyJSON(200, formatReply("OK", true)))
	for name, c := range map[string]*Client{
		"no key": newTestClient(t, f.URL, func(c *Config) { c.ApplicationID = testAppID }),
		"no id":  newTestClient(t, f.URL, func(c *Config) { c.PrivateKey = pemKey }),
		"bad key": newTestClient(t, f.URL, func(c *Config) {
			c.ApplicationID, c.PrivateKey = testAppID, []byte("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
		}),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := c.CheckNumber(ctx, iiNumber, maskcall.InsightFormat)
			wantCode(t, err, maskcall.ECONFIG)
			if !strings.Contains(err.Error(), "Identity Insights") && name != "bad key" {
				t.Fatalf("message does not say what needs the key: %v", err)
			}
		})
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("sent %d requests", n)
	}
}

func TestIdentityInsightsURLValidated(t *testing.T) {
	_, err := New(Config{IdentityInsightsURL: "api-eu.vonage.com"})
	wantCode(t, err, maskcall.ECONFIG)
	if !strings.Contains(err.Error(), "vonage.identity_insights_url") {
		t.Fatalf("error does not name the setting: %v", err)
	}
}
