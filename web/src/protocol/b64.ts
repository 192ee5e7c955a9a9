// Base64url without padding (RFC 4648 §5): the JSON form of every binary
// field. Decoding is as strict as the Rust crate's (`base64`'s
// URL_SAFE_NO_PAD): no padding, no standard-alphabet characters, no
// whitespace, and the unused bits of the last character must be zero, so
// every byte string has exactly one text form.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const VALUES = new Int16Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) VALUES[ALPHABET.charCodeAt(i)] = i;

/** Text that is not canonical unpadded base64url. */
export class Base64Error extends RangeError {
  override readonly name = "Base64Error";
  readonly code = "invalid_base64url";
}

/** Encodes bytes as unpadded base64url. */
export function b64Encode(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    out += char(n >> 18) + char(n >> 12) + char(n >> 6) + char(n);
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = (bytes[i] ?? 0) << 16;
    out += char(n >> 18) + char(n >> 12);
  } else if (rest === 2) {
    const n = ((bytes[i] ?? 0) << 16) | ((bytes[i + 1] ?? 0) << 8);
    out += char(n >> 18) + char(n >> 12) + char(n >> 6);
  }
  return out;
}

function char(n: number): string {
  return ALPHABET[n & 63] ?? "";
}

/** Decodes canonical unpadded base64url; anything else is a Base64Error. */
export function b64Decode(text: string): Uint8Array {
  if (text.length % 4 === 1) throw new Base64Error("invalid base64url (unpadded) data");
  const values = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? (VALUES[c] ?? -1) : -1;
    if (v < 0) throw new Base64Error("invalid base64url (unpadded) data");
    values[i] = v;
  }
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let o = 0;
  let i = 0;
  for (; i + 3 < values.length; i += 4) {
    const n = (at(values, i) << 18) | (at(values, i + 1) << 12) | (at(values, i + 2) << 6) | at(values, i + 3);
    out[o++] = n >> 16;
    out[o++] = (n >> 8) & 255;
    out[o++] = n & 255;
  }
  const rest = values.length - i;
  if (rest === 2) {
    if ((at(values, i + 1) & 15) !== 0) throw new Base64Error("invalid base64url (unpadded) data");
    out[o] = (at(values, i) << 2) | (at(values, i + 1) >> 4);
  } else if (rest === 3) {
    if ((at(values, i + 2) & 3) !== 0) throw new Base64Error("invalid base64url (unpadded) data");
    const n = (at(values, i) << 10) | (at(values, i + 1) << 4) | (at(values, i + 2) >> 2);
    out[o] = n >> 8;
    out[o + 1] = n & 255;
  }
  return out;
}

function at(values: Uint8Array, i: number): number {
  return values[i] ?? 0;
}
