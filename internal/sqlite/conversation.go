package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

// The queries allocation, routing and expiry run on every conversation or
// call. Each is served by an index (see migration/0001_init.sql and
// plan_test.go); none may scan conversations or participants.
const (
	// poolQuery lists the pool's numbers that are not released: the
	// candidates maskcall.Allocate filters and ranks, in any order
	// (numbers_status_idx). The pool is small.
	poolQuery = `SELECT number, country, features, status, active_conversations FROM numbers
		WHERE status IN ('purchasing', 'unconfigured', 'active')`

	// usedProxiesQuery lists the proxies a real number already has in active
	// conversations (participants_key_idx, covering).
	usedProxiesQuery = `SELECT proxy_number FROM participants
		WHERE number = ? AND active = 1`

	// stickyQuery finds the proxy number had when last paired with
	// other_number (pairings primary key).
	stickyQuery = `SELECT proxy_number FROM pairings
		WHERE number = ? AND other_number = ?`

	// expiredQuery finds active conversations expired by now. Without
	// statistics SQLite would prefer the equality on status in
	// conversations_status_idx, reading every active conversation, so the
	// partial index is named.
	expiredQuery = `SELECT id, expires_at FROM conversations INDEXED BY conversations_expiry_idx
		WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= ?
		ORDER BY expires_at`

	// routeQuery resolves a call from number to proxy_number: the caller's
	// participant by its active key (participants_key_idx), then the other
	// participant and the conversation's mode by primary key. Expiry is checked on the participant row,
	// so a conversation stops routing at the instant it expires, before any
	// sweep ends it.
	routeQuery = `SELECT p.conversation_id, c.mode,
			p.number, p.country, p.proxy_number, p.label,
			q.number, q.country, q.proxy_number, q.label
		FROM participants AS p
		JOIN participants AS q ON q.conversation_id = p.conversation_id AND q.position = 1 - p.position
		JOIN conversations AS c ON c.id = p.conversation_id
		WHERE p.number = ? AND p.proxy_number = ? AND p.active = 1
			AND (p.expires_at IS NULL OR p.expires_at > ?)`

	// The statements that end one conversation: release its proxies'
	// counters (once per conversation, however many participants share a
	// proxy), deactivate its keys, mark it ended.
	endCountersStmt = `UPDATE numbers SET active_conversations = active_conversations - 1
		WHERE number IN (SELECT proxy_number FROM participants WHERE conversation_id = ? AND active = 1)`
	endParticipantsStmt = `UPDATE participants SET active = 0
		WHERE conversation_id = ? AND active = 1`
	endConversationStmt = `UPDATE conversations SET status = 'ended', ended_at = ?, end_reason = ?
		WHERE id = ? AND status = 'active'`

	// purgeStmt deletes ended conversations (conversations_ended_idx, named
	// for the same reason); the foreign keys cascade to participants,
	// pairings, interactions and their events.
	purgeStmt = `DELETE FROM conversations INDEXED BY conversations_ended_idx WHERE status = 'ended' AND ended_at < ?`
)

// CreateConversation validates c (maskcall.Conversation.Validate) and, in
// one immediate transaction that first ends the conversations expired by
// now, has maskcall.Allocate pick each participant's proxy from the pool,
// then stores c. The partial unique index participants_key_idx is the
// guard that no two active conversations share a key.
//
// Both participants may get the same proxy: their keys differ. A proxy
// counts once per conversation in Number.ActiveConversations.
//
// It fills c's proxy numbers, ID if empty (cv_ and 12 base32 characters),
// Status and CreatedAt. EINVALID or EINVALIDNUMBER for a conversation
// Validate or Allocate refuses; ECONFLICT if c.ID exists; EEXHAUSTED
// wrapping *maskcall.ExhaustedError if a participant has no free proxy
// number.
func (db *DB) CreateConversation(ctx context.Context, c *maskcall.Conversation, needs []string, now time.Time) error {
	if err := c.Validate(now); err != nil {
		return err
	}
	// fn may run twice (see writeDurably), so it works on a copy of c
	// each time; c is filled only once the create is committed.
	in := *c
	in.Participants = append([]maskcall.Participant(nil), c.Participants...)
	var out maskcall.Conversation
	err := db.writeDurably(ctx, now, func(ctx context.Context, tx *Tx) error {
		out = in
		out.Participants = append([]maskcall.Participant(nil), in.Participants...)
		return createConversation(ctx, tx, &out, needs)
	})
	if err != nil {
		return err
	}
	*c = out
	return nil
}

// FindConversationByID returns a conversation with its participants in
// order and its status at now; ENOTFOUND if none.
func (db *DB) FindConversationByID(ctx context.Context, id string, now time.Time) (*maskcall.Conversation, error) {
	return read(ctx, db, now, func(tx *Tx) (*maskcall.Conversation, error) { return findConversationByID(ctx, tx, id) })
}

// FindConversations lists conversations, newest first (ties by ID,
// descending), each with its participants in order and its status at now.
func (db *DB) FindConversations(ctx context.Context, filter maskcall.ConversationFilter, now time.Time) (*maskcall.ConversationPage, error) {
	return read(ctx, db, now, func(tx *Tx) (*maskcall.ConversationPage, error) { return findConversations(ctx, tx, filter) })
}

// EndConversation ends an active conversation with reason (EndReasonEnded
// if empty) at now, frees its keys and proxies' counters, and returns it.
// A conversation that had expired by now is recorded as expired at its
// expiry, like the sweep would. Ending an ended conversation changes
// nothing and returns it as it is. ENOTFOUND if absent.
func (db *DB) EndConversation(ctx context.Context, id, reason string, now time.Time) (*maskcall.Conversation, error) {
	if reason == "" {
		reason = maskcall.EndReasonEnded
	}
	var c *maskcall.Conversation
	err := db.writeDurably(ctx, now, func(ctx context.Context, tx *Tx) error {
		var err error
		c, err = endConversationNow(ctx, tx, id, reason)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// endConversationNow is EndConversation in tx, at tx.now.
func endConversationNow(ctx context.Context, tx *Tx, id, reason string) (*maskcall.Conversation, error) {
	c, err := findConversationByID(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	at := tx.now
	if c.Status == maskcall.ConversationExpired {
		reason, at = maskcall.EndReasonExpired, *c.ExpiresAt
	}
	if _, err := endConversation(ctx, tx, id, reason, at); err != nil {
		return nil, err
	}
	return findConversationByID(ctx, tx, id)
}

// ExpireConversations ends, with reason expired, every active conversation
// whose expiry is at or before now, and returns how many. An expired
// conversation's EndedAt is its expiry: the instant it stopped routing.
func (db *DB) ExpireConversations(ctx context.Context, now time.Time) (int, error) {
	tx, err := db.beginWrite(ctx, now)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	n, err := expireConversations(ctx, tx)
	if err != nil {
		return 0, err
	}
	if err := pruneRouteChanges(ctx, tx, routeChangesKept); err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

// PurgeConversations deletes ended conversations that ended before t, with
// their participants, calls and the sticky pairings they last set; it
// returns how many. Active conversations, expired or not, are kept: run
// ExpireConversations first.
func (db *DB) PurgeConversations(ctx context.Context, before time.Time) (int, error) {
	tx, err := db.beginWrite(ctx, before)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	n, err := purgeConversations(ctx, tx, before)
	if err != nil {
		return 0, err
	}
	return n, tx.Commit()
}

// FindRoute returns the route of the conversation, active at now, whose
// participant has number from and proxy number to; ENOTFOUND if none. It is
// one prepared query on the read pool: an index lookup of the caller's key
// and a primary-key lookup of the other participant. A single statement
// reads one consistent snapshot (SQLite holds a read transaction for it),
// so no explicit transaction is needed, and it sees every transaction
// committed before it started, by this process or another (the CLI).
//
// The query takes microseconds, so it is not made cancellable: ctx is
// checked before it runs, and the driver is spared the goroutines that
// watch a cancellable context for each statement.
func (db *DB) FindRoute(ctx context.Context, from, to string, now time.Time) (*maskcall.Route, error) {
	if db.routeStmt == nil {
		return nil, errNotOpen
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var r maskcall.Route
	err := db.routeStmt.QueryRowContext(context.WithoutCancel(ctx), from, to, formatTime(now)).Scan(&r.ConversationID, &r.Mode,
		&r.Caller.Number, &r.Caller.Country, &r.Caller.ProxyNumber, &r.Caller.Label,
		&r.Callee.Number, &r.Callee.Country, &r.Callee.ProxyNumber, &r.Callee.Label)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, maskcall.Errorf(maskcall.ENOTFOUND, "No active conversation routes calls from %s to %s.",
			maskcall.MaskNumber(from), to)
	} else if err != nil {
		return nil, formatError(err)
	}
	return &r, nil
}

func createConversation(ctx context.Context, tx *Tx, c *maskcall.Conversation, needs []string) error {
	if c.ExpiresAt != nil {
		exp := c.ExpiresAt.UTC()
		c.ExpiresAt = &exp
	}

	// Expired conversations free their keys and counters first.
	if _, err := expireConversations(ctx, tx); err != nil {
		return err
	}

	pool, err := findPool(ctx, tx)
	if err != nil {
		return err
	}
	for i := range c.Participants {
		p, other := &c.Participants[i], c.Participants[1-i]
		req := maskcall.AllocationRequest{Participant: *p, Other: other.Number, Position: i, Candidates: pool, Needs: needs}
		if req.InUse, err = usedProxies(ctx, tx, p.Number); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, stickyQuery, p.Number, other.Number).Scan(&req.Sticky); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return formatError(err)
		}
		if p.ProxyNumber, err = maskcall.Allocate(req); err != nil {
			return err
		}
	}

	if c.ID == "" {
		c.ID = newID()
	}
	c.Status = maskcall.ConversationActive
	c.CreatedAt = tx.now
	c.EndedAt, c.EndReason = nil, ""

	if c.Mode == "" {
		c.Mode = maskcall.ModeVoiceAndSMS
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO conversations (id, ref, status, created_at, expires_at, mode, callback_url)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.ID, c.Ref, string(c.Status), formatTime(c.CreatedAt), nullTime(c.ExpiresAt), string(c.Mode), c.CallbackURL); err != nil {
		if err = formatError(err); maskcall.ErrorCode(err) == maskcall.ECONFLICT {
			return &maskcall.Error{Code: maskcall.ECONFLICT, Err: err, Message: "Conversation " + c.ID + " already exists."}
		}
		return err
	}
	for i, p := range c.Participants {
		if _, err := tx.ExecContext(ctx, `INSERT INTO participants
			(conversation_id, position, number, country, proxy_number, label, active, expires_at)
			VALUES (?, ?, ?, ?, ?, ?, 1, ?)`,
			c.ID, i, p.Number, p.Country, p.ProxyNumber, p.Label, nullTime(c.ExpiresAt)); err != nil {
			return formatError(err)
		}
		other := c.Participants[1-i]
		if _, err := tx.ExecContext(ctx, `INSERT INTO pairings (number, other_number, proxy_number, conversation_id)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (number, other_number) DO UPDATE
			SET proxy_number = excluded.proxy_number, conversation_id = excluded.conversation_id`,
			p.Number, other.Number, p.ProxyNumber, c.ID); err != nil {
			return formatError(err)
		}
	}
	// IN counts a proxy serving both participants once.
	if _, err := tx.ExecContext(ctx, `UPDATE numbers SET active_conversations = active_conversations + 1
		WHERE number IN (?, ?)`, c.Participants[0].ProxyNumber, c.Participants[1].ProxyNumber); err != nil {
		return formatError(err)
	}
	if ok, err := hasTarget(ctx, tx, c.CallbackURL); err != nil || !ok {
		return err
	}
	return insertCallback(ctx, tx, maskcall.ConversationCreatedEvent(c, tx.now), c.CallbackURL, "")
}

// findPool reads allocation's candidates.
func findPool(ctx context.Context, tx *Tx) ([]maskcall.ProxyCandidate, error) {
	rows, err := tx.QueryContext(ctx, poolQuery)
	if err != nil {
		return nil, formatError(err)
	}
	defer rows.Close()
	var pool []maskcall.ProxyCandidate
	for rows.Next() {
		var c maskcall.ProxyCandidate
		var features, status string
		if err := rows.Scan(&c.Number, &c.Country, &features, &status, &c.ActiveUses); err != nil {
			return nil, formatError(err)
		}
		c.Features, c.Status = splitFeatures(features), maskcall.NumberStatus(status)
		pool = append(pool, c)
	}
	return pool, formatError(rows.Err())
}

// usedProxies lists the proxies number has in active conversations.
func usedProxies(ctx context.Context, tx *Tx, number string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, usedProxiesQuery, number)
	if err != nil {
		return nil, formatError(err)
	}
	defer rows.Close()
	var used []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, formatError(err)
		}
		used = append(used, n)
	}
	return used, formatError(rows.Err())
}

// expireConversations ends the active conversations expired by tx.now.
func expireConversations(ctx context.Context, tx *Tx) (int, error) {
	rows, err := tx.QueryContext(ctx, expiredQuery, formatTime(tx.now))
	if err != nil {
		return 0, formatError(err)
	}
	type expired struct {
		id string
		at time.Time
	}
	var list []expired
	for rows.Next() {
		var e expired
		var at string
		if err := rows.Scan(&e.id, &at); err != nil {
			rows.Close()
			return 0, formatError(err)
		}
		if e.at, err = parseTime(at); err != nil {
			rows.Close()
			return 0, err
		}
		list = append(list, e)
	}
	if err := rows.Close(); err != nil {
		return 0, formatError(err)
	}
	if err := rows.Err(); err != nil {
		return 0, formatError(err)
	}
	n := 0
	for _, e := range list {
		ok, err := endConversation(ctx, tx, e.id, maskcall.EndReasonExpired, e.at)
		if err != nil {
			return n, err
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// endConversation ends conversation id if it is active and reports whether
// it did.
func endConversation(ctx context.Context, tx *Tx, id, reason string, at time.Time) (bool, error) {
	res, err := tx.ExecContext(ctx, endConversationStmt, formatTime(at), reason, id)
	if err != nil {
		return false, formatError(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, formatError(err)
	} else if n == 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, endCountersStmt, id); err != nil {
		return false, formatError(err)
	}
	if _, err := tx.ExecContext(ctx, endParticipantsStmt, id); err != nil {
		return false, formatError(err)
	}
	var ref, url string
	if err := tx.QueryRowContext(ctx, `SELECT ref, callback_url FROM conversations WHERE id = ?`, id).Scan(&ref, &url); err != nil {
		return false, formatError(err)
	}
	if ok, err := hasTarget(ctx, tx, url); err != nil || !ok {
		return true, err
	}
	return true, insertCallback(ctx, tx, maskcall.ConversationEndedEvent(id, ref, reason, at, tx.now), url, "")
}

func purgeConversations(ctx context.Context, tx *Tx, before time.Time) (int, error) {
	res, err := tx.ExecContext(ctx, purgeStmt, formatTime(before))
	if err != nil {
		return 0, formatError(err)
	}
	n, err := res.RowsAffected()
	return int(n), formatError(err)
}

const conversationColumns = `id, ref, status, created_at, expires_at, ended_at, end_reason, mode, callback_url`

// scanConversation reads a conversation and gives it its status at now.
func scanConversation(s interface{ Scan(...any) error }, now time.Time) (*maskcall.Conversation, error) {
	var c maskcall.Conversation
	var status, createdAt string
	var expiresAt, endedAt sql.NullString
	if err := s.Scan(&c.ID, &c.Ref, &status, &createdAt, &expiresAt, &endedAt, &c.EndReason, &c.Mode, &c.CallbackURL); err != nil {
		return nil, err
	}
	c.Status = maskcall.ConversationStatus(status)
	var err error
	if c.CreatedAt, err = parseTime(createdAt); err != nil {
		return nil, err
	}
	if c.ExpiresAt, err = parseNullTime(expiresAt); err != nil {
		return nil, err
	}
	if c.EndedAt, err = parseNullTime(endedAt); err != nil {
		return nil, err
	}
	c.SettleStatus(now)
	return &c, nil
}

func findConversationByID(ctx context.Context, tx *Tx, id string) (*maskcall.Conversation, error) {
	c, err := scanConversation(tx.QueryRowContext(ctx,
		`SELECT `+conversationColumns+` FROM conversations WHERE id = ?`, id), tx.now)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, maskcall.Errorf(maskcall.ENOTFOUND, "Conversation %s not found.", id)
	} else if err != nil {
		return nil, formatError(err)
	}
	if c.Participants, err = findParticipants(ctx, tx, nil, c.ID); err != nil {
		return nil, err
	}
	return c, nil
}

// conversationsWhere is the condition for filter at now, without its
// cursor and limit. Statuses follow maskcall.Conversation.SettleStatus: a
// stored active conversation is expired once its expiry is at or before
// now.
func conversationsWhere(filter maskcall.ConversationFilter, now time.Time) ([]string, []any, error) {
	where, args := []string{}, []any{}
	if filter.Status != nil {
		switch *filter.Status {
		case maskcall.ConversationActive:
			status := "status = 'active'"
			if filter.Participant != nil {
				// A participant's active conversations are a handful,
				// found through the key index below; walking
				// conversations_status_idx instead (which the planner
				// prefers, for the order) visits every active
				// conversation: 34 ms a create at 100,000. The unary +
				// keeps the planner off that index; the few rows are
				// sorted.
				status = "+status = 'active'"
			}
			where = append(where, status, "(expires_at IS NULL OR expires_at > ?)")
			args = append(args, formatTime(now))
		case maskcall.ConversationExpired:
			where = append(where, "status = 'active'", "expires_at IS NOT NULL", "expires_at <= ?")
			args = append(args, formatTime(now))
		case maskcall.ConversationEnded:
			where = append(where, "status = 'ended'")
		default:
			return nil, nil, maskcall.Errorf(maskcall.EINVALID, "Unknown conversation status %q.", *filter.Status)
		}
	}
	if filter.Ref != nil {
		where, args = append(where, "ref = ?"), append(args, *filter.Ref)
	}
	if filter.Participant != nil {
		// Active ones through the partial key index, others by scan.
		sub := "SELECT conversation_id FROM participants WHERE number = ?"
		if filter.Status != nil && *filter.Status == maskcall.ConversationActive {
			sub += " AND active = 1"
		}
		where, args = append(where, "id IN ("+sub+")"), append(args, *filter.Participant)
	}
	return where, args, nil
}

// conversationsQuery lists conversations newest first from the cursor
// position (created_at, id) if after is set, walking
// conversations_created_idx, conversations_status_idx or
// conversations_ref_idx backwards: no sort, and a limit stops early. It
// reads one row more than the limit, to tell whether a next page exists.
func conversationsQuery(filter maskcall.ConversationFilter, now time.Time) (string, []any, error) {
	where, args, err := conversationsWhere(filter, now)
	if err != nil {
		return "", nil, err
	}
	if filter.After != "" {
		at, id, err := maskcall.ParseConversationCursor(filter.After)
		if err != nil {
			return "", nil, err
		}
		where, args = append(where, "(created_at, id) < (?, ?)"), append(args, formatTime(at), id)
	}
	if len(where) == 0 {
		where = []string{"1 = 1"}
	}
	query := `SELECT ` + conversationColumns + ` FROM conversations
		WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY created_at DESC, id DESC`
	if filter.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, filter.Limit+1)
	}
	return query, args, nil
}

func findConversations(ctx context.Context, tx *Tx, filter maskcall.ConversationFilter) (*maskcall.ConversationPage, error) {
	query, args, err := conversationsQuery(filter, tx.now)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, formatError(err)
	}
	cs := []*maskcall.Conversation{}
	for rows.Next() {
		c, err := scanConversation(rows, tx.now)
		if err != nil {
			rows.Close()
			return nil, formatError(err)
		}
		cs = append(cs, c)
	}
	if err := rows.Close(); err != nil {
		return nil, formatError(err)
	}
	if err := rows.Err(); err != nil {
		return nil, formatError(err)
	}
	page := &maskcall.ConversationPage{Conversations: cs}
	if filter.Limit > 0 && len(cs) > filter.Limit {
		page.Conversations = cs[:filter.Limit]
		last := page.Conversations[filter.Limit-1]
		page.NextCursor = maskcall.ConversationCursor(last)
		if filter.CountRemaining {
			next := filter
			next.After, next.Limit = page.NextCursor, 0
			if page.Remaining, err = countConversations(ctx, tx, next); err != nil {
				return nil, err
			}
		}
	}

	if len(page.Conversations) == 0 {
		return page, nil
	}
	stmt, err := tx.PrepareContext(ctx, participantsQuery)
	if err != nil {
		return nil, formatError(err)
	}
	defer stmt.Close()
	for _, c := range page.Conversations {
		if c.Participants, err = findParticipants(ctx, tx, stmt, c.ID); err != nil {
			return nil, err
		}
	}
	return page, nil
}

// countConversations counts what conversationsQuery would list, walking
// the same index.
func countConversations(ctx context.Context, tx *Tx, filter maskcall.ConversationFilter) (int, error) {
	query, args, err := conversationsQuery(filter, tx.now)
	if err != nil {
		return 0, err
	}
	var n int
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (`+query+`)`, args...).Scan(&n)
	return n, formatError(err)
}

// participantsQuery reads a conversation's participants by primary key.
const participantsQuery = `SELECT number, country, proxy_number, label FROM participants
	WHERE conversation_id = ? ORDER BY position`

// findParticipants reads a conversation's participants in order, with stmt
// (a prepared participantsQuery) if not nil.
func findParticipants(ctx context.Context, tx *Tx, stmt *sql.Stmt, id string) ([]maskcall.Participant, error) {
	var rows *sql.Rows
	var err error
	if stmt != nil {
		rows, err = stmt.QueryContext(ctx, id)
	} else {
		rows, err = tx.QueryContext(ctx, participantsQuery, id)
	}
	if err != nil {
		return nil, formatError(err)
	}
	defer rows.Close()
	ps := make([]maskcall.Participant, 0, 2)
	for rows.Next() {
		var p maskcall.Participant
		if err := rows.Scan(&p.Number, &p.Country, &p.ProxyNumber, &p.Label); err != nil {
			return nil, formatError(err)
		}
		ps = append(ps, p)
	}
	return ps, formatError(rows.Err())
}

// EndConversationsUsingNumber ends every active conversation in which a
// participant has proxy as their proxy number, and returns their ids.
// Conversations that expired by now are recorded as expired first, and are
// not among them.
func (db *DB) EndConversationsUsingNumber(ctx context.Context, proxy, reason string, now time.Time) ([]string, error) {
	tx, err := db.beginWrite(ctx, now)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	if _, err := expireConversations(ctx, tx); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT conversation_id FROM participants
		WHERE proxy_number = ? AND active = 1`, proxy)
	if err != nil {
		return nil, formatError(err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, formatError(err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, formatError(err)
	}
	for _, id := range ids {
		if _, err := endConversation(ctx, tx, id, reason, tx.now); err != nil {
			return nil, err
		}
	}
	return ids, tx.Commit()
}
