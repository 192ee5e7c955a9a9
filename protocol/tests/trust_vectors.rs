//! Vectors for everything a client computes and checks beyond the sealed
//! objects (PROTOCOL.md §3, §4.4–4.5, §7, §8, §10): the eID nonce, device
//! fingerprints, an attachment blob, a valid payload, multi-device safety
//! numbers (`derived.json`); and a whole organisation's signed logs — staff
//! device lists, a team's member list, a citizen's device list with an
//! approval, a removal and a reset, a thread's participant list — with
//! certified holder epochs (the archive by a clerk's device and by the root)
//! and the changes each log's policy must refuse (`trust.json`).
//!
//! Like `conformance.rs`, this regenerates the files and compares them byte
//! for byte (`SAMTALE_WRITE_VECTORS=1` rewrites them), then checks the
//! committed bytes with the crate's verifier. `tests/interop/verify_vectors.py`
//! re-derives all of it independently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{arr, bytes_of, check, committed, h};
use samtale_protocol::membership::{LogKind, Member, MembershipRecord, MembershipState, Operation};
use samtale_protocol::payload::{MessagePayload, blob_sha256, open_attachment, seal_attachment};
use samtale_protocol::testing::{device_keys, holder_key, org_root};
use samtale_protocol::trust::{Directory, HolderOwner, Served, TrustError};
use samtale_protocol::*;
use serde_json::{Value, json};

/// The time every verification in `trust.json` is done at.
const NOW: u64 = 1_767_225_700;
const T: u64 = 1_767_225_600;

#[test]
fn derived_vector() {
    let device = device_keys(&arr(0x09), &arr(0x49));
    let phone = device_keys(&arr(0x19), &arr(0x59));
    let tablet = device_keys(&arr(0x29), &arr(0x69));
    let key_bytes = arr::<32>(0x79);
    let key: payload::AttachmentKey =
        serde_json::from_value(json!(b64::encode(&key_bytes))).unwrap();
    let file = "%PDF-1.7 bevilling for Maja".as_bytes();
    let blob = seal_attachment(&key, file).unwrap();
    let attachment_id = AttachmentId::from_bytes(arr(0x89));
    let payload_json = format!(
        "{{\"v\":1,\"text\":\"Her er bevillingen.\",\"attachments\":[{{\"id\":\"{attachment_id}\",\"name\":\"bevilling.pdf\",\"media_type\":\"application/pdf\",\"size\":{},\"blob_sha256\":\"{}\",\"key\":\"{}\"}}]}}",
        file.len(),
        blob_sha256(&blob),
        b64::encode(&key_bytes)
    );
    let parsed = MessagePayload::from_bytes(payload_json.as_bytes()).unwrap();
    assert_eq!(parsed.attachments[0].name, "bevilling.pdf");
    let (maja, mette) = (
        AccountId::from_bytes(arr(0x99)),
        AccountId::from_bytes(arr(0xa9)),
    );
    let value = json!({
        "description": "Values a client derives: the eID nonce of a device (PROTOCOL.md §3), its fingerprint (§10), an attachment blob (§4.5) and a payload referring to it (§4.4), and the safety number of a citizen with two devices and a caseworker with one (§10).",
        "device": {
            "ed25519_public_key": h(&device.public().identity.to_bytes()),
            "x25519_public_key": h(&device.public().agreement.to_bytes()),
            "eid_nonce": eid_nonce(&device.public()),
            "fingerprint": device_fingerprint(&device.public().identity),
        },
        "attachment": {
            "key": h(&key_bytes),
            "file": h(file),
            "blob": h(&blob),
            "blob_sha256": blob_sha256(&blob),
        },
        "payload_utf8": payload_json,
        "payload_text": "Her er bevillingen.",
        "safety_number": {
            "a": {
                "stable_id": h(maja.as_bytes()),
                "ed25519_public_keys": [h(&phone.public().identity.to_bytes()), h(&tablet.public().identity.to_bytes())],
            },
            "b": {
                "stable_id": h(mette.as_bytes()),
                "ed25519_public_keys": [h(&device.public().identity.to_bytes())],
            },
            "safety_number": safety_number_for_devices(
                (maja.as_bytes(), &[phone.public().identity, tablet.public().identity]),
                (mette.as_bytes(), &[device.public().identity]),
            ),
        },
    });
    check("derived.json", &value);
    let v = committed("derived.json");
    let back = open_attachment(&key, &bytes_of(&v["attachment"]["blob"])).unwrap();
    assert_eq!(&back[..], file);
}

/// The cast of `trust.json`.
struct Org {
    root: OrgRootKey,
    org: OrgId,
    team: TeamId,
    thread: ThreadId,
    admin: (AccountId, DeviceKeys, DeviceCertificate),
    staff: (AccountId, DeviceKeys, DeviceCertificate),
    clerk: (AccountId, DeviceKeys, DeviceCertificate),
    staff2: AccountId,
    citizen: AccountId,
    phone: DeviceKeys,
    tablet: DeviceKeys,
    laptop: DeviceKeys,
}

fn certify(
    root: &OrgRootKey,
    org: OrgId,
    account: AccountId,
    device: &DeviceKeys,
    name: &str,
    roles: Roles,
    teams: Vec<CertifiedTeam>,
) -> DeviceCertificate {
    DeviceCertificate::issue(
        root,
        CertificateBody {
            org_id: org,
            org_name: "Randers Kommune".into(),
            device: device.public(),
            staff_id: account,
            staff_name: name.into(),
            roles,
            teams,
            not_before: T - 86_400,
            not_after: T + 365 * 86_400,
        },
    )
    .unwrap()
}

fn org() -> Org {
    let root = org_root(&arr(0x07));
    let org = OrgId::from_bytes(arr(0x17));
    let team = TeamId::from_bytes(arr(0x27));
    let member = |start: u8, seed: u8, name: &str, roles: Roles, teams: Vec<CertifiedTeam>| {
        let account = AccountId::from_bytes(arr(start));
        let device = device_keys(&arr(seed), &arr(seed.wrapping_add(0x40)));
        let cert = certify(&root, org, account, &device, name, roles, teams);
        (account, device, cert)
    };
    let jobcenter = vec![CertifiedTeam {
        id: team,
        name: "Familieafdelingen".into(),
    }];
    Org {
        admin: member(0x47, 0x08, "Anne Admin", Roles::ADMIN, vec![]),
        staff: member(0x57, 0x18, "Mette Jensen", Roles::STAFF, jobcenter),
        clerk: member(0x67, 0x28, "Rita Clerk", Roles::RECORD_CLERK, vec![]),
        staff2: AccountId::from_bytes(arr(0x77)),
        citizen: AccountId::from_bytes(arr(0x87)),
        phone: device_keys(&arr(0x38), &arr(0x78)),
        tablet: device_keys(&arr(0x98), &arr(0xa8)),
        laptop: device_keys(&arr(0xb8), &arr(0xc8)),
        thread: ThreadId::from_bytes(arr(0x37)),
        root,
        org,
        team,
    }
}

/// Who signs a record: the root or a device.
enum By<'a> {
    Root,
    Device(&'a DeviceKeys),
}

fn record(
    state: &MembershipState,
    by: &By<'_>,
    op: Operation,
    member: Member,
    at: u64,
    o: &Org,
) -> MembershipRecord {
    match by {
        By::Root => state.next_record_by_root(&o.root, op, member, at),
        By::Device(d) => state.next_record(d, op, member, at),
    }
}

/// Builds a log from its changes (without policy: the vector's point is
/// that the verifier's policy accepts exactly these).
fn build(
    log: LogKind,
    subject: [u8; 16],
    changes: &[(By<'_>, Operation, Member, u64)],
    o: &Org,
) -> Vec<MembershipRecord> {
    let mut state = MembershipState::new(log, subject);
    let mut out = Vec::new();
    for (by, op, member, at) in changes {
        let r = record(&state, by, *op, *member, *at, o);
        state
            .apply(&r, &mut samtale_protocol::membership::any_signer)
            .unwrap();
        out.push(r);
    }
    out
}

fn signer_name(r: &MembershipRecord, o: &Org) -> &'static str {
    let s = r.signer();
    if o.root.public().is(s) {
        "root"
    } else if *s == o.admin.1.public().identity {
        "admin_device"
    } else if *s == o.staff.1.public().identity {
        "staff_device"
    } else if *s == o.clerk.1.public().identity {
        "clerk_device"
    } else if *s == o.phone.public().identity {
        "phone"
    } else if *s == o.tablet.public().identity {
        "tablet"
    } else if *s == o.laptop.public().identity {
        "laptop"
    } else {
        "ghost"
    }
}

fn cert_of<'a>(signer: &str, o: &'a Org) -> Option<&'a DeviceCertificate> {
    match signer {
        "admin_device" => Some(&o.admin.2),
        "staff_device" => Some(&o.staff.2),
        "clerk_device" => Some(&o.clerk.2),
        _ => None,
    }
}

fn member_json(m: &Member) -> Value {
    match m {
        Member::Device(d) => json!({
            "device": {
                "ed25519_public_key": h(&d.identity.to_bytes()),
                "x25519_public_key": h(&d.agreement.to_bytes()),
            }
        }),
        Member::Staff(a) => json!({ "staff": a.to_string() }),
        Member::Citizen(a) => json!({ "citizen": a.to_string() }),
        Member::Team(t) => json!({ "team": t.to_string() }),
        Member::Holder(x) => json!({ "holder": x.to_string() }),
    }
}

fn op_name(op: Operation) -> &'static str {
    match op {
        Operation::Add => "add",
        Operation::Remove => "remove",
        Operation::Reset => "reset",
    }
}

fn log_json(records: &[MembershipRecord], o: &Org) -> Value {
    Value::Array(
        records
            .iter()
            .map(|r| {
                let signer = signer_name(r, o);
                json!({
                    "seq": r.seq(),
                    "operation": op_name(r.operation()),
                    "member": member_json(r.member()),
                    "issued_at": r.issued_at(),
                    "signer": signer,
                    "record": h(r.as_bytes()),
                    "hash": h(&r.hash()),
                    "signer_certificate": cert_of(signer, o).map(|c| h(c.as_bytes())),
                })
            })
            .collect(),
    )
}

fn served(records: &[MembershipRecord], o: &Org) -> Vec<Served<MembershipRecord>> {
    records
        .iter()
        .map(|r| Served::new(r.clone(), cert_of(signer_name(r, o), o).cloned()))
        .collect()
}

fn holder_served(records: &[HolderKeyRecord], o: &Org) -> Vec<Served<HolderKeyRecord>> {
    records
        .iter()
        .map(|r| {
            let name = if o.root.public().is(r.signer()) {
                "root"
            } else if *r.signer() == o.staff.1.public().identity {
                "staff_device"
            } else if *r.signer() == o.clerk.1.public().identity {
                "clerk_device"
            } else {
                "citizen device"
            };
            Served::new(r.clone(), cert_of(name, o).cloned())
        })
        .collect()
}

fn holder_json(records: &[HolderKeyRecord], secrets: &[[u8; 32]], o: &Org) -> Value {
    Value::Array(
        records
            .iter()
            .zip(secrets)
            .zip(holder_served(records, o))
            .map(|((r, secret), s)| {
                json!({
                    "epoch": r.key().epoch,
                    "private_key": h(secret),
                    "public_key": h(&r.key().key.to_bytes()),
                    "created_at": r.created_at(),
                    "signer_ed25519_public_key": h(&r.signer().to_bytes()),
                    "record": h(r.as_bytes()),
                    "signer_certificate": s.certificate.map(|c| h(c.as_bytes())),
                })
            })
            .collect(),
    )
}

fn holder_records(
    holder: HolderId,
    kind: HolderKind,
    owner: [u8; 16],
    epochs: &[(By<'_>, u64, u8)],
    o: &Org,
) -> (Vec<HolderKeyRecord>, Vec<[u8; 32]>) {
    let mut records = Vec::new();
    let mut secrets = Vec::new();
    for (epoch, (by, at, seed)) in epochs.iter().enumerate() {
        let secret = arr::<32>(*seed);
        let pair = holder_key(
            HolderEpoch {
                holder,
                epoch: u32::try_from(epoch).unwrap(),
            },
            kind,
            &secret,
        );
        records.push(match by {
            By::Root => HolderKeyRecord::sign_by_root(&o.root, &pair.public(), owner, *at),
            By::Device(d) => HolderKeyRecord::sign(d, &pair.public(), owner, *at),
        });
        secrets.push(secret);
    }
    (records, secrets)
}

/// A refused change: what the verifier must say.
fn refusal(name: &str, log: &str, error: &TrustError) -> Value {
    let (category, at) = match error {
        TrustError::Log { error, .. } => {
            use samtale_protocol::membership::MembershipError as E;
            let category = match error {
                E::Unauthorized { .. } => "unauthorized",
                E::InvalidReset { .. } => "invalid_reset",
                E::TimeWentBackwards { .. } => "time_went_backwards",
                E::AlreadyMember { .. } => "already_member",
                E::NotAMember { .. } => "not_a_member",
                E::BadSignature { .. } => "bad_signature",
                E::BrokenLink { .. } => "broken_link",
                E::OutOfOrder { .. } => "out_of_order",
                E::WrongLog { .. } | E::WrongSubject { .. } => "wrong_log",
                E::Malformed(_) => "malformed",
            };
            (category, json!({ "seq": error.seq() }))
        }
        TrustError::HolderKey { epoch, .. } => ("holder_key", json!({ "epoch": epoch })),
        other => panic!("unexpected {other}"),
    };
    json!({ "name": name, "log": log, "error": category, "at": at, "message": error.to_string() })
}

#[test]
fn trust_vector() {
    let o = org();
    let dev = |d: &DeviceKeys| Member::Device(d.public());
    // Staff device lists: the root adds each certified device.
    let admin_log = build(
        LogKind::DeviceList,
        *o.admin.0.as_bytes(),
        &[(By::Root, Operation::Add, dev(&o.admin.1), T)],
        &o,
    );
    let staff_log = build(
        LogKind::DeviceList,
        *o.staff.0.as_bytes(),
        &[(By::Root, Operation::Add, dev(&o.staff.1), T + 1)],
        &o,
    );
    let clerk_log = build(
        LogKind::DeviceList,
        *o.clerk.0.as_bytes(),
        &[(By::Root, Operation::Add, dev(&o.clerk.1), T + 2)],
        &o,
    );
    // The team: the root adds Mette; the admin's device adds and removes a colleague.
    let team_log = build(
        LogKind::TeamMembers,
        *o.team.as_bytes(),
        &[
            (By::Root, Operation::Add, Member::Staff(o.staff.0), T + 3),
            (
                By::Device(&o.admin.1),
                Operation::Add,
                Member::Staff(o.staff2),
                T + 4,
            ),
            (
                By::Device(&o.admin.1),
                Operation::Remove,
                Member::Staff(o.staff2),
                T + 5,
            ),
        ],
        &o,
    );
    // The citizen: the phone adds itself and approves the tablet; the
    // tablet removes the lost phone; later the laptop resets the list.
    let citizen_log = build(
        LogKind::DeviceList,
        *o.citizen.as_bytes(),
        &[
            (By::Device(&o.phone), Operation::Add, dev(&o.phone), T + 6),
            (By::Device(&o.phone), Operation::Add, dev(&o.tablet), T + 7),
            (
                By::Device(&o.tablet),
                Operation::Remove,
                dev(&o.phone),
                T + 8,
            ),
            (
                By::Device(&o.laptop),
                Operation::Reset,
                dev(&o.laptop),
                T + 9,
            ),
        ],
        &o,
    );
    let archive = HolderId::from_bytes(arr(0x97));
    let thread_log = build(
        LogKind::ThreadParticipants,
        *o.thread.as_bytes(),
        &[
            (
                By::Device(&o.staff.1),
                Operation::Add,
                Member::Team(o.team),
                T + 10,
            ),
            (
                By::Device(&o.staff.1),
                Operation::Add,
                Member::Holder(archive),
                T + 10,
            ),
            (
                By::Device(&o.staff.1),
                Operation::Add,
                Member::Citizen(o.citizen),
                T + 10,
            ),
        ],
        &o,
    );
    let (team_keys, team_secrets) = holder_records(
        HolderId::from_bytes(arr(0xa7)),
        HolderKind::Team,
        *o.team.as_bytes(),
        &[(By::Device(&o.staff.1), T + 11, 0xd0)],
        &o,
    );
    let (citizen_keys, citizen_secrets) = holder_records(
        HolderId::from_bytes(arr(0xb7)),
        HolderKind::Citizen,
        *o.citizen.as_bytes(),
        &[
            (By::Device(&o.phone), T + 6, 0xd1),
            (By::Device(&o.laptop), T + 12, 0xd2),
        ],
        &o,
    );
    let (archive_keys, archive_secrets) = holder_records(
        archive,
        HolderKind::Archive,
        *o.org.as_bytes(),
        &[
            (By::Device(&o.clerk.1), T + 13, 0xd3),
            (By::Root, T + 14, 0xd4),
        ],
        &o,
    );

    // What the verifier concludes.
    let mut dir = Directory::new(o.root.public(), o.org);
    dir.add_staff_device_log(o.admin.0, &admin_log).unwrap();
    dir.add_staff_device_log(o.staff.0, &staff_log).unwrap();
    dir.add_staff_device_log(o.clerk.0, &clerk_log).unwrap();
    let team_state = dir
        .add_team_log(o.team, &served(&team_log, &o))
        .unwrap()
        .clone();
    let citizen_state = dir
        .add_citizen_device_log(o.citizen, &served(&citizen_log, &o))
        .unwrap()
        .clone();
    let thread_state = dir
        .verify_participants(o.thread, &served(&thread_log, &o))
        .unwrap();
    let team_holder = dir
        .verify_holder(
            HolderOwner::Team(o.team),
            &holder_served(&team_keys, &o),
            NOW,
        )
        .unwrap();
    let citizen_holder = dir
        .verify_holder(
            HolderOwner::Citizen(o.citizen),
            &holder_served(&citizen_keys, &o),
            NOW,
        )
        .unwrap();
    let archive_holder = dir
        .verify_holder(HolderOwner::Archive, &holder_served(&archive_keys, &o), NOW)
        .unwrap();
    assert_eq!(team_state.members(), &[Member::Staff(o.staff.0)]);
    assert_eq!(citizen_state.members(), &[dev(&o.laptop)]);
    assert_eq!(archive_holder.current().key, archive_keys[1].key().clone());

    // What each policy must refuse.
    let mut refusals = Vec::new();
    {
        // Team: a staff device (not an admin's) adds a member.
        let mut bad = team_log.clone();
        let state = MembershipState::replay(
            LogKind::TeamMembers,
            *o.team.as_bytes(),
            &bad,
            &mut samtale_protocol::membership::any_signer,
        )
        .unwrap();
        bad.push(record(
            &state,
            &By::Device(&o.staff.1),
            Operation::Add,
            Member::Staff(o.staff2),
            T + 20,
            &o,
        ));
        let e = dir
            .clone()
            .add_team_log(o.team, &served(&bad, &o))
            .err()
            .unwrap();
        refusals.push((
            refusal(
                "a staff device that is not an admin's changes the team",
                "team",
                &e,
            ),
            bad,
        ));
    }
    {
        // Citizen: a device not in the list adds another (a ghost the server slipped in).
        let ghost = device_keys(&arr(0xe8), &arr(0xf8));
        let mut bad = citizen_log[..2].to_vec();
        let state = MembershipState::replay(
            LogKind::DeviceList,
            *o.citizen.as_bytes(),
            &bad,
            &mut samtale_protocol::membership::any_signer,
        )
        .unwrap();
        bad.push(record(
            &state,
            &By::Device(&ghost),
            Operation::Add,
            dev(&ghost),
            T + 20,
            &o,
        ));
        let e = dir
            .clone()
            .add_citizen_device_log(o.citizen, &served(&bad, &o))
            .err()
            .unwrap();
        refusals.push((
            refusal("a device not in the citizen's list adds one", "citizen", &e),
            bad,
        ));
    }
    {
        // Citizen: a reset signed by another key than the device it keeps.
        let mut bad = citizen_log[..3].to_vec();
        let state = MembershipState::replay(
            LogKind::DeviceList,
            *o.citizen.as_bytes(),
            &bad,
            &mut samtale_protocol::membership::any_signer,
        )
        .unwrap();
        bad.push(record(
            &state,
            &By::Device(&o.tablet),
            Operation::Reset,
            dev(&o.laptop),
            T + 20,
            &o,
        ));
        let e = dir
            .clone()
            .add_citizen_device_log(o.citizen, &served(&bad, &o))
            .err()
            .unwrap();
        refusals.push((
            refusal("a reset not signed by the device it keeps", "citizen", &e),
            bad,
        ));
    }
    {
        // Thread: the record clerk's device (no staff role, not in the team) adds a citizen.
        let mut bad = thread_log.clone();
        let state = MembershipState::replay(
            LogKind::ThreadParticipants,
            *o.thread.as_bytes(),
            &bad,
            &mut samtale_protocol::membership::any_signer,
        )
        .unwrap();
        bad.push(record(
            &state,
            &By::Device(&o.clerk.1),
            Operation::Add,
            Member::Citizen(AccountId::from_bytes(arr(0xc7))),
            T + 20,
            &o,
        ));
        let e = dir
            .verify_participants(o.thread, &served(&bad, &o))
            .err()
            .unwrap();
        refusals.push((
            refusal(
                "a device without the staff role adds a citizen to a thread",
                "thread",
                &e,
            ),
            bad,
        ));
    }
    let mut holder_refusals = Vec::new();
    {
        // Archive: an epoch signed by a staff device (no archive role).
        let (bad, secrets) = holder_records(
            archive,
            HolderKind::Archive,
            *o.org.as_bytes(),
            &[
                (By::Device(&o.clerk.1), T + 13, 0xd3),
                (By::Device(&o.staff.1), T + 15, 0xd5),
            ],
            &o,
        );
        let e = dir
            .verify_holder(HolderOwner::Archive, &holder_served(&bad, &o), NOW)
            .err()
            .unwrap();
        holder_refusals.push(json!({
            "name": "an archive epoch signed by a staff device without the archive role",
            "owner": "archive",
            "epochs": holder_json(&bad, &secrets, &o),
            "refusal": refusal("", "archive", &e),
        }));
    }
    {
        // Team: an epoch dated beyond the clock leeway.
        let (bad, secrets) = holder_records(
            HolderId::from_bytes(arr(0xa7)),
            HolderKind::Team,
            *o.team.as_bytes(),
            &[
                (By::Device(&o.staff.1), T + 11, 0xd0),
                (
                    By::Device(&o.staff.1),
                    NOW + trust::CLOCK_LEEWAY_SECS + 1,
                    0xd6,
                ),
            ],
            &o,
        );
        let e = dir
            .verify_holder(HolderOwner::Team(o.team), &holder_served(&bad, &o), NOW)
            .err()
            .unwrap();
        holder_refusals.push(json!({
            "name": "a team epoch dated in the future",
            "owner": "team",
            "epochs": holder_json(&bad, &secrets, &o),
            "refusal": refusal("", "team", &e),
        }));
    }
    {
        // Citizen: an epoch signed by the phone after the reset removed it.
        let (bad, secrets) = holder_records(
            HolderId::from_bytes(arr(0xb7)),
            HolderKind::Citizen,
            *o.citizen.as_bytes(),
            &[
                (By::Device(&o.phone), T + 6, 0xd1),
                (By::Device(&o.phone), T + 30, 0xd7),
            ],
            &o,
        );
        let e = dir
            .verify_holder(
                HolderOwner::Citizen(o.citizen),
                &holder_served(&bad, &o),
                NOW,
            )
            .err()
            .unwrap();
        holder_refusals.push(json!({
            "name": "a citizen epoch signed by a device no longer in the list",
            "owner": "citizen",
            "epochs": holder_json(&bad, &secrets, &o),
            "refusal": refusal("", "citizen", &e),
        }));
    }

    let person = |(account, device, cert): &(AccountId, DeviceKeys, DeviceCertificate),
                  seed: u8| {
        json!({
            "account_id": account.to_string(),
            "ed25519_seed": h(&arr::<32>(seed)),
            "x25519_private_key": h(&arr::<32>(seed.wrapping_add(0x40))),
            "ed25519_public_key": h(&device.public().identity.to_bytes()),
            "x25519_public_key": h(&device.public().agreement.to_bytes()),
            "certificate": h(cert.as_bytes()),
        })
    };
    let citizen_device = |d: &DeviceKeys, seed: u8, agreement: u8| {
        json!({
            "ed25519_seed": h(&arr::<32>(seed)),
            "x25519_private_key": h(&arr::<32>(agreement)),
            "ed25519_public_key": h(&d.public().identity.to_bytes()),
            "x25519_public_key": h(&d.public().agreement.to_bytes()),
        })
    };
    let value = json!({
        "description": "An organisation's signed membership logs and certified holder keys (PROTOCOL.md §5, §7, §8), all verified at `now`, and changes each policy must refuse. Staff device lists are signed by the root; the team's member list by the root and an admin's certified device; the citizen's device list by her own devices (the phone adds itself and approves the tablet, the tablet removes the phone, the laptop resets the list); the thread's participant list by a certified staff member of the team. The archive key's epoch 0 is signed by a record clerk's certified device, epoch 1 by the root itself.",
        "now": NOW,
        "clock_leeway_secs": trust::CLOCK_LEEWAY_SECS,
        "root_ed25519_seed": h(&arr::<32>(0x07)),
        "root_ed25519_public_key": h(&o.root.public().to_bytes()),
        "org_id": o.org.to_string(),
        "team_id": o.team.to_string(),
        "thread_id": o.thread.to_string(),
        "admin": person(&o.admin, 0x08),
        "staff": person(&o.staff, 0x18),
        "clerk": person(&o.clerk, 0x28),
        "staff2_account_id": o.staff2.to_string(),
        "citizen_account_id": o.citizen.to_string(),
        "phone": citizen_device(&o.phone, 0x38, 0x78),
        "tablet": citizen_device(&o.tablet, 0x98, 0xa8),
        "laptop": citizen_device(&o.laptop, 0xb8, 0xc8),
        "logs": {
            "admin_devices": log_json(&admin_log, &o),
            "staff_devices": log_json(&staff_log, &o),
            "clerk_devices": log_json(&clerk_log, &o),
            "team_members": log_json(&team_log, &o),
            "citizen_devices": log_json(&citizen_log, &o),
            "thread_participants": log_json(&thread_log, &o),
        },
        "final_members": {
            "team_members": team_state.members().iter().map(member_json).collect::<Vec<_>>(),
            "citizen_devices": citizen_state.members().iter().map(member_json).collect::<Vec<_>>(),
            "thread_participants": thread_state.members().iter().map(member_json).collect::<Vec<_>>(),
        },
        "holders": {
            "team": { "holder_id": team_holder.holder.to_string(), "owner": o.team.to_string(), "epochs": holder_json(&team_keys, &team_secrets, &o) },
            "citizen": { "holder_id": citizen_holder.holder.to_string(), "owner": o.citizen.to_string(), "epochs": holder_json(&citizen_keys, &citizen_secrets, &o) },
            "archive": { "holder_id": archive_holder.holder.to_string(), "owner": o.org.to_string(), "epochs": holder_json(&archive_keys, &archive_secrets, &o) },
        },
        "refused_logs": refusals.iter().map(|(r, records)| {
            let mut r = r.clone();
            r["records"] = log_json(records, &o);
            r
        }).collect::<Vec<_>>(),
        "refused_holders": holder_refusals,
    });
    check("trust.json", &value);

    // The committed bytes replay to the same conclusions.
    let v = committed("trust.json");
    let decode = |name: &str| -> Vec<Served<MembershipRecord>> {
        v["logs"][name]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                Served::new(
                    MembershipRecord::decode(&bytes_of(&r["record"])).unwrap(),
                    r["signer_certificate"]
                        .as_str()
                        .map(|c| DeviceCertificate::decode(&hex::decode(c).unwrap()).unwrap()),
                )
            })
            .collect()
    };
    let mut again = Directory::new(o.root.public(), o.org);
    for (account, name) in [
        (o.admin.0, "admin_devices"),
        (o.staff.0, "staff_devices"),
        (o.clerk.0, "clerk_devices"),
    ] {
        let records: Vec<MembershipRecord> = decode(name).into_iter().map(|s| s.record).collect();
        again.add_staff_device_log(account, &records).unwrap();
    }
    again.add_team_log(o.team, &decode("team_members")).unwrap();
    again
        .add_citizen_device_log(o.citizen, &decode("citizen_devices"))
        .unwrap();
    assert_eq!(
        again
            .verify_participants(o.thread, &decode("thread_participants"))
            .unwrap()
            .members(),
        thread_state.members()
    );
}
