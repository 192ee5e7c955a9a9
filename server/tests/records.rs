//! Records: the hash-chained audit log, journal receipts, holds and the
//! retention purge, on SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use reqwest::Method;
use samtale_protocol::wire::{
    AuditStatus, ClientFrame, ErrorCode, JournalList, JournalReceipt, RetentionPolicy, TeamInfo,
    ThreadDetail,
};
use samtale_protocol::{Receipt, ReceiptKind, ThreadId};
use samtale_server::audit::{self, Action, AuditEvent, Detail};
use samtale_server::storage::records::AuditFilter;
use serde_json::{Value, json};
use support::world::{Citizen, World, Ws, recipients, seal, send_frame};
use support::{Backend, TestApp, TestDatabase, expect, expect_error};

const DAY: i64 = 86_400;

async fn entries(app: &TestApp, filter: AuditFilter) -> Vec<audit::AuditEntry> {
    app.storage
        .audit_entries(&filter, 0, 1_000_000)
        .await
        .expect("audit entries")
}

async fn verify(app: &TestApp) -> Result<i64, audit::ChainError> {
    match audit::verify_storage(&app.storage, |_| {}).await {
        Ok(n) => Ok(n),
        Err(audit::VerifyError::Chain(e)) => Err(e),
        Err(e) => panic!("{e}"),
    }
}

// ------------------------------------------------------------------ audit

on_both_backends!(
    ten_thousand_audit_entries_verify_and_any_single_change_or_removal_is_named_at_its_index,
    audit_chain_detects_tampering
);
async fn audit_chain_detects_tampering(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    const N: i64 = 10_000;
    let events: Vec<AuditEvent> = (0..N)
        .map(|i| {
            AuditEvent::new(Action::MessageSend, "account-a", Some("thread-t"))
                .org("org-o")
                .device("device-d")
                .detail(Detail::none().number("seq", i + 1))
        })
        .collect();
    for (k, chunk) in events.chunks(2_500).enumerate() {
        app.storage
            .audit(chunk, 1_700_000_000_000 + i64::try_from(k).unwrap())
            .await
            .expect("append");
    }
    assert_eq!(verify(&app).await, Ok(N));

    for index in [1, 4_321, N] {
        // A changed field of each kind.
        for (column, value) in [
            ("actor", "'account-b'"),
            ("detail", "'{\"seq\":0}'"),
            ("at_ms", "at_ms + 1"),
            ("action", "'message.delete'"),
            ("subject", "NULL"),
        ] {
            db.execute(&format!(
                "CREATE TABLE stash AS SELECT * FROM audit_log WHERE idx = {index}; \
                 UPDATE audit_log SET {column} = {value} WHERE idx = {index}"
            ))
            .await;
            let error = verify(&app).await.expect_err("tampering must show");
            assert_eq!(error.index(), index, "{column} of {index}: {error}");
            db.execute(&format!(
                "DELETE FROM audit_log WHERE idx = {index}; \
                 INSERT INTO audit_log SELECT * FROM stash; DROP TABLE stash"
            ))
            .await;
            assert_eq!(verify(&app).await, Ok(N), "restored after {column}");
        }
        // A removed entry.
        db.execute(&format!(
            "CREATE TABLE stash AS SELECT * FROM audit_log WHERE idx = {index}; \
             DELETE FROM audit_log WHERE idx = {index}"
        ))
        .await;
        let error = verify(&app).await.expect_err("removal must show");
        assert_eq!(error.index(), index, "removed {index}: {error}");
        assert!(error.to_string().contains(&index.to_string()), "{error}");
        db.execute("INSERT INTO audit_log SELECT * FROM stash; DROP TABLE stash")
            .await;
        assert_eq!(verify(&app).await, Ok(N));
    }

    // The data protection officer's export: JSON lines, filtered, and
    // itself audited (the chain still verifies, one entry longer).
    if db.backend() == Backend::Sqlite {
        let out = db.dir.path().join("dpo.jsonl");
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_samtale-server"))
            .arg("--data-dir")
            .arg(db.data_dir())
            .args([
                "audit",
                "export",
                "--subject",
                "thread-t",
                "--since",
                "2023-11-14",
            ])
            .arg("--output")
            .arg(&out)
            .output()
            .expect("run samtale-server");
        assert!(
            run.status.success(),
            "{}",
            String::from_utf8_lossy(&run.stderr)
        );
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), usize::try_from(N).unwrap());
        assert_eq!(lines[0]["idx"], 1);
        assert_eq!(lines[0]["action"], "message.send");
        assert_eq!(lines[0]["hash"].as_str().unwrap().len(), 64);
        let none = std::process::Command::new(env!("CARGO_BIN_EXE_samtale-server"))
            .arg("--data-dir")
            .arg(db.data_dir())
            .args([
                "audit",
                "export",
                "--subject",
                "thread-t",
                "--until",
                "2023-11-14",
            ])
            .output()
            .expect("run samtale-server");
        assert!(
            none.stdout.is_empty(),
            "entries are from 2023-11-14 22:13 UTC on"
        );
        assert_eq!(verify(&app).await, Ok(N + 2));
        let last = entries(&app, AuditFilter::default()).await;
        assert_eq!(last[last.len() - 1].action, "audit.export");
    }

    // The server's own command says the same, and exits 1.
    if db.backend() == Backend::Sqlite {
        db.execute("UPDATE audit_log SET actor = 'someone' WHERE idx = 777")
            .await;
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_samtale-server"))
            .arg("--data-dir")
            .arg(db.data_dir())
            .args(["audit", "verify"])
            .output()
            .expect("run samtale-server");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("audit entry 777 was changed"), "{stderr}");
    }
    app.stop().await;
}

on_both_backends!(
    the_admins_audit_status_says_intact_or_names_the_first_changed_entry,
    audit_status_over_http
);
async fn audit_status_over_http(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let world = World::build(&app).await;
    let status = |token: String| {
        let app = &app;
        async move {
            app.call(Method::GET, "/v1/audit/status", Some(&token), None)
                .await
        }
    };
    expect_error(
        status(world.staff.token().to_owned()).await,
        403,
        ErrorCode::Forbidden,
    )
    .await;
    let intact: AuditStatus = expect(status(world.admin.token().to_owned()).await, 200).await;
    assert!(intact.intact, "{intact:?}");
    assert_eq!(intact.broken_at, None);
    let head = entries(&app, AuditFilter::default()).await;
    let last = head.last().expect("setting up the world is audited");
    assert_eq!(intact.head_index, u64::try_from(last.idx).unwrap());
    assert_eq!(intact.head_hash, hex::encode(&last.hash));
    // Another organisation's entries are in the chain, not in the count.
    let own = entries(
        &app,
        AuditFilter {
            org_id: Some(world.org_id.to_string()),
            ..AuditFilter::default()
        },
    )
    .await;
    app.storage
        .audit(
            &[AuditEvent::new(Action::MessageSend, "account-x", None).org("another-org")],
            1_700_000_000_000,
        )
        .await
        .unwrap();
    let after: AuditStatus = expect(status(world.admin.token().to_owned()).await, 200).await;
    assert_eq!(
        after.organisation_entries,
        u64::try_from(own.len()).unwrap()
    );
    assert_eq!(after.head_index, intact.head_index + 1);

    // A changed entry: the screen names it (positive control: the same
    // check said intact above).
    db.execute("UPDATE audit_log SET actor = 'someone' WHERE idx = 3")
        .await;
    let broken: AuditStatus = expect(status(world.admin.token().to_owned()).await, 200).await;
    assert!(!broken.intact);
    assert_eq!(broken.broken_at, Some(3));
    app.stop().await;
}

/// Everything in the log, as one text, to search for things it must not hold.
fn as_text(entries: &[audit::AuditEntry]) -> String {
    entries
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

async fn receipt(ws: &mut Ws, citizen: &Citizen, thread: ThreadId, seq: u64, kind: ReceiptKind) {
    let receipt = Receipt::sign(&citizen.actor.device, thread, seq, kind, 1);
    ws.send(&ClientFrame::Receipt {
        receipt: receipt.as_bytes().to_vec(),
    })
    .await;
}

on_both_backends!(
    sends_deliveries_reads_and_admin_actions_are_audited_without_content,
    everything_is_audited
);
async fn everything_is_audited(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let world = World::build(&app).await;
    let maja = world
        .citizen(&app, &world.staff, world.team, "140114-4444")
        .await;
    let thread = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;
    let mut staff_ws = Ws::connect(&app, world.staff.token()).await;
    let mut maja_ws = Ws::connect(&app, maja.actor.token()).await;
    let to = recipients(&app, &world.staff, thread).await;
    let secret = b"Maja Jensen, CPR 140114-4444: the meeting is moved";
    let (id, envelope) = seal(&world.staff, thread, &to, secret);
    let seq = staff_ws
        .send_and_ack(&send_frame(thread, id, &envelope))
        .await
        .unwrap();
    receipt(&mut maja_ws, &maja, thread, seq, ReceiptKind::Delivered).await;
    receipt(&mut maja_ws, &maja, thread, seq, ReceiptKind::Read).await;
    // The read receipt reaches the caseworker once it is stored.
    let mut relayed = 0;
    while relayed < 2 {
        if let samtale_protocol::wire::ServerFrame::Receipt { .. } = staff_ws.recv().await.unwrap()
        {
            relayed += 1;
        }
    }

    // Everything about Maja's account: her sign-up (subject) and what she
    // did herself (actor: her receipts) — "subject" alone gives only the
    // first.
    let maja_id = maja.actor.account.to_string();
    let about_maja = entries(
        &app,
        AuditFilter {
            account: Some(maja_id.clone()),
            ..AuditFilter::default()
        },
    )
    .await;
    let only_subject = entries(
        &app,
        AuditFilter {
            subject: Some(maja_id.clone()),
            ..AuditFilter::default()
        },
    )
    .await;
    let acts: Vec<&str> = about_maja.iter().map(|e| e.action.as_str()).collect();
    assert!(acts.contains(&"citizen.signup"), "{acts:?}");
    assert!(acts.contains(&"receipt.read"), "{acts:?}");
    assert!(about_maja.len() > only_subject.len());
    assert!(
        about_maja
            .iter()
            .all(|e| e.actor == maja_id || e.subject.as_deref() == Some(maja_id.as_str()))
    );
    let about_thread = entries(
        &app,
        AuditFilter {
            subject: Some(thread.to_string()),
            ..AuditFilter::default()
        },
    )
    .await;
    let actions: Vec<&str> = about_thread.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "thread.create",
            "message.send",
            "receipt.delivered",
            "receipt.read"
        ]
    );
    let send = &about_thread[1];
    assert_eq!(send.actor, world.staff.account.to_string());
    assert_eq!(
        send.org_id.as_deref(),
        Some(world.org_id.to_string().as_str())
    );
    assert!(
        send.detail.contains(&format!("\"seq\":{seq}")),
        "{}",
        send.detail
    );

    let all = entries(&app, AuditFilter::default()).await;
    let kinds: std::collections::BTreeSet<&str> = all.iter().map(|e| e.action.as_str()).collect();
    for expected in [
        "organisation.register",
        "team.create",
        "staff.create",
        "device.login",
        "device.certify",
        "invitation.create",
        "citizen.signup",
        "thread.create",
        "message.send",
    ] {
        assert!(kinds.contains(expected), "no {expected} in {kinds:?}");
    }
    // Content-free: no text, no national id, no name, no token.
    let text = as_text(&all);
    for needle in [
        "meeting",
        "140114",
        "Maja",
        "Randers",
        "Familieafdelingen",
        world.staff.token(),
    ] {
        assert!(!text.contains(needle), "the audit log holds {needle:?}");
    }
    assert_eq!(verify(&app).await, Ok(i64::try_from(all.len()).unwrap()));
    app.stop().await;
}

// ---------------------------------------------------------------- journal

on_both_backends!(
    a_clerk_files_a_thread_on_a_case_and_every_participant_sees_it,
    journal_receipts
);
async fn journal_receipts(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let world = World::build(&app).await;
    let maja = world
        .citizen(&app, &world.staff, world.team, "140114-4444")
        .await;
    let thread = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;
    let mut ws = Ws::connect(&app, world.staff.token()).await;
    let to = recipients(&app, &world.staff, thread).await;
    for text in ["one", "two"] {
        let (id, envelope) = seal(&world.staff, thread, &to, text.as_bytes());
        ws.send_and_ack(&send_frame(thread, id, &envelope))
            .await
            .unwrap();
    }
    let path = format!("/v1/threads/{thread}/journal");
    let manifest = "ab".repeat(32);
    let body = |case: &str, up_to: u64| json!({"case_ref": case, "kle": "27.12.04", "up_to_seq": up_to, "manifest_sha256": manifest});

    // Only a record clerk files; the case reference carries no personal data.
    expect_error(
        app.call(
            Method::POST,
            &path,
            Some(world.staff.token()),
            Some(body("2026-004711", 2)),
        )
        .await,
        403,
        ErrorCode::Forbidden,
    )
    .await;
    let refused = expect_error(
        app.call(
            Method::POST,
            &path,
            Some(world.clerk.token()),
            Some(body("Maja 140114-4444", 2)),
        )
        .await,
        422,
        ErrorCode::ValidationFailed,
    )
    .await;
    assert!(
        refused.message.contains("personal data"),
        "{}",
        refused.message
    );
    let beyond = expect_error(
        app.call(
            Method::POST,
            &path,
            Some(world.clerk.token()),
            Some(body("2026-004711", 3)),
        )
        .await,
        422,
        ErrorCode::ValidationFailed,
    )
    .await;
    assert!(
        beyond.message.contains("has 2 messages"),
        "{}",
        beyond.message
    );
    let mut bad_kle = body("2026-004711", 2);
    bad_kle["kle"] = json!("27-12");
    expect_error(
        app.call(
            Method::POST,
            &path,
            Some(world.clerk.token()),
            Some(bad_kle),
        )
        .await,
        422,
        ErrorCode::ValidationFailed,
    )
    .await;

    let filed: JournalReceipt = expect(
        app.call(
            Method::POST,
            &path,
            Some(world.clerk.token()),
            Some(body("2026-004711", 2)),
        )
        .await,
        201,
    )
    .await;
    assert_eq!(filed.up_to_seq, 2);
    assert_eq!(filed.clerk_account_id, world.clerk.account);

    // A later message is not journaled yet; every participant sees the case.
    let (id, envelope) = seal(&world.staff, thread, &to, b"three");
    ws.send_and_ack(&send_frame(thread, id, &envelope))
        .await
        .unwrap();
    for who in [world.staff.token(), maja.actor.token(), world.clerk.token()] {
        let detail: ThreadDetail = expect(
            app.call(
                Method::GET,
                &format!("/v1/threads/{thread}"),
                Some(who),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(
            detail.summary.journaled_case.as_deref(),
            Some("2026-004711")
        );
        assert_eq!(detail.summary.journaled_up_to, Some(2));
        assert_eq!(detail.summary.last_seq, 3);
        let list: JournalList =
            expect(app.call(Method::GET, &path, Some(who), None).await, 200).await;
        assert_eq!(list.receipts, vec![filed.clone()]);
    }
    let journaled = entries(
        &app,
        AuditFilter {
            subject: Some(thread.to_string()),
            ..AuditFilter::default()
        },
    )
    .await;
    let file = journaled
        .iter()
        .find(|e| e.action == "journal.file")
        .expect("journal.file audited");
    assert_eq!(file.actor, world.clerk.account.to_string());
    assert!(
        !file.detail.contains("2026-004711"),
        "no case reference in the log"
    );
    app.stop().await;
}

// -------------------------------------------------------------- retention

/// The files of the SQLite database (main file, write-ahead log, index).
fn database_bytes(db: &TestDatabase) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(db.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("samtale.db"))
        {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The sequence numbers stored for a thread, or `Err(())` when the thread
/// itself is gone. Read from storage: the users' tokens expire while the
/// test moves the clock by months.
async fn messages(app: &TestApp, thread: ThreadId) -> Result<Vec<i64>, ()> {
    let id = thread.to_string();
    if app.storage.thread(&id).await.unwrap().is_none() {
        return Err(());
    }
    let rows = app.storage.messages_after(&id, 0, 1_000).await.unwrap();
    Ok(rows.iter().map(|m| m.seq).collect())
}

on_both_backends!(
    retention_purges_on_schedule_respects_holds_and_leaves_no_bytes_behind,
    retention_purge
);
async fn retention_purge(db: &TestDatabase) {
    let mut settings = db.app_settings();
    settings.messaging.purge_interval_minutes = 0;
    let app = TestApp::spawn_with(&settings).await;
    let world = World::build(&app).await;
    let admin = world.admin.token();
    let clerk = world.clerk.token();

    // The policy: the defaults, 30 days after journaling and 90 unjournaled.
    let teams: Vec<TeamInfo> = expect(
        app.call(Method::GET, "/v1/teams", Some(admin), None).await,
        200,
    )
    .await;
    assert_eq!(
        teams[0].retention,
        RetentionPolicy {
            journaled_days: 30,
            unjournaled_days: 90
        }
    );
    let retention = format!("/v1/teams/{}/retention", world.team);
    expect_error(
        app.call(
            Method::PUT,
            &retention,
            Some(world.staff.token()),
            Some(json!({"journaled_days": 1, "unjournaled_days": 1})),
        )
        .await,
        403,
        ErrorCode::Forbidden,
    )
    .await;
    expect_error(
        app.call(
            Method::PUT,
            &retention,
            Some(admin),
            Some(json!({"journaled_days": 0, "unjournaled_days": 90})),
        )
        .await,
        422,
        ErrorCode::ValidationFailed,
    )
    .await;
    let set: RetentionPolicy = expect(
        app.call(
            Method::PUT,
            &retention,
            Some(admin),
            Some(json!({"journaled_days": 30, "unjournaled_days": 90})),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(set.unjournaled_days, 90);

    let maja = world
        .citizen(&app, &world.staff, world.team, "140114-4444")
        .await;
    let staff = world.staff.token();
    let journaled = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;
    let never = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;
    let held = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;
    let mut ws = Ws::connect(&app, world.staff.token()).await;
    let mut maja_ws = Ws::connect(&app, maja.actor.token()).await;

    // An attachment (random bytes, so they can be looked for) in the
    // journaled thread, then its messages.
    let blob: Vec<u8> = (0..70_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let stored: Value = expect(
        app.client
            .post(format!(
                "{}/v1/threads/{journaled}/attachments",
                app.address
            ))
            .bearer_auth(staff)
            .header("content-type", "application/octet-stream")
            .body(blob.clone())
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let attachment = stored["attachment_id"].as_str().unwrap().to_owned();
    let mut canaries: Vec<(ThreadId, Vec<u8>)> = vec![(journaled, blob[30_000..30_048].to_vec())];
    let mut keys = std::collections::HashMap::new();
    for thread in [journaled, never, held] {
        keys.insert(thread, recipients(&app, &world.staff, thread).await);
    }
    let mut send = async |thread: ThreadId, text: &[u8]| {
        let (id, envelope) = seal(&world.staff, thread, &keys[&thread], text);
        let seq = ws
            .send_and_ack(&send_frame(thread, id, &envelope))
            .await
            .unwrap();
        (seq, envelope[envelope.len() - 32..].to_vec())
    };
    for thread in [journaled, journaled, never, held] {
        let (_, canary) = send(thread, b"case details").await;
        canaries.push((thread, canary));
    }
    receipt(&mut maja_ws, &maja, journaled, 2, ReceiptKind::Read).await;
    let manifest = "cd".repeat(32);
    expect::<Value>(
        app.call(
            Method::POST,
            &format!("/v1/threads/{journaled}/journal"),
            Some(clerk),
            Some(json!({"case_ref": "2026-004711", "up_to_seq": 2, "manifest_sha256": manifest})),
        )
        .await,
        201,
    )
    .await;
    let hold = format!("/v1/threads/{held}/hold");
    expect_error(
        app.call(Method::PUT, &hold, Some(staff), None).await,
        403,
        ErrorCode::Forbidden,
    )
    .await;
    assert_eq!(
        app.call(Method::PUT, &hold, Some(admin), None)
            .await
            .status(),
        204
    );

    // A day later, a message that is not journaled.
    app.clock.advance(DAY);
    let _ = send(journaled, b"later").await;

    if db.backend() == Backend::Sqlite {
        let bytes = database_bytes(db);
        for (_, canary) in &canaries {
            assert!(
                contains(&bytes, canary),
                "the canary is stored before the purge"
            );
        }
    }
    let purge = async || {
        samtale_server::retention::run_once(&app.storage, &app.clock)
            .await
            .unwrap()
    };

    // Day 29: nothing is due.
    app.clock.advance(28 * DAY);
    assert_eq!(purge().await, Default::default());
    assert_eq!(messages(&app, journaled).await, Ok(vec![1, 2, 3]));

    // Day 31: the journaled messages, their receipt and the attachment go;
    // the later message stays.
    app.clock.advance(2 * DAY);
    let report = purge().await;
    assert_eq!(
        (
            report.messages_deleted,
            report.attachments_deleted,
            report.receipts_deleted,
            report.threads_deleted
        ),
        (2, 1, 1, 0),
        "{report:?}"
    );
    assert_eq!(messages(&app, journaled).await, Ok(vec![3]));
    assert_eq!(
        app.storage
            .removed_ranges(&journaled.to_string())
            .await
            .unwrap(),
        vec![(1, 2, "retention".to_owned())],
        "the deleted messages are declared, so clients tell them from lost ones"
    );
    assert_eq!(messages(&app, never).await, Ok(vec![1]));
    assert_eq!(messages(&app, held).await, Ok(vec![1]));
    assert_eq!(app.storage.attachment(&attachment).await.unwrap(), None);
    if db.backend() == Backend::Sqlite {
        let bytes = database_bytes(db);
        for (thread, canary) in &canaries {
            assert_eq!(
                contains(&bytes, canary),
                *thread != journaled,
                "thread {thread}: purged bytes must leave the files, kept ones stay"
            );
        }
    }

    // Day 91: everything not journaled is 90 days old. The threads go
    // whole, except the one on hold.
    app.clock.advance(60 * DAY);
    let report = purge().await;
    assert_eq!(
        (report.threads_deleted, report.threads_on_hold),
        (2, 1),
        "{report:?}"
    );
    assert_eq!(messages(&app, journaled).await, Err(()));
    assert_eq!(messages(&app, never).await, Err(()));
    assert_eq!(messages(&app, held).await, Ok(vec![1]));

    // Released, the held thread goes at the next run.
    let admin = support::world::login(&app, "admin").await;
    assert_eq!(
        app.call(Method::DELETE, &hold, Some(admin.token()), None)
            .await
            .status(),
        204
    );
    let report = purge().await;
    assert_eq!(report.threads_deleted, 1, "{report:?}");
    assert_eq!(messages(&app, held).await, Err(()));
    if db.backend() == Backend::Sqlite {
        let bytes = database_bytes(db);
        for (thread, canary) in &canaries {
            assert!(
                !contains(&bytes, canary),
                "thread {thread}: bytes left after the purge"
            );
        }
    }

    // Each purge and hold is in the log, and the chain is intact.
    let all = entries(&app, AuditFilter::default()).await;
    let count = |action: &str| all.iter().filter(|e| e.action == action).count();
    assert_eq!(count("retention.purge"), 1);
    assert_eq!(count("retention.thread.delete"), 3);
    assert_eq!((count("hold.set"), count("hold.release")), (1, 1));
    assert_eq!(verify(&app).await, Ok(i64::try_from(all.len()).unwrap()));
    app.stop().await;
}

// ------------------------------------------------------- access and erasure

on_both_backends!(
    an_erased_citizen_leaves_no_national_id_hash_device_key_or_message_and_their_export_listed_it_all,
    erasure
);
async fn erasure(db: &TestDatabase) {
    let app = TestApp::spawn(db).await;
    let world = World::build(&app).await;
    let maja = world
        .citizen(&app, &world.staff, world.team, "140114-4444")
        .await;
    let elsa = world
        .citizen(&app, &world.staff, world.team, "19811218-9876")
        .await;
    let alone = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;
    let group = world
        .open_thread(&app, &world.staff, world.team, &[&maja, &elsa])
        .await;
    let mut maja_ws = Ws::connect(&app, maja.actor.token()).await;
    let mut elsa_ws = Ws::connect(&app, elsa.actor.token()).await;
    let mut tails = Vec::new();
    for (from_maja, thread) in [(true, alone), (true, group), (false, group)] {
        let (ws, who) = if from_maja {
            (&mut maja_ws, &maja)
        } else {
            (&mut elsa_ws, &elsa)
        };
        let to = recipients(&app, &who.actor, thread).await;
        let (id, envelope) = seal(&who.actor, thread, &to, b"about my case");
        ws.send_and_ack(&send_frame(thread, id, &envelope))
            .await
            .unwrap();
        tails.push(envelope[envelope.len() - 32..].to_vec());
    }
    let (maja_alone, maja_group, elsa_group) =
        (tails[0].clone(), tails[1].clone(), tails[2].clone());
    receipt(&mut maja_ws, &maja, group, 2, ReceiptKind::Read).await;

    // The access export lists what the server holds.
    let export: Value = expect(
        app.call(Method::GET, "/v1/me/export", Some(maja.actor.token()), None)
            .await,
        200,
    )
    .await;
    assert_eq!(export["account"]["account_id"], json!(maja.actor.account));
    assert_eq!(export["account"]["assurance"], "unverified");
    assert_eq!(export["national_id_hash_stored"], true);
    assert_eq!(export["consents"].as_array().unwrap().len(), 1);
    assert_eq!(export["invitations"].as_array().unwrap().len(), 1);
    assert_eq!(export["devices"].as_array().unwrap().len(), 1);
    let listed: std::collections::BTreeSet<String> = export["threads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["thread_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        listed,
        [alone.to_string(), group.to_string()].into_iter().collect()
    );
    assert!(
        !export.to_string().contains("140114"),
        "no national id in the export"
    );

    let maja_id = maja.actor.account.to_string();
    let hash = db
        .blobs(&format!(
            "SELECT national_id_hmac FROM citizen_identities WHERE account_id = '{maja_id}'"
        ))
        .await;
    assert_eq!(hash.len(), 1);
    let device_key = maja.actor.device.public().identity.to_bytes().to_vec();

    // Only an admin erases; a hold stops it, erasing nothing.
    let erase = format!("/v1/citizens/{maja_id}");
    expect_error(
        app.call(Method::DELETE, &erase, Some(world.staff.token()), None)
            .await,
        403,
        ErrorCode::Forbidden,
    )
    .await;
    let admin = world.admin.token();
    let hold = format!("/v1/threads/{group}/hold");
    assert_eq!(
        app.call(Method::PUT, &hold, Some(admin), None)
            .await
            .status(),
        204
    );
    let refused = expect_error(
        app.call(Method::DELETE, &erase, Some(admin), None).await,
        409,
        ErrorCode::Conflict,
    )
    .await;
    assert!(
        refused.message.contains(&group.to_string()),
        "{}",
        refused.message
    );
    assert_eq!(messages(&app, alone).await, Ok(vec![1]));
    assert_eq!(
        app.call(Method::DELETE, &hold, Some(admin), None)
            .await
            .status(),
        204
    );

    let done: Value = expect(
        app.call(Method::DELETE, &erase, Some(admin), None).await,
        200,
    )
    .await;
    assert_eq!(
        (
            done["threads_deleted"].as_u64(),
            done["threads_left"].as_u64(),
            done["messages_deleted"].as_u64(),
            done["devices_deleted"].as_u64()
        ),
        (Some(1), Some(1), Some(2), Some(1)),
        "{done}"
    );
    expect_error(
        app.call(Method::DELETE, &erase, Some(admin), None).await,
        404,
        ErrorCode::NotFound,
    )
    .await;

    // Gone: the thread she was alone in, her message in the group, her
    // session; Elsa's message stays.
    assert_eq!(messages(&app, alone).await, Err(()));
    assert_eq!(messages(&app, group).await, Ok(vec![2]));
    assert_eq!(
        app.call(Method::GET, "/v1/me", Some(maja.actor.token()), None)
            .await
            .status(),
        401
    );
    for sql in [
        format!("SELECT national_id_hmac FROM citizen_identities WHERE account_id = '{maja_id}'"),
        format!("SELECT identity_key FROM devices WHERE account_id = '{maja_id}'"),
        format!("SELECT national_id_hmac FROM invitations WHERE redeemed_by = '{maja_id}'"),
        format!(
            "SELECT public_key FROM holders h JOIN holder_epochs e ON e.holder_id = h.id WHERE h.owner_id = '{maja_id}'"
        ),
    ] {
        assert!(db.blobs(&sql).await.is_empty(), "still stored: {sql}");
    }
    if db.backend() == Backend::Sqlite {
        let bytes = database_bytes(db);
        for (what, needle) in [
            ("national-id hash", &hash[0]),
            ("device key", &device_key),
            ("message alone", &maja_alone),
            ("message in the group", &maja_group),
        ] {
            assert!(
                !contains(&bytes, needle),
                "the {what} is still in the database files"
            );
        }
        assert!(contains(&bytes, &elsa_group), "Elsa's message must stay");
    }
    let all = entries(&app, AuditFilter::default()).await;
    assert!(
        all.iter()
            .any(|e| e.action == "citizen.erase" && e.subject.as_deref() == Some(maja_id.as_str()))
    );
    assert!(all.iter().any(|e| e.action == "access.export"));
    assert_eq!(verify(&app).await, Ok(i64::try_from(all.len()).unwrap()));
    app.stop().await;
}

// -------------------------------------------------------------- templates

on_both_backends!(
    templates_are_stored_sealed_for_the_team_only_and_checked_for_their_signer,
    team_templates
);
async fn team_templates(db: &TestDatabase) {
    use samtale_protocol::wire::{TeamTemplate, TemplateList};
    use samtale_protocol::{DeliveryContext, Envelope, MessageId};
    let app = TestApp::spawn(db).await;
    let world = World::build(&app).await;
    let team = world.team;
    let text = b"{\"title\":\"Ring til mig\",\"text\":\"Ring venligst til mig.\"}";
    let as_thread = ThreadId::from_bytes(*team.as_bytes());
    let template = MessageId::random().unwrap();
    let seal = |id: MessageId| {
        Envelope::seal(
            &world.staff.device,
            as_thread,
            id,
            &[world.team_key.public()],
            text,
        )
        .unwrap()
        .into_bytes()
    };
    let sealed = seal(template);
    let path = format!("/v1/teams/{team}/templates/{template}");
    let body = |bytes: &[u8]| Some(json!({"sealed": samtale_protocol::b64::encode(bytes)}));

    // A team member saves it; the list gives back the same bytes with the
    // signer's certificate; a colleague's key opens it.
    let saved: TeamTemplate = expect(
        app.call(Method::PUT, &path, Some(world.staff.token()), body(&sealed))
            .await,
        200,
    )
    .await;
    assert_eq!(saved.sealed, sealed);
    let list: TemplateList = expect(
        app.call(
            Method::GET,
            &format!("/v1/teams/{team}/templates"),
            Some(world.staff.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(list.templates.len(), 1);
    assert!(list.templates[0].signer_certificate.is_some());
    let opened = Envelope::decode(&list.templates[0].sealed)
        .unwrap()
        .open(
            &DeliveryContext {
                thread_id: as_thread,
                message_id: template,
            },
            &world.team_key,
        )
        .unwrap();
    assert_eq!(&opened.payload[..], &text[..]);

    // Someone outside the team (the clerk) neither reads nor writes them.
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let p = if method == Method::GET {
            format!("/v1/teams/{team}/templates")
        } else {
            path.clone()
        };
        let b = (method == Method::PUT)
            .then(|| json!({"sealed": samtale_protocol::b64::encode(&sealed)}));
        let status = app
            .call(method.clone(), &p, Some(world.clerk.token()), b)
            .await
            .status();
        assert!(
            status == 403 || status == 404,
            "{method} by the clerk: {status}"
        );
    }
    // Bytes for another template id, or signed by another device, or not an
    // envelope at all, or too large: refused, and the stored one is intact.
    let other = seal(MessageId::random().unwrap());
    expect_error(
        app.call(Method::PUT, &path, Some(world.staff.token()), body(&other))
            .await,
        400,
        ErrorCode::InvalidEnvelope,
    )
    .await;
    let by_admin = Envelope::seal(
        &world.admin.device,
        as_thread,
        template,
        &[world.team_key.public()],
        b"{}",
    )
    .unwrap()
    .into_bytes();
    expect_error(
        app.call(
            Method::PUT,
            &path,
            Some(world.staff.token()),
            body(&by_admin),
        )
        .await,
        400,
        ErrorCode::InvalidEnvelope,
    )
    .await;
    expect_error(
        app.call(
            Method::PUT,
            &path,
            Some(world.staff.token()),
            body(b"not an envelope"),
        )
        .await,
        400,
        ErrorCode::InvalidEnvelope,
    )
    .await;
    expect_error(
        app.call(
            Method::PUT,
            &path,
            Some(world.staff.token()),
            body(&vec![1u8; 17 * 1024]),
        )
        .await,
        413,
        ErrorCode::TooLarge,
    )
    .await;
    let list: TemplateList = expect(
        app.call(
            Method::GET,
            &format!("/v1/teams/{team}/templates"),
            Some(world.staff.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    assert_eq!(list.templates[0].sealed, sealed);

    // Deleting: audited, content-free; a second delete is 404.
    assert_eq!(
        app.call(Method::DELETE, &path, Some(world.staff.token()), None)
            .await
            .status(),
        204
    );
    expect_error(
        app.call(Method::DELETE, &path, Some(world.staff.token()), None)
            .await,
        404,
        ErrorCode::NotFound,
    )
    .await;
    let log = entries(&app, AuditFilter::default()).await;
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert!(actions.contains(&"template.save") && actions.contains(&"template.delete"));
    assert!(!as_text(&log).contains("Ring"));
    app.stop().await;
}

// ------------------------------------------------------- the thread list

on_both_backends!(
    the_thread_list_carries_each_threads_citizens_as_its_detail_does,
    list_citizens_match_details
);
async fn list_citizens_match_details(db: &TestDatabase) {
    use samtale_protocol::wire::ThreadList;
    let app = TestApp::spawn(db).await;
    let world = World::build(&app).await;
    let (staff, team) = (&world.staff, world.team);
    let maja = world.citizen(&app, staff, team, "010203-1234").await;
    let ole = world.citizen(&app, staff, team, "020304-5678").await;
    let mut threads = vec![
        world.open_thread(&app, staff, team, &[&maja]).await,
        world.open_thread(&app, staff, team, &[&maja, &ole]).await,
        world.open_thread(&app, staff, team, &[&ole]).await,
    ];
    // Enough threads to need more than one query chunk.
    for _ in 0..501 {
        threads.push(world.open_thread(&app, staff, team, &[&ole]).await);
    }
    let list: ThreadList = expect(
        app.call(Method::GET, "/v1/threads", Some(staff.token()), None)
            .await,
        200,
    )
    .await;
    assert_eq!(list.threads.len(), threads.len());
    for thread in &threads[..3] {
        let listed = list
            .threads
            .iter()
            .find(|t| t.thread_id == *thread)
            .expect("listed");
        let detail: ThreadDetail = expect(
            app.call(
                Method::GET,
                &format!("/v1/threads/{thread}"),
                Some(staff.token()),
                None,
            )
            .await,
            200,
        )
        .await;
        assert_eq!(listed.citizens.as_ref(), Some(&detail.citizens));
    }
    let two = list
        .threads
        .iter()
        .find(|t| t.thread_id == threads[1])
        .unwrap();
    assert_eq!(two.citizens.as_ref().map(Vec::len), Some(2));
    assert!(
        list.threads
            .iter()
            .all(|t| t.citizens.as_ref().is_some_and(|c| !c.is_empty()))
    );
    app.stop().await;
}

// ------------------------------------------------------------ invitations

on_both_backends!(
    staff_list_their_teams_outstanding_invitations_and_revoke_one_whose_code_then_fails,
    invitations_list_and_revoke
);
async fn invitations_list_and_revoke(db: &TestDatabase) {
    use samtale_protocol::wire::{ConsentText, InvitationCreated, InvitationList};
    let app = TestApp::spawn(db).await;
    let world = World::build(&app).await;
    let staff = &world.staff;
    let invite = |name: &'static str, id: &'static str| {
        let app = &app;
        async move {
            let made: InvitationCreated = expect(
                app.call(
                    Method::POST,
                    "/v1/invitations",
                    Some(staff.token()),
                    Some(json!({"team_id": world.team, "national_id": id, "display_name": name})),
                )
                .await,
                201,
            )
            .await;
            made
        }
    };
    let ida = invite("Ida Berg", "010101-4444").await;
    let _ole = invite("Ole Lund", "020202-5555").await;
    // A used one is not outstanding.
    let _maja = world.citizen(&app, staff, world.team, "030303-6666").await;
    let list = |token: String| {
        let app = &app;
        async move {
            app.call(Method::GET, "/v1/invitations", Some(&token), None)
                .await
        }
    };
    let listed: InvitationList = expect(list(staff.token().to_owned()).await, 200).await;
    let names: Vec<&str> = listed
        .invitations
        .iter()
        .map(|i| i.display_name.as_str())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"Ida Berg") && names.contains(&"Ole Lund"));
    // The record clerk (no staff role) may not list them.
    expect_error(
        list(world.clerk.token().to_owned()).await,
        403,
        ErrorCode::Forbidden,
    )
    .await;

    // Revoke Ida's: gone from the list, and her code no longer signs up.
    let ida_id = listed
        .invitations
        .iter()
        .find(|i| i.display_name == "Ida Berg")
        .unwrap()
        .invitation_id
        .clone();
    let path = format!("/v1/invitations/{ida_id}");
    expect_error(
        app.call(Method::DELETE, &path, Some(world.clerk.token()), None)
            .await,
        403,
        ErrorCode::Forbidden,
    )
    .await;
    assert_eq!(
        app.call(Method::DELETE, &path, Some(staff.token()), None)
            .await
            .status(),
        204
    );
    let after: InvitationList = expect(list(staff.token().to_owned()).await, 200).await;
    assert_eq!(after.invitations.len(), 1);
    let consent: ConsentText =
        expect(app.call(Method::GET, "/v1/consent", None, None).await, 200).await;
    let device = samtale_protocol::DeviceKeys::generate().unwrap();
    expect_error(
        app.call(
            Method::POST,
            "/v1/signup",
            None,
            Some(json!({
                "code": ida.code,
                "device": serde_json::to_value(device.public()).unwrap(),
                "device_label": "Phone",
                "consent": {"version": consent.version, "text_sha256": consent.text_sha256},
            })),
        )
        .await,
        401,
        ErrorCode::AuthenticationFailed,
    )
    .await;
    expect_error(
        app.call(Method::DELETE, &path, Some(staff.token()), None)
            .await,
        404,
        ErrorCode::NotFound,
    )
    .await;
    let log = entries(&app, AuditFilter::default()).await;
    assert!(log.iter().any(|e| e.action == "invitation.revoke"));
    assert!(!as_text(&log).contains("Ida"));
    app.stop().await;
}
