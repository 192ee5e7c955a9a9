//! The WebSocket connection to the relay: authenticate, send envelopes and
//! wait for their acknowledgement, sync a thread, receive live traffic.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use samtale_protocol::wire::{ClientFrame, ErrorCode, ServerFrame};
use samtale_protocol::{MessageId, ThreadId};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long to wait for the server's answer to one frame.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// Why the relay connection failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The connection could not be opened.
    #[error("cannot open the live connection to {url}: {reason}")]
    Connect {
        /// The WebSocket URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The server refused a frame or closed the connection with a code.
    #[error("{message}")]
    Refused {
        /// The stable code.
        code: ErrorCode,
        /// The server's sentence.
        message: String,
    },
    /// The connection ended.
    #[error("the live connection closed{}", .0.map(|c| format!(" (code {c})")).unwrap_or_default())]
    Closed(Option<u16>),
    /// No answer in time.
    #[error("the server did not answer in time; try again")]
    Timeout,
}

/// An open, authenticated relay connection.
pub struct Relay {
    stream: Stream,
    /// Frames that arrived while waiting for something else.
    pending: std::collections::VecDeque<ServerFrame>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

/// The WebSocket URL for a server's base URL.
pub fn ws_url(base: &str) -> String {
    let base = base.trim_end_matches('/');
    if let Some(rest) = base.strip_prefix("https://") {
        format!("wss://{rest}/ws")
    } else if let Some(rest) = base.strip_prefix("http://") {
        format!("ws://{rest}/ws")
    } else {
        format!("{base}/ws")
    }
}

impl Relay {
    /// Connects and authenticates with the access token (sent in the
    /// `Sec-WebSocket-Protocol` header), then waits for `ready`.
    pub async fn connect(base: &str, token: &str) -> Result<Self, RelayError> {
        crate::api::install_crypto();
        let url = ws_url(base);
        let connect_error = |reason: String| RelayError::Connect {
            url: url.clone(),
            reason,
        };
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| connect_error(e.to_string()))?;
        let protocols = format!("samtale.v1, samtale.bearer.{token}");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            protocols
                .parse()
                .map_err(|_| connect_error("the token is not a valid header".into()))?,
        );
        let (stream, _) =
            tokio::time::timeout(ANSWER_WAIT, tokio_tungstenite::connect_async(request))
                .await
                .map_err(|_| RelayError::Timeout)?
                .map_err(|e| connect_error(e.to_string()))?;
        let mut relay = Self {
            stream,
            pending: Default::default(),
        };
        match relay.next_frame(ANSWER_WAIT).await? {
            ServerFrame::Ready { .. } => Ok(relay),
            ServerFrame::Error { code, message, .. } => Err(RelayError::Refused { code, message }),
            _ => Err(RelayError::Closed(None)),
        }
    }

    /// Sends one frame.
    pub async fn send(&mut self, frame: &ClientFrame) -> Result<(), RelayError> {
        self.stream
            .send(Message::Text(frame.to_json().into()))
            .await
            .map_err(|_| RelayError::Closed(None))
    }

    /// The next frame from the server (pings are answered by the library).
    async fn next_frame(&mut self, wait: Duration) -> Result<ServerFrame, RelayError> {
        loop {
            let message = tokio::time::timeout(wait, self.stream.next())
                .await
                .map_err(|_| RelayError::Timeout)?;
            match message {
                Some(Ok(Message::Text(t))) => {
                    return ServerFrame::parse(t.as_str()).map_err(|e| RelayError::Refused {
                        code: e.code,
                        message: format!(
                            "the server sent a frame this client does not understand: {}",
                            e.message
                        ),
                    });
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(RelayError::Closed(frame.map(|f| f.code.into())));
                }
                None | Some(Err(_)) => return Err(RelayError::Closed(None)),
                Some(Ok(_)) => continue,
            }
        }
    }

    /// The next frame: one that arrived earlier, or a new one. Fatal
    /// errors (followed by a close) come back as `Err`.
    pub async fn recv(&mut self, wait: Duration) -> Result<ServerFrame, RelayError> {
        if let Some(f) = self.pending.pop_front() {
            return Ok(f);
        }
        self.next_frame(wait).await
    }

    /// Sends a message and waits for its acknowledgement; other frames that
    /// arrive meanwhile are kept for [`Relay::recv`]. Returns `(seq,
    /// committed_at_ms)`.
    pub async fn send_and_ack(
        &mut self,
        thread_id: ThreadId,
        message_id: MessageId,
        envelope: Vec<u8>,
    ) -> Result<(u64, u64), RelayError> {
        self.send(&ClientFrame::Send {
            thread_id,
            message_id,
            envelope,
        })
        .await?;
        loop {
            match self.next_frame(ANSWER_WAIT).await? {
                ServerFrame::Ack {
                    message_id: m,
                    seq,
                    committed_at_ms,
                    ..
                } if m == message_id => return Ok((seq, committed_at_ms)),
                ServerFrame::Error {
                    code,
                    message,
                    message_id: m,
                } if m == Some(message_id) || m.is_none() => {
                    return Err(RelayError::Refused { code, message });
                }
                other => self.pending.push_back(other),
            }
        }
    }

    /// Sends a signed receipt.
    pub async fn receipt(&mut self, receipt: Vec<u8>) -> Result<(), RelayError> {
        self.send(&ClientFrame::Receipt { receipt }).await
    }

    /// Asks for a thread's messages after `after_seq`; they arrive as
    /// `deliver` frames followed by `synced`.
    pub async fn sync(&mut self, thread_id: ThreadId, after_seq: u64) -> Result<(), RelayError> {
        self.send(&ClientFrame::Sync {
            thread_id,
            after_seq,
        })
        .await
    }

    /// Closes the connection politely.
    pub async fn close(mut self) {
        let _ = self.stream.close(None).await;
    }
}
