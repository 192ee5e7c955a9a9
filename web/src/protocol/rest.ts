// The REST bodies of PROTOCOL.md §11 as TypeScript types, field for field
// as `protocol/src/wire.rs` defines them (the server's /openapi.json is the
// normative description). JSON names are kept (snake_case); binary fields
// are unpadded base64url strings; ids are the canonical UUID text; u64
// values are JSON numbers (the server's values stay below 2^53).
// Types only: reading them from the network is the client's job.

import type { AccountId, AttachmentId, DeviceId, HolderId, MessageId, OrgId, TeamId, ThreadId } from "./ids";
import type { HolderKind } from "./keys";
import type { ErrorCode } from "./wire";

/** Base64url (unpadded) text of a binary object. */
export type B64 = string;

/** `{identity, agreement}` as base64url. */
export interface DevicePublicKeysJson {
  identity: B64;
  agreement: B64;
}

export interface HolderEpochJson {
  holder: HolderId;
  epoch: number;
}

export type AssuranceLevel = "unverified" | "low" | "substantial" | "high";
export type Role = "staff" | "record_clerk" | "admin";
export type AccountKind = "staff" | "citizen";
export type ConsentState = "given" | "withdrawn";
export type EidFlowPurpose = "join" | "login";
export type ReceiptState = "delivered" | "read";

export interface ErrorResponse {
  code: ErrorCode;
  message: string;
}
export interface HealthStatus {
  status: string;
  /** What is degraded, when `status` is "degraded". */
  detail?: string;
}

// Accounts, devices, sessions.
export interface LoginRequest {
  username: string;
  password: string;
  device: DevicePublicKeysJson;
  device_label: string;
  new_password?: string;
}
export interface TokenPair {
  account_id: AccountId;
  device_id: DeviceId;
  access_token: string;
  expires_in: number;
  refresh_token: string;
}
export interface RefreshRequest {
  refresh_token: string;
}
export interface RegisterDeviceRequest {
  keys: DevicePublicKeysJson;
  label: string;
}
export interface DeviceInfo {
  device_id: DeviceId;
  keys: DevicePublicKeysJson;
  label: string;
  created_at: number;
  revoked_at?: number;
  certified?: boolean;
  certificate?: B64 | null;
}
export interface ChangePasswordRequest {
  current_password: string;
  new_password: string;
}
export interface TemporaryPassword {
  temporary_password: string;
  expires_at: number;
}

// Invitations, consent, eID.
export interface CreateInvitationRequest {
  team_id: TeamId;
  national_id: string;
  display_name: string;
  /** The server's letter text's language; absent: the citizen's country's. */
  language?: "da" | "sv" | "en";
}
export interface InvitationCreated {
  code: string;
  expires_at: number;
  letter: string;
  server: string;
  link: string;
}
export interface ConsentAcceptance {
  version: string;
  text_sha256: string;
}
export interface RedeemInvitationRequest {
  /** Only to log an already registered device in again with a new code (the CLI does; see docs/API.md). */
  device_proof?: string;
  code: string;
  id_token?: string;
  eid_flow?: string;
  device: DevicePublicKeysJson;
  device_label: string;
  consent: ConsentAcceptance;
}
export interface EidLoginRequest {
  id_token?: string;
  eid_flow?: string;
  device: DevicePublicKeysJson;
  device_label: string;
}
export interface PreviewInvitation {
  code: string;
}
export interface InvitationPreview {
  organisation_name: string;
  root_public_key: B64;
  root_fingerprint: string;
  expires_at: number;
}
export interface StartEidFlow {
  device: DevicePublicKeysJson;
  purpose: EidFlowPurpose;
}
export interface EidFlowStarted {
  flow: string;
  authorization_url: string;
  expires_at: number;
}
export interface EidProviderInfo {
  issuer: string;
  client_id: string;
  scope: string;
  acr_values?: string;
}
export interface EidProviders {
  providers: EidProviderInfo[];
  web_login?: boolean;
}
export interface ConsentText {
  version: string;
  text: string;
  text_sha256: string;
}
export interface ConsentRecord {
  version: string;
  text_sha256: string;
  accepted_at: number;
  withdrawn_at?: number;
}

// Organisation, teams, staff, accounts.
export interface BootstrapRequest {
  enrolment_code: string;
  organisation_name: string;
  root_public_key: B64;
  username: string;
  display_name: string;
  password: string;
  device: DevicePublicKeysJson;
  device_label: string;
}
export interface BootstrapResponse {
  org_id: OrgId;
  root_fingerprint: string;
  tokens: TokenPair;
}
export interface TeamTemplate {
  template_id: MessageId;
  sealed: B64;
  updated_at: number;
  updated_by: AccountId;
  signer_certificate?: B64 | null;
}
export interface TemplateList {
  templates: TeamTemplate[];
}
export interface AuditStatus {
  intact: boolean;
  head_index: number;
  head_hash: string;
  broken_at?: number;
  organisation_entries: number;
  checked_at: number;
}
export interface RetentionPolicy {
  journaled_days: number;
  unjournaled_days: number;
}
export interface CreateTeamRequest {
  name: string;
}
export interface TeamInfo {
  team_id: TeamId;
  name: string;
  staff: AccountId[];
  retention: RetentionPolicy;
}
export interface CreateStaffRequest {
  username: string;
  display_name: string;
  password: string;
  roles: Role[];
}
export interface StaffInfo {
  account_id: AccountId;
  username: string;
  display_name: string;
  roles: Role[];
  teams: TeamId[];
  disabled: boolean;
  must_change_password?: boolean;
}
export interface UploadCertificate {
  certificate: B64;
}
export interface CitizenInfo {
  account_id: AccountId;
  display_name: string;
  assurance: AssuranceLevel;
  consent: ConsentState;
  notice?: string;
  teams: TeamId[];
}
export interface AccountInfo {
  account_id: AccountId;
  org_id: OrgId;
  organisation_name: string;
  kind: AccountKind;
  display_name: string;
  roles: Role[];
  teams: TeamId[];
  assurance?: AssuranceLevel;
  consent?: ConsentState;
  device_id: DeviceId;
  root_public_key: B64;
  root_fingerprint: string;
}
export interface InvitationRecord {
  team_id: TeamId;
  created_at: number;
  redeemed_at?: number;
}
export interface AccessExport {
  account: AccountInfo;
  eid_issuer?: string;
  eid_subject?: string;
  national_id_hash_stored: boolean;
  consents: ConsentRecord[];
  invitations: InvitationRecord[];
  devices: DeviceInfo[];
  threads: ThreadSummary[];
  exported_at: number;
}
export interface ErasureDone {
  threads_deleted: number;
  threads_left: number;
  messages_deleted: number;
  devices_deleted: number;
}

// Signed logs and holder keys (§7, §8).
export interface LogRecord {
  record: B64;
  signer_certificate?: B64 | null;
}
export interface SignedLog {
  records: LogRecord[];
}
export interface AppendRecord {
  record: B64;
}
export interface MembershipBlob {
  record: B64;
}
export interface HolderKeyEntry {
  record: B64;
  signer_certificate?: B64 | null;
}
export interface PublishHolderKey {
  record: B64;
}
export interface HolderKeySet {
  holder_id: HolderId;
  kind: HolderKind;
  owner: string;
  current_epoch: number;
  rotation_due: boolean;
  records: HolderKeyEntry[];
}
export interface ThreadKeys {
  holders: HolderKeySet[];
}
export interface EntitledDevice {
  device_id: DeviceId;
  account_id: AccountId;
  keys: DevicePublicKeysJson;
  certificate?: B64 | null;
  missing_epochs: number[];
}
export interface EntitledDevices {
  devices: EntitledDevice[];
}
export interface GrantBlob {
  grant: B64;
}
export interface UploadGrants {
  grants: GrantBlob[];
}
export interface GrantList {
  grants: GrantBlob[];
}
export interface GrantsStored {
  stored: number;
}

// Threads, messages, receipts, attachments, journals.
export interface CreateThreadRequest {
  thread_id: ThreadId;
  team_id: TeamId;
  citizens: AccountId[];
  participants: MembershipBlob[];
}
export interface ThreadSummary {
  thread_id: ThreadId;
  team_id: TeamId;
  last_seq: number;
  last_activity_ms: number;
  journaled_up_to?: number;
  journaled_case?: string;
  journaled_at?: number;
  on_hold?: boolean;
  citizens?: ThreadCitizen[];
}
export interface ThreadList {
  threads: ThreadSummary[];
}
export interface ThreadCitizen {
  account_id: AccountId;
  display_name: string;
  assurance: AssuranceLevel;
  consent: ConsentState;
}
export interface RemovedRange {
  from_seq: number;
  to_seq: number;
  reason: string;
}
export interface ThreadDetail {
  summary: ThreadSummary;
  citizens: ThreadCitizen[];
  archive_holder: HolderId;
  recipients: HolderEpochJson[];
  participants: LogRecord[];
  removed?: RemovedRange[];
}
export interface ThreadDevice {
  device_id: DeviceId;
  account_id: AccountId;
  kind: AccountKind;
  display_name: string;
  keys: DevicePublicKeysJson;
  certificate?: B64 | null;
  revoked_at?: number;
}
export interface ThreadDevices {
  devices: ThreadDevice[];
}
export interface AddParticipantRequest {
  citizen: AccountId;
  record: MembershipBlob;
}
export interface StoredMessage {
  seq: number;
  message_id: MessageId;
  committed_at_ms: number;
  envelope: B64;
}
export interface MessagePage {
  messages: StoredMessage[];
  last_seq: number;
}
export interface ReceiptBlob {
  receipt: B64;
}
export interface ReceiptList {
  receipts: ReceiptBlob[];
}
export interface AttachmentStored {
  attachment_id: AttachmentId;
  size: number;
  sha256: string;
}
export interface FileJournal {
  case_ref: string;
  kle?: string;
  up_to_seq: number;
  manifest_sha256: string;
}
export interface JournalReceipt {
  case_ref: string;
  kle?: string;
  up_to_seq: number;
  manifest_sha256: string;
  clerk_account_id: AccountId;
  clerk_device_id: DeviceId;
  journaled_at: number;
}
export interface JournalList {
  receipts: JournalReceipt[];
}
