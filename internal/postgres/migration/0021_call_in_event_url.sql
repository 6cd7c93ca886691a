-- From this migration the connect action's eventUrl names its call
-- (?call=<the inbound leg's uuid>), and an outbound leg's events find their
-- call by interactions' unique uuid. Indexing every call's
-- conversation_uuid as well cost a share of each call record
-- (BENCHMARKS.md); only the calls recorded before, whose outbound legs'
-- events come without ?call=, stay indexed by it. (A replica still running
-- an older maskcall inserts with the default, false: its calls are the
-- ones whose eventUrl names nothing.)
ALTER TABLE interactions ADD COLUMN call_in_event_url boolean NOT NULL DEFAULT false;
DROP INDEX interactions_conversation_uuid_idx;
CREATE INDEX interactions_legacy_conversation_uuid_idx ON interactions (conversation_uuid)
	WHERE conversation_uuid <> '' AND NOT call_in_event_url;
