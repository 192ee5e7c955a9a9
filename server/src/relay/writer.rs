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
    metrics: Arc<crate::metrics::Metrics>,
) -> WriterHandle {
    let (tx, rx) = mpsc::channel(QUEUE);
    let stats = Arc::new(WriterStats::default());
    tokio::spawn(run(
        storage,
        clock,
        bus,
        notifier,
        rx,
        stats.clone(),
        metrics,
    ));
    WriterHandle { tx, stats }
}

/// What the writer does with a message once its outcome is known.
struct Route {
    thread_id: ThreadId,
    message_id: MessageId,
    audience: Arc<[String]>,
    sender_account: String,
    org_id: String,
    reply: oneshot::Sender<Result<CommitOutcome, ()>>,
}

fn split(request: WriteRequest) -> (PendingMessage, Route) {
    let WriteRequest {
        message,
        thread_id,
        message_id,
        audience,
        sender_account,
        org_id,
        reply,
    } = request;
    let route = Route {
        thread_id,
        message_id,
        audience,
        sender_account,
        org_id,
        reply,
    };
    (message, route)
}

async fn run(
    storage: Storage,
    clock: Clock,
    bus: Arc<dyn Bus>,
    notifier: Option<Notifier>,
    mut rx: mpsc::Receiver<WriteRequest>,
    stats: Arc<WriterStats>,
    metrics: Arc<crate::metrics::Metrics>,
) {
    // The envelopes move from the request into the batch and on into the
    // fan-out: nothing on this path copies them.
    let mut messages: Vec<PendingMessage> = Vec::with_capacity(MAX_BATCH);
    let mut routes: Vec<Route> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.recv().await {
        let (message, route) = split(first);
        messages.push(message);
        routes.push(route);
        while messages.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => {
                    let (message, route) = split(next);
                    messages.push(message);
                    routes.push(route);
                }
                Err(_) => break,
            }
        }
        let now_ms = clock.now_ms();
        #[allow(clippy::cast_precision_loss)]
        metrics.commit_batch.observe(messages.len() as f64);
        match storage.commit_messages(&messages, now_ms).await {
            Ok(outcomes) => {
                stats.commits.fetch_add(1, Ordering::Relaxed);
                let mut stored = 0;
                for ((message, route), outcome) in
                    messages.drain(..).zip(routes.drain(..)).zip(outcomes)
                {
                    // Acknowledge first: the sender's wait is the latency
                    // that matters; fan-out is for everyone else.
                    let _ = route.reply.send(Ok(outcome));
                    let CommitOutcome::Stored {
                        seq,
                        committed_at_ms,
                    } = outcome
                    else {
                        continue;
                    };
                    stored += 1;
                    if let Some(notifier) = &notifier {
                        notifier.message_committed(
                            &route.org_id,
                            &route.audience,
                            &route.sender_account,
                        );
                    }
                    bus.publish(BusEvent {
                        audience: route.audience,
                        event: Event::Message(Arc::new(Delivered {
                            thread_id: route.thread_id,
                            seq: u64::try_from(seq).unwrap_or(0),
                            message_id: route.message_id,
                            committed_at_ms: u64::try_from(committed_at_ms).unwrap_or(0),
                            envelope: message.envelope,
                            sender_device_id: message.sender_device_id,
                        })),
                    });
                }
                stats.messages.fetch_add(stored, Ordering::Relaxed);
            }
            Err(error) => {
                tracing::error!(%error, messages = messages.len(), "group commit failed; nothing stored");
                messages.clear();
                for route in routes.drain(..) {
                    let _ = route.reply.send(Err(()));
                }
            }
        }
    }
}
