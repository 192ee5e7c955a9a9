//! Holder keys on the client: opening grants, making and rotating keys,
//! granting them to the devices entitled to them (after checking those
//! devices' certificates), and certifying staff devices (admins).

use samtale_protocol::membership::{LogKind, Member, MembershipState, Operation};
use samtale_protocol::wire::{
    AccountKind, CreateThreadRequest, DeviceInfo, EntitledDevices, GrantBlob, GrantList,
    GrantsStored, HolderKeySet, MembershipBlob, PublishHolderKey, Role, StaffInfo, TeamInfo,
    ThreadDetail, ThreadDevice, UploadCertificate, UploadGrants,
};
use samtale_protocol::{
    AccountId, CertificateBody, CertifiedTeam, DeviceCertificate, Grant, HolderId, HolderKeyPair,
    HolderKeyRecord, HolderKind, HolderPublicKey, OrgRootPublicKey, Roles, TeamId, ThreadId,
};
use serde::Serialize;

use super::{ClientError, Session, now_secs};

/// How long a staff device certificate is valid.
pub const CERTIFICATE_DAYS: u64 = 365;

/// What one round of key upkeep did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct UpkeepReport {
    /// Holder keys newly opened from grants.
    pub opened: usize,
    /// Holder epochs this device published (new holders or rotations).
    pub published: Vec<String>,
    /// Grants issued to other devices.
    pub granted: usize,
    /// Devices skipped because their certificate does not verify.
    pub skipped: Vec<String>,
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

/// Whether a device may receive a holder's key: staff devices need a
/// certificate from the pinned root naming the team (team keys) or the
/// record clerk role (archive key); citizen keys go only to the citizen's
/// own devices.
fn may_receive(
    kind: HolderKind,
    owner: &str,
    device: &samtale_protocol::wire::EntitledDevice,
    root: &OrgRootPublicKey,
    me: AccountId,
) -> Result<(), String> {
    match kind {
        HolderKind::Citizen => {
            if device.account_id == me {
                Ok(())
            } else {
                Err("not one of your own devices".into())
            }
        }
        HolderKind::Team | HolderKind::Archive => {
            let cert = device.certificate.as_deref().ok_or(
                "not certified by the organisation yet (ask an admin: `samtale admin certify`)",
            )?;
            let cert = DeviceCertificate::decode(cert).map_err(|e| e.to_string())?;
            let body = cert
                .verify_signer(root, now_secs(), &device.keys.identity)
                .map_err(|e| format!("its certificate does not verify: {e}"))?;
            if body.device != device.keys || body.staff_id != device.account_id {
                return Err("its certificate is for another device".into());
            }
            let ok = match kind {
                HolderKind::Team => {
                    body.roles.contains(Roles::STAFF)
                        && body.teams.iter().any(|t| t.id.to_string() == owner)
                }
                _ => body.roles.contains(Roles::RECORD_CLERK),
            };
            if ok {
                Ok(())
            } else {
                Err("its certificate does not give it this key".into())
            }
        }
    }
}

impl Session {
    /// Opens every grant addressed to this device and keeps the new keys.
    pub async fn sync_grants(&mut self) -> Result<usize, ClientError> {
        let list: GrantList = self.get("/v1/grants").await?;
        let device = self.device()?;
        let mut opened = Vec::new();
        for GrantBlob { grant } in &list.grants {
            let Ok(grant) = Grant::decode(grant) else {
                continue;
            };
            if let Ok(key) = grant.open(device) {
                opened.push(key);
            }
        }
        let added = self.keystore.update(|s| {
            opened
                .into_iter()
                .map(|k| usize::from(s.add_holder(k)))
                .sum::<usize>()
        })?;
        Ok(added)
    }

    /// A holder's key set, or `None` when the owner has no holder yet.
    async fn find_holder(
        &mut self,
        kind: HolderKind,
        owner: &str,
    ) -> Result<Option<HolderKeySet>, ClientError> {
        let kind_text = match kind {
            HolderKind::Team => "team",
            HolderKind::Citizen => "citizen",
            HolderKind::Archive => "archive",
        };
        match self
            .get::<HolderKeySet>(&format!("/v1/keys?kind={kind_text}&owner={owner}"))
            .await
        {
            Ok(set) => Ok(Some(set)),
            Err(ClientError::Api(e))
                if e.code() == Some(samtale_protocol::wire::ErrorCode::NotFound) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Publishes a holder epoch signed by this device and keeps its key.
    async fn publish(&mut self, key: HolderKeyPair, owner: [u8; 16]) -> Result<(), ClientError> {
        let record = HolderKeyRecord::sign(self.device()?, &key.public(), owner, now_secs());
        let epoch = key.epoch();
        // Keep the private key before publishing: a crash after the server
        // stored the epoch must not lose it.
        self.keystore.update(|s| s.add_holder(key))?;
        let _: HolderKeySet = self
            .put(
                &format!("/v1/keys/{}/{}", epoch.holder, epoch.epoch),
                &PublishHolderKey {
                    record: record.as_bytes().to_vec(),
                },
            )
            .await?;
        Ok(())
    }

    /// Makes sure `owner` has a holder of `kind` (creating epoch 0 if not),
    /// rotates it when the server says it is due and this device holds the
    /// current epoch, and grants the epochs this device holds to every
    /// entitled device that lacks them.
    pub async fn maintain_holder(
        &mut self,
        kind: HolderKind,
        owner: [u8; 16],
        owner_text: &str,
        rotate: bool,
        report: &mut UpkeepReport,
    ) -> Result<(), ClientError> {
        let set = match self.find_holder(kind, owner_text).await? {
            Some(set) => set,
            None => {
                let key = HolderKeyPair::generate(
                    HolderId::random().map_err(|e| ClientError::Refused(e.to_string()))?,
                    kind,
                    0,
                )
                .map_err(|e| ClientError::Refused(e.to_string()))?;
                report
                    .published
                    .push(format!("{kind:?} key {} epoch 0", key.epoch().holder));
                self.publish(key, owner).await?;
                self.find_holder(kind, owner_text).await?.ok_or_else(|| {
                    ClientError::Refused("the key was published but cannot be found".into())
                })?
            }
        };
        let holder = set.holder_id;
        let current = samtale_protocol::HolderEpoch {
            holder,
            epoch: set.current_epoch,
        };
        if (set.rotation_due || rotate) && self.keystore.secrets().holder(current).is_some() {
            let next = HolderKeyPair::generate(holder, kind, set.current_epoch + 1)
                .map_err(|e| ClientError::Refused(e.to_string()))?;
            report.published.push(format!(
                "{kind:?} key {holder} epoch {} (rotation)",
                set.current_epoch + 1
            ));
            self.publish(next, owner).await?;
        }
        self.grant_missing(kind, holder, owner_text, report).await
    }

    /// Grants the epochs of `holder` this device holds to the entitled
    /// devices that lack them.
    pub async fn grant_missing(
        &mut self,
        kind: HolderKind,
        holder: HolderId,
        owner_text: &str,
        report: &mut UpkeepReport,
    ) -> Result<(), ClientError> {
        let entitled: EntitledDevices = self.get(&format!("/v1/keys/{holder}/devices")).await?;
        let root = self.config.root_public_key;
        let me = self.config.account_id;
        let device = self.device()?;
        let mut grants = Vec::new();
        for d in &entitled.devices {
            if d.missing_epochs.is_empty() {
                continue;
            }
            // This device may always hold what it already holds.
            let own = d.device_id == self.config.device_id;
            if !own && let Err(why) = may_receive(kind, owner_text, d, &root, me) {
                report
                    .skipped
                    .push(format!("device {}: {why}", d.device_id));
                continue;
            }
            for epoch in &d.missing_epochs {
                let at = samtale_protocol::HolderEpoch {
                    holder,
                    epoch: *epoch,
                };
                if let Some(key) = self.keystore.secrets().holder(at) {
                    let g = Grant::issue(device, key, &d.keys.agreement, now_secs())
                        .map_err(|e| ClientError::Refused(e.to_string()))?;
                    grants.push(GrantBlob {
                        grant: g.as_bytes().to_vec(),
                    });
                }
            }
        }
        for chunk in grants.chunks(200) {
            let stored: GrantsStored = self
                .post(
                    "/v1/grants",
                    &UploadGrants {
                        grants: chunk.to_vec(),
                    },
                )
                .await?;
            report.granted += stored.stored as usize;
        }
        Ok(())
    }

    /// One round of key upkeep for this account: open new grants; staff
    /// keep their teams' keys; citizens keep their own key.
    pub async fn upkeep(&mut self, rotate: bool) -> Result<UpkeepReport, ClientError> {
        let mut report = UpkeepReport {
            opened: self.sync_grants().await?,
            ..Default::default()
        };
        let me = self.me().await?;
        match me.kind {
            AccountKind::Staff => {
                // Others trust a team key only when its publisher's device
                // was certified when it signed it: wait for the certificate.
                let own: Vec<DeviceInfo> = self.get("/v1/devices").await?;
                let certified = own
                    .iter()
                    .any(|d| d.device_id == self.config.device_id && d.certified);
                if !certified {
                    report.skipped.push(
                        "this device's team keys: it is not certified yet (ask an admin to run `samtale admin certify`, then run `samtale keys`)"
                            .into(),
                    );
                }
                if certified && me.roles.contains(&Role::Staff) {
                    for team in &me.teams {
                        self.maintain_holder(
                            HolderKind::Team,
                            *team.as_bytes(),
                            &team.to_string(),
                            rotate,
                            &mut report,
                        )
                        .await?;
                    }
                }
                // Admins and clerks who hold the archive key pass it on.
                if let Some(set) = self
                    .find_holder(HolderKind::Archive, &me.org_id.to_string())
                    .await?
                    && self
                        .keystore
                        .secrets()
                        .holders
                        .iter()
                        .any(|k| k.epoch().holder == set.holder_id)
                {
                    self.grant_missing(
                        HolderKind::Archive,
                        set.holder_id,
                        &me.org_id.to_string(),
                        &mut report,
                    )
                    .await?;
                }
            }
            AccountKind::Citizen => {
                self.maintain_holder(
                    HolderKind::Citizen,
                    *me.account_id.as_bytes(),
                    &me.account_id.to_string(),
                    rotate,
                    &mut report,
                )
                .await?;
            }
        }
        Ok(report)
    }

    /// Admin: makes the organisation's archive key if it has none, and
    /// grants it to every certified record clerk device.
    pub async fn maintain_archive_key(&mut self) -> Result<UpkeepReport, ClientError> {
        let mut report = UpkeepReport {
            opened: self.sync_grants().await?,
            ..Default::default()
        };
        let org = self.config.org_id;
        self.maintain_holder(
            HolderKind::Archive,
            *org.as_bytes(),
            &org.to_string(),
            false,
            &mut report,
        )
        .await?;
        Ok(report)
    }

    /// Admin: certifies a staff member's live, uncertified devices with the
    /// organisation root held in this keystore. Returns the devices.
    pub async fn certify_staff(&mut self, username: &str) -> Result<Vec<DeviceInfo>, ClientError> {
        let root_key = self.keystore.secrets().root.as_ref().ok_or_else(|| {
            ClientError::Refused(
                "this profile does not hold the organisation root key; certify from the profile that ran `samtale admin init`".into(),
            )
        })?;
        let root_public = root_key.public();
        if root_public != self.config.root_public_key {
            return Err(ClientError::Verification(
                "the root key in the keystore is not the organisation's".into(),
            ));
        }
        let staff: Vec<StaffInfo> = self.get("/v1/staff").await?;
        let member = staff
            .into_iter()
            .find(|s| s.username == username)
            .ok_or_else(|| {
                ClientError::Refused(format!(
                    "no staff member is called {username:?}; `samtale admin staff list` shows them"
                ))
            })?;
        if member.disabled {
            return Err(ClientError::Refused(format!(
                "{username} is disabled; their devices are not certified"
            )));
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
        let devices: Vec<DeviceInfo> = self
            .get(&format!("/v1/staff/{}/devices", member.account_id))
            .await?;
        let mut done = Vec::new();
        for d in devices {
            if d.certified || d.revoked_at.is_some() {
                continue;
            }
            let now = now_secs();
            let root_key = self.keystore.secrets().root.as_ref().ok_or_else(|| {
                ClientError::Refused("the organisation root key is gone from the keystore".into())
            })?;
            let cert = DeviceCertificate::issue(
                root_key,
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
            done.push(d);
        }
        Ok(done)
    }

    /// Staff: opens a thread between `team` and `citizens`, with signed
    /// participant records (the team, the archive, each citizen).
    pub async fn create_thread(
        &mut self,
        team: TeamId,
        citizens: &[AccountId],
    ) -> Result<ThreadDetail, ClientError> {
        let org = self.config.org_id;
        let archive = self
            .find_holder(HolderKind::Archive, &org.to_string())
            .await?
            .ok_or_else(|| {
                ClientError::Refused(
                    "the organisation has no archive key yet; an admin runs `samtale admin archive-key` first".into(),
                )
            })?;
        let thread = ThreadId::random().map_err(|e| ClientError::Refused(e.to_string()))?;
        let mut state = MembershipState::new(LogKind::ThreadParticipants, *thread.as_bytes());
        let mut records = Vec::new();
        let mut members = vec![Member::Team(team), Member::Holder(archive.holder_id)];
        members.extend(citizens.iter().map(|c| Member::Citizen(*c)));
        let device = self.device()?;
        for member in members {
            let record = state.next_record(device, Operation::Add, member, now_secs());
            state
                .apply(&record, |_, _, _| true)
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

    /// The public keys a message to `thread` is sealed to, each checked:
    /// the record's signature, and that its signer is a device that may
    /// publish that holder (a certified staff device of the team, or one
    /// of the citizen's own devices). The archive key's publisher is an
    /// admin, whose device is not among the thread's writers: its record
    /// is checked for its signature only.
    pub async fn recipients(
        &mut self,
        detail: &ThreadDetail,
        devices: &[ThreadDevice],
    ) -> Result<Vec<HolderPublicKey>, ClientError> {
        let keys: samtale_protocol::wire::ThreadKeys = self
            .get(&format!("/v1/threads/{}/keys", detail.summary.thread_id))
            .await?;
        let root = self.config.root_public_key;
        let mut out = Vec::new();
        for want in &detail.recipients {
            let set = keys
                .holders
                .iter()
                .find(|h| h.holder_id == want.holder)
                .ok_or_else(|| {
                    ClientError::Verification(format!("no key set for holder {}", want.holder))
                })?;
            let record = set
                .records
                .get(want.epoch as usize)
                .ok_or_else(|| ClientError::Verification("a key epoch is missing".into()))?;
            let record = HolderKeyRecord::decode_and_verify(&record.record)
                .map_err(|e| ClientError::Verification(format!("a key record: {e}")))?;
            if record.key().holder_epoch() != *want {
                return Err(ClientError::Verification(
                    "a key record is for another holder epoch".into(),
                ));
            }
            let signer = record.signer();
            let owner_ok = match set.kind {
                HolderKind::Team => devices.iter().any(|d| {
                    d.keys.identity == *signer
                        && d.certificate.as_deref().is_some_and(|c| {
                            DeviceCertificate::decode(c).is_ok_and(|c| {
                                c.verify_signer(&root, record.created_at(), signer)
                                    .is_ok_and(|b| {
                                        b.teams.iter().any(|t| t.id == detail.summary.team_id)
                                    })
                            })
                        })
                }),
                HolderKind::Citizen => devices.iter().any(|d| {
                    d.keys.identity == *signer
                        && d.kind == AccountKind::Citizen
                        && d.account_id.as_bytes() == record.owner()
                }),
                HolderKind::Archive => true,
            };
            if !owner_ok {
                return Err(ClientError::Verification(format!(
                    "the {:?} key of this thread was published by a device that may not publish it; do not send, and tell your organisation",
                    set.kind
                )));
            }
            out.push(*record.key());
        }
        Ok(out)
    }
}
