//! Device certificates: the organisation root certifies that a device key
//! belongs to a named staff member with given roles in given teams, for a
//! validity period. Byte layout in `docs/PROTOCOL.md` §5.

use crate::codec::{DecodeError, Reader, Writer, object_type};
use crate::ids::{AccountId, OrgId, TeamId};
use crate::keys::{AgreementKey, DevicePublicKeys, IdentityKey, OrgRootKey, OrgRootPublicKey};
use crate::primitives::{self, context};

/// Certificate format version.
pub const CERTIFICATE_VERSION: u8 = 1;
/// Longest organisation, staff or team name, in UTF-8 bytes.
pub const MAX_NAME_BYTES: usize = 200;
/// Most teams one certificate may list.
pub const MAX_CERTIFIED_TEAMS: usize = 64;

/// What a certified staff device may do, as a set of role bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Roles(u8);

impl Roles {
    /// Caseworker, mentor, consultant: talks to citizens for a team.
    pub const STAFF: Roles = Roles(0b001);
    /// Record clerk: holds the archive key and journals threads.
    pub const RECORD_CLERK: Roles = Roles(0b010);
    /// Organisation admin: teams, staff, retention, certification.
    pub const ADMIN: Roles = Roles(0b100);
    const ALL: u8 = 0b111;

    /// No roles.
    pub const fn empty() -> Self {
        Roles(0)
    }

    /// The union of two role sets.
    pub const fn union(self, other: Roles) -> Roles {
        Roles(self.0 | other.0)
    }

    /// Whether every role in `other` is in `self`.
    pub const fn contains(self, other: Roles) -> bool {
        self.0 & other.0 == other.0
    }

    /// The role bits as encoded.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Parses role bits, rejecting unknown bits.
    pub const fn from_bits(bits: u8) -> Option<Roles> {
        if bits & !Self::ALL == 0 {
            Some(Roles(bits))
        } else {
            None
        }
    }
}

/// A team named in a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedTeam {
    /// The team.
    pub id: TeamId,
    /// Its display name, e.g. "Jobcenter".
    pub name: String,
}

/// What the organisation root vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateBody {
    /// The organisation.
    pub org_id: OrgId,
    /// Its display name, e.g. "Randers Kommune".
    pub org_name: String,
    /// The certified device's public keys.
    pub device: DevicePublicKeys,
    /// The staff member's account.
    pub staff_id: AccountId,
    /// The staff member's display name, shown to citizens.
    pub staff_name: String,
    /// Roles granted.
    pub roles: Roles,
    /// Teams the staff member belongs to.
    pub teams: Vec<CertifiedTeam>,
    /// Valid from (Unix seconds, inclusive).
    pub not_before: u64,
    /// Valid until (Unix seconds, exclusive).
    pub not_after: u64,
}

/// Why a certificate is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The bytes are not a certificate.
    #[error("malformed certificate: {0}")]
    Malformed(#[from] DecodeError),
    /// A name is longer than [`MAX_NAME_BYTES`].
    #[error("a name in the certificate is longer than {MAX_NAME_BYTES} bytes")]
    NameTooLong,
    /// More than [`MAX_CERTIFIED_TEAMS`] teams.
    #[error("a certificate lists at most {MAX_CERTIFIED_TEAMS} teams")]
    TooManyTeams,
    /// `not_after` is not after `not_before`.
    #[error("the validity period is empty")]
    EmptyValidity,
    /// Not signed by this organisation root.
    #[error("the certificate is not signed by this organisation's root key")]
    BadSignature,
    /// Used before `not_before`.
    #[error("the certificate is not valid yet")]
    NotYetValid,
    /// Used at or after `not_after`.
    #[error("the certificate has expired")]
    Expired,
    /// The certificate is for another device than the one that signed.
    #[error("the certificate belongs to another device")]
    WrongDevice,
}

/// A signed device certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCertificate {
    body: CertificateBody,
    bytes: Vec<u8>,
}

fn encode_body(body: &CertificateBody) -> Result<Writer, CertificateError> {
    let names = std::iter::once(&body.org_name)
        .chain(std::iter::once(&body.staff_name))
        .chain(body.teams.iter().map(|t| &t.name));
    if names.clone().any(|n| n.len() > MAX_NAME_BYTES) {
        return Err(CertificateError::NameTooLong);
    }
    let team_count = u8::try_from(body.teams.len())
        .ok()
        .filter(|n| usize::from(*n) <= MAX_CERTIFIED_TEAMS)
        .ok_or(CertificateError::TooManyTeams)?;
    if body.not_after <= body.not_before {
        return Err(CertificateError::EmptyValidity);
    }
    let mut w = Writer::with_capacity(256);
    w.u8(object_type::DEVICE_CERTIFICATE)
        .u8(CERTIFICATE_VERSION)
        .bytes(body.org_id.as_bytes())
        .str(&body.org_name)
        .bytes(&body.device.identity.to_bytes())
        .bytes(&body.device.agreement.to_bytes())
        .bytes(body.staff_id.as_bytes())
        .str(&body.staff_name)
        .u8(body.roles.bits())
        .u8(team_count);
    for team in &body.teams {
        w.bytes(team.id.as_bytes()).str(&team.name);
    }
    w.u64(body.not_before).u64(body.not_after);
    Ok(w)
}

impl DeviceCertificate {
    /// Signs `body` with the organisation root.
    pub fn issue(root: &OrgRootKey, body: CertificateBody) -> Result<Self, CertificateError> {
        let mut w = encode_body(&body)?;
        let sig = primitives::sign(
            root.signing_key(),
            context::DEVICE_CERTIFICATE,
            w.as_slice(),
        );
        w.bytes(&sig);
        Ok(Self {
            body,
            bytes: w.into_vec(),
        })
    }

    /// Decodes a certificate. Call [`DeviceCertificate::verify`] before trusting it.
    pub fn decode(bytes: &[u8]) -> Result<Self, CertificateError> {
        let mut r = Reader::new(bytes);
        r.header(object_type::DEVICE_CERTIFICATE, CERTIFICATE_VERSION)?;
        let org_id = OrgId::from_bytes(r.array()?);
        let org_name = r.str(MAX_NAME_BYTES, "organisation name")?;
        let identity = IdentityKey::from_bytes(&r.array()?)
            .map_err(|_| DecodeError::Invalid("device identity key"))?;
        let agreement = AgreementKey::from_bytes(r.array()?)
            .map_err(|_| DecodeError::Invalid("device agreement key"))?;
        let staff_id = AccountId::from_bytes(r.array()?);
        let staff_name = r.str(MAX_NAME_BYTES, "staff name")?;
        let roles = Roles::from_bits(r.u8()?).ok_or(DecodeError::Invalid("roles"))?;
        let n = usize::from(r.u8()?);
        if n > MAX_CERTIFIED_TEAMS {
            return Err(CertificateError::TooManyTeams);
        }
        let mut teams = Vec::with_capacity(n);
        for _ in 0..n {
            let id = TeamId::from_bytes(r.array()?);
            let name = r.str(MAX_NAME_BYTES, "team name")?;
            teams.push(CertifiedTeam { id, name });
        }
        let not_before = r.u64()?;
        let not_after = r.u64()?;
        r.take(64)?;
        r.finish()?;
        if not_after <= not_before {
            return Err(CertificateError::EmptyValidity);
        }
        Ok(Self {
            body: CertificateBody {
                org_id,
                org_name,
                device: DevicePublicKeys {
                    identity,
                    agreement,
                },
                staff_id,
                staff_name,
                roles,
                teams,
                not_before,
                not_after,
            },
            bytes: bytes.to_vec(),
        })
    }

    /// The encoded certificate.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The certified facts, unverified. Prefer [`DeviceCertificate::verify`].
    pub fn body_unverified(&self) -> &CertificateBody {
        &self.body
    }

    /// Verifies the root's signature and the validity period at `now`
    /// (Unix seconds) and returns the certified facts.
    pub fn verify(
        &self,
        root: &OrgRootPublicKey,
        now: u64,
    ) -> Result<&CertificateBody, CertificateError> {
        if !primitives::verify_trailing(
            root.verifying_key(),
            context::DEVICE_CERTIFICATE,
            &self.bytes,
        ) {
            return Err(CertificateError::BadSignature);
        }
        if now < self.body.not_before {
            return Err(CertificateError::NotYetValid);
        }
        if now >= self.body.not_after {
            return Err(CertificateError::Expired);
        }
        Ok(&self.body)
    }

    /// The whole chain for a message: root → certificate → the device that
    /// signed the envelope (or grant, receipt, record).
    pub fn verify_signer(
        &self,
        root: &OrgRootPublicKey,
        now: u64,
        signer: &IdentityKey,
    ) -> Result<&CertificateBody, CertificateError> {
        let body = self.verify(root, now)?;
        if body.device.identity != *signer {
            return Err(CertificateError::WrongDevice);
        }
        Ok(body)
    }
}
