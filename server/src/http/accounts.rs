//! Organisation bootstrap, staff login, sessions and devices.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::response::NoContent;
use samtale_protocol::keys::{DevicePublicKeys, OrgRootPublicKey};
use samtale_protocol::org_fingerprint;
use samtale_protocol::wire::{
    AccountInfo, AccountKind, BootstrapRequest, BootstrapResponse, ChangePasswordRequest,
    ConsentState, DeviceInfo, ErrorCode, LoginRequest, RefreshRequest, TokenPair,
    UploadCertificate,
};
use samtale_protocol::{AccountId, DeviceId, OrgId};
use samtale_protocol::{DeviceCertificate, Roles};

use super::caller::Caller;
use super::validate::{self, parse_id};
use super::{ApiError, ApiJson, AppState, Created};
use crate::auth::{self, ENROLMENT_DOMAIN, normalise_code};
use crate::limits::Scope;
use crate::storage::accounts::{AccountRow, NewDevice, NewSession, OrgRow, RefreshOutcome};

/// Opens a session for `account` on `device` and returns its tokens.
pub(super) struct SessionGrant {
    pub session_id: String,
    pub refresh_hash: [u8; 32],
    pub tokens: TokenPair,
    pub expires_at: i64,
}

pub(super) fn grant_session(
    state: &AppState,
    account_id: &str,
    device_id: &str,
    kind: &str,
    now: i64,
) -> Result<SessionGrant, ApiError> {
    let session_id = new_id()?;
    let (refresh, refresh_hash) = auth::new_refresh_token().map_err(ApiError::randomness)?;
    let access = state
        .tokens
        .issue(account_id, device_id, &session_id, kind, now)
        .map_err(|_| ApiError::internal("cannot sign an access token"))?;
    Ok(SessionGrant {
        tokens: TokenPair {
            account_id: parse_id(account_id)?,
            device_id: parse_id(device_id)?,
            access_token: access,
            expires_in: u64::try_from(state.tokens.access_ttl).unwrap_or(0),
            refresh_token: refresh.to_string(),
        },
        session_id,
        refresh_hash,
        expires_at: now + state.tokens.session_ttl,
    })
}

/// A fresh random id as text.
pub(super) fn new_id() -> Result<String, ApiError> {
    AccountId::random()
        .map(|id| id.to_string())
        .map_err(|_| ApiError::randomness(()))
}

/// `POST /v1/bootstrap`
#[utoipa::path(
    post,
    path = "/v1/bootstrap",
    tag = "setup",
    request_body = samtale_protocol::wire::BootstrapRequest,
    responses(
        (status = 201, description = "The organisation and its first admin exist; the admin is logged in.", body = samtale_protocol::wire::BootstrapResponse),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Conflict,
    )
)]
pub(super) async fn bootstrap(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<BootstrapRequest>,
) -> Result<Created<BootstrapResponse>, ApiError> {
    validate::name("organisation_name", &req.organisation_name)?;
    validate::username(&req.username)?;
    validate::name("display_name", &req.display_name)?;
    validate::password(&req.password)?;
    validate::name("device_label", &req.device_label)?;
    let code = normalise_code(&req.enrolment_code).ok_or_else(bad_enrolment_code)?;
    let code_hash = auth::code_hash(ENROLMENT_DOMAIN, &code);
    let now = state.clock.now();
    let password_hash = state.passwords.hash(&req.password).await?;
    let org = OrgRow {
        id: OrgId::random().map_err(ApiError::randomness)?.to_string(),
        name: req.organisation_name.trim().to_owned(),
        root_public_key: req.root_public_key.to_bytes().to_vec(),
    };
    let admin = AccountRow {
        id: new_id()?,
        org_id: org.id.clone(),
        kind: "staff".into(),
        username: Some(req.username.clone()),
        password_hash: Some(password_hash),
        display_name: req.display_name.trim().to_owned(),
        roles: i64::from(Roles::ADMIN.bits()),
        assurance: None,
        disabled_at: None,
        password_temporary_until: None,
    };
    if state
        .storage
        .device_by_identity(&req.device.identity.to_bytes())
        .await?
        .is_some()
    {
        return Err(device_taken());
    }
    let device_id = new_id()?;
    let grant = grant_session(&state, &admin.id, &device_id, "staff", now)?;
    let device = new_device(&device_id, &req.device, &req.device_label);
    let session = NewSession {
        id: &grant.session_id,
        refresh_hash: &grant.refresh_hash,
        expires_at: grant.expires_at,
    };
    if !state
        .storage
        .bootstrap(&code_hash, &org, &admin, &device, &session, now)
        .await?
    {
        return Err(bad_enrolment_code());
    }
    tracing::info!(org_id = %org.id, account_id = %admin.id, "organisation bootstrapped");
    state
        .record(
            crate::audit::AuditEvent::new(
                crate::audit::Action::OrganisationRegister,
                &admin.id,
                Some(&org.id),
            )
            .org(&org.id),
        )
        .await;
    Ok(Created(BootstrapResponse {
        org_id: parse_id(&org.id)?,
        root_fingerprint: org_fingerprint(&req.root_public_key),
        tokens: grant.tokens,
    }))
}

fn bad_enrolment_code() -> ApiError {
    ApiError::new(
        ErrorCode::AuthenticationFailed,
        "the enrolment code is not valid or has been used; restart the server on an empty database for a new one",
    )
}

fn device_taken() -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        "this device key is already registered; make new device keys for a new account",
    )
}

pub(super) fn new_device<'a>(
    id: &'a str,
    keys: &DevicePublicKeys,
    label: &'a str,
) -> NewDevice<'a> {
    NewDevice {
        id,
        identity_key: keys.identity.to_bytes(),
        agreement_key: keys.agreement.to_bytes(),
        label,
    }
}

/// `POST /v1/sessions`
#[utoipa::path(
    post,
    path = "/v1/sessions",
    tag = "sessions",
    request_body = samtale_protocol::wire::LoginRequest,
    responses(
        (status = 201, description = "Logged in.", body = samtale_protocol::wire::TokenPair),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Conflict,
        super::openapi::TooManyRequests,
    )
)]
pub(super) async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Created<TokenPair>, ApiError> {
    validate::name("device_label", &req.device_label)?;
    let now = state.clock.now();
    let address = state.limits.client_address(peer, &headers).to_string();
    let account_key = req.username.to_lowercase();
    let account = state.storage.staff_by_username(&req.username).await?;
    // A device this account has logged in from before has an allowance of
    // its own; new devices share the account's.
    let known = match &account {
        Some(a) => state
            .storage
            .device_by_identity(&req.device.identity.to_bytes())
            .await?
            .filter(|d| d.account_id == a.id && d.revoked_at.is_none())
            .map(|d| d.id),
        None => None,
    };
    let l = &state.limits;
    let limits = match &known {
        Some(device) => vec![
            (Scope::Address, &l.login_address, address.clone()),
            (Scope::KnownDevice, &l.login_device, device.clone()),
        ],
        None => vec![
            (Scope::Address, &l.login_address, address.clone()),
            (
                Scope::AccountAndAddress,
                &l.login_account_address,
                format!("{account_key}|{address}"),
            ),
            (Scope::Account, &l.login_account, account_key.clone()),
        ],
    };
    // Reserved before the password is checked, so concurrent guesses are
    // counted before any of them is answered.
    let reserved = match crate::limits::reserve_all(&limits, now).await {
        Ok(reserved) => reserved,
        Err((_, crate::limits::LimitError::Storage(e))) => return Err(e.into()),
        Err((scope, crate::limits::LimitError::Refused(refused))) => {
            if refused.first {
                report_limit(&state, scope, account.as_ref()).await;
            }
            return Err(ApiError::rate_limited(refused.wait, "failed logins"));
        }
    };
    let ok = state
        .passwords
        .verify(
            &req.password,
            account.as_ref().and_then(|a| a.password_hash.as_deref()),
        )
        .await;
    let account = match account {
        Some(a) if ok => a,
        _ => {
            reserved.keep();
            return Err(ApiError::new(
                ErrorCode::AuthenticationFailed,
                "the user name or password is wrong",
            ));
        }
    };
    reserved.release().await;
    if account.disabled_at.is_some() {
        return Err(ApiError::new(
            ErrorCode::AuthenticationFailed,
            "this account is disabled; ask your administrator",
        ));
    }
    let existing = state
        .storage
        .device_by_identity(&req.device.identity.to_bytes())
        .await?;
    let (device_id, is_new) = match existing {
        Some(d) if d.account_id != account.id => return Err(device_taken()),
        Some(d) if d.revoked_at.is_some() => {
            return Err(ApiError::new(
                ErrorCode::DeviceRevoked,
                "this device has been revoked; make new device keys to log in from it again",
            ));
        }
        Some(d) if d.agreement_key != req.device.agreement.to_bytes() => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "this device's agreement key differs from the one registered",
            ));
        }
        Some(d) => (d.id, false),
        None => (new_id()?, true),
    };
    settle_temporary_password(&state, &account, &req, now).await?;
    let grant = grant_session(&state, &account.id, &device_id, "staff", now)?;
    let device = new_device(&device_id, &req.device, &req.device_label);
    let session = NewSession {
        id: &grant.session_id,
        refresh_hash: &grant.refresh_hash,
        expires_at: grant.expires_at,
    };
    state
        .storage
        .open_session(&account.id, &device, is_new, &session, now)
        .await?;
    tracing::info!(account_id = %account.id, device_id, new_device = is_new, "staff logged in");
    state
        .record(crate::audit::AuditEvent::login(
            &account.id,
            &account.org_id,
            &device_id,
            "password",
            is_new,
        ))
        .await;
    Ok(Created(grant.tokens))
}

/// A login with the right password, on an account whose password is a
/// temporary one from an admin: it opens a session only together with a
/// new password of the owner's choosing (which replaces it), and only
/// before it expires. A login with an ordinary password may not carry
/// `new_password` (`POST /v1/me/password` changes it).
async fn settle_temporary_password(
    state: &AppState,
    account: &AccountRow,
    req: &LoginRequest,
    now: i64,
) -> Result<(), ApiError> {
    let Some(until) = account.password_temporary_until else {
        if req.new_password.is_some() {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "new_password is only for a temporary password from an administrator; change your password with POST /v1/me/password (`samtale password`)",
            ));
        }
        return Ok(());
    };
    if now > until {
        return Err(ApiError::new(
            ErrorCode::AuthenticationFailed,
            "this temporary password has expired; ask your administrator for a new one",
        ));
    }
    let Some(new) = req.new_password.as_deref() else {
        return Err(ApiError::new(
            ErrorCode::PasswordChangeRequired,
            "an administrator reset your password: log in again and choose a new password of your own (send it as new_password)",
        ));
    };
    validate::password(new)?;
    if new == req.password {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "choose a new password, not the temporary one",
        ));
    }
    let hash = state.passwords.hash(new).await?;
    state
        .storage
        .set_password(&account.id, &hash, None, None, now)
        .await?;
    tracing::info!(account_id = %account.id, "temporary password replaced at login");
    state
        .record(
            crate::audit::AuditEvent::new(
                crate::audit::Action::PasswordChange,
                &account.id,
                Some(&account.id),
            )
            .org(&account.org_id),
        )
        .await;
    Ok(())
}

/// `POST /v1/me/password`: a staff member changes their own password. The
/// current one is checked (and counted against the device's allowance of
/// failed logins); every other session of the account ends.
#[utoipa::path(
    post,
    path = "/v1/me/password",
    tag = "sessions",
    request_body = samtale_protocol::wire::ChangePasswordRequest,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Changed; every other session of the account has ended."),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::TooManyRequests,
    )
)]
pub(super) async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ChangePasswordRequest>,
) -> Result<NoContent, ApiError> {
    if !caller.is_staff() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "citizens have no password: they log in with eID or an invitation",
        ));
    }
    let now = state.clock.now();
    let limits = [(
        Scope::KnownDevice,
        &state.limits.login_device,
        caller.device_id.clone(),
    )];
    let reserved = match crate::limits::reserve_all(&limits, now).await {
        Ok(reserved) => reserved,
        Err((_, crate::limits::LimitError::Storage(e))) => return Err(e.into()),
        Err((scope, crate::limits::LimitError::Refused(refused))) => {
            if refused.first {
                report_limit(&state, scope, Some(&caller.account)).await;
            }
            return Err(ApiError::rate_limited(
                refused.wait,
                "failed password checks",
            ));
        }
    };
    if !state
        .passwords
        .verify(
            &req.current_password,
            caller.account.password_hash.as_deref(),
        )
        .await
    {
        reserved.keep();
        return Err(ApiError::new(
            ErrorCode::AuthenticationFailed,
            "the current password is wrong; nothing was changed",
        ));
    }
    reserved.release().await;
    validate::password(&req.new_password)?;
    if req.new_password == req.current_password {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "the new password is the same as the current one",
        ));
    }
    let hash = state.passwords.hash(&req.new_password).await?;
    state
        .storage
        .set_password(caller.id(), &hash, None, Some(&caller.session_id), now)
        .await?;
    state.relay.kill_account_except(
        caller.id(),
        &caller.session_id,
        ErrorCode::AuthenticationFailed,
    );
    tracing::info!(account_id = %caller.id(), "password changed");
    state
        .audit(
            &caller,
            crate::audit::Action::PasswordChange,
            Some(caller.id()),
            crate::audit::Detail::none(),
        )
        .await;
    Ok(NoContent)
}

/// Logs and audits the first refusal of a login limit's window (a burst of
/// failures, or someone guessing): which limit, and the account when the
/// user name is one. Never the user name or the address.
pub(super) async fn report_limit(
    state: &AppState,
    scope: crate::limits::Scope,
    account: Option<&crate::storage::accounts::AccountRow>,
) {
    tracing::warn!(
        scope = scope.as_str(),
        account_id = account.map(|a| a.id.as_str()),
        "login limit reached: further attempts are refused until the window ends"
    );
    let mut event = crate::audit::AuditEvent::new(
        crate::audit::Action::LoginLimited,
        account.map_or("unknown", |a| a.id.as_str()),
        account.map(|a| a.id.as_str()),
    )
    .detail(crate::audit::Detail::none().word("scope", scope.as_str()));
    if let Some(a) = account {
        event = event.org(&a.org_id);
    }
    state.record(event).await;
}

/// `POST /v1/sessions/refresh`
#[utoipa::path(
    post,
    path = "/v1/sessions/refresh",
    tag = "sessions",
    request_body = samtale_protocol::wire::RefreshRequest,
    responses(
        (status = 200, description = "New tokens; the presented refresh token is spent.", body = samtale_protocol::wire::TokenPair),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
    )
)]
pub(super) async fn refresh(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<RefreshRequest>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    // A browser that keeps its refresh token in the HttpOnly cookie asks
    // for it with this header (a custom header: no other site's page can
    // send it without a CORS preflight, which this server never answers).
    let cookie_mode = headers
        .get(REFRESH_COOKIE_HEADER)
        .is_some_and(|v| v.as_bytes() == b"1");
    let presented = if req.refresh_token.is_empty() && cookie_mode {
        refresh_cookie(&headers).unwrap_or_default()
    } else {
        req.refresh_token.clone()
    };
    if presented.is_empty() {
        return Err(ApiError::new(
            ErrorCode::AuthenticationFailed,
            "no refresh token was presented (in the body, or in the refresh cookie with the X-Samtale-Refresh-Cookie header); log in again",
        ));
    }
    let pair = rotate(&state, &presented).await?;
    if !cookie_mode {
        return Ok(axum::Json(pair).into_response());
    }
    let cookie = format!(
        "{REFRESH_COOKIE}={}; Path=/v1/sessions/refresh; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        pair.refresh_token, state.tokens.session_ttl
    );
    let body = TokenPair {
        refresh_token: String::new(),
        ..pair
    };
    let mut response = axum::Json(body).into_response();
    response.headers_mut().insert(
        axum::http::header::SET_COOKIE,
        axum::http::HeaderValue::from_str(&cookie)
            .map_err(|_| ApiError::internal("cannot write the refresh cookie"))?,
    );
    Ok(response)
}

/// The header a browser sends to keep its refresh token in the cookie.
pub const REFRESH_COOKIE_HEADER: &str = "x-samtale-refresh-cookie";
/// The refresh cookie's name.
pub const REFRESH_COOKIE: &str = "samtale_refresh";

/// The refresh token in the request's `samtale_refresh` cookie.
fn refresh_cookie(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == REFRESH_COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// Spends a refresh token and issues the next pair.
async fn rotate(state: &AppState, presented: &str) -> Result<TokenPair, ApiError> {
    let now = state.clock.now();
    let old_hash = auth::refresh_token_hash(presented);
    let (new_token, new_hash) = auth::new_refresh_token().map_err(ApiError::randomness)?;
    match state
        .storage
        .rotate_refresh(&old_hash, &new_hash, now)
        .await?
    {
        RefreshOutcome::Rotated {
            session_id,
            device_id,
            account_id,
        } => {
            let account = state
                .storage
                .account(&account_id)
                .await?
                .ok_or_else(|| ApiError::internal("session without account"))?;
            let access = state
                .tokens
                .issue(&account_id, &device_id, &session_id, &account.kind, now)
                .map_err(|_| ApiError::internal("cannot sign an access token"))?;
            Ok(TokenPair {
                account_id: parse_id(&account_id)?,
                device_id: parse_id(&device_id)?,
                access_token: access,
                expires_in: u64::try_from(state.tokens.access_ttl).unwrap_or(0),
                refresh_token: new_token.to_string(),
            })
        }
        RefreshOutcome::Reused => {
            tracing::warn!("a spent refresh token was presented again; its session is revoked");
            Err(ApiError::new(
                ErrorCode::AuthenticationFailed,
                "this refresh token was already used, so every session of this login has been ended for safety; log in again",
            ))
        }
        RefreshOutcome::Unknown => Err(ApiError::new(
            ErrorCode::AuthenticationFailed,
            "the refresh token is not valid or its session has ended; log in again",
        )),
    }
}

/// `DELETE /v1/sessions/current`: log out.
#[utoipa::path(
    delete,
    path = "/v1/sessions/current",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out."),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
    )
)]
pub(super) async fn logout(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    state
        .storage
        .revoke_session(&caller.session_id, state.clock.now())
        .await?;
    state
        .relay
        .kill_session(&caller.session_id, ErrorCode::AuthenticationFailed);
    // A browser's refresh cookie goes with the session.
    Ok((
        [(
            axum::http::header::SET_COOKIE,
            format!(
                "{REFRESH_COOKIE}=; Path=/v1/sessions/refresh; Max-Age=0; HttpOnly; Secure; SameSite=Strict"
            ),
        )],
        NoContent,
    ))
}

/// `GET /v1/me`
#[utoipa::path(
    get,
    path = "/v1/me",
    tag = "sessions",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Who the caller is.", body = samtale_protocol::wire::AccountInfo),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
    )
)]
pub(super) async fn me(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<AccountInfo>, ApiError> {
    let org = state
        .storage
        .organisation(caller.org_id())
        .await?
        .ok_or_else(|| ApiError::internal("account without organisation"))?;
    let root = OrgRootPublicKey::from_slice(&org.root_public_key)
        .map_err(|_| ApiError::internal("stored root key is invalid"))?;
    let teams = state.storage.teams_of(caller.id()).await?;
    let citizen = !caller.is_staff();
    let consent = if citizen {
        Some(if state.storage.consent_withdrawn(caller.id()).await? {
            ConsentState::Withdrawn
        } else {
            ConsentState::Given
        })
    } else {
        None
    };
    Ok(axum::Json(AccountInfo {
        account_id: parse_id(caller.id())?,
        org_id: parse_id(&org.id)?,
        organisation_name: org.name,
        kind: if citizen {
            AccountKind::Citizen
        } else {
            AccountKind::Staff
        },
        display_name: caller.account.display_name.clone(),
        roles: validate::roles_of(caller.roles()),
        teams: teams
            .iter()
            .map(|t| parse_id(t))
            .collect::<Result<_, _>>()?,
        assurance: caller
            .account
            .assurance
            .as_deref()
            .map(validate::assurance_from_db),
        consent,
        device_id: parse_id(&caller.device_id)?,
        root_fingerprint: org_fingerprint(&root),
        root_public_key: root,
    }))
}

/// `GET /v1/devices`: the caller's own devices.
#[utoipa::path(
    get,
    path = "/v1/devices",
    tag = "devices",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's devices.", body = [samtale_protocol::wire::DeviceInfo]),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
    )
)]
pub(super) async fn list_devices(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<Vec<DeviceInfo>>, ApiError> {
    device_infos(&state, caller.id()).await.map(axum::Json)
}

/// An account's devices as [`DeviceInfo`], oldest first.
pub(super) async fn device_infos(
    state: &AppState,
    account_id: &str,
) -> Result<Vec<DeviceInfo>, ApiError> {
    let rows = state.storage.devices_of(account_id).await?;
    let mut out = Vec::with_capacity(rows.len());
    for d in rows {
        out.push(DeviceInfo {
            device_id: parse_id(&d.id)?,
            keys: validate::device_keys_from_db(&d.identity_key, &d.agreement_key)?,
            label: d.label,
            created_at: u64::try_from(d.created_at).unwrap_or(0),
            revoked_at: d.revoked_at.and_then(|t| u64::try_from(t).ok()),
            certified: d.certificate.is_some(),
            certificate: d.certificate,
        });
    }
    Ok(out)
}

/// `DELETE /v1/devices/{device}`: revoke one of the caller's devices (a lost
/// phone, from the desktop). Its sessions end at once.
#[utoipa::path(
    delete,
    path = "/v1/devices/{device}",
    tag = "devices",
    params(("device" = String, Path, description = "A device id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked; its sessions have ended."),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn revoke_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(device): Path<String>,
) -> Result<NoContent, ApiError> {
    let device_id: DeviceId = validate::path_id(&device)?;
    let row = state
        .storage
        .device(&device_id.to_string())
        .await?
        .filter(|d| d.account_id == caller.id())
        .ok_or_else(|| ApiError::not_found("device"))?;
    revoke(&state, &caller, &row.id).await?;
    Ok(NoContent)
}

/// Revokes a device: its sessions end, its sockets close now, and every
/// key it held is due for a new epoch. Audited as the caller's act.
pub(super) async fn revoke(
    state: &AppState,
    caller: &Caller,
    device_id: &str,
) -> Result<(), ApiError> {
    state
        .storage
        .revoke_device(device_id, state.clock.now())
        .await?;
    state.relay.kill_device(device_id, ErrorCode::DeviceRevoked);
    state
        .storage
        .request_rotation_for_device(device_id, state.clock.now())
        .await?;
    state.relay.policy_changed();
    tracing::info!(account_id = %caller.id(), device_id, "device revoked");
    state
        .audit(
            caller,
            crate::audit::Action::DeviceRevoke,
            Some(device_id),
            crate::audit::Detail::none(),
        )
        .await;
    Ok(())
}

/// `PUT /v1/devices/{device}/certificate`: the organisation root's
/// certificate for a staff device, uploaded by the device's owner or an
/// admin. Checked against the organisation root before it is stored.
#[utoipa::path(
    put,
    path = "/v1/devices/{device}/certificate",
    tag = "devices",
    request_body = samtale_protocol::wire::UploadCertificate,
    params(("device" = String, Path, description = "A device id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The certificate is valid and stored."),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn upload_certificate(
    State(state): State<AppState>,
    caller: Caller,
    Path(device): Path<String>,
    ApiJson(req): ApiJson<UploadCertificate>,
) -> Result<NoContent, ApiError> {
    let device_id: DeviceId = validate::path_id(&device)?;
    let row = state
        .storage
        .device(&device_id.to_string())
        .await?
        .ok_or_else(|| ApiError::not_found("device"))?;
    let owner = state
        .storage
        .account(&row.account_id)
        .await?
        .filter(|a| a.org_id == caller.org_id())
        .ok_or_else(|| ApiError::not_found("device"))?;
    let is_admin = caller.is_staff() && caller.roles().contains(Roles::ADMIN);
    if owner.id != caller.id() && !is_admin {
        return Err(ApiError::not_found("device"));
    }
    if owner.kind != "staff" {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "only staff devices carry certificates",
        ));
    }
    let org = state
        .storage
        .organisation(caller.org_id())
        .await?
        .ok_or_else(|| ApiError::internal("account without organisation"))?;
    let root = OrgRootPublicKey::from_slice(&org.root_public_key)
        .map_err(|_| ApiError::internal("stored root key is invalid"))?;
    let cert = DeviceCertificate::decode(&req.certificate)
        .map_err(|e| ApiError::new(ErrorCode::ValidationFailed, format!("certificate: {e}")))?;
    let now = u64::try_from(state.clock.now()).unwrap_or(0);
    let body = cert.verify(&root, now).map_err(|e| {
        ApiError::new(
            ErrorCode::ValidationFailed,
            format!("certificate: {e} (is it signed by this organisation's root key?)"),
        )
    })?;
    let keys = validate::device_keys_from_db(&row.identity_key, &row.agreement_key)?;
    if body.device != keys
        || body.staff_id.to_string() != owner.id
        || body.org_id.to_string() != org.id
    {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "certificate: it certifies another device, account or organisation",
        ));
    }
    state
        .storage
        .set_certificate(&row.id, cert.as_bytes())
        .await?;
    tracing::info!(device_id = %row.id, "device certificate stored");
    state
        .audit(
            &caller,
            crate::audit::Action::DeviceCertify,
            Some(&row.id),
            crate::audit::Detail::none(),
        )
        .await;
    Ok(NoContent)
}
