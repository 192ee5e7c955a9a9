//! Signed, hash-linked membership logs: a team's members, a thread's
//! participants, an account's devices. Each change is a record signed by a
//! device and linked to the hash of the previous record, so a client that
//! replays the log notices a member or device the server slipped in.
//! Byte layout in `docs/PROTOCOL.md` §7.

use sha2::{Digest, Sha256};

use crate::codec::{DecodeError, Reader, Writer, object_type};
use crate::ids::{AccountId, HolderId, TeamId};
use crate::keys::{DeviceKeys, IdentityKey};
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
    fn to_byte(self) -> u8 {
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
}

/// Adding or removing a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// The member joins.
    Add,
    /// The member leaves.
    Remove,
}

/// A member of a team, thread or device list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Member {
    /// A device, by its identity key.
    Device(IdentityKey),
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
            Self::Device(key) => w.u8(1).bytes(&key.to_bytes()),
            Self::Staff(id) => w.u8(2).bytes(id.as_bytes()),
            Self::Citizen(id) => w.u8(3).bytes(id.as_bytes()),
            Self::Team(id) => w.u8(4).bytes(id.as_bytes()),
            Self::Holder(id) => w.u8(5).bytes(id.as_bytes()),
        };
    }

    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match r.u8()? {
            1 => Self::Device(
                IdentityKey::from_bytes(&r.array()?)
                    .map_err(|_| DecodeError::Invalid("member device key"))?,
            ),
            2 => Self::Staff(AccountId::from_bytes(r.array()?)),
            3 => Self::Citizen(AccountId::from_bytes(r.array()?)),
            4 => Self::Team(TeamId::from_bytes(r.array()?)),
            5 => Self::Holder(HolderId::from_bytes(r.array()?)),
            _ => return Err(DecodeError::Invalid("member kind")),
        })
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
    /// The signer may not make this change.
    #[error("record {seq} is signed by a device that may not make this change")]
    Unauthorized {
        /// The record's sequence number.
        seq: u64,
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

    /// Position in the log, from 0.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Add or remove.
    pub fn operation(&self) -> Operation {
        self.operation
    }

    /// Who is added or removed.
    pub fn member(&self) -> &Member {
        &self.member
    }

    /// The signing device.
    pub fn signer(&self) -> &IdentityKey {
        &self.signer
    }

    /// When the signer made the change (Unix seconds, as it claims).
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }
}

/// The state of a membership log after replaying verified records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MembershipState {
    log: LogKind,
    subject: [u8; 16],
    members: Vec<Member>,
    next_seq: u64,
    head: [u8; 32],
}

impl MembershipState {
    /// An empty log for `subject` (a team, thread or account id's bytes).
    pub fn new(log: LogKind, subject: [u8; 16]) -> Self {
        Self {
            log,
            subject,
            members: Vec::new(),
            next_seq: 0,
            head: [0; 32],
        }
    }

    /// Replays `records` from the start. `authorize(signer, state, record)`
    /// decides whether the signer may make each change, given the state before it.
    pub fn replay<'a>(
        log: LogKind,
        subject: [u8; 16],
        records: impl IntoIterator<Item = &'a MembershipRecord>,
        mut authorize: impl FnMut(&IdentityKey, &MembershipState, &MembershipRecord) -> bool,
    ) -> Result<Self, MembershipError> {
        let mut state = Self::new(log, subject);
        for record in records {
            state.apply(record, &mut authorize)?;
        }
        Ok(state)
    }

    /// Verifies and applies the next record.
    pub fn apply(
        &mut self,
        record: &MembershipRecord,
        authorize: impl FnOnce(&IdentityKey, &MembershipState, &MembershipRecord) -> bool,
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
        if !authorize(&record.signer, self, record) {
            return Err(MembershipError::Unauthorized { seq });
        }
        let present = self.members.iter().position(|m| *m == record.member);
        match (record.operation, present) {
            (Operation::Add, Some(_)) => return Err(MembershipError::AlreadyMember { seq }),
            (Operation::Remove, None) => return Err(MembershipError::NotAMember { seq }),
            (Operation::Add, None) => self.members.push(record.member),
            (Operation::Remove, Some(i)) => {
                self.members.remove(i);
            }
        }
        self.next_seq += 1;
        self.head = record.hash();
        Ok(())
    }

    /// Makes the next record of this log, signed by `signer`, without applying it.
    pub fn next_record(
        &self,
        signer: &DeviceKeys,
        operation: Operation,
        member: Member,
        issued_at: u64,
    ) -> MembershipRecord {
        let signer_key = signer.public().identity;
        let mut w = Writer::with_capacity(200);
        w.u8(object_type::MEMBERSHIP_RECORD)
            .u8(MEMBERSHIP_VERSION)
            .u8(self.log.to_byte())
            .bytes(&self.subject)
            .u64(self.next_seq)
            .bytes(&self.head)
            .u8(match operation {
                Operation::Add => 1,
                Operation::Remove => 2,
            });
        member.encode(&mut w);
        w.u64(issued_at).bytes(&signer_key.to_bytes());
        let sig = primitives::sign(signer.signing_key(), context::MEMBERSHIP, w.as_slice());
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

    /// The current members, in the order they joined.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// Whether `member` is present.
    pub fn contains(&self, member: &Member) -> bool {
        self.members.contains(member)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn device(n: u8) -> DeviceKeys {
        DeviceKeys::from_seeds(&[n; 32], &[n.wrapping_add(100); 32])
    }

    /// Device-list policy: the first device adds itself; afterwards only a
    /// current device may change the list.
    fn device_policy(signer: &IdentityKey, state: &MembershipState, _: &MembershipRecord) -> bool {
        state.members().is_empty() || state.contains(&Member::Device(*signer))
    }

    fn build_log() -> (Vec<MembershipRecord>, DeviceKeys, DeviceKeys) {
        let (a, b) = (device(1), device(2));
        let mut state = MembershipState::new(LogKind::DeviceList, [7; 16]);
        let mut records = Vec::new();
        for (signer, op, member) in [
            (&a, Operation::Add, Member::Device(a.public().identity)),
            (&a, Operation::Add, Member::Device(b.public().identity)),
            (&b, Operation::Remove, Member::Device(a.public().identity)),
        ] {
            let record = state.next_record(signer, op, member, 1_700_000_000);
            let ok = |s: &IdentityKey, st: &MembershipState, r: &MembershipRecord| {
                device_policy(s, st, r)
            };
            assert!(state.apply(&record, ok).is_ok());
            records.push(record);
        }
        (records, a, b)
    }

    #[test]
    fn a_replayed_device_list_ends_with_the_right_members() {
        let (records, _, b) = build_log();
        let state = MembershipState::replay(LogKind::DeviceList, [7; 16], &records, device_policy);
        assert_eq!(
            state.map(|s| s.members().to_vec()),
            Ok(vec![Member::Device(b.public().identity)])
        );
    }

    #[test]
    fn a_device_slipped_in_by_an_outsider_is_noticed() {
        let (mut records, _, _) = build_log();
        let ghost = device(9);
        let state = MembershipState::replay(LogKind::DeviceList, [7; 16], &records, device_policy);
        let Ok(state) = state else { panic!("replay") };
        records.push(state.next_record(
            &ghost,
            Operation::Add,
            Member::Device(ghost.public().identity),
            0,
        ));
        let replayed =
            MembershipState::replay(LogKind::DeviceList, [7; 16], &records, device_policy);
        assert_eq!(replayed, Err(MembershipError::Unauthorized { seq: 3 }));
    }

    #[test]
    fn a_removed_or_reordered_record_breaks_the_chain() {
        let (records, _, _) = build_log();
        let without_second = [&records[0], &records[2]];
        assert_eq!(
            MembershipState::replay(LogKind::DeviceList, [7; 16], without_second, device_policy),
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
                device_policy
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
}
