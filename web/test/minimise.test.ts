// minimise.json: the shared minimisation corpus, generated from the Rust
// crate (protocol/tests/minimise_corpus.rs). The TypeScript rules must find
// exactly what `samtale_protocol::minimise` finds — same categories, same
// places — on every text, with the same people and schools known.

import { describe, expect, it } from "vitest";

import { CATEGORIES, Minimiser, scan, type Finding } from "../src/protocol/minimise";
import { vector } from "./support/vectors";

interface Case {
  text: string;
  people: [string, string][];
  schools: string[];
  own_contacts?: string[];
  findings: { category: string; start: number; end: number; excerpt: string }[];
}

const corpus = vector<{ cases: Case[] }>("minimise.json");

function scanner(c: Case): Minimiser {
  const m = new Minimiser();
  for (const [given, family] of c.people) m.withPerson(given, family);
  for (const s of c.schools) m.withSchool(s);
  for (const o of c.own_contacts ?? []) m.withOwnContact(o);
  return m;
}

const shown = (text: string, fs: readonly Finding[]): string[] =>
  fs.map((f) => `${f.category} ${f.start}..${f.end} ${JSON.stringify(text.slice(f.start, f.end))}`);

describe("the shared minimisation corpus", () => {
  it("has hundreds of cases, many with findings and many without", () => {
    expect(corpus.cases.length).toBeGreaterThan(600);
    const flagged = corpus.cases.filter((c) => c.findings.length > 0).length;
    expect(flagged).toBeGreaterThan(250);
    expect(corpus.cases.length - flagged).toBeGreaterThan(100);
  });

  it("gives the Rust findings on every text", () => {
    const differences: string[] = [];
    for (const c of corpus.cases) {
      const expected = c.findings.map((f) => `${f.category} ${f.start}..${f.end} ${JSON.stringify(f.excerpt)}`);
      const actual = shown(c.text, scanner(c).scan(c.text));
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        differences.push(`${JSON.stringify(c.text)}\n  rust: ${expected.join("; ")}\n  ts:   ${actual.join("; ")}`);
      }
    }
    expect(differences).toEqual([]);
  });

  it("knows every category the Rust rules name", () => {
    const seen = new Set(corpus.cases.flatMap((c) => c.findings.map((f) => f.category)));
    expect([...seen].sort()).toEqual([...CATEGORIES].sort());
  });

  it("is a real check: a rule changed on the TypeScript side is caught", () => {
    // Positive control: a scanner that forgot the people finds less than
    // the corpus says, so the comparison above would fail.
    const missed = corpus.cases.filter((c) => {
      const expected = c.findings.length;
      return c.people.length > 0 && expected > 0 && scan(c.text).length !== expected;
    });
    expect(missed.length).toBeGreaterThan(50);
  });
});

describe("minimisation examples", () => {
  it("finds a CPR number and a full name, and leaves a first name alone", () => {
    const m = new Minimiser().withPerson("Sofie", "Hansen");
    expect(m.scan("Sofie kommer til mødet på skolen i dag")).toEqual([]);
    const text = "Sofie Hansen, 010190-1234, går på Søndervangskolen";
    expect(shown(text, m.scan(text))).toEqual([
      'full_name 0..12 "Sofie Hansen"',
      'danish_cpr 14..25 "010190-1234"',
      'name_with_school 34..50 "Søndervangskolen"',
    ]);
  });

  it("counts positions as JavaScript does after characters outside the BMP", () => {
    const text = "😀😀 010190-1234";
    expect(scan(text)).toEqual([{ category: "danish_cpr", start: 5, end: 16 }]);
  });
});
