//! The cluster part of the report (with `[cluster]`): whether Redis answered, and since when.
//!
//! A pure function of the coordinator's last status, so the rule is unit-tested without a Redis.

use serde::Serialize;

use super::model::Status;
use crate::engine::coordinator::ClusterStatus;

/// What to do while Redis is unreachable.
pub const CLUSTER_REMEDY: &str = "check [cluster] redis-url and that Redis is up; tokentop keeps using the cached token meanwhile";

/// The cluster in the JSON report: the coordinator's status (members, leases, latency,
/// reachability) and what `check` makes of it.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterReport {
    pub status: Status,
    /// `Redis ok, 0.4 ms, 3 members` or `Redis unreachable since 2026-… UTC`.
    pub summary: String,
    pub action_hint: Option<String>,
    /// The coordinator's last status; absent when none came while `check` ran.
    #[serde(flatten)]
    pub cluster: Option<ClusterStatus>,
}

/// OK while Redis answers; WARNING when it is unreachable or said nothing while `check` ran
/// (tokens keep working from the cache, but nothing is shared).
pub fn cluster_report(status: Option<&ClusterStatus>) -> ClusterReport {
    let Some(status) = status else {
        return ClusterReport {
            status: Status::Warning,
            summary: "no status from the cluster coordinator yet".to_string(),
            action_hint: Some(CLUSTER_REMEDY.to_string()),
            cluster: None,
        };
    };
    let mut summary = status.summary();
    if status.reachable {
        return ClusterReport {
            status: Status::Ok,
            summary,
            action_hint: None,
            cluster: Some(status.clone()),
        };
    }
    if let Some(error) = &status.last_error {
        summary.push_str(&format!(": {error}"));
    }
    ClusterReport {
        status: Status::Warning,
        summary,
        action_hint: Some(CLUSTER_REMEDY.to_string()),
        cluster: Some(status.clone()),
    }
}

/// `cluster: Redis ok, 0.4 ms, 3 members`, and what to do on the next line when Redis is not.
pub fn cluster_line(report: &ClusterReport) -> String {
    let mut line = format!("cluster: {}", report.summary);
    if let Some(hint) = &report.action_hint {
        line.push_str(&format!("\n  what to do: {hint}"));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::coordinator::{LeaseHolder, MemberBeat};
    use chrono::{TimeZone, Utc};

    fn reachable() -> ClusterStatus {
        let at = Utc.with_ymd_and_hms(2026, 3, 14, 14, 3, 12).unwrap();
        let beat = |member: &str, this_process| MemberBeat {
            member: member.to_string(),
            last_seen: at,
            this_process,
        };
        ClusterStatus {
            backend: "redis".to_string(),
            endpoint: "redis://tokentop@redis.internal:6379/0".to_string(),
            member: "web-1".to_string(),
            reachable: true,
            unreachable_since: None,
            last_error: None,
            latency_ms: Some(0.42),
            members: vec![
                beat("web-1", true),
                beat("web-2", false),
                beat("web-3", false),
            ],
            leases: vec![LeaseHolder {
                account: "production".to_string(),
                holder: "web-2".to_string(),
                fence: 17,
            }],
            checked_at: at,
        }
    }

    fn unreachable() -> ClusterStatus {
        ClusterStatus {
            reachable: false,
            unreachable_since: Some(Utc.with_ymd_and_hms(2026, 3, 14, 13, 58, 0).unwrap()),
            last_error: Some("Connection refused (os error 111)".to_string()),
            latency_ms: None,
            members: Vec::new(),
            leases: Vec::new(),
            ..reachable()
        }
    }

    #[test]
    fn a_reachable_redis_is_ok_with_latency_and_members() {
        let report = cluster_report(Some(&reachable()));
        assert_eq!(report.status, Status::Ok);
        assert_eq!(
            cluster_line(&report),
            "cluster: Redis ok, 0.4 ms, 3 members"
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["status"], "OK");
        assert_eq!(json["reachable"], true);
        assert_eq!(json["latency_ms"], 0.42);
        assert_eq!(json["members"][1]["member"], "web-2");
        assert_eq!(json["leases"][0]["holder"], "web-2");
        assert_eq!(json["leases"][0]["fence"], 17);
        assert!(json.get("unreachable_since").is_none(), "{json}");
    }

    #[test]
    fn an_unreachable_redis_is_a_warning_saying_since_when_and_what_to_do() {
        let report = cluster_report(Some(&unreachable()));
        assert_eq!(report.status, Status::Warning);
        assert_eq!(
            cluster_line(&report),
            format!(
                "cluster: Redis unreachable since 2026-03-14 13:58:00 UTC: \
                 Connection refused (os error 111)\n  what to do: {CLUSTER_REMEDY}"
            )
        );
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["status"], "WARNING");
        assert_eq!(json["reachable"], false);
        assert_eq!(json["unreachable_since"], "2026-03-14T13:58:00Z");
        assert_eq!(json["action_hint"], CLUSTER_REMEDY);
    }

    #[test]
    fn unreachable_without_a_time_still_says_unreachable() {
        let mut status = unreachable();
        status.unreachable_since = None;
        let report = cluster_report(Some(&status));
        assert_eq!(report.status, Status::Warning);
        assert!(
            report
                .summary
                .starts_with("Redis unreachable: Connection refused"),
            "{}",
            report.summary
        );
    }

    #[test]
    fn no_status_while_check_ran_is_a_warning() {
        let report = cluster_report(None);
        assert_eq!(report.status, Status::Warning);
        assert_eq!(report.action_hint.as_deref(), Some(CLUSTER_REMEDY));
        let json = serde_json::to_value(&report).unwrap();
        assert!(json.get("members").is_none(), "{json}");
    }
}
