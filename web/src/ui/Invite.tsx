// Inviting a citizen: a form (name, national id, team), then the letter to
// print or download as a PDF, in Danish, Swedish or English — the
// organisation's name and fingerprint, the code, a QR code of the link, and
// what Samtale is. The national id is read from the form once, sent, and
// the form is cleared: it is never held in the page's state.

import { useEffect, useMemo, useState } from "preact/hooks";
import type { TeamId } from "../protocol";
import type { TeamInfo } from "../protocol/rest";
import { createInvitation, letterFindings, type Invitation } from "../client/invitations";
import { LANGUAGES, type Language } from "../i18n";
import { useI18n } from "./i18n";
import { ErrorText, Screen } from "./parts";
import { letterBlocks, qrModules } from "./letter";
import { letterPdf } from "./pdf";
import { problemText } from "./problems";
import { Qr } from "./Qr";
import type { AppSession } from "./session";

export function Invite(props: { session: AppSession; certified: boolean | null }) {
  const { t, language } = useI18n();
  const { session } = props;
  const [teams, setTeams] = useState<TeamInfo[]>([]);
  const [invitation, setInvitation] = useState<Invitation | null>(null);
  const [invitedName, setInvitedName] = useState("");
  const [letterLanguage, setLetterLanguage] = useState<Language>(language);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [pdfUrl, setPdfUrl] = useState<string | null>(null);

  useEffect(() => {
    session
      .teams()
      .then((list) => setTeams(list.filter((tm) => tm.staff.includes(session.ctx.accountId))))
      .catch((e: unknown) => setError(problemText(t, e)));
  }, [session]);

  const blocks = useMemo(() => (invitation === null ? [] : letterBlocks(invitation, letterLanguage)), [invitation, letterLanguage]);
  const findings = useMemo(
    () => letterFindings(blocks.map((b) => b.text).join("\n"), invitedName),
    [blocks, invitedName],
  );
  useEffect(() => {
    if (invitation === null) return;
    const bytes = letterPdf(blocks, qrModules(invitation.link));
    const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: "application/pdf" }));
    setPdfUrl(url);
    return () => URL.revokeObjectURL(url);
  }, [blocks, invitation]);

  const submit = async (form: HTMLFormElement): Promise<void> => {
    const data = new FormData(form);
    const field = (name: string): string => {
      const v = data.get(name);
      return typeof v === "string" ? v.trim() : "";
    };
    const name = field("name");
    setBusy(true);
    setError(null);
    try {
      const created = await createInvitation(session.ctx, {
        teamId: field("team") as TeamId,
        nationalId: field("national-id"),
        name,
      });
      setInvitedName(name);
      setInvitation(created);
    } catch (e) {
      setError(problemText(t, e));
    } finally {
      // The national id leaves the page's form whatever the outcome.
      const input = form.elements.namedItem("national-id");
      if (input instanceof HTMLInputElement) input.value = "";
      setBusy(false);
    }
  };

  if (invitation !== null) {
    return (
      <Screen title={t("invite.title")}>
        <p class="notice no-print" role="status">
          {t("invite.done")}
        </p>
        {findings.length > 0 && (
          <p class="notice bad no-print" role="alert">
            {t("invite.findings")}
          </p>
        )}
        <div class="actions no-print">
          <label class="field">
            {t("invite.letterLanguage")}
            <select value={letterLanguage} onChange={(e) => setLetterLanguage(e.currentTarget.value as Language)}>
              {(Object.keys(LANGUAGES) as Language[]).map((l) => (
                <option key={l} value={l} lang={l}>
                  {LANGUAGES[l]}
                </option>
              ))}
            </select>
          </label>
          <button type="button" onClick={() => print()} disabled={findings.length > 0}>
            {t("invite.print")}
          </button>
          {pdfUrl !== null && findings.length === 0 && (
            <a class="button secondary" href={pdfUrl} download={`samtale-invitation-${invitation.code.slice(0, 5)}.pdf`}>
              {t("invite.pdf")}
            </a>
          )}
          <button
            type="button"
            class="secondary"
            onClick={() => {
              setInvitation(null);
              setInvitedName("");
            }}
          >
            {t("invite.another")}
          </button>
        </div>
        <article class="letter" lang={letterLanguage} aria-label={blocks[0]?.text}>
          <div class="letter-qr">
            <Qr text={invitation.link} label={invitation.link} />
          </div>
          {blocks.map((b, i) =>
            i === 0 ? (
              <h2 key={i}>{b.text}</h2>
            ) : (
              <p key={i} class={b.mono === true ? "letter-mono" : b.bold === true ? "letter-label" : undefined}>
                {b.text}
              </p>
            ),
          )}
        </article>
      </Screen>
    );
  }

  return (
    <Screen title={t("invite.title")}>
      <p>{t("invite.text")}</p>
      {props.certified === false && <p class="notice warn">{t("invite.uncertified")}</p>}
      <form
        autocomplete="off"
        onSubmit={(e) => {
          e.preventDefault();
          void submit(e.currentTarget);
        }}
      >
        <label class="field">
          {t("invite.name")}
          <input type="text" name="name" required maxLength={100} />
        </label>
        <label class="field">
          {t("invite.nationalId")}
          <input type="text" name="national-id" required inputMode="numeric" autocomplete="off" spellcheck={false} />
        </label>
        <label class="field">
          {t("invite.team")}
          <select name="team" required>
            {teams.map((tm) => (
              <option key={tm.team_id} value={tm.team_id}>
                {tm.name}
              </option>
            ))}
          </select>
        </label>
        <ErrorText message={error} />
        {busy && <p aria-busy="true">{t("invite.working")}</p>}
        <div class="actions">
          <button type="submit" disabled={busy || props.certified !== true || teams.length === 0}>
            {t("invite.create")}
          </button>
        </div>
      </form>
    </Screen>
  );
}
