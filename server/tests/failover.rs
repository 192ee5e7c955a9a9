//! The deployment's topology for real: two `samtale-server` processes on
//! one PostgreSQL database with NATS between them, behind HAProxy with
//! the repository's `deploy/haproxy.cfg`. A node is killed with SIGKILL
//! ten times at random moments while a caseworker streams messages to a
//! citizen; both clients reconnect through the proxy (backoff with
//! jitter), resend what was not acknowledged (same message id) and resume
//! from their cursors. Every acknowledged message must be stored exactly
//! once without a gap, and reach the citizen exactly once, in order.
//!
//! Needs `SAMTALE_TEST_DATABASE_URL`, `SAMTALE_TEST_NATS_URL` and HAProxy
//! (`SAMTALE_TEST_HAPROXY`, default `/usr/sbin/haproxy`); `bash .ci/run`
//! provides all three.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;
use samtale_protocol::MessageId;
use samtale_protocol::wire::{ClientFrame, MessagePage, ServerFrame};
use samtale_server::config::SecretText;
use support::proxy::{Proxy, haproxy_binary};
use support::world::{World, Ws, recipients, seal, send_frame};
use support::{Backend, TestApp, TestDatabase, expect};

fn skip(why: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED (failover): {why}. `bash .ci/run` provides it."
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

fn random_key() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).unwrap();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// What every node shares.
struct Cluster {
    database_url: String,
    nats_url: String,
    token_key: String,
    national_id_key: String,
    public_url: String,
    dir: PathBuf,
}

/// One `samtale-server` process.
struct Node {
    child: Option<Child>,
}

impl Node {
    fn start(cluster: &Cluster, port: u16, name: &str) -> Node {
        let data = cluster.dir.join(name);
        std::fs::create_dir_all(&data).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(cluster.dir.join(format!("{name}.log")))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_samtale-server"))
            .env_clear()
            .env("SAMTALE_LISTEN", format!("127.0.0.1:{port}"))
            .env("SAMTALE_DATA_DIR", &data)
            .env("SAMTALE_DATABASE_URL", &cluster.database_url)
            .env("SAMTALE_NATS_URL", &cluster.nats_url)
            .env("SAMTALE_TOKEN_KEY", &cluster.token_key)
            .env("SAMTALE_NATIONAL_ID_KEY", &cluster.national_id_key)
            .env("SAMTALE_PUBLIC_URL", &cluster.public_url)
            .env("SAMTALE_TRUSTED_PROXIES", "127.0.0.1")
            .env("SAMTALE_WS_FRAMES_PER_SECOND", "100000")
            .env("SAMTALE_PURGE_INTERVAL_MINUTES", "0")
            .env("SAMTALE_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start samtale-server");
        Node { child: Some(child) }
    }

    /// SIGKILL: no shutdown, no goodbye to any client.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn ready(client: &reqwest::Client, base: &str, within: Duration, logs: &std::path::Path) {
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status() == 200
        {
            return;
        }
        if started.elapsed() > within {
            // The nodes' logs say why.
            let logs: String = ["node1", "node2", "haproxy"]
                .iter()
                .map(|n| {
                    let text = std::fs::read_to_string(logs.join(format!("{n}.log")));
                    format!("--- {n}\n{}", text.unwrap_or_default())
                })
                .collect();
            panic!("{base} never became ready\n{logs}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A connection through the proxy that comes back after a node dies.
struct Client {
    url: String,
    token: String,
    ws: Option<Ws>,
    reconnects: u32,
}

impl Client {
    /// Connected, after as many attempts as it takes: exponential backoff
    /// from 50 ms to 1 s with full jitter, as the clients do.
    async fn ws(&mut self) -> &mut Ws {
        let mut attempt = 0u32;
        while self.ws.is_none() {
            match Ws::connect_url(&self.url, &self.token).await {
                Ok(ws) => self.ws = Some(ws),
                Err(_) => {
                    let ceiling = (50u64 << attempt.min(5)).min(1000);
                    let mut byte = [0u8; 2];
                    getrandom::fill(&mut byte).unwrap();
                    let wait = u64::from(u16::from_le_bytes(byte)) % ceiling.max(1);
                    tokio::time::sleep(Duration::from_millis(wait + 1)).await;
                    attempt += 1;
                    assert!(attempt < 200, "no node answered through the proxy");
                }
            }
        }
        self.ws.as_mut().unwrap()
    }

    fn lost(&mut self) {
        self.ws = None;
        self.reconnects += 1;
    }
}

#[tokio::test]
async fn a_node_killed_ten_times_during_a_stream_loses_and_doubles_nothing() {
    let Ok(nats_url) = std::env::var("SAMTALE_TEST_NATS_URL") else {
        skip("SAMTALE_TEST_NATS_URL is not set");
        return;
    };
    let Some(haproxy) = haproxy_binary() else {
        skip("no HAProxy (SAMTALE_TEST_HAPROXY)");
        return;
    };
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let samtale_server::config::DatabaseSettings::Postgres { url } = &db.settings else {
        panic!("PostgreSQL")
    };
    let dir = tempfile::tempdir().unwrap();
    let proxy_port = Proxy::reserve_port();
    let cluster = Cluster {
        database_url: url.expose().to_owned(),
        nats_url,
        token_key: random_key(),
        national_id_key: random_key(),
        public_url: format!("http://127.0.0.1:{proxy_port}"),
        dir: dir.path().to_owned(),
    };

    // The organisation, a citizen and her thread, set up on a node in
    // this process with the cluster's keys (its tokens work on every node).
    let mut settings = db.app_settings();
    settings.identity.token_key = Some(SecretText(cluster.token_key.clone()));
    settings.identity.national_id_key = Some(SecretText(cluster.national_id_key.clone()));
    settings.identity.public_url = cluster.public_url.clone();
    let setup = TestApp::spawn_with(&settings).await;
    let world = World::build(&setup).await;
    let maja = world
        .citizen(&setup, &world.staff, world.team, "070770-7890")
        .await;
    let thread = world
        .open_thread(&setup, &world.staff, world.team, &[&maja])
        .await;
    let to = recipients(&setup, &world.staff, thread).await;
    setup.stop().await;

    // Two nodes and the proxy, with deploy/haproxy.cfg as it is.
    let ports = [free_port(), free_port()];
    let mut nodes = [
        Node::start(&cluster, ports[0], "node1"),
        Node::start(&cluster, ports[1], "node2"),
    ];
    let http = reqwest::Client::new();
    for port in ports {
        ready(
            &http,
            &format!("http://127.0.0.1:{port}"),
            Duration::from_secs(30),
            dir.path(),
        )
        .await;
    }
    let node_addresses = ports.map(|p| format!("127.0.0.1:{p}"));
    let proxy = Proxy::start(
        &haproxy,
        proxy_port,
        [&node_addresses[0], &node_addresses[1]],
        dir.path(),
    )
    .await;
    let base = proxy.base.clone();
    let ws_url = proxy.ws_url.clone();

    // Set when the killing is over (the sender stops), and when the sender
    // has stopped (the reader stops once nothing more comes).
    let done = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));

    // The caseworker streams messages until the killing is over; each is
    // sent until it is acknowledged, with the same id and bytes.
    let staff_token = world.staff.token().to_owned();
    let sender = {
        let done = done.clone();
        let mut staff = Client {
            url: ws_url.clone(),
            token: staff_token.clone(),
            ws: None,
            reconnects: 0,
        };
        let actor = world.staff;
        tokio::spawn(async move {
            let mut acked: BTreeMap<u64, MessageId> = BTreeMap::new();
            let mut resent = 0;
            for i in 0..100_000 {
                if done.load(Ordering::SeqCst) && i >= 200 {
                    break;
                }
                // A steady stream, not a flood: about a hundred a second.
                tokio::time::sleep(Duration::from_millis(5)).await;
                let (id, envelope) = seal(&actor, thread, &to, format!("besked {i}").as_bytes());
                let mut tries = 0;
                let seq = loop {
                    tries += 1;
                    let ws = staff.ws().await;
                    ws.send_raw(tokio_tungstenite::tungstenite::Message::Text(
                        send_frame(thread, id, &envelope).to_json().into(),
                    ))
                    .await;
                    let got = loop {
                        match ws.try_next(Duration::from_secs(5)).await {
                            Ok(ServerFrame::Ack {
                                message_id, seq, ..
                            }) if message_id == id => break Ok(seq),
                            Ok(ServerFrame::Error { code, message, .. }) => {
                                break Err(format!("{code:?}: {message}"));
                            }
                            Ok(_) => continue,
                            Err(e) => break Err(e),
                        }
                    };
                    match got {
                        Ok(seq) => break seq,
                        Err(_) => {
                            staff.lost();
                            resent += 1;
                        }
                    }
                    assert!(tries < 100, "message {i} was never acknowledged");
                };
                assert!(
                    acked.insert(seq, id).is_none(),
                    "two messages acknowledged with seq {seq}"
                );
            }
            (acked, resent, staff.reconnects)
        })
    };

    // The citizen reads everything, syncing from her cursor after every
    // reconnect.
    let reader = {
        let mut citizen = Client {
            url: ws_url.clone(),
            token: maja.actor.token().to_owned(),
            ws: None,
            reconnects: 0,
        };
        let done = finished.clone();
        tokio::spawn(async move {
            let mut cursor = 0u64;
            let mut got: Vec<(u64, MessageId)> = Vec::new();
            let mut synced = false;
            let mut quiet_since: Option<Instant> = None;
            loop {
                let ws = citizen.ws().await;
                if !synced {
                    ws.send(&ClientFrame::Sync {
                        thread_id: thread,
                        after_seq: cursor,
                    })
                    .await;
                    synced = true;
                }
                match ws.try_next(Duration::from_millis(500)).await {
                    Ok(ServerFrame::Deliver {
                        thread_id,
                        seq,
                        message_id,
                        ..
                    }) if thread_id == thread => {
                        assert!(
                            seq > cursor,
                            "seq {seq} delivered again or out of order after {cursor}"
                        );
                        cursor = seq;
                        got.push((seq, message_id));
                        quiet_since = None;
                    }
                    Ok(_) => {}
                    Err(e) if e == "no frame in time" => {
                        // The stream is over when nothing came for 3 s
                        // after the sender finished.
                        if done.load(Ordering::SeqCst) {
                            let since = *quiet_since.get_or_insert_with(Instant::now);
                            if since.elapsed() > Duration::from_secs(3) {
                                return (got, citizen.reconnects);
                            }
                        }
                    }
                    Err(_) => {
                        citizen.lost();
                        synced = false;
                    }
                }
            }
        })
    };

    // Ten kills at random moments, each node restarted at once; the next
    // kill waits until the proxy sends to the restarted node again.
    let mut kills = Vec::new();
    for k in 0..10 {
        let mut byte = [0u8; 2];
        getrandom::fill(&mut byte).unwrap();
        let wait = 200 + u64::from(u16::from_le_bytes(byte)) % 800;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        let which = k % 2;
        nodes[which].kill();
        kills.push(wait);
        nodes[which] = Node::start(&cluster, ports[which], &format!("node{}", which + 1));
        ready(
            &http,
            &format!("http://127.0.0.1:{}", ports[which]),
            Duration::from_secs(30),
            dir.path(),
        )
        .await;
        // HAProxy: two good checks 2 s apart bring it back.
        tokio::time::sleep(Duration::from_millis(4500)).await;
    }
    done.store(true, Ordering::SeqCst);
    let (acked, resent, staff_reconnects) = sender.await.unwrap();
    finished.store(true, Ordering::SeqCst);
    let (got, citizen_reconnects) = reader.await.unwrap();

    // Every acknowledged message stored exactly once, no gap.
    let mut stored: Vec<(u64, MessageId)> = Vec::new();
    let mut after = 0;
    loop {
        let page: MessagePage = expect(
            http.get(format!(
                "{base}/v1/threads/{thread}/messages?after={after}&limit=500"
            ))
            .bearer_auth(&staff_token)
            .send()
            .await
            .unwrap(),
            200,
        )
        .await;
        if page.messages.is_empty() {
            break;
        }
        for m in &page.messages {
            stored.push((m.seq, m.message_id));
            after = m.seq;
        }
    }
    let n = acked.len() as u64;
    assert!(n >= 200, "only {n} messages were sent");
    assert_eq!(
        stored.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=n).collect::<Vec<_>>(),
        "the stored sequence has a gap or more than was acknowledged"
    );
    let ids: HashSet<MessageId> = stored.iter().map(|(_, id)| *id).collect();
    assert_eq!(ids.len() as u64, n, "a message is stored twice");
    for (seq, id) in &acked {
        assert_eq!(
            stored[*seq as usize - 1].1,
            *id,
            "seq {seq} is another message"
        );
    }
    // The citizen got every one exactly once, in order.
    assert_eq!(got, stored, "the citizen missed or doubled a message");
    eprintln!(
        "{n} messages through 10 SIGKILLs (after {kills:?} ms): caseworker reconnected {staff_reconnects} times and resent {resent}; citizen reconnected {citizen_reconnects} times"
    );
    assert!(
        staff_reconnects + citizen_reconnects >= 5,
        "the kills did not reach the clients: the test proved nothing"
    );
    drop(proxy);
    drop(nodes);
    db.cleanup().await;
}
