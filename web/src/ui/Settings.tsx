// Settings: this account's devices (approve a new one, remove one), the
// PIN, the personal data export, withdrawing consent, logging out.

import { useEffect, useState } from "preact/hooks";
import type { DeviceId } from "../protocol";
import { approveDevice, ownDevices, removeDevice } from "../client/devices";
import type { OwnDevice, PendingDevice } from "../client/model";
import { formatTime } from "../i18n";
import { useI18n } from "./i18n";
import { ErrorText, Fingerprint, LanguagePicker, Screen } from "./parts";
import { problemText } from "./problems";
import type { AppSession } from "./session";

export function Settings(props: { session: AppSession; onEnded(reason: "withdrawn" | "logout"): void }) {
  const { t, language } = useI18n();
  const { session } = props;
  const [devices, setDevices] = useState<OwnDevice[] | null>(null);
  const [pending, setPending] = useState<PendingDevice[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [confirmWithdraw, setConfirmWithdraw] = useState(false);
  const [confirmLogout, setConfirmLogout] = useState(false);
  const [busy, setBusy] = useState(false);

  const load = async (): Promise<void> => {
    try {
      const report = await session.upkeep();
      setPending(report.pending);
      setDevices(await ownDevices(session.ctx));
    } catch (e) {
      setError(problemText(t, e));
    }
  };
  useEffect(() => {
    void load();
  }, [session]);

  const act = async (work: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (e) {
      setError(problemText(t, e));
    } finally {
      setBusy(false);
    }
  };
  // An admin's browser that holds the organisation root: logging out
  // deletes it with the other keys.
  const holdsRoot = session.ctx.keystore.secrets.rootSeed !== undefined;
  const others = (devices ?? []).filter((d) => !d.thisDevice && !d.revoked && d.listed);

  return (
    <Screen title={t("settings.title")}>
      <ErrorText message={error} />
      {pending.map((p) => (
        <div class="card" key={p.deviceId} role="region" aria-label={t("settings.approve.title")}>
          <h2>{t("settings.approve.title")}</h2>
          <p>{t("settings.approve.text", { fp: "" })}</p>
          <Fingerprint value={p.fingerprint} label={t("settings.approve.title")} />
          <p class="meta">{p.label}</p>
          <div class="actions">
            <button
              type="button"
              disabled={busy}
              onClick={() =>
                void act(async () => {
                  await approveDevice(session.ctx, p.fingerprint);
                  await load();
                })
              }
            >
              {t("settings.approve.button")}
            </button>
            <button
              type="button"
              class="secondary"
              disabled={busy}
              onClick={() =>
                void act(async () => {
                  await removeDevice(session.ctx, p.deviceId);
                  await load();
                })
              }
            >
              {t("settings.devices.revoke")}
            </button>
          </div>
        </div>
      ))}

      <h2>{t("settings.devices")}</h2>
      {devices !== null && (
        <table>
          <caption class="visually-hidden">{t("settings.devices")}</caption>
          <thead>
            <tr>
              <th scope="col">{t("settings.devices.device")}</th>
              <th scope="col">{t("settings.devices.fingerprint")}</th>
              <th scope="col">
                <span class="visually-hidden">{t("settings.devices.revoke")}</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {devices
              .filter((d) => !d.revoked)
              .map((d) => (
                <tr key={d.deviceId}>
                  <td>
                    {d.label}
                    {d.thisDevice && <strong> ({t("settings.devices.this")})</strong>}
                    <br />
                    <span class="meta">{formatTime(language, d.createdAt * 1000)}</span>
                    {!d.listed && <span class="meta"> · {t("settings.devices.waiting")}</span>}
                  </td>
                  <td class="meta">{d.fingerprint}</td>
                  <td>
                    {!d.thisDevice && (
                      <button
                        type="button"
                        class="secondary"
                        disabled={busy}
                        aria-label={`${t("settings.devices.revoke")}: ${d.label}`}
                        onClick={() =>
                          void act(async () => {
                            await removeDevice(session.ctx, d.deviceId as DeviceId);
                            await load();
                          })
                        }
                      >
                        {t("settings.devices.revoke")}
                      </button>
                    )}
                  </td>
                </tr>
              ))}
          </tbody>
        </table>
      )}

      <h2>{t("lang.label")}</h2>
      <LanguagePicker />

      {!session.isStaff && (
        <>
      <h2>{t("settings.export")}</h2>
      <div class="actions">
        <button
          type="button"
          class="secondary"
          disabled={busy}
          onClick={() =>
            void act(async () => {
              const blob = await session.exportData();
              const url = URL.createObjectURL(blob);
              const a = document.createElement("a");
              a.href = url;
              a.download = "samtale-export.json";
              a.click();
              setTimeout(() => URL.revokeObjectURL(url), 10_000);
            })
          }
        >
          {t("settings.export")}
        </button>
      </div>

      <h2>{t("settings.withdraw")}</h2>
      <p>{t("settings.withdraw.text")}</p>
      {!confirmWithdraw ? (
        <div class="actions">
          <button type="button" class="secondary" onClick={() => setConfirmWithdraw(true)}>
            {t("settings.withdraw")}
          </button>
        </div>
      ) : (
        <div class="actions" role="alertdialog" aria-label={t("settings.withdraw")}>
          <button
            type="button"
            class="danger"
            disabled={busy}
            onClick={() =>
              void act(async () => {
                await session.withdrawConsent();
                props.onEnded("withdrawn");
              })
            }
          >
            {t("settings.withdraw.confirm")}
          </button>
          <button type="button" class="secondary" onClick={() => setConfirmWithdraw(false)}>
            {t("pin.skip")}
          </button>
        </div>
      )}
        </>
      )}

      <h2>{t("settings.logout")}</h2>
      {confirmLogout && others.length === 0 && (
        <p class="notice warn" role="alert">
          {t("settings.logout.only")}
        </p>
      )}
      {confirmLogout && holdsRoot && (
        <p class="notice bad" role="alert">
          {t("settings.logout.root")}
        </p>
      )}
      <div class="actions">
        <button
          type="button"
          class="secondary"
          disabled={busy}
          onClick={() => {
            if (!confirmLogout && (others.length === 0 || holdsRoot)) {
              setConfirmLogout(true);
              return;
            }
            void act(async () => {
              await session.logout();
              props.onEnded("logout");
            });
          }}
        >
          {t("settings.logout")}
        </button>
      </div>
    </Screen>
  );
}
