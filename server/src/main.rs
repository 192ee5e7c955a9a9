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
///   SAMTALE_NATS_URL                 nats://HOST:4222 when several nodes share
///                                    one PostgreSQL database (docs/OPERATIONS.md)
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
    /// The audit log: verify its hash chain, or export it for the data
    /// protection officer. Entries hold ids, actions and times, never
    /// content.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Run the retention purge (gallring) once now, print what it deleted
    /// and exit. The server also runs it every purge_interval_minutes.
    ///
    /// Example: samtale-server --data-dir /var/lib/samtale purge
    Purge,
    /// Copy the SQLite database to FILE while the server runs (an online,
    /// consistent snapshot: SQLite's VACUUM INTO). Back up the keys
    /// directory (data/keys) once as well: a restored database needs the
    /// same token and national-id keys. PostgreSQL: use pg_dump or
    /// point-in-time recovery (docs/OPERATIONS.md).
    ///
    /// Example: samtale-server --data-dir /var/lib/samtale backup /backup/samtale-2026-12-05.db
    Backup {
        /// The new file (it must not exist yet).
        file: PathBuf,
    },
}

#[derive(Debug, clap::Subcommand)]
enum AuditCommand {
    /// Walk the hash chain from the first entry to the head. Exits 0 when
    /// every entry is intact, 1 naming the first changed, missing or
    /// inserted entry.
    ///
    /// Example: samtale-server --data-dir /var/lib/samtale audit verify
    Verify,
    /// Write entries as JSON lines (one per line; hashes in hex), filtered
    /// by subject, actor and time. The export itself is audited.
    ///
    /// Examples:
    ///
    ///   samtale-server audit export --subject 0b5f…-thread-id --output thread.jsonl
    ///
    ///   samtale-server audit export --actor 7c1e…-account-id --since 2026-01-01 --until 2026-07-01
    ///
    ///   samtale-server audit export --account 7c1e…-account-id --output maja.jsonl
    #[command(verbatim_doc_comment)]
    Export {
        /// Only entries about this object (a thread, account, team or device id)
        #[arg(long, value_name = "ID")]
        subject: Option<String>,
        /// Only entries by this account id (or `system`)
        #[arg(long, value_name = "ID")]
        actor: Option<String>,
        /// Everything about one person's account: the entries it is the
        /// subject of and those it acted in (an access request, an
        /// investigation)
        #[arg(long, value_name = "ID")]
        account: Option<String>,
        /// Only entries of this organisation id
        #[arg(long, value_name = "ID")]
        org: Option<String>,
        /// From this day (YYYY-MM-DD, UTC) or Unix time in seconds, inclusive
        #[arg(long, value_name = "DATE", value_parser = parse_time_ms)]
        since: Option<i64>,
        /// Before this day (YYYY-MM-DD, UTC) or Unix time in seconds, exclusive
        #[arg(long, value_name = "DATE", value_parser = parse_time_ms)]
        until: Option<i64>,
        /// Write here instead of standard output
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `YYYY-MM-DD` (midnight UTC) or Unix seconds, as Unix milliseconds.
fn parse_time_ms(text: &str) -> Result<i64, String> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Ok(seconds.saturating_mul(1000));
    }
    let bad = || format!("expected YYYY-MM-DD or Unix seconds, got {text:?}");
    let mut parts = text.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (y, m, d): (i64, i64, i64) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(bad());
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400_000)
}

fn main() -> ExitCode {
    // Everything the server creates (database, keys, the enrolment code
    // file, attachments) is private to its user from the start.
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
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
        match command {
            Some(Subcommand::Enrol) => return enrol(&settings).await,
            Some(Subcommand::Audit(command)) => return audit(&settings, command).await,
            Some(Subcommand::Purge) => return purge(&settings).await,
            Some(Subcommand::Backup { file }) => return backup(&settings, &file).await,
            None => {}
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
            let shown = hand_over(
                code,
                &settings.data_dir,
                "No organisation is registered yet. The first admin's one-time enrolment code",
            );
            if !shown {
                return ExitCode::FAILURE;
            }
            println!(
                "The first admin registers the organisation with it (POST /v1/bootstrap, see\n\
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

/// Shows an enrolment code once: on the terminal when standard output is
/// one, else (output redirected to a log file, a service manager's journal)
/// in a file readable only by this user in the data directory, whose path
/// is printed instead. The code never reaches a log.
fn hand_over(code: &str, data_dir: &std::path::Path, what: &str) -> bool {
    use std::io::IsTerminal;
    if std::io::stdout().is_terminal() {
        println!("\n{what}:\n\n    {code}\n");
        return true;
    }
    match samtale_server::startup::write_enrolment_code_file(data_dir, code) {
        Ok(path) => {
            println!(
                "\n{what} is in the file\n\n    {}\n\n\
                 (readable only by this user: standard output is not a terminal, so the code\n\
                 is not printed where a log could keep it).\n",
                path.display()
            );
            true
        }
        Err(error) => {
            eprintln!(
                "samtale-server: cannot write the enrolment code to {}: {error}\n\
                 Start the server on a terminal to see the code there instead.",
                data_dir
                    .join(samtale_server::startup::ENROLMENT_CODE_FILE)
                    .display()
            );
            false
        }
    }
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
            if !hand_over(
                &code,
                &settings.data_dir,
                "A one-time enrolment code for a new organisation on this server",
            ) {
                return ExitCode::FAILURE;
            }
            println!("Its first admin registers the organisation with it (POST /v1/bootstrap).");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("samtale-server: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn open_storage(settings: &Settings) -> Option<samtale_server::storage::Storage> {
    match samtale_server::storage::Storage::open(&settings.database).await {
        Ok(storage) => Some(storage),
        Err(error) => {
            eprintln!("samtale-server: {error}");
            None
        }
    }
}

/// `samtale-server backup FILE`.
async fn backup(settings: &Settings, file: &std::path::Path) -> ExitCode {
    if !matches!(
        settings.database,
        samtale_server::config::DatabaseSettings::Sqlite { .. }
    ) {
        eprintln!(
            "samtale-server: backup copies the SQLite database; on PostgreSQL use pg_dump or point-in-time recovery (docs/OPERATIONS.md)"
        );
        return ExitCode::from(2);
    }
    let Some(storage) = open_storage(settings).await else {
        return ExitCode::FAILURE;
    };
    let started = std::time::Instant::now();
    let result = storage.backup_to(file).await;
    storage.close().await;
    match result {
        Ok(bytes) => {
            println!(
                "Backed up to {} ({bytes} bytes) in {:.1} s. Keep data/keys safe as well: a restore needs the same keys.",
                file.display(),
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("samtale-server: backup failed: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `samtale-server audit verify|export`.
async fn audit(settings: &Settings, command: AuditCommand) -> ExitCode {
    use samtale_server::audit;
    let Some(storage) = open_storage(settings).await else {
        return ExitCode::FAILURE;
    };
    let code = match command {
        AuditCommand::Verify => match audit::verify_storage(&storage, |_| {}).await {
            Ok(count) => {
                println!(
                    "The audit log is intact: {count} entries, each linked to the one before."
                );
                ExitCode::SUCCESS
            }
            Err(audit::VerifyError::Chain(error)) => {
                eprintln!(
                    "samtale-server: THE AUDIT LOG DOES NOT VERIFY: {error}.\n\
                     Entries before {} are intact. Keep a copy of the database as it is now and \
                     tell the data protection officer.",
                    error.index()
                );
                ExitCode::from(1)
            }
            Err(error) => {
                eprintln!("samtale-server: {error}");
                ExitCode::from(2)
            }
        },
        AuditCommand::Export {
            subject,
            actor,
            account,
            org,
            since,
            until,
            output,
        } => {
            let filter = samtale_server::storage::records::AuditFilter {
                subject,
                actor,
                account,
                org_id: org,
                since_ms: since,
                until_ms: until,
            };
            let now_ms = samtale_server::auth::Clock::default().now_ms();
            let result = match &output {
                Some(path) => match std::fs::File::create(path) {
                    Ok(file) => {
                        let mut out = std::io::BufWriter::new(file);
                        audit::export(&storage, &filter, &mut out, now_ms).await
                    }
                    Err(error) => Err(audit::ExportError::Io(error)),
                },
                None => {
                    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
                    audit::export(&storage, &filter, &mut out, now_ms).await
                }
            };
            match result {
                Ok(count) => {
                    eprintln!(
                        "{count} audit entries exported{}.",
                        output
                            .as_ref()
                            .map(|p| format!(" to {}", p.display()))
                            .unwrap_or_default()
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("samtale-server: {error}");
                    ExitCode::from(2)
                }
            }
        }
    };
    storage.close().await;
    code
}

/// `samtale-server purge`.
async fn purge(settings: &Settings) -> ExitCode {
    let Some(storage) = open_storage(settings).await else {
        return ExitCode::FAILURE;
    };
    let clock = samtale_server::auth::Clock::default();
    let result = samtale_server::retention::run_once(&storage, &clock).await;
    storage.close().await;
    match result {
        Ok(r) if r.another_purge_running => {
            println!(
                "Another node's retention purge is running now; nothing was done. Run it again when that one is done."
            );
            ExitCode::SUCCESS
        }
        Ok(r) => {
            println!(
                "Retention purge done: {} threads deleted, {} messages, {} attachments and {} receipts deleted; {} due threads left alone because they are on hold.",
                r.threads_deleted,
                r.messages_deleted,
                r.attachments_deleted,
                r.receipts_deleted,
                r.threads_on_hold
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("samtale-server: retention purge failed: {error}");
            ExitCode::FAILURE
        }
    }
}
