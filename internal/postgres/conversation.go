package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/maskcall/maskcall/internal/maskcall"
)

// The queries allocation, routing and expiry run on every conversation or
// call; each is served by an index of migration/0001_init.sql.
const (
	// poolQuery lists the pool's numbers that are not released: the
	// candidates maskcall.Allocate filters and ranks, in any order
	// (numbers_status_idx). The pool is small.
	poolQuery = `SELECT number, country, features, status, active_conversations FROM numbers
		WHERE status IN ('purchasing', 'unconfigured', 'active')`

	// usedProxiesQuery lists the proxies a real number already has in active
	// conversations (participants_key_idx).
	usedProxiesQuery = `SELECT proxy_number FROM participants
		WHERE number = $1 AND active`

	// stickyQuery finds the proxy number had when last paired with
	// other_number (pairings primary key).
	stickyQuery = `SELECT proxy_number FROM pairings
		WHERE number = $1 AND other_number = $2`

	// routeQuery resolves a call from number to proxy_number: the caller's
	// participant by its active key, then the other participant and the
	// conversation's mode by primary key. Expiry is checked on the
	// participant row, so a conversation stops routing at the instant it
	// expires, before any sweep ends it.
	routeQuery = `SELECT p.conversation_id, c.mode,
			p.number, p.country, p.proxy_number, p.label,
			q.number, q.country, q.proxy_number, q.label
		FROM participants AS p
		JOIN participants AS q ON q.conversation_id = p.conversation_id AND q.position = 1 - p.position
		JOIN conversations AS c ON c.id = p.conversation_id
		WHERE p.number = $1 AND p.proxy_number = $2 AND p.active
			AND (p.expires_at IS NULL OR p.expires_at > $3)`

	// The statements that end one conversation: mark it ended (only if it
	// is active: the row lock this takes makes two enders take turns, and
	// the second finds nothing to do), release its proxies' counters (once
	// per conversation, however many participants share a proxy, in number
	// order so concurrent enders lock counters in the same order),
	// deactivate its keys.
	endConversationStmt = `UPDATE conversations SET status = 'ended', ended_at = $1, end_reason = $2
		WHERE id = $3 AND status = 'active' RETURNING ref, callback_url`
	endCountersStmt = `UPDATE numbers SET active_conversations = active_conversations - 1
		WHERE number IN (SELECT proxy_number FROM participants WHERE conversation_id = $1 AND active)`
	endParticipantsStmt = `UPDATE participants SET active = false
		WHERE conversation_id = $1 AND active`
)

// expireBatch bounds how many conversations one sweep transaction ends.
const expireBatch = 100

// CreateConversation validates c (maskcall.Conversation.Validate) and, in
// one transaction that first ends the conversations expired by now, has
// maskcall.Allocate pick each participant's proxy from the pool, then
// stores c. The unique index on active keys decides races between writers:
// the loser's transaction is run again, sees the winner's conversation, and
// picks another number or fails EEXHAUSTED.
//
// It fills c's proxy numbers, ID if empty, Status and CreatedAt. EINVALID or
// EINVALIDNUMBER for a conversation Validate or Allocate refuses; ECONFLICT
// if c.ID exists; EEXHAUSTED wrapping *maskcall.ExhaustedError if a
// participant has no free proxy number.
func (db *DB) CreateConversation(ctx context.Context, c *maskcall.Conversation, needs []string, now time.Time) error {
	if err := c.Validate(now); err != nil {
		return err
	}
	in := *c
	in.Participants = append([]maskcall.Participant(nil), c.Participants...)
	return db.inTx(ctx, now, func(tx *Tx) error {
		*c = in
		c.Participants = append([]maskcall.Participant(nil), in.Participants...)
		return createConversation(ctx, tx, c, needs)
	})
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
	// Idempotent: ending an ended conversation changes nothing.
	err := db.inIdempotentTx(ctx, now, func(tx *Tx) error {
		why, at := reason, tx.now
		var exp *time.Time
		err := tx.QueryRow(ctx, `SELECT expires_at FROM conversations WHERE id = $1 AND status = 'active'`, id).Scan(&exp)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return formatError(err)
		}
		if exp != nil && !exp.After(tx.now) {
			why, at = maskcall.EndReasonExpired, exp.UTC()
		}
		if _, err := endConversation(ctx, tx, id, why, at); err != nil {
			return err
		}
		c, err = findConversationByID(ctx, tx, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// ExpireConversations ends, with reason expired, every active conversation
// whose expiry is at or before now, and returns how many. An expired
// conversation's EndedAt is its expiry: the instant it stopped routing.
//
// It then prunes the route changes older than the last routeChangesKept
// versions (PruneRouteChanges).
//
// Replicas sweep at the same time without doing the work twice: each batch
// claims its conversations FOR UPDATE SKIP LOCKED, so a conversation another
// sweep (or a create's own expiry step) is ending is left to it.
func (db *DB) ExpireConversations(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		var n int
		err := db.inIdempotentTx(ctx, now, func(tx *Tx) (err error) {
			n, err = expireConversations(ctx, tx, true)
			return err
		})
		total += n
		if err != nil {
			return total, err
		}
		if n < expireBatch {
			// The sweep is the store's periodic upkeep: the route log is
			// trimmed here too, in a transaction of its own.
			return total, db.PruneRouteChanges(ctx, routeChangesKept)
		}
	}
}

// PurgeConversations deletes ended conversations that ended before t, with
// their participants, calls and the sticky pairings they last set; it
// returns how many. Active conversations, expired or not, are kept: run
// ExpireConversations first.
func (db *DB) PurgeConversations(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := db.inTx(ctx, before, func(tx *Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM conversations WHERE status = 'ended' AND ended_at < $1`, ts(before))
		if err != nil {
			return formatError(err)
		}
		n = int(tag.RowsAffected())
		return nil
	})
	return n, err
}

// FindRoute returns the route of the conversation, active at now, whose
// participant has number from and proxy number to; ENOTFOUND if none. It is
// one query (prepared once per connection by pgx's statement cache): an
// index lookup of the caller's key and a primary-key lookup of the other
// participant.
//
// A call is waiting on it, so while PostgreSQL restarts or fails over the
// lookup is retried until ctx's deadline (at most routeRetryFor without
// one): the pool dials a new connection for each attempt. ESTORE if the
// database stayed unreachable.
func (db *DB) FindRoute(ctx context.Context, from, to string, now time.Time) (*maskcall.Route, error) {
	if db.pool == nil {
		return nil, errNotOpen
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, routeRetryFor)
		defer cancel()
	}
	for n := 1; ; n++ {
		r, err := db.findRoute(ctx, from, to, now)
		if maskcall.ErrorCode(err) != maskcall.ESTORE {
			return r, err
		}
		// Another attempt only if it can finish before the deadline.
		wait := outageWait(n)
		if dl, _ := ctx.Deadline(); time.Until(dl) < wait+50*time.Millisecond {
			return nil, err
		}
		if sleep(ctx, wait) != nil {
			return nil, err
		}
	}
}

// routeRetryFor bounds FindRoute's retries when its context has no
// deadline: well within the 5 s Vonage gives the answer webhook.
const routeRetryFor = 3 * time.Second

func (db *DB) findRoute(ctx context.Context, from, to string, now time.Time) (*maskcall.Route, error) {
	var r maskcall.Route
	err := db.pool.QueryRow(ctx, routeQuery, from, to, ts(now)).Scan(&r.ConversationID, &r.Mode,
		&r.Caller.Number, &r.Caller.Country, &r.Caller.ProxyNumber, &r.Caller.Label,
		&r.Callee.Number, &r.Callee.Country, &r.Callee.ProxyNumber, &r.Callee.Label)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, maskcall.Errorf(maskcall.ENOTFOUND, "No active conversation routes calls from %s to %s.",
			maskcall.MaskNumber(from), to)
	} else if err != nil {
		if ctx.Err() != nil {
			// The deadline cut the attempt short: still "unreachable".
			return nil, unavailable(err)
		}
		return nil, formatError(err)
	}
	return &r, nil
}

func createConversation(ctx context.Context, tx *Tx, c *maskcall.Conversation, needs []string) error {
	if c.ExpiresAt != nil {
		exp := ts(*c.ExpiresAt)
		if !exp.After(tx.now) {
			return maskcall.Errorf(maskcall.EINVALID, "The conversation would expire at %s, which is not after its creation.",
				c.ExpiresAt.UTC().Format(time.RFC3339))
		}
		c.ExpiresAt = &exp
	}

	// Expired conversations free their keys and counters first. Unlike the
	// sweep this waits for conversations another transaction is ending, so
	// their keys are seen free rather than taken.
	if _, err := expireConversations(ctx, tx, false); err != nil {
		return err
	}

	pool, err := findPool(ctx, tx)
	if err != nil {
		return err
	}
	for i := range c.Participants {
		p, other := &c.Participants[i], c.Participants[1-i]
		req := maskcall.AllocationRequest{Participant: *p, Other: other.Number, Position: i, Candidates: pool, Needs: needs}
		rows, err := tx.Query(ctx, usedProxiesQuery, p.Number)
		if err != nil {
			return formatError(err)
		}
		if req.InUse, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return formatError(err)
		}
		if err := tx.QueryRow(ctx, stickyQuery, p.Number, other.Number).Scan(&req.Sticky); err != nil && !errors.Is(err, pgx.ErrNoRows) {
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
	tag, err := tx.Exec(ctx, `INSERT INTO conversations (id, ref, status, created_at, expires_at, mode, callback_url)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
		c.ID, c.Ref, string(c.Status), c.CreatedAt, c.ExpiresAt, string(c.Mode), c.CallbackURL)
	if err != nil {
		return formatError(err)
	} else if tag.RowsAffected() == 0 {
		return maskcall.Errorf(maskcall.ECONFLICT, "Conversation %s already exists.", c.ID)
	}
	// Both keys in one statement: its trigger takes the route version (and
	// its lock, until commit) only once both keys are in, so this
	// transaction never waits on another's key while holding the version
	// that one waits for.
	p0, p1 := c.Participants[0], c.Participants[1]
	if _, err := tx.Exec(ctx, `INSERT INTO participants
		(conversation_id, position, number, country, proxy_number, label, active, expires_at)
		VALUES ($1, 0, $2, $3, $4, $5, true, $10), ($1, 1, $6, $7, $8, $9, true, $10)`,
		c.ID, p0.Number, p0.Country, p0.ProxyNumber, p0.Label,
		p1.Number, p1.Country, p1.ProxyNumber, p1.Label, c.ExpiresAt); err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == codeUniqueViolation && pe.ConstraintName == keyIndex {
			// Another writer took a key since the candidates were read:
			// run again, seeing its conversation.
			return &errRetry{err}
		}
		return formatError(err)
	}
	for i, p := range c.Participants {
		other := c.Participants[1-i]
		if _, err := tx.Exec(ctx, `INSERT INTO pairings (number, other_number, proxy_number, conversation_id)
			VALUES ($1, $2, $3, $4)
			ON CONFLICT (number, other_number) DO UPDATE
			SET proxy_number = excluded.proxy_number, conversation_id = excluded.conversation_id`,
			p.Number, other.Number, p.ProxyNumber, c.ID); err != nil {
			return formatError(err)
		}
	}
	// IN counts a proxy serving both participants once.
	if _, err := tx.Exec(ctx, `UPDATE numbers SET active_conversations = active_conversations + 1
		WHERE number IN ($1, $2)`, c.Participants[0].ProxyNumber, c.Participants[1].ProxyNumber); err != nil {
		return formatError(err)
	}
	if ok, err := hasTarget(ctx, tx, c.CallbackURL); err != nil || !ok {
		return err
	}
	return insertCallback(ctx, tx, maskcall.ConversationCreatedEvent(c, tx.now), c.CallbackURL, "")
}

// findPool reads allocation's candidates.
func findPool(ctx context.Context, tx *Tx) ([]maskcall.ProxyCandidate, error) {
	rows, err := tx.Query(ctx, poolQuery)
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

// expireConversations ends the active conversations expired by tx.now,
// oldest expiry first, locking them first. With skipLocked (the sweep) it
// takes at most expireBatch and skips those another transaction holds;
// otherwise (a create) it takes all and waits for them. It returns how many
// it ended.
func expireConversations(ctx context.Context, tx *Tx, skipLocked bool) (int, error) {
	q := `SELECT id, expires_at FROM conversations
		WHERE status = 'active' AND expires_at IS NOT NULL AND expires_at <= $1
		ORDER BY expires_at, id`
	if skipLocked {
		q += ` LIMIT ` + strconv.Itoa(expireBatch) + ` FOR UPDATE SKIP LOCKED`
	} else {
		q += ` FOR UPDATE`
	}
	rows, err := tx.Query(ctx, q, tx.now)
	if err != nil {
		return 0, formatError(err)
	}
	type expired struct {
		id string
		at time.Time
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (expired, error) {
		var e expired
		err := r.Scan(&e.id, &e.at)
		return e, err
	})
	if err != nil {
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
// it did; ENOTFOUND if it does not exist.
func endConversation(ctx context.Context, tx *Tx, id, reason string, at time.Time) (bool, error) {
	var ref, url string
	err := tx.QueryRow(ctx, endConversationStmt, ts(at), reason, id).Scan(&ref, &url)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, formatError(err)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM conversations WHERE id = $1`, id).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return false, maskcall.Errorf(maskcall.ENOTFOUND, "Conversation %s not found.", id)
		}
		return false, formatError(err)
	}
	if _, err := tx.Exec(ctx, endCountersStmt, id); err != nil {
		return false, formatError(err)
	}
	if _, err := tx.Exec(ctx, endParticipantsStmt, id); err != nil {
		return false, formatError(err)
	}
	if ok, err := hasTarget(ctx, tx, url); err != nil || !ok {
		return true, err
	}
	return true, insertCallback(ctx, tx, maskcall.ConversationEndedEvent(id, ref, reason, ts(at), tx.now), url, "")
}

const conversationColumns = `id, ref, status, created_at, expires_at, ended_at, end_reason, mode, callback_url`

// scanConversation reads a conversation and gives it its status at now.
func scanConversation(row pgx.Row, now time.Time) (*maskcall.Conversation, error) {
	var c maskcall.Conversation
	var status string
	if err := row.Scan(&c.ID, &c.Ref, &status, &c.CreatedAt, &c.ExpiresAt, &c.EndedAt, &c.EndReason, &c.Mode, &c.CallbackURL); err != nil {
		return nil, err
	}
	c.Status = maskcall.ConversationStatus(status)
	c.CreatedAt = c.CreatedAt.UTC()
	c.ExpiresAt, c.EndedAt = utcPtr(c.ExpiresAt), utcPtr(c.EndedAt)
	c.SettleStatus(now)
	return &c, nil
}

func findConversationByID(ctx context.Context, tx *Tx, id string) (*maskcall.Conversation, error) {
	c, err := scanConversation(tx.QueryRow(ctx, `SELECT `+conversationColumns+` FROM conversations WHERE id = $1`, id), tx.now)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, maskcall.Errorf(maskcall.ENOTFOUND, "Conversation %s not found.", id)
	} else if err != nil {
		return nil, formatError(err)
	}
	ps, err := findParticipants(ctx, tx, []string{c.ID})
	if err != nil {
		return nil, err
	}
	c.Participants = ps[c.ID]
	return c, nil
}

// conversationsQuery is the listing for filter at now, newest first from
// the cursor position (created_at, id) if After is set. Statuses follow
// maskcall.Conversation.SettleStatus. It reads one row more than the limit,
// to tell whether a next page exists; count makes it a count instead.
func conversationsQuery(filter maskcall.ConversationFilter, now time.Time, count bool) (string, []any, error) {
	where, args := []string{"true"}, []any{}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if filter.Status != nil {
		switch *filter.Status {
		case maskcall.ConversationActive:
			where = append(where, "status = 'active'", "(expires_at IS NULL OR expires_at > "+arg(now)+")")
		case maskcall.ConversationExpired:
			where = append(where, "status = 'active'", "expires_at <= "+arg(now))
		case maskcall.ConversationEnded:
			where = append(where, "status = 'ended'")
		default:
			return "", nil, maskcall.Errorf(maskcall.EINVALID, "Unknown conversation status %q.", *filter.Status)
		}
	}
	if filter.Ref != nil {
		where = append(where, "ref = "+arg(*filter.Ref))
	}
	if filter.Participant != nil {
		// Active ones through the partial key index, others by scan.
		sub := "SELECT conversation_id FROM participants WHERE number = " + arg(*filter.Participant)
		if filter.Status != nil && *filter.Status == maskcall.ConversationActive {
			sub += " AND active"
		}
		where = append(where, "id IN ("+sub+")")
	}
	if filter.After != "" {
		at, id, err := maskcall.ParseConversationCursor(filter.After)
		if err != nil {
			return "", nil, err
		}
		where = append(where, "(created_at, id) < ("+arg(at)+", "+arg(id)+")")
	}
	if count {
		return `SELECT COUNT(*) FROM conversations WHERE ` + strings.Join(where, " AND "), args, nil
	}
	query := `SELECT ` + conversationColumns + ` FROM conversations
		WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY created_at DESC, id DESC`
	if filter.Limit > 0 {
		query += ` LIMIT ` + arg(filter.Limit+1)
	}
	return query, args, nil
}

func findConversations(ctx context.Context, tx *Tx, filter maskcall.ConversationFilter) (*maskcall.ConversationPage, error) {
	query, args, err := conversationsQuery(filter, tx.now, false)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, query, args...)
	if err != nil {
		return nil, formatError(err)
	}
	cs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*maskcall.Conversation, error) { return scanConversation(r, tx.now) })
	if err != nil {
		return nil, formatError(err)
	}
	if cs == nil {
		cs = []*maskcall.Conversation{}
	}
	page := &maskcall.ConversationPage{Conversations: cs}
	if filter.Limit > 0 && len(cs) > filter.Limit {
		page.Conversations = cs[:filter.Limit]
		page.NextCursor = maskcall.ConversationCursor(page.Conversations[filter.Limit-1])
		if filter.CountRemaining {
			next := filter
			next.After = page.NextCursor
			q, args, err := conversationsQuery(next, tx.now, true)
			if err != nil {
				return nil, err
			}
			if err := tx.QueryRow(ctx, q, args...).Scan(&page.Remaining); err != nil {
				return nil, formatError(err)
			}
		}
	}
	if len(page.Conversations) == 0 {
		return page, nil
	}
	ids := make([]string, len(page.Conversations))
	for i, c := range page.Conversations {
		ids[i] = c.ID
	}
	ps, err := findParticipants(ctx, tx, ids)
	if err != nil {
		return nil, err
	}
	for _, c := range page.Conversations {
		c.Participants = ps[c.ID]
	}
	return page, nil
}

// findParticipants reads the participants of conversations ids, in order,
// in one query.
func findParticipants(ctx context.Context, tx *Tx, ids []string) (map[string][]maskcall.Participant, error) {
	rows, err := tx.Query(ctx, `SELECT conversation_id, number, country, proxy_number, label FROM participants
		WHERE conversation_id = ANY($1) ORDER BY conversation_id, position`, ids)
	if err != nil {
		return nil, formatError(err)
	}
	defer rows.Close()
	out := make(map[string][]maskcall.Participant, len(ids))
	for _, id := range ids {
		out[id] = make([]maskcall.Participant, 0, 2)
	}
	for rows.Next() {
		var id string
		var p maskcall.Participant
		if err := rows.Scan(&id, &p.Number, &p.Country, &p.ProxyNumber, &p.Label); err != nil {
			return nil, formatError(err)
		}
		out[id] = append(out[id], p)
	}
	return out, formatError(rows.Err())
}

// EndConversationsUsingNumber ends every active conversation in which a
// participant has proxy as their proxy number, and returns their ids.
func (db *DB) EndConversationsUsingNumber(ctx context.Context, proxy, reason string, now time.Time) ([]string, error) {
	var ids []string
	err := db.inTx(ctx, now, func(tx *Tx) error {
		// The conversations it ends are locked before anything changes:
		// ending them one by one while holding the route version (taken by
		// the first) must not wait on a row another ender holds while it
		// waits for that version. Expired ones first, in the order the
		// create's expiry step locks them, so the two cannot deadlock.
		if _, err := tx.Exec(ctx, `SELECT id FROM conversations WHERE status = 'active'
			AND ((expires_at IS NOT NULL AND expires_at <= $2)
				OR id IN (SELECT conversation_id FROM participants WHERE proxy_number = $1 AND active))
			ORDER BY expires_at NULLS LAST, id FOR UPDATE`, proxy, tx.now); err != nil {
			return formatError(err)
		}
		// Those that expired by now are recorded as expired, not ended.
		if _, err := expireConversations(ctx, tx, false); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT DISTINCT conversation_id FROM participants
			WHERE proxy_number = $1 AND active ORDER BY conversation_id`, proxy)
		if err != nil {
			return formatError(err)
		}
		if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return formatError(err)
		}
		for _, id := range ids {
			if _, err := endConversation(ctx, tx, id, reason, tx.now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}
