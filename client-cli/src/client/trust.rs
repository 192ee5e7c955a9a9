//! The one home for trust in the client (docs/SECURITY.md, PROTOCOL.md §5,
//! §7, §8). Every path that seals a message, grants a key, keeps a granted
//! key or shows a sender as verified goes through here, so the rule lives
//! once — and the browser client mirrors this file:
//!
//! > A client seals a content key to a holder epoch, or grants a holder key
//! > to a device, only when a chain of signatures it has verified itself
//! > leads from the organisation root (pinned from the letter or the
//! > admin's own keystore) or from a device the person approved, to that
//! > key or device. The server's lists say what to fetch; they are never
//! > authority. A client's own keys come from its keystore.
//!
//! The server serves signed logs (team members, device lists, a thread's
//! participants) and signed holder key records; they are replayed and
//! checked by the protocol crate's [`Directory`]. What was verified is
//! pinned in the keystore ([`Pins`]), so a log the server later rewrites
//! or rolls back, or a holder epoch it hides, is refused, and a citizen's
//! device list that was reset is flagged until someone compares safety
//! numbers.

use std::collections::{BTreeMap, HashMap};

use samtale_protocol::membership::{LogKind, Member, MembershipRecord, MembershipState, Operation};
use samtale_protocol::trust::{Directory, HolderOwner, Served, VerifiedHolder};
use samtale_protocol::wire::{HolderKeySet, SignedLog, ThreadDetail, ThreadDevice, ThreadKeys};
use samtale_protocol::{
    AccountId, DeviceCertificate, DevicePublicKeys, HolderEpoch, HolderId, HolderKind,
    HolderPublicKey, IdentityKey, Roles, TeamId, ThreadId,
};
use serde::{Deserialize, Serialize};

use super::{ClientError, Session, now_secs};

/// What to do when the server's data does not verify.
const TELL: &str =
    "Nothing was sent or granted. Tell your organisation: the server may have been tampered with";

/// What this device has verified before, kept in the keystore (so it is as
/// tamper-proof as the keys): how far each log was seen, the newest epoch of
/// each holder, and the organisation's archive holder.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pins {
    /// Per log (`team:<id>`, `devices:<id>`).
    #[serde(default)]
    pub logs: BTreeMap<String, LogPin>,
    /// Per holder: the newest epoch seen.
    #[serde(default)]
    pub holders: BTreeMap<HolderId, HolderPin>,
    /// The organisation's archive holder, once seen.
    #[serde(default)]
    pub archive: Option<HolderId>,
}

/// How far a log was seen.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogPin {
    /// Records seen.
    pub len: u64,
    /// The hash of the last one (hex).
    pub head: String,
    /// Records the person confirmed by comparing safety numbers: a reset
    /// at or after this position is flagged.
    #[serde(default)]
    pub confirmed: u64,
}

/// The newest epoch of a holder seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HolderPin {
    /// Its number.
    pub epoch: u32,
    /// Its public key (hex).
    pub key: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn date(secs: u64) -> String {
    crate::output::utc_date(secs)
}

/// A citizen's device list changed in a way people must be told about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceNews {
    /// Whose.
    pub account: AccountId,
    /// The list was reset (a lost phone, or a server faking one) at this
    /// time and nobody has compared safety numbers since.
    pub reset_at: Option<u64>,
    /// Devices added since this device last looked.
    pub added: usize,
    /// Devices removed since this device last looked.
    pub removed: usize,
    /// The server no longer knows the account (it was erased): nothing is
    /// sealed to it.
    pub gone: bool,
}

/// A thread whose participant list verified.
#[derive(Debug, Clone)]
pub struct VerifiedThread {
    /// The thread.
    pub thread: ThreadId,
    /// Its team (from the list's first record).
    pub team: TeamId,
    /// The replayed participant list.
    pub log: MembershipState,
    /// The citizens taking part now.
    pub citizens: Vec<AccountId>,
    /// The archive holder every message is also sealed to.
    pub archive: HolderId,
    /// Citizens' device lists that changed (resets are flagged until confirmed).
    pub news: Vec<DeviceNews>,
}

impl VerifiedThread {
    /// Whether `account` was a citizen of the thread at `at`.
    pub fn citizen_at(&self, account: AccountId, at: u64) -> bool {
        self.log.contained_at(&Member::Citizen(account), at)
    }

    /// The citizens whose device lists were reset and not confirmed.
    pub fn unconfirmed_resets(&self) -> impl Iterator<Item = &DeviceNews> {
        self.news.iter().filter(|n| n.reset_at.is_some())
    }

    /// Whether the server no longer knows `account` (erased).
    pub fn gone(&self, account: AccountId) -> bool {
        self.news.iter().any(|n| n.account == account && n.gone)
    }
}

/// A verification failure, in words that say what failed and what to do.
pub(crate) fn refuse(what: impl std::fmt::Display) -> ClientError {
    ClientError::Verification(format!("{what}. {TELL}"))
}

/// Whether two sets of device keys name the same device with the same keys.
fn same_keys(a: &DevicePublicKeys, b: &DevicePublicKeys) -> bool {
    a.identity == b.identity && a.agreement == b.agreement
}

impl Session {
    /// An empty directory for this profile's organisation, anchored at the
    /// root key the profile pinned.
    pub(crate) fn directory(&self) -> Directory {
        Directory::new(self.config.root_public_key, self.config.org_id)
    }

    async fn fetch_log(
        &mut self,
        path: &str,
    ) -> Result<Vec<Served<MembershipRecord>>, ClientError> {
        let log: SignedLog = self.get(path).await?;
        samtale_protocol::wire::LogRecord::decode_all(&log.records)
            .map_err(|e| refuse(format!("a signed list from the server is malformed ({e})")))
    }

    /// Checks a log against what was pinned (it must extend it) and moves
    /// the pin forward. Returns the records that are new since the pin.
    fn advance_pin(
        &self,
        pins: &mut Pins,
        key: &str,
        what: &str,
        records: &[Served<MembershipRecord>],
    ) -> Result<usize, ClientError> {
        let len = records.len() as u64;
        let head = records
            .last()
            .map(|r| hex(&r.record.hash()))
            .unwrap_or_default();
        let seen = match pins.logs.get(key) {
            None => 0,
            Some(pin) => {
                let at = usize::try_from(pin.len).unwrap_or(usize::MAX);
                if pin.len > len {
                    return Err(refuse(format!(
                        "the {what} is shorter than this device saw before ({len} records now, {} then): the server has rolled it back",
                        pin.len
                    )));
                }
                if at > 0 && hex(&records[at - 1].record.hash()) != pin.head {
                    return Err(refuse(format!(
                        "the {what} no longer contains record {} as this device saw it: the server has rewritten it",
                        pin.len - 1
                    )));
                }
                at
            }
        };
        let entry = pins.logs.entry(key.to_owned()).or_default();
        entry.len = len;
        entry.head = head;
        Ok(records.len() - seen)
    }

    /// Saves changed pins (only the entries this call touched, so another
    /// process's pins are kept).
    pub(crate) fn save_pins(&mut self, before: &Pins, after: &Pins) -> Result<(), ClientError> {
        if before == after {
            return Ok(());
        }
        let changed_logs: Vec<(String, LogPin)> = after
            .logs
            .iter()
            .filter(|(k, v)| before.logs.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let changed_holders: Vec<(HolderId, HolderPin)> = after
            .holders
            .iter()
            .filter(|(k, v)| before.holders.get(*k) != Some(*v))
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        let archive = after.archive;
        self.keystore.update(|s| {
            for (k, v) in changed_logs {
                s.pins.logs.insert(k, v);
            }
            for (k, v) in changed_holders {
                let newer = s.pins.holders.get(&k).is_none_or(|p| p.epoch <= v.epoch);
                if newer {
                    s.pins.holders.insert(k, v);
                }
            }
            if s.pins.archive.is_none() {
                s.pins.archive = archive;
            }
        })?;
        Ok(())
    }

    /// Loads, verifies and pins a staff account's device list (signed by
    /// the organisation root).
    pub(crate) async fn load_staff(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
        account: AccountId,
    ) -> Result<(), ClientError> {
        if dir.staff_log(account).is_some() {
            return Ok(());
        }
        let records = self
            .fetch_log(&format!("/v1/accounts/{account}/device-log"))
            .await?;
        let plain: Vec<MembershipRecord> = records.iter().map(|s| s.record.clone()).collect();
        dir.add_staff_device_log(account, &plain)
            .map_err(|e| refuse(format!("a staff member's device list: {e}")))?;
        self.advance_pin(
            pins,
            &format!("devices:{account}"),
            "staff device list",
            &records,
        )?;
        Ok(())
    }

    /// Loads the device lists of the staff accounts these certificates name.
    pub(crate) async fn load_staff_for<'a>(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
        certificates: impl IntoIterator<Item = &'a DeviceCertificate>,
    ) -> Result<(), ClientError> {
        for account in Directory::accounts_certified(certificates) {
            self.load_staff(dir, pins, account).await?;
        }
        Ok(())
    }

    /// Loads, verifies and pins a team's member list.
    pub(crate) async fn load_team(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
        team: TeamId,
    ) -> Result<(), ClientError> {
        if dir.team_log(team).is_some() {
            return Ok(());
        }
        let records = self
            .fetch_log(&format!("/v1/teams/{team}/member-log"))
            .await?;
        self.load_staff_for(
            dir,
            pins,
            records.iter().filter_map(|r| r.certificate.as_ref()),
        )
        .await?;
        dir.add_team_log(team, &records)
            .map_err(|e| refuse(format!("the team's member list: {e}")))?;
        self.advance_pin(
            pins,
            &format!("team:{team}"),
            "team's member list",
            &records,
        )?;
        Ok(())
    }

    /// Loads, verifies and pins a citizen's device list; says what changed
    /// since this device last looked.
    pub(crate) async fn load_citizen(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
        account: AccountId,
    ) -> Result<DeviceNews, ClientError> {
        let records = match self
            .fetch_log(&format!("/v1/accounts/{account}/device-log"))
            .await
        {
            Ok(records) => records,
            Err(ClientError::Api(e))
                if e.code() == Some(samtale_protocol::wire::ErrorCode::NotFound) =>
            {
                // Erased (or never there). Nothing will be sealed to it; a
                // server that lies here denies service but learns nothing.
                return Ok(DeviceNews {
                    account,
                    reset_at: None,
                    added: 0,
                    removed: 0,
                    gone: true,
                });
            }
            Err(e) => return Err(e),
        };
        self.load_staff_for(
            dir,
            pins,
            records.iter().filter_map(|r| r.certificate.as_ref()),
        )
        .await?;
        let state = dir
            .add_citizen_device_log(account, &records)
            .map_err(|e| refuse(format!("a citizen's device list: {e}")))?
            .clone();
        let key = format!("devices:{account}");
        let first_look = !pins.logs.contains_key(&key);
        let new = self.advance_pin(pins, &key, "citizen's device list", &records)?;
        let confirmed = pins.logs.get(&key).map_or(0, |p| p.confirmed);
        let changes = state.changes();
        let fresh = if first_look {
            &[][..]
        } else {
            &changes[changes.len() - new..]
        };
        let reset_at = changes
            .iter()
            .rev()
            .find(|c| c.operation == Operation::Reset && c.seq >= confirmed)
            .map(|c| c.issued_at);
        // One's own list: a reset is one's own doing, or an alarm below.
        let own = account == self.config.account_id;
        Ok(DeviceNews {
            account,
            reset_at: if own { None } else { reset_at },
            added: fresh
                .iter()
                .filter(|c| c.operation == Operation::Add)
                .count(),
            removed: fresh
                .iter()
                .filter(|c| c.operation != Operation::Add)
                .count(),
            gone: false,
        })
    }

    /// This citizen device's own place in its account's signed device list.
    pub(crate) async fn own_citizen_list(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
    ) -> Result<OwnListing, ClientError> {
        let me = self.config.account_id;
        self.load_citizen(dir, pins, me).await?;
        let mine = self.device()?.public();
        let Some(state) = dir.citizen_log(me) else {
            return Ok(OwnListing::Empty);
        };
        if state
            .members()
            .iter()
            .any(|m| matches!(m, Member::Device(d) if same_keys(d, &mine)))
        {
            return Ok(OwnListing::Listed);
        }
        if state.members().is_empty() && state.changes().is_empty() {
            return Ok(OwnListing::Empty);
        }
        let dropped = state.changes().iter().rev().find(|c| match c.member {
            Member::Device(d) => d.identity == mine.identity && c.operation != Operation::Add,
            _ => false,
        });
        let reset = state.changes().iter().rev().find(|c| {
            c.operation == Operation::Reset
                && state.changes().iter().any(|a| {
                    a.seq < c.seq
                        && matches!(a.member, Member::Device(d) if d.identity == mine.identity)
                })
        });
        Ok(match (dropped, reset) {
            (Some(c), _) | (None, Some(c)) => OwnListing::Removed { at: c.issued_at },
            (None, None) => OwnListing::Pending,
        })
    }

    /// Replays a thread's participant list and everything it depends on:
    /// the team's member list, the signers' device lists, and each
    /// citizen's device list.
    pub(crate) async fn verified_thread(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
        detail: &ThreadDetail,
    ) -> Result<VerifiedThread, ClientError> {
        let thread = detail.summary.thread_id;
        let records = samtale_protocol::wire::LogRecord::decode_all(&detail.participants)
            .map_err(|e| refuse(format!("the thread's participant list is malformed ({e})")))?;
        let team = match records.first().map(|r| *r.record.member()) {
            Some(Member::Team(t)) => t,
            _ => {
                return Err(refuse(
                    "the thread's participant list does not start with its team",
                ));
            }
        };
        if team != detail.summary.team_id {
            return Err(refuse(
                "the server names another team for this thread than its signed participant list",
            ));
        }
        self.load_team(dir, pins, team).await?;
        self.load_staff_for(
            dir,
            pins,
            records.iter().filter_map(|r| r.certificate.as_ref()),
        )
        .await?;
        let log = dir
            .verify_participants(thread, &records)
            .map_err(|e| refuse(format!("this thread's participant list: {e}")))?;
        let citizens: Vec<AccountId> = log
            .members()
            .iter()
            .filter_map(|m| match m {
                Member::Citizen(a) => Some(*a),
                _ => None,
            })
            .collect();
        let archive = log
            .members()
            .iter()
            .find_map(|m| match m {
                Member::Holder(h) => Some(*h),
                _ => None,
            })
            .ok_or_else(|| refuse("this thread's participant list names no archive holder"))?;
        // Citizens who ever took part (their earlier messages are checked).
        let mut ever: Vec<AccountId> = log
            .changes()
            .iter()
            .filter_map(|c| match c.member {
                Member::Citizen(a) => Some(a),
                _ => None,
            })
            .collect();
        ever.sort_unstable_by_key(|a| *a.as_bytes());
        ever.dedup();
        let mut news = Vec::new();
        for account in ever {
            let n = self.load_citizen(dir, pins, account).await?;
            if n.reset_at.is_some() || n.added > 0 || n.removed > 0 || n.gone {
                news.push(n);
            }
        }
        Ok(VerifiedThread {
            thread,
            team,
            log,
            citizens,
            archive,
            news,
        })
    }

    /// Verifies a holder's published epochs as belonging to `owner`, with
    /// the pins: no epoch the server hid, and the archive holder the one
    /// this device knows.
    pub(crate) fn verified_holder(
        &self,
        dir: &Directory,
        pins: &mut Pins,
        owner: HolderOwner,
        set: &HolderKeySet,
    ) -> Result<VerifiedHolder, ClientError> {
        let what = match owner {
            HolderOwner::Team(_) => "the team's key",
            HolderOwner::Citizen(_) => "a citizen's key",
            HolderOwner::Archive => "the organisation's archive key",
        };
        let records = set
            .decode_records()
            .map_err(|e| refuse(format!("{what}: {e}")))?;
        let verified = dir
            .verify_holder(owner, &records, now_secs())
            .map_err(|e| refuse(e.to_string()))?;
        if owner == HolderOwner::Archive {
            match pins.archive {
                Some(known) if known != verified.holder => {
                    return Err(refuse(format!(
                        "the organisation's archive key is now {}, not {known} as before",
                        verified.holder
                    )));
                }
                Some(_) => {}
                None => pins.archive = Some(verified.holder),
            }
        }
        let current = verified.current();
        if let Some(pin) = pins.holders.get(&verified.holder) {
            if current.key.epoch < pin.epoch {
                return Err(refuse(format!(
                    "{what} is served at epoch {}, but this device has seen epoch {}: the server hides the newer key",
                    current.key.epoch, pin.epoch
                )));
            }
            if current.key.epoch == pin.epoch && hex(&current.key.key.to_bytes()) != pin.key {
                return Err(refuse(format!(
                    "{what} at epoch {} is not the key this device saw before",
                    pin.epoch
                )));
            }
        }
        pins.holders.insert(
            verified.holder,
            HolderPin {
                epoch: current.key.epoch,
                key: hex(&current.key.key.to_bytes()),
            },
        );
        Ok(verified)
    }

    /// The public keys a message to this thread is sealed to, each one
    /// verified: the team's key, each citizen's key, the archive key — as
    /// the signed participant list names them, never as the server lists
    /// them. Refuses when a citizen's devices were reset and nobody has
    /// compared safety numbers, and when the server expects other keys.
    pub(crate) async fn seal_targets(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
        vt: &VerifiedThread,
        detail: &ThreadDetail,
        names: &HashMap<AccountId, String>,
    ) -> Result<Vec<HolderPublicKey>, ClientError> {
        if let Some(n) = vt
            .unconfirmed_resets()
            .find(|n| n.account != self.config.account_id)
        {
            let name = names
                .get(&n.account)
                .cloned()
                .unwrap_or_else(|| "a participant".into());
            return Err(ClientError::Verification(format!(
                "{name}'s devices were reset on {}: a new device replaced all earlier ones, and only that device could read what you send. Compare safety numbers with {name} by phone or in person (`samtale safety {}`), then confirm with `samtale safety {} --confirm \"{name}\"`. Nothing was sent",
                date(n.reset_at.unwrap_or(0)),
                &vt.thread.to_string()[..8],
                &vt.thread.to_string()[..8],
            )));
        }
        let keys: ThreadKeys = self.get(&format!("/v1/threads/{}/keys", vt.thread)).await?;
        let find = |kind: HolderKind, owner: &[u8; 16]| {
            keys.holders.iter().find(|h| {
                h.kind == kind
                    && h.records.first().is_some_and(|r| {
                        samtale_protocol::HolderKeyRecord::decode_and_verify(&r.record)
                            .is_ok_and(|r| r.owner() == owner)
                    })
            })
        };
        let mut out = Vec::new();
        let team_set = find(HolderKind::Team, vt.team.as_bytes()).ok_or_else(|| {
            ClientError::Refused(
                "the team has no key yet: a certified member of the team runs `samtale keys` first"
                    .into(),
            )
        })?;
        out.push(
            self.verified_holder(dir, pins, HolderOwner::Team(vt.team), team_set)?
                .current()
                .key,
        );
        // A citizen who withdrew consent is not sealed to any more. The
        // server's word can only take a recipient away here, never add one.
        let withdrawn = |c: &AccountId| {
            detail.citizens.iter().any(|d| {
                d.account_id == *c && d.consent == samtale_protocol::wire::ConsentState::Withdrawn
            })
        };
        for citizen in vt
            .citizens
            .iter()
            .filter(|c| !vt.gone(**c) && !withdrawn(c))
        {
            let name = names
                .get(citizen)
                .cloned()
                .unwrap_or_else(|| "a citizen of this thread".into());
            let set = find(HolderKind::Citizen, citizen.as_bytes()).ok_or_else(|| {
                ClientError::Refused(format!(
                    "{name} has no key yet: it is made when they open Samtale for the first time after joining (`samtale keys` on their device). Try again after that"
                ))
            })?;
            out.push(
                self.verified_holder(dir, pins, HolderOwner::Citizen(*citizen), set)?
                    .current()
                    .key,
            );
        }
        let archive_set = keys
            .holders
            .iter()
            .find(|h| h.holder_id == vt.archive)
            .ok_or_else(|| refuse("the server does not serve the archive key this thread's participant list names"))?;
        load_archive_signers(self, dir, pins, archive_set).await?;
        let archive = self.verified_holder(dir, pins, HolderOwner::Archive, archive_set)?;
        if archive.holder != vt.archive {
            return Err(refuse(
                "the archive key is not the one the thread's participant list names",
            ));
        }
        out.push(archive.current().key);
        let mut mine: Vec<HolderEpoch> = out.iter().map(HolderPublicKey::holder_epoch).collect();
        let mut theirs = detail.recipients.clone();
        mine.sort();
        theirs.sort();
        if mine != theirs {
            return Err(refuse(format!(
                "the server expects this message to be sealed to other keys ({}) than the thread's signed participant list gives ({})",
                epochs(&theirs),
                epochs(&mine)
            )));
        }
        Ok(out)
    }

    /// Checks who signed a message: a staff device certified by the root,
    /// in its account's device list and its account in the thread's team
    /// when it sent; or a device in the signed list of a citizen who took
    /// part when it sent.
    pub(crate) fn check_sender(
        &self,
        dir: &Directory,
        vt: &VerifiedThread,
        signer: &IdentityKey,
        at: u64,
        devices: &[ThreadDevice],
    ) -> Result<CheckedSender, String> {
        let hint = devices.iter().find(|d| d.keys.identity == *signer);
        let cert = hint
            .and_then(|d| d.certificate.as_deref())
            .map(DeviceCertificate::decode)
            .transpose()
            .map_err(|_| "the sender's certificate is malformed")?;
        if let Some(cert) = &cert {
            let body = dir
                .certified_at(signer, Some(cert), at)
                .map_err(|why| format!("sender not verified: {why}"))?;
            if !body.roles.contains(Roles::STAFF) {
                return Err("sent from a staff device not certified for the staff role".into());
            }
            if !dir.team_member_at(vt.team, body.staff_id, at) {
                return Err(
                    "sent by a staff member who was not in this thread's team at that time".into(),
                );
            }
            return Ok(CheckedSender::Staff {
                account: body.staff_id,
                name: body.staff_name.clone(),
                team: body
                    .teams
                    .iter()
                    .find(|t| t.id == vt.team)
                    .map(|t| t.name.clone()),
            });
        }
        // A citizen's device: whose list names it then, among the thread's citizens then?
        let citizen = vt
            .log
            .changes()
            .iter()
            .filter_map(|c| match c.member {
                Member::Citizen(a) => Some(a),
                _ => None,
            })
            .find(|a| dir.citizen_device_at(*a, signer, at));
        match citizen {
            Some(a) if vt.citizen_at(a, at) => Ok(CheckedSender::Citizen { account: a }),
            Some(_) => Err("sent by a citizen who was not in this thread at that time".into()),
            None => Err("sent from a device that is in no participant's signed device list (the server may have added it)".into()),
        }
    }
}

/// Where this device stands in its own account's signed device list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnListing {
    /// In the list.
    Listed,
    /// The list is empty: this (first) device adds itself.
    Empty,
    /// Not in the list yet: another device of the account must approve it.
    Pending,
    /// Removed, or replaced by a reset, at this time.
    Removed {
        /// When (as the record claims).
        at: u64,
    },
}

/// A verified sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckedSender {
    /// A certified staff member.
    Staff {
        /// The account.
        account: AccountId,
        /// The certificate's name.
        name: String,
        /// The team's name, if the certificate names it.
        team: Option<String>,
    },
    /// A citizen of the thread.
    Citizen {
        /// The account.
        account: AccountId,
    },
}

/// The archive key's signers are record clerks' or admins' devices: load
/// their device lists.
async fn load_archive_signers(
    session: &mut Session,
    dir: &mut Directory,
    pins: &mut Pins,
    set: &HolderKeySet,
) -> Result<(), ClientError> {
    let certs: Vec<DeviceCertificate> = set
        .records
        .iter()
        .filter_map(|r| r.signer_certificate.as_deref())
        .filter_map(|c| DeviceCertificate::decode(c).ok())
        .collect();
    session.load_staff_for(dir, pins, certs.iter()).await
}

/// Loads what verifying a holder's records needs: the device lists of
/// staff signers, the team's member list, a citizen's device list.
pub(crate) async fn load_holder_context(
    session: &mut Session,
    dir: &mut Directory,
    pins: &mut Pins,
    owner: HolderOwner,
    set: &HolderKeySet,
) -> Result<(), ClientError> {
    load_archive_signers(session, dir, pins, set).await?;
    match owner {
        HolderOwner::Team(team) => session.load_team(dir, pins, team).await,
        HolderOwner::Citizen(account) => session.load_citizen(dir, pins, account).await.map(|_| ()),
        HolderOwner::Archive => Ok(()),
    }
}

fn epochs(list: &[HolderEpoch]) -> String {
    list.iter()
        .map(|e| format!("{}#{}", &e.holder.to_string()[..8], e.epoch))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The device log record a citizen's first device signs for itself.
pub(crate) fn first_device_record(
    account: AccountId,
    device: &samtale_protocol::DeviceKeys,
) -> MembershipRecord {
    MembershipState::new(LogKind::DeviceList, *account.as_bytes()).next_record(
        device,
        Operation::Add,
        Member::Device(device.public()),
        now_secs(),
    )
}
