//! The chat's event loop against a real server, drawn on ratatui's test
//! backend with scripted keys: it opens a thread, shows a citizen's message
//! as it arrives, reconnects and catches up after the server drops every
//! connection, and sends what the user types.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use samtale_cli::client::Session;
use samtale_cli::profile::{Home, Profile};
use samtale_protocol::wire::ErrorCode;
use serde_json::Value;
use support::{Cli, PASSPHRASE, Server};

/// Waits until the drawn screen contains `text`.
async fn until_shown(screens: &mut tokio::sync::watch::Receiver<String>, text: &str) {
    let wait = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if screens.borrow_and_update().contains(text) {
                return;
            }
            screens.changed().await.expect("the chat is running");
        }
    })
    .await;
    assert!(
        wait.is_ok(),
        "the chat never showed {text:?}; last screen:\n{}",
        screens.borrow().as_str()
    );
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_updates_live_reconnects_catches_up_and_sends() {
    let server = Server::start(None).await;
    let cli = Cli::new(&server.url);
    let run = |p: &'static str, a: &'static [&'static str]| cli.run(p, a);
    cli.run(
        "admin",
        &[
            "admin",
            "init",
            "--enrolment-code",
            &server.enrolment_code,
            "--organisation",
            "Aarhus Kommune",
            "--username",
            "anne",
            "--name",
            "Anne Admin",
        ],
    )
    .await
    .ok();
    run("admin", &["admin", "team", "create", "Børn og Unge"])
        .await
        .ok();
    run(
        "admin",
        &[
            "admin",
            "staff",
            "create",
            "mette",
            "--name",
            "Mette Jensen",
            "--role",
            "staff",
            "--team",
            "Børn og Unge",
        ],
    )
    .await
    .ok();
    run("mette", &["login", "--username", "mette"]).await.ok();
    cli.certify("mette").await;
    run("admin", &["admin", "archive-key"]).await.ok();
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
    cli.run(
        "maja",
        &[
            "join",
            "--code",
            invitation["code"].as_str().unwrap(),
            "--accept-consent",
        ],
    )
    .await
    .ok();
    // An older thread, and the one the chat opens (newest first).
    let other = cli
        .run("mette", &["--json", "new-thread", "--citizen", "Maja"])
        .await
        .ok()
        .json();
    let other = other["thread_id"].as_str().unwrap()[..8].to_owned();
    cli.run("mette", &["send", &other, "Om ferien."]).await.ok();
    let thread = cli
        .run("mette", &["--json", "new-thread", "--citizen", "Maja"])
        .await
        .ok()
        .json();
    let thread = thread["thread_id"].as_str().unwrap()[..8].to_owned();
    cli.run("mette", &["send", &thread, "Velkommen, Maja."])
        .await
        .ok();

    // Mette's chat, in this process, on a test terminal.
    let home = Home::locate(Some(cli.home.path())).unwrap();
    let mut session = Session::open(Profile::new(&home, "mette").unwrap(), PASSPHRASE)
        .await
        .unwrap();
    let (keys, key_rx) = tokio::sync::mpsc::channel(16);
    let (screen_tx, mut screens) = tokio::sync::watch::channel(String::new());
    let chat = tokio::spawn(async move {
        let mut terminal = Terminal::new(TestBackend::new(120, 30)).unwrap();
        samtale_cli::tui::run_loop(
            &mut session,
            &mut terminal,
            key_rx,
            None,
            time::UtcOffset::UTC,
            Some(screen_tx),
        )
        .await
    });
    until_shown(&mut screens, "connected").await;
    keys.send(key(KeyCode::Enter)).await.unwrap();
    until_shown(&mut screens, "Velkommen, Maja.").await;

    // Live: Maja answers.
    cli.run("maja", &["send", &thread, "Tak for det!"])
        .await
        .ok();
    until_shown(&mut screens, "Tak for det!").await;
    // Maja reads the thread: her signed read receipt reaches the chat.
    assert!(!screens.borrow().contains("✓✓ read"));
    cli.run("maja", &["show", &thread]).await.ok();
    until_shown(&mut screens, "✓✓ read").await;

    // The server drops every connection (a node going away); Maja writes
    // meanwhile; the chat reconnects and catches up.
    server.relay.hub.kill_all(ErrorCode::Unavailable);
    until_shown(&mut screens, "connection lost").await;
    cli.run("maja", &["send", &thread, "Er du der stadig?"])
        .await
        .ok();
    until_shown(&mut screens, "Er du der stadig?").await;
    until_shown(&mut screens, "connected").await;

    // A message in the other thread: its row counts it, the open thread
    // stays open.
    cli.run("maja", &["send", &other, "Ferien passer fint."])
        .await
        .ok();
    until_shown(&mut screens, "1 new").await;
    assert!(screens.borrow().contains("Er du der stadig?"));
    // Mette's device received it without reading it: Maja sees
    // "delivered", not "read".
    let mut delivered = Value::Null;
    for _ in 0..50 {
        let v = cli
            .run("maja", &["--json", "show", &other])
            .await
            .ok()
            .json();
        delivered = v["messages"][1].clone();
        if delivered["delivered"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(delivered["body"]["text"], "Ferien passer fint.");
    assert_eq!(delivered["delivered"], true, "{delivered}");
    assert_eq!(delivered["read"], false, "{delivered}");

    // Mette types and sends.
    for c in "Ja, jeg er her.".chars() {
        keys.send(key(KeyCode::Char(c))).await.unwrap();
    }
    keys.send(key(KeyCode::Enter)).await.unwrap();
    until_shown(&mut screens, "sent (message 4)").await;
    let seen = cli
        .run("maja", &["--json", "show", &thread])
        .await
        .ok()
        .json();
    assert_eq!(seen["messages"][3]["body"]["text"], "Ja, jeg er her.");
    assert_eq!(seen["messages"][3]["sender"]["name"], "Mette Jensen");

    // Maja is erased (a GDPR request): her threads are deleted. The chat
    // closes the open one when it next reloads, saying why, with no stale
    // error on screen.
    let maja = cli.run("maja", &["--json", "whoami"]).await.ok().json();
    cli.run(
        "admin",
        &[
            "admin",
            "erase",
            maja["account_id"].as_str().unwrap(),
            "--yes",
        ],
    )
    .await
    .ok();
    server.relay.hub.kill_all(ErrorCode::Unavailable);
    until_shown(&mut screens, "conversation was deleted").await;
    assert!(
        !screens.borrow().contains("Ja, jeg er her."),
        "the erased conversation is still shown:\n{}",
        screens.borrow().as_str()
    );

    keys.send(Event::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )))
    .await
    .unwrap();
    tokio::time::timeout(Duration::from_secs(10), chat)
        .await
        .expect("the chat quits")
        .unwrap()
        .unwrap();
}
