//! The native-app OpenID Connect flow (RFC 8252) for a citizen's eID login:
//! authorization code with PKCE (RFC 7636), a loopback redirect on a free
//! port of 127.0.0.1, the system browser opened for the user (or the URL
//! printed). The ID token's nonce binds the login to this device's keys;
//! the server, not this client, verifies the token.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use samtale_protocol::wire::EidProviderInfo;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Why the eID login failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The broker could not be reached or answered badly.
    #[error("the eID broker at {issuer} {what}")]
    Broker {
        /// The broker.
        issuer: String,
        /// What went wrong.
        what: String,
    },
    /// The login was cancelled or refused at the broker.
    #[error("the eID login did not complete: {0}")]
    Refused(String),
    /// Nobody finished the login in time.
    #[error(
        "no eID login arrived within {0} seconds: nothing was done. Run the command again and open the printed address in a browser on this computer (add --print-url if no browser opens)"
    )]
    Timeout(u64),
    /// A local failure (the loopback listener).
    #[error("cannot wait for the browser on this machine: {0}")]
    Local(String),
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
}

/// A started authorization: open [`Authorization::url`] in a browser, then
/// [`Authorization::finish`] waits for the redirect.
pub struct Authorization {
    /// The URL to open.
    pub url: String,
    listener: TcpListener,
    state: String,
    verifier: zeroize::Zeroizing<String>,
    redirect_uri: String,
    token_endpoint: String,
    client_id: String,
    issuer: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorization")
            .field("issuer", &self.issuer)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

fn random_b64(n: usize) -> Result<String, OidcError> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| OidcError::Local(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Starts the flow at `provider` with `nonce` (the device's `eid_nonce`).
pub async fn start(provider: &EidProviderInfo, nonce: &str) -> Result<Authorization, OidcError> {
    crate::api::install_crypto();
    let broker = |what: String| OidcError::Broker {
        issuer: provider.issuer.clone(),
        what,
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|e| OidcError::Local(e.to_string()))?;
    let discovery: Discovery = http
        .get(format!(
            "{}/.well-known/openid-configuration",
            provider.issuer.trim_end_matches('/')
        ))
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| broker(format!("cannot be reached: {e}")))?
        .json()
        .await
        .map_err(|e| broker(format!("sent a malformed discovery document: {e}")))?;
    if discovery.issuer.trim_end_matches('/') != provider.issuer.trim_end_matches('/') {
        return Err(broker(
            "names another issuer in its discovery document".into(),
        ));
    }
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| OidcError::Local(e.to_string()))?;
    let port = listener
        .local_addr()
        .map_err(|e| OidcError::Local(e.to_string()))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let verifier = zeroize::Zeroizing::new(random_b64(32)?);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let state = random_b64(16)?;
    let mut params = vec![
        ("client_id", provider.client_id.as_str()),
        ("response_type", "code"),
        ("scope", provider.scope.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("nonce", nonce),
        ("state", state.as_str()),
    ];
    if let Some(acr) = provider.acr_values.as_deref() {
        params.push(("acr_values", acr));
    }
    let url = url::Url::parse_with_params(&discovery.authorization_endpoint, &params)
        .map_err(|e| broker(format!("has an invalid authorization endpoint: {e}")))?;
    Ok(Authorization {
        url: url.into(),
        listener,
        state,
        verifier,
        redirect_uri,
        token_endpoint: discovery.token_endpoint,
        client_id: provider.client_id.clone(),
        issuer: provider.issuer.clone(),
        http,
    })
}

const PAGE_OK: &str = "<!doctype html><meta charset=utf-8><title>Samtale</title><p>Du er logget ind. Du kan lukke dette vindue og vende tilbage til Samtale.</p><p>You are logged in. You can close this window and return to Samtale.</p>";
const PAGE_FAILED: &str = "<!doctype html><meta charset=utf-8><title>Samtale</title><p>Login mislykkedes. Se Samtale for detaljer.</p><p>The login failed. See Samtale for details.</p>";

impl Authorization {
    /// Waits (at most `wait`) for the browser's redirect, then exchanges
    /// the code for the ID token.
    pub async fn finish(self, wait: Duration) -> Result<String, OidcError> {
        let code = tokio::time::timeout(wait, self.await_code())
            .await
            .map_err(|_| OidcError::Timeout(wait.as_secs()))??;
        #[derive(Deserialize)]
        struct Tokens {
            id_token: Option<String>,
            error: Option<String>,
            error_description: Option<String>,
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "authorization_code")
            .append_pair("code", &code)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("client_id", &self.client_id)
            .append_pair("code_verifier", &self.verifier)
            .finish();
        let tokens: Tokens = self
            .http
            .post(&self.token_endpoint)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(|e| OidcError::Broker {
                issuer: self.issuer.clone(),
                what: format!("cannot be reached: {e}"),
            })?
            .json()
            .await
            .map_err(|e| OidcError::Broker {
                issuer: self.issuer.clone(),
                what: format!("sent a malformed token answer: {e}"),
            })?;
        match (tokens.id_token, tokens.error) {
            (Some(t), _) => Ok(t),
            (None, Some(e)) => Err(OidcError::Refused(format!(
                "{e}{}",
                tokens
                    .error_description
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ))),
            (None, None) => Err(OidcError::Broker {
                issuer: self.issuer.clone(),
                what: "sent no ID token".into(),
            }),
        }
    }

    /// Serves the loopback redirect until one arrives for this flow.
    async fn await_code(&self) -> Result<String, OidcError> {
        loop {
            let (mut socket, _) = self
                .listener
                .accept()
                .await
                .map_err(|e| OidcError::Local(e.to_string()))?;
            let mut buf = vec![0u8; 8192];
            let mut len = 0;
            // Read the request head only (bounded).
            while len < buf.len() {
                let n = match tokio::time::timeout(
                    Duration::from_secs(5),
                    socket.read(&mut buf[len..]),
                )
                .await
                {
                    Ok(Ok(n)) => n,
                    _ => 0,
                };
                if n == 0 {
                    break;
                }
                len += n;
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let target = head
                .lines()
                .next()
                .and_then(|l| {
                    let mut parts = l.split(' ');
                    (parts.next() == Some("GET"))
                        .then(|| parts.next())
                        .flatten()
                })
                .unwrap_or("");
            let Ok(url) = url::Url::parse(&format!("http://127.0.0.1{target}")) else {
                respond(&mut socket, 400, "bad request").await;
                continue;
            };
            if url.path() != "/callback" {
                respond(&mut socket, 404, "not found").await;
                continue;
            }
            let params: std::collections::HashMap<String, String> =
                url.query_pairs().into_owned().collect();
            if params.get("state") != Some(&self.state) {
                // Not our flow (a stale tab): ignore it and keep waiting.
                respond(&mut socket, 400, PAGE_FAILED).await;
                continue;
            }
            if let Some(e) = params.get("error") {
                respond(&mut socket, 200, PAGE_FAILED).await;
                return Err(OidcError::Refused(format!(
                    "{e}{}",
                    params
                        .get("error_description")
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                )));
            }
            if let Some(code) = params.get("code") {
                respond(&mut socket, 200, PAGE_OK).await;
                return Ok(code.clone());
            }
            respond(&mut socket, 400, PAGE_FAILED).await;
        }
    }
}

async fn respond(socket: &mut tokio::net::TcpStream, status: u16, body: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(response.as_bytes()).await;
    let _ = socket.shutdown().await;
}

/// Opens `url` in the system browser; false when no opener is available.
pub fn open_browser(url: &str) -> bool {
    let candidates: &[(&str, &[&str])] = if cfg!(target_os = "macos") {
        &[("open", &[])]
    } else if cfg!(windows) {
        &[("cmd", &["/C", "start", ""])]
    } else {
        &[
            ("xdg-open", &[]),
            ("gio", &["open"]),
            ("sensible-browser", &[]),
        ]
    };
    candidates.iter().any(|(cmd, args)| {
        std::process::Command::new(cmd)
            .args(*args)
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .is_ok()
    })
}
