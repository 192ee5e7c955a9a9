//! Online backup of the one-node database (SQLite).

use super::{Backend, Storage, StorageError};

impl Storage {
    /// Copies the SQLite database to `file` (which must not exist) as one
    /// consistent snapshot while the server keeps writing (`VACUUM INTO`),
    /// private to the server's user; returns its size. PostgreSQL is
    /// backed up with its own tools.
    pub async fn backup_to(&self, file: &std::path::Path) -> Result<u64, StorageError> {
        let Backend::Sqlite(pool) = &self.backend else {
            return Err(StorageError::Query(sqlx::Error::Configuration(
                "backup_to is for SQLite; use pg_dump for PostgreSQL".into(),
            )));
        };
        let refused = |source| StorageError::DatabaseFile {
            path: file.to_owned(),
            source,
        };
        if file.exists() {
            return Err(refused(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "it exists already; give a new file name",
            )));
        }
        let text = file.to_str().ok_or_else(|| {
            refused(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the path is not valid UTF-8",
            ))
        })?;
        sqlx::query("VACUUM INTO $1")
            .bind(text)
            .execute(pool)
            .await?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))
                .map_err(refused)?;
        }
        Ok(std::fs::metadata(file).map_err(refused)?.len())
    }
}
