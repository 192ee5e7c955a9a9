//! A malicious server operator against the real `samtale` clients, on
//! SQLite and on PostgreSQL. Each case tampers with the server's database
//! directly (as an operator or vendor with database access would), then
//! lets the real binaries act as usual, and checks that the client refuses
//! with a named security error and that nothing was sealed, granted or
//! decrypted with the operator's key.
//!
//! Every case also has its positive control: it shows, through the same
//! server, that the tampered list now names the operator's key or device —
//! so a client that followed the server's lists (as the clients did before
//! issue 12) would have sealed or granted to it, and the operator would have
//! read the message. The defence, not a failed attack, is what the test
//! measures.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use samtale_cli::client::Session;
use samtale_cli::profile::{Home, Profile};
use samtale_protocol::membership::{LogKind, Member, MembershipRecord, MembershipState, Operation};
use samtale_protocol::trust::{Directory, HolderOwner};
use samtale_protocol::wire::{
    EntitledDevices, HolderKeySet, LogRecord, SignedLog, ThreadDetail, ThreadDevices, ThreadKeys,
};
use samtale_protocol::{
    AccountId, DeliveryContext, DeviceKeys, Envelope, HolderId, HolderKeyPair, HolderKeyRecord,
    HolderKind, HolderPublicKey, MessageId, OrgRootPublicKey, ThreadId,
};
use serde_json::Value;
use support::{Backend, Cli, PASSPHRASE, Server};

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An organisation with a team (Mette, Karl), a record clerk (Rita), two
/// citizens (Maja, Elsa) and a thread with each.
struct Org {
    server: Server,
    cli: Cli,
    maja_thread: String,
    elsa_thread: String,
}

fn profile_json(cli: &Cli, profile: &str) -> Value {
    serde_json::from_str(
        &std::fs::read_to_string(cli.profile_dir(profile).join("profile.json")).unwrap(),
    )
    .unwrap()
}

fn account_of(cli: &Cli, profile: &str) -> String {
    profile_json(cli, profile)["account_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn device_of(cli: &Cli, profile: &str) -> String {
    profile_json(cli, profile)["device_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The library's session for a profile: what the test uses to ask the
/// server as that person (the positive controls) and to read their keys.
async fn session(cli: &Cli, profile: &str) -> Session {
    let home = Home::locate(Some(cli.home.path())).unwrap();
    Session::open(Profile::new(&home, profile).unwrap(), PASSPHRASE)
        .await
        .unwrap()
}

async fn setup(backend: Backend) -> Option<Org> {
    let server = Server::start_on(None, backend).await?;
    let cli = Cli::new(&server.url);
    cli.run(
        "admin",
        &[
            "admin",
            "init",
            "--enrolment-code",
            &server.enrolment_code,
            "--organisation",
            "Randers Kommune",
            "--username",
            "anne",
            "--name",
            "Anne Admin",
        ],
    )
    .await
    .ok();
    cli.run("admin", &["admin", "team", "create", "Familieafdelingen"])
        .await
        .ok();
    for (user, name, role, team) in [
        ("mette", "Mette Jensen", "staff", Some("Familieafdelingen")),
        ("karl", "Karl Nielsen", "staff", Some("Familieafdelingen")),
        ("rita", "Rita Clerk", "record-clerk", None),
    ] {
        let mut args = vec![
            "admin", "staff", "create", user, "--name", name, "--role", role,
        ];
        if let Some(t) = team {
            args.extend(["--team", t]);
        }
        cli.run("admin", &args).await.ok();
        cli.run(user, &["login", "--username", user]).await.ok();
        cli.certify(user).await;
    }
    cli.run("mette", &["keys"]).await.ok();
    cli.run("admin", &["admin", "archive-key"]).await.ok();
    let mut threads = Vec::new();
    for (who, id) in [("Maja", "010203-1234"), ("Elsa", "19811218-9876")] {
        let invitation = cli
            .run(
                "mette",
                &["--json", "invite", "--national-id", id, "--name", who],
            )
            .await
            .ok()
            .json();
        let profile = who.to_lowercase();
        cli.run(
            &profile,
            &[
                "join",
                "--code",
                invitation["code"].as_str().unwrap(),
                "--accept-consent",
            ],
        )
        .await
        .ok();
        let thread = cli
            .run("mette", &["--json", "new-thread", "--citizen", who])
            .await
            .ok()
            .json();
        threads.push(thread["thread_id"].as_str().unwrap().to_owned());
    }
    cli.run("mette", &["keys"]).await.ok();
    let org = Org {
        maja_thread: threads[0].clone(),
        elsa_thread: threads[1].clone(),
        server,
        cli,
    };
    org.cli
        .run(
            "mette",
            &[
                "send",
                &org.maja_thread[..8],
                "Hej Maja, her er bevillingen.",
            ],
        )
        .await
        .ok();
    org.cli
        .run("maja", &["send", &org.maja_thread[..8], "Tak!"])
        .await
        .ok();
    Some(org)
}

impl Org {
    async fn messages(&self, thread: &str) -> i64 {
        self.server
            .sql_count(
                "SELECT COUNT(*) FROM messages WHERE thread_id = $1",
                &[thread.into()],
            )
            .await
    }

    async fn grants_to(&self, device: &str) -> i64 {
        self.server
            .sql_count(
                "SELECT COUNT(*) FROM grants WHERE device_id = $1",
                &[device.into()],
            )
            .await
    }

    async fn holder(&self, kind: &str, owner: &str) -> String {
        self.server
            .sql_texts(
                "SELECT id FROM holders WHERE kind = $1 AND owner_id = $2",
                &[kind.into(), owner.into()],
            )
            .await
            .pop()
            .unwrap()
    }

    async fn current_epoch(&self, holder: &str) -> i64 {
        self.server
            .sql_count(
                "SELECT MAX(epoch) FROM holder_epochs WHERE holder_id = $1",
                &[holder.into()],
            )
            .await
    }

    /// Inserts a holder epoch record as the operator (past every server check).
    async fn insert_epoch(&self, record: &HolderKeyRecord, published_by: &str) {
        let key = record.key();
        self.server
            .sql(
                "INSERT INTO holder_epochs (holder_id, epoch, public_key, record, published_by, published_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &[
                    key.holder.to_string().into(),
                    i64::from(key.epoch).into(),
                    key.key.to_bytes().to_vec().into(),
                    record.as_bytes().to_vec().into(),
                    published_by.into(),
                    i64::try_from(now()).unwrap().into(),
                ],
            )
            .await;
    }

    async fn delete_epoch(&self, holder: &str, epoch: i64) {
        self.server
            .sql(
                "DELETE FROM holder_epochs WHERE holder_id = $1 AND epoch = $2",
                &[holder.into(), epoch.into()],
            )
            .await;
    }
}

/// The operator's own key pair for `epoch` of `holder`, and a record
/// publishing it for `owner`, signed by the operator's device.
fn forge(
    operator: &DeviceKeys,
    holder: &str,
    kind: HolderKind,
    epoch: i64,
    owner: &str,
) -> (HolderKeyPair, HolderKeyRecord) {
    let pair = HolderKeyPair::generate(
        holder.parse::<HolderId>().unwrap(),
        kind,
        u32::try_from(epoch).unwrap(),
    )
    .unwrap();
    let owner = *owner.parse::<AccountId>().unwrap().as_bytes();
    let record = HolderKeyRecord::sign(operator, &pair.public(), owner, now());
    (pair, record)
}

/// Positive control for grants: whether the server lists `device` (by id)
/// as entitled to `holder` and lacking an epoch — what a client that
/// believed the server would grant to.
async fn server_asks_to_grant(session: &mut Session, holder: &str, device: &str) -> bool {
    let entitled: EntitledDevices = session
        .get(&format!("/v1/keys/{holder}/devices"))
        .await
        .unwrap();
    entitled
        .devices
        .iter()
        .any(|d| d.device_id.to_string() == device && !d.missing_epochs.is_empty())
}

/// What a client that believed the server would seal a message to: the
/// recipients the thread lists, with the keys the thread's key sets serve,
/// each record checked for its signature only (the clients before issue 12).
async fn naive_recipients(session: &mut Session, thread: &str) -> Vec<HolderPublicKey> {
    let detail: ThreadDetail = session.get(&format!("/v1/threads/{thread}")).await.unwrap();
    let keys: ThreadKeys = session
        .get(&format!("/v1/threads/{thread}/keys"))
        .await
        .unwrap();
    detail
        .recipients
        .iter()
        .map(|want| {
            let set = keys
                .holders
                .iter()
                .find(|h| h.holder_id == want.holder)
                .unwrap();
            *HolderKeyRecord::decode_and_verify(&set.records[want.epoch as usize].record)
                .unwrap()
                .key()
        })
        .collect()
}

/// The positive control's proof: sealed to what the server lists, a
/// message opens with the operator's key.
fn operator_reads(recipients: &[HolderPublicKey], operator: &HolderKeyPair) {
    assert!(
        recipients.contains(&operator.public()),
        "the tampered list names the operator's key"
    );
    let thread = ThreadId::random().unwrap();
    let message = MessageId::random().unwrap();
    let sender = DeviceKeys::generate().unwrap();
    let sealed = Envelope::seal(
        &sender,
        thread,
        message,
        recipients,
        b"Dit CPR-nummer er ...",
    )
    .unwrap();
    let opened = Envelope::decode(sealed.as_bytes())
        .unwrap()
        .open(
            &DeliveryContext {
                thread_id: thread,
                message_id: message,
            },
            operator,
        )
        .unwrap();
    assert_eq!(&opened.payload[..], b"Dit CPR-nummer er ...");
}

fn security_error(run: &support::Run, what: &str) {
    assert_eq!(
        run.code, 6,
        "expected a security error (exit 6)\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(what),
        "the error should name {what:?}:\n{}",
        run.stderr
    );
}

async fn a_malicious_server_cannot_make_clients_seal_or_grant_to_its_keys(backend: Backend) {
    let Some(org) = setup(backend).await else {
        return;
    };
    let (cli, server) = (&org.cli, &org.server);
    let (maja_t, elsa_t) = (org.maja_thread.clone(), org.elsa_thread.clone());
    let short = maja_t[..8].to_owned();
    let operator_device = DeviceKeys::generate().unwrap();
    let mut mette = session(cli, "mette").await;
    let org_id = profile_json(cli, "mette")["org_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let maja = account_of(cli, "maja");
    let elsa = account_of(cli, "elsa");
    let team_id = server
        .sql_texts(
            "SELECT team_id FROM threads WHERE id = $1",
            &[maja_t.as_str().into()],
        )
        .await
        .pop()
        .unwrap();

    // ---- 1. An archive epoch the root did not certify, as a new epoch.
    let archive = org.holder("archive", &org_id).await;
    let next = org.current_epoch(&archive).await + 1;
    let (operator_archive, forged) = forge(
        &operator_device,
        &archive,
        HolderKind::Archive,
        next,
        &org_id,
    );
    org.insert_epoch(&forged, &device_of(cli, "rita")).await;
    operator_reads(
        &naive_recipients(&mut mette, &maja_t).await,
        &operator_archive,
    );
    let before = org.messages(&maja_t).await;
    for who in ["mette", "maja"] {
        let refused = cli.run(who, &["send", &short, "Mødet er flyttet."]).await;
        security_error(&refused, "archive key");
    }
    assert_eq!(org.messages(&maja_t).await, before, "nothing was sent");
    org.delete_epoch(&archive, next).await;

    // ---- 2. The current archive epoch replaced by the operator's.
    let current = next - 1;
    let saved = server
        .sql_blobs(
            "SELECT record FROM holder_epochs WHERE holder_id = $1 AND epoch = $2",
            &[archive.as_str().into(), current.into()],
        )
        .await
        .pop()
        .unwrap();
    let (operator_archive, forged) = forge(
        &operator_device,
        &archive,
        HolderKind::Archive,
        current,
        &org_id,
    );
    let replace =
        "UPDATE holder_epochs SET public_key = $1, record = $2 WHERE holder_id = $3 AND epoch = $4";
    server
        .sql(
            replace,
            &[
                operator_archive.public().key.to_bytes().to_vec().into(),
                forged.as_bytes().to_vec().into(),
                archive.as_str().into(),
                current.into(),
            ],
        )
        .await;
    operator_reads(
        &naive_recipients(&mut mette, &maja_t).await,
        &operator_archive,
    );
    for who in ["mette", "maja"] {
        let refused = cli.run(who, &["send", &short, "Mødet er flyttet."]).await;
        security_error(&refused, "archive key");
    }
    assert_eq!(org.messages(&maja_t).await, before, "nothing was sent");
    let original = HolderKeyRecord::decode_and_verify(&saved).unwrap();
    server
        .sql(
            replace,
            &[
                original.key().key.to_bytes().to_vec().into(),
                saved.clone().into(),
                archive.as_str().into(),
                current.into(),
            ],
        )
        .await;
    cli.run("mette", &["send", &short, "Mødet er torsdag."])
        .await
        .ok();
    let before = org.messages(&maja_t).await;

    // ---- 3. A device the server adds to Maja's account: it is granted
    // nothing, and what it "sends" is not shown as Maja's.
    let ghost = DeviceKeys::generate().unwrap();
    let ghost_id = AccountId::random().unwrap().to_string();
    server
        .sql(
            "INSERT INTO devices (id, account_id, identity_key, agreement_key, label, created_at) \
             VALUES ($1, $2, $3, $4, 'Maja''s new phone', $5)",
            &[
                ghost_id.as_str().into(),
                maja.as_str().into(),
                ghost.public().identity.to_bytes().to_vec().into(),
                ghost.public().agreement.to_bytes().to_vec().into(),
                i64::try_from(now()).unwrap().into(),
            ],
        )
        .await;
    let mut maja_session = session(cli, "maja").await;
    let citizen_holder = org.holder("citizen", &maja).await;
    let entitled: EntitledDevices = maja_session
        .get(&format!("/v1/keys/{citizen_holder}/devices"))
        .await
        .unwrap();
    assert!(
        entitled
            .devices
            .iter()
            .any(|d| d.keys == ghost.public() && !d.missing_epochs.is_empty()),
        "positive control: the server lists the ghost as entitled to Maja's key"
    );
    let keys = cli.run("maja", &["--json", "keys"]).await.ok().json();
    assert_eq!(keys["granted"], 0, "{keys}");
    assert!(
        keys["skipped"][0]
            .as_str()
            .unwrap()
            .contains("not in your signed device list"),
        "{keys}"
    );
    assert_eq!(
        org.grants_to(&ghost_id).await,
        0,
        "nothing granted to the ghost"
    );
    // The ghost "writes" as Maja: sealed to the thread's real keys.
    let to = naive_recipients(&mut mette, &maja_t).await;
    let ghost_message = MessageId::random().unwrap();
    let envelope = Envelope::seal(
        &ghost,
        maja_t.parse().unwrap(),
        ghost_message,
        &to,
        br#"{"v":1,"text":"Ring til mig paa dette nye nummer"}"#,
    )
    .unwrap();
    let seq = before + 1;
    insert_message(
        server,
        &maja_t,
        seq,
        ghost_message,
        &ghost_id,
        envelope.as_bytes(),
    )
    .await;
    let devices: ThreadDevices = mette
        .get(&format!("/v1/threads/{maja_t}/devices"))
        .await
        .unwrap();
    assert!(
        devices
            .devices
            .iter()
            .any(|d| d.keys.identity == ghost.public().identity && d.account_id.to_string() == maja),
        "positive control: the server lists the ghost among Maja's devices"
    );
    let view = cli
        .run("mette", &["--json", "show", &short])
        .await
        .ok()
        .json();
    let shown = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["seq"] == seq)
        .unwrap()
        .clone();
    assert_eq!(shown["sender"], Value::Null, "{shown}");
    assert!(
        shown["body"]["reason"]
            .as_str()
            .unwrap()
            .contains("in no participant's signed device list"),
        "{shown}"
    );
    assert!(!view.to_string().contains("nye nummer"));
    delete_message(server, &maja_t, seq).await;

    // ---- 4. Mette's own device keys changed on the server: her client
    // grants to its keystore's keys, never to what the server lists.
    let mette_device = device_of(cli, "mette");
    let real_agreement = server
        .sql_blobs(
            "SELECT agreement_key FROM devices WHERE id = $1",
            &[mette_device.as_str().into()],
        )
        .await
        .pop()
        .unwrap();
    server
        .sql(
            "UPDATE devices SET agreement_key = $1 WHERE id = $2",
            &[
                operator_device
                    .public()
                    .agreement
                    .to_bytes()
                    .to_vec()
                    .into(),
                mette_device.as_str().into(),
            ],
        )
        .await;
    let grants_before = org.grants_to(&mette_device).await;
    server
        .sql(
            "DELETE FROM grants WHERE device_id = $1",
            &[mette_device.as_str().into()],
        )
        .await;
    let team_holder = org.holder("team", &team_id).await;
    let entitled: EntitledDevices = mette
        .get(&format!("/v1/keys/{team_holder}/devices"))
        .await
        .unwrap();
    assert!(
        entitled
            .devices
            .iter()
            .any(|d| d.device_id.to_string() == mette_device
                && d.keys.agreement == operator_device.public().agreement
                && !d.missing_epochs.is_empty()),
        "positive control: the server asks for grants to the operator's key under Mette's device"
    );
    let refused = cli.run("mette", &["keys"]).await;
    security_error(&refused, "other public keys for this very device");
    assert_eq!(org.grants_to(&mette_device).await, 0, "nothing granted");
    server
        .sql(
            "UPDATE devices SET agreement_key = $1 WHERE id = $2",
            &[real_agreement.into(), mette_device.as_str().into()],
        )
        .await;
    cli.run("mette", &["keys"]).await.ok();
    assert_eq!(org.grants_to(&mette_device).await, grants_before);

    // ---- 5. Karl leaves the team by a signed record; the server keeps him
    // in its table. The next team epoch never reaches him.
    cli.run(
        "admin",
        &["admin", "team", "remove", "Familieafdelingen", "karl"],
    )
    .await
    .ok();
    let karl = account_of(cli, "karl");
    let karl_device = device_of(cli, "karl");
    server
        .sql(
            "INSERT INTO team_members (team_id, account_id, added_at) VALUES ($1, $2, $3)",
            &[
                team_id.as_str().into(),
                karl.as_str().into(),
                i64::try_from(now()).unwrap().into(),
            ],
        )
        .await;
    let karl_grants = org.grants_to(&karl_device).await;
    let rotated = cli.run("mette", &["--json", "keys"]).await.ok().json();
    assert!(
        rotated["published"][0]
            .as_str()
            .unwrap()
            .contains("rotation"),
        "Karl's leaving makes the team key due: {rotated}"
    );
    assert!(
        server_asks_to_grant(&mut mette, &team_holder, &karl_device).await,
        "positive control: the server lists Karl as entitled to the new epoch"
    );
    assert_eq!(
        org.grants_to(&karl_device).await,
        karl_grants,
        "Karl got no new epoch"
    );
    assert!(
        rotated["skipped"].as_array().unwrap().iter().any(|s| s
            .as_str()
            .unwrap()
            .contains("not in the team's signed member list")),
        "{rotated}"
    );
    cli.run("mette", &["keys"]).await.ok();
    assert_eq!(org.grants_to(&karl_device).await, karl_grants, "nor later");

    // ---- 6. Elsa added to Maja's thread outside its participant list.
    server
        .sql(
            "INSERT INTO thread_citizens (thread_id, account_id, added_at) VALUES ($1, $2, $3)",
            &[
                maja_t.as_str().into(),
                elsa.as_str().into(),
                i64::try_from(now()).unwrap().into(),
            ],
        )
        .await;
    let naive = naive_recipients(&mut mette, &maja_t).await;
    let elsa_holder = org.holder("citizen", &elsa).await;
    assert!(
        naive.iter().any(|k| k.holder.to_string() == elsa_holder),
        "positive control: the server has Maja's thread sealed to Elsa's key too"
    );
    let before = org.messages(&maja_t).await;
    let refused = cli.run("mette", &["send", &short, "Om din sag..."]).await;
    security_error(&refused, "signed participant list");
    assert_eq!(org.messages(&maja_t).await, before);
    let view = cli
        .run("mette", &["--json", "show", &short])
        .await
        .ok()
        .json();
    assert_eq!(
        view["row"]["participants"].as_array().unwrap().len(),
        1,
        "{view}"
    );
    server
        .sql(
            "DELETE FROM thread_citizens WHERE thread_id = $1 AND account_id = $2",
            &[maja_t.as_str().into(), elsa.as_str().into()],
        )
        .await;

    // ---- 7. A team epoch dated in the future (signed by Mette's real
    // device, e.g. with a wrong clock, slipped in past the server's check).
    let team_epoch = org.current_epoch(&team_holder).await + 1;
    let future_key = HolderKeyPair::generate(
        team_holder.parse().unwrap(),
        HolderKind::Team,
        u32::try_from(team_epoch).unwrap(),
    )
    .unwrap();
    let future = HolderKeyRecord::sign(
        mette.device().unwrap(),
        &future_key.public(),
        *team_id
            .parse::<samtale_protocol::TeamId>()
            .unwrap()
            .as_bytes(),
        now() + 2 * 86_400,
    );
    org.insert_epoch(&future, &mette_device).await;
    assert!(
        naive_recipients(&mut mette, &maja_t)
            .await
            .contains(&future_key.public()),
        "positive control: the server has messages sealed to the future-dated epoch"
    );
    let refused = cli.run("maja", &["send", &short, "Hej"]).await;
    security_error(&refused, "dated in the future");
    assert_eq!(org.messages(&maja_t).await, before);
    org.delete_epoch(&team_holder, team_epoch).await;

    // ---- 8. An envelope replayed into another thread: Mette's message to
    // Maja, copied into Elsa's thread.
    let (message_id, envelope): (String, Vec<u8>) = (
        server
            .sql_texts(
                "SELECT message_id FROM messages WHERE thread_id = $1 AND seq = 1",
                &[maja_t.as_str().into()],
            )
            .await
            .pop()
            .unwrap(),
        server
            .sql_blobs(
                "SELECT envelope FROM messages WHERE thread_id = $1 AND seq = 1",
                &[maja_t.as_str().into()],
            )
            .await
            .pop()
            .unwrap(),
    );
    let elsa_seq = org.messages(&elsa_t).await + 1;
    let replay_id = MessageId::random().unwrap();
    insert_message(
        server,
        &elsa_t,
        elsa_seq,
        replay_id,
        &mette_device,
        &envelope,
    )
    .await;
    // Positive control: where it was sealed, Mette's team key opens it.
    let sealed = Envelope::decode(&envelope).unwrap();
    let team_key = sealed
        .recipients()
        .iter()
        .find_map(|r| mette.keystore.secrets().holder(*r))
        .unwrap();
    let opened = sealed
        .open(
            &DeliveryContext {
                thread_id: maja_t.parse().unwrap(),
                message_id: message_id.parse().unwrap(),
            },
            team_key,
        )
        .unwrap();
    assert!(String::from_utf8_lossy(&opened.payload).contains("bevillingen"));
    let view = cli
        .run("mette", &["--json", "show", &elsa_t[..8]])
        .await
        .ok()
        .json();
    let replayed = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["seq"] == elsa_seq)
        .unwrap()
        .clone();
    assert!(
        replayed["body"]["reason"]
            .as_str()
            .unwrap()
            .contains("sealed for another thread"),
        "{replayed}"
    );
    assert!(!view.to_string().contains("bevillingen"));
    delete_message(server, &elsa_t, elsa_seq).await;

    // ---- 9. Maja's second device: approved on her phone, revoked by a
    // signed removal; the server un-revokes it; it never gets a new epoch.
    let invitation = cli
        .run(
            "mette",
            &[
                "--json",
                "invite",
                "--national-id",
                "010203-1234",
                "--name",
                "Maja",
            ],
        )
        .await
        .ok()
        .json();
    let tablet = cli
        .run(
            "maja-tablet",
            &[
                "--json",
                "join",
                "--code",
                invitation["code"].as_str().unwrap(),
                "--accept-consent",
            ],
        )
        .await
        .ok()
        .json();
    cli.run(
        "maja",
        &[
            "devices",
            "approve",
            "--fingerprint",
            tablet["device_fingerprint"].as_str().unwrap(),
        ],
    )
    .await
    .ok();
    let history = cli
        .run("maja-tablet", &["--json", "show", &short])
        .await
        .ok()
        .json();
    assert_eq!(
        history["messages"][0]["body"]["text"],
        "Hej Maja, her er bevillingen."
    );
    let tablet_device = device_of(cli, "maja-tablet");
    cli.run("maja", &["devices", "revoke", &tablet_device])
        .await
        .ok();
    let log: SignedLog = maja_session
        .get(&format!("/v1/accounts/{maja}/device-log"))
        .await
        .unwrap();
    let last = MembershipRecord::decode(&log.records.last().unwrap().record).unwrap();
    assert_eq!(last.operation(), Operation::Remove, "a signed removal");
    server
        .sql(
            "UPDATE devices SET revoked_at = NULL WHERE id = $1",
            &[tablet_device.as_str().into()],
        )
        .await;
    let tablet_grants = org.grants_to(&tablet_device).await;
    let rotated = cli
        .run("maja", &["--json", "keys", "--rotate"])
        .await
        .ok()
        .json();
    assert!(
        rotated["published"][0]
            .as_str()
            .unwrap()
            .contains("rotation"),
        "{rotated}"
    );
    assert!(
        server_asks_to_grant(&mut maja_session, &citizen_holder, &tablet_device).await,
        "positive control: the server lists the revoked tablet as entitled again"
    );
    assert_eq!(
        org.grants_to(&tablet_device).await,
        tablet_grants,
        "no new epoch for it"
    );

    // ---- 10. A forged device-list reset: the operator resets Maja's list to
    // its own device and publishes a citizen epoch from it. The log verifies
    // (a reset is signed by the device it keeps), so every other participant
    // flags it, and nothing is sealed to the new key until someone compares
    // safety numbers.
    let records: Vec<MembershipRecord> = log_records(&mut maja_session, &maja).await;
    let state = MembershipState::replay(
        LogKind::DeviceList,
        *maja.parse::<AccountId>().unwrap().as_bytes(),
        &records,
        &mut samtale_protocol::membership::any_signer,
    )
    .unwrap();
    let reset = state.next_record(
        &operator_device,
        Operation::Reset,
        Member::Device(operator_device.public()),
        now(),
    );
    server
        .sql(
            "INSERT INTO membership_records (log, subject, seq, record, appended_at) VALUES (3, $1, $2, $3, $4)",
            &[
                maja.as_str().into(),
                i64::try_from(reset.seq()).unwrap().into(),
                reset.as_bytes().to_vec().into(),
                i64::try_from(now()).unwrap().into(),
            ],
        )
        .await;
    let citizen_epoch = org.current_epoch(&citizen_holder).await + 1;
    let (operator_citizen, forged) = forge(
        &operator_device,
        &citizen_holder,
        HolderKind::Citizen,
        citizen_epoch,
        &maja,
    );
    org.insert_epoch(&forged, &device_of(cli, "maja")).await;
    // Positive control: under the replayed log the operator's epoch is
    // genuine, so a client that did not flag resets would seal to it.
    let root: OrgRootPublicKey = mette.config.root_public_key;
    let mut dir = Directory::new(root, mette.config.org_id);
    let served: SignedLog = mette
        .get(&format!("/v1/accounts/{maja}/device-log"))
        .await
        .unwrap();
    dir.add_citizen_device_log(
        maja.parse().unwrap(),
        &LogRecord::decode_all(&served.records).unwrap(),
    )
    .unwrap();
    let set: HolderKeySet = mette
        .get(&format!("/v1/keys/{citizen_holder}"))
        .await
        .unwrap();
    let verified = dir
        .verify_holder(
            HolderOwner::Citizen(maja.parse().unwrap()),
            &set.decode_records().unwrap(),
            now(),
        )
        .unwrap();
    assert_eq!(verified.current().key, operator_citizen.public());
    operator_reads(
        &naive_recipients(&mut mette, &maja_t).await,
        &operator_citizen,
    );
    let before = org.messages(&maja_t).await;
    let refused = cli.run("mette", &["send", &short, "Ring til mig"]).await;
    security_error(&refused, "devices were reset");
    assert!(refused.stderr.contains("--confirm"), "{}", refused.stderr);
    assert_eq!(org.messages(&maja_t).await, before);
    let banner = cli.run("mette", &["show", &short]).await.ok().stdout;
    assert!(banner.contains("Maja's devices were reset"), "{banner}");
    let safety = cli
        .run("mette", &["--json", "safety", &short])
        .await
        .ok()
        .json();
    assert_eq!(safety[0]["reset_unconfirmed"], true, "{safety}");
    // Maja's real phone sees that it was pushed out of her own list.
    let alarm = cli.run("maja", &["keys"]).await;
    security_error(&alarm, "removed from your account's signed device list");
}

async fn log_records(session: &mut Session, account: &str) -> Vec<MembershipRecord> {
    let log: SignedLog = session
        .get(&format!("/v1/accounts/{account}/device-log"))
        .await
        .unwrap();
    log.records
        .iter()
        .map(|r| MembershipRecord::decode(&r.record).unwrap())
        .collect()
}

async fn insert_message(
    server: &Server,
    thread: &str,
    seq: i64,
    id: MessageId,
    sender_device: &str,
    envelope: &[u8],
) {
    use sha2::Digest;
    server
        .sql(
            "INSERT INTO messages (thread_id, seq, message_id, sender_device_id, envelope, envelope_sha256, committed_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                thread.into(),
                seq.into(),
                id.to_string().into(),
                sender_device.into(),
                envelope.to_vec().into(),
                sha2::Sha256::digest(envelope).to_vec().into(),
                i64::try_from(now() * 1000).unwrap().into(),
            ],
        )
        .await;
    server
        .sql(
            "UPDATE threads SET last_seq = $1 WHERE id = $2",
            &[seq.into(), thread.into()],
        )
        .await;
}

async fn delete_message(server: &Server, thread: &str, seq: i64) {
    server
        .sql(
            "DELETE FROM messages WHERE thread_id = $1 AND seq = $2",
            &[thread.into(), seq.into()],
        )
        .await;
    server
        .sql(
            "UPDATE threads SET last_seq = $1 WHERE id = $2",
            &[(seq - 1).into(), thread.into()],
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malicious_server_cannot_make_clients_seal_or_grant_to_its_keys_on_sqlite() {
    a_malicious_server_cannot_make_clients_seal_or_grant_to_its_keys(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malicious_server_cannot_make_clients_seal_or_grant_to_its_keys_on_postgres() {
    a_malicious_server_cannot_make_clients_seal_or_grant_to_its_keys(Backend::Postgres).await;
}
