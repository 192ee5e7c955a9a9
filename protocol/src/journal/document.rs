//! The journal document (`journal.json`, `samtale-journal/1`): everything a
//! case system or a later auditor needs to read a filed thread and to
//! verify it again without trusting the exporting clerk or the server. The
//! schema is `docs/journal.schema.json`, explained in
//! `docs/JOURNAL-FORMAT.md`.

use crate::wire::AssuranceLevel;
use crate::{AccountId, DeviceId, HolderId, MessageId, OrgId, TeamId, ThreadId};
use serde::{Deserialize, Serialize};

/// The format name and version written into every document.
pub const FORMAT: &str = "samtale-journal/1";

/// A filed thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    /// Always [`FORMAT`].
    pub format: String,
    /// A short subject line: team and case.
    pub subject: String,
    /// The case it is filed on.
    pub case: Case,
    /// The organisation and its root key (certificates chain to it).
    pub organisation: Organisation,
    /// The team that owns the thread.
    pub team: Team,
    /// The thread.
    pub thread_id: ThreadId,
    /// The organisation's archive key holder every message is sealed to.
    pub archive_holder: HolderId,
    /// Who took part: the citizens, and every staff member who wrote.
    pub participants: Vec<Participant>,
    /// Every device that wrote a message, with its keys and certificate.
    pub devices: Vec<Device>,
    /// The messages, `seq` 1, 2, 3, … without gaps other than `removed`.
    pub messages: Vec<Message>,
    /// Messages the server had deleted on purpose before the export
    /// (retention after an earlier filing, or a citizen's erasure).
    #[serde(default)]
    pub removed: Vec<Removed>,
    /// Who exported, when, from where, and what was checked.
    pub export: Export,
}

/// Consecutive messages deleted on purpose before the export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Removed {
    /// The first.
    pub from_seq: u64,
    /// The last (inclusive).
    pub to_seq: u64,
    /// `retention` or `erasure`.
    pub reason: String,
}

/// The case reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The case number in the case system.
    pub reference: String,
    /// The KLE subject number, if given.
    pub kle: Option<String>,
}

/// The organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Organisation {
    /// Its id.
    pub id: OrgId,
    /// Its name.
    pub name: String,
    /// The root public key (base64url, unpadded), which certifies staff devices.
    pub root_public_key: String,
    /// Its fingerprint, as printed on invitation letters.
    pub root_fingerprint: String,
}

/// The team.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Team {
    /// Its id.
    pub id: TeamId,
    /// Its name.
    pub name: String,
}

/// Staff or citizen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// A citizen taking part.
    Citizen,
    /// A staff member of the team.
    Staff,
}

/// A participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Participant {
    /// The account.
    pub account_id: AccountId,
    /// The name (a citizen's as invited, a staff member's as certified).
    pub name: String,
    /// Staff or citizen.
    pub role: Role,
    /// A citizen's identity assurance level (NSIS/eIDAS).
    pub assurance: Option<AssuranceLevel>,
}

/// A device that wrote to the thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// The device.
    pub device_id: DeviceId,
    /// Its account.
    pub account_id: AccountId,
    /// Staff or citizen.
    pub role: Role,
    /// Its Ed25519 identity key (base64url, unpadded), which signs its envelopes.
    pub identity_key: String,
    /// A staff device's certificate from the organisation root (base64url, unpadded).
    pub certificate: Option<String>,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Its position in the thread, from 1.
    pub seq: u64,
    /// Its id.
    pub message_id: MessageId,
    /// When the server stored it (Unix milliseconds).
    pub committed_at_ms: u64,
    /// The same, as RFC 3339 UTC.
    pub committed_at: String,
    /// The verified sender.
    pub sender: Sender,
    /// The text.
    pub text: String,
    /// Attached files.
    pub attachments: Vec<Attachment>,
    /// The envelope as stored (base64url, unpadded): signed by the sender's device.
    pub envelope: String,
    /// SHA-256 of the envelope (hex).
    pub envelope_sha256: String,
    /// The envelope's signature (base64url; the last 64 bytes of the envelope).
    pub signature: String,
    /// This message's content key (base64url, unpadded). It opens this envelope only
    /// (the signed header commits to it), so that the text above can be
    /// checked against the envelope without any other key.
    pub content_key: String,
}

/// The verified sender of a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    /// The account.
    pub account_id: AccountId,
    /// The device that signed.
    pub device_id: DeviceId,
    /// The name.
    pub name: String,
    /// Staff or citizen.
    pub role: Role,
    /// A staff sender's team (from the certificate).
    pub team: Option<String>,
    /// A citizen sender's identity level.
    pub assurance: Option<AssuranceLevel>,
}

/// An attached file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attachment {
    /// The file name the sender gave.
    pub name: String,
    /// Its media type.
    pub media_type: String,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of the decrypted file (hex).
    pub sha256: String,
    /// SHA-256 of the encrypted blob the server stored (hex), as named in
    /// the signed message.
    pub blob_sha256: String,
    /// Where the file is in the export, relative to the JSON.
    pub file: String,
}

/// The export and its verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Export {
    /// When (Unix milliseconds).
    pub exported_at_ms: u64,
    /// The same, as RFC 3339 UTC.
    pub exported_at: String,
    /// The server's URL.
    pub server: String,
    /// The record clerk.
    pub clerk: Clerk,
    /// The last message exported; equal to the server's count.
    pub up_to_seq: u64,
    /// The checks that passed, in words.
    pub checks: Vec<String>,
    /// The program that wrote the export.
    pub generator: String,
}

/// The record clerk who exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clerk {
    /// The account.
    pub account_id: AccountId,
    /// The name.
    pub name: String,
    /// The device.
    pub device_id: DeviceId,
    /// The device's fingerprint.
    pub device_fingerprint: String,
}
