//! Signed membership logs (PROTOCOL.md §7): a team's member list (log 1)
//! and an account's device list (log 3). The server checks each appended
//! record against its log's policy with the protocol's
//! [`samtale_protocol::trust::Directory`] (the same rules clients apply, so
//! a mistaken record is refused with a clear error instead of breaking
//! every client's replay) and serves the records as they were signed, each
//! with its signer's certificate. Clients never take these lists on the
//! server's word: they replay them, and what the server's own tables say
//! (team membership, revoked devices) follows the logs.
//!
//! | log | who may append | who may read |
//! | --- | --- | --- |
//! | team members | admins (signed by the root or an admin device) | every account of the organisation |
//! | devices | the account itself; admins (staff lists; removals from citizen lists) | every account of the organisation |

use axum::extract::{Path, State};
use samtale_protocol::membership::{LogKind, Member, MembershipRecord, Operation};
use samtale_protocol::trust::{Directory, Served};
use samtale_protocol::wire::{AppendRecord, ErrorCode, LogRecord, SignedLog};
use samtale_protocol::{
    AccountId, DeviceCertificate, IdentityKey, OrgId, OrgRootPublicKey, Roles, TeamId,
};

use super::admin::team_in_org;
use super::caller::Caller;
use super::validate::{parse_id, path_id};
use super::{ApiError, ApiJson, AppState, Created};
use crate::audit::{Action, AuditEvent, Detail};
use crate::storage::accounts::AccountRow;
use crate::storage::logs::{AppendOutcome, DEVICE_LOG, LogEffect, TEAM_LOG};

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed, message)
}

/// The certificate of the device that signed with `signer`, if it is a
/// staff device with one.
pub(super) async fn signer_certificate(
    state: &AppState,
    signer: &IdentityKey,
) -> Result<Option<Vec<u8>>, ApiError> {
    Ok(state
        .storage
        .device_by_identity(&signer.to_bytes())
        .await?
        .and_then(|d| d.certificate))
}

/// Stored records as served: each with its signer's certificate.
pub(super) async fn served(
    state: &AppState,
    records: Vec<Vec<u8>>,
) -> Result<Vec<LogRecord>, ApiError> {
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        let decoded = MembershipRecord::decode(&record)
            .map_err(|_| ApiError::internal("a stored membership record is malformed"))?;
        out.push(LogRecord {
            signer_certificate: signer_certificate(state, decoded.signer()).await?,
            record,
        });
    }
    Ok(out)
}

/// A whole stored log as served.
async fn signed_log(state: &AppState, log: i64, subject: &str) -> Result<SignedLog, ApiError> {
    let records = state.storage.log_records(log, subject).await?;
    Ok(SignedLog {
        records: served(state, records).await?,
    })
}

/// The organisation's root key and id.
async fn org_root(state: &AppState, org_id: &str) -> Result<(OrgRootPublicKey, OrgId), ApiError> {
    let org = state
        .storage
        .organisation(org_id)
        .await?
        .ok_or_else(|| ApiError::internal("account without organisation"))?;
    let root = OrgRootPublicKey::from_slice(&org.root_public_key)
        .map_err(|_| ApiError::internal("stored root key is invalid"))?;
    Ok((root, parse_id(&org.id)?))
}

/// A directory with the device lists of every staff account whose
/// certificate is among `certificates` (what checking their records needs).
pub(super) async fn directory_for<'a>(
    state: &AppState,
    org_id: &str,
    certificates: impl IntoIterator<Item = &'a DeviceCertificate>,
) -> Result<Directory, ApiError> {
    let (root, org) = org_root(state, org_id).await?;
    let mut dir = Directory::new(root, org);
    for account in Directory::accounts_certified(certificates) {
        let records = decoded(
            &state
                .storage
                .log_records(DEVICE_LOG, &account.to_string())
                .await?,
        )?;
        dir.add_staff_device_log(account, &records).map_err(|e| {
            tracing::error!(error = %e, "a stored staff device list does not verify");
            ApiError::internal("a stored device list does not verify")
        })?;
    }
    Ok(dir)
}

fn decoded(records: &[Vec<u8>]) -> Result<Vec<MembershipRecord>, ApiError> {
    records
        .iter()
        .map(|r| {
            MembershipRecord::decode(r)
                .map_err(|_| ApiError::internal("a stored membership record is malformed"))
        })
        .collect()
}

/// Records decoded with their signers' certificates (stored records, or
/// a new one whose signer's certificate the server holds).
pub(super) async fn served_records(
    state: &AppState,
    records: &[Vec<u8>],
) -> Result<Vec<Served<MembershipRecord>>, ApiError> {
    let mut out = Vec::with_capacity(records.len());
    for raw in records {
        let record = MembershipRecord::decode(raw).map_err(|e| invalid(format!("record: {e}")))?;
        let certificate = match signer_certificate(state, record.signer()).await? {
            Some(c) => Some(
                DeviceCertificate::decode(&c)
                    .map_err(|_| ApiError::internal("a stored certificate is malformed"))?,
            ),
            None => None,
        };
        out.push(Served::new(record, certificate));
    }
    Ok(out)
}

/// A stored log and a new record, decoded with their signers' certificates.
async fn with_new_record(
    state: &AppState,
    mut stored: Vec<Vec<u8>>,
    new: &MembershipRecord,
) -> Result<Vec<Served<MembershipRecord>>, ApiError> {
    stored.push(new.as_bytes().to_vec());
    served_records(state, &stored).await
}

/// A directory holding `team`'s verified member list (and the device lists
/// of the admins who signed it) plus the device lists that checking
/// `others` needs: what a thread's participant list is checked against.
pub(super) async fn team_directory(
    state: &AppState,
    org_id: &str,
    team_id: &str,
    others: &[Served<MembershipRecord>],
) -> Result<Directory, ApiError> {
    let team: TeamId = parse_id(team_id)?;
    let team_log =
        served_records(state, &state.storage.log_records(TEAM_LOG, team_id).await?).await?;
    let mut dir = directory_for(
        state,
        org_id,
        team_log
            .iter()
            .chain(others)
            .filter_map(|s| s.certificate.as_ref()),
    )
    .await?;
    dir.add_team_log(team, &team_log).map_err(|e| {
        tracing::error!(error = %e, "a stored team member list does not verify");
        ApiError::internal("a stored team member list does not verify")
    })?;
    Ok(dir)
}

fn decode_new(
    req: &AppendRecord,
    log: LogKind,
    subject: &[u8; 16],
) -> Result<MembershipRecord, ApiError> {
    let record =
        MembershipRecord::decode(&req.record).map_err(|e| invalid(format!("record: {e}")))?;
    if record.log() != log {
        return Err(invalid(format!(
            "record: it belongs to another log than the {}",
            log.describe()
        )));
    }
    if record.subject() != subject {
        return Err(invalid(
            "record: it is for another subject than the path names",
        ));
    }
    Ok(record)
}

/// Refuses a record dated too far in the server's future.
fn check_time(state: &AppState, record: &MembershipRecord) -> Result<(), ApiError> {
    let now = u64::try_from(state.clock.now()).unwrap_or(0);
    if record.issued_at() > now.saturating_add(samtale_protocol::trust::CLOCK_LEEWAY_SECS) {
        return Err(invalid(
            "record: it is dated in the future; check this device's clock",
        ));
    }
    Ok(())
}

fn stale(next_seq: i64) -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        format!(
            "the log changed meanwhile (its next record is number {next_seq}): fetch it and sign the next record again"
        ),
    )
}

/// `GET /v1/teams/{team}/member-log`: the team's signed member list.
#[utoipa::path(
    get,
    path = "/v1/teams/{team}/member-log",
    tag = "logs",
    params(("team" = String, Path, description = "A team id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every record, in order, with its signer's certificate.", body = SignedLog),
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn team_log(
    State(state): State<AppState>,
    caller: Caller,
    Path(team): Path<String>,
) -> Result<axum::Json<SignedLog>, ApiError> {
    let team_id = team_in_org(&state, &caller, &team).await?;
    Ok(axum::Json(signed_log(&state, TEAM_LOG, &team_id).await?))
}

/// `POST /v1/teams/{team}/member-log` (admin): a staff member joins or
/// leaves the team, by a record signed by the organisation root or an
/// admin's certified device.
#[utoipa::path(
    post,
    path = "/v1/teams/{team}/member-log",
    tag = "logs",
    request_body = AppendRecord,
    params(("team" = String, Path, description = "A team id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Appended; the whole log.", body = SignedLog),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
        super::openapi::Conflict,
    )
)]
pub(super) async fn append_team_log(
    State(state): State<AppState>,
    caller: Caller,
    Path(team): Path<String>,
    ApiJson(req): ApiJson<AppendRecord>,
) -> Result<Created<SignedLog>, ApiError> {
    caller.require(Roles::ADMIN, "changing a team")?;
    let team_id = team_in_org(&state, &caller, &team).await?;
    let team: TeamId = parse_id(&team_id)?;
    let record = decode_new(&req, LogKind::TeamMembers, team.as_bytes())?;
    check_time(&state, &record)?;
    let Member::Staff(account) = *record.member() else {
        return Err(invalid("record: a team's member list names staff accounts"));
    };
    let account_id = account.to_string();
    let member = state
        .storage
        .account(&account_id)
        .await?
        .filter(|a| a.org_id == caller.org_id() && a.kind == "staff")
        .ok_or_else(|| ApiError::not_found("staff account"))?;
    if record.operation() == Operation::Add && member.disabled_at.is_some() {
        return Err(invalid("record: a disabled account cannot join a team"));
    }
    let stored = state.storage.log_records(TEAM_LOG, &team_id).await?;
    let all = with_new_record(&state, stored, &record).await?;
    let mut dir = directory_for(
        &state,
        caller.org_id(),
        all.iter().filter_map(|s| s.certificate.as_ref()),
    )
    .await?;
    dir.add_team_log(team, &all)
        .map_err(|e| invalid(format!("record: {e}")))?;
    let (effect, action) = match record.operation() {
        Operation::Add => (
            LogEffect::TeamAdd {
                team_id: &team_id,
                account_id: &member.id,
            },
            Action::TeamMemberAdd,
        ),
        _ => (
            LogEffect::TeamRemove {
                team_id: &team_id,
                account_id: &member.id,
            },
            Action::TeamMemberRemove,
        ),
    };
    let event = AuditEvent::new(action, caller.id(), Some(&team_id))
        .org(caller.org_id())
        .device(&caller.device_id)
        .detail(Detail::none().id("account", &member.id));
    append(&state, TEAM_LOG, &team_id, &record, effect, &event).await?;
    if record.operation() != Operation::Add {
        // Their open pages and chats lose the team's threads at once: the
        // sockets close with 4007 (forbidden) and reconnect to what the
        // account may still see.
        state.relay.kill_account(&member.id, ErrorCode::Forbidden);
    }
    tracing::info!(team_id, account_id = %member.id, %action, "team member list changed");
    Ok(Created(signed_log(&state, TEAM_LOG, &team_id).await?))
}

async fn append(
    state: &AppState,
    log: i64,
    subject: &str,
    record: &MembershipRecord,
    effect: LogEffect<'_>,
    event: &AuditEvent,
) -> Result<(), ApiError> {
    let seq = i64::try_from(record.seq()).map_err(|_| stale(0))?;
    match state
        .storage
        .append_log_record(
            log,
            subject,
            seq,
            record.as_bytes(),
            effect,
            std::slice::from_ref(event),
            state.clock.now(),
            state.clock.now_ms(),
        )
        .await?
    {
        AppendOutcome::Appended => {
            state.relay.policy_changed();
            Ok(())
        }
        AppendOutcome::Stale { next_seq } => Err(stale(next_seq)),
    }
}

/// The account at `account` if it is in the caller's organisation.
async fn account_in_org(
    state: &AppState,
    caller: &Caller,
    account: &str,
) -> Result<AccountRow, ApiError> {
    let id: AccountId = path_id(account)?;
    state
        .storage
        .account(&id.to_string())
        .await?
        .filter(|a| a.org_id == caller.org_id())
        .ok_or_else(|| ApiError::not_found("account"))
}

/// `GET /v1/accounts/{account}/device-log`: the account's signed device list.
#[utoipa::path(
    get,
    path = "/v1/accounts/{account}/device-log",
    tag = "logs",
    params(("account" = String, Path, description = "An account id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every record, in order, with its signer's certificate.", body = SignedLog),
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn device_log(
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
) -> Result<axum::Json<SignedLog>, ApiError> {
    let account = account_in_org(&state, &caller, &account).await?;
    Ok(axum::Json(
        signed_log(&state, DEVICE_LOG, &account.id).await?,
    ))
}

/// `POST /v1/accounts/{account}/device-log`: a device joins the account's
/// list (approved on another of its devices; for staff, by the root), leaves
/// it (revoked at once), or — citizens only, from the new device itself —
/// the list is reset to that device alone.
#[utoipa::path(
    post,
    path = "/v1/accounts/{account}/device-log",
    tag = "logs",
    request_body = AppendRecord,
    params(("account" = String, Path, description = "An account id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Appended; the whole log.", body = SignedLog),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
        super::openapi::Conflict,
    )
)]
pub(super) async fn append_device_log(
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
    ApiJson(req): ApiJson<AppendRecord>,
) -> Result<Created<SignedLog>, ApiError> {
    let owner = account_in_org(&state, &caller, &account).await?;
    let is_admin = caller.is_staff() && caller.roles().contains(Roles::ADMIN);
    if owner.id != caller.id() && !is_admin {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only the account itself or an admin changes its device list",
        ));
    }
    let account: AccountId = parse_id(&owner.id)?;
    let record = decode_new(&req, LogKind::DeviceList, account.as_bytes())?;
    check_time(&state, &record)?;
    let Member::Device(keys) = *record.member() else {
        return Err(invalid("record: a device list names devices"));
    };
    let device = state
        .storage
        .device_by_identity(&keys.identity.to_bytes())
        .await?
        .filter(|d| d.account_id == owner.id)
        .ok_or_else(|| ApiError::not_found("device of this account"))?;
    if device.agreement_key != keys.agreement.to_bytes() {
        return Err(invalid(
            "record: it names another agreement key than the device registered",
        ));
    }
    if record.operation() != Operation::Remove && device.revoked_at.is_some() {
        return Err(invalid("record: the device has been revoked"));
    }
    if record.operation() == Operation::Reset && device.id != caller.device_id {
        return Err(invalid(
            "record: a device list is reset only from the device that stays in it",
        ));
    }
    let stored = state.storage.log_records(DEVICE_LOG, &owner.id).await?;
    let all = with_new_record(&state, stored, &record).await?;
    let mut dir = directory_for(
        &state,
        caller.org_id(),
        all.iter().filter_map(|s| s.certificate.as_ref()),
    )
    .await?;
    let verified = if owner.kind == "staff" {
        let records: Vec<MembershipRecord> = all.into_iter().map(|s| s.record).collect();
        dir.add_staff_device_log(account, &records).map(|_| ())
    } else {
        dir.add_citizen_device_log(account, &all).map(|_| ())
    };
    verified.map_err(|e| invalid(format!("record: {e}")))?;
    let (effect, action) = match record.operation() {
        Operation::Add => (LogEffect::DeviceAdd, Action::DeviceApprove),
        Operation::Remove => (
            LogEffect::DeviceRemove {
                device_id: &device.id,
            },
            Action::DeviceRevoke,
        ),
        Operation::Reset => (
            LogEffect::DeviceReset {
                account_id: &owner.id,
                keep: &device.id,
            },
            Action::DeviceListReset,
        ),
    };
    let before: Vec<String> = state
        .storage
        .devices_of(&owner.id)
        .await?
        .into_iter()
        .filter(|d| d.revoked_at.is_none())
        .map(|d| d.id)
        .collect();
    let event = AuditEvent::new(action, caller.id(), Some(&device.id))
        .org(caller.org_id())
        .device(&caller.device_id)
        .detail(Detail::none().id("account", &owner.id));
    append(&state, DEVICE_LOG, &owner.id, &record, effect, &event).await?;
    // Revoked devices' sockets close now.
    for id in before {
        let revoked = match effect {
            LogEffect::DeviceRemove { device_id } => id == device_id,
            LogEffect::DeviceReset { keep, .. } => id != keep,
            _ => false,
        };
        if revoked {
            state.relay.kill_device(&id, ErrorCode::DeviceRevoked);
        }
    }
    tracing::info!(account_id = %owner.id, device_id = %device.id, %action, "device list changed");
    Ok(Created(signed_log(&state, DEVICE_LOG, &owner.id).await?))
}
