-- 0001_init: the number pool, conversations with their participants, the
-- sticky pairings, and the interaction log (calls now, messages later).
--
-- Times are TEXT in UTC, RFC 3339 with exactly nine fractional digits
-- ('2006-01-02T15:04:05.000000000Z'), so text order is time order and every
-- comparison below is a plain string comparison that an index can serve.

-- The pool. A row lives from before a purchase request is sent until long
-- after the rental is cancelled (status 'released'), so history keeps its
-- foreign keys. active_conversations is a counter kept in the same
-- transactions that create, end, expire and purge conversations: it counts
-- active conversations using the number as a proxy for either participant,
-- once per conversation.
CREATE TABLE numbers (
	number               TEXT NOT NULL PRIMARY KEY,   -- E.164 with '+'
	country              TEXT NOT NULL DEFAULT '',    -- ISO 3166-1 alpha-2
	type                 TEXT NOT NULL DEFAULT '',
	features             TEXT NOT NULL DEFAULT '',    -- comma-separated: 'SMS,VOICE'
	cost                 TEXT NOT NULL DEFAULT '',
	status               TEXT NOT NULL
		CHECK (status IN ('purchasing', 'unconfigured', 'active', 'released')),
	app_id               TEXT NOT NULL DEFAULT '',
	active_conversations INTEGER NOT NULL DEFAULT 0 CHECK (active_conversations >= 0),
	created_at           TEXT NOT NULL,
	updated_at           TEXT NOT NULL
);

-- Allocation reads the active numbers in number order.
CREATE INDEX numbers_status_idx ON numbers (status, number);

CREATE TABLE conversations (
	id         TEXT NOT NULL PRIMARY KEY,
	ref        TEXT NOT NULL DEFAULT '',
	status     TEXT NOT NULL CHECK (status IN ('active', 'ended')),
	created_at TEXT NOT NULL,
	expires_at TEXT,                                  -- NULL: never expires
	ended_at   TEXT,                                  -- NULL while active
	end_reason TEXT NOT NULL DEFAULT '',
	CHECK ((status = 'ended') = (ended_at IS NOT NULL))
);

-- Listing, newest first: all, by status, by ref.
CREATE INDEX conversations_created_idx ON conversations (created_at, id);
CREATE INDEX conversations_status_idx ON conversations (status, created_at, id);
CREATE INDEX conversations_ref_idx ON conversations (ref, created_at, id);
-- The expiry sweep reads only active conversations that can expire.
CREATE INDEX conversations_expiry_idx ON conversations (expires_at)
	WHERE status = 'active' AND expires_at IS NOT NULL;
-- Purge reads only ended conversations.
CREATE INDEX conversations_ended_idx ON conversations (ended_at)
	WHERE status = 'ended';

-- A conversation's two sides. (number, proxy_number) is a participant's key:
-- a call from number to proxy_number reaches the other participant. active
-- mirrors the conversation's status and expires_at copies its expiry, so the
-- route lookup needs no join to conversations.
CREATE TABLE participants (
	conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	position        INTEGER NOT NULL CHECK (position IN (0, 1)),
	number          TEXT NOT NULL,                    -- real number, E.164
	country         TEXT NOT NULL DEFAULT '',
	proxy_number    TEXT NOT NULL REFERENCES numbers (number),
	label           TEXT NOT NULL DEFAULT '',
	active          INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
	expires_at      TEXT,
	PRIMARY KEY (conversation_id, position)
) WITHOUT ROWID;

-- THE guard: no two active conversations ever hand out the same key. It also
-- serves the route lookup and the "proxies this number already uses" query.
CREATE UNIQUE INDEX participants_key_idx ON participants (number, proxy_number)
	WHERE active = 1;
-- Child-key index for the foreign key to numbers, so deleting a pool number
-- does not scan participants.
CREATE INDEX participants_proxy_idx ON participants (proxy_number);

-- Sticky allocation: the proxy number had the last time number was paired
-- with other_number. One row per ordered pair, overwritten by each new
-- conversation; it goes when the conversation that last set it is purged.
CREATE TABLE pairings (
	number          TEXT NOT NULL,
	other_number    TEXT NOT NULL,
	proxy_number    TEXT NOT NULL,
	conversation_id TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	PRIMARY KEY (number, other_number)
) WITHOUT ROWID;
CREATE INDEX pairings_conversation_idx ON pairings (conversation_id);

-- The interaction log of a conversation: calls now, messages later (kind).
-- uuid is Vonage's id of the interaction (the inbound call leg's uuid);
-- conversation_uuid is Vonage's conversation tying the call's legs together.
CREATE TABLE interactions (
	id                INTEGER PRIMARY KEY,
	kind              TEXT NOT NULL DEFAULT 'call' CHECK (kind <> ''),
	conversation_id   TEXT NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
	uuid              TEXT NOT NULL UNIQUE,
	conversation_uuid TEXT NOT NULL DEFAULT '',
	from_number       TEXT NOT NULL DEFAULT '',
	to_number         TEXT NOT NULL DEFAULT '',
	status            TEXT NOT NULL DEFAULT '',
	duration          INTEGER NOT NULL DEFAULT 0,     -- seconds
	started_at        TEXT,
	ended_at          TEXT,
	created_at        TEXT NOT NULL
);
CREATE INDEX interactions_conversation_idx ON interactions (conversation_id, created_at, id);
CREATE INDEX interactions_conversation_uuid_idx ON interactions (conversation_uuid)
	WHERE conversation_uuid <> '';

-- Vonage's events for an interaction, each stored once: a retried webhook
-- carries the same leg uuid, status and timestamp.
CREATE TABLE interaction_events (
	id             INTEGER PRIMARY KEY,
	interaction_id INTEGER NOT NULL REFERENCES interactions (id) ON DELETE CASCADE,
	uuid           TEXT NOT NULL,                     -- the leg's uuid
	status         TEXT NOT NULL,
	timestamp      TEXT NOT NULL,
	direction      TEXT NOT NULL DEFAULT '',
	from_number    TEXT NOT NULL DEFAULT '',
	to_number      TEXT NOT NULL DEFAULT '',
	duration       INTEGER NOT NULL DEFAULT 0,
	start_time     TEXT,
	end_time       TEXT,
	created_at     TEXT NOT NULL,
	-- Also the child-key index for the cascade from interactions.
	UNIQUE (interaction_id, uuid, status, timestamp)
);
