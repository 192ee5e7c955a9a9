//! The OpenAPI 3.1 description of the REST API, generated from the handlers'
//! annotations and the protocol crate's wire types, served at
//! `GET /openapi.json`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use samtale_protocol::wire::ErrorBody;

use super::{
    accounts, admin, attachments, citizens, eid_flows, keys, logs, records, templates, threads,
};

/// The errors of any endpoint that takes a JSON body.
#[derive(utoipa::IntoResponses)]
pub enum BodyErrors {
    /// The body is not JSON, or not sent as `application/json`.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// The body is larger than 256 KiB.
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// A field is missing, unknown or invalid; the message names it.
    #[response(status = 422)]
    Invalid(ErrorBody),
    /// Something failed on the server; nothing was changed.
    #[response(status = 500)]
    Internal(ErrorBody),
}

/// Something failed on the server; nothing was changed.
#[derive(utoipa::IntoResponses)]
#[response(status = 500)]
pub struct ServerError(pub ErrorBody);

/// Not authenticated, or the credentials or token were refused.
#[derive(utoipa::IntoResponses)]
#[response(status = 401)]
pub struct Unauthorized(pub ErrorBody);

/// The caller's role may not do this.
#[derive(utoipa::IntoResponses)]
#[response(status = 403)]
pub struct Forbidden(pub ErrorBody);

/// No such object, or the caller may not see it.
#[derive(utoipa::IntoResponses)]
#[response(status = 404)]
pub struct NotFound(pub ErrorBody);

/// Conflicts with existing state; the message says which.
#[derive(utoipa::IntoResponses)]
#[response(status = 409)]
pub struct Conflict(pub ErrorBody);

/// The server cannot do it now (a service it needs is unreachable).
#[derive(utoipa::IntoResponses)]
#[response(status = 503)]
pub struct Unavailable(pub ErrorBody);

/// Too many attempts: wait for `Retry-After` seconds.
#[derive(utoipa::IntoResponses)]
#[response(status = 429, headers(("Retry-After" = u64, description = "Seconds to wait.")))]
pub struct TooManyRequests(pub ErrorBody);

/// The API description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Samtale",
        description = "End-to-end encrypted messaging between municipal staff and citizens. \
                       The server relays and stores ciphertext only. See docs/API.md and docs/PROTOCOL.md.",
        license(name = "AGPL-3.0-or-later")
    ),
    paths(
        super::healthz,
        super::readyz,
        accounts::bootstrap,
        accounts::login,
        accounts::refresh,
        accounts::logout,
        accounts::me,
        accounts::change_password,
        accounts::list_devices,
        accounts::revoke_device,
        accounts::upload_certificate,
        admin::create_team,
        admin::list_teams,
        admin::set_retention,
        logs::team_log,
        logs::append_team_log,
        logs::device_log,
        logs::append_device_log,
        admin::create_staff,
        admin::list_staff,
        admin::disable_staff,
        admin::enable_staff,
        admin::reset_password,
        admin::staff_devices,
        admin::revoke_staff_device,
        citizens::create_invitation,
        citizens::list_invitations,
        citizens::revoke_invitation,
        citizens::preview_invitation,
        citizens::signup,
        citizens::eid_login,
        citizens::get_consent,
        citizens::eid_providers,
        eid_flows::start_flow,
        eid_flows::callback,
        citizens::withdraw_consent,
        citizens::list_citizens,
        templates::list_templates,
        templates::save_template,
        templates::delete_template,
        keys::publish_key,
        keys::get_key,
        keys::find_key,
        keys::entitled_devices,
        keys::upload_grants,
        keys::list_grants,
        threads::create_thread,
        threads::list_threads,
        threads::get_thread,
        threads::add_participant,
        threads::list_messages,
        threads::list_receipts,
        threads::thread_grants,
        threads::thread_keys,
        threads::thread_devices,
        records::file_journal,
        records::list_journal,
        records::audit_status,
        records::set_hold,
        records::release_hold,
        records::list_holds,
        records::access_export,
        records::erase_citizen,
        attachments::upload,
        attachments::download,
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "health", description = "Liveness and readiness."),
        (name = "setup", description = "Registering the organisation."),
        (name = "sessions", description = "Logging in, refreshing, logging out."),
        (name = "devices", description = "A caller's devices and staff device certificates."),
        (name = "admin", description = "Teams and staff accounts."),
        (name = "citizens", description = "Invitations, sign-up, consent."),
        (name = "keys", description = "Key holders' public keys and grants of their private keys."),
        (name = "logs", description = "Signed membership logs clients replay: teams' member lists and accounts' device lists."),
        (name = "threads", description = "Threads, their participants, stored messages, receipts and attachments. Live traffic goes over the WebSocket at /ws."),
        (name = "records", description = "Filing threads on cases (journal receipts) and holds against retention."),
        (name = "templates", description = "Message templates per team, sealed to the team key on a staff device: opaque to the server."),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from POST /v1/sessions, /v1/signup or /v1/bootstrap.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The document as JSON. utoipa 5.5 writes a link's `operationId` and
/// `operationRef` in snake case; they are renamed here to the names
/// OpenAPI 3.1 §4.8.20 defines, so tools can follow the links.
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    if let Some(paths) = doc
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
    {
        for operation in paths
            .values_mut()
            .filter_map(serde_json::Value::as_object_mut)
        {
            for op in operation.values_mut() {
                let Some(responses) = op
                    .get_mut("responses")
                    .and_then(serde_json::Value::as_object_mut)
                else {
                    continue;
                };
                for response in responses.values_mut() {
                    let Some(links) = response
                        .get_mut("links")
                        .and_then(serde_json::Value::as_object_mut)
                    else {
                        continue;
                    };
                    for link in links
                        .values_mut()
                        .filter_map(serde_json::Value::as_object_mut)
                    {
                        for (from, to) in [
                            ("operation_id", "operationId"),
                            ("operation_ref", "operationRef"),
                        ] {
                            if let Some(value) = link.remove(from) {
                                link.insert(to.to_owned(), value);
                            }
                        }
                    }
                }
            }
        }
    }
    doc
}

/// `GET /openapi.json`
pub(super) async fn openapi_json() -> Json<serde_json::Value> {
    Json(document())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_is_openapi_3_1_and_lists_every_route() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let link = &doc["paths"]["/v1/teams"]["post"]["responses"]["201"]["links"]["ListCitizens"];
        assert_eq!(link["operationId"], "list_citizens");
        assert!(link.get("operation_id").is_none());
        for path in [
            "/v1/bootstrap",
            "/v1/sessions",
            "/v1/signup",
            "/v1/teams/{team}/citizens",
            "/healthz",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} missing");
        }
        assert!(doc["components"]["schemas"].get("ErrorBody").is_some());
        assert!(
            doc["components"]["schemas"].get("LetterLanguage").is_some(),
            "a field's own type is described too"
        );
        assert!(doc["components"]["securitySchemes"].get("bearer").is_some());
    }
}
