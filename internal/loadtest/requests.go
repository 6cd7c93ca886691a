package main

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/maskcall/maskcall/internal/sqlite/sqliteseed"
	"github.com/maskcall/maskcall/internal/vonage/signature"
)

// The credentials the load test gives serve and signs with.
const (
	signatureSecret = "loadtest-signature-secret-0123456789"
	apiKey          = "loadtest1"
	applicationID   = "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
)

// poolNumbers returns size GB proxy numbers, +4474 and eight digits (a
// mobile range Vonage rents virtual numbers in), none of them a seeded
// participant's.
func poolNumbers(size int) []string {
	out := make([]string, size)
	for i := range out {
		out[i] = fmt.Sprintf("+44740%07d", i)
	}
	return out
}

// call is one synthetic inbound call on a seeded conversation.
type call struct {
	from, to, callee string // digits, as Vonage sends them
	uuid, convUUID   string
}

// makeCalls picks count calls on random seeded conversations (of n), from
// either side, each with a fresh uuid.
func makeCalls(rng *rand.Rand, n, count int, pool []string) []call {
	calls := make([]call, count)
	for k := range calls {
		i := rng.IntN(n)
		a, b := sqliteseed.NumberA(i), sqliteseed.NumberB(i)
		if rng.IntN(2) == 1 {
			a, b = b, a
		}
		calls[k] = call{
			from: a[1:], to: sqliteseed.Proxy(pool, i)[1:], callee: b[1:],
			uuid: uuid(rng), convUUID: "CON-" + uuid(rng),
		}
	}
	return calls
}

func uuid(rng *rand.Rand) string {
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", rng.Uint32(), rng.Uint32()&0xffff, rng.Uint32()&0xfff,
		rng.Uint32()&0x3fff|0x8000, rng.Uint64()&0xffffffffffff)
}

// signer signs webhooks as Vonage (and the sandbox) does: signature.Sign.
type signer struct{ now time.Time }

func (s signer) sign(payload []byte) string {
	tok, err := signature.Sign(signatureSecret, signature.Claims{APIKey: apiKey, ApplicationID: applicationID}, payload, s.now)
	if err != nil {
		panic(err) // HS256 with a fixed key cannot fail
	}
	return "Bearer " + tok
}

// resigned returns a copy of r with a new token (a new jti, iat now), for
// a request the generator sends again.
func (r *request) resigned() *request {
	payload := r.body
	if r.method == "GET" {
		_, q, _ := strings.Cut(r.path, "?")
		var err error
		if payload, err = signature.QueryPayload(q); err != nil {
			panic(err) // the generator's own queries always parse
		}
	}
	c := *r
	c.auth = signer{now: time.Now()}.sign(payload)
	return &c
}

// jsonObject is params as the JSON object Vonage sends as a POST body and
// hashes for a GET: signature.QueryPayload of their query.
func jsonObject(params [][2]string) []byte {
	b, err := signature.QueryPayload(encodeQuery(params))
	if err != nil {
		panic(err) // encodeQuery escapes everything
	}
	return b
}

// answerRequest is Vonage's signed GET answer webhook for c; serve must
// connect it to the callee.
func (s signer) answerRequest(c call, regionURL string) request {
	params := [][2]string{
		{"to", c.to}, {"from", c.from}, {"uuid", c.uuid}, {"conversation_uuid", c.convUUID},
		{"region_url", regionURL},
	}
	return request{
		method: "GET",
		path:   "/webhooks/answer?" + encodeQuery(params),
		auth:   s.sign(jsonObject(params)),
		expect: []byte(`"number":"` + c.callee + `"`),
	}
}

// callStatuses are the events the load test sends for each call, as
// Vonage does for a connected call: started, ringing, answered, completed.
var callStatuses = []string{"started", "ringing", "answered", "completed"}

// eventRequest is Vonage's signed POST event webhook number k (0 to 3) of
// call c, with the fields and layout the sandbox sends.
func (s signer) eventRequest(c call, k int, at time.Time) request {
	ts := func(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
	start := at.Add(-time.Minute)
	params := [][2]string{
		{"from", c.from}, {"to", c.to}, {"uuid", c.uuid}, {"conversation_uuid", c.convUUID},
		{"status", callStatuses[k]}, {"direction", "inbound"},
		{"timestamp", ts(start.Add(time.Duration(k) * 20 * time.Second))},
	}
	if callStatuses[k] == "completed" {
		params = append(params,
			[2]string{"start_time", ts(start.Add(40 * time.Second))},
			[2]string{"end_time", ts(start.Add(60 * time.Second))},
			[2]string{"duration", "20"},
			[2]string{"rate", "0.00450000"},
			[2]string{"price", "0.00150000"},
			[2]string{"network", "23410"})
	}
	body := jsonObject(params)
	return request{method: "POST", path: "/webhooks/event", auth: s.sign(body), body: body}
}

func encodeQuery(params [][2]string) string {
	var b strings.Builder
	for i, p := range params {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(p[0]))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p[1]))
	}
	return b.String()
}

// parallel runs f(i) for i in [0, n) on every CPU: signing hundreds of
// thousands of tokens is done before the timed phases, as fast as possible.
func parallel(n int, f func(i int)) {
	workers := runtime.NumCPU()
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for w := range workers {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				f(i)
			}
		}()
	}
	wg.Wait()
}

func answerRequests(s signer, calls []call, regionURL string) []request {
	reqs := make([]request, len(calls))
	parallel(len(calls), func(i int) { reqs[i] = s.answerRequest(calls[i], regionURL) })
	return reqs
}

// eventRequests returns the four events of each call, call after call.
func eventRequests(s signer, calls []call) []request {
	reqs := make([]request, 4*len(calls))
	parallel(len(reqs), func(i int) { reqs[i] = s.eventRequest(calls[i/4], i%4, s.now) })
	return reqs
}

// newParticipant is a number no seeded conversation uses: a French mobile,
// +336 and eight digits.
func newParticipant(k int) string { return "+336" + strconv.Itoa(10_000_000+k) }
