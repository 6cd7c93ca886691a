package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

func openJournaled(t *testing.T, path string) *DB {
	t.Helper()
	db := NewDB(path)
	db.FastCommits, db.CallJournal = true, true
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func journalOnDiskFiles(t *testing.T, dbPath string) []string {
	t.Helper()
	files, err := journalFiles(journalBase(dbPath))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f.path))
	}
	return names
}

func hasCall(t *testing.T, db *DB, conversationID, uuid string) bool {
	t.Helper()
	calls, err := db.FindCalls(context.Background(), conversationID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range calls {
		if c.UUID == uuid {
			return true
		}
	}
	return false
}

// With the journal, a call is answered while another process holds the
// write lock: QueueCall reports it written (journaled) at once, the record
// commits once the lock goes, and a clean Close leaves no journal behind.
func TestCallJournal_AnswersAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maskcall.db")
	db := openJournaled(t, path)
	conv, _ := MustCreateCall(t, db)
	release := holdWriteLock(t, db)
	outcome := make(chan error, 1)
	call := &maskcall.Call{UUID: "j-1", ConversationUUID: "CON-J1", ConversationID: conv.ID, From: alice, To: gb1, Status: "started"}
	start := time.Now()
	written, err := db.QueueCall(context.Background(), call, t0, time.Second, func(err error) { outcome <- err })
	if !written || err != nil {
		t.Fatalf("QueueCall = %v, %v; want journaled", written, err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("QueueCall waited %s for a locked database", d)
	}
	if got := journalOnDiskFiles(t, path); len(got) != 1 {
		t.Fatalf("journal files while serving: %v", got)
	}
	release()
	if err := <-outcome; err != nil {
		t.Fatalf("record's outcome: %v", err)
	}
	if !hasCall(t, db, conv.ID, "j-1") {
		t.Fatal("journaled call not written")
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := journalOnDiskFiles(t, path); len(got) != 0 {
		t.Fatalf("journal files after a clean close: %v", got)
	}
}

// A process that dies with records journaled and not committed (here: its
// journal left as it was, unlocked, as a killed process leaves it) loses
// nothing: the next Open writes them, once, skipping a torn last line and
// a record whose conversation is gone, and removes the file. A journal
// another live process holds is not touched.
func TestCallJournal_ReplayAfterKill(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maskcall.db")
	db := MustOpenDBAt(t, path)
	conv, _ := MustCreateCall(t, db)
	var data []byte
	for i := range 3 {
		c := &maskcall.Call{UUID: fmt.Sprintf("dead-%d", i), ConversationUUID: fmt.Sprintf("CON-D%d", i), ConversationID: conv.ID, From: alice, To: gb1, Status: "started"}
		data = appendJournalRecord(data, c, t0)
	}
	// Already written before the kill: written once.
	data = appendJournalRecord(data, &maskcall.Call{UUID: "dead-0", ConversationID: conv.ID, From: alice, To: gb1, Status: "started"}, t0)
	// Its conversation purged meanwhile: dropped.
	data = appendJournalRecord(data, &maskcall.Call{UUID: "orphan", ConversationID: "cv_gone", From: alice, To: gb1, Status: "started"}, t0)
	// Torn by a power loss.
	torn := appendJournalRecord(nil, &maskcall.Call{UUID: "torn", ConversationID: conv.ID, Status: "started"}, t0)
	data = append(data, torn[:len(torn)/2]...)
	dead := journalBase(path) + ".3"
	if err := os.WriteFile(dead, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// A live serve's journal, locked.
	live := journalBase(path) + ".4"
	lf, err := os.OpenFile(live, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if _, err := lf.Write(appendJournalRecord(nil, &maskcall.Call{UUID: "live", ConversationID: conv.ID, From: alice, To: gb1, Status: "started"}, t0)); err != nil {
		t.Fatal(err)
	}
	if err := lockFile(lf, false); err != nil {
		t.Fatal(err)
	}

	var warnings []string
	other := NewDB(path)
	other.Warn = func(msg string) { warnings = append(warnings, msg) }
	if err := other.Open(); err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	for i := range 3 {
		if !hasCall(t, other, conv.ID, fmt.Sprintf("dead-%d", i)) {
			t.Errorf("dead-%d not replayed", i)
		}
	}
	if hasCall(t, other, conv.ID, "live") {
		t.Error("a live process's journal was replayed")
	}
	// The journal may be from a maskcall whose connect named no call: a
	// replayed call's outbound leg finds it by conversation uuid, as well
	// as by name.
	for _, ev := range []maskcall.CallEvent{
		{UUID: "out-1", ConversationUUID: "CON-D1"},
		{UUID: "out-2", ConversationUUID: "CON-D2", CallUUID: "dead-2"},
	} {
		ev.Direction, ev.Status, ev.Timestamp = "outbound", "ringing", t0
		if ok, err := other.RecordCallEvent(context.Background(), ev, t0); err != nil || !ok {
			t.Errorf("%+v after replay: %v %v, want its call", ev, ok, err)
		}
	}
	calls, _ := other.FindCalls(context.Background(), conv.ID)
	if len(calls) != 4 { // MustCreateCall's and dead-0..2
		t.Errorf("%d calls after replay, want 4", len(calls))
	}
	if got := journalOnDiskFiles(t, path); len(got) != 1 || got[0] != filepath.Base(live) {
		t.Errorf("journal files after replay: %v, want only the live one", got)
	}
	if len(warnings) == 0 {
		t.Error("replay said nothing")
	}
	t.Log(warnings)
}

// A journal rotates past its size, and each rotated file goes once its
// records committed.
func TestCallJournal_Rotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maskcall.db")
	db := openJournaled(t, path)
	conv, _ := MustCreateCall(t, db)
	// Enough records for two rotations.
	n := 2*journalRotateBytes/100 + 50
	for i := range n {
		c := &maskcall.Call{UUID: fmt.Sprintf("rot-%06d-%s", i, "padding-padding-padding"), ConversationUUID: "CON-ROT", ConversationID: conv.ID, From: alice, To: gb1, Status: "started"}
		if ok, err := db.QueueCall(context.Background(), c, t0, time.Second, nil); !ok || err != nil {
			t.Fatalf("QueueCall %d: %v %v", i, ok, err)
		}
	}
	// Everything committed (an event queues behind every record), then
	// a batch releases what it can.
	if _, err := db.RecordCallEvent(context.Background(), maskcall.CallEvent{UUID: "rot-000000-padding-padding-padding", Status: "ringing", Timestamp: t0}, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordCallEvent(context.Background(), maskcall.CallEvent{UUID: "rot-000001-padding-padding-padding", Status: "ringing", Timestamp: t0}, t0); err != nil {
		t.Fatal(err)
	}
	if db.journal.gen < 3 {
		t.Fatalf("journal at generation %d after %d records", db.journal.gen, n)
	}
	if got := journalOnDiskFiles(t, path); len(got) != 1 {
		t.Fatalf("journal files once all committed: %v", got)
	}
	calls, _ := db.FindCalls(context.Background(), conv.ID)
	if len(calls) != n+1 {
		t.Fatalf("%d calls, want %d", len(calls), n+1)
	}
}

func TestJournalRecordRoundTrip(t *testing.T) {
	s := t0.Add(123456789)
	c := &maskcall.Call{UUID: "u \"q\"\n\t", ConversationUUID: "CON-1", ConversationID: "cv_1", From: "+447700900123", To: "+447000000001", Status: "started", StartedAt: &s}
	rec := appendJournalRecord(nil, c, t0.Add(42))
	got, now, err := parseJournalRecord(string(rec[:len(rec)-1]))
	if err != nil {
		t.Fatal(err)
	}
	if got.UUID != c.UUID || got.ConversationUUID != c.ConversationUUID || got.ConversationID != c.ConversationID ||
		got.From != c.From || got.To != c.To || got.Status != c.Status || !got.StartedAt.Equal(s) || !now.Equal(t0.Add(42)) {
		t.Fatalf("round trip: %+v at %s", got, now)
	}
	for _, bad := range []string{"", "c1", "c1 \"a\"", string(rec[:len(rec)/2]), "x1 " + string(rec[3:])} {
		if _, _, err := parseJournalRecord(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// Answers do not outrun the database for long: past journalBacklog
// records waiting, QueueCall waits for its own record (here, while another
// process holds the write lock, until its wait runs out), still reporting
// it safe.
func TestCallJournal_Backpressure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maskcall.db")
	db := openJournaled(t, path)
	conv, _ := MustCreateCall(t, db)
	release := holdWriteLock(t, db)
	defer release()
	const wait = 50 * time.Millisecond
	for i := range journalBacklog + 3 {
		c := &maskcall.Call{UUID: fmt.Sprintf("bp-%d", i), ConversationID: conv.ID, From: alice, To: gb1, Status: "started"}
		start := time.Now()
		written, err := db.QueueCall(context.Background(), c, t0, wait, nil)
		if !written || err != nil {
			t.Fatalf("QueueCall %d = %v, %v", i, written, err)
		}
		waited := time.Since(start) >= wait
		if over := i >= journalBacklog; over != waited {
			t.Fatalf("record %d (backlog %d) waited %v for the locked database", i, journalBacklog, waited)
		}
	}
}

// A journal does not keep the numbers of committed calls: once its records
// all committed, the file is replaced within about journalIdleRotate, also
// when nothing else happens.
func TestCallJournal_LetGoOnceCommitted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "maskcall.db")
	db := openJournaled(t, path)
	conv, _ := MustCreateCall(t, db)
	c := &maskcall.Call{UUID: "kept-not", ConversationID: conv.ID, From: alice, To: gb1, Status: "started"}
	done := make(chan error, 1)
	if ok, err := db.QueueCall(context.Background(), c, t0, time.Second, func(err error) { done <- err }); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	holds := func() bool {
		files, _ := filepath.Glob(journalBase(path) + ".*")
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), alice) {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(10 * time.Second)
	for holds() {
		if time.Now().After(deadline) {
			t.Fatalf("a journal still holds %s %s after its call committed", alice, "10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !hasCall(t, db, conv.ID, "kept-not") {
		t.Fatal("the call is not recorded")
	}
}
