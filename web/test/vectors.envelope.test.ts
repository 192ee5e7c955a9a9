// envelope.json (PROTOCOL.md §4): decode, re-encode byte for byte, verify,
// open with each recipient's key, and re-seal with the vector's randomness.

import { describe, expect, it } from "vitest";

import { b64Decode, b64Encode } from "../src/protocol/b64";
import { concat } from "../src/protocol/bytes";
import { Envelope } from "../src/protocol/envelope";
import { parseId, type HolderId, type MessageId, type ThreadId } from "../src/protocol/ids";
import { AgreementKey, DeviceKeys, HolderKeyPair, type HolderKind } from "../src/protocol/keys";
import { aeadSeal, hkdfSha256 } from "../src/protocol/primitives";
import { fixedEntropy } from "../src/protocol/random";
import { utf8Encode } from "../src/protocol/utf8";
import { h, hex, vector } from "./support/vectors";

interface EnvelopeVector {
  content_key: string;
  envelope: string;
  envelope_base64url: string;
  header: string;
  key_commitment: string;
  message_id: string;
  payload: string;
  payload_ciphertext: string;
  payload_key: string;
  payload_utf8: string;
  recipients: {
    enc: string;
    epoch: number;
    holder_id: string;
    hpke_ikm_e: string;
    kind: HolderKind;
    private_key: string;
    public_key: string;
    sealed_content_key: string;
  }[];
  sender: { ed25519_public_key: string; ed25519_seed: string };
  signature: string;
  thread_id: string;
}

const v = vector<EnvelopeVector>("envelope.json");
const threadId = parseId<ThreadId>(v.thread_id);
const messageId = parseId<MessageId>(v.message_id);
const holders = v.recipients.map((r) =>
  HolderKeyPair.fromSecret({ holder: parseId<HolderId>(r.holder_id), epoch: r.epoch }, r.kind, hex(r.private_key)),
);
// The vector fixes the sender's Ed25519 seed; its X25519 key plays no part.
const sender = DeviceKeys.fromSeeds(hex(v.sender.ed25519_seed), new Uint8Array(32).fill(1));

describe("envelope.json", () => {
  it("decodes to the vector's fields and keeps its bytes exactly", () => {
    const env = Envelope.decode(hex(v.envelope));
    expect(env.threadId).toBe(v.thread_id);
    expect(env.messageId).toBe(v.message_id);
    expect(h(env.sender.bytes)).toBe(v.sender.ed25519_public_key);
    expect(h(env.keyCommitment)).toBe(v.key_commitment);
    expect(env.recipients).toEqual(v.recipients.map((r) => ({ holder: r.holder_id, epoch: r.epoch })));
    expect(h(env.header)).toBe(v.header);
    expect(h(env.bytes)).toBe(v.envelope);
    expect(h(env.bytes.subarray(-64))).toBe(v.signature);
  });

  it("is the same envelope in its base64url form", () => {
    expect(b64Encode(hex(v.envelope))).toBe(v.envelope_base64url);
    expect(h(b64Decode(v.envelope_base64url))).toBe(v.envelope);
  });

  it("derives the payload key and the commitment from the content key", () => {
    const okm = hkdfSha256(hex(v.content_key), utf8Encode("samtale/v1/payload"), 64);
    expect(h(okm.subarray(0, 32))).toBe(v.payload_key);
    expect(h(okm.subarray(32))).toBe(v.key_commitment);
    const padded = new Uint8Array(256);
    padded.set(hex(v.payload));
    padded[hex(v.payload).length] = 0x80;
    expect(h(aeadSeal(hex(v.payload_key), hex(v.header), padded))).toBe(v.payload_ciphertext);
  });

  it("verifies its signature", () => {
    expect(Envelope.decode(hex(v.envelope)).verifySignature()).toBe(true);
  });

  it("opens with each recipient's key to the vector's payload and content key", async () => {
    const env = Envelope.decode(hex(v.envelope));
    for (const holder of holders) {
      const [opened, key] = await env.openDisclosing({ threadId, messageId }, holder);
      expect(new TextDecoder().decode(opened.payload)).toBe(v.payload_utf8);
      expect(h(opened.payload)).toBe(v.payload);
      expect(h(key.bytes)).toBe(v.content_key);
      expect(opened.sender.equals(env.sender)).toBe(true);
    }
  });

  it("re-seals byte for byte from the vector's randomness (K, then each recipient's ikmE)", async () => {
    const randomness = concat(hex(v.content_key), ...v.recipients.map((r) => hex(r.hpke_ikm_e)));
    const recipients = v.recipients.map((r) => ({
      holder: parseId<HolderId>(r.holder_id),
      epoch: r.epoch,
      kind: r.kind,
      key: AgreementKey.fromBytes(hex(r.public_key)),
    }));
    const env = await Envelope.sealWith(fixedEntropy(randomness), sender, threadId, messageId, recipients, hex(v.payload));
    expect(h(env.bytes)).toBe(v.envelope);
    const wrapped = env.bytes.subarray(hex(v.header).length);
    v.recipients.forEach((r, i) => {
      expect(h(wrapped.subarray(80 * i, 80 * i + 32))).toBe(r.enc);
      expect(h(wrapped.subarray(80 * i + 32, 80 * i + 80))).toBe(r.sealed_content_key);
    });
  });

  it("has recipients whose public keys are their private keys' X25519 keys", () => {
    holders.forEach((holder, i) => expect(h(holder.public.key.bytes)).toBe(v.recipients[i]?.public_key));
  });
});
