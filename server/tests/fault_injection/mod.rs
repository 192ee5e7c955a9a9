//! Helpers for the fault suite: the real `samtale-server` binary on a
//! populated data directory, SQLite's own consistency check, and a
//! replayable random source; relay clients in [`relay`], a small
//! filesystem in [`disk`].

pub mod disk;
pub mod relay;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use samtale_protocol::{HolderPublicKey, MessageId, ThreadId};
use samtale_server::config::{DatabaseSettings, Settings};
use serde_json::Value;

use crate::support::world::{Citizen, World, recipients};
use crate::support::{self, TestApp, TestDatabase};
use relay::Traffic;

const BIN: &str = env!("CARGO_BIN_EXE_samtale-server");

/// The longest any single answer may take before a case fails as a hang.
pub const ANSWER: Duration = Duration::from_secs(20);

/// Writes a line to the real stderr, past the test harness's capture, so
/// that the figures show in CI's log.
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

// ------------------------------------------------------------------ fixture

/// A thread between the team and one citizen, with the keys a message to
/// it is sealed to.
pub struct Conversation {
    pub thread: ThreadId,
    pub citizen: Citizen,
    pub recipients: Vec<HolderPublicKey>,
}

/// An organisation with two threads, made by the in-process application
/// (the same code) before the binary starts on the same database and data
/// directory: the binary then knows the accounts, and the tokens (signed
/// with the key file in the data directory) are valid there.
pub struct Fixture {
    pub world: World,
    pub conversations: Vec<Conversation>,
    /// The directory holding the key files (and SQLite's database).
    pub data_dir: PathBuf,
    /// `--database-url` for PostgreSQL.
    pub database_url: Option<String>,
    /// SQLite's database file.
    pub sqlite_file: Option<PathBuf>,
}

impl Fixture {
    pub async fn new(db: &TestDatabase) -> Fixture {
        Fixture::with_settings(&db.app_settings()).await
    }

    pub async fn with_settings(settings: &Settings) -> Fixture {
        let app = TestApp::spawn_with(settings).await;
        let world = World::build(&app).await;
        let mut conversations = Vec::new();
        for national_id in ["070761-4285", "121282-3916"] {
            let citizen = world
                .citizen(&app, &world.staff, world.team, national_id)
                .await;
            let thread = world
                .open_thread(&app, &world.staff, world.team, &[&citizen])
                .await;
            let recipients = recipients(&app, &world.staff, thread).await;
            conversations.push(Conversation {
                thread,
                citizen,
                recipients,
            });
        }
        app.stop().await;
        let (database_url, sqlite_file) = match &settings.database {
            DatabaseSettings::Sqlite { path } => (None, Some(path.clone())),
            DatabaseSettings::Postgres { url } => (Some(url.expose().to_owned()), None),
        };
        Fixture {
            world,
            conversations,
            data_dir: settings.data_dir.clone(),
            database_url,
            sqlite_file,
        }
    }

    /// Starts the binary on the fixture's data (`name` labels its log).
    pub fn start(&self, name: &str) -> Binary {
        let issuer = samtale_server::config::IdentitySettings::default().public_url;
        Binary::start(
            name,
            &self.data_dir,
            self.database_url.as_deref(),
            &[
                // Senders here are fast on purpose: writes must be in flight.
                ("SAMTALE_WS_FRAMES_PER_SECOND", "100000"),
                // The issuer the in-process application signed the tokens as.
                ("SAMTALE_PUBLIC_URL", &issuer),
            ],
        )
    }

    /// Every sender of the fixture: the caseworker and the citizen in each
    /// thread, one connection each.
    pub fn senders(&self) -> Vec<Traffic<'_>> {
        let mut out = Vec::new();
        for c in &self.conversations {
            for sender in [&self.world.staff, &c.citizen.actor] {
                out.push(Traffic {
                    sender,
                    thread: c.thread,
                    recipients: &c.recipients,
                });
            }
        }
        out
    }

    /// `PRAGMA integrity_check` on the SQLite file (`None` on PostgreSQL).
    pub async fn integrity_check(&self) -> Option<String> {
        let path = self.sqlite_file.as_ref()?;
        Some(integrity_check(path).await)
    }
}

/// SQLite's answer to `PRAGMA integrity_check` (`ok` when nothing is
/// wrong), read with the server's own driver.
pub async fn integrity_check(path: &Path) -> String {
    use sqlx::Connection;
    let url = format!("sqlite://{}", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&mut conn)
        .await
        .expect("integrity_check");
    conn.close().await.expect("close");
    rows.join("\n")
}

// ------------------------------------------------------------- the binary

/// The real server binary, running on a data directory.
pub struct Binary {
    child: Child,
    pub address: String,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Binary {
    pub fn start(
        name: &str,
        data_dir: &Path,
        database_url: Option<&str>,
        envs: &[(&str, &str)],
    ) -> Binary {
        let mut command = Command::new(BIN);
        command
            .args([
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                "json",
                "--data-dir",
            ])
            .arg(data_dir)
            .env_remove("SAMTALE_DATABASE_URL")
            .env_remove("SAMTALE_CONFIG")
            .env_remove("SAMTALE_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("spawn samtale-server");
        let lines = Arc::new(Mutex::new(Vec::new()));
        // With SAMTALE_TEST_ARTIFACTS set, the output is also kept for the
        // hygiene scanner.
        let sink = support::artifacts::log_file(&format!("faults-{name}"))
            .map(|f| Arc::new(Mutex::new(f)));
        for stream in [
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().expect("stderr")),
        ] {
            let lines = lines.clone();
            let sink = sink.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(sink) = &sink {
                        let _ = writeln!(sink.lock().unwrap(), "{line}");
                    }
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let mut server = Binary {
            child,
            address: String::new(),
            lines,
        };
        let listening = server.wait_for_log("\"listening\"", Duration::from_secs(60));
        let json: Value = serde_json::from_str(&listening).expect("a JSON log line");
        server.address = json["address"].as_str().expect("address").to_owned();
        server
    }

    /// The first log line containing `needle`, waiting up to `wait`.
    pub fn wait_for_log(&mut self, needle: &str, wait: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(line) = self.log().into_iter().find(|l| l.contains(needle)) {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // The reader threads may still hold the last lines.
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "the server exited ({status}); output:\n{}",
                    self.log().join("\n")
                );
            }
            assert!(
                start.elapsed() < wait,
                "no log line containing {needle:?} within {wait:?}; output:\n{}",
                self.log().join("\n")
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.address)
    }

    pub fn http_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// SIGKILL: no handler runs, nothing is flushed by the server.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let status = self.child.wait().expect("reap");
        assert!(!status.success(), "killed, not exited: {status}");
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        use rustix::process::{Pid, Signal, kill_process};
        kill_process(Pid::from_child(&self.child), Signal::TERM).expect("SIGTERM");
    }

    /// Waits up to `wait` for the process to exit, without blocking the
    /// runtime (clients keep running meanwhile).
    pub async fn exited_within(&mut self, wait: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < wait {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.child.try_wait().expect("try_wait")
    }

    /// Asserts the process is still running.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "the server exited ({status}); output:\n{}",
                self.log().join("\n")
            );
        }
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ------------------------------------------------------------ randomness

/// A small deterministic generator, seeded from `SAMTALE_FAULTS_SEED` when
/// set (to replay a run) or from the operating system.
pub struct Rng(u64);

impl Rng {
    pub fn new(what: &str) -> Rng {
        let seed = match std::env::var("SAMTALE_FAULTS_SEED") {
            Ok(s) => s.parse().expect("SAMTALE_FAULTS_SEED is a number"),
            Err(_) => {
                let id = MessageId::random().unwrap();
                u64::from_le_bytes(id.as_bytes()[..8].try_into().unwrap())
            }
        };
        report(&format!(
            "{what}: seed {seed} (SAMTALE_FAULTS_SEED={seed} replays it)"
        ));
        Rng(seed | 1)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Waits until `counter` reaches `n` (`what` names it if it never does).
pub async fn until_at_least(counter: &AtomicUsize, n: usize, what: &str) {
    let start = Instant::now();
    while counter.load(Ordering::SeqCst) < n {
        assert!(
            start.elapsed() < ANSWER,
            "{what}: fewer than {n} within {ANSWER:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
