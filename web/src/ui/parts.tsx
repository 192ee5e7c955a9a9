// Small pieces every screen uses.

import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { LANGUAGES, type Language } from "../i18n";
import { useI18n } from "./i18n";

/** A screen: its heading takes the focus when the screen changes, so a
 *  screen reader hears where it is. */
export function Screen(props: { title: string; children: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    heading.current?.focus();
    document.title = `${props.title} · Samtale`;
  }, [props.title]);
  return (
    <section aria-labelledby="screen-title">
      <h1 id="screen-title" tabIndex={-1} ref={heading}>
        {props.title}
      </h1>
      {props.children}
    </section>
  );
}

export function LanguagePicker() {
  const i18n = useI18n();
  const { t, language } = i18n;
  return (
    <label>
      {t("lang.label")}{" "}
      <select
        value={language}
        onChange={(e) => i18n.setLanguage((e.currentTarget).value as Language)}
      >
        {(Object.keys(LANGUAGES) as Language[]).map((l) => (
          <option key={l} value={l} lang={l}>
            {LANGUAGES[l]}
          </option>
        ))}
      </select>
    </label>
  );
}

/** A fingerprint, large, in its groups. */
export function Fingerprint(props: { value: string; label: string }) {
  return (
    <p class="fingerprint" aria-label={`${props.label}: ${props.value.split("-").join(" ")}`}>
      {props.value.split("-").map((g, i) => (
        <span key={i}>{g}</span>
      ))}
    </p>
  );
}

/** An error said in words, announced to screen readers. */
export function ErrorText(props: { message: string | null }) {
  if (props.message === null) return null;
  return (
    <p class="error" role="alert">
      {props.message}
    </p>
  );
}

/** A bar for long work, with its share in words for screen readers. */
export function Progress(props: { label: string; value: number | null }) {
  return (
    <div>
      <p class="meta" id="progress-label">
        {props.label}
      </p>
      <progress
        aria-labelledby="progress-label"
        max={1}
        value={props.value ?? undefined}
      />
    </div>
  );
}
