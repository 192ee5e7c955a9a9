// Messages on their way out. A message written while offline waits here
// (its text in the encrypted keystore) and is sealed once the relay is
// online, because only then can its recipients be verified (trust.ts). The
// sealed envelope is kept in the keystore before it is first sent, so a
// reload or a lost ack sends the very same bytes again under the same
// message id, which the server answers with the same ack. Entries leave
// the keystore when the server has acknowledged them.

import { b64Decode, b64Encode, randomId, type MessageId, type ThreadId } from "../protocol";
import { ClientError, updateSecrets, type Context } from "./context";
import type { OutboxEntry } from "./keystore";
import type { OutgoingMessage } from "./model";
import { RelayError, type Relay } from "./relay";
import { mediaType, prepareMessage, sendError, sentAt, type OutgoingFile } from "./send";

/** How long to wait before trying again after the server could not be
 *  reached (ms). */
const RETRY_MS = 5_000;

/** A message the server acknowledged. */
export interface SentMessage {
  threadId: ThreadId;
  messageId: MessageId;
  seq: number;
}

interface Entry {
  stored: OutboxEntry;
  /** The files' bytes until the server acknowledged the message (memory
   *  only: a reload loses them). */
  files: OutgoingFile[] | null;
  state: OutgoingMessage["state"];
  progress: number;
  /** The server refused the envelope's recipients once: it was sealed again. */
  resealed: boolean;
}

/** Not worth a failure: try again once the relay is back. */
function transient(e: unknown): boolean {
  if (e instanceof RelayError) return e.code === "closed" || e.code === "timeout";
  return e instanceof ClientError && e.kind === "api" && (e.is("unreachable") || e.is("unavailable") || e.is("rate_limited"));
}

export class Outbox {
  readonly #entries = new Map<MessageId, Entry>();
  readonly #changed = new Set<(list: OutgoingMessage[]) => void>();
  readonly #sent = new Set<(m: SentMessage) => void>();
  #pumping = false;
  #again = false;
  #retry: ReturnType<typeof setTimeout> | null = null;
  #disposed = false;
  readonly #stop: () => void;

  constructor(
    private readonly ctx: Context,
    private readonly relay: Relay,
  ) {
    this.#stop = relay.on("status", (s) => {
      if (s === "online") void this.#pump();
    });
  }

  /** Takes up what the keystore kept from before a reload. */
  restore(): void {
    for (const stored of this.ctx.keystore.secrets.outbox ?? []) {
      const id = stored.messageId as MessageId;
      if (this.#entries.has(id)) continue;
      const lost = stored.envelope === null && stored.files.length > 0;
      this.#entries.set(id, {
        stored: { ...stored, error: lost ? "the files were not uploaded before the app closed; attach them again" : stored.error },
        files: null,
        state: lost || stored.error !== null ? "failed" : "queued",
        progress: 0,
        resealed: false,
      });
    }
    this.#notify();
    void this.#pump();
  }

  /** Stops following the relay. */
  dispose(): void {
    this.#disposed = true;
    this.#stop();
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#retry = null;
  }

  /** The server could not be reached over REST while the relay was up:
   *  try again in a while even if the relay stays online. */
  #later(): void {
    if (this.#retry !== null || this.#disposed) return;
    this.#retry = setTimeout(() => {
      this.#retry = null;
      void this.#pump();
    }, RETRY_MS);
  }

  /** The messages not yet acknowledged, oldest first. */
  list(): OutgoingMessage[] {
    return [...this.#entries.values()].map((e) => ({
      messageId: e.stored.messageId as MessageId,
      threadId: e.stored.threadId as ThreadId,
      text: e.stored.text,
      files: e.stored.files.map((f) => f.name),
      state: e.state,
      progress: e.progress,
      error: e.stored.error,
    }));
  }

  onChange(listener: (list: OutgoingMessage[]) => void): () => void {
    this.#changed.add(listener);
    return () => this.#changed.delete(listener);
  }

  onSent(listener: (m: SentMessage) => void): () => void {
    this.#sent.add(listener);
    return () => this.#sent.delete(listener);
  }

  /** Queues a message; it is sealed and sent as soon as the relay is online. */
  async compose(thread: ThreadId, text: string, files: readonly OutgoingFile[] = []): Promise<MessageId> {
    if (text.trim() === "" && files.length === 0) {
      throw ClientError.refused("nothing to send: write some text or attach a file");
    }
    const messageId = randomId<MessageId>();
    const stored: OutboxEntry = {
      threadId: thread,
      messageId,
      text,
      files: files.map((f) => ({ name: f.name, mediaType: f.mediaType ?? mediaType(f.name), size: f.bytes.length })),
      envelope: null,
      error: null,
      createdAtMs: Date.now(),
    };
    this.#entries.set(messageId, { stored, files: [...files], state: "queued", progress: 0, resealed: false });
    await this.#persist(stored);
    this.#notify();
    void this.#pump();
    return messageId;
  }

  /** Tries a failed message again. */
  retry(messageId: MessageId): void {
    const e = this.#entries.get(messageId);
    if (e === undefined || e.state !== "failed") return;
    if (e.stored.envelope === null && e.stored.files.length > 0 && e.files === null) return;
    e.stored = { ...e.stored, error: null };
    e.state = "queued";
    e.resealed = false;
    this.#notify();
    void this.#persist(e.stored).then(() => this.#pump());
  }

  /** Gives up a message that was not sent. */
  async discard(messageId: MessageId): Promise<void> {
    const e = this.#entries.get(messageId);
    if (e === undefined || e.state === "sending" || e.state === "sealing" || e.state === "uploading") return;
    this.#entries.delete(messageId);
    await this.#forget(messageId);
    this.#notify();
  }

  #notify(): void {
    const list = this.list();
    for (const l of [...this.#changed]) {
      try {
        l(list);
      } catch {
        // The listener's failure is its own.
      }
    }
  }

  async #persist(stored: OutboxEntry): Promise<void> {
    await updateSecrets(this.ctx, (s) => {
      const list = (s.outbox ??= []);
      const i = list.findIndex((x) => x.messageId === stored.messageId);
      if (i < 0) list.push(stored);
      else list[i] = stored;
    });
  }

  async #forget(messageId: string): Promise<void> {
    await updateSecrets(this.ctx, (s) => {
      s.outbox = (s.outbox ?? []).filter((x) => x.messageId !== messageId);
    });
  }

  /** Sends what waits, in order, while the relay is online. */
  async #pump(): Promise<void> {
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        for (const [id, e] of [...this.#entries]) {
          if (this.relay.status !== "online") break;
          if (e.state !== "queued" || !this.#entries.has(id)) continue;
          await this.#one(id, e);
        }
      } while (this.#again && this.relay.status === "online");
    } finally {
      this.#pumping = false;
    }
  }

  async #one(id: MessageId, e: Entry): Promise<void> {
    const thread = e.stored.threadId as ThreadId;
    try {
      let envelope = e.stored.envelope;
      if (envelope === null) {
        e.state = "sealing";
        this.#notify();
        const prepared = await prepareMessage(
          this.ctx,
          thread,
          e.stored.text,
          e.files ?? [],
          (tick) => {
            if (tick.kind !== "bytes") return;
            e.state = "uploading";
            e.progress = tick.total === null || tick.total === 0 ? 0 : tick.done / tick.total;
            this.#notify();
          },
          id,
        );
        envelope = b64Encode(prepared.envelope);
        e.stored = { ...e.stored, envelope };
        // Kept before it is first sent: a resend must carry these bytes.
        await this.#persist(e.stored);
      }
      e.state = "sending";
      this.#notify();
      const ack = await this.relay.send(thread, id, b64Decode(envelope));
      this.#entries.delete(id);
      await this.#forget(id);
      await sentAt(this.ctx, thread, ack.seq);
      this.#notify();
      for (const l of [...this.#sent]) {
        try {
          l({ threadId: thread, messageId: id, seq: ack.seq });
        } catch {
          // The listener's failure is its own.
        }
      }
    } catch (err) {
      if (transient(err)) {
        e.state = "queued";
        this.#notify();
        this.#later();
        return;
      }
      const resealable = e.stored.files.length === 0 || e.files !== null;
      if (err instanceof RelayError && err.code === "conflict" && !e.resealed && resealable) {
        // Sealed to keys that are no longer the thread's (a rotation): this
        // id was not stored, so it is sealed again, once.
        e.resealed = true;
        e.stored = { ...e.stored, envelope: null };
        e.state = "queued";
        await this.#persist(e.stored);
        this.#again = true;
        return;
      }
      const shown = sendError(err);
      e.state = "failed";
      e.stored = { ...e.stored, error: shown instanceof Error ? shown.message : "the message could not be sent" };
      await this.#persist(e.stored);
      this.#notify();
    }
  }
}
