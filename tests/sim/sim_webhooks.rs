//! The simulator playing Meta's webhook side over real loopback HTTP: status webhooks after each
//! accepted send (signed, batched, retried with the same bytes), account-level events in the
//! fixtures' shapes, the `/_sim/webhooks` control endpoints, and `tokentop sim --webhook-url`.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use reqwest::Client;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokentop::sim::{
    DEFAULT_WABA_ID, MAX_STATUSES_PER_POST, RunningSim, SimConfig, SimHandle, SimPhone, TokenKind,
    WebhookSettings, WebhookStats,
};
use tokentop::webhook::signature::verify;

use crate::json_shape::shape;
use tokio::sync::watch;

const V: &str = "v25.0";
const PHONE: &str = "106540352242922";
const DEADLINE: Duration = Duration::from_secs(20);

/// One POST the receiver got.
#[derive(Debug, Clone)]
struct Post {
    body: Bytes,
    signature: Option<String>,
    signed_right: bool,
    content_type: Option<String>,
    json: Value,
}

#[derive(Clone)]
struct ReceiverState {
    secret: SecretString,
    posts: Arc<watch::Sender<Vec<Post>>>,
    /// Answers to give, in order; 200 once they run out.
    script: Arc<Mutex<VecDeque<StatusCode>>>,
}

/// A small webhook receiver that checks the signature over the raw bytes and records them.
struct Receiver {
    url: String,
    state: ReceiverState,
}

impl Receiver {
    async fn start(secret: &str, script: &[StatusCode]) -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Receiver::serve(listener, secret, script)
    }

    fn serve(listener: tokio::net::TcpListener, secret: &str, script: &[StatusCode]) -> Receiver {
        let state = ReceiverState {
            secret: SecretString::from(secret.to_string()),
            posts: Arc::new(watch::Sender::new(Vec::new())),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
        };
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(state.clone());
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    fn posts(&self) -> Vec<Post> {
        self.state.posts.borrow().clone()
    }

    /// Waits until `ready` holds for the posts so far, or fails at the deadline.
    async fn wait_for(&self, what: &str, ready: impl Fn(&[Post]) -> bool) -> Vec<Post> {
        let mut posts = self.state.posts.subscribe();
        let waited = tokio::time::timeout(DEADLINE, posts.wait_for(|posts| ready(posts))).await;
        match waited {
            Ok(Ok(posts)) => posts.clone(),
            _ => panic!("{what}: not within {DEADLINE:?}; got {:#?}", self.posts()),
        }
    }
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    let signature = header("x-hub-signature-256");
    let signed_right = verify(signature.as_deref(), &body, &[&state.secret]).is_ok();
    let answer = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(StatusCode::OK);
    let post = Post {
        json: serde_json::from_slice(&body).unwrap_or(Value::Null),
        body,
        signature,
        signed_right,
        content_type: header("content-type"),
    };
    state.posts.send_modify(|posts| posts.push(post));
    answer
}

/// One status as received, with the entry and change around it (without their other statuses).
struct Seen {
    waba_id: Value,
    field: Value,
    metadata: Value,
    status: Value,
}

/// Every status in `posts`.
fn statuses(posts: &[Post]) -> Vec<Seen> {
    let mut found = Vec::new();
    for post in posts {
        for entry in post.json["entry"].as_array().into_iter().flatten() {
            for change in entry["changes"].as_array().into_iter().flatten() {
                for status in change["value"]["statuses"].as_array().into_iter().flatten() {
                    found.push(Seen {
                        waba_id: entry["id"].clone(),
                        field: change["field"].clone(),
                        metadata: change["value"]["metadata"].clone(),
                        status: status.clone(),
                    });
                }
            }
        }
    }
    found
}

fn kinds_for(posts: &[Post], wamid: &str) -> Vec<String> {
    let mut kinds: Vec<String> = statuses(posts)
        .into_iter()
        .filter(|seen| seen.status["id"] == wamid)
        .map(|seen| seen.status["status"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    kinds
}

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

struct Env {
    sim: RunningSim,
    client: Client,
    token: String,
}

impl Env {
    async fn start(webhooks: WebhookSettings) -> Env {
        let config = SimConfig {
            webhooks,
            ..SimConfig::default()
        };
        let sim = RunningSim::start(config, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        tokentop::graph::install_tls_provider();
        let client = Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let token = sim
            .handle()
            .mint_token(TokenKind::SystemUser, None)
            .access_token;
        Env { sim, client, token }
    }

    fn handle(&self) -> SimHandle {
        self.sim.handle()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sim.base_url())
    }

    /// Sends `message` from `phone` and returns its wamid.
    async fn send_from(&self, phone: &str, message: Value) -> String {
        let answer: Value = self
            .client
            .post(self.url(&format!("/{V}/{phone}/messages")))
            .bearer_auth(&self.token)
            .json(&message)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        answer["messages"][0]["id"].as_str().unwrap().to_string()
    }

    async fn send_text(&self, phone: &str) -> String {
        self.send_from(
            phone,
            json!({"messaging_product": "whatsapp", "to": "+1 510 555 0111", "type": "text",
                "text": {"body": "hello"}}),
        )
        .await
    }

    async fn control(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn idle(&self) {
        assert!(
            self.handle().wait_webhooks_idle(DEADLINE).await,
            "webhooks still pending: {:?}",
            self.handle().webhook_stats()
        );
    }
}

#[tokio::test]
async fn a_send_gets_signed_sent_delivered_and_read_webhooks_with_pricing_twice() {
    let env = Env::start(WebhookSettings {
        read_percent: 100,
        ..WebhookSettings::immediate()
    })
    .await;
    let receiver = Receiver::start("own-webhook-secret", &[]).await;
    env.handle()
        .set_webhook_target(
            &receiver.url,
            Some(SecretString::from("own-webhook-secret")),
        )
        .unwrap();
    let template = json!({"messaging_product": "whatsapp", "to": "15105550111",
        "type": "template", "biz_opaque_callback_data": "campaign=winter26",
        "template": {"name": "hello_world", "language": {"code": "en_US"}}});
    let wamid = env.send_from(PHONE, template).await;
    let posts = receiver
        .wait_for("sent, delivered and read", |posts| {
            kinds_for(posts, &wamid) == ["delivered", "read", "sent"]
        })
        .await;
    for post in &posts {
        assert!(
            post.signed_right,
            "{:?} over {:?}",
            post.signature, post.body
        );
        assert_eq!(post.content_type.as_deref(), Some("application/json"));
        assert_eq!(post.json["object"], "whatsapp_business_account");
    }
    let batch_status_shapes: Vec<Value> = statuses(&[Post {
        json: fixture("webhook_statuses_batch_mixed"),
        body: Bytes::new(),
        signature: None,
        signed_right: true,
        content_type: None,
    }])
    .iter()
    .map(|seen| shape(&seen.status))
    .collect();
    for Seen {
        waba_id,
        field,
        metadata,
        status,
    } in statuses(&posts)
    {
        assert_eq!(waba_id, DEFAULT_WABA_ID);
        assert_eq!(field, "messages");
        assert_eq!(metadata["phone_number_id"], PHONE);
        assert_eq!(metadata["display_phone_number"], "15550100001");
        assert_eq!(status["recipient_id"], "15105550111");
        assert_eq!(status["biz_opaque_callback_data"], "campaign=winter26");
        assert!(batch_status_shapes.contains(&shape(&status)), "{status:#}");
        // Pricing on `sent` and on exactly one of delivered/read.
        let priced = status.get("pricing").is_some();
        assert_eq!(priced, status["status"] != "read", "{status:#}");
        if priced {
            assert_eq!(status["pricing"]["type"], "regular");
        }
    }
    env.idle().await;
    let stats = env.handle().webhook_stats();
    assert_eq!(stats.statuses, 3, "{stats:?}");
    assert_eq!(stats.acknowledged, stats.posted, "{stats:?}");
    assert_eq!((stats.pending, stats.retried, stats.scheduled), (0, 0, 0));
}

#[tokio::test]
async fn a_full_failure_rate_gives_one_failed_status_with_errors() {
    let env = Env::start(WebhookSettings {
        failure_percent: 100,
        ..WebhookSettings::immediate()
    })
    .await;
    // No secret given: the app's own secret signs.
    let receiver = Receiver::start("sim-app-secret", &[]).await;
    env.handle()
        .set_webhook_target(&receiver.url, None)
        .unwrap();
    let wamid = env.send_text(PHONE).await;
    let posts = receiver
        .wait_for("failed", |posts| kinds_for(posts, &wamid) == ["failed"])
        .await;
    env.idle().await;
    assert_eq!(kinds_for(&receiver.posts(), &wamid), ["failed"]);
    assert!(posts.iter().all(|post| post.signed_right));
    let failed = statuses(&posts).pop().unwrap().status;
    let error = &failed["errors"][0];
    assert_eq!(error["code"], 131026);
    assert_eq!(error["title"], "Message undeliverable");
    assert_eq!(error["message"], error["title"]);
    assert!(error["error_data"]["details"].as_str().unwrap().len() > 10);
    assert!(failed.get("pricing").is_none());
}

#[tokio::test]
async fn a_full_silent_rate_gives_sent_and_nothing_after() {
    let env = Env::start(WebhookSettings {
        silent_percent: 100,
        ..WebhookSettings::immediate()
    })
    .await;
    let receiver = Receiver::start("sim-app-secret", &[]).await;
    env.handle()
        .set_webhook_target(&receiver.url, None)
        .unwrap();
    let wamid = env.send_text(PHONE).await;
    receiver
        .wait_for("sent", |posts| kinds_for(posts, &wamid) == ["sent"])
        .await;
    env.idle().await;
    assert_eq!(kinds_for(&receiver.posts(), &wamid), ["sent"]);
    assert_eq!(env.handle().webhook_stats().statuses, 1);
}

#[tokio::test]
async fn two_refusals_are_retried_with_the_same_bytes_then_acknowledged() {
    let env = Env::start(WebhookSettings {
        failure_percent: 100,
        ..WebhookSettings::immediate()
    })
    .await;
    let refusals = [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY];
    let receiver = Receiver::start("sim-app-secret", &refusals).await;
    env.handle()
        .set_webhook_target(&receiver.url, None)
        .unwrap();
    env.send_text(PHONE).await;
    let posts = receiver
        .wait_for("three tries", |posts| posts.len() >= 3)
        .await;
    env.idle().await;
    let posts_after = receiver.posts();
    assert_eq!(posts_after.len(), 3, "no retry after the 200");
    assert!(posts.iter().all(|post| post.body == posts[0].body));
    assert!(
        posts
            .iter()
            .all(|post| post.signature == posts[0].signature)
    );
    assert!(posts[0].signed_right);
    let stats = env.handle().webhook_stats();
    assert_eq!(
        (
            stats.posted,
            stats.attempts,
            stats.retried,
            stats.acknowledged,
            stats.pending
        ),
        (1, 3, 2, 1, 0),
        "{stats:?}"
    );
}

/// Polls the counters until `ready` holds, or fails at the deadline.
async fn wait_stats(sim: &SimHandle, what: &str, ready: impl Fn(&WebhookStats) -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let stats = sim.webhook_stats();
        if ready(&stats) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {stats:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_refused_connection_is_retried_until_the_receiver_is_up() {
    let env = Env::start(WebhookSettings {
        failure_percent: 100,
        ..WebhookSettings::immediate()
    })
    .await;
    // A port nobody listens on (yet).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    env.handle()
        .set_webhook_target(&format!("http://{addr}/hook"), None)
        .unwrap();
    env.send_text(PHONE).await;
    wait_stats(&env.handle(), "retries against a closed port", |s| {
        s.retried >= 3
    })
    .await;
    assert_eq!(env.handle().webhook_stats().pending, 1);
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let receiver = Receiver::serve(listener, "sim-app-secret", &[]);
    let posts = receiver
        .wait_for("the retried body", |posts| !posts.is_empty())
        .await;
    assert!(posts[0].signed_right);
    env.idle().await;
    let stats = env.handle().webhook_stats();
    assert_eq!(
        (stats.posted, stats.acknowledged, stats.pending),
        (1, 1, 0),
        "{stats:?}"
    );
}

#[tokio::test]
async fn clearing_the_target_drops_the_bodies_being_retried() {
    let env = Env::start(WebhookSettings {
        failure_percent: 100,
        ..WebhookSettings::immediate()
    })
    .await;
    let receiver =
        Receiver::start("sim-app-secret", &[StatusCode::SERVICE_UNAVAILABLE; 1000]).await;
    env.handle()
        .set_webhook_target(&receiver.url, None)
        .unwrap();
    env.send_text(PHONE).await;
    wait_stats(&env.handle(), "a retry", |s| s.retried >= 1).await;
    env.handle().clear_webhook_target();
    env.idle().await;
    let stats = env.handle().webhook_stats();
    assert_eq!(
        (stats.posted, stats.dropped_posts, stats.acknowledged),
        (1, 1, 0),
        "{stats:?}"
    );
    assert_eq!(env.handle().webhook_target(), None);
}

#[tokio::test]
async fn statuses_due_together_share_a_post_grouped_by_waba() {
    let env = Env::start(WebhookSettings {
        read_percent: 100,
        batch_window: Duration::from_secs(2),
        ..WebhookSettings::immediate()
    })
    .await;
    let other_phone = "106540352242999";
    env.handle().set_phone(
        other_phone,
        SimPhone {
            display_phone_number: "+44 7700 900318".into(),
            waba_id: "627194830551902".into(),
            ..SimPhone::default()
        },
    );
    let receiver = Receiver::start("sim-app-secret", &[]).await;
    env.handle()
        .set_webhook_target(&receiver.url, None)
        .unwrap();
    let first = env.send_text(PHONE).await;
    let second = env.send_text(other_phone).await;
    let posts = receiver
        .wait_for("both sends' statuses", |posts| {
            kinds_for(posts, &first).len() == 3 && kinds_for(posts, &second).len() == 3
        })
        .await;
    // Zero delays: every status fell due inside the first window, so one POST has them all.
    assert_eq!(posts.len(), 1, "{posts:#?}");
    let entries = posts[0].json["entry"].as_array().unwrap();
    let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [DEFAULT_WABA_ID, "627194830551902"]);
    let other = &entries[1]["changes"][0]["value"]["metadata"];
    assert_eq!(other["display_phone_number"], "447700900318");
    assert_eq!(other["phone_number_id"], other_phone);
}

#[tokio::test]
async fn a_post_holds_at_most_a_thousand_statuses() {
    let env = Env::start(WebhookSettings {
        read_percent: 100,
        batch_window: Duration::from_secs(3),
        ..WebhookSettings::immediate()
    })
    .await;
    let receiver = Receiver::start("sim-app-secret", &[]).await;
    env.handle()
        .set_webhook_target(&receiver.url, None)
        .unwrap();
    let env = Arc::new(env);
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..350 {
        let env = Arc::clone(&env);
        sends.spawn(async move { env.send_text(PHONE).await });
    }
    sends.join_all().await;
    let posts = receiver
        .wait_for("1,050 statuses", |posts| statuses(posts).len() >= 1050)
        .await;
    let per_post: Vec<usize> = posts
        .iter()
        .map(|post| statuses(std::slice::from_ref(post)).len())
        .collect();
    assert!(
        per_post.iter().all(|&n| n <= MAX_STATUSES_PER_POST),
        "{per_post:?}"
    );
    assert!(per_post.contains(&MAX_STATUSES_PER_POST), "{per_post:?}");
    env.idle().await;
    assert_eq!(env.handle().webhook_stats().statuses, 1050);
}

#[tokio::test]
async fn control_endpoints_post_events_in_the_fixtures_shapes() {
    let env = Env::start(WebhookSettings::immediate()).await;
    let receiver = Receiver::start("sim-app-secret", &[]).await;
    let (status, _) = env
        .control(
            "/_sim/webhooks/account_update",
            &json!({"event": "ACCOUNT_DELETED"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "no target yet");
    let (status, body) = env
        .control("/_sim/webhooks/target", &json!({"url": receiver.url}))
        .await;
    assert_eq!(
        (status, &body["target"]),
        (StatusCode::OK, &json!(receiver.url))
    );
    env.handle().set_phone(
        PHONE,
        SimPhone {
            display_phone_number: "+1 415-555-0142".into(),
            waba_id: "418305927716254".into(),
            messaging_limit: "TIER_10K".into(),
            ..SimPhone::default()
        },
    );
    let cases = [
        (
            "account_update",
            json!({"waba_id": "271936480512847", "event": "PARTNER_APP_UNINSTALLED",
                "nesting": "legacy"}),
            "webhook_account_update_partner_app_uninstalled",
        ),
        (
            "account_update",
            json!({"waba_id": "508821764930215", "event": "PARTNER_APP_INSTALLED",
                "nesting": "legacy", "solution_id": "1184520967731048",
                "solution_partner_business_ids": ["3817264059182734", "694021587733160"]}),
            "webhook_account_update_partner_app_installed",
        ),
        (
            "account_update",
            json!({"waba_id": "604418273395120", "event": "DISABLED_UPDATE"}),
            "webhook_account_update_disabled",
        ),
        (
            "phone_quality",
            json!({"phone_number_id": PHONE, "current_limit": "TIER_UNLIMITED"}),
            "webhook_phone_number_quality_update",
        ),
        (
            "template_status",
            json!({"waba_id": "418305927716254", "event": "REJECTED",
                "message_template_name": "winter_sale_reminder", "reason": "INVALID_FORMAT",
                "rejection_info": {"reason": "Two variables sit side by side.",
                    "recommendation": "Put words between them."}}),
            "webhook_message_template_status_update",
        ),
        (
            "template_quality",
            json!({"message_template_name": "order_shipped_v2",
                "previous_quality_score": "GREEN", "new_quality_score": "YELLOW"}),
            "webhook_message_template_quality_update",
        ),
    ];
    for (index, (endpoint, request, fixture_name)) in cases.iter().enumerate() {
        let (status, answer) = env
            .control(&format!("/_sim/webhooks/{endpoint}"), request)
            .await;
        assert_eq!(status, StatusCode::OK, "{endpoint}: {answer}");
        let posts = receiver
            .wait_for(fixture_name, |posts| posts.len() > index)
            .await;
        let got = &posts[index];
        assert!(got.signed_right, "{fixture_name}");
        assert_eq!(
            got.json, answer["posted"],
            "{fixture_name}: the answer shows what went out"
        );
        assert_eq!(
            shape(&got.json),
            shape(&fixture(fixture_name)),
            "{fixture_name}: {:#}",
            got.json
        );
    }
    let quality = &receiver.posts()[3].json["entry"][0];
    assert_eq!(quality["id"], "418305927716254");
    assert_eq!(
        quality["changes"][0]["value"]["display_phone_number"],
        "14155550142"
    );
    // The simulated phone's limit follows the event.
    let phone: Value = env
        .client
        .get(env.url(&format!("/{V}/{PHONE}")))
        .query(&[
            ("fields", "messaging_limit_tier"),
            ("access_token", &env.token),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(phone["messaging_limit_tier"], "TIER_UNLIMITED");

    // The ordinary nesting of today's reference.
    let (_, answer) = env
        .control(
            "/_sim/webhooks/account_update",
            &json!({"waba_id": "271936480512847", "event": "PARTNER_APP_UNINSTALLED"}),
        )
        .await;
    let change = &answer["posted"]["entry"][0]["changes"][0];
    assert_eq!(answer["posted"]["object"], "whatsapp_business_account");
    assert_eq!(change["field"], "account_update");
    assert_eq!(
        change["value"]["waba_info"]["partner_app_id"],
        "100000000000001"
    );
    env.idle().await;

    let counters: Value = env
        .client
        .get(env.url("/_sim/webhooks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(counters["events"], 7, "{counters}");
    assert_eq!(counters["acknowledged"], 7, "{counters}");
    assert_eq!(counters["pending"], 0, "{counters}");
    assert_eq!(counters["target"], json!(receiver.url));
}

#[tokio::test]
async fn control_refusals_name_the_field_and_what_is_allowed() {
    let env = Env::start(WebhookSettings::immediate()).await;
    let (status, body) = env
        .control(
            "/_sim/webhooks/target",
            &json!({"url": "ftp://example.com/hook"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["message"].as_str().unwrap().contains("http"), "{body}");
    let (status, body) = env
        .control(
            "/_sim/webhooks/target",
            &json!({"url": "http://x", "secret": "s"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a secret is never taken here: {body}"
    );
    let receiver = Receiver::start("sim-app-secret", &[]).await;
    env.handle()
        .set_webhook_target(&receiver.url, None)
        .unwrap();
    let (status, body) = env
        .control(
            "/_sim/webhooks/account_update",
            &json!({"event": "PARTNER_LEFT"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("`event`") && message.contains("PARTNER_APP_UNINSTALLED"),
        "{message}"
    );
    let (status, body) = env
        .control(
            "/_sim/webhooks/template_quality",
            &json!({"new_quality_score": "RED"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["message"].as_str().unwrap().contains("missing field"),
        "{body}"
    );
    // Clearing the target stops posting.
    let (status, body) = env
        .control("/_sim/webhooks/target", &json!({"url": null}))
        .await;
    assert_eq!((status, &body["target"]), (StatusCode::OK, &Value::Null));
    env.send_text(PHONE).await;
    env.idle().await;
    assert!(receiver.posts().is_empty());
}

/// Reads the first stdout line on a thread, so a silent child cannot hang the test.
fn first_line(child: &mut std::process::Child) -> String {
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the child never writes into a closed pipe.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    rx.recv_timeout(DEADLINE).unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("tokentop sim printed nothing within {DEADLINE:?}");
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sim_with_a_webhook_url_posts_signed_with_the_secret_from_the_environment() {
    let secret = "env-webhook-secret-7d1e";
    let receiver = Receiver::start(secret, &[]).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokentop"))
        .args([
            "sim",
            "--listen",
            "127.0.0.1:0",
            "--webhook-url",
            &receiver.url,
        ])
        .args(["--webhook-read-rate", "100"])
        .env_remove("TOKENTOP_SIM_APP_SECRET")
        .env("TOKENTOP_SIM_WEBHOOK_SECRET", secret)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let line = first_line(&mut child);
    assert!(
        line.contains("signed with TOKENTOP_SIM_WEBHOOK_SECRET"),
        "{line}"
    );
    assert!(line.contains(&receiver.url), "{line}");
    assert!(!line.contains(secret), "{line}");
    let base = line[line.find("http://").unwrap()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    tokentop::graph::install_tls_provider();
    let client = Client::new();
    let minted: Value = client
        .post(format!("{base}/_sim/tokens"))
        .json(&json!({"type": "SYSTEM_USER", "lifetime_secs": 0}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let answer: Value = client
        .post(format!("{base}/{V}/{PHONE}/messages"))
        .bearer_auth(minted["access_token"].as_str().unwrap())
        .json(
            &json!({"messaging_product": "whatsapp", "to": "15105550111", "text": {"body": "hi"}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let wamid = answer["messages"][0]["id"].as_str().unwrap().to_string();
    let posts = receiver
        .wait_for("the process's webhooks", |posts| {
            kinds_for(posts, &wamid) == ["delivered", "read", "sent"]
        })
        .await;
    assert!(posts.iter().all(|post| post.signed_right), "{posts:#?}");
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
}

#[test]
fn webhook_flag_errors_name_the_flag_and_what_is_allowed() {
    let run = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_tokentop"))
            .args(["sim", "--listen", "127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{args:?}");
        assert!(output.stdout.is_empty(), "nothing is served: {args:?}");
        String::from_utf8_lossy(&output.stderr).to_string()
    };
    let stderr = run(&["--webhook-failure-rate", "150"]);
    assert!(
        stderr.contains("--webhook-failure-rate") && stderr.contains("0..=100"),
        "{stderr}"
    );
    let stderr = run(&["--webhook-url", "ftp://example.com/hook"]);
    assert!(
        stderr.contains("--webhook-url") && stderr.contains("https://"),
        "{stderr}"
    );
    let stderr = run(&["--webhook-failure-code", "42"]);
    assert!(
        stderr.contains("--webhook-failure-code") && stderr.contains("131026"),
        "{stderr}"
    );
}
