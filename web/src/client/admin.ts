// The admin's work in the browser (the counterpart of `samtale admin`,
// client-cli/src/client/setup.rs and membership.rs): setting an
// organisation up from an enrolment code with a root key made in this page,
// teams and their retention, staff accounts, certifying devices after
// comparing fingerprints, revoking them, holds, and the audit log's state.
//
// The organisation root lives only in this browser's keystore (sealed like
// the device keys) and signs here: certificates, device-list records and,
// when present, team records. An admin on another browser signs team
// records with their certified device and cannot certify anyone.

import {
  b64Decode,
  b64Encode,
  DeviceCertificate,
  DeviceKeys,
  deviceFingerprint,
  fingerprintsMatch,
  type CertifiedTeam,
  type Member,
  type MembershipState,
  type Operation,
  OrgRootKey,
  orgFingerprint,
  Roles,
  type AccountId,
  type TeamId,
  type ThreadId,
} from "../protocol";
import type {
  AccountInfo,
  AuditStatus,
  BootstrapResponse,
  DeviceInfo,
  RetentionPolicy,
  Role,
  StaffInfo,
  TeamInfo,
  TemporaryPassword,
} from "../protocol/rest";
import { Api } from "./api";
import { ClientError, contextOf, del, get, post, put, type Context } from "./context";
import { newSecrets } from "./join";
import { type Backing, Keystore, type MarkerStore } from "./keystore";
import { emptyReport, maintainHolder, parseDeviceKeys, type UpkeepReport } from "./keys";
import { COOKIE_SESSION, teams as orgTeams } from "./staff";
import { moveRefreshToCookie, Tokens } from "./tokens";
import { directory, loadStaff, loadTeam, pinsForWork, refuse, savePins } from "./trust";

/** How long a certificate is valid (as the CLI issues them). */
export const CERTIFICATE_DAYS = 365;

export interface SetupRequest {
  /** The one-time code the server printed. */
  enrolmentCode: string;
  organisation: string;
  username: string;
  displayName: string;
  password: string;
  /** This device's label. */
  label: string;
}

export interface SetupDone {
  keystore: Keystore;
  /** The new organisation's fingerprint, for the letters and the staff. */
  fingerprint: string;
  /** What making the archive key did. */
  report: UpkeepReport;
}

/** Registers a new organisation from this browser: makes its root key and
 *  this device's keys here, registers both with the enrolment code, keeps
 *  the root in the new keystore, certifies this device with it and makes
 *  the organisation's archive key. Nothing secret leaves the page. */
export async function setupOrganisation(
  api: Api,
  backing: Backing,
  marker: MarkerStore,
  req: SetupRequest,
  pin?: string,
): Promise<SetupDone> {
  const root = OrgRootKey.generate();
  const device = DeviceKeys.generate();
  try {
    const boot = await api.post<BootstrapResponse>("/v1/bootstrap", {
      enrolment_code: req.enrolmentCode.trim(),
      organisation_name: req.organisation.trim(),
      root_public_key: root.public.toString(),
      username: req.username.trim(),
      display_name: req.displayName.trim(),
      password: req.password,
      device: device.toJSON(),
      device_label: req.label,
    });
    const fingerprint = orgFingerprint(root.public);
    if (boot.root_fingerprint !== fingerprint) {
      throw ClientError.verification("the server reports another fingerprint for the new root key; do not use this server");
    }
    const pair = boot.tokens;
    const authed = new Api({ token: () => Promise.resolve(pair.access_token), renew: () => Promise.resolve(null) });
    const me = await authed.get<AccountInfo>("/v1/me");
    if (me.root_public_key !== root.public.toString()) {
      throw ClientError.verification("the server pinned another root key for the new organisation");
    }
    const seed = root.toKeystoreBytes();
    await moveRefreshToCookie(api, pair.refresh_token);
    const secrets = {
      ...newSecrets(pair, me, device, true),
      username: req.username.trim(),
      rootSeed: b64Encode(seed),
      ...COOKIE_SESSION,
    };
    seed.fill(0);
    const keystore = await Keystore.create(backing, marker, secrets, pin);
    const ctx = contextOf(new Api().withTokens(new Tokens(keystore)), keystore);
    // The admin's own device, and only it, is certified by the new root.
    await certifyDevices(ctx, ctx.accountId, [deviceFingerprint(device.public.identity)]);
    const report = await makeArchiveKey(ctx);
    return { keystore, fingerprint, report };
  } finally {
    root.wipe();
    device.wipe();
  }
}

/** Whether this browser holds the organisation root (the admin who set the
 *  organisation up here). */
export function holdsRoot(ctx: Context): boolean {
  return ctx.keystore.secrets.rootSeed !== undefined;
}

/** The organisation root from this keystore, checked against the pinned
 *  one; the caller wipes it. */
function rootKey(ctx: Context): OrgRootKey {
  const seed = ctx.keystore.secrets.rootSeed;
  if (seed === undefined) {
    throw ClientError.refused(
      "this browser does not hold the organisation root key: certify and revoke devices in the browser (or `samtale` profile) that set the organisation up",
    );
  }
  const bytes = b64Decode(seed);
  const root = OrgRootKey.fromSeed(bytes);
  bytes.fill(0);
  if (!root.public.equals(ctx.root)) {
    root.wipe();
    throw ClientError.verification("the root key in this browser is not the organisation's");
  }
  return root;
}

/** Runs `work` with the root, wiping it afterwards. */
async function withRoot<T>(ctx: Context, work: (root: OrgRootKey) => Promise<T>): Promise<T> {
  const root = rootKey(ctx);
  try {
    return await work(root);
  } finally {
    root.wipe();
  }
}

/** Makes the organisation's archive key if it has none (it needs this
 *  device certified) and grants it to the entitled devices. */
export async function makeArchiveKey(ctx: Context): Promise<UpkeepReport> {
  const report = emptyReport();
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  try {
    await maintainHolder(ctx, dir, pins, { kind: "archive" }, false, report);
  } finally {
    await savePins(ctx, before, pins);
  }
  return report;
}

// ------------------------------------------------------------------ teams

export function createTeam(ctx: Context, name: string): Promise<TeamInfo> {
  return post<TeamInfo>(ctx, "/v1/teams", { name: name.trim() });
}

export function setRetention(ctx: Context, team: TeamId, policy: RetentionPolicy): Promise<RetentionPolicy> {
  return put<RetentionPolicy>(ctx, `/v1/teams/${team}/retention`, policy);
}

/** Adds a staff member to a team or removes them: the next record of the
 *  team's verified member list, signed by the root when this browser holds
 *  it, else by this (certified admin's) device. */
export async function changeTeam(ctx: Context, team: TeamId, account: AccountId, operation: Operation): Promise<void> {
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  let log: MembershipState | undefined;
  try {
    await loadTeam(ctx, dir, pins, team);
    log = dir.teamLog(team);
  } finally {
    await savePins(ctx, before, pins);
  }
  if (log === undefined) throw refuse("the team's member list could not be read");
  const member: Member = { kind: "staff", id: account };
  if (operation === "add" && log.contains(member)) return;
  if (operation === "remove" && !log.contains(member)) {
    throw ClientError.refused("they are not in the team's signed member list");
  }
  const sign = (signer: OrgRootKey | DeviceKeys): Promise<unknown> =>
    post(ctx, `/v1/teams/${team}/member-log`, {
      record: b64Encode(log.nextRecord(signer, operation, member, ctx.now()).bytes),
    });
  if (holdsRoot(ctx)) await withRoot(ctx, sign);
  else await sign(ctx.device);
}

// ------------------------------------------------------------------ staff

export function listStaff(ctx: Context): Promise<StaffInfo[]> {
  return get<StaffInfo[]>(ctx, "/v1/staff");
}

export interface NewStaff {
  username: string;
  displayName: string;
  password: string;
  roles: Role[];
  teams: TeamId[];
}

/** Creates a staff account and signs it into its teams. */
export async function createStaff(ctx: Context, req: NewStaff): Promise<StaffInfo> {
  const info = await post<StaffInfo>(ctx, "/v1/staff", {
    username: req.username.trim(),
    display_name: req.displayName.trim(),
    password: req.password,
    roles: req.roles,
  });
  for (const team of req.teams) await changeTeam(ctx, team, info.account_id, "add");
  return info;
}

export function disableStaff(ctx: Context, account: AccountId): Promise<void> {
  return post<void>(ctx, `/v1/staff/${account}/disable`, {});
}

export function enableStaff(ctx: Context, account: AccountId): Promise<void> {
  return post<void>(ctx, `/v1/staff/${account}/enable`, {});
}

/** A one-time temporary password for a colleague (shown once). */
export function resetPassword(ctx: Context, account: AccountId): Promise<TemporaryPassword> {
  return post<TemporaryPassword>(ctx, `/v1/staff/${account}/password`, {});
}

// ---------------------------------------------------------------- devices

/** A staff device as the admin's screen shows it. */
export interface StaffDevice {
  info: DeviceInfo;
  fingerprint: string;
  /** Certified and in the member's signed device list. */
  certified: boolean;
  revoked: boolean;
}

/** A staff member's devices, each with its fingerprint and whether it is
 *  certified and named in their verified signed device list. */
export async function staffDevices(ctx: Context, account: AccountId): Promise<StaffDevice[]> {
  const devices = await get<DeviceInfo[]>(ctx, `/v1/staff/${account}/devices`);
  const list = await staffList(ctx, account);
  return devices.map((info) => {
    const keys = parseDeviceKeys(info.keys);
    const listed = keys !== null && list.contains({ kind: "device", device: keys });
    return {
      info,
      fingerprint: keys === null ? "?" : deviceFingerprint(keys.identity),
      certified: info.certified === true && listed,
      revoked: info.revoked_at !== undefined,
    };
  });
}

/** A staff account's verified device list. */
async function staffList(ctx: Context, account: AccountId): Promise<MembershipState> {
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  try {
    await loadStaff(ctx, dir, pins, account);
  } finally {
    await savePins(ctx, before, pins);
  }
  const log = dir.staffLog(account);
  if (log === undefined) throw refuse("a staff member's device list could not be read");
  return log;
}

/** Certifies the member's waiting devices whose fingerprints are given —
 *  each read off the device's own screen — with the root in this browser,
 *  and signs each into the member's device list. A fingerprint that names
 *  no waiting device refuses the whole call before anything is signed. */
export async function certifyDevices(ctx: Context, account: AccountId, fingerprints: readonly string[]): Promise<StaffDevice[]> {
  if (fingerprints.length === 0 || fingerprints.some((f) => f.trim() === "")) {
    throw ClientError.refused("type the fingerprint the device shows on its own screen");
  }
  return withRoot(ctx, async (root) => {
    const staff = (await listStaff(ctx)).find((s) => s.account_id === account);
    if (staff === undefined) throw ClientError.refused("no such staff member in this organisation");
    if (staff.disabled) throw ClientError.refused(`${staff.username} is disabled; enable the account first`);
    const waiting = (await staffDevices(ctx, account)).filter((d) => !d.revoked && !d.certified);
    const chosen: StaffDevice[] = [];
    for (const typed of fingerprints) {
      const found = waiting.find((w) => fingerprintsMatch(typed, w.fingerprint));
      if (found === undefined) throw new NoWaitingDevice(staff.username, typed.trim(), waiting.length);
      if (!chosen.includes(found)) chosen.push(found);
    }
    const teamNames = new Map((await orgTeams(ctx)).map((t) => [t.team_id, t.name]));
    const teams: CertifiedTeam[] = staff.teams.flatMap((id) => {
      const name = teamNames.get(id);
      return name === undefined ? [] : [{ id, name }];
    });
    for (const d of chosen) {
      const keys = parseDeviceKeys(d.info.keys);
      if (keys === null) throw refuse("a device's keys from the server are malformed");
      const now = ctx.now();
      if (d.info.certified !== true) {
        const cert = DeviceCertificate.issue(root, {
          orgId: ctx.orgId,
          orgName: ctx.keystore.secrets.orgName,
          device: keys,
          staffId: account,
          staffName: staff.display_name,
          roles: staff.roles.reduce((acc, r) => acc | ROLE_BITS[r], 0),
          teams,
          notBefore: now - 300n,
          notAfter: now + BigInt(CERTIFICATE_DAYS * 86_400),
        });
        await put<void>(ctx, `/v1/devices/${d.info.device_id}/certificate`, { certificate: b64Encode(cert.bytes) });
      }
      const list = await staffList(ctx, account);
      if (!list.contains({ kind: "device", device: keys })) {
        const record = list.nextRecord(root, "add", { kind: "device", device: keys }, now);
        await post(ctx, `/v1/accounts/${account}/device-log`, { record: b64Encode(record.bytes) });
      }
    }
    const after = await staffDevices(ctx, account);
    return after.filter((d) => chosen.some((c) => c.info.device_id === d.info.device_id));
  });
}

/** A typed fingerprint names none of the member's waiting devices: nothing
 *  was certified. */
export class NoWaitingDevice extends Error {
  constructor(
    readonly username: string,
    readonly typed: string,
    readonly waiting: number,
  ) {
    super(
      waiting === 0
        ? `${username} has no device waiting for certification; they sign in first`
        : `no device of ${username} waiting for certification has the fingerprint ${typed}. Certify only a device whose fingerprint you have read on its own screen: a device you cannot account for may be someone else's login with their password`,
    );
    this.name = "NoWaitingDevice";
  }
}

const ROLE_BITS: Record<Role, number> = { staff: Roles.staff, record_clerk: Roles.recordClerk, admin: Roles.admin };

/** Revokes a staff device: a removal from their signed device list signed
 *  by the root (the server revokes it at once and closes its sockets), or,
 *  for a device the list does not name, a revocation on the server. */
export async function revokeDevice(ctx: Context, account: AccountId, device: StaffDevice): Promise<void> {
  const keys = parseDeviceKeys(device.info.keys);
  const list = await staffList(ctx, account);
  if (keys !== null && list.contains({ kind: "device", device: keys })) {
    await withRoot(ctx, async (root) => {
      const record = list.nextRecord(root, "remove", { kind: "device", device: keys }, ctx.now());
      await post(ctx, `/v1/accounts/${account}/device-log`, { record: b64Encode(record.bytes) });
    });
  } else {
    await del<void>(ctx, `/v1/staff/${account}/devices/${device.info.device_id}`);
  }
}

// ------------------------------------------------------- holds and audit

export function setHold(ctx: Context, thread: ThreadId, on: boolean): Promise<void> {
  return on ? put<void>(ctx, `/v1/threads/${thread}/hold`, undefined) : del<void>(ctx, `/v1/threads/${thread}/hold`);
}

export function auditStatus(ctx: Context): Promise<AuditStatus> {
  return get<AuditStatus>(ctx, "/v1/audit/status");
}
