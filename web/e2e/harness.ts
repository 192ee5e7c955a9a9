// The end-to-end harness: a real samtale-server (the debug build), the real
// OpenID Provider from tests/oidc-op as the eID broker, the real `samtale`
// CLI for the staff side, and Debian's Chromium driven by playwright-core.
// Nothing is mocked. Every server, provider and browser is stopped after
// its test.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export const ROOT = resolve(import.meta.dirname, "../..");
const TARGET = process.env.CARGO_TARGET_DIR ?? join(ROOT, "target");
export const SERVER_BIN = join(TARGET, "debug", "samtale-server");
export const CLI_BIN = join(TARGET, "debug", "samtale");
export const CHROMIUM = process.env.SAMTALE_CHROMIUM ?? "/usr/bin/chromium";
export const PASSPHRASE = "a long keystore passphrase";
export const PASSWORD = "correct horse battery staple";

const run = promisify(execFile);

/** A free loopback port (the server's public address must be known before
 *  it starts: the broker redirects the browser to it). */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.unref();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const address = s.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      s.close(() => res(port));
    });
  });
}

/** The OpenID Provider standing in for MitID/BankID. */
export interface Op {
  issuer: string;
  clientId: string;
  jwksUri: string;
  webClientId: string;
  webClientSecret: string;
  stop(): void;
}

export async function startOp(): Promise<Op> {
  const dir = join(ROOT, "tests", "oidc-op");
  if (!existsSync(join(dir, "node_modules"))) {
    throw new Error("tests/oidc-op has no node_modules: run `npm ci` there (bash .ci/run does)");
  }
  const child = spawn(process.execPath, ["server.js"], { cwd: dir, stdio: ["pipe", "pipe", "ignore"] });
  const line = await firstLine(child);
  const info = JSON.parse(line) as Record<string, string>;
  const text = (k: string): string => {
    const v = info[k];
    if (v === undefined) throw new Error(`the OpenID Provider did not say ${k}`);
    return v;
  };
  return {
    issuer: text("issuer"),
    clientId: text("client_id"),
    jwksUri: text("jwks_uri"),
    webClientId: text("web_client_id"),
    webClientSecret: text("web_client_secret"),
    stop: () => child.kill(),
  };
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((res, rej) => {
    if (child.stdout === null) {
      rej(new Error("no stdout"));
      return;
    }
    const lines = createInterface({ input: child.stdout });
    lines.once("line", (l) => res(l));
    child.once("exit", (code) => rej(new Error(`exited with ${code} before printing`)));
  });
}

/** A running samtale-server on its own data directory. */
export interface Server {
  url: string;
  dataDir: string;
  enrolmentCode: string;
  /** Every line the server logged. */
  log: string[];
  stop(): Promise<void>;
}

export async function startServer(op: Op | null, extraEnv: Record<string, string> = {}): Promise<Server> {
  if (!existsSync(SERVER_BIN)) throw new Error(`${SERVER_BIN} is missing: run cargo build first`);
  const port = await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), "samtale-e2e-"));
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "",
    SAMTALE_LISTEN: `127.0.0.1:${port}`,
    SAMTALE_DATA_DIR: dataDir,
    SAMTALE_PUBLIC_URL: url,
    SAMTALE_LOG_FORMAT: "json",
    SAMTALE_LOG: "info",
    ...extraEnv,
  };
  if (op !== null) {
    Object.assign(env, {
      SAMTALE_EID_ISSUER: op.issuer,
      SAMTALE_EID_CLIENT_ID: op.clientId,
      SAMTALE_EID_JWKS_URL: op.jwksUri,
      SAMTALE_EID_SCOPE: "openid national_id",
      SAMTALE_EID_ACR_VALUES:
        "https://data.gov.dk/concept/core/nsis/loa/Substantial https://data.gov.dk/concept/core/nsis/loa/High",
      SAMTALE_EID_WEB_CLIENT_ID: op.webClientId,
      SAMTALE_EID_WEB_CLIENT_SECRET: op.webClientSecret,
    });
  }
  const child = spawn(SERVER_BIN, [], { env, stdio: ["ignore", "pipe", "pipe"] });
  const log: string[] = [];
  const listening = new Promise<void>((res, rej) => {
    for (const stream of [child.stdout, child.stderr]) {
      if (stream === null) continue;
      createInterface({ input: stream }).on("line", (line) => {
        log.push(line);
        if (line.includes('"listening"') || line.includes("listening")) res();
      });
    }
    child.once("exit", (code) => rej(new Error(`samtale-server exited with ${code}:\n${log.join("\n")}`)));
  });
  await listening;
  const codeFile = join(dataDir, "enrolment-code");
  const enrolmentCode = existsSync(codeFile) ? readFileSync(codeFile, "utf8").trim() : "";
  return {
    url,
    dataDir,
    enrolmentCode,
    log,
    stop: () =>
      new Promise<void>((res) => {
        child.once("exit", () => {
          rmSync(dataDir, { recursive: true, force: true });
          res();
        });
        child.kill("SIGTERM");
      }),
  };
}

/** The `samtale` CLI, with a home directory of its own. */
export class Cli {
  readonly home = mkdtempSync(join(tmpdir(), "samtale-cli-"));

  constructor(private readonly server: Server) {}

  async run(profile: string, args: string[], env: Record<string, string> = {}): Promise<string> {
    try {
      const { stdout } = await run(CLI_BIN, ["--profile", profile, ...args], {
        env: {
          PATH: process.env.PATH ?? "",
          SAMTALE_HOME: this.home,
          SAMTALE_PASSPHRASE: PASSPHRASE,
          SAMTALE_PASSWORD: PASSWORD,
          SAMTALE_SERVER: this.server.url,
          NO_COLOR: "1",
          ...env,
        },
        maxBuffer: 64 * 1024 * 1024,
      });
      return stdout;
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string; code?: number };
      throw new Error(
        `samtale ${args.join(" ")} failed (${err.code}):\n${err.stdout ?? ""}\n${err.stderr ?? ""}`,
        { cause: e },
      );
    }
  }

  async json<T = Record<string, unknown>>(profile: string, args: string[]): Promise<T> {
    return JSON.parse(await this.run(profile, ["--json", ...args])) as T;
  }

  cleanup(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}

/** An organisation with a team, a certified caseworker (mette) and the
 *  archive key, set up with the CLI as an admin and a caseworker would. */
export async function organisation(cli: Cli, server: Server): Promise<{ fingerprint: string }> {
  const init = await cli.json<{ root_fingerprint: string }>("admin", [
    "admin",
    "init",
    "--enrolment-code",
    server.enrolmentCode,
    "--organisation",
    "Randers Kommune",
    "--username",
    "anne",
    "--name",
    "Anne Admin",
  ]);
  await cli.run("admin", ["admin", "team", "create", "Jobcenter"]);
  await cli.run("admin", [
    "admin", "staff", "create", "mette", "--name", "Mette Jensen", "--role", "staff", "--team", "Jobcenter",
  ]);
  await cli.run("mette", ["login", "--username", "mette"]);
  const me = await cli.json<{ device_fingerprint: string }>("mette", ["whoami"]);
  await cli.run("admin", ["admin", "certify", "mette", "--fingerprint", me.device_fingerprint]);
  await cli.run("mette", ["keys"]);
  await cli.run("admin", ["admin", "archive-key"]);
  return { fingerprint: init.root_fingerprint };
}

/** Chromium, kept on loopback (WEB.md): a proxy that refuses everything
 *  and a resolver that resolves nothing but local names. */
export async function launch(): Promise<Browser> {
  const deadPort = await freePort();
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--dns-prefetch-disable",
      "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
      `--proxy-server=http://127.0.0.1:${deadPort}`,
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    ],
  });
}

/** A phone-sized, Danish context. */
export function phone(browser: Browser, locale = "da-DK"): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 360, height: 740 }, locale, deviceScaleFactor: 2 });
}

/** Plays the person at the eID broker: once the browser reaches the
 *  provider's login page, logs `user` in there (its interaction URLs take
 *  `?login=`, as tests/oidc-op/server.js explains) and lets the provider
 *  send the browser back. */
export async function eidLogin(page: Page, op: Op, user: string): Promise<void> {
  await page.waitForURL((url) => url.href.startsWith(`${op.issuer}/interaction/`), { timeout: 60_000 });
  const url = new URL(page.url());
  url.searchParams.set("login", user);
  await page.goto(url.toString());
}
