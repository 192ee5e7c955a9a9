// The canonical binary encoding shared by every signed object (PROTOCOL.md
// §1): big-endian integers, raw fixed-size fields, `u16`-prefixed UTF-8
// strings, and a reader that must consume its input exactly. There is one
// encoding of each value, so signatures and hashes over encodings are well
// defined. Mirrors `protocol/src/codec.rs`.

import { DecodeError, KeyError } from "./errors";
import { Utf8Error, utf8Decode, utf8Encode } from "./utf8";

/** Object type bytes: the first byte of every encoded object. */
export const ObjectType = {
  envelope: 0x01,
  grant: 0x02,
  deviceCertificate: 0x03,
  membershipRecord: 0x04,
  holderKey: 0x05,
  receipt: 0x06,
} as const;

const U64_MAX = (1n << 64n) - 1n;

/** Appends canonical encodings to a growing buffer. */
export class Writer {
  #buf: Uint8Array;
  #len = 0;

  constructor(capacity = 256) {
    this.#buf = new Uint8Array(capacity);
  }

  #reserve(n: number): number {
    const at = this.#len;
    if (at + n > this.#buf.length) {
      const bigger = new Uint8Array(Math.max(this.#buf.length * 2, at + n));
      bigger.set(this.#buf.subarray(0, at));
      this.#buf.fill(0);
      this.#buf = bigger;
    }
    this.#len += n;
    return at;
  }

  u8(v: number): this {
    checkUint(v, 0xff, "u8");
    const at = this.#reserve(1); // before reading #buf: reserving may replace it
    this.#buf[at] = v;
    return this;
  }

  u16(v: number): this {
    checkUint(v, 0xffff, "u16");
    const at = this.#reserve(2);
    this.#buf[at] = v >>> 8;
    this.#buf[at + 1] = v & 0xff;
    return this;
  }

  u32(v: number): this {
    checkUint(v, 0xffffffff, "u32");
    const at = this.#reserve(4);
    new DataView(this.#buf.buffer, this.#buf.byteOffset).setUint32(at, v);
    return this;
  }

  u64(v: bigint): this {
    if (v < 0n || v > U64_MAX) throw new RangeError("u64 out of range");
    const at = this.#reserve(8);
    new DataView(this.#buf.buffer, this.#buf.byteOffset).setBigUint64(at, v);
    return this;
  }

  bytes(v: Uint8Array): this {
    const at = this.#reserve(v.length);
    this.#buf.set(v, at);
    return this;
  }

  /** A `u16`-prefixed UTF-8 string. Callers check the field's own limit first. */
  str(v: string): this {
    const bytes = utf8Encode(v);
    return this.u16(bytes.length).bytes(bytes);
  }

  get length(): number {
    return this.#len;
  }

  /** A view of what was written so far (valid until the next write). */
  view(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  /** A copy of what was written. */
  toBytes(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${what} out of range`);
}

/** Reads canonical encodings from bytes; every failure is a DecodeError. */
export class Reader {
  readonly #input: Uint8Array;
  #pos = 0;

  constructor(input: Uint8Array) {
    this.#input = input;
  }

  get position(): number {
    return this.#pos;
  }

  /** The next `n` bytes, copied. */
  take(n: number): Uint8Array {
    const end = this.#pos + n;
    if (end > this.#input.length) throw DecodeError.truncated();
    const out = this.#input.slice(this.#pos, end);
    this.#pos = end;
    return out;
  }

  u8(): number {
    const b = this.#input[this.#pos];
    if (b === undefined) throw DecodeError.truncated();
    this.#pos += 1;
    return b;
  }

  u16(): number {
    const b = this.take(2);
    return ((b[0] ?? 0) << 8) | (b[1] ?? 0);
  }

  u32(): number {
    return new DataView(this.take(4).buffer).getUint32(0);
  }

  u64(): bigint {
    return new DataView(this.take(8).buffer).getBigUint64(0);
  }

  /** A `u16`-prefixed UTF-8 string of at most `max` bytes. */
  str(max: number, what: string): string {
    const len = this.u16();
    if (len > max) throw DecodeError.invalid(what);
    const bytes = this.take(len);
    try {
      return utf8Decode(bytes);
    } catch (e) {
      if (e instanceof Utf8Error) throw DecodeError.invalid(what);
      throw e;
    }
  }

  /** Checks the type and version bytes every object starts with. */
  header(objectType: number, version: number): void {
    const found = this.u8();
    if (found !== objectType) throw DecodeError.wrongType(objectType, found);
    const v = this.u8();
    if (v !== version) throw DecodeError.unsupportedVersion(v);
  }

  /** Refuses bytes left over after the object. */
  finish(): void {
    const left = this.#input.length - this.#pos;
    if (left !== 0) throw DecodeError.trailingBytes(left);
  }
}

/** Parses a key field, turning a KeyError into the decoder's `invalid <field>`. */
export function keyField<T>(parse: () => T, field: string): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof KeyError) throw DecodeError.invalid(field);
    throw e;
  }
}
