//! Organisation administration: teams and staff accounts.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::NoContent;
use samtale_protocol::Roles;
use samtale_protocol::wire::{
    CreateStaffRequest, CreateTeamRequest, ErrorCode, RetentionPolicy, StaffInfo, TeamInfo,
    TemporaryPassword,
};
use samtale_protocol::{AccountId, TeamId};

use super::accounts::new_id;
use super::caller::Caller;
use super::validate::{self, parse_id, path_id};
use super::{ApiError, ApiJson, AppState, Created};
use crate::audit::{Action, AuditEvent, Detail};
use crate::storage::accounts::AccountRow;
use crate::storage::records::RetentionRow;

/// `POST /v1/teams` (admin)
#[utoipa::path(
    post,
    path = "/v1/teams",
    tag = "admin",
    request_body = samtale_protocol::wire::CreateTeamRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created. A creator who also has the staff role joins the team.", body = samtale_protocol::wire::TeamInfo, links(
            ("ListCitizens" = (operation_id = "list_citizens", parameters(("team" = "$response.body#/team_id"))))
        )),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::Conflict,
    )
)]
pub(super) async fn create_team(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateTeamRequest>,
) -> Result<Created<TeamInfo>, ApiError> {
    caller.require(Roles::ADMIN, "creating a team")?;
    validate::name("name", &req.name)?;
    let id = new_id()?;
    let name = req.name.trim();
    if !state
        .storage
        .create_team(&id, caller.org_id(), name, state.clock.now())
        .await?
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("a team called {name:?} already exists"),
        ));
    }
    // An admin who is also staff creates teams to work in: they join it.
    let mut staff = Vec::new();
    if caller.roles().contains(Roles::STAFF) {
        state
            .storage
            .add_team_member(&id, caller.id(), state.clock.now())
            .await?;
        staff.push(parse_id(caller.id())?);
    }
    tracing::info!(team_id = %id, "team created");
    state
        .audit(&caller, Action::TeamCreate, Some(&id), Detail::none())
        .await;
    let retention = state
        .storage
        .team_retention(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("team"))?;
    Ok(Created(TeamInfo {
        team_id: parse_id(&id)?,
        name: name.to_owned(),
        staff,
        retention: retention_view(retention),
    }))
}

/// `GET /v1/teams`: admins see every team of their organisation, staff the
/// teams they belong to.
#[utoipa::path(
    get,
    path = "/v1/teams",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Teams the caller may see.", body = [samtale_protocol::wire::TeamInfo]),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
    )
)]
pub(super) async fn list_teams(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TeamInfo>>, ApiError> {
    if !caller.is_staff() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "listing teams is for staff",
        ));
    }
    let all = state.storage.teams(caller.org_id()).await?;
    let mine = state.storage.teams_of(caller.id()).await?;
    let admin = caller.roles().contains(Roles::ADMIN);
    let mut out = Vec::new();
    for team in all {
        if admin || mine.contains(&team.id) {
            out.push(TeamInfo {
                team_id: parse_id(&team.id)?,
                name: team.name,
                staff: team
                    .staff
                    .iter()
                    .map(|s| parse_id(s))
                    .collect::<Result<_, _>>()?,
                retention: retention_view(team.retention),
            });
        }
    }
    Ok(Json(out))
}

/// The team, if it is in the caller's organisation.
pub(super) async fn team_in_org(
    state: &AppState,
    caller: &Caller,
    team: &str,
) -> Result<String, ApiError> {
    let team_id: TeamId = path_id(team)?;
    let team_id = team_id.to_string();
    match state.storage.team_org(&team_id).await? {
        Some(org) if org == caller.org_id() => Ok(team_id),
        _ => Err(ApiError::not_found("team")),
    }
}

/// A team of the caller's organisation that the caller belongs to, as its
/// stored id; any other is "not found" (staff of other teams learn nothing).
pub(super) async fn own_team(
    state: &AppState,
    caller: &Caller,
    team: &str,
) -> Result<String, ApiError> {
    let team_id = team_in_org(state, caller, team).await?;
    if state
        .storage
        .teams_of(caller.id())
        .await?
        .contains(&team_id)
    {
        Ok(team_id)
    } else {
        Err(ApiError::not_found("team"))
    }
}

fn retention_view(r: RetentionRow) -> RetentionPolicy {
    RetentionPolicy {
        journaled_days: u32::try_from(r.journaled_days).unwrap_or(u32::MAX),
        unjournaled_days: u32::try_from(r.unjournaled_days).unwrap_or(u32::MAX),
    }
}

/// `PUT /v1/teams/{team}/retention` (admin): how long the team's messages
/// are kept. The purge job applies it from its next run.
#[utoipa::path(
    put,
    path = "/v1/teams/{team}/retention",
    tag = "admin",
    request_body = samtale_protocol::wire::RetentionPolicy,
    params(("team" = String, Path, description = "A team id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The policy now in force.", body = samtale_protocol::wire::RetentionPolicy),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
    )
)]
pub(super) async fn set_retention(
    State(state): State<AppState>,
    caller: Caller,
    Path(team): Path<String>,
    ApiJson(req): ApiJson<RetentionPolicy>,
) -> Result<Json<RetentionPolicy>, ApiError> {
    caller.require(Roles::ADMIN, "changing a team's retention policy")?;
    let team_id = team_in_org(&state, &caller, &team).await?;
    for (name, days) in [
        ("journaled_days", req.journaled_days),
        ("unjournaled_days", req.unjournaled_days),
    ] {
        if !(1..=3650).contains(&days) {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("{name}: must be between 1 and 3650 days, got {days}"),
            ));
        }
    }
    let policy = RetentionRow {
        journaled_days: i64::from(req.journaled_days),
        unjournaled_days: i64::from(req.unjournaled_days),
    };
    let event = AuditEvent::new(Action::TeamRetentionSet, caller.id(), Some(&team_id))
        .org(caller.org_id())
        .device(&caller.device_id)
        .detail(
            Detail::none()
                .number("journaled_days", policy.journaled_days)
                .number("unjournaled_days", policy.unjournaled_days),
        );
    state
        .storage
        .set_team_retention(&team_id, policy, &event, state.clock.now_ms())
        .await?;
    tracing::info!(team_id, "retention policy changed");
    Ok(Json(req))
}

fn staff_info(row: &AccountRow, teams: Vec<String>) -> Result<StaffInfo, ApiError> {
    Ok(StaffInfo {
        account_id: parse_id(&row.id)?,
        username: row.username.clone().unwrap_or_default(),
        display_name: row.display_name.clone(),
        roles: validate::roles_of(
            u8::try_from(row.roles)
                .ok()
                .and_then(Roles::from_bits)
                .unwrap_or(Roles::empty()),
        ),
        teams: teams
            .iter()
            .map(|t| parse_id(t))
            .collect::<Result<_, _>>()?,
        disabled: row.disabled_at.is_some(),
        must_change_password: row.password_temporary_until.is_some(),
    })
}

/// `POST /v1/staff` (admin)
#[utoipa::path(
    post,
    path = "/v1/staff",
    tag = "admin",
    request_body = samtale_protocol::wire::CreateStaffRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created.", body = samtale_protocol::wire::StaffInfo),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
        super::openapi::Conflict,
    )
)]
pub(super) async fn create_staff(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateStaffRequest>,
) -> Result<Created<StaffInfo>, ApiError> {
    caller.require(Roles::ADMIN, "creating staff accounts")?;
    validate::username(&req.username)?;
    validate::name("display_name", &req.display_name)?;
    validate::password(&req.password)?;
    let roles = validate::roles_from(&req.roles)?;
    let row = AccountRow {
        id: new_id()?,
        org_id: caller.org_id().to_owned(),
        kind: "staff".into(),
        username: Some(req.username.clone()),
        password_hash: Some(state.passwords.hash(&req.password).await?),
        display_name: req.display_name.trim().to_owned(),
        roles: i64::from(roles.bits()),
        assurance: None,
        disabled_at: None,
        password_temporary_until: None,
    };
    if !state
        .storage
        .create_staff(&row, &[], state.clock.now())
        .await?
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("the user name {:?} is taken", req.username),
        ));
    }
    tracing::info!(account_id = %row.id, "staff account created");
    state
        .audit(
            &caller,
            Action::StaffCreate,
            Some(&row.id),
            crate::audit::Detail::none(),
        )
        .await;
    Ok(Created(staff_info(&row, Vec::new())?))
}

/// `GET /v1/staff` (admin)
#[utoipa::path(
    get,
    path = "/v1/staff",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The organisation's staff.", body = [samtale_protocol::wire::StaffInfo]),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
    )
)]
pub(super) async fn list_staff(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<StaffInfo>>, ApiError> {
    caller.require(Roles::ADMIN, "listing staff accounts")?;
    let mut out = Vec::new();
    for row in state.storage.staff(caller.org_id()).await? {
        let teams = state.storage.teams_of(&row.id).await?;
        out.push(staff_info(&row, teams)?);
    }
    Ok(Json(out))
}

/// A staff account of the caller's organisation by its path id, or 404.
async fn staff_of_org(
    state: &AppState,
    caller: &Caller,
    account: &str,
) -> Result<crate::storage::accounts::AccountRow, ApiError> {
    let id: AccountId = path_id(account)?;
    state
        .storage
        .account(&id.to_string())
        .await?
        .filter(|a| a.org_id == caller.org_id() && a.kind == "staff")
        .ok_or_else(|| ApiError::not_found("staff account"))
}

/// `GET /v1/staff/{account}/devices` (admin): a staff member's devices,
/// to certify the new ones with the organisation root.
#[utoipa::path(
    get,
    path = "/v1/staff/{account}/devices",
    tag = "admin",
    params(("account" = String, Path, description = "A staff account id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The staff member's devices, oldest first.", body = [samtale_protocol::wire::DeviceInfo]),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
    )
)]
pub(super) async fn staff_devices(
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
) -> Result<Json<Vec<samtale_protocol::wire::DeviceInfo>>, ApiError> {
    caller.require(Roles::ADMIN, "listing staff devices")?;
    let row = staff_of_org(&state, &caller, &account).await?;
    super::accounts::device_infos(&state, &row.id)
        .await
        .map(Json)
}

/// `POST /v1/staff/{account}/disable` (admin): the account can no longer
/// log in and every session of it ends at once.
#[utoipa::path(
    post,
    path = "/v1/staff/{account}/disable",
    tag = "admin",
    params(("account" = String, Path, description = "A staff account id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Disabled; its sessions have ended."),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
        super::openapi::Conflict,
    )
)]
pub(super) async fn disable_staff(
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
) -> Result<NoContent, ApiError> {
    caller.require(Roles::ADMIN, "disabling staff accounts")?;
    let row = staff_of_org(&state, &caller, &account).await?;
    if row.id == caller.id() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "you cannot disable your own account; ask another admin",
        ));
    }
    state
        .storage
        .disable_account(&row.id, state.clock.now())
        .await?;
    state
        .relay
        .kill_account(&row.id, ErrorCode::AuthenticationFailed);
    state
        .storage
        .request_rotation_for_account(&row.id, state.clock.now())
        .await?;
    state.relay.policy_changed();
    tracing::info!(account_id = %row.id, "staff account disabled");
    state
        .audit(
            &caller,
            Action::AccountDisable,
            Some(&row.id),
            crate::audit::Detail::none(),
        )
        .await;
    Ok(NoContent)
}

/// How long a temporary password from an admin works: long enough to reach
/// its owner by phone or in person, short enough not to linger.
pub const TEMPORARY_PASSWORD_SECONDS: i64 = 3 * 86_400;

/// Letters and digits that cannot be mistaken for one another when read
/// out or copied from paper.
const TEMPORARY_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A temporary password: four groups of four from [`TEMPORARY_ALPHABET`]
/// (about 79 bits), e.g. `k7qm-3xfa-p9wd-2rtc`.
fn temporary_password() -> Result<String, ApiError> {
    let bytes: [u8; 32] = crate::auth::random_bytes().map_err(ApiError::randomness)?;
    let mut out = String::with_capacity(19);
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - 256 % TEMPORARY_ALPHABET.len();
    for b in bytes.iter().filter(|b| usize::from(**b) < limit) {
        if out.len() == 19 {
            break;
        }
        if out.len() % 5 == 4 {
            out.push('-');
        }
        out.push(char::from(
            TEMPORARY_ALPHABET[usize::from(*b) % TEMPORARY_ALPHABET.len()],
        ));
    }
    if out.len() < 19 {
        // 32 bytes almost never leave fewer than 16 accepted; try again.
        return temporary_password();
    }
    Ok(out)
}

/// `POST /v1/staff/{account}/password` (admin): replaces a staff member's
/// password with a one-time temporary one, shown once in the answer. Every
/// session of the account ends at once; the temporary password only lets
/// its owner choose a new password at the next login, within three days.
#[utoipa::path(
    post,
    path = "/v1/staff/{account}/password",
    tag = "admin",
    params(("account" = String, Path, description = "A staff account id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Reset; hand the temporary password to its owner.", body = samtale_protocol::wire::TemporaryPassword),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
        super::openapi::Conflict,
    )
)]
pub(super) async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
) -> Result<Created<TemporaryPassword>, ApiError> {
    caller.require(Roles::ADMIN, "resetting passwords")?;
    let row = staff_of_org(&state, &caller, &account).await?;
    if row.id == caller.id() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "change your own password with `samtale password` (POST /v1/me/password)",
        ));
    }
    let password = temporary_password()?;
    let hash = state.passwords.hash(&password).await?;
    let now = state.clock.now();
    let expires_at = now + TEMPORARY_PASSWORD_SECONDS;
    state
        .storage
        .set_password(&row.id, &hash, Some(expires_at), None, now)
        .await?;
    state
        .relay
        .kill_account(&row.id, ErrorCode::AuthenticationFailed);
    tracing::info!(account_id = %row.id, "staff password reset to a temporary one");
    state
        .audit(
            &caller,
            Action::PasswordReset,
            Some(&row.id),
            Detail::none(),
        )
        .await;
    Ok(Created(TemporaryPassword {
        temporary_password: password,
        expires_at: u64::try_from(expires_at).unwrap_or(0),
    }))
}

/// `POST /v1/staff/{account}/enable` (admin): a disabled account may log in
/// again. Its revoked devices stay revoked, and its old sessions stay
/// ended: it starts with a fresh login.
#[utoipa::path(
    post,
    path = "/v1/staff/{account}/enable",
    tag = "admin",
    params(("account" = String, Path, description = "A staff account id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Enabled."),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
    )
)]
pub(super) async fn enable_staff(
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
) -> Result<NoContent, ApiError> {
    caller.require(Roles::ADMIN, "enabling staff accounts")?;
    let row = staff_of_org(&state, &caller, &account).await?;
    if row.disabled_at.is_none() {
        return Ok(NoContent);
    }
    state.storage.enable_account(&row.id).await?;
    state.relay.policy_changed();
    tracing::info!(account_id = %row.id, "staff account enabled");
    state
        .audit(
            &caller,
            Action::AccountEnable,
            Some(&row.id),
            Detail::none(),
        )
        .await;
    Ok(NoContent)
}

/// `DELETE /v1/staff/{account}/devices/{device}` (admin): revokes a staff
/// member's device that their signed device list does not name (one that
/// was never certified: a login that was not theirs, say). A listed device
/// is removed with a root-signed record on its device list instead, which
/// clients replay. Its sessions end and its sockets close at once.
#[utoipa::path(
    delete,
    path = "/v1/staff/{account}/devices/{device}",
    tag = "admin",
    params(
        ("account" = String, Path, description = "A staff account id (UUID)."),
        ("device" = String, Path, description = "A device id (UUID)."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked; its sessions have ended."),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
    )
)]
pub(super) async fn revoke_staff_device(
    State(state): State<AppState>,
    caller: Caller,
    Path((account, device)): Path<(String, String)>,
) -> Result<NoContent, ApiError> {
    caller.require(Roles::ADMIN, "revoking staff devices")?;
    let row = staff_of_org(&state, &caller, &account).await?;
    let device_id: samtale_protocol::DeviceId = path_id(&device)?;
    let device = state
        .storage
        .device(&device_id.to_string())
        .await?
        .filter(|d| d.account_id == row.id)
        .ok_or_else(|| ApiError::not_found("device"))?;
    super::accounts::revoke(&state, &caller, &device.id).await?;
    Ok(NoContent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_passwords_are_four_groups_of_four_unambiguous_characters_and_differ() {
        let a = temporary_password().expect("randomness");
        let b = temporary_password().expect("randomness");
        assert_ne!(a, b);
        for p in [&a, &b] {
            let groups: Vec<&str> = p.split('-').collect();
            assert_eq!(groups.len(), 4, "{p}");
            for g in groups {
                assert_eq!(g.len(), 4, "{p}");
                assert!(g.bytes().all(|c| TEMPORARY_ALPHABET.contains(&c)), "{p}");
            }
            assert!(
                p.chars().count() >= 12,
                "a temporary password passes the password rule"
            );
        }
    }
}
