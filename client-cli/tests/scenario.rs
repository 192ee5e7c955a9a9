//! The whole story with the real `samtale` binary (one profile per person)
//! against a real server started by the test, and a real OpenID Provider
//! for the citizen's eID: organisation set-up → staff enrolment →
//! invitation → sign-up with eID → a conversation both ways with a file →
//! read receipts → a colleague joins and reads the history → device
//! revocation → consent withdrawal → the sender is refused.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};

use serde_json::Value;
use support::{Cli, Op, Server, assert_json_snapshot, browser_login, start_op};

/// Signs a citizen up: `samtale join` waits for the eID login while the
/// test plays their browser (or, without a provider, joins unverified).
async fn join(
    cli: &Cli,
    op: Option<&Op>,
    (profile, person): (&str, &str),
    code: &str,
    fingerprint: &str,
) -> Value {
    with_eid(
        cli,
        op,
        (profile, person),
        &[
            "--json",
            "join",
            "--code",
            code,
            "--fingerprint",
            fingerprint,
            "--accept-consent",
            "--print-url",
            "--eid-timeout",
            "60",
        ],
    )
    .await
}

/// Runs a command of `profile` that may log in with eID (`--print-url`),
/// playing `person`'s browser when it prints the address; returns its JSON
/// output.
async fn with_eid(cli: &Cli, op: Option<&Op>, who: (&str, &str), args: &[&str]) -> Value {
    let (code, stdout, stderr) = run_with_eid(cli, op, who, args).await;
    assert_eq!(
        code,
        Some(0),
        "`samtale {}` failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        args.join(" ")
    );
    serde_json::from_str(&stdout).unwrap()
}

/// As [`with_eid`], returning the exit code, stdout and stderr.
async fn run_with_eid(
    cli: &Cli,
    op: Option<&Op>,
    (profile, person): (&str, &str),
    args: &[&str],
) -> (Option<i32>, String, String) {
    let mut command = cli.command(profile, args);
    // A "browser" that starts and never shows anything (as on a machine
    // with sensible-browser but no display): without --print-url the
    // address must be printed all the same.
    let fake_browser = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let opener = fake_browser.path().join("xdg-open");
        std::fs::write(&opener, "#!/bin/sh\nexit 0\n").unwrap();
        std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = std::env::var("PATH").unwrap_or_default();
    command
        .env("PATH", format!("{}:{path}", fake_browser.path().display()))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (url_tx, url_rx) = tokio::sync::oneshot::channel::<Option<String>>();
    let reader = std::thread::spawn(move || {
        let mut tx = Some(url_tx);
        let mut rest = String::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.unwrap_or_default();
            if let Some(url) = line.strip_prefix("EID-LOGIN-URL ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(Some(url.to_owned()));
            }
            rest.push_str(&line);
            rest.push('\n');
        }
        if let Some(tx) = tx.take() {
            let _ = tx.send(None);
        }
        rest
    });
    let url = url_rx.await.unwrap();
    match (op, url) {
        (Some(_), Some(url)) => browser_login(&url, person).await,
        (Some(_), None) => panic!("`samtale join` printed no eID login address"),
        (None, Some(_)) => panic!("eID login asked for, but the server has no broker"),
        (None, None) => {}
    }
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = reader.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), stdout, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_story_with_the_real_binary() {
    let op = start_op();
    let server = Server::start(op.as_ref()).await;
    let cli = Cli::new(&server.url);

    // The organisation.
    let init = cli
        .run(
            "admin",
            &[
                "--json",
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
        .ok()
        .json();
    let fingerprint = init["root_fingerprint"].as_str().unwrap().to_owned();
    cli.run("admin", &["admin", "team", "create", "Familieafdelingen"])
        .await
        .ok();
    for (user, name, role, team) in [
        ("mette", "Mette Jensen", "staff", Some("Familieafdelingen")),
        ("karl", "Karl Nielsen", "staff", None),
        ("rita", "Rita Clerk", "record-clerk", None),
    ] {
        let mut args = vec![
            "admin", "staff", "create", user, "--name", name, "--role", role,
        ];
        if let Some(t) = team {
            args.extend(["--team", t]);
        }
        cli.run("admin", &args).await.ok();
    }
    let staff = cli
        .run("admin", &["--json", "admin", "staff", "list"])
        .await
        .ok()
        .json();
    assert_eq!(staff.as_array().unwrap().len(), 4);

    // Staff enrolment: log in, certified by the admin, keys.
    let login = cli
        .run("mette", &["--json", "login", "--username", "mette"])
        .await
        .ok()
        .json();
    assert_eq!(
        login["root_fingerprint"].as_str(),
        Some(fingerprint.as_str())
    );
    // An uncertified device makes no team key: nobody would trust it.
    assert_eq!(login["keys"]["published"], serde_json::json!([]), "{login}");
    let certified = cli.certify("mette").await.json();
    assert_eq!(certified.as_array().unwrap().len(), 1);
    // Certified, the first member of the team makes its key and keeps it.
    let keys = cli.run("mette", &["--json", "keys"]).await.ok().json();
    assert_eq!(keys["published"].as_array().unwrap().len(), 1, "{keys}");
    assert_eq!(keys["granted"], 1, "{keys}");
    // The record clerk and the archive key.
    cli.run("rita", &["login", "--username", "rita"]).await.ok();
    cli.certify("rita").await;
    let archive = cli
        .run("admin", &["--json", "admin", "archive-key"])
        .await
        .ok()
        .json();
    assert_eq!(
        archive["granted"], 2,
        "the admin's own device and the clerk's: {archive}"
    );

    // The invitation: the letter carries the code and the fingerprint and
    // nothing personal.
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
    let letter = invitation["letter"].as_str().unwrap();
    assert!(letter.contains(&fingerprint));
    assert!(!letter.contains("010203"));
    // In the citizen's language (a CPR number: Danish), with the server's
    // address and no app to install.
    assert!(letter.contains("Invitation til Samtale"), "{letter}");
    assert!(letter.contains("Eller gå til http"), "{letter}");
    assert!(letter.contains("der er intet at installere"), "{letter}");
    assert_eq!(invitation["findings"], serde_json::json!([]));
    let code = invitation["code"].as_str().unwrap();

    // Sign-up through the real OpenID Provider.
    let joined = join(&cli, op.as_ref(), ("maja", "maja"), code, &fingerprint).await;
    assert_eq!(joined["fingerprint_checked"], true);
    let expected_level = if op.is_some() {
        "substantial"
    } else {
        "unverified"
    };
    assert_eq!(joined["assurance"], expected_level);

    // A second citizen (a Swedish personnummer) for a multi-party thread.
    let invitation = cli
        .run(
            "mette",
            &[
                "--json",
                "invite",
                "--national-id",
                "19811218-9876",
                "--name",
                "Elsa",
            ],
        )
        .await
        .ok()
        .json();
    join(
        &cli,
        op.as_ref(),
        ("elsa", "elsa"),
        invitation["code"].as_str().unwrap(),
        &fingerprint,
    )
    .await;
    let group = cli
        .run(
            "mette",
            &[
                "--json",
                "new-thread",
                "--citizen",
                "Maja",
                "--citizen",
                "Elsa",
            ],
        )
        .await
        .ok()
        .json();
    let group = group["thread_id"].as_str().unwrap()[..8].to_owned();
    cli.run(
        "mette",
        &["send", &group, "Hej begge to. Mødet er torsdag."],
    )
    .await
    .ok();
    for who in ["maja", "elsa"] {
        let v = cli.run(who, &["--json", "show", &group]).await.ok().json();
        assert_eq!(
            v["messages"][0]["body"]["text"],
            "Hej begge to. Mødet er torsdag."
        );
        assert_eq!(v["row"]["participants"].as_array().unwrap().len(), 2);
    }
    cli.run("elsa", &["send", &group, "Fint."]).await.ok();

    // A letter that went astray: the invitation is listed until it is
    // revoked by a start of its id; its code then works no more.
    let astray = cli
        .run(
            "mette",
            &[
                "--json",
                "invite",
                "--national-id",
                "050505-5555",
                "--name",
                "Ida",
            ],
        )
        .await
        .ok()
        .json();
    let outstanding = cli
        .run("mette", &["--json", "invitations"])
        .await
        .ok()
        .json();
    let ida = outstanding["invitations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["display_name"] == "Ida")
        .expect("Ida's invitation is outstanding")["invitation_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let table = cli.run("mette", &["invitations"]).await.ok();
    assert!(
        table.stdout.contains("Ida") && table.stdout.contains(&ida[..8]),
        "{}",
        table.stdout
    );
    let preview = async || {
        reqwest::Client::new()
            .post(format!("{}/v1/invitations/preview", server.url))
            .json(&serde_json::json!({"code": astray["code"]}))
            .send()
            .await
            .unwrap()
            .status()
    };
    assert_eq!(preview().await, 200, "the code works before it is revoked");
    cli.run("mette", &["invitations", "revoke", &ida[..8]])
        .await
        .ok();
    let gone = cli
        .run("mette", &["--json", "invitations"])
        .await
        .ok()
        .json();
    assert!(
        gone["invitations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["display_name"] != "Ida")
    );
    // The app's first step with a code (the preview) is refused now.
    assert_eq!(preview().await, 401);
    let v = cli
        .run("maja", &["--json", "show", &group])
        .await
        .ok()
        .json();
    assert_eq!(v["messages"][1]["sender"]["name"], "Elsa");

    // A thread with a file, both ways.
    let thread = cli
        .run("mette", &["--json", "new-thread", "--citizen", "Maja"])
        .await
        .ok()
        .json();
    let thread = thread["thread_id"].as_str().unwrap().to_owned();
    let short = &thread[..8];
    let file = cli.home.path().join("bevilling.pdf");
    std::fs::write(&file, b"%PDF-1.7 bevilling for Maja").unwrap();
    let sent = cli
        .run(
            "mette",
            &[
                "--json",
                "send",
                short,
                "Hej Maja, her er bevillingen.",
                "--file",
                file.to_str().unwrap(),
            ],
        )
        .await
        .ok()
        .json();
    assert_eq!(sent["seq"], 1);
    // Staff are stopped before sending a national id number.
    let refused = cli
        .run("mette", &["send", short, "Dit CPR er 010203-1234"])
        .await
        .code(5);
    // A thread id that names nothing is "refused or not found" too.
    cli.run("mette", &["show", "ffffffff"]).await.code(5);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    // The guidelines' own example, about a citizen invited as "Maja":
    // her full name, her school and a diagnosis.
    let refused = cli
        .run(
            "mette",
            &[
                "send",
                short,
                "Husk: Maja Hansen går på Søndervangskolen, og lægen siger ADHD-udredning.",
            ],
        )
        .await
        .code(5);
    for said in ["full name", "name with school", "health"] {
        assert!(refused.stderr.contains(said), "{said}: {}", refused.stderr);
    }

    let seen = cli
        .run("maja", &["--json", "show", short])
        .await
        .ok()
        .json();
    let first = &seen["messages"][0];
    assert_eq!(first["sender"]["name"], "Mette Jensen");
    assert_eq!(first["sender"]["team"], "Familieafdelingen");
    assert_eq!(first["sender"]["badge"]["kind"], "certified");
    assert_eq!(first["body"]["text"], "Hej Maja, her er bevillingen.");
    assert_eq!(first["body"]["attachments"][0]["name"], "bevilling.pdf");
    let downloads = cli.home.path().join("downloads");
    std::fs::create_dir_all(&downloads).unwrap();
    cli.run(
        "maja",
        &[
            "download",
            short,
            "1",
            "1",
            "--out",
            downloads.to_str().unwrap(),
        ],
    )
    .await
    .ok();
    assert_eq!(
        std::fs::read(downloads.join("bevilling.pdf")).unwrap(),
        b"%PDF-1.7 bevilling for Maja"
    );
    cli.run("maja", &["send", short, "Tak! Jeg kommer torsdag."])
        .await
        .ok();

    // Safety numbers: both sides compute the same number for their pair.
    let theirs = cli
        .run("maja", &["--json", "safety", short])
        .await
        .ok()
        .json();
    let mine = cli
        .run("mette", &["--json", "safety", short])
        .await
        .ok()
        .json();
    let from_maja = theirs
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "Mette Jensen")
        .unwrap()["safety_number"]
        .clone();
    let from_mette = mine
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "Maja")
        .unwrap()["safety_number"]
        .clone();
    assert_eq!(from_maja, from_mette);
    assert_eq!(from_maja.as_str().unwrap().split(' ').count(), 12);

    // A colleague in the team is listed while she works, and not after an
    // admin disabled her (her devices are revoked).
    cli.run(
        "admin",
        &[
            "admin",
            "staff",
            "create",
            "lone",
            "--name",
            "Lone Berg",
            "--role",
            "staff",
            "--team",
            "Familieafdelingen",
        ],
    )
    .await
    .ok();
    cli.run("lone", &["login", "--username", "lone"]).await.ok();
    cli.certify("lone").await;
    let names = async || -> Vec<String> {
        cli.run("mette", &["--json", "safety", short])
            .await
            .ok()
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(names().await.contains(&"Lone Berg".to_owned()));
    cli.run("admin", &["admin", "staff", "disable", "lone"])
        .await
        .ok();
    let after = names().await;
    assert!(
        !after.contains(&"Lone Berg".to_owned()) && after.contains(&"Maja".to_owned()),
        "{after:?}"
    );

    // Maja's export of everything held about her, decrypted on her side.
    let export_path = cli.home.path().join("maja-export.json");
    cli.run("maja", &["export", "--out", export_path.to_str().unwrap()])
        .await
        .ok();
    let export: Value =
        serde_json::from_str(&std::fs::read_to_string(&export_path).unwrap()).unwrap();
    assert_eq!(export["account"]["display_name"], "Maja");
    assert_eq!(export["devices"].as_array().unwrap().len(), 1);
    assert_eq!(export["threads"].as_array().unwrap().len(), 2);
    let text = export.to_string();
    assert!(text.contains("Hej Maja, her er bevillingen."));
    assert!(text.contains("Tak! Jeg kommer torsdag."));

    // The caseworker sees the answer with Maja's identity level, and that
    // her own message was read.
    let view = cli
        .run("mette", &["--json", "show", short])
        .await
        .ok()
        .json();
    assert_eq!(
        view["messages"][1]["body"]["text"],
        "Tak! Jeg kommer torsdag."
    );
    assert_eq!(
        view["messages"][1]["sender"]["badge"]["assurance"],
        expected_level
    );
    assert_eq!(view["messages"][0]["read"], true, "{}", view["messages"][0]);
    assert_json_snapshot(
        if op.is_some() {
            "show-staff-eid.json"
        } else {
            "show-staff-unverified.json"
        },
        &view,
    );
    let threads = cli.run("mette", &["--json", "threads"]).await.ok().json();
    assert_eq!(threads["threads"][0]["messages"], 2);
    assert_eq!(threads["threads"][0]["unread"], 0);
    let variant = if op.is_some() { "eid" } else { "unverified" };
    assert_json_snapshot(&format!("threads-staff-{variant}.json"), &threads);
    let whoami = cli.run("maja", &["--json", "whoami"]).await.ok().json();
    assert_json_snapshot(&format!("whoami-citizen-{variant}.json"), &whoami);
    let whoami = cli.run("mette", &["--json", "whoami"]).await.ok().json();
    assert_json_snapshot("whoami-staff.json", &whoami);
    // The human table has the columns people need.
    let table = cli.run("mette", &["threads"]).await.ok().stdout;
    assert!(table.starts_with("THREAD"), "{table}");
    assert!(table.contains("Maja ("), "{table}");

    // The record clerk sees the thread as ready for journaling.
    let ready = cli
        .run("rita", &["--json", "threads", "--ready"])
        .await
        .ok()
        .json();
    assert_eq!(ready["threads"].as_array().unwrap().len(), 2);
    assert_eq!(ready["threads"][0]["journaled_up_to"], Value::Null);

    // A colleague joins the team and reads the history.
    cli.run(
        "admin",
        &["admin", "team", "add", "Familieafdelingen", "karl"],
    )
    .await
    .ok();
    cli.run("karl", &["login", "--username", "karl"]).await.ok();
    cli.certify("karl").await;
    let granted = cli.run("mette", &["--json", "keys"]).await.ok().json();
    assert!(granted["granted"].as_u64().unwrap() >= 1, "{granted}");
    let history = cli
        .run("karl", &["--json", "show", short])
        .await
        .ok()
        .json();
    assert_eq!(
        history["messages"][0]["body"]["text"],
        "Hej Maja, her er bevillingen."
    );
    assert_eq!(
        history["messages"][1]["body"]["text"],
        "Tak! Jeg kommer torsdag."
    );
    // Karl has signed nothing the thread rests on (no key, no participant
    // record): his message is still verified by Maja's client, against his
    // own signed device list.
    cli.run(
        "karl",
        &["send", short, "Hej Maja, jeg er Karl fra teamet."],
    )
    .await
    .ok();
    let seen = cli
        .run("maja", &["--json", "show", short])
        .await
        .ok()
        .json();
    let karls = seen["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["body"]["text"] == "Hej Maja, jeg er Karl fra teamet.")
        .unwrap_or_else(|| panic!("Karl's message is not shown verified: {seen}"));
    assert_eq!(karls["sender"]["badge"]["kind"], "certified", "{karls}");

    // A lost laptop: Mette's second device is revoked from her desk.
    cli.run("mette-laptop", &["login", "--username", "mette"])
        .await
        .ok();
    // Not certified yet: it gets no team key, and it may not send.
    let uncertified = cli
        .run("mette-laptop", &["send", short, "Hej fra laptoppen"])
        .await
        .code(5);
    assert!(
        uncertified.stderr.contains("not certified"),
        "{}",
        uncertified.stderr
    );
    let devices = cli.run("mette", &["--json", "devices"]).await.ok().json();
    let laptop = devices
        .as_array()
        .unwrap()
        .iter()
        .find(|d| {
            // Named after the computer (every device was "samtale desktop").
            d["label"]
                .as_str()
                .is_some_and(|l| l.starts_with("samtale"))
                && d["label"] != "samtale desktop"
                && d["certified"] == false
        })
        .expect("the new laptop is listed")["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A start of the id is enough when it names one device; one that
    // names none is refused.
    cli.run("mette", &["devices", "revoke", "ffffffff"])
        .await
        .code(5);
    cli.run("mette", &["devices", "revoke", &laptop[..8]])
        .await
        .ok();
    let cut_off = cli.run("mette-laptop", &["threads"]).await.code(3);
    assert!(
        cut_off.stderr.contains("samtale login"),
        "{}",
        cut_off.stderr
    );

    // A key rotation: a new team epoch, granted to Karl (not to the
    // revoked laptop); a message after it reads everywhere.
    let rotated = cli
        .run("mette", &["--json", "keys", "--rotate"])
        .await
        .ok()
        .json();
    assert!(
        rotated["published"][0]
            .as_str()
            .unwrap()
            .contains("epoch 1"),
        "{rotated}"
    );
    assert!(rotated["granted"].as_u64().unwrap() >= 1, "{rotated}");
    cli.run("maja", &["send", short, "Ses torsdag."]).await.ok();
    let after = cli
        .run("karl", &["--json", "show", short])
        .await
        .ok()
        .json();
    assert_eq!(after["messages"][3]["body"]["text"], "Ses torsdag.");

    // Maja's tablet: a new invitation reaches the same account; she
    // approves it on her phone by its fingerprint, the phone grants it her
    // key, and the tablet reads the history.
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
    let tablet = join(
        &cli,
        op.as_ref(),
        ("maja-tablet", "maja"),
        invitation["code"].as_str().unwrap(),
        &fingerprint,
    )
    .await;
    assert_eq!(tablet["account_id"], joined["account_id"]);
    let before = cli
        .run("maja-tablet", &["--json", "show", short])
        .await
        .ok()
        .json();
    // No key yet: not readable here, which is not a failed check.
    assert_eq!(
        before["messages"][0]["body"]["status"], "unreadable",
        "no key yet"
    );
    // Nothing reaches the tablet until the phone approves it: `keys` on
    // the phone lists it as waiting and grants it nothing.
    assert_eq!(tablet["approval_needed"], true, "{tablet}");
    let waiting = cli.run("maja", &["--json", "keys"]).await.ok().json();
    assert_eq!(waiting["granted"], 0, "{waiting}");
    assert_eq!(
        waiting["pending"][0]["fingerprint"], tablet["device_fingerprint"],
        "{waiting}"
    );
    // A fingerprint that is not the tablet's is refused as a security error.
    let wrong = cli
        .run(
            "maja",
            &[
                "devices",
                "approve",
                "--fingerprint",
                "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA",
            ],
        )
        .await
        .code(6);
    assert!(
        wrong
            .stderr
            .contains("no waiting device has the fingerprint"),
        "{}",
        wrong.stderr
    );
    let approved = cli
        .run(
            "maja",
            &[
                "--json",
                "devices",
                "approve",
                "--fingerprint",
                tablet["device_fingerprint"].as_str().unwrap(),
            ],
        )
        .await
        .ok()
        .json();
    assert!(
        approved["keys"]["granted"].as_u64().unwrap() >= 1,
        "{approved}"
    );
    let after = cli
        .run("maja-tablet", &["--json", "show", short])
        .await
        .ok()
        .json();
    assert_eq!(
        after["messages"][0]["body"]["text"],
        "Hej Maja, her er bevillingen."
    );

    // Maja's session ends (she logged out); she logs in again with eID.
    if op.is_some() {
        let out = cli.run("maja", &["logout"]).await.ok();
        assert!(out.stdout.contains("samtale login --eid"), "{}", out.stdout);
        let ended = cli.run("maja", &["threads"]).await.code(3);
        assert!(ended.stderr.contains("samtale login"), "{}", ended.stderr);
        let again = with_eid(
            &cli,
            op.as_ref(),
            ("maja", "maja"),
            &["--json", "login", "--eid", "--print-url"],
        )
        .await;
        assert_eq!(again["logged_in"], true);
        cli.run("maja", &["threads"]).await.ok();
    }

    // Consent withdrawal: nothing more can be sent to Maja; the caseworker is refused
    // and told what to do instead.
    cli.run("maja", &["consent", "withdraw", "--yes"])
        .await
        .ok();
    let refused = cli
        .run("mette", &["send", short, "Husk mødet i morgen."])
        .await
        .code(5);
    assert!(
        refused.stderr.contains("letter or digital post"),
        "{}",
        refused.stderr
    );
    let banner = cli.run("mette", &["show", short]).await.ok().stdout;
    assert!(banner.contains("withdrawn consent"), "{banner}");
    // Maja can no longer write, but still read and take her access export
    // (the right of access outlives the consent).
    let own = cli.run("maja", &["send", short, "Hallo?"]).await.code(5);
    assert!(own.stderr.contains("consent"), "{}", own.stderr);
    cli.run("maja", &["threads"]).await.ok();
    let after = cli.home.path().join("maja-after-withdrawal.json");
    cli.run("maja", &["export", "--out", after.to_str().unwrap()])
        .await
        .ok();
    let after: Value = serde_json::from_slice(&std::fs::read(&after).unwrap()).unwrap();
    assert_eq!(
        after["account"]["consent"], "withdrawn",
        "{}",
        after["account"]
    );
    assert!(after["threads"].as_array().is_some_and(|t| !t.is_empty()));

    // In the thread Maja shares with Elsa, Elsa still consents: the
    // caseworker writes on, sealed to Elsa (and not Maja) from now on. Each
    // is told only what concerns her.
    let banner = cli.run("mette", &["show", &group]).await.ok().stdout;
    assert!(banner.contains("reaches the others only"), "{banner}");
    cli.run("mette", &["send", &group, "Elsa, vi ses torsdag."])
        .await
        .ok();
    let elsa_view = cli
        .run("elsa", &["--json", "show", &group])
        .await
        .ok()
        .json();
    let last = elsa_view["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["body"]["text"], "Elsa, vi ses torsdag.");
    assert!(
        !elsa_view["banners"].to_string().contains("consent"),
        "Elsa is not told about Maja's consent: {}",
        elsa_view["banners"]
    );
    let maja_view = cli
        .run("maja", &["--json", "show", &group])
        .await
        .ok()
        .json();
    let last = maja_view["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        last["body"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("after you withdrew")),
        "{last}"
    );
    // Not readable here, which is not the alarm an unverified sender is.
    assert_eq!(last["body"]["status"], "unreadable", "{last}");
    let human = cli.run("maja", &["show", &group]).await.ok().stdout;
    assert!(
        !human.contains("unverified sender") && human.contains("not readable here"),
        "{human}"
    );
    assert!(
        maja_view["banners"]
            .to_string()
            .contains("own_consent_withdrawn"),
        "{}",
        maja_view["banners"]
    );
    // She cannot write there either.
    cli.run("maja", &["send", &group, "Hej"]).await.code(5);

    // A letter whose fingerprint is mistyped: refused before the eID login
    // and the sign-up, so nothing is spent and no device is registered;
    // the same code with the right fingerprint then works.
    let invitation = cli
        .run(
            "mette",
            &[
                "--json",
                "invite",
                "--national-id",
                "19811218-9876",
                "--name",
                "Elsa",
            ],
        )
        .await
        .ok()
        .json();
    let elsa_code = invitation["code"].as_str().unwrap();
    let mut typo: Vec<char> = fingerprint.chars().collect();
    typo[0] = if typo[0] == 'A' { 'B' } else { 'A' };
    let typo: String = typo.into_iter().collect();
    let refused = cli
        .run(
            "elsa-tablet",
            &[
                "join",
                "--code",
                elsa_code,
                "--fingerprint",
                &typo,
                "--accept-consent",
                "--print-url",
            ],
        )
        .await
        .code(6);
    assert!(
        refused.stderr.contains("your code still works"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("EID-LOGIN-URL"),
        "the citizen was sent to eID with a code that was refused: {}",
        refused.stderr
    );
    assert!(!cli.profile_dir("elsa-tablet").join("profile.json").exists());
    let devices_of_elsa = async || {
        cli.run("elsa", &["--json", "devices"])
            .await
            .ok()
            .json()
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(
        devices_of_elsa().await,
        1,
        "the refused join registered a device"
    );
    let (code, _, stderr) = run_with_eid(
        &cli,
        op.as_ref(),
        ("elsa-tablet", "elsa"),
        &[
            "join",
            "--code",
            elsa_code,
            "--fingerprint",
            &fingerprint,
            "--accept-consent",
            "--eid-timeout",
            "60",
        ],
    )
    .await;
    assert_eq!(
        code,
        Some(0),
        "the code was spent by the refused join: {stderr}"
    );
    assert_eq!(devices_of_elsa().await, 2);

    // Wrong keystore passphrase: a clear error, nothing changed.
    let keystore = cli.profile_dir("karl").join("keystore.json");
    let before = std::fs::read(&keystore).unwrap();
    let wrong = cli
        .command("karl", &["threads"])
        .env("SAMTALE_PASSPHRASE", "not the passphrase")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("wrong passphrase"));
    assert_eq!(std::fs::read(&keystore).unwrap(), before);
    // Nothing on disk outside the keystore holds a message or a token.
    for profile in ["mette", "maja", "karl"] {
        for entry in std::fs::read_dir(cli.profile_dir(profile)).unwrap() {
            let text = std::fs::read(entry.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&text);
            assert!(
                !text.contains("bevillingen"),
                "{profile} stores message text"
            );
            assert!(!text.contains("Tak!"), "{profile} stores message text");
        }
    }
}
