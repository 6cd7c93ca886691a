package sandbox

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func buyForm(msisdn string) []string { return []string{"country", "GB", "msisdn", msisdn} }

func TestFaultStatusOnce(t *testing.T) {
	sb, base := newTestServer(t, Config{})
	r := sendJSON(t, http.MethodPost, base+"/_sandbox/faults", Fault{Path: "/number/buy", Status: 500})
	wantStatus(t, r, http.StatusCreated)

	wantNumbersReply(t, postForm(t, base, "/number/buy", creds(buyForm("447700900010")...)), 500, "500")
	if n := len(sb.OwnedNumbers()); n != 0 {
		t.Fatalf("failed buy applied: %d owned", n)
	}
	wantNumbersReply(t, postForm(t, base, "/number/buy", creds(buyForm("447700900010")...)), 200, "200")
	reqs := sb.Requests()
	if len(reqs) != 2 || !reqs[0].Fault || reqs[0].Status != 500 || reqs[1].Fault || reqs[1].Status != 200 {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestFaultErrorCodes(t *testing.T) {
	sb, base := newTestServer(t, Config{})
	for _, f := range []Fault{
		{Path: "/number/update", ErrorCode: "420", ErrorLabel: "method failed"},
		{Path: "/sms/json", ErrorCode: "1"},
		{Path: "/ni/basic/json", ErrorCode: "1"},
		{Path: "/v1/calls/*", Method: "PUT", Status: 503},
	} {
		if err := sb.InjectFault(f); err != nil {
			t.Fatal(err)
		}
	}
	m := wantNumbersReply(t, postForm(t, base, "/number/update", creds(buyForm("447700900010")...)), 420, "420")
	if m["error-code-label"] != "method failed" {
		t.Errorf("label = %v", m["error-code-label"])
	}

	got := sendSMS(t, base, "from", "Acme", "to", "447700900999", "text", "hi")
	if got.Messages[0]["status"] != "1" || got.Messages[0]["error-text"] != "Throttled" {
		t.Errorf("SMS fault = %+v", got)
	}
	if len(sb.SentSMS()) != 0 {
		t.Error("SMS recorded despite the fault")
	}

	r := get(t, base, "/ni/basic/json", creds("number", "447700900123"))
	wantStatus(t, r, http.StatusOK)
	if m := r.json(t); m["status"] != float64(1) || m["status_message"] != "Busy" {
		t.Errorf("NI fault = %s", r.body)
	}

	wantProblem(t, sendJSON(t, http.MethodPut, base+"/v1/calls/"+newUUID(), map[string]string{"action": "hangup"}), 503, "#internal-error")
	if f := sb.Faults(); len(f) != 0 {
		t.Errorf("faults left: %+v", f)
	}
}

func TestFaultAfterEffect(t *testing.T) {
	sb, base := newTestServer(t, Config{})
	if err := sb.InjectFault(Fault{Path: "/number/buy", AfterEffect: true}); err != nil {
		t.Fatal(err)
	}
	wantNumbersReply(t, postForm(t, base, "/number/buy", creds(buyForm("447700900011")...)), 500, "500")
	if owned := sb.OwnedNumbers(); len(owned) != 1 || owned[0].MSISDN != "447700900011" {
		t.Fatalf("ambiguous failure did not buy: %+v", owned)
	}
	// Retrying now fails: the number is already ours.
	wantNumbersReply(t, postForm(t, base, "/number/buy", creds(buyForm("447700900011")...)), 420, "420")
}

// clientTimeout posts a buy with a client that gives up after d.
func clientTimeout(t *testing.T, base, msisdn string, d time.Duration) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/number/buy",
		strings.NewReader(creds(buyForm(msisdn)...).Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestFaultDelay(t *testing.T) {
	sb, base := newTestServer(t, Config{})

	// Delay alone: a client that gives up first leaves nothing done.
	if err := sb.InjectFault(Fault{Path: "/number/buy", DelayMS: 2000}); err != nil {
		t.Fatal(err)
	}
	if err := clientTimeout(t, base, "447700900012", 100*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	waitFor(t, func() bool { return len(sb.Requests()) == 1 })
	if n := len(sb.OwnedNumbers()); n != 0 {
		t.Errorf("%d owned after an abandoned request", n)
	}

	// With after_effect the operation happens although the client timed out.
	if err := sb.InjectFault(Fault{Path: "/number/buy", DelayMS: 2000, AfterEffect: true}); err != nil {
		t.Fatal(err)
	}
	if err := clientTimeout(t, base, "447700900012", 100*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if n := len(sb.OwnedNumbers()); n != 1 {
		t.Errorf("%d owned, want 1", n)
	}

	// A patient client gets the real reply after the delay.
	if err := sb.InjectFault(Fault{Path: "/number/search", DelayMS: 50}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := get(t, base, "/number/search", creds("country", "US"))
	wantStatus(t, r, http.StatusOK)
	if time.Since(start) < 50*time.Millisecond {
		t.Error("no delay")
	}
}

func TestFaultCountAndClear(t *testing.T) {
	_, base := newTestServer(t, Config{})
	wantStatus(t, sendJSON(t, http.MethodPost, base+"/_sandbox/faults", map[string]any{"path": "/number/search", "count": -1, "status": 502}), http.StatusCreated)
	wantStatus(t, sendJSON(t, http.MethodPost, base+"/_sandbox/faults", map[string]any{"path": "/account/numbers", "count": 2, "error_code": "401"}), http.StatusCreated)
	for range 3 {
		wantNumbersReply(t, get(t, base, "/number/search", creds("country", "GB")), 502, "502")
	}
	for range 2 {
		wantNumbersReply(t, get(t, base, "/account/numbers", creds()), 401, "401")
	}
	wantStatus(t, get(t, base, "/account/numbers", creds()), http.StatusOK)

	var faults []Fault
	get(t, base, "/_sandbox/faults", nil).decode(t, &faults)
	if len(faults) != 1 || faults[0].Count != -1 {
		t.Errorf("faults = %+v", faults)
	}
	wantStatus(t, sendJSON(t, http.MethodDelete, base+"/_sandbox/faults", nil), http.StatusNoContent)
	wantStatus(t, get(t, base, "/number/search", creds("country", "GB")), http.StatusOK)

	for _, bad := range []map[string]any{
		{"path": "/number/buy"},                     // no effect
		{"path": "number/buy", "status": 500},       // relative
		{"path": "/number/buy", "status": 42},       // not HTTP
		{"path": "/number/buy", "error_code": "x"},  //
		{"path": "/number/buy", "status_code": 500}, // unknown field
		{"path": "/number/buy", "count": -2, "status": 500},
	} {
		wantStatus(t, sendJSON(t, http.MethodPost, base+"/_sandbox/faults", bad), http.StatusBadRequest)
	}
}

// waitFor polls cond for a while.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 100 {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met")
}
