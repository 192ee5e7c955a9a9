//! Conformance vectors: deterministic inputs, every intermediate value an
//! implementer needs, and the exact output bytes, in `tests/vectors/*.json`.
//! This test regenerates them with the crate and compares byte for byte, and
//! opens the committed objects again. Set `SAMTALE_WRITE_VECTORS=1` to
//! rewrite the files after a deliberate format change (and bump the version).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use hkdf::Hkdf;
use samtale_protocol::membership::{
    LogKind, Member, MembershipRecord, MembershipState, Operation, any_signer,
};
use samtale_protocol::testing::{device_keys, holder_key, org_root};
use samtale_protocol::*;
use serde_json::{Value, json};

mod common;
use common::{arr, bytes_of, check, committed, h, seq};
use sha2::Sha256;

struct Holder {
    pair: HolderKeyPair,
    secret: [u8; 32],
}

fn envelope_holders() -> Vec<Holder> {
    [
        (HolderKind::Team, 0x10u8, 3u32),
        (HolderKind::Citizen, 0x20, 0),
        (HolderKind::Archive, 0x30, 1),
    ]
    .into_iter()
    .map(|(kind, start, epoch)| {
        let secret = arr::<32>(start.wrapping_add(0x80));
        let pair = holder_key(
            HolderEpoch {
                holder: HolderId::from_bytes(arr(start)),
                epoch,
            },
            kind,
            &secret,
        );
        Holder { pair, secret }
    })
    .collect()
}

#[test]
fn envelope_vector() {
    let signing_seed = arr::<32>(0x01);
    let agreement = arr::<32>(0x41);
    let sender = device_keys(&signing_seed, &agreement);
    let thread_id = ThreadId::from_bytes(arr(0x61));
    let message_id = MessageId::from_bytes(arr(0x71));
    let holders = envelope_holders();
    let publics: Vec<_> = holders.iter().map(|h| h.pair.public()).collect();
    let payload = "{\"v\":1,\"text\":\"Hej Sofie, husk mødet i morgen kl. 10.\"}".as_bytes();
    // A valid payload (PROTOCOL.md §4.4), as every client writes it.
    assert_eq!(
        samtale_protocol::payload::MessagePayload::from_bytes(payload)
            .unwrap()
            .text,
        "Hej Sofie, husk mødet i morgen kl. 10."
    );
    let randomness = seq(0xa0, 32 * (1 + holders.len()));
    let envelope = Envelope::seal_with_fixed_randomness(
        &randomness,
        &sender,
        thread_id,
        message_id,
        &publics,
        payload,
    )
    .unwrap();
    let bytes = envelope.as_bytes();

    // Intermediate values, derived independently of the crate's internals.
    let k = &randomness[..32];
    let mut okm = [0u8; 64];
    Hkdf::<Sha256>::new(None, k)
        .expand(b"samtale/v1/payload", &mut okm)
        .unwrap();
    let header_len = 2 + 16 + 16 + 32 + 32 + 1 + 20 * holders.len();
    assert_eq!(
        &bytes[2 + 16 + 16 + 32..2 + 16 + 16 + 32 + 32],
        &okm[32..],
        "key commitment"
    );
    let wrapped_at = header_len;
    let ct_len_at = wrapped_at + 80 * holders.len();
    let ct_len = u32::from_be_bytes(bytes[ct_len_at..ct_len_at + 4].try_into().unwrap()) as usize;
    let recipients: Vec<Value> = holders
        .iter()
        .enumerate()
        .map(|(i, hld)| {
            let p = hld.pair.public();
            let at = wrapped_at + 80 * i;
            json!({
                "holder_id": p.holder.to_string(),
                "epoch": p.epoch,
                "kind": p.kind,
                "private_key": h(&hld.secret),
                "public_key": h(&p.key.to_bytes()),
                "hpke_ikm_e": h(&randomness[32 * (i + 1)..32 * (i + 2)]),
                "enc": h(&bytes[at..at + 32]),
                "sealed_content_key": h(&bytes[at + 32..at + 80]),
            })
        })
        .collect();
    let value = json!({
        "description": "An envelope from a staff device to a team key (epoch 3), a citizen key (epoch 0) and the archive key (epoch 1). Randomness: the content key K, then one HPKE ephemeral IKM per recipient, in recipient order.",
        "sender": {
            "ed25519_seed": h(&signing_seed),
            "ed25519_public_key": h(&sender.public().identity.to_bytes()),
        },
        "thread_id": thread_id.to_string(),
        "message_id": message_id.to_string(),
        "payload_utf8": std::str::from_utf8(payload).unwrap(),
        "payload": h(payload),
        "content_key": h(k),
        "payload_key": h(&okm[..32]),
        "key_commitment": h(&okm[32..]),
        "recipients": recipients,
        "header": h(&bytes[..header_len]),
        "payload_ciphertext": h(&bytes[ct_len_at + 4..ct_len_at + 4 + ct_len]),
        "signature": h(&bytes[bytes.len() - 64..]),
        "envelope": h(bytes),
        "envelope_base64url": b64::encode(bytes),
    });
    check("envelope.json", &value);

    // The committed bytes open for every recipient, in the right context only.
    let v = committed("envelope.json");
    let decoded = Envelope::decode(&bytes_of(&v["envelope"])).unwrap();
    let ctx = DeliveryContext {
        thread_id,
        message_id,
    };
    for hld in &holders {
        assert_eq!(&decoded.open(&ctx, &hld.pair).unwrap().payload[..], payload);
    }
}

#[test]
fn grant_vector() {
    let granter = device_keys(&arr(0x02), &arr(0x42));
    let recipient_secret = arr::<32>(0x52);
    let recipient = device_keys(&arr(0x12), &recipient_secret);
    let holder_secret = arr::<32>(0x92);
    let holder = holder_key(
        HolderEpoch {
            holder: HolderId::from_bytes(arr(0x22)),
            epoch: 7,
        },
        HolderKind::Team,
        &holder_secret,
    );
    let ikm = seq(0xc0, 32);
    let grant = Grant::issue_with_fixed_randomness(
        &ikm,
        &granter,
        &holder,
        &recipient.public().agreement,
        1_767_225_600,
    )
    .unwrap();
    let bytes = grant.as_bytes();
    let value = json!({
        "description": "A grant of a team key (epoch 7) from one device to another.",
        "granter_ed25519_seed": h(&arr::<32>(0x02)),
        "granter_ed25519_public_key": h(&granter.public().identity.to_bytes()),
        "recipient_x25519_private_key": h(&recipient_secret),
        "recipient_x25519_public_key": h(&recipient.public().agreement.to_bytes()),
        "holder_id": holder.epoch().holder.to_string(),
        "holder_kind": holder.kind(),
        "epoch": 7,
        "holder_private_key": h(&holder_secret),
        "holder_public_key": h(&holder.public().key.to_bytes()),
        "issued_at": 1_767_225_600u64,
        "hpke_ikm_e": h(&ikm),
        "header": h(&bytes[..127]),
        "enc": h(&bytes[127..159]),
        "sealed_private_key": h(&bytes[159..207]),
        "signature": h(&bytes[207..]),
        "grant": h(bytes),
    });
    check("grant.json", &value);
    let v = committed("grant.json");
    let opened = Grant::decode(&bytes_of(&v["grant"]))
        .unwrap()
        .open(&recipient)
        .unwrap();
    assert_eq!(opened.public(), holder.public());
}

#[test]
fn certificate_vector() {
    let root_seed = arr::<32>(0x03);
    let root = org_root(&root_seed);
    let device = device_keys(&arr(0x13), &arr(0x53));
    let body = CertificateBody {
        org_id: OrgId::from_bytes(arr(0x23)),
        org_name: "Randers Kommune".into(),
        device: device.public(),
        staff_id: AccountId::from_bytes(arr(0x33)),
        staff_name: "Mette Jensen".into(),
        roles: Roles::STAFF.union(Roles::RECORD_CLERK),
        teams: vec![
            CertifiedTeam {
                id: TeamId::from_bytes(arr(0x43)),
                name: "Jobcenter".into(),
            },
            CertifiedTeam {
                id: TeamId::from_bytes(arr(0x63)),
                name: "Familieplejen".into(),
            },
        ],
        not_before: 1_767_225_600,
        not_after: 1_798_761_600,
    };
    let cert = DeviceCertificate::issue(&root, body).unwrap();
    let value = json!({
        "description": "The organisation root certifies a staff device (roles staff + record clerk, two teams).",
        "root_ed25519_seed": h(&root_seed),
        "root_ed25519_public_key": h(&root.public().to_bytes()),
        "root_fingerprint": org_fingerprint(&root.public()),
        "device_ed25519_public_key": h(&device.public().identity.to_bytes()),
        "device_x25519_public_key": h(&device.public().agreement.to_bytes()),
        "org_id": "23242526-2728-292a-2b2c-2d2e2f303132",
        "org_name": "Randers Kommune",
        "staff_id": "33343536-3738-393a-3b3c-3d3e3f404142",
        "staff_name": "Mette Jensen",
        "roles": 3,
        "teams": [
            { "id": TeamId::from_bytes(arr(0x43)).to_string(), "name": "Jobcenter" },
            { "id": TeamId::from_bytes(arr(0x63)).to_string(), "name": "Familieplejen" },
        ],
        "not_before": 1_767_225_600u64,
        "not_after": 1_798_761_600u64,
        "certificate": h(cert.as_bytes()),
    });
    check("certificate.json", &value);
    let v = committed("certificate.json");
    let decoded = DeviceCertificate::decode(&bytes_of(&v["certificate"])).unwrap();
    assert_eq!(
        decoded
            .verify(&root.public(), 1_780_000_000)
            .unwrap()
            .staff_name,
        "Mette Jensen"
    );
}

#[test]
fn safety_number_vector() {
    let a = device_keys(&arr(0x04), &arr(0x44));
    let b = device_keys(&arr(0x14), &arr(0x54));
    let (id_a, id_b) = (
        AccountId::from_bytes(arr(0x24)),
        AccountId::from_bytes(arr(0x34)),
    );
    let number = safety_number(
        (id_a.as_bytes(), &a.public().identity),
        (id_b.as_bytes(), &b.public().identity),
    );
    let value = json!({
        "description": "A safety number for two accounts (stable id = the account id's 16 bytes).",
        "a": { "stable_id": h(id_a.as_bytes()), "ed25519_public_key": h(&a.public().identity.to_bytes()) },
        "b": { "stable_id": h(id_b.as_bytes()), "ed25519_public_key": h(&b.public().identity.to_bytes()) },
        "safety_number": number,
    });
    check("safety_number.json", &value);
}

#[test]
fn membership_and_receipt_vectors() {
    let a = device_keys(&arr(0x05), &arr(0x45));
    let b = device_keys(&arr(0x15), &arr(0x55));
    let subject = arr::<16>(0x25);
    let mut state = MembershipState::new(LogKind::DeviceList, subject);
    let mut records = Vec::new();
    for (signer, op, member) in [
        (&a, Operation::Add, Member::Device(a.public())),
        (&a, Operation::Add, Member::Device(b.public())),
        (&b, Operation::Remove, Member::Device(a.public())),
    ] {
        let record = state.next_record(signer, op, member, 1_767_225_600 + records.len() as u64);
        state.apply(&record, &mut any_signer).unwrap();
        records.push(record);
    }
    let receipt = Receipt::sign(
        &b,
        ThreadId::from_bytes(arr(0x65)),
        12,
        ReceiptKind::Read,
        1_767_225_600_123,
    );
    let holder = holder_key(
        HolderEpoch {
            holder: HolderId::from_bytes(arr(0x75)),
            epoch: 2,
        },
        HolderKind::Citizen,
        &arr(0x85),
    );
    let holder_record = HolderKeyRecord::sign(&b, &holder.public(), arr(0x25), 1_767_225_600);
    let value = json!({
        "description": "A device list: device A adds itself, adds device B, then B removes A. A read receipt and a holder key record signed by B.",
        "device_a_ed25519_seed": h(&arr::<32>(0x05)),
        "device_b_ed25519_seed": h(&arr::<32>(0x15)),
        "subject": h(&subject),
        "records": records.iter().map(|r| json!({ "record": h(r.as_bytes()), "hash": h(&r.hash()) })).collect::<Vec<_>>(),
        "final_members": [{
            "ed25519_public_key": h(&b.public().identity.to_bytes()),
            "x25519_public_key": h(&b.public().agreement.to_bytes()),
        }],
        "receipt": h(receipt.as_bytes()),
        "holder_key_record": h(holder_record.as_bytes()),
    });
    check("membership_receipt_holder_key.json", &value);
    let v = committed("membership_receipt_holder_key.json");
    let decoded: Vec<_> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| MembershipRecord::decode(&bytes_of(&r["record"])).unwrap())
        .collect();
    let replayed =
        MembershipState::replay(LogKind::DeviceList, subject, &decoded, &mut any_signer).unwrap();
    assert_eq!(replayed.members(), &[Member::Device(b.public())]);
    assert!(Receipt::decode_and_verify(&bytes_of(&v["receipt"])).is_ok());
    assert!(HolderKeyRecord::decode_and_verify(&bytes_of(&v["holder_key_record"])).is_ok());
}
