-- Erasing a citizen deletes the messages her devices sent, and removing a
-- device checks its messages (the foreign key): without this index both
-- read every message.
CREATE INDEX IF NOT EXISTS messages_sender_device ON messages (sender_device_id);
