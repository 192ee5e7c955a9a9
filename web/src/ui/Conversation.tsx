// A conversation, as SMS looks but verified: every message opened here and
// its sender checked against the organisation's signatures before its text
// is shown; a message that fails is shown as failed, never as text. The
// municipality's record (the archive participant) is disclosed at the top.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import type { TeamId, ThreadId } from "../protocol";
import type { Finding } from "../protocol/minimise";
import { minimiserFor } from "../client/staff";
import { listTemplates, type Template } from "../client/templates";
import { ClientError } from "../client/context";
import type { Banner, OutgoingMessage, ShownMessage, ThreadView } from "../client/model";
import { fetchAttachment, markRead, type OutgoingFile } from "../client/send";
import { formatTime } from "../i18n";
import { useI18n } from "./i18n";
import { ErrorText, Progress, Screen } from "./parts";
import { problemText } from "./problems";
import { href, navigate } from "./router";
import type { AppSession } from "./session";
import { AddParticipant, CitizenNotices, MinimisedTextarea } from "./Staff";

/** Messages shown at first, and added by "show earlier". */
const WINDOW = 200;

export function Conversation(props: { session: AppSession; thread: ThreadId; certified?: boolean | null }) {
  const { t } = useI18n();
  const { session, thread } = props;
  const [view, setView] = useState<ThreadView | null>(null);
  const [outgoing, setOutgoing] = useState<OutgoingMessage[]>([]);
  const [error, setError] = useState<string | null>(null);
  // How many of the newest messages are on the page: a long thread is
  // shown a window at a time, so it stays quick on a phone.
  const [shown, setShown] = useState(WINDOW);
  // Bumped to open the thread again (after a participant was added).
  const [reload, setReload] = useState(0);

  useEffect(() => {
    let alive = true;
    setShown(WINDOW);
    session.open = thread;
    const load = (): void => {
      session
        .view(thread)
        .then(async (v) => {
          if (!alive) return;
          setView(v);
          setError(null);
          await markRead(session.ctx, thread, v.row.messages, session.relay);
        })
        .catch((e: unknown) => {
          if (!alive) return;
          const gone = e instanceof ClientError && (e.is("forbidden") || e.is("not_found"));
          if (gone) setView(null);
          setError(gone && session.isStaff ? t("thread.noAccess") : problemText(t, e));
        });
    };
    load();
    const stop = session.onThreadChange((changed) => {
      if (changed === thread) load();
    });
    const stopAccess = session.onAccessChanged(load);
    const mine = (list: OutgoingMessage[]): OutgoingMessage[] => list.filter((m) => m.threadId === thread);
    setOutgoing(mine(session.outbox.list()));
    const stopOut = session.outbox.onChange((list) => alive && setOutgoing(mine(list)));
    return () => {
      alive = false;
      session.open = null;
      stop();
      stopAccess();
      stopOut();
    };
  }, [session, thread, reload]);

  const team = view?.row.team ?? session.organisation;
  // Nothing can be written: the citizen withdrew her own consent, or every
  // citizen of the thread withdrew (a thread goes on while one consents).
  const withdrawn =
    view?.banners.some(
      (b) => b.kind === "own_consent_withdrawn" || (b.kind === "consent_withdrawn" && !b.othersContinue),
    ) ?? false;
  return (
    <Screen title={team}>
      <p>
        <a
          href={href({ name: "threads" })}
          onClick={(e) => {
            e.preventDefault();
            navigate({ name: "threads" });
          }}
        >
          ← {t("chat.back")}
        </a>
        {" · "}
        <a
          href={href({ name: "safety", id: thread })}
          onClick={(e) => {
            e.preventDefault();
            navigate({ name: "safety", id: thread });
          }}
        >
          {t("chat.safety")}
        </a>
      </p>
      <p class="meta">{view?.organisation ?? session.organisation}</p>
      <div class="notice">
        <p>{session.isStaff ? t("chat.archive.staff") : t("chat.archive")}</p>
      </div>
      {session.isStaff && view !== null && (
        <>
          <p class="meta">{t("thread.participants", { names: view.row.participants.map((p) => p.name).join(", ") })}</p>
          <CitizenNotices row={view.row} />
          {props.certified === true && <AddParticipant session={session} row={view.row} onAdded={() => setReload((n) => n + 1)} />}
        </>
      )}
      {view?.banners.map((b, i) => <BannerNote key={i} banner={b} />)}
      <ErrorText message={error} />
      {view === null && error === null && <p aria-busy="true">…</p>}
      {view !== null && (
        <div role="log" aria-live="polite" aria-label={team}>
        {view.messages.length > shown && (
          <p>
            <button
              type="button"
              class="secondary"
              onClick={() => setShown((n) => n + WINDOW)}
            >
              {t("chat.earlier", { n: Math.min(WINDOW, view.messages.length - shown), total: view.messages.length })}
            </button>
          </p>
        )}
        <ol class="messages">
          {view.messages.slice(-shown).map((m) => (
            <Message key={m.seq} m={m} session={session} thread={thread} />
          ))}
          {outgoing.map((o) => (
            <li key={o.messageId} class="message mine">
              <p class="text">{o.text}</p>
              {o.files.length > 0 && <p class="meta">{o.files.join(", ")}</p>}
              <p class="meta">
                {o.state === "queued" ? t("chat.queued") : o.state === "failed" ? (o.error ?? "") : t("chat.sending")}
              </p>
              {o.state === "uploading" && <Progress label={t("chat.sending")} value={o.progress} />}
            </li>
          ))}
        </ol>
        </div>
      )}
      {withdrawn ? (
        session.isStaff ? null : <p class="notice warn">{t("chat.consent.withdrawn")}</p>
      ) : session.isStaff && props.certified === false ? (
        <p class="notice warn">{t("chat.uncertified")}</p>
      ) : session.isStaff && props.certified !== true ? (
        <p aria-busy="true">…</p>
      ) : (
        <Composer
          session={session}
          thread={thread}
          people={session.isStaff ? (view?.row.participants ?? []) : null}
          team={session.isStaff ? (view?.row.teamId ?? null) : null}
        />
      )}
    </Screen>
  );
}

function BannerNote(props: { banner: Banner }) {
  const { t, language } = useI18n();
  const b = props.banner;
  switch (b.kind) {
    case "devices_reset":
      return (
        <p class="notice bad" role="alert">
          {t("chat.reset.warning", { name: b.name, date: formatTime(language, b.atSecs * 1000) })}
        </p>
      );
    case "journaled":
      return <p class="notice">{t("chat.filed", { case: b.caseRef ?? "", n: b.upToSeq })}</p>;
    case "removed":
      return <p class="notice">{t("chat.removed", { n: b.count })}</p>;
    case "consent_withdrawn":
    case "own_consent_withdrawn":
    case "account_gone":
    case "devices_changed":
      return null;
  }
}

function Message(props: { m: ShownMessage; session: AppSession; thread: ThreadId }) {
  const { t, language } = useI18n();
  const { m } = props;
  const mine = m.sender?.me === true;
  if (m.body.status === "unreadable") {
    return (
      <li class="message unreadable">
        <p class="who">{t("chat.unreadable")}</p>
        <p class="meta">{m.body.reason}</p>
        <p class="meta">{formatTime(language, m.atMs)}</p>
      </li>
    );
  }
  if (m.body.status === "failed" || m.sender === null) {
    return (
      <li class="message failed">
        <p class="who">⚠ {t("chat.unverified")}</p>
        <p class="meta">{m.body.status === "failed" ? m.body.reason : ""}</p>
        <p class="meta">{formatTime(language, m.atMs)}</p>
      </li>
    );
  }
  const sender = m.sender;
  const who = mine
    ? t("chat.you")
    : sender.kind === "staff"
      ? t("chat.verified", {
          name: sender.name,
          team: sender.team ?? "",
          org: props.session.organisation,
        })
      : sender.name;
  return (
    <li class={mine ? "message mine" : "message"}>
      <p class={sender.kind === "staff" ? "who verified" : "who"}>{who}</p>
      {m.body.text !== "" && <p class="text">{m.body.text}</p>}
      {m.body.attachments.map((a) => (
        <Attachment key={a.index} session={props.session} thread={props.thread} seq={m.seq} index={a.index} name={a.name} mediaType={a.mediaType} />
      ))}
      <p class="meta">
        {formatTime(language, m.atMs)}
        {mine && (m.read ? ` · ${t("chat.read")}` : m.delivered ? ` · ${t("chat.delivered")}` : "")}
      </p>
    </li>
  );
}

function Attachment(props: {
  session: AppSession;
  thread: ThreadId;
  seq: number;
  index: number;
  name: string;
  mediaType: string;
}) {
  const { t } = useI18n();
  const [progress, setProgress] = useState<number | null>(null);
  const [url, setUrl] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const link = useRef<HTMLAnchorElement>(null);
  const image = props.mediaType.startsWith("image/");
  useEffect(() => () => {
    if (url !== null) URL.revokeObjectURL(url);
  }, [url]);
  const fetchIt = async (): Promise<string | null> => {
    setProgress(0);
    setError(null);
    try {
      const file = await fetchAttachment(props.session.ctx, props.thread, props.seq, props.index, (tick) => {
        if (tick.kind === "bytes" && tick.total !== null && tick.total > 0) setProgress(tick.done / tick.total);
      });
      const made = URL.createObjectURL(new Blob([file.bytes as Uint8Array<ArrayBuffer>], { type: file.mediaType }));
      setUrl(made);
      return made;
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      return null;
    } finally {
      setProgress(null);
    }
  };
  useEffect(() => {
    if (image) void fetchIt();
  }, []);
  return (
    <div>
      {image && url !== null && <img src={url} alt={props.name} />}
      {progress !== null && <Progress label={t("chat.download", { name: props.name })} value={progress} />}
      <ErrorText message={error} />
      {url !== null ? (
        <a ref={link} href={url} download={props.name}>
          {t("chat.download", { name: props.name })}
        </a>
      ) : (
        <button
          type="button"
          class="secondary"
          onClick={() =>
            void fetchIt().then((made) => {
              if (made === null) return;
              const a = document.createElement("a");
              a.href = made;
              a.download = props.name;
              a.click();
            })
          }
        >
          {t("chat.download", { name: props.name })}
        </button>
      )}
    </div>
  );
}

/** The composer; for staff (`people` given: the thread's citizens) the text
 *  is checked for personal data as it is typed, and a message with findings
 *  is sent only after the writer confirms it must be written. */
function Composer(props: {
  session: AppSession;
  thread: ThreadId;
  people: readonly { name: string }[] | null;
  /** Staff: the thread's team, whose templates can be inserted. */
  team: TeamId | null;
}) {
  const { t } = useI18n();
  const [text, setText] = useState("");
  const [templates, setTemplates] = useState<Template[]>([]);
  useEffect(() => {
    if (props.team === null) return;
    let live = true;
    listTemplates(props.session.ctx, props.team)
      .then((shelf) => live && setTemplates(shelf.templates))
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [props.team]);
  const [findings, setFindings] = useState<readonly Finding[]>([]);
  const [force, setForce] = useState(false);
  const names = props.people?.map((p) => p.name).join("\n") ?? null;
  const minimiser = useMemo(() => (props.people === null ? null : minimiserFor(props.people)), [names]);
  const held = minimiser !== null && findings.length > 0 && !force;
  const [files, setFiles] = useState<File[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const input = useRef<HTMLInputElement>(null);
  const submit = async (): Promise<void> => {
    if ((text.trim() === "" && files.length === 0) || held) return;
    setBusy(true);
    setError(null);
    try {
      const out: OutgoingFile[] = [];
      for (const f of files) {
        out.push({ name: f.name, mediaType: f.type !== "" ? f.type : undefined, bytes: new Uint8Array(await f.arrayBuffer()) });
      }
      await props.session.outbox.compose(props.thread, text, out);
      setText("");
      setForce(false);
      setFiles([]);
      if (input.current !== null) input.current.value = "";
    } catch (e) {
      setError(problemText(t, e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form
      class="composer"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      {minimiser !== null ? (
        <MinimisedTextarea
          label={t("chat.composer.label")}
          name="message"
          value={text}
          minimiser={minimiser}
          onInput={(v) => {
            setText(v);
            setForce(false);
          }}
          onFindings={setFindings}
          onKeyDown={(e) => {
            if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
              e.preventDefault();
              void submit();
            }
          }}
        />
      ) : (
        <label class="field">
          {t("chat.composer.label")}
          <textarea
            name="message"
            value={text}
            onInput={(e) => setText((e.currentTarget).value)}
            onKeyDown={(e) => {
              if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
                e.preventDefault();
                void submit();
              }
            }}
          />
        </label>
      )}
      {templates.length > 0 && (
        <label class="field">
          {t("templates.insert")}
          <select
            value=""
            onChange={(e) => {
              const chosen = templates.find((tm) => tm.id === e.currentTarget.value);
              if (chosen === undefined) return;
              // Inserted like typed text: the minimisation rules see it.
              setText((before) => (before.trim() === "" ? chosen.text : `${before.trimEnd()}\n\n${chosen.text}`));
              setForce(false);
              e.currentTarget.value = "";
              document.getElementById("message-input")?.focus();
            }}
          >
            <option value="">{t("templates.choose")}</option>
            {templates.map((tm) => (
              <option key={tm.id} value={tm.id}>
                {tm.title}
              </option>
            ))}
          </select>
        </label>
      )}
      {minimiser !== null && findings.length > 0 && (
        <label class="check">
          <input type="checkbox" name="force" checked={force} onChange={(e) => setForce(e.currentTarget.checked)} />
          <span>{t("min.force")}</span>
        </label>
      )}
      <div class="row">
        <label class="field">
          {t("chat.attach")}
          <input
            ref={input}
            type="file"
            multiple
            onChange={(e) => setFiles(Array.from((e.currentTarget).files ?? []))}
          />
        </label>
      </div>
      <ErrorText message={error} />
      <div class="row">
        <button type="submit" disabled={busy || held || (text.trim() === "" && files.length === 0)}>
          {t("chat.send")}
        </button>
      </div>
    </form>
  );
}
