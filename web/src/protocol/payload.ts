// What is inside an envelope (PROTOCOL.md §4.4) and the encrypted
// attachments it refers to (§4.5). The payload is UTF-8 JSON, one closed
// object, read exactly as the Rust crate reads it (serde with
// deny_unknown_fields): see `json.ts` for what that takes beyond
// `JSON.parse`. Mirrors `protocol/src/payload.rs`.

import { b64Decode, b64Encode, Base64Error } from "./b64";
import { toHex, wipe } from "./bytes";
import { MAX_PAYLOAD_BYTES } from "./envelope";
import { PayloadError } from "./errors";
import { IdError, parseId, type AttachmentId } from "./ids";
import { isWellFormed, JsonObject, JsonSyntaxError, parseJson, unsignedInteger, type JsonValue } from "./json";
import { aeadOpen, aeadSeal, sha256 } from "./primitives";
import { randomBytes } from "./random";
import { Utf8Error, utf8Decode, utf8Encode, utf8Length } from "./utf8";

/** The payload format version this layer writes and reads. */
export const PAYLOAD_VERSION = 1;
/** The attachment blob format version (its first byte). */
export const ATTACHMENT_VERSION = 1;
/** The most attachments one message may refer to. */
export const MAX_ATTACHMENTS = 16;
/** The longest file name, in bytes. */
export const MAX_FILE_NAME_BYTES = 255;

const ATTACHMENT_AAD = utf8Encode("samtale/v1/attachment");
const U8_MAX = 0xffn;
const U64_MAX = (1n << 64n) - 1n;

/** A 32-byte single-use attachment key; the owner wipes it. */
export class AttachmentKey {
  readonly #bytes: Uint8Array;

  private constructor(bytes: Uint8Array) {
    this.#bytes = bytes.slice();
  }

  static generate(): AttachmentKey {
    const bytes = randomBytes(32);
    const key = new AttachmentKey(bytes);
    wipe(bytes);
    return key;
  }

  static fromBytes(bytes: Uint8Array): AttachmentKey {
    if (bytes.length !== 32) throw new RangeError("an attachment key is 32 bytes");
    return new AttachmentKey(bytes);
  }

  get bytes(): Uint8Array {
    return this.#bytes.slice();
  }

  wipe(): void {
    wipe(this.#bytes);
  }

  toJSON(): string {
    return "AttachmentKey(***)";
  }
}

/** A reference to an encrypted attachment: what is needed to fetch, check and decrypt it. */
export interface AttachmentRef {
  readonly id: AttachmentId;
  /** The file name the sender chose (no directories). */
  readonly name: string;
  readonly mediaType: string;
  /** The plaintext size in bytes. */
  readonly size: bigint;
  /** SHA-256 of the stored (encrypted) blob, lowercase hex. */
  readonly blobSha256: string;
  readonly key: AttachmentKey;
}

/** The decrypted content of an envelope (version 1). */
export interface MessagePayload {
  readonly text: string;
  readonly attachments: readonly AttachmentRef[];
}

function check(p: MessagePayload): void {
  if (p.attachments.length > MAX_ATTACHMENTS) throw PayloadError.invalid("at most 16 attachments per message");
  for (const a of p.attachments) {
    const n = a.name;
    if (n === "" || !isWellFormed(n) || utf8Length(n) > MAX_FILE_NAME_BYTES || /[/\\\0]/.test(n) || n === "." || n === "..") {
      throw PayloadError.invalid("an attachment's file name must be 1–255 bytes without directories");
    }
    if (!/^[0-9a-fA-F]{64}$/.test(a.blobSha256)) {
      throw PayloadError.invalid("an attachment's hash must be 64 hex digits");
    }
    if (a.size < 0n || a.size > U64_MAX) throw new RangeError("an attachment's size is a u64");
  }
}

/** Encodes a payload as §4.4 JSON (the bytes the Rust crate writes for it). */
export function encodePayload(p: MessagePayload): Uint8Array {
  check(p);
  let json = `{"v":${PAYLOAD_VERSION},"text":${JSON.stringify(p.text)}`;
  if (p.attachments.length > 0) {
    const items = p.attachments.map((a) => {
      const key = a.key.bytes;
      const text =
        `{"id":${JSON.stringify(a.id)},"name":${JSON.stringify(a.name)},"media_type":${JSON.stringify(a.mediaType)},` +
        `"size":${a.size.toString()},"blob_sha256":${JSON.stringify(a.blobSha256)},"key":${JSON.stringify(b64Encode(key))}}`;
      wipe(key);
      return text;
    });
    json += `,"attachments":[${items.join(",")}]`;
  }
  json += "}";
  let bytes: Uint8Array;
  try {
    bytes = utf8Encode(json);
  } catch (e) {
    if (e instanceof Utf8Error) throw PayloadError.malformed();
    throw e;
  }
  if (bytes.length > MAX_PAYLOAD_BYTES) {
    wipe(bytes);
    throw PayloadError.tooLarge();
  }
  return bytes;
}

/** Decodes an opened envelope's payload: `unknown_version` before anything
 *  else is read, then `malformed` for any departure from the closed
 *  object, then `invalid` for the limits. */
export function decodePayload(bytes: Uint8Array): MessagePayload {
  let doc: JsonValue;
  try {
    doc = parseJson(utf8Decode(bytes));
  } catch (e) {
    if (e instanceof Utf8Error || e instanceof JsonSyntaxError) throw PayloadError.malformed();
    throw e;
  }
  if (!(doc instanceof JsonObject)) throw PayloadError.malformed();
  // First pass, as serde reads `{v}` alone: other fields are ignored here.
  if (doc.keys().filter((k) => k === "v").length !== 1) throw PayloadError.malformed();
  const v = unsignedInteger(doc.get("v"), U8_MAX);
  if (v === undefined) throw PayloadError.malformed();
  if (v !== BigInt(PAYLOAD_VERSION)) throw PayloadError.unknownVersion(Number(v));
  // Second pass: the closed object.
  closed(doc, ["v", "text"], ["attachments"]);
  const text = string(doc.get("text"));
  const list = doc.get("attachments");
  let attachments: AttachmentRef[] = [];
  if (list !== undefined) {
    if (!Array.isArray(list)) throw PayloadError.malformed();
    attachments = list.map(attachment);
  }
  const payload = { text, attachments };
  check(payload);
  return payload;
}

function closed(o: JsonObject, required: readonly string[], optional: readonly string[]): void {
  if (o.hasRepeatedKeys()) throw PayloadError.malformed();
  const keys = o.keys();
  if (keys.some((k) => !required.includes(k) && !optional.includes(k))) throw PayloadError.malformed();
  if (required.some((k) => !keys.includes(k))) throw PayloadError.malformed();
}

function string(v: JsonValue | undefined): string {
  if (typeof v !== "string" || !isWellFormed(v)) throw PayloadError.malformed();
  return v;
}

function attachment(v: JsonValue): AttachmentRef {
  if (!(v instanceof JsonObject)) throw PayloadError.malformed();
  closed(v, ["id", "name", "media_type", "size", "blob_sha256", "key"], []);
  let id: AttachmentId;
  let key: Uint8Array;
  try {
    id = parseId<AttachmentId>(string(v.get("id")));
    key = b64Decode(string(v.get("key")));
  } catch (e) {
    if (e instanceof IdError || e instanceof Base64Error) throw PayloadError.malformed();
    throw e;
  }
  if (key.length !== 32) throw PayloadError.malformed();
  const size = unsignedInteger(v.get("size"), U64_MAX);
  if (size === undefined) throw PayloadError.malformed();
  const ref = {
    id,
    name: string(v.get("name")),
    mediaType: string(v.get("media_type")),
    size,
    blobSha256: string(v.get("blob_sha256")),
    key: AttachmentKey.fromBytes(key),
  };
  wipe(key);
  return ref;
}

/** Encrypts a file for upload: 0x01 || ChaCha20-Poly1305(A, nonce 0,
 *  aad "samtale/v1/attachment", file). The key is used once. */
export function sealAttachment(key: AttachmentKey, file: Uint8Array): Uint8Array {
  const k = key.bytes;
  const sealed = aeadSeal(k, ATTACHMENT_AAD, file);
  wipe(k);
  const out = new Uint8Array(1 + sealed.length);
  out[0] = ATTACHMENT_VERSION;
  out.set(sealed, 1);
  return out;
}

/** Decrypts a downloaded blob (`attachment_corrupt` on any failure). */
export function openAttachment(key: AttachmentKey, blob: Uint8Array): Uint8Array {
  if (blob.length === 0 || blob[0] !== ATTACHMENT_VERSION) throw PayloadError.attachmentCorrupt();
  const k = key.bytes;
  const file = aeadOpen(k, ATTACHMENT_AAD, blob.subarray(1));
  wipe(k);
  if (file === null) throw PayloadError.attachmentCorrupt();
  return file;
}

/** Checks a downloaded blob against the reference the sender signed, then decrypts it. */
export function openReferenced(reference: AttachmentRef, blob: Uint8Array): Uint8Array {
  if (blobSha256(blob) !== reference.blobSha256) throw PayloadError.attachmentHashMismatch();
  const file = openAttachment(reference.key, blob);
  if (BigInt(file.length) !== reference.size) {
    wipe(file);
    throw PayloadError.attachmentCorrupt();
  }
  return file;
}

/** SHA-256 of a blob as lowercase hex, as in `AttachmentRef.blobSha256`. */
export function blobSha256(blob: Uint8Array): string {
  return toHex(sha256(blob));
}
