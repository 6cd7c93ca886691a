package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/postgres/pgtest"
)

// holdInteractions blocks writes to interactions until the returned func
// is called, so that records queued meanwhile wait for the batch ahead of
// them and are then written together.
func holdInteractions(tb testing.TB, db *DB) (release func()) {
	tb.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db.url)
	if err != nil {
		tb.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE interactions IN SHARE MODE`); err != nil {
		tb.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			tx.Rollback(ctx)
			conn.Close(ctx)
		})
	}
	tb.Cleanup(release)
	return release
}

// waitQueued waits until n records are queued or in a batch statement
// since the statistics said taken0.
func waitQueued(tb testing.TB, db *DB, taken0 int64, n int) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		db.calls.mu.Lock()
		_, taken := db.CallQueueStats()
		got := len(db.calls.pending) + int(taken-taken0)
		db.calls.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d records queued, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// queueAll queues calls and returns each one's error: the first alone,
// held up in its batch statement, then the others at once, which are
// written together in the next batch.
func queueAll(tb testing.TB, db *DB, calls []*maskcall.Call, now time.Time) []error {
	tb.Helper()
	release := holdInteractions(tb, db)
	_, taken0 := db.CallQueueStats()
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			written, err := db.QueueCall(context.Background(), c, now, 10*time.Second, nil)
			if err == nil && !written {
				err = fmt.Errorf("%s not written in 10 s", c.UUID)
			}
			errs[i] = err
		}()
		for i == 0 {
			// In its batch statement, held up.
			if _, taken := db.CallQueueStats(); taken > taken0 {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	waitQueued(tb, db, taken0, len(calls))
	release()
	wg.Wait()
	return errs
}

// callSetup is conversations with and without their own callback URL,
// and calls to them: from either participant, and from a number that is
// not one (no label or position).
func callSetup(tb testing.TB, db *DB, prefix string, now time.Time) []*maskcall.Call {
	tb.Helper()
	ctx := context.Background()
	var calls []*maskcall.Call
	for i := range 6 {
		MustCreateNumber(tb, db, fmt.Sprintf("+4470000001%02d", i), "GB")
	}
	for i := range 6 {
		c := &maskcall.Conversation{Ref: fmt.Sprintf("ref-%d", i%3), Participants: []maskcall.Participant{
			gb(fmt.Sprintf("+4477009%05d", 10000+i), "driver"), gb(fmt.Sprintf("+4477009%05d", 50000+i), "")}}
		if i%2 == 0 {
			c.CallbackURL = "https://example.com/cb"
		}
		if i == 4 {
			c.Ref = ""
		}
		if err := db.CreateConversation(ctx, c, nil, now); err != nil {
			tb.Fatal(err)
		}
		for j, p := range append(c.Participants, gb("+447700999999", "")) {
			proxy := p.ProxyNumber
			if proxy == "" {
				proxy = c.Participants[0].ProxyNumber
			}
			start := now.Add(-time.Duration(j) * time.Second)
			call := &maskcall.Call{UUID: fmt.Sprintf("leg-%d-%d", i, j), ConversationUUID: fmt.Sprintf("CON-%d-%d", i, j),
				ConversationID: c.ID, From: p.Number, To: proxy, Status: "started", StartedAt: &start}
			if j == 1 {
				end := now.Add(time.Minute)
				call.Status, call.Duration, call.EndedAt = "completed", 42, &end
			}
			calls = append(calls, call)
		}
	}
	return calls
}

// withPrefix returns copies of calls whose uuids start with prefix.
func withPrefix(calls []*maskcall.Call, prefix string) []*maskcall.Call {
	var out []*maskcall.Call
	for _, c := range calls {
		cc := *c
		cc.UUID = prefix + c.UUID
		out = append(out, &cc)
	}
	return out
}

// callRows returns the interactions and callbacks rows of the calls whose
// uuids start with prefix, as text, the prefix and generated ids left out.
func callRows(tb testing.TB, db *DB, prefix string) (interactions, callbacks []string) {
	tb.Helper()
	ctx := context.Background()
	collect := func(q string) []string {
		rows, err := db.pool.Query(ctx, q, prefix)
		if err != nil {
			tb.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			tb.Fatal(err)
		}
		return out
	}
	interactions = collect(`SELECT row(kind, conversation_id, substr(uuid, length($1) + 1), conversation_uuid, from_number,
			to_number, status, duration, started_at, ended_at, created_at)::text
		FROM interactions WHERE starts_with(uuid, $1) ORDER BY uuid`)
	callbacks = collect(`SELECT row(type, conversation_id, call_uuid, substr(data::jsonb->>'call_id', length($1) + 1),
			data::jsonb - 'call_id', url, state, attempts, next_attempt_at, lease_until, retry_until, last_status,
			last_error, delivered_at, created_at, updated_at)::text
		FROM callbacks WHERE starts_with(data::jsonb->>'call_id', $1) ORDER BY data::jsonb->>'call_id'`)
	return interactions, callbacks
}

func TestDB_QueueCall(t *testing.T) {
	ctx := context.Background()

	// Records written together are exactly what CreateCall writes one by
	// one, with and without a callback target, in fewer statements than
	// calls.
	for _, global := range []bool{false, true} {
		t.Run(fmt.Sprintf("SameRowsAsCreateCall/global=%v", global), func(t *testing.T) {
			db := MustOpenDB(t)
			if err := db.SetCallbackTarget(ctx, global, t0); err != nil {
				t.Fatal(err)
			}
			calls := callSetup(t, db, "", t0)
			for _, c := range withPrefix(calls, "c-") {
				if err := db.CreateCall(ctx, c, t0); err != nil {
					t.Fatal(err)
				}
			}
			b0, n0 := db.CallQueueStats()
			for _, err := range queueAll(t, db, withPrefix(calls, "q-"), t0) {
				if err != nil {
					t.Fatal(err)
				}
			}
			wantI, wantC := callRows(t, db, "c-")
			gotI, gotC := callRows(t, db, "q-")
			if len(wantI) != len(calls) || strings.Join(gotI, "\n") != strings.Join(wantI, "\n") {
				t.Errorf("interactions:\n%s\nwant (CreateCall):\n%s", strings.Join(gotI, "\n"), strings.Join(wantI, "\n"))
			}
			if want := map[bool]int{false: 9, true: len(calls)}[global]; len(wantC) != want {
				t.Errorf("CreateCall wrote %d callbacks, want %d", len(wantC), want)
			}
			if strings.Join(gotC, "\n") != strings.Join(wantC, "\n") {
				t.Errorf("callbacks:\n%s\nwant (CreateCall):\n%s", strings.Join(gotC, "\n"), strings.Join(wantC, "\n"))
			}
			b, n := db.CallQueueStats()
			if n-n0 != int64(len(calls)) || b-b0 != 2 {
				t.Errorf("%d calls written in %d statements", n-n0, b-b0)
			}
		})
	}

	// Under light load a batch is one record, written at once.
	t.Run("Alone", func(t *testing.T) {
		db := MustOpenDB(t)
		calls := callSetup(t, db, "", t0)
		for _, c := range calls[:3] {
			if written, err := db.QueueCall(ctx, c, t0, 10*time.Second, nil); err != nil || !written {
				t.Fatalf("QueueCall: %v %v", written, err)
			}
		}
		if b, n := db.CallQueueStats(); b != 3 || n != 3 {
			t.Errorf("%d calls in %d statements", n, b)
		}
		if got, err := db.FindCalls(ctx, calls[0].ConversationID); err != nil || len(got) != 3 {
			t.Errorf("FindCalls: %d %v", len(got), err)
		}
	})

	// A call whose conversation does not exist fails as CreateCall's
	// would; the others of its batch are written.
	t.Run("MissingConversation", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.SetCallbackTarget(ctx, true, t0); err != nil {
			t.Fatal(err)
		}
		calls := callSetup(t, db, "", t0)
		bad := &maskcall.Call{UUID: "leg-bad", ConversationID: "cv_gone", From: alice, To: gb1, Status: "started"}
		assertCode(t, db.CreateCall(ctx, bad, t0), maskcall.ENOTFOUND)
		calls = append(calls[:5:5], append([]*maskcall.Call{bad}, calls[5:]...)...)
		errs := queueAll(t, db, calls, t0)
		for i, err := range errs {
			if calls[i] == bad {
				assertCode(t, err, maskcall.ENOTFOUND)
				if want := "Conversation cv_gone not found."; maskcall.ErrorMessage(err) != want {
					t.Errorf("message %q, want %q", maskcall.ErrorMessage(err), want)
				}
			} else if err != nil {
				t.Errorf("%s: %v", calls[i].UUID, err)
			}
		}
		gotI, gotC := callRows(t, db, "leg-")
		if len(gotI) != len(calls)-1 || len(gotC) != len(calls)-1 {
			t.Errorf("%d calls and %d callbacks written, want %d", len(gotI), len(gotC), len(calls)-1)
		}
	})

	// A uuid queued twice, or recorded before, is recorded once, with one
	// call.started event.
	t.Run("RepeatedUUID", func(t *testing.T) {
		db := MustOpenDB(t)
		if err := db.SetCallbackTarget(ctx, true, t0); err != nil {
			t.Fatal(err)
		}
		calls := callSetup(t, db, "", t0)
		if err := db.CreateCall(ctx, calls[1], t0); err != nil {
			t.Fatal(err)
		}
		again := *calls[0]
		again.Status = "ringing"
		// The first is written alone (queueAll), the others together.
		batch := []*maskcall.Call{calls[3], calls[0], calls[2], &again, calls[1], calls[0]}
		for _, err := range queueAll(t, db, batch, t0) {
			if err != nil {
				t.Fatal(err)
			}
		}
		var n, cbs int
		if err := db.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM interactions WHERE uuid = $1),
			(SELECT count(*) FROM callbacks WHERE data::jsonb->>'call_id' = $1)`, calls[0].UUID).Scan(&n, &cbs); err != nil {
			t.Fatal(err)
		} else if n != 1 || cbs != 1 {
			t.Errorf("%d calls and %d events for one uuid", n, cbs)
		}
		gotI, gotC := callRows(t, db, "leg-")
		if len(gotI) != 4 || len(gotC) != 4 {
			t.Errorf("%d calls and %d callbacks, want 4", len(gotI), len(gotC))
		}
	})

	// Records whose callers stopped waiting are written by Close, and
	// their outcomes reported.
	t.Run("CloseDrains", func(t *testing.T) {
		url := MustCreateSchema(t)
		db := NewDB(url)
		db.Now = func() time.Time { return t0 }
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		calls := callSetup(t, db, "", t0)
		release := holdInteractions(t, db)
		var later, failed atomic.Int32
		for _, c := range calls {
			written, err := db.QueueCall(ctx, c, t0, 0, func(err error) {
				later.Add(1)
				if err != nil {
					failed.Add(1)
				}
			})
			if err != nil || written {
				t.Fatalf("QueueCall while held: %v %v", written, err)
			}
		}
		time.AfterFunc(100*time.Millisecond, release)
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		if later.Load() != int32(len(calls)) || failed.Load() != 0 {
			t.Errorf("%d outcomes reported, %d failed; want %d, 0", later.Load(), failed.Load(), len(calls))
		}
		if _, err := db.QueueCall(ctx, calls[0], t0, time.Second, nil); err == nil {
			t.Error("QueueCall after Close succeeded")
		}
		other := MustOpenDBAt(t, url)
		if gotI, _ := callRows(t, other, "leg-"); len(gotI) != len(calls) {
			t.Errorf("%d calls written, want %d", len(gotI), len(calls))
		}
	})

	// Connections lost to a restart are replaced: the record is retried
	// and written.
	t.Run("Reconnect", func(t *testing.T) {
		url := MustCreateSchema(t)
		db := MustOpenDBAt(t, url)
		calls := callSetup(t, db, "", t0)
		admin := MustOpenDBAt(t, url)
		pids := poolPIDs(t, db)
		var killed int
		if err := admin.pool.QueryRow(ctx, `SELECT COUNT(*) FROM unnest($1::int[]) AS p(pid) WHERE pg_terminate_backend(pid)`,
			pids).Scan(&killed); err != nil || killed == 0 {
			t.Fatalf("terminated %d: %v", killed, err)
		}
		if written, err := db.QueueCall(ctx, calls[0], t0, 10*time.Second, nil); err != nil || !written {
			t.Fatalf("QueueCall after the outage: %v %v", written, err)
		}
	})

	// While the database refuses sessions a record is retried, and
	// written once it is back; after unavailableRetryFor it fails ESTORE to
	// a caller still waiting; one whose caller stopped waiting is written
	// once the server is back.
	t.Run("Outage", func(t *testing.T) {
		url := pgtest.Database(t)
		db := MustOpenDBAt(t, url)
		calls := callSetup(t, db, "", t0)
		var name string
		if err := db.pool.QueryRow(ctx, `SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
		server := pgtest.ServerURL(t)
		down := func() {
			pgtest.Exec(t, server, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS false`)
			pgtest.EndSessions(t, server, name)
		}
		up := func() { pgtest.Exec(t, server, `ALTER DATABASE `+name+` ALLOW_CONNECTIONS true`) }
		t.Cleanup(up)

		down()
		time.AfterFunc(500*time.Millisecond, up)
		if written, err := db.QueueCall(ctx, calls[0], t0, 10*time.Second, nil); err != nil || !written {
			t.Fatalf("QueueCall through a short outage: %v %v", written, err)
		}

		down()
		outcome := make(chan error, 1)
		if written, err := db.QueueCall(ctx, calls[1], t0, 0, func(err error) { outcome <- err }); err != nil || written {
			t.Fatalf("QueueCall not waiting: %v %v", written, err)
		}
		start := time.Now()
		_, err := db.QueueCall(ctx, calls[2], t0, 10*time.Second, nil)
		assertCode(t, err, maskcall.ESTORE)
		if d := time.Since(start); d < unavailableRetryFor-100*time.Millisecond {
			t.Errorf("gave up after %v", d)
		}
		// The record whose caller stopped waiting belongs to a connected
		// call: it is not given up for the outage, and is written once the
		// server is back.
		select {
		case err := <-outcome:
			t.Fatalf("a connected call's record was given up during the outage: %v", err)
		default:
		}
		up()
		select {
		case err := <-outcome:
			if err != nil {
				t.Fatalf("connected call's record after the outage: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("later not called once the server was back")
		}
		if written, err := db.QueueCall(ctx, calls[3], t0, 10*time.Second, nil); err != nil || !written {
			t.Fatalf("QueueCall after the outage: %v %v", written, err)
		}
		if gotI, _ := callRows(t, db, "leg-"); len(gotI) != 3 {
			t.Errorf("%d calls written, want 3", len(gotI))
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		db := MustOpenDB(t)
		_, err := db.QueueCall(ctx, &maskcall.Call{ConversationID: "cv_x"}, t0, time.Second, nil)
		assertCode(t, err, maskcall.EINVALID)
		_, err = db.QueueCall(ctx, &maskcall.Call{UUID: "leg"}, t0, time.Second, nil)
		assertCode(t, err, maskcall.EINVALID)
	})
}
