//! `samtale-server`: the thin binary around the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use samtale_server::config::{self, Layer, LogFormat, Settings};
use samtale_server::startup::{Application, shutdown_signal};
use samtale_server::telemetry;

/// Samtale's server: relays end-to-end encrypted messages between municipal
/// staff and citizens and stores only ciphertext.
///
/// With no options it listens on 127.0.0.1:8080 and keeps its SQLite
/// database in ./data (created on first start). Every option can also be set
/// in a TOML file (--config) or as an environment variable; the command line
/// wins over the environment, which wins over the file.
///
/// Examples:
///
///   samtale-server
///
///   samtale-server --listen 0.0.0.0:8080 --data-dir /var/lib/samtale
///
///   SAMTALE_DATABASE_URL=postgres://samtale@db/samtale samtale-server --log-format json
///
/// Identity and messaging settings live in the file or the environment only
/// (docs/API.md lists them all), for example:
///
///   SAMTALE_PUBLIC_URL               the server's public URL (token issuer)
///   SAMTALE_ALLOWED_ORIGINS          web origins that may open /ws
///   SAMTALE_ATTACHMENT_MAX_BYTES     largest attachment (default 25 MiB)
///   SAMTALE_KEY_ROTATION_DAYS        key holder rotation period (default 30)
///   SAMTALE_NOTIFY_WEBHOOK_URL       where content-free notifications go
///   SAMTALE_NOTIFY_WEBHOOK_SECRET    their HMAC key (set both or neither)
#[derive(Debug, Parser)]
#[command(name = "samtale-server", version, verbatim_doc_comment)]
struct Args {
    /// Address and port to listen on [env: SAMTALE_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,

    /// Directory for the SQLite database [env: SAMTALE_DATA_DIR] [default: ./data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// postgres://… to use PostgreSQL instead of SQLite [env: SAMTALE_DATABASE_URL]
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,

    /// A TOML file with the same settings (listen, data_dir, database_url, log_format, log) [env: SAMTALE_CONFIG]
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Log line format [env: SAMTALE_LOG_FORMAT] [default: pretty]
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,

    /// Log filter, e.g. info or samtale_server=debug [env: SAMTALE_LOG] [default: info]
    #[arg(long, value_name = "FILTER")]
    log: Option<String>,

    #[command(subcommand)]
    command: Option<Subcommand>,
}

#[derive(Debug, clap::Subcommand)]
enum Subcommand {
    /// Print a one-time enrolment code for registering another organisation
    /// on this server, then exit. Uses the same settings as the server.
    ///
    /// Example: samtale-server --data-dir /var/lib/samtale enrol
    Enrol,
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    let command = args.command.take();
    let cli = Layer {
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url,
        log_format: args.log_format,
        log: args.log,
        ..Layer::default()
    };
    let settings = match Settings::load(cli, args.config, |k| std::env::var(k).ok()) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("samtale-server: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.log_format, &settings.log_filter);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("samtale-server: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let database = match &settings.database {
            config::DatabaseSettings::Sqlite { path } => path.display().to_string(),
            config::DatabaseSettings::Postgres { url } => url.redacted(),
        };
        if let Some(Subcommand::Enrol) = command {
            return enrol(&settings).await;
        }
        let app = match Application::build(&settings).await {
            Ok(app) => app,
            Err(error) => {
                tracing::error!(%error, "cannot start");
                eprintln!("samtale-server: {error}");
                return ExitCode::FAILURE;
            }
        };
        // Signal handlers first, so a SIGTERM right after start is handled.
        let shutdown = shutdown_signal();
        if let Some(code) = app.enrolment_code() {
            // Printed once, to the terminal only (never to the log): the
            // first admin registers the organisation with it.
            println!(
                "\nNo organisation is registered yet. The first admin's one-time enrolment code:\n\n    {code}\n\n\
                 The first admin registers the organisation with it (POST /v1/bootstrap, see\n\
                 docs/API.md). It is valid until an organisation is registered; restarting the\n\
                 server before then replaces it.\n"
            );
        }
        tracing::info!(
            address = %app.local_addr(),
            backend = app.storage().backend_name(),
            database,
            version = env!("CARGO_PKG_VERSION"),
            "listening"
        );
        match app.run_until(shutdown).await {
            Ok(()) => {
                tracing::info!("stopped cleanly");
                ExitCode::SUCCESS
            }
            Err(error) => {
                tracing::error!(%error, "server error");
                ExitCode::FAILURE
            }
        }
    })
}

/// `samtale-server enrol`: one more organisation on this server.
async fn enrol(settings: &Settings) -> ExitCode {
    let storage = match samtale_server::storage::Storage::open(&settings.database).await {
        Ok(storage) => storage,
        Err(error) => {
            eprintln!("samtale-server: {error}");
            return ExitCode::FAILURE;
        }
    };
    let now = samtale_server::auth::Clock::default().now();
    let result = samtale_server::startup::issue_enrolment_code(&storage, now).await;
    storage.close().await;
    match result {
        Ok(code) => {
            println!(
                "A one-time enrolment code for a new organisation on this server:\n\n    {code}\n\n\
                 Its first admin registers the organisation with it (POST /v1/bootstrap)."
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("samtale-server: {error}");
            ExitCode::FAILURE
        }
    }
}
