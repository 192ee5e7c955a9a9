// Holder keys on the citizen's device, mirroring client-cli/src/client/
// keys.rs: opening grants (keeping only keys the signed records vouch
// for), making and rotating the citizen key, and granting it to the
// devices entitled to it — decided by trust.ts from the citizen's signed
// device list, never by the server's lists. The first device signs itself
// into that list here; later devices are approved in devices.ts.

import {
  AgreementKey,
  b64Decode,
  DeviceCertificate,
  hasRole,
  Roles,
  b64Encode,
  deviceFingerprint,
  Grant,
  HolderKeyPair,
  HolderKeyRecord,
  IdentityKey,
  idFromBytes,
  idToBytes,
  randomId,
  sameDeviceKeys,
  VerifiedHolder,
  type AccountId,
  type AnyId,
  type DevicePublicKeys,
  type Directory,
  type HolderEpoch,
  type HolderId,
  type HolderKind,
  type HolderOwner,
  type HolderPublicKey,
  type CertificateBody,
  type OrgId,
  type TeamId,
} from "../protocol";
import type {
  DeviceInfo,
  DevicePublicKeysJson,
  EntitledDevice,
  EntitledDevices,
  GrantList,
  GrantsStored,
  HolderKeySet,
} from "../protocol/rest";
import { ClientError, get, me, post, put, updateSecrets, utcDate, type Context } from "./context";
import type { HeldKey, Secrets } from "./keystore";
import { appendDeviceRecord, pendingDevices, type PendingDevice } from "./devices";
import {
  directory,
  firstDeviceRecord,
  loadHolderContext,
  loadStaff,
  loadTeam,
  ownCitizenList,
  pinsForWork,
  refuse,
  savePins,
  verifiedHolder,
  type Pins,
} from "./trust";

/** What one round of key upkeep did. */
export interface UpkeepReport {
  /** Holder keys newly opened from grants. */
  opened: number;
  /** Holder epochs this device published (new holders or rotations). */
  published: string[];
  /** Grants issued to other devices. */
  granted: number;
  /** Devices not granted a key, and why. */
  skipped: string[];
  /** Devices of this account that wait for approval here (compare their
   *  fingerprints, then approve). */
  pending: PendingDevice[];
  /** Grants refused because their key is not one the signatures vouch for. */
  refused: string[];
}

export function emptyReport(): UpkeepReport {
  return { opened: 0, published: [], granted: 0, skipped: [], pending: [], refused: [] };
}

const KINDS: readonly HolderKind[] = ["team", "citizen", "archive"];
const KIND_NAMES: Record<HolderKind, string> = { team: "Team", citizen: "Citizen", archive: "Archive" };

/** The private key of one holder epoch this keystore holds. */
export function heldKey(s: Readonly<Secrets>, epoch: HolderEpoch): HolderKeyPair | undefined {
  const h = s.holders.find((k) => k.holder === epoch.holder && k.epoch === epoch.epoch);
  if (h === undefined) return undefined;
  const kind = KINDS.find((k) => k === h.kind);
  if (kind === undefined) return undefined;
  return HolderKeyPair.fromSecret({ holder: h.holder as HolderId, epoch: h.epoch }, kind, b64Decode(h.secret));
}

/** Whether this keystore holds the key of `epoch`. */
export function holds(s: Readonly<Secrets>, epoch: HolderEpoch): boolean {
  return s.holders.some((k) => k.holder === epoch.holder && k.epoch === epoch.epoch);
}

/** Keeps a holder key in the secrets; false if it was there already. */
export function addHolder(s: Secrets, key: HolderKeyPair): boolean {
  const e = key.epoch;
  if (holds(s, e)) return false;
  const secret = key.toKeystoreBytes();
  const held: HeldKey = { holder: e.holder, epoch: e.epoch, kind: key.kind, secret: b64Encode(secret) };
  secret.fill(0);
  s.holders.push(held);
  return true;
}

/** A device's public keys as the server lists them, if they are valid keys. */
export function parseDeviceKeys(json: DevicePublicKeysJson): DevicePublicKeys | null {
  try {
    return {
      identity: IdentityKey.fromBytes(b64Decode(json.identity)),
      agreement: AgreementKey.fromBytes(b64Decode(json.agreement)),
    };
  } catch {
    return null;
  }
}

function samePublic(a: HolderPublicKey, b: HolderPublicKey): boolean {
  return a.holder === b.holder && a.epoch === b.epoch && a.kind === b.kind && a.key.equals(b.key);
}

/** The owner a holder's signed records name. */
function ownerOf(set: HolderKeySet, org: OrgId): HolderOwner | null {
  const first = set.records[0];
  if (first === undefined) return null;
  let record: HolderKeyRecord;
  try {
    record = HolderKeyRecord.decodeAndVerify(b64Decode(first.record));
  } catch {
    return null;
  }
  switch (record.key.kind) {
    case "team":
      return { kind: "team", team: idFromBytes<TeamId>(record.owner) };
    case "citizen":
      return { kind: "citizen", account: idFromBytes<AccountId>(record.owner) };
    case "archive":
      return idFromBytes<OrgId>(record.owner) === org ? { kind: "archive" } : null;
  }
}

/** Opens every grant addressed to this device and keeps the keys that are
 *  genuine; returns how many were new. */
export async function syncGrants(ctx: Context): Promise<number> {
  const report = emptyReport();
  await openGrants(ctx, report);
  return report.opened;
}

/** Opens the grants to this device. Each key must equal the public key of a
 *  holder epoch whose signed record verifies; a grant of any other key is
 *  refused (and named in the report). */
export async function openGrants(ctx: Context, report: UpkeepReport): Promise<void> {
  const list = await get<GrantList>(ctx, "/v1/grants");
  const opened: HolderKeyPair[] = [];
  for (const { grant } of list.grants) {
    let g: Grant;
    try {
      g = Grant.decode(b64Decode(grant));
    } catch {
      continue;
    }
    if (holds(ctx.keystore.secrets, g.holder)) continue;
    try {
      opened.push(await g.open(ctx.device));
    } catch {
      // Not for this device, or not the key it claims: nothing to keep.
    }
  }
  if (opened.length === 0) return;
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  const holders = [...new Set(opened.map((k) => k.epoch.holder))].sort();
  const keep: HolderKeyPair[] = [];
  try {
    for (const holder of holders) {
      let verified: VerifiedHolder | ClientError;
      try {
        verified = await verifyHolderById(ctx, dir, pins, holder);
      } catch (e) {
        if (!(e instanceof ClientError) || e.kind === "session_ended") throw e;
        verified = e;
      }
      for (const key of opened.filter((k) => k.epoch.holder === holder)) {
        const genuine = verified instanceof VerifiedHolder ? verified.epoch(key.epoch.epoch) : undefined;
        if (genuine !== undefined && samePublic(genuine.key, key.public)) {
          keep.push(key);
        } else {
          report.refused.push(
            `a grant of ${key.kind} key ${holder} epoch ${key.epoch.epoch}: ${
              verified instanceof ClientError ? verified.message : "it is not the key the signed record publishes"
            }`,
          );
          key.wipe();
        }
      }
    }
  } finally {
    await savePins(ctx, before, pins);
  }
  if (keep.length === 0) return;
  let added = 0;
  await updateSecrets(ctx, (s) => {
    for (const k of keep) if (addHolder(s, k)) added += 1;
  });
  for (const k of keep) k.wipe();
  report.opened += added;
}

/** Fetches a holder by id and verifies it as its signed records' owner's. */
async function verifyHolderById(ctx: Context, dir: Directory, pins: Pins, holder: HolderId): Promise<VerifiedHolder> {
  const set = await get<HolderKeySet>(ctx, `/v1/keys/${holder}`);
  const owner = ownerOf(set, ctx.orgId);
  if (owner === null) throw refuse("a key holder's record names no owner of this organisation");
  await loadHolderContext(ctx, dir, pins, owner, set);
  return verifiedHolder(ctx, dir, pins, owner, set);
}

/** A holder's key set as the server lists it, or null when the owner has no
 *  holder yet (a hint: it is verified before use). */
async function findHolder(ctx: Context, kind: HolderKind, owner: string): Promise<HolderKeySet | null> {
  try {
    return await get<HolderKeySet>(ctx, `/v1/keys?kind=${kind}&owner=${owner}`);
  } catch (e) {
    if (e instanceof ClientError && e.kind === "api" && e.is("not_found")) return null;
    throw e;
  }
}

function ownerKey(ctx: Context, owner: HolderOwner): { kind: HolderKind; id: AnyId } {
  switch (owner.kind) {
    case "team":
      return { kind: "team", id: owner.team };
    case "citizen":
      return { kind: "citizen", id: owner.account };
    case "archive":
      return { kind: "archive", id: ctx.orgId };
  }
}

/** Finds and verifies the holder of `owner`. */
export async function verifiedHolderOf(
  ctx: Context,
  dir: Directory,
  pins: Pins,
  owner: HolderOwner,
): Promise<{ set: HolderKeySet; verified: VerifiedHolder } | null> {
  const { kind, id } = ownerKey(ctx, owner);
  const set = await findHolder(ctx, kind, id);
  if (set === null) return null;
  await loadHolderContext(ctx, dir, pins, owner, set);
  return { set, verified: verifiedHolder(ctx, dir, pins, owner, set) };
}

/** Publishes a holder epoch signed by this device and keeps its key — kept
 *  first, so that a crash after the server stored the epoch cannot lose it. */
async function publish(ctx: Context, key: HolderKeyPair, owner: Uint8Array): Promise<void> {
  const record = HolderKeyRecord.sign(ctx.device, key.public, owner, ctx.now());
  const epoch = key.epoch;
  await updateSecrets(ctx, (s) => {
    addHolder(s, key);
  });
  await put<HolderKeySet>(ctx, `/v1/keys/${epoch.holder}/${epoch.epoch}`, { record: b64Encode(record.bytes) });
}

/** When the membership behind a holder last lost someone: a device left the
 *  citizen's list (or a team member left). */
function lastRemoval(dir: Directory, owner: HolderOwner): bigint | undefined {
  const log =
    owner.kind === "team" ? dir.teamLog(owner.team) : owner.kind === "citizen" ? dir.citizenLog(owner.account) : undefined;
  let last: bigint | undefined;
  for (const c of log?.changes ?? []) {
    if (c.operation !== "add" && (last === undefined || c.issuedAt > last)) last = c.issuedAt;
  }
  return last;
}

function generate(holder: HolderId, kind: HolderKind, epoch: number): HolderKeyPair {
  try {
    return HolderKeyPair.generate(holder, kind, epoch);
  } catch (e) {
    throw ClientError.refused(e instanceof Error ? e.message : "no randomness");
  }
}

/** Makes sure `owner` has a holder (creating epoch 0 if not), rotates it
 *  when due — the server asks, the epoch is older than the rotation period,
 *  or a device left since it was made — while this device holds the current
 *  epoch, and grants the epochs this device holds to every device entitled
 *  to them by signed membership. */
export async function maintainHolder(
  ctx: Context,
  dir: Directory,
  pins: Pins,
  owner: HolderOwner,
  rotate: boolean,
  report: UpkeepReport,
): Promise<void> {
  const { kind, id } = ownerKey(ctx, owner);
  const ownerBytes = idToBytes(id);
  let found = await verifiedHolderOf(ctx, dir, pins, owner);
  if (found === null) {
    const key = generate(randomId<HolderId>(), kind, 0);
    report.published.push(`${KIND_NAMES[kind]} key ${key.epoch.holder} epoch 0`);
    await publish(ctx, key, ownerBytes);
    key.wipe();
    found = await verifiedHolderOf(ctx, dir, pins, owner);
    if (found === null) throw ClientError.refused("the key was published but cannot be found");
  }
  let verified = found.verified;
  const current = verified.current.key;
  const due = found.set.rotation_due || verified.isDue(ctx.now(), lastRemoval(dir, owner));
  // Not in the Rust client, which rotates only from the current epoch: the
  // device that reset a citizen's list holds no epoch of the old devices,
  // yet it is the one that must start the new key (`resetDevices` asks).
  const mayRotate = holds(ctx.keystore.secrets, current) || (rotate && owner.kind === "citizen");
  if ((due || rotate) && mayRotate) {
    const next = generate(current.holder, kind, current.epoch + 1);
    report.published.push(`${KIND_NAMES[kind]} key ${current.holder} epoch ${current.epoch + 1} (rotation)`);
    await publish(ctx, next, ownerBytes);
    next.wipe();
    const again = await verifiedHolderOf(ctx, dir, pins, owner);
    if (again === null) throw ClientError.refused("the rotated key cannot be found");
    verified = again.verified;
  }
  await grantMissing(ctx, dir, pins, owner, verified, report);
}

/** The keys a device the server lists as entitled may be granted, decided by
 *  signed membership: the keys to seal to (from the signed device list,
 *  never the server's copy), or why not. */
export async function grantTarget(
  ctx: Context,
  dir: Directory,
  pins: Pins,
  owner: HolderOwner,
  device: EntitledDevice,
): Promise<DevicePublicKeys | string> {
  if (device.device_id === ctx.deviceId) {
    const mine = ctx.device.public;
    const listed = parseDeviceKeys(device.keys);
    if (listed === null || !sameDeviceKeys(listed, mine)) {
      throw refuse("the server lists other public keys for this very device than its keystore holds");
    }
    return mine;
  }
  if (owner.kind !== "citizen") return staffGrantTarget(ctx, dir, pins, owner, device);
  const listed = dir.citizenDevices(owner.account) ?? [];
  const keys = parseDeviceKeys(device.keys);
  const signed = keys === null ? undefined : listed.find((l) => sameDeviceKeys(l, keys));
  if (signed !== undefined) return signed;
  if (keys !== null && listed.some((l) => l.identity.equals(keys.identity))) {
    return "the server lists other keys for it than your signed device list: not granted (tell your municipality)";
  }
  return "it is not in your signed device list: compare its fingerprint with the new device's screen, then approve it";
}

/** A staff device may be granted a team's (or the archive's) key when the
 *  organisation root certified it, it is in its owner's signed device list,
 *  and — for a team — its owner is in the team's signed member list now
 *  (for the archive: it holds the record clerk or admin role). */
async function staffGrantTarget(
  ctx: Context,
  dir: Directory,
  pins: Pins,
  owner: HolderOwner,
  device: EntitledDevice,
): Promise<DevicePublicKeys | string> {
  if (device.certificate === undefined || device.certificate === null) {
    return "not certified by the organisation yet (ask an admin to certify it)";
  }
  let cert: DeviceCertificate;
  try {
    cert = DeviceCertificate.decode(b64Decode(device.certificate));
  } catch {
    throw refuse("a device certificate from the server is malformed");
  }
  const claimed = cert.bodyUnverified;
  const keys = parseDeviceKeys(device.keys);
  if (claimed.staffId !== device.account_id || keys === null || !sameDeviceKeys(claimed.device, keys)) {
    return "its certificate is for another device or account";
  }
  await loadStaff(ctx, dir, pins, device.account_id);
  const body = dir.certifiedAt(keys.identity, cert, ctx.now());
  if (typeof body === "string") return body;
  if (!(dir.staffDevices(device.account_id) ?? []).some((d) => sameDeviceKeys(d, keys))) {
    return "it is not in its owner's signed device list";
  }
  if (owner.kind === "team") {
    if (!hasRole(body.roles, Roles.staff)) return `its certificate has no staff role for team ${owner.team}`;
    if (!dir.teamMemberNow(owner.team, device.account_id)) return "its owner is not in the team's signed member list";
  } else if (!hasRole(body.roles, Roles.recordClerk) && !hasRole(body.roles, Roles.admin)) {
    return "its certificate gives it no archive role (record clerk or admin)";
  }
  return body.device;
}

/** Grants the epochs of a verified holder this device holds to the entitled
 *  devices that lack them. */
export async function grantMissing(
  ctx: Context,
  dir: Directory,
  pins: Pins,
  owner: HolderOwner,
  holder: VerifiedHolder,
  report: UpkeepReport,
): Promise<void> {
  const entitled = await get<EntitledDevices>(ctx, `/v1/keys/${holder.holder}/devices`);
  const grants: { grant: string }[] = [];
  for (const d of entitled.devices) {
    if (d.missing_epochs.length === 0) continue;
    const keys = await grantTarget(ctx, dir, pins, owner, d);
    if (typeof keys === "string") {
      report.skipped.push(`device ${d.device_id}: ${keys}`);
      continue;
    }
    for (const epoch of d.missing_epochs) {
      // Only genuine epochs: the key this device holds must be the one the
      // signed record publishes.
      const genuine = holder.epoch(epoch)?.key;
      const key = heldKey(ctx.keystore.secrets, { holder: holder.holder, epoch });
      if (key === undefined) continue;
      if (genuine !== undefined && samePublic(genuine, key.public)) {
        const g = await Grant.issue(ctx.device, key, keys.agreement, ctx.now());
        grants.push({ grant: b64Encode(g.bytes) });
      }
      key.wipe();
    }
  }
  for (let i = 0; i < grants.length; i += 200) {
    const stored = await post<GrantsStored>(ctx, "/v1/grants", { grants: grants.slice(i, i + 200) });
    report.granted += stored.stored;
  }
}

/** One round of key upkeep: open new grants; a citizen keeps this device in
 *  the signed device list (the first device signs itself in), keeps the
 *  citizen key and grants it to the approved devices; staff keep their
 *  teams' keys and grant them to their colleagues' certified devices. */
export async function upkeep(ctx: Context, rotate = false): Promise<UpkeepReport> {
  const report = emptyReport();
  await openGrants(ctx, report);
  const info = await me(ctx);
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  try {
    if (info.kind === "staff") await staffUpkeepIn(ctx, dir, pins, info.roles, info.teams, rotate, report);
    else await upkeepIn(ctx, dir, pins, rotate, report);
  } finally {
    await savePins(ctx, before, pins);
  }
  return report;
}

/** This staff device's certificate, if it verifies now and the device is in
 *  its account's signed device list. */
export async function ownCertificate(ctx: Context, dir: Directory, pins: Pins): Promise<CertificateBody | null> {
  const own = await get<DeviceInfo[]>(ctx, "/v1/devices");
  const raw = own.find((d) => d.device_id === ctx.deviceId)?.certificate;
  if (raw === undefined || raw === null) return null;
  let cert: DeviceCertificate;
  try {
    cert = DeviceCertificate.decode(b64Decode(raw));
  } catch {
    throw refuse("this device's certificate from the server is malformed");
  }
  await loadStaff(ctx, dir, pins, ctx.accountId);
  const mine = ctx.device.public;
  const body = dir.certifiedAt(mine.identity, cert, ctx.now());
  if (typeof body === "string" || !sameDeviceKeys(body.device, mine) || body.staffId !== ctx.accountId) return null;
  return body;
}

async function staffUpkeepIn(
  ctx: Context,
  dir: Directory,
  pins: Pins,
  roles: readonly string[],
  teams: readonly TeamId[],
  rotate: boolean,
  report: UpkeepReport,
): Promise<void> {
  // Others trust a team key only when its publisher's device was certified
  // when it signed it: wait for the certificate.
  const certified = (await ownCertificate(ctx, dir, pins)) !== null;
  if (!certified) {
    report.skipped.push(
      `this device's team keys: it is not certified yet (an admin compares the fingerprint ${deviceFingerprint(ctx.device.public.identity)} and certifies it)`,
    );
    return;
  }
  if (roles.includes("staff")) {
    for (const team of teams) {
      await loadTeam(ctx, dir, pins, team);
      if (!dir.teamMemberNow(team, ctx.accountId)) {
        report.skipped.push(`team ${team}: you are not in its signed member list (an admin adds you to the team)`);
        continue;
      }
      await maintainHolder(ctx, dir, pins, { kind: "team", team }, rotate, report);
    }
  }
  // Admins and clerks who hold the archive key pass it on.
  const archive = await verifiedHolderOf(ctx, dir, pins, { kind: "archive" });
  if (archive !== null && ctx.keystore.secrets.holders.some((k) => k.holder === archive.verified.holder)) {
    await grantMissing(ctx, dir, pins, { kind: "archive" }, archive.verified, report);
  }
}

async function upkeepIn(ctx: Context, dir: Directory, pins: Pins, rotate: boolean, report: UpkeepReport): Promise<void> {
  const listing = await ownCitizenList(ctx, dir, pins);
  switch (listing.kind) {
    case "listed":
      break;
    case "empty": {
      await appendDeviceRecord(ctx, ctx.accountId, firstDeviceRecord(ctx.accountId, ctx.device, ctx.now()));
      await ownCitizenList(ctx, dir, pins);
      break;
    }
    case "pending":
      report.skipped.push(
        `this device: it waits for approval from another of your devices (there, approve the device with the fingerprint ${deviceFingerprint(ctx.device.public.identity)}). If you have lost every other device, resetting your devices starts afresh with this one`,
      );
      return;
    case "removed":
      throw ClientError.verification(
        `this device was removed from your account's signed device list on ${utcDate(listing.at)} (or the list was reset from another device). If you did not do that, call your municipality: someone else may have taken over your account`,
      );
  }
  report.pending = await pendingDevices(ctx, dir);
  await maintainHolder(ctx, dir, pins, { kind: "citizen", account: ctx.accountId }, rotate, report);
}
