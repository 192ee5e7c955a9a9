//! Records: a record clerk files a thread on a case ("journaled on case X
//! up to sequence N"), and an admin puts a thread on hold so that retention
//! leaves it alone. A citizen's access export, and an admin's erasure of a
//! citizen. Each is audited (the changes in the same transaction).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::NoContent;
use samtale_protocol::wire::{
    AccessExport, AuditStatus, ConsentRecord, ErasureDone, ErrorCode, FileJournal,
    InvitationRecord, JournalList, JournalReceipt,
};
use samtale_protocol::{Roles, minimise};

use super::accounts::new_id;
use super::caller::Caller;
use super::threads::{Access, visible};
use super::validate::parse_id;
use super::{ApiError, ApiJson, AppState, Created};
use crate::audit::{Action, AuditEvent, Detail};
use crate::storage::records::{ErasureOutcome, JournalOutcome, JournalRow, NewJournalReceipt};

fn receipt_view(r: &JournalRow) -> Result<JournalReceipt, ApiError> {
    Ok(JournalReceipt {
        case_ref: r.case_ref.clone(),
        kle: r.kle.clone(),
        up_to_seq: u64::try_from(r.up_to_seq).unwrap_or(0),
        manifest_sha256: hex::encode(&r.manifest_sha256),
        clerk_account_id: parse_id(&r.clerk_account_id)?,
        clerk_device_id: parse_id(&r.clerk_device_id)?,
        journaled_at: u64::try_from(r.journaled_at).unwrap_or(0),
    })
}

/// `POST /v1/threads/{thread}/journal` (record clerk)
#[utoipa::path(
    post,
    path = "/v1/threads/{thread}/journal",
    tag = "records",
    request_body = samtale_protocol::wire::FileJournal,
    params(("thread" = String, Path, description = "A thread id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Filed: every participant now sees \"Filed on case X\".", body = samtale_protocol::wire::JournalReceipt),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
    )
)]
pub(super) async fn file_journal(
    State(state): State<AppState>,
    caller: Caller,
    Path(thread): Path<String>,
    ApiJson(req): ApiJson<FileJournal>,
) -> Result<Created<JournalReceipt>, ApiError> {
    caller.require(Roles::RECORD_CLERK, "filing a thread on a case")?;
    let ctx = visible(&state, &caller, &thread).await?;
    if ctx.access == Access::None {
        return Err(ApiError::not_found("thread"));
    }
    let invalid = |field: &str, e: minimise::CaseReferenceError| {
        ApiError::new(ErrorCode::ValidationFailed, format!("{field}: {e}"))
    };
    let case_ref =
        minimise::check_case_reference(&req.case_ref).map_err(|e| invalid("case_ref", e))?;
    let kle = req.kle.as_deref();
    if let Some(kle) = kle {
        minimise::check_kle(kle).map_err(|e| invalid("kle", e))?;
    }
    let manifest = hex::decode(&req.manifest_sha256)
        .ok()
        .filter(|m| m.len() == 32)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::ValidationFailed,
                "manifest_sha256: expected 64 hex digits (the SHA-256 of the export's manifest)",
            )
        })?;
    let up_to_seq = i64::try_from(req.up_to_seq)
        .ok()
        .filter(|s| *s >= 1)
        .ok_or_else(|| {
            ApiError::new(ErrorCode::ValidationFailed, "up_to_seq: must be at least 1")
        })?;
    let id = new_id()?;
    let now = state.clock.now();
    let event = AuditEvent::new(Action::JournalFile, caller.id(), Some(&ctx.thread.id))
        .org(caller.org_id())
        .device(&caller.device_id)
        .detail(
            Detail::none()
                .id("receipt", &id)
                .number("up_to_seq", up_to_seq),
        );
    let row = NewJournalReceipt {
        id: &id,
        thread_id: &ctx.thread.id,
        case_ref,
        kle,
        up_to_seq,
        manifest_sha256: &manifest,
        clerk_account_id: caller.id(),
        clerk_device_id: &caller.device_id,
        now,
    };
    match state
        .storage
        .file_journal(&row, &event, state.clock.now_ms())
        .await?
    {
        JournalOutcome::Filed => {}
        JournalOutcome::NoThread => return Err(ApiError::not_found("thread")),
        JournalOutcome::BeyondEnd { last_seq } => {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                format!("up_to_seq: the thread has {last_seq} messages, not {up_to_seq}"),
            ));
        }
    }
    state.relay.policy_changed();
    tracing::info!(thread_id = %ctx.thread.id, up_to_seq, "thread journaled");
    Ok(Created(receipt_view(&JournalRow {
        id,
        case_ref: case_ref.to_owned(),
        kle: kle.map(str::to_owned),
        up_to_seq,
        manifest_sha256: manifest,
        clerk_account_id: caller.id().to_owned(),
        clerk_device_id: caller.device_id.clone(),
        journaled_at: now,
    })?))
}

/// `GET /v1/threads/{thread}/journal`: every participant may see where
/// the thread was filed.
#[utoipa::path(
    get,
    path = "/v1/threads/{thread}/journal",
    tag = "records",
    params(("thread" = String, Path, description = "A thread id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Every filing, oldest first.", body = samtale_protocol::wire::JournalList),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn list_journal(
    State(state): State<AppState>,
    caller: Caller,
    Path(thread): Path<String>,
) -> Result<Json<JournalList>, ApiError> {
    let ctx = visible(&state, &caller, &thread).await?;
    let receipts = state
        .storage
        .journal_receipts(&ctx.thread.id)
        .await?
        .iter()
        .map(receipt_view)
        .collect::<Result<_, _>>()?;
    Ok(Json(JournalList { receipts }))
}

/// The thread, for an admin of its organisation.
async fn admin_thread(state: &AppState, caller: &Caller, thread: &str) -> Result<String, ApiError> {
    caller.require(Roles::ADMIN, "holding a thread")?;
    let id: samtale_protocol::ThreadId = super::validate::path_id(thread)?;
    let id = id.to_string();
    match state.storage.thread(&id).await? {
        Some(t) if t.org_id == caller.org_id() => Ok(id),
        _ => Err(ApiError::not_found("thread")),
    }
}

/// `GET /v1/holds` (admin): the organisation's threads on hold, so a hold
/// is never forgotten. Ids and times only.
#[utoipa::path(
    get,
    path = "/v1/holds",
    tag = "records",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The threads on hold, the oldest hold first.", body = Vec<samtale_protocol::wire::HoldInfo>),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
    )
)]
pub(super) async fn list_holds(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<samtale_protocol::wire::HoldInfo>>, ApiError> {
    caller.require(Roles::ADMIN, "listing holds")?;
    let rows = state.storage.holds(caller.org_id()).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (thread, team, since, by) in rows {
        out.push(samtale_protocol::wire::HoldInfo {
            thread_id: super::validate::parse_id(&thread)?,
            team_id: super::validate::parse_id(&team)?,
            since: u64::try_from(since).unwrap_or(0),
            by: by.as_deref().map(super::validate::parse_id).transpose()?,
        });
    }
    Ok(Json(out))
}

/// `GET /v1/audit/status` (admin): verifies the audit log's hash chain
/// from its first entry to its head, as `samtale-server audit verify`
/// does, for the admin's screen. Content-free like the log itself.
#[utoipa::path(
    get,
    path = "/v1/audit/status",
    tag = "records",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The chain's state now: intact or the first entry that breaks it, and its head.", body = samtale_protocol::wire::AuditStatus),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
    )
)]
pub(super) async fn audit_status(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AuditStatus>, ApiError> {
    caller.require(Roles::ADMIN, "checking the audit log")?;
    let check = crate::audit::check_storage(&state.storage, Some(caller.org_id()), |_| {}).await?;
    if let Err(e) = &check.result {
        tracing::error!(index = e.index(), "the audit log does not verify");
    }
    Ok(Json(AuditStatus {
        intact: check.result.is_ok(),
        head_index: u64::try_from(check.head_idx).unwrap_or(0),
        head_hash: hex::encode(&check.head_hash),
        broken_at: check
            .result
            .err()
            .map(|e| u64::try_from(e.index()).unwrap_or(0)),
        organisation_entries: u64::try_from(check.org_entries).unwrap_or(0),
        checked_at: u64::try_from(state.clock.now()).unwrap_or(0),
    }))
}

/// `PUT /v1/threads/{thread}/hold` (admin): retention deletes nothing of
/// the thread until the hold is released (a complaint, a court case, an
/// access request in progress).
#[utoipa::path(
    put,
    path = "/v1/threads/{thread}/hold",
    tag = "records",
    params(("thread" = String, Path, description = "A thread id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The thread is on hold (also when it was already)."),
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
    )
)]
pub(super) async fn set_hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(thread): Path<String>,
) -> Result<NoContent, ApiError> {
    hold(&state, &caller, &thread, true).await
}

/// `DELETE /v1/threads/{thread}/hold` (admin): retention applies again.
#[utoipa::path(
    delete,
    path = "/v1/threads/{thread}/hold",
    tag = "records",
    params(("thread" = String, Path, description = "A thread id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The hold is released (also when there was none)."),
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
    )
)]
pub(super) async fn release_hold(
    State(state): State<AppState>,
    caller: Caller,
    Path(thread): Path<String>,
) -> Result<NoContent, ApiError> {
    hold(&state, &caller, &thread, false).await
}

async fn hold(
    state: &AppState,
    caller: &Caller,
    thread: &str,
    on: bool,
) -> Result<NoContent, ApiError> {
    let id = admin_thread(state, caller, thread).await?;
    let action = if on {
        Action::HoldSet
    } else {
        Action::HoldRelease
    };
    let event = AuditEvent::new(action, caller.id(), Some(&id))
        .org(caller.org_id())
        .device(&caller.device_id);
    let changed = state
        .storage
        .set_hold(
            &id,
            on.then_some(caller.id()),
            &event,
            state.clock.now(),
            state.clock.now_ms(),
        )
        .await?;
    if changed {
        tracing::info!(thread_id = %id, on, "thread hold changed");
    }
    Ok(NoContent)
}

/// `GET /v1/me/export`: everything the server holds about the caller, for
/// a GDPR access request. Audited.
#[utoipa::path(
    get,
    path = "/v1/me/export",
    tag = "records",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "What the server holds about the caller. Messages are ciphertext here: the client adds them, decrypted.", body = samtale_protocol::wire::AccessExport),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
    )
)]
pub(super) async fn access_export(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<AccessExport>, ApiError> {
    let Json(account) = super::accounts::me(State(state.clone()), caller.clone()).await?;
    let rows = state.storage.access_rows(caller.id()).await?;
    let devices = super::accounts::device_infos(&state, caller.id()).await?;
    let threads = state
        .storage
        .visible_threads(caller.id(), caller.org_id(), false)
        .await?;
    let threads = if caller.is_staff() {
        Vec::new()
    } else {
        threads
            .iter()
            .map(super::threads::summary)
            .collect::<Result<_, _>>()?
    };
    let secs = |t: i64| u64::try_from(t).unwrap_or(0);
    let export = AccessExport {
        account,
        eid_issuer: rows.identity.as_ref().and_then(|(i, _)| i.clone()),
        eid_subject: rows.identity.as_ref().and_then(|(_, s)| s.clone()),
        national_id_hash_stored: rows.identity.is_some(),
        consents: rows
            .consents
            .iter()
            .map(|(version, sha, at, withdrawn)| ConsentRecord {
                version: version.clone(),
                text_sha256: sha.clone(),
                accepted_at: secs(*at),
                withdrawn_at: withdrawn.map(secs),
            })
            .collect(),
        invitations: rows
            .invitations
            .iter()
            .map(|(team, at, redeemed)| {
                Ok(InvitationRecord {
                    team_id: parse_id(team)?,
                    created_at: secs(*at),
                    redeemed_at: redeemed.map(secs),
                })
            })
            .collect::<Result<_, ApiError>>()?,
        devices,
        threads,
        exported_at: secs(state.clock.now()),
    };
    state
        .audit(
            &caller,
            Action::AccessExport,
            Some(caller.id()),
            Detail::none(),
        )
        .await;
    Ok(Json(export))
}

/// `DELETE /v1/citizens/{account}` (admin): erases a citizen (GDPR art.
/// 17) — account, national-id hash, eID link, consents, invitations,
/// devices with their keys, their messages, receipts and attachments, and
/// the threads where they were the only citizen. What records law keeps
/// lives in the case system (journal exports); the audit log keeps its
/// content-free entries. Refused while one of their threads is on hold.
#[utoipa::path(
    delete,
    path = "/v1/citizens/{account}",
    tag = "records",
    params(("account" = String, Path, description = "A citizen account id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Erased.", body = samtale_protocol::wire::ErasureDone),
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
        super::openapi::Conflict,
    )
)]
pub(super) async fn erase_citizen(
    State(state): State<AppState>,
    caller: Caller,
    Path(account): Path<String>,
) -> Result<Json<ErasureDone>, ApiError> {
    caller.require(Roles::ADMIN, "erasing a citizen")?;
    let id: samtale_protocol::AccountId = super::validate::path_id(&account)?;
    let id = id.to_string();
    let event = AuditEvent::new(Action::CitizenErase, caller.id(), Some(&id))
        .org(caller.org_id())
        .device(&caller.device_id);
    match state
        .storage
        .erase_citizen(&id, caller.org_id(), event, state.clock.now_ms())
        .await?
    {
        ErasureOutcome::NotFound => Err(ApiError::not_found("citizen")),
        ErasureOutcome::OnHold(threads) => Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "nothing was erased: the citizen's thread(s) {} are on hold; release the hold first (samtale admin hold THREAD --release)",
                threads.join(", ")
            ),
        )),
        ErasureOutcome::Erased(r) => {
            state
                .relay
                .kill_account(&id, ErrorCode::AuthenticationFailed);
            state.relay.policy_changed();
            tracing::info!(account_id = %id, "citizen erased");
            let n = |v: i64| u64::try_from(v).unwrap_or(0);
            Ok(Json(ErasureDone {
                threads_deleted: n(r.threads_deleted),
                threads_left: n(r.threads_left),
                messages_deleted: n(r.messages_deleted),
                devices_deleted: n(r.devices_deleted),
            }))
        }
    }
}
