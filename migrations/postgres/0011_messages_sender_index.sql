-- Erasing a citizen deletes the messages her devices sent, and removing a
-- device checks its messages (the foreign key): without this index both
-- read every message (issue 17: EXPLAIN on a million messages).
--
-- Not CONCURRENTLY: that waits for every other open transaction, and nodes
-- starting together wait for the migration lock in one, a deadlock (the
-- three-nodes test found it). On a large database, build it by hand first
-- without stopping writes, and this migration finds it there:
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS messages_sender_device ON messages (sender_device_id);
CREATE INDEX IF NOT EXISTS messages_sender_device ON messages (sender_device_id);
