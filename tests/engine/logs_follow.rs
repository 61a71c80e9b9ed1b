#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! File and command sources against real files and processes, with bounded polling deadlines.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokentop::config::{LogFormat, LogInput, LogSourceSettings};
use tokentop::engine::logs::{MAX_LINE_BYTES, SourceEvent, TAIL_LINES, spawn_sources};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Only a bound against hangs: on a loaded 2-core machine a debug build reads 30,000 lines
/// one by one through a channel of one in well over 15 s.
const DEADLINE: Duration = Duration::from_secs(60);

struct Harness {
    rx: mpsc::Receiver<SourceEvent>,
    shutdown: watch::Sender<bool>,
    handles: Vec<JoinHandle<()>>,
    seen: Vec<SourceEvent>,
}

impl Harness {
    fn start(input: LogInput, channel_capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(channel_capacity);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let source = LogSourceSettings {
            name: "app".into(),
            input,
            format: LogFormat::Plain,
        };
        let handles = spawn_sources(&[source], tx, shutdown_rx);
        Self {
            rx,
            shutdown,
            handles,
            seen: Vec::new(),
        }
    }

    fn file(path: &Path) -> Self {
        Self::start(LogInput::File(path.to_path_buf()), 1024)
    }

    /// Receives events until `done(seen)` holds; panics with what was seen at the deadline.
    async fn until(&mut self, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !done(self) {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(event)) => self.seen.push(event),
                Ok(None) => panic!("channel closed waiting for {what}; seen {:#?}", self.seen),
                Err(_) => panic!("timed out waiting for {what}; seen {:#?}", self.seen),
            }
        }
    }

    fn lines(&self) -> Vec<&str> {
        self.seen
            .iter()
            .filter_map(|e| match e {
                SourceEvent::Line(l) => Some(l.text.as_str()),
                _ => None,
            })
            .collect()
    }

    fn notices(&self, containing: &str) -> usize {
        self.seen
            .iter()
            .filter(|e| matches!(e, SourceEvent::Notice { message, .. } if message.contains(containing)))
            .count()
    }

    fn has_line(&self, text: &str) -> bool {
        self.lines().contains(&text)
    }

    async fn stop(self) {
        self.shutdown.send(true).unwrap();
        for handle in self.handles {
            tokio::time::timeout(DEADLINE, handle)
                .await
                .unwrap()
                .unwrap();
        }
    }
}

fn append(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(bytes).unwrap();
}

fn log_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("app.log")
}

#[tokio::test]
async fn starts_from_the_last_lines_then_follows_appends() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let old: String = (0..500).map(|i| format!("old {i}\n")).collect();
    append(&path, old.as_bytes());
    let mut h = Harness::file(&path);
    h.until("the tail", |h| h.has_line("old 499")).await;
    let lines = h.lines();
    assert_eq!(lines.len(), TAIL_LINES);
    assert_eq!(lines[0], format!("old {}", 500 - TAIL_LINES));

    append(&path, b"new 1\nnew 2\n");
    h.until("appended lines", |h| h.has_line("new 2")).await;
    assert_eq!(h.lines()[TAIL_LINES..], ["new 1", "new 2"]);
    assert_eq!(h.notices(""), 0, "no notice for a plain append");
    h.stop().await;
}

#[tokio::test]
async fn follows_rotation_by_rename_and_new_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    append(&path, b"first 1\n");
    let mut h = Harness::file(&path);
    h.until("first line", |h| h.has_line("first 1")).await;

    append(&path, b"first 2\n");
    // Old file moved aside and a new one in its place, with no instant where the path is
    // missing (that would be a deletion, not a rotation).
    std::fs::hard_link(&path, dir.path().join("app.log.1")).unwrap();
    let fresh = dir.path().join("app.log.new");
    append(&fresh, b"second 1\n");
    std::fs::rename(&fresh, &path).unwrap();
    h.until("the new file", |h| h.has_line("second 1")).await;
    assert_eq!(h.lines(), ["first 1", "first 2", "second 1"]);
    assert_eq!(h.notices("rotated"), 1);
    h.stop().await;
}

#[tokio::test]
async fn copytruncate_restarts_at_the_beginning() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    append(&path, b"before 1\nbefore 2\n");
    let mut h = Harness::file(&path);
    h.until("existing lines", |h| h.has_line("before 2")).await;

    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(0).unwrap();
    drop(file);
    append(&path, b"after\n");
    h.until("the line after truncation", |h| h.has_line("after"))
        .await;
    assert_eq!(h.notices("truncated"), 1);
    assert_eq!(h.lines(), ["before 1", "before 2", "after"]);
    h.stop().await;
}

/// Opens the FIFO for writing when dropped: a reader stuck in `open` (the defect) is let go,
/// so a regression fails this test instead of hanging the test binary at runtime shutdown.
struct FifoUnblocker(PathBuf);

impl Drop for FifoUnblocker {
    fn drop(&mut self) {
        use std::os::unix::fs::OpenOptionsExt;
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&self.0);
    }
}

/// A FIFO with no writer would block the open forever, and shutdown with it.
#[tokio::test]
async fn fifo_is_refused_with_a_reason_and_shutdown_is_prompt() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("app.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let _unblock = FifoUnblocker(fifo.clone());
    let mut h = Harness::file(&fifo);
    h.until("a notice about the FIFO", |h| {
        h.notices("not a regular file") == 1
    })
    .await;
    let reason = format!("{:?}", h.seen);
    assert!(
        reason.contains("app.fifo") && reason.contains("FIFO") && reason.contains("command"),
        "names the path, what it is and what to use instead: {reason}"
    );
    // `stop` fails the test unless every source task ends within the deadline.
    h.stop().await;
}

/// `/dev/zero` never ends and has no newlines: reading it would keep a core busy for good.
#[tokio::test]
async fn character_device_is_refused_not_read() {
    let mut h = Harness::file(Path::new("/dev/zero"));
    h.until("a notice about the device", |h| {
        h.notices("not a regular file") == 1
    })
    .await;
    let reason = format!("{:?}", h.seen);
    assert!(
        reason.contains("/dev/zero") && reason.contains("character device"),
        "{reason}"
    );
    assert!(h.lines().is_empty());
    h.stop().await;
}

#[tokio::test]
async fn waits_for_a_file_created_late() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let mut h = Harness::file(&path);
    h.until("the missing notice", |h| h.notices("missing") == 1)
        .await;

    append(&path, b"hello\n");
    h.until("the first line", |h| h.has_line("hello")).await;
    assert_eq!(h.notices("missing"), 1, "reported once, not on every poll");
    assert_eq!(h.notices("appeared"), 1);
    h.stop().await;
}

#[tokio::test]
async fn follows_deletion_and_recreation() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    append(&path, b"one\n");
    let mut h = Harness::file(&path);
    h.until("the first line", |h| h.has_line("one")).await;

    append(&path, b"last words\n");
    std::fs::remove_file(&path).unwrap();
    h.until("the missing notice", |h| h.notices("missing") == 1)
        .await;
    append(&path, b"two\n");
    h.until("the recreated file", |h| h.has_line("two")).await;
    assert_eq!(h.lines(), ["one", "last words", "two"]);
    h.stop().await;
}

#[tokio::test]
async fn partial_last_line_waits_for_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    append(&path, b"done\npart");
    let mut h = Harness::file(&path);
    h.until("the complete line", |h| h.has_line("done")).await;

    append(&path, b"ial\r\nnext\n");
    h.until("the completed line", |h| h.has_line("next")).await;
    assert_eq!(h.lines(), ["done", "partial", "next"]);
    h.stop().await;
}

#[tokio::test]
async fn invalid_utf8_is_shown_lossily_and_long_lines_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let mut long = vec![b'x'; MAX_LINE_BYTES + 1808];
    long.push(b'\n');
    append(&path, b"ok \xff\xfe end\n");
    append(&path, &long);
    append(&path, b"after\n");
    let mut h = Harness::file(&path);
    h.until("the line after the long one", |h| h.has_line("after"))
        .await;

    let lines: Vec<_> = h
        .seen
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Line(l) => Some(l.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(lines[0].text, "ok \u{FFFD}\u{FFFD} end");
    assert!(!lines[0].truncated);
    assert!(lines[1].truncated);
    assert_eq!(
        lines[1].text,
        format!("{} …[truncated 1808 bytes]", "x".repeat(MAX_LINE_BYTES))
    );
    assert_eq!(lines[1].source, "app");
    h.stop().await;
}

fn sh(script: &str) -> LogInput {
    LogInput::Command(vec!["sh".into(), "-c".into(), script.into()])
}

#[tokio::test]
async fn command_is_restarted_after_it_exits_and_stderr_is_read() {
    let mut h = Harness::start(sh("echo one; echo two; echo oops >&2; exit 3"), 64);
    h.until("two runs", |h| {
        h.lines().iter().filter(|l| **l == "two").count() >= 2
    })
    .await;
    assert!(h.lines().iter().filter(|l| **l == "one").count() >= 2);
    assert!(h.has_line("oops"), "stderr line missing: {:?}", h.lines());
    assert!(h.notices("command exited with status 3, restarting in 1s") >= 1);
    h.stop().await;
}

#[tokio::test]
async fn command_that_cannot_start_is_reported_and_retried() {
    let mut h = Harness::start(
        LogInput::Command(vec!["/nonexistent/tokentop-test-binary".into()]),
        8,
    );
    h.until("a start failure", |h| h.notices("could not start") >= 1)
        .await;
    assert_eq!(h.notices("restarting in 1s"), 1);
    h.stop().await;
}

#[tokio::test]
async fn slow_reader_makes_a_command_source_drop_its_oldest_lines() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("finished");
    let script = format!("seq 1 30000; touch '{}'; sleep 30", marker.display());
    // Capacity 1 and nobody reading: the command must still be able to finish.
    let mut h = Harness::start(sh(&script), 1);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !marker.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the command was blocked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.until("the last line", |h| h.has_line("30000")).await;
    let dropped: usize = h
        .seen
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Notice { message, .. } => message
                .strip_prefix("dropped ")?
                .split(' ')
                .next()?
                .parse::<usize>()
                .ok(),
            _ => None,
        })
        .sum();
    assert!(dropped > 0, "nothing dropped: {:?}", h.notices(""));
    assert_eq!(
        h.lines().len() + dropped,
        30000,
        "every line is either seen or counted"
    );
    h.stop().await;
}

#[tokio::test]
async fn webhook_json_source_emits_lines_and_statuses() {
    let dir = tempfile::tempdir().unwrap();
    let path = log_path(&dir);
    let payload = r#"{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"statuses":[{"id":"wamid.A","status":"delivered","timestamp":"1698266945","recipient_id":"1"}]},"field":"messages"}]}]}"#;
    append(
        &path,
        format!("{payload}\nnot json\nnot json either\n").as_bytes(),
    );
    let (tx, rx) = mpsc::channel(64);
    let (shutdown, shutdown_rx) = watch::channel(false);
    let source = LogSourceSettings {
        name: "hooks".into(),
        input: LogInput::File(path.clone()),
        format: LogFormat::WebhookJson,
    };
    let mut h = Harness {
        rx,
        handles: spawn_sources(&[source], tx, shutdown_rx),
        shutdown,
        seen: Vec::new(),
    };
    h.until("all lines", |h| h.has_line("not json either"))
        .await;
    let statuses: Vec<_> = h
        .seen
        .iter()
        .filter_map(|e| match e {
            SourceEvent::Status(s) => Some((s.message_id.as_str(), s.timestamp)),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [("wamid.A", 1_698_266_945)]);
    assert_eq!(h.lines().len(), 3);
    assert_eq!(
        h.notices("not a webhook payload"),
        1,
        "bad lines reported once"
    );
    h.stop().await;
}
