#!/usr/bin/env bash
# Reproduces every figure in docs/BENCHMARKS.md, section by section, on this
# machine (each section of the document names its own command; this runs
# them in order). Long: about half an hour on 2 cores. Needs PostgreSQL and
# NATS as in .ci/run, Chromium for the web app's figures, hyperfine for the
# everyday commands, valgrind for the instruction counts.
#
#   scripts/bench.sh                 every section
#   scripts/bench.sh cluster         only the sections of issue 17
set -euo pipefail
cd "$(dirname "$0")/.."
only=${1:-all}
pg=${SAMTALE_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}
nats=${SAMTALE_BENCH_NATS_URL:-nats://127.0.0.1:4222}
step() { printf '\n==> %s\n' "$*"; }
fresh_db() {
    local name=$1
    psql -q "$pg" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
    echo "${pg%/*}/$name"
}

cargo build --release -p samtale-server -p samtale-tests -p samtale-cli

if [ "$only" = all ]; then
    step "Envelope and grant cost (issue 2)"
    cargo bench -p samtale-protocol --bench envelope
    python3 scripts/bench-report.py
    scripts/bench-instructions.sh 20

    step "The relay under load, SQLite and PostgreSQL (issues 4 and 6)"
    taskset -c 1 target/release/loadgen relay --server-bin target/release/samtale-server --messages 60000
    taskset -c 1 target/release/loadgen relay --server-bin target/release/samtale-server --messages 60000 \
        --database-url "$(fresh_db samtale_bench_relay)"

    step "Everyday commands (issue 12)"
    cargo build --workspace --bins
    scripts/bench-cli.sh target/debug 18301 /tmp/samtale-bench-cli.json

    step "The web app (issues 14 and 15)"
    (cd web && npx vitest run --config bench/vitest.config.ts bench/typing.bench.ts)
    (cd web && SAMTALE_BENCH_RUST_CLI=../target/release/samtale \
        npx vitest run --config bench/vitest.config.ts bench/inbox.bench.ts)
fi

step "Across two nodes over NATS against one node (issue 17): saturated"
taskset -c 1 target/release/loadgen cross-node --server-bin target/release/samtale-server \
    --database-url "$(fresh_db samtale_bench_cross1)" --nats-url "$nats" --messages 20000
step "Across two nodes: light load (latency), both nodes on one core, then on two"
for second in 0 1; do
    taskset -c 1 target/release/loadgen cross-node --server-bin target/release/samtale-server \
        --database-url "$(fresh_db samtale_bench_cross2_$second)" --nats-url "$nats" \
        --pairs 4 --window 1 --messages 4000 --second-cpu "$second"
done

step "Durable throughput on PostgreSQL against pgbench's insert ceiling (issue 17)"
scripts/bench-durable.sh "$pg"

step "Backlog drain: 1,000 and 10,000 queued messages (issue 17)"
taskset -c 1 target/release/loadgen backlog --server-bin target/release/samtale-server \
    --database-url "$(fresh_db samtale_bench_backlog)"

step "Connections one node holds, and memory per connection (issue 17)"
taskset -c 1 target/release/loadgen connections --server-bin target/release/samtale-server
