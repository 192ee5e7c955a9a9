-- The same for receipts (erasure, device removal). On a large database:
--   CREATE INDEX CONCURRENTLY IF NOT EXISTS receipts_device ON receipts (device_id);
CREATE INDEX IF NOT EXISTS receipts_device ON receipts (device_id);
