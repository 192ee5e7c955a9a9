//! What each fuzz target runs on its input. Every function here must never
//! panic on any input; the assertions inside are the properties a decoder
//! owes (what decodes re-encodes to the same bytes or value).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::keys::{HolderEpoch, HolderKind};
use crate::wire;

/// Decodes arbitrary bytes as an envelope and, if that succeeds, tries
/// to open it; re-encodes must equal the input.
pub fn envelope_decode(data: &[u8]) {
    if let Ok(envelope) = crate::Envelope::decode(data) {
        assert_eq!(
            envelope.as_bytes(),
            data,
            "decode must keep the exact bytes"
        );
        let holder = crate::testing::holder_key(
            HolderEpoch {
                holder: envelope.recipients()[0].holder,
                epoch: envelope.recipients()[0].epoch,
            },
            HolderKind::Team,
            &[7; 32],
        );
        let ctx = crate::DeliveryContext {
            thread_id: envelope.thread_id(),
            message_id: envelope.message_id(),
        };
        // Without the right key this must fail, and never panic.
        assert!(envelope.open(&ctx, &holder).is_err());
    }
    let _ = crate::Grant::decode(data);
    let _ = crate::DeviceCertificate::decode(data);
    let _ = crate::membership::MembershipRecord::decode(data);
}

/// Parses arbitrary bytes as client and server frames; a frame that
/// parses must serialise and parse back to itself.
pub fn frame_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(frame) = wire::ClientFrame::parse(text) {
        assert_eq!(wire::ClientFrame::parse(&frame.to_json()).ok(), Some(frame));
    }
    if let Ok(frame) = wire::ServerFrame::parse(text) {
        assert_eq!(wire::ServerFrame::parse(&frame.to_json()).ok(), Some(frame));
    }
    let _ = crate::minimise::Minimiser::new()
        .with_person("Sofie", "Hansen")
        .scan(text);
}

/// Every signed or encrypted binary object a client or server decodes,
/// chosen by the first byte: certificates, grants, membership records,
/// holder-key records, receipts, message payloads and attachment blobs.
/// What decodes keeps its exact bytes.
pub fn signed_objects(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    match which % 7 {
        0 => {
            if let Ok(c) = crate::DeviceCertificate::decode(rest) {
                assert_eq!(c.as_bytes(), rest);
                let root = crate::testing::org_root(&[3; 32]).public();
                let _ = c.verify(&root, 1_700_000_000);
            }
        }
        1 => {
            if let Ok(g) = crate::Grant::decode(rest) {
                assert_eq!(g.as_bytes(), rest);
            }
        }
        2 => {
            if let Ok(r) = crate::membership::MembershipRecord::decode(rest) {
                assert_eq!(r.as_bytes(), rest);
            }
        }
        3 => {
            if let Ok(r) = crate::HolderKeyRecord::decode_and_verify(rest) {
                assert_eq!(r.as_bytes(), rest);
            }
        }
        4 => {
            if let Ok(r) = crate::Receipt::decode_and_verify(rest) {
                assert_eq!(r.as_bytes(), rest);
            }
        }
        5 => {
            if let Ok(p) = crate::payload::MessagePayload::from_bytes(rest)
                && let Ok(again) = p.to_bytes()
            {
                assert_eq!(
                    crate::payload::MessagePayload::from_bytes(&again).ok(),
                    Some(p)
                );
            }
        }
        _ => {
            if let Ok(key) = crate::payload::AttachmentKey::generate() {
                // Without the key it was sealed with, nothing opens.
                assert!(crate::payload::open_attachment(&key, rest).is_err());
            }
        }
    }
}

/// Parses `text` as `T`; what parses must serialise and parse back to
/// itself.
fn round_trip<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(text: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(text) {
        let again = serde_json::to_vec(&value);
        assert!(again.is_ok(), "a parsed body serialises");
        if let Ok(again) = again {
            assert_eq!(serde_json::from_slice::<T>(&again).ok(), Some(value));
        }
    }
}

/// Every REST request body the server parses, chosen by the first byte.
pub fn rest_bodies(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 18 {
        0 => round_trip::<wire::BootstrapRequest>(body),
        1 => round_trip::<wire::LoginRequest>(body),
        2 => round_trip::<wire::RefreshRequest>(body),
        3 => round_trip::<wire::CreateInvitationRequest>(body),
        4 => round_trip::<wire::RedeemInvitationRequest>(body),
        5 => round_trip::<wire::EidLoginRequest>(body),
        6 => round_trip::<wire::CreateThreadRequest>(body),
        7 => round_trip::<wire::CreateTeamRequest>(body),
        8 => round_trip::<wire::CreateStaffRequest>(body),
        9 => round_trip::<wire::ChangePasswordRequest>(body),
        10 => round_trip::<wire::AddParticipantRequest>(body),
        11 => round_trip::<wire::AppendRecord>(body),
        12 => round_trip::<wire::PublishHolderKey>(body),
        13 => round_trip::<wire::UploadGrants>(body),
        14 => round_trip::<wire::FileJournal>(body),
        15 => round_trip::<wire::RetentionPolicy>(body),
        16 => round_trip::<wire::UploadCertificate>(body),
        _ => {
            // What the server serves and clients parse: signed logs with
            // their records decoded as a client does.
            if let Ok(log) = serde_json::from_slice::<wire::SignedLog>(body) {
                for r in &log.records {
                    let _ = r.decode();
                }
            }
        }
    }
}

/// A journal document (`journal.json`) as `samtale journal verify` reads
/// it: parsed, then verified from its own contents (which a fuzzer cannot
/// make pass: every message needs a valid signature).
pub fn journal_json(data: &[u8]) {
    if let Ok(journal) = serde_json::from_slice::<crate::journal::document::Journal>(data) {
        let _ = crate::journal::verify::checks(&journal);
        let _ = crate::journal::verify::verify(&journal, None);
        let _ = crate::journal::verify::verify(&journal, Some("ABCDE-FGHJK-MNPQR-STVWX-YZ012"));
    }
}

/// An ID token's claims as the server checks them after the signature:
/// any JSON, against a fixed nonce and clock.
pub fn id_token_claims(data: &[u8]) {
    if let Ok(claims) = serde_json::from_slice::<serde_json::Value>(data) {
        let rules = crate::eid::ClaimRules {
            national_id_claim: "cpr",
            min_level: wire::AssuranceLevel::Substantial,
        };
        for now in [0, 1_700_000_000, i64::MAX, i64::MIN] {
            let _ = crate::eid::check_claims(&claims, &rules, "nonce", now);
        }
    }
}
