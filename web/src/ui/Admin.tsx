// The admin's screens: setting the organisation up from an empty server
// (the root key is made here and stays in this browser's keystore), teams
// and their retention, staff accounts, devices waiting for certification
// (compared by fingerprint, certified with the root), holds, and the audit
// log's state. Every list is a table; every action says what happened.

import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { deviceFingerprint, type TeamId, type ThreadId } from "../protocol";
import type { AuditStatus, Role, StaffInfo, TeamInfo, TemporaryPassword } from "../protocol/rest";
import type { Api } from "../client/api";
import {
  auditStatus,
  certifyDevices,
  changeTeam,
  createStaff,
  createTeam,
  disableStaff,
  enableStaff,
  holdsRoot,
  listStaff,
  NoWaitingDevice,
  resetPassword,
  revokeDevice,
  setHold,
  setRetention,
  setupOrganisation,
  type StaffDevice,
  staffDevices,
} from "../client/admin";
import type { Backing, Keystore, MarkerStore } from "../client/keystore";
import { teams as orgTeams } from "../client/staff";
import type { ThreadRow } from "../client/model";
import type { Key } from "../i18n/en";
import { formatTime } from "../i18n";
import { useI18n } from "./i18n";
import { ErrorText, Fingerprint, Screen } from "./parts";
import { problemText } from "./problems";
import { ADMIN_TABS, type AdminTab, href, navigate, type Route } from "./router";
import type { AppSession } from "./session";

/** The form's trimmed text fields. */
function fields(form: HTMLFormElement): (name: string) => string {
  const data = new FormData(form);
  return (name) => {
    const v = data.get(name);
    return typeof v === "string" ? v.trim() : "";
  };
}

/** An error already in the user's words. */
class Said extends Error {}

/** Runs an action with a busy flag, a result line and an error line. */
function useAction(): {
  busy: boolean;
  done: string | null;
  error: string | null;
  run(work: () => Promise<string | null>): Promise<void>;
} {
  const { t } = useI18n();
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  return {
    busy,
    done,
    error,
    run: async (work) => {
      setBusy(true);
      setDone(null);
      setError(null);
      try {
        setDone(await work());
      } catch (e) {
        setError(
          e instanceof Said
            ? e.message
            : e instanceof NoWaitingDevice
              ? t(e.waiting === 0 ? "admin.devices.noneWaiting" : "admin.devices.mismatch", { who: e.username, typed: e.typed })
              : problemText(t, e),
        );
      } finally {
        setBusy(false);
      }
    },
  };
}

function Done(props: { message: string | null }) {
  if (props.message === null) return null;
  return (
    <p class="notice" role="status">
      {props.message}
    </p>
  );
}

// ------------------------------------------------------------------ setup

/** Sets a new organisation up from the enrolment code the server printed. */
export function AdminSetup(props: {
  api: Api;
  backing: Backing;
  marker: MarkerStore;
  label: string;
  onDone(keystore: Keystore): void;
}) {
  const { t } = useI18n();
  const action = useAction();
  const [made, setMade] = useState<{ keystore: Keystore; fingerprint: string } | null>(null);

  if (made !== null) {
    return (
      <Screen title={t("setup.done.title")}>
        <p>{t("setup.done.text")}</p>
        <Fingerprint value={made.fingerprint} label={t("staff.org.fingerprint")} />
        <p class="notice warn">{t("setup.done.root")}</p>
        <div class="actions">
          <button type="button" onClick={() => props.onDone(made.keystore)}>
            {t("setup.done.next")}
          </button>
        </div>
      </Screen>
    );
  }
  return (
    <Screen title={t("setup.title")}>
      <p>{t("setup.text")}</p>
      <ErrorText message={action.error} />
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const form = e.currentTarget;
          const f = fields(form);
          const password = (form.elements.namedItem("password") as HTMLInputElement).value;
          const again = (form.elements.namedItem("password-again") as HTMLInputElement).value;
          void action.run(async () => {
            if (password !== again) throw new Said(t("setup.password.differ"));
            const done = await setupOrganisation(props.api, props.backing, props.marker, {
              enrolmentCode: f("code"),
              organisation: f("organisation"),
              username: f("username"),
              displayName: f("name"),
              password,
              label: props.label,
            });
            form.reset();
            setMade({ keystore: done.keystore, fingerprint: done.fingerprint });
            return null;
          });
        }}
      >
        <label class="field">
          {t("setup.code")}
          <span class="hint">{t("setup.code.hint")}</span>
          <input name="code" required autoComplete="off" spellcheck={false} autoCapitalize="characters" />
        </label>
        <label class="field">
          {t("setup.organisation")}
          <input name="organisation" required autoComplete="organization" />
        </label>
        <label class="field">
          {t("setup.username")}
          <input name="username" required autoComplete="username" autoCapitalize="none" spellcheck={false} />
        </label>
        <label class="field">
          {t("setup.name")}
          <input name="name" required autoComplete="name" />
        </label>
        <label class="field">
          {t("setup.password")}
          <span class="hint">{t("admin.staff.password.hint")}</span>
          <input name="password" type="password" required minLength={12} autoComplete="new-password" />
        </label>
        <label class="field">
          {t("setup.password.again")}
          <input name="password-again" type="password" required minLength={12} autoComplete="new-password" />
        </label>
        <div class="actions">
          <button type="submit" disabled={action.busy}>
            {action.busy ? t("setup.working") : t("setup.button")}
          </button>
        </div>
      </form>
    </Screen>
  );
}

// ---------------------------------------------------------- admin screens


const TAB_TITLE: Record<AdminTab, Key> = {
  teams: "admin.teams",
  staff: "admin.staff",
  devices: "admin.devices",
  holds: "admin.holds",
  audit: "admin.audit",
};

export function Admin(props: { session: AppSession; tab: AdminTab }) {
  const { t } = useI18n();
  const { session, tab } = props;
  const root = holdsRoot(session.ctx);
  return (
    <Screen title={`${t("admin.title")}: ${t(TAB_TITLE[tab])}`}>
      <nav aria-label={t("admin.title")} class="tabs">
        {ADMIN_TABS.map((name) => {
          const route: Route = { name: "admin", tab: name };
          return (
            <a
              key={name}
              href={href(route)}
              aria-current={name === tab ? "page" : undefined}
              onClick={(e) => {
                e.preventDefault();
                navigate(route);
              }}
            >
              {t(TAB_TITLE[name])}
            </a>
          );
        })}
      </nav>
      <p class="meta">
        {root ? t("admin.root.here") : t("admin.root.elsewhere")}
      </p>
      {tab === "teams" ? (
        <Teams session={session} />
      ) : tab === "staff" ? (
        <Staff session={session} />
      ) : tab === "devices" ? (
        <Devices session={session} root={root} />
      ) : tab === "holds" ? (
        <Holds session={session} />
      ) : (
        <Audit session={session} />
      )}
    </Screen>
  );
}

/** Loads a list, and again after each change. */
function useList<T>(load: () => Promise<T>): { value: T | null; error: string | null; reload(): void } {
  const { t } = useI18n();
  const [value, setValue] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    load()
      .then((v) => live && setValue(v))
      .catch((e: unknown) => live && setError(problemText(t, e)));
    return () => {
      live = false;
    };
  }, [round]);
  return { value, error, reload: () => setRound((r) => r + 1) };
}

function Loading(props: { children?: ComponentChildren }) {
  return <p aria-busy="true">{props.children ?? "…"}</p>;
}

// ------------------------------------------------------------------ teams

function Teams(props: { session: AppSession }) {
  const { t } = useI18n();
  const ctx = props.session.ctx;
  const teams = useList(() => orgTeams(ctx));
  const action = useAction();
  return (
    <>
      <h2>{t("admin.teams")}</h2>
      <ErrorText message={teams.error ?? action.error} />
      <Done message={action.done} />
      {teams.value === null ? (
        <Loading />
      ) : teams.value.length === 0 ? (
        <p>{t("admin.teams.none")}</p>
      ) : (
        <table>
          <caption class="visually-hidden">{t("admin.teams")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("admin.teams.name")}</th>
              <th scope="col">{t("admin.teams.staff")}</th>
              <th scope="col">{t("admin.teams.journaled")}</th>
              <th scope="col">{t("admin.teams.unjournaled")}</th>
              <th scope="col">
                <span class="visually-hidden">{t("admin.actions")}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {teams.value.map((team) => (
              <tr key={`${team.team_id}-${team.retention.journaled_days}-${team.retention.unjournaled_days}`}>
                <th scope="row">{team.name}</th>
                <td>{team.staff.length}</td>
                <td colSpan={3}>
                  <form
                    class="inline"
                    onSubmit={(e) => {
                      e.preventDefault();
                      const f = fields(e.currentTarget);
                      void action.run(async () => {
                        await setRetention(ctx, team.team_id, {
                          journaled_days: Number(f("journaled")),
                          unjournaled_days: Number(f("unjournaled")),
                        });
                        teams.reload();
                        return t("admin.teams.retention.saved", { team: team.name });
                      });
                    }}
                  >
                    <input
                      name="journaled"
                      type="number"
                      min={1}
                      max={3650}
                      required
                      defaultValue={String(team.retention.journaled_days)}
                      aria-label={t("admin.teams.journaled.for", { team: team.name })}
                    />
                    <input
                      name="unjournaled"
                      type="number"
                      min={1}
                      max={3650}
                      required
                      defaultValue={String(team.retention.unjournaled_days)}
                      aria-label={t("admin.teams.unjournaled.for", { team: team.name })}
                    />
                    <button type="submit" class="secondary" disabled={action.busy}>
                      {t("admin.save")}
                      <span class="visually-hidden"> {team.name}</span>
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p class="meta">{t("admin.teams.retention.text")}</p>
      <h2>{t("admin.teams.create")}</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const form = e.currentTarget;
          const name = fields(form)("name");
          void action.run(async () => {
            const team = await createTeam(ctx, name);
            form.reset();
            teams.reload();
            return t("admin.teams.created", { team: team.name });
          });
        }}
      >
        <label class="field">
          {t("admin.teams.name")}
          <input name="name" required maxLength={200} />
        </label>
        <div class="actions">
          <button type="submit" disabled={action.busy}>
            {t("admin.teams.create")}
          </button>
        </div>
      </form>
    </>
  );
}

// ------------------------------------------------------------------ staff

const ROLES: readonly Role[] = ["staff", "record_clerk", "admin"];
const ROLE_NAME: Record<Role, Key> = {
  staff: "admin.role.staff",
  record_clerk: "admin.role.record_clerk",
  admin: "admin.role.admin",
};

function Staff(props: { session: AppSession }) {
  const { t, language } = useI18n();
  const ctx = props.session.ctx;
  const data = useList(async () => ({ staff: await listStaff(ctx), teams: await orgTeams(ctx) }));
  const action = useAction();
  const [temporary, setTemporary] = useState<{ who: string; value: TemporaryPassword } | null>(null);
  const teamName = (id: TeamId): string => data.value?.teams.find((tm) => tm.team_id === id)?.name ?? id;
  const state = (m: StaffInfo): string =>
    m.disabled
      ? t("admin.staff.disabled")
      : m.must_change_password === true
        ? t("admin.staff.mustChange")
        : t("admin.staff.active");
  return (
    <>
      <h2>{t("admin.staff")}</h2>
      <ErrorText message={data.error ?? action.error} />
      <Done message={action.done} />
      {temporary !== null && (
        <div class="notice warn" role="alert">
          <p>{t("admin.staff.temporary", { who: temporary.who })}</p>
          <p class="fingerprint-small" data-testid="temporary-password">
            {temporary.value.temporary_password}
          </p>
          <p>{t("admin.staff.temporary.how", { until: formatTime(language, temporary.value.expires_at * 1000) })}</p>
          <button type="button" class="secondary" onClick={() => setTemporary(null)}>
            {t("admin.staff.temporary.hide")}
          </button>
        </div>
      )}
      {data.value === null ? (
        <Loading />
      ) : (
        <table>
          <caption class="visually-hidden">{t("admin.staff")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("admin.staff.username")}</th>
              <th scope="col">{t("admin.staff.name")}</th>
              <th scope="col">{t("admin.staff.roles")}</th>
              <th scope="col">{t("admin.staff.teams")}</th>
              <th scope="col">{t("admin.staff.state")}</th>
              <th scope="col">{t("admin.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {data.value.staff.map((m) => (
              <tr key={m.account_id}>
                <th scope="row">{m.username}</th>
                <td>{m.display_name}</td>
                <td>{m.roles.map((r) => t(ROLE_NAME[r])).join(", ")}</td>
                <td>{m.teams.map(teamName).join(", ") || "—"}</td>
                <td>{state(m)}</td>
                <td>
                  {m.account_id !== ctx.accountId && (
                    <div class="row-actions">
                      <button
                        type="button"
                        class="secondary"
                        disabled={action.busy}
                        onClick={() =>
                          void action.run(async () => {
                            if (m.disabled) await enableStaff(ctx, m.account_id);
                            else await disableStaff(ctx, m.account_id);
                            data.reload();
                            return t(m.disabled ? "admin.staff.enabled" : "admin.staff.disabledNow", { who: m.username });
                          })
                        }
                      >
                        {t(m.disabled ? "admin.staff.enable" : "admin.staff.disable")}
                        <span class="visually-hidden"> {m.username}</span>
                      </button>
                      <button
                        type="button"
                        class="secondary"
                        disabled={action.busy || m.disabled}
                        onClick={() =>
                          void action.run(async () => {
                            const value = await resetPassword(ctx, m.account_id);
                            setTemporary({ who: m.username, value });
                            data.reload();
                            return null;
                          })
                        }
                      >
                        {t("admin.staff.reset")}
                        <span class="visually-hidden"> {m.username}</span>
                      </button>
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      {data.value !== null && data.value.teams.length > 0 && data.value.staff.length > 0 && (
        <>
          <h2>{t("admin.membership")}</h2>
          <p class="meta">{t("admin.membership.text")}</p>
          <form
            onSubmit={(e) => {
              e.preventDefault();
              const form = e.currentTarget;
              const f = fields(form);
              const submitter = (e as SubmitEvent).submitter;
              const remove = submitter instanceof HTMLButtonElement && submitter.value === "remove";
              const who = data.value?.staff.find((m) => m.account_id === f("member"));
              const team = data.value?.teams.find((tm) => tm.team_id === f("team"));
              void action.run(async () => {
                if (who === undefined || team === undefined) return null;
                await changeTeam(ctx, team.team_id, who.account_id, remove ? "remove" : "add");
                data.reload();
                return t(remove ? "admin.membership.removed" : "admin.membership.added", {
                  who: who.username,
                  team: team.name,
                });
              });
            }}
          >
            <div class="inline">
              <label class="field">
                {t("admin.membership.member")}
                <select name="member">
                  {data.value.staff.map((m) => (
                    <option key={m.account_id} value={m.account_id}>
                      {m.display_name} ({m.username})
                    </option>
                  ))}
                </select>
              </label>
              <TeamSelect teams={data.value.teams} />
            </div>
            <div class="actions">
              <button type="submit" value="add" disabled={action.busy}>
                {t("admin.membership.add")}
              </button>
              <button type="submit" value="remove" class="secondary" disabled={action.busy}>
                {t("admin.membership.remove")}
              </button>
            </div>
          </form>
        </>
      )}

      <h2>{t("admin.staff.create")}</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const form = e.currentTarget;
          const f = fields(form);
          const data2 = new FormData(form);
          const roles = data2.getAll("role").filter((r): r is Role => ROLES.includes(r as Role));
          const teams = data2.getAll("team").filter((v): v is string => typeof v === "string") as TeamId[];
          const password = (form.elements.namedItem("password") as HTMLInputElement).value;
          void action.run(async () => {
            const info = await createStaff(ctx, {
              username: f("username"),
              displayName: f("name"),
              password,
              roles,
              teams,
            });
            form.reset();
            data.reload();
            return t("admin.staff.created", { who: info.username });
          });
        }}
      >
        <label class="field">
          {t("admin.staff.username")}
          <input name="username" required autoComplete="off" autoCapitalize="none" spellcheck={false} />
        </label>
        <label class="field">
          {t("admin.staff.name")}
          <input name="name" required autoComplete="off" />
        </label>
        <label class="field">
          {t("admin.staff.password")}
          <span class="hint">{t("admin.staff.password.hint")}</span>
          <input name="password" type="password" required minLength={12} autoComplete="new-password" />
        </label>
        <fieldset class="choices">
          <legend>{t("admin.staff.roles")}</legend>
          {ROLES.map((r) => (
            <label key={r} class="check">
              <input type="checkbox" name="role" value={r} defaultChecked={r === "staff"} /> {t(ROLE_NAME[r])}
            </label>
          ))}
        </fieldset>
        {data.value !== null && data.value.teams.length > 0 && (
          <fieldset class="choices">
            <legend>{t("admin.staff.teams")}</legend>
            {data.value.teams.map((tm) => (
              <label key={tm.team_id} class="check">
                <input type="checkbox" name="team" value={tm.team_id} /> {tm.name}
              </label>
            ))}
          </fieldset>
        )}
        <div class="actions">
          <button type="submit" disabled={action.busy}>
            {t("admin.staff.create")}
          </button>
        </div>
      </form>
    </>
  );
}

/** A team chooser (a `<select>` named "team"). */
export function TeamSelect(props: { teams: readonly TeamInfo[]; label?: string }) {
  const { t } = useI18n();
  return (
    <label class="field">
      {props.label ?? t("invite.team")}
      <select name="team" required>
        {props.teams.map((tm) => (
          <option key={tm.team_id} value={tm.team_id}>
            {tm.name}
          </option>
        ))}
      </select>
    </label>
  );
}

// ---------------------------------------------------------------- devices

interface MemberDevices {
  member: StaffInfo;
  devices: StaffDevice[];
}

function Devices(props: { session: AppSession; root: boolean }) {
  const { t, language } = useI18n();
  const ctx = props.session.ctx;
  const list = useList(async (): Promise<MemberDevices[]> => {
    const staff = await listStaff(ctx);
    const out: MemberDevices[] = [];
    for (const member of staff) out.push({ member, devices: await staffDevices(ctx, member.account_id) });
    return out;
  });
  const action = useAction();
  const own = deviceFingerprint(ctx.device.public.identity);
  const rows = (list.value ?? []).flatMap((m) => m.devices.map((d) => ({ member: m.member, device: d })));
  const waiting = rows.filter((r) => !r.device.revoked && !r.device.certified && !r.member.disabled);
  const live = rows.filter((r) => !r.device.revoked && (r.device.certified || r.member.disabled));
  return (
    <>
      <h2>{t("admin.devices.waiting")}</h2>
      <p>{t("admin.devices.waiting.text")}</p>
      {!props.root && <p class="notice warn">{t("admin.devices.noRoot")}</p>}
      <ErrorText message={list.error ?? action.error} />
      <Done message={action.done} />
      {list.value === null ? (
        <Loading />
      ) : waiting.length === 0 ? (
        <p>{t("admin.devices.none")}</p>
      ) : (
        <table>
          <caption class="visually-hidden">{t("admin.devices.waiting")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("admin.staff.username")}</th>
              <th scope="col">{t("admin.devices.label")}</th>
              <th scope="col">{t("admin.devices.since")}</th>
              <th scope="col">{t("admin.devices.compare")}</th>
            </tr>
          </thead>
          <tbody>
            {waiting.map(({ member, device }) => (
              <tr key={device.info.device_id}>
                <th scope="row">
                  {member.display_name} ({member.username})
                </th>
                <td>{device.info.label}</td>
                <td>{formatTime(language, device.info.created_at * 1000)}</td>
                <td>
                  <form
                    onSubmit={(e) => {
                      e.preventDefault();
                      const form = e.currentTarget;
                      const typed = fields(form)("fingerprint");
                      void action.run(async () => {
                        await certifyDevices(ctx, member.account_id, [typed]);
                        list.reload();
                        return t("admin.devices.certified", { who: member.username });
                      });
                    }}
                  >
                    <label class="field">
                      {t("admin.devices.typed", { who: member.username })}
                      <span class="hint">{t("admin.devices.typed.hint")}</span>
                      <input
                        name="fingerprint"
                        required
                        autoComplete="off"
                        spellcheck={false}
                        autoCapitalize="characters"
                        disabled={!props.root}
                      />
                    </label>
                    <button type="submit" disabled={action.busy || !props.root}>
                      {t("admin.devices.certify")}
                      <span class="visually-hidden"> {member.username}</span>
                    </button>
                  </form>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}

      <h2>{t("admin.devices.live")}</h2>
      {list.value !== null && (
        <table>
          <caption class="visually-hidden">{t("admin.devices.live")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("admin.staff.username")}</th>
              <th scope="col">{t("admin.devices.label")}</th>
              <th scope="col">{t("admin.devices.fingerprint")}</th>
              <th scope="col">{t("admin.actions")}</th>
            </tr>
          </thead>
          <tbody>
            {live.map(({ member, device }) => (
              <tr key={device.info.device_id}>
                <th scope="row">
                  {member.display_name} ({member.username})
                </th>
                <td>
                  {device.info.label}
                  {device.fingerprint === own && <span class="tag">{t("admin.devices.this")}</span>}
                </td>
                <td class="fingerprint-small">{device.fingerprint}</td>
                <td>
                  {device.fingerprint !== own && (
                    <button
                      type="button"
                      class="danger"
                      disabled={action.busy || (!props.root && device.certified)}
                      onClick={() => {
                        if (!confirm(t("admin.devices.revoke.confirm", { who: member.username, label: device.info.label }))) return;
                        void action.run(async () => {
                          await revokeDevice(ctx, member.account_id, device);
                          list.reload();
                          return t("admin.devices.revoked", { who: member.username });
                        });
                      }}
                    >
                      {t("admin.devices.revoke")}
                      <span class="visually-hidden">
                        {" "}
                        {member.username} {device.info.label}
                      </span>
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

// ------------------------------------------------------------------ holds

function Holds(props: { session: AppSession }) {
  const { t, language } = useI18n();
  const { session } = props;
  const threads = useList(() => session.threads());
  const action = useAction();
  const toggle = (thread: ThreadId, on: boolean): Promise<void> =>
    action.run(async () => {
      await setHold(session.ctx, thread, on);
      threads.reload();
      return t(on ? "admin.holds.set" : "admin.holds.released", { thread: thread.slice(0, 8) });
    });
  const rows: ThreadRow[] = threads.value ?? [];
  return (
    <>
      <h2>{t("admin.holds")}</h2>
      <p>{t("admin.holds.text")}</p>
      <ErrorText message={threads.error ?? action.error} />
      <Done message={action.done} />
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const form = e.currentTarget;
          const f = fields(form);
          const submitter = (e as SubmitEvent).submitter;
          const release = submitter instanceof HTMLButtonElement && submitter.value === "release";
          void toggle(f("thread") as ThreadId, !release);
        }}
      >
        <label class="field">
          {t("admin.holds.thread")}
          <span class="hint">{t("admin.holds.thread.hint")}</span>
          <input name="thread" required pattern="[0-9a-fA-F-]{36}" autoComplete="off" spellcheck={false} />
        </label>
        <div class="actions">
          <button type="submit" value="hold" disabled={action.busy}>
            {t("admin.holds.hold")}
          </button>
          <button type="submit" value="release" class="secondary" disabled={action.busy}>
            {t("admin.holds.release")}
          </button>
        </div>
      </form>
      {threads.value === null ? (
        <Loading />
      ) : rows.length > 0 ? (
        <table>
          <caption>{t("admin.holds.visible")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("admin.holds.thread")}</th>
              <th scope="col">{t("inbox.team")}</th>
              <th scope="col">{t("inbox.col.activity")}</th>
              <th scope="col">{t("admin.holds.state")}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.threadId}>
                <th scope="row" class="fingerprint-small">
                  {row.threadId}
                </th>
                <td>{row.team ?? "—"}</td>
                <td>{row.lastActivityMs > 0 ? formatTime(language, row.lastActivityMs) : "—"}</td>
                <td>
                  <button
                    type="button"
                    class="secondary"
                    aria-pressed={row.onHold}
                    disabled={action.busy}
                    onClick={() => void toggle(row.threadId, !row.onHold)}
                  >
                    {row.onHold ? t("admin.holds.onHold") : t("admin.holds.notHeld")}
                    <span class="visually-hidden"> {row.threadId}</span>
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </>
  );
}

// ------------------------------------------------------------------ audit

function Audit(props: { session: AppSession }) {
  const { t, language } = useI18n();
  const [status, setStatus] = useState<AuditStatus | null>(null);
  const action = useAction();
  const check = (): Promise<void> =>
    action.run(async () => {
      setStatus(await auditStatus(props.session.ctx));
      return null;
    });
  useEffect(() => {
    void check();
  }, []);
  return (
    <>
      <h2>{t("admin.audit")}</h2>
      <p>{t("admin.audit.text")}</p>
      <ErrorText message={action.error} />
      {status === null ? (
        <Loading>{t("admin.audit.checking")}</Loading>
      ) : (
        <>
          <p class={status.intact ? "notice" : "notice bad"} role="status" data-testid="audit-result">
            {status.intact
              ? t("admin.audit.intact", { count: status.head_index })
              : t("admin.audit.broken", { index: status.broken_at ?? 0 })}
          </p>
          <table class="facts">
            <caption class="visually-hidden">{t("admin.audit")}</caption>
            <tbody>
              <tr>
                <th scope="row">{t("admin.audit.head")}</th>
                <td>{status.head_index}</td>
              </tr>
              <tr>
                <th scope="row">{t("admin.audit.hash")}</th>
                <td class="fingerprint-small">{status.head_hash.match(/.{1,8}/g)?.join(" ")}</td>
              </tr>
              <tr>
                <th scope="row">{t("admin.audit.own")}</th>
                <td>{status.organisation_entries}</td>
              </tr>
              <tr>
                <th scope="row">{t("admin.audit.checked")}</th>
                <td>{formatTime(language, status.checked_at * 1000)}</td>
              </tr>
            </tbody>
          </table>
        </>
      )}
      <div class="actions">
        <button type="button" onClick={() => void check()} disabled={action.busy}>
          {t("admin.audit.check")}
        </button>
      </div>
    </>
  );
}
