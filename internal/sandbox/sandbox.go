// Package sandbox is a local, in-memory imitation of the parts of the Vonage
// API that maskcall uses, following the official API definitions: paths,
// methods, where parameters go, reply fields and error shapes.
//
// One host serves what production splits between rest.nexmo.com and
// api.nexmo.com:
//
//	GET  /number/search      Numbers: search available numbers
//	POST /number/buy         Numbers: buy (form-encoded body)
//	POST /number/cancel      Numbers: cancel (form-encoded body)
//	POST /number/update      Numbers: update (form-encoded body)
//	GET  /account/numbers    Numbers: list owned numbers
//	GET  /ni/basic/json      Number Insight basic
//	POST /v0.1/identity-insights  Identity Insights (format insight)
//	POST /sms/json           SMS: send (form-encoded body)
//	GET  /v1/calls/{uuid}    Voice: get a call
//	PUT  /v1/calls/{uuid}    Voice: modify a call (hangup, mute, ...)
//
// Numbers takes api_key and api_secret in the query string (or, for its
// POSTs, in the form body) and answers bad ones with HTTP 401
// {"error-code":"401","error-code-label":"authentication failed"}. Number
// Insight takes them in the query string and SMS in the form body; both
// answer HTTP 200 with status 4. The Voice API wants a bearer JWT carrying
// an application_id claim (see Config.ApplicationPublicKey), and so does
// Identity Insights.
//
// The sandbox also plays the Vonage platform: SimulateCall calls an
// application's answer webhook, acts on the NCCO and sends event webhooks,
// signed like Vonage's (signature.Sign). Its own endpoints, for tests and for
// people trying maskcall, live under /_sandbox/: requests, sms, numbers,
// owned, balance, faults, reset and calls.
package sandbox

import (
	"cmp"
	"crypto"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Default credentials, used when Config leaves APIKey and APISecret empty.
const (
	DefaultAPIKey    = "sandbox1"
	DefaultAPISecret = "sandbox-secret-1"
)

// DefaultBalance is the account balance in EUR when Config.Balance is zero.
const DefaultBalance = 100.00

// DefaultCallDuration is how long a simulated connected call lasts unless the
// CallRequest says otherwise.
const DefaultCallDuration = 42 * time.Second

// Config configures a Sandbox. The zero value is usable.
type Config struct {
	// APIKey and APISecret are the only credentials accepted by the Numbers,
	// Number Insight and SMS APIs. Empty means DefaultAPIKey and
	// DefaultAPISecret.
	APIKey, APISecret string

	// SignatureSecret signs the webhooks the sandbox sends (HS256 JWT in the
	// Authorization header). Empty means webhooks are sent unsigned.
	SignatureSecret string

	// SMSSignatureMethod, when set (md5hash, md5, sha1, sha256, sha512),
	// signs the inbound SMS the sandbox delivers with a sig made with
	// SignatureSecret (sms_inbound.go).
	SMSSignatureMethod string

	// ApplicationID is the Vonage application the simulated calls belong to.
	// It is put in the application_id claim of signed webhooks and, when set,
	// Voice API tokens must carry it as their application_id claim.
	ApplicationID string

	// ApplicationPublicKey, when set, is the key Voice API bearer tokens must
	// verify against (RS256). When nil any well-formed, unexpired JWT with an
	// application_id claim is accepted.
	ApplicationPublicKey crypto.PublicKey

	// Balance is the account balance in EUR. Zero means DefaultBalance.
	Balance float64

	// RegionURL is sent as region_url in answer webhooks. Server.Open sets
	// it to the server's own URL when empty; when still empty it is omitted.
	RegionURL string

	// AnswerTimeout bounds the wait for an answer webhook's reply. Zero
	// means 5 seconds, which is about what Vonage waits.
	AnswerTimeout time.Duration

	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// HTTPClient sends the webhooks; nil means a client with a 10s timeout.
	HTTPClient *http.Client

	// StateFile, if set, keeps the account (owned numbers and balance)
	// across restarts; see Open. It is written after every request that
	// may change the account, and by Save.
	StateFile string
	// StateError, if set, is told when the state file cannot be written.
	StateError func(error)
}

// Sandbox is a Vonage-compatible HTTP API with in-memory state. It is an
// http.Handler; all methods are safe for concurrent use.
type Sandbox struct {
	cfg       Config
	mux       *http.ServeMux
	apiRoutes []string // "METHOD /path" patterns of the Vonage API routes
	tools     []Endpoint
	inventory *inventory
	client    *http.Client
	bg        sync.WaitGroup // webhooks sent in the background

	mu        sync.Mutex
	regionURL string
	balance   float64
	owned     map[string]*OwnedNumber
	requests  []RequestRecord
	sms       []SentSMS
	smsSeq    int
	calls     map[string]*CallResult
	callOrder []string
	faults    []*Fault
	saved     []byte // the state file's content, as last written or read
}

// New returns a Sandbox with an empty account (no owned numbers).
func New(cfg Config) *Sandbox {
	cfg.APIKey = cmp.Or(cfg.APIKey, DefaultAPIKey)
	cfg.APISecret = cmp.Or(cfg.APISecret, DefaultAPISecret)
	if cfg.Balance == 0 {
		cfg.Balance = DefaultBalance
	}
	if cfg.AnswerTimeout == 0 {
		cfg.AnswerTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Sandbox{
		cfg:       cfg,
		mux:       http.NewServeMux(),
		inventory: newInventory(),
		client:    cfg.HTTPClient,
		regionURL: cfg.RegionURL,
	}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	s.resetState()
	s.routes()
	return s
}

// routes registers every route the sandbox serves.
func (s *Sandbox) routes() {
	// Vonage APIs. Production hosts: rest.nexmo.com (Numbers, SMS) and
	// api.nexmo.com (Number Insight, Voice); the sandbox serves both.
	s.api("GET /number/search", s.handleNumberSearch)
	s.api("POST /number/buy", s.handleNumberBuy)
	s.api("POST /number/cancel", s.handleNumberCancel)
	s.api("POST /number/update", s.handleNumberUpdate)
	s.api("GET /account/numbers", s.handleOwnedNumbers)
	s.api("GET /ni/basic/json", s.handleInsightBasic)
	s.api("POST "+IdentityInsightsPath, s.handleIdentityInsights)
	s.api("POST /sms/json", s.handleSMSSend)
	s.api("GET /v1/calls/{uuid}", s.handleCallGet)
	s.api("PUT /v1/calls/{uuid}", s.handleCallUpdate)

	// Inspection, set-up and fault injection; GET /_sandbox/ lists them.
	s.tool("GET /_sandbox/requests", "the Vonage API requests received, oldest first (secrets masked)", s.handleInspectRequests)
	s.tool("GET /_sandbox/sms", "the text messages sent through the SMS API", s.handleInspectSMS)
	s.tool("GET /_sandbox/numbers", "the numbers the account owns, with their settings", s.handleInspectNumbers)
	s.tool("POST /_sandbox/owned", "make the account own a number, as if bought elsewhere (JSON OwnedNumber)", s.handleAddOwned)
	s.tool("DELETE /_sandbox/owned/{msisdn}", "forget an owned number, as if cancelled elsewhere", s.handleRemoveOwned)
	s.tool("GET /_sandbox/balance", "the account balance in EUR", s.handleGetBalance)
	s.tool("POST /_sandbox/balance", `set the account balance: {"balance": 12.5}`, s.handleSetBalance)
	s.tool("GET /_sandbox/faults", "the faults waiting to be applied, with the counts left", s.handleListFaults)
	s.tool("POST /_sandbox/faults", `make the next API requests fail or stall: {"path":"/number/buy","status":500,"count":1,"delay_ms":0,"after_effect":false}`, s.handleInjectFault)
	s.tool("DELETE /_sandbox/faults", "clear every pending fault", s.handleClearFaults)
	s.tool("POST /_sandbox/reset", "forget everything: owned numbers, requests, texts, calls, faults; restore the balance", s.handleReset)
	s.tool("POST /_sandbox/inbound-sms", `deliver an inbound SMS to a number's webhook, as Vonage would: {"from":"447700900123","to":"447700900000","text":"hi"}`, s.handleInboundSMS)
	s.tool("GET /_sandbox/calls", "the simulated calls", s.handleListCalls)
	s.tool("POST /_sandbox/calls", `simulate an inbound call: {"from":"447700900123","to":"447700900000","answer_url":"http://127.0.0.1:3000/webhooks/answer"}`, s.handleSimulateCall)
	s.tool("GET /_sandbox/calls/{uuid}", "one simulated call, by the uuid of either leg", s.handleGetCall)
	s.tool("POST /_sandbox/calls/{uuid}/hangup", "hang up a call in progress, as its caller would", s.handleEndCall)
	s.mux.HandleFunc("GET /_sandbox/{$}", s.handleIndex)
}

// tool registers a /_sandbox/ route and what it does, for the index.
func (s *Sandbox) tool(pattern, what string, h http.HandlerFunc) {
	method, path, _ := strings.Cut(pattern, " ")
	s.tools = append(s.tools, Endpoint{Method: method, Path: path, What: what})
	s.mux.HandleFunc(pattern, h)
}

// api registers a Vonage API route.
func (s *Sandbox) api(pattern string, h http.HandlerFunc) {
	s.apiRoutes = append(s.apiRoutes, pattern)
	s.mux.HandleFunc(pattern, h)
}

// ServeHTTP serves the Vonage APIs and the /_sandbox/ endpoints. Every request
// outside /_sandbox/ is recorded and may be hit by an injected fault.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer s.persist(r)
	if strings.HasPrefix(r.URL.Path, "/_sandbox/") {
		s.mux.ServeHTTP(w, r)
		return
	}
	s.serveAPI(w, r)
}

// Save writes the account to Config.StateFile (if set) when it changed;
// changes made through the API and /_sandbox/ are saved without it.
func (s *Sandbox) Save() error { return s.saveState() }

// Reset forgets everything that happened: owned numbers, requests, SMS,
// calls and faults, and restores the configured balance.
func (s *Sandbox) Reset() {
	s.bg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetState()
}

// resetState must be called with s.mu held (or before s is shared).
func (s *Sandbox) resetState() {
	s.balance = s.cfg.Balance
	s.owned = make(map[string]*OwnedNumber)
	s.requests = nil
	s.sms = nil
	s.smsSeq = 0
	s.calls = make(map[string]*CallResult)
	s.callOrder = nil
	s.faults = nil
}

// Wait blocks until the webhooks the sandbox sends in the background (the
// completed event after a Voice API hangup) have been delivered.
func (s *Sandbox) Wait() { s.bg.Wait() }

// Balance returns the account balance in EUR.
func (s *Sandbox) Balance() float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.balance
}

// SetBalance sets the account balance in EUR.
func (s *Sandbox) SetBalance(eur float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.balance = eur
}

func (s *Sandbox) now() time.Time { return s.cfg.Now() }

// setRegionURL sets region_url for answer webhooks unless configured.
func (s *Sandbox) setRegionURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.regionURL == "" {
		s.regionURL = u
	}
}
