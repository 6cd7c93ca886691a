package vonage

import (
	"net/http"
	"testing"

	"github.com/maskcall/maskcall/internal/maskcall"
)

func TestBasicInsightRequestAndReply(t *testing.T) {
	f := newFake(t, replyJSON(200, `{
		"status": 0, "status_message": "Success",
		"request_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
		"international_format_number": "447700900000", "national_format_number": "07700 900000",
		"country_code": "GB", "country_code_iso3": "GBR", "country_name": "United Kingdom", "country_prefix": "44"}`))
	got, err := newTestClient(t, f.URL).BasicInsight(ctx, "+447700900000")
	if err != nil {
		t.Fatal(err)
	}
	if *got != (maskcall.Insight{Number: "+447700900000", Country: "GB"}) {
		t.Fatalf("got %+v", got)
	}
	r := f.only(t)
	if r.Method != http.MethodGet || r.Path != "/ni/basic/json" {
		t.Fatalf("request %s %s, want GET /ni/basic/json", r.Method, r.Path)
	}
	wantValues(t, "query", r.Query, with(keySecret(), "number", "447700900000"))
}

func TestBasicInsightStatuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		code   string
	}{
		{"invalid number", 200, `{"status":3,"status_message":"Invalid Number","request_id":"r-3"}`, maskcall.EINVALIDNUMBER},
		{"bad credentials", 200, `{"status":4,"status_message":"Invalid credentials","request_id":"r-4"}`, maskcall.EVONAGEAUTH},
		{"throttled", 200, `{"status":1,"status_message":"Throttled","request_id":"r-1"}`, maskcall.EUPSTREAM},
		{"internal", 200, `{"status":5,"status_message":"Internal Error","request_id":"r-5"}`, maskcall.EUPSTREAM},
		{"quota", 200, `{"status":9,"status_message":"Partner quota exceeded","request_id":"r-9"}`, maskcall.EUPSTREAM},
		{"incomplete", 200, `{"status":0,"status_message":"Success","request_id":"r-0"}`, maskcall.EUPSTREAM},
		{"401", 401, `{"type":"https://developer.nexmo.com/api-errors#unauthorized","title":"Invalid credentials supplied","instance":"r-401"}`, maskcall.EVONAGEAUTH},
		{"500", 500, `{"type":"x","title":"Internal error","instance":"r-500"}`, maskcall.EUPSTREAM},
		{"not json", 200, `nope`, maskcall.EUPSTREAM},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t, replyJSON(tc.status, tc.body))
			_, err := newTestClient(t, f.URL).BasicInsight(ctx, "+447700900000")
			wantCode(t, err, tc.code)
			ae := apiErr(t, err)
			if tc.name != "not json" && ae.RequestID == "" {
				t.Fatalf("request id lost: %+v", ae)
			}
		})
	}
}

func TestBasicInsightInvalidInput(t *testing.T) {
	f := newFake(t, replyJSON(200, `{}`))
	_, err := newTestClient(t, f.URL).BasicInsight(ctx, "call me")
	wantCode(t, err, maskcall.EINVALID)
	if n := len(f.requests()); n != 0 {
		t.Fatalf("sent %d requests", n)
	}
}
