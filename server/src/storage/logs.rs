//! The signed membership logs clients replay (PROTOCOL.md §7): team member
//! lists (log 1) and device lists (log 3). The HTTP layer checks a record
//! against its log's policy first; here it is appended at exactly its
//! position, and what it means for the server's own tables (team
//! membership, revoked devices, keys due for rotation) changes in the same
//! transaction, with its audit entry.

use super::{Backend, Storage, StorageError};
use crate::audit::AuditEvent;

/// Revokes one device inside the open transaction `$tx`: the device, its
/// sessions, and every key it was granted becomes due for a new epoch.
macro_rules! revoke_device_in {
    ($tx:ident, $device_id:expr, $now:expr) => {{
        let (device_id, now): (&str, i64) = ($device_id, $now);
        sqlx::query("UPDATE devices SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(device_id)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(
            "UPDATE sessions SET revoked_at = $1, revoked_why = 'device revoked' \
             WHERE device_id = $2 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(device_id)
        .execute(&mut *$tx)
        .await?;
        sqlx::query(
            "UPDATE holders SET rotation_requested_at = $1 \
             WHERE id IN (SELECT holder_id FROM grants WHERE device_id = $2)",
        )
        .bind(now)
        .bind(device_id)
        .execute(&mut *$tx)
        .await?;
    }};
}

/// A team's member list (subject: the team id).
pub const TEAM_LOG: i64 = 1;
/// An account's device list (subject: the account id).
pub const DEVICE_LOG: i64 = 3;

/// What an appended record changes besides the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogEffect<'a> {
    /// A staff member joins a team.
    TeamAdd {
        /// The team.
        team_id: &'a str,
        /// The staff account.
        account_id: &'a str,
    },
    /// A staff member leaves a team; its key is due for a new epoch.
    TeamRemove {
        /// The team.
        team_id: &'a str,
        /// The staff account.
        account_id: &'a str,
    },
    /// A device joins its account's list; nothing else changes.
    DeviceAdd,
    /// A device leaves its account's list: it is revoked (its sessions
    /// end) and every key it held is due for a new epoch.
    DeviceRemove {
        /// The device.
        device_id: &'a str,
    },
    /// Every device of the account but `keep` is revoked, as above.
    DeviceReset {
        /// The account.
        account_id: &'a str,
        /// The device that reset the list.
        keep: &'a str,
    },
}

/// How an append went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendOutcome {
    /// Stored at its position.
    Appended,
    /// Another record took that position first (or the record's position
    /// is not the next one): the log is `next_seq` records long.
    Stale {
        /// The position the next record must have.
        next_seq: i64,
    },
}

impl Storage {
    /// A log's records, in order.
    pub async fn log_records(&self, log: i64, subject: &str) -> Result<Vec<Vec<u8>>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT record FROM membership_records WHERE log = $1 AND subject = $2 ORDER BY seq",
            )
            .bind(log)
            .bind(subject)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Appends `record` at position `seq` of a log, applies `effect` and
    /// writes `audit`, all in one transaction.
    #[allow(clippy::too_many_arguments)]
    pub async fn append_log_record(
        &self,
        log: i64,
        subject: &str,
        seq: i64,
        record: &[u8],
        effect: LogEffect<'_>,
        audit: &[AuditEvent],
        now: i64,
        now_ms: i64,
    ) -> Result<AppendOutcome, StorageError> {
        Ok(write_tx!(self, |tx, head| {
            let next: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(seq) + 1, 0) FROM membership_records \
                 WHERE log = $1 AND subject = $2",
            )
            .bind(log)
            .bind(subject)
            .fetch_one(&mut *tx)
            .await?;
            if next != seq {
                return Ok(AppendOutcome::Stale { next_seq: next });
            }
            let stored = sqlx::query(
                "INSERT INTO membership_records (log, subject, seq, record, appended_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (log, subject, seq) DO NOTHING",
            )
            .bind(log)
            .bind(subject)
            .bind(seq)
            .bind(record)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if stored == 0 {
                return Ok(AppendOutcome::Stale { next_seq: next + 1 });
            }
            match effect {
                LogEffect::TeamAdd {
                    team_id,
                    account_id,
                } => {
                    sqlx::query(
                        "INSERT INTO team_members (team_id, account_id, added_at) \
                         VALUES ($1, $2, $3) ON CONFLICT (team_id, account_id) DO NOTHING",
                    )
                    .bind(team_id)
                    .bind(account_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                LogEffect::TeamRemove {
                    team_id,
                    account_id,
                } => {
                    sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND account_id = $2")
                        .bind(team_id)
                        .bind(account_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "UPDATE holders SET rotation_requested_at = $1 \
                         WHERE kind = 'team' AND owner_id = $2",
                    )
                    .bind(now)
                    .bind(team_id)
                    .execute(&mut *tx)
                    .await?;
                }
                LogEffect::DeviceAdd => {}
                LogEffect::DeviceRemove { device_id } => {
                    revoke_device_in!(tx, device_id, now);
                }
                LogEffect::DeviceReset { account_id, keep } => {
                    let others: Vec<String> = sqlx::query_scalar(
                        "SELECT id FROM devices WHERE account_id = $1 AND id <> $2 \
                         AND revoked_at IS NULL",
                    )
                    .bind(account_id)
                    .bind(keep)
                    .fetch_all(&mut *tx)
                    .await?;
                    for device in &others {
                        revoke_device_in!(tx, device.as_str(), now);
                    }
                }
            }
            audit_in!(tx, audit, now_ms, head);
            AppendOutcome::Appended
        }))
    }
}
