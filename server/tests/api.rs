//! The HTTP surface of a freshly started server, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use samtale_protocol::wire::{ErrorBody, ErrorCode, HealthStatus};
use support::{TestApp, TestDatabase};

async fn health_and_readiness_answer_ok(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    for path in ["/healthz", "/readyz"] {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let body: HealthStatus = response.json().await.unwrap();
        assert_eq!(body.status, "ok");
    }
    app.stop().await;
}
on_both_backends!(
    health_and_readiness_answer_ok,
    health_and_readiness_answer_ok
);

async fn migrations_ran_in_the_right_dialect(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let family = app.storage.meta("schema_family").await.unwrap();
    assert_eq!(family.as_deref(), Some(app.storage.backend_name()));
    assert!(app.storage.meta("created_at").await.unwrap().is_some());
    app.stop().await;
}
on_both_backends!(
    migrations_ran_in_the_right_dialect,
    migrations_ran_in_the_right_dialect
);

async fn readiness_fails_with_a_clear_error_when_the_database_is_gone(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    app.storage.close().await;
    let response = app.get("/readyz").await;
    assert_eq!(response.status(), 503);
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::Unavailable);
    // Liveness does not depend on the database.
    assert_eq!(app.get("/healthz").await.status(), 200);
    app.stop().await;
}
on_both_backends!(
    readiness_fails_with_a_clear_error_when_the_database_is_gone,
    readiness_fails_with_a_clear_error_when_the_database_is_gone
);

async fn unknown_paths_get_a_json_404_with_security_headers(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let response = app.get("/v1/nothing-here?token=secret").await;
    assert_eq!(response.status(), 404);
    let headers = response.headers().clone();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(body.code, ErrorCode::NotFound);
    assert!(!body.message.contains("secret"));
    app.stop().await;
}
on_both_backends!(
    unknown_paths_get_a_json_404_with_security_headers,
    unknown_paths_get_a_json_404_with_security_headers
);

async fn a_second_start_on_the_same_database_keeps_its_data(db: &TestDatabase) {
    let first = TestApp::spawn(db).await;
    let created = first.storage.meta("created_at").await.unwrap();
    first.stop().await;
    let second = TestApp::spawn(db).await;
    assert_eq!(second.storage.meta("created_at").await.unwrap(), created);
    second.stop().await;
}
on_both_backends!(
    a_second_start_on_the_same_database_keeps_its_data,
    a_second_start_on_the_same_database_keeps_its_data
);

async fn the_openapi_document_is_served_and_describes_the_api(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let response = app.get("/openapi.json").await;
    assert_eq!(response.status(), 200);
    let doc: serde_json::Value = response.json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 19, "{}", paths.len());
    // Every request body is a closed object, as the server enforces.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for name in [
        "LoginRequest",
        "RedeemInvitationRequest",
        "CreateStaffRequest",
    ] {
        assert_eq!(schemas[name]["additionalProperties"], false, "{name}");
    }
    app.stop().await;
}
on_both_backends!(
    the_openapi_document_is_served_and_describes_the_api,
    the_openapi_document_is_served_and_describes_the_api
);
