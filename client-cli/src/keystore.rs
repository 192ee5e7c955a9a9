//! The keystore: a device's private keys, the holder keys it was granted,
//! the organisation root (admins) and the session's tokens, encrypted at
//! rest.
//!
//! File format (JSON, so it is inspectable without revealing anything):
//!
//! ```text
//! {"format": "samtale-keystore", "version": 1,
//!  "kdf": {"algorithm": "argon2id", "memory_kib": 19456, "iterations": 2,
//!          "parallelism": 1, "salt": "<base64url, 16 bytes>"},
//!  "nonce": "<base64url, 24 bytes>", "ciphertext": "<base64url>"}
//! ```
//!
//! The key is argon2id(passphrase, salt); the ciphertext is
//! XChaCha20-Poly1305 over the secrets (JSON), with the header fields as
//! associated data so they cannot be swapped. Every write goes to a
//! temporary file in the same directory, is flushed to disk and renamed
//! over the old file, under an exclusive lock on a lock file: a crash or a
//! concurrent writer never leaves a half-written or lost keystore.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use samtale_protocol::{
    DeviceKeys, HolderEpoch, HolderId, HolderKeyPair, HolderKind, OrgRootKey, b64,
};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// The format name in the file.
pub const FORMAT: &str = "samtale-keystore";
/// The format version this client writes.
pub const VERSION: u32 = 1;

/// argon2id cost: OWASP's recommendation (19 MiB, 2 passes, 1 lane).
pub const KDF_MEMORY_KIB: u32 = 19_456;
/// argon2id passes.
pub const KDF_ITERATIONS: u32 = 2;

/// Why a keystore could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeystoreError {
    /// There is no keystore at the path.
    #[error("no keystore at {0}; run `samtale login` (staff) or `samtale join` (citizens) first")]
    NotFound(PathBuf),
    /// A keystore already exists where a new one was to be made.
    #[error(
        "a keystore already exists at {0}; use another --profile, or remove the profile with `samtale profile remove`"
    )]
    Exists(PathBuf),
    /// The passphrase does not open it.
    #[error("wrong passphrase for {0} (or the file was altered); nothing was changed")]
    WrongPassphrase(PathBuf),
    /// The file is not a keystore this client can read.
    #[error(
        "the keystore {path} is damaged ({reason}); nothing was changed. Restore it from a backup, or revoke this device from another one and log in again"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A passphrase that is too short to protect keys.
    #[error("the passphrase must be at least 8 characters")]
    WeakPassphrase,
    /// Reading or writing failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The system's random number generator failed.
    #[error("the system random number generator failed")]
    Randomness,
}

/// What the keystore protects.
#[derive(Default)]
pub struct Secrets {
    /// This device's keys.
    pub device: Option<DeviceKeys>,
    /// The organisation root (the admin who set up the organisation).
    pub root: Option<OrgRootKey>,
    /// Holder keys this device holds (from its own making or from grants).
    pub holders: Vec<HolderKeyPair>,
    /// The session's refresh token.
    pub refresh_token: Option<Zeroizing<String>>,
    /// The current access token and when it expires (Unix seconds).
    pub access_token: Option<(Zeroizing<String>, u64)>,
    /// What this device has verified before (public data, kept here so
    /// that it is as tamper-proof as the keys).
    pub pins: crate::client::Pins,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("device", &self.device.is_some())
            .field("root", &self.root.is_some())
            .field("holders", &self.holders.len())
            .finish_non_exhaustive()
    }
}

impl Secrets {
    /// The device keys; a keystore is only ever written with them.
    pub fn device(&self) -> Option<&DeviceKeys> {
        self.device.as_ref()
    }

    /// Adds a holder key unless the same epoch is already held; returns
    /// whether it was new.
    pub fn add_holder(&mut self, key: HolderKeyPair) -> bool {
        if self.holders.iter().any(|k| k.epoch() == key.epoch()) {
            return false;
        }
        self.holders.push(key);
        true
    }

    /// The key for one holder epoch.
    pub fn holder(&self, epoch: HolderEpoch) -> Option<&HolderKeyPair> {
        self.holders.iter().find(|k| k.epoch() == epoch)
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kdf {
    algorithm: String,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileFormat {
    format: String,
    version: u32,
    kdf: Kdf,
    nonce: String,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HolderSecret {
    holder: HolderId,
    kind: HolderKind,
    epoch: u32,
    secret: String,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Plain {
    device: Option<String>,
    root: Option<String>,
    holders: Vec<HolderSecret>,
    refresh_token: Option<String>,
    access_token: Option<String>,
    access_expires_at: Option<u64>,
    #[serde(default)]
    pins: crate::client::Pins,
}

impl Drop for Plain {
    fn drop(&mut self) {
        self.device.zeroize();
        self.root.zeroize();
        for h in &mut self.holders {
            h.secret.zeroize();
        }
        self.refresh_token.zeroize();
        self.access_token.zeroize();
    }
}

fn damaged(path: &Path, reason: impl Into<String>) -> KeystoreError {
    KeystoreError::Damaged {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

impl Secrets {
    fn to_plain(&self) -> Plain {
        Plain {
            device: self
                .device
                .as_ref()
                .map(|d| b64::encode(&d.to_keystore_bytes())),
            root: self
                .root
                .as_ref()
                .map(|r| b64::encode(&r.to_keystore_bytes())),
            holders: self
                .holders
                .iter()
                .map(|k| HolderSecret {
                    holder: k.epoch().holder,
                    kind: k.kind(),
                    epoch: k.epoch().epoch,
                    secret: b64::encode(&k.to_keystore_bytes()),
                })
                .collect(),
            refresh_token: self.refresh_token.as_ref().map(|t| t.to_string()),
            access_token: self.access_token.as_ref().map(|(t, _)| t.to_string()),
            access_expires_at: self.access_token.as_ref().map(|(_, e)| *e),
            pins: self.pins.clone(),
        }
    }

    fn from_plain(plain: &Plain, path: &Path) -> Result<Self, KeystoreError> {
        let bytes = |s: &str| {
            b64::decode(s)
                .map(Zeroizing::new)
                .map_err(|_| damaged(path, "a key is not valid base64"))
        };
        let device = plain
            .device
            .as_deref()
            .map(|s| {
                DeviceKeys::from_keystore_bytes(&bytes(s)?)
                    .map_err(|_| damaged(path, "the device key is invalid"))
            })
            .transpose()?;
        let root = plain
            .root
            .as_deref()
            .map(|s| {
                OrgRootKey::from_keystore_bytes(&bytes(s)?)
                    .map_err(|_| damaged(path, "the organisation root key is invalid"))
            })
            .transpose()?;
        let holders = plain
            .holders
            .iter()
            .map(|h| {
                HolderKeyPair::from_keystore_bytes(
                    HolderEpoch {
                        holder: h.holder,
                        epoch: h.epoch,
                    },
                    h.kind,
                    &bytes(&h.secret)?,
                )
                .map_err(|_| damaged(path, "a holder key is invalid"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            device,
            root,
            holders,
            refresh_token: plain.refresh_token.clone().map(Zeroizing::new),
            access_token: plain
                .access_token
                .clone()
                .map(|t| (Zeroizing::new(t), plain.access_expires_at.unwrap_or(0))),
            pins: plain.pins.clone(),
        })
    }
}

/// An unlocked keystore.
pub struct Keystore {
    path: PathBuf,
    key: Zeroizing<[u8; 32]>,
    salt: Vec<u8>,
    secrets: Secrets,
}

impl std::fmt::Debug for Keystore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystore")
            .field("path", &self.path)
            .field("secrets", &self.secrets)
            .finish_non_exhaustive()
    }
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> KeystoreError {
    let path = path.to_owned();
    move |source| KeystoreError::Io {
        action,
        path,
        source,
    }
}

fn derive(
    passphrase: &str,
    salt: &[u8],
    memory_kib: u32,
    iterations: u32,
) -> Result<Zeroizing<[u8; 32]>, String> {
    let params = Params::new(memory_kib, iterations, 1, Some(32)).map_err(|e| e.to_string())?;
    let mut key = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
        .map_err(|e| e.to_string())?;
    Ok(key)
}

fn aad(version: u32, kdf: &Kdf) -> Vec<u8> {
    format!(
        "samtale/v1/keystore|{version}|{}|{}|{}|{}|{}",
        kdf.algorithm, kdf.memory_kib, kdf.iterations, kdf.parallelism, kdf.salt
    )
    .into_bytes()
}

/// Holds an exclusive (or shared) lock on the keystore's lock file until
/// dropped.
struct Lock(File);

/// The keystore's exclusive lock, held by [`Keystore::hold`] until dropped.
pub struct Held(#[allow(dead_code)] Lock);

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held")
    }
}

impl Lock {
    fn take(path: &Path, exclusive: bool) -> Result<Self, KeystoreError> {
        let lock_path = path.with_extension("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io("create the lock file", &lock_path))?;
        if exclusive {
            file.lock().map_err(io("lock", &lock_path))?;
        } else {
            file.lock_shared().map_err(io("lock", &lock_path))?;
        }
        Ok(Self(file))
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = self.0.unlock();
    }
}

impl Keystore {
    /// Refuses a passphrase too weak to protect keys (checked before a
    /// login or sign-up reaches the server, and again by [`Self::create`]).
    pub fn check_passphrase(passphrase: &str) -> Result<(), KeystoreError> {
        if passphrase.chars().count() < 8 {
            return Err(KeystoreError::WeakPassphrase);
        }
        Ok(())
    }

    /// Creates a new keystore; refuses to overwrite one.
    pub fn create(path: &Path, passphrase: &str, secrets: Secrets) -> Result<Self, KeystoreError> {
        Self::check_passphrase(passphrase)?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io("create the directory", dir))?;
        }
        let _lock = Lock::take(path, true)?;
        if path.exists() {
            return Err(KeystoreError::Exists(path.to_owned()));
        }
        let mut salt = vec![0u8; 16];
        getrandom::fill(&mut salt).map_err(|_| KeystoreError::Randomness)?;
        let key = derive(passphrase, &salt, KDF_MEMORY_KIB, KDF_ITERATIONS)
            .map_err(|e| damaged(path, e))?;
        let store = Self {
            path: path.to_owned(),
            key,
            salt,
            secrets,
        };
        store.write()?;
        Ok(store)
    }

    /// Opens and decrypts a keystore.
    pub fn open(path: &Path, passphrase: &str) -> Result<Self, KeystoreError> {
        let _lock = Lock::take(path, false)?;
        let (file, text) = Self::read_file(path)?;
        let salt = b64::decode(&file.kdf.salt).map_err(|_| damaged(path, "bad salt"))?;
        if file.kdf.algorithm != "argon2id"
            || file.kdf.parallelism != 1
            || !(8..=4_194_304).contains(&file.kdf.memory_kib)
            || !(1..=64).contains(&file.kdf.iterations)
            || salt.len() < 16
        {
            return Err(damaged(path, "unsupported key derivation settings"));
        }
        let key = derive(passphrase, &salt, file.kdf.memory_kib, file.kdf.iterations)
            .map_err(|e| damaged(path, e))?;
        let secrets = Self::decrypt(path, &file, &key)?;
        drop(text);
        Ok(Self {
            path: path.to_owned(),
            key,
            salt,
            secrets,
        })
    }

    fn read_file(path: &Path) -> Result<(FileFormat, Zeroizing<String>), KeystoreError> {
        let text = match fs::read_to_string(path) {
            Ok(t) => Zeroizing::new(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(KeystoreError::NotFound(path.to_owned()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(damaged(path, "not UTF-8 text"));
            }
            Err(e) => return Err(io("read", path)(e)),
        };
        let file: FileFormat = serde_json::from_str(&text).map_err(|e| {
            damaged(
                path,
                if e.is_eof() {
                    "the file is truncated".to_string()
                } else {
                    "not a keystore file".to_string()
                },
            )
        })?;
        if file.format != FORMAT {
            return Err(damaged(path, "not a keystore file"));
        }
        if file.version != VERSION {
            return Err(damaged(
                path,
                format!(
                    "format version {} is not supported; update samtale",
                    file.version
                ),
            ));
        }
        Ok((file, text))
    }

    fn decrypt(path: &Path, file: &FileFormat, key: &[u8; 32]) -> Result<Secrets, KeystoreError> {
        let nonce = b64::decode(&file.nonce).map_err(|_| damaged(path, "bad nonce"))?;
        if nonce.len() != 24 {
            return Err(damaged(path, "bad nonce"));
        }
        let ciphertext = b64::decode(&file.ciphertext)
            .map_err(|_| damaged(path, "the ciphertext is not base64"))?;
        if ciphertext.len() < 16 {
            return Err(damaged(path, "the ciphertext is truncated"));
        }
        let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|_| damaged(path, "key"))?;
        let plain = Zeroizing::new(
            cipher
                .decrypt(
                    &XNonce::try_from(&nonce[..]).map_err(|_| damaged(path, "bad nonce"))?,
                    Payload {
                        msg: &ciphertext,
                        aad: &aad(file.version, &file.kdf),
                    },
                )
                .map_err(|_| KeystoreError::WrongPassphrase(path.to_owned()))?,
        );
        let plain: Plain = serde_json::from_slice(&plain)
            .map_err(|_| damaged(path, "the decrypted contents are malformed"))?;
        Secrets::from_plain(&plain, path)
    }

    /// The secrets as last read or written.
    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    /// Where it lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Changes the secrets: under an exclusive lock, re-reads the file (so
    /// another process's write is not lost), applies `change`, and writes
    /// the result atomically.
    pub fn update<R>(
        &mut self,
        change: impl FnOnce(&mut Secrets) -> R,
    ) -> Result<R, KeystoreError> {
        let held = self.hold()?;
        self.update_held(&held, change)
    }

    /// Takes the exclusive lock and re-reads the file, so what
    /// [`Self::secrets`] shows is what is on disk now and stays so until
    /// the returned [`Held`] is dropped: another process of the same
    /// profile waits. For read-then-decide-then-write sequences that span
    /// a network call (rotating the refresh token).
    pub fn hold(&mut self) -> Result<Held, KeystoreError> {
        let lock = Lock::take(&self.path, true)?;
        let (file, _text) = Self::read_file(&self.path)?;
        let salt = b64::decode(&file.kdf.salt).map_err(|_| damaged(&self.path, "bad salt"))?;
        if salt != self.salt {
            return Err(damaged(
                &self.path,
                "the keystore was replaced by another one",
            ));
        }
        self.secrets = Self::decrypt(&self.path, &file, &self.key)?;
        Ok(Held(lock))
    }

    /// Changes the secrets while [`Self::hold`]'s lock is held, and writes
    /// them atomically.
    pub fn update_held<R>(
        &mut self,
        _held: &Held,
        change: impl FnOnce(&mut Secrets) -> R,
    ) -> Result<R, KeystoreError> {
        let out = change(&mut self.secrets);
        self.write()?;
        Ok(out)
    }

    /// Encrypts and writes the secrets (the caller holds the lock).
    fn write(&self) -> Result<(), KeystoreError> {
        let plain = self.secrets.to_plain();
        let json = Zeroizing::new(
            serde_json::to_vec(&plain).map_err(|_| damaged(&self.path, "cannot encode"))?,
        );
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|_| KeystoreError::Randomness)?;
        let kdf = Kdf {
            algorithm: "argon2id".into(),
            memory_kib: KDF_MEMORY_KIB,
            iterations: KDF_ITERATIONS,
            parallelism: 1,
            salt: b64::encode(&self.salt),
        };
        let cipher = XChaCha20Poly1305::new_from_slice(self.key.as_ref())
            .map_err(|_| damaged(&self.path, "key"))?;
        let ciphertext = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &json,
                    aad: &aad(VERSION, &kdf),
                },
            )
            .map_err(|_| damaged(&self.path, "cannot encrypt"))?;
        let file = FileFormat {
            format: FORMAT.into(),
            version: VERSION,
            kdf,
            nonce: b64::encode(&nonce),
            ciphertext: b64::encode(&ciphertext),
        };
        let text = serde_json::to_string_pretty(&file)
            .map_err(|_| damaged(&self.path, "cannot encode"))?;
        write_atomically(&self.path, text.as_bytes())
    }
}

/// Writes `bytes` to a temporary file next to `path`, flushes it to disk,
/// and renames it over `path` (then flushes the directory), so readers see
/// the old or the new file and never a part of one. Owner-only permissions.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), KeystoreError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut suffix = [0u8; 8];
    getrandom::fill(&mut suffix).map_err(|_| KeystoreError::Randomness)?;
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", hex_of(&suffix)));
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut f = options.open(&tmp).map_err(io("create", &tmp))?;
        f.write_all(bytes).map_err(io("write", &tmp))?;
        f.sync_all().map_err(io("flush", &tmp))?;
        fs::rename(&tmp, path).map_err(io("replace", path))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Secrets {
        Secrets {
            device: Some(DeviceKeys::generate().unwrap()),
            refresh_token: Some(Zeroizing::new("refresh-secret".into())),
            ..Secrets::default()
        }
    }

    fn holder() -> HolderKeyPair {
        HolderKeyPair::generate(HolderId::random().unwrap(), HolderKind::Team, 0).unwrap()
    }

    #[test]
    fn a_keystore_round_trips_and_hides_its_secrets_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keystore.json");
        let s = secrets();
        let device = s.device.as_ref().unwrap().public();
        let mut ks = Keystore::create(&path, "a long passphrase", s).unwrap();
        let key = holder();
        let epoch = key.epoch();
        assert!(ks.update(|s| s.add_holder(key)).unwrap());
        let text = fs::read_to_string(&path).unwrap();
        assert!(!text.contains("refresh-secret"));
        let back = Keystore::open(&path, "a long passphrase").unwrap();
        assert_eq!(back.secrets().device().unwrap().public(), device);
        assert!(back.secrets().holder(epoch).is_some());
        assert_eq!(
            back.secrets().refresh_token.as_deref().map(String::as_str),
            Some("refresh-secret")
        );
    }

    #[test]
    fn a_wrong_passphrase_is_named_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keystore.json");
        Keystore::create(&path, "a long passphrase", secrets()).unwrap();
        let before = fs::read(&path).unwrap();
        let err = Keystore::open(&path, "not the passphrase").unwrap_err();
        assert!(matches!(err, KeystoreError::WrongPassphrase(_)), "{err}");
        assert!(err.to_string().contains("wrong passphrase"));
        assert_eq!(fs::read(&path).unwrap(), before);
    }

    #[test]
    fn a_truncated_or_altered_keystore_is_reported_as_damaged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keystore.json");
        Keystore::create(&path, "a long passphrase", secrets()).unwrap();
        let good = fs::read(&path).unwrap();
        for cut in [0, 1, good.len() / 3, good.len() - 3] {
            fs::write(&path, &good[..cut]).unwrap();
            let err = Keystore::open(&path, "a long passphrase").unwrap_err();
            assert!(
                matches!(err, KeystoreError::Damaged { .. }),
                "cut {cut}: {err}"
            );
        }
        // The salt changed: the header is bound to the ciphertext.
        let text = String::from_utf8(good.clone()).unwrap();
        let file: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut altered = file.clone();
        altered["kdf"]["iterations"] = 3.into();
        fs::write(&path, altered.to_string()).unwrap();
        assert!(Keystore::open(&path, "a long passphrase").is_err());
        fs::write(&path, b"\xff\xfe").unwrap();
        assert!(matches!(
            Keystore::open(&path, "a long passphrase").unwrap_err(),
            KeystoreError::Damaged { .. }
        ));
        assert!(matches!(
            Keystore::open(&dir.path().join("absent.json"), "x").unwrap_err(),
            KeystoreError::NotFound(_)
        ));
    }

    #[test]
    fn an_existing_keystore_is_never_overwritten_and_weak_passphrases_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keystore.json");
        Keystore::create(&path, "a long passphrase", secrets()).unwrap();
        assert!(matches!(
            Keystore::create(&path, "a long passphrase", secrets()).unwrap_err(),
            KeystoreError::Exists(_)
        ));
        assert!(matches!(
            Keystore::create(&dir.path().join("b.json"), "short", secrets()).unwrap_err(),
            KeystoreError::WeakPassphrase
        ));
    }

    #[test]
    fn concurrent_writers_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keystore.json");
        Keystore::create(&path, "a long passphrase", secrets()).unwrap();
        let mut epochs = Vec::new();
        let handles: Vec<_> = (0..6)
            .map(|_| {
                let key = holder();
                epochs.push(key.epoch());
                let path = path.clone();
                std::thread::spawn(move || {
                    // Each writer opened the store before the others wrote.
                    let mut ks = Keystore::open(&path, "a long passphrase").unwrap();
                    ks.update(|s| s.add_holder(key)).unwrap();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let back = Keystore::open(&path, "a long passphrase").unwrap();
        for e in epochs {
            assert!(back.secrets().holder(e).is_some(), "lost {e:?}");
        }
        // No temporary files are left behind.
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }
}
