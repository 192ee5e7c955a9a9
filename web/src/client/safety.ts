// Safety numbers (PROTOCOL.md §10), mirroring client-cli/src/client/
// safety.rs: one per pair of accounts, over all of each account's devices
// in its verified device list, and confirming them after someone's
// devices were reset (which lifts the refusal to seal to them).

import {
  b64Decode,
  DeviceCertificate,
  idToBytes,
  safetyNumber,
  type AccountId,
  type IdentityKey,
  type ThreadId,
} from "../protocol";
import { ClientError, updateSecrets, type Context } from "./context";
import type { SafetyRow } from "./model";
import { verified } from "./threads";
import { loadStaff, pinsForWork, readPins, savePins, type Pins } from "./trust";

/** Safety numbers with every other participant of a thread: one per
 *  account, over all of its devices in its signed device list (so the
 *  number changes when a device is added, removed or reset), with this
 *  account's own devices on the other side. Sorted by name. */
export async function safetyNumbers(ctx: Context, thread: ThreadId): Promise<SafetyRow[]> {
  const { before, pins } = pinsForWork(ctx);
  try {
    return await safetyIn(ctx, thread, pins);
  } finally {
    await savePins(ctx, before, pins);
  }
}

async function safetyIn(ctx: Context, thread: ThreadId, pins: Pins): Promise<SafetyRow[]> {
  const v = await verified(ctx, thread, pins);
  const me = ctx.accountId;
  const listed = (v.dir.citizenDevices(me) ?? []).map((d) => d.identity);
  const mine = listed.length > 0 ? listed : [ctx.device.public.identity];
  const row = (name: string, account: AccountId, staff: boolean, reset: boolean, keys: IdentityKey[]): SafetyRow => ({
    accountId: account,
    name,
    staff,
    devices: keys.length,
    resetUnconfirmed: reset,
    number: safetyNumber({ stableId: idToBytes(me), devices: mine }, { stableId: idToBytes(account), devices: keys }),
  });
  const rows: SafetyRow[] = [];
  const staff = (v.dir.teamLog(v.vt.team)?.members ?? []).flatMap((m) => (m.kind === "staff" ? [m.id] : []));
  for (const account of staff.filter((a) => a !== me)) {
    await loadStaff(ctx, v.dir, pins, account);
    const keys = (v.dir.staffDevices(account) ?? []).map((d) => d.identity);
    if (keys.length === 0) continue;
    let name = "a staff member";
    for (const d of v.devices.filter((x) => x.account_id === account)) {
      if (d.certificate === undefined || d.certificate === null) continue;
      try {
        name = DeviceCertificate.decode(b64Decode(d.certificate)).bodyUnverified.staffName;
        break;
      } catch {
        // Another of their devices may carry a readable certificate.
      }
    }
    rows.push(row(name, account, true, false, keys));
  }
  for (const account of v.vt.citizens.filter((a) => a !== me)) {
    const keys = (v.dir.citizenDevices(account) ?? []).map((d) => d.identity);
    if (keys.length === 0) continue;
    const reset = v.vt.unconfirmedResets().some((n) => n.account === account);
    const name = v.detail.citizens.find((c) => c.account_id === account)?.display_name ?? "a former participant";
    rows.push(row(name, account, false, reset, keys));
  }
  return rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Records that the person compared safety numbers with `who` (a
 *  participant's account id or name) and they matched: a reset of their
 *  device list up to now is no longer flagged. */
export async function confirmSafety(ctx: Context, thread: ThreadId, who: string): Promise<SafetyRow> {
  const rows = await safetyNumbers(ctx, thread);
  const found = rows.filter((r) => r.accountId === who || r.name.toLowerCase() === who.toLowerCase());
  const row = found[0];
  if (found.length === 0 || row === undefined) {
    throw ClientError.refused(`nobody in this thread is called ${JSON.stringify(who)}`);
  }
  if (found.length > 1) throw ClientError.refused(`${JSON.stringify(who)} matches several participants; give the account id`);
  const key = `devices:${row.accountId}`;
  await updateSecrets(ctx, (s) => {
    const p = readPins(s.pins);
    const pin = p.logs[key];
    if (pin !== undefined) pin.confirmed = pin.len;
    s.pins = { logs: p.logs, holders: p.holders, archive: p.archive };
  });
  return { ...row, resetUnconfirmed: false };
}
