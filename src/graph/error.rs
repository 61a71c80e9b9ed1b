//! Graph API errors: the envelope of REFERENCE.md section 4, classes, and transport failures.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use secrecy::SecretString;
use serde::Serialize;
use serde_json::Value;

use super::usage::parse_usage;
use crate::mask::redact;

/// Characters of a foreign body quoted in an error message.
const BODY_EXCERPT_CHARS: usize = 200;

/// What tokentop should do about an error (REFERENCE.md section 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// 190 (any subcode) or 102: refresh once, or re-auth is required.
    TokenDead,
    /// 0, 3, 10, 200-299: alert, never retry in a loop.
    Permission,
    /// 4, 17, 32, 613, 80007, 80008, 130429, 131056: back off.
    RateLimited,
    /// 1, 2, 131000, 131016, `is_transient`, 5xx, timeouts, resets, unreadable bodies: retry.
    Transient,
    /// 131026, 131047, 131049, 131050, 132xxx, 133010: a delivery failure of one message.
    MessageLevel,
    Other,
    /// A failure inside tokentop, before or after Meta (lock file, store, shutdown): no
    /// request was refused, so no Graph API advice applies.
    Local,
}

impl ErrorClass {
    pub fn label(&self) -> &'static str {
        match self {
            Self::TokenDead => "token dead",
            Self::Permission => "permission",
            Self::RateLimited => "rate limited",
            Self::Transient => "transient",
            Self::MessageLevel => "message-level",
            Self::Other => "other",
            Self::Local => "local",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Classifies by Graph error `code` first; the HTTP status only decides when there is no code,
/// because Meta does not map codes to statuses reliably.
pub fn classify(code: Option<i64>, http_status: Option<u16>, is_transient: bool) -> ErrorClass {
    if let Some(class) = code.and_then(class_of_code) {
        return class;
    }
    if is_transient {
        return ErrorClass::Transient;
    }
    match http_status {
        Some(status) if status >= 500 => ErrorClass::Transient,
        // No code and no status: the request never got an answer (timeout, reset, refused).
        None if code.is_none() => ErrorClass::Transient,
        _ => ErrorClass::Other,
    }
}

fn class_of_code(code: i64) -> Option<ErrorClass> {
    let class = match code {
        190 | 102 => ErrorClass::TokenDead,
        0 | 3 | 10 | 200..=299 => ErrorClass::Permission,
        4 | 17 | 32 | 613 | 80007 | 80008 | 130429 | 131056 => ErrorClass::RateLimited,
        1 | 2 | 131000 | 131016 => ErrorClass::Transient,
        131026 | 131047 | 131049 | 131050 | 132000..=132999 | 133010 => ErrorClass::MessageLevel,
        _ => return None,
    };
    Some(class)
}

/// A failed Graph API call. Every text field has been redacted of the call's secrets.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[error("{}", render(self))]
pub struct GraphError {
    pub class: ErrorClass,
    pub code: Option<i64>,
    pub subcode: Option<i64>,
    pub error_type: Option<String>,
    pub message: String,
    pub user_title: Option<String>,
    /// `error_user_msg`, the text Meta suggests showing to a person.
    pub user_message: Option<String>,
    /// `error_data.details`, WhatsApp's longer explanation.
    pub details: Option<String>,
    pub fbtrace_id: Option<String>,
    pub http_status: Option<u16>,
    #[serde(serialize_with = "serialize_secs")]
    pub retry_after: Option<Duration>,
    pub is_transient: bool,
}

fn serialize_secs<S: serde::Serializer>(value: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(duration) => s.serialize_some(&duration.as_secs()),
        None => s.serialize_none(),
    }
}

fn render(err: &GraphError) -> String {
    let mut out = match err.code {
        Some(code) => {
            let mut head = format!("Graph API error {code}");
            if let Some(subcode) = err.subcode {
                head.push_str(&format!("/{subcode}"));
            }
            match &err.error_type {
                Some(kind) => head.push_str(&format!(" ({kind}, {})", err.class)),
                None => head.push_str(&format!(" ({})", err.class)),
            }
            head
        }
        None if err.class == ErrorClass::Local => "tokentop".to_string(),
        // No code, no status, not transient: the call was refused before any request.
        None if err.class == ErrorClass::Other && err.http_status.is_none() => {
            "Graph API client".to_string()
        }
        None => format!("Graph API request failed ({})", err.class),
    };
    out.push_str(": ");
    out.push_str(&err.message);
    if let Some(title) = &err.user_title {
        out.push_str(&format!(" ({title})"));
    }
    if let Some(trace) = &err.fbtrace_id {
        out.push_str(&format!(" [fbtrace_id {trace}]"));
    }
    out
}

impl GraphError {
    /// An error without a Graph envelope, e.g. a timeout or an unreadable body.
    pub fn without_envelope(class: ErrorClass, message: impl Into<String>) -> Self {
        Self {
            class,
            code: None,
            subcode: None,
            error_type: None,
            message: message.into(),
            user_title: None,
            user_message: None,
            details: None,
            fbtrace_id: None,
            http_status: None,
            retry_after: None,
            is_transient: class == ErrorClass::Transient,
        }
    }

    pub(crate) fn transient(message: impl Into<String>) -> Self {
        Self::without_envelope(ErrorClass::Transient, message)
    }

    pub(crate) fn other(message: impl Into<String>) -> Self {
        Self::without_envelope(ErrorClass::Other, message)
    }

    pub(crate) fn with_status(mut self, http_status: u16) -> Self {
        self.http_status = Some(http_status);
        self
    }

    /// Builds the error from a transport failure; `reqwest::Error` must already be stripped of
    /// its URL (which holds tokens in the query string).
    pub(crate) fn from_transport(
        err: &reqwest::Error,
        request_timeout: Duration,
        secrets: &[&SecretString],
    ) -> Self {
        let chain = redact(&error_chain(err), secrets);
        let message = if err.is_timeout() {
            format!(
                "no answer within {} ms (request timeout): {chain}",
                request_timeout.as_millis()
            )
        } else if err.is_connect() {
            format!("could not connect to the Graph API: {chain}")
        } else {
            format!("the request did not complete: {chain}")
        };
        Self::transient(message)
    }
}

/// The error and all its sources, joined, since reqwest's own message alone says little.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

/// Builds the error for a response that failed: an `error` envelope when there is one, or a
/// transient/other error describing the unexpected body. Text is redacted of `secrets`.
pub fn parse_error_body(
    http_status: u16,
    headers: &HeaderMap,
    body: &str,
    secrets: &[&SecretString],
) -> GraphError {
    let mut err = match serde_json::from_str::<Value>(body) {
        Ok(value) => match envelope_of(&value) {
            Some(envelope) => from_envelope(envelope, http_status, secrets),
            None => GraphError::without_envelope(
                classify(None, Some(http_status), false),
                format!(
                    "Graph API answered HTTP {http_status} without an error object: {}",
                    excerpt(body, secrets)
                ),
            ),
        },
        Err(_) => not_json(http_status, body, secrets),
    }
    .with_status(http_status);
    if err.class == ErrorClass::RateLimited {
        err.retry_after = parse_usage(headers)
            .regain_access_after()
            .or_else(|| retry_after_header(headers));
    }
    err
}

/// The error object of a body, if it has one (also used on 2xx bodies).
pub(crate) fn envelope_of(value: &Value) -> Option<&serde_json::Map<String, Value>> {
    value.get("error")?.as_object()
}

pub(crate) fn not_json(http_status: u16, body: &str, secrets: &[&SecretString]) -> GraphError {
    GraphError::transient(format!(
        "Graph API returned a body that is not JSON (HTTP {http_status}): {}",
        excerpt(body, secrets)
    ))
    .with_status(http_status)
}

pub(crate) fn malformed(http_status: u16, problem: &str, secrets: &[&SecretString]) -> GraphError {
    GraphError::transient(format!(
        "Graph API returned an unexpected body (HTTP {http_status}): {}",
        redact(problem, secrets)
    ))
    .with_status(http_status)
}

fn from_envelope(
    envelope: &serde_json::Map<String, Value>,
    http_status: u16,
    secrets: &[&SecretString],
) -> GraphError {
    let text = |key: &str| {
        envelope
            .get(key)
            .and_then(Value::as_str)
            .map(|s| redact(s, secrets))
    };
    let code = envelope.get("code").and_then(as_i64_lenient);
    let is_transient = envelope
        .get("is_transient")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let details = envelope
        .get("error_data")
        .and_then(|d| d.get("details"))
        .and_then(Value::as_str)
        .map(|s| redact(s, secrets));
    GraphError {
        class: classify(code, Some(http_status), is_transient),
        code,
        subcode: envelope.get("error_subcode").and_then(as_i64_lenient),
        error_type: text("type"),
        message: text("message").unwrap_or_else(|| "(no message)".to_string()),
        user_title: text("error_user_title"),
        user_message: text("error_user_msg"),
        details,
        fbtrace_id: text("fbtrace_id"),
        http_status: Some(http_status),
        retry_after: None,
        is_transient,
    }
}

/// Codes are numbers, but a string holding a number is accepted rather than lost.
pub(crate) fn as_i64_lenient(value: &Value) -> Option<i64> {
    value
        .as_i64()
        .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
}

fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// The start of a foreign body, redacted before it is cut so that no partial secret survives.
pub(crate) fn excerpt(body: &str, secrets: &[&SecretString]) -> String {
    let redacted = redact(body.trim(), secrets);
    let mut out: String = redacted.chars().take(BODY_EXCERPT_CHARS).collect();
    if redacted.chars().count() > BODY_EXCERPT_CHARS {
        out.push('…');
    }
    if out.is_empty() {
        out.push_str("(empty body)");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_has_code_subcode_type_class_and_trace() {
        let body = r#"{"error":{"message":"Error validating access token: expired","type":"OAuthException","code":190,"error_subcode":463,"fbtrace_id":"AOl1gSqZ"}}"#;
        let err = parse_error_body(400, &HeaderMap::new(), body, &[]);
        assert_eq!(
            err.to_string(),
            "Graph API error 190/463 (OAuthException, token dead): Error validating access token: expired [fbtrace_id AOl1gSqZ]"
        );
    }

    #[test]
    fn excerpt_redacts_before_truncating() {
        let secret = SecretString::from("EAAGsecretsecretsecretx9Qf");
        let body = format!("{}EAAGsecretsecretsecretx9Qf", "x".repeat(190));
        let out = excerpt(&body, &[&secret]);
        assert!(!out.contains("EAAGsecr"));
        assert!(!out.contains("secretsecret"));
    }
}
