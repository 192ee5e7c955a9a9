//! A typed HTTP client for the server's REST API. Errors carry the server's
//! stable code and sentence, so commands can say what to do next.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use samtale_protocol::wire::{ErrorBody, ErrorCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The server answered with an error body.
    #[error("{message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The stable code.
        code: ErrorCode,
        /// The server's sentence for people.
        message: String,
    },
    /// The server could not be reached.
    #[error(
        "cannot reach the server at {url}: {reason}. Check the address and your network, or whether the server is running"
    )]
    Unreachable {
        /// The base URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The answer was not what the API promises.
    #[error(
        "the server's answer could not be understood ({0}); is this a Samtale server of the same version?"
    )]
    Protocol(String),
}

impl ApiError {
    /// The server's error code, if it answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Server { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The process exit code for this error (see `samtale --help`): 3 when
    /// the session is over, 4 when the server cannot be reached, 5 when it
    /// refused or found nothing, else 2.
    pub fn exit_code(&self) -> u8 {
        match self {
            _ if self.session_ended() => 3,
            Self::Unreachable { .. } => 4,
            Self::Server {
                code: ErrorCode::Forbidden | ErrorCode::ConsentWithdrawn | ErrorCode::NotFound,
                ..
            } => 5,
            _ => 2,
        }
    }

    /// Whether the session is over (expired, revoked, disabled).
    pub fn session_ended(&self) -> bool {
        matches!(
            self.code(),
            Some(
                ErrorCode::AuthenticationFailed
                    | ErrorCode::TokenExpired
                    | ErrorCode::DeviceRevoked
                    | ErrorCode::NotAuthenticated
            )
        )
    }
}

/// The REST client for one server.
#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// Names the server; never prints the bearer token.
impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Installs the TLS crypto provider once per process (reqwest is built
/// without one in this workspace).
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Api {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(base: &str) -> Result<Self, ApiError> {
        install_crypto();
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ApiError::Protocol(format!(
                "the server address must start with https:// (or http:// on this machine), got {base:?}"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("samtale/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Protocol(e.to_string()))?;
        Ok(Self {
            http,
            base,
            token: None,
        })
    }

    /// The base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Uses `token` as the bearer token from now on.
    pub fn set_token(&mut self, token: Option<String>) {
        self.token = token;
    }

    /// The current bearer token.
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .timeout(Duration::from_secs(60));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        r
    }

    fn unreachable(&self, e: &reqwest::Error) -> ApiError {
        let mut reason = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            reason = format!("{reason}: {s}");
            source = s.source();
        }
        ApiError::Unreachable {
            url: self.base.clone(),
            reason,
        }
    }

    async fn check(&self, response: reqwest::Response) -> Result<reqwest::Response, ApiError> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = response.bytes().await.unwrap_or_default();
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Err(ApiError::Server {
                status: status.as_u16(),
                code: body.code,
                message: body.message,
            }),
            Err(_) => Err(ApiError::Server {
                status: status.as_u16(),
                code: if status == StatusCode::NOT_FOUND {
                    ErrorCode::NotFound
                } else {
                    ErrorCode::Internal
                },
                message: format!("the server answered {status}"),
            }),
        }
    }

    async fn send(&self, builder: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiError> {
        let response = builder.send().await.map_err(|e| self.unreachable(&e))?;
        self.check(response).await
    }

    async fn json<T: DeserializeOwned>(response: reqwest::Response) -> Result<T, ApiError> {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| ApiError::Protocol(e.to_string()))?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Protocol(e.to_string()))
    }

    /// `GET path` → JSON.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        Self::json(self.send(self.request(Method::GET, path)).await?).await
    }

    /// `DELETE path` → JSON.
    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        Self::json(self.send(self.request(Method::DELETE, path)).await?).await
    }

    /// `POST path` with a JSON body → JSON.
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        Self::json(
            self.send(self.request(Method::POST, path).json(body))
                .await?,
        )
        .await
    }

    /// `PUT path` with a JSON body → JSON.
    pub async fn put<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ApiError> {
        Self::json(
            self.send(self.request(Method::PUT, path).json(body))
                .await?,
        )
        .await
    }

    /// A request whose answer has no body (`204`).
    pub async fn call<B: Serialize + ?Sized>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), ApiError> {
        let mut r = self.request(method, path);
        if let Some(b) = body {
            r = r.json(b);
        }
        self.send(r).await.map(drop)
    }

    /// Uploads raw bytes, reporting progress through `progress(sent)`.
    pub async fn upload<T: DeserializeOwned>(
        &self,
        path: &str,
        bytes: Vec<u8>,
        progress: impl Fn(u64) + Send + Sync + 'static,
    ) -> Result<T, ApiError> {
        const CHUNK: usize = 64 * 1024;
        let total = bytes.len();
        let chunks: Vec<Vec<u8>> = bytes.chunks(CHUNK).map(<[u8]>::to_vec).collect();
        let mut sent = 0u64;
        let stream = futures_util::stream::iter(chunks).map(move |c| {
            sent += c.len() as u64;
            progress(sent);
            Ok::<_, std::io::Error>(c)
        });
        let r = self
            .request(Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::CONTENT_LENGTH, total)
            .timeout(Duration::from_secs(600))
            .body(reqwest::Body::wrap_stream(stream));
        Self::json(self.send(r).await?).await
    }

    /// Downloads raw bytes (at most `limit`), reporting progress through
    /// `progress(received, total)`.
    pub async fn download(
        &self,
        path: &str,
        limit: u64,
        progress: impl Fn(u64, Option<u64>),
    ) -> Result<Vec<u8>, ApiError> {
        let r = self
            .request(Method::GET, path)
            .timeout(Duration::from_secs(600));
        let response = self.send(r).await?;
        let total = response.content_length();
        if total.is_some_and(|t| t > limit) {
            return Err(ApiError::Protocol(format!(
                "the download is larger than the {limit} bytes expected"
            )));
        }
        let mut out =
            Vec::with_capacity(usize::try_from(total.unwrap_or(0).min(limit)).unwrap_or(0));
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| self.unreachable(&e))?;
            out.extend_from_slice(&chunk);
            if out.len() as u64 > limit {
                return Err(ApiError::Protocol(format!(
                    "the download is larger than the {limit} bytes expected"
                )));
            }
            progress(out.len() as u64, total);
        }
        Ok(out)
    }
}
