// The protocol layer's public API: pure (no DOM, no network, no storage;
// the only global it touches is crypto.getRandomValues), byte-compatible
// with the Rust crate `samtale-protocol` and `docs/PROTOCOL.md`.
//
// Async where HPKE is involved (sealing and opening envelopes and grants);
// everything else is synchronous. u64 fields are bigint. Secret material
// is held in Uint8Arrays the owner wipes (`wipe()`), and no key object
// prints or serialises a secret.

export { b64Decode, b64Encode, Base64Error } from "./b64";
export { bytesEqual, fromHex, toHex, wipe } from "./bytes";
export {
  CERTIFICATE_VERSION,
  DeviceCertificate,
  hasRole,
  MAX_CERTIFIED_TEAMS,
  MAX_NAME_BYTES,
  Roles,
  type CertificateBody,
  type CertifiedTeam,
} from "./cert";
export {
  ContentKey,
  Envelope,
  ENVELOPE_VERSION,
  MAX_ENVELOPE_BYTES,
  MAX_PAYLOAD_BYTES,
  MAX_RECIPIENTS,
  PADDING_BLOCK,
  type DeliveryContext,
  type OpenedMessage,
} from "./envelope";
export {
  CertificateError,
  DecodeError,
  GrantError,
  HolderKeyError,
  KeyError,
  OpenError,
  PayloadError,
  ProtocolError,
  RandomnessError,
  ReceiptError,
  SealError,
} from "./errors";
export { Grant, GRANT_LEN, GRANT_VERSION } from "./grant";
export { CATEGORIES, Minimiser, scan, type Category, type Finding } from "./minimise";
export { HOLDER_KEY_RECORD_LEN, HOLDER_KEY_VERSION, HolderKeyRecord } from "./holderKey";
export {
  IdError,
  idFromBytes,
  idToBytes,
  parseId,
  randomId,
  type AccountId,
  type AnyId,
  type AttachmentId,
  type DeviceId,
  type HolderId,
  type MessageId,
  type OrgId,
  type TeamId,
  type ThreadId,
} from "./ids";
export {
  AgreementKey,
  DeviceKeys,
  eidNonce,
  HolderKeyPair,
  IdentityKey,
  OrgRootKey,
  OrgRootPublicKey,
  sameDeviceKeys,
  sameHolderEpoch,
  type DevicePublicKeys,
  type HolderEpoch,
  type HolderKind,
  type HolderPublicKey,
  type Signer,
} from "./keys";
export {
  anySigner,
  describeLog,
  MembershipError,
  MembershipRecord,
  MembershipState,
  memberEquals,
  sameParty,
  type Change,
  type LogKind,
  type Member,
  type Operation,
  type Policy,
} from "./membership";
export {
  AttachmentKey,
  blobSha256,
  decodePayload,
  encodePayload,
  MAX_ATTACHMENTS,
  MAX_FILE_NAME_BYTES,
  openAttachment,
  openReferenced,
  sealAttachment,
  type AttachmentRef,
  type MessagePayload,
} from "./payload";
export { Receipt, RECEIPT_LEN, type ReceiptKind } from "./receipt";
export type * from "./rest";
export { deviceFingerprint, fingerprintsMatch, orgFingerprint, safetyNumber, type SafetyParty } from "./safety";
export { decodeHolderKeyEntries, decodeLogRecords } from "./served";
export {
  CLOCK_LEEWAY_SECS,
  Directory,
  EPOCH_MAX_AGE_SECS,
  TrustError,
  VerifiedHolder,
  type HolderOwner,
  type Served,
  type VerifiedEpoch,
} from "./trust";
export {
  API_PREFIX,
  ERROR_CODES,
  FrameError,
  frameToJson,
  isErrorCode,
  MAX_FRAME_BYTES,
  MAX_REST_BODY_BYTES,
  MAX_TOKEN_BYTES,
  parseClientFrame,
  parseServerFrame,
  WS_SUBPROTOCOL,
  type ClientFrame,
  type ErrorBody,
  type ErrorCode,
  type ServerFrame,
} from "./wire";
