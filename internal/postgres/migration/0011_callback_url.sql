-- 0011_callback_url: as internal/sqlite's 0011_callback_url.sql. A
-- conversation's own callback URL ('' : the deployment's), and whether the
-- deployment has one (read by every writer in the transaction that writes
-- an event).
ALTER TABLE conversations ADD COLUMN callback_url text NOT NULL DEFAULT '';

CREATE TABLE callback_settings (
	id            integer NOT NULL PRIMARY KEY CHECK (id = 1),
	global_target boolean NOT NULL DEFAULT false,
	updated_at    timestamptz NOT NULL
);
INSERT INTO callback_settings (id, global_target, updated_at) VALUES (1, false, 'epoch');
