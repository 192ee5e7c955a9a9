// Minimisation checks (BRIEF.md rule 6), the TypeScript twin of
// `protocol/src/minimise.rs`: national id numbers (Danish CPR with the
// century rule, Swedish personnummer with Luhn), partial ids, e-mail and
// phone numbers, and — for the people the caller names — a full name, or a
// name together with a named school, an address or health details.
//
// The rules are ported line by line so that both give the same findings on
// the shared corpus `protocol/tests/vectors/minimise.json` (generated from
// Rust, run by `web/test/minimise.test.ts`). Rust works on UTF-8 bytes and
// chars; here positions are JavaScript string indices (UTF-16 code units)
// and characters are code points, which is where a naive port would drift:
// the one rule that measures a gap in bytes ("Kolding Friskole": at most
// one byte between the words) is measured in UTF-8 bytes here too.

/** What kind of personal data a finding is (the Rust enum's serde names,
 *  in its order, which is also the order findings at one place sort in). */
export const CATEGORIES = [
  "danish_cpr",
  "swedish_personnummer",
  "norwegian_fodselsnummer",
  "partial_national_id",
  "email",
  "phone",
  "full_name",
  "name_with_school",
  "name_with_address",
  "name_with_health",
] as const;

export type Category = (typeof CATEGORIES)[number];

/** One piece of personal data found in a text: `[start, end)` are string
 *  indices into the scanned text. */
export interface Finding {
  readonly category: Category;
  readonly start: number;
  readonly end: number;
}

interface Person {
  given: string[];
  family: string[];
}

interface Token {
  text: string;
  start: number;
  end: number;
}

const ALPHABETIC = /^\p{Alphabetic}$/u;
const ALPHANUMERIC = /^[\p{Alphabetic}\p{N}]$/u;
const UPPERCASE = /^\p{Uppercase}$/u;
const ONLY_WHITE_SPACE = /^\p{White_Space}*$/u;

const isAlphabetic = (c: string): boolean => ALPHABETIC.test(c);
const isWordChar = (c: string | undefined): boolean => c !== undefined && ALPHANUMERIC.test(c);
const startsUpper = (s: string): boolean => {
  const c = s.codePointAt(0);
  return c !== undefined && UPPERCASE.test(String.fromCodePoint(c));
};
const isDigit = (code: number): boolean => code >= 0x30 && code <= 0x39;
const isAsciiAlpha = (code: number): boolean => (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a);
const codePoints = (s: string): number => Array.from(s).length;

/** The code point that ends just before index `i`, if any. */
function charBefore(text: string, i: number): string | undefined {
  if (i <= 0) return undefined;
  const low = text.charCodeAt(i - 1);
  if (low >= 0xdc00 && low <= 0xdfff && i >= 2) {
    const high = text.charCodeAt(i - 2);
    if (high >= 0xd800 && high <= 0xdbff) return text.slice(i - 2, i);
  }
  return text[i - 1];
}

/** The code point that starts at index `i`, if any. */
function charAt(text: string, i: number): string | undefined {
  const c = text.codePointAt(i);
  return c === undefined ? undefined : String.fromCodePoint(c);
}

/** Words: runs of letters, with inner hyphens and apostrophes ("Anne-Marie"). */
function tokens(text: string): Token[] {
  const out: Token[] = [];
  const chars: { i: number; c: string }[] = [];
  for (let i = 0; i < text.length; ) {
    const c = charAt(text, i) as string;
    chars.push({ i, c });
    i += c.length;
  }
  let start: number | null = null;
  for (let k = 0; k < chars.length; k++) {
    const { i, c } = chars[k] as { i: number; c: string };
    const next = chars[k + 1];
    const joiner = (c === "-" || c === "'") && start !== null && next !== undefined && isAlphabetic(next.c);
    if (isAlphabetic(c) || joiner) {
      start ??= i;
    } else if (start !== null) {
      out.push({ text: text.slice(start, i), start, end: i });
      start = null;
    }
  }
  if (start !== null) out.push({ text: text.slice(start), start, end: text.length });
  return out;
}

const lowerWords = (s: string): string[] => tokens(s).map((t) => t.text.toLowerCase());

/** Finds `needle` (lowercase words) in `haystack`, allowing a genitive `s`
 *  on the last word. Returns [start index, word count] pairs. */
function occurrences(haystack: readonly string[], needle: readonly string[]): [number, number][] {
  if (needle.length === 0 || haystack.length < needle.length) return [];
  const out: [number, number][] = [];
  for (let i = 0; i <= haystack.length - needle.length; i++) {
    const all = needle.every((n, j) => {
      const w = haystack[i + j] as string;
      return (
        w === n ||
        (j === needle.length - 1 && ((w.endsWith("s") && w.slice(0, -1) === n) || (w.endsWith("'s") && w.slice(0, -2) === n)))
      );
    });
    if (all) out.push([i, needle.length]);
  }
  return out;
}

// ------------------------------------------------------------ national ids

const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

function validDate(year: number, month: number, day: number): boolean {
  let days: number;
  if ([1, 3, 5, 7, 8, 10, 12].includes(month)) days = 31;
  else if ([4, 6, 9, 11].includes(month)) days = 30;
  else if (month === 2) days = isLeap(year) ? 29 : 28;
  else return false;
  return day >= 1 && day <= days;
}

const num = (d: readonly number[]): number => d.reduce((acc, x) => acc * 10 + x, 0);

/** The CPR century rule: the 7th digit and the year decide the century. */
function cprValid(d: readonly number[]): boolean {
  const day = num(d.slice(0, 2));
  const month = num(d.slice(2, 4));
  const yy = num(d.slice(4, 6));
  const seventh = d[6] as number;
  const century = seventh <= 3 ? 1900 : seventh === 4 || seventh === 9 ? (yy <= 36 ? 2000 : 1900) : yy <= 57 ? 2000 : 1800;
  return validDate(century + yy, month, day);
}

function luhnValid(d: readonly number[]): boolean {
  let sum = 0;
  d.forEach((x, i) => {
    const v = x * (i % 2 === 0 ? 2 : 1);
    sum += v > 9 ? v - 9 : v;
  });
  return sum % 10 === 0;
}

/** YYMMDD (with an optional century) and the samordningsnummer offset of 60. */
function seDateValid(century: number | null, d: readonly number[]): boolean {
  const yy = num(d.slice(0, 2));
  const month = num(d.slice(2, 4));
  let day = num(d.slice(4, 6));
  if (day > 60) day -= 60;
  return century !== null
    ? validDate(century * 100 + yy, month, day)
    : validDate(1900 + yy, month, day) || validDate(2000 + yy, month, day);
}

const seValid = (century: number | null, ten: readonly number[]): boolean =>
  seDateValid(century, ten.slice(0, 6)) && luhnValid(ten);

/** A Norwegian fødselsnummer: DDMMYY (a D-nummer adds 40 to the day, an
 *  H-nummer 40 to the month), three individual digits and two mod-11 check
 *  digits; the date must exist in 19YY or 20YY. */
function noValid(d: readonly number[]): boolean {
  const check = (weights: readonly number[], digits: readonly number[]): number | null => {
    const sum = weights.reduce((acc, w, i) => acc + w * (digits[i] as number), 0);
    const k = 11 - (sum % 11);
    return k === 11 ? 0 : k === 10 ? null : k;
  };
  const k1 = check([3, 7, 6, 1, 8, 9, 4, 5, 2], d.slice(0, 9));
  if (k1 === null) return false;
  const k2 = check([5, 4, 3, 2, 7, 6, 5, 4, 3, 2], d.slice(0, 10));
  if (k2 === null || d[9] !== k1 || d[10] !== k2) return false;
  let day = num(d.slice(0, 2));
  let month = num(d.slice(2, 4));
  if (day > 40) day -= 40;
  if (month > 40) month -= 40;
  const yy = num(d.slice(4, 6));
  return validDate(1900 + yy, month, day) || validDate(2000 + yy, month, day);
}

function dkDateValid(d: readonly number[]): boolean {
  const day = num(d.slice(0, 2));
  const month = num(d.slice(2, 4));
  const yy = num(d.slice(4, 6));
  return validDate(1900 + yy, month, day) || validDate(2000 + yy, month, day);
}

function digitRun(text: string, from: number): number {
  let n = 0;
  while (from + n < text.length && isDigit(text.charCodeAt(from + n))) n++;
  return n;
}

const digitsOf = (text: string, from: number, to: number): number[] =>
  Array.from(text.slice(from, to), (c) => c.charCodeAt(0) - 0x30);

function nationalIds(text: string): Finding[] {
  const findings: Finding[] = [];
  let i = 0;
  while (i < text.length) {
    if (!isDigit(text.charCodeAt(i)) || isWordChar(charBefore(text, i))) {
      i += 1;
      continue;
    }
    const runEnd = i + digitRun(text, i);
    const first = digitsOf(text, i, runEnd);
    const sep = runEnd < text.length ? text[runEnd] : undefined;
    const secondStart = runEnd + 1;
    const secondLen = secondStart <= text.length ? digitRun(text, secondStart) : 0;
    let matched: [number, Category[]] | null = null;
    const endsClean = (end: number): boolean => !isWordChar(charAt(text, end));
    const dashOrPlus = sep === "-" || sep === "+";
    if (dashOrPlus && (first.length === 6 || first.length === 8) && secondLen === 4) {
      const end = secondStart + 4;
      if (endsClean(end)) {
        const ten = [...first.slice(first.length - 6), ...digitsOf(text, secondStart, end)];
        const cats: Category[] = [];
        if (first.length === 6 && sep === "-" && cprValid(ten)) cats.push("danish_cpr");
        const century = first.length === 8 ? num(first.slice(0, 2)) : null;
        if (seValid(century, ten)) cats.push("swedish_personnummer");
        if (cats.length > 0) matched = [end, cats];
      }
    } else if ((first.length === 10 || first.length === 12) && !dashOrPlus) {
      const ten = first.slice(first.length - 10);
      const cats: Category[] = [];
      if (first.length === 10 && cprValid(ten)) cats.push("danish_cpr");
      const century = first.length === 12 ? num(first.slice(0, 2)) : null;
      if (seValid(century, ten)) cats.push("swedish_personnummer");
      if (cats.length > 0) matched = [runEnd, cats];
    }
    // A Norwegian fødselsnummer: eleven digits, or six, a space and five.
    if (matched === null) {
      let eleven: [number[], number] | null = null;
      if (first.length === 11) eleven = [first, runEnd];
      else if (first.length === 6 && sep === " " && secondLen === 5 && endsClean(secondStart + 5)) {
        eleven = [[...first, ...digitsOf(text, secondStart, secondStart + 5)], secondStart + 5];
      }
      if (eleven !== null && noValid(eleven[0])) matched = [eleven[1], ["norwegian_fodselsnummer"]];
    }
    if (matched === null && first.length === 6 && sep === "-" && dkDateValid(first)) {
      // A birth date, a dash and masked or incomplete digits: 010190-xxxx, 010190-12.
      let tail = 0;
      let masked = false;
      for (; secondStart + tail < text.length; tail++) {
        const ch = text[secondStart + tail] as string;
        const digit = isDigit(ch.charCodeAt(0));
        if (!digit && ch !== "x" && ch !== "X" && ch !== "*") break;
        if (!digit) masked = true;
      }
      if (tail >= 1 && tail <= 4 && (masked || tail < 4) && endsClean(secondStart + tail)) {
        matched = [secondStart + tail, ["partial_national_id"]];
      }
    }
    if (matched !== null) {
      const [end, cats] = matched;
      // One finding per number: ten digits valid both as a CPR number and
      // as a personnummer are one national id (the Danish reading first).
      const category = cats[0];
      if (category !== undefined) findings.push({ category, start: i, end });
      i = end;
    } else {
      i = runEnd;
    }
  }
  return findings;
}

// ------------------------------------------------------- e-mail and phone

const isLocal = (c: number): boolean =>
  isDigit(c) || isAsciiAlpha(c) || c === 0x2e || c === 0x5f || c === 0x25 || c === 0x2b || c === 0x2d;
const isDomain = (c: number): boolean => isDigit(c) || isAsciiAlpha(c) || c === 0x2e || c === 0x2d;

function emails(text: string): Finding[] {
  const out: Finding[] = [];
  for (let at = text.indexOf("@"); at !== -1; at = text.indexOf("@", at + 1)) {
    let start = at;
    while (start > 0 && isLocal(text.charCodeAt(start - 1))) start--;
    let end = at + 1;
    while (end < text.length && isDomain(text.charCodeAt(end))) end++;
    while (end > at + 1 && (text[end - 1] === "." || text[end - 1] === "-")) end--;
    const dom = text.slice(at + 1, end);
    const dot = dom.lastIndexOf(".");
    const tldOk = dot > 0 && dom.length - dot - 1 >= 2 && /^[A-Za-z]+$/.test(dom.slice(dot + 1));
    if (start < at && tldOk) out.push({ category: "email", start, end });
  }
  return out;
}

function sameShape(groups: readonly number[], shape: readonly number[]): boolean {
  return groups.length === shape.length && groups.every((g, k) => g === shape[k]);
}

function phones(text: string, taken: readonly Finding[]): Finding[] {
  const out: Finding[] = [];
  let i = 0;
  while (i < text.length) {
    const plus = text[i] === "+" && i + 1 < text.length && isDigit(text.charCodeAt(i + 1));
    const starts = plus || isDigit(text.charCodeAt(i));
    if (!starts || isWordChar(charBefore(text, i)) || taken.some((r) => r.start <= i && i < r.end)) {
      i += 1;
      continue;
    }
    // Digit groups separated by single spaces or hyphens.
    const groups: number[] = [];
    let j = text[i] === "+" ? i + 1 : i;
    let end = j;
    for (;;) {
      const len = digitRun(text, j);
      if (len === 0) break;
      groups.push(len);
      end = j + len;
      const s = text[end];
      if ((s === " " || s === "-") && end + 1 < text.length && isDigit(text.charCodeAt(end + 1))) j = end + 1;
      else break;
    }
    const digits = groups.reduce((a, b) => a + b, 0);
    const international = text[i] === "+" || text.startsWith("00", i);
    const nationalSe = text[i] === "0" && !international;
    const dkShape = [[8], [4, 4], [2, 2, 2, 2], [3, 2, 3]].some((s) => sameShape(groups, s));
    const first = groups[0] ?? 0;
    const isPhone = international
      ? digits >= 10 && digits <= 15
      : nationalSe
        ? digits >= 8 && digits <= 10 && groups.length <= 4 && (groups.length === 1 || (first >= 2 && first <= 4))
        : digits === 8 && dkShape;
    const cleanEnd = !isWordChar(charAt(text, end));
    if (isPhone && cleanEnd) {
      out.push({ category: "phone", start: i, end });
      i = end;
    } else {
      i = Math.max(end, i + 1);
    }
  }
  return out;
}

// ------------------------------------------------- addresses and health

const STREET_SUFFIXES = [
  "gade", "gaden", "vej", "vejen", "vænget", "allé", "alle", "plads", "torv", "stræde",
  "stien", "gatan", "vägen", "väg", "gränd", "torget", "stigen", "backe", "leden", "boulevard",
] as const;

function addresses(text: string, words: readonly Token[]): [number, number][] {
  const spans: [number, number][] = [];
  const numberAfter = (end: number): number | null => {
    if (text[end] !== " ") return null;
    const digits = digitRun(text, end + 1);
    if (digits === 0 || digits > 4) return null;
    let stop = end + 1 + digits;
    // A house letter: "12B"; "12 B" is not taken.
    if (stop < text.length && isAsciiAlpha(text.charCodeAt(stop)) && !isWordChar(charAt(text, stop + 1))) stop += 1;
    return stop;
  };
  words.forEach((w, i) => {
    const lower = w.text.toLowerCase();
    const street = STREET_SUFFIXES.some((s) => lower.endsWith(s));
    const prev = words[i - 1];
    const capitalised = startsUpper(w.text) || (prev !== undefined && startsUpper(prev.text));
    if (street && capitalised) {
      const stop = numberAfter(w.end);
      if (stop !== null) spans.push([w.start, stop]);
    }
  });
  // Postal code and town: "8900 Randers", "112 51 Stockholm".
  const clean = (s: number): boolean => s === 0 || !isWordChar(charBefore(text, s));
  const digitsBack = (to: number): number => {
    let n = 0;
    while (to - n - 1 >= 0 && isDigit(text.charCodeAt(to - n - 1))) n++;
    return n;
  };
  for (const w of words) {
    if (!startsUpper(w.text) || w.start < 2) continue;
    if (text[w.start - 1] !== " ") continue;
    const beforeLen = w.start - 1;
    const d1 = digitsBack(beforeLen);
    const startDk = beforeLen - d1;
    if (d1 === 4 && clean(startDk)) {
      spans.push([startDk, w.end]);
    } else if (d1 === 2 && startDk >= 4 && text[startDk - 1] === " ") {
      const leadLen = startDk - 1;
      const d0 = digitsBack(leadLen);
      if (d0 === 3 && clean(leadLen - 3)) spans.push([leadLen - 3, w.end]);
    }
  }
  return spans;
}

const HEALTH_TERMS: ReadonlySet<string> = new Set([
  "feber", "udredning", "udredningen", "utredning", "utredningen", "syg", "sygdom", "opkast", "diagnose", "diagnosen", "medicin", "medicinen", "psykiatri",
  "psykiatrisk", "psykiatrien", "depression", "angst", "adhd", "autisme", "indlagt", "hospital",
  "hospitalet", "skadestuen", "misbrug", "sjuk", "sjukdom", "diagnos", "medicinering", "psykisk",
  "psykiatrin", "sjukhus", "sjukhuset", "kräkts", "kräkningar", "abort", "gravid", "selvmord", "självmord",
]);

function healthTerms(words: readonly Token[], lower: readonly string[]): [number, number][] {
  const spans: [number, number][] = [];
  lower.forEach((w, i) => {
    const t = words[i] as Token;
    // "ADHD-udredning": any part of a hyphenated word counts.
    if (w.split("-").some((part) => HEALTH_TERMS.has(part))) spans.push([t.start, t.end]);
  });
  // "kastet op" (vomited) is two words.
  for (let i = 1; i < lower.length; i++) {
    if (lower[i - 1] === "kastet" && lower[i] === "op") {
      spans.push([(words[i - 1] as Token).start, (words[i] as Token).end]);
    }
  }
  return spans;
}

const SCHOOL_SUFFIXES = [
  "skole", "skolen", "skola", "skolan", "gymnasium", "gymnasiet", "school", "friskole", "efterskole",
] as const;

/** The length of `s` in UTF-8 bytes, for the one rule Rust measures in bytes. */
function utf8Length(s: string): number {
  let n = 0;
  for (const c of s) {
    const p = c.codePointAt(0) as number;
    n += p < 0x80 ? 1 : p < 0x800 ? 2 : p < 0x10000 ? 3 : 4;
  }
  return n;
}

/** An e-mail address in lower case, or a phone number's last eight digits
 *  (so "+45 89 15 15 15", "0045 8915 1515" and "89151515" are one number). */
function contactKey(text: string): string | null {
  const trimmed = text.trim();
  if (trimmed.includes("@")) return trimmed.toLowerCase();
  const digits = trimmed.replace(/[^0-9]/gu, "");
  return digits.length >= 8 ? digits.slice(digits.length - 8) : null;
}

/** Scans text for personal data; knows the people and schools it is given. */
export class Minimiser {
  private readonly people: Person[] = [];
  private readonly schools: string[][] = [];
  private readonly ownContacts: string[] = [];

  /** Adds the writer's or the organisation's own e-mail address or phone
   *  number: they are not personal data of the citizen, so they are not
   *  reported (a caseworker's signature with her work phone). */
  withOwnContact(contact: string): this {
    const key = contactKey(contact);
    if (key !== null) this.ownContacts.push(key);
    return this;
  }

  /** Adds a person by first (given) and last (family) name. Either may hold
   *  several words ("Anne Marie", "Due Jensen"). */
  withPerson(given: string, family: string): this {
    this.people.push({ given: lowerWords(given), family: lowerWords(family) });
    return this;
  }

  /** Adds a person by the name as written, such as an invitation's or a
   *  thread's display name: several words are the first name(s) and the last
   *  word the last name ("Sofie Hansen"); one word is a first name only
   *  ("Maja"), and that first name followed by a capitalised word ("Maja
   *  Hansen") counts as a full name. */
  withName(name: string): this {
    const trimmed = name.trim();
    const cut = trimmed.search(/\s\S*$/u);
    return cut > 0 ? this.withPerson(trimmed.slice(0, cut), trimmed.slice(cut + 1)) : this.withPerson(trimmed, "");
  }

  /** Adds a school name the caller knows (besides the recognised patterns
   *  like "Søndervangskolen" or "Kolding Friskole"). */
  withSchool(name: string): this {
    const words = lowerWords(name);
    if (words.length > 0) this.schools.push(words);
    return this;
  }

  /** All findings, ordered by position (then category). */
  scan(text: string): Finding[] {
    const findings = nationalIds(text);
    const taken = findings.slice();
    findings.push(...emails(text), ...phones(text, taken));

    const words = tokens(text);
    const lower = words.map((t) => t.text.toLowerCase());
    let nameFound = false;
    for (const person of this.people) {
      const given = occurrences(lower, person.given);
      const family = occurrences(lower, person.family);
      if (person.family.length === 0) {
        // Only the first name is known: "Maja Hansen" is a full name.
        for (const [g, glen] of given) {
          const next = words[g + glen];
          const last = words[g + glen - 1] as Token;
          if (next === undefined) continue;
          const gap = text.slice(last.end, next.start);
          if (startsUpper(next.text) && gap.length > 0 && /^ +$/u.test(gap)) {
            findings.push({ category: "full_name", start: (words[g] as Token).start, end: next.end });
          }
        }
      }
      if (given.length > 0 && family.length > 0) {
        for (const [start, len] of family) {
          // "Sofie Hansen" is reported whole; a lone "Hansen" elsewhere by itself.
          const adjacent = given.find(
            ([g, glen]) =>
              g + glen === start &&
              ONLY_WHITE_SPACE.test(text.slice((words[g + glen - 1] as Token).end, (words[start] as Token).start)),
          );
          const from = adjacent === undefined ? start : adjacent[0];
          findings.push({
            category: "full_name",
            start: (words[from] as Token).start,
            end: (words[start + len - 1] as Token).end,
          });
        }
      }
      nameFound ||= given.length > 0 || family.length > 0;
    }
    if (nameFound) {
      for (const [start, end] of this.schoolsIn(text, words, lower)) findings.push({ category: "name_with_school", start, end });
      for (const [start, end] of addresses(text, words)) findings.push({ category: "name_with_address", start, end });
      for (const [start, end] of healthTerms(words, lower)) findings.push({ category: "name_with_health", start, end });
    }
    const own = (f: Finding): boolean => {
      if (f.category !== "email" && f.category !== "phone") return false;
      const key = contactKey(text.slice(f.start, f.end));
      return key !== null && this.ownContacts.includes(key);
    };
    for (let k = findings.length - 1; k >= 0; k--) if (own(findings[k] as Finding)) findings.splice(k, 1);
    const rank = (c: Category): number => CATEGORIES.indexOf(c);
    findings.sort((a, b) => a.start - b.start || rank(a.category) - rank(b.category));
    return findings.filter((f, k) => {
      const p = findings[k - 1];
      return p === undefined || p.category !== f.category || p.start !== f.start || p.end !== f.end;
    });
  }

  private schoolsIn(text: string, words: readonly Token[], lower: readonly string[]): [number, number][] {
    const spans: [number, number][] = [];
    for (const school of this.schools) {
      for (const [start, len] of occurrences(lower, school)) {
        spans.push([(words[start] as Token).start, (words[start + len - 1] as Token).end]);
      }
    }
    lower.forEach((w, i) => {
      const word = words[i] as Token;
      const prev = words[i - 1];
      const capitalised = startsUpper(word.text);
      // A compound like "Søndervangskolen" names a school; "skolen" alone does not.
      const compound = SCHOOL_SUFFIXES.some((s) => w.endsWith(s) && codePoints(w) > codePoints(s) + 2);
      // "Kolding Friskole", "Rosenhøj Skole": a capitalised word before a school word.
      const twoWord =
        (SCHOOL_SUFFIXES as readonly string[]).includes(w) &&
        prev !== undefined &&
        startsUpper(prev.text) &&
        utf8Length(text.slice(prev.end, word.start)) <= 1;
      if (capitalised && compound) spans.push([word.start, word.end]);
      else if (twoWord && capitalised && prev !== undefined) spans.push([prev.start, word.end]);
    });
    return spans;
  }
}

/** Scans without knowledge of any names: national ids, e-mail, phone. */
export function scan(text: string): Finding[] {
  return new Minimiser().scan(text);
}
