//! SQLite: one file in the data directory, WAL mode, full fsync on commit
//! (an acknowledged message survives power loss), incremental auto-vacuum and
//! secure delete so that purged rows leave the file.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteAutoVacuum, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, SqliteConnection, SqlitePool};

use super::StorageError;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

fn create_private_dir(dir: &Path) -> Result<(), StorageError> {
    let io = |source| StorageError::DataDir {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    Ok(())
}

/// The database file, its write-ahead log and shared-memory index: made
/// `0600` before SQLite first opens the file (SQLite gives the `-wal` and
/// `-shm` files it creates the mode of the database file), and put right
/// for files left by an older version.
fn make_private_files(path: &Path) -> Result<(), StorageError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let io = |source| StorageError::DatabaseFile {
            path: path.to_owned(),
            source,
        };
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            match std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            }
        }
    }
    Ok(())
}

pub(super) async fn open(path: &Path) -> Result<SqlitePool, StorageError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dir(dir)?;
    }
    make_private_files(path)?;
    // A database not yet created is an empty file (made just now, above).
    let new_database = std::fs::metadata(path).is_ok_and(|m| m.len() == 0);
    let connect = |source| StorageError::Connect {
        backend: "sqlite",
        source,
    };
    let options = SqliteConnectOptions::from_str("sqlite:")
        .map_err(connect)?
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(5))
        .pragma("secure_delete", "on");
    if new_database {
        // Incremental auto-vacuum is chosen once, before the first table
        // exists. Not by every pooled connection: on an existing database,
        // setting it writes the header page, a transaction per connection
        // opened, and on a full disk no connection could open (and nothing,
        // not even a read, be served) until space was freed.
        let first = SqliteConnection::connect_with(
            &options.clone().auto_vacuum(SqliteAutoVacuum::Incremental),
        )
        .await
        .map_err(connect)?;
        first.close().await.map_err(connect)?;
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        // When a COMMIT fails on a full disk, SQLite rolls the transaction
        // back itself; sqlx's own ROLLBACK then fails and it goes on counting
        // the connection as inside a transaction, so every later BEGIN on it
        // fails ("begin_with at non-zero transaction depth") until a restart.
        // Such a connection is closed on release instead (closing rolls back
        // whatever is left) and the pool opens a fresh one.
        .after_release(|conn, _| {
            Box::pin(async move {
                // Let the rollback a dropped transaction queued run first.
                conn.ping().await?;
                Ok(!conn.is_in_transaction())
            })
        })
        .connect_with(options)
        .await
        .map_err(connect)?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

pub(super) async fn ping(pool: &SqlitePool) -> Result<(), StorageError> {
    sqlx::query("SELECT 1").execute(pool).await?;
    Ok(())
}

pub(super) async fn meta(pool: &SqlitePool, key: &str) -> Result<Option<String>, StorageError> {
    Ok(
        sqlx::query_scalar("SELECT value FROM server_meta WHERE key = ?1")
            .bind(key)
            .fetch_optional(pool)
            .await?,
    )
}
