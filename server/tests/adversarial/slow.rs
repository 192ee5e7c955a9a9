//! Slow and many: slowloris on a request head and on a body, idle
//! connections by the thousand, and what a legitimate client sees
//! meanwhile.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Fixture, Response, connect_from, loopback, parse_response};

/// How a slow request ended.
#[derive(Debug)]
pub struct SlowEnding {
    /// The answer, if the server sent one before closing.
    pub response: Option<Response>,
    /// From the first byte sent to the end.
    pub took: Duration,
    /// Bytes sent in all.
    pub sent: usize,
}

/// Sends `head` and then `trickle` one byte per second, until the server
/// answers or closes the connection, or `give_up` passes (`Err`).
pub async fn trickle(
    to: SocketAddr,
    from: IpAddr,
    head: &[u8],
    trickle: &[u8],
    give_up: Duration,
) -> Result<SlowEnding, String> {
    let mut stream = connect_from(to, from)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let started = Instant::now();
    let mut sent = 0;
    let mut received = Vec::new();
    let ended = |received: &[u8], sent| SlowEnding {
        response: parse_response(received),
        took: started.elapsed(),
        sent,
    };
    if stream.write_all(head).await.is_err() {
        return Ok(ended(&received, sent));
    }
    sent += head.len();
    let mut pending = trickle.iter();
    loop {
        // Wait a second for an answer or the end, then send one more byte.
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut chunk)).await {
            Ok(Ok(0) | Err(_)) => return Ok(ended(&received, sent)),
            Ok(Ok(n)) => {
                received.extend_from_slice(&chunk[..n]);
                continue;
            }
            Err(_) => {}
        }
        if started.elapsed() > give_up {
            return Err(format!(
                "still open after {:?} and {sent} bytes",
                started.elapsed()
            ));
        }
        if let Some(byte) = pending.next() {
            if stream.write_all(&[*byte]).await.is_err() {
                return Ok(ended(&received, sent));
            }
            sent += 1;
        }
    }
}

/// Opens `count` TCP connections from each of `from` and sends nothing.
/// Connections the kernel refused are not in the list.
pub async fn idle_connections(to: SocketAddr, from: &[IpAddr], count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(from.len() * count);
    for address in from {
        for _ in 0..count {
            if let Ok(stream) = connect_from(to, *address).await {
                streams.push(stream);
            }
        }
    }
    streams
}

/// How many of `streams` the server has not closed (nothing to read, no
/// end, no reset).
pub fn still_open(streams: &[TcpStream]) -> usize {
    streams
        .iter()
        .filter(|s| {
            let mut byte = [0u8; 1];
            matches!(s.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count()
}

/// Waits up to `wait` for the server to close every one of `streams`;
/// how many are still open then.
pub async fn wait_closed(streams: &[TcpStream], wait: Duration) -> usize {
    let deadline = Instant::now() + wait;
    loop {
        let open = still_open(streams);
        if open == 0 || Instant::now() >= deadline {
            return open;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What a legitimate client got.
#[derive(Debug, PartialEq, Eq)]
pub struct Legitimate {
    pub readyz: Result<u16, String>,
    pub me: Result<u16, String>,
    /// A message sent over the WebSocket, acknowledged.
    pub message: Result<(), String>,
    pub log_in: Option<Result<u16, String>>,
}

impl Legitimate {
    /// A health check, a signed-in request, a message sent by a signed-in
    /// device, and (when `log_in`) a password login, from an address of
    /// their own.
    pub async fn try_now(to: SocketAddr, fixture: &Fixture, log_in: bool) -> Legitimate {
        let from = loopback(2);
        Legitimate {
            readyz: super::readyz(to, from).await,
            me: super::me(to, from, fixture.world.staff.token()).await,
            message: fixture.send_message(to, from).await,
            log_in: if log_in {
                Some(super::log_in(to, from).await)
            } else {
                None
            },
        }
    }

    /// Everything answered as it does on a quiet server.
    pub fn all_served(&self) -> bool {
        self.readyz == Ok(200)
            && self.me == Ok(200)
            && self.message.is_ok()
            && self.log_in.as_ref().is_none_or(|l| *l == Ok(201))
    }
}
