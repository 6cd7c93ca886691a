package routeindex

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/maskcall/maskcall/internal/maskcall"
)

var t0 = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

// TestTableAgreesWithRecords drives a table through random puts (new,
// changed, ended, deleted conversations, odd ones among them) and checks
// every key, routed or not, against the records themselves
// (RouteRecord.Route), through growth and deletions.
func TestTableAgreesWithRecords(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	tab := newTable(1)
	defer tab.release()
	model := map[string]*maskcall.RouteRecord{}
	keyOwner := map[[2]string]string{}
	people := make([]string, 3000)
	for i := range people {
		people[i] = fmt.Sprintf("+4477009%05d", i)
	}
	people = append(people, "+1 202 555 0100", "447700900999") // not E.164: odd
	proxies := []string{"+447700800001", "+447700800002", "+447700800003", "+15550100001"}
	exps := []time.Duration{-time.Hour, 0, time.Minute, time.Hour}
	var ids []string
	for step := 0; step < 20000; step++ {
		var r maskcall.RouteRecord
		if len(ids) > 0 && rng.IntN(3) == 0 {
			id := ids[rng.IntN(len(ids))]
			old := model[id]
			if old == nil {
				continue
			}
			r = *old
			switch rng.IntN(4) {
			case 0:
				r.Deleted = true
			case 1:
				r.Participants[0].Active, r.Participants[1].Active = false, false
			case 2:
				r.Mode = maskcall.ModeSMS
			case 3:
				e := t0.Add(exps[rng.IntN(len(exps))])
				r.Participants[0].ExpiresAt, r.Participants[1].ExpiresAt = &e, &e
			}
		} else {
			id := fmt.Sprintf("cv_%d", step)
			switch rng.IntN(50) {
			case 0:
				id = fmt.Sprintf("cv_a_rather_long_identifier_%d", step) // odd
			case 1, 2, 3:
				id = fmt.Sprintf("imported%d", step) // kept without a prefix
			}
			ids = append(ids, id)
			r = maskcall.RouteRecord{ConversationID: id, Mode: maskcall.ModeVoiceAndSMS}
			var e *time.Time
			if rng.IntN(2) == 0 {
				v := t0.Add(exps[rng.IntN(len(exps))])
				e = &v
			}
			for i := range r.Participants {
				r.Participants[i] = maskcall.RouteParticipant{Number: people[rng.IntN(len(people))],
					ProxyNumber: proxies[rng.IntN(len(proxies))], Active: true, ExpiresAt: e}
			}
			if rng.IntN(40) == 0 { // different expiries: odd
				v := t0.Add(time.Hour)
				r.Participants[1].ExpiresAt = &v
			}
		}
		// Keys are unique among active participants, as the store's
		// unique index makes them: skip a record that would collide.
		if collides(keyOwner, &r) {
			continue
		}
		if !tab.put(&r) {
			t.Fatal("table full")
		}
		if old := model[r.ConversationID]; old != nil {
			for _, p := range old.Participants {
				if p.Active {
					delete(keyOwner, [2]string{p.Number, p.ProxyNumber})
				}
			}
		}
		if r.Deleted || (!r.Participants[0].Active && !r.Participants[1].Active) {
			delete(model, r.ConversationID)
		} else {
			c := r
			model[r.ConversationID] = &c
			for _, p := range c.Participants {
				if p.Active {
					keyOwner[[2]string{p.Number, p.ProxyNumber}] = c.ConversationID
				}
			}
		}
		if step%50 == 0 {
			verifySlots(t, seed, tab.keys, tab.keyHome)
			verifySlots(t, seed, tab.ids, tab.idHome)
		}
		if step%2000 == 0 || step == 19999 {
			checkTable(t, seed, tab, model, people, proxies)
		}
	}
	if tab.live+len(tab.odd) != len(model) {
		t.Fatalf("seed %d: table holds %d conversations, model %d", seed, tab.live+len(tab.odd), len(model))
	}
}

func collides(keyOwner map[[2]string]string, r *maskcall.RouteRecord) bool {
	if r.Participants[0].Number == r.Participants[1].Number && r.Participants[0].ProxyNumber == r.Participants[1].ProxyNumber {
		return true
	}
	for _, q := range r.Participants {
		if !q.Active {
			continue
		}
		if m := keyOwner[[2]string{q.Number, q.ProxyNumber}]; m != "" && m != r.ConversationID {
			return true
		}
	}
	return false
}

func checkTable(t *testing.T, seed uint64, tab *table, model map[string]*maskcall.RouteRecord, people, proxies []string) {
	t.Helper()
	byKey := map[[2]string]*maskcall.RouteRecord{}
	for _, r := range model {
		for _, p := range r.Participants {
			if p.Active {
				byKey[[2]string{p.Number, p.ProxyNumber}] = r
			}
		}
	}
	for _, now := range []time.Time{t0.Add(-time.Nanosecond), t0, t0.Add(time.Minute - 1), t0.Add(time.Minute), t0.Add(2 * time.Hour)} {
		for _, from := range people {
			for _, to := range proxies {
				var want *maskcall.Route
				if r := byKey[[2]string{from, to}]; r != nil {
					want = r.Route(from, to, now)
				}
				got := tab.lookup(from, to, now)
				switch {
				case got == nil && want == nil:
				case got == nil || want == nil:
					t.Fatalf("seed %d: %s via %s at %s: got %v, want %v", seed, from, to, now, got, want)
				case got.ConversationID != want.ConversationID || got.Mode != want.Mode ||
					got.Callee.Number != want.Callee.Number || got.Callee.ProxyNumber != want.Callee.ProxyNumber ||
					got.Caller.Number != from || got.Caller.ProxyNumber != to:
					t.Fatalf("seed %d: %s via %s: got %+v, want %+v", seed, from, to, got, want)
				}
			}
		}
	}
}

func TestEncodeNumber(t *testing.T) {
	for _, s := range []string{"+1", "+447700900123", "+999999999999999"} {
		v, ok := encodeNumber(s)
		if !ok || decodeNumber(v) != s {
			t.Errorf("%s: %d %v -> %s", s, v, ok, decodeNumber(v))
		}
	}
	for _, s := range []string{"", "+", "447700900123", "+0447700900123", "+44 7700 900123", "+4477009001234567"} {
		if _, ok := encodeNumber(s); ok {
			t.Errorf("%q encoded", s)
		}
	}
}

// TestEntrySize keeps an entry at 48 bytes: at a million conversations
// every byte is a megabyte.
func TestEntrySize(t *testing.T) {
	var e entry
	if got := sizeofEntry(e); got != 48 {
		t.Fatalf("entry is %d bytes", got)
	}
}

func sizeofEntry(e entry) uintptr { return unsafe.Sizeof(e) }

// verifySlots checks that linear probing reaches every slot's content from
// its home: no empty slot lies between them (cyclically).
func verifySlots(t *testing.T, seed uint64, slots []uint32, home func(uint32) int) {
	t.Helper()
	n := len(slots)
	for p, v := range slots {
		if v == 0 {
			continue
		}
		for s := home(v); s != p; s = (s + 1) % n {
			if slots[s] == 0 {
				t.Fatalf("seed %d: slot %d (home %d) is cut off by the empty slot %d of %d", seed, p, home(v), s, n)
			}
		}
	}
}
