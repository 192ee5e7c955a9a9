// What the screens see: plain data, decided by the client layer after every
// signature has been checked (src/client/trust.ts). Nothing here is taken
// from the server's word without that check, except where a field says it
// is a hint (names and identity levels, which only the server knows).

import type { AccountId, DeviceId, MessageId, TeamId, ThreadId } from "../protocol";
import type { AssuranceLevel, ConsentState } from "../protocol/rest";

/** A thread in the list. */
export interface ThreadRow {
  threadId: ThreadId;
  teamId: TeamId;
  /** The team's name (from a certificate the root signed; else null). */
  team: string | null;
  /** The citizens (names and identity levels are the server's hints). */
  participants: { accountId: AccountId; name: string; assurance: AssuranceLevel; consent: ConsentState }[];
  /** Messages in the thread. */
  messages: number;
  /** Messages after the last one this device read. */
  unread: number;
  lastActivityMs: number;
  journaledUpTo: number | null;
  journaledCase: string | null;
  /** An admin's hold: retention deletes nothing of it. */
  onHold: boolean;
}

/** Who sent a message, verified. */
export type Sender =
  | { kind: "staff"; accountId: AccountId; name: string; team: string | null; me: boolean }
  | { kind: "citizen"; accountId: AccountId; name: string; assurance: AssuranceLevel; me: boolean };

export interface AttachmentInfo {
  /** From 1. */
  index: number;
  name: string;
  mediaType: string;
  size: number;
}

/** One message as shown. */
export interface ShownMessage {
  seq: number;
  messageId: MessageId;
  atMs: number;
  /** null: the sender could not be verified (body "failed"), or the
   *  message cannot be opened here (body "unreadable": no key on this
   *  device yet, which is not a warning). */
  sender: Sender | null;
  body:
    | { status: "ok"; text: string; attachments: AttachmentInfo[] }
    | { status: "failed"; reason: string }
    | { status: "unreadable"; reason: string };
  /** Own messages: another participant's device received / read it. */
  delivered: boolean;
  read: boolean;
  /** After the filed position (the thread is filed on a case). */
  notJournaled: boolean;
}

/** A message this device is sending or will send when online. */
export interface OutgoingMessage {
  messageId: MessageId;
  /** The thread it goes to. */
  threadId: ThreadId;
  text: string;
  files: string[];
  state: "sealing" | "uploading" | "sending" | "queued" | "failed";
  /** Upload progress 0..1 while uploading. */
  progress: number;
  error: string | null;
}

/** Warnings above a conversation. */
export type Banner =
  | { kind: "devices_reset"; name: string; atSecs: number }
  | { kind: "devices_changed"; name: string; added: number; removed: number }
  | { kind: "account_gone"; name: string }
  /** Shown to staff: a citizen withdrew; with others still consenting the
   *  thread goes on, sealed to them only. */
  | { kind: "consent_withdrawn"; name: string; othersContinue: boolean }
  /** Shown to the citizen who withdrew: she reads, she does not write. */
  | { kind: "own_consent_withdrawn" }
  | { kind: "journaled"; caseRef: string | null; upToSeq: number; later: number }
  | { kind: "removed"; count: number };

export interface ThreadView {
  row: ThreadRow;
  banners: Banner[];
  messages: ShownMessage[];
  /** The organisation's name, from the pinned root's certificates. */
  organisation: string;
}

/** This account's devices. */
export interface OwnDevice {
  deviceId: string;
  label: string;
  fingerprint: string;
  createdAt: number;
  revoked: boolean;
  /** In the account's signed device list. */
  listed: boolean;
  thisDevice: boolean;
}

/** One participant's safety number in a thread. */
export interface SafetyRow {
  accountId: AccountId;
  name: string;
  /** Digits in groups of five. */
  number: string;
  /** Their devices were reset and nobody here confirmed since. */
  resetUnconfirmed: boolean;
  /** Staff (certified by the organisation) or a citizen. */
  staff: boolean;
  /** How many devices their signed list holds. */
  devices: number;
}

/** A device of this account that is not in its signed device list yet:
 *  it waits for approval on one of the account's devices. */
export interface PendingDevice {
  deviceId: DeviceId;
  label: string;
  /** To compare with what the new device shows. */
  fingerprint: string;
}
