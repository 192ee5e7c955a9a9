//! The retention job (gallring): every `purge_interval_minutes` it deletes
//! what the teams' retention policies say is due ([`Storage::purge`]). It
//! reads the time from the server's [`Clock`], so tests move time forward
//! instead of waiting. Several nodes may run it: each purge is idempotent.

use std::time::Duration;

use crate::auth::Clock;
use crate::storage::Storage;
use crate::storage::records::PurgeReport;

/// One purge at the clock's current time, logged (counts only).
pub async fn run_once(
    storage: &Storage,
    clock: &Clock,
) -> Result<PurgeReport, crate::storage::StorageError> {
    let report = storage.purge(clock.now(), clock.now_ms()).await?;
    if report.another_purge_running {
        tracing::info!("retention purge skipped: another node's purge is running");
    }
    if report != PurgeReport::default() {
        tracing::info!(
            threads_deleted = report.threads_deleted,
            messages_deleted = report.messages_deleted,
            attachments_deleted = report.attachments_deleted,
            receipts_deleted = report.receipts_deleted,
            threads_on_hold = report.threads_on_hold,
            "retention purge"
        );
    }
    Ok(report)
}

/// Starts the periodic job (`interval_minutes` 0: none). The first run is
/// at once. Abort the handle to stop it (the server does at shutdown).
pub fn spawn(
    storage: Storage,
    clock: Clock,
    interval_minutes: u32,
) -> Option<tokio::task::JoinHandle<()>> {
    if interval_minutes == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(u64::from(interval_minutes) * 60));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(error) = run_once(&storage, &clock).await {
                tracing::error!(%error, "retention purge failed; retrying at the next interval");
            }
        }
    }))
}
