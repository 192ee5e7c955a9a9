// 128-bit identifiers (PROTOCOL.md §1): 16 raw bytes inside binary
// objects; in JSON and in memory the lowercase hyphenated UUID text
// `8-4-4-4-12`. Held as branded strings so that they compare with `===`
// and key a Map, while a ThreadId cannot be passed where a MessageId is
// expected. New ids are random with the version-4 bits set; any 16 bytes
// are accepted from others. Mirrors `protocol/src/ids.rs`.

import { fromHex, toHex } from "./bytes";
import { randomBytes } from "./random";

declare const idKind: unique symbol;

/** An identifier of one kind; its text is always the canonical form. */
export type Id<K extends string> = string & { readonly [idKind]: K };

export type ThreadId = Id<"thread">;
export type MessageId = Id<"message">;
export type HolderId = Id<"holder">;
export type OrgId = Id<"org">;
export type TeamId = Id<"team">;
export type AccountId = Id<"account">;
export type DeviceId = Id<"device">;
export type AttachmentId = Id<"attachment">;
/** Any identifier. */
export type AnyId = Id<string>;

/** Text that is not a lowercase hyphenated UUID. */
export class IdError extends RangeError {
  override readonly name = "IdError";
  readonly code = "invalid_id";
  constructor() {
    super("not an identifier: expected 36 characters like 0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d90");
  }
}

const CANONICAL = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Parses the canonical text form; upper case, braces or missing hyphens are refused. */
export function parseId<T extends AnyId>(text: string): T {
  if (!CANONICAL.test(text)) throw new IdError();
  return text as T;
}

/** The id whose 16 raw bytes these are. */
export function idFromBytes<T extends AnyId>(bytes: Uint8Array): T {
  if (bytes.length !== 16) throw new IdError();
  const h = toHex(bytes);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}` as T;
}

/** The 16 raw bytes of an id. */
export function idToBytes(id: AnyId): Uint8Array {
  return fromHex(id.replaceAll("-", ""));
}

/** A fresh random id (UUID version-4 layout). */
export function randomId<T extends AnyId>(): T {
  const bytes = randomBytes(16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x40;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  return idFromBytes<T>(bytes);
}
