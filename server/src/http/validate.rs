//! Field checks with messages that name the field and say what is expected.

use samtale_protocol::Roles;
use samtale_protocol::keys::{AgreementKey, DevicePublicKeys, IdentityKey};
use samtale_protocol::wire::{AssuranceLevel, ErrorCode, Role};

use super::ApiError;
use crate::auth::MIN_PASSWORD_CHARS;

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed, message)
}

/// A name or label: 1–200 characters after trimming, no control characters.
pub fn name(field: &str, value: &str) -> Result<(), ApiError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.chars().count() > 200 {
        return Err(invalid(format!("{field} must be 1 to 200 characters")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

/// A user name: 3–64 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn username(value: &str) -> Result<(), ApiError> {
    let ok = (3..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        && value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "username must be 3 to 64 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit".into(),
        ))
    }
}

/// A password: at least 12 characters, at most 1,024 bytes.
pub fn password(value: &str) -> Result<(), ApiError> {
    if value.chars().count() < MIN_PASSWORD_CHARS || value.len() > 1024 {
        return Err(invalid(format!(
            "password must be at least {MIN_PASSWORD_CHARS} characters (a passphrase of a few words is best)"
        )));
    }
    Ok(())
}

/// Parses an id stored by the server (always well formed).
pub fn parse_id<T: std::str::FromStr>(text: &str) -> Result<T, ApiError> {
    text.parse()
        .map_err(|_| ApiError::internal("stored identifier is malformed"))
}

/// Parses an id from a URL path; a malformed one is simply not found.
pub fn path_id<T: std::str::FromStr>(text: &str) -> Result<T, ApiError> {
    text.parse().map_err(|_| ApiError::not_found("object"))
}

/// The protocol's role bits as wire roles.
pub fn roles_of(roles: Roles) -> Vec<Role> {
    let mut out = Vec::new();
    if roles.contains(Roles::STAFF) {
        out.push(Role::Staff);
    }
    if roles.contains(Roles::RECORD_CLERK) {
        out.push(Role::RecordClerk);
    }
    if roles.contains(Roles::ADMIN) {
        out.push(Role::Admin);
    }
    out
}

/// Wire roles as the protocol's role bits; at least one.
pub fn roles_from(roles: &[Role]) -> Result<Roles, ApiError> {
    if roles.is_empty() {
        return Err(invalid(
            "roles must name at least one of staff, record_clerk, admin".into(),
        ));
    }
    Ok(roles.iter().fold(Roles::empty(), |acc, r| {
        acc.union(match r {
            Role::Staff => Roles::STAFF,
            Role::RecordClerk => Roles::RECORD_CLERK,
            Role::Admin => Roles::ADMIN,
        })
    }))
}

/// The stored assurance level.
pub fn assurance_from_db(text: &str) -> AssuranceLevel {
    match text {
        "low" => AssuranceLevel::Low,
        "substantial" => AssuranceLevel::Substantial,
        "high" => AssuranceLevel::High,
        _ => AssuranceLevel::Unverified,
    }
}

/// The stored form of an assurance level.
pub fn assurance_to_db(level: AssuranceLevel) -> &'static str {
    match level {
        AssuranceLevel::Unverified => "unverified",
        AssuranceLevel::Low => "low",
        AssuranceLevel::Substantial => "substantial",
        AssuranceLevel::High => "high",
    }
}

/// Device keys as stored.
pub fn device_keys_from_db(
    identity: &[u8],
    agreement: &[u8],
) -> Result<DevicePublicKeys, ApiError> {
    Ok(DevicePublicKeys {
        identity: IdentityKey::from_slice(identity)
            .map_err(|_| ApiError::internal("stored identity key is invalid"))?,
        agreement: AgreementKey::from_slice(agreement)
            .map_err(|_| ApiError::internal("stored agreement key is invalid"))?,
    })
}
