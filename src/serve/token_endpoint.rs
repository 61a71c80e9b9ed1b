//! `GET /v1/accounts/{name}/token` (`[serve] token-endpoint = true`): an account's current token
//! for External Secrets Operator's webhook provider and the like, to readers that show their own
//! bearer; a token that must not be handed out answers 503 with the reason, so the consumer
//! keeps its last good copy. Every read is counted and logged, never with the token.
//!
//! The answers: 200 with the token, 401 without a reader's bearer (the metrics bearer-token
//! included), 404 for a name that is no account, 403 for a reader not allowed the account.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use secrecy::ExposeSecret;

use super::token_metrics::{NO_READER, ReadResult, TokenReadMetrics, UNKNOWN_ACCOUNT};
use crate::bearer::BearerCheck;
use crate::config::{DEFAULT_READER, Settings};
use crate::engine::broker::{TokenBroker, TokenReading};

/// The route, for the docs and the startup line.
pub const ROUTE: &str = "/v1/accounts/{name}/token";

/// Longest part of an unknown account name that is logged (it is anyone's input).
const LOGGED_NAME_CHARS: usize = 40;

/// A client of the endpoint: its name, its bearer, and the accounts it may read.
struct Reader {
    name: String,
    check: BearerCheck,
    /// `None`: every account.
    accounts: Option<HashSet<String>>,
}

impl Reader {
    fn may_read(&self, account: &str) -> bool {
        self.accounts.as_ref().is_none_or(|a| a.contains(account))
    }
}

/// What the handler needs; one per listener.
pub struct TokenEndpoint {
    broker: TokenBroker,
    accounts: HashSet<String>,
    readers: Vec<Reader>,
    /// `[serve] bearer-token`, told apart only to say why it is refused here.
    metrics_bearer: Option<BearerCheck>,
    metrics: TokenReadMetrics,
}

impl TokenEndpoint {
    /// The endpoint of `settings`, counting into `metrics`.
    pub fn new(settings: &Settings, broker: TokenBroker, metrics: TokenReadMetrics) -> Self {
        let serve = &settings.serve;
        let default = serve.token_bearer.as_ref().map(|bearer| Reader {
            name: DEFAULT_READER.to_string(),
            check: BearerCheck::new(Some(bearer)),
            accounts: None,
        });
        let configured = serve.token_readers.iter().map(|reader| Reader {
            name: reader.name.clone(),
            check: BearerCheck::new(Some(&reader.bearer)),
            accounts: reader
                .accounts
                .as_ref()
                .map(|a| a.iter().cloned().collect()),
        });
        Self {
            broker,
            accounts: settings.accounts.iter().map(|a| a.name.clone()).collect(),
            readers: default.into_iter().chain(configured).collect(),
            metrics_bearer: serve
                .bearer_token
                .as_ref()
                .map(|t| BearerCheck::new(Some(t))),
            metrics,
        }
    }

    /// The reader whose bearer the request carries. Every reader's check runs, whichever
    /// matches, so the time taken does not tell how many there are before the right one.
    fn reader(&self, headers: &HeaderMap) -> Option<&Reader> {
        let mut found = None;
        for reader in &self.readers {
            if reader.check.allows(headers) && found.is_none() {
                found = Some(reader);
            }
        }
        found
    }

    /// Counts and logs one read; the reason of a refusal is the broker's (never the token).
    fn note(&self, account: &str, reader: &str, result: ReadResult, why: Option<&str>) {
        self.metrics
            .record(account, reader, result, chrono::Utc::now().timestamp());
        let result = result.as_str();
        match why {
            Some(why) => tracing::info!(
                "token endpoint: account {account}, reader {reader}: {result} ({why})"
            ),
            None => tracing::info!("token endpoint: account {account}, reader {reader}: {result}"),
        }
    }
}

pub fn router(endpoint: Arc<TokenEndpoint>) -> Router {
    Router::new()
        .route(ROUTE, get(read_token))
        .with_state(endpoint)
}

async fn read_token(
    State(endpoint): State<Arc<TokenEndpoint>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Response {
    let known = endpoint.accounts.contains(&name);
    let label = if known {
        name.as_str()
    } else {
        UNKNOWN_ACCOUNT
    };
    let Some(reader) = endpoint.reader(&headers) else {
        let metrics_bearer = endpoint
            .metrics_bearer
            .is_some_and(|check| check.allows(&headers));
        let why = if metrics_bearer {
            "the metrics bearer-token does not read tokens"
        } else {
            "no token reader's bearer"
        };
        endpoint.note(label, NO_READER, ReadResult::Unauthorized, Some(why));
        return unauthorized(metrics_bearer);
    };
    if !known {
        let shown: String = name.chars().take(LOGGED_NAME_CHARS).collect();
        let why = format!("asked for {shown:?}");
        endpoint.note(label, &reader.name, ReadResult::NotFound, Some(&why));
        return error(StatusCode::NOT_FOUND, "no account of that name");
    }
    if !reader.may_read(&name) {
        endpoint.note(&name, &reader.name, ReadResult::Forbidden, None);
        let why = format!("token reader {} may not read account {name}", reader.name);
        return error(StatusCode::FORBIDDEN, &why);
    }
    match endpoint.broker.read_current(&name, &reader.name) {
        Ok(reading) => {
            endpoint.note(&name, &reader.name, ReadResult::Ok, None);
            token_answer(&reading)
        }
        Err(refused) => {
            endpoint.note(
                &name,
                &reader.name,
                ReadResult::Refused,
                Some(&refused.message),
            );
            error(StatusCode::SERVICE_UNAVAILABLE, &refused.message)
        }
    }
}

/// 200 with the token.
fn token_answer(reading: &TokenReading) -> Response {
    let body = serde_json::json!({
        "token": reading.token.expose_secret(),
        "expires_at": reading.expires_at,
        "version": reading.version,
        "refreshed_at": reading.refreshed_at,
    });
    json(StatusCode::OK, &body)
}

fn unauthorized(metrics_bearer: bool) -> Response {
    let message = if metrics_bearer {
        "this is [serve] bearer-token, which reads /metrics and /status only; send [serve] token-bearer or a [[serve.token-reader]] bearer"
    } else {
        "send `Authorization: Bearer <token>` with [serve] token-bearer or a [[serve.token-reader]] bearer"
    };
    let mut response = error(StatusCode::UNAUTHORIZED, message);
    crate::bearer::add_challenge(response.headers_mut());
    response
}

fn error(status: StatusCode, message: &str) -> Response {
    json(status, &serde_json::json!({ "error": message }))
}

/// Every answer, the token's above all, is kept by no cache on the way (`no-store`).
fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        format!("{body}\n"),
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
