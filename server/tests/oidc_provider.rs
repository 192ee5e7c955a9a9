//! Sign-up through a real OpenID Provider: the certified npm package
//! `oidc-provider` (tests/oidc-op/) runs on loopback as the eID broker. The
//! test drives the authorization-code flow with PKCE over HTTP, as the
//! citizen's app would with a browser, gets a real RS256-signed ID token
//! whose nonce is bound to the new device, and signs the citizen up with it.
//!
//! Needs Node.js and `npm ci` in tests/oidc-op; `.ci/run` does that and sets
//! SAMTALE_TEST_OIDC_OP to that directory. Without it the tests say so and skip.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, Url};
use samtale_protocol::wire::{
    AccountInfo, AssuranceLevel, ConsentText, ErrorBody, ErrorCode, InvitationCreated, TokenPair,
};
use samtale_protocol::{DeviceKeys, TeamId, eid_nonce};
use samtale_server::config::EidProviderSettings;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::world::org_with_staff;
use support::{TestApp, TestDatabase, expect};

const OP_ENV: &str = "SAMTALE_TEST_OIDC_OP";

/// The running OpenID Provider; killed on drop.
struct Op {
    child: Child,
    issuer: String,
    client_id: String,
    redirect_uri: String,
    jwks_uri: String,
    web_client_id: String,
    web_client_secret: String,
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_op() -> Option<Op> {
    let Ok(dir) = std::env::var(OP_ENV) else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED (OpenID Provider): {OP_ENV} is not set. `bash .ci/run` installs tests/oidc-op \
             and sets it; by hand: (cd tests/oidc-op && npm ci) && {OP_ENV}=$PWD/tests/oidc-op cargo test"
        );
        return None;
    };
    let mut child = Command::new("node")
        .arg("server.js")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `node server.js` in {dir}: {e}"));
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    // Keep draining: the provider logs notices to stdout, and a closed pipe
    // would kill it.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let info: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("the OpenID Provider did not start ({e}): {line:?}"));
    let text = |k: &str| info[k].as_str().unwrap().to_owned();
    Some(Op {
        issuer: text("issuer"),
        client_id: text("client_id"),
        redirect_uri: text("redirect_uri"),
        jwks_uri: text("jwks_uri"),
        web_client_id: text("web_client_id"),
        web_client_secret: text("web_client_secret"),
        child,
    })
}

/// The native-app flow without a browser: authorization request with PKCE
/// and the device's nonce, the provider's login and consent interactions
/// (answered for `user`), the redirect with the code, the token request.
async fn id_token(op: &Op, user: &str, nonce: &str) -> String {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let verifier = URL_SAFE_NO_PAD.encode(
        samtale_protocol::ThreadId::random()
            .unwrap()
            .as_bytes()
            .repeat(2),
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = URL_SAFE_NO_PAD.encode(samtale_protocol::ThreadId::random().unwrap().as_bytes());
    let mut url = Url::parse_with_params(
        &format!("{}/auth", op.issuer),
        &[
            ("client_id", op.client_id.as_str()),
            ("response_type", "code"),
            ("scope", "openid national_id"),
            ("redirect_uri", op.redirect_uri.as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("nonce", nonce),
            ("state", state.as_str()),
            // Ask for the level of assurance in the ID token, as a
            // client of a national eID broker does.
            (
                "acr_values",
                "https://data.gov.dk/concept/core/nsis/loa/Substantial \
                 https://data.gov.dk/concept/core/nsis/loa/High \
                 https://data.gov.dk/concept/core/nsis/loa/Low",
            ),
        ],
    )
    .unwrap();
    let code = 'flow: {
        for _ in 0..12 {
            let response = http.get(url.clone()).send().await.unwrap();
            let status = response.status();
            let Some(location) = response.headers().get("location").cloned() else {
                panic!(
                    "{status} without a redirect at {url}: {}",
                    response.text().await.unwrap()
                );
            };
            let next = url.join(location.to_str().unwrap()).unwrap();
            if next.as_str().starts_with(&op.redirect_uri) {
                let params: std::collections::HashMap<_, _> =
                    next.query_pairs().into_owned().collect();
                assert_eq!(params.get("state"), Some(&state), "state round trip");
                break 'flow params.get("code").cloned().expect("authorization code");
            }
            url = next;
            if url.path().starts_with("/interaction/") {
                url.query_pairs_mut().append_pair("login", user);
            }
        }
        panic!("the authorization flow did not finish");
    };
    let tokens: Value = http
        .post(format!("{}/token", op.issuer))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", op.redirect_uri.as_str()),
            ("client_id", op.client_id.as_str()),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["id_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no id_token: {tokens}"))
        .to_owned()
}

async fn invite(app: &TestApp, staff: &str, team: TeamId, national_id: &str) -> InvitationCreated {
    expect(
        app.call(
            Method::POST,
            "/v1/invitations",
            Some(staff),
            Some(json!({"team_id": team, "national_id": national_id, "display_name": "Maja"})),
        )
        .await,
        201,
    )
    .await
}

async fn signup(
    app: &TestApp,
    code: &str,
    device: &DeviceKeys,
    id_token: &str,
) -> reqwest::Response {
    let consent: ConsentText =
        expect(app.call(Method::GET, "/v1/consent", None, None).await, 200).await;
    app.call(
        Method::POST,
        "/v1/signup",
        None,
        Some(json!({
            "code": code, "id_token": id_token, "device": device.public(), "device_label": "Phone",
            "consent": {"version": consent.version, "text_sha256": consent.text_sha256},
        })),
    )
    .await
}

async fn a_citizen_signs_up_with_a_real_id_token_from_a_real_openid_provider(db: &TestDatabase) {
    let Some(op) = start_op() else { return };
    let mut settings = db.app_settings();
    settings.identity.eid = vec![EidProviderSettings {
        issuer: op.issuer.clone(),
        client_id: op.client_id.clone(),
        jwks_url: op.jwks_uri.clone(),
        national_id_claim: "national_id".into(),
        min_assurance: "substantial".into(),
        scope: "openid national_id".into(),
        acr_values: None,
        web_client_id: None,
        web_client_secret: None,
    }];
    let app = TestApp::spawn_with(&settings).await;
    // The app discovers the broker from the server.
    let brokers: samtale_protocol::wire::EidProviders =
        expect(app.call(Method::GET, "/v1/eid", None, None).await, 200).await;
    assert_eq!(brokers.providers.len(), 1);
    assert_eq!(brokers.providers[0].issuer, op.issuer);
    assert_eq!(brokers.providers[0].client_id, op.client_id);
    assert_eq!(brokers.providers[0].scope, "openid national_id");
    let (_, team, staff) = org_with_staff(&app, "Aarhus Kommune", "Børn og Unge", "mentor").await;

    // Maja, NSIS substantial: signs up, verified.
    let invitation = invite(&app, staff.token(), team, "010203-1234").await;
    let phone = DeviceKeys::generate().unwrap();
    let token = id_token(&op, "maja", &eid_nonce(&phone.public())).await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256", "a real broker-style RSA signature");
    let tokens: TokenPair = expect(signup(&app, &invitation.code, &phone, &token).await, 201).await;
    let me: AccountInfo = expect(
        app.call(Method::GET, "/v1/me", Some(&tokens.access_token), None)
            .await,
        200,
    )
    .await;
    assert_eq!(me.assurance, Some(AssuranceLevel::Substantial));

    // The same person logged in at NSIS low: refused.
    let again = invite(&app, staff.token(), team, "010203-1234").await;
    let phone2 = DeviceKeys::generate().unwrap();
    let low = id_token(&op, "lav", &eid_nonce(&phone2.public())).await;
    let body: ErrorBody = expect(signup(&app, &again.code, &phone2, &low).await, 401).await;
    assert_eq!(body.code, ErrorCode::AuthenticationFailed);
    assert!(body.message.contains("at least"), "{}", body.message);

    // Someone else's eID login on Maja's invitation: refused.
    let elsa = id_token(&op, "elsa", &eid_nonce(&phone2.public())).await;
    let body: ErrorBody = expect(signup(&app, &again.code, &phone2, &elsa).await, 401).await;
    assert!(body.message.contains("does not match"), "{}", body.message);
    app.stop().await;
}
on_both_backends!(
    a_citizen_signs_up_with_a_real_id_token_from_a_real_openid_provider,
    a_citizen_signs_up_with_a_real_id_token_from_a_real_openid_provider
);

/// A free loopback port for a server whose public address must be known
/// before it starts (the broker redirects to it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Plays the browser through the web app's eID login: from the server's
/// authorization address, through the provider's login (as `user`), to the
/// server's callback, and returns where the server sends the browser then.
/// Records every URL the browser saw.
async fn browser_through(url: &str, user: &str, seen: &mut Vec<String>) -> String {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = Url::parse(url).unwrap();
    for _ in 0..15 {
        seen.push(url.to_string());
        let response = http.get(url.clone()).send().await.unwrap();
        let status = response.status();
        let Some(location) = response.headers().get("location").cloned() else {
            panic!(
                "{status} without a redirect at {url}: {}",
                response.text().await.unwrap()
            );
        };
        let next = url.join(location.to_str().unwrap()).unwrap();
        if url.path() == "/v1/eid/callback" {
            return next.to_string();
        }
        url = next;
        if url.path().starts_with("/interaction/") {
            url.query_pairs_mut().append_pair("login", user);
        }
    }
    panic!("the browser never got back to the app");
}

async fn the_web_app_logs_in_with_eid_through_the_server_and_never_sees_the_brokers_tokens(
    db: &TestDatabase,
) {
    let Some(op) = start_op() else { return };
    let port = free_port();
    let mut settings = db.app_settings();
    settings.listen = format!("127.0.0.1:{port}").parse().unwrap();
    settings.identity.public_url = format!("http://127.0.0.1:{port}");
    settings.identity.eid = vec![EidProviderSettings {
        issuer: op.issuer.clone(),
        client_id: op.client_id.clone(),
        jwks_url: op.jwks_uri.clone(),
        national_id_claim: "national_id".into(),
        min_assurance: "substantial".into(),
        scope: "openid national_id".into(),
        acr_values: Some(
            "https://data.gov.dk/concept/core/nsis/loa/Substantial \
             https://data.gov.dk/concept/core/nsis/loa/High"
                .into(),
        ),
        web_client_id: Some(op.web_client_id.clone()),
        web_client_secret: Some(samtale_server::config::SecretText(
            op.web_client_secret.clone(),
        )),
    }];
    let app = TestApp::spawn_with(&settings).await;
    let brokers: samtale_protocol::wire::EidProviders =
        expect(app.call(Method::GET, "/v1/eid", None, None).await, 200).await;
    assert!(brokers.web_login);
    let (_, team, staff) = org_with_staff(&app, "Aarhus Kommune", "Børn og Unge", "mentor").await;
    let invitation = invite(&app, staff.token(), team, "010203-1234").await;

    // Before anything is used up: the organisation and its fingerprint.
    let preview: samtale_protocol::wire::InvitationPreview = expect(
        app.call(
            Method::POST,
            "/v1/invitations/preview",
            None,
            Some(json!({"code": invitation.code})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(preview.organisation_name, "Aarhus Kommune");
    assert!(
        invitation.letter.contains(&preview.root_fingerprint),
        "the letter's fingerprint: {}",
        invitation.letter
    );
    assert_eq!(
        preview.root_fingerprint,
        samtale_protocol::org_fingerprint(&preview.root_public_key)
    );
    expect::<ErrorBody>(
        app.call(
            Method::POST,
            "/v1/invitations/preview",
            None,
            Some(json!({"code": "AAAA-BBBB-CCCC-DDDD-EEEE"})),
        )
        .await,
        401,
    )
    .await;

    // The page makes its device keys and asks the server to start the login.
    let phone = DeviceKeys::generate().unwrap();
    let started: samtale_protocol::wire::EidFlowStarted = expect(
        app.call(
            Method::POST,
            "/v1/eid/flows",
            None,
            Some(json!({"device": phone.public(), "purpose": "join"})),
        )
        .await,
        201,
    )
    .await;
    let auth = Url::parse(&started.authorization_url).unwrap();
    let params: std::collections::HashMap<_, _> = auth.query_pairs().into_owned().collect();
    assert_eq!(params["client_id"], op.web_client_id);
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(
        params["nonce"],
        eid_nonce(&phone.public()),
        "bound to the device"
    );
    assert_eq!(
        params["redirect_uri"],
        format!("http://127.0.0.1:{port}/v1/eid/callback")
    );
    let mut seen = Vec::new();
    let back = browser_through(&started.authorization_url, "maja", &mut seen).await;
    assert_eq!(back, format!("http://127.0.0.1:{port}/join#eid=done"));
    // Nothing the browser saw carries the page's handle, the client secret
    // or a token.
    for url in &seen {
        assert!(!url.contains(&started.flow), "the handle leaked into {url}");
        assert!(!url.contains(&op.web_client_secret), "{url}");
        assert!(!url.contains("id_token") && !url.contains("eyJ"), "{url}");
    }

    // Another device cannot use the login; the flow is spent by trying.
    let consent: ConsentText =
        expect(app.call(Method::GET, "/v1/consent", None, None).await, 200).await;
    let body = |device: &DeviceKeys, flow: &str| {
        json!({
            "code": invitation.code, "eid_flow": flow, "device": device.public(),
            "device_label": "Phone",
            "consent": {"version": consent.version, "text_sha256": consent.text_sha256},
        })
    };
    // The page signs up with its handle and the same device keys.
    let tokens: TokenPair = expect(
        app.call(
            Method::POST,
            "/v1/signup",
            None,
            Some(body(&phone, &started.flow)),
        )
        .await,
        201,
    )
    .await;
    let me: AccountInfo = expect(
        app.call(Method::GET, "/v1/me", Some(&tokens.access_token), None)
            .await,
        200,
    )
    .await;
    assert_eq!(me.assurance, Some(AssuranceLevel::Substantial));
    // Spent: the same handle does nothing a second time.
    let again = invite(&app, staff.token(), team, "010203-1234").await;
    let laptop = DeviceKeys::generate().unwrap();
    let reused: ErrorBody = expect(
        app.call(
            Method::POST,
            "/v1/signup",
            None,
            Some(json!({
                "code": again.code, "eid_flow": started.flow, "device": phone.public(),
                "device_label": "Phone",
                "consent": {"version": consent.version, "text_sha256": consent.text_sha256},
            })),
        )
        .await,
        401,
    )
    .await;
    assert!(
        reused.message.contains("used already"),
        "{}",
        reused.message
    );

    // A login made for one device does not serve another (the nonce).
    let for_phone: samtale_protocol::wire::EidFlowStarted = expect(
        app.call(
            Method::POST,
            "/v1/eid/flows",
            None,
            Some(json!({"device": DeviceKeys::generate().unwrap().public(), "purpose": "login"})),
        )
        .await,
        201,
    )
    .await;
    let back = browser_through(&for_phone.authorization_url, "maja", &mut Vec::new()).await;
    assert!(back.ends_with("/login#eid=done"), "{back}");
    let wrong: ErrorBody = expect(
        app.call(
            Method::POST,
            "/v1/sessions/eid",
            None,
            Some(json!({"eid_flow": for_phone.flow, "device": laptop.public(), "device_label": "Laptop"})),
        )
        .await,
        401,
    )
    .await;
    assert!(wrong.message.contains("nonce"), "{}", wrong.message);

    // The laptop's own login logs it into Maja's account.
    let own: samtale_protocol::wire::EidFlowStarted = expect(
        app.call(
            Method::POST,
            "/v1/eid/flows",
            None,
            Some(json!({"device": laptop.public(), "purpose": "login"})),
        )
        .await,
        201,
    )
    .await;
    browser_through(&own.authorization_url, "maja", &mut Vec::new()).await;
    let laptop_tokens: TokenPair = expect(
        app.call(
            Method::POST,
            "/v1/sessions/eid",
            None,
            Some(
                json!({"eid_flow": own.flow, "device": laptop.public(), "device_label": "Laptop"}),
            ),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(laptop_tokens.account_id, tokens.account_id);

    // A login the person cancels at the broker comes back as failed.
    let cancelled: samtale_protocol::wire::EidFlowStarted = expect(
        app.call(
            Method::POST,
            "/v1/eid/flows",
            None,
            Some(json!({"device": laptop.public(), "purpose": "login"})),
        )
        .await,
        201,
    )
    .await;
    let state = Url::parse(&cancelled.authorization_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!(
            "http://127.0.0.1:{port}/v1/eid/callback?error=access_denied&state={state}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/login#eid=failed");
    // An unknown state is not a login.
    let response = reqwest::get(format!(
        "http://127.0.0.1:{port}/v1/eid/callback?code=x&state=nothing"
    ))
    .await
    .unwrap();
    assert_eq!(response.status(), 404);
    app.stop().await;
}
on_both_backends!(
    the_web_app_logs_in_with_eid_through_the_server_and_never_sees_the_brokers_tokens,
    the_web_app_logs_in_with_eid_through_the_server_and_never_sees_the_brokers_tokens
);
