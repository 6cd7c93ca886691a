package vonage

import (
	"net/http"
	"strings"
)

// Endpoint names the Vonage API a request of this client is for, as a
// fixed route name (metrics label it by this): never the path itself, which
// can carry a call's uuid, nor a query, which carries numbers. A request to
// none of them is "other".
func Endpoint(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/sms/json"):
		return "sms.send"
	case strings.HasSuffix(p, "/account/numbers"):
		return "numbers.list"
	case strings.HasSuffix(p, "/number/search"):
		return "numbers.search"
	case strings.HasSuffix(p, "/number/buy"):
		return "numbers.buy"
	case strings.HasSuffix(p, "/number/cancel"):
		return "numbers.cancel"
	case strings.HasSuffix(p, "/number/update"):
		return "numbers.update"
	case strings.Contains(p, "/v1/calls/") && r.Method == http.MethodPut:
		return "voice.calls.update"
	case strings.Contains(p, "/v1/calls"):
		return "voice.calls"
	case strings.Contains(p, identityInsightsPath):
		return "identity_insights"
	}
	if i := strings.Index(p, "/ni/"); i >= 0 {
		level, _, _ := strings.Cut(p[i+len("/ni/"):], "/")
		switch level {
		case "basic", "standard", "advanced":
			return "insight." + level
		}
		return "insight"
	}
	return "other"
}
