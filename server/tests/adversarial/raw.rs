//! A WebSocket client made of bytes on a TCP socket (RFC 6455 §4, §5):
//! hand-built handshake and frames, so that it can send what no WebSocket
//! library would (unmasked frames, reserved bits and opcodes, lengths up to
//! 2^64 − 1, broken fragment sequences, invalid UTF-8), and a reader that
//! reports what the server did about it.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use super::connect_from;

pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// How a frame states its payload length (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy)]
pub enum Length {
    /// The shortest encoding (7 bits, 16 or 64).
    Minimal,
    /// The 16-bit form, whatever the length.
    Sixteen,
    /// The 64-bit form, whatever the length.
    SixtyFour,
    /// The 64-bit form stating this length, whatever the payload sent.
    Declared(u64),
}

/// A frame to send, bit by bit.
#[derive(Debug, Clone)]
pub struct Frame {
    pub fin: bool,
    /// RSV1..RSV3 as the top three bits of the low nibble: 0b100 = RSV1.
    pub rsv: u8,
    pub opcode: u8,
    pub mask: Option<[u8; 4]>,
    pub length: Length,
    pub payload: Vec<u8>,
}

const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

impl Frame {
    /// A final, masked frame: what a well-behaved client sends.
    pub fn new(opcode: u8, payload: impl Into<Vec<u8>>) -> Frame {
        Frame {
            fin: true,
            rsv: 0,
            opcode,
            mask: Some(MASK),
            length: Length::Minimal,
            payload: payload.into(),
        }
    }

    pub fn text(text: impl Into<Vec<u8>>) -> Frame {
        Frame::new(TEXT, text)
    }

    pub fn close(code: u16, reason: &[u8]) -> Frame {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason);
        Frame::new(CLOSE, payload)
    }

    pub fn not_final(mut self) -> Frame {
        self.fin = false;
        self
    }

    pub fn unmasked(mut self) -> Frame {
        self.mask = None;
        self
    }

    pub fn rsv(mut self, bits: u8) -> Frame {
        self.rsv = bits;
        self
    }

    pub fn length(mut self, length: Length) -> Frame {
        self.length = length;
        self
    }

    pub fn bytes(&self) -> Vec<u8> {
        let mut out =
            vec![(u8::from(self.fin) << 7) | ((self.rsv & 0b111) << 4) | (self.opcode & 0x0f)];
        let masked = if self.mask.is_some() { 0x80 } else { 0 };
        let len = self.payload.len() as u64;
        match self.length {
            Length::Minimal if len < 126 => out.push(masked | len as u8),
            Length::Minimal if len <= 0xffff => {
                out.push(masked | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            Length::Sixteen => {
                out.push(masked | 126);
                out.extend_from_slice(&(len as u16).to_be_bytes());
            }
            Length::Minimal | Length::SixtyFour => {
                out.push(masked | 127);
                out.extend_from_slice(&len.to_be_bytes());
            }
            Length::Declared(n) => {
                out.push(masked | 127);
                out.extend_from_slice(&n.to_be_bytes());
            }
        }
        match self.mask {
            Some(mask) => {
                out.extend_from_slice(&mask);
                out.extend(
                    self.payload
                        .iter()
                        .enumerate()
                        .map(|(i, b)| b ^ mask[i % 4]),
                );
            }
            None => out.extend_from_slice(&self.payload),
        }
        out
    }
}

/// Frames one after another, as bytes.
pub fn wire(frames: &[Frame]) -> Vec<u8> {
    frames.iter().flat_map(Frame::bytes).collect()
}

/// A frame the server sent.
#[derive(Debug, Clone)]
pub struct Received {
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Received {
    /// A close frame's code (`None` for an empty close frame).
    pub fn close_code(&self) -> Option<u16> {
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    /// A text frame as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.payload).unwrap_or(Value::Null)
    }
}

/// What reading brought.
#[derive(Debug)]
pub enum Read {
    Frame(Received),
    /// The server closed the TCP connection (FIN).
    End,
    /// The connection was reset, or reading failed.
    Reset,
    /// Nothing within the time given.
    Nothing,
    /// The server sent something that is not a valid server frame.
    Garbage(String),
}

/// One WebSocket connection, as two halves so that a flood can be written
/// while the answer is read.
pub struct Socket {
    pub reader: Reader,
    pub writer: OwnedWriteHalf,
}

pub struct Reader {
    half: OwnedReadHalf,
    buffer: Vec<u8>,
}

/// The handshake's answer when it was not `101`.
#[derive(Debug)]
pub struct Refused(pub String);

/// The request head of a WebSocket handshake for `/ws`.
pub fn handshake_request(to: SocketAddr, token: Option<&str>) -> String {
    let protocols = match token {
        Some(t) => format!("samtale.v1, samtale.bearer.{t}"),
        None => "samtale.v1".to_owned(),
    };
    format!(
        "GET /ws HTTP/1.1\r\nHost: {to}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {protocols}\r\n\r\n"
    )
}

impl Socket {
    /// Opens `/ws` from `from` with a hand-written handshake; with a token
    /// (in `Sec-WebSocket-Protocol`), waits for the `ready` frame.
    pub async fn open(
        to: SocketAddr,
        from: IpAddr,
        token: Option<&str>,
    ) -> Result<Socket, Refused> {
        let stream = connect_from(to, from)
            .await
            .map_err(|e| Refused(format!("connect: {e}")))?;
        let (half, mut writer) = stream.into_split();
        writer
            .write_all(handshake_request(to, token).as_bytes())
            .await
            .map_err(|e| Refused(format!("write: {e}")))?;
        let mut reader = Reader {
            half,
            buffer: Vec::new(),
        };
        let head = reader
            .head(Duration::from_secs(10))
            .await
            .map_err(Refused)?;
        if !head.starts_with("HTTP/1.1 101") {
            return Err(Refused(head));
        }
        let protocol_line = head.lines().find(|l| {
            l.to_ascii_lowercase()
                .starts_with("sec-websocket-protocol:")
        });
        if !protocol_line.is_some_and(|l| l.ends_with("samtale.v1")) {
            return Err(Refused(format!("no samtale.v1 in the answer: {head}")));
        }
        let mut socket = Socket { reader, writer };
        if token.is_some() {
            match socket.reader.next(Duration::from_secs(10)).await {
                Read::Frame(f) if f.opcode == TEXT && f.json()["type"] == "ready" => {}
                other => return Err(Refused(format!("no ready frame: {other:?}"))),
            }
        }
        Ok(socket)
    }

    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.writer.write_all(bytes).await
    }

    /// Hands the writing half to a task that writes `first` (a flood, say)
    /// and then whatever comes through the returned sender, ignoring
    /// errors (a server that closed stops reading): the reader stays free
    /// to read the answer meanwhile.
    pub fn pump(self, first: Vec<u8>) -> (Reader, Pump) {
        let Socket { reader, mut writer } = self;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        tokio::spawn(async move {
            if writer.write_all(&first).await.is_err() {
                return;
            }
            while let Some(bytes) = rx.recv().await {
                if writer.write_all(&bytes).await.is_err() {
                    return;
                }
            }
        });
        (reader, tx)
    }
}

/// Bytes to write after the first ones (see [`Socket::pump`]).
pub type Pump = tokio::sync::mpsc::UnboundedSender<Vec<u8>>;

impl Reader {
    /// The server has not closed the connection (for a socket that only
    /// waits: this may take a byte of a frame it sent).
    pub fn is_open(&self) -> bool {
        let mut byte = [0u8; 1];
        match self.half.try_read(&mut byte) {
            Ok(n) => n > 0,
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        }
    }

    /// Reads up to the end of the response head; what follows stays buffered.
    async fn head(&mut self, wait: Duration) -> Result<String, String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                self.buffer.drain(..end + 4);
                return Ok(head);
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.half.read(&mut chunk)).await {
                Err(_) => return Err("no answer to the handshake".into()),
                Ok(Ok(0)) => {
                    return Err(format!(
                        "closed during the handshake: {}",
                        String::from_utf8_lossy(&self.buffer)
                    ));
                }
                Ok(Ok(n)) => self.buffer.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Err(format!("handshake: {e}")),
            }
        }
    }

    /// The next frame from the server, or what happened instead.
    pub async fn next(&mut self, wait: Duration) -> Read {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.parse() {
                Ok(Some(frame)) => return Read::Frame(frame),
                Ok(None) => {}
                Err(e) => return Read::Garbage(e),
            }
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout_at(deadline, self.half.read(&mut chunk)).await {
                Err(_) => return Read::Nothing,
                Ok(Ok(0)) if self.buffer.is_empty() => return Read::End,
                Ok(Ok(0)) => {
                    return Read::Garbage(format!("{} bytes, then the end", self.buffer.len()));
                }
                Ok(Ok(n)) => self.buffer.extend_from_slice(&chunk[..n]),
                Ok(Err(_)) => return Read::Reset,
            }
        }
    }

    /// One server frame from the buffer (the server never fragments); never masked
    /// (RFC 6455 §5.1), control frames at most 125 bytes.
    fn parse(&mut self) -> Result<Option<Received>, String> {
        let b = &self.buffer;
        if b.len() < 2 {
            return Ok(None);
        }
        if b[1] & 0x80 != 0 {
            return Err("a masked frame from the server".into());
        }
        if b[0] & 0x70 != 0 {
            return Err("reserved bits set by the server".into());
        }
        let (len, start) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u64::from(u16::from_be_bytes([b[2], b[3]])), 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().expect("eight bytes")),
                10,
            ),
            126 | 127 => return Ok(None),
            n => (u64::from(n), 2),
        };
        let len = usize::try_from(len).map_err(|_| "an impossible length".to_owned())?;
        if b.len() < start + len {
            return Ok(None);
        }
        let frame = Received {
            opcode: b[0] & 0x0f,
            payload: b[start..start + len].to_vec(),
        };
        if frame.opcode >= CLOSE && frame.payload.len() > 125 {
            return Err("a control frame over 125 bytes from the server".into());
        }
        self.buffer.drain(..start + len);
        Ok(Some(frame))
    }
}

/// How a connection ended, or did not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// A close frame with this code (`None`: empty), then the TCP
    /// connection ended.
    Closed(Option<u16>),
    /// The TCP connection ended (or was reset) without a close frame.
    Dropped,
    /// A close frame, but the TCP connection stayed open afterwards.
    ClosedButLeftOpen(Option<u16>),
    /// The frame the reader was waiting for came; the connection is open.
    Answered,
    /// Nothing ended within the bound.
    Hung,
    /// The server broke the protocol itself.
    Garbage(String),
}

/// What the server did on one connection.
#[derive(Debug, Clone)]
pub struct Observed {
    pub ending: Ending,
    /// Text frames it sent first (`error` frames), by `code`.
    pub errors: Vec<String>,
    /// Pong payloads it sent.
    pub pongs: Vec<Vec<u8>>,
    /// Time from the first byte sent to the ending.
    pub took: Duration,
}

/// Reads until the server ends the connection or `bound` passes,
/// answering a close frame as RFC 6455 §5.5.1 asks (then waiting for the
/// server to end the TCP connection). `stop_when` ends the reading early
/// (`Answered`, the connection still open) when a frame satisfies it.
pub async fn observe(
    reader: &mut Reader,
    writer: Option<&Pump>,
    started: Instant,
    bound: Duration,
    stop_when: impl Fn(&Received) -> bool,
) -> (Observed, Option<Received>) {
    let deadline = started + bound;
    let mut errors = Vec::new();
    let mut pongs = Vec::new();
    let finish = |ending, errors, pongs| Observed {
        ending,
        errors,
        pongs,
        took: started.elapsed(),
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match reader.next(left).await {
            Read::Frame(f) if stop_when(&f) => {
                return (finish(Ending::Answered, errors, pongs), Some(f));
            }
            Read::Frame(f) if f.opcode == CLOSE => {
                let code = f.close_code();
                if let Some(w) = writer {
                    let echo = Frame::new(CLOSE, f.payload.get(..2).unwrap_or(&[]).to_vec());
                    let _ = w.send(echo.bytes());
                }
                // The server ends the TCP connection after its close frame.
                let left = deadline.saturating_duration_since(Instant::now());
                let ending = loop {
                    match reader.next(left.max(Duration::from_secs(2))).await {
                        Read::End | Read::Reset => break Ending::Closed(code),
                        Read::Frame(_) => {}
                        Read::Nothing => break Ending::ClosedButLeftOpen(code),
                        Read::Garbage(g) => break Ending::Garbage(g),
                    }
                };
                return (finish(ending, errors, pongs), Some(f));
            }
            Read::Frame(f) if f.opcode == TEXT => {
                let code = f.json()["code"].as_str().unwrap_or("?").to_owned();
                errors.push(code);
            }
            Read::Frame(f) if f.opcode == PONG => pongs.push(f.payload),
            Read::Frame(_) => {}
            Read::End | Read::Reset => return (finish(Ending::Dropped, errors, pongs), None),
            Read::Nothing => return (finish(Ending::Hung, errors, pongs), None),
            Read::Garbage(g) => return (finish(Ending::Garbage(g), errors, pongs), None),
        }
    }
}
