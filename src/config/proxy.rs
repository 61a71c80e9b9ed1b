//! `[proxy]`: the Graph API proxy that adds the account's token to the application's requests.

use std::path::PathBuf;
use std::time::Duration;

use toml::de::DeTable;

use super::issues::Invalid;
use super::reader::Ctx;
use super::secrets::secret;
use super::settings::{Listen, ProxySettings};
use super::values;

pub(crate) const PROXY_KEYS: &[&str] = &[
    "listen",
    "client-token",
    "allow",
    "retry-body-limit",
    "max-request-body",
    "timeout",
    "max-concurrent",
];

const MIB: u64 = 1024 * 1024;

pub(crate) fn proxy(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> ProxySettings {
    let mut proxy = ProxySettings::default();
    let Some((table, _)) = ctx.table(root, "", "proxy") else {
        return proxy;
    };
    let path = "proxy";
    ctx.check_keys(table, path, "[proxy]", PROXY_KEYS);
    proxy.listen = ctx.checked(table, path, "listen", listen_on);
    proxy.client_token = secret(ctx, table, path, "client-token");
    proxy.allow = allow_list(ctx, table);
    let size = |ctx: &mut Ctx<'_>, key: &str, max: u64| {
        ctx.checked(table, path, key, |text| values::byte_size(text, 1024, max))
    };
    if let Some(limit) = size(ctx, "retry-body-limit", 1024 * MIB) {
        proxy.retry_body_limit = limit;
    }
    if let Some(limit) = size(ctx, "max-request-body", 4096 * MIB) {
        proxy.max_request_body = limit;
    }
    let timeout_range =
        |text: &str| values::duration_in(text, Duration::from_secs(1), Duration::from_secs(600));
    if let Some(timeout) = ctx.checked(table, path, "timeout", timeout_range) {
        proxy.timeout = timeout;
    }
    if let Some(cap) = ctx.id(table, path, "max-concurrent", concurrency) {
        proxy.max_concurrent = cap.parse().unwrap_or(proxy.max_concurrent);
    }
    check_exposure(ctx, table, &proxy);
    proxy
}

/// `"127.0.0.1:8089"` or `"unix:/run/tokentop/graph.sock"` (the proxy's and the webhook
/// relay's `listen`).
pub(crate) fn listen_on(text: &str) -> Result<Listen, Invalid> {
    const ALLOWED: &str = "an IP address and port such as \"127.0.0.1:8089\", or \"unix:/PATH\" for a Unix socket (created 0660)";
    if let Some(path) = text.trim().strip_prefix("unix:") {
        let path = PathBuf::from(path);
        if !path.is_absolute() {
            return Err(Invalid::new("the socket path is not absolute", ALLOWED));
        }
        return Ok(Listen::Unix(path));
    }
    values::listen_addr(text)
        .map(Listen::Tcp)
        .map_err(|invalid| Invalid::new(invalid.problem, ALLOWED))
}

fn concurrency(text: &str) -> Result<String, Invalid> {
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n.to_string()),
        _ => Err(Invalid::new(
            "not a whole number from 1 to 10000",
            "upstream requests in flight per account, from 1 to 10000 (default 64)",
        )),
    }
}

/// `allow = ["/{id}/subscribed_apps", "/*/message_templates"]`: extra path patterns.
fn allow_list(ctx: &mut Ctx<'_>, table: &DeTable<'_>) -> Vec<String> {
    const ALLOWED: &str = "an array of paths starting with /, where * stands for one path segment, e.g. [\"/*/message_templates\"]";
    let Some(item) = table.get("allow") else {
        return Vec::new();
    };
    let patterns: Option<Vec<String>> = super::reader::string_array(item)
        .map(|strings| strings.iter().map(|s| s.trim().to_string()).collect());
    match patterns {
        Some(patterns) if patterns.iter().all(|p| p.starts_with('/') && p.len() > 1) => patterns,
        _ => {
            let shown = Some(ctx.shown(item));
            let invalid = Invalid::new("not an array of paths", ALLOWED);
            ctx.issue(&item.span(), "proxy.allow".to_string(), shown, invalid);
            Vec::new()
        }
    }
}

/// A proxy on the network adds the account's token to whatever reaches it: refuse that
/// without a client token.
fn check_exposure(ctx: &mut Ctx<'_>, table: &DeTable<'_>, proxy: &ProxySettings) {
    let Some(Listen::Tcp(addr)) = &proxy.listen else {
        return;
    };
    if addr.ip().is_loopback() || proxy.client_token.is_some() {
        return;
    }
    let Some(item) = table.get("listen") else {
        return;
    };
    let shown = Some(ctx.shown(item));
    let invalid = Invalid::new(
        "a non-loopback address without client-token would hand the token to anyone who reaches it",
        "a loopback address (127.0.0.1:PORT), a unix: socket, or set [proxy] client-token = { env = \"NAME\" }",
    );
    ctx.issue(&item.span(), "proxy.listen".to_string(), shown, invalid);
}
