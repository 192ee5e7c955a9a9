//! Records: a record clerk files a thread on a case ("journaled on case X
//! up to sequence N"), and an admin puts a thread on hold so that retention
//! leaves it alone. Both are audited in the same transaction.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::NoContent;
use samtale_protocol::Roles;
use samtale_protocol::wire::{ErrorCode, FileJournal, JournalList, JournalReceipt};

use super::accounts::new_id;
use super::caller::Caller;
use super::threads::{Access, visible};
use super::validate::parse_id;
use super::{ApiError, ApiJson, AppState, Created};
use crate::audit::{Action, AuditEvent, Detail};
use crate::storage::records::{JournalOutcome, JournalRow, NewJournalReceipt};

/// A case reference leaves the encrypted channel (every participant sees
/// it, the server stores it): short, printable, and nothing the
/// minimisation rules flag (a national id number, a full name).
fn check_case_ref(case_ref: &str) -> Result<&str, ApiError> {
    let case_ref = case_ref.trim();
    if case_ref.is_empty() || case_ref.chars().count() > 100 {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "case_ref: give the case number, 1 to 100 characters",
        ));
    }
    if case_ref.chars().any(char::is_control) {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "case_ref: control characters are not allowed",
        ));
    }
    if let Some(finding) = samtale_protocol::minimise::scan(case_ref).first() {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            format!(
                "case_ref: it looks like it holds personal data ({}); give the case number only",
                finding.category.explanation()
            ),
        ));
    }
    Ok(case_ref)
}

/// KLE subject numbers: "27", "27.12" or "27.12.04".
fn check_kle(kle: Option<&str>) -> Result<Option<&str>, ApiError> {
    let Some(kle) = kle else {
        return Ok(None);
    };
    let parts: Vec<&str> = kle.split('.').collect();
    let ok = parts.len() <= 3
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(Some(kle))
    } else {
        Err(ApiError::new(
            ErrorCode::ValidationFailed,
            format!("kle: expected a KLE subject number like 27.12.04, got {kle:?}"),
        ))
    }
}

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
    let case_ref = check_case_ref(&req.case_ref)?;
    let kle = check_kle(req.kle.as_deref())?;
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
    state.relay.policy.bump();
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
