#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The Prometheus alert rules in deploy/prometheus/: promtool checks the rules, runs their unit
//! tests and checks the example config. promtool missing is a failure, never a skip:
//! scripts/test installs it.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

const RULES: &str = "deploy/prometheus/tokentop-alerts.yml";
const RULE_TESTS: &str = "deploy/prometheus/tokentop-alerts.test.yml";
const CONFIG: &str = "deploy/prometheus/prometheus.example.yml";
const README: &str = "deploy/prometheus/README.md";

/// Every alert the rules must have, each tested firing and quiet.
const ALERTS: [&str; 18] = [
    "TokentopTokenExpiringSoon",
    "TokentopTokenExpiresWithinDay",
    "TokentopTokenInvalid",
    "TokentopReauthRequired",
    "TokentopRefreshFailing",
    "TokentopRefreshOverdue",
    "TokentopDaemonDown",
    "TokentopDaemonAbsent",
    "TokentopDeliverySuccessLow",
    "TokentopPhoneQualityRed",
    "TokentopPhoneNotConnected",
    "TokentopRateLimitHigh",
    "TokentopAccountFailed",
    "TokentopAccountRevoked",
    "TokentopWebhookQueueFilling",
    "TokentopGraphVersionSunset",
    "TokentopPublishBehind",
    "TokentopBusinessTokenExpiring",
];

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs promtool in the repository root and returns its stdout and stderr; panics with them
/// when it fails.
fn promtool(args: &[&str]) -> String {
    let output = match Command::new("promtool")
        .args(args)
        .current_dir(repo())
        .output()
    {
        Ok(output) => output,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            panic!(
                "promtool not found: run scripts/test, which installs Debian's prometheus package"
            )
        }
        Err(e) => panic!("promtool {}: {e}", args.join(" ")),
    };
    let text = format!(
        "--- stdout\n{}--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool {} failed ({}):\n{text}",
        args.join(" "),
        output.status
    );
    text
}

#[test]
fn promtool_checks_the_rules() {
    let out = promtool(&["check", "rules", RULES]);
    let found = format!("SUCCESS: {} rules found", ALERTS.len());
    assert!(out.contains(&found), "expected {found:?}:\n{out}");
}

#[test]
fn promtool_rule_unit_tests_pass() {
    let out = promtool(&["test", "rules", RULE_TESTS]);
    assert!(out.contains("SUCCESS"), "{out}");
}

#[test]
fn promtool_checks_the_example_config_and_its_rule_file() {
    let out = promtool(&["check", "config", CONFIG]);
    assert!(out.contains("SUCCESS: 1 rule files found"), "{out}");
    let found = format!("SUCCESS: {} rules found", ALERTS.len());
    assert!(
        out.contains(&found),
        "the rule file was not checked:\n{out}"
    );
}

/// The commented-out bearer token block is valid too: uncommented, with a credentials file
/// that exists (promtool checks that), next to a copy of the rules.
#[test]
fn promtool_checks_the_example_config_with_a_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("tokentop-metrics.token");
    std::fs::write(&token, "test-bearer-token\n").unwrap();
    std::fs::copy(repo().join(RULES), dir.path().join("tokentop-alerts.yml")).unwrap();

    let example = read(CONFIG);
    let mut uncommented = 0;
    let config: String = example
        .lines()
        .map(|line| {
            let line = match line.strip_prefix("    # ") {
                Some(rest)
                    if ["authorization:", "  type:", "  credentials_file:"]
                        .iter()
                        .any(|key| rest.starts_with(key)) =>
                {
                    uncommented += 1;
                    format!("    {rest}")
                }
                _ => line.to_string(),
            };
            match line.split_once("credentials_file: ") {
                Some((indent, _)) => format!("{indent}credentials_file: {}\n", token.display()),
                None => line + "\n",
            }
        })
        .collect();
    assert_eq!(
        uncommented, 3,
        "the bearer token block changed shape:\n{example}"
    );

    let path: PathBuf = dir.path().join("prometheus.yml");
    std::fs::write(&path, &config).unwrap();
    let out = promtool(&["check", "config", path.to_str().unwrap()]);
    assert!(
        out.contains("SUCCESS: 1 rule files found"),
        "{out}\n{config}"
    );
}

#[test]
fn every_alert_is_defined_documented_and_tested_firing_and_quiet() {
    let rules = read(RULES);
    let tests = read(RULE_TESTS);
    let readme = read(README);
    for alert in ALERTS {
        assert!(
            rules.contains(&format!("- alert: {alert}\n")),
            "{alert} missing from {RULES}"
        );
        assert!(
            tests.contains(&format!("alertname: {alert}\n")),
            "{alert} missing from {RULE_TESTS}"
        );
        assert!(
            tests.contains(&format!("alertname: {alert}\n        exp_alerts: []\n")),
            "{RULE_TESTS} never checks that {alert} stays quiet"
        );
        assert!(
            tests.contains(&format!(
                "alertname: {alert}\n        exp_alerts:\n          - exp_labels:"
            )),
            "{RULE_TESTS} never checks that {alert} fires"
        );
        assert!(
            readme.contains(&format!("`{alert}`")),
            "{alert} missing from {README}"
        );
    }
    assert_eq!(
        rules.matches("- alert: ").count(),
        ALERTS.len(),
        "{RULES} has alerts this test does not know"
    );
}
