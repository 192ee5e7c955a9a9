// derived.json and safety_number.json (PROTOCOL.md §3, §4.4, §4.5, §10):
// the eID nonce, the device fingerprint, an attachment and the payload that
// refers to it, and safety numbers with one and with several devices.

import { describe, expect, it } from "vitest";

import { DeviceKeys, eidNonce, IdentityKey } from "../src/protocol/keys";
import {
  AttachmentKey,
  blobSha256,
  decodePayload,
  encodePayload,
  openAttachment,
  openReferenced,
  sealAttachment,
} from "../src/protocol/payload";
import { deviceFingerprint, safetyNumber } from "../src/protocol/safety";
import { utf8Encode } from "../src/protocol/utf8";
import { h, hex, run, vector } from "./support/vectors";

interface Derived {
  attachment: { blob: string; blob_sha256: string; file: string; key: string };
  device: { ed25519_public_key: string; eid_nonce: string; fingerprint: string; x25519_public_key: string };
  payload_text: string;
  payload_utf8: string;
  safety_number: {
    a: { ed25519_public_keys: string[]; stable_id: string };
    b: { ed25519_public_keys: string[]; stable_id: string };
    safety_number: string;
  };
}
const v = vector<Derived>("derived.json");

describe("derived.json", () => {
  // The device of the vector: seeds 0x09.. and 0x49.. (trust_vectors.rs).
  const device = DeviceKeys.fromSeeds(run(0x09, 32), run(0x49, 32));

  it("gives the device's keys, eID nonce and fingerprint", () => {
    expect(h(device.public.identity.bytes)).toBe(v.device.ed25519_public_key);
    expect(h(device.public.agreement.bytes)).toBe(v.device.x25519_public_key);
    expect(eidNonce(device.public)).toBe(v.device.eid_nonce);
    expect(deviceFingerprint(device.public.identity)).toBe(v.device.fingerprint);
  });

  it("seals the attachment to the vector's blob, and opens it", () => {
    const key = AttachmentKey.fromBytes(hex(v.attachment.key));
    expect(h(sealAttachment(key, hex(v.attachment.file)))).toBe(v.attachment.blob);
    expect(blobSha256(hex(v.attachment.blob))).toBe(v.attachment.blob_sha256);
    expect(h(openAttachment(key, hex(v.attachment.blob)))).toBe(v.attachment.file);
  });

  it("reads the payload, opens its attachment by reference, and writes the same bytes", () => {
    const bytes = utf8Encode(v.payload_utf8);
    const payload = decodePayload(bytes);
    expect(payload.text).toBe(v.payload_text);
    const [ref] = payload.attachments;
    expect(ref?.name).toBe("bevilling.pdf");
    expect(ref?.blobSha256).toBe(v.attachment.blob_sha256);
    if (ref === undefined) throw new Error("no attachment");
    expect(h(openReferenced(ref, hex(v.attachment.blob)))).toBe(v.attachment.file);
    expect(h(encodePayload(payload))).toBe(h(bytes));
  });

  it("gives the safety number of a citizen with two devices and a caseworker with one, from either side", () => {
    const party = (p: { ed25519_public_keys: string[]; stable_id: string }) => ({
      stableId: hex(p.stable_id),
      devices: p.ed25519_public_keys.map((k) => IdentityKey.fromBytes(hex(k))),
    });
    const a = party(v.safety_number.a);
    const b = party(v.safety_number.b);
    expect(safetyNumber(a, b)).toBe(v.safety_number.safety_number);
    expect(safetyNumber(b, { ...a, devices: [...a.devices].reverse() })).toBe(v.safety_number.safety_number);
    expect(safetyNumber(b, { ...a, devices: a.devices.slice(1) })).not.toBe(v.safety_number.safety_number);
  });
});

describe("safety_number.json", () => {
  const s = vector<{
    a: { ed25519_public_key: string; stable_id: string };
    b: { ed25519_public_key: string; stable_id: string };
    safety_number: string;
  }>("safety_number.json");
  const party = (p: { ed25519_public_key: string; stable_id: string }) => ({
    stableId: hex(p.stable_id),
    devices: [IdentityKey.fromBytes(hex(p.ed25519_public_key))],
  });

  it("gives the vector's 60 digits in 12 groups whichever party comes first", () => {
    expect(safetyNumber(party(s.a), party(s.b))).toBe(s.safety_number);
    expect(safetyNumber(party(s.b), party(s.a))).toBe(s.safety_number);
    expect(s.safety_number).toMatch(/^(\d{5} ){11}\d{5}$/);
  });
});
