// The browser's keystore: this device's keys, the holder keys granted to it,
// its tokens and what it has verified (pins), encrypted at rest.
//
// Layout (Element Web's model, WEB.md): a random AES-GCM-256 key that is a
// *non-extractable* WebCrypto CryptoKey, kept in IndexedDB by structured
// clone, encrypts one record holding every secret. The associated data binds
// the schema version, the account and the device, so a record copied to
// another account or device does not open. Non-extractable stops a script
// from exporting the key, not from using it: it makes a copied database
// useless elsewhere, no more.
//
// Optional PIN: the secrets are first encrypted under a key derived from the
// PIN (PBKDF2-SHA256, WebCrypto, 600,000 iterations), then under the device
// key as above. Without the PIN the record does not open, even on this
// browser.
//
// A marker outside IndexedDB (localStorage) says a keystore was made here,
// so a store the browser evicted is told apart from one never made, and the
// app says so instead of silently becoming a new device.

import { b64Decode } from "../protocol";

export const SCHEMA = 1;
const PBKDF2_ITERATIONS = 600_000;
const MARKER = "samtale.keystore";

/** Why the keystore could not be used; `code` is stable. */
export class KeystoreError extends Error {
  constructor(
    readonly code: "missing" | "evicted" | "wrong_pin" | "pin_required" | "damaged" | "exists",
    message: string,
  ) {
    super(message);
    this.name = "KeystoreError";
  }
}

/** Where the keystore's two records live (IndexedDB in the browser). */
export interface Backing {
  get(id: string): Promise<unknown>;
  put(id: string, value: unknown): Promise<void>;
  clear(): Promise<void>;
}

/** Where the marker lives (localStorage in the browser). */
export interface MarkerStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** What is kept about this device's account and session. */
export interface Secrets {
  /** The account and device, as the server named them. */
  accountId: string;
  deviceId: string;
  /** The server (origin) and the organisation's pinned root key. */
  orgId: string;
  orgName: string;
  rootPublicKey: string;
  /** Whether the person compared the root fingerprint with their letter. */
  rootChecked: boolean;
  displayName: string;
  /** Staff or citizen (keystores made before staff could sign in here are
   *  citizens'); a staff member's user name. */
  kind?: "staff" | "citizen";
  username?: string;
  /** The organisation root's Ed25519 seed (base64url), in the browser of
   *  the admin who set the organisation up here; it never leaves it. */
  rootSeed?: string;
  /** Device keys: Ed25519 seed and X25519 secret, base64url. */
  identitySeed: string;
  agreementSecret: string;
  /** Holder keys granted to this device: holder id, epoch, kind, secret. */
  holders: HeldKey[];
  refreshToken: string | null;
  /** Staff pages: the refresh token is in the HttpOnly cookie instead (and
   *  the access token only in the page's memory). */
  refreshInCookie?: boolean;
  accessToken: string | null;
  /** Unix seconds. */
  accessExpires: number;
  /** What this device has verified (logs' lengths and heads, epochs). */
  pins: Record<string, unknown>;
  /** Per thread: the last message shown on this device (unread counts). */
  read?: Record<string, number>;
  /** Messages written here and not yet acknowledged by the server: the
   *  sealed envelope once sealed (a resend must carry the same bytes). */
  outbox?: OutboxEntry[];
}

/** A message waiting to be sent (src/client/outbox.ts). */
export interface OutboxEntry {
  threadId: string;
  messageId: string;
  text: string;
  /** The attached files' names, types and sizes (their bytes stay in memory
   *  until they are uploaded and sealed into the envelope). */
  files: { name: string; mediaType: string; size: number }[];
  /** The sealed envelope (base64url), or null until it is sealed. */
  envelope: string | null;
  /** Why it could not be sent, for the person to read. */
  error: string | null;
  /** Unix ms. */
  createdAtMs: number;
}

export interface HeldKey {
  holder: string;
  epoch: number;
  kind: string;
  secret: string;
}

interface Sealed {
  schema: number;
  accountId: string;
  deviceId: string;
  iv: Bytes;
  ciphertext: Bytes;
  pin: { salt: Bytes; iv: Bytes } | null;
}

/** Bytes WebCrypto takes (backed by a plain ArrayBuffer). */
type Bytes = Uint8Array<ArrayBuffer>;

const te = new TextEncoder();
const td = new TextDecoder();

function aad(accountId: string, deviceId: string): Bytes {
  return te.encode(`samtale-web-keystore/${SCHEMA}\u0000${accountId}\u0000${deviceId}`);
}

function random(n: number): Bytes {
  return crypto.getRandomValues(new Uint8Array(n));
}

async function pinKey(pin: string, salt: Bytes): Promise<CryptoKey> {
  const material = await crypto.subtle.importKey("raw", te.encode(pin.normalize("NFKC")), "PBKDF2", false, [
    "deriveKey",
  ]);
  return crypto.subtle.deriveKey(
    { name: "PBKDF2", hash: "SHA-256", salt, iterations: PBKDF2_ITERATIONS },
    material,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
}

async function encrypt(key: CryptoKey, iv: Bytes, data: Bytes, ad: Bytes): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: ad }, key, data));
}

async function decrypt(key: CryptoKey, iv: Bytes, data: Bytes, ad: Bytes): Promise<Bytes | null> {
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv, additionalData: ad }, key, data));
  } catch {
    return null;
  }
}

function isSealed(v: unknown): v is Sealed {
  if (typeof v !== "object" || v === null) return false;
  const s = v as Record<string, unknown>;
  return (
    typeof s.schema === "number" &&
    typeof s.accountId === "string" &&
    typeof s.deviceId === "string" &&
    s.iv instanceof Uint8Array &&
    s.ciphertext instanceof Uint8Array
  );
}

/** The browser's non-extractable key for this origin's records, made
 *  once. */
async function deviceKeyOf(backing: Backing): Promise<CryptoKey> {
  const existing = await backing.get("device-key");
  if (existing instanceof CryptoKey) return existing;
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  await backing.put("device-key", key);
  return key;
}

/** A sign-up or login in progress across the eID broker's pages: the new
 *  device's keys (the login's nonce is bound to them), the invitation code,
 *  what the person confirmed, and the flow's handle. Encrypted like the
 *  keystore; deleted once the keystore is made. */
export interface Pending {
  purpose: "join" | "login";
  code: string | null;
  /** The organisation's root key and name as the invitation preview gave
   *  them, and whether the person (or the link) confirmed the fingerprint. */
  rootPublicKey: string | null;
  orgName: string | null;
  fingerprintConfirmed: boolean;
  consent: { version: string; text_sha256: string } | null;
  identitySeed: string;
  agreementSecret: string;
  flow: string | null;
  /** Unix ms. */
  startedAt: number;
}

const PENDING_AAD = te.encode("samtale-web-pending/1");

export async function savePending(backing: Backing, pending: Pending): Promise<void> {
  const key = await deviceKeyOf(backing);
  const iv = random(12);
  const ciphertext = await encrypt(key, iv, te.encode(JSON.stringify(pending)), PENDING_AAD);
  await backing.put("pending", { iv, ciphertext });
}

export async function loadPending(backing: Backing): Promise<Pending | null> {
  const record = (await backing.get("pending")) as { iv?: unknown; ciphertext?: unknown } | undefined;
  const key = await backing.get("device-key");
  if (record === undefined || !(key instanceof CryptoKey)) return null;
  if (!(record.iv instanceof Uint8Array) || !(record.ciphertext instanceof Uint8Array)) return null;
  const plain = await decrypt(key, record.iv as Bytes, record.ciphertext as Bytes, PENDING_AAD);
  if (plain === null) return null;
  try {
    return JSON.parse(td.decode(plain)) as Pending;
  } catch {
    return null;
  }
}

export async function clearPending(backing: Backing): Promise<void> {
  await backing.put("pending", undefined);
}

/** An open keystore. Every change is written at once. */
export class Keystore {
  private constructor(
    private readonly backing: Backing,
    private readonly deviceKey: CryptoKey,
    private pin: { key: CryptoKey; salt: Bytes } | null,
    private current: Secrets,
  ) {}

  /** Whether a keystore was made in this browser (the marker). */
  static made(marker: MarkerStore): boolean {
    return marker.getItem(MARKER) !== null;
  }

  /** Makes a new keystore; refuses to replace one. */
  static async create(backing: Backing, marker: MarkerStore, secrets: Secrets, pin?: string): Promise<Keystore> {
    if ((await backing.get("secrets")) !== undefined) {
      throw new KeystoreError("exists", "this browser already holds a Samtale keystore");
    }
    const deviceKey = await deviceKeyOf(backing);
    let pinLayer: { key: CryptoKey; salt: Bytes } | null = null;
    if (pin !== undefined && pin !== "") {
      const salt = random(16);
      pinLayer = { key: await pinKey(pin, salt), salt };
    }
    const store = new Keystore(backing, deviceKey, pinLayer, secrets);
    await store.write();
    marker.setItem(MARKER, JSON.stringify({ accountId: secrets.accountId, madeAt: Date.now() }));
    return store;
  }

  /** Opens the keystore (with the PIN if it has one). */
  static async open(backing: Backing, marker: MarkerStore, pin?: string): Promise<Keystore> {
    const record = await backing.get("secrets");
    const deviceKey = await backing.get("device-key");
    if (record === undefined || deviceKey === undefined) {
      if (Keystore.made(marker)) {
        throw new KeystoreError(
          "evicted",
          "the browser has deleted this device's keys (storage was cleared or evicted); log in with eID again as a new device",
        );
      }
      throw new KeystoreError("missing", "there is no Samtale keystore in this browser yet");
    }
    if (!isSealed(record) || !(deviceKey instanceof CryptoKey)) {
      throw new KeystoreError("damaged", "the keystore in this browser is damaged; log in with eID again as a new device");
    }
    if (record.schema !== SCHEMA) {
      throw new KeystoreError("damaged", `the keystore has schema ${record.schema}, this app reads ${SCHEMA}`);
    }
    const ad = aad(record.accountId, record.deviceId);
    const outer = await decrypt(deviceKey, record.iv, record.ciphertext, ad);
    if (outer === null) {
      throw new KeystoreError("damaged", "the keystore does not open: it was altered or truncated");
    }
    let plain = outer;
    let pinLayer: { key: CryptoKey; salt: Bytes } | null = null;
    if (record.pin !== null) {
      if (pin === undefined || pin === "") {
        throw new KeystoreError("pin_required", "enter your PIN to open Samtale");
      }
      const key = await pinKey(pin, record.pin.salt);
      const inner = await decrypt(key, record.pin.iv, outer, ad);
      if (inner === null) {
        throw new KeystoreError("wrong_pin", "the PIN is wrong");
      }
      plain = inner;
      pinLayer = { key, salt: record.pin.salt };
    }
    let secrets: Secrets;
    try {
      secrets = JSON.parse(td.decode(plain)) as Secrets;
    } catch {
      throw new KeystoreError("damaged", "the keystore's contents are not readable");
    }
    if (secrets.accountId !== record.accountId || secrets.deviceId !== record.deviceId) {
      throw new KeystoreError("damaged", "the keystore names another account or device than it was made for");
    }
    return new Keystore(backing, deviceKey, pinLayer, secrets);
  }

  /** Deletes every key from this browser (logout from the only device
   *  loses them for good: the app warns first). */
  static async destroy(backing: Backing, marker: MarkerStore): Promise<void> {
    await backing.clear();
    marker.removeItem(MARKER);
  }

  /** Reads the record again (another tab may have changed it: a refreshed
   *  token, a newly granted key). */
  async reload(): Promise<void> {
    const record = await this.backing.get("secrets");
    if (!isSealed(record)) {
      throw new KeystoreError("evicted", "this device's keys are gone from the browser; log in with eID again");
    }
    const ad = aad(record.accountId, record.deviceId);
    let plain = await decrypt(this.deviceKey, record.iv, record.ciphertext, ad);
    if (plain !== null && record.pin !== null && this.pin !== null) {
      plain = await decrypt(this.pin.key, record.pin.iv, plain, ad);
    }
    if (plain === null) {
      throw new KeystoreError("damaged", "the keystore does not open: it was altered, or its PIN changed in another tab");
    }
    this.current = JSON.parse(td.decode(plain)) as Secrets;
  }

  get secrets(): Readonly<Secrets> {
    return this.current;
  }

  /** A record of this device's own besides the secrets (the search index),
   *  encrypted under a key derived from the device's identity seed: it opens
   *  only once the keystore is open (after the PIN, if there is one), and
   *  the associated data binds it to its purpose, account and device. */
  async saveRecord(id: string, value: unknown): Promise<void> {
    const key = await this.recordKey(id);
    const iv = random(12);
    const ad = te.encode(`samtale-web-record/1|${id}|${this.current.accountId}|${this.current.deviceId}`);
    const ciphertext = await encrypt(key, iv, te.encode(JSON.stringify(value)), ad);
    await this.backing.put(`record:${id}`, { iv, ciphertext });
  }

  /** Opens a record `saveRecord` wrote; null if there is none or it does not
   *  open (written for another device or account, or changed). */
  async loadRecord<T>(id: string): Promise<T | null> {
    const record = (await this.backing.get(`record:${id}`)) as { iv?: unknown; ciphertext?: unknown } | undefined;
    if (record === undefined || !(record.iv instanceof Uint8Array) || !(record.ciphertext instanceof Uint8Array)) return null;
    const ad = te.encode(`samtale-web-record/1|${id}|${this.current.accountId}|${this.current.deviceId}`);
    const plain = await decrypt(await this.recordKey(id), record.iv as Bytes, record.ciphertext as Bytes, ad);
    if (plain === null) return null;
    try {
      return JSON.parse(td.decode(plain)) as T;
    } catch {
      return null;
    }
  }

  private async recordKey(id: string): Promise<CryptoKey> {
    const seed = b64Decode(this.current.identitySeed) as Bytes;
    try {
      const base = await crypto.subtle.importKey("raw", seed, "HKDF", false, ["deriveKey"]);
      return await crypto.subtle.deriveKey(
        { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: te.encode(`samtale-web-record-key/1|${id}`) },
        base,
        { name: "AES-GCM", length: 256 },
        false,
        ["encrypt", "decrypt"],
      );
    } finally {
      seed.fill(0);
    }
  }

  get hasPin(): boolean {
    return this.pin !== null;
  }

  /** Changes the secrets and writes them at once. */
  async update(change: (s: Secrets) => void): Promise<void> {
    const next = structuredClone(this.current);
    change(next);
    if (next.accountId !== this.current.accountId || next.deviceId !== this.current.deviceId) {
      throw new KeystoreError("damaged", "a keystore belongs to one account and device");
    }
    this.current = next;
    await this.write();
  }

  /** Sets, changes or removes (`""`) the PIN. */
  async setPin(pin: string): Promise<void> {
    if (pin === "") {
      this.pin = null;
    } else {
      const salt = random(16);
      this.pin = { key: await pinKey(pin, salt), salt };
    }
    await this.write();
  }

  private async write(): Promise<void> {
    const s = this.current;
    const ad = aad(s.accountId, s.deviceId);
    let data = te.encode(JSON.stringify(s));
    let pin: Sealed["pin"] = null;
    if (this.pin !== null) {
      const iv = random(12);
      data = await encrypt(this.pin.key, iv, data, ad);
      pin = { salt: this.pin.salt, iv };
    }
    const iv = random(12);
    const record: Sealed = {
      schema: SCHEMA,
      accountId: s.accountId,
      deviceId: s.deviceId,
      iv,
      ciphertext: await encrypt(this.deviceKey, iv, data, ad),
      pin,
    };
    await this.backing.put("secrets", record);
  }
}

/** The keystore's records in IndexedDB (database `samtale`, store `keystore`). */
export function indexedDbBacking(name = "samtale"): Backing {
  const open = (): Promise<IDBDatabase> =>
    new Promise((resolve, reject) => {
      const request = indexedDB.open(name, 1);
      request.onupgradeneeded = () => request.result.createObjectStore("keystore");
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error ?? new Error("IndexedDB cannot be opened"));
    });
  const run = async <T>(mode: IDBTransactionMode, op: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> => {
    const db = await open();
    try {
      return await new Promise<T>((resolve, reject) => {
        const tx = db.transaction("keystore", mode);
        const request = op(tx.objectStore("keystore"));
        tx.oncomplete = () => resolve(request.result);
        tx.onerror = () => reject(tx.error ?? new Error("IndexedDB transaction failed"));
        tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
      });
    } finally {
      db.close();
    }
  };
  return {
    get: (id) => run("readonly", (s) => s.get(id)),
    put: async (id, value) => {
      await run("readwrite", (s) => s.put(value, id));
    },
    clear: async () => {
      await run("readwrite", (s) => s.clear());
    },
  };
}

/** An in-memory backing (tests; a private window that keeps nothing).
 *  Values are structured-cloned, as IndexedDB does. */
export function memoryBacking(): Backing & { records: Map<string, unknown> } {
  const records = new Map<string, unknown>();
  return {
    records,
    get: (id) => {
      const value = records.get(id);
      return Promise.resolve(value instanceof CryptoKey ? value : structuredClone(value));
    },
    put: (id, value) => {
      // CryptoKeys are not cloned by Node's structuredClone; keep them as they are.
      records.set(id, value instanceof CryptoKey ? value : structuredClone(value));
      return Promise.resolve();
    },
    clear: () => {
      records.clear();
      return Promise.resolve();
    },
  };
}
