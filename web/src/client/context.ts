// What every client operation takes: the REST client, the open keystore,
// this device's keys (rebuilt from the keystore's seeds, never from the
// server), who and where, and a clock. The browser's counterpart of the
// Rust client's `Session` (client-cli/src/client/mod.rs): its error type,
// the session-aware REST calls and `me()`, which refuses a server that
// presents another organisation root than the one pinned at sign-up.

import {
  b64Decode,
  DeviceKeys,
  OrgRootPublicKey,
  orgFingerprint,
  parseId,
  type AccountId,
  type DeviceId,
  type OrgId,
} from "../protocol";
import type { AccountInfo } from "../protocol/rest";
import { ApiError, type Api } from "./api";
import type { Keystore, Secrets } from "./keystore";

export interface Context {
  api: Api;
  keystore: Keystore;
  /** This device's keys, from the keystore. */
  device: DeviceKeys;
  accountId: AccountId;
  deviceId: DeviceId;
  orgId: OrgId;
  /** The organisation root pinned at sign-up (checked against the letter). */
  root: OrgRootPublicKey;
  /** Unix seconds. */
  now(): bigint;
}

/** Seconds since the Unix epoch, from the system clock. */
export function systemNow(): bigint {
  return BigInt(Math.floor(Date.now() / 1000));
}

/** The context for an open keystore. */
export function contextOf(api: Api, keystore: Keystore, now: () => bigint = systemNow): Context {
  const s = keystore.secrets;
  return {
    api,
    keystore,
    device: DeviceKeys.fromSeeds(b64Decode(s.identitySeed), b64Decode(s.agreementSecret)),
    accountId: parseId<AccountId>(s.accountId),
    deviceId: parseId<DeviceId>(s.deviceId),
    orgId: parseId<OrgId>(s.orgId),
    root: OrgRootPublicKey.fromBytes(b64Decode(s.rootPublicKey)),
    now,
  };
}

export type ClientErrorKind = "session_ended" | "api" | "refused" | "consent_withdrawn" | "verification" | "relay";

/** Why a client operation failed, in words that say what to do next (the
 *  texts of the Rust client's `ClientError`, which the screens show). */
export class ClientError extends Error {
  override readonly name = "ClientError";

  private constructor(
    readonly kind: ClientErrorKind,
    message: string,
    /** The server's stable code, when the server refused. */
    readonly code: string | null = null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** The session has ended (expired, revoked, signed out elsewhere). */
  static sessionEnded(why: string): ClientError {
    return new ClientError("session_ended", `your session has ended (${why}). Log in again with eID`, null);
  }
  /** The server refused or failed. */
  static api(e: ApiError): ClientError {
    return new ClientError("api", e.message, e.code, { cause: e });
  }
  /** The live connection failed. */
  static relay(message: string, code: string | null): ClientError {
    return new ClientError("relay", message, code);
  }
  /** Something the user asked for cannot be done. */
  static refused(message: string): ClientError {
    return new ClientError("refused", message);
  }
  /** A citizen of the thread withdrew consent. */
  static consentWithdrawn(message: string): ClientError {
    return new ClientError("consent_withdrawn", message, "consent_withdrawn");
  }
  /** A security check failed: the server's data does not verify. */
  static verification(message: string): ClientError {
    return new ClientError("verification", `security check failed: ${message}`);
  }

  /** Whether the server answered with `code`. */
  is(code: string): boolean {
    return this.code === code;
  }
}

/** Maps a failed REST call: an ended session is its own error, any other
 *  refusal keeps the server's code. Anything else is rethrown as is. */
export function apiError(e: unknown): unknown {
  if (e instanceof ApiError) {
    return ["authentication_failed", "token_expired", "device_revoked", "not_authenticated"].includes(e.code)
      ? ClientError.sessionEnded(e.message)
      : ClientError.api(e);
  }
  return e;
}

async function calling<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw apiError(e);
  }
}

/** `GET path` with session handling. */
export function get<T>(ctx: Context, path: string): Promise<T> {
  return calling(() => ctx.api.get<T>(path));
}

/** `POST path` with session handling. */
export function post<T>(ctx: Context, path: string, body: unknown): Promise<T> {
  return calling(() => ctx.api.post<T>(path, body));
}

/** `PUT path` with session handling. */
export function put<T>(ctx: Context, path: string, body: unknown): Promise<T> {
  return calling(() => ctx.api.put<T>(path, body));
}

/** `DELETE path` with session handling. */
export function del<T>(ctx: Context, path: string): Promise<T> {
  return calling(() => ctx.api.delete<T>(path));
}

/** Raw bytes up, with progress. */
export function upload<T>(
  ctx: Context,
  path: string,
  bytes: Uint8Array,
  progress?: (done: number, total: number) => void,
): Promise<T> {
  return calling(() => ctx.api.upload<T>(path, bytes, progress));
}

/** Raw bytes down, with progress. */
export function download(
  ctx: Context,
  path: string,
  progress?: (done: number, total: number | null) => void,
): Promise<Uint8Array> {
  return calling(() => ctx.api.download(path, progress));
}

/** Who the server says we are. Refuses to go on if the organisation's root
 *  key is not the one this keystore pinned. */
export async function me(ctx: Context): Promise<AccountInfo> {
  const info = await get<AccountInfo>(ctx, "/v1/me");
  let served: OrgRootPublicKey | null;
  try {
    served = OrgRootPublicKey.fromBytes(b64Decode(info.root_public_key));
  } catch {
    served = null;
  }
  if (served === null || !served.equals(ctx.root)) {
    throw ClientError.verification(
      `the server now presents another organisation key (fingerprint ${info.root_fingerprint}) than the one this device trusts (${orgFingerprint(ctx.root)}). Do not send anything; contact the organisation by phone or letter`,
    );
  }
  return info;
}

type Locks = { request<T>(name: string, cb: () => Promise<T>): Promise<T> };

/** Changes the keystore under the lock the tabs' token refresh takes
 *  (tokens.ts), after reading it again: another tab may have just stored a
 *  rotated refresh token or a newly granted key, which a write from this
 *  tab's older copy would otherwise undo. */
export async function updateSecrets(ctx: Context, change: (s: Secrets) => void): Promise<void> {
  const locks = (globalThis.navigator as (Navigator & { locks?: Locks }) | undefined)?.locks;
  const write = async (): Promise<void> => {
    await ctx.keystore.reload();
    await ctx.keystore.update(change);
  };
  if (locks === undefined) return write();
  return locks.request("samtale-session", write);
}

/** A date (UTC) as YYYY-MM-DD, as the Rust client writes it. */
export function utcDate(secs: bigint | number): string {
  const d = new Date(Number(secs) * 1000);
  return Number.isNaN(d.getTime()) ? "?" : d.toISOString().slice(0, 10);
}
