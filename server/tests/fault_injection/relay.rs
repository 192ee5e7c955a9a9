//! Relay clients for the fault suite: connections that keep messages in
//! flight and record every answer, resends, and reading a thread back
//! through the API to check it against what the clients were told.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use samtale_protocol::wire::{ClientFrame, ErrorCode, MessagePage, ServerFrame, StoredMessage};
use samtale_protocol::{Envelope, HolderPublicKey, MessageId, ThreadId};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{ANSWER, Binary, Fixture};
use crate::support;
use crate::support::world::Actor;

pub type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a relay connection with the token in the subprotocol header and
/// waits for `ready`.
pub async fn connect(server: &Binary, token: &str) -> Stream {
    let mut request = server.ws_url().into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        format!("samtale.v1, samtale.bearer.{token}")
            .parse()
            .unwrap(),
    );
    let (mut ws, _) = tokio::time::timeout(ANSWER, tokio_tungstenite::connect_async(request))
        .await
        .expect("the upgrade answered in time")
        .expect("upgrade");
    match next_frame(&mut ws).await {
        Ok(ServerFrame::Ready { .. }) => ws,
        other => panic!("expected ready, got {other:?}"),
    }
}

/// Opens a relay connection that has not authenticated yet (its token
/// would come in the first frame).
pub async fn connect_unauthenticated(server: &Binary) -> Stream {
    let mut request = server.ws_url().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "samtale.v1".parse().unwrap());
    let (ws, _) = tokio::time::timeout(ANSWER, tokio_tungstenite::connect_async(request))
        .await
        .expect("the upgrade answered in time")
        .expect("upgrade");
    ws
}

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// Still open (the pump stopped on its own).
    Open,
    /// A close frame with this code.
    Closed(u16),
    /// The TCP connection ended without a close frame.
    Dropped,
}

/// The next server frame (pings skipped), or how the connection ended.
pub async fn next_frame(ws: &mut Stream) -> Result<ServerFrame, Ending> {
    loop {
        let message = tokio::time::timeout(ANSWER, ws.next())
            .await
            .unwrap_or_else(|_| panic!("the server sent nothing for {ANSWER:?}"));
        match message {
            Some(Ok(Message::Text(t))) => {
                return Ok(ServerFrame::parse(t.as_str()).expect("a valid server frame"));
            }
            Some(Ok(Message::Close(Some(frame)))) => return Err(Ending::Closed(frame.code.into())),
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return Err(Ending::Dropped),
            Some(Ok(_)) => {}
        }
    }
}

/// Who sends into which thread.
#[derive(Clone, Copy)]
pub struct Traffic<'a> {
    pub sender: &'a Actor,
    pub thread: ThreadId,
    pub recipients: &'a [HolderPublicKey],
}

impl Traffic<'_> {
    /// A fresh message: its own random id, sealed to the thread's keys.
    pub fn seal(&self, n: usize) -> Outgoing {
        let id = MessageId::random().unwrap();
        let text = format!("fault suite message {n}: {}", "x".repeat(120));
        let envelope = Envelope::seal(
            &self.sender.device,
            self.thread,
            id,
            self.recipients,
            text.as_bytes(),
        )
        .unwrap();
        Outgoing {
            thread: self.thread,
            id,
            envelope: envelope.into_bytes(),
        }
    }
}

/// A message as sent (a resend must repeat it byte for byte).
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub thread: ThreadId,
    pub id: MessageId,
    pub envelope: Vec<u8>,
}

/// An `ack`: the message's position, and when it arrived.
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    pub seq: u64,
    pub committed_at_ms: u64,
    pub at: Instant,
}

/// What one connection sent and was told.
#[derive(Debug)]
pub struct Outcome {
    pub sent: Vec<Outgoing>,
    pub acks: HashMap<MessageId, Ack>,
    /// `error` frames answering a send.
    pub refused: HashMap<MessageId, (ErrorCode, String)>,
    /// `error` frames about the connection (a close's reason).
    pub notices: Vec<(ErrorCode, String)>,
    pub ending: Ending,
    pub ended_at: Instant,
}

impl Outcome {
    /// Sent and never answered (in flight when the connection ended).
    pub fn unanswered(&self) -> Vec<&Outgoing> {
        self.sent
            .iter()
            .filter(|m| !self.acks.contains_key(&m.id) && !self.refused.contains_key(&m.id))
            .collect()
    }
}

/// Answers counted across connections, for whoever decides when to strike.
#[derive(Debug, Default)]
pub struct Counters {
    pub acked: AtomicUsize,
    pub refused: AtomicUsize,
}

/// Keeps up to `window` messages from `next` in flight on `ws` until `next`
/// runs dry and every message is answered, or the connection ends.
pub async fn pump(
    mut ws: Stream,
    mut next: impl FnMut() -> Option<Outgoing>,
    window: usize,
    counters: &Counters,
) -> Outcome {
    let mut out = Outcome {
        sent: Vec::new(),
        acks: HashMap::new(),
        refused: HashMap::new(),
        notices: Vec::new(),
        ending: Ending::Open,
        ended_at: Instant::now(),
    };
    let mut in_flight = 0;
    let mut dry = false;
    loop {
        while in_flight < window && !dry {
            match next() {
                Some(m) => {
                    let frame = ClientFrame::Send {
                        thread_id: m.thread,
                        message_id: m.id,
                        envelope: m.envelope.clone(),
                    };
                    out.sent.push(m);
                    in_flight += 1;
                    if ws
                        .send(Message::Text(frame.to_json().into()))
                        .await
                        .is_err()
                    {
                        // The server is gone; the read below says how.
                        dry = true;
                    }
                }
                None => dry = true,
            }
        }
        if dry && in_flight == 0 {
            break;
        }
        match next_frame(&mut ws).await {
            Ok(ServerFrame::Ack {
                message_id,
                seq,
                committed_at_ms,
                ..
            }) => {
                let ack = Ack {
                    seq,
                    committed_at_ms,
                    at: Instant::now(),
                };
                assert!(
                    out.acks.insert(message_id, ack).is_none(),
                    "two acks for one send of {message_id}"
                );
                in_flight -= 1;
                counters.acked.fetch_add(1, Ordering::SeqCst);
            }
            Ok(ServerFrame::Error {
                code,
                message,
                message_id: Some(id),
            }) => {
                out.refused.insert(id, (code, message));
                in_flight -= 1;
                counters.refused.fetch_add(1, Ordering::SeqCst);
            }
            Ok(ServerFrame::Error { code, message, .. }) => out.notices.push((code, message)),
            Ok(_) => {}
            Err(ending) => {
                out.ending = ending;
                out.ended_at = Instant::now();
                // Answer a close frame and let the connection end.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while ws.next().await.is_some() {}
                })
                .await;
                return out;
            }
        }
    }
    out.ended_at = Instant::now();
    let _ = ws.close(None).await;
    out
}

/// Sends each message of `items` again on a new connection of `who` and
/// returns each answer.
pub async fn resend(
    server: &Binary,
    who: &Actor,
    items: Vec<Outgoing>,
) -> HashMap<MessageId, Result<Ack, (ErrorCode, String)>> {
    let ws = connect(server, who.token()).await;
    let mut items = items.into_iter();
    let outcome = pump(ws, || items.next(), 16, &Counters::default()).await;
    assert_eq!(
        outcome.ending,
        Ending::Open,
        "the connection ended during resends"
    );
    let mut answers: HashMap<_, _> = outcome.acks.into_iter().map(|(k, v)| (k, Ok(v))).collect();
    answers.extend(outcome.refused.into_iter().map(|(k, v)| (k, Err(v))));
    answers
}

// -------------------------------------------------------------- read back

/// A thread's messages after `after`, through `GET
/// /v1/threads/{thread}/messages`, every page.
pub async fn read_thread(
    server: &Binary,
    who: &Actor,
    thread: ThreadId,
    after: u64,
) -> (Vec<StoredMessage>, u64) {
    let http = reqwest::Client::new();
    let mut out = Vec::new();
    let mut cursor = after;
    loop {
        let response = http
            .request(
                Method::GET,
                server.http_url(&format!(
                    "/v1/threads/{thread}/messages?after={cursor}&limit=500"
                )),
            )
            .bearer_auth(who.token())
            .timeout(ANSWER)
            .send()
            .await
            .expect("GET messages");
        let page: MessagePage = support::expect(response, 200).await;
        let done = page.messages.is_empty();
        if let Some(last) = page.messages.last() {
            cursor = last.seq;
        }
        out.extend(page.messages);
        if done || cursor >= page.last_seq {
            return (out, page.last_seq);
        }
    }
}

/// Every message acknowledged so far, with the envelope that was sent.
pub type Acked = HashMap<MessageId, (Ack, Vec<u8>)>;

impl Fixture {
    /// Reads every thread back through the API and checks it against what
    /// the clients were told (see [`verify`]). Returns the stored messages'
    /// positions by id.
    pub async fn check(&self, server: &Binary, acked: &Acked) -> HashMap<MessageId, u64> {
        let mut threads = Vec::new();
        for c in &self.conversations {
            threads.push(read_thread(server, &self.world.staff, c.thread, 0).await);
        }
        verify(&threads, acked).unwrap_or_else(|e| panic!("{e}"))
    }
}

/// Each thread (its messages from sequence 1, and its `last_seq`) has
/// gap-free sequence numbers and each message id once; every acknowledged
/// message is present, byte for byte, at its acknowledged position and
/// commit time. Returns the stored messages' positions by id.
pub fn verify(
    threads: &[(Vec<StoredMessage>, u64)],
    acked: &Acked,
) -> Result<HashMap<MessageId, u64>, String> {
    let mut stored: HashMap<MessageId, &StoredMessage> = HashMap::new();
    for (messages, last_seq) in threads {
        for (i, m) in messages.iter().enumerate() {
            if m.seq != i as u64 + 1 {
                return Err(format!(
                    "a gap or repeat in the sequence: seq {} at {i}",
                    m.seq
                ));
            }
            if stored.insert(m.message_id, m).is_some() {
                return Err(format!("{} stored twice", m.message_id));
            }
        }
        if messages.len() as u64 != *last_seq {
            return Err(format!("{} messages, last_seq {last_seq}", messages.len()));
        }
    }
    for (id, (ack, envelope)) in acked {
        let Some(m) = stored.get(id) else {
            return Err(format!(
                "acknowledged message {id} (seq {}) is lost",
                ack.seq
            ));
        };
        if (m.seq, m.committed_at_ms) != (ack.seq, ack.committed_at_ms) {
            return Err(format!(
                "{id} was acknowledged at seq {} ({} ms), stored at seq {} ({} ms)",
                ack.seq, ack.committed_at_ms, m.seq, m.committed_at_ms
            ));
        }
        if m.envelope != *envelope {
            return Err(format!("{id}'s envelope changed"));
        }
    }
    Ok(stored.into_iter().map(|(id, m)| (id, m.seq)).collect())
}
