// Holder key records (PROTOCOL.md §8): the signed publication of one holder
// epoch's public key, so that senders check whom they encrypt to. Who may
// sign which is decided by `trust.ts`. Mirrors `protocol/src/holder_key.rs`.

import { keyField, ObjectType, Reader, Writer } from "./codec";
import { DecodeError, HolderKeyError } from "./errors";
import { idFromBytes, idToBytes, type HolderId } from "./ids";
import { AgreementKey, holderKindByte, holderKindFromByte, IdentityKey, type HolderPublicKey, type Signer } from "./keys";
import { Context, verifyTrailing } from "./primitives";

export const HOLDER_KEY_VERSION = 1;
/** Every holder key record is exactly this long (175 bytes). */
export const HOLDER_KEY_RECORD_LEN = 2 + 16 + 1 + 4 + 32 + 16 + 8 + 32 + 64;

/** A decoded record whose signature verified. */
export class HolderKeyRecord {
  private constructor(
    readonly key: HolderPublicKey,
    /** The team id, the citizen's account id or the organisation id (16 bytes). */
    readonly owner: Uint8Array,
    /** Unix seconds. */
    readonly createdAt: bigint,
    readonly signer: IdentityKey,
    private readonly encoded: Uint8Array,
  ) {}

  /** Signs the publication of `key` by a device or by the organisation root. */
  static sign(signer: Signer, key: HolderPublicKey, owner: Uint8Array, createdAt: bigint): HolderKeyRecord {
    if (owner.length !== 16) throw new RangeError("an owner id is 16 bytes");
    const signerKey = signer.signerKey;
    const w = new Writer(HOLDER_KEY_RECORD_LEN)
      .u8(ObjectType.holderKey)
      .u8(HOLDER_KEY_VERSION)
      .bytes(idToBytes(key.holder))
      .u8(holderKindByte(key.kind))
      .u32(key.epoch)
      .bytes(key.key.bytes)
      .bytes(owner)
      .u64(createdAt)
      .bytes(signerKey.bytes);
    w.bytes(signer.sign(Context.holderKey, w.view()));
    return new HolderKeyRecord(key, owner.slice(), createdAt, signerKey, w.toBytes());
  }

  /** Decodes a record and verifies its signature. */
  static decodeAndVerify(bytes: Uint8Array): HolderKeyRecord {
    let record: HolderKeyRecord;
    try {
      const r = new Reader(bytes);
      r.header(ObjectType.holderKey, HOLDER_KEY_VERSION);
      const holder = idFromBytes<HolderId>(r.take(16));
      const kind = holderKindFromByte(r.u8());
      if (kind === undefined) throw DecodeError.invalid("holder kind");
      const epoch = r.u32();
      const key = keyField(() => AgreementKey.fromBytes(r.take(32)), "holder public key");
      const owner = r.take(16);
      const createdAt = r.u64();
      const signer = keyField(() => IdentityKey.fromBytes(r.take(32)), "signer key");
      r.take(64);
      r.finish();
      record = new HolderKeyRecord({ holder, epoch, kind, key }, owner, createdAt, signer, bytes.slice());
    } catch (e) {
      if (e instanceof DecodeError) throw HolderKeyError.malformed(e);
      throw e;
    }
    if (!verifyTrailing(record.signer.bytes, Context.holderKey, bytes)) throw HolderKeyError.badSignature();
    return record;
  }

  get bytes(): Uint8Array {
    return this.encoded.slice();
  }
}
