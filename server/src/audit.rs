//! The audit log: who did what to which object, and when. Append-only and
//! hash-chained, so that a changed, removed or inserted entry shows.
//!
//! Content-free by construction: an [`AuditEvent`] holds ids, one of a
//! fixed set of [`Action`]s, and a [`Detail`] whose keys are compile-time
//! constants and whose values are ids, numbers or compile-time words. There
//! is no way to put free text (a message, a name, a national id number, a
//! case reference) into it.
//!
//! Entry `i`'s hash is SHA-256 over a domain label, entry `i - 1`'s hash (32
//! zero bytes for the first) and entry `i`'s fields, each length-prefixed.
//! [`verify`] walks the chain and names the first entry that does not fit.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

/// What happened. The names are stable: they are the log's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Action {
    /// An organisation was registered with an enrolment code.
    OrganisationRegister,
    /// A team was created.
    TeamCreate,
    /// A staff member joined a team.
    TeamMemberAdd,
    /// A staff member left a team.
    TeamMemberRemove,
    /// A team's retention policy changed.
    TeamRetentionSet,
    /// A staff account was created.
    StaffCreate,
    /// An account was disabled.
    AccountDisable,
    /// An admin let a disabled account log in again.
    AccountEnable,
    /// A staff member changed their own password (at login after a reset,
    /// or on their own).
    PasswordChange,
    /// An admin reset a staff member's password to a temporary one.
    PasswordReset,
    /// A device logged in (a new device is enrolled on its first login).
    DeviceLogin,
    /// A login limit refused further attempts (its scope in detail).
    LoginLimited,
    /// An admin certified a staff device.
    DeviceCertify,
    /// A device was revoked.
    DeviceRevoke,
    /// A device joined its account's signed device list (approved on
    /// another of the account's devices, or by the organisation root).
    DeviceApprove,
    /// A citizen's device list was reset to one new device.
    DeviceListReset,
    /// An invitation was made for a citizen.
    InvitationCreate,
    /// Staff revoked an invitation nobody had used.
    InvitationRevoke,
    /// A citizen signed up from an invitation (identity level in detail).
    CitizenSignup,
    /// A citizen withdrew consent.
    ConsentWithdraw,
    /// A thread was created.
    ThreadCreate,
    /// A citizen was added to a thread.
    ThreadCitizenAdd,
    /// A message was stored (sequence number in detail).
    MessageSend,
    /// A device acknowledged delivery up to a sequence number.
    ReceiptDelivered,
    /// A device marked a thread read up to a sequence number.
    ReceiptRead,
    /// An encrypted attachment was uploaded.
    AttachmentUpload,
    /// A record clerk filed a thread on a case ("journaled up to N").
    JournalFile,
    /// An admin put a thread on hold (retention leaves it alone).
    HoldSet,
    /// An admin released a hold.
    HoldRelease,
    /// A team member saved a message template (sealed to the team key).
    TemplateSave,
    /// A team member deleted a message template.
    TemplateDelete,
    /// Retention deleted messages of a thread.
    RetentionPurge,
    /// Retention deleted a whole thread.
    RetentionThreadDelete,
    /// A citizen exported what the server holds about them.
    AccessExport,
    /// An admin erased a citizen.
    CitizenErase,
    /// The audit log was exported (for the data protection officer).
    AuditExport,
}

impl Action {
    /// Every action, for documentation and filters.
    pub const ALL: &'static [Action] = &[
        Self::OrganisationRegister,
        Self::TeamCreate,
        Self::TeamMemberAdd,
        Self::TeamMemberRemove,
        Self::TeamRetentionSet,
        Self::StaffCreate,
        Self::AccountDisable,
        Self::AccountEnable,
        Self::PasswordChange,
        Self::PasswordReset,
        Self::DeviceLogin,
        Self::LoginLimited,
        Self::DeviceCertify,
        Self::DeviceRevoke,
        Self::DeviceApprove,
        Self::DeviceListReset,
        Self::InvitationCreate,
        Self::InvitationRevoke,
        Self::CitizenSignup,
        Self::ConsentWithdraw,
        Self::ThreadCreate,
        Self::ThreadCitizenAdd,
        Self::MessageSend,
        Self::ReceiptDelivered,
        Self::ReceiptRead,
        Self::AttachmentUpload,
        Self::JournalFile,
        Self::HoldSet,
        Self::HoldRelease,
        Self::TemplateSave,
        Self::TemplateDelete,
        Self::RetentionPurge,
        Self::RetentionThreadDelete,
        Self::AccessExport,
        Self::CitizenErase,
        Self::AuditExport,
    ];

    /// The stored name, e.g. `message.send`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrganisationRegister => "organisation.register",
            Self::TeamCreate => "team.create",
            Self::TeamMemberAdd => "team.member.add",
            Self::TeamMemberRemove => "team.member.remove",
            Self::TeamRetentionSet => "team.retention.set",
            Self::StaffCreate => "staff.create",
            Self::AccountDisable => "account.disable",
            Self::AccountEnable => "account.enable",
            Self::PasswordChange => "password.change",
            Self::PasswordReset => "password.reset",
            Self::DeviceLogin => "device.login",
            Self::LoginLimited => "login.limited",
            Self::DeviceCertify => "device.certify",
            Self::DeviceRevoke => "device.revoke",
            Self::DeviceApprove => "device.approve",
            Self::DeviceListReset => "device.reset",
            Self::InvitationCreate => "invitation.create",
            Self::InvitationRevoke => "invitation.revoke",
            Self::CitizenSignup => "citizen.signup",
            Self::ConsentWithdraw => "consent.withdraw",
            Self::ThreadCreate => "thread.create",
            Self::ThreadCitizenAdd => "thread.citizen.add",
            Self::MessageSend => "message.send",
            Self::ReceiptDelivered => "receipt.delivered",
            Self::ReceiptRead => "receipt.read",
            Self::AttachmentUpload => "attachment.upload",
            Self::JournalFile => "journal.file",
            Self::HoldSet => "hold.set",
            Self::HoldRelease => "hold.release",
            Self::TemplateSave => "template.save",
            Self::TemplateDelete => "template.delete",
            Self::RetentionPurge => "retention.purge",
            Self::RetentionThreadDelete => "retention.thread.delete",
            Self::AccessExport => "access.export",
            Self::CitizenErase => "citizen.erase",
            Self::AuditExport => "audit.export",
        }
    }
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A detail value: an id, a number or a fixed word. Never free text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Id(String),
    Number(i64),
    Word(&'static str),
}

/// The content-free detail of an event: constant keys, ids and numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Detail(BTreeMap<&'static str, Value>);

impl Detail {
    /// No detail.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds an object id (an account, device, thread, team, attachment or
    /// receipt id: random identifiers the server made, never a name).
    pub fn id(mut self, key: &'static str, id: &str) -> Self {
        self.0.insert(key, Value::Id(id.to_owned()));
        self
    }

    /// Adds a number (a sequence number, a count, days).
    pub fn number(mut self, key: &'static str, n: i64) -> Self {
        self.0.insert(key, Value::Number(n));
        self
    }

    /// Adds a word from the code (an identity level, a role, a reason).
    pub fn word(mut self, key: &'static str, word: &'static str) -> Self {
        self.0.insert(key, Value::Word(word));
        self
    }

    /// The stored JSON text: an object with sorted keys.
    pub fn to_json(&self) -> String {
        let map: serde_json::Map<String, serde_json::Value> = self
            .0
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::Id(s) => serde_json::Value::String(s.clone()),
                    Value::Number(n) => serde_json::Value::from(*n),
                    Value::Word(w) => serde_json::Value::String((*w).to_owned()),
                };
                ((*k).to_owned(), v)
            })
            .collect();
        serde_json::Value::Object(map).to_string()
    }
}

/// The actor of events the server does by itself (retention, exports).
pub const SYSTEM: &str = "system";

/// One thing to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// The organisation, when the event belongs to one.
    pub org_id: Option<String>,
    /// The account that acted, or [`SYSTEM`].
    pub actor: String,
    /// The device it acted from.
    pub device_id: Option<String>,
    /// What happened.
    pub action: Action,
    /// The object it happened to (thread, account, team, device id).
    pub subject: Option<String>,
    /// Content-free specifics.
    pub detail: Detail,
}

impl AuditEvent {
    /// An event by `actor` (an account id) on `subject`.
    pub fn new(action: Action, actor: &str, subject: Option<&str>) -> Self {
        Self {
            org_id: None,
            actor: actor.to_owned(),
            device_id: None,
            action,
            subject: subject.map(str::to_owned),
            detail: Detail::none(),
        }
    }

    /// An event the server did by itself.
    pub fn system(action: Action, subject: Option<&str>) -> Self {
        Self::new(action, SYSTEM, subject)
    }

    /// Sets the organisation.
    pub fn org(mut self, org_id: &str) -> Self {
        self.org_id = Some(org_id.to_owned());
        self
    }

    /// Sets the acting device.
    pub fn device(mut self, device_id: &str) -> Self {
        self.device_id = Some(device_id.to_owned());
        self
    }

    /// Sets the detail.
    pub fn detail(mut self, detail: Detail) -> Self {
        self.detail = detail;
        self
    }
}

impl AuditEvent {
    /// A device's login (`method`: `password` or `eid`); a new device is
    /// enrolled by it.
    pub fn login(account: &str, org: &str, device: &str, method: &'static str, new: bool) -> Self {
        Self::new(Action::DeviceLogin, account, Some(device))
            .org(org)
            .device(device)
            .detail(
                Detail::none()
                    .word("method", method)
                    .word("new_device", if new { "yes" } else { "no" }),
            )
    }

    /// A citizen's sign-up from an invitation (`outcome`: a new account,
    /// or a device added to their existing one).
    pub fn signup(
        account: &str,
        org: &str,
        device: &str,
        team: &str,
        assurance: &'static str,
        outcome: &'static str,
    ) -> Self {
        Self::new(Action::CitizenSignup, account, Some(account))
            .org(org)
            .device(device)
            .detail(
                Detail::none()
                    .id("team", team)
                    .word("assurance", assurance)
                    .word("outcome", outcome)
                    .word("consent", "given"),
            )
    }
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub idx: i64,
    /// When, in Unix milliseconds.
    pub at_ms: i64,
    /// The organisation, if any.
    pub org_id: Option<String>,
    /// The account that acted, or `system`.
    pub actor: String,
    /// The device it acted from.
    pub device_id: Option<String>,
    /// The action's name.
    pub action: String,
    /// The object.
    pub subject: Option<String>,
    /// Content-free specifics (a JSON object).
    pub detail: String,
    /// The previous entry's hash.
    #[serde(serialize_with = "hex_bytes")]
    pub prev_hash: Vec<u8>,
    /// This entry's hash.
    #[serde(serialize_with = "hex_bytes")]
    pub hash: Vec<u8>,
}

fn hex_bytes<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(bytes))
}

/// The hash that precedes the first entry.
pub const GENESIS: [u8; 32] = [0; 32];

/// The fields an entry's hash covers, in order.
#[derive(Debug, Clone, Copy)]
pub struct EntryFields<'a> {
    /// Position.
    pub idx: i64,
    /// Time.
    pub at_ms: i64,
    /// Organisation.
    pub org_id: Option<&'a str>,
    /// Actor.
    pub actor: &'a str,
    /// Device.
    pub device_id: Option<&'a str>,
    /// Action name.
    pub action: &'a str,
    /// Subject.
    pub subject: Option<&'a str>,
    /// Detail JSON.
    pub detail: &'a str,
}

/// `SHA-256("samtale-audit-v1" ‖ prev ‖ fields)`, each field length-prefixed
/// (absent ones as length `u32::MAX`), so no two entries share an encoding.
pub fn entry_hash(prev: &[u8], f: &EntryFields<'_>) -> [u8; 32] {
    fn field(h: &mut Sha256, v: Option<&str>) {
        match v {
            Some(s) => {
                h.update(u32::try_from(s.len()).unwrap_or(u32::MAX - 1).to_be_bytes());
                h.update(s.as_bytes());
            }
            None => h.update(u32::MAX.to_be_bytes()),
        }
    }
    let mut h = Sha256::new();
    h.update(b"samtale-audit-v1\0");
    h.update(prev);
    h.update(f.idx.to_be_bytes());
    h.update(f.at_ms.to_be_bytes());
    field(&mut h, f.org_id);
    field(&mut h, Some(f.actor));
    field(&mut h, f.device_id);
    field(&mut h, Some(f.action));
    field(&mut h, f.subject);
    field(&mut h, Some(f.detail));
    h.finalize().into()
}

impl AuditEntry {
    fn fields(&self) -> EntryFields<'_> {
        EntryFields {
            idx: self.idx,
            at_ms: self.at_ms,
            org_id: self.org_id.as_deref(),
            actor: &self.actor,
            device_id: self.device_id.as_deref(),
            action: &self.action,
            subject: self.subject.as_deref(),
            detail: &self.detail,
        }
    }
}

/// Why the chain does not verify, naming the first entry that does not fit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainError {
    /// An entry is missing (removed): the next one has a later index.
    #[error("audit entry {index} is missing: the log jumps from {previous} to {found}")]
    Missing {
        /// The first missing index.
        index: i64,
        /// The last good entry.
        previous: i64,
        /// The entry found instead.
        found: i64,
    },
    /// An entry's fields do not match its hash (it was changed).
    #[error("audit entry {index} was changed: its hash does not match its contents")]
    Changed {
        /// The entry.
        index: i64,
    },
    /// An entry does not link to the one before (inserted, or the one before replaced).
    #[error(
        "audit entry {index} does not follow entry {}: its link to the previous hash is broken",
        index - 1
    )]
    Unlinked {
        /// The entry.
        index: i64,
    },
    /// Entries at the end are missing: the head names a later entry.
    #[error("audit entries after {last} are missing: the chain's head says it ends at {head}")]
    Truncated {
        /// The last entry found.
        last: i64,
        /// Where the head says the chain ends.
        head: i64,
    },
    /// The last entry is not the one the head names.
    #[error("audit entry {index} is not the chain's recorded head: it was changed or replaced")]
    HeadMismatch {
        /// The entry.
        index: i64,
    },
}

impl ChainError {
    /// The index of the first bad entry.
    pub fn index(&self) -> i64 {
        match self {
            Self::Missing { index, .. }
            | Self::Changed { index }
            | Self::Unlinked { index }
            | Self::HeadMismatch { index } => *index,
            Self::Truncated { last, .. } => last + 1,
        }
    }
}

/// Walks the chain page by page. Feed it entries in index order with
/// [`ChainVerifier::push`], then call [`ChainVerifier::finish`] with the head.
#[derive(Debug)]
pub struct ChainVerifier {
    last_idx: i64,
    last_hash: Vec<u8>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            last_idx: 0,
            last_hash: GENESIS.to_vec(),
        }
    }
}

impl ChainVerifier {
    /// Checks the next entry.
    pub fn push(&mut self, entry: &AuditEntry) -> Result<(), ChainError> {
        let expected = self.last_idx + 1;
        if entry.idx != expected {
            return Err(ChainError::Missing {
                index: expected,
                previous: self.last_idx,
                found: entry.idx,
            });
        }
        if entry.hash != entry_hash(&entry.prev_hash, &entry.fields()) {
            return Err(ChainError::Changed { index: entry.idx });
        }
        if entry.prev_hash != self.last_hash {
            return Err(ChainError::Unlinked { index: entry.idx });
        }
        self.last_idx = entry.idx;
        self.last_hash.clone_from(&entry.hash);
        Ok(())
    }

    /// Checks the end of the chain against the head; returns the count.
    pub fn finish(self, head_idx: i64, head_hash: &[u8]) -> Result<i64, ChainError> {
        if self.last_idx < head_idx {
            return Err(ChainError::Truncated {
                last: self.last_idx,
                head: head_idx,
            });
        }
        if self.last_idx != head_idx || self.last_hash != head_hash {
            return Err(ChainError::HeadMismatch {
                index: self.last_idx,
            });
        }
        Ok(self.last_idx)
    }
}

/// Why verifying the stored log failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The chain is broken.
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The log could not be read.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}

/// Entries read per query while verifying or exporting.
const PAGE: i64 = 5_000;

/// Verifies the whole stored chain against its head; returns how many
/// entries it holds. `progress` is told each page's last index.
pub async fn verify_storage(
    storage: &crate::storage::Storage,
    progress: impl FnMut(i64),
) -> Result<i64, VerifyError> {
    let check = check_storage(storage, None, progress).await?;
    Ok(check.result?)
}

/// What [`check_storage`] found.
#[derive(Debug)]
pub struct ChainCheck {
    /// The head the walk verified up to.
    pub head_idx: i64,
    /// Its hash.
    pub head_hash: Vec<u8>,
    /// The number of entries, or the first break.
    pub result: Result<i64, ChainError>,
    /// Entries (up to the head) of the organisation asked about.
    pub org_entries: i64,
}

/// Walks the stored chain from its first entry to its head (read first:
/// entries appended meanwhile come after it), verifying each link, and
/// counts the entries of `org` on the way. Stops at the first break.
pub async fn check_storage(
    storage: &crate::storage::Storage,
    org: Option<&str>,
    mut progress: impl FnMut(i64),
) -> Result<ChainCheck, crate::storage::StorageError> {
    let (head_idx, head_hash) = storage.audit_head().await?;
    let filter = crate::storage::records::AuditFilter::default();
    let mut verifier = ChainVerifier::default();
    let mut org_entries = 0;
    let mut after = 0;
    let mut broken = None;
    'walk: loop {
        let page = storage.audit_entries(&filter, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.idx;
        for entry in page.iter().take_while(|e| e.idx <= head_idx) {
            if let Err(e) = verifier.push(entry) {
                broken = Some(e);
                break 'walk;
            }
            if org.is_some() && entry.org_id.as_deref() == org {
                org_entries += 1;
            }
        }
        progress(after);
        if after >= head_idx {
            break;
        }
    }
    let result = match broken {
        Some(e) => Err(e),
        None => verifier.finish(head_idx, &head_hash),
    };
    Ok(ChainCheck {
        head_idx,
        head_hash,
        result,
        org_entries,
    })
}

/// Writes the entries that match `filter` as JSON lines (one entry per
/// line, the same fields as stored, hashes in hex) and records the export
/// itself in the log. Returns how many entries were written.
pub async fn export(
    storage: &crate::storage::Storage,
    filter: &crate::storage::records::AuditFilter,
    out: &mut impl std::io::Write,
    now_ms: i64,
) -> Result<i64, ExportError> {
    let mut after = 0;
    let mut count = 0;
    loop {
        let page = storage.audit_entries(filter, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.idx;
        for entry in &page {
            serde_json::to_writer(&mut *out, entry).map_err(std::io::Error::from)?;
            out.write_all(b"\n")?;
            count += 1;
        }
    }
    out.flush()?;
    let mut detail = Detail::none().number("entries", count);
    if let Some(subject) = &filter.subject {
        detail = detail.id("subject", subject);
    }
    if let Some(actor) = &filter.actor {
        detail = detail.id("actor", actor);
    }
    if let Some(account) = &filter.account {
        detail = detail.id("account", account);
    }
    let mut event = AuditEvent::system(Action::AuditExport, None).detail(detail);
    event.org_id.clone_from(&filter.org_id);
    storage.audit(&[event], now_ms).await?;
    Ok(count)
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing the output failed.
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    /// The log could not be read.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut prev = GENESIS.to_vec();
        (1..=n)
            .map(|idx| {
                let detail = Detail::none().number("seq", idx).to_json();
                let f = EntryFields {
                    idx,
                    at_ms: 1_000 + idx,
                    org_id: Some("org"),
                    actor: "acct",
                    device_id: None,
                    action: "message.send",
                    subject: Some("thread"),
                    detail: &detail,
                };
                let hash = entry_hash(&prev, &f).to_vec();
                let e = AuditEntry {
                    idx,
                    at_ms: f.at_ms,
                    org_id: Some("org".into()),
                    actor: "acct".into(),
                    device_id: None,
                    action: "message.send".into(),
                    subject: Some("thread".into()),
                    detail,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                e
            })
            .collect()
    }

    fn verify(entries: &[AuditEntry]) -> Result<i64, ChainError> {
        let (head_idx, head_hash) = (5, chain(5)[4].hash.clone());
        let mut v = ChainVerifier::default();
        for e in entries {
            v.push(e)?;
        }
        v.finish(head_idx, &head_hash)
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn a_changed_field_is_named_at_its_index() {
        let mut c = chain(5);
        c[2].actor = "someone else".into();
        assert_eq!(verify(&c), Err(ChainError::Changed { index: 3 }));
        let mut c = chain(5);
        c[1].org_id = None;
        assert_eq!(verify(&c).map_err(|e| e.index()), Err(2));
    }

    #[test]
    fn a_removed_entry_is_named_at_its_index() {
        let mut c = chain(5);
        c.remove(1);
        assert_eq!(verify(&c).map_err(|e| e.index()), Err(2));
        let mut c = chain(5);
        c.pop();
        assert_eq!(verify(&c).map_err(|e| e.index()), Err(5));
    }

    #[test]
    fn an_absent_field_and_an_empty_one_hash_differently() {
        let a = EntryFields {
            idx: 1,
            at_ms: 1,
            org_id: None,
            actor: "a",
            device_id: None,
            action: "x",
            subject: None,
            detail: "{}",
        };
        let b = EntryFields {
            org_id: Some(""),
            ..a
        };
        assert_ne!(entry_hash(&GENESIS, &a), entry_hash(&GENESIS, &b));
    }

    #[test]
    fn detail_is_json_with_sorted_keys() {
        let d = Detail::none()
            .number("up_to", 7)
            .id("device", "dev1")
            .word("level", "high");
        assert_eq!(d.to_json(), r#"{"device":"dev1","level":"high","up_to":7}"#);
    }
}
