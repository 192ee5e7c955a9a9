// Sealing and opening envelopes and grants, signing receipts and
// certificates: round trips, and every refusal a user would notice — a
// flipped byte, a wrong key, a replay into another thread, a sender who
// wraps different content keys to different recipients.

import { describe, expect, it } from "vitest";

import { DeviceCertificate, Roles, type CertificateBody } from "../src/protocol/cert";
import { Writer } from "../src/protocol/codec";
import { ContentKey, Envelope, MAX_ENVELOPE_BYTES, MAX_PAYLOAD_BYTES, paddedLength } from "../src/protocol/envelope";
import { Grant, GRANT_LEN } from "../src/protocol/grant";
import { idToBytes, randomId, type HolderId, type MessageId, type OrgId, type TeamId, type ThreadId } from "../src/protocol/ids";
import { DeviceKeys, HolderKeyPair, OrgRootKey } from "../src/protocol/keys";
import { Context, hpkeSealSecret, Info } from "../src/protocol/primitives";
import { Receipt, RECEIPT_LEN } from "../src/protocol/receipt";
import { prng } from "./support/vectors";

const random = prng(0xe17e1);
const sender = DeviceKeys.fromSeeds(new Uint8Array(32).fill(1), new Uint8Array(32).fill(2));
const holder = (n: number, kind: "team" | "citizen" | "archive"): HolderKeyPair =>
  HolderKeyPair.fromSecret({ holder: randomId<HolderId>(), epoch: n }, kind, new Uint8Array(32).fill(n + 10));
const team = holder(3, "team");
const citizen = holder(0, "citizen");
const archive = holder(1, "archive");
const thread = randomId<ThreadId>();
const message = randomId<MessageId>();
const ctx = { threadId: thread, messageId: message };

async function code(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return (e as { code?: unknown }).code;
  }
  return "accepted";
}

describe("envelopes", () => {
  it("open to the same payload for every recipient, for payload sizes across the padding blocks", async () => {
    for (const n of [0, 1, 255, 256, 257, 1000, random.int(65536), MAX_PAYLOAD_BYTES]) {
      const payload = random.bytes(n);
      const env = await Envelope.seal(sender, thread, message, [team.public, citizen.public, archive.public], payload);
      expect(env.bytes.length).toBeLessThanOrEqual(MAX_ENVELOPE_BYTES);
      const decoded = Envelope.decode(env.bytes);
      for (const h of [team, citizen, archive]) expect((await decoded.open(ctx, h)).payload).toEqual(payload);
      expect(env.bytes.length).toBe(99 + 20 * 3 + 80 * 3 + 4 + paddedLength(n) + 16 + 64);
    }
  });

  it("hide a short payload's length in 256-byte blocks", () => {
    expect([0, 255, 256, 65536].map(paddedLength)).toEqual([256, 256, 512, 65792]);
  });

  it("refuse to seal too much, to nobody, to too many or to the same recipient twice", async () => {
    expect(await code(Envelope.seal(sender, thread, message, [team.public], new Uint8Array(MAX_PAYLOAD_BYTES + 1)))).toBe("payload_too_large");
    expect(await code(Envelope.seal(sender, thread, message, [], new Uint8Array(1)))).toBe("no_recipients");
    const many = Array.from({ length: 17 }, (_, i) => holder(i, "team").public);
    expect(await code(Envelope.seal(sender, thread, message, many, new Uint8Array(1)))).toBe("too_many_recipients");
    expect(await code(Envelope.seal(sender, thread, message, [team.public, team.public], new Uint8Array(1)))).toBe("duplicate_recipient");
  });

  it("are refused when any byte is flipped", async () => {
    const env = await Envelope.seal(sender, thread, message, [team.public], random.bytes(10));
    const bytes = env.bytes;
    for (let i = 0; i < bytes.length; i++) {
      const flipped = bytes.slice();
      flipped[i] = (flipped[i] ?? 0) ^ (1 << (i % 8));
      let refused = false;
      try {
        await Envelope.decode(flipped).open(ctx, team);
      } catch {
        refused = true;
      }
      expect(refused, `byte ${i}`).toBe(true);
    }
  });

  it("are refused when replayed into another thread or as another message", async () => {
    const env = await Envelope.seal(sender, thread, message, [team.public], random.bytes(10));
    expect(await code(env.open({ threadId: randomId(), messageId: message }, team))).toBe("wrong_thread");
    expect(await code(env.open({ threadId: thread, messageId: randomId() }, team))).toBe("wrong_message");
  });

  it("do not open with a key that is not a recipient, or with a wrong key for a recipient's epoch", async () => {
    const env = await Envelope.seal(sender, thread, message, [team.public], random.bytes(10));
    expect(await code(env.open(ctx, citizen))).toBe("not_a_recipient");
    const impostor = HolderKeyPair.fromSecret(team.epoch, "team", new Uint8Array(32).fill(99));
    expect(await code(env.open(ctx, impostor))).toBe("decryption_failed");
  });

  it("disclose a content key that opens their own envelope and no other", async () => {
    const one = await Envelope.seal(sender, thread, message, [archive.public], random.bytes(5));
    const other = randomId<MessageId>();
    const two = await Envelope.seal(sender, thread, other, [archive.public], random.bytes(5));
    const [opened, key] = await one.openDisclosing(ctx, archive);
    expect(one.openWithContentKey(ctx, new ContentKey(key.bytes)).payload).toEqual(opened.payload);
    expect(() => two.openWithContentKey({ threadId: thread, messageId: other }, key)).toThrowError(
      expect.objectContaining({ code: "decryption_failed" }),
    );
    expect(JSON.stringify({ key })).not.toContain(Buffer.from(key.bytes).toString("hex"));
  });

  it("with a different content key wrapped to one recipient open for the others but fail the commitment for that one", async () => {
    const env = await Envelope.seal(sender, thread, message, [team.public, archive.public], random.bytes(8));
    const bytes = env.bytes;
    const header = env.header;
    const forged = await hpkeSealSecret(archive.public.key.bytes, Info.contentKey, header, new Uint8Array(32).fill(9), new Uint8Array(32).fill(7));
    if (forged === null) throw new Error("seal failed");
    const at = header.length + 80;
    bytes.set(forged.enc, at);
    bytes.set(forged.sealed, at + 32);
    bytes.set(sender.sign(Context.envelope, bytes.subarray(0, bytes.length - 64)), bytes.length - 64);
    const tampered = Envelope.decode(bytes);
    expect(await code(tampered.open(ctx, team))).toBe("accepted");
    expect(await code(tampered.open(ctx, archive))).toBe("decryption_failed");
  });
});

describe("grants", () => {
  const device = DeviceKeys.fromSeeds(new Uint8Array(32).fill(5), new Uint8Array(32).fill(6));

  it("round-trip to the holder's key for the device they are sealed to, and to no other device", async () => {
    const grant = Grant.decode((await Grant.issue(sender, team, device.public.agreement, 1_767_225_600n)).bytes);
    expect(grant.bytes.length).toBe(GRANT_LEN);
    expect((await grant.open(device)).toKeystoreBytes()).toEqual(team.toKeystoreBytes());
    expect(await code(grant.open(sender))).toBe("not_for_this_device");
  });

  it("are refused when any byte is flipped", async () => {
    const bytes = (await Grant.issue(sender, team, device.public.agreement, 1n)).bytes;
    for (let i = 0; i < bytes.length; i++) {
      const flipped = bytes.slice();
      flipped[i] = (flipped[i] ?? 0) ^ 0x10;
      expect(await code((async () => Grant.decode(flipped).open(device))()), `byte ${i}`).not.toBe("accepted");
    }
  });

  it("are refused when the sealed key is not the holder key the grant names", async () => {
    const other = holder(4, "team");
    const w = new Writer()
      .u8(2)
      .u8(1)
      .bytes(idToBytes(team.public.holder))
      .u8(1)
      .u32(team.public.epoch)
      .bytes(other.public.key.bytes)
      .bytes(device.public.agreement.bytes)
      .bytes(sender.public.identity.bytes)
      .u64(1n);
    const sealed = await hpkeSealSecret(device.public.agreement.bytes, Info.grant, w.toBytes(), team.toKeystoreBytes(), new Uint8Array(32).fill(3));
    if (sealed === null) throw new Error("seal failed");
    w.bytes(sealed.enc).bytes(sealed.sealed);
    w.bytes(sender.sign(Context.grant, w.view()));
    expect(await code(Grant.decode(w.toBytes()).open(device))).toBe("key_mismatch");
  });
});

describe("receipts", () => {
  it("round-trip and are refused when any byte is flipped", () => {
    const receipt = Receipt.sign(sender, thread, 42n, "delivered", 1_767_225_600_000n);
    const back = Receipt.decodeAndVerify(receipt.bytes);
    expect([back.threadId, back.upToSeq, back.kind, back.atMs, back.device.equals(sender.public.identity)]).toEqual([thread, 42n, "delivered", 1_767_225_600_000n, true]);
    expect(receipt.bytes.length).toBe(RECEIPT_LEN);
    for (let i = 0; i < RECEIPT_LEN; i++) {
      const flipped = receipt.bytes;
      flipped[i] = (flipped[i] ?? 0) ^ 0x01;
      expect(() => Receipt.decodeAndVerify(flipped), `byte ${i}`).toThrow();
    }
  });
});

describe("device certificates", () => {
  const root = OrgRootKey.fromSeed(new Uint8Array(32).fill(8));
  const body = (over: Partial<CertificateBody>): CertificateBody => ({
    orgId: randomId<OrgId>(),
    orgName: "Randers Kommune",
    device: sender.public,
    staffId: randomId(),
    staffName: "Mette Jensen",
    roles: Roles.staff,
    teams: [],
    notBefore: 1n,
    notAfter: 2n,
    ...over,
  });

  it("count names in UTF-8 bytes: 200 is allowed, 201 is not", () => {
    expect(() => DeviceCertificate.issue(root, body({ staffName: "æ".repeat(100) }))).not.toThrow();
    expect(() => DeviceCertificate.issue(root, body({ staffName: "æ".repeat(100) + "a" }))).toThrowError(expect.objectContaining({ code: "name_too_long" }));
  });

  it("refuse more than 64 teams and an empty validity period", () => {
    const teams = Array.from({ length: 65 }, () => ({ id: randomId<TeamId>(), name: "T" }));
    expect(() => DeviceCertificate.issue(root, body({ teams }))).toThrowError(expect.objectContaining({ code: "too_many_teams" }));
    expect(() => DeviceCertificate.issue(root, body({ notBefore: 5n, notAfter: 5n }))).toThrowError(expect.objectContaining({ code: "empty_validity" }));
  });

  it("are refused by another root and when any byte is flipped", () => {
    const bytes = DeviceCertificate.issue(root, body({})).bytes;
    const other = OrgRootKey.fromSeed(new Uint8Array(32).fill(9));
    expect(() => DeviceCertificate.decode(bytes).verify(other.public, 1n)).toThrowError(expect.objectContaining({ code: "bad_signature" }));
    for (let i = 0; i < bytes.length; i++) {
      const flipped = bytes.slice();
      flipped[i] = (flipped[i] ?? 0) ^ 0x02;
      expect(() => DeviceCertificate.decode(flipped).verify(root.public, 1n), `byte ${i}`).toThrow();
    }
  });
});

describe("key objects", () => {
  it("never print or serialise secret bytes", () => {
    const secret = Buffer.from(sender.toKeystoreBytes()).toString("hex");
    const shown = JSON.stringify({ sender, team, root: OrgRootKey.fromSeed(new Uint8Array(32).fill(8)) }) + String(sender);
    expect(shown).not.toContain(secret.slice(0, 16));
    expect(shown).not.toContain(secret.slice(64, 80));
    expect(shown).not.toContain(Buffer.from(team.toKeystoreBytes()).toString("base64url"));
  });

  it("are zeroed by wipe()", () => {
    const keys = DeviceKeys.generate();
    keys.wipe();
    expect(keys.toKeystoreBytes().every((b) => b === 0)).toBe(true);
  });
});
