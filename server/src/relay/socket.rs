//! One device's WebSocket at `/ws`.
//!
//! * Authentication comes in the first frame (`auth`) or as a
//!   `samtale.bearer.<token>` entry of `Sec-WebSocket-Protocol`, never in
//!   the URL. A browser's `Origin` must be configured.
//! * Small buffers: a 4 KiB read buffer, frames and messages capped at the
//!   protocol's frame limit, a bounded write buffer, a bounded event queue
//!   (a connection that cannot keep up is closed with `slow_consumer`), a
//!   per-connection frame rate limit, and ping/pong heartbeats.
//! * `send` is checked (thread access, consent, the envelope's signature,
//!   ids and recipients) and handed to the group-commit writer; the `ack`
//!   follows the commit.
//! * `sync` replays a thread from a cursor, then live traffic follows. A
//!   live message that would skip a sequence number makes the connection
//!   fetch the gap from the database first, so no cursor ever skips one.
//! * Errors about one frame are answered with an `error` frame and the
//!   connection goes on; errors about the connection end it with the code's
//!   close code. A frame that breaks RFC 6455 itself fails the connection
//!   with a close frame first: 1002 (framing), 1007 (text that is not
//!   UTF-8), 1009 (over the size limit).

use std::collections::{BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use futures_util::stream::FuturesOrdered;
use samtale_protocol::wire::{
    ClientFrame, ErrorCode, MAX_FRAME_BYTES, ServerFrame, WS_SUBPROTOCOL,
};
use samtale_protocol::{Envelope, MessageId, Receipt, ReceiptKind, ThreadId};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

use super::writer::WriteRequest;
use super::{BusEvent, Event, GOING_AWAY};
use crate::audit::{Action, AuditEvent, Detail};
use crate::http::caller::{Caller, authenticate};
use crate::http::threads::{Access, ThreadContext, consent_allows_sending, thread_context};
use crate::http::{ApiError, AppState};
use crate::storage::messaging::{CommitOutcome, NewReceipt, PendingMessage};

/// The prefix of the `Sec-WebSocket-Protocol` entry that carries a token.
pub const BEARER_PROTOCOL_PREFIX: &str = "samtale.bearer.";
/// How long a connection may take to authenticate.
pub const AUTH_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the server pings and re-checks the session.
pub const HEARTBEAT: Duration = Duration::from_secs(15);
/// Silence after which a connection is considered dead.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(45);
/// How long one frame may take to go out before the reader counts as stuck.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// Messages fetched per database round trip during a sync.
const SYNC_PAGE: i64 = 200;
/// Invalid frames (malformed, binary, unknown) a connection may send before
/// it is closed; each valid frame forgives one.
const INVALID_FRAMES_ALLOWED: u32 = 20;
/// Frames refused by the rate limit, in a row, before the connection is
/// closed.
const RATE_LIMITED_ALLOWED: u32 = 50;
/// How long a closing connection waits for the peer's close frame (and
/// reads what it still sends), so the close frame is read before the
/// socket goes, instead of a TCP reset.
const LINGER: Duration = Duration::from_secs(1);
/// Threads whose checks a connection caches.
const CONTEXT_CACHE: usize = 256;

/// `GET /ws`: upgrade to the relay protocol.
pub async fn ws_handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    slot: Option<axum::Extension<crate::http::serve::SlotHandle>>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    use axum::extract::ws::rejection::WebSocketUpgradeRejection as Rejected;
    let ws = match ws {
        Ok(ws) => ws,
        // RFC 6455 §4.4: name the version this server speaks.
        Err(Rejected::InvalidWebSocketVersionHeader(_)) => {
            return crate::http::websocket_version_required();
        }
        Err(rejection) => {
            return ApiError::new(
                ErrorCode::BadRequest,
                format!("not a WebSocket handshake: {rejection}"),
            )
            .into_response();
        }
    };
    // RFC 6455 §4.2.1: the key is 16 random bytes in base64.
    let key_ok = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .and_then(|k| k.to_str().ok())
        .and_then(|k| {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.decode(k).ok()
        })
        .is_some_and(|k| k.len() == 16);
    if !key_ok {
        return ApiError::new(
            ErrorCode::BadRequest,
            "Sec-WebSocket-Key must be 16 bytes in base64 (RFC 6455 §4.2.1)",
        )
        .into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
            state.origin_allowed(o, host)
        });
        if !allowed {
            return ApiError::new(
                ErrorCode::Forbidden,
                "this web origin may not open a WebSocket; an operator can add it to allowed_origins",
            )
            .into_response();
        }
    }
    let mut speaks_v1 = false;
    let mut token = None;
    for protocol in ws.requested_protocols() {
        let Ok(p) = protocol.to_str() else { continue };
        if p == WS_SUBPROTOCOL {
            speaks_v1 = true;
        } else if let Some(t) = p.strip_prefix(BEARER_PROTOCOL_PREFIX) {
            token = Some(t.to_owned());
        }
    }
    if !speaks_v1 {
        return ApiError::new(
            ErrorCode::BadRequest,
            format!("offer the WebSocket subprotocol {WS_SUBPROTOCOL}"),
        )
        .into_response();
    }
    ws.protocols([WS_SUBPROTOCOL])
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .max_write_buffer_size(2 * MAX_FRAME_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| async move {
            // The connection's slot is held while the socket lives.
            let _slot = slot;
            // Boxed: the task of an idle connection then holds only what
            // waiting needs, not the largest future it ever awaited.
            if let Some(conn) = Box::pin(Connection::authenticate(state, socket, token)).await {
                let mut conn = Box::new(conn);
                conn.run().await;
            }
        })
}

type AckFuture = Pin<Box<dyn Future<Output = ServerFrame> + Send>>;

/// Why a frame failed: answered, and the connection goes on.
struct FrameFailure {
    code: ErrorCode,
    message: String,
}

impl From<ApiError> for FrameFailure {
    fn from(e: ApiError) -> Self {
        Self {
            code: e.code(),
            message: e.message().to_owned(),
        }
    }
}

fn fail(code: ErrorCode, message: impl Into<String>) -> FrameFailure {
    FrameFailure {
        code,
        message: message.into(),
    }
}

/// A token bucket: `rate` frames per second, bursts of five seconds' worth.
struct Bucket {
    tokens: f64,
    rate: f64,
    last: Instant,
}

impl Bucket {
    fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        Self {
            tokens: rate * 5.0,
            rate,
            last: Instant::now(),
        }
    }

    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.last).as_secs_f64() * self.rate)
            .min(self.rate * 5.0);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

struct Connection {
    state: AppState,
    socket: WebSocket,
    caller: Caller,
    identity_key: [u8; 32],
    /// Whether the organisation root has certified this (staff) device;
    /// re-checked when a send would be refused, so a certificate uploaded
    /// while connected counts at once.
    certified: bool,
    registration: super::Registration,
    /// Per subscribed thread: the highest sequence number this connection
    /// has delivered.
    cursors: HashMap<ThreadId, u64>,
    /// Sequence numbers of this device's own messages (acked, never echoed).
    own: HashMap<ThreadId, BTreeSet<u64>>,
    contexts: HashMap<String, (u64, Arc<ThreadContext>)>,
    pending: FuturesOrdered<AckFuture>,
    bucket: Bucket,
    last_heard: Instant,
    /// Invalid frames not yet forgiven.
    invalid: u32,
    /// Frames refused by the rate limit in a row.
    rate_limited: u32,
}

fn text(frame: &ServerFrame) -> Message {
    Message::Text(Utf8Bytes::from(frame.to_json()))
}

fn error_frame(code: ErrorCode, message: impl Into<String>, id: Option<MessageId>) -> ServerFrame {
    ServerFrame::Error {
        code,
        message: message.into(),
        message_id: id,
    }
}

/// Sends a final error frame and a close frame, then lingers: reads (and
/// drops) what the peer still sends until it answers the close or
/// [`LINGER`] passes, so it reads the close frame instead of getting a TCP
/// reset for unread data (RFC 6455 §7.1.1).
async fn close_with(socket: &mut WebSocket, code: ErrorCode, message: &str) {
    let _ = tokio::time::timeout(SEND_TIMEOUT, async {
        let _ = socket.send(text(&error_frame(code, message, None))).await;
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code: code.close_code(),
                reason: Utf8Bytes::from(format!("{code:?}")),
            })))
            .await;
    })
    .await;
    linger(socket).await;
}

/// Closes a connection because the server is stopping: the reason in an
/// `unavailable` error frame, then 1001 ("going away", RFC 6455 §7.4.1),
/// then lingers like [`close_with`].
async fn close_going_away(socket: &mut WebSocket) {
    let _ = tokio::time::timeout(SEND_TIMEOUT, async {
        let frame = error_frame(
            ErrorCode::Unavailable,
            "the server is shutting down; reconnect shortly",
            None,
        );
        let _ = socket.send(text(&frame)).await;
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code: GOING_AWAY,
                reason: Utf8Bytes::from_static("going away"),
            })))
            .await;
    })
    .await;
    linger(socket).await;
}

/// Drains the socket until the peer closes or [`LINGER`] passes.
async fn linger(socket: &mut WebSocket) {
    let _ = tokio::time::timeout(LINGER, async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Answers a peer's close frame with the same code (RFC 6455 §5.5.1) and
/// waits briefly for the peer to close the TCP connection.
async fn echo_close(socket: &mut WebSocket, frame: Option<CloseFrame>) {
    let echo = frame.map(|f| CloseFrame {
        code: f.code,
        reason: Utf8Bytes::from_static(""),
    });
    let _ = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Close(echo))).await;
    linger(socket).await;
}

impl Connection {
    /// Authenticates from the header token or the first frame; `None` when
    /// the connection was refused (and closed).
    async fn authenticate(
        state: AppState,
        mut socket: WebSocket,
        header_token: Option<String>,
    ) -> Option<Self> {
        let token = match header_token {
            Some(t) => t,
            None => match tokio::select! {
                first = tokio::time::timeout(AUTH_TIMEOUT, socket.recv()) => first,
                () = state.relay.hub.stopping() => {
                    // Not registered yet, so not closed by the hub: the
                    // server is stopping, and waits for nobody's token.
                    close_going_away(&mut socket).await;
                    return None;
                }
            } {
                Err(_) => {
                    close_with(
                        &mut socket,
                        ErrorCode::NotAuthenticated,
                        "authenticate within 10 seconds: send an auth frame first",
                    )
                    .await;
                    return None;
                }
                Ok(None) => return None,
                Ok(Some(Err(error))) => {
                    fail_connection(&mut socket, error).await;
                    return None;
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    echo_close(&mut socket, frame).await;
                    return None;
                }
                Ok(Some(Ok(Message::Text(t)))) => match ClientFrame::parse(t.as_str()) {
                    Ok(ClientFrame::Auth { token }) => token,
                    Ok(_) => {
                        close_with(
                            &mut socket,
                            ErrorCode::NotAuthenticated,
                            "the first frame must be auth (or send the token in Sec-WebSocket-Protocol)",
                        )
                        .await;
                        return None;
                    }
                    Err(e) => {
                        close_with(&mut socket, e.code, &e.message).await;
                        return None;
                    }
                },
                Ok(Some(Ok(_))) => {
                    close_with(
                        &mut socket,
                        ErrorCode::NotAuthenticated,
                        "the first frame must be an auth text frame",
                    )
                    .await;
                    return None;
                }
            },
        };
        let caller = match authenticate(&state, &token).await {
            Ok(c) => c,
            Err(e) => {
                close_with(&mut socket, e.code(), e.message()).await;
                return None;
            }
        };
        let (identity_key, certified) = match state.storage.device(&caller.device_id).await {
            Ok(Some(d)) => (
                d.identity_key.as_slice().try_into().ok()?,
                d.certificate.is_some(),
            ),
            _ => {
                close_with(
                    &mut socket,
                    ErrorCode::Internal,
                    "the device could not be loaded",
                )
                .await;
                return None;
            }
        };
        let registration =
            state
                .relay
                .hub
                .register(caller.id(), &caller.device_id, &caller.session_id);
        let ready = ServerFrame::Ready {
            device_id: caller.device_id.parse().ok()?,
            server_time_ms: u64::try_from(state.clock.now_ms()).unwrap_or(0),
        };
        if socket.send(text(&ready)).await.is_err() {
            return None;
        }
        let bucket = Bucket::new(state.ws_frames_per_second);
        Some(Self {
            state,
            socket,
            caller,
            identity_key,
            certified,
            registration,
            cursors: HashMap::new(),
            own: HashMap::new(),
            contexts: HashMap::new(),
            pending: FuturesOrdered::new(),
            bucket,
            last_heard: Instant::now(),
            invalid: 0,
            rate_limited: 0,
        })
    }

    async fn send(&mut self, frame: &ServerFrame) -> Result<(), ()> {
        let sent = tokio::time::timeout(SEND_TIMEOUT, self.socket.send(text(frame))).await;
        self.settle(sent)
    }

    async fn close(&mut self, code: ErrorCode, message: &str) {
        // Out of the hub before the close frame lingers.
        self.registration.leave();
        close_with(&mut self.socket, code, message).await;
    }

    async fn run(&mut self) {
        let kill = self.registration.kill.clone();
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                code = kill.killed() => {
                    if code == GOING_AWAY {
                        Box::pin(close_going_away(&mut self.socket)).await;
                    } else {
                        let (code, why) = close_reason(code);
                        Box::pin(self.close(code, why)).await;
                    }
                    break;
                }
                Some(frame) = self.pending.next(), if !self.pending.is_empty() => {
                    if let ServerFrame::Ack { thread_id, seq, .. } = &frame {
                        self.own.entry(*thread_id).or_default().insert(*seq);
                    }
                    if self.send(&frame).await.is_err() {
                        break;
                    }
                }
                event = self.registration.events.recv() => {
                    let Some(event) = event else { break };
                    if Box::pin(self.on_event(event)).await.is_err() {
                        break;
                    }
                }
                message = self.socket.recv() => {
                    match message {
                        None => break,
                        Some(Err(error)) => {
                            self.registration.leave();
                            fail_connection(&mut self.socket, error).await;
                            break;
                        }
                        Some(Ok(message)) => {
                            self.last_heard = Instant::now();
                            if let Message::Close(frame) = message {
                                self.registration.leave();
                                echo_close(&mut self.socket, frame).await;
                                break;
                            }
                            // Every frame counts against the rate limit,
                            // valid or not, pings included.
                            if !self.bucket.take() {
                                self.rate_limited += 1;
                                if self.rate_limited > RATE_LIMITED_ALLOWED {
                                    self.close(ErrorCode::RateLimited, "too many frames on this connection").await;
                                    break;
                                }
                                if let Message::Text(_) | Message::Binary(_) = message {
                                    let frame = error_frame(ErrorCode::RateLimited, "too many frames on this connection: slow down and resend", None);
                                    if self.send(&frame).await.is_err() {
                                        break;
                                    }
                                }
                                continue;
                            }
                            self.rate_limited = 0;
                            let valid = match message {
                                Message::Text(t) => match Box::pin(self.on_text(t.as_str())).await {
                                    Err(()) => break,
                                    Ok(valid) => valid,
                                },
                                Message::Binary(_) => {
                                    let frame = error_frame(ErrorCode::BadRequest, "this protocol uses text frames only", None);
                                    if self.send(&frame).await.is_err() {
                                        break;
                                    }
                                    false
                                }
                                Message::Ping(_) | Message::Pong(_) | Message::Close(_) => true,
                            };
                            if valid {
                                self.invalid = self.invalid.saturating_sub(1);
                            } else {
                                self.invalid += 1;
                                if self.invalid > INVALID_FRAMES_ALLOWED {
                                    self.close(ErrorCode::BadRequest, "too many invalid frames on this connection").await;
                                    break;
                                }
                            }
                        }
                    }
                }
                _ = heartbeat.tick() => {
                    if self.last_heard.elapsed() > IDLE_TIMEOUT {
                        self.close(ErrorCode::BadRequest, "no traffic or pong within 45 seconds").await;
                        break;
                    }
                    if let Some((code, why)) = Box::pin(self.session_ended()).await {
                        self.close(code, why).await;
                        break;
                    }
                    if self.socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                        break;
                    }
                }
            }
        }
    }

    /// Re-checks the session (revocation on another node, expiry).
    async fn session_ended(&mut self) -> Option<(ErrorCode, &'static str)> {
        let now = self.state.clock.now();
        match self
            .state
            .storage
            .check_session(&self.caller.session_id, &self.caller.device_id, now)
            .await
        {
            Ok(Some(c)) if c.device_revoked => {
                Some((ErrorCode::DeviceRevoked, "this device has been revoked"))
            }
            Ok(Some(c)) if c.account_disabled || c.session_revoked || c.session_expired => Some((
                ErrorCode::AuthenticationFailed,
                "this session has ended; log in again",
            )),
            Ok(None) => Some((ErrorCode::AuthenticationFailed, "this session has ended")),
            _ => None,
        }
    }

    /// Handles one text frame; `Ok(false)` when it was not a valid frame
    /// (it was answered with an error), `Err` when the connection is gone.
    async fn on_text(&mut self, text: &str) -> Result<bool, ()> {
        let frame = match ClientFrame::parse(text) {
            Ok(f) => f,
            Err(e) => {
                return self
                    .send(&error_frame(e.code, e.message, None))
                    .await
                    .map(|()| false);
            }
        };
        let message_id = match &frame {
            ClientFrame::Send { message_id, .. } => Some(*message_id),
            _ => None,
        };
        let result = match frame {
            ClientFrame::Auth { .. } => Err(fail(
                ErrorCode::BadRequest,
                "this connection is already authenticated",
            )),
            ClientFrame::Send {
                thread_id,
                message_id,
                envelope,
            } => self.on_send(thread_id, message_id, envelope).await,
            ClientFrame::Sync {
                thread_id,
                after_seq,
            } => return self.on_sync(thread_id, after_seq).await.map(|()| true),
            ClientFrame::Receipt { receipt } => self.on_receipt(receipt).await,
        };
        match result {
            Ok(()) => Ok(true),
            // A well-formed frame the server refused (an unknown thread, a
            // conflict) is not an invalid frame.
            Err(f) => self
                .send(&error_frame(f.code, f.message, message_id))
                .await
                .map(|()| true),
        }
    }

    async fn context(&mut self, thread_id: &str) -> Result<Arc<ThreadContext>, FrameFailure> {
        let version = self.state.relay.policy.get();
        if let Some((v, ctx)) = self.contexts.get(thread_id)
            && *v == version
        {
            return Ok(ctx.clone());
        }
        let ctx = thread_context(&self.state, &self.caller, thread_id)
            .await?
            .ok_or_else(|| fail(ErrorCode::NotFound, "no such thread, or you may not see it"))?;
        let ctx = Arc::new(ctx);
        if self.contexts.len() >= CONTEXT_CACHE {
            self.contexts.clear();
        }
        self.contexts
            .insert(thread_id.to_owned(), (version, ctx.clone()));
        Ok(ctx)
    }

    async fn on_send(
        &mut self,
        thread_id: ThreadId,
        message_id: MessageId,
        envelope: Vec<u8>,
    ) -> Result<(), FrameFailure> {
        let thread = thread_id.to_string();
        let ctx = self.context(&thread).await?;
        if ctx.access < Access::Write {
            return Err(fail(
                ErrorCode::Forbidden,
                "record clerks read threads; only the team's staff and the citizens taking part send",
            ));
        }
        consent_allows_sending(&ctx.citizens, self.caller.id())?;
        if self.caller.is_staff() && !self.certified {
            // Citizens trust a staff message only through its device's
            // certificate: without one it would be shown to nobody.
            self.certified = self
                .state
                .storage
                .device(&self.caller.device_id)
                .await
                .map_err(ApiError::from)?
                .is_some_and(|d| d.certificate.is_some());
            if !self.certified {
                return Err(fail(
                    ErrorCode::Forbidden,
                    "this staff device is not certified by the organisation yet; an admin certifies it (samtale admin certify), then send again",
                ));
            }
        }
        let decoded = Envelope::decode(&envelope).map_err(|e| {
            fail(
                ErrorCode::InvalidEnvelope,
                format!("the envelope is malformed: {e}"),
            )
        })?;
        if decoded.thread_id() != thread_id || decoded.message_id() != message_id {
            return Err(fail(
                ErrorCode::InvalidEnvelope,
                "the envelope's thread or message id does not match the frame",
            ));
        }
        if decoded.sender().to_bytes() != self.identity_key {
            return Err(fail(
                ErrorCode::InvalidEnvelope,
                "the envelope names another sender than this device",
            ));
        }
        if !decoded.verify_signature() {
            return Err(fail(
                ErrorCode::InvalidEnvelope,
                "the envelope's signature does not verify",
            ));
        }
        let required = ctx
            .recipients
            .as_ref()
            .map_err(|m| fail(ErrorCode::Conflict, format!("{m}: nothing can be sent yet")))?;
        let mut sealed_to = decoded.recipients().to_vec();
        sealed_to.sort();
        if &sealed_to != required {
            return Err(fail(
                ErrorCode::Conflict,
                format!(
                    "the envelope must be sealed to the thread's current keys (team, each citizen, archive): fetch GET /v1/threads/{thread} and seal to its recipients"
                ),
            ));
        }
        let (reply, answer) = oneshot::channel();
        let request = WriteRequest {
            message: PendingMessage {
                thread_id: thread,
                message_id: message_id.to_string(),
                sender_device_id: self.caller.device_id.clone(),
                sender_account: self.caller.id().to_owned(),
                org_id: ctx.thread.org_id.clone(),
                envelope_sha256: Sha256::digest(&envelope).into(),
                envelope,
            },
            thread_id,
            message_id,
            audience: ctx.audience.clone(),
            sender_account: self.caller.id().to_owned(),
            org_id: ctx.thread.org_id.clone(),
            reply,
        };
        let started = Instant::now();
        if self.state.relay.writer.submit(request).await.is_err() {
            return Err(fail(
                ErrorCode::Unavailable,
                "the server is shutting down; resend later",
            ));
        }
        let metrics = self.state.relay.metrics.clone();
        self.pending.push_back(Box::pin(async move {
            let answer = answer.await;
            metrics.ack_latency.observe(started.elapsed().as_secs_f64());
            match answer {
                Ok(Ok(CommitOutcome::Stored {
                    seq,
                    committed_at_ms,
                }))
                | Ok(Ok(CommitOutcome::Duplicate {
                    seq,
                    committed_at_ms,
                })) => ServerFrame::Ack {
                    thread_id,
                    message_id,
                    seq: u64::try_from(seq).unwrap_or(0),
                    committed_at_ms: u64::try_from(committed_at_ms).unwrap_or(0),
                },
                Ok(Ok(CommitOutcome::Conflict)) => error_frame(
                    ErrorCode::Conflict,
                    "this message id belongs to another message: choose a new random id",
                    Some(message_id),
                ),
                Ok(Err(())) | Err(_) => error_frame(
                    ErrorCode::Internal,
                    "the message could not be stored; nothing was saved: resend it",
                    Some(message_id),
                ),
            }
        }));
        Ok(())
    }

    async fn on_sync(&mut self, thread_id: ThreadId, after_seq: u64) -> Result<(), ()> {
        let thread = thread_id.to_string();
        if let Err(f) = self.context(&thread).await {
            return self.send(&error_frame(f.code, f.message, None)).await;
        }
        let cursor = match self.replay(thread_id, after_seq).await? {
            Some(cursor) => cursor,
            None => {
                let frame = error_frame(ErrorCode::Internal, "the sync failed; sync again", None);
                return self.send(&frame).await;
            }
        };
        self.cursors.insert(thread_id, cursor);
        self.send(&ServerFrame::Synced {
            thread_id,
            up_to_seq: cursor,
        })
        .await
    }

    /// Sends every message of the thread after `after_seq`, a page at a
    /// time; the new cursor, or `None` when the database failed (logged).
    /// A page's frames go out in one write where the socket's buffer
    /// allows, and the next page is read while this one is written.
    async fn replay(&mut self, thread_id: ThreadId, after_seq: u64) -> Result<Option<u64>, ()> {
        let thread = thread_id.to_string();
        let storage = self.state.storage.clone();
        let page = |after: u64| {
            let storage = storage.clone();
            let thread = thread.clone();
            async move {
                storage
                    .messages_after(&thread, i64::try_from(after).unwrap_or(i64::MAX), SYNC_PAGE)
                    .await
            }
        };
        let mut cursor = after_seq;
        let mut rows = page(cursor).await;
        loop {
            let current = match rows {
                Ok(rows) => rows,
                Err(error) => {
                    tracing::error!(%error, "sync failed");
                    return Ok(None);
                }
            };
            let full = i64::try_from(current.len()).unwrap_or(0) == SYNC_PAGE;
            let frames: Vec<ServerFrame> = current
                .into_iter()
                .filter_map(|row| deliver_frame(thread_id, row))
                .collect();
            let Some(ServerFrame::Deliver { seq: last, .. }) = frames.last() else {
                return Ok(Some(cursor));
            };
            let last = *last;
            let sent = frames.len() as u64;
            let next = if full {
                let (next, written) = tokio::join!(page(last), self.send_all(&frames));
                written?;
                Some(next)
            } else {
                self.send_all(&frames).await?;
                None
            };
            self.state
                .relay
                .metrics
                .messages_out
                .fetch_add(sent, std::sync::atomic::Ordering::Relaxed);
            cursor = last;
            match next {
                Some(next) => rows = next,
                None => return Ok(Some(cursor)),
            }
        }
    }

    /// Sends `frames` in order with one flush at the end (the socket writes
    /// whenever its buffer fills). As for one frame, the reader counts as
    /// stuck when a write makes no progress for [`SEND_TIMEOUT`]; a slow
    /// but reading phone gets the whole page however long it takes.
    async fn send_all(&mut self, frames: &[ServerFrame]) -> Result<(), ()> {
        use futures_util::SinkExt as _;
        for frame in frames {
            let fed = tokio::time::timeout(SEND_TIMEOUT, self.socket.feed(text(frame))).await;
            self.settle(fed)?;
        }
        let flushed = tokio::time::timeout(SEND_TIMEOUT, self.socket.flush()).await;
        self.settle(flushed)
    }

    /// The outcome of a timed write: a timeout closes the connection as a
    /// slow consumer.
    fn settle<E>(
        &self,
        outcome: Result<Result<(), E>, tokio::time::error::Elapsed>,
    ) -> Result<(), ()> {
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(()),
            Err(_) => {
                // The reader stopped reading: its buffers are full.
                self.registration.kill.kill(ErrorCode::SlowConsumer);
                Err(())
            }
        }
    }

    /// Live events may have been missed (the bus between nodes was down or
    /// is new for this account): the session is checked again (a
    /// revocation on a node the bus could not reach) and every subscribed
    /// thread is sent what the database has past its cursor.
    async fn catch_up(&mut self) -> Result<(), ()> {
        if let Some((code, why)) = Box::pin(self.session_ended()).await {
            self.close(code, why).await;
            return Err(());
        }
        // One query for where every subscribed thread stands; only those
        // that moved past the cursor are replayed (a caseworker follows
        // hundreds of threads, and this runs every second while the bus
        // is down).
        let ids: Vec<String> = self.cursors.keys().map(ToString::to_string).collect();
        let heads = match self.state.storage.threads_last_seq(&ids).await {
            Ok(heads) => heads,
            Err(error) => {
                tracing::warn!(%error, "catch-up failed; trying again at the next one");
                return Ok(());
            }
        };
        for (id, last) in heads {
            let Ok(thread_id) = id.parse::<ThreadId>() else {
                continue;
            };
            let Some(&cursor) = self.cursors.get(&thread_id) else {
                continue;
            };
            if u64::try_from(last).unwrap_or(0) <= cursor {
                continue;
            }
            // Counted as delivered: this connection's own acked messages.
            let cursor = self.own_cursor(thread_id, cursor);
            if let Some(cursor) = self.replay(thread_id, cursor).await? {
                self.cursors.insert(thread_id, cursor);
            }
        }
        Ok(())
    }

    /// The cursor moved past this connection's own acknowledged messages
    /// that directly follow it (they are never delivered back to it).
    fn own_cursor(&mut self, thread_id: ThreadId, mut cursor: u64) -> u64 {
        if let Some(own) = self.own.get_mut(&thread_id) {
            while own.remove(&(cursor + 1)) {
                cursor += 1;
            }
            own.retain(|s| *s > cursor);
        }
        cursor
    }

    async fn on_receipt(&mut self, bytes: Vec<u8>) -> Result<(), FrameFailure> {
        let receipt = Receipt::decode_and_verify(&bytes)
            .map_err(|e| fail(ErrorCode::ValidationFailed, format!("receipt: {e}")))?;
        if receipt.device.to_bytes() != self.identity_key {
            return Err(fail(
                ErrorCode::ValidationFailed,
                "receipt: it must be signed by this device",
            ));
        }
        if receipt.up_to_seq == 0 {
            return Err(fail(
                ErrorCode::ValidationFailed,
                "receipt: up_to_seq must be at least 1 (a receipt for no message acknowledges nothing)",
            ));
        }
        let leeway_ms = samtale_protocol::trust::CLOCK_LEEWAY_SECS * 1000;
        let now_ms = u64::try_from(self.state.clock.now_ms()).unwrap_or(0);
        if receipt.at_ms > now_ms.saturating_add(leeway_ms) {
            return Err(fail(
                ErrorCode::ValidationFailed,
                "receipt: at_ms lies in the future; check this device's clock",
            ));
        }
        let thread = receipt.thread_id.to_string();
        let ctx = self.context(&thread).await?;
        let last = self
            .state
            .storage
            .thread_last_seq(&thread)
            .await
            .map_err(ApiError::from)?
            .unwrap_or(0);
        if i64::try_from(receipt.up_to_seq).unwrap_or(i64::MAX) > last {
            return Err(fail(
                ErrorCode::ValidationFailed,
                "receipt: it acknowledges messages the thread does not have",
            ));
        }
        let (kind, action) = match receipt.kind {
            ReceiptKind::Delivered => ("delivered", Action::ReceiptDelivered),
            ReceiptKind::Read => ("read", Action::ReceiptRead),
        };
        let up_to_seq = i64::try_from(receipt.up_to_seq).unwrap_or(0);
        let audit = AuditEvent::new(action, self.caller.id(), Some(&thread))
            .org(&ctx.thread.org_id)
            .device(&self.caller.device_id)
            .detail(Detail::none().number("up_to_seq", up_to_seq));
        let fresh = self
            .state
            .storage
            .store_receipt(
                &NewReceipt {
                    thread_id: &thread,
                    device_id: &self.caller.device_id,
                    kind,
                    up_to_seq,
                    receipt: &bytes,
                },
                &audit,
                self.state.clock.now_ms(),
            )
            .await
            .map_err(ApiError::from)?;
        if fresh {
            self.state.relay.bus.publish(BusEvent {
                audience: ctx.audience.clone(),
                event: Event::Receipt(Arc::new(super::ReceiptEvent {
                    thread_id: receipt.thread_id,
                    from_device_id: self.caller.device_id.clone(),
                    receipt: bytes,
                })),
            });
        }
        Ok(())
    }

    async fn on_event(&mut self, event: Event) -> Result<(), ()> {
        match event {
            Event::CatchUp => self.catch_up().await,
            Event::Receipt(r) => {
                self.send(&ServerFrame::Receipt {
                    receipt: r.receipt.clone(),
                })
                .await
            }
            Event::Message(m) => {
                let cursor = match self.cursors.get(&m.thread_id) {
                    Some(c) => *c,
                    // A brand-new thread starts live; others need a sync first.
                    None if m.seq == 1 => 0,
                    None => return Ok(()),
                };
                let cursor = self.own_cursor(m.thread_id, cursor);
                if m.seq <= cursor {
                    self.cursors.insert(m.thread_id, cursor);
                    return Ok(());
                }
                if m.seq > cursor + 1 {
                    // Something committed between the cursor and this
                    // message has not reached us (yet): fetch the gap.
                    let thread = m.thread_id.to_string();
                    let gap = i64::try_from(m.seq - cursor - 1).unwrap_or(0);
                    let rows = self
                        .state
                        .storage
                        .messages_after(&thread, i64::try_from(cursor).unwrap_or(0), gap)
                        .await
                        .map_err(|error| tracing::error!(%error, "gap fetch failed"))?;
                    for row in rows {
                        if let Some(frame) = deliver_frame(m.thread_id, row) {
                            self.send(&frame).await?;
                        }
                    }
                }
                self.send(&ServerFrame::Deliver {
                    thread_id: m.thread_id,
                    seq: m.seq,
                    message_id: m.message_id,
                    committed_at_ms: m.committed_at_ms,
                    envelope: m.envelope.clone(),
                })
                .await?;
                let metrics = &self.state.relay.metrics;
                metrics
                    .messages_out
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let now_ms = u64::try_from(self.state.clock.now_ms()).unwrap_or(0);
                #[allow(clippy::cast_precision_loss)]
                metrics
                    .delivery_latency
                    .observe(now_ms.saturating_sub(m.committed_at_ms) as f64 / 1000.0);
                self.cursors.insert(m.thread_id, m.seq);
                Ok(())
            }
        }
    }
}

fn deliver_frame(
    thread_id: ThreadId,
    row: crate::storage::messaging::MessageRow,
) -> Option<ServerFrame> {
    Some(ServerFrame::Deliver {
        thread_id,
        seq: u64::try_from(row.seq).ok()?,
        message_id: row.message_id.parse().ok()?,
        committed_at_ms: u64::try_from(row.committed_at_ms).unwrap_or(0),
        envelope: row.envelope,
    })
}

fn close_reason(code: u16) -> (ErrorCode, &'static str) {
    if code == ErrorCode::DeviceRevoked.close_code() {
        (ErrorCode::DeviceRevoked, "this device has been revoked")
    } else if code == ErrorCode::SlowConsumer.close_code() {
        (
            ErrorCode::SlowConsumer,
            "the connection could not keep up; reconnect and sync from your cursor",
        )
    } else if code == ErrorCode::ConsentWithdrawn.close_code() {
        (
            ErrorCode::ConsentWithdrawn,
            "consent was withdrawn; the session has ended",
        )
    } else if code == ErrorCode::Unavailable.close_code() {
        (
            ErrorCode::Unavailable,
            "the server is shutting down; reconnect shortly",
        )
    } else if code == ErrorCode::Forbidden.close_code() {
        (
            ErrorCode::Forbidden,
            "what this account may see has changed (it left a team); reconnect and load your threads again",
        )
    } else {
        (
            ErrorCode::AuthenticationFailed,
            "this session has ended; log in again",
        )
    }
}

/// Ends a connection whose read failed (RFC 6455 §7.1.7, "Fail the
/// WebSocket Connection"): a peer that broke the protocol gets a close
/// frame with the reason's code first — 1009 for a frame or message over
/// the limit, 1007 for text that is not UTF-8, 1002 for any other framing
/// error (an unmasked frame, reserved bits or opcodes, a broken fragment
/// sequence, a control frame fragmented or over 125 bytes, a malformed
/// close frame). A connection that is already gone or closing is just
/// dropped.
async fn fail_connection(socket: &mut WebSocket, error: axum::Error) {
    use tokio_tungstenite::tungstenite::Error as WsError;
    use tokio_tungstenite::tungstenite::error::ProtocolError;
    let Ok(error) = error.into_inner().downcast::<WsError>() else {
        return;
    };
    match *error {
        WsError::Capacity(_) => {
            let code = ErrorCode::TooLarge;
            let message = format!("frames are limited to {MAX_FRAME_BYTES} bytes");
            let frame = error_frame(code, message, None);
            close_and_wait(socket, Some(frame), code.close_code(), "TooLarge").await;
        }
        WsError::Protocol(
            ProtocolError::NonZeroReservedBits
            | ProtocolError::UnmaskedFrameFromClient
            | ProtocolError::InvalidOpcode(_)
            | ProtocolError::UnknownControlFrameType(_)
            | ProtocolError::UnknownDataFrameType(_)
            | ProtocolError::FragmentedControlFrame
            | ProtocolError::ControlFrameTooBig
            | ProtocolError::UnexpectedContinueFrame
            | ProtocolError::ExpectedFragment(_)
            | ProtocolError::InvalidCloseSequence,
        ) => close_and_wait(socket, None, 1002, "protocol error").await,
        WsError::Utf8(_) => close_and_wait(socket, None, 1007, "text that is not UTF-8").await,
        _ => {}
    }
}

/// Sends `frame` (if any) and a close frame, then waits [`LINGER`]. The
/// rest of what the peer sent is unread (and, after a framing error, not
/// readable): dropping the socket at once would reset the connection
/// before the peer reads the close frame.
async fn close_and_wait(
    socket: &mut WebSocket,
    frame: Option<ServerFrame>,
    code: u16,
    reason: &'static str,
) {
    let _ = tokio::time::timeout(SEND_TIMEOUT, async {
        if let Some(frame) = frame {
            let _ = socket.send(text(&frame)).await;
        }
        let _ = socket
            .send(Message::Close(Some(CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            })))
            .await;
    })
    .await;
    tokio::time::sleep(LINGER).await;
}
