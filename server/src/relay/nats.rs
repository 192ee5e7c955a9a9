//! The bus between nodes: core NATS (not JetStream; ARCHITECTURE.md says
//! why). Every node delivers its own events to its own connections at once
//! and publishes them for the others:
//!
//! * `samtale.account.<account id>`: messages and receipts for one
//!   account. A node subscribes to the accounts with a connection on it
//!   (and unsubscribes when the last one closes), so an event travels only
//!   to the nodes that have a use for it.
//! * `samtale.control`: revocations, ended sessions and changed policy;
//!   every node subscribes.
//!
//! Subjects carry ids only; payloads carry ids, sequence numbers and the
//! sealed envelopes and signed receipts the database holds anyway, never
//! anything a log must not hold.
//!
//! Core NATS delivers at most once: an event lost on the way (a node's
//! connection to NATS broke, a subscription not yet in place) is never
//! acknowledged to anyone, and the database has every committed message.
//! So whenever events may have been missed the connections are caught up
//! from the database ([`super::Event::CatchUp`]): when an account's
//! subscription is in place, when the bus comes back, and every
//! [`DEGRADED_POLL`] while it is down (which also re-checks sessions, so a
//! revocation on another node still closes sockets here).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::StreamExt as _;
use samtale_protocol::{MessageId, ThreadId};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{Bus, BusEvent, BusHealth, Control, Delivered, Event, Hub, PolicyVersion, Presence};

/// How often connections are caught up from the database while the bus is
/// down.
pub const DEGRADED_POLL: Duration = Duration::from_secs(1);

/// How long a node waits for another to say an account is connected there.
const PRESENCE_WAIT: Duration = Duration::from_millis(250);

/// Events waiting to be published; more are dropped (the receivers catch
/// up from the database), never allowed to grow memory.
const OUTBOX: usize = 16_384;

const CONTROL_SUBJECT: &str = "samtale.control";

/// The subject of an account's events. Account ids are random hex; any
/// other character is hex-encoded so that no id can reach another subject.
pub fn account_subject(account_id: &str) -> String {
    if !account_id.is_empty()
        && account_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        format!("samtale.account.{account_id}")
    } else {
        format!("samtale.account.x{}", hex::encode(account_id))
    }
}

/// What travels between nodes.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    /// The publishing node (it has delivered to its own connections).
    node: String,
    #[serde(flatten)]
    body: WireBody,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum WireBody {
    Message {
        thread_id: ThreadId,
        seq: u64,
        message_id: MessageId,
        committed_at_ms: u64,
        envelope: String,
        sender_device_id: String,
    },
    Receipt {
        thread_id: ThreadId,
        from_device_id: String,
        receipt: String,
    },
    Control {
        control: Control,
    },
    /// "Does this account have a connection on your node?" A node answers
    /// on the request's reply subject only when it does (it is subscribed
    /// to the account's subject exactly then).
    Presence,
}

impl WireBody {
    fn of(event: &Event) -> Option<Self> {
        match event {
            Event::Message(m) => Some(WireBody::Message {
                thread_id: m.thread_id,
                seq: m.seq,
                message_id: m.message_id,
                committed_at_ms: m.committed_at_ms,
                envelope: B64.encode(&m.envelope),
                sender_device_id: m.sender_device_id.clone(),
            }),
            Event::Receipt(r) => Some(WireBody::Receipt {
                thread_id: r.thread_id,
                from_device_id: r.from_device_id.clone(),
                receipt: B64.encode(&r.receipt),
            }),
            Event::CatchUp => None,
        }
    }

    fn event(self) -> Option<Event> {
        match self {
            WireBody::Message {
                thread_id,
                seq,
                message_id,
                committed_at_ms,
                envelope,
                sender_device_id,
            } => Some(Event::Message(Arc::new(Delivered {
                thread_id,
                seq,
                message_id,
                committed_at_ms,
                envelope: B64.decode(envelope).ok()?,
                sender_device_id,
            }))),
            WireBody::Receipt {
                thread_id,
                from_device_id,
                receipt,
            } => Some(Event::Receipt(Arc::new(super::ReceiptEvent {
                thread_id,
                from_device_id,
                receipt: B64.decode(receipt).ok()?,
            }))),
            WireBody::Control { .. } | WireBody::Presence => None,
        }
    }
}

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct BusStats {
    /// Events published to other nodes.
    pub published: AtomicU64,
    /// Events received from other nodes.
    pub received: AtomicU64,
    /// Events not published because the bus was down or the outbox full.
    pub dropped: AtomicU64,
    /// Sum of milliseconds from commit to arrival here, for messages from
    /// other nodes (with `received_messages`, the mean lag).
    pub lag_ms_sum: AtomicU64,
    /// Messages from other nodes.
    pub received_messages: AtomicU64,
    /// Times the connection to NATS was lost.
    pub disconnects: AtomicU64,
}

/// The NATS bus of one node.
#[derive(Debug)]
pub struct NatsBus {
    client: async_nats::Client,
    node: Arc<str>,
    hub: Hub,
    policy: PolicyVersion,
    connected: Arc<AtomicBool>,
    outbox: mpsc::Sender<(String, Vec<u8>)>,
    /// Counters for `/metrics`.
    pub stats: Arc<BusStats>,
}

/// Why the bus could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("the NATS URL {0:?} is not valid: {1}")]
    Url(String, String),
    #[error("could not subscribe to {CONTROL_SUBJECT}: {0}")]
    Subscribe(String),
}

impl NatsBus {
    /// Connects to NATS at `url` in the background (a node starts, degraded,
    /// while NATS is down and connects when it is back) and starts the
    /// node's subscriptions. `clock_ms` gives the current time for the lag
    /// figures.
    pub async fn start(
        url: &str,
        hub: Hub,
        policy: PolicyVersion,
        clock_ms: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Result<Arc<Self>, NatsError> {
        let node: Arc<str> = Arc::from(random_node_id());
        let connected = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(BusStats::default());
        let (changes_tx, changes_rx) = mpsc::unbounded_channel::<bool>();
        let events = {
            let changes = changes_tx.clone();
            move |event: async_nats::Event| {
                let changes = changes.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            let _ = changes.send(true);
                        }
                        async_nats::Event::Disconnected => {
                            let _ = changes.send(false);
                        }
                        other => tracing::warn!(event = %other, "NATS"),
                    }
                }
            }
        };
        let client = async_nats::ConnectOptions::new()
            .name(format!("samtale-server {node}"))
            .retry_on_initial_connect()
            .max_reconnects(None)
            // Backoff with jitter, at most two seconds between attempts.
            .reconnect_delay_callback(|attempts| {
                let base = Duration::from_millis(100u64.saturating_mul(1 << attempts.min(4)));
                base.min(Duration::from_secs(2)) + jitter(Duration::from_millis(100))
            })
            .event_callback(events)
            .connect(url)
            .await
            .map_err(|e| NatsError::Url(redacted(url), e.to_string()))?;
        if client.connection_state() == async_nats::connection::State::Connected {
            connected.store(true, Ordering::SeqCst);
        }

        let (outbox, outbox_rx) = mpsc::channel(OUTBOX);
        let bus = Arc::new(Self {
            client: client.clone(),
            node: node.clone(),
            hub: hub.clone(),
            policy: policy.clone(),
            connected: connected.clone(),
            outbox,
            stats: stats.clone(),
        });

        // Control events from the other nodes.
        let mut control = client
            .subscribe(CONTROL_SUBJECT)
            .await
            .map_err(|e| NatsError::Subscribe(e.to_string()))?;
        {
            let (hub, policy, node, stats) =
                (hub.clone(), policy.clone(), node.clone(), stats.clone());
            tokio::spawn(async move {
                while let Some(message) = control.next().await {
                    let Ok(wire) = serde_json::from_slice::<Wire>(&message.payload) else {
                        tracing::warn!("a control event from the bus could not be read");
                        continue;
                    };
                    if *wire.node == *node {
                        continue;
                    }
                    if let WireBody::Control { control } = wire.body {
                        stats.received.fetch_add(1, Ordering::Relaxed);
                        hub.apply(&control, &policy);
                    }
                }
            });
        }

        // Subscriptions that follow the accounts connected here.
        let (presence_tx, presence_rx) = mpsc::unbounded_channel();
        tokio::spawn(follow_accounts(
            client.clone(),
            hub.clone(),
            node.clone(),
            stats.clone(),
            Arc::new(clock_ms),
            presence_rx,
        ));
        hub.watch_presence(presence_tx);

        tokio::spawn(publish(client, outbox_rx, connected.clone(), stats.clone()));
        tokio::spawn(watch_connection(changes_rx, connected, hub, policy, stats));
        Ok(bus)
    }

    /// This node's id on the bus (random per start).
    pub fn node(&self) -> &str {
        &self.node
    }

    fn send(&self, subject: String, payload: Vec<u8>) {
        if !self.connected.load(Ordering::SeqCst) {
            // Nobody would get it now; they catch up from the database.
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.outbox.try_send((subject, payload)).is_err() {
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Bus for NatsBus {
    fn publish(&self, event: BusEvent) {
        self.hub.fan_out(&event);
        let Some(body) = WireBody::of(&event.event) else {
            return;
        };
        let wire = Wire {
            node: self.node.to_string(),
            body,
        };
        let Ok(payload) = serde_json::to_vec(&wire) else {
            return;
        };
        for account in event.audience.iter() {
            self.send(account_subject(account), payload.clone());
        }
    }

    fn control(&self, control: Control) {
        self.hub.apply(&control, &self.policy);
        let wire = Wire {
            node: self.node.to_string(),
            body: WireBody::Control { control },
        };
        if let Ok(payload) = serde_json::to_vec(&wire) {
            self.send(CONTROL_SUBJECT.to_owned(), payload);
        }
    }

    fn health(&self) -> BusHealth {
        if self.connected.load(Ordering::SeqCst) {
            BusHealth::Connected
        } else {
            BusHealth::Degraded
        }
    }

    fn online_elsewhere<'a>(
        &'a self,
        account: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            if !self.connected.load(Ordering::SeqCst) {
                return false;
            }
            let Ok(payload) = serde_json::to_vec(&Wire {
                node: self.node.to_string(),
                body: WireBody::Presence,
            }) else {
                return false;
            };
            // No node subscribed: NATS says "no responders" at once.
            let asked = self
                .client
                .request(account_subject(account), payload.into());
            matches!(tokio::time::timeout(PRESENCE_WAIT, asked).await, Ok(Ok(_)))
        })
    }

    fn render_metrics(&self, out: &mut String) {
        use crate::metrics::number;
        let s = &self.stats;
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        number(
            out,
            "samtale_bus_published_total",
            "counter",
            "Events published to other nodes.",
            load(&s.published),
        );
        number(
            out,
            "samtale_bus_received_total",
            "counter",
            "Events received from other nodes.",
            load(&s.received),
        );
        number(
            out,
            "samtale_bus_dropped_total",
            "counter",
            "Events not published (bus down or outbox full); receivers caught up from the database.",
            load(&s.dropped),
        );
        number(
            out,
            "samtale_bus_disconnects_total",
            "counter",
            "Times the connection to NATS was lost.",
            load(&s.disconnects),
        );
        let messages = load(&s.received_messages);
        #[allow(clippy::cast_precision_loss)]
        let lag = if messages == 0 {
            0.0
        } else {
            load(&s.lag_ms_sum) as f64 / messages as f64 / 1000.0
        };
        number(
            out,
            "samtale_bus_lag_seconds",
            "gauge",
            "Mean time from commit on another node to arrival here.",
            lag,
        );
    }
}

/// Publishes the outbox in order.
async fn publish(
    client: async_nats::Client,
    mut outbox: mpsc::Receiver<(String, Vec<u8>)>,
    connected: Arc<AtomicBool>,
    stats: Arc<BusStats>,
) {
    while let Some((subject, payload)) = outbox.recv().await {
        if !connected.load(Ordering::SeqCst) {
            stats.dropped.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        match client.publish(subject, payload.into()).await {
            Ok(()) => {
                stats.published.fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                stats.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(%error, "publishing on the bus failed");
            }
        }
    }
}

/// Tracks the connection to NATS: while it is down every connection here
/// is caught up from the database every [`DEGRADED_POLL`]; when it comes
/// back, once more (what was published meanwhile was not received).
async fn watch_connection(
    mut changes: mpsc::UnboundedReceiver<bool>,
    connected: Arc<AtomicBool>,
    hub: Hub,
    policy: PolicyVersion,
    stats: Arc<BusStats>,
) {
    let mut poll = tokio::time::interval(DEGRADED_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            change = changes.recv() => {
                let Some(up) = change else { return };
                let was = connected.swap(up, Ordering::SeqCst);
                if up && !was {
                    tracing::info!("the bus between nodes is back; catching connections up");
                    policy.bump();
                    hub.catch_up(None);
                } else if !up && was {
                    stats.disconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("the bus between nodes is down; delivering from the database every second until it is back");
                }
            }
            _ = poll.tick() => {
                if !connected.load(Ordering::SeqCst) {
                    // Changes on other nodes are not heard: cached checks
                    // are not trusted, and connections read the database.
                    policy.bump();
                    hub.catch_up(None);
                }
            }
        }
    }
}

/// Keeps one subscription per account with a connection on this node.
async fn follow_accounts(
    client: async_nats::Client,
    hub: Hub,
    node: Arc<str>,
    stats: Arc<BusStats>,
    clock_ms: Arc<dyn Fn() -> u64 + Send + Sync>,
    mut presence: mpsc::UnboundedReceiver<Presence>,
) {
    let mut followed: HashMap<String, JoinHandle<()>> = HashMap::new();
    while let Some(change) = presence.recv().await {
        match change {
            Presence::Online(account) => {
                if followed.get(&account).is_some_and(|t| !t.is_finished()) {
                    continue;
                }
                let subscriber = match client.subscribe(account_subject(&account)).await {
                    Ok(s) => s,
                    Err(error) => {
                        // Its connections are caught up by the poll.
                        tracing::warn!(%error, "subscribing on the bus failed");
                        continue;
                    }
                };
                // Events from before the subscription was in place.
                hub.catch_up(Some(&account));
                let task = tokio::spawn(receive(
                    client.clone(),
                    subscriber,
                    hub.clone(),
                    node.clone(),
                    stats.clone(),
                    clock_ms.clone(),
                    account.clone(),
                ));
                followed.insert(account, task);
            }
            Presence::Offline(account) => {
                if !hub.is_online(&account)
                    && let Some(task) = followed.remove(&account)
                {
                    // Dropping the subscriber unsubscribes.
                    task.abort();
                }
            }
        }
    }
}

async fn receive(
    client: async_nats::Client,
    mut subscriber: async_nats::Subscriber,
    hub: Hub,
    node: Arc<str>,
    stats: Arc<BusStats>,
    clock_ms: Arc<dyn Fn() -> u64 + Send + Sync>,
    account: String,
) {
    let audience: Arc<[String]> = Arc::from(vec![account]);
    while let Some(message) = subscriber.next().await {
        let Ok(wire) = serde_json::from_slice::<Wire>(&message.payload) else {
            tracing::warn!("an event from the bus could not be read");
            continue;
        };
        if *wire.node == *node {
            continue;
        }
        if let WireBody::Presence = wire.body {
            if let Some(reply) = message.reply
                && hub.is_online(&audience[0])
            {
                let _ = client.publish(reply, "1".into()).await;
            }
            continue;
        }
        let Some(event) = wire.body.event() else {
            continue;
        };
        stats.received.fetch_add(1, Ordering::Relaxed);
        if let Event::Message(m) = &event {
            stats.received_messages.fetch_add(1, Ordering::Relaxed);
            stats.lag_ms_sum.fetch_add(
                clock_ms().saturating_sub(m.committed_at_ms),
                Ordering::Relaxed,
            );
        }
        hub.fan_out(&BusEvent {
            audience: audience.clone(),
            event,
        });
    }
}

/// The URL without credentials (`nats://user:password@host` → `nats://…@host`).
fn redacted(url: &str) -> String {
    url.split(',')
        .map(|u| match (u.find("://"), u.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => format!("{}…{}", &u[..scheme + 3], &u[at..]),
            _ => u.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn random_node_id() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Not a secret: only needs to differ between nodes.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = (nanos as u64 ^ u64::from(std::process::id())).to_le_bytes();
    }
    hex::encode(bytes)
}

fn jitter(max: Duration) -> Duration {
    let mut byte = [0u8; 2];
    let _ = getrandom::fill(&mut byte);
    let max_ms = u64::try_from(max.as_millis()).unwrap_or(0).max(1);
    Duration::from_millis(u64::from(u16::from_le_bytes(byte)) % max_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_subjects_cannot_reach_another_subject() {
        assert_eq!(account_subject("a1b2"), "samtale.account.a1b2");
        // A dot or a wildcard would name other subjects: encoded.
        for id in ["a.b", "*", ">", "a b", ""] {
            let subject = account_subject(id);
            let token = subject.trim_start_matches("samtale.account.");
            assert!(
                token.bytes().all(|b| b.is_ascii_alphanumeric()),
                "{id:?} gave {subject:?}"
            );
        }
        assert_ne!(account_subject("a.b"), account_subject("a_b"));
    }

    #[test]
    fn events_survive_the_wire() {
        let event = Event::Message(Arc::new(Delivered {
            thread_id: ThreadId::from_bytes([7; 16]),
            seq: 9,
            message_id: MessageId::from_bytes([3; 16]),
            committed_at_ms: 12,
            envelope: vec![0, 1, 2, 255],
            sender_device_id: "dev".into(),
        }));
        let wire = Wire {
            node: "n".into(),
            body: WireBody::of(&event).expect("a message travels"),
        };
        let bytes = serde_json::to_vec(&wire).expect("encodes");
        let back: Wire = serde_json::from_slice(&bytes).expect("decodes");
        let Some(Event::Message(m)) = back.body.event() else {
            panic!("not a message")
        };
        assert_eq!((m.seq, m.envelope.as_slice()), (9, &[0u8, 1, 2, 255][..]));
        let control = Wire {
            node: "n".into(),
            body: WireBody::Control {
                control: Control::KillDevice {
                    device_id: "d".into(),
                    code: samtale_protocol::wire::ErrorCode::DeviceRevoked,
                },
            },
        };
        let text = serde_json::to_string(&control).expect("encodes");
        assert!(text.contains("\"kill_device\""), "{text}");
    }
}
