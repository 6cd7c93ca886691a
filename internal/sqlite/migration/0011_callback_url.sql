-- 0011_callback_url: where a conversation's callbacks go, and whether the
-- deployment has a callback URL of its own.

-- '' : the deployment's callbacks.url (if any).
ALTER TABLE conversations ADD COLUMN callback_url TEXT NOT NULL DEFAULT '';

-- One row: whether serve was last started with a callbacks.url. Every
-- process writing to the file (serve, the CLI) reads it in the transaction
-- that writes an event, so events are written only when someone will
-- deliver them, whatever the writing process was configured with.
CREATE TABLE callback_settings (
	id            INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
	global_target INTEGER NOT NULL DEFAULT 0 CHECK (global_target IN (0, 1)),
	updated_at    TEXT NOT NULL
);
INSERT INTO callback_settings (id, global_target, updated_at) VALUES (1, 0, '1970-01-01T00:00:00.000000000Z');
