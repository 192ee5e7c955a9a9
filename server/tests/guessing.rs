//! Password guessing against the real server (issue 13): concurrent floods
//! hold the limits exactly (attempts are reserved before argon2 runs), and
//! knowing a user name does not let anyone lock its owner out — the owner's
//! own device keeps an allowance of its own — while every limit that trips
//! is logged and audited, without the user name or the address. Both
//! backends.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use futures_util::future::join_all;
use reqwest::Method;
use samtale_protocol::DeviceKeys;
use samtale_protocol::wire::TokenPair;
use serde_json::json;
use support::world::{PASSWORD, bootstrap, create_staff, create_team};
use support::{TestApp, TestDatabase, expect};

/// A login from `address` (the test's loopback is a trusted proxy).
async fn login_from(
    app: &TestApp,
    username: &str,
    password: &str,
    device: &DeviceKeys,
    address: &str,
) -> u16 {
    reqwest::Client::new()
        .post(format!("{}/v1/sessions", app.address))
        .header("x-forwarded-for", address)
        .json(&json!({
            "username": username,
            "password": password,
            "device": device.public(),
            "device_label": "desk",
        }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn count(statuses: &[u16], status: u16) -> usize {
    statuses.iter().filter(|s| **s == status).count()
}

async fn concurrent_guesses_hold_the_limits_and_cannot_lock_the_owner_out(db: &TestDatabase) {
    let mut settings = db.app_settings();
    settings.identity.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let app = TestApp::spawn_with(&settings).await;
    let (root, _, admin) = bootstrap(&app, "Randers Kommune").await;
    let team = create_team(&app, &admin, "Jobcenter").await;
    create_staff(&app, &admin, &root, "mette", &["staff"], &[team]).await;
    let desk = DeviceKeys::generate().unwrap();
    assert_eq!(
        login_from(&app, "mette", PASSWORD, &desk, "198.51.100.1").await,
        201
    );

    // 30 at once for one account from one address, one with the right
    // password: exactly 5 reach the password check (the account-and-address
    // limit), however they interleave.
    let attacker = DeviceKeys::generate().unwrap();
    let tries = (0..30).map(|i| {
        let password = if i == 17 {
            PASSWORD
        } else {
            "a wrong password guess"
        };
        login_from(&app, "mette", password, &attacker, "203.0.113.7")
    });
    let statuses: Vec<u16> = join_all(tries).await;
    assert_eq!(
        count(&statuses, 401) + count(&statuses, 201),
        5,
        "{statuses:?}"
    );
    assert_eq!(count(&statuses, 429), 25, "{statuses:?}");

    // 100 at once from one address, for many user names: exactly 20.
    let app_ref = &app;
    let tries = (0..100).map(|i| {
        let device = DeviceKeys::generate().unwrap();
        async move {
            login_from(
                app_ref,
                &format!("user{i}"),
                "a wrong password guess",
                &device,
                "203.0.113.99",
            )
            .await
        }
    });
    let statuses: Vec<u16> = join_all(tries).await;
    assert_eq!(count(&statuses, 401), 20, "{statuses:?}");
    assert_eq!(count(&statuses, 429), 80, "{statuses:?}");

    // Someone who knows the user name guesses from many addresses until
    // the account's budget for new devices is spent...
    let mut refused = 0;
    for i in 0..40 {
        let status = login_from(
            &app,
            "mette",
            "a wrong password guess",
            &DeviceKeys::generate().unwrap(),
            &format!("192.0.2.{}", 10 + i),
        )
        .await;
        refused += usize::from(status == 429);
    }
    assert!(
        refused >= 20,
        "the account's budget for new devices is spent: {refused}"
    );
    let stranger = login_from(
        &app,
        "mette",
        PASSWORD,
        &DeviceKeys::generate().unwrap(),
        "192.0.2.200",
    )
    .await;
    assert_eq!(stranger, 429, "a new device waits out the window");
    // ...and the owner at her desk logs in at once: her device has its own
    // allowance.
    assert_eq!(
        login_from(&app, "mette", PASSWORD, &desk, "198.51.100.1").await,
        201
    );

    // Every limit that tripped is in the audit trail, by account id and
    // scope; never the user name or an address.
    let audit: Vec<u8> = {
        let entries = app
            .storage
            .audit_entries(&Default::default(), 0, 10_000)
            .await
            .unwrap();
        entries
            .iter()
            .filter(|e| e.action == "login.limited")
            .flat_map(|e| format!("{} {}\n", e.actor, e.detail).into_bytes())
            .collect()
    };
    let audit = String::from_utf8(audit).unwrap();
    for scope in ["account_and_address", "account", "address"] {
        assert!(
            audit.contains(&format!("\"{scope}\"")),
            "{scope} missing from\n{audit}"
        );
    }
    assert!(
        !audit.contains("mette") && !audit.contains("203.0.113") && !audit.contains("192.0.2"),
        "{audit}"
    );

    // The right password on a fresh address and device, after the window.
    app.clock.advance(900);
    let _: TokenPair = expect(
        app.call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({
                "username": "mette",
                "password": PASSWORD,
                "device": DeviceKeys::generate().unwrap().public(),
                "device_label": "laptop",
            })),
        )
        .await,
        201,
    )
    .await;
    app.stop().await;
}
on_both_backends!(
    guessing,
    concurrent_guesses_hold_the_limits_and_cannot_lock_the_owner_out
);
