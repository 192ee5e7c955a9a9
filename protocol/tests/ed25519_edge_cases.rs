//! The Ed25519 and X25519 edge cases of `vectors/ed25519_edge_cases.json`
//! (the 12 "Taming the many EdDSAs" cases, the 196 ZIP-215 cases, crafted
//! receipts, identity keys and low-order X25519 keys), run through this
//! crate with the verdicts the file pins. `web/test/ed25519.test.ts` runs
//! the same file through the TypeScript implementation, so the two accept
//! and refuse exactly the same signatures (PROTOCOL.md §2).
//!
//! Signatures go through the crate's own path: an `IdentityKey` (decoded,
//! not weak), then ed25519-dalek's `verify_strict`, as `primitives.rs`
//! does for every object; receipts through `Receipt::decode_and_verify`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::{Signature, VerifyingKey};
use samtale_protocol::{AgreementKey, IdentityKey, Receipt};
use serde_json::Value;

fn cases(section: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/ed25519_edge_cases.json");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    file[section].as_array().unwrap().clone()
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn key32(v: &Value) -> [u8; 32] {
    bytes(v).try_into().unwrap()
}

/// The crate's verification: the key must be an `IdentityKey`, then
/// `verify_strict` over the message.
fn crate_verifies(public_key: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    if IdentityKey::from_bytes(public_key).is_err() {
        return false;
    }
    let key = VerifyingKey::from_bytes(public_key).unwrap();
    let signature = Signature::from_slice(signature).unwrap();
    key.verify_strict(message, &signature).is_ok()
}

fn name(case: &Value) -> String {
    format!("{} ({})", case["name"], case["why"])
}

#[test]
fn every_signature_edge_case_gets_the_verdict_the_file_pins() {
    let cases = cases("signatures");
    assert_eq!(cases.len(), 12 + 196);
    let wrong: Vec<String> = cases
        .iter()
        .filter(|c| {
            let verdict = crate_verifies(
                &key32(&c["public_key"]),
                &bytes(&c["message"]),
                &bytes(&c["signature"]),
            );
            verdict != c["valid"].as_bool().unwrap()
        })
        .map(name)
        .collect();
    assert!(
        wrong.is_empty(),
        "verdicts differ from the file: {wrong:#?}"
    );
    let valid: Vec<String> = cases
        .iter()
        .filter(|c| c["valid"] == Value::Bool(true))
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(valid, ["case 3"]);
}

#[test]
fn crafted_receipts_verify_through_the_crate_as_the_file_says() {
    let cases = cases("receipts");
    assert!(cases.len() >= 6);
    for c in &cases {
        let verdict = Receipt::decode_and_verify(&bytes(&c["receipt"])).is_ok();
        assert_eq!(verdict, c["valid"].as_bool().unwrap(), "{}", name(c));
    }
}

#[test]
fn identity_keys_are_accepted_as_the_file_says() {
    let cases = cases("public_keys");
    for c in &cases {
        let accepted = IdentityKey::from_bytes(&key32(&c["key"])).is_ok();
        assert_eq!(
            accepted,
            c["rust_crate_accepts"].as_bool().unwrap(),
            "{}",
            name(c)
        );
    }
    // The crate accepts exactly what PROTOCOL.md §2 allows: canonical
    // encodings of points not of small order (it once decoded y >= p).
    for c in &cases {
        assert_eq!(c["rust_crate_accepts"], c["valid"], "{}", name(c));
    }
}

#[test]
fn low_order_agreement_keys_are_refused_and_ordinary_ones_accepted() {
    let cases = cases("x25519");
    assert!(cases.iter().any(|c| c["low_order"] == Value::Bool(false)));
    for c in &cases {
        let refused = AgreementKey::from_bytes(key32(&c["key"])).is_err();
        assert_eq!(refused, c["low_order"].as_bool().unwrap(), "{}", c["name"]);
    }
}
