package maskcall_test

// Integration tests of the number pool, the conversation service and the
// router against the real things: a SQLite file in t.TempDir(), the Vonage
// client, and the sandbox over HTTP.

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/sandbox"
	"github.com/maskcall/maskcall/internal/sqlite"
	"github.com/maskcall/maskcall/internal/vonage"
)

const (
	svcAppID   = "5b0f3c2e-8d4a-4e57-9a1c-2f6e7d8c9b01"
	otherAppID = "aa7e1d3c-0b2f-4c59-8e6d-1f2a3b4c5d6e"
)

// Participants' real numbers, outside the sandbox's inventory so they can
// never be rented as proxies.
var (
	alice = maskcall.Participant{Number: "+442079461111", Country: "GB", Label: "Alice"}
	bob   = maskcall.Participant{Number: "+442079462222", Country: "GB", Label: "Bob"}
	carol = maskcall.Participant{Number: "+442079463333", Country: "GB", Label: "Carol"}
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
	testPEM []byte
)

// appKey is the voice application's key pair, made once per test binary.
func appKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
		testPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	})
	return testKey, testPEM
}

// clock is a settable time source for the services.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

type env struct {
	sb     *sandbox.Sandbox
	url    string
	db     *sqlite.DB
	vc     *vonage.Client
	pool   *maskcall.NumberPool
	svc    *maskcall.ConversationService
	router *maskcall.Router
	clock  *clock
}

// newEnv wires the services to a fresh SQLite file and a fresh sandbox.
func newEnv(t *testing.T, mods ...func(*vonage.Config)) *env {
	t.Helper()
	key, _ := appKey(t)
	sb := sandbox.New(sandbox.Config{ApplicationID: svcAppID, ApplicationPublicKey: &key.PublicKey})
	srv := sandbox.NewServer("127.0.0.1:0", sb)
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })

	db := sqlite.NewDB(filepath.Join(t.TempDir(), "maskcall.db"))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })

	e := &env{sb: sb, url: srv.URL(), db: db}
	e.vc = newClient(t, e, mods...)
	e.clock = &clock{t: time.Now().UTC().Truncate(time.Second)}
	e.pool = &maskcall.NumberPool{Store: db, Numbers: e.vc, ApplicationID: svcAppID, Now: e.clock.Now}
	e.svc = &maskcall.ConversationService{Store: db, Pool: e.pool, Insight: e.vc, SMS: e.vc, Voice: e.vc, Now: e.clock.Now}
	e.router = &maskcall.Router{Routes: db, Calls: db, Now: e.clock.Now}
	return e
}

// newClient returns a Vonage client for e's sandbox; retries keep their
// number but wait only milliseconds.
func newClient(t *testing.T, e *env, mods ...func(*vonage.Config)) *vonage.Client {
	t.Helper()
	_, pemKey := appKey(t)
	cfg := vonage.Config{
		APIKey: sandbox.DefaultAPIKey, APISecret: sandbox.DefaultAPISecret,
		ApplicationID: svcAppID, PrivateKey: pemKey,
		RestURL: e.url, APIURL: e.url, IdentityInsightsURL: e.url,
		Timeout:        2 * time.Second,
		RetryBaseDelay: time.Millisecond, RetryMaxDelay: 5 * time.Millisecond,
	}
	for _, m := range mods {
		m(&cfg)
	}
	vc, err := vonage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return vc
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := maskcall.ErrorCode(err); got != code {
		t.Fatalf("ErrorCode = %q, want %q (err: %v)", got, code, err)
	}
}

func inject(t *testing.T, sb *sandbox.Sandbox, f sandbox.Fault) {
	t.Helper()
	if err := sb.InjectFault(f); err != nil {
		t.Fatal(err)
	}
}

// calls lists the sandbox's Vonage API requests as "METHOD /path".
func calls(sb *sandbox.Sandbox) []string {
	var out []string
	for _, r := range sb.Requests() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func count(sb *sandbox.Sandbox, method, path string) int {
	n := 0
	for _, r := range sb.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

// poolState maps each pool number (released included) to its status.
func poolState(t *testing.T, db *sqlite.DB) map[string]maskcall.NumberStatus {
	t.Helper()
	ns, err := db.FindNumbers(t.Context(), maskcall.NumberFilter{IncludeReleased: true}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]maskcall.NumberStatus{}
	for _, n := range ns {
		out[n.Number] = n.Status
	}
	return out
}

// owned lists the numbers the sandbox account owns, as E.164.
func owned(sb *sandbox.Sandbox) []string {
	var out []string
	for _, o := range sb.OwnedNumbers() {
		out = append(out, "+"+o.MSISDN)
	}
	return out
}

// unreleased lists the pool numbers that are not released, sorted.
func unreleased(t *testing.T, db *sqlite.DB) []string {
	t.Helper()
	var out []string
	for n, s := range poolState(t, db) {
		if s != maskcall.NumberReleased {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

var gbMobile = maskcall.NumberSearch{Country: "GB", Type: "mobile-lvn", Features: []string{"VOICE", "SMS"}}

// fill provisions n linked GB mobile numbers.
func fill(t *testing.T, e *env, n int) []*maskcall.Number {
	t.Helper()
	got, err := e.pool.Provision(t.Context(), gbMobile, n, maskcall.RentOptions{Configure: true})
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	return got
}

func create(t *testing.T, e *env, req maskcall.CreateRequest) *maskcall.CreateResult {
	t.Helper()
	res, err := e.svc.Create(t.Context(), req)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return res
}

func noConversations(t *testing.T, e *env) {
	t.Helper()
	page, err := e.db.FindConversations(t.Context(), maskcall.ConversationFilter{}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if cs := page.Conversations; len(cs) != 0 {
		t.Fatalf("conversations stored: %+v", cs)
	}
}

// noFullNumber checks that err's message shows none of the participants'
// real numbers unmasked.
func noFullNumber(t *testing.T, err error, numbers ...string) {
	t.Helper()
	msg := maskcall.ErrorMessage(err)
	for _, n := range numbers {
		if strings.Contains(msg, n) || strings.Contains(msg, strings.TrimPrefix(n, "+")) {
			t.Errorf("message shows %s unmasked: %s", n, msg)
		}
	}
}

// ---- NumberPool ----

func TestPoolProvision(t *testing.T) {
	e := newEnv(t)
	var steps []string
	got, err := e.pool.Provision(t.Context(), gbMobile, 2, maskcall.RentOptions{
		Configure: true,
		Progress:  func(s maskcall.RentStep) { steps = append(steps, s.Stage+" "+s.Number) },
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"+447700900000", "+447700900001"}
	if len(got) != 2 {
		t.Fatalf("Provision returned %d numbers", len(got))
	}
	for i, n := range got {
		if n.Number != want[i] || n.Status != maskcall.NumberActive || n.AppID != svcAppID ||
			n.Country != "GB" || n.Type != "mobile-lvn" || n.Cost != "1.25" || !n.HasFeature("SMS") || !n.HasFeature("VOICE") {
			t.Errorf("number %d = %+v", i, n)
		}
	}
	if wantSteps := []string{"bought " + want[0], "configured " + want[0], "bought " + want[1], "configured " + want[1]}; !slices.Equal(steps, wantSteps) {
		t.Errorf("progress = %q, want %q", steps, wantSteps)
	}
	if st := poolState(t, e.db); len(st) != 2 || st[want[0]] != maskcall.NumberActive || st[want[1]] != maskcall.NumberActive {
		t.Errorf("pool = %v", st)
	}
	wantCalls := []string{"GET /number/search", "POST /number/buy", "POST /number/update", "POST /number/buy", "POST /number/update"}
	if got := calls(e.sb); !slices.Equal(got, wantCalls) {
		t.Errorf("requests = %q, want %q", got, wantCalls)
	}
	for _, o := range e.sb.OwnedNumbers() {
		if o.AppID != svcAppID {
			t.Errorf("sandbox number %s linked to %q", o.MSISDN, o.AppID)
		}
	}
	if !slices.Equal(owned(e.sb), want) {
		t.Errorf("sandbox owns %v", owned(e.sb))
	}
}

func TestPoolProvisionTooFewAvailable(t *testing.T) {
	e := newEnv(t)
	// Ten numbers start 44808157009.
	q := maskcall.NumberSearch{Country: "GB", Pattern: "44808157009", PatternPosition: "starts"}
	_, err := e.pool.Provision(t.Context(), q, 11, maskcall.RentOptions{Configure: true})
	wantCode(t, err, maskcall.EUPSTREAM)
	if n := count(e.sb, "POST", "/number/buy"); n != 0 {
		t.Errorf("%d numbers bought", n)
	}
	if st := poolState(t, e.db); len(st) != 0 {
		t.Errorf("pool = %v", st)
	}
}

func TestPoolProvisionRejectsBadRequests(t *testing.T) {
	e := newEnv(t)
	for _, c := range []int{0, -1} {
		_, err := e.pool.Provision(t.Context(), gbMobile, c, maskcall.RentOptions{Configure: true})
		wantCode(t, err, maskcall.EINVALID)
	}
	_, err := e.pool.Provision(t.Context(), maskcall.NumberSearch{}, 1, maskcall.RentOptions{})
	wantCode(t, err, maskcall.EINVALID)
	noApp := &maskcall.NumberPool{Store: e.db, Numbers: e.vc}
	_, err = noApp.Provision(t.Context(), gbMobile, 1, maskcall.RentOptions{Configure: true})
	wantCode(t, err, maskcall.ECONFIG)
	if got := calls(e.sb); len(got) != 0 {
		t.Fatalf("requests sent: %q", got)
	}
}

func TestPoolRentRefused(t *testing.T) {
	t.Run("InsufficientBalance", func(t *testing.T) {
		e := newEnv(t)
		e.sb.SetBalance(0)
		var steps []maskcall.RentStep
		n, err := e.pool.Rent(t.Context(), maskcall.AvailableNumber{Number: "+447700900042", Country: "GB"},
			maskcall.RentOptions{Configure: true, Progress: func(s maskcall.RentStep) { steps = append(steps, s) }})
		wantCode(t, err, maskcall.EUPSTREAM)
		if n != nil {
			t.Errorf("Rent returned %+v for a refused purchase", n)
		}
		if len(steps) != 1 || steps[0].Stage != "failed" || steps[0].Err == nil {
			t.Errorf("progress = %+v", steps)
		}
		if st := poolState(t, e.db); len(st) != 0 {
			t.Errorf("pool = %v", st)
		}
		if len(owned(e.sb)) != 0 || count(e.sb, "POST", "/number/buy") != 1 {
			t.Errorf("owned %v after %q", owned(e.sb), calls(e.sb))
		}
	})
	t.Run("InjectedErrorCode", func(t *testing.T) {
		e := newEnv(t)
		inject(t, e.sb, sandbox.Fault{Path: "/number/buy", Method: "POST", ErrorCode: "420", ErrorLabel: "method failed: insufficient balance"})
		got, err := e.pool.Provision(t.Context(), gbMobile, 1, maskcall.RentOptions{Configure: true})
		wantCode(t, err, maskcall.EUPSTREAM)
		if len(got) != 0 {
			t.Errorf("Provision returned %+v", got)
		}
		if st := poolState(t, e.db); len(st) != 0 {
			t.Errorf("pool = %v", st)
		}
		if len(owned(e.sb)) != 0 {
			t.Errorf("sandbox owns %v", owned(e.sb))
		}
	})
}

// noBlindRebuy checks that every buy after the first was preceded by a look
// at the account's numbers.
func noBlindRebuy(t *testing.T, sb *sandbox.Sandbox) {
	t.Helper()
	bought, looked := false, false
	for _, c := range calls(sb) {
		switch c {
		case "POST /number/buy":
			if bought && !looked {
				t.Fatalf("bought again without checking the account: %q", calls(sb))
			}
			bought, looked = true, false
		case "GET /account/numbers":
			looked = true
		}
	}
}

func TestPoolRentAmbiguous(t *testing.T) {
	avail := maskcall.AvailableNumber{Number: "+447700900042", Country: "GB", Type: "mobile-lvn", Features: []string{"VOICE", "SMS"}}

	t.Run("500sNotBoughtThenConfigureDrops", func(t *testing.T) {
		e := newEnv(t)
		inject(t, e.sb, sandbox.Fault{Path: "/number/buy", Status: 500, Count: -1})
		n, err := e.pool.Rent(t.Context(), avail, maskcall.RentOptions{Configure: true})
		wantCode(t, err, maskcall.EUNAVAILABLE)
		if n == nil || n.Status != maskcall.NumberPurchasing {
			t.Fatalf("Rent returned %+v", n)
		}
		if st := poolState(t, e.db); st[avail.Number] != maskcall.NumberPurchasing {
			t.Fatalf("pool = %v", st)
		}
		noBlindRebuy(t, e.sb)
		if len(owned(e.sb)) != 0 {
			t.Fatalf("sandbox owns %v", owned(e.sb))
		}

		e.sb.ClearFaults()
		res, err := e.pool.Configure(t.Context(), nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || res[0].Action != "purchase not made" {
			t.Fatalf("Configure = %+v", res)
		}
		if st := poolState(t, e.db); len(st) != 0 {
			t.Fatalf("pool = %v", st)
		}
		if n := count(e.sb, "POST", "/number/buy"); n > 3 {
			t.Fatalf("%d buy requests", n)
		}
	})

	t.Run("TimeoutBoughtCheckFailsThenConfigureConfirms", func(t *testing.T) {
		e := newEnv(t)
		short := newClient(t, e, func(c *vonage.Config) { c.Timeout = 300 * time.Millisecond })
		pool := &maskcall.NumberPool{Store: e.db, Numbers: short, ApplicationID: svcAppID}
		// The buy happens, but its reply comes too late; and the account
		// cannot be listed to find out.
		inject(t, e.sb, sandbox.Fault{Path: "/number/buy", DelayMS: 2000, AfterEffect: true})
		inject(t, e.sb, sandbox.Fault{Path: "/account/numbers", Status: 500, Count: -1})
		n, err := pool.Rent(t.Context(), avail, maskcall.RentOptions{Configure: true})
		wantCode(t, err, maskcall.EUNAVAILABLE)
		if n == nil || n.Status != maskcall.NumberPurchasing {
			t.Fatalf("Rent returned %+v", n)
		}
		if st := poolState(t, e.db); st[avail.Number] != maskcall.NumberPurchasing {
			t.Fatalf("pool = %v", st)
		}
		if !slices.Equal(owned(e.sb), []string{avail.Number}) {
			t.Fatalf("sandbox owns %v", owned(e.sb))
		}
		if c := count(e.sb, "POST", "/number/buy"); c != 1 {
			t.Fatalf("%d buy requests: %q", c, calls(e.sb))
		}

		e.sb.ClearFaults()
		res, err := pool.Configure(t.Context(), nil, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 || res[0].Action != "purchase confirmed, linked" || res[0].Number.Status != maskcall.NumberActive {
			t.Fatalf("Configure = %+v", res)
		}
		if st := poolState(t, e.db); st[avail.Number] != maskcall.NumberActive {
			t.Fatalf("pool = %v", st)
		}
		if o := e.sb.OwnedNumbers(); len(o) != 1 || o[0].AppID != svcAppID {
			t.Fatalf("sandbox owns %+v", o)
		}
	})

	t.Run("TimeoutBoughtCheckSucceeds", func(t *testing.T) {
		e := newEnv(t)
		short := newClient(t, e, func(c *vonage.Config) { c.Timeout = 300 * time.Millisecond })
		pool := &maskcall.NumberPool{Store: e.db, Numbers: short, ApplicationID: svcAppID}
		inject(t, e.sb, sandbox.Fault{Path: "/number/buy", DelayMS: 2000, AfterEffect: true})
		n, err := pool.Rent(t.Context(), avail, maskcall.RentOptions{Configure: true})
		if err != nil {
			t.Fatalf("Rent: %v", err)
		}
		if n.Status != maskcall.NumberActive || count(e.sb, "POST", "/number/buy") != 1 {
			t.Fatalf("Rent = %+v after %q", n, calls(e.sb))
		}
	})
}

func TestPoolRentLinkFails(t *testing.T) {
	e := newEnv(t)
	inject(t, e.sb, sandbox.Fault{Path: "/number/update", Status: 500, Count: -1})
	n, err := e.pool.Rent(t.Context(), maskcall.AvailableNumber{Number: "+447700900042", Country: "GB"}, maskcall.RentOptions{Configure: true})
	if err == nil {
		t.Fatal("Rent succeeded though linking failed")
	}
	if n == nil || n.Status != maskcall.NumberUnconfigured {
		t.Fatalf("Rent returned %+v", n)
	}
	if st := poolState(t, e.db); st["+447700900042"] != maskcall.NumberUnconfigured {
		t.Fatalf("pool = %v", st)
	}
	if o := e.sb.OwnedNumbers(); len(o) != 1 || o[0].AppID != "" {
		t.Fatalf("sandbox owns %+v", o)
	}

	e.sb.ClearFaults()
	res, err := e.pool.Configure(t.Context(), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Action != "linked" || res[0].Number.Status != maskcall.NumberActive {
		t.Fatalf("Configure = %+v", res)
	}
	if o := e.sb.OwnedNumbers(); o[0].AppID != svcAppID {
		t.Fatalf("sandbox owns %+v", o)
	}
	// Nothing left to do.
	res, err = e.pool.Configure(t.Context(), nil, false)
	if err != nil || len(res) != 0 {
		t.Fatalf("second Configure = %+v, %v", res, err)
	}
}

func TestPoolConfigureErrors(t *testing.T) {
	e := newEnv(t)
	noApp := &maskcall.NumberPool{Store: e.db, Numbers: e.vc}
	_, err := noApp.Configure(t.Context(), nil, true)
	wantCode(t, err, maskcall.ECONFIG)
	_, err = e.pool.Configure(t.Context(), []string{"+447700900999"}, false)
	wantCode(t, err, maskcall.ENOTFOUND)
	if got := calls(e.sb); len(got) != 0 {
		t.Fatalf("requests sent: %q", got)
	}
}

func TestPoolImport(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 1) // +447700900000, already in the pool
	for _, o := range []sandbox.OwnedNumber{
		{Country: "GB", MSISDN: "447700900500", AppID: svcAppID},
		{Country: "GB", MSISDN: "447700900501"},
		{Country: "GB", MSISDN: "447700900502", AppID: otherAppID},
	} {
		if err := e.sb.AddOwned(o); err != nil {
			t.Fatal(err)
		}
	}
	added, err := e.pool.Import(t.Context(), maskcall.OwnedNumbersFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]maskcall.NumberStatus{}
	for _, n := range added {
		got[n.Number] = n.Status
	}
	want := map[string]maskcall.NumberStatus{
		"+447700900500": maskcall.NumberActive,
		"+447700900501": maskcall.NumberUnconfigured,
		"+447700900502": maskcall.NumberUnconfigured,
	}
	if len(got) != len(want) {
		t.Fatalf("Import added %v, want %v", got, want)
	}
	for n, s := range want {
		if got[n] != s {
			t.Errorf("Import: %s is %q, want %q", n, got[n], s)
		}
	}
	before := poolState(t, e.db)
	if len(before) != 4 || before["+447700900000"] != maskcall.NumberActive {
		t.Fatalf("pool = %v", before)
	}
	imported, err := e.db.FindNumber(t.Context(), "+447700900500", e.clock.Now())
	if err != nil || imported.AppID != svcAppID || imported.Country != "GB" || imported.Type != "mobile-lvn" {
		t.Fatalf("imported = %+v, %v", imported, err)
	}

	// Idempotent.
	added, err = e.pool.Import(t.Context(), maskcall.OwnedNumbersFilter{})
	if err != nil || len(added) != 0 {
		t.Fatalf("second Import = %+v, %v", added, err)
	}
	if after := poolState(t, e.db); len(after) != len(before) {
		t.Fatalf("second Import changed the pool: %v -> %v", before, after)
	}
	for _, o := range e.sb.OwnedNumbers() {
		if o.MSISDN == "447700900501" && o.AppID != "" {
			t.Fatalf("Import changed the account: %+v", o)
		}
	}
}

func TestPoolRelease(t *testing.T) {
	e := newEnv(t)
	ns := fill(t, e, 1)
	num := ns[0].Number
	c := create(t, e, maskcall.CreateRequest{A: alice, B: bob}).Conversation

	_, _, err := e.pool.Release(t.Context(), num, false)
	wantCode(t, err, maskcall.ECONFLICT)
	if !slices.Equal(owned(e.sb), []string{num}) || count(e.sb, "POST", "/number/cancel") != 0 {
		t.Fatalf("refused release still cancelled: %q", calls(e.sb))
	}
	if st := poolState(t, e.db); st[num] != maskcall.NumberActive {
		t.Fatalf("pool = %v", st)
	}

	n, ended, err := e.pool.Release(t.Context(), num, true)
	if err != nil {
		t.Fatal(err)
	}
	if n.Status != maskcall.NumberReleased || n.AppID != "" {
		t.Fatalf("released = %+v", n)
	}
	if !slices.Equal(ended, []string{c.ID}) {
		t.Fatalf("force release ended %v, want [%s]", ended, c.ID)
	}
	if got, _ := e.db.FindConversationByID(t.Context(), c.ID, e.clock.Now()); got.Status != maskcall.ConversationEnded {
		t.Fatalf("conversation after force release = %+v", got)
	}
	if len(owned(e.sb)) != 0 {
		t.Fatalf("sandbox still owns %v", owned(e.sb))
	}
	if list, _ := e.pool.List(t.Context(), maskcall.NumberFilter{}); len(list) != 0 {
		t.Fatalf("List shows released numbers: %+v", list)
	}
	if st := poolState(t, e.db); st[num] != maskcall.NumberReleased {
		t.Fatalf("pool = %v", st)
	}
	// Again: nothing more is sent.
	if n, _, err := e.pool.Release(t.Context(), num, false); err != nil || n.Status != maskcall.NumberReleased {
		t.Fatalf("second Release = %+v, %v", n, err)
	}
	if c := count(e.sb, "POST", "/number/cancel"); c != 1 {
		t.Fatalf("%d cancel requests", c)
	}
	_, _, err = e.pool.Release(t.Context(), "+447700900999", false)
	wantCode(t, err, maskcall.ENOTFOUND)
}

// Interrupting Provision leaves the pool recording exactly what the account
// owns.
func TestPoolProvisionCancelled(t *testing.T) {
	for _, stage := range []string{"bought", "configured"} {
		t.Run("After"+stage, func(t *testing.T) {
			e := newEnv(t)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			got, err := e.pool.Provision(ctx, gbMobile, 3, maskcall.RentOptions{
				Configure: true,
				Progress: func(s maskcall.RentStep) {
					if s.Stage == stage {
						cancel()
					}
				},
			})
			if err == nil {
				t.Fatal("Provision finished despite the cancellation")
			}
			if stage == "configured" {
				wantCode(t, err, maskcall.ECANCELED)
			}
			if len(got) != 1 {
				t.Fatalf("Provision returned %d numbers", len(got))
			}
			if p, o := unreleased(t, e.db), owned(e.sb); !slices.Equal(p, o) || len(p) != 1 {
				t.Fatalf("pool %v, account %v", p, o)
			}
			if c := count(e.sb, "POST", "/number/buy"); c != 1 {
				t.Fatalf("%d buys after the cancellation", c)
			}
			// Configure finishes the job.
			if _, err := e.pool.Configure(t.Context(), nil, false); err != nil {
				t.Fatal(err)
			}
			if st := poolState(t, e.db); st[got[0].Number] != maskcall.NumberActive {
				t.Fatalf("pool = %v", st)
			}
		})
	}
}

// ---- ConversationService ----

func TestCreateNotifies(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 2)
	res := create(t, e, maskcall.CreateRequest{A: alice, B: bob, Ref: "ORD-7", Notify: true, Insight: maskcall.InsightBasic})
	c := res.Conversation
	if c.ID == "" || c.Status != maskcall.ConversationActive || c.Ref != "ORD-7" || c.ExpiresAt != nil || !c.CreatedAt.Equal(e.clock.Now()) {
		t.Fatalf("conversation = %+v", c)
	}
	for _, p := range c.Participants {
		if !strings.HasPrefix(p.ProxyNumber, "+4477009000") {
			t.Fatalf("participant %+v has no pool proxy", p)
		}
	}
	stored, err := e.db.FindConversationByID(t.Context(), c.ID, e.clock.Now())
	if err != nil || len(stored.Participants) != 2 || stored.Participants[0].ProxyNumber != c.Participants[0].ProxyNumber {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
	if len(res.Provisioned) != 0 {
		t.Fatalf("provisioned %+v with a free pool", res.Provisioned)
	}

	sms := e.sb.SentSMS()
	if len(sms) != 2 || len(res.Notifications) != 2 {
		t.Fatalf("sent %+v, notifications %+v", sms, res.Notifications)
	}
	wantText := []string{
		strings.ReplaceAll(maskcall.DefaultSMSTemplate, "{label}", "Bob"),
		strings.ReplaceAll(maskcall.DefaultSMSTemplate, "{label}", "Alice"),
	}
	for i, p := range c.Participants {
		m, nt := sms[i], res.Notifications[i]
		if m.To != strings.TrimPrefix(p.Number, "+") || m.From != strings.TrimPrefix(p.ProxyNumber, "+") || m.Text != wantText[i] {
			t.Errorf("SMS %d = %+v; want to %s from %s: %q", i, m, p.Number, p.ProxyNumber, wantText[i])
		}
		if nt.Err != nil || nt.MessageID != m.MessageID || nt.Participant.Number != p.Number {
			t.Errorf("notification %d = %+v", i, nt)
		}
	}
	if c := count(e.sb, "GET", "/ni/basic/json"); c != 2 {
		t.Errorf("%d insight lookups", c)
	}
}

func TestCreateCustomTemplate(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 1)
	e.svc.SMSTemplate = "Order {ref}: call this number to reach {label}. ({ref})"
	noLabel := bob
	noLabel.Label = ""
	create(t, e, maskcall.CreateRequest{A: alice, B: noLabel, Ref: "ORD-7", Notify: true})
	sms := e.sb.SentSMS()
	want := []string{
		"Order ORD-7: call this number to reach your contact. (ORD-7)",
		"Order ORD-7: call this number to reach Alice. (ORD-7)",
	}
	if len(sms) != 2 || sms[0].Text != want[0] || sms[1].Text != want[1] {
		t.Fatalf("sent %+v, want texts %q", sms, want)
	}
}

func TestCreateInvalid(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 2)
	before := len(e.sb.Requests())
	tests := []struct {
		name string
		req  maskcall.CreateRequest
	}{
		{"same numbers", maskcall.CreateRequest{A: alice, B: maskcall.Participant{Number: alice.Number, Country: "GB", Label: "Alice again"}, Notify: true, Insight: maskcall.InsightBasic}},
		{"missing number", maskcall.CreateRequest{A: alice, B: maskcall.Participant{Country: "GB"}, Notify: true}},
		{"negative ttl", maskcall.CreateRequest{A: alice, B: bob, TTL: -time.Minute, Notify: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.svc.Create(t.Context(), tt.req)
			wantCode(t, err, maskcall.EINVALID)
			if res != nil {
				t.Errorf("result %+v with the error", res)
			}
			noFullNumber(t, err, alice.Number)
			noConversations(t, e)
			if after := len(e.sb.Requests()); after != before {
				t.Errorf("requests sent: %q", calls(e.sb)[before:])
			}
		})
	}
}

// A number Vonage could not connect (fewer than 10 digits) is refused before
// anything is asked of Vonage.
func TestCreateRefusesUnconnectableNumbers(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 2)
	before := len(e.sb.Requests())
	short := maskcall.Participant{Number: "+6834002", Country: "NU", Label: "Niue"}
	_, err := e.svc.Create(t.Context(), maskcall.CreateRequest{A: alice, B: short, Insight: maskcall.InsightBasic, Notify: true})
	wantCode(t, err, maskcall.EINVALID)
	noFullNumber(t, err, short.Number)
	noConversations(t, e)
	if after := len(e.sb.Requests()); after != before {
		t.Errorf("requests sent: %q", calls(e.sb)[before:])
	}
}

func TestCreateInsightSaysInvalid(t *testing.T) {
	// No such calling code, and a country the sandbox's Number Insight does
	// not know (Iceland): both come back with status 3.
	for _, number := range []string{"+9991234567", "+3545512345"} {
		t.Run(number, func(t *testing.T) {
			e := newEnv(t)
			fill(t, e, 2)
			bad := maskcall.Participant{Number: number, Country: "GB", Label: "Mallory"}
			_, err := e.svc.Create(t.Context(), maskcall.CreateRequest{A: alice, B: bad, Insight: maskcall.InsightBasic, Notify: true})
			wantCode(t, err, maskcall.EINVALIDNUMBER)
			noFullNumber(t, err, number)
			noConversations(t, e)
			if len(e.sb.SentSMS()) != 0 {
				t.Error("SMS sent")
			}
			if c := count(e.sb, "GET", "/ni/basic/json"); c != 2 {
				t.Errorf("%d insight lookups", c)
			}
		})
	}
}

// When Number Insight fails for another reason the error says so, and it
// keeps the participant's number masked like the rest of the message.
func TestCreateInsightFails(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 2)
	inject(t, e.sb, sandbox.Fault{Path: "/ni/basic/json", ErrorCode: "5", Count: -1})
	_, err := e.svc.Create(t.Context(), maskcall.CreateRequest{A: alice, B: bob, Insight: maskcall.InsightBasic})
	wantCode(t, err, maskcall.EUPSTREAM)
	noConversations(t, e)
	noFullNumber(t, err, alice.Number)
}

func TestCreateExhausted(t *testing.T) {
	t.Run("EmptyPool", func(t *testing.T) {
		e := newEnv(t)
		_, err := e.svc.Create(t.Context(), maskcall.CreateRequest{A: alice, B: bob, Notify: true})
		wantCode(t, err, maskcall.EEXHAUSTED)
		var me *maskcall.Error
		if !errors.As(err, &me) || me.Fields["country"] != "GB" || me.Reason != "" {
			t.Fatalf("%#v does not say the country (GB) to rent in", me)
		}
		var ex *maskcall.ExhaustedError
		if !errors.As(err, &ex) || ex.Participant.Number != alice.Number {
			t.Fatalf("err does not wrap the ExhaustedError for Alice: %v", err)
		}
		noFullNumber(t, err, alice.Number, bob.Number)
		noConversations(t, e)
		if len(e.sb.Requests()) != 0 {
			t.Fatalf("requests sent: %q", calls(e.sb))
		}
	})
	t.Run("OnlyProxyTaken", func(t *testing.T) {
		e := newEnv(t)
		fill(t, e, 1)
		create(t, e, maskcall.CreateRequest{A: alice, B: bob})
		us := maskcall.Participant{Number: "+12025550999", Country: "US", Label: "Dan"}
		_, err := e.svc.Create(t.Context(), maskcall.CreateRequest{A: us, B: alice})
		wantCode(t, err, maskcall.EEXHAUSTED)
		var me *maskcall.Error
		if !errors.As(err, &me) || me.Fields["country"] != "GB" {
			t.Fatalf("%#v does not say the country (GB) to rent in", me)
		}
		if page, _ := e.db.FindConversations(t.Context(), maskcall.ConversationFilter{}, e.clock.Now()); len(page.Conversations) != 1 {
			t.Fatalf("%d conversations", len(page.Conversations))
		}
	})
}

func TestCreateAutoProvision(t *testing.T) {
	e := newEnv(t)
	res := create(t, e, maskcall.CreateRequest{A: alice, B: bob, Notify: true, AutoProvision: true})
	if len(res.Provisioned) != 1 {
		t.Fatalf("provisioned %+v", res.Provisioned)
	}
	n := res.Provisioned[0]
	if n.Status != maskcall.NumberActive || n.Country != "GB" || !n.HasFeature("SMS") || !n.HasFeature("VOICE") {
		t.Fatalf("provisioned %+v", n)
	}
	for _, p := range res.Conversation.Participants {
		if p.ProxyNumber != n.Number {
			t.Fatalf("participant %+v does not use %s", p, n.Number)
		}
	}
	if !slices.Equal(owned(e.sb), []string{n.Number}) {
		t.Fatalf("sandbox owns %v", owned(e.sb))
	}
	if len(e.sb.SentSMS()) != 2 {
		t.Fatalf("sent %+v", e.sb.SentSMS())
	}
}

func TestCreateSMSFails(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 2)
	inject(t, e.sb, sandbox.Fault{Path: "/sms/json", ErrorCode: "5", Count: -1})
	res := create(t, e, maskcall.CreateRequest{A: alice, B: bob, Notify: true})
	id := res.Conversation.ID
	if len(res.Notifications) != 2 {
		t.Fatalf("notifications = %+v", res.Notifications)
	}
	for _, n := range res.Notifications {
		if n.Err == nil || n.MessageID != "" {
			t.Errorf("notification %+v, want an error", n)
		}
		wantCode(t, n.Err, maskcall.EUPSTREAM)
	}
	if c, err := e.db.FindConversationByID(t.Context(), id, e.clock.Now()); err != nil || c.Status != maskcall.ConversationActive {
		t.Fatalf("conversation = %+v, %v", c, err)
	}
	if len(e.sb.SentSMS()) != 0 {
		t.Fatalf("sent %+v", e.sb.SentSMS())
	}

	// Notify sends again.
	e.sb.ClearFaults()
	nots, err := e.svc.Notify(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nots {
		if n.Err != nil || n.MessageID == "" {
			t.Errorf("notification %+v", n)
		}
	}
	if len(e.sb.SentSMS()) != 2 {
		t.Fatalf("sent %+v", e.sb.SentSMS())
	}

	// A reply lost for one participant only: the other still gets theirs.
	inject(t, e.sb, sandbox.Fault{Path: "/sms/json", Status: 500})
	nots, err = e.svc.Notify(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, nots[0].Err, maskcall.EUNAVAILABLE)
	if nots[1].Err != nil {
		t.Fatalf("second notification: %v", nots[1].Err)
	}
	if c := count(e.sb, "POST", "/sms/json"); c != 2+2+2 {
		t.Fatalf("%d SMS requests: an ambiguous send was repeated", c)
	}
}

func TestNotifyInactive(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 2)
	ended := create(t, e, maskcall.CreateRequest{A: alice, B: bob}).Conversation
	if _, err := e.svc.End(t.Context(), ended.ID, false); err != nil {
		t.Fatal(err)
	}
	_, err := e.svc.Notify(t.Context(), ended.ID)
	wantCode(t, err, maskcall.ECONFLICT)

	expiring := create(t, e, maskcall.CreateRequest{A: alice, B: carol, TTL: time.Hour}).Conversation
	e.clock.Set(*expiring.ExpiresAt)
	_, err = e.svc.Notify(t.Context(), expiring.ID)
	wantCode(t, err, maskcall.ECONFLICT)

	_, err = e.svc.Notify(t.Context(), "cv_nosuchthing0")
	wantCode(t, err, maskcall.ENOTFOUND)
	if len(e.sb.SentSMS()) != 0 {
		t.Fatalf("sent %+v", e.sb.SentSMS())
	}
}

func TestEndIdempotent(t *testing.T) {
	e := newEnv(t)
	ns := fill(t, e, 1)
	c := create(t, e, maskcall.CreateRequest{A: alice, B: bob}).Conversation
	endAt := e.clock.Now().Add(time.Minute)
	e.clock.Set(endAt)
	first, err := e.svc.End(t.Context(), c.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	fc := first.Conversation
	if fc.Status != maskcall.ConversationEnded || fc.EndReason != maskcall.EndReasonEnded || fc.EndedAt == nil || !fc.EndedAt.Equal(endAt) {
		t.Fatalf("ended = %+v", fc)
	}
	e.clock.Set(endAt.Add(time.Hour))
	second, err := e.svc.End(t.Context(), c.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if sc := second.Conversation; sc.Status != maskcall.ConversationEnded || !sc.EndedAt.Equal(endAt) || len(second.HungUp) != 0 {
		t.Fatalf("second End = %+v", second)
	}
	if n, _ := e.db.FindNumber(t.Context(), ns[0].Number, e.clock.Now()); n.ActiveConversations != 0 {
		t.Fatalf("number still counts %d conversations", n.ActiveConversations)
	}
	_, err = e.svc.End(t.Context(), "cv_nosuchthing0", false)
	wantCode(t, err, maskcall.ENOTFOUND)

	// Without the Voice API calls cannot be hung up, but the conversation
	// still ends.
	c2 := create(t, e, maskcall.CreateRequest{A: alice, B: carol}).Conversation
	noVoice := *e.svc
	noVoice.Voice = nil
	res, err := noVoice.End(t.Context(), c2.ID, true)
	wantCode(t, err, maskcall.ECONFIG)
	if res == nil || res.Conversation.Status != maskcall.ConversationEnded {
		t.Fatalf("End = %+v", res)
	}
}

// app is the webhook side of maskcall as a test sees it: the answer URL
// routes with the Router and the event URL records events.
func app(t *testing.T, e *env) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /answer", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		route, err := e.router.Answer(r.Context(), maskcall.InboundCall{
			UUID: q.Get("uuid"), ConversationUUID: q.Get("conversation_uuid"),
			From: "+" + q.Get("from"), To: "+" + q.Get("to"),
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		var ncco []map[string]any
		if route == nil {
			ncco = []map[string]any{{"action": "talk", "text": "This number is not in service."}}
		} else {
			ncco = []map[string]any{{
				"action":   "connect",
				"from":     strings.TrimPrefix(route.Callee.ProxyNumber, "+"),
				"endpoint": []map[string]string{{"type": "phone", "number": strings.TrimPrefix(route.Callee.Number, "+")}},
			}}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(ncco)
	})
	mux.HandleFunc("POST /event", func(w http.ResponseWriter, r *http.Request) {
		var p map[string]string
		if err := json.NewDecoder(r.Body).Decode(&p); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ev := maskcall.CallEvent{UUID: p["uuid"], ConversationUUID: p["conversation_uuid"], Status: p["status"],
			Direction: p["direction"], From: "+" + p["from"], To: "+" + p["to"]}
		ev.Duration, _ = strconv.Atoi(p["duration"])
		ev.Timestamp, _ = time.Parse(time.RFC3339Nano, p["timestamp"])
		if _, err := e.router.RecordEvent(r.Context(), ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestEndHangsUpActiveCalls(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 1)
	c := create(t, e, maskcall.CreateRequest{A: alice, B: bob}).Conversation
	a := c.Participants[0]
	hooks := app(t, e)

	call, err := e.sb.SimulateCall(t.Context(), sandbox.CallRequest{
		From: a.Number, To: a.ProxyNumber,
		AnswerURL: hooks.URL + "/answer", EventURL: hooks.URL + "/event",
		KeepOpen: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !call.Connected || call.ConnectTo != strings.TrimPrefix(bob.Number, "+") || call.CallerID != strings.TrimPrefix(c.Participants[1].ProxyNumber, "+") {
		t.Fatalf("call = %+v", call)
	}
	active, err := e.db.FindActiveCalls(t.Context(), c.ID)
	if err != nil || len(active) != 1 || active[0].UUID != call.UUID || active[0].Status != "answered" {
		t.Fatalf("active calls = %+v, %v", active, err)
	}

	res, err := e.svc.End(t.Context(), c.ID, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.HungUp, []string{call.UUID}) || len(res.HangupErrors) != 0 {
		t.Fatalf("End = %+v", res)
	}
	got, _ := e.sb.Call(call.UUID)
	if got.Status != sandbox.StatusCompleted || !slices.Contains(got.Updates, "hangup") {
		t.Fatalf("sandbox call = %+v", got)
	}
	if count(e.sb, "PUT", "/v1/calls/"+call.UUID) != 1 {
		t.Fatalf("requests = %q", calls(e.sb))
	}
	e.sb.Wait() // the completed event
	if active, _ := e.db.FindActiveCalls(t.Context(), c.ID); len(active) != 0 {
		t.Fatalf("still active: %+v", active)
	}
	all, _ := e.db.FindCalls(t.Context(), c.ID)
	if len(all) != 1 || all[0].Status != "completed" {
		t.Fatalf("calls = %+v", all)
	}
	// The conversation no longer routes: a new call gets the talk action.
	again, err := e.sb.SimulateCall(t.Context(), sandbox.CallRequest{From: a.Number, To: a.ProxyNumber, AnswerURL: hooks.URL + "/answer"})
	if err != nil || again.Connected {
		t.Fatalf("call after End = %+v, %v", again, err)
	}
}

// A call Vonage no longer knows counts as hung up.
func TestEndHangupUnknownCall(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 1)
	c := create(t, e, maskcall.CreateRequest{A: alice, B: bob}).Conversation
	a := c.Participants[0]
	route, err := e.router.Answer(t.Context(), maskcall.InboundCall{UUID: "c0ffee00-0000-4000-8000-000000000001", From: a.Number, To: a.ProxyNumber})
	if err != nil || route == nil {
		t.Fatalf("Answer = %+v, %v", route, err)
	}
	res, err := e.svc.End(t.Context(), c.ID, true)
	if err != nil || len(res.HungUp) != 1 || len(res.HangupErrors) != 0 {
		t.Fatalf("End = %+v, %v", res, err)
	}
}

func TestExpire(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 2)
	start := e.clock.Now()
	short := create(t, e, maskcall.CreateRequest{A: alice, B: bob, TTL: time.Hour}).Conversation
	forever := create(t, e, maskcall.CreateRequest{A: alice, B: carol}).Conversation
	if !short.ExpiresAt.Equal(start.Add(time.Hour)) {
		t.Fatalf("expires at %v", short.ExpiresAt)
	}

	e.clock.Set(start.Add(time.Hour - time.Nanosecond))
	if n, err := e.svc.Expire(t.Context()); err != nil || n != 0 {
		t.Fatalf("Expire before the expiry = %d, %v", n, err)
	}
	e.clock.Set(start.Add(time.Hour))
	if n, err := e.svc.Expire(t.Context()); err != nil || n != 1 {
		t.Fatalf("Expire at the expiry = %d, %v", n, err)
	}
	got, _ := e.db.FindConversationByID(t.Context(), short.ID, e.clock.Now())
	if got.Status != maskcall.ConversationEnded || got.EndReason != maskcall.EndReasonExpired || !got.EndedAt.Equal(*short.ExpiresAt) {
		t.Fatalf("expired = %+v", got)
	}
	if got, _ := e.db.FindConversationByID(t.Context(), forever.ID, e.clock.Now()); got.Status != maskcall.ConversationActive {
		t.Fatalf("conversation without expiry = %+v", got)
	}
	if n, err := e.svc.Expire(t.Context()); err != nil || n != 0 {
		t.Fatalf("second Expire = %d, %v", n, err)
	}
}

func TestPurge(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 2)
	start := e.clock.Now()
	for _, d := range []time.Duration{0, -time.Hour} {
		_, err := e.svc.Purge(t.Context(), d)
		wantCode(t, err, maskcall.EINVALID)
	}
	old := create(t, e, maskcall.CreateRequest{A: alice, B: bob}).Conversation
	live := create(t, e, maskcall.CreateRequest{A: alice, B: carol}).Conversation
	if _, err := e.svc.End(t.Context(), old.ID, false); err != nil {
		t.Fatal(err)
	}
	e.clock.Set(start.Add(48 * time.Hour))
	if n, err := e.svc.Purge(t.Context(), 72*time.Hour); err != nil || n != 0 {
		t.Fatalf("Purge(72h) = %d, %v", n, err)
	}
	if n, err := e.svc.Purge(t.Context(), 24*time.Hour); err != nil || n != 1 {
		t.Fatalf("Purge(24h) = %d, %v", n, err)
	}
	_, err := e.db.FindConversationByID(t.Context(), old.ID, e.clock.Now())
	wantCode(t, err, maskcall.ENOTFOUND)
	if _, err := e.db.FindConversationByID(t.Context(), live.ID, e.clock.Now()); err != nil {
		t.Fatalf("active conversation purged: %v", err)
	}
}

// ---- Router ----

func TestRouterAnswer(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 2)
	c := create(t, e, maskcall.CreateRequest{A: alice, B: bob, TTL: time.Hour}).Conversation
	a, b := c.Participants[0], c.Participants[1]

	t.Run("BothWays", func(t *testing.T) {
		r, err := e.router.Answer(t.Context(), maskcall.InboundCall{From: a.Number, To: a.ProxyNumber})
		if err != nil || r == nil || r.ConversationID != c.ID || r.Caller.Number != alice.Number || r.Callee.Number != bob.Number || r.Callee.ProxyNumber != b.ProxyNumber {
			t.Fatalf("A calls = %+v, %v", r, err)
		}
		r, err = e.router.Answer(t.Context(), maskcall.InboundCall{From: b.Number, To: b.ProxyNumber})
		if err != nil || r == nil || r.Caller.Number != bob.Number || r.Callee.Number != alice.Number || r.Callee.ProxyNumber != a.ProxyNumber {
			t.Fatalf("B calls = %+v, %v", r, err)
		}
	})
	t.Run("Stranger", func(t *testing.T) {
		r, err := e.router.Answer(t.Context(), maskcall.InboundCall{UUID: "c0ffee00-0000-4000-8000-0000000000aa", From: carol.Number, To: a.ProxyNumber})
		if r != nil || err != nil {
			t.Fatalf("stranger = %+v, %v", r, err)
		}
		// A participant dialling their own number, or an unknown proxy.
		for _, in := range []maskcall.InboundCall{{From: a.Number, To: a.Number}, {From: a.Number, To: "+447700900999"}, {From: a.ProxyNumber, To: a.ProxyNumber}} {
			if r, err := e.router.Answer(t.Context(), in); r != nil || err != nil {
				t.Fatalf("Answer(%+v) = %+v, %v", in, r, err)
			}
		}
		if all, _ := e.db.FindCalls(t.Context(), c.ID); len(all) != 0 {
			t.Fatalf("stranger's call recorded: %+v", all)
		}
	})
	t.Run("ExpiryInstant", func(t *testing.T) {
		at := *c.ExpiresAt
		r := &maskcall.Router{Routes: e.db, Calls: e.db, Now: func() time.Time { return at.Add(-time.Nanosecond) }}
		if got, err := r.Answer(t.Context(), maskcall.InboundCall{From: a.Number, To: a.ProxyNumber}); got == nil || err != nil {
			t.Fatalf("a nanosecond before expiry = %+v, %v", got, err)
		}
		r.Now = func() time.Time { return at }
		if got, err := r.Answer(t.Context(), maskcall.InboundCall{From: a.Number, To: a.ProxyNumber}); got != nil || err != nil {
			t.Fatalf("at the expiry instant = %+v, %v", got, err)
		}
	})
	t.Run("Ended", func(t *testing.T) {
		c2 := create(t, e, maskcall.CreateRequest{A: carol, B: bob}).Conversation
		p := c2.Participants[0]
		if r, _ := e.router.Answer(t.Context(), maskcall.InboundCall{From: p.Number, To: p.ProxyNumber}); r == nil {
			t.Fatal("no route before End")
		}
		if _, err := e.svc.End(t.Context(), c2.ID, false); err != nil {
			t.Fatal(err)
		}
		if r, err := e.router.Answer(t.Context(), maskcall.InboundCall{UUID: "c0ffee00-0000-4000-8000-0000000000bb", From: p.Number, To: p.ProxyNumber}); r != nil || err != nil {
			t.Fatalf("after End = %+v, %v", r, err)
		}
		if all, _ := e.db.FindCalls(t.Context(), c2.ID); len(all) != 0 {
			t.Fatalf("call recorded for an ended conversation: %+v", all)
		}
	})
}

func TestRouterRecordsCallsAndEvents(t *testing.T) {
	e := newEnv(t)
	fill(t, e, 2)
	c := create(t, e, maskcall.CreateRequest{A: alice, B: bob}).Conversation
	a := c.Participants[0]
	const uuid, convUUID = "c0ffee00-0000-4000-8000-000000000001", "CON-c0ffee00-0000-4000-8000-000000000002"
	in := maskcall.InboundCall{UUID: uuid, ConversationUUID: convUUID, From: a.Number, To: a.ProxyNumber}
	for range 2 { // a retried answer webhook records one call
		if r, err := e.router.Answer(t.Context(), in); err != nil || r == nil {
			t.Fatalf("Answer = %+v, %v", r, err)
		}
	}
	all, err := e.db.FindCalls(t.Context(), c.ID)
	if err != nil || len(all) != 1 {
		t.Fatalf("calls = %+v, %v", all, err)
	}
	if got := all[0]; got.UUID != uuid || got.ConversationUUID != convUUID || got.From != a.Number || got.To != a.ProxyNumber || got.Status != "started" {
		t.Fatalf("call = %+v", got)
	}

	for _, ev := range []maskcall.CallEvent{
		{Status: "answered"},              // no ids
		{UUID: uuid, Status: "bogus"},     // unknown status
		{UUID: uuid, Status: ""},          // no status
		{UUID: uuid, Status: "Completed"}, // statuses are lower case
		{ConversationUUID: convUUID, Status: "transfer"},
	} {
		ok, err := e.router.RecordEvent(t.Context(), ev)
		wantCode(t, err, maskcall.EINVALID)
		if ok {
			t.Fatalf("RecordEvent(%+v) = true", ev)
		}
	}

	ts := e.clock.Now()
	record := func(ev maskcall.CallEvent, want bool) {
		t.Helper()
		ok, err := e.router.RecordEvent(t.Context(), ev)
		if err != nil || ok != want {
			t.Fatalf("RecordEvent(%+v) = %v, %v; want %v", ev, ok, err, want)
		}
	}
	status := func() string {
		t.Helper()
		all, err := e.db.FindCalls(t.Context(), c.ID)
		if err != nil || len(all) != 1 {
			t.Fatalf("calls = %+v, %v", all, err)
		}
		return all[0].Status
	}
	record(maskcall.CallEvent{UUID: uuid, ConversationUUID: convUUID, Status: "ringing", Timestamp: ts.Add(time.Second)}, true)
	record(maskcall.CallEvent{UUID: uuid, ConversationUUID: convUUID, Status: "answered", Timestamp: ts.Add(3 * time.Second)}, true)
	if s := status(); s != "answered" {
		t.Fatalf("status = %q", s)
	}
	// The outbound leg's events name the call (the connect eventUrl's call
	// parameter), with the conversation uuid they share.
	record(maskcall.CallEvent{UUID: "d0d0d0d0-0000-4000-8000-000000000003", ConversationUUID: convUUID, CallUUID: uuid, Status: "completed", Duration: 42, Timestamp: ts.Add(45 * time.Second)}, true)
	if s := status(); s != "completed" {
		t.Fatalf("status = %q", s)
	}
	// A late ringing does not reopen it.
	record(maskcall.CallEvent{UUID: uuid, ConversationUUID: convUUID, Status: "ringing", Timestamp: ts.Add(2 * time.Second)}, true)
	if s := status(); s != "completed" {
		t.Fatalf("status after a late ringing = %q", s)
	}
	if active, _ := e.db.FindActiveCalls(t.Context(), c.ID); len(active) != 0 {
		t.Fatalf("active calls = %+v", active)
	}
	// Events of calls maskcall did not route are dropped.
	record(maskcall.CallEvent{UUID: "e0e0e0e0-0000-4000-8000-000000000004", Status: "started", Timestamp: ts}, false)

	// Answer without a uuid routes but records nothing.
	c2 := create(t, e, maskcall.CreateRequest{A: carol, B: bob}).Conversation
	p := c2.Participants[0]
	if r, err := e.router.Answer(t.Context(), maskcall.InboundCall{From: p.Number, To: p.ProxyNumber}); err != nil || r == nil {
		t.Fatalf("Answer = %+v, %v", r, err)
	}
	if all, _ := e.db.FindCalls(t.Context(), c2.ID); len(all) != 0 {
		t.Fatalf("calls = %+v", all)
	}
}
