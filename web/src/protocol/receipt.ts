// Receipts (PROTOCOL.md §9): a device's signed statement that it received
// (`delivered`) or showed (`read`) a thread up to a sequence number.
// Mirrors `protocol/src/receipt.rs`.

import { keyField, ObjectType, Reader, Writer } from "./codec";
import { DecodeError, ReceiptError } from "./errors";
import { idFromBytes, idToBytes, type ThreadId } from "./ids";
import { IdentityKey, type DeviceKeys } from "./keys";
import { Context, verifyTrailing } from "./primitives";

export const RECEIPT_VERSION = 1;
/** Every receipt is exactly this long (131 bytes). */
export const RECEIPT_LEN = 2 + 16 + 8 + 1 + 8 + 32 + 64;

export type ReceiptKind = "delivered" | "read";

/** A signed receipt. */
export class Receipt {
  private constructor(
    readonly threadId: ThreadId,
    readonly upToSeq: bigint,
    readonly kind: ReceiptKind,
    /** Unix milliseconds. */
    readonly atMs: bigint,
    /** The device that signed. */
    readonly device: IdentityKey,
    private readonly encoded: Uint8Array,
  ) {}

  static sign(device: DeviceKeys, threadId: ThreadId, upToSeq: bigint, kind: ReceiptKind, atMs: bigint): Receipt {
    const key = device.public.identity;
    const w = new Writer(RECEIPT_LEN)
      .u8(ObjectType.receipt)
      .u8(RECEIPT_VERSION)
      .bytes(idToBytes(threadId))
      .u64(upToSeq)
      .u8(kind === "delivered" ? 1 : 2)
      .u64(atMs)
      .bytes(key.bytes);
    w.bytes(device.sign(Context.receipt, w.view()));
    return new Receipt(threadId, upToSeq, kind, atMs, key, w.toBytes());
  }

  /** Decodes a receipt and verifies its signature. */
  static decodeAndVerify(bytes: Uint8Array): Receipt {
    let receipt: Receipt;
    try {
      const r = new Reader(bytes);
      r.header(ObjectType.receipt, RECEIPT_VERSION);
      const threadId = idFromBytes<ThreadId>(r.take(16));
      const upToSeq = r.u64();
      const k = r.u8();
      if (k !== 1 && k !== 2) throw DecodeError.invalid("receipt kind");
      const atMs = r.u64();
      const device = keyField(() => IdentityKey.fromBytes(r.take(32)), "device key");
      r.take(64);
      r.finish();
      receipt = new Receipt(threadId, upToSeq, k === 1 ? "delivered" : "read", atMs, device, bytes.slice());
    } catch (e) {
      if (e instanceof DecodeError) throw ReceiptError.malformed(e);
      throw e;
    }
    if (!verifyTrailing(receipt.device.bytes, Context.receipt, bytes)) throw ReceiptError.badSignature();
    return receipt;
  }

  get bytes(): Uint8Array {
    return this.encoded.slice();
  }
}
