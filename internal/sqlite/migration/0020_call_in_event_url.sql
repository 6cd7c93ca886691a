-- From this migration the connect action's eventUrl names its call
-- (?call=<the inbound leg's uuid>), and an outbound leg's events find their
-- call by interactions' unique uuid. Indexing every call's
-- conversation_uuid as well cost about a quarter of a call record's CPU
-- (BENCHMARKS.md); only the calls recorded before, whose outbound legs'
-- events come without ?call=, stay indexed by it.
ALTER TABLE interactions ADD COLUMN call_in_event_url INTEGER NOT NULL DEFAULT 0
	CHECK (call_in_event_url IN (0, 1));
DROP INDEX interactions_conversation_uuid_idx;
CREATE INDEX interactions_legacy_conversation_uuid_idx ON interactions (conversation_uuid)
	WHERE conversation_uuid <> '' AND call_in_event_url = 0;
