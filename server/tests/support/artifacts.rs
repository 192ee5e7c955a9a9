//! What the suites' servers write, left behind for the hygiene scanner
//! (`tests/hygiene/scan.py`).
//!
//! With `SAMTALE_TEST_ARTIFACTS=DIR` set: temporary data directories
//! (SQLite databases with their WAL, key files) are kept in DIR instead of
//! deleted, PostgreSQL test databases are dumped there (`pg_dump`) before
//! they are dropped, in-process servers log to `DIR/logs/` (JSON; the
//! filter is [`LOG_FILTER`] unless `SAMTALE_TEST_ARTIFACTS_LOG` is set),
//! and tests that run the server binary keep its output there. Unset,
//! nothing changes.

use std::fs::File;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use tempfile::TempDir;

/// The environment variable naming the directory.
pub const ARTIFACTS_ENV: &str = "SAMTALE_TEST_ARTIFACTS";

/// Everything the server's own code logs, with the database driver, the
/// HTTP layer and axum at DEBUG. The rest stays at INFO: these logs come
/// from the test process, which is also the client, and at TRACE
/// tungstenite logs every frame a client sends, with the token in the
/// handshake and in an `auth` frame.
pub const LOG_FILTER: &str = "info,samtale_server=trace,sqlx=debug,tower_http=debug,axum=debug";

/// The artifacts directory, when one is asked for (created if missing).
pub fn dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os(ARTIFACTS_ENV)?);
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("{ARTIFACTS_ENV}={}: {e}", dir.display()));
    Some(dir)
}

/// This test binary's name without cargo's hash (`relay`, `faults`).
fn label() -> String {
    let exe = std::env::current_exe().unwrap_or_default();
    let stem = exe
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.chars().all(|c| c.is_ascii_hexdigit()) => name.to_owned(),
        _ => stem,
    }
}

/// A temporary directory: kept in the artifacts directory when there is
/// one, else an ordinary one deleted on drop.
pub fn temp_dir() -> TempDir {
    match dir() {
        Some(root) => {
            let mut dir = tempfile::Builder::new()
                .prefix(&format!("{}-", label()))
                .tempdir_in(root)
                .expect("a directory in the artifacts directory");
            dir.disable_cleanup(true);
            dir
        }
        None => tempfile::tempdir().expect("temporary directory"),
    }
}

/// A new, kept log file `DIR/logs/NAME-….log` (`None` without a directory).
pub fn log_file(name: &str) -> Option<File> {
    let logs = dir()?.join("logs");
    std::fs::create_dir_all(&logs).expect("the logs directory");
    let (file, _) = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .suffix(".log")
        .tempfile_in(logs)
        .expect("a log file")
        .keep()
        .expect("keep the log file");
    Some(file)
}

/// Sends the in-process servers' logs of this test binary to a file in
/// the artifacts directory (once; a test that installed its own subscriber
/// first keeps it).
pub fn capture_logs() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let Some(file) = log_file(&label()) else {
            return;
        };
        let level =
            std::env::var("SAMTALE_TEST_ARTIFACTS_LOG").unwrap_or_else(|_| LOG_FILTER.into());
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_env_filter(tracing_subscriber::EnvFilter::new(level))
            .with_writer(Mutex::new(file))
            .try_init();
    });
}

/// Dumps a PostgreSQL database to `DIR/postgres/NAME.sql` (plain SQL,
/// data and schema) before it is dropped; nothing without a directory.
pub fn dump_postgres(url: &str, name: &str) {
    let Some(root) = dir() else { return };
    let out = root.join("postgres");
    std::fs::create_dir_all(&out).expect("the postgres directory");
    let file = out.join(format!("{}-{name}.sql", label()));
    let status = std::process::Command::new("pg_dump")
        .args(["--no-owner", "--no-privileges", "--file"])
        .arg(&file)
        .arg(url)
        .status()
        .unwrap_or_else(|e| panic!("{ARTIFACTS_ENV} is set but pg_dump cannot run: {e}"));
    assert!(status.success(), "pg_dump of {name} failed: {status}");
}

/// Copies the files of `from` (a data directory about to disappear, such
/// as one on a filesystem that is unmounted) into a kept directory; nothing
/// without an artifacts directory.
pub fn keep_copy(from: &std::path::Path, name: &str) {
    let Some(root) = dir() else { return };
    let to = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir_in(root)
        .expect("a directory in the artifacts directory")
        .keep();
    copy_tree(from, &to);
}

fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).expect("create a directory");
    for entry in std::fs::read_dir(from).expect("read a directory").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a file");
        }
    }
}
