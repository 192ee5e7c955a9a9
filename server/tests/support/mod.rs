//! Shared fixtures: a fresh database per test on SQLite or PostgreSQL, and
//! an in-process application bound to a free port.

#![allow(dead_code)]

use std::path::PathBuf;

pub mod artifacts;
pub mod proxy;
pub mod world;

use samtale_server::config::{DatabaseSettings, DatabaseUrl, LogFormat, Settings};
use samtale_server::startup::Application;
use sqlx::Connection;
use tempfile::TempDir;

/// The environment variable that points the PostgreSQL suite at a server.
pub const PG_ENV: &str = "SAMTALE_TEST_DATABASE_URL";

/// Which backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh, empty database for one test.
pub struct TestDatabase {
    pub settings: DatabaseSettings,
    pub dir: TempDir,
    admin_url: Option<String>,
    name: Option<String>,
}

impl TestDatabase {
    /// `None` (after saying so loudly) when PostgreSQL is asked for but
    /// `SAMTALE_TEST_DATABASE_URL` is not set.
    pub async fn new(backend: Backend) -> Option<Self> {
        // Kept for the hygiene scanner when SAMTALE_TEST_ARTIFACTS is set.
        let dir = artifacts::temp_dir();
        match backend {
            Backend::Sqlite => Some(Self {
                settings: DatabaseSettings::Sqlite {
                    path: dir.path().join("data").join("samtale.db"),
                },
                dir,
                admin_url: None,
                name: None,
            }),
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var(PG_ENV) else {
                    // Written to the real stderr, past the test harness's capture,
                    // so a skip is visible even when the test "passes".
                    use std::io::Write;
                    let _ = writeln!(
                        std::io::stderr(),
                        "SKIPPED (PostgreSQL): {PG_ENV} is not set. `bash .ci/run` sets it; \
                         to run by hand: {PG_ENV}=postgres://postgres@127.0.0.1:5432/test cargo test"
                    );
                    return None;
                };
                let name = format!("samtale_test_{}", random_suffix());
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {PG_ENV}: {e}"));
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let url = with_database(&admin_url, &name);
                Some(Self {
                    settings: DatabaseSettings::Postgres {
                        url: url_setting(&url),
                    },
                    dir,
                    admin_url: Some(admin_url),
                    name: Some(name),
                })
            }
        }
    }

    /// Settings for an application on this database, on a free port.
    pub fn app_settings(&self) -> Settings {
        Settings {
            listen: "127.0.0.1:0".parse().expect("address"),
            data_dir: self.dir.path().join("data"),
            database: self.settings.clone(),
            log_format: LogFormat::Pretty,
            log_filter: "warn".into(),
            identity: samtale_server::config::IdentitySettings::default(),
            messaging: samtale_server::config::MessagingSettings::default(),
        }
    }

    /// Drops the PostgreSQL database (SQLite's goes with the temp dir).
    pub async fn cleanup(self) {
        if let (Some(admin), Some(name)) = (&self.admin_url, &self.name) {
            artifacts::dump_postgres(&with_database(admin, name), name);
        }
        if let (Some(admin), Some(name)) = (&self.admin_url, &self.name)
            && let Ok(mut conn) = sqlx::PgConnection::connect(admin).await
        {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await;
        }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs SQL statements directly on the database, past the server (for
    /// tests that tamper with stored data the way an intruder would).
    pub async fn execute(&self, sql: &str) {
        match &self.settings {
            DatabaseSettings::Sqlite { path } => {
                let mut conn =
                    sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
                        .await
                        .expect("open SQLite");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                conn.close().await.expect("close");
            }
            DatabaseSettings::Postgres { url } => {
                let mut conn = sqlx::PgConnection::connect(url.expose())
                    .await
                    .expect("open PostgreSQL");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
                    .execute(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"));
                conn.close().await.expect("close");
            }
        }
    }

    /// The first column of a query's rows, as bytes (BLOB or BYTEA).
    pub async fn blobs(&self, sql: &str) -> Vec<Vec<u8>> {
        match &self.settings {
            DatabaseSettings::Sqlite { path } => {
                let mut conn =
                    sqlx::SqliteConnection::connect(&format!("sqlite:{}", path.display()))
                        .await
                        .expect("open SQLite");
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            DatabaseSettings::Postgres { url } => {
                let mut conn = sqlx::PgConnection::connect(url.expose())
                    .await
                    .expect("open PostgreSQL");
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
                    .fetch_all(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self.settings {
            DatabaseSettings::Sqlite { .. } => Backend::Sqlite,
            DatabaseSettings::Postgres { .. } => Backend::Postgres,
        }
    }
}

fn url_setting(url: &str) -> DatabaseUrl {
    // Go through the real configuration loader so tests use what operators use.
    let settings = Settings::load(Default::default(), None, |k| {
        (k == "SAMTALE_DATABASE_URL").then(|| url.to_string())
    })
    .expect("database URL");
    match settings.database {
        DatabaseSettings::Postgres { url } => url,
        DatabaseSettings::Sqlite { .. } => panic!("{PG_ENV} must be a postgres:// URL"),
    }
}

/// Replaces the database name in a PostgreSQL URL.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{host_part}/{name}?{q}"),
        None => format!("{host_part}/{name}"),
    }
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    getrandom_fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn getrandom_fill(buf: &mut [u8]) {
    // Identifiers from the protocol crate's CSPRNG-backed constructor.
    let id = samtale_protocol::ThreadId::random().expect("randomness");
    buf.copy_from_slice(&id.as_bytes()[..buf.len()]);
}

/// Asserts the status and decodes the JSON body (printing it on mismatch).
pub async fn expect<T: serde::de::DeserializeOwned>(response: reqwest::Response, status: u16) -> T {
    let got = response.status().as_u16();
    let text = response.text().await.expect("response body");
    assert_eq!(got, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Asserts an error response: status and stable code.
pub async fn expect_error(
    response: reqwest::Response,
    status: u16,
    code: samtale_protocol::wire::ErrorCode,
) -> samtale_protocol::wire::ErrorBody {
    let body: samtale_protocol::wire::ErrorBody = expect(response, status).await;
    assert_eq!(body.code, code, "{}", body.message);
    body
}

/// A running in-process server.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub storage: samtale_server::storage::Storage,
    pub clock: samtale_server::auth::Clock,
    pub enrolment_code: Option<String>,
    pub relay: samtale_server::relay::Relay,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestApp {
    pub async fn spawn(db: &TestDatabase) -> Self {
        Self::spawn_with(&db.app_settings()).await
    }

    pub async fn spawn_with(settings: &Settings) -> Self {
        // Logs to SAMTALE_TEST_ARTIFACTS when set, for the hygiene scanner.
        artifacts::capture_logs();
        let app = Application::build(settings)
            .await
            .expect("application builds");
        let address = format!("http://{}", app.local_addr());
        let storage = app.storage().clone();
        let clock = app.clock().clone();
        let enrolment_code = app.enrolment_code().map(str::to_owned);
        let relay = app.relay().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            address,
            client: reqwest::Client::new(),
            storage,
            clock,
            enrolment_code,
            relay,
            shutdown: Some(tx),
            task,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("request")
    }

    /// Sends a request with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request")
    }

    /// The audit log's actions, in order.
    pub async fn audit_actions(&self) -> Vec<String> {
        self.storage
            .audit_entries(&Default::default(), 0, 1_000_000)
            .await
            .expect("audit entries")
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    /// Stops the server the way SIGTERM does and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.task
            .await
            .expect("server task")
            .expect("server stops cleanly");
    }
}

/// Runs an async test body on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:path) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn on_sqlite() {
                if let Some(db) = support::TestDatabase::new(support::Backend::Sqlite).await {
                    $body(&db).await;
                    db.cleanup().await;
                }
            }

            #[tokio::test]
            async fn on_postgres() {
                if let Some(db) = support::TestDatabase::new(support::Backend::Postgres).await {
                    $body(&db).await;
                    db.cleanup().await;
                }
            }
        }
    };
}
