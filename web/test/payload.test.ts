// Payloads and attachments (PROTOCOL.md §4.4, §4.5): read exactly as the
// Rust crate reads them — each case below was run through
// MessagePayload::from_bytes — and written byte for byte as it writes them.

import { describe, expect, it } from "vitest";

import { randomId } from "../src/protocol/ids";
import {
  AttachmentKey,
  blobSha256,
  decodePayload,
  encodePayload,
  openAttachment,
  openReferenced,
  sealAttachment,
  type AttachmentRef,
} from "../src/protocol/payload";
import { utf8Encode } from "../src/protocol/utf8";
import { prng } from "./support/vectors";

const random = prng(0x9a10ad);
const KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const HASH = "ab".repeat(32);
const attachment = (fields: Partial<Record<string, string>> = {}): string => {
  const f = { id: '"00000000-0000-4000-8000-000000000000"', name: '"f.pdf"', media_type: '"a/b"', size: "1", blob_sha256: `"${HASH}"`, key: `"${KEY}"`, ...fields };
  return `{${Object.entries(f).map(([k, v]) => `"${k}":${v}`).join(",")}}`;
};
const withAttachments = (...items: string[]): string => `{"v":1,"text":"","attachments":[${items.join(",")}]}`;

function verdict(text: string): string {
  try {
    decodePayload(utf8Encode(text));
    return "ok";
  } catch (e) {
    return (e as { code: string }).code;
  }
}

describe("payloads", () => {
  it.each([
    ['{"v":1,"text":"hej"}', "ok"],
    ['{"\\u0076":1,"text":"a"} \n', "ok"],
    ['{"v":2,"text":"hej"}', "unknown_version"],
    ['{"v":2,"x":1,"x":2}', "unknown_version"],
    ['{"v":2,"x":"\\ud800"}', "unknown_version"],
    [`{"v":2,"x":${"[".repeat(200)}${"]".repeat(200)}}`, "unknown_version"],
    ['{"v":1.0,"text":"a"}', "malformed"],
    ['{"v":-0,"text":"a"}', "malformed"],
    ['{"v":2.0,"text":"a"}', "malformed"],
    ['{"v":256,"text":"a"}', "malformed"],
    ['{"v":"1","text":"a"}', "malformed"],
    ['{"v":1,"v":1,"text":"a"}', "malformed"],
    ['{"v":1,"text":"a","text":"b"}', "malformed"],
    ['{"v":1,"text":"\\ud800"}', "malformed"],
    ['\ufeff{"v":1,"text":"a"}', "malformed"],
    ['[1,"hej"]', "malformed"],
    ['{"v":1,"text":"","attachments":{}}', "malformed"],
    ['{"v":1,"text":"","attachments":null}', "malformed"],
    ['{"v":1,"text":7}', "malformed"],
    [withAttachments(attachment({ size: "18446744073709551615" })), "ok"],
    [withAttachments(attachment({ size: "18446744073709551616" })), "malformed"],
    [withAttachments(attachment({ size: "1e2" })), "malformed"],
    [withAttachments(attachment({ size: "-1" })), "malformed"],
    [withAttachments(attachment({ key: '"AAAA"' })), "malformed"],
    [withAttachments(attachment({ id: '"0B0D6A4E-4F1C-4E8A-9D3B-2C6F1A7E5D90"' })), "malformed"],
    [withAttachments(attachment({ blob_sha256: `"${HASH.toUpperCase()}"` })), "ok"],
    [withAttachments(attachment({ blob_sha256: '"abc"' })), "invalid"],
    [withAttachments(attachment({ name: '"a\\u0000b"' })), "invalid"],
    [withAttachments(attachment({ name: '"../x"' })), "invalid"],
    [withAttachments(attachment({ name: '"a\\\\b"' })), "invalid"],
    [withAttachments(attachment({ name: '""' })), "invalid"],
    [withAttachments(attachment({ name: `"${"æ".repeat(128)}"` })), "invalid"],
    [withAttachments(attachment({ name: `"${"æ".repeat(127)}a"` })), "ok"],
    [withAttachments(...Array.from({ length: 16 }, () => attachment())), "ok"],
    [withAttachments(...Array.from({ length: 17 }, () => attachment())), "invalid"],
  ])("read %s as %s, as the Rust crate does", (text, expected) => {
    expect(verdict(text)).toBe(expected);
  });

  it("refuse an attachment written as an array, which PROTOCOL.md §4.4 does not allow (the Rust crate accepts it)", () => {
    expect(verdict(withAttachments(`["00000000-0000-4000-8000-000000000000","f","a/b",1,"${HASH}","${KEY}"]`))).toBe("malformed");
  });

  it("round-trip any text, escapes and non-ASCII included", () => {
    for (let n = 0; n < 200; n++) {
      const text = String.fromCodePoint(...Array.from({ length: random.int(40) }, () => [0x22, 0x5c, 0x0a, 0x01, 0x7f, 0xe6, 0x2028, 0x1f600, 0x41][random.int(9)] ?? 0x41));
      const bytes = encodePayload({ text, attachments: [] });
      expect(new TextDecoder().decode(bytes)).toBe(JSON.stringify({ v: 1, text }));
      expect(decodePayload(bytes).text).toBe(text);
    }
  });

  it("are refused when longer than an envelope carries", () => {
    expect(() => encodePayload({ text: "a".repeat(65_536), attachments: [] })).toThrowError(expect.objectContaining({ code: "too_large" }));
    expect(encodePayload({ text: "a".repeat(65_536 - 17), attachments: [] }).length).toBe(65_536);
  });
});

describe("attachments", () => {
  const file = utf8Encode("a small PDF");
  const key = AttachmentKey.generate();
  const blob = sealAttachment(key, file);
  const ref: AttachmentRef = { id: randomId(), name: "bevilling.pdf", mediaType: "application/pdf", size: BigInt(file.length), blobSha256: blobSha256(blob), key };

  it("round-trip by reference, and any flipped byte of the blob is caught by the signed hash", () => {
    expect(openReferenced(ref, blob)).toEqual(file);
    for (let i = 0; i < blob.length; i++) {
      const bad = blob.slice();
      bad[i] = (bad[i] ?? 0) ^ 1;
      expect(() => openReferenced(ref, bad)).toThrowError(expect.objectContaining({ code: "attachment_hash_mismatch" }));
      expect(() => openAttachment(key, bad)).toThrowError(expect.objectContaining({ code: "attachment_corrupt" }));
    }
  });

  it("do not open with another key, when empty, or when the size differs from the one signed", () => {
    expect(() => openAttachment(AttachmentKey.generate(), blob)).toThrowError(expect.objectContaining({ code: "attachment_corrupt" }));
    expect(() => openAttachment(key, new Uint8Array())).toThrowError(expect.objectContaining({ code: "attachment_corrupt" }));
    expect(() => openReferenced({ ...ref, size: ref.size + 1n }, blob)).toThrowError(expect.objectContaining({ code: "attachment_corrupt" }));
    expect(() => openReferenced({ ...ref, blobSha256: ref.blobSha256.toUpperCase() }, blob)).toThrowError(
      expect.objectContaining({ code: "attachment_hash_mismatch" }),
    );
  });

  it("keep their key out of anything printed", () => {
    expect(JSON.stringify(ref, (_, v: unknown) => (typeof v === "bigint" ? v.toString() : v))).not.toContain(Buffer.from(key.bytes).toString("base64url"));
  });
});
