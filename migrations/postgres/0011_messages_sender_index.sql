-- no-transaction
-- Erasing a citizen deletes the messages her devices sent, and removing a
-- device checks its messages (the foreign key): without this index both
-- read every message (issue 17: EXPLAIN on a million messages). Built
-- CONCURRENTLY so that running nodes keep writing during a rolling upgrade.
CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_sender_device ON messages (sender_device_id);
