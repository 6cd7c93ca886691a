-- The route feed (maskcall.RouteFeed): serve keeps every active route in
-- memory (internal/routeindex) and, for each call, first reads
-- route_version: when it moved, route_changes says which conversations to
-- read again. Triggers write both in the transaction of every change to
-- what the answer lookup reads (a participant's key, position, active flag
-- and expiry; a conversation's id, mode and status; deletions), whoever makes it:
-- serve, the CLI, another replica, psql.
--
-- Versions follow commit order, which a sequence would not give (a
-- transaction that took 10 can commit after one that took 11, and a reader
-- at 11 would miss 10 for ever). The first route change of a transaction
-- increments the one row of route_version and keeps the row locked until
-- commit: the next route-changing transaction waits there, so it takes
-- the next version only once this one is visible. Later route changes of
-- the same transaction reuse its version (remembered in the
-- transaction-local setting maskcall.route_version), so a sweep ending
-- 100 conversations takes one version, not 200.
--
-- The triggers are per statement, with transition tables, so a bulk
-- statement adds one change row per conversation, not per participant.
--
-- pruned_before: changes at versions up to it are no longer kept (the
-- expiry sweep keeps the last 100,000 versions); an index older than that
-- loads everything again. Derived data: db copy leaves both tables to the
-- target's triggers.
CREATE TABLE route_version (
	id            integer NOT NULL PRIMARY KEY CHECK (id = 1),
	version       bigint NOT NULL,
	pruned_before bigint NOT NULL
);
-- Version 1 with nothing kept before it: the conversations already here
-- have no change rows, so an index must load them.
INSERT INTO route_version (id, version, pruned_before) VALUES (1, 1, 1);

-- One row per conversation changed by a transaction (the primary key also
-- serves RouteChanges' range read and the prune).
CREATE TABLE route_changes (
	version         bigint NOT NULL,
	conversation_id text COLLATE "C" NOT NULL,
	PRIMARY KEY (version, conversation_id)
);

-- route_version_take returns this transaction's route version, taking the
-- next one (and the row lock that orders it) on the first call.
CREATE FUNCTION route_version_take() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
	-- '' once a transaction that set it has ended: the setting then exists,
	-- empty, in the session.
	v := nullif(current_setting('maskcall.route_version', true), '')::bigint;
	IF v IS NULL THEN
		UPDATE route_version SET version = version + 1 WHERE id = 1 RETURNING version INTO v;
		PERFORM set_config('maskcall.route_version', v::text, true);
	END IF;
	RETURN v;
END $$;

-- Participants: only rows whose routed columns differ count, so an update
-- that rewrites a label, or finds nothing to do, takes no version.
CREATE FUNCTION route_participants_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		INSERT INTO route_changes (version, conversation_id)
			SELECT DISTINCT route_version_take(), conversation_id FROM new_rows
			ON CONFLICT DO NOTHING;
	ELSIF TG_OP = 'DELETE' THEN
		INSERT INTO route_changes (version, conversation_id)
			SELECT DISTINCT route_version_take(), conversation_id FROM old_rows
			ON CONFLICT DO NOTHING;
	ELSE
		INSERT INTO route_changes (version, conversation_id)
			SELECT DISTINCT route_version_take(), conversation_id FROM (
				(SELECT conversation_id, position, number, proxy_number, active, expires_at FROM new_rows
				 EXCEPT ALL SELECT conversation_id, position, number, proxy_number, active, expires_at FROM old_rows)
				UNION ALL
				(SELECT conversation_id, position, number, proxy_number, active, expires_at FROM old_rows
				 EXCEPT ALL SELECT conversation_id, position, number, proxy_number, active, expires_at FROM new_rows)
			) AS d
			ON CONFLICT DO NOTHING;
	END IF;
	RETURN NULL;
END $$;

CREATE FUNCTION route_conversations_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		INSERT INTO route_changes (version, conversation_id)
			SELECT DISTINCT route_version_take(), id FROM old_rows
			ON CONFLICT DO NOTHING;
	ELSE
		INSERT INTO route_changes (version, conversation_id)
			SELECT DISTINCT route_version_take(), id FROM (
				(SELECT id, mode, status FROM new_rows EXCEPT ALL SELECT id, mode, status FROM old_rows)
				UNION ALL
				(SELECT id, mode, status FROM old_rows EXCEPT ALL SELECT id, mode, status FROM new_rows)
			) AS d
			ON CONFLICT DO NOTHING;
	END IF;
	RETURN NULL;
END $$;

-- A truncate names no rows: it takes a version and keeps no change before
-- it, so every index loads everything again.
CREATE FUNCTION route_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
	-- Taken first: it updates the row this statement updates.
	v := route_version_take();
	UPDATE route_version SET pruned_before = v WHERE id = 1;
	RETURN NULL;
END $$;

CREATE TRIGGER route_participants_insert AFTER INSERT ON participants
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION route_participants_changed();
CREATE TRIGGER route_participants_update AFTER UPDATE ON participants
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION route_participants_changed();
CREATE TRIGGER route_participants_delete AFTER DELETE ON participants
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION route_participants_changed();
CREATE TRIGGER route_participants_truncate AFTER TRUNCATE ON participants
	FOR EACH STATEMENT EXECUTE FUNCTION route_truncated();
-- The lookup reads a conversation's id and mode. Its status counts too,
-- though participants.active mirrors it, so that ending a conversation
-- takes the version at its first statement: before the proxies' counters,
-- which creates update after taking theirs (the other order deadlocks).
CREATE TRIGGER route_conversations_update AFTER UPDATE ON conversations
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION route_conversations_changed();
CREATE TRIGGER route_conversations_delete AFTER DELETE ON conversations
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION route_conversations_changed();
CREATE TRIGGER route_conversations_truncate AFTER TRUNCATE ON conversations
	FOR EACH STATEMENT EXECUTE FUNCTION route_truncated();
