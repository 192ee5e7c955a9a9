//! The raw-frame cases, modelled on the Autobahn test-suite groups, and
//! the runner that plays each on a connection of its own.

mod cases;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use cases::{cases, silent_case};

use super::loopback;
use super::raw::{self, Ending, Frame, PONG, Socket, TEXT};

/// The bound on every case: an answer or an ending within it, or the case
/// fails as a hang.
pub const BOUND: Duration = Duration::from_secs(10);

/// Times the set of frame cases is run on the same server.
pub const ROUNDS: usize = 3;

/// What the server must do about a case.
#[derive(Debug, Clone)]
enum Expect {
    /// A close frame with this code (`None`: an empty close frame), then
    /// the end of the TCP connection.
    Close(Option<u16>),
    /// A pong with this payload; the connection stays usable.
    Pong(Vec<u8>),
    /// An `error` frame with this code (after a pong with the payload, if
    /// given); the connection stays usable.
    Error(&'static str, Option<&'static [u8]>),
    /// The `ready` frame: authenticated.
    Ready,
}

pub struct Case {
    pub name: String,
    /// Authenticated (token in the handshake) before the bytes are sent.
    signed_in: bool,
    bytes: Vec<u8>,
    expect: Expect,
    bound: Duration,
}

fn case(name: impl Into<String>, signed_in: bool, frames: &[Frame], expect: Expect) -> Case {
    Case {
        name: name.into(),
        signed_in,
        bytes: raw::wire(frames),
        expect,
        bound: BOUND,
    }
}

/// Handshakes that must be refused (RFC 6455 §4.2.1, §4.4; docs/API.md):
/// the status, and a header or the error code the answer must carry. How
/// many were tried, and the failures.
pub async fn refused_handshakes(address: SocketAddr) -> (usize, Vec<String>) {
    let good: [(&str, &str); 5] = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Protocol", "samtale.v1"),
    ];
    let with = |name: &'static str, value: Option<&'static str>| {
        let mut headers: Vec<(&str, &str)> =
            good.iter().filter(|(n, _)| *n != name).copied().collect();
        if let Some(v) = value {
            headers.push((name, v));
        }
        headers
    };
    let cases = [
        (
            "a handshake for WebSocket version 8 is answered 426 naming version 13",
            with("Sec-WebSocket-Version", Some("8")),
            426,
            "sec-websocket-version: 13",
        ),
        (
            "a handshake with a 15-byte key is refused with 400",
            with("Sec-WebSocket-Key", Some("AAAAAAAAAAAAAAAAAAAA")),
            400,
            "bad_request",
        ),
        (
            "a handshake with a key that is not base64 is refused with 400",
            with("Sec-WebSocket-Key", Some("not base64 at all!!!!!!!")),
            400,
            "bad_request",
        ),
        (
            "a handshake without the samtale.v1 subprotocol is refused with 400",
            with("Sec-WebSocket-Protocol", Some("chat")),
            400,
            "bad_request",
        ),
        (
            "a handshake from a browser origin nobody configured is refused with 403",
            [
                with("Origin", None),
                vec![("Origin", "https://evil.example")],
            ]
            .concat(),
            403,
            "forbidden",
        ),
    ];
    let mut failures = Vec::new();
    let tried = cases.len();
    for (name, headers, status, mark) in cases {
        let answer =
            super::request(address, loopback(1), "GET", "/ws", &headers, None, BOUND).await;
        let ok = answer.as_ref().is_ok_and(|r| {
            r.status == status
                && (r.error_code() == mark
                    || mark
                        .split_once(": ")
                        .is_some_and(|(n, v)| r.header(n) == Some(v)))
        });
        if ok {
            eprintln!("ok   {name}");
        } else {
            failures.push(format!("{name}: got {answer:?}"));
        }
    }
    (tried, failures)
}

/// Runs one case on a fresh connection: what happened, or why it did not
/// match.
pub async fn run(address: SocketAddr, token: &str, case: &Case) -> Result<raw::Observed, String> {
    let socket = Socket::open(address, loopback(1), case.signed_in.then_some(token))
        .await
        .map_err(|r| format!("the handshake failed: {}", r.0))?;
    let started = Instant::now();
    let expect = case.expect.clone();
    let stop_when = move |f: &raw::Received| match &expect {
        Expect::Close(_) => false,
        Expect::Pong(p) => f.opcode == PONG && &f.payload == p,
        Expect::Error(code, _) => f.opcode == TEXT && f.json()["code"] == *code,
        Expect::Ready => f.opcode == TEXT && f.json()["type"] == "ready",
    };
    // Written from a task of its own (a flood may fill the socket's
    // buffers), while the answer is read.
    let (mut reader, pump) = socket.pump(case.bytes.clone());
    let (observed, _) =
        raw::observe(&mut reader, Some(&pump), started, case.bound, &stop_when).await;
    if observed.ending == Ending::Answered {
        // The connection is open: it still closes cleanly on request.
        let _ = pump.send(Frame::close(1000, b"done").bytes());
        let (after, _) =
            raw::observe(&mut reader, Some(&pump), Instant::now(), BOUND, |_| false).await;
        if after.ending != Ending::Closed(Some(1000)) {
            return Err(format!(
                "answered, but a close frame then got {:?}",
                after.ending
            ));
        }
    }
    let matched = match (&case.expect, &observed.ending) {
        (Expect::Close(code), Ending::Closed(got)) => code == got,
        (Expect::Error(_, Some(pong)), Ending::Answered) => {
            observed.pongs.iter().any(|p| p == pong)
        }
        (Expect::Pong(_) | Expect::Error(..) | Expect::Ready, Ending::Answered) => true,
        _ => false,
    };
    if matched {
        Ok(observed)
    } else {
        Err(format!(
            "expected {:?}, got {:?} after {:?} (error frames {:?}, pongs {})",
            case.expect,
            observed.ending,
            observed.took,
            observed.errors,
            observed.pongs.len()
        ))
    }
}
