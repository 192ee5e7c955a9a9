//! The HTTP layer: routes, the error type that turns domain errors into
//! responses, and the middleware every request passes through. Only this
//! module knows status codes.

use std::time::Duration;

mod accounts;
mod admin;
mod attachments;
pub mod caller;
mod citizens;
mod eid_flows;
mod keys;
mod logs;
pub mod openapi;
mod records;
pub mod serve;
mod templates;
pub mod threads;
mod validate;
pub mod web;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, MatchedPath, State};
use axum::http::{HeaderName, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use samtale_protocol::wire::{ErrorBody, ErrorCode, HealthStatus, MAX_REST_BODY_BYTES};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{Clock, NationalIdHasher, PasswordError, Passwords, Tokens};
use crate::storage::{Storage, StorageError};

/// What handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database.
    pub storage: Storage,
    /// The server's clock (tests move it).
    pub clock: Clock,
    /// Password hashing.
    pub passwords: Passwords,
    /// Access tokens.
    pub tokens: Tokens,
    /// The keyed hash of national ids.
    pub national_ids: NationalIdHasher,
    /// Days an invitation code stays valid.
    pub invitation_ttl_days: u32,
    /// The server's public address (printed on invitation letters).
    pub public_url: std::sync::Arc<str>,
    /// eID brokers (none configured: citizens join unverified).
    pub eid: crate::eid::EidVerifier,
    /// Rate limits against guessing.
    pub limits: crate::limits::Limits,
    /// Addresses besides loopback that may read `/metrics`.
    pub metrics_allowed: std::sync::Arc<[std::net::IpAddr]>,
    /// The message relay (writer, hub, bus).
    pub relay: crate::relay::Relay,
    /// Browser origins allowed to open a WebSocket.
    pub allowed_origins: std::sync::Arc<[String]>,
    /// Frames per second one WebSocket may send.
    pub ws_frames_per_second: u32,
    /// Days before a holder key is due for rotation.
    pub key_rotation_days: u32,
    /// The largest attachment upload.
    pub attachment_max_bytes: u64,
    /// Whether the web app is served at `/`.
    pub web_app: bool,
    /// Derives eID logins' `state` and PKCE verifiers.
    pub eid_flow_key: crate::auth::EidFlowKey,
}

impl AppState {
    /// Whether a browser page from `origin` may open a WebSocket: the
    /// server's own origin (the web app it serves: the `Origin` names the
    /// host the request was sent to, or `public_url`), and any configured in
    /// `allowed_origins`.
    pub fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let own = |o: &str| {
            host.is_some_and(|h| {
                o.strip_prefix("https://")
                    .or_else(|| o.strip_prefix("http://"))
                    .is_some_and(|rest| rest.eq_ignore_ascii_case(h))
            }) || o.eq_ignore_ascii_case(self.public_url.trim_end_matches('/'))
        };
        own(origin) || self.allowed_origins.iter().any(|a| a == origin)
    }

    /// Records what the caller did in the audit log. The action has
    /// happened already, so a failure to record it is logged loudly rather
    /// than turned into an error for the caller.
    pub(crate) async fn audit(
        &self,
        caller: &caller::Caller,
        action: crate::audit::Action,
        subject: Option<&str>,
        detail: crate::audit::Detail,
    ) {
        let event = crate::audit::AuditEvent::new(action, caller.id(), subject)
            .org(caller.org_id())
            .device(&caller.device_id)
            .detail(detail);
        self.record(event).await;
    }

    /// Records an event in the audit log (see [`AppState::audit`]).
    pub(crate) async fn record(&self, event: crate::audit::AuditEvent) {
        let action = event.action;
        if let Err(error) = self
            .storage
            .audit(std::slice::from_ref(&event), self.clock.now_ms())
            .await
        {
            tracing::error!(%error, %action, "cannot write the audit log entry");
        }
    }
}

/// An error answered as `{"code": …, "message": …}` with the code's status.
/// 5xx bodies are opaque: details go to the log, never to the client.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    retry_after: Option<i64>,
}

impl ApiError {
    /// An error with a message for people.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `429` with `Retry-After`.
    pub fn rate_limited(seconds: i64, what: &str) -> Self {
        Self {
            code: ErrorCode::RateLimited,
            message: format!("too many {what}; try again in {seconds} seconds"),
            retry_after: Some(seconds.max(1)),
        }
    }
}

impl ApiError {
    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The sentence for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A server-side failure: logged here, opaque to the client.
    pub fn internal(what: &str) -> Self {
        tracing::error!(what, "internal error");
        Self::new(
            ErrorCode::Internal,
            "something failed on the server and nothing was changed; try again, and tell the operator if it persists",
        )
    }

    /// The operating system's random number generator failed.
    pub fn randomness<E>(_: E) -> Self {
        Self::internal("the random number generator failed")
    }

    /// The object does not exist or the caller may not see it (the same
    /// answer for both, so existence does not leak).
    pub fn not_found(what: &str) -> Self {
        Self::new(
            ErrorCode::NotFound,
            format!("no such {what}, or you may not see it"),
        )
    }
}

impl From<StorageError> for ApiError {
    fn from(error: StorageError) -> Self {
        tracing::error!(%error, "storage error");
        Self::new(
            ErrorCode::Internal,
            "the database failed and nothing was changed; try again, and tell the operator if it persists",
        )
    }
}

impl From<PasswordError> for ApiError {
    fn from(_: PasswordError) -> Self {
        Self::internal("password hashing failed")
    }
}

/// `426 Upgrade Required` with `Sec-WebSocket-Version: 13` (RFC 6455 §4.4):
/// the answer to a WebSocket handshake in a version this server does not
/// speak.
pub fn websocket_version_required() -> Response {
    let mut response = ApiError::new(
        ErrorCode::BadRequest,
        "this server speaks WebSocket version 13 (RFC 6455)",
    )
    .into_response();
    *response.status_mut() = StatusCode::UPGRADE_REQUIRED;
    response.headers_mut().insert(
        header::SEC_WEBSOCKET_VERSION,
        HeaderValue::from_static("13"),
    );
    response
}

/// A JSON body whose rejections are [`ApiError`]s: unknown fields, wrong
/// types, a missing `Content-Type` and oversize bodies each get a clear,
/// uniform error.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            ErrorCode::BadRequest,
            "send the body as JSON with `Content-Type: application/json`",
        ),
        JsonRejection::BytesRejection(_) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                ErrorCode::TooLarge,
                format!("the body exceeds {MAX_REST_BODY_BYTES} bytes"),
            )
        }
        // Valid JSON that does not fit the type (a missing or unknown field,
        // a wrong type, a key that is not a valid point): 422, like any
        // other field that fails validation. The message names the field.
        JsonRejection::JsonDataError(e) => ApiError::new(
            ErrorCode::ValidationFailed,
            format!("the JSON body does not fit: {}", e.body_text()),
        ),
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::new(ErrorCode::BadRequest, "the body is not valid JSON")
        }
        _ => ApiError::new(ErrorCode::BadRequest, "the request body could not be read"),
    }
}

/// A `201 Created` JSON answer.
#[derive(Debug)]
pub struct Created<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        (StatusCode::CREATED, Json(self.0)).into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = ErrorBody {
            code: self.code,
            message: self.message,
        };
        let mut response = (status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// Every route of the server, with its middleware.
pub fn router(state: AppState) -> Router {
    // Streams (attachments, the WebSocket) have their own limits and no
    // request timeout; everything else is small and quick.
    let bounded = Router::new()
        .merge(health_routes())
        .merge(api_routes())
        .route(web::ASSET_MANIFEST_PATH, get(web::asset_manifest))
        .fallback(web::serve)
        .layer(RequestBodyLimitLayer::new(MAX_REST_BODY_BYTES))
        .layer(axum::middleware::from_fn(announced_size_guard))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ));
    Router::new()
        .route("/ws", get(crate::relay::socket::ws_handler))
        .route(
            "/v1/threads/{thread}/attachments",
            post(attachments::upload),
        )
        .route("/v1/attachments/{attachment}", get(attachments::download))
        .merge(bounded)
        .with_state(state)
        .layer(axum::middleware::from_fn(crate::http::serve::reserve_guard))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // The web app's files set their own caching and policy; every
        // API answer gets these.
        .layer(default_header_layer(header::CACHE_CONTROL, "no-store"))
        .layer(header_layer(header::REFERRER_POLICY, "no-referrer"))
        .layer(default_header_layer(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ))
        .layer(
            // Spans carry the method and the route template, never the raw
            // URI (a query string could hold something personal) or bodies.
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", MatchedPath::as_str);
                tracing::info_span!("http", method = %request.method(), route)
            }),
        )
}

/// A body whose announced `Content-Length` is over the REST limit gets
/// `413` with the JSON error at once, before any of it is read.
async fn announced_size_guard(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if announced_length(request.headers()).is_some_and(|n| n > MAX_REST_BODY_BYTES as u64) {
        return too_large(MAX_REST_BODY_BYTES as u64).into_response();
    }
    next.run(request).await
}

/// The announced `Content-Length`, if any.
pub(crate) fn announced_length(headers: &axum::http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// The error for a body over `limit` bytes.
pub(crate) fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        ErrorCode::TooLarge,
        format!("the body is larger than {limit} bytes; nothing was read or stored"),
    )
}

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value))
}

/// A header set unless the handler set its own.
fn default_header_layer(
    name: HeaderName,
    value: &'static str,
) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

fn api_routes() -> Router<AppState> {
    Router::new()
        .route("/v1/bootstrap", post(accounts::bootstrap))
        .route("/v1/sessions", post(accounts::login))
        .route("/v1/sessions/refresh", post(accounts::refresh))
        .route("/v1/sessions/eid", post(citizens::eid_login))
        .route("/v1/sessions/current", delete(accounts::logout))
        .route("/v1/me", get(accounts::me))
        .route("/v1/me/export", get(records::access_export))
        .route("/v1/me/password", post(accounts::change_password))
        .route("/v1/citizens/{account}", delete(records::erase_citizen))
        .route("/v1/audit/status", get(records::audit_status))
        .route("/v1/devices", get(accounts::list_devices))
        .route("/v1/devices/{device}", delete(accounts::revoke_device))
        .route(
            "/v1/devices/{device}/certificate",
            put(accounts::upload_certificate),
        )
        .route("/v1/teams", post(admin::create_team).get(admin::list_teams))
        .route("/v1/teams/{team}/retention", put(admin::set_retention))
        .route(
            "/v1/teams/{team}/member-log",
            get(logs::team_log).post(logs::append_team_log),
        )
        .route(
            "/v1/accounts/{account}/device-log",
            get(logs::device_log).post(logs::append_device_log),
        )
        .route("/v1/teams/{team}/citizens", get(citizens::list_citizens))
        .route("/v1/teams/{team}/templates", get(templates::list_templates))
        .route(
            "/v1/teams/{team}/templates/{template}",
            put(templates::save_template).delete(templates::delete_template),
        )
        .route(
            "/v1/staff",
            post(admin::create_staff).get(admin::list_staff),
        )
        .route("/v1/staff/{account}/disable", post(admin::disable_staff))
        .route("/v1/staff/{account}/enable", post(admin::enable_staff))
        .route("/v1/staff/{account}/password", post(admin::reset_password))
        .route("/v1/staff/{account}/devices", get(admin::staff_devices))
        .route(
            "/v1/staff/{account}/devices/{device}",
            delete(admin::revoke_staff_device),
        )
        .route(
            "/v1/invitations",
            post(citizens::create_invitation).get(citizens::list_invitations),
        )
        .route(
            "/v1/invitations/{invitation}",
            delete(citizens::revoke_invitation),
        )
        .route(
            "/v1/invitations/preview",
            post(citizens::preview_invitation),
        )
        .route("/v1/signup", post(citizens::signup))
        .route("/v1/consent", get(citizens::get_consent))
        .route("/v1/eid", get(citizens::eid_providers))
        .route("/v1/eid/flows", post(eid_flows::start_flow))
        .route("/v1/eid/callback", get(eid_flows::callback))
        .route("/v1/consent/withdraw", post(citizens::withdraw_consent))
        .route("/v1/keys", get(keys::find_key))
        .route("/v1/keys/{holder}", get(keys::get_key))
        .route("/v1/keys/{holder}/devices", get(keys::entitled_devices))
        .route("/v1/keys/{holder}/{epoch}", put(keys::publish_key))
        .route(
            "/v1/grants",
            post(keys::upload_grants).get(keys::list_grants),
        )
        .route(
            "/v1/threads",
            post(threads::create_thread).get(threads::list_threads),
        )
        .route("/v1/threads/{thread}", get(threads::get_thread))
        .route(
            "/v1/threads/{thread}/participants",
            post(threads::add_participant),
        )
        .route("/v1/threads/{thread}/messages", get(threads::list_messages))
        .route("/v1/threads/{thread}/receipts", get(threads::list_receipts))
        .route("/v1/threads/{thread}/grants", get(threads::thread_grants))
        .route("/v1/threads/{thread}/keys", get(threads::thread_keys))
        .route("/v1/threads/{thread}/devices", get(threads::thread_devices))
        .route(
            "/v1/threads/{thread}/journal",
            post(records::file_journal).get(records::list_journal),
        )
        .route(
            "/v1/threads/{thread}/hold",
            put(records::set_hold).delete(records::release_hold),
        )
        .route("/v1/holds", get(records::list_holds))
}

fn health_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/metrics", get(metrics))
}

/// Counters in the Prometheus text format, for operators and the load
/// generator (docs/OPERATIONS.md lists them). Content-free, and only
/// answered to clients on the loopback interface and the addresses in
/// `metrics_allowed`.
async fn metrics(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
) -> Response {
    if !peer.ip().is_loopback() && !state.metrics_allowed.contains(&peer.ip()) {
        return not_found().await.into_response();
    }
    use std::sync::atomic::Ordering;
    let stats = &state.relay.writer.stats;
    let mut body = format!(
        "# HELP samtale_relay_commits_total Group-commit transactions.\n\
         # TYPE samtale_relay_commits_total counter\n\
         samtale_relay_commits_total {}\n\
         # HELP samtale_relay_messages_total Messages stored.\n\
         # TYPE samtale_relay_messages_total counter\n\
         samtale_relay_messages_total {}\n\
         # HELP samtale_ws_connections Open authenticated WebSockets on this node.\n\
         # TYPE samtale_ws_connections gauge\n\
         samtale_ws_connections {}\n",
        stats.commits.load(Ordering::Relaxed),
        stats.messages.load(Ordering::Relaxed),
        state.relay.hub.connections(),
    );
    state.relay.metrics.render(&mut body);
    let bus_up = match state.relay.bus.health() {
        crate::relay::BusHealth::Local | crate::relay::BusHealth::Connected => 1,
        crate::relay::BusHealth::Degraded => 0,
    };
    crate::metrics::number(
        &mut body,
        "samtale_bus_up",
        "gauge",
        "1 when the other nodes are reachable over the bus (always 1 for one node).",
        bus_up,
    );
    state.relay.bus.render_metrics(&mut body);
    state.limits.render_metrics(&mut body);
    let (open, idle, max) = state.storage.pool_use();
    crate::metrics::number(
        &mut body,
        "samtale_db_pool_connections",
        "gauge",
        "Database connections open on this node.",
        open,
    );
    crate::metrics::number(
        &mut body,
        "samtale_db_pool_idle",
        "gauge",
        "Of them idle.",
        idle,
    );
    crate::metrics::number(
        &mut body,
        "samtale_db_pool_max",
        "gauge",
        "The most this node may open (database_max_connections).",
        max,
    );
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], body).into_response()
}

/// Liveness: the process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health", responses(
    (status = 200, description = "The process is up.", body = HealthStatus),
))]
async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus {
        status: "ok".into(),
        detail: None,
    })
}

/// Readiness: the database answers.
#[utoipa::path(get, path = "/readyz", tag = "health", responses(
    (status = 200, description = "The database answers; `status` is `degraded` while the other nodes cannot be reached over the bus.", body = HealthStatus),
    (status = 503, description = "The database is not reachable.", body = ErrorBody),
))]
async fn readyz(State(state): State<AppState>) -> Result<Json<HealthStatus>, ApiError> {
    match state.storage.ping().await {
        Ok(()) => Ok(Json(match state.relay.bus.health() {
            crate::relay::BusHealth::Local | crate::relay::BusHealth::Connected => HealthStatus {
                status: "ok".into(),
                detail: None,
            },
            // Still ready: this node serves, and its connections are
            // caught up from the database until the bus is back.
            crate::relay::BusHealth::Degraded => HealthStatus {
                status: "degraded".into(),
                detail: Some(
                    "the bus between nodes (NATS) is not reachable: messages from other nodes arrive from the database within about a second until it is back".into(),
                ),
            },
        })),
        Err(error) => {
            tracing::warn!(%error, backend = state.storage.backend_name(), "readiness check failed");
            Err(ApiError::new(
                ErrorCode::Unavailable,
                "the database is not reachable; the server will answer again when it is",
            ))
        }
    }
}

async fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "no such endpoint; check the path and method against docs/PROTOCOL.md",
    )
}
