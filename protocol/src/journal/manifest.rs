//! The export's signed manifest (`MANIFEST.sig`, `samtale-journal-signature/1`):
//! the record clerk's certified device signs the SHA-256 of
//! `MANIFEST.sha256`, which lists the SHA-256 of every other file of the
//! export. So the PDF, the EML, the JSON and each attachment are bound to
//! the clerk who made the export: a changed PDF with a recomputed manifest
//! no longer verifies without the clerk's device key (`docs/JOURNAL-FORMAT.md`).

use serde::{Deserialize, Serialize};

use crate::payload::blob_sha256 as sha256_hex;
use crate::primitives::{self, context};
use crate::{DeviceCertificate, DeviceKeys, IdentityKey, OrgRootPublicKey, b64};

use super::document::Journal;
use super::verify::VerifyError;

/// The signature file's `format`.
pub const SIGNATURE_FORMAT: &str = "samtale-journal-signature/1";

/// `MANIFEST.sig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSignature {
    /// Always [`SIGNATURE_FORMAT`].
    pub format: String,
    /// SHA-256 of `MANIFEST.sha256` (hex).
    pub manifest_sha256: String,
    /// The clerk's device identity key (base64url, unpadded).
    pub identity_key: String,
    /// The clerk's device certificate from the organisation root
    /// (base64url, unpadded).
    pub certificate: String,
    /// Ed25519 over `samtale/v1/journal-manifest`, a zero byte and the 32
    /// bytes of the manifest's SHA-256 (base64url, unpadded).
    pub signature: String,
}

fn digest(manifest: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(manifest).into()
}

/// Signs `manifest` with the clerk's device, whose certificate travels along.
pub fn sign(
    device: &DeviceKeys,
    certificate: &DeviceCertificate,
    manifest: &[u8],
) -> ManifestSignature {
    let signature = primitives::sign(
        device.signing_key(),
        context::JOURNAL_MANIFEST,
        &digest(manifest),
    );
    ManifestSignature {
        format: SIGNATURE_FORMAT.into(),
        manifest_sha256: sha256_hex(manifest),
        identity_key: b64::encode(&device.public().identity.to_bytes()),
        certificate: b64::encode(certificate.as_bytes()),
        signature: b64::encode(&signature),
    }
}

/// Checks `signature` over `manifest`: the signing device is certified by
/// the document's organisation root at the export's time, for the clerk the
/// document names, and the signature verifies.
pub fn verify(
    journal: &Journal,
    manifest: &[u8],
    signature: &ManifestSignature,
) -> Result<(), VerifyError> {
    let fail = |why: &str| VerifyError(format!("MANIFEST.sig: {why}"));
    if signature.format != SIGNATURE_FORMAT {
        return Err(fail("not a samtale-journal-signature/1 file"));
    }
    if signature.manifest_sha256 != sha256_hex(manifest) {
        return Err(fail(
            "it was made for another MANIFEST.sha256 (the manifest was changed after signing)",
        ));
    }
    let root = b64::decode(&journal.organisation.root_public_key)
        .ok()
        .and_then(|k| OrgRootPublicKey::from_slice(&k).ok())
        .ok_or_else(|| fail("the document's root key is not valid"))?;
    let identity = b64::decode(&signature.identity_key)
        .ok()
        .and_then(|k| IdentityKey::from_slice(&k).ok())
        .ok_or_else(|| fail("the signing key is not valid"))?;
    let certificate = b64::decode(&signature.certificate)
        .ok()
        .and_then(|c| DeviceCertificate::decode(&c).ok())
        .ok_or_else(|| fail("the certificate is malformed"))?;
    let body = certificate
        .verify_signer(&root, journal.export.exported_at_ms / 1000, &identity)
        .map_err(|e| fail(&format!("the clerk's certificate does not verify: {e}")))?;
    let clerk = &journal.export.clerk;
    if body.staff_id != clerk.account_id
        || crate::device_fingerprint(&identity) != clerk.device_fingerprint
    {
        return Err(fail(
            "it was signed by another device than the clerk's the document names",
        ));
    }
    let sig: [u8; 64] = b64::decode(&signature.signature)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| fail("the signature is not 64 bytes of base64"))?;
    if !primitives::verify(
        identity.verifying_key(),
        context::JOURNAL_MANIFEST,
        &digest(manifest),
        &sig,
    ) {
        return Err(fail("the signature does not verify"));
    }
    Ok(())
}
