//! Property tests of the config reader: any file gives settings or errors, never a panic, and
//! every error names where it is (a key or a line) and what was wrong.
//! `PROPTEST_CASES=N` runs N cases per property instead of the quick default.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::prop_support;

use std::path::Path;

use proptest::prelude::*;
use tokentop::config::{ConfigErrors, EXAMPLE_CONFIG, EnvSnapshot, Overrides, Settings, load};

use prop_support::{config, hostile_string};

const CASES: u32 = 128;

const SECTIONS: &[&str] = &[
    "[graph]",
    "[refresh]",
    "[[account]]",
    "[account.test-message]",
    "[patterns]",
    "[ui]",
    "[[log]]",
    "[[pattern]]",
    "[weird]",
    "",
    "[account]",
    "[[graph]]",
];

/// Every key the reader knows (its own list, so new keys are fuzzed too).
fn keys() -> Vec<&'static str> {
    tokentop::config::known_keys()
        .into_iter()
        .map(|(_, key)| key)
        .collect()
}

/// A TOML basic string; JSON's escapes are all valid TOML.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// Right, wrong and absurd values for any key.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            "\"15m\"", "\"0s\"", "\"-1s\"", "\"1d\"", "\"99999999999999999999d\"", "\"1.5h\"",
            "\"33%\"", "\"0%\"", "\"100%\"", "\"101%\"", "\"-5%\"", "\"auto\"", "\"never\"", "\"\"",
            "\"v25.0\"", "\"http://127.0.0.1:1\"", "\"not a url\"", "\"plain\"", "\"webhook-json\"",
            "\"ok\"", "\"warn\"", "\"delivered\"", "\"mono\"", "true", "false", "0", "-1",
            "9223372036854775807", "-9223372036854775808", "1e400", "inf", "nan", "1.5",
            "[]", "[\"a\", \"b\"]", "[1, 2]", "[[]]", "{}", "{ env = \"WHATSAPP_APP_SECRET\" }",
            "{ env = \"MISSING_VAR\" }", "{ env = 5 }", "{ file = \"/nonexistent/secret\" }",
            "{ env = \"A\", file = \"/nonexistent\" }", "\"EAAGsecretsecretsecret1234\"",
            "{ credential = \"app-secret\" }", "{ credential = \"../x\" }",
            "{ credential = \"EAAGsecretsecretsecret1234\" }", "{ credential = 5 }",
            "'order \\d+ sent'", "'('", "\"[\"", "1979-05-27T07:32:00Z",
        ])
        .prop_map(str::to_string),
        2 => hostile_string().prop_map(|s| quoted(&s)),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => proptest::collection::vec(hostile_string(), 0..4)
            .prop_map(|items| format!("[{}]", items.iter().map(|s| quoted(s)).collect::<Vec<_>>().join(", "))),
    ]
}

fn line() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        6 => proptest::sample::select(keys()).prop_map(str::to_string),
        1 => "[a-z-]{1,12}",
    ];
    prop_oneof![
        8 => (key, value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => ".{0,30}",
        1 => Just(String::new()),
    ]
}

/// A config file made of real sections with real and made-up keys and values.
fn document() -> impl Strategy<Value = String> {
    let section = (
        proptest::sample::select(SECTIONS),
        proptest::collection::vec(line(), 0..6),
    );
    proptest::collection::vec(section, 0..7).prop_map(|sections| {
        let mut text = String::new();
        for (header, lines) in sections {
            text.push_str(header);
            text.push('\n');
            for line in lines {
                text.push_str(&line);
                text.push('\n');
            }
        }
        text
    })
}

/// The example config with commented-out keys switched on, lines dropped or replaced.
fn edited_example() -> impl Strategy<Value = String> {
    let lines: Vec<String> = EXAMPLE_CONFIG.lines().map(str::to_string).collect();
    let count = lines.len();
    let edit = (0..count, 0u8..4, line());
    proptest::collection::vec(edit, 1..6).prop_map(move |edits| {
        let mut lines = lines.clone();
        for (index, kind, replacement) in edits {
            let Some(line) = lines.get_mut(index) else {
                continue;
            };
            match kind {
                0 => *line = line.trim_start_matches("# ").to_string(),
                1 => line.clear(),
                2 => *line = replacement,
                _ => line.push_str(&replacement),
            }
        }
        lines.join("\n")
    })
}

fn load_text(text: &str, dir: &Path) -> Result<Settings, ConfigErrors> {
    let path = dir.join("config.toml");
    std::fs::write(&path, text).unwrap();
    let overrides = Overrides {
        config: Some(path),
        data_dir: Some(dir.join("data")),
        graph_url: None,
    };
    let env = EnvSnapshot::from_pairs([
        ("WHATSAPP_APP_SECRET", "env-secret"),
        ("WHATSAPP_ACCESS_TOKEN", "EAAGenvtokenenvtokenenvtoken"),
        ("WHATSAPP_REFRESH_TOKEN", "EAAGenvrefreshenvrefresh"),
    ]);
    load(&overrides, &env)
}

/// Settings, or errors that each say where (a key or a line within the file) and what.
fn check(text: &str) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let Err(errors) = load_text(text, dir.path()) else {
        return Ok(());
    };
    prop_assert!(!errors.issues.is_empty());
    let lines = text.lines().count().max(1);
    for issue in &errors.issues {
        prop_assert!(!issue.problem.is_empty(), "{issue:?}");
        prop_assert!(!issue.key.is_empty() || issue.line.is_some(), "{issue:?}");
        if let Some(line) = issue.line {
            prop_assert!(
                (1..=lines + 1).contains(&line),
                "line {line} of {lines}: {issue:?}"
            );
        }
        let shown = issue.to_string();
        prop_assert!(!shown.contains("secretsecret"), "a secret in {shown}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn generated_config_gives_settings_or_located_errors(text in document()) {
        check(&text)?;
    }

    #[test]
    fn edited_example_gives_settings_or_located_errors(text in edited_example()) {
        check(&text)?;
    }

    #[test]
    fn arbitrary_text_gives_settings_or_located_errors(text in prop_oneof![".{0,200}", "[\\[\\]={}\"'#a-z0-9 \n.-]{0,200}"]) {
        check(&text)?;
    }
}

#[test]
fn the_example_config_loads() {
    let dir = tempfile::tempdir().unwrap();
    load_text(EXAMPLE_CONFIG, dir.path()).unwrap();
}

/// Found by `generated_config_gives_settings_or_located_errors`: a token under a wrong key was
/// echoed in full in the error.
#[test]
fn a_token_under_a_wrong_key_is_masked_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[ui]\ntick = \"EAAGsecretsecretsecret1234\"\n[refresh]\nwarn-before = \"EAAGsecretsecretsecret5678\"\n";
    let errors = load_text(text, dir.path()).unwrap_err().to_string();
    assert!(!errors.contains("secretsecret"), "{errors}");
    assert!(errors.contains("EAAG…1234"), "{errors}");
}
