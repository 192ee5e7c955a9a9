//! eID logins the server makes for the web app (`eid_flows`): started by
//! the page, completed when the broker sends the browser back, spent once
//! by the sign-up or login they were for. See `migrations/*/0008_eid_flows.sql`.

use super::{Backend, Storage, StorageError};

/// A flow as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct EidFlowRow {
    /// SHA-256 of the page's handle.
    pub id: Vec<u8>,
    /// The nonce of the device the login is for.
    pub nonce: String,
    /// `join` or `login`.
    pub purpose: String,
    /// Unix seconds.
    pub expires_at: i64,
    /// When the broker sent the browser back.
    pub completed_at: Option<i64>,
    /// Why the login failed (a word), if it did.
    pub failure: Option<String>,
    /// The verified identity: `iss`.
    pub issuer: Option<String>,
    /// `sub`.
    pub subject: Option<String>,
    /// The keyed hash of the national id.
    pub national_id_hmac: Option<Vec<u8>>,
    /// The level of assurance.
    pub assurance: Option<String>,
    /// The ID token's hash (its replay record).
    pub id_token_hash: Option<Vec<u8>>,
    /// The ID token's `exp`.
    pub token_expires_at: Option<i64>,
    /// When a sign-up or login used it.
    pub used_at: Option<i64>,
}

/// What a completed login proved.
#[derive(Debug, Clone)]
pub struct EidFlowIdentity<'a> {
    pub issuer: &'a str,
    pub subject: &'a str,
    pub national_id_hmac: &'a [u8],
    pub assurance: &'a str,
    pub id_token_hash: &'a [u8],
    pub token_expires_at: i64,
}

const COLUMNS: &str = "id, nonce, purpose, expires_at, completed_at, failure, issuer, subject, \
    national_id_hmac, assurance, id_token_hash, token_expires_at, used_at";

impl Storage {
    /// Stores a new flow, and forgets flows that ended a day ago.
    pub async fn create_eid_flow(
        &self,
        id: &[u8],
        state_hash: &[u8],
        nonce: &str,
        purpose: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query("DELETE FROM eid_flows WHERE expires_at < $1")
                .bind(now - 86_400)
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO eid_flows (id, state_hash, nonce, purpose, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(state_hash)
            .bind(nonce)
            .bind(purpose)
            .bind(now)
            .bind(expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The open flow (not yet completed) with this OAuth `state` hash.
    pub async fn open_eid_flow_by_state(
        &self,
        state_hash: &[u8],
    ) -> Result<Option<EidFlowRow>, StorageError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM eid_flows WHERE state_hash = $1 AND completed_at IS NULL"
        );
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(state_hash)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Records the verified identity of a completed flow.
    pub async fn complete_eid_flow(
        &self,
        id: &[u8],
        identity: &EidFlowIdentity<'_>,
        now: i64,
    ) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE eid_flows SET completed_at = $1, issuer = $2, subject = $3, \
                 national_id_hmac = $4, assurance = $5, id_token_hash = $6, \
                 token_expires_at = $7 WHERE id = $8 AND completed_at IS NULL",
            )
            .bind(now)
            .bind(identity.issuer)
            .bind(identity.subject)
            .bind(identity.national_id_hmac)
            .bind(identity.assurance)
            .bind(identity.id_token_hash)
            .bind(identity.token_expires_at)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Records why a flow failed (a word: `refused`, `cancelled`, …).
    pub async fn fail_eid_flow(
        &self,
        id: &[u8],
        reason: &str,
        now: i64,
    ) -> Result<(), StorageError> {
        with_pool!(self, |pool| {
            sqlx::query(
                "UPDATE eid_flows SET completed_at = $1, failure = $2 \
                 WHERE id = $3 AND completed_at IS NULL",
            )
            .bind(now)
            .bind(reason)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Spends a flow: marks it used and returns it, once. `None` when there
    /// is no such flow or it was spent already.
    pub async fn take_eid_flow(
        &self,
        id: &[u8],
        now: i64,
    ) -> Result<Option<EidFlowRow>, StorageError> {
        let sql = format!(
            "UPDATE eid_flows SET used_at = $1 WHERE id = $2 AND used_at IS NULL RETURNING {COLUMNS}"
        );
        Ok(with_pool!(self, |pool| {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(now)
                .bind(id)
                .fetch_optional(pool)
                .await?
        }))
    }
}
