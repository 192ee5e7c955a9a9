// The live connection to the relay (PROTOCOL.md §11, API.md "The relay"):
// the browser's counterpart of client-cli/src/relay.rs, grown into what a
// page needs. One WebSocket at the same origin's `/ws`, subprotocol
// `samtale.v1`, the access token in the first frame (never in the URL).
//
// - Reconnects with exponential backoff and jitter; the close code decides:
//   4005 (device revoked), 4003 (authentication failed) and 4011 (consent
//   withdrawn) end the session, which is reported and not retried; 4004
//   renews the token first; anything else (1001 going away, 1013
//   unavailable, a lost network) is retried.
// - After each (re)connect every subscribed thread is synced from its
//   cursor, so nothing that arrived meanwhile is missed; `deliver` events
//   go to the listeners, each message once.
// - `send` resolves on the server's `ack`. Until then the sealed envelope
//   is kept and sent again, byte for byte, after a reconnect: the server
//   answers a resend of the same message id with the same ack, and refuses
//   the same id with other bytes.
// - Receipts are kept while offline (the newest per thread and kind) and
//   sent once online.

import {
  b64Encode,
  FrameError,
  frameToJson,
  parseServerFrame,
  WS_SUBPROTOCOL,
  type ClientFrame,
  type ErrorCode,
  type MessageId,
  type Receipt,
  type ServerFrame,
  type ThreadId,
} from "../protocol";
import type { StoredMessage } from "../protocol/rest";
import type { TokenSource } from "./api";

export type RelayStatus = "online" | "connecting" | "offline";

/** A WebSocket constructor: the browser's, or Node's (tests). */
export type WebSocketFactory = new (url: string, protocols?: string | string[]) => WebSocket;

/** Why the relay refused something or ended. */
export class RelayError extends Error {
  override readonly name = "RelayError";
  constructor(
    /** The server's code, or `closed` / `timeout`. */
    readonly code: ErrorCode | "closed" | "timeout",
    message: string,
  ) {
    super(message);
  }
}

/** A message the relay delivered. */
export interface Delivered extends StoredMessage {
  threadId: ThreadId;
}

/** The server stored a message. */
export interface Ack {
  seq: number;
  committedAtMs: number;
}

export interface RelayEvents {
  status: RelayStatus;
  deliver: Delivered;
  synced: { threadId: ThreadId; upToSeq: number };
  /** A receipt another device signed (to verify before use). */
  receipt: string;
  /** A refusal that answers no send of this client (not fatal). */
  error: RelayError;
  /** The session is over: revoked, logged out, consent withdrawn. */
  ended: RelayError;
  /** What this account may see changed (it left a team): the connection
   *  closed with 4007 and comes back; lists and open threads are to be
   *  loaded again. */
  access: RelayError;
}

export interface RelayOptions {
  /** `ws(s)://host/ws` (see `wsUrl`). */
  url: string;
  /** Access tokens (shared by the tabs; renewed when expired). */
  tokens: TokenSource;
  WebSocket?: WebSocketFactory;
  /** The first retry delay and the longest, in ms. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** How long to wait for `ready` and for an `ack`, in ms. */
  answerWaitMs?: number;
  /** For the jitter (tests pass a fixed one). */
  random?: () => number;
}

/** Close codes after which the session is over (PROTOCOL.md §12). */
const SESSION_OVER: Readonly<Record<number, ErrorCode>> = {
  4003: "authentication_failed",
  4005: "device_revoked",
  4011: "consent_withdrawn",
};
const TOKEN_EXPIRED = 4004;
const ACCESS_CHANGED = 4007;

/** The relay's address for a server's base URL (`""`: this page's origin). */
export function wsUrl(base: string): string {
  const origin = base !== "" ? base : (globalThis.location?.origin ?? "");
  const trimmed = origin.replace(/\/+$/, "");
  if (trimmed.startsWith("https://")) return `wss://${trimmed.slice(8)}/ws`;
  if (trimmed.startsWith("http://")) return `ws://${trimmed.slice(7)}/ws`;
  return `${trimmed}/ws`;
}

interface PendingSend {
  thread: ThreadId;
  envelope: string;
  resolve: (ack: Ack) => void;
  reject: (e: RelayError) => void;
  promise: Promise<Ack>;
  timer: ReturnType<typeof setTimeout> | null;
}

type Listeners = { [K in keyof RelayEvents]: Set<(value: RelayEvents[K]) => void> };

export class Relay {
  readonly #options: Required<Omit<RelayOptions, "WebSocket">> & { WebSocket: WebSocketFactory | undefined };
  #status: RelayStatus = "offline";
  #socket: WebSocket | null = null;
  /** Each socket's events are ignored once another one replaced it. */
  #generation = 0;
  #running = false;
  /** Waiting for a token before opening a socket. */
  #connecting = false;
  #attempt = 0;
  #retry: ReturnType<typeof setTimeout> | null = null;
  #readyTimer: ReturnType<typeof setTimeout> | null = null;
  #receiptTimer: ReturnType<typeof setTimeout> | null = null;
  #token: string | null = null;
  #renewNext = false;
  #lastError: RelayError | null = null;
  readonly #cursors = new Map<ThreadId, number>();
  readonly #pending = new Map<MessageId, PendingSend>();
  readonly #receipts = new Map<string, Receipt>();
  #waiters: { resolve: () => void; reject: (e: RelayError) => void }[] = [];
  readonly #listeners: Listeners = {
    status: new Set(),
    deliver: new Set(),
    synced: new Set(),
    receipt: new Set(),
    error: new Set(),
    ended: new Set(),
    access: new Set(),
  };

  constructor(options: RelayOptions) {
    this.#options = {
      url: options.url,
      tokens: options.tokens,
      WebSocket: options.WebSocket ?? (globalThis as { WebSocket?: WebSocketFactory }).WebSocket,
      backoffMs: options.backoffMs ?? 500,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      answerWaitMs: options.answerWaitMs ?? 30_000,
      random: options.random ?? Math.random,
    };
  }

  get status(): RelayStatus {
    return this.#status;
  }

  /** Listens to an event; returns the function that stops listening. */
  on<K extends keyof RelayEvents>(event: K, listener: (value: RelayEvents[K]) => void): () => void {
    const set = this.#listeners[event] as Set<(value: RelayEvents[K]) => void>;
    set.add(listener);
    return () => set.delete(listener);
  }

  onDeliver(listener: (d: Delivered) => void): () => void {
    return this.on("deliver", listener);
  }

  /** Starts connecting (and keeps the connection up until `close`). */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#attempt = 0;
    void this.#connect();
  }

  /** Resolves once the relay is online (at once if it is). */
  ready(): Promise<void> {
    if (this.#status === "online") return Promise.resolve();
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Tries again now instead of waiting out the backoff (the network came
   *  back, the page became visible). */
  nudge(): void {
    if (!this.#running || this.#socket !== null || this.#connecting) return;
    this.#clearRetry();
    void this.#connect();
  }

  /** The browser says the network is gone: the connection is treated as
   *  lost at once (a page cannot ping to find out), and reconnects with the
   *  backoff, or when `nudge` says the network is back. */
  networkLost(): void {
    if (!this.#running || this.#socket === null) return;
    const socket = this.#socket;
    this.#generation += 1;
    try {
      socket.close(1000, "offline");
    } catch {
      // Already closing.
    }
    this.#closed(1006, "offline");
  }

  /** Closes the connection for good; unacknowledged sends are refused
   *  (the outbox keeps them). */
  close(): void {
    this.#running = false;
    this.#clearRetry();
    this.#clearReady();
    const socket = this.#socket;
    this.#socket = null;
    this.#generation += 1;
    socket?.close(1000, "closing");
    const closed = new RelayError("closed", "the live connection was closed");
    this.#failAll(closed);
    this.#setStatus("offline");
  }

  /** Follows a thread from `after` (the last seq this client has): the
   *  relay sends anything newer, then live traffic, and again from the
   *  cursor after every reconnect. */
  subscribe(thread: ThreadId, after: number): void {
    const known = this.#cursors.get(thread);
    const cursor = Math.max(known ?? 0, after);
    this.#cursors.set(thread, cursor);
    if (known === undefined || cursor > known) this.#transmit({ type: "sync", thread_id: thread, after_seq: cursor });
  }

  unsubscribe(thread: ThreadId): void {
    this.#cursors.delete(thread);
  }

  /** The last seq delivered (or synced) in a subscribed thread. */
  cursor(thread: ThreadId): number | undefined {
    return this.#cursors.get(thread);
  }

  /** Sends a sealed envelope; resolves with the server's ack. The bytes are
   *  kept and sent again after a reconnect until the ack comes. */
  send(thread: ThreadId, messageId: MessageId, envelope: Uint8Array): Promise<Ack> {
    const text = b64Encode(envelope);
    const known = this.#pending.get(messageId);
    if (known !== undefined) {
      return known.envelope === text
        ? known.promise
        : Promise.reject(new RelayError("conflict", "this message id is already being sent with other content"));
    }
    let resolve!: (ack: Ack) => void;
    let reject!: (e: RelayError) => void;
    const promise = new Promise<Ack>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: PendingSend = { thread, envelope: text, resolve, reject, promise, timer: null };
    this.#pending.set(messageId, entry);
    this.#sendPending(messageId, entry);
    return promise;
  }

  /** Sends a signed receipt (kept, the newest per thread and kind, while
   *  offline). */
  receipt(receipt: Receipt): void {
    const key = `${receipt.threadId}:${receipt.kind}`;
    const known = this.#receipts.get(key);
    if (known === undefined || known.upToSeq < receipt.upToSeq) this.#receipts.set(key, receipt);
    this.#scheduleReceipts();
  }

  // ---- internals

  #emit<K extends keyof RelayEvents>(event: K, value: RelayEvents[K]): void {
    for (const listener of [...this.#listeners[event]] as ((value: RelayEvents[K]) => void)[]) {
      try {
        listener(value);
      } catch {
        // A listener's failure is its own; the connection goes on.
      }
    }
  }

  #setStatus(status: RelayStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.#emit("status", status);
  }

  #clearRetry(): void {
    if (this.#retry !== null) clearTimeout(this.#retry);
    this.#retry = null;
  }

  #clearReady(): void {
    if (this.#readyTimer !== null) clearTimeout(this.#readyTimer);
    this.#readyTimer = null;
  }

  #failAll(error: RelayError): void {
    for (const p of this.#pending.values()) {
      if (p.timer !== null) clearTimeout(p.timer);
      p.reject(error);
    }
    this.#pending.clear();
    for (const w of this.#waiters) w.reject(error);
    this.#waiters = [];
  }

  async #connect(): Promise<void> {
    if (!this.#running || this.#socket !== null || this.#connecting) return;
    this.#setStatus("connecting");
    let token: string | null;
    this.#connecting = true;
    try {
      token = this.#renewNext && this.#token !== null ? await this.#options.tokens.renew(this.#token) : await this.#options.tokens.token();
    } catch {
      this.#scheduleRetry();
      return;
    } finally {
      this.#connecting = false;
    }
    this.#renewNext = false;
    if (!this.#running || this.#socket !== null) return;
    if (token === null) {
      this.#end(new RelayError("authentication_failed", "no session is stored: log in again"));
      return;
    }
    this.#token = token;
    const Factory = this.#options.WebSocket;
    if (Factory === undefined) {
      this.#end(new RelayError("closed", "this browser cannot open a live connection (no WebSocket)"));
      return;
    }
    let socket: WebSocket;
    try {
      socket = new Factory(this.#options.url, [WS_SUBPROTOCOL]);
    } catch {
      this.#scheduleRetry();
      return;
    }
    const generation = ++this.#generation;
    const mine = (): boolean => generation === this.#generation;
    this.#socket = socket;
    this.#lastError = null;
    socket.onopen = () => {
      if (mine()) socket.send(frameToJson({ type: "auth", token }));
    };
    socket.onmessage = (ev: MessageEvent) => {
      if (mine() && typeof ev.data === "string") this.#frame(ev.data);
    };
    socket.onclose = (ev: CloseEvent) => {
      if (mine()) this.#closed(ev.code, ev.reason);
    };
    socket.onerror = () => undefined;
    this.#clearReady();
    this.#readyTimer = setTimeout(() => {
      if (mine() && this.#status !== "online") socket.close(1000, "no answer in time");
    }, this.#options.answerWaitMs);
  }

  #frame(text: string): void {
    let frame: ServerFrame;
    try {
      frame = parseServerFrame(text);
    } catch (e) {
      if (e instanceof FrameError) {
        this.#emit("error", new RelayError(e.code, `the server sent a frame this client does not understand: ${e.message}`));
        return;
      }
      throw e;
    }
    switch (frame.type) {
      case "ready":
        return this.#ready();
      case "ack": {
        const p = this.#pending.get(frame.message_id);
        if (p === undefined) return;
        if (p.timer !== null) clearTimeout(p.timer);
        this.#pending.delete(frame.message_id);
        p.resolve({ seq: frame.seq, committedAtMs: frame.committed_at_ms });
        return;
      }
      case "deliver": {
        const cursor = this.#cursors.get(frame.thread_id);
        if (cursor !== undefined) {
          if (frame.seq <= cursor) return;
          this.#cursors.set(frame.thread_id, frame.seq);
        }
        this.#emit("deliver", {
          threadId: frame.thread_id,
          seq: frame.seq,
          message_id: frame.message_id,
          committed_at_ms: frame.committed_at_ms,
          envelope: frame.envelope,
        });
        return;
      }
      case "synced": {
        const cursor = this.#cursors.get(frame.thread_id);
        if (cursor !== undefined && frame.up_to_seq > cursor) this.#cursors.set(frame.thread_id, frame.up_to_seq);
        this.#emit("synced", { threadId: frame.thread_id, upToSeq: frame.up_to_seq });
        return;
      }
      case "receipt":
        this.#emit("receipt", frame.receipt);
        return;
      case "error":
        return this.#error(new RelayError(frame.code, frame.message), frame.message_id);
    }
  }

  #ready(): void {
    this.#clearReady();
    this.#attempt = 0;
    this.#setStatus("online");
    for (const w of this.#waiters) w.resolve();
    this.#waiters = [];
    for (const [thread, after] of this.#cursors) this.#transmit({ type: "sync", thread_id: thread, after_seq: after });
    for (const [id, p] of this.#pending) this.#sendPending(id, p);
    this.#scheduleReceipts();
  }

  #error(error: RelayError, messageId: MessageId | undefined): void {
    this.#lastError = error;
    const p = messageId === undefined ? undefined : this.#pending.get(messageId);
    if (messageId === undefined || p === undefined) {
      this.#emit("error", error);
      return;
    }
    if (p.timer !== null) clearTimeout(p.timer);
    if (error.code === "rate_limited") {
      // The frame was dropped: send it again a little later.
      p.timer = setTimeout(() => this.#sendPending(messageId, p), 1000);
      return;
    }
    this.#pending.delete(messageId);
    p.reject(error);
  }

  #closed(code: number, reason: string): void {
    this.#socket = null;
    this.#clearReady();
    for (const p of this.#pending.values()) {
      if (p.timer !== null) clearTimeout(p.timer);
      p.timer = null;
    }
    if (!this.#running) return;
    const over = SESSION_OVER[code];
    if (over !== undefined) {
      const why = this.#lastError?.code === over ? this.#lastError.message : reason !== "" ? reason : over.replace(/_/g, " ");
      this.#end(new RelayError(over, why));
      return;
    }
    if (code === TOKEN_EXPIRED) this.#renewNext = true;
    if (code === ACCESS_CHANGED) this.#emit("access", new RelayError("forbidden", reason !== "" ? reason : "access changed"));
    this.#scheduleRetry();
  }

  #end(error: RelayError): void {
    this.#running = false;
    this.#clearRetry();
    this.#setStatus("offline");
    this.#failAll(error);
    this.#emit("ended", error);
  }

  #scheduleRetry(): void {
    this.#socket = null;
    if (!this.#running) return;
    this.#setStatus("offline");
    const { backoffMs, maxBackoffMs, random } = this.#options;
    const ceiling = Math.min(maxBackoffMs, backoffMs * 2 ** Math.min(this.#attempt, 16));
    const delay = this.#renewNext && this.#attempt === 0 ? 0 : ceiling / 2 + random() * (ceiling / 2);
    this.#attempt += 1;
    this.#clearRetry();
    this.#retry = setTimeout(() => {
      this.#retry = null;
      void this.#connect();
    }, delay);
  }

  #transmit(frame: ClientFrame): boolean {
    if (this.#status !== "online" || this.#socket === null) return false;
    try {
      this.#socket.send(frameToJson(frame));
      return true;
    } catch {
      return false;
    }
  }

  #sendPending(messageId: MessageId, p: PendingSend): void {
    if (p.timer !== null) clearTimeout(p.timer);
    p.timer = null;
    if (!this.#transmit({ type: "send", thread_id: p.thread, message_id: messageId, envelope: p.envelope })) return;
    const socket = this.#socket;
    // No ack in time: the connection is taken for dead and made again; the
    // same bytes go out once more.
    p.timer = setTimeout(() => {
      if (this.#socket === socket) socket?.close(1000, "no answer in time");
    }, this.#options.answerWaitMs);
  }

  #scheduleReceipts(): void {
    if (this.#receiptTimer !== null || this.#receipts.size === 0 || this.#status !== "online") return;
    this.#receiptTimer = setTimeout(() => {
      this.#receiptTimer = null;
      for (const [key, r] of this.#receipts) {
        if (!this.#transmit({ type: "receipt", receipt: b64Encode(r.bytes) })) return;
        this.#receipts.delete(key);
      }
    }, 100);
  }
}
