#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `GraphClient` against the Graph API simulator over real loopback HTTP: every call tokentop
//! makes, the error class of each injected fault, `appsecret_proof`, and that no secret ever
//! reaches a log line or an error.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use tokentop::config::GraphSettings;
use tokentop::graph::{
    AppCredentials, ErrorClass, Expiry, Granularity, GraphClient, GraphError, OutgoingMessage,
    TokenInfo, appsecret_proof,
};
use tokentop::sim::{Faults, RunningSim, SimConfig, SimHandle, SimPhone, TokenKind};

type TestResult = anyhow::Result<()>;

const PHONE: &str = "106540352242922";
const WABA: &str = "102290129340398";
const RECIPIENT: &str = "15551234567";
const DAY_SECS: u64 = 86_400;
const HALF_HOUR_SECS: i64 = 1800;
/// Allowed gap between an expiry the sim computed and the one the test expects, in seconds:
/// the two read the clock at slightly different times, possibly across a second boundary.
const CLOCK_SLACK_SECS: i64 = 5;
/// Generous for loopback on a busy machine; fault tests that need a timeout use their own.
const NORMAL_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const WAIT_DEADLINE: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// The sim's regain estimate under an injected rate limit (5 minutes).
const THROTTLED_RETRY_AFTER: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// A running simulator and a client pointed at it.
struct Env {
    sim: RunningSim,
    handle: SimHandle,
    client: GraphClient,
    app: AppCredentials,
}

impl Env {
    async fn start(config: SimConfig) -> anyhow::Result<Env> {
        Self::start_with(config, "v25.0", NORMAL_REQUEST_TIMEOUT).await
    }

    async fn start_with(
        config: SimConfig,
        version: &str,
        request_timeout: Duration,
    ) -> anyhow::Result<Env> {
        let app = AppCredentials::new(config.app_id.clone(), config.app_secret.clone());
        let sim = RunningSim::start(config, "127.0.0.1:0".parse()?).await?;
        let client = client_for(&sim, version, request_timeout)?;
        Ok(Env {
            handle: sim.handle(),
            sim,
            client,
            app,
        })
    }

    fn mint(&self, kind: TokenKind, lifetime: Option<Duration>) -> SecretString {
        SecretString::from(self.handle.mint_token(kind, lifetime).access_token)
    }

    /// A token that is already past its expiry (expires at the second it was minted).
    fn mint_expired(&self) -> SecretString {
        self.mint(TokenKind::ShortLivedUser, Some(Duration::ZERO))
    }

    async fn inspect(&self, token: &SecretString) -> TokenInfo {
        self.client.debug_token(&self.app, token).await.unwrap()
    }

    /// Polls `debug_token` until the sim calls the token invalid, failing after a deadline.
    async fn wait_until_invalid(&self, token: &SecretString) {
        let deadline = Instant::now() + WAIT_DEADLINE;
        while self.inspect(token).await.is_valid {
            assert!(
                Instant::now() < deadline,
                "token still valid after {WAIT_DEADLINE:?}"
            );
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

fn client_for(
    sim: &RunningSim,
    version: &str,
    request_timeout: Duration,
) -> anyhow::Result<GraphClient> {
    Ok(GraphClient::new(&GraphSettings {
        base_url: sim.base_url(),
        version: version.to_string(),
        request_timeout,
        ..GraphSettings::default()
    })?)
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

fn days(n: u64) -> Duration {
    Duration::from_secs(n * DAY_SECS)
}

#[track_caller]
fn assert_expires_near(expiry: Expiry, lifetime: Duration) {
    let expected = now_unix() + i64::try_from(lifetime.as_secs()).unwrap();
    match expiry {
        Expiry::At(unix) => assert!(
            (unix - expected).abs() <= CLOCK_SLACK_SECS,
            "expires at {unix}, expected about {expected}"
        ),
        other => panic!("expected an expiry near {expected}, got {other:?}"),
    }
}

#[track_caller]
fn assert_class(result: Result<(), GraphError>, class: ErrorClass, what: &str) -> GraphError {
    match result {
        Ok(()) => panic!("{what}: expected a {class} error, got success"),
        Err(err) => {
            assert_eq!(err.class, class, "{what}: {err}");
            err
        }
    }
}

fn template() -> OutgoingMessage {
    OutgoingMessage::Template {
        to: RECIPIENT.to_string(),
        name: "hello_world".to_string(),
        language: "en_US".to_string(),
    }
}

fn text() -> OutgoingMessage {
    OutgoingMessage::Text {
        to: RECIPIENT.to_string(),
        body: "tokentop test".to_string(),
    }
}

/// `[start, end)` of the last `hours` whole hours, aligned to half hours.
fn analytics_window(hours: i64) -> (i64, i64) {
    let now = now_unix();
    let end = now - now.rem_euclid(HALF_HOUR_SECS);
    (end - hours * 3600, end)
}

/// One call of each kind the client makes with `token`, reduced to its error (if any).
/// Revoke is left out: it would kill the token for the calls after it.
async fn every_call(
    env: &Env,
    client: &GraphClient,
    token: &SecretString,
) -> Vec<(&'static str, Result<(), GraphError>)> {
    let app = &env.app;
    let (start, end) = analytics_window(6);
    let batch = client
        .debug_tokens(app, std::slice::from_ref(token))
        .await
        .and_then(|items| items.into_iter().next().expect("one batch item"));
    vec![
        (
            "debug_token",
            client.debug_token(app, token).await.map(drop),
        ),
        ("batch", batch.map(drop)),
        (
            "exchange",
            client.exchange(app, token, false).await.map(drop),
        ),
        (
            "send",
            client
                .send_message(app, token, PHONE, &template())
                .await
                .map(drop),
        ),
        (
            "phone_health",
            client.phone_health(app, token, PHONE).await.map(drop),
        ),
        (
            "analytics",
            client
                .waba_analytics(app, token, WABA, start, end, Granularity::HalfHour)
                .await
                .map(drop),
        ),
    ]
}

#[track_caller]
fn assert_all_ok(results: Vec<(&'static str, Result<(), GraphError>)>) {
    for (what, result) in results {
        if let Err(err) = result {
            panic!("{what} failed: {err}");
        }
    }
}

fn set_faults(env: &Env, faults: Faults) {
    env.handle.set_faults(faults);
}

// ---------------------------------------------------------------------------------------------
// Inspect
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn inspect_never_expiring_system_user_token() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let token = env.mint(TokenKind::SystemUser, None);
    let info = env.client.debug_token(&env.app, &token).await?;
    assert!(info.is_valid, "{info:?}");
    assert_eq!(info.expiry(), Expiry::Never);
    assert_eq!(info.data_access_expiry(), Expiry::Never);
    assert!(info.is_system_user());
    assert!(info.missing_whatsapp_scopes().is_empty(), "{info:?}");
    assert_eq!(info.app_id.as_deref(), Some(env.app.app_id.as_str()));
    assert!(info.error.is_none());
    Ok(())
}

#[tokio::test]
async fn inspect_user_token_expires_after_its_lifetime() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let lifetime = Duration::from_secs(7200);
    let token = env.mint(TokenKind::ShortLivedUser, Some(lifetime));
    let info = env.client.debug_token(&env.app, &token).await?;
    assert!(info.is_valid);
    assert!(!info.is_system_user());
    assert_eq!(info.token_type.as_deref(), Some("USER"));
    assert_expires_near(info.expiry(), lifetime);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Exchange, invalidation, revoke
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn exchange_short_lived_user_token_for_a_long_lived_one() -> TestResult {
    // Not Meta's 60 days, so that the test sees the configured value is used.
    let long_lived_lifetime = days(50);
    let env = Env::start(SimConfig {
        long_lived_lifetime,
        ..SimConfig::default()
    })
    .await?;
    let short = env.mint(TokenKind::ShortLivedUser, Some(Duration::from_secs(3600)));
    let exchanged = env.client.exchange(&env.app, &short, false).await?;
    let long = exchanged.access_token;
    assert_ne!(long.expose_secret(), short.expose_secret());
    let expires_in_secs = exchanged.expires_in_secs.expect("expires_in");
    assert!(long_lived_lifetime.as_secs().abs_diff(expires_in_secs) <= CLOCK_SLACK_SECS as u64);
    let info = env.inspect(&long).await;
    assert!(info.is_valid);
    assert_eq!(info.token_type.as_deref(), Some("USER"));
    assert_expires_near(info.expiry(), long_lived_lifetime);
    // Zero-downtime rotation depends on the old token still working until its own expiry.
    assert!(env.inspect(&short).await.is_valid);
    Ok(())
}

#[tokio::test]
async fn exchange_system_user_token_with_60_days_flag_rolls_its_expiry() -> TestResult {
    let system_user_lifetime = days(45);
    let env = Env::start(SimConfig {
        system_user_lifetime,
        ..SimConfig::default()
    })
    .await?;
    let token = env.mint(TokenKind::SystemUser, None);

    let rolled = env.client.exchange(&env.app, &token, true).await?;
    assert_ne!(rolled.access_token.expose_secret(), token.expose_secret());
    let info = env.inspect(&rolled.access_token).await;
    assert!(info.is_valid && info.is_system_user(), "{info:?}");
    assert_expires_near(info.expiry(), system_user_lifetime);

    // Without the flag a never-expiring system-user token stays never-expiring.
    let plain = env.client.exchange(&env.app, &token, false).await?;
    assert_eq!(
        env.inspect(&plain.access_token).await.expiry(),
        Expiry::Never
    );
    Ok(())
}

#[tokio::test]
async fn exchange_refuses_an_expired_token_as_token_dead() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let token = env.mint(TokenKind::ShortLivedUser, Some(Duration::from_secs(1)));
    env.wait_until_invalid(&token).await;
    let info = env.inspect(&token).await;
    let error = info.error.expect("a dead token carries data.error");
    assert_eq!((error.code, error.subcode), (Some(190), Some(463)));

    let result = env.client.exchange(&env.app, &token, false).await.map(drop);
    let err = assert_class(
        result,
        ErrorClass::TokenDead,
        "exchange of an expired token",
    );
    assert_eq!(err.code, Some(190));
    Ok(())
}

#[tokio::test]
async fn invalidated_token_inspects_as_invalid_with_code_190() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let token = env.mint(TokenKind::LongLivedUser, Some(days(60)));
    assert!(env.inspect(&token).await.is_valid);
    assert!(env.handle.invalidate(token.expose_secret()));

    let info = env.client.debug_token(&env.app, &token).await?;
    assert!(!info.is_valid);
    let error = info.error.expect("data.error");
    assert_eq!((error.code, error.subcode), (Some(190), Some(460)));
    assert!(error.message.contains("invalidated"), "{}", error.message);
    Ok(())
}

#[tokio::test]
async fn revoke_kills_the_old_token_and_keeps_the_new_one() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let old = env.mint(TokenKind::ShortLivedUser, Some(Duration::from_secs(3600)));
    let new = env
        .client
        .exchange(&env.app, &old, false)
        .await?
        .access_token;
    assert!(env.inspect(&old).await.is_valid);

    env.client.revoke(&env.app, &old, &new).await?;
    let info = env.inspect(&old).await;
    assert!(!info.is_valid);
    assert_eq!(info.error.and_then(|e| e.code), Some(190));
    assert!(env.inspect(&new).await.is_valid);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn send_template_and_text_return_a_wamid() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let token = env.mint(TokenKind::SystemUser, None);
    // message_status is template pacing: Meta sends it for templates only.
    for (message, status) in [(template(), Some("accepted")), (text(), None)] {
        let sent = env
            .client
            .send_message(&env.app, &token, PHONE, &message)
            .await?;
        let id = sent.value.message_id.as_deref().unwrap_or_default();
        assert!(id.starts_with("wamid."), "{message:?}: {id:?}");
        assert_eq!(sent.value.message_status.as_deref(), status);
        assert_eq!(sent.value.wa_id.as_deref(), Some(RECIPIENT));
        let business = &sent.usage.business;
        assert!(
            business.iter().any(|b| b.business_id == PHONE),
            "{business:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn send_failure_fault_is_message_level_until_cleared() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let token = env.mint(TokenKind::SystemUser, None);
    set_faults(
        &env,
        Faults {
            message_failure_code: Some(131026),
            ..Faults::default()
        },
    );
    let message = template();
    let send = || env.client.send_message(&env.app, &token, PHONE, &message);
    let err = assert_class(send().await.map(drop), ErrorClass::MessageLevel, "send");
    assert_eq!(err.code, Some(131026));
    assert!(err.details.is_some(), "{err:?}");

    env.handle.clear_faults();
    send().await?;
    Ok(())
}

#[tokio::test]
async fn send_with_a_dead_token_is_token_dead() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let token = env.mint(TokenKind::LongLivedUser, Some(days(60)));
    assert!(env.handle.invalidate(token.expose_secret()));
    let result = env
        .client
        .send_message(&env.app, &token, PHONE, &template())
        .await
        .map(drop);
    let err = assert_class(
        result,
        ErrorClass::TokenDead,
        "send with an invalidated token",
    );
    assert_eq!(err.code, Some(190));

    let expired = env.mint_expired();
    let result = env
        .client
        .send_message(&env.app, &expired, PHONE, &text())
        .await
        .map(drop);
    assert_class(result, ErrorClass::TokenDead, "send with an expired token");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Phone health and analytics
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn phone_health_default_and_configured_on_v25_and_v23() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let token = env.mint(TokenKind::SystemUser, None);
    let troubled_phone = "106540352242999";
    env.handle.set_phone(
        troubled_phone,
        SimPhone {
            quality_rating: "RED".to_string(),
            status: "FLAGGED".to_string(),
            messaging_limit: "TIER_250".to_string(),
            throughput_level: "HIGH".to_string(),
            can_send_message: "BLOCKED".to_string(),
            additional_info: vec!["Your number is flagged".to_string()],
            ..SimPhone::default()
        },
    );
    for (version, limit_field) in [
        ("v25.0", "whatsapp_business_manager_messaging_limit"),
        ("v23.0", "messaging_limit_tier"),
    ] {
        let client = client_for(&env.sim, version, NORMAL_REQUEST_TIMEOUT)?;
        assert_eq!(client.limit_field(), limit_field);

        let default = client.phone_health(&env.app, &token, PHONE).await?.value;
        assert_eq!(default.id.as_deref(), Some(PHONE));
        assert_eq!(
            default.quality_rating.as_deref(),
            Some("GREEN"),
            "{version}"
        );
        assert_eq!(default.status.as_deref(), Some("CONNECTED"));
        assert_eq!(
            default.messaging_limit.as_deref(),
            Some("TIER_1K"),
            "{version}"
        );
        assert_eq!(default.throughput_level.as_deref(), Some("STANDARD"));
        let health = default.health.expect("health_status");
        assert_eq!(health.can_send_message.as_deref(), Some("AVAILABLE"));

        let troubled = client
            .phone_health(&env.app, &token, troubled_phone)
            .await?;
        let troubled = troubled.value;
        assert_eq!(troubled.quality_rating.as_deref(), Some("RED"));
        assert_eq!(troubled.status.as_deref(), Some("FLAGGED"));
        assert_eq!(
            troubled.messaging_limit.as_deref(),
            Some("TIER_250"),
            "{version}"
        );
        assert_eq!(troubled.throughput_level.as_deref(), Some("HIGH"));
        let health = troubled.health.expect("health_status");
        assert_eq!(health.can_send_message.as_deref(), Some("BLOCKED"));
        let entity = health.entities.first().expect("one entity");
        assert_eq!(entity.entity_type.as_deref(), Some("PHONE_NUMBER"));
        assert_eq!(entity.id.as_deref(), Some(troubled_phone));
        assert_eq!(entity.additional_info, ["Your number is flagged"]);
    }
    Ok(())
}

#[tokio::test]
async fn analytics_six_hours_at_half_hour_has_twelve_points() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let token = env.mint(TokenKind::SystemUser, None);
    let (start, end) = analytics_window(6);
    let analytics = env
        .client
        .waba_analytics(&env.app, &token, WABA, start, end, Granularity::HalfHour)
        .await?
        .value;
    assert_eq!(analytics.granularity.as_deref(), Some("HALF_HOUR"));
    assert!(!analytics.phone_numbers.is_empty());
    let points = &analytics.data_points;
    assert_eq!(points.len(), 12, "{points:?}");
    assert_eq!(points[0].start, start);
    assert_eq!(points[11].end, end);
    for (index, point) in points.iter().enumerate() {
        assert_eq!(point.end - point.start, HALF_HOUR_SECS, "point {index}");
        if let Some(next) = points.get(index + 1) {
            assert_eq!(point.end, next.start, "gap after point {index}");
        }
        assert!(point.sent > 0, "point {index}: {point:?}");
        assert!(point.delivered <= point.sent, "point {index}: {point:?}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Batch
// ---------------------------------------------------------------------------------------------

/// What each token of the batch test is.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Planted {
    /// Valid, expiring after this many days (unique per index, so order is checkable).
    Valid(u64),
    Expired,
    Unknown,
}

#[tokio::test]
async fn batch_of_120_tokens_answers_in_order_in_three_requests() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let planted: Vec<Planted> = (0..120u64)
        .map(|index| match index % 3 {
            0 => Planted::Valid(100 + index),
            1 => Planted::Expired,
            _ => Planted::Unknown,
        })
        .collect();
    let tokens: Vec<SecretString> = planted
        .iter()
        .enumerate()
        .map(|(index, plant)| match plant {
            Planted::Valid(days_left) => env.mint(TokenKind::LongLivedUser, Some(days(*days_left))),
            Planted::Expired => env.mint_expired(),
            Planted::Unknown => SecretString::from(format!("EAAGunknownToken{index:03}")),
        })
        .collect();

    let results = env.client.debug_tokens(&env.app, &tokens).await?;
    assert_eq!(results.len(), tokens.len());
    for (index, (plant, result)) in planted.iter().zip(results).enumerate() {
        let info = result.unwrap_or_else(|err| panic!("item {index}: {err}"));
        let subcode = info.error.as_ref().and_then(|e| e.subcode);
        match plant {
            Planted::Valid(days_left) => {
                assert!(info.is_valid, "item {index}: {info:?}");
                assert_expires_near(info.expiry(), days(*days_left));
            }
            Planted::Expired => {
                assert!(!info.is_valid, "item {index}");
                assert_eq!(subcode, Some(463), "item {index}");
            }
            Planted::Unknown => {
                // fixtures/debug_token_cannot_parse.json: code 190, no subcode.
                assert!(!info.is_valid, "item {index}");
                assert_eq!(subcode, None, "item {index}");
                assert_eq!(
                    info.error.as_ref().and_then(|e| e.code),
                    Some(190),
                    "item {index}"
                );
            }
        }
    }

    let stats = env.handle.stats();
    assert_eq!(stats.by_endpoint.get("batch"), Some(&3), "{stats:?}");
    assert_eq!(
        stats.by_endpoint.get("debug_token"),
        Some(&120),
        "{stats:?}"
    );
    assert_eq!(stats.total, 3);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// appsecret_proof
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_token_call_succeeds_when_the_app_requires_proof() -> TestResult {
    let env = Env::start(SimConfig {
        require_proof: true,
        ..SimConfig::default()
    })
    .await?;
    let token = env.mint(TokenKind::SystemUser, None);
    assert_all_ok(every_call(&env, &env.client, &token).await);
    let old = env.mint(TokenKind::ShortLivedUser, None);
    let new = env
        .client
        .exchange(&env.app, &old, false)
        .await?
        .access_token;
    env.client.revoke(&env.app, &old, &new).await?;

    // The sim does check: a proof signed with another secret is refused.
    let wrong = AppCredentials::new(env.app.app_id.clone(), SecretString::from("not-the-secret"));
    let result = env
        .client
        .send_message(&wrong, &token, PHONE, &template())
        .await
        .map(drop);
    let err = assert_class(result, ErrorClass::Other, "send with a wrong proof");
    assert_eq!(err.code, Some(100));
    assert!(err.message.contains("appsecret_proof"), "{err}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn server_errors_are_transient_until_cleared() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let token = env.mint(TokenKind::SystemUser, None);
    set_faults(
        &env,
        Faults {
            error_5xx_probability: 1.0,
            ..Faults::default()
        },
    );
    for (what, result) in every_call(&env, &env.client, &token).await {
        let err = assert_class(result, ErrorClass::Transient, what);
        assert!(
            matches!(err.http_status, Some(500 | 503)),
            "{what}: {err:?}"
        );
        assert_eq!(err.code, Some(2), "{what}");
    }
    env.handle.clear_faults();
    assert_all_ok(every_call(&env, &env.client, &token).await);
    Ok(())
}

#[tokio::test]
async fn rate_limits_carry_retry_after_on_waba_and_phone_calls() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let token = env.mint(TokenKind::SystemUser, None);
    set_faults(
        &env,
        Faults {
            rate_limit_probability: 1.0,
            ..Faults::default()
        },
    );
    for (what, result) in every_call(&env, &env.client, &token).await {
        let err = assert_class(result, ErrorClass::RateLimited, what);
        let (code, retry_after) = match what {
            "analytics" => (80007, Some(THROTTLED_RETRY_AFTER)),
            "send" | "phone_health" => (4, Some(THROTTLED_RETRY_AFTER)),
            // No business object, so no X-Business-Use-Case-Usage to estimate from.
            _ => (4, None),
        };
        assert_eq!(err.code, Some(code), "{what}");
        assert_eq!(err.retry_after, retry_after, "{what}");
    }
    env.handle.clear_faults();
    assert_all_ok(every_call(&env, &env.client, &token).await);
    Ok(())
}

#[tokio::test]
async fn malformed_bodies_are_transient_until_cleared() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let token = env.mint(TokenKind::SystemUser, None);
    set_faults(
        &env,
        Faults {
            malformed_probability: 1.0,
            ..Faults::default()
        },
    );
    for (what, result) in every_call(&env, &env.client, &token).await {
        let err = assert_class(result, ErrorClass::Transient, what);
        assert_eq!(err.http_status, Some(200), "{what}");
        assert!(err.message.contains("not JSON"), "{what}: {err}");
    }
    env.handle.clear_faults();
    assert_all_ok(every_call(&env, &env.client, &token).await);
    Ok(())
}

#[tokio::test]
async fn latency_beyond_the_request_timeout_is_a_transient_timeout() -> TestResult {
    let env = Env::start(SimConfig::default()).await?;
    let impatient = client_for(&env.sim, "v25.0", Duration::from_millis(100))?;
    let token = env.mint(TokenKind::SystemUser, None);
    set_faults(
        &env,
        Faults {
            latency_ms: 300,
            ..Faults::default()
        },
    );
    for (what, result) in every_call(&env, &impatient, &token).await {
        let err = assert_class(result, ErrorClass::Transient, what);
        assert!(err.message.contains("request timeout"), "{what}: {err}");
        assert_eq!(err.http_status, None, "{what}");
    }
    env.handle.clear_faults();
    assert_all_ok(every_call(&env, &env.client, &token).await);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// The race behind a flaky secret test: a call site first reached on another thread, while this
/// thread's subscriber is the only one alive, must still reach this thread's subscriber.
#[test]
fn a_call_site_first_reached_on_another_thread_still_reaches_the_capture() {
    fn log_line(word: &str) {
        tracing::debug!(word, "trace capture probe");
    }
    let (captured, _guard) = crate::support::trace_capture::capture(tracing::Level::TRACE);
    std::thread::spawn(|| log_line("elsewhere")).join().unwrap();
    log_line("here");
    let logs = captured.text();
    assert!(
        logs.contains("word=\"here\""),
        "the capture missed its own line:\n{logs}"
    );
    assert!(
        !logs.contains("elsewhere"),
        "another thread's line was captured:\n{logs}"
    );
}

fn errors_of(
    results: Vec<(&'static str, Result<(), GraphError>)>,
) -> impl Iterator<Item = GraphError> {
    results.into_iter().filter_map(|(_, result)| result.err())
}

/// What [`exercise_everything`] produced: text to search, and the tokens it minted.
#[derive(Default)]
struct Exercised {
    /// Display and Debug of every error, and Debug of results that hold token data.
    outputs: Vec<String>,
    tokens: Vec<SecretString>,
}

/// Every call kind, successful and failing (dead tokens, every fault, a timeout).
async fn exercise_everything(env: &Env, token: &SecretString) -> Exercised {
    let (client, app) = (&env.client, &env.app);
    let mut seen = Exercised::default();
    let mut errors: Vec<GraphError> = errors_of(every_call(env, client, token).await).collect();

    let rolled = client.exchange(app, token, true).await.unwrap();
    seen.outputs.push(format!("{rolled:?}"));
    let short = env.mint(TokenKind::ShortLivedUser, None);
    let new = client.exchange(app, &short, false).await.unwrap();
    client.revoke(app, &short, &new.access_token).await.unwrap();
    errors.extend(errors_of(every_call(env, client, &short).await));
    seen.outputs
        .push(format!("{:?}", client.debug_token(app, &short).await));
    let expired = env.mint_expired();
    errors.extend(errors_of(every_call(env, client, &expired).await));
    let batch = client
        .debug_tokens(app, &[expired.clone(), short.clone()])
        .await;
    seen.outputs.push(format!("{batch:?}"));

    for fault in [
        Faults {
            message_failure_code: Some(131026),
            ..Faults::default()
        },
        Faults {
            error_5xx_probability: 1.0,
            ..Faults::default()
        },
        Faults {
            rate_limit_probability: 1.0,
            ..Faults::default()
        },
        Faults {
            malformed_probability: 1.0,
            ..Faults::default()
        },
    ] {
        env.handle.set_faults(fault);
        errors.extend(errors_of(every_call(env, client, token).await));
    }
    env.handle.set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let impatient = client_for(&env.sim, "v25.0", Duration::from_millis(100)).unwrap();
    errors.extend(errors_of(every_call(env, &impatient, token).await));
    env.handle.clear_faults();

    assert!(
        errors.len() >= 25,
        "only {} errors were produced",
        errors.len()
    );
    for err in &errors {
        seen.outputs.push(err.to_string());
        seen.outputs.push(format!("{err:?}"));
    }
    seen.tokens = vec![rolled.access_token, short, new.access_token, expired];
    seen
}

#[tokio::test]
async fn no_secret_reaches_logs_or_errors() -> TestResult {
    let app_secret = "it-client-app-secret-5c0ffee";
    let env = Env::start(SimConfig {
        app_secret: SecretString::from(app_secret),
        require_proof: true,
        ..SimConfig::default()
    })
    .await?;
    let token = env.mint(TokenKind::SystemUser, None);
    let (captured, guard) = crate::support::trace_capture::capture(tracing::Level::TRACE);
    // Current-thread runtime: the sim's tasks run on this thread, so they log here too.
    let seen = exercise_everything(&env, &token).await;
    drop(guard);

    let logs = captured.text();
    assert!(
        logs.contains("latency_ms"),
        "the client's request log is missing:\n{logs}"
    );
    let mut secrets = vec![app_secret.to_string()];
    for token in std::iter::once(&token).chain(&seen.tokens) {
        secrets.push(token.expose_secret().to_string());
        secrets.push(appsecret_proof(&env.app.app_secret, token));
    }
    for (index, secret) in secrets.iter().enumerate() {
        assert!(
            !logs.contains(secret.as_str()),
            "secret #{index} is in the logs:\n{logs}"
        );
        for output in &seen.outputs {
            assert!(
                !output.contains(secret.as_str()),
                "secret #{index} is in: {output}"
            );
        }
    }
    Ok(())
}
