//! Account security with the real `samtale` binary (issue 13): certifying
//! only the device whose fingerprint the admin typed, revoking a staff
//! device, password reset and change, re-enabling an account, and a login
//! refused on the client leaving no device on the server.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::Value;
use support::{Cli, PASSWORD, Server};

/// An organisation with one team and `mette` in it (not logged in yet).
async fn organisation(cli: &Cli, server: &Server) {
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
    cli.run("admin", &["admin", "team", "create", "Jobcenter"])
        .await
        .ok();
    cli.run(
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
            "Jobcenter",
        ],
    )
    .await
    .ok();
}

async fn staff_devices(cli: &Cli, user: &str) -> Vec<Value> {
    cli.run("admin", &["--json", "admin", "staff", "devices", user])
        .await
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

async fn fingerprint_of(cli: &Cli, profile: &str) -> String {
    cli.run(profile, &["--json", "whoami"]).await.ok().json()["device_fingerprint"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_refused_on_the_client_leaves_no_device_on_the_server() {
    let server = Server::start(None).await;
    let cli = Cli::new(&server.url);
    organisation(&cli, &server).await;

    let weak = cli
        .command("mette", &["login", "--username", "mette"])
        .env("SAMTALE_PASSPHRASE", "short")
        .output()
        .unwrap();
    assert_ne!(weak.status.code(), Some(0));
    let said = String::from_utf8_lossy(&weak.stderr);
    assert!(said.contains("at least 8 characters"), "{said}");
    assert!(
        staff_devices(&cli, "mette").await.is_empty(),
        "the refused login registered a device"
    );
    assert!(!cli.profile_dir("mette").join("profile.json").exists());

    // The same login with a passphrase that will do registers exactly one
    // (so the check above could have seen one).
    cli.run("mette", &["login", "--username", "mette"])
        .await
        .ok();
    assert_eq!(staff_devices(&cli, "mette").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certify_takes_only_the_device_whose_fingerprint_was_read_off_its_screen() {
    let server = Server::start(None).await;
    let cli = Cli::new(&server.url);
    organisation(&cli, &server).await;
    cli.run("mette", &["login", "--username", "mette"])
        .await
        .ok();
    // Someone with Mette's password logs in elsewhere.
    cli.run("intruder", &["login", "--username", "mette"])
        .await
        .ok();
    let mette = fingerprint_of(&cli, "mette").await;
    let intruder = fingerprint_of(&cli, "intruder").await;
    assert_ne!(mette, intruder);

    // Without a fingerprint, a script gets the list and certifies nothing.
    let asked = cli
        .run("admin", &["admin", "certify", "mette"])
        .await
        .code(2);
    assert!(asked.stderr.contains(&mette), "{}", asked.stderr);
    assert!(asked.stderr.contains(&intruder), "{}", asked.stderr);
    assert!(asked.stderr.contains("--fingerprint"), "{}", asked.stderr);
    // A fingerprint that is nobody's (a typo) is a security refusal.
    let typo = format!("{}X", &mette[..mette.len() - 1]);
    let refused = cli
        .run(
            "admin",
            &["admin", "certify", "mette", "--fingerprint", &typo],
        )
        .await
        .code(6);
    assert!(refused.stderr.contains("own screen"), "{}", refused.stderr);
    let devices = staff_devices(&cli, "mette").await;
    assert_eq!(devices.len(), 2);
    assert!(
        devices.iter().all(|d| d["certified"] == false),
        "{devices:?}"
    );

    // The right one: only Mette's device is certified.
    let certified = cli.certify("mette").await.json();
    assert_eq!(certified.as_array().unwrap().len(), 1, "{certified}");
    let devices = staff_devices(&cli, "mette").await;
    let state = |fp: &str| {
        devices.iter().find(|d| d["fingerprint"] == fp).unwrap()["certified"]
            .as_bool()
            .unwrap()
    };
    assert!(state(&mette));
    assert!(!state(&intruder));
    // Mette makes the team key; the intruder's device gets none of it.
    cli.run("mette", &["keys"]).await.ok();
    let keys = cli.run("intruder", &["--json", "keys"]).await.ok().json();
    assert_eq!(keys["opened"], 0, "{keys}");

    // The admin revokes the intruder's device by its fingerprint: its
    // session ends at once (exit 3 on its next command).
    let table = cli
        .run("admin", &["admin", "staff", "devices", "mette"])
        .await
        .ok();
    assert!(
        table.stdout.contains("waiting for certification"),
        "{}",
        table.stdout
    );
    cli.run(
        "admin",
        &["admin", "staff", "revoke-device", "mette", &intruder],
    )
    .await
    .ok();
    cli.run("intruder", &["whoami"]).await.code(3);
    cli.run("mette", &["whoami"]).await.ok();

    // A certified device is removed from the signed device list by the
    // root: it is cut off too, and the list no longer names it.
    let id = cli.run("mette", &["--json", "whoami"]).await.ok().json()["device_id"]
        .as_str()
        .unwrap()
        .to_owned();
    cli.run(
        "admin",
        &["admin", "staff", "revoke-device", "mette", &id[..8]],
    )
    .await
    .ok();
    cli.run("mette", &["whoami"]).await.code(3);
    let devices = staff_devices(&cli, "mette").await;
    assert!(
        devices.iter().all(|d| !d["revoked_at"].is_null()),
        "{devices:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_password_is_replaced_at_login_changed_again_and_a_disabled_account_re_enabled() {
    let server = Server::start(None).await;
    let cli = Cli::new(&server.url);
    organisation(&cli, &server).await;
    cli.run("mette", &["login", "--username", "mette"])
        .await
        .ok();

    // The admin resets Mette's password: her session ends at once.
    let reset = cli
        .run(
            "admin",
            &["--json", "admin", "staff", "reset-password", "mette"],
        )
        .await
        .ok()
        .json();
    let temporary = reset["temporary_password"].as_str().unwrap().to_owned();
    cli.run("mette", &["whoami"]).await.code(3);
    let listed = cli.run("admin", &["admin", "staff", "list"]).await.ok();
    assert!(
        listed.stdout.contains("must change password"),
        "{}",
        listed.stdout
    );
    // The old password no longer works: refused (5), not "session ended"
    // (3), which would tell her to log in — what she is doing.
    let wrong = cli.run("mette", &["login"]).await.code(5);
    assert!(!wrong.stderr.contains("panicked"), "{}", wrong.stderr);
    // The temporary one needs a new password of her own; without one a
    // script is told what to set.
    let asked = cli
        .command("mette", &["login"])
        .env("SAMTALE_PASSWORD", &temporary)
        .output()
        .unwrap();
    assert_eq!(asked.status.code(), Some(2));
    let said = String::from_utf8_lossy(&asked.stderr);
    assert!(said.contains("SAMTALE_NEW_PASSWORD"), "{said}");
    let done = cli
        .command("mette", &["login"])
        .env("SAMTALE_PASSWORD", &temporary)
        .env("SAMTALE_NEW_PASSWORD", "mettes own long passphrase")
        .output()
        .unwrap();
    assert_eq!(
        done.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    cli.run("mette", &["whoami"]).await.ok();

    // She changes it herself later; the wrong current one changes nothing.
    let wrong = cli
        .command("mette", &["password"])
        .env("SAMTALE_PASSWORD", PASSWORD)
        .env("SAMTALE_NEW_PASSWORD", "something else entirely")
        .output()
        .unwrap();
    assert_eq!(wrong.status.code(), Some(3));
    let changed = cli
        .command("mette", &["password"])
        .env("SAMTALE_PASSWORD", "mettes own long passphrase")
        .env("SAMTALE_NEW_PASSWORD", "and another one later")
        .output()
        .unwrap();
    assert_eq!(
        changed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&changed.stderr)
    );
    // This session goes on.
    cli.run("mette", &["whoami"]).await.ok();

    // Disabled, her session ends; enabled, she logs in again.
    cli.run("admin", &["admin", "staff", "disable", "mette"])
        .await
        .ok();
    cli.run("mette", &["whoami"]).await.code(3);
    let login = |password: &'static str| {
        cli.command("mette", &["login"])
            .env("SAMTALE_PASSWORD", password)
            .output()
            .unwrap()
    };
    // A disabled account's login is refused (5).
    assert_eq!(login("and another one later").status.code(), Some(5));
    cli.run("admin", &["admin", "staff", "enable", "mette"])
        .await
        .ok();
    let back = login("and another one later");
    assert_eq!(
        back.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );
    cli.run("mette", &["whoami"]).await.ok();
}

/// Two processes of one profile (the chat open while another command runs)
/// share the single-use refresh token. The one that rotates second must
/// pick up the first one's new pair from the keystore instead of spending
/// the old token, which the server treats as theft and answers by ending
/// every session of the login — shown at the end, the positive control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_of_one_profile_share_the_rotated_refresh_token() {
    use samtale_cli::client::Session;
    use samtale_cli::profile::{Home, Profile};
    use samtale_protocol::wire::{RefreshRequest, TokenPair};

    let server = Server::start(None).await;
    let cli = Cli::new(&server.url);
    organisation(&cli, &server).await;
    cli.run("mette", &["login", "--username", "mette"])
        .await
        .ok();
    let home = Home::locate(Some(cli.home.path())).unwrap();
    let open = || async {
        Session::open(Profile::new(&home, "mette").unwrap(), support::PASSPHRASE)
            .await
            .unwrap()
    };

    // The access token runs out; the chat (`chat`) and a later command
    // (`other`) both hold the same, now expired, pair in memory.
    let mut chat = open().await;
    chat.keystore
        .update(|s| {
            if let Some((_, expires)) = s.access_token.as_mut() {
                *expires = 0;
            }
        })
        .unwrap();
    let spent = chat.keystore.secrets().refresh_token.clone().unwrap();

    // The command starts and rotates first (opening a session refreshes an
    // expired token); the chat, still holding the spent refresh token in
    // memory, must not send it.
    let mut other = open().await;
    other.me().await.unwrap();
    assert_ne!(
        other
            .keystore
            .secrets()
            .refresh_token
            .as_deref()
            .map(String::as_str),
        Some(spent.as_str()),
        "the command did not rotate the refresh token"
    );
    chat.me().await.unwrap();
    assert_eq!(
        chat.api.token(),
        other.api.token(),
        "the chat did not take the command's new access token"
    );
    other.me().await.unwrap();
    cli.run("mette", &["whoami"]).await.ok();

    // Her own contact details, kept in the profile for the minimisation
    // check; something that is neither is refused.
    cli.run(
        "mette",
        &[
            "profile",
            "contacts",
            "--set",
            "+45 8915 1515",
            "--set",
            "mette.jensen@randers.dk",
        ],
    )
    .await
    .ok();
    let shown = cli
        .run("mette", &["--json", "profile", "contacts"])
        .await
        .ok()
        .json();
    assert_eq!(shown.as_array().unwrap().len(), 2, "{shown}");
    let bad = cli
        .run("mette", &["profile", "contacts", "--set", "Mette"])
        .await;
    assert_ne!(bad.code, 0);
    let warnings = samtale_cli::tui::minimisation_warnings(
        "Ring på 89 15 15 15",
        &[],
        &open().await.config.own_contacts,
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(!samtale_cli::tui::minimisation_warnings("Ring på 89 15 15 15", &[], &[]).is_empty());

    // Positive control: the spent token, sent as the chat used to send it,
    // ends every session of the login.
    let reused = samtale_cli::api::Api::new(&server.url)
        .unwrap()
        .post::<_, TokenPair>(
            "/v1/sessions/refresh",
            &RefreshRequest {
                refresh_token: spent.to_string(),
            },
        )
        .await;
    assert!(reused.is_err(), "the server accepted a spent refresh token");
    chat.keystore
        .update(|s| {
            if let Some((_, expires)) = s.access_token.as_mut() {
                *expires = 0;
            }
        })
        .unwrap();
    let ended = chat.me().await;
    assert!(
        matches!(
            ended,
            Err(samtale_cli::client::ClientError::SessionEnded(_))
        ),
        "{ended:?}"
    );
}

/// A citizen who joined without eID, whose session ended, logs the same
/// device in again with a new invitation the organisation sends her: her
/// keys and conversation stay. A code for someone else, or a request for
/// her device without proof of its key (anyone may know a public key), is
/// refused; the same request with the proof works (the positive control).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_citizen_without_eid_logs_in_again_with_a_new_invitation() {
    use samtale_protocol::wire::{ConsentAcceptance, ConsentText, RedeemInvitationRequest};

    let server = Server::start(None).await;
    let cli = Cli::new(&server.url);
    organisation(&cli, &server).await;
    cli.run("mette", &["login", "--username", "mette"])
        .await
        .ok();
    cli.certify("mette").await;
    cli.run("admin", &["admin", "archive-key"]).await.ok();
    let invite = async |national_id: &str, name: &str| {
        cli.run(
            "mette",
            &[
                "--json",
                "invite",
                "--national-id",
                national_id,
                "--name",
                name,
            ],
        )
        .await
        .ok()
        .json()["code"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let code = invite("010203-1234", "Maja").await;
    cli.run("maja", &["join", "--code", &code, "--accept-consent"])
        .await
        .ok();
    let thread = cli
        .run("mette", &["--json", "new-thread", "--citizen", "Maja"])
        .await
        .ok()
        .json()["thread_id"]
        .as_str()
        .unwrap()[..8]
        .to_owned();
    cli.run("mette", &["send", &thread, "Velkommen, Maja."])
        .await
        .ok();

    // Her session ends; without eID, `login` tells her what to do.
    cli.run("maja", &["logout"]).await.ok();
    cli.run("maja", &["threads"]).await.code(3);
    let stuck = cli.run("maja", &["login"]).await;
    assert!(
        stuck.stderr.contains("samtale login --code"),
        "{}",
        stuck.stderr
    );

    // A letter for someone else does not log her device in.
    let elsa_code = invite("020304-2345", "Elsa").await;
    let refused = cli
        .run("maja", &["login", "--code", &elsa_code, "--accept-consent"])
        .await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("another person"),
        "{}",
        refused.stderr
    );

    // Her device's public keys with a new code for her, but no proof of
    // the key, or a proof made with another key: refused.
    let new_code = invite("010203-1234", "Maja").await;
    let home = samtale_cli::profile::Home::locate(Some(cli.home.path())).unwrap();
    let profile = samtale_cli::profile::Profile::new(&home, "maja").unwrap();
    let keystore =
        samtale_cli::keystore::Keystore::open(&profile.keystore_path(), support::PASSPHRASE)
            .unwrap();
    let device = keystore.secrets().device().unwrap();
    let api = samtale_cli::api::Api::new(&server.url).unwrap();
    let consent: ConsentText = api.get("/v1/consent").await.unwrap();
    let request = |proof: Option<String>| RedeemInvitationRequest {
        code: new_code.clone(),
        id_token: None,
        eid_flow: None,
        device: device.public(),
        device_label: "somebody".into(),
        consent: ConsentAcceptance {
            version: consent.version.clone(),
            text_sha256: consent.text_sha256.clone(),
        },
        device_proof: proof,
    };
    let without = api
        .post::<_, Value>("/v1/signup", &request(None))
        .await
        .unwrap_err();
    assert!(
        without.to_string().contains("already registered"),
        "{without}"
    );
    let forger = samtale_protocol::DeviceKeys::generate().unwrap();
    let forged =
        samtale_protocol::b64::encode(&samtale_protocol::signup_again_proof(&forger, &new_code));
    let wrong = api
        .post::<_, Value>("/v1/signup", &request(Some(forged)))
        .await
        .unwrap_err();
    assert!(wrong.to_string().contains("does not verify"), "{wrong}");

    // The same code, with the proof `samtale` makes: her device is back,
    // with its keys: she reads the message sent before.
    let again = cli
        .run(
            "maja",
            &["--json", "login", "--code", &new_code, "--accept-consent"],
        )
        .await
        .ok()
        .json();
    assert_eq!(again["logged_in"], true);
    let shown = cli
        .run("maja", &["--json", "show", &thread])
        .await
        .ok()
        .json();
    assert_eq!(shown["messages"][0]["body"]["text"], "Velkommen, Maja.");
    let devices = cli.run("maja", &["--json", "devices"]).await.ok().json();
    assert_eq!(
        devices.as_array().unwrap().len(),
        1,
        "the same device, not a new one: {devices}"
    );
    // The code is spent.
    let spent = cli
        .run("maja", &["login", "--code", &new_code, "--accept-consent"])
        .await;
    assert_ne!(spent.code, 0);
}
