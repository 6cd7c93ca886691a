package dbcopy

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/postgres"
	"github.com/maskcall/maskcall/internal/postgres/pgtest"
	"github.com/maskcall/maskcall/internal/sqlite"
)

// t0 has whole microseconds: PostgreSQL's precision, so a copy from
// SQLite is exact.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// store is a Store that can be closed.
type store interface {
	maskcall.Store
	Close() error
}

func openStore(tb testing.TB, dsn string) store {
	tb.Helper()
	var s store
	if postgres.IsURL(dsn) {
		db := postgres.NewDB(dsn)
		if err := db.Open(); err != nil {
			tb.Fatal(err)
		}
		s = db
	} else {
		db := sqlite.NewDB(dsn)
		if err := db.Open(); err != nil {
			tb.Fatal(err)
		}
		s = db
	}
	return s
}

// fill gives s a deployment's worth of history: numbers in every state,
// active, expiring and ended conversations, sticky pairings, calls and
// their events.
func fill(tb testing.TB, s maskcall.Store) {
	tb.Helper()
	ctx := context.Background()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	for i, st := range []maskcall.NumberStatus{maskcall.NumberActive, maskcall.NumberActive, maskcall.NumberActive, maskcall.NumberUnconfigured} {
		must(s.CreateNumber(ctx, &maskcall.Number{Number: fmt.Sprintf("+44700000000%d", i), Country: "GB", Type: "mobile-lvn",
			Features: []string{"VOICE", "SMS"}, Cost: "1.25", Status: st, AppID: "app"}, t0))
	}
	must(s.CreateNumber(ctx, &maskcall.Number{Number: "+12000000001", Country: "US", Type: "landline", Features: []string{"VOICE"}, Status: maskcall.NumberActive}, t0))
	rel := maskcall.NumberReleased
	if _, err := s.UpdateNumber(ctx, "+447000000003", maskcall.NumberUpdate{Status: &rel}, t0); err != nil {
		tb.Fatal(err)
	}
	for i := range 12 {
		c := &maskcall.Conversation{Ref: fmt.Sprintf("ride-%d", i%4), Participants: []maskcall.Participant{
			{Number: fmt.Sprintf("+4477009001%02d", i%5), Country: "GB", Label: "driver"},
			{Number: fmt.Sprintf("+4477009002%02d", i), Country: "GB", Label: "rider"},
		}}
		if i%3 == 0 {
			exp := t0.Add(time.Duration(i+1) * time.Minute)
			c.ExpiresAt = &exp
		}
		at := t0.Add(time.Duration(i) * time.Second)
		must(s.CreateConversation(ctx, c, nil, at))
		call := &maskcall.Call{UUID: fmt.Sprintf("leg-%d", i), ConversationUUID: fmt.Sprintf("CON-%d", i), ConversationID: c.ID,
			From: c.Participants[0].Number, To: c.Participants[0].ProxyNumber, Status: "started", StartedAt: &at}
		must(s.CreateCall(ctx, call, at))
		for j, status := range []string{"ringing", "answered", "completed"} {
			ev := maskcall.CallEvent{UUID: call.UUID, ConversationUUID: call.ConversationUUID, Status: status, Direction: "inbound",
				Timestamp: at.Add(time.Duration(j+1) * time.Second), Duration: 30}
			if ok, err := s.RecordCallEvent(ctx, ev, ev.Timestamp); err != nil || !ok {
				tb.Fatalf("event: %v %v", ok, err)
			}
		}
		if i%2 == 1 {
			if _, err := s.EndConversation(ctx, c.ID, "", at.Add(time.Hour)); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if _, err := s.ExpireConversations(ctx, t0.Add(5*time.Minute)); err != nil {
		tb.Fatal(err)
	}
	// Texts: one relayed within a conversation (a relay job), one from a
	// stranger (an auto-reply job and its day), one long text still
	// missing a part.
	ms, ok := s.(maskcall.MessageStore)
	if !ok {
		tb.Fatalf("%T keeps no messages", s)
	}
	page, err := s.FindConversations(ctx, maskcall.ConversationFilter{Status: ptr(maskcall.ConversationActive)}, t0.Add(5*time.Minute))
	if err != nil || len(page.Conversations) == 0 {
		tb.Fatalf("no active conversation for texts: %v", err)
	}
	p := page.Conversations[0].Participants[0]
	pol := maskcall.InboundPolicy{StoreText: true, AutoReply: true}
	for _, in := range []*maskcall.InboundSMS{
		{MessageID: "m-1", From: p.Number, To: p.ProxyNumber, Text: "on my way"},
		{MessageID: "m-2", From: "+447700900999", To: p.ProxyNumber, Text: "who is this"},
		{MessageID: "m-3", From: p.Number, To: p.ProxyNumber, Text: "part one ", ConcatRef: "ref", ConcatTotal: 2, ConcatPart: 1},
	} {
		if _, err := ms.RecordInboundSMS(ctx, in, pol, t0.Add(time.Minute)); err != nil {
			tb.Fatal(err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// snapshot is everything a store tells about its state.
type snapshot struct {
	Numbers       []*maskcall.Number
	Conversations []*maskcall.Conversation
	Calls         map[string][]*maskcall.Call
	// Routes are the conversations each participant's key routes to.
	Routes map[string]string
	// Messages per conversation, and the relay jobs due by a day later.
	Messages  map[string][]*maskcall.Message
	NextRelay *time.Time
}

func snap(tb testing.TB, s maskcall.Store) snapshot {
	tb.Helper()
	ctx := context.Background()
	ns, err := s.FindNumbers(ctx, maskcall.NumberFilter{IncludeReleased: true}, t0)
	if err != nil {
		tb.Fatal(err)
	}
	page, err := s.FindConversations(ctx, maskcall.ConversationFilter{}, t0.Add(5*time.Minute))
	if err != nil {
		tb.Fatal(err)
	}
	cs := page.Conversations
	out := snapshot{Numbers: ns, Conversations: cs, Calls: map[string][]*maskcall.Call{}, Routes: map[string]string{},
		Messages: map[string][]*maskcall.Message{}}
	ms := s.(maskcall.MessageStore)
	for _, c := range cs {
		if out.Calls[c.ID], err = s.FindCalls(ctx, c.ID); err != nil {
			tb.Fatal(err)
		}
		for _, p := range c.Participants {
			r, err := s.FindRoute(ctx, p.Number, p.ProxyNumber, t0.Add(5*time.Minute))
			if maskcall.ErrorCode(err) == maskcall.ENOTFOUND {
				continue
			} else if err != nil {
				tb.Fatal(err)
			}
			out.Routes[p.Number+" "+p.ProxyNumber] = r.ConversationID
		}
		if out.Messages[c.ID], err = ms.FindMessages(ctx, c.ID); err != nil {
			tb.Fatal(err)
		}
	}
	if out.NextRelay, err = ms.NextRelayAt(ctx); err != nil {
		tb.Fatal(err)
	}
	return out
}

// SQLite → PostgreSQL → SQLite: each copy tells the same story as its
// source, and each target works as a store afterwards (new calls get new
// ids, sticky pairings still apply).
func TestCopy_RoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	s := openStore(t, src)
	fill(t, s)
	want := snap(t, s)
	if len(want.Conversations) != 12 || len(want.Numbers) != 5 {
		t.Fatalf("filled %d conversations, %d numbers", len(want.Conversations), len(want.Numbers))
	}
	s.Close()
	// An API key and an idempotent reply (binary columns).
	raw, err := sql.Open("sqlite", src)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO api_keys (id, name, prefix, hash, read_only, created_at) VALUES ('key_1', 'backend', 'mk_ab', x'00ff10', 1, '2030-01-02T03:04:05.000000000Z');
		INSERT INTO idempotency_keys (scope, key, fingerprint, status, body, created_at) VALUES ('key_1', 'k1', x'0102', 201, x'7b7d', '2030-01-02T03:04:05.000000000Z');
		UPDATE interactions SET conversation_uuid = named_conversation_uuid, named_conversation_uuid = '' WHERE uuid = 'leg-0'`); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	pg := pgtest.Schema(t)
	var progress []string
	sum, err := Copy(ctx, src, pg, func(table string, rows int) { progress = append(progress, fmt.Sprintf("%s=%d", table, rows)) })
	if err != nil {
		t.Fatal(err)
	}
	wantCounts := "numbers=5 conversations=12 participants=24 pairings=24 interactions=12 interaction_events=36 messages=3 message_parts=3 "
	if got := strings.Join(progress, " "); !strings.HasPrefix(got, wantCounts) ||
		!strings.Contains(got, "relay_jobs=") || !strings.Contains(got, "sms_auto_replies=1") ||
		!strings.Contains(got, "api_keys=1 idempotency_keys=1") {
		t.Errorf("progress %s, want %s, relay_jobs and sms_auto_replies=1", got, wantCounts)
	}
	if len(sum.Tables) != len(Tables) || sum.Rows < 5+12+24+24+12+36+3+3+1 {
		t.Errorf("summary %+v", sum)
	}
	texts := 0
	for _, m := range want.Messages {
		texts += len(m)
	}
	if want.NextRelay == nil || texts == 0 {
		t.Fatalf("the source has no relay queue or messages: %+v", want)
	}
	p := openStore(t, pg)
	if got := snap(t, p); !reflect.DeepEqual(got, want) {
		t.Errorf("PostgreSQL copy differs from the SQLite source:\n got %+v\nwant %+v", got, want)
	}
	// The route feed starts afresh on the copy: no change rows, nothing
	// kept before its version, and a load gives every active conversation.
	feed := p.(*postgres.DB)
	var active, changes int
	if err := feed.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM conversations WHERE status = 'active'), (SELECT count(*) FROM route_changes)`).Scan(&active, &changes); err != nil {
		t.Fatal(err)
	}
	rv, err := feed.RouteVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	loaded := 0
	if v, err := feed.LoadRoutes(ctx, func(*maskcall.RouteRecord) error { loaded++; return nil }); err != nil || v != rv || loaded != active || active == 0 {
		t.Errorf("LoadRoutes on the copy: %d records at version %d, %v; want %d at %d", loaded, v, err, active, rv)
	}
	if _, ok, err := feed.RouteChanges(ctx, rv-1, func(*maskcall.RouteRecord) error { return nil }); err != nil || ok || changes != 0 {
		t.Errorf("RouteChanges(%d) on the copy: ok %v, %v, %d change rows; want not kept, none", rv-1, ok, err, changes)
	}
	// The copy works as a store: a new call gets a fresh id after the
	// copied ones, and the sticky pairing of a copied pair still applies.
	page, _ := p.FindConversations(ctx, maskcall.ConversationFilter{}, t0)
	last := page.Conversations[0]
	if err := p.CreateCall(ctx, &maskcall.Call{UUID: "leg-new", ConversationID: last.ID, Status: "started"}, t0); err != nil {
		t.Fatalf("a call after the copy: %v", err)
	}
	if ok, err := p.RecordCallEvent(ctx, maskcall.CallEvent{UUID: "leg-new", Status: "ringing", Timestamp: t0}, t0); err != nil || !ok {
		t.Fatalf("an event after the copy: %v %v", ok, err)
	}
	p.Close()

	// And back to a new SQLite file.
	back := filepath.Join(dir, "back", "maskcall.db")
	if _, err := Copy(ctx, pg, back, nil); err != nil {
		t.Fatal(err)
	}
	b := openStore(t, back)
	defer b.Close()
	got := snap(t, b)
	delete(got.Calls, last.ID)
	want2 := want
	want2.Calls = map[string][]*maskcall.Call{}
	for k, v := range want.Calls {
		if k != last.ID {
			want2.Calls[k] = v
		}
	}
	if !reflect.DeepEqual(got, want2) {
		t.Errorf("SQLite copy of the PostgreSQL copy differs:\n got %+v\nwant %+v", got, want2)
	}
	rb, err := sql.Open("sqlite", back)
	if err != nil {
		t.Fatal(err)
	}
	var hash, body []byte
	var readOnly int
	if err := rb.QueryRow(`SELECT k.hash, k.read_only, i.body FROM api_keys k JOIN idempotency_keys i ON i.scope = k.id`).Scan(&hash, &readOnly, &body); err != nil {
		t.Fatal(err)
	}
	rb.Close()
	if string(hash) != "\x00\xff\x10" || readOnly != 1 || string(body) != "{}" {
		t.Errorf("API key after two copies: hash %x, read_only %d, body %q", hash, readOnly, body)
	}
	if calls, err := b.FindCalls(ctx, last.ID); err != nil || len(calls) != 2 {
		t.Errorf("calls of %s after the copy back: %d, %v (want the copied one and the new one)", last.ID, len(calls), err)
	}
	// Both copies kept which calls' eventUrls named them: leg-0 (made
	// older in the source) is found by its conversation uuid alone, leg-1
	// only through its name.
	for _, tc := range []struct {
		ev   maskcall.CallEvent
		want bool
	}{
		{maskcall.CallEvent{UUID: "out-0", ConversationUUID: "CON-0"}, true},
		{maskcall.CallEvent{UUID: "out-1", ConversationUUID: "CON-1"}, false},
		{maskcall.CallEvent{UUID: "out-1", ConversationUUID: "CON-1", CallUUID: "leg-1"}, true},
	} {
		tc.ev.Direction, tc.ev.Status, tc.ev.Timestamp = "outbound", "ringing", t0
		if ok, err := b.RecordCallEvent(ctx, tc.ev, t0); err != nil || ok != tc.want {
			t.Errorf("after two copies, %+v: %v %v, want %v", tc.ev, ok, err, tc.want)
		}
	}
}

func TestCopy_Refuses(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	s := openStore(t, src)
	fill(t, s)
	s.Close()

	t.Run("NonEmptyTarget", func(t *testing.T) {
		pg := pgtest.Schema(t)
		p := openStore(t, pg)
		if err := p.CreateNumber(ctx, &maskcall.Number{Number: "+447999999999", Status: maskcall.NumberActive}, t0); err != nil {
			t.Fatal(err)
		}
		before := snap(t, p)
		_, err := Copy(ctx, src, pg, nil)
		if maskcall.ErrorCode(err) != maskcall.ECONFLICT || !strings.Contains(err.Error(), "not empty") {
			t.Fatalf("copy into a non-empty target: %v", err)
		}
		if after := snap(t, p); !reflect.DeepEqual(after, before) {
			t.Errorf("the refused copy changed the target")
		}
		p.Close()
	})
	t.Run("NonEmptySQLiteTarget", func(t *testing.T) {
		other := filepath.Join(dir, "other.db")
		o := openStore(t, other)
		fill(t, o)
		o.Close()
		if _, err := Copy(ctx, src, other, nil); maskcall.ErrorCode(err) != maskcall.ECONFLICT {
			t.Fatalf("copy into a non-empty SQLite file: %v", err)
		}
	})
	t.Run("UnknownTable", func(t *testing.T) {
		// A table this maskcall does not know (a newer one wrote it): the
		// copy refuses rather than leave it behind.
		newer := filepath.Join(dir, "newer.db")
		o := openStore(t, newer)
		fill(t, o)
		o.Close()
		raw, err := sql.Open("sqlite", newer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := raw.Exec(`CREATE TABLE future_things (x TEXT)`); err != nil {
			t.Fatal(err)
		}
		raw.Close()
		pg := pgtest.Schema(t)
		_, err = Copy(ctx, newer, pg, nil)
		if maskcall.ErrorCode(err) != maskcall.ECONFLICT || !strings.Contains(err.Error(), "future_things") {
			t.Fatalf("copy of a table this maskcall does not know: %v", err)
		}
		p := openStore(t, pg)
		if got := snap(t, p); len(got.Numbers) != 0 || len(got.Conversations) != 0 {
			t.Errorf("the refused copy wrote %d numbers, %d conversations", len(got.Numbers), len(got.Conversations))
		}
		p.Close()
	})
	t.Run("Same", func(t *testing.T) {
		if _, err := Copy(ctx, src, src, nil); maskcall.ErrorCode(err) != maskcall.EINVALID {
			t.Fatalf("copy onto itself: %v", err)
		}
	})
	t.Run("MissingSource", func(t *testing.T) {
		missing := filepath.Join(dir, "nope.db")
		if _, err := Copy(ctx, missing, filepath.Join(dir, "t.db"), nil); maskcall.ErrorCode(err) != maskcall.ENOTFOUND {
			t.Fatalf("copy from a missing file: %v", err)
		}
		if _, err := Copy(ctx, missing, filepath.Join(dir, "t.db"), nil); !strings.Contains(fmt.Sprint(err), "nope.db") {
			t.Errorf("the error does not name the file: %v", err)
		}
	})
}

func TestConvert(t *testing.T) {
	ts := time.Date(2030, 1, 2, 3, 4, 5, 123456789, time.UTC)
	for _, tc := range []struct {
		in   any
		k    kind
		want any
	}{
		{"2030-01-02T03:04:05.123456789Z", kindTime, ts},
		{ts, kindText, "2030-01-02T03:04:05.123456789Z"},
		{int64(1), kindBool, true},
		{int64(0), kindBool, false},
		{true, kindInt, int64(1)},
		{int32(7), kindInt, int64(7)},
		{nil, kindTime, nil},
		{[]byte("x"), kindText, "x"},
	} {
		got, err := convert(tc.in, tc.k)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("convert(%#v, %d) = %#v, %v; want %#v", tc.in, tc.k, got, err, tc.want)
		}
	}
	if _, err := convert("not a time", kindTime); err == nil {
		t.Error("a bad time converted")
	}
}
