//! `tokentop refresh` and `tokentop exchange` behind a hostile Graph API front: the simulator
//! answers everything except the exchange, whose answer the test scripts (empty token, a
//! token with a newline, absurd `expires_in`, junk after the JSON, a body cut short).
//! A bad answer must never replace the working token anywhere, and a live new token in a
//! broken answer must never reach stdout, stderr, history or the log files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{Request, Response, StatusCode};
use support::cli::{all_text as describe, tokentop_with_stdin, write_private};
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind};

/// Forwards to the simulator, except the exchange, which gets `exchange_body`.
#[derive(Clone)]
struct Front {
    sim_url: String,
    exchange_body: Arc<Mutex<String>>,
    client: reqwest::Client,
}

async fn front_handler(State(front): State<Front>, request: Request<Body>) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    if parts.uri.path().ends_with("/oauth/access_token")
        && path_and_query.contains("fb_exchange_token")
    {
        let scripted = front.exchange_body.lock().unwrap().clone();
        return Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "application/json")
            .body(Body::from(scripted))
            .unwrap();
    }
    let bytes: Bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let mut forwarded = front
        .client
        .request(
            parts.method.clone(),
            format!("{}{path_and_query}", front.sim_url),
        )
        .body(bytes);
    if let Some(kind) = parts.headers.get("content-type") {
        forwarded = forwarded.header("content-type", kind.clone());
    }
    let answer = forwarded.send().await.unwrap();
    let status = answer.status();
    let text = answer.bytes().await.unwrap();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(text))
        .unwrap()
}

struct Setup {
    sim: RunningSim,
    front_url: String,
    exchange_body: Arc<Mutex<String>>,
    dir: tempfile::TempDir,
    token: String,
}

impl Setup {
    async fn new() -> Self {
        tokentop::graph::install_tls_provider();
        let sim = RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        let exchange_body = Arc::new(Mutex::new(String::new()));
        let front = Front {
            sim_url: sim.base_url(),
            exchange_body: exchange_body.clone(),
            client: reqwest::Client::new(),
        };
        let app = axum::Router::new()
            .fallback(front_handler)
            .with_state(front);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let front_url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        let token = sim
            .handle()
            .mint_token(
                TokenKind::SystemUser,
                Some(Duration::from_secs(30 * 86_400)),
            )
            .access_token;
        let dir = tempfile::tempdir().unwrap();
        let setup = Self {
            sim,
            front_url,
            exchange_body,
            dir,
            token,
        };
        setup.write_config();
        std::fs::write(setup.env_file(), setup.original_env()).unwrap();
        setup
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn env_file(&self) -> PathBuf {
        self.path("app.env")
    }

    fn original_env(&self) -> String {
        format!("KEEP=me\nWHATSAPP_ACCESS_TOKEN={}\n", self.token)
    }

    fn write_config(&self) {
        let hook_out = self.path("hook.out");
        let text = format!(
            "[[account]]\nname = \"main\"\napp-id = \"{DEFAULT_APP_ID}\"\n\
             app-secret = \"{DEFAULT_APP_SECRET}\"\naccess-token = \"{}\"\n\
             env-file = \"{}\"\non-refresh = [\"sh\", \"-c\", \"cat > {}\"]\n",
            self.token,
            self.env_file().display(),
            hook_out.display()
        );
        write_private(&self.path("config.toml"), &text);
    }

    fn set_exchange_answer(&self, body: &str) {
        *self.exchange_body.lock().unwrap() = body.to_string();
    }

    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let (config, data) = (self.path("config.toml"), self.path("data"));
        let mut full = vec![
            "--config",
            config.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--graph-url",
            &self.front_url,
        ];
        full.extend_from_slice(args);
        tokentop_with_stdin(self.dir.path(), &full, &[], stdin).await
    }

    /// The working token is still everywhere: store (if any), env-file, and no hook ran.
    fn assert_working_token_kept(&self, case: &str, output: &Output) {
        let shown = describe(output);
        assert_eq!(output.status.code(), Some(1), "{case}: {shown}");
        assert_eq!(
            std::fs::read_to_string(self.env_file()).unwrap(),
            self.original_env(),
            "{case}: env-file changed"
        );
        assert!(!self.path("hook.out").exists(), "{case}: the hook ran");
        let stored = tokentop::engine::store::TokenStore::new(&self.path("data"))
            .load("main")
            .unwrap();
        if let Some(stored) = stored {
            use secrecy::ExposeSecret;
            assert_eq!(stored.access_token.expose_secret(), self.token, "{case}");
        }
    }
}

/// Every file under `dir` whose text holds `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path)
            .is_ok_and(|bytes| String::from_utf8_lossy(&bytes).contains(needle))
        {
            found.push(path);
        }
    }
    found
}

#[tokio::test]
async fn refresh_refuses_unusable_exchange_answers_and_keeps_the_working_token() {
    let setup = Setup::new().await;
    let cases = [
        ("empty token", r#"{"access_token":"","token_type":"bearer"}"#.to_string()),
        ("blank token", r#"{"access_token":"   ","token_type":"bearer"}"#.to_string()),
        (
            "newline injection",
            r#"{"access_token":"EAAGlooksfineatfirst0000\nINJECTED_VAR=pwned","token_type":"bearer"}"#
                .to_string(),
        ),
        (
            "negative expires_in",
            format!(r#"{{"access_token":"{}","expires_in":-5}}"#, setup.token),
        ),
        (
            "huge expires_in",
            format!(
                r#"{{"access_token":"{}","expires_in":18446744073709551615}}"#,
                setup.token
            ),
        ),
        (
            "unknown token",
            r#"{"access_token":"EAAGwellformedbutunknown000000000000","token_type":"bearer"}"#
                .to_string(),
        ),
    ];
    for (case, body) in cases {
        setup.set_exchange_answer(&body);
        let output = setup.run(&["refresh"], None).await;
        setup.assert_working_token_kept(case, &output);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("main: FAILED"),
            "{case}: {}",
            describe(&output)
        );
        assert!(!stdout.contains("ok - refreshed"), "{case}");
        assert!(
            files_containing(&setup.path("data"), "INJECTED_VAR").is_empty(),
            "{case}"
        );
    }
    // The working token still works at Meta and nothing went to re-auth: a WARNING for the
    // failed refresh, not CRITICAL.
    let output = setup.run(&["check"], None).await;
    let shown = describe(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("main: WARNING - valid"), "{shown}");
    assert!(shown.contains("last refresh failed"), "{shown}");
}

#[tokio::test]
async fn a_live_token_in_a_broken_answer_never_reaches_output_history_or_logs() {
    let setup = Setup::new().await;
    let live = setup
        .sim
        .handle()
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(86_400)))
        .access_token;
    // The middle of the token: what a leak would show, whatever masking kept of its ends.
    let secret_part = &live[6..live.len() - 6];
    for (case, body) in [
        (
            "junk after the JSON",
            format!(r#"{{"access_token":"{live}","token_type":"bearer"}}<html>oops</html>"#),
        ),
        (
            "cut short",
            format!(r#"{{"access_token":"{live}","token_ty"#),
        ),
        (
            "query echo",
            format!("error: bad request ?fb_exchange_token={live}&x=1"),
        ),
    ] {
        setup.set_exchange_answer(&body);
        let output = setup.run(&["refresh"], None).await;
        setup.assert_working_token_kept(case, &output);
        let shown = describe(&output);
        assert!(!shown.contains(secret_part), "{case}: {shown}");
        let leaks = files_containing(&setup.path("data"), secret_part);
        assert!(leaks.is_empty(), "{case}: the new token is in {leaks:?}");
    }
}

#[tokio::test]
async fn exchange_command_stores_nothing_from_an_unusable_answer() {
    let setup = Setup::new().await;
    let short_lived = setup
        .sim
        .handle()
        .mint_token(TokenKind::ShortLivedUser, Some(Duration::from_secs(3600)))
        .access_token;
    setup.set_exchange_answer(r#"{"access_token":"","token_type":"bearer"}"#);
    let input = format!("{short_lived}\n");
    let output = setup
        .run(
            &["exchange", "--account", "main", "--token-stdin"],
            Some(&input),
        )
        .await;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stored = tokentop::engine::store::TokenStore::new(&setup.path("data"))
        .load("main")
        .unwrap();
    assert!(stored.is_none(), "{}", describe(&output));
}

#[tokio::test]
async fn exchange_refuses_a_token_on_stdin_that_never_ends() {
    let setup = Setup::new().await;
    let endless = "A".repeat(64 * 1024);
    let output = setup
        .run(
            &["exchange", "--account", "main", "--token-stdin"],
            Some(&endless),
        )
        .await;
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("longer than 16384 bytes"), "{stderr}");
}

/// Issue 8 item 8: Meta gave a new token but publishing it failed: `refresh` exits 1 and
/// names the step.
#[tokio::test]
async fn refresh_exits_1_and_names_the_step_when_publishing_fails() {
    let setup = Setup::new().await;
    let fresh = setup
        .sim
        .handle()
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(86_400)))
        .access_token;
    setup.set_exchange_answer(&format!(
        r#"{{"access_token":"{fresh}","token_type":"bearer","expires_in":5183944}}"#
    ));
    // The env-file is a symlink into a directory that does not exist: the write fails (a
    // directory there is refused by the config check before any refresh).
    std::fs::remove_file(setup.env_file()).unwrap();
    std::os::unix::fs::symlink(setup.path("gone/app.env"), setup.env_file()).unwrap();
    let output = setup.run(&["refresh"], None).await;
    let shown = describe(&output);
    assert_eq!(output.status.code(), Some(1), "{shown}");
    assert!(shown.contains("main: FAILED - refreshed"), "{shown}");
    assert!(shown.contains("publishing to env-file failed"), "{shown}");
    // The new token itself was stored: nothing is lost.
    let stored = tokentop::engine::store::TokenStore::new(&setup.path("data"))
        .load("main")
        .unwrap()
        .unwrap();
    use secrecy::ExposeSecret;
    assert_eq!(stored.access_token.expose_secret(), fresh);
}

/// Issue 8 item 12: a huge answer is refused at the cap, not buffered whole.
#[tokio::test]
async fn a_huge_exchange_answer_is_refused_at_the_cap() {
    let setup = Setup::new().await;
    let huge = format!(
        r#"{{"access_token":"{}","token_type":"bearer"}}"#,
        "A".repeat(tokentop::graph::MAX_BODY_BYTES + 1)
    );
    setup.set_exchange_answer(&huge);
    let output = setup.run(&["refresh"], None).await;
    setup.assert_working_token_kept("huge answer", &output);
    let shown = describe(&output);
    assert!(shown.contains("larger than 8 MiB"), "{shown}");
}
