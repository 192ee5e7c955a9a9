//! Profiles: several accounts side by side on one machine, each in its own
//! directory under the platform's config directory (or `SAMTALE_HOME`):
//!
//! ```text
//! <home>/profiles/<name>/profile.json   who and where (no secrets)
//! <home>/profiles/<name>/keystore.json  keys and tokens, encrypted
//! <home>/profiles/<name>/state.json     read positions (no content)
//! ```
//!
//! Nothing outside the keystore holds a key, a token or message text.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use samtale_protocol::wire::AccountKind;
use samtale_protocol::{AccountId, DeviceId, OrgId, OrgRootPublicKey, TeamId, ThreadId};
use serde::{Deserialize, Serialize};

use crate::keystore::{KeystoreError, write_atomically};

/// The environment variable that overrides the home directory.
pub const HOME_ENV: &str = "SAMTALE_HOME";

/// Where profiles live.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// `explicit`, else `SAMTALE_HOME`, else `<config dir>/samtale`.
    pub fn locate(explicit: Option<&Path>) -> anyhow::Result<Self> {
        if let Some(p) = explicit {
            return Ok(Self { root: p.to_owned() });
        }
        if let Some(p) = std::env::var_os(HOME_ENV) {
            return Ok(Self { root: p.into() });
        }
        let base = dirs::config_dir().ok_or_else(|| {
            anyhow::anyhow!("cannot find a configuration directory; set {HOME_ENV}")
        })?;
        Ok(Self {
            root: base.join("samtale"),
        })
    }

    /// The directory of one profile.
    pub fn profile_dir(&self, name: &str) -> PathBuf {
        self.root.join("profiles").join(name)
    }

    /// The profile names, sorted.
    pub fn profiles(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.root.join("profiles"))
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter(|e| e.path().join("profile.json").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// Checks a profile name: letters, digits, `-` and `_`, at most 64.
pub fn valid_profile_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// A team as the profile knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamRef {
    /// The team.
    pub id: TeamId,
    /// Its name.
    pub name: String,
}

/// Who this profile is and which server it talks to. No secrets.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// The server's base URL, e.g. `https://samtale.randers.dk`.
    pub server: String,
    /// The account.
    pub account_id: AccountId,
    /// This device.
    pub device_id: DeviceId,
    /// Staff or citizen.
    pub kind: AccountKind,
    /// The staff user name (citizens have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The display name.
    pub display_name: String,
    /// The organisation.
    pub org_id: OrgId,
    /// Its name.
    pub org_name: String,
    /// The organisation root this profile trusts (pinned at first login,
    /// compared with the letter's fingerprint by citizens).
    pub root_public_key: OrgRootPublicKey,
    /// Whether the user compared the fingerprint with the letter.
    #[serde(default)]
    pub root_checked: bool,
    /// The user's own work phone numbers and e-mail addresses (and the
    /// organisation's): the minimisation check does not report them
    /// (`samtale profile contacts --set …`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub own_contacts: Vec<String>,
}

/// Read positions per thread: what the user has seen (for unread counts and
/// read receipts). Holds sequence numbers only.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileState {
    /// The highest sequence number read, per thread.
    #[serde(default)]
    pub read: BTreeMap<ThreadId, u64>,
}

/// One profile's files.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Its name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
}

impl Profile {
    /// The profile `name` in `home` (which may not exist yet).
    pub fn new(home: &Home, name: &str) -> anyhow::Result<Self> {
        if !valid_profile_name(name) {
            anyhow::bail!(
                "{name:?} is not a valid profile name: use letters, digits, - and _ (at most 64)"
            );
        }
        Ok(Self {
            name: name.to_owned(),
            dir: home.profile_dir(name),
        })
    }

    /// The keystore's path.
    pub fn keystore_path(&self) -> PathBuf {
        self.dir.join("keystore.json")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.join("profile.json")
    }

    fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// Whether the profile has been set up.
    pub fn exists(&self) -> bool {
        self.config_path().exists()
    }

    /// Loads the configuration.
    pub fn config(&self) -> anyhow::Result<ProfileConfig> {
        let path = self.config_path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
                "profile {:?} is not set up: run `samtale login` (staff), `samtale join` (citizens) or `samtale admin init` (a new organisation){}",
                self.name,
                if self.name == "default" {
                    String::new()
                } else {
                    format!(" with --profile {}", self.name)
                }
            ),
            Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
        };
        serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is damaged ({e}); log in again", path.display()))
    }

    /// Saves the configuration atomically.
    pub fn save_config(&self, config: &ProfileConfig) -> Result<(), KeystoreError> {
        fs::create_dir_all(&self.dir).map_err(|source| KeystoreError::Io {
            action: "create the directory",
            path: self.dir.clone(),
            source,
        })?;
        let text = serde_json::to_string_pretty(config).unwrap_or_default();
        write_atomically(&self.config_path(), text.as_bytes())
    }

    /// Loads the read positions (empty when absent or unreadable: they are
    /// a convenience, and the server has the real state).
    pub fn state(&self) -> ProfileState {
        fs::read_to_string(self.state_path())
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default()
    }

    /// Saves the read positions.
    pub fn save_state(&self, state: &ProfileState) -> Result<(), KeystoreError> {
        let text = serde_json::to_string_pretty(state).unwrap_or_default();
        write_atomically(&self.state_path(), text.as_bytes())
    }

    /// Removes the profile's files.
    pub fn remove(&self) -> std::io::Result<()> {
        fs::remove_dir_all(&self.dir)
    }
}
