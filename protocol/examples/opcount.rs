//! Runs one envelope operation or primitive N times, for counting
//! instructions under `valgrind --tool=callgrind` (deterministic, unlike wall
//! time on a shared machine). Used by `scripts/bench-instructions.sh`.
//!
//!     cargo run --release -p samtale-protocol --example opcount -- seal 100

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use ed25519_dalek::{Signer, SigningKey};
use samtale_protocol::testing::{device_keys, holder_key};
use samtale_protocol::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().expect("operation name");
    let n: usize = args.next().map_or(1, |s| s.parse().expect("count"));

    let sender = device_keys(&[1; 32], &[2; 32]);
    let holders: Vec<_> = [
        (HolderKind::Team, 3u8),
        (HolderKind::Citizen, 4),
        (HolderKind::Archive, 5),
    ]
    .into_iter()
    .map(|(kind, b)| {
        holder_key(
            HolderEpoch {
                holder: HolderId::from_bytes([b; 16]),
                epoch: 0,
            },
            kind,
            &[b; 32],
        )
    })
    .collect();
    let publics: Vec<_> = holders.iter().map(HolderKeyPair::public).collect();
    let (thread_id, message_id) = (
        ThreadId::from_bytes([6; 16]),
        MessageId::from_bytes([7; 16]),
    );
    let payload = vec![0x42u8; 1024];
    let envelope = Envelope::seal(&sender, thread_id, message_id, &publics, &payload).unwrap();
    let ctx = DeliveryContext {
        thread_id,
        message_id,
    };
    let device = device_keys(&[8; 32], &[9; 32]);
    let grant = Grant::issue(&sender, &holders[0], &device.public().agreement, 1).unwrap();

    let signed = vec![0x17u8; envelope.as_bytes().len() - 64 + "samtale/v1/envelope".len() + 1];
    let grant_signed = vec![0x17u8; 207 + "samtale/v1/grant".len() + 1];
    let key = SigningKey::from_bytes(&[7; 32]);
    let sig = key.sign(&signed);
    let grant_sig = key.sign(&grant_signed);
    let vk = key.verifying_key();
    let secret = x25519_dalek::StaticSecret::from([9u8; 32]);
    let peer = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from([10u8; 32]));
    let aead = ChaCha20Poly1305::new(&Key::from([1u8; 32]));
    let nonce = Nonce::from([0u8; 12]);
    let padded = vec![0x42u8; 1280];
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

    for _ in 0..n {
        match op.as_str() {
            "baseline" => {}
            "seal_1KiB_3_holders" => {
                black_box(
                    Envelope::seal(
                        &sender,
                        thread_id,
                        message_id,
                        black_box(&publics),
                        &payload,
                    )
                    .unwrap(),
                );
            }
            "open_1KiB" => {
                black_box(envelope.open(&ctx, &holders[1]).unwrap());
            }
            "open_grant" => {
                black_box(grant.open(&device).unwrap());
            }
            "x25519_keygen" => {
                black_box(x25519_dalek::PublicKey::from(black_box(&secret)));
            }
            "x25519_dh" => {
                black_box(black_box(&secret).diffie_hellman(&peer));
            }
            "ed25519_sign_envelope" => {
                black_box(key.sign(black_box(&signed)));
            }
            "ed25519_verify_envelope" => vk.verify_strict(black_box(&signed), &sig).unwrap(),
            "ed25519_verify_grant" => vk
                .verify_strict(black_box(&grant_signed), &grant_sig)
                .unwrap(),
            "aead_seal_1280B" => {
                black_box(
                    aead.encrypt(
                        &nonce,
                        Payload {
                            msg: black_box(&padded),
                            aad: &[0u8; 127],
                        },
                    )
                    .unwrap(),
                );
            }
            "aead_open_1280B" => {
                black_box(
                    aead.decrypt(
                        &nonce,
                        Payload {
                            msg: black_box(&ct_padded),
                            aad: &[0u8; 127],
                        },
                    )
                    .unwrap(),
                );
            }
            "aead_seal_32B" => {
                black_box(
                    aead.encrypt(
                        &nonce,
                        Payload {
                            msg: black_box(&[0u8; 32]),
                            aad: &[0u8; 127],
                        },
                    )
                    .unwrap(),
                );
            }
            "aead_open_32B" => {
                black_box(
                    aead.decrypt(
                        &nonce,
                        Payload {
                            msg: black_box(&ct_key),
                            aad: &[0u8; 127],
                        },
                    )
                    .unwrap(),
                );
            }
            other => panic!("unknown operation {other}"),
        }
    }
}
