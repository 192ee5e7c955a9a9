// The staff's local search: matching (every term, as a substring, across
// Danish and Swedish letters), the index's upkeep (only changed threads are
// opened again), and its storage: encrypted, bound to this account and
// device, unreadable without the keystore.

import { describe, expect, it } from "vitest";
import { Keystore, type MarkerStore, memoryBacking, type Secrets } from "../../src/client/keystore";
import type { ThreadRow, ThreadView } from "../../src/client/model";
import { SearchIndex, searchIn, terms, type IndexedMessage } from "../../src/client/search";
import type { ThreadId } from "../../src/protocol";
import { b64Encode } from "../../src/protocol";

const T1 = "0193c0de-7c1a-7d2e-9f00-00000000a001" as ThreadId;
const T2 = "0193c0de-7c1a-7d2e-9f00-00000000a002" as ThreadId;

function marker(): MarkerStore {
  const items = new Map<string, string>();
  return { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => void items.set(k, v), removeItem: (k) => void items.delete(k) };
}

function secrets(seed: number, over: Partial<Secrets> = {}): Secrets {
  return {
    accountId: "0193c0de-7c1a-7d2e-9f00-5b1e2f3a4b5c",
    deviceId: "0193c0de-7c1a-7d2e-9f00-000000000001",
    orgId: "0193c0de-7c1a-7d2e-9f00-000000000002",
    orgName: "Randers Kommune",
    rootPublicKey: "A".repeat(43),
    rootChecked: true,
    displayName: "Sara Holm",
    kind: "staff",
    identitySeed: b64Encode(new Uint8Array(32).fill(seed)),
    agreementSecret: "C".repeat(43),
    holders: [],
    refreshToken: null,
    accessToken: null,
    accessExpires: 0,
    pins: {},
    ...over,
  };
}

const message = (seq: number, text: string, atMs = seq * 1000): IndexedMessage => ({ seq, atMs, sender: "Maja", text });

function row(threadId: ThreadId, messages: number): ThreadRow {
  return {
    threadId,
    teamId: "0193c0de-7c1a-7d2e-9f00-0000000000aa" as ThreadRow["teamId"],
    team: "Jobcenter",
    participants: [],
    messages,
    unread: 0,
    lastActivityMs: 0,
    journaledUpTo: null,
    journaledCase: null,
    onHold: false,
  };
}

function view(threadId: ThreadId, texts: string[]): ThreadView {
  return {
    row: row(threadId, texts.length),
    organisation: "Randers Kommune",
    banners: [],
    messages: texts.map((text, i) => ({
      seq: i + 1,
      atMs: (i + 1) * 1000,
      sender: { kind: "citizen", accountId: "a" as never, name: "Maja", assurance: "substantial", me: false },
      body: { status: "ok", text, attachments: [] },
      delivered: false,
      read: false,
    })),
  } as unknown as ThreadView;
}

describe("matching", () => {
  const entries = new Map<ThreadId, IndexedMessage[]>([
    [T1, [message(1, "Husk mødet på torsdag kl. 10"), message(2, "Tak, jeg kommer")]],
    [T2, [message(1, "Jag kommer till mötet på fredag", 5000)]],
  ]);

  it("finds every term as a substring, in any case, newest first", () => {
    expect(searchIn(entries, "MØDE").map((h) => [h.threadId, h.seq])).toEqual([[T1, 1]]);
    expect(searchIn(entries, "kommer").map((h) => [h.threadId, h.seq])).toEqual([
      [T2, 1],
      [T1, 2],
    ]);
    expect(searchIn(entries, "kommer fredag").map((h) => h.threadId)).toEqual([T2]);
    expect(searchIn(entries, "mødet fredag")).toEqual([]);
    expect(searchIn(entries, "   ")).toEqual([]);
  });

  it("shows the words around the match", () => {
    const [hit] = searchIn(entries, "torsdag");
    expect([hit?.before, hit?.match, hit?.after]).toEqual(["Husk mødet på ", "torsdag", " kl. 10"]);
  });

  it("normalises the query's words", () => {
    expect(terms("  Møde  møde ＭＯＤＥ ")).toEqual(["møde", "mode"]);
  });
});

describe("the index", () => {
  it("opens only threads with new messages, and keeps the index encrypted for this device", async () => {
    const backing = memoryBacking();
    const keystore = await Keystore.create(backing, marker(), secrets(7));
    const index = await SearchIndex.open(keystore);
    const opened: ThreadId[] = [];
    const content = new Map<ThreadId, string[]>([
      [T1, ["Husk mødet på torsdag"]],
      [T2, ["Velkommen"]],
    ]);
    const viewOf = (id: ThreadId): Promise<ThreadView> => {
      opened.push(id);
      return Promise.resolve(view(id, content.get(id) ?? []));
    };
    await index.update([row(T1, 1), row(T2, 1)], viewOf);
    expect(opened).toEqual([T1, T2]);
    expect(index.search("torsdag")).toHaveLength(1);

    // Nothing new: nothing is opened. A new message in T2: only T2 is.
    await index.update([row(T1, 1), row(T2, 1)], viewOf);
    expect(opened).toEqual([T1, T2]);
    content.set(T2, ["Velkommen", "Kan vi flytte torsdag?"]);
    await index.update([row(T1, 1), row(T2, 2)], viewOf);
    expect(opened).toEqual([T1, T2, T2]);
    expect(index.search("torsdag").map((h) => h.threadId)).toEqual([T2, T1]);

    // Stored encrypted: the words are not in the stored record.
    const stored = JSON.stringify([...backing.records.entries()].map(([k, v]) => [k, v instanceof CryptoKey ? "key" : v]));
    expect(stored).not.toContain("torsdag");
    expect(backing.records.has("record:search-index")).toBe(true);

    // Opened again, it needs no thread.
    const again = await SearchIndex.open(keystore);
    expect(again.search("torsdag")).toHaveLength(2);
    expect(again.stale([row(T1, 1), row(T2, 2)])).toEqual([]);

    // A thread no longer listed leaves the index.
    await again.update([row(T1, 1)], viewOf);
    expect(again.search("torsdag").map((h) => h.threadId)).toEqual([T1]);
  });

  it("does not open for another device's keys (the control: the same device's keys do)", async () => {
    const backing = memoryBacking();
    const mine = await Keystore.create(backing, marker(), secrets(7));
    const index = await SearchIndex.open(mine);
    await index.update([row(T1, 1)], (id) => Promise.resolve(view(id, ["hemmeligt ord"])));
    expect((await SearchIndex.open(mine)).size).toBe(1);
    // The same record, read by a keystore with another identity seed.
    const other = memoryBacking();
    const theirs = await Keystore.create(other, marker(), secrets(8));
    await other.put("record:search-index", await backing.get("record:search-index"));
    expect((await SearchIndex.open(theirs)).size).toBe(0);
  });
});
