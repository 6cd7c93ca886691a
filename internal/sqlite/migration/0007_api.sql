-- 0007_api: the HTTP API's keys and idempotency records.

-- API keys, stored as the SHA-256 of the key; prefix (the key's first
-- characters, shown in listings) finds the row. Revoked keys stay, so a
-- listing can show them and their name may be reused.
CREATE TABLE api_keys (
	id           TEXT NOT NULL PRIMARY KEY,
	name         TEXT NOT NULL CHECK (name <> ''),
	prefix       TEXT NOT NULL UNIQUE,
	hash         BLOB NOT NULL,
	read_only    INTEGER NOT NULL DEFAULT 0 CHECK (read_only IN (0, 1)),
	created_at   TEXT NOT NULL,
	last_used_at TEXT,
	revoked_at   TEXT
);
CREATE UNIQUE INDEX api_keys_name_idx ON api_keys (name) WHERE revoked_at IS NULL;

-- Requests made with an Idempotency-Key, per API key, and their responses
-- (status 0 while the request is in progress).
CREATE TABLE idempotency_keys (
	scope       TEXT NOT NULL,
	key         TEXT NOT NULL,
	fingerprint BLOB NOT NULL,
	status      INTEGER NOT NULL DEFAULT 0,
	body        BLOB,
	created_at  TEXT NOT NULL,
	PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
