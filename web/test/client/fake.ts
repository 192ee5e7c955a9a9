// A server that answers from a table, for the client layer's unit tests:
// the client's REST client with `get` and `post` served from a map instead
// of the network, and a citizen's context on a memory keystore.

import {
  b64Encode,
  DeviceKeys,
  OrgRootKey,
  randomId,
  type AccountId,
  type DeviceId,
  type MembershipRecord,
  type OrgId,
} from "../../src/protocol";
import type { LogRecord } from "../../src/protocol/rest";
import { Api, ApiError } from "../../src/client/api";
import { contextOf, type Context } from "../../src/client/context";
import { Keystore, memoryBacking, type Secrets } from "../../src/client/keystore";

export class FakeApi extends Api {
  readonly routes = new Map<string, unknown>();
  readonly posted: { path: string; body: unknown }[] = [];

  constructor() {
    super(null, "http://fake.invalid");
  }

  override get<T>(path: string): Promise<T> {
    if (!this.routes.has(path)) return Promise.reject(new ApiError("not_found", `no ${path}`, 404));
    return Promise.resolve(structuredClone(this.routes.get(path)) as T);
  }

  override post<T>(path: string, body: unknown): Promise<T> {
    this.posted.push({ path, body });
    const answer = this.routes.get(`POST ${path}`);
    return Promise.resolve(answer as T);
  }
}

export interface Fake {
  ctx: Context;
  api: FakeApi;
  keystore: Keystore;
  device: DeviceKeys;
  root: OrgRootKey;
  account: AccountId;
  /** The clock the context reads (Unix seconds). */
  clock: { now: bigint };
}

/** A citizen's device on a fake server of a fresh organisation. */
export async function fakeCitizen(device = DeviceKeys.generate(), root = OrgRootKey.generate()): Promise<Fake> {
  const api = new FakeApi();
  const account = randomId<AccountId>();
  const bytes = device.toKeystoreBytes();
  const secrets: Secrets = {
    accountId: account,
    deviceId: randomId<DeviceId>(),
    orgId: randomId<OrgId>(),
    orgName: "Randers Kommune",
    rootPublicKey: b64Encode(root.public.bytes),
    rootChecked: true,
    displayName: "Maja",
    identitySeed: b64Encode(bytes.subarray(0, 32)),
    agreementSecret: b64Encode(bytes.subarray(32)),
    holders: [],
    refreshToken: null,
    accessToken: null,
    accessExpires: 0,
    pins: {},
  };
  const marker = new Map<string, string>();
  const keystore = await Keystore.create(memoryBacking(), {
    getItem: (k) => marker.get(k) ?? null,
    setItem: (k, v) => void marker.set(k, v),
    removeItem: (k) => void marker.delete(k),
  }, secrets);
  const clock = { now: 1_767_225_600n };
  return { ctx: contextOf(api, keystore, () => clock.now), api, keystore, device, root, account, clock };
}

/** A log as the server serves it. */
export function served(records: readonly MembershipRecord[]): { records: LogRecord[] } {
  return { records: records.map((r) => ({ record: b64Encode(r.bytes) })) };
}
