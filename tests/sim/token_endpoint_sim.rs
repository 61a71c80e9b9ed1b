//! `tokentop daemon` with `[serve] token-endpoint = true` (issue 24): External Secrets
//! Operator's webhook provider takes the token from `GET /v1/accounts/{name}/token` with a bearer
//! of its own. Real HTTP against the real binary and the simulator: who is refused and how,
//! the token the daemon publishes, a 503 with the reason for an invalid token, the read
//! metrics, no token in the log, and the listener rule (loopback or TLS).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, RunningSim, SimConfig, TokenKind};

use crate::support;
use support::cli::{all_text, free_port, spawn_in, tokentop, write_private};
use support::serve::{Daemon, promtool_check_metrics};
use support::wait_until;

const SCRAPE: &str = "scrape-5b7e1d-for-prometheus";
const TOKEN_BEARER: &str = "tokens-0c4f9a-for-everything";
const ESO_BEARER: &str = "eso-prod-93d2aa-main-only";

struct Tokens {
    main: String,
    support: String,
    doomed: String,
}

async fn start_sim() -> RunningSim {
    tokentop::graph::install_tls_provider();
    RunningSim::start(SimConfig::default(), "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn mint(sim: &RunningSim) -> Tokens {
    let mint = || {
        sim.handle()
            .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(7200)))
            .access_token
    };
    Tokens {
        main: mint(),
        support: mint(),
        doomed: mint(),
    }
}

fn account(name: &str, token: &str, extra: &str) -> String {
    format!(
        "[[account]]\nname = \"{name}\"\napp-id = \"{DEFAULT_APP_ID}\"\napp-secret = \"{DEFAULT_APP_SECRET}\"\n\
         access-token = \"{token}\"\n{extra}\n"
    )
}

/// Three accounts; `main` also publishes to a token file. Reader `eso-prod` may read `main`
/// only; the token-bearer (reader `default`) reads them all.
fn config(tokens: &Tokens) -> String {
    format!(
        "[refresh]\ncheck-interval = \"10s\"\n\n\
         [serve]\nbearer-token = \"{SCRAPE}\"\ntoken-endpoint = true\ntoken-bearer = {{ env = \"TT_TOKEN_BEARER\" }}\n\n\
         [[serve.token-reader]]\nname = \"eso-prod\"\nbearer = \"{ESO_BEARER}\"\naccounts = [\"main\"]\n\n{}{}{}",
        account("main", &tokens.main, "token-file = \"main.token\""),
        account("support", &tokens.support, ""),
        account("doomed", &tokens.doomed, ""),
    )
}

/// Status, the headers that matter here, and the JSON body of one read.
struct Answer {
    status: StatusCode,
    www_authenticate: Option<String>,
    cache_control: Option<String>,
    body: Value,
}

async fn read(base: &str, account: &str, bearer: Option<&str>) -> Answer {
    read_with(&reqwest::Client::new(), base, account, bearer).await
}

async fn read_with(
    http: &reqwest::Client,
    base: &str,
    account: &str,
    bearer: Option<&str>,
) -> Answer {
    let mut request = http.get(format!("{base}/v1/accounts/{account}/token"));
    if let Some(bearer) = bearer {
        request = request.bearer_auth(bearer);
    }
    let response = request.send().await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    Answer {
        status: response.status(),
        www_authenticate: header("www-authenticate"),
        cache_control: header("cache-control"),
        body: serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    }
}

fn assert_refused(answer: &Answer, status: StatusCode, says: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    let error = answer.body["error"].as_str().unwrap_or_default();
    assert!(error.contains(says), "{}", answer.body);
    assert!(answer.body.get("token").is_none(), "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_get_the_published_token_and_everyone_else_a_reason() {
    let sim = start_sim().await;
    let tokens = mint(&sim);
    let env = [("TT_TOKEN_BEARER", TOKEN_BEARER)];
    let daemon = Daemon::start(&sim, &config(&tokens), &env).await;
    daemon
        .wait_for("/readyz 200", async |d| {
            d.get("/readyz", None).await.0 == 200
        })
        .await;
    let base = format!("http://{}", daemon.addr);

    // No bearer, a wrong one, the metrics one: 401, and the last says why.
    for bearer in [None, Some("wrong")] {
        let answer = read(&base, "main", bearer).await;
        assert_refused(&answer, StatusCode::UNAUTHORIZED, "token-bearer");
        assert_eq!(
            answer.www_authenticate.as_deref(),
            Some("Bearer realm=\"tokentop\"")
        );
    }
    let answer = read(&base, "main", Some(SCRAPE)).await;
    assert_refused(&answer, StatusCode::UNAUTHORIZED, "bearer-token");
    assert!(answer.www_authenticate.is_some());
    // The token bearer does not open /metrics either.
    assert_eq!(daemon.get("/metrics", Some(TOKEN_BEARER)).await.0, 401);

    // A reader outside its allow-list, and a name that is no account.
    let answer = read(&base, "support", Some(ESO_BEARER)).await;
    assert_refused(
        &answer,
        StatusCode::FORBIDDEN,
        "eso-prod may not read account support",
    );
    let answer = read(&base, "billing", Some(ESO_BEARER)).await;
    assert_refused(&answer, StatusCode::NOT_FOUND, "no account");

    // The token the daemon published, with what a consumer decides on.
    let published = std::fs::read_to_string(daemon.dir().join("main.token")).unwrap();
    assert_eq!(published.trim(), tokens.main);
    for bearer in [TOKEN_BEARER, ESO_BEARER] {
        let answer = read(&base, "main", Some(bearer)).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.cache_control.as_deref(), Some("no-store"));
        assert_eq!(answer.body["token"], published.trim());
        let expires_at = answer.body["expires_at"].as_i64().unwrap();
        let now = chrono::Utc::now().timestamp();
        assert!(
            (now + 7000..=now + 7200).contains(&expires_at),
            "{}",
            answer.body
        );
        assert!(answer.body["version"].is_i64(), "{}", answer.body);
        let refreshed_at = &answer.body["refreshed_at"];
        assert!(
            refreshed_at.is_null() || refreshed_at.is_i64(),
            "{}",
            answer.body
        );
    }
    let support = read(&base, "support", Some(TOKEN_BEARER)).await;
    assert_eq!(support.body["token"], tokens.support.as_str());

    // Who picked the token up: main's two readers did; doomed's one reader has not read.
    let picked_up = |report: &Value, index: usize| {
        let readers = report["accounts"][index]["consumers"]["readers"]
            .as_array()
            .cloned();
        readers.map(|readers| {
            readers
                .iter()
                .map(|r| {
                    (
                        r["name"].as_str().unwrap_or("").to_string(),
                        r["picked_up"] == true,
                    )
                })
                .collect::<Vec<_>>()
        })
    };
    daemon
        .wait_for("main's readers in /status", async |d| {
            let (_, json) = d.get("/status", Some(SCRAPE)).await;
            let report: Value = serde_json::from_str(&json).unwrap();
            picked_up(&report, 0) == Some(vec![("default".into(), true), ("eso-prod".into(), true)])
        })
        .await;
    let (_, json) = daemon.get("/status", Some(SCRAPE)).await;
    let report: Value = serde_json::from_str(&json).unwrap();
    let unread = Some(vec![("default".to_string(), false)]);
    assert_eq!(picked_up(&report, 2), unread, "nobody read doomed: {json}");
    let scrape = daemon.metrics(SCRAPE).await;
    for line in [
        r#"tokentop_token_readers{account="main"} 2"#,
        r#"tokentop_token_readers_picked_up{account="main"} 2"#,
        r#"tokentop_token_readers_picked_up{account="support"} 1"#,
    ] {
        assert!(scrape.contains(line), "no {line} in:\n{scrape}");
    }

    // Meta says the token is invalid: 503 with the reason, so ESO keeps its last good copy.
    assert!(sim.handle().invalidate(&tokens.doomed));
    daemon
        .wait_for("doomed to be invalid in /status", async |d| {
            let (_, json) = d.get("/status", Some(SCRAPE)).await;
            let report: Value = serde_json::from_str(&json).unwrap();
            report["accounts"][2]["state"] == "invalid"
        })
        .await;
    let answer = read(&base, "doomed", Some(TOKEN_BEARER)).await;
    assert_refused(&answer, StatusCode::SERVICE_UNAVAILABLE, "invalid");
    assert!(answer.body["error"].as_str().unwrap().contains("doomed"));

    // Every read counted by account, reader and result.
    let scrape = daemon.metrics(SCRAPE).await;
    let reads =
        |labels: &str, count: u32| format!("tokentop_token_reads_total{{{labels}}} {count}");
    for line in [
        reads(r#"account="main",reader="(none)",result="unauthorized""#, 3),
        reads(
            r#"account="support",reader="eso-prod",result="forbidden""#,
            1,
        ),
        reads(
            r#"account="(unknown)",reader="eso-prod",result="not_found""#,
            1,
        ),
        reads(r#"account="main",reader="default",result="ok""#, 1),
        reads(r#"account="main",reader="eso-prod",result="ok""#, 1),
        reads(r#"account="support",reader="default",result="ok""#, 1),
        reads(r#"account="doomed",reader="default",result="refused""#, 1),
        // Allowed but never read: there from the first scrape, at 0.
        reads(r#"account="doomed",reader="default",result="ok""#, 0),
    ] {
        assert!(scrape.contains(&line), "no {line} in:\n{scrape}");
    }
    assert!(!scrape.contains(r#"account="support",reader="eso-prod",result="ok""#));
    let last_read = scrape
        .lines()
        .find(|l| {
            l.starts_with(
                r#"tokentop_token_last_read_timestamp_seconds{account="main",reader="eso-prod"}"#,
            )
        })
        .and_then(|l| l.rsplit(' ').next()?.parse::<i64>().ok())
        .unwrap_or_else(|| panic!("no last read of main by eso-prod in:\n{scrape}"));
    assert!(
        (chrono::Utc::now().timestamp() - last_read).abs() < 120,
        "{last_read}"
    );
    assert!(!scrape.contains(r#"last_read_timestamp_seconds{account="doomed""#));
    promtool_check_metrics(&scrape);

    // Logged with account, reader and result, never the token nor a bearer.
    let log = daemon.stderr();
    assert!(
        log.contains("token endpoint: account main, reader eso-prod: ok"),
        "{log}"
    );
    assert!(
        log.contains("account doomed, reader default: refused"),
        "{log}"
    );
    for secret in [&tokens.main, &tokens.support, &tokens.doomed] {
        assert!(
            !log.contains(secret.as_str()),
            "a token is in the daemon's log"
        );
    }
    for bearer in [TOKEN_BEARER, ESO_BEARER, SCRAPE] {
        assert!(!log.contains(bearer), "a bearer is in the daemon's log");
    }
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_are_served_off_loopback_only_over_tls() {
    let sim = start_sim().await;
    let tokens = mint(&sim);
    let dir = tempfile::tempdir().unwrap();
    let serve = format!(
        "[serve]\ntoken-endpoint = true\ntoken-bearer = \"{TOKEN_BEARER}\"\n\n{}",
        account("main", &tokens.main, "")
    );
    // `--listen` on every interface, no TLS: refused before anything is served.
    let config_path = dir.path().join("config.toml");
    write_private(&config_path, &serve);
    let data = dir.path().join("data");
    let listen = format!("0.0.0.0:{}", free_port());
    let args = [
        "--config",
        config_path.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--graph-url",
        &sim.base_url(),
        "daemon",
        "--listen",
        &listen,
    ];
    let output = tokentop(dir.path(), &args, &[]).await;
    let text = all_text(&output);
    assert_ne!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("token-endpoint = true on 0.0.0.0:")
            && text.contains("which is not loopback, without TLS")
            && text.contains("tls-cert and tls-key"),
        "{text}"
    );

    // With the relay's test certificate: https on every interface, plain http refused.
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
    std::fs::copy(fixtures.join("relay-a.crt"), dir.path().join("tls.crt")).unwrap();
    std::fs::copy(fixtures.join("relay-a.key"), dir.path().join("tls.key")).unwrap();
    let port = free_port();
    let config = serve.replace(
        "[serve]\n",
        &format!(
            "[serve]\nlisten = \"0.0.0.0:{port}\"\ntls-cert = \"tls.crt\"\ntls-key = \"tls.key\"\n"
        ),
    );
    let mut daemon = spawn_in(dir.path(), &config, &sim.base_url(), &["daemon"], &[]);
    let ca = std::fs::read(fixtures.join("ca-a.crt")).unwrap();
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let stderr = || std::fs::read_to_string(dir.path().join("daemon.err")).unwrap_or_default();
    let answer = wait_until(
        "the token over https",
        Duration::from_secs(30),
        async || {
            assert!(
                daemon.try_wait().unwrap().is_none(),
                "the daemon exited:\n{}",
                stderr()
            );
            let answer = https
                .get(format!("{base}/v1/accounts/main/token"))
                .bearer_auth(TOKEN_BEARER)
                .send()
                .await
                .ok()?;
            (answer.status() == StatusCode::OK).then_some(answer)
        },
    )
    .await;
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["token"], tokens.main.as_str());
    assert!(
        stderr().contains(&format!("on https://0.0.0.0:{port}")),
        "{}",
        stderr()
    );
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await;
    assert!(plain.is_err(), "plain http was answered: {plain:?}");
    let answer = read_with(&https, &base, "main", None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        !stderr().contains(&tokens.main),
        "the token is in the daemon's log"
    );
}
