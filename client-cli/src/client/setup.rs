//! Making a profile: an organisation's first admin (`admin init`), a staff
//! login, a citizen joining with an invitation code (and eID).

use samtale_protocol::wire::{
    AccountInfo, AccountKind, BootstrapRequest, BootstrapResponse, ConsentAcceptance, ConsentText,
    EidLoginRequest, InvitationPreview, PreviewInvitation, RedeemInvitationRequest, TokenPair,
};
use samtale_protocol::{DeviceKeys, OrgRootKey, fingerprints_match, org_fingerprint};
use zeroize::Zeroizing;

use super::{ClientError, Session, now_secs};
use crate::api::Api;
use crate::keystore::{Keystore, Secrets};
use crate::profile::{Profile, ProfileConfig};

/// `samtale admin init`.
pub struct InitRequest<'a> {
    /// The server.
    pub server: &'a str,
    /// The one-time enrolment code the server printed.
    pub enrolment_code: &'a str,
    /// The organisation's name.
    pub organisation: &'a str,
    /// The first admin's user name.
    pub username: &'a str,
    /// Their display name.
    pub display_name: &'a str,
    /// Their password.
    pub password: &'a str,
    /// This device's label.
    pub device_label: &'a str,
}

/// `samtale login`.
pub struct LoginRequest<'a> {
    /// The server.
    pub server: &'a str,
    /// The staff user name.
    pub username: &'a str,
    /// The password.
    pub password: &'a str,
    /// A new password of the user's own, when `password` is a temporary one
    /// from an admin (the server answers `password_change_required`).
    pub new_password: Option<&'a str>,
    /// This device's label.
    pub device_label: &'a str,
}

/// `samtale join`.
pub struct JoinRequest<'a> {
    /// The server.
    pub server: &'a str,
    /// The invitation code from the letter.
    pub code: &'a str,
    /// The organisation fingerprint from the letter, if the user typed it.
    pub fingerprint: Option<&'a str>,
    /// What [`preview_invitation`] found before the sign-up (and checked
    /// against `fingerprint`): the sign-up must land at this organisation.
    pub preview: &'a InvitationPreview,
    /// An ID token from the eID broker, bound to `device` (None: no broker).
    pub id_token: Option<String>,
    /// The device keys the ID token's nonce was made for.
    pub device: DeviceKeys,
    /// This device's label.
    pub device_label: &'a str,
    /// The consent the user accepted.
    pub consent: &'a ConsentText,
}

/// Debug output names the server and user, never the password.
impl std::fmt::Debug for InitRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InitRequest")
            .field("server", &self.server)
            .field("organisation", &self.organisation)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for LoginRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("server", &self.server)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for JoinRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinRequest")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// The keys and facts of a profile being made.
struct Fresh<'a> {
    device: DeviceKeys,
    root: Option<OrgRootKey>,
    username: Option<&'a str>,
    root_checked: bool,
}

/// Creates the profile's files for a fresh session. When that fails, the
/// device the server has just registered is revoked again, so a login
/// that did not finish here leaves no device behind on the server.
async fn finish(
    profile: Profile,
    passphrase: &str,
    api: Api,
    pair: TokenPair,
    fresh: Fresh<'_>,
) -> Result<Session, anyhow::Error> {
    let mut probe = api.clone();
    probe.set_token(Some(pair.access_token.clone()));
    let device_id = pair.device_id;
    let result = make_profile(profile, passphrase, api, pair, fresh).await;
    if result.is_err() {
        let _ = probe
            .call::<()>(
                reqwest::Method::DELETE,
                &format!("/v1/devices/{device_id}"),
                None,
            )
            .await;
    }
    result
}

async fn make_profile(
    profile: Profile,
    passphrase: &str,
    api: Api,
    pair: TokenPair,
    fresh: Fresh<'_>,
) -> Result<Session, anyhow::Error> {
    let Fresh {
        device,
        root,
        username,
        root_checked,
    } = fresh;
    let mut api = api;
    api.set_token(Some(pair.access_token.clone()));
    let me: AccountInfo = api.get("/v1/me").await?;
    let config = ProfileConfig {
        server: api.base().to_owned(),
        account_id: me.account_id,
        device_id: me.device_id,
        kind: me.kind,
        username: username.map(str::to_owned),
        display_name: me.display_name.clone(),
        org_id: me.org_id,
        org_name: me.organisation_name.clone(),
        root_public_key: me.root_public_key,
        root_checked,
        own_contacts: Vec::new(),
    };
    let secrets = Secrets {
        device: Some(device),
        root,
        holders: Vec::new(),
        refresh_token: Some(Zeroizing::new(pair.refresh_token.clone())),
        access_token: Some((
            Zeroizing::new(pair.access_token.clone()),
            now_secs() + pair.expires_in,
        )),
        pins: Default::default(),
    };
    let keystore = Keystore::create(&profile.keystore_path(), passphrase, secrets)?;
    profile.save_config(&config)?;
    Ok(Session {
        profile,
        config,
        keystore,
        api,
    })
}

/// A wrong password, enrolment code or invitation code is a refusal
/// (exit 5), not an ended session (exit 3): there was no session.
fn refused_credentials(e: crate::api::ApiError) -> anyhow::Error {
    if e.session_ended() {
        ClientError::Refused(e.to_string()).into()
    } else {
        e.into()
    }
}

/// Refuses, before anything reaches the server, what would make the new
/// profile fail afterwards: an existing profile, or a keystore passphrase
/// too weak to protect keys.
fn refuse_existing(profile: &Profile, passphrase: &str) -> Result<(), anyhow::Error> {
    Keystore::check_passphrase(passphrase)?;
    if profile.exists() || profile.keystore_path().exists() {
        anyhow::bail!(
            "profile {:?} is already set up; use another one with --profile NAME, or `samtale profile remove {}` first",
            profile.name,
            profile.name
        );
    }
    Ok(())
}

/// Registers a new organisation: makes its root key (kept in this
/// profile's keystore), the first admin and their device.
pub async fn init_organisation(
    profile: Profile,
    passphrase: &str,
    req: &InitRequest<'_>,
) -> Result<(Session, String), anyhow::Error> {
    refuse_existing(&profile, passphrase)?;
    let api = Api::new(req.server)?;
    let root = OrgRootKey::generate()?;
    let device = DeviceKeys::generate()?;
    let boot: BootstrapResponse = api
        .post(
            "/v1/bootstrap",
            &BootstrapRequest {
                enrolment_code: req.enrolment_code.to_owned(),
                organisation_name: req.organisation.to_owned(),
                root_public_key: root.public(),
                username: req.username.to_owned(),
                display_name: req.display_name.to_owned(),
                password: req.password.to_owned(),
                device: device.public(),
                device_label: req.device_label.to_owned(),
            },
        )
        .await
        .map_err(refused_credentials)?;
    let fingerprint = boot.root_fingerprint.clone();
    if fingerprint != org_fingerprint(&root.public()) {
        anyhow::bail!("the server reports another fingerprint for the new root key");
    }
    let mut session = finish(
        profile,
        passphrase,
        api,
        boot.tokens,
        Fresh {
            device,
            root: Some(root),
            username: Some(req.username),
            root_checked: true,
        },
    )
    .await?;
    // The admin's own device (and only it) is certified by the root it
    // just made.
    let own = samtale_protocol::device_fingerprint(&session.device()?.public().identity);
    session.certify_staff(req.username, &[own]).await?;
    Ok((session, fingerprint))
}

/// Logs a staff member in on this machine as a new device.
pub async fn login(
    profile: Profile,
    passphrase: &str,
    req: &LoginRequest<'_>,
) -> Result<Session, anyhow::Error> {
    refuse_existing(&profile, passphrase)?;
    let api = Api::new(req.server)?;
    let device = DeviceKeys::generate()?;
    let pair: TokenPair = api
        .post(
            "/v1/sessions",
            &samtale_protocol::wire::LoginRequest {
                username: req.username.to_owned(),
                password: req.password.to_owned(),
                device: device.public(),
                device_label: req.device_label.to_owned(),
                new_password: req.new_password.map(str::to_owned),
            },
        )
        .await
        .map_err(refused_credentials)?;
    finish(
        profile,
        passphrase,
        api,
        pair,
        Fresh {
            device,
            root: None,
            username: Some(req.username),
            root_checked: false,
        },
    )
    .await
}

/// Asks the server which organisation an invitation code is from, without
/// using the code up, and checks the fingerprint the citizen typed from the
/// letter against that organisation's root key. The first step of a join,
/// before the eID login and the sign-up: a typo, a wrong server or a code
/// that no longer works is reported while the code is still unspent and
/// before the citizen is sent to the eID broker.
pub async fn preview_invitation(
    api: &Api,
    code: &str,
    typed: Option<&str>,
) -> Result<InvitationPreview, anyhow::Error> {
    let preview: InvitationPreview = api
        .post(
            "/v1/invitations/preview",
            &PreviewInvitation {
                code: code.to_owned(),
            },
        )
        .await
        .map_err(refused_credentials)?;
    let computed = org_fingerprint(&preview.root_public_key);
    if computed != preview.root_fingerprint {
        anyhow::bail!(ClientError::Verification(format!(
            "the server names the fingerprint {} for a key whose fingerprint is {computed}. Do not use this server; call the municipality",
            preview.root_fingerprint
        )));
    }
    if let Some(typed) = typed
        && !fingerprints_match(typed, &computed)
    {
        anyhow::bail!(ClientError::Verification(format!(
            "{} has the fingerprint {computed}, not the {typed} on your letter. Nothing was done and your code still works: check what you typed, or call the municipality before you use this server",
            preview.organisation_name
        )));
    }
    Ok(preview)
}

/// Signs a citizen up with an invitation code (and an eID ID token) after
/// [`preview_invitation`], checks that the account landed at the previewed
/// organisation, and makes their citizen key.
pub async fn join(
    profile: Profile,
    passphrase: &str,
    req: JoinRequest<'_>,
) -> Result<Session, anyhow::Error> {
    refuse_existing(&profile, passphrase)?;
    let api = Api::new(req.server)?;
    let pair: TokenPair = api
        .post(
            "/v1/signup",
            &RedeemInvitationRequest {
                code: req.code.to_owned(),
                id_token: req.id_token.clone(),
                eid_flow: None,
                device: req.device.public(),
                device_label: req.device_label.to_owned(),
                consent: ConsentAcceptance {
                    version: req.consent.version.clone(),
                    text_sha256: req.consent.text_sha256.clone(),
                },
                device_proof: None,
            },
        )
        .await
        .map_err(refused_credentials)?;
    // Check the organisation before keeping anything: the account must be
    // at the organisation whose key was previewed (and checked against the
    // letter), not another one the server switched to in between.
    let mut probe = api.clone();
    probe.set_token(Some(pair.access_token.clone()));
    let me: AccountInfo = probe.get("/v1/me").await?;
    if me.root_public_key != req.preview.root_public_key {
        // Do not leave a device behind on a server we do not trust.
        let _ = probe
            .call::<()>(
                reqwest::Method::DELETE,
                &format!("/v1/devices/{}", me.device_id),
                None,
            )
            .await;
        anyhow::bail!(ClientError::Verification(format!(
            "the sign-up landed at an organisation with the fingerprint {}, not the {} the code was shown for. Nothing was kept; call the municipality before you use this server",
            me.root_fingerprint, req.preview.root_fingerprint
        )));
    }
    let mut session = finish(
        profile,
        passphrase,
        api,
        pair,
        Fresh {
            device: req.device,
            root: None,
            username: None,
            root_checked: req.fingerprint.is_some(),
        },
    )
    .await?;
    session.upkeep(false).await?;
    Ok(session)
}

impl Session {
    /// Logs this citizen profile's device in again with a new invitation
    /// code from the organisation (for citizens without eID, whose session
    /// cannot be renewed otherwise). The code must be from the organisation
    /// this profile trusts and for this person; the device proves it holds
    /// its key, and keeps its keys and history.
    pub async fn relogin_with_code(
        profile: Profile,
        passphrase: &str,
        code: &str,
        consent: &ConsentText,
    ) -> Result<Session, anyhow::Error> {
        let config = profile.config()?;
        if config.kind != AccountKind::Citizen {
            anyhow::bail!("staff log in with their password: `samtale login`");
        }
        let keystore = Keystore::open(&profile.keystore_path(), passphrase)?;
        let api = Api::new(&config.server)?;
        let preview = preview_invitation(&api, code, None).await?;
        if preview.root_public_key != config.root_public_key {
            anyhow::bail!(ClientError::Verification(format!(
                "this code is from {} (fingerprint {}), not from the organisation this profile trusts ({}). Nothing was done",
                preview.organisation_name,
                preview.root_fingerprint,
                org_fingerprint(&config.root_public_key)
            )));
        }
        let device = keystore
            .secrets()
            .device()
            .ok_or_else(|| anyhow::anyhow!("the keystore holds no device key"))?;
        let pair: TokenPair = api
            .post(
                "/v1/signup",
                &RedeemInvitationRequest {
                    code: code.to_owned(),
                    id_token: None,
                    eid_flow: None,
                    device: device.public(),
                    device_label: "samtale".into(),
                    consent: ConsentAcceptance {
                        version: consent.version.clone(),
                        text_sha256: consent.text_sha256.clone(),
                    },
                    device_proof: Some(samtale_protocol::b64::encode(
                        &samtale_protocol::signup_again_proof(device, code),
                    )),
                },
            )
            .await
            .map_err(refused_credentials)?;
        if pair.account_id != config.account_id {
            anyhow::bail!(ClientError::Verification(
                "the server logged this device into another account; nothing was kept".into()
            ));
        }
        Self::started(profile, config, keystore, api, &pair).await
    }

    /// The session a new token pair starts: stored, used, and checked
    /// against the pinned organisation (`me`).
    async fn started(
        profile: Profile,
        config: ProfileConfig,
        keystore: Keystore,
        api: Api,
        pair: &TokenPair,
    ) -> Result<Session, anyhow::Error> {
        let mut session = Session {
            profile,
            config,
            keystore,
            api,
        };
        session.store_tokens(pair)?;
        session.me().await?;
        Ok(session)
    }

    /// Starts a new session for this profile's device: a staff password
    /// login, or a citizen's eID login with a fresh ID token.
    pub async fn relogin(
        profile: Profile,
        passphrase: &str,
        password: Option<&str>,
        new_password: Option<&str>,
        id_token: Option<String>,
    ) -> Result<Session, anyhow::Error> {
        let config = profile.config()?;
        let keystore = Keystore::open(&profile.keystore_path(), passphrase)?;
        let api = Api::new(&config.server)?;
        let device = keystore
            .secrets()
            .device()
            .ok_or_else(|| anyhow::anyhow!("the keystore holds no device key"))?;
        let pair: TokenPair = match (config.kind, password, id_token) {
            (AccountKind::Staff, Some(password), _) => {
                let username = config
                    .username
                    .clone()
                    .ok_or_else(|| anyhow::anyhow!("this profile has no user name"))?;
                api.post(
                    "/v1/sessions",
                    &samtale_protocol::wire::LoginRequest {
                        username,
                        password: password.to_owned(),
                        device: device.public(),
                        device_label: "samtale".into(),
                        new_password: new_password.map(str::to_owned),
                    },
                )
                .await
                .map_err(refused_credentials)?
            }
            (AccountKind::Citizen, _, Some(id_token)) => api
                .post(
                    "/v1/sessions/eid",
                    &EidLoginRequest {
                        id_token: Some(id_token),
                        eid_flow: None,
                        device: device.public(),
                        device_label: "samtale".into(),
                    },
                )
                .await
                .map_err(refused_credentials)?,
            _ => anyhow::bail!("staff log in with a password, citizens with eID"),
        };
        Self::started(profile, config, keystore, api, &pair).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_password_or_token() {
        let login = LoginRequest {
            server: "http://127.0.0.1:1",
            username: "mette",
            password: "correct horse battery staple",
            new_password: Some("another battery staple"),
            device_label: "desk",
        };
        let init = InitRequest {
            server: "http://127.0.0.1:1",
            enrolment_code: "ABCD-EFGH",
            organisation: "Randers Kommune",
            username: "anne",
            display_name: "Anne",
            password: "correct horse battery staple",
            device_label: "admin",
        };
        let mut api = Api::new("http://127.0.0.1:1").unwrap();
        api.set_token(Some("eyJ-secret-token".into()));
        let shown = format!("{login:?} {init:?} {api:?}");
        assert!(!shown.contains("battery"), "{shown}");
        assert!(!shown.contains("ABCD"), "{shown}");
        assert!(!shown.contains("secret-token"), "{shown}");
        assert!(shown.contains("mette"));
    }
}
