-- 0012_callbacks: the callback outbox, as internal/sqlite's
-- 0012_callbacks.sql. Replicas claim due events FOR UPDATE SKIP LOCKED and
-- mark them 'delivering' with a lease; an event whose lease ended belongs
-- to a worker that stopped and is claimed again.
CREATE TABLE callbacks (
	id              text COLLATE "C" NOT NULL PRIMARY KEY,
	type            text NOT NULL,
	conversation_id text COLLATE "C" REFERENCES conversations (id) ON DELETE CASCADE,
	call_uuid       text NOT NULL DEFAULT '',
	data            text NOT NULL,
	url             text NOT NULL DEFAULT '',
	state           text NOT NULL
		CHECK (state IN ('pending', 'delivering', 'delivered', 'failed')),
	attempts        integer NOT NULL DEFAULT 0,
	next_attempt_at timestamptz NOT NULL,
	lease_until     timestamptz,
	retry_until     timestamptz NOT NULL,
	last_status     integer NOT NULL DEFAULT 0,
	last_error      text NOT NULL DEFAULT '',
	delivered_at    timestamptz,
	created_at      timestamptz NOT NULL,
	updated_at      timestamptz NOT NULL
);
CREATE INDEX callbacks_due_idx ON callbacks (next_attempt_at) WHERE state = 'pending';
CREATE INDEX callbacks_lease_idx ON callbacks (lease_until) WHERE state = 'delivering';
CREATE INDEX callbacks_created_idx ON callbacks (created_at, id);
CREATE INDEX callbacks_conversation_idx ON callbacks (conversation_id);
CREATE INDEX callbacks_failed_idx ON callbacks (created_at) WHERE state = 'failed';
CREATE UNIQUE INDEX callbacks_out_of_session_idx ON callbacks (call_uuid) WHERE type = 'call.out_of_session';
