//! The authorization matrix: every principal × thread × action, over HTTP
//! and the WebSocket, against the checked-in table in
//! `tests/fixtures/authorization_matrix.txt`. Invisible objects answer 404.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use reqwest::Method;
use samtale_protocol::membership::{LogKind, Member, MembershipRecord, MembershipState, Operation};
use samtale_protocol::wire::{
    AttachmentStored, ClientFrame, ServerFrame, ThreadDetail, ThreadList,
};
use samtale_protocol::{DeviceKeys, HolderId, HolderKeyPair, HolderKind, ThreadId, b64};
use serde_json::{Value, json};
use support::world::{
    Actor, Citizen, Closed, World, Ws, create_staff, create_team, grant, login, publish,
    recipients, seal, send_frame,
};
use support::{TestApp, TestDatabase, expect};

const MATRIX: &str = include_str!("fixtures/authorization_matrix.txt");
const ACTIONS: [&str; 8] = [
    "list",
    "read",
    "send",
    "subscribe",
    "keys",
    "grants",
    "add",
    "download",
];

struct Object {
    thread: ThreadId,
    owner: usize,
    attachment: String,
}

struct Setup {
    principals: HashMap<&'static str, Option<usize>>,
    actors: Vec<Actor>,
    objects: HashMap<&'static str, Object>,
    newcomer: Citizen,
}

async fn setup(app: &TestApp) -> Setup {
    let world = World::build(app).await;
    let team_y = create_team(app, &world.admin, "Jobcenter").await;
    create_staff(
        app,
        &world.admin,
        &world.root,
        "staff_y",
        &["staff"],
        &[team_y],
    )
    .await;
    let staff_y = login(app, "staff_y").await;
    support::world::certify(
        app,
        &world.root,
        world.org_id,
        &staff_y,
        samtale_protocol::Roles::STAFF,
        &[team_y],
    )
    .await;
    let team_y_key =
        HolderKeyPair::generate(HolderId::random().unwrap(), HolderKind::Team, 0).unwrap();
    expect::<Value>(
        publish(app, &staff_y, &team_y_key, *team_y.as_bytes()).await,
        201,
    )
    .await;
    expect::<Value>(
        grant(app, &staff_y, &team_y_key, &[&staff_y.device]).await,
        200,
    )
    .await;

    let a = world
        .citizen(app, &world.staff, world.team, "110111-1111")
        .await;
    // A joins team Y too, on a second phone that is revoked below.
    let a_second = world
        .signup(
            app,
            &staff_y,
            team_y,
            &a.national_id,
            DeviceKeys::generate().unwrap(),
        )
        .await;
    assert_eq!(a_second.account, a.actor.account);
    let b = world
        .citizen(app, &world.staff, world.team, "120112-2222")
        .await;
    let newcomer = world
        .citizen(app, &world.staff, world.team, "130113-3333")
        .await;
    world
        .signup(
            app,
            &staff_y,
            team_y,
            &newcomer.national_id,
            DeviceKeys::generate().unwrap(),
        )
        .await;

    let a_x = world
        .open_thread(app, &world.staff, world.team, &[&a])
        .await;
    let b_x = world
        .open_thread(app, &world.staff, world.team, &[&b])
        .await;
    let a_y = world.open_thread(app, &staff_y, team_y, &[&a]).await;
    let response = app
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", a_second.tokens.device_id),
            Some(a.actor.token()),
            None,
        )
        .await;
    assert_eq!(response.status(), 204);

    // actors: 0 staff_x, 1 staff_y, 2 clerk, 3 admin, 4 A, 5 B, 6 A revoked
    let staff_x = login(app, "caseworker").await;
    world.certify(app, &staff_x).await;
    expect::<Value>(
        grant(app, &world.staff, &world.team_key, &[&staff_x.device]).await,
        200,
    )
    .await;
    let clerk = login(app, "clerk").await;
    let admin = login(app, "admin").await;
    let actors = vec![
        staff_x,
        staff_y,
        clerk,
        admin,
        clone_actor(&a.actor),
        clone_actor(&b.actor),
        a_second,
    ];
    let mut objects = HashMap::new();
    for (name, thread, owner) in [("a_x", a_x, 0), ("b_x", b_x, 0), ("a_y", a_y, 1)] {
        let stored: AttachmentStored = expect(
            app.client
                .post(format!("{}/v1/threads/{thread}/attachments", app.address))
                .bearer_auth(actors[owner].token())
                .header("content-type", "application/octet-stream")
                .body(vec![7u8; 1000])
                .send()
                .await
                .unwrap(),
            201,
        )
        .await;
        objects.insert(
            name,
            Object {
                thread,
                owner,
                attachment: stored.attachment_id.to_string(),
            },
        );
    }
    let principals = HashMap::from([
        ("anonymous", None),
        ("staff_x", Some(0)),
        ("staff_y", Some(1)),
        ("clerk", Some(2)),
        ("admin", Some(3)),
        ("citizen_a", Some(4)),
        ("citizen_b", Some(5)),
        ("a_revoked", Some(6)),
    ]);
    Setup {
        principals,
        actors,
        objects,
        newcomer,
    }
}

fn clone_actor(a: &Actor) -> Actor {
    Actor {
        account: a.account,
        tokens: a.tokens.clone(),
        device: DeviceKeys::from_keystore_bytes(&a.device.to_keystore_bytes()).unwrap(),
    }
}

fn status(response: &reqwest::Response) -> String {
    response.status().as_u16().to_string()
}

async fn outcome(
    app: &TestApp,
    s: &Setup,
    who: Option<&Actor>,
    object: &Object,
    action: &str,
) -> String {
    let thread = object.thread;
    let token = who.map(Actor::token);
    match action {
        "list" => {
            let response = app.call(Method::GET, "/v1/threads", token, None).await;
            if response.status() != 200 {
                return status(&response);
            }
            let list: ThreadList = response.json().await.unwrap();
            let found = list.threads.iter().any(|t| t.thread_id == thread);
            (if found { "yes" } else { "no" }).into()
        }
        "read" => status(
            &app.call(
                Method::GET,
                &format!("/v1/threads/{thread}/messages"),
                token,
                None,
            )
            .await,
        ),
        "keys" => status(
            &app.call(
                Method::GET,
                &format!("/v1/threads/{thread}/keys"),
                token,
                None,
            )
            .await,
        ),
        "grants" => status(
            &app.call(
                Method::GET,
                &format!("/v1/threads/{thread}/grants"),
                token,
                None,
            )
            .await,
        ),
        "download" => status(
            &app.call(
                Method::GET,
                &format!("/v1/attachments/{}", object.attachment),
                token,
                None,
            )
            .await,
        ),
        "send" | "subscribe" => {
            let mut ws = match Ws::raw(app, token).await {
                Ok(ws) => ws,
                Err(_) => return "401".into(),
            };
            if who.is_none() {
                ws.send(&ClientFrame::Sync {
                    thread_id: thread,
                    after_seq: 0,
                })
                .await;
            }
            match ws.next_or_close(Duration::from_secs(5)).await {
                Ok(ServerFrame::Ready { .. }) => {}
                Ok(ServerFrame::Error { code, .. }) => {
                    assert!(matches!(
                        ws.closed(Duration::from_secs(5)).await,
                        Closed::Code(_)
                    ));
                    return code.http_status().to_string();
                }
                other => panic!("{other:?}"),
            }
            let who = who.unwrap();
            let frame = if action == "send" {
                let to = recipients(app, &s.actors[object.owner], thread).await;
                let (id, env) = seal(who, thread, &to, b"matrix");
                send_frame(thread, id, &env)
            } else {
                ClientFrame::Sync {
                    thread_id: thread,
                    after_seq: 0,
                }
            };
            if action == "send" {
                return match ws.send_and_ack(&frame).await {
                    Ok(_) => "ok".into(),
                    Err((code, _)) => code.http_status().to_string(),
                };
            }
            ws.send(&frame).await;
            loop {
                match ws.recv().await.unwrap() {
                    ServerFrame::Synced { .. } => return "ok".into(),
                    ServerFrame::Error { code, .. } => return code.http_status().to_string(),
                    _ => {}
                }
            }
        }
        "add" => {
            // The next record of the thread's log, signed by the principal's
            // device (or a stranger's, for anonymous), adding the newcomer.
            let detail: ThreadDetail = expect(
                app.call(
                    Method::GET,
                    &format!("/v1/threads/{thread}"),
                    Some(s.actors[object.owner].token()),
                    None,
                )
                .await,
                200,
            )
            .await;
            let records: Vec<MembershipRecord> = detail
                .participants
                .iter()
                .map(|p| MembershipRecord::decode(&p.record).unwrap())
                .collect();
            let log = MembershipState::replay(
                LogKind::ThreadParticipants,
                *thread.as_bytes(),
                &records,
                &mut samtale_protocol::membership::any_signer,
            )
            .unwrap();
            let stranger = DeviceKeys::generate().unwrap();
            let signer = who.map_or(&stranger, |a| &a.device);
            let record = log.next_record(
                signer,
                Operation::Add,
                Member::Citizen(s.newcomer.actor.account),
                support::world::now(),
            );
            status(
                &app.call(
                    Method::POST,
                    &format!("/v1/threads/{thread}/participants"),
                    token,
                    Some(json!({
                        "citizen": s.newcomer.actor.account,
                        "record": {"record": b64::encode(record.as_bytes())},
                    })),
                )
                .await,
            )
        }
        other => panic!("unknown action {other}"),
    }
}

async fn every_principal_object_and_action_matches_the_table(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let s = setup(&app).await;
    let rows: Vec<Vec<&str>> = MATRIX
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 24, "8 principals × 3 objects");
    let mut mismatches = Vec::new();
    // Adding a participant changes the thread, so that column runs last.
    for pass in [false, true] {
        for row in &rows {
            let (principal, object) = (row[0], row[1]);
            let who = s.principals[principal].map(|i| &s.actors[i]);
            let obj = &s.objects[object];
            for (i, action) in ACTIONS.iter().enumerate() {
                if (*action == "add") != pass {
                    continue;
                }
                let got = outcome(&app, &s, who, obj, action).await;
                if got != row[2 + i] {
                    mismatches.push(format!(
                        "{principal} {object} {action}: expected {}, got {got}",
                        row[2 + i]
                    ));
                }
            }
        }
    }
    assert!(
        mismatches.is_empty(),
        "authorization mismatches:\n{}",
        mismatches.join("\n")
    );
    app.stop().await;
}
on_both_backends!(matrix, every_principal_object_and_action_matches_the_table);
