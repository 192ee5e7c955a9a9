// Joining with an invitation, and logging in with eID on a new device: the
// steps before a keystore exists. The order is what keeps an invitation
// safe: the organisation's fingerprint is compared with the letter (from
// the link, or by the person) *before* the code is used, and the eID login
// is bound to this device's new keys (its nonce) and made by the server as
// the confidential client, so the broker's tokens never reach the page.
//
// Across the broker's pages the page is gone, so what a sign-up needs
// afterwards (the device keys, the code, what was confirmed, the flow's
// handle) waits in an encrypted record of its own (keystore.ts, Pending).

import {
  b64Decode,
  b64Encode,
  DeviceKeys,
  fingerprintsMatch,
  OrgRootPublicKey,
  orgFingerprint,
  wipe,
} from "../protocol";
import type {
  AccountInfo,
  ConsentText,
  EidFlowStarted,
  EidProviders,
  InvitationPreview,
  TokenPair,
} from "../protocol/rest";
import { Api, ApiError } from "./api";
import {
  type Backing,
  clearPending,
  Keystore,
  type MarkerStore,
  type Pending,
  savePending,
  type Secrets,
} from "./keystore";

/** What an invitation link carries in its fragment: `#CODE/FINGERPRINT`
 *  (the fingerprint from the letter; older links have the code only). */
export function parseInvitationFragment(fragment: string): { code: string; fingerprint: string | null } | null {
  const text = decodeURIComponent(fragment.replace(/^#/, "")).trim();
  if (text === "" || text.startsWith("eid=")) return null;
  const [code, fingerprint] = text.split("/");
  if (code === undefined || code === "") return null;
  return { code, fingerprint: fingerprint !== undefined && fingerprint !== "" ? fingerprint : null };
}

/** The server's own refusal to trust: its root key is not the letter's. */
export class RootMismatch extends Error {
  constructor(readonly serverFingerprint: string) {
    super("the server's organisation key is not the one on your letter");
    this.name = "RootMismatch";
  }
}

export function eidProviders(api: Api): Promise<EidProviders> {
  return api.get<EidProviders>("/v1/eid");
}

export function consentText(api: Api): Promise<ConsentText> {
  return api.get<ConsentText>("/v1/consent");
}

/** What the code is for, without using it up; with the letter's
 *  fingerprint (from the link), the server's root must match it. */
export async function previewInvitation(
  api: Api,
  code: string,
  letterFingerprint: string | null,
): Promise<InvitationPreview> {
  const preview = await api.post<InvitationPreview>("/v1/invitations/preview", { code });
  const root = OrgRootPublicKey.fromBytes(b64Decode(preview.root_public_key));
  // The server's word for the fingerprint is not used: it is computed here.
  const fingerprint = orgFingerprint(root);
  if (letterFingerprint !== null && !fingerprintsMatch(letterFingerprint, fingerprint)) {
    throw new RootMismatch(fingerprint);
  }
  return { ...preview, root_fingerprint: fingerprint };
}

/** A browser's device label: which kind of browser, nothing personal. */
export function deviceLabel(userAgent: string): string {
  const browser = /Firefox\//.test(userAgent)
    ? "Firefox"
    : /Edg\//.test(userAgent)
      ? "Edge"
      : /Chrom(e|ium)\//.test(userAgent)
        ? "Chrome"
        : /Safari\//.test(userAgent)
          ? "Safari"
          : "browser";
  const system = /Android/.test(userAgent)
    ? "Android"
    : /iPhone|iPad/.test(userAgent)
      ? "iOS"
      : /Windows/.test(userAgent)
        ? "Windows"
        : /Mac OS/.test(userAgent)
          ? "macOS"
          : /Linux/.test(userAgent)
            ? "Linux"
            : "";
  return system === "" ? `Samtale web (${browser})` : `Samtale web (${browser}, ${system})`;
}

function newPending(purpose: Pending["purpose"]): Pending {
  const device = DeviceKeys.generate();
  const bytes = device.toKeystoreBytes();
  try {
    return {
      purpose,
      code: null,
      rootPublicKey: null,
      orgName: null,
      fingerprintConfirmed: false,
      consent: null,
      identitySeed: b64Encode(bytes.subarray(0, 32)),
      agreementSecret: b64Encode(bytes.subarray(32)),
      flow: null,
      startedAt: Date.now(),
    };
  } finally {
    wipe(bytes);
    device.wipe();
  }
}

export function pendingDevice(p: Pending): DeviceKeys {
  return DeviceKeys.fromSeeds(b64Decode(p.identitySeed), b64Decode(p.agreementSecret));
}

/** Starts joining: makes this device's keys and keeps what the sign-up
 *  needs. With eID, returns the broker's address to send the browser to;
 *  without, `null` (finish at once, unverified). */
export async function startJoin(
  api: Api,
  backing: Backing,
  step: { code: string; preview: InvitationPreview; consent: ConsentText; eid: boolean },
): Promise<{ pending: Pending; redirect: string | null }> {
  const pending: Pending = {
    ...newPending("join"),
    code: step.code,
    rootPublicKey: step.preview.root_public_key,
    orgName: step.preview.organisation_name,
    fingerprintConfirmed: true,
    consent: { version: step.consent.version, text_sha256: step.consent.text_sha256 },
  };
  let redirect: string | null = null;
  if (step.eid) {
    const device = pendingDevice(pending);
    try {
      const started = await api.post<EidFlowStarted>("/v1/eid/flows", { device: device.toJSON(), purpose: "join" });
      pending.flow = started.flow;
      redirect = started.authorization_url;
    } finally {
      device.wipe();
    }
  }
  await savePending(backing, pending);
  return { pending, redirect };
}

/** Starts an eID login on this browser as a new device of an existing
 *  account; returns the broker's address. */
export async function startLogin(api: Api, backing: Backing): Promise<string> {
  const pending = newPending("login");
  const device = pendingDevice(pending);
  try {
    const started = await api.post<EidFlowStarted>("/v1/eid/flows", { device: device.toJSON(), purpose: "login" });
    pending.flow = started.flow;
    await savePending(backing, pending);
    return started.authorization_url;
  } finally {
    device.wipe();
  }
}

/** Finishes a sign-up or login: redeems the code (or logs in) with the
 *  eID flow, checks that the account's organisation is the one confirmed,
 *  and makes the keystore. A check that fails revokes the device again,
 *  so nothing is left behind on a server that is not trusted. */
export async function finish(
  api: Api,
  backing: Backing,
  marker: MarkerStore,
  pending: Pending,
  label: string,
  pin?: string,
): Promise<Keystore> {
  const device = pendingDevice(pending);
  try {
    let pair: TokenPair;
    if (pending.purpose === "join") {
      if (pending.code === null || pending.consent === null) {
        throw new ApiError("validation_failed", "the sign-up lost its invitation code; start again from the letter", 0);
      }
      pair = await api.post<TokenPair>("/v1/signup", {
        code: pending.code,
        ...(pending.flow !== null ? { eid_flow: pending.flow } : {}),
        device: device.toJSON(),
        device_label: label,
        consent: pending.consent,
      });
    } else {
      pair = await api.post<TokenPair>("/v1/sessions/eid", {
        eid_flow: pending.flow,
        device: device.toJSON(),
        device_label: label,
      });
    }
    const authed = new Api({
      token: () => Promise.resolve(pair.access_token),
      renew: () => Promise.resolve(null),
    });
    const me = await authed.get<AccountInfo>("/v1/me");
    const root = OrgRootPublicKey.fromBytes(b64Decode(me.root_public_key));
    if (pending.rootPublicKey !== null) {
      const confirmed = OrgRootPublicKey.fromBytes(b64Decode(pending.rootPublicKey));
      if (!confirmed.equals(root)) {
        await authed.delete(`/v1/devices/${pair.device_id}`).catch(() => undefined);
        throw new RootMismatch(orgFingerprint(root));
      }
    }
    const secrets = newSecrets(pair, me, device, pending.fingerprintConfirmed);
    const keystore = await Keystore.create(backing, marker, secrets, pin);
    await clearPending(backing);
    return keystore;
  } finally {
    device.wipe();
  }
}

/** A new device's keystore contents after sign-up: its account, the
 *  organisation as `/v1/me` gives it (checked against the letter by the
 *  caller), its keys and its first tokens. */
export function newSecrets(pair: TokenPair, me: AccountInfo, device: DeviceKeys, rootChecked: boolean): Secrets {
  const bytes = device.toKeystoreBytes();
  try {
    return {
      accountId: pair.account_id,
      deviceId: pair.device_id,
      orgId: me.org_id,
      orgName: me.organisation_name,
      rootPublicKey: me.root_public_key,
      rootChecked,
      displayName: me.display_name,
      kind: me.kind,
      identitySeed: b64Encode(bytes.subarray(0, 32)),
      agreementSecret: b64Encode(bytes.subarray(32)),
      holders: [],
      refreshToken: pair.refresh_token,
      accessToken: pair.access_token,
      accessExpires: Math.floor(Date.now() / 1000) + pair.expires_in,
      pins: {},
    };
  } finally {
    wipe(bytes);
  }
}
