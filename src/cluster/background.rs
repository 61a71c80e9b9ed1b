//! The coordinator's own tasks: the heartbeat (members, leases, latency; storing writes that
//! waited for Redis), the subscriber that announces other members' new tokens, and the
//! history writer that appends rows to the stream.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};

use super::Inner;
use crate::engine::coordinator::{
    ClusterStatus, CoordError, CoordinatorNotice, LeaseHolder, MemberBeat,
};
use crate::engine::history::HistoryEntry;

/// How often each process says it is alive and looks at the cluster.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(10);
/// Members silent for longer are dropped from the list.
const MEMBER_FORGET_AFTER: Duration = Duration::from_secs(10 * 60);
/// The subscriber waits this long before reconnecting, doubling up to [`RETRY_CAP`].
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_CAP: Duration = Duration::from_secs(2);

pub fn spawn(
    inner: Arc<Inner>,
    notices: mpsc::UnboundedSender<CoordinatorNotice>,
    history: mpsc::Receiver<HistoryEntry>,
    stop: watch::Receiver<bool>,
) {
    let stopped = |mut stop: watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let (i, n, s) = (inner.clone(), notices.clone(), stop.clone());
    tokio::spawn(async move {
        tokio::select! { () = heartbeat(i, n) => {}, () = stopped(s) => {} }
    });
    let (i, s) = (inner.clone(), stop.clone());
    tokio::spawn(async move {
        tokio::select! { () = subscribe(i, notices) => {}, () = stopped(s) => {} }
    });
    tokio::spawn(async move {
        tokio::select! { () = write_history(inner, history) => {}, () = stopped(stop) => {} }
    });
}

/// One pipelined round trip per beat: our heartbeat, everyone's, and the lease holders.
async fn heartbeat(inner: Arc<Inner>, notices: mpsc::UnboundedSender<CoordinatorNotice>) {
    let mut was_reachable = true;
    let mut last_sent: Option<(ClusterStatus, tokio::time::Instant)> = None;
    loop {
        let status = beat(&inner).await;
        if status.reachable && !was_reachable {
            // Back: store what waited, and re-read everything (announcements were missed).
            let accounts: Vec<String> = inner
                .accounts
                .lock()
                .map(|a| a.iter().cloned().collect())
                .unwrap_or_default();
            for account in accounts {
                let _ = inner.store_deferred(&account).await;
            }
            let _ = notices.send(CoordinatorNotice::Resync);
        }
        was_reachable = status.reachable;
        let due = last_sent.as_ref().is_none_or(|(sent, at)| {
            changed(sent, &status) || at.elapsed() >= Duration::from_secs(60)
        });
        if due {
            if notices
                .send(CoordinatorNotice::Status(status.clone()))
                .is_err()
            {
                return;
            }
            last_sent = Some((status, tokio::time::Instant::now()));
        }
        tokio::time::sleep(HEARTBEAT_INTERVAL).await;
    }
}

/// Worth telling clients: reachability, members or lease holders changed.
fn changed(before: &ClusterStatus, now: &ClusterStatus) -> bool {
    let names = |s: &ClusterStatus| {
        s.members
            .iter()
            .map(|m| m.member.clone())
            .collect::<Vec<_>>()
    };
    before.reachable != now.reachable || names(before) != names(now) || before.leases != now.leases
}

async fn beat(inner: &Inner) -> ClusterStatus {
    let now = Utc::now();
    let accounts: Vec<String> = inner
        .accounts
        .lock()
        .map(|a| a.iter().cloned().collect())
        .unwrap_or_default();
    let lease_keys: Vec<String> = accounts.iter().map(|a| inner.keys.lease(a)).collect();
    let members_key = inner.keys.members();
    let member = inner.member.clone();
    let started = tokio::time::Instant::now();
    let result: Result<(RawBeats, Vec<Option<String>>), CoordError> = inner
        .conn
        .run(|mut conn| async move {
            let mut pipe = redis::pipe();
            pipe.hset(&members_key, &member, now.timestamp_millis())
                .ignore();
            pipe.hgetall(&members_key);
            if lease_keys.is_empty() {
                let (members,): (RawBeats,) = pipe.query_async(&mut conn).await?;
                return Ok((members, Vec::new()));
            }
            pipe.mget(&lease_keys);
            let (members, holders): (RawBeats, Vec<Option<String>>) =
                pipe.query_async(&mut conn).await?;
            Ok((members, holders))
        })
        .await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let health = inner.conn.health();
    let mut status = ClusterStatus {
        backend: "redis".to_string(),
        endpoint: inner.endpoint.clone(),
        member: inner.member.clone(),
        reachable: result.is_ok(),
        unreachable_since: health.down_since,
        last_error: health.last_error,
        latency_ms: None,
        members: Vec::new(),
        leases: Vec::new(),
        checked_at: now,
    };
    if let Ok((members, holders)) = result {
        status.latency_ms = Some(latency_ms);
        status.members = live_members(inner, members, now).await;
        status.leases = accounts
            .iter()
            .zip(holders)
            .filter_map(|(account, holder)| lease_holder(account, holder?.as_str()))
            .collect();
    }
    status
}

/// The members hash as Redis holds it: read as text, so that one entry someone else wrote
/// (not a number) cannot fail the whole heartbeat and make Redis look unreachable.
type RawBeats = std::collections::HashMap<String, String>;

/// How far ahead of this host's clock a heartbeat may be dated and still count: members'
/// clocks differ by a few seconds; one dated later is not a live member.
const MEMBER_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// Heartbeats that could be read and are not dated in the future, with the counts of those
/// skipped (unreadable, future).
fn readable_beats(raw: RawBeats, now_ms: i64) -> (Vec<(String, i64)>, usize, usize) {
    let latest_ms = now_ms.saturating_add(MEMBER_CLOCK_SKEW.as_millis() as i64);
    let (mut unreadable, mut future) = (0, 0);
    let beats = raw
        .into_iter()
        .filter_map(|(member, at)| match at.trim().parse::<i64>() {
            Ok(at) if at > latest_ms => {
                future += 1;
                None
            }
            Ok(at) => Some((member, at)),
            Err(_) => {
                unreadable += 1;
                None
            }
        })
        .collect();
    (beats, unreadable, future)
}

/// Members heard from recently, newest first; long-silent ones are removed from Redis.
async fn live_members(inner: &Inner, members: RawBeats, now: DateTime<Utc>) -> Vec<MemberBeat> {
    let (members, unreadable, future) = readable_beats(members, now.timestamp_millis());
    let skipped = unreadable + future;
    if inner.skipped_beats.swap(skipped, Ordering::Relaxed) != skipped && skipped > 0 {
        tracing::warn!(
            unreadable,
            future,
            key = %inner.keys.members(),
            "skipped heartbeats that are not unix milliseconds or are dated in the future"
        );
    }
    let forget_before = now
        .timestamp_millis()
        .saturating_sub(MEMBER_FORGET_AFTER.as_millis() as i64);
    let (live, gone): (Vec<_>, Vec<_>) = members
        .into_iter()
        .partition(|(_, at)| *at >= forget_before);
    if !gone.is_empty() {
        let key = inner.keys.members();
        let names: Vec<String> = gone.into_iter().map(|(name, _)| name).collect();
        let _: Result<u64, CoordError> = inner
            .conn
            .run(|mut conn| async move {
                redis::cmd("HDEL")
                    .arg(key)
                    .arg(names)
                    .query_async(&mut conn)
                    .await
            })
            .await;
    }
    let mut beats: Vec<MemberBeat> = live
        .into_iter()
        .filter_map(|(member, at)| {
            let last_seen = DateTime::from_timestamp_millis(at)?;
            let this_process = member == inner.member;
            Some(MemberBeat {
                member,
                last_seen,
                this_process,
            })
        })
        .collect();
    beats.sort_by(|a, b| {
        b.last_seen
            .cmp(&a.last_seen)
            .then_with(|| a.member.cmp(&b.member))
    });
    beats
}

/// `member|nonce|fence` -> who and which fence.
pub(super) fn lease_holder(account: &str, value: &str) -> Option<LeaseHolder> {
    let mut parts = value.rsplitn(3, '|');
    let fence = parts.next()?.parse().ok()?;
    let _nonce = parts.next()?;
    let holder = parts.next()?.to_string();
    Some(LeaseHolder {
        account: account.to_string(),
        holder,
        fence,
    })
}

/// Turns announcements of other members' writes into notices; reconnects with backoff, and
/// asks for a full re-read after each (re)subscription.
async fn subscribe(inner: Arc<Inner>, notices: mpsc::UnboundedSender<CoordinatorNotice>) {
    let mut wait = RETRY_FIRST;
    loop {
        let connected = tokio::time::timeout(
            super::conn::CONNECT_TIMEOUT,
            inner.conn.client().get_async_pubsub(),
        )
        .await;
        let mut pubsub = match connected {
            Ok(Ok(pubsub)) => pubsub,
            _ => {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RETRY_CAP);
                continue;
            }
        };
        if pubsub.subscribe(inner.keys.channel()).await.is_err() {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(RETRY_CAP);
            continue;
        }
        wait = RETRY_FIRST;
        if notices.send(CoordinatorNotice::Resync).is_err() {
            return;
        }
        let mut messages = pubsub.on_message();
        while let Some(message) = messages.next().await {
            let Ok(payload) = message.get_payload::<String>() else {
                continue;
            };
            if let Some(account) = announced_account(&payload, &inner.member)
                && notices
                    .send(CoordinatorNotice::TokenChanged { account })
                    .is_err()
            {
                return;
            }
        }
        // The connection dropped: reconnect.
    }
}

/// `account version member` from another member -> the account; our own writes and anything
/// malformed -> `None`.
fn announced_account(payload: &str, own_member: &str) -> Option<String> {
    if payload.len() > 512 {
        return None;
    }
    let mut parts = payload.split(' ');
    let account = parts.next().filter(|a| !a.is_empty())?;
    let _version: i64 = parts.next()?.parse().ok()?;
    let writer = parts.next()?;
    (writer != own_member).then(|| account.to_string())
}

/// Appends history rows to the stream (trimmed to the configured length). Rows that cannot
/// be written wait, up to the queue's size, for Redis to return.
async fn write_history(inner: Arc<Inner>, mut rows: mpsc::Receiver<HistoryEntry>) {
    let mut waiting: VecDeque<String> = VecDeque::new();
    loop {
        tokio::select! {
            entry = rows.recv() => match entry {
                Some(entry) => queue(&mut waiting, &entry),
                None => return,
            },
            () = tokio::time::sleep(HEARTBEAT_INTERVAL), if !waiting.is_empty() => {}
        }
        while let Ok(entry) = rows.try_recv() {
            queue(&mut waiting, &entry);
        }
        let batch: Vec<String> = waiting.iter().cloned().collect();
        let key = inner.keys.history();
        let max_len = inner.history_max_len;
        let written: Result<(), CoordError> = inner
            .conn
            .run(|mut conn| async move {
                let mut pipe = redis::pipe();
                for row in &batch {
                    pipe.cmd("XADD")
                        .arg(&key)
                        .arg("MAXLEN")
                        .arg("~")
                        .arg(max_len)
                        .arg("*")
                        .arg(super::stream::ENTRY_FIELD)
                        .arg(row)
                        .ignore();
                }
                pipe.query_async(&mut conn).await
            })
            .await;
        if written.is_ok() {
            waiting.clear();
        }
    }
}

fn queue(waiting: &mut VecDeque<String>, entry: &HistoryEntry) {
    let Ok(json) = serde_json::to_string(entry) else {
        return;
    };
    if waiting.len() >= super::HISTORY_QUEUE {
        waiting.pop_front();
    }
    waiting.push_back(json);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_name_the_account_unless_they_are_ours() {
        assert_eq!(
            announced_account("shop 1800000001 web-2", "web-1").as_deref(),
            Some("shop")
        );
        assert_eq!(announced_account("shop 1800000001 web-1", "web-1"), None);
        assert_eq!(announced_account("shop notanumber web-2", "web-1"), None);
        assert_eq!(announced_account("", "web-1"), None);
        assert_eq!(announced_account(&"x".repeat(600), "web-1"), None);
    }

    #[test]
    fn lease_values_name_holder_and_fence() {
        let holder = lease_holder("shop", "web-1|00ab|17").unwrap();
        assert_eq!((holder.holder.as_str(), holder.fence), ("web-1", 17));
        assert!(lease_holder("shop", "garbage").is_none());
    }

    #[test]
    fn unreadable_and_future_heartbeats_are_skipped_and_counted() {
        let now_ms = 1_900_000_000_000;
        let raw: RawBeats = [
            ("web-1", now_ms.to_string()),
            ("web-2", (now_ms - 5_000).to_string()),
            ("junk", "not a number".to_string()),
            ("empty", String::new()),
            ("ahead", (now_ms + 3_600_000).to_string()),
            ("skewed", (now_ms + 2_000).to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let (mut beats, unreadable, future) = readable_beats(raw, now_ms);
        beats.sort();
        let names: Vec<&str> = beats.iter().map(|(m, _)| m.as_str()).collect();
        assert_eq!(names, ["skewed", "web-1", "web-2"]);
        assert_eq!((unreadable, future), (2, 1));
    }
}
