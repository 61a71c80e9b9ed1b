//! The resolved, validated settings that the rest of tokentop consumes.
//!
//! Everything here is already checked: durations parsed, secrets read, paths absolute.
//! Built by [`crate::config::load`]; defaults live in the `Default` impls.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

/// Everything tokentop needs to run, after flags, env, file and defaults were merged.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The config file that was read, if any (shown in `?` help and `config path`).
    pub config_path: Option<PathBuf>,
    /// Token store, history and tokentop's own log files.
    pub data_dir: PathBuf,
    pub graph: GraphSettings,
    pub refresh: RefreshPolicy,
    /// Shared: the engine, `/status` and the proxy hold the same ones (issue 23: 10,000 of them).
    pub accounts: Vec<std::sync::Arc<AccountSettings>>,
    /// `[accounts] dir`: where accounts came from besides `[[account]]`, and the account
    /// files that were skipped (each with its problems).
    pub account_files: super::AccountFiles,
    pub logs: Vec<LogSourceSettings>,
    pub patterns: PatternSettings,
    pub ui: UiSettings,
    pub serve: ServeSettings,
    pub proxy: ProxySettings,
    pub cluster: ClusterSettings,
    pub webhook: super::WebhookSettings,
}

/// `[graph]`: where the Graph API is and how long to wait for it.
#[derive(Debug, Clone, PartialEq)]
pub struct GraphSettings {
    /// Default `https://graph.facebook.com`.
    pub base_url: String,
    /// Default `v25.0`.
    pub version: String,
    /// Whole-request timeout, default 30 s.
    pub request_timeout: Duration,
    /// `[graph] sunsets`: versions' last usable days announced after this build, over the
    /// built-in table (`graph::versions`).
    pub sunsets: std::collections::BTreeMap<String, chrono::NaiveDate>,
}

impl Default for GraphSettings {
    fn default() -> Self {
        Self {
            base_url: "https://graph.facebook.com".to_string(),
            version: "v25.0".to_string(),
            request_timeout: Duration::from_secs(30),
            sunsets: Default::default(),
        }
    }
}

/// When to refresh: either a fixed time before expiry or a share of the token's lifetime.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RefreshBefore {
    Fixed(Duration),
    /// Percent of the lifetime (issued_at..expires_at), 1..=99.
    ShareOfLifetime(u8),
}

/// `auto` decides from `debug_token`'s type and expiry; `true`/`false` force it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpiringSystemUser {
    #[default]
    Auto,
    Yes,
    No,
}

/// `[refresh]`: the policy shared by every account.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshPolicy {
    /// How often each token is inspected with `debug_token` (default 15 min), spread over the
    /// interval in slices (`engine/spread.rs`).
    pub check_interval: Duration,
    /// Default 33% of the lifetime.
    pub refresh_before: RefreshBefore,
    /// A send refreshes first when the token expires within this (default 5 min).
    pub send_guard: Duration,
    /// WARNING inside this (default 7 days).
    pub warn_before: Duration,
    /// CRITICAL inside this (default 1 day).
    pub critical_before: Duration,
    pub expiring_system_user: ExpiringSystemUser,
    /// `renew-business-tokens`: try exchanging 60-day business (Embedded Signup) tokens before
    /// they expire (Meta documents no renewal for them; default off).
    pub renew_business_tokens: bool,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        Self {
            check_interval: Duration::from_secs(15 * 60),
            refresh_before: RefreshBefore::ShareOfLifetime(33),
            send_guard: Duration::from_secs(5 * 60),
            warn_before: Duration::from_secs(7 * 24 * 3600),
            critical_before: Duration::from_secs(24 * 3600),
            expiring_system_user: ExpiringSystemUser::Auto,
            renew_business_tokens: false,
        }
    }
}

/// The mode of a token file unless `token-file-mode` says otherwise: the owner only.
pub const DEFAULT_TOKEN_FILE_MODE: u32 = 0o600;
/// The modes `token-file-mode` accepts: never readable by others.
pub const TOKEN_FILE_MODES: [u32; 3] = [0o600, 0o640, 0o660];

/// One `[[account]]` (or the `default` account built from `WHATSAPP_*` variables).
#[derive(Debug, Clone)]
pub struct AccountSettings {
    pub name: String,
    pub app_id: Option<String>,
    pub app_secret: Option<SecretString>,
    pub access_token: Option<SecretString>,
    /// The credential the exchange turns into a fresh access token; `None` = the access token.
    pub long_lived_token: Option<SecretString>,
    pub phone_number_id: Option<String>,
    pub business_account_id: Option<String>,
    /// Rewritten atomically with `WHATSAPP_ACCESS_TOKEN=...` after each refresh.
    pub env_file: Option<PathBuf>,
    /// Rewritten atomically with just the access token and a newline, at start (unless it
    /// already holds the current token) and after each refresh.
    pub token_file: Option<PathBuf>,
    /// Mode of the token file, set on every write: [`DEFAULT_TOKEN_FILE_MODE`] or one of
    /// [`TOKEN_FILE_MODES`].
    pub token_file_mode: u32,
    /// argv of a command run after each refresh, token on stdin.
    pub on_refresh: Option<Vec<String>>,
    /// Time limit for `on-refresh` (default 30 s).
    pub on_refresh_timeout: Duration,
    /// Names of tokentop's environment variables passed on to `on-refresh` besides `PATH`,
    /// `HOME` and `TOKENTOP_*` (the hook gets no other variable).
    pub on_refresh_env: Vec<String>,
    /// `on-publish-signal`, `on-publish-restart`, `on-publish-timeout`: what to tell the
    /// token's consumer once every publish target holds the new token.
    pub on_publish: super::OnPublishSettings,
    pub test_message: TestMessageSettings,
    /// `token-kind`, `purpose` and `labels`.
    pub profile: super::AccountProfile,
}

/// `[account.test-message]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TestMessageSettings {
    /// Recipient, digits with country code.
    pub to: Option<String>,
    /// Default `hello_world`.
    pub template: String,
    /// Default `en_US`.
    pub language: String,
    /// When set, a text message is sent instead of the template.
    pub text: Option<String>,
}

impl Default for TestMessageSettings {
    fn default() -> Self {
        Self {
            to: None,
            template: "hello_world".to_string(),
            language: "en_US".to_string(),
            text: None,
        }
    }
}

/// Where a `[[log]]` source reads from.
#[derive(Debug, Clone, PartialEq)]
pub enum LogInput {
    File(PathBuf),
    /// argv, spawned without a shell.
    Command(Vec<String>),
}

/// How lines of a log source are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Plain,
    /// Each line is a WhatsApp webhook payload.
    WebhookJson,
}

/// One `[[log]]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSourceSettings {
    pub name: String,
    pub input: LogInput,
    pub format: LogFormat,
}

/// Level of a pattern.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum PatternLevel {
    Ok,
    Warn,
    Error,
}

/// Delivery role of a pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PatternRole {
    Delivered,
    Failed,
}

/// One `[[pattern]]` (the regex is already checked to compile).
#[derive(Debug, Clone, PartialEq)]
pub struct PatternSettings {
    /// `[patterns] defaults` (default true): keep the built-in patterns.
    pub use_defaults: bool,
    pub patterns: Vec<PatternDef>,
}

impl Default for PatternSettings {
    fn default() -> Self {
        Self {
            use_defaults: true,
            patterns: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatternDef {
    pub name: String,
    pub regex: String,
    pub level: PatternLevel,
    pub role: Option<PatternRole>,
}

/// Colour theme of the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Theme {
    #[default]
    Dark,
    Light,
    /// No colours at all (also chosen by `NO_COLOR`).
    Mono,
}

/// `[serve]`: the HTTP endpoint for Prometheus and probes (`/metrics`, `/healthz`,
/// `/readyz`, `/status`) and, when `token-endpoint` is on, the accounts' tokens
/// (`/v1/accounts/{name}/token`). Off unless `listen` is set.
#[derive(Debug, Clone, Default)]
pub struct ServeSettings {
    pub listen: Option<std::net::SocketAddr>,
    /// When set, `/metrics` and `/status` need `Authorization: Bearer <this>`.
    pub bearer_token: Option<secrecy::SecretString>,
    /// PEM certificate chain and key: TLS on the listener itself (reloaded on SIGHUP).
    pub tls: Option<super::TlsFiles>,
    /// `token-endpoint = true`: serve `GET /v1/accounts/{name}/token`.
    pub token_endpoint: bool,
    /// The bearer that reads every account's token, as reader [`super::DEFAULT_READER`].
    pub token_bearer: Option<secrecy::SecretString>,
    /// `[[serve.token-reader]]`: clients with bearers of their own, optionally for some
    /// accounts. Who may read an account: `token_readers_of` (config/token_readers.rs).
    pub token_readers: Vec<super::TokenReaderSettings>,
}

impl PartialEq for ServeSettings {
    /// Secrets are compared by presence only: two settings are equal when they listen and
    /// serve alike and both do (or do not) require each bearer.
    fn eq(&self, other: &Self) -> bool {
        self.listen == other.listen
            && self.bearer_token.is_some() == other.bearer_token.is_some()
            && self.tls == other.tls
            && self.token_endpoint == other.token_endpoint
            && self.token_bearer.is_some() == other.token_bearer.is_some()
            && self.token_readers == other.token_readers
    }
}

/// Where the Graph API proxy listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    Tcp(std::net::SocketAddr),
    /// A Unix socket, created 0660.
    Unix(std::path::PathBuf),
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Listen::Tcp(addr) => write!(f, "{addr}"),
            Listen::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// `[proxy]`: the Graph API proxy. Off unless `listen` is set.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    pub listen: Option<Listen>,
    /// When set, every request must carry `Authorization: Bearer <this>`; required off loopback.
    pub client_token: Option<secrecy::SecretString>,
    /// Extra path patterns (`*` = one segment) beyond the accounts' ids and `/debug_token`.
    pub allow: Vec<String>,
    /// Bodies up to this size are kept for a retry after a 190 (default 16 MiB).
    pub retry_body_limit: u64,
    /// Larger request bodies are refused with 413 (default 100 MiB, WhatsApp's media limit).
    pub max_request_body: u64,
    /// Whole upstream request, default 60 s.
    pub timeout: std::time::Duration,
    /// Upstream requests in flight per account; more wait their turn (default 64).
    pub max_concurrent: usize,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            listen: None,
            client_token: None,
            allow: Vec::new(),
            retry_body_limit: 16 * 1024 * 1024,
            max_request_body: 100 * 1024 * 1024,
            timeout: std::time::Duration::from_secs(60),
            max_concurrent: 64,
        }
    }
}

/// `[ui]`.
#[derive(Debug, Clone, PartialEq)]
pub struct UiSettings {
    /// Redraw interval when nothing changes (default 1 s).
    pub tick: Duration,
    pub theme: Theme,
    /// Click a tab to select an account (default true).
    pub mouse: bool,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            tick: Duration::from_secs(1),
            theme: Theme::Dark,
            mouse: true,
        }
    }
}

/// `[cluster]`: tokens, leases and history shared through Redis. Off unless `redis-url` is set.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// `redis://` or `rediss://`, with any ACL user and password (a secret).
    pub redis_url: Option<secrecy::SecretString>,
    /// Every key tokentop writes starts with this (default `tokentop:`).
    pub key_prefix: String,
    /// This process's name in the cluster; default `<host name>-<pid>`.
    pub member: Option<String>,
    /// How long a refresh lease lives without renewal (default 15 s): the longest a dead
    /// holder keeps the others waiting.
    pub lease: std::time::Duration,
    /// Rows kept in the history stream (default 100000).
    pub history_max_len: u64,
}

impl Default for ClusterSettings {
    fn default() -> Self {
        Self {
            redis_url: None,
            key_prefix: "tokentop:".to_string(),
            member: None,
            lease: std::time::Duration::from_secs(15),
            history_max_len: 100_000,
        }
    }
}

impl PartialEq for ClusterSettings {
    /// The URL (it may hold a password) is compared by presence only.
    fn eq(&self, other: &Self) -> bool {
        self.redis_url.is_some() == other.redis_url.is_some()
            && self.key_prefix == other.key_prefix
            && self.member == other.member
            && self.lease == other.lease
            && self.history_max_len == other.history_max_len
    }
}
