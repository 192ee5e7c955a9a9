//! Envelope and grant cost next to the primitives they are built from,
//! measured in the same run. `scripts/bench-report.py` turns the results into
//! the table in docs/BENCHMARKS.md (operation time ÷ summed primitive time).
//!
//! Run: `cargo bench -p samtale-protocol --bench envelope`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signer, SigningKey};
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, OpModeR, OpModeS};
use samtale_protocol::*;

fn fixtures() -> (DeviceKeys, Vec<HolderKeyPair>, ThreadId, MessageId, Vec<u8>) {
    let sender = DeviceKeys::generate().unwrap();
    let holders = vec![
        HolderKeyPair::generate(HolderId::random().unwrap(), HolderKind::Team, 0).unwrap(),
        HolderKeyPair::generate(HolderId::random().unwrap(), HolderKind::Citizen, 0).unwrap(),
        HolderKeyPair::generate(HolderId::random().unwrap(), HolderKind::Archive, 0).unwrap(),
    ];
    (
        sender,
        holders,
        ThreadId::random().unwrap(),
        MessageId::random().unwrap(),
        vec![0x42; 1024],
    )
}

fn operations(c: &mut Criterion) {
    let (sender, holders, thread_id, message_id, payload) = fixtures();
    let publics: Vec<_> = holders.iter().map(HolderKeyPair::public).collect();
    let envelope = Envelope::seal(&sender, thread_id, message_id, &publics, &payload).unwrap();
    let ctx = DeliveryContext {
        thread_id,
        message_id,
    };

    let mut g = c.benchmark_group("operation");
    g.bench_function("seal_1KiB_3_holders", |b| {
        b.iter(|| {
            Envelope::seal(
                &sender,
                thread_id,
                message_id,
                black_box(&publics),
                black_box(&payload),
            )
            .unwrap()
        })
    });
    g.bench_function("open_1KiB", |b| {
        b.iter(|| black_box(&envelope).open(&ctx, &holders[1]).unwrap())
    });
    let device = DeviceKeys::generate().unwrap();
    let grant = Grant::issue(
        &sender,
        &holders[0],
        &device.public().agreement,
        1_767_225_600,
    )
    .unwrap();
    g.bench_function("open_grant", |b| {
        b.iter(|| black_box(&grant).open(&device).unwrap())
    });
    g.finish();
}

fn primitives(c: &mut Criterion) {
    let (sender, holders, thread_id, message_id, payload) = fixtures();
    let publics: Vec<_> = holders.iter().map(HolderKeyPair::public).collect();
    let envelope = Envelope::seal(&sender, thread_id, message_id, &publics, &payload).unwrap();
    // Ed25519 signs the envelope (with its context prefix); the padded
    // payload is 1,280 bytes for a 1 KiB message.
    let signed = vec![0x17u8; envelope.as_bytes().len() - 64 + "samtale/v1/envelope".len() + 1];
    let padded = vec![0x42u8; 1280];
    let key = SigningKey::from_bytes(&[7; 32]);
    let signature = key.sign(&signed);
    let verifying = key.verifying_key();
    let secret = x25519_dalek::StaticSecret::from([9u8; 32]);
    let peer = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([10u8; 32]));
    let aead = ChaCha20Poly1305::new(&Key::from([1u8; 32]));
    let nonce = Nonce::from([0u8; 12]);
    let ct_padded = aead
        .encrypt(
            &nonce,
            Payload {
                msg: &padded,
                aad: &[0u8; 127],
            },
        )
        .unwrap();
    let ct_key = aead
        .encrypt(
            &nonce,
            Payload {
                msg: &[0u8; 32],
                aad: &[0u8; 127],
            },
        )
        .unwrap();

    let mut g = c.benchmark_group("primitive");
    g.bench_function("x25519_keygen", |b| {
        b.iter(|| x25519_dalek::PublicKey::from(black_box(&secret)))
    });
    g.bench_function("x25519_dh", |b| {
        b.iter(|| black_box(&secret).diffie_hellman(black_box(&peer)))
    });
    g.bench_function("ed25519_sign_envelope", |b| {
        b.iter(|| key.sign(black_box(&signed)))
    });
    g.bench_function("ed25519_verify_envelope", |b| {
        b.iter(|| {
            verifying
                .verify_strict(black_box(&signed), &signature)
                .unwrap()
        })
    });
    let grant_signed = vec![0x17u8; 207 + "samtale/v1/grant".len() + 1];
    let grant_sig = key.sign(&grant_signed);
    g.bench_function("ed25519_verify_grant", |b| {
        b.iter(|| {
            verifying
                .verify_strict(black_box(&grant_signed), &grant_sig)
                .unwrap()
        })
    });
    g.bench_function("aead_seal_1280B", |b| {
        b.iter(|| {
            aead.encrypt(
                &nonce,
                Payload {
                    msg: black_box(&padded),
                    aad: &[0u8; 127],
                },
            )
            .unwrap()
        })
    });
    g.bench_function("aead_open_1280B", |b| {
        b.iter(|| {
            aead.decrypt(
                &nonce,
                Payload {
                    msg: black_box(&ct_padded),
                    aad: &[0u8; 127],
                },
            )
            .unwrap()
        })
    });
    g.bench_function("aead_seal_32B", |b| {
        b.iter(|| {
            aead.encrypt(
                &nonce,
                Payload {
                    msg: black_box(&[0u8; 32]),
                    aad: &[0u8; 127],
                },
            )
            .unwrap()
        })
    });
    g.bench_function("aead_open_32B", |b| {
        b.iter(|| {
            aead.decrypt(
                &nonce,
                Payload {
                    msg: black_box(&ct_key),
                    aad: &[0u8; 127],
                },
            )
            .unwrap()
        })
    });

    // HPKE itself (RFC 9180 base mode, single shot, 32-byte secret): Encap or
    // Decap plus the key schedule, as the `hpke` crate performs it.
    let hpke_recipient =
        <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(&[11u8; 32]).unwrap();
    let hpke_public = <X25519HkdfSha256 as hpke::Kem>::sk_to_pk(&hpke_recipient);
    let (hpke_enc, hpke_ct) =
        hpke::single_shot_seal_with_rng::<HpkeAead, HpkeKdf, X25519HkdfSha256>(
            &OpModeS::Base,
            &hpke_public,
            b"samtale/v1/bench",
            &[0u8; 32],
            &[0u8; 127],
            &mut BenchRng(1),
        )
        .unwrap();
    let mut rng = BenchRng(2);
    g.bench_function("hpke_seal_32B", |b| {
        b.iter(|| {
            hpke::single_shot_seal_with_rng::<HpkeAead, HpkeKdf, X25519HkdfSha256>(
                &OpModeS::Base,
                black_box(&hpke_public),
                b"samtale/v1/bench",
                &[0u8; 32],
                &[0u8; 127],
                &mut rng,
            )
            .unwrap()
        })
    });
    g.bench_function("hpke_open_32B", |b| {
        b.iter(|| {
            hpke::single_shot_open::<HpkeAead, HpkeKdf, X25519HkdfSha256>(
                &OpModeR::Base,
                black_box(&hpke_recipient),
                &hpke_enc,
                b"samtale/v1/bench",
                &hpke_ct,
                &[0u8; 127],
            )
            .unwrap()
        })
    });
    g.finish();
}

type HpkeAead = hpke::aead::ChaCha20Poly1305;
type HpkeKdf = hpke::kdf::HkdfSha256;

/// A deterministic byte stream for HPKE's ephemeral keys in the benchmark
/// only (SplitMix64); the protocol draws them from the operating system.
struct BenchRng(u64);

impl rand_core::TryRng for BenchRng {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        self.try_next_u64().map(|v| v as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Ok(z ^ (z >> 31))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let v = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for BenchRng {}

criterion_group!(benches, operations, primitives);
criterion_main!(benches);
