//! Group commit: one task owns every message write. It takes whatever has
//! queued up while the previous commit was on disk, commits it in one
//! transaction, and only then acknowledges each message and fans it out.
//! Durable throughput therefore grows with load instead of being capped by
//! the disk's fsync rate.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use samtale_protocol::{MessageId, ThreadId};
use tokio::sync::{mpsc, oneshot};

use super::{Bus, BusEvent, Delivered, Event};
use crate::auth::Clock;
use crate::notify::Notifier;
use crate::storage::Storage;
use crate::storage::messaging::{CommitOutcome, PendingMessage};

/// The most messages one transaction takes.
pub const MAX_BATCH: usize = 1024;
/// Requests that may wait for the writer before senders are held back.
const QUEUE: usize = 8192;

/// A message to commit, with who must hear of it.
#[derive(Debug)]
pub struct WriteRequest {
    /// The row to write.
    pub message: PendingMessage,
    /// Parsed ids (for the fan-out frame).
    pub thread_id: ThreadId,
    /// Parsed message id.
    pub message_id: MessageId,
    /// The accounts that receive the thread's traffic.
    pub audience: Arc<[String]>,
    /// The sender's account (not notified about its own message).
    pub sender_account: String,
    /// The organisation (named in notifications).
    pub org_id: String,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<Result<CommitOutcome, ()>>,
}

/// Counters for benchmarks and logs.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Transactions committed.
    pub commits: AtomicU64,
    /// Messages newly stored.
    pub messages: AtomicU64,
}

/// Submits messages to the writer.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<WriteRequest>,
    /// Commit counters.
    pub stats: Arc<WriterStats>,
}

impl WriterHandle {
    /// Queues a message; `Err` when the writer has stopped.
    pub async fn submit(&self, request: WriteRequest) -> Result<(), ()> {
        self.tx.send(request).await.map_err(|_| ())
    }
}

/// Starts the writer task.
pub fn spawn(
    storage: Storage,
    clock: Clock,
    bus: Arc<dyn Bus>,
    notifier: Option<Notifier>,
) -> WriterHandle {
    let (tx, rx) = mpsc::channel(QUEUE);
    let stats = Arc::new(WriterStats::default());
    tokio::spawn(run(storage, clock, bus, notifier, rx, stats.clone()));
    WriterHandle { tx, stats }
}

async fn run(
    storage: Storage,
    clock: Clock,
    bus: Arc<dyn Bus>,
    notifier: Option<Notifier>,
    mut rx: mpsc::Receiver<WriteRequest>,
    stats: Arc<WriterStats>,
) {
    let mut batch: Vec<WriteRequest> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let pending: Vec<PendingMessage> = batch.iter().map(|r| r.message.clone()).collect();
        let now_ms = clock.now_ms();
        match storage.commit_messages(&pending, now_ms).await {
            Ok(outcomes) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                let mut stored = 0;
                for (request, outcome) in batch.drain(..).zip(outcomes) {
                    if let CommitOutcome::Stored {
                        seq,
                        committed_at_ms,
                    } = outcome
                    {
                        stored += 1;
                        let WriteRequest {
                            message,
                            thread_id,
                            message_id,
                            audience,
                            sender_account,
                            org_id,
                            reply,
                        } = request;
                        // Acknowledge first: the sender's wait is the latency
                        // that matters; fan-out is for everyone else.
                        let _ = reply.send(Ok(outcome));
                        if let Some(notifier) = &notifier {
                            notifier.message_committed(&org_id, &audience, &sender_account);
                        }
                        bus.publish(BusEvent {
                            audience,
                            event: Event::Message(Arc::new(Delivered {
                                thread_id,
                                seq: u64::try_from(seq).unwrap_or(0),
                                message_id,
                                committed_at_ms: u64::try_from(committed_at_ms).unwrap_or(0),
                                envelope: message.envelope,
                                sender_device_id: message.sender_device_id,
                            })),
                        });
                    } else {
                        let _ = request.reply.send(Ok(outcome));
                    }
                }
                stats.messages.fetch_add(stored, Ordering::Relaxed);
            }
            Err(error) => {
                tracing::error!(%error, messages = batch.len(), "group commit failed; nothing stored");
                for request in batch.drain(..) {
                    let _ = request.reply.send(Err(()));
                }
            }
        }
    }
}
