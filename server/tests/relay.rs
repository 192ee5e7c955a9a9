//! The encrypted relay end to end: real sockets, the protocol crate doing
//! the encryption, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use reqwest::Method;
use samtale_protocol::wire::{
    ClientFrame, EntitledDevices, ErrorCode, HolderKeySet, MessagePage, ReceiptList, ServerFrame,
};
use samtale_protocol::{
    DeviceKeys, HolderKeyPair, HolderKind, MessageId, Receipt, ReceiptKind, ThreadId,
};
use serde_json::Value;
use support::world::{
    Closed, World, Ws, create_staff, grant, login, my_keys, open, publish, recipients, seal,
    send_frame,
};
use support::{TestApp, TestDatabase, expect, expect_error};
use tokio_tungstenite::tungstenite::Message;

/// A server with an organisation, one citizen and their thread with the
/// caseworker's team, and the keys a message to it is sealed to.
struct Scene {
    app: TestApp,
    world: World,
    maja: support::world::Citizen,
    thread: ThreadId,
    to: Vec<samtale_protocol::HolderPublicKey>,
}

impl Scene {
    async fn new(db: &TestDatabase, national_id: &str, fast: bool) -> Scene {
        let app = if fast {
            fast_app(db).await
        } else {
            TestApp::spawn(db).await
        };
        let world = World::build(&app).await;
        let maja = world
            .citizen(&app, &world.staff, world.team, national_id)
            .await;
        let thread = world
            .open_thread(&app, &world.staff, world.team, &[&maja])
            .await;
        let to = recipients(&app, &world.staff, thread).await;
        Scene {
            app,
            world,
            maja,
            thread,
            to,
        }
    }
}

async fn staff_and_citizen_exchange_messages_with_receipts(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let world = World::build(&app).await;
    let maja = world
        .citizen(&app, &world.staff, world.team, "010190-1234")
        .await;
    let thread = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;

    let mut staff_ws = Ws::connect(&app, world.staff.token()).await;
    let mut citizen_ws = Ws::connect(&app, maja.actor.token()).await;
    assert!(citizen_ws.sync(thread, 0).await.is_empty());
    assert!(staff_ws.sync(thread, 0).await.is_empty());

    let to = recipients(&app, &world.staff, thread).await;
    assert_eq!(to.len(), 3, "team, citizen and archive");
    let (id, envelope) = seal(
        &world.staff,
        thread,
        &to,
        b"Hej Maja, husk modet i morgen kl. 10.",
    );
    assert_eq!(
        staff_ws
            .send_and_ack(&send_frame(thread, id, &envelope))
            .await,
        Ok(1)
    );

    let (t, seq, got_id, got) = citizen_ws.next_delivery().await;
    assert_eq!((t, seq, got_id), (thread, 1, id));
    let citizen_keys = my_keys(&app, &maja.actor).await;
    assert_eq!(
        open(thread, id, &got, &citizen_keys).as_deref(),
        Some(&b"Hej Maja, husk modet i morgen kl. 10."[..])
    );

    // The citizen answers; the caseworker reads it with the team key.
    let to = recipients(&app, &maja.actor, thread).await;
    let (reply, envelope) = seal(&maja.actor, thread, &to, b"Tak, jeg kommer.");
    assert_eq!(
        citizen_ws
            .send_and_ack(&send_frame(thread, reply, &envelope))
            .await,
        Ok(2)
    );
    let (_, seq, got_id, got) = staff_ws.next_delivery().await;
    assert_eq!((seq, got_id), (2, reply));
    let team_keys = my_keys(&app, &world.staff).await;
    assert_eq!(
        open(thread, reply, &got, &team_keys).as_deref(),
        Some(&b"Tak, jeg kommer."[..])
    );

    // The record clerk reads the same envelopes with the archive key.
    let page: MessagePage = expect(
        app.call(
            Method::GET,
            &format!("/v1/threads/{thread}/messages"),
            Some(world.clerk.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(page.last_seq, 2);
    let archive = my_keys(&app, &world.clerk).await;
    for m in &page.messages {
        assert!(open(thread, m.message_id, &m.envelope, &archive).is_some());
    }

    // Read receipt: signed by the citizen's device, relayed and stored.
    let receipt = Receipt::sign(&maja.actor.device, thread, 2, ReceiptKind::Read, 1);
    citizen_ws
        .send(&ClientFrame::Receipt {
            receipt: receipt.as_bytes().to_vec(),
        })
        .await;
    loop {
        if let ServerFrame::Receipt { receipt: r } = staff_ws.recv().await.unwrap() {
            assert_eq!(r, receipt.as_bytes());
            break;
        }
    }
    let list: ReceiptList = expect(
        app.call(
            Method::GET,
            &format!("/v1/threads/{thread}/receipts"),
            Some(world.staff.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(list.receipts.len(), 1);
    // A receipt for messages that do not exist is refused.
    let ahead = Receipt::sign(&maja.actor.device, thread, 99, ReceiptKind::Read, 2);
    citizen_ws
        .send(&ClientFrame::Receipt {
            receipt: ahead.as_bytes().to_vec(),
        })
        .await;
    match citizen_ws.recv().await.unwrap() {
        ServerFrame::Error { code, .. } => assert_eq!(code, ErrorCode::ValidationFailed),
        other => panic!("{other:?}"),
    }
    // So is one for no message, and one dated days ahead (PROTOCOL.md §9).
    let now_ms = support::world::now() * 1000;
    for bad in [
        Receipt::sign(&maja.actor.device, thread, 0, ReceiptKind::Read, now_ms),
        Receipt::sign(
            &maja.actor.device,
            thread,
            2,
            ReceiptKind::Read,
            now_ms + 3 * 86_400_000,
        ),
    ] {
        citizen_ws
            .send(&ClientFrame::Receipt {
                receipt: bad.as_bytes().to_vec(),
            })
            .await;
        match citizen_ws.recv().await.unwrap() {
            ServerFrame::Error { code, message, .. } => {
                assert_eq!(code, ErrorCode::ValidationFailed, "{message}");
            }
            other => panic!("{other:?}"),
        }
    }
    app.stop().await;
}
on_both_backends!(exchange, staff_and_citizen_exchange_messages_with_receipts);

async fn multi_party_thread_second_device_and_a_colleague_who_joins_later(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let world = World::build(&app).await;
    let foster = world
        .citizen(&app, &world.staff, world.team, "020280-2345")
        .await;
    let parent = world
        .citizen(&app, &world.staff, world.team, "030370-3456")
        .await;
    let thread = world
        .open_thread(&app, &world.staff, world.team, &[&foster, &parent])
        .await;

    let mut staff_ws = Ws::connect(&app, world.staff.token()).await;
    let to = recipients(&app, &world.staff, thread).await;
    assert_eq!(to.len(), 4, "team, two citizens, archive");
    let mut sent = Vec::new();
    for text in ["Mode torsdag", "Samvaer i weekenden", "Husk skolefoto"] {
        let (id, env) = seal(&world.staff, thread, &to, text.as_bytes());
        staff_ws
            .send_and_ack(&send_frame(thread, id, &env))
            .await
            .unwrap();
        sent.push((id, text));
    }
    // Both citizens read everything.
    for c in [&foster, &parent] {
        let mut ws = Ws::connect(&app, c.actor.token()).await;
        let got = ws.sync(thread, 0).await;
        let keys = my_keys(&app, &c.actor).await;
        let texts: Vec<Vec<u8>> = got
            .iter()
            .map(|(_, id, e)| open(thread, *id, e, &keys).unwrap())
            .collect();
        assert_eq!(
            texts,
            sent.iter()
                .map(|(_, t)| t.as_bytes().to_vec())
                .collect::<Vec<_>>()
        );
    }

    // The foster parent's second phone: a new invitation for the same
    // person joins the same account; the first phone grants the key.
    let phone2 = DeviceKeys::generate().unwrap();
    let second = world
        .signup(&app, &world.staff, world.team, &foster.national_id, phone2)
        .await;
    assert_eq!(second.account, foster.actor.account);
    let devices: EntitledDevices = expect(
        app.call(
            Method::GET,
            &format!("/v1/keys/{}/devices", foster.key.epoch().holder),
            Some(foster.actor.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    let missing: Vec<_> = devices
        .devices
        .iter()
        .filter(|d| !d.missing_epochs.is_empty())
        .collect();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].keys, second.device.public());
    expect::<Value>(
        grant(&app, &foster.actor, &foster.key, &[&second.device]).await,
        200,
    )
    .await;
    let mut ws2 = Ws::connect(&app, second.token()).await;
    let got = ws2.sync(thread, 0).await;
    let keys = my_keys(&app, &second).await;
    assert_eq!(got.len(), 3);
    assert!(
        got.iter()
            .all(|(_, id, e)| open(thread, *id, e, &keys).is_some())
    );

    // A colleague joins the team later and reads the whole history once
    // granted the team key.
    let colleague_id = create_staff(
        &app,
        &world.admin,
        &world.root,
        "colleague",
        &["staff"],
        &[world.team],
    )
    .await;
    let colleague = login(&app, "colleague").await;
    assert_eq!(colleague.account, colleague_id);
    world.certify(&app, &colleague).await;
    expect::<Value>(
        grant(&app, &world.staff, &world.team_key, &[&colleague.device]).await,
        200,
    )
    .await;
    let mut cws = Ws::connect(&app, colleague.token()).await;
    let got = cws.sync(thread, 0).await;
    let keys = my_keys(&app, &colleague).await;
    let texts: Vec<Vec<u8>> = got
        .iter()
        .map(|(_, id, e)| open(thread, *id, e, &keys).unwrap())
        .collect();
    assert_eq!(texts.len(), 3);
    // And the colleague can answer in the team's thread.
    let (id, env) = seal(&colleague, thread, &to, b"Jeg overtager sagen");
    assert_eq!(cws.send_and_ack(&send_frame(thread, id, &env)).await, Ok(4));

    // The colleague leaves the team: the thread is gone for them at once
    // (their open socket closes with 4007, forbidden: the session goes on
    // and a new connection no longer reaches the thread), and the team key
    // is due for an epoch they are not entitled to.
    support::world::append_by_root(
        &app,
        &world.root,
        world.admin.token(),
        &format!("/v1/teams/{}/member-log", world.team),
        samtale_protocol::membership::LogKind::TeamMembers,
        *world.team.as_bytes(),
        samtale_protocol::membership::Operation::Remove,
        samtale_protocol::membership::Member::Staff(colleague.account),
    )
    .await;
    assert_eq!(cws.closed(Duration::from_secs(5)).await, Closed::Code(4007));
    let mut cws = Ws::connect(&app, colleague.token()).await;
    let (id, env) = seal(&colleague, thread, &to, b"efter jeg gik");
    let (code, _) = cws
        .send_and_ack(&send_frame(thread, id, &env))
        .await
        .unwrap_err();
    assert_eq!(code, ErrorCode::NotFound);
    expect_error(
        app.call(
            Method::GET,
            &format!("/v1/threads/{thread}"),
            Some(colleague.token()),
            None,
        )
        .await,
        404,
        ErrorCode::NotFound,
    )
    .await;
    let holder = world.team_key.epoch().holder;
    let set: HolderKeySet = expect(
        app.call(
            Method::GET,
            &format!("/v1/keys/{holder}"),
            Some(world.staff.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(set.rotation_due);
    let devices: EntitledDevices = expect(
        app.call(
            Method::GET,
            &format!("/v1/keys/{holder}/devices"),
            Some(world.staff.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(
        devices
            .devices
            .iter()
            .all(|d| d.account_id != colleague.account)
    );
    expect_error(
        grant(&app, &world.staff, &world.team_key, &[&colleague.device]).await,
        422,
        ErrorCode::ValidationFailed,
    )
    .await;
    app.stop().await;
}
on_both_backends!(
    multi_party,
    multi_party_thread_second_device_and_a_colleague_who_joins_later
);

/// A server whose connections may send fast (the default rate limit is for
/// people, not for tests that pipeline hundreds of frames).
async fn fast_app(db: &TestDatabase) -> TestApp {
    let mut settings = db.app_settings();
    settings.messaging.ws_frames_per_second = 100_000;
    TestApp::spawn_with(&settings).await
}

async fn an_offline_citizen_catches_up_500_messages_in_order(db: &TestDatabase) {
    let Scene {
        app,
        world,
        maja,
        thread,
        to,
    } = Scene::new(db, "040460-4567", true).await;
    let mut staff_ws = Ws::connect(&app, world.staff.token()).await;
    let mut ids = Vec::new();
    // Pipelined: all frames out, then all acks.
    for i in 0..500 {
        let (id, env) = seal(&world.staff, thread, &to, format!("besked {i}").as_bytes());
        staff_ws.send(&send_frame(thread, id, &env)).await;
        ids.push(id);
    }
    let mut acked = 0;
    while acked < 500 {
        match staff_ws.recv().await.unwrap() {
            ServerFrame::Ack {
                seq, message_id, ..
            } => {
                acked += 1;
                assert_eq!(
                    ids[seq as usize - 1],
                    message_id,
                    "acks carry the order of sending"
                );
            }
            ServerFrame::Error { code, message, .. } => panic!("{code:?}: {message}"),
            _ => {}
        }
    }
    let mut ws = Ws::connect(&app, maja.actor.token()).await;
    let got = ws.sync(thread, 0).await;
    let keys = my_keys(&app, &maja.actor).await;
    assert_eq!(got.len(), 500);
    for (i, (seq, id, env)) in got.iter().enumerate() {
        assert_eq!(*seq, i as u64 + 1);
        assert_eq!(*id, ids[i]);
        assert_eq!(
            open(thread, *id, env, &keys).unwrap(),
            format!("besked {i}").into_bytes()
        );
    }
    // Resuming from a cursor gives exactly the rest; live traffic follows.
    let mut ws2 = Ws::connect(&app, maja.actor.token()).await;
    assert_eq!(ws2.sync(thread, 480).await.len(), 20);
    let (id, env) = seal(&world.staff, thread, &to, b"live");
    staff_ws
        .send_and_ack(&send_frame(thread, id, &env))
        .await
        .unwrap();
    assert_eq!(ws2.next_delivery().await.1, 501);
    assert_eq!(ws.next_delivery().await.1, 501);
    app.stop().await;
}
on_both_backends!(
    offline_catch_up,
    an_offline_citizen_catches_up_500_messages_in_order
);

async fn a_revoked_device_is_cut_off_and_cannot_read_after_rotation(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let world = World::build(&app).await;
    let maja = world
        .citizen(&app, &world.staff, world.team, "050550-5678")
        .await;
    let lost = world
        .signup(
            &app,
            &world.staff,
            world.team,
            &maja.national_id,
            DeviceKeys::generate().unwrap(),
        )
        .await;
    expect::<Value>(
        grant(&app, &maja.actor, &maja.key, &[&lost.device]).await,
        200,
    )
    .await;
    let thread = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;
    let mut lost_ws = Ws::connect(&app, lost.token()).await;
    lost_ws.sync(thread, 0).await;
    let old_keys = my_keys(&app, &lost).await;

    // Revoked from the other phone: the lost phone's socket closes at once.
    let started = std::time::Instant::now();
    let response = app
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", lost.tokens.device_id),
            Some(maja.actor.token()),
            None,
        )
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        lost_ws.closed(Duration::from_secs(2)).await,
        Closed::Code(4005)
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    expect_error(
        app.call(Method::GET, "/v1/grants", Some(lost.token()), None)
            .await,
        401,
        ErrorCode::DeviceRevoked,
    )
    .await;
    let mut again = Ws::raw(&app, Some(lost.token())).await.unwrap();
    assert_eq!(
        again.closed(Duration::from_secs(5)).await,
        Closed::Code(4005)
    );

    // The citizen key is due for a new epoch; the remaining phone makes it.
    let set: HolderKeySet = expect(
        app.call(
            Method::GET,
            &format!("/v1/keys/{}", maja.key.epoch().holder),
            Some(maja.actor.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    assert!(set.rotation_due);
    let next = HolderKeyPair::generate(maja.key.epoch().holder, HolderKind::Citizen, 1).unwrap();
    expect::<Value>(
        publish(&app, &maja.actor, &next, *maja.actor.account.as_bytes()).await,
        201,
    )
    .await;
    expect::<Value>(
        grant(&app, &maja.actor, &next, &[&maja.actor.device]).await,
        200,
    )
    .await;
    // Granting to the revoked device is refused.
    expect_error(
        grant(&app, &maja.actor, &next, &[&lost.device]).await,
        422,
        ErrorCode::ValidationFailed,
    )
    .await;

    // A sender still sealing to the old epoch is told to refetch.
    let mut staff_ws = Ws::connect(&app, world.staff.token()).await;
    let stale = vec![
        world.team_key.public(),
        maja.key.public(),
        world.archive_key.public(),
    ];
    let (id, env) = seal(&world.staff, thread, &stale, b"gammel noegle");
    let (code, _) = staff_ws
        .send_and_ack(&send_frame(thread, id, &env))
        .await
        .unwrap_err();
    assert_eq!(code, ErrorCode::Conflict);
    let to = recipients(&app, &world.staff, thread).await;
    assert!(to.contains(&next.public()));
    let (id, env) = seal(&world.staff, thread, &to, b"efter rotation");
    staff_ws
        .send_and_ack(&send_frame(thread, id, &env))
        .await
        .unwrap();
    // The lost phone's keys open nothing sent after the rotation; the
    // remaining phone's do.
    assert_eq!(open(thread, id, &env, &old_keys), None);
    let keys = my_keys(&app, &maja.actor).await;
    assert_eq!(
        open(thread, id, &env, &keys).as_deref(),
        Some(&b"efter rotation"[..])
    );
    app.stop().await;
}
on_both_backends!(
    revocation,
    a_revoked_device_is_cut_off_and_cannot_read_after_rotation
);

async fn the_same_send_frame_1000_times_is_stored_and_delivered_once(db: &TestDatabase) {
    let Scene {
        app,
        world,
        maja,
        thread,
        to,
    } = Scene::new(db, "060660-6789", true).await;
    let mut citizen_ws = Ws::connect(&app, maja.actor.token()).await;
    citizen_ws.sync(thread, 0).await;
    let mut staff_ws = Ws::connect(&app, world.staff.token()).await;
    let (id, env) = seal(&world.staff, thread, &to, b"en gang");
    let frame = send_frame(thread, id, &env);
    for _ in 0..1000 {
        staff_ws.send(&frame).await;
    }
    let mut acks = HashSet::new();
    let mut count = 0;
    while count < 1000 {
        match staff_ws.recv().await.unwrap() {
            ServerFrame::Ack {
                seq,
                message_id,
                committed_at_ms,
                ..
            } => {
                count += 1;
                acks.insert((seq, message_id, committed_at_ms));
            }
            ServerFrame::Error { code, message, .. } => panic!("{code:?}: {message}"),
            _ => {}
        }
    }
    assert_eq!(acks.len(), 1, "every resend gets the same ack");
    assert_eq!(acks.iter().next().unwrap().0, 1);
    // One more, different message marks the end of the citizen's stream.
    let (last, env2) = seal(&world.staff, thread, &to, b"slut");
    staff_ws
        .send_and_ack(&send_frame(thread, last, &env2))
        .await
        .unwrap();
    let mut deliveries = Vec::new();
    loop {
        let (_, seq, mid, _) = citizen_ws.next_delivery().await;
        deliveries.push((seq, mid));
        if mid == last {
            break;
        }
    }
    assert_eq!(deliveries, vec![(1, id), (2, last)]);
    let page: MessagePage = expect(
        app.call(
            Method::GET,
            &format!("/v1/threads/{thread}/messages"),
            Some(world.staff.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(page.messages.len(), 2);
    // Reusing the id for different content is a conflict, not an overwrite.
    let forged =
        samtale_protocol::Envelope::seal(&world.staff.device, thread, id, &to, b"andet").unwrap();
    let (code, _) = staff_ws
        .send_and_ack(&send_frame(thread, id, forged.as_bytes()))
        .await
        .unwrap_err();
    assert_eq!(code, ErrorCode::Conflict);
    app.stop().await;
}
on_both_backends!(
    replay,
    the_same_send_frame_1000_times_is_stored_and_delivered_once
);

async fn eight_concurrent_senders_never_make_a_syncing_reader_skip(db: &TestDatabase) {
    const SENDERS: usize = 8;
    const EACH: usize = 60;
    let Scene {
        app,
        world,
        maja,
        thread,
        to,
    } = Scene::new(db, "070770-7890", true).await;
    let mut senders = Vec::new();
    for _ in 0..SENDERS {
        let actor = login(&app, "caseworker").await;
        world.certify(&app, &actor).await;
        expect::<Value>(
            grant(&app, &world.staff, &world.team_key, &[&actor.device]).await,
            200,
        )
        .await;
        senders.push(actor);
    }
    let mut tasks = Vec::new();
    for actor in senders {
        let to = to.clone();
        let mut ws = Ws::connect(&app, actor.token()).await;
        tasks.push(tokio::spawn(async move {
            for i in 0..EACH {
                let (id, env) = seal(&actor, thread, &to, format!("{i}").as_bytes());
                ws.send_and_ack(&send_frame(thread, id, &env))
                    .await
                    .unwrap();
            }
        }));
    }
    // The reader joins while the senders are busy.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut reader = Ws::connect(&app, maja.actor.token()).await;
    let mut seen: Vec<u64> = reader
        .sync(thread, 0)
        .await
        .iter()
        .map(|(s, _, _)| *s)
        .collect();
    let total = (SENDERS * EACH) as u64;
    while seen.len() < total as usize {
        let (_, seq, _, _) = reader.next_delivery().await;
        seen.push(seq);
    }
    for t in tasks {
        t.await.unwrap();
    }
    let expected: Vec<u64> = (1..=total).collect();
    assert_eq!(
        seen, expected,
        "every sequence number exactly once, in order"
    );
    app.stop().await;
}
on_both_backends!(
    concurrency,
    eight_concurrent_senders_never_make_a_syncing_reader_skip
);

async fn bad_frames_get_their_documented_errors_and_the_connection_goes_on(db: &TestDatabase) {
    let Scene {
        app,
        world,
        maja: _,
        thread,
        to,
    } = Scene::new(db, "080880-8901", false).await;

    // A frame before authentication ends the connection with 4002.
    let mut ws = Ws::raw(&app, None).await.unwrap();
    ws.send(&ClientFrame::Sync {
        thread_id: thread,
        after_seq: 0,
    })
    .await;
    match ws.next_or_close(Duration::from_secs(5)).await {
        Ok(ServerFrame::Error { code, .. }) => assert_eq!(code, ErrorCode::NotAuthenticated),
        other => panic!("{other:?}"),
    }
    assert_eq!(ws.closed(Duration::from_secs(5)).await, Closed::Code(4002));
    // A bad token: 4003. Authenticating in the first frame works.
    let mut ws = Ws::raw(&app, None).await.unwrap();
    ws.send(&ClientFrame::Auth {
        token: "not-a-token".into(),
    })
    .await;
    assert_eq!(ws.closed(Duration::from_secs(5)).await, Closed::Code(4003));
    let mut ws = Ws::raw(&app, None).await.unwrap();
    ws.send(&ClientFrame::Auth {
        token: world.staff.token().into(),
    })
    .await;
    assert!(matches!(ws.recv().await, Some(ServerFrame::Ready { .. })));

    let expect_code = |frame: Option<ServerFrame>, want: ErrorCode| match frame {
        Some(ServerFrame::Error { code, .. }) => assert_eq!(code, want),
        other => panic!("expected {want:?}, got {other:?}"),
    };
    ws.send_raw(Message::Text("{not json".into())).await;
    expect_code(ws.recv().await, ErrorCode::BadRequest);
    ws.send_raw(Message::Text(r#"{"type":"teleport"}"#.into()))
        .await;
    expect_code(ws.recv().await, ErrorCode::UnknownFrameType);
    ws.send_raw(Message::Text(
        r#"{"type":"sync","thread_id":"x","after_seq":0,"extra":1}"#.into(),
    ))
    .await;
    expect_code(ws.recv().await, ErrorCode::BadRequest);
    ws.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    expect_code(ws.recv().await, ErrorCode::BadRequest);
    ws.send(&ClientFrame::Auth {
        token: world.staff.token().into(),
    })
    .await;
    expect_code(ws.recv().await, ErrorCode::BadRequest);
    // An unknown or invisible thread is not found.
    ws.send(&ClientFrame::Sync {
        thread_id: ThreadId::random().unwrap(),
        after_seq: 0,
    })
    .await;
    expect_code(ws.recv().await, ErrorCode::NotFound);

    // Envelopes: signed by another device, tampered, or not matching the frame.
    let impostor = support::world::Actor {
        account: world.staff.account,
        tokens: world.staff.tokens.clone(),
        device: DeviceKeys::generate().unwrap(),
    };
    let (id, env) = seal(&impostor, thread, &to, b"x");
    assert_eq!(
        ws.send_and_ack(&send_frame(thread, id, &env))
            .await
            .unwrap_err()
            .0,
        ErrorCode::InvalidEnvelope
    );
    let (id, mut env) = seal(&world.staff, thread, &to, b"x");
    let last = env.len() - 1;
    env[last] ^= 1;
    assert_eq!(
        ws.send_and_ack(&send_frame(thread, id, &env))
            .await
            .unwrap_err()
            .0,
        ErrorCode::InvalidEnvelope
    );
    let (id, env) = seal(&world.staff, thread, &to, b"x");
    let other = MessageId::random().unwrap();
    assert_eq!(
        ws.send_and_ack(&send_frame(thread, other, &env))
            .await
            .unwrap_err()
            .0,
        ErrorCode::InvalidEnvelope
    );
    assert_eq!(
        ws.send_and_ack(&send_frame(thread, id, &[1, 2, 3]))
            .await
            .unwrap_err()
            .0,
        ErrorCode::InvalidEnvelope
    );
    // Without the archive key among the recipients: refused.
    let (id, env) = seal(&world.staff, thread, &to[..2], b"x");
    assert_eq!(
        ws.send_and_ack(&send_frame(thread, id, &env))
            .await
            .unwrap_err()
            .0,
        ErrorCode::Conflict
    );

    // After all that, the connection still works.
    let (id, env) = seal(&world.staff, thread, &to, b"virker stadig");
    assert_eq!(ws.send_and_ack(&send_frame(thread, id, &env)).await, Ok(1));

    // Flooding: past the burst, frames are refused with rate_limited; a
    // client that keeps going after 50 refusals in a row is closed (4012).
    let flood = ClientFrame::Sync {
        thread_id: ThreadId::random().unwrap(),
        after_seq: 0,
    };
    for _ in 0..400 {
        ws.send(&flood).await;
    }
    let mut limited = 0;
    let closed = loop {
        match ws.next_or_close(Duration::from_secs(5)).await {
            Ok(ServerFrame::Error {
                code: ErrorCode::RateLimited,
                ..
            }) => limited += 1,
            Ok(_) => {}
            Err(closed) => break closed,
        }
    };
    assert!(limited > 0, "the flood was rate limited before the close");
    assert_eq!(closed, Closed::Code(4012));

    // An oversize message closes with 1009.
    let mut ws = Ws::connect(&app, world.staff.token()).await;
    ws.send_raw(Message::Text("x".repeat(200_000).into())).await;
    assert_eq!(ws.closed(Duration::from_secs(5)).await, Closed::Code(1009));

    // Without the subprotocol, or from a foreign web origin: refused at upgrade.
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = format!("{}/ws", app.address.replacen("http://", "ws://", 1));
    let request = url.clone().into_client_request().unwrap();
    assert!(tokio_tungstenite::connect_async(request).await.is_err());
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "samtale.v1".parse().unwrap());
    request
        .headers_mut()
        .insert("Origin", "https://evil.example".parse().unwrap());
    assert!(tokio_tungstenite::connect_async(request).await.is_err());
    app.stop().await;
}
on_both_backends!(
    bad_input,
    bad_frames_get_their_documented_errors_and_the_connection_goes_on
);

async fn a_citizen_who_withdrew_consent_cannot_be_sent_to(db: &TestDatabase) {
    let Scene {
        app,
        world,
        maja,
        thread,
        to,
    } = Scene::new(db, "090990-9012", false).await;
    let mut staff_ws = Ws::connect(&app, world.staff.token()).await;
    let (id, env) = seal(&world.staff, thread, &to, b"foer");
    staff_ws
        .send_and_ack(&send_frame(thread, id, &env))
        .await
        .unwrap();
    let mut citizen_ws = Ws::connect(&app, maja.actor.token()).await;
    let response = app
        .call(
            Method::POST,
            "/v1/consent/withdraw",
            Some(maja.actor.token()),
            None,
        )
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        citizen_ws.closed(Duration::from_secs(2)).await,
        Closed::Code(4011)
    );
    let (id, env) = seal(&world.staff, thread, &to, b"efter");
    let (code, message) = staff_ws
        .send_and_ack(&send_frame(thread, id, &env))
        .await
        .unwrap_err();
    assert_eq!(code, ErrorCode::ConsentWithdrawn);
    assert!(message.contains("letter or digital post"), "{message}");
    // Nothing was stored.
    let page: MessagePage = expect(
        app.call(
            Method::GET,
            &format!("/v1/threads/{thread}/messages"),
            Some(world.staff.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(page.last_seq, 1);
    // Nor can a new thread be opened with them.
    let response = world
        .try_open_thread(
            &app,
            &world.staff,
            world.team,
            ThreadId::random().unwrap(),
            &[&maja],
        )
        .await;
    expect_error(response, 403, ErrorCode::ConsentWithdrawn).await;
    app.stop().await;
}
on_both_backends!(consent, a_citizen_who_withdrew_consent_cannot_be_sent_to);

async fn a_reader_that_cannot_keep_up_is_closed_and_catches_up_after(db: &TestDatabase) {
    const N: usize = 1500;
    let Scene {
        app,
        world,
        maja,
        thread,
        to,
    } = Scene::new(db, "180118-8888", true).await;
    let mut slow = Ws::connect(&app, maja.actor.token()).await;
    slow.sync(thread, 0).await;
    // The citizen's device stops reading; large messages fill the socket
    // buffers and then the connection's bounded queue.
    let mut staff_ws = Ws::connect(&app, world.staff.token()).await;
    let filler = vec![b'x'; 30_000];
    for _ in 0..N {
        let (id, env) = seal(&world.staff, thread, &to, &filler);
        staff_ws.send(&send_frame(thread, id, &env)).await;
    }
    let mut acked = 0;
    while acked < N {
        if let ServerFrame::Ack { .. } = staff_ws.recv().await.unwrap() {
            acked += 1;
        }
    }
    // Now it reads: some deliveries, then the end of the connection.
    let mut last = 0;
    let ended = loop {
        match slow.next_or_close(Duration::from_secs(30)).await {
            Ok(ServerFrame::Deliver { seq, .. }) => {
                assert_eq!(seq, last + 1, "in order, nothing skipped");
                last = seq;
            }
            Ok(_) => {}
            Err(closed) => break closed,
        }
    };
    assert!(
        matches!(ended, Closed::Code(4013) | Closed::Dropped),
        "{ended:?}"
    );
    assert!(
        (last as usize) < N,
        "the slow reader was cut off ({last} of {N})"
    );
    assert!(
        app.relay.hub.connections() <= 1,
        "the slow connection is gone"
    );
    // Reconnecting resumes from the cursor with nothing missing.
    let mut again = Ws::connect(&app, maja.actor.token()).await;
    let rest = again.sync(thread, last).await;
    assert_eq!(rest.len(), N - last as usize);
    assert_eq!(rest.first().map(|r| r.0), Some(last + 1));
    app.stop().await;
}
on_both_backends!(
    slow_consumer,
    a_reader_that_cannot_keep_up_is_closed_and_catches_up_after
);

async fn a_client_can_name_and_verify_every_sender_of_a_thread(db: &TestDatabase) {
    use samtale_protocol::wire::{AccountInfo, AccountKind, ThreadDevices};
    use samtale_protocol::{CertificateBody, CertifiedTeam, DeviceCertificate, Roles};
    let Scene {
        app,
        world,
        maja,
        thread,
        to,
    } = Scene::new(db, "010190-1234", false).await;
    // The root certifies the caseworker's device.
    let staff_id = world.staff.device.public();
    let cert = DeviceCertificate::issue(
        &world.root,
        CertificateBody {
            org_id: world.org_id,
            org_name: "Randers Kommune".into(),
            device: staff_id,
            staff_id: world.staff.account,
            staff_name: "caseworker".into(),
            roles: Roles::STAFF,
            teams: vec![CertifiedTeam {
                id: world.team,
                name: "Familieafdelingen".into(),
            }],
            not_before: support::world::now() - 60,
            not_after: support::world::now() + 86_400,
        },
    )
    .unwrap();
    let uploaded = app
        .call(
            Method::PUT,
            &format!("/v1/devices/{}/certificate", world.staff.tokens.device_id),
            Some(world.staff.token()),
            Some(
                serde_json::to_value(samtale_protocol::wire::UploadCertificate::new(&cert))
                    .unwrap(),
            ),
        )
        .await;
    assert_eq!(uploaded.status(), 204);
    // The admin sees the device as certified; a caseworker may not look.
    let listed: Vec<samtale_protocol::wire::DeviceInfo> = expect(
        app.call(
            Method::GET,
            &format!("/v1/staff/{}/devices", world.staff.account),
            Some(world.admin.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].certified);
    let refused = app
        .call(
            Method::GET,
            &format!("/v1/staff/{}/devices", world.admin.account),
            Some(world.staff.token()),
            None,
        )
        .await;
    assert_eq!(refused.status(), 403);
    let mut ws = Ws::connect(&app, world.staff.token()).await;
    let (id, envelope) = seal(&world.staff, thread, &to, b"Hej");
    ws.send_and_ack(&send_frame(thread, id, &envelope))
        .await
        .unwrap();

    // The citizen learns the root key (to check against the letter) and
    // every device that may write, with the staff certificate.
    let me: AccountInfo = expect(
        app.call(Method::GET, "/v1/me", Some(maja.actor.token()), None)
            .await,
        200,
    )
    .await;
    assert_eq!(me.root_public_key, world.root.public());
    assert_eq!(
        me.root_fingerprint,
        samtale_protocol::org_fingerprint(&world.root.public())
    );
    let devices: ThreadDevices = expect(
        app.call(
            Method::GET,
            &format!("/v1/threads/{thread}/devices"),
            Some(maja.actor.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    let staff = devices
        .devices
        .iter()
        .find(|d| d.device_id == world.staff.tokens.device_id)
        .expect("the caseworker's device is listed");
    assert_eq!(staff.kind, AccountKind::Staff);
    let listed = DeviceCertificate::decode(staff.certificate.as_deref().unwrap()).unwrap();
    let opened = samtale_protocol::Envelope::decode(&envelope).unwrap();
    let body = listed
        .verify_signer(&me.root_public_key, support::world::now(), &opened.sender())
        .unwrap();
    assert_eq!(body.staff_name, "caseworker");
    let citizen = devices
        .devices
        .iter()
        .find(|d| d.account_id == maja.actor.account)
        .expect("the citizen's device is listed");
    assert_eq!(citizen.kind, AccountKind::Citizen);
    assert!(citizen.certificate.is_none());
    // The record clerk is not a writer.
    assert!(
        devices
            .devices
            .iter()
            .all(|d| d.account_id != world.clerk.account)
    );

    // Someone outside the thread sees nothing.
    let other = world
        .citizen(&app, &world.staff, world.team, "020290-1234")
        .await;
    let status = app
        .call(
            Method::GET,
            &format!("/v1/threads/{thread}/devices"),
            Some(other.actor.token()),
            None,
        )
        .await
        .status();
    assert_eq!(status, 404);
    app.stop().await;
}
on_both_backends!(
    thread_devices,
    a_client_can_name_and_verify_every_sender_of_a_thread
);

async fn an_uncertified_staff_device_cannot_send_until_it_is_certified(db: &TestDatabase) {
    let Scene {
        app,
        world,
        thread,
        to,
        ..
    } = Scene::new(db, "080880-8888", false).await;
    // A second desk of the caseworker, not certified yet, holding the key.
    let desk = login(&app, "caseworker").await;
    expect::<Value>(
        grant(&app, &world.staff, &world.team_key, &[&desk.device]).await,
        200,
    )
    .await;
    let mut ws = Ws::connect(&app, desk.token()).await;
    let (id, envelope) = seal(&desk, thread, &to, b"Hej");
    let refused = ws
        .send_and_ack(&send_frame(thread, id, &envelope))
        .await
        .unwrap_err();
    assert_eq!(refused.0, ErrorCode::Forbidden);
    assert!(refused.1.contains("not certified"), "{}", refused.1);
    // Certified while connected: the same send now goes through.
    world.certify(&app, &desk).await;
    assert_eq!(
        ws.send_and_ack(&send_frame(thread, id, &envelope)).await,
        Ok(1)
    );
    app.stop().await;
}
on_both_backends!(
    uncertified,
    an_uncertified_staff_device_cannot_send_until_it_is_certified
);
