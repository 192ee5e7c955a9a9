//! The claims of a national eID broker's OpenID Connect ID token, checked
//! once its signature, issuer and audience have verified (the server does
//! that with the broker's keys): time claims against the server's clock
//! with a leeway, the nonce bound to the new device ([`crate::eid_nonce`]),
//! the level of assurance (`acr`) against a minimum, the subject and the
//! national-id claim. Pure, so the rules can be read, tested and fuzzed on
//! their own. No error echoes a claim's value.

use serde_json::Value;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::wire::AssuranceLevel;

/// Seconds of clock skew accepted on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECONDS: i64 = 60;
/// The longest an ID token may be valid for, as a sanity check.
pub const MAX_TOKEN_LIFETIME: i64 = 24 * 3600;

/// What the claims are checked against.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRules<'a> {
    /// The claim that carries the national id number (broker-specific).
    pub national_id_claim: &'a str,
    /// The lowest acceptable level of assurance.
    pub min_level: AssuranceLevel,
}

/// What the claims prove, once checked.
pub struct CheckedClaims {
    /// `sub`.
    pub subject: String,
    /// The national id claim (the server compares it as a keyed hash and
    /// never stores it).
    pub national_id: Zeroizing<String>,
    /// The level of assurance.
    pub level: AssuranceLevel,
    /// `exp`.
    pub expires_at: i64,
}

impl std::fmt::Debug for CheckedClaims {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckedClaims")
            .field("level", &self.level)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Why the claims were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ClaimError {
    /// `exp` has passed, or the token is valid for implausibly long.
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
    /// `acr` names no known level.
    #[error("the ID token's level of assurance (acr) is missing or unknown")]
    UnknownAcr,
    /// `acr` is below the minimum.
    #[error("the eID login's level of assurance is {got:?}; at least {need:?} is required")]
    AcrTooLow {
        /// What the token had.
        got: AssuranceLevel,
        /// What is required.
        need: AssuranceLevel,
    },
}

/// Maps an `acr` value to a level: the Danish NSIS URIs, the eIDAS URIs,
/// and the bare words.
///
/// ```
/// use samtale_protocol::eid::acr_level;
/// use samtale_protocol::wire::AssuranceLevel;
/// assert_eq!(
///     acr_level("https://data.gov.dk/concept/core/nsis/loa/Substantial"),
///     Some(AssuranceLevel::Substantial)
/// );
/// assert_eq!(acr_level("urn:mace:incommon:iap:silver"), None);
/// ```
pub fn acr_level(acr: &str) -> Option<AssuranceLevel> {
    let last = acr
        .rsplit(['/', ':', '#'])
        .next()
        .unwrap_or(acr)
        .to_ascii_lowercase();
    match last.as_str() {
        "low" => Some(AssuranceLevel::Low),
        "substantial" => Some(AssuranceLevel::Substantial),
        "high" => Some(AssuranceLevel::High),
        _ => None,
    }
}

/// Checks a verified ID token's claims for a device whose nonce is
/// `nonce`, at `now` (Unix seconds).
pub fn check_claims(
    claims: &Value,
    rules: &ClaimRules<'_>,
    nonce: &str,
    now: i64,
) -> Result<CheckedClaims, ClaimError> {
    let number = |name: &'static str| claims.get(name).and_then(Value::as_i64);
    let exp = number("exp").ok_or(ClaimError::MissingClaim("exp"))?;
    let iat = number("iat").ok_or(ClaimError::MissingClaim("iat"))?;
    if exp.saturating_add(LEEWAY_SECONDS) <= now {
        return Err(ClaimError::Expired);
    }
    if iat.saturating_sub(LEEWAY_SECONDS) > now
        || number("nbf").is_some_and(|nbf| nbf.saturating_sub(LEEWAY_SECONDS) > now)
    {
        return Err(ClaimError::NotYetValid);
    }
    if exp.saturating_sub(iat) > MAX_TOKEN_LIFETIME {
        return Err(ClaimError::Expired);
    }
    let token_nonce = claims
        .get("nonce")
        .and_then(Value::as_str)
        .ok_or(ClaimError::MissingClaim("nonce"))?;
    if !bool::from(token_nonce.as_bytes().ct_eq(nonce.as_bytes())) {
        return Err(ClaimError::WrongNonce);
    }
    let level = claims
        .get("acr")
        .and_then(Value::as_str)
        .and_then(acr_level)
        .ok_or(ClaimError::UnknownAcr)?;
    if level < rules.min_level {
        return Err(ClaimError::AcrTooLow {
            got: level,
            need: rules.min_level,
        });
    }
    let national_id = claims
        .get(rules.national_id_claim)
        .and_then(Value::as_str)
        .ok_or(ClaimError::MissingClaim("national id"))?;
    let subject = claims
        .get("sub")
        .and_then(Value::as_str)
        .ok_or(ClaimError::MissingClaim("sub"))?;
    Ok(CheckedClaims {
        subject: subject.to_owned(),
        national_id: Zeroizing::new(national_id.to_owned()),
        level,
        expires_at: exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RULES: ClaimRules<'static> = ClaimRules {
        national_id_claim: "cpr",
        min_level: AssuranceLevel::Substantial,
    };

    fn claims() -> Value {
        json!({"sub": "s1", "exp": 1_100, "iat": 1_000, "nonce": "n", "acr": "substantial", "cpr": "0102031234"})
    }

    #[test]
    fn good_claims_pass_and_each_rule_refuses_by_name() {
        let ok = check_claims(&claims(), &RULES, "n", 1_050).unwrap();
        assert_eq!(ok.level, AssuranceLevel::Substantial);
        assert_eq!(ok.expires_at, 1_100);
        assert!(!format!("{ok:?}").contains("0102031234"));
        let with = |k: &str, v: Value| {
            let mut c = claims();
            c[k] = v;
            check_claims(&c, &RULES, "n", 1_050).map(|_| ())
        };
        assert_eq!(
            check_claims(&claims(), &RULES, "n", 1_161).map(|_| ()),
            Err(ClaimError::Expired)
        );
        assert_eq!(with("iat", json!(1_200)), Err(ClaimError::NotYetValid));
        assert_eq!(with("nbf", json!(1_200)), Err(ClaimError::NotYetValid));
        assert_eq!(
            with("exp", json!(1_000 + MAX_TOKEN_LIFETIME + 1)),
            Err(ClaimError::Expired)
        );
        assert_eq!(with("nonce", json!("m")), Err(ClaimError::WrongNonce));
        assert_eq!(
            with("nonce", json!(1)),
            Err(ClaimError::MissingClaim("nonce"))
        );
        assert_eq!(with("acr", json!("silver")), Err(ClaimError::UnknownAcr));
        assert_eq!(
            with("acr", json!("low")),
            Err(ClaimError::AcrTooLow {
                got: AssuranceLevel::Low,
                need: AssuranceLevel::Substantial
            })
        );
        assert_eq!(
            with("cpr", json!(102031234)),
            Err(ClaimError::MissingClaim("national id"))
        );
        assert_eq!(
            with("sub", Value::Null),
            Err(ClaimError::MissingClaim("sub"))
        );
        assert_eq!(
            with("exp", json!("soon")),
            Err(ClaimError::MissingClaim("exp"))
        );
        // Extreme times neither overflow nor pass.
        assert_eq!(with("exp", json!(i64::MAX)), Err(ClaimError::Expired));
        assert_eq!(with("iat", json!(i64::MIN)), Err(ClaimError::Expired));
    }
}
