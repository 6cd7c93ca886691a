package sandbox

import (
	"net/http"
	"reflect"
	"strings"
	"testing"
)

func TestInsightBasic(t *testing.T) {
	_, base := newTestServer(t, Config{})
	for _, tt := range []struct {
		name            string
		number, country string
		want            map[string]any
	}{
		{"GB international", "447700900123", "", map[string]any{
			"international_format_number": "447700900123", "national_format_number": "07700 900123",
			"country_code": "GB", "country_code_iso3": "GBR", "country_name": "United Kingdom", "country_prefix": "44"}},
		{"GB national", "020 7946 0123", "GB", map[string]any{
			"international_format_number": "442079460123", "national_format_number": "020 7946 0123",
			"country_code": "GB", "country_code_iso3": "GBR", "country_name": "United Kingdom", "country_prefix": "44"}},
		{"US with plus", "+1 (202) 555-0123", "", map[string]any{
			"international_format_number": "12025550123", "national_format_number": "(202) 555-0123",
			"country_code": "US", "country_code_iso3": "USA", "country_name": "United States of America", "country_prefix": "1"}},
		{"international with country", "12025550123", "US", map[string]any{
			"international_format_number": "12025550123", "national_format_number": "(202) 555-0123",
			"country_code": "US", "country_code_iso3": "USA", "country_name": "United States of America", "country_prefix": "1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q := creds("number", tt.number)
			if tt.country != "" {
				q.Set("country", tt.country)
			}
			r := get(t, base, "/ni/basic/json", q)
			wantStatus(t, r, http.StatusOK)
			got := r.json(t)
			if got["status"] != float64(0) || got["status_message"] != "Success" || !uuidRE.MatchString(got["request_id"].(string)) {
				t.Errorf("reply = %s", r.body)
			}
			delete(got, "status")
			delete(got, "status_message")
			delete(got, "request_id")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestInsightErrors(t *testing.T) {
	_, base := newTestServer(t, Config{})
	for _, tt := range []struct {
		name   string
		params []string
		status float64
	}{
		{"missing number", nil, 3},
		{"letters", []string{"number", "call-me-maybe"}, 3},
		{"too short", []string{"number", "12"}, 3},
		{"national without country", []string{"number", "07700900123"}, 3},
		{"country mismatch", []string{"number", "+447700900123", "country", "US"}, 3},
		{"lowercase country", []string{"number", "07700900123", "country", "gb"}, 3},
		{"bad credentials", []string{"api_secret", "wrong", "number", "447700900123"}, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, base, "/ni/basic/json", creds(tt.params...))
			wantStatus(t, r, http.StatusOK) // Number Insight reports errors in status
			got := r.json(t)
			msg, _ := got["status_message"].(string)
			if got["status"] != tt.status || msg == "" || len(got) != 2 {
				t.Errorf("reply = %s, want status %v", r.body, tt.status)
			}
			if tt.status == 3 && !strings.HasPrefix(msg, "Invalid request") {
				t.Errorf("status_message = %q", msg)
			}
		})
	}
}
