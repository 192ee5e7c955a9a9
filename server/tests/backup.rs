//! Backup and restore of the one-node default (SQLite): `samtale-server
//! backup FILE` while messages flow gives a consistent snapshot that a
//! fresh node serves to the same clients, with the audit chain intact.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::collections::HashMap;
use std::process::Command;

use support::world::{World, Ws, my_keys, open, recipients, seal, send_frame, thread_messages};
use support::{Backend, TestApp, TestDatabase};

async fn fast_node(settings: &samtale_server::config::Settings) -> TestApp {
    let mut settings = settings.clone();
    settings.messaging.ws_frames_per_second = 100_000;
    settings.messaging.purge_interval_minutes = 0;
    TestApp::spawn_with(&settings).await
}

#[tokio::test]
async fn a_backup_taken_while_messages_flow_restores_into_a_node_that_serves_every_thread() {
    let db = TestDatabase::new(Backend::Sqlite).await.unwrap();
    let settings = db.app_settings();
    let app = fast_node(&settings).await;
    let world = World::build(&app).await;
    let maja = world
        .citizen(&app, &world.staff, world.team, "060660-6789")
        .await;
    let busy = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;
    let quiet = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;
    let to_busy = recipients(&app, &world.staff, busy).await;
    let to_quiet = recipients(&app, &world.staff, quiet).await;
    let mut ws = Ws::connect(&app, world.staff.token()).await;
    for i in 0..20 {
        let (id, env) = seal(
            &world.staff,
            quiet,
            &to_quiet,
            format!("stille {i}").as_bytes(),
        );
        ws.send_and_ack(&send_frame(quiet, id, &env)).await.unwrap();
    }
    for i in 0..100 {
        let (id, env) = seal(&world.staff, busy, &to_busy, format!("før {i}").as_bytes());
        ws.send_and_ack(&send_frame(busy, id, &env)).await.unwrap();
    }

    // Messages keep streaming into the busy thread, one after another,
    // while the backup runs in its own process, as an operator runs it.
    let file = db.dir.path().join("backup.db");
    let backup = {
        let (file, data_dir) = (file.clone(), db.data_dir());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_samtale-server"))
                .env_clear()
                .env("SAMTALE_DATA_DIR", data_dir)
                .arg("backup")
                .arg(&file)
                .output()
                .expect("run samtale-server backup")
        })
    };
    let mut acked = HashMap::new();
    let mut during = 0;
    let mut i = 0;
    while !backup.is_finished() || during == 0 {
        let (id, env) = seal(
            &world.staff,
            busy,
            &to_busy,
            format!("under {i}").as_bytes(),
        );
        let seq = ws.send_and_ack(&send_frame(busy, id, &env)).await.unwrap();
        acked.insert(seq, id);
        i += 1;
        if !backup.is_finished() {
            during += 1;
        }
    }
    let output = backup.await.unwrap();
    // And some after it.
    for j in 0..20 {
        let (id, env) = seal(
            &world.staff,
            busy,
            &to_busy,
            format!("efter {j}").as_bytes(),
        );
        let seq = ws.send_and_ack(&send_frame(busy, id, &env)).await.unwrap();
        acked.insert(seq, id);
    }
    let total = 100 + acked.len();
    assert!(
        output.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        said.contains("Backed up to") && said.contains("data/keys"),
        "{said}"
    );
    // A second backup to the same file is refused, the first left alone.
    let again = Command::new(env!("CARGO_BIN_EXE_samtale-server"))
        .env_clear()
        .env("SAMTALE_DATA_DIR", db.data_dir())
        .arg("backup")
        .arg(&file)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let original_busy = thread_messages(&app, &world.staff, busy).await;
    assert_eq!(original_busy.len(), total);
    app.stop().await;

    // Restored into a fresh node: the backup as its database, the keys
    // directory copied.
    let restored_dir = tempfile::tempdir().unwrap();
    let data = restored_dir.path().join("data");
    std::fs::create_dir_all(data.join("keys")).unwrap();
    std::fs::copy(&file, data.join("samtale.db")).unwrap();
    for entry in std::fs::read_dir(db.data_dir().join("keys")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), data.join("keys").join(entry.file_name())).unwrap();
    }
    let mut restored_settings = settings.clone();
    restored_settings.data_dir = data.clone();
    restored_settings.database = samtale_server::config::DatabaseSettings::Sqlite {
        path: data.join("samtale.db"),
    };
    let restored = fast_node(&restored_settings).await;

    // The same clients, with the same sessions: every thread is there.
    let quiet_now = thread_messages(&restored, &world.staff, quiet).await;
    assert_eq!(
        quiet_now.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    // The busy thread up to the moment of the snapshot: a prefix without
    // a gap, every message the original's.
    let busy_now = thread_messages(&restored, &world.staff, busy).await;
    let k = busy_now.len();
    assert!(
        (100..=total - 20).contains(&k),
        "{k} of {total} messages restored"
    );
    assert_eq!(busy_now[..], original_busy[..k]);
    for (seq, id) in &busy_now {
        if *seq > 100 {
            assert_eq!(acked.get(seq), Some(id));
        }
    }
    eprintln!(
        "the snapshot holds {k} of the busy thread's {total} messages; {during} were acknowledged while the backup ran"
    );
    // The citizen reads the quiet thread from the restored node.
    let mut citizen = Ws::connect(&restored, maja.actor.token()).await;
    let got = citizen.sync(quiet, 0).await;
    let keys = my_keys(&restored, &maja.actor).await;
    assert_eq!(got.len(), 20);
    for (i, (_, id, env)) in got.iter().enumerate() {
        assert_eq!(
            open(quiet, *id, env, &keys).unwrap(),
            format!("stille {i}").into_bytes()
        );
    }
    // And the audit chain verifies.
    let entries = samtale_server::audit::verify_storage(&restored.storage, |_| {})
        .await
        .expect("the restored audit chain is intact");
    assert!(entries > 0);
    restored.stop().await;
    db.cleanup().await;
}
