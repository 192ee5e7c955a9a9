#!/usr/bin/env bash
# Instruction counts per operation under valgrind's callgrind: deterministic,
# so they confirm the criterion ratios on a noisy shared machine.
#
#   scripts/bench-instructions.sh [iterations]     (default 20)
#
# For each operation: (instructions for N runs - instructions for the
# baseline with the same fixtures) / N. Prints a Markdown table with the same
# recipe as the "X25519, Ed25519 and AEAD only" table of bench-report.py.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)" >&2; exit 2; }
cargo build --quiet --release -p samtale-protocol --example opcount
bin=target/release/examples/opcount
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

count() { # op iterations -> total instructions
    valgrind --tool=callgrind --callgrind-out-file="$out/$1.$2" "$bin" "$1" "$2" >/dev/null 2>"$out/log"
    awk '/^summary:/ {print $2}' "$out/$1.$2"
}

base=$(count baseline "$n")
declare -A per
ops=(seal_1KiB_3_holders open_1KiB open_grant x25519_keygen x25519_dh ed25519_sign_envelope
     ed25519_verify_envelope ed25519_verify_grant aead_seal_1280B aead_open_1280B aead_seal_32B aead_open_32B)
for op in "${ops[@]}"; do
    total=$(count "$op" "$n")
    per[$op]=$(( (total - base) / n ))
    printf '  %-26s %12d instructions\n' "$op" "${per[$op]}" >&2
done

sum() { local s=0; while [ $# -gt 0 ]; do s=$(( s + $1 * per[$2] )); shift 2; done; echo $s; }
row() { # op, then (count primitive) pairs
    local op=$1; shift
    local total; total=$(sum "$@")
    local ratio; ratio=$(awk -v a="${per[$op]}" -v b="$total" 'BEGIN { printf "%.2f", a / b }')
    printf '| %s | %d | %d | %s× |\n' "$op" "${per[$op]}" "$total" "$ratio"
}

echo "| operation | instructions | sum of primitives | ratio |"
echo "| --- | ---: | ---: | ---: |"
row seal_1KiB_3_holders 6 x25519_keygen 3 x25519_dh 3 aead_seal_32B 1 aead_seal_1280B 1 ed25519_sign_envelope
row open_1KiB 1 ed25519_verify_envelope 1 x25519_keygen 1 x25519_dh 1 aead_open_32B 1 aead_open_1280B
row open_grant 1 ed25519_verify_grant 2 x25519_keygen 1 x25519_dh 1 aead_open_32B
echo
echo "(valgrind callgrind, $n iterations each, baseline subtracted)"
