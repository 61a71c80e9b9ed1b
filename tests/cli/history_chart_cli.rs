#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `tokentop history --chart` (issue 14 §6): the real binary draws each account's token
//! lifetime from a data dir with a scripted history, as plain text when stdout is a pipe;
//! `--chart --json` and a bad `--width` are usage errors that say what is allowed.

use crate::support;

use chrono::Utc;
use support::cli::{all_text, tokentop};
use tokentop::engine::history::cause::Trigger;
use tokentop::engine::history::{HistoryEntry, HistoryLog, Outcome};
use tokentop::graph::Expiry;

const HOUR: i64 = 3600;

/// Two days of 12 h tokens refreshed every 8 h for `main`, one failed refresh retried an
/// hour later; `other` has a never-expiring token.
fn write_history(data_dir: &std::path::Path) {
    let log = HistoryLog::new(data_dir);
    let now = Utc::now().timestamp();
    let row = |account: &str, hours_ago: i64, outcome: Outcome, expiry: Option<Expiry>| {
        let mut e = HistoryEntry::new(account, Trigger::Scheduled, outcome);
        e.time = chrono::DateTime::from_timestamp(now - hours_ago * HOUR, 0).unwrap();
        e.new_expires_at = expiry;
        e
    };
    let ok = |hours_ago: i64| {
        row(
            "main",
            hours_ago,
            Outcome::Ok,
            Some(Expiry::At(now - hours_ago * HOUR + 12 * HOUR)),
        )
    };
    for entry in [
        ok(40),
        ok(32),
        row("main", 24, Outcome::Failed, None),
        ok(23),
        row("other", 20, Outcome::Ok, Some(Expiry::Never)),
        ok(15),
        ok(7),
    ] {
        log.append(&entry).unwrap();
    }
}

#[tokio::test]
async fn the_chart_is_plain_text_of_the_asked_width_with_failures_marked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_history(&data);
    let data_arg = data.to_str().unwrap();
    let output = tokentop(
        dir.path(),
        &[
            "--data-dir",
            data_arg,
            "history",
            "--chart",
            "--width",
            "64",
        ],
        &[],
    )
    .await;
    let text = all_text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[0], "main · token time left over 3d · 4 refreshes · 1 failed ✗",
        "{text}"
    );
    assert!(!stdout.contains('\x1b'), "a pipe gets no colour: {text}");
    assert!(lines.iter().all(|l| l.chars().count() <= 64), "{text}");
    assert!(lines[1].starts_with("12h┤"), "{text}");
    assert!(lines.iter().any(|l| l.contains('✗')), "{text}");
    let braille = stdout
        .chars()
        .filter(|c| ('\u{2801}'..='\u{28ff}').contains(c))
        .count();
    assert!(braille > 40, "a sawtooth in braille: {text}");
    assert!(stdout.contains("-3d") && stdout.contains("now"), "{text}");
    assert!(
        stdout.contains("other · token time left over 24h · 0 refreshes")
            && stdout.contains("∞ the token never expires"),
        "{text}"
    );

    let only = tokentop(
        dir.path(),
        &[
            "--data-dir",
            data_arg,
            "history",
            "--chart",
            "--account",
            "other",
        ],
        &[("NO_COLOR", "1")],
    )
    .await;
    let only_out = String::from_utf8(only.stdout.clone()).unwrap();
    assert!(!only_out.contains("main ·"), "{}", all_text(&only));
    assert!(only_out.contains("other ·"), "{}", all_text(&only));
}

#[tokio::test]
async fn chart_with_json_or_a_bad_width_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.to_str().unwrap();
    let both = tokentop(
        dir.path(),
        &["--data-dir", data_arg, "history", "--chart", "--json"],
        &[],
    )
    .await;
    assert_eq!(both.status.code(), Some(2), "{}", all_text(&both));
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert!(
        stderr.contains("'--chart' cannot be used with '--json'"),
        "{stderr}"
    );
    let narrow = tokentop(
        dir.path(),
        &[
            "--data-dir",
            data_arg,
            "history",
            "--chart",
            "--width",
            "10",
        ],
        &[],
    )
    .await;
    assert_eq!(narrow.status.code(), Some(2), "{}", all_text(&narrow));
    let stderr = String::from_utf8_lossy(&narrow.stderr);
    assert!(stderr.contains("30..=1000"), "{stderr}");
    let alone = tokentop(
        dir.path(),
        &["--data-dir", data_arg, "history", "--width", "80"],
        &[],
    )
    .await;
    assert_eq!(alone.status.code(), Some(2), "{}", all_text(&alone));
    let empty = tokentop(
        dir.path(),
        &["--data-dir", data_arg, "history", "--chart"],
        &[],
    )
    .await;
    assert_eq!(empty.status.code(), Some(0), "{}", all_text(&empty));
    assert!(String::from_utf8_lossy(&empty.stderr).contains("no history yet"));
}

/// Issue 20 item 13: an over-long line (here 2 MB, in the middle and as a last line without
/// a newline) is skipped and said, the rows around it are shown, and `--limit` shows the
/// newest rows.
#[tokio::test]
async fn history_skips_over_long_lines_aloud_and_limit_shows_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = HistoryLog::new(&data);
    for name in ["first", "second"] {
        log.append(&HistoryEntry::new(name, Trigger::Scheduled, Outcome::Ok))
            .unwrap();
    }
    let mut text = std::fs::read_to_string(log.path()).unwrap();
    text.push_str(&"x".repeat(2 << 20));
    text.push('\n');
    std::fs::write(log.path(), &text).unwrap();
    log.append(&HistoryEntry::new("third", Trigger::Forced, Outcome::Ok))
        .unwrap();
    let mut tail = std::fs::read_to_string(log.path()).unwrap();
    tail.push_str(&"{".repeat(2 << 20));
    std::fs::write(log.path(), &tail).unwrap();
    let data_arg = data.to_str().unwrap();
    let run = |args: &'static [&'static str]| {
        let home = dir.path().to_path_buf();
        let data_arg = data_arg.to_string();
        async move {
            let mut all = vec!["--data-dir", data_arg.as_str(), "history"];
            all.extend_from_slice(args);
            tokentop(&home, &all, &[]).await
        }
    };
    let output = run(&[]).await;
    let shown = all_text(&output);
    assert_eq!(output.status.code(), Some(0), "{shown}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let names: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert_eq!(names, ["first", "second", "third"], "{shown}");
    assert!(shown.contains("skipped 2 lines"), "{shown}");
    let output = run(&["--limit", "1"]).await;
    let shown = all_text(&output);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().count(), 1, "{shown}");
    assert!(stdout.contains("third"), "{shown}");
}
