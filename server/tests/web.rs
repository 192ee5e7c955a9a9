//! The web app as the server serves it (issue 14): the built files from
//! `web/dist`, embedded at build time, under a Content-Security-Policy that
//! allows no inline script, no eval and no foreign origin and requires
//! Trusted Types; Subresource Integrity on every script and style;
//! immutable caching for hashed assets; a manifest of every file's
//! SHA-256; the API's own answers untouched; and a browser page from the
//! server's own origin may open the WebSocket.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::Method;
use sha2::{Digest, Sha256};
use support::{Backend, TestApp, TestDatabase};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn app() -> (TestDatabase, TestApp) {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let app = TestApp::spawn(&db).await;
    (db, app)
}

#[tokio::test]
async fn the_app_is_served_with_a_strict_policy_integrity_and_a_manifest_of_every_file() {
    let (_db, app) = app().await;
    let index = app.get("/").await;
    assert_eq!(index.status(), 200);
    let csp = index.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types samtale",
    ] {
        assert!(csp.contains(directive), "{directive} in {csp}");
    }
    for forbidden in ["unsafe-inline", "unsafe-eval", "http:", "https:", "*"] {
        assert!(!csp.contains(forbidden), "{forbidden} in {csp}");
    }
    assert_eq!(index.headers()["x-content-type-options"], "nosniff");
    assert_eq!(index.headers()["cache-control"], "no-cache");
    assert!(
        index.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let etag = index.headers()["etag"].to_str().unwrap().to_owned();
    let html = index.text().await.unwrap();
    // Every script and stylesheet carries its integrity, and nothing is inline.
    let loads: Vec<&str> = html
        .split('<')
        .filter(|t| t.starts_with("script") || t.starts_with("link rel=\"stylesheet\""))
        .collect();
    assert!(!loads.is_empty(), "{html}");
    for tag in &loads {
        if tag.starts_with("script") {
            assert!(tag.contains(" src=\"/"), "no inline script: {tag}");
        }
        assert!(tag.contains("integrity=\"sha384-"), "{tag}");
    }

    // The manifest lists every file with the SHA-256 of what is served.
    let manifest: serde_json::Value = app
        .get("/.well-known/samtale-web-assets.json")
        .await
        .json()
        .await
        .unwrap();
    let files = manifest["files"].as_object().unwrap();
    assert!(files.contains_key("/index.html"));
    assert!(files.keys().any(|f| f.starts_with("/assets/")));
    for (path, sha) in files {
        let response = app.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        let immutable = response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable");
        assert_eq!(immutable, path.starts_with("/assets/"), "{path}");
        let body = response.bytes().await.unwrap();
        assert_eq!(hex(&Sha256::digest(&body)), sha.as_str().unwrap(), "{path}");
    }
    // A script's integrity attribute is the SHA-384 of the served file.
    let script = loads
        .iter()
        .find(|t| t.starts_with("script"))
        .and_then(|t| t.split("src=\"").nth(1))
        .and_then(|t| t.split('"').next())
        .unwrap();
    let body = app.get(script).await.bytes().await.unwrap();
    use base64::Engine as _;
    let sri = format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(&body))
    );
    assert!(html.contains(&sri), "{sri} not in the page");

    // Revalidation, HEAD, the app's own paths, and the API untouched.
    let again = app
        .client
        .get(format!("{}/", app.address))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let head = app.call(Method::HEAD, "/", None, None).await;
    assert_eq!(head.status(), 200);
    for path in [
        "/join",
        "/threads/0193c0de-7c1a-7d2e-9f00-5b1e2f3a4b5c",
        "/settings",
    ] {
        let r = app.get(path).await;
        assert_eq!(r.status(), 200, "{path}");
        assert_eq!(r.text().await.unwrap(), html, "{path} is the app");
    }
    let api = app.get("/v1/nothing-here").await;
    assert_eq!(api.status(), 404);
    assert_eq!(api.headers()["cache-control"], "no-store");
    assert_eq!(
        api.headers()["content-security-policy"],
        "default-src 'none'; frame-ancestors 'none'"
    );
    let body: serde_json::Value = api.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert_eq!(app.get("/missing.png").await.status(), 404);
    let post = app.call(Method::POST, "/join", None, None).await;
    assert_eq!(post.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn an_organisation_can_turn_the_web_app_off() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let mut settings = db.app_settings();
    settings.messaging.web_app = false;
    let app = TestApp::spawn_with(&settings).await;
    let r = app.get("/").await;
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["code"], "not_found");
    assert_eq!(app.get("/readyz").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_page_from_the_servers_own_origin_may_open_the_websocket_and_a_foreign_one_may_not() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let (_db, app) = app().await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let attempt = |origin: String| {
        let host = host.clone();
        async move {
            let mut request = format!("ws://{host}/ws").into_client_request().unwrap();
            let h = request.headers_mut();
            h.insert("Origin", origin.parse().unwrap());
            h.insert("Sec-WebSocket-Protocol", "samtale.v1".parse().unwrap());
            match tokio_tungstenite::connect_async(request).await {
                Ok(_) => 101,
                Err(tokio_tungstenite::tungstenite::Error::Http(r)) => r.status().as_u16(),
                Err(e) => panic!("{e}"),
            }
        }
    };
    assert_eq!(attempt(format!("http://{host}")).await, 101);
    assert_eq!(attempt("https://evil.example".into()).await, 403);
    assert_eq!(attempt(format!("http://{host}.evil.example")).await, 403);
    app.stop().await;
}
