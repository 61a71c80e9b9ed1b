//! Webhook control endpoints under `/_sim/webhooks`: the target, the counters, and account,
//! quality and template events to post. Never faulted, like every `/_sim/` endpoint.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::control::{bad_request, parse_body};
use super::state::SimHandle;
use super::webhook_events::{
    AccountUpdate, PhoneQualityUpdate, TemplateQualityUpdate, TemplateStatusUpdate,
};
use super::webhook_settings::WebhookError;

/// `PUT /_sim/webhooks/target` body: a URL, or `null` to stop posting. The secret is never
/// sent here: it comes from the environment the simulator started with, or is the app's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetRequest {
    url: Option<String>,
}

pub(crate) fn router() -> Router<SimHandle> {
    Router::new()
        .route("/_sim/webhooks", get(counters))
        .route(
            "/_sim/webhooks/target",
            post(set_target).put(set_target).delete(clear_target),
        )
        .route("/_sim/webhooks/account_update", post(account_update))
        .route("/_sim/webhooks/phone_quality", post(phone_quality))
        .route("/_sim/webhooks/template_status", post(template_status))
        .route("/_sim/webhooks/template_quality", post(template_quality))
}

/// The counters with the target URL beside them.
async fn counters(State(sim): State<SimHandle>) -> Response {
    tracing::debug!("GET /_sim/webhooks");
    let mut body = json!(sim.webhook_stats());
    body["target"] = json!(sim.webhook_target());
    Json(body).into_response()
}

async fn set_target(State(sim): State<SimHandle>, body: Bytes) -> Response {
    tracing::debug!("PUT /_sim/webhooks/target");
    let request: TargetRequest = match parse_body(&body) {
        Ok(request) => request,
        Err(message) => return bad_request(message),
    };
    match request.url {
        Some(url) => {
            if let Err(err) = sim.set_webhook_target(&url, None) {
                return refused(err);
            }
        }
        None => sim.clear_webhook_target(),
    }
    Json(json!({"target": sim.webhook_target()})).into_response()
}

async fn clear_target(State(sim): State<SimHandle>) -> Response {
    tracing::debug!("DELETE /_sim/webhooks/target");
    sim.clear_webhook_target();
    Json(json!({"target": null})).into_response()
}

async fn account_update(State(sim): State<SimHandle>, body: Bytes) -> Response {
    tracing::debug!("POST /_sim/webhooks/account_update");
    match parse_body::<AccountUpdate>(&body) {
        Ok(update) => posted(sim.post_account_update(&update)),
        Err(message) => bad_request(message),
    }
}

async fn phone_quality(State(sim): State<SimHandle>, body: Bytes) -> Response {
    tracing::debug!("POST /_sim/webhooks/phone_quality");
    match parse_body::<PhoneQualityUpdate>(&body) {
        Ok(update) => posted(sim.post_phone_quality(&update)),
        Err(message) => bad_request(message),
    }
}

async fn template_status(State(sim): State<SimHandle>, body: Bytes) -> Response {
    tracing::debug!("POST /_sim/webhooks/template_status");
    match parse_body::<TemplateStatusUpdate>(&body) {
        Ok(update) => posted(sim.post_template_status(&update)),
        Err(message) => bad_request(message),
    }
}

async fn template_quality(State(sim): State<SimHandle>, body: Bytes) -> Response {
    tracing::debug!("POST /_sim/webhooks/template_quality");
    match parse_body::<TemplateQualityUpdate>(&body) {
        Ok(update) => posted(sim.post_template_quality(&update)),
        Err(message) => bad_request(message),
    }
}

/// `{"posted": BODY}`: the payload as it went out (its bytes are this JSON, serialised once).
fn posted(result: Result<Value, WebhookError>) -> Response {
    match result {
        Ok(body) => Json(json!({"posted": body})).into_response(),
        Err(err) => refused(err),
    }
}

fn refused(err: WebhookError) -> Response {
    match err {
        WebhookError::NoTarget => (
            StatusCode::CONFLICT,
            Json(json!({"message": err.to_string()})),
        )
            .into_response(),
        WebhookError::Invalid(message) => bad_request(message),
    }
}
