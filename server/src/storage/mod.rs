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
}

pub mod accounts;
pub mod messaging;
mod postgres;
mod sqlite;

use sqlx::{PgPool, SqlitePool};

use crate::config::DatabaseSettings;

/// Why a storage operation failed. Messages never contain credentials.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
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
        let backend = match settings {
            DatabaseSettings::Sqlite { path } => Backend::Sqlite(sqlite::open(path).await?),
            DatabaseSettings::Postgres { url } => {
                Backend::Postgres(postgres::open(url.expose()).await?)
            }
        };
        Ok(Self { backend })
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
