-- Which conversations have a callback URL of their own: few or none. With
-- the deployment's flag it tells a call's record, in one index probe per
-- transaction, that no callback can go anywhere, so it skips looking up
-- the call's party (a join as costly as the record's own insert).
CREATE INDEX conversations_callback_url_idx ON conversations (id) WHERE callback_url <> '';
