//! Holder keys on the client: opening grants (keeping only keys the
//! organisation's signatures vouch for), making and rotating keys, and
//! granting them to the devices entitled to them — decided by
//! [`super::trust`], never by the server's lists. The signed membership
//! changes behind that are in [`super::membership`].

use samtale_protocol::membership::Operation;
use samtale_protocol::trust::{Directory, HolderOwner, VerifiedHolder};
use samtale_protocol::wire::{
    AccountKind, DeviceInfo, EntitledDevices, GrantBlob, GrantList, GrantsStored, HolderKeySet,
    PublishHolderKey, Role, UploadGrants,
};
use samtale_protocol::{
    AccountId, CertificateBody, DeviceCertificate, DevicePublicKeys, Grant, HolderEpoch, HolderId,
    HolderKeyPair, HolderKeyRecord, HolderKind, Roles, TeamId, device_fingerprint,
};
use serde::Serialize;

use super::trust::{OwnListing, Pins, load_holder_context, refuse};
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
    /// Devices not granted a key, and why.
    pub skipped: Vec<String>,
    /// Devices of this account that wait for approval here (compare their
    /// fingerprints, then `samtale devices approve`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<super::membership::PendingDevice>,
    /// Grants refused because their key is not one the organisation's
    /// signatures vouch for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<String>,
}

fn kind_text(kind: HolderKind) -> &'static str {
    match kind {
        HolderKind::Team => "team",
        HolderKind::Citizen => "citizen",
        HolderKind::Archive => "archive",
    }
}

/// The owner a holder's signed records name, as a [`HolderOwner`].
fn owner_of(set: &HolderKeySet, org: samtale_protocol::OrgId) -> Option<HolderOwner> {
    let first = HolderKeyRecord::decode_and_verify(&set.records.first()?.record).ok()?;
    let owner = *first.owner();
    Some(match first.key().kind {
        HolderKind::Team => HolderOwner::Team(TeamId::from_bytes(owner)),
        HolderKind::Citizen => HolderOwner::Citizen(AccountId::from_bytes(owner)),
        HolderKind::Archive if owner == *org.as_bytes() => HolderOwner::Archive,
        HolderKind::Archive => return None,
    })
}

impl Session {
    /// Opens every grant addressed to this device and keeps the keys that
    /// are genuine: each must equal the public key of a holder epoch whose
    /// signed record verifies. A grant of any other key is refused.
    pub async fn sync_grants(&mut self) -> Result<usize, ClientError> {
        let mut report = UpkeepReport::default();
        self.open_grants(&mut report).await?;
        Ok(report.opened)
    }

    async fn open_grants(&mut self, report: &mut UpkeepReport) -> Result<(), ClientError> {
        let list: GrantList = self.get("/v1/grants").await?;
        let device = self.device()?;
        let mut opened: Vec<HolderKeyPair> = Vec::new();
        for GrantBlob { grant } in &list.grants {
            let Ok(grant) = Grant::decode(grant) else {
                continue;
            };
            if self
                .keystore
                .secrets()
                .holder(grant.holder().holder_epoch())
                .is_some()
            {
                continue;
            }
            if let Ok(key) = grant.open(device) {
                opened.push(key);
            }
        }
        if opened.is_empty() {
            return Ok(());
        }
        let mut dir = self.directory();
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        let mut holders: Vec<HolderId> = opened.iter().map(|k| k.epoch().holder).collect();
        holders.sort_unstable_by_key(|h| *h.as_bytes());
        holders.dedup();
        let mut keep = Vec::new();
        for holder in holders {
            let verified = self.verify_holder_by_id(&mut dir, &mut pins, holder).await;
            for key in opened.iter().filter(|k| k.epoch().holder == holder) {
                let genuine = verified.as_ref().is_ok_and(|v| {
                    v.epoch(key.epoch().epoch)
                        .is_some_and(|e| e.key == key.public())
                });
                if genuine {
                    keep.push(key.epoch());
                } else {
                    report.refused.push(format!(
                        "a grant of {} key {holder} epoch {}: {}",
                        kind_text(key.kind()),
                        key.epoch().epoch,
                        match &verified {
                            Err(e) => e.to_string(),
                            Ok(_) => "it is not the key the signed record publishes".into(),
                        }
                    ));
                }
            }
        }
        self.save_pins(&before, &pins)?;
        let kept: Vec<HolderKeyPair> = opened
            .into_iter()
            .filter(|k| keep.contains(&k.epoch()))
            .collect();
        report.opened += self.keystore.update(|s| {
            kept.into_iter()
                .map(|k| usize::from(s.add_holder(k)))
                .sum::<usize>()
        })?;
        Ok(())
    }

    /// Fetches a holder by id and verifies it as its signed records' owner's.
    async fn verify_holder_by_id(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
        holder: HolderId,
    ) -> Result<VerifiedHolder, ClientError> {
        let set: HolderKeySet = self.get(&format!("/v1/keys/{holder}")).await?;
        let owner = owner_of(&set, self.config.org_id)
            .ok_or_else(|| refuse("a key holder's record names no owner of this organisation"))?;
        load_holder_context(self, dir, pins, owner, &set).await?;
        self.verified_holder(dir, pins, owner, &set)
    }

    /// A holder's key set as the server lists it, or `None` when the owner
    /// has no holder yet (a hint: it is verified before use).
    async fn find_holder(
        &mut self,
        kind: HolderKind,
        owner: &str,
    ) -> Result<Option<HolderKeySet>, ClientError> {
        match self
            .get::<HolderKeySet>(&format!("/v1/keys?kind={}&owner={owner}", kind_text(kind)))
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

    /// Finds and verifies the holder of `owner`.
    pub(crate) async fn verified_holder_of(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
        owner: HolderOwner,
    ) -> Result<Option<(HolderKeySet, VerifiedHolder)>, ClientError> {
        let (kind, id) = match owner {
            HolderOwner::Team(t) => (HolderKind::Team, t.to_string()),
            HolderOwner::Citizen(a) => (HolderKind::Citizen, a.to_string()),
            HolderOwner::Archive => (HolderKind::Archive, self.config.org_id.to_string()),
        };
        let Some(set) = self.find_holder(kind, &id).await? else {
            return Ok(None);
        };
        load_holder_context(self, dir, pins, owner, &set).await?;
        let verified = self.verified_holder(dir, pins, owner, &set)?;
        Ok(Some((set, verified)))
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

    /// When the membership behind a holder last lost someone: a team
    /// member left, or a device left the citizen's list.
    fn last_removal(dir: &Directory, owner: HolderOwner) -> Option<u64> {
        let log = match owner {
            HolderOwner::Team(t) => dir.team_log(t)?,
            HolderOwner::Citizen(a) => dir.citizen_log(a)?,
            HolderOwner::Archive => return None,
        };
        log.changes()
            .iter()
            .filter(|c| c.operation != Operation::Add)
            .map(|c| c.issued_at)
            .max()
    }

    /// Makes sure `owner` has a holder (creating epoch 0 if not), rotates
    /// it when due — the server asks, the epoch is older than the rotation
    /// period, or someone left since it was made — and this device holds
    /// the current epoch, and grants the epochs this device holds to every
    /// device entitled to them by signed membership.
    pub(crate) async fn maintain_holder(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
        owner: HolderOwner,
        rotate: bool,
        report: &mut UpkeepReport,
    ) -> Result<(), ClientError> {
        let (kind, owner_bytes) = match owner {
            HolderOwner::Team(t) => (HolderKind::Team, *t.as_bytes()),
            HolderOwner::Citizen(a) => (HolderKind::Citizen, *a.as_bytes()),
            HolderOwner::Archive => (HolderKind::Archive, *self.config.org_id.as_bytes()),
        };
        let (set, verified) = match self.verified_holder_of(dir, pins, owner).await? {
            Some(found) => found,
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
                self.publish(key, owner_bytes).await?;
                self.verified_holder_of(dir, pins, owner)
                    .await?
                    .ok_or_else(|| {
                        ClientError::Refused("the key was published but cannot be found".into())
                    })?
            }
        };
        let current = verified.current().key.holder_epoch();
        let due = set.rotation_due || verified.is_due(now_secs(), Self::last_removal(dir, owner));
        let verified = if (due || rotate) && self.keystore.secrets().holder(current).is_some() {
            let next = HolderKeyPair::generate(current.holder, kind, current.epoch + 1)
                .map_err(|e| ClientError::Refused(e.to_string()))?;
            report.published.push(format!(
                "{kind:?} key {} epoch {} (rotation)",
                current.holder,
                current.epoch + 1
            ));
            self.publish(next, owner_bytes).await?;
            self.verified_holder_of(dir, pins, owner)
                .await?
                .map(|(_, v)| v)
                .ok_or_else(|| ClientError::Refused("the rotated key cannot be found".into()))?
        } else {
            verified
        };
        self.grant_missing(dir, pins, owner, &verified, report)
            .await
    }

    /// The keys a device of the entitled list may be granted, decided by
    /// signed membership: `Ok(keys)` are the keys to seal to (from the
    /// certificate or the signed device list, never the server's copy).
    async fn grant_target(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
        owner: HolderOwner,
        device: &samtale_protocol::wire::EntitledDevice,
    ) -> Result<Result<DevicePublicKeys, String>, ClientError> {
        if device.device_id == self.config.device_id {
            let mine = self.device()?.public();
            if device.keys != mine {
                return Err(refuse(
                    "the server lists other public keys for this very device than its keystore holds",
                ));
            }
            return Ok(Ok(mine));
        }
        Ok(match owner {
            HolderOwner::Citizen(me) => {
                let listed = dir.citizen_devices(me).unwrap_or_default();
                if listed.contains(&device.keys) {
                    Ok(device.keys)
                } else if listed.iter().any(|d| d.identity == device.keys.identity) {
                    Err("the server lists other keys for it than your signed device list: not granted (tell your municipality)".into())
                } else {
                    Err("it is not in your signed device list: compare its fingerprint with the new device's screen, then `samtale devices approve`".into())
                }
            }
            HolderOwner::Team(_) | HolderOwner::Archive => {
                let Some(cert) = device.certificate.as_deref() else {
                    return Ok(Err(
                        "not certified by the organisation yet (ask an admin: `samtale admin certify`)".into(),
                    ));
                };
                let cert = DeviceCertificate::decode(cert)
                    .map_err(|_| refuse("a device certificate from the server is malformed"))?;
                let body = cert.body_unverified();
                if body.staff_id != device.account_id || body.device != device.keys {
                    return Ok(Err(
                        "its certificate is for another device or account".into()
                    ));
                }
                self.load_staff(dir, pins, device.account_id).await?;
                let body = match dir.certified_at(&device.keys.identity, Some(&cert), now_secs()) {
                    Ok(b) => b,
                    Err(why) => return Ok(Err(why.into())),
                };
                let in_list = dir
                    .staff_devices(device.account_id)
                    .is_some_and(|l| l.contains(&device.keys));
                if !in_list {
                    return Ok(Err("it is not in its owner's signed device list".into()));
                }
                match owner {
                    HolderOwner::Team(team) if !body.roles.contains(Roles::STAFF) => {
                        Err(format!("its certificate has no staff role for team {team}"))
                    }
                    HolderOwner::Team(team) if !dir.team_member_now(team, device.account_id) => {
                        Err("its owner is not in the team's signed member list".into())
                    }
                    HolderOwner::Archive
                        if !(body.roles.contains(Roles::RECORD_CLERK)
                            || body.roles.contains(Roles::ADMIN)) =>
                    {
                        Err(
                            "its certificate gives it no archive role (record clerk or admin)"
                                .into(),
                        )
                    }
                    _ => Ok(body.device),
                }
            }
        })
    }

    /// Grants the epochs of a verified holder this device holds to the
    /// entitled devices that lack them.
    async fn grant_missing(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
        owner: HolderOwner,
        holder: &VerifiedHolder,
        report: &mut UpkeepReport,
    ) -> Result<(), ClientError> {
        let entitled: EntitledDevices = self
            .get(&format!("/v1/keys/{}/devices", holder.holder))
            .await?;
        let mut grants = Vec::new();
        for d in &entitled.devices {
            if d.missing_epochs.is_empty() {
                continue;
            }
            let keys = match self.grant_target(dir, pins, owner, d).await? {
                Ok(keys) => keys,
                Err(why) => {
                    report
                        .skipped
                        .push(format!("device {}: {why}", d.device_id));
                    continue;
                }
            };
            for epoch in &d.missing_epochs {
                let at = HolderEpoch {
                    holder: holder.holder,
                    epoch: *epoch,
                };
                // Only genuine epochs: the key this device holds must be
                // the one the signed record publishes.
                let genuine = holder.epoch(*epoch).map(|e| e.key);
                if let Some(key) = self.keystore.secrets().holder(at)
                    && genuine == Some(key.public())
                {
                    let g = Grant::issue(self.device()?, key, &keys.agreement, now_secs())
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
    /// keep their teams' keys; citizens keep their own key and their
    /// device list.
    pub async fn upkeep(&mut self, rotate: bool) -> Result<UpkeepReport, ClientError> {
        let mut report = UpkeepReport::default();
        self.open_grants(&mut report).await?;
        let me = self.me().await?;
        let mut dir = self.directory();
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        let result = self
            .upkeep_in(&mut dir, &mut pins, &me, rotate, &mut report)
            .await;
        self.save_pins(&before, &pins)?;
        result.map(|()| report)
    }

    async fn upkeep_in(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
        me: &samtale_protocol::wire::AccountInfo,
        rotate: bool,
        report: &mut UpkeepReport,
    ) -> Result<(), ClientError> {
        match me.kind {
            AccountKind::Staff => {
                // Others trust a team key only when its publisher's device
                // was certified when it signed it: wait for the certificate.
                let certified = self.own_certificate(dir, pins).await?.is_some();
                if !certified {
                    report.skipped.push(
                        "this device's team keys: it is not certified yet (ask an admin to run `samtale admin certify`, then run `samtale keys`)"
                            .into(),
                    );
                }
                if certified && me.roles.contains(&Role::Staff) {
                    for team in &me.teams {
                        self.load_team(dir, pins, *team).await?;
                        if !dir.team_member_now(*team, me.account_id) {
                            report.skipped.push(format!(
                                "team {team}: you are not in its signed member list (an admin adds you with `samtale admin team add`)"
                            ));
                            continue;
                        }
                        self.maintain_holder(dir, pins, HolderOwner::Team(*team), rotate, report)
                            .await?;
                    }
                }
                // Admins and clerks who hold the archive key pass it on.
                if let Some((_, verified)) = self
                    .verified_holder_of(dir, pins, HolderOwner::Archive)
                    .await?
                    && self
                        .keystore
                        .secrets()
                        .holders
                        .iter()
                        .any(|k| k.epoch().holder == verified.holder)
                {
                    self.grant_missing(dir, pins, HolderOwner::Archive, &verified, report)
                        .await?;
                }
            }
            AccountKind::Citizen => {
                match self.own_citizen_list(dir, pins).await? {
                    OwnListing::Listed => {}
                    OwnListing::Empty => {
                        let record =
                            super::trust::first_device_record(me.account_id, self.device()?);
                        self.append_device_record(me.account_id, &record).await?;
                        self.own_citizen_list(dir, pins).await?;
                    }
                    OwnListing::Pending => {
                        report.skipped.push(format!(
                            "this device: it waits for approval from another of your devices (there: `samtale devices approve --fingerprint {}`). If you have lost every other device, `samtale devices reset` starts afresh with this one",
                            device_fingerprint(&self.device()?.public().identity)
                        ));
                        return Ok(());
                    }
                    OwnListing::Removed { at } => {
                        return Err(ClientError::Verification(format!(
                            "this device was removed from your account's signed device list on {} (or the list was reset from another device). If you did not do that, call your municipality: someone else may have taken over your account",
                            crate::output::utc_date(at)
                        )));
                    }
                }
                report.pending = self.pending_devices(dir).await?;
                self.maintain_holder(
                    dir,
                    pins,
                    HolderOwner::Citizen(me.account_id),
                    rotate,
                    report,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// This staff device's certificate, if it verifies now and the device is
    /// in its account's signed device list.
    pub(crate) async fn own_certificate(
        &mut self,
        dir: &mut Directory,
        pins: &mut Pins,
    ) -> Result<Option<CertificateBody>, ClientError> {
        let own: Vec<DeviceInfo> = self.get("/v1/devices").await?;
        let Some(cert) = own
            .into_iter()
            .find(|d| d.device_id == self.config.device_id)
            .and_then(|d| d.certificate)
        else {
            return Ok(None);
        };
        let cert = DeviceCertificate::decode(&cert)
            .map_err(|_| refuse("this device's certificate from the server is malformed"))?;
        self.load_staff(dir, pins, self.config.account_id).await?;
        let mine = self.device()?.public();
        Ok(dir
            .certified_at(&mine.identity, Some(&cert), now_secs())
            .ok()
            .filter(|b| b.device == mine && b.staff_id == self.config.account_id)
            .cloned())
    }

    /// Admin: makes the organisation's archive key if it has none, and
    /// grants it to every certified record clerk device.
    pub async fn maintain_archive_key(&mut self) -> Result<UpkeepReport, ClientError> {
        let mut report = UpkeepReport::default();
        self.open_grants(&mut report).await?;
        let mut dir = self.directory();
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        let result = self
            .maintain_holder(
                &mut dir,
                &mut pins,
                HolderOwner::Archive,
                false,
                &mut report,
            )
            .await;
        self.save_pins(&before, &pins)?;
        result.map(|()| report)
    }
}
