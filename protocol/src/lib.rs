//! # samtale-protocol
//!
//! The cryptographic and wire protocol of Samtale, the secure messaging
//! system Nordic municipalities use instead of SMS. A pure library: no I/O,
//! no async runtime, no database. The byte-exact format is specified in
//! `docs/PROTOCOL.md`; this crate is its reference implementation.
//!
//! * [`keys`]: device keys, the organisation root, key holders with epochs.
//! * [`DeviceCertificate`]: the organisation root certifies staff devices.
//! * [`Envelope`]: a message sealed once per recipient *holder* (team,
//!   citizen, archive), signed by the sending device.
//! * [`Grant`]: a holder's private key sealed to one device.
//! * [`membership`]: signed, hash-linked membership logs.
//! * [`trust`]: who may sign what; verified logs and holder keys.
//! * [`Receipt`], [`HolderKeyRecord`]: small signed statements.
//! * [`safety_number`], [`org_fingerprint`]: fingerprints people compare.
//! * [`wire`]: WebSocket frames and REST bodies, limits and error codes.
//! * [`minimise`]: finds personal data in text that leaves the channel.
//! * [`payload`]: what is inside an envelope, and encrypted attachments.
//!
//! ## A message from staff to a citizen, read by the archive
//!
//! ```
//! use samtale_protocol::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The organisation root certifies a caseworker's device.
//! let root = OrgRootKey::generate()?;
//! let caseworker = DeviceKeys::generate()?;
//! let cert = DeviceCertificate::issue(&root, CertificateBody {
//!     org_id: OrgId::random()?,
//!     org_name: "Randers Kommune".into(),
//!     device: caseworker.public(),
//!     staff_id: AccountId::random()?,
//!     staff_name: "Mette Jensen".into(),
//!     roles: Roles::STAFF,
//!     teams: vec![CertifiedTeam { id: TeamId::random()?, name: "Jobcenter".into() }],
//!     not_before: 1_700_000_000,
//!     not_after: 1_800_000_000,
//! })?;
//!
//! // Three holders: the team, the citizen, the organisation's archive.
//! let team = HolderKeyPair::generate(HolderId::random()?, HolderKind::Team, 0)?;
//! let citizen = HolderKeyPair::generate(HolderId::random()?, HolderKind::Citizen, 0)?;
//! let archive = HolderKeyPair::generate(HolderId::random()?, HolderKind::Archive, 0)?;
//!
//! // The citizen's phone and a record clerk's laptop receive their keys as grants.
//! let phone = DeviceKeys::generate()?;
//! let clerk = DeviceKeys::generate()?;
//! let citizen_grant = Grant::issue(&phone, &citizen, &phone.public().agreement, 1_750_000_000)?;
//! let archive_grant = Grant::issue(&caseworker, &archive, &clerk.public().agreement, 1_750_000_000)?;
//! let citizen_key = Grant::decode(citizen_grant.as_bytes())?.open(&phone)?;
//! let archive_key = Grant::decode(archive_grant.as_bytes())?.open(&clerk)?;
//!
//! // The caseworker seals one message to all three holders.
//! let (thread_id, message_id) = (ThreadId::random()?, MessageId::random()?);
//! let envelope = Envelope::seal(
//!     &caseworker,
//!     thread_id,
//!     message_id,
//!     &[team.public(), citizen.public(), archive.public()],
//!     b"Hej! Husk modet i morgen kl. 10.",
//! )?;
//!
//! // The server relays bytes. The citizen opens them and checks the sender.
//! let delivered = DeliveryContext { thread_id, message_id };
//! let received = Envelope::decode(envelope.as_bytes())?;
//! let opened = received.open(&delivered, &citizen_key)?;
//! let sender = cert.verify_signer(&root.public(), 1_750_000_000, &opened.sender)?;
//! assert_eq!(sender.staff_name, "Mette Jensen");
//! assert_eq!(&opened.payload[..], b"Hej! Husk modet i morgen kl. 10.");
//!
//! // The record clerk opens the same envelope with the archive key.
//! let journaled = received.open(&delivered, &archive_key)?;
//! assert_eq!(journaled.payload, opened.payload);
//!
//! // Replayed into another thread, it fails.
//! let elsewhere = DeliveryContext { thread_id: ThreadId::random()?, message_id };
//! assert_eq!(received.open(&elsewhere, &citizen_key).err(), Some(OpenError::WrongThread));
//! # Ok(()) }
//! ```

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]
#![warn(missing_docs)]

pub mod b64;
mod cert;
mod codec;
pub mod eid;
mod envelope;
mod grant;
mod holder_key;
pub mod ids;
pub mod journal;
pub mod keys;
pub mod membership;
pub mod minimise;
#[cfg(feature = "openapi")]
mod openapi;
pub mod payload;
mod primitives;
mod receipt;
mod rng;
mod safety;
pub mod trust;
pub mod wire;

pub use cert::{
    CERTIFICATE_VERSION, CertificateBody, CertificateError, CertifiedTeam, DeviceCertificate,
    MAX_CERTIFIED_TEAMS, MAX_NAME_BYTES, Roles,
};
pub use codec::DecodeError;
pub use envelope::{
    ContentKey, DeliveryContext, ENVELOPE_VERSION, Envelope, MAX_ENVELOPE_BYTES, MAX_PAYLOAD_BYTES,
    MAX_RECIPIENTS, OpenError, OpenedMessage, PADDING_BLOCK, SealError,
};
pub use grant::{GRANT_LEN, GRANT_VERSION, Grant, GrantError};
pub use holder_key::{HOLDER_KEY_RECORD_LEN, HOLDER_KEY_VERSION, HolderKeyError, HolderKeyRecord};
pub use ids::{AccountId, AttachmentId, DeviceId, HolderId, MessageId, OrgId, TeamId, ThreadId};
pub use keys::{
    AgreementKey, DeviceKeys, DevicePublicKeys, HolderEpoch, HolderKeyPair, HolderKind,
    HolderPublicKey, IdentityKey, KeyError, OrgRootKey, OrgRootPublicKey, eid_nonce,
    signup_again_proof, verify_signup_again_proof,
};
pub use receipt::{RECEIPT_LEN, RECEIPT_VERSION, Receipt, ReceiptError, ReceiptKind};
pub use rng::RandomnessError;
pub use safety::{
    device_fingerprint, fingerprints_match, org_fingerprint, safety_number,
    safety_number_for_devices,
};

/// Deterministic constructors for generating and re-checking test vectors.
/// Not for production use: real keys come from the operating system's CSPRNG.
#[doc(hidden)]
pub mod testing {
    use crate::keys::{DeviceKeys, HolderEpoch, HolderKeyPair, HolderKind, OrgRootKey};

    /// Device keys from fixed seeds.
    pub fn device_keys(signing_seed: &[u8; 32], agreement_secret: &[u8; 32]) -> DeviceKeys {
        DeviceKeys::from_seeds(signing_seed, agreement_secret)
    }

    /// An organisation root from a fixed seed.
    pub fn org_root(seed: &[u8; 32]) -> OrgRootKey {
        OrgRootKey::from_seed(seed)
    }

    /// A holder key pair from a fixed secret.
    pub fn holder_key(epoch: HolderEpoch, kind: HolderKind, secret: &[u8; 32]) -> HolderKeyPair {
        HolderKeyPair::from_secret(epoch, kind, secret)
    }
}

/// Entry points shared by the fuzz targets (`fuzz/`) and the corpus replay
/// test, so both exercise exactly the same code.
#[doc(hidden)]
pub mod fuzzing;
