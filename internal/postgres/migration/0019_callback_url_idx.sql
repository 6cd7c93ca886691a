-- Which conversations have a callback URL of their own: few or none. With
-- the deployment's flag it lets a batch of call records skip, in one index
-- probe, the join that completes their call.started events when no
-- callback can go anywhere.
CREATE INDEX conversations_callback_url_idx ON conversations (id) WHERE callback_url <> '';
