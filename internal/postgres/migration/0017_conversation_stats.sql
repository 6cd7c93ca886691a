-- conversation_stats counts the conversations not ended, kept by triggers,
-- so that metrics read a few rows at each scrape instead of counting the
-- status index (a scan of every active conversation). It is derived data:
-- db copy does not copy it (the target's triggers count the copied
-- conversations) and checks it afterwards.
--
-- The count is spread over shards, one per server process modulo 16, and
-- summed when read: every transaction updates only its own process's
-- row, so concurrent creates and ends on several replicas do not queue on
-- one row. The triggers are per statement, with transition tables, so a
-- bulk insert or a sweep adds one delta, not one per row.
CREATE TABLE conversation_stats (
	shard  integer NOT NULL PRIMARY KEY,
	active bigint NOT NULL
);

CREATE FUNCTION conversation_stats_add(d bigint) RETURNS void LANGUAGE sql AS $$
	INSERT INTO conversation_stats AS s (shard, active) VALUES (pg_backend_pid() % 16, d)
		ON CONFLICT (shard) DO UPDATE SET active = s.active + excluded.active
$$;

CREATE FUNCTION conversation_stats_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE d bigint;
BEGIN
	SELECT count(*) INTO d FROM new_rows WHERE status = 'active';
	IF d <> 0 THEN PERFORM conversation_stats_add(d); END IF;
	RETURN NULL;
END $$;

CREATE FUNCTION conversation_stats_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE d bigint;
BEGIN
	SELECT (SELECT count(*) FROM new_rows WHERE status = 'active') - (SELECT count(*) FROM old_rows WHERE status = 'active') INTO d;
	IF d <> 0 THEN PERFORM conversation_stats_add(d); END IF;
	RETURN NULL;
END $$;

CREATE FUNCTION conversation_stats_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE d bigint;
BEGIN
	SELECT count(*) INTO d FROM old_rows WHERE status = 'active';
	IF d <> 0 THEN PERFORM conversation_stats_add(-d); END IF;
	RETURN NULL;
END $$;

CREATE TRIGGER conversation_stats_insert AFTER INSERT ON conversations
	REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION conversation_stats_insert();
CREATE TRIGGER conversation_stats_update AFTER UPDATE ON conversations
	REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION conversation_stats_update();
CREATE TRIGGER conversation_stats_delete AFTER DELETE ON conversations
	REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION conversation_stats_delete();

-- The conversations already there: creating the triggers locked the table
-- against writes until this migration commits, so none is missed or
-- counted twice.
INSERT INTO conversation_stats (shard, active)
	SELECT 0, count(*) FROM conversations WHERE status = 'active' HAVING count(*) > 0;
