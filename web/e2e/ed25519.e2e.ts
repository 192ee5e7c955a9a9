// The Ed25519 edge cases (protocol/tests/vectors/ed25519_edge_cases.json,
// with the verdicts of ed25519-dalek's verify_strict) through the app's
// verification in Chromium, where it uses the browser's own Ed25519
// (BoringSSL) for the equation: the same verdicts as Rust and as Node.

import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { build } from "vite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launch, ROOT } from "./harness";

interface Case {
  name: string;
  public_key: string;
  message: string;
  signature: string;
  valid: boolean;
}

let browser: Browser;
// A blank page on loopback: WebCrypto needs a secure context, which
// http://127.0.0.1 is and about:blank is not.
let blank: Server;
let url: string;

beforeAll(async () => {
  blank = createServer((_, res) => res.end("<!doctype html><title>Ed25519</title>"));
  await new Promise<void>((ok) => blank.listen(0, "127.0.0.1", ok));
  url = `http://127.0.0.1:${(blank.address() as AddressInfo).port}/`;
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  blank?.close();
});

async function bundle(): Promise<string> {
  const out = await build({
    configFile: false,
    logLevel: "silent",
    build: {
      write: false,
      minify: false,
      lib: { entry: join(import.meta.dirname, "ed25519.page.ts"), formats: ["iife"], name: "samtaleEdge" },
    },
  });
  const outputs = Array.isArray(out) ? out : [out];
  for (const o of outputs) {
    if ("output" in o) {
      const chunk = o.output.find((c) => c.type === "chunk");
      if (chunk !== undefined && chunk.type === "chunk") return chunk.code;
    }
  }
  throw new Error("the bundle has no chunk");
}

describe("Ed25519 in Chromium", () => {
  it("gives every edge case the verdict of the Rust crate, with the browser's own Ed25519", async () => {
    const edge = JSON.parse(readFileSync(join(ROOT, "protocol/tests/vectors/ed25519_edge_cases.json"), "utf8")) as {
      signatures: Case[];
    };
    const page = await (await browser.newContext()).newPage();
    await page.goto(url);
    await page.addScriptTag({ content: await bundle() });
    const result = await page.evaluate(async (cases) => {
      const api = (globalThis as unknown as {
        samtaleEd25519: { verify: (a: Uint8Array, m: Uint8Array, s: Uint8Array) => Promise<boolean>; usesPlatform: () => Promise<boolean> };
      }).samtaleEd25519;
      const hex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (b) => parseInt(b, 16));
      const wrong: string[] = [];
      let aloneDiffers = 0;
      for (const c of cases) {
        if ((await api.verify(hex(c.public_key), hex(c.message), hex(c.signature))) !== c.valid) wrong.push(c.name);
        let alone: boolean;
        try {
          const key = await crypto.subtle.importKey("raw", hex(c.public_key), { name: "Ed25519" }, false, ["verify"]);
          alone = await crypto.subtle.verify({ name: "Ed25519" }, key, hex(c.signature), hex(c.message));
        } catch {
          alone = false;
        }
        if (alone !== c.valid) aloneDiffers++;
      }
      return { platform: await api.usesPlatform(), wrong, aloneDiffers, secure: isSecureContext };
    }, edge.signatures);
    expect(result.secure).toBe(true);
    expect(result.platform).toBe(true);
    expect(result.wrong).toEqual([]);
    // The control: the browser's Ed25519 alone disagrees with the rule on
    // some cases, so the checks in front of it are what make the verdicts.
    expect(result.aloneDiffers).toBeGreaterThan(0);
    process.stderr.write(
      `Ed25519 in Chromium: ${edge.signatures.length} edge cases as Rust says; the browser alone would differ on ${result.aloneDiffers}\n`,
    );
  });
});
