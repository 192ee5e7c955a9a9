//! Invalid encodings and the error each must give (`invalid.json`,
//! PROTOCOL.md §13): every object is made from a valid vector with one
//! thing wrong — cut short, a byte too many, a wrong type or version byte,
//! an out-of-range field, a weak key, a broken signature — and so are
//! payloads that §4.4 refuses. A second implementation must refuse each one
//! with the same `error` (and, for `invalid`, the same `field`).
//!
//! Regenerated and compared like the other vectors (`SAMTALE_WRITE_VECTORS=1`
//! rewrites it); `tests/interop/verify_vectors.py` checks it independently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{bytes_of, check, committed, h};
use samtale_protocol::membership::{MembershipError, MembershipRecord};
use samtale_protocol::payload::{MessagePayload, PayloadError};
use samtale_protocol::testing::holder_key;
use samtale_protocol::*;
use serde_json::{Value, json};

/// The Ed25519 identity point (order 1): a weak key every decoder refuses.
const WEAK_ED25519: [u8; 32] = {
    let mut k = [0u8; 32];
    k[0] = 1;
    k
};

fn decode_error(e: &DecodeError) -> (String, Option<String>) {
    match e {
        DecodeError::Truncated => ("truncated".into(), None),
        DecodeError::TrailingBytes(_) => ("trailing_bytes".into(), None),
        DecodeError::WrongType { .. } => ("wrong_type".into(), None),
        DecodeError::UnsupportedVersion(_) => ("unsupported_version".into(), None),
        DecodeError::Invalid(field) => ("invalid".into(), Some((*field).into())),
        DecodeError::TooLarge => ("too_large".into(), None),
    }
}

/// What a decoder (and, for envelopes and holder key records, the
/// signature check) says of `bytes` as an `object`.
fn verdict(object: &str, bytes: &[u8]) -> (String, Option<String>) {
    match object {
        "envelope" => match Envelope::decode(bytes) {
            Err(e) => decode_error(&e),
            Ok(env) => {
                // Signature (opening step 2): no key needed to refuse it.
                let ctx = DeliveryContext {
                    thread_id: env.thread_id(),
                    message_id: env.message_id(),
                };
                let key = holder_key(env.recipients()[0], HolderKind::Team, &[1; 32]);
                match env.open(&ctx, &key) {
                    Err(OpenError::BadSignature) => ("bad_signature".into(), None),
                    other => panic!("{object}: unexpected {other:?}"),
                }
            }
        },
        "grant" => match Grant::decode(bytes) {
            Err(GrantError::Malformed(e)) => decode_error(&e),
            other => panic!("{object}: unexpected {:?}", other.map(|_| ())),
        },
        "certificate" => match DeviceCertificate::decode(bytes) {
            Err(CertificateError::Malformed(e)) => decode_error(&e),
            Err(CertificateError::TooManyTeams) => ("too_many_teams".into(), None),
            Err(CertificateError::EmptyValidity) => ("empty_validity".into(), None),
            other => panic!("{object}: unexpected {:?}", other.map(|_| ())),
        },
        "membership_record" => match MembershipRecord::decode(bytes) {
            Err(MembershipError::Malformed(e)) => decode_error(&e),
            other => panic!("{object}: unexpected {other:?}"),
        },
        "holder_key_record" => match HolderKeyRecord::decode_and_verify(bytes) {
            Err(HolderKeyError::Malformed(e)) => decode_error(&e),
            Err(HolderKeyError::BadSignature) => ("bad_signature".into(), None),
            other => panic!("{object}: unexpected {:?}", other.map(|_| ())),
        },
        "receipt" => match Receipt::decode_and_verify(bytes) {
            Err(ReceiptError::Malformed(e)) => decode_error(&e),
            Err(ReceiptError::BadSignature) => ("bad_signature".into(), None),
            other => panic!("{object}: unexpected {:?}", other.map(|_| ())),
        },
        "payload" => match MessagePayload::from_bytes(bytes) {
            Err(PayloadError::Malformed) => ("malformed".into(), None),
            Err(PayloadError::UnknownVersion(_)) => ("unknown_version".into(), None),
            Err(PayloadError::Invalid(_)) => ("invalid".into(), None),
            other => panic!("{object}: unexpected {:?}", other.map(|_| ())),
        },
        _ => panic!("unknown object {object}"),
    }
}

fn with(bytes: &[u8], at: usize, replacement: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[at..at + replacement.len()].copy_from_slice(replacement);
    out
}

#[test]
fn invalid_encodings_vector() {
    let envelope = bytes_of(&committed("envelope.json")["envelope"]);
    let grant = bytes_of(&committed("grant.json")["grant"]);
    let certificate = bytes_of(&committed("certificate.json")["certificate"]);
    let holder_record =
        bytes_of(&committed("membership_receipt_holder_key.json")["holder_key_record"]);
    let receipt = bytes_of(&committed("membership_receipt_holder_key.json")["receipt"]);
    let trust = committed("trust.json");
    let team_record = bytes_of(&trust["logs"]["team_members"][0]["record"]);
    let device_record = bytes_of(&trust["logs"]["citizen_devices"][0]["record"]);
    let mut flipped = envelope.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    let mut holder_flipped = holder_record.clone();
    holder_flipped[174] ^= 1;
    let n = usize::from(envelope[98]);
    let header = 99 + 20 * n;
    let length_at = header + 80 * n;
    let length = u32::from_be_bytes(envelope[length_at..length_at + 4].try_into().unwrap());
    let mut duplicate = envelope.clone();
    duplicate.copy_within(99..119, 119);
    // Certificate offsets: type, version, org id, org name, keys, staff id,
    // staff name, then roles and the team count.
    let org_name = usize::from(u16::from_be_bytes([certificate[18], certificate[19]]));
    let staff_name_at = 20 + org_name + 64 + 16;
    let staff_name = usize::from(u16::from_be_bytes([
        certificate[staff_name_at],
        certificate[staff_name_at + 1],
    ]));
    let roles_at = staff_name_at + 2 + staff_name;
    let validity_at = certificate.len() - 64 - 16;
    let not_before = certificate[validity_at..validity_at + 8].to_vec();
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        ("envelope", "cut short in its header", envelope[..40].to_vec()),
        ("envelope", "one byte after the signature", [envelope.clone(), vec![0]].concat()),
        ("envelope", "the type byte of a grant", with(&envelope, 0, &[0x02])),
        ("envelope", "version 2", with(&envelope, 1, &[2])),
        ("envelope", "no recipients", with(&envelope, 98, &[0])),
        ("envelope", "the same recipient twice", duplicate),
        ("envelope", "a ciphertext length that is not 16 + a multiple of 256", with(&envelope, length_at, &(length - 1).to_be_bytes())),
        ("envelope", "a weak (small-order) sender key", with(&envelope, 34, &WEAK_ED25519)),
        ("envelope", "one bit of the signature flipped", flipped),
        ("grant", "one byte short", grant[..grant.len() - 1].to_vec()),
        ("grant", "an unknown holder kind", with(&grant, 18, &[4])),
        ("grant", "an all-zero (low-order) recipient key", with(&grant, 55, &[0; 32])),
        ("certificate", "an unknown role bit", with(&certificate, roles_at, &[0x08])),
        ("certificate", "65 teams", with(&certificate, roles_at + 1, &[65])),
        ("certificate", "not_after equal to not_before", with(&certificate, validity_at + 8, &not_before)),
        ("membership_record", "log kind 4", with(&team_record, 2, &[4])),
        ("membership_record", "operation 4", with(&team_record, 59, &[4])),
        ("membership_record", "member kind 6", with(&team_record, 60, &[6])),
        ("membership_record", "a weak device identity key", with(&device_record, 61, &WEAK_ED25519)),
        ("holder_key_record", "holder kind 4", with(&holder_record, 18, &[4])),
        ("holder_key_record", "an all-zero (low-order) public key", with(&holder_record, 23, &[0; 32])),
        ("holder_key_record", "one bit of the signature flipped", holder_flipped),
        ("receipt", "receipt kind 3", with(&receipt, 26, &[3])),
        ("receipt", "one byte after the signature", [receipt.clone(), vec![0]].concat()),
        ("payload", "version 2", br#"{"v":2,"text":"Hej"}"#.to_vec()),
        ("payload", "an unknown field", br#"{"v":1,"text":"Hej","kind":"text"}"#.to_vec()),
        ("payload", "no text field", br#"{"v":1}"#.to_vec()),
        ("payload", "attachments: null", br#"{"v":1,"text":"Hej","attachments":null}"#.to_vec()),
        ("payload", "the earlier draft's fields", r#"{"v":1,"kind":"text","body":"Hej Sofie"}"#.as_bytes().to_vec()),
        (
            "payload",
            "an attachment named ..",
            format!(
                r#"{{"v":1,"text":"","attachments":[{{"id":"00000000-0000-4000-8000-000000000000","name":"..","media_type":"text/plain","size":1,"blob_sha256":"{}","key":"{}"}}]}}"#,
                "0".repeat(64),
                b64::encode(&[0u8; 32])
            )
            .into_bytes(),
        ),
    ];
    let value = json!({
        "description": "Encodings every implementation must refuse, each made from a valid vector with one thing wrong, and the error it must give. `error` is one of truncated, trailing_bytes, wrong_type, unsupported_version, invalid (with the `field` named), too_many_teams, empty_validity, bad_signature (envelopes: opening step 2; holder key records and receipts: on decoding), and for payloads malformed, unknown_version or invalid.",
        "cases": cases.iter().map(|(object, what, bytes)| {
            let (error, field) = verdict(object, bytes);
            json!({
                "object": object,
                "what": what,
                "hex": h(bytes),
                "error": error,
                "field": field,
            })
        }).collect::<Vec<Value>>(),
    });
    check("invalid.json", &value);
    // The committed cases give the committed verdicts.
    for case in committed("invalid.json")["cases"].as_array().unwrap() {
        let (error, field) = verdict(case["object"].as_str().unwrap(), &bytes_of(&case["hex"]));
        assert_eq!(error, case["error"].as_str().unwrap(), "{case}");
        assert_eq!(field.as_deref(), case["field"].as_str(), "{case}");
    }
}
