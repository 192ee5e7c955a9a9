// The thread list: each conversation with its team, when it last moved,
// how many messages are unread, and whether it is filed on a case.

import { useEffect, useState } from "preact/hooks";
import type { ThreadRow } from "../client/model";
import { formatTime } from "../i18n";
import { useI18n } from "./i18n";
import { ErrorText, Screen } from "./parts";
import { href, navigate } from "./router";
import type { AppSession } from "./session";
import { problemText } from "./problems";

export function Threads(props: { session: AppSession }) {
  const { t, language } = useI18n();
  const [rows, setRows] = useState<ThreadRow[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let alive = true;
    const load = (): void => {
      props.session
        .threads()
        .then((r) => alive && setRows(r))
        .catch((e: unknown) => alive && setError(problemText(t, e)));
    };
    load();
    const stop = props.session.onThreadChange(load);
    return () => {
      alive = false;
      stop();
    };
  }, [props.session]);
  return (
    <Screen title={t("threads.title")}>
      <ErrorText message={error} />
      {rows === null && error === null && <p aria-busy="true">…</p>}
      {rows !== null && rows.length === 0 && <p>{t("threads.empty")}</p>}
      {rows !== null && rows.length > 0 && (
        <ul class="threads">
          {rows.map((row) => {
            const team = row.team ?? props.session.organisation;
            return (
              <li key={row.threadId}>
                <a
                  href={href({ name: "thread", id: row.threadId })}
                  onClick={(e) => {
                    e.preventDefault();
                    navigate({ name: "thread", id: row.threadId });
                  }}
                  aria-label={t("threads.open", { team })}
                >
                  <strong>{team}</strong> · {props.session.organisation}
                  <br />
                  <span class="meta">{formatTime(language, row.lastActivityMs)}</span>
                  {row.unread > 0 && (
                    <>
                      {" · "}
                      <span class="unread">{t("threads.unread", { n: row.unread })}</span>
                    </>
                  )}
                  {row.journaledCase !== null && (
                    <>
                      <br />
                      <span class="meta">{t("threads.filed", { case: row.journaledCase })}</span>
                    </>
                  )}
                </a>
              </li>
            );
          })}
        </ul>
      )}
    </Screen>
  );
}
