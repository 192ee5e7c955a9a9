//! Layered configuration: built-in defaults, then an optional TOML file, then
//! `SAMTALE_*` environment variables, then command-line flags. Secrets (the
//! database URL's password) are wrapped so that they never reach a log.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The default listen address: loopback only, so a first run exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The default data directory, relative to the working directory.
pub const DEFAULT_DATA_DIR: &str = "./data";
/// The SQLite database file inside the data directory.
pub const SQLITE_FILE: &str = "samtale.db";

/// Why the configuration could not be loaded. Each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file could not be read.
    #[error("cannot read the configuration file {path}: {source}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML of the expected shape.
    #[error("the configuration file {path} is invalid: {message}")]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A setting has an invalid value.
    #[error("{setting} is invalid: {message}")]
    Invalid {
        /// Which setting, as the user would write it.
        setting: &'static str,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (the default on a terminal).
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// A database URL whose password is never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The full URL, for the database driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return "***".into();
        };
        match rest.rsplit_once('@') {
            Some((userinfo, host)) => {
                let user = userinfo.split(':').next().unwrap_or("");
                if userinfo.contains(':') {
                    format!("{scheme}://{user}:***@{host}")
                } else {
                    format!("{scheme}://{user}@{host}")
                }
            }
            None => format!("{scheme}://{rest}"),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

/// Where state is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseSettings {
    /// One node: a SQLite file in WAL mode.
    Sqlite {
        /// The database file.
        path: PathBuf,
    },
    /// Many nodes: a PostgreSQL server.
    Postgres {
        /// The connection URL.
        url: DatabaseUrl,
    },
}

/// A secret setting (a base64 key, a client secret): compared, never printed.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretText(pub String);

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One eID broker (MitID, BankID, Freja through an OpenID Connect broker).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EidProviderSettings {
    /// The broker's issuer identifier, exactly as in its ID tokens' `iss`.
    pub issuer: String,
    /// Samtale's client id at the broker: the ID tokens' `aud`.
    pub client_id: String,
    /// Where the broker publishes its signing keys (JWKS).
    pub jwks_url: String,
    /// The claim that carries the national id number.
    #[serde(default = "default_national_id_claim")]
    pub national_id_claim: String,
    /// The lowest accepted level of assurance (`low`, `substantial`, `high`).
    #[serde(default = "default_min_assurance")]
    pub min_assurance: String,
    /// The scopes a citizen's app asks the broker for (space separated);
    /// they must make it put the national-id claim in the ID token.
    #[serde(default = "default_eid_scope")]
    pub scope: String,
    /// The `acr_values` the app asks for (space separated), if the broker
    /// needs them to put the level of assurance in the ID token.
    #[serde(default)]
    pub acr_values: Option<String>,
    /// The web app's client id at the broker: the server logs citizens in
    /// for the web app itself (authorization code with PKCE, redirect to
    /// `{public_url}/v1/eid/callback`), so the broker's tokens never reach
    /// the page. Its ID tokens carry this `aud`. Absent: the web app offers
    /// no eID login at this broker.
    #[serde(default)]
    pub web_client_id: Option<String>,
    /// The web client's secret at the broker (client_secret_basic); absent
    /// for a public client with PKCE only. Never logged or sent to a browser.
    #[serde(default)]
    pub web_client_secret: Option<SecretText>,
}

fn default_eid_scope() -> String {
    "openid".into()
}

fn default_national_id_claim() -> String {
    "national_id".into()
}

fn default_min_assurance() -> String {
    "substantial".into()
}

/// Accounts, sessions and invitations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentitySettings {
    /// The server's public URL: the issuer of its access tokens.
    pub public_url: String,
    /// Key for access tokens (base64, 32 bytes). Absent: a key file in the
    /// data directory, made on first start. Set it on every node of a cluster.
    pub token_key: Option<SecretText>,
    /// Key for the keyed hash of national ids (base64, 32 bytes). Absent: a
    /// key file in the data directory. Set it on every node of a cluster.
    pub national_id_key: Option<SecretText>,
    /// Days an invitation code stays valid.
    pub invitation_ttl_days: u32,
    /// Minutes an access token stays valid (1–15).
    pub access_token_minutes: u32,
    /// eID brokers whose ID tokens prove a citizen's identity at sign-up.
    /// None: citizens sign up with the code alone and are *unverified*.
    pub eid: Vec<EidProviderSettings>,
    /// Reverse proxies whose `X-Forwarded-For` is believed for the client
    /// address (rate limits). Empty: the socket's peer address is used.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        Self {
            public_url: format!("http://{DEFAULT_LISTEN}"),
            token_key: None,
            national_id_key: None,
            invitation_ttl_days: 14,
            access_token_minutes: 10,
            eid: Vec::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// The WebSocket relay, attachments, key rotation and notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagingSettings {
    /// Browser origins allowed to open a WebSocket (`Origin` header).
    /// Native clients send none and are always allowed.
    pub allowed_origins: Vec<String>,
    /// The largest attachment upload, in bytes.
    pub attachment_max_bytes: u64,
    /// Days after which a holder key is due for a new epoch.
    pub key_rotation_days: u32,
    /// Frames per second a connection may send on average (bursts of five
    /// seconds' worth are allowed).
    pub ws_frames_per_second: u32,
    /// Where content-free notifications go (a JSON POST); none: no notifications.
    pub notify_webhook_url: Option<String>,
    /// Key for the notification's HMAC-SHA256 signature header.
    pub notify_webhook_secret: Option<SecretText>,
    /// The neutral notification text; `{organisation}` is replaced.
    pub notify_template: String,
    /// Minimum seconds between two notifications to the same person.
    pub notify_interval_seconds: u32,
    /// Minutes between two retention purges (0: no purge job on this node).
    pub purge_interval_minutes: u32,
    /// Connections served at once (more, up to a reserve, only for health
    /// checks and signed-in clients); lowered to what the open-files limit
    /// allows.
    pub max_connections: u32,
    /// Connections at once from one client address (trusted proxies exempt).
    pub max_connections_per_address: u32,
    /// Seconds a client has to send a request's headers, and to start its
    /// first (or next) request on an open connection.
    pub header_timeout_seconds: u32,
    /// Whether the web app is served at `/` (an organisation may allow
    /// only the installed clients).
    pub web_app: bool,
    /// The NATS server(s) connecting the nodes of a deployment with several
    /// nodes (`nats://host:4222`, comma-separated for a cluster); none: one
    /// node, events stay in the process.
    pub nats_url: Option<String>,
    /// PostgreSQL connections this node may open (the nodes together must
    /// stay under the server's `max_connections`).
    pub database_max_connections: u32,
    /// Addresses besides the loopback interface that may read `/metrics`
    /// (a Prometheus server).
    pub metrics_allowed: Vec<std::net::IpAddr>,
    /// Whether this node makes the first admin's one-time enrolment code
    /// when it starts and no organisation exists (each start replaces the
    /// code before it). With several nodes on one database, only one may:
    /// `false` on the others, or the code one node printed is replaced
    /// by the next node's start.
    pub first_admin_code: bool,
}

/// The default notification text (Danish): no content, no names.
pub const DEFAULT_NOTIFY_TEMPLATE: &str = "Du har en ny besked fra {organisation}";

impl Default for MessagingSettings {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            attachment_max_bytes: 25 * 1024 * 1024,
            key_rotation_days: 30,
            ws_frames_per_second: 50,
            notify_webhook_url: None,
            notify_webhook_secret: None,
            notify_template: DEFAULT_NOTIFY_TEMPLATE.into(),
            notify_interval_seconds: 15 * 60,
            purge_interval_minutes: 60,
            max_connections: 8192,
            max_connections_per_address: 256,
            header_timeout_seconds: 10,
            web_app: true,
            nats_url: None,
            database_max_connections: crate::storage::DEFAULT_POOL,
            metrics_allowed: Vec::new(),
            first_admin_code: true,
        }
    }
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Address and port to listen on.
    pub listen: SocketAddr,
    /// Directory for the SQLite database and, later, attachments.
    pub data_dir: PathBuf,
    /// The database.
    pub database: DatabaseSettings,
    /// Log line format.
    pub log_format: LogFormat,
    /// Log filter in `tracing` syntax, e.g. `info` or `samtale_server=debug`.
    pub log_filter: String,
    /// Accounts, sessions and invitations.
    pub identity: IdentitySettings,
    /// Relay, attachments, key rotation, notifications.
    pub messaging: MessagingSettings,
}

/// Settings from one layer; `None` leaves the lower layer's value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// `listen = "127.0.0.1:8080"`
    pub listen: Option<String>,
    /// `data_dir = "/var/lib/samtale"`
    pub data_dir: Option<PathBuf>,
    /// `database_url = "postgres://…"` (absent: SQLite in the data directory)
    pub database_url: Option<String>,
    /// `log_format = "json"`
    pub log_format: Option<LogFormat>,
    /// `log = "info"`
    pub log: Option<String>,
    /// `public_url = "https://samtale.example.dk"`
    pub public_url: Option<String>,
    /// `token_key = "<base64 of 32 random bytes>"`
    pub token_key: Option<String>,
    /// `national_id_key = "<base64 of 32 random bytes>"`
    pub national_id_key: Option<String>,
    /// `invitation_ttl_days = 14`
    pub invitation_ttl_days: Option<u32>,
    /// `access_token_minutes = 10`
    pub access_token_minutes: Option<u32>,
    /// `[[eid]]` tables, one per broker.
    pub eid: Option<Vec<EidProviderSettings>>,
    /// `trusted_proxies = ["10.0.0.1"]`
    pub trusted_proxies: Option<Vec<String>>,
    /// `allowed_origins = ["https://samtale.example.dk"]`
    pub allowed_origins: Option<Vec<String>>,
    /// `attachment_max_bytes = 26214400`
    pub attachment_max_bytes: Option<u64>,
    /// `key_rotation_days = 30`
    pub key_rotation_days: Option<u32>,
    /// `ws_frames_per_second = 50`
    pub ws_frames_per_second: Option<u32>,
    /// `notify_webhook_url = "https://sms-gateway.example.dk/samtale"`
    pub notify_webhook_url: Option<String>,
    /// `notify_webhook_secret = "<a long random string>"`
    pub notify_webhook_secret: Option<String>,
    /// `notify_template = "Du har en ny besked fra {organisation}"`
    pub notify_template: Option<String>,
    /// `notify_interval_seconds = 900`
    pub notify_interval_seconds: Option<u32>,
    /// `purge_interval_minutes = 60`
    pub purge_interval_minutes: Option<u32>,
    /// `web_app = false` (serve no web app at `/`)
    pub web_app: Option<bool>,
    /// `first_admin_code = false` (another node of the deployment makes it)
    pub first_admin_code: Option<bool>,
    /// `max_connections = 8192`
    pub max_connections: Option<u32>,
    /// `max_connections_per_address = 256`
    pub max_connections_per_address: Option<u32>,
    /// `header_timeout_seconds = 10`
    pub header_timeout_seconds: Option<u32>,
    /// `nats_url = "nats://127.0.0.1:4222"` (several nodes)
    pub nats_url: Option<String>,
    /// `database_max_connections = 16`
    pub database_max_connections: Option<u32>,
    /// `metrics_allowed = ["10.0.0.5"]`
    pub metrics_allowed: Option<Vec<String>>,
}

impl Layer {
    fn over(self, base: Layer) -> Layer {
        Layer {
            listen: self.listen.or(base.listen),
            data_dir: self.data_dir.or(base.data_dir),
            database_url: self.database_url.or(base.database_url),
            log_format: self.log_format.or(base.log_format),
            log: self.log.or(base.log),
            public_url: self.public_url.or(base.public_url),
            token_key: self.token_key.or(base.token_key),
            national_id_key: self.national_id_key.or(base.national_id_key),
            invitation_ttl_days: self.invitation_ttl_days.or(base.invitation_ttl_days),
            access_token_minutes: self.access_token_minutes.or(base.access_token_minutes),
            eid: self.eid.or(base.eid),
            trusted_proxies: self.trusted_proxies.or(base.trusted_proxies),
            allowed_origins: self.allowed_origins.or(base.allowed_origins),
            attachment_max_bytes: self.attachment_max_bytes.or(base.attachment_max_bytes),
            key_rotation_days: self.key_rotation_days.or(base.key_rotation_days),
            ws_frames_per_second: self.ws_frames_per_second.or(base.ws_frames_per_second),
            notify_webhook_url: self.notify_webhook_url.or(base.notify_webhook_url),
            notify_webhook_secret: self.notify_webhook_secret.or(base.notify_webhook_secret),
            notify_template: self.notify_template.or(base.notify_template),
            notify_interval_seconds: self
                .notify_interval_seconds
                .or(base.notify_interval_seconds),
            purge_interval_minutes: self.purge_interval_minutes.or(base.purge_interval_minutes),
            web_app: self.web_app.or(base.web_app),
            first_admin_code: self.first_admin_code.or(base.first_admin_code),
            max_connections: self.max_connections.or(base.max_connections),
            max_connections_per_address: self
                .max_connections_per_address
                .or(base.max_connections_per_address),
            header_timeout_seconds: self.header_timeout_seconds.or(base.header_timeout_seconds),
            nats_url: self.nats_url.or(base.nats_url),
            database_max_connections: self
                .database_max_connections
                .or(base.database_max_connections),
            metrics_allowed: self.metrics_allowed.or(base.metrics_allowed),
        }
    }

    /// The `SAMTALE_*` environment layer, read through `var`.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
        let log_format = match var("SAMTALE_LOG_FORMAT") {
            None => None,
            Some(v) => Some(match v.to_ascii_lowercase().as_str() {
                "pretty" => LogFormat::Pretty,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError::Invalid {
                        setting: "SAMTALE_LOG_FORMAT",
                        message: format!("expected \"pretty\" or \"json\", got {v:?}"),
                    });
                }
            }),
        };
        let number = |name: &'static str| -> Result<Option<u32>, ConfigError> {
            var(name)
                .map(|v| {
                    v.trim().parse().map_err(|_| ConfigError::Invalid {
                        setting: name,
                        message: format!("expected a whole number, got {v:?}"),
                    })
                })
                .transpose()
        };
        // One broker can be given in the environment; several need a file.
        let eid = match (
            var("SAMTALE_EID_ISSUER"),
            var("SAMTALE_EID_CLIENT_ID"),
            var("SAMTALE_EID_JWKS_URL"),
        ) {
            (None, None, None) => None,
            (Some(issuer), Some(client_id), Some(jwks_url)) => Some(vec![EidProviderSettings {
                issuer,
                client_id,
                jwks_url,
                national_id_claim: var("SAMTALE_EID_NATIONAL_ID_CLAIM")
                    .unwrap_or_else(default_national_id_claim),
                min_assurance: var("SAMTALE_EID_MIN_ASSURANCE")
                    .unwrap_or_else(default_min_assurance),
                scope: var("SAMTALE_EID_SCOPE").unwrap_or_else(default_eid_scope),
                acr_values: var("SAMTALE_EID_ACR_VALUES"),
                web_client_id: var("SAMTALE_EID_WEB_CLIENT_ID"),
                web_client_secret: var("SAMTALE_EID_WEB_CLIENT_SECRET").map(SecretText),
            }]),
            _ => {
                return Err(ConfigError::Invalid {
                    setting: "SAMTALE_EID_ISSUER, SAMTALE_EID_CLIENT_ID, SAMTALE_EID_JWKS_URL",
                    message: "set all three to configure an eID broker, or none".into(),
                });
            }
        };
        let list = |name: &str| {
            var(name).map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
        };
        let attachment_max_bytes = var("SAMTALE_ATTACHMENT_MAX_BYTES")
            .map(|v| {
                v.trim().parse().map_err(|_| ConfigError::Invalid {
                    setting: "SAMTALE_ATTACHMENT_MAX_BYTES",
                    message: format!("expected a whole number of bytes, got {v:?}"),
                })
            })
            .transpose()?;
        Ok(Layer {
            allowed_origins: list("SAMTALE_ALLOWED_ORIGINS"),
            attachment_max_bytes,
            key_rotation_days: number("SAMTALE_KEY_ROTATION_DAYS")?,
            ws_frames_per_second: number("SAMTALE_WS_FRAMES_PER_SECOND")?,
            notify_webhook_url: var("SAMTALE_NOTIFY_WEBHOOK_URL"),
            notify_webhook_secret: var("SAMTALE_NOTIFY_WEBHOOK_SECRET"),
            notify_template: var("SAMTALE_NOTIFY_TEMPLATE"),
            notify_interval_seconds: number("SAMTALE_NOTIFY_INTERVAL_SECONDS")?,
            purge_interval_minutes: number("SAMTALE_PURGE_INTERVAL_MINUTES")?,
            web_app: boolean(var("SAMTALE_WEB_APP"), "web_app (SAMTALE_WEB_APP)")?,
            first_admin_code: boolean(
                var("SAMTALE_FIRST_ADMIN_CODE"),
                "first_admin_code (SAMTALE_FIRST_ADMIN_CODE)",
            )?,
            max_connections: number("SAMTALE_MAX_CONNECTIONS")?,
            max_connections_per_address: number("SAMTALE_MAX_CONNECTIONS_PER_ADDRESS")?,
            header_timeout_seconds: number("SAMTALE_HEADER_TIMEOUT_SECONDS")?,
            nats_url: var("SAMTALE_NATS_URL"),
            database_max_connections: number("SAMTALE_DATABASE_MAX_CONNECTIONS")?,
            metrics_allowed: list("SAMTALE_METRICS_ALLOWED"),
            trusted_proxies: var("SAMTALE_TRUSTED_PROXIES").map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            }),
            eid,
            public_url: var("SAMTALE_PUBLIC_URL"),
            token_key: var("SAMTALE_TOKEN_KEY"),
            national_id_key: var("SAMTALE_NATIONAL_ID_KEY"),
            invitation_ttl_days: number("SAMTALE_INVITATION_TTL_DAYS")?,
            access_token_minutes: number("SAMTALE_ACCESS_TOKEN_MINUTES")?,
            listen: var("SAMTALE_LISTEN"),
            data_dir: var("SAMTALE_DATA_DIR").map(PathBuf::from),
            database_url: var("SAMTALE_DATABASE_URL"),
            log_format,
            log: var("SAMTALE_LOG"),
        })
    }

    /// A TOML file layer.
    pub fn from_file(path: &Path) -> Result<Layer, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::ParseFile {
            path: path.to_owned(),
            message: e.message().to_string(),
        })
    }
}

impl Settings {
    /// Resolves the layers, highest priority first: command line, environment,
    /// file (`config_file`, or `SAMTALE_CONFIG`), defaults.
    pub fn load(
        cli: Layer,
        config_file: Option<PathBuf>,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let file_path = config_file.or_else(|| var("SAMTALE_CONFIG").map(PathBuf::from));
        let file = match &file_path {
            Some(path) => Layer::from_file(path)?,
            None => Layer::default(),
        };
        let env = Layer::from_env(&var)?;
        let merged = cli.over(env.over(file));
        Settings::resolve(merged)
    }

    fn resolve(layer: Layer) -> Result<Settings, ConfigError> {
        let layer_messaging = layer.clone();
        let listen_text = layer.listen.unwrap_or_else(|| DEFAULT_LISTEN.into());
        let listen = listen_text.parse().map_err(|_| ConfigError::Invalid {
            setting: "listen (SAMTALE_LISTEN, --listen)",
            message: format!(
                "expected an address and port like {DEFAULT_LISTEN}, got {listen_text:?}"
            ),
        })?;
        let data_dir = layer
            .data_dir
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database = match layer.database_url {
            None => DatabaseSettings::Sqlite {
                path: data_dir.join(SQLITE_FILE),
            },
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                DatabaseSettings::Postgres {
                    url: DatabaseUrl(url),
                }
            }
            Some(url) if url.starts_with("sqlite:") => {
                let path = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                DatabaseSettings::Sqlite {
                    path: PathBuf::from(path.split('?').next().unwrap_or(path)),
                }
            }
            Some(url) => {
                return Err(ConfigError::Invalid {
                    setting: "database URL (SAMTALE_DATABASE_URL, --database-url)",
                    message: format!(
                        "expected postgres://… or sqlite:PATH, got {}",
                        DatabaseUrl(url).redacted()
                    ),
                });
            }
        };
        let defaults = IdentitySettings::default();
        let access_token_minutes = layer
            .access_token_minutes
            .unwrap_or(defaults.access_token_minutes);
        if !(1..=15).contains(&access_token_minutes) {
            return Err(ConfigError::Invalid {
                setting: "access_token_minutes (SAMTALE_ACCESS_TOKEN_MINUTES)",
                message: format!("must be between 1 and 15, got {access_token_minutes}"),
            });
        }
        let invitation_ttl_days = layer
            .invitation_ttl_days
            .unwrap_or(defaults.invitation_ttl_days);
        if !(1..=90).contains(&invitation_ttl_days) {
            return Err(ConfigError::Invalid {
                setting: "invitation_ttl_days (SAMTALE_INVITATION_TTL_DAYS)",
                message: format!("must be between 1 and 90, got {invitation_ttl_days}"),
            });
        }
        let identity = IdentitySettings {
            public_url: layer
                .public_url
                .unwrap_or_else(|| format!("http://{listen}")),
            token_key: layer.token_key.map(SecretText),
            national_id_key: layer.national_id_key.map(SecretText),
            invitation_ttl_days,
            access_token_minutes,
            eid: layer.eid.unwrap_or_default(),
            trusted_proxies: layer
                .trusted_proxies
                .unwrap_or_default()
                .iter()
                .map(|p| {
                    p.parse().map_err(|_| ConfigError::Invalid {
                        setting: "trusted_proxies (SAMTALE_TRUSTED_PROXIES)",
                        message: format!("expected IP addresses, got {p:?}"),
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        for provider in &identity.eid {
            if !matches!(
                provider.min_assurance.as_str(),
                "low" | "substantial" | "high"
            ) {
                return Err(ConfigError::Invalid {
                    setting: "eid.min_assurance (SAMTALE_EID_MIN_ASSURANCE)",
                    message: format!(
                        "expected low, substantial or high, got {:?}",
                        provider.min_assurance
                    ),
                });
            }
            check_acr_values(provider)?;
            if !(provider.jwks_url.starts_with("https://")
                || provider.jwks_url.starts_with("http://127.0.0.1")
                || provider.jwks_url.starts_with("http://localhost"))
            {
                return Err(ConfigError::Invalid {
                    setting: "eid.jwks_url (SAMTALE_EID_JWKS_URL)",
                    message: "must be an https:// URL (plain http only on loopback, for tests)"
                        .into(),
                });
            }
        }
        let messaging = resolve_messaging(&layer_messaging)?;
        Ok(Settings {
            identity,
            messaging,
            listen,
            data_dir,
            database,
            log_format: layer.log_format.unwrap_or(LogFormat::Pretty),
            log_filter: layer.log.unwrap_or_else(|| "info".into()),
        })
    }
}

/// A broker puts the level of assurance (`acr`) into its ID tokens only
/// when asked for one with `acr_values`, and a token without a known level
/// is refused. So a broker without `acr_values`, or with values naming no
/// known level or one below `min_assurance`, would fail every citizen at
/// the very end of their eID login: refuse to start instead.
fn check_acr_values(provider: &EidProviderSettings) -> Result<(), ConfigError> {
    const SETTING: &str = "eid.acr_values (SAMTALE_EID_ACR_VALUES)";
    let example =
        "for MitID through an NSIS broker, https://data.gov.dk/concept/core/nsis/loa/Substantial";
    let values: Vec<&str> = provider
        .acr_values
        .as_deref()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    if values.is_empty() {
        return Err(ConfigError::Invalid {
            setting: SETTING,
            message: format!(
                "required for the eID broker {}: the level of assurance to ask for, which the ID token's acr then carries ({example})",
                provider.issuer
            ),
        });
    }
    let minimum = match provider.min_assurance.as_str() {
        "low" => samtale_protocol::wire::AssuranceLevel::Low,
        "high" => samtale_protocol::wire::AssuranceLevel::High,
        _ => samtale_protocol::wire::AssuranceLevel::Substantial,
    };
    for value in values {
        match samtale_protocol::eid::acr_level(value) {
            None => {
                return Err(ConfigError::Invalid {
                    setting: SETTING,
                    message: format!(
                        "{value:?} names no level of assurance Samtale knows (the last part must be low, substantial or high; {example})"
                    ),
                });
            }
            Some(level) if level < minimum => {
                return Err(ConfigError::Invalid {
                    setting: SETTING,
                    message: format!(
                        "{value:?} asks for a lower level than min_assurance ({}): every login would be refused",
                        provider.min_assurance
                    ),
                });
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn resolve_messaging(layer: &Layer) -> Result<MessagingSettings, ConfigError> {
    let d = MessagingSettings::default();
    let m = MessagingSettings {
        allowed_origins: layer.allowed_origins.clone().unwrap_or_default(),
        attachment_max_bytes: layer.attachment_max_bytes.unwrap_or(d.attachment_max_bytes),
        key_rotation_days: layer.key_rotation_days.unwrap_or(d.key_rotation_days),
        ws_frames_per_second: layer.ws_frames_per_second.unwrap_or(d.ws_frames_per_second),
        notify_webhook_url: layer.notify_webhook_url.clone(),
        notify_webhook_secret: layer.notify_webhook_secret.clone().map(SecretText),
        notify_template: layer.notify_template.clone().unwrap_or(d.notify_template),
        notify_interval_seconds: layer
            .notify_interval_seconds
            .unwrap_or(d.notify_interval_seconds),
        purge_interval_minutes: layer
            .purge_interval_minutes
            .unwrap_or(d.purge_interval_minutes),
        max_connections: layer.max_connections.unwrap_or(d.max_connections),
        max_connections_per_address: layer
            .max_connections_per_address
            .unwrap_or(d.max_connections_per_address),
        header_timeout_seconds: layer
            .header_timeout_seconds
            .unwrap_or(d.header_timeout_seconds),
        web_app: layer.web_app.unwrap_or(d.web_app),
        first_admin_code: layer.first_admin_code.unwrap_or(d.first_admin_code),
        database_max_connections: layer
            .database_max_connections
            .unwrap_or(d.database_max_connections),
        metrics_allowed: match &layer.metrics_allowed {
            None => Vec::new(),
            Some(list) => list
                .iter()
                .map(|a| {
                    a.trim().parse().map_err(|_| ConfigError::Invalid {
                        setting: "metrics_allowed (SAMTALE_METRICS_ALLOWED)",
                        message: format!("{a:?} is not an IP address"),
                    })
                })
                .collect::<Result<_, _>>()?,
        },
        nats_url: layer
            .nats_url
            .clone()
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty()),
    };
    if !(2..=1000).contains(&m.database_max_connections) {
        return Err(ConfigError::Invalid {
            setting: "database_max_connections (SAMTALE_DATABASE_MAX_CONNECTIONS)",
            message: format!(
                "{} is not between 2 and 1000; the nodes together must stay under PostgreSQL's max_connections",
                m.database_max_connections
            ),
        });
    }
    if let Some(url) = &m.nats_url
        && !url.split(',').all(|u| {
            let u = u.trim();
            ["nats://", "tls://"].iter().any(|p| u.starts_with(p)) && u.len() > 7
        })
    {
        return Err(ConfigError::Invalid {
            setting: "nats_url (SAMTALE_NATS_URL)",
            message: "expected nats://HOST:PORT (or tls://…), comma-separated for a cluster".into(),
        });
    }
    if m.max_connections < 16 || m.max_connections_per_address == 0 {
        return Err(ConfigError::Invalid {
            setting: "max_connections, max_connections_per_address (SAMTALE_MAX_CONNECTIONS*)",
            message: "allow at least 16 connections, and at least 1 per address".into(),
        });
    }
    if !(1..=300).contains(&m.header_timeout_seconds) {
        return Err(ConfigError::Invalid {
            setting: "header_timeout_seconds (SAMTALE_HEADER_TIMEOUT_SECONDS)",
            message: format!(
                "must be between 1 and 300, got {}",
                m.header_timeout_seconds
            ),
        });
    }
    if !(1024..=1024 * 1024 * 1024).contains(&m.attachment_max_bytes) {
        return Err(ConfigError::Invalid {
            setting: "attachment_max_bytes (SAMTALE_ATTACHMENT_MAX_BYTES)",
            message: format!(
                "must be between 1 KiB and 1 GiB, got {}",
                m.attachment_max_bytes
            ),
        });
    }
    if !(1..=365).contains(&m.key_rotation_days) {
        return Err(ConfigError::Invalid {
            setting: "key_rotation_days (SAMTALE_KEY_ROTATION_DAYS)",
            message: format!("must be between 1 and 365, got {}", m.key_rotation_days),
        });
    }
    if m.ws_frames_per_second == 0 {
        return Err(ConfigError::Invalid {
            setting: "ws_frames_per_second (SAMTALE_WS_FRAMES_PER_SECOND)",
            message: "must be at least 1".into(),
        });
    }
    if m.notify_webhook_url.is_some() != m.notify_webhook_secret.is_some() {
        return Err(ConfigError::Invalid {
            setting: "notify_webhook_url, notify_webhook_secret (SAMTALE_NOTIFY_WEBHOOK_*)",
            message: "set both to send notifications, or neither".into(),
        });
    }
    if let Some(url) = &m.notify_webhook_url
        && !(url.starts_with("https://")
            || url.starts_with("http://127.0.0.1")
            || url.starts_with("http://localhost"))
    {
        return Err(ConfigError::Invalid {
            setting: "notify_webhook_url (SAMTALE_NOTIFY_WEBHOOK_URL)",
            message: "must be an https:// URL (plain http only on loopback, for tests)".into(),
        });
    }
    // The text goes out by SMS or push, outside the encrypted channel: it
    // must say nothing about anyone.
    let sample = m.notify_template.replace("{organisation}", "Kommune");
    let findings = samtale_protocol::minimise::Minimiser::new().scan(&sample);
    if !findings.is_empty() || !m.notify_template.contains("{organisation}") {
        return Err(ConfigError::Invalid {
            setting: "notify_template (SAMTALE_NOTIFY_TEMPLATE)",
            message: format!(
                "a notification must be neutral and name only the organisation as {{organisation}}; \
                 the minimisation rules flag: {}",
                if findings.is_empty() {
                    "no {organisation} placeholder".to_string()
                } else {
                    findings
                        .iter()
                        .map(|f| f.category.explanation())
                        .collect::<Vec<_>>()
                        .join("; ")
                }
            ),
        });
    }
    Ok(m)
}

/// A true/false environment value (`true`/`1`/`yes`, `false`/`0`/`no`).
fn boolean(value: Option<String>, setting: &'static str) -> Result<Option<bool>, ConfigError> {
    value
        .map(|v| match v.as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(ConfigError::Invalid {
                setting,
                message: format!("{v:?} is not true or false"),
            }),
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_are_loopback_and_sqlite_in_the_data_directory() {
        let s = Settings::load(Layer::default(), None, env(&[])).unwrap();
        assert_eq!(s.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(
            s.database,
            DatabaseSettings::Sqlite {
                path: PathBuf::from("./data").join(SQLITE_FILE)
            }
        );
    }

    #[test]
    fn the_command_line_beats_the_environment_which_beats_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("samtale.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:1\"\ndata_dir = \"/from/file\"\nlog = \"debug\"\n",
        )
        .unwrap();
        let cli = Layer {
            listen: Some("127.0.0.1:3".into()),
            ..Layer::default()
        };
        let s = Settings::load(
            cli,
            Some(file),
            env(&[
                ("SAMTALE_LISTEN", "127.0.0.1:2"),
                ("SAMTALE_DATA_DIR", "/from/env"),
            ]),
        )
        .unwrap();
        assert_eq!(s.listen.port(), 3);
        assert_eq!(s.data_dir, PathBuf::from("/from/env"));
        assert_eq!(s.log_filter, "debug");
    }

    #[test]
    fn a_postgres_url_selects_postgres_and_its_password_is_never_printed() {
        let s = Settings::load(
            Layer::default(),
            None,
            env(&[(
                "SAMTALE_DATABASE_URL",
                "postgres://samtale:s3cret@db:5432/samtale",
            )]),
        )
        .unwrap();
        let printed = format!("{s:?}");
        assert!(
            printed.contains("postgres://samtale:***@db:5432/samtale"),
            "{printed}"
        );
        assert!(!printed.contains("s3cret"));
    }

    #[test]
    fn bad_values_and_unknown_file_keys_get_clear_errors() {
        let err = Settings::load(Layer::default(), None, env(&[("SAMTALE_LISTEN", "eighty")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SAMTALE_LISTEN") && err.contains("127.0.0.1:8080"),
            "{err}"
        );
        let err = Settings::load(
            Layer::default(),
            None,
            env(&[("SAMTALE_DATABASE_URL", "mysql://u:pw@h/db")]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("postgres://") && !err.contains("pw"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("samtale.toml");
        std::fs::write(&file, "lisen = \"127.0.0.1:1\"\n").unwrap();
        let err = Settings::load(Layer::default(), Some(file), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("lisen"), "{err}");
        let err = Settings::load(
            Layer::default(),
            Some("/nonexistent/samtale.toml".into()),
            env(&[]),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("/nonexistent/samtale.toml"), "{err}");
    }

    #[test]
    fn true_false_settings_read_their_spellings_and_refuse_others() {
        let load = |v: &str| {
            Settings::load(
                Layer::default(),
                None,
                env(&[("SAMTALE_FIRST_ADMIN_CODE", v), ("SAMTALE_WEB_APP", "no")]),
            )
        };
        assert!(load("true").unwrap().messaging.first_admin_code);
        for off in ["false", "0", "no"] {
            let s = load(off).unwrap();
            assert!(!s.messaging.first_admin_code && !s.messaging.web_app);
        }
        let err = load("maybe").unwrap_err().to_string();
        assert!(
            err.contains("SAMTALE_FIRST_ADMIN_CODE") && err.contains("maybe"),
            "{err}"
        );
        assert!(
            Settings::load(Layer::default(), None, env(&[]))
                .unwrap()
                .messaging
                .first_admin_code
        );
    }

    /// The broker configuration the guide used to describe (no
    /// `acr_values`) made every eID login fail at its very end; the server
    /// now refuses to start with it and names the setting.
    #[test]
    fn an_eid_broker_without_usable_acr_values_is_refused_at_start() {
        let broker = |acr: Option<&'static str>, min: &'static str| {
            let mut pairs = vec![
                ("SAMTALE_EID_ISSUER", "https://broker.example"),
                ("SAMTALE_EID_CLIENT_ID", "samtale"),
                ("SAMTALE_EID_JWKS_URL", "https://broker.example/jwks"),
                ("SAMTALE_EID_MIN_ASSURANCE", min),
            ];
            if let Some(acr) = acr {
                pairs.push(("SAMTALE_EID_ACR_VALUES", acr));
            }
            Settings::load(Layer::default(), None, env(&pairs)).map(|s| s.identity.eid.len())
        };
        let nsis = "https://data.gov.dk/concept/core/nsis/loa/Substantial";
        assert_eq!(broker(Some(nsis), "substantial").unwrap(), 1);
        for (acr, min, says) in [
            (None, "substantial", "required"),
            (Some("  "), "substantial", "required"),
            (Some("urn:example:loa3"), "substantial", "names no level"),
            (
                Some("https://data.gov.dk/concept/core/nsis/loa/Low"),
                "substantial",
                "lower level",
            ),
            (Some(nsis), "high", "lower level"),
        ] {
            let err = broker(acr, min).unwrap_err().to_string();
            assert!(
                err.contains("SAMTALE_EID_ACR_VALUES") && err.contains(says),
                "{acr:?} {min}: {err}"
            );
        }
    }
}
