// The staff's screens: password login (a new browser is a new device), the
// notice while it waits for an admin's certificate, the team inbox (a table
// per team, filters, unread counts), the citizen's identity and consent on a
// thread, and the composer's minimisation check as you type.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { AccountId, Minimiser, TeamId } from "../protocol";
import type { Finding } from "../protocol/minimise";
import type { CitizenInfo, TeamInfo } from "../protocol/rest";
import { type Api, ApiError } from "../client/api";
import type { Backing, Keystore, MarkerStore } from "../client/keystore";
import type { ThreadRow } from "../client/model";
import type { Hit } from "../client/search";
import {
  addParticipant,
  citizensOf,
  createThread,
  INBOX_FILTERS,
  inbox,
  staffLogin,
  staffRelogin,
  type InboxFilter,
} from "../client/staff";
import { formatTime } from "../i18n";
import type { Key } from "../i18n/en";
import { useI18n } from "./i18n";
import { ErrorText, Fingerprint, Progress, Screen } from "./parts";
import { problemText } from "./problems";
import { href, navigate } from "./router";
import type { AppSession } from "./session";

/** Username and password; a temporary password must be replaced first. */
export function StaffLogin(props: {
  api: Api;
  backing: Backing;
  marker: MarkerStore;
  label: string;
  onDone: (keystore: Keystore) => void;
}) {
  const { t } = useI18n();
  const [mustChange, setMustChange] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (form: HTMLFormElement): Promise<void> => {
    const data = new FormData(form);
    const value = (name: string): string => {
      const v = data.get(name);
      return typeof v === "string" ? v : "";
    };
    setBusy(true);
    setError(null);
    try {
      const keystore = await staffLogin(props.api, props.backing, props.marker, {
        username: value("username").trim(),
        password: value("password"),
        ...(mustChange ? { newPassword: value("new-password") } : {}),
        label: props.label,
      });
      form.reset();
      props.onDone(keystore);
    } catch (e) {
      if (e instanceof ApiError && e.code === "password_change_required") {
        setMustChange(true);
        setError(t("staff.login.mustChange"));
      } else {
        setError(problemText(t, e));
      }
      setBusy(false);
    }
  };
  return (
    <Screen title={t("staff.login.title")}>
      <p>{t("staff.login.text")}</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit(e.currentTarget);
        }}
      >
        <label class="field">
          {t("staff.login.username")}
          <input type="text" name="username" autocomplete="username" required autoCapitalize="none" spellcheck={false} />
        </label>
        <label class="field">
          {t("staff.login.password")}
          <input type="password" name="password" autocomplete="current-password" required />
        </label>
        {mustChange && (
          <label class="field">
            {t("staff.login.newPassword")}
            <input type="password" name="new-password" autocomplete="new-password" required minLength={12} />
          </label>
        )}
        <ErrorText message={error} />
        {busy && <p aria-busy="true">{t("staff.login.working")}</p>}
        <div class="actions">
          <button type="submit" disabled={busy}>
            {t("staff.login.button")}
          </button>
        </div>
      </form>
      <p class="meta">
        <a
          href={href({ name: "setup" })}
          onClick={(e) => {
            e.preventDefault();
            navigate({ name: "setup" });
          }}
        >
          {t("setup.link")}
        </a>
      </p>
    </Screen>
  );
}

/** After the session ended (not a revocation): the password again, for
 *  this browser's existing device, which stays certified. */
export function StaffRelogin(props: { api: Api; keystore: Keystore; onDone(keystore: Keystore): void }) {
  const { t } = useI18n();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        const input = e.currentTarget.elements.namedItem("password") as HTMLInputElement;
        setBusy(true);
        setError(null);
        staffRelogin(props.api, props.keystore, input.value)
          .then(() => props.onDone(props.keystore))
          .catch((err: unknown) => {
            input.value = "";
            setError(problemText(t, err));
            setBusy(false);
          });
      }}
    >
      <label class="field">
        {t("staff.relogin.password", { user: props.keystore.secrets.username ?? "" })}
        <input type="password" name="password" autocomplete="current-password" required />
      </label>
      <ErrorText message={error} />
      <div class="actions">
        <button type="submit" disabled={busy}>
          {t("staff.relogin.button")}
        </button>
      </div>
    </form>
  );
}

/** While the app is open: a browser notice for a message that arrives in a
 *  thread not on screen (or while the tab is hidden), with the neutral text
 *  "Ny besked i Jobcenter" — never the citizen, never the message. Only
 *  with the user's permission, asked for by a button (never on load). */
export function useNotices(session: AppSession | null): void {
  const { t } = useI18n();
  useEffect(() => {
    if (session === null || typeof Notification === "undefined") return;
    return session.relay.onDeliver((d) => {
      if (Notification.permission !== "granted") return;
      if (d.threadId === session.open && document.visibilityState === "visible") return;
      const team = session.teamOf.get(d.threadId) ?? session.organisation;
      const notice = new Notification(t("notify.text", { team }), { tag: `samtale-${d.threadId}` });
      notice.onclick = () => {
        focus();
        navigate({ name: "thread", id: d.threadId });
        notice.close();
      };
    });
  }, [session, t]);
}

/** Turns the notices on (asks the browser), or says they are on or blocked. */
export function NoticeSwitch() {
  const { t } = useI18n();
  const supported = typeof Notification !== "undefined";
  const [permission, setPermission] = useState<NotificationPermission>(supported ? Notification.permission : "denied");
  if (!supported) return null;
  if (permission === "granted") return <p class="meta">{t("notify.on")}</p>;
  if (permission === "denied") return <p class="meta">{t("notify.denied")}</p>;
  return (
    <p>
      <button
        type="button"
        class="secondary"
        onClick={() => void Notification.requestPermission().then(setPermission)}
      >
        {t("notify.enable")}
      </button>
    </p>
  );
}

/** Shown to staff on a device the organisation has not certified yet. */
export function CertificationNotice(props: { session: AppSession }) {
  const { t } = useI18n();
  return (
    <div class="notice warn" data-testid="uncertified">
      <h2>{t("staff.cert.title")}</h2>
      <p>{t("staff.cert.text")}</p>
      <Fingerprint value={props.session.deviceFingerprint} label={t("staff.cert.fingerprint")} />
      <p class="meta">{t("staff.org.fingerprint")}</p>
      <p class="meta fingerprint-small">{props.session.rootFingerprint}</p>
    </div>
  );
}

const FILTER_KEYS: Record<InboxFilter, Key> = {
  all: "inbox.filter.all",
  unread: "inbox.filter.unread",
  unfiled: "inbox.filter.unfiled",
  withdrawn: "inbox.filter.withdrawn",
  unverified: "inbox.filter.unverified",
};

/** The team inbox: one team at a time, threads by activity, filters. */
export function Inbox(props: { session: AppSession; certified: boolean | null }) {
  const { t, language } = useI18n();
  const { session } = props;
  const [rows, setRows] = useState<ThreadRow[] | null>(null);
  const [teams, setTeams] = useState<TeamInfo[]>([]);
  const [team, setTeam] = useState<TeamId | null>(null);
  const [filter, setFilter] = useState<InboxFilter>("all");
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let alive = true;
    session
      .teams()
      .then((list) => {
        if (!alive) return;
        setTeams(list);
        setTeam((current) => current ?? list[0]?.team_id ?? null);
      })
      .catch((e: unknown) => alive && setError(problemText(t, e)));
    const load = (shared = false): void => {
      session
        .threads({ shared })
        .then((r) => alive && setRows(r))
        .catch((e: unknown) => alive && setError(problemText(t, e)));
    };
    load(true);
    const stop = session.onThreadChange(() => load());
    // Left a team: its threads leave the inbox at once.
    const stopAccess = session.onAccessChanged(() => {
      load();
      session
        .teams()
        .then((list) => {
          if (!alive) return;
          setTeams(list);
          setTeam((current) => (list.some((tm) => tm.team_id === current) ? current : (list[0]?.team_id ?? null)));
        })
        .catch(() => undefined);
    });
    return () => {
      alive = false;
      stop();
      stopAccess();
    };
  }, [session]);
  const shown = useMemo(() => (rows === null ? [] : inbox(rows, team, filter)), [rows, team, filter]);
  // The most recent threads first, a page at a time: the whole list is in
  // memory (filters, counts and search cover all of it), the table grows
  // on request.
  const [limit, setLimit] = useState(INBOX_PAGE);
  useEffect(() => setLimit(INBOX_PAGE), [team, filter]);
  const unread = (rows ?? []).reduce((n, r) => n + r.unread, 0);
  const title = t("inbox.title");
  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) ${title} · Samtale` : `${title} · Samtale`;
  }, [unread, title]);
  return (
    <Screen title={title}>
      {props.certified === false && <CertificationNotice session={session} />}
      <ErrorText message={error} />
      <div class="inbox-controls">
        {teams.length > 1 && (
          <label class="field">
            {t("inbox.team")}
            <select value={team ?? ""} onChange={(e) => setTeam(e.currentTarget.value as TeamId)}>
              {teams.map((tm) => (
                <option key={tm.team_id} value={tm.team_id}>
                  {tm.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {teams.length === 1 && <p class="meta">{teams[0]?.name}</p>}
        <fieldset class="filters">
          <legend>{t("inbox.filter")}</legend>
          {INBOX_FILTERS.map((f) => (
            <label key={f} class="filter">
              <input type="radio" name="filter" value={f} checked={filter === f} onChange={() => setFilter(f)} />
              {t(FILTER_KEYS[f])}
            </label>
          ))}
        </fieldset>
      </div>
      <div class="actions">
        <button type="button" disabled={props.certified !== true} onClick={() => navigate({ name: "new-thread" })}>
          {t("thread.new")}
        </button>
      </div>
      <NoticeSwitch />
      <Search session={session} rows={rows ?? []} />
      {rows === null && error === null && <p aria-busy="true">…</p>}
      {rows !== null && shown.length === 0 && <p>{t("inbox.empty")}</p>}
      {shown.length > 0 && (
        <table class="inbox">
          <caption class="visually-hidden">{title}</caption>
          <thead>
            <tr>
              <th scope="col">{t("inbox.col.citizens")}</th>
              <th scope="col">{t("inbox.col.activity")}</th>
              <th scope="col">{t("inbox.col.unread")}</th>
              <th scope="col">{t("inbox.col.case")}</th>
            </tr>
          </thead>
          <tbody>
            {shown.slice(0, limit).map((row) => {
              const names = row.participants.map((p) => p.name).join(", ") || t("inbox.noCitizen");
              return (
                <tr key={row.threadId} class={row.unread > 0 ? "unread" : undefined}>
                  <td>
                    <a
                      href={href({ name: "thread", id: row.threadId })}
                      aria-label={t("inbox.open", { names })}
                      onClick={(e) => {
                        e.preventDefault();
                        navigate({ name: "thread", id: row.threadId });
                      }}
                    >
                      {names}
                    </a>
                    {row.participants.some((p) => p.assurance === "unverified") && (
                      <span class="tag warn">{t("inbox.filter.unverified")}</span>
                    )}
                    {row.participants.some((p) => p.consent === "withdrawn") && (
                      <span class="tag bad">{t("inbox.filter.withdrawn")}</span>
                    )}
                  </td>
                  <td>{formatTime(language, row.lastActivityMs)}</td>
                  <td>{row.unread > 0 ? <strong>{row.unread}</strong> : "0"}</td>
                  <td>{row.journaledCase ?? <span class="meta">{t("inbox.unfiled")}</span>}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      {shown.length > INBOX_PAGE && (
        <div class="actions">
          <p class="meta" role="status">
            {t("inbox.showing", { shown: Math.min(limit, shown.length), total: shown.length })}
          </p>
          {limit < shown.length && (
            <>
              <button type="button" class="secondary" onClick={() => setLimit((l) => l + INBOX_PAGE)}>
                {t("inbox.more", { count: Math.min(INBOX_PAGE, shown.length - limit) })}
              </button>
              <button type="button" class="secondary" onClick={() => setLimit(shown.length)}>
                {t("inbox.all", { total: shown.length })}
              </button>
            </>
          )}
        </div>
      )}
    </Screen>
  );
}

/** Rows of the inbox table shown at first, and added per "show more". */
export const INBOX_PAGE = 100;

/** The search form and its results (a table: conversation, sender, time,
 *  the words around the match). */
function Search(props: { session: AppSession; rows: readonly ThreadRow[] }) {
  const { t, language } = useI18n();
  const [query, setQuery] = useState("");
  const [searched, setSearched] = useState<string | null>(null);
  const [hits, setHits] = useState<Hit[]>([]);
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const names = (id: string): string =>
    props.rows
      .find((r) => r.threadId === id)
      ?.participants.map((p) => p.name)
      .join(", ") || t("inbox.noCitizen");
  const run = async (): Promise<void> => {
    const q = query.trim();
    if (q === "") return;
    setError(null);
    try {
      const found = await props.session.search(q, (done, total) => setProgress(total > 0 && done < total ? { done, total } : null));
      setHits(found);
      setSearched(q);
    } catch (e) {
      setError(problemText(t, e));
    } finally {
      setProgress(null);
    }
  };
  return (
    <div class="search">
      <form
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        <label class="field">
          {t("search.label")}
          <input type="search" name="q" value={query} onInput={(e) => setQuery(e.currentTarget.value)} autocomplete="off" />
        </label>
        <div class="actions">
          <button type="submit" disabled={progress !== null}>
            {t("search.button")}
          </button>
          {searched !== null && (
            <button
              type="button"
              class="secondary"
              onClick={() => {
                setSearched(null);
                setHits([]);
                setQuery("");
              }}
            >
              {t("search.clear")}
            </button>
          )}
        </div>
      </form>
      {progress !== null && <Progress label={t("search.indexing", progress)} value={progress.done / progress.total} />}
      <ErrorText message={error} />
      <div role="status" aria-live="polite">
        {searched !== null && (
          <p>
            {hits.length === 0
              ? t("search.none", { q: searched })
              : hits.length === 1
                ? t("search.result", { q: searched })
                : t("search.results", { n: hits.length, q: searched })}
          </p>
        )}
      </div>
      {searched !== null && hits.length > 0 && (
        <table class="results">
          <thead>
            <tr>
              <th scope="col">{t("inbox.col.citizens")}</th>
              <th scope="col">{t("search.col.from")}</th>
              <th scope="col">{t("inbox.col.activity")}</th>
              <th scope="col">{t("search.col.message")}</th>
            </tr>
          </thead>
          <tbody>
            {hits.map((h) => (
              <tr key={`${h.threadId}:${h.seq}`}>
                <td>
                  <a
                    href={href({ name: "thread", id: h.threadId })}
                    onClick={(e) => {
                      e.preventDefault();
                      navigate({ name: "thread", id: h.threadId });
                    }}
                  >
                    {names(h.threadId)}
                  </a>
                </td>
                <td>{h.sender}</td>
                <td>{formatTime(language, h.atMs)}</td>
                <td>
                  {h.before}
                  {h.match !== "" && <mark>{h.match}</mark>}
                  {h.after}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

/** Starts a conversation with one or more citizens of a team. */
export function NewThread(props: { session: AppSession }) {
  const { t } = useI18n();
  const { session } = props;
  const [teams, setTeams] = useState<TeamInfo[]>([]);
  const [team, setTeam] = useState<TeamId | null>(null);
  const [citizens, setCitizens] = useState<CitizenInfo[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    session
      .teams()
      .then((list) => {
        const mine = list.filter((tm) => tm.staff.includes(session.ctx.accountId));
        setTeams(mine);
        setTeam(mine[0]?.team_id ?? null);
      })
      .catch((e: unknown) => setError(problemText(t, e)));
  }, [session]);
  useEffect(() => {
    if (team === null) return;
    setCitizens(null);
    citizensOf(session.ctx, team)
      .then((list) => setCitizens(list.filter((c) => c.consent === "given")))
      .catch((e: unknown) => setError(problemText(t, e)));
  }, [team]);
  const submit = async (form: HTMLFormElement): Promise<void> => {
    const chosen = new FormData(form).getAll("citizen").filter((v): v is string => typeof v === "string");
    if (team === null || chosen.length === 0) {
      setError(t("thread.new.pick"));
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const detail = await createThread(session.ctx, team, chosen as AccountId[]);
      navigate({ name: "thread", id: detail.summary.thread_id });
    } catch (e) {
      setError(problemText(t, e));
      setBusy(false);
    }
  };
  return (
    <Screen title={t("thread.new")}>
      <p>{t("thread.new.text")}</p>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit(e.currentTarget);
        }}
      >
        {teams.length > 1 && (
          <label class="field">
            {t("inbox.team")}
            <select value={team ?? ""} onChange={(e) => setTeam(e.currentTarget.value as TeamId)}>
              {teams.map((tm) => (
                <option key={tm.team_id} value={tm.team_id}>
                  {tm.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {citizens === null && error === null && <p aria-busy="true">…</p>}
        {citizens !== null && citizens.length === 0 && <p>{t("thread.new.none")}</p>}
        {citizens !== null && citizens.length > 0 && (
          <fieldset class="choices">
            <legend>{t("inbox.col.citizens")}</legend>
            {citizens.map((c) => (
              <label key={c.account_id} class="check">
                <input type="checkbox" name="citizen" value={c.account_id} />
                <span>
                  {c.display_name}
                  {c.assurance === "unverified" && <span class="tag warn">{t("inbox.filter.unverified")}</span>}
                </span>
              </label>
            ))}
          </fieldset>
        )}
        <ErrorText message={error} />
        <div class="actions">
          <button type="submit" disabled={busy || citizens === null || citizens.length === 0}>
            {t("thread.new.start")}
          </button>
        </div>
      </form>
    </Screen>
  );
}

/** Adds a citizen of the thread's team to the thread. */
export function AddParticipant(props: { session: AppSession; row: ThreadRow; onAdded: () => void }) {
  const { t } = useI18n();
  const { session, row } = props;
  const [citizens, setCitizens] = useState<CitizenInfo[] | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const load = (): void => {
    citizensOf(session.ctx, row.teamId)
      .then((list) =>
        setCitizens(list.filter((c) => c.consent === "given" && !row.participants.some((p) => p.accountId === c.account_id))),
      )
      .catch((e: unknown) => setError(problemText(t, e)));
  };
  return (
    <details
      class="card"
      onToggle={(e) => {
        if (e.currentTarget.open && citizens === null) load();
      }}
    >
      <summary>{t("thread.add")}</summary>
      {citizens !== null && citizens.length === 0 && <p>{t("thread.add.none")}</p>}
      {citizens !== null && citizens.length > 0 && (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            const chosen = new FormData(e.currentTarget).get("citizen");
            const who = citizens.find((c) => c.account_id === chosen);
            if (who === undefined) return;
            setBusy(true);
            setError(null);
            addParticipant(session.ctx, row.threadId, who.account_id)
              .then(() => {
                setDone(t("thread.add.done", { name: who.display_name }));
                setCitizens(null);
                props.onAdded();
              })
              .catch((err: unknown) => setError(problemText(t, err)))
              .finally(() => setBusy(false));
          }}
        >
          <label class="field">
            {t("thread.add.label")}
            <select name="citizen">
              {citizens.map((c) => (
                <option key={c.account_id} value={c.account_id}>
                  {c.display_name}
                </option>
              ))}
            </select>
          </label>
          <button type="submit" disabled={busy}>
            {t("thread.add.button")}
          </button>
        </form>
      )}
      <ErrorText message={error} />
      {done !== null && <p role="status">{done}</p>}
    </details>
  );
}

/** The citizens' identity levels and consent, on a staff member's thread. */
export function CitizenNotices(props: { row: ThreadRow }) {
  const { t } = useI18n();
  return (
    <>
      {props.row.participants.map((p) => (
        <div key={p.accountId}>
          {p.assurance === "unverified" ? (
            <p class="notice warn">{t("thread.identity.unverified", { name: p.name })}</p>
          ) : (
            <p class="notice">{t("thread.identity.verified", { name: p.name, level: p.assurance })}</p>
          )}
          {p.consent === "withdrawn" && (
            <p class="notice bad" role="alert">
              {t("thread.consent.withdrawn", { name: p.name })}
            </p>
          )}
        </div>
      ))}
    </>
  );
}

/** Merged spans of the findings, for the underline. */
function marked(text: string, findings: readonly Finding[]): { text: string; mark: boolean }[] {
  const spans = findings.map((f) => [f.start, f.end] as [number, number]).sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const s of spans) {
    const last = merged[merged.length - 1];
    if (last !== undefined && s[0] <= last[1]) last[1] = Math.max(last[1], s[1]);
    else merged.push([s[0], s[1]]);
  }
  const out: { text: string; mark: boolean }[] = [];
  let at = 0;
  for (const [a, b] of merged) {
    if (a > at) out.push({ text: text.slice(at, a), mark: false });
    out.push({ text: text.slice(a, b), mark: true });
    at = b;
  }
  // A trailing newline would collapse in the mirror: keep the line.
  out.push({ text: text.slice(at) + "\n", mark: false });
  return out;
}

/** A textarea that underlines personal data as it is typed, with the
 *  reasons listed under it (announced politely to screen readers). */
export function MinimisedTextarea(props: {
  label: string;
  name: string;
  value: string;
  minimiser: Minimiser;
  onInput: (value: string) => void;
  onKeyDown?: (e: KeyboardEvent) => void;
  onFindings?: (findings: readonly Finding[]) => void;
}) {
  const { t } = useI18n();
  const mirror = useRef<HTMLDivElement>(null);
  const findings = useMemo(() => props.minimiser.scan(props.value), [props.value, props.minimiser]);
  useEffect(() => props.onFindings?.(findings), [findings]);
  const id = `${props.name}-findings`;
  return (
    <div class="field">
      <label for={`${props.name}-input`}>{props.label}</label>
      <div class="mirror-wrap">
        <div class="mirror" aria-hidden="true" ref={mirror}>
          {marked(props.value, findings).map((s, i) => (s.mark ? <mark key={i}>{s.text}</mark> : s.text))}
        </div>
        <textarea
          id={`${props.name}-input`}
          name={props.name}
          value={props.value}
          aria-describedby={findings.length > 0 ? id : undefined}
          aria-invalid={findings.length > 0 ? "true" : undefined}
          onInput={(e) => props.onInput(e.currentTarget.value)}
          onScroll={(e) => {
            if (mirror.current !== null) mirror.current.scrollTop = e.currentTarget.scrollTop;
          }}
          onKeyDown={props.onKeyDown}
        />
      </div>
      <div id={id} role="status" aria-live="polite" class="findings">
        {findings.length > 0 && (
          <>
            <p class="finding-title">{t("min.title")}</p>
            <ul>
              {findings.map((f, i) => (
                <li key={i}>
                  {t("min.item", { excerpt: props.value.slice(f.start, f.end), why: t(`min.${f.category}`) })}
                </li>
              ))}
            </ul>
          </>
        )}
      </div>
    </div>
  );
}
