//! Thin, private wrappers over the reviewed primitive crates: domain-separated
//! Ed25519 signatures and HPKE sealing of 32-byte secrets. Nothing here is a
//! primitive of its own.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS, Serializable};
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::rng::OneShotRng;

type HpkeAead = hpke::aead::ChaCha20Poly1305;
type HpkeKdf = hpke::kdf::HkdfSha256;

/// Signature contexts: every signature is over `context || 0x00 || object`.
pub(crate) mod context {
    pub(crate) const ENVELOPE: &str = "samtale/v1/envelope";
    pub(crate) const GRANT: &str = "samtale/v1/grant";
    pub(crate) const DEVICE_CERTIFICATE: &str = "samtale/v1/device-certificate";
    pub(crate) const MEMBERSHIP: &str = "samtale/v1/membership";
    pub(crate) const HOLDER_KEY: &str = "samtale/v1/holder-key";
    pub(crate) const RECEIPT: &str = "samtale/v1/receipt";
    pub(crate) const JOURNAL_MANIFEST: &str = "samtale/v1/journal-manifest";
    pub(crate) const SIGNUP_AGAIN: &str = "samtale/v1/signup-again";
}

/// HPKE `info` strings.
pub(crate) mod info {
    pub(crate) const CONTENT_KEY: &[u8] = b"samtale/v1/content-key";
    pub(crate) const GRANT: &[u8] = b"samtale/v1/grant";
}

/// Length of an HPKE-sealed 32-byte secret: 32 bytes of ciphertext and a
/// 16-byte Poly1305 tag.
pub(crate) const SEALED_SECRET_LEN: usize = 48;

fn signing_input(context: &str, message: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(context.len() + 1 + message.len());
    input.extend_from_slice(context.as_bytes());
    input.push(0);
    input.extend_from_slice(message);
    input
}

pub(crate) fn sign(key: &SigningKey, context: &str, message: &[u8]) -> [u8; 64] {
    key.sign(&signing_input(context, message)).to_bytes()
}

/// Strict Ed25519 verification (rejects small-order keys and non-canonical
/// signatures, as RFC 8032 §5.1.7 permits).
pub(crate) fn verify(
    key: &VerifyingKey,
    context: &str,
    message: &[u8],
    signature: &[u8; 64],
) -> bool {
    let signature = Signature::from_bytes(signature);
    key.verify_strict(&signing_input(context, message), &signature)
        .is_ok()
}

/// Verifies an object whose last 64 bytes are a signature over the rest.
pub(crate) fn verify_trailing(key: &VerifyingKey, context: &str, object: &[u8]) -> bool {
    let Some(split) = object.len().checked_sub(64) else {
        return false;
    };
    let mut sig = [0u8; 64];
    sig.copy_from_slice(&object[split..]);
    verify(key, context, &object[..split], &sig)
}

/// Parses a 32-byte Ed25519 public key, rejecting non-canonical encodings
/// (y ≥ p, which curve25519-dalek would reduce: the point must re-encode
/// to the same bytes) and small-order (weak) points.
pub(crate) fn verifying_key(bytes: &[u8; 32]) -> Option<VerifyingKey> {
    let key = VerifyingKey::from_bytes(bytes).ok()?;
    let canonical = key.to_edwards().compress().to_bytes() == *bytes;
    (canonical && !key.is_weak()).then_some(key)
}

/// HPKE base-mode single-shot seal of a 32-byte secret to `recipient`.
/// `ikm` is the ephemeral key's input keying material, drawn by the caller.
pub(crate) fn hpke_seal_secret(
    recipient: &[u8; 32],
    info: &[u8],
    aad: &[u8],
    secret: &[u8; 32],
    ikm: [u8; 32],
) -> Option<([u8; 32], [u8; SEALED_SECRET_LEN])> {
    let pk = <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(recipient).ok()?;
    let mut rng = OneShotRng::new(ikm);
    let (enc, ct) = hpke::single_shot_seal_with_rng::<HpkeAead, HpkeKdf, X25519HkdfSha256>(
        &OpModeS::Base,
        &pk,
        info,
        secret,
        aad,
        &mut rng,
    )
    .ok()?;
    if rng.overdrawn {
        return None;
    }
    let mut enc_bytes = [0u8; 32];
    enc_bytes.copy_from_slice(&enc.to_bytes());
    let ct: [u8; SEALED_SECRET_LEN] = ct.as_slice().try_into().ok()?;
    Some((enc_bytes, ct))
}

/// HPKE base-mode single-shot open of a 32-byte secret. Every failure
/// (an all-zero shared secret included) is the same `None`.
pub(crate) fn hpke_open_secret(
    recipient: &StaticSecret,
    info: &[u8],
    aad: &[u8],
    enc: &[u8; 32],
    ct: &[u8; SEALED_SECRET_LEN],
) -> Option<Zeroizing<[u8; 32]>> {
    let sk = <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(recipient.as_bytes()).ok()?;
    let enc = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(enc).ok()?;
    let plaintext = Zeroizing::new(
        hpke::single_shot_open::<HpkeAead, HpkeKdf, X25519HkdfSha256>(
            &OpModeR::Base,
            &sk,
            &enc,
            info,
            ct,
            aad,
        )
        .ok()?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    if plaintext.len() != 32 {
        return None;
    }
    out.copy_from_slice(&plaintext);
    Some(out)
}

/// The X25519 public key for a private key, as HPKE computes it.
pub(crate) fn x25519_public(secret: &StaticSecret) -> [u8; 32] {
    x25519_dalek::PublicKey::from(secret).to_bytes()
}

/// The X25519 public key HPKE derives for a private key (same as
/// [`x25519_public`]; kept to document the equivalence in tests).
#[cfg(test)]
pub(crate) fn hpke_public(secret: &StaticSecret) -> Option<[u8; 32]> {
    let sk = <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(secret.as_bytes()).ok()?;
    let pk = <X25519HkdfSha256 as hpke::Kem>::sk_to_pk(&sk);
    pk.to_bytes().as_slice().try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hpke_and_dalek_agree_on_public_keys() {
        let secret = StaticSecret::from([7u8; 32]);
        assert_eq!(hpke_public(&secret), Some(x25519_public(&secret)));
    }

    #[test]
    fn a_secret_sealed_with_hpke_opens_only_with_the_same_info_and_aad() {
        let recipient = StaticSecret::from([9u8; 32]);
        let public = x25519_public(&recipient);
        let sealed = hpke_seal_secret(&public, b"info", b"aad", &[42u8; 32], [1u8; 32]);
        let Some((enc, ct)) = sealed else {
            panic!("seal failed")
        };
        let opened = hpke_open_secret(&recipient, b"info", b"aad", &enc, &ct);
        assert_eq!(opened.as_deref(), Some(&[42u8; 32]));
        assert!(hpke_open_secret(&recipient, b"info", b"other", &enc, &ct).is_none());
        assert!(hpke_open_secret(&recipient, b"other", b"aad", &enc, &ct).is_none());
    }

    #[test]
    fn sealing_to_a_low_order_point_is_refused() {
        // The all-zero public key makes the X25519 shared secret all zeros.
        assert!(hpke_seal_secret(&[0u8; 32], b"i", b"a", &[1u8; 32], [2u8; 32]).is_none());
    }

    #[test]
    fn signatures_are_bound_to_their_context() {
        let key = SigningKey::from_bytes(&[3u8; 32]);
        let sig = sign(&key, context::GRANT, b"msg");
        assert!(verify(&key.verifying_key(), context::GRANT, b"msg", &sig));
        assert!(!verify(
            &key.verifying_key(),
            context::ENVELOPE,
            b"msg",
            &sig
        ));
    }
}
