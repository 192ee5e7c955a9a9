// A caseworker in the browser, end to end: the real server, the real
// `samtale` CLI as the admin (Anne), a colleague (Mette) and the citizen
// (Maja, who joined without eID on this server), and Debian's Chromium as
// Sara's desktop (1280×800, Danish). The tests run in order and share
// Sara's page.
//
// Sara logs in as a new device, is told to have it certified and shown its
// fingerprint; the admin certifies exactly that fingerprint; the page sees
// the certificate by itself, receives the team key from Mette's key upkeep,
// reads the thread, is warned as she types a CPR number or Maja's full
// name, sends, gets Maja's answer live, and loses the page at once when the
// admin revokes the device.

import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page, Request } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessible, checkedScreens, screenshot } from "./checks";
import { Cli, launch, organisation, PASSWORD, type Server, startServer } from "./harness";

let server: Server;
let cli: Cli;
let browser: Browser;
let sara: { context: BrowserContext; page: Page };
let thread: string;
let rootFingerprint: string;
const requests: Request[] = [];
/** Everything the page sent over its WebSockets. */
const frames: string[] = [];

beforeAll(async () => {
  server = await startServer(null);
  cli = new Cli(server);
  ({ fingerprint: rootFingerprint } = await organisation(cli, server));
  await cli.run("admin", [
    "admin", "staff", "create", "sara", "--name", "Sara Holm", "--role", "staff", "--team", "Jobcenter",
  ]);
  const invitation = await cli.json<{ code: string }>("mette", [
    "invite", "--national-id", "010203-1234", "--name", "Maja Hansen",
  ]);
  await cli.run("maja", ["join", "--code", invitation.code, "--accept-consent"]);
  thread = (await cli.json<{ thread_id: string }>("mette", ["new-thread", "--citizen", "Maja Hansen"])).thread_id;
  await cli.run("mette", ["send", thread, "Hej Maja, vi ses på torsdag."]);
  browser = await launch();
});

afterAll(async () => {
  process.stderr.write(`axe (WCAG 2.1 A and AA) on ${checkedScreens.length} staff screens: ${checkedScreens.join(", ")}\n`);
  await browser?.close();
  await server?.stop();
  cli?.cleanup();
});

interface Shown {
  messages: { seq: number; sender: { name: string; badge: { kind: string } } | null; body: { text?: string } }[];
}

/** The fingerprint the page shows, read from its accessible name. */
async function shownFingerprint(page: Page): Promise<string> {
  const label = await page.locator("[data-testid=uncertified] .fingerprint").getAttribute("aria-label");
  const groups = (label ?? "").split(":")[1]?.trim().split(" ") ?? [];
  expect(groups.length).toBeGreaterThan(3);
  return groups.join("-");
}

describe("a caseworker in the browser", () => {
  it("logs in as a new device, which may not send until an admin certifies the fingerprint it shows", async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "da-DK" });
    const page = await context.newPage();
    page.on("request", (r) => requests.push(r));
    page.on("websocket", (ws) => ws.on("framesent", (f) => frames.push(String(f.payload))));
    sara = { context, page };
    await page.goto(server.url);
    await page.getByRole("link", { name: /Medarbejder: log ind/ }).click();
    await page.getByRole("heading", { name: "Log ind som medarbejder" }).waitFor();
    await accessible(page, "staff: login");
    await screenshot(page, "staff-login");
    await page.getByLabel("Brugernavn").fill("sara");
    await page.getByLabel("Adgangskode").fill("not the password");
    await page.getByRole("button", { name: "Log ind" }).click();
    await page.getByRole("alert").waitFor();
    await page.getByLabel("Adgangskode").fill(PASSWORD);
    await page.getByRole("button", { name: "Log ind" }).click();
    await page.getByRole("heading", { name: /Beskyt denne enhed/ }).waitFor({ timeout: 30_000 });
    await page.getByRole("button", { name: "Ikke nu" }).click();
    await page.getByRole("heading", { name: "Indbakke" }).waitFor();
    await page.getByRole("heading", { name: "En administrator skal certificere denne browser" }).waitFor();
    await accessible(page, "staff: inbox, device not certified");
    await screenshot(page, "staff-uncertified");

    // The admin's list has the browser waiting, with the same fingerprint.
    const fingerprint = await shownFingerprint(page);
    const devices = await cli.json<{ fingerprint: string; certified: boolean }[]>("admin", ["admin", "staff", "devices", "sara"]);
    const waiting = devices.filter((d) => !d.certified);
    expect(waiting.map((d) => d.fingerprint)).toEqual([fingerprint]);

    // Not certified: the thread opens, the composer does not.
    await page.getByRole("link", { name: /Åbn samtalen med Maja Hansen/ }).click();
    await page.getByText("Denne enhed er ikke certificeret endnu").waitFor();
    expect(await page.getByLabel("Besked").count()).toBe(0);

    // A wrong fingerprint is refused by the admin's CLI; the right one certifies.
    const wrong = fingerprint.replace(/^./, (c) => (c === "A" ? "B" : "A"));
    await expect(cli.run("admin", ["admin", "certify", "sara", "--fingerprint", wrong])).rejects.toThrow();
    await cli.run("admin", ["admin", "certify", "sara", "--fingerprint", fingerprint]);
    // Mette's key upkeep grants the team key to Sara's newly certified device.
    await expect
      .poll(async () => {
        await cli.run("mette", ["keys"]);
        return page.getByText("Denne enhed er ikke certificeret endnu").count();
      }, { timeout: 30_000, interval: 1_000 })
      .toBe(0);
    await page.reload();
    await page.getByText("Hej Maja, vi ses på torsdag.").waitFor({ timeout: 30_000 });
    await page.getByText(/Bekræftet: Mette Jensen, Jobcenter/).waitFor();
    await page.getByText("Maja Hansen: identiteten er ikke bekræftet med eID — giv kun generelle svar").waitFor();
  });

  it("underlines a CPR number and the citizen's full name as they are typed, and holds the message until confirmed", async () => {
    const { page } = sara;
    const box = page.getByLabel("Besked");
    await box.click();
    await box.pressSequentially("Maja Hansen har cpr 010203-1234");
    await page.getByText(/Tjek før du sender/).waitFor();
    const findings = await page.locator(".findings li").allTextContents();
    expect(findings).toEqual(
      expect.arrayContaining([
        expect.stringContaining("“Maja Hansen”: fornavn og efternavn"),
        expect.stringContaining("“010203-1234”: et CPR-nummer"),
      ]),
    );
    expect(await page.locator(".mirror mark").allTextContents()).toEqual(["Maja Hansen", "010203-1234"]);
    expect(await page.getByRole("button", { name: "Send" }).isDisabled()).toBe(true);
    await accessible(page, "staff: composer with findings");
    await screenshot(page, "staff-minimisation");
    // Nothing was sent: no message request left the page with the text
    // (the envelope is sealed anyway; this checks the hold).
    await box.fill("");
    await box.pressSequentially("Hej Maja, husk mødet på torsdag kl. 10.");
    expect(await page.locator(".findings li").count()).toBe(0);
    await page.getByRole("button", { name: "Send" }).click();
    await expect
      .poll(async () => (await cli.json<Shown>("maja", ["show", thread])).messages.map((m) => m.body.text ?? ""), {
        timeout: 30_000,
      })
      .toContain("Hej Maja, husk mødet på torsdag kl. 10.");
    const shown = await cli.json<Shown>("maja", ["show", thread]);
    const sent = shown.messages.find((m) => m.body.text === "Hej Maja, husk mødet på torsdag kl. 10.");
    expect(sent?.sender?.name).toBe("Sara Holm");
    expect(sent?.sender?.badge.kind).toBe("certified");
    expect(shown.messages.some((m) => (m.body.text ?? "").includes("010203-1234"))).toBe(false);
  });

  it("gets the citizen's answer live, and the inbox counts it as unread in the tab title", async () => {
    const { page } = sara;
    await page.getByRole("link", { name: "Indbakke" }).first().click();
    await page.getByRole("heading", { name: "Indbakke" }).waitFor();
    await cli.run("maja", ["send", thread, "Tak, jeg kommer."]);
    await expect.poll(() => page.title(), { timeout: 30_000 }).toMatch(/^\(1\) Indbakke/);
    await page.getByLabel("Ulæste").check();
    expect(await page.getByRole("row").count()).toBe(2);
    await accessible(page, "staff: inbox");
    await screenshot(page, "staff-inbox");
    await page.getByRole("link", { name: /Åbn samtalen med Maja Hansen/ }).click();
    await page.getByText("Tak, jeg kommer.").waitFor({ timeout: 30_000 });
    await accessible(page, "staff: conversation");
    await screenshot(page, "staff-conversation");
  });

  it("sends a file, which the citizen's client downloads byte for byte, and shows her read mark", async () => {
    const { page } = sara;
    await page.getByRole("link", { name: "Indbakke" }).first().click();
    await page.getByRole("link", { name: /Åbn samtalen med Maja Hansen/ }).click();
    await page.getByText("Tak, jeg kommer.").waitFor({ timeout: 30_000 });
    const dir = mkdtempSync(join(tmpdir(), "samtale-e2e-staff-file-"));
    const pdf = join(dir, "mødeplan.pdf");
    writeFileSync(pdf, "%PDF-1.7\n% a small meeting plan\n");
    await page.getByLabel("Besked").fill("Her er planen for mødet.");
    await page.getByLabel("Vedhæft en fil").setInputFiles(pdf);
    await page.getByRole("button", { name: "Send" }).click();
    let seq = 0;
    await expect
      .poll(
        async () => {
          const shown = await cli.json<Shown>("maja", ["show", thread]);
          seq = shown.messages.find((m) => m.body.text === "Her er planen for mødet.")?.seq ?? 0;
          return seq;
        },
        { timeout: 30_000 },
      )
      .toBeGreaterThan(0);
    const out = mkdtempSync(join(tmpdir(), "samtale-e2e-staff-dl-"));
    await cli.run("maja", ["download", thread, String(seq), "1", "--out", out]);
    expect(readFileSync(join(out, "mødeplan.pdf"))).toEqual(readFileSync(pdf));
    // Maja's `show` marked it read: Sara's page shows it.
    await page.getByText(/Læst/).first().waitFor({ timeout: 30_000 });
  });

  it("finds a word from a decrypted message, and no request or frame the page sends carries the term", async () => {
    const { page } = sara;
    await page.getByRole("link", { name: "Indbakke" }).first().click();
    await page.getByRole("heading", { name: "Indbakke" }).waitFor();
    const before = { requests: requests.length, frames: frames.length };
    await page.getByLabel(/Søg i beskederne/).fill("torsdag");
    await page.getByRole("button", { name: "Søg", exact: true }).click();
    await page.getByText("2 beskeder indeholder “torsdag”").waitFor({ timeout: 30_000 });
    const hits = await page.locator("table.results mark").allTextContents();
    expect(hits).toEqual(["torsdag", "torsdag"]);
    await accessible(page, "staff: search results");
    await screenshot(page, "staff-search");
    const sent = requests.slice(before.requests);
    // The control: the search did make requests (it opened the threads to
    // index them), so a term in any of them would have been seen here.
    expect(sent.length).toBeGreaterThan(0);
    for (const r of sent) {
      expect(`${r.url()} ${r.postData() ?? ""} ${JSON.stringify(r.headers())}`).not.toContain("torsdag");
    }
    for (const f of frames.slice(before.frames)) expect(f).not.toContain("torsdag");
    // A second search opens nothing: the index is kept (encrypted) here.
    const second = requests.length;
    await page.getByLabel(/Søg i beskederne/).fill("kommer");
    await page.getByRole("button", { name: "Søg", exact: true }).click();
    await page.getByText("1 besked indeholder “kommer”").waitFor();
    expect(requests.slice(second).filter((r) => r.url().includes("/messages")).length).toBe(0);
  });

  it("is keyboard-usable: the inbox's links and the composer are reached with Tab", async () => {
    const { page } = sara;
    await page.getByRole("link", { name: "Indbakke" }).first().click();
    await page.getByRole("heading", { name: "Indbakke" }).waitFor();
    let reached = false;
    for (let i = 0; i < 30 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate(() => document.activeElement?.getAttribute("aria-label")?.startsWith("Åbn samtalen med") ?? false);
    }
    expect(reached).toBe(true);
    await page.keyboard.press("Enter");
    await page.getByText("Tak, jeg kommer.").waitFor();
    let typed = false;
    for (let i = 0; i < 40 && !typed; i++) {
      await page.keyboard.press("Tab");
      typed = await page.evaluate(() => document.activeElement?.tagName === "TEXTAREA");
    }
    expect(typed).toBe(true);
  });

  it("invites a citizen: the letter shows the code, QR and fingerprint, prints and downloads, and the national id is gone from the page", async () => {
    const { page } = sara;
    await page.getByRole("link", { name: "Invitér en borger" }).click();
    await page.getByRole("heading", { name: "Invitér en borger" }).waitFor();
    await accessible(page, "staff: invite");
    await page.getByLabel(/Borgerens navn/).fill("Ole Berg");
    await page.getByLabel(/CPR-nummer/).fill("020304-5678");
    await page.getByRole("button", { name: "Lav invitationen" }).click();
    await page.getByRole("heading", { name: "Invitation til Samtale fra Randers Kommune" }).waitFor({ timeout: 30_000 });
    const mono = await page.locator(".letter .letter-mono").allTextContents();
    const [address, code, fingerprint] = mono;
    expect(address).toBe(server.url);
    expect(code).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}$/);
    await page.getByText("Vores første besked kommer aldrig som en uforklaret sms", { exact: false }).waitFor();
    await accessible(page, "staff: invitation letter");
    await screenshot(page, "staff-letter");
    // Nothing of the national id is left in the page or its storage.
    const html = await page.content();
    expect(html).not.toContain("020304-5678");
    expect(html).not.toContain("0203045678");
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    expect(stored).not.toContain("020304");
    // The PDF.
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Hent som PDF" }).click()]);
    const path = await download.path();
    const pdf = readFileSync(path);
    expect(pdf.subarray(0, 8).toString("latin1")).toBe("%PDF-1.4");
    expect(pdf.toString("latin1")).toContain(`(${code}) Tj`);
    // The letter in Swedish, on request.
    await page.getByLabel("Brevets sprog").selectOption("sv");
    await page.getByRole("heading", { name: "Inbjudan till Samtale från Randers Kommune" }).waitFor();
    // The citizen joins with the letter's code, checking its fingerprint.
    await cli.run("ole", ["join", "--code", code ?? "", "--fingerprint", fingerprint ?? "", "--accept-consent"]);
    const ole = await cli.json<{ display_name: string }>("ole", ["whoami"]);
    expect(ole.display_name).toBe("Ole Berg");
  });

  it("adds the new citizen to Maja's thread with a signed record (a multi-party thread), and starts a conversation of its own", async () => {
    const { page } = sara;
    await page.getByRole("link", { name: "Indbakke" }).first().click();
    await page.getByRole("link", { name: /Åbn samtalen med Maja Hansen/ }).click();
    await page.getByText("Tak, jeg kommer.").waitFor({ timeout: 30_000 });
    await page.getByText("Tilføj en deltager").click();
    await page.getByLabel("Borger i teamet").selectOption({ label: "Ole Berg" });
    await page.getByRole("button", { name: "Tilføj til samtalen" }).click();
    await page.getByText("Ole Berg deltager fra nu af").waitFor({ timeout: 30_000 });
    await page.getByText("Deltagere: Maja Hansen, Ole Berg").waitFor({ timeout: 30_000 });
    await page.getByLabel("Besked").fill("Velkommen til, Ole.");
    await page.getByRole("button", { name: "Send" }).click();
    // Both citizens read it, from Sara, verified by their own clients.
    for (const who of ["maja", "ole"]) {
      await expect
        .poll(async () => (await cli.json<Shown>(who, ["show", thread])).messages.map((m) => m.body.text ?? ""), { timeout: 30_000 })
        .toContain("Velkommen til, Ole.");
    }
    await accessible(page, "staff: multi-party conversation");

    await page.getByRole("link", { name: "Indbakke" }).first().click();
    await page.getByRole("button", { name: "Ny samtale" }).click();
    await page.getByRole("heading", { name: "Ny samtale" }).waitFor();
    await page.getByLabel("Ole Berg").check();
    await accessible(page, "staff: new conversation");
    await page.getByRole("button", { name: "Start samtalen" }).click();
    await page.getByText("Deltagere: Ole Berg").waitFor({ timeout: 30_000 });
    await page.getByLabel("Besked").fill("Hej Ole, her er din egen samtale.");
    await page.getByRole("button", { name: "Send" }).click();
    await expect
      .poll(
        async () => {
          const rows = await cli.json<{ thread_id: string }[] | { threads: { thread_id: string }[] }>("ole", ["threads"]);
          return Array.isArray(rows) ? rows.length : rows.threads.length;
        },
        { timeout: 30_000 },
      )
      .toBe(2);
  });

  it("the record clerk exports the multi-party thread the page wrote in, and `journal verify` accepts it", async () => {
    await cli.run("admin", ["admin", "staff", "create", "rita", "--name", "Rita Clerk", "--role", "record-clerk"]);
    await cli.run("rita", ["login", "--username", "rita"]);
    const me = await cli.json<{ device_fingerprint: string }>("rita", ["whoami"]);
    await cli.run("admin", ["admin", "certify", "rita", "--fingerprint", me.device_fingerprint]);
    await cli.run("admin", ["admin", "archive-key"]);
    const out = mkdtempSync(join(tmpdir(), "samtale-e2e-journal-"));
    const outcome = await cli.json<{ dir: string }>("rita", ["journal", "export", thread, "--case", "2026-004711", "--out", out]);
    const journal = readFileSync(join(outcome.dir, "journal.json"), "utf8");
    // Sara's messages and file, Maja's answer, Ole added: all in the record.
    for (const text of ["Hej Maja, husk mødet på torsdag kl. 10.", "Her er planen for mødet.", "Tak, jeg kommer.", "Velkommen til, Ole."]) {
      expect(journal).toContain(text);
    }
    const verified = await cli.json<{ verified: boolean; messages: number }>("rita", [
      "journal", "verify", join(outcome.dir, "journal.json"), "--root-fingerprint", rootFingerprint,
    ]);
    expect(verified.verified).toBe(true);
    expect(verified.messages).toBeGreaterThanOrEqual(5);
  });

  it("loses the team's threads at once when she leaves the team, on the page she has open", async () => {
    const { page } = sara;
    await page.getByRole("link", { name: "Indbakke" }).first().click();
    await page.getByRole("link", { name: /Åbn samtalen med Maja Hansen, Ole Berg/ }).click();
    await page.getByText("Velkommen til, Ole.").waitFor({ timeout: 30_000 });
    await cli.run("admin", ["admin", "team", "remove", "Jobcenter", "sara"]);
    await page.getByText("Du har ikke længere adgang til denne samtale").waitFor({ timeout: 10_000 });
    expect(await page.getByText("Velkommen til, Ole.").count()).toBe(0);
    await accessible(page, "staff: access lost");
    await page.getByRole("link", { name: "Indbakke" }).first().click();
    await page.getByText("Ingen samtaler her.").waitFor({ timeout: 10_000 });
  });

  it("closes the page's session as soon as the admin revokes the device, and says why", async () => {
    const { page } = sara;
    const devices = await cli.json<{ device_id: string; certified: boolean; revoked_at?: number }[]>("admin", [
      "admin", "staff", "devices", "sara",
    ]);
    const device = devices.find((d) => d.certified && d.revoked_at === undefined);
    expect(device).toBeDefined();
    await cli.run("admin", ["admin", "staff", "revoke-device", "sara", device?.device_id ?? ""]);
    await page.getByText("Denne enhed er blevet tilbagekaldt").waitFor({ timeout: 2_000 });
    await accessible(page, "staff: device revoked");
    // No request the page made carried the password in a URL.
    expect(requests.filter((r) => r.url().includes(PASSWORD)).length).toBe(0);
    await sara.context.close();
  });
});
