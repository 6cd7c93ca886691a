package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/maskcall/maskcall/internal/maskcall"
)

// FindNumber returns the pool entry for an E.164 number, counting the
// conversations active at now; ENOTFOUND if none.
func (db *DB) FindNumber(ctx context.Context, number string, now time.Time) (*maskcall.Number, error) {
	return read(ctx, db, now, func(tx *Tx) (*maskcall.Number, error) {
		n, err := findNumber(ctx, tx, number, false)
		if err != nil {
			return nil, err
		}
		return n, discountExpired(ctx, tx, []*maskcall.Number{n})
	})
}

// FindNumbers lists pool numbers ordered by number, counting the
// conversations active at now. Released numbers are left out unless
// filter.Status asks for them or IncludeReleased is set.
func (db *DB) FindNumbers(ctx context.Context, filter maskcall.NumberFilter, now time.Time) ([]*maskcall.Number, error) {
	return read(ctx, db, now, func(tx *Tx) ([]*maskcall.Number, error) {
		ns, err := findNumbers(ctx, tx, filter)
		if err != nil {
			return nil, err
		}
		return ns, discountExpired(ctx, tx, ns)
	})
}

// discountExpired takes the conversations that expired by tx.now, but are
// not swept yet, out of ns's counters (once per conversation however many
// participants share a proxy), so a number's count agrees with the
// conversations' statuses (maskcall.Conversation.SettleStatus).
func discountExpired(ctx context.Context, tx *Tx, ns []*maskcall.Number) error {
	if len(ns) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, `SELECT p.proxy_number, COUNT(DISTINCT p.conversation_id)
		FROM conversations AS c JOIN participants AS p ON p.conversation_id = c.id
		WHERE c.status = 'active' AND c.expires_at IS NOT NULL AND c.expires_at <= $1
		GROUP BY p.proxy_number`, tx.now)
	if err != nil {
		return formatError(err)
	}
	defer rows.Close()
	expired := map[string]int{}
	for rows.Next() {
		var proxy string
		var n int
		if err := rows.Scan(&proxy, &n); err != nil {
			return formatError(err)
		}
		expired[proxy] = n
	}
	if err := rows.Err(); err != nil {
		return formatError(err)
	}
	for _, n := range ns {
		n.ActiveConversations = max(0, n.ActiveConversations-expired[n.Number])
	}
	return nil
}

// CreateNumber adds n, stamping CreatedAt and UpdatedAt with n's times if
// set, else now; an empty Status means purchasing. ECONFLICT if the number
// is in the pool and not released; a released entry is replaced in place
// (same row, so past conversations keep pointing at it) and keeps its
// active-conversation count.
func (db *DB) CreateNumber(ctx context.Context, n *maskcall.Number, now time.Time) error {
	in := *n
	return db.inTx(ctx, now, func(tx *Tx) error {
		*n = in
		return createNumber(ctx, tx, n)
	})
}

// UpdateNumber applies upd, stamps UpdatedAt with now and returns the
// result; ENOTFOUND if absent, ECONFLICT if upd.IfStatus is set and
// differs. A number that is not purchasing has no purchase owner or lease.
func (db *DB) UpdateNumber(ctx context.Context, number string, upd maskcall.NumberUpdate, now time.Time) (*maskcall.Number, error) {
	var n *maskcall.Number
	err := db.inTx(ctx, now, func(tx *Tx) (err error) {
		n, err = updateNumber(ctx, tx, number, upd)
		return err
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// DeleteNumber removes a purchasing pool entry (a purchase that failed);
// ENOTFOUND if absent, ECONFLICT if the number is no longer purchasing or
// any conversation, active or not, refers to it.
func (db *DB) DeleteNumber(ctx context.Context, number string) error {
	return db.inTx(ctx, time.Time{}, func(tx *Tx) error { return deleteNumber(ctx, tx, number) })
}

const numberColumns = `number, country, type, features, cost, status, app_id, active_conversations, created_at, updated_at,
	purchase_owner, purchase_lease_until`

func scanNumber(row pgx.Row) (*maskcall.Number, error) {
	var n maskcall.Number
	var features, status string
	var lease *time.Time
	if err := row.Scan(&n.Number, &n.Country, &n.Type, &features, &n.Cost, &status, &n.AppID,
		&n.ActiveConversations, &n.CreatedAt, &n.UpdatedAt, &n.PurchaseOwner, &lease); err != nil {
		return nil, err
	}
	n.Status = maskcall.NumberStatus(status)
	n.Features = splitFeatures(features)
	n.CreatedAt, n.UpdatedAt = n.CreatedAt.UTC(), n.UpdatedAt.UTC()
	if lease != nil {
		n.PurchaseLeaseUntil = lease.UTC()
	}
	return &n, nil
}

// findNumber reads a number, locking its row for the transaction if lock.
func findNumber(ctx context.Context, tx *Tx, number string, lock bool) (*maskcall.Number, error) {
	q := `SELECT ` + numberColumns + ` FROM numbers WHERE number = $1`
	if lock {
		q += ` FOR UPDATE`
	}
	n, err := scanNumber(tx.QueryRow(ctx, q, number))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, maskcall.Errorf(maskcall.ENOTFOUND, "%s is not in the pool.", number)
	} else if err != nil {
		return nil, formatError(err)
	}
	return n, nil
}

func findNumbers(ctx context.Context, tx *Tx, filter maskcall.NumberFilter) ([]*maskcall.Number, error) {
	where, args := []string{"true"}, []any{}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if filter.Status != nil {
		where = append(where, "status = "+arg(string(*filter.Status)))
	} else if !filter.IncludeReleased {
		where = append(where, "status <> "+arg(string(maskcall.NumberReleased)))
	}
	if filter.Country != nil {
		where = append(where, "country = "+arg(*filter.Country))
	}
	rows, err := tx.Query(ctx, `SELECT `+numberColumns+` FROM numbers
		WHERE `+strings.Join(where, " AND ")+`
		ORDER BY number`, args...)
	if err != nil {
		return nil, formatError(err)
	}
	defer rows.Close()
	ns := []*maskcall.Number{}
	for rows.Next() {
		n, err := scanNumber(rows)
		if err != nil {
			return nil, formatError(err)
		}
		ns = append(ns, n)
	}
	return ns, formatError(rows.Err())
}

func createNumber(ctx context.Context, tx *Tx, n *maskcall.Number) error {
	if n.Number == "" {
		return maskcall.Errorf(maskcall.EINVALID, "A pool number needs a phone number.")
	}
	if n.Status == "" {
		n.Status = maskcall.NumberPurchasing
	}
	if !n.Status.Valid() {
		return maskcall.Errorf(maskcall.EINVALID, "Unknown number status %q.", n.Status)
	}
	if n.CreatedAt.IsZero() {
		n.CreatedAt = tx.now
	}
	if n.UpdatedAt.IsZero() {
		n.UpdatedAt = n.CreatedAt
	}
	n.CreatedAt, n.UpdatedAt = ts(n.CreatedAt), ts(n.UpdatedAt)
	if n.Status != maskcall.NumberPurchasing {
		// A lease means something only while a purchase is in flight.
		n.PurchaseOwner, n.PurchaseLeaseUntil = "", time.Time{}
	}
	n.PurchaseLeaseUntil = leaseTS(n.PurchaseLeaseUntil)

	var status string
	var uses int
	err := tx.QueryRow(ctx, `SELECT status, active_conversations FROM numbers WHERE number = $1 FOR UPDATE`, n.Number).
		Scan(&status, &uses)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		n.ActiveConversations = 0
		_, err = tx.Exec(ctx, `INSERT INTO numbers (`+numberColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9, $10, $11)`,
			n.Number, n.Country, n.Type, joinFeatures(n.Features), n.Cost, string(n.Status), n.AppID,
			n.CreatedAt, n.UpdatedAt, n.PurchaseOwner, leaseValue(n.PurchaseLeaseUntil))
		if err = formatError(err); maskcall.ErrorCode(err) == maskcall.ECONFLICT {
			// Another writer added it since the lookup.
			return &maskcall.Error{Code: maskcall.ECONFLICT, Err: err, Message: n.Number + " is already in the pool."}
		}
		return err
	case err != nil:
		return formatError(err)
	case maskcall.NumberStatus(status) != maskcall.NumberReleased:
		return maskcall.Errorf(maskcall.ECONFLICT, "%s is already in the pool.", n.Number)
	}
	// A released number rented again: the same row, new details. The
	// counter is derived from participants, so it is kept.
	n.ActiveConversations = uses
	_, err = tx.Exec(ctx, `UPDATE numbers
		SET country = $1, type = $2, features = $3, cost = $4, status = $5, app_id = $6, created_at = $7, updated_at = $8,
			purchase_owner = $9, purchase_lease_until = $10
		WHERE number = $11`,
		n.Country, n.Type, joinFeatures(n.Features), n.Cost, string(n.Status), n.AppID,
		n.CreatedAt, n.UpdatedAt, n.PurchaseOwner, leaseValue(n.PurchaseLeaseUntil), n.Number)
	return formatError(err)
}

func updateNumber(ctx context.Context, tx *Tx, number string, upd maskcall.NumberUpdate) (*maskcall.Number, error) {
	n, err := findNumber(ctx, tx, number, true)
	if err != nil {
		return nil, err
	}
	if upd.IfStatus != nil && n.Status != *upd.IfStatus {
		return nil, maskcall.Errorf(maskcall.ECONFLICT, "%s is %s, not %s.", number, n.Status, *upd.IfStatus)
	}
	if upd.Status != nil {
		if !upd.Status.Valid() {
			return nil, maskcall.Errorf(maskcall.EINVALID, "Unknown number status %q.", *upd.Status)
		}
		n.Status = *upd.Status
	}
	if upd.AppID != nil {
		n.AppID = *upd.AppID
	}
	if upd.Type != nil {
		n.Type = *upd.Type
	}
	if upd.Features != nil {
		n.Features = append([]string{}, upd.Features...)
	}
	if upd.Cost != nil {
		n.Cost = *upd.Cost
	}
	if upd.PurchaseLeaseUntil != nil {
		n.PurchaseLeaseUntil = leaseTS(*upd.PurchaseLeaseUntil)
	}
	if n.Status != maskcall.NumberPurchasing {
		n.PurchaseOwner, n.PurchaseLeaseUntil = "", time.Time{}
	}
	n.UpdatedAt = tx.now
	if _, err := tx.Exec(ctx, `UPDATE numbers
		SET status = $1, app_id = $2, type = $3, features = $4, cost = $5, updated_at = $6,
			purchase_owner = $7, purchase_lease_until = $8
		WHERE number = $9`,
		string(n.Status), n.AppID, n.Type, joinFeatures(n.Features), n.Cost, n.UpdatedAt,
		n.PurchaseOwner, leaseValue(n.PurchaseLeaseUntil), number); err != nil {
		return nil, formatError(err)
	}
	// Read back what was stored (features normalised).
	return findNumber(ctx, tx, number, false)
}

func deleteNumber(ctx context.Context, tx *Tx, number string) error {
	n, err := findNumber(ctx, tx, number, true)
	if err != nil {
		return err
	}
	if n.Status != maskcall.NumberPurchasing {
		// Settled meanwhile (bought, adopted): the number is paid for.
		return maskcall.Errorf(maskcall.ECONFLICT, "%s is %s, not a purchase that failed.", number, n.Status)
	}
	var one int
	err = tx.QueryRow(ctx, `SELECT 1 FROM participants WHERE proxy_number = $1 LIMIT 1`, number).Scan(&one)
	if err == nil {
		return maskcall.Errorf(maskcall.ECONFLICT, "%s cannot be removed: conversations refer to it.", number).
			WithHint("Release it instead, or purge the conversations first.")
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return formatError(err)
	}
	// The foreign key refuses it too if a conversation was created meanwhile.
	_, err = tx.Exec(ctx, `DELETE FROM numbers WHERE number = $1`, number)
	if err = formatError(err); maskcall.ErrorCode(err) == maskcall.ECONFLICT {
		return maskcall.Errorf(maskcall.ECONFLICT, "%s cannot be removed: conversations refer to it.", number).
			WithHint("Release it instead, or purge the conversations first.")
	}
	return err
}

// leaseTS is ts for a lease; zero stays zero.
func leaseTS(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return ts(t)
}

// leaseValue stores a zero lease as NULL.
func leaseValue(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
