//! `[serve] token-endpoint`, `token-bearer` and `[[serve.token-reader]]`: who may read the
//! accounts' tokens from `GET /v1/accounts/{name}/token` (External Secrets Operator's webhook
//! provider, say), each with a bearer of its own and, optionally, only some accounts.

use std::ops::Range;

use secrecy::{ExposeSecret, SecretString};
use toml::de::DeTable;

use super::issues::Invalid;
use super::reader::{Ctx, join};
use super::secrets::secret;
use super::settings::ServeSettings;
use super::values;

pub(crate) const TOKEN_READER_KEYS: &[&str] = &["name", "bearer", "accounts"];

/// The reader name of reads made with `[serve] token-bearer`.
pub const DEFAULT_READER: &str = "default";

/// One `[[serve.token-reader]]`: a client of the token endpoint with a bearer of its own.
#[derive(Debug, Clone)]
pub struct TokenReaderSettings {
    /// Names the reader in metrics, logs and the dashboard's "picked up by" count.
    pub name: String,
    pub bearer: SecretString,
    /// The accounts it may read; `None`: all of them.
    pub accounts: Option<Vec<String>>,
}

impl PartialEq for TokenReaderSettings {
    /// The bearer is compared by presence only (it is always there), as the other secrets are.
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.accounts == other.accounts
    }
}

impl TokenReaderSettings {
    /// True when this reader may read `account`'s token.
    pub fn may_read(&self, account: &str) -> bool {
        self.accounts
            .as_ref()
            .is_none_or(|names| names.iter().any(|name| name == account))
    }
}

impl ServeSettings {
    /// The readers that may read `account`'s token through the token endpoint: `default`
    /// (the token-bearer's) when that is set, and the configured readers allowed it. Empty
    /// when the endpoint is off.
    pub fn token_readers_of(&self, account: &str) -> Vec<String> {
        if !self.token_endpoint {
            return Vec::new();
        }
        let default = self
            .token_bearer
            .as_ref()
            .map(|_| DEFAULT_READER.to_string());
        let configured = self
            .token_readers
            .iter()
            .filter(|reader| reader.may_read(account))
            .map(|reader| reader.name.clone());
        default.into_iter().chain(configured).collect()
    }
}

/// Reads the token endpoint's keys of `[serve]` (at `span`) into `serve`. `accounts` are the
/// configured account names a reader's `accounts` may list.
pub(crate) fn token_endpoint(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    span: &Range<usize>,
    serve: &mut ServeSettings,
    accounts: &[String],
) {
    serve.token_endpoint = ctx.bool(table, "serve", "token-endpoint").unwrap_or(false);
    serve.token_bearer = secret(ctx, table, "serve", "token-bearer");
    let parsed = readers(ctx, table, accounts);
    let bearer_at: Vec<(String, Range<usize>)> = parsed
        .iter()
        .map(|p| (p.bearer_key.clone(), p.bearer_span.clone()))
        .collect();
    serve.token_readers = parsed.into_iter().map(|p| p.reader).collect();
    if serve.token_endpoint && serve.token_bearer.is_none() && serve.token_readers.is_empty() {
        let invalid = Invalid::new(
            "missing: token-endpoint = true needs a bearer for its clients (the metrics bearer-token never reads tokens)",
            "token-bearer = { env = \"TOKENTOP_TOKEN_BEARER\" }, or [[serve.token-reader]] tables with a bearer each",
        );
        ctx.issue(span, "serve.token-bearer".to_string(), None, invalid);
    }
    check_bearers_differ(ctx, table, serve, &bearer_at);
    check_exposure(ctx, table, serve);
}

/// A reader as read, with where its bearer is (for the check that bearers differ).
struct ParsedReader {
    reader: TokenReaderSettings,
    bearer_key: String,
    bearer_span: Range<usize>,
}

fn readers(ctx: &mut Ctx<'_>, table: &DeTable<'_>, accounts: &[String]) -> Vec<ParsedReader> {
    let mut readers: Vec<ParsedReader> = Vec::new();
    let tables = ctx.array_of_tables(table, "token-reader");
    for (index, (entry, span)) in tables.into_iter().enumerate() {
        let path = format!("serve.token-reader[{index}]");
        let Some(parsed) = reader(ctx, entry, &span, &path, accounts) else {
            continue;
        };
        let name = &parsed.reader.name;
        if readers.iter().any(|p| p.reader.name == *name) {
            let invalid = Invalid::new(
                format!("a second token reader named {name:?}"),
                "a name no other [[serve.token-reader]] uses",
            );
            let item_span = entry.get("name").map_or(span, |i| i.span());
            let shown = Some(format!("{name:?}"));
            ctx.issue(&item_span, join(&path, "name"), shown, invalid);
            continue;
        }
        readers.push(parsed);
    }
    readers
}

/// One `[[serve.token-reader]]` at `path`; `None` (reported) without a valid name and bearer.
fn reader(
    ctx: &mut Ctx<'_>,
    entry: &DeTable<'_>,
    span: &Range<usize>,
    path: &str,
    accounts: &[String],
) -> Option<ParsedReader> {
    ctx.check_keys(entry, path, "[[serve.token-reader]]", TOKEN_READER_KEYS);
    let name = ctx.checked(entry, path, "name", reader_name);
    if name.is_none() && !entry.contains_key("name") {
        ctx.missing(span, path, "name", "a short name such as \"eso-prod\"");
    }
    let bearer = secret(ctx, entry, path, "bearer");
    if bearer.is_none() && !entry.contains_key("bearer") {
        let allowed = "a secret, e.g. { env = \"TOKENTOP_ESO_BEARER\" }";
        ctx.missing(span, path, "bearer", allowed);
    }
    let accounts = reader_accounts(ctx, entry, path, accounts);
    Some(ParsedReader {
        reader: TokenReaderSettings {
            name: name?,
            bearer: bearer?,
            accounts,
        },
        bearer_key: join(path, "bearer"),
        bearer_span: entry.get("bearer").map_or(span.clone(), |i| i.span()),
    })
}

/// Like an account name (it becomes a metric label and a log word); `default` is the
/// token-bearer's.
fn reader_name(text: &str) -> Result<String, Invalid> {
    const ALLOWED: &str = "1 to 32 characters from A-Z, a-z, 0-9, _, . and -, not starting with - or ., and not \"default\" (the name of reads with token-bearer)";
    let name = values::account_name(text.trim())
        .map_err(|_| Invalid::new("not a valid reader name", ALLOWED))?;
    if name == DEFAULT_READER {
        return Err(Invalid::new(
            "\"default\" is the name of reads with [serve] token-bearer",
            ALLOWED,
        ));
    }
    Ok(name)
}

/// `accounts = ["main"]`: configured account names; `None` when absent (all accounts).
fn reader_accounts(
    ctx: &mut Ctx<'_>,
    entry: &DeTable<'_>,
    path: &str,
    accounts: &[String],
) -> Option<Vec<String>> {
    let item = entry.get("accounts")?;
    let names: Option<Vec<String>> = super::reader::string_array(item)
        .map(|strings| strings.iter().map(|s| s.trim().to_string()).collect());
    let Some(names) = names else {
        let shown = Some(ctx.shown(item));
        let invalid = Invalid::new(
            "not an array of account names",
            "an array of [[account]] names, e.g. [\"main\"] (all accounts when absent)",
        );
        ctx.issue(&item.span(), join(path, "accounts"), shown, invalid);
        return Some(Vec::new());
    };
    for unknown in names.iter().filter(|n| !accounts.contains(n)) {
        let invalid = Invalid::new(
            format!("no [[account]] is named {unknown:?}"),
            format!("names of configured accounts: {}", accounts.join(", ")),
        );
        let shown = Some(ctx.shown(item));
        ctx.issue(&item.span(), join(path, "accounts"), shown, invalid);
    }
    Some(names)
}

/// Every bearer tells its holder apart: the metrics one must never read tokens, and two
/// readers with one bearer could not be told apart.
fn check_bearers_differ(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    serve: &ServeSettings,
    reader_bearers_at: &[(String, Range<usize>)],
) {
    let mut seen: Vec<(String, &SecretString)> = Vec::new();
    if let Some(metrics) = &serve.bearer_token {
        seen.push(("[serve] bearer-token".to_string(), metrics));
    }
    let token_bearer = serve.token_bearer.as_ref().map(|bearer| {
        let span = table.get("token-bearer").map_or(0..0, |i| i.span());
        let key = "serve.token-bearer".to_string();
        (key, "[serve] token-bearer".to_string(), bearer, span)
    });
    let readers = serve.token_readers.iter().zip(reader_bearers_at);
    let candidates = token_bearer
        .into_iter()
        .chain(readers.map(|(r, (key, span))| {
            let shown = format!("the bearer of token reader {:?}", r.name);
            (key.clone(), shown, &r.bearer, span.clone())
        }));
    for (key, shown, bearer, span) in candidates.collect::<Vec<_>>() {
        let clash = seen
            .iter()
            .find(|(_, other)| other.expose_secret() == bearer.expose_secret());
        if let Some((other, _)) = clash {
            let invalid = Invalid::new(
                format!("the same secret as {other}"),
                "a bearer of its own: [serve] bearer-token (the metrics one), token-bearer and each [[serve.token-reader]] bearer must all differ",
            );
            ctx.issue(&span, key, None, invalid);
        }
        seen.push((shown, bearer));
    }
}

/// Tokens must not cross a network in the clear: off loopback the listener needs TLS. The
/// address given with `--listen` is checked again when the endpoint starts.
fn check_exposure(ctx: &mut Ctx<'_>, table: &DeTable<'_>, serve: &ServeSettings) {
    let Some(listen) = serve.listen else {
        return;
    };
    if !serve.token_endpoint || serve.tls.is_some() || listen.ip().is_loopback() {
        return;
    }
    let Some(item) = table.get("token-endpoint") else {
        return;
    };
    let invalid = Invalid::new(
        format!("serves tokens on {listen}, which is not loopback, without TLS"),
        "tls-cert and tls-key in [serve], or a loopback listen address such as \"127.0.0.1:9477\"",
    );
    ctx.issue(
        &item.span(),
        "serve.token-endpoint".to_string(),
        Some("true".into()),
        invalid,
    );
}
