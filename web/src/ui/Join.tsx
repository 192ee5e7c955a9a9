// Joining with an invitation: the code (from the link or typed), the
// organisation and its fingerprint to compare with the letter — before the
// code is used —, the consent text, then the eID login (or, on a server
// without eID, joining unverified, said plainly).

import { useEffect, useState } from "preact/hooks";
import type { ConsentText, EidProviders, InvitationPreview } from "../protocol/rest";
import { type Api, ApiError } from "../client/api";
import type { Backing } from "../client/keystore";
import {
  consentText,
  eidProviders,
  parseInvitationFragment,
  previewInvitation,
  RootMismatch,
  startJoin,
} from "../client/join";
import { useI18n } from "./i18n";
import { ErrorText, Fingerprint, Screen } from "./parts";

type Step =
  | { name: "code" }
  | { name: "fingerprint"; preview: InvitationPreview }
  | { name: "stop"; serverFingerprint: string | null }
  | { name: "consent"; preview: InvitationPreview; consent: ConsentText }
  | { name: "eid"; preview: InvitationPreview; consent: ConsentText; brokers: EidProviders };

export function Join(props: {
  api: Api;
  backing: Backing;
  fragment: string;
  /** After `startJoin` without eID: finish at once. */
  onReadyToFinish(): void;
  /** The browser is about to leave for the broker. */
  onLeave(url: string): void;
}) {
  const { t } = useI18n();
  const fromLink = parseInvitationFragment(props.fragment);
  const [code, setCode] = useState(fromLink?.code ?? "");
  const [step, setStep] = useState<Step>({ name: "code" });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = async (work: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (e) {
      if (e instanceof RootMismatch) {
        setStep({ name: "stop", serverFingerprint: e.serverFingerprint });
      } else if (e instanceof ApiError && (e.code === "authentication_failed" || e.code === "not_found")) {
        setError(t("join.code.refused"));
      } else if (e instanceof ApiError && e.code === "unreachable") {
        setError(t("error.network"));
      } else {
        setError(t("error.server", { message: e instanceof Error ? e.message : String(e) }));
      }
    } finally {
      setBusy(false);
    }
  };

  // A link with code and fingerprint goes straight to the comparison.
  useEffect(() => {
    if (fromLink !== null && step.name === "code") {
      void run(async () => {
        const preview = await previewInvitation(props.api, fromLink.code, fromLink.fingerprint);
        setStep({ name: "fingerprint", preview });
      });
    }
    // Only on arrival.
  }, []);

  switch (step.name) {
    case "code":
      return (
        <Screen title={t("join.title")}>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              void run(async () => {
                const preview = await previewInvitation(props.api, code, fromLink?.fingerprint ?? null);
                setStep({ name: "fingerprint", preview });
              });
            }}
          >
            <label class="field">
              {t("join.code.label")}
              <span class="hint" id="code-hint">
                {t("join.code.hint")}
              </span>
              <input
                type="text"
                name="code"
                autocomplete="one-time-code"
                autocapitalize="characters"
                spellcheck={false}
                aria-describedby="code-hint"
                value={code}
                onInput={(e) => setCode((e.currentTarget).value)}
                required
              />
            </label>
            <ErrorText message={error} />
            <div class="actions">
              <button type="submit" disabled={busy || code.trim() === ""}>
                {t("join.code.next")}
              </button>
            </div>
          </form>
        </Screen>
      );
    case "stop":
      return (
        <Screen title={t("join.fp.stop.title")}>
          <div class="notice bad" role="alert">
            <p>{t("join.fp.stop.text")}</p>
          </div>
          {step.serverFingerprint !== null && <Fingerprint value={step.serverFingerprint} label={t("join.fp.title")} />}
        </Screen>
      );
    case "fingerprint":
      return (
        <Screen title={t("join.fp.title")}>
          <p>{t("join.fp.text", { org: step.preview.organisation_name })}</p>
          <p>
            <strong>{step.preview.organisation_name}</strong>
          </p>
          <Fingerprint value={step.preview.root_fingerprint} label={t("join.fp.title")} />
          <ErrorText message={error} />
          <div class="actions">
            <button
              type="button"
              disabled={busy}
              onClick={() =>
                void run(async () => {
                  const consent = await consentText(props.api);
                  setStep({ name: "consent", preview: step.preview, consent });
                })
              }
            >
              {t("join.fp.match")}
            </button>
            <button type="button" class="secondary" onClick={() => setStep({ name: "stop", serverFingerprint: null })}>
              {t("join.fp.differs")}
            </button>
          </div>
        </Screen>
      );
    case "consent":
      return <Consent step={step} busy={busy} error={error} onAccept={(brokers) => setStep({ ...step, name: "eid", brokers })} api={props.api} run={run} />;
    case "eid": {
      const web = step.brokers.web_login;
      const none = step.brokers.providers.length === 0;
      return (
        <Screen title={t("join.eid.title")}>
          {none ? (
            <div class="notice warn">
              <p>{t("join.eid.none")}</p>
            </div>
          ) : (
            <p>{t("join.eid.text")}</p>
          )}
          {props.fragment.includes("eid=failed") && <ErrorText message={t("join.eid.failed")} />}
          <ErrorText message={error} />
          <div class="actions">
            <button
              type="button"
              disabled={busy || (!none && !web)}
              onClick={() =>
                void run(async () => {
                  const { redirect } = await startJoin(props.api, props.backing, {
                    code,
                    preview: step.preview,
                    consent: step.consent,
                    eid: !none,
                  });
                  if (redirect !== null) props.onLeave(redirect);
                  else props.onReadyToFinish();
                })
              }
            >
              {none ? t("join.eid.none.button") : t("join.eid.button")}
            </button>
          </div>
        </Screen>
      );
    }
  }
}

function Consent(props: {
  api: Api;
  step: { preview: InvitationPreview; consent: ConsentText };
  busy: boolean;
  error: string | null;
  run(work: () => Promise<void>): Promise<void>;
  onAccept(brokers: EidProviders): void;
}) {
  const { t } = useI18n();
  const [agreed, setAgreed] = useState(false);
  return (
    <Screen title={t("join.consent.title")}>
      <div class="card" lang={props.step.consent.version.startsWith("da") ? "da" : undefined}>
        {props.step.consent.text.split("\n\n").map((p, i) => (
          <p key={i}>{p}</p>
        ))}
      </div>
      <p class="meta">
        {props.step.consent.version} · SHA-256 {props.step.consent.text_sha256.slice(0, 16)}…
      </p>
      <div class="check">
        <input
          id="consent"
          type="checkbox"
          checked={agreed}
          onChange={(e) => setAgreed((e.currentTarget).checked)}
        />
        <label for="consent">{t("join.consent.accept", { org: props.step.preview.organisation_name })}</label>
      </div>
      <ErrorText message={props.error} />
      <div class="actions">
        <button
          type="button"
          disabled={!agreed || props.busy}
          onClick={() =>
            void props.run(async () => {
              props.onAccept(await eidProviders(props.api));
            })
          }
        >
          {t("join.consent.next")}
        </button>
      </div>
    </Screen>
  );
}
