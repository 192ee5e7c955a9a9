// Search over decrypted messages, entirely in the page: the server never
// sees a search term. The index is the opened text of each thread's
// messages, kept between visits in a record encrypted under a key derived
// from this device's keys (keystore.ts `saveRecord`; it opens only with the
// keystore, after the PIN). A thread is opened again only when it has
// messages the index has not seen (or fewer: retention removed some), so
// a search after the first costs nothing on the network.

import type { ThreadId } from "../protocol";
import type { ThreadRow, ThreadView } from "./model";
import type { Keystore } from "./keystore";

const RECORD = "search-index";

export interface IndexedMessage {
  seq: number;
  atMs: number;
  sender: string;
  text: string;
}

interface ThreadEntry {
  /** The thread's last sequence number when it was indexed. */
  upTo: number;
  messages: IndexedMessage[];
}

interface Stored {
  version: 1;
  threads: Record<string, ThreadEntry>;
}

/** One message that matches, with the words around the match. */
export interface Hit {
  threadId: ThreadId;
  seq: number;
  atMs: number;
  sender: string;
  /** Text before, the match, and text after (for highlighting). */
  before: string;
  match: string;
  after: string;
}

/** Lowercase, compatibility-normalised text for matching. */
export function normalise(text: string): string {
  return text.normalize("NFKC").toLowerCase();
}

/** The search terms of a query: words, normalised, without duplicates. */
export function terms(query: string): string[] {
  return [...new Set(normalise(query).split(/\s+/u).filter((t) => t !== ""))];
}

const CONTEXT = 40;

/** Messages whose text holds every term (as a substring: "møde" finds
 *  "mødet"), newest first. Pure: no I/O. */
export function searchIn(entries: ReadonlyMap<ThreadId, readonly IndexedMessage[]>, query: string, limit = 100): Hit[] {
  const wanted = terms(query);
  if (wanted.length === 0) return [];
  const hits: Hit[] = [];
  for (const [threadId, messages] of entries) {
    for (const m of messages) {
      const lower = normalise(m.text);
      if (!wanted.every((t) => lower.includes(t))) continue;
      // NFKC and lowercasing can change lengths; find the first term in the
      // original text where the lengths agree, else show the start.
      const first = wanted[0] as string;
      const at = lower.length === m.text.length ? lower.indexOf(first) : -1;
      const start = Math.max(0, at - CONTEXT);
      hits.push({
        threadId,
        seq: m.seq,
        atMs: m.atMs,
        sender: m.sender,
        before: at < 0 ? "" : (start > 0 ? "…" : "") + m.text.slice(start, at),
        match: at < 0 ? "" : m.text.slice(at, at + first.length),
        after:
          at < 0
            ? m.text.slice(0, CONTEXT * 2)
            : m.text.slice(at + first.length, at + first.length + CONTEXT) + (at + first.length + CONTEXT < m.text.length ? "…" : ""),
      });
    }
  }
  return hits.sort((a, b) => b.atMs - a.atMs).slice(0, limit);
}

/** The index of this device's opened messages. */
export class SearchIndex {
  private constructor(
    private readonly keystore: Keystore,
    private readonly threads: Map<ThreadId, ThreadEntry>,
  ) {}

  /** Opens the stored index (an empty one if there is none). */
  static async open(keystore: Keystore): Promise<SearchIndex> {
    const stored = await keystore.loadRecord<Stored>(RECORD);
    const threads = new Map<ThreadId, ThreadEntry>();
    if (stored?.version === 1) {
      for (const [id, entry] of Object.entries(stored.threads)) threads.set(id as ThreadId, entry);
    }
    return new SearchIndex(keystore, threads);
  }

  /** Threads whose messages changed since they were indexed. */
  stale(rows: readonly ThreadRow[]): ThreadRow[] {
    return rows.filter((r) => this.threads.get(r.threadId)?.upTo !== r.messages);
  }

  /** Indexes the stale threads (each opened and verified by `view`, as on
   *  screen), drops threads no longer listed, and saves the index. */
  async update(
    rows: readonly ThreadRow[],
    view: (thread: ThreadId) => Promise<ThreadView>,
    progress: (done: number, total: number) => void = () => undefined,
  ): Promise<void> {
    const stale = this.stale(rows);
    const listed = new Set(rows.map((r) => r.threadId));
    let changed = false;
    for (const id of [...this.threads.keys()]) {
      if (!listed.has(id)) {
        this.threads.delete(id);
        changed = true;
      }
    }
    for (const [i, row] of stale.entries()) {
      progress(i, stale.length);
      const v = await view(row.threadId);
      const messages: IndexedMessage[] = [];
      for (const m of v.messages) {
        if (m.body.status !== "ok" || m.sender === null || m.body.text === "") continue;
        messages.push({ seq: m.seq, atMs: m.atMs, sender: m.sender.name, text: m.body.text });
      }
      this.threads.set(row.threadId, { upTo: v.row.messages, messages });
      changed = true;
    }
    progress(stale.length, stale.length);
    if (changed) await this.save();
  }

  search(query: string, limit?: number): Hit[] {
    const entries = new Map<ThreadId, IndexedMessage[]>();
    for (const [id, e] of this.threads) entries.set(id, e.messages);
    return searchIn(entries, query, limit);
  }

  /** How many messages are indexed. */
  get size(): number {
    let n = 0;
    for (const e of this.threads.values()) n += e.messages.length;
    return n;
  }

  private async save(): Promise<void> {
    const threads: Record<string, ThreadEntry> = {};
    for (const [id, e] of this.threads) threads[id] = e;
    await this.keystore.saveRecord(RECORD, { version: 1, threads } satisfies Stored);
  }
}
