//! Helpers for the adversarial network suite: the real `samtale-server`
//! binary on a populated data directory (optionally under `prlimit`), raw
//! HTTP on a TCP socket from a chosen loopback address, and the process's
//! memory.

pub mod frames;
pub mod raw;
pub mod slow;

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use samtale_protocol::{HolderPublicKey, ThreadId};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::world::{self, World};
use crate::support::{Backend, TestApp, TestDatabase};

const BIN: &str = env!("CARGO_BIN_EXE_samtale-server");

/// A data directory with an organisation, a team with a caseworker, a
/// citizen and a thread between them, made by the in-process application
/// (the same code) before the binary starts on it: the binary then knows
/// the accounts, and the tokens (signed with the key file in the data
/// directory) are valid there.
pub struct Fixture {
    pub db: TestDatabase,
    pub world: World,
    pub thread: ThreadId,
    /// The keys a message in the thread is sealed to.
    recipients: Vec<HolderPublicKey>,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let db = TestDatabase::new(Backend::Sqlite)
            .await
            .expect("SQLite needs nothing installed");
        let app = TestApp::spawn(&db).await;
        let world = World::build(&app).await;
        let citizen = world
            .citizen(&app, &world.staff, world.team, "140114-4444")
            .await;
        let thread = world
            .open_thread(&app, &world.staff, world.team, &[&citizen])
            .await;
        let recipients = world::recipients(&app, &world.staff, thread).await;
        app.stop().await;
        Fixture {
            db,
            world,
            thread,
            recipients,
        }
    }

    /// The caseworker (a certified staff device) sends a message into the
    /// thread over a WebSocket from `from`: `Ok` once it is acknowledged,
    /// that is durably stored.
    pub async fn send_message(&self, to: SocketAddr, from: IpAddr) -> Result<(), String> {
        let staff = &self.world.staff;
        let mut socket = raw::Socket::open(to, from, Some(staff.token()))
            .await
            .map_err(|r| r.0)?;
        let (id, envelope) = world::seal(staff, self.thread, &self.recipients, b"still here");
        let frame = world::send_frame(self.thread, id, &envelope).to_json();
        socket
            .send(&raw::Frame::text(frame).bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let id = serde_json::to_value(id).expect("a message id");
        let (observed, ack) = raw::observe(
            &mut socket.reader,
            None,
            Instant::now(),
            Duration::from_secs(10),
            |f| f.opcode == raw::TEXT && f.json()["type"] == "ack" && f.json()["message_id"] == id,
        )
        .await;
        ack.map(|_| ())
            .ok_or_else(|| format!("no ack: {observed:?}"))
    }
}

/// The real server binary, running.
pub struct Server {
    child: Child,
    pub address: SocketAddr,
    /// The start-up line that states the connection capacity.
    pub capacity: Value,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts the binary on `data_dir`, under `prlimit --nofile=N:N` when
    /// `open_files` is given (soft and hard: the server cannot raise it).
    pub fn start(data_dir: &Path, open_files: Option<u64>) -> Server {
        let mut command = match open_files {
            Some(n) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={n}:{n}")).arg("--").arg(BIN);
                c
            }
            None => Command::new(BIN),
        };
        command
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--data-dir",
            ])
            .arg(data_dir)
            .env_remove("SAMTALE_DATABASE_URL")
            .env_remove("SAMTALE_CONFIG")
            .env_remove("SAMTALE_LOG")
            // The tokens' issuer: the one the fixture's application used.
            .env(
                "SAMTALE_PUBLIC_URL",
                samtale_server::config::IdentitySettings::default().public_url,
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .expect("spawn samtale-server (is prlimit installed?)");
        let lines = Arc::new(Mutex::new(Vec::new()));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let mut server = Server {
            child,
            address: "127.0.0.1:0".parse().unwrap(),
            capacity: Value::Null,
            lines,
        };
        let listening = server.wait_for_log("\"listening\"", Duration::from_secs(60));
        let json: Value = serde_json::from_str(&listening).expect("JSON log line");
        server.address = json["address"]
            .as_str()
            .expect("address field")
            .parse()
            .expect("a socket address");
        let capacity = server.wait_for_log("serving up to", Duration::from_secs(1));
        server.capacity = serde_json::from_str(&capacity).expect("JSON log line");
        server
    }

    /// The first log line containing `needle`, waiting up to `wait`.
    pub fn wait_for_log(&mut self, needle: &str, wait: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self
                .lines
                .lock()
                .unwrap()
                .iter()
                .find(|l| l.contains(needle))
            {
                return line.clone();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the server exited ({status}); output:\n{}",
                    self.log().join("\n")
                );
            }
            assert!(
                start.elapsed() < wait,
                "no log line containing {needle:?}; output so far:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// A field of the capacity line, as a number.
    pub fn capacity_of(&self, field: &str) -> usize {
        self.capacity[field]
            .as_u64()
            .unwrap_or_else(|| panic!("{field} in {}", self.capacity)) as usize
    }

    /// The process's resident set (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        proc_status_field(self.child.id(), "VmRSS:")
    }

    /// Descriptors the process has open.
    pub fn open_descriptors(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .map(Iterator::count)
            .unwrap_or(0)
    }

    /// The process is still running (no panic took it down).
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "the server exited ({status}); output:\n{}",
                self.log().join("\n")
            );
        }
    }

    /// No panic in the log.
    pub fn assert_no_panic(&self) {
        let log = self.log();
        let panics: Vec<_> = log.iter().filter(|l| l.contains("panicked")).collect();
        assert!(panics.is_empty(), "the server panicked:\n{panics:#?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proc_status_field(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

/// Raises this test process's own soft open-files limit to its hard limit
/// (it holds thousands of sockets) and returns the limit now in force.
pub fn raise_own_open_files_limit() -> usize {
    samtale_server::http::serve::raise_open_files_limit().0
}

/// A loopback address: the whole of 127.0.0.0/8 reaches the server, so
/// each stands for another client (`127.0.0.<n>`).
pub fn loopback(n: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, n])
}

/// A TCP connection to `to` from `from` (port chosen by the kernel).
pub async fn connect_from(to: SocketAddr, from: IpAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(from, 0))?;
    socket.connect(to).await
}

/// An HTTP response read off a raw socket.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The JSON error body's `code`.
    pub fn error_code(&self) -> String {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v["code"].as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// Parses a response head and body (`Content-Length` or to the end).
pub fn parse_response(bytes: &[u8]) -> Option<Response> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Response {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// Sends one request (with `Connection: close` unless `headers` name
/// another) from `from` and reads the whole response; an error when the connection is refused, reset or
/// closed without an answer, or nothing comes within `wait`.
pub async fn request(
    to: SocketAddr,
    from: IpAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
    wait: Duration,
) -> Result<Response, String> {
    let attempt = async {
        let mut stream = connect_from(to, from)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {to}\r\n");
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("connection"))
        {
            text.push_str("Connection: close\r\n");
        }
        for (n, v) in headers {
            text.push_str(&format!("{n}: {v}\r\n"));
        }
        if let Some(body) = body {
            text.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        text.push_str("\r\n");
        text.push_str(body.unwrap_or(""));
        stream
            .write_all(text.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        // To the end of the body its Content-Length announces (the server
        // may keep the connection open), else to the end of the stream.
        let mut bytes = Vec::new();
        loop {
            if let Some(response) = parse_response(&bytes)
                && response
                    .header("content-length")
                    .and_then(|n| n.parse::<usize>().ok())
                    .is_some_and(|n| response.body.len() >= n)
            {
                return Ok(response);
            }
            let mut chunk = [0u8; 8192];
            match stream.read(&mut chunk).await {
                Ok(0) => break,
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(e) if bytes.is_empty() => return Err(format!("read: {e}")),
                Err(_) => break,
            }
        }
        parse_response(&bytes).ok_or_else(|| {
            format!(
                "no HTTP response (connection closed after {} bytes)",
                bytes.len()
            )
        })
    };
    tokio::time::timeout(wait, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {wait:?}")))
}

/// `GET /readyz` from `from`: the status, or why there was none.
pub async fn readyz(to: SocketAddr, from: IpAddr) -> Result<u16, String> {
    request(
        to,
        from,
        "GET",
        "/readyz",
        &[],
        None,
        Duration::from_secs(10),
    )
    .await
    .map(|r| r.status)
}

/// `GET /v1/me` with a bearer token from `from`.
pub async fn me(to: SocketAddr, from: IpAddr, token: &str) -> Result<u16, String> {
    let auth = format!("Bearer {token}");
    request(
        to,
        from,
        "GET",
        "/v1/me",
        &[("Authorization", &auth)],
        None,
        Duration::from_secs(10),
    )
    .await
    .map(|r| r.status)
}

/// Logs the caseworker in on a new device from `from`: the status.
pub async fn log_in(to: SocketAddr, from: IpAddr) -> Result<u16, String> {
    let device = samtale_protocol::DeviceKeys::generate().expect("device keys");
    let body = serde_json::json!({
        "username": "caseworker",
        "password": crate::support::world::PASSWORD,
        "device": device.public(),
        "device_label": "Adversarial suite",
    })
    .to_string();
    request(
        to,
        from,
        "POST",
        "/v1/sessions",
        &[],
        Some(&body),
        Duration::from_secs(20),
    )
    .await
    .map(|r| r.status)
}
