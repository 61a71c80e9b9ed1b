//! Graph batch requests (REFERENCE.md section 11): `POST /` with the app token and up to 50
//! items, answered by an array of `{code, headers, body}`. The shared plumbing lives here, with
//! batched `debug_token`; batched phone-health reads are in `phone_batch`.

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::body::Received;
use super::client::GraphClient;
use super::error::{GraphError, malformed};
use super::parse::{self, Raw};
use super::proof::AppCredentials;
use super::request_counts::Endpoint;
use super::types::TokenInfo;

/// Meta's limit of items per batch request.
pub const MAX_BATCH_ITEMS: usize = 50;

impl GraphClient {
    /// Batched debug_token: chunks of at most 50 per HTTP request (POST / with form body
    /// access_token={app token} and batch=[...]), results in input order; a `null` item or an
    /// item with an error body becomes Err for that item only.
    pub async fn debug_tokens(
        &self,
        app: &AppCredentials,
        tokens: &[SecretString],
    ) -> Result<Vec<Result<TokenInfo, GraphError>>, GraphError> {
        let mut results = Vec::with_capacity(tokens.len());
        for chunk in tokens.chunks(MAX_BATCH_ITEMS) {
            results.extend(self.debug_token_chunk(app, chunk).await?);
        }
        Ok(results)
    }

    async fn debug_token_chunk(
        &self,
        app: &AppCredentials,
        chunk: &[SecretString],
    ) -> Result<Vec<Result<TokenInfo, GraphError>>, GraphError> {
        let app_token = app.app_token();
        let mut secrets: Vec<&SecretString> = vec![&app.app_secret, &app_token];
        secrets.extend(chunk.iter());
        let batch = batch_json(self.version(), chunk);
        let received = self.post_batch(&app_token, &batch, &secrets).await?;
        batch_results(received.raw(), chunk, &app.app_secret, &secrets)
    }

    /// Sends one batch (`batch` is the JSON array of items) authorised by the app token, which
    /// is also the fallback token of items that carry none of their own.
    pub(crate) async fn post_batch(
        &self,
        app_token: &SecretString,
        batch: &str,
        secrets: &[&SecretString],
    ) -> Result<Received, GraphError> {
        let path = "/";
        let request = self.http.post(self.url(path)).form(&[
            ("access_token", app_token.expose_secret()),
            ("batch", batch),
        ]);
        self.execute(Endpoint::Batch, path, request, secrets).await
    }
}

/// Parses a batch answer (HTTP 200 body) to `debug_token` requests for `tokens`: one result
/// per token, in order. Pure, for captured payloads and property tests.
pub fn parse_debug_token_batch(
    body: &str,
    tokens: &[SecretString],
    app_secret: &SecretString,
) -> Result<Vec<Result<TokenInfo, GraphError>>, GraphError> {
    let headers = HeaderMap::new();
    let raw = Raw {
        http_status: 200,
        headers: &headers,
        body,
    };
    let mut secrets: Vec<&SecretString> = vec![app_secret];
    secrets.extend(tokens.iter());
    batch_results(raw, tokens, app_secret, &secrets)
}

fn batch_results(
    raw: Raw<'_>,
    tokens: &[SecretString],
    app_secret: &SecretString,
    secrets: &[&SecretString],
) -> Result<Vec<Result<TokenInfo, GraphError>>, GraphError> {
    let items = answer_items(raw, secrets)?;
    Ok(tokens
        .iter()
        .enumerate()
        .map(|(index, token)| {
            let secrets = [token, app_secret];
            let answer = item_answer(items.get(index), &secrets)?;
            parse::token_info(answer.raw(), &secrets)
        })
        .collect())
}

/// `[{"method":"GET","relative_url":"{v}/debug_token?input_token=..."}, ...]`.
fn batch_json(version: &str, chunk: &[SecretString]) -> String {
    let items: Vec<Value> = chunk
        .iter()
        .map(|token| {
            serde_json::json!({
                "method": "GET",
                "relative_url": format!(
                    "{version}/debug_token?input_token={}",
                    percent_encode(token.expose_secret())
                ),
            })
        })
        .collect();
    Value::Array(items).to_string()
}

/// The items of a batch answer: a JSON array, one entry per request item, in request order.
pub(crate) fn answer_items(
    raw: Raw<'_>,
    secrets: &[&SecretString],
) -> Result<Vec<Value>, GraphError> {
    match parse::decode_value(raw, secrets)? {
        Value::Array(items) => Ok(items),
        _ => Err(malformed(
            raw.http_status,
            "a batch answer must be a JSON array",
            secrets,
        )),
    }
}

/// One item of a batch answer, as if it had been a response of its own.
pub(crate) struct ItemAnswer {
    http_status: u16,
    pub headers: HeaderMap,
    body: String,
}

impl ItemAnswer {
    pub(crate) fn raw(&self) -> Raw<'_> {
        Raw {
            http_status: self.http_status,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// One item of the batch answer: `null` (timed out), or `{code, headers, body}` where the body
/// is JSON inside a string and may be an error envelope (parsed by the caller).
pub(crate) fn item_answer(
    item: Option<&Value>,
    secrets: &[&SecretString],
) -> Result<ItemAnswer, GraphError> {
    let item = match item {
        None => {
            return Err(GraphError::transient(
                "the batch answer has no item for this request",
            ));
        }
        Some(Value::Null) => {
            return Err(GraphError::transient(
                "this batch item got no answer (null: it timed out inside the batch)",
            ));
        }
        Some(item) => item,
    };
    let Some(http_status) = item
        .get("code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
    else {
        return Err(malformed(
            200,
            "a batch item has no numeric `code`",
            secrets,
        ));
    };
    Ok(ItemAnswer {
        http_status,
        headers: item_headers(item.get("headers")),
        body: item
            .get("body")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    })
}

/// `[{"name":"...","value":"..."}]`; entries that are not valid headers are skipped.
fn item_headers(value: Option<&Value>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let Some(list) = value.and_then(Value::as_array) else {
        return headers;
    };
    for entry in list {
        let name = entry.get("name").and_then(Value::as_str);
        let value = entry.get("value").and_then(Value::as_str);
        let (Some(name), Some(value)) = (name, value) else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            headers.append(name, value);
        }
    }
    headers
}

/// Percent-encodes everything but RFC 3986 unreserved characters, so a value cannot break
/// out of its parameter inside `relative_url`.
pub(crate) fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(percent_encode("EAAG-x_9.~"), "EAAG-x_9.~");
        assert_eq!(percent_encode("a|b&c=d é"), "a%7Cb%26c%3Dd%20%C3%A9");
    }

    #[test]
    fn item_headers_skip_bad_entries() {
        let value = serde_json::json!([
            {"name": "X-App-Usage", "value": "{}"},
            {"name": "bad name", "value": "x"},
            {"value": "no name"}
        ]);
        let headers = item_headers(Some(&value));
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-app-usage"));
    }
}
