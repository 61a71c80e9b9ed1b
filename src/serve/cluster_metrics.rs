//! The cluster's metrics, registered with the first cluster status (so a scrape without
//! `[cluster]` is unchanged): Redis reachable and its latency, the members and their last
//! heartbeats, and who holds which refresh lease.
//!
//! Label values: member names come from Redis (any process sharing the key prefix can add
//! one), so at most [`MAX_MEMBER_SERIES`] are exported, the most recent heartbeats first;
//! lease accounts are this process's configured accounts, holders are member names.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::engine::coordinator::ClusterStatus;

type FloatGauge = Gauge<f64, AtomicU64>;

/// Members exported at most; a cluster has a few hosts, more is a misconfiguration.
pub const MAX_MEMBER_SERIES: usize = 64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabels {
    member: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LeaseLabels {
    account: String,
    holder: String,
}

/// The cluster families, registered in the metrics' registry.
pub struct ClusterMetrics {
    reachable: Gauge,
    latency: FloatGauge,
    members: Gauge,
    heartbeat: Family<MemberLabels, FloatGauge>,
    lease_held: Family<LeaseLabels, Gauge>,
}

impl ClusterMetrics {
    /// Creates the families and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            reachable: Gauge::default(),
            latency: FloatGauge::default(),
            members: Gauge::default(),
            heartbeat: Family::default(),
            lease_held: Family::default(),
        };
        registry.register(
            "tokentop_cluster_reachable",
            "1 while the cluster's Redis answers, 0 while it is unreachable",
            metrics.reachable.clone(),
        );
        registry.register(
            "tokentop_cluster_redis_latency_seconds",
            "Round trip of the last heartbeat to Redis (NaN while unreachable)",
            metrics.latency.clone(),
        );
        registry.register(
            "tokentop_cluster_members",
            "Members with a recent heartbeat",
            metrics.members.clone(),
        );
        registry.register(
            "tokentop_cluster_member_last_heartbeat_timestamp_seconds",
            "When each member last sent its heartbeat (unix seconds)",
            metrics.heartbeat.clone(),
        );
        registry.register(
            "tokentop_cluster_lease_held",
            "1 for each refresh lease held right now, by account and holder",
            metrics.lease_held.clone(),
        );
        metrics
    }

    /// Sets every family from one status; members and leases no longer listed disappear.
    pub fn observe(&self, status: &ClusterStatus) {
        self.reachable.set(i64::from(status.reachable));
        self.latency
            .set(status.latency_ms.map_or(f64::NAN, |ms| ms / 1000.0));
        self.members
            .set(i64::try_from(status.members.len()).unwrap_or(i64::MAX));
        // While Redis is unreachable the status lists nobody: the last known beats stay
        // (they are still when each member was last heard of), so `time() - ...` keeps
        // growing for an alert.
        if status.reachable {
            self.heartbeat.clear();
            for beat in status.members.iter().take(MAX_MEMBER_SERIES) {
                let labels = MemberLabels {
                    member: beat.member.clone(),
                };
                // Milliseconds since 1970 are exact in an f64.
                let seconds = beat.last_seen.timestamp_millis() as f64 / 1000.0;
                self.heartbeat.get_or_create(&labels).set(seconds);
            }
        }
        // Only the leases held now; none known while Redis is unreachable.
        self.lease_held.clear();
        for lease in &status.leases {
            let labels = LeaseLabels {
                account: lease.account.clone(),
                holder: lease.holder.clone(),
            };
            self.lease_held.get_or_create(&labels).set(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::coordinator::{LeaseHolder, MemberBeat};
    use chrono::{TimeZone, Utc};

    fn status(members: usize, leases: &[(&str, &str)]) -> ClusterStatus {
        let at = Utc.with_ymd_and_hms(2026, 3, 14, 14, 3, 12).unwrap();
        ClusterStatus {
            backend: "redis".to_string(),
            endpoint: "redis://127.0.0.1:6379".to_string(),
            member: "web-1".to_string(),
            reachable: true,
            unreachable_since: None,
            last_error: None,
            latency_ms: Some(0.5),
            members: (1..=members)
                .map(|i| MemberBeat {
                    member: format!("web-{i}"),
                    last_seen: at,
                    this_process: i == 1,
                })
                .collect(),
            leases: leases
                .iter()
                .map(|(account, holder)| LeaseHolder {
                    account: account.to_string(),
                    holder: holder.to_string(),
                    fence: 3,
                })
                .collect(),
            checked_at: at,
        }
    }

    fn render(registry: &Registry) -> String {
        let mut out = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut out, registry).unwrap();
        out
    }

    #[test]
    fn families_follow_the_status_and_released_leases_disappear() {
        let mut registry = Registry::default();
        let metrics = ClusterMetrics::register(&mut registry);
        metrics.observe(&status(3, &[("production", "web-2")]));
        let text = render(&registry);
        for line in [
            "tokentop_cluster_reachable 1",
            "tokentop_cluster_redis_latency_seconds 0.0005",
            "tokentop_cluster_members 3",
            r#"tokentop_cluster_member_last_heartbeat_timestamp_seconds{member="web-3"} 1773496992.0"#,
            r#"tokentop_cluster_lease_held{account="production",holder="web-2"} 1"#,
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }

        metrics.observe(&status(2, &[("staging", "web-1")]));
        let text = render(&registry);
        assert!(!text.contains(r#"holder="web-2""#), "{text}");
        assert!(!text.contains(r#"member="web-3""#), "{text}");
        assert!(
            text.contains(r#"tokentop_cluster_lease_held{account="staging",holder="web-1"} 1"#),
            "{text}"
        );

        let mut down = status(0, &[]);
        down.reachable = false;
        down.latency_ms = None;
        metrics.observe(&down);
        let text = render(&registry);
        assert!(text.contains("tokentop_cluster_reachable 0"), "{text}");
        assert!(
            text.contains("tokentop_cluster_redis_latency_seconds NaN"),
            "{text}"
        );
        assert!(!text.contains("tokentop_cluster_lease_held{"), "{text}");
        assert!(
            text.contains(
                r#"tokentop_cluster_member_last_heartbeat_timestamp_seconds{member="web-1"}"#
            ),
            "the last known heartbeats stay while Redis is unreachable\n{text}"
        );
    }

    #[test]
    fn members_are_capped() {
        let mut registry = Registry::default();
        let metrics = ClusterMetrics::register(&mut registry);
        metrics.observe(&status(MAX_MEMBER_SERIES + 50, &[]));
        let text = render(&registry);
        let series = text
            .lines()
            .filter(|l| l.starts_with("tokentop_cluster_member_last_heartbeat"))
            .count();
        assert_eq!(series, MAX_MEMBER_SERIES);
    }
}
