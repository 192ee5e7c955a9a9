// What the end-to-end tests check on every screen, and the operator's
// access to the server's files.

import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { AxeBuilder } from "@axe-core/playwright";
import type { Page } from "playwright-core";
import { expect } from "vitest";
import { ROOT } from "./harness";

/** Screens checked with axe so far (for the summary line). */
export const checkedScreens: string[] = [];

/** axe-core with the WCAG 2.1 A and AA rules: no serious or critical
 *  violation on this screen. */
export async function accessible(page: Page, screen: string): Promise<void> {
  const result = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]).analyze();
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  expect(
    bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).join("; ")}`),
    `axe on ${screen}`,
  ).toEqual([]);
  checkedScreens.push(screen);
}

/** With SAMTALE_SCREENSHOTS=1, keeps a screenshot for docs/screenshots/. */
export async function screenshot(page: Page, name: string): Promise<void> {
  if (process.env.SAMTALE_SCREENSHOTS !== "1") return;
  const dir = join(ROOT, "docs", "screenshots");
  mkdirSync(dir, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(dir, `${name}.png`), fullPage: false });
}

/** The operator flips one byte of the newest message's envelope in a
 *  thread, directly in the server's SQLite file (python3's sqlite3 module:
 *  no extra tool needed). */
export function tamperNewestMessage(dbPath: string, thread: string): void {
  const script = [
    "import sqlite3, sys",
    "c = sqlite3.connect(sys.argv[1], timeout=30)",
    "seq, env = c.execute('SELECT seq, envelope FROM messages WHERE thread_id = ? ORDER BY seq DESC LIMIT 1', (sys.argv[2],)).fetchone()",
    "env = bytearray(env); env[-1] ^= 1",
    "c.execute('UPDATE messages SET envelope = ? WHERE thread_id = ? AND seq = ?', (bytes(env), sys.argv[2], seq))",
    "c.commit()",
  ].join("\n");
  execFileSync("python3", ["-c", script, dbPath, thread]);
}

/** Every file under `dir` that contains `needle` (as UTF-8 bytes). */
export function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  const bytes = Buffer.from(needle, "utf8");
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      const st = statSync(path);
      if (st.isDirectory()) walk(path);
      else if (readFileSync(path).includes(bytes)) hits.push(path);
    }
  };
  walk(dir);
  return hits;
}

/** WCAG 1.4.10: at 320 CSS px wide the screen needs no horizontal
 *  scrolling. The viewport is put back afterwards. */
export async function reflows(page: Page, screen: string): Promise<void> {
  const before = page.viewportSize();
  await page.setViewportSize({ width: 320, height: 640 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  if (before !== null) await page.setViewportSize(before);
  expect(overflow, `horizontal scrolling at 320 px on ${screen}`).toBeLessThanOrEqual(0);
}
