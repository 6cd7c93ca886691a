// Package storetest is the behaviour every maskcall.Store must show: one
// suite, run by each store's own tests (internal/sqlite always, the
// PostgreSQL store when it has a database), so the stores cannot drift.
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) maskcall.Store { return MustOpenDB(t) })
//	}
//
// The suite uses only the Store interface. Where a store can show more
// than the interface does (another handle on the same data, its stored
// event rows), it declares that in Harness and the suite checks it too;
// the suite never asks what type a store is.
//
// Times in the suite are whole microseconds (the finest PostgreSQL keeps)
// and explicit: stores read no clock (see maskcall.Store).
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// Harness is how the suite gets stores, and what optional powers the store
// under test declares.
type Harness struct {
	// New returns a new, empty store that is closed when t ends.
	New func(t *testing.T) maskcall.Store
	// Reopen, if set, returns a second store on the same data as s, as
	// another process (the CLI beside serve) or replica would open it; it
	// too is closed when t ends. Concurrency is then also tested across
	// the two.
	Reopen func(t *testing.T, s maskcall.Store) maskcall.Store
	// CountEvents, if set, counts the call events s has stored, so the
	// suite can check a retried event is stored once (the interface only
	// shows its effect on the call).
	CountEvents func(t *testing.T, s maskcall.Store) int
	// Routes, if set, is what answers calls on s's data in place of s's
	// own FindRoute (an index or cache in front of the store); the route
	// property test checks it agrees with the store.
	Routes func(t *testing.T, s maskcall.Store) maskcall.RouteStore
	// MarkCallsOlder, if set, makes every call s has recorded look like
	// one recorded by a maskcall whose connect action did not name the
	// call in its eventUrl (as the migration from it leaves them), so the
	// suite checks that such a call's outbound leg, whose events carry no
	// CallUUID, still finds it by its ConversationUUID.
	MarkCallsOlder func(t *testing.T, s maskcall.Store)
}

// Run runs the suite on the stores newStore returns.
func Run(t *testing.T, newStore func(t *testing.T) maskcall.Store) {
	RunHarness(t, Harness{New: newStore})
}

// RunHarness runs the suite with h.
func RunHarness(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("storetest: Harness.New is nil")
	}
	s := &harness{h}
	for _, tc := range []struct {
		name string
		f    func(*testing.T)
	}{
		{"CreateNumber", s.testCreateNumber},
		{"FindNumbers", s.testFindNumbers},
		{"UpdateNumber", s.testUpdateNumber},
		{"DeleteNumber", s.testDeleteNumber},
		{"NumberLifecycle", s.testNumberLifecycle},
		{"PurchaseLease", s.testPurchaseLease},
		{"CreateConversation", s.testCreateConversation},
		{"CreateConversation_Concurrent", s.testCreateConversation_Concurrent},
		{"EndConversation", s.testEndConversation},
		{"EndConversationsUsingNumber", s.testEndConversationsUsingNumber},
		{"ExpireConversations", s.testExpireConversations},
		{"ExpiredStatus", s.testExpiredStatus},
		{"PurgeConversations", s.testPurgeConversations},
		{"FindConversations", s.testFindConversations},
		{"FindConversations_Paging", s.testFindConversationsPaging},
		{"FindRoute", s.testFindRoute},
		{"CreateCall", s.testCreateCall},
		{"RecordCallEvent", s.testRecordCallEvent},
		{"FindCalls", s.testFindCalls},
		{"RouteProperty", s.testRouteProperty},
		{"RouteFeed", s.testRouteFeed},
		{"Stats", s.testStats},
		{"Callbacks_NoTarget", s.testCallbacksNoTarget},
		{"Callbacks_Lifecycle", s.testCallbacksLifecycle},
		{"Callbacks_ConversationURL", s.testCallbacksConversationURL},
		{"Callbacks_Endings", s.testCallbacksEndings},
		{"Callbacks_OutOfSession", s.testCallbacksOutOfSession},
		{"Callbacks_Claim", s.testCallbacksClaim},
		{"Callbacks_ClaimConcurrent", s.testCallbacksClaimConcurrent},
	} {
		t.Run(tc.name, tc.f)
	}
}

// RunRouteProperty runs only the route property test with h: for a
// second configuration of what answers calls (Harness.Routes).
func RunRouteProperty(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("storetest: Harness.New is nil")
	}
	(&harness{h}).testRouteProperty(t)
}

type harness struct{ Harness }

func (h *harness) open(t *testing.T) maskcall.Store { return h.New(t) }

// t0 is the suite's "now".
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 600_000, time.UTC)

// Real numbers of participants.
const (
	alice = "+447700900123"
	bob   = "+447700900456"
	carol = "+12025550101"
	dave  = "+12025550102"
)

// Pool numbers.
const (
	gb1 = "+447000000001"
	gb2 = "+447000000002"
	gb3 = "+447000000003"
	us1 = "+12000000001"
	us2 = "+12000000002"
)

// mustCreateNumber adds an active VOICE and SMS pool number at t0.
func mustCreateNumber(tb testing.TB, db maskcall.Store, number, country string, features ...string) *maskcall.Number {
	tb.Helper()
	if features == nil {
		features = []string{"VOICE", "SMS"}
	}
	n := &maskcall.Number{Number: number, Country: country, Type: "mobile-lvn",
		Features: features, Status: maskcall.NumberActive, AppID: "app"}
	if err := db.CreateNumber(context.Background(), n, t0); err != nil {
		tb.Fatal(err)
	}
	return n
}

// mustCreateConversation creates a conversation between a and b at now,
// expiring after ttl (never if 0).
func mustCreateConversation(tb testing.TB, db maskcall.Store, now time.Time, ttl time.Duration, a, b maskcall.Participant) *maskcall.Conversation {
	tb.Helper()
	c, err := createConv(db, now, ttl, a, b)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func createConv(db maskcall.Store, now time.Time, ttl time.Duration, a, b maskcall.Participant, needs ...string) (*maskcall.Conversation, error) {
	c := &maskcall.Conversation{Ref: "ref", Participants: []maskcall.Participant{a, b}}
	if ttl > 0 {
		exp := now.Add(ttl)
		c.ExpiresAt = &exp
	}
	return c, db.CreateConversation(context.Background(), c, needs, now)
}

// gb and us build participants.
func gb(number, label string) maskcall.Participant {
	return maskcall.Participant{Number: number, Country: "GB", Label: label}
}

func us(number, label string) maskcall.Participant {
	return maskcall.Participant{Number: number, Country: "US", Label: label}
}

func proxies(c *maskcall.Conversation) [2]string {
	return [2]string{c.Participants[0].ProxyNumber, c.Participants[1].ProxyNumber}
}

// assertCode fails unless err carries code.
func assertCode(tb testing.TB, err error, code string) {
	tb.Helper()
	if got := maskcall.ErrorCode(err); got != code {
		tb.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

// counter returns a pool number's active-conversation count at t0.
func counter(tb testing.TB, db maskcall.Store, number string) int {
	tb.Helper()
	return counterAt(tb, db, number, t0)
}

func counterAt(tb testing.TB, db maskcall.Store, number string, now time.Time) int {
	tb.Helper()
	n, err := db.FindNumber(context.Background(), number, now)
	if err != nil {
		tb.Fatal(err)
	}
	return n.ActiveConversations
}

// assertCounters checks, at t0 and at a time after every expiry, that
// each number's ActiveConversations is the number of conversations active
// then that use it as a proxy, once per conversation.
func assertCounters(tb testing.TB, db maskcall.Store) {
	tb.Helper()
	for _, now := range []time.Time{t0, t0.AddDate(100, 0, 0)} {
		assertCountersAt(tb, db, now)
	}
}

func assertCountersAt(tb testing.TB, db maskcall.Store, now time.Time) {
	tb.Helper()
	ctx := context.Background()
	active := maskcall.ConversationActive
	page, err := db.FindConversations(ctx, maskcall.ConversationFilter{Status: &active}, now)
	if err != nil {
		tb.Fatal(err)
	}
	want := map[string]int{}
	for _, c := range page.Conversations {
		if c.Status != maskcall.ConversationActive {
			tb.Errorf("FindConversations(active) returned %s with status %s", c.ID, c.Status)
		}
		seen := map[string]bool{}
		for _, p := range c.Participants {
			if !seen[p.ProxyNumber] {
				seen[p.ProxyNumber] = true
				want[p.ProxyNumber]++
			}
		}
	}
	ns, err := db.FindNumbers(ctx, maskcall.NumberFilter{IncludeReleased: true}, now)
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range ns {
		if n.ActiveConversations != want[n.Number] {
			tb.Errorf("%s at %s: active_conversations = %d, want %d", n.Number, now.Format(time.RFC3339), n.ActiveConversations, want[n.Number])
		}
	}
}
