//! Load generator for the relay (a benchmark, not a test).
//!
//! ```text
//! cargo build --release -p samtale-server -p samtale-tests
//! taskset -c 1 target/release/loadgen relay --server-bin target/release/samtale-server
//! ```
//!
//! It measures, with the same client code against two servers started as
//! child processes on their own core (`taskset -c 0`):
//!
//! 1. a raw tokio-tungstenite echo server: the ceiling for this machine;
//! 2. the Samtale server (SQLite by default, `--database-url` for
//!    PostgreSQL): real envelopes sealed by the protocol crate, sent by staff
//!    connections and delivered to citizen connections, every message
//!    durably committed before its ack.
//!
//! and prints delivered messages per second, send→ack and send→deliver
//! latency (p50/p99/p99.9), messages per database commit (from the server's
//! `/metrics`), and the server's memory per idle authenticated connection.

use std::collections::HashMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use samtale_protocol::membership::{LogKind, Member, MembershipState, Operation};
use samtale_protocol::wire::{ClientFrame, ServerFrame};
use samtale_protocol::{
    DeviceKeys, Envelope, Grant, HolderId, HolderKeyPair, HolderKeyRecord, HolderKind,
    HolderPublicKey, MessageId, OrgRootKey, ThreadId, b64,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type AnyError = Box<dyn std::error::Error + Send + Sync>;
type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Parser)]
#[command(about = "Load generator for the Samtale relay: throughput, latency, commits, memory.")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure the echo ceiling and the relay, and print a report.
    Relay {
        /// The samtale-server binary (build it with --release).
        #[arg(long)]
        server_bin: std::path::PathBuf,
        /// PostgreSQL URL of an empty database (default: SQLite in a temp dir).
        #[arg(long)]
        database_url: Option<String>,
        /// Sender/receiver connection pairs, one thread each.
        #[arg(long, default_value_t = 32)]
        pairs: usize,
        /// Messages in the timed run.
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        /// Unacknowledged messages each sender keeps in flight.
        #[arg(long, default_value_t = 32)]
        window: usize,
        /// Idle authenticated connections for the memory measurement.
        #[arg(long, default_value_t = 10_000)]
        idle: usize,
        /// The core the server runs on (the generator should run on another).
        #[arg(long, default_value_t = 0)]
        server_cpu: usize,
    },
    /// Throughput and send→deliver latency with sender and receiver on
    /// two nodes connected by NATS, against both on one node, in one run
    /// (issue 17's cross-node overhead).
    CrossNode {
        /// The samtale-server binary (build it with --release).
        #[arg(long)]
        server_bin: std::path::PathBuf,
        /// PostgreSQL URL of an empty database the nodes share.
        #[arg(long)]
        database_url: String,
        /// The NATS server between the nodes.
        #[arg(long, default_value = "nats://127.0.0.1:4222")]
        nats_url: String,
        /// Sender/receiver connection pairs.
        #[arg(long, default_value_t = 32)]
        pairs: usize,
        /// Messages in each timed run.
        #[arg(long, default_value_t = 20_000)]
        messages: usize,
        /// Unacknowledged messages each sender keeps in flight.
        #[arg(long, default_value_t = 32)]
        window: usize,
        /// The core both nodes run on (the generator should run on another).
        #[arg(long, default_value_t = 0)]
        server_cpu: usize,
        /// Run the second node on this core instead.
        #[arg(long)]
        second_cpu: Option<usize>,
    },
    /// A device reconnecting to 1,000 and 10,000 queued messages: the time
    /// to receive them against the ideal (their count divided by the echo
    /// ceiling), and the p99 of other users' messages while it drains
    /// against their p99 without it (issue 17).
    Backlog {
        /// The samtale-server binary (build it with --release).
        #[arg(long)]
        server_bin: std::path::PathBuf,
        /// PostgreSQL URL of an empty database.
        #[arg(long)]
        database_url: String,
        /// The core the server runs on (the generator should run on another).
        #[arg(long, default_value_t = 0)]
        server_cpu: usize,
    },
    /// Authenticated WebSockets one node holds, opened until it refuses
    /// (its limit follows the open-files limit), with memory per
    /// connection (issue 17). Raise `ulimit -n` in the shell to go further;
    /// this process needs one descriptor per connection too.
    Connections {
        /// The samtale-server binary (build it with --release).
        #[arg(long)]
        server_bin: std::path::PathBuf,
        /// The most to try.
        #[arg(long, default_value_t = 100_000)]
        up_to: usize,
        /// The core the server runs on.
        #[arg(long, default_value_t = 0)]
        server_cpu: usize,
    },
    /// Connect, sync one thread from a seq and print how many messages
    /// came and in how many microseconds (used by `backlog`, in a process
    /// of its own at the lowest priority). The access token comes in
    /// SAMTALE_DRAIN_TOKEN (not on the command line, where `ps` shows it).
    DrainClient {
        #[arg(long)]
        url: String,
        #[arg(long)]
        thread: ThreadId,
        #[arg(long)]
        after_seq: u64,
    },
    /// Run a raw tokio-tungstenite echo server (used by `relay`).
    EchoServer {
        /// Address to listen on.
        #[arg(long)]
        listen: String,
    },
}

fn main() -> Result<(), AnyError> {
    let args = Args::parse();
    // reqwest is built without a TLS provider of its own in this workspace.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match args.command {
        Command::DrainClient {
            url,
            thread,
            after_seq,
        } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(drain_client(
                url,
                std::env::var("SAMTALE_DRAIN_TOKEN")?,
                thread,
                after_seq,
            )),
        Command::EchoServer { listen } => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(echo_server(listen)),
        Command::Relay {
            server_bin,
            database_url,
            pairs,
            messages,
            window,
            idle,
            server_cpu,
        } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(relay(Config {
                server_bin,
                database_url,
                pairs,
                messages,
                window,
                idle,
                server_cpu,
            })),
        Command::Connections {
            server_bin,
            up_to,
            server_cpu,
        } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(connections(
                CrossConfig {
                    server_bin,
                    database_url: String::new(),
                    nats_url: String::new(),
                    pairs: 1,
                    messages: 0,
                    window: 1,
                    server_cpu,
                    second_cpu: None,
                },
                up_to,
            )),
        Command::Backlog {
            server_bin,
            database_url,
            server_cpu,
        } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(backlog(CrossConfig {
                server_bin,
                database_url,
                nats_url: String::new(),
                pairs: 9,
                messages: 0,
                window: 32,
                server_cpu,
                second_cpu: None,
            })),
        Command::CrossNode {
            server_bin,
            database_url,
            nats_url,
            pairs,
            messages,
            window,
            server_cpu,
            second_cpu,
        } => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(cross_node(CrossConfig {
                server_bin,
                database_url,
                nats_url,
                pairs,
                messages,
                window,
                server_cpu,
                second_cpu,
            })),
    }
}

struct CrossConfig {
    server_bin: std::path::PathBuf,
    database_url: String,
    nats_url: String,
    pairs: usize,
    messages: usize,
    window: usize,
    server_cpu: usize,
    second_cpu: Option<usize>,
}

/// A node process of a cluster; its API, and the enrolment code when it
/// made one.
async fn start_node(
    c: &CrossConfig,
    cpu: usize,
    keys: &(String, String),
    data: &std::path::Path,
) -> Result<(tokio::process::Child, Api, u16, Option<String>), AnyError> {
    let port = free_port()?;
    let mut server = pinned(cpu, &c.server_bin);
    server
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log",
            "warn",
            "--data-dir",
        ])
        .arg(data)
        .args(
            (!c.database_url.is_empty())
                .then_some(["--database-url", c.database_url.as_str()])
                .into_iter()
                .flatten(),
        )
        // The open-files limit decides, not the default cap.
        .env("SAMTALE_MAX_CONNECTIONS", "1000000")
        .envs((!c.nats_url.is_empty()).then_some(("SAMTALE_NATS_URL", c.nats_url.as_str())))
        .env("SAMTALE_TOKEN_KEY", &keys.0)
        .env("SAMTALE_NATIONAL_ID_KEY", &keys.1)
        .env("SAMTALE_PUBLIC_URL", "http://samtale.invalid")
        .env("SAMTALE_WS_FRAMES_PER_SECOND", "1000000")
        .env("SAMTALE_TRUSTED_PROXIES", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let child = server.spawn()?;
    let api = Api {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
    };
    for _ in 0..200 {
        let ready = api
            .call(reqwest::Method::GET, "/readyz", None, Value::Null)
            .await;
        if matches!(&ready, Ok(v) if v["status"] == "ok") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Output not a terminal: the code is in a 0600 file.
    let code = std::fs::read_to_string(data.join("enrolment-code"))
        .ok()
        .map(|t| t.trim().to_owned());
    Ok((child, api, port, code))
}

async fn cross_node(c: CrossConfig) -> Result<(), AnyError> {
    println!("# Samtale across two nodes (NATS) against one node");
    println!(
        "pairs {}, messages {} per run, window {}, node A on cpu {}, node B on cpu {}",
        c.pairs,
        c.messages,
        c.window,
        c.server_cpu,
        c.second_cpu.unwrap_or(c.server_cpu)
    );
    // 32 random bytes from two random ids (the protocol crate's RNG).
    let random = || -> Result<String, AnyError> {
        let bytes = [
            *MessageId::random()?.as_bytes(),
            *MessageId::random()?.as_bytes(),
        ]
        .concat();
        Ok(b64::encode(&bytes))
    };
    let keys = (random()?, random()?);
    let root = std::env::temp_dir().join(format!("samtale-cross-{}", free_port()?));
    let (mut node_a, api_a, port_a, code) =
        start_node(&c, c.server_cpu, &keys, &root.join("a")).await?;
    let code = code.ok_or("node A made no enrolment code (use an empty database)")?;
    let world = organisation(&api_a, &code, c.pairs).await?;
    let (mut node_b, _api_b, port_b, _) = start_node(
        &c,
        c.second_cpu.unwrap_or(c.server_cpu),
        &keys,
        &root.join("b"),
    )
    .await?;
    let url_a = format!("ws://127.0.0.1:{port_a}/ws");
    let url_b = format!("ws://127.0.0.1:{port_b}/ws");

    // Senders on A; receivers on `receive_at`.
    let run = |receive_at: String| {
        let world = &world;
        let url_a = url_a.clone();
        async move {
            let frames = world.frames(c.messages)?;
            let mut senders = Vec::new();
            let mut receivers = Vec::new();
            for (i, token) in world.citizen_tokens.iter().enumerate() {
                let mut s = connect(&url_a, Some(&world.staff_token)).await?;
                next_frame(&mut s).await?;
                senders.push(s);
                let mut r = connect(&receive_at, Some(token)).await?;
                next_frame(&mut r).await?;
                // Earlier runs' messages replay before `synced` and are
                // not counted (only this run's ids are timed).
                let sync = ClientFrame::Sync {
                    thread_id: world.threads[i].0,
                    after_seq: 0,
                };
                r.send(Message::Text(sync.to_json().into())).await?;
                while !matches!(next_frame(&mut r).await?, ServerFrame::Synced { .. }) {}
                receivers.push(r);
            }
            // The receivers' nodes subscribe to their accounts on the bus.
            tokio::time::sleep(Duration::from_millis(500)).await;
            run_load(senders, Some(receivers), frames, c.window).await
        }
    };
    let mut rows = Vec::new();
    // A B B A: the runs slow down a little as the database grows, and
    // this order gives both the same share of it.
    for (label, at) in [
        ("one node", url_a.clone()),
        ("two nodes", url_b.clone()),
        ("two nodes", url_b.clone()),
        ("one node", url_a.clone()),
    ] {
        let result = run(at).await?;
        println!(
            "{label}: {:.0} delivered/s, send→deliver p50 {:.2} ms p99 {:.2} ms",
            result.delivered_per_second,
            result.deliver.0 as f64 / 1000.0,
            result.deliver.1 as f64 / 1000.0
        );
        rows.push((label, result));
    }
    node_a.kill().await.ok();
    node_b.kill().await.ok();
    let _ = std::fs::remove_dir_all(&root);
    let mean = |label: &str| {
        let of: Vec<&RunResult> = rows
            .iter()
            .filter(|(l, _)| *l == label)
            .map(|(_, r)| r)
            .collect();
        let n = of.len() as f64;
        (
            of.iter().map(|r| r.delivered_per_second).sum::<f64>() / n,
            of.iter().map(|r| r.deliver.1 as f64).sum::<f64>() / n,
        )
    };
    let (one_t, one_p99) = mean("one node");
    let (two_t, two_p99) = mean("two nodes");
    println!();
    println!("| measure | one node | two nodes (NATS) | ratio / goal |");
    println!("| --- | ---: | ---: | --- |");
    println!(
        "| delivered messages/s (mean of 2) | {one_t:.0} | {two_t:.0} | {:.2}× (goal ≥ 0.7×) |",
        two_t / one_t
    );
    println!(
        "| send→deliver p99 (mean of 2) | {:.2} ms | {:.2} ms | {:+.2} ms (goal ≤ +2 ms) |",
        one_p99 / 1000.0,
        two_p99 / 1000.0,
        (two_p99 - one_p99) / 1000.0
    );
    Ok(())
}

struct Config {
    server_bin: std::path::PathBuf,
    database_url: Option<String>,
    pairs: usize,
    messages: usize,
    window: usize,
    idle: usize,
    server_cpu: usize,
}

async fn echo_server(listen: String) -> Result<(), AnyError> {
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(message)) = ws.next().await {
                if message.is_text() && ws.send(message).await.is_err() {
                    break;
                }
            }
        });
    }
}

fn free_port() -> Result<u16, AnyError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn pinned(cpu: usize, program: &std::path::Path) -> tokio::process::Command {
    if std::path::Path::new("/usr/bin/taskset").exists() {
        let mut c = tokio::process::Command::new("/usr/bin/taskset");
        c.arg("-c").arg(cpu.to_string()).arg(program);
        c
    } else {
        tokio::process::Command::new(program)
    }
}

/// Latency percentiles in microseconds.
fn percentiles(mut samples: Vec<u64>) -> (u64, u64, u64) {
    samples.sort_unstable();
    let at = |q: f64| {
        if samples.is_empty() {
            return 0;
        }
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples[i]
    };
    (at(0.5), at(0.99), at(0.999))
}

async fn connect(url: &str, token: Option<&str>) -> Result<Ws, AnyError> {
    let mut request = url.into_client_request()?;
    if let Some(token) = token {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            format!("samtale.v1, samtale.bearer.{token}").parse()?,
        );
    }
    let (ws, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(ws)
}

async fn next_frame(ws: &mut Ws) -> Result<ServerFrame, AnyError> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(ServerFrame::parse(t.as_str())?),
            Some(Ok(Message::Close(c))) => return Err(format!("closed: {c:?}").into()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => return Err("connection ended".into()),
        }
    }
}

struct RunResult {
    delivered_per_second: f64,
    ack: (u64, u64, u64),
    deliver: (u64, u64, u64),
    elapsed: Duration,
}

/// Sends `frames[i]` on sender `i % pairs` with a window; an "ack" is the
/// echo (echo server) or the `ack` frame (relay); a delivery is the echo
/// or a `deliver` frame on the paired receiver.
async fn run_load(
    senders: Vec<Ws>,
    receivers: Option<Vec<Ws>>,
    frames: Vec<Vec<(MessageId, String)>>,
    window: usize,
) -> Result<RunResult, AnyError> {
    let total: usize = frames.iter().map(Vec::len).sum();
    let start = Instant::now();
    let mut tasks = Vec::new();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(bool, u64)>();
    let sent_at: std::sync::Arc<std::sync::Mutex<HashMap<MessageId, Instant>>> =
        std::sync::Arc::default();
    let echo = receivers.is_none();
    for (ws, list) in senders.into_iter().zip(frames) {
        let tx = tx.clone();
        let sent_at = sent_at.clone();
        tasks.push(tokio::spawn(async move {
            let (mut sink, mut stream) = ws.split();
            let mut next = 0;
            let mut in_flight = 0;
            let mut done = 0;
            while done < list.len() {
                while in_flight < window && next < list.len() {
                    let (id, text) = &list[next];
                    sent_at
                        .lock()
                        .map(|mut m| m.insert(*id, Instant::now()))
                        .ok();
                    if sink.send(Message::Text(text.clone().into())).await.is_err() {
                        return;
                    }
                    next += 1;
                    in_flight += 1;
                }
                let Some(Ok(message)) = stream.next().await else {
                    return;
                };
                let Message::Text(t) = message else { continue };
                let id = if echo {
                    match ClientFrame::parse(t.as_str()) {
                        Ok(ClientFrame::Send { message_id, .. }) => Some(message_id),
                        _ => None,
                    }
                } else {
                    match ServerFrame::parse(t.as_str()) {
                        Ok(ServerFrame::Ack { message_id, .. }) => Some(message_id),
                        Ok(ServerFrame::Error { message, .. }) => {
                            eprintln!("send refused: {message}");
                            None
                        }
                        _ => None,
                    }
                };
                if let Some(id) = id {
                    let at = sent_at.lock().ok().and_then(|m| m.get(&id).copied());
                    if let Some(at) = at {
                        let us = at.elapsed().as_micros() as u64;
                        let _ = tx.send((false, us));
                        if echo {
                            let _ = tx.send((true, us));
                        }
                    }
                    in_flight -= 1;
                    done += 1;
                }
            }
        }));
    }
    if let Some(receivers) = receivers {
        for ws in receivers {
            let tx = tx.clone();
            let sent_at = sent_at.clone();
            tasks.push(tokio::spawn(async move {
                let mut ws = ws;
                while let Ok(frame) = next_frame(&mut ws).await {
                    if let ServerFrame::Deliver { message_id, .. } = frame {
                        let at = sent_at
                            .lock()
                            .ok()
                            .and_then(|m| m.get(&message_id).copied());
                        if let Some(at) = at {
                            let _ = tx.send((true, at.elapsed().as_micros() as u64));
                        }
                    }
                }
            }));
        }
    }
    drop(tx);
    let mut acks = Vec::with_capacity(total);
    let mut deliveries = Vec::with_capacity(total);
    let mut last_delivery = start;
    while deliveries.len() < total || acks.len() < total {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some((true, us))) => {
                deliveries.push(us);
                last_delivery = Instant::now();
            }
            Ok(Some((false, us))) => acks.push(us),
            Ok(None) | Err(_) => break,
        }
    }
    for t in tasks {
        t.abort();
    }
    if deliveries.len() < total {
        return Err(format!(
            "only {} of {total} messages were delivered",
            deliveries.len()
        )
        .into());
    }
    let elapsed = last_delivery - start;
    Ok(RunResult {
        delivered_per_second: total as f64 / elapsed.as_secs_f64(),
        ack: percentiles(acks),
        deliver: percentiles(deliveries),
        elapsed,
    })
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> Result<Value, AnyError> {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        if !body.is_null() {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            return Err(format!("{path}: {status} {text}").into());
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn rss_kib(pid: u32) -> Result<u64, AnyError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).ok_or("bad VmRSS")?.parse()?)
}

async fn metric(api: &Api, name: &str) -> Result<f64, AnyError> {
    let text = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
        .ok_or_else(|| format!("metric {name} missing").into())
}

async fn relay(c: Config) -> Result<(), AnyError> {
    let me = std::env::current_exe()?;
    println!("# Samtale relay load test");
    println!(
        "pairs {}, messages {}, window {}, idle connections {}, server on cpu {}",
        c.pairs, c.messages, c.window, c.idle, c.server_cpu
    );

    // ----------------------------------------------------------- the relay
    let port = free_port()?;
    let data = std::env::temp_dir().join(format!("samtale-loadgen-{port}"));
    let mut server = pinned(c.server_cpu, &c.server_bin);
    server
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log",
            "warn",
            "--data-dir",
        ])
        .arg(&data)
        .env("SAMTALE_WS_FRAMES_PER_SECOND", "1000000")
        .env("SAMTALE_TRUSTED_PROXIES", "127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if let Some(url) = &c.database_url {
        server.args(["--database-url", url]);
    }
    let mut child = server.spawn()?;
    let pid = child.id().ok_or("no server pid")?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    // Its output is a pipe, not a terminal: the server writes the
    // enrolment code to a 0600 file in the data directory and prints the
    // file's path.
    let code_file = data.join("enrolment-code");
    let mut code = None;
    while let Some(line) = lines.next_line().await? {
        if line.contains(&*code_file.to_string_lossy()) {
            code = Some(std::fs::read_to_string(&code_file)?.trim().to_string());
            break;
        }
    }
    let code = code.ok_or("the server wrote no enrolment code (use an empty database)")?;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let api = Api {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
    };
    for _ in 0..100 {
        if api
            .call(reqwest::Method::GET, "/readyz", None, Value::Null)
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ws_url = format!("ws://127.0.0.1:{port}/ws");
    let world = organisation(&api, &code, c.pairs).await?;
    let frames = world.frames(c.messages)?;
    let (staff_token, citizen_tokens, threads) = (
        world.staff_token.clone(),
        world.citizen_tokens.clone(),
        world.threads.clone(),
    );
    let frame_bytes = frames[0][0].1.len();

    // ------------------------------------------------------- echo ceiling
    let echo_port = free_port()?;
    let mut echo = pinned(c.server_cpu, &me);
    echo.args(["echo-server", "--listen", &format!("127.0.0.1:{echo_port}")])
        .kill_on_drop(true);
    let mut echo_child = echo.spawn()?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let echo_url = format!("ws://127.0.0.1:{echo_port}/");
    let mut echo_senders = Vec::new();
    for _ in 0..c.pairs {
        echo_senders.push(connect(&echo_url, None).await?);
    }
    let ceiling = run_load(echo_senders, None, frames.clone(), c.window).await?;
    echo_child.kill().await.ok();

    // ----------------------------------------------------------- relay run
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (i, token) in citizen_tokens.iter().enumerate() {
        let mut s = connect(&ws_url, Some(&staff_token)).await?;
        next_frame(&mut s).await?;
        senders.push(s);
        let mut r = connect(&ws_url, Some(token)).await?;
        next_frame(&mut r).await?;
        let sync = ClientFrame::Sync {
            thread_id: threads[i].0,
            after_seq: 0,
        };
        r.send(Message::Text(sync.to_json().into())).await?;
        while !matches!(next_frame(&mut r).await?, ServerFrame::Synced { .. }) {}
        receivers.push(r);
    }
    let commits_before = metric(&api, "samtale_relay_commits_total").await?;
    let messages_before = metric(&api, "samtale_relay_messages_total").await?;
    let relay_run = run_load(senders, Some(receivers), frames, c.window).await?;
    let commits = metric(&api, "samtale_relay_commits_total").await? - commits_before;
    let stored = metric(&api, "samtale_relay_messages_total").await? - messages_before;

    // -------------------------------------------------- idle connections
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_kib(pid)?;
    let mut idle = Vec::with_capacity(c.idle);
    let token = citizen_tokens[0].clone();
    let mut pending = futures_util::stream::FuturesUnordered::new();
    let mut opened = 0;
    while opened < c.idle || !pending.is_empty() {
        while opened < c.idle && pending.len() < 256 {
            let url = ws_url.clone();
            let token = token.clone();
            pending.push(async move {
                let mut ws = connect(&url, Some(&token)).await?;
                match next_frame(&mut ws).await? {
                    ServerFrame::Ready { .. } => Ok::<Ws, AnyError>(ws),
                    other => Err(format!("{other:?}").into()),
                }
            });
            opened += 1;
        }
        if let Some(result) = pending.next().await {
            idle.push(result?);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let connections = metric(&api, "samtale_ws_connections").await?;
    let rss_after = rss_kib(pid)?;
    let per_connection = (rss_after.saturating_sub(rss_before)) as f64 * 1024.0 / c.idle as f64;
    drop(idle);
    child.kill().await.ok();
    let _ = std::fs::remove_dir_all(&data);

    let ratio = relay_run.delivered_per_second / ceiling.delivered_per_second;
    println!();
    println!("frame size {frame_bytes} bytes (a 200-byte payload sealed to 3 holders)");
    println!();
    println!("| measure | echo ceiling | samtale relay | ratio / goal |");
    println!("| --- | ---: | ---: | --- |");
    println!(
        "| delivered messages/s | {:.0} | {:.0} | {:.2}× (goal ≥ 0.5×) |",
        ceiling.delivered_per_second, relay_run.delivered_per_second, ratio
    );
    println!(
        "| send→ack p50 / p99 / p99.9 (ms) | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} | |",
        ceiling.ack.0 as f64 / 1000.0,
        ceiling.ack.1 as f64 / 1000.0,
        ceiling.ack.2 as f64 / 1000.0,
        relay_run.ack.0 as f64 / 1000.0,
        relay_run.ack.1 as f64 / 1000.0,
        relay_run.ack.2 as f64 / 1000.0,
    );
    println!(
        "| send→deliver p50 / p99 / p99.9 (ms) | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} / {:.2} | |",
        ceiling.deliver.0 as f64 / 1000.0,
        ceiling.deliver.1 as f64 / 1000.0,
        ceiling.deliver.2 as f64 / 1000.0,
        relay_run.deliver.0 as f64 / 1000.0,
        relay_run.deliver.1 as f64 / 1000.0,
        relay_run.deliver.2 as f64 / 1000.0,
    );
    println!(
        "| messages per commit | | {:.1} ({stored:.0} in {commits:.0} commits) | goal ≥ 10 |",
        if commits > 0.0 { stored / commits } else { 0.0 }
    );
    println!(
        "| server memory per idle connection | | {:.1} KB ({connections:.0} open, RSS {rss_before} → {rss_after} KiB) | goal ≤ 12 KB |",
        per_connection / 1000.0
    );
    println!(
        "| run time | {:.2} s | {:.2} s | |",
        ceiling.elapsed.as_secs_f64(),
        relay_run.elapsed.as_secs_f64()
    );
    Ok(())
}

/// What the load runs with: a certified caseworker, `pairs` citizens each
/// in a thread with her team, and the keys to seal to.
struct LoadWorld {
    staff_device: DeviceKeys,
    staff_token: String,
    citizen_tokens: Vec<String>,
    threads: Vec<(ThreadId, Vec<HolderPublicKey>)>,
}

impl LoadWorld {
    /// `messages` send frames, pre-sealed (the generator's core measures
    /// the server, not HPKE), spread over the threads; fresh ids each call.
    fn frames(&self, messages: usize) -> Result<Vec<Vec<(MessageId, String)>>, AnyError> {
        let pairs = self.threads.len();
        let payload = vec![b'x'; 200];
        let mut frames: Vec<Vec<(MessageId, String)>> = vec![Vec::new(); pairs];
        for i in 0..messages {
            let (thread, to) = &self.threads[i % pairs];
            let id = MessageId::random()?;
            let envelope = Envelope::seal(&self.staff_device, *thread, id, to, &payload)?;
            let frame = ClientFrame::Send {
                thread_id: *thread,
                message_id: id,
                envelope: envelope.into_bytes(),
            };
            frames[i % pairs].push((id, frame.to_json()));
        }
        Ok(frames)
    }
}

/// Registers an organisation on an empty server with its enrolment code
/// and sets up the load's people, keys and threads.
async fn organisation(api: &Api, code: &str, pairs: usize) -> Result<LoadWorld, AnyError> {
    let password = "load generator passphrase";
    let admin_device = DeviceKeys::generate()?;
    let root = OrgRootKey::generate()?;
    let boot = api
        .call(
            reqwest::Method::POST,
            "/v1/bootstrap",
            None,
            json!({
                "enrolment_code": code, "organisation_name": "Belastning Kommune",
                "root_public_key": root.public(), "username": "admin",
                "display_name": "Admin", "password": password,
                "device": admin_device.public(), "device_label": "loadgen",
            }),
        )
        .await?;
    let admin = boot["tokens"]["access_token"]
        .as_str()
        .ok_or("no admin token")?
        .to_string();
    let org_id: samtale_protocol::OrgId = boot["org_id"].as_str().ok_or("no org")?.parse()?;
    let org: [u8; 16] = *org_id.as_bytes();
    let team = api
        .call(
            reqwest::Method::POST,
            "/v1/teams",
            Some(&admin),
            json!({"name": "Team"}),
        )
        .await?;
    let team_id = team["team_id"].as_str().ok_or("no team")?.to_string();
    let team_uuid: samtale_protocol::TeamId = team_id.parse()?;
    api.call(
        reqwest::Method::POST,
        "/v1/staff",
        Some(&admin),
        json!({
            "username": "sender", "display_name": "Sender", "password": password,
            "roles": ["staff"],
        }),
    )
    .await?;
    let staff_device = DeviceKeys::generate()?;
    let staff = api
        .call(
            reqwest::Method::POST,
            "/v1/sessions",
            None,
            json!({
                "username": "sender", "password": password,
                "device": staff_device.public(), "device_label": "loadgen",
            }),
        )
        .await?;
    let staff_token = staff["access_token"]
        .as_str()
        .ok_or("no staff token")?
        .to_string();
    // Staff devices send once the organisation root has certified them.
    let staff_account: samtale_protocol::AccountId = staff["account_id"]
        .as_str()
        .ok_or("no staff account")?
        .parse()?;
    let certificate = samtale_protocol::DeviceCertificate::issue(
        &root,
        samtale_protocol::CertificateBody {
            org_id,
            org_name: "Belastning Kommune".into(),
            device: staff_device.public(),
            staff_id: staff_account,
            staff_name: "Sender".into(),
            roles: samtale_protocol::Roles::STAFF,
            teams: vec![samtale_protocol::CertifiedTeam {
                id: team_uuid,
                name: "Team".into(),
            }],
            not_before: now() - 60,
            not_after: now() + 86_400,
        },
    )?;
    api.call(
        reqwest::Method::PUT,
        &format!(
            "/v1/devices/{}/certificate",
            staff["device_id"].as_str().ok_or("no staff device")?
        ),
        Some(&staff_token),
        json!({"certificate": b64::encode(certificate.as_bytes())}),
    )
    .await?;
    // The root signs the sender into the team's member list and its
    // device into its device list (the signed logs clients replay).
    let team_log = MembershipState::new(LogKind::TeamMembers, *team_uuid.as_bytes());
    let join =
        team_log.next_record_by_root(&root, Operation::Add, Member::Staff(staff_account), now());
    api.call(
        reqwest::Method::POST,
        &format!("/v1/teams/{team_id}/member-log"),
        Some(&admin),
        json!({"record": b64::encode(join.as_bytes())}),
    )
    .await?;
    let device_log = MembershipState::new(LogKind::DeviceList, *staff_account.as_bytes());
    let listed = device_log.next_record_by_root(
        &root,
        Operation::Add,
        Member::Device(staff_device.public()),
        now(),
    );
    api.call(
        reqwest::Method::POST,
        &format!("/v1/accounts/{staff_account}/device-log"),
        Some(&staff_token),
        json!({"record": b64::encode(listed.as_bytes())}),
    )
    .await?;
    let publish = |who: &DeviceKeys, key: &HolderKeyPair, owner: [u8; 16]| {
        let record = HolderKeyRecord::sign(who, &key.public(), owner, now());
        (
            format!("/v1/keys/{}/{}", key.epoch().holder, key.epoch().epoch),
            json!({"record": b64::encode(record.as_bytes())}),
        )
    };
    let team_key = HolderKeyPair::generate(HolderId::random()?, HolderKind::Team, 0)?;
    let (path, body) = publish(&staff_device, &team_key, *team_uuid.as_bytes());
    api.call(reqwest::Method::PUT, &path, Some(&staff_token), body)
        .await?;
    let archive_key = HolderKeyPair::generate(HolderId::random()?, HolderKind::Archive, 0)?;
    let (path, body) = publish(&admin_device, &archive_key, org);
    api.call(reqwest::Method::PUT, &path, Some(&admin), body)
        .await?;
    let grant = Grant::issue(
        &staff_device,
        &team_key,
        &staff_device.public().agreement,
        now(),
    )?;
    api.call(
        reqwest::Method::POST,
        "/v1/grants",
        Some(&staff_token),
        json!({"grants": [{"grant": b64::encode(grant.as_bytes())}]}),
    )
    .await?;

    let consent = api
        .call(reqwest::Method::GET, "/v1/consent", None, Value::Null)
        .await?;
    let mut threads = Vec::new();
    let mut citizen_tokens = Vec::new();
    for i in 0..pairs {
        let invitation = api
            .call(
                reqwest::Method::POST,
                "/v1/invitations",
                Some(&staff_token),
                json!({
                    "team_id": team_id, "national_id": format!("{:06}-{:04}", 10190 + i, 1000 + i),
                    "display_name": "Borger",
                }),
            )
            .await?;
        let device = DeviceKeys::generate()?;
        // Each citizen signs up from their own address (the server trusts
        // the generator as a proxy), as real citizens would: sign-ups are
        // rate limited per address.
        let response = api
            .http
            .post(format!("{}/v1/signup", api.base))
            .header(
                "x-forwarded-for",
                format!("10.0.{}.{}", i / 250, 1 + i % 250),
            )
            .json(&json!({
                "code": invitation["code"], "device": device.public(), "device_label": "loadgen",
                "consent": {"version": consent["version"], "text_sha256": consent["text_sha256"]},
            }))
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(format!("/v1/signup: {}", response.text().await?).into());
        }
        let tokens: Value = response.json().await?;
        let token = tokens["access_token"]
            .as_str()
            .ok_or("no citizen token")?
            .to_string();
        let account: samtale_protocol::AccountId =
            tokens["account_id"].as_str().ok_or("no account")?.parse()?;
        let key = HolderKeyPair::generate(HolderId::random()?, HolderKind::Citizen, 0)?;
        let (path, body) = publish(&device, &key, *account.as_bytes());
        api.call(reqwest::Method::PUT, &path, Some(&token), body)
            .await?;
        let thread = ThreadId::random()?;
        let mut log = MembershipState::new(LogKind::ThreadParticipants, *thread.as_bytes());
        let mut records = Vec::new();
        for member in [
            Member::Team(team_uuid),
            Member::Holder(archive_key.epoch().holder),
            Member::Citizen(account),
        ] {
            let record = log.next_record(&staff_device, Operation::Add, member, now());
            log.apply(&record, &mut samtale_protocol::membership::any_signer)?;
            records.push(json!({"record": b64::encode(record.as_bytes())}));
        }
        api.call(reqwest::Method::POST, "/v1/threads", Some(&staff_token), json!({
            "thread_id": thread, "team_id": team_id, "citizens": [account], "participants": records,
        }))
        .await?;
        threads.push((
            thread,
            vec![team_key.public(), key.public(), archive_key.public()],
        ));
        citizen_tokens.push(token);
    }

    Ok(LoadWorld {
        staff_device,
        staff_token,
        citizen_tokens,
        threads,
    })
}

/// Sends every frame on `ws`, `window` at a time, until each is acked.
async fn send_acked(
    ws: &mut Ws,
    frames: &[(MessageId, String)],
    window: usize,
) -> Result<(), AnyError> {
    let (mut next, mut acked) = (0, 0);
    while acked < frames.len() {
        while next < frames.len() && next - acked < window {
            ws.send(Message::Text(frames[next].1.clone().into()))
                .await?;
            next += 1;
        }
        match next_frame(ws).await? {
            ServerFrame::Ack { .. } => acked += 1,
            ServerFrame::Error { message, .. } => return Err(message.into()),
            _ => {}
        }
    }
    Ok(())
}

/// One device's reconnect-and-sync: prints "received N in T µs", timed
/// from its `sync` frame to the `synced` after the last delivery.
async fn drain_client(
    url: String,
    token: String,
    thread: ThreadId,
    after_seq: u64,
) -> Result<(), AnyError> {
    let mut ws = connect(&url, Some(&token)).await?;
    next_frame(&mut ws).await?;
    let started = Instant::now();
    let sync = ClientFrame::Sync {
        thread_id: thread,
        after_seq,
    };
    ws.send(Message::Text(sync.to_json().into())).await?;
    let mut got = 0u64;
    loop {
        match next_frame(&mut ws).await? {
            ServerFrame::Deliver { .. } => got += 1,
            ServerFrame::Synced { .. } => break,
            _ => {}
        }
    }
    println!("received {got} in {} µs", started.elapsed().as_micros());
    Ok(())
}

async fn backlog(c: CrossConfig) -> Result<(), AnyError> {
    println!("# Backlog drain");
    let me = std::env::current_exe()?;
    // The ceiling: the same frames through a raw echo server.
    let keys = (b64::encode(&[7u8; 32]), b64::encode(&[8u8; 32]));
    let root = std::env::temp_dir().join(format!("samtale-backlog-{}", free_port()?));
    let (mut node, api, port, code) = start_node(&c, c.server_cpu, &keys, &root).await?;
    let code = code.ok_or("the server made no enrolment code (use an empty database)")?;
    let world = organisation(&api, &code, c.pairs).await?;
    let url = format!("ws://127.0.0.1:{port}/ws");

    let echo_port = free_port()?;
    let mut echo = pinned(c.server_cpu, &me);
    echo.args(["echo-server", "--listen", &format!("127.0.0.1:{echo_port}")])
        .kill_on_drop(true);
    let mut echo_child = echo.spawn()?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let echo_url = format!("ws://127.0.0.1:{echo_port}/");
    let mut echo_senders = Vec::new();
    for _ in 0..8 {
        echo_senders.push(connect(&echo_url, None).await?);
    }
    let mut echo_frames = world.frames(20_000)?;
    echo_frames.truncate(8);
    let ceiling = run_load(echo_senders, None, echo_frames, 32)
        .await?
        .delivered_per_second;
    echo_child.kill().await.ok();
    println!("echo ceiling: {ceiling:.0} messages/s");

    // Others: pairs 1..9, one message in flight each; `started` is told
    // once they are connected and talking.
    let others = |started: Option<tokio::sync::oneshot::Sender<()>>| {
        let world = &world;
        let url = url.clone();
        let frames = world.frames(8 * 250);
        async move {
            let mut frames = frames?;
            frames.remove(0);
            let mut senders = Vec::new();
            let mut receivers = Vec::new();
            for (i, token) in world.citizen_tokens.iter().enumerate().skip(1) {
                let mut s = connect(&url, Some(&world.staff_token)).await?;
                next_frame(&mut s).await?;
                senders.push(s);
                let mut r = connect(&url, Some(token)).await?;
                next_frame(&mut r).await?;
                let sync = ClientFrame::Sync {
                    thread_id: world.threads[i].0,
                    after_seq: 0,
                };
                r.send(Message::Text(sync.to_json().into())).await?;
                while !matches!(next_frame(&mut r).await?, ServerFrame::Synced { .. }) {}
                receivers.push(r);
            }
            if let Some(started) = started {
                let _ = started.send(());
            }
            run_load(senders, Some(receivers), frames, 1).await
        }
    };
    let baseline = others(None).await?;
    println!(
        "others alone: send→deliver p99 {:.2} ms",
        baseline.deliver.1 as f64 / 1000.0
    );

    let mut staff = connect(&url, Some(&world.staff_token)).await?;
    next_frame(&mut staff).await?;
    let mut queued_after = 0u64;
    let mut rows = Vec::new();
    // Five drains of 1,000 and three of 10,000, each a fresh backlog; the
    // table gives the median of each.
    let mut runs: Vec<(usize, usize, Duration, f64, u64)> = Vec::new();
    for n in [
        1_000usize, 1_000, 1_000, 1_000, 1_000, 10_000, 10_000, 10_000,
    ] {
        // Queued while the citizen of thread 0 is offline.
        let frames: Vec<(MessageId, String)> = world.frames(n * c.pairs)?.swap_remove(0);
        send_acked(&mut staff, &frames, 64).await?;
        // She reconnects and syncs while the others keep talking (once
        // they are).
        let (talking, started) = tokio::sync::oneshot::channel();
        // The draining device is a process of its own at the lowest
        // priority on the generator's core: the others' clients come first
        // there, so their p99 measures the server, not this generator.
        let drain = async {
            started.await?;
            let out = tokio::process::Command::new("nice")
                .args(["-n", "19"])
                .arg(&me)
                .args(["drain-client", "--url", &url])
                .env("SAMTALE_DRAIN_TOKEN", &world.citizen_tokens[0])
                .args(["--thread", &world.threads[0].0.to_string()])
                .args(["--after-seq", &queued_after.to_string()])
                .output()
                .await?;
            let text = String::from_utf8_lossy(&out.stdout);
            let parsed = text.trim().strip_prefix("received ").and_then(|rest| {
                let (got, took) = rest.strip_suffix(" µs")?.split_once(" in ")?;
                Some((got.parse::<usize>().ok()?, took.parse::<u64>().ok()?))
            });
            let (got, took) = parsed.ok_or_else(|| {
                format!(
                    "drain-client: {text} {}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?;
            Ok::<_, AnyError>((got, Duration::from_micros(took)))
        };
        let (drained, during) = tokio::join!(drain, others(Some(talking)));
        let (got, took) = drained?;
        let during = during?;
        queued_after += n as u64;
        let ideal = n as f64 / ceiling;
        println!(
            "{n} queued: received {got} in {:.3} s (ideal {:.3} s, {:.2}×); others' p99 {:.2} ms while it drained (their send→ack p99 {:.2} ms, alone {:.2} ms)",
            took.as_secs_f64(),
            ideal,
            took.as_secs_f64() / ideal,
            during.deliver.1 as f64 / 1000.0,
            during.ack.1 as f64 / 1000.0,
            baseline.ack.1 as f64 / 1000.0
        );
        runs.push((n, got, took, ideal, during.deliver.1));
    }
    for n in [1_000usize, 10_000] {
        let mut of_n: Vec<_> = runs.iter().filter(|r| r.0 == n).copied().collect();
        of_n.sort_by_key(|r| r.2);
        let median = of_n[of_n.len() / 2];
        let got: usize = of_n.iter().map(|r| r.1).min().unwrap_or(0);
        let times: Vec<String> = of_n
            .iter()
            .map(|r| format!("{:.3}", r.2.as_secs_f64()))
            .collect();
        println!("{n} queued, {} drains: {} s", of_n.len(), times.join(", "));
        rows.push((n, got, median.2, median.3, median.4));
    }
    node.kill().await.ok();
    let _ = std::fs::remove_dir_all(&root);
    println!();
    println!(
        "| queued | drained in (median) | ideal (count / echo ceiling) | ratio (goal ≤ 3×) | others' p99 during that drain / alone (goal ≤ 1.5×) |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: |");
    for (n, got, took, ideal, p99) in rows {
        println!(
            "| {n} (each drain received at least {got}) | {:.3} s | {:.3} s | {:.2}× | {:.2} / {:.2} ms = {:.2}× |",
            took.as_secs_f64(),
            ideal,
            took.as_secs_f64() / ideal,
            p99 as f64 / 1000.0,
            baseline.deliver.1 as f64 / 1000.0,
            p99 as f64 / baseline.deliver.1 as f64
        );
    }
    Ok(())
}

async fn connections(c: CrossConfig, up_to: usize) -> Result<(), AnyError> {
    println!("# Connections one node holds (SQLite)");
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    if let Some(line) = limits.lines().find(|l| l.starts_with("Max open files")) {
        println!("{}", line.split_whitespace().collect::<Vec<_>>().join(" "));
    }
    let keys = (b64::encode(&[7u8; 32]), b64::encode(&[8u8; 32]));
    let root = std::env::temp_dir().join(format!("samtale-conns-{}", free_port()?));
    let (mut node, api, port, code) = start_node(&c, c.server_cpu, &keys, &root).await?;
    let pid = node.id().ok_or("no server pid")?;
    let code = code.ok_or("the server made no enrolment code")?;
    let world = organisation(&api, &code, 1).await?;
    let url = format!("ws://127.0.0.1:{port}/ws");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_kib(pid)?;
    let mut open = Vec::new();
    let mut refused = None;
    let started = Instant::now();
    let mut pending = futures_util::stream::FuturesUnordered::new();
    let mut tried = 0;
    while refused.is_none() && (tried < up_to || !pending.is_empty()) {
        while tried < up_to && pending.len() < 256 && refused.is_none() {
            let (url, token) = (url.clone(), world.citizen_tokens[0].clone());
            pending.push(async move {
                let mut ws = connect(&url, Some(&token)).await?;
                match next_frame(&mut ws).await? {
                    ServerFrame::Ready { .. } => Ok::<Ws, AnyError>(ws),
                    other => Err(format!("{other:?}").into()),
                }
            });
            tried += 1;
        }
        match pending.next().await {
            Some(Ok(ws)) => open.push(ws),
            Some(Err(e)) => refused = Some(e.to_string()),
            None => break,
        }
        if open.len() % 2000 == 0 && !open.is_empty() {
            println!("{} open, server RSS {} KiB", open.len(), rss_kib(pid)?);
        }
    }
    drop(pending);
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    // At the limit /metrics may be refused too (only health checks and
    // signed-in clients get the reserve): then the generator's count.
    let held_metric = metric(&api, "samtale_ws_connections").await.ok();
    let held = held_metric.unwrap_or(open.len() as f64);
    let rss_after = rss_kib(pid)?;
    // At its limit the node still answers its health check (a reserve of
    // descriptors is kept for them).
    let ready = api
        .call(reqwest::Method::GET, "/readyz", None, Value::Null)
        .await
        .is_ok();
    node.kill().await.ok();
    let _ = std::fs::remove_dir_all(&root);
    let per = (rss_after.saturating_sub(rss_before)) as f64 * 1024.0 / held.max(1.0);
    println!();
    println!("| measure | value |");
    println!("| --- | ---: |");
    println!(
        "| connections opened by this generator | {} in {:.1} s |",
        open.len(),
        took.as_secs_f64()
    );
    println!(
        "| authenticated WebSockets the node holds | {held:.0} ({}) |",
        if held_metric.is_some() {
            "its /metrics"
        } else {
            "/metrics refused at the limit; the generator's count"
        }
    );
    println!(
        "| what stopped it | {} |",
        refused.unwrap_or_else(|| format!("the generator's own cap (--up-to {up_to})"))
    );
    println!(
        "| server memory | {rss_before} → {rss_after} KiB: {:.1} KB per connection |",
        per / 1000.0
    );
    println!(
        "| /readyz at the limit | {} |",
        if ready { "200" } else { "no answer" }
    );
    Ok(())
}
