// The client's trust rules without a network: pins that refuse a log the
// server rolled back or rewrote, resets flagged until a person confirms,
// grants issued only to devices the signed list names (with its keys), and
// granted keys kept only when the signed records publish them. Each
// refusal has its positive control beside it.

import { describe, expect, it } from "vitest";

import {
  b64Decode,
  b64Encode,
  DeviceKeys,
  Grant,
  HolderKeyPair,
  HolderKeyRecord,
  idToBytes,
  MembershipState,
  randomId,
  anySigner,
  type AccountId,
  type DeviceId,
  type HolderId,
  type MembershipRecord,
} from "../../src/protocol";
import type { EntitledDevice, HolderKeySet } from "../../src/protocol/rest";
import { emptyReport, grantMissing, grantTarget, heldKey, openGrants } from "../../src/client/keys";
import {
  advancePin,
  currentPins,
  directory,
  loadCitizen,
  ownCitizenList,
  pinsForWork,
  savePins,
  sealTargets,
  VerifiedThread,
  type Pins,
} from "../../src/client/trust";
import { fakeCitizen, served, type Fake } from "./fake";

/** A citizen device list: `first` adds itself, then each step is applied. */
function deviceLog(
  account: AccountId,
  steps: { signer: DeviceKeys; op: "add" | "remove" | "reset"; device: DeviceKeys }[],
  start = 1_767_000_000n,
): MembershipRecord[] {
  const state = new MembershipState("device_list", idToBytes(account));
  const out: MembershipRecord[] = [];
  steps.forEach((s, i) => {
    const r = state.nextRecord(s.signer, s.op, { kind: "device", device: s.device.public }, start + BigInt(i));
    state.apply(r, anySigner);
    out.push(r);
  });
  return out;
}

function logPath(account: AccountId): string {
  return `/v1/accounts/${account}/device-log`;
}

async function load(f: Fake, account: AccountId): Promise<ReturnType<typeof loadCitizen>> {
  const { before, pins } = pinsForWork(f.ctx);
  try {
    return await loadCitizen(f.ctx, directory(f.ctx), pins, account);
  } finally {
    await savePins(f.ctx, before, pins);
  }
}

describe("pins", () => {
  it("refuse a device list the server rolled back or rewrote, and accept one that grows", async () => {
    const f = await fakeCitizen();
    const [tablet, laptop, other] = [DeviceKeys.generate(), DeviceKeys.generate(), DeviceKeys.generate()];
    const log = deviceLog(f.account, [
      { signer: f.device, op: "add", device: f.device },
      { signer: f.device, op: "add", device: tablet },
      { signer: f.device, op: "add", device: laptop },
    ]);
    f.api.routes.set(logPath(f.account), served(log.slice(0, 2)));
    await load(f, f.account);
    expect(currentPins(f.ctx).logs[`devices:${f.account}`]).toMatchObject({ len: 2 });

    f.api.routes.set(logPath(f.account), served(log.slice(0, 1)));
    await expect(load(f, f.account)).rejects.toThrow("shorter than this device saw before (1 records now, 2 then): the server has rolled it back");
    const rewritten = deviceLog(f.account, [
      { signer: f.device, op: "add", device: f.device },
      { signer: f.device, op: "add", device: other },
    ]);
    f.api.routes.set(logPath(f.account), served(rewritten));
    await expect(load(f, f.account)).rejects.toThrow("no longer contains record 1 as this device saw it: the server has rewritten it");
    // Positive control: both lists verify on their own, so a device that
    // kept no pins takes them.
    const fresh = await fakeCitizen(f.device, f.root);
    fresh.api.routes.set(logPath(f.account), served(rewritten));
    await expect(load(fresh, f.account)).resolves.toMatchObject({ gone: false });

    f.api.routes.set(logPath(f.account), served(log));
    await expect(load(f, f.account)).resolves.toMatchObject({ added: 1, removed: 0 });
    expect(currentPins(f.ctx).logs[`devices:${f.account}`]).toMatchObject({ len: 3 });
  });

  it("move forward only over records that extend the pinned head", () => {
    const pins: Pins = { logs: {}, holders: {}, archive: null };
    const me = DeviceKeys.generate();
    const account = randomId<AccountId>();
    const log = deviceLog(account, [
      { signer: me, op: "add", device: me },
      { signer: me, op: "add", device: DeviceKeys.generate() },
    ]).map((record) => ({ record, certificate: undefined }));
    expect(advancePin(pins, "devices:x", "citizen's device list", log)).toBe(2);
    expect(advancePin(pins, "devices:x", "citizen's device list", log)).toBe(0);
    expect(() => advancePin(pins, "devices:x", "citizen's device list", [])).toThrow("rolled it back");
  });

  it("flag another citizen's reset until someone confirms it, and flag the next reset again", async () => {
    const f = await fakeCitizen();
    const elsa = randomId<AccountId>();
    const [phone, newPhone, third] = [DeviceKeys.generate(), DeviceKeys.generate(), DeviceKeys.generate()];
    const log = deviceLog(elsa, [
      { signer: phone, op: "add", device: phone },
      { signer: newPhone, op: "reset", device: newPhone },
      { signer: third, op: "reset", device: third },
    ]);
    f.api.routes.set(logPath(elsa), served(log.slice(0, 2)));
    const first = await load(f, elsa);
    expect(first.resetAt).toBe(log[1]?.issuedAt);
    expect((await load(f, elsa)).resetAt).toBe(log[1]?.issuedAt);

    // What confirming after comparing safety numbers records.
    const { before, pins } = pinsForWork(f.ctx);
    const pin = pins.logs[`devices:${elsa}`];
    if (pin === undefined) throw new Error("pinned");
    pin.confirmed = pin.len;
    await savePins(f.ctx, before, pins);
    expect((await load(f, elsa)).resetAt).toBeNull();

    f.api.routes.set(logPath(elsa), served(log));
    expect((await load(f, elsa)).resetAt).toBe(log[2]?.issuedAt);
  });

  it("never flag one's own reset, which the device itself signed", async () => {
    const f = await fakeCitizen();
    const lost = DeviceKeys.generate();
    f.api.routes.set(
      logPath(f.account),
      served(
        deviceLog(f.account, [
          { signer: lost, op: "add", device: lost },
          { signer: f.device, op: "reset", device: f.device },
        ]),
      ),
    );
    expect((await load(f, f.account)).resetAt).toBeNull();
  });

  it("stop sealing to a citizen whose devices were reset and not confirmed, before asking the server anything", async () => {
    const f = await fakeCitizen();
    const elsa = randomId<AccountId>();
    const vt = new VerifiedThread(randomId(), randomId(), new MembershipState("thread_participants", new Uint8Array(16)), [elsa], randomId(), [
      { account: elsa, resetAt: 1_767_000_000n, added: 0, removed: 0, gone: false },
    ]);
    const pins: Pins = { logs: {}, holders: {}, archive: null };
    const detail = { summary: {}, citizens: [], recipients: [], participants: [] } as unknown as Parameters<typeof sealTargets>[4];
    await expect(sealTargets(f.ctx, directory(f.ctx), pins, vt, detail, new Map([[elsa, "Elsa"]]))).rejects.toThrow(
      "Elsa's devices were reset on 2025-12-29",
    );
    expect(f.api.posted).toEqual([]);
  });
});

describe("this device's own standing", () => {
  it("is an alarm when the signed list names this device with another agreement key, which grants would be sealed to", async () => {
    const f = await fakeCitizen();
    const phone = DeviceKeys.generate();
    const operator = DeviceKeys.generate();
    // The list as the phone signed it, approving "this device" with the
    // agreement key the server showed it.
    const state = new MembershipState("device_list", idToBytes(f.account));
    const first = state.nextRecord(phone, "add", { kind: "device", device: phone.public }, 1_767_000_000n);
    state.apply(first, anySigner);
    const approval = state.nextRecord(
      phone,
      "add",
      { kind: "device", device: { identity: f.device.public.identity, agreement: operator.public.agreement } },
      1_767_000_001n,
    );
    f.api.routes.set(logPath(f.account), served([first, approval]));
    await expect(ownCitizenList(f.ctx, directory(f.ctx), { logs: {}, holders: {}, archive: null })).rejects.toThrow(
      "names this device with another key for receiving keys",
    );
    // Positive control: approved with its own keys, it is listed.
    const honest = new MembershipState("device_list", idToBytes(f.account));
    honest.apply(first, anySigner);
    const right = honest.nextRecord(phone, "add", { kind: "device", device: f.device.public }, 1_767_000_001n);
    f.api.routes.set(logPath(f.account), served([first, right]));
    await expect(ownCitizenList(f.ctx, directory(f.ctx), { logs: {}, holders: {}, archive: null })).resolves.toEqual({
      kind: "listed",
    });
  });
});

describe("grants", () => {
  function entitled(id: DeviceId, device: DeviceKeys, agreement = device.public.agreement): EntitledDevice {
    return {
      device_id: id,
      account_id: randomId(),
      keys: { identity: device.public.identity.toString(), agreement: agreement.toString() },
      missing_epochs: [0],
    };
  }

  it("go only to devices the signed device list names, sealed to the keys it names", async () => {
    const f = await fakeCitizen();
    const tablet = DeviceKeys.generate();
    const ghost = DeviceKeys.generate();
    const operator = DeviceKeys.generate();
    f.api.routes.set(
      logPath(f.account),
      served(
        deviceLog(f.account, [
          { signer: f.device, op: "add", device: f.device },
          { signer: f.device, op: "add", device: tablet },
        ]),
      ),
    );
    const dir = directory(f.ctx);
    await loadCitizen(f.ctx, dir, { logs: {}, holders: {}, archive: null }, f.account);
    const owner = { kind: "citizen", account: f.account } as const;
    const [tabletId, ghostId] = [randomId<DeviceId>(), randomId<DeviceId>()];

    const pins = { logs: {}, holders: {}, archive: null };
    const target = await grantTarget(f.ctx, dir, pins, owner, entitled(tabletId, tablet));
    expect(target).toMatchObject({ identity: tablet.public.identity, agreement: tablet.public.agreement });
    expect(await grantTarget(f.ctx, dir, pins, owner, entitled(ghostId, ghost))).toContain("it is not in your signed device list");
    expect(await grantTarget(f.ctx, dir, pins, owner, entitled(tabletId, tablet, operator.public.agreement))).toContain(
      "other keys for it than your signed device list",
    );
    await expect(
      grantTarget(f.ctx, dir, pins, owner, entitled(f.ctx.deviceId, f.device, operator.public.agreement)),
    ).rejects.toThrow("the server lists other public keys for this very device than its keystore holds");

    // Through grantMissing: the server asks for three grants; only the
    // tablet's, to its signed key, is made, and the tablet opens it.
    const holder = randomId<HolderId>();
    const key = HolderKeyPair.generate(holder, "citizen", 0);
    const record = HolderKeyRecord.sign(f.device, key.public, idToBytes(f.account), f.clock.now);
    const verified = directory(f.ctx);
    await loadCitizen(f.ctx, verified, { logs: {}, holders: {}, archive: null }, f.account);
    const holderVerified = verified.verifyHolder(owner, [{ record, certificate: undefined }], f.clock.now);
    await f.keystore.update((s) => {
      s.holders.push({ holder, epoch: 0, kind: "citizen", secret: b64Encode(key.toKeystoreBytes()) });
    });
    f.api.routes.set(`/v1/keys/${holder}/devices`, {
      devices: [entitled(tabletId, tablet, operator.public.agreement), entitled(ghostId, ghost)],
    });
    f.api.routes.set("POST /v1/grants", { stored: 1 });
    const refused = emptyReport();
    await grantMissing(f.ctx, verified, pins, owner, holderVerified, refused);
    expect(f.api.posted).toEqual([]);
    expect(refused.skipped).toHaveLength(2);

    f.api.routes.set(`/v1/keys/${holder}/devices`, { devices: [entitled(tabletId, tablet)] });
    const report = emptyReport();
    await grantMissing(f.ctx, verified, pins, owner, holderVerified, report);
    expect(report.granted).toBe(1);
    const body = f.api.posted[0]?.body as { grants: { grant: string }[] };
    const grant = Grant.decode(b64Decode(body.grants[0]?.grant ?? ""));
    expect((await grant.open(tablet)).public.key.equals(key.public.key)).toBe(true);
    await expect(grant.open(operator)).rejects.toThrow();
  });

  it("are kept only when the signed record publishes the granted key: a forged grant is refused", async () => {
    const f = await fakeCitizen();
    const granter = DeviceKeys.generate();
    f.api.routes.set(
      logPath(f.account),
      served(
        deviceLog(f.account, [
          { signer: f.device, op: "add", device: f.device },
          { signer: f.device, op: "add", device: granter },
        ]),
      ),
    );
    const holder = randomId<HolderId>();
    const genuine = HolderKeyPair.generate(holder, "citizen", 0);
    const forged = HolderKeyPair.generate(holder, "citizen", 0);
    const record = HolderKeyRecord.sign(granter, genuine.public, idToBytes(f.account), f.clock.now);
    f.api.routes.set(`/v1/keys/${holder}`, {
      holder_id: holder,
      kind: "citizen",
      owner: f.account,
      current_epoch: 0,
      rotation_due: false,
      records: [{ record: b64Encode(record.bytes) }],
    } satisfies HolderKeySet);

    const forgedGrant = await Grant.issue(granter, forged, f.device.public.agreement, f.clock.now);
    f.api.routes.set("/v1/grants", { grants: [{ grant: b64Encode(forgedGrant.bytes) }] });
    const refused = emptyReport();
    await openGrants(f.ctx, refused);
    expect(refused.opened).toBe(0);
    expect(refused.refused).toEqual([expect.stringContaining("it is not the key the signed record publishes")]);
    expect(heldKey(f.keystore.secrets, { holder, epoch: 0 })).toBeUndefined();

    // Positive control: the same path keeps the genuine key.
    const genuineGrant = await Grant.issue(granter, genuine, f.device.public.agreement, f.clock.now);
    f.api.routes.set("/v1/grants", { grants: [{ grant: b64Encode(genuineGrant.bytes) }] });
    const kept = emptyReport();
    await openGrants(f.ctx, kept);
    expect(kept.opened).toBe(1);
    expect(heldKey(f.keystore.secrets, { holder, epoch: 0 })?.public.key.equals(genuine.public.key)).toBe(true);
    expect(currentPins(f.ctx).holders[holder]).toMatchObject({ epoch: 0 });
  });
});
