// The first screen on a browser that holds no keys, and the screens for a
// browser that lost them, for a PIN, and for a new device waiting to be
// approved.

import { useState } from "preact/hooks";
import { useI18n } from "./i18n";
import { ErrorText, Fingerprint, Screen } from "./parts";
import { navigate } from "./router";

export function Start() {
  const { t } = useI18n();
  return (
    <Screen title={t("app.tagline")}>
      <p>{t("start.about")}</p>
      <div class="actions">
        <button type="button" onClick={() => navigate({ name: "join" })}>
          {t("start.join")}
        </button>
        <button type="button" class="secondary" onClick={() => navigate({ name: "login" })}>
          {t("start.login")}
        </button>
      </div>
      <p>
        <a
          href="/staff"
          onClick={(e) => {
            e.preventDefault();
            navigate({ name: "staff-login" });
          }}
        >
          {t("start.staff")}
        </a>
      </p>
    </Screen>
  );
}

export function Evicted() {
  const { t } = useI18n();
  return (
    <Screen title={t("login.title")}>
      <div class="notice warn" role="alert">
        <p>{t("error.evicted")}</p>
      </div>
      <div class="actions">
        <button type="button" onClick={() => navigate({ name: "login" })}>
          {t("login.button")}
        </button>
      </div>
    </Screen>
  );
}

export function Unlock(props: { onUnlock(pin: string): Promise<string | null> }) {
  const { t } = useI18n();
  const [pin, setPin] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Screen title={t("pin.unlock.title")}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          void props.onUnlock(pin).then((problem) => {
            setBusy(false);
            setError(problem);
            if (problem !== null) setPin("");
          });
        }}
      >
        <label class="field">
          {t("pin.label")}
          <input
            type="password"
            inputMode="numeric"
            autocomplete="current-password"
            value={pin}
            onInput={(e) => setPin((e.currentTarget).value)}
          />
        </label>
        <ErrorText message={error} />
        <div class="actions">
          <button type="submit" disabled={busy || pin === ""}>
            {t("pin.unlock.button")}
          </button>
        </div>
      </form>
    </Screen>
  );
}

/** Offered once, right after joining. */
export function ChoosePin(props: { onDone(pin: string | null): Promise<void> }) {
  const { t } = useI18n();
  const [pin, setPin] = useState("");
  const [busy, setBusy] = useState(false);
  const valid = /^\d{6,}$/.test(pin);
  return (
    <Screen title={t("pin.title")}>
      <p>{t("pin.text")}</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (!valid) return;
          setBusy(true);
          void props.onDone(pin);
        }}
      >
        <label class="field">
          {t("pin.label")}
          <input
            type="password"
            inputMode="numeric"
            autocomplete="new-password"
            value={pin}
            onInput={(e) => setPin((e.currentTarget).value)}
          />
        </label>
        <div class="actions">
          <button type="submit" disabled={busy || !valid}>
            {t("pin.set")}
          </button>
          <button type="button" class="secondary" disabled={busy} onClick={() => void props.onDone(null)}>
            {t("pin.skip")}
          </button>
        </div>
      </form>
    </Screen>
  );
}

export function WaitingForApproval(props: { fingerprint: string }) {
  const { t } = useI18n();
  return (
    <Screen title={t("waiting.title")}>
      <p>{t("waiting.text")}</p>
      <Fingerprint value={props.fingerprint} label={t("waiting.title")} />
    </Screen>
  );
}

export function Failure(props: { message: string }) {
  const { t } = useI18n();
  return (
    <Screen title={t("app.name")}>
      <div class="notice bad" role="alert">
        <p>{props.message}</p>
      </div>
    </Screen>
  );
}
