#!/usr/bin/env python3
"""Independent check of docs/PROTOCOL.md against protocol/tests/vectors/.

Re-implements the envelope, grant, certificate, membership, receipt, holder
key and fingerprint formats from the specification alone, in Python, using
the `cryptography` package's primitives (X25519, Ed25519, ChaCha20-Poly1305,
HKDF, SHA-2). HPKE's key schedule (RFC 9180 §4-5, base mode) is composed here
from those primitives. Every object in the vectors is rebuilt byte for byte
(where it is deterministic) or opened and verified, so the document, the
vectors and the Rust crate are shown to agree.

Usage: python3 tests/interop/verify_vectors.py [VECTOR_DIR]
"""

import base64
import hashlib
import json
import pathlib
import struct
import sys

from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

ROOT = pathlib.Path(__file__).resolve().parents[2]
VECTORS = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "protocol/tests/vectors"

RAW = serialization.Encoding.Raw
RAW_PUB = serialization.PublicFormat.Raw
RAW_PRIV = serialization.PrivateFormat.Raw
NOENC = serialization.NoEncryption()

checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise SystemExit(f"FAIL: {what}")
    checks += 1


def h(s):
    return bytes.fromhex(s)


def uuid_bytes(s):
    return bytes.fromhex(s.replace("-", ""))


# ---------------------------------------------------------------- HKDF / HPKE

def hmac_sha256(key, data):
    m = hmac.HMAC(key, hashes.SHA256())
    m.update(data)
    return m.finalize()


def hkdf_extract(salt, ikm):
    return hmac_sha256(salt if salt else b"\0" * 32, ikm)


def hkdf_expand(prk, info, length):
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac_sha256(prk, t + info + bytes([i]))
        out += t
        i += 1
    return out[:length]


KEM_SUITE = b"KEM" + struct.pack(">H", 0x0020)
HPKE_SUITE = b"HPKE" + struct.pack(">HHH", 0x0020, 0x0001, 0x0003)


def labeled_extract(suite, salt, label, ikm):
    return hkdf_extract(salt, b"HPKE-v1" + suite + label + ikm)


def labeled_expand(suite, prk, label, info, length):
    return hkdf_expand(prk, struct.pack(">H", length) + b"HPKE-v1" + suite + label + info, length)


def x25519(sk_bytes, pk_bytes):
    shared = X25519PrivateKey.from_private_bytes(sk_bytes).exchange(X25519PublicKey.from_public_bytes(pk_bytes))
    check(shared != b"\0" * 32, "non-contributory X25519")
    return shared


def x25519_pub(sk_bytes):
    return X25519PrivateKey.from_private_bytes(sk_bytes).public_key().public_bytes(RAW, RAW_PUB)


def derive_keypair(ikm):
    prk = labeled_extract(KEM_SUITE, b"", b"dkp_prk", ikm)
    sk = labeled_expand(KEM_SUITE, prk, b"sk", b"", 32)
    return sk, x25519_pub(sk)


def kem_shared_secret(dh, enc, pk_r):
    prk = labeled_extract(KEM_SUITE, b"", b"eae_prk", dh)
    return labeled_expand(KEM_SUITE, prk, b"shared_secret", enc + pk_r, 32)


def key_schedule(shared_secret, info):
    psk_id_hash = labeled_extract(HPKE_SUITE, b"", b"psk_id_hash", b"")
    info_hash = labeled_extract(HPKE_SUITE, b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash
    secret = labeled_extract(HPKE_SUITE, shared_secret, b"secret", b"")
    key = labeled_expand(HPKE_SUITE, secret, b"key", context, 32)
    nonce = labeled_expand(HPKE_SUITE, secret, b"base_nonce", context, 12)
    return key, nonce


def hpke_seal(pk_r, info, aad, pt, ikm_e):
    sk_e, enc = derive_keypair(ikm_e)
    ss = kem_shared_secret(x25519(sk_e, pk_r), enc, pk_r)
    key, nonce = key_schedule(ss, info)
    return enc, ChaCha20Poly1305(key).encrypt(nonce, pt, aad)


def hpke_open(sk_r, enc, info, aad, ct):
    ss = kem_shared_secret(x25519(sk_r, enc), enc, x25519_pub(sk_r))
    key, nonce = key_schedule(ss, info)
    return ChaCha20Poly1305(key).decrypt(nonce, ct, aad)


def ed_pub(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(RAW, RAW_PUB)


def ed_sign(seed, context, msg):
    return Ed25519PrivateKey.from_private_bytes(seed).sign(context + b"\0" + msg)


def ed_verify(pub, context, obj):
    Ed25519PublicKey.from_public_bytes(pub).verify(obj[-64:], context + b"\0" + obj[:-64])
    return True


# ---------------------------------------------------------------- envelope

def verify_envelope():
    v = json.loads((VECTORS / "envelope.json").read_text())
    k = h(v["content_key"])
    okm = hkdf_expand(hkdf_extract(b"", k), b"samtale/v1/payload", 64)
    check(okm[:32].hex() == v["payload_key"], "payload key")
    check(okm[32:].hex() == v["key_commitment"], "key commitment")
    sender_seed = h(v["sender"]["ed25519_seed"])
    sender = ed_pub(sender_seed)
    check(sender.hex() == v["sender"]["ed25519_public_key"], "sender key")

    header = bytes([0x01, 1]) + uuid_bytes(v["thread_id"]) + uuid_bytes(v["message_id"]) + sender + okm[32:]
    header += bytes([len(v["recipients"])])
    for r in v["recipients"]:
        header += uuid_bytes(r["holder_id"]) + struct.pack(">I", r["epoch"])
    check(header.hex() == v["header"], "envelope header")

    body = header
    for r in v["recipients"]:
        check(x25519_pub(h(r["private_key"])).hex() == r["public_key"], "holder public key")
        enc, sealed = hpke_seal(h(r["public_key"]), b"samtale/v1/content-key", header, k, h(r["hpke_ikm_e"]))
        check(enc.hex() == r["enc"] and sealed.hex() == r["sealed_content_key"], "wrapped content key")
        body += enc + sealed

    payload = h(v["payload"])
    check(payload.decode() == v["payload_utf8"], "payload text")
    padded_len = (len(payload) // 256 + 1) * 256
    padded = payload + b"\x80" + b"\0" * (padded_len - len(payload) - 1)
    ct = ChaCha20Poly1305(okm[:32]).encrypt(b"\0" * 12, padded, header)
    check(ct.hex() == v["payload_ciphertext"], "payload ciphertext")
    body += struct.pack(">I", len(ct)) + ct
    sig = ed_sign(sender_seed, b"samtale/v1/envelope", body)
    check(sig.hex() == v["signature"], "envelope signature")
    envelope = body + sig
    check(envelope.hex() == v["envelope"], "whole envelope")

    # And open it as a recipient would, from the bytes alone.
    ed_verify(sender, b"samtale/v1/envelope", envelope)
    n = envelope[98]
    hdr_len = 99 + 20 * n
    for i, r in enumerate(v["recipients"]):
        at = hdr_len + 80 * i
        key = hpke_open(h(r["private_key"]), envelope[at:at + 32], b"samtale/v1/content-key",
                        envelope[:hdr_len], envelope[at + 32:at + 80])
        okm2 = hkdf_expand(hkdf_extract(b"", key), b"samtale/v1/payload", 64)
        check(okm2[32:] == envelope[66:98], "commitment on open")
        ct_at = hdr_len + 80 * n
        (length,) = struct.unpack(">I", envelope[ct_at:ct_at + 4])
        plain = ChaCha20Poly1305(okm2[:32]).decrypt(b"\0" * 12, envelope[ct_at + 4:ct_at + 4 + length], envelope[:hdr_len])
        end = len(plain.rstrip(b"\0")) - 1
        check(plain[end] == 0x80 and plain[:end] == payload, "opened payload")


# ---------------------------------------------------------------- grant

def verify_grant():
    v = json.loads((VECTORS / "grant.json").read_text())
    granter_seed = h(v["granter_ed25519_seed"])
    check(ed_pub(granter_seed).hex() == v["granter_ed25519_public_key"], "granter key")
    kinds = {"team": 1, "citizen": 2, "archive": 3}
    header = bytes([0x02, 1]) + uuid_bytes(v["holder_id"]) + bytes([kinds[v["holder_kind"]]])
    header += struct.pack(">I", v["epoch"]) + h(v["holder_public_key"]) + h(v["recipient_x25519_public_key"])
    header += ed_pub(granter_seed) + struct.pack(">Q", v["issued_at"])
    check(header.hex() == v["header"], "grant header")
    enc, sealed = hpke_seal(h(v["recipient_x25519_public_key"]), b"samtale/v1/grant", header,
                            h(v["holder_private_key"]), h(v["hpke_ikm_e"]))
    check(enc.hex() == v["enc"] and sealed.hex() == v["sealed_private_key"], "grant seal")
    body = header + enc + sealed
    sig = ed_sign(granter_seed, b"samtale/v1/grant", body)
    check((body + sig).hex() == v["grant"], "whole grant")
    secret = hpke_open(h(v["recipient_x25519_private_key"]), enc, b"samtale/v1/grant", header, sealed)
    check(x25519_pub(secret).hex() == v["holder_public_key"], "granted key matches")


# ---------------------------------------------------------------- certificate

def s16(text):
    b = text.encode()
    return struct.pack(">H", len(b)) + b


def verify_certificate():
    v = json.loads((VECTORS / "certificate.json").read_text())
    root_seed = h(v["root_ed25519_seed"])
    check(ed_pub(root_seed).hex() == v["root_ed25519_public_key"], "root key")
    body = bytes([0x03, 1]) + uuid_bytes(v["org_id"]) + s16(v["org_name"])
    body += h(v["device_ed25519_public_key"]) + h(v["device_x25519_public_key"])
    body += uuid_bytes(v["staff_id"]) + s16(v["staff_name"]) + bytes([v["roles"], len(v["teams"])])
    for t in v["teams"]:
        body += uuid_bytes(t["id"]) + s16(t["name"])
    body += struct.pack(">QQ", v["not_before"], v["not_after"])
    cert = body + ed_sign(root_seed, b"samtale/v1/device-certificate", body)
    check(cert.hex() == v["certificate"], "certificate")

    # Organisation fingerprint.
    digest = hashlib.sha256(b"samtale/v1/org-root-fingerprint\0" + ed_pub(root_seed)).digest()
    bits = int.from_bytes(digest[:16], "big") >> 3
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    chars = "".join(alphabet[(bits >> (5 * (24 - i))) & 31] for i in range(25))
    check("-".join(chars[i:i + 5] for i in range(0, 25, 5)) == v["root_fingerprint"], "org fingerprint")


# ---------------------------------------------------------------- safety number

def verify_safety_number():
    v = json.loads((VECTORS / "safety_number.json").read_text())

    def digits(stable_id, key):
        d = hashlib.sha512(b"samtale/v1/safety-number\0" + struct.pack(">Q", len(stable_id)) + stable_id + key).digest()
        for _ in range(5199):
            d = hashlib.sha512(d + key).digest()
        return "".join(f"{int.from_bytes(d[i:i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5))

    a = digits(h(v["a"]["stable_id"]), h(v["a"]["ed25519_public_key"]))
    b = digits(h(v["b"]["stable_id"]), h(v["b"]["ed25519_public_key"]))
    joined = min(a, b) + max(a, b)
    check(" ".join(joined[i:i + 5] for i in range(0, 60, 5)) == v["safety_number"], "safety number")


# ------------------------------------------------- membership, receipt, holder

def verify_membership_receipt_holder_key():
    v = json.loads((VECTORS / "membership_receipt_holder_key.json").read_text())
    head = b"\0" * 32
    members = []
    for i, r in enumerate(v["records"]):
        rec = h(r["record"])
        check(rec[:3] == bytes([0x04, 1, 3]) and rec[3:19] == h(v["subject"]), "record header")
        (seq,) = struct.unpack(">Q", rec[19:27])
        check(seq == i and rec[27:59] == head, "record link")
        op, kind, identity, agreement = rec[59], rec[60], rec[61:93], rec[93:125]
        check(kind == 1, "device member")
        signer = rec[133:165]
        ed_verify(signer, b"samtale/v1/membership", rec)
        if op == 1:
            members.append((identity, agreement))
        else:
            members.remove((identity, agreement))
        head = hashlib.sha256(b"samtale/v1/membership-hash\0" + rec).digest()
        check(head.hex() == r["hash"], "record hash")
    check([{"ed25519_public_key": i.hex(), "x25519_public_key": a.hex()} for i, a in members]
          == v["final_members"], "final members")

    receipt = h(v["receipt"])
    check(len(receipt) == 131 and receipt[:2] == bytes([0x06, 1]), "receipt layout")
    ed_verify(receipt[35:67], b"samtale/v1/receipt", receipt)
    holder = h(v["holder_key_record"])
    check(len(holder) == 175 and holder[:2] == bytes([0x05, 1]), "holder key record layout")
    ed_verify(holder[79:111], b"samtale/v1/holder-key", holder)


# ---------------------------------------------------------------- strict decoding
#
# PROTOCOL.md §1: a decoder refuses a wrong type byte, an unknown version,
# truncated input, bytes left over, a field out of range, an invalid key or
# an unknown enum value. `Refused.error` names which (as invalid.json does).

class Refused(Exception):
    def __init__(self, error, field=None):
        super().__init__(f"{error} {field or ''}")
        self.error, self.field = error, field


# The Ed25519 points of small order (RFC 8032 keys a verifier refuses).
SMALL_ORDER = {h(x) for x in [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]}
P25519 = 2 ** 255 - 19


class Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, n):
        if self.at + n > len(self.data):
            raise Refused("truncated")
        out = self.data[self.at:self.at + n]
        self.at += n
        return out

    def u8(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def u64(self):
        return struct.unpack(">Q", self.take(8))[0]

    def text(self, limit, field):
        raw = self.take(self.u16())
        if len(raw) > limit:
            raise Refused("invalid", field)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Refused("invalid", field)

    def header(self, kind):
        if self.u8() != kind:
            raise Refused("wrong_type")
        if self.u8() != 1:
            raise Refused("unsupported_version")

    def finish(self):
        if self.at != len(self.data):
            raise Refused("trailing_bytes")

    def ed_key(self, field):
        key = self.take(32)
        y = int.from_bytes(key, "little") & ((1 << 255) - 1)
        if key in SMALL_ORDER or y >= P25519:
            raise Refused("invalid", field)
        try:
            Ed25519PublicKey.from_public_bytes(key)
        except ValueError:
            raise Refused("invalid", field)
        return key

    def x_key(self, field):
        key = self.take(32)
        try:
            shared = X25519PrivateKey.from_private_bytes(b"\x5a" * 32).exchange(X25519PublicKey.from_public_bytes(key))
        except ValueError:
            raise Refused("invalid", field)
        if shared == b"\0" * 32:
            raise Refused("invalid", field)
        return key


def signed(pub, context, obj):
    try:
        return ed_verify(pub, context, obj)
    except Exception:
        raise Refused("bad_signature")


def decode_envelope(b):
    if len(b) > 67575:
        raise Refused("too_large")
    r = Reader(b)
    r.header(0x01)
    r.take(32)
    sender = r.ed_key("sender key")
    r.take(32)
    n = r.u8()
    if n == 0 or n > 16:
        raise Refused("invalid", "recipient count")
    recipients = [r.take(20) for _ in range(n)]
    if len(set(recipients)) != n:
        raise Refused("invalid", "duplicate recipient")
    r.take(80 * n)
    length = r.u32()
    if not (256 + 16 <= length <= 65792 + 16) or (length - 16) % 256:
        raise Refused("invalid", "payload length")
    r.take(length)
    r.take(64)
    r.finish()
    signed(sender, b"samtale/v1/envelope", b)


def decode_grant(b):
    if len(b) != 271:
        raise Refused("truncated" if len(b) < 271 else "trailing_bytes")
    r = Reader(b)
    r.header(0x02)
    r.take(16)
    if r.u8() not in (1, 2, 3):
        raise Refused("invalid", "holder kind")
    r.u32()
    r.x_key("holder public key")
    r.x_key("recipient key")
    r.ed_key("granter key")


def decode_certificate(b):
    r = Reader(b)
    r.header(0x03)
    org = r.take(16)
    org_name = r.text(200, "organisation name")
    identity = r.ed_key("device identity key")
    agreement = r.x_key("device agreement key")
    staff = r.take(16)
    staff_name = r.text(200, "staff name")
    roles = r.u8()
    if roles & ~0x07:
        raise Refused("invalid", "roles")
    n = r.u8()
    if n > 64:
        raise Refused("too_many_teams")
    teams = [(r.take(16), r.text(200, "team name")) for _ in range(n)]
    not_before, not_after = r.u64(), r.u64()
    r.take(64)
    r.finish()
    if not_after <= not_before:
        raise Refused("empty_validity")
    return {"org": org, "org_name": org_name, "identity": identity, "agreement": agreement,
            "staff": staff, "staff_name": staff_name, "roles": roles, "teams": [t for t, _ in teams],
            "not_before": not_before, "not_after": not_after, "bytes": b}


def decode_membership(b):
    r = Reader(b)
    r.header(0x04)
    log = r.u8()
    if log not in (1, 2, 3):
        raise Refused("invalid", "log kind")
    subject, seq, prev = r.take(16), r.u64(), r.take(32)
    op = r.u8()
    if op not in (1, 2, 3):
        raise Refused("invalid", "operation")
    kind = r.u8()
    if kind == 1:
        member = ("device", r.ed_key("member device identity key"), r.x_key("member device agreement key"))
    elif kind in (2, 3, 4, 5):
        member = ({2: "staff", 3: "citizen", 4: "team", 5: "holder"}[kind], r.take(16))
    else:
        raise Refused("invalid", "member kind")
    issued_at = r.u64()
    signer = r.ed_key("signer key")
    r.take(64)
    r.finish()
    return {"log": log, "subject": subject, "seq": seq, "prev": prev, "op": op, "member": member,
            "issued_at": issued_at, "signer": signer, "bytes": b}


def decode_holder_record(b):
    r = Reader(b)
    r.header(0x05)
    holder = r.take(16)
    kind = r.u8()
    if kind not in (1, 2, 3):
        raise Refused("invalid", "holder kind")
    epoch = r.u32()
    key = r.x_key("holder public key")
    owner, created_at = r.take(16), r.u64()
    signer = r.ed_key("signer key")
    r.take(64)
    r.finish()
    signed(signer, b"samtale/v1/holder-key", b)
    return {"holder": holder, "kind": kind, "epoch": epoch, "key": key, "owner": owner,
            "created_at": created_at, "signer": signer}


def decode_receipt(b):
    r = Reader(b)
    r.header(0x06)
    r.take(16)
    r.u64()
    if r.u8() not in (1, 2):
        raise Refused("invalid", "receipt kind")
    r.u64()
    device = r.ed_key("device key")
    r.take(64)
    r.finish()
    signed(device, b"samtale/v1/receipt", b)


def decode_payload(b):
    """PROTOCOL.md §4.4, strictly."""
    try:
        doc = json.loads(b.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refused("malformed")
    if not isinstance(doc, dict) or not isinstance(doc.get("v"), int) or isinstance(doc.get("v"), bool):
        raise Refused("malformed")
    if doc["v"] != 1:
        raise Refused("unknown_version")
    if set(doc) - {"v", "text", "attachments"} or not isinstance(doc.get("text"), str):
        raise Refused("malformed")
    attachments = doc.get("attachments", [])
    if not isinstance(attachments, list):
        raise Refused("malformed")
    fields = {"id", "name", "media_type", "size", "blob_sha256", "key"}
    for a in attachments:
        if not isinstance(a, dict) or set(a) != fields:
            raise Refused("malformed")
    if len(attachments) > 16:
        raise Refused("invalid")
    for a in attachments:
        name = a["name"]
        if not name or len(name.encode()) > 255 or any(c in name for c in "/\\\0") or name in (".", ".."):
            raise Refused("invalid")
        if len(a["blob_sha256"]) != 64 or any(c not in "0123456789abcdefABCDEF" for c in a["blob_sha256"]):
            raise Refused("invalid")
    return doc


DECODERS = {
    "envelope": decode_envelope, "grant": decode_grant, "certificate": decode_certificate,
    "membership_record": decode_membership, "holder_key_record": decode_holder_record,
    "receipt": decode_receipt, "payload": decode_payload,
}


def verify_invalid():
    v = json.loads((VECTORS / "invalid.json").read_text())
    for case in v["cases"]:
        try:
            DECODERS[case["object"]](h(case["hex"]))
        except Refused as e:
            check(e.error == case["error"] and e.field == case["field"],
                  f"{case['object']} ({case['what']}): refused as {e.error} {e.field}, expected {case['error']} {case['field']}")
            continue
        check(False, f"{case['object']} ({case['what']}) was not refused")


# ---------------------------------------------------------------- derived values

def verify_derived():
    v = json.loads((VECTORS / "derived.json").read_text())
    d = v["device"]
    nonce = hashlib.sha256(b"samtale/v1/eid-nonce\0" + h(d["ed25519_public_key"]) + h(d["x25519_public_key"])).digest()
    check(base64.urlsafe_b64encode(nonce).rstrip(b"=").decode() == d["eid_nonce"], "eID nonce")
    digest = hashlib.sha256(b"samtale/v1/device-fingerprint\0" + h(d["ed25519_public_key"])).hexdigest().upper()[:25]
    check("-".join(digest[i:i + 5] for i in range(0, 25, 5)) == d["fingerprint"], "device fingerprint")
    a = v["attachment"]
    blob = b"\x01" + ChaCha20Poly1305(h(a["key"])).encrypt(b"\0" * 12, h(a["file"]), b"samtale/v1/attachment")
    check(blob.hex() == a["blob"], "attachment blob")
    check(hashlib.sha256(blob).hexdigest() == a["blob_sha256"], "attachment blob hash")
    payload = decode_payload(v["payload_utf8"].encode())
    check(payload["text"] == v["payload_text"] and payload["attachments"][0]["blob_sha256"] == a["blob_sha256"], "payload")
    key = base64.urlsafe_b64decode(payload["attachments"][0]["key"] + "==")
    check(key == h(a["key"]) and payload["attachments"][0]["size"] == len(h(a["file"])), "payload's attachment reference")
    s = v["safety_number"]

    def digits(stable_id, keys):
        key = b"".join(sorted(keys))
        dd = hashlib.sha512(b"samtale/v1/safety-number\0" + struct.pack(">Q", len(stable_id)) + stable_id + key).digest()
        for _ in range(5199):
            dd = hashlib.sha512(dd + key).digest()
        return "".join(f"{int.from_bytes(dd[i:i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5))

    x = digits(h(s["a"]["stable_id"]), [h(k) for k in s["a"]["ed25519_public_keys"]])
    y = digits(h(s["b"]["stable_id"]), [h(k) for k in s["b"]["ed25519_public_keys"]])
    joined = min(x, y) + max(x, y)
    check(" ".join(joined[i:i + 5] for i in range(0, 60, 5)) == s["safety_number"], "multi-device safety number")


# ---------------------------------------------------------------- trust: logs and holders
#
# PROTOCOL.md §5, §7 and §8 from the text alone: records rebuilt byte for
# byte from their fields, each log replayed under its policy, each holder's
# epochs checked for who may sign them.

MEMBER_KINDS = {"device": 1, "staff": 2, "citizen": 3, "team": 4, "holder": 5}
OPS = {"add": 1, "remove": 2, "reset": 3}


def member_bytes(m):
    (kind, value), = m.items()
    if kind == "device":
        return bytes([1]) + h(value["ed25519_public_key"]) + h(value["x25519_public_key"])
    return bytes([MEMBER_KINDS[kind]]) + uuid_bytes(value)


def member_tuple(m):
    (kind, value), = m.items()
    if kind == "device":
        return ("device", h(value["ed25519_public_key"]), h(value["x25519_public_key"]))
    return (kind, uuid_bytes(value))


class Log:
    """A replayed membership log: members now and at any time."""

    def __init__(self, kind, subject):
        self.kind, self.subject = kind, subject
        self.members, self.changes, self.head = [], [], b"\0" * 32

    def apply(self, rec, policy):
        try:
            self._apply(rec, policy)
        except Refused as e:
            e.seq = len(self.changes)
            raise

    def _apply(self, rec, policy):
        d = decode_membership(rec)
        seq = len(self.changes)
        if d["log"] != self.kind or d["subject"] != self.subject:
            raise Refused("wrong_log")
        if d["seq"] != seq:
            raise Refused("out_of_order")
        if d["prev"] != self.head:
            raise Refused("broken_link")
        signed(d["signer"], b"samtale/v1/membership", rec)
        if self.changes and d["issued_at"] < self.changes[-1]["issued_at"]:
            raise Refused("time_went_backwards")
        if d["op"] == 3 and (self.kind != 3 or d["member"][0] != "device" or d["member"][1] != d["signer"]):
            raise Refused("invalid_reset")
        if not policy(self, d):
            raise Refused("unauthorized")
        same = [m for m in self.members if same_party(m, d["member"])]
        if d["op"] == 1:
            if same:
                raise Refused("already_member")
            self.members.append(d["member"])
        elif d["op"] == 2:
            if d["member"] not in self.members:
                raise Refused("not_a_member")
            self.members.remove(d["member"])
        else:
            self.members = [d["member"]]
        self.changes.append(d)
        self.head = hashlib.sha256(b"samtale/v1/membership-hash\0" + rec).digest()

    def members_at(self, t):
        """A removal or reset takes effect after the second it is dated."""
        out = []
        for c in self.changes:
            if c["issued_at"] > t:
                break
            same_second = c["issued_at"] == t
            if c["op"] == 1:
                out.append(c["member"])
            elif c["op"] == 2 and not same_second:
                out = [m for m in out if m != c["member"]]
            elif c["op"] == 3:
                out = out + [c["member"]] if same_second else [c["member"]]
        return out

    def device_at(self, identity, t):
        return any(m[0] == "device" and m[1] == identity for m in self.members_at(t))


def same_party(a, b):
    if a[0] == "device" and b[0] == "device":
        return a[1] == b[1]
    return a == b


class Org:
    def __init__(self, root, org_id):
        self.root, self.org = root, org_id
        self.staff_logs, self.citizen_logs, self.team_logs = {}, {}, {}

    def certified(self, signer, cert_hex, t):
        """The chain root -> certificate -> signer, valid at t, device in its owner's list then."""
        if not cert_hex:
            return None
        c = decode_certificate(h(cert_hex))
        try:
            ed_verify(self.root, b"samtale/v1/device-certificate", c["bytes"])
        except Exception:
            return None
        if c["identity"] != signer or c["org"] != self.org or not (c["not_before"] <= t < c["not_after"]):
            return None
        log = self.staff_logs.get(c["staff"])
        if log is None or not log.device_at(signer, t):
            return None
        return c

    def staff_device_log(self, account, records):
        def policy(log, d):
            if d["member"][0] != "device":
                return False
            by_root = d["signer"] == self.root
            holds = any(m[0] == "device" and m[1] == d["signer"] for m in log.members)
            return {1: by_root, 2: by_root or holds, 3: False}[d["op"]]
        log = Log(3, account)
        for r in records:
            log.apply(h(r["record"]), policy)
        self.staff_logs[account] = log
        return log

    def citizen_device_log(self, account, records):
        certs = {r["seq"]: r["signer_certificate"] for r in records}

        def policy(log, d):
            if d["member"][0] != "device":
                return False
            holds = any(m[0] == "device" and m[1] == d["signer"] for m in log.members)
            if d["op"] == 1:
                return d["member"][1] == d["signer"] if not log.members else holds
            if d["op"] == 2:
                if holds or d["signer"] == self.root:
                    return True
                c = self.certified(d["signer"], certs.get(d["seq"]), d["issued_at"])
                return c is not None and c["roles"] & 0x04
            return True
        log = Log(3, account)
        for r in records:
            log.apply(h(r["record"]), policy)
        self.citizen_logs[account] = log
        return log

    def team_log(self, team, records):
        certs = {r["seq"]: r["signer_certificate"] for r in records}

        def policy(log, d):
            if d["member"][0] != "staff":
                return False
            if d["signer"] == self.root:
                return True
            c = self.certified(d["signer"], certs.get(d["seq"]), d["issued_at"])
            return c is not None and bool(c["roles"] & 0x04)
        log = Log(1, team)
        for r in records:
            log.apply(h(r["record"]), policy)
        self.team_logs[team] = log
        return log

    def participant_log(self, thread, records):
        certs = {r["seq"]: r["signer_certificate"] for r in records}
        state = {"team": None}

        def policy(log, d):
            kind, op = d["member"][0], d["op"]
            if d["seq"] == 0:
                if kind != "team" or op != 1:
                    return False
                state["team"] = d["member"][1]
            elif kind == "team" or (kind == "holder" and (op != 1 or any(m[0] == "holder" for m in log.members))):
                return False
            elif kind not in ("citizen", "holder") or op == 3:
                return False
            c = self.certified(d["signer"], certs.get(d["seq"]), d["issued_at"])
            if c is None or not c["roles"] & 0x01:
                return False
            team = self.team_logs.get(state["team"])
            return team is not None and ("staff", c["staff"]) in team.members_at(d["issued_at"])
        log = Log(2, thread)
        for r in records:
            log.apply(h(r["record"]), policy)
        return log

    def holder(self, kind, owner, epochs, now, leeway):
        first = None
        previous = None
        for i, e in enumerate(epochs):
            d = decode_holder_record(h(e["record"]))
            first = first or d
            if d["holder"] != first["holder"] or d["epoch"] != i or d["kind"] != kind or d["owner"] != owner:
                raise Refused("holder_key", i)
            if d["created_at"] > now + leeway or (previous and d["created_at"] < previous["created_at"]):
                raise Refused("holder_key", i)
            t = d["created_at"]
            if kind == 1:
                c = self.certified(d["signer"], e["signer_certificate"], t)
                team = self.team_logs.get(owner)
                ok = c is not None and c["roles"] & 0x01 and team is not None and ("staff", c["staff"]) in team.members_at(t)
            elif kind == 2:
                log = self.citizen_logs.get(owner)
                ok = log is not None and log.device_at(d["signer"], t)
            else:
                c = None if d["signer"] == self.root else self.certified(d["signer"], e["signer_certificate"], t)
                ok = d["signer"] == self.root or (c is not None and c["roles"] & 0x06)
            if not ok:
                raise Refused("holder_key", i)
            previous = d
        return previous


def verify_trust():
    v = json.loads((VECTORS / "trust.json").read_text())
    root_seed = h(v["root_ed25519_seed"])
    root = ed_pub(root_seed)
    check(root.hex() == v["root_ed25519_public_key"], "root key")
    seeds = {"root": root_seed}
    for name in ("admin", "staff", "clerk"):
        seeds[f"{name}_device"] = h(v[name]["ed25519_seed"])
        check(ed_pub(seeds[f"{name}_device"]).hex() == v[name]["ed25519_public_key"], f"{name} device key")
        check(x25519_pub(h(v[name]["x25519_private_key"])).hex() == v[name]["x25519_public_key"], f"{name} agreement key")
    for name in ("phone", "tablet", "laptop"):
        seeds[name] = h(v[name]["ed25519_seed"])
        check(ed_pub(seeds[name]).hex() == v[name]["ed25519_public_key"], f"{name} key")

    def rebuild(kind, subject, records):
        """Each record from its fields, signed again (Ed25519 is deterministic)."""
        head = b"\0" * 32
        for r in records:
            if r["signer"] not in seeds:
                continue
            seed = seeds[r["signer"]]
            body = bytes([0x04, 1, kind]) + subject + struct.pack(">Q", r["seq"]) + head
            body += bytes([OPS[r["operation"]]]) + member_bytes(r["member"])
            body += struct.pack(">Q", r["issued_at"]) + ed_pub(seed)
            rec = body + ed_sign(seed, b"samtale/v1/membership", body)
            check(rec.hex() == r["record"], f"record {r['seq']} rebuilt byte for byte")
            head = hashlib.sha256(b"samtale/v1/membership-hash\0" + rec).digest()
            check(head.hex() == r["hash"], "record hash")

    logs = v["logs"]
    org = Org(root, uuid_bytes(v["org_id"]))
    for name, key in (("admin", "admin_devices"), ("staff", "staff_devices"), ("clerk", "clerk_devices")):
        account = uuid_bytes(v[name]["account_id"])
        rebuild(3, account, logs[key])
        org.staff_device_log(account, logs[key])
    team, citizen, thread = uuid_bytes(v["team_id"]), uuid_bytes(v["citizen_account_id"]), uuid_bytes(v["thread_id"])
    rebuild(1, team, logs["team_members"])
    rebuild(3, citizen, logs["citizen_devices"])
    rebuild(2, thread, logs["thread_participants"])
    finals = v["final_members"]
    check(org.team_log(team, logs["team_members"]).members == [member_tuple(m) for m in finals["team_members"]], "team members")
    check(org.citizen_device_log(citizen, logs["citizen_devices"]).members
          == [member_tuple(m) for m in finals["citizen_devices"]], "citizen devices after the reset")
    check(org.participant_log(thread, logs["thread_participants"]).members
          == [member_tuple(m) for m in finals["thread_participants"]], "thread participants")

    now, leeway = v["now"], v["clock_leeway_secs"]
    kinds = {"team": (1, team), "citizen": (2, citizen), "archive": (3, org.org)}
    for name, (kind, owner) in kinds.items():
        holder = v["holders"][name]
        for e in holder["epochs"]:
            check(x25519_pub(h(e["private_key"])).hex() == e["public_key"], f"{name} epoch key")
            signer_seed = next((s for s in seeds.values() if ed_pub(s).hex() == e["signer_ed25519_public_key"]), None)
            d = decode_holder_record(h(e["record"]))
            body = h(e["record"])[:-64]
            check(ed_sign(signer_seed, b"samtale/v1/holder-key", body).hex() == e["record"][-128:], f"{name} epoch signature rebuilt")
            check(d["key"].hex() == e["public_key"] and d["created_at"] == e["created_at"], f"{name} epoch fields")
        last = org.holder(kind, owner, holder["epochs"], now, leeway)
        check(last["key"].hex() == holder["epochs"][-1]["public_key"], f"{name} holder verifies")

    # What each policy must refuse.
    for case in v["refused_logs"]:
        scratch = Org(root, org.org)
        scratch.staff_logs, scratch.team_logs = org.staff_logs, dict(org.team_logs)
        replay = {"team": lambda r: scratch.team_log(team, r),
                  "citizen": lambda r: scratch.citizen_device_log(citizen, r),
                  "thread": lambda r: scratch.participant_log(thread, r)}[case["log"]]
        try:
            replay(case["records"])
        except Refused as e:
            check(e.error == case["error"] and e.seq == case["at"]["seq"],
                  f"{case['name']}: refused as {e.error} at record {e.seq}, expected {case['error']} at {case['at']['seq']}")
            continue
        check(False, f"{case['name']} was not refused")
    for case in v["refused_holders"]:
        kind, owner = kinds[case["owner"]]
        try:
            org.holder(kind, owner, case["epochs"], now, leeway)
        except Refused as e:
            check(e.error == case["refusal"]["error"] and e.field == case["refusal"]["at"]["epoch"],
                  f"{case['name']}: refused at epoch {e.field}")
            continue
        check(False, f"{case['name']} was not refused")


if __name__ == "__main__":
    verify_envelope()
    verify_grant()
    verify_certificate()
    verify_safety_number()
    verify_membership_receipt_holder_key()
    verify_derived()
    verify_invalid()
    verify_trust()
    print(f"interop: {checks} checks passed against {VECTORS}")
    print(f"{checks} passed, 0 failed")
