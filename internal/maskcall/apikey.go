package maskcall

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"strings"
	"time"
)

// API keys authenticate platform backends on the HTTP API. A key is shown
// once, when it is made; the store keeps only its SHA-256 (a key has 200
// random bits, so a fast hash is enough: there is nothing to brute-force)
// and its prefix, which names it in listings and finds its row.
const (
	// APIKeyPrefix starts every key, so a leaked one is recognisable (and
	// secret scanners can look for it).
	APIKeyPrefix = "mk_"
	// apiKeyRandomChars is the random part of a key: 40 base32 characters,
	// 200 bits.
	apiKeyRandomChars = 40
	// APIKeyShownChars is how much of a key listings show and the store
	// looks keys up by: the prefix and the first 8 random characters.
	APIKeyShownChars = len(APIKeyPrefix) + 8
)

// APIKey is a credential of the HTTP API, as stored: never the key itself.
type APIKey struct {
	ID   string `json:"id"`   // "ak_" and 12 base32 characters
	Name string `json:"name"` // unique among keys not revoked
	// Prefix is the key's first APIKeyShownChars characters, e.g.
	// "mk_k3j9x2ab".
	Prefix string `json:"prefix"`
	// Hash is the SHA-256 of the whole key.
	Hash       []byte     `json:"-"`
	ReadOnly   bool       `json:"read_only"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// APIKeyStore keeps API keys.
type APIKeyStore interface {
	// CreateAPIKey stores k. ECONFLICT if a key that is not revoked has
	// k.Name, or a key has k.ID or k.Prefix.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// FindAPIKeyByPrefix returns the key with prefix, revoked or not;
	// ENOTFOUND if none.
	FindAPIKeyByPrefix(ctx context.Context, prefix string) (*APIKey, error)
	// FindAPIKeys lists keys oldest first, revoked ones too when
	// includeRevoked.
	FindAPIKeys(ctx context.Context, includeRevoked bool) ([]*APIKey, error)
	// RevokeAPIKey revokes the key that is not revoked with id or name
	// nameOrID, at now, and returns it; ENOTFOUND if none.
	RevokeAPIKey(ctx context.Context, nameOrID string, now time.Time) (*APIKey, error)
	// TouchAPIKey records that key id was used at now. It may be
	// approximate (writes are coalesced); it never fails a request.
	TouchAPIKey(ctx context.Context, id string, now time.Time) error
}

var keyEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func randomBase32(n int) string {
	b := make([]byte, (n*5+7)/8)
	rand.Read(b)
	return strings.ToLower(keyEncoding.EncodeToString(b))[:n]
}

// NewAPIKey makes a key named name and returns the secret (to show once)
// and its record (to store). EINVALID if name is not 1 to 64 letters,
// digits, '-', '_' or '.'.
func NewAPIKey(name string, readOnly bool, now time.Time) (string, *APIKey, error) {
	if err := validKeyName(name); err != nil {
		return "", nil, err
	}
	secret := APIKeyPrefix + randomBase32(apiKeyRandomChars)
	sum := sha256.Sum256([]byte(secret))
	return secret, &APIKey{
		ID:        "ak_" + randomBase32(12),
		Name:      name,
		Prefix:    secret[:APIKeyShownChars],
		Hash:      sum[:],
		ReadOnly:  readOnly,
		CreatedAt: now.UTC(),
	}, nil
}

func validKeyName(name string) error {
	if name == "" || len(name) > 64 {
		return Errorf(EINVALID, "An API key's name must be 1 to 64 characters, got %d.", len(name)).WithReason("key_name")
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return Errorf(EINVALID, "An API key's name may hold only letters, digits, '-', '_' and '.'; %q does not.", name).WithReason("key_name")
		}
	}
	if strings.HasPrefix(name, "ak_") {
		return Errorf(EINVALID, "An API key's name must not start with \"ak_\", which starts key ids.").WithReason("key_name")
	}
	return nil
}

// errBadKey is every authentication failure: a missing, malformed, unknown
// or revoked key all read the same, so a prober learns nothing.
var errBadKey = Errorf(EUNAUTHORIZED, "The API key is missing, wrong or revoked.")

// AuthenticateAPIKey returns the key record secret belongs to.
// EUNAUTHORIZED if there is none or it is revoked; ESTORE if the store
// failed.
func AuthenticateAPIKey(ctx context.Context, store APIKeyStore, secret string) (*APIKey, error) {
	if len(secret) != len(APIKeyPrefix)+apiKeyRandomChars || !strings.HasPrefix(secret, APIKeyPrefix) {
		return nil, errBadKey
	}
	k, err := store.FindAPIKeyByPrefix(ctx, secret[:APIKeyShownChars])
	if ErrorCode(err) == ENOTFOUND {
		return nil, errBadKey
	} else if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(sum[:], k.Hash) != 1 || k.RevokedAt != nil {
		return nil, errBadKey
	}
	return k, nil
}
