package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// The fast path of Parse.
//
// golang-jwt's parser is generic: it decodes the header and the claims
// into maps and structs through encoding/json, with reflection, and keys a
// new HMAC for every token; about 10 µs and 40 allocations per webhook. A
// signed webhook's token always has the same shape, so parseFast reads
// exactly that shape — a header among the few known encodings of
// {"alg":"HS256","typ":"JWT"}, a flat JSON object of the claims Vonage
// sends (iat an integer, the others plain strings, no exp or nbf) — and
// checks it with an HMAC kept keyed for the secret.
//
// It only ever accepts: any token it cannot read, or that fails any check,
// goes to the golang-jwt path, which accepts or refuses it exactly as it
// always did and gives the reason. So the fast path cannot refuse a good
// token, and it accepts only tokens that path accepts too (the tests run
// every token through both and compare: fast_test.go).

// knownHeaders are the base64url header segments the fast path takes,
// each a JOSE header saying HS256 and nothing else of consequence: what
// golang-jwt writes (Sign, the sandbox), and the same members in the other
// order or without typ.
var knownHeaders = func() map[string]bool {
	m := map[string]bool{}
	for _, h := range []string{
		`{"alg":"HS256","typ":"JWT"}`,
		`{"typ":"JWT","alg":"HS256"}`,
		`{"alg":"HS256"}`,
	} {
		m[base64.RawURLEncoding.EncodeToString([]byte(h))] = true
	}
	return m
}()

// macState is a keyed HMAC with a buffer for its sum (which would escape
// to the heap on each call, through the hash.Hash interface).
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

// macs keeps a keyed HMAC-SHA256 for the secret Parse was last given
// (serve has one), reused through a pool.
type macs struct {
	secret string
	pool   sync.Pool
}

var lastMACs atomic.Pointer[macs]

func macsFor(secret string) *macs {
	if m := lastMACs.Load(); m != nil && m.secret == secret {
		return m
	}
	m := &macs{secret: secret}
	key := []byte(secret)
	m.pool.New = func() any { return &macState{h: hmac.New(sha256.New, key)} }
	lastMACs.Store(m)
	return m
}

// parseFast accepts token if it has the fixed shape and passes every
// check Parse makes; ok false means "ask golang-jwt".
func parseFast(token, secret string, payload []byte, now time.Time) (tok Token, ok bool) {
	header, rest, ok1 := strings.Cut(token, ".")
	claims, sig, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || !knownHeaders[header] || strings.IndexByte(sig, '.') >= 0 || len(sig) != 43 || len(claims) > 2048 {
		return Token{}, false
	}
	var sum [sha256.Size]byte
	if n, err := base64.RawURLEncoding.Decode(sum[:], bytesOf(sig)); err != nil || n != sha256.Size {
		return Token{}, false
	}
	m := macsFor(secret)
	mac := m.pool.Get().(*macState)
	mac.h.Reset()
	mac.h.Write(bytesOf(token[:len(header)+1+len(claims)]))
	good := hmac.Equal(mac.h.Sum(mac.sum[:0]), sum[:])
	m.pool.Put(mac)
	if !good {
		return Token{}, false
	}

	var buf [1536]byte
	if base64.RawURLEncoding.DecodedLen(len(claims)) > len(buf) {
		return Token{}, false
	}
	n, err := base64.RawURLEncoding.Decode(buf[:], bytesOf(claims))
	if err != nil {
		return Token{}, false
	}
	c, ok := readClaims(buf[:n])
	if !ok || !c.hasIAT {
		return Token{}, false
	}
	// As golang-jwt with WithIssuedAt and WithLeeway(ClockSkew), then
	// Parse's own age check.
	iat := time.Unix(c.iat, 0)
	if now.Before(iat.Add(-ClockSkew)) || now.Sub(iat) > MaxAge {
		return Token{}, false
	}
	if c.payloadHash.len() != 2*sha256.Size {
		return Token{}, false
	}
	var ph [sha256.Size]byte
	if _, err := hex.Decode(ph[:], c.payloadHash.of(buf[:n])); err != nil {
		return Token{}, false
	}
	got := sha256.Sum256(payload)
	if subtle.ConstantTimeCompare(got[:], ph[:]) != 1 {
		return Token{}, false
	}
	// One string for the whole claims object; the fields are slices of it.
	all := string(buf[:n])
	return Token{ID: all[c.jti.from:c.jti.to], Issuer: all[c.iss.from:c.iss.to], APIKey: all[c.apiKey.from:c.apiKey.to],
		ApplicationID: all[c.appID.from:c.appID.to], IssuedAt: iat, PayloadHash: got}, true
}

// bytesOf is s's bytes without a copy, for functions that only read them
// (base64 decoding, hashing): the token is hundreds of bytes, and a copy
// per webhook is what this file exists to avoid.
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// span is where a string member's contents are in the claims object
// (indices, not a slice, so that the object's buffer stays on the stack).
type span struct {
	from, to int
	seen     bool
}

func (s span) len() int           { return s.to - s.from }
func (s span) of(b []byte) []byte { return b[s.from:s.to] }

// fastClaims are the members of a claims object readClaims read.
type fastClaims struct {
	iat                                  int64
	hasIAT                               bool
	jti, iss, apiKey, appID, payloadHash span
}

// readClaims reads a compact JSON object whose members are the claims
// above, each at most once: iat a non-negative integer, the rest strings
// of printable ASCII without escapes. Anything else (whitespace, other
// members such as exp, nbf or aud, escapes, duplicates, other types) is
// not the fixed shape: ok false.
func readClaims(b []byte) (c fastClaims, ok bool) {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return c, false
	}
	i := 1
	if b[i] == '}' {
		return c, i+1 == len(b)
	}
	for {
		kf, kt, j, ok := readStringAt(b, i)
		key := b[kf:kt]
		if !ok || j >= len(b) || b[j] != ':' {
			return c, false
		}
		i = j + 1
		if string(key) == "iat" {
			if c.hasIAT {
				return c, false
			}
			v, j, ok := readInt(b, i)
			if !ok {
				return c, false
			}
			c.iat, c.hasIAT, i = v, true, j
		} else {
			var dst *span
			switch string(key) {
			case "jti":
				dst = &c.jti
			case "iss":
				dst = &c.iss
			case "api_key":
				dst = &c.apiKey
			case "application_id":
				dst = &c.appID
			case "payload_hash":
				dst = &c.payloadHash
			default:
				return c, false
			}
			if dst.seen {
				return c, false
			}
			from, to, j, ok := readStringAt(b, i)
			if !ok {
				return c, false
			}
			*dst, i = span{from: from, to: to, seen: true}, j
		}
		if i >= len(b) {
			return c, false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			return c, i+1 == len(b)
		default:
			return c, false
		}
	}
}

// readStringAt reads a JSON string of printable ASCII without escapes at
// b[i:], returning where its contents are and the index after it.
func readStringAt(b []byte, i int) (from, to, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, 0, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return i + 1, j, j + 1, true
		case c == '\\' || c < 0x20 || c > 0x7e:
			return 0, 0, 0, false
		}
	}
	return 0, 0, 0, false
}

// readInt reads a JSON integer of 1 to 12 digits without a leading zero
// (seconds since 1970, far into the future) at b[i:].
func readInt(b []byte, i int) (int64, int, bool) {
	j := i
	var v int64
	for j < len(b) && b[j] >= '0' && b[j] <= '9' && j-i < 12 {
		v = v*10 + int64(b[j]-'0')
		j++
	}
	if j == i || (b[i] == '0' && j-i > 1) || (j < len(b) && (b[j] >= '0' && b[j] <= '9' || b[j] == '.' || b[j] == 'e' || b[j] == 'E')) {
		return 0, 0, false
	}
	return v, j, true
}
