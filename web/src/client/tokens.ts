// The session's tokens, shared by every tab of the app. The refresh token
// is single use (the server rotates it and ends the whole login if a spent
// one comes back), so only one tab refreshes at a time: under a Web Lock,
// the tab re-reads the keystore first and uses what another tab just got
// instead of spending the old refresh token again.

import { Api, ApiError, type TokenSource } from "./api";
import type { Keystore } from "./keystore";

const LOCK = "samtale-session";
/** Renew this many seconds before the access token expires. */
const MARGIN = 30;

export interface TokenPair {
  access_token: string;
  refresh_token: string;
  expires_in: number;
}

/** Exclusive locks by name: the Web Locks API's shape. */
export type Locks = { request<T>(name: string, cb: () => Promise<T>): Promise<T> };

/** Locks within one JavaScript realm (where there is no Web Locks API). */
export function localLocks(): Locks {
  let tail: Promise<unknown> = Promise.resolve();
  return {
    request<T>(_name: string, cb: () => Promise<T>): Promise<T> {
      const run = tail.then(cb, cb);
      tail = run.catch(() => undefined);
      return run;
    },
  };
}

const realmLocks = localLocks();

/** One refresh at a time across tabs (Web Locks), or within this realm. */
function lockManager(): Locks {
  const locks = (globalThis.navigator as Navigator | undefined)?.locks;
  if (locks !== undefined) {
    return { request: (name, cb) => locks.request(name, cb) };
  }
  return realmLocks;
}

/** The header with which a page asks the server to keep its refresh token
 *  in the `samtale_refresh` cookie (HttpOnly, Secure, SameSite=Strict,
 *  scoped to the refresh endpoint), out of reach of any script. */
export const REFRESH_COOKIE_HEADER = { "X-Samtale-Refresh-Cookie": "1" } as const;

/** Hands a fresh login's refresh token to the server once, to come back as
 *  the HttpOnly cookie; the answer's access token is for this page's memory
 *  only. Used by staff pages (login, set-up, logging in again). */
export function moveRefreshToCookie(plain: Api, refreshToken: string): Promise<TokenPair> {
  return plain.post<TokenPair>("/v1/sessions/refresh", { refresh_token: refreshToken }, REFRESH_COOKIE_HEADER);
}

export class Tokens implements TokenSource {
  /** Cookie mode: the access token, in this page's memory only. */
  #memory: { token: string; expires: number } | null = null;

  constructor(
    private readonly keystore: Keystore,
    private readonly plain: Api = new Api(),
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
    private readonly locks: Locks = lockManager(),
  ) {}

  /** Whether the refresh token is in the HttpOnly cookie (staff pages). */
  private get cookie(): boolean {
    return this.keystore.secrets.refreshInCookie === true;
  }

  async token(): Promise<string | null> {
    if (this.cookie) {
      const m = this.#memory;
      if (m !== null && m.expires - MARGIN > this.now()) return m.token;
      return this.refresh(m?.token ?? null);
    }
    const s = this.keystore.secrets;
    if (s.accessToken !== null && s.accessExpires - MARGIN > this.now()) return s.accessToken;
    return this.refresh(s.accessToken);
  }

  renew(refused: string): Promise<string | null> {
    return this.refresh(refused);
  }

  /** Stores a fresh pair (a login or sign-up). */
  async store(pair: TokenPair): Promise<void> {
    if (this.cookie) {
      this.#memory = { token: pair.access_token, expires: this.now() + pair.expires_in };
      return;
    }
    await this.keystore.update((s) => {
      s.accessToken = pair.access_token;
      s.refreshToken = pair.refresh_token;
      s.accessExpires = this.now() + pair.expires_in;
    });
  }

  /** Forgets the tokens (logout; the keys stay). */
  async forget(): Promise<void> {
    this.#memory = null;
    await this.keystore.update((s) => {
      s.accessToken = null;
      s.refreshToken = null;
      s.accessExpires = 0;
    });
  }

  private refresh(seen: string | null): Promise<string | null> {
    if (this.cookie) return this.refreshByCookie(seen);
    return this.locks.request(LOCK, async () => {
      await this.keystore.reload();
      const s = this.keystore.secrets;
      // Another tab refreshed while this one waited.
      if (s.accessToken !== null && s.accessToken !== seen && s.accessExpires - MARGIN > this.now()) {
        return s.accessToken;
      }
      if (s.refreshToken === null) return null;
      try {
        const pair = await this.plain.post<TokenPair>("/v1/sessions/refresh", {
          refresh_token: s.refreshToken,
        });
        await this.store(pair);
        return pair.access_token;
      } catch (e) {
        if (e instanceof ApiError && e.sessionEnded) {
          await this.forget();
          return null;
        }
        throw e;
      }
    });
  }

  /** One tab at a time spends the cookie (every tab sends the same one):
   *  the server rotates it in its answer. */
  private refreshByCookie(seen: string | null): Promise<string | null> {
    return this.locks.request(LOCK, async () => {
      // A call of this page that waited for the lock uses what the one
      // before it just got.
      const m = this.#memory;
      if (m !== null && m.token !== seen && m.expires - MARGIN > this.now()) return m.token;
      try {
        const pair = await this.plain.post<TokenPair>("/v1/sessions/refresh", {}, REFRESH_COOKIE_HEADER);
        this.#memory = { token: pair.access_token, expires: this.now() + pair.expires_in };
        return pair.access_token;
      } catch (e) {
        if (e instanceof ApiError && e.sessionEnded) {
          this.#memory = null;
          return null;
        }
        throw e;
      }
    });
  }
}
