//! The proxy's own answers (never Meta's): a Graph-style error envelope, so that SDKs show
//! the message, with `type` = `TokentopProxyError` and the HTTP status as `code` (no Meta
//! error code is ever made up: a client must not mistake these for a 190 or a rate limit).

use axum::http::{Response, StatusCode, header};
use bytes::Bytes;

use super::bodies::{Reply, ToClient};
use super::route::Route;

pub fn proxy_error(status: StatusCode, message: &str) -> Reply {
    let envelope = serde_json::json!({
        "error": {
            "message": format!("tokentop proxy: {message}"),
            "type": "TokentopProxyError",
            "code": status.as_u16(),
        }
    });
    let mut response = Response::new(ToClient::Whole(Bytes::from(envelope.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

/// Why a route was refused, and what to do.
pub fn refused(route: &Route) -> Reply {
    match route {
        Route::Account(_) => proxy_error(StatusCode::INTERNAL_SERVER_ERROR, "routing error"),
        Route::Forbidden { path } => proxy_error(
            StatusCode::FORBIDDEN,
            &format!(
                "{path} is not allowed: the proxy passes the accounts' phone-number and WABA ids with their edges, /{{media-id}} and /debug_token; add a pattern to [proxy] allow (\"*\" = one segment), e.g. allow = [\"/*/subscribed_apps\"]"
            ),
        ),
        Route::NoAccount { accounts } => proxy_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "which account? The path has no configured phone-number or WABA id: send the header X-Tokentop-Account with one of: {}",
                accounts.join(", ")
            ),
        ),
        Route::BadPath { reason } => proxy_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "{reason}: the proxy refuses any path that could resolve to another one (dot segments, encoded separators); send the path as plain segments, e.g. /v25.0/{{phone-number-id}}/messages"
            ),
        ),
        Route::UnknownAccount { name, accounts } => {
            let shown: String = name.chars().take(64).collect();
            proxy_error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "X-Tokentop-Account names {shown:?}, which is not configured; accounts: {}",
                    accounts.join(", ")
                ),
            )
        }
    }
}
