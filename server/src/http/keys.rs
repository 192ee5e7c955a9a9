//! Key holders and grants. The server publishes holders' public keys with
//! their epochs and relays grants (private keys sealed to one device); it
//! checks every signature it can and who may publish or grant what, but it
//! never holds a private key.
//!
//! | holder | published by | may see it | entitled to its private key |
//! | --- | --- | --- | --- |
//! | team | staff of the team | members of the team | staff of the team |
//! | citizen | the citizen | the citizen, staff of their teams, citizens sharing a thread | the citizen |
//! | archive | an admin or record clerk | everyone in the organisation | admins and record clerks |

use std::collections::HashSet;

use axum::Json;
use axum::extract::{Path, Query, State};
use samtale_protocol::wire::{
    EntitledDevice, EntitledDevices, ErrorCode, GrantBlob, GrantList, GrantsStored, HolderKeyEntry,
    HolderKeySet, PublishHolderKey, UploadGrants,
};
use samtale_protocol::{Grant, HolderId, HolderKeyRecord, HolderKind, Roles};

use super::caller::{Caller, is_staff, roles_of};
use super::threads::is_team_staff;
use super::validate::{device_keys_from_db, parse_id, path_id};
use super::{ApiError, ApiJson, AppState, Created};
use crate::storage::accounts::AccountRow;
use crate::storage::messaging::{HolderRow, NewEpoch, PublishOutcome};

/// The most grants one upload may carry.
pub const MAX_GRANTS_PER_UPLOAD: usize = 256;

fn kind_to_db(kind: HolderKind) -> &'static str {
    match kind {
        HolderKind::Team => "team",
        HolderKind::Citizen => "citizen",
        HolderKind::Archive => "archive",
    }
}

fn kind_from_db(kind: &str) -> HolderKind {
    match kind {
        "team" => HolderKind::Team,
        "citizen" => HolderKind::Citizen,
        _ => HolderKind::Archive,
    }
}

fn uuid_of(bytes: &[u8; 16]) -> String {
    samtale_protocol::AccountId::from_bytes(*bytes).to_string()
}

/// Whether an account may hold (and so publish and grant) a holder's
/// private key: the one rule for publishing, granting and receiving grants.
async fn entitled(
    state: &AppState,
    account: &AccountRow,
    holder: &HolderRow,
) -> Result<bool, ApiError> {
    if holder.org_id != account.org_id {
        return Ok(false);
    }
    Ok(match holder.kind.as_str() {
        "team" => is_team_staff(state, account, &holder.owner_id).await?,
        "citizen" => !is_staff(account) && holder.owner_id == account.id,
        _ => {
            holder.owner_id == holder.org_id
                && is_staff(account)
                && (roles_of(account).contains(Roles::ADMIN)
                    || roles_of(account).contains(Roles::RECORD_CLERK))
        }
    })
}

/// Whether the caller may see the holder's public keys.
async fn may_see(state: &AppState, caller: &Caller, holder: &HolderRow) -> Result<bool, ApiError> {
    if holder.org_id != caller.org_id() {
        return Ok(false);
    }
    Ok(match holder.kind.as_str() {
        "team" => {
            state
                .storage
                .is_team_member(&holder.owner_id, caller.id())
                .await?
        }
        "citizen" => {
            holder.owner_id == caller.id()
                || (caller.is_staff()
                    && state
                        .storage
                        .staff_shares_team_with(caller.id(), &holder.owner_id)
                        .await?)
                || (!caller.is_staff()
                    && state
                        .storage
                        .share_a_thread(caller.id(), &holder.owner_id)
                        .await?)
                || (caller.is_staff() && caller.roles().contains(Roles::RECORD_CLERK))
        }
        _ => true,
    })
}

pub(super) async fn key_set(
    state: &AppState,
    holder: &HolderRow,
) -> Result<HolderKeySet, ApiError> {
    let epochs = state.storage.holder_epochs(&holder.id).await?;
    let latest = epochs.last();
    let current_epoch = latest.map_or(0, |e| u32::try_from(e.epoch).unwrap_or(u32::MAX));
    let published_at = latest.map_or(0, |e| e.published_at);
    let period = i64::from(state.key_rotation_days) * 86_400;
    let rotation_due = holder
        .rotation_requested_at
        .is_some_and(|r| r >= published_at)
        || state.clock.now() >= published_at.saturating_add(period);
    Ok(HolderKeySet {
        holder_id: parse_id(&holder.id)?,
        kind: kind_from_db(&holder.kind),
        owner: holder.owner_id.clone(),
        current_epoch,
        rotation_due,
        records: {
            let mut out = Vec::with_capacity(epochs.len());
            for e in epochs {
                let signer = HolderKeyRecord::decode_and_verify(&e.record)
                    .map_err(|_| ApiError::internal("a stored holder key record is malformed"))?;
                out.push(HolderKeyEntry {
                    signer_certificate: super::logs::signer_certificate(state, signer.signer())
                        .await?,
                    record: e.record,
                });
            }
            out
        },
    })
}

/// `PUT /v1/keys/{holder}/{epoch}`: publish a holder epoch's public key,
/// signed by the calling device. Epoch 0 creates the holder; each later
/// epoch must be the next one.
#[utoipa::path(
    put,
    path = "/v1/keys/{holder}/{epoch}",
    tag = "keys",
    params(
        ("holder" = String, Path, description = "The holder id."),
        ("epoch" = u32, Path, description = "The epoch being published."),
    ),
    request_body = PublishHolderKey,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Published.", body = HolderKeySet),
        (status = 200, description = "The same record was published before.", body = HolderKeySet),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
        super::openapi::Conflict,
    )
)]
pub(super) async fn publish_key(
    State(state): State<AppState>,
    caller: Caller,
    Path((holder, epoch)): Path<(String, String)>,
    ApiJson(req): ApiJson<PublishHolderKey>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let holder_id: HolderId = path_id(&holder)?;
    let epoch: u32 = path_id(&epoch)?;
    let record = HolderKeyRecord::decode_and_verify(&req.record)
        .map_err(|e| ApiError::new(ErrorCode::ValidationFailed, format!("record: {e}")))?;
    let key = record.key();
    let now = u64::try_from(state.clock.now()).unwrap_or(0);
    if record.created_at() > now.saturating_add(samtale_protocol::trust::CLOCK_LEEWAY_SECS) {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "record: it is dated in the future; check this device's clock",
        ));
    }
    if key.holder != holder_id || key.epoch != epoch {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "record: its holder and epoch must match the path",
        ));
    }
    let device = state
        .storage
        .device(&caller.device_id)
        .await?
        .ok_or_else(|| ApiError::internal("the session's device is missing"))?;
    if record.signer().to_bytes()[..] != device.identity_key[..] {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "record: it must be signed by the calling device",
        ));
    }
    let owner = uuid_of(record.owner());
    let kind = kind_to_db(key.kind);
    let candidate = HolderRow {
        id: holder_id.to_string(),
        org_id: caller.org_id().to_owned(),
        kind: kind.to_owned(),
        owner_id: owner.clone(),
        rotation_requested_at: None,
    };
    let allowed = entitled(&state, &caller.account, &candidate).await?;
    if !allowed {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "you may not publish keys for this owner: team keys by the team's staff, a citizen key by the citizen, the archive key by an admin or record clerk",
        ));
    }
    if let Some(existing) = state.storage.holder_by_owner(kind, &owner).await?
        && existing.id != holder_id.to_string()
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "this owner already has a {kind} key holder, {}: publish its next epoch",
                existing.id
            ),
        ));
    }
    let outcome = state
        .storage
        .publish_epoch(&NewEpoch {
            holder_id: &holder_id.to_string(),
            org_id: caller.org_id(),
            kind,
            owner_id: &owner,
            epoch: i64::from(epoch),
            public_key: &key.key.to_bytes(),
            record: record.as_bytes(),
            device_id: &caller.device_id,
            now: state.clock.now(),
        })
        .await?;
    let holder = state
        .storage
        .holder(&holder_id.to_string())
        .await?
        .ok_or_else(|| ApiError::not_found("key holder"))?;
    match outcome {
        PublishOutcome::Published => {
            state.relay.policy_changed();
            tracing::info!(holder_id = %holder.id, epoch, kind, "holder key published");
            Ok(Created(key_set(&state, &holder).await?).into_response())
        }
        PublishOutcome::AlreadyPublished => {
            Ok(Json(key_set(&state, &holder).await?).into_response())
        }
        PublishOutcome::WrongEpoch { expected } => Err(ApiError::new(
            ErrorCode::Conflict,
            format!("the next epoch of this holder is {expected}"),
        )),
        PublishOutcome::OwnerMismatch => Err(ApiError::new(
            ErrorCode::Conflict,
            "this holder id belongs to another owner or kind",
        )),
    }
}

async fn visible_holder(
    state: &AppState,
    caller: &Caller,
    holder: &str,
) -> Result<HolderRow, ApiError> {
    let _: HolderId = path_id(holder)?;
    match state.storage.holder(holder).await? {
        Some(h) if may_see(state, caller, &h).await? => Ok(h),
        _ => Err(ApiError::not_found("key holder")),
    }
}

/// `GET /v1/keys/{holder}`: a holder's published epochs.
#[utoipa::path(
    get,
    path = "/v1/keys/{holder}",
    tag = "keys",
    params(("holder" = String, Path, description = "The holder id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The holder's epochs.", body = HolderKeySet),
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn get_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(holder): Path<String>,
) -> Result<Json<HolderKeySet>, ApiError> {
    let holder = visible_holder(&state, &caller, &holder).await?;
    Ok(Json(key_set(&state, &holder).await?))
}

/// Finding a holder by what it belongs to.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct OwnerQuery {
    /// `team`, `citizen` or `archive`.
    kind: HolderKind,
    /// The team id, citizen account id or organisation id.
    #[param(value_type = samtale_protocol::AccountId)]
    owner: String,
}

/// `GET /v1/keys?kind=…&owner=…`: the holder of a team, citizen or
/// organisation.
#[utoipa::path(
    get,
    path = "/v1/keys",
    tag = "keys",
    params(OwnerQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The holder's epochs.", body = HolderKeySet),
        (status = 400, description = "A query parameter is invalid.", body = samtale_protocol::wire::ErrorBody),
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn find_key(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<OwnerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<HolderKeySet>, ApiError> {
    let Query(query) = query.map_err(|_| {
        ApiError::new(
            ErrorCode::BadRequest,
            "query: give `kind` (team, citizen or archive) and `owner` (an id)",
        )
    })?;
    let owner: samtale_protocol::AccountId = path_id(&query.owner)?;
    match state
        .storage
        .holder_by_owner(kind_to_db(query.kind), &owner.to_string())
        .await?
    {
        Some(h) if may_see(&state, &caller, &h).await? => Ok(Json(key_set(&state, &h).await?)),
        _ => Err(ApiError::not_found("key holder")),
    }
}

/// `GET /v1/keys/{holder}/devices`: the live devices entitled to the
/// holder's private key and the epochs each still lacks a grant for. Only
/// for callers who are entitled themselves (they do the granting).
#[utoipa::path(
    get,
    path = "/v1/keys/{holder}/devices",
    tag = "keys",
    params(("holder" = String, Path, description = "The holder id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Entitled devices.", body = EntitledDevices),
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn entitled_devices(
    State(state): State<AppState>,
    caller: Caller,
    Path(holder): Path<String>,
) -> Result<Json<EntitledDevices>, ApiError> {
    let holder = visible_holder(&state, &caller, &holder).await?;
    if !entitled(&state, &caller.account, &holder).await? {
        return Err(ApiError::not_found("key holder"));
    }
    let accounts = match holder.kind.as_str() {
        "team" => state.storage.team_staff(&holder.owner_id).await?,
        "citizen" => vec![holder.owner_id.clone()],
        _ => {
            let mut a = state.storage.record_clerks(&holder.org_id).await?;
            a.extend(state.storage.admins(&holder.org_id).await?);
            a.sort();
            a.dedup();
            a
        }
    };
    let epochs: Vec<i64> = state
        .storage
        .holder_epochs(&holder.id)
        .await?
        .iter()
        .map(|e| e.epoch)
        .collect();
    let granted = state.storage.granted_epochs(&holder.id).await?;
    let mut devices = Vec::new();
    for account in accounts {
        for d in state.storage.devices_of(&account).await? {
            if d.revoked_at.is_some() {
                continue;
            }
            let have = granted.get(&d.id).cloned().unwrap_or_default();
            let missing_epochs = epochs
                .iter()
                .filter(|e| !have.contains(e))
                .map(|e| u32::try_from(*e).unwrap_or(u32::MAX))
                .collect();
            devices.push(EntitledDevice {
                device_id: parse_id(&d.id)?,
                account_id: parse_id(&d.account_id)?,
                keys: device_keys_from_db(&d.identity_key, &d.agreement_key)?,
                certificate: d.certificate.clone(),
                missing_epochs,
            });
        }
    }
    Ok(Json(EntitledDevices { devices }))
}

/// `POST /v1/grants`: upload grants made by the calling device. Each must
/// carry a published holder key, be signed by the caller's device, and go
/// to a live device whose account is entitled to that holder.
#[utoipa::path(
    post,
    path = "/v1/grants",
    tag = "keys",
    request_body = UploadGrants,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Stored.", body = GrantsStored),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn upload_grants(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<UploadGrants>,
) -> Result<Json<GrantsStored>, ApiError> {
    if req.grants.is_empty() || req.grants.len() > MAX_GRANTS_PER_UPLOAD {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            format!("grants: send 1 to {MAX_GRANTS_PER_UPLOAD} grants"),
        ));
    }
    let device = state
        .storage
        .device(&caller.device_id)
        .await?
        .ok_or_else(|| ApiError::internal("the session's device is missing"))?;
    let now = state.clock.now();
    let invalid = |i: usize, why: &str| {
        ApiError::new(ErrorCode::ValidationFailed, format!("grants[{i}]: {why}"))
    };
    // Check every grant before storing any: all or nothing.
    let mut checked = Vec::with_capacity(req.grants.len());
    let mut seen = HashSet::new();
    for (i, blob) in req.grants.iter().enumerate() {
        let grant = Grant::decode(&blob.grant).map_err(|e| invalid(i, &e.to_string()))?;
        if !grant.verify_signature() {
            return Err(invalid(i, "the signature does not verify"));
        }
        if grant.granter().to_bytes()[..] != device.identity_key[..] {
            return Err(invalid(i, "it must be signed by the calling device"));
        }
        let key = grant.holder();
        let holder_id = key.holder.to_string();
        let holder = match state.storage.holder(&holder_id).await? {
            Some(h) if entitled(&state, &caller.account, &h).await? => h,
            _ => return Err(ApiError::not_found("key holder")),
        };
        let published = state
            .storage
            .holder_epochs(&holder_id)
            .await?
            .into_iter()
            .find(|e| e.epoch == i64::from(key.epoch));
        match published {
            Some(e) if e.public_key[..] == key.key.to_bytes()[..] => {}
            _ => {
                return Err(invalid(
                    i,
                    "its holder key is not the published one for that epoch",
                ));
            }
        }
        let mut recipient = None;
        for (device_id, account_id) in state
            .storage
            .devices_by_agreement_key(&grant.recipient().to_bytes())
            .await?
        {
            let Some(account) = state.storage.account(&account_id).await? else {
                continue;
            };
            if account.disabled_at.is_some() {
                continue;
            }
            if entitled(&state, &account, &holder).await? {
                recipient = Some(device_id);
                break;
            }
        }
        let Some(recipient) = recipient else {
            return Err(invalid(
                i,
                "it is not sealed to a live device whose account is entitled to this key",
            ));
        };
        if !seen.insert((recipient.clone(), holder_id.clone(), key.epoch)) {
            return Err(invalid(i, "a second grant for the same device and epoch"));
        }
        checked.push((
            recipient,
            holder_id,
            i64::from(key.epoch),
            blob.grant.clone(),
        ));
    }
    let mut stored = 0u32;
    for (recipient, holder_id, epoch, bytes) in checked {
        if state
            .storage
            .store_grant(
                &recipient,
                &holder_id,
                epoch,
                &bytes,
                &caller.device_id,
                now,
            )
            .await?
        {
            stored += 1;
        }
    }
    tracing::info!(stored, "grants stored");
    Ok(Json(GrantsStored { stored }))
}

/// Filtering the caller's grants.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct GrantQuery {
    /// Only grants for this holder.
    #[param(value_type = Option<samtale_protocol::HolderId>)]
    holder: Option<String>,
}

/// `GET /v1/grants`: the grants addressed to the calling device.
#[utoipa::path(
    get,
    path = "/v1/grants",
    tag = "keys",
    params(GrantQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Grants for this device.", body = GrantList),
        (status = 422, description = "`holder` is not a holder id.", body = samtale_protocol::wire::ErrorBody),
        (status = 400, description = "A query parameter is invalid.", body = samtale_protocol::wire::ErrorBody),
        super::openapi::Unauthorized,
    )
)]
pub(super) async fn list_grants(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<GrantQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<GrantList>, ApiError> {
    let Query(query) = query
        .map_err(|_| ApiError::new(ErrorCode::BadRequest, "query: `holder` is a holder id"))?;
    let holder = match &query.holder {
        Some(h) => Some(
            h.parse::<HolderId>()
                .map_err(|_| {
                    ApiError::new(
                        ErrorCode::ValidationFailed,
                        "query: `holder` must be a holder id (a UUID)",
                    )
                })?
                .to_string(),
        ),
        None => None,
    };
    let grants = state
        .storage
        .grants_for_device(&caller.device_id, holder.as_deref())
        .await?
        .into_iter()
        .map(|grant| GrantBlob { grant })
        .collect();
    Ok(Json(GrantList { grants }))
}
