// An organisation set up from an empty server entirely in the browser: the
// real server, the real OpenID Provider as MitID, and Debian's Chromium as
// three people — Anne, the admin, on her desktop; Mette, a caseworker, on
// hers; and Maja, a citizen, on her phone. No `samtale` CLI takes part.
//
// Anne enters the enrolment code the server printed, and the page makes the
// organisation's root key and keeps it in her browser's keystore; she makes
// a team and Mette's account. Mette signs in as a new device and reads her
// fingerprint to Anne, who certifies it only when the typed fingerprint
// matches (a wrong one is refused). Mette invites Maja with a printed
// letter; Maja joins with its link and eID on her phone; they write both
// ways with a file and read marks. Anne holds the thread, checks the audit
// log, and revokes Mette's device: Mette's open page closes within 2 s.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { accessible, checkedScreens, filesContaining, screenshot } from "./checks";
import { eidLogin, launch, type Op, PASSWORD, phone, type Server, startOp, startServer } from "./harness";

let op: Op;
let server: Server;
let browser: Browser;
let anne: { context: BrowserContext; page: Page };
let mette: { context: BrowserContext; page: Page };
let maja: { context: BrowserContext; page: Page };
let rootFingerprint: string;
let thread: string;

beforeAll(async () => {
  op = await startOp();
  server = await startServer(op);
  expect(server.enrolmentCode).not.toBe("");
  browser = await launch();
});

afterAll(async () => {
  process.stderr.write(`axe (WCAG 2.1 A and AA) on ${checkedScreens.length} admin screens: ${checkedScreens.join(", ")}\n`);
  await browser?.close();
  await server?.stop();
  op?.stop();
});

function desktop(): Promise<BrowserContext> {
  return browser.newContext({ viewport: { width: 1280, height: 800 }, locale: "da-DK" });
}

/** The fingerprint an uncertified staff page shows, from its accessible name. */
async function shownFingerprint(page: Page): Promise<string> {
  const label = await page.locator("[data-testid=uncertified] .fingerprint").getAttribute("aria-label");
  const groups = (label ?? "").split(":")[1]?.trim().split(" ") ?? [];
  expect(groups.length).toBeGreaterThan(3);
  return groups.join("-");
}

async function adminTab(page: Page, name: string): Promise<void> {
  await page.getByRole("navigation", { name: "Administration" }).getByRole("link", { name, exact: true }).click();
  await page.getByRole("heading", { name: `Administration: ${name}` }).waitFor();
}

describe("an organisation set up in the browser", () => {
  it("the admin sets the organisation up with the enrolment code; the root key is made and kept in her browser", async () => {
    const context = await desktop();
    const page = await context.newPage();
    anne = { context, page };
    await page.goto(`${server.url}/staff`);
    await page.getByRole("link", { name: "Opret en ny organisation" }).click();
    await page.getByRole("heading", { name: "Opret jeres organisation" }).waitFor();
    await accessible(page, "admin: setup");
    await screenshot(page, "admin-setup");
    // A wrong code is refused and uses nothing up.
    const fill = async (code: string): Promise<void> => {
      await page.getByLabel(/^Tilmeldingskode/).fill(code);
      await page.getByLabel("Organisationens navn").fill("Randers Kommune");
      await page.getByLabel("Dit brugernavn").fill("anne");
      await page.getByLabel(/^Dit navn/).fill("Anne Admin");
      await page.getByLabel(/^Din adgangskode(?! igen)/).fill(PASSWORD);
      await page.getByLabel("Din adgangskode igen").fill(PASSWORD);
      await page.getByRole("button", { name: "Opret organisationen" }).click();
    };
    await fill("AAAA-BBBB-CCCC-DDDD-EEEE");
    await page.getByRole("alert").waitFor();
    await fill(server.enrolmentCode);
    await page.getByRole("heading", { name: "Jeres organisation er oprettet" }).waitFor({ timeout: 30_000 });
    const label = await page.locator(".fingerprint").getAttribute("aria-label");
    rootFingerprint = (label ?? "").split(":")[1]?.trim().split(" ").join("-") ?? "";
    expect(rootFingerprint).toMatch(/^[0-9A-Z]{5}(-[0-9A-Z]{5})+$/);
    await accessible(page, "admin: organisation set up");
    await screenshot(page, "admin-setup-done");
    await page.getByRole("button", { name: "Fortsæt" }).click();
    await page.getByRole("heading", { name: /Beskyt denne enhed/ }).waitFor();
    await page.getByRole("button", { name: "Ikke nu" }).click();
    await page.getByRole("heading", { name: "Administration: Teams" }).waitFor({ timeout: 30_000 });
    await page.getByText("Denne browser har organisationens rodnøgle").waitFor();
    // The root key is in the sealed keystore only: nothing in the page's
    // storage or any request carries its seed in the clear (the public key
    // went to the server, as it must).
    const stored = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }));
    expect(stored).not.toContain("rootSeed");
  });

  it("makes a team with its retention policy and a caseworker's account", async () => {
    const { page } = anne;
    await page.getByText("Ingen teams endnu").waitFor();
    await page.getByLabel("Teamets navn").fill("Jobcenter");
    await page.getByRole("button", { name: "Opret et team" }).click();
    await page.getByText("Teamet Jobcenter er oprettet").waitFor({ timeout: 30_000 });
    await page.getByLabel("Dage efter journalisering, Jobcenter").fill("45");
    await page.getByLabel("Dage uden journalisering, Jobcenter").fill("120");
    await page.getByRole("button", { name: "Gem Jobcenter" }).click();
    await page.getByText("Gallringsreglen for Jobcenter er gemt.").waitFor();
    await page.reload();
    await page.getByRole("heading", { name: "Administration: Teams" }).waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByLabel("Dage uden journalisering, Jobcenter").inputValue()).toBe("120");
    await accessible(page, "admin: teams");
    await screenshot(page, "admin-teams");

    await adminTab(page, "Medarbejdere");
    await page.getByLabel("Brugernavn").fill("mette");
    await page.getByLabel("Navn", { exact: true }).fill("Mette Jensen");
    await page.getByLabel(/^Første adgangskode/).fill(PASSWORD);
    await page.getByRole("group", { name: "Teams" }).getByLabel("Jobcenter").check();
    await page.getByRole("button", { name: "Opret en medarbejder" }).click();
    await page.getByText("mette er oprettet").waitFor({ timeout: 30_000 });
    const row = page.getByRole("row", { name: /mette/ });
    await expect.poll(() => row.textContent()).toContain("Jobcenter");
    expect(await row.textContent()).toContain("Sagsbehandler");
    await accessible(page, "admin: staff");
    await screenshot(page, "admin-staff");
  });

  it("certifies the caseworker's new browser only after the typed fingerprint matches, and she can then send", async () => {
    const context = await desktop();
    const page = await context.newPage();
    mette = { context, page };
    await page.goto(`${server.url}/staff`);
    await page.getByLabel("Brugernavn").fill("mette");
    await page.getByLabel("Adgangskode").fill(PASSWORD);
    await page.getByRole("button", { name: "Log ind" }).click();
    await page.getByRole("heading", { name: /Beskyt denne enhed/ }).waitFor({ timeout: 30_000 });
    await page.getByRole("button", { name: "Ikke nu" }).click();
    await page.getByRole("heading", { name: "En administrator skal certificere denne browser" }).waitFor();
    // Her page shows the same organisation fingerprint as Anne's.
    await page.getByText(rootFingerprint).waitFor();
    const fingerprint = await shownFingerprint(page);

    await adminTab(anne.page, "Enheder");
    const waiting = anne.page.getByRole("table").first();
    await waiting.getByRole("row", { name: /mette/ }).waitFor({ timeout: 30_000 });
    await accessible(anne.page, "admin: devices waiting");
    await screenshot(anne.page, "admin-devices");
    // One wrong character: refused, nothing certified (the positive
    // control for the comparison).
    const wrong = fingerprint.replace(/^./, (c) => (c === "A" ? "B" : "A"));
    await anne.page.getByLabel("Fingeraftryk på mettes skærm").fill(wrong);
    await anne.page.getByRole("button", { name: "Certificér mette" }).click();
    await anne.page.getByText(/Ingen af mettes ventende enheder har fingeraftrykket/).waitFor({ timeout: 30_000 });
    await page.waitForTimeout(3_500);
    expect(await page.getByRole("heading", { name: "En administrator skal certificere denne browser" }).count()).toBe(1);
    // The right one.
    await anne.page.getByLabel("Fingeraftryk på mettes skærm").fill(fingerprint.toLowerCase().replaceAll("-", " "));
    await anne.page.getByRole("button", { name: "Certificér mette" }).click();
    await anne.page.getByText("mettes enhed er certificeret").waitFor({ timeout: 30_000 });
    await anne.page.getByText("Ingen enheder venter.").waitFor();
    // Her page notices the certificate by itself.
    await page
      .getByRole("heading", { name: "En administrator skal certificere denne browser" })
      .waitFor({ state: "detached", timeout: 30_000 });

    // Her refresh token is in an HttpOnly cookie scoped to the refresh
    // endpoint, out of reach of the page's scripts; the access token lives
    // in memory, so a reload refreshes through the cookie and goes on.
    const refresh = (await context.cookies()).find((c) => c.name === "samtale_refresh");
    expect(refresh).toMatchObject({ httpOnly: true, secure: true, sameSite: "Strict", path: "/v1/sessions/refresh" });
    expect(await page.evaluate(() => document.cookie)).not.toContain("samtale_refresh");
    await page.reload();
    await page.getByRole("heading", { name: "Indbakke" }).waitFor({ timeout: 30_000 });
    await page.getByRole("link", { name: "Invitér en borger" }).waitFor();
  });

  it("the caseworker invites a citizen in the browser, who joins with the letter's link and eID on her phone; they write both ways with a file and read marks", async () => {
    const { page } = mette;
    await page.getByRole("link", { name: "Invitér en borger" }).click();
    await page.getByLabel(/Borgerens navn/).fill("Maja Hansen");
    await page.getByLabel(/CPR-nummer/).fill("010203-1234");
    await page.getByRole("button", { name: "Lav invitationen" }).click();
    await page.getByRole("heading", { name: "Invitation til Samtale fra Randers Kommune" }).waitFor({ timeout: 30_000 });
    const [address, code, fingerprint] = await page.locator(".letter .letter-mono").allTextContents();
    expect(address).toBe(server.url);
    expect(fingerprint).toBe(rootFingerprint);
    const link = `${address}/join#${code}/${fingerprint}`;

    const phoneContext = await phone(browser);
    const phonePage = await phoneContext.newPage();
    maja = { context: phoneContext, page: phonePage };
    await phonePage.goto(link);
    await phonePage.getByRole("heading", { name: "Tjek, at det er din kommune" }).waitFor();
    await phonePage.getByRole("button", { name: "Det passer med mit brev" }).click();
    await phonePage.getByLabel(/Jeg siger ja/).check();
    await phonePage.getByRole("button", { name: "Fortsæt" }).click();
    await phonePage.getByRole("button", { name: "Log ind med MitID" }).click();
    await eidLogin(phonePage, op, "maja");
    await phonePage.getByRole("heading", { name: /Beskyt denne enhed/ }).waitFor({ timeout: 30_000 });
    await phonePage.getByRole("button", { name: "Ikke nu" }).click();
    await phonePage.getByRole("heading", { name: "Dine samtaler" }).waitFor();

    // Mette starts the conversation and writes.
    await page.getByRole("link", { name: "Indbakke" }).first().click();
    await page.getByRole("button", { name: "Ny samtale" }).click();
    await page.getByLabel("Maja Hansen").check();
    await page.getByRole("button", { name: "Start samtalen" }).click();
    await page.getByText("Deltagere: Maja Hansen").waitFor({ timeout: 30_000 });
    await page.getByText("Maja Hansen: identiteten er bekræftet med eID", { exact: false }).waitFor();
    thread = new URL(page.url()).pathname.split("/")[2] ?? "";
    expect(thread).toMatch(/^[0-9a-f-]{36}$/);
    await page.getByLabel("Besked").fill("Hej Maja, velkommen. Vi ses torsdag.");
    await page.getByRole("button", { name: "Send" }).click();

    // Maja reads it on her phone, verified, and answers with a file.
    await phonePage.getByRole("link", { name: /Åbn samtalen med Jobcenter/ }).click({ timeout: 30_000 });
    await phonePage.getByText("Hej Maja, velkommen. Vi ses torsdag.").waitFor({ timeout: 30_000 });
    await phonePage.getByText(/Bekræftet: Mette Jensen, Jobcenter, Randers Kommune/).waitFor();
    const dir = mkdtempSync(join(tmpdir(), "samtale-e2e-admin-"));
    const pdf = join(dir, "aftale.pdf");
    writeFileSync(pdf, "%PDF-1.7\n% an agreement\n");
    await phonePage.getByLabel("Besked").fill("Tak, jeg kommer. Her er aftalen.");
    await phonePage.getByLabel("Vedhæft en fil").setInputFiles(pdf);
    await phonePage.getByRole("button", { name: "Send" }).click();

    // Mette has it live, with the file; Maja's phone shows Mette's read mark.
    await page.getByText("Tak, jeg kommer. Her er aftalen.").waitFor({ timeout: 30_000 });
    await page.getByText("aftale.pdf").waitFor();
    await phonePage.getByText(/Læst/).first().waitFor({ timeout: 30_000 });
    await page.getByText(/Læst/).first().waitFor({ timeout: 30_000 });
  });

  it("the team's message templates: sealed in the page, checked for personal data, inserted into the composer", async () => {
    const { page } = mette;
    await page.getByRole("link", { name: "Skabeloner" }).click();
    await page.getByRole("heading", { name: "Beskedskabeloner" }).waitFor();
    await page.getByRole("button", { name: "Tilføj de tre foreslåede skabeloner" }).click();
    await page.getByText("De foreslåede skabeloner er gemt").waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByRole("row").count(), { timeout: 30_000 }).toBe(4);
    // A template with a CPR number is held back as it is typed.
    await page.getByLabel("Titel").fill("Forkert");
    await page.getByLabel("Tekst", { exact: true }).pressSequentially("Dit cpr er 010203-1234");
    await page.getByText("En skabelon må ikke indeholde personoplysninger").waitFor();
    expect(await page.getByRole("button", { name: "Gem skabelonen" }).isDisabled()).toBe(true);
    await accessible(page, "staff: templates");
    await screenshot(page, "staff-templates");
    // The server holds the three sealed, none of their words.
    expect(filesContaining(server.dataDir, "Ring til mig")).toEqual([]);

    await page.getByRole("link", { name: "Indbakke" }).first().click();
    await page.getByRole("link", { name: /Åbn samtalen med Maja Hansen/ }).click();
    await page.getByText("Tak, jeg kommer. Her er aftalen.").waitFor({ timeout: 30_000 });
    await page.getByLabel("Indsæt en skabelon").selectOption({ label: "Ring til mig" });
    expect(await page.getByLabel("Besked").inputValue()).toContain("Vil du ringe til mig");
    await page.getByRole("button", { name: "Send" }).click();
    await maja.page.getByText(/Vil du ringe til mig, når du har tid\?/).waitFor({ timeout: 30_000 });
  });

  it("the admin puts the thread on hold and sees the audit log intact", async () => {
    const { page } = anne;
    await adminTab(page, "Tilbageholdelser");
    await page.getByLabel("Samtalens id").fill(thread);
    await page.getByRole("button", { name: "Tilbagehold", exact: true }).click();
    await page.getByText(`Samtalen ${thread.slice(0, 8)}… er tilbageholdt.`).waitFor({ timeout: 30_000 });
    // An id that names no thread of the organisation: a clear error.
    await page.getByLabel("Samtalens id").fill("0193c0de-7c1a-7d2e-9f00-5b1e2f3a4b5c");
    await page.getByRole("button", { name: "Tilbagehold", exact: true }).click();
    await page.getByRole("alert").waitFor();
    await accessible(page, "admin: holds");
    await screenshot(page, "admin-holds");

    await adminTab(page, "Auditlog");
    const result = page.getByTestId("audit-result");
    await result.waitFor({ timeout: 30_000 });
    expect(await result.textContent()).toMatch(/Auditloggen er intakt: \d+ poster/);
    await accessible(page, "admin: audit log");
    await screenshot(page, "admin-audit");
  });

  it("revoking the caseworker's device in the admin screen closes her open page within 2 seconds, and the page says why", async () => {
    await adminTab(anne.page, "Enheder");
    const row = anne.page.getByRole("row", { name: /Mette Jensen/ });
    await row.waitFor({ timeout: 30_000 });
    anne.page.once("dialog", (d) => void d.accept());
    const started = Date.now();
    await row.getByRole("button", { name: /Tilbagekald/ }).click();
    await mette.page.getByText("Denne enhed er blevet tilbagekaldt").waitFor({ timeout: 2_000 });
    process.stderr.write(`revocation reached the open page in ${Date.now() - started} ms\n`);
    await anne.page.getByText("mettes enhed er tilbagekaldt").waitFor();
    await accessible(anne.page, "admin: device revoked");
    for (const p of [anne, mette, maja]) await p.context.close();
  });
});
