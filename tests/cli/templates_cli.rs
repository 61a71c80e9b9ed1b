//! `tokentop templates` (issue 22): template webhooks signed and posted to a running daemon's
//! relay land in `templates.json`, and the real binary lists them worst first, marked, named
//! by account, as text and `--json`, exit 1 while a template is paused, disabled or red. The
//! relay has no destination: what it reads of a body does not wait on forwarding.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, TokenKind};

use crate::support::cli::{all_text, free_port, post_signed, spawn_in, start_sim, tokentop};

const STATUS: &str = include_str!("../fixtures/webhook_message_template_status_update.json");
const QUALITY: &str = include_str!("../fixtures/webhook_message_template_quality_update.json");
/// The WABA of the status fixture, given to the account `shop`; the quality fixture's WABA
/// belongs to no account.
const SHOP_WABA: &str = "418305927716254";
const OTHER_WABA: &str = "627194830551902";
const VERIFY_TOKEN: &str = "templates-verify-77c1";

/// One template change of `shop`'s WABA, labelled `field`.
fn change(field: &str, time: i64, value: Value) -> String {
    json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": SHOP_WABA, "time": time, "changes": [{"field": field, "value": value}]}]
    })
    .to_string()
}

async fn wait_for(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> bool,
    why: impl Fn() -> String,
) {
    let deadline = Instant::now() + limit;
    while !probe() {
        assert!(
            Instant::now() < deadline,
            "waited {limit:?} for {what}: {}",
            why()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_webhooks_through_the_daemon_are_listed_worst_first() {
    let sim = start_sim().await;
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, None)
        .access_token;
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[webhook]\nlisten = \"127.0.0.1:{port}\"\nverify-token = \"{VERIFY_TOKEN}\"\n\n\
         [[account]]\nname = \"shop\"\napp-id = \"{DEFAULT_APP_ID}\"\napp-secret = \"{DEFAULT_APP_SECRET}\"\n\
         access-token = \"{token}\"\nbusiness-account-id = \"{SHOP_WABA}\"\n"
    );
    let mut daemon = spawn_in(dir.path(), &config, &sim.base_url(), &["daemon"], &[]);
    let relay = format!("http://127.0.0.1:{port}/webhook");
    let stderr = || std::fs::read_to_string(dir.path().join("daemon.err")).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    while reqwest::get(&relay).await.is_err() {
        assert!(
            daemon.try_wait().unwrap().is_none(),
            "daemon exited:\n{}",
            stderr()
        );
        assert!(
            Instant::now() < deadline,
            "the relay never listened:\n{}",
            stderr()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let paused = change(
        "message_template_status_update",
        1_796_400_000,
        json!({"event": "PAUSED", "message_template_id": 9_007_199_254_740_993_u64,
               "message_template_name": "spring_sale", "message_template_language": "en_US",
               "reason": "NONE", "message_template_category": "MARKETING",
               "other_info": {"title": "FIRST_PAUSE", "description": "Paused for 3 hours"}}),
    );
    // The 2025 reference's label for a quality update, on the rejected template.
    let red = change(
        "message_template_status_update",
        1_796_300_000,
        json!({"previous_quality_score": "GREEN", "new_quality_score": "RED",
               "message_template_id": 77, "message_template_name": "receipt",
               "message_template_language": "en"}),
    );
    for body in [STATUS, QUALITY, paused.as_str(), red.as_str()] {
        assert_eq!(post_signed(&relay, body).await, 200, "{body}");
    }
    let file = dir.path().join("data").join("templates.json");
    wait_for(
        "four templates in templates.json",
        Duration::from_secs(5),
        || {
            std::fs::read_to_string(&file)
                .is_ok_and(|text| text.matches("\"template_id\"").count() == 4)
        },
        || format!("{:?}\n{}", std::fs::read_to_string(&file), stderr()),
    )
    .await;
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let config_path = dir.path().join("config.toml");
    let data_dir = dir.path().join("data");
    let base = [
        "--config",
        config_path.to_str().unwrap(),
        "--data-dir",
        data_dir.to_str().unwrap(),
        "templates",
    ];
    let run = async |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        tokentop(dir.path(), &args, &[]).await
    };

    let text = run(&[]).await;
    assert_eq!(text.status.code(), Some(1), "{}", all_text(&text));
    let stdout = String::from_utf8(text.stdout.clone()).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "{stdout}");
    assert!(
        lines[0].contains("ACCOUNT") && lines[0].contains("REASON"),
        "{stdout}"
    );
    // Critical first, the latest change first among equals; then the warnings.
    let order: Vec<(&str, &str)> = lines[1..]
        .iter()
        .map(|l| {
            let mut words = l.split_whitespace();
            (words.next().unwrap(), words.nth(1).unwrap())
        })
        .collect();
    assert_eq!(
        order,
        [
            ("CRITICAL", "spring_sale"),
            ("CRITICAL", "receipt"),
            ("WARNING", "order_shipped_v2"),
            ("WARNING", "winter_sale_reminder"),
        ],
        "{stdout}"
    );
    assert!(lines[1].contains("CRITICAL  shop"), "{stdout}");
    assert!(
        lines[1].contains("FIRST_PAUSE: Paused for 3 hours"),
        "{stdout}"
    );
    assert!(
        lines[3].contains(OTHER_WABA),
        "no account has that WABA: {stdout}"
    );
    assert!(
        lines[4].contains("REJECTED") && lines[4].contains("INVALID_FORMAT"),
        "{stdout}"
    );

    let json_out = run(&["--json"]).await;
    assert_eq!(json_out.status.code(), Some(1), "{}", all_text(&json_out));
    let listed: Vec<Value> = serde_json::from_slice(&json_out.stdout).unwrap();
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[0]["severity"], "critical");
    assert_eq!(listed[0]["account"], "shop");
    assert_eq!(listed[0]["template_id"], "9007199254740993");
    assert_eq!(listed[0]["status"], "PAUSED");
    assert_eq!(listed[0]["status_since"], "2026-12-04T16:00:00Z");
    assert_eq!(listed[1]["quality"], "RED");
    assert_eq!(listed[1]["status"], Value::Null);
    assert_eq!(listed[2]["account"], OTHER_WABA);
    assert_eq!(listed[2]["previous_quality"], "GREEN");
    assert_eq!(listed[3]["severity"], "warning");

    let other = run(&["--account", "shop", "--json"]).await;
    let shop: Vec<Value> = serde_json::from_slice(&other.stdout).unwrap();
    assert_eq!(shop.len(), 3, "{}", all_text(&other));
    assert!(shop.iter().all(|t| t["waba_id"] == SHOP_WABA));

    let unknown = run(&["--account", "nope"]).await;
    assert_eq!(unknown.status.code(), Some(2), "{}", all_text(&unknown));
    assert!(all_text(&unknown).contains("no [[account]] is named \"nope\""));
    assert!(
        !stderr().contains(&token),
        "the token is in the daemon's log"
    );
}

#[tokio::test]
async fn no_table_is_exit_0_and_said_and_a_fine_one_is_exit_0() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let args = ["--data-dir", data.to_str().unwrap(), "templates"];
    let none = tokentop(dir.path(), &args, &[]).await;
    assert_eq!(none.status.code(), Some(0), "{}", all_text(&none));
    assert!(none.stdout.is_empty());
    assert!(
        all_text(&none).contains("no templates yet"),
        "{}",
        all_text(&none)
    );

    let mut table = tokentop::webhook::template_table::TemplateTable::load(&data);
    table.apply(&tokentop::webhook::template_events::template_updates(
        STATUS.replace("REJECTED", "APPROVED").as_bytes(),
        0,
    ));
    table.save().unwrap();
    let fine = tokentop(dir.path(), &args, &[]).await;
    assert_eq!(fine.status.code(), Some(0), "{}", all_text(&fine));
    let fine_text = String::from_utf8_lossy(&fine.stdout).to_string();
    let words: Vec<&str> = fine_text
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(
        words[..3],
        ["OK", "418305927716254", "winter_sale_reminder"],
        "{fine_text}"
    );
    let json_args = ["--data-dir", data.to_str().unwrap(), "templates", "--json"];
    let empty_json = tokentop(dir.path(), &json_args, &[]).await;
    let listed: Vec<Value> = serde_json::from_slice(&empty_json.stdout).unwrap();
    assert_eq!(listed[0]["status"], "APPROVED");

    std::fs::write(data.join("templates.json"), "not json").unwrap();
    let bad = tokentop(dir.path(), &args, &[]).await;
    assert_eq!(bad.status.code(), Some(0), "{}", all_text(&bad));
    assert!(
        all_text(&bad).contains("is not a template table"),
        "{}",
        all_text(&bad)
    );
}
