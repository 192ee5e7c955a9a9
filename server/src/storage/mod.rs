//! The one storage interface. Every database access goes through
//! [`Storage`], which has two implementations behind it: SQLite (one node,
//! the default) and PostgreSQL (many nodes). Both run the same migrations'
//! intent from `migrations/<dialect>/` and the same test suite.

#[macro_use]
mod macros {
    /// Runs `$body` with `$pool` bound to the configured pool. The body is
    /// compiled once per backend, so each gets its own statically typed code.
    macro_rules! with_pool {
        ($storage:expr, |$pool:ident| $body:expr) => {
            match &$storage.backend {
                Backend::Sqlite($pool) => $body,
                Backend::Postgres($pool) => $body,
            }
        };
    }

    /// Runs `$body` (which may use `?`) in a write transaction `$tx` on
    /// either backend and commits it; `$head` is bound to the dialect's
    /// audit-head query for the body's `audit_in!`. SQLite's transaction
    /// starts IMMEDIATE, so a read-then-write in it never has to upgrade
    /// its lock under another writer.
    macro_rules! write_tx {
        ($storage:expr, |$tx:ident, $head:ident| $body:expr) => {
            match &$storage.backend {
                Backend::Sqlite(pool) => {
                    let mut $tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                    let $head = crate::storage::AUDIT_HEAD_SQLITE;
                    let out = $body;
                    $tx.commit().await?;
                    out
                }
                Backend::Postgres(pool) => {
                    let mut $tx = pool.begin().await?;
                    let $head = crate::storage::AUDIT_HEAD_POSTGRES;
                    let out = $body;
                    $tx.commit().await?;
                    out
                }
            }
        };
    }

    /// Appends audit events inside the open transaction `$tx`, continuing
    /// the chain from its head. `$head_sql` reads the head (PostgreSQL adds
    /// `FOR UPDATE`, so appends from many nodes queue on the head row; an
    /// SQLite transaction that writes is already the only writer).
    macro_rules! audit_in {
        ($tx:ident, $events:expr, $now_ms:expr, $head_sql:expr) => {{
            let events: &[crate::audit::AuditEvent] = $events;
            if !events.is_empty() {
                let head_sql: &str = $head_sql;
                // `?N` on SQLite (a named `$N` makes every bind a search).
                let p = if head_sql == crate::storage::AUDIT_HEAD_SQLITE {
                    "?"
                } else {
                    "$"
                };
                let (mut idx, mut prev): (i64, Vec<u8>) =
                    sqlx::query_as(head_sql).fetch_one(&mut *$tx).await?;
                // Rows are hashed in order, then written 50 to a statement
                // (10 parameters each): a group commit of hundreds of
                // messages costs a few statements, not one per entry.
                let mut rows = Vec::with_capacity(events.len());
                for e in events {
                    idx += 1;
                    let detail = e.detail.to_json();
                    let hash = crate::audit::entry_hash(
                        &prev,
                        &crate::audit::EntryFields {
                            idx,
                            at_ms: $now_ms,
                            org_id: e.org_id.as_deref(),
                            actor: &e.actor,
                            device_id: e.device_id.as_deref(),
                            action: e.action.as_str(),
                            subject: e.subject.as_deref(),
                            detail: &detail,
                        },
                    );
                    rows.push((idx, e, detail, std::mem::replace(&mut prev, hash.to_vec())));
                }
                let mut hashes = Vec::with_capacity(rows.len());
                for (k, row) in rows.iter().enumerate() {
                    let next = rows.get(k + 1).map_or(&prev, |r| &r.3);
                    hashes.push((row, next.clone()));
                }
                for chunk in hashes.chunks(50) {
                    let mut sql = String::from(
                        "INSERT INTO audit_log (idx, at_ms, org_id, actor, device_id, action, \
                         subject, detail, prev_hash, hash) VALUES ",
                    );
                    for k in 0..chunk.len() {
                        let b = k * 10;
                        if k > 0 {
                            sql.push_str(", ");
                        }
                        sql.push('(');
                        for c in 1..=10 {
                            if c > 1 {
                                sql.push_str(", ");
                            }
                            sql.push_str(p);
                            sql.push_str(&(b + c).to_string());
                        }
                        sql.push(')');
                    }
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for ((idx, e, detail, prev_hash), hash) in chunk {
                        query = query
                            .bind(*idx)
                            .bind($now_ms)
                            .bind(e.org_id.as_deref())
                            .bind(&e.actor)
                            .bind(e.device_id.as_deref())
                            .bind(e.action.as_str())
                            .bind(e.subject.as_deref())
                            .bind(detail)
                            .bind(prev_hash)
                            .bind(hash);
                    }
                    query.execute(&mut *$tx).await?;
                }
                sqlx::query("UPDATE audit_head SET idx = $1, hash = $2 WHERE one = 1")
                    .bind(idx)
                    .bind(&prev)
                    .execute(&mut *$tx)
                    .await?;
            }
        }};
    }
}

/// Reads the audit chain's head (SQLite).
pub(crate) const AUDIT_HEAD_SQLITE: &str = "SELECT idx, hash FROM audit_head WHERE one = 1";
/// Reads and locks the audit chain's head (PostgreSQL).
pub(crate) const AUDIT_HEAD_POSTGRES: &str =
    "SELECT idx, hash FROM audit_head WHERE one = 1 FOR UPDATE";

pub mod accounts;
mod backup;
pub mod eid;
pub mod limits;
pub mod logs;
pub mod messaging;
mod postgres;
pub mod records;
mod sqlite;
pub mod templates;

use sqlx::{PgPool, SqlitePool};

use crate::config::DatabaseSettings;

/// PostgreSQL connections per node unless configured
/// (`database_max_connections`).
pub const DEFAULT_POOL: u32 = 16;

/// Why a storage operation failed. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database file could not be created or made private.
    #[error("cannot create the database file {path} or make it private (mode 0600): {source}")]
    DatabaseFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The data directory could not be created or used.
    #[error("cannot use the data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database could not be reached.
    #[error("cannot connect to the {backend} database: {source}")]
    Connect {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database query failed: {0}")]
    Query(#[from] sqlx::Error),
}

#[derive(Clone)]
enum Backend {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Storage {
    backend: Backend,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("backend", &self.backend_name())
            .finish()
    }
}

impl Storage {
    /// Connects (creating the SQLite file and its directory if needed) and
    /// runs pending migrations.
    pub async fn open(settings: &DatabaseSettings) -> Result<Self, StorageError> {
        Self::open_sized(settings, DEFAULT_POOL).await
    }

    /// [`Storage::open`] with at most `max_connections` PostgreSQL
    /// connections from this node (SQLite's pool is fixed).
    pub async fn open_sized(
        settings: &DatabaseSettings,
        max_connections: u32,
    ) -> Result<Self, StorageError> {
        let backend = match settings {
            DatabaseSettings::Sqlite { path } => Backend::Sqlite(sqlite::open(path).await?),
            DatabaseSettings::Postgres { url } => {
                Backend::Postgres(postgres::open(url.expose(), max_connections).await?)
            }
        };
        Ok(Self { backend })
    }

    /// The pool: connections open, of them idle, and the most allowed.
    pub fn pool_use(&self) -> (u32, usize, u32) {
        match &self.backend {
            Backend::Sqlite(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
            Backend::Postgres(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
        }
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Checks the database answers a trivial query.
    pub async fn ping(&self) -> Result<(), StorageError> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::ping(pool).await,
            Backend::Postgres(pool) => postgres::ping(pool).await,
        }
    }

    /// A value from the `server_meta` table.
    pub async fn meta(&self, key: &str) -> Result<Option<String>, StorageError> {
        match &self.backend {
            Backend::Sqlite(pool) => sqlite::meta(pool, key).await,
            Backend::Postgres(pool) => postgres::meta(pool, key).await,
        }
    }

    /// Closes every connection (SQLite checkpoints its WAL on the last close).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(pool) => pool.close().await,
            Backend::Postgres(pool) => pool.close().await,
        }
    }
}
