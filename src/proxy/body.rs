//! The application's request body: kept in memory up to `retry-body-limit` (so that it can be
//! sent again after a refresh, and scrubbed of credentials), streamed through beyond that.
//! Form, JSON and untyped bodies can only be scrubbed whole, so beyond the limit they are
//! refused (413); a streamed multipart body is scanned for credential parts on the way and
//! cut off before one goes upstream.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{HeaderMap, StatusCode, header};
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use hyper::body::Incoming;

use super::bodies::{Reply, UpstreamBody, next_data};
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
    /// Whole, scrubbed, and sendable any number of times; `scrubbed` when a credential was
    /// removed from it.
    Buffered {
        bytes: Bytes,
        multipart: bool,
        scrubbed: bool,
    },
    /// Too large to keep: the part already read, then the rest as it arrives. Sent once.
    /// `stopped` is set when a multipart credential part was found on the way and the upload
    /// was cut off before it.
    Streaming {
        body: Option<UpstreamBody>,
        stopped: Arc<AtomicBool>,
    },
}

/// What the body is, by its `Content-Type`, for scrubbing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Multipart,
    Form,
    Json,
    /// No `Content-Type`: Meta reads it as JSON when it looks like JSON, else as a form (see
    /// the simulator's `encodings.rs`), so it is scrubbed as either.
    Untyped,
    /// Any other declared type (a file's bytes): passed as it is.
    Other,
}

/// The body's kind; `Err` for a request with several `Content-Type` headers (the proxy would
/// scrub by one while Meta may read the body by another).
fn kind(headers: &HeaderMap) -> Result<Kind, Reply> {
    let mut types = headers.get_all(header::CONTENT_TYPE).iter();
    let first = types.next();
    if types.next().is_some() {
        return Err(proxy_error(
            StatusCode::BAD_REQUEST,
            "the request has more than one Content-Type header: send exactly one",
        ));
    }
    let Some(content_type) = first.map(|v| v.to_str().unwrap_or("\u{fffd}")) else {
        return Ok(Kind::Untyped);
    };
    // Compared in place, in any case: no lowercase copy of every request's type.
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .as_bytes();
    let ends_with = |suffix: &[u8]| {
        essence.len() >= suffix.len()
            && essence[essence.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
    };
    let starts_with = |prefix: &[u8]| {
        essence.len() >= prefix.len() && essence[..prefix.len()].eq_ignore_ascii_case(prefix)
    };
    Ok(if essence.is_empty() {
        Kind::Untyped
    } else if essence.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") {
        Kind::Form
    } else if essence.eq_ignore_ascii_case(b"application/json") || ends_with(b"+json") {
        Kind::Json
    } else if starts_with(b"multipart/") {
        Kind::Multipart
    } else {
        Kind::Other
    })
}

impl RequestBody {
    pub fn retriable(&self) -> bool {
        matches!(self, RequestBody::Buffered { .. })
    }

    /// A buffered multipart body with a credential part (a streamed one is checked on the way).
    pub fn has_multipart_credentials(&self) -> bool {
        match self {
            RequestBody::Buffered {
                bytes, multipart, ..
            } => *multipart && scrub::multipart_has_credentials(bytes),
            RequestBody::Streaming { .. } => false,
        }
    }

    /// A credential was removed from the body (the 190 Meta may answer can be about it).
    pub fn had_credentials(&self) -> bool {
        matches!(self, RequestBody::Buffered { scrubbed: true, .. })
    }

    /// A streamed upload was cut off because it carried a credential part.
    pub fn stopped_for_credentials(&self) -> bool {
        match self {
            RequestBody::Buffered { .. } => false,
            RequestBody::Streaming { stopped, .. } => stopped.load(Ordering::SeqCst),
        }
    }

    /// The body for one upstream attempt. A streaming body is sent only once; the proxy never
    /// retries it.
    pub fn for_upstream(&mut self) -> UpstreamBody {
        match self {
            RequestBody::Buffered { bytes, .. } => UpstreamBody::Whole(bytes.clone()),
            RequestBody::Streaming { body, .. } => body
                .take()
                .unwrap_or_else(|| UpstreamBody::Whole(Bytes::new())),
        }
    }
}

/// Reads up to `retry_body_limit` bytes; a larger body continues as a stream capped at
/// `max_request_body`.
pub async fn read_request_body(
    mut body: Incoming,
    headers: &HeaderMap,
    limits: Limits,
) -> Result<RequestBody, Reply> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limits.max_request_body) {
        return Err(too_large(limits));
    }
    let kind = kind(headers)?;
    // A small body usually arrives in one chunk: kept as it is, without a list or a copy.
    let mut first: Option<Bytes> = None;
    let mut kept: Vec<Bytes> = Vec::new();
    let mut size: u64 = 0;
    while let Some(chunk) = next_data(&mut body).await {
        let chunk = chunk
            .map_err(|_| proxy_error(StatusCode::BAD_REQUEST, "the request body broke off"))?;
        size = size.saturating_add(chunk.len() as u64);
        if first.is_none() && kept.is_empty() {
            first = Some(chunk);
        } else {
            kept.extend(first.take());
            kept.push(chunk);
        }
        if size > limits.retry_body_limit {
            kept.extend(first.take());
            if matches!(kind, Kind::Form | Kind::Json | Kind::Untyped) {
                return Err(unscrubbable(limits));
            }
            let max = limits.max_request_body;
            let rest = stream::unfold(body, |mut body| async move {
                let chunk = next_data(&mut body).await?;
                Some((chunk.map_err(std::io::Error::other), body))
            });
            let whole = stream::iter(kept.into_iter().map(Ok)).chain(rest);
            let stopped = Arc::new(AtomicBool::new(false));
            let body = if kind == Kind::Multipart {
                UpstreamBody::Stream(Box::pin(scanned(capped(whole, max), stopped.clone())))
            } else {
                UpstreamBody::Stream(Box::pin(capped(whole, max)))
            };
            return Ok(RequestBody::Streaming {
                body: Some(body),
                stopped,
            });
        }
    }
    let bytes: Bytes = match first {
        Some(only) => only,
        None => kept.concat().into(),
    };
    scrubbed(bytes, kind)
}

/// Stops a streamed multipart body before the chunk that completes a credential part's
/// header goes upstream (so the credential itself never does), and says so in `stopped`.
fn scanned(
    body: impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    stopped: Arc<AtomicBool>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let mut scanner = scrub::CredentialScanner::default();
    body.map(move |chunk| {
        let chunk = chunk?;
        if scanner.feed(&chunk) {
            stopped.store(true, Ordering::SeqCst);
            return Err(std::io::Error::other(
                "multipart credential part in a streamed body",
            ));
        }
        Ok(chunk)
    })
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

/// The body with its credentials removed, or refused when it carries one that cannot be
/// removed with certainty: a body of another declared type (a file's bytes are never
/// rewritten) or JSON that does not parse (a lenient parser upstream may still read it).
fn scrubbed(bytes: Bytes, kind: Kind) -> Result<RequestBody, Reply> {
    let looks_like_json = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    let clean = match kind {
        Kind::Multipart => {
            return Ok(RequestBody::Buffered {
                bytes,
                multipart: true,
                scrubbed: false,
            });
        }
        Kind::Other if looks_like_json => {
            let carries = match scrub::json_without_credentials(&bytes) {
                Some(std::borrow::Cow::Owned(_)) => true,
                Some(std::borrow::Cow::Borrowed(_)) => false,
                None => scrub::mentions_credential(&bytes),
            };
            if carries {
                return Err(credential_in_other_body());
            }
            None
        }
        Kind::Other if scrub::has_credentials(&bytes) => return Err(credential_in_other_body()),
        Kind::Other => None,
        Kind::Json => json_scrubbed(&bytes)?,
        Kind::Untyped if looks_like_json => json_scrubbed(&bytes)?,
        Kind::Form | Kind::Untyped => {
            scrub::has_credentials(&bytes).then(|| Bytes::from(scrub::without_credentials(&bytes)))
        }
    };
    Ok(RequestBody::Buffered {
        scrubbed: clean.is_some(),
        bytes: clean.unwrap_or(bytes),
        multipart: false,
    })
}

/// The JSON body without its credentials, `None` when it had none. Parsed once.
fn json_scrubbed(bytes: &Bytes) -> Result<Option<Bytes>, Reply> {
    match scrub::json_without_credentials(bytes) {
        Some(std::borrow::Cow::Owned(clean)) => Ok(Some(Bytes::from(clean))),
        Some(std::borrow::Cow::Borrowed(_)) => Ok(None),
        None if scrub::mentions_credential(bytes) => Err(proxy_error(
            StatusCode::BAD_REQUEST,
            "the JSON body does not parse and seems to name a credential, which the proxy cannot remove with certainty: send valid JSON without access_token (tokentop adds the token)",
        )),
        None => Ok(None),
    }
}

fn credential_in_other_body() -> Reply {
    proxy_error(
        StatusCode::BAD_REQUEST,
        "the body carries an access_token, appsecret_proof or appsecret_time parameter under a Content-Type the proxy does not rewrite: remove it (tokentop adds the token), or send it as JSON or a form",
    )
}

fn unscrubbable(limits: Limits) -> Reply {
    proxy_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!(
            "a form, JSON or untyped body is read whole to remove credentials from it, and this one is larger than [proxy] retry-body-limit ({} bytes); send files as multipart/form-data or raise the limit",
            limits.retry_body_limit
        ),
    )
}

fn too_large(limits: Limits) -> Reply {
    proxy_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!(
            "the request body is larger than [proxy] max-request-body ({} bytes)",
            limits.max_request_body
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buffered(body: &str, content_type: Option<&str>) -> Result<String, StatusCode> {
        let mut headers = HeaderMap::new();
        if let Some(value) = content_type {
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
        }
        let kind = kind(&headers).map_err(|r| r.status())?;
        match scrubbed(Bytes::from(body.to_string()), kind) {
            Ok(RequestBody::Buffered { bytes, .. }) => Ok(String::from_utf8_lossy(&bytes).into()),
            Ok(RequestBody::Streaming { .. }) => unreachable!(),
            Err(response) => Err(response.status()),
        }
    }

    #[test]
    fn a_credential_under_any_declared_type_is_removed_or_refused() {
        let form = "to=1555&access_token=EAAGclient";
        assert_eq!(
            buffered(form, Some("application/x-www-form-urlencoded")).unwrap(),
            "to=1555"
        );
        assert_eq!(buffered(form, None).unwrap(), "to=1555");
        for other in ["text/plain", "application/octet-stream", "image/png"] {
            assert_eq!(
                buffered(form, Some(other)),
                Err(StatusCode::BAD_REQUEST),
                "{other}"
            );
            let json = r#"{"to":"1555","access_token":"EAAGclient"}"#;
            assert_eq!(
                buffered(json, Some(other)),
                Err(StatusCode::BAD_REQUEST),
                "{other}"
            );
        }
        // Bytes of another type without a credential pass untouched.
        let png = "\u{89}PNG\r\n\u{1a}\n...";
        assert_eq!(buffered(png, Some("image/png")).unwrap(), png);
    }

    #[test]
    fn json_that_does_not_parse_is_refused_only_when_it_names_a_credential() {
        let lenient = "{\"to\":\"1555\",\"access_token\":\"EAAGclient\",}";
        assert_eq!(
            buffered(lenient, Some("application/json")),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(buffered(lenient, None), Err(StatusCode::BAD_REQUEST));
        let broken = "{\"to\":\"1555\",}";
        assert_eq!(buffered(broken, Some("application/json")).unwrap(), broken);
    }

    #[test]
    fn a_content_type_is_read_in_any_case_and_with_parameters() {
        let of = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            kind(&headers).map_err(|r| r.status()).unwrap()
        };
        assert_eq!(of("Application/JSON; charset=utf-8"), Kind::Json);
        assert_eq!(of("application/vnd.api+JSON"), Kind::Json);
        assert_eq!(of("APPLICATION/X-WWW-FORM-URLENCODED"), Kind::Form);
        assert_eq!(of("Multipart/Form-Data; boundary=x"), Kind::Multipart);
        assert_eq!(of(" ; charset=utf-8"), Kind::Untyped);
        assert_eq!(of("json"), Kind::Other);
        assert_eq!(of("text/plain"), Kind::Other);
        let mut odd = HeaderMap::new();
        odd.insert(
            header::CONTENT_TYPE,
            axum::http::HeaderValue::from_bytes(b"caf\xc3\xa9+json").unwrap(),
        );
        assert_eq!(kind(&odd).map_err(|r| r.status()), Ok(Kind::Other));
        assert_eq!(
            kind(&HeaderMap::new()).map_err(|r| r.status()),
            Ok(Kind::Untyped)
        );
    }

    #[test]
    fn several_content_types_are_refused() {
        let mut headers = HeaderMap::new();
        headers.append(header::CONTENT_TYPE, "image/png".parse().unwrap());
        headers.append(header::CONTENT_TYPE, "application/json".parse().unwrap());
        let refused = kind(&headers).unwrap_err();
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    }
}
