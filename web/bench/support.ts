// What the browser benchmarks share: a caseworker (Sara) logged in in
// Chromium as a new device and certified by the admin's CLI after reading
// the fingerprint the page shows.

import type { Browser, Page } from "playwright-core";
import { type Cli, launch, PASSWORD, type Server } from "../e2e/harness";

export async function certifiedSara(server: Server, cli: Cli): Promise<{ browser: Browser; page: Page }> {
  const browser = await launch();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "da-DK" });
  const page = await context.newPage();
  await page.goto(`${server.url}/staff`);
  await page.getByLabel("Brugernavn").fill("sara");
  await page.getByLabel("Adgangskode").fill(PASSWORD);
  await page.getByRole("button", { name: "Log ind" }).click();
  await page.getByRole("button", { name: "Ikke nu" }).click();
  const label = await page.locator("[data-testid=uncertified] .fingerprint").getAttribute("aria-label");
  const fingerprint = (label ?? "").split(":")[1]?.trim().split(" ").join("-") ?? "";
  await cli.run("admin", ["admin", "certify", "sara", "--fingerprint", fingerprint]);
  return { browser, page };
}
