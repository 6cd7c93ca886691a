package webhook

// Hostile and odd input, beyond the cases in answer_test.go, event_test.go
// and signature_test.go.

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/maskcall/maskcall/internal/vonage/signature"
)

const testEventURL = "https://maskcall.example/webhooks/event"

// wantAliceToBob checks the connect NCCO of Alice calling her proxy number.
func wantAliceToBob(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	wantConnect(t, rec, proxyB[1:], numB[1:], testEventURL, 3600)
}

func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

func TestAnswerHostile(t *testing.T) {
	tests := []struct {
		name    string
		method  string
		target  string // path and query
		body    string // POST only
		connect bool   // Alice to Bob, else not in service
	}{
		// Deeply nested JSON: encoding/json gives up past 10,000 levels,
		// and the whole body is refused, known pair or not.
		{"nested custom_data", "POST", "/webhooks/answer",
			`{"from":"447700900001","to":"447700900101","custom_data":` + nested(500) + `}`, true},
		{"too deeply nested custom_data", "POST", "/webhooks/answer",
			`{"from":"447700900001","to":"447700900101","custom_data":` + nested(10001) + `}`, false},
		{"deeply nested body", "POST", "/webhooks/answer", nested(20000), false},
		{"deeply nested objects", "POST", "/webhooks/answer", strings.Repeat(`{"from":`, 5000) + `"447700900001"` + strings.Repeat("}", 5000), false},

		// Missing or non-numeric from/to.
		{"from empty string", "POST", "/webhooks/answer", `{"from":"","to":"447700900101"}`, false},
		{"to only spaces", "GET", "/webhooks/answer?from=447700900001&to=%20%20", "", false},
		{"from null", "POST", "/webhooks/answer", `{"from":null,"to":"447700900101"}`, false},
		{"to an object", "POST", "/webhooks/answer", `{"from":"447700900001","to":{"number":"447700900101"}}`, false},
		{"to a boolean", "POST", "/webhooks/answer", `{"from":"447700900001","to":true}`, false},
		{"from a float", "POST", "/webhooks/answer", `{"from":4.47700900001e11,"to":"447700900101"}`, false},
		{"from with letters after", "GET", "/webhooks/answer?from=447700900001abc&to=447700900101", "", false},
		{"from only a plus", "GET", "/webhooks/answer?from=%2B&to=447700900101", "", false},
		// libphonenumber ignores punctuation and repeated pluses, so these
		// are Alice's number written oddly.
		{"from with a minus", "GET", "/webhooks/answer?from=-447700900001&to=447700900101", "", true},
		{"from two pluses", "GET", "/webhooks/answer?from=%2B%2B447700900001&to=447700900101", "", true},
		{"from is two numbers", "GET", "/webhooks/answer?from=447700900001%2C447700900003&to=447700900101", "", false},
		{"from a SIP URI", "POST", "/webhooks/answer", `{"from":"sip:447700900001@example.com","to":"447700900101"}`, false},
		{"from Unknown (withheld)", "POST", "/webhooks/answer", `{"from":"Unknown","to":"447700900101"}`, false},
		{"from field name escaped", "GET", "/webhooks/answer?fr%6Fm=447700900001&t%6F=447700900101", "", true},
		{"first to escaped, a stranger's", "GET", "/webhooks/answer?t%6F=447700900102&from=447700900001&to=447700900101", "", false},
		{"key with a bad escape skipped", "GET", "/webhooks/answer?fr%zzom=447700900003&from=447700900001&to=447700900101", "", true},

		// Strings that look like SQL: never a number; in uuid they are
		// just an id (the store binds parameters).
		{"SQL in from", "POST", "/webhooks/answer", `{"from":"' OR 1=1 --","to":"447700900101"}`, false},
		{"SQL after from", "GET", "/webhooks/answer?from=447700900001%27%20OR%201%3D1%20--&to=447700900101", "", false},
		{"SQL in to", "GET", "/webhooks/answer?from=447700900001&to=%27%20OR%201%3D1%20--", "", false},
		{"SQL in uuid", "POST", "/webhooks/answer", `{"from":"447700900001","to":"447700900101","uuid":"' OR 1=1 --","conversation_uuid":"'; DROP TABLE calls; --"}`, true},

		// Unicode digits are not ASCII digits.
		{"fullwidth to GET", "GET", "/webhooks/answer?from=447700900001&to=%EF%BC%94%EF%BC%94%EF%BC%97%EF%BC%97%EF%BC%90%EF%BC%90%EF%BC%99%EF%BC%90%EF%BC%90%EF%BC%91%EF%BC%90%EF%BC%91", "", false},
		{"fullwidth from", "POST", "/webhooks/answer", `{"from":"４４７７００９０００００１","to":"447700900101"}`, false},
		{"fullwidth plus", "POST", "/webhooks/answer", `{"from":"＋447700900001","to":"447700900101"}`, false},
		{"mixed digits", "POST", "/webhooks/answer", `{"from":"44770090000１","to":"447700900101"}`, false},
		{"JSON escapes of ASCII digits", "POST", "/webhooks/answer", `{"from":"\u0034\u0034\u0037\u0037\u0030\u0030\u0039\u0030\u0030\u0030\u0030\u0031","to":"447700900101"}`, true},

		// '+' and spaces: a raw '+' in a query is a space; numbers are
		// normalised as phone.FromMSISDN does.
		{"raw plus in query (a space)", "GET", "/webhooks/answer?from=+447700900001&to=+447700900101", "", true},
		{"escaped plus and spaces", "GET", "/webhooks/answer?from=%2B44%207700%20900001&to=44+7700+900101", "", true},
		{"spaces in JSON", "POST", "/webhooks/answer", `{"from":" +44 7700 900001 ","to":"4477 0090 0101"}`, true},
		{"tab and newline", "POST", "/webhooks/answer", `{"from":"\t447700900001\n","to":"447700900101"}`, true},

		// Null bytes.
		{"null byte after from", "GET", "/webhooks/answer?from=447700900001%00&to=447700900101", "", false},
		{"null byte inside to", "POST", "/webhooks/answer", `{"from":"447700900001","to":"4477009\u00000101"}`, false},
		{"null byte in field name", "POST", "/webhooks/answer", `{"from\u0000":"447700900003","from":"447700900001","to":"447700900101"}`, true},
		{"raw null byte in body", "POST", "/webhooks/answer", "{\"from\":\"447700900001\x00\",\"to\":\"447700900101\"}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{})
			var req *http.Request
			if tt.method == "GET" {
				req = httptest.NewRequest("GET", "/webhooks/answer", nil)
				_, req.URL.RawQuery, _ = strings.Cut(tt.target, "?")
			} else {
				req = httptest.NewRequest("POST", tt.target, strings.NewReader(tt.body))
			}
			rec := e.do(req)
			if tt.connect {
				wantAliceToBob(t, rec)
			} else {
				wantNotInService(t, rec)
			}
			if e.store.findRoutes > 1 {
				t.Errorf("%d route lookups", e.store.findRoutes)
			}
		})
	}
}

func TestAnswerSQLUUIDStoredVerbatim(t *testing.T) {
	e := newTestEnv(t, Config{})
	const uuid = "' OR 1=1 --"
	wantAliceToBob(t, e.post("/webhooks/answer", `{"from":"447700900001","to":"447700900101","uuid":"' OR 1=1 --","conversation_uuid":"x\u0000y"}`))
	c := e.store.calls[uuid]
	if c == nil || c.ConversationUUID != "x\x00y" || c.From != numA || c.To != proxyA {
		t.Errorf("calls = %v", e.store.calls)
	}
}

// Vonage retries an answer webhook it got no timely reply to: the caller
// is connected each time, and the call recorded once.
func TestAnswerDuplicate(t *testing.T) {
	e := newTestEnv(t, Config{})
	for range 3 {
		wantAliceToBob(t, e.get("/webhooks/answer?"+answerQuery("447700900001", "447700900101", "UUID-DUP")))
	}
	if len(e.store.calls) != 1 || e.store.calls["UUID-DUP"] == nil {
		t.Errorf("calls = %v", e.store.calls)
	}
	if e.store.findRoutes != 3 {
		t.Errorf("route lookups = %d, want one per request", e.store.findRoutes)
	}
}

func TestEventHostile(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int
	}{
		{"deeply nested", nested(20000), http.StatusBadRequest},
		{"too deeply nested extra field", `{"status":"ringing","uuid":"U","x":` + nested(10001) + `}`, http.StatusBadRequest},
		{"nested extra field", `{"status":"ringing","uuid":"U","x":` + nested(100) + `}`, http.StatusNoContent},
		{"SQL status", `{"status":"completed' OR 1=1 --","uuid":"U"}`, http.StatusBadRequest},
		{"status with a null byte", `{"status":"completed\u0000","uuid":"U"}`, http.StatusBadRequest},
		{"status in capitals", `{"status":"COMPLETED","uuid":"U"}`, http.StatusBadRequest},
		{"status padded", `{"status":" completed","uuid":"U"}`, http.StatusBadRequest},
		{"uuid only spaces is still a uuid", `{"status":"ringing","uuid":" "}`, http.StatusNoContent},
		{"uuid null", `{"status":"ringing","uuid":null}`, http.StatusBadRequest},
		{"uuid a number", `{"status":"ringing","uuid":5}`, http.StatusBadRequest},
		{"duration with plus", `{"status":"completed","uuid":"U","duration":"+5"}`, http.StatusNoContent},
		{"duration with spaces", `{"status":"completed","uuid":"U","duration":" 5 "}`, http.StatusNoContent},
		{"duration fullwidth", `{"status":"completed","uuid":"U","duration":"５"}`, http.StatusBadRequest},
		{"duration overflows", `{"status":"completed","uuid":"U","duration":"99999999999999999999"}`, http.StatusBadRequest},
		{"duration exponent", `{"status":"completed","uuid":"U","duration":1e3}`, http.StatusBadRequest},
		{"timestamp with a null byte", `{"status":"ringing","uuid":"U","timestamp":"2025-03-01T12:00:00Z\u0000"}`, http.StatusBadRequest},
		{"timestamp far future", `{"status":"ringing","uuid":"U","timestamp":"9999-12-31T23:59:59Z"}`, http.StatusNoContent},
		{"trailing garbage", `{"status":"ringing","uuid":"U"} {"status":"completed"}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{})
			rec := e.post("/webhooks/event", tt.body)
			if rec.Code != tt.want {
				t.Fatalf("= %d, want %d", rec.Code, tt.want)
			}
			if tt.want != http.StatusNoContent && e.store.recordEvents != 0 {
				t.Error("a refused event reached the router")
			}
		})
	}
}

func TestEventNumbersNormalised(t *testing.T) {
	e := newTestEnv(t, Config{})
	rec := e.post("/webhooks/event", `{"status":"ringing","uuid":"U","from":"+44 7700 900001","to":"４４７７００９００１０１"}`)
	if rec.Code != http.StatusNoContent {
		t.Fatalf("= %d", rec.Code)
	}
	if ev := e.store.events[0]; ev.From != numA || ev.To != "４４７７００９００１０１" {
		t.Errorf("from %q to %q; want E.164 and the unparsable kept as sent", ev.From, ev.To)
	}
}

// Events can come before the ones they follow; a call never moves back.
func TestEventCompletedBeforeAnswered(t *testing.T) {
	e := newTestEnv(t, Config{})
	startCall(t, e, "UUID-O")
	for _, ev := range []string{
		`{"status":"completed","uuid":"UUID-O","duration":"12","timestamp":"2025-03-01T12:00:20.000Z"}`,
		`{"status":"answered","uuid":"UUID-O","timestamp":"2025-03-01T12:00:08.000Z"}`,
		`{"status":"ringing","uuid":"UUID-O","timestamp":"2025-03-01T12:00:02.000Z"}`,
		`{"status":"started","uuid":"UUID-O","timestamp":"2025-03-01T12:00:00.000Z"}`,
	} {
		if rec := e.post("/webhooks/event", ev); rec.Code != http.StatusNoContent {
			t.Fatalf("%s = %d", ev, rec.Code)
		}
	}
	if c := e.store.calls["UUID-O"]; c.Status != "completed" || c.Duration != 12 {
		t.Errorf("call = %+v, want completed with duration 12", c)
	}
}

// Events of calls maskcall did not route are answered 204 so Vonage does
// not retry, and change no call.
func TestEventUnknownCallsChangeNothing(t *testing.T) {
	e := newTestEnv(t, Config{})
	startCall(t, e, "UUID-K")
	for _, ev := range []string{
		`{"status":"completed","uuid":"UUID-OTHER","duration":"60"}`,
		`{"status":"completed","conversation_uuid":"CON-OTHER","duration":"60"}`,
		`{"status":"completed","uuid":"uuid-k","duration":"60"}`, // ids are case-sensitive
	} {
		if rec := e.post("/webhooks/event", ev); rec.Code != http.StatusNoContent {
			t.Fatalf("%s = %d, want 204", ev, rec.Code)
		}
	}
	if rec := e.get("/webhooks/event?status=completed&uuid=NOBODY&duration=60"); rec.Code != http.StatusNoContent {
		t.Fatalf("GET = %d, want 204", rec.Code)
	}
	if len(e.store.calls) != 1 {
		t.Errorf("calls = %v", e.store.calls)
	}
	if c := e.store.calls["UUID-K"]; c.Status != "started" || c.Duration != 0 {
		t.Errorf("a known call changed: %+v", c)
	}
	if n := strings.Count(e.logs.String(), `"recorded":false`); n != 4 {
		t.Errorf("%d events logged as not recorded, want 4:\n%s", n, e.logs.String())
	}
}

// deleteClaim in claimsTok's extra claims removes the claim.
const deleteClaim = "\x00delete"

func TestSignatureHostile(t *testing.T) {
	answerQ := "/webhooks/answer?" + answerQuery("447700900001", "447700900101", "U")
	answerBody := answerJSON("447700900001", "447700900101", "U")
	claimsTok := func(extra jwt.MapClaims) func([]byte) string {
		return func(p []byte) string {
			sum := sha256.Sum256(p)
			c := jwt.MapClaims{"iat": testNow.Unix(), "jti": testJTI(), "iss": "Vonage", "api_key": testAPIKey,
				"application_id": testApplicationID, "payload_hash": hex.EncodeToString(sum[:])}
			for k, v := range extra {
				if v == deleteClaim {
					delete(c, k)
				} else {
					c[k] = v
				}
			}
			s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(testSecret))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}
	withAuth := func(req *http.Request, auth string) *http.Request {
		req.Header.Set("Authorization", auth)
		return req
	}
	tok := hs256(t, testSecret, testNow)
	tests := []struct {
		name string
		req  func(t *testing.T) *http.Request
		ok   bool // accepted and routed, else refused with 401
	}{
		// The time window's edges.
		{"iat exactly max age", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, hs256(t, testSecret, testNow.Add(-signature.MaxAge)))
		}, true},
		{"iat max age and a second", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, hs256(t, testSecret, testNow.Add(-signature.MaxAge-time.Second)))
		}, false},
		{"iat exactly clock skew ahead", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, hs256(t, testSecret, testNow.Add(signature.ClockSkew)))
		}, true},
		{"iat a day ahead", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, hs256(t, testSecret, testNow.Add(24*time.Hour)))
		}, false},
		{"iat years ago", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, hs256(t, testSecret, time.Unix(0, 0)))
		}, false},
		{"iat a numeric string (golang-jwt reads it as a number)", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, claimsTok(jwt.MapClaims{"iat": strconv.FormatInt(testNow.Unix(), 10)}))
		}, true},
		{"iat not a number", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, claimsTok(jwt.MapClaims{"iat": "yesterday"}))
		}, false},
		{"iat null", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, claimsTok(jwt.MapClaims{"iat": nil}))
		}, false},
		{"nbf ahead", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, claimsTok(jwt.MapClaims{"nbf": testNow.Add(time.Hour).Unix()}))
		}, false},
		{"exp just past, within the skew", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, claimsTok(jwt.MapClaims{"exp": testNow.Add(-10 * time.Second).Unix()}))
		}, true},

		// The claims Vonage's tokens carry, checked against the configuration.
		{"iss not Vonage", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, claimsTok(jwt.MapClaims{"iss": "Nexmo-ish"}))
		}, false},
		{"no iss", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, claimsTok(jwt.MapClaims{"iss": deleteClaim}))
		}, false},
		{"another account's api_key", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, claimsTok(jwt.MapClaims{"api_key": "other123"}))
		}, false},
		{"no api_key", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, claimsTok(jwt.MapClaims{"api_key": deleteClaim}))
		}, false},
		{"another application", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, claimsTok(jwt.MapClaims{"application_id": "bbbbbbbb-bbbb-cccc-dddd-0123456789ab"}))
		}, false},
		{"no application_id (accepted: Vonage may leave it out)", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, claimsTok(jwt.MapClaims{"application_id": deleteClaim}))
		}, true},
		{"no jti", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, claimsTok(jwt.MapClaims{"jti": deleteClaim}))
		}, false},
		{"only iat and payload_hash", func(t *testing.T) *http.Request {
			return signedGET(t, answerQ, claimsTok(jwt.MapClaims{"jti": deleteClaim, "iss": deleteClaim, "api_key": deleteClaim, "application_id": deleteClaim}))
		}, false},

		// A token signed for other bytes.
		{"token of another call's body", func(t *testing.T) *http.Request {
			req := signedPOST(t, "/webhooks/answer", answerJSON("447700900003", "447700900101", "U"), tok)
			return withBody(req, answerBody)
		}, false},
		{"token of an event replayed on the answer webhook", func(t *testing.T) *http.Request {
			req := signedPOST(t, "/webhooks/event", `{"status":"answered","uuid":"U"}`, tok)
			r := withBody(req, answerBody)
			r.URL.Path = "/webhooks/answer"
			return r
		}, false},
		{"the same JSON with whitespace", func(t *testing.T) *http.Request {
			req := signedPOST(t, "/webhooks/answer", answerBody, tok)
			return withBody(req, strings.ReplaceAll(answerBody, `":"`, `": "`))
		}, false},
		{"token of the query used for a POST of other bytes", func(t *testing.T) *http.Request {
			g := signedGET(t, answerQ, tok)
			r := httptest.NewRequest("POST", "/webhooks/answer", strings.NewReader(answerBody))
			r.Header = g.Header.Clone()
			return r
		}, false},
		{"GET param added", func(t *testing.T) *http.Request {
			req := signedGET(t, answerQ, tok)
			req.URL.RawQuery += "&to=447700900102"
			return req
		}, false},
		{"GET param value re-escaped equivalently", func(t *testing.T) *http.Request {
			// signature.QueryPayload hashes the unescaped values, so this is the
			// same payload: '+' and %20 are both a space, %34 is '4'.
			req := signedGET(t, "/webhooks/answer?from=%2B44+7700+900001&to=447700900101", tok)
			req.URL.RawQuery = "from=%2B%34%34%207700%20900001&to=447700900101"
			return req
		}, true},
		{"escaped field names route as signed", func(t *testing.T) *http.Request {
			// signature.QueryPayload unescapes keys, so the signed payload says from
			// and to; the answer webhook reads them the same way.
			return signedGET(t, "/webhooks/answer?fr%6Fm=447700900001&t%6F=447700900101", tok)
		}, true},
		{"empty GET params added", func(t *testing.T) *http.Request {
			req := signedGET(t, answerQ, tok)
			req.URL.RawQuery = "&&" + strings.ReplaceAll(req.URL.RawQuery, "&", "&&") + "&"
			return req
		}, true},

		// The Authorization header's form.
		{"bearer in lower case", func(t *testing.T) *http.Request {
			req := signedGET(t, answerQ, tok)
			return withAuth(req, "bearer "+strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "))
		}, true},
		{"extra spaces around the token", func(t *testing.T) *http.Request {
			req := signedGET(t, answerQ, tok)
			return withAuth(req, "Bearer   "+strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")+"  ")
		}, true},
		{"two tokens", func(t *testing.T) *http.Request {
			req := signedGET(t, answerQ, tok)
			a := req.Header.Get("Authorization")
			return withAuth(req, a+" "+strings.TrimPrefix(a, "Bearer "))
		}, false},
		{"a bad header before the good one", func(t *testing.T) *http.Request {
			req := signedGET(t, answerQ, tok)
			req.Header["Authorization"] = []string{"Bearer x.y.z", req.Header.Get("Authorization")}
			return req
		}, false},
		{"token in the query instead", func(t *testing.T) *http.Request {
			req := signedGET(t, answerQ, tok)
			req.URL.RawQuery += "&token=" + strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
			req.Header.Set("Authorization", "Bearer")
			return req
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, Config{SignatureSecret: testSecret})
			rec := e.do(tt.req(t))
			if tt.ok {
				wantAliceToBob(t, rec)
				return
			}
			if rec.Code != http.StatusUnauthorized || rec.Body.Len() != 0 {
				t.Errorf("= %d %q, want 401 and no body", rec.Code, rec.Body.String())
			}
			if e.store.reached() {
				t.Error("a refused webhook reached the router")
			}
		})
	}
}

// Over the size limit the answer webhook cannot check a signature; it
// answers not-in-service without reaching the router, and the event
// webhook answers 413.
func TestSignedOversized(t *testing.T) {
	e := newTestEnv(t, Config{SignatureSecret: testSecret})
	big := `{"from":"447700900001","to":"447700900101","pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}`
	wantNotInService(t, e.do(signedPOST(t, "/webhooks/answer", big, hs256(t, testSecret, testNow))))
	if rec := e.do(signedPOST(t, "/webhooks/event", big, hs256(t, testSecret, testNow))); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("event = %d, want 413", rec.Code)
	}
	if e.store.reached() {
		t.Error("an oversized webhook reached the router")
	}
}

// Bare international digits (what Vonage sends) need no parsing; other forms
// are parsed once: callers' and proxy numbers are cached apart, only numbers
// that parse are kept, and a cached number answers as a fresh one does.
func TestAnswerNumberCaches(t *testing.T) {
	e := newTestEnv(t, Config{})
	for range 2 {
		for _, from := range []string{"447700900001", "+447700900001", " 447700900001"} {
			wantAliceToBob(t, e.get("/webhooks/answer?from="+url.QueryEscape(from)+"&to=447700900101"))
		}
		wantNotInService(t, e.get("/webhooks/answer?from=447700900003&to=447700900101"))
		wantNotInService(t, e.get("/webhooks/answer?from=not-a-number&to=447700900101"))
		wantNotInService(t, e.get("/webhooks/answer?from=447700900001&to=not-a-number"))
	}
	callers, proxies := e.srv.callers.m, e.srv.proxies.m
	if len(callers) != 1 || callers[" 447700900001"] != numA {
		t.Errorf("callers cache = %v, want only the one number that needed parsing", callers)
	}
	if len(proxies) != 0 {
		t.Errorf("proxies cache = %v, want empty: every proxy number came canonical", proxies)
	}
}
