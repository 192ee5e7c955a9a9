//! A populated organisation for messaging tests: an admin, a team with a
//! caseworker, a record clerk, published team and archive keys with their
//! grants, citizens who signed up and published their own keys, and a
//! WebSocket client speaking the relay protocol.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use samtale_protocol::membership::{LogKind, Member, MembershipState, Operation};
use samtale_protocol::wire::{
    BootstrapResponse, ClientFrame, ConsentText, HolderKeySet, InvitationCreated, ServerFrame,
    StaffInfo, TeamInfo, ThreadDetail, TokenPair,
};
use samtale_protocol::{
    AccountId, CertificateBody, CertifiedTeam, DeliveryContext, DeviceCertificate, DeviceKeys,
    Envelope, Grant, HolderEpoch, HolderId, HolderKeyPair, HolderKeyRecord, HolderKind,
    HolderPublicKey, MessageId, OrgId, OrgRootKey, Roles, TeamId, ThreadId, b64,
};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{TestApp, expect};

pub const PASSWORD: &str = "correct horse battery staple";

/// Someone with a device and a session.
#[derive(Debug)]
pub struct Actor {
    pub account: AccountId,
    pub tokens: TokenPair,
    pub device: DeviceKeys,
}

impl Actor {
    pub fn token(&self) -> &str {
        &self.tokens.access_token
    }
}

/// A citizen: an actor plus their citizen key.
#[derive(Debug)]
pub struct Citizen {
    pub actor: Actor,
    pub key: HolderKeyPair,
    pub national_id: String,
}

pub struct World {
    pub org_id: OrgId,
    pub root: OrgRootKey,
    pub admin: Actor,
    pub team: TeamId,
    pub team_key: HolderKeyPair,
    pub staff: Actor,
    pub clerk: Actor,
    pub archive_key: HolderKeyPair,
}

pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn device_json(keys: &DeviceKeys) -> Value {
    serde_json::to_value(keys.public()).unwrap()
}

pub async fn login(app: &TestApp, username: &str) -> Actor {
    let device = DeviceKeys::generate().unwrap();
    let tokens: TokenPair = expect(
        app.call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({
                "username": username,
                "password": PASSWORD,
                "device": device_json(&device),
                "device_label": "Desk",
            })),
        )
        .await,
        201,
    )
    .await;
    Actor {
        account: tokens.account_id,
        tokens,
        device,
    }
}

/// Publishes a holder epoch signed by `by`.
pub async fn publish(
    app: &TestApp,
    by: &Actor,
    key: &HolderKeyPair,
    owner: [u8; 16],
) -> reqwest::Response {
    let record = HolderKeyRecord::sign(&by.device, &key.public(), owner, now());
    app.call(
        Method::PUT,
        &format!("/v1/keys/{}/{}", key.epoch().holder, key.epoch().epoch),
        Some(by.token()),
        Some(json!({"record": b64::encode(record.as_bytes())})),
    )
    .await
}

/// Grants `key` from `by` to each device's agreement key.
pub async fn grant(
    app: &TestApp,
    by: &Actor,
    key: &HolderKeyPair,
    to: &[&DeviceKeys],
) -> reqwest::Response {
    let grants: Vec<Value> = to
        .iter()
        .map(|d| {
            let g = Grant::issue(&by.device, key, &d.public().agreement, now()).unwrap();
            json!({"grant": b64::encode(g.as_bytes())})
        })
        .collect();
    app.call(
        Method::POST,
        "/v1/grants",
        Some(by.token()),
        Some(json!({"grants": grants})),
    )
    .await
}

/// The holder keys a device can open, from its grants.
pub async fn my_keys(app: &TestApp, who: &Actor) -> Vec<HolderKeyPair> {
    let list: samtale_protocol::wire::GrantList = expect(
        app.call(Method::GET, "/v1/grants", Some(who.token()), None)
            .await,
        200,
    )
    .await;
    list.grants
        .iter()
        .map(|g| Grant::decode(&g.grant).unwrap().open(&who.device).unwrap())
        .collect()
}

/// Certifies `who`'s device with the organisation root (staff devices
/// may only send once certified).
pub async fn certify(
    app: &TestApp,
    root: &OrgRootKey,
    org_id: OrgId,
    who: &Actor,
    roles: Roles,
    teams: &[TeamId],
) {
    let cert = DeviceCertificate::issue(
        root,
        CertificateBody {
            org_id,
            org_name: "Randers Kommune".into(),
            device: who.device.public(),
            staff_id: who.account,
            staff_name: "staff".into(),
            roles,
            teams: teams
                .iter()
                .map(|t| CertifiedTeam {
                    id: *t,
                    name: "team".into(),
                })
                .collect(),
            not_before: now() - 60,
            not_after: now() + 86_400,
        },
    )
    .unwrap();
    let response = app
        .call(
            Method::PUT,
            &format!("/v1/devices/{}/certificate", who.tokens.device_id),
            Some(who.token()),
            Some(
                serde_json::to_value(samtale_protocol::wire::UploadCertificate::new(&cert))
                    .unwrap(),
            ),
        )
        .await;
    assert_eq!(response.status(), 204, "{}", response.text().await.unwrap());
    // The root also signs the device into the account's device list.
    append_by_root(
        app,
        root,
        who.token(),
        &format!("/v1/accounts/{}/device-log", who.account),
        LogKind::DeviceList,
        *who.account.as_bytes(),
        Operation::Add,
        Member::Device(who.device.public()),
    )
    .await;
}

/// The current state of a log the server serves at `path` (replayed
/// without checking signers: the server checked them on the way in).
pub async fn log_state(
    app: &TestApp,
    token: &str,
    path: &str,
    log: LogKind,
    subject: [u8; 16],
) -> MembershipState {
    let served: samtale_protocol::wire::SignedLog =
        expect(app.call(Method::GET, path, Some(token), None).await, 200).await;
    let records: Vec<_> = served
        .records
        .iter()
        .map(|r| samtale_protocol::membership::MembershipRecord::decode(&r.record).unwrap())
        .collect();
    MembershipState::replay(
        log,
        subject,
        &records,
        &mut samtale_protocol::membership::any_signer,
    )
    .unwrap()
}

/// Appends a record signed by the organisation root to the log at `path`.
#[allow(clippy::too_many_arguments)]
pub async fn append_by_root(
    app: &TestApp,
    root: &OrgRootKey,
    token: &str,
    path: &str,
    log: LogKind,
    subject: [u8; 16],
    operation: Operation,
    member: Member,
) {
    let state = log_state(app, token, path, log, subject).await;
    let record = state.next_record_by_root(root, operation, member, now());
    expect::<Value>(
        app.call(
            Method::POST,
            path,
            Some(token),
            Some(json!({"record": b64::encode(record.as_bytes())})),
        )
        .await,
        201,
    )
    .await;
}

/// The root puts a staff account in a team (signed member list); `token`
/// is an admin's.
pub async fn join_team(
    app: &TestApp,
    root: &OrgRootKey,
    token: &str,
    team: TeamId,
    account: AccountId,
) {
    append_by_root(
        app,
        root,
        token,
        &format!("/v1/teams/{team}/member-log"),
        LogKind::TeamMembers,
        *team.as_bytes(),
        Operation::Add,
        Member::Staff(account),
    )
    .await;
}

impl World {
    /// Certifies a staff member's device for the world's team.
    pub async fn certify(&self, app: &TestApp, who: &Actor) {
        certify(
            app,
            &self.root,
            self.org_id,
            who,
            Roles::STAFF,
            &[self.team],
        )
        .await;
    }
}

/// `POST /v1/bootstrap` with `code`, a new root key and admin device.
pub async fn bootstrap_request(
    app: &TestApp,
    code: &str,
    organisation: &str,
    root: &OrgRootKey,
    device: &DeviceKeys,
) -> reqwest::Response {
    app.call(
        Method::POST,
        "/v1/bootstrap",
        None,
        Some(json!({
            "enrolment_code": code,
            "organisation_name": organisation,
            "root_public_key": root.public(),
            "username": "admin",
            "display_name": "Anne Admin",
            "password": PASSWORD,
            "device": device_json(device),
            "device_label": "Admin laptop",
        })),
    )
    .await
}

/// Registers an organisation with a fresh server's enrolment code; its
/// first admin (admin role only) is logged in.
pub async fn bootstrap(app: &TestApp, organisation: &str) -> (OrgRootKey, OrgId, Actor) {
    let root = OrgRootKey::generate().unwrap();
    let device = DeviceKeys::generate().unwrap();
    let code = app.enrolment_code.as_deref().unwrap();
    let boot: BootstrapResponse = expect(
        bootstrap_request(app, code, organisation, &root, &device).await,
        201,
    )
    .await;
    let admin = Actor {
        account: boot.tokens.account_id,
        tokens: boot.tokens,
        device,
    };
    (root, boot.org_id, admin)
}

/// An organisation with one team and one logged-in staff member in it
/// (user name `username`, password [`PASSWORD`]).
pub async fn org_with_staff(
    app: &TestApp,
    organisation: &str,
    team: &str,
    username: &str,
) -> (Actor, TeamId, Actor) {
    let (root, _, admin) = bootstrap(app, organisation).await;
    let team = create_team(app, &admin, team).await;
    create_staff(app, &admin, &root, username, &["staff"], &[team]).await;
    let staff = login(app, username).await;
    (admin, team, staff)
}

impl World {
    pub async fn build(app: &TestApp) -> World {
        let (root, org_id, admin) = bootstrap(app, "Randers Kommune").await;
        let team = create_team(app, &admin, "Familieafdelingen").await;
        create_staff(app, &admin, &root, "caseworker", &["staff"], &[team]).await;
        create_staff(app, &admin, &root, "clerk", &["record_clerk"], &[]).await;
        let staff = login(app, "caseworker").await;
        let clerk = login(app, "clerk").await;
        certify(app, &root, org_id, &staff, Roles::STAFF, &[team]).await;
        certify(app, &root, org_id, &clerk, Roles::RECORD_CLERK, &[]).await;
        // The team key, made by the caseworker's device and granted to it.
        let team_key =
            HolderKeyPair::generate(HolderId::random().unwrap(), HolderKind::Team, 0).unwrap();
        expect::<Value>(publish(app, &staff, &team_key, *team.as_bytes()).await, 201).await;
        expect::<Value>(grant(app, &staff, &team_key, &[&staff.device]).await, 200).await;
        // The archive key, made by the admin and granted to the record clerk.
        let archive_key =
            HolderKeyPair::generate(HolderId::random().unwrap(), HolderKind::Archive, 0).unwrap();
        expect::<Value>(
            publish(app, &admin, &archive_key, *org_id.as_bytes()).await,
            201,
        )
        .await;
        expect::<Value>(
            grant(app, &admin, &archive_key, &[&clerk.device]).await,
            200,
        )
        .await;
        World {
            org_id,
            root,
            admin,
            team,
            team_key,
            staff,
            clerk,
            archive_key,
        }
    }

    /// Invites a citizen to `team` (by `staff`), signs them up and publishes
    /// their citizen key.
    pub async fn citizen(
        &self,
        app: &TestApp,
        staff: &Actor,
        team: TeamId,
        national_id: &str,
    ) -> Citizen {
        let device = DeviceKeys::generate().unwrap();
        let actor = self.signup(app, staff, team, national_id, device).await;
        let key =
            HolderKeyPair::generate(HolderId::random().unwrap(), HolderKind::Citizen, 0).unwrap();
        expect::<Value>(
            publish(app, &actor, &key, *actor.account.as_bytes()).await,
            201,
        )
        .await;
        expect::<Value>(grant(app, &actor, &key, &[&actor.device]).await, 200).await;
        Citizen {
            actor,
            key,
            national_id: national_id.to_owned(),
        }
    }

    /// Invites and signs up a (new or existing) citizen on `device`.
    pub async fn signup(
        &self,
        app: &TestApp,
        staff: &Actor,
        team: TeamId,
        national_id: &str,
        device: DeviceKeys,
    ) -> Actor {
        let invitation: InvitationCreated = expect(
            app.call(
                Method::POST,
                "/v1/invitations",
                Some(staff.token()),
                Some(json!({"team_id": team, "national_id": national_id, "display_name": "Maja"})),
            )
            .await,
            201,
        )
        .await;
        let consent: ConsentText =
            expect(app.call(Method::GET, "/v1/consent", None, None).await, 200).await;
        let tokens: TokenPair = expect(
            app.call(
                Method::POST,
                "/v1/signup",
                None,
                Some(json!({
                    "code": invitation.code,
                    "device": device_json(&device),
                    "device_label": "Phone",
                    "consent": {"version": consent.version, "text_sha256": consent.text_sha256},
                })),
            )
            .await,
            201,
        )
        .await;
        Actor {
            account: tokens.account_id,
            tokens,
            device,
        }
    }

    /// Opens a thread between `team` (by `staff`) and the citizens.
    pub async fn open_thread(
        &self,
        app: &TestApp,
        staff: &Actor,
        team: TeamId,
        citizens: &[&Citizen],
    ) -> ThreadId {
        let thread = ThreadId::random().unwrap();
        let response = self
            .try_open_thread(app, staff, team, thread, citizens)
            .await;
        let detail: ThreadDetail = expect(response, 201).await;
        assert_eq!(detail.summary.thread_id, thread);
        thread
    }

    pub async fn try_open_thread(
        &self,
        app: &TestApp,
        staff: &Actor,
        team: TeamId,
        thread: ThreadId,
        citizens: &[&Citizen],
    ) -> reqwest::Response {
        let mut state = MembershipState::new(LogKind::ThreadParticipants, *thread.as_bytes());
        let mut records = Vec::new();
        let mut members = vec![
            Member::Team(team),
            Member::Holder(self.archive_key.epoch().holder),
        ];
        members.extend(citizens.iter().map(|c| Member::Citizen(c.actor.account)));
        for member in members {
            let record = state.next_record(&staff.device, Operation::Add, member, now());
            state
                .apply(&record, &mut samtale_protocol::membership::any_signer)
                .unwrap();
            records.push(json!({"record": b64::encode(record.as_bytes())}));
        }
        app.call(
            Method::POST,
            "/v1/threads",
            Some(staff.token()),
            Some(json!({
                "thread_id": thread,
                "team_id": team,
                "citizens": citizens.iter().map(|c| c.actor.account).collect::<Vec<_>>(),
                "participants": records,
            })),
        )
        .await
    }
}

pub async fn create_team(app: &TestApp, admin: &Actor, name: &str) -> TeamId {
    let team: TeamInfo = expect(
        app.call(
            Method::POST,
            "/v1/teams",
            Some(admin.token()),
            Some(json!({"name": name})),
        )
        .await,
        201,
    )
    .await;
    team.team_id
}

pub async fn create_staff(
    app: &TestApp,
    admin: &Actor,
    root: &OrgRootKey,
    username: &str,
    roles: &[&str],
    teams: &[TeamId],
) -> AccountId {
    let info: StaffInfo = expect(
        app.call(
            Method::POST,
            "/v1/staff",
            Some(admin.token()),
            Some(json!({
                "username": username,
                "display_name": username,
                "password": PASSWORD,
                "roles": roles,
            })),
        )
        .await,
        201,
    )
    .await;
    for team in teams {
        join_team(app, root, admin.token(), *team, info.account_id).await;
    }
    info.account_id
}

/// The holder epochs a message to `thread` must be sealed to, with keys.
pub async fn recipients(app: &TestApp, who: &Actor, thread: ThreadId) -> Vec<HolderPublicKey> {
    let detail: ThreadDetail = expect(
        app.call(
            Method::GET,
            &format!("/v1/threads/{thread}"),
            Some(who.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    let mut keys = Vec::new();
    for HolderEpoch { holder, epoch } in detail.recipients {
        let set: HolderKeySet = expect(
            app.call(
                Method::GET,
                &format!("/v1/keys/{holder}"),
                Some(who.token()),
                None,
            )
            .await,
            200,
        )
        .await;
        let record = &set.records[epoch as usize];
        keys.push(
            *HolderKeyRecord::decode_and_verify(&record.record)
                .unwrap()
                .key(),
        );
    }
    keys
}

/// Seals `text` from `sender` into `thread`.
pub fn seal(
    sender: &Actor,
    thread: ThreadId,
    to: &[HolderPublicKey],
    text: &[u8],
) -> (MessageId, Vec<u8>) {
    let id = MessageId::random().unwrap();
    let envelope = Envelope::seal(&sender.device, thread, id, to, text).unwrap();
    (id, envelope.into_bytes())
}

/// Opens a delivered envelope with one of `keys`.
pub fn open(
    thread: ThreadId,
    id: MessageId,
    envelope: &[u8],
    keys: &[HolderKeyPair],
) -> Option<Vec<u8>> {
    let envelope = Envelope::decode(envelope).ok()?;
    let ctx = DeliveryContext {
        thread_id: thread,
        message_id: id,
    };
    keys.iter()
        .find_map(|k| envelope.open(&ctx, k).ok())
        .map(|m| m.payload.to_vec())
}

pub fn send_frame(thread: ThreadId, id: MessageId, envelope: &[u8]) -> ClientFrame {
    ClientFrame::Send {
        thread_id: thread,
        message_id: id,
        envelope: envelope.to_vec(),
    }
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Every message of a thread as the server serves it, page by page: (seq, id).
pub async fn thread_messages(
    app: &TestApp,
    who: &Actor,
    thread: ThreadId,
) -> Vec<(u64, MessageId)> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page: samtale_protocol::wire::MessagePage = expect(
            app.call(
                Method::GET,
                &format!("/v1/threads/{thread}/messages?after={after}&limit=500"),
                Some(who.token()),
                None,
            )
            .await,
            200,
        )
        .await;
        if page.messages.is_empty() {
            return out;
        }
        for m in &page.messages {
            out.push((m.seq, m.message_id));
            after = m.seq;
        }
    }
}

/// A relay client.
pub struct Ws {
    pub stream: Stream,
}

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    Code(u16),
    Dropped,
}

impl Ws {
    fn url(app: &TestApp) -> String {
        format!("{}/ws", app.address.replacen("http://", "ws://", 1))
    }

    /// Connects with the token in `Sec-WebSocket-Protocol` and waits for `ready`.
    pub async fn connect(app: &TestApp, token: &str) -> Ws {
        let mut ws = Self::raw(app, Some(token)).await.expect("upgrade");
        match ws.recv().await {
            Some(ServerFrame::Ready { .. }) => ws,
            other => panic!("expected ready, got {other:?}"),
        }
    }

    /// Connects to `url` (`ws://…/ws`) and waits for `ready`; an error
    /// instead of a panic when it cannot (a node behind a proxy is down).
    pub async fn connect_url(url: &str, token: &str) -> Result<Ws, String> {
        let mut request = url.into_client_request().map_err(|e| e.to_string())?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            format!("samtale.v1, samtale.bearer.{token}")
                .parse()
                .map_err(|_| "token".to_string())?,
        );
        let (stream, _) = tokio_tungstenite::connect_async(request)
            .await
            .map_err(|e| e.to_string())?;
        let mut ws = Ws { stream };
        match tokio::time::timeout(Duration::from_secs(5), ws.stream.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => match ServerFrame::parse(t.as_str()) {
                Ok(ServerFrame::Ready { .. }) => Ok(ws),
                other => Err(format!("expected ready, got {other:?}")),
            },
            other => Err(format!("no ready frame: {other:?}")),
        }
    }

    /// The next frame within `wait`; `Err` with what happened instead
    /// (closed, dropped, silent). Never panics.
    pub async fn try_next(&mut self, wait: Duration) -> Result<ServerFrame, String> {
        loop {
            match tokio::time::timeout(wait, self.stream.next()).await {
                Err(_) => return Err("no frame in time".into()),
                Ok(Some(Ok(Message::Text(t)))) => {
                    return ServerFrame::parse(t.as_str()).map_err(|e| e.to_string());
                }
                Ok(Some(Ok(Message::Close(frame)))) => return Err(format!("closed: {frame:?}")),
                Ok(None) => return Err("dropped".into()),
                Ok(Some(Err(e))) => return Err(e.to_string()),
                Ok(Some(Ok(_))) => continue,
            }
        }
    }

    /// Connects; `token` goes in the subprotocol header when given.
    pub async fn raw(
        app: &TestApp,
        token: Option<&str>,
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let mut request = Self::url(app).into_client_request().unwrap();
        let protocols = match token {
            Some(t) => format!("samtale.v1, samtale.bearer.{t}"),
            None => "samtale.v1".to_string(),
        };
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocols.parse().unwrap());
        let (stream, _) = tokio_tungstenite::connect_async(request).await?;
        Ok(Ws { stream })
    }

    pub async fn send(&mut self, frame: &ClientFrame) {
        self.stream
            .send(Message::Text(frame.to_json().into()))
            .await
            .expect("send frame");
    }

    pub async fn send_raw(&mut self, message: Message) {
        let _ = self.stream.send(message).await;
    }

    /// The next server frame (skipping pings); `None` on close.
    pub async fn recv(&mut self) -> Option<ServerFrame> {
        self.next_or_close(Duration::from_secs(20)).await.ok()
    }

    /// The next frame, or how the connection ended.
    pub async fn next_or_close(&mut self, wait: Duration) -> Result<ServerFrame, Closed> {
        loop {
            let message = tokio::time::timeout(wait, self.stream.next())
                .await
                .expect("the server answered in time");
            match message {
                Some(Ok(Message::Text(t))) => {
                    return Ok(ServerFrame::parse(t.as_str()).expect("valid server frame"));
                }
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Err(Closed::Code(frame.code.into()));
                }
                Some(Ok(Message::Close(None))) | None | Some(Err(_)) => {
                    return Err(Closed::Dropped);
                }
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Reads frames until the connection closes; returns its close code.
    pub async fn closed(&mut self, wait: Duration) -> Closed {
        loop {
            match self.next_or_close(wait).await {
                Ok(_) => continue,
                Err(c) => return c,
            }
        }
    }

    /// Syncs a thread and collects the delivered frames up to `synced`.
    pub async fn sync(&mut self, thread: ThreadId, after: u64) -> Vec<(u64, MessageId, Vec<u8>)> {
        self.send(&ClientFrame::Sync {
            thread_id: thread,
            after_seq: after,
        })
        .await;
        let mut out = Vec::new();
        loop {
            match self.recv().await.expect("frame") {
                ServerFrame::Deliver {
                    thread_id,
                    seq,
                    message_id,
                    envelope,
                    ..
                } if thread_id == thread => {
                    out.push((seq, message_id, envelope));
                }
                ServerFrame::Synced { thread_id, .. } if thread_id == thread => return out,
                ServerFrame::Error { code, message, .. } => {
                    panic!("sync failed: {code:?} {message}")
                }
                _ => {}
            }
        }
    }

    /// Sends and waits for the ack (skipping other frames); returns its seq.
    pub async fn send_and_ack(
        &mut self,
        frame: &ClientFrame,
    ) -> Result<u64, (samtale_protocol::wire::ErrorCode, String)> {
        let want = match frame {
            ClientFrame::Send { message_id, .. } => *message_id,
            _ => panic!("not a send"),
        };
        self.send(frame).await;
        loop {
            match self.recv().await.expect("frame") {
                ServerFrame::Ack {
                    message_id, seq, ..
                } if message_id == want => return Ok(seq),
                ServerFrame::Error {
                    code,
                    message,
                    message_id,
                } if message_id == Some(want) => {
                    return Err((code, message));
                }
                _ => {}
            }
        }
    }

    /// Waits for the next `deliver` frame.
    pub async fn next_delivery(&mut self) -> (ThreadId, u64, MessageId, Vec<u8>) {
        loop {
            if let ServerFrame::Deliver {
                thread_id,
                seq,
                message_id,
                envelope,
                ..
            } = self.recv().await.expect("frame")
            {
                return (thread_id, seq, message_id, envelope);
            }
        }
    }
}
