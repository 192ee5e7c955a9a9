import { createContext } from "preact";
import { useContext } from "preact/hooks";
import { type Language, type Translate, translator } from "../i18n";

export interface I18n {
  t: Translate;
  language: Language;
  setLanguage: (language: Language) => void;
}

export const I18nContext = createContext<I18n>({
  t: translator("da"),
  language: "da",
  setLanguage: () => undefined,
});

export function useI18n(): I18n {
  return useContext(I18nContext);
}
