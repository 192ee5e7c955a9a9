#!/usr/bin/env bash
# Runs the fuzz targets (fuzz/fuzz_targets/) with libFuzzer on the installed
# nightly toolchain: the same instrumentation cargo-fuzz uses, without
# needing cargo-fuzz installed.
#
#   scripts/fuzz.sh                   # every target, 60 s each, two at a time
#   scripts/fuzz.sh 600               # every target, 10 minutes each
#   scripts/fuzz.sh 60 frame_parse    # one target
#
# New inputs that add coverage are merged into fuzz/corpus/<target>/ (commit
# the ones worth keeping: `cargo test` replays every corpus). A crash leaves
# its input in fuzz/artifacts/<target>/ and this script exits non-zero; turn
# it into a regression test by adding it to the corpus once fixed.
# Prints one line per target with its executions, for docs/SECURITY.md.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=()
    for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh needs the nightly toolchain: rustup toolchain install nightly" >&2
    exit 2
fi

host=$(rustc +nightly -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
# --target keeps the instrumentation off build scripts and proc macros.
cargo +nightly build --release --quiet --manifest-path fuzz/Cargo.toml --target "$host" \
    $(printf -- '--bin %s ' "${targets[@]}")
bin="fuzz/target/$host/release"

log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
run() {
    local target=$1
    mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
    local fresh="$log/$target.new"
    mkdir -p "$fresh"
    # New inputs go to a scratch directory; the committed corpus is read only.
    "$bin/$target" "$fresh" "fuzz/corpus/$target" -max_total_time="$seconds" \
        -max_len=140000 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$target/" >"$log/$target.log" 2>&1 || {
        echo "==> $target: CRASH (input in fuzz/artifacts/$target/)" >&2
        tail -n 40 "$log/$target.log" >&2
        return 1
    }
    # Keep only what adds coverage to the committed corpus.
    "$bin/$target" -merge=1 "fuzz/corpus/$target" "$fresh" >/dev/null 2>&1 || true
    local runs
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log/$target.log" | tail -n 1)
    echo "==> $target: ${runs:-?} executions in ${seconds} s, no crash; corpus $(ls "fuzz/corpus/$target" | wc -l) inputs"
}

# Two at a time: one per core.
status=0
pids=()
for target in "${targets[@]}"; do
    run "$target" & pids+=($!)
    if [ ${#pids[@]} -ge 2 ]; then
        wait "${pids[0]}" || status=1
        pids=("${pids[@]:1}")
    fi
done
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
[ $status -eq 0 ] && echo "fuzzing finished without a crash"
exit $status
