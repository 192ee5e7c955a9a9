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
