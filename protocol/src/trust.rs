//! Who may sign what (`docs/PROTOCOL.md` §5, §7, §8): the chain from the
//! organisation root to a device, the policies of the three membership
//! logs, and the rules for holder key records.
//!
//! A [`Directory`] is built from logs the caller fetched (from a server that
//! is not trusted) and verified here, in dependency order: staff device
//! lists (signed by the root), then team member lists (the root or an admin
//! device), then citizen device lists, then a thread's participant list and
//! its holders' keys. Nothing is believed because the server listed it;
//! everything in a directory has a chain of signatures back to the
//! organisation root, or to a device the person approved.
//!
//! ```
//! use samtale_protocol::membership::{LogKind, Member, MembershipState, Operation};
//! use samtale_protocol::trust::{Directory, Served};
//! use samtale_protocol::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root = OrgRootKey::generate()?;
//! let org = OrgId::random()?;
//! let (team, mette) = (TeamId::random()?, AccountId::random()?);
//! // The root puts Mette in the team; her device list is empty.
//! let log = MembershipState::new(LogKind::TeamMembers, *team.as_bytes());
//! let add = log.next_record_by_root(&root, Operation::Add, Member::Staff(mette), 1_767_225_600);
//! let mut dir = Directory::new(root.public(), org);
//! dir.add_staff_device_log(mette, &[])?;
//! dir.add_team_log(team, &[Served::new(add, None)])?;
//! assert!(dir.team_member_now(team, mette));
//! // A member the root did not sign in is refused.
//! let forged = MembershipState::new(LogKind::TeamMembers, *team.as_bytes())
//!     .next_record(&DeviceKeys::generate()?, Operation::Add, Member::Staff(mette), 1_767_225_600);
//! assert!(Directory::new(root.public(), org).add_team_log(team, &[Served::new(forged, None)]).is_err());
//! # Ok(()) }
//! ```

use std::collections::HashMap;

use crate::cert::{CertificateBody, DeviceCertificate, Roles};
use crate::holder_key::HolderKeyRecord;
use crate::ids::{AccountId, HolderId, OrgId, TeamId, ThreadId};
use crate::keys::{DevicePublicKeys, HolderKind, HolderPublicKey, IdentityKey, OrgRootPublicKey};
use crate::membership::{
    LogKind, Member, MembershipError, MembershipRecord, MembershipState, Operation,
};

/// How far a signed time may lie in the verifier's future (clock skew).
pub const CLOCK_LEEWAY_SECS: u64 = 600;

/// A holder epoch older than this is due for rotation, whatever the
/// server says (30 days).
pub const EPOCH_MAX_AGE_SECS: u64 = 30 * 86_400;

/// Why data from the server does not verify. The messages say what failed;
/// the client adds what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// A membership log does not replay.
    #[error("the {what} of {subject} does not verify: {error}")]
    Log {
        /// Which log ("device list", …).
        what: &'static str,
        /// Whose (an id).
        subject: String,
        /// The first failing record and why.
        error: MembershipError,
    },
    /// A log needed to check something was not loaded.
    #[error("the {what} of {subject} was not checked")]
    Missing {
        /// Which log.
        what: &'static str,
        /// Whose.
        subject: String,
    },
    /// A holder's published keys do not verify.
    #[error("the {kind} key {holder}, epoch {epoch}: {why}")]
    HolderKey {
        /// "team", "citizen" or "archive".
        kind: &'static str,
        /// The holder.
        holder: HolderId,
        /// The epoch whose record failed.
        epoch: u32,
        /// Why.
        why: &'static str,
    },
    /// A holder has no published key at all.
    #[error("the {0} key has no published epoch")]
    NoEpochs(&'static str),
}

/// A membership record as a server serves it: the record and, when its
/// signer is a staff device, that device's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served<T> {
    /// The signed object.
    pub record: T,
    /// The signer's certificate from the organisation root (absent when
    /// the root or a citizen device signed it).
    pub certificate: Option<DeviceCertificate>,
}

impl<T> Served<T> {
    /// Pairs a record with its signer's certificate.
    pub fn new(record: T, certificate: Option<DeviceCertificate>) -> Self {
        Self {
            record,
            certificate,
        }
    }
}

/// What a holder belongs to: the expected kind and owner, taken from a
/// signed log (the thread's participants, the account's profile), never
/// from the server's word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HolderOwner {
    /// A team's key.
    Team(TeamId),
    /// A citizen's key.
    Citizen(AccountId),
    /// The organisation's archive key.
    Archive,
}

impl HolderOwner {
    fn kind(self) -> HolderKind {
        match self {
            Self::Team(_) => HolderKind::Team,
            Self::Citizen(_) => HolderKind::Citizen,
            Self::Archive => HolderKind::Archive,
        }
    }
}

/// One verified holder epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedEpoch {
    /// The public key and its epoch.
    pub key: HolderPublicKey,
    /// When it was made (as its signer claims; checked for sense).
    pub created_at: u64,
    /// Who signed its record.
    pub signer: IdentityKey,
}

/// A holder whose every published epoch verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHolder {
    /// The holder.
    pub holder: HolderId,
    /// Its kind.
    pub kind: HolderKind,
    /// Epochs `0..=current`, in order; never empty (only
    /// [`Directory::verify_holder`] makes one).
    epochs: Vec<VerifiedEpoch>,
}

impl VerifiedHolder {
    /// The newest epoch: what messages are sealed to.
    pub fn current(&self) -> &VerifiedEpoch {
        // Never empty: verify_holder refuses a holder without epochs.
        &self.epochs[self.epochs.len() - 1]
    }

    /// Every verified epoch, oldest first.
    pub fn epochs(&self) -> &[VerifiedEpoch] {
        &self.epochs
    }

    /// The verified public key of `epoch`.
    pub fn epoch(&self, epoch: u32) -> Option<&VerifiedEpoch> {
        self.epochs.get(epoch as usize)
    }

    /// Whether the newest epoch is older than [`EPOCH_MAX_AGE_SECS`] or
    /// older than `changed_at` (a member left or a device was removed
    /// since it was made).
    pub fn is_due(&self, now: u64, changed_at: Option<u64>) -> bool {
        let made = self.current().created_at;
        now >= made.saturating_add(EPOCH_MAX_AGE_SECS) || changed_at.is_some_and(|c| c > made)
    }
}

/// Verified membership, built up from the logs a client or server fetched.
#[derive(Debug, Clone)]
pub struct Directory {
    root: OrgRootPublicKey,
    org: OrgId,
    staff_devices: HashMap<AccountId, MembershipState>,
    citizen_devices: HashMap<AccountId, MembershipState>,
    teams: HashMap<TeamId, MembershipState>,
}

fn log_error(log: LogKind, subject: &[u8; 16], error: MembershipError) -> TrustError {
    TrustError::Log {
        what: log.describe(),
        subject: AccountId::from_bytes(*subject).to_string(),
        error,
    }
}

fn kind_word(kind: HolderKind) -> &'static str {
    match kind {
        HolderKind::Team => "team",
        HolderKind::Citizen => "citizen",
        HolderKind::Archive => "archive",
    }
}

fn device_member(record: &MembershipRecord) -> Result<&DevicePublicKeys, &'static str> {
    match record.member() {
        Member::Device(d) => Ok(d),
        _ => Err("a device list names devices only"),
    }
}

impl Directory {
    /// An empty directory for the organisation whose root key the client
    /// pinned (from the letter, or the admin's own keystore).
    pub fn new(root: OrgRootPublicKey, org: OrgId) -> Self {
        Self {
            root,
            org,
            staff_devices: HashMap::new(),
            citizen_devices: HashMap::new(),
            teams: HashMap::new(),
        }
    }

    /// The pinned organisation root.
    pub fn root(&self) -> &OrgRootPublicKey {
        &self.root
    }

    /// The organisation.
    pub fn org(&self) -> OrgId {
        self.org
    }

    /// A staff device's certificate, checked at `at`: signed by the root,
    /// for this organisation, for `signer`, valid at `at`, and the device
    /// was in its account's verified device list at `at`. Returns the
    /// certified facts.
    pub fn certified_at<'c>(
        &self,
        signer: &IdentityKey,
        certificate: Option<&'c DeviceCertificate>,
        at: u64,
    ) -> Result<&'c CertificateBody, &'static str> {
        let cert =
            certificate.ok_or("signed by a device without a certificate from the organisation")?;
        let body = cert
            .verify_signer(&self.root, at, signer)
            .map_err(|_| "signed by a device whose certificate from the organisation does not verify at that time")?;
        if body.org_id != self.org {
            return Err("signed by a device of another organisation");
        }
        if !self.staff_device_at(body.staff_id, signer, at) {
            return Err(
                "signed by a device that was not in its owner's signed device list at that time",
            );
        }
        Ok(body)
    }

    /// Whether a record is signed by the root, or by a device certified (at
    /// the record's time) with the admin role.
    fn root_or_admin(
        &self,
        r: &MembershipRecord,
        certs: &HashMap<u64, Option<&DeviceCertificate>>,
    ) -> Result<(), &'static str> {
        if self.root.is(r.signer()) {
            return Ok(());
        }
        let cert = certs.get(&r.seq()).copied().flatten();
        let body = self.certified_at(r.signer(), cert, r.issued_at())?;
        if body.roles.contains(Roles::ADMIN) {
            Ok(())
        } else {
            Err("signed by a device without the admin role")
        }
    }

    /// Whether `identity` was in staff `account`'s device list at `at`.
    pub fn staff_device_at(&self, account: AccountId, identity: &IdentityKey, at: u64) -> bool {
        self.staff_devices
            .get(&account)
            .is_some_and(|s| device_at(s, identity, at))
    }

    /// A staff account's current devices (both keys), if its list was loaded.
    pub fn staff_devices(&self, account: AccountId) -> Option<Vec<DevicePublicKeys>> {
        self.staff_devices.get(&account).map(devices_of)
    }

    /// A citizen account's current devices, if its list was loaded.
    pub fn citizen_devices(&self, account: AccountId) -> Option<Vec<DevicePublicKeys>> {
        self.citizen_devices.get(&account).map(devices_of)
    }

    /// A citizen's verified device list.
    pub fn citizen_log(&self, account: AccountId) -> Option<&MembershipState> {
        self.citizen_devices.get(&account)
    }

    /// A staff member's verified device list.
    pub fn staff_log(&self, account: AccountId) -> Option<&MembershipState> {
        self.staff_devices.get(&account)
    }

    /// A team's verified member list.
    pub fn team_log(&self, team: TeamId) -> Option<&MembershipState> {
        self.teams.get(&team)
    }

    /// Whether `identity` was in citizen `account`'s device list at `at`.
    pub fn citizen_device_at(&self, account: AccountId, identity: &IdentityKey, at: u64) -> bool {
        self.citizen_devices
            .get(&account)
            .is_some_and(|s| device_at(s, identity, at))
    }

    /// Whether staff `account` was in `team`'s member list at `at`.
    pub fn team_member_at(&self, team: TeamId, account: AccountId, at: u64) -> bool {
        self.teams
            .get(&team)
            .is_some_and(|s| s.contained_at(&Member::Staff(account), at))
    }

    /// Whether staff `account` is in `team`'s member list now.
    pub fn team_member_now(&self, team: TeamId, account: AccountId) -> bool {
        self.teams
            .get(&team)
            .is_some_and(|s| s.contains(&Member::Staff(account)))
    }

    /// Verifies and keeps a staff account's device list. Policy: the root
    /// adds and removes devices (it certifies them too); a device in the
    /// list may also remove one (a lost laptop, from the desk). No resets.
    pub fn add_staff_device_log(
        &mut self,
        account: AccountId,
        records: &[MembershipRecord],
    ) -> Result<&MembershipState, TrustError> {
        let root = self.root;
        let mut policy = |state: &MembershipState,
                          r: &MembershipRecord|
         -> Result<(), &'static str> {
            device_member(r)?;
            let by_root = root.is(r.signer());
            match r.operation() {
                Operation::Add if by_root => Ok(()),
                Operation::Add => Err("a staff device is added by the organisation root"),
                Operation::Remove if by_root || holds_device(state, r.signer()) => Ok(()),
                Operation::Remove => Err(
                    "a staff device is removed by the organisation root or another of the account's devices",
                ),
                Operation::Reset => Err("a staff device list is never reset"),
            }
        };
        let subject = *account.as_bytes();
        let state = MembershipState::replay(LogKind::DeviceList, subject, records, &mut policy)
            .map_err(|e| log_error(LogKind::DeviceList, &subject, e))?;
        self.staff_devices.insert(account, state);
        Ok(&self.staff_devices[&account])
    }

    /// Verifies and keeps a citizen account's device list. Policy: the
    /// first device adds itself; later devices are added by a device in the
    /// list (the person approved them there); a device in the list, the
    /// root or an admin device removes one; a device may reset the list to
    /// itself alone (flagged to everyone, see [`MembershipState::changes`]).
    pub fn add_citizen_device_log(
        &mut self,
        account: AccountId,
        records: &[Served<MembershipRecord>],
    ) -> Result<&MembershipState, TrustError> {
        let subject = *account.as_bytes();
        let certs = certificates_by_seq(records);
        let state = {
            let dir = &*self;
            let mut policy = |state: &MembershipState,
                              r: &MembershipRecord|
             -> Result<(), &'static str> {
                let device = device_member(r)?;
                match r.operation() {
                    Operation::Add if state.members().is_empty() => {
                        if device.identity == *r.signer() {
                            Ok(())
                        } else {
                            Err("the first device of a citizen's list adds itself")
                        }
                    }
                    Operation::Add if holds_device(state, r.signer()) => Ok(()),
                    Operation::Add => Err(
                        "a citizen's new device is added by one of their devices, after they approved it there",
                    ),
                    Operation::Remove if holds_device(state, r.signer()) => Ok(()),
                    Operation::Remove => dir
                        .root_or_admin(r, &certs)
                        .map_err(|_| {
                            "a citizen's device is removed by one of their devices or an organisation admin"
                        }),
                    // The device it keeps signed it (checked on apply).
                    Operation::Reset => Ok(()),
                }
            };
            replay_served(LogKind::DeviceList, subject, records, &mut policy)?
        };
        self.citizen_devices.insert(account, state);
        Ok(&self.citizen_devices[&account])
    }

    /// Verifies and keeps a team's member list. Policy: every change is
    /// signed by the organisation root or by a device certified as an
    /// admin's; members are staff accounts.
    pub fn add_team_log(
        &mut self,
        team: TeamId,
        records: &[Served<MembershipRecord>],
    ) -> Result<&MembershipState, TrustError> {
        let subject = *team.as_bytes();
        let certs = certificates_by_seq(records);
        let state = {
            let dir = &*self;
            let mut policy =
                |_: &MembershipState, r: &MembershipRecord| -> Result<(), &'static str> {
                    if !matches!(r.member(), Member::Staff(_)) {
                        return Err("a team's member list names staff accounts only");
                    }
                    dir.root_or_admin(r, &certs).map_err(|_| {
                    "a team's members are changed by the organisation root or an admin's device"
                })
                };
            replay_served(LogKind::TeamMembers, subject, records, &mut policy)?
        };
        self.teams.insert(team, state);
        Ok(&self.teams[&team])
    }

    /// Verifies a thread's participant list. Policy: record 0 adds the
    /// owning team; later records add or remove citizens and add the
    /// archive holder once; every record is signed by a staff device
    /// certified for the staff role whose account was in the team's member
    /// list when it signed.
    pub fn verify_participants(
        &self,
        thread: ThreadId,
        records: &[Served<MembershipRecord>],
    ) -> Result<MembershipState, TrustError> {
        let subject = *thread.as_bytes();
        let certs = certificates_by_seq(records);
        let mut team: Option<TeamId> = None;
        let mut policy = |state: &MembershipState,
                          r: &MembershipRecord|
         -> Result<(), &'static str> {
            match (r.seq(), r.member(), r.operation()) {
                (0, Member::Team(t), Operation::Add) => team = Some(*t),
                (0, _, _) => return Err("a thread's participant list starts by adding its team"),
                (_, Member::Team(_), _) => return Err("a thread has one team, added first"),
                (_, Member::Citizen(_), Operation::Add | Operation::Remove) => {}
                (_, Member::Holder(_), Operation::Add) => {
                    if state
                        .members()
                        .iter()
                        .any(|m| matches!(m, Member::Holder(_)))
                    {
                        return Err("a thread has one archive holder");
                    }
                }
                (_, Member::Holder(_), _) => return Err("the archive holder is never removed"),
                _ => {
                    return Err(
                        "a thread's participants are its team, citizens and archive holder",
                    );
                }
            }
            let team = team.ok_or("a thread's participant list starts by adding its team")?;
            let cert = certs.get(&r.seq()).copied().flatten();
            let body = self.certified_at(r.signer(), cert, r.issued_at())?;
            if !body.roles.contains(Roles::STAFF) {
                return Err("signed by a device not certified for the staff role");
            }
            if !self.team_member_at(team, body.staff_id, r.issued_at()) {
                return Err(
                    "signed by a staff member who was not in the thread's team at that time",
                );
            }
            Ok(())
        };
        replay_served(LogKind::ThreadParticipants, subject, records, &mut policy)
    }

    /// Verifies every published epoch of a holder that should belong to
    /// `owner`: in order from epoch 0, one holder id, the expected kind and
    /// owner, each record signed by whoever may publish that holder's keys
    /// at the time it was made, and no time in the future (beyond
    /// [`CLOCK_LEEWAY_SECS`] after `now`) or before the previous epoch.
    ///
    /// Who may publish: a team key, a device certified for the staff role
    /// of a team member; a citizen key, a device in the citizen's list; the
    /// archive key, the root or a device certified as a record clerk's or
    /// admin's.
    pub fn verify_holder(
        &self,
        owner: HolderOwner,
        records: &[Served<HolderKeyRecord>],
        now: u64,
    ) -> Result<VerifiedHolder, TrustError> {
        let kind = owner.kind();
        let word = kind_word(kind);
        let first = records.first().ok_or(TrustError::NoEpochs(word))?;
        let holder = first.record.key().holder;
        let owner_bytes = match owner {
            HolderOwner::Team(t) => *t.as_bytes(),
            HolderOwner::Citizen(a) => *a.as_bytes(),
            HolderOwner::Archive => *self.org.as_bytes(),
        };
        let mut epochs: Vec<VerifiedEpoch> = Vec::with_capacity(records.len());
        for (i, served) in records.iter().enumerate() {
            let r = &served.record;
            let key = *r.key();
            let fail = |why| TrustError::HolderKey {
                kind: word,
                holder,
                epoch: key.epoch,
                why,
            };
            if key.holder != holder || usize::try_from(key.epoch).ok() != Some(i) {
                return Err(fail(
                    "the epochs are not those of one holder, in order from 0",
                ));
            }
            if key.kind != kind {
                return Err(fail("it is published as another kind of key"));
            }
            if *r.owner() != owner_bytes {
                return Err(fail("it belongs to another owner"));
            }
            if r.created_at() > now.saturating_add(CLOCK_LEEWAY_SECS) {
                return Err(fail("it is dated in the future"));
            }
            if epochs.last().is_some_and(|p| r.created_at() < p.created_at) {
                return Err(fail("it is dated before the epoch it follows"));
            }
            let at = r.created_at();
            match owner {
                HolderOwner::Team(team) => {
                    let body = self
                        .certified_at(r.signer(), served.certificate.as_ref(), at)
                        .map_err(fail)?;
                    if !body.roles.contains(Roles::STAFF) {
                        return Err(fail("signed by a device not certified for the staff role"));
                    }
                    if !self.team_member_at(team, body.staff_id, at) {
                        return Err(fail(
                            "signed by someone who was not in the team's member list then",
                        ));
                    }
                }
                HolderOwner::Citizen(account) => {
                    if !self.citizen_devices.contains_key(&account) {
                        return Err(fail("the citizen's device list was not checked"));
                    }
                    if !self.citizen_device_at(account, r.signer(), at) {
                        return Err(fail(
                            "signed by a device that was not in the citizen's signed device list then",
                        ));
                    }
                }
                HolderOwner::Archive => {
                    if !self.root.is(r.signer()) {
                        let body = self
                            .certified_at(r.signer(), served.certificate.as_ref(), at)
                            .map_err(fail)?;
                        if !(body.roles.contains(Roles::RECORD_CLERK)
                            || body.roles.contains(Roles::ADMIN))
                        {
                            return Err(fail(
                                "signed by a device the organisation did not certify for the archive (record clerk or admin)",
                            ));
                        }
                    }
                }
            }
            epochs.push(VerifiedEpoch {
                key,
                created_at: at,
                signer: *r.signer(),
            });
        }
        Ok(VerifiedHolder {
            holder,
            kind,
            epochs,
        })
    }

    /// The staff accounts whose device lists must be loaded before records
    /// signed under these certificates can be checked.
    pub fn accounts_certified<'a>(
        certificates: impl IntoIterator<Item = &'a DeviceCertificate>,
    ) -> Vec<AccountId> {
        let mut out: Vec<AccountId> = certificates
            .into_iter()
            .map(|c| c.body_unverified().staff_id)
            .collect();
        out.sort_unstable_by_key(|a| *a.as_bytes());
        out.dedup();
        out
    }
}

/// Replays served records under `policy`, naming the log in the error.
fn replay_served(
    log: LogKind,
    subject: [u8; 16],
    records: &[Served<MembershipRecord>],
    policy: &mut crate::membership::Policy<'_>,
) -> Result<MembershipState, TrustError> {
    MembershipState::replay(log, subject, records.iter().map(|s| &s.record), policy)
        .map_err(|e| log_error(log, &subject, e))
}

fn certificates_by_seq(
    records: &[Served<MembershipRecord>],
) -> HashMap<u64, Option<&DeviceCertificate>> {
    records
        .iter()
        .map(|s| (s.record.seq(), s.certificate.as_ref()))
        .collect()
}

fn holds_device(state: &MembershipState, signer: &IdentityKey) -> bool {
    state
        .members()
        .iter()
        .any(|m| matches!(m, Member::Device(d) if d.identity == *signer))
}

fn devices_of(state: &MembershipState) -> Vec<DevicePublicKeys> {
    state
        .members()
        .iter()
        .filter_map(|m| match m {
            Member::Device(d) => Some(*d),
            _ => None,
        })
        .collect()
}

fn device_at(state: &MembershipState, identity: &IdentityKey, at: u64) -> bool {
    state
        .members_at(at)
        .iter()
        .any(|m| matches!(m, Member::Device(d) if d.identity == *identity))
}
