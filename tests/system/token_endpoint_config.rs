//! `[serve] token-endpoint`, `token-bearer`, `[[serve.token-reader]]` and `tls-cert`/`tls-key`
//! (issue 24): who may read which token, and every mistake named by its key, without the
//! secrets in the message.

use std::path::PathBuf;

use secrecy::ExposeSecret;
use tokentop::config::{ConfigErrors, EnvSnapshot, Overrides, Settings, load};

const ACCOUNTS: &str = "[[account]]\nname = \"main\"\n\n[[account]]\nname = \"support\"\n";
const SECRETS: [&str; 3] = [
    "metrics-3c9e-scrape",
    "tokens-71d2-default",
    "eso-b0a4-reader",
];

fn load_text(text: &str) -> Result<Settings, ConfigErrors> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    crate::support::cli::write_private(&path, text);
    let overrides = Overrides {
        config: Some(path),
        data_dir: Some(dir.path().join("data")),
        graph_url: None,
    };
    load(&overrides, &EnvSnapshot::default())
}

fn errors_of(serve: &str) -> String {
    let text = format!("[serve]\n{serve}\n{ACCOUNTS}");
    let errors = load_text(&text).expect_err(&text).to_string();
    for secret in SECRETS {
        assert!(!errors.contains(secret), "a secret in: {errors}");
    }
    errors
}

#[test]
fn readers_resolve_and_say_which_accounts_they_may_read() {
    let text = format!(
        "[serve]\nlisten = \"127.0.0.1:9477\"\nbearer-token = \"{}\"\ntoken-endpoint = true\n\
         token-bearer = \"{}\"\n\n[[serve.token-reader]]\nname = \"eso-prod\"\nbearer = \"{}\"\n\
         accounts = [\"main\"]\n\n{ACCOUNTS}",
        SECRETS[0], SECRETS[1], SECRETS[2]
    );
    let settings = load_text(&text).unwrap();
    let serve = &settings.serve;
    assert!(serve.token_endpoint);
    assert_eq!(
        serve.token_bearer.as_ref().map(|b| b.expose_secret()),
        Some(SECRETS[1])
    );
    assert_eq!(serve.token_readers.len(), 1);
    assert_eq!(serve.token_readers[0].bearer.expose_secret(), SECRETS[2]);
    assert_eq!(serve.token_readers_of("main"), ["default", "eso-prod"]);
    assert_eq!(serve.token_readers_of("support"), ["default"]);

    // Without token-bearer only the configured readers read; with the endpoint off, nobody.
    let text = format!(
        "[serve]\ntoken-endpoint = true\n\n[[serve.token-reader]]\nname = \"eso\"\nbearer = \"{}\"\n\n{ACCOUNTS}",
        SECRETS[2]
    );
    let settings = load_text(&text).unwrap();
    assert_eq!(settings.serve.token_readers_of("support"), ["eso"]);
    let settings = load_text(&text.replace("token-endpoint = true", "")).unwrap();
    assert!(settings.serve.token_readers_of("main").is_empty());
    let settings = load_text(ACCOUNTS).unwrap();
    assert!(!settings.serve.token_endpoint);
    assert!(settings.serve.tls.is_none());
}

#[test]
fn the_token_endpoint_needs_a_bearer_of_its_own() {
    let errors = errors_of("token-endpoint = true\n");
    assert!(errors.contains("serve.token-bearer: missing"), "{errors}");

    let errors = errors_of(&format!(
        "bearer-token = \"{0}\"\ntoken-endpoint = true\ntoken-bearer = \"{0}\"\n",
        SECRETS[0]
    ));
    assert!(
        errors.contains("serve.token-bearer: the same secret as [serve] bearer-token"),
        "{errors}"
    );

    let errors = errors_of(&format!(
        "token-endpoint = true\ntoken-bearer = \"{0}\"\n\n[[serve.token-reader]]\nname = \"eso\"\nbearer = \"{0}\"\n",
        SECRETS[1]
    ));
    assert!(
        errors.contains("serve.token-reader[0].bearer: the same secret as [serve] token-bearer"),
        "{errors}"
    );
}

#[test]
fn readers_are_named_once_with_distinct_bearers_and_known_accounts() {
    let reader = |name: &str, bearer: &str, accounts: &str| {
        format!("\n[[serve.token-reader]]\nname = \"{name}\"\nbearer = \"{bearer}\"\n{accounts}\n")
    };
    let errors = errors_of(&format!(
        "token-endpoint = true\n{}{}",
        reader("eso", SECRETS[1], ""),
        reader("eso", SECRETS[2], "")
    ));
    assert!(
        errors.contains("serve.token-reader[1].name = \"eso\": a second token reader named"),
        "{errors}"
    );

    let errors = errors_of(&format!(
        "token-endpoint = true\n{}{}",
        reader("eso-a", SECRETS[1], ""),
        reader("eso-b", SECRETS[1], "")
    ));
    assert!(
        errors.contains(
            "serve.token-reader[1].bearer: the same secret as the bearer of token reader \"eso-a\""
        ),
        "{errors}"
    );

    let errors = errors_of(&format!(
        "token-endpoint = true\n{}",
        reader("eso", SECRETS[1], "accounts = [\"main\", \"billing\"]")
    ));
    assert!(
        errors.contains("serve.token-reader[0].accounts")
            && errors.contains("no [[account]] is named \"billing\"")
            && errors.contains("main, support"),
        "{errors}"
    );

    let errors = errors_of(&format!(
        "token-endpoint = true\n{}",
        reader("default", SECRETS[1], "")
    ));
    assert!(errors.contains("serve.token-reader[0].name"), "{errors}");
    let errors = errors_of("token-endpoint = true\n\n[[serve.token-reader]]\nname = \"eso\"\n");
    assert!(
        errors.contains("serve.token-reader[0].bearer: missing"),
        "{errors}"
    );
    let errors =
        errors_of("\n[[serve.token-reader]]\nname = \"eso\"\nbearer = \"x\"\ncolour = 1\n");
    assert!(
        errors.contains("unknown key in [[serve.token-reader]]; allowed: name, bearer, accounts"),
        "{errors}"
    );
}

#[test]
fn tokens_leave_loopback_only_over_tls() {
    let bearer = format!("token-bearer = \"{}\"\n", SECRETS[1]);
    let errors = errors_of(&format!(
        "listen = \"0.0.0.0:9477\"\ntoken-endpoint = true\n{bearer}"
    ));
    assert!(
        errors.contains("serve.token-endpoint = true: serves tokens on 0.0.0.0:9477, which is not loopback, without TLS"),
        "{errors}"
    );
    let errors = errors_of("listen = \"0.0.0.0:9477\"\ntls-cert = \"/etc/tokentop/tls.crt\"\n");
    assert!(errors.contains("serve.tls-key: missing"), "{errors}");

    let text = format!(
        "[serve]\nlisten = \"0.0.0.0:9477\"\ntls-cert = \"tls/tls.crt\"\ntls-key = \"/etc/tokentop/tls.key\"\n\
         token-endpoint = true\n{bearer}\n{ACCOUNTS}"
    );
    let settings = load_text(&text).unwrap();
    let tls = settings.serve.tls.unwrap();
    // Relative to the config file, as every path in it.
    assert!(tls.cert.is_absolute() && tls.cert.ends_with("tls/tls.crt"));
    assert_eq!(tls.key, PathBuf::from("/etc/tokentop/tls.key"));
    // Loopback needs no TLS.
    let text = text.replace("0.0.0.0", "127.0.0.1").replace(
        "tls-cert = \"tls/tls.crt\"\ntls-key = \"/etc/tokentop/tls.key\"\n",
        "",
    );
    assert!(load_text(&text).unwrap().serve.tls.is_none());
}
