// Sending, mirroring client-cli/src/client/send.rs: text and files sealed
// to the verified recipients (trust.ts `sealTargets`), attachments
// encrypted in the page and uploaded with progress, and the signed
// delivered and read receipts. The queue that keeps messages written
// offline is in outbox.ts; the connection in relay.ts.

import {
  AttachmentKey,
  blobSha256,
  deviceFingerprint,
  encodePayload,
  Envelope,
  openReferenced,
  ProtocolError,
  randomId,
  Receipt,
  sealAttachment,
  type AttachmentRef,
  type HolderPublicKey,
  type MessageId,
  type ThreadId,
} from "../protocol";
import type { AttachmentStored, MessagePage } from "../protocol/rest";
import { ClientError, download, get, updateSecrets, upload, type Context } from "./context";
import { RelayError, type Relay } from "./relay";
import { HeldKeys, names, openMessage, verified, verifiedWithPins, type Progress } from "./threads";
import { ownCertificate } from "./keys";
import { ownCitizenList, pinsForWork, savePins, sealTargets, type Pins } from "./trust";

/** The largest file one message may carry (the server's default). */
export const ATTACHMENT_LIMIT = 25 * 1024 * 1024;

/** A file to attach: its name and bytes (read from a File by the screen). */
export interface OutgoingFile {
  name: string;
  bytes: Uint8Array;
  /** From the browser; else from the name. */
  mediaType?: string;
}

/** Media type from a file name's extension. */
export function mediaType(name: string): string {
  const dot = name.lastIndexOf(".");
  const ext = dot < 0 ? "" : name.slice(dot + 1).toLowerCase();
  const types: Record<string, string> = {
    pdf: "application/pdf",
    png: "image/png",
    jpg: "image/jpeg",
    jpeg: "image/jpeg",
    txt: "text/plain",
    doc: "application/msword",
    docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  };
  return types[ext] ?? "application/octet-stream";
}

function nowMs(ctx: Context): bigint {
  return ctx.now() * 1000n;
}

/** Marks a thread read up to `seq`: remembers it and sends a signed read
 *  receipt over the relay (which keeps it until it is online). */
export async function markRead(ctx: Context, thread: ThreadId, seq: number, relay: Relay): Promise<void> {
  if (seq <= 0) return;
  const before = ctx.keystore.secrets.read?.[thread] ?? 0;
  if (seq <= before) return;
  relay.receipt(Receipt.sign(ctx.device, thread, BigInt(seq), "read", nowMs(ctx)));
  await updateSecrets(ctx, (s) => {
    const read = (s.read ??= {});
    read[thread] = Math.max(read[thread] ?? 0, seq);
  });
}

/** Tells the senders that this device has received a thread's messages up
 *  to `seq` (a signed delivered receipt over the live connection). */
export function markDelivered(ctx: Context, thread: ThreadId, seq: number, relay: Relay): void {
  relay.receipt(Receipt.sign(ctx.device, thread, BigInt(seq), "delivered", nowMs(ctx)));
}

/** Sends delivered receipts for messages that arrive live in a thread the
 *  person does not have open (the open one gets read receipts when shown).
 *  Returns the function that stops it. */
export function deliveredReceipts(ctx: Context, relay: Relay, isOpen: (thread: ThreadId) => boolean): () => void {
  return relay.onDeliver((d) => {
    if (!isOpen(d.threadId)) markDelivered(ctx, d.threadId, d.seq, relay);
  });
}

/** Checks everything a message to `thread` depends on and returns the
 *  verified keys to seal it to: consent, this device's own standing (in
 *  the account's signed device list), and the holders the signed
 *  participant list names (trust.ts `sealTargets`). */
export async function recipientsFor(ctx: Context, thread: ThreadId): Promise<HolderPublicKey[]> {
  const { before, pins } = pinsForWork(ctx);
  try {
    return await recipientsIn(ctx, thread, pins);
  } finally {
    await savePins(ctx, before, pins);
  }
}

async function recipientsIn(ctx: Context, thread: ThreadId, pins: Pins): Promise<HolderPublicKey[]> {
  const v = await verified(ctx, thread, pins);
  // Consent (docs/API.md): a citizen who withdrew cannot send; a thread goes
  // on while one of its citizens still consents, sealed to those only.
  const citizens = v.detail.citizens.filter((c) => v.vt.citizens.includes(c.account_id));
  if (citizens.some((c) => c.account_id === ctx.accountId && c.consent === "withdrawn")) {
    throw ClientError.consentWithdrawn(
      "you withdrew your consent, so you cannot send here any more; you can still read and export your conversations",
    );
  }
  if (citizens.length > 0 && citizens.every((c) => c.consent === "withdrawn")) {
    throw ClientError.consentWithdrawn(
      `${citizens.map((c) => c.display_name).join(" and ")} withdrew consent; nothing more can be sent in Samtale. Use letter or digital post`,
    );
  }
  if (ctx.keystore.secrets.kind === "staff") {
    // Others trust a staff device's messages only with the root's
    // certificate: without it nothing is sent.
    if ((await ownCertificate(ctx, v.dir, pins)) === null) {
      throw ClientError.refused(
        `this device is not certified yet, so others could not trust what it sends: an admin compares the fingerprint ${deviceFingerprint(ctx.device.public.identity)} and certifies it`,
      );
    }
  } else {
    const listing = await ownCitizenList(ctx, v.dir, pins);
    if (listing.kind !== "listed") {
      throw ClientError.refused(
        `this device is not approved yet, so others could not trust what it sends: on your other device, approve the device with the fingerprint ${deviceFingerprint(ctx.device.public.identity)}`,
      );
    }
  }
  return sealTargets(ctx, v.dir, pins, v.vt, v.detail, names(v));
}

/** A message sealed and ready for the relay. */
export interface Prepared {
  threadId: ThreadId;
  messageId: MessageId;
  envelope: Uint8Array;
}

function protocolRefusal(e: unknown): unknown {
  return e instanceof ProtocolError || e instanceof RangeError ? ClientError.refused(e.message) : e;
}

/** Encrypts a file, uploads the blob with progress and returns the
 *  reference the envelope carries (with its single-use key). */
async function uploadAttachment(
  ctx: Context,
  thread: ThreadId,
  file: OutgoingFile,
  progress: Progress,
): Promise<AttachmentRef> {
  if (file.bytes.length > ATTACHMENT_LIMIT) {
    throw ClientError.refused(`${file.name} is ${file.bytes.length} bytes; attachments may be at most ${ATTACHMENT_LIMIT} bytes`);
  }
  const key = AttachmentKey.generate();
  const blob = sealAttachment(key, file.bytes);
  const hash = blobSha256(blob);
  progress({ kind: "bytes", done: 0, total: blob.length });
  const stored = await upload<AttachmentStored>(ctx, `/v1/threads/${thread}/attachments`, blob, (done, total) =>
    progress({ kind: "bytes", done, total }),
  );
  progress({ kind: "bytes", done: blob.length, total: blob.length });
  if (stored.sha256 !== hash) {
    key.wipe();
    throw ClientError.verification("the server stored other bytes than were uploaded");
  }
  return {
    id: stored.attachment_id,
    name: file.name,
    mediaType: file.mediaType ?? mediaType(file.name),
    size: BigInt(file.bytes.length),
    blobSha256: hash,
    key,
  };
}

/** Seals text (and files) for a thread: the recipients verified, each file
 *  encrypted and uploaded, the payload sealed under `messageId`. Nothing is
 *  sent yet. */
export async function prepareMessage(
  ctx: Context,
  thread: ThreadId,
  text: string,
  files: readonly OutgoingFile[],
  progress: Progress = () => undefined,
  messageId: MessageId = randomId<MessageId>(),
): Promise<Prepared> {
  if (text.trim() === "" && files.length === 0) {
    throw ClientError.refused("nothing to send: write some text or attach a file");
  }
  const recipients = await recipientsFor(ctx, thread);
  const attachments: AttachmentRef[] = [];
  try {
    for (const file of files) attachments.push(await uploadAttachment(ctx, thread, file, progress));
    const payload = encodePayload({ text, attachments });
    const envelope = await Envelope.seal(ctx.device, thread, messageId, recipients, payload);
    payload.fill(0);
    return { threadId: thread, messageId, envelope: envelope.bytes };
  } catch (e) {
    throw protocolRefusal(e);
  } finally {
    for (const a of attachments) a.key.wipe();
  }
}

/** The relay's refusal of a message, in the Rust client's words. */
export function sendError(e: unknown): unknown {
  if (!(e instanceof RelayError)) return e;
  if (e.code === "consent_withdrawn") return ClientError.consentWithdrawn(`${e.message}. Use letter or digital post`);
  if (e.code === "device_revoked" || e.code === "authentication_failed") return ClientError.sessionEnded(e.message);
  return ClientError.relay(e.message, e.code);
}

/** One's own message is not unread; the cursor stays when earlier
 *  messages are still unread. */
export async function sentAt(ctx: Context, thread: ThreadId, seq: number): Promise<void> {
  if ((ctx.keystore.secrets.read?.[thread] ?? 0) + 1 !== seq) return;
  await updateSecrets(ctx, (s) => {
    const read = (s.read ??= {});
    if ((read[thread] ?? 0) + 1 === seq) read[thread] = seq;
  });
}

/** Sends text (and files) to a thread at once; returns the message's seq and
 *  id after the server has stored it. (The outbox, outbox.ts, does the same
 *  for messages written offline, keeping them across a reload.) */
export async function send(
  ctx: Context,
  thread: ThreadId,
  text: string,
  files: readonly OutgoingFile[],
  relay: Relay,
  progress: Progress = () => undefined,
): Promise<{ seq: number; messageId: MessageId }> {
  const prepared = await prepareMessage(ctx, thread, text, files, progress);
  try {
    const ack = await relay.send(thread, prepared.messageId, prepared.envelope);
    await sentAt(ctx, thread, ack.seq);
    return { seq: ack.seq, messageId: prepared.messageId };
  } catch (e) {
    throw sendError(e);
  }
}

/** A decrypted attachment. */
export interface FetchedAttachment {
  name: string;
  mediaType: string;
  bytes: Uint8Array;
}

/** Downloads, checks and decrypts attachment `index` (from 1) of message
 *  `seq`; the message and its sender are verified first. */
export async function fetchAttachment(
  ctx: Context,
  thread: ThreadId,
  seq: number,
  index: number,
  progress: Progress = () => undefined,
): Promise<FetchedAttachment> {
  const v = await verifiedWithPins(ctx, thread);
  const page = await get<MessagePage>(ctx, `/v1/threads/${thread}/messages?after=${Math.max(0, seq - 1)}&limit=1`);
  const m = page.messages.find((x) => x.seq === seq);
  if (m === undefined) throw ClientError.refused(`there is no message ${seq} in this thread`);
  const keys = new HeldKeys(ctx);
  let opened;
  try {
    opened = await openMessage(ctx, m, v, keys);
  } finally {
    keys.wipe();
  }
  if (typeof opened.body === "string") throw ClientError.verification(opened.body);
  const attachments = opened.body.attachments;
  try {
    const reference = attachments[index - 1];
    if (reference === undefined) {
      throw ClientError.refused(`message ${seq} has ${attachments.length} attachment(s); there is no number ${index}`);
    }
    const bytes = await downloadReferenced(ctx, reference, progress);
    return { name: reference.name, mediaType: reference.mediaType, bytes };
  } finally {
    for (const a of attachments) a.key.wipe();
  }
}

/** Downloads the blob an attachment reference names, checks it against the
 *  signed hash and size, and decrypts it. */
export async function downloadReferenced(ctx: Context, reference: AttachmentRef, progress: Progress): Promise<Uint8Array> {
  const blob = await download(ctx, `/v1/attachments/${reference.id}`, (done, total) =>
    progress({ kind: "bytes", done, total }),
  );
  try {
    return openReferenced(reference, blob);
  } catch (e) {
    if (e instanceof ProtocolError) throw ClientError.verification(e.message);
    throw e;
  }
}
