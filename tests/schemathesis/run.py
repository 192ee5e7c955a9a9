#!/usr/bin/env python3
"""Runs schemathesis (every check) against /openapi.json of a real server.

    python tests/schemathesis/run.py target/debug/samtale-server [max-examples]

With SAMTALE_SCHEMATHESIS_DATABASE_URL set (an empty PostgreSQL database),
the server runs on it; otherwise on SQLite. Starts the server on a fresh data directory, registers an
organisation with the printed enrolment code, creates a staff member with
every role and logs in, then runs schemathesis twice: with that member's
access token (operations that would end the token's own session excluded,
they are covered without auth and by the Rust tests) and without any token.
Exits non-zero on any failure.
"""

import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, x25519

HERE = os.path.dirname(os.path.abspath(__file__))
RAW = dict(encoding=serialization.Encoding.Raw, format=serialization.PublicFormat.Raw)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def device() -> dict:
    identity = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(**RAW)
    agreement = x25519.X25519PrivateKey.generate().public_key().public_bytes(**RAW)
    return {"identity": b64(identity), "agreement": b64(agreement)}


def uuid_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace("-", ""))


def team_record(root_key, team_id: str, account_id: str) -> bytes:
    """Record 0 of a team's member list: the root adds a staff account."""
    body = bytes([0x04, 1, 1]) + uuid_bytes(team_id) + (0).to_bytes(8, "big") + bytes(32)
    body += bytes([1, 0x02]) + uuid_bytes(account_id) + int(time.time()).to_bytes(8, "big")
    body += root_key.public_key().public_bytes(**RAW)
    return body + root_key.sign(b"samtale/v1/membership\0" + body)


def call(base, method, path, body=None, token=None):
    request = urllib.request.Request(base + path, method=method)
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def main() -> int:
    binary = os.path.abspath(sys.argv[1])
    examples = sys.argv[2] if len(sys.argv) > 2 else "30"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    data = tempfile.mkdtemp(prefix="samtale-schemathesis-")
    args = [binary, "--listen", f"127.0.0.1:{port}", "--data-dir", data, "--log", "warn"]
    database = os.environ.get("SAMTALE_SCHEMATHESIS_DATABASE_URL")
    if database:
        args += ["--database-url", database]
    print(f"==> server on {'PostgreSQL' if database else 'SQLite'}", flush=True)
    server = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        # Its output is a pipe, not a terminal: the server writes the
        # enrolment code to a 0600 file in the data directory and prints
        # the file's path.
        code = None
        code_file = os.path.join(data, "enrolment-code")
        for line in server.stdout:
            if code_file in line:
                with open(code_file) as f:
                    code = f.read().strip()
                break
        if not code:
            print("the server wrote no enrolment code file", file=sys.stderr)
            return 1
        for _ in range(100):
            try:
                call(base, "GET", "/readyz")
                break
            except OSError:
                time.sleep(0.1)

        root_key = ed25519.Ed25519PrivateKey.generate()
        root = root_key.public_key().public_bytes(**RAW)
        boot = call(base, "POST", "/v1/bootstrap", {
            "enrolment_code": code, "organisation_name": "Schemathesis Kommune",
            "root_public_key": b64(root), "username": "admin", "display_name": "Admin",
            "password": "correct horse battery staple", "device": device(), "device_label": "Admin",
        })
        admin = boot["tokens"]["access_token"]
        team = call(base, "POST", "/v1/teams", {"name": "Team"}, admin)
        staff = call(base, "POST", "/v1/staff", {
            "username": "tester", "display_name": "Tester", "password": "another long passphrase",
            "roles": ["staff", "record_clerk", "admin"],
        }, admin)
        # The root signs the tester into the team (PROTOCOL.md §7, log 1).
        call(base, "POST", f"/v1/teams/{team['team_id']}/member-log", {
            "record": b64(team_record(root_key, team["team_id"], staff["account_id"])),
        }, admin)
        tester = call(base, "POST", "/v1/sessions", {
            "username": "tester", "password": "another long passphrase",
            "device": device(), "device_label": "Schemathesis",
        })["access_token"]

        st = os.path.join(os.path.dirname(sys.executable), "st")
        common = [st, "--config-file", os.path.join(HERE, "schemathesis.toml"), "run",
                  f"{base}/openapi.json", "--checks", "all", "--max-examples", examples,
                  "--seed", os.environ.get("SAMTALE_SCHEMATHESIS_SEED", "20261122")]
        authed = common + [
            "-H", f"Authorization: Bearer {tester}",
            # These end the token's own session or device; they run unauthenticated below.
            "--exclude-path", "/v1/sessions/current",
            "--exclude-path", "/v1/devices/{device}",
            "--exclude-path", "/v1/staff/{account}/disable",
        ]
        print("==> schemathesis, authenticated as a member with every role", flush=True)
        first = subprocess.run(authed).returncode
        print("==> schemathesis, without credentials", flush=True)
        second = subprocess.run(common).returncode
        return first or second
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
