//! Message templates per team ("please call me", an appointment reminder):
//! the text is sealed on a staff member's certified device to the team's
//! key, as an envelope whose thread id is the team and whose message id is
//! the template, so the server stores bytes it cannot read. It checks what
//! it can without reading them: the envelope's shape, that this device
//! signed it for this team and template, and the size; colleagues' clients
//! check the signer's certificate and team membership themselves.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::NoContent;
use samtale_protocol::wire::{ErrorCode, SaveTemplate, TeamTemplate, TemplateList};
use samtale_protocol::{Envelope, MessageId, Roles, TeamId};

use super::caller::Caller;
use super::validate::{parse_id, path_id};
use super::{ApiError, ApiJson, AppState};
use crate::audit::{Action, AuditEvent};
use crate::storage::templates::{SaveOutcome, TemplateRow};

/// The most templates a team keeps.
pub const MAX_TEMPLATES: i64 = 200;
/// The largest sealed template, in bytes.
pub const MAX_SEALED_BYTES: usize = 16 * 1024;

/// The caller's team (they must be a staff member of it), as its stored id.
async fn own_team(state: &AppState, caller: &Caller, team: &str) -> Result<String, ApiError> {
    caller.require(Roles::STAFF, "message templates")?;
    super::admin::own_team(state, caller, team).await
}

fn view(row: TemplateRow) -> Result<TeamTemplate, ApiError> {
    Ok(TeamTemplate {
        template_id: parse_id(&row.template_id)?,
        sealed: row.sealed,
        updated_at: u64::try_from(row.updated_at).unwrap_or(0),
        updated_by: parse_id(&row.updated_by)?,
        signer_certificate: row.certificate,
    })
}

/// `GET /v1/teams/{team}/templates` (staff of the team)
#[utoipa::path(
    get,
    path = "/v1/teams/{team}/templates",
    tag = "templates",
    params(("team" = String, Path, description = "A team id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The team's templates, sealed.", body = samtale_protocol::wire::TemplateList),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
    )
)]
pub(super) async fn list_templates(
    State(state): State<AppState>,
    caller: Caller,
    Path(team): Path<String>,
) -> Result<Json<TemplateList>, ApiError> {
    let team_id = own_team(&state, &caller, &team).await?;
    let templates = state
        .storage
        .templates(&team_id)
        .await?
        .into_iter()
        .map(view)
        .collect::<Result<_, _>>()?;
    Ok(Json(TemplateList { templates }))
}

/// `PUT /v1/teams/{team}/templates/{template}` (staff of the team, from a
/// certified device)
#[utoipa::path(
    put,
    path = "/v1/teams/{team}/templates/{template}",
    tag = "templates",
    params(
        ("team" = String, Path, description = "A team id (UUID)."),
        ("template" = String, Path, description = "A template id (UUID) the writer chose."),
    ),
    request_body = samtale_protocol::wire::SaveTemplate,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Saved (new or replacing the template with this id).", body = samtale_protocol::wire::TeamTemplate),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
        super::openapi::Conflict,
    )
)]
pub(super) async fn save_template(
    State(state): State<AppState>,
    caller: Caller,
    Path((team, template)): Path<(String, String)>,
    ApiJson(req): ApiJson<SaveTemplate>,
) -> Result<Json<TeamTemplate>, ApiError> {
    let team_id = own_team(&state, &caller, &team).await?;
    let template_id: MessageId = path_id(&template)?;
    let team_parsed: TeamId = parse_id(&team_id)?;
    if req.sealed.len() > MAX_SEALED_BYTES {
        return Err(ApiError::new(
            ErrorCode::TooLarge,
            format!("a sealed template is at most {MAX_SEALED_BYTES} bytes; shorten the text"),
        ));
    }
    let device = state
        .storage
        .device(&caller.device_id)
        .await?
        .ok_or_else(|| ApiError::not_found("device"))?;
    if device.certificate.is_none() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "this staff device is not certified by the organisation yet; an admin certifies it first",
        ));
    }
    let envelope = Envelope::decode(&req.sealed).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidEnvelope,
            format!("the sealed template is malformed: {e}"),
        )
    })?;
    if envelope.thread_id().to_string() != team_parsed.to_string()
        || envelope.message_id() != template_id
    {
        return Err(ApiError::new(
            ErrorCode::InvalidEnvelope,
            "the sealed template is for another team or template id",
        ));
    }
    if envelope.sender().to_bytes()[..] != device.identity_key[..] || !envelope.verify_signature() {
        return Err(ApiError::new(
            ErrorCode::InvalidEnvelope,
            "the sealed template is not signed by this device",
        ));
    }
    let now = state.clock.now();
    let event = AuditEvent::new(
        Action::TemplateSave,
        caller.id(),
        Some(&template_id.to_string()),
    )
    .org(caller.org_id())
    .device(&caller.device_id);
    let outcome = state
        .storage
        .save_template(
            &team_id,
            &template_id.to_string(),
            &req.sealed,
            caller.id(),
            &caller.device_id,
            MAX_TEMPLATES,
            &event,
            now,
            state.clock.now_ms(),
        )
        .await?;
    if outcome == SaveOutcome::Full {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!(
                "the team has {MAX_TEMPLATES} templates, the most it may keep; delete one first"
            ),
        ));
    }
    Ok(Json(TeamTemplate {
        template_id,
        sealed: req.sealed,
        updated_at: u64::try_from(now).unwrap_or(0),
        updated_by: parse_id(caller.id())?,
        signer_certificate: device.certificate,
    }))
}

/// `DELETE /v1/teams/{team}/templates/{template}` (staff of the team)
#[utoipa::path(
    delete,
    path = "/v1/teams/{team}/templates/{template}",
    tag = "templates",
    params(
        ("team" = String, Path, description = "A team id (UUID)."),
        ("template" = String, Path, description = "A template id (UUID)."),
    ),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted."),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
    )
)]
pub(super) async fn delete_template(
    State(state): State<AppState>,
    caller: Caller,
    Path((team, template)): Path<(String, String)>,
) -> Result<NoContent, ApiError> {
    let team_id = own_team(&state, &caller, &team).await?;
    let template_id: MessageId = path_id(&template)?;
    let event = AuditEvent::new(
        Action::TemplateDelete,
        caller.id(),
        Some(&template_id.to_string()),
    )
    .org(caller.org_id())
    .device(&caller.device_id);
    if state
        .storage
        .delete_template(
            &team_id,
            &template_id.to_string(),
            &event,
            state.clock.now_ms(),
        )
        .await?
    {
        Ok(NoContent)
    } else {
        Err(ApiError::not_found("template"))
    }
}
