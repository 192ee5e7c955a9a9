#!/usr/bin/env bash
# Runs the fuzz targets with cargo-fuzz on the installed nightly toolchain.
#
#   scripts/fuzz.sh              # every target, 60 s each
#   scripts/fuzz.sh 600          # every target, 10 minutes each
#   scripts/fuzz.sh 60 frame_parse
#
# New interesting inputs land in fuzz/corpus/<target>/ (commit the ones worth
# keeping: `cargo test` replays the whole corpus). A crash leaves its input in
# fuzz/artifacts/<target>/ and this script exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(envelope_decode frame_parse)

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz.sh needs the nightly toolchain: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (once)"
    cargo install cargo-fuzz --locked
fi

for target in "${targets[@]}"; do
    echo "==> fuzzing $target for ${seconds}s"
    mkdir -p "fuzz/corpus/$target"
    cargo +nightly fuzz run "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len=140000 -timeout=10 -rss_limit_mb=4096
    # Keep the corpus small: only inputs that add coverage.
    cargo +nightly fuzz cmin "$target" "fuzz/corpus/$target"
done
echo "fuzzing finished without a crash"
