// The TypeScript half of the cross-implementation exchange, driven by the
// Rust test `protocol/tests/cross_implementation.rs`: it writes objects the
// Rust crate made (with keys both sides know) to $SAMTALE_INTEROP_DIR/
// from_rust.json and runs this file; this file opens and verifies every one
// of them, then writes objects of its own to from_typescript.json, which the
// Rust test opens and verifies in turn. Skipped unless the Rust test runs it.

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import {
  AgreementKey,
  AttachmentKey,
  blobSha256,
  decodePayload,
  DeviceCertificate,
  deviceFingerprint,
  DeviceKeys,
  eidNonce,
  encodePayload,
  Envelope,
  Grant,
  HolderKeyPair,
  HolderKeyRecord,
  idToBytes,
  MembershipRecord,
  MembershipState,
  anySigner,
  openReferenced,
  orgFingerprint,
  OrgRootKey,
  parseId,
  Receipt,
  Roles,
  safetyNumber,
  sealAttachment,
  type AccountId,
  type AttachmentId,
  type HolderId,
  type HolderKind,
  type MessageId,
  type OrgId,
  type TeamId,
  type ThreadId,
} from "../../src/protocol";
import { h, hex } from "../support/vectors";

const dir = process.env.SAMTALE_INTEROP_DIR;

interface FromRust {
  seeds: Record<"root" | "rust_signing" | "rust_agreement" | "ts_signing" | "ts_agreement", string>;
  ids: Record<"org" | "team" | "thread" | "rust_message" | "ts_message" | "rust_account" | "ts_account", string>;
  holders: { holder: string; epoch: number; kind: HolderKind; secret: string }[];
  rust: {
    certificate: string;
    envelope: string;
    payload: string;
    payload_text: string;
    attachment_blob: string;
    attachment_file: string;
    grant: string;
    receipt: string;
    holder_key_record: string;
    records: string[];
    safety_number: string;
    device_fingerprint: string;
    org_fingerprint: string;
    eid_nonce: string;
  };
}

/** Everything both sides know, from the Rust side's file. */
function load(dir: string) {
  const input = JSON.parse(readFileSync(join(dir, "from_rust.json"), "utf8")) as FromRust;
  const root = OrgRootKey.fromSeed(hex(input.seeds.root));
  const rustDevice = DeviceKeys.fromSeeds(hex(input.seeds.rust_signing), hex(input.seeds.rust_agreement));
  const tsDevice = DeviceKeys.fromSeeds(hex(input.seeds.ts_signing), hex(input.seeds.ts_agreement));
  const holders = input.holders.map((x) =>
    HolderKeyPair.fromSecret({ holder: parseId<HolderId>(x.holder), epoch: x.epoch }, x.kind, hex(x.secret)),
  );
  const [team, citizen] = holders;
  if (team === undefined || citizen === undefined) throw new Error("holders missing");
  const thread = parseId<ThreadId>(input.ids.thread);
  const rustMessage = parseId<MessageId>(input.ids.rust_message);
  const tsMessage = parseId<MessageId>(input.ids.ts_message);
  const r = input.rust;

  return { input, root, rustDevice, tsDevice, holders, team, citizen, thread, rustMessage, tsMessage, r };
}

describe.runIf(dir !== undefined)("the exchange with the Rust crate", () => {
  // Read lazily: the suite is collected (and skipped) without the file too.
  let loaded: ReturnType<typeof load> | undefined;
  const ctx = (): ReturnType<typeof load> => (loaded ??= load(dir ?? ""));

  it("verifies the certificate Rust's root issued", () => {
    const { input, root, rustDevice, r } = ctx();
    const body = DeviceCertificate.decode(hex(r.certificate)).verifySigner(root.public, 1_767_225_600n, rustDevice.public.identity);
    expect(body.staffName).toBe("Mette Jensen");
    expect(body.teams.map((t) => t.id)).toEqual([input.ids.team]);
  });

  it("opens Rust's envelope with every holder's key, reads its payload and attachment, and writes the payload's bytes alike", async () => {
    const { input, rustDevice, holders, team, thread, rustMessage, r } = ctx();
    const env = Envelope.decode(hex(r.envelope));
    for (const holder of holders) {
      const opened = await env.open({ threadId: thread, messageId: rustMessage }, holder);
      expect(h(opened.payload)).toBe(r.payload);
      expect(opened.sender.equals(rustDevice.public.identity)).toBe(true);
    }
    const payload = decodePayload(hex(r.payload));
    expect(payload.text).toBe(r.payload_text);
    const [ref] = payload.attachments;
    if (ref === undefined) throw new Error("no attachment");
    expect(h(openReferenced(ref, hex(r.attachment_blob)))).toBe(r.attachment_file);
    expect(h(encodePayload(payload))).toBe(r.payload);
    await expect(env.open({ threadId: parseId<ThreadId>(input.ids.org), messageId: rustMessage }, team)).rejects.toMatchObject({ code: "wrong_thread" });
  });

  it("opens Rust's grant with this device's key", async () => {
    const { rustDevice, tsDevice, team, r } = ctx();
    const opened = await Grant.decode(hex(r.grant)).open(tsDevice);
    expect(h(opened.toKeystoreBytes())).toBe(h(team.toKeystoreBytes()));
    await expect(Grant.decode(hex(r.grant)).open(rustDevice)).rejects.toMatchObject({ code: "not_for_this_device" });
  });

  it("verifies Rust's receipt, holder key record and membership records", () => {
    const { input, rustDevice, tsDevice, team, thread, r } = ctx();
    const receipt = Receipt.decodeAndVerify(hex(r.receipt));
    expect([receipt.threadId, receipt.upToSeq, receipt.kind, receipt.atMs]).toEqual([thread, 7n, "read", 1_767_225_600_123n]);
    const record = HolderKeyRecord.decodeAndVerify(hex(r.holder_key_record));
    expect(h(record.key.key.bytes)).toBe(h(team.public.key.bytes));
    const state = MembershipState.replay("device_list", idToBytes(parseId(input.ids.rust_account)), r.records.map((x) => MembershipRecord.decode(hex(x))), anySigner);
    expect(state.members.map((m) => (m.kind === "device" ? h(m.device.identity.bytes) : m.kind))).toEqual([
      h(rustDevice.public.identity.bytes),
      h(tsDevice.public.identity.bytes),
    ]);
  });

  it("computes the same safety number and fingerprints", () => {
    const { input, root, rustDevice, tsDevice, r } = ctx();
    const safety = safetyNumber(
      { stableId: idToBytes(parseId(input.ids.rust_account)), devices: [rustDevice.public.identity] },
      { stableId: idToBytes(parseId(input.ids.ts_account)), devices: [tsDevice.public.identity, rustDevice.public.identity] },
    );
    expect([safety, deviceFingerprint(tsDevice.public.identity), orgFingerprint(root.public), eidNonce(tsDevice.public)]).toEqual([
      r.safety_number,
      r.device_fingerprint,
      r.org_fingerprint,
      r.eid_nonce,
    ]);
  });

  it("writes its own objects for Rust to open and verify", async () => {
    const { input, root, rustDevice, tsDevice, holders, citizen, thread, tsMessage, r } = ctx();
    const text = 'Svar fra browseren: "ja tak" 👍\nMødet er kl. 10 — æøå ÆØÅ \u0001';
    const file = new TextEncoder().encode("%PDF-1.7 fra browseren");
    const key = AttachmentKey.generate();
    const blob = sealAttachment(key, file);
    const payload = encodePayload({
      text,
      attachments: [
        {
          id: parseId<AttachmentId>("0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d90"),
          name: "svar.pdf",
          mediaType: "application/pdf",
          size: BigInt(file.length),
          blobSha256: blobSha256(blob),
          key,
        },
      ],
    });
    const envelope = await Envelope.seal(tsDevice, thread, tsMessage, holders.map((x) => x.public), payload);
    const grant = await Grant.issue(tsDevice, citizen, AgreementKey.fromBytes(rustDevice.public.agreement.bytes), 1_767_225_700n);
    const receipt = Receipt.sign(tsDevice, thread, 9n, "delivered", 1_767_225_700_456n);
    const certificate = DeviceCertificate.issue(root, {
      orgId: parseId<OrgId>(input.ids.org),
      orgName: "Randers Kommune",
      device: tsDevice.public,
      staffId: parseId<AccountId>(input.ids.ts_account),
      staffName: "Søren Ærø",
      roles: Roles.staff | Roles.admin,
      teams: [{ id: parseId<TeamId>(input.ids.team), name: "Børn og Unge" }],
      notBefore: 1_767_225_600n,
      notAfter: 1_798_761_600n,
    });
    const holderRecord = HolderKeyRecord.sign(tsDevice, citizen.public, idToBytes(parseId(input.ids.ts_account)), 1_767_225_700n);
    const records = r.records.map((x) => MembershipRecord.decode(hex(x)));
    const state = MembershipState.replay("device_list", idToBytes(parseId(input.ids.rust_account)), records, anySigner);
    records.push(state.nextRecord(tsDevice, "remove", { kind: "device", device: rustDevice.public }, 1_767_225_700n));
    const out = {
      envelope: h(envelope.bytes),
      payload: h(payload),
      payload_text: text,
      attachment_blob: h(blob),
      attachment_file: h(file),
      grant: h(grant.bytes),
      receipt: h(receipt.bytes),
      certificate: h(certificate.bytes),
      holder_key_record: h(holderRecord.bytes),
      records: records.map((x) => h(x.bytes)),
      safety_number: safetyNumber(
        { stableId: idToBytes(parseId(input.ids.ts_account)), devices: [tsDevice.public.identity] },
        { stableId: idToBytes(parseId(input.ids.rust_account)), devices: [rustDevice.public.identity] },
      ),
      device_fingerprint: deviceFingerprint(rustDevice.public.identity),
      eid_nonce: eidNonce(rustDevice.public),
    };
    writeFileSync(join(dir ?? "", "from_typescript.json"), JSON.stringify(out, null, 2));
    expect(Envelope.decode(envelope.bytes).verifySignature()).toBe(true);
  });
});
