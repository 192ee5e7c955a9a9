//! Citizen sign-up with an eID ID token: a JWKS server the test controls
//! publishes the broker's keys, and the test forges every kind of bad token
//! with keys it holds. Each is refused with its own error and creates
//! nothing. On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use samtale_protocol::wire::{
    AccountInfo, AssuranceLevel, CitizenInfo, ConsentState, ConsentText, ErrorBody, ErrorCode,
    InvitationCreated, TokenPair,
};
use samtale_protocol::{DeviceKeys, TeamId, eid_nonce};
use samtale_server::config::EidProviderSettings;
use serde_json::{Value, json};
use support::world::{Actor, org_with_staff};
use support::{TestApp, TestDatabase, expect};

const ISSUER: &str = "https://broker.test";
const CLIENT_ID: &str = "samtale-aarhus";

/// A broker signing key: Ed25519, published as an OKP JWK.
struct BrokerKey {
    kid: String,
    signing: SigningKey,
}

impl BrokerKey {
    fn new(kid: &str) -> Self {
        let id = samtale_protocol::ThreadId::random().unwrap();
        let mut seed = [0u8; 32];
        seed[..16].copy_from_slice(id.as_bytes());
        seed[16..].copy_from_slice(samtale_protocol::ThreadId::random().unwrap().as_bytes());
        Self {
            kid: kid.into(),
            signing: SigningKey::from_bytes(&seed),
        }
    }

    fn jwk(&self) -> Value {
        json!({
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(self.signing.verifying_key().to_bytes()),
        })
    }

    fn encoding_key(&self) -> EncodingKey {
        // PKCS#8 v1 for Ed25519: a fixed prefix and the 32-byte seed.
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&self.signing.to_bytes());
        EncodingKey::from_ed_der(&der)
    }

    fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding_key()).unwrap()
    }
}

/// Serves `/jwks` with whatever keys the test puts in.
struct Jwks {
    url: String,
    keys: Arc<Mutex<Vec<Value>>>,
}

async fn jwks_server() -> Jwks {
    let keys: Arc<Mutex<Vec<Value>>> = Arc::default();
    let shared = keys.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let keys = shared.lock().unwrap().clone();
            async move { axum::Json(json!({ "keys": keys })) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Jwks { url, keys }
}

fn now() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
    )
    .unwrap()
}

fn claims(device: &DeviceKeys, national_id: &str, sub: &str) -> Value {
    let t = now();
    json!({
        "iss": ISSUER, "aud": CLIENT_ID, "sub": sub, "iat": t, "exp": t + 300,
        "nonce": eid_nonce(&device.public()),
        "acr": "https://data.gov.dk/concept/core/nsis/loa/Substantial",
        "national_id": national_id,
    })
}

struct World {
    attempts: std::sync::atomic::AtomicU32,
    app: TestApp,
    key: BrokerKey,
    jwks: Jwks,
    staff: Actor,
    team: TeamId,
}

async fn world(db: &TestDatabase) -> World {
    let jwks = jwks_server().await;
    let key = BrokerKey::new("broker-1");
    jwks.keys.lock().unwrap().push(key.jwk());
    let mut settings = db.app_settings();
    settings.identity.eid = vec![EidProviderSettings {
        issuer: ISSUER.into(),
        client_id: CLIENT_ID.into(),
        jwks_url: jwks.url.clone(),
        national_id_claim: "national_id".into(),
        min_assurance: "substantial".into(),
        scope: "openid national_id".into(),
        acr_values: None,
        web_client_id: None,
        web_client_secret: None,
    }];
    // The test stands behind a "proxy" so each attempt can come from its own
    // address and the per-address sign-up limit does not interfere.
    settings.identity.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
    let app = TestApp::spawn_with(&settings).await;
    let (_, team, staff) = org_with_staff(&app, "Malmö stad", "Socialtjänsten", "sara").await;
    World {
        attempts: Default::default(),
        app,
        key,
        jwks,
        staff,
        team,
    }
}

impl World {
    async fn invite(&self, national_id: &str) -> InvitationCreated {
        expect(
            self.app
                .call(
                    Method::POST,
                    "/v1/invitations",
                    Some(self.staff.token()),
                    Some(json!({"team_id": self.team, "national_id": national_id,
                                "display_name": "Elsa Andersson"})),
                )
                .await,
            201,
        )
        .await
    }

    async fn signup(
        &self,
        code: &str,
        device: &DeviceKeys,
        id_token: Option<&str>,
    ) -> reqwest::Response {
        let consent: ConsentText = expect(
            self.app.call(Method::GET, "/v1/consent", None, None).await,
            200,
        )
        .await;
        let mut body = json!({
            "code": code, "device": device.public(), "device_label": "Phone",
            "consent": {"version": consent.version, "text_sha256": consent.text_sha256},
        });
        if let Some(token) = id_token {
            body["id_token"] = json!(token);
        }
        let n = self
            .attempts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.app
            .client
            .post(format!("{}/v1/signup", self.app.address))
            .header("x-forwarded-for", format!("198.51.100.{}", n % 250))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn citizens(&self) -> Vec<CitizenInfo> {
        expect(
            self.app
                .call(
                    Method::GET,
                    &format!("/v1/teams/{}/citizens", self.team),
                    Some(self.staff.token()),
                    None,
                )
                .await,
            200,
        )
        .await
    }
}

const PERSONNUMMER: &str = "19811218-9876";

async fn a_verified_citizen_signs_up_and_the_same_identity_reaches_the_same_account(
    db: &TestDatabase,
) {
    let w = world(db).await;
    let invitation = w.invite(PERSONNUMMER).await;
    let phone = DeviceKeys::generate().unwrap();
    // The broker's claim may be formatted differently from what staff typed.
    let token = w.key.sign(&claims(&phone, "198112189876", "bankid-sub-1"));
    let tokens: TokenPair =
        expect(w.signup(&invitation.code, &phone, Some(&token)).await, 201).await;
    let me: AccountInfo = expect(
        w.app
            .call(Method::GET, "/v1/me", Some(&tokens.access_token), None)
            .await,
        200,
    )
    .await;
    assert_eq!(me.assurance, Some(AssuranceLevel::Substantial));
    let citizens = w.citizens().await;
    assert_eq!(citizens[0].assurance, AssuranceLevel::Substantial);
    assert_eq!(citizens[0].notice, None);

    // The same person, invited again, on a new phone with a new eID login.
    let again = w.invite(PERSONNUMMER).await;
    let new_phone = DeviceKeys::generate().unwrap();
    let mut c = claims(&new_phone, PERSONNUMMER, "bankid-sub-1");
    c["acr"] = json!("http://eidas.europa.eu/LoA/high");
    let second: TokenPair = expect(
        w.signup(&again.code, &new_phone, Some(&w.key.sign(&c)))
            .await,
        201,
    )
    .await;
    assert_eq!(second.account_id, tokens.account_id);
    assert_eq!(w.citizens().await.len(), 1);
    assert_eq!(w.citizens().await[0].assurance, AssuranceLevel::High);

    // A code alone is not enough when eID is configured.
    let third = w.invite(PERSONNUMMER).await;
    let body: ErrorBody = expect(
        w.signup(&third.code, &DeviceKeys::generate().unwrap(), None)
            .await,
        422,
    )
    .await;
    assert_eq!(body.code, ErrorCode::ValidationFailed);
    w.app.stop().await;
}
on_both_backends!(
    a_verified_citizen_signs_up_and_the_same_identity_reaches_the_same_account,
    a_verified_citizen_signs_up_and_the_same_identity_reaches_the_same_account
);

async fn forged_and_wrong_id_tokens_are_refused_each_with_its_reason(db: &TestDatabase) {
    let w = world(db).await;
    let invitation = w.invite(PERSONNUMMER).await;
    let phone = DeviceKeys::generate().unwrap();
    let good = claims(&phone, PERSONNUMMER, "sub-1");
    let with = |field: &str, value: Value| {
        let mut c = good.clone();
        c[field] = value;
        c
    };
    let without = |field: &str| {
        let mut c = good.clone();
        c.as_object_mut().unwrap().remove(field);
        c
    };
    let header_b64 = |h: Value| URL_SAFE_NO_PAD.encode(h.to_string());
    let payload_b64 = URL_SAFE_NO_PAD.encode(good.to_string());

    // alg: none.
    let alg_none = format!(
        "{}.{payload_b64}.",
        header_b64(json!({"alg": "none", "typ": "JWT"}))
    );
    // HS256 "signed" with the broker's public key as the secret.
    let public_jwk = w.key.jwk().to_string();
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some("broker-1".into());
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &good,
        &EncodingKey::from_secret(public_jwk.as_bytes()),
    )
    .unwrap();
    let hs256_raw = jsonwebtoken::encode(
        &hs_header,
        &good,
        &EncodingKey::from_secret(&w.key.signing.verifying_key().to_bytes()),
    )
    .unwrap();
    // Right kid, wrong key; and a kid the broker never published.
    let impostor = BrokerKey::new("broker-1");
    let unknown_kid = BrokerKey::new("not-published");
    let t = now();

    let cases: Vec<(&str, String, &str)> = vec![
        ("alg none", alg_none, "signature algorithm"),
        ("HS256 with the public JWK", hs256, "signature algorithm"),
        (
            "HS256 with the raw public key",
            hs256_raw,
            "signature algorithm",
        ),
        ("wrong key", impostor.sign(&good), "signature is not valid"),
        ("unknown kid", unknown_kid.sign(&good), "does not publish"),
        (
            "expired",
            w.key.sign(&with("exp", json!(t - 3600)).clone()),
            "expired",
        ),
        (
            "nbf in the future",
            w.key.sign(&with("nbf", json!(t + 3600))),
            "not valid yet",
        ),
        (
            "iat in the future",
            w.key.sign(&with("iat", json!(t + 3600))),
            "not valid yet",
        ),
        (
            "wrong iss",
            w.key.sign(&with("iss", json!("https://evil.test"))),
            "issuer",
        ),
        (
            "wrong aud",
            w.key.sign(&with("aud", json!("another-client"))),
            "another client",
        ),
        (
            "nonce of another device",
            w.key.sign(&with(
                "nonce",
                json!(eid_nonce(&DeviceKeys::generate().unwrap().public())),
            )),
            "nonce",
        ),
        ("nonce missing", w.key.sign(&without("nonce")), "nonce"),
        (
            "acr too low",
            w.key.sign(&with(
                "acr",
                json!("https://data.gov.dk/concept/core/nsis/loa/Low"),
            )),
            "at least",
        ),
        (
            "acr missing",
            w.key.sign(&without("acr")),
            "level of assurance",
        ),
        (
            "national id missing",
            w.key.sign(&without("national_id")),
            "national id",
        ),
        ("not a JWT", "hello".into(), "not a signed JWT"),
    ];
    for (name, token, expected) in &cases {
        let body: ErrorBody =
            expect(w.signup(&invitation.code, &phone, Some(token)).await, 401).await;
        assert_eq!(body.code, ErrorCode::AuthenticationFailed, "{name}");
        assert!(
            body.message.contains(expected),
            "{name}: expected {expected:?} in {:?}",
            body.message
        );
        assert!(!body.message.contains(PERSONNUMMER), "{name}");
    }
    // Another person's national id: refused (and counted against the code).
    let other_person = w.key.sign(&with("national_id", json!("19850709-9805")));
    let body: ErrorBody = expect(
        w.signup(&invitation.code, &phone, Some(&other_person))
            .await,
        401,
    )
    .await;
    assert!(body.message.contains("does not match"), "{}", body.message);

    // None of that created anything.
    assert!(w.citizens().await.is_empty());

    // The genuine token still works once; replayed with another
    // invitation for the same person, it is refused.
    let token = w.key.sign(&good);
    let _: TokenPair = expect(w.signup(&invitation.code, &phone, Some(&token)).await, 201).await;
    let again = w.invite(PERSONNUMMER).await;
    // On another device the same token fails: it is bound to its device's nonce.
    let body: ErrorBody = expect(
        w.signup(&again.code, &DeviceKeys::generate().unwrap(), Some(&token))
            .await,
        401,
    )
    .await;
    assert!(body.message.contains("nonce"), "{}", body.message);
    w.app.stop().await;
}
on_both_backends!(
    forged_and_wrong_id_tokens_are_refused_each_with_its_reason,
    forged_and_wrong_id_tokens_are_refused_each_with_its_reason
);

async fn a_replayed_id_token_is_refused_and_rotated_broker_keys_are_fetched(db: &TestDatabase) {
    let w = world(db).await;
    let phone = DeviceKeys::generate().unwrap();
    let token = w.key.sign(&claims(&phone, PERSONNUMMER, "sub-1"));
    let first = w.invite(PERSONNUMMER).await;
    let second = w.invite(PERSONNUMMER).await;
    let _: TokenPair = expect(w.signup(&first.code, &phone, Some(&token)).await, 201).await;
    let body: ErrorBody = expect(w.signup(&second.code, &phone, Some(&token)).await, 401).await;
    assert!(
        body.message.contains("already been used"),
        "{}",
        body.message
    );
    // The second invitation is still unused: nothing was spent or created.
    assert_eq!(w.citizens().await.len(), 1);

    // Key rotation: a token signed with a newly published key is accepted
    // after the server refetches the JWKS for the unknown kid.
    let rotated = BrokerKey::new("broker-2");
    w.jwks.keys.lock().unwrap().push(rotated.jwk());
    let new_phone = DeviceKeys::generate().unwrap();
    let token = rotated.sign(&claims(&new_phone, PERSONNUMMER, "sub-1"));
    // Unknown kids trigger a refetch at most every 30 s (so forged kids
    // cannot make the server hammer the broker): right after the first
    // fetch the new key is not known yet, 30 s later it is.
    let body: ErrorBody = expect(w.signup(&second.code, &new_phone, Some(&token)).await, 401).await;
    assert!(
        body.message.contains("does not publish"),
        "{}",
        body.message
    );
    w.app.clock.advance(samtale_server::eid::REFETCH_INTERVAL);
    let again: TokenPair =
        expect(w.signup(&second.code, &new_phone, Some(&token)).await, 201).await;
    let me: AccountInfo = expect(
        w.app
            .call(Method::GET, "/v1/me", Some(&again.access_token), None)
            .await,
        200,
    )
    .await;
    assert_eq!(me.assurance, Some(AssuranceLevel::Substantial));
    w.app.stop().await;
}
on_both_backends!(
    a_replayed_id_token_is_refused_and_rotated_broker_keys_are_fetched,
    a_replayed_id_token_is_refused_and_rotated_broker_keys_are_fetched
);

async fn a_signed_up_citizen_logs_in_again_with_eid_on_a_new_phone(db: &TestDatabase) {
    let w = world(db).await;
    let invitation = w.invite(PERSONNUMMER).await;
    let phone = DeviceKeys::generate().unwrap();
    let first: TokenPair = expect(
        w.signup(
            &invitation.code,
            &phone,
            Some(&w.key.sign(&claims(&phone, PERSONNUMMER, "bankid-7"))),
        )
        .await,
        201,
    )
    .await;
    let login = |device: &DeviceKeys, token: String| {
        let body =
            json!({"id_token": token, "device": device.public(), "device_label": "New phone"});
        let app = &w.app;
        async move {
            app.call(Method::POST, "/v1/sessions/eid", None, Some(body))
                .await
        }
    };

    // A new phone, a fresh eID login: same account, a second device.
    let new_phone = DeviceKeys::generate().unwrap();
    let token = w.key.sign(&claims(&new_phone, PERSONNUMMER, "bankid-7"));
    let again: TokenPair = expect(login(&new_phone, token.clone()).await, 201).await;
    assert_eq!(again.account_id, first.account_id);
    assert_ne!(again.device_id, first.device_id);
    // The token is spent; another device's nonce does not fit it.
    let body: ErrorBody = expect(login(&new_phone, token).await, 401).await;
    assert!(
        body.message.contains("already been used"),
        "{}",
        body.message
    );
    let body: ErrorBody = expect(
        login(
            &DeviceKeys::generate().unwrap(),
            w.key.sign(&claims(&new_phone, PERSONNUMMER, "bankid-7")),
        )
        .await,
        401,
    )
    .await;
    assert!(body.message.contains("nonce"), "{}", body.message);
    // An eID identity with no account is sent to the letter.
    let stranger = DeviceKeys::generate().unwrap();
    let body: ErrorBody = expect(
        login(
            &stranger,
            w.key.sign(&claims(&stranger, "19850709-9805", "bankid-99")),
        )
        .await,
        401,
    )
    .await;
    assert!(body.message.contains("invitation code"), "{}", body.message);

    // After withdrawing consent, logging in gives a read-only session.
    let out = w
        .app
        .call(
            Method::POST,
            "/v1/consent/withdraw",
            Some(&again.access_token),
            None,
        )
        .await;
    assert_eq!(out.status(), 204);
    let third = DeviceKeys::generate().unwrap();
    let read_only: TokenPair = expect(
        login(
            &third,
            w.key.sign(&claims(&third, PERSONNUMMER, "bankid-7")),
        )
        .await,
        201,
    )
    .await;
    let me: AccountInfo = expect(
        w.app
            .call(Method::GET, "/v1/me", Some(&read_only.access_token), None)
            .await,
        200,
    )
    .await;
    assert_eq!(me.consent, Some(ConsentState::Withdrawn));
    let body: ErrorBody = expect(
        w.app
            .call(
                Method::POST,
                "/v1/grants",
                Some(&read_only.access_token),
                Some(serde_json::json!({"grants": []})),
            )
            .await,
        403,
    )
    .await;
    assert_eq!(body.code, ErrorCode::ConsentWithdrawn);
    w.app.stop().await;
}
on_both_backends!(
    a_signed_up_citizen_logs_in_again_with_eid_on_a_new_phone,
    a_signed_up_citizen_logs_in_again_with_eid_on_a_new_phone
);
