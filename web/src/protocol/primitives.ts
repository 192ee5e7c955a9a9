// Thin wrappers over the audited libraries: domain-separated Ed25519
// signatures, strict verification, X25519 key checks, HPKE sealing of
// 32-byte secrets, HKDF and ChaCha20-Poly1305 with the zero nonce. Nothing
// here is a primitive of its own. Mirrors `protocol/src/primitives.rs`.

import { Chacha20Poly1305 } from "@hpke/chacha20poly1305";
import { CipherSuite, DhkemX25519HkdfSha256 as NativeDhkemX25519, HkdfSha256 } from "@hpke/core";
import { DhkemX25519HkdfSha256 } from "@hpke/dhkem-x25519";
import { chacha20poly1305 } from "@noble/ciphers/chacha.js";
import { ed25519, x25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";

import { bytesEqual, concat, toHex } from "./bytes";
import { utf8Encode } from "./utf8";

/** Signature contexts: every signature is over `context || 0x00 || object`. */
export const Context = {
  envelope: "samtale/v1/envelope",
  grant: "samtale/v1/grant",
  deviceCertificate: "samtale/v1/device-certificate",
  membership: "samtale/v1/membership",
  holderKey: "samtale/v1/holder-key",
  receipt: "samtale/v1/receipt",
} as const;
export type SignatureContext = (typeof Context)[keyof typeof Context];

/** HPKE `info` strings. */
export const Info = {
  contentKey: utf8Encode("samtale/v1/content-key"),
  grant: utf8Encode("samtale/v1/grant"),
} as const;

/** An HPKE-sealed 32-byte secret: 32 bytes of ciphertext and a 16-byte tag. */
export const SEALED_SECRET_LEN = 48;

const Point = ed25519.Point;
const L = /* @__PURE__ */ Point.CURVE().n;

function signingInput(context: SignatureContext, message: Uint8Array): Uint8Array {
  return concat(utf8Encode(context), Uint8Array.of(0), message);
}

/** The Ed25519 public key of a 32-byte seed. */
export function ed25519PublicKey(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}

/** Signs `context || 0x00 || message` with a 32-byte Ed25519 seed. */
export function sign(seed: Uint8Array, context: SignatureContext, message: Uint8Array): Uint8Array {
  return ed25519.sign(signingInput(context, message), seed);
}

/** Verifies a signature made by `sign`. */
export function verify(
  publicKey: Uint8Array,
  context: SignatureContext,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  return ed25519VerifyStrict(publicKey, signingInput(context, message), signature);
}

/** Verifies an object whose last 64 bytes are a signature over the rest. */
export function verifyTrailing(publicKey: Uint8Array, context: SignatureContext, object: Uint8Array): boolean {
  if (object.length < 64) return false;
  const split = object.length - 64;
  return verify(publicKey, context, object.subarray(0, split), object.subarray(split));
}

/**
 * Ed25519 verification that accepts and refuses exactly what the Rust
 * crate does (ed25519-dalek's `verify_strict`, PROTOCOL.md §2), as the
 * shared edge-case file `protocol/tests/vectors/ed25519_edge_cases.json`
 * proves on both sides. With noble's point operations:
 *
 * 1. A is the canonical encoding (y < p) of a point not of small order,
 *    and S < L;
 * 2. the cofactorless equation R = [S]B − [k]A holds, compared as encoded
 *    bytes, with k = SHA-512(R || A || M) mod L, and that point is not of
 *    small order (so R is a canonical encoding of a point not of small
 *    order, as the encoding of a computed point is unique).
 *
 * The cofactored equation RFC 8032 allows ([8][S]B = [8]R + [8][k]A, what
 * noble's own `verify` checks) follows from these and is weaker: it
 * accepts signatures with a small-order component (cases 2, 4 and 5 of
 * "Taming the many EdDSAs") that this rule refuses. Checking the
 * cofactorless equation alone also costs one verification, not two.
 */
export function ed25519VerifyStrict(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const rBytes = signature.subarray(0, 32);
  let A: InstanceType<typeof Point>;
  try {
    A = signerPoint(publicKey);
  } catch {
    return false;
  }
  const s = leNumber(signature.subarray(32));
  if (s >= L) return false;
  const k = leNumber(sha512(concat(rBytes, publicKey, message))) % L;
  // Everything here is public: variable-time multiplication is fine, and
  // both points have precomputed tables (the base point's, the signer's).
  const sB = s === 0n ? Point.ZERO : Point.BASE.multiplyUnsafe(s);
  const expected = sB.subtract(k === 0n ? Point.ZERO : A.multiplyUnsafe(k));
  // R's bytes must be the canonical encoding of exactly this point, and the
  // point must not be of small order: that is "R canonical, not of small
  // order" without decoding R (encodings are unique below p).
  return !expected.isSmallOrder() && bytesEqual(expected.toBytes(), rBytes);
}

/** The canonical encodings of the eight points of small order (the
 *  torsion subgroup): a signature whose R is one of them is refused, as
 *  `ed25519VerifyStrict` refuses a computed R of small order. A
 *  non-canonical encoding of one never equals a computed point's. */
const SMALL_ORDER_R = new Set([
  "0100000000000000000000000000000000000000000000000000000000000000",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0000000000000000000000000000000000000000000000000000000000000080",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
  "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
  "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]);

/** The small-order encodings, for the test that derives them. */
export const smallOrderEncodingsForTests: ReadonlySet<string> = SMALL_ORDER_R;

type Subtle = typeof globalThis.crypto.subtle;
let platformEd25519: Promise<Subtle | null> | undefined;

/** The platform's WebCrypto Ed25519, if it has one (Chromium, Firefox,
 *  Safari and Node do); null otherwise. */
function platformVerifier(): Promise<Subtle | null> {
  platformEd25519 ??= (async () => {
    // The one use of WebCrypto in src/protocol besides HPKE's X25519: the
    // platform's Ed25519, native and equivalent once the checks below
    // have decided every case where implementations differ.
    // eslint-disable-next-line no-restricted-globals -- see above
    const subtle = globalThis.crypto?.subtle;
    if (subtle === undefined) return null;
    try {
      const base = Point.BASE.toBytes();
      await subtle.importKey("raw", new Uint8Array(base), { name: "Ed25519" }, false, ["verify"]);
      return subtle;
    } catch {
      return null;
    }
  })();
  return platformEd25519;
}

/** Whether `ed25519VerifyStrictAsync` uses the platform's Ed25519 here. */
export async function usesPlatformEd25519(): Promise<boolean> {
  return (await platformVerifier()) !== null;
}

/** Imported verification keys by public key, bounded (a thread has few
 *  signers). Public data only. */
const verifyKeys = new Map<string, Promise<CryptoKey>>();

/**
 * The same verdict as `ed25519VerifyStrict`, with the platform's native
 * Ed25519 for the equation where it has one (several times faster than
 * big-integer arithmetic in JavaScript). Everything on which Ed25519
 * implementations differ is decided here first, as `ed25519VerifyStrict`
 * decides it: A canonical and not of small order, S < L, R not of small
 * order. What is left to the platform is the cofactorless equation with R
 * compared as bytes, which WebCrypto's implementations (BoringSSL, NSS,
 * OpenSSL, CryptoKit) compute alike. The edge-case file runs through this
 * function too, under Node and in Chromium.
 */
export async function ed25519VerifyStrictAsync(
  publicKey: Uint8Array,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  const subtle = await platformVerifier();
  if (subtle === null) return ed25519VerifyStrict(publicKey, message, signature);
  if (!isValidEd25519PublicKey(publicKey)) return false;
  if (leNumber(signature.subarray(32)) >= L) return false;
  if (SMALL_ORDER_R.has(toHex(signature.subarray(0, 32)))) return false;
  const id = String.fromCharCode(...publicKey);
  let key = verifyKeys.get(id);
  if (key === undefined) {
    key = subtle.importKey("raw", publicKey.slice(), { name: "Ed25519" }, false, ["verify"]);
    verifyKeys.set(id, key);
    if (verifyKeys.size > SIGNER_CACHE) {
      const oldest = verifyKeys.keys().next().value;
      if (oldest !== undefined) verifyKeys.delete(oldest);
    }
  }
  try {
    return await subtle.verify({ name: "Ed25519" }, await key, signature.slice(), message.slice());
  } catch {
    verifyKeys.delete(id);
    return ed25519VerifyStrict(publicKey, message, signature);
  }
}

/** As `verify`, with `ed25519VerifyStrictAsync`. */
export function verifyAsync(
  publicKey: Uint8Array,
  context: SignatureContext,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  return ed25519VerifyStrictAsync(publicKey, signingInput(context, message), signature);
}

/** Decoded signer keys with their multiplication tables, newest last: a
 *  thread's messages come from a few devices, so each key's table is built
 *  once and reused for every signature it made. Public data only. */
const signers = new Map<string, InstanceType<typeof Point>>();
const SIGNER_CACHE = 64;

function signerPoint(publicKey: Uint8Array): InstanceType<typeof Point> {
  const key = String.fromCharCode(...publicKey);
  const known = signers.get(key);
  if (known !== undefined) {
    signers.delete(key);
    signers.set(key, known);
    return known;
  }
  const point = Point.fromBytes(publicKey, false);
  // Only keys that pass are remembered, so the check is made once per key.
  if (point.isSmallOrder()) throw new Error("small-order key");
  point.precompute(8);
  signers.set(key, point);
  if (signers.size > SIGNER_CACHE) {
    const oldest = signers.keys().next().value;
    if (oldest !== undefined) signers.delete(oldest);
  }
  return point;
}

function leNumber(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] ?? 0);
  return n;
}

/** Whether 32 bytes are a valid identity (or root) key: the canonical
 *  encoding of a curve point that is not of small order (§2). */
export function isValidEd25519PublicKey(bytes: Uint8Array): boolean {
  if (bytes.length !== 32) return false;
  const key = String.fromCharCode(...bytes);
  const known = checkedKeys.get(key);
  if (known !== undefined) return known;
  let valid: boolean;
  try {
    valid = !Point.fromBytes(bytes, false).isSmallOrder();
  } catch {
    valid = false;
  }
  checkedKeys.set(key, valid);
  if (checkedKeys.size > CHECKED_KEYS) {
    const oldest = checkedKeys.keys().next().value;
    if (oldest !== undefined) checkedKeys.delete(oldest);
  }
  return valid;
}

/** Keys checked already, with the verdict: every envelope names its
 *  sender's key, and a thread has few senders, so the square root that
 *  decoding a point takes is computed once per key. Public data only. */
const checkedKeys = new Map<string, boolean>();
const CHECKED_KEYS = 256;

/** The X25519 public key of a private key: X25519(sk, 9). */
export function x25519Public(secret: Uint8Array): Uint8Array {
  return x25519.getPublicKey(secret);
}

const PROBE = new Uint8Array(32).fill(0x5a);

/** Whether an X25519 public key has low order (every shared secret with it
 *  is zero, RFC 7748 §6.1). Decided as Rust does: a DH with a fixed scalar
 *  is all-zero exactly for those points; noble refuses the all-zero result. */
export function isLowOrderX25519(bytes: Uint8Array): boolean {
  if (bytes.length !== 32) return true;
  // Keys recur (a few devices sign a whole thread's logs); a checked key
  // is remembered, bounded.
  const id = String.fromCharCode(...bytes);
  const known = agreementChecks.get(id);
  if (known !== undefined) return known;
  let low: boolean;
  try {
    x25519.getSharedSecret(PROBE, bytes);
    low = false;
  } catch {
    low = true;
  }
  agreementChecks.set(id, low);
  if (agreementChecks.size > 256) {
    const oldest = agreementChecks.keys().next().value;
    if (oldest !== undefined) agreementChecks.delete(oldest);
  }
  return low;
}

const agreementChecks = new Map<string, boolean>();

let cipherSuite: Promise<CipherSuite> | undefined;

/** The HPKE suite of §2, made on first use (so a page that never seals
 *  pays nothing at start). Its X25519 is the platform's WebCrypto X25519
 *  where there is one (native, and equivalent: it refuses an all-zero
 *  shared secret as RFC 7748 §6.1 and RFC 9180 §7.1.4 ask), else noble's
 *  (via @hpke/dhkem-x25519). The same vectors pass through both. */
function suite(): Promise<CipherSuite> {
  cipherSuite ??= (async () => {
    const make = (kem: NativeDhkemX25519 | DhkemX25519HkdfSha256): CipherSuite =>
      new CipherSuite({ kem, kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });
    try {
      const native = make(new NativeDhkemX25519());
      await native.kem.generateKeyPair();
      return native;
    } catch {
      return make(new DhkemX25519HkdfSha256());
    }
  })();
  return cipherSuite;
}

/** An HPKE-sealed secret: the encapsulated key and the ciphertext with its tag. */
export interface Sealed {
  enc: Uint8Array;
  sealed: Uint8Array;
}

/**
 * HPKE base-mode single-shot seal of a 32-byte secret (RFC 9180 §6.1).
 * `ikm` is the ephemeral key's input keying material (DeriveKeyPair),
 * drawn by the caller. Returns null when the recipient key is refused (an
 * all-zero shared secret, RFC 9180 §7.1.4: noble's X25519 throws on it).
 */
export async function hpkeSealSecret(
  recipient: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  secret: Uint8Array,
  ikm: Uint8Array,
): Promise<Sealed | null> {
  try {
    const hpke = await suite();
    const recipientPublicKey = await hpke.kem.deserializePublicKey(recipient);
    const { enc, ct } = await hpke.seal({ recipientPublicKey, info, ekm: ikm }, secret, aad);
    const out = { enc: new Uint8Array(enc), sealed: new Uint8Array(ct) };
    if (out.enc.length !== 32 || out.sealed.length !== SEALED_SECRET_LEN) return null;
    return out;
  } catch {
    return null;
  }
}

/** HPKE base-mode single-shot open of a 32-byte secret. Every failure
 *  (an all-zero shared secret included) is the same null. */
export async function hpkeOpenSecret(
  recipientSecret: Uint8Array,
  info: Uint8Array,
  aad: Uint8Array,
  enc: Uint8Array,
  sealed: Uint8Array,
): Promise<Uint8Array | null> {
  try {
    const hpke = await suite();
    const recipientKey = await recipientKeyPair(hpke, recipientSecret);
    const plaintext = new Uint8Array(await hpke.open({ recipientKey, enc, info }, sealed, aad));
    if (plaintext.length !== 32) {
      plaintext.fill(0);
      return null;
    }
    return plaintext;
  } catch {
    return null;
  }
}

/** Recipient key pairs as HPKE wants them, by secret: opening a thread's
 *  messages opens hundreds of envelopes sealed to the same few holder
 *  keys, and importing a key (deriving its public half) each time would
 *  cost more than the open itself. Bounded; it holds nothing the caller
 *  does not already hold in memory. */
const recipients = new Map<string, CryptoKeyPair>();
const RECIPIENT_CACHE = 32;

async function recipientKeyPair(hpke: CipherSuite, secret: Uint8Array): Promise<CryptoKeyPair> {
  const id = String.fromCharCode(...sha256(secret));
  const known = recipients.get(id);
  if (known !== undefined) return known;
  const pair = await hpke.kem.deserializePrivateKey(secret).then(async (privateKey) => ({
    privateKey,
    publicKey: await hpke.kem.deserializePublicKey(x25519Public(secret)),
  }));
  recipients.set(id, pair);
  if (recipients.size > RECIPIENT_CACHE) {
    const oldest = recipients.keys().next().value;
    if (oldest !== undefined) recipients.delete(oldest);
  }
  return pair;
}

/** HKDF-SHA256 with no salt (32 zero bytes, RFC 5869). */
export function hkdfSha256(ikm: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  return hkdf(sha256, ikm, undefined, info, length);
}

const ZERO_NONCE = new Uint8Array(12);

/** ChaCha20-Poly1305 with the all-zero nonce (each key is used once). */
export function aeadSeal(key: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
  return chacha20poly1305(key, ZERO_NONCE, aad).encrypt(plaintext);
}

/** Opens `aeadSeal`'s output; null when the tag does not verify. */
export function aeadOpen(key: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array): Uint8Array | null {
  try {
    return chacha20poly1305(key, ZERO_NONCE, aad).decrypt(ciphertext);
  } catch {
    return null;
  }
}

export { sha256, sha512 };
