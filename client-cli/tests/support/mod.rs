//! Shared fixtures for the client's tests: a real server on a free port,
//! the real `samtale` binary run with its own home directory per test, the
//! real OpenID Provider from `tests/oidc-op`, and JSON snapshots.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use samtale_server::config::{
    DatabaseSettings, EidProviderSettings, IdentitySettings, LogFormat, MessagingSettings, Settings,
};
use samtale_server::startup::Application;
use serde_json::Value;

// The server suites' helper for SAMTALE_TEST_ARTIFACTS (the hygiene
// scanner's inputs), shared rather than copied.
#[path = "../../../server/tests/support/artifacts.rs"]
pub mod artifacts;

pub const PASSPHRASE: &str = "a long keystore passphrase";
pub const PASSWORD: &str = "correct horse battery staple";

/// A running server; stopped on drop.
pub struct Server {
    pub url: String,
    pub enrolment_code: String,
    /// The relay, to drop connections as a failing node would.
    pub relay: samtale_server::relay::Relay,
    /// The SQLite database file (for tests that tamper with stored data).
    pub db_path: PathBuf,
    /// The database, for tests that tamper with it as an operator would.
    pub database: DatabaseSettings,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    /// A PostgreSQL database made for this server (admin URL, name).
    pg: Option<(String, String)>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some((admin, name)) = self.pg.take() {
            // Best effort: the test's runtime may be gone, so a thread of its own.
            let _ = std::thread::spawn(move || {
                if let Some((base, _)) = admin.rsplit_once('/') {
                    artifacts::dump_postgres(&format!("{base}/{name}"), &name);
                }
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    use sqlx::Connection;
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        )))
                        .execute(&mut conn)
                        .await;
                    }
                });
            })
            .join();
        }
    }
}

/// Which database a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The environment variable that points the PostgreSQL variants at a server.
pub const PG_ENV: &str = "SAMTALE_TEST_DATABASE_URL";

/// A value bound into tampering SQL.
#[derive(Debug, Clone)]
pub enum Val {
    Text(String),
    Blob(Vec<u8>),
    Int(i64),
}

impl From<&str> for Val {
    fn from(s: &str) -> Val {
        Val::Text(s.to_owned())
    }
}

impl From<String> for Val {
    fn from(s: String) -> Val {
        Val::Text(s)
    }
}

impl From<Vec<u8>> for Val {
    fn from(b: Vec<u8>) -> Val {
        Val::Blob(b)
    }
}

impl From<&[u8]> for Val {
    fn from(b: &[u8]) -> Val {
        Val::Blob(b.to_vec())
    }
}

impl From<i64> for Val {
    fn from(i: i64) -> Val {
        Val::Int(i)
    }
}

macro_rules! bound {
    ($sql:expr, $binds:expr, $query:path) => {{
        let mut q = $query(sqlx::AssertSqlSafe($sql.to_owned()));
        for b in $binds {
            q = match b {
                Val::Text(t) => q.bind(t.clone()),
                Val::Blob(v) => q.bind(v.clone()),
                Val::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// Runs `$body` with `$conn` connected to the server's database, on
/// either backend (the body compiles once per driver).
macro_rules! on_db {
    ($server:expr, |$conn:ident| $body:expr) => {{
        use sqlx::Connection;
        match &$server.database {
            DatabaseSettings::Sqlite { path } => {
                let mut $conn =
                    sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
                        .await
                        .unwrap();
                $body
            }
            DatabaseSettings::Postgres { url } => {
                let mut $conn = sqlx::PgConnection::connect(url.expose()).await.unwrap();
                $body
            }
        }
    }};
}

impl Server {
    /// Runs one statement directly on the database, past the server, the
    /// way an operator with database access would. `$1`, `$2`, … are bound
    /// to `binds`. Returns the rows changed.
    pub async fn sql(&self, sql: &str, binds: &[Val]) -> u64 {
        on_db!(self, |conn| bound!(sql, binds, sqlx::query)
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .rows_affected())
    }

    /// The first column of a query's rows as bytes (BLOB or BYTEA).
    pub async fn sql_blobs(&self, sql: &str, binds: &[Val]) -> Vec<Vec<u8>> {
        on_db!(self, |conn| bound!(sql, binds, sqlx::query_scalar)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}")))
    }

    /// The first column of a query's rows as text.
    pub async fn sql_texts(&self, sql: &str, binds: &[Val]) -> Vec<String> {
        on_db!(self, |conn| bound!(sql, binds, sqlx::query_scalar)
            .fetch_all(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}")))
    }

    /// One integer (a count).
    pub async fn sql_count(&self, sql: &str, binds: &[Val]) -> i64 {
        on_db!(self, |conn| bound!(sql, binds, sqlx::query_scalar)
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}")))
    }

    /// Starts a server on `backend` (PostgreSQL: a fresh database on the
    /// server `SAMTALE_TEST_DATABASE_URL` names; `None`, said loudly, when
    /// it is not set).
    pub async fn start_on(eid: Option<&Op>, backend: Backend) -> Option<Server> {
        if backend == Backend::Sqlite {
            return Some(Server::start(eid).await);
        }
        let Ok(admin) = std::env::var(PG_ENV) else {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED (PostgreSQL): {PG_ENV} is not set. `bash .ci/run` sets it; by hand: \
                 {PG_ENV}=postgres://postgres@127.0.0.1:5432/test cargo test"
            );
            return None;
        };
        use sqlx::Connection;
        let name = format!(
            "samtale_cli_{}",
            samtale_protocol::AccountId::random()
                .unwrap()
                .to_string()
                .replace('-', "")
        );
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {PG_ENV}: {e}"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap();
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("{PG_ENV} must end in /DATABASE"),
        };
        let settings = Settings::load(Default::default(), None, |k| {
            (k == "SAMTALE_DATABASE_URL").then(|| url.clone())
        })
        .unwrap();
        let mut server = Server::start_with(eid, settings.database).await;
        server.pg = Some((admin, name));
        Some(server)
    }

    /// Starts a server on SQLite in a temporary directory, with `eid` as
    /// its eID broker if given.
    pub async fn start(eid: Option<&Op>) -> Server {
        Server::start_with(
            eid,
            DatabaseSettings::Sqlite {
                path: PathBuf::new(),
            },
        )
        .await
    }

    async fn start_with(eid: Option<&Op>, database: DatabaseSettings) -> Server {
        // Kept, and the server's logs written, for the hygiene scanner when
        // SAMTALE_TEST_ARTIFACTS is set.
        let dir = artifacts::temp_dir();
        artifacts::capture_logs();
        let database = match database {
            DatabaseSettings::Sqlite { .. } => DatabaseSettings::Sqlite {
                path: dir.path().join("data").join("samtale.db"),
            },
            other => other,
        };
        let mut identity = IdentitySettings::default();
        if let Some(op) = eid {
            identity.eid = vec![EidProviderSettings {
                issuer: op.issuer.clone(),
                client_id: op.client_id.clone(),
                jwks_url: op.jwks_uri.clone(),
                national_id_claim: "national_id".into(),
                min_assurance: "substantial".into(),
                scope: "openid national_id".into(),
                acr_values: Some(
                    "https://data.gov.dk/concept/core/nsis/loa/Substantial \
                     https://data.gov.dk/concept/core/nsis/loa/High"
                        .into(),
                ),
                web_client_id: None,
                web_client_secret: None,
            }];
        }
        let settings = Settings {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.path().join("data"),
            database: database.clone(),
            log_format: LogFormat::Pretty,
            log_filter: "warn".into(),
            identity,
            messaging: MessagingSettings::default(),
        };
        let app = Application::build(&settings).await.expect("server starts");
        let url = format!("http://{}", app.local_addr());
        let enrolment_code = app.enrolment_code().unwrap().to_owned();
        let relay = app.relay().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Server {
            url,
            enrolment_code,
            relay,
            db_path: dir.path().join("data").join("samtale.db"),
            database,
            _dir: dir,
            shutdown: Some(tx),
            pg: None,
        }
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub args: Vec<String>,
}

impl Run {
    /// Asserts success; prints everything on failure.
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code,
            0,
            "`samtale {}` failed with {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Asserts the exit code.
    pub fn code(self, code: i32) -> Run {
        assert_eq!(
            self.code,
            code,
            "`samtale {}`: expected exit {code}, got {}\n--- stdout\n{}\n--- stderr\n{}",
            self.args.join(" "),
            self.code,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Parses stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "`samtale {}` printed no JSON ({e}):\n{}\n--- stderr\n{}",
                self.args.join(" "),
                self.stdout,
                self.stderr
            )
        })
    }
}

/// The `samtale` binary with a home directory of its own.
pub struct Cli {
    pub home: tempfile::TempDir,
    pub server: String,
}

impl Cli {
    pub fn new(server: &str) -> Cli {
        Cli {
            home: tempfile::tempdir().unwrap(),
            server: server.to_owned(),
        }
    }

    pub fn command(&self, profile: &str, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_samtale"));
        c.env("SAMTALE_HOME", self.home.path())
            .env("SAMTALE_PASSPHRASE", PASSPHRASE)
            .env("SAMTALE_PASSWORD", PASSWORD)
            .env("SAMTALE_SERVER", &self.server)
            .env("NO_COLOR", "1")
            .env_remove("SAMTALE_PROFILE")
            .arg("--profile")
            .arg(profile)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs `samtale --profile PROFILE ARGS…` to completion (off the async
    /// runtime, so the in-process server keeps serving).
    pub async fn run(&self, profile: &str, args: &[&str]) -> Run {
        let mut c = self.command(profile, args);
        let mut all = vec!["--profile".to_owned(), profile.to_owned()];
        all.extend(args.iter().map(|s| (*s).to_owned()));
        let out: Output = tokio::task::spawn_blocking(move || c.output())
            .await
            .unwrap()
            .expect("the samtale binary runs");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            args: all,
        }
    }

    /// The admin certifies `user`'s device the way a person does: reads
    /// the fingerprint off the device's own screen (`whoami`) and types it.
    pub async fn certify(&self, user: &str) -> Run {
        let me = self.run(user, &["--json", "whoami"]).await.ok().json();
        let fingerprint = me["device_fingerprint"]
            .as_str()
            .expect("whoami shows the device fingerprint")
            .to_owned();
        self.run(
            "admin",
            &[
                "--json",
                "admin",
                "certify",
                user,
                "--fingerprint",
                &fingerprint,
            ],
        )
        .await
        .ok()
    }

    pub fn profile_dir(&self, profile: &str) -> PathBuf {
        self.home.path().join("profiles").join(profile)
    }
}

/// The running OpenID Provider; killed on drop.
pub struct Op {
    child: Child,
    pub issuer: String,
    pub client_id: String,
    pub jwks_uri: String,
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub const OP_ENV: &str = "SAMTALE_TEST_OIDC_OP";

/// Starts `tests/oidc-op` when `SAMTALE_TEST_OIDC_OP` points at it; says
/// loudly when it is not set.
pub fn start_op() -> Option<Op> {
    let Ok(dir) = std::env::var(OP_ENV) else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED (OpenID Provider): {OP_ENV} is not set, so the citizen joins without eID. \
             `bash .ci/run` sets it; by hand: (cd tests/oidc-op && npm ci) && {OP_ENV}=$PWD/tests/oidc-op cargo test"
        );
        return None;
    };
    let mut child = Command::new("node")
        .arg("server.js")
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `node server.js` in {dir}: {e}"));
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let info: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("the OpenID Provider did not start ({e}): {line:?}"));
    let text = |k: &str| info[k].as_str().unwrap().to_owned();
    Some(Op {
        issuer: text("issuer"),
        client_id: text("client_id"),
        jwks_uri: text("jwks_uri"),
        child,
    })
}

/// Plays the user's browser: follows the authorization URL through the
/// provider's login (as `user`) to the client's loopback redirect.
pub async fn browser_login(url: &str, user: &str) {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut url = reqwest::Url::parse(url).unwrap();
    for _ in 0..12 {
        let response = http.get(url.clone()).send().await.unwrap();
        if url.path() == "/callback" {
            assert!(
                response.status().is_success(),
                "the client's redirect page answered {}",
                response.status()
            );
            return;
        }
        let Some(location) = response.headers().get("location").cloned() else {
            panic!("{} without a redirect at {url}", response.status());
        };
        url = url.join(location.to_str().unwrap()).unwrap();
        if url.path().starts_with("/interaction/") {
            url.query_pairs_mut().append_pair("login", user);
        }
    }
    panic!("the authorization flow did not reach the client");
}

/// Replaces what differs between runs (ids, times, codes, fingerprints)
/// with placeholders, keeping the shape and every field name.
pub fn normalise(value: &Value) -> Value {
    fn key_is_volatile(k: &str) -> bool {
        k.ends_with("_id")
            || k == "id"
            || k.ends_with("_ms")
            || k.ends_with("_at")
            || k.contains("fingerprint")
            || k == "code"
            || k == "letter"
            || k == "device"
            || k == "saved"
            || k.contains("key")
            || k == "identity"
            || k == "agreement"
    }
    fn looks_like_uuid(s: &str) -> bool {
        s.len() == 36
            && s.char_indices().all(|(i, c)| {
                if [8, 13, 18, 23].contains(&i) {
                    c == '-'
                } else {
                    c.is_ascii_hexdigit()
                }
            })
    }
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if key_is_volatile(k) && !v.is_null() && !v.is_object() && !v.is_array()
                    {
                        Value::String(format!("<{k}>"))
                    } else {
                        normalise(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::String(s) if looks_like_uuid(s) => Value::String("<uuid>".into()),
        other => other.clone(),
    }
}

/// Compares `actual` with `tests/snapshots/NAME`; writes it when
/// `SAMTALE_UPDATE_SNAPSHOTS=1` (review the diff before committing).
pub fn assert_snapshot(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("snapshots")
        .join(name);
    if std::env::var_os("SAMTALE_UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}; run with SAMTALE_UPDATE_SNAPSHOTS=1 to create it, then review it:\n{actual}",
            path.display()
        )
    });
    assert!(
        expected == actual,
        "snapshot {} differs (SAMTALE_UPDATE_SNAPSHOTS=1 updates it)\n--- expected\n{expected}\n--- actual\n{actual}",
        path.display()
    );
}

/// A JSON snapshot of normalised output.
pub fn assert_json_snapshot(name: &str, value: &Value) {
    let text = serde_json::to_string_pretty(&normalise(value)).unwrap() + "\n";
    assert_snapshot(name, &text);
}
