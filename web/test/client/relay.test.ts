// The relay client against a scripted WebSocket: authentication in the
// first frame, close codes that end the session or are retried, backoff
// with jitter, catch-up from each thread's cursor after a reconnect, sends
// repeated byte for byte until acknowledged, and receipts kept while
// offline. The real server is in citizen.integration.test.ts.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { DeviceKeys, randomId, Receipt, type MessageId, type ThreadId } from "../../src/protocol";
import { Relay, wsUrl, type Delivered, type RelayError, type RelayStatus, type WebSocketFactory } from "../../src/client/relay";

class FakeSocket {
  static made: FakeSocket[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  readonly sent: Record<string, unknown>[] = [];
  closedWith: number | null = null;

  constructor(
    readonly url: string,
    readonly protocols: string | string[] | undefined,
  ) {
    FakeSocket.made.push(this);
    queueMicrotask(() => this.onopen?.({}));
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code = 1000, reason = ""): void {
    this.closedWith = code;
    this.onclose?.({ code, reason });
  }

  frame(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  ready(): void {
    this.frame({ type: "ready", device_id: randomId(), server_time_ms: Date.now() });
  }

  types(): unknown[] {
    return this.sent.map((f) => f.type);
  }
}

const Factory = FakeSocket as unknown as WebSocketFactory;

function last(): FakeSocket {
  const s = FakeSocket.made.at(-1);
  if (s === undefined) throw new Error("no socket was opened");
  return s;
}

function relay(tokens = { token: () => Promise.resolve<string | null>("tok-1"), renew: () => Promise.resolve<string | null>("tok-2") }): Relay {
  return new Relay({ url: "ws://127.0.0.1:1/ws", tokens, WebSocket: Factory, backoffMs: 100, maxBackoffMs: 1000, random: () => 1 });
}

/** Lets the relay's promises and timers run. */
async function tick(ms = 0): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

async function online(r: Relay): Promise<FakeSocket> {
  r.start();
  await tick();
  const s = last();
  s.ready();
  await tick();
  expect(r.status).toBe("online");
  return s;
}

describe("the relay client", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    FakeSocket.made = [];
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("connects to the same origin's /ws and authenticates in its first frame, never in the URL", async () => {
    expect(wsUrl("https://samtale.randers.dk/")).toBe("wss://samtale.randers.dk/ws");
    expect(wsUrl("http://127.0.0.1:8080")).toBe("ws://127.0.0.1:8080/ws");
    const r = relay();
    const statuses: RelayStatus[] = [];
    r.on("status", (s) => statuses.push(s));
    r.start();
    await tick();
    const s = last();
    expect(s.url).toBe("ws://127.0.0.1:1/ws");
    expect(s.protocols).toEqual(["samtale.v1"]);
    expect(s.sent).toEqual([{ type: "auth", token: "tok-1" }]);
    expect(r.status).toBe("connecting");
    s.ready();
    await expect(r.ready()).resolves.toBeUndefined();
    expect(statuses).toEqual(["connecting", "online"]);
    r.close();
    expect(s.closedWith).toBe(1000);
  });

  it("sends a message again after a reconnect with the very same bytes and resolves once, on its ack", async () => {
    const r = relay();
    const first = await online(r);
    const thread = randomId<ThreadId>();
    const id = randomId<MessageId>();
    const sending = r.send(thread, id, new Uint8Array([1, 2, 3]));
    const frame = first.sent.at(-1);
    expect(frame).toMatchObject({ type: "send", thread_id: thread, message_id: id, envelope: "AQID" });
    expect(r.send(thread, id, new Uint8Array([1, 2, 3]))).toBe(sending);
    await expect(r.send(thread, id, new Uint8Array([9]))).rejects.toThrow("already being sent with other content");

    first.close(1006);
    expect(r.status).toBe("offline");
    await tick(100);
    const second = last();
    expect(second).not.toBe(first);
    second.ready();
    await tick();
    expect(second.sent.filter((f) => f.type === "send")).toEqual([frame]);
    second.frame({ type: "ack", thread_id: thread, message_id: id, seq: 7, committed_at_ms: 1 });
    await expect(sending).resolves.toEqual({ seq: 7, committedAtMs: 1 });
    r.close();
  });

  it("takes a connection that does not acknowledge in time for dead and sends again on a new one", async () => {
    const r = new Relay({
      url: "ws://x/ws",
      tokens: { token: () => Promise.resolve("t"), renew: () => Promise.resolve("t") },
      WebSocket: Factory,
      backoffMs: 100,
      answerWaitMs: 2_000,
      random: () => 1,
    });
    const first = await online(r);
    const id = randomId<MessageId>();
    const sending = r.send(randomId(), id, new Uint8Array([5]));
    await tick(2_000);
    expect(first.closedWith).toBe(1000);
    await tick(100);
    const second = last();
    second.ready();
    await tick();
    expect(second.types()).toContain("send");
    second.frame({ type: "ack", thread_id: randomId(), message_id: id, seq: 1, committed_at_ms: 1 });
    await expect(sending).resolves.toMatchObject({ seq: 1 });
    r.close();
  });

  it.each([
    [4005, "device_revoked"],
    [4003, "authentication_failed"],
    [4011, "consent_withdrawn"],
  ] as const)("ends the session on close code %i and does not reconnect", async (code, name) => {
    const r = relay();
    const s = await online(r);
    const ended: RelayError[] = [];
    r.on("ended", (e) => ended.push(e));
    const sending = r.send(randomId(), randomId(), new Uint8Array([1]));
    s.frame({ type: "error", code: name, message: "the session is over" });
    s.close(code);
    await expect(sending).rejects.toMatchObject({ code: name });
    expect(ended).toEqual([expect.objectContaining({ code: name, message: "the session is over" })]);
    expect(r.status).toBe("offline");
    await tick(60_000);
    expect(FakeSocket.made).toHaveLength(1);
  });

  it.each([1001, 1013, 1006, 4013])("reconnects after close code %i", async (code) => {
    const r = relay();
    const s = await online(r);
    s.close(code);
    await tick(100);
    expect(FakeSocket.made).toHaveLength(2);
    r.close();
  });

  it("backs off exponentially, with jitter, up to its ceiling, and starts over once connected", async () => {
    const r = new Relay({
      url: "ws://x/ws",
      tokens: { token: () => Promise.resolve("t"), renew: () => Promise.resolve("t") },
      WebSocket: Factory,
      backoffMs: 100,
      maxBackoffMs: 1000,
      random: () => 0,
    });
    r.start();
    await tick();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = FakeSocket.made.length;
      last().close(1006);
      let waited = 0;
      while (FakeSocket.made.length === before) {
        await tick(10);
        waited += 10;
      }
      delays.push(waited);
    }
    // random() = 0 takes the low end of each window: half the ceiling.
    expect(delays).toEqual([50, 100, 200, 400, 500, 500]);
    last().ready();
    await tick();
    last().close(1006);
    await tick(50);
    expect(FakeSocket.made).toHaveLength(8);
    r.close();
  });

  it("renews an expired token before connecting again", async () => {
    const renew = vi.fn(() => Promise.resolve<string | null>("tok-2"));
    const r = relay({ token: () => Promise.resolve("tok-1"), renew });
    r.start();
    await tick();
    last().close(4004);
    await tick();
    expect(renew).toHaveBeenCalledWith("tok-1");
    expect(last().sent[0]).toEqual({ type: "auth", token: "tok-2" });
    r.close();
  });

  it("syncs every subscribed thread from its cursor after each reconnect and delivers each message once", async () => {
    const r = relay();
    const thread = randomId<ThreadId>();
    r.subscribe(thread, 3);
    const got: Delivered[] = [];
    r.onDeliver((d) => got.push(d));
    const first = await online(r);
    expect(first.sent).toContainEqual({ type: "sync", thread_id: thread, after_seq: 3 });
    const deliver = (s: FakeSocket, seq: number): void =>
      s.frame({ type: "deliver", thread_id: thread, seq, message_id: randomId(), committed_at_ms: seq, envelope: "AA" });
    deliver(first, 4);
    deliver(first, 5);
    deliver(first, 5);
    first.frame({ type: "synced", thread_id: thread, up_to_seq: 5 });
    expect(got.map((d) => d.seq)).toEqual([4, 5]);
    first.close(1001);
    await tick(100);
    const second = last();
    second.ready();
    await tick();
    expect(second.sent).toContainEqual({ type: "sync", thread_id: thread, after_seq: 5 });
    deliver(second, 6);
    expect(got.map((d) => d.seq)).toEqual([4, 5, 6]);
    expect(r.cursor(thread)).toBe(6);
    r.close();
  });

  it("keeps receipts while offline, the newest per thread and kind, and sends them once online", async () => {
    const r = relay();
    const device = DeviceKeys.generate();
    const thread = randomId<ThreadId>();
    r.receipt(Receipt.sign(device, thread, 3n, "delivered", 1n));
    r.receipt(Receipt.sign(device, thread, 5n, "delivered", 2n));
    r.receipt(Receipt.sign(device, thread, 4n, "delivered", 3n));
    r.receipt(Receipt.sign(device, thread, 2n, "read", 4n));
    const s = await online(r);
    await tick(100);
    const receipts = s.sent.filter((f) => f.type === "receipt").map((f) => Receipt.decodeAndVerify(
      Uint8Array.from(Buffer.from(String(f.receipt), "base64url")),
    ));
    expect(receipts.map((x) => [x.kind, x.upToSeq])).toEqual([
      ["delivered", 5n],
      ["read", 2n],
    ]);
    r.close();
  });

  it("reports a session that is not stored without opening a socket", async () => {
    const r = relay({ token: () => Promise.resolve(null), renew: () => Promise.resolve(null) });
    const ended = new Promise<RelayError>((resolve) => r.on("ended", resolve));
    r.start();
    await tick();
    await expect(ended).resolves.toMatchObject({ code: "authentication_failed" });
    expect(FakeSocket.made).toHaveLength(0);
  });
});
