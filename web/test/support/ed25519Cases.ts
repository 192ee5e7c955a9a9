// Builds `protocol/tests/vectors/ed25519_edge_cases.json`: Ed25519 and
// X25519 inputs on which implementations disagree, each with the verdict
// of our rule (PROTOCOL.md §2, ed25519-dalek's verify_strict). The
// TypeScript test and `protocol/tests/ed25519_edge_cases.rs` run the same
// file through both implementations.
//
// The verdicts are derived here from the rule's definition with noble's
// point arithmetic — canonical encodings of A and R, neither of small
// order, S < L, and R = [S]B − [k]A exactly — independently of the code
// under test; the Rust test is the second, independent check.

import { ed25519, ED25519_TORSION_SUBGROUP } from "@noble/curves/ed25519.js";
import { sha512 } from "@noble/hashes/sha2.js";

import { concat, fromHex, toHex } from "../../src/protocol/bytes";
import { idToBytes, type ThreadId } from "../../src/protocol/ids";
import { DeviceKeys } from "../../src/protocol/keys";
import { Receipt } from "../../src/protocol/receipt";
import { utf8Encode } from "../../src/protocol/utf8";

const Point = ed25519.Point;
type EdPoint = InstanceType<typeof Point>;
const L = Point.CURVE().n;
const P = Point.CURVE().p;

export interface SignatureCase {
  name: string;
  source: "taming_the_many_eddsas" | "zip215" | "samtale";
  public_key: string;
  message: string;
  signature: string;
  valid: boolean;
  /** What noble's `verify(…, { zip215: false })` alone says. */
  noble_strict_alone: boolean;
  why: string;
}

function le(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i] ?? 0);
  return n;
}

function leBytes(n: bigint, length = 32): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
}

function decodeStrict(bytes: Uint8Array): EdPoint | null {
  try {
    return Point.fromBytes(bytes, false);
  } catch {
    return null;
  }
}

/** Decodes as ZIP-215 does: y may be >= p (reduced), x = 0 may carry a sign bit. */
function decodeLenient(bytes: Uint8Array): EdPoint | null {
  try {
    return Point.fromBytes(bytes, true);
  } catch {
    return null;
  }
}

/** The rule's verdict, with the first reason it fails. */
export function judge(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): { valid: boolean; why: string } {
  const rBytes = signature.subarray(0, 32);
  const A = decodeStrict(publicKey);
  if (A === null) return { valid: false, why: "A is not a canonical encoding of a curve point" };
  if (A.isSmallOrder()) return { valid: false, why: "A has small order" };
  const R = decodeStrict(rBytes);
  if (R === null) return { valid: false, why: "R is not a canonical encoding of a curve point" };
  if (R.isSmallOrder()) return { valid: false, why: "R has small order" };
  const s = le(signature.subarray(32));
  if (s >= L) return { valid: false, why: "S is not reduced (S >= L)" };
  const k = le(sha512(concat(rBytes, publicKey, message))) % L;
  const expected = Point.BASE.multiplyUnsafe(s).subtract(A.multiplyUnsafe(k));
  if (toHex(expected.toBytes()) !== toHex(rBytes)) {
    const cofactored = R.subtract(expected).clearCofactor().is0();
    return {
      valid: false,
      why: cofactored
        ? "only the cofactored equation holds: R differs from [S]B - [k]A by a small-order point"
        : "the verification equation does not hold",
    };
  }
  const torsion = !A.isTorsionFree() || !R.isTorsionFree();
  return { valid: true, why: torsion ? "valid: A or R has a small-order component, yet R = [S]B - [k]A exactly" : "valid" };
}

function nobleStrict(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return ed25519.verify(signature, message, publicKey, { zip215: false });
  } catch {
    return false;
  }
}

/** A signature case from external data, judged. */
export function signatureCase(
  name: string,
  source: SignatureCase["source"],
  publicKey: string,
  message: string,
  signature: string,
): SignatureCase {
  const [pk, msg, sig] = [fromHex(publicKey), fromHex(message), fromHex(signature)];
  const { valid, why } = judge(pk, msg, sig);
  return { name, source, public_key: publicKey, message, signature, valid, noble_strict_alone: nobleStrict(pk, msg, sig), why };
}

// Deterministic scalars for the crafted cases.
const scalar = (label: string): bigint => le(sha512(utf8Encode(`samtale ed25519 edge case ${label}`))) % L;
const T8 = Point.fromHex(ED25519_TORSION_SUBGROUP[1] ?? ""); // a point of order 8

/** A receipt body (everything before the signature) for `device`. */
function receiptBody(device: Uint8Array): Uint8Array {
  const thread = idToBytes("0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d90" as ThreadId);
  const seq = fromHex("000000000000002a");
  const at = fromHex("0000019b7a2c0000");
  return concat(Uint8Array.of(0x06, 0x01), thread, seq, Uint8Array.of(2), at, device);
}

/** Signs a receipt with scalar `a` (A = aB + torsion) and nonce point R = rB + rTorsion, S = r + k·a (+ extra). */
function craft(a: bigint, aTorsion: EdPoint, r: bigint, rTorsion: EdPoint, sOverride?: (k: bigint) => bigint): { receipt: Uint8Array; k: bigint } {
  const A = Point.BASE.multiply(a).add(aTorsion);
  const body = receiptBody(A.toBytes());
  const message = concat(utf8Encode("samtale/v1/receipt\0"), body);
  const R = Point.BASE.multiplyUnsafe(r).add(rTorsion);
  const k = le(sha512(concat(R.toBytes(), A.toBytes(), message))) % L;
  const s = sOverride === undefined ? (r + k * a) % L : sOverride(k);
  return { receipt: concat(body, R.toBytes(), leBytes(s)), k };
}

export interface ReceiptCase {
  name: string;
  receipt: string;
  valid: boolean;
  noble_strict_alone: boolean;
  why: string;
}

/** Receipts signed in ways only a malicious signer would, checked through
 *  each implementation's public receipt verification (the path envelopes,
 *  grants and records share). */
export function craftedReceipts(): ReceiptCase[] {
  const a = scalar("a");
  const identity = Point.ZERO;
  const cases: { name: string; receipt: Uint8Array }[] = [];
  const honest = DeviceKeys.fromSeeds(fromHex("42".repeat(32)), fromHex("43".repeat(32)));
  const body = Receipt.sign(honest, "0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d90" as ThreadId, 42n, "read", 0x19b7a2c0000n).bytes;
  cases.push({ name: "an honest receipt", receipt: body });
  const sPlusL = concat(body.subarray(0, 99), leBytes(le(body.subarray(99)) + L));
  cases.push({ name: "an honest receipt with S + L in place of S", receipt: sPlusL });
  // Mixed-order key, R = rB + T' with T' chosen so that R = [S]B - [k]A holds exactly.
  for (let j = 0; ; j++) {
    const r = scalar(`r${j}`);
    const found = [...Array(8).keys()].map((i) => T8.multiplyUnsafe(BigInt(i))).find((tr) => {
      const { receipt, k } = craft(a, T8, r, tr);
      return receipt.length === 131 && tr.equals(T8.multiplyUnsafe(k).negate());
    });
    if (found !== undefined) {
      cases.push({ name: "a mixed-order device key whose signature meets the cofactorless equation", receipt: craft(a, T8, r, found).receipt });
      break;
    }
  }
  // Mixed-order key, torsion-free R: only the cofactored equation holds (unless k·T = 0).
  for (let j = 0; ; j++) {
    const c = craft(a, T8, scalar(`m${j}`), identity);
    if (!T8.multiplyUnsafe(c.k).is0()) {
      cases.push({ name: "a mixed-order device key whose signature meets only the cofactored equation", receipt: c.receipt });
      break;
    }
  }
  cases.push({
    name: "an ordinary key, R with a small-order component: only the cofactored equation holds",
    receipt: craft(a, identity, scalar("t"), T8).receipt,
  });
  cases.push({
    name: "an ordinary key, R the identity (small order) and S = k·a: the equation holds, R is refused",
    receipt: craft(a, identity, 0n, identity, (k) => (k * a) % L).receipt,
  });
  return cases.map(({ name, receipt }) => {
    const device = receipt.subarray(35, 67);
    const message = concat(utf8Encode("samtale/v1/receipt\0"), receipt.subarray(0, 67));
    const signature = receipt.subarray(67);
    const { valid, why } = judge(device, message, signature);
    return { name, receipt: toHex(receipt), valid, noble_strict_alone: nobleStrict(device, message, signature), why };
  });
}

export interface KeyCase {
  name: string;
  key: string;
  valid: boolean;
  /** Where the Rust crate is known to differ from the rule (see `note`). */
  rust_crate_accepts: boolean;
  why: string;
}

/** Public keys: what `IdentityKey` must accept and refuse. */
export function publicKeyCases(): KeyCase[] {
  const out: KeyCase[] = [];
  const add = (name: string, key: Uint8Array, rustAccepts?: boolean): void => {
    const strict = decodeStrict(key);
    const valid = strict !== null && !strict.isSmallOrder();
    const lenient = decodeLenient(key);
    const why =
      strict !== null
        ? strict.isSmallOrder()
          ? "a canonical encoding of a point of small order"
          : strict.isTorsionFree()
            ? "a canonical encoding of a point of prime order"
            : "a canonical encoding of a point of mixed order (not small)"
        : lenient === null
          ? "not a curve point"
          : lenient.isSmallOrder()
            ? "a non-canonical encoding of a point of small order"
            : "a non-canonical encoding (y >= p) of a point that is not of small order";
    out.push({ name, key: toHex(key), valid, rust_crate_accepts: rustAccepts ?? valid, why });
  };
  add("an ordinary device key", DeviceKeys.fromSeeds(fromHex("42".repeat(32)), fromHex("43".repeat(32))).public.identity.bytes);
  add("a mixed-order key", Point.BASE.multiply(scalar("a")).add(T8).toBytes());
  ED25519_TORSION_SUBGROUP.forEach((text, i) => add(`torsion point ${i}`, fromHex(text)));
  add("y = 2, not on the curve", leBytes(2n));
  for (let d = 0n; d < 19n; d++) {
    for (const sign of [0, 0x80]) {
      const key = leBytes(P + d);
      key[31] = (key[31] ?? 0) | sign;
      const point = decodeLenient(key);
      if (point === null) continue;
      // curve25519-dalek decodes y >= p as y - p; both clients refuse it
      // (the point must re-encode to the same bytes, PROTOCOL.md §2).
      add(`y = p + ${d}${sign === 0 ? "" : ", sign bit set"}`, key);
    }
  }
  return out;
}

export interface X25519Case {
  name: string;
  key: string;
  low_order: boolean;
}

/** X25519 public keys: the points of order dividing 8 in every encoding
 *  RFC 7748 lets through (u >= p is reduced, the top bit is ignored), and
 *  two ordinary keys as controls. */
export function x25519Cases(): X25519Case[] {
  const points: [string, bigint][] = [
    ["u = 0", 0n],
    ["u = 1", 1n],
    ["a point of order 8", 325606250916557431795983626356110631294008115727848805560023387167927233504n],
    ["the other point of order 8", 39382357235489614581723060781553021112529911719440698176882885853963445705823n],
    ["u = p - 1", P - 1n],
    ["u = p (0 unreduced)", P],
    ["u = p + 1 (1 unreduced)", P + 1n],
  ];
  const out: X25519Case[] = [];
  for (const [name, u] of points) {
    out.push({ name, key: toHex(leBytes(u)), low_order: true });
    const high = leBytes(u);
    high[31] = (high[31] ?? 0) | 0x80;
    out.push({ name: `${name}, top bit set`, key: toHex(high), low_order: true });
  }
  out.push({ name: "u = 9, the base point", key: toHex(leBytes(9n)), low_order: false });
  out.push({
    name: "an ordinary device's agreement key",
    key: toHex(DeviceKeys.fromSeeds(fromHex("42".repeat(32)), fromHex("43".repeat(32))).public.agreement.bytes),
    low_order: false,
  });
  return out;
}
