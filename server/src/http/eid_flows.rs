//! eID logins for the web app, with the server as the confidential OpenID
//! Connect client (the backend-for-frontend of the IETF's "OAuth 2.0 for
//! Browser-Based Apps"): the page never sees the broker's tokens or the
//! client secret.
//!
//! 1. The page makes its new device's keys and asks `POST /v1/eid/flows`:
//!    the server stores the flow (the nonce derived from those keys, as for
//!    native apps), and answers a handle (kept in the page) and the broker's
//!    login address (authorization code, PKCE S256, `state`, `nonce`).
//! 2. The broker sends the browser to `GET /v1/eid/callback?code&state`: the
//!    server exchanges the code (with its client secret and the PKCE
//!    verifier), checks the ID token exactly as for native apps, records the
//!    identity (issuer, subject, the national id's keyed hash, the level)
//!    and the token's hash (spent: no replay), and sends the browser back to
//!    the app (`/join` or `/login`) with only `#eid=done` or `#eid=failed`.
//! 3. The page signs up (`POST /v1/signup`) or logs in
//!    (`POST /v1/sessions/eid`) with `eid_flow` = its handle and the same
//!    device keys. The flow is spent once.
//!
//! The handle never appears in a URL, and only its SHA-256 (the flow's id)
//! is stored; `state` and the PKCE verifier are derived from that id under
//! the server's key, so nothing secret is stored.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use samtale_protocol::keys::DevicePublicKeys;
use samtale_protocol::wire::{
    AssuranceLevel, EidFlowPurpose, EidFlowStarted, ErrorCode, StartEidFlow,
};
use sha2::{Digest, Sha256};

use super::validate;
use super::{ApiError, ApiJson, AppState, Created};
use crate::auth::{self, hashes_equal, sha256_of};
use crate::eid::EidError;
use crate::storage::eid::EidFlowIdentity;

/// Seconds a started eID login may take, from the page's request to the
/// sign-up that spends it.
pub const FLOW_SECONDS: i64 = 600;

/// What an eID login proved about the person at the device.
#[derive(Debug)]
pub(super) struct EidProof {
    pub issuer: String,
    pub subject: String,
    pub national_id_hmac: [u8; 32],
    pub level: AssuranceLevel,
    /// The ID token's hash and expiry, still to be spent (a native app's
    /// token); `None` when the server spent it already (a web login).
    pub replay: Option<([u8; 32], i64)>,
}

fn refused(e: &EidError) -> ApiError {
    tracing::info!(reason = %e, "eID login refused");
    ApiError::new(ErrorCode::AuthenticationFailed, e.to_string())
}

fn purpose_word(p: EidFlowPurpose) -> &'static str {
    match p {
        EidFlowPurpose::Join => "join",
        EidFlowPurpose::Login => "login",
    }
}

/// The callback address the broker sends the browser to.
fn redirect_uri(state: &AppState) -> String {
    format!("{}/v1/eid/callback", state.public_url)
}

/// Who is at `device`, from a native app's `id_token` or the web app's
/// `eid_flow` (at most one), or `None` when neither is given.
pub(super) async fn prove_identity(
    state: &AppState,
    id_token: Option<&str>,
    eid_flow: Option<&str>,
    device: &DevicePublicKeys,
    purpose: EidFlowPurpose,
    now: i64,
) -> Result<Option<EidProof>, ApiError> {
    let nonce = samtale_protocol::eid_nonce(device);
    match (id_token, eid_flow) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "eid_flow: send either id_token or eid_flow, not both",
        )),
        (Some(token), None) => {
            let identity = state
                .eid
                .verify(token, &nonce, now)
                .await
                .map_err(|e| refused(&e))?;
            Ok(Some(EidProof {
                national_id_hmac: state.national_ids.hash(&identity.national_id),
                issuer: identity.issuer,
                subject: identity.subject,
                level: identity.level,
                replay: Some((auth::id_token_hash(token), identity.expires_at)),
            }))
        }
        (None, Some(handle)) => {
            let flow = state
                .storage
                .take_eid_flow(&sha256_of(handle), now)
                .await?
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::AuthenticationFailed,
                        "this eID login is unknown or was used already; log in with eID again",
                    )
                })?;
            let done = || {
                ApiError::new(
                    ErrorCode::AuthenticationFailed,
                    "the eID login did not finish; log in with eID again",
                )
            };
            if flow.expires_at <= now {
                return Err(ApiError::new(
                    ErrorCode::AuthenticationFailed,
                    "the eID login took too long; log in with eID again",
                ));
            }
            if flow.purpose != purpose_word(purpose) {
                return Err(ApiError::new(
                    ErrorCode::ValidationFailed,
                    "eid_flow: this eID login was started for something else",
                ));
            }
            if !hashes_equal(flow.nonce.as_bytes(), nonce.as_bytes()) {
                return Err(refused(&EidError::WrongNonce));
            }
            let (Some(issuer), Some(subject), Some(hmac), Some(level), None) = (
                flow.issuer,
                flow.subject,
                flow.national_id_hmac,
                flow.assurance.as_deref().and_then(crate::eid::acr_level),
                flow.failure,
            ) else {
                return Err(done());
            };
            let national_id_hmac: [u8; 32] = hmac.as_slice().try_into().map_err(|_| done())?;
            Ok(Some(EidProof {
                issuer,
                subject,
                national_id_hmac,
                level,
                replay: None,
            }))
        }
    }
}

/// `POST /v1/eid/flows`: starts an eID login for the web app.
#[utoipa::path(
    post,
    path = "/v1/eid/flows",
    tag = "citizens",
    request_body = samtale_protocol::wire::StartEidFlow,
    responses(
        (status = 201, description = "Send the browser to `authorization_url`; keep `flow`.", body = samtale_protocol::wire::EidFlowStarted),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::NotFound,
        super::openapi::Unavailable,
    )
)]
pub(super) async fn start_flow(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<StartEidFlow>,
) -> Result<Created<EidFlowStarted>, ApiError> {
    if !state.eid.web_enabled() {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            EidError::NoWebClient.to_string(),
        ));
    }
    let now = state.clock.now();
    let handle = {
        use base64::Engine as _;
        let bytes: [u8; 32] = auth::random_bytes().map_err(ApiError::randomness)?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    };
    let flow_id = sha256_of(&handle);
    let oauth_state = state.eid_flow_key.state(&flow_id);
    let verifier = state.eid_flow_key.code_verifier(&flow_id);
    let challenge = {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
    };
    let nonce = samtale_protocol::eid_nonce(&req.device);
    let url = state
        .eid
        .authorization_url(&redirect_uri(&state), &oauth_state, &nonce, &challenge)
        .await
        .map_err(|e| match e {
            EidError::BrokerUnavailable => ApiError::new(ErrorCode::Unavailable, e.to_string()),
            other => refused(&other),
        })?;
    let expires_at = now + FLOW_SECONDS;
    state
        .storage
        .create_eid_flow(
            &flow_id,
            &sha256_of(&oauth_state),
            &nonce,
            purpose_word(req.purpose),
            now,
            expires_at,
        )
        .await?;
    Ok(Created(EidFlowStarted {
        flow: handle,
        authorization_url: url,
        expires_at: u64::try_from(expires_at).unwrap_or(0),
    }))
}

/// The broker's answer, as query parameters on the callback.
#[derive(Debug, serde::Deserialize)]
pub(super) struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Sends the browser back into the app, with the outcome in the fragment
/// only (never sent to a server, never in a log).
fn back_to_app(purpose: &str, outcome: &str) -> Response {
    let path = if purpose == "login" {
        "/login"
    } else {
        "/join"
    };
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("{path}#eid={outcome}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// `GET /v1/eid/callback`: where the broker sends the browser after the
/// eID login. Exchanges the code, checks the ID token and records the
/// identity for the page's flow; redirects to the app either way.
#[utoipa::path(
    get,
    path = "/v1/eid/callback",
    tag = "citizens",
    params(
        ("code" = Option<String>, Query, description = "The broker's authorization code."),
        ("state" = Option<String>, Query, description = "The state the server sent."),
        ("error" = Option<String>, Query, description = "The broker's error, if the login failed."),
    ),
    responses(
        (status = 303, description = "Back to the app: `/join#eid=done`, or `#eid=failed`."),
        (status = 404, description = "No eID login is waiting for this state."),
    )
)]
pub(super) async fn callback(
    State(state): State<AppState>,
    Query(params): Query<CallbackParams>,
    _headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = state.clock.now();
    let Some(oauth_state) = params.state.as_deref() else {
        return Err(ApiError::not_found("eID login"));
    };
    let Some(flow) = state
        .storage
        .open_eid_flow_by_state(&sha256_of(oauth_state))
        .await?
    else {
        return Err(ApiError::not_found("eID login"));
    };
    let fail = |reason: &'static str| {
        let storage = state.storage.clone();
        let id = flow.id.clone();
        let purpose = flow.purpose.clone();
        async move {
            storage.fail_eid_flow(&id, reason, now).await?;
            Ok::<Response, ApiError>(back_to_app(&purpose, "failed"))
        }
    };
    if flow.expires_at <= now {
        return fail("expired").await;
    }
    let Some(code) = params.code.as_deref().filter(|_| params.error.is_none()) else {
        // The person cancelled at the broker, or the broker refused.
        tracing::info!("eID login cancelled or refused at the broker");
        return fail("cancelled").await;
    };
    let verifier = state.eid_flow_key.code_verifier(&flow.id);
    let token = match state
        .eid
        .exchange_code(code, &verifier, &redirect_uri(&state))
        .await
    {
        Ok(token) => token,
        Err(e) => {
            tracing::info!(reason = %e, "eID code exchange failed");
            return fail("exchange").await;
        }
    };
    let identity = match state.eid.verify(&token, &flow.nonce, now).await {
        Ok(identity) => identity,
        Err(e) => {
            tracing::info!(reason = %e, "eID token refused");
            return fail("refused").await;
        }
    };
    let token_hash = auth::id_token_hash(&token);
    if !state
        .storage
        .spend_id_token(&token_hash, identity.expires_at)
        .await?
    {
        return fail("replayed").await;
    }
    let hmac = state.national_ids.hash(&identity.national_id);
    state
        .storage
        .complete_eid_flow(
            &flow.id,
            &EidFlowIdentity {
                issuer: &identity.issuer,
                subject: &identity.subject,
                national_id_hmac: &hmac,
                assurance: validate::assurance_to_db(identity.level),
                id_token_hash: &token_hash,
                token_expires_at: identity.expires_at,
            },
            now,
        )
        .await?;
    tracing::info!("eID login for the web app completed");
    Ok(back_to_app(&flow.purpose, "done"))
}
