package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"strings"
	"time"

	"github.com/maskcall/maskcall/internal/maskcall"
)

var _ maskcall.MessageStore = (*DB)(nil)

const (
	// messageRouteQuery is routeQuery with the conversation's mode and the
	// sender's position: the route of a text.
	messageRouteQuery = `SELECT p.conversation_id, p.position, c.mode,
			p.number, p.country, p.proxy_number, p.label,
			q.number, q.country, q.proxy_number, q.label
		FROM participants AS p
		JOIN participants AS q ON q.conversation_id = p.conversation_id AND q.position = 1 - p.position
		JOIN conversations AS c ON c.id = p.conversation_id
		WHERE p.number = ? AND p.proxy_number = ? AND p.active = 1
			AND (p.expires_at IS NULL OR p.expires_at > ?)`

	messageColumns = `id, conversation_id, sender, from_number, to_number, parts, parts_total, incomplete,
		status, reason, attempts, error, keep_text, received_at, relayed_at`

	// The statements of every inbound text and relay outcome, prepared
	// once on the write connection (messageStmts).
	partByVonageIDQuery = `SELECT message_id FROM message_parts WHERE vonage_id = ?`
	insertMessageStmt   = `INSERT INTO messages
		(id, conversation_id, sender, from_number, to_number, concat_ref, parts_total, parts, status, reason, keep_text, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)`
	insertPartStmt = `INSERT INTO message_parts (vonage_id, message_id, part, text, received_at)
		VALUES (?, ?, ?, ?, ?)`
	insertRelayJobStmt = `INSERT INTO relay_jobs (message_id, kind, from_number, to_number, state, next_attempt_at, updated_at)
		VALUES (?, ?, ?, ?, 'pending', ?, ?)`
	insertAutoReplyStmt = `INSERT INTO sms_auto_replies (sender, day) VALUES (?, ?) ON CONFLICT DO NOTHING`
	finishJobStmt       = `UPDATE relay_jobs SET state = ?, next_attempt_at = ?, lease_until = NULL, last_error = ?, updated_at = ?
		WHERE id = ? AND state IN ('sending', 'unknown')`
	finishMessageStmt = `UPDATE messages SET status = ?, error = ?, vonage_id = ?, relayed_at = ? WHERE id = ?`
	dropTextStmt      = `UPDATE message_parts SET text = NULL WHERE message_id = ?
			AND NOT (SELECT keep_text FROM messages WHERE id = ?)`
)

// messageStmts are the statements every inbound text (RecordInboundSMS)
// and every relay outcome (FinishRelayJob) runs, prepared once on the write
// connection with the call records' (writeStmts): parsing them afresh in
// each transaction was a third of the inbound path's CPU. Outside grouped
// writes they are nil and the queries are prepared as they run.
type messageStmts struct {
	partByVonageID, route, insertMessage, insertPart, insertJob, insertAutoReply *sql.Stmt
	finishJob, finishMessage, dropText                                           *sql.Stmt
}

func (s *messageStmts) all() []struct {
	dst   **sql.Stmt
	query string
} {
	return []struct {
		dst   **sql.Stmt
		query string
	}{
		{&s.partByVonageID, partByVonageIDQuery},
		{&s.route, messageRouteQuery},
		{&s.insertMessage, insertMessageStmt},
		{&s.insertPart, insertPartStmt},
		{&s.insertJob, insertRelayJobStmt},
		{&s.insertAutoReply, insertAutoReplyStmt},
		{&s.finishJob, finishJobStmt},
		{&s.finishMessage, finishMessageStmt},
		{&s.dropText, dropTextStmt},
	}
}

// RecordInboundSMS records one part of an inbound text, unique by its
// Vonage message id, decides its fate with maskcall.DecideInbound and queues
// its relay (or the stranger's auto-reply) in the same transaction, so a
// text Vonage was told arrived is never lost and a resent part changes
// nothing. It is group-committed (writer.go) and returns once committed.
func (db *DB) RecordInboundSMS(ctx context.Context, in *maskcall.InboundSMS, p maskcall.InboundPolicy, now time.Time) (*maskcall.InboundResult, error) {
	if db.w == nil {
		return nil, errNotOpen
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if p.ConcatWait <= 0 {
		p.ConcatWait = maskcall.DefaultConcatWait
	}
	now = now.UTC()
	var res *maskcall.InboundResult
	err := db.w.write(ctx, func(ctx context.Context, tx *Tx) (err error) {
		res, err = recordInboundSMS(ctx, tx, in, p, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func recordInboundSMS(ctx context.Context, tx *Tx, in *maskcall.InboundSMS, p maskcall.InboundPolicy, now time.Time) (*maskcall.InboundResult, error) {
	var existing string
	err := tx.queryRow(ctx, tx.w.msg.partByVonageID, partByVonageIDQuery, in.MessageID).Scan(&existing)
	switch {
	case err == nil:
		m, err := findMessage(ctx, tx, existing)
		if err != nil {
			return nil, err
		}
		return &maskcall.InboundResult{Message: m, Duplicate: true}, nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, formatError(err)
	}
	ts := formatTime(now)
	total := max(in.ConcatTotal, 1)
	part := max(in.ConcatPart, 1)

	if in.Concatenated() {
		// A further part joins the message of its first part while that
		// is still waiting: blocked, or with its relay not yet claimed.
		var id string
		var parts int
		var keep bool
		err := tx.QueryRowContext(ctx, `SELECT m.id, m.parts, m.keep_text FROM messages AS m
			WHERE m.from_number = ? AND m.to_number = ? AND m.concat_ref = ? AND m.parts_total = ?
				AND m.parts < m.parts_total AND m.status IN ('received', 'blocked')
				AND (m.status = 'blocked' OR EXISTS (SELECT 1 FROM relay_jobs AS j
					WHERE j.message_id = m.id AND j.kind = 'relay' AND j.state = 'pending'))
			ORDER BY m.received_at DESC LIMIT 1`,
			in.From, in.To, in.ConcatRef, total).Scan(&id, &parts, &keep)
		switch {
		case err == nil:
			var status string
			if err := tx.QueryRowContext(ctx, `SELECT status FROM messages WHERE id = ?`, id).Scan(&status); err != nil {
				return nil, formatError(err)
			}
			var text any = in.Text
			if status == string(maskcall.MessageBlocked) && !keep {
				text = nil
			}
			if _, err := tx.exec(ctx, tx.w.msg.insertPart, insertPartStmt, in.MessageID, id, part, text, ts); err != nil {
				return nil, formatError(err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET parts = parts + 1 WHERE id = ?`, id); err != nil {
				return nil, formatError(err)
			}
			if parts+1 >= total {
				// Complete: relay now rather than at the end of the wait.
				if _, err := tx.ExecContext(ctx, `UPDATE relay_jobs SET next_attempt_at = ?, updated_at = ?
					WHERE message_id = ? AND kind = 'relay' AND state = 'pending'`, ts, ts, id); err != nil {
					return nil, formatError(err)
				}
			}
			m, err := findMessage(ctx, tx, id)
			if err != nil {
				return nil, err
			}
			return &maskcall.InboundResult{Message: m}, nil
		case !errors.Is(err, sql.ErrNoRows):
			return nil, formatError(err)
		}
	}

	// A new message: route it as a call would be.
	var route *maskcall.Route
	var mode maskcall.ConversationMode
	sender := -1
	r := maskcall.Route{}
	var modeS string
	err = tx.queryRow(ctx, tx.w.msg.route, messageRouteQuery, in.From, in.To, ts).Scan(&r.ConversationID, &sender, &modeS,
		&r.Caller.Number, &r.Caller.Country, &r.Caller.ProxyNumber, &r.Caller.Label,
		&r.Callee.Number, &r.Callee.Country, &r.Callee.ProxyNumber, &r.Callee.Label)
	switch {
	case err == nil:
		route, mode = &r, maskcall.ConversationMode(modeS)
	case errors.Is(err, sql.ErrNoRows):
		sender = -1
	default:
		return nil, formatError(err)
	}
	d := maskcall.DecideInbound(route, mode, in.Text, in.Concatenated())

	id := newMessageID(now)
	var convID any
	if route != nil {
		convID = route.ConversationID
	}
	if _, err := tx.exec(ctx, tx.w.msg.insertMessage, insertMessageStmt,
		id, convID, sender, in.From, in.To, in.ConcatRef, total, string(d.Status), d.Reason, p.StoreText, ts); err != nil {
		return nil, formatError(err)
	}
	// The text waits in its part until relayed; a blocked text is kept
	// only if texts are stored.
	var text any
	if d.Relay || p.StoreText {
		text = in.Text
	}
	if _, err := tx.exec(ctx, tx.w.msg.insertPart, insertPartStmt, in.MessageID, id, part, text, ts); err != nil {
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
		res, err := tx.exec(ctx, tx.w.msg.insertAutoReply, insertAutoReplyStmt, in.From, now.UTC().Format(time.DateOnly))
		if err != nil {
			return nil, formatError(err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			if err := insertRelayJob(ctx, tx, id, maskcall.RelayAutoReply, in.To, in.From, now, now); err != nil {
				return nil, err
			}
		}
	}
	// The new message as stored, without reading it back.
	m := &maskcall.Message{ID: id, Sender: sender, From: in.From, To: in.To, Parts: 1, PartsTotal: total,
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

func insertRelayJob(ctx context.Context, tx *Tx, messageID string, kind maskcall.RelayKind, from, to string, due, now time.Time) error {
	_, err := tx.exec(ctx, tx.w.msg.insertJob, insertRelayJobStmt, messageID, string(kind), from, to, formatTime(due), formatTime(now))
	return formatError(err)
}

// ClaimRelayJobs settles the jobs a stopped process left 'sending' past
// their lease as unknown (never resent: Vonage may have taken them), then
// marks up to limit due jobs 'sending' until now+lease, counting their
// attempt, and returns them with their texts assembled. The mark is
// committed before the caller sends anything.
func (db *DB) ClaimRelayJobs(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]*maskcall.RelayJob, error) {
	if db.w == nil {
		return nil, errNotOpen
	}
	now = now.UTC()
	var jobs []*maskcall.RelayJob
	err := db.w.write(ctx, func(ctx context.Context, tx *Tx) (err error) {
		jobs, err = claimRelayJobs(ctx, tx, now, limit, lease)
		return err
	})
	return jobs, err
}

const unknownOutcome = "the sender stopped while sending; not resent, as Vonage may have taken it"

func claimRelayJobs(ctx context.Context, tx *Tx, now time.Time, limit int, lease time.Duration) ([]*maskcall.RelayJob, error) {
	ts := formatTime(now)
	if _, err := tx.ExecContext(ctx, `UPDATE messages SET status = 'unknown', error = ?
		WHERE id IN (SELECT message_id FROM relay_jobs WHERE state = 'sending' AND lease_until <= ? AND kind = 'relay')`,
		unknownOutcome, ts); err != nil {
		return nil, formatError(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE message_parts SET text = NULL
		WHERE message_id IN (SELECT j.message_id FROM relay_jobs AS j JOIN messages AS m ON m.id = j.message_id
			WHERE j.state = 'sending' AND j.lease_until <= ? AND j.kind = 'relay' AND m.keep_text = 0)`, ts); err != nil {
		return nil, formatError(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE relay_jobs SET state = 'unknown', lease_until = NULL, last_error = ?, updated_at = ?
		WHERE state = 'sending' AND lease_until <= ?`, unknownOutcome, ts, ts); err != nil {
		return nil, formatError(err)
	}

	rows, err := tx.QueryContext(ctx, `SELECT id, message_id, kind, from_number, to_number, attempts
		FROM relay_jobs INDEXED BY relay_jobs_due_idx
		WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?`, ts, limit)
	if err != nil {
		return nil, formatError(err)
	}
	var jobs []*maskcall.RelayJob
	for rows.Next() {
		var j maskcall.RelayJob
		var kind string
		if err := rows.Scan(&j.ID, &j.MessageID, &kind, &j.From, &j.To, &j.Attempts); err != nil {
			rows.Close()
			return nil, formatError(err)
		}
		j.Kind = maskcall.RelayKind(kind)
		j.Attempts++
		jobs = append(jobs, &j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, formatError(err)
	}
	until := formatTime(now.Add(lease))
	for _, j := range jobs {
		if _, err := tx.ExecContext(ctx, `UPDATE relay_jobs SET state = 'sending', attempts = ?, lease_until = ?, updated_at = ?
			WHERE id = ?`, j.Attempts, until, ts, j.ID); err != nil {
			return nil, formatError(err)
		}
		if j.Kind != maskcall.RelayText {
			continue
		}
		parts, total, err := messageParts(ctx, tx, j.MessageID)
		if err != nil {
			return nil, err
		}
		j.Text, j.Incomplete = maskcall.AssembleParts(parts, total)
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET attempts = ?, incomplete = ? WHERE id = ?`,
			j.Attempts, j.Incomplete, j.MessageID); err != nil {
			return nil, formatError(err)
		}
	}
	return jobs, nil
}

func messageParts(ctx context.Context, tx *Tx, messageID string) ([]maskcall.MessagePart, int, error) {
	var total int
	if err := tx.QueryRowContext(ctx, `SELECT parts_total FROM messages WHERE id = ?`, messageID).Scan(&total); err != nil {
		return nil, 0, formatError(err)
	}
	rows, err := tx.QueryContext(ctx, `SELECT part, COALESCE(text, '') FROM message_parts WHERE message_id = ? ORDER BY part`, messageID)
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

// FinishRelayJob records the outcome of a claimed job: sent, to be retried
// (while attempts remain) or failed. A job settled unknown meanwhile (its
// lease ran out) still takes a real outcome: the record tells the truth.
func (db *DB) FinishRelayJob(ctx context.Context, job *maskcall.RelayJob, o maskcall.RelayOutcome, maxAttempts int, now time.Time) error {
	if db.w == nil {
		return errNotOpen
	}
	now = now.UTC()
	return db.w.write(ctx, func(ctx context.Context, tx *Tx) error { return finishRelayJob(ctx, tx, job, o, maxAttempts, now) })
}

func finishRelayJob(ctx context.Context, tx *Tx, job *maskcall.RelayJob, o maskcall.RelayOutcome, maxAttempts int, now time.Time) error {
	ts := formatTime(now)
	errText := truncate(o.Error, 300)
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
	next := ts
	if state == "pending" {
		next = formatTime(o.RetryAt)
	}
	res, err := tx.exec(ctx, tx.w.msg.finishJob, finishJobStmt, state, next, errText, ts, job.ID)
	if err != nil {
		return formatError(err)
	}
	if n, _ := res.RowsAffected(); n == 0 || job.Kind != maskcall.RelayText {
		return nil
	}
	var relayedAt any
	if o.Sent {
		relayedAt = ts
	}
	if _, err := tx.exec(ctx, tx.w.msg.finishMessage, finishMessageStmt,
		string(msgStatus), errText, o.VonageID, relayedAt, job.MessageID); err != nil {
		return formatError(err)
	}
	if state != "pending" {
		if _, err := tx.exec(ctx, tx.w.msg.dropText, dropTextStmt, job.MessageID, job.MessageID); err != nil {
			return formatError(err)
		}
		m, err := findMessage(ctx, tx, job.MessageID)
		if err != nil {
			return err
		}
		var label string
		if m.ConversationID != "" {
			if err := tx.QueryRowContext(ctx, `SELECT label FROM participants WHERE conversation_id = ? AND position = ?`,
				m.ConversationID, m.Sender).Scan(&label); err != nil && !errors.Is(err, sql.ErrNoRows) {
				return formatError(err)
			}
		}
		return messageCallback(ctx, tx, m, label, now)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// NextRelayAt is when the queue next needs the worker: the earliest
// pending job, or the earliest lease of a job being sent to settle.
func (db *DB) NextRelayAt(ctx context.Context) (*time.Time, error) {
	return read(ctx, db, time.Time{}, func(tx *Tx) (*time.Time, error) {
		var a, b sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT
			(SELECT MIN(next_attempt_at) FROM relay_jobs WHERE state = 'pending'),
			(SELECT MIN(lease_until) FROM relay_jobs WHERE state = 'sending')`).Scan(&a, &b); err != nil {
			return nil, formatError(err)
		}
		ta, err := parseNullTime(a)
		if err != nil {
			return nil, err
		}
		tb, err := parseNullTime(b)
		if err != nil {
			return nil, err
		}
		if ta == nil || (tb != nil && tb.Before(*ta)) {
			return tb, nil
		}
		return ta, nil
	})
}

// FindMessages lists a conversation's messages, oldest first, with their
// texts where kept.
func (db *DB) FindMessages(ctx context.Context, conversationID string) ([]*maskcall.Message, error) {
	return read(ctx, db, time.Time{}, func(tx *Tx) ([]*maskcall.Message, error) {
		rows, err := tx.QueryContext(ctx, `SELECT `+messageColumns+` FROM messages
			WHERE conversation_id = ? ORDER BY received_at, id`, conversationID)
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
	m, keep, err := scanMessage(tx.QueryRowContext(ctx, `SELECT `+messageColumns+` FROM messages WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
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

func scanMessage(s interface{ Scan(...any) error }) (*maskcall.Message, bool, error) {
	var m maskcall.Message
	var conv, relayedAt sql.NullString
	var receivedAt, status string
	var keep bool
	if err := s.Scan(&m.ID, &conv, &m.Sender, &m.From, &m.To, &m.Parts, &m.PartsTotal, &m.Incomplete,
		&status, &m.Reason, &m.Attempts, &m.Error, &keep, &receivedAt, &relayedAt); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, err
		}
		return nil, false, formatError(err)
	}
	m.ConversationID, m.Status = conv.String, maskcall.MessageStatus(status)
	var err error
	if m.ReceivedAt, err = parseTime(receivedAt); err != nil {
		return nil, false, err
	}
	if m.RelayedAt, err = parseNullTime(relayedAt); err != nil {
		return nil, false, err
	}
	return &m, keep, nil
}

// PurgeMessages deletes messages that matched no conversation, received
// before t, and the auto-reply days before t.
func (db *DB) PurgeMessages(ctx context.Context, before time.Time) (int, error) {
	tx, err := db.beginWrite(ctx, time.Time{})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM messages WHERE conversation_id IS NULL AND received_at < ?`, formatTime(before))
	if err != nil {
		return 0, formatError(err)
	}
	n, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `DELETE FROM sms_auto_replies WHERE day < ?`, before.UTC().Format(time.DateOnly)); err != nil {
		return 0, formatError(err)
	}
	return int(n), tx.Commit()
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
	if err := tx.QueryRowContext(ctx, `SELECT ref, callback_url FROM conversations WHERE id = ?`, m.ConversationID).Scan(&ref, &url); err != nil {
		return formatError(err)
	}
	if ok, err := hasTarget(ctx, tx, url); err != nil || !ok {
		return err
	}
	ev := maskcall.MessageEvent(m, ref, label, now)
	if ev == nil {
		return nil
	}
	return insertCallback(ctx, tx, ev, url, "")
}
