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
        op, kind, key = rec[59], rec[60], rec[61:93]
        check(kind == 1, "device member")
        signer = rec[101:133]
        ed_verify(signer, b"samtale/v1/membership", rec)
        if op == 1:
            members.append(key)
        else:
            members.remove(key)
        head = hashlib.sha256(b"samtale/v1/membership-hash\0" + rec).digest()
        check(head.hex() == r["hash"], "record hash")
    check([m.hex() for m in members] == v["final_members"], "final members")

    receipt = h(v["receipt"])
    check(len(receipt) == 131 and receipt[:2] == bytes([0x06, 1]), "receipt layout")
    ed_verify(receipt[35:67], b"samtale/v1/receipt", receipt)
    holder = h(v["holder_key_record"])
    check(len(holder) == 175 and holder[:2] == bytes([0x05, 1]), "holder key record layout")
    ed_verify(holder[79:111], b"samtale/v1/holder-key", holder)


if __name__ == "__main__":
    verify_envelope()
    verify_grant()
    verify_certificate()
    verify_safety_number()
    verify_membership_receipt_holder_key()
    print(f"interop: {checks} checks passed against {VECTORS}")
    print(f"{checks} passed, 0 failed")
