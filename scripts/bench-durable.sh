#!/usr/bin/env bash
# Durable throughput on PostgreSQL against this machine's insert ceiling at
# the same rows per commit (docs/BENCHMARKS.md, issue 17):
#   1. the relay on PostgreSQL (loadgen relay): messages/s and messages per
#      group commit, from the server's /metrics;
#   2. pgbench, one client (the group commit is one writer), inserting that
#      many rows shaped like messages per transaction for 20 s.
#   3. the write path alone (cargo bench --bench commit): the server's group
#      commit function without the relay around it, against pgbench again.
#
#   scripts/bench-durable.sh [POSTGRES_ADMIN_URL]
#     (default postgres://postgres@127.0.0.1:5432/test; needs release builds:
#      cargo build --release -p samtale-server -p samtale-tests)
set -euo pipefail
cd "$(dirname "$0")/.."
admin=${1:-postgres://postgres@127.0.0.1:5432/test}
db=samtale_bench_durable_$$
base=${admin%/*}
psql -q "$admin" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
trap 'psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
out=$(taskset -c 1 target/release/loadgen relay --server-bin target/release/samtale-server \
    --database-url "$base/$db" --idle 100)
echo "$out" | tail -n 9
rate=$(echo "$out" | awk -F'|' '/delivered messages\/s/ {gsub(/ /, "", $4); print $4}')
per_commit=$(echo "$out" | awk -F'|' '/messages per commit/ {split($4, a, " "); print a[1]}' | tr -d ' ')
rows=$(printf '%.0f' "$per_commit")
psql -q "$base/$db" -c "CREATE TABLE bench_messages (
    thread_id TEXT NOT NULL, seq BIGINT NOT NULL, message_id TEXT NOT NULL UNIQUE,
    sender_device_id TEXT NOT NULL, envelope BYTEA NOT NULL, envelope_sha256 BYTEA NOT NULL,
    committed_at_ms BIGINT NOT NULL, PRIMARY KEY (thread_id, seq))"
tps=$(pgbench -n -c 1 -j 1 -T 20 -D rows="$rows" -f scripts/pgbench/messages.sql "$base/$db" 2>/dev/null \
    | awk '/^tps/ {print $3; exit}')
ceiling=$(python3 -c "print(round($tps * $rows))")
ratio=$(python3 -c "print(f'{$rate / ($tps * $rows):.2f}')")
echo
echo "| measure | value |"
echo "| --- | ---: |"
echo "| relay on PostgreSQL, delivered messages/s | $rate |"
echo "| relay, messages per commit | $per_commit |"
echo "| pgbench, one client, $rows rows per transaction: transactions/s | $tps |"
echo "| pgbench insert ceiling, rows/s | $ceiling |"
echo "| ratio relay / ceiling | ${ratio}× (goal ≥ 0.5×) |"

# 3. The write path alone: Storage::commit_messages with one writer at the
#    relay's 435 per commit, and pgbench again in the same run.
echo
echo "The write path alone (server/benches/commit.rs):"
SAMTALE_TEST_DATABASE_URL="$admin" cargo bench -q -p samtale-server --bench commit -- --rows "$rows"
