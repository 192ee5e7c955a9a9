//! Rate-limit windows in the database, shared by every node (the
//! PostgreSQL deployment; `crate::limits` keeps them in memory for one
//! node on SQLite).

use super::{Backend, Storage, StorageError};

impl Storage {
    /// Counts one attempt for `key` under `policy` at `now` in a window of
    /// `window` seconds, atomically on every node: a window that has ended
    /// starts again at `now`. Returns the window's start and its count
    /// including this attempt (refused attempts count too, so the first
    /// refusal is the one that makes the count `max + 1`).
    pub async fn rate_count(
        &self,
        policy: &str,
        key: &str,
        now: i64,
        window: i64,
    ) -> Result<(i64, i64), StorageError> {
        const SQL: &str = "INSERT INTO rate_limits (policy, key, started, count) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (policy, key) DO UPDATE SET \
             count = CASE WHEN rate_limits.started + $4 <= excluded.started THEN 1 \
                          ELSE rate_limits.count + 1 END, \
             started = CASE WHEN rate_limits.started + $4 <= excluded.started THEN excluded.started \
                            ELSE rate_limits.started END \
             RETURNING started, count";
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(SQL)
                .bind(policy)
                .bind(key)
                .bind(now)
                .bind(window)
                .fetch_one(pool)
                .await?
        }))
    }

    /// Gives back one attempt counted by [`Storage::rate_count`].
    pub async fn rate_uncount(&self, policy: &str, key: &str) -> Result<(), StorageError> {
        const SQL: &str = "UPDATE rate_limits SET count = count - 1 \
             WHERE policy = $1 AND key = $2 AND count > 0";
        with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(policy)
                .bind(key)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Forgets `key` under `policy`.
    pub async fn rate_clear(&self, policy: &str, key: &str) -> Result<(), StorageError> {
        const SQL: &str = "DELETE FROM rate_limits WHERE policy = $1 AND key = $2";
        with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(policy)
                .bind(key)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Deletes windows that started before `before` (all of them ended).
    pub async fn rate_sweep(&self, before: i64) -> Result<u64, StorageError> {
        const SQL: &str = "DELETE FROM rate_limits WHERE started < $1";
        Ok(with_pool!(self, |pool| {
            sqlx::query(SQL)
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    /// Whether this is the PostgreSQL backend (several nodes may share it).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }
}
