-- no-transaction
-- The same for receipts (erasure, device removal).
CREATE INDEX CONCURRENTLY IF NOT EXISTS receipts_device ON receipts (device_id);
