// Fingerprints people compare (PROTOCOL.md §10): safety numbers for a pair
// of accounts (all their current devices), a device's fingerprint, and the
// organisation root's fingerprint printed on invitation letters. Mirrors
// `protocol/src/safety.rs`.

import { compareBytes, concat } from "./bytes";
import type { IdentityKey, OrgRootPublicKey } from "./keys";
import { sha256, sha512 } from "./primitives";
import { utf8Encode } from "./utf8";

const SAFETY_ITERATIONS = 5200;
const CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** One party: a stable id (the account id's 16 bytes) and the identity
 *  keys of all its current devices, in any order. */
export interface SafetyParty {
  readonly stableId: Uint8Array;
  readonly devices: readonly IdentityKey[];
}

function u64be(n: number): Uint8Array {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, BigInt(n));
  return out;
}

function partyDigits(party: SafetyParty): string {
  const sorted = party.devices.map((k) => k.bytes).sort(compareBytes);
  const key = concat(...sorted);
  let digest = sha512(
    concat(utf8Encode("samtale/v1/safety-number\0"), u64be(party.stableId.length), party.stableId, key),
  );
  for (let i = 1; i < SAFETY_ITERATIONS; i++) digest = sha512(concat(digest, key));
  let out = "";
  for (let chunk = 0; chunk < 30; chunk += 5) {
    let n = 0n;
    for (let j = chunk; j < chunk + 5; j++) n = (n << 8n) | BigInt(digest[j] ?? 0);
    out += (n % 100_000n).toString().padStart(5, "0");
  }
  return out;
}

function groups(text: string, size: number, separator: string): string {
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out.join(separator);
}

/** The 60-digit safety number of two parties, in 12 groups of 5. Both
 *  sides compute the same number; it changes when either party adds,
 *  removes or replaces a device. */
export function safetyNumber(a: SafetyParty, b: SafetyParty): string {
  const x = partyDigits(a);
  const y = partyDigits(b);
  return groups(x <= y ? x + y : y + x, 5, " ");
}

/** A device's fingerprint: the first 100 bits of
 *  SHA-256("samtale/v1/device-fingerprint" || 0x00 || identity key) as 25
 *  upper-case hex digits in five groups of five. */
export function deviceFingerprint(identity: IdentityKey): string {
  const digest = sha256(concat(utf8Encode("samtale/v1/device-fingerprint\0"), identity.bytes));
  let hex = "";
  for (const b of digest) hex += b.toString(16).toUpperCase().padStart(2, "0");
  return groups(hex.slice(0, 25), 5, "-");
}

/** The organisation root's fingerprint for letters: the first 125 bits of
 *  SHA-256("samtale/v1/org-root-fingerprint" || 0x00 || root key) as 25
 *  Crockford base32 characters in five groups of five. */
export function orgFingerprint(root: OrgRootPublicKey): string {
  const digest = sha256(concat(utf8Encode("samtale/v1/org-root-fingerprint\0"), root.bytes));
  let bits = 0n;
  for (let i = 0; i < 16; i++) bits = (bits << 8n) | BigInt(digest[i] ?? 0);
  bits >>= 3n;
  let chars = "";
  for (let i = 0; i < 25; i++) chars += CROCKFORD[Number((bits >> BigInt(5 * (24 - i))) & 31n)] ?? "";
  return groups(chars, 5, "-");
}

// Rust's `char::is_whitespace` (Unicode White_Space), which differs from
// JavaScript's `\s` (no U+0085, but U+FEFF).
const WHITESPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/gu;

function normaliseFingerprint(text: string): string {
  return text
    .replace(WHITESPACE, "")
    .replaceAll("-", "")
    .replace(/[a-z]/g, (c) => c.toUpperCase())
    .replace(/[OIL]/g, (c) => (c === "O" ? "0" : "1"));
}

/** Compares a fingerprint a person typed with the expected one, ignoring
 *  case, spaces and hyphens, reading O as 0 and I, L as 1 (Crockford). */
export function fingerprintsMatch(typed: string, expected: string): boolean {
  const a = normaliseFingerprint(typed);
  return a.length > 0 && a === normaliseFingerprint(expected);
}
