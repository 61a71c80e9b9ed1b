//! The Graph API version part of the report: how close the configured version is to the day
//! Meta stops serving it (OK, then WARNING within 90 days, CRITICAL within 14 or past it), and
//! whether Meta already answers its calls as another version (at least WARNING).

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::model::Status;
use crate::config::GraphSettings;
use crate::graph::upgrade_words;
use crate::graph::versions::{NEWEST_VERSION, SunsetLevel, level, sunset_of, sunset_words};

/// The configured version in the JSON report.
#[derive(Debug, Clone, Serialize)]
pub struct GraphVersionReport {
    pub status: Status,
    pub version: String,
    /// The last usable day, `YYYY-MM-DD`; `null` when none is known (the part is then there
    /// only because a call was upgraded).
    pub sunset: Option<String>,
    /// Days until then; negative once past; `null` without a day.
    pub days_left: Option<i64>,
    pub newest: &'static str,
    /// The version Meta answered the configured version's calls with (its
    /// `facebook-api-version` header), when another: the calls were upgraded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_as: Option<String>,
    /// What to do, when there is something to do.
    pub action_hint: Option<String>,
}

/// `None` when no end date is known for the configured version (a new one) and no call was
/// upgraded. `served_as` is the version Meta answered the configured version's calls with,
/// when another.
pub fn graph_version_report(
    graph: &GraphSettings,
    served_as: Option<&str>,
    now: DateTime<Utc>,
) -> Option<GraphVersionReport> {
    let version = &graph.version;
    let served_as = served_as.filter(|served| served != version);
    let sunset = sunset_of(version, &graph.sunsets);
    let graded = sunset.map(|day| (day, level(day, now.date_naive())));
    if graded.is_none() && served_as.is_none() {
        return None;
    }
    let by_date = match graded.map(|(_, (_, level))| level) {
        None | Some(SunsetLevel::Fine) => Status::Ok,
        Some(SunsetLevel::Warning) => Status::Warning,
        Some(SunsetLevel::Critical) => Status::Critical,
    };
    // An upgraded call is news whatever the table says: at least a WARNING.
    let status = match served_as {
        Some(_) => by_date.max(Status::Warning),
        None => by_date,
    };
    let action_hint = match (served_as, graded) {
        (Some(served), _) => Some(upgrade_words(version, served)),
        (None, Some((day, (days, _)))) if status != Status::Ok => {
            Some(sunset_words(version, day, days))
        }
        (None, _) => None,
    };
    Some(GraphVersionReport {
        status,
        version: version.clone(),
        sunset: sunset.map(|day| day.to_string()),
        days_left: graded.map(|(_, (days, _))| days),
        newest: NEWEST_VERSION,
        served_as: served_as.map(str::to_string),
        action_hint,
    })
}

/// The report's line for people: `graph: WARNING - Graph API v21.0 stops on 2027-01-21 ...`.
pub fn graph_version_line(report: &GraphVersionReport) -> String {
    match (&report.action_hint, &report.sunset, report.days_left) {
        (Some(hint), _, _) => format!("graph: {} - {hint}", report.status.label()),
        (None, Some(sunset), Some(days)) => format!(
            "graph: OK - {} is served until {sunset} ({days} days)",
            report.version
        ),
        (None, _, _) => format!("graph: OK - {}", report.version),
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
        let v21 = graph_version_report(&graph("v21.0", &[]), None, now).unwrap();
        assert_eq!((v21.status, v21.days_left), (Status::Warning, Some(45)));
        assert!(v21.action_hint.unwrap().contains("v27.0"));
        let fine = graph_version_report(&GraphSettings::default(), None, now).unwrap();
        assert_eq!(fine.status, Status::Ok);
        assert!(fine.action_hint.is_none());
        let soon =
            graph_version_report(&graph("v27.0", &[("v27.0", "2026-12-14")]), None, now).unwrap();
        assert_eq!(soon.status, Status::Critical);
        assert!(graph_version_report(&graph("v27.0", &[]), None, now).is_none());
    }

    #[test]
    fn an_upgraded_call_is_at_least_a_warning_naming_both_versions() {
        let now: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        let fine = GraphSettings::default();
        let upgraded = graph_version_report(&fine, Some("v26.0"), now).unwrap();
        assert_eq!(upgraded.status, Status::Warning);
        assert_eq!(upgraded.served_as.as_deref(), Some("v26.0"));
        let hint = upgraded.action_hint.clone().unwrap();
        assert!(hint.contains("v25.0") && hint.contains("v26.0"), "{hint}");
        assert!(graph_version_line(&upgraded).starts_with("graph: WARNING - Meta answered"));
        let json = serde_json::to_value(&upgraded).unwrap();
        assert_eq!(json["served_as"], "v26.0");
        // The same version in the header is no upgrade, and leaves `served_as` out.
        let same = graph_version_report(&fine, Some("v25.0"), now).unwrap();
        assert_eq!((same.status, same.served_as.clone()), (Status::Ok, None));
        assert!(
            serde_json::to_value(&same)
                .unwrap()
                .get("served_as")
                .is_none()
        );
        // Past its day it stays CRITICAL; with no day known it is still reported.
        let past = graph_version_report(&graph("v20.0", &[]), Some("v22.0"), now).unwrap();
        assert_eq!(past.status, Status::Critical);
        let unknown = graph_version_report(&graph("v17.0", &[]), Some("v22.0"), now).unwrap();
        assert_eq!(unknown.status, Status::Warning);
        assert_eq!((unknown.sunset, unknown.days_left), (None, None));
        assert!(graph_version_report(&graph("v17.0", &[]), None, now).is_none());
    }
}
