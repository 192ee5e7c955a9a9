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
    g.finish();
}

criterion_group!(benches, operations, primitives);
criterion_main!(benches);
