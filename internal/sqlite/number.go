package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// FindNumber returns the pool entry for an E.164 number, counting the
// conversations active at now; ENOTFOUND if none.
func (db *DB) FindNumber(ctx context.Context, number string, now time.Time) (*maskcall.Number, error) {
	return read(ctx, db, now, func(tx *Tx) (*maskcall.Number, error) {
		n, err := findNumber(ctx, tx, number)
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

// expiredUsesQuery lists the proxies of conversations that expired by now
// but are not swept yet: the stored counter still includes them
// (conversations_expiry_idx, then participants by primary key).
const expiredUsesQuery = `SELECT p.conversation_id, p.proxy_number
	FROM conversations AS c INDEXED BY conversations_expiry_idx
	JOIN participants AS p ON p.conversation_id = c.id
	WHERE c.status = 'active' AND c.expires_at IS NOT NULL AND c.expires_at <= ?`

// discountExpired takes the conversations that expired by tx.now out of
// ns's counters, so a number's count agrees with the conversations'
// statuses (maskcall.Conversation.SettleStatus) before any sweep.
func discountExpired(ctx context.Context, tx *Tx, ns []*maskcall.Number) error {
	if len(ns) == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, expiredUsesQuery, formatTime(tx.now))
	if err != nil {
		return formatError(err)
	}
	defer rows.Close()
	// A proxy serving both participants counts once per conversation.
	expired, seen := map[string]int{}, map[[2]string]bool{}
	for rows.Next() {
		var id, proxy string
		if err := rows.Scan(&id, &proxy); err != nil {
			return formatError(err)
		}
		if k := [2]string{id, proxy}; !seen[k] {
			seen[k] = true
			expired[proxy]++
		}
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
	tx, err := db.beginWrite(ctx, now)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := createNumber(ctx, tx, n); err != nil {
		return err
	}
	return tx.Commit()
}

// UpdateNumber applies upd, stamps UpdatedAt with now and returns the
// result; ENOTFOUND if absent, ECONFLICT if upd.IfStatus is set and
// differs. A number that is not purchasing has no purchase owner or lease.
func (db *DB) UpdateNumber(ctx context.Context, number string, upd maskcall.NumberUpdate, now time.Time) (*maskcall.Number, error) {
	tx, err := db.beginWrite(ctx, now)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	n, err := updateNumber(ctx, tx, number, upd)
	if err != nil {
		return nil, err
	}
	return n, tx.Commit()
}

// DeleteNumber removes a purchasing pool entry (a purchase that failed);
// ENOTFOUND if absent, ECONFLICT if the number is no longer purchasing or
// any conversation, active or not, refers to it.
func (db *DB) DeleteNumber(ctx context.Context, number string) error {
	tx, err := db.beginWrite(ctx, time.Time{})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := deleteNumber(ctx, tx, number); err != nil {
		return err
	}
	return tx.Commit()
}

const numberColumns = `number, country, type, features, cost, status, app_id, active_conversations, created_at, updated_at,
	purchase_owner, purchase_lease_until`

func scanNumber(s interface{ Scan(...any) error }) (*maskcall.Number, error) {
	var n maskcall.Number
	var features, status, createdAt, updatedAt string
	var leaseUntil sql.NullString
	if err := s.Scan(&n.Number, &n.Country, &n.Type, &features, &n.Cost, &status, &n.AppID,
		&n.ActiveConversations, &createdAt, &updatedAt, &n.PurchaseOwner, &leaseUntil); err != nil {
		return nil, err
	}
	n.Status = maskcall.NumberStatus(status)
	n.Features = splitFeatures(features)
	var err error
	if n.CreatedAt, err = parseTime(createdAt); err != nil {
		return nil, err
	}
	if n.UpdatedAt, err = parseTime(updatedAt); err != nil {
		return nil, err
	}
	if lease, err := parseNullTime(leaseUntil); err != nil {
		return nil, err
	} else if lease != nil {
		n.PurchaseLeaseUntil = *lease
	}
	return &n, nil
}

func findNumber(ctx context.Context, tx *Tx, number string) (*maskcall.Number, error) {
	n, err := scanNumber(tx.QueryRowContext(ctx, `SELECT `+numberColumns+` FROM numbers WHERE number = ?`, number))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, maskcall.Errorf(maskcall.ENOTFOUND, "%s is not in the pool.", number)
	} else if err != nil {
		return nil, formatError(err)
	}
	return n, nil
}

func findNumbers(ctx context.Context, tx *Tx, filter maskcall.NumberFilter) ([]*maskcall.Number, error) {
	where, args := []string{"1 = 1"}, []any{}
	if filter.Status != nil {
		where, args = append(where, "status = ?"), append(args, string(*filter.Status))
	} else if !filter.IncludeReleased {
		where, args = append(where, "status <> ?"), append(args, string(maskcall.NumberReleased))
	}
	if filter.Country != nil {
		where, args = append(where, "country = ?"), append(args, *filter.Country)
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+numberColumns+` FROM numbers
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
	if err := rows.Err(); err != nil {
		return nil, formatError(err)
	}
	return ns, nil
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
	n.CreatedAt, n.UpdatedAt = n.CreatedAt.UTC(), n.UpdatedAt.UTC()
	if n.Status != maskcall.NumberPurchasing {
		// A lease means something only while a purchase is in flight.
		n.PurchaseOwner, n.PurchaseLeaseUntil = "", time.Time{}
	}

	var status string
	var uses int
	err := tx.QueryRowContext(ctx, `SELECT status, active_conversations FROM numbers WHERE number = ?`, n.Number).
		Scan(&status, &uses)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		n.ActiveConversations = 0
		_, err = tx.ExecContext(ctx, `INSERT INTO numbers (`+numberColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)`,
			n.Number, n.Country, n.Type, joinFeatures(n.Features), n.Cost, string(n.Status), n.AppID,
			formatTime(n.CreatedAt), formatTime(n.UpdatedAt), n.PurchaseOwner, leaseValue(n.PurchaseLeaseUntil))
		return formatError(err)
	case err != nil:
		return formatError(err)
	case maskcall.NumberStatus(status) != maskcall.NumberReleased:
		return maskcall.Errorf(maskcall.ECONFLICT, "%s is already in the pool.", n.Number)
	}
	// A released number rented again: the same row, new details. The
	// counter is derived from participants, so it is kept.
	n.ActiveConversations = uses
	_, err = tx.ExecContext(ctx, `UPDATE numbers
		SET country = ?, type = ?, features = ?, cost = ?, status = ?, app_id = ?, created_at = ?, updated_at = ?,
			purchase_owner = ?, purchase_lease_until = ?
		WHERE number = ?`,
		n.Country, n.Type, joinFeatures(n.Features), n.Cost, string(n.Status), n.AppID,
		formatTime(n.CreatedAt), formatTime(n.UpdatedAt), n.PurchaseOwner, leaseValue(n.PurchaseLeaseUntil), n.Number)
	return formatError(err)
}

func updateNumber(ctx context.Context, tx *Tx, number string, upd maskcall.NumberUpdate) (*maskcall.Number, error) {
	n, err := findNumber(ctx, tx, number)
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
		n.PurchaseLeaseUntil = upd.PurchaseLeaseUntil.UTC()
	}
	if n.Status != maskcall.NumberPurchasing {
		n.PurchaseOwner, n.PurchaseLeaseUntil = "", time.Time{}
	}
	n.UpdatedAt = tx.now
	if _, err := tx.ExecContext(ctx, `UPDATE numbers
		SET status = ?, app_id = ?, type = ?, features = ?, cost = ?, updated_at = ?,
			purchase_owner = ?, purchase_lease_until = ?
		WHERE number = ?`,
		string(n.Status), n.AppID, n.Type, joinFeatures(n.Features), n.Cost, formatTime(n.UpdatedAt),
		n.PurchaseOwner, leaseValue(n.PurchaseLeaseUntil), number); err != nil {
		return nil, formatError(err)
	}
	return n, nil
}

// numberReferencedQuery finds any participant using a number as proxy
// (participants_proxy_idx).
const numberReferencedQuery = `SELECT 1 FROM participants WHERE proxy_number = ? LIMIT 1`

func deleteNumber(ctx context.Context, tx *Tx, number string) error {
	n, err := findNumber(ctx, tx, number)
	if err != nil {
		return err
	}
	if n.Status != maskcall.NumberPurchasing {
		// Settled meanwhile (bought, adopted): the number is paid for.
		return maskcall.Errorf(maskcall.ECONFLICT, "%s is %s, not a purchase that failed.", number, n.Status)
	}
	var one int
	err = tx.QueryRowContext(ctx, numberReferencedQuery, number).Scan(&one)
	if err == nil {
		return maskcall.Errorf(maskcall.ECONFLICT, "%s cannot be removed: conversations refer to it.", number).
			WithHint("Release it instead, or purge the conversations first.")
	} else if !errors.Is(err, sql.ErrNoRows) {
		return formatError(err)
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM numbers WHERE number = ?`, number)
	return formatError(err)
}

// Features are stored comma-separated and upper-cased: "SMS,VOICE".
func joinFeatures(fs []string) string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		if f = strings.ToUpper(strings.TrimSpace(f)); f != "" {
			out = append(out, f)
		}
	}
	return strings.Join(out, ",")
}

func splitFeatures(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// leaseValue stores a zero lease as NULL.
func leaseValue(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return formatTime(t)
}
