//! The queries that grow with the number of messages, planned by
//! PostgreSQL on a database of one million messages (1,000 threads of
//! 1,000, from 200 devices): sync, receipts, retention and erasure must
//! use an index, never read the whole messages table.
//!
//! Needs `SAMTALE_TEST_DATABASE_URL`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Instant;

use sqlx::Connection as _;
use support::world::World;
use support::{Backend, TestApp, TestDatabase};

#[tokio::test]
async fn sync_receipts_retention_and_erasure_use_indexes_on_a_million_messages() {
    let Some(db) = TestDatabase::new(Backend::Postgres).await else {
        return;
    };
    let app = TestApp::spawn(&db).await;
    let world = World::build(&app).await;
    let maja = world
        .citizen(&app, &world.staff, world.team, "090990-9012")
        .await;
    let thread = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;
    app.stop().await;
    let device = world.staff.tokens.device_id.to_string();
    // Erasure is of one citizen, who wrote none of the million.
    let account = maja.actor.account.to_string();

    let started = Instant::now();
    db.execute(&format!(
        "INSERT INTO threads (id, org_id, team_id, created_by, created_at, last_seq, last_activity_ms) \
         SELECT 'scale-' || g, org_id, team_id, created_by, created_at, 1000, last_activity_ms \
         FROM threads, generate_series(0, 999) g WHERE id = '{thread}'; \
         INSERT INTO devices (id, account_id, identity_key, agreement_key, label, created_at) \
         SELECT 'scale-device-' || g, account_id, decode(md5('i' || g) || md5('j' || g), 'hex'), agreement_key, label, created_at \
         FROM devices, generate_series(0, 199) g WHERE id = '{device}'; \
         INSERT INTO messages (thread_id, seq, message_id, sender_device_id, envelope, envelope_sha256, committed_at_ms) \
         SELECT 'scale-' || (g / 1000), g % 1000 + 1, 'm-' || g, 'scale-device-' || (g % 200), \
                decode(md5(g::text) || md5((g + 1)::text), 'hex'), decode(md5(g::text), 'hex'), 1700000000000 + g \
         FROM generate_series(0, 999999) g; \
         INSERT INTO receipts (thread_id, device_id, kind, up_to_seq, receipt, received_at_ms) \
         SELECT 'scale-' || g, '{device}', 'delivered', 1000, '\\x00', 1700000000000 FROM generate_series(0, 999) g; \
         ANALYZE;"
    ))
    .await;
    eprintln!(
        "1,000,000 messages in 1,000 threads written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let samtale_server::config::DatabaseSettings::Postgres { url } = &db.settings else {
        panic!("PostgreSQL")
    };
    let mut conn = sqlx::PgConnection::connect(url.expose()).await.unwrap();
    // The statements as the storage layer writes them, with values in.
    let queries = [
        (
            "sync from a cursor",
            "SELECT seq, message_id, committed_at_ms, envelope FROM messages \
             WHERE thread_id = 'scale-500' AND seq > 990 ORDER BY seq LIMIT 500"
                .to_owned(),
        ),
        (
            "a resend's message id",
            "SELECT thread_id, seq, envelope_sha256 FROM messages WHERE message_id = 'm-123456'"
                .to_owned(),
        ),
        (
            "a thread's receipts",
            "SELECT receipt FROM receipts WHERE thread_id = 'scale-500' ORDER BY device_id, kind"
                .to_owned(),
        ),
        (
            "retention: a thread's due messages",
            "DELETE FROM messages WHERE thread_id = 'scale-500' \
             AND (seq <= 10 OR (seq > 10 AND committed_at_ms <= 0))"
                .to_owned(),
        ),
        (
            "retention: receipts left with no message",
            "DELETE FROM receipts WHERE thread_id = 'scale-500' AND NOT EXISTS \
             (SELECT 1 FROM messages m WHERE m.thread_id = 'scale-500' AND m.seq <= receipts.up_to_seq)"
                .to_owned(),
        ),
        (
            "erasure: an account's messages",
            format!(
                "DELETE FROM messages WHERE sender_device_id IN \
                 (SELECT id FROM devices WHERE account_id = '{account}')"
            ),
        ),
        (
            "erasure: an account's receipts",
            format!(
                "DELETE FROM receipts WHERE device_id IN \
                 (SELECT id FROM devices WHERE account_id = '{account}')"
            ),
        ),
    ];
    let mut seq_scans = Vec::new();
    for (what, sql) in &queries {
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let plan = plan.join("\n");
        eprintln!("--- {what}\n{plan}");
        if plan.contains("Seq Scan on messages") {
            seq_scans.push(*what);
        }
    }
    // How long the hot one takes, for the record.
    let analyzed: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN ANALYZE {}",
        queries[0].1
    )))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    eprintln!("--- sync, executed\n{}", analyzed.join("\n"));
    assert!(
        seq_scans.is_empty(),
        "these read the whole messages table: {seq_scans:?}"
    );
    // The control: without the index on the sender, erasure reads every
    // message, and the check above would say so.
    sqlx::query("DROP INDEX messages_sender_device")
        .execute(&mut conn)
        .await
        .unwrap();
    let plan: Vec<String> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {}", queries[5].1)))
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert!(
        plan.join("\n").contains("Seq Scan on messages"),
        "{}",
        plan.join("\n")
    );
    conn.close().await.unwrap();
    db.cleanup().await;
}
