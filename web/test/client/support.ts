// What the client layer's integration tests share: the real binaries (or a
// loud skip), a citizen signed up in Node the way the app will do it
// (unverified, with the invitation code: the real sign-up screens come from
// join.ts), the operator's direct access to the SQLite file, and a
// WebSocket whose connection the test can drop or whose acks it can lose.

import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

import { b64Decode, DeviceKeys, OrgRootPublicKey, orgFingerprint, fingerprintsMatch } from "../../src/protocol";
import { newSecrets } from "../../src/client/join";
import type { AccountInfo, ConsentText, TokenPair } from "../../src/protocol/rest";
import { Api } from "../../src/client/api";
import { contextOf, type Context } from "../../src/client/context";
import { Keystore, memoryBacking, type MarkerStore } from "../../src/client/keystore";
import { Relay, wsUrl, type WebSocketFactory } from "../../src/client/relay";
import { Tokens } from "../../src/client/tokens";
import { CLI_BIN, SERVER_BIN, type Server } from "../../e2e/harness";

const run = promisify(execFile);

/** Why the integration tests cannot run here, or null. With
 *  SAMTALE_REQUIRE_WEB=1 a missing binary fails the run instead. */
export function missingBinaries(): string | null {
  const missing = [SERVER_BIN, CLI_BIN].filter((p) => !existsSync(p));
  if (missing.length === 0) return null;
  const why = `${missing.join(" and ")} missing (cargo build -p samtale-server -p samtale-cli)`;
  if (process.env.SAMTALE_REQUIRE_WEB === "1") throw new Error(`SAMTALE_REQUIRE_WEB=1 but ${why}`);
  process.stderr.write(`SKIPPED (web integration): ${why}\n`);
  return why;
}

export function memoryMarker(): MarkerStore {
  const items = new Map<string, string>();
  return {
    getItem: (k) => items.get(k) ?? null,
    setItem: (k, v) => void items.set(k, v),
    removeItem: (k) => void items.delete(k),
  };
}

/** A citizen's device in Node: its keystore, REST client, tokens and context. */
export interface Citizen {
  ctx: Context;
  keystore: Keystore;
  tokens: Tokens;
  api: Api;
  url: string;
  /** A relay for this device (not started). */
  relay(options?: { WebSocket?: WebSocketFactory; answerWaitMs?: number }): Relay;
}

/** Signs a citizen up with an invitation code, unverified (the server has no
 *  eID broker), checks the organisation against the letter's fingerprint and
 *  makes the keystore, as the app's join flow does. */
export async function signUpForTest(url: string, code: string, letterFingerprint: string, label = "test"): Promise<Citizen> {
  const plain = new Api(null, url);
  const consent = await plain.get<ConsentText>("/v1/consent");
  const device = DeviceKeys.generate();
  const pair = await plain.post<TokenPair>("/v1/signup", {
    code,
    device: device.toJSON(),
    device_label: label,
    consent: { version: consent.version, text_sha256: consent.text_sha256 },
  });
  const probe = new Api({ token: () => Promise.resolve(pair.access_token), renew: () => Promise.resolve(null) }, url);
  const me = await probe.get<AccountInfo>("/v1/me");
  const root = OrgRootPublicKey.fromBytes(b64Decode(me.root_public_key));
  if (!fingerprintsMatch(letterFingerprint, orgFingerprint(root))) throw new Error("the organisation is not the letter's");
  const secrets = newSecrets(pair, me, device, true);
  device.wipe();
  const keystore = await Keystore.create(memoryBacking(), memoryMarker(), secrets);
  const tokens = new Tokens(keystore, new Api(null, url));
  const api = new Api(tokens, url);
  return {
    ctx: contextOf(api, keystore),
    keystore,
    tokens,
    api,
    url,
    relay: (options = {}) =>
      new Relay({ url: wsUrl(url), tokens, backoffMs: 100, maxBackoffMs: 1000, ...options }),
  };
}

/** Python's sqlite3 module, for machines without the sqlite3 program: runs
 *  each statement and prints the rows as the program does (`a|b`). */
const PYTHON_SQL = `
import sqlite3, sys
con = sqlite3.connect(sys.argv[1], timeout=5)
rows = []
for part in sys.argv[2].split(";"):
    if part.strip():
        rows = con.execute(part).fetchall() or rows
con.commit()
print("\\n".join("|".join("" if v is None else str(v) for v in r) for r in rows))
`;

/** The operator at the database: runs SQL on the server's SQLite file
 *  (with the sqlite3 program, else python3's sqlite3 module). */
export async function sql(server: Server, statement: string): Promise<string> {
  const db = join(server.dataDir, "samtale.db");
  try {
    const { stdout } = await run("sqlite3", ["-cmd", ".timeout 5000", db, statement]);
    return stdout.trim();
  } catch (e) {
    if ((e as { code?: unknown }).code !== "ENOENT") throw e;
    const { stdout } = await run("python3", ["-c", PYTHON_SQL, db, statement]);
    return stdout.trim();
  }
}

/** A blob as an SQL literal. */
export function blob(bytes: Uint8Array): string {
  return `X'${Buffer.from(bytes).toString("hex")}'`;
}

/** A WebSocket the test controls: it can refuse to connect (the network is
 *  down), drop the open connection, and lose the next ack. */
export class Network {
  down = false;
  loseAcks = 0;
  readonly sockets: WebSocket[] = [];

  readonly WebSocket: WebSocketFactory;

  constructor() {
    const Base = (globalThis as { WebSocket?: WebSocketFactory }).WebSocket;
    if (Base === undefined) throw new Error("this Node has no WebSocket (run with --experimental-websocket)");
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const network = this;
    class Controlled extends Base {
      constructor(url: string, protocols?: string | string[]) {
        if (network.down) throw new Error("the network is down");
        super(url, protocols);
        network.sockets.push(this);
      }
      override set onmessage(handler: ((ev: MessageEvent) => void) | null) {
        super.onmessage =
          handler === null
            ? null
            : (ev: MessageEvent) => {
                if (network.loseAcks > 0 && typeof ev.data === "string" && ev.data.includes('"type":"ack"')) {
                  network.loseAcks -= 1;
                  return;
                }
                handler(ev);
              };
      }
      override get onmessage(): ((ev: MessageEvent) => void) | null {
        return super.onmessage;
      }
    }
    this.WebSocket = Controlled;
  }

  /** Drops the newest connection (as a lost network would). */
  drop(): void {
    this.sockets.at(-1)?.close(4000, "dropped by the test");
  }
}

/** Waits until `check` holds (polling), or fails after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 10_000, what = "the condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
