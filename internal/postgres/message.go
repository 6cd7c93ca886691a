package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/maskcall/maskcall/internal/maskcall"
)

var _ maskcall.MessageStore = (*DB)(nil)

// The SMS relay on PostgreSQL, with the same contract as the SQLite store
// (see internal/sqlite/message.go). What several replicas add:
//
//   - a part Vonage delivers to two replicas at once is recorded once: the
//     transaction takes an advisory lock on its message id (and, for a part
//     of a long text, on its sender, proxy and reference, so parts arriving
//     together join one message) before looking;
//   - jobs are claimed FOR UPDATE SKIP LOCKED, so two replicas never send
//     the same job; a replica that dies mid-send leaves its job 'sending'
//     until its lease ends, and it is then settled unknown, never resent.

const (
	messageRouteQuery = `SELECT p.conversation_id, p.position, c.mode,
			p.number, p.country, p.proxy_number, p.label,
			q.number, q.country, q.proxy_number, q.label
		FROM participants AS p
		JOIN participants AS q ON q.conversation_id = p.conversation_id AND q.position = 1 - p.position
		JOIN conversations AS c ON c.id = p.conversation_id
		WHERE p.number = $1 AND p.proxy_number = $2 AND p.active
			AND (p.expires_at IS NULL OR p.expires_at > $3)`

	messageColumns = `id, conversation_id, sender, from_number, to_number, parts, parts_total, incomplete,
		status, reason, attempts, error, keep_text, received_at, relayed_at`

	unknownOutcome = "the sender stopped while sending; not resent, as Vonage may have taken it"
)

// RecordInboundSMS records one part, routes it and queues its relay in one
// transaction; see sqlite.DB.RecordInboundSMS.
func (db *DB) RecordInboundSMS(ctx context.Context, in *maskcall.InboundSMS, p maskcall.InboundPolicy, now time.Time) (*maskcall.InboundResult, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if p.ConcatWait <= 0 {
		p.ConcatWait = maskcall.DefaultConcatWait
	}
	var res *maskcall.InboundResult
	err := db.inTx(ctx, now, func(tx *Tx) (err error) {
		tx.routeNeutral = true
		res, err = recordInboundSMS(ctx, tx, in, p, tx.now)
		return err
	})
	return res, err
}

func recordInboundSMS(ctx context.Context, tx *Tx, in *maskcall.InboundSMS, p maskcall.InboundPolicy, now time.Time) (*maskcall.InboundResult, error) {
	if !in.Concatenated() {
		return recordSingleSMS(ctx, tx, in, p, now)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('sms:' || $1, 0))`, in.MessageID); err != nil {
		return nil, formatError(err)
	}
	if in.Concatenated() {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('sms-concat:' || $1 || ':' || $2 || ':' || $3, 0))`,
			in.From, in.To, in.ConcatRef); err != nil {
			return nil, formatError(err)
		}
	}
	var existing string
	err := tx.QueryRow(ctx, `SELECT message_id FROM message_parts WHERE vonage_id = $1`, in.MessageID).Scan(&existing)
	switch {
	case err == nil:
		m, err := findMessage(ctx, tx, existing)
		if err != nil {
			return nil, err
		}
		return &maskcall.InboundResult{Message: m, Duplicate: true}, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, formatError(err)
	}
	total := max(in.ConcatTotal, 1)
	part := max(in.ConcatPart, 1)

	if in.Concatenated() {
		var id, status string
		var parts int
		var keep bool
		err := tx.QueryRow(ctx, `SELECT m.id, m.parts, m.keep_text, m.status FROM messages AS m
			WHERE m.from_number = $1 AND m.to_number = $2 AND m.concat_ref = $3 AND m.parts_total = $4
				AND m.parts < m.parts_total AND m.status IN ('received', 'blocked')
				AND (m.status = 'blocked' OR EXISTS (SELECT 1 FROM relay_jobs AS j
					WHERE j.message_id = m.id AND j.kind = 'relay' AND j.state = 'pending'))
			ORDER BY m.received_at DESC LIMIT 1 FOR UPDATE`,
			in.From, in.To, in.ConcatRef, total).Scan(&id, &parts, &keep, &status)
		switch {
		case err == nil:
			var text *string
			if status != string(maskcall.MessageBlocked) || keep {
				text = &in.Text
			}
			if _, err := tx.Exec(ctx, `INSERT INTO message_parts (vonage_id, message_id, part, text, received_at)
				VALUES ($1, $2, $3, $4, $5)`, in.MessageID, id, part, text, now); err != nil {
				return nil, formatError(err)
			}
			if _, err := tx.Exec(ctx, `UPDATE messages SET parts = parts + 1 WHERE id = $1`, id); err != nil {
				return nil, formatError(err)
			}
			if parts+1 >= total {
				if _, err := tx.Exec(ctx, `UPDATE relay_jobs SET next_attempt_at = $1, updated_at = $1
					WHERE message_id = $2 AND kind = 'relay' AND state = 'pending'`, now, id); err != nil {
					return nil, formatError(err)
				}
			}
			m, err := findMessage(ctx, tx, id)
			if err != nil {
				return nil, err
			}
			return &maskcall.InboundResult{Message: m}, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return nil, formatError(err)
		}
	}

	var route *maskcall.Route
	var mode maskcall.ConversationMode
	sender := -1
	r := maskcall.Route{}
	var modeS string
	err = tx.QueryRow(ctx, messageRouteQuery, in.From, in.To, now).Scan(&r.ConversationID, &sender, &modeS,
		&r.Caller.Number, &r.Caller.Country, &r.Caller.ProxyNumber, &r.Caller.Label,
		&r.Callee.Number, &r.Callee.Country, &r.Callee.ProxyNumber, &r.Callee.Label)
	switch {
	case err == nil:
		route, mode = &r, maskcall.ConversationMode(modeS)
	case errors.Is(err, pgx.ErrNoRows):
		sender = -1
	default:
		return nil, formatError(err)
	}
	d := maskcall.DecideInbound(route, mode, in.Text, in.Concatenated())

	id := newMessageID(now)
	var convID *string
	if route != nil {
		convID = &route.ConversationID
	}
	if _, err := tx.Exec(ctx, `INSERT INTO messages
		(id, conversation_id, sender, from_number, to_number, concat_ref, parts_total, parts, status, reason, keep_text, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $11)`,
		id, convID, sender, in.From, in.To, in.ConcatRef, total, string(d.Status), d.Reason, p.StoreText, now); err != nil {
		return nil, formatError(err)
	}
	var text *string
	if d.Relay || p.StoreText {
		text = &in.Text
	}
	if _, err := tx.Exec(ctx, `INSERT INTO message_parts (vonage_id, message_id, part, text, received_at)
		VALUES ($1, $2, $3, $4, $5)`, in.MessageID, id, part, text, now); err != nil {
		return nil, formatError(err)
	}
	if d.Relay {
		due := now
		if total > 1 {
			due = now.Add(p.ConcatWait)
		}
		if err := insertRelayJob(ctx, tx, id, maskcall.RelayText, route.Callee.ProxyNumber, route.Callee.Number, due, now); err != nil {
			return nil, err
		}
	}
	if d.AutoReply && p.AutoReply {
		tag, err := tx.Exec(ctx, `INSERT INTO sms_auto_replies (sender, day) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			in.From, now.UTC().Format(time.DateOnly))
		if err != nil {
			return nil, formatError(err)
		}
		if tag.RowsAffected() == 1 {
			if err := insertRelayJob(ctx, tx, id, maskcall.RelayAutoReply, in.To, in.From, now, now); err != nil {
				return nil, err
			}
		}
	}
	m, err := findMessage(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	if route != nil {
		if err := messageCallback(ctx, tx, m, route.Caller.Label, now); err != nil {
			return nil, err
		}
	}
	return &maskcall.InboundResult{Message: m}, nil
}

// recordSingleText is the statement that records a new single-part text:
// its part (unique by Vonage's id: a part already recorded, or being
// recorded by another replica, makes it insert nothing at all), its
// message, its relay job when it is relayed, and a stranger's auto-reply
// with its job when one is due today. It returns whether it recorded the
// text and whether it queued the auto-reply. The part is inserted before
// its message: foreign keys are checked at the end of the statement.
const recordSingleText = `WITH part AS (
		INSERT INTO message_parts (vonage_id, message_id, part, text, received_at)
		VALUES ($1, $2, 1, $3, $4) ON CONFLICT (vonage_id) DO NOTHING
		RETURNING message_id),
	msg AS (
		INSERT INTO messages (id, conversation_id, sender, from_number, to_number, concat_ref, parts_total, parts,
			status, reason, keep_text, received_at)
		SELECT message_id, $5, $6, $7, $8, '', 1, 1, $9, $10, $11, $4 FROM part
		RETURNING id),
	job AS (
		INSERT INTO relay_jobs (message_id, kind, from_number, to_number, state, next_attempt_at, updated_at)
		SELECT id, 'relay', $12, $13, 'pending', $4, $4 FROM msg WHERE $14
		RETURNING id),
	reply AS (
		INSERT INTO sms_auto_replies (sender, day) SELECT $7, $15 FROM msg WHERE $16
		ON CONFLICT DO NOTHING
		RETURNING sender),
	reply_job AS (
		INSERT INTO relay_jobs (message_id, kind, from_number, to_number, state, next_attempt_at, updated_at)
		SELECT msg.id, 'auto_reply', $8, $7, 'pending', $4, $4 FROM msg, reply
		RETURNING id)
	SELECT (SELECT count(*) FROM msg), (SELECT count(*) FROM reply_job)`

// recordSingleSMS records a single-part text in two round trips (its
// transaction's aside): the route, then one statement (recordSingleText)
// that records it with its relay. The part's primary key, not a lookup
// under an advisory lock, keeps a part delivered again, or to two replicas
// at once, to one message: a second delivery waits for the first's commit,
// then inserts nothing and reports the first's message.
func recordSingleSMS(ctx context.Context, tx *Tx, in *maskcall.InboundSMS, p maskcall.InboundPolicy, now time.Time) (*maskcall.InboundResult, error) {
	var route *maskcall.Route
	var mode maskcall.ConversationMode
	sender := -1
	r := maskcall.Route{}
	var modeS string
	err := tx.QueryRow(ctx, messageRouteQuery, in.From, in.To, now).Scan(&r.ConversationID, &sender, &modeS,
		&r.Caller.Number, &r.Caller.Country, &r.Caller.ProxyNumber, &r.Caller.Label,
		&r.Callee.Number, &r.Callee.Country, &r.Callee.ProxyNumber, &r.Callee.Label)
	switch {
	case err == nil:
		route, mode = &r, maskcall.ConversationMode(modeS)
		r.Mode = mode
	case errors.Is(err, pgx.ErrNoRows):
		sender = -1
	default:
		return nil, formatError(err)
	}
	d := maskcall.DecideInbound(route, mode, in.Text, false)

	id := newMessageID(now)
	var convID, calleeProxy, calleeNumber *string
	if route != nil {
		convID, calleeProxy, calleeNumber = &route.ConversationID, &route.Callee.ProxyNumber, &route.Callee.Number
	}
	var text *string
	if d.Relay || p.StoreText {
		text = &in.Text
	}
	var recorded, replies int
	if err := tx.QueryRow(ctx, recordSingleText, in.MessageID, id, text, now,
		convID, sender, in.From, in.To, string(d.Status), d.Reason, p.StoreText,
		calleeProxy, calleeNumber, d.Relay,
		now.UTC().Format(time.DateOnly), d.AutoReply && p.AutoReply).Scan(&recorded, &replies); err != nil {
		return nil, formatError(err)
	}
	if recorded == 0 {
		// Recorded before, or meanwhile by another replica (committed,
		// so now seen).
		var existing string
		if err := tx.QueryRow(ctx, `SELECT message_id FROM message_parts WHERE vonage_id = $1`, in.MessageID).Scan(&existing); err != nil {
			return nil, formatError(err)
		}
		return duplicateSMS(ctx, tx, existing)
	}
	// The new message as stored, without reading it back.
	m := &maskcall.Message{ID: id, Sender: sender, From: in.From, To: in.To, Parts: 1, PartsTotal: 1,
		Status: d.Status, Reason: d.Reason, ReceivedAt: now}
	if route != nil {
		m.ConversationID = route.ConversationID
	}
	if p.StoreText {
		t := in.Text
		m.Text = &t
	}
	if route != nil {
		if err := messageCallback(ctx, tx, m, route.Caller.Label, now); err != nil {
			return nil, err
		}
	}
	return &maskcall.InboundResult{Message: m}, nil
}

func duplicateSMS(ctx context.Context, tx *Tx, messageID string) (*maskcall.InboundResult, error) {
	m, err := findMessage(ctx, tx, messageID)
	if err != nil {
		return nil, err
	}
	return &maskcall.InboundResult{Message: m, Duplicate: true}, nil
}

func insertRelayJob(ctx context.Context, tx *Tx, messageID string, kind maskcall.RelayKind, from, to string, due, now time.Time) error {
	_, err := tx.Exec(ctx, `INSERT INTO relay_jobs (message_id, kind, from_number, to_number, state, next_attempt_at, updated_at)
		VALUES ($1, $2, $3, $4, 'pending', $5, $6)`, messageID, string(kind), from, to, ts(due), now)
	return formatError(err)
}

// ClaimRelayJobs settles jobs left 'sending' past their lease as unknown,
// then claims up to limit due jobs FOR UPDATE SKIP LOCKED (replicas never
// take the same one), marks them 'sending' until now+lease and returns them
// with their texts; see sqlite.DB.ClaimRelayJobs.
func (db *DB) ClaimRelayJobs(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*maskcall.RelayJob, error) {
	var jobs []*maskcall.RelayJob
	err := db.inTx(ctx, now, func(tx *Tx) (err error) {
		tx.routeNeutral = true
		jobs, err = claimRelayJobs(ctx, tx, tx.now, limit, lease)
		return err
	})
	return jobs, err
}

func claimRelayJobs(ctx context.Context, tx *Tx, now time.Time, limit int, lease time.Duration) ([]*maskcall.RelayJob, error) {
	rows, err := tx.Query(ctx, `UPDATE relay_jobs SET state = 'unknown', lease_until = NULL, last_error = $2, updated_at = $1
		WHERE id IN (SELECT id FROM relay_jobs WHERE state = 'sending' AND lease_until <= $1 FOR UPDATE SKIP LOCKED)
		RETURNING message_id, kind`, now, unknownOutcome)
	if err != nil {
		return nil, formatError(err)
	}
	var stale []string
	for rows.Next() {
		var id, kind string
		if err := rows.Scan(&id, &kind); err != nil {
			rows.Close()
			return nil, formatError(err)
		}
		if kind == string(maskcall.RelayText) {
			stale = append(stale, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, formatError(err)
	}
	if len(stale) > 0 {
		if _, err := tx.Exec(ctx, `UPDATE messages SET status = 'unknown', error = $2 WHERE id = ANY($1)`, stale, unknownOutcome); err != nil {
			return nil, formatError(err)
		}
		if _, err := tx.Exec(ctx, `UPDATE message_parts SET text = NULL WHERE message_id = ANY($1)
			AND message_id IN (SELECT id FROM messages WHERE NOT keep_text)`, stale); err != nil {
			return nil, formatError(err)
		}
	}

	rows, err = tx.Query(ctx, `UPDATE relay_jobs SET state = 'sending', attempts = attempts + 1, lease_until = $2, updated_at = $1
		WHERE id IN (SELECT id FROM relay_jobs WHERE state = 'pending' AND next_attempt_at <= $1
			ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING id, message_id, kind, from_number, to_number, attempts, next_attempt_at`, now, ts(now.Add(lease)), limit)
	if err != nil {
		return nil, formatError(err)
	}
	type claimed struct {
		j   *maskcall.RelayJob
		due time.Time
	}
	var cs []claimed
	for rows.Next() {
		var j maskcall.RelayJob
		var kind string
		var due time.Time
		if err := rows.Scan(&j.ID, &j.MessageID, &kind, &j.From, &j.To, &j.Attempts, &due); err != nil {
			rows.Close()
			return nil, formatError(err)
		}
		j.Kind = maskcall.RelayKind(kind)
		cs = append(cs, claimed{&j, due})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, formatError(err)
	}
	// RETURNING keeps no order: claim order is due order.
	for i := 1; i < len(cs); i++ {
		for k := i; k > 0 && (cs[k].due.Before(cs[k-1].due) || cs[k].due.Equal(cs[k-1].due) && cs[k].j.ID < cs[k-1].j.ID); k-- {
			cs[k], cs[k-1] = cs[k-1], cs[k]
		}
	}
	jobs := make([]*maskcall.RelayJob, 0, len(cs))
	for _, c := range cs {
		j := c.j
		jobs = append(jobs, j)
		if j.Kind != maskcall.RelayText {
			continue
		}
		parts, total, err := messageParts(ctx, tx, j.MessageID)
		if err != nil {
			return nil, err
		}
		j.Text, j.Incomplete = maskcall.AssembleParts(parts, total)
		if _, err := tx.Exec(ctx, `UPDATE messages SET attempts = $1, incomplete = $2 WHERE id = $3`,
			j.Attempts, j.Incomplete, j.MessageID); err != nil {
			return nil, formatError(err)
		}
	}
	return jobs, nil
}

func messageParts(ctx context.Context, tx *Tx, messageID string) ([]maskcall.MessagePart, int, error) {
	var total int
	if err := tx.QueryRow(ctx, `SELECT parts_total FROM messages WHERE id = $1`, messageID).Scan(&total); err != nil {
		return nil, 0, formatError(err)
	}
	rows, err := tx.Query(ctx, `SELECT part, COALESCE(text, '') FROM message_parts WHERE message_id = $1 ORDER BY part`, messageID)
	if err != nil {
		return nil, 0, formatError(err)
	}
	defer rows.Close()
	var parts []maskcall.MessagePart
	for rows.Next() {
		var p maskcall.MessagePart
		if err := rows.Scan(&p.Part, &p.Text); err != nil {
			return nil, 0, formatError(err)
		}
		parts = append(parts, p)
	}
	return parts, total, formatError(rows.Err())
}

// FinishRelayJob records the outcome of a claimed job; see
// sqlite.DB.FinishRelayJob.
func (db *DB) FinishRelayJob(ctx context.Context, job *maskcall.RelayJob, o maskcall.RelayOutcome, maxAttempts int, now time.Time) error {
	return db.inTx(ctx, now, func(tx *Tx) error {
		tx.routeNeutral = true
		return finishRelayJob(ctx, tx, job, o, maxAttempts, tx.now)
	})
}

func finishRelayJob(ctx context.Context, tx *Tx, job *maskcall.RelayJob, o maskcall.RelayOutcome, maxAttempts int, now time.Time) error {
	errText := o.Error
	if len(errText) > 300 {
		errText = strings.ToValidUTF8(errText[:300], "")
	}
	state, msgStatus := "failed", maskcall.MessageFailed
	switch {
	case o.Sent:
		state, msgStatus = "sent", maskcall.MessageRelayed
	case o.Unknown:
		// Perhaps sent: settled, never sent again.
		state, msgStatus = "unknown", maskcall.MessageUnknown
	case o.Retry && job.Attempts < maxAttempts:
		state, msgStatus = "pending", maskcall.MessageReceived
	}
	next := now
	if state == "pending" {
		next = ts(o.RetryAt)
	}
	tag, err := tx.Exec(ctx, `UPDATE relay_jobs SET state = $1, next_attempt_at = $2, lease_until = NULL, last_error = $3, updated_at = $4
		WHERE id = $5 AND state IN ('sending', 'unknown')`, state, next, errText, now, job.ID)
	if err != nil {
		return formatError(err)
	}
	if tag.RowsAffected() == 0 || job.Kind != maskcall.RelayText {
		return nil
	}
	var relayedAt *time.Time
	if o.Sent {
		relayedAt = &now
	}
	if _, err := tx.Exec(ctx, `UPDATE messages SET status = $1, error = $2, vonage_id = $3, relayed_at = $4 WHERE id = $5`,
		string(msgStatus), errText, o.VonageID, relayedAt, job.MessageID); err != nil {
		return formatError(err)
	}
	if state != "pending" {
		if _, err := tx.Exec(ctx, `UPDATE message_parts SET text = NULL WHERE message_id = $1
			AND NOT (SELECT keep_text FROM messages WHERE id = $1)`, job.MessageID); err != nil {
			return formatError(err)
		}
		m, err := findMessage(ctx, tx, job.MessageID)
		if err != nil {
			return err
		}
		var label string
		if m.ConversationID != "" {
			if err := tx.QueryRow(ctx, `SELECT label FROM participants WHERE conversation_id = $1 AND position = $2`,
				m.ConversationID, m.Sender).Scan(&label); err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return formatError(err)
			}
		}
		return messageCallback(ctx, tx, m, label, now)
	}
	return nil
}

// NextRelayAt is when the queue next needs a worker.
func (db *DB) NextRelayAt(ctx context.Context) (*time.Time, error) {
	return read(ctx, db, time.Time{}, func(tx *Tx) (*time.Time, error) {
		var a, b *time.Time
		if err := tx.QueryRow(ctx, `SELECT
			(SELECT MIN(next_attempt_at) FROM relay_jobs WHERE state = 'pending'),
			(SELECT MIN(lease_until) FROM relay_jobs WHERE state = 'sending')`).Scan(&a, &b); err != nil {
			return nil, formatError(err)
		}
		if a == nil || (b != nil && b.Before(*a)) {
			return utcPtr(b), nil
		}
		return utcPtr(a), nil
	})
}

// FindMessages lists a conversation's messages, oldest first.
func (db *DB) FindMessages(ctx context.Context, conversationID string) ([]*maskcall.Message, error) {
	return read(ctx, db, time.Time{}, func(tx *Tx) ([]*maskcall.Message, error) {
		rows, err := tx.Query(ctx, `SELECT `+messageColumns+` FROM messages
			WHERE conversation_id = $1 ORDER BY received_at, id`, conversationID)
		if err != nil {
			return nil, formatError(err)
		}
		var out []*maskcall.Message
		var keep []bool
		for rows.Next() {
			m, k, err := scanMessage(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out, keep = append(out, m), append(keep, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, formatError(err)
		}
		for i, m := range out {
			if err := fillText(ctx, tx, m, keep[i]); err != nil {
				return nil, err
			}
		}
		return out, nil
	})
}

func findMessage(ctx context.Context, tx *Tx, id string) (*maskcall.Message, error) {
	m, keep, err := scanMessage(tx.QueryRow(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, maskcall.Errorf(maskcall.ENOTFOUND, "No message %s.", id)
	}
	if err != nil {
		return nil, err
	}
	return m, fillText(ctx, tx, m, keep)
}

func fillText(ctx context.Context, tx *Tx, m *maskcall.Message, keep bool) error {
	if !keep {
		return nil
	}
	parts, total, err := messageParts(ctx, tx, m.ID)
	if err != nil {
		return err
	}
	text, _ := maskcall.AssembleParts(parts, total)
	m.Text = &text
	return nil
}

func scanMessage(row pgx.Row) (*maskcall.Message, bool, error) {
	var m maskcall.Message
	var conv *string
	var status string
	var keep bool
	if err := row.Scan(&m.ID, &conv, &m.Sender, &m.From, &m.To, &m.Parts, &m.PartsTotal, &m.Incomplete,
		&status, &m.Reason, &m.Attempts, &m.Error, &keep, &m.ReceivedAt, &m.RelayedAt); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, false, err
		}
		return nil, false, formatError(err)
	}
	if conv != nil {
		m.ConversationID = *conv
	}
	m.Status = maskcall.MessageStatus(status)
	m.ReceivedAt = m.ReceivedAt.UTC()
	m.RelayedAt = utcPtr(m.RelayedAt)
	return &m, keep, nil
}

// PurgeMessages deletes messages that matched no conversation, received
// before t, and the auto-reply days before t.
func (db *DB) PurgeMessages(ctx context.Context, before time.Time) (int, error) {
	var n int
	err := db.inTx(ctx, time.Time{}, func(tx *Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM messages WHERE conversation_id IS NULL AND received_at < $1`, ts(before))
		if err != nil {
			return formatError(err)
		}
		n = int(tag.RowsAffected())
		_, err = tx.Exec(ctx, `DELETE FROM sms_auto_replies WHERE day < $1::date`, before.UTC().Format(time.DateOnly))
		return formatError(err)
	})
	return n, err
}

// newMessageID returns "msg_" and 16 base32 characters (80 bits): the
// millisecond of now (48 bits), then 32 random bits, in the
// order-preserving alphabet (0-9, a-v). Ids of texts received together are
// neighbours in every index keyed by message id (the messages', its parts'
// and its relay jobs'), so recording a text writes the pages the previous
// one wrote instead of three random ones: fewer pages per commit.
func newMessageID(now time.Time) string {
	var b [10]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	rand.Read(b[6:])
	return "msg_" + strings.ToLower(messageIDEncoding.EncodeToString(b[:]))
}

var messageIDEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// messageCallback writes m's message.* event (its status now) when its
// conversation has a callback target; label is the sender's.
func messageCallback(ctx context.Context, tx *Tx, m *maskcall.Message, label string, now time.Time) error {
	if m.ConversationID == "" {
		return nil
	}
	var ref, url string
	if err := tx.QueryRow(ctx, `SELECT ref, callback_url FROM conversations WHERE id = $1`, m.ConversationID).Scan(&ref, &url); err != nil {
		return formatError(err)
	}
	if ok, err := hasTarget(ctx, tx, url); err != nil || !ok {
		return err
	}
	ev := maskcall.MessageEvent(m, ref, label, ts(now))
	if ev == nil {
		return nil
	}
	return insertCallback(ctx, tx, ev, url, "")
}
