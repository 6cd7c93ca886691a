package maskcall

import (
	"context"
	"time"
)

// IdempotencyWindow is how long a retried request with the same
// idempotency key replays the first one's response.
const IdempotencyWindow = 24 * time.Hour

// IdempotencyRecord is a request made with an idempotency key and, once it
// is done, the response it got. The edge decides what a response is (for
// the HTTP API a status and a body); the store keeps it as given.
type IdempotencyRecord struct {
	Scope string // whose key it is: the API key's id
	Key   string // the client's idempotency key
	// Fingerprint identifies the request (method, path, body): the same
	// key with another request is refused, not replayed.
	Fingerprint []byte
	// Status is the response's status; 0 while the request is in progress.
	Status    int
	Body      []byte
	CreatedAt time.Time
}

// IdempotencyStore keeps idempotency records, durably: a replay must
// outlive a crash of the process that answered first.
type IdempotencyStore interface {
	// BeginIdempotent reserves (r.Scope, r.Key) for r, stamped r.CreatedAt,
	// and returns nil; a record of the same scope and key created at or
	// after since is returned instead, unchanged, and nothing is reserved.
	// Older records are replaced.
	BeginIdempotent(ctx context.Context, r *IdempotencyRecord, since time.Time) (*IdempotencyRecord, error)
	// CompleteIdempotent stores the response of a reserved request.
	CompleteIdempotent(ctx context.Context, scope, key string, status int, body []byte) error
	// AbandonIdempotent drops a reservation whose request had no effect,
	// so a retry runs it again.
	AbandonIdempotent(ctx context.Context, scope, key string) error
}
