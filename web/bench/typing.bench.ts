// Typing latency in the staff composer with minimisation running on every
// keystroke, in headless Chromium (docs/BENCHMARKS.md). Not a test: it
// prints figures and asserts nothing about time.
//
//   cd web && npx vitest run --config bench/vitest.config.ts bench/typing.bench.ts
//
// Each keystroke is timed in the page from its `input` event to the end of
// the work it causes (the handler, the scan, Preact's render and the
// underline's layout; see `instrument`). The reference, in the same run and page: the same
// keystrokes into the inbox's search box, a plain controlled input with no
// minimisation. SAMTALE_BENCH_CHARS sets the text's length (default 2000).

import { it } from "vitest";
import type { Page } from "playwright-core";
import { Cli, organisation, startServer } from "../e2e/harness";
import { certifiedSara } from "./support";

const CHARS = Number(process.env.SAMTALE_BENCH_CHARS ?? 2000);

/** A caseworker's text with what minimisation looks for in it: a name,
 *  numbers, a school; repeated to `CHARS`. */
function text(): string {
  const base =
    "Hej Maja, tak for i dag. Husk mødet på torsdag kl. 10 hos Jobcenter, og tag lønsedlen med. " +
    "Maja Hansen går på Søndervangskolen; ring på 12 34 56 78 hvis noget ændrer sig. CPR 010203-1234. ";
  let out = "";
  while (out.length < CHARS) out += base;
  return out.slice(0, CHARS);
}

/** Installs the per-keystroke timer on the element matching `selector`:
 *  from the `input` event (a capturing listener on the window, so before
 *  the app's handler) to the end of the work it causes — the handler, the
 *  scan, Preact's render (a microtask) and the layout the next frame needs
 *  (forced here) — measured in the first task after it (a MessageChannel
 *  message, which is not clamped like a timer). Waiting for the display's
 *  next frame is left out: it is the same for any input. */
async function instrument(page: Page, selector: string): Promise<void> {
  await page.evaluate((sel) => {
    const w = window as unknown as { __lat: number[] };
    w.__lat = [];
    const channel = new MessageChannel();
    let start = 0;
    channel.port1.onmessage = () => {
      document.querySelector(sel)?.parentElement?.getBoundingClientRect();
      w.__lat.push(performance.now() - start);
    };
    window.addEventListener(
      "input",
      (e) => {
        if (!(e.target instanceof Element) || !e.target.matches(sel)) return;
        start = performance.now();
        channel.port2.postMessage(0);
      },
      true,
    );
  }, selector);
}

async function typeAll(page: Page, selector: string, value: string): Promise<number[]> {
  await instrument(page, selector);
  await page.locator(selector).click();
  for (const ch of value) await page.keyboard.type(ch);
  await page.waitForTimeout(200);
  return page.evaluate(() => (window as unknown as { __lat: number[] }).__lat);
}

function stats(xs: number[]): { p50: number; p95: number; p99: number; max: number; over16: number } {
  const s = [...xs].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: s.at(-1) ?? NaN, over16: s.filter((x) => x >= 16).length };
}

const f = (n: number): string => n.toFixed(2);

it("measures typing in the staff composer against a plain input", { timeout: 3_600_000 }, async () => {
  const server = await startServer(null);
  const cli = new Cli(server);
  await organisation(cli, server);
  await cli.run("admin", ["admin", "staff", "create", "sara", "--name", "Sara Holm", "--role", "staff", "--team", "Jobcenter"]);
  const invitation = await cli.json<{ code: string }>("mette", ["invite", "--national-id", "010203-1234", "--name", "Maja Hansen"]);
  await cli.run("maja", ["join", "--code", invitation.code, "--accept-consent"]);
  const { thread_id: thread } = await cli.json<{ thread_id: string }>("mette", ["new-thread", "--citizen", "Maja Hansen"]);
  await cli.run("mette", ["send", thread, "Hej Maja."]);

  // Sara in the browser (a new device, certified too).
  const { browser, page } = await certifiedSara(server, cli);
  await cli.run("mette", ["keys"]);
  await page.getByText("En administrator skal certificere denne browser").waitFor({ state: "detached", timeout: 60_000 });

  const value = text();
  // The reference: the search box (a plain controlled input).
  const plain = await typeAll(page, "input[type=search]", value);

  await page.goto(`${server.url}/threads/${thread}`);
  await page.getByText("Hej Maja.").waitFor({ timeout: 60_000 });
  const composer = await typeAll(page, "textarea[name=message]", value);
  const findings = await page.locator(".findings li").count();

  const c = stats(composer);
  const p = stats(plain);
  process.stderr.write(
    [
      `typing ${CHARS} characters, per keystroke (input event to its work done, layout included), headless Chromium:`,
      `  composer with minimisation: p50 ${f(c.p50)} ms, p95 ${f(c.p95)} ms, p99 ${f(c.p99)} ms, max ${f(c.max)} ms, ${c.over16} of ${composer.length} at 16 ms or more (${findings} findings shown at the end)`,
      `  plain input (reference):    p50 ${f(p.p50)} ms, p95 ${f(p.p95)} ms, p99 ${f(p.p99)} ms, max ${f(p.max)} ms, ${p.over16} of ${plain.length} at 16 ms or more`,
      `  ratio (composer / plain): p50 ${f(c.p50 / p.p50)}x, p95 ${f(c.p95 / p.p95)}x`,
      "",
    ].join("\n"),
  );
  await browser.close();
  await server.stop();
  cli.cleanup();
});
