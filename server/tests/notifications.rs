//! Content-free notifications to a local HTTP sink: the right signature,
//! neutral text, one per recipient per 15 minutes, none while online; and a
//! template the minimisation rules flag keeps the server from starting.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use hmac::{KeyInit, Mac};
use samtale_server::config::{Layer, Settings};
use support::world::{World, Ws, join_team, recipients, seal, send_frame};
use support::{TestApp, TestDatabase};

const SECRET: &str = "a-long-random-shared-secret-for-the-gateway";

type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

/// A webhook receiver on a free port.
async fn sink() -> (String, Received) {
    let received: Received = Arc::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn wait_for(received: &Received, n: usize) {
    for _ in 0..200 {
        if received.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "expected {n} notifications, got {}",
        received.lock().unwrap().len()
    );
}

fn count_for(received: &Received, recipient: &str) -> usize {
    received
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, body)| {
            let v: serde_json::Value = serde_json::from_slice(body).unwrap();
            v["recipient"] == recipient
        })
        .count()
}

async fn offline_recipients_get_one_neutral_signed_notification_per_interval(db: &TestDatabase) {
    let (url, received) = sink().await;
    let mut settings = db.app_settings();
    settings.messaging.notify_webhook_url = Some(url);
    settings.messaging.notify_webhook_secret =
        Some(samtale_server::config::SecretText(SECRET.into()));
    let app = TestApp::spawn_with(&settings).await;
    let world = World::build(&app).await;
    let maja = world
        .citizen(&app, &world.staff, world.team, "150115-5555")
        .await;
    let marker = world
        .citizen(&app, &world.staff, world.team, "160116-6666")
        .await;
    let thread = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;
    let marker_thread = world
        .open_thread(&app, &world.staff, world.team, &[&marker])
        .await;
    let to = recipients(&app, &world.staff, thread).await;
    let marker_to = recipients(&app, &world.staff, marker_thread).await;
    let mut ws = Ws::connect(&app, world.staff.token()).await;
    let mut send = async |thread, to: &[_], text: &str| {
        let (id, env) = seal(&world.staff, thread, to, text.as_bytes());
        ws.send_and_ack(&send_frame(thread, id, &env))
            .await
            .unwrap();
    };

    send(thread, &to, "Hemmeligt indhold om sagen").await;
    wait_for(&received, 1).await;
    {
        let list = received.lock().unwrap();
        let (headers, body) = &list[0];
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["recipient"], maja.actor.account.to_string());
        assert_eq!(v["text"], "Du har en ny besked fra Randers Kommune");
        assert!(!String::from_utf8_lossy(body).contains("Hemmeligt"));
        let timestamp = headers["x-samtale-timestamp"].to_str().unwrap();
        let mut mac =
            <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(headers["x-samtale-signature"].to_str().unwrap(), expected);
    }

    // More messages within 15 minutes: no more notifications. (The marker
    // citizen's first notification shows the notifier got past them.)
    for i in 0..3 {
        send(thread, &to, &format!("mere {i}")).await;
    }
    send(marker_thread, &marker_to, "markoer").await;
    wait_for(&received, 2).await;
    assert_eq!(count_for(&received, &maja.actor.account.to_string()), 1);

    // 16 minutes later: one more.
    app.clock.advance(16 * 60);
    send(thread, &to, "senere").await;
    wait_for(&received, 3).await;
    assert_eq!(count_for(&received, &maja.actor.account.to_string()), 2);

    // While the citizen is connected: none.
    // (The clock moved past the access token's life: refresh it first.)
    let fresh: samtale_protocol::wire::TokenPair = support::expect(
        app.call(
            reqwest::Method::POST,
            "/v1/sessions/refresh",
            None,
            Some(serde_json::json!({"refresh_token": maja.actor.tokens.refresh_token})),
        )
        .await,
        200,
    )
    .await;
    let mut online = Ws::connect(&app, &fresh.access_token).await;
    app.clock.advance(16 * 60);
    send(thread, &to, "mens online").await;
    send(marker_thread, &marker_to, "markoer 2").await;
    wait_for(&received, 4).await;
    assert_eq!(count_for(&received, &maja.actor.account.to_string()), 2);
    assert_eq!(count_for(&received, &marker.actor.account.to_string()), 2);

    // A citizen writes: an offline colleague of the team is notified, a
    // disabled one is not.
    // (The admin's access token ran out with the clock: refresh it.)
    let admin: samtale_protocol::wire::TokenPair = support::expect(
        app.call(
            reqwest::Method::POST,
            "/v1/sessions/refresh",
            None,
            Some(serde_json::json!({"refresh_token": world.admin.tokens.refresh_token})),
        )
        .await,
        200,
    )
    .await;
    let mut colleagues = Vec::new();
    for name in ["sara", "karl"] {
        let info: samtale_protocol::wire::StaffInfo = support::expect(
            app.call(
                reqwest::Method::POST,
                "/v1/staff",
                Some(&admin.access_token),
                Some(serde_json::json!({
                    "username": name, "display_name": name,
                    "password": "correct horse battery staple", "roles": ["staff"],
                })),
            )
            .await,
            201,
        )
        .await;
        join_team(
            &app,
            &world.root,
            &admin.access_token,
            world.team,
            info.account_id,
        )
        .await;
        colleagues.push(info.account_id);
    }
    let (sara, karl) = (colleagues[0], colleagues[1]);
    assert_eq!(
        app.call(
            reqwest::Method::POST,
            &format!("/v1/staff/{karl}/disable"),
            Some(&admin.access_token),
            None,
        )
        .await
        .status(),
        204
    );
    let (id, env) = seal(&maja.actor, thread, &to, b"fra borgeren");
    online
        .send_and_ack(&send_frame(thread, id, &env))
        .await
        .unwrap();
    wait_for(&received, 5).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(count_for(&received, &sara.to_string()), 1);
    assert_eq!(
        count_for(&received, &karl.to_string()),
        0,
        "a disabled account is not notified"
    );
    app.stop().await;
}
on_both_backends!(
    webhook,
    offline_recipients_get_one_neutral_signed_notification_per_interval
);

#[test]
fn a_template_the_minimisation_rules_flag_keeps_the_server_from_starting() {
    for template in [
        "Hej Maja, ring til os om 010190-1234 fra {organisation}",
        "Skriv til sagsbehandler@kommune.dk, {organisation}",
        "Du har en ny besked",
    ] {
        let error = Settings::load(Layer::default(), None, |k| {
            (k == "SAMTALE_NOTIFY_TEMPLATE").then(|| template.to_string())
        })
        .unwrap_err();
        assert!(error.to_string().contains("notify_template"), "{error}");
    }
    let ok = Settings::load(Layer::default(), None, |_| None).unwrap();
    assert_eq!(
        ok.messaging.notify_template,
        "Du har en ny besked fra {organisation}"
    );
}
