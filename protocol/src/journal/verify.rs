//! Verifying a journal document from its own contents: the same checks run
//! on an export before it is written and later on a filed `journal.json`
//! (`samtale journal verify`), by anyone, with no key and no server.

use crate::payload::{MessagePayload, blob_sha256 as sha256_hex};
use crate::{
    ContentKey, DeliveryContext, DeviceCertificate, Envelope, IdentityKey, OrgRootPublicKey, b64,
};

use super::document::{FORMAT, Journal, Message, Role};

/// The checks a verified journal passed, in words (they go into the
/// document and the PDF's verification statement).
pub fn checks(journal: &Journal) -> Vec<String> {
    let n = journal.export.up_to_seq;
    vec![
        match journal.removed.len() {
            0 => format!("the thread's messages are complete: 1 to {n}, none missing, as many as the server holds"),
            _ => format!(
                "the thread's messages are complete up to {}: none missing except those the server deleted on purpose ({})",
                journal.export.up_to_seq,
                journal
                    .removed
                    .iter()
                    .map(|r| format!("{}–{} by {}", r.from_seq, r.to_seq, r.reason))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        "every message is signed by its sender's device, and the signature verifies".into(),
        format!(
            "every staff sender's device is certified by {}'s root key (fingerprint {}) for the team {}",
            journal.organisation.name, journal.organisation.root_fingerprint, journal.team.name
        ),
        "every citizen sender takes part in the thread".into(),
        "every message is sealed to the organisation's archive key and was decrypted with it".into(),
        "every text and attachment list matches its envelope (content key checked against the signed commitment)".into(),
        "every attachment matches the SHA-256 in its signed message".into(),
    ]
}

/// A failed check, naming the message when it is about one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct VerifyError(pub String);

fn about(m: &Message, why: impl std::fmt::Display) -> VerifyError {
    VerifyError(format!("message {} ({}): {why}", m.seq, m.message_id))
}

/// Checks everything the document claims. `expected_root`, when given, is
/// the organisation root fingerprint the reader trusts (from the letter or
/// the case system); without it the document's own root key is used.
pub fn verify(journal: &Journal, expected_root: Option<&str>) -> Result<(), VerifyError> {
    if journal.format != FORMAT {
        return Err(VerifyError(format!(
            "not a {FORMAT} document (format {:?})",
            journal.format
        )));
    }
    let root_bytes = b64::decode(&journal.organisation.root_public_key)
        .map_err(|_| VerifyError("the organisation's root key is not base64".into()))?;
    let root = OrgRootPublicKey::from_slice(&root_bytes)
        .map_err(|_| VerifyError("the organisation's root key is not a valid key".into()))?;
    let fingerprint = crate::org_fingerprint(&root);
    if fingerprint != journal.organisation.root_fingerprint {
        return Err(VerifyError(
            "the organisation's root fingerprint does not belong to its root key".into(),
        ));
    }
    if let Some(expected) = expected_root
        && !crate::fingerprints_match(expected, &fingerprint)
    {
        return Err(VerifyError(format!(
            "the document's organisation root ({fingerprint}) is not the one you trust ({expected})"
        )));
    }
    let removed = |seq: u64| {
        journal
            .removed
            .iter()
            .any(|r| r.from_seq <= seq && seq <= r.to_seq)
    };
    let mut expected = 1;
    for m in &journal.messages {
        while expected < m.seq && removed(expected) {
            expected += 1;
        }
        if m.seq != expected {
            return Err(VerifyError(format!(
                "message {expected} is missing (the next one is {})",
                m.seq
            )));
        }
        verify_message(journal, &root, m)?;
        expected += 1;
    }
    while expected <= journal.export.up_to_seq && removed(expected) {
        expected += 1;
    }
    if expected != journal.export.up_to_seq + 1 {
        return Err(VerifyError(format!(
            "the export says it covers messages 1 to {} but ends at {}",
            journal.export.up_to_seq,
            expected - 1
        )));
    }
    Ok(())
}

fn verify_message(
    journal: &Journal,
    root: &OrgRootPublicKey,
    m: &Message,
) -> Result<(), VerifyError> {
    let bytes = b64::decode(&m.envelope).map_err(|_| about(m, "the envelope is not base64"))?;
    if sha256_hex(&bytes) != m.envelope_sha256 {
        return Err(about(m, "the envelope does not match its SHA-256"));
    }
    if bytes.len() < 64 || b64::encode(&bytes[bytes.len() - 64..]) != m.signature {
        return Err(about(m, "the signature is not the envelope's"));
    }
    let envelope = Envelope::decode(&bytes)
        .map_err(|e| about(m, format!("the envelope is malformed: {e}")))?;
    if !envelope
        .recipients()
        .iter()
        .any(|r| r.holder == journal.archive_holder)
    {
        return Err(about(
            m,
            "it is not sealed to the organisation's archive key",
        ));
    }
    let signer = envelope.sender();
    let device = journal
        .devices
        .iter()
        .find(|d| d.device_id == m.sender.device_id)
        .ok_or_else(|| about(m, "its sender's device is not listed"))?;
    let identity = b64::decode(&device.identity_key)
        .ok()
        .and_then(|k| IdentityKey::from_slice(&k).ok())
        .ok_or_else(|| about(m, "its sender's device key is not valid"))?;
    if identity != signer
        || device.account_id != m.sender.account_id
        || device.role != m.sender.role
    {
        return Err(about(
            m,
            "it was signed by another device than the one named as its sender",
        ));
    }
    let at = m.committed_at_ms / 1000;
    match m.sender.role {
        Role::Staff => {
            let cert = device.certificate.as_deref().ok_or_else(|| {
                about(
                    m,
                    "it was sent from a staff device the organisation has not certified",
                )
            })?;
            let cert = b64::decode(cert)
                .ok()
                .and_then(|c| DeviceCertificate::decode(&c).ok())
                .ok_or_else(|| about(m, "its sender's certificate is malformed"))?;
            let body = cert
                .verify_signer(root, at, &signer)
                .map_err(|e| about(m, format!("its sender's certificate does not verify: {e}")))?;
            if body.staff_id != m.sender.account_id || body.staff_name != m.sender.name {
                return Err(about(
                    m,
                    "its sender is not the staff member the certificate names",
                ));
            }
            if !body.teams.iter().any(|t| t.id == journal.team.id) {
                return Err(about(
                    m,
                    "its sender's certificate is not for this thread's team",
                ));
            }
        }
        Role::Citizen => {
            if !journal
                .participants
                .iter()
                .any(|p| p.role == Role::Citizen && p.account_id == m.sender.account_id)
            {
                return Err(about(
                    m,
                    "it was sent by a citizen who does not take part in the thread",
                ));
            }
        }
    }
    let key: [u8; 32] = b64::decode(&m.content_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| about(m, "its content key is not 32 bytes of base64"))?;
    let ctx = DeliveryContext {
        thread_id: journal.thread_id,
        message_id: m.message_id,
    };
    let opened = envelope
        .open_with_content_key(&ctx, &ContentKey::from_bytes(key))
        .map_err(|e| {
            about(
                m,
                format!("the envelope does not open with its content key: {e}"),
            )
        })?;
    let payload = MessagePayload::from_bytes(&opened.payload)
        .map_err(|e| about(m, format!("the decrypted message is malformed: {e}")))?;
    if payload.text != m.text {
        return Err(about(m, "its text is not what the envelope holds"));
    }
    let listed: Vec<(&str, u64, &str)> = m
        .attachments
        .iter()
        .map(|a| (a.name.as_str(), a.size, a.blob_sha256.as_str()))
        .collect();
    let sealed: Vec<(&str, u64, &str)> = payload
        .attachments
        .iter()
        .map(|a| (a.name.as_str(), a.size, a.blob_sha256.as_str()))
        .collect();
    if listed != sealed {
        return Err(about(
            m,
            "its attachment list is not what the envelope holds",
        ));
    }
    Ok(())
}
