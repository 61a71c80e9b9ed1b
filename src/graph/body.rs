//! Reading a response into memory with a size cap, so a hostile or broken front cannot make
//! tokentop buffer a gigabyte.

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response};

use super::parse::Raw;

/// Largest answer read: Graph answers tokentop asks for are a few kilobytes; a batch of 50
/// inspections or a month of analytics stays far below this.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// A response as it came off the wire, body as text (invalid UTF-8 replaced).
#[derive(Debug)]
pub(crate) struct Received {
    pub http_status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Received {
    pub(crate) fn raw(&self) -> Raw<'_> {
        Raw {
            http_status: self.http_status,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

/// Why no response could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The request failed or the body broke off; the URL is stripped (it holds tokens).
    Transport(reqwest::Error),
    /// The answer is larger than the cap.
    TooLarge { http_status: u16, limit: usize },
}

/// Sends `request` and reads at most `limit` bytes of its body.
pub(crate) async fn read_response(
    request: RequestBuilder,
    limit: usize,
) -> Result<Received, ReadError> {
    let response = request
        .send()
        .await
        .map_err(|e| ReadError::Transport(e.without_url()))?;
    let http_status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = read_capped(response, limit)
        .await
        .map_err(|err| match err {
            ReadError::TooLarge { limit, .. } => ReadError::TooLarge { http_status, limit },
            other => other,
        })?;
    Ok(Received {
        http_status,
        headers,
        // Valid UTF-8 (every Graph answer) is kept as read, not copied.
        body: String::from_utf8(bytes)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned()),
    })
}

pub(crate) async fn read_capped(
    mut response: Response,
    limit: usize,
) -> Result<Vec<u8>, ReadError> {
    let too_large = ReadError::TooLarge {
        http_status: 0,
        limit,
    };
    // A declared length over the cap is refused before reading anything.
    let declared = response.content_length().unwrap_or(0);
    if usize::try_from(declared).map_or(true, |len| len > limit) {
        return Err(too_large);
    }
    let mut body = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| ReadError::Transport(e.without_url()))?
    {
        if body.len().saturating_add(chunk.len()) > limit {
            return Err(too_large);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
