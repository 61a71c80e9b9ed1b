//! Graph API versions in the simulator: the `facebook-api-version` header of every Graph
//! answer, and versions declared dead through `/_sim/versions` (never faulted).
//!
//! As Meta documents (REFERENCE.md section 15), a call to a dead version is not refused: it is
//! served as the oldest version still live, and only the header says so. Meta ends versions
//! in order, so declaring a version dead ends every older one with it. An unversioned call is
//! answered in the app's default version, the newest.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::control::{bad_request, parse_body};
use super::state::SimHandle;
use crate::graph::versions::{NEWEST_VERSION, RELEASED_VERSIONS, version_number};

/// The header naming the version that produced an answer.
pub(crate) const API_VERSION_HEADER: &str = crate::graph::API_VERSION_HEADER;

/// The version of unversioned calls: the app's default (a new app's is the newest).
const APP_DEFAULT_VERSION: &str = NEWEST_VERSION;

/// Longest text of a refused name quoted back in an error.
const MAX_QUOTED_CHARS: usize = 24;

/// `POST /_sim/versions` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeadRequest {
    dead: Vec<String>,
}

/// Which versions are dead and how calls are served; what `GET /_sim/versions` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimVersions {
    /// Dead versions, oldest first: each one declared and every older one.
    pub dead: Vec<String>,
    /// The version a call to a dead version is served as.
    pub oldest_live: String,
    /// The version an unversioned call is answered in.
    pub app_default: String,
}

pub(crate) fn router() -> Router<SimHandle> {
    Router::new().route(
        "/_sim/versions",
        get(current).post(set_dead).delete(revive_all),
    )
}

async fn current(State(sim): State<SimHandle>) -> Response {
    tracing::debug!("GET /_sim/versions");
    Json(sim.versions()).into_response()
}

async fn set_dead(State(sim): State<SimHandle>, body: Bytes) -> Response {
    tracing::debug!("POST /_sim/versions");
    let request: DeadRequest = match parse_body(&body) {
        Ok(request) => request,
        Err(message) => return bad_request(message),
    };
    let names: Vec<&str> = request.dead.iter().map(String::as_str).collect();
    match sim.set_dead_versions(&names) {
        Ok(versions) => Json(versions).into_response(),
        Err(message) => bad_request(message),
    }
}

async fn revive_all(State(sim): State<SimHandle>) -> Response {
    tracing::debug!("DELETE /_sim/versions");
    sim.revive_versions();
    Json(sim.versions()).into_response()
}

impl SimHandle {
    /// Declares `dead` (and every older version) dead: their calls are served as the oldest
    /// live version from now on, without an error. An empty list revives every version. The
    /// error names the refused version and what is allowed: released versions except the
    /// newest, which must stay live to serve the others' calls.
    pub fn set_dead_versions(&self, dead: &[&str]) -> Result<SimVersions, String> {
        let mut newest_dead = None;
        for name in dead {
            let index = released_index(name)?;
            newest_dead = newest_dead.max(Some(index));
        }
        self.lock().newest_dead_version = newest_dead;
        Ok(self.versions())
    }

    /// Every version is live again.
    pub fn revive_versions(&self) {
        self.lock().newest_dead_version = None;
    }

    /// Which versions are dead and how calls are served.
    pub fn versions(&self) -> SimVersions {
        let newest_dead = self.lock().newest_dead_version;
        let live_from = newest_dead.map_or(0, |index| index + 1);
        SimVersions {
            dead: RELEASED_VERSIONS[..live_from]
                .iter()
                .map(|v| v.to_string())
                .collect(),
            oldest_live: oldest_live(newest_dead).to_string(),
            app_default: APP_DEFAULT_VERSION.to_string(),
        }
    }

    /// The version that answers a call to `requested` (`None`: an unversioned path).
    pub(crate) fn served_version(&self, requested: Option<&str>) -> String {
        let Some(requested) = requested else {
            return APP_DEFAULT_VERSION.to_string();
        };
        let newest_dead = self.lock().newest_dead_version;
        let dead_through = newest_dead.and_then(|index| version_number(RELEASED_VERSIONS[index]));
        match (version_number(requested), dead_through) {
            (Some(asked), Some(through)) if asked <= through => {
                oldest_live(newest_dead).to_string()
            }
            _ => requested.to_string(),
        }
    }
}

/// The first released version after the newest dead one (the newest is never dead).
fn oldest_live(newest_dead: Option<usize>) -> &'static str {
    let index = newest_dead.map_or(0, |index| index + 1);
    RELEASED_VERSIONS
        .get(index)
        .copied()
        .unwrap_or(NEWEST_VERSION)
}

/// Where `name` is in the released list, if it may be declared dead.
fn released_index(name: &str) -> Result<usize, String> {
    let allowed = RELEASED_VERSIONS[..RELEASED_VERSIONS.len() - 1].join(", ");
    let quoted: String = name.chars().take(MAX_QUOTED_CHARS).collect();
    if name == NEWEST_VERSION {
        return Err(format!(
            "field `dead`: {NEWEST_VERSION} is the newest version and stays live (calls to dead \
             versions are served by it or an older live one); allowed: {allowed}"
        ));
    }
    match RELEASED_VERSIONS.iter().position(|v| *v == name) {
        Some(index) => Ok(index),
        None if version_number(name).is_some() => Err(format!(
            "field `dead`: {quoted:?} is not a version the simulator serves; allowed: {allowed}"
        )),
        None => Err(format!(
            "field `dead`: {quoted:?} is not a Graph API version (`v` + digits + `.` + digits); \
             allowed: {allowed}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimConfig;

    #[test]
    fn a_dead_version_and_every_older_one_are_served_as_the_oldest_live() {
        let sim = SimHandle::new(SimConfig::default());
        assert_eq!(sim.served_version(Some("v21.0")), "v21.0");
        assert_eq!(sim.versions().dead, Vec::<String>::new());
        let versions = sim.set_dead_versions(&["v21.0"]).unwrap();
        assert_eq!(versions.dead, ["v20.0", "v21.0"]);
        assert_eq!(versions.oldest_live, "v22.0");
        for (asked, served) in [
            (Some("v21.0"), "v22.0"),
            (Some("v20.0"), "v22.0"),
            (Some("v19.0"), "v22.0"),
            (Some("v22.0"), "v22.0"),
            (Some("v25.0"), "v25.0"),
            (Some("v99999999999.0"), "v99999999999.0"),
            (None, NEWEST_VERSION),
        ] {
            assert_eq!(sim.served_version(asked), served, "{asked:?}");
        }
        sim.set_dead_versions(&["v23.0", "v20.0"]).unwrap();
        assert_eq!(sim.served_version(Some("v22.0")), "v24.0");
        sim.revive_versions();
        assert_eq!(sim.served_version(Some("v21.0")), "v21.0");
    }

    #[test]
    fn refusals_name_the_field_and_what_is_allowed() {
        let sim = SimHandle::new(SimConfig::default());
        sim.set_dead_versions(&["v21.0"]).unwrap();
        for bad in ["v27.0", "v19.0", "21.0", "v21.0; x"] {
            let message = sim.set_dead_versions(&["v22.0", bad]).unwrap_err();
            assert!(message.starts_with("field `dead`: "), "{message}");
            assert!(message.contains("allowed: v20.0, v21.0"), "{message}");
            assert!(!message.contains("v27.0,"), "{message}");
        }
        // A refused list changes nothing.
        assert_eq!(sim.versions().oldest_live, "v22.0");
        let long = "x".repeat(10_000);
        assert!(sim.set_dead_versions(&[&long]).unwrap_err().len() < 200);
    }
}
