//! Signed membership changes from this client (PROTOCOL.md §7): the root
//! certifying staff devices and signing them into their device lists,
//! team membership, a citizen approving, removing or resetting devices,
//! and opening threads with signed participant records.

use samtale_protocol::membership::{LogKind, Member, MembershipState, Operation};
use samtale_protocol::trust::{Directory, HolderOwner};
use samtale_protocol::wire::{
    AppendRecord, CreateThreadRequest, DeviceInfo, MembershipBlob, Role, SignedLog, StaffInfo,
    TeamInfo, ThreadDetail, UploadCertificate,
};
use samtale_protocol::{
    AccountId, CertificateBody, CertifiedTeam, DeviceCertificate, DeviceId, Roles, TeamId,
    ThreadId, device_fingerprint, fingerprints_match,
};
use serde::Serialize;

use super::keys::{CERTIFICATE_DAYS, UpkeepReport};
use super::trust::{OwnListing, Pins, refuse};
use super::{ClientError, Session, now_secs};

/// One of this account's devices, as `samtale devices` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnDevice {
    /// What the server says of it.
    #[serde(flatten)]
    pub info: DeviceInfo,
    /// Its fingerprint.
    pub fingerprint: String,
    /// Whether the account's signed device list names it (with these keys).
    pub listed: bool,
}

/// A device of this account that is not in its signed device list yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingDevice {
    /// The device.
    pub device_id: DeviceId,
    /// Its label.
    pub label: String,
    /// Its fingerprint, to compare with what the new device shows.
    pub fingerprint: String,
}

fn roles_from(roles: &[Role]) -> Roles {
    roles.iter().fold(Roles::empty(), |acc, r| {
        acc.union(match r {
            Role::Staff => Roles::STAFF,
            Role::RecordClerk => Roles::RECORD_CLERK,
            Role::Admin => Roles::ADMIN,
        })
    })
}

impl Session {
    /// The devices of this account that the signed list does not name and
    /// that are not revoked: waiting for approval here.
    pub(crate) async fn pending_devices(
        &mut self,
        dir: &Directory,
    ) -> Result<Vec<PendingDevice>, ClientError> {
        let listed = dir
            .citizen_devices(self.config.account_id)
            .unwrap_or_default();
        let own: Vec<DeviceInfo> = self.get("/v1/devices").await?;
        Ok(own
            .into_iter()
            .filter(|d| d.revoked_at.is_none())
            .filter(|d| !listed.iter().any(|l| l.identity == d.keys.identity))
            .map(|d| PendingDevice {
                device_id: d.device_id,
                fingerprint: device_fingerprint(&d.keys.identity),
                label: d.label,
            })
            .collect())
    }

    /// This account's devices, each marked with whether its signed device
    /// list names it.
    pub async fn own_devices(&mut self) -> Result<Vec<OwnDevice>, ClientError> {
        let me = self.config.account_id;
        let mut dir = self.directory();
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        let listed = if self.is_staff() {
            self.load_staff(&mut dir, &mut pins, me)
                .await
                .map(|()| dir.staff_devices(me))
        } else {
            self.load_citizen(&mut dir, &mut pins, me)
                .await
                .map(|_| dir.citizen_devices(me))
        };
        self.save_pins(&before, &pins)?;
        let listed = listed?.unwrap_or_default();
        let own: Vec<DeviceInfo> = self.get("/v1/devices").await?;
        Ok(own
            .into_iter()
            .map(|info| OwnDevice {
                fingerprint: device_fingerprint(&info.keys.identity),
                listed: listed.contains(&info.keys),
                info,
            })
            .collect())
    }

    /// Appends a signed record to an account's device list.
    pub(crate) async fn append_device_record(
        &mut self,
        account: AccountId,
        record: &samtale_protocol::membership::MembershipRecord,
    ) -> Result<SignedLog, ClientError> {
        self.post(
            &format!("/v1/accounts/{account}/device-log"),
            &AppendRecord {
                record: record.as_bytes().to_vec(),
            },
        )
        .await
    }

    /// The organisation root held in this keystore (admins who set up the
    /// organisation), checked against the profile's pinned root.
    fn root_key(&self) -> Result<&samtale_protocol::OrgRootKey, ClientError> {
        let root = self.keystore.secrets().root.as_ref().ok_or_else(|| {
            ClientError::Refused(
                "this profile does not hold the organisation root key; do this from the profile that ran `samtale admin init`".into(),
            )
        })?;
        if root.public() != self.config.root_public_key {
            return Err(ClientError::Verification(
                "the root key in the keystore is not the organisation's".into(),
            ));
        }
        Ok(root)
    }

    /// A staff account's verified device list, for the root to extend.
    async fn staff_list(&mut self, account: AccountId) -> Result<MembershipState, ClientError> {
        let mut dir = self.directory();
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        self.load_staff(&mut dir, &mut pins, account).await?;
        self.save_pins(&before, &pins)?;
        dir.staff_log(account)
            .cloned()
            .ok_or_else(|| refuse("a staff member's device list could not be read"))
    }

    /// Admin: a staff member (by user name) and their live devices that
    /// wait for certification (not certified, or not yet in their signed
    /// device list), each with its fingerprint.
    pub async fn devices_to_certify(
        &mut self,
        username: &str,
    ) -> Result<(StaffInfo, Vec<PendingDevice>), ClientError> {
        let member = self.staff_member(username).await?;
        if member.disabled {
            return Err(ClientError::Refused(format!(
                "{username} is disabled; their devices are not certified (`samtale admin staff enable {username}` first)"
            )));
        }
        let devices: Vec<DeviceInfo> = self
            .get(&format!("/v1/staff/{}/devices", member.account_id))
            .await?;
        let list = self.staff_list(member.account_id).await?;
        let waiting = devices
            .into_iter()
            .filter(|d| d.revoked_at.is_none())
            .filter(|d| !(d.certified && list.contains(&Member::Device(d.keys))))
            .map(|d| PendingDevice {
                device_id: d.device_id,
                fingerprint: device_fingerprint(&d.keys.identity),
                label: d.label,
            })
            .collect();
        Ok((member, waiting))
    }

    /// A staff member of this organisation by user name.
    pub(crate) async fn staff_member(&mut self, username: &str) -> Result<StaffInfo, ClientError> {
        let staff: Vec<StaffInfo> = self.get("/v1/staff").await?;
        staff
            .into_iter()
            .find(|s| s.username == username)
            .ok_or_else(|| {
                ClientError::Refused(format!(
                    "no staff member is called {username:?}; `samtale admin staff list` shows them"
                ))
            })
    }

    /// Admin: certifies the staff member's waiting devices whose
    /// fingerprints are given — each read off the device's own screen
    /// (`samtale whoami`) — with the organisation root held in this
    /// keystore, and signs each into the member's device list. A
    /// fingerprint that names no waiting device refuses the whole call
    /// before anything is signed; a waiting device not named is left alone.
    /// Returns the certified devices as they are afterwards.
    pub async fn certify_staff(
        &mut self,
        username: &str,
        fingerprints: &[String],
    ) -> Result<Vec<DeviceInfo>, ClientError> {
        self.root_key()?;
        let (member, waiting) = self.devices_to_certify(username).await?;
        if fingerprints.is_empty() {
            return Err(ClientError::Refused(
                "name the device to certify by its fingerprint, read off its own screen".into(),
            ));
        }
        let mut chosen = Vec::new();
        for typed in fingerprints {
            let found = waiting
                .iter()
                .find(|w| fingerprints_match(typed, &w.fingerprint))
                .ok_or_else(|| {
                    ClientError::Verification(if waiting.is_empty() {
                        format!(
                            "{username} has no device waiting for certification, so none has the fingerprint {typed}; they log in first (`samtale login`)"
                        )
                    } else {
                        format!(
                            "no device of {username} waiting for certification has the fingerprint {typed}; the waiting ones show {}. Certify only a device whose fingerprint you have read on its own screen: a device you cannot account for may be someone else's login with their password",
                            waiting
                                .iter()
                                .map(|w| w.fingerprint.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                })?;
            if !chosen.contains(&found.device_id) {
                chosen.push(found.device_id);
            }
        }
        let teams: Vec<TeamInfo> = self.get("/v1/teams").await?;
        let certified_teams: Vec<CertifiedTeam> = member
            .teams
            .iter()
            .filter_map(|id| {
                teams
                    .iter()
                    .find(|t| t.team_id == *id)
                    .map(|t| CertifiedTeam {
                        id: t.team_id,
                        name: t.name.clone(),
                    })
            })
            .collect();
        let path = format!("/v1/staff/{}/devices", member.account_id);
        let devices: Vec<DeviceInfo> = self.get(&path).await?;
        for d in devices.iter().filter(|d| chosen.contains(&d.device_id)) {
            let list = self.staff_list(member.account_id).await?;
            let now = now_secs();
            if !d.certified {
                let cert = DeviceCertificate::issue(
                    self.root_key()?,
                    CertificateBody {
                        org_id: self.config.org_id,
                        org_name: self.config.org_name.clone(),
                        device: d.keys,
                        staff_id: member.account_id,
                        staff_name: member.display_name.clone(),
                        roles: roles_from(&member.roles),
                        teams: certified_teams.clone(),
                        not_before: now.saturating_sub(300),
                        not_after: now + CERTIFICATE_DAYS * 86_400,
                    },
                )
                .map_err(|e| ClientError::Refused(e.to_string()))?;
                self.call(
                    reqwest::Method::PUT,
                    &format!("/v1/devices/{}/certificate", d.device_id),
                    Some(&UploadCertificate::new(&cert)),
                )
                .await?;
            }
            if !list.contains(&Member::Device(d.keys)) {
                let record = list.next_record_by_root(
                    self.root_key()?,
                    Operation::Add,
                    Member::Device(d.keys),
                    now,
                );
                self.append_device_record(member.account_id, &record)
                    .await?;
            }
        }
        let after: Vec<DeviceInfo> = self.get(&path).await?;
        Ok(after
            .into_iter()
            .filter(|d| chosen.contains(&d.device_id))
            .collect())
    }

    /// Admin: revokes a staff member's device (a lost laptop, a login that
    /// was not theirs) with a removal from their signed device list, signed
    /// by the organisation root. The server revokes it at once, closes its
    /// sockets and makes its keys due for rotation; a device the list does
    /// not name is only revoked on the server.
    pub async fn revoke_staff_device(
        &mut self,
        username: &str,
        device: &str,
    ) -> Result<DeviceInfo, ClientError> {
        self.root_key()?;
        let member = self.staff_member(username).await?;
        let devices: Vec<DeviceInfo> = self
            .get(&format!("/v1/staff/{}/devices", member.account_id))
            .await?;
        let matches: Vec<&DeviceInfo> = devices
            .iter()
            .filter(|d| d.revoked_at.is_none())
            .filter(|d| {
                d.device_id.to_string().starts_with(device)
                    || fingerprints_match(device, &device_fingerprint(&d.keys.identity))
            })
            .collect();
        let target = match matches.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(ClientError::Refused(format!(
                    "{username} has no live device {device:?}; `samtale admin staff devices {username}` lists them"
                )));
            }
            _ => {
                return Err(ClientError::Refused(format!(
                    "{device:?} names several of {username}'s devices; give more of the id"
                )));
            }
        };
        let list = self.staff_list(member.account_id).await?;
        let member_record = Member::Device(target.keys);
        if list.contains(&member_record) {
            let record = list.next_record_by_root(
                self.root_key()?,
                Operation::Remove,
                member_record,
                now_secs(),
            );
            self.append_device_record(member.account_id, &record)
                .await?;
        } else {
            self.call::<()>(
                reqwest::Method::DELETE,
                &format!(
                    "/v1/staff/{}/devices/{}",
                    member.account_id, target.device_id
                ),
                None,
            )
            .await?;
        }
        Ok(target)
    }

    /// Admin: signs and appends a team membership change — with the root
    /// when this keystore holds it, else with this device (which must be
    /// certified as an admin's).
    pub async fn change_team(
        &mut self,
        team: TeamId,
        account: AccountId,
        operation: Operation,
    ) -> Result<(), ClientError> {
        let mut dir = self.directory();
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        self.load_team(&mut dir, &mut pins, team).await?;
        self.save_pins(&before, &pins)?;
        let log = dir
            .team_log(team)
            .ok_or_else(|| refuse("the team's member list could not be read"))?;
        let member = Member::Staff(account);
        match (operation, log.contains(&member)) {
            (Operation::Add, true) => return Ok(()),
            (Operation::Remove, false) => {
                return Err(ClientError::Refused(
                    "they are not in the team's signed member list".into(),
                ));
            }
            _ => {}
        }
        let record = match self.root_key() {
            Ok(root) => log.next_record_by_root(root, operation, member, now_secs()),
            Err(_) => log.next_record(self.device()?, operation, member, now_secs()),
        };
        let _: SignedLog = self
            .post(
                &format!("/v1/teams/{team}/member-log"),
                &AppendRecord {
                    record: record.as_bytes().to_vec(),
                },
            )
            .await?;
        Ok(())
    }

    /// Approves a device of this (citizen) account waiting for approval:
    /// its fingerprint must match `fingerprint`, which the person read off
    /// the new device's screen. Signs it into the device list with this
    /// device and grants it the account's key.
    pub async fn approve_device(
        &mut self,
        fingerprint: &str,
    ) -> Result<(PendingDevice, UpkeepReport), ClientError> {
        let mut dir = self.directory();
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        let result = self.approve_in(&mut dir, &mut pins, fingerprint).await;
        self.save_pins(&before, &pins)?;
        let approved = result?;
        let report = self.upkeep(false).await?;
        Ok((approved, report))
    }

    async fn approve_in(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
        fingerprint: &str,
    ) -> Result<PendingDevice, ClientError> {
        if self.is_staff() {
            return Err(ClientError::Refused(
                "staff devices are approved by certification: an admin runs `samtale admin certify`".into(),
            ));
        }
        if self.own_citizen_list(dir, pins).await? != OwnListing::Listed {
            return Err(ClientError::Refused(
                "this device is not in your signed device list itself, so it cannot approve another".into(),
            ));
        }
        let own: Vec<DeviceInfo> = self.get("/v1/devices").await?;
        let pending = self.pending_devices(dir).await?;
        let found: Vec<&PendingDevice> = pending
            .iter()
            .filter(|p| fingerprints_match(fingerprint, &p.fingerprint))
            .collect();
        let [device] = found.as_slice() else {
            return Err(ClientError::Verification(if pending.is_empty() {
                "no device of yours waits for approval".into()
            } else {
                format!(
                    "no waiting device has the fingerprint {fingerprint}; the waiting ones show {}. Do not approve a device whose fingerprint you have not read on its own screen",
                    pending
                        .iter()
                        .map(|p| p.fingerprint.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }));
        };
        let keys = own
            .iter()
            .find(|d| d.device_id == device.device_id)
            .map(|d| d.keys)
            .ok_or_else(|| ClientError::Refused("the device disappeared meanwhile".into()))?;
        let me = self.config.account_id;
        let log = dir
            .citizen_log(me)
            .ok_or_else(|| refuse("your device list could not be read"))?;
        let record = log.next_record(
            self.device()?,
            Operation::Add,
            Member::Device(keys),
            now_secs(),
        );
        self.append_device_record(me, &record).await?;
        Ok((*device).clone())
    }

    /// Removes a device from this account's signed device list (signed by
    /// this device; the server revokes it at once). A device that is not in
    /// the list is only revoked on the server.
    pub async fn remove_device(&mut self, device: DeviceId) -> Result<(), ClientError> {
        let own: Vec<DeviceInfo> = self.get("/v1/devices").await?;
        let target = own
            .iter()
            .find(|d| d.device_id == device)
            .ok_or_else(|| ClientError::Refused(format!("{device} is not one of your devices")))?;
        let me = self.config.account_id;
        let mut dir = self.directory();
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        let list = if self.is_staff() {
            self.load_staff(&mut dir, &mut pins, me).await?;
            dir.staff_log(me).cloned()
        } else {
            self.load_citizen(&mut dir, &mut pins, me).await?;
            dir.citizen_log(me).cloned()
        };
        self.save_pins(&before, &pins)?;
        let listed = list.as_ref().and_then(|l| {
            l.members()
                .iter()
                .find(|m| matches!(m, Member::Device(d) if d.identity == target.keys.identity))
                .copied()
        });
        let mine = self.device()?.public();
        let i_am_listed = list
            .as_ref()
            .is_some_and(|l| l.contains(&Member::Device(mine)));
        match (list, listed) {
            (Some(list), Some(member)) if i_am_listed => {
                let record =
                    list.next_record(self.device()?, Operation::Remove, member, now_secs());
                self.append_device_record(me, &record).await?;
            }
            _ => {
                self.call::<()>(
                    reqwest::Method::DELETE,
                    &format!("/v1/devices/{device}"),
                    None,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Citizens who lost every other device: resets the signed device list
    /// to this device alone. Every other participant is told, and sees
    /// nothing sealed to the new key until they compare safety numbers.
    pub async fn reset_devices(&mut self) -> Result<UpkeepReport, ClientError> {
        if self.is_staff() {
            return Err(ClientError::Refused(
                "staff device lists are not reset: an admin certifies the new device".into(),
            ));
        }
        let mut dir = self.directory();
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        let me = self.config.account_id;
        let listing = self.own_citizen_list(&mut dir, &mut pins).await;
        self.save_pins(&before, &pins)?;
        if listing? == OwnListing::Listed {
            return Err(ClientError::Refused(
                "this device is in your device list already: remove lost devices with `samtale devices revoke`".into(),
            ));
        }
        let log = dir
            .citizen_log(me)
            .cloned()
            .unwrap_or_else(|| MembershipState::new(LogKind::DeviceList, *me.as_bytes()));
        let device = self.device()?;
        let record = log.next_record(
            device,
            Operation::Reset,
            Member::Device(device.public()),
            now_secs(),
        );
        self.append_device_record(me, &record).await?;
        // A fresh citizen key that only this device holds.
        self.upkeep(true).await
    }

    /// Staff: opens a thread between `team` and `citizens`, with signed
    /// participant records (the team, the archive, each citizen). The
    /// archive holder is the verified one, not the server's word.
    pub async fn create_thread(
        &mut self,
        team: TeamId,
        citizens: &[AccountId],
    ) -> Result<ThreadDetail, ClientError> {
        let mut dir = self.directory();
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        let archive = self
            .verified_holder_of(&mut dir, &mut pins, HolderOwner::Archive)
            .await;
        self.save_pins(&before, &pins)?;
        let (_, archive) = archive?.ok_or_else(|| {
            ClientError::Refused(
                "the organisation has no archive key yet; an admin runs `samtale admin archive-key` first".into(),
            )
        })?;
        let thread = ThreadId::random().map_err(|e| ClientError::Refused(e.to_string()))?;
        let mut state = MembershipState::new(LogKind::ThreadParticipants, *thread.as_bytes());
        let mut records = Vec::new();
        let mut members = vec![Member::Team(team), Member::Holder(archive.holder)];
        members.extend(citizens.iter().map(|c| Member::Citizen(*c)));
        let device = self.device()?;
        for member in members {
            let record = state.next_record(device, Operation::Add, member, now_secs());
            state
                .apply(&record, &mut samtale_protocol::membership::any_signer)
                .map_err(|e| ClientError::Refused(e.to_string()))?;
            records.push(MembershipBlob {
                record: record.as_bytes().to_vec(),
            });
        }
        self.post(
            "/v1/threads",
            &CreateThreadRequest {
                thread_id: thread,
                team_id: team,
                citizens: citizens.to_vec(),
                participants: records,
            },
        )
        .await
    }
}
