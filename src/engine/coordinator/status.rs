//! The cluster as one process sees it: members' heartbeats, who holds which lease, the
//! shared store's latency and reachability. Owned data, sent to clients as an event.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// One snapshot of the cluster, from one process's point of view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterStatus {
    /// "redis".
    pub backend: String,
    /// Where, without any password (`redis://user@host:6379/0`).
    pub endpoint: String,
    /// This process's member name.
    pub member: String,
    pub reachable: bool,
    /// Set while unreachable: since when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable_since: Option<DateTime<Utc>>,
    /// The last connection or command error, without secrets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Round trip of the last heartbeat, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Every member seen recently, newest heartbeat first.
    pub members: Vec<MemberBeat>,
    /// Leases held right now, by account.
    pub leases: Vec<LeaseHolder>,
    pub checked_at: DateTime<Utc>,
}

/// A member's last heartbeat.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemberBeat {
    pub member: String,
    pub last_seen: DateTime<Utc>,
    /// True for the process that made this snapshot.
    pub this_process: bool,
}

/// A held refresh lease.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeaseHolder {
    pub account: String,
    pub holder: String,
    pub fence: u64,
}

impl ClusterStatus {
    /// The cluster in words for the dashboard and `check`: "Redis ok, 0.4 ms, 3 members",
    /// "Redis unreachable since 2026-03-14 13:58:00 UTC", or "Redis unreachable" when nobody
    /// noted since when.
    pub fn summary(&self) -> String {
        if !self.reachable {
            let Some(since) = self.unreachable_since else {
                return format!("{} unreachable", self.backend_title());
            };
            return format!(
                "{} unreachable since {}",
                self.backend_title(),
                since.format("%Y-%m-%d %H:%M:%S UTC")
            );
        }
        let latency = self
            .latency_ms
            .map_or_else(String::new, |ms| format!(", {ms:.1} ms"));
        let members = self.members.len();
        let plural = if members == 1 { "" } else { "s" };
        format!(
            "{} ok{latency}, {members} member{plural}",
            self.backend_title()
        )
    }

    fn backend_title(&self) -> &str {
        match self.backend.as_str() {
            "redis" => "Redis",
            other => other,
        }
    }

    /// Who holds `account`'s lease, if anyone.
    pub fn lease_of(&self, account: &str) -> Option<&LeaseHolder> {
        self.leases.iter().find(|l| l.account == account)
    }
}
