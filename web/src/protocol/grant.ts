// Grants (PROTOCOL.md §6): one holder epoch's private key, HPKE-sealed to
// one device's X25519 key and signed by the granting device. The server
// stores and serves grants but cannot open them. Mirrors
// `protocol/src/grant.rs`.

import { bytesEqual, wipe } from "./bytes";
import { keyField, ObjectType, Reader, Writer } from "./codec";
import { DecodeError, GrantError, ProtocolError } from "./errors";
import { idFromBytes, idToBytes, type HolderId } from "./ids";
import {
  AgreementKey,
  HolderKeyPair,
  holderKindByte,
  holderKindFromByte,
  IdentityKey,
  type DeviceKeys,
  type HolderPublicKey,
} from "./keys";
import { Context, hpkeOpenSecret, hpkeSealSecret, Info, SEALED_SECRET_LEN, verifyTrailing } from "./primitives";
import { systemEntropy, type Entropy } from "./random";

export const GRANT_VERSION = 1;
const HEADER_LEN = 2 + 16 + 1 + 4 + 32 + 32 + 32 + 8;
/** Every grant is exactly this long (271 bytes). */
export const GRANT_LEN = HEADER_LEN + 32 + SEALED_SECRET_LEN + 64;

/** A decoded grant. */
export class Grant {
  private constructor(
    /** The holder epoch whose private key it carries. */
    readonly holder: HolderPublicKey,
    /** The receiving device's agreement key. */
    readonly recipient: AgreementKey,
    /** The granting device. */
    readonly granter: IdentityKey,
    /** Unix seconds. */
    readonly issuedAt: bigint,
    private readonly encoded: Uint8Array,
  ) {}

  /** `granter` grants `holder`'s private key to the device whose agreement
   *  key is `recipient` (taken from a signed source, §6). */
  static issue(granter: DeviceKeys, holder: HolderKeyPair, recipient: AgreementKey, issuedAt: bigint): Promise<Grant> {
    return Grant.issueWith(systemEntropy, granter, holder, recipient, issuedAt);
  }

  /** As `issue`, with the HPKE ephemeral IKM (32 bytes) from `entropy`. For test vectors. */
  static async issueWith(
    entropy: Entropy,
    granter: DeviceKeys,
    holder: HolderKeyPair,
    recipient: AgreementKey,
    issuedAt: bigint,
  ): Promise<Grant> {
    const pub = holder.public;
    const granterKey = granter.public.identity;
    const w = new Writer(GRANT_LEN)
      .u8(ObjectType.grant)
      .u8(GRANT_VERSION)
      .bytes(idToBytes(pub.holder))
      .u8(holderKindByte(pub.kind))
      .u32(pub.epoch)
      .bytes(pub.key.bytes)
      .bytes(recipient.bytes)
      .bytes(granterKey.bytes)
      .u64(issuedAt);
    let ikm: Uint8Array;
    try {
      ikm = entropy.take(32);
    } catch (e) {
      if (e instanceof ProtocolError && e.code === "randomness") throw GrantError.of("randomness", { cause: e });
      throw e;
    }
    const sealed = await hpkeSealSecret(recipient.bytes, Info.grant, w.toBytes(), holder.secret(), ikm);
    wipe(ikm);
    if (sealed === null) throw GrantError.of("bad_recipient_key");
    w.bytes(sealed.enc).bytes(sealed.sealed);
    w.bytes(granter.sign(Context.grant, w.view()));
    return new Grant(pub, recipient, granterKey, issuedAt, w.toBytes());
  }

  /** Decodes a grant (§6). */
  static decode(bytes: Uint8Array): Grant {
    try {
      if (bytes.length < GRANT_LEN) throw DecodeError.truncated();
      if (bytes.length > GRANT_LEN) throw DecodeError.trailingBytes(bytes.length - GRANT_LEN);
      const r = new Reader(bytes);
      r.header(ObjectType.grant, GRANT_VERSION);
      const holder = idFromBytes<HolderId>(r.take(16));
      const kind = holderKindFromByte(r.u8());
      if (kind === undefined) throw DecodeError.invalid("holder kind");
      const epoch = r.u32();
      const key = keyField(() => AgreementKey.fromBytes(r.take(32)), "holder public key");
      const recipient = keyField(() => AgreementKey.fromBytes(r.take(32)), "recipient key");
      const granter = keyField(() => IdentityKey.fromBytes(r.take(32)), "granter key");
      const issuedAt = r.u64();
      r.take(32 + SEALED_SECRET_LEN + 64);
      r.finish();
      return new Grant({ holder, epoch, kind, key }, recipient, granter, issuedAt, bytes.slice());
    } catch (e) {
      if (e instanceof DecodeError) throw GrantError.malformed(e);
      throw e;
    }
  }

  /** A copy of the encoded grant. */
  get bytes(): Uint8Array {
    return this.encoded.slice();
  }

  verifySignature(): boolean {
    return verifyTrailing(this.granter.bytes, Context.grant, this.encoded);
  }

  /** Opens the grant with this device's keys: signature, recipient,
   *  decryption, and that the key matches `holder.key`. Keep the key only
   *  if `holder.key` is that epoch's key in the holder's verified records. */
  async open(device: DeviceKeys): Promise<HolderKeyPair> {
    if (!this.verifySignature()) throw GrantError.of("bad_signature");
    if (!device.public.agreement.equals(this.recipient)) throw GrantError.of("not_for_this_device");
    const enc = this.encoded.subarray(HEADER_LEN, HEADER_LEN + 32);
    const sealed = this.encoded.subarray(HEADER_LEN + 32, HEADER_LEN + 32 + SEALED_SECRET_LEN);
    const header = this.encoded.slice(0, HEADER_LEN);
    const secret = await hpkeOpenSecret(device.agreementSecret(), Info.grant, header, enc, sealed);
    if (secret === null) throw GrantError.of("decryption_failed");
    const pair = HolderKeyPair.fromSecret(this.holder, this.holder.kind, secret);
    wipe(secret);
    if (!bytesEqual(pair.public.key.bytes, this.holder.key.bytes)) {
      pair.wipe();
      throw GrantError.of("key_mismatch");
    }
    return pair;
  }
}
