//! Where and how a proxied request goes upstream: the Graph path with the path `route`
//! checked and the query without the client's credentials, and the headers it keeps. Built
//! once per request for both attempts; each attempt adds the lent token and its proof.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, header};

use super::ACCOUNT_HEADER;
use super::bodies::UpstreamBody;
use super::scrub;
use crate::engine::broker::TokenLoan;

/// Request headers never forwarded: hop-by-hop, the client's credentials, tokentop's own.
/// Names, not strings: comparing a name with one is an enum's compare, not a string's.
/// `Content-Length` is passed on only when it is the length of the body that goes.
const DROPPED_REQUEST_HEADERS: [HeaderName; 12] = [
    header::AUTHORIZATION,
    header::PROXY_AUTHORIZATION,
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::HOST,
    header::CONTENT_LENGTH,
    header::ACCEPT_ENCODING,
    HeaderName::from_static(ACCOUNT_HEADER),
];

pub struct Target {
    method: Method,
    /// `[graph] base-url`'s path, the checked path and the query without the client's
    /// credentials, percent-encoded; the proof is added per attempt.
    path_and_query: String,
    has_query: bool,
    /// A credential was removed from the query.
    pub query_scrubbed: bool,
    /// The client's headers as they came; each attempt takes the ones it forwards.
    headers: HeaderMap,
    message_send: bool,
}

impl Target {
    /// `graph_path` is `[graph] base-url`'s path without a trailing slash (`""` for
    /// `https://graph.facebook.com`).
    pub fn new(graph_path: &str, method: &Method, uri: &Uri, headers: HeaderMap) -> Self {
        // Re-encoded only when a credential has to go: otherwise the query goes as sent.
        let sent = uri.query().unwrap_or("").as_bytes();
        let query_scrubbed = scrub::has_credentials(sent);
        let scrubbed;
        let query = if query_scrubbed {
            scrubbed = scrub::without_credentials(sent);
            String::from_utf8_lossy(&scrubbed)
        } else {
            String::from_utf8_lossy(sent)
        };
        let mut path_and_query =
            String::with_capacity(graph_path.len() + uri.path().len() + query.len() + 1);
        path_and_query.push_str(graph_path);
        push_path(&mut path_and_query, uri.path());
        push_query(&mut path_and_query, &query);
        let message_send = *method == Method::POST
            && super::route::upstream_segments(uri.path()).last() == Some("messages");
        Self {
            message_send,
            method: method.clone(),
            path_and_query,
            has_query: !query.is_empty(),
            query_scrubbed,
            headers,
        }
    }

    pub fn is_message_send(&self) -> bool {
        self.message_send
    }

    /// The request for one attempt with `loan`'s token, its URI in origin form (path and
    /// query); `None` when that is no URI or the token is no header value.
    pub fn request(&self, loan: &TokenLoan, body: UpstreamBody) -> Option<Request<UpstreamBody>> {
        let proof = loan.appsecret_proof.as_deref();
        let mut uri = String::with_capacity(
            self.path_and_query.len() + proof.map_or(0, |p| p.len() + "&appsecret_proof=".len()),
        );
        uri.push_str(&self.path_and_query);
        if let Some(proof) = proof {
            uri.push(if self.has_query { '&' } else { '?' });
            uri.push_str("appsecret_proof=");
            uri.push_str(proof);
        }
        let uri = Uri::try_from(uri).ok()?;
        // Made once per token by the broker: a clone shares its bytes.
        let bearer = loan.bearer.clone()?;
        let mut forwarded = self.forwarded_headers(&body);
        forwarded.insert(header::AUTHORIZATION, bearer);
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = forwarded;
        Some(request)
    }

    /// The client's headers that go upstream with `body` (the token is added per attempt).
    fn forwarded_headers(&self, body: &UpstreamBody) -> HeaderMap {
        let mut forwarded = HeaderMap::with_capacity(self.headers.len() + 2);
        for (name, value) in &self.headers {
            if !DROPPED_REQUEST_HEADERS.contains(name) {
                forwarded.append(name.clone(), value.clone());
            }
        }
        // As reqwest, which sent the requests before, added it to a request without one.
        if !forwarded.contains_key(header::ACCEPT) {
            forwarded.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        }
        // The client's own length when the body goes as it came: hyper would otherwise
        // format (and allocate) the same digits again.
        if let Some(length) = self.unchanged_length(body) {
            forwarded.insert(header::CONTENT_LENGTH, length);
        }
        forwarded
    }

    /// The client's `Content-Length`, when it is the only one and exactly `body`'s length.
    fn unchanged_length(&self, body: &UpstreamBody) -> Option<HeaderValue> {
        let UpstreamBody::Whole(bytes) = body else {
            return None;
        };
        let mut lengths = self.headers.get_all(header::CONTENT_LENGTH).iter();
        let length = lengths.next()?;
        let digits = length.as_bytes();
        let matches = lengths.next().is_none()
            && !digits.is_empty()
            && digits.len() <= 19
            && digits.iter().all(u8::is_ascii_digit)
            && std::str::from_utf8(digits)
                .ok()
                .and_then(|d| d.parse::<u64>().ok())
                == Some(bytes.len() as u64);
        matches.then(|| length.clone())
    }
}

/// Appends the path sent upstream, percent-encoded: exactly the segments `route` checked,
/// nothing left for the client to resolve.
fn push_path(out: &mut String, path: &str) {
    let mut any = false;
    for segment in super::route::upstream_segments(path) {
        out.push('/');
        encode_into(out, segment, in_path_set);
        any = true;
    }
    if !any {
        out.push('/');
    }
}

/// Appends `?` and the query, percent-encoded, when there is one.
fn push_query(out: &mut String, query: &str) {
    if !query.is_empty() {
        out.push('?');
        encode_into(out, query, in_query_set);
    }
}

/// `[graph] base-url`'s path as [`Target::new`] takes it: without a trailing slash.
pub fn graph_path(base: &Uri) -> &str {
    base.path().trim_end_matches('/')
}

/// `[graph] base-url` as `scheme://host[:port][/path]`.
pub fn graph_base(url: &reqwest::Url) -> String {
    let mut base = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        base.push_str(&format!(":{port}"));
    }
    base.push_str(url.path().trim_end_matches('/'));
    base
}

/// Appends `text`, percent-encoding the bytes in `set` (and every non-ASCII one), as the URL
/// parser that built upstream URLs before did, so Meta sees the same bytes.
fn encode_into(out: &mut String, text: &str, set: fn(u8) -> bool) {
    if !text.bytes().any(|b| !b.is_ascii() || set(b)) {
        out.push_str(text);
        return;
    }
    for byte in text.bytes() {
        if !byte.is_ascii() || set(byte) {
            out.push_str(&format!("%{byte:02X}"));
        } else {
            out.push(char::from(byte));
        }
    }
}

/// The URL standard's path percent-encode set.
fn in_path_set(byte: u8) -> bool {
    PATH_SET[usize::from(byte)]
}

/// The URL standard's special-query percent-encode set (http and https).
fn in_query_set(byte: u8) -> bool {
    QUERY_SET[usize::from(byte)]
}

/// The sets as tables: every path and query byte of every request is looked up.
const PATH_SET: [bool; 256] = byte_set(b" \"#<>?`{}");
const QUERY_SET: [bool; 256] = byte_set(b" \"#<>'");

/// Controls, DEL and `extra` (non-ASCII bytes are encoded apart from these).
const fn byte_set(extra: &[u8]) -> [bool; 256] {
    let mut set = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        set[byte] = true;
        byte += 1;
    }
    set[0x7f] = true;
    let mut i = 0;
    while i < extra.len() {
        set[extra[i] as usize] = true;
        i += 1;
    }
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the `url` crate (reqwest's URL) makes of a base URL with this path and query: the
    /// bytes the proxy sent upstream before it built URLs itself.
    fn as_url_crate(base: &str, path: &str, query: &str) -> String {
        let mut url = reqwest::Url::parse(base).unwrap();
        url.set_path(&format!("{}{path}", url.path().trim_end_matches('/')));
        if !query.is_empty() {
            url.set_query(Some(query));
        }
        url.to_string()
    }

    /// The URL as the proxy builds it: its origin, then what `Target::new` puts together.
    fn built(base: &str, path: &str, query: &str) -> String {
        let base = graph_base(&reqwest::Url::parse(base).unwrap());
        let uri = Uri::try_from(base.as_str()).unwrap();
        let origin = format!(
            "{}://{}",
            uri.scheme_str().unwrap(),
            uri.authority().unwrap()
        );
        let mut url = format!("{origin}{}", graph_path(&uri));
        push_path(&mut url, path);
        push_query(&mut url, query);
        url
    }

    fn target(query: &str, headers: &[(&str, &str)]) -> Target {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let uri: Uri = format!("/v21.0//106540352242922/messages/{query}")
            .parse()
            .unwrap();
        Target::new("/graph", &Method::POST, &uri, map)
    }

    fn whole(body: &'static str) -> UpstreamBody {
        UpstreamBody::Whole(bytes::Bytes::from_static(body.as_bytes()))
    }

    #[test]
    fn the_client_length_goes_only_with_the_body_it_measured() {
        let sent = target(
            "",
            &[
                ("content-length", "2"),
                ("content-type", "application/json"),
            ],
        );
        let headers = sent.forwarded_headers(&whole("{}"));
        assert_eq!(headers[header::CONTENT_LENGTH], "2");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(headers[header::ACCEPT], "*/*");
        // A scrubbed body is shorter than the client said; a stream has no length yet.
        assert!(
            !sent
                .forwarded_headers(&whole("{ }"))
                .contains_key(header::CONTENT_LENGTH)
        );
        let stream = UpstreamBody::Stream(Box::pin(futures_util::stream::empty()));
        assert!(
            !sent
                .forwarded_headers(&stream)
                .contains_key(header::CONTENT_LENGTH)
        );
        for odd in [
            &[("content-length", "2"), ("content-length", "2")][..],
            &[("content-length", "+2")],
            &[("content-length", "02 ")],
            &[],
        ] {
            let headers = target("", odd).forwarded_headers(&whole("{}"));
            assert!(!headers.contains_key(header::CONTENT_LENGTH), "{odd:?}");
        }
    }

    #[test]
    fn credentials_and_hop_by_hop_headers_stay_behind() {
        let sent = target(
            "?access_token=EAAG&fields=id",
            &[
                ("authorization", "Bearer EAAGclient"),
                ("x-tokentop-account", "main"),
                ("connection", "keep-alive"),
                ("host", "proxy"),
                ("accept", "application/json"),
                ("x-request-id", "7"),
            ],
        );
        assert!(sent.query_scrubbed);
        assert_eq!(
            sent.path_and_query,
            "/graph/v21.0/106540352242922/messages?fields=id"
        );
        assert!(sent.is_message_send());
        let headers = sent.forwarded_headers(&whole(""));
        let names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["accept", "x-request-id"]);
    }

    #[test]
    fn upstream_urls_have_the_bytes_the_url_crate_gave_them() {
        for base in [
            "https://graph.facebook.com",
            "https://graph.facebook.com/",
            "http://127.0.0.1:8080",
            "http://[::1]:9000/prefix/",
            "http://localhost:80/graph",
        ] {
            for (path, query) in [
                ("/v21.0/106540352242922/messages", ""),
                ("/", "fields=id,name"),
                ("/106540352242922/media", "a=1&b=%20x&c='q'"),
                ("/v21.0/1/x{y}\"z`", "q=\"<>\"&r={}"),
                ("/v21.0/1/caf\u{e9}", "name=caf\u{e9}"),
                ("/v21.0/1/sp ace", "x=sp ace"),
            ] {
                assert_eq!(
                    built(base, path, query),
                    as_url_crate(base, path, query),
                    "{base} {path} {query}"
                );
            }
        }
    }
}
