//! Who is calling: the `Authorization: Bearer` access token, checked on
//! every request against the session, device and account rows, so that a
//! revoked device or a disabled account stops working at once.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use samtale_protocol::Roles;
use samtale_protocol::wire::ErrorCode;

use super::{ApiError, AppState};
use crate::auth::TokenError;
use crate::storage::accounts::AccountRow;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account.
    pub account: AccountRow,
    /// The device the token is bound to.
    pub device_id: String,
    /// The session (refresh-token family).
    pub session_id: String,
}

impl Caller {
    /// The account id.
    pub fn id(&self) -> &str {
        &self.account.id
    }

    /// The organisation.
    pub fn org_id(&self) -> &str {
        &self.account.org_id
    }

    /// Whether this is a staff account.
    pub fn is_staff(&self) -> bool {
        is_staff(&self.account)
    }

    /// The staff roles (empty for citizens).
    pub fn roles(&self) -> Roles {
        roles_of(&self.account)
    }

    /// Refuses unless the caller is staff with `role`.
    pub fn require(&self, role: Roles, what: &str) -> Result<(), ApiError> {
        if self.is_staff() && self.roles().contains(role) {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                format!("{what} needs the {} role", role_name(role)),
            ))
        }
    }
}

/// Whether an account is a staff account.
pub fn is_staff(account: &AccountRow) -> bool {
    account.kind == "staff"
}

/// An account's staff roles (empty for citizens).
pub fn roles_of(account: &AccountRow) -> Roles {
    u8::try_from(account.roles)
        .ok()
        .and_then(Roles::from_bits)
        .unwrap_or(Roles::empty())
}

fn role_name(role: Roles) -> &'static str {
    if role == Roles::ADMIN {
        "admin"
    } else if role == Roles::RECORD_CLERK {
        "record clerk"
    } else {
        "staff"
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
            ApiError::new(
                ErrorCode::NotAuthenticated,
                "this needs an access token: send `Authorization: Bearer <token>` (log in first)",
            )
        })?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::AuthenticationFailed,
                    "the Authorization header must be `Bearer <access token>`",
                )
            })?;
        let caller = authenticate(state, token).await?;
        if !caller.is_staff()
            && !read_only_allows(&parts.method, parts.uri.path())
            && state.storage.consent_withdrawn(caller.id()).await?
        {
            return Err(ApiError::new(
                ErrorCode::ConsentWithdrawn,
                "you withdrew your consent, so Samtale is read-only for you: you can still read and export what it holds about you (`samtale export`), and remove devices or log out. A new invitation from the municipality lets you write again",
            ));
        }
        Ok(caller)
    }
}

/// What a citizen who withdrew consent may still do: read (the GDPR access
/// right outlives the consent to messaging), remove things (devices, the
/// session) and withdraw again. Sending is refused per thread as well.
fn read_only_allows(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    matches!(*method, Method::GET | Method::HEAD | Method::DELETE)
        || (*method == Method::POST && path == "/v1/consent/withdraw")
}

/// Checks an access token and the session, device and account behind it.
/// Used by every REST request and by the WebSocket's authentication.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Caller, ApiError> {
    let now = state.clock.now();
    let claims = state.tokens.verify(token, now).map_err(|e| match e {
        TokenError::Expired => ApiError::new(
            ErrorCode::TokenExpired,
            "the access token has expired: refresh it with POST /v1/sessions/refresh",
        ),
        TokenError::Invalid => ApiError::new(
            ErrorCode::AuthenticationFailed,
            "the access token is not valid",
        ),
    })?;
    let check = state
        .storage
        .check_session(&claims.sid, &claims.did, now)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::AuthenticationFailed,
                "the access token is not valid",
            )
        })?;
    if check.device_revoked {
        return Err(ApiError::new(
            ErrorCode::DeviceRevoked,
            "this device has been revoked; log in again from a device you trust",
        ));
    }
    if check.account_disabled {
        return Err(ApiError::new(
            ErrorCode::AuthenticationFailed,
            "this account is disabled; ask your administrator",
        ));
    }
    if check.session_revoked || check.session_expired {
        return Err(ApiError::new(
            ErrorCode::AuthenticationFailed,
            "this session has ended; log in again",
        ));
    }
    let account = state
        .storage
        .account(&claims.sub)
        .await?
        .filter(|a| a.kind == claims.knd)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::AuthenticationFailed,
                "the access token is not valid",
            )
        })?;
    Ok(Caller {
        account,
        device_id: claims.did,
        session_id: claims.sid,
    })
}
