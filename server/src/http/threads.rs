//! Threads: opening them, their participants, reading their messages and
//! receipts over REST, and who may do what with them. The same access rules
//! serve the WebSocket relay.
//!
//! | caller | access |
//! | --- | --- |
//! | staff (staff role) in the thread's team | manage: read, send, add participants |
//! | a citizen taking part | write: read and send |
//! | a record clerk of the organisation | read (for journaling) |
//! | anyone else | none: the thread does not exist for them (404) |

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use samtale_protocol::membership::{Member, MembershipRecord, MembershipState, Operation};
use samtale_protocol::wire::{
    AddParticipantRequest, ConsentState, CreateThreadRequest, ErrorCode, GrantBlob, GrantList,
    MembershipBlob, MessagePage, ReceiptBlob, ReceiptList, StoredMessage, ThreadCitizen,
    ThreadDetail, ThreadKeys, ThreadList, ThreadSummary,
};
use samtale_protocol::{HolderEpoch, HolderId, IdentityKey, Roles, ThreadId};

use super::caller::{Caller, is_staff, roles_of};
use super::validate::{assurance_from_db, parse_id, path_id};
use super::{ApiError, ApiJson, AppState, Created};
use crate::storage::accounts::AccountRow;
use crate::storage::messaging::{NewThread, ThreadCitizenRow, ThreadRow};

/// The most citizens in one thread.
pub const MAX_THREAD_CITIZENS: usize = 8;
/// The most messages one REST page returns.
pub const MAX_PAGE: i64 = 500;

/// What a caller may do with a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Access {
    /// Nothing; the thread is invisible.
    None,
    /// Read messages and receipts, subscribe (record clerks).
    Read,
    /// Read and send (citizens taking part).
    Write,
    /// Read, send and add participants (staff of the team).
    Manage,
}

/// Everything a send is checked against, loaded once and cached by the
/// connection until the policy version changes.
#[derive(Debug)]
pub struct ThreadContext {
    pub thread: ThreadRow,
    pub access: Access,
    pub citizens: Vec<ThreadCitizenRow>,
    /// The holder epochs a message must be sealed to, sorted; `Err` names
    /// the holder that has no key yet.
    pub recipients: Result<Vec<HolderEpoch>, String>,
    /// The accounts that receive the thread's live traffic.
    pub audience: Arc<[String]>,
    /// The organisation's archive holder, if it has one.
    pub archive_holder: Option<String>,
}

/// Whether an account is a staff member (with the staff role) of
/// `team_id`: who manages the team's threads and holds its key.
pub async fn is_team_staff(
    state: &AppState,
    account: &AccountRow,
    team_id: &str,
) -> Result<bool, ApiError> {
    Ok(is_staff(account)
        && roles_of(account).contains(Roles::STAFF)
        && state.storage.is_team_member(team_id, &account.id).await?)
}

/// The caller's access to a loaded thread.
pub async fn access_to(
    state: &AppState,
    caller: &Caller,
    thread: &ThreadRow,
    citizens: &[ThreadCitizenRow],
) -> Result<Access, ApiError> {
    if thread.org_id != caller.org_id() {
        return Ok(Access::None);
    }
    if is_team_staff(state, &caller.account, &thread.team_id).await? {
        return Ok(Access::Manage);
    }
    if !caller.is_staff() && citizens.iter().any(|c| c.account_id == caller.id()) {
        return Ok(Access::Write);
    }
    if caller.is_staff() && caller.roles().contains(Roles::RECORD_CLERK) {
        return Ok(Access::Read);
    }
    Ok(Access::None)
}

/// Loads a thread with the caller's access; `None` when it does not exist
/// or the caller may not see it.
pub async fn thread_context(
    state: &AppState,
    caller: &Caller,
    thread_id: &str,
) -> Result<Option<ThreadContext>, ApiError> {
    let Some(thread) = state.storage.thread(thread_id).await? else {
        return Ok(None);
    };
    let citizens = state.storage.thread_citizens(thread_id).await?;
    let access = access_to(state, caller, &thread, &citizens).await?;
    if access == Access::None {
        return Ok(None);
    }
    let mut recipients = Vec::new();
    let mut missing = None;
    let mut wanted: Vec<(&str, &str, String)> = vec![
        ("team", thread.team_id.as_str(), "the team".to_string()),
        (
            "archive",
            thread.org_id.as_str(),
            "the organisation's archive".to_string(),
        ),
    ];
    // A citizen who withdrew consent leaves the recipients: what is sent
    // from then on is not sealed to her (docs/API.md, "Consent").
    for c in citizens.iter().filter(|c| !c.consent_withdrawn) {
        wanted.push(("citizen", c.account_id.as_str(), c.display_name.clone()));
    }
    let mut archive_holder = None;
    for (kind, owner, who) in wanted {
        match state.storage.latest_epoch(kind, owner).await? {
            Some((holder, epoch)) => {
                if kind == "archive" {
                    archive_holder = Some(holder.clone());
                }
                recipients.push(HolderEpoch {
                    holder: parse_id(&holder)?,
                    epoch: u32::try_from(epoch).unwrap_or(u32::MAX),
                });
            }
            None => {
                missing.get_or_insert_with(|| format!("{who} has not published a key yet"));
            }
        }
    }
    recipients.sort();
    let audience: Arc<[String]> = state.storage.thread_audience(thread_id).await?.into();
    Ok(Some(ThreadContext {
        thread,
        access,
        citizens,
        recipients: match missing {
            None => Ok(recipients),
            Some(m) => Err(m),
        },
        audience,
        archive_holder,
    }))
}

/// Loads a thread the caller may see, or answers 404.
pub(super) async fn visible(
    state: &AppState,
    caller: &Caller,
    thread: &str,
) -> Result<ThreadContext, ApiError> {
    let _: ThreadId = path_id(thread)?;
    thread_context(state, caller, thread)
        .await?
        .ok_or_else(|| ApiError::not_found("thread"))
}

pub(super) fn summary(t: &ThreadRow) -> Result<ThreadSummary, ApiError> {
    Ok(ThreadSummary {
        thread_id: parse_id(&t.id)?,
        team_id: parse_id(&t.team_id)?,
        last_seq: u64::try_from(t.last_seq).unwrap_or(0),
        last_activity_ms: u64::try_from(t.last_activity_ms).unwrap_or(0),
        journaled_up_to: t.journaled_up_to.and_then(|j| u64::try_from(j).ok()),
        journaled_case: t.journaled_case.clone(),
        journaled_at: t.journaled_at.and_then(|j| u64::try_from(j).ok()),
        on_hold: t.on_hold,
        citizens: None,
    })
}

fn citizen_view(c: &ThreadCitizenRow) -> Result<ThreadCitizen, ApiError> {
    Ok(ThreadCitizen {
        account_id: parse_id(&c.account_id)?,
        display_name: c.display_name.clone(),
        assurance: assurance_from_db(&c.assurance),
        consent: if c.consent_withdrawn {
            ConsentState::Withdrawn
        } else {
            ConsentState::Given
        },
    })
}

/// Whether a message may be sent to a thread as far as consent goes: not by
/// a citizen who withdrew hers, and not when every citizen of the thread
/// withdrew (the staff are told who). A thread whose other citizens still
/// consent goes on without the one who withdrew.
pub fn consent_allows_sending(citizens: &[ThreadCitizenRow], sender: &str) -> Result<(), ApiError> {
    if citizens
        .iter()
        .any(|c| c.account_id == sender && c.consent_withdrawn)
    {
        return Err(ApiError::new(
            ErrorCode::ConsentWithdrawn,
            "you withdrew your consent to digital messages, so you cannot send here any more; you can still read and export your conversations",
        ));
    }
    if !citizens.is_empty() && citizens.iter().all(|c| c.consent_withdrawn) {
        let names: Vec<&str> = citizens.iter().map(|c| c.display_name.as_str()).collect();
        return Err(consent_withdrawn(&names.join(" and ")));
    }
    Ok(())
}

/// The error a sender gets when a citizen of the thread withdrew consent.
pub fn consent_withdrawn(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::ConsentWithdrawn,
        format!(
            "{name} has withdrawn consent to digital messages: nothing was sent; use letter or digital post"
        ),
    )
}

/// The identity key of one of the caller's devices.
async fn device_identity(state: &AppState, device_id: &str) -> Result<IdentityKey, ApiError> {
    let device = state
        .storage
        .device(device_id)
        .await?
        .ok_or_else(|| ApiError::internal("the session's device is missing"))?;
    IdentityKey::from_slice(&device.identity_key)
        .map_err(|_| ApiError::internal("a stored device key is malformed"))
}

/// Checks a thread's participant log (log 2) against its policy, as
/// clients will: every record signed by a device certified for the staff
/// role whose account was in the team's signed member list when it signed.
async fn verify_participants(
    state: &AppState,
    org_id: &str,
    thread_id: ThreadId,
    team_id: &str,
    raw: &[Vec<u8>],
) -> Result<MembershipState, ApiError> {
    let records = super::logs::served_records(state, raw).await?;
    let dir = super::logs::team_directory(state, org_id, team_id, &records).await?;
    dir.verify_participants(thread_id, &records)
        .map_err(|e| ApiError::new(ErrorCode::ValidationFailed, format!("participants: {e}")))
}

fn decode_records(blobs: &[MembershipBlob]) -> Result<Vec<MembershipRecord>, ApiError> {
    blobs
        .iter()
        .enumerate()
        .map(|(i, b)| {
            MembershipRecord::decode(&b.record).map_err(|e| {
                ApiError::new(
                    ErrorCode::ValidationFailed,
                    format!("participants[{i}]: {e}"),
                )
            })
        })
        .collect()
}

/// `POST /v1/threads`: staff open a thread between their team and citizens.
#[utoipa::path(
    post,
    path = "/v1/threads",
    tag = "threads",
    request_body = CreateThreadRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Opened.", body = ThreadDetail),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
        super::openapi::Conflict,
    )
)]
pub(super) async fn create_thread(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateThreadRequest>,
) -> Result<Created<ThreadDetail>, ApiError> {
    let team_id = req.team_id.to_string();
    if state.storage.team_org(&team_id).await?.as_deref() != Some(caller.org_id())
        || !is_team_staff(&state, &caller.account, &team_id).await?
    {
        return Err(ApiError::not_found("team"));
    }
    if req.citizens.is_empty() || req.citizens.len() > MAX_THREAD_CITIZENS {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            format!("citizens: a thread has 1 to {MAX_THREAD_CITIZENS} citizens"),
        ));
    }
    let citizens: Vec<String> = req.citizens.iter().map(ToString::to_string).collect();
    if citizens.iter().collect::<HashSet<_>>().len() != citizens.len() {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "citizens: a citizen is listed twice",
        ));
    }
    let team_citizens = state.storage.citizens_of_team(&team_id).await?;
    for (i, c) in citizens.iter().enumerate() {
        match team_citizens.iter().find(|t| t.id == *c) {
            None => {
                return Err(ApiError::new(
                    ErrorCode::ValidationFailed,
                    format!("citizens[{i}] is not a citizen of this team"),
                ));
            }
            Some(t) if t.consent_withdrawn => return Err(consent_withdrawn(&t.display_name)),
            Some(_) => {}
        }
    }
    let Some((archive, _)) = state
        .storage
        .latest_epoch("archive", caller.org_id())
        .await?
    else {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "the organisation has no archive key yet: an admin publishes it first (every thread is journaled)",
        ));
    };
    if req.participants.len() > MAX_THREAD_CITIZENS + 2 {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "participants: too many records",
        ));
    }
    let records = decode_records(&req.participants)?;
    let me = device_identity(&state, &caller.device_id).await?;
    if records.iter().any(|r| *r.signer() != me) {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "participants: the opening records must be signed by the calling device",
        ));
    }
    let raw: Vec<Vec<u8>> = records.iter().map(|r| r.as_bytes().to_vec()).collect();
    let log = verify_participants(&state, caller.org_id(), req.thread_id, &team_id, &raw).await?;
    let archive_id: HolderId = parse_id(&archive)?;
    let mut expected: HashSet<Member> = req.citizens.iter().map(|c| Member::Citizen(*c)).collect();
    expected.insert(Member::Team(req.team_id));
    expected.insert(Member::Holder(archive_id));
    let actual: HashSet<Member> = log.members().iter().copied().collect();
    if actual != expected || records.iter().any(|r| r.operation() != Operation::Add) {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "participants: the records must add exactly the team, each citizen and the organisation's archive key",
        ));
    }
    let thread_id = req.thread_id.to_string();
    let created = state
        .storage
        .create_thread(&NewThread {
            id: &thread_id,
            org_id: caller.org_id(),
            team_id: &team_id,
            created_by: caller.id(),
            citizens: &citizens,
            records: &raw,
            now: state.clock.now(),
            now_ms: state.clock.now_ms(),
        })
        .await?;
    if !created {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "a thread with this id exists already: choose a new random id",
        ));
    }
    state.relay.policy_changed();
    tracing::info!(%thread_id, citizens = citizens.len(), "thread opened");
    state
        .audit(
            &caller,
            crate::audit::Action::ThreadCreate,
            Some(&thread_id),
            crate::audit::Detail::none().id("team", &team_id).number(
                "citizens",
                i64::try_from(citizens.len()).unwrap_or(i64::MAX),
            ),
        )
        .await;
    let ctx = visible(&state, &caller, &thread_id).await?;
    Ok(Created(detail(&state, &ctx).await?))
}

async fn detail(state: &AppState, ctx: &ThreadContext) -> Result<ThreadDetail, ApiError> {
    let records = state.storage.thread_records(&ctx.thread.id).await?;
    let removed = state.storage.removed_ranges(&ctx.thread.id).await?;
    Ok(ThreadDetail {
        removed: removed
            .into_iter()
            .map(|(from, to, reason)| samtale_protocol::wire::RemovedRange {
                from_seq: u64::try_from(from).unwrap_or(0),
                to_seq: u64::try_from(to).unwrap_or(0),
                reason,
            })
            .collect(),
        summary: summary(&ctx.thread)?,
        citizens: ctx
            .citizens
            .iter()
            .map(citizen_view)
            .collect::<Result<_, _>>()?,
        archive_holder: parse_id(
            ctx.archive_holder
                .as_deref()
                .ok_or_else(|| ApiError::internal("a thread without an archive holder"))?,
        )?,
        recipients: ctx.recipients.clone().unwrap_or_default(),
        participants: super::logs::served(state, records).await?,
    })
}

/// `GET /v1/threads`: the threads the caller may see, most recent first.
#[utoipa::path(
    get,
    path = "/v1/threads",
    tag = "threads",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Threads.", body = ThreadList),
        super::openapi::Unauthorized,
        super::openapi::ServerError,
    )
)]
pub(super) async fn list_threads(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<ThreadList>, ApiError> {
    let clerk = caller.is_staff() && caller.roles().contains(Roles::RECORD_CLERK);
    let rows = state
        .storage
        .visible_threads(caller.id(), caller.org_id(), clerk)
        .await?;
    // Staff see their teams' threads only with the staff role.
    if caller.is_staff() && !clerk && !caller.roles().contains(Roles::STAFF) {
        return Ok(Json(ThreadList {
            threads: Vec::new(),
        }));
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut citizens = state.storage.citizens_of_threads(&ids).await?;
    let mut threads = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut s = summary(row)?;
        s.citizens = Some(
            citizens
                .remove(&row.id)
                .unwrap_or_default()
                .iter()
                .map(citizen_view)
                .collect::<Result<_, _>>()?,
        );
        threads.push(s);
    }
    Ok(Json(ThreadList { threads }))
}

/// `GET /v1/threads/{thread}`: participants, recipients and the signed log.
#[utoipa::path(
    get,
    path = "/v1/threads/{thread}",
    tag = "threads",
    params(("thread" = String, Path, description = "The thread id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The thread.", body = ThreadDetail),
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn get_thread(
    State(state): State<AppState>,
    caller: Caller,
    Path(thread): Path<String>,
) -> Result<Json<ThreadDetail>, ApiError> {
    let ctx = visible(&state, &caller, &thread).await?;
    Ok(Json(detail(&state, &ctx).await?))
}

/// `POST /v1/threads/{thread}/participants`: staff add a citizen of the
/// team. The citizen reads the thread from then on (sealed to their key).
#[utoipa::path(
    post,
    path = "/v1/threads/{thread}/participants",
    tag = "threads",
    params(("thread" = String, Path, description = "The thread id.")),
    request_body = AddParticipantRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Added.", body = ThreadDetail),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
        super::openapi::Conflict,
    )
)]
pub(super) async fn add_participant(
    State(state): State<AppState>,
    caller: Caller,
    Path(thread): Path<String>,
    ApiJson(req): ApiJson<AddParticipantRequest>,
) -> Result<Json<ThreadDetail>, ApiError> {
    let ctx = visible(&state, &caller, &thread).await?;
    if ctx.access < Access::Manage {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only staff of the thread's team add participants",
        ));
    }
    let citizen = req.citizen.to_string();
    let team_citizens = state.storage.citizens_of_team(&ctx.thread.team_id).await?;
    match team_citizens.iter().find(|t| t.id == citizen) {
        None => {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "citizen: not a citizen of this thread's team",
            ));
        }
        Some(t) if t.consent_withdrawn => return Err(consent_withdrawn(&t.display_name)),
        Some(_) => {}
    }
    if ctx.citizens.iter().any(|c| c.account_id == citizen) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "this citizen already takes part",
        ));
    }
    if ctx.citizens.len() >= MAX_THREAD_CITIZENS {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            format!("a thread has at most {MAX_THREAD_CITIZENS} citizens"),
        ));
    }
    let mut raw_log = state.storage.thread_records(&ctx.thread.id).await?;
    let new = decode_records(std::slice::from_ref(&req.record))?
        .pop()
        .ok_or_else(|| ApiError::internal("decoded record vanished"))?;
    let me = device_identity(&state, &caller.device_id).await?;
    if *new.signer() != me
        || new.operation() != Operation::Add
        || *new.member() != Member::Citizen(req.citizen)
    {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "record: it must add this citizen, signed by the calling device",
        ));
    }
    let seq = i64::try_from(new.seq()).unwrap_or(i64::MAX);
    let raw = new.as_bytes().to_vec();
    raw_log.push(raw.clone());
    let thread_id: ThreadId = path_id(&thread)?;
    verify_participants(
        &state,
        caller.org_id(),
        thread_id,
        &ctx.thread.team_id,
        &raw_log,
    )
    .await?;
    if !state
        .storage
        .add_thread_citizen(&ctx.thread.id, &citizen, seq, &raw, state.clock.now())
        .await?
    {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "the participant log changed meanwhile: fetch the thread and sign the next record again",
        ));
    }
    state.relay.policy_changed();
    tracing::info!(thread_id = %ctx.thread.id, "participant added");
    state
        .audit(
            &caller,
            crate::audit::Action::ThreadCitizenAdd,
            Some(&ctx.thread.id),
            crate::audit::Detail::none().id("account", &citizen),
        )
        .await;
    let ctx = visible(&state, &caller, &thread).await?;
    Ok(Json(detail(&state, &ctx).await?))
}

/// Paging through a thread's messages.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct PageQuery {
    /// Return messages after this sequence number (default 0: from the start).
    #[param(minimum = 0)]
    after: Option<u64>,
    /// At most this many (default 100, at most 500).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
}

/// `GET /v1/threads/{thread}/messages`: stored envelopes in order.
#[utoipa::path(
    get,
    path = "/v1/threads/{thread}/messages",
    tag = "threads",
    params(("thread" = String, Path, description = "The thread id."), PageQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of messages.", body = MessagePage),
        (status = 400, description = "A query parameter is invalid.", body = samtale_protocol::wire::ErrorBody),
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(thread): Path<String>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<MessagePage>, ApiError> {
    let Query(query) = query.map_err(|_| {
        ApiError::new(
            ErrorCode::BadRequest,
            "query: `after` is a sequence number and `limit` is 1 to 500",
        )
    })?;
    let ctx = visible(&state, &caller, &thread).await?;
    let limit = i64::from(query.limit.unwrap_or(100)).clamp(1, MAX_PAGE);
    let after = i64::try_from(query.after.unwrap_or(0)).unwrap_or(i64::MAX);
    let rows = state
        .storage
        .messages_after(&ctx.thread.id, after, limit)
        .await?;
    let messages = rows
        .into_iter()
        .map(|m| {
            Ok(StoredMessage {
                seq: u64::try_from(m.seq).unwrap_or(0),
                message_id: parse_id(&m.message_id)?,
                committed_at_ms: u64::try_from(m.committed_at_ms).unwrap_or(0),
                envelope: m.envelope,
            })
        })
        .collect::<Result<_, ApiError>>()?;
    let last_seq = state
        .storage
        .thread_last_seq(&ctx.thread.id)
        .await?
        .unwrap_or(0);
    Ok(Json(MessagePage {
        messages,
        last_seq: u64::try_from(last_seq).unwrap_or(0),
    }))
}

/// `GET /v1/threads/{thread}/receipts`: each device's latest receipts.
#[utoipa::path(
    get,
    path = "/v1/threads/{thread}/receipts",
    tag = "threads",
    params(("thread" = String, Path, description = "The thread id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Receipts.", body = ReceiptList),
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn list_receipts(
    State(state): State<AppState>,
    caller: Caller,
    Path(thread): Path<String>,
) -> Result<Json<ReceiptList>, ApiError> {
    let ctx = visible(&state, &caller, &thread).await?;
    let receipts = state
        .storage
        .receipts(&ctx.thread.id)
        .await?
        .into_iter()
        .map(|receipt| ReceiptBlob { receipt })
        .collect();
    Ok(Json(ReceiptList { receipts }))
}

/// `GET /v1/threads/{thread}/keys`: the keys a message to the thread is
/// sealed to, each with its signed records.
#[utoipa::path(
    get,
    path = "/v1/threads/{thread}/keys",
    tag = "threads",
    params(("thread" = String, Path, description = "The thread id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The recipients' key holders.", body = ThreadKeys),
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn thread_keys(
    State(state): State<AppState>,
    caller: Caller,
    Path(thread): Path<String>,
) -> Result<Json<ThreadKeys>, ApiError> {
    let ctx = visible(&state, &caller, &thread).await?;
    let mut owners = vec![
        ("team", ctx.thread.team_id.clone()),
        ("archive", ctx.thread.org_id.clone()),
    ];
    owners.extend(
        ctx.citizens
            .iter()
            .map(|c| ("citizen", c.account_id.clone())),
    );
    let mut holders = Vec::new();
    for (kind, owner) in owners {
        if let Some(h) = state.storage.holder_by_owner(kind, &owner).await? {
            holders.push(super::keys::key_set(&state, &h).await?);
        }
    }
    Ok(Json(ThreadKeys { holders }))
}

/// `GET /v1/threads/{thread}/grants`: the calling device's grants for the
/// thread's holders (team, its own citizen key, archive).
#[utoipa::path(
    get,
    path = "/v1/threads/{thread}/grants",
    tag = "threads",
    params(("thread" = String, Path, description = "The thread id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Grants for this device.", body = GrantList),
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn thread_grants(
    State(state): State<AppState>,
    caller: Caller,
    Path(thread): Path<String>,
) -> Result<Json<GrantList>, ApiError> {
    let ctx = visible(&state, &caller, &thread).await?;
    let mut holders = Vec::new();
    for (kind, owner) in [
        ("team", ctx.thread.team_id.as_str()),
        ("archive", ctx.thread.org_id.as_str()),
        ("citizen", caller.id()),
    ] {
        if let Some(h) = state.storage.holder_by_owner(kind, owner).await? {
            holders.push(h.id);
        }
    }
    let mut grants = Vec::new();
    for holder in holders {
        for grant in state
            .storage
            .grants_for_device(&caller.device_id, Some(&holder))
            .await?
        {
            grants.push(GrantBlob { grant });
        }
    }
    Ok(Json(GrantList { grants }))
}

/// `GET /v1/threads/{thread}/devices`: the devices that may have written
/// to the thread, so a client can name and verify each envelope's sender.
#[utoipa::path(
    get,
    path = "/v1/threads/{thread}/devices",
    tag = "threads",
    params(("thread" = String, Path, description = "The thread id.")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Staff, citizen and past sender devices, revoked ones included.", body = samtale_protocol::wire::ThreadDevices),
        super::openapi::Unauthorized,
        super::openapi::NotFound,
    )
)]
pub(super) async fn thread_devices(
    State(state): State<AppState>,
    caller: Caller,
    Path(thread): Path<String>,
) -> Result<Json<samtale_protocol::wire::ThreadDevices>, ApiError> {
    use samtale_protocol::wire::{AccountKind, ThreadDevice};
    let ctx = visible(&state, &caller, &thread).await?;
    let mut accounts = state.storage.team_staff(&ctx.thread.team_id).await?;
    accounts.extend(ctx.citizens.iter().map(|c| c.account_id.clone()));
    accounts.extend(state.storage.thread_senders(&ctx.thread.id).await?);
    accounts.sort();
    accounts.dedup();
    let mut devices = Vec::new();
    for id in accounts {
        let Some(account) = state.storage.account(&id).await? else {
            continue;
        };
        let staff = super::caller::is_staff(&account);
        // A citizen is named as the team knows them (the invitation's
        // display name), which is what the thread's citizen list shows.
        let display_name = ctx
            .citizens
            .iter()
            .find(|c| c.account_id == id)
            .map_or_else(|| account.display_name.clone(), |c| c.display_name.clone());
        for d in state.storage.devices_of(&id).await? {
            devices.push(ThreadDevice {
                device_id: parse_id(&d.id)?,
                account_id: parse_id(&id)?,
                kind: if staff {
                    AccountKind::Staff
                } else {
                    AccountKind::Citizen
                },
                display_name: display_name.clone(),
                keys: super::validate::device_keys_from_db(&d.identity_key, &d.agreement_key)?,
                certificate: d.certificate,
                revoked_at: d.revoked_at.and_then(|t| u64::try_from(t).ok()),
            });
        }
    }
    Ok(Json(samtale_protocol::wire::ThreadDevices { devices }))
}
