//! `tokentop doctor`, the real binary against the in-process simulator: a healthy setup passes
//! every step (exit 0), and one fault per step fails exactly that step, with its remedy, and
//! exits 1. No token or app secret appears in any output.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use support::cli::{all_text, run_in_dir, start_sim, write_private};
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimPhone, TokenKind};

const PHONE_ID: &str = "106540352242922";
const SECRET_VAR: &str = "DOCTOR_APP_SECRET";

/// A simulator, two live tokens and a temp dir with a hook and an env-file directory.
struct Setup {
    dir: tempfile::TempDir,
    sim: RunningSim,
    access: String,
    long_lived: String,
}

impl Setup {
    async fn new() -> Self {
        let sim = start_sim().await;
        let access = sim.handle().mint_token(TokenKind::SystemUser, None);
        let long_lived = sim.handle().mint_token(
            TokenKind::LongLivedUser,
            Some(Duration::from_secs(50 * 86_400)),
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("out")).unwrap();
        let hook = dir.path().join("hook.sh");
        let marker = dir.path().join("hook-ran");
        std::fs::write(&hook, format!("#!/bin/sh\ntouch {}\n", marker.display())).unwrap();
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        Self {
            dir,
            sim,
            access: access.access_token,
            long_lived: long_lived.access_token,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The healthy config, with `replace` applied as (from, to) text substitutions.
    fn write_config(&self, replace: &[(&str, &str)]) {
        let mut text = format!(
            "[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
             app-secret = {{ env = \"{SECRET_VAR}\" }}\naccess-token = \"{}\"\n\
             long-lived-token = \"{}\"\nphone-number-id = \"{PHONE_ID}\"\n\
             env-file = \"{}\"\non-refresh = [\"{}\"]\n",
            self.access,
            self.long_lived,
            self.path("out/app.env").display(),
            self.path("hook.sh").display(),
        );
        for (from, to) in replace {
            assert!(text.contains(from), "{from} not in the config");
            text = text.replace(from, to);
        }
        write_private(&self.path("config.toml"), &text);
    }

    async fn doctor(&self, graph_url: &str, secret: Option<&str>) -> Output {
        let env: Vec<(&str, &str)> = secret.map(|s| (SECRET_VAR, s)).into_iter().collect();
        let output = run_in_dir(self.dir.path(), graph_url, &["doctor"], &env, None).await;
        self.assert_no_secret(&output, secret);
        assert!(!self.path("hook-ran").exists(), "doctor ran the hook");
        output
    }

    async fn doctor_healthy_url(&self, secret: Option<&str>) -> Output {
        self.doctor(&self.sim.base_url(), secret).await
    }

    fn assert_no_secret(&self, output: &Output, secret: Option<&str>) {
        let text = all_text(output);
        let secrets = [
            Some(self.access.as_str()),
            Some(self.long_lived.as_str()),
            Some(DEFAULT_APP_SECRET),
            secret,
        ];
        for secret in secrets.into_iter().flatten() {
            assert!(!text.contains(secret), "a secret was printed:\n{text}");
        }
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The step names of the lines marked `mark`.
fn steps_marked(output: &Output, mark: &str) -> Vec<String> {
    stdout(output)
        .lines()
        .filter_map(|line| line.strip_prefix(mark)?.strip_prefix(' '))
        .map(|rest| rest.split(": ").next().unwrap_or_default().to_string())
        .collect()
}

/// Exactly `step` failed, its remedy line mentions `remedy`, and the exit code is 1.
fn assert_only_failure(output: &Output, step: &str, found: &str, remedy: &str) {
    let text = all_text(output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert_eq!(steps_marked(output, "✗"), [step], "{text}");
    let out = stdout(output);
    let lines: Vec<&str> = out.lines().collect();
    let at = lines
        .iter()
        .position(|line| line.starts_with(&format!("✗ {step}:")))
        .unwrap();
    let block: Vec<&str> = lines[at..]
        .iter()
        .take_while(|line| *line == &lines[at] || line.starts_with("  "))
        .copied()
        .collect();
    let block = block.join("\n");
    assert!(
        block.contains(found),
        "{found:?} not in:\n{block}\n\n{text}"
    );
    let todo = block
        .lines()
        .find(|l| l.starts_with("  → "))
        .unwrap_or_default();
    assert!(
        todo.contains(remedy),
        "{remedy:?} not in the remedy:\n{block}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_setup_passes_every_step() {
    let setup = Setup::new().await;
    setup.write_config(&[]);
    let output = setup.doctor_healthy_url(Some(DEFAULT_APP_SECRET)).await;
    let text = all_text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let out = stdout(&output);
    let heads: Vec<&str> = out.lines().filter(|l| !l.starts_with("  ")).collect();
    assert_eq!(heads.len(), 10, "{text}");
    assert!(heads.iter().all(|l| l.starts_with("✓ ")), "{text}");
    assert!(!out.contains('\x1b'), "colour on a pipe:\n{text}");
    for expected in [
        "plain HTTP (simulator or test setup): no TLS to check",
        "valid SYSTEM_USER token, never expires",
        "status CONNECTED, quality GREEN, name status APPROVED, messaging limit TIER_1K",
        "https://webhook.example.com/whatsapp",
        "is executable (not run: it would publish the current token)",
        "graph version: v25.0 is served until 2028-07-29",
    ] {
        assert!(out.contains(expected), "{expected:?} missing:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_syntax_error_fails_the_config_step() {
    let setup = Setup::new().await;
    setup.write_config(&[("[[account]]\n", "[[account]\n")]);
    let output = setup.doctor_healthy_url(Some(DEFAULT_APP_SECRET)).await;
    assert_only_failure(&output, "config", "invalid TOML", "tokentop config check");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_env_secret_fails_the_secrets_step() {
    let setup = Setup::new().await;
    setup.write_config(&[]);
    let output = setup.doctor_healthy_url(None).await;
    let found = format!("environment variable {SECRET_VAR} is not set or empty");
    assert_only_failure(&output, "secrets [main]", &found, "set the variable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_graph_host_fails_the_network_step() {
    let setup = Setup::new().await;
    setup.write_config(&[]);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let output = setup.doctor(&url, Some(DEFAULT_APP_SECRET)).await;
    assert_only_failure(&output, "graph host", "no connection to port", "base-url");
    assert!(
        stdout(&output).contains("✓ publish [main]"),
        "{}",
        all_text(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_app_secret_fails_the_app_secret_step() {
    let setup = Setup::new().await;
    setup.write_config(&[]);
    let output = setup
        .doctor_healthy_url(Some("wrong-app-secret-0123456789"))
        .await;
    assert_only_failure(
        &output,
        "app secret [main]",
        "Meta refused the app token",
        "the app secret is wrong or belongs to another app",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidated_token_fails_the_access_token_step() {
    let setup = Setup::new().await;
    setup.write_config(&[]);
    assert!(setup.sim.handle().invalidate(&setup.access));
    let output = setup.doctor_healthy_url(Some(DEFAULT_APP_SECRET)).await;
    assert_only_failure(
        &output,
        "access token [main]",
        "not valid",
        "tokentop exchange",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_long_lived_token_fails_its_step() {
    let setup = Setup::new().await;
    let past = chrono::Utc::now().timestamp() - 3600;
    let expired = setup
        .sim
        .handle()
        .mint_token_expiring_at(TokenKind::LongLivedUser, past);
    let long_lived = setup.long_lived.clone();
    setup.write_config(&[(long_lived.as_str(), expired.access_token.as_str())]);
    let output = setup.doctor_healthy_url(Some(DEFAULT_APP_SECRET)).await;
    assert!(!all_text(&output).contains(&expired.access_token));
    assert_only_failure(
        &output,
        "long-lived token [main]",
        "Session has expired",
        "tokentop exchange",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_red_disconnected_phone_fails_the_phone_step() {
    let setup = Setup::new().await;
    setup.write_config(&[]);
    let phone = SimPhone {
        quality_rating: "RED".to_string(),
        status: "DISCONNECTED".to_string(),
        ..SimPhone::default()
    };
    setup.sim.handle().set_phone(PHONE_ID, phone);
    let output = setup.doctor_healthy_url(Some(DEFAULT_APP_SECRET)).await;
    assert_only_failure(
        &output,
        "phone number [main]",
        "status DISCONNECTED, quality RED",
        "WhatsApp Manager",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_env_file_in_a_missing_directory_fails_the_publish_step() {
    let setup = Setup::new().await;
    let from = setup.path("out/app.env").display().to_string();
    let to = setup.path("missing/app.env").display().to_string();
    setup.write_config(&[(from.as_str(), to.as_str())]);
    let output = setup.doctor_healthy_url(Some(DEFAULT_APP_SECRET)).await;
    assert_only_failure(
        &output,
        "publish [main]",
        "does not exist",
        "create the directory",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_hook_program_fails_the_publish_step() {
    let setup = Setup::new().await;
    let from = setup.path("hook.sh").display().to_string();
    let to = setup.path("no-such-hook").display().to_string();
    setup.write_config(&[(from.as_str(), to.as_str())]);
    let output = setup.doctor_healthy_url(Some(DEFAULT_APP_SECRET)).await;
    assert_only_failure(
        &output,
        "publish [main]",
        "does not exist",
        "install the program",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_fails_only_the_account_that_names_it() {
    let setup = Setup::new().await;
    setup.write_config(&[]);
    let config = setup.path("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[[account]]\nname = \"second\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
         app-secret = {{ env = \"DOCTOR_NOT_SET\" }}\naccess-token = \"{}\"\n",
        setup.access
    ));
    write_private(&config, &text);
    let output = setup.doctor_healthy_url(Some(DEFAULT_APP_SECRET)).await;
    let found = "environment variable DOCTOR_NOT_SET is not set or empty";
    assert_only_failure(&output, "secrets [second]", found, "set the variable");
    assert!(
        stdout(&output).contains("✓ phone number [main]"),
        "{}",
        all_text(&output)
    );
}

/// A TLS server on loopback with the fixture certificate (a test CA's `localhost`), answering
/// handshakes only; nothing trusts its CA.
fn tls_server() -> u16 {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    let mut chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(fixtures.join("leaf.pem"))
            .unwrap()
            .map(Result::unwrap)
            .collect();
    chain.extend(
        CertificateDer::pem_file_iter(fixtures.join("ca.pem"))
            .unwrap()
            .map(Result::unwrap),
    );
    let key = PrivateKeyDer::from_pem_file(fixtures.join("leaf.key")).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let config = std::sync::Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let Ok(mut connection) = rustls::ServerConnection::new(config.clone()) else {
                continue;
            };
            while connection.is_handshaking() {
                if connection.complete_io(&mut stream).is_err() {
                    break;
                }
            }
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graph_hosts_certificate_issuer_and_expiry_are_named() {
    let setup = Setup::new().await;
    setup.write_config(&[]);
    let port = tls_server();
    let output = setup
        .doctor(
            &format!("https://localhost:{port}"),
            Some(DEFAULT_APP_SECRET),
        )
        .await;
    let text = all_text(&output);
    assert!(
        text.contains("handshake ok, certificate chain of 2 certificates"),
        "{text}"
    );
    assert!(
        text.contains("issued by ") && text.contains("CN=tokentop test CA"),
        "{text}"
    );
    assert!(text.contains("expires 2100-11-"), "{text}");
    // Nothing trusts the test CA: the step fails and says where to look.
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        steps_marked(&output, "✗").contains(&"graph host".to_string()),
        "{text}"
    );
    assert!(text.contains("the certificate is not trusted"), "{text}");
}

/// Issue 24: a configured Graph API version whose end is two weeks away or less fails the
/// `graph version` step, saying what to set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graph_version_near_its_end_fails_with_what_to_set() {
    let setup = Setup::new().await;
    let soon = (chrono::Utc::now() + chrono::Duration::days(10)).date_naive();
    let graph = format!(
        "[graph]\nversion = \"v27.0\"\nsunsets = {{ \"v27.0\" = \"{soon}\" }}\n\n[[account]]"
    );
    setup.write_config(&[("[[account]]", graph.as_str())]);
    let output = setup.doctor_healthy_url(Some(DEFAULT_APP_SECRET)).await;
    assert_only_failure(
        &output,
        "graph version",
        &format!("served until {soon}"),
        "[graph] version = \"v27.0\"",
    );
}

/// Issue 24: when Meta answers doctor's own calls with another version than the configured
/// one (the simulator declares v25.0 dead), the `graph version` step, run after those calls,
/// says so and what to set; an upgrade alone is a note (WARNING in `check`), not a failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_graph_version_is_noted_with_what_to_set() {
    let setup = Setup::new().await;
    setup.sim.handle().set_dead_versions(&["v25.0"]).unwrap();
    setup.write_config(&[]);
    let output = setup.doctor_healthy_url(Some(DEFAULT_APP_SECRET)).await;
    let text = all_text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("✓ graph version: "))
        .unwrap_or_else(|| panic!("no graph version step:\n{text}"));
    assert!(
        lines[at].ends_with("but Meta answered its calls as v26.0"),
        "{text}"
    );
    let note = lines.get(at + 1).copied().unwrap_or_default();
    assert!(
        note.starts_with("  note: Meta answered Graph API v25.0 calls as v26.0")
            && note.contains("[graph] version = \"v27.0\""),
        "{text}"
    );
}
