//! The adversarial suite's faults (issue 13), against the real
//! `samtale-server` binary:
//!
//! * **SIGKILL during writes**, at ten random moments, on SQLite and on
//!   PostgreSQL: senders keep messages in flight, the process is killed
//!   and restarted on the same data; every acknowledged message is then
//!   stored exactly once, byte for byte, at its acknowledged position, the
//!   sequence numbers have no gap, resending any message (acknowledged or
//!   not) gets the same `ack`, and SQLite's `PRAGMA integrity_check` says
//!   `ok` after every kill.
//! * **SIGTERM**: acknowledged in-flight messages are kept, every open
//!   socket is closed with 1001 (going away), the process exits within 10 s.
//! * **A full filesystem** (SQLite on a small tmpfs): no `ack` for what was
//!   not stored, an error naming the message to its sender, no corruption,
//!   and once space is freed the same process accepts messages again.
//!
//! Each test prints one summary line with its figures (for docs/SECURITY.md).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fault_injection;
mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fault_injection::disk::{Filler, Tmpfs};
use fault_injection::relay::{
    Ack, Acked, Counters, Ending, Outcome, Outgoing, Stream, connect, connect_unauthenticated,
    next_frame, pump, resend, verify,
};
use fault_injection::{Binary, Fixture, Rng, report, until_at_least};
use futures_util::future::join_all;
use futures_util::{SinkExt, StreamExt};
use samtale_protocol::MessageId;
use samtale_protocol::wire::{ClientFrame, ErrorCode, ServerFrame};
use samtale_server::config::DatabaseSettings;
use support::TestDatabase;
use tokio_tungstenite::tungstenite::Message;

/// Kills per backend.
const KILLS: usize = 10;
/// Messages each connection keeps in flight.
const WINDOW: usize = 8;

fn backend_name(db: &TestDatabase) -> &'static str {
    match db.backend() {
        support::Backend::Sqlite => "SQLite",
        support::Backend::Postgres => "PostgreSQL",
    }
}

/// Opens one connection per sender of the fixture.
async fn connect_senders(fixture: &Fixture, server: &Binary) -> Vec<Stream> {
    let mut out = Vec::new();
    for traffic in fixture.senders() {
        out.push(connect(server, traffic.sender.token()).await);
    }
    out
}

/// One pump per sender, each sending fresh messages until its connection
/// ends.
fn endless<'a>(
    fixture: &'a Fixture,
    streams: Vec<Stream>,
    counters: &'a Counters,
) -> Vec<impl Future<Output = Outcome> + 'a> {
    fixture
        .senders()
        .into_iter()
        .zip(streams)
        .map(|(traffic, ws)| {
            let mut n = 0;
            pump(
                ws,
                move || {
                    n += 1;
                    Some(traffic.seal(n))
                },
                WINDOW,
                counters,
            )
        })
        .collect()
}

async fn acknowledged_messages_survive_sigkill_exactly_once(db: &TestDatabase) {
    let backend = backend_name(db);
    let started = Instant::now();
    let fixture = Fixture::new(db).await;
    let mut rng = Rng::new(&format!("faults: SIGKILL on {backend}"));
    let mut acked: Acked = HashMap::new();
    let mut server = fixture.start(&format!("sigkill-{backend}"));
    let (mut sent, mut acked_before, mut in_flight, mut ack_lost, mut sampled) = (0, 0, 0, 0, 0);
    let mut delays = Vec::new();
    for round in 1..=KILLS {
        let counters = Counters::default();
        let streams = connect_senders(&fixture, &server).await;
        let pumps = endless(&fixture, streams, &counters);
        // The moment: after the first ack of the round (writes are flowing),
        // then a random 0–400 ms more.
        let delay = rng.below(400);
        let strike = async {
            until_at_least(&counters.acked, 1, "acks before the kill").await;
            tokio::time::sleep(Duration::from_millis(delay)).await;
            server.kill();
        };
        let (outcomes, ()) = tokio::join!(join_all(pumps), strike);
        delays.push(delay);

        // The restarted server recovers the database itself (SQLite's WAL);
        // the check reads what it recovered, beside it.
        server = fixture.start(&format!("sigkill-{backend}"));
        if let Some(check) = fixture.integrity_check().await {
            assert_eq!(check, "ok", "integrity_check after kill {round}");
        }
        assert!(
            outcomes.iter().any(|o| !o.unanswered().is_empty()),
            "kill {round} landed while no write was in flight"
        );
        for o in &outcomes {
            assert_ne!(o.ending, Ending::Open, "a connection outlived SIGKILL");
            assert!(
                o.refused.is_empty(),
                "refused before the kill: {:?}",
                o.refused
            );
            assert!(
                o.notices.is_empty(),
                "errors before the kill: {:?}",
                o.notices
            );
            sent += o.sent.len();
            acked_before += o.acks.len();
            for m in &o.sent {
                if let Some(ack) = o.acks.get(&m.id) {
                    acked.insert(m.id, (*ack, m.envelope.clone()));
                }
            }
        }
        let stored = fixture.check(&server, &acked).await;

        // Resend, from the same device: every message that was in flight at
        // the kill, and a sample of acknowledged ones.
        for (traffic, o) in fixture.senders().iter().zip(&outcomes) {
            let unanswered: Vec<Outgoing> = o.unanswered().into_iter().cloned().collect();
            in_flight += unanswered.len();
            let mut items = unanswered.clone();
            let mut sample: Vec<&Outgoing> = o
                .sent
                .iter()
                .filter(|m| o.acks.contains_key(&m.id))
                .collect();
            while sample.len() > 4 {
                sample.swap_remove(rng.below(sample.len() as u64) as usize);
            }
            items.extend(sample.iter().map(|m| (*m).clone()));
            sampled += sample.len();
            let answers = resend(&server, traffic.sender, items).await;
            for m in &unanswered {
                let ack = match &answers[&m.id] {
                    Ok(ack) => *ack,
                    Err(e) => panic!("resending {} (in flight at the kill): {e:?}", m.id),
                };
                if let Some(seq) = stored.get(&m.id) {
                    // Committed before the kill, its ack lost on the way.
                    ack_lost += 1;
                    assert_eq!(ack.seq, *seq, "the resend of {} got another seq", m.id);
                }
                acked.insert(m.id, (ack, m.envelope.clone()));
            }
            for m in sample {
                let first = o.acks[&m.id];
                let again = answers[&m.id].as_ref().expect("resend acknowledged");
                assert_eq!(
                    (again.seq, again.committed_at_ms),
                    (first.seq, first.committed_at_ms),
                    "resending {} gave another ack",
                    m.id
                );
            }
        }
    }
    // After the last restart and every resend: all of it, exactly once.
    fixture.check(&server, &acked).await;
    if let Some(check) = fixture.integrity_check().await {
        assert_eq!(check, "ok");
    }
    report(&format!(
        "faults: SIGKILL on {backend}: {KILLS} kills (at {delays:?} ms after the first ack of each round), \
         {sent} messages sent, {acked_before} acknowledged before a kill; {in_flight} in flight at a kill, \
         each stored once after a resend ({ack_lost} had been committed, their ack lost: the resend got \
         the original seq); {sampled} acknowledged messages resent, each got the same ack; \
         acknowledged messages lost: 0, stored twice: 0; integrity_check: {}; {:.1} s",
        if db.backend() == support::Backend::Sqlite {
            "ok after every kill"
        } else {
            "n/a"
        },
        started.elapsed().as_secs_f64()
    ));
}

on_both_backends!(
    an_acknowledged_message_survives_sigkill_exactly_once,
    acknowledged_messages_survive_sigkill_exactly_once
);

/// The check the fault tests rely on notices each way of breaking the
/// promise: a lost, a moved, a doubled or a changed message, and a gap.
#[test]
fn the_exactly_once_check_notices_lost_moved_doubled_and_changed_messages() {
    use samtale_protocol::wire::StoredMessage;
    let stored = |seq: u64, id: MessageId| StoredMessage {
        seq,
        message_id: id,
        committed_at_ms: 1_000 + seq,
        envelope: vec![seq as u8; 3],
    };
    let ack = |seq: u64| Ack {
        seq,
        committed_at_ms: 1_000 + seq,
        at: Instant::now(),
    };
    let ids: Vec<MessageId> = (0..3).map(|_| MessageId::random().unwrap()).collect();
    let thread: Vec<StoredMessage> = (0..3).map(|i| stored(i as u64 + 1, ids[i])).collect();
    let acked: Acked = (0..3)
        .map(|i| (ids[i], (ack(i as u64 + 1), vec![i as u8 + 1; 3])))
        .collect();
    // The positive control: intact, it passes.
    assert_eq!(
        verify(&[(thread.clone(), 3)], &acked).map(|m| m.len()),
        Ok(3)
    );
    let mut lost = thread.clone();
    lost.pop();
    assert!(verify(&[(lost, 2)], &acked).unwrap_err().contains("lost"));
    let mut gap = thread.clone();
    gap[2].seq = 4;
    assert!(verify(&[(gap, 4)], &acked).unwrap_err().contains("gap"));
    let mut doubled = thread.clone();
    doubled.push(stored(4, ids[0]));
    assert!(
        verify(&[(doubled, 4)], &acked)
            .unwrap_err()
            .contains("twice")
    );
    let mut moved = acked.clone();
    moved.get_mut(&ids[1]).unwrap().0.seq = 3;
    assert!(
        verify(&[(thread.clone(), 3)], &moved)
            .unwrap_err()
            .contains("stored at seq")
    );
    let mut changed = thread.clone();
    changed[0].envelope[0] ^= 1;
    assert!(
        verify(&[(changed, 3)], &acked)
            .unwrap_err()
            .contains("envelope")
    );
    let mut short = thread;
    short.pop();
    assert!(
        verify(&[(short, 3)], &HashMap::new())
            .unwrap_err()
            .contains("last_seq")
    );
}

/// How long the process may take to stop after SIGTERM (issue 13).
const STOP_WITHIN: Duration = Duration::from_secs(10);

/// The close code for a server going away (RFC 6455 §7.4.1).
const GOING_AWAY: u16 = 1001;

async fn sigterm_keeps_acknowledged_messages_and_closes_sockets_with_1001(db: &TestDatabase) {
    let backend = backend_name(db);
    let fixture = Fixture::new(db).await;
    let mut rng = Rng::new(&format!("faults: SIGTERM on {backend}"));
    let mut server = fixture.start(&format!("sigterm-{backend}"));
    let counters = Counters::default();
    let streams = connect_senders(&fixture, &server).await;
    let pumps = endless(&fixture, streams, &counters);
    // Besides the senders: a citizen who only reads (live deliveries of
    // the thread it synced), the record clerk's socket, which never reads
    // at all, and a socket that has not sent its token yet.
    let listener = &fixture.conversations[0];
    let mut reader = connect(&server, listener.citizen.actor.token()).await;
    let sync = ClientFrame::Sync {
        thread_id: listener.thread,
        after_seq: 0,
    };
    reader
        .send(Message::Text(sync.to_json().into()))
        .await
        .unwrap();
    while !matches!(
        next_frame(&mut reader).await,
        Ok(ServerFrame::Synced { .. })
    ) {}
    let read = async move {
        let mut deliveries = 0;
        loop {
            match next_frame(&mut reader).await {
                Ok(ServerFrame::Deliver { .. }) => deliveries += 1,
                Ok(_) => {}
                Err(ending) => {
                    // Answer the close and let the connection end.
                    while reader.next().await.is_some() {}
                    return (ending, deliveries);
                }
            }
        }
    };
    let mut deaf = connect(&server, fixture.world.clerk.token()).await;
    let mut unauthenticated = connect_unauthenticated(&server).await;

    let delay = rng.below(300);
    let strike = async {
        until_at_least(&counters.acked, 1, "acks before SIGTERM").await;
        tokio::time::sleep(Duration::from_millis(delay)).await;
        let at = Instant::now();
        server.terminate();
        let status = server.exited_within(STOP_WITHIN).await;
        (at, status, at.elapsed())
    };
    let (outcomes, (reader_ending, deliveries), (sigterm_at, status, took)) =
        tokio::join!(join_all(pumps), read, strike);

    let status = status.unwrap_or_else(|| {
        panic!(
            "the server did not exit within {STOP_WITHIN:?} of SIGTERM; log:\n{}",
            server.log().join("\n")
        )
    });
    assert!(status.success(), "exit status after SIGTERM: {status}");
    server.wait_for_log("stopped cleanly", Duration::from_secs(2));
    // The close frames of the sockets that did not read are in their
    // receive buffers.
    let mut rest = Vec::new();
    for ws in [&mut deaf, &mut unauthenticated] {
        rest.push(loop {
            match next_frame(ws).await {
                Ok(_) => {}
                Err(ending) => break ending,
            }
        });
    }
    let mut endings: Vec<(String, Ending)> = outcomes
        .iter()
        .enumerate()
        .map(|(i, o)| (format!("sender {i}"), o.ending))
        .collect();
    endings.push(("a reader".into(), reader_ending));
    endings.push(("a socket that never reads".into(), rest[0]));
    endings.push(("a socket not yet authenticated".into(), rest[1]));
    for (who, ending) in &endings {
        assert_eq!(
            *ending,
            Ending::Closed(GOING_AWAY),
            "{who}'s socket at SIGTERM (error frames seen: {:?})",
            outcomes.iter().flat_map(|o| &o.notices).collect::<Vec<_>>()
        );
    }

    // Every acknowledged message is stored, including those in flight at
    // SIGTERM and acknowledged while the server stopped.
    let mut acked: Acked = HashMap::new();
    let mut acked_after = 0;
    for o in &outcomes {
        assert!(o.refused.is_empty(), "refused: {:?}", o.refused);
        for m in &o.sent {
            if let Some(ack) = o.acks.get(&m.id) {
                acked_after += usize::from(ack.at > sigterm_at);
                acked.insert(m.id, (*ack, m.envelope.clone()));
            }
        }
    }
    let server = fixture.start(&format!("sigterm-{backend}"));
    let stored = fixture.check(&server, &acked).await;
    // What was never answered is stored at most once, and a resend
    // settles it.
    let (mut unanswered, mut unanswered_stored) = (0, 0);
    for (traffic, o) in fixture.senders().iter().zip(&outcomes) {
        let items: Vec<Outgoing> = o.unanswered().into_iter().cloned().collect();
        unanswered += items.len();
        let answers = resend(&server, traffic.sender, items.clone()).await;
        for m in items {
            let ack = answers[&m.id].as_ref().expect("a resend is acknowledged");
            if let Some(seq) = stored.get(&m.id) {
                unanswered_stored += 1;
                assert_eq!(ack.seq, *seq);
            }
            acked.insert(m.id, (*ack, m.envelope));
        }
    }
    fixture.check(&server, &acked).await;
    if let Some(check) = fixture.integrity_check().await {
        assert_eq!(check, "ok");
    }
    report(&format!(
        "faults: SIGTERM on {backend} ({delay} ms after the first ack): exited in {:.2} s (status {status}), \
         {} sockets closed with {GOING_AWAY}; {} messages acknowledged ({acked_after} of them after SIGTERM), \
         all stored exactly once; {unanswered} unanswered at the close ({unanswered_stored} of them committed), \
         each settled by a resend with one copy stored; {deliveries} delivered live",
        took.as_secs_f64(),
        endings.len(),
        acked.len() - unanswered,
    ));
}

on_both_backends!(
    sigterm_keeps_acknowledged_messages_closes_sockets_with_1001_and_exits_within_10_s,
    sigterm_keeps_acknowledged_messages_and_closes_sockets_with_1001
);

/// SQLite on a filesystem that fills up: the tmpfs's size, in MiB.
const SMALL_DISK_MIB: u32 = 8;

#[tokio::test]
async fn a_full_filesystem_refuses_what_it_cannot_store_and_recovers_without_a_restart() {
    let disk = match Tmpfs::mount(&format!("{SMALL_DISK_MIB}m")) {
        Ok(disk) => disk,
        Err(why) if std::env::var("SAMTALE_FAULTS_REQUIRE_MOUNT").as_deref() != Ok("1") => {
            report(&format!(
                "SKIPPED (full filesystem): {why}. The test mounts a {SMALL_DISK_MIB} MiB tmpfs, which \
                 needs root (CAP_SYS_ADMIN); SAMTALE_FAULTS_REQUIRE_MOUNT=1 makes this a failure."
            ));
            return;
        }
        Err(why) => panic!("SAMTALE_FAULTS_REQUIRE_MOUNT=1 and {why}"),
    };
    let db = TestDatabase::new(support::Backend::Sqlite).await.unwrap();
    let mut settings = db.app_settings();
    settings.data_dir = disk.path.join("data");
    settings.database = DatabaseSettings::Sqlite {
        path: settings.data_dir.join("samtale.db"),
    };
    let fixture = Fixture::with_settings(&settings).await;
    let mut server = fixture.start("full-disk");
    let traffic = fixture.senders()[0];

    // Messages flow; then the disk fills up under them, and they keep
    // coming until the server has refused a good number.
    let counters = Counters::default();
    let stop = AtomicBool::new(false);
    let ws = connect(&server, traffic.sender.token()).await;
    let mut n = 0;
    let sending = pump(
        ws,
        || {
            n += 1;
            (!stop.load(Ordering::SeqCst)).then(|| traffic.seal(n))
        },
        WINDOW,
        &counters,
    );
    let fill = async {
        until_at_least(&counters.acked, 20, "acks before the disk is full").await;
        let acked_before = counters.acked.load(Ordering::SeqCst);
        let filler = Filler::fill(&disk.path);
        until_at_least(&counters.refused, 40, "sends refused on the full disk").await;
        stop.store(true, Ordering::SeqCst);
        (filler, acked_before)
    };
    let (outcome, (filler, acked_before_full)) = tokio::join!(sending, fill);
    server.assert_running();
    assert_eq!(
        outcome.ending,
        Ending::Open,
        "the connection survives a full disk"
    );
    assert!(outcome.unanswered().is_empty(), "every send was answered");
    assert!(outcome.notices.is_empty(), "{:?}", outcome.notices);

    // The sender is told, per message, that it was not stored.
    for (id, (code, message)) in &outcome.refused {
        assert!(
            matches!(code, ErrorCode::Internal | ErrorCode::Unavailable),
            "{id}: {code:?} {message}"
        );
        assert!(
            message.contains("nothing was saved") && message.contains("resend"),
            "{id}: {message}"
        );
    }
    // The operator is told why.
    let full = server.wait_for_log("disk is full", Duration::from_secs(1));
    assert!(full.contains("\"level\":\"ERROR\""), "{full}");

    // No corruption, and exactly what was acknowledged is stored.
    let sqlite = fixture.sqlite_file.as_deref().unwrap();
    assert_eq!(
        fault_injection::integrity_check(sqlite).await,
        "ok",
        "while full"
    );
    let mut acked: Acked = HashMap::new();
    for m in &outcome.sent {
        if let Some(ack) = outcome.acks.get(&m.id) {
            acked.insert(m.id, (*ack, m.envelope.clone()));
        }
    }
    let stored = fixture.check(&server, &acked).await;
    for id in outcome.refused.keys() {
        assert!(!stored.contains_key(id), "{id} was refused but is stored");
    }

    // Space again: the same process takes messages, new ones and the
    // refused ones resent.
    let filled_kib = filler.bytes / 1024;
    filler.free();
    let refused: Vec<Outgoing> = outcome
        .sent
        .iter()
        .filter(|m| outcome.refused.contains_key(&m.id))
        .cloned()
        .collect();
    let fresh: Vec<Outgoing> = (0..20).map(|i| traffic.seal(100_000 + i)).collect();
    let mut again = refused.clone();
    again.extend(fresh.iter().cloned());
    let answers = resend(&server, traffic.sender, again.clone()).await;
    for m in again {
        match &answers[&m.id] {
            Ok(ack) => {
                acked.insert(m.id, (*ack, m.envelope));
            }
            Err(e) => panic!(
                "after space was freed, {} was refused: {e:?}; log:\n{}",
                m.id,
                server.log().join("\n")
            ),
        }
    }
    fixture.check(&server, &acked).await;
    assert_eq!(
        fault_injection::integrity_check(sqlite).await,
        "ok",
        "after recovery"
    );
    server.terminate();
    let status = server
        .exited_within(STOP_WITHIN)
        .await
        .expect("exits after SIGTERM");
    assert!(status.success(), "{status}");
    assert_eq!(
        fault_injection::integrity_check(sqlite).await,
        "ok",
        "after the stop"
    );
    support::artifacts::keep_copy(&settings.data_dir, "faults-full-disk");
    report(&format!(
        "faults: full filesystem (SQLite on a {SMALL_DISK_MIB} MiB tmpfs, filled with {} KiB while sending): \
         {} acknowledged ({acked_before_full} before the fill), {} refused with an error naming the message, \
         none of them stored; acknowledged messages lost: 0; integrity_check ok while full, after recovery \
         and after the stop; after freeing the space, without a restart, {} refused messages resent and \
         {} new ones acknowledged",
        filled_kib,
        outcome.acks.len(),
        outcome.refused.len(),
        refused.len(),
        fresh.len(),
    ));
}
