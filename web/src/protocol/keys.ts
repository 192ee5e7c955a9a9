// Keys (PROTOCOL.md §3): device keys (Ed25519 identity, X25519 agreement),
// the organisation root, key holders with epochs. Public keys are parsed
// once and valid from then on; secret material lives in Uint8Arrays the
// owner can wipe, is copied in and out explicitly, and is never part of
// what a key object prints or serialises. Mirrors `protocol/src/keys.rs`.

import { b64Encode } from "./b64";
import { bytesEqual, concat, wipe } from "./bytes";
import { KeyError } from "./errors";
import type { HolderId } from "./ids";
import {
  ed25519PublicKey,
  isLowOrderX25519,
  isValidEd25519PublicKey,
  sha256,
  sign,
  type SignatureContext,
  x25519Public,
} from "./primitives";
import { randomBytes } from "./random";
import { utf8Encode } from "./utf8";

function length32(bytes: Uint8Array, what: string): void {
  if (bytes.length !== 32) throw KeyError.wrongLength(what, 32, bytes.length);
}

/** An Ed25519 public key that is a canonical encoding of a point not of small order. */
abstract class Ed25519Public {
  readonly #bytes: Uint8Array;

  protected constructor(bytes: Uint8Array) {
    this.#bytes = bytes.slice();
  }

  /** A copy of the 32 bytes. */
  get bytes(): Uint8Array {
    return this.#bytes.slice();
  }

  /** The key as unpadded base64url (its JSON form, and a Map key). */
  toString(): string {
    return b64Encode(this.#bytes);
  }

  toJSON(): string {
    return this.toString();
  }

  /** Same key bytes. */
  equals(other: Ed25519Public): boolean {
    return bytesEqual(this.#bytes, other.#bytes);
  }
}

/** A device's Ed25519 public key: its identity. */
export class IdentityKey extends Ed25519Public {
  declare private readonly identityBrand: undefined;

  /** Parses 32 bytes, refusing invalid, non-canonical and small-order keys. */
  static fromBytes(bytes: Uint8Array): IdentityKey {
    length32(bytes, "identity key");
    if (!isValidEd25519PublicKey(bytes)) throw KeyError.invalidIdentityKey();
    return new IdentityKey(bytes);
  }
}

/** The organisation root's public key: certifies staff devices. */
export class OrgRootPublicKey extends Ed25519Public {
  declare private readonly rootBrand: undefined;

  static fromBytes(bytes: Uint8Array): OrgRootPublicKey {
    length32(bytes, "organisation root key");
    if (!isValidEd25519PublicKey(bytes)) throw KeyError.invalidIdentityKey();
    return new OrgRootPublicKey(bytes);
  }

  /** The same key as a signer key: records the root signs name it as `signer`. */
  asIdentity(): IdentityKey {
    return IdentityKey.fromBytes(this.bytes);
  }

  /** Whether `signer` is this root key. */
  is(signer: IdentityKey): boolean {
    return this.equals(signer);
  }
}

/** An X25519 public key secrets are sealed to; never of low order. */
export class AgreementKey {
  readonly #bytes: Uint8Array;

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes.slice();
  }

  /** Parses 32 bytes, refusing the low-order points. */
  static fromBytes(bytes: Uint8Array): AgreementKey {
    length32(bytes, "agreement key");
    if (isLowOrderX25519(bytes)) throw KeyError.lowOrderAgreementKey();
    return new AgreementKey(bytes);
  }

  /** A copy of the 32 bytes. */
  get bytes(): Uint8Array {
    return this.#bytes.slice();
  }

  toString(): string {
    return b64Encode(this.#bytes);
  }

  toJSON(): string {
    return this.toString();
  }

  equals(other: AgreementKey): boolean {
    return bytesEqual(this.#bytes, other.#bytes);
  }

  /** Wraps a public key this layer computed itself (no check needed). */
  static trusted(bytes: Uint8Array): AgreementKey {
    return new AgreementKey(bytes);
  }
}

/** The public half of a device: what the server stores and others see. */
export interface DevicePublicKeys {
  /** Ed25519: signs envelopes, grants, receipts, membership records. */
  readonly identity: IdentityKey;
  /** X25519: receives grants. */
  readonly agreement: AgreementKey;
}

/** Whether two devices' public keys are the same (both keys). */
export function sameDeviceKeys(a: DevicePublicKeys, b: DevicePublicKeys): boolean {
  return a.identity.equals(b.identity) && a.agreement.equals(b.agreement);
}

/** Something that signs: a device or the organisation root. */
export interface Signer {
  /** The key its signatures verify under. */
  readonly signerKey: IdentityKey;
  /** Signs `context || 0x00 || message`. */
  sign(context: SignatureContext, message: Uint8Array): Uint8Array;
}

/**
 * A device's private keys. They leave the device only through
 * `toKeystoreBytes` into the encrypted keystore. `wipe()` zeroes them.
 */
export class DeviceKeys implements Signer {
  readonly #signing: Uint8Array;
  readonly #agreement: Uint8Array;
  readonly #public: DevicePublicKeys;

  private constructor(signing: Uint8Array, agreement: Uint8Array) {
    this.#signing = signing.slice();
    this.#agreement = agreement.slice();
    this.#public = {
      identity: IdentityKey.fromBytes(ed25519PublicKey(this.#signing)),
      agreement: AgreementKey.trusted(x25519Public(this.#agreement)),
    };
  }

  /** New random keys from the platform's CSPRNG. */
  static generate(): DeviceKeys {
    const signing = randomBytes(32);
    const agreement = randomBytes(32);
    try {
      return new DeviceKeys(signing, agreement);
    } finally {
      wipe(signing, agreement);
    }
  }

  /** Keys from fixed seeds (an Ed25519 seed and an X25519 scalar); for
   *  restoring and for test vectors. The inputs are copied, not kept. */
  static fromSeeds(signingSeed: Uint8Array, agreementSecret: Uint8Array): DeviceKeys {
    length32(signingSeed, "identity seed");
    length32(agreementSecret, "agreement secret");
    return new DeviceKeys(signingSeed, agreementSecret);
  }

  /** Restores keys written by `toKeystoreBytes` (64 bytes). */
  static fromKeystoreBytes(bytes: Uint8Array): DeviceKeys {
    if (bytes.length !== 64) throw KeyError.wrongLength("device key export", 64, bytes.length);
    return new DeviceKeys(bytes.subarray(0, 32), bytes.subarray(32));
  }

  /** The 64 secret bytes (Ed25519 seed, then X25519 scalar) for the
   *  keystore; the caller wipes them when done. */
  toKeystoreBytes(): Uint8Array {
    return concat(this.#signing, this.#agreement);
  }

  get public(): DevicePublicKeys {
    return this.#public;
  }

  get signerKey(): IdentityKey {
    return this.#public.identity;
  }

  sign(context: SignatureContext, message: Uint8Array): Uint8Array {
    return sign(this.#signing, context, message);
  }

  /** The X25519 scalar, for opening grants. Internal to the protocol layer. */
  agreementSecret(): Uint8Array {
    return this.#agreement;
  }

  /** Zeroes the secret keys; the object must not be used afterwards. */
  wipe(): void {
    wipe(this.#signing, this.#agreement);
  }

  toJSON(): { identity: string; agreement: string } {
    return { identity: this.#public.identity.toString(), agreement: this.#public.agreement.toString() };
  }

  /** Names the device by its public identity key only. */
  toString(): string {
    return `DeviceKeys(${this.#public.identity.toString()})`;
  }
}

/** The organisation root's private key, held by the organisation admin. */
export class OrgRootKey implements Signer {
  readonly #seed: Uint8Array;
  readonly #public: OrgRootPublicKey;

  private constructor(seed: Uint8Array) {
    this.#seed = seed.slice();
    this.#public = OrgRootPublicKey.fromBytes(ed25519PublicKey(this.#seed));
  }

  static generate(): OrgRootKey {
    const seed = randomBytes(32);
    try {
      return new OrgRootKey(seed);
    } finally {
      wipe(seed);
    }
  }

  /** A root from a 32-byte Ed25519 seed (restoring, test vectors). */
  static fromSeed(seed: Uint8Array): OrgRootKey {
    length32(seed, "organisation root key export");
    return new OrgRootKey(seed);
  }

  get public(): OrgRootPublicKey {
    return this.#public;
  }

  get signerKey(): IdentityKey {
    return this.#public.asIdentity();
  }

  sign(context: SignatureContext, message: Uint8Array): Uint8Array {
    return sign(this.#seed, context, message);
  }

  /** The 32-byte seed for the keystore; the caller wipes it. */
  toKeystoreBytes(): Uint8Array {
    return this.#seed.slice();
  }

  wipe(): void {
    wipe(this.#seed);
  }

  toJSON(): { public: string } {
    return { public: this.#public.toString() };
  }

  toString(): string {
    return `OrgRootKey(${this.#public.toString()})`;
  }
}

/** What a key holder stands for, and its byte in encodings. */
export type HolderKind = "team" | "citizen" | "archive";

export function holderKindByte(kind: HolderKind): number {
  return kind === "team" ? 1 : kind === "citizen" ? 2 : 3;
}

export function holderKindFromByte(b: number): HolderKind | undefined {
  return b === 1 ? "team" : b === 2 ? "citizen" : b === 3 ? "archive" : undefined;
}

/** One epoch of one key holder: the unit messages are sealed to. */
export interface HolderEpoch {
  readonly holder: HolderId;
  readonly epoch: number;
}

export function sameHolderEpoch(a: HolderEpoch, b: HolderEpoch): boolean {
  return a.holder === b.holder && a.epoch === b.epoch;
}

/** The public key of one holder epoch. */
export interface HolderPublicKey extends HolderEpoch {
  readonly kind: HolderKind;
  readonly key: AgreementKey;
}

/** The private key of one holder epoch. Devices receive it through grants. */
export class HolderKeyPair {
  readonly #secret: Uint8Array;
  readonly #public: HolderPublicKey;

  private constructor(epoch: HolderEpoch, kind: HolderKind, secret: Uint8Array) {
    this.#secret = secret.slice();
    this.#public = {
      holder: epoch.holder,
      epoch: epoch.epoch,
      kind,
      key: AgreementKey.trusted(x25519Public(this.#secret)),
    };
  }

  /** A new random key for `holder` at `epoch`. */
  static generate(holder: HolderId, kind: HolderKind, epoch: number): HolderKeyPair {
    const secret = randomBytes(32);
    try {
      return new HolderKeyPair({ holder, epoch }, kind, secret);
    } finally {
      wipe(secret);
    }
  }

  /** A key pair from a 32-byte X25519 scalar (keystore, grants, vectors). */
  static fromSecret(epoch: HolderEpoch, kind: HolderKind, secret: Uint8Array): HolderKeyPair {
    length32(secret, "holder key export");
    return new HolderKeyPair(epoch, kind, secret);
  }

  get public(): HolderPublicKey {
    return this.#public;
  }

  get epoch(): HolderEpoch {
    return { holder: this.#public.holder, epoch: this.#public.epoch };
  }

  get kind(): HolderKind {
    return this.#public.kind;
  }

  /** The 32 secret bytes for the keystore; the caller wipes them. */
  toKeystoreBytes(): Uint8Array {
    return this.#secret.slice();
  }

  /** The X25519 scalar, for opening envelopes. Internal to the protocol layer. */
  secret(): Uint8Array {
    return this.#secret;
  }

  wipe(): void {
    wipe(this.#secret);
  }

  toJSON(): { holder: string; epoch: number; kind: HolderKind; key: string } {
    const p = this.#public;
    return { holder: p.holder, epoch: p.epoch, kind: p.kind, key: p.key.toString() };
  }

  toString(): string {
    return `HolderKeyPair(${this.#public.holder}, epoch ${this.#public.epoch})`;
  }
}

/**
 * The OpenID Connect `nonce` a client sends to the eID broker when it signs
 * up a new device (§3): unpadded base64url of
 * `SHA-256("samtale/v1/eid-nonce" || 0x00 || identity key || agreement key)`.
 */
export function eidNonce(device: DevicePublicKeys): string {
  return b64Encode(sha256(concat(utf8Encode("samtale/v1/eid-nonce\0"), device.identity.bytes, device.agreement.bytes)));
}
