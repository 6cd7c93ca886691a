-- 0007_api: the HTTP API's keys and idempotency records, as in
-- internal/sqlite's 0007_api.sql.

-- API keys, stored as the SHA-256 of the key; prefix (the key's first
-- characters, shown in listings) finds the row. Revoked keys stay, so a
-- listing can show them and their name may be reused.
CREATE TABLE api_keys (
	id           text COLLATE "C" NOT NULL PRIMARY KEY,
	name         text COLLATE "C" NOT NULL CHECK (name <> ''),
	prefix       text COLLATE "C" NOT NULL UNIQUE,
	hash         bytea NOT NULL,
	read_only    boolean NOT NULL DEFAULT false,
	created_at   timestamptz NOT NULL,
	last_used_at timestamptz,
	revoked_at   timestamptz
);
CREATE UNIQUE INDEX api_keys_name_idx ON api_keys (name) WHERE revoked_at IS NULL;

-- Requests made with an Idempotency-Key, per API key, and their responses
-- (status 0 while the request is in progress).
CREATE TABLE idempotency_keys (
	scope       text COLLATE "C" NOT NULL,
	key         text COLLATE "C" NOT NULL,
	fingerprint bytea NOT NULL,
	status      integer NOT NULL DEFAULT 0,
	body        bytea,
	created_at  timestamptz NOT NULL,
	PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
