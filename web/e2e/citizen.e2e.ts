// A citizen on her phone, end to end: the real server, the real OpenID
// Provider as MitID, the real `samtale` CLI as the caseworker, Debian's
// Chromium as the phone (360×740, Danish).

import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  Cli,
  eidLogin,
  launch,
  type Op,
  organisation,
  phone,
  type Server,
  startOp,
  startServer,
} from "./harness";

let op: Op;
let server: Server;
let cli: Cli;
let browser: Browser;
let fingerprint: string;

beforeAll(async () => {
  op = await startOp();
  server = await startServer(op);
  cli = new Cli(server);
  ({ fingerprint } = await organisation(cli, server));
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  op?.stop();
  cli?.cleanup();
});

async function invite(nationalId: string, name: string): Promise<{ link: string; code: string }> {
  return cli.json<{ link: string; code: string }>("mette", ["invite", "--national-id", nationalId, "--name", name]);
}

/** Joins from the invitation link on a phone, through the eID login. */
async function joinApp(context: BrowserContext, link: string, user: string): Promise<Page> {
  const page = await context.newPage();
  await page.goto(link);
  await page.getByRole("heading", { name: "Tjek, at det er din kommune" }).waitFor();
  await page.getByRole("button", { name: "Det passer med mit brev" }).click();
  await page.getByRole("heading", { name: "Dit samtykke" }).waitFor();
  await page.getByLabel(/Jeg siger ja/).check();
  await page.getByRole("button", { name: "Fortsæt" }).click();
  await page.getByRole("button", { name: "Log ind med MitID" }).click();
  await eidLogin(page, op, user);
  await page.getByRole("heading", { name: /Beskyt denne enhed/ }).waitFor();
  await page.getByRole("button", { name: "Ikke nu" }).click();
  await page.getByRole("heading", { name: "Dine samtaler" }).waitFor();
  return page;
}

describe("a citizen on her phone", () => {
  it("joins from the letter's link with eID, reads the caseworker's message and answers with text and a PDF", async () => {
    const { link } = await invite("010203-1234", "Maja");
    expect(link).toContain(fingerprint);
    const context = await phone(browser);
    const page = await joinApp(context, link, "maja");
    // The caseworker opens a thread and writes, with the CLI.
    const citizens = await cli.json<{ account_id: string; display_name: string }[]>("mette", ["citizens"]);
    const maja = citizens.find((c) => c.display_name === "Maja");
    expect(maja).toBeDefined();
    const thread = await cli.json<{ thread_id: string }>("mette", ["new-thread", "--citizen", "Maja"]);
    await cli.run("mette", ["send", thread.thread_id, "Hej Maja, her er din plan for næste uge."]);

    await page.getByRole("link", { name: /Åbn samtalen med Jobcenter/ }).click();
    await expect
      .poll(async () => page.getByText("Hej Maja, her er din plan for næste uge.").count(), { timeout: 30_000 })
      .toBe(1);
    await page.getByText(/Bekræftet: Mette Jensen, Jobcenter, Randers Kommune/).waitFor();
    await page.getByText("Kommunen gemmer denne samtale").waitFor();

    // She answers with text and a PDF.
    const dir = mkdtempSync(join(tmpdir(), "samtale-e2e-file-"));
    const pdf = join(dir, "lønseddel.pdf");
    writeFileSync(pdf, "%PDF-1.7\n% a small test file\n");
    await page.getByLabel("Besked").fill("Tak! Her er min lønseddel.");
    await page.getByLabel("Vedhæft en fil").setInputFiles(pdf);
    await page.getByRole("button", { name: "Send" }).click();
    await expect
      .poll(
        async () => {
          const shown = await cli.json<{ messages: { body: { text?: string } }[] }>("mette", ["show", thread.thread_id]);
          return shown.messages.map((m) => m.body.text ?? "");
        },
        { timeout: 30_000 },
      )
      .toContain("Tak! Her er min lønseddel.");
    const shown = await cli.json<{
      messages: { seq: number; sender: { name: string; badge: { kind: string } } | null; body: { text?: string } }[];
    }>("mette", ["show", thread.thread_id]);
    const reply = shown.messages.find((m) => m.body.text === "Tak! Her er min lønseddel.");
    expect(reply?.sender?.name).toBe("Maja");
    expect(reply?.sender?.badge.kind).toBe("citizen");
    const out = mkdtempSync(join(tmpdir(), "samtale-e2e-dl-"));
    await cli.run("mette", ["download", thread.thread_id, String(reply?.seq), "1", "--out", out]);
    expect(readFileSync(join(out, "lønseddel.pdf"))).toEqual(readFileSync(pdf));
    await context.close();
  });
});
