// The browser keystore under Node's WebCrypto (IndexedDB replaced by the
// in-memory backing, which structured-clones like IndexedDB): a round trip,
// the PIN layer, and every way a stored keystore can be wrong, each refused
// by name; and the session's tokens shared by two tabs, refreshed once.

import { describe, expect, it } from "vitest";
import { Api, ApiError } from "../../src/client/api";
import {
  clearPending,
  Keystore,
  KeystoreError,
  loadPending,
  type MarkerStore,
  memoryBacking,
  type Pending,
  savePending,
  type Secrets,
} from "../../src/client/keystore";
import { localLocks, Tokens } from "../../src/client/tokens";

function marker(): MarkerStore & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (k) => items.get(k) ?? null,
    setItem: (k, v) => void items.set(k, v),
    removeItem: (k) => void items.delete(k),
  };
}

function secrets(over: Partial<Secrets> = {}): Secrets {
  return {
    accountId: "0193c0de-7c1a-7d2e-9f00-5b1e2f3a4b5c",
    deviceId: "0193c0de-7c1a-7d2e-9f00-000000000001",
    orgId: "0193c0de-7c1a-7d2e-9f00-000000000002",
    orgName: "Randers Kommune",
    rootPublicKey: "A".repeat(43),
    rootChecked: true,
    displayName: "Maja",
    identitySeed: "B".repeat(43),
    agreementSecret: "C".repeat(43),
    holders: [{ holder: "h", epoch: 0, kind: "citizen", secret: "D".repeat(43) }],
    refreshToken: "srt_refresh",
    accessToken: "access",
    accessExpires: 0,
    pins: {},
    ...over,
  };
}

async function code(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (e) {
    if (e instanceof KeystoreError) return e.code;
    throw e;
  }
  return "opened";
}

describe("the browser keystore", () => {
  it("round-trips its secrets and keeps them only encrypted", async () => {
    const backing = memoryBacking();
    const m = marker();
    const made = await Keystore.create(backing, m, secrets());
    await made.update((s) => {
      s.displayName = "Maja H.";
    });
    const opened = await Keystore.open(backing, m);
    expect(opened.secrets.displayName).toBe("Maja H.");
    expect(opened.secrets.holders[0]?.secret).toBe("D".repeat(43));
    // Nothing readable is stored: the record holds ciphertext only.
    const stored = JSON.stringify(backing.records.get("secrets"), (_k, v: unknown) =>
      v instanceof Uint8Array ? Array.from(v) : v,
    );
    expect(stored).not.toContain("srt_refresh");
    expect(stored).not.toContain("Maja");
    // The marker says a keystore was made; it holds no secret.
    expect(Keystore.made(m)).toBe(true);
    expect([...m.items.values()].join()).not.toContain("srt_refresh");
  });

  it("refuses to open without the PIN, with a wrong PIN, and opens with the right one", async () => {
    const backing = memoryBacking();
    const m = marker();
    await Keystore.create(backing, m, secrets(), "246810");
    expect(await code(Keystore.open(backing, m))).toBe("pin_required");
    expect(await code(Keystore.open(backing, m, "135790"))).toBe("wrong_pin");
    const opened = await Keystore.open(backing, m, "246810");
    expect(opened.hasPin).toBe(true);
    // Removing the PIN opens without one afterwards.
    await opened.setPin("");
    expect(await code(Keystore.open(backing, m))).toBe("opened");
  });

  it("tells an evicted store from one never made", async () => {
    const m = marker();
    expect(await code(Keystore.open(memoryBacking(), m))).toBe("missing");
    const backing = memoryBacking();
    await Keystore.create(backing, m, secrets());
    // The browser cleared its storage but not the marker.
    backing.records.clear();
    expect(await code(Keystore.open(backing, m))).toBe("evicted");
  });

  it("refuses a truncated, altered or transplanted store by name", async () => {
    const m = marker();
    const fresh = async (): Promise<ReturnType<typeof memoryBacking>> => {
      const b = memoryBacking();
      await Keystore.create(b, m, secrets());
      return b;
    };
    const record = (b: ReturnType<typeof memoryBacking>): { ciphertext: Uint8Array; accountId: string } =>
      b.records.get("secrets") as { ciphertext: Uint8Array; accountId: string };

    const truncated = await fresh();
    record(truncated).ciphertext = record(truncated).ciphertext.slice(0, 40);
    expect(await code(Keystore.open(truncated, m))).toBe("damaged");

    const flipped = await fresh();
    const bytes = record(flipped).ciphertext;
    bytes[10] = (bytes[10] ?? 0) ^ 1;
    expect(await code(Keystore.open(flipped, m))).toBe("damaged");

    // The associated data binds account and device: a record relabelled
    // for another account does not open.
    const relabelled = await fresh();
    record(relabelled).accountId = "0193c0de-7c1a-7d2e-9f00-ffffffffffff";
    expect(await code(Keystore.open(relabelled, m))).toBe("damaged");

    const garbage = await fresh();
    garbage.records.set("secrets", { not: "a keystore" });
    expect(await code(Keystore.open(garbage, m))).toBe("damaged");

    // Control: an untouched store opens.
    expect(await code(Keystore.open(await fresh(), m))).toBe("opened");
  });

  it("keeps a sign-up in progress encrypted and gives it back once", async () => {
    const backing = memoryBacking();
    const pending: Pending = {
      purpose: "join",
      code: "7K3Q-ABCD-EFGH-JKMN-PQRS",
      rootPublicKey: null,
      orgName: null,
      fingerprintConfirmed: true,
      consent: null,
      identitySeed: "E".repeat(43),
      agreementSecret: "F".repeat(43),
      flow: "handle",
      startedAt: 1,
    };
    await savePending(backing, pending);
    const stored = JSON.stringify(backing.records.get("pending"), (_k, v: unknown) =>
      v instanceof Uint8Array ? Array.from(v) : v,
    );
    expect(stored).not.toContain("7K3Q");
    expect(await loadPending(backing)).toEqual(pending);
    await clearPending(backing);
    expect(await loadPending(backing)).toBeNull();
  });
});

/** An Api that answers refresh requests and counts them. */
class RefreshCounter extends Api {
  calls = 0;
  override async post<T>(path: string, body: unknown): Promise<T> {
    expect(path).toBe("/v1/sessions/refresh");
    this.calls += 1;
    const used = (body as { refresh_token: string }).refresh_token;
    await new Promise((r) => setTimeout(r, 20));
    return { access_token: `access-after-${used}`, refresh_token: `${used}+`, expires_in: 600 } as T;
  }
}

describe("tokens shared by tabs", () => {
  it("are refreshed once when two tabs find the access token expired at the same time", async () => {
    const backing = memoryBacking();
    const m = marker();
    await Keystore.create(backing, m, secrets({ accessExpires: 0 }));
    // Two tabs: two keystores opened on the same storage.
    const tabA = await Keystore.open(backing, m);
    const tabB = await Keystore.open(backing, m);
    const server = new RefreshCounter();
    // The Web Locks API is shared by every tab of an origin; one lock
    // manager shared by both stands for it here.
    const locks = localLocks();
    const now = (): number => Math.floor(Date.now() / 1000);
    const a = new Tokens(tabA, server, now, locks);
    const b = new Tokens(tabB, server, now, locks);
    const [ta, tb] = await Promise.all([a.token(), b.token()]);
    expect(server.calls).toBe(1);
    expect(ta).toBe("access-after-srt_refresh");
    expect(tb).toBe(ta);
    // The stored refresh token is the rotated one, not spent twice.
    const after = await Keystore.open(backing, m);
    expect(after.secrets.refreshToken).toBe("srt_refresh+");
  });

  it("would spend the refresh token twice without the shared lock (the control)", async () => {
    const backing = memoryBacking();
    const m = marker();
    await Keystore.create(backing, m, secrets({ accessExpires: 0 }));
    const server = new RefreshCounter();
    const now = (): number => Math.floor(Date.now() / 1000);
    const a = new Tokens(await Keystore.open(backing, m), server, now, localLocks());
    const b = new Tokens(await Keystore.open(backing, m), server, now, localLocks());
    await Promise.all([a.token(), b.token()]);
    expect(server.calls).toBe(2);
  });
});

/** The server and the browser's cookie jar, for pages whose refresh token
 *  is in the HttpOnly cookie: every tab sends the jar's one cookie; a
 *  refresh spends it and the answer sets the next. A cookie presented after
 *  it was spent ends the login (as the server does). */
class CookieJarServer extends Api {
  cookie = 1;
  spent = new Set<number>();
  calls = 0;
  ended = false;
  override async post<T>(path: string, body: unknown, headers: Record<string, string> = {}): Promise<T> {
    expect(path).toBe("/v1/sessions/refresh");
    expect(headers["X-Samtale-Refresh-Cookie"]).toBe("1");
    expect(body).toEqual({});
    this.calls += 1;
    const sent = this.cookie;
    await new Promise((r) => setTimeout(r, 20));
    if (this.ended || this.spent.has(sent)) {
      this.ended = true;
      throw new ApiError("authentication_failed", "this refresh token was already used", 401);
    }
    this.spent.add(sent);
    this.cookie = sent + 1;
    return { access_token: `access-${sent}`, refresh_token: "", expires_in: 600 } as T;
  }
}

describe("a staff page's refresh token in the HttpOnly cookie", () => {
  const cookieSecrets = (): ReturnType<typeof secrets> =>
    secrets({ accessExpires: 0, accessToken: null, refreshToken: null, refreshInCookie: true });

  it("two tabs refresh one after the other, each with the current cookie, and the keystore holds no token", async () => {
    const backing = memoryBacking();
    const m = marker();
    await Keystore.create(backing, m, cookieSecrets());
    const server = new CookieJarServer();
    const locks = localLocks();
    const now = (): number => Math.floor(Date.now() / 1000);
    const a = new Tokens(await Keystore.open(backing, m), server, now, locks);
    const b = new Tokens(await Keystore.open(backing, m), server, now, locks);
    const [ta, tb] = await Promise.all([a.token(), b.token()]);
    expect([ta, tb].sort()).toEqual(["access-1", "access-2"]);
    expect(server.ended).toBe(false);
    // Each tab keeps its access token in memory: no second refresh.
    expect(await a.token()).toBe(ta);
    expect(server.calls).toBe(2);
    const stored = await Keystore.open(backing, m);
    expect(stored.secrets.refreshToken).toBeNull();
    expect(stored.secrets.accessToken).toBeNull();
  });

  it("calls of one page that need a token at once refresh once, not once each", async () => {
    const backing = memoryBacking();
    const m = marker();
    await Keystore.create(backing, m, cookieSecrets());
    const server = new CookieJarServer();
    const now = (): number => Math.floor(Date.now() / 1000);
    const page = new Tokens(await Keystore.open(backing, m), server, now, localLocks());
    const got = await Promise.all([page.token(), page.token(), page.token(), page.token()]);
    expect(new Set(got)).toEqual(new Set(["access-1"]));
    expect(server.calls).toBe(1);
  });

  it("without the shared lock both tabs send the same cookie and the login ends (the control)", async () => {
    const backing = memoryBacking();
    const m = marker();
    await Keystore.create(backing, m, cookieSecrets());
    const server = new CookieJarServer();
    const now = (): number => Math.floor(Date.now() / 1000);
    const a = new Tokens(await Keystore.open(backing, m), server, now, localLocks());
    const b = new Tokens(await Keystore.open(backing, m), server, now, localLocks());
    const got = await Promise.all([a.token(), b.token()]);
    expect(got).toContain(null);
    expect(server.ended).toBe(true);
  });
});
