//! Verification of OpenID Connect ID tokens from national eID brokers
//! (MitID, BankID, Freja): signature against the broker's JWKS (fetched,
//! cached, refreshed on an unknown `kid`), issuer, audience, time claims with
//! a small leeway, the nonce bound to the new device, the national-id claim
//! and the level of assurance. Each refusal names the check that failed;
//! none echoes the token or a claim value.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use samtale_protocol::wire::AssuranceLevel;
use serde_json::Value;
use tokio::sync::RwLock;
use zeroize::Zeroizing;

use crate::config::EidProviderSettings;

pub use samtale_protocol::eid::{LEEWAY_SECONDS, MAX_TOKEN_LIFETIME, acr_level};
/// Keys are refetched at most this often (seconds) when a token names an
/// unknown `kid`.
pub const REFETCH_INTERVAL: i64 = 30;
/// Keys older than this (seconds) are refetched before use.
const MAX_KEY_AGE: i64 = 3600;

/// Asymmetric signature algorithms accepted from brokers. Symmetric (`HS*`)
/// and `none` are never accepted.
const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// Why an ID token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EidError {
    /// Not a signed JWT.
    #[error("the ID token is not a signed JWT")]
    Malformed,
    /// `alg` is `none`, symmetric, or otherwise not allowed.
    #[error("the ID token's signature algorithm is not accepted (only asymmetric algorithms are)")]
    AlgorithmNotAllowed,
    /// No configured broker has this issuer.
    #[error("the ID token comes from an issuer this server does not trust")]
    UnknownIssuer,
    /// The broker publishes no key with this `kid`.
    #[error("the ID token is signed with a key the eID broker does not publish")]
    UnknownKey,
    /// The signature does not verify.
    #[error("the ID token's signature is not valid")]
    BadSignature,
    /// `aud` is not this server's client id.
    #[error("the ID token was issued for another client (aud)")]
    WrongAudience,
    /// `exp` has passed.
    #[error("the ID token has expired; log in with eID again")]
    Expired,
    /// `nbf` or `iat` is in the future.
    #[error("the ID token is not valid yet (nbf or iat in the future); check the device clock")]
    NotYetValid,
    /// A required claim is missing or of the wrong type.
    #[error("the ID token lacks the {0} claim")]
    MissingClaim(&'static str),
    /// The nonce is not the one derived from the new device's keys.
    #[error(
        "the ID token's nonce does not belong to this device; log in with eID again from this device"
    )]
    WrongNonce,
    /// The national id does not match the invitation.
    #[error("the eID identity does not match the person this invitation is for")]
    NationalIdMismatch,
    /// `acr` names no known level.
    #[error("the ID token's level of assurance (acr) is missing or unknown")]
    UnknownAcr,
    /// `acr` is below the configured minimum.
    #[error("the eID login's level of assurance is {got:?}; at least {need:?} is required")]
    AcrTooLow {
        /// What the token had.
        got: AssuranceLevel,
        /// What is configured.
        need: AssuranceLevel,
    },
    /// The token was used before.
    #[error("this ID token has already been used; log in with eID again")]
    Replayed,
    /// The web app's eID login is not configured at any broker.
    #[error("this server offers no eID login for the web app; ask the municipality")]
    NoWebClient,
    /// The broker could not be reached, or its discovery document is bad.
    #[error("the eID broker cannot be reached right now; try again in a few minutes")]
    BrokerUnavailable,
    /// The broker refused the authorization code (used, expired, or the
    /// login was not finished).
    #[error("the eID login did not finish; start it again")]
    CodeRefused,
    /// The broker's keys could not be fetched.
    #[error("the eID broker's keys could not be fetched; try again later")]
    KeysUnavailable,
}

/// What a verified ID token proves.
pub struct VerifiedIdentity {
    /// `iss`.
    pub issuer: String,
    /// `sub`.
    pub subject: String,
    /// The national id claim (never stored; compared as a keyed hash).
    pub national_id: Zeroizing<String>,
    /// The level of assurance.
    pub level: AssuranceLevel,
    /// `exp`, to keep the replay record until then.
    pub expires_at: i64,
}

impl From<samtale_protocol::eid::ClaimError> for EidError {
    fn from(e: samtale_protocol::eid::ClaimError) -> Self {
        use samtale_protocol::eid::ClaimError as C;
        match e {
            C::Expired => Self::Expired,
            C::NotYetValid => Self::NotYetValid,
            C::MissingClaim(c) => Self::MissingClaim(c),
            C::WrongNonce => Self::WrongNonce,
            C::UnknownAcr => Self::UnknownAcr,
            C::AcrTooLow { got, need } => Self::AcrTooLow { got, need },
        }
    }
}

impl std::fmt::Debug for VerifiedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedIdentity")
            .field("issuer", &self.issuer)
            .field("level", &self.level)
            .finish_non_exhaustive()
    }
}

struct CachedKeys {
    set: JwkSet,
    /// When (server clock, Unix seconds).
    fetched: Option<i64>,
}

struct Provider {
    settings: EidProviderSettings,
    min_level: AssuranceLevel,
    keys: RwLock<CachedKeys>,
    /// The broker's endpoints, from its discovery document (fetched once).
    endpoints: tokio::sync::OnceCell<Endpoints>,
}

/// Where the broker's login page and token endpoint are.
#[derive(Debug, Clone, serde::Deserialize)]
struct Endpoints {
    authorization_endpoint: String,
    token_endpoint: String,
}

/// The configured brokers and their cached keys. Cheap to clone.
#[derive(Clone)]
pub struct EidVerifier {
    providers: Arc<Vec<Provider>>,
    http: reqwest::Client,
}

impl std::fmt::Debug for EidVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EidVerifier")
            .field(
                "issuers",
                &self
                    .providers
                    .iter()
                    .map(|p| p.settings.issuer.as_str())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl EidVerifier {
    /// A verifier for the configured brokers (none: eID is off).
    pub fn new(settings: &[EidProviderSettings]) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()?;
        let providers = settings
            .iter()
            .map(|s| Provider {
                min_level: acr_level(&s.min_assurance).unwrap_or(AssuranceLevel::Substantial),
                settings: s.clone(),
                keys: RwLock::new(CachedKeys {
                    set: JwkSet { keys: Vec::new() },
                    fetched: None,
                }),
                endpoints: tokio::sync::OnceCell::new(),
            })
            .collect();
        Ok(Self {
            providers: Arc::new(providers),
            http,
        })
    }

    /// What a citizen's app needs to log in at each broker.
    pub fn public_info(&self) -> Vec<samtale_protocol::wire::EidProviderInfo> {
        self.providers
            .iter()
            .map(|p| samtale_protocol::wire::EidProviderInfo {
                issuer: p.settings.issuer.clone(),
                client_id: p.settings.client_id.clone(),
                scope: p.settings.scope.clone(),
                acr_values: p.settings.acr_values.clone(),
            })
            .collect()
    }

    /// Whether any broker is configured.
    pub fn enabled(&self) -> bool {
        !self.providers.is_empty()
    }

    /// Whether the web app can log citizens in (a broker has a web client).
    pub fn web_enabled(&self) -> bool {
        self.web_provider().is_some()
    }

    fn web_provider(&self) -> Option<&Provider> {
        self.providers
            .iter()
            .find(|p| p.settings.web_client_id.is_some())
    }

    async fn endpoints<'a>(&self, provider: &'a Provider) -> Result<&'a Endpoints, EidError> {
        provider
            .endpoints
            .get_or_try_init(|| async {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    provider.settings.issuer.trim_end_matches('/')
                );
                let response = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .and_then(reqwest::Response::error_for_status)
                    .map_err(|error| {
                        tracing::warn!(%error, issuer = provider.settings.issuer, "cannot fetch the eID broker's discovery document");
                        EidError::BrokerUnavailable
                    })?;
                response.json::<Endpoints>().await.map_err(|error| {
                    tracing::warn!(%error, issuer = provider.settings.issuer, "the eID broker's discovery document is malformed");
                    EidError::BrokerUnavailable
                })
            })
            .await
    }

    /// The broker's login page for the web app's client: authorization
    /// code flow with PKCE (S256), the device-bound `nonce`, and `state`.
    pub async fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        code_challenge: &str,
    ) -> Result<String, EidError> {
        let provider = self.web_provider().ok_or(EidError::NoWebClient)?;
        let endpoints = self.endpoints(provider).await?;
        let client_id = provider
            .settings
            .web_client_id
            .as_deref()
            .ok_or(EidError::NoWebClient)?;
        let mut params = vec![
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", provider.settings.scope.as_str()),
            ("state", state),
            ("nonce", nonce),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ];
        if let Some(acr) = provider.settings.acr_values.as_deref() {
            params.push(("acr_values", acr));
        }
        reqwest::Url::parse_with_params(&endpoints.authorization_endpoint, &params)
            .map(String::from)
            .map_err(|_| EidError::BrokerUnavailable)
    }

    /// Exchanges an authorization code at the broker's token endpoint (as
    /// the web app's client, with its secret when it has one) and returns
    /// the ID token. The access token the broker also sends is dropped.
    pub async fn exchange_code(
        &self,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<Zeroizing<String>, EidError> {
        let provider = self.web_provider().ok_or(EidError::NoWebClient)?;
        let endpoints = self.endpoints(provider).await?;
        let client_id = provider
            .settings
            .web_client_id
            .as_deref()
            .ok_or(EidError::NoWebClient)?;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ];
        let mut request = self.http.post(&endpoints.token_endpoint);
        match &provider.settings.web_client_secret {
            Some(secret) => request = request.basic_auth(client_id, Some(&secret.0)),
            None => form.push(("client_id", client_id)),
        }
        let response = request.form(&form).send().await.map_err(|error| {
            tracing::warn!(%error, issuer = provider.settings.issuer, "the eID broker's token endpoint is unreachable");
            EidError::BrokerUnavailable
        })?;
        if !response.status().is_success() {
            tracing::info!(
                status = response.status().as_u16(),
                issuer = provider.settings.issuer,
                "the eID broker refused the authorization code"
            );
            return Err(EidError::CodeRefused);
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            id_token: Option<String>,
        }
        let body: TokenResponse = response.json().await.map_err(|_| EidError::Malformed)?;
        body.id_token
            .map(Zeroizing::new)
            .ok_or(EidError::MissingClaim("id_token"))
    }

    async fn fetch(&self, provider: &Provider, now: i64) -> Result<(), EidError> {
        let response = self
            .http
            .get(&provider.settings.jwks_url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|error| {
                tracing::warn!(%error, issuer = provider.settings.issuer, "cannot fetch the eID broker's JWKS");
                EidError::KeysUnavailable
            })?;
        let set: JwkSet = response.json().await.map_err(|error| {
            tracing::warn!(%error, issuer = provider.settings.issuer, "the eID broker's JWKS is malformed");
            EidError::KeysUnavailable
        })?;
        let mut keys = provider.keys.write().await;
        keys.set = set;
        keys.fetched = Some(now);
        Ok(())
    }

    async fn key_for(
        &self,
        provider: &Provider,
        kid: Option<&str>,
        now: i64,
    ) -> Result<DecodingKey, EidError> {
        let lookup = |set: &JwkSet| -> Option<DecodingKey> {
            let jwk = match kid {
                Some(kid) => set.find(kid)?,
                // Without a kid, only an unambiguous single key is used.
                None if set.keys.len() == 1 => set.keys.first()?,
                None => return None,
            };
            DecodingKey::from_jwk(jwk).ok()
        };
        let (found, fetched) = {
            let keys = provider.keys.read().await;
            (lookup(&keys.set), keys.fetched)
        };
        let stale = fetched.is_none_or(|t| now - t > MAX_KEY_AGE);
        if let Some(key) = found
            && !stale
        {
            return Ok(key);
        }
        // Unknown kid (a key rotation) or stale keys: refetch, but not more
        // often than REFETCH_INTERVAL, so forged kids cannot hammer the broker.
        if fetched.is_none_or(|t| now - t >= REFETCH_INTERVAL) || stale {
            self.fetch(provider, now).await?;
        }
        let keys = provider.keys.read().await;
        lookup(&keys.set).ok_or(EidError::UnknownKey)
    }

    /// Verifies `token` for a device whose nonce is `nonce`, at `now`.
    /// The national id is returned for the caller to compare (keyed).
    pub async fn verify(
        &self,
        token: &str,
        nonce: &str,
        now: i64,
    ) -> Result<VerifiedIdentity, EidError> {
        if token.len() > 16 * 1024 {
            return Err(EidError::Malformed);
        }
        // `alg: none` and unknown algorithms fail to parse as a header.
        let header = jsonwebtoken::decode_header(token).map_err(|e| {
            if token.split('.').count() == 3 {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::Json(_)
                    | jsonwebtoken::errors::ErrorKind::InvalidAlgorithmName => {
                        EidError::AlgorithmNotAllowed
                    }
                    _ => EidError::Malformed,
                }
            } else {
                EidError::Malformed
            }
        })?;
        if !ALLOWED.contains(&header.alg) {
            return Err(EidError::AlgorithmNotAllowed);
        }
        // Which broker: read `iss` before verifying, only to pick its keys.
        let unverified = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(token)
            .map_err(|_| EidError::Malformed)?;
        let issuer = unverified
            .get("iss")
            .and_then(Value::as_str)
            .ok_or(EidError::MissingClaim("iss"))?;
        let provider = self
            .providers
            .iter()
            .find(|p| p.settings.issuer == issuer)
            .ok_or(EidError::UnknownIssuer)?;
        let key = self.key_for(provider, header.kid.as_deref(), now).await?;

        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[&provider.settings.issuer]);
        // Native apps' client id, and the web app's (the server's own login).
        let mut audiences = vec![provider.settings.client_id.as_str()];
        audiences.extend(provider.settings.web_client_id.as_deref());
        validation.set_audience(&audiences);
        validation.set_required_spec_claims(&["iss", "aud", "sub", "exp", "iat"]);
        // Times are checked below against the server's clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Value>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidAudience => EidError::WrongAudience,
                jsonwebtoken::errors::ErrorKind::InvalidIssuer => EidError::UnknownIssuer,
                jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(c) => {
                    EidError::MissingClaim(match c.as_str() {
                        "aud" => "aud",
                        "sub" => "sub",
                        "exp" => "exp",
                        "iat" => "iat",
                        _ => "iss",
                    })
                }
                jsonwebtoken::errors::ErrorKind::InvalidSignature
                | jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
                | jsonwebtoken::errors::ErrorKind::InvalidKeyFormat => EidError::BadSignature,
                _ => EidError::Malformed,
            })?
            .claims;

        let checked = samtale_protocol::eid::check_claims(
            &claims,
            &samtale_protocol::eid::ClaimRules {
                national_id_claim: &provider.settings.national_id_claim,
                min_level: provider.min_level,
            },
            nonce,
            now,
        )?;
        Ok(VerifiedIdentity {
            issuer: provider.settings.issuer.clone(),
            subject: checked.subject,
            national_id: checked.national_id,
            level: checked.level,
            expires_at: checked.expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acr_values_of_nsis_eidas_and_plain_words_map_to_levels() {
        assert_eq!(
            acr_level("https://data.gov.dk/concept/core/nsis/loa/Substantial"),
            Some(AssuranceLevel::Substantial)
        );
        assert_eq!(
            acr_level("http://eidas.europa.eu/LoA/high"),
            Some(AssuranceLevel::High)
        );
        assert_eq!(acr_level("low"), Some(AssuranceLevel::Low));
        assert_eq!(acr_level("urn:mace:incommon:iap:silver"), None);
        assert!(AssuranceLevel::Low < AssuranceLevel::Substantial);
    }
}
