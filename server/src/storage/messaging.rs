//! Queries for key holders and grants, threads, messages, receipts,
//! attachments and notification rate limits. Like `accounts`, every query is
//! written once in SQL both dialects accept.

use std::collections::HashMap;

use sqlx::Row;

use super::{Backend, Storage, StorageError};
use crate::audit::{Action, AuditEvent, Detail};

/// The case of a thread's furthest journal receipt (`t` is the thread).
macro_rules! thread_case {
    () => {
        "(SELECT j.case_ref FROM journal_receipts j WHERE j.thread_id = t.id \
          ORDER BY j.up_to_seq DESC, j.journaled_at DESC LIMIT 1)"
    };
}

/// A key holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderRow {
    pub id: String,
    pub org_id: String,
    pub kind: String,
    pub owner_id: String,
    pub rotation_requested_at: Option<i64>,
}

/// One published epoch of a holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochRow {
    pub epoch: i64,
    pub public_key: Vec<u8>,
    pub record: Vec<u8>,
    pub published_at: i64,
}

/// A holder epoch to publish.
#[derive(Debug, Clone)]
pub struct NewEpoch<'a> {
    pub holder_id: &'a str,
    pub org_id: &'a str,
    pub kind: &'a str,
    pub owner_id: &'a str,
    pub epoch: i64,
    pub public_key: &'a [u8],
    pub record: &'a [u8],
    pub device_id: &'a str,
    pub now: i64,
}

/// How publishing an epoch went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Stored.
    Published,
    /// The same record was stored before (an idempotent retry).
    AlreadyPublished,
    /// The epoch is not the next one; this one is.
    WrongEpoch { expected: i64 },
    /// The holder id belongs to another owner or kind, or the owner already
    /// has another holder of this kind.
    OwnerMismatch,
}

/// A thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadRow {
    pub id: String,
    pub org_id: String,
    pub team_id: String,
    pub last_seq: i64,
    pub last_activity_ms: i64,
    pub journaled_up_to: Option<i64>,
    /// When it was last journaled (Unix seconds), and on which case.
    pub journaled_at: Option<i64>,
    pub journaled_case: Option<String>,
    /// An admin's hold keeps retention away.
    pub on_hold: bool,
}

/// A citizen in a thread, with what senders must know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadCitizenRow {
    pub account_id: String,
    pub display_name: String,
    pub assurance: String,
    pub consent_withdrawn: bool,
}

/// A new thread with its first participant records.
#[derive(Debug, Clone)]
pub struct NewThread<'a> {
    pub id: &'a str,
    pub org_id: &'a str,
    pub team_id: &'a str,
    pub created_by: &'a str,
    pub citizens: &'a [String],
    pub records: &'a [Vec<u8>],
    pub now: i64,
    pub now_ms: i64,
}

/// A message waiting for the group commit.
#[derive(Debug, Clone)]
pub struct PendingMessage {
    pub thread_id: String,
    pub message_id: String,
    pub sender_device_id: String,
    /// The sender's account and organisation (for the audit log).
    pub sender_account: String,
    pub org_id: String,
    pub envelope: Vec<u8>,
    pub envelope_sha256: [u8; 32],
}

/// The audit events of a committed batch: one `message.send` per message
/// stored now (a resend is not a new send).
fn send_events(batch: &[PendingMessage], outcomes: &[CommitOutcome]) -> Vec<AuditEvent> {
    batch
        .iter()
        .zip(outcomes)
        .filter_map(|(m, o)| match o {
            CommitOutcome::Stored { seq, .. } => Some(
                AuditEvent::new(Action::MessageSend, &m.sender_account, Some(&m.thread_id))
                    .org(&m.org_id)
                    .device(&m.sender_device_id)
                    .detail(
                        Detail::none()
                            .number("seq", *seq)
                            .id("message", &m.message_id),
                    ),
            ),
            _ => None,
        })
        .collect()
}

/// A delivered or read receipt to store.
#[derive(Debug, Clone, Copy)]
pub struct NewReceipt<'a> {
    pub thread_id: &'a str,
    pub device_id: &'a str,
    /// `delivered` or `read`.
    pub kind: &'a str,
    pub up_to_seq: i64,
    pub receipt: &'a [u8],
}

/// What the group commit did with one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Stored now at `seq`.
    Stored { seq: i64, committed_at_ms: i64 },
    /// Stored before (a resend): the original position.
    Duplicate { seq: i64, committed_at_ms: i64 },
    /// The id is taken by a different message (another thread, sender or
    /// envelope): nothing stored.
    Conflict,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    pub seq: i64,
    pub message_id: String,
    pub committed_at_ms: i64,
    pub envelope: Vec<u8>,
}

/// An attachment's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentRow {
    pub id: String,
    pub thread_id: String,
    pub size: i64,
    pub sha256: Option<Vec<u8>>,
    pub completed: bool,
}

type ExistingMessage = (String, i64, i64, Vec<u8>, String);
type AttachmentTuple = (String, String, i64, Option<Vec<u8>>, Option<i64>);

/// The body of the group commit, inside an open transaction `$tx`.
/// Rows per multi-row INSERT (7 parameters each, well under SQLite's limit).
const INSERT_ROWS: usize = 100;

macro_rules! commit_in {
    ($tx:ident, $batch:expr, $now_ms:expr, $json_each:expr, $placeholder:expr) => {{
        let batch: &[PendingMessage] = $batch;
        let mut out: Vec<Option<CommitOutcome>> = vec![None; batch.len()];
        // Messages new to the database, by thread, in arrival order.
        let mut fresh: Vec<(String, Vec<usize>)> = Vec::new();
        let mut seen: HashMap<&str, usize> = HashMap::new();
        // One query finds every id of the batch that is stored already.
        let ids = serde_json::to_string(
            &batch.iter().map(|m| m.message_id.as_str()).collect::<Vec<_>>(),
        )
        .unwrap_or_default();
        let existing: Vec<(String, String, i64, i64, Vec<u8>, String)> = sqlx::query_as(
            sqlx::AssertSqlSafe(format!(
                "SELECT message_id, thread_id, seq, committed_at_ms, envelope_sha256, sender_device_id \
                 FROM messages WHERE message_id IN (SELECT value FROM {})",
                $json_each
            )),
        )
        .bind(ids)
        .fetch_all(&mut *$tx)
        .await?;
        let existing: HashMap<String, ExistingMessage> = existing
            .into_iter()
            .map(|(id, thread, seq, at, hash, sender)| (id, (thread, seq, at, hash, sender)))
            .collect();
        for (i, m) in batch.iter().enumerate() {
            if let Some(&first) = seen.get(m.message_id.as_str()) {
                // The same id twice in one batch: settle it after the first.
                out[i] = Some(CommitOutcome::Conflict);
                if batch[first].thread_id == m.thread_id
                    && batch[first].sender_device_id == m.sender_device_id
                    && batch[first].envelope_sha256 == m.envelope_sha256
                {
                    out[i] = None;
                }
                continue;
            }
            seen.insert(&m.message_id, i);
            match existing.get(&m.message_id) {
                Some((thread, seq, at, hash, sender))
                    if *thread == m.thread_id
                        && *sender == m.sender_device_id
                        && hash.as_slice() == m.envelope_sha256.as_slice() =>
                {
                    out[i] = Some(CommitOutcome::Duplicate {
                        seq: *seq,
                        committed_at_ms: *at,
                    });
                }
                Some(_) => out[i] = Some(CommitOutcome::Conflict),
                None => match fresh.iter_mut().find(|(t, _)| *t == m.thread_id) {
                    Some((_, list)) => list.push(i),
                    None => fresh.push((m.thread_id.clone(), vec![i])),
                },
            }
        }
        // Threads' rows are locked in one order, by id: two nodes'
        // writers taking them in arrival order (A then B, B then A) would
        // deadlock. Each thread's messages keep their arrival order.
        fresh.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut rows: Vec<(usize, i64)> = Vec::new();
        for (thread_id, indices) in &fresh {
            let n = i64::try_from(indices.len()).unwrap_or(i64::MAX);
            // Reserving the range in one atomic update keeps the sequence
            // gap-free under concurrent writers (the row lock serialises them).
            let last: i64 = sqlx::query_scalar(
                "UPDATE threads SET last_seq = last_seq + $2, last_activity_ms = $3 \
                 WHERE id = $1 RETURNING last_seq",
            )
            .bind(thread_id)
            .bind(n)
            .bind($now_ms)
            .fetch_one(&mut *$tx)
            .await?;
            let mut seq = last - n;
            for &i in indices {
                seq += 1;
                rows.push((i, seq));
                out[i] = Some(CommitOutcome::Stored {
                    seq,
                    committed_at_ms: $now_ms,
                });
            }
        }
        // Multi-row inserts: a few statements per batch, not one per message.
        for chunk in rows.chunks(INSERT_ROWS) {
            let mut sql = String::from(
                "INSERT INTO messages (thread_id, seq, message_id, sender_device_id, envelope, \
                 envelope_sha256, committed_at_ms) VALUES ",
            );
            for k in 0..chunk.len() {
                let b = k * 7;
                if k > 0 {
                    sql.push_str(", ");
                }
                // `?N` on SQLite binds by position; named `$N` would make
                // every bind a linear search through the parameter names.
                let p = $placeholder;
                sql.push_str(&format!(
                    "({p}{}, {p}{}, {p}{}, {p}{}, {p}{}, {p}{}, {p}{})",
                    b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7
                ));
            }
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for &(i, seq) in chunk {
                let m = &batch[i];
                query = query
                    .bind(&m.thread_id)
                    .bind(seq)
                    .bind(&m.message_id)
                    .bind(&m.sender_device_id)
                    .bind(&m.envelope)
                    .bind(&m.envelope_sha256[..])
                    .bind($now_ms);
            }
            query.execute(&mut *$tx).await?;
        }
        // In-batch repeats answer like their first occurrence.
        let mut result = Vec::with_capacity(batch.len());
        for (i, m) in batch.iter().enumerate() {
            let outcome = match out[i] {
                Some(o) => o,
                None => match seen.get(m.message_id.as_str()).and_then(|&f| out[f]) {
                    Some(CommitOutcome::Stored {
                        seq,
                        committed_at_ms,
                    }) => CommitOutcome::Duplicate {
                        seq,
                        committed_at_ms,
                    },
                    Some(other) => other,
                    None => CommitOutcome::Conflict,
                },
            };
            result.push(outcome);
        }
        result
    }};
}

impl Storage {
    // ---------------------------------------------------------- key holders

    /// A holder by id.
    pub async fn holder(&self, id: &str) -> Result<Option<HolderRow>, StorageError> {
        let row: Option<(String, String, String, String, Option<i64>)> = with_pool!(self, |pool| {
            sqlx::query_as(
                    "SELECT id, org_id, kind, owner_id, rotation_requested_at FROM holders WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(holder_row))
    }

    /// The holder of `kind` that belongs to `owner_id`.
    pub async fn holder_by_owner(
        &self,
        kind: &str,
        owner_id: &str,
    ) -> Result<Option<HolderRow>, StorageError> {
        let row: Option<(String, String, String, String, Option<i64>)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, org_id, kind, owner_id, rotation_requested_at FROM holders \
                     WHERE kind = $1 AND owner_id = $2",
            )
            .bind(kind)
            .bind(owner_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(holder_row))
    }

    /// A holder's published epochs, oldest first.
    pub async fn holder_epochs(&self, holder_id: &str) -> Result<Vec<EpochRow>, StorageError> {
        let rows: Vec<(i64, Vec<u8>, Vec<u8>, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT epoch, public_key, record, published_at FROM holder_epochs \
                 WHERE holder_id = $1 ORDER BY epoch",
            )
            .bind(holder_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(epoch, public_key, record, published_at)| EpochRow {
                epoch,
                public_key,
                record,
                published_at,
            })
            .collect())
    }

    /// Publishes the next epoch of a holder (creating the holder with epoch 0).
    pub async fn publish_epoch(&self, e: &NewEpoch<'_>) -> Result<PublishOutcome, StorageError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO holders (id, org_id, kind, owner_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(e.holder_id)
            .bind(e.org_id)
            .bind(e.kind)
            .bind(e.owner_id)
            .bind(e.now)
            .execute(&mut *tx)
            .await?;
            let holder: Option<(String, String, String)> =
                sqlx::query_as("SELECT org_id, kind, owner_id FROM holders WHERE id = $1")
                    .bind(e.holder_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match holder {
                Some((org, kind, owner))
                    if org == e.org_id && kind == e.kind && owner == e.owner_id => {}
                _ => return Ok(PublishOutcome::OwnerMismatch),
            }
            let existing: Option<Vec<u8>> = sqlx::query_scalar(
                "SELECT record FROM holder_epochs WHERE holder_id = $1 AND epoch = $2",
            )
            .bind(e.holder_id)
            .bind(e.epoch)
            .fetch_optional(&mut *tx)
            .await?;
            let expected: i64 = sqlx::query_scalar::<_, Option<i64>>(
                "SELECT MAX(epoch) FROM holder_epochs WHERE holder_id = $1",
            )
            .bind(e.holder_id)
            .fetch_one(&mut *tx)
            .await?
            .map_or(0, |m| m + 1);
            if let Some(record) = existing {
                return Ok(if record == e.record {
                    PublishOutcome::AlreadyPublished
                } else {
                    PublishOutcome::WrongEpoch { expected }
                });
            }
            if expected != e.epoch {
                return Ok(PublishOutcome::WrongEpoch { expected });
            }
            sqlx::query(
                "INSERT INTO holder_epochs (holder_id, epoch, public_key, record, published_by, published_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(e.holder_id)
            .bind(e.epoch)
            .bind(e.public_key)
            .bind(e.record)
            .bind(e.device_id)
            .bind(e.now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(PublishOutcome::Published)
        })
    }

    /// Marks every holder whose key `device_id` was granted as due for a new
    /// epoch (the device was revoked).
    pub async fn request_rotation_for_device(
        &self,
        device_id: &str,
        now: i64,
    ) -> Result<u64, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE holders SET rotation_requested_at = $1 \
                 WHERE id IN (SELECT holder_id FROM grants WHERE device_id = $2)",
            )
            .bind(now)
            .bind(device_id)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }

    /// Marks every holder an account's devices hold as due for a new epoch
    /// (the account was disabled or left).
    pub async fn request_rotation_for_account(
        &self,
        account_id: &str,
        now: i64,
    ) -> Result<u64, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE holders SET rotation_requested_at = $1 WHERE id IN \
                 (SELECT g.holder_id FROM grants g JOIN devices d ON d.id = g.device_id \
                  WHERE d.account_id = $2)",
            )
            .bind(now)
            .bind(account_id)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }

    // --------------------------------------------------------------- grants

    /// Stores a grant; `false` when this device already has one for the epoch.
    pub async fn store_grant(
        &self,
        device_id: &str,
        holder_id: &str,
        epoch: i64,
        grant: &[u8],
        granted_by: &str,
        now: i64,
    ) -> Result<bool, StorageError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO grants (device_id, holder_id, epoch, grant_bytes, granted_by, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(device_id)
            .bind(holder_id)
            .bind(epoch)
            .bind(grant)
            .bind(granted_by)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }

    /// The grants addressed to a device, optionally for one holder, by
    /// holder and epoch.
    pub async fn grants_for_device(
        &self,
        device_id: &str,
        holder_id: Option<&str>,
    ) -> Result<Vec<Vec<u8>>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT grant_bytes FROM grants WHERE device_id = $1 \
                 AND ($2 IS NULL OR holder_id = $2) ORDER BY holder_id, epoch",
            )
            .bind(device_id)
            .bind(holder_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The epochs of `holder_id` each device holds a grant for.
    pub async fn granted_epochs(
        &self,
        holder_id: &str,
    ) -> Result<HashMap<String, Vec<i64>>, StorageError> {
        let rows: Vec<(String, i64)> = with_pool!(self, |pool| {
            sqlx::query_as("SELECT device_id, epoch FROM grants WHERE holder_id = $1")
                .bind(holder_id)
                .fetch_all(pool)
                .await?
        });
        let mut map: HashMap<String, Vec<i64>> = HashMap::new();
        for (device, epoch) in rows {
            map.entry(device).or_default().push(epoch);
        }
        Ok(map)
    }

    /// Live accounts that are staff members of a team (not citizens).
    pub async fn team_staff(&self, team_id: &str) -> Result<Vec<String>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT a.id FROM team_members m JOIN accounts a ON a.id = m.account_id \
                 WHERE m.team_id = $1 AND a.kind = 'staff' AND a.disabled_at IS NULL ORDER BY a.id",
            )
            .bind(team_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The accounts whose devices have sent messages to a thread.
    pub async fn thread_senders(&self, thread_id: &str) -> Result<Vec<String>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT DISTINCT d.account_id FROM messages m JOIN devices d ON d.id = m.sender_device_id \
                 WHERE m.thread_id = $1 ORDER BY d.account_id",
            )
            .bind(thread_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Live staff accounts of an organisation with the record clerk role.
    pub async fn record_clerks(&self, org_id: &str) -> Result<Vec<String>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT id FROM accounts WHERE org_id = $1 AND kind = 'staff' \
                 AND disabled_at IS NULL AND (roles / 2) % 2 = 1 ORDER BY id",
            )
            .bind(org_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Whether `account_id` is a member (staff or citizen) of `team_id`.
    pub async fn is_team_member(
        &self,
        team_id: &str,
        account_id: &str,
    ) -> Result<bool, StorageError> {
        let n: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM team_members WHERE team_id = $1 AND account_id = $2",
            )
            .bind(team_id)
            .bind(account_id)
            .fetch_one(pool)
            .await?
        });
        Ok(n > 0)
    }

    // -------------------------------------------------------------- threads

    /// Creates a thread with its citizens and participant records; `false`
    /// when the id is taken.
    pub async fn create_thread(&self, t: &NewThread<'_>) -> Result<bool, StorageError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(
                "INSERT INTO threads (id, org_id, team_id, created_by, created_at, last_activity_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            )
            .bind(t.id)
            .bind(t.org_id)
            .bind(t.team_id)
            .bind(t.created_by)
            .bind(t.now)
            .bind(t.now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Ok(false);
            }
            for citizen in t.citizens {
                sqlx::query(
                    "INSERT INTO thread_citizens (thread_id, account_id, added_at) VALUES ($1, $2, $3)",
                )
                .bind(t.id)
                .bind(citizen)
                .bind(t.now)
                .execute(&mut *tx)
                .await?;
            }
            for (seq, record) in t.records.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO thread_records (thread_id, seq, record) VALUES ($1, $2, $3)",
                )
                .bind(t.id)
                .bind(i64::try_from(seq).unwrap_or(i64::MAX))
                .bind(record)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// A thread by id.
    pub async fn thread(&self, id: &str) -> Result<Option<ThreadRow>, StorageError> {
        let row: Option<ThreadTuple> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT id, org_id, team_id, last_seq, last_activity_ms, journaled_up_to, \
                         journaled_at, hold_since, ",
                thread_case!(),
                " FROM threads t WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(thread_row))
    }

    /// The threads an account may see: those of its teams (staff), those it
    /// takes part in (citizens), or all of its organisation's (record clerks).
    /// Most recent activity first.
    pub async fn visible_threads(
        &self,
        account_id: &str,
        org_id: &str,
        all_of_org: bool,
    ) -> Result<Vec<ThreadRow>, StorageError> {
        let rows: Vec<ThreadTuple> = with_pool!(self, |pool| {
            sqlx::query_as(
                    concat!(
                    "SELECT t.id, t.org_id, t.team_id, t.last_seq, t.last_activity_ms, t.journaled_up_to, \
                     t.journaled_at, t.hold_since, ",
                    thread_case!(),
                    " FROM threads t WHERE t.org_id = $2 AND ($3 \
                       OR t.id IN (SELECT thread_id FROM thread_citizens WHERE account_id = $1) \
                       OR t.team_id IN (SELECT m.team_id FROM team_members m JOIN accounts a \
                            ON a.id = m.account_id WHERE m.account_id = $1 AND a.kind = 'staff')) \
                     ORDER BY t.last_activity_ms DESC, t.id"
                    ),
                )
                .bind(account_id)
                .bind(org_id)
                .bind(all_of_org)
                .fetch_all(pool)
                .await?
        });
        Ok(rows.into_iter().map(thread_row).collect())
    }

    /// The citizens of a thread, with identity level and consent.
    pub async fn thread_citizens(
        &self,
        thread_id: &str,
    ) -> Result<Vec<ThreadCitizenRow>, StorageError> {
        let rows: Vec<(String, String, Option<String>, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT a.id, a.display_name, a.assurance, \
                   (SELECT COUNT(*) FROM consents c WHERE c.account_id = a.id AND c.withdrawn_at IS NULL) \
                 FROM thread_citizens tc JOIN accounts a ON a.id = tc.account_id \
                 WHERE tc.thread_id = $1 ORDER BY tc.added_at, a.id",
            )
            .bind(thread_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(
                |(account_id, display_name, assurance, live)| ThreadCitizenRow {
                    account_id,
                    display_name,
                    assurance: assurance.unwrap_or_else(|| "unverified".into()),
                    consent_withdrawn: live == 0,
                },
            )
            .collect())
    }

    /// The citizens of many threads at once (a thread list of hundreds is
    /// a few queries, not one per thread), by thread id.
    pub async fn citizens_of_threads(
        &self,
        thread_ids: &[String],
    ) -> Result<std::collections::HashMap<String, Vec<ThreadCitizenRow>>, StorageError> {
        let mut out: std::collections::HashMap<String, Vec<ThreadCitizenRow>> =
            std::collections::HashMap::new();
        for chunk in thread_ids.chunks(500) {
            let marks = (1..=chunk.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT tc.thread_id, a.id, a.display_name, a.assurance, \
                   (SELECT COUNT(*) FROM consents c WHERE c.account_id = a.id AND c.withdrawn_at IS NULL) \
                 FROM thread_citizens tc JOIN accounts a ON a.id = tc.account_id \
                 WHERE tc.thread_id IN ({marks}) ORDER BY tc.thread_id, tc.added_at, a.id"
            );
            let rows: Vec<(String, String, String, Option<String>, i64)> =
                with_pool!(self, |pool| {
                    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()));
                    for id in chunk {
                        q = q.bind(id);
                    }
                    q.fetch_all(pool).await?
                });
            for (thread_id, account_id, display_name, assurance, live) in rows {
                out.entry(thread_id).or_default().push(ThreadCitizenRow {
                    account_id,
                    display_name,
                    assurance: assurance.unwrap_or_else(|| "unverified".into()),
                    consent_withdrawn: live == 0,
                });
            }
        }
        Ok(out)
    }

    /// The signed participant log of a thread, in order.
    pub async fn thread_records(&self, thread_id: &str) -> Result<Vec<Vec<u8>>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT record FROM thread_records WHERE thread_id = $1 ORDER BY seq",
            )
            .bind(thread_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Appends a participant record adding a citizen; `false` when another
    /// record took that position first.
    pub async fn add_thread_citizen(
        &self,
        thread_id: &str,
        account_id: &str,
        seq: i64,
        record: &[u8],
        now: i64,
    ) -> Result<bool, StorageError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let n = sqlx::query(
                "INSERT INTO thread_records (thread_id, seq, record) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(thread_id)
            .bind(seq)
            .bind(record)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 0 {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO thread_citizens (thread_id, account_id, added_at) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(thread_id)
            .bind(account_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// The accounts that receive a thread's live traffic: its team's staff
    /// and its citizens.
    pub async fn thread_audience(&self, thread_id: &str) -> Result<Vec<String>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT account_id FROM thread_citizens WHERE thread_id = $1 \
                 UNION SELECT m.account_id FROM team_members m JOIN threads t ON t.team_id = m.team_id \
                   JOIN accounts a ON a.id = m.account_id WHERE t.id = $1 AND a.kind = 'staff'",
            )
            .bind(thread_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Deletes a thread with its messages, receipts and attachments.
    pub async fn delete_thread(&self, thread_id: &str) -> Result<bool, StorageError> {
        let n = with_pool!(self, |pool| {
            sqlx::query("DELETE FROM threads WHERE id = $1")
                .bind(thread_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n == 1)
    }

    // ------------------------------------------------------------- messages

    /// Commits a batch of messages in one transaction: a resent id answers
    /// with its original position, new messages get the next gap-free
    /// sequence numbers of their threads. Either the whole batch commits or
    /// nothing does.
    pub async fn commit_messages(
        &self,
        batch: &[PendingMessage],
        now_ms: i64,
    ) -> Result<Vec<CommitOutcome>, StorageError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                // IMMEDIATE: take the write lock up front, so the read-then-write
                // below never has to upgrade (and fail) under another writer.
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let out = commit_in!(tx, batch, now_ms, "json_each($1)", "?");
                audit_in!(
                    tx,
                    &send_events(batch, &out),
                    now_ms,
                    super::AUDIT_HEAD_SQLITE
                );
                tx.commit().await?;
                Ok(out)
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                let out = commit_in!(tx, batch, now_ms, "json_array_elements_text($1::json)", "$");
                audit_in!(
                    tx,
                    &send_events(batch, &out),
                    now_ms,
                    super::AUDIT_HEAD_POSTGRES
                );
                tx.commit().await?;
                Ok(out)
            }
        }
    }

    /// Messages of a thread after `after_seq`, at most `limit`, in order.
    pub async fn messages_after(
        &self,
        thread_id: &str,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StorageError> {
        let rows = with_pool!(self, |pool| {
            sqlx::query(
                "SELECT seq, message_id, committed_at_ms, envelope FROM messages \
                 WHERE thread_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(thread_id)
            .bind(after_seq)
            .bind(limit)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                Ok(MessageRow {
                    seq: r.try_get("seq")?,
                    message_id: r.try_get("message_id")?,
                    committed_at_ms: r.try_get("committed_at_ms")?,
                    envelope: r.try_get("envelope")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        Ok(rows)
    }

    // ------------------------------------------------------------- receipts

    /// Stores a device's receipt unless it already has one as far along,
    /// and records `audit` in the same transaction when it was stored.
    pub async fn store_receipt(
        &self,
        r: &NewReceipt<'_>,
        audit: &AuditEvent,
        now_ms: i64,
    ) -> Result<bool, StorageError> {
        Ok(write_tx!(self, |tx, head| {
            let n = sqlx::query(
                "INSERT INTO receipts (thread_id, device_id, kind, up_to_seq, receipt, received_at_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (thread_id, device_id, kind) DO UPDATE \
                 SET up_to_seq = excluded.up_to_seq, receipt = excluded.receipt, \
                     received_at_ms = excluded.received_at_ms \
                 WHERE receipts.up_to_seq < excluded.up_to_seq",
            )
            .bind(r.thread_id)
            .bind(r.device_id)
            .bind(r.kind)
            .bind(r.up_to_seq)
            .bind(r.receipt)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                audit_in!(tx, std::slice::from_ref(audit), now_ms, head);
            }
            n == 1
        }))
    }

    /// The latest receipts in a thread.
    pub async fn receipts(&self, thread_id: &str) -> Result<Vec<Vec<u8>>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT receipt FROM receipts WHERE thread_id = $1 ORDER BY device_id, kind",
            )
            .bind(thread_id)
            .fetch_all(pool)
            .await?
        }))
    }

    // ---------------------------------------------------------- attachments

    /// Starts an attachment upload.
    pub async fn begin_attachment(
        &self,
        id: &str,
        thread_id: &str,
        device_id: &str,
        now: i64,
    ) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO attachments (id, thread_id, uploaded_by, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(thread_id)
            .bind(device_id)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Stores one chunk of an upload.
    pub async fn put_attachment_chunk(
        &self,
        id: &str,
        index: i64,
        data: &[u8],
    ) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO attachment_chunks (attachment_id, idx, data) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(index)
            .bind(data)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Marks an upload complete.
    pub async fn finish_attachment(
        &self,
        id: &str,
        size: i64,
        sha256: &[u8],
        now: i64,
    ) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE attachments SET size = $2, sha256 = $3, completed_at = $4 WHERE id = $1",
            )
            .bind(id)
            .bind(size)
            .bind(sha256)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Deletes an attachment and its chunks (a failed upload).
    pub async fn delete_attachment(&self, id: &str) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM attachments WHERE id = $1")
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// An attachment's metadata.
    pub async fn attachment(&self, id: &str) -> Result<Option<AttachmentRow>, StorageError> {
        let row: Option<AttachmentTuple> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, thread_id, size, sha256, completed_at FROM attachments WHERE id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(
            |(id, thread_id, size, sha256, completed_at)| AttachmentRow {
                id,
                thread_id,
                size,
                sha256,
                completed: completed_at.is_some(),
            },
        ))
    }

    /// One chunk of an attachment.
    pub async fn attachment_chunk(
        &self,
        id: &str,
        index: i64,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT data FROM attachment_chunks WHERE attachment_id = $1 AND idx = $2",
            )
            .bind(id)
            .bind(index)
            .fetch_optional(pool)
            .await?
        }))
    }

    // -------------------------------------------------------- notifications

    /// Claims the right to notify `account_id` now: `true` (and recorded)
    /// unless it was notified less than `interval` seconds ago.
    pub async fn claim_notification(
        &self,
        account_id: &str,
        now: i64,
        interval: i64,
    ) -> Result<bool, StorageError> {
        let n = with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO notifications_sent (account_id, last_sent_at) VALUES ($1, $2) \
                 ON CONFLICT (account_id) DO UPDATE SET last_sent_at = excluded.last_sent_at \
                 WHERE notifications_sent.last_sent_at <= $3",
            )
            .bind(account_id)
            .bind(now)
            .bind(now - interval)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }
}

fn holder_row(
    (id, org_id, kind, owner_id, rotation_requested_at): (
        String,
        String,
        String,
        String,
        Option<i64>,
    ),
) -> HolderRow {
    HolderRow {
        id,
        org_id,
        kind,
        owner_id,
        rotation_requested_at,
    }
}

type ThreadTuple = (
    String,
    String,
    String,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

fn thread_row(
    (id, org_id, team_id, last_seq, last_activity_ms, journaled_up_to, journaled_at, hold, case): ThreadTuple,
) -> ThreadRow {
    ThreadRow {
        id,
        org_id,
        team_id,
        last_seq,
        last_activity_ms,
        journaled_up_to,
        journaled_at,
        journaled_case: case,
        on_hold: hold.is_some(),
    }
}

impl Storage {
    /// The newest epoch of the holder of `kind` owned by `owner_id`.
    pub async fn latest_epoch(
        &self,
        kind: &str,
        owner_id: &str,
    ) -> Result<Option<(String, i64)>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT h.id, MAX(e.epoch) FROM holders h JOIN holder_epochs e ON e.holder_id = h.id \
                 WHERE h.kind = $1 AND h.owner_id = $2 GROUP BY h.id",
            )
            .bind(kind)
            .bind(owner_id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Non-revoked devices with this agreement key.
    pub async fn devices_by_agreement_key(
        &self,
        agreement_key: &[u8],
    ) -> Result<Vec<(String, String)>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, account_id FROM devices WHERE agreement_key = $1 AND revoked_at IS NULL",
            )
            .bind(agreement_key)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The thread's highest sequence number now.
    pub async fn thread_last_seq(&self, thread_id: &str) -> Result<Option<i64>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT last_seq FROM threads WHERE id = $1")
                .bind(thread_id)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// The highest sequence number of each of `thread_ids` (one query;
    /// threads that no longer exist are left out).
    pub async fn threads_last_seq(
        &self,
        thread_ids: &[String],
    ) -> Result<Vec<(String, i64)>, StorageError> {
        let ids = serde_json::to_string(thread_ids).unwrap_or_default();
        Ok(match &self.backend {
            Backend::Sqlite(pool) => sqlx::query_as(
                "SELECT id, last_seq FROM threads WHERE id IN (SELECT value FROM json_each(?1))",
            )
            .bind(ids)
            .fetch_all(pool)
            .await?,
            Backend::Postgres(pool) => {
                sqlx::query_as(
                    "SELECT id, last_seq FROM threads \
                     WHERE id IN (SELECT value FROM json_array_elements_text($1::json))",
                )
                .bind(ids)
                .fetch_all(pool)
                .await?
            }
        })
    }

    /// Whether two citizens take part in a common thread.
    pub async fn share_a_thread(&self, a: &str, b: &str) -> Result<bool, StorageError> {
        let n: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM thread_citizens x JOIN thread_citizens y \
                 ON x.thread_id = y.thread_id WHERE x.account_id = $1 AND y.account_id = $2",
            )
            .bind(a)
            .bind(b)
            .fetch_one(pool)
            .await?
        });
        Ok(n > 0)
    }

    /// Whether staff account `staff` is in a team with citizen `citizen`.
    pub async fn staff_shares_team_with(
        &self,
        staff: &str,
        citizen: &str,
    ) -> Result<bool, StorageError> {
        let n: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM team_members x JOIN team_members y ON x.team_id = y.team_id \
                 WHERE x.account_id = $1 AND y.account_id = $2",
            )
            .bind(staff)
            .bind(citizen)
            .fetch_one(pool)
            .await?
        });
        Ok(n > 0)
    }
}

impl Storage {
    /// Live staff accounts of an organisation with the admin role.
    pub async fn admins(&self, org_id: &str) -> Result<Vec<String>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT id FROM accounts WHERE org_id = $1 AND kind = 'staff' \
                 AND disabled_at IS NULL AND (roles / 4) % 2 = 1 ORDER BY id",
            )
            .bind(org_id)
            .fetch_all(pool)
            .await?
        }))
    }
}

impl Storage {
    /// How many attachment chunks are stored (for operators and tests).
    pub async fn attachment_chunk_count(&self) -> Result<i64, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM attachment_chunks")
                .fetch_one(pool)
                .await?
        }))
    }
}

impl Storage {
    /// Removes a staff member from a team and marks the team's key holder
    /// due for a new epoch; `false` when they were not a member.
    pub async fn remove_team_member(
        &self,
        team_id: &str,
        account_id: &str,
        now: i64,
    ) -> Result<bool, StorageError> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin().await?;
            let removed =
                sqlx::query("DELETE FROM team_members WHERE team_id = $1 AND account_id = $2")
                    .bind(team_id)
                    .bind(account_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if removed == 0 {
                return Ok(false);
            }
            sqlx::query(
                "UPDATE holders SET rotation_requested_at = $1 WHERE kind = 'team' AND owner_id = $2",
            )
            .bind(now)
            .bind(team_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(true)
        })
    }
}
