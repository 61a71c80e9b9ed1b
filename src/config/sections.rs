//! The single tables of the file: `[graph]`, `[refresh]`, `[ui]` and `[serve]`.

use std::time::Duration;

use toml::de::DeTable;

use super::issues::Invalid;
use super::reader::Ctx;
use super::secrets::secret;
use super::settings::{
    ExpiringSystemUser, GraphSettings, RefreshPolicy, ServeSettings, Theme, UiSettings,
};
use super::values;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

pub(crate) const GRAPH_KEYS: &[&str] = &["base-url", "version", "timeout", "sunsets"];
pub(crate) const REFRESH_KEYS: &[&str] = &[
    "check-interval",
    "refresh-before",
    "send-guard",
    "warn-before",
    "critical-before",
    "expiring-system-user",
    "renew-business-tokens",
];
pub(crate) const UI_KEYS: &[&str] = &["tick", "theme", "mouse"];
pub(crate) const SERVE_KEYS: &[&str] = &[
    "listen",
    "bearer-token",
    "tls-cert",
    "tls-key",
    "token-endpoint",
    "token-bearer",
    "token-reader",
];

/// Limits of `[graph] timeout`.
pub(crate) const GRAPH_TIMEOUT_RANGE: (Duration, Duration) = (SECOND, Duration::from_secs(300));

pub(crate) fn graph(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> GraphSettings {
    let mut graph = GraphSettings::default();
    let Some((table, _)) = ctx.table(root, "", "graph") else {
        return graph;
    };
    ctx.check_keys(table, "graph", "[graph]", GRAPH_KEYS);
    if let Some(url) = ctx.checked(table, "graph", "base-url", values::base_url) {
        graph.base_url = url;
    }
    if let Some(version) = ctx.checked(table, "graph", "version", values::graph_version) {
        graph.version = version;
    }
    let (min, max) = GRAPH_TIMEOUT_RANGE;
    if let Some(timeout) = ctx.checked(table, "graph", "timeout", |t| {
        values::duration_in(t, min, max)
    }) {
        graph.request_timeout = timeout;
    }
    graph.sunsets = sunsets(ctx, table);
    graph
}

/// `sunsets = { "v21.0" = "2027-01-21" }`: versions and their last usable days.
fn sunsets(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
) -> std::collections::BTreeMap<String, chrono::NaiveDate> {
    const ALLOWED: &str =
        "a table of versions and dates, e.g. sunsets = { \"v27.0\" = \"2028-11-30\" }";
    let mut sunsets = std::collections::BTreeMap::new();
    let Some(item) = table.get("sunsets") else {
        return sunsets;
    };
    let toml::de::DeValue::Table(entries) = item.get_ref() else {
        ctx.wrong_type(item, "graph.sunsets".to_string(), ALLOWED);
        return sunsets;
    };
    for (version, date) in entries.iter() {
        let key = format!("graph.sunsets.{}", version.get_ref());
        let parsed_version = values::graph_version(version.get_ref());
        let parsed_date = date
            .get_ref()
            .as_str()
            .and_then(|text| chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok());
        match (parsed_version, parsed_date) {
            (Ok(version), Some(date)) => {
                sunsets.insert(version, date);
            }
            (Err(invalid), _) => ctx.issue(&version.span(), key, None, invalid),
            (Ok(_), None) => {
                let shown = Some(ctx.shown(date));
                let invalid = Invalid::new("not a date as YYYY-MM-DD", ALLOWED);
                ctx.issue(&date.span(), key, shown, invalid);
            }
        }
    }
    sunsets
}

pub(crate) fn refresh(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> RefreshPolicy {
    let mut policy = RefreshPolicy::default();
    let Some((table, _)) = ctx.table(root, "", "refresh") else {
        return policy;
    };
    let path = "refresh";
    ctx.check_keys(table, path, "[refresh]", REFRESH_KEYS);
    let duration = |ctx: &mut Ctx<'_>, key: &str, min: Duration, max: Duration| {
        ctx.checked(table, path, key, |text| values::duration_in(text, min, max))
    };
    if let Some(interval) = duration(ctx, "check-interval", 10 * SECOND, 7 * DAY) {
        policy.check_interval = interval;
    }
    if let Some(guard) = duration(ctx, "send-guard", Duration::ZERO, DAY) {
        policy.send_guard = guard;
    }
    if let Some(warn) = duration(ctx, "warn-before", Duration::ZERO, 365 * DAY) {
        policy.warn_before = warn;
    }
    if let Some(critical) = duration(ctx, "critical-before", Duration::ZERO, 365 * DAY) {
        policy.critical_before = critical;
    }
    let refresh_before = |text: &str| values::refresh_before(text, MINUTE, 90 * DAY);
    if let Some(before) = ctx.checked(table, path, "refresh-before", refresh_before) {
        policy.refresh_before = before;
    }
    if let Some(mode) = expiring_system_user(ctx, table) {
        policy.expiring_system_user = mode;
    }
    if let Some(renew) = ctx.bool(table, path, "renew-business-tokens") {
        policy.renew_business_tokens = renew;
    }
    check_warn_after_critical(ctx, table, &policy);
    policy
}

/// Accepts the TOML booleans as well as the words, since `true` unquoted is the natural spelling.
fn expiring_system_user(ctx: &mut Ctx<'_>, table: &DeTable<'_>) -> Option<ExpiringSystemUser> {
    if let Some(flag) = table
        .get("expiring-system-user")
        .and_then(|item| item.get_ref().as_bool())
    {
        return Some(if flag {
            ExpiringSystemUser::Yes
        } else {
            ExpiringSystemUser::No
        });
    }
    let options = [
        ("auto", ExpiringSystemUser::Auto),
        ("true", ExpiringSystemUser::Yes),
        ("false", ExpiringSystemUser::No),
    ];
    ctx.choice(table, "refresh", "expiring-system-user", &options)
}

fn check_warn_after_critical(ctx: &mut Ctx<'_>, table: &DeTable<'_>, policy: &RefreshPolicy) {
    if policy.warn_before >= policy.critical_before {
        return;
    }
    // Point at whichever of the two was written; warn-before when both were.
    let (key, item) = match (table.get("warn-before"), table.get("critical-before")) {
        (Some(item), _) => ("refresh.warn-before", item),
        (None, Some(item)) => ("refresh.critical-before", item),
        (None, None) => return,
    };
    let shown = Some(ctx.shown(item));
    let invalid = Invalid::new(
        "warn-before is shorter than critical-before",
        "warn-before at least as long as critical-before (defaults 7d and 1d)",
    );
    ctx.issue(&item.span(), key.to_string(), shown, invalid);
}

pub(crate) fn ui(ctx: &mut Ctx<'_>, root: &DeTable<'_>) -> UiSettings {
    let mut ui = UiSettings::default();
    let Some((table, _)) = ctx.table(root, "", "ui") else {
        return ui;
    };
    ctx.check_keys(table, "ui", "[ui]", UI_KEYS);
    let tick_range =
        |text: &str| values::duration_in(text, Duration::from_millis(100), 60 * SECOND);
    if let Some(tick) = ctx.checked(table, "ui", "tick", tick_range) {
        ui.tick = tick;
    }
    let themes = [
        ("dark", Theme::Dark),
        ("light", Theme::Light),
        ("mono", Theme::Mono),
    ];
    if let Some(theme) = ctx.choice(table, "ui", "theme", &themes) {
        ui.theme = theme;
    }
    if let Some(mouse) = ctx.bool(table, "ui", "mouse") {
        ui.mouse = mouse;
    }
    ui
}

/// `[serve]`; `accounts` are the configured account names (a token reader's `accounts` may
/// list only those).
pub(crate) fn serve(ctx: &mut Ctx<'_>, root: &DeTable<'_>, accounts: &[String]) -> ServeSettings {
    let mut serve = ServeSettings::default();
    let Some((table, span)) = ctx.table(root, "", "serve") else {
        return serve;
    };
    ctx.check_keys(table, "serve", "[serve]", SERVE_KEYS);
    serve.listen = ctx.checked(table, "serve", "listen", values::listen_addr);
    serve.bearer_token = secret(ctx, table, "serve", "bearer-token");
    serve.tls = super::webhook::tls_files(ctx, table, "serve", &span);
    super::token_readers::token_endpoint(ctx, table, &span, &mut serve, accounts);
    serve
}
