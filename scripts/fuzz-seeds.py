#!/usr/bin/env python3
"""Seeds the fuzz corpora (fuzz/corpus/<target>/) from the protocol's test
vectors and a few hand-written REST bodies, journal documents and ID-token
claims, so that fuzzing starts from valid inputs instead of noise.

    python3 scripts/fuzz-seeds.py

Each seed is named by its SHA-1, like libFuzzer's own corpus entries, so
running this twice adds nothing new.
"""
import base64
import glob
import hashlib
import json
import os
import re

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
VECTORS = os.path.join(ROOT, "protocol", "tests", "vectors")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

# The first byte of a signed_objects input picks the decoder.
SELECTOR = {
    "certificate": 0, "signer_certificate": 0,
    "grant": 1,
    "record": 2,
    "holder_key_record": 3,
    "receipt": 4,
    "payload": 5,
    "blob": 6,
}


def walk(node, key=""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from walk(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v, key)
    elif isinstance(node, str):
        yield key, node


def decode(text):
    if re.fullmatch(r"(?:[0-9a-f]{2})+", text):
        return bytes.fromhex(text)
    if re.fullmatch(r"[A-Za-z0-9_-]+", text):
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return None


def save(target, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def main():
    for path in sorted(glob.glob(os.path.join(VECTORS, "*.json"))):
        with open(path) as f:
            doc = json.load(f)
        for key, text in walk(doc):
            if key in SELECTOR and len(text) >= 16:
                data = decode(text)
                if key == "payload" and data is None:
                    data = text.encode()
                if data:
                    save("signed_objects", bytes([SELECTOR[key]]) + data)
            if key in ("envelope", "envelope_base64url"):
                data = decode(text)
                if data:
                    save("envelope_decode", data)

    rest = [
        {"username": "mette", "password": "correct horse battery staple",
         "device": {"identity": "A" * 43, "agreement": "B" * 43}, "device_label": "Desk"},
        {"refresh_token": "r" * 43},
        {"national_id": "010203-1234", "display_name": "Maja", "team_id": "0193c0de-7c1a-7d2e-9f00-5b1e2f3a4b5c"},
        {"name": "Jobcenter"},
        {"username": "carl", "display_name": "Carl", "password": "a long passphrase", "roles": ["staff"]},
        {"current_password": "a long passphrase", "new_password": "another long one"},
        {"record": "AAAA"},
        {"journaled_days": 30, "unjournaled_days": 90},
        {"certificate": "AAAA"},
    ]
    for i, body in enumerate(rest):
        for selector in range(18):
            if selector % 3 == i % 3:
                save("rest_bodies", bytes([selector]) + json.dumps(body).encode())
    save("rest_bodies", bytes([17]) + json.dumps({"records": [{"record": "AAAA"}]}).encode())

    claims = {"iss": "https://broker", "aud": "samtale", "sub": "s1", "exp": 1700000600,
              "iat": 1700000000, "nonce": "nonce", "acr": "https://data.gov.dk/concept/core/nsis/loa/Substantial",
              "cpr": "0102031234"}
    save("id_token_claims", json.dumps(claims).encode())
    save("id_token_claims", json.dumps({**claims, "acr": "low", "nbf": 1800000000}).encode())

    journal = {"format": "samtale-journal/1", "subject": "Jobcenter — case 27.12.04-A00-1-25",
               "case": {}, "organisation": {}, "team": {}, "messages": [], "removed": []}
    save("journal_json", json.dumps(journal).encode())
    examples = glob.glob(os.path.join(ROOT, "client-cli", "tests", "snapshots", "*.json"))
    for path in examples:
        with open(path, "rb") as f:
            data = f.read()
        if b"samtale-journal/1" in data:
            save("journal_json", data)


if __name__ == "__main__":
    main()
