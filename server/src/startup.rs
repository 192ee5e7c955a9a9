//! Building and running the server: bind, open storage, serve, shut down.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::{
    self, Clock, ENROLMENT_DOMAIN, NationalIdHasher, PasswordError, Passwords, SecretError,
    SecretKey, Tokens,
};
use crate::config::Settings;
use crate::http::{AppState, router};
use crate::storage::{Storage, StorageError};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listen address could not be bound.
    #[error(
        "cannot listen on {address}: {source} (is another server running there? set SAMTALE_LISTEN or --listen)"
    )]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A server key could not be loaded.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// The password hasher could not be set up.
    #[error("cannot set up password hashing: {0}")]
    Passwords(#[from] PasswordError),
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Randomness,
    /// The bus between nodes could not be set up.
    #[error(transparent)]
    Bus(#[from] crate::relay::nats::NatsError),
    /// The HTTP client for eID brokers could not be built.
    #[error("cannot set up an HTTP client (eID brokers, notification webhook): {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// Makes a one-time enrolment code for registering another organisation on
/// this server (`samtale-server enrol`). Only its hash is stored; the code
/// is returned to be shown once.
pub async fn issue_enrolment_code(storage: &Storage, now: i64) -> Result<String, StartError> {
    let code = auth::new_code(ENROLMENT_DOMAIN).map_err(|_| StartError::Randomness)?;
    storage.add_enrolment_code(&code.hash, now).await?;
    Ok(code.text.to_string())
}

/// Where an enrolment code goes when standard output is not a terminal,
/// in the data directory.
pub const ENROLMENT_CODE_FILE: &str = "enrolment-code";

/// Writes an enrolment code to [`ENROLMENT_CODE_FILE`] in `data_dir` (made
/// `0700` if new), readable only by this user, replacing an older one.
pub fn write_enrolment_code_file(data_dir: &Path, code: &str) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join(ENROLMENT_CODE_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // An existing file keeps its mode when opened: put it right first.
        match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    let mut file = options.open(&path)?;
    writeln!(file, "{code}")?;
    file.sync_all()?;
    Ok(path)
}

/// A server that is bound and ready to serve.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    state: AppState,
    enrolment_code: Option<String>,
    purge_job: Option<tokio::task::JoinHandle<()>>,
    capacity: crate::http::serve::Capacity,
}

/// Loads a server key from its setting, or from (creating) its file in the
/// data directory.
fn server_key(
    setting: Option<&crate::config::SecretText>,
    settings: &Settings,
    file: &str,
    what: &'static str,
) -> Result<SecretKey, SecretError> {
    match setting {
        Some(text) => SecretKey::from_base64(&text.0, what),
        None => SecretKey::load_or_create(&settings.data_dir.join("keys").join(file), what),
    }
}

impl Application {
    /// Opens storage (running migrations) and binds the listen address.
    /// Port 0 picks a free port; [`Application::local_addr`] tells which.
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        let storage = Storage::open_sized(
            &settings.database,
            settings.messaging.database_max_connections,
        )
        .await?;
        let identity = &settings.identity;
        let token_key = server_key(
            identity.token_key.as_ref(),
            settings,
            "token.key",
            "token_key (SAMTALE_TOKEN_KEY)",
        )?;
        let national_id_key = server_key(
            identity.national_id_key.as_ref(),
            settings,
            "national-id.key",
            "national_id_key (SAMTALE_NATIONAL_ID_KEY)",
        )?;
        // TLS for fetching eID brokers' keys uses ring (installed once per process).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let eid = crate::eid::EidVerifier::new(&identity.eid)?;
        let clock = Clock::default();
        let messaging = &settings.messaging;
        let hub = crate::relay::Hub::default();
        let policy = crate::relay::PolicyVersion::default();
        let bus: std::sync::Arc<dyn crate::relay::Bus> = match &messaging.nats_url {
            None => {
                std::sync::Arc::new(crate::relay::InProcessBus::new(hub.clone(), policy.clone()))
            }
            Some(url) => {
                let clock = clock.clone();
                crate::relay::nats::NatsBus::start(url, hub.clone(), policy.clone(), move || {
                    u64::try_from(clock.now_ms()).unwrap_or(0)
                })
                .await?
            }
        };
        let notifier = crate::notify::Notifier::spawn(
            messaging,
            storage.clone(),
            clock.clone(),
            hub.clone(),
            bus.clone(),
        )?;
        let purge_job = crate::retention::spawn(
            storage.clone(),
            clock.clone(),
            messaging.purge_interval_minutes,
        );
        let metrics = std::sync::Arc::new(crate::metrics::Metrics::default());
        let writer = crate::relay::writer::spawn(
            storage.clone(),
            clock.clone(),
            bus.clone(),
            notifier,
            metrics.clone(),
        );
        let relay = crate::relay::Relay {
            hub,
            bus,
            writer,
            policy,
            metrics,
        };
        let state = AppState {
            relay,
            allowed_origins: messaging.allowed_origins.clone().into(),
            metrics_allowed: messaging.metrics_allowed.clone().into(),
            ws_frames_per_second: messaging.ws_frames_per_second,
            key_rotation_days: messaging.key_rotation_days,
            attachment_max_bytes: messaging.attachment_max_bytes,
            web_app: messaging.web_app,
            eid_flow_key: crate::auth::EidFlowKey::new(token_key.clone()),
            storage: storage.clone(),
            passwords: Passwords::new(2)?,
            tokens: Tokens::new(
                &token_key,
                &identity.public_url,
                i64::from(identity.access_token_minutes) * 60,
                30 * 86_400,
            ),
            national_ids: NationalIdHasher::new(national_id_key),
            invitation_ttl_days: identity.invitation_ttl_days,
            public_url: identity.public_url.trim_end_matches('/').into(),
            eid,
            limits: if storage.is_shared() {
                crate::limits::Limits::shared(
                    identity.trusted_proxies.clone(),
                    &storage,
                    token_key.clone(),
                )
            } else {
                crate::limits::Limits::new(identity.trusted_proxies.clone())
            },
            clock: clock.clone(),
        };
        // Until an organisation exists, each start makes a fresh one-time
        // enrolment code for the first admin (only its hash is stored),
        // unless another node of the deployment is the one that does.
        let enrolment_code = if storage.has_organisation().await? {
            None
        } else if !settings.messaging.first_admin_code {
            tracing::info!(
                "no organisation is registered yet; another node makes the first admin's \
                 enrolment code (first_admin_code is false here): see that node's log"
            );
            None
        } else {
            let code = auth::new_code(ENROLMENT_DOMAIN).map_err(|_| StartError::Randomness)?;
            storage
                .replace_enrolment_code(&code.hash, clock.now())
                .await?;
            Some(code.text.to_string())
        };
        let listener =
            TcpListener::bind(settings.listen)
                .await
                .map_err(|source| StartError::Bind {
                    address: settings.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            address: settings.listen,
            source,
        })?;
        let (open_files, before) = crate::http::serve::raise_open_files_limit();
        let capacity = crate::http::serve::Capacity::fitted(
            messaging.max_connections as usize,
            messaging.max_connections_per_address as usize,
            Duration::from_secs(u64::from(messaging.header_timeout_seconds)),
            identity.trusted_proxies.clone(),
            open_files,
        );
        tracing::info!(
            open_files,
            raised_from = before,
            connections = capacity.max,
            reserve = capacity.reserve,
            per_address = capacity.per_address,
            "serving up to {} connections ({} more for health checks and signed-in clients)",
            capacity.max,
            capacity.reserve
        );
        Ok(Self {
            listener,
            local_addr,
            state,
            enrolment_code,
            purge_job,
            capacity,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The storage handle (for tests and jobs).
    pub fn storage(&self) -> &Storage {
        &self.state.storage
    }

    /// The server's clock; tests move it forward.
    pub fn clock(&self) -> &Clock {
        &self.state.clock
    }

    /// The message relay (for tests and benchmarks: commit counters, hub).
    pub fn relay(&self) -> &crate::relay::Relay {
        &self.state.relay
    }

    /// The one-time enrolment code for the first admin, when no
    /// organisation exists yet. Shown once: only its hash is stored.
    pub fn enrolment_code(&self) -> Option<&str> {
        self.enrolment_code.as_deref()
    }

    /// Serves until `shutdown` completes, lets in-flight requests finish,
    /// then closes the database.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let storage = self.state.storage.clone();
        let hub = self.state.relay.hub.clone();
        let purge_job = self.purge_job;
        let capacity = self.capacity.clone();
        let app = router(self.state);
        let served = crate::http::serve::serve(
            self.listener,
            app,
            capacity,
            async move {
                shutdown.await;
                // WebSockets are not requests: tell them to reconnect elsewhere.
                hub.going_away();
            },
            Duration::from_secs(10),
        )
        .await;
        if let Some(job) = purge_job {
            job.abort();
        }
        storage.close().await;
        served
    }
}

/// Completes on SIGTERM or Ctrl-C. The handlers are installed when this is
/// called (not when the future is first polled), so a signal that arrives
/// right after start-up is never lost to the default action.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    #[cfg(unix)]
    let interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    async move {
        #[cfg(unix)]
        {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => tokio::select! {
                    _ = terminate.recv() => tracing::info!("SIGTERM received, shutting down"),
                    _ = interrupt.recv() => tracing::info!("Ctrl-C received, shutting down"),
                },
                (Err(error), _) | (_, Err(error)) => {
                    tracing::error!(%error, "cannot listen for SIGTERM or Ctrl-C");
                    std::future::pending::<()>().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(error) = tokio::signal::ctrl_c().await {
                tracing::error!(%error, "cannot listen for Ctrl-C");
                std::future::pending::<()>().await;
            }
            tracing::info!("Ctrl-C received, shutting down");
        }
    }
}
