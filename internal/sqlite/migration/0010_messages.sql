-- 0010_messages: the private SMS relay. An inbound text is a message with
-- one or more parts (a long text arrives as parts sharing a concat
-- reference); each part is recorded once, keyed by Vonage's message id, so a
-- part Vonage resends changes nothing. The relay queue holds one job per
-- message (and one per auto-reply to a stranger); a job is marked 'sending'
-- before its text goes to Vonage, so a process killed mid-send never sends
-- it again (it is settled 'unknown').

-- How a conversation's participants reach each other: voice, sms or both.
ALTER TABLE conversations ADD COLUMN mode TEXT NOT NULL DEFAULT 'voice-and-sms'
	CHECK (mode IN ('voice', 'sms', 'voice-and-sms'));

CREATE TABLE messages (
	id              TEXT NOT NULL PRIMARY KEY,           -- msg_ + 16 base32
	-- NULL: the text matched no active conversation (a stranger, an ended
	-- one); such messages are purged by age.
	conversation_id TEXT REFERENCES conversations (id) ON DELETE CASCADE,
	sender          INTEGER NOT NULL DEFAULT -1 CHECK (sender IN (-1, 0, 1)),
	from_number     TEXT NOT NULL,                       -- the sender, E.164
	to_number       TEXT NOT NULL,                       -- the proxy number
	concat_ref      TEXT NOT NULL DEFAULT '',
	parts_total     INTEGER NOT NULL DEFAULT 1 CHECK (parts_total BETWEEN 1 AND 255),
	parts           INTEGER NOT NULL DEFAULT 0,
	status          TEXT NOT NULL
		CHECK (status IN ('received', 'relayed', 'failed', 'blocked', 'unknown')),
	reason          TEXT NOT NULL DEFAULT '',
	incomplete      INTEGER NOT NULL DEFAULT 0 CHECK (incomplete IN (0, 1)),
	keep_text       INTEGER NOT NULL DEFAULT 0 CHECK (keep_text IN (0, 1)),
	attempts        INTEGER NOT NULL DEFAULT 0,
	error           TEXT NOT NULL DEFAULT '',
	vonage_id       TEXT NOT NULL DEFAULT '',            -- of the relayed text
	received_at     TEXT NOT NULL,
	relayed_at      TEXT
);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, received_at, id);
-- The open message a further part of a long text joins.
CREATE INDEX messages_concat_idx ON messages (from_number, to_number, concat_ref)
	WHERE concat_ref <> '' AND status = 'received';
-- Purge of messages that matched no conversation.
CREATE INDEX messages_orphan_idx ON messages (received_at) WHERE conversation_id IS NULL;

CREATE TABLE message_parts (
	vonage_id   TEXT NOT NULL PRIMARY KEY,               -- Vonage's messageId
	message_id  TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	part        INTEGER NOT NULL,
	-- The part's text: kept until the message is relayed (or given up),
	-- then NULL unless the message keeps its text.
	text        TEXT,
	received_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX message_parts_message_idx ON message_parts (message_id, part);

CREATE TABLE relay_jobs (
	id              INTEGER PRIMARY KEY,
	message_id      TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	kind            TEXT NOT NULL CHECK (kind IN ('relay', 'auto_reply')),
	from_number     TEXT NOT NULL,                       -- the proxy it is sent from
	to_number       TEXT NOT NULL,                       -- the real number it goes to
	state           TEXT NOT NULL
		CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT NOT NULL,
	lease_until     TEXT,                                -- while sending
	last_error      TEXT NOT NULL DEFAULT '',
	updated_at      TEXT NOT NULL
);
CREATE INDEX relay_jobs_due_idx ON relay_jobs (next_attempt_at) WHERE state = 'pending';
CREATE INDEX relay_jobs_sending_idx ON relay_jobs (lease_until) WHERE state = 'sending';
CREATE INDEX relay_jobs_message_idx ON relay_jobs (message_id);

-- One auto-reply per sender per UTC day.
CREATE TABLE sms_auto_replies (
	sender TEXT NOT NULL,
	day    TEXT NOT NULL,                                -- YYYY-MM-DD
	PRIMARY KEY (sender, day)
) WITHOUT ROWID;
