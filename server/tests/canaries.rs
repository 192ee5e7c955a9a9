//! Plaintext canaries: random markers sent through every path (message
//! text, subject, attachment) never appear in the SQLite file and its WAL,
//! in a PostgreSQL dump, or in the server's logs at TRACE level, in raw,
//! hex or base64 form, while the recipients do decrypt them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use base64::Engine as _;
use reqwest::Method;
use samtale_protocol::wire::{AttachmentStored, MessagePage};
use samtale_protocol::{Envelope, MessageId};
use samtale_server::config::DatabaseSettings;
use support::world::{World, Ws, my_keys, open, recipients, send_frame};
use support::{TestApp, TestDatabase, expect};

/// Everything the server logs in this test binary, at TRACE.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer: Arc<Mutex<Vec<u8>>> = Arc::default();
        let sink = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .try_init();
        buffer
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn marker() -> String {
    let id = MessageId::random().unwrap();
    format!("KANARIE{}", hex::encode(id.as_bytes()))
}

/// The forms a marker could leak in: raw, hex (both cases), and base64
/// (standard and URL-safe) at each of the three byte alignments.
fn forms(marker: &str) -> Vec<Vec<u8>> {
    let bytes = marker.as_bytes();
    let mut out = vec![
        bytes.to_vec(),
        hex::encode(bytes).into_bytes(),
        hex::encode_upper(bytes).into_bytes(),
    ];
    for start in 0..3 {
        let aligned = &bytes[start..start + 30];
        out.push(
            base64::engine::general_purpose::STANDARD_NO_PAD
                .encode(aligned)
                .into_bytes(),
        );
        out.push(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(aligned)
                .into_bytes(),
        );
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn leaks(haystack: &[u8], markers: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for m in markers {
        for (i, form) in forms(m).iter().enumerate() {
            if contains(haystack, form) {
                found.push(format!("{m} (form {i})"));
            }
        }
    }
    found
}

#[test]
fn the_scanner_finds_markers_in_every_form() {
    let m = marker();
    for prefix in ["", "a", "ab"] {
        let text = format!("{prefix}{m}tail");
        let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
        assert!(!leaks(b64.as_bytes(), std::slice::from_ref(&m)).is_empty());
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text.as_bytes());
        assert!(!leaks(url.as_bytes(), std::slice::from_ref(&m)).is_empty());
    }
    assert!(
        !leaks(
            hex::encode(format!("x{m}")).as_bytes(),
            std::slice::from_ref(&m)
        )
        .is_empty()
    );
    assert!(leaks(b"nothing here", &[m]).is_empty());
}

async fn markers_never_reach_the_database_or_the_logs(db: &TestDatabase) {
    let logs = logs();
    let app = TestApp::spawn(db).await;
    let world = World::build(&app).await;
    let maja = world
        .citizen(&app, &world.staff, world.team, "170117-7777")
        .await;
    let thread = world
        .open_thread(&app, &world.staff, world.team, &[&maja])
        .await;
    let to = recipients(&app, &world.staff, thread).await;
    let (text, subject, file) = (marker(), marker(), marker());

    // The attachment: sealed by the client (here with the envelope
    // construction) and uploaded as an opaque blob.
    let attachment_id = MessageId::random().unwrap();
    let sealed_file = Envelope::seal(
        &world.staff.device,
        thread,
        attachment_id,
        &to,
        format!("PDF-indhold {file}").as_bytes(),
    )
    .unwrap();
    let stored: AttachmentStored = expect(
        app.client
            .post(format!("{}/v1/threads/{thread}/attachments", app.address))
            .bearer_auth(world.staff.token())
            .header("content-type", "application/octet-stream")
            .body(sealed_file.as_bytes().to_vec())
            .send()
            .await
            .unwrap(),
        201,
    )
    .await;
    let payload = serde_json::json!({
        "subject": format!("Sag {subject}"),
        "text": format!("Hej Maja {text}"),
        "attachments": [{"id": stored.attachment_id, "envelope_id": attachment_id}],
    })
    .to_string();
    let id = MessageId::random().unwrap();
    let envelope =
        Envelope::seal(&world.staff.device, thread, id, &to, payload.as_bytes()).unwrap();
    let mut ws = Ws::connect(&app, world.staff.token()).await;
    ws.send_and_ack(&send_frame(thread, id, envelope.as_bytes()))
        .await
        .unwrap();

    // Positive control: the citizen decrypts all three markers.
    let keys = my_keys(&app, &maja.actor).await;
    let page: MessagePage = expect(
        app.call(
            Method::GET,
            &format!("/v1/threads/{thread}/messages"),
            Some(maja.actor.token()),
            None,
        )
        .await,
        200,
    )
    .await;
    let opened =
        String::from_utf8(open(thread, id, &page.messages[0].envelope, &keys).unwrap()).unwrap();
    assert!(opened.contains(&text) && opened.contains(&subject));
    let blob = app
        .call(
            Method::GET,
            &format!("/v1/attachments/{}", stored.attachment_id),
            Some(maja.actor.token()),
            None,
        )
        .await
        .bytes()
        .await
        .unwrap();
    let file_text = String::from_utf8(open(thread, attachment_id, &blob, &keys).unwrap()).unwrap();
    assert!(file_text.contains(&file));

    let markers = [text, subject, file];
    // The database, as stored on disk (SQLite file and WAL) or dumped.
    match &db.settings {
        DatabaseSettings::Sqlite { path } => {
            let mut scanned = 0;
            for suffix in ["", "-wal", "-shm"] {
                let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
                if let Ok(bytes) = std::fs::read(&file) {
                    scanned += bytes.len();
                    let found = leaks(&bytes, &markers);
                    assert!(found.is_empty(), "{} holds {found:?}", file.display());
                }
            }
            assert!(scanned > 0);
        }
        DatabaseSettings::Postgres { url } => {
            let dump = std::process::Command::new("pg_dump")
                .arg("--no-owner")
                .arg(url.expose())
                .output()
                .expect("pg_dump is installed");
            assert!(
                dump.status.success(),
                "{}",
                String::from_utf8_lossy(&dump.stderr)
            );
            assert!(contains(&dump.stdout, b"COPY public.messages"));
            let found = leaks(&dump.stdout, &markers);
            assert!(found.is_empty(), "the dump holds {found:?}");
        }
    }
    // The logs, at TRACE.
    let logged = logs.lock().unwrap().clone();
    assert!(!logged.is_empty(), "TRACE logging captured nothing");
    let found = leaks(&logged, &markers);
    assert!(found.is_empty(), "the logs hold {found:?}");
    app.stop().await;
}
on_both_backends!(canaries, markers_never_reach_the_database_or_the_logs);
