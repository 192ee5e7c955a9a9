//! Accepting connections without letting anyone exhaust the server
//! (issue 13). axum's own `serve` gives hyper no timer, so a client could
//! hold a connection forever by sending nothing, or a header a byte at a
//! time; and it accepted until the process ran out of file descriptors.
//! Here:
//!
//! - **Header timeout.** hyper's HTTP/1 header timeout, with a timer: a
//!   request's head must arrive within `header_timeout_seconds`, and a
//!   connection that sends nothing (before its first request, or between
//!   requests) is closed after the same time.
//! - **Connection caps.** At most `max_connections` connections are served
//!   normally and `max_connections_per_address` from one client address
//!   (trusted proxies exempt). Above `max_connections`, a reserve of
//!   further connections is served only for health checks and for
//!   requests that carry credentials (signed-in clients), with
//!   `Connection: close`; everything else gets `503` and `Retry-After`.
//! - **Room for newcomers.** When every slot (`max` and the reserve) is
//!   taken, a new connection takes the slot of the connection that has
//!   been idle longest: one with no request in flight that is not a
//!   WebSocket (it may never have sent a byte). Otherwise idle connections
//!   from a few addresses would fill the reserve too and keep everyone out
//!   until the header timeout, again and again. Only when every connection
//!   is busy (a request in flight, or a WebSocket) are new connections
//!   closed at once.
//! - **File limit.** The soft open-files limit is raised to the hard limit
//!   at start, and the caps are lowered to fit what it allows; the capacity
//!   is logged.
//! - **Accept errors** (out of descriptors, say) back off, from 10 ms to a
//!   second, instead of spinning.
//!
//! A WebSocket keeps its connection's slot for as long as it lives (the
//! relay holds the [`Slot`]), so upgraded connections count too.

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// How many connections to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capacity {
    /// Served normally.
    pub max: usize,
    /// Beyond `max`: health checks and signed-in clients only.
    pub reserve: usize,
    /// From one client address.
    pub per_address: usize,
    /// For a request's head, and for an idle connection.
    pub header_timeout: Duration,
    /// Addresses exempt from the per-address cap (reverse proxies).
    pub trusted_proxies: Vec<IpAddr>,
}

/// Descriptors kept back for the database, key files and logs.
const DESCRIPTORS_FOR_THE_REST: usize = 64;

/// Connections a full server may hold over its caps for a moment: a
/// newcomer is admitted as soon as the idle connection it replaces has
/// been told to close, which takes a moment longer.
const CLOSING_LEEWAY: usize = DESCRIPTORS_FOR_THE_REST / 4;

impl Capacity {
    /// The caps for the configured `max` and `per_address`, lowered to fit
    /// `open_files` (the soft limit): a tenth of what is left is the reserve.
    pub fn fitted(
        max: usize,
        per_address: usize,
        header_timeout: Duration,
        trusted_proxies: Vec<IpAddr>,
        open_files: usize,
    ) -> Self {
        let room = open_files.saturating_sub(DESCRIPTORS_FOR_THE_REST).max(32);
        let served = max.min(room - room / 10).max(16);
        Self {
            max: served,
            reserve: (room - served).max(8),
            per_address: per_address.min(served),
            header_timeout,
            trusted_proxies,
        }
    }
}

/// Raises the soft open-files limit to the hard limit; returns the limit in
/// force afterwards and the one before.
pub fn raise_open_files_limit() -> (usize, usize) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let before = getrlimit(Resource::Nofile);
    let soft = before.current.unwrap_or(1024);
    let hard = before.maximum;
    if hard.is_none_or(|h| h > soft) {
        // Unlimited hard limits are capped: the kernel refuses more than
        // nr_open anyway.
        let target = hard.unwrap_or(1 << 20);
        if setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(target),
                maximum: hard,
            },
        )
        .is_ok()
        {
            return (to_usize(target), to_usize(soft));
        }
    }
    (to_usize(soft), to_usize(soft))
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Open connections, in total and per address.
#[derive(Debug, Default)]
struct Counts {
    total: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// One accepted connection's place in the counts, given back on drop. The
/// relay keeps it while a WebSocket upgraded from the connection lives.
#[derive(Debug)]
pub struct Slot {
    counts: Arc<Counts>,
    address: IpAddr,
    /// This connection is in the reserve (over `max`).
    reserve: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.counts.total.fetch_sub(1, Ordering::AcqRel);
        let mut map = self
            .counts
            .per_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.address);
            }
        }
    }
}

/// The connection's slot, in every request's extensions.
#[derive(Debug, Clone)]
pub struct SlotHandle(pub Arc<Slot>);

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    /// Its address has `per_address` connections already.
    PerAddress,
    /// Every slot is taken.
    Full,
}

impl Counts {
    /// A slot for a new connection from `address`; `leeway` slots over the
    /// caps are allowed (for connections already told to close). `waiting`
    /// connections are idle: they make room when the server is full, so
    /// they do not put a newcomer in the reserve.
    fn admit(
        self: &Arc<Self>,
        address: IpAddr,
        capacity: &Capacity,
        leeway: usize,
        waiting: usize,
    ) -> Result<Slot, Refused> {
        let exempt = capacity.trusted_proxies.contains(&address);
        let mut map = self
            .per_address
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let from_there = map.get(&address).copied().unwrap_or(0);
        if !exempt && from_there >= capacity.per_address {
            return Err(Refused::PerAddress);
        }
        let total = self.total.load(Ordering::Acquire);
        if total >= capacity.max + capacity.reserve + leeway {
            return Err(Refused::Full);
        }
        self.total.fetch_add(1, Ordering::AcqRel);
        *map.entry(address).or_insert(0) += 1;
        Ok(Slot {
            counts: self.clone(),
            address,
            reserve: total.saturating_sub(waiting) >= capacity.max,
        })
    }
}

/// Connections with nothing in flight, longest idle first: the ones a
/// full server closes to make room.
#[derive(Debug, Default)]
struct Idle {
    queue: Mutex<IdleQueue>,
}

#[derive(Debug, Default)]
struct IdleQueue {
    /// The last position given.
    last: u64,
    /// Position → connection.
    waiting: BTreeMap<u64, Arc<Watched>>,
}

/// One connection, as the idle queue sees it. The fields change only with
/// the queue locked.
#[derive(Debug, Default)]
struct Watched {
    /// Wakes the connection's task to close the connection.
    evict: tokio::sync::Notify,
    /// Requests whose responses are not finished.
    busy: AtomicUsize,
    /// Upgraded to a WebSocket, or closed: never idle again.
    done: AtomicBool,
    /// Its position in the queue while it is there, else 0.
    position: AtomicU64,
}

impl Idle {
    fn lock(&self) -> std::sync::MutexGuard<'_, IdleQueue> {
        self.queue
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new connection: idle until its first request.
    fn watch(&self) -> Arc<Watched> {
        let watched = Arc::new(Watched::default());
        self.lock().push(&watched);
        watched
    }

    /// A request began on `watched`: busy until the guard is dropped.
    fn busy(self: &Arc<Self>, watched: &Arc<Watched>) -> Busy {
        let mut queue = self.lock();
        watched.busy.fetch_add(1, Ordering::Relaxed);
        queue.remove(watched);
        Busy {
            idle: self.clone(),
            watched: watched.clone(),
        }
    }

    /// The connection ended (or became a WebSocket).
    fn done(&self, watched: &Watched) {
        let mut queue = self.lock();
        watched.done.store(true, Ordering::Relaxed);
        queue.remove(watched);
    }

    /// How many connections are idle.
    fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// Tells the connection idle longest to close; whether there was one.
    fn evict_oldest(&self) -> bool {
        let mut queue = self.lock();
        let Some((_, watched)) = queue.waiting.pop_first() else {
            return false;
        };
        watched.position.store(0, Ordering::Relaxed);
        watched.done.store(true, Ordering::Relaxed);
        watched.evict.notify_one();
        true
    }
}

impl IdleQueue {
    fn push(&mut self, watched: &Arc<Watched>) {
        self.last += 1;
        watched.position.store(self.last, Ordering::Relaxed);
        self.waiting.insert(self.last, watched.clone());
    }

    fn remove(&mut self, watched: &Watched) {
        let position = watched.position.swap(0, Ordering::Relaxed);
        if position != 0 {
            self.waiting.remove(&position);
        }
    }
}

/// A request in flight on a connection; when the last one's response has
/// gone out, the connection is idle again.
#[derive(Debug)]
struct Busy {
    idle: Arc<Idle>,
    watched: Arc<Watched>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut queue = self.idle.lock();
        let left = self.watched.busy.fetch_sub(1, Ordering::Relaxed) - 1;
        if left == 0 && !self.watched.done.load(Ordering::Relaxed) {
            queue.push(&self.watched);
        }
    }
}

/// A response body that keeps its request counted as in flight until it
/// has been sent (or dropped).
struct BusyBody {
    body: axum::body::Body,
    _busy: Busy,
}

impl hyper::body::Body for BusyBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// For a connection in the reserve: only health checks and requests with
/// credentials (a bearer token, or a WebSocket offering one) are served,
/// and the connection closes after the answer.
pub async fn reserve_guard(request: Request, next: Next) -> Response {
    let reserve = request
        .extensions()
        .get::<SlotHandle>()
        .is_some_and(|s| s.0.reserve);
    if !reserve {
        return next.run(request).await;
    }
    let path = request.uri().path();
    let health = path == "/healthz" || path == "/readyz";
    let headers = request.headers();
    let credentials = headers.contains_key(header::AUTHORIZATION)
        || headers
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("samtale.bearer."));
    let mut response = if health || credentials {
        next.run(request).await
    } else {
        let mut busy = crate::http::ApiError::new(
            samtale_protocol::wire::ErrorCode::Unavailable,
            "the server is at its connection limit; try again in a few seconds",
        )
        .into_response();
        *busy.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
        busy.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        busy
    };
    // (A WebSocket upgrade keeps its `Connection: upgrade`: the socket then
    // holds the slot for as long as it lives.)
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Serves `app` on `listener` until `shutdown` completes, then waits up to
/// `drain` for open requests to finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    capacity: Capacity,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Duration,
) -> std::io::Result<()> {
    let counts = Arc::new(Counts::default());
    let idle = Arc::new(Idle::default());
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(capacity.header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    let mut backoff = Duration::from_millis(10);
    let mut refused: u64 = 0;
    let mut evicted: u64 = 0;
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => {
                    backoff = Duration::from_millis(10);
                    pair
                }
                Err(error) => {
                    // Out of descriptors or memory: wait instead of spinning.
                    tracing::warn!(%error, wait_ms = backoff.as_millis() as u64, "cannot accept a connection");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        let admitted = match counts.admit(peer.ip(), &capacity, 0, idle.waiting()) {
            // Full: the connection idle longest makes room.
            Err(Refused::Full) if idle.evict_oldest() => {
                evicted += 1;
                if evicted.is_power_of_two() {
                    tracing::warn!(
                        evicted,
                        "connection limit reached: idle connections are closed to make room"
                    );
                }
                counts.admit(peer.ip(), &capacity, CLOSING_LEEWAY, idle.waiting())
            }
            other => other,
        };
        let Ok(slot) = admitted else {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    refused,
                    "connection limit reached: new connections are closed at once"
                );
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let slot = SlotHandle(Arc::new(slot));
        let app = app.clone();
        let watched = idle.watch();
        let service = {
            let (idle, watched) = (idle.clone(), watched.clone());
            hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
                let busy = idle.busy(&watched);
                request.extensions_mut().insert(ConnectInfo(peer));
                request.extensions_mut().insert(slot.clone());
                let response = app.clone().oneshot(request.map(axum::body::Body::new));
                let idle = idle.clone();
                async move {
                    let response = response.await?;
                    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                        // A WebSocket now: never idle in this sense.
                        idle.done(&busy.watched);
                    }
                    Ok::<_, Infallible>(response.map(|body| BusyBody { body, _busy: busy }))
                }
            })
        };
        let connection = builder
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stopping = stopping.clone();
        let idle = idle.clone();
        tokio::spawn(async move {
            let mut connection = std::pin::pin!(connection);
            // Timeouts and resets are the client's business, not errors.
            tokio::select! {
                _ = connection.as_mut() => {}
                () = watched.evict.notified() => {}
                _ = async { let _ = stopping.wait_for(|s| *s).await; } => {
                    // Finish the request in flight, take no new one.
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            idle.done(&watched);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    let deadline = tokio::time::Instant::now() + drain;
    while counts.total.load(Ordering::Acquire) > 0 {
        if tokio::time::Instant::now() >= deadline {
            tracing::warn!(
                seconds = drain.as_secs(),
                open = counts.total.load(Ordering::Acquire),
                "connections still open at shutdown were cut off"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// The address a connection came from (for code that has no request).
pub fn peer_of(request: &Request) -> Option<SocketAddr> {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capacity() -> Capacity {
        Capacity {
            max: 2,
            reserve: 1,
            per_address: 2,
            header_timeout: Duration::from_secs(1),
            trusted_proxies: vec!["10.0.0.1".parse().unwrap()],
        }
    }

    #[test]
    fn connections_past_the_caps_are_refused_and_slots_are_given_back() {
        let counts = Arc::new(Counts::default());
        let (a, b, proxy): (IpAddr, IpAddr, IpAddr) = (
            "192.0.2.1".parse().unwrap(),
            "192.0.2.2".parse().unwrap(),
            "10.0.0.1".parse().unwrap(),
        );
        let c = capacity();
        let first = counts.admit(a, &c, 0, 0).unwrap();
        let second = counts.admit(a, &c, 0, 0).unwrap();
        assert!(!first.reserve && !second.reserve);
        assert_eq!(counts.admit(a, &c, 0, 0).err(), Some(Refused::PerAddress));
        let third = counts.admit(b, &c, 0, 0).unwrap();
        assert!(third.reserve, "over max: the reserve");
        assert_eq!(counts.admit(proxy, &c, 0, 0).err(), Some(Refused::Full));
        let leeway = counts.admit(proxy, &c, 1, 3).unwrap();
        assert!(
            !leeway.reserve,
            "within the leeway; not in the reserve while the others are idle"
        );
        drop(leeway);
        drop(first);
        let again = counts.admit(proxy, &c, 0, 0).unwrap();
        assert!(again.reserve);
        drop((second, third, again));
        assert_eq!(counts.total.load(Ordering::Acquire), 0);
        assert!(counts.per_address.lock().unwrap().is_empty());
    }

    #[test]
    fn the_connection_idle_longest_is_closed_to_make_room_never_a_busy_one_or_a_websocket() {
        use futures_util::FutureExt as _;
        let idle = Arc::new(Idle::default());
        let (first, second, third) = (idle.watch(), idle.watch(), idle.watch());
        let request = idle.busy(&first);
        idle.done(&second); // upgraded to a WebSocket
        assert!(idle.evict_oldest());
        assert!(
            third.evict.notified().now_or_never().is_some(),
            "the idle one is told to close"
        );
        assert!(!idle.evict_oldest(), "one is busy, one is a WebSocket");
        drop(request);
        assert!(idle.evict_oldest(), "idle again once its response is out");
        assert!(first.evict.notified().now_or_never().is_some());
        assert!(second.evict.notified().now_or_never().is_none());
        assert!(idle.lock().waiting.is_empty());
    }

    #[test]
    fn the_caps_fit_the_open_files_limit() {
        let c = Capacity::fitted(8192, 256, Duration::from_secs(10), vec![], 1024);
        assert!(
            c.max + c.reserve <= 1024 - DESCRIPTORS_FOR_THE_REST,
            "{c:?}"
        );
        assert!(c.reserve >= 8);
        let roomy = Capacity::fitted(8192, 256, Duration::from_secs(10), vec![], 1 << 20);
        assert_eq!(roomy.max, 8192);
    }
}
