//! Keys: device keys, the organisation root, and key holders with epochs.
//!
//! Secret types zeroize on drop, have no `Serialize`, and their `Debug`
//! prints only the public half. The one way out is the explicit
//! `to_keystore_bytes`, for the client's encrypted keystore.

use std::fmt;

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::b64;
use crate::ids::HolderId;
use crate::primitives::{verifying_key, x25519_public};
use crate::rng::{RandomnessError, fill_random};

/// A key's bytes are not a valid key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Wrong length for this kind of key.
    #[error("a {what} is {expected} bytes, got {found}")]
    Length {
        /// Which key.
        what: &'static str,
        /// The expected length in bytes.
        expected: usize,
        /// The length found.
        found: usize,
    },
    /// Not a valid, non-weak Ed25519 public key.
    #[error("not a valid Ed25519 public key")]
    InvalidIdentityKey,
    /// An X25519 public key of low order (it would make every shared secret zero).
    #[error("X25519 public key has low order")]
    LowOrderAgreementKey,
}

fn random_32() -> Result<Zeroizing<[u8; 32]>, RandomnessError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    fill_random(bytes.as_mut())?;
    Ok(bytes)
}

/// The X25519 public keys of order dividing 8 (RFC 7748 §6.1 says to check
/// for an all-zero output; these are the inputs that produce one).
fn is_low_order_x25519(bytes: &[u8; 32]) -> bool {
    // Multiplying by a clamped scalar kills any point of small order, so the
    // result of a DH with a fixed non-zero scalar is zero exactly for them.
    let probe = StaticSecret::from([0x5a; 32]);
    !probe
        .diffie_hellman(&x25519_dalek::PublicKey::from(*bytes))
        .was_contributory()
}

/// A device's Ed25519 public key: its identity. Serialised as base64url.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdentityKey(VerifyingKey);

impl IdentityKey {
    /// Parses 32 bytes, rejecting invalid and weak (small-order) keys.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        verifying_key(bytes)
            .map(Self)
            .ok_or(KeyError::InvalidIdentityKey)
    }

    /// Parses a slice of exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Length {
            what: "identity key",
            expected: 32,
            found: bytes.len(),
        })?;
        Self::from_bytes(&arr)
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey({})", b64::encode(&self.to_bytes()))
    }
}

/// An X25519 public key that secrets are sealed to. Serialised as base64url.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AgreementKey([u8; 32]);

impl AgreementKey {
    /// Parses 32 bytes, rejecting the low-order points.
    pub fn from_bytes(bytes: [u8; 32]) -> Result<Self, KeyError> {
        if is_low_order_x25519(&bytes) {
            return Err(KeyError::LowOrderAgreementKey);
        }
        Ok(Self(bytes))
    }

    /// Parses a slice of exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Length {
            what: "agreement key",
            expected: 32,
            found: bytes.len(),
        })?;
        Self::from_bytes(arr)
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for AgreementKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgreementKey({})", b64::encode(&self.0))
    }
}

macro_rules! b64_key_serde {
    ($ty:ty, $from:expr) => {
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&b64::encode(&self.to_bytes()))
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $ty {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                crate::openapi::key_schema()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $ty {}

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let bytes = b64::deserialize_bytes(deserializer)?;
                $from(&bytes).map_err(serde::de::Error::custom)
            }
        }
    };
}

b64_key_serde!(IdentityKey, IdentityKey::from_slice);
b64_key_serde!(AgreementKey, AgreementKey::from_slice);
b64_key_serde!(OrgRootPublicKey, OrgRootPublicKey::from_slice);

/// The public half of a device: what the server stores and others see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DevicePublicKeys {
    /// Ed25519: signs envelopes, grants, receipts, membership records.
    pub identity: IdentityKey,
    /// X25519: receives grants.
    pub agreement: AgreementKey,
}

/// A device's private keys. They never leave the device except through
/// [`DeviceKeys::to_keystore_bytes`] into the encrypted keystore.
pub struct DeviceKeys {
    signing: SigningKey,
    agreement: StaticSecret,
    /// Computed once: deriving the X25519 public key is a scalar multiplication.
    public: DevicePublicKeys,
}

impl DeviceKeys {
    /// New random keys from the operating system's CSPRNG.
    pub fn generate() -> Result<Self, RandomnessError> {
        let signing = random_32()?;
        let agreement = random_32()?;
        Ok(Self::from_seeds(&signing, &agreement))
    }

    pub(crate) fn from_seeds(signing: &[u8; 32], agreement: &[u8; 32]) -> Self {
        let signing = SigningKey::from_bytes(signing);
        let agreement = StaticSecret::from(*agreement);
        let public = DevicePublicKeys {
            identity: IdentityKey(signing.verifying_key()),
            agreement: AgreementKey(x25519_public(&agreement)),
        };
        Self {
            signing,
            agreement,
            public,
        }
    }

    /// The public keys.
    pub fn public(&self) -> DevicePublicKeys {
        self.public
    }

    /// The 64 secret bytes (Ed25519 seed, then X25519 scalar) for the keystore.
    pub fn to_keystore_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(64));
        out.extend_from_slice(self.signing.as_bytes());
        out.extend_from_slice(self.agreement.as_bytes());
        out
    }

    /// Restores keys written by [`DeviceKeys::to_keystore_bytes`].
    pub fn from_keystore_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        if bytes.len() != 64 {
            return Err(KeyError::Length {
                what: "device key export",
                expected: 64,
                found: bytes.len(),
            });
        }
        let mut signing = Zeroizing::new([0u8; 32]);
        let mut agreement = Zeroizing::new([0u8; 32]);
        signing.copy_from_slice(&bytes[..32]);
        agreement.copy_from_slice(&bytes[32..]);
        Ok(Self::from_seeds(&signing, &agreement))
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    pub(crate) fn agreement_secret(&self) -> &StaticSecret {
        &self.agreement
    }
}

impl fmt::Debug for DeviceKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceKeys")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

/// The organisation root's public key: certifies staff devices.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct OrgRootPublicKey(VerifyingKey);

impl OrgRootPublicKey {
    /// Parses 32 bytes, rejecting invalid and weak keys.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        verifying_key(bytes)
            .map(Self)
            .ok_or(KeyError::InvalidIdentityKey)
    }

    /// Parses a slice of exactly 32 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Length {
            what: "organisation root key",
            expected: 32,
            found: bytes.len(),
        })?;
        Self::from_bytes(&arr)
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }

    /// The same Ed25519 key as a signer key: records the root signs itself
    /// (team member lists, staff device lists, archive epochs) name it as
    /// their `signer`.
    pub fn as_identity(&self) -> IdentityKey {
        IdentityKey(self.0)
    }

    /// Whether `signer` is this root key.
    pub fn is(&self, signer: &IdentityKey) -> bool {
        self.0 == signer.0
    }
}

impl fmt::Debug for OrgRootPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgRootPublicKey({})", b64::encode(&self.to_bytes()))
    }
}

/// The organisation root's private key, held by the organisation admin.
pub struct OrgRootKey {
    signing: SigningKey,
}

impl OrgRootKey {
    /// A new random root key.
    pub fn generate() -> Result<Self, RandomnessError> {
        let seed = random_32()?;
        Ok(Self::from_seed(&seed))
    }

    pub(crate) fn from_seed(seed: &[u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The public key, printed (as a fingerprint) on invitation letters.
    pub fn public(&self) -> OrgRootPublicKey {
        OrgRootPublicKey(self.signing.verifying_key())
    }

    /// The 32-byte Ed25519 seed for the keystore.
    pub fn to_keystore_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.signing.as_bytes().to_vec())
    }

    /// Restores a key written by [`OrgRootKey::to_keystore_bytes`].
    pub fn from_keystore_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(bytes.try_into().map_err(|_| KeyError::Length {
                what: "organisation root key export",
                expected: 32,
                found: bytes.len(),
            })?);
        Ok(Self::from_seed(&seed))
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }
}

impl fmt::Debug for OrgRootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrgRootKey")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

/// What a key holder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HolderKind {
    /// A team's inbox key, granted to every team member's devices.
    Team,
    /// A citizen's key, granted to each of the citizen's devices.
    Citizen,
    /// The organisation's archive key, granted to record clerks.
    Archive,
}

impl HolderKind {
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Self::Team => 1,
            Self::Citizen => 2,
            Self::Archive => 3,
        }
    }

    pub(crate) fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::Team),
            2 => Some(Self::Citizen),
            3 => Some(Self::Archive),
            _ => None,
        }
    }
}

/// One epoch of one key holder: the unit messages are sealed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HolderEpoch {
    /// The holder.
    pub holder: HolderId,
    /// The epoch, starting at 0 and increasing by one at each rotation.
    pub epoch: u32,
}

/// The public key of one holder epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolderPublicKey {
    /// Which holder.
    pub holder: HolderId,
    /// Which epoch of the holder.
    pub epoch: u32,
    /// What the holder stands for.
    pub kind: HolderKind,
    /// The X25519 public key.
    pub key: AgreementKey,
}

impl HolderPublicKey {
    /// The holder and epoch, as envelopes name recipients.
    pub fn holder_epoch(&self) -> HolderEpoch {
        HolderEpoch {
            holder: self.holder,
            epoch: self.epoch,
        }
    }
}

/// The private key of one holder epoch. Devices receive it through grants.
pub struct HolderKeyPair {
    epoch: HolderEpoch,
    kind: HolderKind,
    secret: StaticSecret,
    key: AgreementKey,
}

impl HolderKeyPair {
    /// A new random key for `holder` at `epoch`.
    pub fn generate(
        holder: HolderId,
        kind: HolderKind,
        epoch: u32,
    ) -> Result<Self, RandomnessError> {
        let secret = random_32()?;
        Ok(Self::from_secret(
            HolderEpoch { holder, epoch },
            kind,
            &secret,
        ))
    }

    pub(crate) fn from_secret(epoch: HolderEpoch, kind: HolderKind, secret: &[u8; 32]) -> Self {
        let secret = StaticSecret::from(*secret);
        let key = AgreementKey(x25519_public(&secret));
        Self {
            epoch,
            kind,
            secret,
            key,
        }
    }

    /// Which holder and epoch this is.
    pub fn epoch(&self) -> HolderEpoch {
        self.epoch
    }

    /// What the holder stands for.
    pub fn kind(&self) -> HolderKind {
        self.kind
    }

    /// The public key.
    pub fn public(&self) -> HolderPublicKey {
        HolderPublicKey {
            holder: self.epoch.holder,
            epoch: self.epoch.epoch,
            kind: self.kind,
            key: self.key,
        }
    }

    /// The 32 secret bytes for the keystore.
    pub fn to_keystore_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.secret.as_bytes().to_vec())
    }

    /// Restores a key written by [`HolderKeyPair::to_keystore_bytes`].
    pub fn from_keystore_bytes(
        epoch: HolderEpoch,
        kind: HolderKind,
        bytes: &[u8],
    ) -> Result<Self, KeyError> {
        let secret: Zeroizing<[u8; 32]> =
            Zeroizing::new(bytes.try_into().map_err(|_| KeyError::Length {
                what: "holder key export",
                expected: 32,
                found: bytes.len(),
            })?);
        Ok(Self::from_secret(epoch, kind, &secret))
    }

    pub(crate) fn secret(&self) -> &StaticSecret {
        &self.secret
    }
}

impl fmt::Debug for HolderKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HolderKeyPair")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

/// The OpenID Connect `nonce` a client sends to the eID broker when it signs
/// up a new device: unpadded base64url of
/// `SHA-256("samtale/v1/eid-nonce" || 0x00 || identity key || agreement key)`.
/// The server recomputes it from the device keys in the sign-up request, so
/// an ID token obtained for one device cannot register another.
pub fn eid_nonce(device: &DevicePublicKeys) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"samtale/v1/eid-nonce\0");
    h.update(device.identity.to_bytes());
    h.update(device.agreement.to_bytes());
    b64::encode(&h.finalize())
}

/// Proof that a sign-up request comes from the holder of an already
/// registered device, which logs in again with a new invitation code (a
/// citizen without eID whose session ended): Ed25519 by the device's
/// identity key over the context `samtale/v1/signup-again`, a zero byte and
/// the code as typed, upper-cased, without spaces or dashes. The code is
/// single-use, so a proof cannot be replayed.
pub fn signup_again_proof(device: &DeviceKeys, code: &str) -> [u8; 64] {
    crate::primitives::sign(
        device.signing_key(),
        crate::primitives::context::SIGNUP_AGAIN,
        normalised_code(code).as_bytes(),
    )
}

/// Checks [`signup_again_proof`].
pub fn verify_signup_again_proof(identity: &IdentityKey, code: &str, proof: &[u8; 64]) -> bool {
    crate::primitives::verify(
        identity.verifying_key(),
        crate::primitives::context::SIGNUP_AGAIN,
        normalised_code(code).as_bytes(),
        proof,
    )
}

fn normalised_code(code: &str) -> String {
    code.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signup_again_proof_is_bound_to_the_device_and_the_code() {
        let device = DeviceKeys::from_seeds(&[0x11; 32], &[0x22; 32]);
        let other = DeviceKeys::from_seeds(&[0x33; 32], &[0x44; 32]);
        let proof = signup_again_proof(&device, "43xn-dwqk kjv1");
        let identity = device.public().identity;
        assert!(verify_signup_again_proof(&identity, "43XNDWQKKJV1", &proof));
        assert!(!verify_signup_again_proof(
            &identity,
            "43XNDWQKKJV2",
            &proof
        ));
        assert!(!verify_signup_again_proof(
            &other.public().identity,
            "43XNDWQKKJV1",
            &proof
        ));
    }

    #[test]
    fn debug_output_of_secret_types_shows_no_secret_bytes() {
        let keys = DeviceKeys::from_seeds(&[0x11; 32], &[0x22; 32]);
        let printed = format!("{keys:?}");
        let secret = keys.to_keystore_bytes();
        assert!(!printed.contains(&b64::encode(&secret[..32])));
        assert!(!printed.contains(&b64::encode(&secret[32..])));
        assert!(printed.contains("DeviceKeys"));

        let holder = HolderKeyPair::from_secret(
            HolderEpoch {
                holder: HolderId::from_bytes([1; 16]),
                epoch: 0,
            },
            HolderKind::Team,
            &[0x33; 32],
        );
        assert!(!format!("{holder:?}").contains(&b64::encode(&[0x33; 32])));
    }

    #[test]
    fn device_keys_survive_the_keystore_round_trip() {
        let keys = DeviceKeys::from_seeds(&[5; 32], &[6; 32]);
        let restored = DeviceKeys::from_keystore_bytes(&keys.to_keystore_bytes());
        assert_eq!(restored.map(|k| k.public()), Ok(keys.public()));
        assert!(DeviceKeys::from_keystore_bytes(&[0; 63]).is_err());
    }

    #[test]
    fn low_order_agreement_keys_are_rejected() {
        assert_eq!(
            AgreementKey::from_bytes([0; 32]),
            Err(KeyError::LowOrderAgreementKey)
        );
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(
            AgreementKey::from_bytes(one),
            Err(KeyError::LowOrderAgreementKey)
        );
        let good = DeviceKeys::from_seeds(&[1; 32], &[2; 32])
            .public()
            .agreement;
        assert!(AgreementKey::from_bytes(good.to_bytes()).is_ok());
    }

    #[test]
    fn public_keys_serialise_as_base64url() {
        let public = DeviceKeys::from_seeds(&[1; 32], &[2; 32]).public();
        let json = serde_json::to_string(&public).unwrap_or_default();
        let back: Result<DevicePublicKeys, _> = serde_json::from_str(&json);
        assert_eq!(back.ok(), Some(public));
        assert!(!json.contains('=') && !json.contains('+') && !json.contains('/'));
    }
}
