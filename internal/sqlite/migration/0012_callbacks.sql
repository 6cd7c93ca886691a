-- 0012_callbacks: the callback outbox. Each event is written in the
-- transaction of the change it reports and delivered by a worker at least
-- once: claimed 'delivering' with a lease (a worker that dies leaves it to
-- be claimed again once the lease ends), then 'delivered', 'pending' again
-- with a later next_attempt_at, or 'failed'.
CREATE TABLE callbacks (
	id              TEXT NOT NULL PRIMARY KEY,           -- evt_ + 26 base32, the webhook-id
	type            TEXT NOT NULL,
	-- NULL for events of no conversation (call.out_of_session); purged
	-- with their conversation otherwise.
	conversation_id TEXT REFERENCES conversations (id) ON DELETE CASCADE,
	call_uuid       TEXT NOT NULL DEFAULT '',
	data            TEXT NOT NULL,                       -- JSON, numbers included (removed at delivery unless configured)
	url             TEXT NOT NULL DEFAULT '',            -- '' : the deployment's callbacks.url
	state           TEXT NOT NULL
		CHECK (state IN ('pending', 'delivering', 'delivered', 'failed')),
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at TEXT NOT NULL,
	lease_until     TEXT,
	retry_until     TEXT NOT NULL,
	last_status     INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT NOT NULL DEFAULT '',
	delivered_at    TEXT,
	created_at      TEXT NOT NULL,
	updated_at      TEXT NOT NULL
);
CREATE INDEX callbacks_due_idx ON callbacks (next_attempt_at) WHERE state = 'pending';
CREATE INDEX callbacks_lease_idx ON callbacks (lease_until) WHERE state = 'delivering';
CREATE INDEX callbacks_created_idx ON callbacks (created_at, id);
CREATE INDEX callbacks_conversation_idx ON callbacks (conversation_id);
CREATE INDEX callbacks_failed_idx ON callbacks (created_at) WHERE state = 'failed';
-- A call Vonage asks about twice is reported once.
CREATE UNIQUE INDEX callbacks_out_of_session_idx ON callbacks (call_uuid) WHERE type = 'call.out_of_session';
