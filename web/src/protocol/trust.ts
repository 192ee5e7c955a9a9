// Who may sign what (PROTOCOL.md §5, §7, §8): the chain from the
// organisation root to a device, the policies of the three membership logs,
// and the rules for holder key records. A Directory is built from logs the
// client fetched from a server it does not trust, verified here in
// dependency order: staff device lists (signed by the root), team member
// lists (the root or an admin's device), citizen device lists, then a
// thread's participants and its holders' keys. Nothing is believed because
// the server listed it.
//
// Mirrors `protocol/src/trust.rs` method for method and message for
// message, so the two can be read side by side.

import { hasRole, Roles, type CertificateBody, type DeviceCertificate } from "./cert";
import { CertificateError, ProtocolError } from "./errors";
import { idFromBytes, idToBytes, type AccountId, type HolderId, type OrgId, type TeamId, type ThreadId } from "./ids";
import type { DevicePublicKeys, HolderKind, HolderPublicKey, IdentityKey, OrgRootPublicKey } from "./keys";
import type { HolderKeyRecord } from "./holderKey";
import {
  describeLog,
  MembershipError,
  MembershipState,
  type LogKind,
  type Member,
  type MembershipRecord,
  type Policy,
} from "./membership";

/** How far a signed time may lie in the verifier's future (seconds). */
export const CLOCK_LEEWAY_SECS = 600n;
/** A holder epoch older than this is due for rotation (30 days). */
export const EPOCH_MAX_AGE_SECS = 30n * 86_400n;

export type TrustErrorCode = "log" | "missing" | "holder_key" | "no_epochs";

/** Why data from the server does not verify. */
export class TrustError extends ProtocolError<TrustErrorCode> {
  override readonly name = "TrustError";

  private constructor(
    code: TrustErrorCode,
    message: string,
    /** For `log`: the failing record's error; for `holder_key`: the epoch. */
    readonly detail: { log?: MembershipError; epoch?: number },
  ) {
    super(code, message, detail.log === undefined ? undefined : { cause: detail.log });
  }

  static log(log: LogKind, subject: Uint8Array, error: MembershipError): TrustError {
    const who = idFromBytes(subject);
    return new TrustError("log", `the ${describeLog(log)} of ${who} does not verify: ${error.message}`, { log: error });
  }
  static holderKey(kind: HolderKind, holder: HolderId, epoch: number, why: string): TrustError {
    return new TrustError("holder_key", `the ${kind} key ${holder}, epoch ${epoch}: ${why}`, { epoch });
  }
  static noEpochs(kind: HolderKind): TrustError {
    return new TrustError("no_epochs", `the ${kind} key has no published epoch`, {});
  }
}

/** A signed object as a server serves it: with its signer's certificate
 *  when a staff device signed it. */
export interface Served<T> {
  readonly record: T;
  readonly certificate: DeviceCertificate | undefined;
}

/** What a holder belongs to, taken from a signed log, never from the server. */
export type HolderOwner =
  | { readonly kind: "team"; readonly team: TeamId }
  | { readonly kind: "citizen"; readonly account: AccountId }
  | { readonly kind: "archive" };

/** One verified holder epoch. */
export interface VerifiedEpoch {
  readonly key: HolderPublicKey;
  /** As its signer claims; checked for sense. */
  readonly createdAt: bigint;
  readonly signer: IdentityKey;
}

/** A holder whose every published epoch verified. */
export class VerifiedHolder {
  /** @internal Only `Directory.verifyHolder` makes one (never without epochs). */
  constructor(
    readonly holder: HolderId,
    readonly kind: HolderKind,
    readonly epochs: readonly [VerifiedEpoch, ...VerifiedEpoch[]],
  ) {}

  /** The newest epoch: what messages are sealed to. */
  get current(): VerifiedEpoch {
    return this.epochs[this.epochs.length - 1] ?? this.epochs[0];
  }

  /** The verified public key of `epoch`. */
  epoch(epoch: number): VerifiedEpoch | undefined {
    return this.epochs[epoch];
  }

  /** Whether the newest epoch is older than EPOCH_MAX_AGE_SECS or older
   *  than `changedAt` (a member left or a device was removed since). */
  isDue(now: bigint, changedAt?: bigint): boolean {
    const made = this.current.createdAt;
    return now >= made + EPOCH_MAX_AGE_SECS || (changedAt !== undefined && changedAt > made);
  }
}

type Certs = ReadonlyMap<bigint, DeviceCertificate | undefined>;

function deviceMember(record: MembershipRecord): DevicePublicKeys | string {
  return record.member.kind === "device" ? record.member.device : "a device list names devices only";
}

function holdsDevice(state: MembershipState, signer: IdentityKey): boolean {
  return state.members.some((m) => m.kind === "device" && m.device.identity.equals(signer));
}

function devicesOf(state: MembershipState): DevicePublicKeys[] {
  return state.members.flatMap((m) => (m.kind === "device" ? [m.device] : []));
}

function deviceAt(state: MembershipState, identity: IdentityKey, at: bigint): boolean {
  return state.membersAt(at).some((m) => m.kind === "device" && m.device.identity.equals(identity));
}

function certificatesBySeq(records: readonly Served<MembershipRecord>[]): Certs {
  return new Map(records.map((s) => [s.record.seq, s.certificate]));
}

function replayServed(
  log: LogKind,
  subject: Uint8Array,
  records: readonly Served<MembershipRecord>[],
  policy: Policy,
): MembershipState {
  try {
    return MembershipState.replay(log, subject, records.map((s) => s.record), policy);
  } catch (e) {
    if (e instanceof MembershipError) throw TrustError.log(log, subject, e);
    throw e;
  }
}

const staff = (id: AccountId): Member => ({ kind: "staff", id });

/** Verified membership, built up from the logs a client fetched. */
export class Directory {
  readonly #staffDevices = new Map<AccountId, MembershipState>();
  readonly #citizenDevices = new Map<AccountId, MembershipState>();
  readonly #teams = new Map<TeamId, MembershipState>();

  /** An empty directory for the organisation whose root key the client
   *  pinned (from the letter, or the admin's own keystore). */
  constructor(
    readonly root: OrgRootPublicKey,
    readonly org: OrgId,
  ) {}

  /** A copy that can be extended without changing this one. */
  clone(): Directory {
    const d = new Directory(this.root, this.org);
    for (const [k, v] of this.#staffDevices) d.#staffDevices.set(k, v);
    for (const [k, v] of this.#citizenDevices) d.#citizenDevices.set(k, v);
    for (const [k, v] of this.#teams) d.#teams.set(k, v);
    return d;
  }

  /** A staff device's certificate, checked at `at`: signed by the root, for
   *  this organisation, for `signer`, valid at `at`, and the device was in
   *  its account's verified device list at `at`. Returns the certified
   *  facts, or (as a string) why not. */
  certifiedAt(signer: IdentityKey, certificate: DeviceCertificate | undefined, at: bigint): CertificateBody | string {
    if (certificate === undefined) return "signed by a device without a certificate from the organisation";
    let body: CertificateBody;
    try {
      body = certificate.verifySigner(this.root, at, signer);
    } catch (e) {
      if (e instanceof CertificateError) {
        return "signed by a device whose certificate from the organisation does not verify at that time";
      }
      throw e;
    }
    if (body.orgId !== this.org) return "signed by a device of another organisation";
    if (!this.staffDeviceAt(body.staffId, signer, at)) {
      return "signed by a device that was not in its owner's signed device list at that time";
    }
    return body;
  }

  /** null when a record is signed by the root, or by a device certified (at
   *  the record's time) with the admin role; otherwise why not. */
  #rootOrAdmin(r: MembershipRecord, certs: Certs): string | null {
    if (this.root.is(r.signer)) return null;
    const body = this.certifiedAt(r.signer, certs.get(r.seq), r.issuedAt);
    if (typeof body === "string") return body;
    return hasRole(body.roles, Roles.admin) ? null : "signed by a device without the admin role";
  }

  /** Whether `identity` was in staff `account`'s device list at `at`. */
  staffDeviceAt(account: AccountId, identity: IdentityKey, at: bigint): boolean {
    const s = this.#staffDevices.get(account);
    return s !== undefined && deviceAt(s, identity, at);
  }

  /** A staff account's current devices, if its list was loaded. */
  staffDevices(account: AccountId): DevicePublicKeys[] | undefined {
    const s = this.#staffDevices.get(account);
    return s === undefined ? undefined : devicesOf(s);
  }

  /** A citizen account's current devices, if its list was loaded. */
  citizenDevices(account: AccountId): DevicePublicKeys[] | undefined {
    const s = this.#citizenDevices.get(account);
    return s === undefined ? undefined : devicesOf(s);
  }

  citizenLog(account: AccountId): MembershipState | undefined {
    return this.#citizenDevices.get(account);
  }

  staffLog(account: AccountId): MembershipState | undefined {
    return this.#staffDevices.get(account);
  }

  teamLog(team: TeamId): MembershipState | undefined {
    return this.#teams.get(team);
  }

  /** Whether `identity` was in citizen `account`'s device list at `at`. */
  citizenDeviceAt(account: AccountId, identity: IdentityKey, at: bigint): boolean {
    const s = this.#citizenDevices.get(account);
    return s !== undefined && deviceAt(s, identity, at);
  }

  /** Whether staff `account` was in `team`'s member list at `at`. */
  teamMemberAt(team: TeamId, account: AccountId, at: bigint): boolean {
    return this.#teams.get(team)?.containedAt(staff(account), at) ?? false;
  }

  /** Whether staff `account` is in `team`'s member list now. */
  teamMemberNow(team: TeamId, account: AccountId): boolean {
    return this.#teams.get(team)?.contains(staff(account)) ?? false;
  }

  /** Verifies and keeps a staff account's device list. Policy: the root
   *  adds and removes devices; a device in the list may also remove one.
   *  No resets. */
  addStaffDeviceLog(account: AccountId, records: readonly MembershipRecord[]): MembershipState {
    const root = this.root;
    const policy: Policy = (state, r) => {
      const device = deviceMember(r);
      if (typeof device === "string") return device;
      const byRoot = root.is(r.signer);
      switch (r.operation) {
        case "add":
          return byRoot ? null : "a staff device is added by the organisation root";
        case "remove":
          return byRoot || holdsDevice(state, r.signer)
            ? null
            : "a staff device is removed by the organisation root or another of the account's devices";
        case "reset":
          return "a staff device list is never reset";
      }
    };
    const subject = idToBytes(account);
    const state = replayServed("device_list", subject, records.map((record) => ({ record, certificate: undefined })), policy);
    this.#staffDevices.set(account, state);
    return state;
  }

  /** Verifies and keeps a citizen account's device list. Policy: the first
   *  device adds itself; later devices are added by a device in the list
   *  (the person approved them there); a device in the list, the root or
   *  an admin's device removes one; a device may reset the list to itself. */
  addCitizenDeviceLog(account: AccountId, records: readonly Served<MembershipRecord>[]): MembershipState {
    const certs = certificatesBySeq(records);
    const policy: Policy = (state, r) => {
      const device = deviceMember(r);
      if (typeof device === "string") return device;
      switch (r.operation) {
        case "add":
          if (state.members.length === 0) {
            return device.identity.equals(r.signer) ? null : "the first device of a citizen's list adds itself";
          }
          return holdsDevice(state, r.signer)
            ? null
            : "a citizen's new device is added by one of their devices, after they approved it there";
        case "remove":
          if (holdsDevice(state, r.signer)) return null;
          return this.#rootOrAdmin(r, certs) === null
            ? null
            : "a citizen's device is removed by one of their devices or an organisation admin";
        case "reset":
          // The device it keeps signed it (checked on apply).
          return null;
      }
    };
    const state = replayServed("device_list", idToBytes(account), records, policy);
    this.#citizenDevices.set(account, state);
    return state;
  }

  /** Verifies and keeps a team's member list. Policy: every change is
   *  signed by the root or by an admin's certified device; members are
   *  staff accounts. */
  addTeamLog(team: TeamId, records: readonly Served<MembershipRecord>[]): MembershipState {
    const certs = certificatesBySeq(records);
    const policy: Policy = (_, r) => {
      if (r.member.kind !== "staff") return "a team's member list names staff accounts only";
      return this.#rootOrAdmin(r, certs) === null
        ? null
        : "a team's members are changed by the organisation root or an admin's device";
    };
    const state = replayServed("team_members", idToBytes(team), records, policy);
    this.#teams.set(team, state);
    return state;
  }

  /** Verifies a thread's participant list. Policy: record 0 adds the owning
   *  team; later records add or remove citizens and add the archive holder
   *  once; every record is signed by a device certified for the staff role
   *  whose account was in the team's member list when it signed. */
  verifyParticipants(thread: ThreadId, records: readonly Served<MembershipRecord>[]): MembershipState {
    const certs = certificatesBySeq(records);
    let team: TeamId | undefined;
    const policy: Policy = (state, r) => {
      const m = r.member;
      if (r.seq === 0n) {
        if (m.kind !== "team" || r.operation !== "add") return "a thread's participant list starts by adding its team";
        team = m.id;
      } else if (m.kind === "team") {
        return "a thread has one team, added first";
      } else if (m.kind === "citizen" && (r.operation === "add" || r.operation === "remove")) {
        // allowed
      } else if (m.kind === "holder" && r.operation === "add") {
        if (state.members.some((x) => x.kind === "holder")) return "a thread has one archive holder";
      } else if (m.kind === "holder") {
        return "the archive holder is never removed";
      } else {
        return "a thread's participants are its team, citizens and archive holder";
      }
      if (team === undefined) return "a thread's participant list starts by adding its team";
      const body = this.certifiedAt(r.signer, certs.get(r.seq), r.issuedAt);
      if (typeof body === "string") return body;
      if (!hasRole(body.roles, Roles.staff)) return "signed by a device not certified for the staff role";
      if (!this.teamMemberAt(team, body.staffId, r.issuedAt)) {
        return "signed by a staff member who was not in the thread's team at that time";
      }
      return null;
    };
    return replayServed("thread_participants", idToBytes(thread), records, policy);
  }

  /** Verifies every published epoch of a holder that should belong to
   *  `owner` (§8): epochs in order from 0 of one holder id, the expected
   *  kind and owner, not dated in the future (beyond the leeway) nor
   *  before the previous epoch, each signed by whoever may publish that
   *  holder's keys when it was made. */
  verifyHolder(owner: HolderOwner, records: readonly Served<HolderKeyRecord>[], now: bigint): VerifiedHolder {
    const kind: HolderKind = owner.kind;
    const first = records[0];
    if (first === undefined) throw TrustError.noEpochs(kind);
    const holder = first.record.key.holder;
    const ownerBytes =
      owner.kind === "team" ? idToBytes(owner.team) : owner.kind === "citizen" ? idToBytes(owner.account) : idToBytes(this.org);
    const epochs: VerifiedEpoch[] = [];
    records.forEach((served, i) => {
      const r = served.record;
      const key = r.key;
      const fail = (why: string): TrustError => TrustError.holderKey(kind, holder, key.epoch, why);
      if (key.holder !== holder || key.epoch !== i) throw fail("the epochs are not those of one holder, in order from 0");
      if (key.kind !== kind) throw fail("it is published as another kind of key");
      if (!sameBytes(r.owner, ownerBytes)) throw fail("it belongs to another owner");
      if (r.createdAt > now + CLOCK_LEEWAY_SECS) throw fail("it is dated in the future");
      const previous = epochs.at(-1);
      if (previous !== undefined && r.createdAt < previous.createdAt) throw fail("it is dated before the epoch it follows");
      const at = r.createdAt;
      if (owner.kind === "team") {
        const body = this.certifiedAt(r.signer, served.certificate, at);
        if (typeof body === "string") throw fail(body);
        if (!hasRole(body.roles, Roles.staff)) throw fail("signed by a device not certified for the staff role");
        if (!this.teamMemberAt(owner.team, body.staffId, at)) {
          throw fail("signed by someone who was not in the team's member list then");
        }
      } else if (owner.kind === "citizen") {
        if (!this.#citizenDevices.has(owner.account)) throw fail("the citizen's device list was not checked");
        if (!this.citizenDeviceAt(owner.account, r.signer, at)) {
          throw fail("signed by a device that was not in the citizen's signed device list then");
        }
      } else if (!this.root.is(r.signer)) {
        const body = this.certifiedAt(r.signer, served.certificate, at);
        if (typeof body === "string") throw fail(body);
        if (!(hasRole(body.roles, Roles.recordClerk) || hasRole(body.roles, Roles.admin))) {
          throw fail("signed by a device the organisation did not certify for the archive (record clerk or admin)");
        }
      }
      epochs.push({ key, createdAt: at, signer: r.signer });
    });
    const [head, ...rest] = epochs;
    if (head === undefined) throw TrustError.noEpochs(kind);
    return new VerifiedHolder(holder, kind, [head, ...rest]);
  }

  /** The staff accounts whose device lists must be loaded before records
   *  signed under these certificates can be checked (sorted, no repeats). */
  static accountsCertified(certificates: Iterable<DeviceCertificate>): AccountId[] {
    const ids = new Set<AccountId>();
    for (const c of certificates) ids.add(c.bodyUnverified.staffId);
    return [...ids].sort();
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
