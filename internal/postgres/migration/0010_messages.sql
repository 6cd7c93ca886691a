-- 0010_messages: as internal/sqlite's 0010_messages.sql. The SMS relay:
-- messages with their parts (each part once, keyed by Vonage's message id),
-- the relay queue (a job is marked 'sending' and committed before its text
-- goes to Vonage; replicas claim jobs FOR UPDATE SKIP LOCKED), and one
-- auto-reply per sender per day.
ALTER TABLE conversations ADD COLUMN mode text NOT NULL DEFAULT 'voice-and-sms'
	CHECK (mode IN ('voice', 'sms', 'voice-and-sms'));

CREATE TABLE messages (
	id              text COLLATE "C" NOT NULL PRIMARY KEY,
	conversation_id text COLLATE "C" REFERENCES conversations (id) ON DELETE CASCADE,
	sender          integer NOT NULL DEFAULT -1 CHECK (sender IN (-1, 0, 1)),
	from_number     text COLLATE "C" NOT NULL,
	to_number       text COLLATE "C" NOT NULL,
	concat_ref      text COLLATE "C" NOT NULL DEFAULT '',
	parts_total     integer NOT NULL DEFAULT 1 CHECK (parts_total BETWEEN 1 AND 255),
	parts           integer NOT NULL DEFAULT 0,
	status          text NOT NULL
		CHECK (status IN ('received', 'relayed', 'failed', 'blocked', 'unknown')),
	reason          text NOT NULL DEFAULT '',
	incomplete      boolean NOT NULL DEFAULT false,
	keep_text       boolean NOT NULL DEFAULT false,
	attempts        integer NOT NULL DEFAULT 0,
	error           text NOT NULL DEFAULT '',
	vonage_id       text NOT NULL DEFAULT '',
	received_at     timestamptz NOT NULL,
	relayed_at      timestamptz
);
CREATE INDEX messages_conversation_idx ON messages (conversation_id, received_at, id);
CREATE INDEX messages_concat_idx ON messages (from_number, to_number, concat_ref)
	WHERE concat_ref <> '' AND status IN ('received', 'blocked');
CREATE INDEX messages_orphan_idx ON messages (received_at) WHERE conversation_id IS NULL;

CREATE TABLE message_parts (
	vonage_id   text COLLATE "C" NOT NULL PRIMARY KEY,
	message_id  text COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	part        integer NOT NULL,
	text        text,
	received_at timestamptz NOT NULL
);
CREATE INDEX message_parts_message_idx ON message_parts (message_id, part);

CREATE TABLE relay_jobs (
	id              bigserial PRIMARY KEY,
	message_id      text COLLATE "C" NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
	kind            text NOT NULL CHECK (kind IN ('relay', 'auto_reply')),
	from_number     text NOT NULL,
	to_number       text NOT NULL,
	state           text NOT NULL
		CHECK (state IN ('pending', 'sending', 'sent', 'failed', 'unknown')),
	attempts        integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL,
	lease_until     timestamptz,
	last_error      text NOT NULL DEFAULT '',
	updated_at      timestamptz NOT NULL
);
CREATE INDEX relay_jobs_due_idx ON relay_jobs (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX relay_jobs_sending_idx ON relay_jobs (lease_until) WHERE state = 'sending';
CREATE INDEX relay_jobs_message_idx ON relay_jobs (message_id);

CREATE TABLE sms_auto_replies (
	sender text COLLATE "C" NOT NULL,
	day    date NOT NULL,
	PRIMARY KEY (sender, day)
);
