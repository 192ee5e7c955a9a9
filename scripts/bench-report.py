#!/usr/bin/env python3
"""Summarises the envelope benchmark: each operation's time next to the
summed time of the primitives it performs, measured in the same run.

Run after `cargo bench -p samtale-protocol --bench envelope`:

    python3 scripts/bench-report.py

Reads target/criterion/<group>/<bench>/new/estimates.json (median point
estimates, nanoseconds) and prints a Markdown table for docs/BENCHMARKS.md.
"""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1] / "target" / "criterion"

# The primitive work each operation performs (see docs/PROTOCOL.md §4, §6),
# counted two ways.
#
# STRICT counts only X25519, Ed25519 and ChaCha20-Poly1305 calls. It counts
# what the `hpke` crate (0.15) really does: Encap draws the ephemeral key with
# DeriveKeyPair (one base-point multiplication for pkE, discarded) and then
# recomputes pkE inside encap_with_eph (a second one), so a seal costs two
# X25519 base-point multiplications per holder; Decap recomputes pkR (one).
# What STRICT leaves out is HPKE's key schedule: about ten HMAC-SHA256 calls
# per Encap/Decap (LabeledExtract/LabeledExpand for the KEM shared secret,
# the key, the base nonce and the exporter secret), plus the protocol's own
# HKDF for the content key commitment.
STRICT = {
    "seal_1KiB_3_holders": {
        "x25519_keygen": 6,            # per holder: DeriveKeyPair(pkE) + encap's recomputed pkE
        "x25519_dh": 3,                # one DH per holder
        "aead_seal_32B": 3,            # the content key, sealed per holder
        "aead_seal_1280B": 1,          # the padded payload
        "ed25519_sign_envelope": 1,
    },
    "open_1KiB": {
        "ed25519_verify_envelope": 1,
        "x25519_keygen": 1,            # HPKE Decap recomputes the recipient public key
        "x25519_dh": 1,
        "aead_open_32B": 1,
        "aead_open_1280B": 1,
    },
    "open_grant": {
        "ed25519_verify_grant": 1,
        "x25519_keygen": 2,            # Decap's pkR, and the check of the granted key
        "x25519_dh": 1,
        "aead_open_32B": 1,
    },
}

# WITH_HPKE treats one HPKE single-shot seal/open of a 32-byte secret (KEM +
# key schedule + AEAD, exactly as the `hpke` crate runs it) as a primitive,
# so the ratio shows what the envelope format itself adds.
WITH_HPKE = {
    "seal_1KiB_3_holders": {
        "hpke_seal_32B": 3,
        "aead_seal_1280B": 1,
        "ed25519_sign_envelope": 1,
    },
    "open_1KiB": {
        "ed25519_verify_envelope": 1,
        "hpke_open_32B": 1,
        "aead_open_1280B": 1,
    },
    "open_grant": {
        "ed25519_verify_grant": 1,
        "hpke_open_32B": 1,
        "x25519_keygen": 1,            # the check that the granted key matches its public half
    },
}


def median_ns(group, name):
    path = ROOT / group / name / "new" / "estimates.json"
    try:
        return json.loads(path.read_text())["median"]["point_estimate"]
    except FileNotFoundError:
        sys.exit(f"{path} not found: run `cargo bench -p samtale-protocol --bench envelope` first")


def us(ns):
    return f"{ns / 1000:.1f} µs"


def table(title, recipes):
    print(f"### {title}")
    print()
    print("| operation | measured | primitives it uses | sum of primitives | ratio |")
    print("| --- | ---: | --- | ---: | ---: |")
    worst = 0.0
    for op, recipe in recipes.items():
        measured = median_ns("operation", op)
        parts = [f"{n}× {p} ({us(median_ns('primitive', p))})" for p, n in recipe.items()]
        total = sum(n * median_ns("primitive", p) for p, n in recipe.items())
        ratio = measured / total
        worst = max(worst, ratio)
        print(f"| {op} | {us(measured)} | {'; '.join(parts)} | {us(total)} | {ratio:.2f}× |")
    print()
    print(f"Worst ratio: {worst:.2f}× (goal: at most 1.20×)")
    print()


table("X25519, Ed25519 and AEAD only", STRICT)
table("HPKE single-shot counted as one primitive", WITH_HPKE)
