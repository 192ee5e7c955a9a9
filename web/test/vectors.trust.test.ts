// trust.json (PROTOCOL.md §5, §7, §8): an organisation's signed logs and
// certified holder keys, replayed through the Directory (trust.ts, the
// mirror of protocol/src/trust.rs) with the same verdicts: what verifies,
// who is a member at `now`, each holder's epochs, and what each policy
// refuses — the same error, record or epoch, and message as Rust.

import { describe, expect, it } from "vitest";

import { DeviceCertificate } from "../src/protocol/cert";
import { HolderKeyRecord } from "../src/protocol/holderKey";
import { parseId, type AccountId, type HolderId, type OrgId, type TeamId, type ThreadId } from "../src/protocol/ids";
import { DeviceKeys, HolderKeyPair, OrgRootKey, type Signer } from "../src/protocol/keys";
import { anySigner, MembershipRecord, MembershipState, type LogKind, type Member } from "../src/protocol/membership";
import { Directory, TrustError, type HolderOwner, type Served } from "../src/protocol/trust";
import { h, hex, run, vector } from "./support/vectors";

interface Device {
  ed25519_seed: string;
  ed25519_public_key: string;
  x25519_private_key: string;
  x25519_public_key: string;
}
interface Staff extends Device {
  account_id: string;
  certificate: string;
}
interface LogEntry {
  hash: string;
  issued_at: number;
  member: Record<string, unknown>;
  operation: string;
  record: string;
  seq: number;
  signer: string;
  signer_certificate: string | null;
}
interface Epoch {
  created_at: number;
  epoch: number;
  private_key: string;
  public_key: string;
  record: string;
  signer_certificate: string | null;
  signer_ed25519_public_key: string;
}
interface Trust {
  admin: Staff;
  staff: Staff;
  clerk: Staff;
  phone: Device;
  tablet: Device;
  laptop: Device;
  citizen_account_id: string;
  org_id: string;
  team_id: string;
  thread_id: string;
  now: number;
  root_ed25519_seed: string;
  root_ed25519_public_key: string;
  logs: Record<"admin_devices" | "staff_devices" | "clerk_devices" | "team_members" | "citizen_devices" | "thread_participants", LogEntry[]>;
  final_members: Record<"citizen_devices" | "team_members" | "thread_participants", Record<string, unknown>[]>;
  holders: Record<"team" | "citizen" | "archive", { epochs: Epoch[]; holder_id: string; owner: string }>;
  refused_logs: { at: { seq: number }; error: string; log: "team" | "citizen" | "thread"; message: string; name: string; records: LogEntry[] }[];
  refused_holders: { epochs: Epoch[]; name: string; owner: "team" | "citizen" | "archive"; refusal: { at: { epoch: number }; error: string; message: string } }[];
}

const t = vector<Trust>("trust.json");
const now = BigInt(t.now);
const root = OrgRootKey.fromSeed(hex(t.root_ed25519_seed));
const org = parseId<OrgId>(t.org_id);
const team = parseId<TeamId>(t.team_id);
const thread = parseId<ThreadId>(t.thread_id);
const citizen = parseId<AccountId>(t.citizen_account_id);
const device = (d: Device): DeviceKeys => DeviceKeys.fromSeeds(hex(d.ed25519_seed), hex(d.x25519_private_key));
const signers: Record<string, Signer> = {
  root,
  admin_device: device(t.admin),
  staff_device: device(t.staff),
  clerk_device: device(t.clerk),
  phone: device(t.phone),
  tablet: device(t.tablet),
  laptop: device(t.laptop),
  // The device the server slips in (trust_vectors.rs: seeds 0xe8.., 0xf8..).
  ghost: DeviceKeys.fromSeeds(run(0xe8, 32), run(0xf8, 32)),
};

const cert = (text: string | null): DeviceCertificate | undefined =>
  text === null ? undefined : DeviceCertificate.decode(hex(text));
const served = (log: LogEntry[]): Served<MembershipRecord>[] =>
  log.map((e) => ({ record: MembershipRecord.decode(hex(e.record)), certificate: cert(e.signer_certificate) }));
const servedKeys = (epochs: Epoch[]): Served<HolderKeyRecord>[] =>
  epochs.map((e) => ({ record: HolderKeyRecord.decodeAndVerify(hex(e.record)), certificate: cert(e.signer_certificate) }));

/** A member in the vector's JSON form. */
function memberJson(m: Member): Record<string, unknown> {
  if (m.kind === "device") {
    return { device: { ed25519_public_key: h(m.device.identity.bytes), x25519_public_key: h(m.device.agreement.bytes) } };
  }
  return { [m.kind]: m.id };
}

/** The directory the client builds from every valid log, in dependency order. */
function directory(): Directory {
  const dir = new Directory(root.public, org);
  dir.addStaffDeviceLog(parseId(t.admin.account_id), served(t.logs.admin_devices).map((s) => s.record));
  dir.addStaffDeviceLog(parseId(t.staff.account_id), served(t.logs.staff_devices).map((s) => s.record));
  dir.addStaffDeviceLog(parseId(t.clerk.account_id), served(t.logs.clerk_devices).map((s) => s.record));
  dir.addTeamLog(team, served(t.logs.team_members));
  dir.addCitizenDeviceLog(citizen, served(t.logs.citizen_devices));
  return dir;
}

const owners: Record<"team" | "citizen" | "archive", HolderOwner> = {
  team: { kind: "team", team },
  citizen: { kind: "citizen", account: citizen },
  archive: { kind: "archive" },
};

const LOGS: Record<keyof Trust["logs"], [LogKind, string]> = {
  admin_devices: ["device_list", t.admin.account_id],
  staff_devices: ["device_list", t.staff.account_id],
  clerk_devices: ["device_list", t.clerk.account_id],
  team_members: ["team_members", t.team_id],
  citizen_devices: ["device_list", t.citizen_account_id],
  thread_participants: ["thread_participants", t.thread_id],
};

describe("trust.json", () => {
  it("has the root of its seed and staff certificates the root signed", () => {
    expect(h(root.public.bytes)).toBe(t.root_ed25519_public_key);
    for (const s of [t.admin, t.staff, t.clerk]) {
      const body = DeviceCertificate.decode(hex(s.certificate)).verify(root.public, now);
      expect(h(body.device.identity.bytes)).toBe(s.ed25519_public_key);
      expect(body.staffId).toBe(s.account_id);
    }
  });

  it.each(Object.keys(LOGS) as (keyof Trust["logs"])[])("has a %s log whose records hash, decode and re-sign exactly", (name) => {
    const [log, subject] = LOGS[name];
    const state = new MembershipState(log, hex(subject.replaceAll("-", "")));
    for (const entry of t.logs[name]) {
      const record = MembershipRecord.decode(hex(entry.record));
      expect(h(record.hash())).toBe(entry.hash);
      expect([record.seq, record.issuedAt, record.operation]).toEqual([BigInt(entry.seq), BigInt(entry.issued_at), entry.operation]);
      expect(memberJson(record.member)).toEqual(entry.member);
      const signer = signers[entry.signer];
      if (signer === undefined) throw new Error(`unknown signer ${entry.signer}`);
      expect(record.signer.equals(signer.signerKey)).toBe(true);
      const again = state.nextRecord(signer, record.operation, record.member, record.issuedAt);
      expect(h(again.bytes)).toBe(entry.record);
      state.apply(again, anySigner);
    }
  });

  it("verifies every log under its policy, to the final members", () => {
    const dir = directory();
    expect(dir.teamLog(team)?.members.map(memberJson)).toEqual(t.final_members.team_members);
    expect(dir.citizenLog(citizen)?.members.map(memberJson)).toEqual(t.final_members.citizen_devices);
    const participants = dir.verifyParticipants(thread, served(t.logs.thread_participants));
    expect(participants.members.map(memberJson)).toEqual(t.final_members.thread_participants);
    expect(dir.teamMemberNow(team, parseId(t.staff.account_id))).toBe(true);
  });

  it.each(["team", "citizen", "archive"] as const)("verifies the %s holder's epochs at now", (kind) => {
    const holder = t.holders[kind];
    const verified = directory().verifyHolder(owners[kind], servedKeys(holder.epochs), now);
    expect(verified.holder).toBe(holder.holder_id);
    expect(verified.epochs.map((e) => [e.key.epoch, h(e.key.key.bytes), e.createdAt, h(e.signer.bytes)])).toEqual(
      holder.epochs.map((e) => [e.epoch, e.public_key, BigInt(e.created_at), e.signer_ed25519_public_key]),
    );
    expect(verified.current.key.epoch).toBe(holder.epochs.length - 1);
    for (const e of holder.epochs) {
      const pair = HolderKeyPair.fromSecret({ holder: parseId<HolderId>(holder.holder_id), epoch: e.epoch }, kind, hex(e.private_key));
      expect(h(pair.public.key.bytes)).toBe(e.public_key);
    }
  });

  it.each(t.refused_logs.map((r) => [r.name, r] as const))("refuses %s, at the same record and for the same reason", (_, r) => {
    const dir = directory();
    const attempt = (): unknown =>
      r.log === "team"
        ? dir.clone().addTeamLog(team, served(r.records))
        : r.log === "citizen"
          ? dir.clone().addCitizenDeviceLog(citizen, served(r.records))
          : dir.verifyParticipants(thread, served(r.records));
    let error: unknown;
    try {
      attempt();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TrustError);
    const e = error as TrustError;
    expect([e.code, e.detail.log?.code, e.detail.log?.seq, e.message]).toEqual(["log", r.error, BigInt(r.at.seq), r.message]);
  });

  it.each(t.refused_holders.map((r) => [r.name, r] as const))("refuses %s, at the same epoch and for the same reason", (_, r) => {
    let error: unknown;
    try {
      directory().verifyHolder(owners[r.owner], servedKeys(r.epochs), now);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TrustError);
    const e = error as TrustError;
    expect([e.code, e.detail.epoch, e.message]).toEqual([r.refusal.error, r.refusal.at.epoch, r.refusal.message]);
  });
});
