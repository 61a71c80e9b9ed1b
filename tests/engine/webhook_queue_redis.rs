//! The webhook queue in the cluster's Redis (issue 22, `[cluster]`): a real `redis-server` on
//! a loopback port (started by the test, as in `cluster_redis.rs`) and real HTTP. Meta's
//! retries recognised and `max-queue` honoured in one step; two members sharing one stream
//! forward each body once, in order; a member killed mid-forward is taken over once its lease
//! expires, nothing lost; a restart resumes from the cursor; Redis away means `Unavailable`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::AsyncCommands;
use secrecy::SecretString;
use tokentop::config::ClusterSettings;
use tokentop::webhook::queue::{Accepted, QueueError, RedisQueueOptions, WebhookQueue};
use tokentop::webhook::signature::sign;

use super::support::redis_server::RedisServer;
use super::webhook_queue::{Receiver, body, destination, forward_to, secret, wait_until};

/// Short, so takeovers in the tests happen within a second or two.
const LEASE: Duration = Duration::from_secs(1);

fn redis_queue(url: &str, member: &str, max_bytes: u64) -> WebhookQueue {
    let cluster = ClusterSettings {
        redis_url: Some(SecretString::from(url.to_string())),
        member: Some(member.to_string()),
        lease: LEASE,
        ..ClusterSettings::default()
    };
    let options = RedisQueueOptions::new(cluster, max_bytes, vec!["app".to_string()]);
    WebhookQueue::open_redis(options).unwrap()
}

async fn accept(queue: &WebhookQueue, n: usize) -> Result<Accepted, QueueError> {
    let body = body(n);
    let signature = sign(&secret(), &body);
    queue.accept(body, signature).await
}

/// Accepts `range` through `members` from 8 tasks each; every body's seq by its number.
async fn accept_through(
    members: &[&WebhookQueue],
    range: std::ops::Range<usize>,
) -> Vec<(usize, u64)> {
    let next = Arc::new(AtomicU64::new(range.start as u64));
    let mut tasks = Vec::new();
    for member in members.iter().flat_map(|m| std::iter::repeat_n(*m, 8)) {
        let (queue, next, end) = (member.clone(), next.clone(), range.end as u64);
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed) as usize;
                if n as u64 >= end {
                    return seqs;
                }
                match accept(&queue, n).await.unwrap() {
                    Accepted::Queued { seq } => seqs.push((n, seq)),
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

fn in_seq_order(seqs: &[(usize, u64)]) -> Vec<usize> {
    seqs.iter().map(|(n, _)| *n).collect()
}

async fn stream_len(redis: &RedisServer) -> usize {
    let mut conn = redis.client(None).await;
    conn.xlen("tokentop:webhook:stream").await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_is_a_duplicate_and_max_queue_refuses_until_a_destination_catches_up() {
    let redis = RedisServer::start(&[]);
    let one_body = body(0).len() as u64;
    let queue = redis_queue(&redis.url(None), "a", 3 * one_body);

    assert_eq!(
        accept(&queue, 0).await.unwrap(),
        Accepted::Queued { seq: 1 }
    );
    assert_eq!(
        accept(&queue, 0).await.unwrap(),
        Accepted::Duplicate { seq: 1 },
        "Meta's retry of the same body"
    );
    assert_eq!(
        accept(&queue, 1).await.unwrap(),
        Accepted::Queued { seq: 2 }
    );
    assert_eq!(
        accept(&queue, 2).await.unwrap(),
        Accepted::Queued { seq: 3 }
    );
    let full = accept(&queue, 3).await;
    assert!(matches!(full, Err(QueueError::Full { .. })), "{full:?}");
    assert_eq!(
        stream_len(&redis).await,
        3,
        "nothing trimmed unacknowledged"
    );
    assert_eq!(queue.depth()[0].entries, 3);
    assert_eq!(queue.depth()[0].bytes, 3 * one_body);
    assert!((queue.fill_ratio() - 1.0).abs() < 1e-9);
    let mut conn = redis.client(None).await;
    let seen: Vec<String> = conn.keys("tokentop:webhook:seen:*").await.unwrap();
    assert_eq!(seen.len(), 3);
    let ttl: i64 = conn.ttl(&seen[0]).await.unwrap();
    assert!(ttl > 6 * 86_400 && ttl <= 7 * 86_400, "{ttl}");

    let receiver = Receiver::start(false).await;
    let forwarding = forward_to(&queue, vec![destination("app", receiver.url.clone())]);
    receiver.wait_for(3).await;
    assert_eq!(receiver.numbers(), vec![0, 1, 2]);
    wait_until("every body acknowledged", || queue.depth()[0].entries == 0).await;
    assert_eq!(
        stream_len(&redis).await,
        0,
        "acknowledged bodies are trimmed"
    );
    assert_eq!(
        accept(&queue, 3).await.unwrap(),
        Accepted::Queued { seq: 4 }
    );
    receiver.wait_for(4).await;
    assert_eq!(receiver.numbers(), vec![0, 1, 2, 3]);
    forwarding.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_members_forward_each_of_a_thousand_bodies_once_in_order() {
    let redis = RedisServer::start(&[]);
    let (a, b) = (
        redis_queue(&redis.url(None), "a", 64 << 20),
        redis_queue(&redis.url(None), "b", 64 << 20),
    );
    let receiver = Receiver::start(false).await;
    let forwarding_a = forward_to(&a, vec![destination("app", receiver.url.clone())]);
    let forwarding_b = forward_to(&b, vec![destination("app", receiver.url.clone())]);

    let seqs = accept_through(&[&a, &b], 0..1000).await;
    assert_eq!(seqs.len(), 1000);
    assert_eq!(
        seqs.last().unwrap().1,
        1000,
        "one seq per body across members"
    );
    receiver.wait_for(1000).await;
    assert_eq!(
        receiver.numbers(),
        in_seq_order(&seqs),
        "once each, in order"
    );
    for delivery in receiver.got() {
        assert_eq!(delivery.signature, Some(sign(&secret(), &delivery.body)));
    }
    wait_until("the stream trimmed", || {
        a.depth()[0].entries == 0 && b.depth()[0].entries == 0
    })
    .await;
    assert_eq!(stream_len(&redis).await, 0);
    forwarding_a.stop().await;
    forwarding_b.stop().await;
    assert_eq!(receiver.got().len(), 1000, "nothing more after the stop");
}

/// Member `a` runs its forwarder on a runtime of its own, shut down mid-forward like a killed
/// process: its lease is not given back, so `b` takes over once it expires.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_killed_mid_forward_is_taken_over_and_a_restart_resumes_from_the_cursor() {
    let redis = RedisServer::start(&[]);
    let receiver = Receiver::start(false).await;
    let member_a = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let a = redis_queue(&redis.url(None), "a", 64 << 20);
    // Kept until the end: dropping it would stop a's forwarder, not kill it.
    let _forwarding_a = {
        let _on_a = member_a.enter();
        forward_to(&a, vec![destination("app", receiver.url.clone())])
    };
    let mut conn = redis.client(None).await;
    let lease_holder = |conn: &mut redis::aio::MultiplexedConnection| {
        let mut conn = conn.clone();
        async move {
            let holder: Option<String> = conn.get("tokentop:webhook:lease:app").await.unwrap();
            holder.unwrap_or_default()
        }
    };
    wait_until_async("a holds the lease", || {
        let holder = lease_holder(&mut conn);
        async move { holder.await.starts_with("a|") }
    })
    .await;
    let b = redis_queue(&redis.url(None), "b", 64 << 20);
    let forwarding_b = forward_to(&b, vec![destination("app", receiver.url.clone())]);

    let mut seqs = accept_through(&[&b], 0..1000).await;
    wait_until("a forwarded some", || receiver.got().len() >= 200).await;
    member_a.shutdown_background();
    let killed_at = std::time::Instant::now();
    // Work that only the member taking over can deliver.
    seqs.extend(accept_through(&[&b], 1000..1100).await);
    wait_until("every body delivered", || {
        let mut got = receiver.numbers();
        got.dedup();
        got.len() >= 1100
    })
    .await;
    assert!(
        killed_at.elapsed() < LEASE * 10,
        "taken over within {:?}",
        killed_at.elapsed()
    );
    let holder: String = conn.get("tokentop:webhook:lease:app").await.unwrap();
    assert!(holder.starts_with("b|"), "{holder}");
    let mut got = receiver.numbers();
    let delivered = got.len();
    got.dedup();
    let expected = in_seq_order(&seqs);
    let differs = got.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(differs, None, "in order: first difference at this position");
    assert_eq!(got.len(), expected.len(), "nothing lost, nothing extra");
    assert!(
        delivered - got.len() <= 1,
        "only the body in flight at the kill may come twice: {} extra",
        delivered - got.len()
    );

    // A restart: a new member on the same Redis resumes after the cursor (once the last body
    // is acknowledged: one in flight at a stop is sent again, as with the file queue).
    wait_until("b acknowledged everything", || b.depth()[0].entries == 0).await;
    forwarding_b.stop().await;
    drop(b);
    let c = redis_queue(&redis.url(None), "c", 64 << 20);
    let before = receiver.got().len();
    let more = accept_through(&[&c], 2000..2010).await;
    let forwarding_c = forward_to(&c, vec![destination("app", receiver.url.clone())]);
    receiver.wait_for(before + 10).await;
    let after: Vec<usize> = receiver.numbers()[before..].to_vec();
    assert_eq!(after, in_seq_order(&more), "only the new bodies, once each");
    forwarding_c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_unavailable_not_an_error_of_the_body() {
    let mut redis = RedisServer::start(&[]);
    let queue = redis_queue(&redis.url(None), "a", 64 << 20);
    assert!(matches!(
        accept(&queue, 0).await,
        Ok(Accepted::Queued { .. })
    ));
    redis.stop();
    let refused = accept(&queue, 1).await;
    assert!(
        matches!(refused, Err(QueueError::Unavailable { .. })),
        "{refused:?}"
    );
    redis.resume();
    // Empty again (no persistence in the tests): the next append starts a new stream.
    let accepted = accept(&queue, 1).await;
    assert!(
        matches!(accepted, Ok(Accepted::Queued { .. })),
        "{accepted:?}"
    );
}

async fn wait_until_async<F, Fut>(what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !condition().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
