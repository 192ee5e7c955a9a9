//! Safety numbers (PROTOCOL.md §10): one per pair of accounts, over all of
//! each account's devices in its verified device list, and confirming them
//! after someone's devices were reset.

use samtale_protocol::{
    AccountId, DeviceCertificate, IdentityKey, ThreadId, safety_number_for_devices,
};
use serde::Serialize;

use super::{ClientError, Session};

/// One participant's safety number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SafetyRow {
    /// Their name.
    pub name: String,
    /// Their account.
    pub account_id: AccountId,
    /// Staff (certified by the organisation) or a citizen.
    pub staff: bool,
    /// How many devices their signed list holds.
    pub devices: usize,
    /// Their devices were reset and nobody here confirmed it yet.
    pub reset_unconfirmed: bool,
    /// The 60 digits both sides compare.
    pub safety_number: String,
}

impl Session {
    /// Safety numbers with every other participant of a thread: one per
    /// account, over all of its devices in its signed device list (so the
    /// number changes when a device is added, removed or reset), with this
    /// account's own devices on the other side.
    pub async fn safety_numbers(
        &mut self,
        thread: ThreadId,
    ) -> Result<Vec<SafetyRow>, ClientError> {
        let before = self.keystore.secrets().pins.clone();
        let mut pins = before.clone();
        let result = self.safety_in(thread, &mut pins).await;
        self.save_pins(&before, &pins)?;
        result
    }

    async fn safety_in(
        &mut self,
        thread: ThreadId,
        pins: &mut super::trust::Pins,
    ) -> Result<Vec<SafetyRow>, ClientError> {
        let mut v = self.verified(thread, pins).await?;
        let me = self.config.account_id;
        let mine: Vec<IdentityKey> = if self.is_staff() {
            self.load_staff(&mut v.dir, pins, me).await?;
            v.dir.staff_devices(me).unwrap_or_default()
        } else {
            v.dir.citizen_devices(me).unwrap_or_default()
        }
        .iter()
        .map(|d| d.identity)
        .collect();
        let mine = if mine.is_empty() {
            vec![self.device()?.public().identity]
        } else {
            mine
        };
        let mut rows = Vec::new();
        let row =
            |name: String, account: AccountId, staff: bool, reset: bool, keys: &[IdentityKey]| {
                SafetyRow {
                    name,
                    account_id: account,
                    staff,
                    devices: keys.len(),
                    reset_unconfirmed: reset,
                    safety_number: safety_number_for_devices(
                        (me.as_bytes(), &mine),
                        (account.as_bytes(), keys),
                    ),
                }
            };
        let staff: Vec<AccountId> = v
            .dir
            .team_log(v.vt.team)
            .map(|l| {
                l.members()
                    .iter()
                    .filter_map(|m| match m {
                        samtale_protocol::membership::Member::Staff(a) => Some(*a),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        for account in staff.into_iter().filter(|a| *a != me) {
            self.load_staff(&mut v.dir, pins, account).await?;
            let keys: Vec<IdentityKey> = v
                .dir
                .staff_devices(account)
                .unwrap_or_default()
                .iter()
                .map(|d| d.identity)
                .collect();
            if keys.is_empty() {
                continue;
            }
            let name = v
                .devices
                .iter()
                .filter(|d| d.account_id == account)
                .find_map(|d| d.certificate.as_deref())
                .and_then(|c| DeviceCertificate::decode(c).ok())
                .map_or_else(
                    || "a staff member".into(),
                    |c| c.body_unverified().staff_name.clone(),
                );
            rows.push(row(name, account, true, false, &keys));
        }
        for account in v.vt.citizens.iter().copied().filter(|a| *a != me) {
            let keys: Vec<IdentityKey> = v
                .dir
                .citizen_devices(account)
                .unwrap_or_default()
                .iter()
                .map(|d| d.identity)
                .collect();
            if keys.is_empty() {
                continue;
            }
            let reset = v.vt.unconfirmed_resets().any(|n| n.account == account);
            rows.push(row(v.citizen_name(account), account, false, reset, &keys));
        }
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(rows)
    }

    /// Records that the person compared safety numbers with `name` (a
    /// participant of `thread`) and they matched: a reset of their device
    /// list up to now is no longer flagged.
    pub async fn confirm_safety(
        &mut self,
        thread: ThreadId,
        name: &str,
    ) -> Result<SafetyRow, ClientError> {
        let rows = self.safety_numbers(thread).await?;
        let found: Vec<&SafetyRow> = rows
            .iter()
            .filter(|r| r.name.eq_ignore_ascii_case(name) || r.account_id.to_string() == name)
            .collect();
        let row = match found.as_slice() {
            [one] => (*one).clone(),
            [] => {
                return Err(ClientError::Refused(format!(
                    "nobody in this thread is called {name:?}; `samtale safety {}` lists them",
                    &thread.to_string()[..8]
                )));
            }
            _ => {
                return Err(ClientError::Refused(format!(
                    "{name:?} matches several participants; give the account id"
                )));
            }
        };
        let key = format!("devices:{}", row.account_id);
        self.keystore.update(|s| {
            if let Some(pin) = s.pins.logs.get_mut(&key) {
                pin.confirmed = pin.len;
            }
        })?;
        Ok(SafetyRow {
            reset_unconfirmed: false,
            ..row
        })
    }
}
