//! `[cluster]`: share each account's tokens, leases and history through Redis, so that
//! tokentop processes on several hosts refresh each token exactly once per window.

use std::time::Duration;

use secrecy::ExposeSecret;
use toml::de::DeTable;

use super::issues::Invalid;
use super::reader::Ctx;
use super::secrets::secret;
use super::settings::ClusterSettings;
use super::values;

pub(crate) const CLUSTER_KEYS: &[&str] = &[
    "redis-url",
    "key-prefix",
    "member",
    "lease",
    "history-max-len",
];

pub(crate) fn cluster(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> ClusterSettings {
    let mut cluster = ClusterSettings::default();
    let Some((table, span)) = ctx.table(root, "", "cluster") else {
        return cluster;
    };
    let path = "cluster";
    ctx.check_keys(table, path, "[cluster]", CLUSTER_KEYS);
    cluster.redis_url = secret(ctx, table, path, "redis-url");
    match &cluster.redis_url {
        None if table.get("redis-url").is_none() => ctx.missing(
            &span,
            path,
            "redis-url",
            "redis://[USER:PASSWORD@]HOST:PORT[/DB] or rediss:// for TLS, usually { env = \"TOKENTOP_REDIS_URL\" }",
        ),
        Some(url) => {
            if let Err(invalid) = redis_url(url.expose_secret()) {
                let item = table.get("redis-url");
                let shown = Some(values::url_without_password(url.expose_secret()));
                if let Some(item) = item {
                    ctx.issue(&item.span(), "cluster.redis-url".to_string(), shown, invalid);
                }
                cluster.redis_url = None;
            } else if !values::url_has_password(url.expose_secret()) {
                // Host and port are no secret: a plain URL without a password may sit in a
                // config file the group can read.
                ctx.plain_secrets.retain(|plain| plain.key != "cluster.redis-url");
            }
        }
        None => {}
    }
    if let Some(prefix) = ctx.checked(table, path, "key-prefix", key_prefix) {
        cluster.key_prefix = prefix;
    }
    cluster.member = ctx.checked(table, path, "member", member_name);
    let lease_range =
        |text: &str| values::duration_in(text, Duration::from_secs(2), Duration::from_secs(600));
    if let Some(lease) = ctx.checked(table, path, "lease", lease_range) {
        cluster.lease = lease;
    }
    if let Some(len) = ctx.id(table, path, "history-max-len", history_max_len) {
        cluster.history_max_len = len.parse().unwrap_or(cluster.history_max_len);
    }
    cluster
}

/// Only the scheme and the presence of a host are checked here; the connection says the rest.
pub(crate) fn redis_url(text: &str) -> Result<(), Invalid> {
    const ALLOWED: &str = "redis://[USER:PASSWORD@]HOST:PORT[/DB], or rediss:// for TLS";
    let parsed =
        reqwest::Url::parse(text.trim()).map_err(|_| Invalid::new("not a URL", ALLOWED))?;
    if !matches!(parsed.scheme(), "redis" | "rediss") {
        return Err(Invalid::new(
            format!("the scheme {:?} is not redis or rediss", parsed.scheme()),
            ALLOWED,
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(Invalid::new("no host", ALLOWED));
    }
    Ok(())
}

fn key_prefix(text: &str) -> Result<String, Invalid> {
    const ALLOWED: &str = "1 to 64 printable characters without spaces, e.g. \"tokentop:\" (the default) or \"prod:tokentop:\"";
    let ok = (1..=64).contains(&text.len()) && text.chars().all(|c| c.is_ascii_graphic());
    if ok {
        Ok(text.to_string())
    } else {
        Err(Invalid::new("not a usable key prefix", ALLOWED))
    }
}

/// The name this process goes by in the cluster (history rows, lease holders, heartbeats).
fn member_name(text: &str) -> Result<String, Invalid> {
    const ALLOWED: &str =
        "1 to 64 letters, digits, '.', '-' or '_' (default: the host name and process id)";
    let ok = (1..=64).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if ok {
        Ok(text.to_string())
    } else {
        Err(Invalid::new("not a usable member name", ALLOWED))
    }
}

fn history_max_len(text: &str) -> Result<String, Invalid> {
    match text.trim().parse::<u64>() {
        Ok(n) if (100..=10_000_000).contains(&n) => Ok(n.to_string()),
        _ => Err(Invalid::new(
            "not a whole number from 100 to 10000000",
            "history rows kept in the Redis stream, from 100 to 10000000 (default 100000)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_need_the_redis_scheme_and_a_host() {
        assert!(redis_url("redis://127.0.0.1:6379").is_ok());
        assert!(redis_url("rediss://user:pw@redis.example:6380/2").is_ok());
        assert!(redis_url("http://127.0.0.1:6379").is_err());
        assert!(redis_url("127.0.0.1:6379").is_err());
        assert!(redis_url("").is_err());
    }

    #[test]
    fn prefixes_and_members_are_checked() {
        assert!(key_prefix("tokentop:").is_ok());
        assert!(key_prefix("has space").is_err());
        assert!(key_prefix("").is_err());
        assert!(member_name("web-1.eu").is_ok());
        assert!(member_name("web 1").is_err());
        assert!(history_max_len("99").is_err());
        assert!(history_max_len("1000").is_ok());
    }
}
