//! Batch requests: `POST /` with `batch=[{method, relative_url}, ...]`, at most 50 items,
//! each routed like a direct call (REFERENCE.md section 11).

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::encodings::RequestBody;
use super::envelope::{GraphError, GraphResponse};
use super::graph::route_one;
use super::request::{GraphRequest, parse_urlencoded};
use super::state::SimHandle;

/// Most items Meta accepts in one batch.
pub(crate) const MAX_BATCH_ITEMS: usize = 50;
/// Content type Meta reports for each batch item.
const ITEM_CONTENT_TYPE: &str = "text/javascript; charset=UTF-8";

pub(crate) fn run(sim: &SimHandle, request: &GraphRequest, now: i64) -> GraphResponse {
    match try_run(sim, request, now) {
        Ok(items) => GraphResponse::ok(&Value::Array(items)),
        Err(error) => error.response(),
    }
}

fn try_run(sim: &SimHandle, request: &GraphRequest, now: i64) -> Result<Vec<Value>, GraphError> {
    if request.method != Method::POST {
        return Err(GraphError::unsupported(request.method.as_str(), "/"));
    }
    let batch = request
        .param("batch")
        .ok_or_else(|| GraphError::invalid_param("(#100) The parameter batch is required"))?;
    let items: Vec<Value> = serde_json::from_str(batch).map_err(|_| {
        GraphError::invalid_param(
            "(#100) The parameter batch must be a JSON array of {\"method\",\"relative_url\"}",
        )
    })?;
    if items.len() > MAX_BATCH_ITEMS {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            1,
            format!(
                "(#1) Too many requests in batch message. Maximum batch size is {MAX_BATCH_ITEMS}; \
                 got {}",
                items.len()
            ),
        ));
    }
    let item_requests = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            item_request(item, request.param("access_token")).map_err(|message| {
                GraphError::invalid_param(format!("(#100) batch[{index}]: {message}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(item_requests
        .iter()
        .map(|item| {
            sim.lock().count(item.endpoint());
            let response = route_one(sim, item, now);
            json!({
                "code": response.status.as_u16(),
                "headers": item_headers(&response),
                "body": response.body,
            })
        })
        .collect())
}

/// An item's `headers`: its content type and, as Meta does per item, the usage headers of
/// that call (`X-App-Usage`, and `X-Business-Use-Case-Usage` of the phone or WABA it is about).
fn item_headers(response: &GraphResponse) -> Vec<Value> {
    let content_type = json!({"name": "Content-Type", "value": ITEM_CONTENT_TYPE});
    std::iter::once(content_type)
        .chain(
            response
                .headers
                .iter()
                .map(|(name, value)| json!({"name": name, "value": value})),
        )
        .collect()
}

/// Builds the request of one item; an item without `access_token` uses the batch's.
fn item_request(item: &Value, batch_token: Option<&str>) -> Result<GraphRequest, String> {
    let method = match item.get("method").map(Value::as_str) {
        None => Method::GET,
        Some(Some(name)) => match name.to_ascii_uppercase().as_str() {
            "GET" => Method::GET,
            "POST" => Method::POST,
            "DELETE" => Method::DELETE,
            _ => return Err(format!("method \"{name}\" is not one of GET, POST, DELETE")),
        },
        Some(None) => return Err("method must be a string".to_string()),
    };
    let relative_url = item
        .get("relative_url")
        .and_then(Value::as_str)
        .ok_or("relative_url is required")?;
    let (path, query) = relative_url.split_once('?').unwrap_or((relative_url, ""));
    let body = item.get("body").and_then(Value::as_str).unwrap_or_default();
    let mut params = parse_urlencoded(query);
    params.extend(parse_urlencoded(body));
    let has_own_token = params.iter().any(|(key, _)| key == "access_token");
    if let (Some(token), false) = (batch_token, has_own_token) {
        params.push(("access_token".to_string(), token.to_string()));
    }
    Ok(GraphRequest {
        method,
        path: format!("/{}", path.trim_start_matches('/')),
        params,
        bearer: None,
        body: RequestBody::Fields(parse_urlencoded(body)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_inherits_the_batch_token() {
        let item = json!({"method":"GET","relative_url":"v25.0/debug_token?input_token=abc"});
        let request = item_request(&item, Some("app|secret")).unwrap();
        assert_eq!(request.path, "/v25.0/debug_token");
        assert_eq!(request.param("input_token"), Some("abc"));
        assert_eq!(request.access_token(), Some("app|secret"));
    }

    #[test]
    fn item_errors_name_the_field() {
        assert!(
            item_request(&json!({"method":"GET"}), None)
                .unwrap_err()
                .contains("relative_url")
        );
        assert!(
            item_request(&json!({"method":"PATCH","relative_url":"x"}), None)
                .unwrap_err()
                .contains("PATCH")
        );
    }
}
