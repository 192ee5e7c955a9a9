//! Citizens: invitations, sign-up with the code, consent, and the lists
//! staff see.

use axum::Json;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::HeaderMap;
use axum::response::NoContent;
use samtale_protocol::Roles;
use samtale_protocol::keys::OrgRootPublicKey;
use samtale_protocol::minimise;
use samtale_protocol::org_fingerprint;
use samtale_protocol::wire::{
    AssuranceLevel, CitizenInfo, ConsentState, ConsentText, CreateInvitationRequest,
    EidFlowPurpose, EidLoginRequest, ErrorCode, InvitationCreated, LetterLanguage,
    RedeemInvitationRequest, TokenPair,
};

use super::accounts::{grant_session, new_device, new_id};
use super::admin::own_team;
use super::caller::Caller;
use super::validate::{self, parse_id};
use super::{ApiError, ApiJson, AppState, Created};
use crate::auth::{self, INVITATION_DOMAIN, hashes_equal, normalise_code};
use crate::storage::accounts::{NewCitizen, NewInvitation, NewSession, RedeemOutcome};

/// Failed code attempts after which an invitation is locked.
pub const MAX_FAILED_ATTEMPTS: i64 = 5;

/// The version of the consent text below.
pub const CONSENT_VERSION: &str = "2026-11-1";

/// What a citizen accepts at sign-up (Danish, then English).
pub const CONSENT_TEXT: &str = "\
Samtale er kommunens sikre beskedtjeneste. Beskederne er krypteret fra din \
telefon til medarbejderen, og serveren kan ikke læse dem. Kommunen kan gemme \
samtalen i din sag (journalisering), som loven kræver. Du kan når som helst \
trække dit samtykke tilbage i appen; så skriver kommunen til dig med brev \
eller digital post i stedet.

Samtale is the municipality's secure messaging service. Messages are \
encrypted from your phone to the member of staff, and the server cannot read \
them. The municipality may file the conversation in your case, as the law \
requires. You can withdraw your consent at any time in the app; the \
municipality will then write to you by letter or digital post instead.
";

fn consent_text() -> ConsentText {
    ConsentText {
        version: CONSENT_VERSION.into(),
        text: CONSENT_TEXT.into(),
        text_sha256: auth::sha256_hex(CONSENT_TEXT.as_bytes()),
    }
}

/// `GET /v1/eid`: the eID brokers a citizen's app logs in with.
#[utoipa::path(
    get,
    path = "/v1/eid",
    tag = "citizens",
    responses(
        (status = 200, description = "The configured eID brokers; none means citizens sign up unverified.", body = samtale_protocol::wire::EidProviders),
    )
)]
pub(super) async fn eid_providers(
    State(state): State<AppState>,
) -> Json<samtale_protocol::wire::EidProviders> {
    Json(samtale_protocol::wire::EidProviders {
        providers: state.eid.public_info(),
        web_login: state.eid.web_enabled(),
    })
}

/// `GET /v1/consent`: the text to show before sign-up.
#[utoipa::path(
    get,
    path = "/v1/consent",
    tag = "citizens",
    responses(
        (status = 200, description = "The consent text.", body = samtale_protocol::wire::ConsentText),
    )
)]
pub(super) async fn get_consent() -> Json<ConsentText> {
    Json(consent_text())
}

/// `POST /v1/consent/withdraw` (citizen): new messages to the citizen are
/// refused from now on and every session of theirs ends.
#[utoipa::path(
    post,
    path = "/v1/consent/withdraw",
    tag = "citizens",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Withdrawn: nobody can send to the citizen any more, her open connections close, and her sessions stay read-only (reading and the access export; writes get `403 consent_withdrawn`)."),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
    )
)]
pub(super) async fn withdraw_consent(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<NoContent, ApiError> {
    if caller.is_staff() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only citizens give and withdraw consent",
        ));
    }
    state
        .storage
        .withdraw_consent(caller.id(), state.clock.now())
        .await?;
    state
        .relay
        .kill_account(caller.id(), ErrorCode::ConsentWithdrawn);
    state.relay.policy_changed();
    tracing::info!(account_id = %caller.id(), "consent withdrawn");
    state
        .audit(
            &caller,
            crate::audit::Action::ConsentWithdraw,
            Some(caller.id()),
            crate::audit::Detail::none(),
        )
        .await;
    Ok(NoContent)
}

/// A date as `YYYY-MM-DD` (UTC) from Unix seconds.
fn iso_date(unix: i64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let z = unix.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The invitation link for a code: `{server}/join#{code}/{fingerprint}`.
/// The code rides in the fragment, which browsers keep to themselves (it
/// never reaches a server log); the organisation fingerprint from the
/// letter rides with it, so the app compares the server's root key with
/// the letter's before anything is used up, without the citizen typing it.
fn invitation_link(server: &str, code: &str, fingerprint: &str) -> String {
    format!("{server}/join#{code}/{fingerprint}")
}

/// The neutral letter that carries an invitation code, in the citizen's
/// language: who sends it, what Samtale is, that the first message never
/// comes as an unexplained text message, where the service is (the link
/// and the server's address; nothing to install), the code, the
/// fingerprint to compare, and the command for the `samtale` program.
fn letter(
    language: LetterLanguage,
    org_name: &str,
    server: &str,
    code: &str,
    fingerprint: &str,
    expires_at: i64,
) -> String {
    let link = invitation_link(server, code, fingerprint);
    let date = iso_date(expires_at);
    let command =
        format!("samtale join --server {server} --code {code} --fingerprint {fingerprint}");
    match language {
        LetterLanguage::Da => format!(
            "{org_name}\n\n\
             Invitation til Samtale\n\n\
             {org_name} inviterer dig til Samtale: sikre beskeder mellem dig og {org_name} om din sag i stedet for sms. Kun du og {org_name} kan læse det, der skrives.\n\n\
             Vores første besked kommer aldrig som en uforklaret sms: vi skriver til dig i Samtale, når du har tilmeldt dig med dette brev. Vi beder aldrig om din kode i telefonen eller på sms.\n\n\
             1. Åbn denne adresse i browseren på din telefon eller computer. Samtale åbner i browseren; der er intet at installere:\n\n\
             \x20   {link}\n\n\
             \x20  Eller gå til {server} og skriv din invitationskode:\n\n\
             \x20   {code}\n\n\
             2. Tjek, at siden viser dette fingeraftryk, før du tilmelder dig:\n\n\
             \x20   {fingerprint}\n\n\
             Er det anderledes, så stop og ring til {org_name} på det nummer, du plejer at bruge.\n\
             Koden kan bruges én gang, indtil {date}.\n\n\
             Med kommandolinjeprogrammet samtale: {command}\n"
        ),
        LetterLanguage::Sv => format!(
            "{org_name}\n\n\
             Inbjudan till Samtale\n\n\
             {org_name} bjuder in dig till Samtale: säkra meddelanden mellan dig och {org_name} om ditt ärende i stället för sms. Bara du och {org_name} kan läsa det som skrivs.\n\n\
             Vårt första meddelande kommer aldrig som ett oförklarat sms: vi skriver till dig i Samtale när du har anslutit dig med det här brevet. Vi ber aldrig om din kod per telefon eller sms.\n\n\
             1. Öppna den här adressen i webbläsaren på din telefon eller dator. Samtale öppnas i webbläsaren; det finns inget att installera:\n\n\
             \x20   {link}\n\n\
             \x20  Eller gå till {server} och skriv din inbjudningskod:\n\n\
             \x20   {code}\n\n\
             2. Kontrollera att sidan visar det här fingeravtrycket innan du ansluter dig:\n\n\
             \x20   {fingerprint}\n\n\
             Skiljer det sig, sluta och ring {org_name} på det nummer du brukar använda.\n\
             Koden kan användas en gång, till och med {date}.\n\n\
             Med kommandoradsprogrammet samtale: {command}\n"
        ),
        LetterLanguage::En => format!(
            "{org_name}\n\n\
             Invitation to Samtale\n\n\
             {org_name} invites you to Samtale: secure messages between you and {org_name} about your case, instead of text messages. Only you and {org_name} can read what is written.\n\n\
             Our first message will never come as an unexplained text message: we write to you in Samtale after you have joined with this letter. We never ask for your code by phone or text message.\n\n\
             1. Open this address in the browser on your phone or computer. Samtale opens in the browser; there is nothing to install:\n\n\
             \x20   {link}\n\n\
             \x20  Or go to {server} and type your invitation code:\n\n\
             \x20   {code}\n\n\
             2. Check that the page shows this fingerprint before you join:\n\n\
             \x20   {fingerprint}\n\n\
             If it differs, stop and call {org_name} on the number you usually use.\n\
             The code can be used once, until {date}.\n\n\
             With the samtale command-line program: {command}\n"
        ),
    }
}

/// The letter's language: the one asked for, else the citizen's country's
/// (from the national id number's kind).
fn letter_language(asked: Option<LetterLanguage>, national_id: &str) -> LetterLanguage {
    use samtale_protocol::minimise::{Category, scan};
    asked.unwrap_or_else(|| {
        if scan(national_id.trim())
            .iter()
            .any(|f| f.category == Category::SwedishPersonnummer)
        {
            LetterLanguage::Sv
        } else {
            LetterLanguage::Da
        }
    })
}

/// `POST /v1/invitations` (staff of the team)
#[utoipa::path(
    post,
    path = "/v1/invitations",
    tag = "citizens",
    request_body = samtale_protocol::wire::CreateInvitationRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The code and the letter.", body = samtale_protocol::wire::InvitationCreated),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
    )
)]
pub(super) async fn create_invitation(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateInvitationRequest>,
) -> Result<Created<InvitationCreated>, ApiError> {
    caller.require(Roles::STAFF, "inviting citizens")?;
    let team_id = own_team(&state, &caller, &req.team_id.to_string()).await?;
    validate::name("display_name", &req.display_name)?;
    if !auth::is_national_id(&req.national_id) {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            auth::national_id_refusal(&req.national_id),
        ));
    }
    let org = state
        .storage
        .organisation(caller.org_id())
        .await?
        .ok_or_else(|| ApiError::internal("account without organisation"))?;
    let root = OrgRootPublicKey::from_slice(&org.root_public_key)
        .map_err(|_| ApiError::internal("stored root key is invalid"))?;
    let fingerprint = org_fingerprint(&root);
    let national_id_hmac = state.national_ids.hash(&req.national_id);
    let now = state.clock.now();
    let expires_at = now + i64::from(state.invitation_ttl_days) * 86_400;
    let id = new_id()?;
    // A fresh code until one is free (handles are unique) and its letter
    // carries nothing the minimisation rules flag.
    for _ in 0..16 {
        let code = auth::new_code(INVITATION_DOMAIN).map_err(ApiError::randomness)?;
        let text = letter(
            letter_language(req.language, &req.national_id),
            &org.name,
            &state.public_url,
            &code.text,
            &fingerprint,
            expires_at,
        );
        if !minimise::scan(&text).is_empty() {
            continue;
        }
        let stored = state
            .storage
            .create_invitation(&NewInvitation {
                id: &id,
                handle: &code.handle,
                code_hash: &code.hash,
                org_id: &org.id,
                team_id: &team_id,
                created_by: caller.id(),
                national_id_hmac: &national_id_hmac,
                display_name: req.display_name.trim(),
                now,
                expires_at,
            })
            .await?;
        if stored {
            tracing::info!(invitation_id = %id, team_id, "invitation created");
            state
                .audit(
                    &caller,
                    crate::audit::Action::InvitationCreate,
                    Some(&id),
                    crate::audit::Detail::none().id("team", &team_id),
                )
                .await;
            return Ok(Created(InvitationCreated {
                link: invitation_link(&state.public_url, &code.text, &fingerprint),
                server: state.public_url.to_string(),
                code: code.text.to_string(),
                expires_at: u64::try_from(expires_at).unwrap_or(0),
                letter: text,
            }));
        }
    }
    Err(ApiError::internal("could not draw a free invitation code"))
}

/// `GET /v1/invitations` (staff): the outstanding invitations of the
/// caller's teams.
#[utoipa::path(
    get,
    path = "/v1/invitations",
    tag = "citizens",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Unused, unexpired invitations of the caller's teams, newest first.", body = samtale_protocol::wire::InvitationList),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
    )
)]
pub(super) async fn list_invitations(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<samtale_protocol::wire::InvitationList>, ApiError> {
    use samtale_protocol::wire::{InvitationList, OutstandingInvitation};
    caller.require(Roles::STAFF, "listing invitations")?;
    let now = state.clock.now();
    let mut invitations = Vec::new();
    for team in state.storage.teams_of(caller.id()).await? {
        let team_id = parse_id(&team)?;
        for (id, display_name, created_by, created_at, expires_at) in
            state.storage.outstanding_invitations(&team, now).await?
        {
            invitations.push(OutstandingInvitation {
                invitation_id: id,
                team_id,
                display_name,
                created_by: parse_id(&created_by)?,
                created_at: u64::try_from(created_at).unwrap_or(0),
                expires_at: u64::try_from(expires_at).unwrap_or(0),
            });
        }
    }
    invitations.sort_by_key(|i| std::cmp::Reverse(i.created_at));
    Ok(Json(InvitationList { invitations }))
}

/// `DELETE /v1/invitations/{invitation}` (staff of its team): the code
/// stops working at once; the row, with the national id's hash, is deleted.
#[utoipa::path(
    delete,
    path = "/v1/invitations/{invitation}",
    tag = "citizens",
    params(("invitation" = String, Path, description = "An invitation id (UUID), from GET /v1/invitations.")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked."),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
    )
)]
pub(super) async fn revoke_invitation(
    State(state): State<AppState>,
    caller: Caller,
    Path(invitation): Path<String>,
) -> Result<NoContent, ApiError> {
    caller.require(Roles::STAFF, "revoking invitations")?;
    // Invitation ids are UUIDs like every other id here.
    let id: samtale_protocol::MessageId = super::validate::path_id(&invitation)?;
    let id = id.to_string();
    // Only an unused invitation of one of the caller's teams; anything else
    // is "not found", whoever's it is.
    let mine = match state.storage.unused_invitation_team(&id).await? {
        Some(team) => state.storage.teams_of(caller.id()).await?.contains(&team),
        None => false,
    };
    if !mine {
        return Err(ApiError::not_found("invitation"));
    }
    let event = crate::audit::AuditEvent::new(
        crate::audit::Action::InvitationRevoke,
        caller.id(),
        Some(&id),
    )
    .org(caller.org_id())
    .device(&caller.device_id);
    if state
        .storage
        .revoke_invitation(&id, &event, state.clock.now_ms())
        .await?
    {
        tracing::info!(invitation_id = %id, "invitation revoked");
        Ok(NoContent)
    } else {
        Err(ApiError::not_found("invitation"))
    }
}

fn code_refused() -> ApiError {
    ApiError::new(
        ErrorCode::AuthenticationFailed,
        "the invitation code is not valid, has been used, has expired or is locked after too many attempts; check it against the letter or ask for a new one",
    )
}

/// The live invitation a code opens, and its handle. Every refusal gets the
/// same error, and a wrong code costs the same database work whether or
/// not its handle exists; a wrong code for a real handle counts towards
/// locking it.
async fn live_invitation(
    state: &AppState,
    code: &str,
    now: i64,
) -> Result<(crate::storage::accounts::InvitationRow, String), ApiError> {
    let Some(code) = normalise_code(code) else {
        return Err(code_refused());
    };
    let handle = code[..auth::HANDLE_CHARS].to_owned();
    let presented = auth::code_hash(INVITATION_DOMAIN, &code);
    let invitation = state.storage.invitation_by_handle(&handle).await?;
    let matches = invitation
        .as_ref()
        .is_some_and(|i| hashes_equal(&i.code_hash, &presented));
    let Some(invitation) =
        invitation.filter(|i| matches && i.failed_attempts < MAX_FAILED_ATTEMPTS)
    else {
        state.storage.count_failed_attempt(&handle).await?;
        tracing::info!("invitation code refused");
        return Err(code_refused());
    };
    if invitation.redeemed_at.is_some() || invitation.expires_at <= now {
        return Err(code_refused());
    }
    Ok((invitation, handle))
}

/// `POST /v1/invitations/preview`: the organisation an invitation code is
/// from and its fingerprint, without using the code up, so a citizen
/// compares the fingerprint with the letter *before* signing up. A refused
/// code counts against the same per-address limit as sign-ups (guessing
/// codes stays as slow); a working one is given back, so checking a letter
/// first costs a citizen nothing.
#[utoipa::path(
    post,
    path = "/v1/invitations/preview",
    tag = "citizens",
    request_body = samtale_protocol::wire::PreviewInvitation,
    responses(
        (status = 200, description = "The organisation the code is from.", body = samtale_protocol::wire::InvitationPreview),
        super::openapi::BodyErrors,
        (status = 401, description = "The code is not valid, used, expired or locked (the same answer as sign-up gives).", body = samtale_protocol::wire::ErrorBody),
        super::openapi::TooManyRequests,
    )
)]
pub(super) async fn preview_invitation(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<samtale_protocol::wire::PreviewInvitation>,
) -> Result<Json<samtale_protocol::wire::InvitationPreview>, ApiError> {
    let address = state.limits.client_address(peer, &headers).to_string();
    let now = state.clock.now();
    if let Err(refused) = state
        .limits
        .redeem_address
        .try_reserve(&address, now)
        .await?
    {
        if refused.first {
            super::accounts::report_limit(&state, crate::limits::Scope::Address, None).await;
        }
        return Err(ApiError::rate_limited(
            refused.wait,
            "invitation code checks from this address",
        ));
    }
    let (invitation, _) = live_invitation(&state, &req.code, now).await?;
    state.limits.redeem_address.release(&address).await;
    let org = state
        .storage
        .organisation(&invitation.org_id)
        .await?
        .ok_or_else(|| ApiError::internal("invitation without organisation"))?;
    let root = OrgRootPublicKey::from_slice(&org.root_public_key)
        .map_err(|_| ApiError::internal("stored root key is invalid"))?;
    Ok(Json(samtale_protocol::wire::InvitationPreview {
        organisation_name: org.name,
        root_fingerprint: org_fingerprint(&root),
        root_public_key: root,
        expires_at: u64::try_from(invitation.expires_at).unwrap_or(0),
    }))
}

/// `POST /v1/signup`: a citizen redeems an invitation code.
#[utoipa::path(
    post,
    path = "/v1/signup",
    tag = "citizens",
    request_body = samtale_protocol::wire::RedeemInvitationRequest,
    responses(
        (status = 201, description = "The citizen exists (or a new device joined their account) and is logged in.", body = samtale_protocol::wire::TokenPair),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Conflict,
        super::openapi::TooManyRequests,
    )
)]
pub(super) async fn signup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<RedeemInvitationRequest>,
) -> Result<Created<TokenPair>, ApiError> {
    let address = state.limits.client_address(peer, &headers).to_string();
    let now = state.clock.now();
    // Every attempt counts, reserved before any work.
    if let Err(refused) = state
        .limits
        .redeem_address
        .try_reserve(&address, now)
        .await?
    {
        if refused.first {
            super::accounts::report_limit(&state, crate::limits::Scope::Address, None).await;
        }
        return Err(ApiError::rate_limited(
            refused.wait,
            "sign-up attempts from this address",
        ));
    }
    validate::name("device_label", &req.device_label)?;
    let consent = consent_text();
    if req.consent.version != consent.version || req.consent.text_sha256 != consent.text_sha256 {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "consent: accept the current consent text (GET /v1/consent) and send its version and text_sha256",
        ));
    }
    let wants_eid = req.id_token.is_some() || req.eid_flow.is_some();
    match (wants_eid, state.eid.enabled()) {
        (true, false) => {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "id_token: this server has no eID provider configured; sign up with the code alone",
            ));
        }
        (false, true) => {
            return Err(ApiError::new(
                ErrorCode::ValidationFailed,
                "id_token: this server requires an eID login (MitID, BankID) to sign up; send the ID token, or eid_flow from the web app's login",
            ));
        }
        _ => {}
    }

    let (invitation, handle) = live_invitation(&state, &req.code, now).await?;
    let handle = handle.as_str();

    // The eID login: who this is, and that it is the invited person.
    let proof = super::eid_flows::prove_identity(
        &state,
        req.id_token.as_deref(),
        req.eid_flow.as_deref(),
        &req.device,
        EidFlowPurpose::Join,
        now,
    )
    .await?;
    let (assurance, identity, id_token) = match proof {
        None => (AssuranceLevel::Unverified, None, None),
        Some(proof) => {
            if !hashes_equal(&proof.national_id_hmac, &invitation.national_id_hmac) {
                state.storage.count_failed_attempt(handle).await?;
                tracing::info!("eID identity does not match the invitation");
                return Err(ApiError::new(
                    ErrorCode::AuthenticationFailed,
                    crate::eid::EidError::NationalIdMismatch.to_string(),
                ));
            }
            if let Some((token_hash, _)) = &proof.replay
                && state.storage.id_token_used(token_hash).await?
            {
                return Err(ApiError::new(
                    ErrorCode::AuthenticationFailed,
                    crate::eid::EidError::Replayed.to_string(),
                ));
            }
            (
                proof.level,
                Some((proof.issuer, proof.subject)),
                proof.replay,
            )
        }
    };
    // A registered device may log in again with a new code for its own
    // account (a citizen without eID whose session ended), if it proves it
    // holds the device key; otherwise a known key is refused.
    let registered = state
        .storage
        .device_by_identity(&req.device.identity.to_bytes())
        .await?;
    if let Some(device) = &registered {
        let proof = req
            .device_proof
            .as_deref()
            .and_then(|p| samtale_protocol::b64::decode(p).ok())
            .and_then(|p| <[u8; 64]>::try_from(p).ok());
        let Some(proof) = proof else {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "this device key is already registered; make new device keys, or send device_proof to log this device in again with a new code",
            ));
        };
        if !samtale_protocol::verify_signup_again_proof(&req.device.identity, &req.code, &proof) {
            return Err(ApiError::new(
                ErrorCode::AuthenticationFailed,
                "device_proof does not verify with this device's key for this code",
            ));
        }
        if device.revoked_at.is_some() {
            return Err(ApiError::new(
                ErrorCode::DeviceRevoked,
                "this device was removed from the account; join again as a new device",
            ));
        }
    }

    let account_id = new_id()?;
    let device_id = match &registered {
        Some(device) => device.id.clone(),
        None => new_id()?,
    };
    let grant = grant_session(&state, &account_id, &device_id, "citizen", now)?;
    let outcome = state
        .storage
        .redeem_invitation(&NewCitizen {
            invitation_id: &invitation.id,
            account_id: &account_id,
            org_id: &invitation.org_id,
            team_id: &invitation.team_id,
            display_name: &invitation.display_name,
            assurance: validate::assurance_to_db(assurance),
            national_id_hmac: &invitation.national_id_hmac,
            issuer: identity.as_ref().map(|i| i.0.as_str()),
            subject: identity.as_ref().map(|i| i.1.as_str()),
            id_token,
            consent_version: &consent.version,
            consent_sha256: &consent.text_sha256,
            device: new_device(&device_id, &req.device, &req.device_label),
            device_registered: registered.is_some(),
            session: NewSession {
                id: &grant.session_id,
                refresh_hash: &grant.refresh_hash,
                expires_at: grant.expires_at,
            },
            now,
        })
        .await?;
    match outcome {
        RedeemOutcome::AlreadyRedeemed => Err(code_refused()),
        RedeemOutcome::AnotherPerson => {
            state.storage.count_failed_attempt(handle).await?;
            Err(ApiError::new(
                ErrorCode::AuthenticationFailed,
                "this code is for another person than the one this device belongs to",
            ))
        }
        RedeemOutcome::IdTokenReplayed => Err(ApiError::new(
            ErrorCode::AuthenticationFailed,
            crate::eid::EidError::Replayed.to_string(),
        )),
        RedeemOutcome::Created => {
            tracing::info!(account_id, "citizen signed up");
            state
                .record(crate::audit::AuditEvent::signup(
                    &account_id,
                    &invitation.org_id,
                    &device_id,
                    &invitation.team_id,
                    validate::assurance_to_db(assurance),
                    "new_account",
                ))
                .await;
            Ok(Created(grant.tokens))
        }
        RedeemOutcome::ExistingAccount(existing) => {
            // The same person again: the new device joins their account, so
            // the tokens must name it.
            let access = state
                .tokens
                .issue(&existing, &device_id, &grant.session_id, "citizen", now)
                .map_err(|_| ApiError::internal("cannot sign an access token"))?;
            let how = if registered.is_some() {
                "device_logged_in_again"
            } else {
                "device_added"
            };
            tracing::info!(account_id = %existing, how, "citizen signed up again");
            state
                .record(crate::audit::AuditEvent::signup(
                    &existing,
                    &invitation.org_id,
                    &device_id,
                    &invitation.team_id,
                    validate::assurance_to_db(assurance),
                    how,
                ))
                .await;
            Ok(Created(TokenPair {
                account_id: parse_id(&existing)?,
                access_token: access,
                ..grant.tokens
            }))
        }
    }
}

/// `POST /v1/sessions/eid`: a citizen logs in again with eID.
#[utoipa::path(
    post,
    path = "/v1/sessions/eid",
    tag = "sessions",
    request_body = samtale_protocol::wire::EidLoginRequest,
    responses(
        (status = 201, description = "Logged in (the device is registered if new).", body = samtale_protocol::wire::TokenPair),
        super::openapi::BodyErrors,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::Conflict,
        super::openapi::TooManyRequests,
    )
)]
pub(super) async fn eid_login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<EidLoginRequest>,
) -> Result<Created<TokenPair>, ApiError> {
    validate::name("device_label", &req.device_label)?;
    let address = state.limits.client_address(peer, &headers).to_string();
    let now = state.clock.now();
    // Reserved before the ID token is checked; given back on success.
    if let Err(refused) = state
        .limits
        .login_address
        .try_reserve(&address, now)
        .await?
    {
        if refused.first {
            super::accounts::report_limit(&state, crate::limits::Scope::Address, None).await;
        }
        return Err(ApiError::rate_limited(refused.wait, "failed logins"));
    }
    let address_key = address.clone();
    let limits = state.limits.clone();
    let release = move || async move { limits.login_address.release(&address_key).await };
    if !state.eid.enabled() {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "id_token: this server has no eID provider configured; ask your caseworker for a new invitation",
        ));
    }
    let Some(identity) = super::eid_flows::prove_identity(
        &state,
        req.id_token.as_deref(),
        req.eid_flow.as_deref(),
        &req.device,
        EidFlowPurpose::Login,
        now,
    )
    .await?
    else {
        return Err(ApiError::new(
            ErrorCode::ValidationFailed,
            "id_token: log in with eID: send the ID token, or eid_flow from the web app's login",
        ));
    };
    let Some(account) = state
        .storage
        .citizen_by_identity(&identity.issuer, &identity.subject)
        .await?
    else {
        return Err(ApiError::new(
            ErrorCode::AuthenticationFailed,
            "no account is linked to this eID identity; sign up with the invitation code from your letter",
        ));
    };
    // A verified identity with an account is not a guess.
    release().await;
    if account.disabled_at.is_some() {
        return Err(ApiError::new(
            ErrorCode::AuthenticationFailed,
            "this account is closed",
        ));
    }
    // A citizen who withdrew consent logs in read-only (the request layer
    // refuses writes): the access right outlives the consent.
    let existing = state
        .storage
        .device_by_identity(&req.device.identity.to_bytes())
        .await?;
    let (device_id, is_new) = match existing {
        Some(d) if d.account_id != account.id => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "this device key is registered to another account; make new device keys",
            ));
        }
        Some(d) if d.revoked_at.is_some() => {
            return Err(ApiError::new(
                ErrorCode::DeviceRevoked,
                "this device has been revoked; make new device keys to log in from it again",
            ));
        }
        Some(d) if d.agreement_key != req.device.agreement.to_bytes() => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "this device's agreement key differs from the one registered",
            ));
        }
        Some(d) => (d.id, false),
        None => (new_id()?, true),
    };
    if let Some((token_hash, expires_at)) = &identity.replay
        && !state
            .storage
            .spend_id_token(token_hash, *expires_at)
            .await?
    {
        return Err(ApiError::new(
            ErrorCode::AuthenticationFailed,
            crate::eid::EidError::Replayed.to_string(),
        ));
    }
    let grant = grant_session(&state, &account.id, &device_id, "citizen", now)?;
    state
        .storage
        .open_session(
            &account.id,
            &new_device(&device_id, &req.device, &req.device_label),
            is_new,
            &NewSession {
                id: &grant.session_id,
                refresh_hash: &grant.refresh_hash,
                expires_at: grant.expires_at,
            },
            now,
        )
        .await?;
    tracing::info!(account_id = %account.id, device_id, new_device = is_new, "citizen logged in with eID");
    state
        .record(crate::audit::AuditEvent::login(
            &account.id,
            &account.org_id,
            &device_id,
            "eid",
            is_new,
        ))
        .await;
    Ok(Created(grant.tokens))
}

/// `GET /v1/teams/{team}/citizens` (staff of the team)
#[utoipa::path(
    get,
    path = "/v1/teams/{team}/citizens",
    tag = "citizens",
    params(("team" = String, Path, description = "A team id (UUID).")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The team's citizens.", body = [samtale_protocol::wire::CitizenInfo]),
        super::openapi::ServerError,
        super::openapi::Unauthorized,
        super::openapi::Forbidden,
        super::openapi::NotFound,
    )
)]
pub(super) async fn list_citizens(
    State(state): State<AppState>,
    caller: Caller,
    Path(team): Path<String>,
) -> Result<Json<Vec<CitizenInfo>>, ApiError> {
    caller.require(Roles::STAFF, "listing citizens")?;
    let team_id = own_team(&state, &caller, &team).await?;
    let team = parse_id(&team_id)?;
    let rows = state.storage.citizens_of_team(&team_id).await?;
    let mut out = Vec::with_capacity(rows.len());
    for c in rows {
        let assurance = validate::assurance_from_db(&c.assurance);
        let notice = if c.consent_withdrawn {
            Some("consent withdrawn — use letter or digital post".to_owned())
        } else if assurance == AssuranceLevel::Unverified {
            Some("identity not verified with eID — give general answers only".to_owned())
        } else {
            None
        };
        out.push(CitizenInfo {
            account_id: parse_id(&c.id)?,
            display_name: c.display_name,
            assurance,
            consent: if c.consent_withdrawn {
                ConsentState::Withdrawn
            } else {
                ConsentState::Given
            },
            notice,
            teams: vec![team],
        });
    }
    Ok(Json(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(1_767_225_600), "2026-01-01");
        assert_eq!(iso_date(951_782_400), "2000-02-29");
    }

    #[test]
    fn the_consent_text_and_every_letter_carry_nothing_personal() {
        assert!(minimise::scan(CONSENT_TEXT).is_empty());
        for language in [LetterLanguage::Da, LetterLanguage::Sv, LetterLanguage::En] {
            // The default address of a development server is not mistaken
            // for personal data either.
            for server in ["https://samtale.aarhus.dk", "http://127.0.0.1:8080"] {
                let text = letter(
                    language,
                    "Aarhus Kommune",
                    server,
                    "7K3Q-ABCD-EFGH-JKMN-PQRS",
                    "7K2QX-M3PAD-XXXXX-YYYYY-ZZZZZ",
                    1_767_225_600,
                );
                assert!(
                    minimise::scan(&text).is_empty(),
                    "{language:?}: {:?}",
                    minimise::scan(&text)
                );
                assert!(text.contains("2026-01-01"));
                assert!(text.contains(&format!(
                    "{server}/join#7K3Q-ABCD-EFGH-JKMN-PQRS/7K2QX-M3PAD-XXXXX-YYYYY-ZZZZZ"
                )));
                assert!(text.contains(&format!("Or go to {server}").replace(
                    "Or go to",
                    match language {
                        LetterLanguage::Da => "Eller gå til",
                        LetterLanguage::Sv => "Eller gå till",
                        LetterLanguage::En => "Or go to",
                    }
                )));
            }
        }
    }

    #[test]
    fn the_letter_speaks_the_citizens_language_unless_told_otherwise() {
        assert_eq!(letter_language(None, "010203-1234"), LetterLanguage::Da);
        assert_eq!(letter_language(None, "19811218-9876"), LetterLanguage::Sv);
        assert_eq!(
            letter_language(Some(LetterLanguage::En), "010203-1234"),
            LetterLanguage::En
        );
        let da = letter(
            LetterLanguage::Da,
            "Randers Kommune",
            "https://s.dk",
            "C",
            "F",
            0,
        );
        assert!(da.contains("der er intet at installere") && da.contains("uforklaret sms"));
        let sv = letter(
            LetterLanguage::Sv,
            "Ånge kommun",
            "https://s.se",
            "C",
            "F",
            0,
        );
        assert!(sv.contains("inget att installera") && sv.contains("oförklarat sms"));
    }
}
