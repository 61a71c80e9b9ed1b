//! Where and how a proxied request goes upstream: the Graph URL with the path `route`
//! checked and the query without the client's credentials, and the headers it keeps. Built
//! once per request for both attempts; each attempt adds the lent token and its proof.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, header};

use super::ACCOUNT_HEADER;
use super::scrub;
use super::upstream::UpstreamBody;
use crate::engine::broker::TokenLoan;

/// Request headers never forwarded: hop-by-hop, the client's credentials, tokentop's own.
/// Names, not strings: comparing a name with one is an enum's compare, not a string's.
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
    /// Scheme, host and path, percent-encoded; the query follows.
    url: String,
    /// Percent-encoded, without the client's credentials and without the proof.
    query: String,
    /// A credential was removed from the query.
    pub query_scrubbed: bool,
    headers: HeaderMap,
    message_send: bool,
}

impl Target {
    /// `graph_base` is `[graph] base-url` as `scheme://host[:port][/path]`, without a trailing
    /// slash.
    pub fn new(graph_base: &str, method: &Method, uri: &Uri, headers: &HeaderMap) -> Self {
        // Re-encoded only when a credential has to go: otherwise the query goes as sent.
        let sent = uri.query().unwrap_or("").as_bytes();
        let query_scrubbed = scrub::has_credentials(sent);
        let query = if query_scrubbed {
            scrub::without_credentials(sent)
        } else {
            sent.to_vec()
        };
        let mut forwarded = HeaderMap::with_capacity(headers.len() + 2);
        for (name, value) in headers {
            if !DROPPED_REQUEST_HEADERS.contains(name) {
                forwarded.append(name.clone(), value.clone());
            }
        }
        // As reqwest, which sent the requests before, added it to a request without one.
        if !forwarded.contains_key(header::ACCEPT) {
            forwarded.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        }
        // Exactly the segments `route` checked: nothing left for the client to resolve.
        let path = super::route::upstream_path(uri.path());
        let mut url = String::with_capacity(graph_base.len() + path.len());
        url.push_str(graph_base);
        encode_into(&mut url, &path, in_path_set);
        let mut encoded_query = String::with_capacity(query.len());
        encode_into(
            &mut encoded_query,
            &String::from_utf8_lossy(&query),
            in_query_set,
        );
        Self {
            message_send: *method == Method::POST
                && path.trim_end_matches('/').ends_with("/messages"),
            method: method.clone(),
            url,
            query: encoded_query,
            query_scrubbed,
            headers: forwarded,
        }
    }

    pub fn is_message_send(&self) -> bool {
        self.message_send
    }

    /// The request for one attempt with `loan`'s token; `None` when the URL is not one (a
    /// base URL that config accepted but `http` does not) or the token is no header value. The headers are copied for an
    /// attempt that may be followed by another (`again`), else moved into it.
    pub fn request(
        &mut self,
        loan: &TokenLoan,
        body: UpstreamBody,
        again: bool,
    ) -> Option<Request<UpstreamBody>> {
        let mut url = String::with_capacity(self.url.len() + self.query.len() + 90);
        url.push_str(&self.url);
        let proof = loan.appsecret_proof.as_deref();
        if !self.query.is_empty() || proof.is_some() {
            url.push('?');
            url.push_str(&self.query);
        }
        if let Some(proof) = proof {
            if !self.query.is_empty() {
                url.push('&');
            }
            url.push_str("appsecret_proof=");
            url.push_str(proof);
        }
        let uri = Uri::try_from(url).ok()?;
        // Made once per token by the broker: a clone shares its bytes.
        let bearer = loan.bearer.clone()?;
        let mut request = Request::new(body);
        *request.method_mut() = self.method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = if again {
            self.headers.clone()
        } else {
            std::mem::take(&mut self.headers)
        };
        request.headers_mut().insert(header::AUTHORIZATION, bearer);
        Some(request)
    }
}

/// `[graph] base-url` as [`Target::new`] takes it.
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

    fn built(base: &str, path: &str, query: &str) -> String {
        let mut url = graph_base(&reqwest::Url::parse(base).unwrap());
        encode_into(&mut url, path, in_path_set);
        if !query.is_empty() {
            url.push('?');
            encode_into(&mut url, query, in_query_set);
        }
        url
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
