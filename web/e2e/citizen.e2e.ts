// A citizen in the browser, end to end: the real server, the real OpenID
// Provider as MitID, the real `samtale` CLI as the caseworker (Mette), and
// Debian's Chromium as Maja's phone (360×740, Danish) and later her laptop.
// The tests run in order and share Maja's phone and her thread.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessible, checkedScreens, filesContaining, reflows, screenshot, tamperNewestMessage } from "./checks";
import { Cli, eidLogin, launch, type Op, organisation, phone, type Server, startOp, startServer } from "./harness";

let op: Op;
let server: Server;
let cli: Cli;
let browser: Browser;
let fingerprint: string;
let maja: { context: BrowserContext; page: Page };
let thread: string;

beforeAll(async () => {
  op = await startOp();
  server = await startServer(op);
  cli = new Cli(server);
  ({ fingerprint } = await organisation(cli, server));
  browser = await launch();
});

afterAll(async () => {
  process.stderr.write(`axe (WCAG 2.1 A and AA) on ${checkedScreens.length} screens: ${checkedScreens.join(", ")}\n`);
  await browser?.close();
  await server?.stop();
  op?.stop();
  cli?.cleanup();
});

async function invite(nationalId: string, name: string): Promise<{ link: string; code: string }> {
  return cli.json<{ link: string; code: string }>("mette", ["invite", "--national-id", nationalId, "--name", name]);
}

interface Shown {
  messages: { seq: number; read: boolean; sender: { name: string; badge: { kind: string } } | null; body: { text?: string; status: string } }[];
}

function show(id: string): Promise<Shown> {
  return cli.json<Shown>("mette", ["show", id]);
}

/** Joins from the invitation link, through the eID login, checking each
 *  screen with axe. */
async function joinApp(context: BrowserContext, link: string, user: string, check = false): Promise<Page> {
  const page = await context.newPage();
  await page.goto(link);
  await page.getByRole("heading", { name: "Tjek, at det er din kommune" }).waitFor();
  if (check) {
    await accessible(page, "join: fingerprint");
    await screenshot(page, "join-fingerprint");
  }
  await page.getByRole("button", { name: "Det passer med mit brev" }).click();
  await page.getByRole("heading", { name: "Dit samtykke" }).waitFor();
  if (check) {
    await accessible(page, "join: consent");
    await screenshot(page, "join-consent");
  }
  await page.getByLabel(/Jeg siger ja/).check();
  await page.getByRole("button", { name: "Fortsæt" }).click();
  await page.getByRole("button", { name: "Log ind med MitID" }).waitFor();
  if (check) await accessible(page, "join: eID");
  await page.getByRole("button", { name: "Log ind med MitID" }).click();
  await eidLogin(page, op, user);
  await page.getByRole("heading", { name: /Beskyt denne enhed/ }).waitFor();
  if (check) await accessible(page, "join: PIN");
  await page.getByRole("button", { name: "Ikke nu" }).click();
  await page.getByRole("heading", { name: "Dine samtaler" }).waitFor();
  return page;
}

describe("a citizen in the browser", () => {
  it("the start screen passes axe", async () => {
    const context = await phone(browser);
    const page = await context.newPage();
    await page.goto(server.url);
    await page.getByRole("heading", { name: /Sikre beskeder/ }).waitFor();
    await accessible(page, "start");
    await screenshot(page, "start");
    await context.close();
  });

  it("refuses a server whose organisation key is not the letter's, before the code is used", async () => {
    const { link, code } = await invite("010101-4444", "Ida");
    const forged = `${link.slice(0, link.lastIndexOf("/") + 1)}AAAAA-BBBBB-CCCCC-DDDDD-EEEEE`;
    const context = await phone(browser);
    const page = await context.newPage();
    await page.goto(forged);
    await page.getByRole("heading", { name: "Stop: fortsæt ikke" }).waitFor();
    await accessible(page, "join: stop");
    // The code was not used: the real link still joins.
    await page.goto("about:blank");
    await context.close();
    const real = await phone(browser);
    await joinApp(real, link, "ida");
    expect(code.length).toBeGreaterThan(0);
    await real.close();
  });

  it("joins from the letter's link with eID, reads the caseworker's message and answers with text and a PDF", async () => {
    const { link } = await invite("010203-1234", "Maja");
    expect(link).toContain(fingerprint);
    const context = await phone(browser);
    const page = await joinApp(context, link, "maja", true);
    maja = { context, page };
    await accessible(page, "threads (empty)");
    const created = await cli.json<{ thread_id: string }>("mette", ["new-thread", "--citizen", "Maja"]);
    thread = created.thread_id;
    await cli.run("mette", ["send", thread, "Hej Maja, her er din plan for næste uge."]);

    await page.getByRole("link", { name: /Åbn samtalen med Jobcenter/ }).click();
    await page.getByText("Hej Maja, her er din plan for næste uge.").waitFor({ timeout: 30_000 });
    await page.getByText(/Bekræftet: Mette Jensen, Jobcenter, Randers Kommune/).waitFor();
    await page.getByText("Kommunen gemmer denne samtale").waitFor();

    const dir = mkdtempSync(join(tmpdir(), "samtale-e2e-file-"));
    const pdf = join(dir, "lønseddel.pdf");
    writeFileSync(pdf, "%PDF-1.7\n% a small test file\n");
    await page.getByLabel("Besked").fill("Tak! Her er min lønseddel.");
    await page.getByLabel("Vedhæft en fil").setInputFiles(pdf);
    await page.getByRole("button", { name: "Send" }).click();
    await expect
      .poll(async () => (await show(thread)).messages.map((m) => m.body.text ?? ""), { timeout: 30_000 })
      .toContain("Tak! Her er min lønseddel.");
    const shown = await show(thread);
    const reply = shown.messages.find((m) => m.body.text === "Tak! Her er min lønseddel.");
    expect(reply?.sender?.name).toBe("Maja");
    expect(reply?.sender?.badge.kind).toBe("citizen");
    const out = mkdtempSync(join(tmpdir(), "samtale-e2e-dl-"));
    await cli.run("mette", ["download", thread, String(reply?.seq), "1", "--out", out]);
    expect(readFileSync(join(out, "lønseddel.pdf"))).toEqual(readFileSync(pdf));
    await accessible(page, "conversation");
    await screenshot(page, "conversation");
  });

  it("gets messages live, marks them read both ways, and catches up after losing the connection", async () => {
    const { page, context } = maja;
    await cli.run("mette", ["send", thread, "Mødet er flyttet til kl. 10."]);
    await page.getByText("Mødet er flyttet til kl. 10.").waitFor({ timeout: 30_000 });
    // She has it on screen: the caseworker sees it read.
    await expect
      .poll(async () => (await show(thread)).messages.filter((m) => m.sender?.name === "Mette Jensen").every((m) => m.read), {
        timeout: 30_000,
      })
      .toBe(true);
    // The caseworker read her reply (`show` marks it read): she sees "Læst".
    await page.getByText(/Læst/).first().waitFor({ timeout: 30_000 });

    await context.setOffline(true);
    await page.getByText("Offline: beskeder sendes, når du er online igen").waitFor({ timeout: 60_000 });
    await cli.run("mette", ["send", thread, "Første besked mens du var væk."]);
    await cli.run("mette", ["send", thread, "Anden besked mens du var væk."]);
    await context.setOffline(false);
    await page.getByText("Anden besked mens du var væk.").waitFor({ timeout: 60_000 });
    await page.getByText("Første besked mens du var væk.").waitFor();
    await page.getByText("Forbundet").waitFor({ timeout: 30_000 });
  });

  it("shows a message the operator altered in the database as failed, never as text", async () => {
    const { page } = maja;
    await cli.run("mette", ["send", thread, "Denne besked bliver ændret."]);
    await page.getByText("Denne besked bliver ændret.").waitFor({ timeout: 30_000 });
    const db = join(server.dataDir, "samtale.db");
    // Flip one byte of the newest envelope's signature.
    tamperNewestMessage(db, thread);
    // Without a reload: the next message makes the page load the thread
    // again, and the altered envelope is not taken from what it opened
    // before.
    await cli.run("mette", ["send", thread, "Beskeden efter den ændrede."]);
    await page.getByText("Beskeden efter den ændrede.").waitFor({ timeout: 30_000 });
    await page.getByText(/Kunne ikke bekræftes/).waitFor({ timeout: 30_000 });
    expect(await page.getByText("Denne besked bliver ændret.").count()).toBe(0);
    await page.reload();
    await page.getByText(/Kunne ikke bekræftes/).waitFor({ timeout: 30_000 });
    expect(await page.getByText("Denne besked bliver ændret.").count()).toBe(0);
    // Control: the messages before it still show.
    await page.getByText("Mødet er flyttet til kl. 10.").waitFor();
  });

  it("shows markup in a message as text, and the page refuses to make markup into script", async () => {
    const { page } = maja;
    const payload = `<img src="/x" onerror="window.__samtalePwned = 1"> <b>fed</b>`;
    await cli.run("mette", ["send", thread, payload]);
    await page.getByText(payload).waitFor({ timeout: 30_000 });
    expect(await page.locator(`main img[src="/x"], main b`).count()).toBe(0);
    expect(await page.evaluate(() => (window as { __samtalePwned?: number }).__samtalePwned)).toBeUndefined();
    // The second layer: the page's Trusted Types policy refuses markup as
    // HTML outright.
    const refused = await page.evaluate((html) => {
      try {
        document.createElement("div").innerHTML = html;
        return "assigned";
      } catch (e) {
        return e instanceof TypeError ? "refused" : String(e);
      }
    }, payload);
    expect(refused).toBe("refused");
    // The positive control: in a page without the app's policy the same
    // text as HTML runs its handler.
    const plain = await page.context().newPage();
    try {
      await plain.setContent("<main id=m></main>");
      await plain.evaluate((html) => {
        const m = document.getElementById("m");
        if (m !== null) m.innerHTML = html;
      }, payload);
      await expect
        .poll(() => plain.evaluate(() => (window as { __samtalePwned?: number }).__samtalePwned), { timeout: 10_000 })
        .toBe(1);
    } finally {
      await plain.close();
    }
  });

  it("a second browser as her laptop is approved from the phone and reads the history", async () => {
    const laptop = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "da-DK" });
    const page = await laptop.newPage();
    await page.goto(`${server.url}/login`);
    await page.getByRole("button", { name: "Log ind med MitID" }).click();
    await eidLogin(page, op, "maja");
    await page.getByRole("heading", { name: /Beskyt denne enhed/ }).waitFor({ timeout: 30_000 });
    await page.getByRole("button", { name: "Ikke nu" }).click();
    await page.getByRole("heading", { name: "Godkend denne enhed på din anden enhed" }).waitFor({ timeout: 30_000 });
    await accessible(page, "waiting for approval");
    await screenshot(page, "waiting-for-approval");
    const shownOnLaptop = (await page.locator(".fingerprint").innerText()).replace(/\s+/g, "-");

    const phonePage = maja.page;
    await phonePage.getByRole("link", { name: "Indstillinger" }).click();
    await phonePage.getByRole("heading", { name: "En ny enhed vil være med" }).waitFor({ timeout: 30_000 });
    const shownOnPhone = (await phonePage.locator(".card .fingerprint").innerText()).replace(/\s+/g, "-");
    expect(shownOnPhone).toBe(shownOnLaptop);
    await accessible(phonePage, "settings with a device to approve");
    await screenshot(phonePage, "settings-approve");
    await phonePage.getByRole("button", { name: "Godkend" }).click();

    await page.getByRole("heading", { name: "Dine samtaler" }).waitFor({ timeout: 60_000 });
    await page.getByRole("link", { name: /Åbn samtalen med Jobcenter/ }).click();
    await page.getByText("Hej Maja, her er din plan for næste uge.").waitFor({ timeout: 30_000 });
    await page.getByText("Tak! Her er min lønseddel.").waitFor();
    await laptop.close();
  });

  it("keeps canaries typed in the page out of every request, the database files and the log", async () => {
    const { page } = maja;
    const canary = `kanariefugl-${Date.now()}-7c1a`;
    const seen: string[] = [];
    page.on("request", (r) => seen.push(`${r.url()} ${r.postData() ?? ""}`));
    page.on("websocket", (ws) => ws.on("framesent", (f) => seen.push(String(f.payload))));
    await page.getByRole("link", { name: "Dine samtaler" }).click();
    await page.getByRole("link", { name: /Åbn samtalen med Jobcenter/ }).click();
    await page.getByLabel("Besked").fill(`Hemmeligt: ${canary}`);
    await page.getByRole("button", { name: "Send" }).click();
    await expect
      .poll(async () => (await show(thread)).messages.some((m) => (m.body.text ?? "").includes(canary)), { timeout: 30_000 })
      .toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((s) => s.includes(canary))).toEqual([]);
    expect(filesContaining(server.dataDir, canary)).toEqual([]);
    expect(server.log.filter((l) => l.includes(canary))).toEqual([]);
    // Control: the scan finds what is there (the CLI decrypts it).
    expect(JSON.stringify(await show(thread))).toContain(canary);
  });

  it("safety numbers and settings pass axe", async () => {
    const { page } = maja;
    await page.getByRole("link", { name: "Dine samtaler" }).click();
    await page.getByRole("link", { name: /Åbn samtalen med Jobcenter/ }).click();
    await page.getByRole("link", { name: "Sikkerhedsnumre" }).click();
    await page.getByRole("heading", { name: "Mette Jensen" }).waitFor({ timeout: 30_000 });
    await accessible(page, "safety numbers");
    await reflows(page, "safety numbers");
    await screenshot(page, "safety-numbers");
    await page.getByRole("link", { name: "Indstillinger" }).click();
    await page.getByRole("heading", { name: "Dine enheder" }).waitFor();
    await accessible(page, "settings");
    await reflows(page, "settings");
    await screenshot(page, "settings");
    await page.getByRole("link", { name: "Dine samtaler" }).click();
    await page.getByRole("heading", { name: "Dine samtaler" }).waitFor();
    await reflows(page, "threads");
    await screenshot(page, "threads");
    await page.getByRole("link", { name: /Åbn samtalen med Jobcenter/ }).click();
    await page.getByText("Mødet er flyttet til kl. 10.").waitFor({ timeout: 30_000 });
    await reflows(page, "conversation");
  });

  it("can be used with the keyboard alone: joining and sending a message", async () => {
    const { link } = await invite("150688-1111", "Ole");
    const context = await phone(browser);
    const page = await context.newPage();
    const tab = async (until: (name: string) => boolean): Promise<void> => {
      for (let i = 0; i < 30; i++) {
        await page.keyboard.press("Tab");
        const name = await page.evaluate(() => {
          const el = document.activeElement as HTMLElement | null;
          return `${el?.tagName ?? ""} ${el?.getAttribute("aria-label") ?? ""} ${el?.textContent ?? ""} ${(el as HTMLInputElement | null)?.name ?? ""} ${el?.id ?? ""}`;
        });
        if (until(name)) return;
      }
      throw new Error("the keyboard never reached the control");
    };
    await page.goto(link);
    await page.getByRole("heading", { name: "Tjek, at det er din kommune" }).waitFor();
    await tab((n) => n.includes("Det passer med mit brev"));
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Dit samtykke" }).waitFor();
    await tab((n) => n.includes("consent"));
    await page.keyboard.press("Space");
    await tab((n) => n.includes("Fortsæt"));
    await page.keyboard.press("Enter");
    await page.getByRole("button", { name: "Log ind med MitID" }).waitFor();
    await tab((n) => n.includes("Log ind med MitID"));
    await page.keyboard.press("Enter");
    await eidLogin(page, op, "ole");
    await page.getByRole("heading", { name: /Beskyt denne enhed/ }).waitFor();
    await tab((n) => n.includes("Ikke nu"));
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Dine samtaler" }).waitFor();
    const created = await cli.json<{ thread_id: string }>("mette", ["new-thread", "--citizen", "Ole"]);
    await cli.run("mette", ["send", created.thread_id, "Hej Ole."]);
    await page.getByRole("link", { name: /Åbn samtalen med Jobcenter/ }).waitFor({ timeout: 30_000 });
    await tab((n) => n.includes("Åbn samtalen med Jobcenter"));
    await page.keyboard.press("Enter");
    await page.getByText("Hej Ole.").waitFor({ timeout: 30_000 });
    await tab((n) => n.includes("message"));
    await page.keyboard.type("Skrevet uden mus.");
    await tab((n) => n.startsWith("BUTTON") && n.includes("Send"));
    await page.keyboard.press("Enter");
    await expect
      .poll(async () => (await show(created.thread_id)).messages.map((m) => m.body.text ?? ""), { timeout: 30_000 })
      .toContain("Skrevet uden mus.");
    await context.close();
  });

  it("withdrawing consent in the app stops sending, and the caseworker sees it", async () => {
    const { page } = maja;
    await page.getByRole("link", { name: "Indstillinger" }).click();
    await page.getByRole("button", { name: "Træk samtykke tilbage" }).click();
    await page.getByRole("button", { name: "Træk mit samtykke tilbage" }).click();
    await page.getByText("Du har trukket dit samtykke tilbage").waitFor({ timeout: 30_000 });
    const citizens = await cli.json<{ display_name: string; consent: string }[]>("mette", ["citizens"]);
    expect(citizens.find((c) => c.display_name === "Maja")?.consent).toBe("withdrawn");
    await expect(cli.run("mette", ["send", thread, "Er du der?"])).rejects.toThrow(/consent|samtykke/i);
    await maja.context.close();
  });
});
