//! One config file: TOML syntax, then every table checked against the schema.

use std::path::Path;

use toml::de::DeTable;

use super::issues::{ConfigIssue, Invalid};
use super::reader::{Ctx, PlainSecret};
use super::settings::{
    AccountSettings, ClusterSettings, GraphSettings, LogSourceSettings, PatternSettings,
    ProxySettings, RefreshPolicy, ServeSettings, UiSettings,
};
use super::{EnvSnapshot, account, accounts_table, cluster, proxy, sections, telemetry, webhook};

const TOP_LEVEL_KEYS: &[&str] = &[
    "graph", "refresh", "account", "accounts", "log", "patterns", "pattern", "ui", "serve",
    "proxy", "cluster", "webhook",
];

/// What the file said, over the built-in defaults.
#[derive(Debug, Default)]
pub(crate) struct FileConfig {
    pub graph: GraphSettings,
    pub refresh: RefreshPolicy,
    pub accounts: Vec<AccountSettings>,
    /// Whether the file has any `[[account]]`, valid or not: then the environment defines none.
    pub has_accounts: bool,
    /// `[accounts]` (`dir`, or `source = "redis"`) and its accounts that were skipped.
    pub account_files: super::AccountFiles,
    pub logs: Vec<LogSourceSettings>,
    pub patterns: PatternSettings,
    pub ui: UiSettings,
    pub serve: ServeSettings,
    pub proxy: ProxySettings,
    pub cluster: ClusterSettings,
    pub webhook: super::WebhookSettings,
    pub plain_secrets: Vec<PlainSecret>,
}

/// Parses `text` (the content of `file`), appending every problem to `issues`.
pub(crate) fn parse(
    file: &Path,
    text: &str,
    env: &EnvSnapshot,
    issues: &mut Vec<ConfigIssue>,
    read_at_most: Option<usize>,
) -> FileConfig {
    let mut ctx = Ctx::new(text, file, env);
    ctx.read_at_most = read_at_most;
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(err) => {
            let span = err.span().unwrap_or(0..0);
            // Only the parser's message: its full Display quotes the source line, which may
            // hold a secret.
            let invalid = Invalid::new(format!("invalid TOML: {}", err.message().trim()), "");
            ctx.issue(&span, String::new(), None, invalid);
            issues.append(&mut ctx.issues);
            return FileConfig::default();
        }
    };
    let root = doc.get_ref();
    ctx.check_keys(root, "", "the top level", TOP_LEVEL_KEYS);
    let graph = sections::graph(&mut ctx, root);
    let refresh = sections::refresh(&mut ctx, root);
    let mut accounts = account::accounts(&mut ctx, root);
    // Before `[accounts]`: `source = "redis"` reads the accounts from the cluster's Redis.
    let cluster = cluster::cluster(&mut ctx, root);
    let account_files =
        accounts_table::extra_accounts(&mut ctx, root, (file, text), &cluster, &mut accounts);
    let has_accounts = root.contains_key("account")
        || account_files.dir.is_some()
        || account_files.redis_key.is_some();
    let account_names = account_names(&accounts, has_accounts);
    let config = FileConfig {
        graph,
        refresh,
        has_accounts,
        account_files,
        accounts,
        logs: telemetry::logs(&mut ctx, root),
        patterns: telemetry::patterns(&mut ctx, root),
        ui: sections::ui(&mut ctx, root),
        serve: sections::serve(&mut ctx, root, &account_names),
        proxy: proxy::proxy(&mut ctx, root),
        cluster,
        webhook: webhook::webhook(&mut ctx, root),
        plain_secrets: std::mem::take(&mut ctx.plain_secrets),
    };
    issues.append(&mut ctx.issues);
    config
}

/// The names accounts will have: the file's, or without any `[[account]]` the one the
/// `WHATSAPP_*` variables define, `default`.
fn account_names(accounts: &[AccountSettings], has_accounts: bool) -> Vec<String> {
    if has_accounts {
        accounts.iter().map(|a| a.name.clone()).collect()
    } else {
        // env.rs names the account of the WHATSAPP_* variables so.
        vec!["default".to_string()]
    }
}

/// The 1-based line where each `[[account]]` table starts; empty when the text is not TOML.
pub(crate) fn account_lines(text: &str) -> Vec<usize> {
    let Ok(doc) = DeTable::parse(text) else {
        return Vec::new();
    };
    let Some(toml::de::DeValue::Array(array)) = doc.get_ref().get("account").map(|i| i.get_ref())
    else {
        return Vec::new();
    };
    array
        .iter()
        .map(|table| {
            let before = text.get(..table.span().start).unwrap_or(text);
            before.matches('\n').count() + 1
        })
        .collect()
}
