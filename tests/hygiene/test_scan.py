"""The hygiene scanner's positive controls: each kind of secret, planted in
each kind of file the suites leave behind, is found; look-alikes that are
not secrets are not; and the scanner knows the suites' canaries and
passwords.

    python3 -m unittest tests/hygiene/test_scan.py
"""

from __future__ import annotations

import base64
import io
import re
import sqlite3
import sys
import tempfile
import unittest
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import scan  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

KEY = bytes(range(32))
KEY_TEXT = base64.b64encode(KEY)
JWT = b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
REFRESH = b"srt_" + base64.urlsafe_b64encode(bytes(range(100, 132))).rstrip(b"=")
PEM = b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"
CANARY = b"KANARIE00112233445566778899aabbccddeeff"
ENROLMENT = b"K7QX-2M9P-WD4T-8HJR-ZC3N"
PASSWORD = b"correct horse battery staple"


def luhn_digit(nine: bytes) -> bytes:
    for d in b"0123456789":
        if scan.luhn_ok(nine + bytes([d])):
            return bytes([d])
    raise AssertionError


class Artifacts:
    """A directory shaped like SAMTALE_TEST_ARTIFACTS."""

    def __init__(self) -> None:
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        keys = self.root / "relay-abc" / "data" / "keys"
        keys.mkdir(parents=True)
        (keys / "token.key").write_bytes(KEY_TEXT)
        (self.root / "relay-abc" / "data" / "enrolment-code").write_bytes(ENROLMENT + b"\n")
        (self.root / "logs").mkdir()
        self.write("logs/clean.log", b'{"level":"INFO","message":"listening"}\n')

    def write(self, rel: str, data: bytes) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def findings(self) -> list[scan.Finding]:
        needles = scan.collect_needles(self.root, REPO)
        return scan.scan(self.root, needles)[0]

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings()}

    def close(self) -> None:
        self.tmp.cleanup()


class PlantedSecrets(unittest.TestCase):
    def setUp(self) -> None:
        self.a = Artifacts()

    def tearDown(self) -> None:
        self.a.close()

    def assert_found(self, data: bytes, kind: str, where: str = "logs/planted.log") -> None:
        self.a.write(where, b'{"level":"DEBUG","message":"x ' + data + b' y"}\n')
        found = [f for f in self.a.findings() if f.path.startswith(where)]
        self.assertIn(kind, {f.kind for f in found}, f"{data!r} in {where}: {found}")
        # The report never repeats a secret whole.
        for f in found:
            self.assertNotIn(data.decode("latin-1"), str(f))

    def test_a_clean_artifacts_directory_has_no_findings(self) -> None:
        self.assertEqual(self.a.findings(), [])

    def test_a_cpr_number_with_a_dash_is_found(self) -> None:
        self.assert_found(b"cpr 140114-4444", "cpr")

    def test_ten_digits_starting_with_a_valid_date_are_found(self) -> None:
        self.assert_found(b"id=0707614285,", "cpr")

    def test_a_swedish_personnummer_in_each_shape_is_found(self) -> None:
        nine = b"900101001"
        ten = nine + luhn_digit(nine)
        for shape in (b"19" + ten, b"19" + ten[:6] + b"-" + ten[6:], ten[:6] + b"-" + ten[6:],
                      ten[:6] + b"+" + ten[6:]):
            with self.subTest(shape=shape):
                self.assert_found(b"pnr " + shape, "personnummer")
        # A samordningsnummer: the day plus 60.
        nine = b"900161001"
        self.assert_found(b"sam " + nine + luhn_digit(nine), "personnummer")

    def test_the_canary_marker_is_found_raw_in_hex_and_in_base64(self) -> None:
        for encoded in (CANARY, CANARY.hex().encode(), base64.b64encode(b"x" + CANARY),
                        base64.urlsafe_b64encode(b"xy" + CANARY)):
            with self.subTest(encoded=encoded[:12]):
                self.assert_found(encoded, "canary")

    def test_a_jwt_is_found(self) -> None:
        self.assert_found(b"Bearer " + JWT, "jwt")

    def test_a_refresh_token_is_found(self) -> None:
        self.assert_found(REFRESH, "refresh-token")

    def test_a_pem_private_key_is_found(self) -> None:
        self.assert_found(PEM.replace(b"\n", b"\\n"), "private-key")

    def test_a_server_key_file_s_contents_are_found_in_every_form(self) -> None:
        for encoded in (KEY_TEXT, KEY_TEXT.rstrip(b"="), base64.urlsafe_b64encode(KEY).rstrip(b"="),
                        KEY.hex().encode(), KEY.hex().upper().encode()):
            with self.subTest(encoded=encoded[:8]):
                self.assert_found(encoded, "server-key")

    def test_the_enrolment_code_is_found(self) -> None:
        self.assert_found(ENROLMENT, "enrolment-code")

    def test_a_test_password_is_found_raw_and_in_base64(self) -> None:
        self.assert_found(PASSWORD, "password")
        self.assert_found(base64.b64encode(b"admin:" + PASSWORD), "password")

    def test_secrets_in_a_sqlite_database_and_its_wal_are_found(self) -> None:
        path = self.a.root / "relay-abc" / "data" / "samtale.db"
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (a TEXT, b BLOB)")
        db.execute("INSERT INTO t VALUES (?, ?)", ("070761-4285", KEY))
        db.commit()
        # Still in the write-ahead log: the database file has no rows yet.
        kinds = {(Path(f.path).name, f.kind) for f in self.a.findings()}
        self.assertIn(("samtale.db-wal", "server-key"), kinds)
        self.assertIn(("samtale.db (t.a)", "cpr"), kinds)
        self.assertIn(("samtale.db (t.b)", "server-key"), kinds)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        kinds = {(Path(f.path).name, f.kind) for f in self.a.findings()}
        self.assertIn(("samtale.db", "server-key"), kinds)
        self.assertIn(("samtale.db (t.a)", "cpr"), kinds)

    def test_secrets_in_a_postgres_dump_are_found_also_inside_bytea(self) -> None:
        dump = (
            b"COPY public.accounts (id, name, blob) FROM stdin;\n"
            b"1\tplain\t\\\\x" + (b"token " + JWT).hex().encode() + b"\n\\.\n"
        )
        self.a.write("postgres/relay-db.sql", dump)
        found = [f for f in self.a.findings() if f.path.startswith("postgres/")]
        self.assertEqual([(f.path, f.kind) for f in found],
                         [("postgres/relay-db.sql (bytea)", "jwt")])

    def test_a_unix_time_in_a_numeric_postgres_column_is_not_a_cpr_number(self) -> None:
        # 1804255347 is 2027-03-04 in Unix seconds, and 18 April 2025 as DDMMYY.
        dump = (
            b"CREATE TABLE public.empty (\n    a bigint,\n    b text\n);\n"
            b"CREATE TABLE public.sessions (\n    id text NOT NULL,\n"
            b"    expires_at bigint NOT NULL\n);\n"
            b"COPY public.empty (a, b) FROM stdin;\n\\.\n"
            b"COPY public.sessions (id, expires_at) FROM stdin;\n"
            b"s0\t1804255347\n"
            b"s1\t1804255347\n"
            b"1804255347\t1804255347\n"
            b"\\.\n"
        )
        self.a.write("postgres/relay-db.sql", dump)
        found = [(f.offset, f.kind) for f in self.a.findings()]
        # The same number in the text column is still reported.
        self.assertEqual(found, [(dump.index(b"1804255347\t1804255347"), "cpr")])

    def test_look_alikes_are_not_findings(self) -> None:
        clean = b" ".join([
            b'"id":"0b0d6a4e-4f1c-4e8a-9d3b-012345678901"',  # a UUID
            b'"elapsed_secs":0.1201905678',  # a fraction
            b'"at_ms":1733320000123',  # Unix milliseconds
            b'"at":1796000000',  # Unix seconds: month 96
            b'"n":3213991234',  # 32nd of a month
            b'"seq":1234567890123',  # thirteen digits
            b"key=" + base64.b64encode(bytes(range(50, 82))),  # another key
            b"eyJhbGciOiJIUzI1NiJ9.payload",  # half a JWT
            b"srt_short",
            b"KANARI",
        ])
        self.a.write("logs/clean2.log", clean + b"\n")
        self.assertEqual(self.a.findings(), [])

    def test_an_empty_directory_fails_the_scan(self) -> None:
        with tempfile.TemporaryDirectory() as empty, redirect_stdout(io.StringIO()), \
                redirect_stderr(io.StringIO()):
            self.assertEqual(scan.main([empty]), 2)

    def test_main_fails_on_a_finding_and_passes_when_clean(self) -> None:
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertEqual(scan.main([str(self.a.root)]), 0)
        self.assertIn("findings: 0", out.getvalue())
        self.a.write("logs/leak.log", b"Bearer " + JWT + b"\n")
        out = io.StringIO()
        with redirect_stdout(out):
            self.assertEqual(scan.main([str(self.a.root)]), 1)
        self.assertIn("logs/leak.log:7: jwt:", out.getvalue())


class KnowsTheSuites(unittest.TestCase):
    def test_every_canary_marker_in_the_test_code_is_scanned_for(self) -> None:
        markers = set()
        for path in (REPO / "server" / "tests").rglob("*.rs"):
            text = path.read_text(encoding="utf-8")
            for body in re.findall(r"fn marker\(\)[^{]*\{(.*?)\n\}", text, re.S):
                markers.update(re.findall(r'format!\("([A-Z]{4,})\{', body))
        self.assertTrue(markers, "no canary marker found in the test code")
        self.assertLessEqual({m.encode() for m in markers}, set(scan.CANARY_MARKERS))

    def test_the_tests_passwords_are_read_from_the_test_code(self) -> None:
        passwords = set(scan.test_passwords(REPO))
        for known in (b"correct horse battery staple", b"a long keystore passphrase",
                      b"another long passphrase", b"a-long-random-shared-secret-for-the-gateway"):
            self.assertIn(known, passwords)
        # Field names and format strings are not passwords.
        self.assertNotIn(b"password", passwords)
        self.assertFalse([p for p in passwords if b"{" in p])


if __name__ == "__main__":
    unittest.main()
