//! The routes, the bearer-token check and the answers' shapes.
//!
//! `/metrics` and `/status` need the bearer token when one is configured; `/healthz` and
//! `/readyz` say nothing about the tokens and stay open, as probes expect.

use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use secrecy::SecretString;

use super::metrics::Format;
use super::monitor::{MonitorLink, Query};
use crate::bearer::BearerCheck;

/// How long `/healthz` waits for the engine's pong.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

const ENDPOINTS: &str =
    "tokentop serves: /metrics (Prometheus), /healthz, /readyz, /status (check --json)\n";

pub fn router(monitor: MonitorLink, bearer_token: Option<SecretString>) -> Router {
    let protected = Router::new()
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route_layer(middleware::from_fn_with_state(
            BearerCheck::new(bearer_token.as_ref()),
            require_bearer,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(protected)
        .fallback(not_found)
        .with_state(monitor)
}

async fn require_bearer(
    State(check): State<BearerCheck>,
    request: Request,
    next: Next,
) -> Response {
    if check.allows(request.headers()) {
        return next.run(request).await;
    }
    let mut response = text(
        StatusCode::UNAUTHORIZED,
        "401 Unauthorized: send `Authorization: Bearer <token>` with the token of [serve] bearer-token\n",
    );
    crate::bearer::add_challenge(response.headers_mut());
    response
}

async fn metrics(State(monitor): State<MonitorLink>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = Format::from_accept(accept);
    let gzip = accepts_gzip(&headers);
    match monitor
        .ask(|reply| Query::Metrics(format, gzip, reply))
        .await
    {
        Some(Ok(body)) => {
            let mut response =
                ([(header::CONTENT_TYPE, format.content_type())], body).into_response();
            let headers = response.headers_mut();
            headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            if gzip {
                headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
            response
        }
        Some(Err(_)) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500: the metrics could not be encoded\n",
        ),
        None => stopped(),
    }
}

/// True when `Accept-Encoding` lists gzip without `q=0`, as Prometheus sends it.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or("");
            let refused =
                parts.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0");
            name.eq_ignore_ascii_case("gzip") && !refused
        })
}

async fn status(State(monitor): State<MonitorLink>) -> Response {
    let Some(report) = monitor.ask(Query::Status).await else {
        return stopped();
    };
    match serde_json::to_string_pretty(&report) {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json + "\n").into_response(),
        Err(_) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500: the status could not be encoded\n",
        ),
    }
}

async fn healthz(State(monitor): State<MonitorLink>) -> Response {
    match tokio::time::timeout(HEALTH_TIMEOUT, monitor.ask(Query::Health)).await {
        Ok(Some(())) => text(StatusCode::OK, "ok\n"),
        Ok(None) => stopped(),
        Err(_) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "503: the engine did not answer within 2 s\n",
        ),
    }
}

async fn readyz(State(monitor): State<MonitorLink>) -> Response {
    match monitor.ask(Query::Ready).await {
        Some(Ok(())) => text(StatusCode::OK, "ready\n"),
        Some(Err(waiting)) => text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "503: waiting for the first inspection of: {}\n",
                waiting.join(", ")
            ),
        ),
        None => stopped(),
    }
}

async fn not_found() -> Response {
    text(
        StatusCode::NOT_FOUND,
        &format!("404 Not Found. {ENDPOINTS}"),
    )
}

fn stopped() -> Response {
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "503: the engine has stopped\n",
    )
}

fn text(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}
