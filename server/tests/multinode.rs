//! Several nodes on one PostgreSQL database and one NATS: messages,
//! receipts and revocations cross nodes; a NATS outage loses nothing.
//!
//! Needs `SAMTALE_TEST_DATABASE_URL` (PostgreSQL) and `SAMTALE_TEST_NATS_URL`
//! (a NATS server; `bash .ci/run` sets both), and for the outage test the
//! `nats-server` binary (`SAMTALE_TEST_NATS_SERVER`, default
//! `/usr/sbin/nats-server`), which the test starts and stops itself. The
//! 1,000-message test puts HAProxy with `deploy/haproxy.cfg` in front of
//! the nodes (`SAMTALE_TEST_HAPROXY`, default `/usr/sbin/haproxy`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use reqwest::Method;
use samtale_protocol::wire::{ClientFrame, HealthStatus, ServerFrame};
use samtale_protocol::{HolderPublicKey, MessageId, Receipt, ReceiptKind, ThreadId};
use support::proxy::{Proxy, haproxy_binary};
use support::world::{
    Actor, Closed, World, Ws, bootstrap_request, recipients, seal, send_frame, thread_messages,
};
use support::{Backend, TestApp, TestDatabase, expect};

const NATS_ENV: &str = "SAMTALE_TEST_NATS_URL";

fn say_skipped(what: &str) {
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED (multi-node): {what}. `bash .ci/run` sets it; by hand: \
         {NATS_ENV}=nats://127.0.0.1:4222 SAMTALE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test"
    );
}

/// A node on `db` with the bus at `nats` (none: the in-process bus, as one
/// node has). Fast frames: the tests pipeline hundreds.
async fn node(db: &TestDatabase, nats: Option<&str>) -> TestApp {
    let mut settings = db.app_settings();
    settings.messaging.ws_frames_per_second = 100_000;
    settings.messaging.nats_url = nats.map(str::to_owned);
    TestApp::spawn_with(&settings).await
}

async fn setup() -> Option<(TestDatabase, String)> {
    let Ok(nats) = std::env::var(NATS_ENV) else {
        say_skipped(&format!("{NATS_ENV} is not set"));
        return None;
    };
    let db = TestDatabase::new(Backend::Postgres).await?;
    Some((db, nats))
}

/// Sends `n` messages from `ws` without waiting, then reads until every
/// ack and `expect` deliveries from the other side have come. Returns the
/// acked (seq, id) and the delivered (seq, id) in arrival order.
async fn talk(
    ws: &mut Ws,
    who: &Actor,
    thread: ThreadId,
    to: &[HolderPublicKey],
    n: usize,
    expect: usize,
    label: &str,
) -> (Vec<(u64, MessageId)>, Vec<(u64, MessageId)>) {
    let mut sent = HashSet::new();
    for i in 0..n {
        let (id, env) = seal(who, thread, to, format!("{label} {i}").as_bytes());
        ws.send(&send_frame(thread, id, &env)).await;
        sent.insert(id);
    }
    let mut acked = Vec::new();
    let mut delivered = Vec::new();
    while acked.len() < n || delivered.len() < expect {
        match ws.next_or_close(Duration::from_secs(30)).await {
            Ok(ServerFrame::Ack {
                seq, message_id, ..
            }) => acked.push((seq, message_id)),
            Ok(ServerFrame::Deliver {
                seq, message_id, ..
            }) => {
                assert!(
                    !sent.contains(&message_id),
                    "{label}: its own message came back as a delivery"
                );
                delivered.push((seq, message_id));
            }
            Ok(ServerFrame::Error { code, message, .. }) => panic!("{label}: {code:?} {message}"),
            Ok(_) => {}
            Err(closed) => panic!("{label}: the connection ended: {closed:?}"),
        }
    }
    (acked, delivered)
}

fn assert_in_order_exactly_once(label: &str, got: &[(u64, MessageId)], want: &BTreeSet<u64>) {
    let seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "{label}: deliveries out of order or doubled"
    );
    let set: BTreeSet<u64> = seqs.into_iter().collect();
    assert_eq!(&set, want, "{label}: deliveries missing or extra");
}

/// A metric's value in Prometheus text (the first line naming it).
fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} missing"))
}

async fn readiness(app: &TestApp) -> HealthStatus {
    expect(app.get("/readyz").await, 200).await
}

/// Open authenticated WebSockets on `app`, from its `/metrics`.
async fn ws_connections(app: &TestApp) -> f64 {
    metric_value(
        &app.get("/metrics").await.text().await.unwrap(),
        "samtale_ws_connections",
    )
}

/// Waits (up to 5 s) until the two nodes hold `want` WebSockets each.
async fn wait_for_connections(nodes: [&TestApp; 2], want: [f64; 2]) -> bool {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        if [
            ws_connections(nodes[0]).await,
            ws_connections(nodes[1]).await,
        ] == want
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn two_nodes_behind_the_proxy_exchange_1000_messages_and_a_revocation_on_one_closes_the_socket_on_the_other()
 {
    let Some((db, nats)) = setup().await else {
        return;
    };
    let Some(haproxy) = haproxy_binary() else {
        say_skipped("no HAProxy (SAMTALE_TEST_HAPROXY, default /usr/sbin/haproxy)");
        return;
    };
    let first = node(&db, Some(&nats)).await;
    let second = node(&db, Some(&nats)).await;
    wait_for_status(&first, "ok").await;
    wait_for_status(&second, "ok").await;
    // The enrolment code is the last started node's (each start on an
    // empty database makes a new one).
    let world = World::build(&second).await;
    // The deployment's proxy (deploy/haproxy.cfg) in front of both.
    let dir = tempfile::tempdir().unwrap();
    let addresses = [&first, &second].map(|n| n.address.trim_start_matches("http://").to_owned());
    let proxy = Proxy::start(
        &haproxy,
        Proxy::reserve_port(),
        [&addresses[0], &addresses[1]],
        dir.path(),
    )
    .await;
    let maja = world
        .citizen(&first, &world.staff, world.team, "010190-1234")
        .await;
    let thread = world
        .open_thread(&second, &world.staff, world.team, &[&maja])
        .await;
    let to_citizen = recipients(&first, &maja.actor, thread).await;
    let to_staff = recipients(&second, &world.staff, thread).await;

    // Both connect through the proxy; "node 1" is the one it gave the
    // citizen. It balances by fewest connections, so the caseworker gets
    // the other once its health checks see both up (until then, again).
    let mut citizen_ws = Ws::connect_url(&proxy.ws_url, maja.actor.token())
        .await
        .unwrap();
    let (node1, node2) = if wait_for_connections([&first, &second], [1.0, 0.0]).await {
        (&first, &second)
    } else {
        assert!(
            wait_for_connections([&first, &second], [0.0, 1.0]).await,
            "the citizen's connection is on neither node"
        );
        (&second, &first)
    };
    let mut staff_ws = None;
    for attempt in 1..=50 {
        let ws = Ws::connect_url(&proxy.ws_url, world.staff.token())
            .await
            .unwrap();
        if wait_for_connections([node1, node2], [1.0, 1.0]).await {
            eprintln!("through the proxy: the caseworker on the other node at attempt {attempt}");
            staff_ws = Some(ws);
            break;
        }
        drop(ws);
        assert!(wait_for_connections([node1, node2], [1.0, 0.0]).await);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut staff_ws = staff_ws.expect("the proxy never sent the caseworker to the other node");
    assert!(citizen_ws.sync(thread, 0).await.is_empty());
    assert!(staff_ws.sync(thread, 0).await.is_empty());

    // 500 each way at once.
    let ((staff_acked, staff_got), (citizen_acked, citizen_got)) = tokio::join!(
        talk(
            &mut staff_ws,
            &world.staff,
            thread,
            &to_staff,
            500,
            500,
            "staff"
        ),
        talk(
            &mut citizen_ws,
            &maja.actor,
            thread,
            &to_citizen,
            500,
            500,
            "citizen"
        ),
    );
    let staff_seqs: BTreeSet<u64> = staff_acked.iter().map(|(s, _)| *s).collect();
    let citizen_seqs: BTreeSet<u64> = citizen_acked.iter().map(|(s, _)| *s).collect();
    assert_in_order_exactly_once("citizen on node 1", &citizen_got, &staff_seqs);
    assert_in_order_exactly_once("staff on node 2", &staff_got, &citizen_seqs);
    // Every acknowledged message stored once, the sequence without a gap.
    let all = thread_messages(node1, &world.staff, thread).await;
    let seqs: Vec<u64> = all.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=1000).collect::<Vec<_>>());
    let ids: HashSet<MessageId> = all.iter().map(|(_, id)| *id).collect();
    for (_, id) in staff_acked.iter().chain(&citizen_acked) {
        assert!(ids.contains(id));
    }

    // The nodes' metrics saw it: acks, commits, the bus both ways, live
    // deliveries; and they name nobody.
    for (name, app) in [("node 1", node1), ("node 2", node2)] {
        let text = app.get("/metrics").await.text().await.unwrap();
        // Each node acked 500 sends, delivered 500 live and passed its
        // 500 on to the other; commits batch them.
        for metric in [
            "samtale_relay_ack_latency_seconds_count",
            "samtale_relay_delivery_latency_seconds_count",
            "samtale_relay_messages_out_total",
            "samtale_bus_published_total",
            "samtale_bus_received_total",
        ] {
            let value = metric_value(&text, metric);
            assert!(value >= 500.0, "{name}: {metric} is {value}");
        }
        assert!(metric_value(&text, "samtale_relay_commit_batch_messages_count") > 0.0);
        assert_eq!(metric_value(&text, "samtale_bus_up"), 1.0);
        assert!(metric_value(&text, "samtale_db_pool_max") >= 2.0);
        assert!(
            !text.contains(&world.staff.account.to_string())
                && !text.contains(&maja.actor.account.to_string())
        );
    }

    // A read receipt from node 1 reaches node 2.
    let receipt = Receipt::sign(&maja.actor.device, thread, 1000, ReceiptKind::Read, 1);
    citizen_ws
        .send(&ClientFrame::Receipt {
            receipt: receipt.as_bytes().to_vec(),
        })
        .await;
    loop {
        match staff_ws.next_or_close(Duration::from_secs(5)).await {
            Ok(ServerFrame::Receipt { receipt: r }) => {
                assert_eq!(r, receipt.as_bytes());
                break;
            }
            Ok(_) => {}
            Err(c) => panic!("{c:?}"),
        }
    }

    // The citizen's device is revoked through node 2: her socket on node 1
    // closes within 2 seconds.
    let started = Instant::now();
    let response = node2
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", maja.actor.tokens.device_id),
            Some(maja.actor.token()),
            None,
        )
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(
        citizen_ws.closed(Duration::from_secs(2)).await,
        Closed::Code(4005)
    );
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "took {took:?}");
    eprintln!("revocation on node 2 closed the socket on node 1 after {took:?}");

    drop(proxy);
    first.stop().await;
    second.stop().await;
    db.cleanup().await;
}

/// The positive control for the test above: two nodes without the bus
/// neither deliver across nodes nor close a revoked device's socket on the
/// other node in time. So the test above sees the bus at work.
#[tokio::test]
async fn without_the_bus_two_nodes_neither_deliver_live_nor_revoke_across_nodes() {
    let Some((db, _nats)) = setup().await else {
        return;
    };
    let node1 = node(&db, None).await;
    let node2 = node(&db, None).await;
    let world = World::build(&node2).await;
    let maja = world
        .citizen(&node1, &world.staff, world.team, "020290-2345")
        .await;
    let thread = world
        .open_thread(&node2, &world.staff, world.team, &[&maja])
        .await;
    let to_staff = recipients(&node2, &world.staff, thread).await;
    let mut citizen_ws = Ws::connect(&node1, maja.actor.token()).await;
    let mut staff_ws = Ws::connect(&node2, world.staff.token()).await;
    citizen_ws.sync(thread, 0).await;
    let (id, env) = seal(&world.staff, thread, &to_staff, b"hej");
    staff_ws
        .send_and_ack(&send_frame(thread, id, &env))
        .await
        .unwrap();
    let response = node2
        .call(
            Method::DELETE,
            &format!("/v1/devices/{}", maja.actor.tokens.device_id),
            Some(maja.actor.token()),
            None,
        )
        .await;
    assert_eq!(response.status(), 204);
    // Nothing arrives on node 1 within 2 seconds: no delivery, no close.
    let quiet = tokio::time::timeout(Duration::from_secs(2), citizen_ws.stream.next()).await;
    assert!(
        quiet.is_err(),
        "without the bus something still crossed nodes: {quiet:?}"
    );
    node1.stop().await;
    node2.stop().await;
    db.cleanup().await;
}

/// A NATS server of the test's own, to stop and start.
struct OwnNats {
    port: u16,
    child: Option<std::process::Child>,
    dir: tempfile::TempDir,
}

impl OwnNats {
    fn binary() -> Option<String> {
        let path = std::env::var("SAMTALE_TEST_NATS_SERVER")
            .unwrap_or_else(|_| "/usr/sbin/nats-server".into());
        std::path::Path::new(&path).exists().then_some(path)
    }

    fn start(port: u16, dir: tempfile::TempDir) -> OwnNats {
        let binary = Self::binary().expect("nats-server");
        let child = std::process::Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start nats-server");
        // Up when the port answers.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        OwnNats {
            port,
            child: Some(child),
            dir,
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn wait_for_status(app: &TestApp, status: &str) -> Duration {
    let started = Instant::now();
    loop {
        if readiness(app).await.status == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "/readyz never said {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The caseworker sends 50 messages one by one (each acked), the citizen
/// on the other node reads 50 deliveries.
async fn round(
    staff_ws: &mut Ws,
    citizen_ws: &mut Ws,
    staff: &Actor,
    thread: ThreadId,
    to: &[HolderPublicKey],
    label: &str,
) -> (Vec<u64>, Vec<(u64, MessageId)>, Duration) {
    let mut seqs = Vec::new();
    for i in 0..50 {
        let (id, env) = seal(staff, thread, to, format!("{label} {i}").as_bytes());
        seqs.push(
            staff_ws
                .send_and_ack(&send_frame(thread, id, &env))
                .await
                .unwrap(),
        );
    }
    let mut delivered = Vec::new();
    let started = Instant::now();
    while delivered.len() < 50 {
        match citizen_ws.next_or_close(Duration::from_secs(10)).await {
            Ok(ServerFrame::Deliver {
                seq, message_id, ..
            }) => delivered.push((seq, message_id)),
            Ok(_) => {}
            Err(c) => panic!("{label}: {c:?}"),
        }
    }
    (seqs, delivered, started.elapsed())
}

#[tokio::test]
async fn nats_stopped_and_restarted_during_traffic_loses_nothing_and_readyz_says_degraded() {
    let Some((db, _)) = setup().await else {
        return;
    };
    if OwnNats::binary().is_none() {
        say_skipped("no nats-server binary (SAMTALE_TEST_NATS_SERVER)");
        return;
    }
    let mut nats = OwnNats::start(free_port(), tempfile::tempdir().unwrap());
    let node1 = node(&db, Some(&nats.url())).await;
    let node2 = node(&db, Some(&nats.url())).await;
    wait_for_status(&node1, "ok").await;
    wait_for_status(&node2, "ok").await;
    let world = World::build(&node2).await;
    let maja = world
        .citizen(&node1, &world.staff, world.team, "030390-3456")
        .await;
    let thread = world
        .open_thread(&node2, &world.staff, world.team, &[&maja])
        .await;
    let to_staff = recipients(&node2, &world.staff, thread).await;
    let mut citizen_ws = Ws::connect(&node1, maja.actor.token()).await;
    let mut staff_ws = Ws::connect(&node2, world.staff.token()).await;
    citizen_ws.sync(thread, 0).await;
    staff_ws.sync(thread, 0).await;

    let mut acked = BTreeSet::new();
    let mut got = Vec::new();
    // Before: live across nodes.
    let (s, d, _) = round(
        &mut staff_ws,
        &mut citizen_ws,
        &world.staff,
        thread,
        &to_staff,
        "before",
    )
    .await;
    acked.extend(s);
    got.extend(d);

    // NATS stops: both nodes say degraded, stay ready; messages still
    // arrive, from the database.
    nats.stop();
    let degraded = wait_for_status(&node1, "degraded").await;
    wait_for_status(&node2, "degraded").await;
    eprintln!("/readyz said degraded {degraded:?} after NATS stopped");
    let health = readiness(&node2).await;
    assert!(health.detail.unwrap_or_default().contains("NATS"));
    let (s, d, took) = round(
        &mut staff_ws,
        &mut citizen_ws,
        &world.staff,
        thread,
        &to_staff,
        "during",
    )
    .await;
    acked.extend(s);
    got.extend(d);
    eprintln!("50 messages sent while NATS was down reached the other node within {took:?}");

    // NATS is back: ok again, live delivery resumes.
    let dir = std::mem::replace(&mut nats.dir, tempfile::tempdir().unwrap());
    let port = nats.port;
    drop(nats);
    let _nats = OwnNats::start(port, dir);
    let back = wait_for_status(&node1, "ok").await;
    wait_for_status(&node2, "ok").await;
    eprintln!("/readyz said ok {back:?} after NATS restarted");
    let (s, d, _) = round(
        &mut staff_ws,
        &mut citizen_ws,
        &world.staff,
        thread,
        &to_staff,
        "after",
    )
    .await;
    acked.extend(s);
    got.extend(d);

    assert_in_order_exactly_once("citizen on node 1", &got, &acked);
    let all = thread_messages(&node1, &world.staff, thread).await;
    assert_eq!(
        all.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=150).collect::<Vec<_>>()
    );
    node1.stop().await;
    node2.stop().await;
    db.cleanup().await;
}

/// One purge at a time across nodes: while another session holds the purge
/// lock (as another node's purge does), a purge does nothing and says so;
/// once it is released, the same call runs (the control).
#[tokio::test]
async fn one_retention_purge_runs_at_a_time_across_nodes() {
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let app = node(&db, None).await;
    let samtale_server::config::DatabaseSettings::Postgres { url } = &db.settings else {
        panic!("PostgreSQL")
    };
    use sqlx::Connection as _;
    let mut other = sqlx::PgConnection::connect(url.expose()).await.unwrap();
    let lock = samtale_server::storage::records::PURGE_LOCK;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lock)
        .execute(&mut other)
        .await
        .unwrap();
    let (now, now_ms) = (app.clock.now(), app.clock.now_ms());
    let busy = app.storage.purge(now, now_ms).await.unwrap();
    assert!(busy.another_purge_running);
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(lock)
        .execute(&mut other)
        .await
        .unwrap();
    let ran = app.storage.purge(now, now_ms).await.unwrap();
    assert!(!ran.another_purge_running);
    // And it let go of the lock: another session gets it now.
    let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(lock)
        .fetch_one(&mut other)
        .await
        .unwrap();
    assert!(free, "the purge kept its lock");
    app.stop().await;
    db.cleanup().await;
}

/// Six wrong passwords for one account from one address, alternating
/// between two nodes: the statuses the nodes answer with.
async fn six_failed_logins_across_two_nodes(node1: &TestApp, node2: &TestApp) -> Vec<u16> {
    let mut statuses = Vec::new();
    for i in 0..6 {
        let app = if i % 2 == 0 { node1 } else { node2 };
        let device = samtale_protocol::DeviceKeys::generate().unwrap();
        let response = app
            .call(
                Method::POST,
                "/v1/sessions",
                None,
                Some(serde_json::json!({
                    "username": "caseworker",
                    "password": "not the password at all",
                    "device": support::world::device_json(&device),
                    "device_label": "Guess",
                })),
            )
            .await;
        statuses.push(response.status().as_u16());
    }
    statuses
}

/// The login limit (5 failures per account and address in 15 minutes)
/// holds across nodes on PostgreSQL: the sixth is refused, although each
/// node saw only three.
#[tokio::test]
async fn the_sixth_failed_login_is_refused_whichever_node_it_reaches() {
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let node1 = node(&db, None).await;
    let node2 = node(&db, None).await;
    let _world = World::build(&node2).await;
    let statuses = six_failed_logins_across_two_nodes(&node1, &node2).await;
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    // The refusing node counts it (the sixth went to node 2).
    let text = node2.get("/metrics").await.text().await.unwrap();
    assert!(
        text.contains("samtale_rate_limited_total{limit=\"login_account_address\"} 1"),
        "{text}"
    );
    // The stored windows hold no user name or address.
    let keys = db
        .blobs("SELECT convert_to(key, 'UTF8') FROM rate_limits")
        .await;
    assert!(!keys.is_empty());
    for key in keys {
        let key = String::from_utf8(key).unwrap();
        assert!(
            !key.contains("caseworker") && !key.contains("127.0.0.1"),
            "{key}"
        );
    }
    node1.stop().await;
    node2.stop().await;
    db.cleanup().await;
}

/// The control: two nodes that keep their limits in memory (here two on
/// one SQLite file, which share everything else) let the sixth through.
#[tokio::test]
async fn with_limits_in_memory_two_nodes_let_the_sixth_failed_login_through() {
    let Some(db) = TestDatabase::new(Backend::Sqlite).await else {
        return;
    };
    let node1 = node(&db, None).await;
    let node2 = node(&db, None).await;
    let _world = World::build(&node2).await;
    let statuses = six_failed_logins_across_two_nodes(&node1, &node2).await;
    assert_eq!(statuses, [401; 6]);
    node1.stop().await;
    node2.stop().await;
    db.cleanup().await;
}

/// Two nodes' group commits touching the same threads in opposite orders
/// (a caseworker on one node writes to threads A then B, a colleague on
/// the other to B then A) must not deadlock: each reserves sequence ranges
/// in one order, by thread id. Without that order, PostgreSQL aborts one
/// of the two transactions (40P01) within a few rounds.
#[tokio::test]
async fn two_nodes_committing_to_the_same_threads_in_opposite_orders_do_not_deadlock() {
    let Some((db, _nats)) = setup().await else {
        return;
    };
    let node1 = node(&db, None).await;
    let node2 = node(&db, None).await;
    let world = World::build(&node2).await;
    let maja = world
        .citizen(&node2, &world.staff, world.team, "010190-1234")
        .await;
    let mut threads = Vec::new();
    for _ in 0..2 {
        threads.push(
            world
                .open_thread(&node2, &world.staff, world.team, &[&maja])
                .await,
        );
    }
    let message = |thread: ThreadId, n: u64| {
        let envelope = n.to_le_bytes().to_vec();
        samtale_server::storage::messaging::PendingMessage {
            thread_id: thread.to_string(),
            message_id: MessageId::random().unwrap().to_string(),
            sender_device_id: world.staff.tokens.device_id.to_string(),
            sender_account: world.staff.account.to_string(),
            org_id: world.org_id.to_string(),
            envelope_sha256: <sha2::Sha256 as sha2::Digest>::digest(&envelope).into(),
            envelope,
        }
    };
    let mut n = 0u64;
    for round in 0..40 {
        let mut forward = Vec::new();
        let mut backward = Vec::new();
        for (list, order) in [(&mut forward, [0, 1]), (&mut backward, [1, 0])] {
            for t in order {
                for _ in 0..20 {
                    n += 1;
                    list.push(message(threads[t], n));
                }
            }
        }
        let (a, b) = tokio::join!(
            node1.storage.commit_messages(&forward, 1),
            node2.storage.commit_messages(&backward, 1)
        );
        assert!(
            a.is_ok() && b.is_ok(),
            "round {round}: {:?} {:?}",
            a.err(),
            b.err()
        );
    }
    // Every message stored, each thread's sequence without a gap.
    for &t in &threads {
        let all = thread_messages(&node1, &world.staff, t).await;
        let seqs: Vec<u64> = all.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (1..=1600).collect::<Vec<_>>());
    }
    node1.stop().await;
    node2.stop().await;
    db.cleanup().await;
}

/// On an empty database the first admin's enrolment code is made by one
/// node; another started with `first_admin_code = false` (as
/// docker-compose.yml starts the second node) leaves it valid. The
/// control: a third node started the default way replaces it, and the code
/// the first node printed is refused.
#[tokio::test]
async fn a_second_node_leaves_the_first_nodes_enrolment_code_valid_when_told_not_to_make_one() {
    let Some(db) = TestDatabase::new(Backend::Sqlite).await else {
        return;
    };
    let first = node(&db, None).await;
    let first_code = first.enrolment_code.clone().expect("the first node's code");
    let mut quiet = db.app_settings();
    quiet.messaging.first_admin_code = false;
    let second = TestApp::spawn_with(&quiet).await;
    assert!(second.enrolment_code.is_none());

    // Control: a node started the default way replaces the code.
    let third = node(&db, None).await;
    assert!(third.enrolment_code.is_some());
    let root = samtale_protocol::OrgRootKey::generate().unwrap();
    let device = samtale_protocol::DeviceKeys::generate().unwrap();
    let refused = bootstrap_request(&second, &first_code, "Kommune", &root, &device).await;
    assert_eq!(refused.status(), 401, "the replaced code was accepted");
    third.stop().await;

    // Without the third, through the second node: the first node's code
    // registers the organisation.
    let db2 = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let a = node(&db2, None).await;
    let code = a.enrolment_code.clone().unwrap();
    let mut quiet = db2.app_settings();
    quiet.messaging.first_admin_code = false;
    let b = TestApp::spawn_with(&quiet).await;
    assert!(b.enrolment_code.is_none());
    let accepted = bootstrap_request(&b, &code, "Kommune", &root, &device).await;
    assert_eq!(accepted.status(), 201);

    for app in [first, second, a, b] {
        app.stop().await;
    }
    db.cleanup().await;
    db2.cleanup().await;
}

/// Three nodes starting at once on an empty database: the migrations run
/// once (PostgreSQL's advisory lock), and all three serve.
#[tokio::test]
async fn three_nodes_starting_at_once_on_an_empty_database_migrate_once_and_all_serve() {
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let (a, b, c) = tokio::join!(node(&db, None), node(&db, None), node(&db, None));
    for app in [&a, &b, &c] {
        assert_eq!(readiness(app).await.status, "ok");
    }
    let applied = db
        .blobs("SELECT convert_to(version::text, 'UTF8') FROM _sqlx_migrations ORDER BY version")
        .await;
    let files = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../migrations/postgres"
    ))
    .unwrap()
    .count();
    assert_eq!(applied.len(), files, "each migration applied exactly once");
    // The organisation is set up through another node (each start on an
    // empty database makes a new enrolment code, the last one valid) and
    // the three serve it.
    let d = node(&db, None).await;
    let world = World::build(&d).await;
    d.stop().await;
    for app in [&a, &b, &c] {
        let response = app
            .call(Method::GET, "/v1/teams", Some(world.admin.token()), None)
            .await;
        assert_eq!(response.status(), 200);
    }
    a.stop().await;
    b.stop().await;
    c.stop().await;
    db.cleanup().await;
}

/// A webhook receiver on a free port; the recipients notified.
async fn notification_sink() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let received: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                store
                    .lock()
                    .unwrap()
                    .push(v["recipient"].as_str().unwrap().to_owned());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// The caseworker on node 2 writes to Maja while her phone is connected
/// to node 1: whether Maja gets a notification. `nats`: the bus, or none.
async fn notified_while_online_on_the_other_node(db: &TestDatabase, nats: Option<&str>) -> bool {
    let (url, received) = notification_sink().await;
    let with_hook = |nats: Option<&str>| {
        let mut settings = db.app_settings();
        settings.messaging.nats_url = nats.map(str::to_owned);
        settings.messaging.notify_webhook_url = Some(url.clone());
        settings.messaging.notify_webhook_secret = Some(samtale_server::config::SecretText(
            "a-long-random-shared-secret-for-the-gateway".into(),
        ));
        settings
    };
    let node1 = TestApp::spawn_with(&with_hook(nats)).await;
    let node2 = TestApp::spawn_with(&with_hook(nats)).await;
    if nats.is_some() {
        wait_for_status(&node1, "ok").await;
        wait_for_status(&node2, "ok").await;
    }
    let world = World::build(&node2).await;
    let maja = world
        .citizen(&node2, &world.staff, world.team, "111190-1122")
        .await;
    let thread = world
        .open_thread(&node2, &world.staff, world.team, &[&maja])
        .await;
    let to = recipients(&node2, &world.staff, thread).await;
    let mut citizen_ws = Ws::connect(&node1, maja.actor.token()).await;
    citizen_ws.sync(thread, 0).await;
    let mut staff_ws = Ws::connect(&node2, world.staff.token()).await;
    let (id, env) = seal(&world.staff, thread, &to, b"hej");
    staff_ws
        .send_and_ack(&send_frame(thread, id, &env))
        .await
        .unwrap();
    // Time for the notifier (it asks the other nodes within 250 ms).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let maja_id = maja.actor.account.to_string();
    let notified = received.lock().unwrap().contains(&maja_id);
    if nats.is_some() {
        // And once her phone is gone, she is notified (the control within
        // this setup: the notifier works).
        drop(citizen_ws);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (id, env) = seal(&world.staff, thread, &to, b"hej igen");
        staff_ws
            .send_and_ack(&send_frame(thread, id, &env))
            .await
            .unwrap();
        let started = Instant::now();
        while !received.lock().unwrap().contains(&maja_id) {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "offline, she was never notified"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    node1.stop().await;
    node2.stop().await;
    notified
}

/// No notification goes to someone connected to another node: the node
/// that commits asks the others over NATS. Without the bus (the control),
/// the committing node sees nobody connected and notifies.
#[tokio::test]
async fn nobody_connected_to_another_node_is_notified() {
    let Some((db, nats)) = setup().await else {
        return;
    };
    assert!(!notified_while_online_on_the_other_node(&db, Some(&nats)).await);
    db.cleanup().await;
    let db = TestDatabase::new(Backend::Postgres).await.unwrap();
    assert!(
        notified_while_online_on_the_other_node(&db, None).await,
        "without the bus the test sees no difference: it proves nothing"
    );
    db.cleanup().await;
}
