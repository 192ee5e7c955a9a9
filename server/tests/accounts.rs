//! Organisation bootstrap, staff sessions, devices, invitations, citizen
//! sign-up and consent, through the HTTP API, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::Method;
use samtale_protocol::wire::{
    AccountInfo, AssuranceLevel, BootstrapResponse, CitizenInfo, ConsentState, ConsentText,
    DeviceInfo, ErrorCode, InvitationCreated, StaffInfo, TeamInfo, TokenPair,
};
use samtale_protocol::{
    CertificateBody, CertifiedTeam, DeviceCertificate, DeviceKeys, OrgRootKey, Roles, minimise,
    org_fingerprint,
};
use serde_json::{Value, json};
use support::{TestApp, TestDatabase, expect, expect_error};

const ADMIN_PASSWORD: &str = "correct horse battery staple";
const STAFF_PASSWORD: &str = "another long passphrase";

fn device_json(keys: &DeviceKeys) -> Value {
    serde_json::to_value(keys.public()).unwrap()
}

/// A bootstrapped organisation with one team and one staff member in it.
struct Org {
    org_id: samtale_protocol::OrgId,
    root: OrgRootKey,
    admin: TokenPair,
    team: TeamInfo,
    staff: TokenPair,
    staff_device: DeviceKeys,
}

async fn bootstrap(app: &TestApp) -> (OrgRootKey, BootstrapResponse) {
    let root = OrgRootKey::generate().unwrap();
    let response = app
        .call(
            Method::POST,
            "/v1/bootstrap",
            None,
            Some(json!({
                "enrolment_code": app.enrolment_code.as_deref().expect("a fresh server has an enrolment code"),
                "organisation_name": "Aarhus Kommune",
                "root_public_key": root.public(),
                "username": "admin",
                "display_name": "Anne Admin",
                "password": ADMIN_PASSWORD,
                "device": device_json(&DeviceKeys::generate().unwrap()),
                "device_label": "Admin laptop",
            })),
        )
        .await;
    let created: BootstrapResponse = expect(response, 201).await;
    assert_eq!(created.root_fingerprint, org_fingerprint(&root.public()));
    (root, created)
}

async fn login(
    app: &TestApp,
    username: &str,
    password: &str,
    device: &DeviceKeys,
) -> reqwest::Response {
    app.call(
        Method::POST,
        "/v1/sessions",
        None,
        Some(json!({
            "username": username,
            "password": password,
            "device": device_json(device),
            "device_label": "Desk",
        })),
    )
    .await
}

async fn setup(app: &TestApp) -> Org {
    let (root, boot) = bootstrap(app).await;
    let admin = boot.tokens.clone();
    let team: TeamInfo = expect(
        app.call(
            Method::POST,
            "/v1/teams",
            Some(&admin.access_token),
            Some(json!({"name": "Familieafdelingen"})),
        )
        .await,
        201,
    )
    .await;
    let staff: StaffInfo = expect(
        app.call(
            Method::POST,
            "/v1/staff",
            Some(&admin.access_token),
            Some(json!({
                "username": "caseworker",
                "display_name": "Carl Caseworker",
                "password": STAFF_PASSWORD,
                "roles": ["staff"],
            })),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(staff.teams, vec![]);
    support::world::join_team(
        app,
        &root,
        &admin.access_token,
        team.team_id,
        staff.account_id,
    )
    .await;
    let staff_device = DeviceKeys::generate().unwrap();
    let tokens: TokenPair = expect(
        login(app, "caseworker", STAFF_PASSWORD, &staff_device).await,
        201,
    )
    .await;
    assert_eq!(tokens.account_id, staff.account_id);
    Org {
        org_id: boot.org_id,
        root,
        admin,
        team,
        staff: tokens,
        staff_device,
    }
}

async fn invite(app: &TestApp, org: &Org, national_id: &str) -> InvitationCreated {
    expect(
        app.call(
            Method::POST,
            "/v1/invitations",
            Some(&org.staff.access_token),
            Some(json!({
                "team_id": org.team.team_id,
                "national_id": national_id,
                "display_name": "Maja Jensen",
            })),
        )
        .await,
        201,
    )
    .await
}

async fn consent(app: &TestApp) -> ConsentText {
    expect(app.call(Method::GET, "/v1/consent", None, None).await, 200).await
}

async fn signup(app: &TestApp, code: &str, device: &DeviceKeys) -> reqwest::Response {
    let consent = consent(app).await;
    app.call(
        Method::POST,
        "/v1/signup",
        None,
        Some(json!({
            "code": code,
            "device": device_json(device),
            "device_label": "Phone",
            "consent": {"version": consent.version, "text_sha256": consent.text_sha256},
        })),
    )
    .await
}

// ---------------------------------------------------------------- bootstrap

async fn the_enrolment_code_registers_one_organisation_once(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let (_, boot) = bootstrap(&app).await;
    let me: AccountInfo = expect(
        app.call(Method::GET, "/v1/me", Some(&boot.tokens.access_token), None)
            .await,
        200,
    )
    .await;
    assert_eq!(me.organisation_name, "Aarhus Kommune");
    assert_eq!(me.org_id, boot.org_id);
    assert_eq!(me.roles, vec![samtale_protocol::wire::Role::Admin]);

    // The code is spent: a second organisation cannot be registered with it.
    let again = app
        .call(
            Method::POST,
            "/v1/bootstrap",
            None,
            Some(json!({
                "enrolment_code": app.enrolment_code.as_deref().unwrap(),
                "organisation_name": "Other",
                "root_public_key": OrgRootKey::generate().unwrap().public(),
                "username": "admin2",
                "display_name": "Other Admin",
                "password": ADMIN_PASSWORD,
                "device": device_json(&DeviceKeys::generate().unwrap()),
                "device_label": "x",
            })),
        )
        .await;
    expect_error(again, 401, ErrorCode::AuthenticationFailed).await;
    app.stop().await;

    // After a restart with an organisation in place, no new code is made.
    let app = TestApp::spawn(db).await;
    assert!(app.enrolment_code.is_none());
    app.stop().await;
}
on_both_backends!(
    the_enrolment_code_registers_one_organisation_once,
    the_enrolment_code_registers_one_organisation_once
);

// ---------------------------------------------------------------- sessions

async fn staff_sessions_refresh_rotate_and_reuse_revokes_the_family(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let org = setup(&app).await;

    // Wrong password and unknown user: the same answer.
    let device = DeviceKeys::generate().unwrap();
    let wrong = expect_error(
        login(&app, "caseworker", "not the password!", &device).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    let unknown = expect_error(
        login(&app, "nobody", "not the password!", &device).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    assert_eq!(wrong.message, unknown.message);

    // Refresh rotates the token.
    let refresh = |token: String| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                "/v1/sessions/refresh",
                None,
                Some(json!({"refresh_token": token})),
            )
            .await
        }
    };
    let first = org.staff.refresh_token.clone();
    let second: TokenPair = expect(refresh(first.clone()).await, 200).await;
    assert_ne!(second.refresh_token, first);
    let me: AccountInfo = expect(
        app.call(Method::GET, "/v1/me", Some(&second.access_token), None)
            .await,
        200,
    )
    .await;
    assert_eq!(me.device_id, org.staff.device_id);

    // Presenting the spent token again ends the whole family: the newest
    // refresh token and every access token of it stop working.
    expect_error(refresh(first).await, 401, ErrorCode::AuthenticationFailed).await;
    expect_error(
        refresh(second.refresh_token.clone()).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    expect_error(
        app.call(Method::GET, "/v1/me", Some(&second.access_token), None)
            .await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    expect_error(
        refresh("srt_made_up".into()).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;

    // Logging in again from the same device works and reuses the device.
    let again: TokenPair = expect(
        login(&app, "caseworker", STAFF_PASSWORD, &org.staff_device).await,
        201,
    )
    .await;
    assert_eq!(again.device_id, org.staff.device_id);

    // Logout ends that session.
    let out = app
        .call(
            Method::DELETE,
            "/v1/sessions/current",
            Some(&again.access_token),
            None,
        )
        .await;
    assert_eq!(out.status(), 204);
    expect_error(
        app.call(Method::GET, "/v1/me", Some(&again.access_token), None)
            .await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    app.stop().await;
}
on_both_backends!(
    staff_sessions_refresh_rotate_and_reuse_revokes_the_family,
    staff_sessions_refresh_rotate_and_reuse_revokes_the_family
);

async fn access_tokens_are_refused_when_expired_tampered_revoked_or_disabled(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let org = setup(&app).await;
    let token = org.staff.access_token.clone();
    let me = |token: String| {
        let app = &app;
        async move { app.call(Method::GET, "/v1/me", Some(&token), None).await }
    };
    assert_eq!(me(token.clone()).await.status(), 200);

    // Missing and malformed.
    expect_error(
        app.call(Method::GET, "/v1/me", None, None).await,
        401,
        ErrorCode::NotAuthenticated,
    )
    .await;
    // Tampered: one character of the payload changed.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = &mut parts[1];
    let last = payload.pop().unwrap();
    payload.push(if last == 'A' { 'B' } else { 'A' });
    expect_error(
        me(parts.join(".")).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    // `alg: none`.
    let none = format!(
        "{}.{}.",
        base64_url(br#"{"alg":"none","typ":"JWT"}"#),
        token.split('.').nth(1).unwrap()
    );
    expect_error(me(none).await, 401, ErrorCode::AuthenticationFailed).await;
    // Signed with another key (right shape, wrong audience and key).
    let forged = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"iss": "x", "aud": "other", "sub": org.staff.account_id, "did": org.staff.device_id,
                "sid": "s", "knd": "staff", "iat": 0, "exp": 4_000_000_000i64}),
        &jsonwebtoken::EncodingKey::from_secret(&[7; 32]),
    )
    .unwrap();
    expect_error(me(forged).await, 401, ErrorCode::AuthenticationFailed).await;

    // Expired: 16 minutes later.
    app.clock.advance(16 * 60);
    expect_error(me(token.clone()).await, 401, ErrorCode::TokenExpired).await;
    let fresh: TokenPair = expect(
        app.call(
            Method::POST,
            "/v1/sessions/refresh",
            None,
            Some(json!({"refresh_token": org.staff.refresh_token})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(me(fresh.access_token.clone()).await.status(), 200);

    // A device revoked from another device stops at once.
    let laptop = DeviceKeys::generate().unwrap();
    let on_laptop: TokenPair = expect(
        login(&app, "caseworker", STAFF_PASSWORD, &laptop).await,
        201,
    )
    .await;
    let devices: Vec<DeviceInfo> = expect(
        app.call(
            Method::GET,
            "/v1/devices",
            Some(&on_laptop.access_token),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(devices.len(), 2);
    let revoke = app
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", org.staff.device_id),
            Some(&on_laptop.access_token),
            None,
        )
        .await;
    assert_eq!(revoke.status(), 204);
    expect_error(
        me(fresh.access_token.clone()).await,
        401,
        ErrorCode::DeviceRevoked,
    )
    .await;
    expect_error(
        login(&app, "caseworker", STAFF_PASSWORD, &org.staff_device).await,
        401,
        ErrorCode::DeviceRevoked,
    )
    .await;
    // Someone else's device is not found, not forbidden.
    expect_error(
        app.call(
            Method::DELETE,
            &format!("/v1/devices/{}", org.admin.device_id),
            Some(&on_laptop.access_token),
            None,
        )
        .await,
        404,
        ErrorCode::NotFound,
    )
    .await;

    // A disabled staff member is out at once, and cannot log in. (The
    // admin's access token expired with the clock move: refresh it.)
    let admin: TokenPair = expect(
        app.call(
            Method::POST,
            "/v1/sessions/refresh",
            None,
            Some(json!({"refresh_token": org.admin.refresh_token})),
        )
        .await,
        200,
    )
    .await;
    let staff: Vec<StaffInfo> = expect(
        app.call(Method::GET, "/v1/staff", Some(&admin.access_token), None)
            .await,
        200,
    )
    .await;
    let carl = staff.iter().find(|s| s.username == "caseworker").unwrap();
    let disable = app
        .call(
            Method::POST,
            &format!("/v1/staff/{}/disable", carl.account_id),
            Some(&admin.access_token),
            None,
        )
        .await;
    assert_eq!(disable.status(), 204);
    expect_error(
        me(on_laptop.access_token.clone()).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    let body = expect_error(
        login(&app, "caseworker", STAFF_PASSWORD, &laptop).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    assert!(body.message.contains("disabled"), "{}", body.message);
    app.stop().await;
}
on_both_backends!(
    access_tokens_are_refused_when_expired_tampered_revoked_or_disabled,
    access_tokens_are_refused_when_expired_tampered_revoked_or_disabled
);

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn staff_device_certificates_are_checked_against_the_organisation_root(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let org = setup(&app).await;
    let body = |root: &OrgRootKey| {
        let cert = DeviceCertificate::issue(
            root,
            CertificateBody {
                org_id: org.org_id,
                org_name: "Aarhus Kommune".into(),
                device: org.staff_device.public(),
                staff_id: org.staff.account_id,
                staff_name: "Carl Caseworker".into(),
                roles: Roles::STAFF,
                teams: vec![CertifiedTeam {
                    id: org.team.team_id,
                    name: org.team.name.clone(),
                }],
                not_before: 0,
                not_after: 4_000_000_000,
            },
        )
        .unwrap();
        json!({"certificate": base64_url(cert.as_bytes())})
    };
    let path = format!("/v1/devices/{}/certificate", org.staff.device_id);
    let forged = app
        .call(
            Method::PUT,
            &path,
            Some(&org.admin.access_token),
            Some(body(&OrgRootKey::generate().unwrap())),
        )
        .await;
    expect_error(forged, 422, ErrorCode::ValidationFailed).await;
    let good = app
        .call(
            Method::PUT,
            &path,
            Some(&org.admin.access_token),
            Some(body(&org.root)),
        )
        .await;
    assert_eq!(good.status(), 204);
    app.stop().await;
}
on_both_backends!(
    staff_device_certificates_are_checked_against_the_organisation_root,
    staff_device_certificates_are_checked_against_the_organisation_root
);

// ---------------------------------------------------------------- invitations

async fn a_citizen_signs_up_with_an_invitation_code_once(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let org = setup(&app).await;
    let invitation = invite(&app, &org, "010203-1234").await;

    // The letter is neutral: organisation, code, fingerprint; nothing the
    // minimisation rules flag, and not the citizen's name or number.
    assert!(invitation.letter.contains("Aarhus Kommune"));
    assert!(invitation.letter.contains(&invitation.code));
    assert!(
        invitation
            .letter
            .contains(&org_fingerprint(&org.root.public()))
    );
    assert!(!invitation.letter.contains("Maja"));
    assert!(minimise::scan(&invitation.letter).is_empty());
    assert_eq!(invitation.code.len(), 24);

    // Typed in lower case with spaces, it still works.
    let typed = invitation.code.to_lowercase().replace('-', " ");
    let phone = DeviceKeys::generate().unwrap();
    let tokens: TokenPair = expect(signup(&app, &typed, &phone).await, 201).await;
    let me: AccountInfo = expect(
        app.call(Method::GET, "/v1/me", Some(&tokens.access_token), None)
            .await,
        200,
    )
    .await;
    assert_eq!(me.kind, samtale_protocol::wire::AccountKind::Citizen);
    assert_eq!(me.assurance, Some(AssuranceLevel::Unverified));
    assert_eq!(me.consent, Some(ConsentState::Given));
    assert_eq!(me.teams, vec![org.team.team_id]);

    // Staff see the citizen, marked unverified.
    let citizens: Vec<CitizenInfo> = expect(
        app.call(
            Method::GET,
            &format!("/v1/teams/{}/citizens", org.team.team_id),
            Some(&org.staff.access_token),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(citizens.len(), 1);
    assert_eq!(citizens[0].display_name, "Maja Jensen");
    assert_eq!(citizens[0].assurance, AssuranceLevel::Unverified);
    assert!(
        citizens[0]
            .notice
            .as_deref()
            .unwrap()
            .contains("general answers only")
    );

    // Single use.
    let again = signup(&app, &invitation.code, &DeviceKeys::generate().unwrap()).await;
    expect_error(again, 401, ErrorCode::AuthenticationFailed).await;

    // Nothing stored holds the national id number.
    assert_no_national_id_stored(&app, db, "0102031234").await;
    app.stop().await;
}
on_both_backends!(
    a_citizen_signs_up_with_an_invitation_code_once,
    a_citizen_signs_up_with_an_invitation_code_once
);

/// Dumps every text and blob column of every table and looks for the number.
async fn assert_no_national_id_stored(app: &TestApp, db: &TestDatabase, digits: &str) {
    let _ = app;
    let with_dash = format!("{}-{}", &digits[..6], &digits[6..]);
    match &db.settings {
        samtale_server::config::DatabaseSettings::Sqlite { path } => {
            // The WAL holds recent writes: read the file and its log raw.
            for file in [path.clone(), path.with_extension("db-wal")] {
                if let Ok(bytes) = std::fs::read(&file) {
                    let text = String::from_utf8_lossy(&bytes);
                    assert!(
                        !text.contains(digits) && !text.contains(&with_dash),
                        "{}",
                        file.display()
                    );
                }
            }
        }
        samtale_server::config::DatabaseSettings::Postgres { url } => {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url.expose()).await.unwrap();
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
            )
            .fetch_all(&mut conn)
            .await
            .unwrap();
            for table in tables {
                let dump: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT string_agg(t::text, '|') FROM \"{table}\" t"
                )))
                .fetch_one(&mut conn)
                .await
                .unwrap();
                let dump = dump.unwrap_or_default();
                assert!(
                    !dump.contains(digits) && !dump.contains(&with_dash),
                    "{table}"
                );
            }
        }
    }
}

async fn invitation_codes_expire_and_lock_after_five_failures(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let org = setup(&app).await;

    // Wrong secret under a real handle, and an unknown handle: the same
    // status, code and message.
    let invitation = invite(&app, &org, "010203-1234").await;
    let handle = &invitation.code[..9]; // "XXXX-XXXX"
    let wrong_secret = format!("{handle}-0000-0000-0000");
    let wrong_secret = if wrong_secret == invitation.code {
        format!("{handle}-1111-1111-1111")
    } else {
        wrong_secret
    };
    let device = DeviceKeys::generate().unwrap();
    let wrong = expect_error(
        signup(&app, &wrong_secret, &device).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    let unknown_handle = if handle == "ZZZZ-ZZZZ" {
        "YYYY-YYYY"
    } else {
        "ZZZZ-ZZZZ"
    };
    let unknown = expect_error(
        signup(&app, &format!("{unknown_handle}-0000-0000-0000"), &device).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    let malformed = expect_error(
        signup(&app, "hello", &device).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    assert_eq!(wrong.message, unknown.message);
    assert_eq!(wrong.message, malformed.message);

    // Four more failures lock it: the right code no longer works.
    for _ in 0..4 {
        expect_error(
            signup(&app, &wrong_secret, &device).await,
            401,
            ErrorCode::AuthenticationFailed,
        )
        .await;
    }
    let locked = expect_error(
        signup(&app, &invitation.code, &device).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    assert_eq!(locked.message, wrong.message);

    // Expiry: 14 days by default.
    let invitation = invite(&app, &org, "811218-9876").await;
    app.clock.advance(14 * 86_400 + 1);
    expect_error(
        signup(&app, &invitation.code, &device).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    app.stop().await;
}
on_both_backends!(
    invitation_codes_expire_and_lock_after_five_failures,
    invitation_codes_expire_and_lock_after_five_failures
);

async fn staff_only_reach_their_own_teams_and_citizens_no_staff_endpoints(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let org = setup(&app).await;

    // A second team the caseworker is not in.
    let other: TeamInfo = expect(
        app.call(
            Method::POST,
            "/v1/teams",
            Some(&org.admin.access_token),
            Some(json!({"name": "Jobcenter"})),
        )
        .await,
        201,
    )
    .await;
    let invite_other = app
        .call(
            Method::POST,
            "/v1/invitations",
            Some(&org.staff.access_token),
            Some(json!({"team_id": other.team_id, "national_id": "010203-1234", "display_name": "X"})),
        )
        .await;
    expect_error(invite_other, 404, ErrorCode::NotFound).await;
    expect_error(
        app.call(
            Method::GET,
            &format!("/v1/teams/{}/citizens", other.team_id),
            Some(&org.staff.access_token),
            None,
        )
        .await,
        404,
        ErrorCode::NotFound,
    )
    .await;
    let teams: Vec<TeamInfo> = expect(
        app.call(
            Method::GET,
            "/v1/teams",
            Some(&org.staff.access_token),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(teams.len(), 1);
    assert_eq!(teams[0].team_id, org.team.team_id);

    // Not a national id: a clear validation error.
    let bad = app
        .call(
            Method::POST,
            "/v1/invitations",
            Some(&org.staff.access_token),
            Some(json!({"team_id": org.team.team_id, "national_id": "12345", "display_name": "X"})),
        )
        .await;
    expect_error(bad, 422, ErrorCode::ValidationFailed).await;

    // A citizen cannot call staff or admin endpoints.
    let invitation = invite(&app, &org, "010203-1234").await;
    let citizen: TokenPair = expect(
        signup(&app, &invitation.code, &DeviceKeys::generate().unwrap()).await,
        201,
    )
    .await;
    let t = Some(citizen.access_token.as_str());
    for (method, path, body) in [
        (
            Method::POST,
            "/v1/teams".to_owned(),
            Some(json!({"name": "Mine"})),
        ),
        (Method::GET, "/v1/staff".to_owned(), None),
        (Method::GET, "/v1/teams".to_owned(), None),
        (
            Method::GET,
            format!("/v1/teams/{}/citizens", org.team.team_id),
            None,
        ),
        (
            Method::POST,
            "/v1/invitations".to_owned(),
            Some(
                json!({"team_id": org.team.team_id, "national_id": "010203-1234", "display_name": "X"}),
            ),
        ),
    ] {
        let response = app.call(method, &path, t, body).await;
        expect_error(response, 403, ErrorCode::Forbidden).await;
    }
    // Staff cannot call admin endpoints either.
    expect_error(
        app.call(
            Method::GET,
            "/v1/staff",
            Some(&org.staff.access_token),
            None,
        )
        .await,
        403,
        ErrorCode::Forbidden,
    )
    .await;
    app.stop().await;
}
on_both_backends!(
    staff_only_reach_their_own_teams_and_citizens_no_staff_endpoints,
    staff_only_reach_their_own_teams_and_citizens_no_staff_endpoints
);

async fn withdrawing_consent_makes_the_citizen_read_only_and_staff_are_told(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let org = setup(&app).await;
    let invitation = invite(&app, &org, "010203-1234").await;
    let phone = DeviceKeys::generate().unwrap();
    let citizen: TokenPair = expect(signup(&app, &invitation.code, &phone).await, 201).await;

    // Staff cannot withdraw for anyone; the citizen can.
    expect_error(
        app.call(
            Method::POST,
            "/v1/consent/withdraw",
            Some(&org.staff.access_token),
            None,
        )
        .await,
        403,
        ErrorCode::Forbidden,
    )
    .await;
    // A write reaches its handler while consent is given (an empty grant
    // upload is refused there, as invalid)...
    let write = async || {
        app.call(
            Method::POST,
            "/v1/grants",
            Some(&citizen.access_token),
            Some(json!({"grants": []})),
        )
        .await
    };
    expect_error(write().await, 422, ErrorCode::ValidationFailed).await;
    let withdraw = app
        .call(
            Method::POST,
            "/v1/consent/withdraw",
            Some(&citizen.access_token),
            None,
        )
        .await;
    assert_eq!(withdraw.status(), 204);
    // ...and not after: the session is read-only. Reading, the access
    // export and refreshing the session still work (the right of access
    // outlives the consent).
    expect_error(write().await, 403, ErrorCode::ConsentWithdrawn).await;
    let me: AccountInfo = expect(
        app.call(Method::GET, "/v1/me", Some(&citizen.access_token), None)
            .await,
        200,
    )
    .await;
    assert_eq!(me.consent, Some(ConsentState::Withdrawn));
    let export = app
        .call(
            Method::GET,
            "/v1/me/export",
            Some(&citizen.access_token),
            None,
        )
        .await;
    assert_eq!(export.status(), 200);
    let refreshed: TokenPair = expect(
        app.call(
            Method::POST,
            "/v1/sessions/refresh",
            None,
            Some(json!({"refresh_token": citizen.refresh_token})),
        )
        .await,
        200,
    )
    .await;
    expect_error(
        app.call(
            Method::POST,
            "/v1/grants",
            Some(&refreshed.access_token),
            Some(json!({"grants": []})),
        )
        .await,
        403,
        ErrorCode::ConsentWithdrawn,
    )
    .await;
    let citizens: Vec<CitizenInfo> = expect(
        app.call(
            Method::GET,
            &format!("/v1/teams/{}/citizens", org.team.team_id),
            Some(&org.staff.access_token),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(citizens[0].consent, ConsentState::Withdrawn);
    assert_eq!(
        citizens[0].notice.as_deref(),
        Some("consent withdrawn — use letter or digital post")
    );

    // A new invitation for the same person reaches the same account, and
    // consenting again restores it.
    let again = invite(&app, &org, "0102031234").await;
    let back: TokenPair = expect(
        signup(&app, &again.code, &DeviceKeys::generate().unwrap()).await,
        201,
    )
    .await;
    assert_eq!(back.account_id, citizen.account_id);
    let me: AccountInfo = expect(
        app.call(Method::GET, "/v1/me", Some(&back.access_token), None)
            .await,
        200,
    )
    .await;
    assert_eq!(me.consent, Some(ConsentState::Given));
    app.stop().await;
}
on_both_backends!(
    withdrawing_consent_makes_the_citizen_read_only_and_staff_are_told,
    withdrawing_consent_makes_the_citizen_read_only_and_staff_are_told
);

async fn bad_bodies_get_uniform_json_errors(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let unknown_field = app
        .call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({"username": "a", "password": "b", "extra": 1})),
        )
        .await;
    expect_error(unknown_field, 422, ErrorCode::ValidationFailed).await;
    let not_json = app
        .client
        .post(format!("{}/v1/sessions", app.address))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    expect_error(not_json, 400, ErrorCode::BadRequest).await;
    let no_type = app
        .client
        .post(format!("{}/v1/sessions", app.address))
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(no_type, 400, ErrorCode::BadRequest).await;
    let huge = app
        .client
        .post(format!("{}/v1/sessions", app.address))
        .header("content-type", "application/json")
        .body(vec![b' '; 300 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    app.stop().await;
}
on_both_backends!(
    bad_bodies_get_uniform_json_errors,
    bad_bodies_get_uniform_json_errors
);

async fn guessing_is_rate_limited_per_account_and_per_address(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let org = setup(&app).await;
    let device = DeviceKeys::generate().unwrap();
    for _ in 0..5 {
        expect_error(
            login(&app, "caseworker", "a wrong password!", &device).await,
            401,
            ErrorCode::AuthenticationFailed,
        )
        .await;
    }
    // The sixth try is refused before the password is even checked.
    let limited = login(&app, "caseworker", STAFF_PASSWORD, &device).await;
    let retry: i64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    expect_error(limited, 429, ErrorCode::RateLimited).await;
    // Another account from the same address is still allowed (5 < 20).
    let _: TokenPair = expect(
        login(
            &app,
            "admin",
            ADMIN_PASSWORD,
            &DeviceKeys::generate().unwrap(),
        )
        .await,
        201,
    )
    .await;
    // The owner's own device is not locked out by guesses from others: it
    // has an allowance of its own.
    let _: TokenPair = expect(
        login(&app, "caseworker", STAFF_PASSWORD, &org.staff_device).await,
        201,
    )
    .await;
    // After the window, a new device with the right password works again.
    app.clock.advance(900);
    let _: TokenPair = expect(
        login(&app, "caseworker", STAFF_PASSWORD, &device).await,
        201,
    )
    .await;

    // Sign-up attempts: 10 per address per 15 minutes, right or wrong.
    for _ in 0..10 {
        expect_error(
            signup(&app, "AAAA-AAAA-AAAA-AAAA-AAAA", &device).await,
            401,
            ErrorCode::AuthenticationFailed,
        )
        .await;
    }
    let staff: TokenPair = expect(
        login(&app, "caseworker", STAFF_PASSWORD, &org.staff_device).await,
        201,
    )
    .await;
    let org = Org { staff, ..org };
    let invitation = invite(&app, &org, "010203-1234").await;
    let limited = signup(&app, &invitation.code, &DeviceKeys::generate().unwrap()).await;
    assert!(limited.headers().contains_key("retry-after"));
    expect_error(limited, 429, ErrorCode::RateLimited).await;

    // Previewing a working code (a citizen checking the letter before
    // signing up) gives its attempt back; a refused code counts.
    app.clock.advance(900);
    let preview = async |code: &str| {
        app.call(
            Method::POST,
            "/v1/invitations/preview",
            None,
            Some(json!({ "code": code })),
        )
        .await
        .status()
        .as_u16()
    };
    for _ in 0..15 {
        assert_eq!(preview(&invitation.code).await, 200);
    }
    for _ in 0..10 {
        assert_eq!(preview("AAAA-AAAA-AAAA-AAAA-AAAA").await, 401);
    }
    assert_eq!(preview(&invitation.code).await, 429);
    app.stop().await;
}
on_both_backends!(
    guessing_is_rate_limited_per_account_and_per_address,
    guessing_is_rate_limited_per_account_and_per_address
);

// ---------------------------------------------------------------- organisations

async fn an_organisation_sees_nothing_of_another_on_the_same_server(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let a = setup(&app).await;

    // A second organisation, registered with an operator-issued code.
    let code = samtale_server::startup::issue_enrolment_code(&app.storage, app.clock.now())
        .await
        .unwrap();
    let b_root = OrgRootKey::generate().unwrap();
    let b: BootstrapResponse = expect(
        app.call(
            Method::POST,
            "/v1/bootstrap",
            None,
            Some(json!({
                "enrolment_code": code,
                "organisation_name": "Odense Kommune",
                "root_public_key": b_root.public(),
                "username": "odense-admin",
                "display_name": "Otto",
                "password": ADMIN_PASSWORD,
                "device": device_json(&DeviceKeys::generate().unwrap()),
                "device_label": "Otto's laptop",
            })),
        )
        .await,
        201,
    )
    .await;
    assert_ne!(b.org_id, a.org_id);
    let b_admin = b.tokens.access_token.clone();
    let b_team: TeamInfo = expect(
        app.call(
            Method::POST,
            "/v1/teams",
            Some(&b_admin),
            Some(json!({"name": "Familieafdelingen"})),
        )
        .await,
        201,
    )
    .await;
    let b_staff: StaffInfo = expect(
        app.call(
            Method::POST,
            "/v1/staff",
            Some(&b_admin),
            Some(json!({"username": "odense-worker", "display_name": "Olga", "password": STAFF_PASSWORD,
                        "roles": ["staff"]})),
        )
        .await,
        201,
    )
    .await;

    // A's admin lists only A's teams and staff.
    let teams: Vec<TeamInfo> = expect(
        app.call(Method::GET, "/v1/teams", Some(&a.admin.access_token), None)
            .await,
        200,
    )
    .await;
    assert_eq!(
        teams.iter().map(|t| t.team_id).collect::<Vec<_>>(),
        vec![a.team.team_id]
    );
    let staff: Vec<StaffInfo> = expect(
        app.call(Method::GET, "/v1/staff", Some(&a.admin.access_token), None)
            .await,
        200,
    )
    .await;
    assert!(
        staff
            .iter()
            .all(|s| s.account_id != b_staff.account_id && s.username != "odense-admin")
    );

    // B's objects do not exist for A: 404, never 403.
    let a_admin = Some(a.admin.access_token.as_str());
    for (method, path, body) in [
        (
            Method::POST,
            format!("/v1/teams/{}/member-log", b_team.team_id),
            Some(json!({"record": "AAAA"})),
        ),
        (
            Method::GET,
            format!("/v1/teams/{}/member-log", b_team.team_id),
            None,
        ),
        (
            Method::GET,
            format!("/v1/accounts/{}/device-log", b_staff.account_id),
            None,
        ),
        (
            Method::POST,
            format!("/v1/accounts/{}/device-log", b_staff.account_id),
            Some(json!({"record": "AAAA"})),
        ),
        (
            Method::POST,
            format!("/v1/staff/{}/disable", b_staff.account_id),
            None,
        ),
        (
            Method::PUT,
            format!("/v1/devices/{}/certificate", b.tokens.device_id),
            Some(json!({"certificate": "AAAA"})),
        ),
        (
            Method::POST,
            format!("/v1/teams/{}/members", a.team.team_id),
            Some(json!({"account_id": b_staff.account_id})),
        ),
    ] {
        expect_error(
            app.call(method, &path, a_admin, body).await,
            404,
            ErrorCode::NotFound,
        )
        .await;
    }
    // A's staff cannot invite into or list B's team; A's team does not
    // accept B's staff either.
    expect_error(
        app.call(
            Method::POST,
            "/v1/invitations",
            Some(&a.staff.access_token),
            Some(json!({"team_id": b_team.team_id, "national_id": "010203-1234", "display_name": "X"})),
        )
        .await,
        404,
        ErrorCode::NotFound,
    )
    .await;
    expect_error(
        app.call(
            Method::GET,
            &format!("/v1/teams/{}/citizens", b_team.team_id),
            Some(&a.staff.access_token),
            None,
        )
        .await,
        404,
        ErrorCode::NotFound,
    )
    .await;
    app.stop().await;
}
on_both_backends!(
    an_organisation_sees_nothing_of_another_on_the_same_server,
    an_organisation_sees_nothing_of_another_on_the_same_server
);

async fn a_token_signed_with_the_server_key_but_for_another_audience_or_issuer_is_refused(
    db: &TestDatabase,
) {
    // With the token key configured, the test can sign exactly what the
    // server signs, and change one claim at a time.
    let key = [9u8; 32];
    let mut settings = db.app_settings();
    settings.identity.token_key = Some(samtale_server::config::SecretText(base64_std(&key)));
    let app = TestApp::spawn_with(&settings).await;
    let org = setup(&app).await;
    let issuer = settings.identity.public_url.clone();
    let now = app.clock.now();
    let sign = |claims: Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&key),
        )
        .unwrap()
    };
    let me = |token: String| {
        let app = &app;
        async move { app.call(Method::GET, "/v1/me", Some(&token), None).await }
    };
    let claims = |aud: &str, iss: &str| {
        json!({"iss": iss, "aud": aud, "sub": org.staff.account_id.to_string(),
               "did": org.staff.device_id.to_string(), "sid": session_of(&org.staff.access_token),
               "knd": "staff", "iat": now, "exp": now + 300})
    };
    // The control: right audience and issuer is accepted.
    assert_eq!(me(sign(claims("samtale-api", &issuer))).await.status(), 200);
    expect_error(
        me(sign(claims("another-api", &issuer))).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    expect_error(
        me(sign(claims("samtale-api", "https://elsewhere.test"))).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    // HS512 under the same key: the algorithm is pinned.
    let hs512 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS512),
        &claims("samtale-api", &issuer),
        &jsonwebtoken::EncodingKey::from_secret(&key),
    )
    .unwrap();
    expect_error(me(hs512).await, 401, ErrorCode::AuthenticationFailed).await;
    app.stop().await;
}
on_both_backends!(
    a_token_signed_with_the_server_key_but_for_another_audience_or_issuer_is_refused,
    a_token_signed_with_the_server_key_but_for_another_audience_or_issuer_is_refused
);

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The `sid` claim of an access token (read without verifying).
fn session_of(token: &str) -> String {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

/// Account security an operator needs (issue 13): a staff member changes
/// their own password; an admin resets a forgotten one to a temporary
/// password that only serves to choose a new one, re-enables a disabled
/// account, and revokes a staff device.
async fn passwords_are_changed_reset_to_a_temporary_one_and_accounts_re_enabled(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let org = setup(&app).await;
    let admin = org.admin.access_token.clone();
    let staff = org.staff.access_token.clone();
    let account = org.staff.account_id;
    let change = |token: String, current: &'static str, new: &'static str| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                "/v1/me/password",
                Some(&token),
                Some(json!({"current_password": current, "new_password": new})),
            )
            .await
        }
    };

    // Changing one's own password: the current one is checked, the new one
    // must pass the rule and differ.
    expect_error(
        change(staff.clone(), "not the password", "a brand new passphrase").await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    expect_error(
        change(staff.clone(), STAFF_PASSWORD, "short").await,
        422,
        ErrorCode::ValidationFailed,
    )
    .await;
    expect_error(
        change(staff.clone(), STAFF_PASSWORD, STAFF_PASSWORD).await,
        422,
        ErrorCode::ValidationFailed,
    )
    .await;
    // A second session of the same account, on another device.
    let laptop = DeviceKeys::generate().unwrap();
    let other: TokenPair = expect(
        login(&app, "caseworker", STAFF_PASSWORD, &laptop).await,
        201,
    )
    .await;
    assert_eq!(
        change(staff.clone(), STAFF_PASSWORD, "a brand new passphrase")
            .await
            .status(),
        204
    );
    // The session that changed it goes on; the other one has ended.
    assert_eq!(
        app.call(Method::GET, "/v1/me", Some(&staff), None)
            .await
            .status(),
        200
    );
    expect_error(
        app.call(Method::GET, "/v1/me", Some(&other.access_token), None)
            .await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    expect_error(
        login(&app, "caseworker", STAFF_PASSWORD, &org.staff_device).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    let _: TokenPair = expect(
        login(
            &app,
            "caseworker",
            "a brand new passphrase",
            &org.staff_device,
        )
        .await,
        201,
    )
    .await;
    // Citizens have no password to change; a normal login may not carry one.
    let refused = app
        .call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({
                "username": "caseworker",
                "password": "a brand new passphrase",
                "new_password": "yet another passphrase",
                "device": device_json(&org.staff_device),
                "device_label": "Desk",
            })),
        )
        .await;
    expect_error(refused, 422, ErrorCode::ValidationFailed).await;

    // An admin resets it: the staff member's sessions end at once, and
    // the temporary password opens no session by itself.
    let staff_again: TokenPair = expect(
        login(
            &app,
            "caseworker",
            "a brand new passphrase",
            &org.staff_device,
        )
        .await,
        201,
    )
    .await;
    expect_error(
        app.call(
            Method::POST,
            &format!("/v1/staff/{account}/password"),
            Some(&staff_again.access_token),
            None,
        )
        .await,
        403,
        ErrorCode::Forbidden,
    )
    .await;
    let temporary: samtale_protocol::wire::TemporaryPassword = expect(
        app.call(
            Method::POST,
            &format!("/v1/staff/{account}/password"),
            Some(&admin),
            None,
        )
        .await,
        201,
    )
    .await;
    let temp = temporary.temporary_password.clone();
    assert!(temp.len() >= 12, "{temp}");
    expect_error(
        app.call(Method::GET, "/v1/me", Some(&staff_again.access_token), None)
            .await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    let listed: Vec<StaffInfo> = expect(
        app.call(Method::GET, "/v1/staff", Some(&admin), None).await,
        200,
    )
    .await;
    assert!(
        listed
            .iter()
            .any(|s| s.account_id == account && s.must_change_password)
    );
    expect_error(
        login(
            &app,
            "caseworker",
            "a brand new passphrase",
            &org.staff_device,
        )
        .await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    let body = expect_error(
        login(&app, "caseworker", &temp, &org.staff_device).await,
        403,
        ErrorCode::PasswordChangeRequired,
    )
    .await;
    assert!(body.message.contains("new password"), "{}", body.message);
    let with_new = |new: &str| {
        json!({
            "username": "caseworker",
            "password": temp,
            "new_password": new,
            "device": device_json(&org.staff_device),
            "device_label": "Desk",
        })
    };
    // The new one must pass the rule and not be the temporary one.
    expect_error(
        app.call(Method::POST, "/v1/sessions", None, Some(with_new(&temp)))
            .await,
        422,
        ErrorCode::ValidationFailed,
    )
    .await;
    let _: TokenPair = expect(
        app.call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(with_new("my very own passphrase")),
        )
        .await,
        201,
    )
    .await;
    // The temporary password is spent; the chosen one works.
    expect_error(
        login(&app, "caseworker", &temp, &org.staff_device).await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    let _: TokenPair = expect(
        login(
            &app,
            "caseworker",
            "my very own passphrase",
            &org.staff_device,
        )
        .await,
        201,
    )
    .await;

    // A temporary password expires after three days.
    let temporary: samtale_protocol::wire::TemporaryPassword = expect(
        app.call(
            Method::POST,
            &format!("/v1/staff/{account}/password"),
            Some(&admin),
            None,
        )
        .await,
        201,
    )
    .await;
    app.clock.advance(3 * 86_400 + 1);
    let admin = expect::<TokenPair>(
        login(
            &app,
            "admin",
            ADMIN_PASSWORD,
            &DeviceKeys::generate().unwrap(),
        )
        .await,
        201,
    )
    .await
    .access_token;
    let body = expect_error(
        app.call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({
                "username": "caseworker",
                "password": temporary.temporary_password,
                "new_password": "my very own passphrase 2",
                "device": device_json(&org.staff_device),
                "device_label": "Desk",
            })),
        )
        .await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    assert!(body.message.contains("expired"), "{}", body.message);

    // Disabled, then enabled again: the account logs in once more.
    let reset: samtale_protocol::wire::TemporaryPassword = expect(
        app.call(
            Method::POST,
            &format!("/v1/staff/{account}/password"),
            Some(&admin),
            None,
        )
        .await,
        201,
    )
    .await;
    let disable = app
        .call(
            Method::POST,
            &format!("/v1/staff/{account}/disable"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(disable.status(), 204);
    let body = expect_error(
        app.call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({
                "username": "caseworker",
                "password": reset.temporary_password,
                "new_password": "after the disabling",
                "device": device_json(&org.staff_device),
                "device_label": "Desk",
            })),
        )
        .await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    assert!(body.message.contains("disabled"), "{}", body.message);
    let enable = app
        .call(
            Method::POST,
            &format!("/v1/staff/{account}/enable"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(enable.status(), 204);
    let back: TokenPair = expect(
        app.call(
            Method::POST,
            "/v1/sessions",
            None,
            Some(json!({
                "username": "caseworker",
                "password": reset.temporary_password,
                "new_password": "after the disabling",
                "device": device_json(&org.staff_device),
                "device_label": "Desk",
            })),
        )
        .await,
        201,
    )
    .await;

    // An admin revokes a staff device the signed list does not name (a
    // login that was not theirs): its token stops working at once. Only
    // admins may, and only devices of their organisation's staff.
    let stranger = DeviceKeys::generate().unwrap();
    let stolen: TokenPair = expect(
        login(&app, "caseworker", "after the disabling", &stranger).await,
        201,
    )
    .await;
    let path = format!("/v1/staff/{account}/devices/{}", stolen.device_id);
    expect_error(
        app.call(Method::DELETE, &path, Some(&back.access_token), None)
            .await,
        403,
        ErrorCode::Forbidden,
    )
    .await;
    expect_error(
        app.call(
            Method::DELETE,
            &format!("/v1/staff/{account}/devices/{}", org.admin.device_id),
            Some(&admin),
            None,
        )
        .await,
        404,
        ErrorCode::NotFound,
    )
    .await;
    assert_eq!(
        app.call(Method::DELETE, &path, Some(&admin), None)
            .await
            .status(),
        204
    );
    expect_error(
        app.call(Method::GET, "/v1/me", Some(&stolen.access_token), None)
            .await,
        401,
        ErrorCode::DeviceRevoked,
    )
    .await;
    // The rightful device is untouched.
    assert_eq!(
        app.call(Method::GET, "/v1/me", Some(&back.access_token), None)
            .await
            .status(),
        200
    );

    // Every step is in the audit trail, without a password.
    let actions = app.audit_actions().await;
    for action in [
        "password.change",
        "password.reset",
        "account.enable",
        "device.revoke",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
    app.stop().await;
}
on_both_backends!(
    passwords_are_changed_reset_to_a_temporary_one_and_accounts_re_enabled,
    passwords_are_changed_reset_to_a_temporary_one_and_accounts_re_enabled
);

on_both_backends!(
    a_browser_keeps_its_refresh_token_in_an_http_only_cookie_scoped_to_the_refresh_endpoint,
    refresh_cookie
);
async fn refresh_cookie(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let world = support::world::World::build(&app).await;
    let url = format!("{}/v1/sessions/refresh", app.address);
    let refresh = |body: Value, cookie: Option<String>, header: bool| {
        let mut r = app.client.post(&url).json(&body);
        if header {
            r = r.header("X-Samtale-Refresh-Cookie", "1");
        }
        if let Some(c) = cookie {
            r = r.header("Cookie", c);
        }
        r.send()
    };
    // The page moves the token from its login answer into the cookie.
    let first = refresh(
        json!({"refresh_token": world.staff.tokens.refresh_token}),
        None,
        true,
    )
    .await
    .unwrap();
    assert_eq!(first.status(), 200);
    let set = first.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/v1/sessions/refresh",
    ] {
        assert!(set.contains(attribute), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();
    assert!(cookie.starts_with("samtale_refresh=") && cookie.len() > 30);
    let pair: TokenPair = first.json().await.unwrap();
    assert_eq!(pair.refresh_token, "", "the token is in the cookie only");
    assert!(!pair.access_token.is_empty());

    // The cookie alone refreshes (with the header), and rotates.
    let second = refresh(json!({}), Some(cookie.clone()), true)
        .await
        .unwrap();
    assert_eq!(second.status(), 200);
    let next = second.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert_ne!(next.split(';').next().unwrap(), cookie);
    // Without the header the cookie is not read (another site's form could
    // send the cookie, never the header).
    let no_header = refresh(
        json!({}),
        Some(next.split(';').next().unwrap().to_owned()),
        false,
    )
    .await
    .unwrap();
    assert_eq!(no_header.status(), 401);
    // The spent cookie presented again ends the login, like a spent token.
    let reused = refresh(json!({}), Some(cookie), true).await.unwrap();
    assert_eq!(reused.status(), 401);
    let after = refresh(
        json!({}),
        Some(next.split(';').next().unwrap().to_owned()),
        true,
    )
    .await
    .unwrap();
    assert_eq!(after.status(), 401, "reuse ended the whole login");

    // Logging out clears the cookie.
    let out = app
        .client
        .delete(format!("{}/v1/sessions/current", app.address))
        .bearer_auth(world.clerk.token())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let cleared = out.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("samtale_refresh=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    app.stop().await;
}
