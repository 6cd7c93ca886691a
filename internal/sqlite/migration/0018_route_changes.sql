-- The route feed (maskcall.RouteFeed): serve keeps every active route in
-- memory (internal/routeindex) and, for each call, first reads
-- route_version: when it moved, route_changes says which conversations to
-- read again. Triggers write both in the transaction of every change to
-- what the answer lookup reads (a participant's key, active flag and
-- expiry; a conversation's mode; deletions), whoever makes it: serve, the
-- CLI in another process, a sqlite3 shell. SQLite has one writer at a
-- time, so versions follow commit order.
--
-- pruned_before: changes at versions up to it are no longer kept (the
-- expiry sweep keeps the last 100,000); an index older than that loads
-- everything again. Derived data: db copy leaves both tables to the
-- target's triggers.
CREATE TABLE route_version (
	id            INTEGER NOT NULL PRIMARY KEY CHECK (id = 0),
	version       INTEGER NOT NULL,
	pruned_before INTEGER NOT NULL
);
INSERT INTO route_version (id, version, pruned_before) VALUES (0, 0, 0);

CREATE TABLE route_changes (
	version         INTEGER NOT NULL,
	conversation_id TEXT NOT NULL
);
CREATE INDEX route_changes_version_idx ON route_changes (version);

CREATE TRIGGER route_participants_insert AFTER INSERT ON participants
BEGIN
	UPDATE route_version SET version = version + 1 WHERE id = 0;
	INSERT INTO route_changes (version, conversation_id)
		SELECT version, NEW.conversation_id FROM route_version WHERE id = 0;
END;

CREATE TRIGGER route_participants_update AFTER UPDATE OF conversation_id, position, number, proxy_number, active, expires_at ON participants
BEGIN
	UPDATE route_version SET version = version + 1 WHERE id = 0;
	INSERT INTO route_changes (version, conversation_id)
		SELECT version, NEW.conversation_id FROM route_version WHERE id = 0;
	INSERT INTO route_changes (version, conversation_id)
		SELECT version, OLD.conversation_id FROM route_version WHERE id = 0 AND OLD.conversation_id <> NEW.conversation_id;
END;

CREATE TRIGGER route_participants_delete AFTER DELETE ON participants
BEGIN
	UPDATE route_version SET version = version + 1 WHERE id = 0;
	INSERT INTO route_changes (version, conversation_id)
		SELECT version, OLD.conversation_id FROM route_version WHERE id = 0;
END;

CREATE TRIGGER route_conversations_update AFTER UPDATE OF id, mode ON conversations
BEGIN
	UPDATE route_version SET version = version + 1 WHERE id = 0;
	INSERT INTO route_changes (version, conversation_id)
		SELECT version, NEW.id FROM route_version WHERE id = 0;
	INSERT INTO route_changes (version, conversation_id)
		SELECT version, OLD.id FROM route_version WHERE id = 0 AND OLD.id <> NEW.id;
END;

CREATE TRIGGER route_conversations_delete AFTER DELETE ON conversations
BEGIN
	UPDATE route_version SET version = version + 1 WHERE id = 0;
	INSERT INTO route_changes (version, conversation_id)
		SELECT version, OLD.id FROM route_version WHERE id = 0;
END;
