//! Project Wycheproof vectors for the primitives the protocol uses, run with
//! the same crates and the same acceptance policy as `samtale-protocol`:
//! every case, zero failures, counts printed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use ed25519_dalek::{Signature, VerifyingKey};
use hkdf::Hkdf;
use sha2::Sha256;
use wycheproof::TestResult;

#[derive(Default)]
struct Tally {
    valid: usize,
    invalid: usize,
    acceptable: usize,
    failures: Vec<String>,
}

impl Tally {
    fn record(&mut self, result: TestResult, ok: bool, id: usize, comment: &str) {
        match result {
            TestResult::Valid => self.valid += 1,
            TestResult::Invalid => self.invalid += 1,
            TestResult::Acceptable => self.acceptable += 1,
        }
        if !ok {
            self.failures
                .push(format!("tcId {id} ({result:?}): {comment}"));
        }
    }

    fn finish(self, name: &str) {
        // Written past the test harness's capture so CI logs show the counts.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "Wycheproof {name}: {} cases ({} valid, {} invalid, {} acceptable), {} failures",
            self.valid + self.invalid + self.acceptable,
            self.valid,
            self.invalid,
            self.acceptable,
            self.failures.len()
        );
        assert!(
            self.failures.is_empty(),
            "{name} failures:\n{}",
            self.failures.join("\n")
        );
        assert!(
            self.valid + self.invalid + self.acceptable > 0,
            "{name}: no cases ran"
        );
    }
}

/// The protocol's X25519 policy: 32-byte public keys only, and a shared
/// secret of all zeros (a low-order public key) is refused.
fn protocol_x25519(private: &[u8], public: &[u8]) -> Option<[u8; 32]> {
    let sk: [u8; 32] = private.try_into().ok()?;
    let pk: [u8; 32] = public.try_into().ok()?;
    let shared =
        x25519_dalek::StaticSecret::from(sk).diffie_hellman(&x25519_dalek::PublicKey::from(pk));
    shared.was_contributory().then(|| shared.to_bytes())
}

#[test]
fn wycheproof_x25519() {
    let set =
        wycheproof::xdh::TestSet::load(wycheproof::xdh::TestName::X25519).expect("x25519 vectors");
    let mut tally = Tally::default();
    for group in &set.test_groups {
        for t in &group.tests {
            let zero_expected = t.shared_secret.iter().all(|b| *b == 0);
            let got = protocol_x25519(&t.private_key, &t.public_key);
            let ok = match t.result {
                TestResult::Invalid => got.is_none(),
                // Acceptable cases are low-order points: the protocol refuses
                // them whenever the shared secret would be all zeros.
                _ if zero_expected => got.is_none(),
                TestResult::Valid => got.as_ref().map(|s| &s[..]) == Some(&t.shared_secret[..]),
                TestResult::Acceptable => got.is_none_or(|s| s[..] == t.shared_secret[..]),
            };
            tally.record(t.result, ok, t.tc_id, &t.comment);
        }
    }
    tally.finish("X25519");
}

#[test]
fn wycheproof_chacha20_poly1305() {
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::ChaCha20Poly1305)
        .expect("aead vectors");
    let mut tally = Tally::default();
    for group in &set.test_groups {
        for t in &group.tests {
            let cipher = ChaCha20Poly1305::new_from_slice(&t.key).ok();
            let nonce: Option<[u8; 12]> = t.nonce.as_ref().try_into().ok();
            let ok = match (cipher, nonce) {
                (Some(cipher), Some(nonce)) => {
                    let nonce = Nonce::from(nonce);
                    let mut ct = t.ct.to_vec();
                    ct.extend_from_slice(&t.tag);
                    let opened = cipher.decrypt(
                        &nonce,
                        Payload {
                            msg: &ct,
                            aad: &t.aad,
                        },
                    );
                    if t.result.must_fail() {
                        opened.is_err()
                    } else {
                        let sealed = cipher.encrypt(
                            &nonce,
                            Payload {
                                msg: &t.pt,
                                aad: &t.aad,
                            },
                        );
                        opened.ok().as_deref() == Some(&t.pt[..]) && sealed.ok() == Some(ct)
                    }
                }
                // Wrong key or nonce sizes cannot even be expressed.
                _ => t.result.must_fail(),
            };
            tally.record(t.result, ok, t.tc_id, &t.comment);
        }
    }
    tally.finish("ChaCha20-Poly1305");
}

#[test]
fn wycheproof_ed25519() {
    let set = wycheproof::eddsa::TestSet::load(wycheproof::eddsa::TestName::Ed25519)
        .expect("eddsa vectors");
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let pk: Option<[u8; 32]> = group.key.pk.as_ref().try_into().ok();
        let key = pk.and_then(|pk| VerifyingKey::from_bytes(&pk).ok());
        for t in &group.tests {
            let sig: Option<[u8; 64]> = t.sig.as_ref().try_into().ok();
            let verified = match (&key, sig) {
                (Some(key), Some(sig)) => key
                    .verify_strict(&t.msg, &Signature::from_bytes(&sig))
                    .is_ok(),
                _ => false,
            };
            let ok = match t.result {
                TestResult::Valid => verified,
                TestResult::Invalid => !verified,
                TestResult::Acceptable => true,
            };
            tally.record(t.result, ok, t.tc_id, &t.comment);
        }
    }
    tally.finish("Ed25519");
}

#[test]
fn wycheproof_hkdf_sha256() {
    let set = wycheproof::hkdf::TestSet::load(wycheproof::hkdf::TestName::HkdfSha256)
        .expect("hkdf vectors");
    let mut tally = Tally::default();
    for group in &set.test_groups {
        for t in &group.tests {
            let hk = Hkdf::<Sha256>::new(Some(&t.salt), &t.ikm);
            let mut okm = vec![0u8; t.size];
            let result = hk.expand(&t.info, &mut okm);
            let ok = if t.result.must_fail() {
                result.is_err()
            } else {
                result.is_ok() && okm[..] == t.okm[..]
            };
            tally.record(t.result, ok, t.tc_id, &t.comment);
        }
    }
    tally.finish("HKDF-SHA256");
}
