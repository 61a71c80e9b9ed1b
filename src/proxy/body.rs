//! The application's request body: kept in memory up to `retry-body-limit` (so that it can be
//! sent again after a refresh, and scrubbed of credentials), streamed through beyond that.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};

use super::reply::proxy_error;
use super::scrub;

/// Sizes from `[proxy]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub retry_body_limit: u64,
    pub max_request_body: u64,
}

/// A body as the proxy holds it.
pub enum RequestBody {
    /// Whole, scrubbed, and sendable any number of times.
    Buffered { bytes: Bytes, multipart: bool },
    /// Too large to keep: the part already read, then the rest as it arrives. Sent once.
    Streaming(Option<reqwest::Body>),
}

impl RequestBody {
    pub fn retriable(&self) -> bool {
        matches!(self, RequestBody::Buffered { .. })
    }

    pub fn has_multipart_credentials(&self) -> bool {
        match self {
            RequestBody::Buffered { bytes, multipart } => {
                *multipart && scrub::multipart_has_credentials(bytes)
            }
            RequestBody::Streaming(_) => false,
        }
    }

    /// The body for one upstream attempt. A streaming body is sent only once; the proxy never
    /// retries it.
    pub fn for_upstream(&mut self) -> reqwest::Body {
        match self {
            RequestBody::Buffered { bytes, .. } => reqwest::Body::from(bytes.clone()),
            RequestBody::Streaming(body) => body.take().unwrap_or_else(|| reqwest::Body::from("")),
        }
    }
}

/// Reads up to `retry_body_limit` bytes; a larger body continues as a stream capped at
/// `max_request_body`.
pub async fn read_request_body(
    body: Body,
    headers: &HeaderMap,
    limits: Limits,
) -> Result<RequestBody, axum::response::Response> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limits.max_request_body) {
        return Err(too_large(limits));
    }
    let mut chunks = body.into_data_stream();
    let mut kept: Vec<Bytes> = Vec::new();
    let mut size: u64 = 0;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk
            .map_err(|_| proxy_error(StatusCode::BAD_REQUEST, "the request body broke off"))?;
        size = size.saturating_add(chunk.len() as u64);
        kept.push(chunk);
        if size > limits.retry_body_limit {
            let max = limits.max_request_body;
            let rest = chunks.map_err(std::io::Error::other);
            let whole = stream::iter(kept.into_iter().map(Ok)).chain(rest);
            return Ok(RequestBody::Streaming(Some(reqwest::Body::wrap_stream(
                capped(whole, max),
            ))));
        }
    }
    let bytes: Bytes = kept.concat().into();
    Ok(scrubbed(bytes, headers))
}

/// Fails the stream once more than `max` bytes went through.
fn capped(
    body: impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    max: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let mut seen: u64 = 0;
    body.map(move |chunk| {
        let chunk = chunk?;
        seen = seen.saturating_add(chunk.len() as u64);
        if seen > max {
            return Err(std::io::Error::other(
                "request body over [proxy] max-request-body",
            ));
        }
        Ok(chunk)
    })
}

fn scrubbed(bytes: Bytes, headers: &HeaderMap) -> RequestBody {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let multipart = content_type.starts_with("multipart/");
    let bytes = if content_type.starts_with("application/x-www-form-urlencoded")
        && scrub::has_credentials(&bytes)
    {
        Bytes::from(scrub::without_credentials(&bytes))
    } else if content_type.starts_with("application/json") {
        match scrub::json_without_credentials(&bytes) {
            std::borrow::Cow::Borrowed(_) => bytes,
            std::borrow::Cow::Owned(clean) => Bytes::from(clean),
        }
    } else {
        bytes
    };
    RequestBody::Buffered { bytes, multipart }
}

fn too_large(limits: Limits) -> axum::response::Response {
    proxy_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!(
            "the request body is larger than [proxy] max-request-body ({} bytes)",
            limits.max_request_body
        ),
    )
}
