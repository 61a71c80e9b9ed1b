//! `[cluster]` against a real `redis-server` on a loopback port (no persistence), started and
//! stopped by the tests; `scripts/test` installs Debian's redis-server.
//!
//! The coordinator's contract (leases, fencing, compare-and-set, announcements, the history
//! stream, ACL users), then real daemons on the simulator: three of them sharing one token for
//! three minutes, the lease holder killed mid-refresh 20 times, Redis stopped for 30 s, and a
//! refresher paused past its lease.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::support;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::AsyncCommands;
use secrecy::{ExposeSecret, SecretString};
use support::redis_server::RedisServer;
use support::wait_until;
use tokentop::cluster::RedisCoordinator;
use tokentop::config::ClusterSettings;
use tokentop::engine::coordinator::{CoordError, Coordinator, CoordinatorNotice, WriteOutcome};
use tokentop::engine::history::cause::Trigger;
use tokentop::engine::history::{HistoryEntry, HistoryEvent, Outcome};
use tokentop::engine::store::StoredTokens;
use tokentop::sim::{DEFAULT_APP_ID, DEFAULT_APP_SECRET, Faults, RunningSim, SimConfig, TokenKind};
use tokio::time::Instant;

const ACCOUNT: &str = "shop";

fn cluster(url: &str, member: &str, lease: Duration) -> ClusterSettings {
    ClusterSettings {
        redis_url: Some(SecretString::from(url.to_string())),
        member: Some(member.to_string()),
        lease,
        ..ClusterSettings::default()
    }
}

/// A member's coordinator on `url`, its cache in `data_dir`.
fn coordinator(url: &str, member: &str, lease: Duration, data_dir: &Path) -> RedisCoordinator {
    RedisCoordinator::start(&cluster(url, member, lease), data_dir).unwrap()
}

fn tokens(value: &str, refreshed_at: i64) -> StoredTokens {
    StoredTokens {
        access_token: SecretString::from(value.to_string()),
        long_lived_token: None,
        expires_at: Some(refreshed_at + 3600),
        refreshed_at,
        origin_fingerprint: String::new(),
    }
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

// ---------------------------------------------------------------------------------------
// The coordinator's contract, in process.

#[tokio::test(flavor = "multi_thread")]
async fn one_lease_holder_at_a_time_with_growing_fences() {
    let redis = RedisServer::start(&[]);
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let lease = Duration::from_secs(2);
    let a = coordinator(&redis.url(None), "a", lease, dirs.0.path());
    let b = coordinator(&redis.url(None), "b", lease, dirs.1.path());

    let held = a.acquire(ACCOUNT, Duration::ZERO).await.unwrap();
    let first_fence = held.fence.unwrap();
    let refused = b.acquire(ACCOUNT, Duration::from_millis(300)).await;
    assert!(
        matches!(&refused, Err(CoordError::LeaseTimedOut { holder, .. }) if holder.starts_with("a (fence ")),
        "{refused:?}"
    );
    // Held longer than its lease time: the holder keeps it alive while it works.
    tokio::time::sleep(lease + Duration::from_secs(1)).await;
    let still = b.acquire(ACCOUNT, Duration::from_millis(100)).await;
    assert!(
        still.is_err(),
        "a live holder's lease must not expire under it"
    );
    drop(held);
    let next = b.acquire(ACCOUNT, Duration::from_secs(2)).await.unwrap();
    assert!(next.fence.unwrap() > first_fence, "fences only grow");
    // Other accounts are independent.
    a.acquire("other", Duration::ZERO).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lease_without_expiry_is_given_one_lease_time_not_waited_on_forever() {
    let redis = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let lease = Duration::from_secs(1);
    let a = coordinator(&redis.url(None), "a", lease, dir.path());
    let mut conn = redis.client(None).await;
    // No TTL: a crashed tool or a hand-made key, not a member keeping it alive.
    let _: () = conn.set("tokentop:lease:shop", "ghost|0|3").await.unwrap();
    let started = Instant::now();
    let held = a.acquire(ACCOUNT, Duration::from_secs(20)).await.unwrap();
    assert!(held.is_held());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    drop(held);
    // A TTL far longer than any lease is cut down the same way.
    let _: () = conn
        .set_ex("tokentop:lease:shop", "ghost|0|4", 86_400)
        .await
        .unwrap();
    assert!(a.acquire(ACCOUNT, Duration::from_secs(20)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn writes_are_compare_and_set_and_announced_to_other_members() {
    let redis = RedisServer::start(&[]);
    let dirs = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let lease = Duration::from_secs(5);
    let a = coordinator(&redis.url(None), "a", lease, dirs.0.path());
    let b = coordinator(&redis.url(None), "b", lease, dirs.1.path());
    let mut b_notices = b.take_notices().unwrap();
    // The subscriber is up once it asked for its first re-read.
    wait_for_notice(&mut b_notices, |n| matches!(n, CoordinatorNotice::Resync)).await;

    assert!(a.load(ACCOUNT).await.unwrap().is_none());
    let lease_a = a.acquire(ACCOUNT, Duration::ZERO).await.unwrap();
    let now = now_unix();
    let stored = a
        .store(ACCOUNT, &lease_a, &tokens("EAAGfirsttokenfromA1", now), 0)
        .await
        .unwrap();
    let WriteOutcome::Stored { version } = stored else {
        panic!("{stored:?}")
    };
    assert!(version >= now);
    drop(lease_a);
    let announced = wait_for_notice(
        &mut b_notices,
        |n| matches!(n, CoordinatorNotice::TokenChanged { account } if account == ACCOUNT),
    )
    .await;
    assert!(announced.elapsed() < Duration::from_secs(1));

    // b saw nothing (version 0): its write is refused and it is handed a's record.
    // The release runs in the background as the lease is dropped.
    let lease_b = b.acquire(ACCOUNT, Duration::from_secs(2)).await.unwrap();
    let refused = b
        .store(ACCOUNT, &lease_b, &tokens("EAAGstaletokenfromB1", now), 0)
        .await
        .unwrap();
    let WriteOutcome::Refused {
        current: Some(current),
    } = refused
    else {
        panic!("{refused:?}")
    };
    assert_eq!(
        current.tokens.access_token.expose_secret(),
        "EAAGfirsttokenfromA1"
    );
    assert_eq!(
        (current.version, current.writer.as_deref()),
        (version, Some("a"))
    );
    // Written with the right version, in the same second: a later version.
    let second = b
        .store(
            ACCOUNT,
            &lease_b,
            &tokens("EAAGsecondtokenfromB", now),
            version,
        )
        .await
        .unwrap();
    let WriteOutcome::Stored { version: second } = second else {
        panic!("{second:?}")
    };
    assert!(second > version);
    let loaded = a.load(ACCOUNT).await.unwrap().unwrap();
    assert_eq!(
        loaded.tokens.access_token.expose_secret(),
        "EAAGsecondtokenfromB"
    );
    // Each member's data dir caches the current token (0600) for when Redis is away.
    let cached = std::fs::read_to_string(dirs.0.path().join("tokens/shop.json")).unwrap();
    assert!(cached.contains("EAAGsecondtokenfromB"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_from_an_older_lease_is_refused_even_with_the_right_version() {
    let redis = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let lease = Duration::from_secs(2);
    let a = coordinator(&redis.url(None), "a", lease, dir.path());
    let old = a.acquire(ACCOUNT, Duration::ZERO).await.unwrap();
    let mut conn = redis.client(None).await;
    // The old holder's lease vanishes (expired while it was paused); a newer holder writes.
    let _: () = conn.del("tokentop:lease:shop").await.unwrap();
    let newer = a.acquire(ACCOUNT, Duration::ZERO).await.unwrap();
    let now = now_unix();
    a.store(ACCOUNT, &newer, &tokens("EAAGnewerholdertoken", now), 0)
        .await
        .unwrap();
    let seen: i64 = conn.hget("tokentop:token:shop", "version").await.unwrap();
    let late = a
        .store(ACCOUNT, &old, &tokens("EAAGolderholdertoken", now), seen)
        .await
        .unwrap();
    assert!(matches!(late, WriteOutcome::Refused { .. }), "{late:?}");
    let access: String = conn.hget("tokentop:token:shop", "access").await.unwrap();
    assert_eq!(access, "EAAGnewerholdertoken");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_write_without_redis_is_cached_and_stored_when_redis_returns() {
    let mut redis = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let a = coordinator(&redis.url(None), "a", Duration::from_secs(2), dir.path());
    let lease = a.acquire(ACCOUNT, Duration::ZERO).await.unwrap();
    let now = now_unix();
    let first = a
        .store(ACCOUNT, &lease, &tokens("EAAGbeforetheoutage1", now), 0)
        .await
        .unwrap();
    let WriteOutcome::Stored { version } = first else {
        panic!("{first:?}")
    };
    drop(lease);
    redis.stop();
    // The last resort: no lease, Redis away. The token is kept in the data dir.
    let unavailable = a.acquire(ACCOUNT, Duration::ZERO).await.unwrap_err();
    assert!(unavailable.is_unavailable(), "{unavailable}");
    assert!(
        unavailable
            .to_string()
            .contains("Redis is unreachable (since "),
        "{unavailable}"
    );
    let without = tokentop::engine::coordinator::Lease::without();
    let deferred = a
        .store(
            ACCOUNT,
            &without,
            &tokens("EAAGduringtheoutage1", now + 1),
            version,
        )
        .await
        .unwrap();
    assert!(matches!(deferred, WriteOutcome::Deferred), "{deferred:?}");
    let cached = a.load(ACCOUNT).await.unwrap().unwrap();
    assert_eq!(
        cached.tokens.access_token.expose_secret(),
        "EAAGduringtheoutage1"
    );
    assert!(
        cached.version <= version,
        "a cache answer never claims a newer version than Redis had"
    );
    // Redis returns empty (no persistence): the next read stores the waiting write first.
    redis.resume();
    let loaded = a.load(ACCOUNT).await.unwrap().unwrap();
    assert_eq!(
        loaded.tokens.access_token.expose_secret(),
        "EAAGduringtheoutage1"
    );
    let mut conn = redis.client(None).await;
    let access: String = conn.hget("tokentop:token:shop", "access").await.unwrap();
    assert_eq!(access, "EAAGduringtheoutage1");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_that_is_not_tokentops_is_refused_not_used() {
    let redis = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let a = coordinator(&redis.url(None), "a", Duration::from_secs(2), dir.path());
    let mut conn = redis.client(None).await;
    let _: () = conn
        .hset_multiple(
            "tokentop:token:shop",
            &[("version", "5"), ("access", "not a token\nX=1")],
        )
        .await
        .unwrap();
    let err = a.load(ACCOUNT).await.unwrap_err().to_string();
    assert!(
        err.contains("tokentop:token:shop") && err.contains("access"),
        "{err}"
    );
    assert!(!err.contains("X=1"), "{err}");
    let huge = "A".repeat(100_000);
    let _: () = conn
        .hset("tokentop:token:shop", "access", &huge)
        .await
        .unwrap();
    let err = a.load(ACCOUNT).await.unwrap_err().to_string();
    assert!(err.contains("too long"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_version_near_i64_max_is_refused_by_the_read_and_the_write() {
    let redis = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let a = coordinator(&redis.url(None), "a", Duration::from_secs(2), dir.path());
    let mut conn = redis.client(None).await;
    for version in [i64::MAX.to_string(), "9007199254740992".to_string()] {
        let _: () = conn
            .hset_multiple(
                "tokentop:token:shop",
                &[
                    ("version", version.as_str()),
                    ("access", "EAAGhostiletokenvalue1"),
                ],
            )
            .await
            .unwrap();
        // Read: refused with the key named, no panic in the member.
        let err = a.load(ACCOUNT).await.unwrap_err().to_string();
        assert!(
            err.contains("tokentop:token:shop") && err.contains("version"),
            "{err}"
        );
        // Write: the script refuses rather than overflowing to a negative version. (The first
        // round's lease is released in the background when dropped: wait for it, not a race.)
        let lease = a.acquire(ACCOUNT, Duration::from_secs(5)).await.unwrap();
        let stored = a
            .store(
                ACCOUNT,
                &lease,
                &tokens("EAAGnewtokenvalue0001", now_unix()),
                0,
            )
            .await;
        assert!(stored.is_err(), "{stored:?}");
        drop(lease);
        let held: String = conn.hget("tokentop:token:shop", "version").await.unwrap();
        assert_eq!(held, version, "the record was not rewritten");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_or_future_heartbeat_of_another_member_is_skipped_not_fatal() {
    let redis = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let mut conn = redis.client(None).await;
    let ahead = (now_unix() + 3_600) * 1000;
    let _: () = conn
        .hset_multiple(
            "tokentop:members",
            &[
                ("junk", "not a number".to_string()),
                ("ahead", ahead.to_string()),
            ],
        )
        .await
        .unwrap();
    let a = coordinator(&redis.url(None), "a", Duration::from_secs(2), dir.path());
    let mut notices = a.take_notices().unwrap();
    // The first heartbeat's status (before the fix: unreachable, from one bad entry).
    let status = loop {
        let notice = tokio::time::timeout(Duration::from_secs(10), notices.recv())
            .await
            .expect("no status within 10 s")
            .expect("notices ended");
        if let CoordinatorNotice::Status(status) = notice {
            break status;
        }
    };
    assert!(status.reachable, "{status:?}");
    let members: Vec<&str> = status.members.iter().map(|m| m.member.as_str()).collect();
    assert_eq!(members, ["a"], "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn history_rows_go_to_the_stream_with_their_host_and_no_token() {
    let redis = RedisServer::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let a = coordinator(
        &redis.url(None),
        "web-1",
        Duration::from_secs(2),
        dir.path(),
    );
    let mut entry = HistoryEntry::new(ACCOUNT, Trigger::Scheduled, Outcome::Ok);
    entry.host = Some("web-1".to_string());
    entry.token = Some("EAAG…x9Qf".to_string());
    a.record(&entry);
    let deadline = Instant::now() + Duration::from_secs(5);
    let rows = loop {
        let rows = a.read_history(10).await.unwrap();
        if !rows.is_empty() || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].host.as_deref(), Some("web-1"));
    assert_eq!(rows[0].outcome, Outcome::Ok);
    // `tokentop history` reads the same rows without joining the cluster as a member.
    let reader = cluster(&redis.url(None), "reader", Duration::from_secs(2));
    let read = tokentop::cluster::stream::read_history(&reader, 10)
        .await
        .unwrap();
    assert_eq!(read, rows);
    let mut conn = redis.client(None).await;
    let members: Vec<String> = conn.hkeys("tokentop:members").await.unwrap();
    assert!(!members.contains(&"reader".to_string()), "{members:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn acl_user_and_password_work_and_a_wrong_password_says_so() {
    let redis = RedisServer::start(&[
        "--user",
        "default",
        "off",
        "--user",
        "tokentop",
        "on",
        ">right-pass-4711",
        "~tokentop:*",
        "&*",
        "+@all",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let good_url = redis.url(Some(("tokentop", "right-pass-4711")));
    let good = coordinator(&good_url, "a", Duration::from_secs(2), dir.path());
    good.ping().await.unwrap();
    let lease = good.acquire(ACCOUNT, Duration::ZERO).await.unwrap();
    let stored = good
        .store(
            ACCOUNT,
            &lease,
            &tokens("EAAGacltesttokenvalue", now_unix()),
            0,
        )
        .await
        .unwrap();
    assert!(matches!(stored, WriteOutcome::Stored { .. }), "{stored:?}");

    let bad_url = redis.url(Some(("tokentop", "wrong-pass-0815")));
    let bad = coordinator(&bad_url, "b", Duration::from_secs(2), dir.path());
    let err = bad.ping().await.unwrap_err();
    let text = err.to_string();
    assert!(err.is_unavailable(), "{text}");
    assert!(text.contains("refused the user name or password"), "{text}");
    assert!(text.contains("redis-url"), "{text}");
    assert!(!text.contains("wrong-pass-0815"), "{text}");
    assert!(!format!("{bad:?}").contains("wrong-pass-0815"));
}

async fn wait_for_notice(
    notices: &mut tokio::sync::mpsc::UnboundedReceiver<CoordinatorNotice>,
    wanted: impl Fn(&CoordinatorNotice) -> bool,
) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let notice = tokio::time::timeout_at(deadline, notices.recv())
            .await
            .expect("no such notice within 10 s")
            .expect("notices ended");
        if wanted(&notice) {
            return Instant::now();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Real daemons on the simulator.

/// One `tokentop daemon` of the cluster, in its own directory and data dir.
struct Member {
    name: String,
    dir: tempfile::TempDir,
    config: String,
    graph_url: String,
    child: tokio::process::Child,
}

impl Member {
    fn start(
        sim: &RunningSim,
        redis: &RedisServer,
        name: &str,
        token: &str,
        policy: &Policy,
    ) -> Member {
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "[refresh]\ncheck-interval = \"30s\"\nrefresh-before = \"{}\"\nwarn-before = \"0s\"\ncritical-before = \"0s\"\n\n\
             [cluster]\nredis-url = \"{}\"\nmember = \"{name}\"\nlease = \"{}s\"\n\n\
             [[account]]\nname = \"{ACCOUNT}\"\napp-id = \"{DEFAULT_APP_ID}\"\napp-secret = \"{DEFAULT_APP_SECRET}\"\n\
             access-token = \"{token}\"\ntoken-file = \"{}\"\n",
            policy.refresh_before,
            redis.url(None),
            policy.lease.as_secs(),
            dir.path().join("token").display(),
        );
        let graph_url = sim.base_url();
        let child = support::cli::spawn_in(dir.path(), &config, &graph_url, &["daemon"], &[]);
        Member {
            name: name.to_string(),
            dir,
            config,
            graph_url,
            child,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    fn signal(&self, signal: &str) {
        let status = std::process::Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    async fn kill_and_restart(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
        self.child = support::cli::spawn_in(
            self.dir.path(),
            &self.config,
            &self.graph_url,
            &["daemon"],
            &[],
        );
    }

    fn token_file(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.path().join("token"))
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.err")).unwrap_or_default()
    }
}

struct Policy {
    refresh_before: &'static str,
    lease: Duration,
}

async fn sim_with(system_user_lifetime: Duration, latency_ms: u64) -> RunningSim {
    tokentop::graph::install_tls_provider();
    let sim = RunningSim::start(
        SimConfig {
            system_user_lifetime,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    sim.handle().set_faults(Faults {
        latency_ms,
        ..Faults::default()
    });
    sim
}

/// The token record in Redis: (version, access token, writer).
async fn record(conn: &mut redis::aio::MultiplexedConnection) -> Option<(i64, String, String)> {
    let fields: BTreeMap<String, String> = conn.hgetall("tokentop:token:shop").await.ok()?;
    Some((
        fields.get("version")?.parse().ok()?,
        fields.get("access")?.clone(),
        fields.get("writer").cloned().unwrap_or_default(),
    ))
}

/// Who holds the lease now (member name), if anyone.
async fn lease_holder(conn: &mut redis::aio::MultiplexedConnection) -> Option<(String, u64)> {
    let value: Option<String> = conn.get("tokentop:lease:shop").await.ok()?;
    let value = value?;
    let mut parts = value.split('|');
    let member = parts.next()?.to_string();
    let fence = parts.nth(1)?.parse().ok()?;
    Some((member, fence))
}

/// Watches Redis and the simulator in the background: the stored token is always valid at
/// the simulator (no lapse), and a new version always carries a token issued no earlier than
/// the one before (never an older token over a newer one).
struct Watch {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Vec<String>>,
}

impl Watch {
    fn start(sim: &RunningSim, redis: &RedisServer) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, handle, url) = (stop.clone(), sim.handle(), redis.url(None));
        let task = tokio::spawn(async move {
            let mut problems = Vec::new();
            let mut last: Option<(i64, String, i64)> = None;
            let client = redis::Client::open(url).unwrap();
            while !flag.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
                // Redis may be down on purpose: then there is nothing to look at.
                let Ok(Ok(mut conn)) = tokio::time::timeout(
                    Duration::from_millis(500),
                    client.get_multiplexed_async_connection(),
                )
                .await
                else {
                    continue;
                };
                let Some((version, token, writer)) = record(&mut conn).await else {
                    continue;
                };
                let now = now_unix();
                match handle.token_expires_at(&token) {
                    Some(Some(at)) if at > now => {}
                    other => problems.push(format!("version {version} by {writer}: token not valid at the simulator ({other:?}, now {now})")),
                }
                let issued = handle.token_issued_at(&token).unwrap_or(0);
                if let Some((last_version, last_token, last_issued)) = &last {
                    if *last_token != token && version <= *last_version {
                        problems.push(format!(
                            "token changed without a newer version ({last_version} -> {version})"
                        ));
                    }
                    if version > *last_version && issued < *last_issued {
                        problems.push(format!("version {version} by {writer} holds a token issued at {issued}, older than {last_issued}"));
                    }
                }
                last = Some((version, token, issued));
            }
            problems
        });
        Watch { stop, task }
    }

    async fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

/// Asks the simulator whether `token` is accepted, over HTTP as an application would.
async fn accepted(sim: &RunningSim, token: &str) -> bool {
    let url = format!(
        "{}/v25.0/debug_token?input_token={token}&access_token={DEFAULT_APP_ID}|{DEFAULT_APP_SECRET}",
        sim.base_url()
    );
    let body: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    body["data"]["is_valid"] == true
}

fn exchanges(sim: &RunningSim) -> u64 {
    sim.handle()
        .stats()
        .by_endpoint
        .get("exchange")
        .copied()
        .unwrap_or(0)
}

/// Redis, the simulator (renewed tokens live `renewed`, every answer `latency_ms` late), a
/// first token living `first`, and one daemon per name sharing it under `policy`.
struct Scenario {
    redis: RedisServer,
    sim: RunningSim,
    token: String,
    members: Vec<Member>,
}

async fn scenario(
    names: &[&str],
    renewed: Duration,
    first: Duration,
    latency_ms: u64,
    policy: &Policy,
) -> Scenario {
    let redis = RedisServer::start(&[]);
    let sim = sim_with(renewed, latency_ms).await;
    let token = sim
        .handle()
        .mint_token(TokenKind::SystemUser, Some(first))
        .access_token;
    let members = names
        .iter()
        .map(|name| Member::start(&sim, &redis, name, &token, policy))
        .collect();
    Scenario {
        redis,
        sim,
        token,
        members,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_daemons_share_one_token_with_one_exchange_per_window_for_eighteen_windows() {
    let policy = Policy {
        refresh_before: "50%",
        lease: Duration::from_secs(3),
    };
    let Scenario {
        redis,
        sim,
        members,
        ..
    } = scenario(
        &["d0", "d1", "d2"],
        Duration::from_secs(10),
        Duration::from_secs(10),
        0,
        &policy,
    )
    .await;
    let watch = Watch::start(&sim, &redis);
    let started = Instant::now();
    let mut sampled = 0;
    while started.elapsed() < Duration::from_secs(90) {
        for member in &members {
            if let Some(token) = member.token_file() {
                assert!(
                    accepted(&sim, &token).await,
                    "{}'s token file holds a token the simulator refuses:\n{}",
                    member.name,
                    member.stderr()
                );
                sampled += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let problems = watch.finish().await;
    assert!(problems.is_empty(), "{problems:#?}");
    let exchanged = exchanges(&sim);
    // A 10-second token refreshed at half its life: a window about every 5 s, eighteen in all
    // (as many as a 20-second token gives in three minutes).
    let windows = started.elapsed().as_secs() / 5;
    assert!(
        exchanged >= windows.saturating_sub(2) && exchanged <= windows + 2,
        "{exchanged} exchanges in {windows} windows"
    );
    // Exactly one exchange per window: every exchange's token was the one stored, and no
    // member exchanged a token another had just replaced.
    let reader = cluster(&redis.url(None), "reader", Duration::from_secs(3));
    let history = tokentop::cluster::stream::read_history(&reader, 100_000)
        .await
        .unwrap();
    let stored: Vec<&HistoryEntry> = history
        .iter()
        .filter(|e| e.event() == HistoryEvent::Refresh && e.outcome == Outcome::Ok)
        .collect();
    assert_eq!(
        stored.len() as u64,
        exchanged,
        "exchanges vs stored refreshes"
    );
    let hosts: std::collections::BTreeSet<&str> =
        stored.iter().filter_map(|e| e.host.as_deref()).collect();
    assert!(!hosts.is_empty());
    // At least one check of each member's token file per refresh window (about 1,000 on a
    // quiet machine; how many fit in 90 s depends on the machine's load, not on tokentop).
    assert!(
        sampled >= 3 * windows,
        "only {sampled} token-file samples in {windows} windows"
    );
    for member in &members {
        assert!(!member.stderr().contains("panicked"), "{}", member.stderr());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_lease_holder_mid_refresh_twenty_times_never_lapses() {
    let policy = Policy {
        // Due 1.5 s after each new token: the next window opens soon after a kill's takeover.
        refresh_before: "85%",
        lease: Duration::from_secs(2),
    };
    let Scenario {
        redis,
        sim,
        mut members,
        ..
    } = scenario(
        &["d0", "d1", "d2"],
        Duration::from_secs(10),
        Duration::from_secs(10),
        200,
        &policy,
    )
    .await;
    let watch = Watch::start(&sim, &redis);
    let mut conn = redis.client(None).await;
    let mut last_fence = 0;
    let mut killed = 0;
    for round in 0..60 {
        if killed == 20 {
            break;
        }
        let (holder, fence) = wait_until("a lease holder", Duration::from_secs(30), async || {
            lease_holder(&mut conn)
                .await
                .filter(|(_, fence)| *fence > last_fence)
        })
        .await;
        last_fence = fence;
        let before = record(&mut conn).await.map(|r| r.0).unwrap_or(0);
        // Mid-refresh: the exchange (200 ms at the simulator) is in flight, and nothing was
        // stored since the lease was granted (else this holder found a newer token and skips).
        tokio::time::sleep(Duration::from_millis(100)).await;
        let still_held = lease_holder(&mut conn)
            .await
            .is_some_and(|(_, f)| f == fence);
        let unchanged = record(&mut conn).await.map(|r| r.0).unwrap_or(0) == before;
        if !(still_held && unchanged) {
            continue;
        }
        killed += 1;
        let killed_at = Instant::now();
        let victim = members.iter_mut().find(|m| m.name == holder).unwrap();
        victim.kill_and_restart().await;
        // The dead holder's lease runs out; another member takes it over within the lease time.
        let (successor, _) = wait_until("a new lease holder", policy.lease * 3, async || {
            lease_holder(&mut conn).await.filter(|(_, f)| *f > fence)
        })
        .await;
        let taken_over = killed_at.elapsed();
        let after = wait_until(
            "a newer token after the kill",
            policy.lease * 4,
            async || record(&mut conn).await.filter(|r| r.0 > before),
        )
        .await;
        if taken_over >= policy.lease + Duration::from_millis(800) {
            let logs: Vec<String> = members
                .iter()
                .map(|m| format!("{}:\n{}", m.name, m.stderr()))
                .collect();
            panic!(
                "round {round}: {successor} took the lease {taken_over:?} after {holder} was killed\n{}",
                logs.join("\n")
            );
        }
        // Exchange and inspection take 200 ms each at the simulator; the rest is slack for a
        // loaded 2-core machine.
        assert!(
            killed_at.elapsed() < policy.lease + Duration::from_secs(5),
            "round {round}: the refresh took {:?} after killing {holder} (stored by {})",
            killed_at.elapsed(),
            after.2
        );
        // The members that waited for the lease find the new token and skip (holding the lease
        // for their inspection): let them finish (the lease is free) before looking for the
        // next window's holder. One that takes the lease after this is caught holding it next
        // round, which is a lease holder killed all the same.
        let settle = Instant::now() + Duration::from_secs(2);
        while Instant::now() < settle {
            match lease_holder(&mut conn).await {
                Some((_, f)) => last_fence = last_fence.max(f),
                None => break,
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(killed, 20, "only {killed} lease holders caught mid-refresh");
    let problems = watch.finish().await;
    assert!(problems.is_empty(), "{problems:#?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_away_for_thirty_seconds_costs_no_lapse_and_at_most_one_extra_exchange() {
    let policy = Policy {
        refresh_before: "1m",
        lease: Duration::from_secs(2),
    };
    // Refresh a minute before expiry (up to 6 s earlier, the jitter): this token's refresh is
    // due 9 to 15 s after the start, while Redis is away (from 5 s to 35 s); it is back with
    // 40 s left, more than the last-resort margin of 10 s.
    let Scenario {
        mut redis,
        sim,
        token,
        members,
    } = scenario(
        &["d0", "d1", "d2"],
        Duration::from_secs(120),
        Duration::from_secs(75),
        0,
        &policy,
    )
    .await;
    let started = Instant::now();
    let mut conn = redis.client(None).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let beating: u64 = conn.hlen("tokentop:members").await.unwrap();
        if beating == 3 {
            break;
        }
        let logs: Vec<String> = members.iter().map(Member::stderr).collect();
        assert!(
            Instant::now() < deadline,
            "{beating} heartbeats after 10 s:\n{logs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(started.elapsed())).await;
    redis.stop();
    let down_at = Instant::now();
    while down_at.elapsed() < Duration::from_secs(30) {
        for member in &members {
            let token = member.token_file().unwrap();
            assert!(
                accepted(&sim, &token).await,
                "{} holds a dead token while Redis is away",
                member.name
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        exchanges(&sim),
        0,
        "nobody refreshed without a lease with 40 s left"
    );
    redis.resume();
    let mut conn = redis.client(None).await;
    let (_, current, _) = wait_until(
        "the refresh after Redis returned",
        Duration::from_secs(20),
        async || record(&mut conn).await.filter(|r| r.1 != token),
    )
    .await;
    // Everyone converges on the one new token.
    wait_until(
        "every member on the new token",
        Duration::from_secs(10),
        async || {
            members
                .iter()
                .all(|m| m.token_file().as_deref() == Some(current.as_str()))
                .then_some(())
        },
    )
    .await;
    assert!(accepted(&sim, &current).await);
    let exchanged = exchanges(&sim);
    assert!(
        (1..=2).contains(&exchanged),
        "{exchanged} exchanges for one window"
    );
    let logs: String = members.iter().map(Member::stderr).collect();
    assert!(
        logs.contains("Redis"),
        "the members said nothing about Redis being away:\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refresher_paused_past_its_lease_cannot_overwrite_the_newer_token() {
    let policy = Policy {
        refresh_before: "60%",
        lease: Duration::from_secs(2),
    };
    let Scenario {
        redis,
        sim: _sim,
        members,
        ..
    } = scenario(
        &["d0", "d1"],
        Duration::from_secs(20),
        Duration::from_secs(20),
        1500,
        &policy,
    )
    .await;
    let mut conn = redis.client(None).await;
    let (holder, _) = wait_until("a lease holder", Duration::from_secs(30), async || {
        lease_holder(&mut conn).await
    })
    .await;
    let before = record(&mut conn).await.unwrap_or_default();
    // Its exchange is in flight (the simulator answers after 1.5 s): pause it past its lease.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let paused = members.iter().find(|m| m.name == holder).unwrap();
    let other = members.iter().find(|m| m.name != holder).unwrap();
    paused.signal("-STOP");
    let newer = wait_until(
        "the other member's refresh",
        Duration::from_secs(20),
        async || record(&mut conn).await.filter(|r| r.0 > before.0),
    )
    .await;
    assert_eq!(
        newer.2, other.name,
        "stored by the member that was not paused"
    );
    paused.signal("-CONT");
    wait_until(
        "the paused member's refused write",
        Duration::from_secs(20),
        async || {
            paused
                .stderr()
                .contains("version check refused")
                .then_some(())
        },
    )
    .await;
    let after = record(&mut conn).await.unwrap();
    assert_eq!(
        (after.0, &after.1),
        (newer.0, &newer.1),
        "the newer token stays"
    );
    wait_until(
        "the paused member on the newer token",
        Duration::from_secs(10),
        async || (paused.token_file().as_deref() == Some(newer.1.as_str())).then_some(()),
    )
    .await;
}

/// Issue 20 item 4: a well-formed record whose token Meta rejects is not adopted: the member
/// keeps its working token, its token file is untouched, and it says whose record it refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_record_with_a_dead_token_never_replaces_the_working_one() {
    let policy = Policy {
        refresh_before: "50%",
        lease: Duration::from_secs(5),
    };
    let Scenario {
        redis,
        sim,
        token,
        members,
    } = scenario(
        &["d0"],
        Duration::from_secs(86_400),
        Duration::from_secs(86_400),
        0,
        &policy,
    )
    .await;
    let member = &members[0];
    wait_until(
        "the first token in the token file",
        Duration::from_secs(20),
        async || (member.token_file().as_deref() == Some(token.as_str())).then_some(()),
    )
    .await;
    let dead = sim
        .handle()
        .mint_token(TokenKind::SystemUser, Some(Duration::from_secs(86_400)))
        .access_token;
    assert!(sim.handle().invalidate(&dead));
    let mut conn = redis.client(None).await;
    let version = (now_unix() + 60).to_string();
    let _: () = conn
        .hset_multiple(
            "tokentop:token:shop",
            &[
                ("version", version.as_str()),
                ("access", dead.as_str()),
                ("writer", "evil-host"),
            ],
        )
        .await
        .unwrap();
    let _: () = conn
        .publish("tokentop:tokens", format!("shop {version} evil-host"))
        .await
        .unwrap();
    wait_until(
        "the refusal in the log",
        Duration::from_secs(20),
        async || {
            member
                .stderr()
                .contains("refused the token evil-host stored")
                .then_some(())
        },
    )
    .await;
    assert_eq!(member.token_file().as_deref(), Some(token.as_str()));
    assert!(accepted(&sim, &token).await);
    assert!(
        !member.stderr().contains("picked up a token"),
        "{}",
        member.stderr()
    );
}
