//! What the environment and the command line add: the zero-config `default` account from
//! `WHATSAPP_*` variables and the Graph URL/version overrides.

use secrecy::SecretString;

use super::account::DEFAULT_ON_REFRESH_TIMEOUT;
use super::issues::{ConfigIssue, Invalid};
use super::settings::{AccountSettings, GraphSettings, TestMessageSettings};
use super::{EnvSnapshot, Overrides, values};

/// The variables that, when any is set, define the `default` account.
const ACCOUNT_VARS: [&str; 6] = [
    "WHATSAPP_APP_ID",
    "WHATSAPP_APP_SECRET",
    "WHATSAPP_ACCESS_TOKEN",
    "WHATSAPP_REFRESH_TOKEN",
    "WHATSAPP_PHONE_NUMBER_ID",
    "WHATSAPP_BUSINESS_ACCOUNT_ID",
];

/// The `default` account from `WHATSAPP_*`, when at least one of them is set.
pub(crate) fn env_account(
    env: &EnvSnapshot,
    issues: &mut Vec<ConfigIssue>,
) -> Option<AccountSettings> {
    if ACCOUNT_VARS.iter().all(|name| env.get(name).is_none()) {
        return None;
    }
    let mut checked = |name: &str, validate: fn(&str) -> Result<String, Invalid>| {
        let value = env.get(name)?.trim();
        validate(value)
            .map_err(|invalid| issues.push(invalid.outside_file(name, value)))
            .ok()
    };
    let app_id = checked("WHATSAPP_APP_ID", values::digits_id);
    let phone_number_id = checked("WHATSAPP_PHONE_NUMBER_ID", values::digits_id);
    let business_account_id = checked("WHATSAPP_BUSINESS_ACCOUNT_ID", values::digits_id);
    let to = checked("WHATSAPP_TEST_RECIPIENT", values::phone_number);
    let secret = |name: &str| {
        env.get(name)
            .map(|value| SecretString::from(value.trim().to_string()))
    };
    Some(AccountSettings {
        name: "default".to_string(),
        app_id,
        app_secret: secret("WHATSAPP_APP_SECRET"),
        access_token: secret("WHATSAPP_ACCESS_TOKEN"),
        long_lived_token: secret("WHATSAPP_REFRESH_TOKEN"),
        phone_number_id,
        business_account_id,
        env_file: None,
        token_file: None,
        token_file_mode: crate::config::DEFAULT_TOKEN_FILE_MODE,
        on_refresh: None,
        on_refresh_timeout: DEFAULT_ON_REFRESH_TIMEOUT,
        on_refresh_env: Vec::new(),
        on_publish: Default::default(),
        test_message: TestMessageSettings {
            to,
            ..TestMessageSettings::default()
        },
        profile: Default::default(),
    })
}

/// `TOKENTOP_GRAPH_URL` then `--graph-url` over `[graph] base-url`; `TOKENTOP_GRAPH_VERSION`
/// over `[graph] version`.
pub(crate) fn apply_graph_overrides(
    graph: &mut GraphSettings,
    overrides: &Overrides,
    env: &EnvSnapshot,
    issues: &mut Vec<ConfigIssue>,
) {
    let url_sources = [
        (
            "--graph-url",
            overrides.graph_url.as_deref().filter(|url| !url.is_empty()),
        ),
        ("TOKENTOP_GRAPH_URL", env.get("TOKENTOP_GRAPH_URL")),
    ];
    if let Some((source, url)) = url_sources
        .iter()
        .find_map(|(source, url)| Some((*source, (*url)?)))
    {
        match values::base_url(url) {
            Ok(url) => graph.base_url = url,
            Err(invalid) => issues.push(invalid.outside_file(source, url)),
        }
    }
    if let Some(version) = env.get("TOKENTOP_GRAPH_VERSION") {
        match values::graph_version(version) {
            Ok(version) => graph.version = version,
            Err(invalid) => issues.push(invalid.outside_file("TOKENTOP_GRAPH_VERSION", version)),
        }
    }
}
