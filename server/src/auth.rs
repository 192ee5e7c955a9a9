//! Credentials: password hashing, access and refresh tokens, invitation and
//! enrolment codes, the keyed hash of national ids, and the server's own
//! secret keys. Nothing here logs or stores a secret in the clear.

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use argon2::password_hash::PasswordHasher as _;
use argon2::{Algorithm as ArgonAlgorithm, Argon2, Block, Params, PasswordHash, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

// ------------------------------------------------------------------ clock

/// Wall-clock time in Unix seconds, which tests can move forward.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset: Arc<AtomicI64>,
}

impl Clock {
    /// Seconds since the Unix epoch, plus any offset a test added.
    pub fn now(&self) -> i64 {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        real.saturating_add(self.offset.load(Ordering::Relaxed))
    }

    /// Milliseconds since the Unix epoch, plus any offset a test added.
    pub fn now_ms(&self) -> i64 {
        let real = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        real.saturating_add(self.offset.load(Ordering::Relaxed).saturating_mul(1000))
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, seconds: i64) {
        self.offset.fetch_add(seconds, Ordering::Relaxed);
    }
}

// ------------------------------------------------------------------ secrets

/// A 32-byte server secret. Zeroized on drop; never printed.
#[derive(Clone)]
pub struct SecretKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(***)")
    }
}

/// Why a server secret could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key file could not be read or written.
    #[error("cannot use the key file {path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The value is not 32 bytes of base64.
    #[error("{what} must be 32 random bytes in base64 (make one with `openssl rand -base64 32`)")]
    Malformed {
        /// Which setting.
        what: &'static str,
    },
}

impl SecretKey {
    /// Wraps raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Parses base64 (standard or URL-safe, padded or not).
    pub fn from_base64(text: &str, what: &'static str) -> Result<Self, SecretError> {
        let text = text.trim().trim_end_matches('=');
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| SecretError::Malformed { what })?,
        );
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| SecretError::Malformed { what })?;
        Ok(Self::from_bytes(arr))
    }

    /// Reads the key from `path`, creating it (mode 0600, random) if absent.
    pub fn load_or_create(path: &Path, what: &'static str) -> Result<Self, SecretError> {
        let io = |source| SecretError::Io {
            path: path.to_owned(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_base64(&text, what),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let mut bytes = Zeroizing::new([0u8; 32]);
                getrandom::fill(bytes.as_mut()).map_err(|e| io(std::io::Error::other(e)))?;
                let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(*bytes));
                write_private(path, text.as_bytes()).map_err(io)?;
                Ok(Self::from_bytes(*bytes))
            }
            Err(e) => Err(io(e)),
        }
    }

    /// HMAC-SHA256 under this key of `label` and `data` (length-prefixed,
    /// so no two pairs give the same input).
    pub fn mac(&self, label: &[u8], data: &[u8]) -> [u8; 32] {
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(self.bytes())
            .unwrap_or_else(|_| <hmac::Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(&u64::try_from(label.len()).unwrap_or(0).to_be_bytes());
        mac.update(label);
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Fresh random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], getrandom::Error> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out)?;
    Ok(out)
}

// ------------------------------------------------------------------ passwords

/// Minimum password length for staff accounts.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// argon2id with OWASP's recommended parameters (19 MiB, 2 passes, 1 lane),
/// run on the blocking pool behind a small semaphore so a login flood
/// cannot starve the relay. Verifying an unknown user costs the same as a
/// known one: it is checked against a dummy hash.
///
/// Each permit owns one 19 MiB working memory, allocated once and reused
/// for every verification: a burst of logins costs no allocation at all,
/// so the process's memory stays at `concurrency × 19 MiB` however many
/// logins arrive (the allocator never sees the buffers freed, so it never
/// keeps them).
#[derive(Clone, Debug)]
pub struct Passwords {
    permits: Arc<Semaphore>,
    arenas: Arc<Mutex<Vec<Vec<Block>>>>,
    dummy: Arc<String>,
}

/// Hashing failed (randomness or a parameter error): nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct PasswordError;

fn params() -> Params {
    // OWASP: m = 19456 KiB, t = 2, p = 1. These constants are valid.
    Params::new(19_456, 2, 1, Some(32)).unwrap_or_default()
}

fn argon2() -> Argon2<'static> {
    Argon2::new(ArgonAlgorithm::Argon2id, Version::V0x13, params())
}

fn hash_blocking(password: &[u8]) -> Result<String, PasswordError> {
    let salt = random_bytes::<16>().map_err(|_| PasswordError)?;
    argon2()
        .hash_password_with_salt(password, &salt)
        .map(|h| h.to_string())
        .map_err(|_| PasswordError)
}

/// Verifies `password` against a PHC string in the caller's working memory.
/// A stored hash that asks for more memory than an arena holds is refused
/// (every hash this server makes fits).
fn verify_in(password: &[u8], stored: &str, memory: &mut [Block]) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        ArgonAlgorithm::new(parsed.algorithm.as_str()),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = parsed
        .version
        .and_then(|v| Version::try_from(v).ok())
        .unwrap_or(Version::V0x13);
    let Some(memory) = memory.get_mut(..params.block_count()) else {
        return false;
    };
    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut out, memory)
        .is_ok()
        && bool::from(subtle::ConstantTimeEq::ct_eq(&out[..], expected.as_bytes()))
}

impl Passwords {
    /// `concurrency` hashes may run at once; each has its working memory.
    pub fn new(concurrency: usize) -> Result<Self, PasswordError> {
        let dummy = hash_blocking(b"samtale dummy password, never matches")?;
        let concurrency = concurrency.max(1);
        let blocks = params().block_count();
        Ok(Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            arenas: Arc::new(Mutex::new(
                (0..concurrency)
                    .map(|_| vec![Block::new(); blocks])
                    .collect(),
            )),
            dummy: Arc::new(dummy),
        })
    }

    /// Hashes a new password (PHC string).
    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        let _permit = self.permits.acquire().await.map_err(|_| PasswordError)?;
        let password = Zeroizing::new(password.as_bytes().to_vec());
        tokio::task::spawn_blocking(move || hash_blocking(&password))
            .await
            .map_err(|_| PasswordError)?
    }

    /// Checks a password against a stored hash, or against the dummy hash
    /// when there is none, so that both take the same work.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        // A permit guarantees a free arena.
        let Some(mut arena) = self
            .arenas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
        else {
            return false;
        };
        let known = stored.is_some();
        let hash = stored.map_or_else(|| self.dummy.as_str().to_owned(), str::to_owned);
        let password = Zeroizing::new(password.as_bytes().to_vec());
        let (matched, arena) = tokio::task::spawn_blocking(move || {
            let matched = verify_in(&password, &hash, &mut arena);
            (matched, arena)
        })
        .await
        .unwrap_or_else(|_| (false, vec![Block::new(); params().block_count()]));
        self.arenas
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(arena);
        matched && known
    }
}

// ------------------------------------------------------------------ tokens

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The account.
    pub sub: String,
    /// The device the token is bound to.
    pub did: String,
    /// The session (refresh-token family).
    pub sid: String,
    /// `staff` or `citizen`.
    pub knd: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires (Unix seconds).
    pub exp: i64,
}

/// Why an access token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Malformed, badly signed, wrong algorithm, issuer or audience.
    #[error("the access token is not valid")]
    Invalid,
    /// Past its expiry.
    #[error("the access token has expired")]
    Expired,
}

/// Issues and checks access tokens: HS256 under the server's token key,
/// with an explicit algorithm, issuer and audience.
#[derive(Clone)]
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    audience: String,
    /// Lifetime of an access token, seconds (at most 15 minutes).
    pub access_ttl: i64,
    /// Lifetime of a session (its refresh tokens), seconds.
    pub session_ttl: i64,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("access_ttl", &self.access_ttl)
            .finish_non_exhaustive()
    }
}

/// The audience of Samtale access tokens.
pub const TOKEN_AUDIENCE: &str = "samtale-api";

impl Tokens {
    /// Tokens under `key`, issued as `issuer`.
    pub fn new(key: &SecretKey, issuer: &str, access_ttl: i64, session_ttl: i64) -> Self {
        Self {
            encoding: EncodingKey::from_secret(key.bytes()),
            decoding: DecodingKey::from_secret(key.bytes()),
            issuer: issuer.to_owned(),
            audience: TOKEN_AUDIENCE.to_owned(),
            access_ttl: access_ttl.clamp(1, 15 * 60),
            session_ttl,
        }
    }

    /// A signed access token.
    pub fn issue(
        &self,
        sub: &str,
        did: &str,
        sid: &str,
        knd: &str,
        now: i64,
    ) -> Result<String, TokenError> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: sub.to_owned(),
            did: did.to_owned(),
            sid: sid.to_owned(),
            knd: knd.to_owned(),
            iat: now,
            exp: now + self.access_ttl,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|_| TokenError::Invalid)
    }

    /// Checks signature, algorithm, issuer and audience, then expiry against
    /// `now` (the server's clock, no leeway for its own tokens).
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, TokenError> {
        if token.len() > samtale_protocol::wire::MAX_TOKEN_BYTES {
            return Err(TokenError::Invalid);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Expiry is checked below against the server's clock.
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

/// A fresh opaque refresh token and its hash (only the hash is stored).
pub fn new_refresh_token() -> Result<(Zeroizing<String>, [u8; 32]), getrandom::Error> {
    let bytes = Zeroizing::new(random_bytes::<32>()?);
    let token = Zeroizing::new(format!("srt_{}", URL_SAFE_NO_PAD.encode(*bytes)));
    let hash = sha256(&[b"samtale/v1/refresh-token", token.as_bytes()]);
    Ok((token, hash))
}

/// The stored hash of a presented refresh token.
pub fn refresh_token_hash(token: &str) -> [u8; 32] {
    sha256(&[b"samtale/v1/refresh-token", token.as_bytes()])
}

/// The hash under which a used eID ID token is remembered.
pub fn id_token_hash(token: &str) -> [u8; 32] {
    sha256(&[b"samtale/v1/id-token\0", token.as_bytes()])
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// SHA-256 as lowercase hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha256(&[data]))
}

// ------------------------------------------------------------------ codes

/// Crockford's base32 alphabet: no I, L, O or U, so a code read aloud or
/// typed from paper is hard to get wrong.
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Characters in an invitation code (5 groups of 4).
pub const CODE_CHARS: usize = 20;
/// The first characters: the non-secret handle that finds the invitation
/// and counts failed attempts (40 bits).
pub const HANDLE_CHARS: usize = 8;
// The remaining 12 characters carry 60 bits of secret.

/// A one-time code: its text for people, its handle and its hash.
pub struct OneTimeCode {
    /// Grouped for reading aloud: `7K3Q-…`.
    pub text: Zeroizing<String>,
    /// The handle (first 8 characters).
    pub handle: String,
    /// SHA-256 of the normalised code.
    pub hash: [u8; 32],
}

/// A fresh code of [`CODE_CHARS`] characters under `domain`.
pub fn new_code(domain: &[u8]) -> Result<OneTimeCode, getrandom::Error> {
    let random = Zeroizing::new(random_bytes::<CODE_CHARS>()?);
    let plain: Zeroizing<String> = Zeroizing::new(
        random
            .iter()
            .map(|b| char::from(CROCKFORD[usize::from(b & 31)]))
            .collect(),
    );
    let mut grouped = String::with_capacity(CODE_CHARS + CODE_CHARS / 4);
    for (i, c) in plain.chars().enumerate() {
        if i > 0 && i % 4 == 0 {
            grouped.push('-');
        }
        grouped.push(c);
    }
    Ok(OneTimeCode {
        text: Zeroizing::new(grouped),
        handle: plain[..HANDLE_CHARS].to_owned(),
        hash: code_hash(domain, &plain),
    })
}

/// Normalises a typed code: case, spaces and dashes ignored, O→0, I/L→1.
/// `None` when it cannot be a code (wrong length or characters).
pub fn normalise_code(typed: &str) -> Option<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(CODE_CHARS));
    for c in typed.chars() {
        let c = match c.to_ascii_uppercase() {
            ' ' | '-' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c if CROCKFORD.contains(&(c as u8)) && c.is_ascii() => c,
            _ => return None,
        };
        if out.len() == CODE_CHARS {
            return None;
        }
        out.push(c);
    }
    (out.len() == CODE_CHARS).then_some(out)
}

/// The stored hash of a normalised code.
pub fn code_hash(domain: &[u8], normalised: &str) -> [u8; 32] {
    sha256(&[domain, b"\0", normalised.as_bytes()])
}

/// Constant-time equality of two hashes.
pub fn hashes_equal(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Domain of invitation code hashes.
pub const INVITATION_DOMAIN: &[u8] = b"samtale/v1/invitation-code";
/// Domain of enrolment code hashes.
pub const ENROLMENT_DOMAIN: &[u8] = b"samtale/v1/enrolment-code";

// ------------------------------------------------------------------ eID flows

/// Derives an eID login's OAuth `state` and PKCE verifier from the flow's
/// id (the SHA-256 of the page's handle) under a server key, so neither
/// needs storing: HMAC-SHA256 with a label per use, in base64url.
#[derive(Clone, Debug)]
pub struct EidFlowKey {
    key: SecretKey,
}

impl EidFlowKey {
    /// Keys derived from `key` (the token key; each use has its own label).
    pub fn new(key: SecretKey) -> Self {
        Self { key }
    }

    fn derive(&self, label: &[u8], flow_id: &[u8]) -> String {
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(self.key.bytes())
            .unwrap_or_else(|_| <hmac::Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(label);
        mac.update(flow_id);
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// The OAuth `state` for the flow with this id.
    pub fn state(&self, flow_id: &[u8]) -> String {
        self.derive(b"samtale/v1/eid-flow/state\0", flow_id)
    }

    /// The PKCE `code_verifier` (43 characters) for the flow.
    pub fn code_verifier(&self, flow_id: &[u8]) -> Zeroizing<String> {
        Zeroizing::new(self.derive(b"samtale/v1/eid-flow/pkce\0", flow_id))
    }
}

/// SHA-256, for storing handles and states by hash.
pub fn sha256_of(text: &str) -> [u8; 32] {
    sha256(&[text.as_bytes()])
}

// ------------------------------------------------------------------ national ids

/// Keyed hash of national id numbers: HMAC-SHA256 over the digits only, so
/// `010203-1234` and `0102031234` match. The number itself is never stored.
#[derive(Clone, Debug)]
pub struct NationalIdHasher {
    key: SecretKey,
}

impl NationalIdHasher {
    /// A hasher under `key`.
    pub fn new(key: SecretKey) -> Self {
        Self { key }
    }

    /// The keyed hash.
    pub fn hash(&self, national_id: &str) -> [u8; 32] {
        let digits: Zeroizing<String> =
            Zeroizing::new(national_id.chars().filter(char::is_ascii_digit).collect());
        let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(self.key.bytes())
            .unwrap_or_else(|_| <hmac::Hmac<Sha256> as KeyInit>::new(&Default::default()));
        mac.update(b"samtale/v1/national-id\0");
        mac.update(digits.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// Why `text` is refused as an invitation's national id.
pub fn national_id_refusal(text: &str) -> &'static str {
    use samtale_protocol::minimise::{Category, scan};
    if scan(text.trim())
        .iter()
        .any(|f| f.category == Category::NorwegianFodselsnummer)
    {
        "national_id: a Norwegian fødselsnummer is not supported for invitations yet; Samtale invites with a Danish CPR number or a Swedish personnummer"
    } else {
        "national_id must be a Danish CPR number (DDMMYY-XXXX) or a Swedish personnummer (YYMMDD-XXXX or YYYYMMDD-XXXX)"
    }
}

/// Whether `text` is one valid Danish CPR number or Swedish personnummer
/// and nothing else (checked with the protocol's minimisation rules).
pub fn is_national_id(text: &str) -> bool {
    use samtale_protocol::minimise::{Category, scan};
    let trimmed = text.trim();
    let findings = scan(trimmed);
    // A number can be both (a valid date whose digits also pass Luhn).
    !findings.is_empty()
        && findings.iter().all(|f| {
            matches!(
                f.category,
                Category::DanishCpr | Category::SwedishPersonnummer
            ) && f.span == (0..trimmed.len())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_grouped_normalised_and_hashed() {
        let code = new_code(INVITATION_DOMAIN).unwrap();
        assert_eq!(code.text.len(), CODE_CHARS + 4);
        assert_eq!(code.text.matches('-').count(), 4);
        let typed = code.text.to_lowercase().replace('-', " ");
        let normalised = normalise_code(&typed).unwrap();
        assert_eq!(&normalised[..HANDLE_CHARS], code.handle);
        assert_eq!(code_hash(INVITATION_DOMAIN, &normalised), code.hash);
        assert_ne!(code_hash(ENROLMENT_DOMAIN, &normalised), code.hash);
        assert!(normalise_code("too short").is_none());
        assert!(normalise_code("UUUU-UUUU-UUUU-UUUU-UUUU").is_none());
        assert_eq!(
            normalise_code("oooo-iiii-llll-0000-1111").unwrap().as_str(),
            "00001111111100001111"
        );
    }

    #[test]
    fn national_id_hashes_ignore_formatting_and_depend_on_the_key() {
        let a = NationalIdHasher::new(SecretKey::from_bytes([1; 32]));
        let b = NationalIdHasher::new(SecretKey::from_bytes([2; 32]));
        assert_eq!(a.hash("010203-1234"), a.hash("0102031234"));
        assert_ne!(a.hash("0102031234"), b.hash("0102031234"));
        assert!(is_national_id("010203-1234"));
        assert!(is_national_id("811218-9876"));
        assert!(!is_national_id("310203-1234"), "31 February is not a date");
        assert!(!is_national_id("hello"));
        assert!(!is_national_id("020304-1234 and more"));
        // Recognised (and kept out of messages) but not accepted for
        // invitations yet: no Norwegian eID broker is supported.
        assert!(!is_national_id("15058512343"));
        assert_eq!(
            national_id_refusal("15058512343"),
            "national_id: a Norwegian fødselsnummer is not supported for invitations yet; Samtale invites with a Danish CPR number or a Swedish personnummer"
        );
    }

    #[test]
    fn tokens_check_signature_issuer_audience_and_expiry() {
        let tokens = Tokens::new(
            &SecretKey::from_bytes([3; 32]),
            "https://samtale.test",
            600,
            3600,
        );
        let t = tokens.issue("a", "d", "s", "staff", 1_000).unwrap();
        assert_eq!(tokens.verify(&t, 1_001).unwrap().did, "d");
        assert_eq!(tokens.verify(&t, 1_600), Err(TokenError::Expired));
        let other = Tokens::new(
            &SecretKey::from_bytes([4; 32]),
            "https://samtale.test",
            600,
            3600,
        );
        assert_eq!(other.verify(&t, 1_001), Err(TokenError::Invalid));
        let elsewhere = Tokens::new(
            &SecretKey::from_bytes([3; 32]),
            "https://other.test",
            600,
            3600,
        );
        assert_eq!(elsewhere.verify(&t, 1_001), Err(TokenError::Invalid));
        assert_eq!(
            Tokens::new(&SecretKey::from_bytes([3; 32]), "x", 3600, 1).access_ttl,
            900
        );
    }

    #[tokio::test]
    async fn passwords_verify_and_unknown_users_never_match() {
        let p = Passwords::new(2).unwrap();
        let h = p.hash("correct horse battery").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(p.verify("correct horse battery", Some(&h)).await);
        assert!(!p.verify("wrong", Some(&h)).await);
        assert!(
            !p.verify("samtale dummy password, never matches", None)
                .await
        );
    }
}
