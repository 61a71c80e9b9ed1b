//! Graph batch requests (REFERENCE.md section 11): `POST /` with the app token and up to 50
//! items, answered by an array of `{code, headers, body}`. The shared plumbing lives here, with
//! batched `debug_token`; batched phone-health reads are in `phone_batch`.

use std::fmt::Write as _;

use reqwest::header::HeaderMap;
use secrecy::{ExposeSecret, SecretString};

use super::batch_answer::{answer_items, item_answer};
use super::body::Received;
use super::client::GraphClient;
use super::error::GraphError;
use super::parse::{self, Raw};
use super::proof::AppCredentials;
use super::request_counts::Endpoint;
use super::types::TokenInfo;

/// Meta's limit of items per batch request.
pub const MAX_BATCH_ITEMS: usize = 50;

/// Batch requests of one call in flight at once: 10,000 accounts' inspections are 200
/// requests, whose round trips one after the other were most of a fleet's `check`.
pub const CONCURRENT_BATCHES: usize = 4;

/// `request` for each of `chunks`, [`CONCURRENT_BATCHES`] at a time, the answers in chunk
/// order; the first error ends it (the others of its group are dropped, no later group starts).
pub(crate) async fn in_groups<'c, C, A, F>(
    chunks: &'c [C],
    request: impl Fn(&'c C) -> F,
) -> Result<Vec<A>, GraphError>
where
    F: Future<Output = Result<A, GraphError>>,
{
    let mut answers = Vec::with_capacity(chunks.len());
    for group in chunks.chunks(CONCURRENT_BATCHES) {
        answers.extend(futures_util::future::try_join_all(group.iter().map(&request)).await?);
    }
    Ok(answers)
}

impl GraphClient {
    /// Batched debug_token: chunks of at most 50 per HTTP request (POST / with form body
    /// access_token={app token} and batch=[...]), results in input order; a `null` item or an
    /// item with an error body becomes Err for that item only.
    pub async fn debug_tokens(
        &self,
        app: &AppCredentials,
        tokens: &[SecretString],
    ) -> Result<Vec<Result<TokenInfo, GraphError>>, GraphError> {
        let chunks: Vec<&[SecretString]> = tokens.chunks(MAX_BATCH_ITEMS).collect();
        let answers = in_groups(&chunks, |chunk| self.debug_token_chunk(app, chunk)).await?;
        Ok(answers.into_iter().flatten().collect())
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
    let items = answer_items(raw, tokens.len(), secrets)?;
    Ok(tokens
        .iter()
        .enumerate()
        .map(|(index, token)| {
            let secrets = [token, app_secret];
            let answer = item_answer(items.get(index).copied(), &secrets)?;
            // An answer that reads as an inspection needs nothing more; only an error looks
            // at the item's headers (a rate limit's wait is in them).
            if let Some(info) = parse::plain_token_info(answer.http_status, &answer.body, &secrets)
            {
                return Ok(info);
            }
            let headers = answer.headers();
            parse::token_info(answer.raw(&headers), &secrets)
        })
        .collect())
}

/// `[{"method":"GET","relative_url":"{v}/debug_token?input_token=..."}, ...]`.
fn batch_json(version: &str, chunk: &[SecretString]) -> String {
    batch_text(chunk, |url, token| {
        url.push_str(version);
        url.push_str("/debug_token?input_token=");
        push_percent_encoded(url, token.expose_secret());
    })
}

/// A batch of GET items, `[{"method":"GET","relative_url":"..."}, ...]`, written as text at
/// once (no JSON tree): `write_url` writes each item's URL into a buffer reused for all.
pub(crate) fn batch_text<T>(items: &[T], mut write_url: impl FnMut(&mut String, &T)) -> String {
    const HEAD: &str = r#"{"method":"GET","relative_url":""#;
    let mut url = String::new();
    let mut out = String::from("[");
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        url.clear();
        write_url(&mut url, item);
        out.push_str(HEAD);
        push_json_escaped(&mut out, &url);
        out.push_str("\"}");
        if index == 0 {
            // Items are about the same length: one growth for the whole batch.
            out.reserve(out.len().saturating_mul(items.len()));
        }
    }
    out.push(']');
    out
}

/// The inside of a JSON string: quotes, backslashes and control characters escaped.
fn push_json_escaped(out: &mut String, text: &str) {
    out.reserve(text.len());
    for ch in text.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ch if u32::from(ch) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(ch));
            }
            ch => out.push(ch),
        }
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters onto the end of `out`, so
/// a value cannot break out of its parameter inside `relative_url`.
pub(crate) fn push_percent_encoded(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn percent_encode(value: &str) -> String {
        let mut out = String::new();
        push_percent_encoded(&mut out, value);
        out
    }

    #[test]
    fn batch_text_is_the_json_of_its_items_with_urls_escaped() {
        let text = batch_text(&["a\"b", "c\\d\n", "é"], |url, part| {
            url.push_str("v1/");
            url.push_str(part);
        });
        let items: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        let urls: Vec<&str> = items
            .iter()
            .map(|item| {
                assert_eq!(item["method"], "GET");
                item["relative_url"].as_str().unwrap()
            })
            .collect();
        assert_eq!(urls, ["v1/a\"b", "v1/c\\d\n", "v1/é"]);
        assert_eq!(batch_text(&[] as &[&str], |_, _| {}), "[]");
    }

    #[test]
    fn debug_token_batch_items_carry_the_encoded_token() {
        let tokens = [SecretString::from("EAAG+a/b"), SecretString::from("EAAGc")];
        let items: Vec<serde_json::Value> =
            serde_json::from_str(&batch_json("v25.0", &tokens)).unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(
            items[0]["relative_url"],
            "v25.0/debug_token?input_token=EAAG%2Ba%2Fb"
        );
        assert_eq!(
            items[1]["relative_url"],
            "v25.0/debug_token?input_token=EAAGc"
        );
    }

    #[test]
    fn percent_encoding_keeps_unreserved_and_escapes_the_rest() {
        assert_eq!(percent_encode("EAAG-x_9.~"), "EAAG-x_9.~");
        assert_eq!(percent_encode("a|b&c=d é"), "a%7Cb%26c%3Dd%20%C3%A9");
    }
}
