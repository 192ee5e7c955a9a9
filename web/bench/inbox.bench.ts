// The staff inbox with many threads, in headless Chromium, against the
// Rust client's `samtale threads` for the same account in the same run
// (docs/BENCHMARKS.md). Not a test: it prints figures and asserts nothing
// about time.
//
//   cd web && SAMTALE_BENCH_RUST_CLI=../target/release/samtale \
//     npx vitest run --config bench/vitest.config.ts bench/inbox.bench.ts
//
// SAMTALE_BENCH_THREADS (default 500), SAMTALE_BENCH_RUNS (default 5).

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { it } from "vitest";
import { CLI_BIN, Cli, organisation, PASSPHRASE, startServer } from "../e2e/harness";
import { certifiedSara } from "./support";

const run = promisify(execFile);
const THREADS = Number(process.env.SAMTALE_BENCH_THREADS ?? 500);
const RUNS = Number(process.env.SAMTALE_BENCH_RUNS ?? 5);
const RUST_CLI = process.env.SAMTALE_BENCH_RUST_CLI ?? CLI_BIN;
/** The inbox's first page (src/ui/Staff.tsx INBOX_PAGE). */
const PAGE = 100;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

it("measures the staff inbox against `samtale threads`", { timeout: 3_600_000 }, async () => {
  const server = await startServer(null);
  const cli = new Cli(server);
  await organisation(cli, server);
  await cli.run("admin", ["admin", "staff", "create", "sara", "--name", "Sara Holm", "--role", "staff", "--team", "Jobcenter"]);
  const invitation = await cli.json<{ code: string }>("mette", ["invite", "--national-id", "010203-1234", "--name", "Maja Hansen"]);
  await cli.run("maja", ["join", "--code", invitation.code, "--accept-consent"]);
  const made = Date.now();
  for (let i = 0; i < THREADS; i++) await cli.run("mette", ["new-thread", "--citizen", "Maja Hansen"]);
  process.stderr.write(`made ${THREADS} threads in ${((Date.now() - made) / 1000).toFixed(1)} s\n`);

  // Sara on the command line (certified), for the Rust figure.
  await cli.run("sara", ["login", "--username", "sara"]);
  const me = await cli.json<{ device_fingerprint: string }>("sara", ["whoami"]);
  await cli.run("admin", ["admin", "certify", "sara", "--fingerprint", me.device_fingerprint]);
  const env = {
    PATH: process.env.PATH ?? "",
    SAMTALE_HOME: cli.home,
    SAMTALE_PASSPHRASE: PASSPHRASE,
    SAMTALE_SERVER: server.url,
    NO_COLOR: "1",
  };
  const rust: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    const { stdout } = await run(RUST_CLI, ["--profile", "sara", "--json", "threads"], { env, maxBuffer: 64 * 1024 * 1024 });
    rust.push(Number(process.hrtime.bigint() - t) / 1e6);
    const rows = (JSON.parse(stdout) as { threads: unknown[] }).threads.length;
    if (rows !== THREADS) throw new Error(`samtale threads listed ${rows} threads, not ${THREADS}`);
  }

  // Sara in the browser (a new device, certified too).
  const { browser, page } = await certifiedSara(server, cli);
  await page.getByText("En administrator skal certificere denne browser").waitFor({ state: "detached", timeout: 60_000 });

  // From loading the page (keystore open, session started) to the inbox
  // table holding every thread.
  const web: number[] = [];
  const all: number[] = [];
  const shell: number[] = [];
  let heap = 0;
  const cdp = await page.context().newCDPSession(page);
  for (let i = 0; i < RUNS; i++) {
    const t = Date.now();
    await page.goto(`${server.url}/threads`);
    await page.getByRole("heading", { name: "Indbakke" }).waitFor({ timeout: 600_000 });
    shell.push(Date.now() - t);
    // Interactive: the whole list loaded (the count of all of it shown),
    // the first page of rows in the table.
    await page.locator("table.inbox tbody tr").nth(Math.min(THREADS, PAGE) - 1).waitFor({ timeout: 600_000 });
    if (THREADS > PAGE) await page.getByText(`Viser de ${PAGE} seneste af ${THREADS} samtaler.`).waitFor({ timeout: 600_000 });
    web.push(Date.now() - t);
    // And every row: "Vis alle".
    if (THREADS > PAGE) {
      const a = Date.now();
      await page.getByRole("button", { name: `Vis alle ${THREADS}` }).click();
      await page.locator("table.inbox tbody tr").nth(THREADS - 1).waitFor({ timeout: 600_000 });
      all.push(Date.now() - t - (a - t) + (web[web.length - 1] ?? 0));
    }
    await cdp.send("HeapProfiler.collectGarbage");
    const usage = (await cdp.send("Runtime.getHeapUsage")) as { usedSize: number };
    heap = Math.max(heap, usage.usedSize);
  }
  const w = median(web);
  const r = median(rust);
  process.stderr.write(
    [
      `inbox of ${THREADS} threads (median of ${RUNS}):`,
      `  web app, page load to interactive (all ${THREADS} loaded, the ${Math.min(PAGE, THREADS)} most recent rows shown): ${w.toFixed(0)} ms (runs: ${web.map((x) => x.toFixed(0)).join(", ")}); to the inbox's heading (keystore open, session started): ${median(shell).toFixed(0)} ms`,
      `  web app, the same and then every row ("Vis alle"): ${all.length > 0 ? median(all).toFixed(0) : "-"} ms`,
      `  samtale threads --json (${RUST_CLI === CLI_BIN ? "debug" : "given"} build): ${r.toFixed(0)} ms (runs: ${rust.map((x) => x.toFixed(0)).join(", ")})`,
      `  ratio web / Rust: ${(w / r).toFixed(2)}x; page heap after GC: ${(heap / 1024 / 1024).toFixed(1)} MB`,
      "",
    ].join("\n"),
  );
  await browser.close();
  await server.stop();
  cli.cleanup();
});
