// A citizen's devices (PROTOCOL.md §7, log 3), mirroring the citizen parts
// of client-cli/src/client/membership.rs: the devices waiting for
// approval, approving one by the fingerprint the person read off its own
// screen (signed into the list by this device, then granted the citizen
// key), removing one, and resetting the list to this device after every
// other one was lost.

import {
  deviceFingerprint,
  fingerprintsMatch,
  MembershipState,
  sameDeviceKeys,
  idToBytes,
  type DeviceId,
  type Directory,
  type MembershipRecord,
  type AccountId,
} from "../protocol";
import type { DeviceInfo, SignedLog } from "../protocol/rest";
import { b64Encode } from "../protocol";
import { ClientError, del, get, post, type Context } from "./context";
import { parseDeviceKeys, upkeep, type UpkeepReport } from "./keys";
import type { OwnDevice, PendingDevice } from "./model";
import { directory, loadCitizen, loadStaff, ownCitizenList, pinsForWork, refuse, savePins, type OwnListing } from "./trust";

export type { PendingDevice };

function live(d: DeviceInfo): boolean {
  return d.revoked_at === undefined || d.revoked_at === null;
}

/** The devices of this account that the signed list does not name and that
 *  are not revoked: waiting for approval here. */
export async function pendingDevices(ctx: Context, dir: Directory): Promise<PendingDevice[]> {
  const listed = dir.citizenDevices(ctx.accountId) ?? [];
  const own = await get<DeviceInfo[]>(ctx, "/v1/devices");
  const out: PendingDevice[] = [];
  for (const d of own.filter(live)) {
    const keys = parseDeviceKeys(d.keys);
    if (keys === null || listed.some((l) => l.identity.equals(keys.identity))) continue;
    out.push({ deviceId: d.device_id, label: d.label, fingerprint: deviceFingerprint(keys.identity) });
  }
  return out;
}

/** Where this device stands in the account's signed device list. */
export async function deviceStanding(ctx: Context): Promise<OwnListing> {
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  try {
    return await ownCitizenList(ctx, dir, pins);
  } finally {
    await savePins(ctx, before, pins);
  }
}

/** This account's devices, each marked with whether its signed device list
 *  names it (with these keys). */
export async function ownDevices(ctx: Context): Promise<OwnDevice[]> {
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  // A staff account's list is signed by the organisation (certified
  // devices); a citizen's by their own devices.
  const staff = ctx.keystore.secrets.kind === "staff";
  try {
    if (staff) await loadStaff(ctx, dir, pins, ctx.accountId);
    else await loadCitizen(ctx, dir, pins, ctx.accountId);
  } finally {
    await savePins(ctx, before, pins);
  }
  const listed = (staff ? dir.staffDevices(ctx.accountId) : dir.citizenDevices(ctx.accountId)) ?? [];
  const own = await get<DeviceInfo[]>(ctx, "/v1/devices");
  return own.map((d) => {
    const keys = parseDeviceKeys(d.keys);
    return {
      deviceId: d.device_id,
      label: d.label,
      fingerprint: keys === null ? "?" : deviceFingerprint(keys.identity),
      createdAt: d.created_at,
      revoked: !live(d),
      listed: keys !== null && listed.some((l) => sameDeviceKeys(l, keys)),
      thisDevice: d.device_id === ctx.deviceId,
    };
  });
}

/** Appends a signed record to an account's device list. */
export function appendDeviceRecord(ctx: Context, account: AccountId, record: MembershipRecord): Promise<SignedLog> {
  return post<SignedLog>(ctx, `/v1/accounts/${account}/device-log`, { record: b64Encode(record.bytes) });
}

/** Approves a device of this account waiting for approval: its fingerprint
 *  must match `fingerprint`, which the person read off the new device's
 *  screen. Signs it into the device list with this device and grants it
 *  the account's key. */
export async function approveDevice(
  ctx: Context,
  fingerprint: string,
): Promise<{ approved: PendingDevice; report: UpkeepReport }> {
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  let approved: PendingDevice;
  try {
    approved = await approveIn(ctx, dir, fingerprint, await ownCitizenList(ctx, dir, pins));
  } finally {
    await savePins(ctx, before, pins);
  }
  const report = await upkeep(ctx, false);
  return { approved, report };
}

async function approveIn(ctx: Context, dir: Directory, fingerprint: string, listing: OwnListing): Promise<PendingDevice> {
  if (listing.kind !== "listed") {
    throw ClientError.refused("this device is not in your signed device list itself, so it cannot approve another");
  }
  const own = await get<DeviceInfo[]>(ctx, "/v1/devices");
  const pending = await pendingDevices(ctx, dir);
  const found = pending.filter((p) => fingerprintsMatch(fingerprint, p.fingerprint));
  const device = found[0];
  if (found.length !== 1 || device === undefined) {
    throw ClientError.verification(
      pending.length === 0
        ? "no device of yours waits for approval"
        : `no waiting device has the fingerprint ${fingerprint}; the waiting ones show ${pending.map((p) => p.fingerprint).join(", ")}. Do not approve a device whose fingerprint you have not read on its own screen`,
    );
  }
  const info = own.find((d) => d.device_id === device.deviceId);
  const keys = info === undefined ? null : parseDeviceKeys(info.keys);
  if (keys === null) throw ClientError.refused("the device disappeared meanwhile");
  // The keys signed into the list are the ones whose fingerprint the person
  // compared: the identity key is what the fingerprint covers.
  if (deviceFingerprint(keys.identity) !== device.fingerprint) throw ClientError.refused("the device disappeared meanwhile");
  const log = dir.citizenLog(ctx.accountId);
  if (log === undefined) throw refuse("your device list could not be read");
  const record = log.nextRecord(ctx.device, "add", { kind: "device", device: keys }, ctx.now());
  await appendDeviceRecord(ctx, ctx.accountId, record);
  return device;
}

/** Removes a device from this account's signed device list (signed by this
 *  device; the server revokes it at once). A device that is not in the list
 *  is only revoked on the server. */
export async function removeDevice(ctx: Context, device: DeviceId): Promise<void> {
  const own = await get<DeviceInfo[]>(ctx, "/v1/devices");
  const target = own.find((d) => d.device_id === device);
  if (target === undefined) throw ClientError.refused(`${device} is not one of your devices`);
  // Staff: the server revokes it; the organisation's signed list follows
  // from an admin.
  if (ctx.keystore.secrets.kind === "staff") {
    await del<undefined>(ctx, `/v1/devices/${device}`);
    return;
  }
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  try {
    await loadCitizen(ctx, dir, pins, ctx.accountId);
  } finally {
    await savePins(ctx, before, pins);
  }
  const list = dir.citizenLog(ctx.accountId);
  const keys = parseDeviceKeys(target.keys);
  const listed = list?.members.find(
    (m) => m.kind === "device" && keys !== null && m.device.identity.equals(keys.identity),
  );
  const iAmListed = list?.contains({ kind: "device", device: ctx.device.public }) ?? false;
  if (list !== undefined && listed !== undefined && iAmListed) {
    await appendDeviceRecord(ctx, ctx.accountId, list.nextRecord(ctx.device, "remove", listed, ctx.now()));
  } else {
    await del<undefined>(ctx, `/v1/devices/${device}`);
  }
}

/** For a citizen who lost every other device: resets the signed device list
 *  to this device alone. Every other participant is told, and nothing is
 *  sealed to the new key until they compare safety numbers. */
export async function resetDevices(ctx: Context): Promise<UpkeepReport> {
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  let listing: OwnListing;
  try {
    listing = await ownCitizenList(ctx, dir, pins);
  } finally {
    await savePins(ctx, before, pins);
  }
  if (listing.kind === "listed") {
    throw ClientError.refused("this device is in your device list already: remove lost devices from the list instead");
  }
  const log = dir.citizenLog(ctx.accountId) ?? new MembershipState("device_list", idToBytes(ctx.accountId));
  const record = log.nextRecord(ctx.device, "reset", { kind: "device", device: ctx.device.public }, ctx.now());
  await appendDeviceRecord(ctx, ctx.accountId, record);
  // A fresh citizen key that only this device holds.
  return upkeep(ctx, true);
}
