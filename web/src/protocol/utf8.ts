// UTF-8 as Rust's `String` has it: encoding refuses lone surrogates (a Rust
// string cannot hold one), decoding refuses anything `String::from_utf8`
// refuses (overlong forms, surrogates, code points past U+10FFFF, truncated
// sequences) and keeps a byte-order mark as the character it is.
// Written out so that the protocol needs no platform global
// (TextEncoder/TextDecoder strip a BOM by default and differ by platform).

/** Thrown for a string or bytes that are not valid UTF-8 text. */
export class Utf8Error extends RangeError {
  override readonly name = "Utf8Error";
}

/** Encodes a well-formed string; a lone surrogate is refused. */
export function utf8Encode(text: string): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) throw new Utf8Error("lone surrogate in text");
      c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      throw new Utf8Error("lone surrogate in text");
    }
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}

/** The UTF-8 length of a string in bytes (what the protocol's limits count). */
export function utf8Length(text: string): number {
  return utf8Encode(text).length;
}

/** Decodes strict UTF-8; anything else is a Utf8Error. */
export function utf8Decode(bytes: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i] ?? 0;
    let cp: number;
    let need: number;
    let min: number;
    if (b0 < 0x80) {
      cp = b0;
      need = 0;
      min = 0;
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      cp = b0 & 0x1f;
      need = 1;
      min = 0x80;
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      cp = b0 & 0x0f;
      need = 2;
      min = 0x800;
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      cp = b0 & 0x07;
      need = 3;
      min = 0x10000;
    } else {
      throw new Utf8Error("invalid UTF-8");
    }
    for (let k = 1; k <= need; k++) {
      const b = bytes[i + k];
      if (b === undefined || (b & 0xc0) !== 0x80) throw new Utf8Error("invalid UTF-8");
      cp = (cp << 6) | (b & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      throw new Utf8Error("invalid UTF-8");
    }
    out += String.fromCodePoint(cp);
    i += need + 1;
  }
  return out;
}
