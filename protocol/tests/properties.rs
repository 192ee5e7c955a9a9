//! Property tests: round trips, and that any tampering, misdelivery or wrong
//! key makes opening fail.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use samtale_protocol::testing::{device_keys, holder_key};
use samtale_protocol::*;

fn holders(n: usize, seed: u8) -> Vec<HolderKeyPair> {
    (0..n)
        .map(|i| {
            let id = HolderId::from_bytes([seed.wrapping_add(i as u8); 16]);
            let kind = [HolderKind::Team, HolderKind::Citizen, HolderKind::Archive][i % 3];
            holder_key(
                HolderEpoch {
                    holder: id,
                    epoch: i as u32,
                },
                kind,
                &[seed ^ (i as u8 + 1); 32],
            )
        })
        .collect()
}

fn ctx(thread: [u8; 16], message: [u8; 16]) -> DeliveryContext {
    DeliveryContext {
        thread_id: ThreadId::from_bytes(thread),
        message_id: MessageId::from_bytes(message),
    }
}

fn payload_strategy() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => proptest::collection::vec(any::<u8>(), 0..2048),
        1 => proptest::collection::vec(any::<u8>(), MAX_PAYLOAD_BYTES - 300..=MAX_PAYLOAD_BYTES),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_recipient_opens_what_was_sealed(
        n in 1usize..=8,
        seed in any::<u8>(),
        thread in any::<[u8; 16]>(),
        message in any::<[u8; 16]>(),
        payload in payload_strategy(),
    ) {
        let sender = device_keys(&[seed; 32], &[seed.wrapping_add(1); 32]);
        let hs = holders(n, seed);
        let publics: Vec<_> = hs.iter().map(HolderKeyPair::public).collect();
        let c = ctx(thread, message);
        let sealed = Envelope::seal(&sender, c.thread_id, c.message_id, &publics, &payload).unwrap();
        prop_assert!(sealed.as_bytes().len() <= MAX_ENVELOPE_BYTES);
        let decoded = Envelope::decode(sealed.as_bytes()).unwrap();
        for h in &hs {
            let opened = decoded.open(&c, h).unwrap();
            prop_assert_eq!(&opened.payload[..], &payload[..]);
            prop_assert_eq!(opened.sender, sender.public().identity);
        }
    }

    #[test]
    fn any_single_bit_flip_in_an_envelope_makes_it_fail_to_open(
        n in 1usize..=4,
        seed in any::<u8>(),
        payload in proptest::collection::vec(any::<u8>(), 0..600),
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let sender = device_keys(&[seed; 32], &[7; 32]);
        let hs = holders(n, seed);
        let publics: Vec<_> = hs.iter().map(HolderKeyPair::public).collect();
        let c = ctx([1; 16], [2; 16]);
        let sealed = Envelope::seal(&sender, c.thread_id, c.message_id, &publics, &payload).unwrap();
        let mut bytes = sealed.into_bytes();
        let i = position.index(bytes.len());
        bytes[i] ^= 1 << bit;
        for h in &hs {
            let result = Envelope::decode(&bytes).map_err(OpenError::from).and_then(|e| e.open(&c, h));
            prop_assert!(result.is_err(), "flip at byte {} bit {} opened", i, bit);
        }
    }

    #[test]
    fn an_envelope_opened_in_another_thread_as_another_message_or_by_a_stranger_fails(
        seed in any::<u8>(),
        other in any::<[u8; 16]>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        prop_assume!(other != [1; 16] && other != [2; 16]);
        // The stranger's holder id must not be one of the recipients' ids.
        prop_assume!((0..3u8).all(|i| other != [seed.wrapping_add(i); 16]));
        let sender = device_keys(&[seed; 32], &[7; 32]);
        let hs = holders(3, seed);
        let publics: Vec<_> = hs.iter().map(HolderKeyPair::public).collect();
        let c = ctx([1; 16], [2; 16]);
        let sealed = Envelope::seal(&sender, c.thread_id, c.message_id, &publics, &payload).unwrap();
        prop_assert_eq!(sealed.open(&ctx(other, [2; 16]), &hs[0]).err(), Some(OpenError::WrongThread));
        prop_assert_eq!(sealed.open(&ctx([1; 16], other), &hs[0]).err(), Some(OpenError::WrongMessage));
        let stranger = holder_key(HolderEpoch { holder: HolderId::from_bytes(other), epoch: 0 }, HolderKind::Citizen, &[3; 32]);
        prop_assert_eq!(sealed.open(&c, &stranger).err(), Some(OpenError::NotARecipient));
        // The right holder id with another epoch's key is not a recipient either,
        let next_epoch = holder_key(HolderEpoch { epoch: 99, ..hs[0].epoch() }, HolderKind::Team, &[4; 32]);
        prop_assert_eq!(sealed.open(&c, &next_epoch).err(), Some(OpenError::NotARecipient));
        // and a wrong private key under the right epoch fails to decrypt
        // (every byte differs from the real key `seed ^ 1`, clamping included).
        let impostor = holder_key(hs[0].epoch(), hs[0].kind(), &[!(seed ^ 1); 32]);
        prop_assert_eq!(sealed.open(&c, &impostor).err(), Some(OpenError::DecryptionFailed));
    }

    #[test]
    fn grants_round_trip_and_any_bit_flip_or_wrong_device_fails(
        seed in any::<u8>(),
        position in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let granter = device_keys(&[seed; 32], &[1; 32]);
        let device = device_keys(&[2; 32], &[seed.wrapping_add(3); 32]);
        let other = device_keys(&[4; 32], &[seed.wrapping_add(5); 32]);
        let holder = &holders(1, seed)[0];
        let grant = Grant::issue(&granter, holder, &device.public().agreement, 1_700_000_000).unwrap();
        let opened = Grant::decode(grant.as_bytes()).unwrap().open(&device).unwrap();
        prop_assert_eq!(opened.public(), holder.public());
        prop_assert_eq!(grant.open(&other).err(), Some(GrantError::NotForThisDevice));

        let mut bytes = grant.as_bytes().to_vec();
        let i = position.index(bytes.len());
        bytes[i] ^= 1 << bit;
        let result = Grant::decode(&bytes).and_then(|g| g.open(&device));
        prop_assert!(result.is_err(), "flip at byte {} bit {} opened", i, bit);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Envelope::decode(&bytes);
        let _ = Grant::decode(&bytes);
        let _ = DeviceCertificate::decode(&bytes);
        let _ = membership::MembershipRecord::decode(&bytes);
        let _ = Receipt::decode_and_verify(&bytes);
        let _ = HolderKeyRecord::decode_and_verify(&bytes);
        if let Ok(text) = std::str::from_utf8(&bytes) {
            let _ = wire::ClientFrame::parse(text);
            let _ = minimise::Minimiser::new().with_person("Sofie", "Hansen").scan(text);
        }
    }

    #[test]
    fn minimisation_spans_are_char_boundaries_of_any_text(text in "\\PC{0,200}") {
        for f in minimise::Minimiser::new().with_person("Sofie", "Hansen").with_school("Rosenhøj").scan(&text) {
            prop_assert!(text.get(f.span.clone()).is_some());
        }
    }
}

#[test]
fn an_envelope_larger_than_the_limit_is_refused_before_sealing() {
    let sender = device_keys(&[1; 32], &[2; 32]);
    let hs = holders(1, 1);
    let too_big = vec![0u8; MAX_PAYLOAD_BYTES + 1];
    let result = Envelope::seal(
        &sender,
        ThreadId::from_bytes([1; 16]),
        MessageId::from_bytes([2; 16]),
        &[hs[0].public()],
        &too_big,
    );
    assert_eq!(result.err(), Some(SealError::PayloadTooLarge));
    let seventeen: Vec<_> = holders(17, 9).iter().map(HolderKeyPair::public).collect();
    let result = Envelope::seal(
        &sender,
        ThreadId::from_bytes([1; 16]),
        MessageId::from_bytes([2; 16]),
        &seventeen,
        b"x",
    );
    assert_eq!(result.err(), Some(SealError::TooManyRecipients));
    let twice = [hs[0].public(), hs[0].public()];
    let result = Envelope::seal(
        &sender,
        ThreadId::from_bytes([1; 16]),
        MessageId::from_bytes([2; 16]),
        &twice,
        b"x",
    );
    assert_eq!(result.err(), Some(SealError::DuplicateRecipient));
}

#[test]
fn a_certificate_verifies_only_under_its_root_within_its_validity() {
    let root = testing::org_root(&[1; 32]);
    let other_root = testing::org_root(&[2; 32]);
    let device = device_keys(&[3; 32], &[4; 32]);
    let body = CertificateBody {
        org_id: OrgId::from_bytes([5; 16]),
        org_name: "Randers Kommune".into(),
        device: device.public(),
        staff_id: AccountId::from_bytes([6; 16]),
        staff_name: "Mette Jensen".into(),
        roles: Roles::STAFF.union(Roles::RECORD_CLERK),
        teams: vec![CertifiedTeam {
            id: TeamId::from_bytes([7; 16]),
            name: "Familieplejen".into(),
        }],
        not_before: 100,
        not_after: 200,
    };
    let cert = DeviceCertificate::issue(&root, body.clone()).unwrap();
    let decoded = DeviceCertificate::decode(cert.as_bytes()).unwrap();
    assert_eq!(decoded.verify(&root.public(), 150), Ok(&body));
    assert_eq!(
        decoded.verify(&other_root.public(), 150).err(),
        Some(CertificateError::BadSignature)
    );
    assert_eq!(
        decoded.verify(&root.public(), 99).err(),
        Some(CertificateError::NotYetValid)
    );
    assert_eq!(
        decoded.verify(&root.public(), 200).err(),
        Some(CertificateError::Expired)
    );
    let stranger = device_keys(&[8; 32], &[9; 32]).public().identity;
    assert_eq!(
        decoded.verify_signer(&root.public(), 150, &stranger).err(),
        Some(CertificateError::WrongDevice)
    );
    let mut tampered = cert.as_bytes().to_vec();
    tampered[40] ^= 1;
    let result =
        DeviceCertificate::decode(&tampered).and_then(|c| c.verify(&root.public(), 150).cloned());
    assert!(result.is_err());
}

#[test]
fn receipts_and_holder_key_records_reject_tampering() {
    let device = device_keys(&[1; 32], &[2; 32]);
    let receipt = Receipt::sign(
        &device,
        ThreadId::from_bytes([3; 16]),
        42,
        ReceiptKind::Read,
        1_700_000_000_000,
    );
    assert_eq!(
        Receipt::decode_and_verify(receipt.as_bytes()).map(|r| r.up_to_seq),
        Ok(42)
    );
    let mut bytes = receipt.as_bytes().to_vec();
    bytes[20] ^= 1;
    assert_eq!(
        Receipt::decode_and_verify(&bytes).err(),
        Some(ReceiptError::BadSignature)
    );

    let holder = &holders(1, 4)[0];
    let record = HolderKeyRecord::sign(&device, &holder.public(), [5; 16], 1_700_000_000);
    assert_eq!(
        HolderKeyRecord::decode_and_verify(record.as_bytes()).map(|r| *r.key()),
        Ok(holder.public())
    );
    let mut bytes = record.as_bytes().to_vec();
    bytes[70] ^= 1;
    assert!(HolderKeyRecord::decode_and_verify(&bytes).is_err());
}
