// The invitation letter: in every language it passes the minimisation
// rules (it names nobody and holds no national id, phone or e-mail), it
// carries the code, the address and the fingerprint, and its PDF is a
// well-formed file whose cross-reference table points at its objects.

import { describe, expect, it } from "vitest";

import type { Invitation } from "../src/client/invitations";
import { letterFindings } from "../src/client/invitations";
import { LANGUAGES, type Language } from "../src/i18n";
import { letterBlocks, qrModules } from "../src/ui/letter";
import { letterPdf } from "../src/ui/pdf";

const invitation: Invitation = {
  code: "7K2QX-M39T4-WABCD-EFGHJ-KLMNP",
  expiresAt: 1_800_000_000,
  server: "https://samtale.randers.dk",
  link: "https://samtale.randers.dk/join#7K2QX-M39T4-WABCD-EFGHJ-KLMNP/ABCD-EFGH-IJKL-MNOP",
  fingerprint: "ABCD-EFGH-IJKL-MNOP",
  organisation: "Randers Kommune",
};

const latin1 = (bytes: Uint8Array): string => Array.from(bytes, (b) => String.fromCharCode(b)).join("");

describe("the invitation letter", () => {
  for (const language of Object.keys(LANGUAGES) as Language[]) {
    it(`in ${LANGUAGES[language]} passes minimisation and carries what the citizen needs`, () => {
      const blocks = letterBlocks(invitation, language);
      const text = blocks.map((b) => b.text).join("\n");
      expect(letterFindings(text, "Maja Hansen")).toEqual([]);
      expect(text).toContain(invitation.code);
      expect(text).toContain(invitation.server);
      expect(text).toContain(invitation.fingerprint);
      expect(text).toContain("Randers Kommune");
    });
  }

  it("is a real check: a letter that names the citizen is flagged", () => {
    const text = letterBlocks(invitation, "da").map((b) => b.text).join("\n") + "\nTil Maja Hansen, 010203-1234";
    const found = letterFindings(text, "Maja Hansen").map((f) => f.category);
    expect(found).toEqual(expect.arrayContaining(["full_name", "danish_cpr"]));
  });

  it("makes a PDF whose objects are where its table says, with the text in WinAnsi", () => {
    const bytes = letterPdf(letterBlocks(invitation, "da"), qrModules(invitation.link));
    const pdf = latin1(bytes);
    expect(pdf.startsWith("%PDF-1.4\n")).toBe(true);
    expect(pdf.trimEnd().endsWith("%%EOF")).toBe(true);
    const startxref = Number(/startxref\n(\d+)\n/.exec(pdf)?.[1]);
    expect(pdf.slice(startxref, startxref + 4)).toBe("xref");
    const entries = [...pdf.slice(startxref).matchAll(/^(\d{10}) 00000 n $/gm)].map((m) => Number(m[1]));
    expect(entries).toHaveLength(7);
    entries.forEach((offset, i) => expect(pdf.slice(offset, offset + `${i + 1} 0 obj`.length)).toBe(`${i + 1} 0 obj`));
    // The content stream's declared length is its length.
    const length = Number(/<< \/Length (\d+) >>\nstream\n/.exec(pdf)?.[1]);
    const streamStart = pdf.indexOf("stream\n") + "stream\n".length;
    expect(pdf.slice(streamStart + length, streamStart + length + "\nendstream".length)).toBe("\nendstream");
    expect(pdf).toContain(`(${invitation.code}) Tj`);
    // "Sådan" in WinAnsi: å is 0xE5, one byte.
    expect(pdf).toContain("S\u00e5dan");
    // The QR code is drawn: one filled square per dark module.
    const dark = qrModules(invitation.link).flat().filter(Boolean).length;
    expect(pdf.match(/ re f\n/g)?.length).toBe(dark);
  });

  it("escapes parentheses and backslashes in the text", () => {
    const pdf = latin1(letterPdf([{ text: "a (b) c\\d", size: 10 }], null));
    expect(pdf).toContain("(a \\(b\\) c\\\\d) Tj");
  });
});
