// The web app's performance, measured in headless Chromium against the
// Rust client in the same run (docs/BENCHMARKS.md). Not a test: it prints
// figures and asserts nothing about time.
//
//   cd web && npx vitest run --config bench/vitest.config.ts
//
// Environment: SAMTALE_BENCH_MESSAGES (default 1000), SAMTALE_BENCH_RUNS (3),
// SAMTALE_BENCH_RUST_CLI (the `samtale` binary to compare with; default the
// debug build the suites use — pass target/release/samtale for the fair one),
// SAMTALE_BENCH_PROFILE=1 (print a CPU profile of the last open),
// SAMTALE_BENCH_PROFILE_OUT (and write it to this file).

import { execFile } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import { it } from "vitest";
import { CLI_BIN, Cli, launch, organisation, phone, ROOT, startServer } from "../e2e/harness";

const run = promisify(execFile);
const MESSAGES = Number(process.env.SAMTALE_BENCH_MESSAGES ?? 1000);
/** The Rust client measured against (a release build is the fair one). */
const RUST_CLI = process.env.SAMTALE_BENCH_RUST_CLI ?? CLI_BIN;
const RUNS = Number(process.env.SAMTALE_BENCH_RUNS ?? 3);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

it("measures the citizen app against the Rust client", { timeout: 3_600_000 }, async () => {
  const server = await startServer(null);
  const cli = new Cli(server);
  await organisation(cli, server);
  const { link } = await cli.json<{ link: string }>("mette", ["invite", "--national-id", "010203-1234", "--name", "Maja"]);
  const browser = await launch();
  const context = await phone(browser);
  const page = await context.newPage();
  await page.goto(link);
  await page.getByRole("button", { name: "Det passer med mit brev" }).click();
  await page.getByLabel(/Jeg siger ja/).check();
  await page.getByRole("button", { name: "Fortsæt" }).click();
  await page.getByRole("button", { name: "Tilmeld uden eID" }).click();
  await page.getByRole("button", { name: "Ikke nu" }).click();
  await page.getByRole("heading", { name: "Dine samtaler" }).waitFor();
  const { thread_id: thread } = await cli.json<{ thread_id: string }>("mette", ["new-thread", "--citizen", "Maja"]);

  // The thread: MESSAGES messages from the caseworker, four senders at once.
  const env = {
    PATH: process.env.PATH ?? "",
    SAMTALE_HOME: cli.home,
    SAMTALE_PASSPHRASE: "a long keystore passphrase",
    SAMTALE_SERVER: server.url,
    NO_COLOR: "1",
  };
  let next = 1;
  const worker = async (): Promise<void> => {
    while (next <= MESSAGES) {
      const n = next++;
      await run(CLI_BIN, ["--profile", "mette", "send", thread, `Besked nummer ${n}: en almindelig sætning om et møde.`], { env });
    }
  };
  const filled = Date.now();
  await Promise.all([worker(), worker(), worker(), worker()]);
  process.stderr.write(`filled the thread with ${MESSAGES} messages in ${((Date.now() - filled) / 1000).toFixed(1)} s\n`);

  // The Rust client: `samtale show --json` of the same thread (fetch,
  // verify, decrypt, print), as the caseworker.
  const rust: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = process.hrtime.bigint();
    await run(RUST_CLI, ["--profile", "mette", "--json", "show", thread], { env, maxBuffer: 256 * 1024 * 1024 });
    rust.push(Number(process.hrtime.bigint() - t) / 1e6);
  }

  // The browser: from clicking the thread to the last message on screen.
  const last = `Besked nummer ${MESSAGES}:`;
  const web: number[] = [];
  let heap = 0;
  const cdp = await context.newCDPSession(page);
  for (let i = 0; i < RUNS; i++) {
    await page.goto(`${server.url}/threads`);
    await page.getByRole("link", { name: /Åbn samtalen med/ }).waitFor({ timeout: 600_000 });
    const profile = process.env.SAMTALE_BENCH_PROFILE === "1" && i === RUNS - 1;
    if (profile) {
      await cdp.send("Profiler.enable");
      await cdp.send("Profiler.start");
    }
    const t = Date.now();
    await page.getByRole("link", { name: /Åbn samtalen med/ }).click();
    await page.getByText(last).waitFor({ timeout: 600_000 });
    web.push(Date.now() - t);
    const measures = await page.evaluate(() =>
      performance
        .getEntriesByType("measure")
        .filter((m) => m.name.startsWith("samtale:"))
        .slice(-4)
        .map((m) => `${m.name} ${Math.round(m.duration)} ms`),
    );
    process.stderr.write(`  phases: ${measures.join("; ")}\n`);
    if (profile) {
      const { profile: p } = (await cdp.send("Profiler.stop")) as {
        profile: { nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]; samples: number[]; timeDeltas: number[] };
      };
      // SAMTALE_BENCH_PROFILE_OUT=file.cpuprofile keeps the whole profile
      // (Chromium's DevTools open it) for callers and inclusive times.
      const out = process.env.SAMTALE_BENCH_PROFILE_OUT;
      if (out !== undefined) writeFileSync(out, JSON.stringify(p));
      const self = new Map<number, number>();
      p.samples.forEach((id, k) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[k] ?? 0)));
      const byName = new Map<string, number>();
      for (const n of p.nodes) {
        const key = `${n.callFrame.functionName || "(anonymous)"} ${n.callFrame.url.split("/").pop() ?? ""}:${n.callFrame.lineNumber}`;
        byName.set(key, (byName.get(key) ?? 0) + (self.get(n.id) ?? 0));
      }
      const top = [...byName.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40);
      process.stderr.write(`profile (self time, ms):\n${top.map(([k, v]) => `  ${(v / 1000).toFixed(1)} ${k}`).join("\n")}\n`);
    }
    await cdp.send("HeapProfiler.collectGarbage");
    const usage = (await cdp.send("Runtime.getHeapUsage")) as { usedSize: number };
    heap = usage.usedSize;
  }

  // Cold load to interactive: a fresh browser context (nothing cached),
  // from navigation to the first screen's heading.
  const cold: number[] = [];
  const domInteractive: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const fresh = await browser.newContext();
    const p = await fresh.newPage();
    const t = Date.now();
    await p.goto(server.url);
    await p.getByRole("heading").first().waitFor();
    cold.push(Date.now() - t);
    domInteractive.push(
      await p.evaluate(() => {
        const nav = performance.getEntriesByType("navigation")[0] as PerformanceNavigationTiming;
        return nav.domInteractive;
      }),
    );
    await fresh.close();
  }

  const assets = join(ROOT, "web", "dist", "assets");
  let js = 0;
  let jsGzip = 0;
  let css = 0;
  for (const f of readdirSync(assets)) {
    const bytes = readFileSync(join(assets, f));
    if (f.endsWith(".js")) {
      js += bytes.length;
      jsGzip += gzipSync(bytes, { level: 9 }).length;
    } else if (f.endsWith(".css")) css += gzipSync(bytes, { level: 9 }).length;
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, "web", "package.json"), "utf8")) as { dependencies: Record<string, string> };

  const fig = {
    messages: MESSAGES,
    rust_client: RUST_CLI,
    rust_show_ms: rust.map(Math.round),
    web_open_ms: web.map(Math.round),
    ratio_web_over_rust: +(median(web) / median(rust)).toFixed(2),
    js_heap_after_open_mb: +(heap / 1024 / 1024).toFixed(1),
    cold_load_to_first_screen_ms: cold,
    dom_interactive_ms: domInteractive.map(Math.round),
    bundle_js_bytes: js,
    bundle_js_gzip_bytes: jsGzip,
    bundle_css_gzip_bytes: css,
    runtime_dependencies: Object.keys(pkg.dependencies).length,
  };
  process.stderr.write(`${JSON.stringify(fig, null, 2)}\n`);
  await browser.close();
  await server.stop();
  cli.cleanup();
});
