// Picks the language (the browser's, switchable, remembered) and fills in
// `{name}` placeholders. Dates use the user's locale through Intl.

import { da } from "./da";
import { en, type Key } from "./en";
import { sv } from "./sv";

export const LANGUAGES = { da: "Dansk", sv: "Svenska", en: "English" } as const;
export type Language = keyof typeof LANGUAGES;
const CATALOGUES: Record<Language, Record<Key, string>> = { da, sv, en };
const STORED = "samtale.language";

/** The language to start with: a stored choice, else the browser's first
 *  supported one, else Danish. */
export function initialLanguage(
  stored: string | null,
  preferred: readonly string[],
): Language {
  if (stored !== null && stored in CATALOGUES) return stored as Language;
  for (const tag of preferred) {
    const base = tag.toLowerCase().split("-")[0] ?? "";
    if (base === "nb" || base === "nn" || base === "no") return "da";
    if (base in CATALOGUES) return base as Language;
  }
  return "da";
}

export function remember(language: Language, storage: Pick<Storage, "setItem">): void {
  storage.setItem(STORED, language);
}

export function storedLanguage(storage: Pick<Storage, "getItem">): string | null {
  return storage.getItem(STORED);
}

export type Translate = (key: Key, values?: Record<string, string | number>) => string;

/** The catalogue lookup for `language`. */
export function translator(language: Language): Translate {
  const catalogue = CATALOGUES[language];
  return (key, values) =>
    catalogue[key].replace(/\{(\w+)\}/g, (whole, name: string) =>
      values !== undefined && name in values ? String(values[name]) : whole,
    );
}

const formats = new Map<Language, Intl.DateTimeFormat>();

/** A date and time in the user's locale. */
export function formatTime(language: Language, ms: number): string {
  let format = formats.get(language);
  if (format === undefined) {
    const locale = language === "da" ? "da-DK" : language === "sv" ? "sv-SE" : "en-GB";
    format = new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short" });
    formats.set(language, format);
  }
  return format.format(ms);
}

export type { Key };
