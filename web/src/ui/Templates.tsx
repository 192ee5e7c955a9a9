// The team's message templates: a table of them, a form to write or change
// one (checked by the minimisation rules as it is typed: a template is for
// every citizen, so it holds no one's personal data), and the three
// suggested ones to start with. They are sealed to the team's key in this
// page (src/client/templates.ts).

import { useEffect, useMemo, useState } from "preact/hooks";
import type { MessageId, TeamId } from "../protocol";
import type { Finding } from "../protocol/minimise";
import type { TeamInfo } from "../protocol/rest";
import { minimiserFor } from "../client/staff";
import {
  deleteTemplate,
  listTemplates,
  MAX_TEXT,
  MAX_TITLE,
  saveTemplate,
  SUGGESTED,
  type Template,
  type TemplateShelf,
} from "../client/templates";
import { formatTime } from "../i18n";
import { useI18n } from "./i18n";
import { ErrorText, Screen } from "./parts";
import { problemText } from "./problems";
import type { AppSession } from "./session";
import { MinimisedTextarea } from "./Staff";

export function Templates(props: { session: AppSession; certified: boolean | null }) {
  const { t, language } = useI18n();
  const { session } = props;
  const ctx = session.ctx;
  const [teams, setTeams] = useState<TeamInfo[]>([]);
  const [team, setTeam] = useState<TeamId | null>(null);
  const [shelf, setShelf] = useState<TemplateShelf | null>(null);
  const [round, setRound] = useState(0);
  const [editing, setEditing] = useState<MessageId | null>(null);
  const [title, setTitle] = useState("");
  const [text, setText] = useState("");
  const [findings, setFindings] = useState<readonly Finding[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const minimiser = useMemo(() => minimiserFor([]), []);

  useEffect(() => {
    session
      .teams()
      .then((list) => {
        const mine = list.filter((tm) => tm.staff.includes(ctx.accountId));
        setTeams(mine);
        setTeam((current) => current ?? mine[0]?.team_id ?? null);
      })
      .catch((e: unknown) => setError(problemText(t, e)));
  }, [session]);
  useEffect(() => {
    if (team === null) return;
    let live = true;
    setShelf(null);
    listTemplates(ctx, team)
      .then((s) => live && setShelf(s))
      .catch((e: unknown) => live && setError(problemText(t, e)));
    return () => {
      live = false;
    };
  }, [team, round]);

  const act = async (work: () => Promise<string>): Promise<void> => {
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      setDone(await work());
      setRound((r) => r + 1);
    } catch (e) {
      setError(problemText(t, e));
    } finally {
      setBusy(false);
    }
  };
  const edit = (tm: Template | null): void => {
    setEditing(tm?.id ?? null);
    setTitle(tm?.title ?? "");
    setText(tm?.text ?? "");
  };
  const teamName = teams.find((tm) => tm.team_id === team)?.name ?? "";
  const canWrite = props.certified === true && team !== null;

  return (
    <Screen title={t("templates.title")}>
      <p>{t("templates.text")}</p>
      {teams.length > 1 && (
        <label class="field">
          {t("invite.team")}
          <select value={team ?? ""} onChange={(e) => setTeam(e.currentTarget.value as TeamId)}>
            {teams.map((tm) => (
              <option key={tm.team_id} value={tm.team_id}>
                {tm.name}
              </option>
            ))}
          </select>
        </label>
      )}
      {teams.length === 0 && <p class="notice">{t("templates.noTeam")}</p>}
      {props.certified === false && <p class="notice warn">{t("templates.uncertified")}</p>}
      <ErrorText message={error} />
      {done !== null && (
        <p class="notice" role="status">
          {done}
        </p>
      )}
      {team !== null && shelf === null && <p aria-busy="true">…</p>}
      {shelf !== null && shelf.refused > 0 && <p class="notice warn">{t("templates.refused", { count: shelf.refused })}</p>}
      {shelf !== null && shelf.templates.length === 0 && (
        <div class="actions">
          <p>{t("templates.none", { team: teamName })}</p>
          <button
            type="button"
            class="secondary"
            disabled={busy || !canWrite}
            onClick={() =>
              void act(async () => {
                for (const s of SUGGESTED[language]) await saveTemplate(ctx, team as TeamId, s);
                return t("templates.suggested.done");
              })
            }
          >
            {t("templates.suggested")}
          </button>
        </div>
      )}
      {shelf !== null && shelf.templates.length > 0 && (
        <table>
          <caption>{t("templates.of", { team: teamName })}</caption>
          <thead>
            <tr>
              <th scope="col">{t("templates.name")}</th>
              <th scope="col">{t("templates.body")}</th>
              <th scope="col">{t("templates.by")}</th>
              <th scope="col">{t("admin.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {shelf.templates.map((tm) => (
              <tr key={tm.id}>
                <th scope="row">{tm.title}</th>
                <td>{tm.text}</td>
                <td>
                  {tm.author}
                  <br />
                  <span class="meta">{formatTime(language, tm.updatedAt * 1000)}</span>
                </td>
                <td>
                  <div class="row-actions">
                    <button type="button" class="secondary" disabled={!canWrite} onClick={() => edit(tm)}>
                      {t("templates.edit")}
                      <span class="visually-hidden"> {tm.title}</span>
                    </button>
                    <button
                      type="button"
                      class="secondary"
                      disabled={busy || team === null}
                      onClick={() => {
                        if (!confirm(t("templates.delete.confirm", { title: tm.title }))) return;
                        void act(async () => {
                          await deleteTemplate(ctx, team as TeamId, tm.id);
                          if (editing === tm.id) edit(null);
                          return t("templates.deleted", { title: tm.title });
                        });
                      }}
                    >
                      {t("templates.delete")}
                      <span class="visually-hidden"> {tm.title}</span>
                    </button>
                  </div>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canWrite && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (findings.length > 0) return;
            void act(async () => {
              await saveTemplate(ctx, team, { id: editing ?? undefined, title, text });
              const saved = title.trim();
              edit(null);
              return t("templates.saved", { title: saved });
            });
          }}
        >
          <h2>{editing === null ? t("templates.new") : t("templates.change")}</h2>
          <label class="field">
            {t("templates.name")}
            <input name="title" required maxLength={MAX_TITLE} value={title} onInput={(e) => setTitle(e.currentTarget.value)} />
          </label>
          <MinimisedTextarea
            label={t("templates.body")}
            name="template"
            value={text}
            minimiser={minimiser}
            onInput={(v) => setText(v.slice(0, MAX_TEXT))}
            onFindings={setFindings}
          />
          {findings.length > 0 && <p class="notice bad">{t("templates.findings")}</p>}
          <div class="actions">
            <button type="submit" disabled={busy || findings.length > 0 || title.trim() === "" || text.trim() === ""}>
              {t("templates.save")}
            </button>
            {editing !== null && (
              <button type="button" class="secondary" onClick={() => edit(null)}>
                {t("templates.cancel")}
              </button>
            )}
          </div>
        </form>
      )}
    </Screen>
  );
}
