//! The webhook relay's queue and forwarders (issue 22) with real files and real HTTP on
//! loopback: nothing lost while a destination is down, order per destination, one slow
//! destination not holding back another, restarts, torn tails, corrupt records, Meta's
//! retries recognised, and the size bound.
//!
//! A corrupt record in the middle of a segment is skipped with an error in the log (naming
//! the file and offset); the records before and after it are still served.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use secrecy::SecretString;
use tokentop::webhook::forward::{self, Destination, ForwardOutcome, ForwardReport, RetryPolicy};
use tokentop::webhook::queue::{Accepted, QueueError, QueueOptions, WebhookQueue, frame};
use tokentop::webhook::signature::sign;
use tokio::sync::{mpsc, watch};

/// Longest wait for anything that has no deadline of its own.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

/// Retries short enough that delivery resumes within ~1 s of the destination coming back.
pub(crate) const QUICK_RETRY: RetryPolicy = RetryPolicy {
    first_delay: Duration::from_millis(20),
    max_delay: Duration::from_millis(800),
    attempt_timeout: Duration::from_secs(5),
};

pub(crate) fn secret() -> SecretString {
    SecretString::from("relay-test-app-secret".to_string())
}

/// A one-status body like Meta's (about 700 bytes), told apart by `n`.
pub(crate) fn body(n: usize) -> Bytes {
    Bytes::from(format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"5467539754836534","changes":[{{"value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"972123456789","phone_number_id":"1122334455667"}},"statuses":[{{"id":"wamid.HBgLMTU1NTEyMzQ1NjcVAgARGBI{n:016}AA==","status":"delivered","timestamp":"1698266945","recipient_id":"972987654321","conversation":{{"id":"7270432eae37498234f4444b35ffc5","expiration_timestamp":"1698339900","origin":{{"type":"service"}}}},"pricing":{{"billable":true,"pricing_model":"PMP","category":"service","type":"regular"}},"biz_opaque_callback_data":"order-{n}"}}]}},"field":"messages"}}]}}]}}"#
    ))
}

/// The `n` a body was made with.
pub(crate) fn number(body: &[u8]) -> usize {
    let text = std::str::from_utf8(body).unwrap();
    let start = text.find("order-").unwrap() + "order-".len();
    let end = start + text[start..].find('"').unwrap();
    text[start..end].parse().unwrap()
}

fn options(dir: &Path, max_bytes: u64, destinations: &[&str]) -> QueueOptions {
    let mut options = QueueOptions::new(
        dir.to_path_buf(),
        max_bytes,
        destinations.iter().map(|d| d.to_string()).collect(),
    );
    // Small segments, so rolling over and deleting delivered ones is exercised.
    options.segment_bytes = 256 << 10;
    options
}

async fn accept(queue: &WebhookQueue, n: usize) -> Accepted {
    let body = body(n);
    let signature = sign(&secret(), &body);
    queue.accept(body, signature).await.unwrap()
}

/// Accepts bodies `range` from `callers` concurrent tasks; each body's seq by its number.
async fn accept_all(
    queue: &WebhookQueue,
    range: std::ops::Range<usize>,
    callers: usize,
) -> Vec<(usize, u64)> {
    let next = Arc::new(AtomicU64::new(range.start as u64));
    let mut tasks = Vec::new();
    for _ in 0..callers {
        let (queue, next, end) = (queue.clone(), next.clone(), range.end as u64);
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= end {
                    return seqs;
                }
                match accept(&queue, n as usize).await {
                    Accepted::Queued { seq } => seqs.push((n as usize, seq)),
                    other => panic!("body {n}: {other:?}"),
                }
            }
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.extend(task.await.unwrap());
    }
    seqs.sort_by_key(|(_, seq)| *seq);
    seqs
}

/// An application behind the relay: answers 503 while `down`, else 200 and records what it got.
pub(crate) struct Receiver {
    pub(crate) url: reqwest::Url,
    pub(crate) down: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<Delivery>>>,
    count: watch::Receiver<usize>,
    attempts: Arc<AtomicU64>,
}

#[derive(Clone)]
pub(crate) struct Delivery {
    pub(crate) body: Bytes,
    pub(crate) signature: Option<String>,
    content_type: Option<String>,
    at: Instant,
}

#[derive(Clone)]
struct ReceiverState {
    down: Arc<AtomicBool>,
    got: Arc<Mutex<Vec<Delivery>>>,
    count: Arc<watch::Sender<usize>>,
    attempts: Arc<AtomicU64>,
}

async fn receive(
    State(state): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state.attempts.fetch_add(1, Ordering::Relaxed);
    if state.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
    let mut got = state.got.lock().unwrap();
    got.push(Delivery {
        body,
        signature: header("x-hub-signature-256"),
        content_type: header("content-type"),
        at: Instant::now(),
    });
    state.count.send_replace(got.len());
    StatusCode::OK
}

impl Receiver {
    pub(crate) async fn start(down: bool) -> Receiver {
        let (count_tx, count) = watch::channel(0);
        let state = ReceiverState {
            down: Arc::new(AtomicBool::new(down)),
            got: Arc::default(),
            count: Arc::new(count_tx),
            attempts: Arc::default(),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{addr}/hook?token=app-secret-token")
                .parse()
                .unwrap(),
            down: state.down,
            got: state.got,
            count,
            attempts: state.attempts,
        }
    }

    pub(crate) async fn wait_for(&self, deliveries: usize) {
        let mut count = self.count.clone();
        let reached = tokio::time::timeout(PATIENCE, count.wait_for(|n| *n >= deliveries)).await;
        assert!(
            reached.is_ok(),
            "{} of {deliveries} delivered",
            self.got().len()
        );
    }

    pub(crate) fn got(&self) -> Vec<Delivery> {
        self.got.lock().unwrap().clone()
    }

    /// The body numbers delivered, in arrival order.
    pub(crate) fn numbers(&self) -> Vec<usize> {
        self.got().iter().map(|d| number(&d.body)).collect()
    }
}

/// A URL where nothing listens: connections are refused.
fn refusing_url() -> reqwest::Url {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/hook").parse().unwrap()
}

pub(crate) struct Forwarding {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    reports: mpsc::UnboundedReceiver<ForwardReport>,
}

pub(crate) fn forward_to(queue: &WebhookQueue, destinations: Vec<Destination>) -> Forwarding {
    let (stop, stop_rx) = watch::channel(false);
    let (reports_tx, reports) = mpsc::unbounded_channel();
    tokentop::graph::install_tls_provider();
    let client = reqwest::Client::new();
    let tasks = destinations
        .into_iter()
        .map(|destination| {
            tokio::spawn(forward::run(
                queue.clone(),
                destination,
                client.clone(),
                reports_tx.clone(),
                stop_rx.clone(),
            ))
        })
        .collect();
    Forwarding {
        stop,
        tasks,
        reports,
    }
}

impl Forwarding {
    pub(crate) async fn stop(self) -> mpsc::UnboundedReceiver<ForwardReport> {
        self.stop.send_replace(true);
        for task in self.tasks {
            tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("a forwarder stops promptly")
                .unwrap();
        }
        self.reports
    }
}

pub(crate) fn destination(name: &str, url: reqwest::Url) -> Destination {
    Destination {
        retry: QUICK_RETRY,
        ..Destination::new(name, url)
    }
}

pub(crate) async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    files.sort();
    files
}

fn assert_delivered_once_in_order(receiver: &Receiver, seqs: &[(usize, u64)]) {
    let expected: Vec<usize> = seqs.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        receiver.numbers(),
        expected,
        "each body once, in the queue's order"
    );
    for delivery in receiver.got() {
        assert_eq!(delivery.signature, Some(sign(&secret(), &delivery.body)));
        assert_eq!(delivery.content_type.as_deref(), Some("application/json"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_down_for_a_minute_gets_every_body_once_in_order_when_it_is_back() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let queue = WebhookQueue::open(options(dir.path(), 64 << 20, &["app"]))
        .await
        .unwrap();
    let receiver = Receiver::start(true).await;
    let forwarding = forward_to(&queue, vec![destination("app", receiver.url.clone())]);

    let seqs = accept_all(&queue, 0..5000, 32).await;
    assert_eq!(seqs.len(), 5000);
    assert_eq!(queue.depth()[0].entries, 5000);
    assert!(
        segments(dir.path()).len() > 3,
        "5,000 bodies span several segments"
    );
    // Down for a minute of real time: the scenario itself, not a wait for something.
    tokio::time::sleep(
        (started + Duration::from_secs(60)).saturating_duration_since(Instant::now()),
    )
    .await;
    assert!(receiver.got().is_empty());
    assert!(
        receiver.attempts.load(Ordering::Relaxed) > 5,
        "the first body was retried"
    );
    assert_eq!(
        queue.depth()[0].entries,
        5000,
        "nothing was dropped while down"
    );

    let up_at = Instant::now();
    receiver.down.store(false, Ordering::SeqCst);
    receiver.wait_for(5000).await;
    let resumed = receiver.got()[0].at.duration_since(up_at);
    assert!(
        resumed < Duration::from_secs(2),
        "resumed {resumed:?} after the destination came back"
    );
    wait_until("every body acknowledged", || queue.depth()[0].entries == 0).await;
    assert_delivered_once_in_order(&receiver, &seqs);
    assert!(
        segments(dir.path()).len() <= 2,
        "delivered segments are deleted"
    );
    let mut reports = forwarding.stop().await;
    let mut failed = 0;
    while let Ok(report) = reports.try_recv() {
        if let ForwardOutcome::Failed { reason, .. } = &report.outcome {
            assert_eq!(reason, "HTTP 503");
            failed += 1;
        }
    }
    assert!(failed > 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_destination_down_does_not_hold_back_another_and_a_filter_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let names = ["app", "down", "even"];
    let queue = WebhookQueue::open(options(dir.path(), 64 << 20, &names))
        .await
        .unwrap();
    let (app, even) = (Receiver::start(false).await, Receiver::start(false).await);
    let mut only_even = destination("even", even.url.clone());
    only_even.wants = Some(Arc::new(|body: &[u8]| number(body).is_multiple_of(2)));
    let forwarding = forward_to(
        &queue,
        vec![
            destination("app", app.url.clone()),
            destination("down", refusing_url()),
            only_even,
        ],
    );
    let seqs = accept_all(&queue, 0..500, 16).await;
    app.wait_for(500).await;
    assert_delivered_once_in_order(&app, &seqs);
    even.wait_for(250).await;
    let evens: Vec<usize> = seqs
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| n.is_multiple_of(2))
        .collect();
    assert_eq!(even.numbers(), evens);
    wait_until("app and even acknowledged everything", || {
        queue
            .depth()
            .iter()
            .all(|d| d.destination == "down" || d.entries == 0)
    })
    .await;
    let down = queue
        .depth()
        .into_iter()
        .find(|d| d.destination == "down")
        .unwrap();
    assert_eq!(down.entries, 500);
    assert!(down.bytes > 500 * 700, "{down:?}");
    assert!(queue.fill_ratio() > 0.0);

    let mut reports = forwarding.stop().await;
    let mut down_failures = 0;
    while let Ok(report) = reports.try_recv() {
        let text = format!("{report:?}");
        assert!(
            !text.contains("token") && !text.contains("order-"),
            "{text}"
        );
        if report.destination == "down" {
            match report.outcome {
                ForwardOutcome::Failed { reason, .. } => {
                    assert!(reason.starts_with("could not connect"), "{reason}");
                    assert_eq!(
                        report.seq, seqs[0].1,
                        "the first body is retried, never a later one"
                    );
                    down_failures += 1;
                }
                other => panic!("the refusing destination: {other:?}"),
            }
        }
    }
    assert!(down_failures > 0);
}

#[tokio::test]
async fn a_reopened_queue_resumes_after_the_last_ack_and_keeps_its_files_private() {
    let dir = tempfile::tempdir().unwrap();
    let queue_dir = dir.path().join("webhooks");
    let queue = WebhookQueue::open(options(&queue_dir, 1 << 20, &["app"]))
        .await
        .unwrap();
    for n in 0..20 {
        assert_eq!(
            accept(&queue, n).await,
            Accepted::Queued { seq: n as u64 + 1 }
        );
    }
    for seq in 1..=8 {
        let webhook = queue.next("app").await.unwrap();
        assert_eq!(
            (webhook.seq, number(&webhook.body)),
            (seq, seq as usize - 1)
        );
        assert_eq!(webhook.signature, sign(&secret(), &webhook.body));
        queue.ack("app", seq).await.unwrap();
    }
    // Handed out but not acknowledged: in flight at the "crash", so it comes again.
    assert_eq!(queue.next("app").await.unwrap().seq, 9);
    drop(queue);

    let queue = WebhookQueue::open(options(&queue_dir, 1 << 20, &["app", "new"]))
        .await
        .unwrap();
    assert_eq!(queue.next("app").await.unwrap().seq, 9);
    let depth = queue.depth();
    assert_eq!(
        (depth[0].destination.as_str(), depth[0].entries),
        ("app", 12)
    );
    assert_eq!(
        (depth[1].destination.as_str(), depth[1].entries),
        ("new", 0),
        "a new destination starts at the end"
    );
    // An ack further on than what was handed out.
    queue.ack("app", 15).await.unwrap();
    assert_eq!(queue.next("app").await.unwrap().seq, 16);
    assert_eq!(accept(&queue, 20).await, Accepted::Queued { seq: 21 });
    assert_eq!(queue.next("new").await.unwrap().seq, 21);

    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&queue_dir), 0o700);
    for entry in std::fs::read_dir(&queue_dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_mid_fan_out_redelivers_at_most_what_was_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(false).await;
    let queue = WebhookQueue::open(options(dir.path(), 64 << 20, &["app"]))
        .await
        .unwrap();
    let seqs = accept_all(&queue, 0..1000, 8).await;
    let forwarding = forward_to(&queue, vec![destination("app", receiver.url.clone())]);
    receiver.wait_for(300).await;
    forwarding.stop().await;
    drop(queue);
    let before_restart = receiver.got().len();

    let queue = WebhookQueue::open(options(dir.path(), 64 << 20, &["app"]))
        .await
        .unwrap();
    let forwarding = forward_to(&queue, vec![destination("app", receiver.url.clone())]);
    wait_until("everything acknowledged after the restart", || {
        queue.depth()[0].entries == 0
    })
    .await;
    forwarding.stop().await;
    let numbers = receiver.numbers();
    let expected: Vec<usize> = seqs.iter().map(|(n, _)| *n).collect();
    // At most the one body in flight at the stop comes twice, right after the restart.
    let mut deduped = numbers.clone();
    deduped.dedup();
    assert_eq!(deduped, expected);
    assert!(
        numbers.len() <= expected.len() + 1,
        "{} deliveries",
        numbers.len()
    );
    assert!(before_restart >= 300);
}

#[tokio::test]
async fn a_torn_tail_is_cut_off_and_every_fsynced_body_still_comes_out() {
    let dir = tempfile::tempdir().unwrap();
    let queue = WebhookQueue::open(options(dir.path(), 1 << 20, &["app"]))
        .await
        .unwrap();
    for n in 0..10 {
        accept(&queue, n).await;
    }
    drop(queue);
    let last = segments(dir.path()).pop().unwrap();
    let good_len = std::fs::metadata(&last).unwrap().len();
    // A record cut short by a crash, then garbage.
    let torn = frame::encode(11, 0, b"sha256=00", &body(99));
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&last)
        .unwrap();
    std::io::Write::write_all(&mut file, &torn[..torn.len() / 2]).unwrap();
    std::io::Write::write_all(&mut file, b"\0\0\0garbage").unwrap();
    drop(file);

    let queue = WebhookQueue::open(options(dir.path(), 1 << 20, &["app"]))
        .await
        .unwrap();
    assert_eq!(
        std::fs::metadata(&last).unwrap().len(),
        good_len,
        "the torn tail is cut off"
    );
    assert_eq!(accept(&queue, 10).await, Accepted::Queued { seq: 11 });
    for n in 0..=10 {
        let webhook = queue.next("app").await.unwrap();
        assert_eq!(number(&webhook.body), n);
        queue.ack("app", webhook.seq).await.unwrap();
    }
}

#[tokio::test]
async fn a_corrupt_record_in_the_middle_is_skipped_and_the_rest_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let queue = WebhookQueue::open(options(dir.path(), 1 << 20, &["app"]))
        .await
        .unwrap();
    for n in 0..5 {
        accept(&queue, n).await;
    }
    drop(queue);
    let last = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    let record_len = bytes.len() / 5;
    bytes[2 * record_len + record_len / 2] ^= 0x20; // inside the third body
    std::fs::write(&last, &bytes).unwrap();

    let queue = WebhookQueue::open(options(dir.path(), 1 << 20, &["app"]))
        .await
        .unwrap();
    let mut served = Vec::new();
    for _ in 0..4 {
        let webhook = queue.next("app").await.unwrap();
        served.push(number(&webhook.body));
        queue.ack("app", webhook.seq).await.unwrap();
    }
    assert_eq!(served, [0, 1, 3, 4]);
    assert_eq!(accept(&queue, 5).await, Accepted::Queued { seq: 6 });
}

#[tokio::test]
async fn meta_retries_of_a_body_are_acknowledged_but_queued_once_also_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let queue = WebhookQueue::open(options(dir.path(), 1 << 20, &["app"]))
        .await
        .unwrap();
    assert_eq!(accept(&queue, 1).await, Accepted::Queued { seq: 1 });
    assert_eq!(accept(&queue, 1).await, Accepted::Duplicate { seq: 1 });
    // Two copies in one group commit: one is queued, the other names it.
    let (a, b) = tokio::join!(accept(&queue, 2), accept(&queue, 2));
    let mut answers = [a, b];
    answers.sort_by_key(|a| matches!(a, Accepted::Duplicate { .. }));
    assert_eq!(
        answers,
        [Accepted::Queued { seq: 2 }, Accepted::Duplicate { seq: 2 }]
    );
    drop(queue);

    let queue = WebhookQueue::open(options(dir.path(), 1 << 20, &["app"]))
        .await
        .unwrap();
    assert_eq!(accept(&queue, 1).await, Accepted::Duplicate { seq: 1 });
    assert_eq!(accept(&queue, 3).await, Accepted::Queued { seq: 3 });
    assert_eq!(queue.depth()[0].entries, 3);
}

#[tokio::test]
async fn a_full_queue_answers_full_until_a_destination_catches_up_and_drops_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let record_len = frame::encode(0, 0, sign(&secret(), b"").as_bytes(), &body(0)).len() as u64;
    let max_bytes = 10 * record_len + record_len / 2;
    let queue = WebhookQueue::open(options(dir.path(), max_bytes, &["app"]))
        .await
        .unwrap();
    for n in 0..10 {
        assert_eq!(
            accept(&queue, n).await,
            Accepted::Queued { seq: n as u64 + 1 }
        );
    }
    let signature = sign(&secret(), &body(10));
    let full = queue.accept(body(10), signature.clone()).await.unwrap_err();
    assert!(
        matches!(full, QueueError::Full { max_bytes: m } if m == max_bytes),
        "{full}"
    );
    assert!(full.to_string().contains("max-queue"), "{full}");
    assert!(
        queue.fill_ratio() > 0.9 && queue.fill_ratio() <= 1.0,
        "{}",
        queue.fill_ratio()
    );

    for seq in 1..=3 {
        assert_eq!(queue.next("app").await.unwrap().seq, seq);
        queue.ack("app", seq).await.unwrap();
    }
    // Meta retries the refused body: now it fits, and it was not remembered as a duplicate.
    assert_eq!(
        queue.accept(body(10), signature).await.unwrap(),
        Accepted::Queued { seq: 11 }
    );
    let mut rest = Vec::new();
    for _ in 4..=11 {
        let webhook = queue.next("app").await.unwrap();
        rest.push(number(&webhook.body));
        queue.ack("app", webhook.seq).await.unwrap();
    }
    assert_eq!(rest, (3..=10).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_forwarder_stops_promptly_while_a_destination_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let queue = WebhookQueue::open(options(dir.path(), 1 << 20, &["app"]))
        .await
        .unwrap();
    accept(&queue, 0).await;
    let mut slow = destination("app", refusing_url());
    slow.retry.first_delay = Duration::from_secs(3600);
    let mut forwarding = forward_to(&queue, vec![slow]);
    let report = tokio::time::timeout(PATIENCE, forwarding.reports.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(report.outcome, ForwardOutcome::Failed { .. }),
        "{report:?}"
    );
    // Waiting an hour to retry; `stop` must not wait for it.
    forwarding.stop().await;
    assert_eq!(queue.depth()[0].entries, 1);
}
