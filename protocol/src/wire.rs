//! Wire types: WebSocket frames and REST bodies, as JSON.
//!
//! The protocol version is in the WebSocket subprotocol ([`WS_SUBPROTOCOL`])
//! and the REST path prefix ([`API_PREFIX`]). Every frame is a JSON object
//! with a `type` field; unknown types and unknown fields are rejected (so a
//! field added later is a new protocol version, never silently ignored).
//! Binary objects (envelopes, grants, certificates, records, receipts) travel
//! as unpadded base64url strings. Limits and error codes are in
//! `docs/PROTOCOL.md` §11–12.

use serde::{Deserialize, Serialize};

use crate::b64;
use crate::cert::DeviceCertificate;
use crate::envelope::MAX_ENVELOPE_BYTES;
use crate::ids::{AccountId, AttachmentId, DeviceId, HolderId, MessageId, OrgId, TeamId, ThreadId};
use crate::keys::{DevicePublicKeys, HolderEpoch, HolderKind, OrgRootPublicKey};
use crate::receipt::ReceiptKind;

/// The WebSocket subprotocol for this version.
pub const WS_SUBPROTOCOL: &str = "samtale.v1";
/// The REST path prefix for this version.
pub const API_PREFIX: &str = "/v1";
/// The largest WebSocket frame (text message) either side may send: room
/// for the largest envelope in base64url plus the JSON around it.
pub const MAX_FRAME_BYTES: usize = MAX_ENVELOPE_BYTES.div_ceil(3) * 4 + 1024;
/// The largest REST request body outside attachment uploads.
pub const MAX_REST_BODY_BYTES: usize = 256 * 1024;
/// The longest access token accepted in an `auth` frame.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Stable error codes, shared by REST error bodies and `error` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame or body is not valid JSON of the expected shape.
    BadRequest,
    /// The frame's `type` is not one this protocol version defines.
    UnknownFrameType,
    /// The frame or body exceeds its size limit.
    TooLarge,
    /// A frame other than `auth` arrived before authentication.
    NotAuthenticated,
    /// The credentials or token were rejected.
    AuthenticationFailed,
    /// The access token has expired: refresh it.
    TokenExpired,
    /// The device has been revoked.
    DeviceRevoked,
    /// The object does not exist or the caller may not see it.
    NotFound,
    /// The caller may see the object but not do this.
    Forbidden,
    /// The object already exists or the request conflicts with its state.
    Conflict,
    /// A field failed validation; the message names it.
    ValidationFailed,
    /// The envelope is malformed, badly signed, or does not match its frame.
    InvalidEnvelope,
    /// The citizen withdrew consent: use letter or digital post instead.
    ConsentWithdrawn,
    /// Too many requests: wait for `Retry-After` seconds.
    RateLimited,
    /// The connection could not keep up with its outbound traffic.
    SlowConsumer,
    /// Something failed on the server; nothing was changed.
    Internal,
    /// The server is not ready (for example the database is unreachable).
    Unavailable,
    /// The password is a temporary one from an administrator: log in again
    /// with `new_password` set to choose your own.
    PasswordChangeRequired,
}

impl ErrorCode {
    /// The HTTP status a REST response with this code carries.
    pub const fn http_status(self) -> u16 {
        match self {
            Self::BadRequest | Self::UnknownFrameType | Self::InvalidEnvelope => 400,
            Self::NotAuthenticated
            | Self::AuthenticationFailed
            | Self::TokenExpired
            | Self::DeviceRevoked => 401,
            Self::Forbidden | Self::ConsentWithdrawn | Self::PasswordChangeRequired => 403,
            Self::NotFound => 404,
            Self::Conflict => 409,
            Self::TooLarge => 413,
            Self::ValidationFailed => 422,
            Self::RateLimited => 429,
            Self::SlowConsumer | Self::Internal => 500,
            Self::Unavailable => 503,
        }
    }

    /// The WebSocket close code used when this error ends a connection
    /// (4000–4999 is the application range of RFC 6455 §7.4.2).
    pub const fn close_code(self) -> u16 {
        match self {
            Self::BadRequest => 4000,
            Self::UnknownFrameType => 4001,
            Self::TooLarge => 1009,
            Self::NotAuthenticated => 4002,
            Self::AuthenticationFailed => 4003,
            Self::TokenExpired => 4004,
            Self::DeviceRevoked => 4005,
            Self::NotFound => 4006,
            Self::Forbidden => 4007,
            Self::Conflict => 4008,
            Self::ValidationFailed => 4009,
            Self::InvalidEnvelope => 4010,
            Self::ConsentWithdrawn => 4011,
            Self::RateLimited => 4012,
            Self::SlowConsumer => 4013,
            Self::Internal => 1011,
            Self::Unavailable => 1013,
            Self::PasswordChangeRequired => 4014,
        }
    }
}

/// The body of every REST error response, and the payload of `error` frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    /// Stable, machine-readable code.
    pub code: ErrorCode,
    /// A sentence for people: what happened and what to do next.
    pub message: String,
}

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientFrame {
    /// Authenticates the connection (unless the token came in the
    /// `Sec-WebSocket-Protocol` header). Must be the first frame.
    Auth {
        /// The access token.
        token: String,
    },
    /// Sends a message. Resending the same `message_id` is a no-op that is
    /// answered with the same `ack`.
    Send {
        /// The thread.
        thread_id: ThreadId,
        /// The client's random message id; must equal the envelope's.
        message_id: MessageId,
        /// The encoded envelope.
        #[serde(with = "b64::bytes")]
        envelope: Vec<u8>,
    },
    /// Asks for every message of a thread after `after_seq` (0 for all);
    /// answered by `deliver` frames and then `synced`.
    Sync {
        /// The thread.
        thread_id: ThreadId,
        /// The last sequence number the device has.
        after_seq: u64,
    },
    /// A signed delivered/read receipt.
    Receipt {
        /// The encoded receipt.
        #[serde(with = "b64::bytes")]
        receipt: Vec<u8>,
    },
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerFrame {
    /// Authentication succeeded.
    Ready {
        /// The authenticated device.
        device_id: DeviceId,
        /// The server's clock (Unix milliseconds).
        server_time_ms: u64,
    },
    /// The message is durably stored with this sequence number.
    Ack {
        /// The thread.
        thread_id: ThreadId,
        /// The message.
        message_id: MessageId,
        /// Its gap-free position in the thread, from 1.
        seq: u64,
        /// When it was committed (server clock, Unix milliseconds).
        committed_at_ms: u64,
    },
    /// A message for this device.
    Deliver {
        /// The thread.
        thread_id: ThreadId,
        /// Its position in the thread.
        seq: u64,
        /// The message id.
        message_id: MessageId,
        /// When it was committed (server clock, Unix milliseconds).
        committed_at_ms: u64,
        /// The encoded envelope.
        #[serde(with = "b64::bytes")]
        envelope: Vec<u8>,
    },
    /// Every message up to `up_to_seq` has been sent; live traffic follows.
    Synced {
        /// The thread.
        thread_id: ThreadId,
        /// The highest sequence number in the thread now.
        up_to_seq: u64,
    },
    /// A receipt from another device in one of this device's threads.
    Receipt {
        /// The encoded receipt.
        #[serde(with = "b64::bytes")]
        receipt: Vec<u8>,
    },
    /// A request failed. Fatal errors are followed by a close frame with
    /// [`ErrorCode::close_code`].
    Error {
        /// Stable code.
        code: ErrorCode,
        /// A sentence for people.
        message: String,
        /// The message the error concerns, when it answers a `send`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_id: Option<MessageId>,
    },
}

/// Why a frame was rejected: the error to answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct FrameError {
    /// Stable code.
    pub code: ErrorCode,
    /// What was wrong, for people (never echoes the frame's content).
    pub message: String,
}

const CLIENT_FRAME_TYPES: [&str; 4] = ["auth", "send", "sync", "receipt"];
const SERVER_FRAME_TYPES: [&str; 6] = ["ready", "ack", "deliver", "synced", "receipt", "error"];

#[derive(Deserialize)]
struct TypeOnly<'a> {
    #[serde(rename = "type", borrow)]
    frame_type: Option<std::borrow::Cow<'a, str>>,
}

fn parse_frame<T: serde::de::DeserializeOwned>(
    text: &str,
    known: &[&str],
) -> Result<T, FrameError> {
    if text.len() > MAX_FRAME_BYTES {
        return Err(FrameError {
            code: ErrorCode::TooLarge,
            message: format!("frames are limited to {MAX_FRAME_BYTES} bytes"),
        });
    }
    let head: TypeOnly<'_> = serde_json::from_str(text).map_err(|e| FrameError {
        code: ErrorCode::BadRequest,
        message: format!("a frame must be a JSON object: {}", e.classify_str()),
    })?;
    match head.frame_type.as_deref() {
        None => {
            return Err(FrameError {
                code: ErrorCode::BadRequest,
                message: "the frame has no \"type\" field".into(),
            });
        }
        Some(t) if !known.contains(&t) => {
            return Err(FrameError {
                code: ErrorCode::UnknownFrameType,
                message: format!(
                    "unknown frame type; this server speaks {WS_SUBPROTOCOL}: {}",
                    known.join(", ")
                ),
            });
        }
        Some(_) => {}
    }
    serde_json::from_str(text).map_err(|e| FrameError {
        code: ErrorCode::BadRequest,
        message: format!("invalid frame: {}", sanitize(&e)),
    })
}

/// serde_json's messages name the offending field or variant but can quote
/// input values; keep only messages about structure.
fn sanitize(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let structural = [
        "unknown field",
        "missing field",
        "duplicate field",
        "invalid length",
        "invalid type",
    ];
    match structural.iter().find(|s| text.starts_with(**s)) {
        Some(_) => text.split(" at line").next().unwrap_or("").to_string(),
        None => e.classify_str().to_string(),
    }
}

trait ClassifyStr {
    fn classify_str(&self) -> &'static str;
}

impl ClassifyStr for serde_json::Error {
    fn classify_str(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "a field has the wrong type or value",
            serde_json::error::Category::Eof => "unexpected end of input",
        }
    }
}

impl ClientFrame {
    /// Parses a text frame from a client, enforcing [`MAX_FRAME_BYTES`].
    ///
    /// ```
    /// use samtale_protocol::wire::{ClientFrame, ErrorCode};
    /// let frame = ClientFrame::parse(r#"{"type":"sync","thread_id":"0b0d6a4e-4f1c-4e8a-9d3b-2c6f1a7e5d90","after_seq":0}"#);
    /// assert!(matches!(frame, Ok(ClientFrame::Sync { after_seq: 0, .. })));
    /// let err = ClientFrame::parse(r#"{"type":"shout"}"#).unwrap_err();
    /// assert_eq!(err.code, ErrorCode::UnknownFrameType);
    /// ```
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        let frame: Self = parse_frame(text, &CLIENT_FRAME_TYPES)?;
        if let Self::Auth { token } = &frame
            && token.len() > MAX_TOKEN_BYTES
        {
            return Err(FrameError {
                code: ErrorCode::TooLarge,
                message: format!("tokens are limited to {MAX_TOKEN_BYTES} bytes"),
            });
        }
        Ok(frame)
    }

    /// Serialises the frame as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl ServerFrame {
    /// Parses a text frame from the server, enforcing [`MAX_FRAME_BYTES`].
    pub fn parse(text: &str) -> Result<Self, FrameError> {
        parse_frame(text, &SERVER_FRAME_TYPES)
    }

    /// Serialises the frame as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

// ---------------------------------------------------------------- REST bodies

/// `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HealthStatus {
    /// `"ok"`, or `"degraded"` when the node serves but cannot reach the
    /// other nodes (`/readyz`; live delivery between nodes then comes from
    /// the database within a second or two).
    pub status: String,
    /// What is degraded and what it means, when not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// `POST /v1/sessions`: staff log in with a password from a device. A device
/// the account has not used before is registered by its public keys; a
/// revoked device cannot log in again.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The staff member's user name.
    pub username: String,
    /// The password (never logged).
    pub password: String,
    /// The device logging in.
    pub device: DevicePublicKeys,
    /// A label the owner recognises ("Work laptop"); used when the device is new.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub device_label: String,
    /// The password to replace `password` with, when the account has a
    /// temporary password from an administrator (the server answers
    /// `password_change_required` without it). Never logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_password: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// Tokens returned by bootstrap, login, sign-up and refresh.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenPair {
    /// The account the tokens are for.
    pub account_id: AccountId,
    /// The device the tokens are bound to.
    pub device_id: DeviceId,
    /// Short-lived access token (JWT), sent as `Authorization: Bearer …`.
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Opaque refresh token, rotated on every use.
    pub refresh_token: String,
}

impl std::fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenPair")
            .field("account_id", &self.account_id)
            .field("device_id", &self.device_id)
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/sessions/refresh`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The current refresh token; empty (or absent) when a browser's is in
    /// its `samtale_refresh` cookie (API.md, "The refresh cookie").
    #[serde(default)]
    pub refresh_token: String,
}

impl std::fmt::Debug for RefreshRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshRequest").finish_non_exhaustive()
    }
}

/// `POST /v1/devices`: register a device's public keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RegisterDeviceRequest {
    /// The device's public keys.
    pub keys: DevicePublicKeys,
    /// A label the owner recognises ("Work laptop").
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub label: String,
}

/// A device as listed to its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DeviceInfo {
    /// The device.
    pub device_id: DeviceId,
    /// Its public keys.
    pub keys: DevicePublicKeys,
    /// Its label.
    pub label: String,
    /// Registered (Unix seconds).
    pub created_at: u64,
    /// Revoked (Unix seconds), if it has been.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
    /// Whether the organisation root has certified it (staff devices).
    #[serde(default)]
    pub certified: bool,
    /// The certificate itself (staff devices), for the device to check.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "b64::opt_bytes"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub certificate: Option<Vec<u8>>,
}

/// `POST /v1/invitations`: staff invite a citizen into a team.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateInvitationRequest {
    /// The team the citizen will talk to.
    pub team_id: TeamId,
    /// The citizen's national id number (stored only as a keyed hash).
    pub national_id: String,
    /// A name only staff clients show.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub display_name: String,
    /// The language of the letter. Absent: the citizen's country's
    /// (Danish for a CPR number, Swedish for a personnummer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<LetterLanguage>,
}

/// The language an invitation letter is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum LetterLanguage {
    /// Danish.
    Da,
    /// Swedish.
    Sv,
    /// English.
    En,
}

impl std::fmt::Debug for CreateInvitationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateInvitationRequest")
            .field("team_id", &self.team_id)
            .finish_non_exhaustive()
    }
}

/// An invitation that has not been used and has not expired, as staff of
/// its team see it (`GET /v1/invitations`). Neither the code nor the
/// national id: the server keeps only their hashes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OutstandingInvitation {
    /// The invitation (revoke it with `DELETE /v1/invitations/{id}`).
    pub invitation_id: String,
    /// Its team.
    pub team_id: TeamId,
    /// The citizen's name as the inviting staff member wrote it.
    pub display_name: String,
    /// Who made it.
    pub created_by: AccountId,
    /// Unix seconds.
    pub created_at: u64,
    /// Unix seconds; the code no longer works after it.
    pub expires_at: u64,
}

/// `GET /v1/invitations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InvitationList {
    /// The caller's teams' outstanding invitations, newest first.
    pub invitations: Vec<OutstandingInvitation>,
}

/// The answer to an invitation: the one-time code and the letter text.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InvitationCreated {
    /// The one-time code, grouped for reading aloud.
    pub code: String,
    /// When the code expires (Unix seconds).
    pub expires_at: u64,
    /// The neutral letter text to print: the organisation, the server's
    /// address, the invitation link, the code and the organisation
    /// fingerprint.
    pub letter: String,
    /// The server's public address, as printed on the letter.
    pub server: String,
    /// The invitation link the app opens: `{server}/join#{code}/{fingerprint}`.
    /// The code and the organisation fingerprint are in the fragment, which
    /// a browser never sends to the server; the app checks the server's root
    /// key against the fingerprint before the code is used.
    pub link: String,
}

impl std::fmt::Debug for InvitationCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InvitationCreated")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The consent a citizen gives at sign-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsentAcceptance {
    /// The consent text's version.
    pub version: String,
    /// SHA-256 of the exact text shown, as hex.
    pub text_sha256: String,
}

/// `POST /v1/signup`: a citizen redeems an invitation code.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RedeemInvitationRequest {
    /// The code from the letter.
    pub code: String,
    /// The OpenID Connect ID token from the eID broker, if one is configured
    /// (native apps, which log in at the broker themselves).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Instead of `id_token`: the handle of an eID login the server made for
    /// the web app (`POST /v1/eid/flows`), for the same device keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid_flow: Option<String>,
    /// The new device's public keys (the ID token's nonce is derived from them).
    pub device: DevicePublicKeys,
    /// A label for the device.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub device_label: String,
    /// The consent accepted.
    pub consent: ConsentAcceptance,
    /// Only for a device that is already registered and logs in again with
    /// a new invitation code (a citizen without eID whose session ended):
    /// `signup_again_proof` over the code by the device's identity key
    /// (base64url). The code must be for the device's own account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_proof: Option<String>,
}

impl std::fmt::Debug for RedeemInvitationRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedeemInvitationRequest")
            .field("device", &self.device)
            .field("consent", &self.consent)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/sessions/eid`: a citizen who signed up with eID logs in again
/// (a new phone, or after the session ended) with a fresh ID token whose
/// nonce is derived from the device's keys.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EidLoginRequest {
    /// The OpenID Connect ID token from the eID broker (native apps).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Instead of `id_token`: the handle of an eID login the server made for
    /// the web app (`POST /v1/eid/flows`), for the same device keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid_flow: Option<String>,
    /// The device logging in (registered if new).
    pub device: DevicePublicKeys,
    /// A label for the device, used when it is new.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub device_label: String,
}

impl std::fmt::Debug for EidLoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EidLoginRequest")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/invitations/preview`: what an invitation code is for, before
/// it is redeemed, so the citizen's app can show the organisation and its
/// fingerprint to compare with the letter first.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PreviewInvitation {
    /// The code from the letter.
    pub code: String,
}

impl std::fmt::Debug for PreviewInvitation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreviewInvitation").finish_non_exhaustive()
    }
}

/// The answer to `POST /v1/invitations/preview`. The code is not used up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InvitationPreview {
    /// The organisation that sent the letter.
    pub organisation_name: String,
    /// Its root key: certificates of its staff chain to it.
    pub root_public_key: OrgRootPublicKey,
    /// Its fingerprint, printed on the letter.
    pub root_fingerprint: String,
    /// Unix seconds when the code stops working.
    pub expires_at: u64,
}

/// `POST /v1/eid/flows`: the web app asks the server to log a citizen in
/// at the eID broker (authorization code with PKCE; the server is the
/// confidential client and keeps the broker's tokens to itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StartEidFlow {
    /// The device the login is for: the ID token's nonce is derived from
    /// its keys ([`crate::eid_nonce`]), so the login binds to this device.
    pub device: DevicePublicKeys,
    /// Where in the app the browser returns afterwards: `join` (sign-up)
    /// or `login` (a new device of an existing account).
    pub purpose: EidFlowPurpose,
}

/// What an eID login in the web app is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EidFlowPurpose {
    /// Signing up with an invitation code (`/join`).
    Join,
    /// Logging in again, or on a new device (`/login`).
    Login,
}

/// The answer to `POST /v1/eid/flows`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EidFlowStarted {
    /// The login's handle: keep it in the page (never in a URL) and send it
    /// as `eid_flow` once the broker has sent the browser back.
    pub flow: String,
    /// Where to send the browser: the broker's login page.
    pub authorization_url: String,
    /// Unix seconds after which the login must be started again.
    pub expires_at: u64,
}

impl std::fmt::Debug for EidFlowStarted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EidFlowStarted")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// `PUT /v1/keys/{holder}/{epoch}`: publish a signed holder key record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PublishHolderKey {
    /// The encoded holder key record.
    #[serde(with = "b64::bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_-]*$"))]
    pub record: Vec<u8>,
}

/// `POST /v1/grants`: upload grants for other devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UploadGrants {
    /// Encoded grants.
    pub grants: Vec<GrantBlob>,
}

/// One encoded grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantBlob {
    /// The encoded grant.
    #[serde(with = "b64::bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_-]*$"))]
    pub grant: Vec<u8>,
}

/// `POST /v1/threads`: staff open a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateThreadRequest {
    /// The client-chosen thread id.
    pub thread_id: ThreadId,
    /// The owning team.
    pub team_id: TeamId,
    /// The citizens taking part.
    pub citizens: Vec<AccountId>,
    /// The signed participant records, in order.
    pub participants: Vec<MembershipBlob>,
}

/// One encoded membership record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MembershipBlob {
    /// The encoded record.
    #[serde(with = "b64::bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_-]*$"))]
    pub record: Vec<u8>,
}

/// A thread as listed. The subject is inside the encrypted payload only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ThreadSummary {
    /// The thread.
    pub thread_id: ThreadId,
    /// The owning team.
    pub team_id: TeamId,
    /// The highest sequence number.
    pub last_seq: u64,
    /// Last activity (Unix milliseconds).
    pub last_activity_ms: u64,
    /// Journaled up to this sequence number, if at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journaled_up_to: Option<u64>,
    /// The case it was filed on ("Filed on case X"), if at all. Messages
    /// after `journaled_up_to` are not journaled yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journaled_case: Option<String>,
    /// When it was last filed (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub journaled_at: Option<u64>,
    /// An admin's hold: retention deletes nothing of it while set.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_hold: bool,
    /// The citizens taking part, as `GET /v1/threads/{thread}` lists them
    /// (a hint for the list; what is sealed to comes from the signed
    /// participant log). Given by `GET /v1/threads`, so that a list of many
    /// threads needs no request per thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citizens: Option<Vec<ThreadCitizen>>,
}

/// `POST /v1/threads/{thread}/journal`: a record clerk records that the
/// thread was filed on a case, up to a sequence number, after exporting
/// and verifying it (the export's manifest hash identifies the files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FileJournal {
    /// The case reference in the case system (no personal data: a number
    /// like "2026-004711" or "27.12.04-G01-12-26"; checked like other text
    /// that leaves the encrypted channel).
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub case_ref: String,
    /// The KLE subject number, e.g. "27.12.04" (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(pattern = r"^\d{2}(\.\d{2}){0,2}$"))]
    pub kle: Option<String>,
    /// The last sequence number the export covers.
    #[cfg_attr(feature = "openapi", schema(minimum = 1))]
    pub up_to_seq: u64,
    /// SHA-256 of the export's manifest, hex.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[0-9a-f]{64}$"))]
    pub manifest_sha256: String,
}

/// One filing of a thread on a case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JournalReceipt {
    /// The case reference.
    pub case_ref: String,
    /// The KLE subject number, if given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kle: Option<String>,
    /// Filed up to this sequence number.
    pub up_to_seq: u64,
    /// SHA-256 of the export's manifest, hex.
    pub manifest_sha256: String,
    /// The record clerk.
    pub clerk_account_id: AccountId,
    /// The clerk's device.
    pub clerk_device_id: DeviceId,
    /// When (Unix seconds).
    pub journaled_at: u64,
}

/// A thread on hold, as an admin sees it (`GET /v1/holds`): ids and times
/// only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HoldInfo {
    /// The thread.
    pub thread_id: ThreadId,
    /// Its team.
    pub team_id: TeamId,
    /// On hold since (Unix seconds).
    pub since: u64,
    /// The admin who put it on hold.
    pub by: Option<AccountId>,
}

/// `GET /v1/threads/{thread}/journal`: every filing, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct JournalList {
    /// The filings.
    pub receipts: Vec<JournalReceipt>,
}

/// One consent a citizen gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsentRecord {
    /// The consent text's version.
    pub version: String,
    /// SHA-256 of the exact text agreed to (hex).
    pub text_sha256: String,
    /// When (Unix seconds).
    pub accepted_at: u64,
    /// When it was withdrawn, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn_at: Option<u64>,
}

/// An invitation a citizen joined with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InvitationRecord {
    /// The inviting team.
    pub team_id: TeamId,
    /// When it was made (Unix seconds).
    pub created_at: u64,
    /// When it was used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeemed_at: Option<u64>,
}

/// `GET /v1/me/export`: everything the server holds about the caller (a
/// GDPR access request). Messages are ciphertext on the server: the
/// client decrypts them and adds them to the export itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccessExport {
    /// The account, with identity level and consent state.
    pub account: AccountInfo,
    /// The eID broker that verified the identity (the national id number
    /// itself is not stored, only a keyed hash of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid_issuer: Option<String>,
    /// The broker's identifier for the person, if verified with eID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid_subject: Option<String>,
    /// Whether a keyed hash of a national id number is stored for matching
    /// invitations.
    pub national_id_hash_stored: bool,
    /// Every consent given and withdrawn.
    pub consents: Vec<ConsentRecord>,
    /// Invitations joined with.
    pub invitations: Vec<InvitationRecord>,
    /// Devices, revoked ones included.
    pub devices: Vec<DeviceInfo>,
    /// Threads taken part in.
    pub threads: Vec<ThreadSummary>,
    /// When this export was made (Unix seconds).
    pub exported_at: u64,
}

/// `DELETE /v1/citizens/{account}`: what an erasure removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErasureDone {
    /// Threads deleted whole (the citizen was their only citizen).
    pub threads_deleted: u64,
    /// Threads that go on without the citizen.
    pub threads_left: u64,
    /// The citizen's messages deleted.
    pub messages_deleted: u64,
    /// The citizen's devices deleted, with keys and sessions.
    pub devices_deleted: u64,
}

/// `GET /v1/audit/status` (admin): the audit log's hash chain, checked
/// from its first entry to its head when asked. The chain is the server's
/// (every organisation on it writes to one log), so `head_index` counts
/// all of them; `organisation_entries` counts the caller's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AuditStatus {
    /// Whether every entry up to the head links to the one before.
    pub intact: bool,
    /// The head's index (the number of entries in the chain).
    pub head_index: u64,
    /// The head's hash, hex.
    pub head_hash: String,
    /// The first entry that does not verify (entries before it are intact).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broken_at: Option<u64>,
    /// Entries naming the caller's organisation.
    pub organisation_entries: u64,
    /// Unix seconds: when this check ran.
    pub checked_at: u64,
}

/// A team's retention policy (gallring), in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RetentionPolicy {
    /// Messages are deleted this many days after they were journaled.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub journaled_days: u32,
    /// Messages never journaled are deleted at this age (and a thread with
    /// nothing left once it has been quiet this long).
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 3650))]
    pub unjournaled_days: u32,
}

/// The level of assurance of a citizen's identity (NSIS / eIDAS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AssuranceLevel {
    /// Joined with the code alone: give general answers only.
    Unverified,
    /// NSIS/eIDAS low.
    Low,
    /// NSIS/eIDAS substantial.
    Substantial,
    /// NSIS/eIDAS high.
    High,
}

/// `POST /v1/bootstrap`: the first admin registers the organisation with the
/// enrolment code the server printed on its first start. The organisation
/// root's private key was made on the admin's machine and never leaves it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BootstrapRequest {
    /// The one-time enrolment code from the server's first start.
    pub enrolment_code: String,
    /// The organisation's name, as printed on letters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub organisation_name: String,
    /// The organisation root's public key.
    pub root_public_key: OrgRootPublicKey,
    /// The first admin's user name.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 3, max_length = 64, pattern = "^[a-z0-9][a-z0-9._-]*$")
    )]
    pub username: String,
    /// The first admin's name, as colleagues see it.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub display_name: String,
    /// The first admin's password (never logged).
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 1024))]
    pub password: String,
    /// The admin's device.
    pub device: DevicePublicKeys,
    /// A label for the device.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub device_label: String,
}

impl std::fmt::Debug for BootstrapRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapRequest")
            .field("organisation_name", &self.organisation_name)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The answer to a bootstrap: the organisation and the admin's session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BootstrapResponse {
    /// The new organisation.
    pub org_id: OrgId,
    /// The organisation root's short fingerprint, for letters.
    pub root_fingerprint: String,
    /// The admin's tokens.
    pub tokens: TokenPair,
}

/// A role of a staff account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Talks to citizens in the teams the account belongs to.
    Staff,
    /// Exports threads to case files.
    RecordClerk,
    /// Manages teams, staff and keys.
    Admin,
}

/// Which kind of account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// Municipal staff (including admins and record clerks).
    Staff,
    /// A citizen invited by staff.
    Citizen,
}

/// `POST /v1/teams`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTeamRequest {
    /// The team's name ("Familieafdelingen").
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
}

/// A team as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TeamInfo {
    /// The team.
    pub team_id: TeamId,
    /// Its name.
    pub name: String,
    /// Its staff members.
    pub staff: Vec<AccountId>,
    /// How long its messages are kept.
    pub retention: RetentionPolicy,
}

/// `POST /v1/staff`: an admin creates a staff account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateStaffRequest {
    /// The user name to log in with.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 3, max_length = 64, pattern = "^[a-z0-9][a-z0-9._-]*$")
    )]
    pub username: String,
    /// The name colleagues and citizens see.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub display_name: String,
    /// The initial password (never logged).
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 1024))]
    pub password: String,
    /// The roles; at least one. Teams are joined afterwards with signed
    /// records (`POST /v1/teams/{team}/log`).
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    pub roles: Vec<Role>,
}

impl std::fmt::Debug for CreateStaffRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateStaffRequest")
            .field("username", &self.username)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// `POST /v1/me/password`: a staff member changes their own password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// The password now (never logged).
    pub current_password: String,
    /// The new password (never logged).
    #[cfg_attr(feature = "openapi", schema(min_length = 12, max_length = 1024))]
    pub new_password: String,
}

impl std::fmt::Debug for ChangePasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePasswordRequest")
            .finish_non_exhaustive()
    }
}

/// The answer to `POST /v1/staff/{account}/password`: a one-time temporary
/// password for the admin to hand over. It works only to choose a new
/// password at the next login (`LoginRequest.new_password`), and only
/// until `expires_at`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemporaryPassword {
    /// The temporary password (shown once; the server keeps only its hash).
    pub temporary_password: String,
    /// Unix seconds after which it no longer works.
    pub expires_at: u64,
}

impl std::fmt::Debug for TemporaryPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemporaryPassword")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A staff account as an admin sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StaffInfo {
    /// The account.
    pub account_id: AccountId,
    /// Its user name.
    pub username: String,
    /// Its display name.
    pub display_name: String,
    /// Its roles.
    pub roles: Vec<Role>,
    /// Its teams.
    pub teams: Vec<TeamId>,
    /// Disabled accounts cannot log in and their sessions have ended.
    pub disabled: bool,
    /// The password is a temporary one from an admin: it must be changed at
    /// the next login.
    #[serde(default)]
    pub must_change_password: bool,
}

/// One signed membership record as a server serves it (PROTOCOL.md §7):
/// the record and, when a staff device signed it, that device's
/// certificate from the organisation root, so a reader can check the
/// signer without asking for anything else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LogRecord {
    /// The encoded membership record.
    #[serde(with = "b64::bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_-]*$"))]
    pub record: Vec<u8>,
    /// The signing device's certificate (absent when the organisation root
    /// or a citizen's device signed).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "b64::opt_bytes"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub signer_certificate: Option<Vec<u8>>,
}

impl LogRecord {
    /// Decodes the record and the certificate (not yet verified: a
    /// [`crate::trust::Directory`] does that).
    pub fn decode(
        &self,
    ) -> Result<crate::trust::Served<crate::membership::MembershipRecord>, String> {
        let record =
            crate::membership::MembershipRecord::decode(&self.record).map_err(|e| e.to_string())?;
        let certificate = signer_certificate(self.signer_certificate.as_deref())
            .map_err(|e| format!("record {}: {e}", record.seq()))?;
        Ok(crate::trust::Served::new(record, certificate))
    }

    /// Decodes a whole log as served.
    pub fn decode_all(
        records: &[LogRecord],
    ) -> Result<Vec<crate::trust::Served<crate::membership::MembershipRecord>>, String> {
        records.iter().map(LogRecord::decode).collect()
    }
}

/// The certificate served with a signed record, decoded (verifying it is
/// the [`crate::trust::Directory`]'s job).
fn signer_certificate(bytes: Option<&[u8]>) -> Result<Option<DeviceCertificate>, String> {
    bytes
        .map(DeviceCertificate::decode)
        .transpose()
        .map_err(|e| format!("its signer's certificate: {e}"))
}

/// `GET /v1/teams/{team}/member-log` (a team's member list, log 1) and
/// `GET /v1/accounts/{account}/device-log` (an account's device list, log
/// 3): every record from the first, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SignedLog {
    /// The records, `seq` 0 first.
    pub records: Vec<LogRecord>,
}

/// `POST /v1/teams/{team}/member-log` and
/// `POST /v1/accounts/{account}/device-log`: append the next signed record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AppendRecord {
    /// The encoded membership record; its `seq` must be the log's next.
    #[serde(with = "b64::bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_-]*$"))]
    pub record: Vec<u8>,
}

/// A holder key record as a server serves it (PROTOCOL.md §8), with its
/// signer's certificate when a staff device signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HolderKeyEntry {
    /// The encoded holder key record.
    #[serde(with = "b64::bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_-]*$"))]
    pub record: Vec<u8>,
    /// The signing device's certificate (absent when a citizen's device or
    /// the organisation root signed).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "b64::opt_bytes"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub signer_certificate: Option<Vec<u8>>,
}

impl HolderKeySet {
    /// Decodes and signature-checks every record (who may have signed is
    /// checked by [`crate::trust::Directory::verify_holder`]).
    pub fn decode_records(
        &self,
    ) -> Result<Vec<crate::trust::Served<crate::HolderKeyRecord>>, String> {
        self.records
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let record = crate::HolderKeyRecord::decode_and_verify(&e.record)
                    .map_err(|err| format!("epoch record {i}: {err}"))?;
                let certificate = signer_certificate(e.signer_certificate.as_deref())
                    .map_err(|err| format!("epoch record {i}: {err}"))?;
                Ok(crate::trust::Served::new(record, certificate))
            })
            .collect()
    }
}

/// `PUT /v1/teams/{team}/templates/{template}`: a message template, sealed
/// on the writer's device to the team's key (an envelope whose thread id is
/// the team and whose message id is the template, signed by the device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SaveTemplate {
    /// The sealed template (at most 16 KiB).
    #[serde(with = "b64::bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_-]*$"))]
    pub sealed: Vec<u8>,
}

/// A stored message template: opaque to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TeamTemplate {
    /// The template (a UUID the writer chose).
    pub template_id: MessageId,
    /// The sealed template.
    #[serde(with = "b64::bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_-]*$"))]
    pub sealed: Vec<u8>,
    /// Unix seconds of the last save.
    pub updated_at: u64,
    /// Who saved it last.
    pub updated_by: AccountId,
    /// The certificate of the device that saved it, for clients to check
    /// the envelope's signature against (absent if it has none).
    #[serde(
        default,
        with = "b64::opt_bytes",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>, pattern = "^[A-Za-z0-9_-]*$"))]
    pub signer_certificate: Option<Vec<u8>>,
}

/// `GET /v1/teams/{team}/templates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TemplateList {
    /// The team's templates, oldest save first.
    pub templates: Vec<TeamTemplate>,
}

/// `PUT /v1/devices/{device}/certificate`: the organisation root's
/// certificate for a staff device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UploadCertificate {
    /// The encoded certificate.
    #[serde(with = "b64::bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_-]*$"))]
    pub certificate: Vec<u8>,
}

impl UploadCertificate {
    /// Wraps an issued certificate.
    pub fn new(certificate: &DeviceCertificate) -> Self {
        Self {
            certificate: certificate.as_bytes().to_vec(),
        }
    }
}

/// Whether a citizen's consent stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConsentState {
    /// Given and not withdrawn.
    Given,
    /// Withdrawn: use letter or digital post.
    Withdrawn,
}

/// A citizen as staff of one of their teams see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CitizenInfo {
    /// The account.
    pub account_id: AccountId,
    /// The name staff gave at invitation.
    pub display_name: String,
    /// How the identity was established.
    pub assurance: AssuranceLevel,
    /// Consent given or withdrawn.
    pub consent: ConsentState,
    /// What staff must keep in mind, in words (unverified identity,
    /// withdrawn consent); absent when nothing needs saying.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// The teams the citizen talks to (of those the caller may see).
    pub teams: Vec<TeamId>,
}

/// `GET /v1/me`: who the caller is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccountInfo {
    /// The account.
    pub account_id: AccountId,
    /// Its organisation.
    pub org_id: OrgId,
    /// The organisation's name.
    pub organisation_name: String,
    /// Staff or citizen.
    pub kind: AccountKind,
    /// The display name.
    pub display_name: String,
    /// Roles (staff only; empty for citizens).
    pub roles: Vec<Role>,
    /// Teams.
    pub teams: Vec<TeamId>,
    /// The identity level (citizens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assurance: Option<AssuranceLevel>,
    /// Consent state (citizens only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<ConsentState>,
    /// The device of this session.
    pub device_id: DeviceId,
    /// The organisation's root public key, which certifies staff devices.
    /// Check it against the fingerprint on the invitation letter.
    pub root_public_key: OrgRootPublicKey,
    /// Its fingerprint, as printed on invitation letters.
    pub root_fingerprint: String,
}

/// `GET /v1/consent`: the consent text a citizen accepts at sign-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsentText {
    /// Its version.
    pub version: String,
    /// The exact text to show.
    pub text: String,
    /// SHA-256 of `text` (UTF-8), lowercase hex: what the client echoes back.
    pub text_sha256: String,
}

// ------------------------------------------------------------ messaging

/// `GET /v1/keys/{holder}` and `GET /v1/keys?owner=…`: a key holder's
/// published epochs, oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HolderKeySet {
    /// The holder.
    pub holder_id: HolderId,
    /// Team, citizen or archive.
    pub kind: HolderKind,
    /// The team, citizen account or organisation the holder belongs to.
    pub owner: String,
    /// The newest epoch; messages are sealed to it.
    pub current_epoch: u32,
    /// A member left, a device was revoked or the rotation period passed:
    /// a member should publish the next epoch and grant it.
    pub rotation_due: bool,
    /// The signed holder key records, one per epoch, oldest first, each
    /// with its signer's certificate.
    pub records: Vec<HolderKeyEntry>,
}

/// `GET /v1/threads/{thread}/keys`: the published keys of the holders a
/// message to the thread is sealed to (team, each citizen, archive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ThreadKeys {
    /// One entry per holder.
    pub holders: Vec<HolderKeySet>,
}

/// A device entitled to a holder's key, as a granting device sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EntitledDevice {
    /// The device.
    pub device_id: DeviceId,
    /// Its account.
    pub account_id: AccountId,
    /// Its public keys (grants are sealed to `agreement`).
    pub keys: DevicePublicKeys,
    /// Its certificate from the organisation root (staff devices).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "b64::opt_bytes"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub certificate: Option<Vec<u8>>,
    /// The epochs it has no grant for yet.
    pub missing_epochs: Vec<u32>,
}

/// `GET /v1/keys/{holder}/devices`: the devices that should hold the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EntitledDevices {
    /// Devices, in registration order.
    pub devices: Vec<EntitledDevice>,
}

/// `GET /v1/grants`: the grants addressed to the calling device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantList {
    /// Encoded grants, by holder and epoch.
    pub grants: Vec<GrantBlob>,
}

/// `POST /v1/grants`: how many grants were stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GrantsStored {
    /// New grants stored (a grant already stored is not counted).
    pub stored: u32,
}

/// A citizen taking part in a thread, as the thread's members see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ThreadCitizen {
    /// The account.
    pub account_id: AccountId,
    /// The name staff gave at invitation.
    pub display_name: String,
    /// How the identity was established.
    pub assurance: AssuranceLevel,
    /// Consent given or withdrawn.
    pub consent: ConsentState,
}

/// `GET /v1/threads/{thread}`: a thread with its participants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ThreadDetail {
    /// Sequence and activity.
    pub summary: ThreadSummary,
    /// The citizens taking part.
    pub citizens: Vec<ThreadCitizen>,
    /// The organisation's archive key holder: a disclosed participant that
    /// every message is also sealed to, so the thread can be journaled.
    pub archive_holder: HolderId,
    /// The holder epochs the server expects a message to be sealed to now.
    /// A hint: clients seal to what the signed participant log and the
    /// holders' signed key records give, and refuse to send if they differ.
    pub recipients: Vec<HolderEpoch>,
    /// The signed participant log (log 2), in order, each record with its
    /// signer's certificate; clients replay and verify it.
    pub participants: Vec<LogRecord>,
    /// Messages deleted on purpose (retention, erasure): their positions
    /// are gaps that are not a fault.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<RemovedRange>,
}

/// Consecutive messages deleted on purpose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct RemovedRange {
    /// The first deleted sequence number.
    pub from_seq: u64,
    /// The last (inclusive).
    pub to_seq: u64,
    /// `retention` or `erasure`.
    pub reason: String,
}

/// `GET /v1/threads`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ThreadList {
    /// Threads, most recent activity first.
    pub threads: Vec<ThreadSummary>,
}

/// One device that may have written to a thread: how a client names and
/// verifies the sender of an envelope (by its identity key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ThreadDevice {
    /// The device.
    pub device_id: DeviceId,
    /// Its account.
    pub account_id: AccountId,
    /// Staff or citizen.
    pub kind: AccountKind,
    /// The account's display name (for staff; a citizen's as invited).
    pub display_name: String,
    /// Its public keys.
    pub keys: DevicePublicKeys,
    /// Its certificate from the organisation root (staff devices).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "b64::opt_bytes"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub certificate: Option<Vec<u8>>,
    /// When it was revoked (Unix seconds); its earlier messages still verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<u64>,
}

/// `GET /v1/threads/{thread}/devices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ThreadDevices {
    /// The devices of the team's staff, of the thread's citizens and of
    /// every account that has sent a message to it, revoked ones included.
    pub devices: Vec<ThreadDevice>,
}

/// `GET /v1/eid`: the eID brokers a citizen's app can log in with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EidProviders {
    /// Empty when the server has none: citizens sign up unverified.
    pub providers: Vec<EidProviderInfo>,
    /// Whether the web app can log in with eID through the server
    /// (`POST /v1/eid/flows`).
    #[serde(default)]
    pub web_login: bool,
}

/// One eID broker (an OpenID Provider) for the native-app flow
/// (authorization code with PKCE, loopback redirect, RFC 8252).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EidProviderInfo {
    /// The issuer; its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    /// The client id to use at the broker.
    pub client_id: String,
    /// The scopes to ask for (space separated).
    pub scope: String,
    /// The `acr_values` to ask for (space separated), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<String>,
}

/// `POST /v1/threads/{thread}/participants`: add a citizen to a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AddParticipantRequest {
    /// The citizen (of the thread's team).
    pub citizen: AccountId,
    /// The next signed participant record, adding that citizen.
    pub record: MembershipBlob,
}

/// A stored message, as read over REST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StoredMessage {
    /// Its position in the thread.
    pub seq: u64,
    /// The message id.
    pub message_id: MessageId,
    /// When it was committed (server clock, Unix milliseconds).
    pub committed_at_ms: u64,
    /// The encoded envelope.
    #[serde(with = "b64::bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_-]*$"))]
    pub envelope: Vec<u8>,
}

/// `GET /v1/threads/{thread}/messages?after=…&limit=…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MessagePage {
    /// Messages in sequence order.
    pub messages: Vec<StoredMessage>,
    /// The thread's highest sequence number now.
    pub last_seq: u64,
}

/// One device's receipt in a thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReceiptBlob {
    /// The encoded, signed receipt.
    #[serde(with = "b64::bytes")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, pattern = "^[A-Za-z0-9_-]*$"))]
    pub receipt: Vec<u8>,
}

/// `GET /v1/threads/{thread}/receipts`: the latest receipt of each kind
/// from each device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ReceiptList {
    /// Receipts.
    pub receipts: Vec<ReceiptBlob>,
}

/// `POST /v1/threads/{thread}/attachments`: an uploaded encrypted blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AttachmentStored {
    /// Reference it from inside the envelope's payload.
    pub attachment_id: AttachmentId,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of the uploaded (encrypted) bytes, lowercase hex.
    pub sha256: String,
}

/// A receipt kind, re-exported for REST listings of read state.
pub type ReceiptState = ReceiptKind;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_through_json() {
        let frame = ClientFrame::Send {
            thread_id: ThreadId::from_bytes([1; 16]),
            message_id: MessageId::from_bytes([2; 16]),
            envelope: vec![1, 2, 3, 250],
        };
        assert_eq!(ClientFrame::parse(&frame.to_json()), Ok(frame));
        let frame = ServerFrame::Error {
            code: ErrorCode::ConsentWithdrawn,
            message: "use letter or digital post".into(),
            message_id: None,
        };
        assert_eq!(ServerFrame::parse(&frame.to_json()), Ok(frame));
    }

    #[test]
    fn unknown_fields_types_and_oversize_frames_are_rejected_with_their_codes() {
        let code = |t: &str| ClientFrame::parse(t).map_err(|e| e.code).err();
        assert_eq!(
            code(r#"{"type":"auth","token":"t","extra":1}"#),
            Some(ErrorCode::BadRequest)
        );
        assert_eq!(
            code(r#"{"type":"teleport"}"#),
            Some(ErrorCode::UnknownFrameType)
        );
        assert_eq!(code(r#"{"token":"t"}"#), Some(ErrorCode::BadRequest));
        assert_eq!(code("not json"), Some(ErrorCode::BadRequest));
        assert_eq!(code("[1,2]"), Some(ErrorCode::BadRequest));
        assert_eq!(
            code(&" ".repeat(MAX_FRAME_BYTES + 1)),
            Some(ErrorCode::TooLarge)
        );
        let long = format!(
            r#"{{"type":"auth","token":"{}"}}"#,
            "a".repeat(MAX_TOKEN_BYTES + 1)
        );
        assert_eq!(code(&long), Some(ErrorCode::TooLarge));
        assert_eq!(
            code(r#"{"type":"send","thread_id":"x","message_id":"y","envelope":"AA"}"#),
            Some(ErrorCode::BadRequest)
        );
    }

    #[test]
    fn error_messages_do_not_echo_frame_content() {
        let secret = "hemmelig-besked-123";
        let frame = format!(r#"{{"type":"sync","thread_id":"{secret}","after_seq":0}}"#);
        let err = ClientFrame::parse(&frame)
            .err()
            .map(|e| e.message)
            .unwrap_or_default();
        assert!(!err.contains(secret), "{err}");
    }

    #[test]
    fn secrets_do_not_appear_in_debug_output() {
        let login = LoginRequest {
            username: "mette".into(),
            password: "hunter2-correct-horse".into(),
            device: crate::testing::device_keys(&[1; 32], &[2; 32]).public(),
            device_label: "Laptop".into(),
            new_password: Some("swordfish-battery-staple".into()),
        };
        assert!(!format!("{login:?}").contains("hunter2"));
        assert!(!format!("{login:?}").contains("swordfish"));
        let change = ChangePasswordRequest {
            current_password: "hunter2-correct-horse".into(),
            new_password: "swordfish-battery-staple".into(),
        };
        assert!(!format!("{change:?}").contains("hunter2"));
        assert!(!format!("{change:?}").contains("swordfish"));
        let temporary = TemporaryPassword {
            temporary_password: "k7qm-3xfa-p9wd-2rtc".into(),
            expires_at: 1,
        };
        assert!(!format!("{temporary:?}").contains("k7qm"));
        let boot = BootstrapRequest {
            enrolment_code: "ABCD-EFGH-JKMN-PQRS-TVWX".into(),
            organisation_name: "Aarhus Kommune".into(),
            root_public_key: crate::testing::org_root(&[3; 32]).public(),
            username: "admin".into(),
            display_name: "Anne".into(),
            password: "hunter2-correct-horse".into(),
            device: crate::testing::device_keys(&[1; 32], &[2; 32]).public(),
            device_label: "Laptop".into(),
        };
        let printed = format!("{boot:?}");
        assert!(!printed.contains("hunter2") && !printed.contains("ABCD"));
        let staff = CreateStaffRequest {
            username: "carl".into(),
            display_name: "Carl".into(),
            password: "hunter2-correct-horse".into(),
            roles: vec![Role::Staff],
        };
        assert!(!format!("{staff:?}").contains("hunter2"));
        let invite = CreateInvitationRequest {
            team_id: TeamId::from_bytes([0; 16]),
            national_id: "010190-1234".into(),
            display_name: "Sofie Hansen".into(),
            language: None,
        };
        let printed = format!("{invite:?}");
        assert!(!printed.contains("010190") && !printed.contains("Sofie"));
    }

    #[test]
    fn the_limits_are_the_ones_docs_protocol_md_states() {
        assert_eq!(crate::MAX_ENVELOPE_BYTES, 67_575);
        assert_eq!(MAX_FRAME_BYTES, 91_124);
        assert_eq!(crate::GRANT_LEN, 271);
        assert_eq!(crate::HOLDER_KEY_RECORD_LEN, 175);
        assert_eq!(crate::RECEIPT_LEN, 131);
    }

    #[test]
    fn every_error_code_maps_to_a_status_and_a_close_code() {
        for code in [
            ErrorCode::BadRequest,
            ErrorCode::RateLimited,
            ErrorCode::Internal,
        ] {
            assert!((400..600).contains(&code.http_status()));
            assert!(code.close_code() >= 1000);
        }
    }
}
