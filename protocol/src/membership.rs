//! Signed, hash-linked membership logs: a team's members, a thread's
//! participants, an account's devices. Each change is a record signed by a
//! device (or the organisation root) and linked to the hash of the previous
//! record, so a client that replays the log notices a member or device the
//! server slipped in, left out or reordered. Byte layout in
//! `docs/PROTOCOL.md` §7; who may sign which change is each log's *policy*
//! ([`crate::trust`]).

use sha2::{Digest, Sha256};

use crate::codec::{DecodeError, Reader, Writer, object_type};
use crate::ids::{AccountId, HolderId, TeamId};
use crate::keys::{AgreementKey, DeviceKeys, DevicePublicKeys, IdentityKey};
use crate::primitives::{self, context};

/// Membership record format version.
pub const MEMBERSHIP_VERSION: u8 = 1;
const HASH_CONTEXT: &[u8] = b"samtale/v1/membership-hash\0";

/// Which kind of membership a log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogKind {
    /// The staff members of a team; subject is the team id.
    TeamMembers,
    /// The participants of a thread; subject is the thread id.
    ThreadParticipants,
    /// The devices of an account; subject is the account id.
    DeviceList,
}

impl LogKind {
    /// The log's byte in the encoding (1, 2 or 3).
    pub fn to_byte(self) -> u8 {
        match self {
            Self::TeamMembers => 1,
            Self::ThreadParticipants => 2,
            Self::DeviceList => 3,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            1 => Some(Self::TeamMembers),
            2 => Some(Self::ThreadParticipants),
            3 => Some(Self::DeviceList),
            _ => None,
        }
    }

    /// What the log is about, in words ("the team's member list").
    pub fn describe(self) -> &'static str {
        match self {
            Self::TeamMembers => "team member list",
            Self::ThreadParticipants => "thread participant list",
            Self::DeviceList => "device list",
        }
    }
}

/// Adding or removing a member, or starting a device list afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// The member joins.
    Add,
    /// The member leaves.
    Remove,
    /// Device lists only: every device is removed and the record's device,
    /// which signs it, is the only one left (a lost phone with no other
    /// device to approve the new one). Other participants are warned.
    Reset,
}

impl Operation {
    fn to_byte(self) -> u8 {
        match self {
            Self::Add => 1,
            Self::Remove => 2,
            Self::Reset => 3,
        }
    }
}

/// A member of a team, thread or device list.
// A device's keys are held decompressed (a few hundred bytes); members are
// few and short-lived, so `Copy` is worth more than a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Member {
    /// A device, by both its public keys: the identity key that signs and
    /// the agreement key that grants are sealed to.
    Device(DevicePublicKeys),
    /// A staff account.
    Staff(AccountId),
    /// A citizen account.
    Citizen(AccountId),
    /// A team (a thread's owning team).
    Team(TeamId),
    /// A key holder (the organisation's archive key, a disclosed participant).
    Holder(HolderId),
}

impl Member {
    fn encode(&self, w: &mut Writer) {
        match self {
            Self::Device(keys) => w
                .u8(1)
                .bytes(&keys.identity.to_bytes())
                .bytes(&keys.agreement.to_bytes()),
            Self::Staff(id) => w.u8(2).bytes(id.as_bytes()),
            Self::Citizen(id) => w.u8(3).bytes(id.as_bytes()),
            Self::Team(id) => w.u8(4).bytes(id.as_bytes()),
            Self::Holder(id) => w.u8(5).bytes(id.as_bytes()),
        };
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8()? {
            1 => {
                let identity = IdentityKey::from_bytes(&r.array()?)
                    .map_err(|_| DecodeError::Invalid("member device identity key"))?;
                let agreement = AgreementKey::from_bytes(r.array()?)
                    .map_err(|_| DecodeError::Invalid("member device agreement key"))?;
                Self::Device(DevicePublicKeys {
                    identity,
                    agreement,
                })
            }
            2 => Self::Staff(AccountId::from_bytes(r.array()?)),
            3 => Self::Citizen(AccountId::from_bytes(r.array()?)),
            4 => Self::Team(TeamId::from_bytes(r.array()?)),
            5 => Self::Holder(HolderId::from_bytes(r.array()?)),
            _ => return Err(DecodeError::Invalid("member kind")),
        })
    }

    /// Whether two members are the same party: the same kind and id, and
    /// for devices the same identity key (whatever agreement key is named).
    pub fn same_party(&self, other: &Member) -> bool {
        match (self, other) {
            (Self::Device(a), Self::Device(b)) => a.identity == b.identity,
            _ => self == other,
        }
    }
}

/// Why a membership record or log is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembershipError {
    /// The bytes are not a membership record.
    #[error("malformed membership record: {0}")]
    Malformed(#[from] DecodeError),
    /// The record belongs to another kind of log.
    #[error("record {seq} belongs to another kind of log")]
    WrongLog {
        /// The record's sequence number.
        seq: u64,
    },
    /// The record belongs to another team, thread or account.
    #[error("record {seq} belongs to another subject")]
    WrongSubject {
        /// The record's sequence number.
        seq: u64,
    },
    /// A record is missing, repeated or out of order.
    #[error("expected record {expected}, found {found}")]
    OutOfOrder {
        /// The sequence number expected next.
        expected: u64,
        /// The one found.
        found: u64,
    },
    /// The record does not link to the hash of the previous one.
    #[error("record {seq} does not link to the previous record")]
    BrokenLink {
        /// The record's sequence number.
        seq: u64,
    },
    /// The record's signature does not verify.
    #[error("record {seq} has a bad signature")]
    BadSignature {
        /// The record's sequence number.
        seq: u64,
    },
    /// The record is dated before the one it follows.
    #[error("record {seq} is dated before the record it follows")]
    TimeWentBackwards {
        /// The record's sequence number.
        seq: u64,
    },
    /// A reset outside a device list, or not signed by the device it keeps.
    #[error("record {seq} is a reset that is not signed by the one device it keeps")]
    InvalidReset {
        /// The record's sequence number.
        seq: u64,
    },
    /// The signer may not make this change (the log's policy says why).
    #[error("record {seq}: {why}")]
    Unauthorized {
        /// The record's sequence number.
        seq: u64,
        /// What the policy requires.
        why: &'static str,
    },
    /// Adding a member that is already present.
    #[error("record {seq} adds a member that is already present")]
    AlreadyMember {
        /// The record's sequence number.
        seq: u64,
    },
    /// Removing a member that is not present.
    #[error("record {seq} removes a member that is not present")]
    NotAMember {
        /// The record's sequence number.
        seq: u64,
    },
}

impl MembershipError {
    /// The sequence number of the record that failed, when there is one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Self::Malformed(_) => None,
            Self::OutOfOrder { found, .. } => Some(*found),
            Self::WrongLog { seq }
            | Self::WrongSubject { seq }
            | Self::BrokenLink { seq }
            | Self::BadSignature { seq }
            | Self::TimeWentBackwards { seq }
            | Self::InvalidReset { seq }
            | Self::Unauthorized { seq, .. }
            | Self::AlreadyMember { seq }
            | Self::NotAMember { seq } => Some(*seq),
        }
    }
}

/// One signed change to a membership log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipRecord {
    log: LogKind,
    subject: [u8; 16],
    seq: u64,
    prev: [u8; 32],
    operation: Operation,
    member: Member,
    issued_at: u64,
    signer: IdentityKey,
    bytes: Vec<u8>,
}

impl MembershipRecord {
    /// Decodes a record; [`MembershipState::apply`] verifies it.
    pub fn decode(bytes: &[u8]) -> Result<Self, MembershipError> {
        let mut r = Reader::new(bytes);
        r.header(object_type::MEMBERSHIP_RECORD, MEMBERSHIP_VERSION)?;
        let log = LogKind::from_byte(r.u8()?).ok_or(DecodeError::Invalid("log kind"))?;
        let subject = r.array()?;
        let seq = r.u64()?;
        let prev = r.array()?;
        let operation = match r.u8()? {
            1 => Operation::Add,
            2 => Operation::Remove,
            3 => Operation::Reset,
            _ => return Err(DecodeError::Invalid("operation").into()),
        };
        let member = Member::decode(&mut r)?;
        let issued_at = r.u64()?;
        let signer =
            IdentityKey::from_bytes(&r.array()?).map_err(|_| DecodeError::Invalid("signer key"))?;
        r.take(64)?;
        r.finish()?;
        Ok(Self {
            log,
            subject,
            seq,
            prev,
            operation,
            member,
            issued_at,
            signer,
            bytes: bytes.to_vec(),
        })
    }

    /// The encoded record.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// SHA-256 over `"samtale/v1/membership-hash" || 0x00 || record`: what
    /// the next record links to.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(HASH_CONTEXT);
        h.update(&self.bytes);
        h.finalize().into()
    }

    /// Which log it belongs to.
    pub fn log(&self) -> LogKind {
        self.log
    }

    /// The team, thread or account id's bytes.
    pub fn subject(&self) -> &[u8; 16] {
        &self.subject
    }

    /// Position in the log, from 0.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Add, remove or reset.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// Who is added or removed (for a reset: the device that stays).
    pub fn member(&self) -> &Member {
        &self.member
    }

    /// The signing key (a device's identity key, or the organisation root).
    pub fn signer(&self) -> &IdentityKey {
        &self.signer
    }

    /// When the signer made the change (Unix seconds, as it claims).
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }
}

/// One applied change, kept so that a log can say who was a member when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The record's position.
    pub seq: u64,
    /// When it was signed (as its signer claims).
    pub issued_at: u64,
    /// What it did.
    pub operation: Operation,
    /// To whom.
    pub member: Member,
    /// Who signed it.
    pub signer: IdentityKey,
}

/// The state of a membership log after replaying verified records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipState {
    log: LogKind,
    subject: [u8; 16],
    members: Vec<Member>,
    changes: Vec<Change>,
    next_seq: u64,
    head: [u8; 32],
}

/// A log's policy: whether the record's signer may make its change, given
/// the state before it; `Err` says what the policy requires.
pub type Policy<'p> =
    dyn FnMut(&MembershipState, &MembershipRecord) -> Result<(), &'static str> + 'p;

impl MembershipState {
    /// An empty log for `subject` (a team, thread or account id's bytes).
    pub fn new(log: LogKind, subject: [u8; 16]) -> Self {
        Self {
            log,
            subject,
            members: Vec::new(),
            changes: Vec::new(),
            next_seq: 0,
            head: [0; 32],
        }
    }

    /// Replays `records` from the start under `policy`.
    pub fn replay<'a>(
        log: LogKind,
        subject: [u8; 16],
        records: impl IntoIterator<Item = &'a MembershipRecord>,
        policy: &mut Policy<'_>,
    ) -> Result<Self, MembershipError> {
        let mut state = Self::new(log, subject);
        for record in records {
            state.apply(record, policy)?;
        }
        Ok(state)
    }

    /// Verifies and applies the next record: kind, subject, position, link,
    /// signature, time order, the policy, and the change's sense.
    pub fn apply(
        &mut self,
        record: &MembershipRecord,
        policy: &mut Policy<'_>,
    ) -> Result<(), MembershipError> {
        let seq = record.seq;
        if record.log != self.log {
            return Err(MembershipError::WrongLog { seq });
        }
        if record.subject != self.subject {
            return Err(MembershipError::WrongSubject { seq });
        }
        if seq != self.next_seq {
            return Err(MembershipError::OutOfOrder {
                expected: self.next_seq,
                found: seq,
            });
        }
        if record.prev != self.head {
            return Err(MembershipError::BrokenLink { seq });
        }
        if !primitives::verify_trailing(
            record.signer.verifying_key(),
            context::MEMBERSHIP,
            &record.bytes,
        ) {
            return Err(MembershipError::BadSignature { seq });
        }
        if record.issued_at < self.last_issued_at() {
            return Err(MembershipError::TimeWentBackwards { seq });
        }
        if record.operation == Operation::Reset
            && (self.log != LogKind::DeviceList
                || !matches!(record.member, Member::Device(d) if d.identity == record.signer))
        {
            return Err(MembershipError::InvalidReset { seq });
        }
        policy(self, record).map_err(|why| MembershipError::Unauthorized { seq, why })?;
        match record.operation {
            Operation::Add => {
                if self.members.iter().any(|m| m.same_party(&record.member)) {
                    return Err(MembershipError::AlreadyMember { seq });
                }
                self.members.push(record.member);
            }
            Operation::Remove => {
                let Some(i) = self.members.iter().position(|m| *m == record.member) else {
                    return Err(MembershipError::NotAMember { seq });
                };
                self.members.remove(i);
            }
            Operation::Reset => {
                self.members = vec![record.member];
            }
        }
        self.changes.push(Change {
            seq,
            issued_at: record.issued_at,
            operation: record.operation,
            member: record.member,
            signer: record.signer,
        });
        self.next_seq += 1;
        self.head = record.hash();
        Ok(())
    }

    /// Makes the next record of this log, signed by a device, without
    /// applying it. `issued_at` is raised to the last record's time if the
    /// signer's clock is behind it (records are in time order).
    pub fn next_record(
        &self,
        signer: &DeviceKeys,
        operation: Operation,
        member: Member,
        issued_at: u64,
    ) -> MembershipRecord {
        self.build_record(
            signer.public().identity,
            |msg| primitives::sign(signer.signing_key(), context::MEMBERSHIP, msg),
            operation,
            member,
            issued_at,
        )
    }

    /// As [`MembershipState::next_record`], signed by the organisation root
    /// (team member lists and staff device lists).
    pub fn next_record_by_root(
        &self,
        root: &crate::keys::OrgRootKey,
        operation: Operation,
        member: Member,
        issued_at: u64,
    ) -> MembershipRecord {
        self.build_record(
            root.public().as_identity(),
            |msg| primitives::sign(root.signing_key(), context::MEMBERSHIP, msg),
            operation,
            member,
            issued_at,
        )
    }

    fn build_record(
        &self,
        signer_key: IdentityKey,
        sign: impl FnOnce(&[u8]) -> [u8; 64],
        operation: Operation,
        member: Member,
        issued_at: u64,
    ) -> MembershipRecord {
        let issued_at = issued_at.max(self.last_issued_at());
        let mut w = Writer::with_capacity(232);
        w.u8(object_type::MEMBERSHIP_RECORD)
            .u8(MEMBERSHIP_VERSION)
            .u8(self.log.to_byte())
            .bytes(&self.subject)
            .u64(self.next_seq)
            .bytes(&self.head)
            .u8(operation.to_byte());
        member.encode(&mut w);
        w.u64(issued_at).bytes(&signer_key.to_bytes());
        let sig = sign(w.as_slice());
        w.bytes(&sig);
        MembershipRecord {
            log: self.log,
            subject: self.subject,
            seq: self.next_seq,
            prev: self.head,
            operation,
            member,
            issued_at,
            signer: signer_key,
            bytes: w.into_vec(),
        }
    }

    /// Which log this is.
    pub fn log(&self) -> LogKind {
        self.log
    }

    /// The team, thread or account id's bytes.
    pub fn subject(&self) -> &[u8; 16] {
        &self.subject
    }

    /// The current members, in the order they joined.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Whether `member` is present (devices: by identity key).
    pub fn contains(&self, member: &Member) -> bool {
        self.members.iter().any(|m| m.same_party(member))
    }

    /// Who was a member at `at` (Unix seconds): the members after every
    /// record issued before `at`, plus those a record issued within that
    /// second added. Times have one-second resolution, so a removal (or
    /// reset) takes effect after the second it is dated: something its
    /// signer signed in that same second still counts.
    pub fn members_at(&self, at: u64) -> Vec<Member> {
        let mut members: Vec<Member> = Vec::new();
        for c in self.changes.iter().take_while(|c| c.issued_at <= at) {
            let same_second = c.issued_at == at;
            match c.operation {
                Operation::Add => members.push(c.member),
                Operation::Remove if !same_second => members.retain(|m| *m != c.member),
                Operation::Reset if !same_second => members = vec![c.member],
                Operation::Reset => members.push(c.member),
                Operation::Remove => {}
            }
        }
        members
    }

    /// Whether `member` was present at `at` (devices: by identity key).
    pub fn contained_at(&self, member: &Member, at: u64) -> bool {
        self.members_at(at).iter().any(|m| m.same_party(member))
    }

    /// Every applied change, in order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// When the last record was signed (0 for an empty log).
    pub fn last_issued_at(&self) -> u64 {
        self.changes.last().map_or(0, |c| c.issued_at)
    }

    /// The sequence number the next record must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The hash of the last applied record (zeros for an empty log).
    pub fn head(&self) -> [u8; 32] {
        self.head
    }
}

/// A policy that accepts every signer (for tests and for logs whose
/// signers were checked another way).
pub fn any_signer(_: &MembershipState, _: &MembershipRecord) -> Result<(), &'static str> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(n: u8) -> DeviceKeys {
        DeviceKeys::from_seeds(&[n; 32], &[n.wrapping_add(100); 32])
    }

    fn member(d: &DeviceKeys) -> Member {
        Member::Device(d.public())
    }

    /// Device-list policy: the first device adds itself; afterwards only a
    /// current device may change the list.
    fn device_policy(state: &MembershipState, r: &MembershipRecord) -> Result<(), &'static str> {
        let signer = Member::Device(DevicePublicKeys {
            identity: *r.signer(),
            agreement: match r.member() {
                Member::Device(d) => d.agreement,
                _ => return Err("devices only"),
            },
        });
        if state.members().is_empty()
            || state.contains(&signer)
            || r.operation() == Operation::Reset
        {
            Ok(())
        } else {
            Err("not a device of the list")
        }
    }

    fn build_log() -> (Vec<MembershipRecord>, DeviceKeys, DeviceKeys) {
        let (a, b) = (device(1), device(2));
        let mut state = MembershipState::new(LogKind::DeviceList, [7; 16]);
        let mut records = Vec::new();
        for (signer, op, m) in [
            (&a, Operation::Add, member(&a)),
            (&a, Operation::Add, member(&b)),
            (&b, Operation::Remove, member(&a)),
        ] {
            let record = state.next_record(signer, op, m, 1_700_000_000);
            assert!(state.apply(&record, &mut device_policy).is_ok());
            records.push(record);
        }
        (records, a, b)
    }

    #[test]
    fn a_replayed_device_list_ends_with_the_right_members() {
        let (records, _, b) = build_log();
        let state =
            MembershipState::replay(LogKind::DeviceList, [7; 16], &records, &mut device_policy);
        assert_eq!(state.map(|s| s.members().to_vec()), Ok(vec![member(&b)]));
    }

    #[test]
    fn a_device_slipped_in_by_an_outsider_is_noticed() {
        let (mut records, _, _) = build_log();
        let ghost = device(9);
        let state =
            MembershipState::replay(LogKind::DeviceList, [7; 16], &records, &mut device_policy);
        let Ok(state) = state else { panic!("replay") };
        records.push(state.next_record(&ghost, Operation::Add, member(&ghost), 1_700_000_000));
        let replayed =
            MembershipState::replay(LogKind::DeviceList, [7; 16], &records, &mut device_policy);
        assert_eq!(
            replayed,
            Err(MembershipError::Unauthorized {
                seq: 3,
                why: "not a device of the list"
            })
        );
    }

    #[test]
    fn a_removed_or_reordered_record_breaks_the_chain() {
        let (records, _, _) = build_log();
        let without_second = [&records[0], &records[2]];
        assert_eq!(
            MembershipState::replay(
                LogKind::DeviceList,
                [7; 16],
                without_second,
                &mut device_policy
            ),
            Err(MembershipError::OutOfOrder {
                expected: 1,
                found: 2
            })
        );
        assert_eq!(
            MembershipState::replay(
                LogKind::ThreadParticipants,
                [7; 16],
                &records,
                &mut device_policy
            ),
            Err(MembershipError::WrongLog { seq: 0 })
        );
    }

    #[test]
    fn records_round_trip_through_their_encoding() {
        let (records, _, _) = build_log();
        for r in &records {
            assert_eq!(MembershipRecord::decode(r.as_bytes()).as_ref(), Ok(r));
        }
    }

    #[test]
    fn a_reset_leaves_only_the_device_that_signed_it() {
        let (mut records, _, _) = build_log();
        let mut state =
            MembershipState::replay(LogKind::DeviceList, [7; 16], &records, &mut device_policy)
                .unwrap_or_else(|e| panic!("{e}"));
        let phone = device(5);
        let reset = state.next_record(&phone, Operation::Reset, member(&phone), 1_700_000_100);
        assert_eq!(state.apply(&reset, &mut device_policy), Ok(()));
        assert_eq!(state.members(), &[member(&phone)]);
        records.push(reset);
        // Who was a member when: before the reset, after it (a removal
        // takes effect after the second it is dated).
        assert!(!state.contained_at(&member(&phone), 1_700_000_000));
        assert!(state.contained_at(&member(&phone), 1_700_000_100));
        assert!(state.contained_at(&member(&device(2)), 1_700_000_099));
        assert!(state.contained_at(&member(&device(2)), 1_700_000_100));
        assert!(!state.contained_at(&member(&device(2)), 1_700_000_101));
        // A reset signed by another key than the device it keeps is refused.
        let mut fresh = MembershipState::new(LogKind::DeviceList, [7; 16]);
        let forged = fresh.next_record(&device(6), Operation::Reset, member(&phone), 1);
        assert_eq!(
            fresh.apply(&forged, &mut device_policy),
            Err(MembershipError::InvalidReset { seq: 0 })
        );
        // And outside a device list.
        let mut team = MembershipState::new(LogKind::TeamMembers, [7; 16]);
        let reset = team.next_record(&phone, Operation::Reset, member(&phone), 1);
        assert_eq!(
            team.apply(&reset, &mut any_signer),
            Err(MembershipError::InvalidReset { seq: 0 })
        );
    }

    #[test]
    fn records_are_kept_in_time_order() {
        let a = device(1);
        let mut state = MembershipState::new(LogKind::DeviceList, [7; 16]);
        let first = state.next_record(&a, Operation::Add, member(&a), 1_700_000_500);
        assert_eq!(state.apply(&first, &mut any_signer), Ok(()));
        // A signer whose clock is behind gets the last record's time.
        let b = device(2);
        let late = state.next_record(&a, Operation::Add, member(&b), 1_600_000_000);
        assert_eq!(late.issued_at(), 1_700_000_500);
        // A record dated before its predecessor does not replay.
        let mut w = Writer::with_capacity(232);
        w.u8(object_type::MEMBERSHIP_RECORD)
            .u8(MEMBERSHIP_VERSION)
            .u8(3)
            .bytes(&[7; 16])
            .u64(1)
            .bytes(&state.head())
            .u8(1);
        member(&b).encode(&mut w);
        w.u64(1_600_000_000).bytes(&a.public().identity.to_bytes());
        let sig = primitives::sign(a.signing_key(), context::MEMBERSHIP, w.as_slice());
        w.bytes(&sig);
        let backwards = MembershipRecord::decode(w.as_slice()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            state.apply(&backwards, &mut any_signer),
            Err(MembershipError::TimeWentBackwards { seq: 1 })
        );
    }

    #[test]
    fn a_device_is_one_party_whatever_agreement_key_is_named() {
        let a = device(1);
        let mut state = MembershipState::new(LogKind::DeviceList, [7; 16]);
        let add = state.next_record(&a, Operation::Add, member(&a), 1);
        assert_eq!(state.apply(&add, &mut any_signer), Ok(()));
        let other = DevicePublicKeys {
            identity: a.public().identity,
            agreement: device(2).public().agreement,
        };
        let again = state.next_record(&a, Operation::Add, Member::Device(other), 2);
        assert_eq!(
            state.apply(&again, &mut any_signer),
            Err(MembershipError::AlreadyMember { seq: 1 })
        );
        // Removing needs the keys the list holds.
        let wrong = state.next_record(&a, Operation::Remove, Member::Device(other), 2);
        assert_eq!(
            state.apply(&wrong, &mut any_signer),
            Err(MembershipError::NotAMember { seq: 1 })
        );
    }
}
