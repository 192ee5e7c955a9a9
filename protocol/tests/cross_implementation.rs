//! Cross-implementation exchange with the TypeScript protocol layer
//! (`web/src/protocol`): this test makes envelopes, grants, receipts,
//! certificates, holder key records, membership records, an attachment and
//! the fingerprints with keys both sides know, writes them to a JSON file,
//! and runs `web/test/interop/exchange.test.ts` under Node (Vitest), which
//! opens and verifies each one and writes objects of its own; this test
//! then opens and verifies those with the crate.
//!
//! Without Node or `web/node_modules` (run `npm ci` in `web/`) it prints
//! `SKIPPED (TypeScript interop): …` and passes, unless
//! `SAMTALE_REQUIRE_WEB=1` is set (CI), in which case it fails. The Node
//! binary is `node` on the PATH or `$SAMTALE_NODE`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use samtale_protocol::membership::{
    LogKind, Member, MembershipRecord, MembershipState, Operation, any_signer,
};
use samtale_protocol::payload::{
    AttachmentKey, AttachmentRef, MessagePayload, blob_sha256, open_referenced, seal_attachment,
};
use samtale_protocol::testing::{device_keys, holder_key, org_root};
use samtale_protocol::*;
use serde_json::{Value, json};

const T: u64 = 1_767_225_600;

fn seed(n: u8) -> [u8; 32] {
    std::array::from_fn(|i| n.wrapping_add(i as u8))
}

fn id16(n: u8) -> [u8; 16] {
    std::array::from_fn(|i| n.wrapping_add(i as u8))
}

fn h(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// Node and Vitest from `web/node_modules`, or why the exchange cannot run.
fn node_and_vitest() -> Result<(String, PathBuf, PathBuf), String> {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web");
    let vitest = web.join("node_modules/vitest/vitest.mjs");
    if !vitest.exists() {
        return Err(format!(
            "{} is missing (run `npm ci` in web/)",
            vitest.display()
        ));
    }
    let node = std::env::var("SAMTALE_NODE").unwrap_or_else(|_| "node".into());
    match Command::new(&node).arg("--version").output() {
        Ok(out) if out.status.success() => Ok((node, vitest, web)),
        _ => Err(format!("`{node}` (Node.js) cannot be run")),
    }
}

/// The keys and ids both sides know.
struct Cast {
    root: OrgRootKey,
    rust: DeviceKeys,
    ts: DeviceKeys,
    holders: Vec<HolderKeyPair>,
    org: OrgId,
    team: TeamId,
    thread: ThreadId,
    rust_message: MessageId,
    ts_message: MessageId,
    rust_account: AccountId,
    ts_account: AccountId,
}

fn cast() -> Cast {
    let holder = |n: u8, kind, epoch| {
        let id = HolderId::from_bytes(id16(n));
        holder_key(
            HolderEpoch { holder: id, epoch },
            kind,
            &seed(n.wrapping_add(0x10)),
        )
    };
    Cast {
        root: org_root(&seed(0x11)),
        rust: device_keys(&seed(0x21), &seed(0x31)),
        ts: device_keys(&seed(0x41), &seed(0x51)),
        holders: vec![
            holder(0x61, HolderKind::Team, 2),
            holder(0x62, HolderKind::Citizen, 0),
            holder(0x63, HolderKind::Archive, 1),
        ],
        org: OrgId::from_bytes(id16(0x81)),
        team: TeamId::from_bytes(id16(0x82)),
        thread: ThreadId::from_bytes(id16(0x83)),
        rust_message: MessageId::from_bytes(id16(0x84)),
        ts_message: MessageId::from_bytes(id16(0x85)),
        rust_account: AccountId::from_bytes(id16(0x86)),
        ts_account: AccountId::from_bytes(id16(0x87)),
    }
}

/// What the crate makes for the TypeScript side to open and verify.
fn from_rust(c: &Cast) -> Value {
    let certificate = DeviceCertificate::issue(
        &c.root,
        CertificateBody {
            org_id: c.org,
            org_name: "Randers Kommune".into(),
            device: c.rust.public(),
            staff_id: c.rust_account,
            staff_name: "Mette Jensen".into(),
            roles: Roles::STAFF,
            teams: vec![CertifiedTeam {
                id: c.team,
                name: "Jobcenter".into(),
            }],
            not_before: T - 86_400,
            not_after: T + 86_400,
        },
    )
    .unwrap();
    let file = "%PDF-1.7 bevilling fra Rust".as_bytes();
    let key = AttachmentKey::generate().unwrap();
    let blob = seal_attachment(&key, file).unwrap();
    let text = "Hej Sofie 👋 \"citat\"\n\tmøde i morgen — æøå ÆØÅ \u{7f}";
    let payload = MessagePayload {
        v: 1,
        text: text.into(),
        attachments: vec![AttachmentRef {
            id: AttachmentId::from_bytes(id16(0x88)),
            name: "bevilling.pdf".into(),
            media_type: "application/pdf".into(),
            size: file.len() as u64,
            blob_sha256: blob_sha256(&blob),
            key,
        }],
    }
    .to_bytes()
    .unwrap();
    let recipients: Vec<HolderPublicKey> = c.holders.iter().map(HolderKeyPair::public).collect();
    let envelope =
        Envelope::seal(&c.rust, c.thread, c.rust_message, &recipients, &payload).unwrap();
    let grant = Grant::issue(&c.rust, &c.holders[0], &c.ts.public().agreement, T).unwrap();
    let receipt = Receipt::sign(&c.rust, c.thread, 7, ReceiptKind::Read, T * 1000 + 123);
    let holder_record =
        HolderKeyRecord::sign(&c.rust, &c.holders[0].public(), *c.team.as_bytes(), T);
    let mut log = MembershipState::new(LogKind::DeviceList, *c.rust_account.as_bytes());
    let mut records = Vec::new();
    for member in [c.rust.public(), c.ts.public()] {
        let record = log.next_record(&c.rust, Operation::Add, Member::Device(member), T);
        log.apply(&record, &mut any_signer).unwrap();
        records.push(h(record.as_bytes()));
    }
    json!({
        "seeds": {
            "root": h(&seed(0x11)), "rust_signing": h(&seed(0x21)), "rust_agreement": h(&seed(0x31)),
            "ts_signing": h(&seed(0x41)), "ts_agreement": h(&seed(0x51)),
        },
        "ids": {
            "org": c.org.to_string(), "team": c.team.to_string(), "thread": c.thread.to_string(),
            "rust_message": c.rust_message.to_string(), "ts_message": c.ts_message.to_string(),
            "rust_account": c.rust_account.to_string(), "ts_account": c.ts_account.to_string(),
        },
        "holders": c.holders.iter().map(|k| json!({
            "holder": k.epoch().holder.to_string(), "epoch": k.epoch().epoch,
            "kind": k.kind(), "secret": h(&k.to_keystore_bytes()),
        })).collect::<Vec<_>>(),
        "rust": {
            "certificate": h(certificate.as_bytes()),
            "envelope": h(envelope.as_bytes()),
            "payload": h(&payload),
            "payload_text": text,
            "attachment_blob": h(&blob),
            "attachment_file": h(file),
            "grant": h(grant.as_bytes()),
            "receipt": h(receipt.as_bytes()),
            "holder_key_record": h(holder_record.as_bytes()),
            "records": records,
            "safety_number": safety_number_for_devices(
                (c.rust_account.as_bytes(), &[c.rust.public().identity]),
                (c.ts_account.as_bytes(), &[c.ts.public().identity, c.rust.public().identity]),
            ),
            "device_fingerprint": device_fingerprint(&c.ts.public().identity),
            "org_fingerprint": org_fingerprint(&c.root.public()),
            "eid_nonce": eid_nonce(&c.ts.public()),
        },
    })
}

/// Opens and verifies what the TypeScript side made.
fn check_from_typescript(c: &Cast, ts: &Value) {
    let ctx = DeliveryContext {
        thread_id: c.thread,
        message_id: c.ts_message,
    };
    let envelope = Envelope::decode(&bytes(&ts["envelope"])).unwrap();
    for holder in &c.holders {
        let opened = envelope.open(&ctx, holder).unwrap();
        assert_eq!(opened.sender, c.ts.public().identity);
        assert_eq!(h(&opened.payload), ts["payload"].as_str().unwrap());
    }
    let payload = MessagePayload::from_bytes(&bytes(&ts["payload"])).unwrap();
    assert_eq!(payload.text, ts["payload_text"].as_str().unwrap());
    assert_eq!(
        h(&payload.to_bytes().unwrap()),
        ts["payload"].as_str().unwrap(),
        "the two write the same payload bytes"
    );
    let file = open_referenced(&payload.attachments[0], &bytes(&ts["attachment_blob"])).unwrap();
    assert_eq!(h(&file), ts["attachment_file"].as_str().unwrap());

    // Refused: another thread, another message id, any flipped byte.
    let elsewhere = DeliveryContext {
        thread_id: ThreadId::from_bytes(id16(0x99)),
        ..ctx
    };
    assert_eq!(
        envelope.open(&elsewhere, &c.holders[0]).err(),
        Some(OpenError::WrongThread)
    );
    let other = DeliveryContext {
        message_id: c.rust_message,
        ..ctx
    };
    assert_eq!(
        envelope.open(&other, &c.holders[0]).err(),
        Some(OpenError::WrongMessage)
    );
    let original = bytes(&ts["envelope"]);
    for at in [40, original.len() / 2, original.len() - 1] {
        let mut flipped = original.clone();
        flipped[at] ^= 1;
        let refused = Envelope::decode(&flipped).map(|e| e.open(&ctx, &c.holders[0]).is_err());
        assert!(
            refused.unwrap_or(true),
            "a flipped byte at {at} was accepted"
        );
    }

    let grant = Grant::decode(&bytes(&ts["grant"])).unwrap();
    let opened = grant.open(&c.rust).unwrap();
    assert_eq!(opened.public(), c.holders[1].public());
    assert_eq!(grant.open(&c.ts).err(), Some(GrantError::NotForThisDevice));

    let receipt = Receipt::decode_and_verify(&bytes(&ts["receipt"])).unwrap();
    assert_eq!(
        (
            receipt.thread_id,
            receipt.up_to_seq,
            receipt.kind,
            receipt.at_ms,
            receipt.device
        ),
        (
            c.thread,
            9,
            ReceiptKind::Delivered,
            1_767_225_700_456,
            c.ts.public().identity
        )
    );

    let certificate = DeviceCertificate::decode(&bytes(&ts["certificate"])).unwrap();
    let body = certificate
        .verify_signer(&c.root.public(), T, &c.ts.public().identity)
        .unwrap();
    assert_eq!(body.staff_name, "Søren Ærø");
    assert_eq!(body.roles, Roles::STAFF.union(Roles::ADMIN));
    assert_eq!(
        body.teams,
        vec![CertifiedTeam {
            id: c.team,
            name: "Børn og Unge".into()
        }]
    );

    let record = HolderKeyRecord::decode_and_verify(&bytes(&ts["holder_key_record"])).unwrap();
    assert_eq!(
        (*record.key(), *record.signer(), *record.owner()),
        (
            c.holders[1].public(),
            c.ts.public().identity,
            *c.ts_account.as_bytes()
        )
    );

    let records: Vec<MembershipRecord> = ts["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| MembershipRecord::decode(&bytes(r)).unwrap())
        .collect();
    let log = MembershipState::replay(
        LogKind::DeviceList,
        *c.rust_account.as_bytes(),
        &records,
        &mut any_signer,
    )
    .unwrap();
    assert_eq!(log.members(), &[Member::Device(c.ts.public())]);

    assert_eq!(
        ts["safety_number"].as_str().unwrap(),
        safety_number_for_devices(
            (c.ts_account.as_bytes(), &[c.ts.public().identity]),
            (c.rust_account.as_bytes(), &[c.rust.public().identity])
        )
    );
    assert_eq!(
        ts["device_fingerprint"].as_str().unwrap(),
        device_fingerprint(&c.rust.public().identity)
    );
    assert_eq!(
        ts["eid_nonce"].as_str().unwrap(),
        eid_nonce(&c.rust.public())
    );
}

#[test]
fn objects_made_by_either_implementation_open_and_verify_in_the_other() {
    let (node, vitest, web) = match node_and_vitest() {
        Ok(found) => found,
        Err(why) if std::env::var_os("SAMTALE_REQUIRE_WEB").is_some_and(|v| v == "1") => {
            panic!("the TypeScript interop test must run (SAMTALE_REQUIRE_WEB=1), but {why}")
        }
        Err(why) => {
            println!(
                "SKIPPED (TypeScript interop): {why}; set SAMTALE_REQUIRE_WEB=1 to make this a failure"
            );
            eprintln!("SKIPPED (TypeScript interop): {why}");
            return;
        }
    };
    let c = cast();
    let dir = std::env::temp_dir().join(format!(
        "samtale-interop-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("from_rust.json"),
        serde_json::to_string_pretty(&from_rust(&c)).unwrap(),
    )
    .unwrap();

    let out = Command::new(&node)
        .arg(&vitest)
        .args(["run", "test/interop/exchange.test.ts"])
        .current_dir(&web)
        .env("SAMTALE_INTEROP_DIR", &dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "the TypeScript side refused what Rust made:\n{report}"
    );
    assert!(
        report.contains("6 passed"),
        "the TypeScript side did not run all its checks:\n{report}"
    );

    let ts: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("from_typescript.json")).unwrap())
            .unwrap();
    check_from_typescript(&c, &ts);
    std::fs::remove_dir_all(&dir).ok();
}
