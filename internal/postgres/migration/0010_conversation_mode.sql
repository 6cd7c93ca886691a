-- 0010_conversation_mode: as in internal/sqlite's 0010_messages.sql, how a
-- conversation's participants reach each other: voice, sms or both. (The
-- SMS relay's tables are not here yet: serve on PostgreSQL does not accept
-- inbound SMS.)
ALTER TABLE conversations ADD COLUMN mode text NOT NULL DEFAULT 'voice-and-sms'
	CHECK (mode IN ('voice', 'sms', 'voice-and-sms'));
