-- One group commit's worth of message rows in one transaction, shaped like
-- the messages table (text ids, a 1,118-byte envelope, its hash): the
-- insert ceiling the relay's durable throughput is compared with.
-- :rows is set by scripts/bench-durable.sh to the relay's messages per commit.
\set batch random(1, 1000000000)
BEGIN;
INSERT INTO bench_messages (thread_id, seq, message_id, sender_device_id, envelope, envelope_sha256, committed_at_ms)
SELECT 'thread-' || (g % 32), :batch::bigint * 100000 + g, md5(:batch::text || '-' || g::text),
       'device', convert_to(repeat('x', 1118), 'UTF8'), sha256(convert_to(g::text, 'UTF8')), 1700000000000
FROM generate_series(1, :rows) g;
COMMIT;
