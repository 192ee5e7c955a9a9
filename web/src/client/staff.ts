// Staff in the browser: password login as a new device (the counterpart of
// `samtale login`, client-cli/src/client/setup.rs), whether this device is
// certified yet, the teams' inboxes, and the minimisation rules applied to
// what staff write (the thread's citizens are the people it knows).
//
// A new browser is a new device: it makes its keys here, logs in with them,
// and may read but not send until an admin compares its fingerprint and
// certifies it with the organisation root (the CLI behaves the same).

import {
  anySigner,
  b64Decode,
  b64Encode,
  DeviceKeys,
  idToBytes,
  MembershipState,
  Minimiser,
  randomId,
  type AccountId,
  type Member,
  type TeamId,
  type ThreadId,
} from "../protocol";
import type { AccountInfo, CitizenInfo, TeamInfo, ThreadDetail, TokenPair } from "../protocol/rest";
import { Api, ApiError } from "./api";
import { moveRefreshToCookie } from "./tokens";
import { ClientError, get, post, type Context } from "./context";
import { newSecrets } from "./join";
import { type Backing, Keystore, type MarkerStore } from "./keystore";
import { ownCertificate, upkeep, verifiedHolderOf } from "./keys";
import type { ThreadRow } from "./model";
import { directory, pinsForWork, savePins, verifiedThread } from "./trust";

export interface StaffLoginRequest {
  username: string;
  password: string;
  /** A new password of the user's own, when `password` is a temporary one
   *  from an admin (the server answers `password_change_required`). */
  newPassword?: string;
  /** This device's label ("Firefox on Windows"). */
  label: string;
}

/** Logs a staff member in on this browser as a new device and makes its
 *  keystore. The organisation root is the one the server presents now: the
 *  screens show its fingerprint to compare, and every later answer must
 *  present the same one. A failure after the server registered the device
 *  revokes it again, so nothing is left behind. */
export async function staffLogin(
  api: Api,
  backing: Backing,
  marker: MarkerStore,
  req: StaffLoginRequest,
  pin?: string,
): Promise<Keystore> {
  const device = DeviceKeys.generate();
  try {
    const pair = await api.post<TokenPair>("/v1/sessions", {
      username: req.username,
      password: req.password,
      device: device.toJSON(),
      device_label: req.label,
      ...(req.newPassword !== undefined ? { new_password: req.newPassword } : {}),
    });
    const authed = new Api({
      token: () => Promise.resolve(pair.access_token),
      renew: () => Promise.resolve(null),
    });
    try {
      const me = await authed.get<AccountInfo>("/v1/me");
      if (me.kind !== "staff") {
        throw new ApiError("forbidden", "this account is a citizen's: citizens join with the letter's link", 0);
      }
      // The refresh token goes into the HttpOnly cookie; the page keeps none.
      await moveRefreshToCookie(api, pair.refresh_token);
      const secrets = { ...newSecrets(pair, me, device, false), username: req.username, ...COOKIE_SESSION };
      return await Keystore.create(backing, marker, secrets, pin);
    } catch (e) {
      await authed.delete(`/v1/devices/${pair.device_id}`).catch(() => undefined);
      throw e;
    }
  } finally {
    device.wipe();
  }
}

/** Starts a new session for this browser's existing device (its session
 *  ended or ran out): the same keys, so it stays certified and keeps what it
 *  holds — for an admin, the organisation root, which a new device would
 *  lose. The server refuses a revoked device. */
export async function staffRelogin(api: Api, keystore: Keystore, password: string, newPassword?: string): Promise<void> {
  const s = keystore.secrets;
  if (s.kind !== "staff" || s.username === undefined) {
    throw ClientError.refused("this browser's keys are not a staff member's");
  }
  const device = DeviceKeys.fromSeeds(b64Decode(s.identitySeed), b64Decode(s.agreementSecret));
  try {
    const pair = await api.post<TokenPair>("/v1/sessions", {
      username: s.username,
      password,
      device: device.toJSON(),
      device_label: "Samtale",
      ...(newPassword !== undefined ? { new_password: newPassword } : {}),
    });
    if (pair.device_id !== s.deviceId || pair.account_id !== s.accountId) {
      throw ClientError.verification("the server answered for another device or account");
    }
    await moveRefreshToCookie(api, pair.refresh_token);
    await keystore.update((x) => Object.assign(x, COOKIE_SESSION));
  } finally {
    device.wipe();
  }
}

/** What a staff page's keystore holds of its session: no token at all (the
 *  refresh token is in the HttpOnly cookie, the access token in memory). */
export const COOKIE_SESSION = { refreshToken: null, accessToken: null, accessExpires: 0, refreshInCookie: true } as const;

/** Whether this staff device holds a certificate from the organisation
 *  root that verifies now (until then it may read but not send). */
export async function certified(ctx: Context): Promise<boolean> {
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  try {
    return (await ownCertificate(ctx, dir, pins)) !== null;
  } finally {
    await savePins(ctx, before, pins);
  }
}

/** The teams this staff member belongs to (an admin sees every team). */
export function teams(ctx: Context): Promise<TeamInfo[]> {
  return get<TeamInfo[]>(ctx, "/v1/teams");
}

/** Inbox filters. */
export type InboxFilter = "all" | "unread" | "unfiled" | "withdrawn" | "unverified";

export const INBOX_FILTERS: readonly InboxFilter[] = ["all", "unread", "unfiled", "withdrawn", "unverified"];

/** Whether a row passes a filter: unread messages; messages not yet filed on
 *  a case; a citizen who withdrew consent; a citizen not verified with eID. */
export function passes(row: ThreadRow, filter: InboxFilter): boolean {
  switch (filter) {
    case "all":
      return true;
    case "unread":
      return row.unread > 0;
    case "unfiled":
      return row.messages > (row.journaledUpTo ?? 0);
    case "withdrawn":
      return row.participants.some((p) => p.consent === "withdrawn");
    case "unverified":
      return row.participants.some((p) => p.assurance === "unverified");
  }
}

/** One team's inbox: its threads, most recent activity first, filtered. */
export function inbox(rows: readonly ThreadRow[], team: TeamId | null, filter: InboxFilter): ThreadRow[] {
  return rows
    .filter((r) => (team === null || r.teamId === team) && passes(r, filter))
    .sort((a, b) => b.lastActivityMs - a.lastActivityMs);
}

/** The minimisation scanner for a thread: it knows the thread's citizens'
 *  names as written (given names first, the last word the family name; a
 *  single word a first name), as the CLI's `send` and chat do. */
export function minimiserFor(people: readonly { name: string }[]): Minimiser {
  const m = new Minimiser();
  for (const p of people) {
    if (p.name.trim() !== "") m.withName(p.name);
  }
  return m;
}

/** The citizens of a team (who joined with one of its invitations). */
export function citizensOf(ctx: Context, team: TeamId): Promise<CitizenInfo[]> {
  return get<CitizenInfo[]>(ctx, `/v1/teams/${team}/citizens`);
}

/** Opens a thread between `team` and `citizens`, with signed participant
 *  records (the team, the archive, each citizen); the archive holder is the
 *  verified one, never the server's word. The team key is kept first (key
 *  upkeep), so that anyone can write at once. */
export async function createThread(ctx: Context, team: TeamId, citizens: readonly AccountId[]): Promise<ThreadDetail> {
  await upkeep(ctx);
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  let archive;
  try {
    archive = await verifiedHolderOf(ctx, dir, pins, { kind: "archive" });
  } finally {
    await savePins(ctx, before, pins);
  }
  if (archive === null) {
    throw ClientError.refused("the organisation has no archive key yet: an admin makes it first");
  }
  const thread = randomId<ThreadId>();
  const state = new MembershipState("thread_participants", idToBytes(thread));
  const members: Member[] = [
    { kind: "team", id: team },
    { kind: "holder", id: archive.verified.holder },
    ...citizens.map((id): Member => ({ kind: "citizen", id })),
  ];
  const records: { record: string }[] = [];
  for (const member of members) {
    const record = state.nextRecord(ctx.device, "add", member, ctx.now());
    state.apply(record, anySigner);
    records.push({ record: b64Encode(record.bytes) });
  }
  return post<ThreadDetail>(ctx, "/v1/threads", {
    thread_id: thread,
    team_id: team,
    citizens,
    participants: records,
  });
}

/** Adds a citizen of the team to a thread (a foster family, a parent): the
 *  next participant record, signed over the verified log, so that every
 *  client seals to the new citizen only because this device signed it. */
export async function addParticipant(ctx: Context, thread: ThreadId, citizen: AccountId): Promise<ThreadDetail> {
  const detail = await get<ThreadDetail>(ctx, `/v1/threads/${thread}`);
  const dir = directory(ctx);
  const { before, pins } = pinsForWork(ctx);
  let vt;
  try {
    vt = await verifiedThread(ctx, dir, pins, detail);
  } finally {
    await savePins(ctx, before, pins);
  }
  const record = vt.log.nextRecord(ctx.device, "add", { kind: "citizen", id: citizen }, ctx.now());
  return post<ThreadDetail>(ctx, `/v1/threads/${thread}/participants`, {
    citizen,
    record: { record: b64Encode(record.bytes) },
  });
}
