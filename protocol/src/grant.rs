//! Grants: one holder epoch's private key, HPKE-sealed to one device's X25519
//! key and signed by the granting device. The server stores and serves grants
//! but cannot open them. Byte layout in `docs/PROTOCOL.md` §6.

use zeroize::Zeroizing;

use crate::codec::{DecodeError, Reader, Writer, object_type};
use crate::ids::HolderId;
use crate::keys::{
    AgreementKey, DeviceKeys, HolderEpoch, HolderKeyPair, HolderKind, HolderPublicKey, IdentityKey,
};
use crate::primitives::{self, SEALED_SECRET_LEN, context, info};
use crate::rng::{Entropy, FixedEntropy, OsEntropy, RandomnessError};

/// Grant format version.
pub const GRANT_VERSION: u8 = 1;
const HEADER_LEN: usize = 2 + 16 + 1 + 4 + 32 + 32 + 32 + 8;
/// Length of an encoded grant in bytes.
pub const GRANT_LEN: usize = HEADER_LEN + 32 + SEALED_SECRET_LEN + 64;

/// Why a grant could not be made or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// The bytes are not a grant.
    #[error("malformed grant: {0}")]
    Malformed(#[from] DecodeError),
    /// The signature does not verify under the granter key it names.
    #[error("the grant's signature does not verify")]
    BadSignature,
    /// The grant is sealed to another device.
    #[error("the grant is for another device")]
    NotForThisDevice,
    /// The grant could not be decrypted.
    #[error("the grant could not be decrypted")]
    DecryptionFailed,
    /// The sealed private key does not match the public key the grant names.
    #[error("the granted key does not match the holder's public key")]
    KeyMismatch,
    /// Randomness could not be drawn.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// The recipient's key was rejected by HPKE.
    #[error("the recipient device's key was rejected")]
    BadRecipientKey,
}

/// A signed, sealed grant of one holder epoch to one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    holder: HolderPublicKey,
    recipient: AgreementKey,
    granter: IdentityKey,
    issued_at: u64,
    bytes: Vec<u8>,
}

impl Grant {
    /// Seals `holder`'s private key to the device whose agreement key is
    /// `recipient`, signed by `granter`. `issued_at` is Unix seconds.
    pub fn issue(
        granter: &DeviceKeys,
        holder: &HolderKeyPair,
        recipient: &AgreementKey,
        issued_at: u64,
    ) -> Result<Self, GrantError> {
        Self::issue_with(&mut OsEntropy, granter, holder, recipient, issued_at)
    }

    /// [`Grant::issue`] with a fixed 32-byte HPKE ephemeral IKM. For test vectors.
    #[doc(hidden)]
    pub fn issue_with_fixed_randomness(
        randomness: &[u8],
        granter: &DeviceKeys,
        holder: &HolderKeyPair,
        recipient: &AgreementKey,
        issued_at: u64,
    ) -> Result<Self, GrantError> {
        Self::issue_with(
            &mut FixedEntropy::new(randomness),
            granter,
            holder,
            recipient,
            issued_at,
        )
    }

    fn issue_with(
        entropy: &mut dyn Entropy,
        granter: &DeviceKeys,
        holder: &HolderKeyPair,
        recipient: &AgreementKey,
        issued_at: u64,
    ) -> Result<Self, GrantError> {
        let public = holder.public();
        let granter_key = granter.public().identity;
        let mut w = Writer::with_capacity(GRANT_LEN);
        w.u8(object_type::GRANT)
            .u8(GRANT_VERSION)
            .bytes(public.holder.as_bytes())
            .u8(public.kind.to_byte())
            .u32(public.epoch)
            .bytes(&public.key.to_bytes())
            .bytes(&recipient.to_bytes())
            .bytes(&granter_key.to_bytes())
            .u64(issued_at);
        let mut ikm = Zeroizing::new([0u8; 32]);
        entropy.fill(ikm.as_mut())?;
        let secret: Zeroizing<[u8; 32]> = Zeroizing::new(*holder.secret().as_bytes());
        let (enc, ct) = primitives::hpke_seal_secret(
            recipient.as_bytes(),
            info::GRANT,
            w.as_slice(),
            &secret,
            *ikm,
        )
        .ok_or(GrantError::BadRecipientKey)?;
        w.bytes(&enc).bytes(&ct);
        let sig = primitives::sign(granter.signing_key(), context::GRANT, w.as_slice());
        w.bytes(&sig);
        Ok(Self {
            holder: public,
            recipient: *recipient,
            granter: granter_key,
            issued_at,
            bytes: w.into_vec(),
        })
    }

    /// Decodes a grant. [`Grant::open`] verifies it.
    pub fn decode(bytes: &[u8]) -> Result<Self, GrantError> {
        if bytes.len() != GRANT_LEN {
            return Err(if bytes.len() < GRANT_LEN {
                DecodeError::Truncated
            } else {
                DecodeError::TrailingBytes(bytes.len() - GRANT_LEN)
            }
            .into());
        }
        let mut r = Reader::new(bytes);
        r.header(object_type::GRANT, GRANT_VERSION)?;
        let holder = HolderId::from_bytes(r.array()?);
        let kind = HolderKind::from_byte(r.u8()?).ok_or(DecodeError::Invalid("holder kind"))?;
        let epoch = r.u32()?;
        let key = AgreementKey::from_bytes(r.array()?)
            .map_err(|_| DecodeError::Invalid("holder public key"))?;
        let recipient = AgreementKey::from_bytes(r.array()?)
            .map_err(|_| DecodeError::Invalid("recipient key"))?;
        let granter = IdentityKey::from_bytes(&r.array()?)
            .map_err(|_| DecodeError::Invalid("granter key"))?;
        let issued_at = r.u64()?;
        r.take(32 + SEALED_SECRET_LEN + 64)?;
        r.finish()?;
        Ok(Self {
            holder: HolderPublicKey {
                holder,
                epoch,
                kind,
                key,
            },
            recipient,
            granter,
            issued_at,
            bytes: bytes.to_vec(),
        })
    }

    /// The encoded grant.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The holder epoch granted, with its public key.
    pub fn holder(&self) -> &HolderPublicKey {
        &self.holder
    }

    /// The device agreement key the grant is sealed to.
    pub fn recipient(&self) -> &AgreementKey {
        &self.recipient
    }

    /// The device that signed the grant. The caller decides whether that
    /// device may grant this holder (a team member for a team key, the
    /// citizen's own device for a citizen key, a clerk or admin for the
    /// archive key).
    pub fn granter(&self) -> &IdentityKey {
        &self.granter
    }

    /// When the grant was issued (Unix seconds, as the granter claims).
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// Checks the granter's signature.
    pub fn verify_signature(&self) -> bool {
        primitives::verify_trailing(self.granter.verifying_key(), context::GRANT, &self.bytes)
    }

    /// Verifies the signature, checks the grant is for `device`, opens it and
    /// checks the private key matches the holder's public key.
    pub fn open(&self, device: &DeviceKeys) -> Result<HolderKeyPair, GrantError> {
        if !self.verify_signature() {
            return Err(GrantError::BadSignature);
        }
        if device.public().agreement != self.recipient {
            return Err(GrantError::NotForThisDevice);
        }
        let mut enc = [0u8; 32];
        enc.copy_from_slice(&self.bytes[HEADER_LEN..HEADER_LEN + 32]);
        let mut ct = [0u8; SEALED_SECRET_LEN];
        ct.copy_from_slice(&self.bytes[HEADER_LEN + 32..HEADER_LEN + 32 + SEALED_SECRET_LEN]);
        let secret = primitives::hpke_open_secret(
            device.agreement_secret(),
            info::GRANT,
            &self.bytes[..HEADER_LEN],
            &enc,
            &ct,
        )
        .ok_or(GrantError::DecryptionFailed)?;
        let pair = HolderKeyPair::from_secret(
            HolderEpoch {
                holder: self.holder.holder,
                epoch: self.holder.epoch,
            },
            self.holder.kind,
            &secret,
        );
        if pair.public().key != self.holder.key {
            return Err(GrantError::KeyMismatch);
        }
        Ok(pair)
    }
}
