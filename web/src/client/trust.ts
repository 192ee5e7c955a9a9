// The one home for trust in the browser client (docs/SECURITY.md,
// PROTOCOL.md §5, §7, §8), mirroring client-cli/src/client/trust.rs
// function for function. Every path that seals a message, grants a key,
// keeps a granted key or shows a sender as verified goes through here:
//
// > A client seals a content key to a holder epoch, or grants a holder key
// > to a device, only when a chain of signatures it has verified itself
// > leads from the organisation root (pinned from the letter) or from a
// > device the person approved, to that key or device. The server's lists
// > say what to fetch; they are never authority. A client's own keys come
// > from its keystore.
//
// The server serves signed logs and holder key records; the protocol
// layer's Directory replays and checks them. What was verified is pinned
// in the keystore (Pins), so a log the server later rewrites or rolls
// back, or a holder epoch it hides, is refused, and a citizen's device list
// that was reset is flagged until someone compares safety numbers.

import {
  b64Decode,
  bytesEqual,
  decodeHolderKeyEntries,
  decodeLogRecords,
  DeviceCertificate,
  Directory,
  HolderKeyRecord,
  hasRole,
  idToBytes,
  MembershipState,
  ProtocolError,
  Roles,
  sameDeviceKeys,
  toHex,
  type VerifiedHolder,
  type AccountId,
  type DeviceKeys,
  type HolderId,
  type HolderKind,
  type HolderOwner,
  type HolderPublicKey,
  type IdentityKey,
  type MembershipRecord,
  type Served,
  type TeamId,
  type ThreadId,
} from "../protocol";
import type { HolderKeySet, SignedLog, ThreadDetail, ThreadDevice, ThreadKeys } from "../protocol/rest";
import { ClientError, get, updateSecrets, utcDate, type Context } from "./context";

/** What to do when the server's data does not verify. */
const TELL = "Nothing was sent or granted. Tell your organisation: the server may have been tampered with";

/** How far a log was seen. */
export interface LogPin {
  /** Records seen. */
  len: number;
  /** The hash of the last one (hex). */
  head: string;
  /** Records the person confirmed by comparing safety numbers: a reset at
   *  or after this position is flagged. */
  confirmed: number;
}

/** The newest epoch of a holder seen. */
export interface HolderPin {
  epoch: number;
  /** Its public key (hex). */
  key: string;
}

/** What this device has verified before, kept in the keystore (so it is as
 *  tamper-proof as the keys): how far each log was seen (`team:<id>`,
 *  `devices:<id>`), the newest epoch of each holder, and the organisation's
 *  archive holder. */
export interface Pins {
  logs: Record<string, LogPin>;
  holders: Record<string, HolderPin>;
  archive: HolderId | null;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Reads the pins kept in the keystore (`{}` before anything was pinned). */
export function readPins(raw: Readonly<Record<string, unknown>>): Pins {
  const pins: Pins = { logs: {}, holders: {}, archive: null };
  const damaged = (): ClientError => ClientError.verification("the pins in this device's keystore are damaged");
  const logs = raw.logs ?? {};
  const holders = raw.holders ?? {};
  if (!isRecord(logs) || !isRecord(holders)) throw damaged();
  for (const [k, v] of Object.entries(logs)) {
    if (!isRecord(v) || typeof v.len !== "number" || typeof v.head !== "string") throw damaged();
    pins.logs[k] = { len: v.len, head: v.head, confirmed: typeof v.confirmed === "number" ? v.confirmed : 0 };
  }
  for (const [k, v] of Object.entries(holders)) {
    if (!isRecord(v) || typeof v.epoch !== "number" || typeof v.key !== "string") throw damaged();
    pins.holders[k] = { epoch: v.epoch, key: v.key };
  }
  if (typeof raw.archive === "string") pins.archive = raw.archive as HolderId;
  else if (raw.archive !== undefined && raw.archive !== null) throw damaged();
  return pins;
}

/** The keystore's pins now (a copy the caller may change). */
export function currentPins(ctx: Context): Pins {
  return readPins(ctx.keystore.secrets.pins);
}

function clonePins(p: Pins): Pins {
  return structuredClone(p);
}

/** A working copy of the pins: `before` to compare with on saving. */
export function pinsForWork(ctx: Context): { before: Pins; pins: Pins } {
  const before = currentPins(ctx);
  return { before, pins: clonePins(before) };
}

/** Saves changed pins: only the entries this call touched, merged into what
 *  the keystore holds now (another tab's pins are kept). */
export async function savePins(ctx: Context, before: Pins, after: Pins): Promise<void> {
  const changedLogs = Object.entries(after.logs).filter(([k, v]) => JSON.stringify(before.logs[k]) !== JSON.stringify(v));
  const changedHolders = Object.entries(after.holders).filter(
    ([k, v]) => JSON.stringify(before.holders[k]) !== JSON.stringify(v),
  );
  if (changedLogs.length === 0 && changedHolders.length === 0 && before.archive === after.archive) return;
  await updateSecrets(ctx, (s) => {
    const p = readPins(s.pins);
    for (const [k, v] of changedLogs) p.logs[k] = v;
    for (const [k, v] of changedHolders) {
      const known = p.holders[k];
      if (known === undefined || known.epoch <= v.epoch) p.holders[k] = v;
    }
    if (p.archive === null) p.archive = after.archive;
    s.pins = { logs: p.logs, holders: p.holders, archive: p.archive };
  });
}

/** A citizen's device list changed in a way people must be told about. */
export interface DeviceNews {
  account: AccountId;
  /** The list was reset at this time (Unix seconds) and nobody has
   *  compared safety numbers since. */
  resetAt: bigint | null;
  /** Devices added since this device last looked. */
  added: number;
  /** Devices removed since this device last looked. */
  removed: number;
  /** The server no longer knows the account (erased): nothing is sealed to it. */
  gone: boolean;
}

/** A thread whose participant list verified. */
export class VerifiedThread {
  constructor(
    readonly thread: ThreadId,
    /** Its team (from the list's first record). */
    readonly team: TeamId,
    /** The replayed participant list. */
    readonly log: MembershipState,
    /** The citizens taking part now. */
    readonly citizens: readonly AccountId[],
    /** The archive holder every message is also sealed to. */
    readonly archive: HolderId,
    /** Citizens' device lists that changed (resets flagged until confirmed). */
    readonly news: readonly DeviceNews[],
  ) {}

  /** Whether `account` was a citizen of the thread at `at`. */
  citizenAt(account: AccountId, at: bigint): boolean {
    return this.log.containedAt({ kind: "citizen", id: account }, at);
  }

  /** The citizens whose device lists were reset and not confirmed. */
  unconfirmedResets(): DeviceNews[] {
    return this.news.filter((n) => n.resetAt !== null);
  }

  /** Whether the server no longer knows `account` (erased). */
  gone(account: AccountId): boolean {
    return this.news.some((n) => n.account === account && n.gone);
  }
}

/** Where this device stands in its own account's signed device list. */
export type OwnListing =
  | { kind: "listed" }
  /** The list is empty: this (first) device adds itself. */
  | { kind: "empty" }
  /** Not in the list yet: another device of the account must approve it. */
  | { kind: "pending" }
  /** Removed, or replaced by a reset, at this time (as the record claims). */
  | { kind: "removed"; at: bigint };

/** A verified sender. */
export type CheckedSender =
  | { kind: "staff"; account: AccountId; name: string; team: string | null }
  | { kind: "citizen"; account: AccountId };

/** A verification failure, in words that say what failed and what to do. */
export function refuse(what: string): ClientError {
  return ClientError.verification(`${what}. ${TELL}`);
}

/** Runs a protocol-layer check; its refusal becomes `refuse(prefix: why)`. */
function checked<T>(prefix: string | null, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof ProtocolError || e instanceof RangeError) {
      throw refuse(prefix === null ? e.message : `${prefix}${e.message}`);
    }
    throw e;
  }
}

/** An empty directory for this keystore's organisation, anchored at the
 *  root key pinned at sign-up. */
export function directory(ctx: Context): Directory {
  return new Directory(ctx.root, ctx.orgId);
}

async function fetchLog(ctx: Context, path: string): Promise<Served<MembershipRecord>[]> {
  const log = await get<SignedLog>(ctx, path);
  return checked("a signed list from the server is malformed: ", () => decodeLogRecords(log.records));
}

/** Checks a log against what was pinned (it must extend it) and moves the
 *  pin forward. Returns how many records are new since the pin. */
export function advancePin(pins: Pins, key: string, what: string, records: readonly Served<MembershipRecord>[]): number {
  const len = records.length;
  const last = records.at(-1);
  const head = last === undefined ? "" : toHex(last.record.hash());
  const pin = pins.logs[key];
  let seen = 0;
  if (pin !== undefined) {
    if (pin.len > len) {
      throw refuse(
        `the ${what} is shorter than this device saw before (${len} records now, ${pin.len} then): the server has rolled it back`,
      );
    }
    const at = records[pin.len - 1];
    if (pin.len > 0 && (at === undefined || toHex(at.record.hash()) !== pin.head)) {
      throw refuse(`the ${what} no longer contains record ${pin.len - 1} as this device saw it: the server has rewritten it`);
    }
    seen = pin.len;
  }
  pins.logs[key] = { len, head, confirmed: pin?.confirmed ?? 0 };
  return len - seen;
}

/** Loads, verifies and pins a staff account's device list (signed by the
 *  organisation root). */
export async function loadStaff(ctx: Context, dir: Directory, pins: Pins, account: AccountId): Promise<void> {
  if (dir.staffLog(account) !== undefined) return;
  const records = await fetchLog(ctx, `/v1/accounts/${account}/device-log`);
  checked("a staff member's device list: ", () => dir.addStaffDeviceLog(account, records.map((s) => s.record)));
  advancePin(pins, `devices:${account}`, "staff device list", records);
}

/** Loads the device lists of the staff accounts these certificates name. */
export async function loadStaffFor(
  ctx: Context,
  dir: Directory,
  pins: Pins,
  certificates: Iterable<DeviceCertificate>,
): Promise<void> {
  for (const account of Directory.accountsCertified(certificates)) await loadStaff(ctx, dir, pins, account);
}

function certificatesOf<T>(records: readonly Served<T>[]): DeviceCertificate[] {
  return records.flatMap((r) => (r.certificate === undefined ? [] : [r.certificate]));
}

/** Loads, verifies and pins a team's member list. */
export async function loadTeam(ctx: Context, dir: Directory, pins: Pins, team: TeamId): Promise<void> {
  if (dir.teamLog(team) !== undefined) return;
  const records = await fetchLog(ctx, `/v1/teams/${team}/member-log`);
  await loadStaffFor(ctx, dir, pins, certificatesOf(records));
  checked("the team's member list: ", () => dir.addTeamLog(team, records));
  advancePin(pins, `team:${team}`, "team's member list", records);
}

/** Loads, verifies and pins a citizen's device list; says what changed
 *  since this device last looked. */
export async function loadCitizen(ctx: Context, dir: Directory, pins: Pins, account: AccountId): Promise<DeviceNews> {
  let records: Served<MembershipRecord>[];
  try {
    records = await fetchLog(ctx, `/v1/accounts/${account}/device-log`);
  } catch (e) {
    // Erased (or never there). Nothing will be sealed to it; a server that
    // lies here denies service but learns nothing.
    if (e instanceof ClientError && e.kind === "api" && e.is("not_found")) {
      return { account, resetAt: null, added: 0, removed: 0, gone: true };
    }
    throw e;
  }
  await loadStaffFor(ctx, dir, pins, certificatesOf(records));
  const state = checked("a citizen's device list: ", () => dir.addCitizenDeviceLog(account, records));
  const key = `devices:${account}`;
  const firstLook = pins.logs[key] === undefined;
  const fresh = advancePin(pins, key, "citizen's device list", records);
  const confirmed = pins.logs[key]?.confirmed ?? 0;
  const changes = state.changes;
  const recent = firstLook ? [] : changes.slice(changes.length - fresh);
  const reset = [...changes].reverse().find((c) => c.operation === "reset" && c.seq >= BigInt(confirmed));
  // One's own list: a reset is one's own doing, or an alarm elsewhere.
  const own = account === ctx.accountId;
  return {
    account,
    resetAt: own || reset === undefined ? null : reset.issuedAt,
    added: recent.filter((c) => c.operation === "add").length,
    removed: recent.filter((c) => c.operation !== "add").length,
    gone: false,
  };
}

/** This citizen device's own place in its account's signed device list. */
export async function ownCitizenList(ctx: Context, dir: Directory, pins: Pins): Promise<OwnListing> {
  const me = ctx.accountId;
  await loadCitizen(ctx, dir, pins, me);
  const mine = ctx.device.public;
  const state = dir.citizenLog(me);
  if (state === undefined) return { kind: "empty" };
  if (state.members.some((m) => m.kind === "device" && sameDeviceKeys(m.device, mine))) return { kind: "listed" };
  // Not in the Rust client: the device fingerprint people compare covers
  // the identity key only, so a server could have had this device approved
  // with its own agreement key (grants would be sealed to it). Say so.
  if (state.members.some((m) => m.kind === "device" && m.device.identity.equals(mine.identity))) {
    throw refuse(
      "your signed device list names this device with another key for receiving keys than the one it holds: the server swapped it when the device was approved",
    );
  }
  if (state.members.length === 0 && state.changes.length === 0) return { kind: "empty" };
  const changes = [...state.changes].reverse();
  const dropped = changes.find(
    (c) => c.member.kind === "device" && c.member.device.identity.equals(mine.identity) && c.operation !== "add",
  );
  const reset = changes.find(
    (c) =>
      c.operation === "reset" &&
      state.changes.some((a) => a.seq < c.seq && a.member.kind === "device" && a.member.device.identity.equals(mine.identity)),
  );
  const gone = dropped ?? reset;
  return gone === undefined ? { kind: "pending" } : { kind: "removed", at: gone.issuedAt };
}

/** Replays a thread's participant list and everything it depends on: the
 *  team's member list, the signers' device lists, and each citizen's
 *  device list. */
export async function verifiedThread(ctx: Context, dir: Directory, pins: Pins, detail: ThreadDetail): Promise<VerifiedThread> {
  const thread = detail.summary.thread_id;
  const records = checked("the thread's participant list is malformed: ", () => decodeLogRecords(detail.participants));
  const first = records[0]?.record.member;
  if (first?.kind !== "team") throw refuse("the thread's participant list does not start with its team");
  const team = first.id;
  if (team !== detail.summary.team_id) {
    throw refuse("the server names another team for this thread than its signed participant list");
  }
  await loadTeam(ctx, dir, pins, team);
  await loadStaffFor(ctx, dir, pins, certificatesOf(records));
  const log = checked("this thread's participant list: ", () => dir.verifyParticipants(thread, records));
  const citizens = log.members.flatMap((m) => (m.kind === "citizen" ? [m.id] : []));
  const archive = log.members.find((m) => m.kind === "holder");
  if (archive?.kind !== "holder") throw refuse("this thread's participant list names no archive holder");
  // Citizens who ever took part (their earlier messages are checked).
  const ever = [...new Set(log.changes.flatMap((c) => (c.member.kind === "citizen" ? [c.member.id] : [])))].sort();
  const news: DeviceNews[] = [];
  for (const account of ever) {
    const n = await loadCitizen(ctx, dir, pins, account);
    if (n.resetAt !== null || n.added > 0 || n.removed > 0 || n.gone) news.push(n);
  }
  return new VerifiedThread(thread, team, log, citizens, archive.id, news);
}

function describeOwner(owner: HolderOwner): string {
  switch (owner.kind) {
    case "team":
      return "the team's key";
    case "citizen":
      return "a citizen's key";
    case "archive":
      return "the organisation's archive key";
  }
}

/** Verifies a holder's published epochs as belonging to `owner`, with the
 *  pins: no epoch the server hid, and the archive holder the one this
 *  device knows. */
export function verifiedHolder(
  ctx: Context,
  dir: Directory,
  pins: Pins,
  owner: HolderOwner,
  set: HolderKeySet,
): VerifiedHolder {
  const what = describeOwner(owner);
  const records = checked(`${what}: `, () => decodeHolderKeyEntries(set.records));
  const verified = checked(null, () => dir.verifyHolder(owner, records, ctx.now()));
  if (owner.kind === "archive") {
    if (pins.archive !== null && pins.archive !== verified.holder) {
      throw refuse(`the organisation's archive key is now ${verified.holder}, not ${pins.archive} as before`);
    }
    pins.archive = verified.holder;
  }
  const current = verified.current.key;
  const key = toHex(current.key.bytes);
  const pin = pins.holders[verified.holder];
  if (pin !== undefined) {
    if (current.epoch < pin.epoch) {
      throw refuse(
        `${what} is served at epoch ${current.epoch}, but this device has seen epoch ${pin.epoch}: the server hides the newer key`,
      );
    }
    if (current.epoch === pin.epoch && key !== pin.key) {
      throw refuse(`${what} at epoch ${pin.epoch} is not the key this device saw before`);
    }
  }
  pins.holders[verified.holder] = { epoch: current.epoch, key };
  return verified;
}

function epochs(list: readonly { holder: string; epoch: number }[]): string {
  return list.map((e) => `${e.holder.slice(0, 8)}#${e.epoch}`).join(", ");
}

function epochKeys(list: readonly { holder: string; epoch: number }[]): string[] {
  return list.map((e) => `${e.holder}#${e.epoch}`).sort();
}

/** The public keys a message to this thread is sealed to, each one
 *  verified: the team's key, each citizen's key, the archive key — as the
 *  signed participant list names them, never as the server lists them.
 *  Refuses when a citizen's devices were reset and nobody has compared
 *  safety numbers, and when the server expects other keys. */
export async function sealTargets(
  ctx: Context,
  dir: Directory,
  pins: Pins,
  vt: VerifiedThread,
  detail: ThreadDetail,
  names: ReadonlyMap<AccountId, string>,
): Promise<HolderPublicKey[]> {
  const reset = vt.unconfirmedResets().find((n) => n.account !== ctx.accountId);
  if (reset !== undefined) {
    const name = names.get(reset.account) ?? "a participant";
    throw ClientError.verification(
      `${name}'s devices were reset on ${utcDate(reset.resetAt ?? 0n)}: a new device replaced all earlier ones, and only that device could read what you send. Compare safety numbers with ${name} by phone or in person (the thread's safety numbers), then confirm there. Nothing was sent`,
    );
  }
  const keys = await get<ThreadKeys>(ctx, `/v1/threads/${vt.thread}/keys`);
  const find = (kind: HolderKind, owner: Uint8Array): HolderKeySet | undefined =>
    keys.holders.find((h) => {
      if (h.kind !== kind || h.records[0] === undefined) return false;
      try {
        return bytesEqual(HolderKeyRecord.decodeAndVerify(b64Decode(h.records[0].record)).owner, owner);
      } catch {
        return false;
      }
    });
  const out: HolderPublicKey[] = [];
  const teamSet = find("team", idToBytes(vt.team));
  if (teamSet === undefined) {
    throw ClientError.refused("the team has no key yet: a certified member of the team must open Samtale first");
  }
  out.push(verifiedHolder(ctx, dir, pins, { kind: "team", team: vt.team }, teamSet).current.key);
  // A citizen who withdrew consent is not sealed to any more. The server's
  // word can only take a recipient away here, never add one.
  const withdrawn = (c: AccountId): boolean =>
    detail.citizens.some((d) => d.account_id === c && d.consent === "withdrawn");
  for (const citizen of vt.citizens.filter((c) => !vt.gone(c) && !withdrawn(c))) {
    const name = names.get(citizen) ?? "a citizen of this thread";
    const set = find("citizen", idToBytes(citizen));
    if (set === undefined) {
      throw ClientError.refused(
        `${name} has no key yet: it is made when they open Samtale for the first time after joining. Try again after that`,
      );
    }
    out.push(verifiedHolder(ctx, dir, pins, { kind: "citizen", account: citizen }, set).current.key);
  }
  const archiveSet = keys.holders.find((h) => h.holder_id === vt.archive);
  if (archiveSet === undefined) {
    throw refuse("the server does not serve the archive key this thread's participant list names");
  }
  await loadArchiveSigners(ctx, dir, pins, archiveSet);
  const archive = verifiedHolder(ctx, dir, pins, { kind: "archive" }, archiveSet);
  if (archive.holder !== vt.archive) throw refuse("the archive key is not the one the thread's participant list names");
  out.push(archive.current.key);
  const mine = epochKeys(out);
  const theirs = epochKeys(detail.recipients);
  if (mine.length !== theirs.length || mine.some((m, i) => m !== theirs[i])) {
    throw refuse(
      `the server expects this message to be sealed to other keys (${epochs(detail.recipients)}) than the thread's signed participant list gives (${epochs(out)})`,
    );
  }
  return out;
}

/** Checks who signed a message: a staff device certified by the root, in
 *  its account's device list and its account in the thread's team when it
 *  sent; or a device in the signed list of a citizen who took part when it
 *  sent. Returns why not, as a string, otherwise. */
export function checkSender(
  dir: Directory,
  vt: VerifiedThread,
  signer: IdentityKey,
  at: bigint,
  devices: readonly ThreadDevice[],
): CheckedSender | string {
  const hint = devices.find((d) => d.keys.identity === signer.toString());
  let cert: DeviceCertificate | undefined;
  if (hint?.certificate !== undefined && hint.certificate !== null) {
    try {
      cert = DeviceCertificate.decode(b64Decode(hint.certificate));
    } catch {
      return "the sender's certificate is malformed";
    }
  }
  if (cert !== undefined) {
    const body = dir.certifiedAt(signer, cert, at);
    if (typeof body === "string") return `sender not verified: ${body}`;
    if (!hasRole(body.roles, Roles.staff)) return "sent from a staff device not certified for the staff role";
    if (!dir.teamMemberAt(vt.team, body.staffId, at)) {
      return "sent by a staff member who was not in this thread's team at that time";
    }
    return {
      kind: "staff",
      account: body.staffId,
      name: body.staffName,
      team: body.teams.find((t) => t.id === vt.team)?.name ?? null,
    };
  }
  // A citizen's device: whose list names it then, among the thread's citizens then?
  const citizen = vt.log.changes
    .flatMap((c) => (c.member.kind === "citizen" ? [c.member.id] : []))
    .find((a) => dir.citizenDeviceAt(a, signer, at));
  if (citizen === undefined) {
    return "sent from a device that is in no participant's signed device list (the server may have added it)";
  }
  if (!vt.citizenAt(citizen, at)) return "sent by a citizen who was not in this thread at that time";
  return { kind: "citizen", account: citizen };
}

/** The archive key's signers are record clerks' or admins' devices: load
 *  their device lists. */
async function loadArchiveSigners(ctx: Context, dir: Directory, pins: Pins, set: HolderKeySet): Promise<void> {
  const certs: DeviceCertificate[] = [];
  for (const r of set.records) {
    if (r.signer_certificate === undefined || r.signer_certificate === null) continue;
    try {
      certs.push(DeviceCertificate.decode(b64Decode(r.signer_certificate)));
    } catch {
      // A malformed certificate vouches for nothing; verifyHolder says so.
    }
  }
  await loadStaffFor(ctx, dir, pins, certs);
}

/** Loads what verifying a holder's records needs: the device lists of staff
 *  signers, the team's member list, a citizen's device list. */
export async function loadHolderContext(
  ctx: Context,
  dir: Directory,
  pins: Pins,
  owner: HolderOwner,
  set: HolderKeySet,
): Promise<void> {
  await loadArchiveSigners(ctx, dir, pins, set);
  switch (owner.kind) {
    case "team":
      return loadTeam(ctx, dir, pins, owner.team);
    case "citizen":
      await loadCitizen(ctx, dir, pins, owner.account);
      return;
    case "archive":
      return;
  }
}

/** The device log record a citizen's first device signs for itself. */
export function firstDeviceRecord(account: AccountId, device: DeviceKeys, now: bigint): MembershipRecord {
  return new MembershipState("device_list", idToBytes(account)).nextRecord(
    device,
    "add",
    { kind: "device", device: device.public },
    now,
  );
}

