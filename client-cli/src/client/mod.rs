//! The client logic every command and the chat view share: an unlocked
//! profile with a live session ([`Session`]), key upkeep, threads, sending
//! and reading.

mod keys;
mod membership;
mod safety;
mod send;
mod setup;
mod trust;
mod view;

use std::path::Path;

use reqwest::Method;
use samtale_protocol::wire::{
    AccountInfo, AccountKind, ErrorCode, RefreshRequest, ThreadDetail, ThreadDevices, ThreadList,
    TokenPair,
};
use samtale_protocol::{DeviceKeys, ThreadId};
use zeroize::Zeroizing;

pub use keys::UpkeepReport;
pub use membership::{OwnDevice, PendingDevice};
pub use safety::SafetyRow;
pub use send::media_type;
pub use setup::{
    InitRequest, JoinRequest, LoginRequest, init_organisation, join, login, preview_invitation,
};
pub use trust::{DeviceNews, LogPin, Pins};
pub use view::{
    AttachmentInfo, Badge, Banner, Body, Participant, Sender, ShownMessage, ThreadRow, ThreadView,
    Tick,
};

use crate::api::{Api, ApiError};
use crate::keystore::Keystore;
use crate::profile::{Profile, ProfileConfig};
use crate::relay::Relay;

/// Why a client operation failed, in words that say what to do next.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The session has ended (expired, revoked, signed out elsewhere).
    #[error(
        "your session has ended ({0}). Log in again: `samtale login` (staff) or `samtale login --eid` (citizens)"
    )]
    SessionEnded(String),
    /// The server refused or failed.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The keystore could not be read or written.
    #[error(transparent)]
    Keystore(#[from] crate::keystore::KeystoreError),
    /// The live connection failed.
    #[error(transparent)]
    Relay(#[from] crate::relay::RelayError),
    /// Something the user asked for cannot be done.
    #[error("{0}")]
    Refused(String),
    /// A citizen of the thread withdrew consent.
    #[error("{0}")]
    ConsentWithdrawn(String),
    /// A security check failed: the server's data does not verify.
    #[error("security check failed: {0}")]
    Verification(String),
}

impl ClientError {
    /// The process exit code for this error (see `samtale --help`).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::SessionEnded(_) => 3,
            Self::Api(e) => e.exit_code(),
            Self::Relay(_) => 4,
            Self::Verification(_) => 6,
            Self::ConsentWithdrawn(_) | Self::Refused(_) => 5,
            _ => 2,
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// An unlocked profile with a working session.
pub struct Session {
    /// The profile's files.
    pub profile: Profile,
    /// Who and where.
    pub config: ProfileConfig,
    /// Keys and tokens.
    pub keystore: Keystore,
    /// The REST client (with the current access token).
    pub api: Api,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("profile", &self.profile.name)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Unlocks a profile and makes sure its access token is fresh.
    pub async fn open(profile: Profile, passphrase: &str) -> Result<Self, anyhow::Error> {
        let config = profile.config()?;
        let keystore = Keystore::open(&profile.keystore_path(), passphrase)?;
        let api = Api::new(&config.server)?;
        let mut session = Self {
            profile,
            config,
            keystore,
            api,
        };
        session.ensure_token().await?;
        Ok(session)
    }

    /// This device's keys.
    pub fn device(&self) -> Result<&DeviceKeys, ClientError> {
        self.keystore
            .secrets()
            .device()
            .ok_or_else(|| ClientError::Refused("the keystore holds no device key".into()))
    }

    /// Whether this is a staff profile.
    pub fn is_staff(&self) -> bool {
        self.config.kind == AccountKind::Staff
    }

    /// Uses the access token while it has a minute left; otherwise rotates
    /// the refresh token and stores the new pair at once, so a crash cannot
    /// lose the only valid refresh token.
    ///
    /// Several processes may use one profile (`samtale chat` open while
    /// another command runs). A refresh token is single-use and the server
    /// ends every session of the login when a spent one comes back, so the
    /// rotation happens under the keystore's exclusive lock and starts by
    /// re-reading the file: if another process rotated meanwhile, its fresh
    /// pair is used and nothing is sent.
    pub async fn ensure_token(&mut self) -> Result<(), ClientError> {
        if self.use_fresh_access_token() {
            return Ok(());
        }
        let held = self.keystore.hold()?;
        if self.use_fresh_access_token() {
            return Ok(());
        }
        let Some(refresh) = self.keystore.secrets().refresh_token.clone() else {
            return Err(ClientError::SessionEnded("no session is stored".into()));
        };
        self.api.set_token(None);
        let pair: TokenPair = match self
            .api
            .post(
                "/v1/sessions/refresh",
                &RefreshRequest {
                    refresh_token: refresh.to_string(),
                },
            )
            .await
        {
            Ok(p) => p,
            Err(e) if e.session_ended() || e.code() == Some(ErrorCode::ConsentWithdrawn) => {
                return Err(ClientError::SessionEnded(e.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        self.write_tokens(&held, &pair)
    }

    /// Starts using the keystore's access token if it has a minute left.
    fn use_fresh_access_token(&mut self) -> bool {
        match &self.keystore.secrets().access_token {
            Some((token, expires)) if *expires > now_secs() + 60 => {
                self.api.set_token(Some(token.to_string()));
                true
            }
            _ => false,
        }
    }

    /// Stores a token pair and starts using it.
    pub fn store_tokens(&mut self, pair: &TokenPair) -> Result<(), ClientError> {
        let held = self.keystore.hold()?;
        self.write_tokens(&held, pair)
    }

    /// Writes a token pair while the keystore's lock is held, and starts
    /// using it.
    fn write_tokens(
        &mut self,
        held: &crate::keystore::Held,
        pair: &TokenPair,
    ) -> Result<(), ClientError> {
        let expires = now_secs() + pair.expires_in;
        self.keystore.update_held(held, |s| {
            s.access_token = Some((Zeroizing::new(pair.access_token.clone()), expires));
            s.refresh_token = Some(Zeroizing::new(pair.refresh_token.clone()));
        })?;
        self.api.set_token(Some(pair.access_token.clone()));
        Ok(())
    }

    /// Maps an API error, turning an ended session into its own error.
    pub(crate) fn api_error(e: ApiError) -> ClientError {
        if e.session_ended() {
            ClientError::SessionEnded(e.to_string())
        } else {
            ClientError::Api(e)
        }
    }

    /// `GET path` with session handling.
    pub async fn get<T: serde::de::DeserializeOwned>(
        &mut self,
        path: &str,
    ) -> Result<T, ClientError> {
        self.ensure_token().await?;
        self.api.get(path).await.map_err(Self::api_error)
    }

    /// `POST path` with session handling.
    pub async fn post<B: serde::Serialize + ?Sized, T: serde::de::DeserializeOwned>(
        &mut self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.ensure_token().await?;
        self.api.post(path, body).await.map_err(Self::api_error)
    }

    /// `DELETE path` answered with JSON, with session handling.
    pub async fn delete<T: serde::de::DeserializeOwned>(
        &mut self,
        path: &str,
    ) -> Result<T, ClientError> {
        self.ensure_token().await?;
        self.api.delete(path).await.map_err(Self::api_error)
    }

    /// `PUT path` with session handling.
    pub async fn put<B: serde::Serialize + ?Sized, T: serde::de::DeserializeOwned>(
        &mut self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        self.ensure_token().await?;
        self.api.put(path, body).await.map_err(Self::api_error)
    }

    /// A call answered with `204`.
    pub async fn call<B: serde::Serialize + ?Sized>(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<(), ClientError> {
        self.ensure_token().await?;
        self.api
            .call(method, path, body)
            .await
            .map_err(Self::api_error)
    }

    /// Who the server says we are. Refuses to go on if the organisation's
    /// root key is not the one this profile pinned.
    pub async fn me(&mut self) -> Result<AccountInfo, ClientError> {
        let me: AccountInfo = self.get("/v1/me").await?;
        if me.root_public_key != self.config.root_public_key {
            return Err(ClientError::Verification(format!(
                "the server now presents another organisation key (fingerprint {}) than the one this profile trusts ({}). Do not send anything; contact the organisation by phone or letter",
                me.root_fingerprint,
                samtale_protocol::org_fingerprint(&self.config.root_public_key)
            )));
        }
        Ok(me)
    }

    /// Opens a relay connection with a fresh token.
    pub async fn relay(&mut self) -> Result<Relay, ClientError> {
        self.ensure_token().await?;
        let token = self.api.token().unwrap_or_default().to_owned();
        Relay::connect(self.api.base(), &token)
            .await
            .map_err(|e| match e {
                crate::relay::RelayError::Refused {
                    code:
                        ErrorCode::AuthenticationFailed
                        | ErrorCode::TokenExpired
                        | ErrorCode::DeviceRevoked,
                    message,
                } => ClientError::SessionEnded(message),
                other => ClientError::Relay(other),
            })
    }

    /// The threads this account may see.
    pub async fn thread_list(&mut self) -> Result<ThreadList, ClientError> {
        self.get("/v1/threads").await
    }

    /// A thread's detail.
    pub async fn thread_detail(&mut self, thread: ThreadId) -> Result<ThreadDetail, ClientError> {
        self.get(&format!("/v1/threads/{thread}")).await
    }

    /// A thread's writers.
    pub async fn thread_devices(&mut self, thread: ThreadId) -> Result<ThreadDevices, ClientError> {
        self.get(&format!("/v1/threads/{thread}/devices")).await
    }

    /// Logs this session out on the server.
    pub async fn logout(&mut self) -> Result<(), ClientError> {
        self.call::<()>(Method::DELETE, "/v1/sessions/current", None)
            .await?;
        self.keystore.update(|s| {
            s.access_token = None;
            s.refresh_token = None;
        })?;
        Ok(())
    }

    /// Finds a thread by a full id or a unique prefix of one.
    pub async fn resolve_thread(&mut self, given: &str) -> Result<ThreadId, ClientError> {
        if let Ok(id) = given.parse::<ThreadId>() {
            return Ok(id);
        }
        let list = self.thread_list().await?;
        let matches: Vec<ThreadId> = list
            .threads
            .iter()
            .map(|t| t.thread_id)
            .filter(|id| id.to_string().starts_with(&given.to_ascii_lowercase()))
            .collect();
        match matches.as_slice() {
            [one] => Ok(*one),
            [] => Err(ClientError::Refused(format!(
                "no thread starts with {given:?}; `samtale threads` lists them"
            ))),
            _ => Err(ClientError::Refused(format!(
                "{given:?} matches {} threads; give more of the id",
                matches.len()
            ))),
        }
    }
}

/// A device's fingerprint for people to compare (PROTOCOL.md §10).
pub use samtale_protocol::device_fingerprint;

/// Reads a file to attach, with a clear error.
pub fn read_attachment(path: &Path, limit: u64) -> Result<Vec<u8>, ClientError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| ClientError::Refused(format!("cannot read {}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(ClientError::Refused(format!(
            "{} is not a file",
            path.display()
        )));
    }
    if meta.len() > limit {
        return Err(ClientError::Refused(format!(
            "{} is {} bytes; attachments may be at most {limit} bytes",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read(path)
        .map_err(|e| ClientError::Refused(format!("cannot read {}: {e}", path.display())))
}
