//! The Graph API version part of the report: how close the configured version is to the day
//! Meta stops serving it (OK, then WARNING within 90 days, CRITICAL within 14 or past it).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::Status;
use crate::config::GraphSettings;
use crate::graph::versions::{NEWEST_VERSION, SunsetLevel, level, sunset_of, sunset_words};

/// The configured version in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct GraphVersionReport {
    pub status: Status,
    pub version: String,
    /// The last usable day, `YYYY-MM-DD`.
    pub sunset: String,
    /// Days until then; negative once past.
    pub days_left: i64,
    pub newest: &'static str,
    /// What to do, when there is something to do.
    pub action_hint: Option<String>,
}

/// `None` when no end date is known for the configured version (a new one).
pub fn graph_version_report(
    graph: &GraphSettings,
    now: DateTime<Utc>,
) -> Option<GraphVersionReport> {
    let sunset = sunset_of(&graph.version, &graph.sunsets)?;
    let (days_left, level) = level(sunset, now.date_naive());
    let status = match level {
        SunsetLevel::Fine => Status::Ok,
        SunsetLevel::Warning => Status::Warning,
        SunsetLevel::Critical => Status::Critical,
    };
    Some(GraphVersionReport {
        status,
        version: graph.version.clone(),
        sunset: sunset.to_string(),
        days_left,
        newest: NEWEST_VERSION,
        action_hint: (status != Status::Ok)
            .then(|| sunset_words(&graph.version, sunset, days_left)),
    })
}

/// The report's line for people: `graph: v21.0 stops on 2027-01-21 (45 days) ...`.
pub fn graph_version_line(report: &GraphVersionReport) -> String {
    match &report.action_hint {
        Some(hint) => format!("graph: {} - {hint}", report.status.label()),
        None => format!(
            "graph: OK - {} is served until {} ({} days)",
            report.version, report.sunset, report.days_left
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(version: &str, sunsets: &[(&str, &str)]) -> GraphSettings {
        GraphSettings {
            version: version.to_string(),
            sunsets: sunsets
                .iter()
                .map(|(v, d)| (v.to_string(), d.parse().unwrap()))
                .collect(),
            ..GraphSettings::default()
        }
    }

    #[test]
    fn the_configured_version_is_graded_by_its_end_date() {
        let now: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        let v21 = graph_version_report(&graph("v21.0", &[]), now).unwrap();
        assert_eq!((v21.status, v21.days_left), (Status::Warning, 45));
        assert!(v21.action_hint.unwrap().contains("v27.0"));
        let fine = graph_version_report(&GraphSettings::default(), now).unwrap();
        assert_eq!(fine.status, Status::Ok);
        assert!(fine.action_hint.is_none());
        let soon = graph_version_report(&graph("v27.0", &[("v27.0", "2026-12-14")]), now).unwrap();
        assert_eq!(soon.status, Status::Critical);
        assert!(graph_version_report(&graph("v27.0", &[]), now).is_none());
    }
}
