package maskcall

import (
	"context"
	"strings"
	"time"
)

// NumberStatus says where a virtual number is in its life. The pool never
// forgets a number it may have paid for: a row exists from before the
// purchase request is sent until the rental is cancelled.
type NumberStatus string

const (
	// NumberPurchasing: a buy request was sent and its outcome is not yet
	// known (maskcall was killed, or Vonage's reply was lost). `numbers
	// configure` settles it by asking Vonage which numbers the account owns.
	NumberPurchasing NumberStatus = "purchasing"
	// NumberUnconfigured: bought, but not linked to the voice application, so
	// calls to it do not reach maskcall yet. `numbers configure` finishes it.
	NumberUnconfigured NumberStatus = "unconfigured"
	// NumberActive: bought and linked; allocation hands it out.
	NumberActive NumberStatus = "active"
	// NumberReleased: the rental was cancelled. The row stays so past
	// conversations keep their history.
	NumberReleased NumberStatus = "released"
)

// Valid reports whether s is one of the known statuses.
func (s NumberStatus) Valid() bool {
	switch s {
	case NumberPurchasing, NumberUnconfigured, NumberActive, NumberReleased:
		return true
	}
	return false
}

// Number is a virtual number in the pool.
type Number struct {
	Number   string       `json:"number"`   // E.164 with '+'
	Country  string       `json:"country"`  // ISO 3166-1 alpha-2
	Type     string       `json:"type"`     // landline, mobile-lvn, toll-free
	Features []string     `json:"features"` // VOICE, SMS, MMS
	Cost     string       `json:"cost"`     // monthly cost as Vonage states it, "" if unknown
	Status   NumberStatus `json:"status"`
	// AppID is the Vonage application the number is linked to, "" if none.
	AppID string `json:"app_id"`
	// ActiveConversations counts active conversations using this number as a
	// proxy for either participant.
	ActiveConversations int       `json:"active_conversations"`
	CreatedAt           time.Time `json:"created_at"`
	UpdatedAt           time.Time `json:"updated_at"`
	// PurchaseOwner names the process buying a purchasing number
	// ("host:pid:token"); "" otherwise.
	PurchaseOwner string `json:"purchase_owner,omitempty"`
	// PurchaseLeaseUntil is how long the owner vouches that the purchase
	// may still be in flight; it renews it while its buy request is out.
	// Zero when there is no lease (not purchasing, or an old row).
	PurchaseLeaseUntil time.Time `json:"purchase_lease_until,omitzero"`
}

// PurchaseInFlight reports whether n is a purchase that may still go
// through at now: its owner's lease has not run out. Nothing may drop it.
func (n *Number) PurchaseInFlight(now time.Time) bool {
	return n.Status == NumberPurchasing && now.Before(n.PurchaseLeaseUntil)
}

// HasFeature reports whether n supports feature (case-insensitive).
func (n *Number) HasFeature(feature string) bool {
	for _, f := range n.Features {
		if strings.EqualFold(f, feature) {
			return true
		}
	}
	return false
}

// NumberFilter selects numbers; nil fields do not filter.
type NumberFilter struct {
	Status  *NumberStatus
	Country *string
	// IncludeReleased also returns released numbers when Status is nil.
	IncludeReleased bool
}

// NumberUpdate changes a pool number; nil fields are left as they are.
type NumberUpdate struct {
	Status   *NumberStatus
	AppID    *string
	Type     *string
	Features []string // nil: unchanged
	Cost     *string
	// PurchaseLeaseUntil renews (or, zero, ends) a purchase's lease.
	PurchaseLeaseUntil *time.Time
	// IfStatus, if set, is a precondition: the update is refused with
	// ECONFLICT unless the number has this status.
	IfStatus *NumberStatus
}

// NumberStore keeps the pool.
type NumberStore interface {
	// FindNumber returns the pool entry for an E.164 number, its
	// ActiveConversations counting the conversations active at now;
	// ENOTFOUND if none.
	FindNumber(ctx context.Context, number string, now time.Time) (*Number, error)
	// FindNumbers lists pool numbers ordered by number, counted like
	// FindNumber. Released numbers are left out unless filter.Status asks
	// for them or IncludeReleased is set.
	FindNumbers(ctx context.Context, filter NumberFilter, now time.Time) ([]*Number, error)
	// CreateNumber adds n, stamping CreatedAt and UpdatedAt with n's own
	// times if set, else now; an empty Status means purchasing. ECONFLICT
	// if the number is already in the pool and not released; a released
	// entry is replaced in place and keeps its conversations. EINVALID
	// without a number or with an unknown status.
	CreateNumber(ctx context.Context, n *Number, now time.Time) error
	// UpdateNumber applies upd, stamps UpdatedAt with now and returns the
	// result; ENOTFOUND if absent, EINVALID for an unknown status,
	// ECONFLICT if upd.IfStatus is set and the number's status differs. A
	// number that is not purchasing keeps no PurchaseOwner or lease.
	UpdateNumber(ctx context.Context, number string, upd NumberUpdate, now time.Time) (*Number, error)
	// DeleteNumber removes an entry that was never bought (a failed
	// purchase); ENOTFOUND if absent, ECONFLICT if it is no longer
	// purchasing (settled meanwhile) or conversations refer to it.
	DeleteNumber(ctx context.Context, number string) error
}

// NumberSearch asks Vonage for numbers that can be bought.
type NumberSearch struct {
	Country  string   // ISO alpha-2, required
	Features []string // e.g. VOICE, SMS; all must be present
	Pattern  string   // digits the number must contain
	// PatternPosition: "starts", "contains" or "ends" (Vonage's search_pattern 0, 1, 2).
	PatternPosition string
	Type            string // landline, mobile-lvn, toll-free; "" for any
	Limit           int    // how many to return; 0 for Vonage's default
}

// AvailableNumber is a number Vonage offers for sale.
type AvailableNumber struct {
	Number   string   `json:"number"`
	Country  string   `json:"country"`
	Type     string   `json:"type"`
	Features []string `json:"features"`
	Cost     string   `json:"cost"`
}

// OwnedNumber is a number the Vonage account rents, as Vonage reports it.
type OwnedNumber struct {
	Number   string
	Country  string
	Type     string
	Features []string
	// AppID is the application the number's voice handling points at.
	AppID string
	// InboundSMSURL is where Vonage sends texts to the number (moHttpUrl).
	InboundSMSURL string
}

// OwnedNumbersFilter narrows the account's owned numbers.
type OwnedNumbersFilter struct {
	Country string // "" for all
	Pattern string // digits the number contains; "" for all
}

// NumbersAPI is Vonage's Numbers API as the pool uses it. Numbers are E.164
// with '+'; the adapter converts to Vonage's wire form.
type NumbersAPI interface {
	// SearchNumbers lists numbers available to buy.
	SearchNumbers(ctx context.Context, q NumberSearch) ([]AvailableNumber, error)
	// BuyNumber rents number. Errors: EUPSTREAM (e.g. not available,
	// insufficient balance), EVONAGEAUTH, EUNAVAILABLE (no answer: the
	// purchase may or may not have happened).
	BuyNumber(ctx context.Context, country, number string) error
	// LinkNumber points the number's voice and inbound SMS handling at the
	// application appID.
	LinkNumber(ctx context.Context, country, number, appID string) error
	// CancelNumber ends the rental.
	CancelNumber(ctx context.Context, country, number string) error
	// OwnedNumbers lists every number the account rents (all pages).
	OwnedNumbers(ctx context.Context, filter OwnedNumbersFilter) ([]OwnedNumber, error)
}
