//! The durable write path alone on PostgreSQL: `Storage::commit_messages`
//! (one writer, as the relay's group commit is one) committing batches of
//! `--rows` messages across 32 threads of a real organisation, against
//! `pgbench` inserting the same number of message-shaped rows per
//! transaction (`scripts/pgbench/messages.sql`) into the same database, in
//! one run. It separates PostgreSQL's share of the relay's durable
//! throughput from the relay's own CPU (docs/BENCHMARKS.md, issue 17).
//!
//!   SAMTALE_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p samtale-server --bench commit -- [--rows 435] [--seconds 20]
//!
//! Needs `pgbench` (Debian's postgresql-client) on the PATH.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use samtale_server::storage::messaging::PendingMessage;
use sha2::{Digest, Sha256};
use support::world::World;
use support::{Backend, TestApp, TestDatabase};

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let rows = arg("--rows", 435) as usize;
    let seconds = arg("--seconds", 20);
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        eprintln!("SKIPPED: set SAMTALE_TEST_DATABASE_URL to a PostgreSQL server");
        return;
    };
    let samtale_server::config::DatabaseSettings::Postgres { url } = &db.settings else {
        panic!("PostgreSQL")
    };
    let url = url.expose().to_owned();

    // A real organisation: a caseworker and 32 threads with one citizen.
    let app = TestApp::spawn(&db).await;
    let world = World::build(&app).await;
    let citizen = world
        .citizen(&app, &world.staff, world.team, "010190-1234")
        .await;
    let mut threads = Vec::new();
    for _ in 0..32 {
        threads.push(
            world
                .open_thread(&app, &world.staff, world.team, &[&citizen])
                .await
                .to_string(),
        );
    }
    let device = world.staff.tokens.device_id.to_string();
    let account = world.staff.account.to_string();
    let org = world.org_id.to_string();
    let storage = app.storage.clone();

    // Batches of `rows` messages with 1,118-byte envelopes (the size the
    // pgbench script inserts), spread over the threads.
    let mut counter = 0u64;
    let mut batch = || -> Vec<PendingMessage> {
        (0..rows)
            .map(|i| {
                counter += 1;
                let mut envelope = vec![0u8; 1118];
                envelope[..8].copy_from_slice(&counter.to_le_bytes());
                PendingMessage {
                    thread_id: threads[i % threads.len()].clone(),
                    message_id: format!("{:032x}", u128::from(counter) << 17 | 0x5a),
                    sender_device_id: device.clone(),
                    sender_account: account.clone(),
                    org_id: org.clone(),
                    envelope_sha256: Sha256::digest(&envelope).into(),
                    envelope,
                }
            })
            .collect()
    };
    // Warm up, then commit for `seconds`, one batch after the other.
    for _ in 0..5 {
        storage.commit_messages(&batch(), 1).await.unwrap();
    }
    let mut committed = 0usize;
    let mut prepare = Duration::ZERO;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        let t = Instant::now();
        let b = batch();
        prepare += t.elapsed();
        let out = storage.commit_messages(&b, 1).await.unwrap();
        committed += out.len();
    }
    let took = started.elapsed() - prepare;
    let path_rate = committed as f64 / took.as_secs_f64();
    app.stop().await;

    // pgbench in the same database, the same rows per transaction.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    sqlx::raw_sql(
        "CREATE TABLE bench_messages (
            thread_id TEXT NOT NULL, seq BIGINT NOT NULL, message_id TEXT NOT NULL UNIQUE,
            sender_device_id TEXT NOT NULL, envelope BYTEA NOT NULL, envelope_sha256 BYTEA NOT NULL,
            committed_at_ms BIGINT NOT NULL, PRIMARY KEY (thread_id, seq))",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    drop(conn);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../scripts/pgbench/messages.sql"
    );
    let out = std::process::Command::new("pgbench")
        .args(["-n", "-c", "1", "-j", "1", "-T", &seconds.to_string()])
        .args(["-D", &format!("rows={rows}"), "-f", script, &url])
        .output()
        .expect("pgbench (Debian's postgresql-client)");
    let text = String::from_utf8_lossy(&out.stdout);
    let tps: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "pgbench said: {text} {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let ceiling = tps * rows as f64;
    db.cleanup().await;

    println!("| measure | value |");
    println!("| --- | ---: |");
    println!(
        "| Storage::commit_messages, one writer, {rows} per commit: messages/s | {path_rate:.0} ({committed} in {:.1} s) |",
        took.as_secs_f64()
    );
    println!(
        "| pgbench, one client, {rows} rows per transaction: rows/s | {ceiling:.0} ({tps:.1} transactions/s) |"
    );
    println!(
        "| ratio write path / ceiling | {:.2}× (goal ≥ 0.5×) |",
        path_rate / ceiling
    );
}
