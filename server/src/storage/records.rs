//! Queries for records: the audit log, journal receipts, holds, retention
//! policies and the purge itself. Every change here writes its audit entry
//! in the same transaction, so the log and the data never disagree.

use sqlx::Row;

use super::{Backend, Storage, StorageError};
use crate::audit::{Action, AuditEntry, AuditEvent, Detail};

/// Which audit entries to read.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only entries about this object (thread, account, team, device id).
    pub subject: Option<String>,
    /// Only entries by this account (or `system`).
    pub actor: Option<String>,
    /// Only entries about this account or by it (subject or actor): all an
    /// access request or an investigation about one person needs.
    pub account: Option<String>,
    /// Only entries of this organisation.
    pub org_id: Option<String>,
    /// From this time on (Unix ms, inclusive).
    pub since_ms: Option<i64>,
    /// Before this time (Unix ms, exclusive).
    pub until_ms: Option<i64>,
}

/// A journal receipt to store.
#[derive(Debug, Clone)]
pub struct NewJournalReceipt<'a> {
    pub id: &'a str,
    pub thread_id: &'a str,
    pub case_ref: &'a str,
    pub kle: Option<&'a str>,
    pub up_to_seq: i64,
    pub manifest_sha256: &'a [u8],
    pub clerk_account_id: &'a str,
    pub clerk_device_id: &'a str,
    pub now: i64,
}

/// A stored journal receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    pub id: String,
    pub case_ref: String,
    pub kle: Option<String>,
    pub up_to_seq: i64,
    pub manifest_sha256: Vec<u8>,
    pub clerk_account_id: String,
    pub clerk_device_id: String,
    pub journaled_at: i64,
}

/// How filing a journal receipt went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalOutcome {
    /// Stored; the thread is journaled up to the receipt's sequence number.
    Filed,
    /// The thread has fewer messages than the receipt claims.
    BeyondEnd { last_seq: i64 },
    /// The thread is gone.
    NoThread,
}

/// A team's retention policy, in days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionRow {
    /// Messages are deleted this many days after they were journaled.
    pub journaled_days: i64,
    /// Messages never journaled are deleted at this age.
    pub unjournaled_days: i64,
}

/// What one purge run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PurgeReport {
    /// Threads deleted whole.
    pub threads_deleted: u64,
    /// Messages deleted (including those of deleted threads).
    pub messages_deleted: u64,
    /// Attachments deleted (including those of deleted threads).
    pub attachments_deleted: u64,
    /// Receipts deleted (including those of deleted threads).
    pub receipts_deleted: u64,
    /// Threads that were due but are on hold.
    pub threads_on_hold: u64,
    /// Another node's purge was running (PostgreSQL): this one did nothing.
    pub another_purge_running: bool,
}

/// The PostgreSQL advisory lock key that lets one purge run at a time
/// across nodes ("samtale-purge" folded into 63 bits).
pub const PURGE_LOCK: i64 = 0x5341_4d54_5055_5247;

/// An upload belongs to a message sent within this long after it. The
/// server cannot see which (the reference is inside the envelope), so an
/// attachment is kept while any kept message was sent that soon after it.
const ATTACHMENT_WINDOW_MS: i64 = 60_000;

const DAY_MS: i64 = 86_400_000;

type PurgeCandidate = (
    String,
    String,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
    i64,
);

/// Purges one thread inside `$tx` and evaluates to its [`PurgeReport`].
/// The hold is checked again under the transaction: a hold set since the
/// candidates were read wins.
macro_rules! purge_thread {
    ($tx:ident, $head:ident, $thread:expr, $org:expr, $whole:expr, $due_up_to:expr,
     $journaled:expr, $before_ms:expr, $now_ms:expr) => {{
        let thread: &str = $thread;
        let mut one = PurgeReport::default();
        let held: Option<Option<i64>> =
            sqlx::query_scalar("SELECT hold_since FROM threads WHERE id = $1")
                .bind(thread)
                .fetch_optional(&mut *$tx)
                .await?;
        match held {
            None => {}
            Some(Some(_)) => one.threads_on_hold = 1,
            Some(None) => {
                let (messages, attachments, receipts): (i64, i64, i64) = if $whole {
                    let counts: (i64, i64, i64) = sqlx::query_as(
                        "SELECT (SELECT COUNT(*) FROM messages WHERE thread_id = $1), \
                         (SELECT COUNT(*) FROM attachments WHERE thread_id = $1), \
                         (SELECT COUNT(*) FROM receipts WHERE thread_id = $1)",
                    )
                    .bind(thread)
                    .fetch_one(&mut *$tx)
                    .await?;
                    // Cascades to participants, records, messages, receipts,
                    // attachments and their chunks, and journal receipts.
                    sqlx::query("DELETE FROM threads WHERE id = $1")
                        .bind(thread)
                        .execute(&mut *$tx)
                        .await?;
                    one.threads_deleted = 1;
                    counts
                } else {
                    let newest: Option<i64> = sqlx::query_scalar(
                        "SELECT MAX(committed_at_ms) FROM messages WHERE thread_id = $1 \
                         AND (seq <= $2 OR (seq > $3 AND committed_at_ms <= $4))",
                    )
                    .bind(thread)
                    .bind($due_up_to)
                    .bind($journaled)
                    .bind($before_ms)
                    .fetch_one(&mut *$tx)
                    .await?;
                    sqlx::query(
                        "INSERT INTO removed_messages (thread_id, seq, reason, removed_at) \
                         SELECT thread_id, seq, 'retention', $5 FROM messages WHERE thread_id = $1 \
                         AND (seq <= $2 OR (seq > $3 AND committed_at_ms <= $4))",
                    )
                    .bind(thread)
                    .bind($due_up_to)
                    .bind($journaled)
                    .bind($before_ms)
                    .bind($now_ms / 1000)
                    .execute(&mut *$tx)
                    .await?;
                    let messages = sqlx::query(
                        "DELETE FROM messages WHERE thread_id = $1 \
                         AND (seq <= $2 OR (seq > $3 AND committed_at_ms <= $4))",
                    )
                    .bind(thread)
                    .bind($due_up_to)
                    .bind($journaled)
                    .bind($before_ms)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected();
                    // A receipt acknowledges everything up to its position:
                    // it goes when no message up to there is left.
                    let receipts = sqlx::query(
                        "DELETE FROM receipts WHERE thread_id = $1 AND NOT EXISTS \
                         (SELECT 1 FROM messages m WHERE m.thread_id = $1 \
                          AND m.seq <= receipts.up_to_seq)",
                    )
                    .bind(thread)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected();
                    // An attachment goes with the messages deleted around
                    // it: uploaded before the newest of them was sent, and
                    // no kept message sent within a minute after the upload
                    // (which would be the one it belongs to).
                    let attachments = match newest {
                        Some(newest) => sqlx::query(
                            "DELETE FROM attachments WHERE thread_id = $1 \
                             AND created_at * 1000 <= $2 AND NOT EXISTS \
                             (SELECT 1 FROM messages m WHERE m.thread_id = $1 \
                              AND m.committed_at_ms >= attachments.created_at * 1000 \
                              AND m.committed_at_ms <= attachments.created_at * 1000 + $3)",
                        )
                        .bind(thread)
                        .bind(newest)
                        .bind(ATTACHMENT_WINDOW_MS)
                        .execute(&mut *$tx)
                        .await?
                        .rows_affected(),
                        None => 0,
                    };
                    (
                        i64::try_from(messages).unwrap_or(i64::MAX),
                        i64::try_from(attachments).unwrap_or(i64::MAX),
                        i64::try_from(receipts).unwrap_or(i64::MAX),
                    )
                };
                one.messages_deleted = u64::try_from(messages).unwrap_or(0);
                one.attachments_deleted = u64::try_from(attachments).unwrap_or(0);
                one.receipts_deleted = u64::try_from(receipts).unwrap_or(0);
                if messages + attachments + receipts > 0 || one.threads_deleted == 1 {
                    let action = if one.threads_deleted == 1 {
                        Action::RetentionThreadDelete
                    } else {
                        Action::RetentionPurge
                    };
                    let event = AuditEvent::system(action, Some(thread)).org($org).detail(
                        Detail::none()
                            .number("messages", messages)
                            .number("attachments", attachments)
                            .number("receipts", receipts)
                            .number("journaled_up_to", $journaled),
                    );
                    audit_in!($tx, std::slice::from_ref(&event), $now_ms, $head);
                }
            }
        }
        one
    }};
}

impl Storage {
    // ------------------------------------------------------------ audit log

    /// Appends events to the audit log in one transaction.
    pub async fn audit(&self, events: &[AuditEvent], now_ms: i64) -> Result<(), StorageError> {
        write_tx!(self, |tx, head| {
            audit_in!(tx, events, now_ms, head);
        });
        Ok(())
    }

    /// The chain's head: the last index and its hash.
    pub async fn audit_head(&self) -> Result<(i64, Vec<u8>), StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as("SELECT idx, hash FROM audit_head WHERE one = 1")
                .fetch_one(pool)
                .await?
        }))
    }

    /// Up to `limit` entries after `after_idx` that match `filter`, in order.
    pub async fn audit_entries(
        &self,
        filter: &AuditFilter,
        after_idx: i64,
        limit: i64,
    ) -> Result<Vec<AuditEntry>, StorageError> {
        let sql = "SELECT idx, at_ms, org_id, actor, device_id, action, subject, detail, \
                   prev_hash, hash FROM audit_log WHERE idx > $1 \
                   AND ($2 IS NULL OR subject = $2) AND ($3 IS NULL OR actor = $3) \
                   AND ($4 IS NULL OR org_id = $4) AND ($5 IS NULL OR at_ms >= $5) \
                   AND ($6 IS NULL OR at_ms < $6) \
                   AND ($8 IS NULL OR subject = $8 OR actor = $8) ORDER BY idx LIMIT $7";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, AuditEntry>(sql)
                .bind(after_idx)
                .bind(filter.subject.as_deref())
                .bind(filter.actor.as_deref())
                .bind(filter.org_id.as_deref())
                .bind(filter.since_ms)
                .bind(filter.until_ms)
                .bind(limit)
                .bind(filter.account.as_deref())
                .fetch_all(pool)
                .await?
        }))
    }

    // ------------------------------------------------------ journal receipts

    /// Records that a clerk filed a thread on a case up to a sequence
    /// number. The thread's journaled position only moves forward.
    pub async fn file_journal(
        &self,
        r: &NewJournalReceipt<'_>,
        audit: &AuditEvent,
        now_ms: i64,
    ) -> Result<JournalOutcome, StorageError> {
        Ok(write_tx!(self, |tx, head| {
            let last: Option<i64> =
                sqlx::query_scalar("SELECT last_seq FROM threads WHERE id = $1")
                    .bind(r.thread_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            match last {
                None => JournalOutcome::NoThread,
                Some(last_seq) if r.up_to_seq > last_seq => JournalOutcome::BeyondEnd { last_seq },
                Some(_) => {
                    sqlx::query(
                        "INSERT INTO journal_receipts (id, thread_id, case_ref, kle, up_to_seq, \
                         manifest_sha256, clerk_account_id, clerk_device_id, journaled_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    )
                    .bind(r.id)
                    .bind(r.thread_id)
                    .bind(r.case_ref)
                    .bind(r.kle)
                    .bind(r.up_to_seq)
                    .bind(r.manifest_sha256)
                    .bind(r.clerk_account_id)
                    .bind(r.clerk_device_id)
                    .bind(r.now)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query(
                        "UPDATE threads SET journaled_at = $2, journaled_up_to = $3 \
                         WHERE id = $1 AND (journaled_up_to IS NULL OR journaled_up_to <= $3)",
                    )
                    .bind(r.thread_id)
                    .bind(r.now)
                    .bind(r.up_to_seq)
                    .execute(&mut *tx)
                    .await?;
                    audit_in!(tx, std::slice::from_ref(audit), now_ms, head);
                    JournalOutcome::Filed
                }
            }
        }))
    }

    /// A thread's journal receipts, oldest first.
    pub async fn journal_receipts(&self, thread_id: &str) -> Result<Vec<JournalRow>, StorageError> {
        let rows = with_pool!(self, |pool| {
            sqlx::query(
                "SELECT id, case_ref, kle, up_to_seq, manifest_sha256, clerk_account_id, \
                 clerk_device_id, journaled_at FROM journal_receipts WHERE thread_id = $1 \
                 ORDER BY journaled_at, up_to_seq, id",
            )
            .bind(thread_id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| {
                Ok(JournalRow {
                    id: r.try_get("id")?,
                    case_ref: r.try_get("case_ref")?,
                    kle: r.try_get("kle")?,
                    up_to_seq: r.try_get("up_to_seq")?,
                    manifest_sha256: r.try_get("manifest_sha256")?,
                    clerk_account_id: r.try_get("clerk_account_id")?,
                    clerk_device_id: r.try_get("clerk_device_id")?,
                    journaled_at: r.try_get("journaled_at")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        Ok(rows)
    }

    // ---------------------------------------------------------------- holds

    /// The organisation's threads on hold: (thread, team, since, by), the
    /// oldest hold first.
    pub async fn holds(
        &self,
        org_id: &str,
    ) -> Result<Vec<(String, String, i64, Option<String>)>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT id, team_id, hold_since, hold_by FROM threads \
                 WHERE org_id = $1 AND hold_since IS NOT NULL ORDER BY hold_since, id",
            )
            .bind(org_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Sets (`Some(by)`) or releases (`None`) a thread's hold. `false` if
    /// the thread was already in that state.
    pub async fn set_hold(
        &self,
        thread_id: &str,
        by: Option<&str>,
        audit: &AuditEvent,
        now: i64,
        now_ms: i64,
    ) -> Result<bool, StorageError> {
        Ok(write_tx!(self, |tx, head| {
            let n = match by {
                Some(by) => sqlx::query(
                    "UPDATE threads SET hold_since = $2, hold_by = $3 \
                     WHERE id = $1 AND hold_since IS NULL",
                )
                .bind(thread_id)
                .bind(now)
                .bind(by),
                None => sqlx::query(
                    "UPDATE threads SET hold_since = NULL, hold_by = NULL \
                     WHERE id = $1 AND hold_since IS NOT NULL",
                )
                .bind(thread_id),
            }
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if n == 1 {
                audit_in!(tx, std::slice::from_ref(audit), now_ms, head);
            }
            n == 1
        }))
    }

    // ------------------------------------------------------------ retention

    /// A team's retention policy.
    pub async fn team_retention(
        &self,
        team_id: &str,
    ) -> Result<Option<RetentionRow>, StorageError> {
        let row: Option<(i64, i64)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT retain_journaled_days, retain_unjournaled_days FROM teams WHERE id = $1",
            )
            .bind(team_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(journaled_days, unjournaled_days)| RetentionRow {
            journaled_days,
            unjournaled_days,
        }))
    }

    /// Sets a team's retention policy.
    pub async fn set_team_retention(
        &self,
        team_id: &str,
        policy: RetentionRow,
        audit: &AuditEvent,
        now_ms: i64,
    ) -> Result<(), StorageError> {
        write_tx!(self, |tx, head| {
            sqlx::query(
                "UPDATE teams SET retain_journaled_days = $2, retain_unjournaled_days = $3 \
                 WHERE id = $1",
            )
            .bind(team_id)
            .bind(policy.journaled_days)
            .bind(policy.unjournaled_days)
            .execute(&mut *tx)
            .await?;
            audit_in!(tx, std::slice::from_ref(audit), now_ms, head);
        });
        Ok(())
    }

    /// Deletes what the teams' retention policies say is due at `now`:
    ///
    /// * messages journaled at least `journaled_days` ago;
    /// * messages never journaled that are `unjournaled_days` old;
    /// * the receipts that only acknowledge deleted messages, and the
    ///   attachments uploaded before the deleted messages were sent;
    /// * whole threads with nothing left to keep and no activity for
    ///   `unjournaled_days` (participants, records, everything).
    ///
    /// Threads on hold are left alone. Each thread is purged in its own
    /// transaction with its audit entry. Then the freed space is reclaimed:
    /// SQLite (secure delete on) vacuums incrementally and truncates its
    /// write-ahead log, so the bytes leave the files; PostgreSQL vacuums.
    pub async fn purge(&self, now: i64, now_ms: i64) -> Result<PurgeReport, StorageError> {
        // Several nodes on one PostgreSQL database: one purge at a time (a
        // session lock held on one connection for the whole run).
        let Backend::Postgres(pool) = &self.backend else {
            return self.purge_now(now, now_ms).await;
        };
        let mut lock = pool.acquire().await?;
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(PURGE_LOCK)
            .fetch_one(&mut *lock)
            .await?;
        if !got {
            return Ok(PurgeReport {
                another_purge_running: true,
                ..PurgeReport::default()
            });
        }
        let result = self.purge_now(now, now_ms).await;
        let unlocked = sqlx::query_scalar::<_, bool>("SELECT pg_advisory_unlock($1)")
            .bind(PURGE_LOCK)
            .fetch_one(&mut *lock)
            .await;
        if !matches!(unlocked, Ok(true)) {
            // Closing the connection ends its session, and the lock with it.
            drop(lock.detach());
        }
        result
    }

    async fn purge_now(&self, now: i64, now_ms: i64) -> Result<PurgeReport, StorageError> {
        let mut report = PurgeReport::default();
        // Threads with something possibly due: journaled long enough ago, or
        // created before the unjournaled limit.
        let candidates: Vec<PurgeCandidate> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT t.id, t.org_id, t.last_activity_ms, t.journaled_up_to, t.journaled_at, \
                 t.hold_since, tm.retain_journaled_days, tm.retain_unjournaled_days \
                 FROM threads t JOIN teams tm ON tm.id = t.team_id \
                 WHERE (t.journaled_at IS NOT NULL AND t.journaled_at <= $1 - tm.retain_journaled_days * 86400) \
                    OR t.created_at <= $1 - tm.retain_unjournaled_days * 86400 \
                 ORDER BY t.id",
            )
            .bind(now)
            .fetch_all(pool)
            .await?
        });
        for (thread_id, org_id, last_activity_ms, journaled_up_to, journaled_at, hold, jd, ud) in
            candidates
        {
            if hold.is_some() {
                report.threads_on_hold += 1;
                continue;
            }
            let journaled_due = journaled_at.is_some_and(|at| at <= now - jd * 86_400);
            // Messages up to `due_up_to` go now; those after `journaled` (never
            // journaled) go at the unjournaled age.
            let journaled = journaled_up_to.unwrap_or(0);
            let due_up_to = if journaled_due { journaled } else { 0 };
            let unjournaled_before_ms = now_ms - ud * DAY_MS;
            let whole = last_activity_ms <= unjournaled_before_ms
                && (journaled_at.is_none() || journaled_due);
            let one = write_tx!(self, |tx, head| {
                purge_thread!(
                    tx,
                    head,
                    &thread_id,
                    &org_id,
                    whole,
                    due_up_to,
                    journaled,
                    unjournaled_before_ms,
                    now_ms
                )
            });
            report.threads_deleted += one.threads_deleted;
            report.messages_deleted += one.messages_deleted;
            report.attachments_deleted += one.attachments_deleted;
            report.receipts_deleted += one.receipts_deleted;
            report.threads_on_hold += one.threads_on_hold;
        }
        if report.messages_deleted + report.attachments_deleted + report.threads_deleted > 0 {
            self.reclaim().await?;
        }
        Ok(report)
    }

    /// Makes deleted rows' bytes leave the database files.
    pub async fn reclaim(&self) -> Result<(), StorageError> {
        match &self.backend {
            Backend::Sqlite(pool) => {
                let mut conn = pool.acquire().await?;
                sqlx::query("PRAGMA incremental_vacuum")
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                    .execute(&mut *conn)
                    .await?;
            }
            Backend::Postgres(pool) => {
                sqlx::raw_sql(
                    "VACUUM messages, receipts, attachments, attachment_chunks, threads, \
                     thread_records, thread_citizens, journal_receipts",
                )
                .execute(pool)
                .await?;
            }
        }
        Ok(())
    }
}

/// What the server holds about a citizen beyond their account and devices
/// (for their access export).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessRows {
    /// (version, text_sha256, accepted_at, withdrawn_at).
    pub consents: Vec<(String, String, i64, Option<i64>)>,
    /// The eID broker that verified them, if one did, and its subject id.
    pub identity: Option<(Option<String>, Option<String>)>,
    /// (team_id, created_at, redeemed_at) of invitations they redeemed.
    pub invitations: Vec<(String, i64, Option<i64>)>,
}

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErasureReport {
    /// Threads deleted whole (the citizen was their only citizen).
    pub threads_deleted: i64,
    /// Threads the citizen was removed from (others take part).
    pub threads_left: i64,
    /// Their messages deleted (in all threads).
    pub messages_deleted: i64,
    /// Their devices deleted, with keys, sessions and grants.
    pub devices_deleted: i64,
}

/// Why an erasure did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErasureOutcome {
    /// Erased.
    Erased(ErasureReport),
    /// Some of their threads are on hold: nothing was erased.
    OnHold(Vec<String>),
    /// No such citizen in the organisation.
    NotFound,
}

/// Erases a citizen inside `$tx` (see [`Storage::erase_citizen`]).
macro_rules! erase_in {
    ($tx:ident, $head:ident, $account:expr, $org:expr, $audit:expr, $now_ms:expr) => {{
        let account: &str = $account;
        let found: Option<String> = sqlx::query_scalar(
            "SELECT id FROM accounts WHERE id = $1 AND org_id = $2 AND kind = 'citizen'",
        )
        .bind(account)
        .bind($org)
        .fetch_optional(&mut *$tx)
        .await?;
        if found.is_none() {
            ErasureOutcome::NotFound
        } else {
            let threads: Vec<(String, Option<i64>, i64)> = sqlx::query_as(
                "SELECT t.id, t.hold_since, \
                 (SELECT COUNT(*) FROM thread_citizens o WHERE o.thread_id = t.id) \
                 FROM threads t JOIN thread_citizens c ON c.thread_id = t.id \
                 WHERE c.account_id = $1 ORDER BY t.id",
            )
            .bind(account)
            .fetch_all(&mut *$tx)
            .await?;
            let held: Vec<String> = threads
                .iter()
                .filter(|(_, hold, _)| hold.is_some())
                .map(|(id, _, _)| id.clone())
                .collect();
            if !held.is_empty() {
                ErasureOutcome::OnHold(held)
            } else {
                let mut report = ErasureReport::default();
                for (thread, _, citizens) in &threads {
                    if *citizens <= 1 {
                        let n: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM messages WHERE thread_id = $1",
                        )
                        .bind(thread)
                        .fetch_one(&mut *$tx)
                        .await?;
                        sqlx::query("DELETE FROM threads WHERE id = $1")
                            .bind(thread)
                            .execute(&mut *$tx)
                            .await?;
                        report.threads_deleted += 1;
                        report.messages_deleted += n;
                    } else {
                        sqlx::query("DELETE FROM thread_citizens WHERE thread_id = $1 AND account_id = $2")
                            .bind(thread)
                            .bind(account)
                            .execute(&mut *$tx)
                            .await?;
                        report.threads_left += 1;
                    }
                }
                // Their messages in the threads that go on: recorded as
                // removed (so the gaps are declared), then deleted.
                sqlx::query(
                    "INSERT INTO removed_messages (thread_id, seq, reason, removed_at) \
                     SELECT thread_id, seq, 'erasure', $2 FROM messages WHERE sender_device_id \
                     IN (SELECT id FROM devices WHERE account_id = $1)",
                )
                .bind(account)
                .bind($now_ms / 1000)
                .execute(&mut *$tx)
                .await?;
                let messages = sqlx::query(
                    "DELETE FROM messages WHERE sender_device_id IN \
                     (SELECT id FROM devices WHERE account_id = $1)",
                )
                .bind(account)
                .execute(&mut *$tx)
                .await?
                .rows_affected();
                report.messages_deleted += i64::try_from(messages).unwrap_or(i64::MAX);
                // Their citizen key: grants of it, its epochs, the holder; and
                // every grant to or from their devices.
                for sql in [
                    "DELETE FROM receipts WHERE device_id IN \
                     (SELECT id FROM devices WHERE account_id = $1)",
                    "DELETE FROM attachments WHERE uploaded_by IN \
                     (SELECT id FROM devices WHERE account_id = $1)",
                    "DELETE FROM grants WHERE holder_id IN \
                     (SELECT id FROM holders WHERE kind = 'citizen' AND owner_id = $1)",
                    "DELETE FROM grants WHERE device_id IN (SELECT id FROM devices WHERE account_id = $1) \
                     OR granted_by IN (SELECT id FROM devices WHERE account_id = $1)",
                    "DELETE FROM holder_epochs WHERE holder_id IN \
                     (SELECT id FROM holders WHERE kind = 'citizen' AND owner_id = $1)",
                    "DELETE FROM holders WHERE kind = 'citizen' AND owner_id = $1",
                    "DELETE FROM refresh_tokens WHERE session_id IN (SELECT s.id FROM sessions s \
                     JOIN devices d ON d.id = s.device_id WHERE d.account_id = $1)",
                    "DELETE FROM sessions WHERE device_id IN (SELECT id FROM devices WHERE account_id = $1)",
                    // Unredeemed invitations for the same person go too.
                    "DELETE FROM invitations WHERE redeemed_by = $1 OR national_id_hmac IN \
                     (SELECT national_id_hmac FROM citizen_identities WHERE account_id = $1)",
                    "DELETE FROM citizen_identities WHERE account_id = $1",
                    "DELETE FROM consents WHERE account_id = $1",
                    "DELETE FROM notifications_sent WHERE account_id = $1",
                    "DELETE FROM team_members WHERE account_id = $1",
                    // Their signed device list (log 3).
                    "DELETE FROM membership_records WHERE log = 3 AND subject = $1",
                ] {
                    sqlx::query(sql).bind(account).execute(&mut *$tx).await?;
                }
                let devices = sqlx::query("DELETE FROM devices WHERE account_id = $1")
                    .bind(account)
                    .execute(&mut *$tx)
                    .await?
                    .rows_affected();
                report.devices_deleted = i64::try_from(devices).unwrap_or(i64::MAX);
                sqlx::query("DELETE FROM accounts WHERE id = $1")
                    .bind(account)
                    .execute(&mut *$tx)
                    .await?;
                let event: AuditEvent = $audit.detail(
                    Detail::none()
                        .number("threads_deleted", report.threads_deleted)
                        .number("threads_left", report.threads_left)
                        .number("messages", report.messages_deleted)
                        .number("devices", report.devices_deleted),
                );
                audit_in!($tx, std::slice::from_ref(&event), $now_ms, $head);
                ErasureOutcome::Erased(report)
            }
        }
    }};
}

impl Storage {
    /// Erases a citizen: their account, national-id hash, eID link,
    /// consents, invitations, devices with their keys, sessions and grants,
    /// their citizen key, their messages, receipts and attachments, and the
    /// threads where they were the only citizen. Threads with other citizens
    /// keep going without them. Refused, erasing nothing, while any of their
    /// threads is on hold. The audit log keeps its content-free entries.
    pub async fn erase_citizen(
        &self,
        account_id: &str,
        org_id: &str,
        audit: AuditEvent,
        now_ms: i64,
    ) -> Result<ErasureOutcome, StorageError> {
        let outcome = write_tx!(self, |tx, head| {
            erase_in!(tx, head, account_id, org_id, audit, now_ms)
        });
        if matches!(outcome, ErasureOutcome::Erased(_)) {
            self.reclaim().await?;
        }
        Ok(outcome)
    }

    /// What the server holds about a citizen besides account, devices and
    /// threads (for their access export).
    pub async fn access_rows(&self, account_id: &str) -> Result<AccessRows, StorageError> {
        Ok(with_pool!(self, |pool| {
            let consents = sqlx::query_as(
                "SELECT version, text_sha256, accepted_at, withdrawn_at FROM consents \
                 WHERE account_id = $1 ORDER BY accepted_at",
            )
            .bind(account_id)
            .fetch_all(pool)
            .await?;
            let identity = sqlx::query_as(
                "SELECT issuer, subject FROM citizen_identities WHERE account_id = $1",
            )
            .bind(account_id)
            .fetch_optional(pool)
            .await?;
            let invitations = sqlx::query_as(
                "SELECT team_id, created_at, redeemed_at FROM invitations \
                 WHERE redeemed_by = $1 ORDER BY created_at",
            )
            .bind(account_id)
            .fetch_all(pool)
            .await?;
            AccessRows {
                consents,
                identity,
                invitations,
            }
        }))
    }
}

impl Storage {
    /// A thread's deliberately deleted messages as (first, last, reason)
    /// ranges, in order.
    pub async fn removed_ranges(
        &self,
        thread_id: &str,
    ) -> Result<Vec<(i64, i64, String)>, StorageError> {
        let rows: Vec<(i64, String)> = with_pool!(self, |pool| {
            sqlx::query_as(
                "SELECT seq, reason FROM removed_messages WHERE thread_id = $1 ORDER BY seq",
            )
            .bind(thread_id)
            .fetch_all(pool)
            .await?
        });
        let mut out: Vec<(i64, i64, String)> = Vec::new();
        for (seq, reason) in rows {
            match out.last_mut() {
                Some(last) if last.1 + 1 == seq && last.2 == reason => last.1 = seq,
                _ => out.push((seq, seq, reason)),
            }
        }
        Ok(out)
    }
}
