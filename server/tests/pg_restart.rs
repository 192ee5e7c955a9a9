//! PostgreSQL stopped hard (`pg_ctlcluster … stop -m immediate`) and
//! started again while a caseworker sends: sends fail fast with a clear
//! error, `/readyz` is 503 while the database is down, and sending works
//! again within 10 seconds of its return; nothing acknowledged is lost.
//!
//! It stops the machine's PostgreSQL, so it runs only when asked, alone:
//! `SAMTALE_TEST_PG_RESTART="15 main"` (the cluster's version and name for
//! `pg_ctlcluster`), with `SAMTALE_TEST_DATABASE_URL`. `bash .ci/run` runs
//! it as its own step after every other suite that uses PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::Method;
use samtale_protocol::MessageId;
use samtale_protocol::wire::{ErrorCode, MessagePage, ServerFrame};
use support::world::{World, Ws, recipients, seal, send_frame};
use support::{Backend, TestApp, TestDatabase, expect};

fn pg_ctl(cluster: &str, action: &str) {
    let mut parts = cluster.split_whitespace();
    let (version, name) = (parts.next().unwrap(), parts.next().unwrap());
    let mut command = Command::new("pg_ctlcluster");
    command.args(["--skip-systemctl-redirect", version, name, action]);
    if action == "stop" {
        command.args(["-m", "immediate"]);
    }
    let out = command.output().expect("pg_ctlcluster");
    assert!(
        out.status.success(),
        "pg_ctlcluster {action}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn postgres_restarted_during_traffic_fails_fast_recovers_and_loses_nothing() {
    let Ok(cluster) = std::env::var("SAMTALE_TEST_PG_RESTART") else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED (PostgreSQL restart): set SAMTALE_TEST_PG_RESTART=\"15 main\" to let this test stop and start the machine's PostgreSQL (bash .ci/run does, alone)"
        );
        return;
    };
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let mut settings = db.app_settings();
    settings.messaging.ws_frames_per_second = 100_000;
    let app = TestApp::spawn_with(&settings).await;
    let world = World::build(&app).await;
    let maja = world
        .citizen(&app, &world.staff, world.team, "080880-8901")
        .await;
    let thread = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;
    let to = recipients(&app, &world.staff, thread).await;
    let mut ws = Ws::connect(&app, world.staff.token()).await;
    let mut acked: BTreeMap<u64, MessageId> = BTreeMap::new();
    for i in 0..50 {
        let (id, env) = seal(&world.staff, thread, &to, format!("før {i}").as_bytes());
        acked.insert(
            ws.send_and_ack(&send_frame(thread, id, &env))
                .await
                .unwrap(),
            id,
        );
    }

    pg_ctl(&cluster, "stop");
    // Readiness is false while the database is down.
    let readyz = app.get("/readyz").await;
    assert_eq!(readyz.status(), 503);
    let body = readyz.text().await.unwrap();
    assert!(body.contains("database is not reachable"), "{body}");
    // A send fails fast, with an error that says to resend.
    let (id, env) = seal(&world.staff, thread, &to, b"under");
    let started = Instant::now();
    let refused = ws.send_and_ack(&send_frame(thread, id, &env)).await;
    let took = started.elapsed();
    match refused {
        Err((ErrorCode::Internal, message)) => assert!(message.contains("resend"), "{message}"),
        other => panic!("a send while the database is down: {other:?}"),
    }
    assert!(took < Duration::from_secs(6), "the refusal took {took:?}");
    eprintln!("a send while PostgreSQL was down was refused after {took:?}");

    pg_ctl(&cluster, "start");
    let back = Instant::now();
    // The same message again (its id makes a resend safe) until it works.
    let seq = loop {
        match ws.send_and_ack(&send_frame(thread, id, &env)).await {
            Ok(seq) => break seq,
            Err((code, message)) => {
                assert!(
                    back.elapsed() < Duration::from_secs(10),
                    "still refused 10 s after PostgreSQL was back: {code:?} {message}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let recovered = back.elapsed();
    acked.insert(seq, id);
    assert_eq!(app.get("/readyz").await.status(), 200);
    eprintln!("sending worked again {recovered:?} after PostgreSQL was started");
    for i in 0..50 {
        let (id, env) = seal(&world.staff, thread, &to, format!("efter {i}").as_bytes());
        acked.insert(
            ws.send_and_ack(&send_frame(thread, id, &env))
                .await
                .unwrap(),
            id,
        );
    }
    // The live stream also works: the citizen gets a new message.
    let mut citizen = Ws::connect(&app, maja.actor.token()).await;
    assert_eq!(citizen.sync(thread, 0).await.len(), acked.len());
    let (id, env) = seal(&world.staff, thread, &to, b"live");
    acked.insert(
        ws.send_and_ack(&send_frame(thread, id, &env))
            .await
            .unwrap(),
        id,
    );
    loop {
        if let Some(ServerFrame::Deliver { message_id, .. }) = citizen.recv().await
            && message_id == id
        {
            break;
        }
    }

    // Nothing acknowledged is lost, nothing is doubled.
    let page: MessagePage = expect(
        app.call(
            Method::GET,
            &format!("/v1/threads/{thread}/messages?limit=500"),
            Some(world.staff.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    let stored: BTreeMap<u64, MessageId> = page
        .messages
        .iter()
        .map(|m| (m.seq, m.message_id))
        .collect();
    assert_eq!(stored, acked);
    assert_eq!(
        stored.keys().copied().collect::<Vec<_>>(),
        (1..=acked.len() as u64).collect::<Vec<_>>()
    );
    app.stop().await;
    db.cleanup().await;
}
