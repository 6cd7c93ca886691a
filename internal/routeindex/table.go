package routeindex

import (
	"hash/maphash"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
	"github.com/maskcall/maskcall/internal/offheap"
)

// table holds the routes of every active conversation in a few flat
// arrays, no pointers, so that a million conversations fit in about 70 MB
// and the garbage collector never walks them:
//
//   - entries: one per conversation (48 bytes): its id, both participants'
//     numbers as integers (the digits of E.164), their proxies as indexes
//     into a small table of the pool's numbers, the expiry, the mode;
//   - keys: open addressing with linear probing over the participants'
//     keys (number, proxy), each slot an entry index, the side, and 8 bits
//     of the key's hash, so that a probe rarely touches an entry that is
//     not the one;
//   - ids: the same over conversation ids, to apply a change.
//
// A conversation that does not fit this shape (a number that is not
// E.164, an id over 16 bytes ("cv_" and 13), participants with different
// expiries) is kept as it is in odd; there are none in practice.
//
// A table is not safe for concurrent use: Index guards it.
type table struct {
	entries []entry // entries[i] for i < used; free ones listed in free
	used    int
	free    []uint32
	live    int // entries in use

	keys    []uint32 // slot: (entry<<1 | side) + 1 in the high 24 bits, hash bits in the low 8; 0 empty
	keyLoad int
	ids     []uint32 // slot: entry + 1; 0 empty
	idLoad  int

	proxies   []uint64 // proxy index → number
	proxyByNo map[uint64]uint32

	odd    map[string]*maskcall.RouteRecord // by conversation id
	oddKey map[oddKey]string                // key → conversation id

	seed maphash.Seed
}

type oddKey struct{ from, to string }

// entry is one conversation. Its size is what a million cost: keep it at
// 48 bytes.
type entry struct {
	number  [2]uint64 // by position; digits of E.164
	expires int64     // UnixNano of the expiry; noExpiry: never
	proxy   [2]uint32 // by position; index into proxies
	// id is the conversation's id without its "cv_" prefix when
	// flagPrefixed is set (every id the stores make), NUL-padded.
	id     [13]byte
	mode   uint8 // index into modes
	active uint8 // bit i: participant i's key is active; flagPrefixed
}

// flagPrefixed in entry.active: the id is "cv_" + entry.id.
const flagPrefixed = 1 << 2

const idPrefix = "cv_"

// storedID is how id is kept in an entry: its bytes, and whether the
// prefix was taken off; ok false if it does not fit.
func storedID(id string) (rest string, prefixed, ok bool) {
	if r, cut := strings.CutPrefix(id, idPrefix); cut && len(r) <= len(entry{}.id) && len(r) > 0 {
		id, prefixed = r, true
	}
	if len(id) == 0 || len(id) > len(entry{}.id) || strings.IndexByte(id, 0) >= 0 {
		return "", false, false
	}
	return id, prefixed, true
}

const noExpiry = math.MaxInt64

// maxEntries bounds the entries a table can index (24 bits of slot for
// the entry and the side). Past it the index gives way to the store.
const maxEntries = 1<<23 - 1

var modes = []maskcall.ConversationMode{"", maskcall.ModeVoice, maskcall.ModeSMS, maskcall.ModeVoiceAndSMS}

func modeCode(m maskcall.ConversationMode) (uint8, bool) {
	for i, v := range modes {
		if v == m {
			return uint8(i), true
		}
	}
	return 0, false
}

// encodeNumber reads E.164 ('+', 1 to 15 digits, no leading zero) as an
// integer; ok false for anything else.
func encodeNumber(s string) (uint64, bool) {
	if len(s) < 2 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return 0, false
	}
	var v uint64
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

func decodeNumber(v uint64) string {
	var b [17]byte
	b[0] = '+'
	return string(strconv.AppendUint(b[:1], v, 10))
}

func newTable(capacity int) *table {
	t := &table{proxyByNo: make(map[uint64]uint32), seed: maphash.MakeSeed()}
	t.grow(max(capacity, 16))
	return t
}

// release gives the table's memory back; the table is unusable after.
func (t *table) release() {
	offheap.Free(t.entries)
	offheap.Free(t.keys)
	offheap.Free(t.ids)
	t.entries, t.keys, t.ids = nil, nil, nil
}

// grow makes room for n entries: new arrays, every entry indexed again.
func (t *table) grow(n int) {
	entries := offheap.Alloc[entry](n)
	copy(entries, t.entries[:t.used])
	offheap.Free(t.entries)
	t.entries = entries
	// Keys (two a conversation) and ids at most 3/4 full.
	offheap.Free(t.keys)
	offheap.Free(t.ids)
	t.keys = offheap.Alloc[uint32](n*8/3 + 1)
	t.ids = offheap.Alloc[uint32](n*4/3 + 1)
	t.keyLoad, t.idLoad = 0, 0
	inFree := make(map[uint32]bool, len(t.free))
	for _, f := range t.free {
		inFree[f] = true
	}
	for i := 0; i < t.used; i++ {
		if inFree[uint32(i)] {
			continue
		}
		t.indexEntry(uint32(i))
	}
}

// slot maps a 64-bit hash onto [0, n) (Lemire's multiply-shift).
func slot(h uint64, n int) int {
	hi, _ := bits.Mul64(h, uint64(n))
	return int(hi)
}

func (t *table) keyHash(number uint64, proxy uint32) uint64 {
	h := (number ^ uint64(proxy)<<40 ^ uint64(proxy)) * 0x9E3779B97F4A7C15
	h ^= h >> 29
	h *= 0xBF58476D1CE4E5B9
	return h ^ h>>32
}

// idHash hashes an id as stored (storedID).
func (t *table) idHash(rest []byte, prefixed bool) uint64 {
	h := maphash.Bytes(t.seed, rest)
	if prefixed {
		h = ^h
	}
	return h
}

func (t *table) entryIDHash(e *entry) uint64 { return t.idHash(idBytes(e), e.active&flagPrefixed != 0) }

func idBytes(e *entry) []byte {
	n := 0
	for n < len(e.id) && e.id[n] != 0 {
		n++
	}
	return e.id[:n]
}

// conversationID returns e's id as the store has it.
func conversationID(e *entry) string {
	if e.active&flagPrefixed != 0 {
		return idPrefix + string(idBytes(e))
	}
	return string(idBytes(e))
}

// indexEntry adds entry i's active keys and its id to the slots.
func (t *table) indexEntry(i uint32) {
	e := &t.entries[i]
	for side := 0; side < 2; side++ {
		if e.active&(1<<side) == 0 {
			continue
		}
		h := t.keyHash(e.number[side], e.proxy[side])
		v := ((i<<1|uint32(side))+1)<<8 | uint32(h&0xff)
		n := len(t.keys)
		for s := slot(h, n); ; s = (s + 1) % n {
			if t.keys[s] == 0 {
				t.keys[s] = v
				t.keyLoad++
				break
			}
		}
	}
	n := len(t.ids)
	for s := slot(t.entryIDHash(e), n); ; s = (s + 1) % n {
		if t.ids[s] == 0 {
			t.ids[s] = i + 1
			t.idLoad++
			break
		}
	}
}

// unindexEntry removes entry i's keys and id from the slots (backward-shift
// deletion: no tombstones, so lookups never slow down with churn).
func (t *table) unindexEntry(i uint32) {
	e := &t.entries[i]
	for side := 0; side < 2; side++ {
		if e.active&(1<<side) == 0 {
			continue
		}
		h := t.keyHash(e.number[side], e.proxy[side])
		want := ((i<<1|uint32(side))+1)<<8 | uint32(h&0xff)
		n := len(t.keys)
		for s := slot(h, n); t.keys[s] != 0; s = (s + 1) % n {
			if t.keys[s] == want {
				t.deleteSlot(t.keys, s, t.keyHome)
				t.keyLoad--
				break
			}
		}
	}
	n := len(t.ids)
	for s := slot(t.entryIDHash(e), n); t.ids[s] != 0; s = (s + 1) % n {
		if t.ids[s] == i+1 {
			t.deleteSlot(t.ids, s, t.idHome)
			t.idLoad--
			break
		}
	}
}

func (t *table) keyHome(v uint32) int {
	i, side := (v>>8-1)>>1, (v>>8-1)&1
	e := &t.entries[i]
	return slot(t.keyHash(e.number[side], e.proxy[side]), len(t.keys))
}

func (t *table) idHome(v uint32) int {
	return slot(t.entryIDHash(&t.entries[v-1]), len(t.ids))
}

// deleteSlot empties slots[s] and moves back the entries after it that
// probing would otherwise no longer reach.
func (t *table) deleteSlot(slots []uint32, s int, home func(uint32) int) {
	n := len(slots)
	for {
		slots[s] = 0
		j := s
		for {
			j = (j + 1) % n
			if slots[j] == 0 {
				return
			}
			k := home(slots[j])
			// slots[j] may move to s if its home is not in (s, j] cyclically.
			if (s <= j && (k <= s || k > j)) || (s > j && k <= s && k > j) {
				slots[s] = slots[j]
				s = j
				break
			}
		}
	}
}

// findID returns the entry of conversation id.
func (t *table) findID(id string) (uint32, bool) {
	rest, prefixed, ok := storedID(id)
	if !ok {
		return 0, false
	}
	n := len(t.ids)
	for s := slot(t.idHash([]byte(rest), prefixed), n); t.ids[s] != 0; s = (s + 1) % n {
		i := t.ids[s] - 1
		e := &t.entries[i]
		if string(idBytes(e)) == rest && (e.active&flagPrefixed != 0) == prefixed {
			return i, true
		}
	}
	return 0, false
}

// remove drops conversation id, if kept.
func (t *table) remove(id string) {
	if i, ok := t.findID(id); ok {
		t.unindexEntry(i)
		t.entries[i] = entry{}
		t.free = append(t.free, i)
		t.live--
	}
	if r, ok := t.odd[id]; ok {
		for _, p := range r.Participants {
			delete(t.oddKey, oddKey{p.Number, p.ProxyNumber})
		}
		delete(t.odd, id)
	}
}

// put makes r the record of its conversation: replaced, or removed when
// nothing of it routes any more.
func (t *table) put(r *maskcall.RouteRecord) bool {
	t.remove(r.ConversationID)
	if r.Deleted || (!r.Participants[0].Active && !r.Participants[1].Active) {
		return true
	}
	e, ok := t.encode(r)
	if !ok {
		c := *r
		if t.odd == nil {
			t.odd, t.oddKey = make(map[string]*maskcall.RouteRecord), make(map[oddKey]string)
		}
		t.odd[c.ConversationID] = &c
		for _, p := range c.Participants {
			if p.Active {
				t.oddKey[oddKey{p.Number, p.ProxyNumber}] = c.ConversationID
			}
		}
		return true
	}
	var i uint32
	if k := len(t.free); k > 0 {
		i, t.free = t.free[k-1], t.free[:k-1]
	} else {
		if t.used == len(t.entries) {
			if t.used >= maxEntries {
				return false
			}
			t.grow(min(2*len(t.entries), maxEntries))
		}
		i = uint32(t.used)
		t.used++
	}
	t.entries[i] = e
	t.live++
	t.indexEntry(i)
	return true
}

func (t *table) proxyIndex(number uint64) uint32 {
	if i, ok := t.proxyByNo[number]; ok {
		return i
	}
	i := uint32(len(t.proxies))
	t.proxies = append(t.proxies, number)
	t.proxyByNo[number] = i
	return i
}

// encode packs r into an entry; ok false if r does not fit one.
func (t *table) encode(r *maskcall.RouteRecord) (entry, bool) {
	var e entry
	rest, prefixed, ok := storedID(r.ConversationID)
	if !ok {
		return e, false
	}
	copy(e.id[:], rest)
	if prefixed {
		e.active |= flagPrefixed
	}
	m, ok := modeCode(r.Mode)
	if !ok {
		return e, false
	}
	e.mode = m
	p0, p1 := r.Participants[0].ExpiresAt, r.Participants[1].ExpiresAt
	switch {
	case p0 == nil && p1 == nil:
		e.expires = noExpiry
	case p0 != nil && p1 != nil && p0.Equal(*p1):
		e.expires = p0.UnixNano()
		if e.expires == noExpiry || p0.Year() < 1678 || p0.Year() > 2261 {
			return e, false // outside what UnixNano holds
		}
	default:
		return e, false
	}
	for side, p := range r.Participants {
		n, ok1 := encodeNumber(p.Number)
		x, ok2 := encodeNumber(p.ProxyNumber)
		if !ok1 || !ok2 {
			return e, false
		}
		e.number[side], e.proxy[side] = n, t.proxyIndex(x)
		if p.Active {
			e.active |= 1 << side
		}
	}
	return e, true
}

// lookup returns the route of a call from from to to at now, nil if none.
func (t *table) lookup(from, to string, now time.Time) *maskcall.Route {
	if len(t.oddKey) > 0 {
		if id, ok := t.oddKey[oddKey{from, to}]; ok {
			return t.odd[id].Route(from, to, now)
		}
	}
	number, ok1 := encodeNumber(from)
	proxyNo, ok2 := encodeNumber(to)
	if !ok1 || !ok2 {
		return nil
	}
	proxy, ok := t.proxyByNo[proxyNo]
	if !ok {
		return nil
	}
	h := t.keyHash(number, proxy)
	fp := uint32(h & 0xff)
	n := len(t.keys)
	for s := slot(h, n); t.keys[s] != 0; s = (s + 1) % n {
		v := t.keys[s]
		if v&0xff != fp {
			continue
		}
		i, side := (v>>8-1)>>1, (v>>8-1)&1
		e := &t.entries[i]
		if e.number[side] != number || e.proxy[side] != proxy {
			continue
		}
		if e.expires != noExpiry && now.UnixNano() >= e.expires {
			return nil
		}
		other := 1 - side
		return &maskcall.Route{ConversationID: conversationID(e), Mode: modes[e.mode],
			Caller: maskcall.Participant{Number: from, ProxyNumber: to},
			Callee: maskcall.Participant{Number: decodeNumber(e.number[other]), ProxyNumber: decodeNumber(t.proxies[e.proxy[other]])}}
	}
	return nil
}
