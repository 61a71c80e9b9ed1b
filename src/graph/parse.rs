//! Turning a raw response (status, headers, body) into a typed value or a [`GraphError`].
//!
//! Pure functions, so that captured payloads can be checked without a server.

use reqwest::header::HeaderMap;
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::{GraphError, envelope_of, malformed, not_json, parse_error_body};
use super::json_probe::{ObjectOnly, has_error_object, reads_as_tree};
use super::token_shape::check_token_shape;
use super::types::{
    Analytics, AnalyticsWire, DebugTokenBody, DebugTokenWire, Enveloped, ExchangedToken,
    PhoneHealth, PhoneWire, SendResult, SendWire, TokenInfo,
};
use crate::mask::redact;

/// A response as it came off the wire.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Raw<'a> {
    pub http_status: u16,
    pub headers: &'a HeaderMap,
    pub body: &'a str,
}

impl<'a> Raw<'a> {
    /// A bare HTTP 200 body, for parsing captured payloads.
    fn ok(body: &'a str, headers: &'a HeaderMap) -> Self {
        Self {
            http_status: 200,
            headers,
            body,
        }
    }
}

/// The JSON of a successful response; any non-2xx status or `error` object becomes the error.
pub(crate) fn decode_value(raw: Raw<'_>, secrets: &[&SecretString]) -> Result<Value, GraphError> {
    if !(200..300).contains(&raw.http_status) {
        return Err(parse_error_body(
            raw.http_status,
            raw.headers,
            raw.body,
            secrets,
        ));
    }
    let value: Value =
        serde_json::from_str(raw.body).map_err(|_| not_json(raw.http_status, raw.body, secrets))?;
    if envelope_of(&value).is_some() {
        return Err(parse_error_body(
            raw.http_status,
            raw.headers,
            raw.body,
            secrets,
        ));
    }
    Ok(value)
}

/// Whether a response is a 2xx JSON answer without an `error` object (as [`decode_value`]
/// judges it, and with its error when not), without building its tree when it is one.
pub(crate) fn check_answer(raw: Raw<'_>, secrets: &[&SecretString]) -> Result<(), GraphError> {
    if (200..300).contains(&raw.http_status) && has_error_object(raw.body) == Some(false) {
        return Ok(());
    }
    decode_value(raw, secrets).map(drop)
}

/// A 2xx body read straight into `W` when it is a JSON object of `W`'s shape without an
/// `error` object; `None` sends the caller to the tree-based reading, which tells why not.
fn typed<'a, W: Deserialize<'a> + Enveloped>(raw: Raw<'a>) -> Option<W> {
    if !(200..300).contains(&raw.http_status) || !reads_as_tree(raw.body) {
        return None;
    }
    let ObjectOnly(wire) = serde_json::from_str::<ObjectOnly<W>>(raw.body).ok()?;
    (!wire.has_error_object()).then_some(wire)
}

pub(crate) fn decode<W: DeserializeOwned>(
    raw: Raw<'_>,
    secrets: &[&SecretString],
) -> Result<W, GraphError> {
    let value = decode_value(raw, secrets)?;
    // serde reads a struct from an array too; every Graph answer tokentop parses is an object.
    if !value.is_object() {
        return Err(malformed(
            raw.http_status,
            "the answer is not a JSON object",
            secrets,
        ));
    }
    serde_json::from_value(value).map_err(|e| malformed(raw.http_status, &e.to_string(), secrets))
}

/// A `debug_token` answer that reads as one (2xx, an object with a `data` object, no `error`
/// object), without building its tree; `None` for anything else, which [`token_info`] tells.
pub(crate) fn plain_token_info(
    http_status: u16,
    body: &str,
    secrets: &[&SecretString],
) -> Option<TokenInfo> {
    let headers = HeaderMap::new();
    let raw = Raw {
        http_status,
        headers: &headers,
        body,
    };
    let wire = typed::<DebugTokenBody>(raw)?;
    Some(redacted_info(wire.data.0, secrets))
}

pub(crate) fn token_info(raw: Raw<'_>, secrets: &[&SecretString]) -> Result<TokenInfo, GraphError> {
    if let Some(info) = plain_token_info(raw.http_status, raw.body, secrets) {
        return Ok(info);
    }
    let value = decode_value(raw, secrets)?;
    // serde reads a struct from an array too (`{"data":[false]}`): only an object is an answer.
    if !value.get("data").is_some_and(Value::is_object) {
        return Err(malformed(
            raw.http_status,
            "the debug_token answer has no `data` object",
            secrets,
        ));
    }
    let info = serde_json::from_value::<DebugTokenWire>(value)
        .map_err(|e| malformed(raw.http_status, &e.to_string(), secrets))?
        .data;
    Ok(redacted_info(info, secrets))
}

/// Meta's message for a dead token can quote the token it was given.
fn redacted_info(mut info: TokenInfo, secrets: &[&SecretString]) -> TokenInfo {
    if let Some(error) = info.error.as_mut() {
        error.message = redact(&error.message, secrets);
    }
    info
}

/// Longest lifetime an exchange answer may announce: Meta's longest is 60 days, so a year is
/// generous; anything beyond is a broken or hostile answer.
pub const MAX_EXPIRES_IN_SECS: u64 = 366 * 86_400;

/// An `oauth/access_token` answer, accepted only when its token is well-formed and its
/// `expires_in` (optional) is a whole number of seconds within a year: a bad answer must never
/// replace a working token.
pub(crate) fn exchanged(
    raw: Raw<'_>,
    secrets: &[&SecretString],
) -> Result<ExchangedToken, GraphError> {
    let value = decode_value(raw, secrets)?;
    // Read field by field rather than with serde: a serde message could quote the new token.
    let Some(access_token) = value.get("access_token").and_then(Value::as_str) else {
        return Err(malformed(
            raw.http_status,
            "the exchange answer has no access_token string",
            secrets,
        ));
    };
    if let Err(problem) = check_token_shape(access_token) {
        let problem = format!("the exchange answer's access_token is not a token: {problem}");
        return Err(malformed(raw.http_status, &problem, secrets));
    }
    let expires_in_secs = match value.get("expires_in") {
        None | Some(Value::Null) => None,
        Some(given) => Some(expires_in(given).ok_or_else(|| {
            let problem = format!(
                "the exchange answer's expires_in is {}; expected whole seconds from 0 to {MAX_EXPIRES_IN_SECS}",
                shown_number(given)
            );
            malformed(raw.http_status, &problem, secrets)
        })?),
    };
    Ok(ExchangedToken {
        access_token: SecretString::from(access_token.to_string()),
        token_type: value
            .get("token_type")
            .and_then(Value::as_str)
            .map(str::to_string),
        // 0 announces no lifetime: the new token's own inspection tells.
        expires_in_secs: expires_in_secs.filter(|secs| *secs > 0),
    })
}

/// `expires_in` as a number or a numeric string, within [`MAX_EXPIRES_IN_SECS`].
fn expires_in(value: &Value) -> Option<u64> {
    let secs = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    (secs <= MAX_EXPIRES_IN_SECS).then_some(secs)
}

/// A short rendering of a bad `expires_in` for the error message: numbers only, since a
/// string could be anything (even a token).
fn shown_number(value: &Value) -> String {
    match value {
        Value::Number(n) if n.to_string().len() <= 24 => n.to_string(),
        Value::Number(_) => "a very long number".to_string(),
        Value::String(_) => "a string that is not a whole number".to_string(),
        other => format!("of JSON type {}", json_type(other)),
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `{"success":"true"}` (a string, per REFERENCE.md section 2) or a boolean.
pub(crate) fn revoked(raw: Raw<'_>, secrets: &[&SecretString]) -> Result<(), GraphError> {
    let value = decode_value(raw, secrets)?;
    match value.get("success") {
        Some(Value::Bool(true)) => Ok(()),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(()),
        Some(other) => Err(GraphError::other(format!(
            "the Graph API did not revoke the old token (success = {})",
            redact(&other.to_string(), secrets)
        ))
        .with_status(raw.http_status)),
        None => Err(malformed(
            raw.http_status,
            "the revoke answer has no `success` field",
            secrets,
        )),
    }
}

pub(crate) fn send_result(
    raw: Raw<'_>,
    secrets: &[&SecretString],
) -> Result<SendResult, GraphError> {
    decode::<SendWire>(raw, secrets).map(SendResult::from)
}

pub(crate) fn phone_health(
    raw: Raw<'_>,
    secrets: &[&SecretString],
) -> Result<PhoneHealth, GraphError> {
    if let Some(wire) = typed::<PhoneWire>(raw) {
        return Ok(PhoneHealth::from(wire));
    }
    decode::<PhoneWire>(raw, secrets).map(PhoneHealth::from)
}

/// A WABA without analytics in the window answers without the `analytics` key: no data points.
pub(crate) fn analytics(raw: Raw<'_>, secrets: &[&SecretString]) -> Result<Analytics, GraphError> {
    decode::<AnalyticsWire>(raw, secrets).map(|w| w.analytics.unwrap_or_default())
}

/// Parses a `debug_token` body (HTTP 200): a dead token is `Ok` with `is_valid: false`.
pub fn parse_debug_token(body: &str) -> Result<TokenInfo, GraphError> {
    token_info(Raw::ok(body, &HeaderMap::new()), &[])
}

/// Parses an `oauth/access_token` body (HTTP 200).
pub fn parse_exchange(body: &str) -> Result<ExchangedToken, GraphError> {
    exchanged(Raw::ok(body, &HeaderMap::new()), &[])
}

/// Parses an `oauth/revoke` body (HTTP 200).
pub fn parse_revoke(body: &str) -> Result<(), GraphError> {
    revoked(Raw::ok(body, &HeaderMap::new()), &[])
}

/// Parses a `/{phone-number-id}/messages` body (HTTP 200).
pub fn parse_send_result(body: &str) -> Result<SendResult, GraphError> {
    send_result(Raw::ok(body, &HeaderMap::new()), &[])
}

/// Parses a phone number fields body (HTTP 200).
pub fn parse_phone_health(body: &str) -> Result<PhoneHealth, GraphError> {
    phone_health(Raw::ok(body, &HeaderMap::new()), &[])
}

/// Parses a WABA `analytics` field body (HTTP 200).
pub fn parse_analytics(body: &str) -> Result<Analytics, GraphError> {
    analytics(Raw::ok(body, &HeaderMap::new()), &[])
}
