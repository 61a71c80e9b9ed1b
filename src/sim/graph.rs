//! Serving one Graph request: request counts, injected faults, routing, usage headers and the
//! version that answered.

use std::time::Duration;

use axum::http::StatusCode;

use super::batch;
use super::envelope::{GraphError, GraphResponse};
use super::faults::Fault;
use super::node_auth::{Caller, authenticate, token_required};
use super::request::{GraphRequest, Route};
use super::state::{SimHandle, now_unix};
use super::usage::{APP_USAGE_HEADER, BUSINESS_USAGE_HEADER, UseCase};
use super::versions::API_VERSION_HEADER;
use super::{analytics, media, messages, oauth, phone, signup};

/// What a malformed-body fault answers: the start of a debug_token reply, cut off.
const TRUNCATED_BODY: &str = r#"{"data":{"app_id":"100000000000001","type":"USER","applicat"#;

/// Serves a Graph request that arrived over HTTP, naming the version that answered it in
/// `facebook-api-version` (a dead version's calls are served as a live one, without an error).
pub(crate) async fn serve(sim: &SimHandle, request: GraphRequest) -> GraphResponse {
    let served = sim.served_version(request.version());
    answer(sim, request)
        .await
        .with_header(API_VERSION_HEADER, served)
}

/// Counts a request, applies faults, then routes it.
async fn answer(sim: &SimHandle, request: GraphRequest) -> GraphResponse {
    let faults = {
        let mut state = sim.lock();
        state.stats.total += 1;
        state.count(request.endpoint());
        state.faults.clone()
    };
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let now = now_unix();
    if let Some(fault) = faults.draw() {
        return fault_response(sim, &request, fault, now);
    }
    match request.route() {
        Route::Batch => match authenticate(sim, &request, now) {
            Ok(_) => batch::run(sim, &request, now),
            Err(error) => with_usage(sim, error.response(), None, now, false),
        },
        _ => route_one(sim, &request, now),
    }
}

/// The phone or WABA a token-carrying call is about, and the budget it draws on.
fn business_target(request: &GraphRequest) -> Option<(String, UseCase)> {
    match request.route() {
        Route::Messages { phone_id } | Route::Media { phone_id } => {
            Some((phone_id, UseCase::Messaging))
        }
        Route::Node { id } => Some((id, UseCase::Management)),
        _ => None,
    }
}

/// Answers one request (a direct call or a batch item) without faults, with usage headers.
pub(crate) fn route_one(sim: &SimHandle, request: &GraphRequest, now: i64) -> GraphResponse {
    let target = business_target(request);
    {
        let mut state = sim.lock();
        state.usage.record_app_call(now);
        if let Some((id, use_case)) = &target {
            state.usage.record_business_call(now, id, *use_case);
        }
    }
    // Authentication comes before routing: only a valid token learns a path does not exist.
    let caller = match authenticate(sim, request, now) {
        Ok(caller) => caller,
        Err(error) => {
            let business_id = target.as_ref().map(|(id, _)| id.as_str());
            return with_usage(sim, error.response(), business_id, now, false);
        }
    };
    let response = match request.route() {
        Route::DebugToken => oauth::debug_token(sim, request, now),
        Route::Exchange => oauth::exchange(sim, request, now),
        Route::Revoke => oauth::revoke(sim, request, now),
        Route::Messages { phone_id } => messages::send(sim, request, &phone_id, now),
        Route::Media { phone_id } => media::upload(sim, request, &phone_id, now),
        Route::Node { id } if request.is_analytics() => {
            analytics::analytics(sim, request, &id, now)
        }
        Route::Node { id } => phone::fields(sim, request, &id, now),
        Route::Batch => GraphError::invalid_param(
            "(#100) A batch must be sent as POST / with the parameter batch; batches do not nest",
        )
        .response(),
        Route::Unknown { .. } if signup::serves(request) => signup::serve(sim, request, now),
        // Without a token nothing is learnt about the path either.
        Route::Unknown { .. } if matches!(caller, Caller::Anonymous) => token_required().response(),
        Route::Unknown { object } => {
            GraphError::unsupported(request.method.as_str(), &object).response()
        }
    };
    with_usage(
        sim,
        response,
        target.as_ref().map(|(id, _)| id.as_str()),
        now,
        false,
    )
}

fn with_usage(
    sim: &SimHandle,
    response: GraphResponse,
    business_id: Option<&str>,
    now: i64,
    throttled: bool,
) -> GraphResponse {
    let mut state = sim.lock();
    let response = response.with_header(APP_USAGE_HEADER, state.usage.app_header(now, throttled));
    match business_id {
        Some(id) => response.with_header(
            BUSINESS_USAGE_HEADER,
            state.usage.business_header(now, id, throttled),
        ),
        None => response,
    }
}

fn fault_response(
    sim: &SimHandle,
    request: &GraphRequest,
    fault: Fault,
    now: i64,
) -> GraphResponse {
    let target = business_target(request);
    let business_id = target.as_ref().map(|(id, _)| id.as_str());
    match fault {
        Fault::ServerError => {
            let status = if rand::random::<bool>() {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            let error = GraphError::new(
                status,
                2,
                "An unexpected error has occurred. Please retry your request later.",
            )
            .transient();
            with_usage(sim, error.response(), business_id, now, false)
        }
        Fault::RateLimit => {
            let error = if request.is_analytics() {
                GraphError::new(StatusCode::BAD_REQUEST, 80007, "(#80007) Rate limit issues")
            } else {
                GraphError::new(
                    StatusCode::BAD_REQUEST,
                    4,
                    "(#4) Application request limit reached",
                )
                .transient()
            };
            with_usage(sim, error.response(), business_id, now, true)
        }
        Fault::Malformed => {
            let response = GraphResponse {
                status: StatusCode::OK,
                body: TRUNCATED_BODY.to_string(),
                headers: Vec::new(),
            };
            with_usage(sim, response, business_id, now, false)
        }
    }
}
