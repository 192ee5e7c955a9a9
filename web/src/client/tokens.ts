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

interface TokenPair {
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

export class Tokens implements TokenSource {
  constructor(
    private readonly keystore: Keystore,
    private readonly plain: Api = new Api(),
    private readonly now: () => number = () => Math.floor(Date.now() / 1000),
    private readonly locks: Locks = lockManager(),
  ) {}

  async token(): Promise<string | null> {
    const s = this.keystore.secrets;
    if (s.accessToken !== null && s.accessExpires - MARGIN > this.now()) return s.accessToken;
    return this.refresh(s.accessToken);
  }

  renew(refused: string): Promise<string | null> {
    return this.refresh(refused);
  }

  /** Stores a fresh pair (a login or sign-up). */
  async store(pair: TokenPair): Promise<void> {
    await this.keystore.update((s) => {
      s.accessToken = pair.access_token;
      s.refreshToken = pair.refresh_token;
      s.accessExpires = this.now() + pair.expires_in;
    });
  }

  /** Forgets the tokens (logout; the keys stay). */
  async forget(): Promise<void> {
    await this.keystore.update((s) => {
      s.accessToken = null;
      s.refreshToken = null;
      s.accessExpires = 0;
    });
  }

  private refresh(seen: string | null): Promise<string | null> {
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
}
