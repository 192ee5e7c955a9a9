// Threads as the citizen sees them, mirroring client-cli/src/client/
// view.rs: the participant list verified (trust.ts), the messages fetched
// gap-free (except ranges the server declares removed), every envelope
// opened and its sender checked before anything is shown, receipts turned
// into delivered/read marks, and the banners. Sending is in send.ts.

import {
  b64Decode,
  decodePayload,
  DeviceCertificate,
  Envelope,
  Receipt,
  type HolderKeyPair,
  type AccountId,
  type Directory,
  type HolderEpoch,
  type IdentityKey,
  type MessagePayload,
  type TeamId,
  type ThreadId,
} from "../protocol";
import type {
  MessagePage,
  ReceiptList,
  RemovedRange,
  StoredMessage,
  ThreadCitizen,
  ThreadDetail,
  ThreadDevice,
  ThreadDevices,
  ThreadList,
  ThreadSummary,
} from "../protocol/rest";
import { ClientError, get, type Context } from "./context";
import { heldKey, syncGrants } from "./keys";
import type { Banner, Sender, ShownMessage, ThreadRow, ThreadView } from "./model";
import {
  checkSender,
  directory,
  loadStaffFor,
  pinsForWork,
  savePins,
  verifiedThread,
  type Pins,
  type VerifiedThread,
} from "./trust";

/** Progress of long work, for progress bars. */
export type Tick =
  | { kind: "messages"; done: number; total: number }
  | { kind: "bytes"; done: number; total: number | null };

export type Progress = (tick: Tick) => void;

const quiet: Progress = () => undefined;

/** A thread as fetched and verified: what its messages are checked against. */
export interface Verified {
  /** The server's description (names and identity levels are hints). */
  detail: ThreadDetail;
  /** The devices that may have written (hints: each is checked). */
  devices: ThreadDevice[];
  /** Team names from valid certificates. */
  teams: Map<TeamId, string>;
  /** The verified logs. */
  dir: Directory;
  /** The verified participant list. */
  vt: VerifiedThread;
}

/** A citizen's name as the server gives it (for people to read). */
export function citizenName(v: Verified, account: AccountId): string {
  return v.detail.citizens.find((c) => c.account_id === account)?.display_name ?? "a former participant";
}

/** Every citizen's name. */
export function names(v: Verified): Map<AccountId, string> {
  return new Map(v.detail.citizens.map((c) => [c.account_id, c.display_name]));
}

/** Adds the team names (and the organisation's name) from the certificates
 *  among `devices` that verify under the pinned root now. */
function addCertifiedNames(ctx: Context, devices: readonly ThreadDevice[], teams: Map<TeamId, string>): string | null {
  let organisation: string | null = null;
  for (const d of devices) {
    if (d.certificate === undefined || d.certificate === null) continue;
    try {
      const body = DeviceCertificate.decode(b64Decode(d.certificate)).verify(ctx.root, ctx.now());
      if (body.orgId !== ctx.orgId) continue;
      organisation ??= body.orgName;
      for (const t of body.teams) if (!teams.has(t.id)) teams.set(t.id, t.name);
    } catch {
      // Not a valid certificate of this organisation: it names nothing.
    }
  }
  return organisation;
}

/** Fetches a thread and verifies its participant list and everything it
 *  rests on (trust.ts). */
export async function verified(ctx: Context, thread: ThreadId, pins: Pins): Promise<Verified> {
  const detail = await get<ThreadDetail>(ctx, `/v1/threads/${thread}`);
  const devices = (await get<ThreadDevices>(ctx, `/v1/threads/${thread}/devices`)).devices;
  const teams = new Map<TeamId, string>();
  addCertifiedNames(ctx, devices, teams);
  const dir = directory(ctx);
  const vt = await verifiedThread(ctx, dir, pins, detail);
  // A staff sender is checked against their own signed device list: load
  // the lists of the staff whose certified devices the thread lists, also
  // of colleagues who never signed a record the thread rests on.
  const certificates: DeviceCertificate[] = [];
  for (const d of devices) {
    if (d.certificate === undefined || d.certificate === null) continue;
    try {
      certificates.push(DeviceCertificate.decode(b64Decode(d.certificate)));
    } catch {
      // Malformed: that sender stays unverified.
    }
  }
  await loadStaffFor(ctx, dir, pins, certificates);
  return { detail, devices, teams, dir, vt };
}

/** As `verified`, with the keystore's pins (saved afterwards). */
export async function verifiedWithPins(ctx: Context, thread: ThreadId): Promise<Verified> {
  const { before, pins } = pinsForWork(ctx);
  try {
    return await verified(ctx, thread, pins);
  } finally {
    await savePins(ctx, before, pins);
  }
}

/** Identifies a message's signer (trust.ts `checkSender`); why not, as a string. */
export function verifySender(ctx: Context, signer: IdentityKey, atSecs: bigint, v: Verified): Sender | string {
  const checked = checkSender(v.dir, v.vt, signer, atSecs, v.devices);
  if (typeof checked === "string") return checked;
  if (checked.kind === "staff") {
    return {
      kind: "staff",
      accountId: checked.account,
      name: checked.name,
      team: v.teams.get(v.vt.team) ?? checked.team,
      // A staff member's own messages (from any of her devices) are hers.
      me: checked.account === ctx.accountId,
    };
  }
  const citizen = v.detail.citizens.find((c) => c.account_id === checked.account);
  return {
    kind: "citizen",
    accountId: checked.account,
    name: citizen?.display_name ?? "a citizen",
    assurance: citizen?.assurance ?? "unverified",
    me: checked.account === ctx.accountId,
  };
}

/** The holder keys this keystore holds, opened once per view. */
export class HeldKeys {
  readonly #open = new Map<string, HolderKeyPair | null>();

  constructor(private readonly ctx: Context) {}

  get(epoch: HolderEpoch): HolderKeyPair | undefined {
    const id = `${epoch.holder}#${epoch.epoch}`;
    if (!this.#open.has(id)) this.#open.set(id, heldKey(this.ctx.keystore.secrets, epoch) ?? null);
    return this.#open.get(id) ?? undefined;
  }

  wipe(): void {
    for (const k of this.#open.values()) k?.wipe();
    this.#open.clear();
  }
}

/** Stored messages' envelopes, decoded once per fetch (looking for a
 *  missing grant and opening both need them). */
const decodedEnvelopes = new WeakMap<StoredMessage, Envelope | null>();

function decoded(m: StoredMessage): Envelope | null {
  let envelope = decodedEnvelopes.get(m);
  if (envelope === undefined) {
    try {
      envelope = Envelope.decode(b64Decode(m.envelope));
    } catch {
      envelope = null;
    }
    decodedEnvelopes.set(m, envelope);
  }
  return envelope;
}

/** An envelope this page opened already: its signer and content. */
interface Opened {
  envelope: string;
  thread: ThreadId;
  signer: IdentityKey;
  body: MessagePayload | string;
}

/** Envelopes opened in this session, by message id, so a thread that
 *  changes (a live message, a read mark) is not decrypted again in full.
 *  Only the envelope's own checks are remembered — the same bytes open to
 *  the same signer and content with any of its keys; whether the signer
 *  may write in the thread is checked again every time. */
const openedBefore = new WeakMap<Context, Map<string, Opened>>();

/** Opens one stored envelope with the keys this device holds and checks its
 *  sender. The payload, or why it is not shown. */
export async function openMessage(
  ctx: Context,
  m: StoredMessage,
  v: Verified,
  keys: HeldKeys,
): Promise<{ sender: Sender | null; body: MessagePayload | string; noKey?: boolean }> {
  let cache = openedBefore.get(ctx);
  if (cache === undefined) {
    cache = new Map();
    openedBefore.set(ctx, cache);
  }
  const before = cache.get(m.message_id);
  if (before !== undefined && before.envelope === m.envelope && before.thread === v.vt.thread) {
    const sender = verifySender(ctx, before.signer, BigInt(Math.floor(m.committed_at_ms / 1000)), v);
    return typeof sender === "string" ? { sender: null, body: sender } : { sender, body: before.body };
  }
  const envelope = decoded(m);
  if (envelope === null) return { sender: null, body: "the message is malformed" };
  if (envelope.threadId !== v.vt.thread) {
    return { sender: null, body: "this message was sealed for another thread: the server replayed it here" };
  }
  const key = envelope.recipients.map((r) => keys.get(r)).find((k) => k !== undefined);
  if (key === undefined) {
    // Nothing is wrong with it: this device holds no key for it (not
    // granted yet, or sent after this citizen withdrew her consent).
    const withdrew = v.detail.citizens.some((c) => c.account_id === ctx.accountId && c.consent === "withdrawn");
    return {
      sender: null,
      body: withdrew
        ? "sent after you withdrew your consent, so it was not sealed to you"
        : "this device holds no key for this message yet: a newly approved device gets its keys when someone of the conversation is online; try again in a moment",
      noKey: true,
    };
  }
  let opened;
  try {
    opened = await envelope.open({ threadId: v.vt.thread, messageId: m.message_id }, key);
  } catch (e) {
    return { sender: null, body: `the message could not be opened: ${e instanceof Error ? e.message : "failed"}` };
  }
  const sender = verifySender(ctx, opened.sender, BigInt(Math.floor(m.committed_at_ms / 1000)), v);
  if (typeof sender === "string") {
    opened.payload.fill(0);
    return { sender: null, body: sender };
  }
  let body: MessagePayload | string;
  try {
    body = decodePayload(opened.payload);
  } catch (e) {
    body = e instanceof Error ? e.message : "the message's content is malformed";
  } finally {
    opened.payload.fill(0);
  }
  cache.set(m.message_id, { envelope: m.envelope, thread: v.vt.thread, signer: opened.sender, body });
  return { sender, body };
}

/** Every stored message of a thread after `after`, in order. The sequence
 *  must be gap-free, except for messages the server says were deleted on
 *  purpose (`removed`: retention or erasure). */
export async function fetchMessages(
  ctx: Context,
  thread: ThreadId,
  after: number,
  total: number,
  removed: readonly RemovedRange[],
  progress: Progress = quiet,
): Promise<StoredMessage[]> {
  const out: StoredMessage[] = [];
  let cursor = after;
  for (;;) {
    const page = await get<MessagePage>(ctx, `/v1/threads/${thread}/messages?after=${cursor}&limit=500`);
    const last = page.messages.at(-1);
    if (last === undefined) break;
    // A page that does not move forward would loop for ever.
    if (last.seq <= cursor) throw ClientError.verification(`message ${cursor + 1} is missing from the thread`);
    cursor = last.seq;
    out.push(...page.messages);
    progress({ kind: "messages", done: out.length, total: Math.max(0, total - after) });
    if (cursor >= page.last_seq) break;
  }
  const deleted = (seq: number): boolean => removed.some((r) => r.from_seq <= seq && seq <= r.to_seq);
  let expected = after + 1;
  for (const m of out) {
    while (expected < m.seq && deleted(expected)) expected += 1;
    if (m.seq !== expected) throw ClientError.verification(`message ${expected} is missing from the thread`);
    expected += 1;
  }
  while (expected <= total && deleted(expected)) expected += 1;
  if (expected <= total) throw ClientError.verification(`message ${expected} is missing from the thread`);
  return out;
}

/** The thread's citizens, by name; with a verified participant list, only
 *  the citizens it names. */
function participants(citizens: readonly ThreadCitizen[], vt: VerifiedThread | null): ThreadRow["participants"] {
  return citizens
    .filter((c) => vt === null || vt.citizens.includes(c.account_id))
    .map((c) => ({ accountId: c.account_id, name: c.display_name, assurance: c.assurance, consent: c.consent }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** A thread's list row. */
function rowOf(
  ctx: Context,
  summary: ThreadSummary,
  citizens: readonly ThreadCitizen[],
  vt: VerifiedThread | null,
  teams: ReadonlyMap<TeamId, string>,
): ThreadRow {
  const read = ctx.keystore.secrets.read?.[summary.thread_id] ?? 0;
  return {
    threadId: summary.thread_id,
    teamId: summary.team_id,
    team: teams.get(summary.team_id) ?? null,
    participants: participants(citizens, vt),
    messages: summary.last_seq,
    unread: Math.max(0, summary.last_seq - read),
    lastActivityMs: summary.last_activity_ms,
    journaledUpTo: summary.journaled_up_to ?? null,
    journaledCase: summary.journaled_case ?? null,
    onHold: summary.on_hold === true,
  };
}

/** The list rows for every visible thread, most recent first. */
export async function threadRows(ctx: Context): Promise<ThreadRow[]> {
  const list = await get<ThreadList>(ctx, "/v1/threads");
  const teams = new Map<TeamId, string>();
  const rows: ThreadRow[] = [];
  for (const summary of list.threads) {
    // The list carries each thread's citizens; an older server's does not.
    const citizens = summary.citizens ?? (await get<ThreadDetail>(ctx, `/v1/threads/${summary.thread_id}`)).citizens;
    if (!teams.has(summary.team_id)) {
      const devices = (await get<ThreadDevices>(ctx, `/v1/threads/${summary.thread_id}/devices`)).devices;
      addCertifiedNames(ctx, devices, teams);
    }
    rows.push(rowOf(ctx, summary, citizens, null, teams));
  }
  return rows;
}

/** The highest delivered and read positions other participants' devices
 *  signed (receipts of this account's own devices do not count). */
async function receiptMarks(ctx: Context, thread: ThreadId, v: Verified): Promise<{ delivered: number; read: number }> {
  const receipts = await get<ReceiptList>(ctx, `/v1/threads/${thread}/receipts`);
  const own = new Set(v.devices.filter((d) => d.account_id === ctx.accountId).map((d) => d.keys.identity));
  own.add(ctx.device.public.identity.toString());
  let delivered = 0;
  let read = 0;
  for (const blob of receipts.receipts) {
    let r: Receipt;
    try {
      r = Receipt.decodeAndVerify(b64Decode(blob.receipt));
    } catch {
      continue;
    }
    if (r.threadId !== thread || own.has(r.device.toString())) continue;
    const seq = Number(r.upToSeq);
    if (r.kind === "read") read = Math.max(read, seq);
    delivered = Math.max(delivered, seq);
  }
  return { delivered, read };
}

/** How many envelopes are opened at once. */
const OPEN_BATCH = 32;

/** Opens stored messages of a verified thread as they are shown. */
export async function shown(
  ctx: Context,
  v: Verified,
  stored: readonly StoredMessage[],
  marks: { delivered: number; read: number },
): Promise<ShownMessage[]> {
  const keys = new HeldKeys(ctx);
  const journaled = v.detail.summary.journaled_up_to;
  const out: ShownMessage[] = [];
  try {
    // Opened a batch at a time: the platform's WebCrypto (HPKE's X25519)
    // works off the main thread, so envelopes in flight together overlap.
    const opened: Awaited<ReturnType<typeof openMessage>>[] = [];
    for (let at = 0; at < stored.length; at += OPEN_BATCH) {
      opened.push(...(await Promise.all(stored.slice(at, at + OPEN_BATCH).map((m) => openMessage(ctx, m, v, keys)))));
    }
    for (const [i, m] of stored.entries()) {
      const item = opened[i];
      if (item === undefined) continue;
      const { sender, body, noKey } = item;
      const mine = sender?.me ?? false;
      out.push({
        seq: m.seq,
        messageId: m.message_id,
        atMs: m.committed_at_ms,
        sender,
        body:
          typeof body === "string"
            ? { status: noKey === true ? "unreadable" : "failed", reason: body }
            : {
                status: "ok",
                text: body.text,
                attachments: body.attachments.map((a, i) => ({
                  index: i + 1,
                  name: a.name,
                  mediaType: a.mediaType,
                  size: Number(a.size),
                })),
              },
        delivered: mine && marks.delivered >= m.seq,
        read: mine && marks.read >= m.seq,
        notJournaled: journaled !== undefined && m.seq > journaled,
      });
      if (typeof body !== "string") for (const a of body.attachments) a.key.wipe();
    }
  } finally {
    keys.wipe();
  }
  return out;
}

function banners(ctx: Context, v: Verified): Banner[] {
  const out: Banner[] = [];
  for (const news of v.vt.news) {
    const name = citizenName(v, news.account);
    if (news.gone) out.push({ kind: "account_gone", name });
    else if (news.resetAt !== null) out.push({ kind: "devices_reset", name, atSecs: Number(news.resetAt) });
    else out.push({ kind: "devices_changed", name, added: news.added, removed: news.removed });
  }
  // Each is told what concerns them: staff about every citizen who
  // withdrew, a citizen only about herself.
  const citizens = v.detail.citizens.filter((c) => v.vt.citizens.includes(c.account_id));
  const othersContinue = citizens.some((c) => c.consent !== "withdrawn");
  for (const c of citizens) {
    if (c.consent !== "withdrawn") continue;
    if (ctx.keystore.secrets.kind === "staff") out.push({ kind: "consent_withdrawn", name: c.display_name, othersContinue });
    else if (c.account_id === ctx.accountId) out.push({ kind: "own_consent_withdrawn" });
  }
  const removed = (v.detail.removed ?? []).reduce((n, r) => n + Math.max(0, r.to_seq - r.from_seq + 1), 0);
  if (removed > 0) out.push({ kind: "removed", count: removed });
  const filed = v.detail.summary.journaled_up_to;
  if (filed !== undefined) {
    out.push({
      kind: "journaled",
      caseRef: v.detail.summary.journaled_case ?? null,
      upToSeq: filed,
      later: Math.max(0, v.detail.summary.last_seq - filed),
    });
  }
  return out;
}

/** Opens a thread: its participant list verified, then every message
 *  verified and decrypted. */
export async function threadView(ctx: Context, thread: ThreadId, progress: Progress = quiet): Promise<ThreadView> {
  const phase = phases("samtale:open");
  const v = await verifiedWithPins(ctx, thread);
  phase("verify participants");
  const [stored, marks] = await Promise.all([
    fetchMessages(ctx, thread, 0, v.detail.summary.last_seq, v.detail.removed ?? [], progress),
    receiptMarks(ctx, thread, v),
  ]);
  phase("fetch messages and receipts");
  await syncIfNeeded(ctx, stored);
  phase("grants");
  const messages = await shown(ctx, v, stored, marks);
  phase("open and check messages");
  const organisation = addCertifiedNames(ctx, v.devices, new Map()) ?? ctx.keystore.secrets.orgName;
  return {
    row: rowOf(ctx, v.detail.summary, v.detail.citizens, v.vt, v.teams),
    banners: banners(ctx, v),
    messages,
    organisation,
  };
}

/** Times the phases of a long operation as User Timing measures
 *  (`performance.getEntriesByType("measure")`: the benchmark reads them;
 *  browsers' profilers show them). Nothing else. */
function phases(prefix: string): (name: string) => void {
  const clock = globalThis.performance;
  if (clock?.measure === undefined) return () => undefined;
  let last = clock.now();
  return (name) => {
    const now = clock.now();
    clock.measure(`${prefix} ${name}`, { start: last, end: now });
    last = now;
  };
}

/** Opens messages that arrived live (relay `deliver` frames) in a thread,
 *  verified as in `threadView`. */
export async function openDelivered(
  ctx: Context,
  thread: ThreadId,
  stored: readonly StoredMessage[],
): Promise<ShownMessage[]> {
  const v = await verifiedWithPins(ctx, thread);
  await syncIfNeeded(ctx, stored);
  return shown(ctx, v, stored, await receiptMarks(ctx, thread, v));
}

/** Keys granted since the last look (history from before this device). */
async function syncIfNeeded(ctx: Context, stored: readonly StoredMessage[]): Promise<void> {
  const needs = stored.some((m) => {
    const envelope = decoded(m);
    return (
      envelope !== null &&
      !envelope.recipients.some((r) => ctx.keystore.secrets.holders.some((k) => k.holder === r.holder && k.epoch === r.epoch))
    );
  });
  if (needs) await syncGrants(ctx);
}
