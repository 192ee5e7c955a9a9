//! The web app for citizens (and later staff), served at `/` on the same
//! origin as `/v1` and `/ws`. The built files (`web/dist/`) are embedded
//! in the binary at compile time (`server/build.rs`); the server adds what
//! makes serving JavaScript that holds keys defensible (WEB.md):
//!
//! - a Content-Security-Policy that allows no inline script, no `eval`, no
//!   foreign origin, and requires Trusted Types for script sinks;
//! - Subresource Integrity on every script and style (written into
//!   `index.html` by the build);
//! - long-lived, immutable caching for content-hashed files under
//!   `/assets/`, and revalidation for everything else;
//! - a manifest of every file's SHA-256 at
//!   [`ASSET_MANIFEST_PATH`], so a municipality (or a browser extension) can
//!   check that what it is served is what was built and reviewed.
//!
//! Paths without a file extension that are not files (`/join`, `/threads/…`)
//! get `index.html`: the app routes them itself.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::AppState;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// Where the list of every served file's SHA-256 is.
pub const ASSET_MANIFEST_PATH: &str = "/.well-known/samtale-web-assets.json";

/// The policy for the app's pages. `'self'` in `connect-src` covers the
/// same origin's `ws:`/`wss:`; `blob:` images are attachments decrypted in
/// the page; no style or script may come from anywhere but the server's own
/// files, and nothing may be evaluated or injected as HTML. Script sinks
/// take only Trusted Types, and the one policy allowed (`samtale`) makes
/// nothing but the service worker's own URL.
pub const APP_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' blob: data:; font-src 'self'; connect-src 'self'; manifest-src 'self'; \
    worker-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; \
    require-trusted-types-for 'script'; trusted-types samtale";

/// One embedded file, ready to serve.
struct Asset {
    bytes: &'static [u8],
    content_type: &'static str,
    etag: String,
    immutable: bool,
}

struct Assets {
    files: HashMap<&'static str, Asset>,
    manifest: Vec<u8>,
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("webmanifest") => "application/manifest+json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn assets() -> &'static Assets {
    static ASSETS: OnceLock<Assets> = OnceLock::new();
    ASSETS.get_or_init(|| {
        let mut files = HashMap::new();
        let mut listed = serde_json::Map::new();
        for (path, bytes) in embedded::ASSETS {
            let sha = hex(&Sha256::digest(bytes));
            listed.insert((*path).to_owned(), serde_json::Value::String(sha.clone()));
            files.insert(
                *path,
                Asset {
                    bytes,
                    content_type: content_type(path),
                    etag: format!("\"{}\"", &sha[..32]),
                    immutable: path.starts_with("/assets/"),
                },
            );
        }
        let manifest = serde_json::to_vec_pretty(&serde_json::json!({
            "format": "samtale-web-assets/1",
            "algorithm": "sha256",
            "files": listed,
        }))
        .unwrap_or_default();
        Assets { files, manifest }
    })
}

/// Whether the binary carries a built web app.
pub fn available() -> bool {
    assets().files.contains_key("/index.html")
}

/// `GET /.well-known/samtale-web-assets.json`: every file of the web app
/// this server serves, with its SHA-256.
pub(super) async fn asset_manifest() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        assets().manifest.clone(),
    )
        .into_response()
}

/// Serves the app's files for `GET` and `HEAD` on any path the API does
/// not claim; everything else is the API's JSON 404.
pub(super) async fn serve(
    State(state): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    let api = path.starts_with("/v1/") || path == "/v1" || path == "/ws";
    if !state.web_app || api || !(method == Method::GET || method == Method::HEAD) {
        return super::not_found().await.into_response();
    }
    let all = assets();
    let asset = match all.files.get(path) {
        Some(a) => a,
        None if path == "/" || !path.rsplit('/').next().unwrap_or("").contains('.') => {
            match all.files.get("/index.html") {
                Some(a) => a,
                None => return not_built(),
            }
        }
        None => return super::not_found().await.into_response(),
    };
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == asset.etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        (
            StatusCode::OK,
            [(header::CONTENT_LENGTH, asset.bytes.len().to_string())],
        )
            .into_response()
    } else {
        (StatusCode::OK, asset.bytes).into_response()
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if asset.immutable {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        }),
    );
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        h.insert(header::ETAG, etag);
    }
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(APP_CSP),
    );
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=(), payment=()"),
    );
    response
}

use axum::http::HeaderName;

/// The binary was built without `web/dist`: say how to build the app.
fn not_built() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "This samtale-server was built without the web app. Build it with `npm ci && npm run build` in web/, then build the server again.\n",
    )
        .into_response()
}
