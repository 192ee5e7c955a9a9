//! The message relay: one group-commit writer, a bus that fans committed
//! messages and receipts out to connections, and the registry of open
//! WebSocket connections.
//!
//! * [`writer`]: the single writer that commits many messages per
//!   transaction and acknowledges them after the commit.
//! * [`Hub`]: open connections by account, with bounded queues; a connection
//!   that cannot keep up is closed, never allowed to grow memory.
//! * [`Bus`]: how committed events and control events (revocations, ended
//!   sessions, changed policy) reach the hubs of every node: in process for
//!   one node, [`nats::NatsBus`] when several nodes share a PostgreSQL
//!   database.
//! * [`socket`]: one device's WebSocket.

pub mod nats;
pub mod socket;
pub mod writer;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use samtale_protocol::wire::ErrorCode;
use tokio::sync::{Notify, mpsc};

/// How many events may wait for one connection before it is closed as a
/// slow consumer.
pub const CONNECTION_QUEUE: usize = 1024;

/// A committed message, as fanned out.
#[derive(Debug)]
pub struct Delivered {
    pub thread_id: samtale_protocol::ThreadId,
    pub seq: u64,
    pub message_id: samtale_protocol::MessageId,
    pub committed_at_ms: u64,
    pub envelope: Vec<u8>,
    /// The sending device (it has the ack; it gets no copy).
    pub sender_device_id: String,
}

/// What a connection is told.
#[derive(Debug, Clone)]
pub enum Event {
    /// A message in one of the account's threads.
    Message(Arc<Delivered>),
    /// A receipt in one of the account's threads.
    Receipt(Arc<ReceiptEvent>),
    /// Live events may have been missed (the bus between nodes was down,
    /// or a subscription is new): re-check the session and send whatever
    /// the database has past each subscribed thread's cursor.
    CatchUp,
}

/// A relayed receipt.
#[derive(Debug)]
pub struct ReceiptEvent {
    pub thread_id: samtale_protocol::ThreadId,
    pub from_device_id: String,
    pub receipt: Vec<u8>,
}

/// Something for the accounts of `audience`, wherever they are connected.
#[derive(Debug, Clone)]
pub struct BusEvent {
    pub audience: Arc<[String]>,
    pub event: Event,
}

/// Something every node must do to its own connections at once: close
/// those of a revoked device, an ended session or a disabled account, or
/// forget cached send-time checks. Carries ids only.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "do", rename_all = "snake_case")]
pub enum Control {
    /// Close every connection of a device.
    KillDevice { device_id: String, code: ErrorCode },
    /// Close every connection of a session.
    KillSession { session_id: String, code: ErrorCode },
    /// Close every connection of an account.
    KillAccount { account_id: String, code: ErrorCode },
    /// Close every connection of an account but those of one session.
    KillAccountExcept {
        account_id: String,
        session_id: String,
        code: ErrorCode,
    },
    /// Participants, members, keys, consent or revocations changed: cached
    /// send-time checks are stale.
    PolicyChanged,
}

/// How the bus between nodes is doing, for `/readyz` and `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusHealth {
    /// One node: nothing to reach.
    Local,
    /// Connected to the other nodes.
    Connected,
    /// The other nodes cannot be reached: connections are caught up from
    /// the database by a short poll until the bus is back.
    Degraded,
}

/// Carries committed events and control events to every node's [`Hub`].
pub trait Bus: Send + Sync + std::fmt::Debug {
    /// Publishes an event; delivery is best effort (devices that miss it
    /// catch up from their cursor).
    fn publish(&self, event: BusEvent);

    /// Applies a control event on this node at once and passes it to the
    /// others.
    fn control(&self, control: Control);

    /// Whether the other nodes are reachable.
    fn health(&self) -> BusHealth;

    /// Its counters for `/metrics` (none for one node).
    fn render_metrics(&self, _out: &mut String) {}

    /// Whether the account has a connection on another node (none for one
    /// node; `false` while the other nodes cannot be asked).
    fn online_elsewhere<'a>(
        &'a self,
        _account: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>> {
        Box::pin(async { false })
    }
}

/// The bus of a single node: straight to the local hub.
#[derive(Debug, Clone)]
pub struct InProcessBus {
    hub: Hub,
    policy: PolicyVersion,
}

impl InProcessBus {
    /// A bus delivering to `hub`, bumping `policy` on policy changes.
    pub fn new(hub: Hub, policy: PolicyVersion) -> Self {
        Self { hub, policy }
    }
}

impl Bus for InProcessBus {
    fn publish(&self, event: BusEvent) {
        self.hub.fan_out(&event);
    }

    fn control(&self, control: Control) {
        self.hub.apply(&control, &self.policy);
    }

    fn health(&self) -> BusHealth {
        BusHealth::Local
    }
}

/// The close code for connections of a server that is stopping (RFC 6455
/// §7.4.1, "going away"): the client reconnects, to another node or once
/// the server is back. Not an [`ErrorCode`]: no request ever gets it.
pub const GOING_AWAY: u16 = 1001;

/// Why and how a connection must close; set once, then the connection is
/// woken.
#[derive(Debug, Default)]
pub struct KillSwitch {
    code: AtomicU16,
    notify: Notify,
}

impl KillSwitch {
    /// Asks the connection to close with `code` (the first reason wins).
    pub fn kill(&self, code: ErrorCode) {
        let _ =
            self.code
                .compare_exchange(0, code.close_code(), Ordering::SeqCst, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Asks the connection to close with [`GOING_AWAY`] (the server is
    /// stopping; the first reason wins).
    pub fn going_away(&self) {
        let _ = self
            .code
            .compare_exchange(0, GOING_AWAY, Ordering::SeqCst, Ordering::SeqCst);
        self.notify.notify_one();
    }

    /// Waits until the connection must close; returns the reason's code
    /// (an [`ErrorCode`]'s close code, or [`GOING_AWAY`]).
    pub async fn killed(&self) -> u16 {
        loop {
            let code = self.code.load(Ordering::SeqCst);
            if code != 0 {
                return code;
            }
            self.notify.notified().await;
        }
    }
}

#[derive(Debug)]
struct Connection {
    id: u64,
    device_id: String,
    session_id: String,
    tx: mpsc::Sender<Event>,
    kill: Arc<KillSwitch>,
}

/// An account's first connection on this node opened, or its last closed
/// (a bus between nodes subscribes to the account's events meanwhile).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Online(String),
    Offline(String),
}

/// Open connections by account.
#[derive(Debug, Clone, Default)]
pub struct Hub {
    inner: Arc<RwLock<HashMap<String, Vec<Connection>>>>,
    next_id: Arc<AtomicU64>,
    stopping: Arc<Stopping>,
    presence: Arc<std::sync::OnceLock<mpsc::UnboundedSender<Presence>>>,
}

/// Set once when the server starts to stop.
#[derive(Debug, Default)]
struct Stopping {
    flag: AtomicBool,
    notify: Notify,
}

/// A connection's registration; dropping it unregisters.
#[derive(Debug)]
pub struct Registration {
    hub: Hub,
    account_id: String,
    id: u64,
    /// Events for this connection.
    pub events: mpsc::Receiver<Event>,
    /// Set when the connection must close.
    pub kill: Arc<KillSwitch>,
}

impl Registration {
    /// Leaves the hub at once (the connection is closing: nothing more is
    /// delivered to it, and it no longer counts as open). Dropping the
    /// registration does the same.
    pub fn leave(&self) {
        if let Ok(mut map) = self.hub.inner.write()
            && let Some(list) = map.get_mut(&self.account_id)
        {
            let before = list.len();
            list.retain(|c| c.id != self.id);
            if list.is_empty() {
                map.remove(&self.account_id);
                if before > 0 {
                    self.hub
                        .tell_presence(Presence::Offline(self.account_id.clone()));
                }
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.leave();
    }
}

impl Hub {
    /// Registers a connection of `device_id` (session `session_id`).
    pub fn register(&self, account_id: &str, device_id: &str, session_id: &str) -> Registration {
        let (tx, events) = mpsc::channel(CONNECTION_QUEUE);
        let kill = Arc::new(KillSwitch::default());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut map) = self.inner.write() {
            let list = map.entry(account_id.to_owned()).or_default();
            if list.is_empty() {
                self.tell_presence(Presence::Online(account_id.to_owned()));
            }
            list.push(Connection {
                id,
                device_id: device_id.to_owned(),
                session_id: session_id.to_owned(),
                tx,
                kill: kill.clone(),
            });
        }
        // Registered after the server began to stop: it closes at once.
        if self.stopping.flag.load(Ordering::SeqCst) {
            kill.going_away();
        }
        Registration {
            hub: self.clone(),
            account_id: account_id.to_owned(),
            id,
            events,
            kill,
        }
    }

    /// Tells `watcher` (once, the bus between nodes) whenever an account's
    /// first connection opens or its last closes; the accounts already
    /// connected are told at once.
    pub fn watch_presence(&self, watcher: mpsc::UnboundedSender<Presence>) {
        if let Ok(map) = self.inner.write() {
            for account in map.keys() {
                let _ = watcher.send(Presence::Online(account.clone()));
            }
            let _ = self.presence.set(watcher);
        }
    }

    fn tell_presence(&self, presence: Presence) {
        if let Some(watcher) = self.presence.get() {
            let _ = watcher.send(presence);
        }
    }

    /// Applies a control event to this node's connections.
    pub fn apply(&self, control: &Control, policy: &PolicyVersion) {
        match control {
            Control::KillDevice { device_id, code } => self.kill_device(device_id, *code),
            Control::KillSession { session_id, code } => self.kill_session(session_id, *code),
            Control::KillAccount { account_id, code } => self.kill_account(account_id, *code),
            Control::KillAccountExcept {
                account_id,
                session_id,
                code,
            } => self.kill_account_except(account_id, session_id, *code),
            Control::PolicyChanged => {}
        }
        // Whatever changed who may do what, cached checks are stale.
        policy.bump();
    }

    /// Asks every connection (or those of `account`) to catch up from the
    /// database. A connection whose queue is full is busy anyway and
    /// catches up with its next message's gap fetch.
    pub fn catch_up(&self, account: Option<&str>) {
        let Ok(map) = self.inner.read() else { return };
        let lists: Vec<&Vec<Connection>> = match account {
            Some(a) => map.get(a).into_iter().collect(),
            None => map.values().collect(),
        };
        for conn in lists.into_iter().flatten() {
            let _ = conn.tx.try_send(Event::CatchUp);
        }
    }

    /// Hands an event to every connection of its audience. A full queue
    /// closes that connection (slow consumer); it catches up on reconnect.
    pub fn fan_out(&self, event: &BusEvent) {
        let Ok(map) = self.inner.read() else { return };
        for account in event.audience.iter() {
            let Some(list) = map.get(account) else {
                continue;
            };
            for conn in list {
                let skip = match &event.event {
                    Event::Message(m) => m.sender_device_id == conn.device_id,
                    Event::Receipt(r) => r.from_device_id == conn.device_id,
                    Event::CatchUp => false,
                };
                if skip {
                    continue;
                }
                if conn.tx.try_send(event.event.clone()).is_err() {
                    conn.kill.kill(ErrorCode::SlowConsumer);
                }
            }
        }
    }

    /// Whether any device of the account has an open connection.
    pub fn is_online(&self, account_id: &str) -> bool {
        self.inner
            .read()
            .map(|map| map.get(account_id).is_some_and(|l| !l.is_empty()))
            .unwrap_or(false)
    }

    /// Closes the connections of a device.
    pub fn kill_device(&self, device_id: &str, code: ErrorCode) {
        self.kill_where(|c| c.device_id == device_id, code);
    }

    /// Closes the connections of a session.
    pub fn kill_session(&self, session_id: &str, code: ErrorCode) {
        self.kill_where(|c| c.session_id == session_id, code);
    }

    /// Closes every connection of an account.
    pub fn kill_account(&self, account_id: &str, code: ErrorCode) {
        if let Ok(map) = self.inner.read()
            && let Some(list) = map.get(account_id)
        {
            for conn in list {
                conn.kill.kill(code);
            }
        }
    }

    /// Closes every connection of an account but those of one session (a
    /// password change ends the other sessions).
    pub fn kill_account_except(&self, account_id: &str, session_id: &str, code: ErrorCode) {
        if let Ok(map) = self.inner.read()
            && let Some(list) = map.get(account_id)
        {
            for conn in list.iter().filter(|c| c.session_id != session_id) {
                conn.kill.kill(code);
            }
        }
    }

    /// Closes every connection (the server is stopping).
    pub fn kill_all(&self, code: ErrorCode) {
        self.kill_where(|_| true, code);
    }

    /// The server is stopping: closes every registered connection with
    /// [`GOING_AWAY`], as well as any that registers later, and wakes
    /// whoever waits in [`Hub::stopping`] (connections still
    /// authenticating, which are not registered yet).
    pub fn going_away(&self) {
        self.stopping.flag.store(true, Ordering::SeqCst);
        self.stopping.notify.notify_waiters();
        if let Ok(map) = self.inner.read() {
            for conn in map.values().flatten() {
                conn.kill.going_away();
            }
        }
    }

    /// Completes once [`Hub::going_away`] has been called (at once if it
    /// has been already).
    pub async fn stopping(&self) {
        loop {
            let notified = self.stopping.notify.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the flag is read: a wake-up in between is kept.
            notified.as_mut().enable();
            if self.stopping.flag.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }

    fn kill_where(&self, pred: impl Fn(&Connection) -> bool, code: ErrorCode) {
        if let Ok(map) = self.inner.read() {
            for conn in map.values().flatten().filter(|c| pred(c)) {
                conn.kill.kill(code);
            }
        }
    }

    /// The number of open connections.
    pub fn connections(&self) -> usize {
        self.inner
            .read()
            .map(|m| m.values().map(Vec::len).sum())
            .unwrap_or(0)
    }
}

/// A counter bumped whenever something that send-time checks depend on
/// changes (participants, team members, keys, consent, revocation), so that
/// connections know their cached view of a thread is stale.
#[derive(Debug, Clone, Default)]
pub struct PolicyVersion(Arc<AtomicU64>);

impl PolicyVersion {
    /// The current version.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Marks every cached view stale.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// The relay's parts, shared by HTTP handlers and sockets.
#[derive(Debug, Clone)]
pub struct Relay {
    /// Open connections on this node.
    pub hub: Hub,
    /// Fan-out to every node.
    pub bus: Arc<dyn Bus>,
    /// The group-commit writer.
    pub writer: writer::WriterHandle,
    /// Staleness of cached send-time checks.
    pub policy: PolicyVersion,
    /// Latencies and counts for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Relay {
    /// Closes the device's connections on every node.
    pub fn kill_device(&self, device_id: &str, code: ErrorCode) {
        self.bus.control(Control::KillDevice {
            device_id: device_id.to_owned(),
            code,
        });
    }

    /// Closes the session's connections on every node.
    pub fn kill_session(&self, session_id: &str, code: ErrorCode) {
        self.bus.control(Control::KillSession {
            session_id: session_id.to_owned(),
            code,
        });
    }

    /// Closes the account's connections on every node.
    pub fn kill_account(&self, account_id: &str, code: ErrorCode) {
        self.bus.control(Control::KillAccount {
            account_id: account_id.to_owned(),
            code,
        });
    }

    /// Closes the account's connections on every node but those of one
    /// session.
    pub fn kill_account_except(&self, account_id: &str, session_id: &str, code: ErrorCode) {
        self.bus.control(Control::KillAccountExcept {
            account_id: account_id.to_owned(),
            session_id: session_id.to_owned(),
            code,
        });
    }

    /// Marks cached send-time checks stale on every node.
    pub fn policy_changed(&self) {
        self.bus.control(Control::PolicyChanged);
    }
}
