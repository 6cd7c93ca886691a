-- Route changes are announced: the transaction that takes a route version
-- also notifies channel maskcall_routes, delivered when (and only if) it
-- commits. serve's route index listens (internal/postgres/routewatch.go)
-- and reads the version only after an announcement, instead of before
-- every call. The payload is empty: the channel is per database, and a
-- listener checks the version it reads, not what it is told.
CREATE OR REPLACE FUNCTION route_version_take() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
	-- '' once a transaction that set it has ended: the setting then exists,
	-- empty, in the session.
	v := nullif(current_setting('maskcall.route_version', true), '')::bigint;
	IF v IS NULL THEN
		UPDATE route_version SET version = version + 1 WHERE id = 1 RETURNING version INTO v;
		PERFORM set_config('maskcall.route_version', v::text, true);
		PERFORM pg_notify('maskcall_routes', '');
	END IF;
	RETURN v;
END $$;
