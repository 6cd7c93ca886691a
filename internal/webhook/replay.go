package webhook

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"runtime"
	"sync"
	"time"

	"github.com/maskcall/maskcall/internal/offheap"
	"github.com/maskcall/maskcall/internal/vonage/signature"
)

// Replays.
//
// A signed webhook's token is good for 5 minutes (signature.MaxAge, plus
// the 30 s of clock skew a future iat may have), and the signature covers
// the payload but not the route. Without a memory of tokens, a request
// captured once (a proxy's log, a debugging session) could be replayed for
// those minutes: the answer request to learn the callee's real number again,
// or an event's token and body posted to the answer route, whose fields
// (from, to, uuid) are an answer request's too.
//
// So the webhooks remember every token id (jti) they accept until the
// token can no longer verify (iat + MaxAge), with the route it was for and
// a hash of its payload:
//
//   - a jti not seen before is accepted and remembered;
//   - the same jti on the same route with the same payload within
//     ReplayRetryWindow of its first use, at most replayMaxRetries times, is
//     a retry: Vonage resends an answer request it got no NCCO for in time
//     (twice, then twice to the fallback URL, which may be this same
//     server). It is answered again, by the same rules, so consistently;
//   - anything else with a known jti is a replay: 401.
//
// A token without jti is refused (401): Vonage's tokens carry one, and a
// token without one could not be told from its replays.
//
// Memory is bounded: at most ReplayCacheSize ids (default 1,048,576, 32 MiB
// when full, outside Go's heap; enough for 3,000 webhooks a second sustained over a
// token's lifetime, far beyond a Vonage account's call rate limit), in
// shards each evicting its ids in order of arrival once they expire. When a
// shard is full of ids that have not expired yet, a new token cannot be
// remembered, and then:
//
//   - the answer webhook fails closed: 503, so the call is not connected
//     (Vonage retries, then tries the fallback URL). A privacy tool would
//     rather drop a call than let a replay reveal a number;
//   - the event webhook fails open: the event is recorded without its id
//     being remembered. An event reveals nothing in its reply and is stored
//     once whatever its repeats, so a replay of it is harmless, while a lost
//     event is a wrong call record.
//
// Only tokens that verified are remembered, so filling the cache takes
// Vonage-signed traffic, not an attacker's.

// ReplayRetryWindow is how long after a token's first use an identical
// request (a Vonage retry) is still answered.
const ReplayRetryWindow = 30 * time.Second

// replayMaxRetries is how many identical requests after the first are
// answered within ReplayRetryWindow: Vonage's two retries and its two
// attempts at a fallback URL that may be this server.
const replayMaxRetries = 4

// DefaultReplayCacheSize is the default Config.ReplayCacheSize.
const DefaultReplayCacheSize = 1 << 20

const replayShards = 32

// replayResult is what the cache says about a token.
type replayResult uint8

const (
	replayNew     replayResult = iota // first use: go on
	replayRetry                       // an identical retry within the window: go on
	replayRefused                     // a replay: 401
	replayFull                        // not remembered: the cache is full
)

// replayCache remembers the accepted tokens. Each shard keeps them in two
// fixed arrays outside Go's heap (internal/offheap), allocated when the
// shard first needs them, so that a full cache is 32 bytes an id (32
// MiB at the default size) and is counted once in serve's resident
// memory (a map on the heap took 71 bytes an id, and the collector let as
// much garbage again pile up beside it):
//
//   - ring: the ids in order of arrival, a circle of max entries, n of them
//     from head; eviction takes them from head once expired;
//   - slots: open addressing with linear probing over the ids' keys, each
//     slot a ring position + 1 (0 empty), at most half full.
type replayCache struct {
	seed maphash.Seed
	max  int // ids per shard
	// shards is an allocation of its own, so that the cleanup that frees
	// their arrays does not keep the cache alive.
	shards *[replayShards]replayShard
}

type replayShard struct {
	mu      sync.Mutex
	ring    []replayEntry
	head, n int
	slots   []uint32
	mask    uint64 // len(slots) - 1
}

// replayEntry is a remembered token: 24 bytes.
type replayEntry struct {
	key uint64 // the keyed hash of its jti
	// payload is the first 4 bytes of the payload's SHA-256. The token's
	// signature covers that hash, so a token is only ever good for one
	// payload; this is a second guard, and 32 bits are plenty for it.
	payload uint32
	expires uint32 // unix seconds after which the token cannot verify
	first   uint32 // unix seconds of its first use
	route   uint8
	retries uint8
	dead    bool // forgotten before its turn in the ring: no slot names it
}

func newReplayCache(size int) *replayCache {
	if size <= 0 {
		size = DefaultReplayCacheSize
	}
	c := &replayCache{seed: maphash.MakeSeed(), max: max(1, size/replayShards), shards: new([replayShards]replayShard)}
	// The arrays go back to the system once the cache is unreachable
	// (tests make many; serve keeps one for its life).
	runtime.AddCleanup(c, func(shards *[replayShards]replayShard) {
		for i := range shards {
			offheap.Free(shards[i].ring)
			offheap.Free(shards[i].slots)
		}
	}, c.shards)
	return c
}

// routeID numbers the routes for replayEntry.
func routeID(route string) uint8 {
	switch route {
	case routeAnswer:
		return 1
	case routeEvent:
		return 2
	}
	return 255
}

// check records tok's use on route at now and says whether it may go on.
//
// The key is a keyed 64-bit hash of the jti: the seed is random per
// process, so no outsider can make two ids collide, and among a million
// remembered ids a chance collision (which would refuse one genuine
// webhook) has a probability of about 3e-8. Its low bits pick the shard,
// the next ones the slot.
func (c *replayCache) check(tok *signature.Token, route uint8, now time.Time) replayResult {
	key := maphash.String(c.seed, tok.ID)
	payload := binary.LittleEndian.Uint32(tok.PayloadHash[:4])
	nowS := uint32(max(now.Unix(), 0))
	expires := uint32(max(tok.IssuedAt.Add(signature.MaxAge).Unix()+1, 0))
	s := &c.shards[key%replayShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ring == nil {
		s.ring = offheap.Alloc[replayEntry](c.max)
		n := 1 << bits.Len(uint(2*c.max-1)) // a power of two ≥ 2 max
		s.slots = offheap.Alloc[uint32](n)
		s.mask = uint64(n - 1)
	}
	if slot, ok := s.find(key); ok {
		e := &s.ring[s.slots[slot]-1]
		if e.expires >= nowS {
			if e.route != route || e.payload != payload ||
				nowS-e.first > uint32(ReplayRetryWindow/time.Second) || e.retries >= replayMaxRetries {
				return replayRefused
			}
			e.retries++
			return replayRetry
		}
		// Expired, and behind a younger id in the ring: forgotten now.
		s.unlink(slot)
		e.dead = true
	}
	s.evict(nowS)
	if s.n == len(s.ring) {
		return replayFull
	}
	pos := (s.head + s.n) % len(s.ring)
	s.ring[pos] = replayEntry{key: key, payload: payload, expires: expires, first: nowS, route: route}
	s.n++
	i := s.home(key)
	for s.slots[i] != 0 {
		i = (i + 1) & s.mask
	}
	s.slots[i] = uint32(pos) + 1
	return replayNew
}

// home is key's first slot.
func (s *replayShard) home(key uint64) uint64 { return (key / replayShards) & s.mask }

// find returns the slot of key's id.
func (s *replayShard) find(key uint64) (uint64, bool) {
	for i := s.home(key); s.slots[i] != 0; i = (i + 1) & s.mask {
		if s.ring[s.slots[i]-1].key == key {
			return i, true
		}
	}
	return 0, false
}

// unlink empties slot i, moving back the slots after it that would
// otherwise no longer be found (deletion in linear probing, without
// tombstones).
func (s *replayShard) unlink(i uint64) {
	for j := (i + 1) & s.mask; s.slots[j] != 0; j = (j + 1) & s.mask {
		h := s.home(s.ring[s.slots[j]-1].key)
		// The id in j stays if its home lies cyclically in (i, j].
		if (j-h)&s.mask < (j-i)&s.mask {
			continue
		}
		s.slots[i] = s.slots[j]
		i = j
	}
	s.slots[i] = 0
}

// evict forgets the ids, oldest first, whose token has expired. Tokens
// arrive about in order of expiry; one whose iat was a little in the
// future holds up those behind it by at most the clock skew.
func (s *replayShard) evict(nowS uint32) {
	for s.n > 0 && s.ring[s.head].expires < nowS {
		if e := &s.ring[s.head]; !e.dead {
			i := s.home(e.key)
			for s.slots[i] != uint32(s.head)+1 {
				i = (i + 1) & s.mask
			}
			s.unlink(i)
		}
		s.head = (s.head + 1) % len(s.ring)
		s.n--
	}
}

// len returns how many ids are remembered (tests).
func (c *replayCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for j := range s.n {
			if !s.ring[(s.head+j)%len(s.ring)].dead {
				n++
			}
		}
		s.mu.Unlock()
	}
	return n
}
