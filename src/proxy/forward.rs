//! One proxied request: check the client, route, scrub, add the token, forward, and on a
//! token rejection (190) refresh once and retry, then hand Meta's answer back unchanged.

use std::time::Instant;

use axum::http::{HeaderMap, HeaderName, Method, Request, Response, StatusCode, header};
use bytes::Bytes;
use hyper::body::Incoming;

use super::bodies::{FromGraph, Reply, ToClient, UpstreamBody, read_whole};
use super::body::read_request_body;
use super::reply::proxy_error;
use super::route::{Route, route};
use super::target::Target;
use super::upstream::UpstreamError;
use super::{ACCOUNT_HEADER, Proxy};
use crate::engine::broker::{SendOutcome, TokenLoan};
use crate::graph::{ErrorClass, MAX_BODY_BYTES, UsageHeaders, parse_error_body};
use crate::logging::access::AccessLine;

/// Response headers not copied back: hop-by-hop, and the length hyper sets itself. Names, not
/// strings: removing by a string parsed and hashed it again for every answer.
const DROPPED_RESPONSE_HEADERS: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::TRANSFER_ENCODING,
    header::TRAILER,
    header::UPGRADE,
    header::CONTENT_LENGTH,
];

/// What the access log says about a request.
struct Outcome {
    status: u16,
    upstream_ms: Option<u128>,
    retried: bool,
}

/// One request, answered and written to the access log.
pub async fn handle(proxy: Proxy, request: Request<Incoming>) -> Reply {
    let started = Instant::now();
    let method = request.method().clone();
    // The path alone: the query may hold a client's credential.
    let uri = request.uri().clone();
    let (response, account, outcome) = match forward(&proxy, request).await {
        Ok((response, account, outcome)) => (response, account, outcome),
        Err(response) => {
            let status = response.status().as_u16();
            let outcome = Outcome {
                status,
                upstream_ms: None,
                retried: false,
            };
            (response, None, outcome)
        }
    };
    crate::logging::access::log(&AccessLine {
        method: method.as_str(),
        path: uri.path(),
        status: outcome.status,
        account: account
            .and_then(|index| proxy.accounts.get(index))
            .map(|a| a.name.as_str()),
        upstream_ms: outcome.upstream_ms.map(|ms| ms as u64),
        retried: outcome.retried,
        total_ms: started.elapsed().as_millis() as u64,
    });
    response
}

/// The answer, the index of the account it was sent for, and what the log says.
type Forwarded = (Reply, Option<usize>, Outcome);

async fn forward(proxy: &Proxy, request: Request<Incoming>) -> Result<Forwarded, Reply> {
    proxy.check_client(request.headers())?;
    let header_account = request
        .headers()
        .get(ACCOUNT_HEADER)
        .and_then(|v| v.to_str().ok());
    let index = match route(
        request.uri().path(),
        request.method() == Method::GET,
        header_account,
        &proxy.accounts,
        &proxy.allow,
    ) {
        Route::Account(index) => index,
        other => return Err(super::reply::refused(&other)),
    };
    let Some(account) = proxy.accounts.get(index).map(|a| a.name.as_str()) else {
        return Err(super::reply::refused(&Route::Account(index)));
    };
    // The body is read before an upstream slot is taken, within the timeout: a client that
    // sends its body slowly holds no slot another send needs.
    let (parts, body) = request.into_parts();
    let reading = read_request_body(body, &parts.headers, proxy.limits());
    let mut body = tokio::time::timeout(proxy.timeout, reading)
        .await
        .map_err(|_| body_too_slow(proxy.timeout))??;
    if body.has_multipart_credentials() {
        return Err(credential_part_refused());
    }
    let _permit = proxy.permit(index).await?;
    let mut loan = proxy.broker.lend(account).await.map_err(|err| {
        proxy_error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!("account {account}: {err}"),
        )
    })?;
    if let Some(credential) = crate::bearer::bearer_token(&parts.headers) {
        // An application still sending the token before the rotation has not picked it up.
        proxy.broker.note_client_credential(account, credential);
    }
    let client_authorization = parts.headers.contains_key(header::AUTHORIZATION);
    let target = Target::new(&proxy.graph_path, &parts.method, &parts.uri, parts.headers);
    // The request came with a credential of its own (removed before it went upstream).
    let carried_credential =
        client_authorization || target.query_scrubbed || body.had_credentials();
    let upstream_started = Instant::now();
    let mut retried = false;
    let first = send(proxy, &target, &loan, body.for_upstream()).await;
    let mut answer = match first {
        Ok(answer) => answer,
        Err(_) if body.stopped_for_credentials() => return Err(credential_part_refused()),
        Err(response) => return Err(response),
    };
    // Renewed only for a request that carried no credential of its own (a 190 may be about
    // that one), and only once the broker saw the lent token dead. A body that streamed
    // through is not sent again, but the renewal still serves the application's next request.
    if !carried_credential
        && answer.token_rejected()
        && let Ok(fresh) = proxy.broker.renew(account, &loan).await
        && body.retriable()
    {
        loan = fresh;
        retried = true;
        answer = send(proxy, &target, &loan, body.for_upstream()).await?;
    }
    let upstream_ms = upstream_started.elapsed().as_millis();
    proxy
        .broker
        .report_usage(account, UsageHeaders::of(&answer.headers));
    // The wamid is read only while the join with the relay's statuses runs.
    let join_running = proxy.broker.wamid_feed().is_some();
    if target.is_message_send()
        && let Some(outcome) = answer.send_outcome(join_running)
    {
        let refreshed = retried || loan.refreshed;
        proxy.broker.report_send(account, outcome, refreshed);
    }
    let outcome = Outcome {
        status: answer.status.as_u16(),
        upstream_ms: Some(upstream_ms),
        retried,
    };
    Ok((answer.into_response(), Some(index), outcome))
}

/// `messages[0].id` of Meta's answer to an accepted send, the wamid its status webhooks name,
/// read as the Graph client reads a send's answer.
fn sent_wamid(body: &[u8]) -> Option<String> {
    crate::graph::SendResult::from_json(body)?
        .message_id
        .filter(|id| !id.is_empty() && id.len() <= MAX_WAMID_BYTES)
}

/// A wamid is about 60 bytes; anything far longer is not one, and is not kept.
const MAX_WAMID_BYTES: usize = 256;

fn body_too_slow(timeout: std::time::Duration) -> Reply {
    proxy_error(
        StatusCode::REQUEST_TIMEOUT,
        &format!(
            "the request body did not arrive within {} s ([proxy] timeout)",
            timeout.as_secs()
        ),
    )
}

fn credential_part_refused() -> Reply {
    proxy_error(
        StatusCode::BAD_REQUEST,
        "the multipart body has an access_token, appsecret_proof or appsecret_time part: remove it, tokentop adds the token",
    )
}

/// One attempt with `loan`'s token.
async fn send(
    proxy: &Proxy,
    target: &Target,
    loan: &TokenLoan,
    body: UpstreamBody,
) -> Result<Answer, Reply> {
    let Some(request) = target.request(loan, body) else {
        return Err(proxy_error(
            StatusCode::BAD_GATEWAY,
            "the request's URL for the Graph API could not be built from [graph] base-url and the path",
        ));
    };
    let response = proxy
        .upstream
        .send(request)
        .await
        .map_err(|err| upstream_failed(proxy, err))?;
    Answer::read(response, target.is_message_send()).await
}

fn upstream_failed(proxy: &Proxy, err: UpstreamError) -> Reply {
    match err {
        UpstreamError::Timeout => proxy_error(
            StatusCode::GATEWAY_TIMEOUT,
            &format!(
                "the Graph API did not answer within {} s ([proxy] timeout)",
                proxy.timeout.as_secs()
            ),
        ),
        UpstreamError::SendFailed => proxy_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the request body could not be sent: larger than [proxy] max-request-body ({} bytes) or cut short by the client",
                proxy.max_request_body
            ),
        ),
        UpstreamError::Unreachable => proxy_error(
            StatusCode::BAD_GATEWAY,
            "the Graph API could not be reached (connection refused, reset or TLS failure)",
        ),
    }
}

/// Meta's answer: buffered when it may need reading (errors, message sends), else streamed.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: AnswerBody,
}

enum AnswerBody {
    Buffered(Bytes),
    Streamed(FromGraph),
}

impl Answer {
    async fn read(response: Response<FromGraph>, message_send: bool) -> Result<Answer, Reply> {
        let (parts, body) = response.into_parts();
        let status = parts.status;
        let mut headers = parts.headers;
        for name in &DROPPED_RESPONSE_HEADERS {
            headers.remove(name);
        }
        let small = hyper::body::Body::size_hint(&body)
            .exact()
            .is_none_or(|len| len <= MAX_BODY_BYTES as u64);
        if !(message_send || status.is_client_error()) || !small {
            return Ok(Answer {
                status,
                headers,
                body: AnswerBody::Streamed(body),
            });
        }
        let bytes = read_whole(body, MAX_BODY_BYTES).await.ok_or_else(|| {
            proxy_error(
                StatusCode::BAD_GATEWAY,
                "the Graph API's answer was cut short or larger than 8 MiB",
            )
        })?;
        Ok(Answer {
            status,
            headers,
            body: AnswerBody::Buffered(bytes),
        })
    }

    fn buffered(&self) -> Option<&[u8]> {
        match &self.body {
            AnswerBody::Buffered(bytes) => Some(bytes),
            AnswerBody::Streamed(_) => None,
        }
    }

    /// Meta refused the token itself (190, 102): a refresh may help.
    fn token_rejected(&self) -> bool {
        self.status.is_client_error()
            && self.buffered().is_some_and(|body| {
                let text = String::from_utf8_lossy(body);
                parse_error_body(self.status.as_u16(), &self.headers, &text, &[]).class
                    == ErrorClass::TokenDead
            })
    }

    /// Accepted (with its wamid when asked), or failed with Meta's code and title, for the
    /// delivery counts.
    fn send_outcome(&self, with_wamid: bool) -> Option<SendOutcome> {
        let body = self.buffered()?;
        if self.status.is_success() {
            let wamid = with_wamid.then(|| sent_wamid(body)).flatten();
            return Some(SendOutcome::accepted_as(wamid));
        }
        let text = String::from_utf8_lossy(body);
        let error = parse_error_body(self.status.as_u16(), &self.headers, &text, &[]);
        Some(SendOutcome::failed(error.code, error.user_title))
    }

    fn into_response(self) -> Reply {
        let body = match self.body {
            AnswerBody::Buffered(bytes) => ToClient::Whole(bytes),
            AnswerBody::Streamed(body) => ToClient::Graph(body),
        };
        let mut response = Response::new(body);
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACCEPTED: &str = include_str!("../../tests/fixtures/send_message_accepted.json");

    #[test]
    fn the_wamid_is_the_first_message_id_of_an_accepted_send() {
        assert_eq!(
            sent_wamid(ACCEPTED.as_bytes()).as_deref(),
            Some("wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJCOTY3NDc0NDFDRUI3NTA0Q0UA")
        );
        for odd in [
            "",
            "not json",
            "{}",
            r#"{"messages":[]}"#,
            r#"{"messages":[{"id":""}]}"#,
            r#"{"messages":[{"id":5}]}"#,
            r#"{"messages":{"id":"wamid.x"}}"#,
        ] {
            assert_eq!(sent_wamid(odd.as_bytes()), None, "{odd}");
        }
        let long = format!(r#"{{"messages":[{{"id":"{}"}}]}}"#, "w".repeat(300));
        assert_eq!(sent_wamid(long.as_bytes()), None);
    }
}
