// Membership logs (PROTOCOL.md §7): replay catches a ghost device, a
// dropped or reordered record, a record of another log, a forged reset and
// a backdated record; who was a member when follows the one-second rule.
// Mirrors the unit tests of protocol/src/membership.rs.

import { describe, expect, it } from "vitest";

import { parseId, type HolderId } from "../src/protocol/ids";
import { DeviceKeys, type DevicePublicKeys } from "../src/protocol/keys";
import { anySigner, MembershipError, MembershipRecord, MembershipState, type Member, type Policy } from "../src/protocol/membership";
import { VerifiedHolder } from "../src/protocol/trust";

const SUBJECT = new Uint8Array(16).fill(7);
const device = (n: number): DeviceKeys => DeviceKeys.fromSeeds(new Uint8Array(32).fill(n), new Uint8Array(32).fill(n + 100));
const member = (d: DeviceKeys | DevicePublicKeys): Member => ({ kind: "device", device: d instanceof DeviceKeys ? d.public : d });

/** The first device adds itself; afterwards only a current device may change the list. */
const devicePolicy: Policy = (state, r) => {
  if (r.member.kind !== "device") return "devices only";
  const signer: Member = { kind: "device", device: { identity: r.signer, agreement: r.member.device.agreement } };
  return state.members.length === 0 || state.contains(signer) || r.operation === "reset" ? null : "not a device of the list";
};

function buildLog(): MembershipRecord[] {
  const [a, b] = [device(1), device(2)];
  const state = new MembershipState("device_list", SUBJECT);
  const records: MembershipRecord[] = [];
  for (const [signer, op, m] of [
    [a, "add", member(a)],
    [a, "add", member(b)],
    [b, "remove", member(a)],
  ] as const) {
    const record = state.nextRecord(signer, op, m, 1_700_000_000n);
    state.apply(record, devicePolicy);
    records.push(record);
  }
  return records;
}

function failure(f: () => unknown): { code: string; seq: bigint | undefined; message: string } | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof MembershipError) return { code: e.code, seq: e.seq, message: e.message };
    throw e;
  }
  return undefined;
}

describe("membership logs", () => {
  it("replay to the right members and round-trip through their encoding", () => {
    const records = buildLog();
    expect(MembershipState.replay("device_list", SUBJECT, records, devicePolicy).members).toEqual([member(device(2))]);
    for (const r of records) expect(MembershipRecord.decode(r.bytes).bytes).toEqual(r.bytes);
  });

  it("notice a device slipped in by an outsider", () => {
    const records = buildLog();
    const state = MembershipState.replay("device_list", SUBJECT, records, devicePolicy);
    const ghost = device(9);
    records.push(state.nextRecord(ghost, "add", member(ghost), 1_700_000_000n));
    expect(failure(() => MembershipState.replay("device_list", SUBJECT, records, devicePolicy))).toEqual({
      code: "unauthorized",
      seq: 3n,
      message: "record 3: not a device of the list",
    });
  });

  it("notice a record left out, a log of another kind or subject, a broken link and a bad signature", () => {
    const records = buildLog();
    const [r0, r1, r2] = records as [MembershipRecord, MembershipRecord, MembershipRecord];
    expect(failure(() => MembershipState.replay("device_list", SUBJECT, [r0, r2], devicePolicy))).toMatchObject({ code: "out_of_order", seq: 2n, message: "expected record 1, found 2" });
    expect(failure(() => MembershipState.replay("thread_participants", SUBJECT, records, devicePolicy))).toMatchObject({ code: "wrong_log", seq: 0n });
    expect(failure(() => MembershipState.replay("device_list", new Uint8Array(16), records, devicePolicy))).toMatchObject({
      code: "wrong_log",
      message: "record 0 belongs to another subject",
    });
    const relinked = new MembershipState("device_list", SUBJECT);
    relinked.apply(r0, devicePolicy);
    const otherFirst = new MembershipState("device_list", SUBJECT).nextRecord(device(1), "add", member(device(1)), 1_700_000_001n);
    expect(failure(() => MembershipState.replay("device_list", SUBJECT, [otherFirst, r1], devicePolicy))).toMatchObject({ code: "broken_link", seq: 1n });
    const forged = r1.bytes;
    forged[forged.length - 1] = (forged[forged.length - 1] ?? 0) ^ 1;
    expect(failure(() => relinked.apply(MembershipRecord.decode(forged), devicePolicy))).toMatchObject({ code: "bad_signature", seq: 1n });
  });

  it("leave only the device that signed a reset, and refuse a reset signed by another key or outside a device list", () => {
    const state = MembershipState.replay("device_list", SUBJECT, buildLog(), devicePolicy);
    const phone = device(5);
    state.apply(state.nextRecord(phone, "reset", member(phone), 1_700_000_100n), devicePolicy);
    expect(state.members).toEqual([member(phone)]);
    // Who was a member when: a reset takes effect after the second it is dated.
    expect(state.containedAt(member(phone), 1_700_000_000n)).toBe(false);
    expect(state.containedAt(member(phone), 1_700_000_100n)).toBe(true);
    expect(state.containedAt(member(device(2)), 1_700_000_100n)).toBe(true);
    expect(state.containedAt(member(device(2)), 1_700_000_101n)).toBe(false);
    const fresh = new MembershipState("device_list", SUBJECT);
    expect(failure(() => fresh.apply(fresh.nextRecord(device(6), "reset", member(phone), 1n), devicePolicy))).toMatchObject({ code: "invalid_reset", seq: 0n });
    const team = new MembershipState("team_members", SUBJECT);
    expect(failure(() => team.apply(team.nextRecord(phone, "reset", member(phone), 1n), anySigner))).toMatchObject({ code: "invalid_reset" });
  });

  it("keep records in time order: a late signer's clock is raised, a backdated record refused", () => {
    const a = device(1);
    const state = new MembershipState("device_list", SUBJECT);
    state.apply(state.nextRecord(a, "add", member(a), 1_700_000_500n), anySigner);
    expect(state.nextRecord(a, "add", member(device(2)), 1_600_000_000n).issuedAt).toBe(1_700_000_500n);
    // A record dated before the last one, signed by hand (nextRecord would raise its date).
    expect(failure(() => state.apply(buildBackdated(state, a), anySigner))).toMatchObject({ code: "time_went_backwards", seq: 1n });
  });

  it("treat a device as one party whatever agreement key is named, and remove it only by the keys held", () => {
    const a = device(1);
    const state = new MembershipState("device_list", SUBJECT);
    state.apply(state.nextRecord(a, "add", member(a), 1n), anySigner);
    const other = member({ identity: a.public.identity, agreement: device(2).public.agreement });
    expect(failure(() => state.apply(state.nextRecord(a, "add", other, 2n), anySigner))).toMatchObject({ code: "already_member", seq: 1n });
    expect(failure(() => state.apply(state.nextRecord(a, "remove", other, 2n), anySigner))).toMatchObject({ code: "not_a_member", seq: 1n });
  });
});

/** The next record of `state`, dated 1,600,000,000 (before its last record) and re-signed. */
function buildBackdated(state: MembershipState, signer: DeviceKeys): MembershipRecord {
  const honest = state.nextRecord(signer, "add", member(device(2)), 0n);
  const bytes = honest.bytes;
  const at = bytes.length - 64 - 32 - 8;
  new DataView(bytes.buffer).setBigUint64(at, 1_600_000_000n);
  bytes.set(signer.sign("samtale/v1/membership", bytes.subarray(0, bytes.length - 64)), bytes.length - 64);
  return MembershipRecord.decode(bytes);
}

describe("verified holders", () => {
  it("are due for a new epoch after 30 days or after a change since the epoch was made", () => {
    const d = device(1);
    const key = { holder: parseId<HolderId>("0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d90"), epoch: 0, kind: "team" as const, key: d.public.agreement };
    const holder = new VerifiedHolder(key.holder, "team", [{ key, createdAt: 1000n, signer: d.public.identity }]);
    expect(holder.isDue(1000n + 30n * 86400n - 1n)).toBe(false);
    expect(holder.isDue(1000n + 30n * 86400n)).toBe(true);
    expect(holder.isDue(2000n, 1001n)).toBe(true);
    expect(holder.isDue(2000n, 1000n)).toBe(false);
  });
});
