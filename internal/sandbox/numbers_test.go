package sandbox

import (
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

type searchReply struct {
	Count   int               `json:"count"`
	Numbers []availableNumber `json:"numbers"`
}

func search(t *testing.T, base string, kv ...string) searchReply {
	t.Helper()
	r := get(t, base, "/number/search", creds(kv...))
	wantStatus(t, r, http.StatusOK)
	var out searchReply
	r.decode(t, &out)
	return out
}

func msisdns(ns []availableNumber) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.MSISDN
	}
	return out
}

func TestSearchIsDeterministic(t *testing.T) {
	_, base := newTestServer(t, Config{})
	a := search(t, base, "country", "GB")
	b := search(t, base, "country", "GB")
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("same search, different results:\n%v\n%v", a, b)
	}
	if a.Count != 1200 || len(a.Numbers) != 10 {
		t.Fatalf("count %d, %d numbers; want 1200 and a page of 10", a.Count, len(a.Numbers))
	}
	first := a.Numbers[0]
	want := availableNumber{Country: "GB", MSISDN: "442079460000", Type: TypeLandline, Cost: "0.75", Features: []string{"VOICE"}}
	if !reflect.DeepEqual(first, want) {
		t.Errorf("first number = %+v, want %+v", first, want)
	}
}

func TestSearchFilters(t *testing.T) {
	_, base := newTestServer(t, Config{})
	tests := []struct {
		name   string
		params []string
		count  int
		first  string
		last   string
	}{
		{"type", []string{"country", "GB", "type", "mobile-lvn"}, 1000, "447700900000", "447700900009"},
		{"features SMS", []string{"country", "GB", "features", "SMS"}, 1000, "447700900000", "447700900009"},
		{"features VOICE,SMS", []string{"country", "US", "features", "VOICE,SMS"}, 100, "12025550100", "12025550109"},
		{"lowercase country", []string{"country", "us"}, 100, "12025550100", "12025550109"},
		{"starts with", []string{"country", "GB", "pattern", "4477009001", "search_pattern", "0"}, 100, "447700900100", "447700900109"},
		{"default is starts with", []string{"country", "GB", "pattern", "44808157"}, 100, "448081570000", "448081570009"},
		{"contains", []string{"country", "GB", "pattern", "9005", "search_pattern", "1"}, 100, "447700900500", "447700900509"},
		{"ends with", []string{"country", "GB", "pattern", "123", "search_pattern", "2"}, 1, "447700900123", "447700900123"},
		{"page 2 of 5", []string{"country", "US", "size", "5", "index", "2"}, 100, "12025550105", "12025550109"},
		{"size 100", []string{"country", "US", "size", "100"}, 100, "12025550100", "12025550199"},
		{"past the end", []string{"country", "US", "size", "100", "index", "2"}, 100, "", ""},
		{"toll-free", []string{"country", "GB", "type", "landline-toll-free", "size", "100"}, 100, "448081570000", "448081570099"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := search(t, base, tt.params...)
			if got.Count != tt.count {
				t.Errorf("count = %d, want %d", got.Count, tt.count)
			}
			ids := msisdns(got.Numbers)
			if tt.first == "" {
				if len(ids) != 0 {
					t.Errorf("got %v, want no numbers", ids)
				}
				return
			}
			if len(ids) == 0 || ids[0] != tt.first || ids[len(ids)-1] != tt.last {
				t.Errorf("got %v, want %s ... %s", ids, tt.first, tt.last)
			}
		})
	}
}

func TestSearchNoResultsHasNoNumbersField(t *testing.T) {
	_, base := newTestServer(t, Config{})
	r := get(t, base, "/number/search", creds("country", "FR"))
	wantStatus(t, r, http.StatusOK)
	if got := strings.TrimSpace(string(r.body)); got != `{"count":0}` {
		t.Errorf("body = %s, want {\"count\":0}", got)
	}
}

func TestSearchInvalidParameters(t *testing.T) {
	_, base := newTestServer(t, Config{})
	for _, params := range [][]string{
		{},                                   // country is required
		{"country", "GBR"},                   // not alpha-2
		{"country", "GB", "size", "101"},     // at most 100
		{"country", "GB", "size", "0"},       //
		{"country", "GB", "index", "0"},      // 1-based
		{"country", "GB", "type", "mobile"},  // not a type
		{"country", "GB", "features", "FAX"}, // not a feature
		{"country", "GB", "pattern", "44", "search_pattern", "3"},
		{"country", "GB", "pattern", "+44"},
	} {
		r := get(t, base, "/number/search", creds(params...))
		wantNumbersReply(t, r, 420, "420")
	}
}

func TestNumbersBadCredentials(t *testing.T) {
	_, base := newTestServer(t, Config{})
	bad := url.Values{"api_key": {testKey}, "api_secret": {"wrong"}, "country": {"GB"}, "msisdn": {"447700900000"}}
	none := url.Values{"country": {"GB"}, "msisdn": {"447700900000"}}
	for _, v := range []url.Values{bad, none} {
		for _, path := range []string{"/number/search", "/account/numbers"} {
			m := wantNumbersReply(t, get(t, base, path, v), http.StatusUnauthorized, "401")
			if m["error-code-label"] != "authentication failed" {
				t.Errorf("%s label = %v", path, m["error-code-label"])
			}
		}
		for _, path := range []string{"/number/buy", "/number/cancel", "/number/update"} {
			wantNumbersReply(t, postForm(t, base, path, v), http.StatusUnauthorized, "401")
		}
	}
}

func TestBuyUpdateListCancel(t *testing.T) {
	sb, base := newTestServer(t, Config{})
	const msisdn = "447700900042"

	// Buy, credentials in the query string as the spec's security scheme
	// says, the rest form-encoded in the body.
	req, _ := http.NewRequest(http.MethodPost, base+"/number/buy?"+creds().Encode(),
		strings.NewReader(url.Values{"country": {"GB"}, "msisdn": {msisdn}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := do(t, req)
	m := wantNumbersReply(t, r, http.StatusOK, "200")
	if m["error-code-label"] != "success" {
		t.Errorf("label = %v, want success", m["error-code-label"])
	}
	if got := sb.Balance(); got != DefaultBalance-1.25 {
		t.Errorf("balance = %v, want %v", got, DefaultBalance-1.25)
	}

	// It has left the available numbers.
	if got := search(t, base, "country", "GB", "pattern", msisdn); got.Count != 0 {
		t.Errorf("bought number still available: %+v", got)
	}

	// Link it to an application; credentials in the body this time.
	r = postForm(t, base, "/number/update", creds("country", "GB", "msisdn", msisdn,
		"app_id", testAppID, "moHttpUrl", "https://example.com/inbound-sms"))
	wantNumbersReply(t, r, http.StatusOK, "200")

	r = get(t, base, "/account/numbers", creds())
	wantStatus(t, r, http.StatusOK)
	var list struct {
		Count   int              `json:"count"`
		Numbers []map[string]any `json:"numbers"`
	}
	r.decode(t, &list)
	if list.Count != 1 || len(list.Numbers) != 1 {
		t.Fatalf("owned = %s", r.body)
	}
	n := list.Numbers[0]
	want := map[string]any{
		"country": "GB", "msisdn": msisdn, "type": "mobile-lvn",
		"features":             []any{"VOICE", "SMS"},
		"moHttpUrl":            "https://example.com/inbound-sms",
		"voiceCallbackType":    "app",
		"voiceCallbackValue":   testAppID,
		"messagesCallbackType": "app", "messagesCallbackValue": testAppID,
	}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("owned number = %v\nwant %v", n, want)
	}

	// Filters of the list.
	for _, tt := range []struct {
		params []string
		count  int
	}{
		{[]string{"application_id", testAppID}, 1},
		{[]string{"application_id", "bbbbbbbb-bbbb-4ccc-8ddd-0123456789ab"}, 0},
		{[]string{"has_application", "true"}, 1},
		{[]string{"has_application", "false"}, 0},
		{[]string{"country", "US"}, 0},
		{[]string{"pattern", "42", "search_pattern", "2"}, 1},
	} {
		r := get(t, base, "/account/numbers", creds(tt.params...))
		wantStatus(t, r, http.StatusOK)
		if c := r.json(t)["count"]; c != float64(tt.count) {
			t.Errorf("%v: count = %v, want %d", tt.params, c, tt.count)
		}
	}

	// Unlink.
	wantNumbersReply(t, postForm(t, base, "/number/update", creds("country", "GB", "msisdn", msisdn, "app_id", "")), http.StatusOK, "200")
	if owned := sb.OwnedNumbers(); len(owned) != 1 || owned[0].AppID != "" || owned[0].MoHTTPURL == "" {
		t.Errorf("after unlinking: %+v", owned)
	}

	// Cancel, then it is available again and cancelling again fails.
	wantNumbersReply(t, postForm(t, base, "/number/cancel", creds("country", "GB", "msisdn", msisdn)), http.StatusOK, "200")
	if got := search(t, base, "country", "GB", "pattern", msisdn); got.Count != 1 {
		t.Errorf("cancelled number not available again: %+v", got)
	}
	wantNumbersReply(t, postForm(t, base, "/number/cancel", creds("country", "GB", "msisdn", msisdn)), 420, "420")
	wantNumbersReply(t, postForm(t, base, "/number/update", creds("country", "GB", "msisdn", msisdn, "app_id", testAppID)), 420, "420")

	// The request log shows how the buy and update requests were made.
	var buys, updates []RequestRecord
	for _, rec := range sb.Requests() {
		switch rec.Path {
		case "/number/buy":
			buys = append(buys, rec)
		case "/number/update":
			updates = append(updates, rec)
		}
	}
	if len(buys) != 1 || len(updates) != 3 {
		t.Fatalf("logged %d buys and %d updates", len(buys), len(updates))
	}
	buy := buys[0]
	if buy.Method != "POST" || buy.ContentType != "application/x-www-form-urlencoded" ||
		buy.Form.Get("msisdn") != msisdn || buy.Form.Get("country") != "GB" ||
		buy.Query.Get("api_key") != testKey || buy.Query.Get("api_secret") != masked || buy.Status != 200 {
		t.Errorf("buy logged as %+v", buy)
	}
	if u := updates[0]; u.Form.Get("app_id") != testAppID || u.Form.Get("api_secret") != masked {
		t.Errorf("update logged as %+v", u)
	}
}

func TestBuyFailures(t *testing.T) {
	sb, base := newTestServer(t, Config{Balance: 2.00})
	buy := func(country, msisdn string) response {
		return postForm(t, base, "/number/buy", creds("country", country, "msisdn", msisdn))
	}
	wantNumbersReply(t, buy("GB", "447700900001"), http.StatusOK, "200")

	for name, r := range map[string]response{
		"already owned":          buy("GB", "447700900001"),
		"not in the inventory":   buy("GB", "447911123456"),
		"wrong country":          buy("US", "447700900002"),
		"insufficient balance":   buy("GB", "447700900002"), // 0.75 EUR left
		"missing msisdn":         postForm(t, base, "/number/buy", creds("country", "GB")),
		"leading plus":           buy("GB", "+447700900003"),
		"other account":          postForm(t, base, "/number/buy", creds("country", "GB", "msisdn", "447700900003", "target_api_key", "zzzz9999")),
		"params in query string": postForm(t, base, "/number/buy?country=GB&msisdn=447700900003", creds()),
	} {
		t.Run(name, func(t *testing.T) { wantNumbersReply(t, r, 420, "420") })
	}
	if got := sb.Balance(); got != 0.75 {
		t.Errorf("balance = %v, want 0.75", got)
	}
	// The cheaper landline still fits.
	wantNumbersReply(t, buy("GB", "442079460007"), http.StatusOK, "200")
}

func TestUpdateValidation(t *testing.T) {
	sb, base := newTestServer(t, Config{})
	if err := sb.AddOwned(OwnedNumber{Country: "GB", MSISDN: "447700900005"}); err != nil {
		t.Fatal(err)
	}
	upd := func(kv ...string) response {
		return postForm(t, base, "/number/update", creds(append([]string{"country", "GB", "msisdn", "447700900005"}, kv...)...))
	}
	wantNumbersReply(t, upd("app_id", "not-a-uuid"), 420, "420")
	wantNumbersReply(t, upd("voiceCallbackType", "tel"), 420, "420")
	wantNumbersReply(t, upd("voiceCallbackType", "fax", "voiceCallbackValue", "x"), 420, "420")
	wantNumbersReply(t, upd("moHttpUrl", "not a url"), 420, "420")
	wantNumbersReply(t, upd("voiceCallbackType", "tel", "voiceCallbackValue", "447700900999"), http.StatusOK, "200")
	n := sb.OwnedNumbers()[0]
	if n.VoiceCallbackType != "tel" || n.VoiceCallbackValue != "447700900999" || !n.External {
		t.Errorf("owned = %+v", n)
	}
}
