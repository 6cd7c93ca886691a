package webhook

import (
	"encoding/binary"
	"hash/maphash"
	"sync"
	"time"

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
// Memory is bounded: at most ReplayCacheSize ids (default 1,048,576, about
// 50 MB when full; enough for 3,000 webhooks a second sustained over a
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

type replayCache struct {
	seed   maphash.Seed
	max    int // per shard
	shards [replayShards]replayShard
}

type replayShard struct {
	mu   sync.Mutex
	m    map[uint64]replayEntry
	fifo []replayExpiry // ids in order of arrival
	head int            // fifo[:head] are evicted
}

// replayEntry is a remembered token: 24 bytes.
type replayEntry struct {
	payload uint64 // the first 8 bytes of the payload's SHA-256
	expires uint32 // unix seconds after which the token cannot verify
	first   uint32 // unix seconds of its first use
	route   uint8
	retries uint8
}

type replayExpiry struct {
	key     uint64
	expires uint32
}

func newReplayCache(size int) *replayCache {
	if size <= 0 {
		size = DefaultReplayCacheSize
	}
	c := &replayCache{seed: maphash.MakeSeed(), max: max(1, size/replayShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]replayEntry)
	}
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
// webhook) has a probability of about 3e-8.
func (c *replayCache) check(tok *signature.Token, route uint8, now time.Time) replayResult {
	key := maphash.String(c.seed, tok.ID)
	payload := binary.LittleEndian.Uint64(tok.PayloadHash[:8])
	nowS := uint32(max(now.Unix(), 0))
	expires := uint32(max(tok.IssuedAt.Add(signature.MaxAge).Unix()+1, 0))
	s := &c.shards[key%replayShards]
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.m[key]; ok && e.expires >= nowS {
		if e.route != route || e.payload != payload ||
			nowS-e.first > uint32(ReplayRetryWindow/time.Second) || e.retries >= replayMaxRetries {
			return replayRefused
		}
		e.retries++
		s.m[key] = e
		return replayRetry
	}
	s.evict(nowS)
	if len(s.m) >= c.max {
		return replayFull
	}
	s.m[key] = replayEntry{payload: payload, expires: expires, first: nowS, route: route}
	s.fifo = append(s.fifo, replayExpiry{key, expires})
	return replayNew
}

// evict forgets the ids, oldest first, whose token has expired. Tokens
// arrive about in order of expiry; one whose iat was a little in the
// future holds up those behind it by at most the clock skew.
func (s *replayShard) evict(nowS uint32) {
	for s.head < len(s.fifo) && s.fifo[s.head].expires < nowS {
		x := s.fifo[s.head]
		if e, ok := s.m[x.key]; ok && e.expires == x.expires {
			delete(s.m, x.key)
		}
		s.head++
	}
	if s.head > 1024 && s.head > len(s.fifo)/2 {
		n := copy(s.fifo, s.fifo[s.head:])
		s.fifo = s.fifo[:n]
		s.head = 0
	}
}

// len returns how many ids are remembered (tests).
func (c *replayCache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
