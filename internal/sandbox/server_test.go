package sandbox

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
)

func TestServerOpenClose(t *testing.T) {
	srv := NewServer(":0", New(Config{}))
	if srv.URL() != "" {
		t.Errorf("URL before Open = %q", srv.URL())
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^http://127\.0\.0\.1:[0-9]+$`).MatchString(srv.URL()) {
		t.Errorf("URL = %q", srv.URL())
	}
	// Default credentials work.
	r := get(t, srv.URL(), "/number/search", map[string][]string{
		"api_key": {DefaultAPIKey}, "api_secret": {DefaultAPISecret}, "country": {"GB"},
	})
	wantStatus(t, r, http.StatusOK)
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(srv.URL() + "/_sandbox/numbers"); err == nil {
		t.Error("server still answering after Close")
	}
}

func TestInspection(t *testing.T) {
	sb := New(Config{APIKey: testKey, APISecret: testSecret})
	ts := httptest.NewServer(sb)
	defer ts.Close()
	base := ts.URL

	// A number owned behind maskcall's back.
	r := sendJSON(t, http.MethodPost, base+"/_sandbox/owned", map[string]string{"country": "GB", "msisdn": "447700900321", "app_id": testAppID})
	wantStatus(t, r, http.StatusCreated)
	wantStatus(t, sendJSON(t, http.MethodPost, base+"/_sandbox/owned", map[string]string{"country": "GB", "msisdn": "447700900321"}), http.StatusBadRequest)
	wantStatus(t, sendJSON(t, http.MethodPost, base+"/_sandbox/owned", map[string]string{"country": "US", "msisdn": "447700900322"}), http.StatusBadRequest)
	var owned []OwnedNumber
	get(t, base, "/_sandbox/numbers", nil).decode(t, &owned)
	if len(owned) != 1 || owned[0].AppID != testAppID || owned[0].Type != TypeMobile || !owned[0].External {
		t.Errorf("owned = %+v", owned)
	}
	if got := sb.Balance(); got != DefaultBalance {
		t.Errorf("adding a number behind the API's back cost %v", DefaultBalance-got)
	}
	r = get(t, base, "/account/numbers", creds())
	if c := r.json(t)["count"]; c != float64(1) {
		t.Errorf("listed %v numbers", c)
	}

	// The balance can be set.
	wantStatus(t, sendJSON(t, http.MethodPost, base+"/_sandbox/balance", map[string]float64{"balance": 0}), http.StatusOK)
	if got := get(t, base, "/_sandbox/balance", nil).json(t)["balance"]; got != float64(0) {
		t.Errorf("balance = %v", got)
	}
	wantNumbersReply(t, postForm(t, base, "/number/buy", creds("country", "US", "msisdn", "12025550100")), 420, "420")

	// Requests can be filtered by path.
	var reqs []RequestRecord
	get(t, base, "/_sandbox/requests", map[string][]string{"path": {"/number/buy"}}).decode(t, &reqs)
	if len(reqs) != 1 || reqs[0].Status != 420 || reqs[0].Form.Get("msisdn") != "12025550100" {
		t.Errorf("requests = %+v", reqs)
	}

	// Unknown API paths are logged too, so that a wrong path shows.
	wantStatus(t, get(t, base, "/numbers/search", creds()), http.StatusNotFound)
	if all := sb.Requests(); all[len(all)-1].Path != "/numbers/search" || all[len(all)-1].Status != 404 {
		t.Errorf("last request = %+v", all[len(all)-1])
	}

	wantStatus(t, sendJSON(t, http.MethodDelete, base+"/_sandbox/owned/447700900321", nil), http.StatusNoContent)
	wantStatus(t, sendJSON(t, http.MethodDelete, base+"/_sandbox/owned/447700900321", nil), http.StatusNotFound)

	// Reset forgets everything.
	if err := sb.AddOwned(OwnedNumber{Country: "US", MSISDN: "12025550101"}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, sendJSON(t, http.MethodPost, base+"/_sandbox/reset", nil), http.StatusNoContent)
	if len(sb.OwnedNumbers())+len(sb.Requests())+len(sb.SentSMS())+len(sb.Calls()) != 0 || sb.Balance() != DefaultBalance {
		t.Error("state left after reset")
	}
	for _, path := range []string{"/_sandbox/requests", "/_sandbox/sms", "/_sandbox/numbers", "/_sandbox/calls", "/_sandbox/faults"} {
		r := get(t, base, path, nil)
		wantStatus(t, r, http.StatusOK)
		if string(r.body) != "[]\n" {
			t.Errorf("%s = %s, want []", path, r.body)
		}
	}
}
