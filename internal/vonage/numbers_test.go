package vonage

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
)

var ctx = context.Background()

func TestSearchNumbersRequestAndReply(t *testing.T) {
	f := newFake(t, replyJSON(200, `{
		"count": 1234,
		"numbers": [
			{"country": "GB", "msisdn": "447700900000", "type": "mobile-lvn", "cost": "1.25", "features": ["VOICE", "SMS", "MMS"]},
			{"country": "GB", "msisdn": "448000900001", "type": "landline-toll-free", "cost": "2.00", "features": ["VOICE"]}
		]}`))
	c := newTestClient(t, f.URL)

	got, err := c.SearchNumbers(ctx, maskcall.NumberSearch{
		Country:         "gb",
		Features:        []string{"voice", "SMS"},
		Pattern:         "7700",
		PatternPosition: "contains",
		Type:            "mobile-lvn",
		Limit:           10,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := f.only(t)
	if r.Method != http.MethodGet || r.Path != "/number/search" {
		t.Fatalf("request %s %s, want GET /number/search", r.Method, r.Path)
	}
	wantValues(t, "query", r.Query, with(keySecret(),
		"country", "GB", "type", "mobile-lvn", "features", "SMS,VOICE",
		"pattern", "7700", "search_pattern", "1", "size", "10"))
	if r.Body != "" {
		t.Fatalf("GET has a body: %q", r.Body)
	}
	want := []maskcall.AvailableNumber{
		{Number: "+447700900000", Country: "GB", Type: "mobile-lvn", Features: []string{"VOICE", "SMS", "MMS"}, Cost: "1.25"},
		{Number: "+448000900001", Country: "GB", Type: "toll-free", Features: []string{"VOICE"}, Cost: "2.00"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

func TestSearchNumbersParameters(t *testing.T) {
	for _, tc := range []struct {
		name  string
		q     maskcall.NumberSearch
		query []string // expected besides api_key, api_secret and country
	}{
		{"minimal", maskcall.NumberSearch{Country: "US"}, nil},
		// search_pattern 0 is the spec's default; the SDK leaves it out.
		{"starts", maskcall.NumberSearch{Country: "US", Pattern: "+1555", PatternPosition: "starts"}, []string{"pattern", "1555"}},
		{"ends", maskcall.NumberSearch{Country: "US", Pattern: "99", PatternPosition: "ends"}, []string{"pattern", "99", "search_pattern", "2"}},
		{"default position contains", maskcall.NumberSearch{Country: "US", Pattern: "99"}, []string{"pattern", "99", "search_pattern", "1"}},
		{"toll-free", maskcall.NumberSearch{Country: "US", Type: "toll-free"}, []string{"type", "landline-toll-free"}},
		{"all features in the spec's order", maskcall.NumberSearch{Country: "US", Features: []string{"VOICE", "MMS", "SMS"}}, []string{"features", "SMS,MMS,VOICE"}},
		{"voice and mms", maskcall.NumberSearch{Country: "US", Features: []string{"MMS", "VOICE"}}, []string{"features", "VOICE,MMS"}},
		{"limit 100", maskcall.NumberSearch{Country: "US", Limit: 100}, []string{"size", "100"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, replyJSON(200, `{"count":0}`))
			got, err := newTestClient(t, f.URL).SearchNumbers(ctx, tc.q)
			if err != nil || len(got) != 0 {
				t.Fatalf("got %v, %v", got, err)
			}
			wantValues(t, "query", f.only(t).Query, with(keySecret(), append([]string{"country", "US"}, tc.query...)...))
		})
	}
}

func TestSearchNumbersInvalid(t *testing.T) {
	f := newFake(t, replyJSON(200, `{"count":0}`))
	c := newTestClient(t, f.URL)
	for _, q := range []maskcall.NumberSearch{
		{Country: ""},
		{Country: "GBR"},
		{Country: "GB", Type: "premium"},
		{Country: "GB", Features: []string{"FAX"}},
		{Country: "GB", Pattern: "77x"},
		{Country: "GB", Pattern: "77", PatternPosition: "middle"},
		{Country: "GB", Limit: 101},
		{Country: "GB", Limit: -1},
	} {
		_, err := c.SearchNumbers(ctx, q)
		wantCode(t, err, maskcall.EINVALID)
	}
	if n := len(f.requests()); n != 0 {
		t.Fatalf("invalid searches sent %d requests", n)
	}
}

func TestSearchNumbersErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		code   string
	}{
		{"401", 401, `{"error-code":"401","error-code-label":"authentication failed"}`, maskcall.EVONAGEAUTH},
		{"500", 500, `oops`, maskcall.EUPSTREAM},
		{"503", 503, ``, maskcall.EUNAVAILABLE},
		{"429", 429, ``, maskcall.EUPSTREAM},
		{"not json", 200, `<html>hello</html>`, maskcall.EUPSTREAM},
		{"error code in 200", 200, `{"error-code":"420","error-code-label":"method failed"}`, maskcall.EUPSTREAM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, replyJSON(tc.status, tc.body))
			_, err := newTestClient(t, f.URL).SearchNumbers(ctx, maskcall.NumberSearch{Country: "GB"})
			wantCode(t, err, tc.code)
			if ae := apiErr(t, err); ae.StatusCode != tc.status {
				t.Fatalf("APIError.StatusCode = %d, want %d", ae.StatusCode, tc.status)
			}
		})
	}
}

func TestBuyNumberRequest(t *testing.T) {
	f := newFake(t, replyJSON(200, `{"error-code":"200","error-code-label":"success"}`))
	c := newTestClient(t, f.URL)
	if err := c.BuyNumber(ctx, "GB", "+447700900123"); err != nil {
		t.Fatal(err)
	}
	r := f.only(t)
	if r.Method != http.MethodPost || r.Path != "/number/buy" {
		t.Fatalf("request %s %s, want POST /number/buy", r.Method, r.Path)
	}
	// numbers.yml: api_key and api_secret are query parameters; the
	// number details are the form body.
	wantValues(t, "query", r.Query, keySecret())
	wantValues(t, "form", r.Form(t), map[string][]string{"country": {"GB"}, "msisdn": {"447700900123"}})
}

func TestBuyNumberErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		code     string
		vonage   string // APIError.Code
		wantHint bool
	}{
		{"method failed", 420, `{"error-code":"420","error-code-label":"method failed"}`, maskcall.EUPSTREAM, "420", true},
		{"dashboard only", 420, `{"error-code":"420","error-code-label":"Numbers from this country can be requested from the Dashboard (https://dashboard.nexmo.com/buy-numbers) as they require a valid local address to be provided before being purchased."}`, maskcall.EUPSTREAM, "420", false},
		{"insufficient balance", 420, `{"error-code":"420","error-code-label":"insufficient balance"}`, maskcall.EUPSTREAM, "420", true},
		{"401", 401, `{"error-code":"401","error-code-label":"authentication failed"}`, maskcall.EVONAGEAUTH, "401", true},
		{"401 without body", 401, ``, maskcall.EVONAGEAUTH, "", true},
		// Replies that do not say whether the number was bought.
		{"500", 500, `{"error-code":"500","error-code-label":"internal error"}`, maskcall.EUNAVAILABLE, "500", true},
		{"200 unreadable", 200, `<xml/>`, maskcall.EUNAVAILABLE, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, replyJSON(tc.status, tc.body))
			err := newTestClient(t, f.URL).BuyNumber(ctx, "GB", "+447700900123")
			wantCode(t, err, tc.code)
			ae := apiErr(t, err)
			if ae.StatusCode != tc.status || ae.Code != tc.vonage {
				t.Fatalf("APIError = %+v, want status %d, code %q", ae, tc.status, tc.vonage)
			}
			var me *maskcall.Error
			// Advice: a hint, or a reason the edge gives advice for.
			if !errorsAs(err, &me) || (me.Hint != "" || me.Reason != "") != tc.wantHint {
				t.Fatalf("hint %q, reason %q, want advice: %v", me.Hint, me.Reason, tc.wantHint)
			}
		})
	}
}

func TestBuyNumberKeepsRequestID(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
		w.Header().Set("X-Request-Id", "req-42")
		replyJSON(420, `{"error-code":"420","error-code-label":"method failed"}`)(w, r, s)
	})
	err := newTestClient(t, f.URL).BuyNumber(ctx, "GB", "+447700900123")
	wantCode(t, err, maskcall.EUPSTREAM)
	if ae := apiErr(t, err); ae.RequestID != "req-42" || ae.Method != "POST" || ae.Endpoint != f.URL+"/number/buy" {
		t.Fatalf("APIError = %+v", ae)
	}
}

func TestBuyNumberInvalid(t *testing.T) {
	f := newFake(t, replyJSON(200, `{"error-code":"200"}`))
	c := newTestClient(t, f.URL)
	wantCode(t, c.BuyNumber(ctx, "GB", "+44 7700"), maskcall.EINVALID)
	wantCode(t, c.BuyNumber(ctx, "", "+447700900123"), maskcall.EINVALID)
	if n := len(f.requests()); n != 0 {
		t.Fatalf("sent %d requests", n)
	}
}

func TestCancelNumber(t *testing.T) {
	f := newFake(t, replyJSON(200, `{"error-code":"200","error-code-label":"success"}`))
	if err := newTestClient(t, f.URL).CancelNumber(ctx, "GB", "+447700900123"); err != nil {
		t.Fatal(err)
	}
	r := f.only(t)
	if r.Method != http.MethodPost || r.Path != "/number/cancel" {
		t.Fatalf("request %s %s, want POST /number/cancel", r.Method, r.Path)
	}
	wantValues(t, "query", r.Query, keySecret())
	wantValues(t, "form", r.Form(t), map[string][]string{"country": {"GB"}, "msisdn": {"447700900123"}})

	f = newFake(t, replyJSON(420, `{"error-code":"420","error-code-label":"method failed"}`))
	wantCode(t, newTestClient(t, f.URL).CancelNumber(ctx, "GB", "+447700900123"), maskcall.EUPSTREAM)
	f = newFake(t, replyJSON(401, `{"error-code":"401","error-code-label":"authentication failed"}`))
	wantCode(t, newTestClient(t, f.URL).CancelNumber(ctx, "GB", "+447700900123"), maskcall.EVONAGEAUTH)
}

func TestLinkNumber(t *testing.T) {
	const app = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
	f := newFake(t, replyJSON(200, `{"error-code":"200","error-code-label":"success"}`))
	if err := newTestClient(t, f.URL).LinkNumber(ctx, "GB", "+447700900123", app); err != nil {
		t.Fatal(err)
	}
	r := f.only(t)
	if r.Method != http.MethodPost || r.Path != "/number/update" {
		t.Fatalf("request %s %s, want POST /number/update", r.Method, r.Path)
	}
	wantValues(t, "query", r.Query, keySecret())
	// Only app_id besides the required fields: nothing else is changed.
	wantValues(t, "form", r.Form(t), map[string][]string{"country": {"GB"}, "msisdn": {"447700900123"}, "app_id": {app}})

	for _, tc := range []struct {
		status int
		body   string
		code   string
	}{
		{420, `{"error-code":"420","error-code-label":"method failed"}`, maskcall.EUPSTREAM},
		{401, `{"error-code":"401","error-code-label":"authentication failed"}`, maskcall.EVONAGEAUTH},
		{500, ``, maskcall.EUPSTREAM},
		// Not 200 but 2xx: the SDK would type-assert a nil error here.
		{201, `{"error-code":"200","error-code-label":"success"}`, maskcall.EUPSTREAM},
	} {
		f := newFake(t, replyJSON(tc.status, tc.body))
		err := newTestClient(t, f.URL).LinkNumber(ctx, "GB", "+447700900123", app)
		wantCode(t, err, tc.code)
	}
	wantCode(t, newTestClient(t, f.URL).LinkNumber(ctx, "GB", "+447700900123", ""), maskcall.EINVALID)
}

func ownedPage(t *testing.T, count, from, n int) string {
	type num struct {
		Country            string   `json:"country"`
		Msisdn             string   `json:"msisdn"`
		Type               string   `json:"type"`
		Features           []string `json:"features"`
		AppID              string   `json:"app_id,omitempty"`
		VoiceCallbackType  string   `json:"voiceCallbackType,omitempty"`
		VoiceCallbackValue string   `json:"voiceCallbackValue,omitempty"`
	}
	page := struct {
		Count   int   `json:"count"`
		Numbers []num `json:"numbers"`
	}{Count: count}
	for i := from; i < from+n; i++ {
		x := num{Country: "GB", Msisdn: fmt.Sprintf("4477009%05d", i), Type: "mobile-lvn", Features: []string{"VOICE", "SMS"}}
		switch i % 3 {
		case 1:
			x.AppID = "app-1"
		case 2:
			x.VoiceCallbackType, x.VoiceCallbackValue = "app", "app-2"
		}
		page.Numbers = append(page.Numbers, x)
	}
	b, err := json.Marshal(page)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestOwnedNumbersPaginates(t *testing.T) {
	const total = 250
	f := newFake(t, func(w http.ResponseWriter, r *http.Request, s seen) {
		index, _ := strconv.Atoi(s.Query.Get("index"))
		from := (index - 1) * 100
		n := min(100, total-from)
		replyJSON(200, ownedPage(t, total, from, max(n, 0)))(w, r, s)
	})
	got, err := newTestClient(t, f.URL).OwnedNumbers(ctx, maskcall.OwnedNumbersFilter{})
	if err != nil {
		t.Fatal(err)
	}
	reqs := f.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if r.Method != http.MethodGet || r.Path != "/account/numbers" {
			t.Fatalf("request %s %s, want GET /account/numbers", r.Method, r.Path)
		}
		wantValues(t, "query", r.Query, with(keySecret(), "size", "100", "index", strconv.Itoa(i+1)))
	}
	if len(got) != total {
		t.Fatalf("got %d numbers, want %d", len(got), total)
	}
	want := []maskcall.OwnedNumber{
		{Number: "+447700900000", Country: "GB", Type: "mobile-lvn", Features: []string{"VOICE", "SMS"}},
		{Number: "+447700900001", Country: "GB", Type: "mobile-lvn", Features: []string{"VOICE", "SMS"}, AppID: "app-1"},
		{Number: "+447700900002", Country: "GB", Type: "mobile-lvn", Features: []string{"VOICE", "SMS"}, AppID: "app-2"},
	}
	if !reflect.DeepEqual(got[:3], want) {
		t.Fatalf("got %+v\nwant %+v", got[:3], want)
	}
	if got[249].Number != "+447700900249" {
		t.Fatalf("last number %s", got[249].Number)
	}
}

func TestOwnedNumbersFilterAndEdges(t *testing.T) {
	// An account without numbers: Vonage sends only the count.
	f := newFake(t, replyJSON(200, `{"count":0}`))
	got, err := newTestClient(t, f.URL).OwnedNumbers(ctx, maskcall.OwnedNumbersFilter{Country: "gb", Pattern: "+4477"})
	if err != nil || len(got) != 0 {
		t.Fatalf("got %v, %v", got, err)
	}
	wantValues(t, "query", f.only(t).Query, with(keySecret(),
		"country", "GB", "pattern", "4477", "search_pattern", "1", "size", "100", "index", "1"))

	// Exactly one full page: stops when count is reached.
	f = newFake(t, replyJSON(200, ownedPage(t, 100, 0, 100)))
	got, err = newTestClient(t, f.URL).OwnedNumbers(ctx, maskcall.OwnedNumbersFilter{})
	if err != nil || len(got) != 100 || len(f.requests()) != 1 {
		t.Fatalf("got %d numbers in %d requests, %v", len(got), len(f.requests()), err)
	}

	// A server that ignores index must not make the listing loop forever.
	f = newFake(t, replyJSON(200, ownedPage(t, 1000, 0, 100)))
	_, err = newTestClient(t, f.URL).OwnedNumbers(ctx, maskcall.OwnedNumbersFilter{})
	wantCode(t, err, maskcall.EUPSTREAM)
	if n := len(f.requests()); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}

	f = newFake(t, replyJSON(401, `{"error-code":"401","error-code-label":"authentication failed"}`))
	_, err = newTestClient(t, f.URL).OwnedNumbers(ctx, maskcall.OwnedNumbersFilter{})
	wantCode(t, err, maskcall.EVONAGEAUTH)

	f = newFake(t, replyJSON(200, `{"count":"many"}`))
	_, err = newTestClient(t, f.URL).OwnedNumbers(ctx, maskcall.OwnedNumbersFilter{})
	wantCode(t, err, maskcall.EUPSTREAM)
}

func errorsAs(err error, target **maskcall.Error) bool {
	e, ok := err.(*maskcall.Error)
	if ok {
		*target = e
	}
	return ok
}
