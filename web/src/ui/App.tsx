// The app: which screen, given what this browser holds (nothing, a PIN-
// locked keystore, a keystore the browser evicted, a sign-up in progress
// across the eID broker, or an open session), and the route.

import { useEffect, useMemo, useState } from "preact/hooks";
import type { ThreadId } from "../protocol";
import { Api, ApiError } from "../client/api";
import { type Backing, Keystore, KeystoreError, loadPending, type MarkerStore } from "../client/keystore";
import { deviceLabel, finish, RootMismatch, startLogin } from "../client/join";
import type { RelayStatus } from "../client/relay";
import { initialLanguage, type Language, remember, storedLanguage, translator } from "../i18n";
import { Conversation } from "./Conversation";
import { I18nContext, useI18n } from "./i18n";
import { Join } from "./Join";
import { ErrorText, LanguagePicker, Screen } from "./parts";
import { href, navigate, useRoute } from "./router";
import { Safety } from "./Safety";
import { AppSession, afterRender } from "./session";
import { Settings } from "./Settings";
import { Inbox, NewThread, StaffLogin, StaffRelogin, useNotices } from "./Staff";
import { Invite } from "./Invite";
import { Admin, AdminSetup } from "./Admin";
import { Templates } from "./Templates";
import { ChoosePin, Evicted, Failure, Start, Unlock, WaitingForApproval } from "./Start";
import { Threads } from "./Threads";

type Phase =
  | { name: "loading" }
  | { name: "none" }
  | { name: "evicted" }
  | { name: "locked" }
  | { name: "finishing" }
  | { name: "choose-pin"; keystore: Keystore }
  | { name: "waiting"; session: AppSession }
  | { name: "ready"; session: AppSession }
  | {
      name: "ended";
      why: "withdrawn" | "logout" | "session";
      staff?: boolean;
      code?: string;
      /** Staff: the keystore, to log in again as the same device. */
      keystore?: Keystore;
    }
  | { name: "failed"; message: string };

export interface Platform {
  backing: Backing;
  marker: MarkerStore;
  storage: Pick<Storage, "getItem" | "setItem">;
  languages: readonly string[];
  userAgent: string;
}

export function App(props: { platform: Platform }) {
  const { platform } = props;
  const [language, setLanguageState] = useState<Language>(() =>
    initialLanguage(storedLanguage(platform.storage), platform.languages),
  );
  const i18n = useMemo(
    () => ({
      t: translator(language),
      language,
      setLanguage: (l: Language) => {
        remember(l, platform.storage);
        setLanguageState(l);
      },
    }),
    [language],
  );
  useEffect(() => {
    document.documentElement.lang = language;
  }, [language]);
  return (
    <I18nContext.Provider value={i18n}>
      <Shell platform={platform} />
    </I18nContext.Provider>
  );
}

function Shell(props: { platform: Platform }) {
  const { platform } = props;
  const { t } = useI18n();
  const route = useRoute();
  const api = useMemo(() => new Api(), []);
  const [phase, setPhase] = useState<Phase>({ name: "loading" });
  const [status, setStatus] = useState<RelayStatus>("connecting");
  // Staff: whether this device is certified (until then: read, not send);
  // null while it is being checked.
  const [certified, setCertified] = useState<boolean | null>(null);
  // Staff: whether the account is an admin's (the admin screens).
  const [admin, setAdmin] = useState(false);

  const ready = async (keystore: Keystore, choosePin: boolean): Promise<void> => {
    if (choosePin && !keystore.hasPin) {
      setPhase({ name: "choose-pin", keystore });
      return;
    }
    const session = AppSession.start(keystore, platform.backing, platform.marker);
    session.relay.on("status", setStatus);
    session.relay.on("ended", (e) => {
      session.close();
      setPhase({ name: "ended", why: "session", staff: session.isStaff, code: e.code, keystore });
    });
    if (session.isStaff) {
      // The inbox opens at once; the certificate check and key upkeep run
      // behind it (a message cannot be sent before the check says yes).
      setCertified(null);
      setAdmin(false);
      setPhase({ name: "ready", session });
      if (["start", "join", "login", "staff-login"].includes(route.name)) navigate({ name: "threads" }, true);
      void session.roles().then((roles) => setAdmin(roles.includes("admin")), () => undefined);
      void (async () => {
        // After the first listing, which the inbox is waiting for, and
        // once it is on screen.
        await session.threads({ shared: true }).catch(() => undefined);
        await new Promise<void>((resolve) => afterRender(resolve));
        setCertified(await session.checkCertified().catch(() => false));
        await session.upkeep().catch(() => undefined);
      })();
      return;
    }
    try {
      await session.upkeep();
    } catch (e) {
      if (e instanceof Error && /removed from your account/.test(e.message)) {
        setPhase({ name: "failed", message: e.message });
        return;
      }
      // Offline, say: the app still opens with what the keystore holds.
    }
    const approved = session.isStaff || (await session.approved().catch(() => true));
    setPhase(approved ? { name: "ready", session } : { name: "waiting", session });
    if (["start", "join", "login", "staff-login", "setup"].includes(route.name)) navigate({ name: "threads" }, true);
  };

  const boot = async (): Promise<void> => {
    const pending = await loadPending(platform.backing);
    const returned = location.hash.startsWith("#eid=done");
    if (pending !== null && (returned || (pending.flow === null && pending.purpose === "join"))) {
      setPhase({ name: "finishing" });
      try {
        const keystore = await finish(api, platform.backing, platform.marker, pending, deviceLabel(platform.userAgent));
        history.replaceState(null, "", location.pathname);
        await ready(keystore, true);
      } catch (e) {
        setPhase({
          name: "failed",
          message:
            e instanceof RootMismatch
              ? t("error.rootChanged")
              : e instanceof ApiError && e.message.includes("no account is linked")
                ? t("login.noaccount")
                : t("error.server", { message: e instanceof Error ? e.message : String(e) }),
        });
      }
      return;
    }
    try {
      const keystore = await Keystore.open(platform.backing, platform.marker);
      await ready(keystore, false);
    } catch (e) {
      if (e instanceof KeystoreError) {
        if (e.code === "pin_required") setPhase({ name: "locked" });
        else if (e.code === "evicted") setPhase({ name: "evicted" });
        else if (e.code === "missing") setPhase({ name: "none" });
        else setPhase({ name: "failed", message: e.message });
      } else {
        setPhase({ name: "failed", message: e instanceof Error ? e.message : String(e) });
      }
    }
  };

  useEffect(() => {
    void boot();
  }, []);

  // A new device waits until one of the person's devices approves it.
  useEffect(() => {
    if (phase.name !== "waiting") return;
    const timer = setInterval(() => {
      void phase.session
        .upkeep()
        .then(() => phase.session.approved())
        .then((ok) => ok && setPhase({ name: "ready", session: phase.session }))
        .catch(() => undefined);
    }, 3000);
    return () => clearInterval(timer);
  }, [phase]);

  // A staff device waits for an admin's certificate: looked for every few
  // seconds; once there, key upkeep makes or receives the team keys.
  useEffect(() => {
    if (phase.name !== "ready" || !phase.session.isStaff || certified !== false) return;
    const session = phase.session;
    const timer = setInterval(() => {
      void session
        .checkCertified()
        .then(async (ok) => {
          if (!ok) return;
          await session.upkeep().catch(() => undefined);
          setCertified(true);
        })
        .catch(() => undefined);
    }, 3000);
    return () => clearInterval(timer);
  }, [phase, certified]);

  useNotices(phase.name === "ready" && phase.session.isStaff ? phase.session : null);

  let body;
  switch (phase.name) {
    case "loading":
    case "finishing":
      body = (
        <Screen title={t("app.name")}>
          <p aria-busy="true">{phase.name === "finishing" ? t("join.working") : "…"}</p>
        </Screen>
      );
      break;
    case "failed":
      body = <Failure message={phase.message} />;
      break;
    case "evicted":
      body = route.name === "login" ? <Login api={api} backing={platform.backing} /> : <Evicted />;
      break;
    case "locked":
      body = (
        <Unlock
          onUnlock={async (pin) => {
            try {
              const keystore = await Keystore.open(platform.backing, platform.marker, pin);
              await ready(keystore, false);
              return null;
            } catch (e) {
              return e instanceof KeystoreError && e.code === "wrong_pin" ? t("pin.wrong") : String(e);
            }
          }}
        />
      );
      break;
    case "choose-pin":
      body = (
        <ChoosePin
          onDone={async (pin) => {
            if (pin !== null) await phase.keystore.setPin(pin);
            await ready(phase.keystore, false);
          }}
        />
      );
      break;
    case "ended":
      body = (
        <Screen title={t("app.name")}>
          <p class="notice warn" role="alert">
            {phase.why === "withdrawn"
              ? t("chat.consent.withdrawn")
              : phase.staff === true
                ? t(phase.code === "device_revoked" ? "staff.ended.revoked" : "staff.ended.session")
                : t("login.text")}
          </p>
          {phase.staff === true && phase.keystore !== undefined && phase.code !== "device_revoked" && (
            <StaffRelogin
              api={api}
              keystore={phase.keystore}
              onDone={(keystore) => void ready(keystore, false)}
            />
          )}
          {phase.staff === true && phase.keystore?.secrets.rootSeed !== undefined && (
            <p class="notice warn">{t("admin.ended.root")}</p>
          )}
          {phase.staff === true && phase.keystore?.secrets.rootSeed === undefined && (
            <div class="actions">
              <button
                type="button"
                onClick={() => {
                  void Keystore.destroy(platform.backing, platform.marker).then(() => {
                    setPhase({ name: "none" });
                    navigate({ name: "staff-login" });
                  });
                }}
              >
                {t("staff.login.button")}
              </button>
            </div>
          )}
        </Screen>
      );
      break;
    case "none":
      body =
        route.name === "join" ? (
          <Join
            api={api}
            backing={platform.backing}
            fragment={location.hash}
            onLeave={(url) => location.assign(url)}
            onReadyToFinish={() => void boot()}
          />
        ) : route.name === "login" ? (
          <Login api={api} backing={platform.backing} />
        ) : route.name === "setup" ? (
          <AdminSetup
            api={api}
            backing={platform.backing}
            marker={platform.marker}
            label={deviceLabel(platform.userAgent)}
            onDone={(keystore) => {
              navigate({ name: "admin", tab: "teams" }, true);
              void ready(keystore, true);
            }}
          />
        ) : route.name === "staff-login" ? (
          <StaffLogin
            api={api}
            backing={platform.backing}
            marker={platform.marker}
            label={deviceLabel(platform.userAgent)}
            onDone={(keystore) => void ready(keystore, true)}
          />
        ) : (
          <Start />
        );
      break;
    case "waiting":
      body = <WaitingForApproval fingerprint={phase.session.deviceFingerprint} />;
      break;
    case "ready": {
      const session = phase.session;
      body =
        route.name === "thread" ? (
          <Conversation session={session} thread={route.id as ThreadId} certified={certified} />
        ) : route.name === "safety" ? (
          <Safety session={session} thread={route.id as ThreadId} />
        ) : route.name === "settings" ? (
          <Settings session={session} onEnded={(why) => setPhase({ name: "ended", why })} />
        ) : session.isStaff && route.name === "templates" ? (
          <Templates session={session} certified={certified} />
        ) : session.isStaff && route.name === "admin" ? (
          <Admin session={session} tab={route.tab} />
        ) : session.isStaff && route.name === "new-thread" ? (
          <NewThread session={session} />
        ) : session.isStaff && route.name === "invite" ? (
          <Invite session={session} certified={certified} />
        ) : session.isStaff ? (
          <Inbox session={session} certified={certified} />
        ) : (
          <Threads session={session} />
        );
      break;
    }
  }

  const signedIn = phase.name === "ready";
  return (
    <>
      <a class="skip" href="#main">
        {t("app.name")}: ↓
      </a>
      <header class="top">
        <a
          class="brand"
          href={href(signedIn ? { name: "threads" } : { name: "start" })}
          onClick={(e) => {
            e.preventDefault();
            navigate(signedIn ? { name: "threads" } : { name: "start" });
          }}
        >
          {t("app.name")}
        </a>
        {signedIn && (
          <nav aria-label={t("app.name")}>
            <a
              href={href({ name: "threads" })}
              aria-current={route.name === "threads" ? "page" : undefined}
              onClick={(e) => {
                e.preventDefault();
                navigate({ name: "threads" });
              }}
            >
              {phase.session.isStaff ? t("inbox.title") : t("threads.title")}
            </a>
            {phase.session.isStaff && (
              <a
                href={href({ name: "invite" })}
                aria-current={route.name === "invite" ? "page" : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  navigate({ name: "invite" });
                }}
              >
                {t("invite.nav")}
              </a>
            )}
            {phase.session.isStaff && (
              <a
                href={href({ name: "templates" })}
                aria-current={route.name === "templates" ? "page" : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  navigate({ name: "templates" });
                }}
              >
                {t("templates.nav")}
              </a>
            )}
            {phase.session.isStaff && admin && (
              <a
                href={href({ name: "admin", tab: "devices" })}
                aria-current={route.name === "admin" ? "page" : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  navigate({ name: "admin", tab: "devices" });
                }}
              >
                {t("admin.nav")}
              </a>
            )}
            <a
              href={href({ name: "settings" })}
              aria-current={route.name === "settings" ? "page" : undefined}
              onClick={(e) => {
                e.preventDefault();
                navigate({ name: "settings" });
              }}
            >
              {t("settings.title")}
            </a>
          </nav>
        )}
        <LanguagePicker />
      </header>
      {signedIn && (
        <p class="status" data-state={status} role="status">
          {status === "online" ? t("status.online") : status === "connecting" ? t("status.connecting") : t("status.offline")}
        </p>
      )}
      <main id="main">{body}</main>
    </>
  );
}

function Login(props: { api: Api; backing: Backing }) {
  const { t } = useI18n();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <Screen title={t("login.title")}>
      <p>{t("login.text")}</p>
      {location.hash.includes("eid=failed") && <ErrorText message={t("join.eid.failed")} />}
      <ErrorText message={error} />
      <div class="actions">
        <button
          type="button"
          disabled={busy}
          onClick={() => {
            setBusy(true);
            startLogin(props.api, props.backing)
              .then((url) => location.assign(url))
              .catch((e: unknown) => {
                setBusy(false);
                setError(t("error.server", { message: e instanceof Error ? e.message : String(e) }));
              });
          }}
        >
          {t("login.button")}
        </button>
      </div>
    </Screen>
  );
}

