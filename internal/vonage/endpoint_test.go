package vonage

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// Endpoint names a request by its route, never by what its path or query
// carries.
func TestEndpoint(t *testing.T) {
	for _, c := range []struct{ method, url, want string }{
		{"POST", "https://rest.nexmo.com/sms/json", "sms.send"},
		{"GET", "https://rest.nexmo.com/account/numbers?pattern=447700900123", "numbers.list"},
		{"GET", "https://rest.nexmo.com/number/search?country=GB", "numbers.search"},
		{"POST", "https://rest.nexmo.com/number/buy", "numbers.buy"},
		{"POST", "https://rest.nexmo.com/number/cancel", "numbers.cancel"},
		{"POST", "https://rest.nexmo.com/number/update", "numbers.update"},
		{"PUT", "https://api.nexmo.com/v1/calls/63f61863-4a51-4f6b-86e1-46edebcf9356", "voice.calls.update"},
		{"GET", "https://api.nexmo.com/ni/advanced/json?number=447700900123", "insight.advanced"},
		{"GET", "https://api.nexmo.com/ni/standard/json", "insight.standard"},
		{"POST", "https://api-eu.vonage.com/v0.1/identity-insights", "identity_insights"},
		{"GET", "http://127.0.0.1:40123/prefix/sms/json", "sms.send"},
		{"GET", "https://api.nexmo.com/447700900123", "other"},
	} {
		got := Endpoint(httptest.NewRequest(c.method, c.url, nil))
		if got != c.want {
			t.Errorf("%s %s = %q, want %q", c.method, c.url, got, c.want)
		}
		if strings.ContainsAny(got, "0123456789") && got != "identity_insights" {
			t.Errorf("%q has digits", got)
		}
	}
}
