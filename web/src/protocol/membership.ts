// Signed, hash-linked membership logs (PROTOCOL.md §7): a team's members, a
// thread's participants, an account's devices. Each change is a record
// signed by a device (or the organisation root) and linked to the hash of
// the one before, so a client replaying the log notices a member the server
// slipped in, left out or reordered. Who may sign which change is each
// log's policy (`trust.ts`). Mirrors `protocol/src/membership.rs`.

import { bytesEqual, concat } from "./bytes";
import { keyField, ObjectType, Reader, Writer } from "./codec";
import { DecodeError, ProtocolError } from "./errors";
import { idFromBytes, idToBytes, type AccountId, type HolderId, type TeamId } from "./ids";
import { AgreementKey, IdentityKey, sameDeviceKeys, type DevicePublicKeys, type Signer } from "./keys";
import { Context, sha256, verifyTrailing } from "./primitives";
import { utf8Encode } from "./utf8";

export const MEMBERSHIP_VERSION = 1;
const HASH_CONTEXT = utf8Encode("samtale/v1/membership-hash\0");

/** Which membership a log records (its byte: 1, 2, 3). */
export type LogKind = "team_members" | "thread_participants" | "device_list";
const LOG_BYTES: Record<LogKind, number> = { team_members: 1, thread_participants: 2, device_list: 3 };
const LOG_WORDS: Record<LogKind, string> = {
  team_members: "team member list",
  thread_participants: "thread participant list",
  device_list: "device list",
};

/** What the log is about, in words ("device list"). */
export function describeLog(log: LogKind): string {
  return LOG_WORDS[log];
}

/** Adding or removing a member, or (device lists only) starting afresh. */
export type Operation = "add" | "remove" | "reset";
const OPERATIONS: readonly Operation[] = ["add", "remove", "reset"];

/** A member of a team, thread or device list. */
export type Member =
  | { readonly kind: "device"; readonly device: DevicePublicKeys }
  | { readonly kind: "staff"; readonly id: AccountId }
  | { readonly kind: "citizen"; readonly id: AccountId }
  | { readonly kind: "team"; readonly id: TeamId }
  | { readonly kind: "holder"; readonly id: HolderId };

/** The same member: kind and id, and for devices both keys. */
export function memberEquals(a: Member, b: Member): boolean {
  if (a.kind === "device" || b.kind === "device") {
    return a.kind === "device" && b.kind === "device" && sameDeviceKeys(a.device, b.device);
  }
  return a.kind === b.kind && a.id === b.id;
}

/** The same party: as `memberEquals`, but a device by its identity key alone. */
export function sameParty(a: Member, b: Member): boolean {
  if (a.kind === "device" && b.kind === "device") return a.device.identity.equals(b.device.identity);
  return memberEquals(a, b);
}

function encodeMember(w: Writer, m: Member): void {
  switch (m.kind) {
    case "device":
      w.u8(1).bytes(m.device.identity.bytes).bytes(m.device.agreement.bytes);
      return;
    case "staff":
      w.u8(2).bytes(idToBytes(m.id));
      return;
    case "citizen":
      w.u8(3).bytes(idToBytes(m.id));
      return;
    case "team":
      w.u8(4).bytes(idToBytes(m.id));
      return;
    case "holder":
      w.u8(5).bytes(idToBytes(m.id));
      return;
  }
}

function decodeMember(r: Reader): Member {
  switch (r.u8()) {
    case 1: {
      const identity = keyField(() => IdentityKey.fromBytes(r.take(32)), "member device identity key");
      const agreement = keyField(() => AgreementKey.fromBytes(r.take(32)), "member device agreement key");
      return { kind: "device", device: { identity, agreement } };
    }
    case 2:
      return { kind: "staff", id: idFromBytes(r.take(16)) };
    case 3:
      return { kind: "citizen", id: idFromBytes(r.take(16)) };
    case 4:
      return { kind: "team", id: idFromBytes(r.take(16)) };
    case 5:
      return { kind: "holder", id: idFromBytes(r.take(16)) };
    default:
      throw DecodeError.invalid("member kind");
  }
}

export type MembershipErrorCode =
  | "malformed"
  | "wrong_log"
  | "out_of_order"
  | "broken_link"
  | "bad_signature"
  | "time_went_backwards"
  | "invalid_reset"
  | "unauthorized"
  | "already_member"
  | "not_a_member";

/** Why a record or log is not acceptable; `seq` names the first failing record. */
export class MembershipError extends ProtocolError<MembershipErrorCode> {
  override readonly name = "MembershipError";

  constructor(
    code: MembershipErrorCode,
    message: string,
    readonly seq: bigint | undefined,
    options?: ErrorOptions,
  ) {
    super(code, message, options);
  }

  static malformed(e: DecodeError): MembershipError {
    return new MembershipError("malformed", `malformed membership record: ${e.message}`, undefined, { cause: e });
  }
  static at(code: Exclude<MembershipErrorCode, "malformed" | "out_of_order" | "unauthorized">, seq: bigint): MembershipError {
    const messages = {
      wrong_log: "belongs to another kind of log",
      broken_link: "does not link to the previous record",
      bad_signature: "has a bad signature",
      time_went_backwards: "is dated before the record it follows",
      invalid_reset: "is a reset that is not signed by the one device it keeps",
      already_member: "adds a member that is already present",
      not_a_member: "removes a member that is not present",
    } as const;
    return new MembershipError(code, `record ${seq} ${messages[code]}`, seq);
  }
  /** The record names another team, thread or account (code `wrong_log`, §7). */
  static wrongSubject(seq: bigint): MembershipError {
    return new MembershipError("wrong_log", `record ${seq} belongs to another subject`, seq);
  }
  static outOfOrder(expected: bigint, found: bigint): MembershipError {
    return new MembershipError("out_of_order", `expected record ${expected}, found ${found}`, found);
  }
  static unauthorized(seq: bigint, why: string): MembershipError {
    return new MembershipError("unauthorized", `record ${seq}: ${why}`, seq);
  }
}

/** One signed change to a membership log. */
export class MembershipRecord {
  private constructor(
    readonly log: LogKind,
    /** The team, thread or account id's 16 bytes. */
    readonly subject: Uint8Array,
    readonly seq: bigint,
    readonly prev: Uint8Array,
    readonly operation: Operation,
    /** Who is added or removed (for a reset: the device that stays). */
    readonly member: Member,
    /** Unix seconds, as the signer claims. */
    readonly issuedAt: bigint,
    /** A device's identity key, or the organisation root. */
    readonly signer: IdentityKey,
    private readonly encoded: Uint8Array,
  ) {}

  /** Decodes a record; `MembershipState.apply` verifies it. */
  static decode(bytes: Uint8Array): MembershipRecord {
    try {
      const r = new Reader(bytes);
      r.header(ObjectType.membershipRecord, MEMBERSHIP_VERSION);
      const logByte = r.u8();
      const log = (Object.keys(LOG_BYTES) as LogKind[]).find((k) => LOG_BYTES[k] === logByte);
      if (log === undefined) throw DecodeError.invalid("log kind");
      const subject = r.take(16);
      const seq = r.u64();
      const prev = r.take(32);
      const operation = OPERATIONS[r.u8() - 1];
      if (operation === undefined) throw DecodeError.invalid("operation");
      const member = decodeMember(r);
      const issuedAt = r.u64();
      const signer = keyField(() => IdentityKey.fromBytes(r.take(32)), "signer key");
      r.take(64);
      r.finish();
      return new MembershipRecord(log, subject, seq, prev, operation, member, issuedAt, signer, bytes.slice());
    } catch (e) {
      if (e instanceof DecodeError) throw MembershipError.malformed(e);
      throw e;
    }
  }

  /** @internal Builds and signs a record (see `MembershipState.nextRecord`). */
  static build(
    state: MembershipState,
    signer: Signer,
    operation: Operation,
    member: Member,
    issuedAt: bigint,
  ): MembershipRecord {
    const at = issuedAt > state.lastIssuedAt ? issuedAt : state.lastIssuedAt;
    const w = new Writer(232)
      .u8(ObjectType.membershipRecord)
      .u8(MEMBERSHIP_VERSION)
      .u8(LOG_BYTES[state.log])
      .bytes(state.subject)
      .u64(state.nextSeq)
      .bytes(state.head)
      .u8(OPERATIONS.indexOf(operation) + 1);
    encodeMember(w, member);
    w.u64(at).bytes(signer.signerKey.bytes);
    w.bytes(signer.sign(Context.membership, w.view()));
    return new MembershipRecord(state.log, state.subject, state.nextSeq, state.head, operation, member, at, signer.signerKey, w.toBytes());
  }

  /** A copy of the encoded record. */
  get bytes(): Uint8Array {
    return this.encoded.slice();
  }

  /** SHA-256("samtale/v1/membership-hash" || 0x00 || record): what the next record links to. */
  hash(): Uint8Array {
    return sha256(concat(HASH_CONTEXT, this.encoded));
  }

  /** Whether the signature verifies under `signer`. */
  verifySignature(): boolean {
    return verifyTrailing(this.signer.bytes, Context.membership, this.encoded);
  }
}

/** One applied change, kept so that a log can say who was a member when. */
export interface Change {
  readonly seq: bigint;
  readonly issuedAt: bigint;
  readonly operation: Operation;
  readonly member: Member;
  readonly signer: IdentityKey;
}

/** A log's policy: given the state before a record, `null` if its signer
 *  may make its change, or what the policy requires. */
export type Policy = (state: MembershipState, record: MembershipRecord) => string | null;

/** A policy that accepts every signer (tests, and logs checked another way). */
export const anySigner: Policy = () => null;

/** The state of a membership log after replaying verified records. */
export class MembershipState {
  #members: Member[] = [];
  #changes: Change[] = [];
  #nextSeq = 0n;
  #head: Uint8Array = new Uint8Array(32);

  constructor(
    readonly log: LogKind,
    readonly subject: Uint8Array,
  ) {
    if (subject.length !== 16) throw new RangeError("a log's subject is a 16-byte id");
  }

  /** Replays `records` from the start under `policy`. */
  static replay(log: LogKind, subject: Uint8Array, records: Iterable<MembershipRecord>, policy: Policy): MembershipState {
    const state = new MembershipState(log, subject);
    for (const record of records) state.apply(record, policy);
    return state;
  }

  /** Verifies and applies the next record (§7 Replay): kind and subject,
   *  position, link, signature, time order, reset form, the policy, and
   *  the change's sense. Throws MembershipError naming the record. */
  apply(record: MembershipRecord, policy: Policy): void {
    const seq = record.seq;
    if (record.log !== this.log) throw MembershipError.at("wrong_log", seq);
    if (!bytesEqual(record.subject, this.subject)) throw MembershipError.wrongSubject(seq);
    if (seq !== this.#nextSeq) throw MembershipError.outOfOrder(this.#nextSeq, seq);
    if (!bytesEqual(record.prev, this.#head)) throw MembershipError.at("broken_link", seq);
    if (!record.verifySignature()) throw MembershipError.at("bad_signature", seq);
    if (record.issuedAt < this.lastIssuedAt) throw MembershipError.at("time_went_backwards", seq);
    if (
      record.operation === "reset" &&
      (this.log !== "device_list" ||
        record.member.kind !== "device" ||
        !record.member.device.identity.equals(record.signer))
    ) {
      throw MembershipError.at("invalid_reset", seq);
    }
    const why = policy(this, record);
    if (why !== null) throw MembershipError.unauthorized(seq, why);
    switch (record.operation) {
      case "add":
        if (this.#members.some((m) => sameParty(m, record.member))) throw MembershipError.at("already_member", seq);
        this.#members.push(record.member);
        break;
      case "remove": {
        const i = this.#members.findIndex((m) => memberEquals(m, record.member));
        if (i < 0) throw MembershipError.at("not_a_member", seq);
        this.#members.splice(i, 1);
        break;
      }
      case "reset":
        this.#members = [record.member];
        break;
    }
    this.#changes.push({ seq, issuedAt: record.issuedAt, operation: record.operation, member: record.member, signer: record.signer });
    this.#nextSeq += 1n;
    this.#head = record.hash();
  }

  /** Makes the next record of this log, signed by a device or the root,
   *  without applying it. `issuedAt` is raised to the last record's time
   *  if the signer's clock is behind it. */
  nextRecord(signer: Signer, operation: Operation, member: Member, issuedAt: bigint): MembershipRecord {
    return MembershipRecord.build(this, signer, operation, member, issuedAt);
  }

  /** The current members, in the order they joined. */
  get members(): readonly Member[] {
    return [...this.#members];
  }

  /** Whether `member` is present (devices: by identity key). */
  contains(member: Member): boolean {
    return this.#members.some((m) => sameParty(m, member));
  }

  /** Who was a member at `at` (Unix seconds): the members after every
   *  record issued before `at`, plus those a record issued within that
   *  second added; a removal or reset takes effect after its second. */
  membersAt(at: bigint): Member[] {
    let members: Member[] = [];
    for (const c of this.#changes) {
      if (c.issuedAt > at) break;
      const sameSecond = c.issuedAt === at;
      if (c.operation === "add") members.push(c.member);
      else if (c.operation === "remove" && !sameSecond) members = members.filter((m) => !memberEquals(m, c.member));
      else if (c.operation === "reset") members = sameSecond ? [...members, c.member] : [c.member];
    }
    return members;
  }

  /** Whether `member` was present at `at` (devices: by identity key). */
  containedAt(member: Member, at: bigint): boolean {
    return this.membersAt(at).some((m) => sameParty(m, member));
  }

  /** Every applied change, in order. */
  get changes(): readonly Change[] {
    return [...this.#changes];
  }

  /** When the last record was signed (0 for an empty log). */
  get lastIssuedAt(): bigint {
    return this.#changes.at(-1)?.issuedAt ?? 0n;
  }

  /** The sequence number the next record must carry. */
  get nextSeq(): bigint {
    return this.#nextSeq;
  }

  /** The hash of the last applied record (zeros for an empty log). */
  get head(): Uint8Array {
    return this.#head.slice();
  }
}
