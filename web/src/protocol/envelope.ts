// The message envelope (PROTOCOL.md §4): a random 32-byte content key K is
// expanded with HKDF-SHA256 into the payload key and a key commitment; the
// padded payload is encrypted with ChaCha20-Poly1305 under the payload key
// with the header as associated data; K is HPKE-sealed to every recipient
// holder epoch with the header as HPKE aad; the sending device signs it all.
// The commitment in the signed header makes every recipient (the archive
// included) decrypt the same plaintext. Mirrors `protocol/src/envelope.rs`.

import { bytesEqual, wipe } from "./bytes";
import { keyField, ObjectType, Reader, Writer } from "./codec";
import { DecodeError, OpenError, ProtocolError, SealError } from "./errors";
import { idFromBytes, idToBytes, type HolderId, type MessageId, type ThreadId } from "./ids";
import { IdentityKey, sameHolderEpoch, type DeviceKeys, type HolderEpoch, type HolderKeyPair, type HolderPublicKey } from "./keys";
import { aeadOpen, aeadSeal, Context, hkdfSha256, hpkeOpenSecret, hpkeSealSecret, Info, SEALED_SECRET_LEN, verifyAsync, verifyTrailing } from "./primitives";
import { systemEntropy, type Entropy } from "./random";
import { utf8Encode } from "./utf8";

export const ENVELOPE_VERSION = 1;
/** The most recipient holder epochs one envelope may name. */
export const MAX_RECIPIENTS = 16;
/** The largest plaintext payload, in bytes. */
export const MAX_PAYLOAD_BYTES = 64 * 1024;
/** Payloads are padded to a multiple of this many bytes. */
export const PADDING_BLOCK = 256;

const HEADER_FIXED_LEN = 2 + 16 + 16 + 32 + 32 + 1;
const RECIPIENT_LEN = 16 + 4;
const WRAPPED_LEN = 32 + SEALED_SECRET_LEN;
const TAG_LEN = 16;
const SIGNATURE_LEN = 64;
const MAX_PADDED_LEN = paddedLength(MAX_PAYLOAD_BYTES);
/** The largest valid encoded envelope (67,575 bytes). */
export const MAX_ENVELOPE_BYTES =
  HEADER_FIXED_LEN + MAX_RECIPIENTS * (RECIPIENT_LEN + WRAPPED_LEN) + 4 + MAX_PADDED_LEN + TAG_LEN + SIGNATURE_LEN;

const PAYLOAD_INFO = utf8Encode("samtale/v1/payload");

/** The padded length of a payload: the next multiple of 256 strictly above it. */
export function paddedLength(payloadLength: number): number {
  return (Math.floor(payloadLength / PADDING_BLOCK) + 1) * PADDING_BLOCK;
}

/** Where an envelope was delivered: the fields its header must match. */
export interface DeliveryContext {
  readonly threadId: ThreadId;
  readonly messageId: MessageId;
}

/** A successfully opened envelope. */
export interface OpenedMessage {
  /** The device that signed. Check its certificate (staff) or device list
   *  (citizen) before showing anything. */
  readonly sender: IdentityKey;
  /** The plaintext payload, padding removed. The caller wipes it when done. */
  readonly payload: Uint8Array;
}

/** One message's 32-byte content key K. It opens that envelope only (the
 *  signed header commits to it), so a journal export may disclose it. */
export class ContentKey {
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    if (bytes.length !== 32) throw new RangeError("a content key is 32 bytes");
    this.#bytes = bytes.slice();
  }

  /** A copy of the key's bytes, for a journal export. */
  get bytes(): Uint8Array {
    return this.#bytes.slice();
  }

  wipe(): void {
    wipe(this.#bytes);
  }

  toJSON(): string {
    return "ContentKey(***)";
  }

  toString(): string {
    return "ContentKey(***)";
  }
}

function expandContentKey(k: Uint8Array): { payloadKey: Uint8Array; commitment: Uint8Array } {
  const okm = hkdfSha256(k, PAYLOAD_INFO, 64);
  const out = { payloadKey: okm.slice(0, 32), commitment: okm.slice(32) };
  wipe(okm);
  return out;
}

function hasDuplicates(epochs: readonly HolderEpoch[]): boolean {
  return epochs.some((a, i) => epochs.slice(0, i).some((b) => sameHolderEpoch(a, b)));
}

/** ISO/IEC 7816-4 unpadding: the payload ends at the last 0x80, after which only zeros follow. */
function unpad(padded: Uint8Array): number | null {
  let last = padded.length - 1;
  while (last >= 0 && padded[last] === 0) last--;
  return last >= 0 && padded[last] === 0x80 ? last : null;
}

/** A decoded envelope. Its fields are authentic only after `open` or `verifySignature`. */
export class Envelope {
  private constructor(
    readonly threadId: ThreadId,
    readonly messageId: MessageId,
    /** The device that claims to have signed. */
    readonly sender: IdentityKey,
    readonly keyCommitment: Uint8Array,
    readonly recipients: readonly HolderEpoch[],
    private readonly headerLength: number,
    private readonly encoded: Uint8Array,
  ) {}

  /** Seals `payload` from `sender` to each holder epoch in `recipients`. */
  static seal(
    sender: DeviceKeys,
    threadId: ThreadId,
    messageId: MessageId,
    recipients: readonly HolderPublicKey[],
    payload: Uint8Array,
  ): Promise<Envelope> {
    return Envelope.sealWith(systemEntropy, sender, threadId, messageId, recipients, payload);
  }

  /** Seals with the given randomness: K (32 bytes), then one 32-byte HPKE
   *  ephemeral IKM per recipient, in order. For test vectors. */
  static async sealWith(
    entropy: Entropy,
    sender: DeviceKeys,
    threadId: ThreadId,
    messageId: MessageId,
    recipients: readonly HolderPublicKey[],
    payload: Uint8Array,
  ): Promise<Envelope> {
    if (recipients.length === 0) throw SealError.of("no_recipients");
    if (recipients.length > MAX_RECIPIENTS) throw SealError.of("too_many_recipients");
    if (payload.length > MAX_PAYLOAD_BYTES) throw SealError.of("payload_too_large");
    const epochs = recipients.map((r) => ({ holder: r.holder, epoch: r.epoch }));
    if (hasDuplicates(epochs)) throw SealError.of("duplicate_recipient");

    const k = draw(entropy, 32);
    const keys = expandContentKey(k);
    const senderKey = sender.public.identity;
    const padded = paddedLength(payload.length);
    const w = new Writer(HEADER_FIXED_LEN + recipients.length * (RECIPIENT_LEN + WRAPPED_LEN) + 4 + padded + TAG_LEN + SIGNATURE_LEN);
    w.u8(ObjectType.envelope)
      .u8(ENVELOPE_VERSION)
      .bytes(idToBytes(threadId))
      .bytes(idToBytes(messageId))
      .bytes(senderKey.bytes)
      .bytes(keys.commitment)
      .u8(epochs.length);
    for (const r of epochs) w.bytes(idToBytes(r.holder)).u32(r.epoch);
    const header = w.toBytes();
    try {
      for (const r of recipients) {
        const ikm = draw(entropy, 32);
        const sealed = await hpkeSealSecret(r.key.bytes, Info.contentKey, header, k, ikm);
        wipe(ikm);
        if (sealed === null) throw SealError.of("bad_recipient_key");
        w.bytes(sealed.enc).bytes(sealed.sealed);
      }
      const plaintext = new Uint8Array(padded);
      plaintext.set(payload);
      plaintext[payload.length] = 0x80;
      const ciphertext = aeadSeal(keys.payloadKey, header, plaintext);
      wipe(plaintext);
      w.u32(ciphertext.length).bytes(ciphertext);
      w.bytes(sender.sign(Context.envelope, w.view()));
    } finally {
      wipe(k, keys.payloadKey);
    }
    return new Envelope(threadId, messageId, senderKey, keys.commitment, epochs, header.length, w.toBytes());
  }

  /** Decodes and structurally validates an envelope (§4.1). Does not verify
   *  the signature: `open` and `verifySignature` do. */
  static decode(bytes: Uint8Array): Envelope {
    try {
      if (bytes.length > MAX_ENVELOPE_BYTES) throw DecodeError.tooLarge();
      const r = new Reader(bytes);
      r.header(ObjectType.envelope, ENVELOPE_VERSION);
      const threadId = idFromBytes<ThreadId>(r.take(16));
      const messageId = idFromBytes<MessageId>(r.take(16));
      const sender = keyField(() => IdentityKey.fromBytes(r.take(32)), "sender key");
      const keyCommitment = r.take(32);
      const n = r.u8();
      if (n === 0 || n > MAX_RECIPIENTS) throw DecodeError.invalid("recipient count");
      const recipients: HolderEpoch[] = [];
      for (let i = 0; i < n; i++) {
        const holder = idFromBytes<HolderId>(r.take(16));
        recipients.push({ holder, epoch: r.u32() });
      }
      if (hasDuplicates(recipients)) throw DecodeError.invalid("duplicate recipient");
      const headerLength = r.position;
      r.take(n * WRAPPED_LEN);
      const ctLength = r.u32();
      if (
        ctLength < PADDING_BLOCK + TAG_LEN ||
        ctLength > MAX_PADDED_LEN + TAG_LEN ||
        (ctLength - TAG_LEN) % PADDING_BLOCK !== 0
      ) {
        throw DecodeError.invalid("payload length");
      }
      r.take(ctLength);
      r.take(SIGNATURE_LEN);
      r.finish();
      return new Envelope(threadId, messageId, sender, keyCommitment, recipients, headerLength, bytes.slice());
    } catch (e) {
      if (e instanceof DecodeError) throw OpenError.malformed(e);
      throw e;
    }
  }

  /** A copy of the encoded envelope. */
  get bytes(): Uint8Array {
    return this.encoded.slice();
  }

  /** The header: the bytes the HPKE aad and the payload's associated data bind. */
  get header(): Uint8Array {
    return this.encoded.slice(0, this.headerLength);
  }

  /** Checks the Ed25519 signature against the sender key in the header. */
  verifySignature(): boolean {
    return verifyTrailing(this.sender.bytes, Context.envelope, this.encoded);
  }

  /** Opens with one holder epoch's private key (§4.3): signature, then the
   *  delivery context, then the recipient, then decryption. */
  async open(delivered: DeliveryContext, holder: HolderKeyPair): Promise<OpenedMessage> {
    const [opened, key] = await this.openDisclosing(delivered, holder);
    key.wipe();
    return opened;
  }

  /** As `open`, and also returns the content key, for a journal export. */
  async openDisclosing(delivered: DeliveryContext, holder: HolderKeyPair): Promise<[OpenedMessage, ContentKey]> {
    const split = this.encoded.length - SIGNATURE_LEN;
    const signed = await verifyAsync(
      this.sender.bytes,
      Context.envelope,
      this.encoded.subarray(0, split),
      this.encoded.subarray(split),
    );
    if (!signed) throw OpenError.of("bad_signature");
    this.#checkContext(delivered);
    const index = this.recipients.findIndex((r) => sameHolderEpoch(r, holder.epoch));
    if (index < 0) throw OpenError.of("not_a_recipient");
    const at = this.headerLength + index * WRAPPED_LEN;
    const enc = this.encoded.subarray(at, at + 32);
    const sealed = this.encoded.subarray(at + 32, at + WRAPPED_LEN);
    const k = await hpkeOpenSecret(holder.secret(), Info.contentKey, this.header, enc, sealed);
    if (k === null) throw OpenError.of("decryption_failed");
    const key = new ContentKey(k);
    wipe(k);
    return [this.#decrypt(key), key];
  }

  /** Opens with a disclosed content key (a journal export): signature and
   *  header, then the key against the signed commitment, then decryption. */
  openWithContentKey(delivered: DeliveryContext, key: ContentKey): OpenedMessage {
    this.#checkHeader(delivered);
    return this.#decrypt(key);
  }

  #checkHeader(delivered: DeliveryContext): void {
    if (!this.verifySignature()) throw OpenError.of("bad_signature");
    this.#checkContext(delivered);
  }

  #checkContext(delivered: DeliveryContext): void {
    if (this.threadId !== delivered.threadId) throw OpenError.of("wrong_thread");
    if (this.messageId !== delivered.messageId) throw OpenError.of("wrong_message");
  }

  #decrypt(key: ContentKey): OpenedMessage {
    const k = key.bytes;
    const keys = expandContentKey(k);
    wipe(k);
    try {
      if (!bytesEqual(keys.commitment, this.keyCommitment)) throw OpenError.of("decryption_failed");
      const ctAt = this.headerLength + this.recipients.length * WRAPPED_LEN + 4;
      const ct = this.encoded.subarray(ctAt, this.encoded.length - SIGNATURE_LEN);
      const padded = aeadOpen(keys.payloadKey, this.header, ct);
      if (padded === null) throw OpenError.of("decryption_failed");
      const end = unpad(padded);
      if (end === null) {
        wipe(padded);
        throw OpenError.of("decryption_failed");
      }
      const payload = padded.slice(0, end);
      wipe(padded);
      return { sender: this.sender, payload };
    } finally {
      wipe(keys.payloadKey);
    }
  }
}

function draw(entropy: Entropy, n: number): Uint8Array {
  try {
    return entropy.take(n);
  } catch (e) {
    if (e instanceof ProtocolError && e.code === "randomness") throw SealError.of("randomness", { cause: e });
    throw e;
  }
}
