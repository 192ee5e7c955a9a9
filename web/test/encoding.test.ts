// The encodings under every object: base64url, UTF-8, ids, the binary
// codec and the strict JSON reader. Round trips over many random inputs
// (compared with the platform's own encoders), and the refusals that keep
// one valid encoding per value.

import { describe, expect, it } from "vitest";

import { b64Decode, b64Encode } from "../src/protocol/b64";
import { Reader, Writer } from "../src/protocol/codec";
import type { DecodeError } from "../src/protocol/errors";
import { idFromBytes, idToBytes, parseId, randomId } from "../src/protocol/ids";
import { JsonNumber, JsonObject, parseJson, type JsonValue } from "../src/protocol/json";
import { utf8Decode, utf8Encode } from "../src/protocol/utf8";
import { prng } from "./support/vectors";

const random = prng(0x5a17a1e);

function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return undefined;
}

describe("base64url", () => {
  it("round-trips any bytes and writes what Node writes", () => {
    for (let n = 0; n < 300; n++) {
      const bytes = random.bytes(n % 70);
      const text = b64Encode(bytes);
      expect(text).toBe(Buffer.from(bytes).toString("base64url"));
      expect(b64Decode(text)).toEqual(bytes);
    }
  });

  it("refuses padding, the standard alphabet, whitespace, a dangling character and non-zero unused bits", () => {
    for (const bad of ["AA==", "AA=", "a+b/", "AA AA", "A", "AAAAA", "AB", "AAB", "Zm9vYg==", "Zm9vYh"]) {
      expect(() => b64Decode(bad), bad).toThrow(/invalid base64url/);
    }
    expect(b64Decode("")).toEqual(new Uint8Array());
    expect(b64Decode("Zm9vYg")).toEqual(utf8Encode("foob"));
  });
});

describe("UTF-8", () => {
  it("encodes any well-formed string as TextEncoder does", () => {
    for (let n = 0; n < 300; n++) {
      const cps = Array.from({ length: random.int(20) }, () => {
        const c = random.int(4) === 0 ? random.int(0x10ffff) : random.int(0x800);
        return c >= 0xd800 && c <= 0xdfff ? 0x41 : c;
      });
      const text = String.fromCodePoint(...cps);
      expect(utf8Encode(text)).toEqual(new TextEncoder().encode(text));
      expect(utf8Decode(utf8Encode(text))).toBe(text);
    }
  });

  it("accepts exactly the byte strings a fatal TextDecoder accepts, byte-order mark kept", () => {
    const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
    for (let n = 0; n < 3000; n++) {
      const bytes = random.bytes(random.int(6));
      if (random.int(2) === 0) bytes[0] = 0xc0 + random.int(0x40);
      let expected: string | undefined;
      try {
        expected = decoder.decode(bytes);
      } catch {
        expected = undefined;
      }
      let actual: string | undefined;
      try {
        actual = utf8Decode(bytes);
      } catch {
        actual = undefined;
      }
      expect(actual, Buffer.from(bytes).toString("hex")).toBe(expected);
    }
    expect(utf8Decode(Uint8Array.of(0xef, 0xbb, 0xbf, 0x41))).toBe("\ufeffA");
  });

  it("refuses lone surrogates, overlong forms and encoded surrogates", () => {
    expect(() => utf8Encode("a\ud800")).toThrow();
    expect(() => utf8Encode("\udc00b")).toThrow();
    for (const bad of [[0xc0, 0x80], [0xe0, 0x80, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82]]) {
      expect(() => utf8Decode(Uint8Array.from(bad))).toThrow();
    }
  });
});

describe("identifiers", () => {
  it("round-trip between 16 bytes and the lowercase hyphenated text", () => {
    for (let n = 0; n < 100; n++) {
      const bytes = random.bytes(16);
      const id = idFromBytes(bytes);
      expect(parseId(id)).toBe(id);
      expect(idToBytes(id)).toEqual(bytes);
    }
    expect(idFromBytes(Uint8Array.from([0x0b, 0x0d, 0x6a, 0x4e, 0x4f, 0x1c, 0x4e, 0x8a, 0x9d, 0x3b, 0x2c, 0x6f, 0x1a, 0x7e, 0x5d, 0x90]))).toBe(
      "0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d90",
    );
  });

  it("refuse upper case, missing hyphens, braces and wrong lengths", () => {
    for (const bad of [
      "0B0D6A4E-4F1C-4E8A-9D3B-2C6F1A7E5D90",
      "0b0d6a4e4f1c4e8a9d3b2c6f1a7e5d90",
      "{0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d90}",
      "0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d9",
      "0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d9g",
    ]) {
      expect(() => parseId(bad), bad).toThrow(/not an identifier/);
    }
  });

  it("are random and carry the version-4 bits when new", () => {
    const [a, b] = [randomId(), randomId()];
    expect(a).not.toBe(b);
    expect(a[14]).toBe("4");
    expect("89ab").toContain(a[19]);
  });
});

describe("the binary codec", () => {
  it("round-trips integers and strings, big-endian and length-prefixed", () => {
    for (let n = 0; n < 200; n++) {
      const v = { a: random.int(256), b: random.int(65536), c: random.next(), d: (BigInt(random.next()) << 32n) | BigInt(random.next()), s: "hej 😀 ".repeat(random.int(5)) };
      const bytes = new Writer(1).u8(v.a).u16(v.b).u32(v.c).u64(v.d).str(v.s).toBytes();
      const r = new Reader(bytes);
      expect([r.u8(), r.u16(), r.u32(), r.u64(), r.str(100, "s")]).toEqual([v.a, v.b, v.c, v.d, v.s]);
      r.finish();
    }
    expect(new Writer().u32(0x01020304).u64(5n).toBytes()).toEqual(Uint8Array.of(1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 5));
  });

  it("refuses truncation, trailing bytes, over-long and non-UTF-8 strings, wrong type and version", () => {
    const code = (f: () => unknown): unknown => (thrown(f) as DecodeError | undefined)?.code;
    expect(code(() => new Reader(Uint8Array.of(1)).u16())).toBe("truncated");
    expect(code(() => new Reader(Uint8Array.of(1)).finish())).toBe("trailing_bytes");
    expect(code(() => new Reader(Uint8Array.of(0, 6, 97, 98, 99, 100, 101, 102)).str(5, "name"))).toBe("invalid");
    expect(code(() => new Reader(Uint8Array.of(0, 2, 0xff, 0xfe)).str(5, "name"))).toBe("invalid");
    expect(code(() => new Reader(Uint8Array.of(2, 1)).header(1, 1))).toBe("wrong_type");
    expect(code(() => new Reader(Uint8Array.of(1, 2)).header(1, 1))).toBe("unsupported_version");
    expect(thrown(() => new Reader(Uint8Array.of(2, 1)).header(1, 1))).toHaveProperty("message", "wrong object type 0x02, expected 0x01");
  });

  it("refuses to write an integer out of its range", () => {
    expect(() => new Writer().u8(256)).toThrow(RangeError);
    expect(() => new Writer().u32(-1)).toThrow(RangeError);
    expect(() => new Writer().u64(1n << 64n)).toThrow(RangeError);
  });
});

describe("the strict JSON reader", () => {
  it("keeps integer lexemes, repeated keys and member order", () => {
    const doc = parseJson('{"a":18446744073709551615,"b":[1.5e3,-0],"a":"x"}');
    expect(doc).toBeInstanceOf(JsonObject);
    const o = doc as JsonObject;
    expect(o.keys()).toEqual(["a", "b", "a"]);
    expect(o.hasRepeatedKeys()).toBe(true);
    expect((o.get("a") as JsonNumber).text).toBe("18446744073709551615");
  });

  it("reads what JSON.parse reads on ordinary documents", () => {
    const text = '{"v":1,"text":"hej \\"du\\" \\u00e6\\ud83d\\ude00\\n","list":[true,false,null,{"x":[]}]}';
    const plain = (v: unknown): unknown =>
      v instanceof JsonObject ? Object.fromEntries(v.members.map(([k, x]) => [k, plain(x)])) : v instanceof JsonNumber ? Number(v.text) : Array.isArray(v) ? v.map(plain) : v;
    expect(plain(parseJson(text))).toEqual(JSON.parse(text));
  });

  it("refuses what serde_json refuses: trailing text, leading zeros, bad escapes, control characters, a byte-order mark", () => {
    for (const bad of ["{} x", "01", '"\\x"', '"a\u0001"', "[1,]", "{'a':1}", "\ufeff{}", '{"a":1,}', '{"a" 1}', "[", "[[]", "tru", "-", "1.", ".5"]) {
      expect(() => parseJson(bad), bad).toThrow(SyntaxError);
    }
  });

  it("reads nesting as deep as the input allows (serde skips an ignored field however deep)", () => {
    const deep = "[".repeat(100_000) + "]".repeat(100_000);
    let v = parseJson(deep);
    let depth = 0;
    while (Array.isArray(v) && v.length > 0) {
      v = v[0] as JsonValue;
      depth++;
    }
    expect(depth).toBe(99_999);
    expect(parseJson('{"a":[{"b":{}},[]],"c":{}}')).toBeInstanceOf(JsonObject);
  });
});
