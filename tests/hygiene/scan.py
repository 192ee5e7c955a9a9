#!/usr/bin/env python3
"""The hygiene scanner: nothing sensitive in what the test suite's servers
wrote (issue 13).

    python3 tests/hygiene/scan.py DIR [--repo ROOT]

DIR is what the suites left behind with SAMTALE_TEST_ARTIFACTS=DIR (see
server/tests/support/artifacts.rs): every server log (DIR/logs/*.log),
every SQLite database with its write-ahead log and shared-memory index,
every PostgreSQL test database (DIR/postgres/*.sql, from pg_dump; the
bytea columns, which pg_dump writes as hex, are decoded and scanned too),
and the rest of the servers' data directories. It looks for

  cpr            a Danish CPR-like number: DDMMYY-XXXX, or ten digits that
                 start with a valid date
  personnummer   a Swedish personnummer-like number: (YY)YYMMDD-XXXX,
                 (YY)YYMMDDXXXX or YYMMDD+XXXX with a valid date (day + 60
                 for a samordningsnummer) and a valid Luhn check digit
  canary         the canary markers of the test suites (CANARY_MARKERS),
                 raw, in hex or in base64
  jwt            a JSON Web Token (eyJ….eyJ….…)
  refresh-token  a refresh token (srt_…, server/src/auth.rs)
  private-key    a PEM private key block
  server-key     the contents of a server key file found in DIR (keys/*.key:
                 base64 as stored, URL-safe base64, hex, or the raw bytes)
  enrolment-code an enrolment code from an enrolment-code file in DIR
  password       a password or passphrase the tests use (read from the
                 test code under ROOT: PASSWORD_SOURCES)

and prints each finding as FILE:OFFSET: KIND: a redacted excerpt, then one
line of figures. Fixed strings are searched with grep -F (all at once);
the rest needs nothing beyond Python's standard library. Exit status: 0 when nothing is found, 1 with findings, 2
when there is nothing to scan (a scan of nothing proves nothing).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import mmap
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# The markers server/tests/canaries.rs sends through every path as
# plaintext (`fn marker`); test_scan.py checks that every marker in the
# test code is listed here.
CANARY_MARKERS = [b"KANARIE"]

# Where the tests' passwords are written down (relative to the repository).
PASSWORD_SOURCES = ["server/tests", "client-cli/tests", "tests/src", "tests/tests"]

# Passwords used by the suites in ways the patterns below cannot see.
EXTRA_PASSWORDS = [b"topsecret"]

# Files that hold the secrets themselves (read as needles, not scanned).
KEY_FILE = re.compile(r"(^|/)keys/[^/]+\.key$")
ENROLMENT_FILE = "enrolment-code"

# ------------------------------------------------------------------ patterns

# Ten digits, or six and four around a dash or plus (twelve with a
# century); the boundaries are checked on each candidate (see
# `bounded`): neither a letter nor a digit on either side, nor the
# fraction of a decimal number before.
NATIONAL_ID = re.compile(rb"(?:19|20)?[0-9]{6}[-+]?[0-9]{4}")
NATIONAL_ID_PARTS = re.compile(rb"((?:19|20)?)([0-9]{6})([-+]?)([0-9]{4})")
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{2,}\.eyJ[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*")
REFRESH_TOKEN = re.compile(rb"srt_[A-Za-z0-9_-]{20,}")
PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
# Runs of base64 (either alphabet) or hex: a server key's text form is a
# whole run of 43 to 64 characters, looked up in a set.
TOKEN_RUN = re.compile(rb"[A-Za-z0-9+/=_-]{43,}")
ALNUM = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
# pg_dump writes bytea as \\x followed by hex.
PG_BYTEA = re.compile(rb"\\\\x((?:[0-9a-f]{2})+)")

DAYS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def valid_day_month(day: int, month: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= DAYS[month - 1]


def luhn_ok(digits: bytes) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = c - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def national_id_kinds(century: bytes, six: bytes, sep: bytes, four: bytes) -> list[str]:
    """Which national-id shapes a candidate has (none for most numbers)."""
    kinds = []
    # Danish CPR: DDMMYY-XXXX or DDMMYYXXXX (no century, no plus).
    if not century and sep in (b"", b"-"):
        if valid_day_month(int(six[0:2]), int(six[2:4])):
            kinds.append("cpr")
    # Swedish personnummer: (YY)YYMMDD, a check digit over YYMMDDXXX.
    day, month = int(six[4:6]), int(six[2:4])
    if day > 60:
        day -= 60  # samordningsnummer
    if valid_day_month(day, month) and luhn_ok(six + four):
        kinds.append("personnummer")
    return kinds


def forms(needle: bytes, encodings: bool) -> list[bytes]:
    """The needle, and with `encodings` its hex and base64 forms (standard
    and URL-safe, at each of the three byte alignments)."""
    out = [needle]
    if not encodings:
        return out
    out += [binascii.hexlify(needle), binascii.hexlify(needle).upper()]
    for start in range(3):
        part = needle[start:]
        part = part[: len(part) - len(part) % 3]
        if len(part) < 6:
            continue
        std = base64.b64encode(part)
        out += [std, base64.urlsafe_b64encode(part)]
    return list(dict.fromkeys(out))


# -------------------------------------------------------------- the needles


def test_passwords(repo: Path) -> list[bytes]:
    """The passwords and passphrases written in the test code."""
    patterns = [
        # const PASSWORD: &str = "…"; const STAFF_PASSWORD…; PASSPHRASE; SECRET
        re.compile(r'const [A-Z_]*(?:PASSWORD|PASSPHRASE|SECRET)[A-Z_]*: &str = "([^"]+)"'),
        # "password": "…", "new_password": "…", "current_password": "…"
        re.compile(r'"(?:[a-z_]*password|passphrase)"\s*:\s*"([^"]+)"'),
        # let password = "…";
        re.compile(r'let [a-z_]*(?:password|passphrase)[a-z_]* = "([^"]+)"'),
        # .env("SAMTALE_PASSWORD", "…")
        re.compile(r'"SAMTALE_[A-Z_]*(?:PASSWORD|PASSPHRASE)", "([^"]+)"'),
    ]
    found: set[bytes] = set(EXTRA_PASSWORDS)
    for source in PASSWORD_SOURCES:
        root = repo / source
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix not in (".rs", ".py") or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            for p in patterns:
                for m in p.finditer(text):
                    value = m.group(1)
                    # Short values are field names and placeholders, not secrets.
                    if len(value) >= 8 and "{" not in value:
                        found.add(value.encode())
    return sorted(found)


@dataclass
class Needles:
    # literal bytes -> kind
    literals: dict[bytes, str] = field(default_factory=dict)
    # server key tokens (every text form) and raw key bytes
    key_tokens: set[bytes] = field(default_factory=set)
    # raw key bytes, by the data directory holding the key file (they can
    # only be in that directory's database: a log is text)
    key_raw: dict[str, list[bytes]] = field(default_factory=dict)
    key_files: int = 0
    enrolment_files: int = 0
    passwords: int = 0


def key_forms(raw: bytes) -> list[bytes]:
    std = base64.b64encode(raw)
    url = base64.urlsafe_b64encode(raw)
    return [std, std.rstrip(b"="), url.rstrip(b"="), raw.hex().encode(), raw.hex().upper().encode()]


def collect_needles(root: Path, repo: Path | None) -> Needles:
    n = Needles()
    for marker in CANARY_MARKERS:
        n.literals[marker] = "canary"
        # A marker is followed by hex digits (server/tests/canaries.rs): with
        # each possible next byte, every base64 alignment has a full group.
        for after in b"0123456789abcdef":
            for f in forms(marker + bytes([after]), encodings=True)[1:]:
                n.literals[f] = "canary"
    if repo is not None:
        for password in test_passwords(repo):
            n.passwords += 1
            for f in forms(password, encodings=True):
                n.literals.setdefault(f, "password")
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(root).as_posix()
        if KEY_FILE.search(rel):
            text = path.read_bytes().strip()
            try:
                raw = base64.b64decode(text, validate=True)
            except binascii.Error:
                raw = b""
            n.key_files += 1
            n.key_tokens.update([text] + (key_forms(raw) if raw else []))
            if len(raw) >= 16:
                data_dir = rel.rsplit("keys/", 1)[0]
                n.key_raw.setdefault(data_dir, []).append(raw)
        elif path.name == ENROLMENT_FILE:
            code = path.read_bytes().strip()
            if len(code) >= 8:
                n.enrolment_files += 1
                n.literals[code] = "enrolment-code"
    return n


# ---------------------------------------------------------------- scanning


@dataclass
class Finding:
    path: str
    offset: int
    kind: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.path}:{self.offset}: {self.kind}: {self.excerpt}"


def redact(match: bytes) -> str:
    text = match.decode("ascii", errors="replace")
    if len(text) <= 6:
        return f"{text[:2]}… ({len(text)} bytes)"
    return f"{text[:4]}…{text[-2:]} ({len(text)} bytes)"


def bounded(data, start: int, end: int) -> bool:
    """No letter or digit right before or after, and not the fraction of a
    decimal number."""
    if start > 0 and data[start - 1] in ALNUM:
        return False
    if start > 1 and data[start - 1] == 0x2E and 0x30 <= data[start - 2] <= 0x39:
        return False
    return end >= len(data) or data[end] not in ALNUM


def grep_literals(literals: dict[bytes, str], path: Path | None = None, data: bytes = b""):
    """(offset, literal) of every literal needle in a file or in `data`,
    with grep's fixed-string search (Aho-Corasick: one pass for all)."""
    if not literals:
        return
    with tempfile.NamedTemporaryFile("wb", suffix=".needles") as f:
        f.write(b"\n".join(literals) + b"\n")
        f.flush()
        args = ["grep", "-F", "-a", "-b", "-o", "-f", f.name, "--", str(path) if path else "-"]
        run = subprocess.run(
            args,
            input=None if path else data,
            capture_output=True,
            env={**os.environ, "LC_ALL": "C"},
            check=False,
        )
    if run.returncode > 1:
        raise OSError(f"grep failed ({run.returncode}): {run.stderr.decode(errors='replace')}")
    for line in run.stdout.split(b"\n"):
        if line:
            offset, _, literal = line.partition(b":")
            yield int(offset), literal


def scan_bytes(data, where: str, needles: Needles, path: Path | None = None) -> list[Finding]:
    """Every finding in `data` (bytes or an mmap of `path`); `where` is the
    path relative to the artifacts directory."""
    out: list[Finding] = []
    for m in NATIONAL_ID.finditer(data):
        if not bounded(data, m.start(), m.end()):
            continue
        parts = NATIONAL_ID_PARTS.fullmatch(m.group(0))
        for kind in national_id_kinds(*parts.groups()) if parts else []:
            out.append(Finding(where, m.start(), kind, redact(m.group(0))))
    for kind, pattern in (
        ("jwt", JWT),
        ("refresh-token", REFRESH_TOKEN),
        ("private-key", PRIVATE_KEY),
    ):
        for m in pattern.finditer(data):
            out.append(Finding(where, m.start(), kind, redact(m.group(0))))
    if needles.key_tokens:
        for m in TOKEN_RUN.finditer(data):
            run = m.group(0)
            if len(run) <= 66 and (run in needles.key_tokens or run.rstrip(b"=") in needles.key_tokens):
                out.append(Finding(where, m.start(), "server-key", redact(run)))
    own = [raw for d, keys in needles.key_raw.items() if where.startswith(d) for raw in keys]
    for raw in own:
        at = data.find(raw)
        while at != -1:
            out.append(Finding(where, at, "server-key", "(raw key bytes)"))
            at = data.find(raw, at + 1)
    for offset, literal in grep_literals(needles.literals, path=path, data=b"" if path else bytes(data)):
        out.append(Finding(where, offset, needles.literals.get(literal, "literal"), redact(literal)))
    return out


def sqlite_values(path: Path):
    """Every text and blob value of every table of a SQLite database (its
    write-ahead log included), as (table.column, bytes): scanned one by one,
    a value's own edges are the boundaries a raw scan of the file lacks
    (there, the byte before a text can be any letter)."""
    # Read-only; without a write-ahead log also immutable, so that reading
    # creates no -wal or -shm file in the artifacts.
    wal = Path(f"{path}-wal")
    mode = "mode=ro" if wal.exists() and wal.stat().st_size > 0 else "mode=ro&immutable=1"
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    except sqlite3.Error as e:
        raise OSError(f"{path}: {e}") from e
    try:
        for table in tables:
            cursor = con.execute(f'SELECT * FROM "{table}"')
            columns = [d[0] for d in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row):
                    if isinstance(value, str):
                        yield f"{table}.{column}", value.encode()
                    elif isinstance(value, bytes):
                        yield f"{table}.{column}", value
    finally:
        con.close()


def scan_values(values: list[tuple[str, bytes]], rel: str, needles: Needles) -> list[Finding]:
    """Scans values one by one (in one pass: joined with separators that
    are boundaries to every pattern); a finding names its column."""
    if not values:
        return []
    sep = b"\0\n"
    starts, chunks, at = [], [], 0
    for _, value in values:
        starts.append(at)
        chunks.append(value)
        at += len(value) + len(sep)
    out = []
    for finding in scan_bytes(sep.join(chunks), rel, needles):
        i = bisect.bisect_right(starts, finding.offset) - 1
        finding.path = f"{rel} ({values[i][0]})"
        finding.offset -= starts[i]
        out.append(finding)
    return out


NUMERIC_TYPES = ("bigint", "integer", "smallint", "numeric", "double precision", "real")
CREATE_TABLE = re.compile(rb"^CREATE TABLE ([\w.]+) \((.*?)\n\);", re.S | re.M)
COPY_HEADER = re.compile(rb"^COPY ([\w.]+) \(([^)]*)\) FROM stdin;\n", re.M)


def numeric_fields(dump) -> list[tuple[int, int, set[int]]]:
    """For each COPY block of a pg_dump: (start, end, indices of the
    columns the schema declares numeric). A Unix time in seconds (a
    `bigint` column) is ten digits that often start with a valid date:
    numbers are not where a national id is kept, so those fields are not
    read as one."""
    numeric: dict[bytes, set[bytes]] = {}
    for m in CREATE_TABLE.finditer(dump):
        cols = set()
        for line in m.group(2).split(b"\n"):
            parts = line.strip().rstrip(b",").split(b" ", 1)
            if len(parts) == 2 and parts[1].decode().startswith(NUMERIC_TYPES):
                cols.add(parts[0])
        numeric[m.group(1)] = cols
    blocks = []
    for m in COPY_HEADER.finditer(dump):
        columns = [c.strip() for c in m.group(2).split(b",")]
        # From the header's own newline: an empty table's block is just "\.".
        end = dump.find(b"\n\\.\n", m.end() - 1)
        indices = {i for i, c in enumerate(columns) if c in numeric.get(m.group(1), set())}
        blocks.append((m.end(), len(dump) if end == -1 else end, indices))
    return blocks


def in_numeric_field(dump, blocks, offset: int) -> bool:
    for start, end, indices in blocks:
        if start <= offset < end and indices:
            newline = dump.rfind(b"\n", start, offset)
            line_start = start if newline == -1 else newline + 1
            return dump[line_start:offset].count(b"\t") in indices
    return False


def kind_of(rel: str, head: bytes) -> str:
    if rel.endswith(".log"):
        return "log"
    if rel.endswith(".sql"):
        return "postgres dump"
    if head.startswith(b"SQLite format 3\0") or re.search(r"\.db(-wal|-shm|-journal)?$", rel):
        return "sqlite"
    return "other"


@dataclass
class Figures:
    files: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    databases_read: int = 0
    values_read: int = 0


def scan(root: Path, needles: Needles) -> tuple[list[Finding], Figures]:
    findings: list[Finding] = []
    figures = Figures()
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        rel = path.relative_to(root).as_posix()
        if KEY_FILE.search(rel) or path.name == ENROLMENT_FILE:
            continue
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(16)
            kind = kind_of(rel, head)
            figures.files[kind] = figures.files.get(kind, 0) + 1
            figures.bytes[kind] = figures.bytes.get(kind, 0) + size
            if size == 0:
                continue
            f.seek(0)
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                findings += scan_bytes(data, rel, needles, path=path)
                if kind == "sqlite" and head.startswith(b"SQLite format 3\0"):
                    figures.databases_read += 1
                    values = list(sqlite_values(path))
                    figures.values_read += len(values)
                    findings += scan_values(values, rel, needles)
                if kind == "postgres dump":
                    blocks = numeric_fields(data)
                    findings = [
                        f
                        for f in findings
                        if not (
                            f.path == rel
                            and f.kind in ("cpr", "personnummer")
                            and in_numeric_field(data, blocks, f.offset)
                        )
                    ]
                    values = [("bytea", binascii.unhexlify(m.group(1))) for m in PG_BYTEA.finditer(data)]
                    findings += scan_values(values, rel, needles)
    return findings, figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dir", type=Path, help="the SAMTALE_TEST_ARTIFACTS directory")
    parser.add_argument(
        "--repo",
        type=Path,
        default=Path(__file__).resolve().parents[2],
        help="the repository, for the tests' passwords (default: this script's)",
    )
    args = parser.parse_args(argv)
    if not args.dir.is_dir():
        print(f"scan.py: {args.dir} is not a directory", file=sys.stderr)
        return 2
    needles = collect_needles(args.dir, args.repo)
    findings, figures = scan(args.dir, needles)
    for finding in findings:
        print(finding)
    total_files = sum(figures.files.values())
    total_bytes = sum(figures.bytes.values())
    by_kind = ", ".join(
        f"{figures.files[k]} {k} ({figures.bytes[k] / 1e6:.1f} MB)" for k in sorted(figures.files)
    )
    print(
        f"hygiene: {total_files} files, {total_bytes / 1e6:.1f} MB scanned ({by_kind}; "
        f"{figures.databases_read} SQLite databases also read value by value, "
        f"{figures.values_read} values); "
        f"needles: {len(CANARY_MARKERS)} canary marker(s), {needles.passwords} test passwords, "
        f"{needles.key_files} server key files, {needles.enrolment_files} enrolment codes; "
        f"findings: {len(findings)}"
    )
    if total_files == 0 or figures.files.get("log", 0) == 0:
        print("hygiene: nothing (or no log) to scan: a scan of nothing proves nothing", file=sys.stderr)
        return 2
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
