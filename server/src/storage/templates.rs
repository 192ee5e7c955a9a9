//! Message templates per team: opaque sealed bytes, each with who saved it
//! last and from which device (whose certificate clients check the seal's
//! signature against). Saving writes its audit entry in the same
//! transaction.

use super::{Backend, Storage, StorageError};
use crate::audit::AuditEvent;

/// A stored template, with the saving device's certificate.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TemplateRow {
    /// The template.
    pub template_id: String,
    /// The sealed bytes.
    pub sealed: Vec<u8>,
    /// Unix seconds of the last save.
    pub updated_at: i64,
    /// Who saved it.
    pub updated_by: String,
    /// The saving device's certificate, if it has one.
    pub certificate: Option<Vec<u8>>,
}

/// What saving a template did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// A new template.
    Created,
    /// An existing one, replaced.
    Replaced,
    /// The team has as many templates as it may.
    Full,
}

impl Storage {
    /// The team's templates, oldest save first.
    pub async fn templates(&self, team_id: &str) -> Result<Vec<TemplateRow>, StorageError> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_as::<_, TemplateRow>(
                "SELECT t.template_id, t.sealed, t.updated_at, t.updated_by, d.certificate \
                 FROM team_templates t JOIN devices d ON d.id = t.device_id \
                 WHERE t.team_id = $1 ORDER BY t.updated_at, t.template_id",
            )
            .bind(team_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Saves a template (new, or replacing the one with this id), unless the
    /// team already holds `max` others.
    #[allow(clippy::too_many_arguments)]
    pub async fn save_template(
        &self,
        team_id: &str,
        template_id: &str,
        sealed: &[u8],
        account_id: &str,
        device_id: &str,
        max: i64,
        audit: &AuditEvent,
        now: i64,
        now_ms: i64,
    ) -> Result<SaveOutcome, StorageError> {
        Ok(write_tx!(self, |tx, head| {
            let exists: Option<i64> = sqlx::query_scalar(
                "SELECT 1 FROM team_templates WHERE team_id = $1 AND template_id = $2",
            )
            .bind(team_id)
            .bind(template_id)
            .fetch_optional(&mut *tx)
            .await?;
            let outcome = if exists.is_some() {
                sqlx::query(
                    "UPDATE team_templates SET sealed = $3, updated_at = $4, updated_by = $5, \
                     device_id = $6 WHERE team_id = $1 AND template_id = $2",
                )
                .bind(team_id)
                .bind(template_id)
                .bind(sealed)
                .bind(now)
                .bind(account_id)
                .bind(device_id)
                .execute(&mut *tx)
                .await?;
                SaveOutcome::Replaced
            } else {
                let count: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM team_templates WHERE team_id = $1")
                        .bind(team_id)
                        .fetch_one(&mut *tx)
                        .await?;
                if count >= max {
                    SaveOutcome::Full
                } else {
                    sqlx::query(
                        "INSERT INTO team_templates \
                         (team_id, template_id, sealed, updated_at, updated_by, device_id) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(team_id)
                    .bind(template_id)
                    .bind(sealed)
                    .bind(now)
                    .bind(account_id)
                    .bind(device_id)
                    .execute(&mut *tx)
                    .await?;
                    SaveOutcome::Created
                }
            };
            if outcome != SaveOutcome::Full {
                audit_in!(tx, std::slice::from_ref(audit), now_ms, head);
            }
            outcome
        }))
    }

    /// Deletes a template; whether there was one.
    pub async fn delete_template(
        &self,
        team_id: &str,
        template_id: &str,
        audit: &AuditEvent,
        now_ms: i64,
    ) -> Result<bool, StorageError> {
        Ok(write_tx!(self, |tx, head| {
            let n =
                sqlx::query("DELETE FROM team_templates WHERE team_id = $1 AND template_id = $2")
                    .bind(team_id)
                    .bind(template_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if n > 0 {
                audit_in!(tx, std::slice::from_ref(audit), now_ms, head);
            }
            n > 0
        }))
    }
}
