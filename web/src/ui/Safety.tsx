// Safety numbers for a conversation: one per person, over all their
// devices, to read to each other by phone or in person (or scan as QR).

import { useEffect, useState } from "preact/hooks";
import type { ThreadId } from "../protocol";
import type { SafetyRow } from "../client/model";
import { confirmSafety, safetyNumbers } from "../client/safety";
import { useI18n } from "./i18n";
import { ErrorText, Screen } from "./parts";
import { problemText } from "./problems";
import { Qr } from "./Qr";
import { href, navigate } from "./router";
import type { AppSession } from "./session";

export function Safety(props: { session: AppSession; thread: ThreadId }) {
  const { t } = useI18n();
  const [rows, setRows] = useState<SafetyRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = (): void => {
    safetyNumbers(props.session.ctx, props.thread)
      .then(setRows)
      .catch((e: unknown) => setError(problemText(t, e)));
  };
  useEffect(load, [props.thread]);
  return (
    <Screen title={t("safety.title")}>
      <p>
        <a
          href={href({ name: "thread", id: props.thread })}
          onClick={(e) => {
            e.preventDefault();
            navigate({ name: "thread", id: props.thread });
          }}
        >
          ← {t("chat.back")}
        </a>
      </p>
      <p>{t("safety.text")}</p>
      <ErrorText message={error} />
      {rows?.map((row) => (
        <div class="card" key={row.accountId}>
          <h2>{row.name}</h2>
          <p class="safety-number">{row.number}</p>
          <Qr text={row.number.replace(/\s+/g, "")} label={`${t("safety.title")}: ${row.name}`} />
          {row.resetUnconfirmed && (
            <div class="actions">
              <button
                type="button"
                onClick={() =>
                  void confirmSafety(props.session.ctx, props.thread, row.name)
                    .then(load)
                    .catch((e: unknown) => setError(problemText(t, e)))
                }
              >
                {t("safety.confirm")}
              </button>
            </div>
          )}
        </div>
      ))}
    </Screen>
  );
}
