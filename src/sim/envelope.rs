//! Graph responses and Meta's error envelope `{"error":{message,type,code,...,fbtrace_id}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};

/// Content type Meta serves JSON with.
pub(crate) const JSON_CONTENT_TYPE: &str = "application/json; charset=UTF-8";

/// One Graph response before it becomes an HTTP response (or a batch item).
#[derive(Debug, Clone)]
pub(crate) struct GraphResponse {
    pub status: StatusCode,
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

impl GraphResponse {
    /// The answer of a POST-only edge: another method is refused the way Meta refuses it,
    /// else `answer`'s body or error.
    pub(crate) fn post_only(
        method: &axum::http::Method,
        edge: &str,
        answer: impl FnOnce() -> Result<Value, GraphError>,
    ) -> GraphResponse {
        if method != axum::http::Method::POST {
            return GraphError::unsupported(method.as_str(), edge).response();
        }
        match answer() {
            Ok(body) => GraphResponse::ok(&body),
            Err(error) => error.response(),
        }
    }

    pub(crate) fn json(status: StatusCode, body: &Value) -> GraphResponse {
        GraphResponse {
            status,
            body: body.to_string(),
            headers: Vec::new(),
        }
    }

    pub(crate) fn ok(body: &Value) -> GraphResponse {
        GraphResponse::json(StatusCode::OK, body)
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> GraphResponse {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for GraphResponse {
    fn into_response(self) -> Response {
        let mut response = (self.status, self.body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static(JSON_CONTENT_TYPE),
        );
        for (name, value) in self.headers {
            // Header values are JSON we built from ASCII; a failure would only drop the header.
            if let Ok(value) = axum::http::HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        }
        response
    }
}

/// A Graph error, rendered as Meta's envelope.
#[derive(Debug, Clone)]
pub(crate) struct GraphError {
    pub status: StatusCode,
    pub code: i64,
    pub message: String,
    pub error_type: &'static str,
    pub error_subcode: Option<i64>,
    pub is_transient: Option<bool>,
    pub error_data: Option<Value>,
}

impl GraphError {
    pub(crate) fn new(status: StatusCode, code: i64, message: impl Into<String>) -> GraphError {
        GraphError {
            status,
            code,
            message: message.into(),
            error_type: "OAuthException",
            error_subcode: None,
            is_transient: None,
            error_data: None,
        }
    }

    /// Code 100, GraphMethodException: a bad parameter or an unsupported request.
    pub(crate) fn invalid_param(message: impl Into<String>) -> GraphError {
        GraphError::new(StatusCode::BAD_REQUEST, 100, message).with_type("GraphMethodException")
    }

    /// Code 100 for a path or method the simulated Graph API does not serve.
    pub(crate) fn unsupported(method: &str, object: &str) -> GraphError {
        let mut error = GraphError::invalid_param(format!(
            "Unsupported {} request. Object with ID '{object}' does not exist, cannot be loaded \
             due to missing permissions, or does not support this operation. Please read the \
             Graph API documentation at https://developers.facebook.com/docs/graph-api",
            method.to_ascii_lowercase()
        ));
        error.error_subcode = Some(33);
        error
    }

    pub(crate) fn with_type(mut self, error_type: &'static str) -> GraphError {
        self.error_type = error_type;
        self
    }

    pub(crate) fn transient(mut self) -> GraphError {
        self.is_transient = Some(true);
        self
    }

    pub(crate) fn with_data(mut self, data: Value) -> GraphError {
        self.error_data = Some(data);
        self
    }

    pub(crate) fn body(&self) -> Value {
        let mut error = json!({
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
        });
        if let Some(subcode) = self.error_subcode {
            error["error_subcode"] = json!(subcode);
        }
        if let Some(data) = &self.error_data {
            error["error_data"] = data.clone();
        }
        if let Some(transient) = self.is_transient {
            error["is_transient"] = json!(transient);
        }
        error["fbtrace_id"] = json!(fbtrace_id());
        json!({ "error": error })
    }

    pub(crate) fn response(&self) -> GraphResponse {
        GraphResponse::json(self.status, &self.body())
    }
}

/// A random trace id shaped like Meta's (`AOl1gSqZRMyPzEMw9OJXzYh`).
pub(crate) fn fbtrace_id() -> String {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(22)
        .map(char::from)
        .collect();
    format!("A{random}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_required_keys_and_optional_ones_only_when_set() {
        let body = GraphError::new(StatusCode::BAD_REQUEST, 190, "dead").body();
        let keys: Vec<&str> = body["error"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
        for key in ["message", "type", "code", "fbtrace_id"] {
            assert!(keys.contains(&key), "{key}");
        }
        let transient = GraphError::new(StatusCode::INTERNAL_SERVER_ERROR, 2, "x").transient();
        assert_eq!(transient.body()["error"]["is_transient"], json!(true));
    }

    #[test]
    fn fbtrace_ids_differ() {
        assert_eq!(fbtrace_id().len(), 23);
        assert_ne!(fbtrace_id(), fbtrace_id());
    }
}
