//! `[webhook]` and `[[webhook.forward]]`: the relay that receives Meta's signed webhooks, stores
//! them and forwards them to the application.

use std::path::PathBuf;

use secrecy::SecretString;
use toml::de::DeTable;

use super::issues::Invalid;
use super::proxy::listen_on;
use super::reader::{Ctx, join};
use super::secrets::secret;
use super::values;

pub(crate) const WEBHOOK_KEYS: &[&str] = &[
    "listen",
    "path",
    "verify-token",
    "tls-cert",
    "tls-key",
    "max-body",
    "max-queue",
    "undelivered-after",
    "failure-burst",
    "forward",
];

pub(crate) const FORWARD_KEYS: &[&str] = &["url", "name", "accounts"];

const MIB: u64 = 1024 * 1024;
/// Meta's `delivered` usually follows within seconds; a phone that is off delays it for hours.
pub const DEFAULT_UNDELIVERED_AFTER: std::time::Duration = std::time::Duration::from_secs(600);
/// Failed messages of one account in one minute that make a history row, unless
/// `failure-burst` says.
pub const DEFAULT_FAILURE_BURST: u64 = 10;

/// `[webhook]`: off unless `listen` is set.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub listen: Option<super::Listen>,
    /// The callback path Meta posts to and runs the handshake on (default `/webhook`).
    pub path: String,
    /// What Meta's handshake must send as `hub.verify_token`.
    pub verify_token: Option<SecretString>,
    /// PEM certificate chain and private key: TLS on the listener itself (reloaded on SIGHUP).
    pub tls: Option<TlsFiles>,
    /// The largest POST body accepted (default 4 MiB; Meta's are at most 3 MB).
    pub max_body: u64,
    /// Bytes of bodies not yet taken by every destination before new ones get 503 (Meta
    /// retries those for days), default 256 MiB.
    pub max_queue: u64,
    /// A send through the proxy that Meta accepted and that has no `delivered`, `read` or
    /// `failed` status this long after counts as undelivered (default 10 min).
    pub undelivered_after: std::time::Duration,
    /// Failed messages of one account in one minute that make a history row (at most one per
    /// account per 10 minutes); 0 writes none. Default 10.
    pub failure_burst: u64,
    pub forward: Vec<ForwardSettings>,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            listen: None,
            path: "/webhook".to_string(),
            verify_token: None,
            tls: None,
            max_body: 4 * MIB,
            max_queue: 256 * MIB,
            undelivered_after: DEFAULT_UNDELIVERED_AFTER,
            failure_burst: DEFAULT_FAILURE_BURST,
            forward: Vec::new(),
        }
    }
}

impl PartialEq for WebhookSettings {
    /// The verify token is compared by presence only, as the other secrets are.
    fn eq(&self, other: &Self) -> bool {
        self.listen == other.listen
            && self.path == other.path
            && self.verify_token.is_some() == other.verify_token.is_some()
            && self.tls == other.tls
            && self.max_body == other.max_body
            && self.max_queue == other.max_queue
            && self.undelivered_after == other.undelivered_after
            && self.failure_burst == other.failure_burst
            && self.forward == other.forward
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// One `[[webhook.forward]]`: where the application takes its webhooks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardSettings {
    /// Names the destination in metrics and its queue cursor (default: from the URL).
    pub name: String,
    pub url: String,
    /// Only webhooks about these accounts (by WABA or phone-number id); empty: all of them.
    pub accounts: Vec<String>,
}

pub(crate) fn webhook(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> WebhookSettings {
    let mut webhook = WebhookSettings::default();
    let Some((table, span)) = ctx.table(root, "", "webhook") else {
        return webhook;
    };
    let path = "webhook";
    ctx.check_keys(table, path, "[webhook]", WEBHOOK_KEYS);
    webhook.listen = ctx.checked(table, path, "listen", listen_on);
    if let Some(callback) = ctx.checked(table, path, "path", callback_path) {
        webhook.path = callback;
    }
    webhook.verify_token = secret(ctx, table, path, "verify-token");
    let size = |ctx: &mut Ctx<'_>, key: &str, min: u64, max: u64| {
        ctx.checked(table, path, key, |text| values::byte_size(text, min, max))
    };
    if let Some(limit) = size(ctx, "max-body", 1024, 64 * MIB) {
        webhook.max_body = limit;
    }
    if let Some(limit) = size(ctx, "max-queue", MIB, 1024 * 1024 * MIB) {
        webhook.max_queue = limit;
    }
    let undelivered_after = |text: &str| {
        use std::time::Duration;
        values::duration_in(
            text,
            Duration::from_secs(1),
            Duration::from_secs(7 * 86_400),
        )
    };
    if let Some(after) = ctx.checked(table, path, "undelivered-after", undelivered_after) {
        webhook.undelivered_after = after;
    }
    if let Some(burst) = ctx.id(table, path, "failure-burst", failure_burst) {
        webhook.failure_burst = burst.parse().unwrap_or(webhook.failure_burst);
    }
    webhook.tls = tls_files(ctx, table, path, &span);
    webhook.forward = forwards(ctx, table);
    if webhook.listen.is_some() && webhook.verify_token.is_none() {
        let invalid = Invalid::new(
            "missing: Meta's handshake can never succeed without it",
            "the string you enter as Verify token in the App Dashboard, e.g. verify-token = { env = \"TOKENTOP_WEBHOOK_VERIFY_TOKEN\" }",
        );
        ctx.issue(&span, "webhook.verify-token".to_string(), None, invalid);
    }
    webhook
}

/// Failed messages in one minute that make a burst row: 0 (none) to 1,000,000.
fn failure_burst(text: &str) -> Result<String, Invalid> {
    match text.trim().parse::<u64>() {
        Ok(n) if n <= 1_000_000 => Ok(n.to_string()),
        _ => Err(Invalid::new(
            "not a whole number from 0 to 1000000",
            "failed messages of one account in one minute that make a history row, e.g. 10 (the default); 0 for none",
        )),
    }
}

/// `"/webhook"`: an absolute path without query, fragment or dot segments.
fn callback_path(text: &str) -> Result<String, Invalid> {
    const ALLOWED: &str = "a path starting with /, such as \"/webhook\" or \"/meta/whatsapp\"";
    let text = text.trim();
    let plain = text.starts_with('/')
        && !text.contains(['?', '#', '%', '\\', ' '])
        && !text
            .split('/')
            .any(|segment| segment == "." || segment == "..");
    if plain {
        Ok(text.to_string())
    } else {
        Err(Invalid::new("not a plain absolute path", ALLOWED))
    }
}

/// `tls-cert` and `tls-key` of the table at `path` (`webhook`, `serve`): both or neither.
pub(crate) fn tls_files(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    path: &str,
    span: &std::ops::Range<usize>,
) -> Option<TlsFiles> {
    let cert = ctx.string(table, path, "tls-cert");
    let key = ctx.string(table, path, "tls-key");
    match (cert, key) {
        (Some(cert), Some(key)) => Some(TlsFiles {
            cert: ctx.resolve(&cert),
            key: ctx.resolve(&key),
        }),
        (None, None) => None,
        (cert, _) => {
            let missing = if cert.is_some() {
                "tls-key"
            } else {
                "tls-cert"
            };
            let invalid = Invalid::new(
                "missing: TLS needs both the certificate chain and its private key",
                "tls-cert = \"/etc/tokentop/fullchain.pem\" and tls-key = \"/etc/tokentop/privkey.pem\" (PEM files)",
            );
            ctx.issue(span, join(path, missing), None, invalid);
            None
        }
    }
}

fn forwards(ctx: &mut Ctx<'_>, table: &DeTable<'_>) -> Vec<ForwardSettings> {
    let mut forwards: Vec<ForwardSettings> = Vec::new();
    for (index, (entry, span)) in ctx
        .array_of_tables(table, "forward")
        .into_iter()
        .enumerate()
    {
        let path = format!("webhook.forward[{index}]");
        ctx.check_keys(entry, &path, "[[webhook.forward]]", FORWARD_KEYS);
        let Some(url) = ctx.checked(entry, &path, "url", forward_url) else {
            if !entry.contains_key("url") {
                let allowed =
                    "the application's webhook URL, e.g. \"http://127.0.0.1:3000/webhook\"";
                ctx.missing(&span, &path, "url", allowed);
            }
            continue;
        };
        let name = ctx
            .checked(entry, &path, "name", destination_name)
            .unwrap_or_else(|| name_from_url(&url));
        let accounts = account_names(ctx, entry, &path);
        if forwards.iter().any(|f| f.name == name) {
            let invalid = Invalid::new(
                format!("a second destination named {name:?}"),
                "a name = \"...\" of its own for each [[webhook.forward]] with the same URL",
            );
            ctx.issue(&span, join(&path, "name"), None, invalid);
            continue;
        }
        forwards.push(ForwardSettings {
            name,
            url,
            accounts,
        });
    }
    forwards
}

/// `accounts = ["shop", "support"]`: names of `[[account]]`s.
fn account_names(ctx: &mut Ctx<'_>, table: &DeTable<'_>, path: &str) -> Vec<String> {
    let Some(item) = table.get("accounts") else {
        return Vec::new();
    };
    let names: Option<Vec<String>> = super::reader::string_array(item)
        .map(|strings| strings.iter().map(|s| s.trim().to_string()).collect());
    match names {
        Some(names) if names.iter().all(|n| !n.is_empty()) => names,
        _ => {
            let shown = Some(ctx.shown(item));
            let invalid = Invalid::new(
                "not an array of account names",
                "an array of [[account]] names, e.g. [\"shop\"] (all accounts when absent)",
            );
            ctx.issue(&item.span(), join(path, "accounts"), shown, invalid);
            Vec::new()
        }
    }
}

fn forward_url(text: &str) -> Result<String, Invalid> {
    const ALLOWED: &str = "an http:// or https:// URL, e.g. \"http://127.0.0.1:3000/webhook\"";
    let url = reqwest::Url::parse(text.trim())
        .map_err(|err| Invalid::new(format!("not a URL ({err})"), ALLOWED))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(Invalid::new("not an http or https URL", ALLOWED));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Invalid::new(
            "a URL with credentials in it",
            "a URL without user:password (the application checks Meta's signature instead)",
        ));
    }
    Ok(url.to_string())
}

fn destination_name(text: &str) -> Result<String, Invalid> {
    let text = text.trim();
    let fits = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if fits {
        Ok(text.to_string())
    } else {
        Err(Invalid::new(
            "not a name of 1 to 64 letters, digits, '-', '_' or '.'",
            "a short name such as \"app\" or \"crm-eu\"",
        ))
    }
}

/// `http://127.0.0.1:3000/hooks/wa` -> `127.0.0.1_3000_hooks_wa`: stable while the URL is.
fn name_from_url(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let name: String = rest
        .trim_end_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_urls_and_paths_must_be_plain() {
        assert_eq!(
            name_from_url("http://127.0.0.1:3000/hooks/wa"),
            "127.0.0.1_3000_hooks_wa"
        );
        assert!(callback_path("/webhook").is_ok());
        for bad in ["webhook", "/a/../b", "/a?b", "/%2e"] {
            assert!(callback_path(bad).is_err(), "{bad}");
        }
        assert!(forward_url("ftp://x/").is_err());
        assert!(forward_url("http://user:pw@x/").is_err());
        assert!(destination_name("crm eu").is_err());
    }

    #[test]
    fn a_failure_burst_is_a_whole_number_and_zero_turns_it_off() {
        assert_eq!(failure_burst("25").unwrap(), "25");
        assert_eq!(failure_burst("0").unwrap(), "0");
        for bad in ["-1", "ten", "1.5", "1000001"] {
            assert!(failure_burst(bad).is_err(), "{bad}");
        }
        assert_eq!(WebhookSettings::default().failure_burst, 10);
    }
}
