//! Configuration: discovery, parsing with line numbers, validation, secrets, env overrides.
//!
//! Precedence: command-line flag > environment > config file > built-in default.

mod account;
mod account_profile;
mod account_text;
mod accounts_dir;
mod accounts_redis;
mod accounts_table;
pub(crate) mod capped_read;
mod cluster;
mod credential;
mod duration;
mod env;
mod file;
mod issues;
mod on_publish;
mod proxy;
mod reader;
mod redis_entries;
mod secrets;
mod sections;
mod settings;
mod telemetry;
mod token_readers;
mod values;
mod webhook;

pub use account_profile::{AccountProfile, MAX_LABEL_VALUE_CHARS, MAX_LABELS, Purpose, TokenKind};
pub use account_text::check_account_entry;
pub use accounts_dir::{AccountFiles, InvalidAccountFile};
pub use accounts_redis::{redis_accounts_channel, redis_accounts_key, redis_entry_place};
pub use duration::parse_duration;
pub use issues::{ConfigErrors, ConfigIssue};
pub use on_publish::{
    DEFAULT_ON_PUBLISH_TIMEOUT, NotifySignal, OnPublishSettings, RestartSpec, SignalSpec,
};
pub use settings::*;
pub use token_readers::{DEFAULT_READER, TokenReaderSettings};
pub use values::url_without_password;
pub(crate) use values::{ACCOUNT_NAME_ALLOWED, account_name, listen_addr};
pub use webhook::{DEFAULT_FAILURE_BURST, ForwardSettings, TlsFiles, WebhookSettings};

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use directories::ProjectDirs;

use capped_read::{CappedReadError, MAX_CONFIG_BYTES, read_capped};

/// The commented starter config that `tokentop config init` writes; documents every key.
pub const EXAMPLE_CONFIG: &str = include_str!("../../config.example.toml");

/// Used under the platform config and data dirs.
const APP_NAME: &str = "tokentop";

/// Data dir when the platform has none (no home directory).
const FALLBACK_DATA_DIR: &str = "tokentop-data";

/// Values given on the command line, which win over everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub graph_url: Option<String>,
}

/// A snapshot of the environment, so that resolution is a pure function that tests can feed.
#[derive(Clone, Default)]
pub struct EnvSnapshot {
    vars: HashMap<String, String>,
}

/// Names only: the values include tokens such as `WHATSAPP_ACCESS_TOKEN`.
impl std::fmt::Debug for EnvSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("EnvSnapshot")
            .field("names", &names)
            .finish()
    }
}

impl EnvSnapshot {
    /// The process environment (variables that are not valid UTF-8 are skipped).
    pub fn from_process() -> Self {
        Self {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// The value of `name`, treating an empty value as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Loads and validates the whole configuration: file (if any), environment and flags.
///
/// Every problem is collected; the error lists all of them, never just the first.
pub fn load(overrides: &Overrides, env: &EnvSnapshot) -> Result<Settings, ConfigErrors> {
    load_reading_at_most(overrides, env, None)
}

/// Like [`load`], but reads only the first `count` files of `[accounts] dir` (in name
/// order) and counts the others in [`AccountFiles::unread`]: what the dashboard's first frame
/// needs, while the rest of a 10,000-file directory is read after it. Every problem of the
/// config file itself is found as by [`load`].
pub fn load_first_files(
    overrides: &Overrides,
    env: &EnvSnapshot,
    count: usize,
) -> Result<Settings, ConfigErrors> {
    load_reading_at_most(overrides, env, Some(count))
}

fn load_reading_at_most(
    overrides: &Overrides,
    env: &EnvSnapshot,
    read_at_most: Option<usize>,
) -> Result<Settings, ConfigErrors> {
    let (settings, issues, _) = load_all(overrides, env, read_at_most);
    if issues.is_empty() {
        Ok(settings)
    } else {
        Err(ConfigErrors { issues })
    }
}

/// What `tokentop doctor` reads: the settings as far as they could be read (a value with a
/// problem is left at its default or `None`), every problem, and the line of each
/// `[[account]]` in the file (to tell which account a problem belongs to).
#[derive(Debug)]
pub struct CheckedConfig {
    pub settings: Settings,
    pub issues: Vec<ConfigIssue>,
    /// 1-based line of each `[[account]]` table, in file order; empty without a file.
    pub account_lines: Vec<usize>,
}

/// Like [`load`], but keeps the settings next to the problems.
pub fn load_checked(overrides: &Overrides, env: &EnvSnapshot) -> CheckedConfig {
    let (settings, issues, text) = load_all(overrides, env, None);
    let account_lines = text.as_deref().map(file::account_lines).unwrap_or_default();
    CheckedConfig {
        settings,
        issues,
        account_lines,
    }
}

/// The settings, every problem (sorted) and the file's text, if one was read.
fn load_all(
    overrides: &Overrides,
    env: &EnvSnapshot,
    read_at_most: Option<usize>,
) -> (Settings, Vec<ConfigIssue>, Option<String>) {
    let mut issues = Vec::new();
    let config_path = discover_config_path(overrides, env);
    let text = config_path
        .as_deref()
        .and_then(|path| read_config(path, explicit_source(overrides, env), &mut issues));
    let mut file_config = match (&config_path, &text) {
        (Some(path), Some(text)) => {
            let parsed = file::parse(path, text, env, &mut issues, read_at_most);
            issues.extend(secrets::check_file_mode(path, &parsed.plain_secrets));
            parsed
        }
        _ => file::FileConfig::default(),
    };
    env::apply_graph_overrides(&mut file_config.graph, overrides, env, &mut issues);
    if !file_config.has_accounts {
        file_config
            .accounts
            .extend(env::env_account(env, &mut issues));
    }
    // Stable: issues without a file (env, flags) come first, then the file's by line.
    issues.sort_by_key(|issue| (issue.file.is_some(), issue.line));
    // Collected into the list of settings' buffer, which is 58 times the size the pointers
    // need (4.6 MB kept at 10,000 accounts): given back.
    let mut accounts: Vec<std::sync::Arc<AccountSettings>> = file_config
        .accounts
        .into_iter()
        .map(std::sync::Arc::new)
        .collect();
    accounts.shrink_to_fit();
    let settings = Settings {
        config_path: text.is_some().then_some(config_path).flatten(),
        data_dir: discover_data_dir(overrides, env),
        graph: file_config.graph,
        refresh: file_config.refresh,
        accounts,
        account_files: file_config.account_files,
        logs: file_config.logs,
        patterns: file_config.patterns,
        ui: file_config.ui,
        serve: file_config.serve,
        proxy: file_config.proxy,
        cluster: file_config.cluster,
        webhook: file_config.webhook,
    };
    (settings, issues, text)
}

/// `--config` > `$TOKENTOP_CONFIG` > `<platform config dir>/config.toml`; `None` only when
/// there is no home directory and nothing was given.
pub fn discover_config_path(overrides: &Overrides, env: &EnvSnapshot) -> Option<PathBuf> {
    if let Some(path) = overrides
        .config
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        return Some(absolute(path));
    }
    if let Some(path) = env.get("TOKENTOP_CONFIG") {
        return Some(absolute(Path::new(path)));
    }
    ProjectDirs::from("", "", APP_NAME).map(|dirs| dirs.config_dir().join("config.toml"))
}

/// `--data-dir` > `$TOKENTOP_DATA_DIR` > the platform data dir > `./tokentop-data`.
pub fn discover_data_dir(overrides: &Overrides, env: &EnvSnapshot) -> PathBuf {
    if let Some(path) = overrides
        .data_dir
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
    {
        return absolute(path);
    }
    if let Some(path) = env.get("TOKENTOP_DATA_DIR") {
        return absolute(Path::new(path));
    }
    match ProjectDirs::from("", "", APP_NAME) {
        Some(dirs) => dirs.data_dir().to_path_buf(),
        None => absolute(Path::new(FALLBACK_DATA_DIR)),
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Which flag or variable named the config file, if one did: then it must exist.
fn explicit_source(overrides: &Overrides, env: &EnvSnapshot) -> Option<&'static str> {
    if overrides
        .config
        .as_ref()
        .is_some_and(|p| !p.as_os_str().is_empty())
    {
        Some("--config")
    } else if env.get("TOKENTOP_CONFIG").is_some() {
        Some("TOKENTOP_CONFIG")
    } else {
        None
    }
}

/// Every key the config reader accepts, as `(table, key)`: the one list that tests, the
/// example config and documentation check themselves against. `[[account]]`'s
/// `test-message` is a table, listed as `account.test-message`.
pub fn known_keys() -> Vec<(&'static str, &'static str)> {
    let tables: [(&'static str, &[&'static str]); 15] = [
        ("graph", sections::GRAPH_KEYS),
        ("refresh", sections::REFRESH_KEYS),
        ("account", account::ACCOUNT_KEYS),
        ("account.test-message", account::TEST_MESSAGE_KEYS),
        ("accounts", accounts_table::ACCOUNTS_KEYS),
        ("log", telemetry::LOG_KEYS),
        ("patterns", telemetry::PATTERNS_KEYS),
        ("pattern", telemetry::PATTERN_KEYS),
        ("ui", sections::UI_KEYS),
        ("serve", sections::SERVE_KEYS),
        ("serve.token-reader", token_readers::TOKEN_READER_KEYS),
        ("proxy", proxy::PROXY_KEYS),
        ("cluster", cluster::CLUSTER_KEYS),
        ("webhook", webhook::WEBHOOK_KEYS),
        ("webhook.forward", webhook::FORWARD_KEYS),
    ];
    tables
        .into_iter()
        .flat_map(|(table, keys)| keys.iter().map(move |key| (table, *key)))
        .filter(|(table, key)| {
            *key != "test-message"
                && (*table, *key) != ("webhook", "forward")
                && (*table, *key) != ("serve", "token-reader")
        })
        .collect()
}

/// The file's text; a missing default-location file is fine (built-in defaults).
fn read_config(
    path: &Path,
    explicit: Option<&str>,
    issues: &mut Vec<ConfigIssue>,
) -> Option<String> {
    let problem = match read_capped(path, MAX_CONFIG_BYTES) {
        Ok(text) => return Some(text),
        Err(CappedReadError::NotFound) => match explicit {
            None => return None,
            Some(_) => "file not found".to_string(),
        },
        Err(err) => err.to_string(),
    };
    issues.push(ConfigIssue {
        file: None,
        line: None,
        key: explicit.unwrap_or("config file").to_string(),
        value: Some(format!("{:?}", path.display().to_string())),
        problem,
        allowed: format!(
            "a readable regular TOML file of at most {} MiB (`tokentop config init` writes a starter one)",
            MAX_CONFIG_BYTES / (1024 * 1024)
        ),
    });
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_snapshot_debug_shows_names_but_no_values() {
        let env = EnvSnapshot::from_pairs([("WHATSAPP_ACCESS_TOKEN", "EAAGsecretsecretx9Qf")]);
        let shown = format!("{env:?}");
        assert!(shown.contains("WHATSAPP_ACCESS_TOKEN"));
        assert!(!shown.contains("secretsecret"));
    }

    /// Every account's settings are held for the whole run: the list of them holds pointers,
    /// not the room the settings took while they were read.
    #[test]
    fn the_account_list_keeps_no_room_it_does_not_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokentop.toml");
        let table = |i: usize| {
            format!("[[account]]\nname = \"a{i}\"\naccess-token = \"EAAGtoken{i}tokentoken\"\n\n")
        };
        std::fs::write(&path, (0..40).map(table).collect::<String>()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let overrides = Overrides {
            config: Some(path),
            data_dir: Some(dir.path().join("data")),
            graph_url: None,
        };
        let settings = load(&overrides, &EnvSnapshot::default()).unwrap();
        assert_eq!(settings.accounts.len(), 40);
        assert_eq!(settings.accounts.capacity(), 40);
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let env = EnvSnapshot::from_pairs([("TOKENTOP_CONFIG", "")]);
        assert_eq!(env.get("TOKENTOP_CONFIG"), None);
        assert_eq!(explicit_source(&Overrides::default(), &env), None);
    }
}
