// grant.json, certificate.json and membership_receipt_holder_key.json
// (PROTOCOL.md §5, §6, §7, §8, §9): decode, re-encode byte for byte, verify,
// open, and re-make each object from the vector's keys and randomness.

import { describe, expect, it } from "vitest";

import { DeviceCertificate } from "../src/protocol/cert";
import { Grant } from "../src/protocol/grant";
import { HolderKeyRecord } from "../src/protocol/holderKey";
import { idFromBytes, parseId, type AccountId, type HolderId, type OrgId, type TeamId, type ThreadId } from "../src/protocol/ids";
import { AgreementKey, DeviceKeys, HolderKeyPair, IdentityKey, OrgRootKey, type HolderKind } from "../src/protocol/keys";
import { anySigner, MembershipRecord, MembershipState } from "../src/protocol/membership";
import { fixedEntropy } from "../src/protocol/random";
import { Receipt } from "../src/protocol/receipt";
import { orgFingerprint } from "../src/protocol/safety";
import { h, hex, vector } from "./support/vectors";

const ONES = new Uint8Array(32).fill(1);

describe("grant.json", () => {
  const v = vector<Record<string, string | number>>("grant.json");
  const s = (k: string): string => String(v[k]);
  const granter = DeviceKeys.fromSeeds(hex(s("granter_ed25519_seed")), ONES);
  const recipient = DeviceKeys.fromSeeds(ONES, hex(s("recipient_x25519_private_key")));
  const holder = HolderKeyPair.fromSecret(
    { holder: parseId<HolderId>(s("holder_id")), epoch: Number(v.epoch) },
    s("holder_kind") as HolderKind,
    hex(s("holder_private_key")),
  );

  it("decodes to the vector's fields and verifies", () => {
    const grant = Grant.decode(hex(s("grant")));
    expect(grant.holder.holder).toBe(s("holder_id"));
    expect(grant.holder.kind).toBe(s("holder_kind"));
    expect(grant.holder.epoch).toBe(v.epoch);
    expect(h(grant.holder.key.bytes)).toBe(s("holder_public_key"));
    expect(h(grant.recipient.bytes)).toBe(s("recipient_x25519_public_key"));
    expect(h(grant.granter.bytes)).toBe(s("granter_ed25519_public_key"));
    expect(grant.issuedAt).toBe(BigInt(v.issued_at ?? 0));
    expect(h(grant.bytes)).toBe(s("grant"));
    expect(h(grant.bytes.subarray(0, 127))).toBe(s("header"));
    expect(h(grant.bytes.subarray(127, 159))).toBe(s("enc"));
    expect(h(grant.bytes.subarray(159, 207))).toBe(s("sealed_private_key"));
    expect(h(grant.bytes.subarray(207))).toBe(s("signature"));
    expect(grant.verifySignature()).toBe(true);
  });

  it("opens with the recipient's key to the holder's private key", async () => {
    const opened = await Grant.decode(hex(s("grant"))).open(recipient);
    expect(h(opened.toKeystoreBytes())).toBe(s("holder_private_key"));
    expect(h(opened.public.key.bytes)).toBe(s("holder_public_key"));
  });

  it("is re-issued byte for byte from the vector's ikmE", async () => {
    const grant = await Grant.issueWith(
      fixedEntropy(hex(s("hpke_ikm_e"))),
      granter,
      holder,
      AgreementKey.fromBytes(hex(s("recipient_x25519_public_key"))),
      BigInt(v.issued_at ?? 0),
    );
    expect(h(grant.bytes)).toBe(s("grant"));
    expect(h(recipient.public.agreement.bytes)).toBe(s("recipient_x25519_public_key"));
  });
});

describe("certificate.json", () => {
  interface Cert {
    certificate: string;
    device_ed25519_public_key: string;
    device_x25519_public_key: string;
    not_after: number;
    not_before: number;
    org_id: string;
    org_name: string;
    roles: number;
    root_ed25519_public_key: string;
    root_ed25519_seed: string;
    root_fingerprint: string;
    staff_id: string;
    staff_name: string;
    teams: { id: string; name: string }[];
  }
  const v = vector<Cert>("certificate.json");
  const root = OrgRootKey.fromSeed(hex(v.root_ed25519_seed));
  const body = {
    orgId: parseId<OrgId>(v.org_id),
    orgName: v.org_name,
    device: {
      identity: IdentityKey.fromBytes(hex(v.device_ed25519_public_key)),
      agreement: AgreementKey.fromBytes(hex(v.device_x25519_public_key)),
    },
    staffId: parseId<AccountId>(v.staff_id),
    staffName: v.staff_name,
    roles: v.roles,
    teams: v.teams.map((t) => ({ id: parseId<TeamId>(t.id), name: t.name })),
    notBefore: BigInt(v.not_before),
    notAfter: BigInt(v.not_after),
  };

  it("has the root key and fingerprint of its seed", () => {
    expect(h(root.public.bytes)).toBe(v.root_ed25519_public_key);
    expect(orgFingerprint(root.public)).toBe(v.root_fingerprint);
  });

  it("is issued byte for byte from its fields", () => {
    expect(h(DeviceCertificate.issue(root, body).bytes)).toBe(v.certificate);
  });

  it("decodes to its fields and verifies within its validity only", () => {
    const cert = DeviceCertificate.decode(hex(v.certificate));
    expect(h(cert.bytes)).toBe(v.certificate);
    const b = cert.verifySigner(root.public, BigInt(v.not_before), body.device.identity);
    expect({ ...b, device: undefined }).toEqual({ ...body, device: undefined });
    expect(() => cert.verify(root.public, BigInt(v.not_before) - 1n)).toThrowError(expect.objectContaining({ code: "not_yet_valid" }));
    expect(() => cert.verify(root.public, BigInt(v.not_after))).toThrowError(expect.objectContaining({ code: "expired" }));
    const other = OrgRootKey.fromSeed(ONES).public;
    expect(() => cert.verify(other, BigInt(v.not_before))).toThrowError(expect.objectContaining({ code: "bad_signature" }));
    expect(() => cert.verifySigner(root.public, BigInt(v.not_before), root.public.asIdentity())).toThrowError(
      expect.objectContaining({ code: "wrong_device" }),
    );
  });
});

describe("membership_receipt_holder_key.json", () => {
  interface M {
    device_a_ed25519_seed: string;
    device_b_ed25519_seed: string;
    final_members: { ed25519_public_key: string; x25519_public_key: string }[];
    holder_key_record: string;
    receipt: string;
    records: { hash: string; record: string }[];
    subject: string;
  }
  const v = vector<M>("membership_receipt_holder_key.json");
  const a = DeviceKeys.fromSeeds(hex(v.device_a_ed25519_seed), ONES);
  const b = DeviceKeys.fromSeeds(hex(v.device_b_ed25519_seed), ONES);
  const records = v.records.map((r) => MembershipRecord.decode(hex(r.record)));

  it("has records that hash to the vector's hashes and re-encode exactly", () => {
    records.forEach((r, i) => {
      expect(h(r.hash())).toBe(v.records[i]?.hash);
      expect(h(r.bytes)).toBe(v.records[i]?.record);
    });
  });

  it("replays to the final members", () => {
    const state = MembershipState.replay("device_list", hex(v.subject), records, anySigner);
    expect(
      state.members.map((m) => (m.kind === "device" ? [h(m.device.identity.bytes), h(m.device.agreement.bytes)] : m)),
    ).toEqual(v.final_members.map((m) => [m.ed25519_public_key, m.x25519_public_key]));
  });

  it("is re-made record by record from the devices' seeds", () => {
    const state = new MembershipState("device_list", hex(v.subject));
    for (const r of records) {
      const signer = r.signer.equals(a.public.identity) ? a : b;
      const again = state.nextRecord(signer, r.operation, r.member, r.issuedAt);
      expect(h(again.bytes)).toBe(h(r.bytes));
      state.apply(again, anySigner);
    }
  });

  it("has a receipt that verifies and is re-signed byte for byte", () => {
    const receipt = Receipt.decodeAndVerify(hex(v.receipt));
    expect(receipt.device.equals(b.public.identity)).toBe(true);
    const again = Receipt.sign(b, receipt.threadId, receipt.upToSeq, receipt.kind, receipt.atMs);
    expect(h(again.bytes)).toBe(v.receipt);
    expect(receipt.threadId).toBe(idFromBytes<ThreadId>(hex(v.receipt).subarray(2, 18)));
  });

  it("has a holder key record that verifies and is re-signed byte for byte", () => {
    const record = HolderKeyRecord.decodeAndVerify(hex(v.holder_key_record));
    expect(record.signer.equals(b.public.identity)).toBe(true);
    const again = HolderKeyRecord.sign(b, record.key, record.owner, record.createdAt);
    expect(h(again.bytes)).toBe(v.holder_key_record);
  });
});
