//! Holder key records: the signed publication of one holder epoch's public
//! key, so that senders can check whom they encrypt to. Byte layout in
//! `docs/PROTOCOL.md` §8.

use crate::codec::{DecodeError, Reader, Writer, object_type};
use crate::ids::HolderId;
use crate::keys::{AgreementKey, DeviceKeys, HolderKind, HolderPublicKey, IdentityKey, OrgRootKey};
use crate::primitives::{self, context};

/// Holder key record format version.
pub const HOLDER_KEY_VERSION: u8 = 1;
/// Length of an encoded holder key record.
pub const HOLDER_KEY_RECORD_LEN: usize = 2 + 16 + 1 + 4 + 32 + 16 + 8 + 32 + 64;

/// Why a holder key record is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HolderKeyError {
    /// The bytes are not a holder key record.
    #[error("malformed holder key record: {0}")]
    Malformed(#[from] DecodeError),
    /// The signature does not verify.
    #[error("the holder key record's signature does not verify")]
    BadSignature,
}

/// A holder epoch's public key, signed by the device that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderKeyRecord {
    key: HolderPublicKey,
    owner: [u8; 16],
    created_at: u64,
    signer: IdentityKey,
    bytes: Vec<u8>,
}

impl HolderKeyRecord {
    /// Signs the publication of `key`. `owner` is the team id (team key),
    /// the citizen's account id (citizen key) or the organisation id
    /// (archive key).
    pub fn sign(
        signer: &DeviceKeys,
        key: &HolderPublicKey,
        owner: [u8; 16],
        created_at: u64,
    ) -> Self {
        Self::build(
            signer.public().identity,
            signer.signing_key(),
            key,
            owner,
            created_at,
        )
    }

    /// Signs the publication of an archive epoch with the organisation
    /// root itself (the strongest certification an archive key can have).
    pub fn sign_by_root(
        root: &OrgRootKey,
        key: &HolderPublicKey,
        owner: [u8; 16],
        created_at: u64,
    ) -> Self {
        Self::build(
            root.public().as_identity(),
            root.signing_key(),
            key,
            owner,
            created_at,
        )
    }

    fn build(
        signer_key: IdentityKey,
        signing: &ed25519_dalek::SigningKey,
        key: &HolderPublicKey,
        owner: [u8; 16],
        created_at: u64,
    ) -> Self {
        let mut w = Writer::with_capacity(HOLDER_KEY_RECORD_LEN);
        w.u8(object_type::HOLDER_KEY)
            .u8(HOLDER_KEY_VERSION)
            .bytes(key.holder.as_bytes())
            .u8(key.kind.to_byte())
            .u32(key.epoch)
            .bytes(&key.key.to_bytes())
            .bytes(&owner)
            .u64(created_at)
            .bytes(&signer_key.to_bytes());
        let sig = primitives::sign(signing, context::HOLDER_KEY, w.as_slice());
        w.bytes(&sig);
        Self {
            key: *key,
            owner,
            created_at,
            signer: signer_key,
            bytes: w.into_vec(),
        }
    }

    /// Decodes and verifies the signature. Whether the signer may publish
    /// this holder's keys is the caller's policy.
    pub fn decode_and_verify(bytes: &[u8]) -> Result<Self, HolderKeyError> {
        let mut r = Reader::new(bytes);
        r.header(object_type::HOLDER_KEY, HOLDER_KEY_VERSION)?;
        let holder = HolderId::from_bytes(r.array()?);
        let kind = HolderKind::from_byte(r.u8()?).ok_or(DecodeError::Invalid("holder kind"))?;
        let epoch = r.u32()?;
        let key = AgreementKey::from_bytes(r.array()?)
            .map_err(|_| DecodeError::Invalid("holder public key"))?;
        let owner = r.array()?;
        let created_at = r.u64()?;
        let signer =
            IdentityKey::from_bytes(&r.array()?).map_err(|_| DecodeError::Invalid("signer key"))?;
        r.take(64)?;
        r.finish()?;
        if !primitives::verify_trailing(signer.verifying_key(), context::HOLDER_KEY, bytes) {
            return Err(HolderKeyError::BadSignature);
        }
        Ok(Self {
            key: HolderPublicKey {
                holder,
                epoch,
                kind,
                key,
            },
            owner,
            created_at,
            signer,
            bytes: bytes.to_vec(),
        })
    }

    /// The encoded record.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The published key.
    pub fn key(&self) -> &HolderPublicKey {
        &self.key
    }

    /// The team, citizen account or organisation the holder belongs to.
    pub fn owner(&self) -> &[u8; 16] {
        &self.owner
    }

    /// When the key was made (Unix seconds, as the signer claims).
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// The signing device.
    pub fn signer(&self) -> &IdentityKey {
        &self.signer
    }
}
